# SPDX-License-Identifier: MIT
# tests/programs_lib.sh: sourced by the scripts that run real programs (programs_test.sh,
# programs_fork_test.sh, programs_thread_test.sh, socat_test.sh); it is not a test itself.
# Needs $vmcisim and $work set by the caller.

check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1${3:+: $3}"; fi; }

# programs_skip_unless_sandboxed NAME: runs /bin/true as a program ($work/true.lua, output in
# $work/true.out, exit status in $sandbox_status). When this machine cannot sandbox programs
# (the sandbox says so), prints "ok - NAME: skipped: WHY" and ends the calling script with 0:
# the only reason these scripts skip.
programs_skip_unless_sandboxed() {
    cat >"$work/true.lua" <<'LUA'
local sim = require("vmcisim")
local w = sim.world{}
local p = w:host():exec{ "true" }
w:run()
sim.expect(p.exit_code == 0, "true exited 0: " .. tostring(p.exit_code))
LUA
    "$vmcisim" run "$work/true.lua" --allow-exec -q >"$work/true.out" 2>&1
    sandbox_status=$?
    if grep -q "cannot sandbox programs" "$work/true.out"; then
        echo "ok - $1: skipped: $(grep -o 'cannot sandbox programs.*' "$work/true.out" | head -1)"
        exit 0
    fi
}
