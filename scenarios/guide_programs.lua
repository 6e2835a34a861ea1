-- scenarios/guide_programs.lua: the vSockets Programming Guide's example programs, as real
-- Linux binaries (scenarios/programs/*.c, built by make into build/programs/), run unmodified
-- on simulated endpoints with `ep:exec` (docs/programs.md). Needs `--allow-exec`; without it
-- the scenario says so and passes without running anything:
--
--   vmcisim run scenarios/guide_programs.lua --allow-exec -- PRODUCT [HOST_OS]
--
-- Under one product profile (default esxi-6.5) it makes four attempts, each twice: once with
-- the Guide's programs and once with Lua processes doing the same calls, and expects the same
-- outcome from both, so the programs work exactly where the model says vSockets work and fail
-- with the same errno where it says they do not (docs/reference/profiles.md):
--   g2h_stream   the stream server on the host, the stream client in the guest (4096 bytes
--                echoed and checked byte for byte)
--   h2g_stream   the stream server in the guest, the client on the host
--   h2g_dgram    the datagram server in the guest, the client on the host (one message,
--                answered upper-cased)
--   g2h_dgram    the datagram server on the host, the client in the guest
-- Each outcome is "ok", an errno name, or "lost" (no datagram answer within a second). It
-- prints one line: `programs PRODUCT HOST_OS g2h_stream=... h2g_stream=... h2g_dgram=...
-- g2h_dgram=...`. tests/programs_test.sh runs it under every product, twice per product,
-- and compares the digests.
local sim = require("vmcisim")
if not sim.exec_allowed then
  sim.log("guide_programs: skipped: running real programs needs --allow-exec")
  return
end
local product = arg[1] or "esxi-6.5"
local w = sim.world{ product = product, host_os = arg[2] }
local host = w:host()
local guest = w:vm{ name = "guest1", vmx = { ["vmci0.unrestricted"] = "TRUE" } }
local PROGRAMS = "../build/programs/"      -- from this scenario's directory (docs/programs.md)
local BYTES = 4096
local outcome = { program = {}, lua = {} }
local next_port = 5000

local function take_port()
  next_port = next_port + 1
  return next_port
end

-- The outcome a client program printed: "ok", the errno of the call that failed, or "lost".
local function program_outcome(client)
  local text = client:output()
  if text:find("client: echo ok", 1, true) or text:find("client: answer", 1, true) then
    return "ok"
  end
  if text:find("client: no answer", 1, true) then return "lost" end
  return text:match("client: [%a ()]+: (E[%u%d]+)") or ("unexpected: " .. text)
end

-- Waits until a server program is ready (its line printed) or has ended.
local function wait_ready(p, server, word)
  while server.status == "running" and not server:output():find(word, 1, true) do
    p:sleep(sim.us(10))
  end
end

-- Ends a server whose client gave up (it would wait for a connection forever).
local function finish(p, server)
  if not p:join(server, sim.ms(10)) then server:kill() end
end

local function program_stream(p, name, client_ep, server_ep)
  local port = tostring(take_port())
  local server = server_ep:exec{ PROGRAMS .. "vsock_stream_server", port, name = name .. "-server" }
  wait_ready(p, server, "listening")
  local client = client_ep:exec{ PROGRAMS .. "vsock_stream_client", tostring(server_ep.cid), port,
                                 tostring(BYTES), name = name .. "-client" }
  client:join()
  finish(p, server)
  outcome.program[name] = program_outcome(client)
end

local function program_dgram(p, name, client_ep, server_ep)
  local port = tostring(take_port())
  local server = server_ep:exec{ PROGRAMS .. "vsock_dgram_server", port, name = name .. "-server" }
  wait_ready(p, server, "bound")
  local client = client_ep:exec{ PROGRAMS .. "vsock_dgram_client", tostring(server_ep.cid), port,
                                 "hello " .. name, name = name .. "-client" }
  client:join()
  finish(p, server)
  outcome.program[name] = program_outcome(client)
end

-- The same attempts by Lua processes (the C programs' calls, one for one).
local function lua_stream(p, name, client_ep, server_ep)
  local port, ready = take_port(), false
  local server = server_ep:spawn(name .. "-lua-server", function(q)
    local l = q:socket("stream")
    ready = true
    if l == nil or not l:bind(sim.CID_ANY, port) or not l:listen(8) then return end
    local conn = l:accept()
    while conn do
      local data = conn:recv(65536)
      if data == nil or data == "" then break end
      conn:send(data)
    end
  end)
  while not ready do p:sleep(sim.us(10)) end
  local client = client_ep:spawn(name .. "-lua-client", function(q)
    local s, err = q:socket("stream")
    if s == nil then outcome.lua[name] = err; return end
    local ok, connect_err = s:connect(server_ep.cid, port)
    if not ok then outcome.lua[name] = connect_err; return end
    local message = string.rep("v", BYTES)
    assert(s:send(message)); assert(s:shutdown("w"))
    local echoed = {}
    repeat
      local data = assert(s:recv(65536))
      echoed[#echoed + 1] = data
    until data == ""
    outcome.lua[name] = table.concat(echoed) == message and "ok" or "corrupt"
  end)
  p:join(client)
  finish(p, server)
end

local function lua_dgram(p, name, client_ep, server_ep)
  local port, ready = take_port(), false
  local server = server_ep:spawn(name .. "-lua-server", function(q)
    local s = assert(q:socket("dgram"))
    assert(s:bind(sim.CID_ANY, port))
    ready = true
    local data, cid, from_port = s:recvfrom(4096)
    if data then s:sendto(string.upper(data), cid, from_port) end
  end)
  while not ready do p:sleep(sim.us(10)) end
  local client = client_ep:spawn(name .. "-lua-client", function(q)
    local s = assert(q:socket("dgram"))
    local sent, err = s:sendto("hello " .. name, server_ep.cid, port)
    if not sent then outcome.lua[name] = err; return end
    local ready_list = q:poll({ { s, "r" } }, sim.s(1))
    outcome.lua[name] = ready_list and s:recvfrom(4096) and "ok" or "lost"
  end)
  p:join(client)
  finish(p, server)
end

host:spawn("driver", function(p)
  program_stream(p, "g2h_stream", guest, host)
  lua_stream(p, "g2h_stream", guest, host)
  program_stream(p, "h2g_stream", host, guest)
  lua_stream(p, "h2g_stream", host, guest)
  program_dgram(p, "h2g_dgram", host, guest)
  lua_dgram(p, "h2g_dgram", host, guest)
  program_dgram(p, "g2h_dgram", guest, host)
  lua_dgram(p, "g2h_dgram", guest, host)
end)

local result = w:run()
sim.expect(result.stopped == "idle", "every attempt ended: " .. result.stopped)
local cells = {}
for _, name in ipairs({ "g2h_stream", "h2g_stream", "h2g_dgram", "g2h_dgram" }) do
  local program, lua = outcome.program[name], outcome.lua[name]
  sim.expect(program == lua, string.format("%s: the Guide's programs saw %s where Lua processes "
                                           .. "saw %s", name, tostring(program), tostring(lua)))
  cells[#cells + 1] = name .. "=" .. tostring(program)
end
print(string.format("programs %s %s %s", w.product, w.host_os, table.concat(cells, " ")))
