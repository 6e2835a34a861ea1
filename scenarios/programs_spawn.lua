-- scenarios/programs_spawn.lua: posix_spawn, system and popen in a program
-- (docs/programs.md, "posix_spawn, system and popen"), with
-- scenarios/programs/spawn_probe.c, which runs `sh -c` through each. Needs `--allow-exec`;
-- without it the scenario says so and passes without running anything:
--
--   vmcisim run scenarios/programs_spawn.lua --allow-exec
--
-- It prints one line per check, `programs_spawn NAME ok` or the failure.
local sim = require("vmcisim")
if not sim.exec_allowed then
  sim.log("programs_spawn: skipped: running real programs needs --allow-exec")
  return
end
local w = sim.world{ product = "esxi-6.5" }
local guest = w:vm{ name = "guest1" }
local probe = guest:exec{ "../build/programs/spawn_probe", name = "spawn-probe" }

local result = w:run()
sim.expect(result.stopped == "idle", "everything ended: " .. result.stopped)

local output = probe:output()
local function check(name, ok)
  print(string.format("programs_spawn %s %s", name, ok and "ok" or ("FAILED: " .. output)))
  sim.expect(ok, name .. ": " .. output)
end
local function has(text)
  return output:find(text, 1, true) ~= nil
end

check("system_null", has("system: null 1\n"))
check("system_output", has("from-system\n"))
check("system_status", has("system: exited 3\n"))
check("popen_read", has("popen: read from-popen / second /\n"))
check("popen_pclose", has("popen: pclose exited 0\n"))
check("popen_write", has("popen: wrote 11 bytes, file \"to the file\", status exited 0\n"))
check("spawnp_file_actions", has("spawnp: rc 0 file \"spawned\" status exited 0\n"))
check("spawn_missing", has("spawn: missing ENOENT\n"))
check("probe_exit", probe.status == "exited" and probe.exit_code == 0)
