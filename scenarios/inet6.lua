-- scenarios/inet6.lua: IPv6 on the TCP control channel (docs/programs.md, "The TCP control
-- channel"), with scenarios/programs/tcp_control.c. Needs `--allow-exec`; without it the
-- scenario says so and passes without running anything:
--
--   vmcisim run scenarios/inet6.lua --allow-exec
--
-- 1. A dual-stack server (AF_INET6 on [::]) on the host; a client in guest1 finds "host" for
--    AF_INET6 (2001:db8::2) and checks 20 000 bytes echoed; the server sees 2001:db8::10.
-- 2. The same server again; an IPv4 client in guest1 reaches it at 192.0.2.2 and the server
--    sees it v4-mapped (::ffff:192.0.2.16), as Linux shows it.
-- 3. In guest2, a server and a client over [::1].
-- 4. getaddrinfo's AF_UNSPEC answers for "host" and "localhost", IPv4 first; IPV6_V6ONLY.
-- It prints one line per check, `inet6 NAME ok` or the failure.
local sim = require("vmcisim")
if not sim.exec_allowed then
  sim.log("inet6: skipped: running real programs needs --allow-exec")
  return
end
local w = sim.world{ product = "esxi-6.5" }
local host = w:host()
local guest1 = w:vm{ name = "guest1" }
local guest2 = w:vm{ name = "guest2" }
local PROGRAM = "../build/programs/tcp_control"
local runs = {}

local function wait_listening(p, program)
  while program.status == "running" and not program:output():find("listening", 1, true) do
    p:sleep(sim.us(10))
  end
end

host:spawn("driver", function(p)
  runs.server6 = host:exec{ PROGRAM, "server6", "7100", name = "server6" }
  wait_listening(p, runs.server6)
  runs.client6 = guest1:exec{ PROGRAM, "client6", "host", "7100", "20000", name = "client6" }
  runs.client6:join()
  runs.server6:join()
  runs.server_dual = host:exec{ PROGRAM, "server6", "7100", name = "server-dual" }
  wait_listening(p, runs.server_dual)
  runs.client4 = guest1:exec{ PROGRAM, "client", "192.0.2.2", "7100", "1000", name = "client4" }
  runs.client4:join()
  runs.server_dual:join()
  runs.resolve_host = guest2:exec{ PROGRAM, "resolve", "host", name = "resolve-host" }
  runs.resolve_local = guest2:exec{ PROGRAM, "resolve", "localhost", name = "resolve-local" }
  runs.v6only = guest2:exec{ PROGRAM, "v6only", "7300", name = "v6only" }
  runs.resolve_host:join()
  runs.resolve_local:join()
  runs.v6only:join()
end)

guest2:spawn("loopback", function(p)
  runs.server_loop = guest2:exec{ PROGRAM, "server6", "7200", name = "server-loopback" }
  wait_listening(p, runs.server_loop)
  runs.client_loop = guest2:exec{ PROGRAM, "client6", "::1", "7200", "5000",
                                  name = "client-loopback" }
  runs.client_loop:join()
  runs.server_loop:join()
end)

local result = w:run()
sim.expect(result.stopped == "idle", "everything ended: " .. result.stopped)

local function check(name, ok, detail)
  print(string.format("inet6 %s %s", name, ok and "ok" or ("FAILED: " .. detail)))
  sim.expect(ok, name .. ": " .. detail)
end

local function has(program, text)
  return program ~= nil and program:output():find(text, 1, true) ~= nil
end

local function output(program)
  return program ~= nil and program:output() or "(not run)"
end

check("echo_v6", has(runs.client6, "client: echo ok 20000 bytes")
      and has(runs.client6, "client: from [2001:db8::10]:32768"), output(runs.client6))
check("server_saw_v6", has(runs.server6, "server: accepted [2001:db8::10]:32768")
      and has(runs.server6, "server: echoed 20000 bytes"), output(runs.server6))
check("echo_v4_to_dual_stack", has(runs.client4, "client: echo ok 1000 bytes")
      and has(runs.client4, "client: from 192.0.2.16:32769"), output(runs.client4))
check("server_saw_v4_mapped", has(runs.server_dual, "server: accepted [::ffff:192.0.2.16]:32769"),
      output(runs.server_dual))
check("loopback_v6", has(runs.client_loop, "client: echo ok 5000 bytes")
      and has(runs.client_loop, "client: from [::1]:32768")
      and has(runs.server_loop, "server: accepted [::1]:32768"),
      output(runs.client_loop) .. output(runs.server_loop))
check("resolve_host_order", has(runs.resolve_host,
      "resolve: inet stream 192.0.2.2:80\nresolve: inet dgram 192.0.2.2:80\n" ..
      "resolve: inet6 stream [2001:db8::2]:80\nresolve: inet6 dgram [2001:db8::2]:80\n"),
      output(runs.resolve_host))
check("resolve_localhost", has(runs.resolve_local,
      "resolve: inet stream 127.0.0.1:80\nresolve: inet dgram 127.0.0.1:80\n" ..
      "resolve: inet6 stream [::1]:80\nresolve: inet6 dgram [::1]:80\n"),
      output(runs.resolve_local))
check("v6only", has(runs.v6only, "v6only: option 1, both bound, a dual-stack one EADDRINUSE"),
      output(runs.v6only))
