-- scenarios/programs_sigwait.lua: sigwaitinfo, sigtimedwait, sigwait and SA_SIGINFO
-- handlers in a program (docs/programs.md, "Signals"), with
-- scenarios/programs/signal_wait.c. Needs `--allow-exec`; without it the scenario says so
-- and passes without running anything:
--
--   vmcisim run scenarios/programs_sigwait.lua --allow-exec
--
-- It prints one line per check, `programs_sigwait NAME ok` or the failure.
local sim = require("vmcisim")
if not sim.exec_allowed then
  sim.log("programs_sigwait: skipped: running real programs needs --allow-exec")
  return
end
local w = sim.world{ product = "esxi-6.5" }
local guest = w:vm{ name = "guest1" }
local probe = guest:exec{ "../build/programs/signal_wait", name = "signal-wait" }

local result = w:run()
sim.expect(result.stopped == "idle", "everything ended: " .. result.stopped)

local output = probe:output()
local function check(name, ok)
  print(string.format("programs_sigwait %s %s", name, ok and "ok" or ("FAILED: " .. output)))
  sim.expect(ok, name .. ": " .. output)
end
local function has(text)
  return output:find(text, 1, true) ~= nil
end

check("sigwaitinfo", has("wait: USR1 SI_USER from child / CHLD CLD_EXITED from child " ..
                         "status 7\n"))
check("sigtimedwait_timeout", has("timedwait: EAGAIN after 2 ms\n"))
check("alarm_si_kernel", has("alarm: ALRM SI_KERNEL\n"))
check("sigwait", has("sigwait: USR2\n"))
check("siginfo_kill", has("handler: USR2 SI_USER from self\n"))
check("siginfo_sigchld", has("handler: CHLD CLD_EXITED from child status 3\n"))
check("signalfd_refused", has("signalfd: ENOSYS\n"))
check("probe_exit", probe.status == "exited" and probe.exit_code == 0)
