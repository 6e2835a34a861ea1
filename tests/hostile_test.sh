#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/hostile_test.sh: hostile scenarios (tests/fixtures/hostile/) never crash vmcisim.
#
# Each fixture is a reproducer of a crash a scenario could cause (type confusion through
# metatables, use after teardown from __gc, a Lua panic while reporting an error, resuming
# another process's coroutine, a leaked queue pair, a socket used after its process ended).
# Each must end with the given exit status (never 134 or 139, never a sanitizer report
# under `make asan`, which runs this same script) and print the given text.
set -u
vmcisim=${VMCISIM:-./vmcisim}
fixtures=tests/fixtures/hostile

check() {
    if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1${3:+: $3}"; fi
}

# expect FIXTURE STATUS TEXT: runs the fixture; checks its status, that the output holds
# TEXT (a fixed string) and that no sanitizer spoke.
expect() {
    local fixture=$1 status=$2 text=$3
    local output rc
    output=$(timeout 120 "$vmcisim" run "$fixtures/$fixture" --seed 1 2>&1)
    rc=$?
    check "$fixture ends with status $status" "$([ "$rc" -eq "$status" ]; echo $?)" \
        "status $rc: $(printf '%s' "$output" | head -c 600)"
    printf '%s' "$output" | grep -qF -- "$text"
    check "$fixture says: $text" $? "$(printf '%s' "$output" | head -c 600)"
    printf '%s' "$output" | grep -qE 'Sanitizer|runtime error:'
    check "$fixture: no sanitizer report" "$([ $? -ne 0 ]; echo $?)" \
        "$(printf '%s' "$output" | grep -E -m 3 'Sanitizer|runtime error:|^    #')"
}

# Some reproducers need the debug library, which the sandbox may refuse: then only a clean
# failure (status 1, no sanitizer report) is checked, not the binding's own message.
probe=$(mktemp --suffix=.lua)
printf '%s\n' 'local ok = pcall(function() return debug.getregistry() end)' \
    'print(ok and "debug library: present" or "debug library: absent")' > "$probe"
has_debug=$("$vmcisim" run "$probe" -q 2>/dev/null | grep -c "debug library: present")
expect_debug() {    # expect_debug FIXTURE STATUS TEXT
    if [ "$has_debug" -ne 0 ]; then expect "$@"; else expect "$1" "$2" ""; fi
}

# The __gc reproducers need finalizers on scenario tables, which the sandbox may refuse
# too: then the run must still end cleanly (0 or 1), whatever it says.
printf '%s\n' 'local ran = false' \
    'pcall(setmetatable, {}, { __gc = function() ran = true end })' \
    'for i = 1, 200000 do local garbage = { i } end' \
    'print(ran and "finalizers: run" or "finalizers: refused")' > "$probe"
has_gc=$("$vmcisim" run "$probe" -q 2>/dev/null | grep -c "finalizers: run")
rm -f "$probe"
expect_gc() {       # expect_gc FIXTURE STATUS TEXT
    if [ "$has_gc" -ne 0 ]; then expect "$@"; return; fi
    local output rc
    output=$(timeout 120 "$vmcisim" run "$fixtures/$1" --seed 1 2>&1)
    rc=$?
    check "$1 ends cleanly (finalizers refused by the sandbox)" \
        "$([ "$rc" -le 1 ] && ! printf '%s' "$output" | grep -qE 'Sanitizer|runtime error:'; \
           echo $?)" "status $rc: $(printf '%s' "$output" | head -c 600)"
}

expect_debug metatable_swap.lua 1 \
    "bad argument #1 to 'read' (vmcisim.device expected, got vmcisim.socket)"
expect_debug registry_replace.lua 1 "vmcisim.socket: its metatable in the registry was replaced"
expect foreign_values.lua 0 "hostile checks done"
expect_gc gc_teardown.lua 0 \
    "error at teardown: vmcisim.device used in a __gc finalizer (vmcisim objects cannot be used"
expect_gc gc_after.lua 0 "error at teardown: vmcisim.device used in a __gc finalizer"
expect_gc gc_during_run.lua 1 "host/p: vmcisim.device used in a __gc finalizer"
expect tostring_error.lua 1 \
    "could not be turned into text: tests/fixtures/hostile/tostring_error.lua:5: boom)"
expect tostring_loop.lua 1 "host/p: error: (the error object could not be turned into text"
expect tostring_yield.lua 1 \
    "(the error object could not be turned into text: attempt to yield from outside a coroutine)"
expect resume_other_process.lua 1 \
    "coroutine.resume: this coroutine is the body of process pid 1; only the simulator resumes"
expect resume_in_poll.lua 1 "coroutine.resume: this coroutine is the body of process pid 1"
expect resume_created_elsewhere.lua 1 \
    "coroutine.resume: this coroutine was created in process pid 1 and may only be resumed there"
expect qp_never_detached.lua 0 "0 failures -> pass"
expect socket_handoff.lua 1 \
    "worker saw: socket 2 was closed at 0.000009608 s when its process host/server (pid 1) ended"
expect socket_give.lua 0 "hand-over done"
expect method_fuzz.lua 0 "method fuzz after w:run: 33120 calls"
expect close_handler_on_kill.lua 1 \
    "close_handler_on_kill.lua:9: p:sleep: process 'a' is ending (a __close handler cannot block)"
expect time_end.lua 0 "time end checks done"
expect poll_mode.lua 0 "poll mode checks done"
expect name_bytes.lua 0 "name byte checks done"
expect vmx_values.lua 0 "vmx value checks done"
expect block_in_c_call.lua 0 "blocking in C calls checked"
expect time_end_model.lua 1 \
    "run stopped: event time 9223372046854774810 ns is past the end of simulated time"
expect limit_without_run.lua 1 "world: error: run stopped: limit trace_events_max (1000) exceeded"

# The failures above are each one recorded failure, not several.
output=$("$vmcisim" run "$fixtures/resume_created_elsewhere.lua" 2>&1)
printf '%s' "$output" | grep -qF "1 failures -> FAIL"
check "resume_created_elsewhere.lua: the expectations before the refusal hold" $? \
    "$(printf '%s' "$output" | tail -n 3)"
