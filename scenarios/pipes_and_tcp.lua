-- scenarios/pipes_and_tcp.lua: programs that use pipes and the TCP control channel
-- (docs/programs.md, "Pipes and socket pairs" and "The TCP control channel"). Needs
-- `--allow-exec`; without it the scenario says so and passes without running anything:
--
--   vmcisim run scenarios/pipes_and_tcp.lua --allow-exec
--
-- 1. tcp_control (scenarios/programs/tcp_control.c): an echo server on the host and a
--    client in guest1 that finds the host by its endpoint name ("host") with getaddrinfo
--    and checks 100 000 bytes echoed byte for byte; a second client asks for a name no
--    endpoint has, a third for a port nobody listens on. Then a datagram: a server in guest1
--    answers one (upper-cased) to a client on the host that finds it as "guest1".
-- 2. pipe_echo (scenarios/programs/pipe_echo.c): a vSockets echo server in guest2 whose
--    bytes go round through a pipe (as `socat VSOCK-LISTEN:5000 PIPE`); a Lua client on the
--    host sends 100 000 bytes and checks the echo byte for byte. The server first prints
--    what a pipe and a socket pair answered; the scenario checks each line.
-- It prints one line per check, `pipes_and_tcp NAME ok` or the failure.
local sim = require("vmcisim")
if not sim.exec_allowed then
  sim.log("pipes_and_tcp: skipped: running real programs needs --allow-exec")
  return
end
local w = sim.world{ product = "esxi-6.5" }
local host = w:host()
local guest1 = w:vm{ name = "guest1" }
local guest2 = w:vm{ name = "guest2", vmx = { ["vmci0.unrestricted"] = "TRUE" } }
local PROGRAMS = "../build/programs/"
local BYTES = 100000
local lua_echo = "not run"

local function pattern(count)
  local parts = {}
  for index = 0, count - 1 do parts[#parts + 1] = string.char((index * 13 + 5) % 256) end
  return table.concat(parts)
end

local server = host:exec{ PROGRAMS .. "tcp_control", "server", "7000", name = "tcp-server" }
local clients = {}
host:spawn("driver", function(p)
  while not server:output():find("listening", 1, true) do p:sleep(sim.us(10)) end
  clients.echo = guest1:exec{ PROGRAMS .. "tcp_control", "client", "host", "7000",
                              tostring(BYTES), name = "tcp-client" }
  clients.echo:join()
  clients.unknown = guest1:exec{ PROGRAMS .. "tcp_control", "client", "nosuchhost", "7000",
                                 "10", name = "tcp-unknown" }
  clients.refused = guest1:exec{ PROGRAMS .. "tcp_control", "client", "192.0.2.2", "7001",
                                 "10", name = "tcp-refused" }
  clients.unknown:join()
  clients.refused:join()
  server:join()
  clients.udp_server = guest1:exec{ PROGRAMS .. "tcp_control", "udp-server", "7002",
                                    name = "udp-server" }
  while not clients.udp_server:output():find("bound", 1, true) do p:sleep(sim.us(10)) end
  clients.udp = host:exec{ PROGRAMS .. "tcp_control", "udp-client", "guest1", "7002",
                           name = "udp-client" }
  clients.udp:join()
  clients.udp_server:join()
end)

local relay = guest2:exec{ PROGRAMS .. "pipe_echo", "5000", name = "pipe-echo" }
host:spawn("lua-client", function(p)
  while relay.status == "running" and not relay:output():find("listening", 1, true) do
    p:sleep(sim.us(10))
  end
  local s = assert(p:socket("stream"))
  assert(s:connect(guest2.cid, 5000))
  local message = pattern(BYTES)
  local echoed, sent = {}, 0
  local received = 0
  while received < BYTES do
    if sent < BYTES then
      local piece = message:sub(sent + 1, math.min(sent + 8192, BYTES))
      sent = sent + assert(s:send(piece))
      if sent == BYTES then assert(s:shutdown("w")) end
    end
    local ready = p:poll({ { s, "r" } }, sim.us(100))
    if ready and #ready > 0 then
      local data = assert(s:recv(65536))
      if data == "" then break end
      echoed[#echoed + 1] = data
      received = received + #data
    end
  end
  lua_echo = table.concat(echoed) == message and "ok" or ("broken after " .. received)
  s:close()
end)

local result = w:run()
sim.expect(result.stopped == "idle", "everything ended: " .. result.stopped)

local function check(name, ok, detail)
  print(string.format("pipes_and_tcp %s %s", name, ok and "ok" or ("FAILED: " .. detail)))
  sim.expect(ok, name .. ": " .. detail)
end

local function has(program, text)
  return program:output():find(text, 1, true) ~= nil
end

check("tcp_echo", has(clients.echo, "client: echo ok 100000 bytes"), clients.echo:output())
check("tcp_client_address", has(clients.echo, "client: from 192.0.2.16:32768"),
      clients.echo:output())
check("tcp_server_saw", has(server, "server: accepted 192.0.2.16:32768")
      and has(server, "server: echoed 100000 bytes"), server:output())
check("tcp_unknown_name", has(clients.unknown, "getaddrinfo nosuchhost: Name or service not known"),
      clients.unknown:output())
check("tcp_refused", has(clients.refused, "client: connect: ECONNREFUSED"),
      clients.refused:output())
check("udp_answer", has(clients.udp, "udp-client: answer PING OVER UDP")
      and has(clients.udp, "udp-client: from 192.0.2.16:7002")
      and has(clients.udp_server, "udp-server: answered 192.0.2.2:32768"),
      clients.udp:output() .. clients.udp_server:output())
check("pipe_echo", lua_echo == "ok" and has(relay, "echoed 100000 bytes through a pipe"),
      lua_echo .. " / " .. relay:output())
for _, line in ipairs({ "pipe: fifo 1", "pipe: capacity 65536 then EAGAIN", "pipe: fionread 65536",
                        "pipe: drained 65536 then EAGAIN", "pipe: eof 0", "pipe: no reader EPIPE",
                        "pipe: socketpair 4 pair" }) do
  check((line:gsub("[^%w]+", "_")), has(relay, line .. "\n"), relay:output())
end
