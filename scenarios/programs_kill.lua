-- scenarios/programs_kill.lua: kill(2) between different programs of one endpoint
-- (docs/programs.md, "Signals"), with scenarios/programs/kill_peer.c. Needs `--allow-exec`;
-- without it the scenario says so and passes without running anything:
--
--   vmcisim run scenarios/programs_kill.lua --allow-exec
--
-- In guest1 a waiter program waits for SIGUSR1; a second program of guest1 sends it (the
-- same machine, the same user: allowed), probes a Lua process of guest1 (it exists but
-- takes no signals: EPERM), a Lua process of guest2 (another machine: ESRCH) and a pid
-- nobody has (ESRCH). It prints one line per check, `programs_kill NAME ok` or the failure.
local sim = require("vmcisim")
if not sim.exec_allowed then
  sim.log("programs_kill: skipped: running real programs needs --allow-exec")
  return
end
local w = sim.world{ product = "esxi-6.5" }
local guest1 = w:vm{ name = "guest1" }
local guest2 = w:vm{ name = "guest2" }
local PROGRAM = "../build/programs/kill_peer"
local runs = {}
local done = false

local lua1 = guest1:spawn("idle1", function(p)
  while not done do p:sleep(sim.ms(1)) end
end)
local lua2 = guest2:spawn("idle2", function(p)
  while not done do p:sleep(sim.ms(1)) end
end)

guest1:spawn("driver", function(p)
  runs.waiter = guest1:exec{ PROGRAM, "wait", name = "waiter" }
  while runs.waiter.status == "running" and not runs.waiter:output():find("ready", 1, true) do
    p:sleep(sim.us(10))
  end
  runs.sender = guest1:exec{ PROGRAM, "send", tostring(runs.waiter.pid), tostring(lua1.pid),
                             tostring(lua2.pid), "9999", name = "sender" }
  runs.sender:join()
  runs.waiter:join()
  done = true
end)

local result = w:run()
sim.expect(result.stopped == "idle", "everything ended: " .. result.stopped)

local function check(name, ok, detail)
  print(string.format("programs_kill %s %s", name, ok and "ok" or ("FAILED: " .. detail)))
  sim.expect(ok, name .. ": " .. detail)
end

local function has(program, text)
  return program ~= nil and program:output():find(text, 1, true) ~= nil
end

local sent = runs.sender and runs.sender:output() or "(not run)"
local waiter = tostring(runs.waiter.pid)
check("probe_peer", has(runs.sender, "sender: kill " .. waiter .. " 0: ok"), sent)
check("group_of_peer", has(runs.sender, "sender: killpg " .. waiter .. " 0: ok"), sent)
check("signal_peer", has(runs.sender, "sender: kill " .. waiter .. " SIGUSR1: ok")
      and has(runs.waiter, "waiter: got USR1") and runs.waiter.exit_code == 0,
      sent .. runs.waiter:output())
check("lua_process_eperm", has(runs.sender, "sender: kill " .. lua1.pid .. " 0: EPERM"), sent)
check("other_endpoint_esrch", has(runs.sender, "sender: kill " .. lua2.pid .. " 0: ESRCH"),
      sent)
check("nobody_esrch", has(runs.sender, "sender: kill 9999 0: ESRCH"), sent)
