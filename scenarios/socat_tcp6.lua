-- scenarios/socat_tcp6.lua: Debian's unmodified socat over IPv6 on the TCP control channel
-- (docs/programs.md, "The TCP control channel"). `socat TCP6-LISTEN:7000 PIPE` on the host
-- echoes 20 000 bytes to scenarios/programs/tcp_control.c's IPv6 client in a guest, which
-- finds the host as "host" (2001:db8::2); then a socat client in the guest sends its stdin
-- to tcp_control's dual-stack server on the host at [2001:db8::2] and prints the echo.
-- Needs `--allow-exec` and socat on PATH; without either it says so and passes:
--
--   vmcisim run scenarios/socat_tcp6.lua --allow-exec
--
-- It prints one line per check, `socat_tcp6 NAME ok` or the failure.
local sim = require("vmcisim")
if not sim.exec_allowed then
  sim.log("socat_tcp6: skipped: running real programs needs --allow-exec")
  return
end
local w = sim.world{ product = "esxi-6.5" }
local host = w:host()
local guest = w:vm{ name = "guest1" }
local PROGRAM = "../build/programs/tcp_control"
local runs = {}

local function wait_for(p, program, text)
  while program.status == "running" and not program:output():find(text, 1, true) do
    p:sleep(sim.us(10))
  end
end

host:spawn("driver", function(p)
  runs.listener = host:exec{ "socat", "-d", "-d", "TCP6-LISTEN:7000,reuseaddr", "PIPE",
                             name = "socat-listen" }
  wait_for(p, runs.listener, "listening on")
  runs.client = guest:exec{ PROGRAM, "client6", "host", "7000", "20000", name = "client6" }
  runs.client:join()
  runs.listener:join()
  runs.server = host:exec{ PROGRAM, "server6", "7001", name = "server6" }
  wait_for(p, runs.server, "listening")
  runs.connect = guest:exec{ "socat", "STDIO", "TCP6:[2001:db8::2]:7001",
                             stdin = "hello over tcp6\n", name = "socat-connect" }
  runs.connect:join()
  runs.server:join()
end)

local result = w:run()
sim.expect(result.stopped == "idle", "everything ended: " .. result.stopped)

local function check(name, ok, detail)
  print(string.format("socat_tcp6 %s %s", name, ok and "ok" or ("FAILED: " .. detail)))
  sim.expect(ok, name .. ": " .. detail)
end
local function output(program)
  return program ~= nil and program:output() or "(not run)"
end
local function has(program, text)
  return output(program):find(text, 1, true) ~= nil
end

check("listen_echo", has(runs.client, "client: echo ok 20000 bytes")
      and runs.listener.exit_code == 0, output(runs.client) .. output(runs.listener))
check("connect_echo", has(runs.connect, "hello over tcp6\n") and runs.connect.exit_code == 0
      and has(runs.server, "server: accepted [2001:db8::10]:"),
      output(runs.connect) .. output(runs.server))
