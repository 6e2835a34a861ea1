-- scenarios/lua_file.lua: the transfer of scenarios/socat_file.lua between two Lua processes,
-- the reference socat's wall throughput is measured against (docs/programs.md, "socat and
-- Linux's vsock_test"). A Lua client on the host sends the same BYTES (default 200 000)
-- bytes in 8192-byte writes (socat's buffer size) to a Lua server in a guest listening on
-- port 5001, which reads to the end of stream and compares what it got with what was sent.
--
--   vmcisim run scenarios/lua_file.lua [-- BYTES]
--
-- It prints `lua_file NAME ok` per check (or `lua_file NAME FAILED: why`) and exits non-zero
-- when a check failed.
local sim = require("vmcisim")
local BYTES = tonumber(arg[1] or "200000")
local PORT = 5001
local CHUNK_BYTES = 8192
local w = sim.world{ product = "esxi-6.5" }
local guest = w:vm{ name = "guest1", vmx = { ["vmci0.unrestricted"] = "TRUE" } }

-- The same bytes as socat_file.lua sends.
local BLOCK_BYTES = 65521
local function content(count)
  local parts = {}
  local state = 12345
  for index = 1, math.min(count, BLOCK_BYTES) do
    state = (state * 1103515245 + 12345) % 2147483648
    parts[index] = string.char((state >> 16) % 256)
  end
  local block = table.concat(parts)
  return string.rep(block, count // BLOCK_BYTES + 1):sub(1, count)
end
local data = content(BYTES)
local received
local listening = false

guest:spawn("server", function(p)
  local listener = assert(p:socket("stream"))
  assert(listener:bind(sim.CID_ANY, PORT))
  assert(listener:listen(1))
  listening = true
  local s = assert(listener:accept())
  local parts = {}
  while true do
    local chunk = assert(s:recv(65536))
    if chunk == "" then break end
    parts[#parts + 1] = chunk
  end
  received = table.concat(parts)
  s:close()
  listener:close()
end)

w:host():spawn("client", function(p)
  while not listening do p:sleep(sim.us(10)) end
  local s = assert(p:socket("stream"))
  assert(s:connect(guest.cid, PORT))
  local sent = 0
  while sent < BYTES do
    sent = sent + assert(s:send(data:sub(sent + 1, math.min(sent + CHUNK_BYTES, BYTES))))
  end
  s:close()
end)

local run = w:run()
local failed = 0
local function check(name, ok, why)
  if ok then
    print("lua_file " .. name .. " ok")
  else
    failed = failed + 1
    print("lua_file " .. name .. " FAILED: " .. tostring(why))
  end
end
check("run_idle", run.stopped == "idle", run.stopped)
check("length", received ~= nil and #received == BYTES, received and #received)
check("content", received == data, "the bytes differ")
if failed > 0 then error(failed .. " lua_file check(s) failed", 0) end
