#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/cli_test.sh: the `vmcisim run` contract seen from outside (scenario-api.md):
# exit codes, messages, golden digests, determinism across processes, the trace file.
# Prints "ok - NAME" / "not ok - NAME"; scripts/run-tests counts them.
set -u
vmcisim=${VMCISIM:-./vmcisim}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

check() {   # check NAME CONDITION-STATUS [DETAIL]
    if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1${3:+: $3}"; fi
}

run() {     # run ARGS...: sets status, out, err
    "$vmcisim" "$@" >"$work/out" 2>"$work/err"
    status=$?
    out=$(cat "$work/out")
    err=$(cat "$work/err")
}

expect_exit() {  # expect_exit NAME CODE STDERR-PATTERN ARGS...
    local name=$1 code=$2 pattern=$3
    shift 3
    run "$@"
    [ "$status" -eq "$code" ]
    check "$name exits $code" $? "got $status; stderr: $(head -c 300 "$work/err")"
    if [ -n "$pattern" ]; then
        grep -qE -- "$pattern" "$work/err"
        check "$name names the cause on stderr" $? "no /$pattern/ in: $(head -c 300 "$work/err")"
    fi
}

F=tests/fixtures
expect_exit "syntax error" 3 "syntax_error.lua:4:" run $F/syntax_error.lua
expect_exit "missing scenario" 3 "cannot open .*no_such.lua" run $F/no_such.lua
expect_exit "missing require" 3 "module 'lib.no_such_helper' not found" run $F/require_missing.lua
expect_exit "failing expect" 1 "arithmetic is broken on purpose" run $F/expect_fail.lua
expect_exit "runtime error" 1 "runtime_error.lua:5: attempt to index" run $F/runtime_error.lua
grep -q "guest1/crasher" "$work/err" && grep -q "stack traceback" "$work/err"
check "runtime error names the process and has a traceback" $?
expect_exit "error in w:at callback" 1 "callback failed on purpose" run $F/at_error.lua
expect_exit "blocking call from w:at" 1 "p:sleep: blocking call outside a process" run $F/at_blocking.lua
expect_exit "deadlock" 1 "deadlock" run $F/deadlock.lua
grep -q "host/alpha (pid 1) waits on join:beta" "$work/err" &&
    grep -q "guest1/beta (pid 2) waits on join:alpha" "$work/err" && ! grep -q "server" "$work/err"
check "deadlock report names each blocked non-daemon process and its wait queue" $?
expect_exit "daemon blocked at the end" 0 "" run $F/daemon_idle.lua
expect_exit "until and continue" 0 "" run $F/until_blocked.lua
expect_exit "require relative to the scenario" 0 "" run $F/require_ok.lua
expect_exit "unknown option" 2 "usage: vmcisim run" run $F/require_ok.lua --no-such-option
expect_exit "bad seed" 2 "--seed" run $F/require_ok.lua --seed twelve
expect_exit "bad duration" 2 "--until" run $F/require_ok.lua --until 5parsecs
expect_exit "bad trace level" 2 "--trace-level" run $F/require_ok.lua --trace-level everything
expect_exit "two scenarios" 2 "unexpected argument" run $F/require_ok.lua $F/expect_fail.lua
expect_exit "no command" 2 "usage" 
expect_exit "unknown command" 2 "unknown command" frobnicate
run --help; [ "$status" -eq 0 ] && grep -q "usage: vmcisim run" "$work/out"
check "--help prints usage and exits 0" $?
run --version; [ "$status" -eq 0 ] && grep -qE "^vmcisim [0-9]+\.[0-9]+\.[0-9]+$" "$work/out"
check "--version prints the version" $?

# The default scenario passes and its log lines have the documented form.
run run scenarios/hello.lua
[ "$status" -eq 0 ] &&
    grep -qE "^\[0\.000[0-9]{6}\] guest1/client: connected to the host's port 5000 in [0-9]+\.[0-9]{3} µs$" "$work/out" &&
    grep -qE "^\[0\.000[0-9]{6}\] host/service: received 4 bytes: \"ping\"$" "$work/out" &&
    grep -qE "^\[0\.000[0-9]{6}\] guest1/client: datagram reply \"HELLO OVER A DATAGRAM\" from 2:5000 after [0-9]+\.[0-9]{3} µs$" "$work/out"
check "hello.lua passes with '[time] endpoint/process: text' log lines" $? "$err"
run run scenarios/hello.lua -q
[ "$status" -eq 0 ] && ! grep -q "guest1/client" "$work/out"
check "-q suppresses sim.log lines" $?
run run scenarios/hello.lua -v -q
grep -qE "^#[0-9]+ \[0.000000000\] ctx 2 pid 0 api world_create seed=1" "$work/err"
check "-v prints every trace event on stderr" $?

# --until caps the run; -- passes scenario arguments.
# hello.lua checks itself, so stopping it before the exchange ends fails the run.
run run scenarios/hello.lua --until 10us
[ "$status" -eq 1 ] && grep -q "^run: until at 0.000010000s" "$work/out"
check "--until 10us stops at 10 us" $? "$out"

# Golden digests: the event stream of fixed scenarios is pinned (make and make asan agree).
while read -r scenario seed golden; do
    case "$scenario" in "#"*|"") continue ;; esac
    digest=$("$vmcisim" run "$scenario" --seed "$seed" -q --digest 2>/dev/null | tail -n 1)
    [ "$digest" = "digest $golden" ]
    check "golden digest of $scenario seed $seed" $? "got '$digest'"
done < $F/golden-digests.txt

digest_of() { "$vmcisim" run "$@" -q --digest 2>/dev/null | tail -n 1; }
a=$(digest_of $F/determinism.lua --seed 11)
b=$(digest_of $F/determinism.lua --seed 11)
[ -n "$a" ] && [ "$a" = "$b" ]
check "two processes, same scenario and seed: same digest (pairs order, tostring)" $?
# The seed is in the first event, so a changed digest alone proves nothing: the events
# after it (times, log texts) must differ too.
after_first() {   # after_first SEED: every event but the first, as text
    "$vmcisim" run $F/determinism.lua --seed "$1" -q --trace "$work/seed$1.db" >/dev/null 2>&1
    sqlite3 "$work/seed$1.db" "SELECT group_concat(time_ns || ' ' || kind || ' ' || fields, ';')
                               FROM (SELECT * FROM events WHERE seq > 0 ORDER BY seq)"
}
c11=$(after_first 11)
c12=$(after_first 12)
[ -n "$c11" ] && [ -n "$c12" ] && [ "$c11" != "$c12" ]
check "another seed changes the events after the first (math.random, the sleep it draws)" $?
d=$(digest_of $F/determinism.lua --seed 11 -- extra)
[ "$a" != "$d" ]
check "one extra sim.log changes the digest" $?
e=$(digest_of $F/determinism.lua --seed 11 --trace "$work/t.db")
[ "$a" = "$e" ]
check "the digest is identical with and without --trace" $?
f=$(digest_of $F/determinism.lua --seed 11 --trace "$work/t2.db" --trace-level api)
[ "$a" = "$f" ]
check "the digest is identical whatever --trace-level" $?

# The trace file holds every event and every loaded file.
run run $F/require_ok.lua --seed 3 --trace "$work/r.db"
events=$(sed -n 's/^run: .* events, \([0-9]*\) trace events.*/\1/p' "$work/out")
rows=$(sqlite3 "$work/r.db" "SELECT count(*) FROM events")
[ -n "$events" ] && [ "$events" = "$rows" ]
check "trace holds every event ($rows rows, $events emitted)" $?
seqs=$(sqlite3 "$work/r.db" "SELECT min(seq) || ' ' || max(seq) FROM events")
[ "$seqs" = "0 $((events - 1))" ]
check "trace sequence numbers are 0..N-1" $? "$seqs"
for file in $F/require_ok.lua $F/lib/helper.lua; do
    stored=$(sqlite3 "$work/r.db" "SELECT hex(text) FROM files WHERE path = '$file'")
    [ -n "$stored" ] && [ "$stored" = "$(od -An -tx1 -v "$file" | tr -d ' \n' | tr a-f A-F)" ]
    check "trace stores the full text of $file" $?
done
meta_seed=$(sqlite3 "$work/r.db" "SELECT value FROM meta WHERE key = 'seed'")
[ "$meta_seed" = "3" ]
check "trace meta records the seed" $?
sqlite3 "$work/r.db" "SELECT key FROM meta" | grep -qiE "time|date|clock"
[ $? -ne 0 ]
check "trace meta has no wall-clock entry" $?
log_text=$(sqlite3 "$work/r.db" "SELECT json_extract(fields, '\$.text') FROM events WHERE kind = 'log'")
[ "$log_text" = "hello, trace" ]
check "sim.log text is in the trace" $? "$log_text"
run run $F/determinism.lua --trace "$work/api.db" --trace-level api
layers=$(sqlite3 "$work/api.db" "SELECT group_concat(DISTINCT layer) FROM events")
[ "$layers" = "api" ]
check "--trace-level api writes only api events" $? "$layers"
run run $F/require_ok.lua --trace /nonexistent-dir/x.db
[ "$status" -eq 1 ] && grep -q "/nonexistent-dir/x.db" "$work/err"
check "an unwritable trace path is a clear error" $? "$status $err"
g=$(digest_of $F/determinism.lua --seed 11 --progress)
[ "$a" = "$g" ]
check "--progress is accepted and never changes the digest" $?
