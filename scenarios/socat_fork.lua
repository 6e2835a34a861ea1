-- scenarios/socat_fork.lua: Debian's unmodified socat as a forking vSockets echo server.
-- `socat VSOCK-LISTEN:5002,fork PIPE` in a guest forks one child per connection (a simulated
-- process of the same program sharing the accepted socket, docs/programs.md "fork, exec and
-- wait"); each child echoes through its own simulated pipe. Lua clients on the host connect
-- first one after another (three, each waiting for the previous one's echo), then three at
-- once; every client sends its own BYTES-byte message (default 20 000) and checks the echo
-- byte for byte. The listener never ends by itself, so the scenario kills it once all clients
-- are done. Needs `--allow-exec` and socat on PATH; without either it says so and passes:
--
--   vmcisim run scenarios/socat_fork.lua --allow-exec [-- BYTES]
--
-- It prints one `socat_fork NAME ok` line per check (or `socat_fork NAME FAILED: why`) and
-- exits non-zero when a check failed.
local sim = require("vmcisim")
if not sim.exec_allowed then
  sim.log("socat_fork: skipped: running real programs needs --allow-exec")
  return
end
local BYTES = tonumber(arg[1] or "20000")
local PORT = 5002
local CLIENTS = 3
local w = sim.world{ product = "esxi-6.5" }
local guest = w:vm{ name = "guest1", vmx = { ["vmci0.unrestricted"] = "TRUE" } }
local server = guest:exec{ "socat", "-d", "-d", "VSOCK-LISTEN:" .. PORT .. ",fork", "PIPE",
                           name = "socat" }
local results = {}

local function message_of(client)
  local parts = {}
  for index = 0, BYTES - 1 do
    parts[#parts + 1] = string.char((index * 7 + client * 31) % 256)
  end
  return table.concat(parts)
end

-- One client: connect, send the message while reading the echo, half-close, read to the end.
local function echo(p, client)
  local s = assert(p:socket("stream"))
  local ok, err = s:connect(guest.cid, PORT)
  if not ok then results[client] = "connect: " .. tostring(err); return end
  local message = message_of(client)
  local echoed, sent, received = {}, 0, 0
  while received < BYTES do
    if sent < BYTES then
      sent = sent + assert(s:send(message:sub(sent + 1, math.min(sent + 4096, BYTES))))
      if sent == BYTES then assert(s:shutdown("w")) end
    end
    local ready = p:poll({ { s, "r" } }, sim.ms(100))
    if ready and #ready > 0 then
      local data = assert(s:recv(65536))
      if data == "" then break end
      echoed[#echoed + 1] = data
      received = received + #data
    end
  end
  results[client] = table.concat(echoed) == message and "equal"
                    or ("broken after " .. received)
  s:close()
end

w:host():spawn("driver", function(p)
  while server.status == "running" and not server:output():find("listening on", 1, true) do
    p:sleep(sim.us(10))
  end
  for client = 1, CLIENTS do echo(p, client) end
  local together = {}
  for client = CLIENTS + 1, 2 * CLIENTS do
    together[#together + 1] = w:host():spawn("client" .. client, function(q) echo(q, client) end)
  end
  for _, process in ipairs(together) do p:join(process) end
  p:sleep(sim.ms(1))
  server:kill()
end)

local run = w:run()
io.write(server:output())
local failed = 0
local function check(name, ok, why)
  if ok then
    print("socat_fork " .. name .. " ok")
  else
    failed = failed + 1
    print("socat_fork " .. name .. " FAILED: " .. tostring(why))
  end
end
check("run_idle", run.stopped == "idle", run.stopped)
for client = 1, 2 * CLIENTS do
  local kind = client <= CLIENTS and "sequential" or "concurrent"
  check(kind .. "_" .. client .. "_echo", results[client] == "equal", results[client])
end
local output = server:output()
local _, accepted = output:gsub("accepting connection from", "")
check("accepted_" .. 2 * CLIENTS, accepted == 2 * CLIENTS, accepted .. " accepted")
check("server_killed", server.status == "killed", server.status)
if failed > 0 then error(failed .. " socat_fork check(s) failed", 0) end
