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
# A scenario or required file that opens but cannot be read (a folder) says why: the message
# was 'cannot read PATH' and nothing more.
mkdir -p "$work/folder.lua" "$work/req/helper.lua"
expect_exit "a folder as the scenario" 3 "cannot read .*folder\.lua: Is a directory$" \
    run "$work/folder.lua"
printf 'package.path = "%s/req/?.lua"\nrequire("helper")\n' "$work" > "$work/req/main.lua"
expect_exit "a folder as a required file" 3 "cannot read .*helper\.lua: Is a directory$" \
    run "$work/req/main.lua"
expect_exit "missing require" 3 "module 'lib.no_such_helper' not found" run $F/require_missing.lua
expect_exit "failing expect" 1 "arithmetic is broken on purpose" run $F/expect_fail.lua
# A "#!" first line and a UTF-8 byte-order mark, which `lua` skips, are skipped too (they
# made the run exit 3); line numbers stay the file's.
printf '\357\273\277#!/usr/bin/env vmcisim\n\nrequire("vmcisim").world{}\nerror("on line 4")\n' \
    > "$work/shebang.lua"
expect_exit "a scenario with a byte-order mark and a #! line" 1 "shebang\.lua:4: on line 4" \
    run "$work/shebang.lua"
run run "$work/shebang.lua" --trace "$work/shebang.db" -q
run replay "$work/shebang.db"
check "a scenario with a #! line replays" $status "$err"
# Output that cannot be written is not lost silently: a run that passes exits 1 and says so.
if [ -w /dev/full ]; then
    "$vmcisim" run scenarios/hello.lua -q >/dev/full 2>"$work/err"
    status=$?
    [ "$status" -eq 1 ] && grep -q "vmcisim: cannot write the output" "$work/err"
    check "a passing run whose stdout is full exits 1 and names the cause" $? \
        "status $status: $(head -c 300 "$work/err")"
    "$vmcisim" --version >/dev/full 2>"$work/err"
    check "--version to a full stdout exits 1" $([ $? -eq 1 ]; echo $?)
fi
"$vmcisim" run scenarios/hello.lua -q >&- 2>"$work/err"
status=$?
[ "$status" -eq 1 ] && grep -q "vmcisim: cannot write the output" "$work/err"
check "a passing run with stdout closed exits 1 and names the cause" $? \
    "status $status: $(head -c 300 "$work/err")"
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
# --seed is decimal, 0x hex, or negative (docs/cli.md): '010' is ten, not octal eight as
# strtoull's base 0 read it; spaces before the number are not part of it.
seed_digest() { "$vmcisim" run scenarios/hello.lua -q --digest --seed "$1" 2>&1 | tail -n 1; }
[ "$(seed_digest 010)" = "$(seed_digest 10)" ] && [ "$(seed_digest 010)" != "$(seed_digest 8)" ]
check "--seed 010 is ten (decimal), not octal eight" $? "$(seed_digest 010) $(seed_digest 10)"
[ "$(seed_digest -010)" = "$(seed_digest -10)" ]
check "--seed -010 is minus ten" $?
[ "$(seed_digest 0x10)" = "$(seed_digest 16)" ] && [ "$(seed_digest -0x10)" = "$(seed_digest -16)" ]
check "--seed 0x10 is sixteen, -0x10 minus sixteen" $?
expect_exit "--seed with a space before it" 2 "--seed: ' 5' is not an integer" \
    run $F/require_ok.lua --seed " 5"
expect_exit "--seed 0x alone" 2 "--seed: '0x' is not an integer" run $F/require_ok.lua --seed 0x
[ "$(seed_digest 08)" = "$(seed_digest 8)" ]
check "--seed 08 is eight (octal refused it)" $? "$(seed_digest 08)"
expect_exit "bad duration" 2 "--until" run $F/require_ok.lua --until 5parsecs
expect_exit "bad duration says what it is not" 2 "--until: '5parsecs' is not a duration" \
    run $F/require_ok.lua --until 5parsecs
expect_exit "a duration too long says so" 2 \
    "--until: '99999999999s' is longer than the longest duration \(18446744073.709551614 s\)" \
    run $F/require_ok.lua --until 99999999999s
expect_exit "the longest duration is accepted" 0 "" run $F/require_ok.lua --until 18446744073.709551614s
expect_exit "inspect --to that is no duration says so" 2 "--to: '1e30s' is not a duration" \
    inspect nothing.db --to 1e30s
expect_exit "sweep --until too long says so" 2 "is longer than the longest duration" \
    sweep $F/require_ok.lua --seeds 1-2 --until 100000000000000000000ns
expect_exit "bad trace level" 2 "--trace-level" run $F/require_ok.lua --trace-level everything
expect_exit "two scenarios" 2 "unexpected argument" run $F/require_ok.lua $F/expect_fail.lua
expect_exit "no command" 2 "usage" 
expect_exit "unknown command" 2 "unknown command" frobnicate
run --help; [ "$status" -eq 0 ] && grep -q "usage: vmcisim run" "$work/out"
check "--help prints usage and exits 0" $?
run --version; [ "$status" -eq 0 ] && grep -qE "^vmcisim [0-9]+\.[0-9]+\.[0-9]+$" "$work/out"
check "--version prints the version" $?
# Nothing after --version is ignored silently (docs/cli.md: `vmcisim --help | --version`).
expect_exit "--version with an argument" 2 "--version takes no argument \('extra'\)" --version extra
[ ! -s "$work/out" ]
check "--version with an argument prints no version" $?
expect_exit "version with an argument" 2 "version takes no argument" version 1
# --help likewise takes nothing else, at the top and in every command: `--help extra` printed
# the usage and exited 0 while `--version extra` was a usage error.
expect_exit "--help with an argument" 2 "--help takes no argument \('extra'\)" --help extra
[ ! -s "$work/out" ]
check "--help with an argument prints nothing on stdout" $?
expect_exit "-h with an argument" 2 "-h takes no argument \('extra'\)" -h extra
expect_exit "help with an argument" 2 "help takes no argument \('extra'\)" help extra
for command in run replay inspect export test sweep; do
    run $command --help; [ "$status" -eq 0 ] && [ -s "$work/out" ]
    check "$command --help alone prints usage and exits 0" $?
    expect_exit "$command --help with an argument" 2 \
        "$command --help takes no other argument \('extra'\)" $command --help extra
    [ ! -s "$work/out" ]
    check "$command --help with an argument prints nothing on stdout" $?
    expect_exit "$command with an argument then -h" 2 \
        "$command -h takes no other argument \('extra'\)" $command extra -h
    # Bundled with another short option, -h is not alone either ("-qh" printed the usage
    # and ignored the q); replay takes no bundles at all.
    expected="$command -h takes no other argument \\('-hq'\\)"
    [ $command = replay ] && expected="replay: unknown option '-hq'"
    expect_exit "$command -hq" 2 "$expected" $command -hq
done
expect_exit "run -qh" 2 "run -h takes no other argument \\('-qh'\\)" run -qh
expect_exit "sweep -vh" 2 "sweep -h takes no other argument \\('-vh'\\)" sweep -vh
# --junit '' is refused before anything runs (it ran every seed, then could not write '').
expect_exit "test --junit ''" 2 "--junit: an empty path" test $F/require_ok.lua --junit ''
expect_exit "sweep --junit ''" 2 "--junit: an empty path" sweep $F/require_ok.lua --seeds 1-2 --junit ''
# A refused option is named as written: a bundle's unknown letter is not the command's name
# ("inspect: unknown option ... 'inspect'" before).
for command in inspect export test sweep; do
    expect_exit "$command names a bundle's unknown letter" 2 \
        "unknown option or missing value: '-x'" $command -xq
done
expect_exit "run names a bundle's unknown letter" 2 "unknown option or missing value: '-x'" \
    run $F/require_ok.lua -qx
expect_exit "a long option's missing value names it" 2 \
    "unknown option or missing value: '--format'" export t.db --format
# A '--help' that is an option's value or a scenario argument is not the option.
expect_exit "run's scenario argument --help is not the option" 0 "" \
    run $F/require_ok.lua -q -- --help

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
# Every sink at once (digest, discarded count, files, SQLite, verbose) fits the engine's table.
run run scenarios/hello.lua -v --trace "$work/all_sinks.db"
[ "$status" -eq 0 ] && grep -q -- "-> pass$" "$work/out" && "$vmcisim" replay -q "$work/all_sinks.db"
check "--trace and -v together: every sink fits, the run passes and replays" $? "$status"

# --until caps the run; -- passes scenario arguments.
# hello.lua checks itself, so stopping it before the exchange ends fails the run.
run run scenarios/hello.lua --until 10us
[ "$status" -eq 1 ] && grep -q "^run: stopped by --until (work left) at 0.000010000s" "$work/out"
check "--until 10us stops at 10 us and the summary says so" $? "$out"
run run $F/args.lua --until 5ms
grep -q "^run: stopped by --until (work left) at 0.005000000s, .* 0 failures -> pass$" "$work/out"
[ "$status" -eq 0 ] && ! grep -q "warning" "$work/err"
check "--until with a unit: exit 0, no warning" $? "$status $err"
run run $F/args.lua --until 5
[ "$status" -eq 0 ] && grep -q "warning: --until 5 has no unit and is read as ns" "$work/err" &&
    grep -q "^run: stopped by --until (work left) at 0.000000005s" "$work/out"
check "a bare --until 5 is 5 ns, with a warning" $? "$status $out $err"

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
# With --trace, --progress ends with how often the run waited for the trace's writer (a
# count and a wall time; which count depends on the machine, so only the form is checked).
run run $F/determinism.lua --seed 11 -q --progress --trace "$work/progress.db"
grep -qE "^progress: the run waited [0-9]+ times, [0-9]+\.[0-9]{3} s wall, for the trace's writer \(its record ring was full\)$" "$work/err"
check "--progress with --trace reports the run's waits for the writer" $? "$status: $err"

# Summary line of every ending (docs/cli.md): pass, failures, deadlock, --until, errors.
summary_is() {   # summary_is NAME CODE PATTERN ARGS...: exit CODE, summary matches PATTERN
    local name=$1 code=$2 pattern=$3
    shift 3
    run run "$@"
    [ "$status" -eq "$code" ] && grep -qE -- "$pattern" "$work/out"
    check "summary of $name" $? "status $status: $(tail -n 1 "$work/out")"
}
summary_is "a pass" 0 "^run: idle at .*, 0 failures -> pass$" scenarios/hello.lua
summary_is "a failed expect" 1 "^run: idle at .*, 1 failures -> FAIL$" $F/expect_fail.lua
summary_is "a deadlock" 1 "^run: deadlock at .*, 1 failures -> FAIL$" $F/deadlock.lua
summary_is "an error after w:run()" 1 "^run: idle at 0.001000000s, .*, 1 failures -> FAIL$" \
    $F/error_after_run.lua
summary_is "an error before sim.world" 1 \
    "^run: scenario error, no world at .*, 1 failures -> FAIL$" \
    $F/error_after_run.lua -- before
summary_is "an error after sim.world, before w:run" 1 \
    "^run: world not run at .*, 1 failures -> FAIL$" $F/error_after_run.lua -- no-run
summary_is "a syntax error" 3 "^run: scenario not loaded at .*, 1 failures -> FAIL$" \
    $F/syntax_error.lua

# An error of the top-level code after w:run() is a trace event (so in the digest),
# counted by inspect's summary and errors view, and replays as identical.
run run $F/error_after_run.lua --trace "$work/after.db" --digest
grep -q "boom after the run" "$work/err"
check "an error after w:run() is reported on stderr" $? "$err"
kinds=$(sqlite3 "$work/after.db" "SELECT kind || ' ' || json_extract(fields, '\$.message')
                                  FROM events WHERE seq = (SELECT max(seq) FROM events)")
echo "$kinds" | grep -q "^scenario_error error: .*error_after_run.lua:[0-9]*: boom after the run"
check "an error after w:run() is the trace's last event (scenario_error)" $? "$kinds"
"$vmcisim" inspect "$work/after.db" errors | grep -q "^1 errors$"
check "inspect errors counts the error after w:run()" $?
"$vmcisim" inspect "$work/after.db" | grep -qE "^failures +1 "
check "inspect summary counts the error after w:run() as a failure" $?
"$vmcisim" replay -q "$work/after.db" 2>/dev/null
check "a run with an error after w:run() replays as identical" $?
passed_digest=$(digest_of $F/error_after_run.lua -- no-error)
failed_digest=$(tail -n 1 "$work/out")
[ -n "$passed_digest" ] && [ "$passed_digest" != "$failed_digest" ]
check "the error after w:run() is in the digest" $? "$passed_digest $failed_digest"

# --seed beyond 64 bits is out of range, not "not an integer".
expect_exit "a seed beyond 64 bits" 2 "--seed: '18446744073709551616' does not fit in 64 bits" \
    run $F/require_ok.lua --seed 18446744073709551616
expect_exit "a seed below -2^63" 2 "does not fit in 64 bits" \
    run $F/require_ok.lua --seed -9223372036854775809
run run $F/require_ok.lua --seed 18446744073709551615 -q
check "the largest 64-bit seed is accepted" $status

# An option that takes a value, given twice with different texts, is a usage error in every
# command (docs/cli.md, "Options given twice"); the same text twice, and a repeated flag, pass.
expect_exit "run --seed given twice" 2 \
    "run: --seed given twice with different values \('1', then '2'\); give it once" \
    run $F/require_ok.lua --seed 1 --seed 2
grep -q "^usage: vmcisim run" "$work/err"
check "run --seed given twice prints the usage" $?
expect_exit "run --until given twice, as 5ms and 5000us" 2 "--until given twice" \
    run $F/require_ok.lua --until 5ms --until 5000us
expect_exit "run --trace given twice" 2 "--trace given twice" \
    run $F/require_ok.lua --trace "$work/twice1.db" --trace "$work/twice2.db"
[ ! -e "$work/twice1.db" ] && [ ! -e "$work/twice2.db" ] && [ ! -e "$work/twice1.db.partial" ]
check "run --trace given twice writes no trace" $?
run run $F/require_ok.lua --seed 3 --seed 3 -q -q --digest --digest
seed_twice=$out
run run $F/require_ok.lua --seed 3 -q --digest
[ "$status" -eq 0 ] && [ -n "$out" ] && [ "$seed_twice" = "$out" ]
check "run: the same --seed twice and repeated flags are accepted" $? "$seed_twice / $out"
run run $F/require_ok.lua -q -- --seed 1 --seed 2
check "run: options after -- are the scenario's, never compared" $status
"$vmcisim" run scenarios/hello.lua -q --trace "$work/twice.db" >/dev/null 2>&1
expect_exit "inspect --vm given twice" 2 "inspect: --vm given twice" \
    inspect "$work/twice.db" timeline --vm host --vm guest1
expect_exit "inspect --format given twice" 2 "--format given twice" \
    inspect "$work/twice.db" --format csv --format json
expect_exit "export -f and --format with different values" 2 \
    "export: --format \(-f\) given twice with different values \('pcap', then 'perfetto'\)" \
    export "$work/twice.db" -f pcap --format perfetto -o "$work/twice.out"
[ ! -e "$work/twice.out" ]
check "export with a repeated option writes nothing" $?
expect_exit "export -o given twice" 2 "--output \(-o\) given twice" \
    export "$work/twice.db" -f pcap -o "$work/a.out" -o "$work/b.out"
expect_exit "test -j and --jobs with different values" 2 \
    "vmcisim test: --jobs \(-j\) given twice with different values \('1', then '2'\)" \
    test $F/require_ok.lua -j 1 --jobs 2
expect_exit "test --seeds given twice" 2 "vmcisim test: --seeds given twice" \
    test $F/require_ok.lua --seeds 1 --seeds 2
expect_exit "sweep --shard given twice" 2 "vmcisim sweep: --shard given twice" \
    sweep $F/require_ok.lua --seeds 1-4 --shard 1/2 --shard 2/2
expect_exit "sweep --junit given twice" 2 "vmcisim sweep: --junit given twice" \
    sweep $F/require_ok.lua --seeds 1 --junit "$work/j1.xml" --junit "$work/j2.xml"
run sweep $F/require_ok.lua --seeds 1-2 --seeds 1-2 -j 1 --jobs 1 --no-progress
check "sweep: the same --seeds and -j twice are accepted" $status "$err"

# --trace never replaces what is not a trace; the trace is written beside its path and
# renamed at a clean close; a killed run leaves the old trace and a readable partial one.
cp $F/require_ok.lua "$work/victim.lua"
expect_exit "--trace onto a Lua file" 2 \
    "refusing to replace .*victim.lua: not a vmcisim trace \(not an SQLite database\)" \
    run "$work/victim.lua" --trace "$work/victim.lua"
cmp -s $F/require_ok.lua "$work/victim.lua" && [ ! -e "$work/victim.lua.partial" ]
check "--trace onto a Lua file leaves it untouched" $?
# An empty --trace path ran the whole scenario, wrote '.partial' into the working folder and
# then failed to rename it (exit 1); it is a usage error before anything runs.
mkdir -p "$work/empty_trace"
case $vmcisim in /*) whole=$vmcisim ;; */*) whole=$PWD/$vmcisim ;; *) whole=$vmcisim ;; esac
(cd "$work/empty_trace" && "$whole" run "$OLDPWD/$F/require_ok.lua" --trace '' \
    >"$work/out" 2>"$work/err")
status=$?
[ "$status" -eq 2 ] && grep -qF -- "--trace: an empty path" "$work/err" &&
    [ -z "$(ls -A "$work/empty_trace")" ]
check "--trace '' is a usage error that writes nothing (exit 2)" $? \
    "status $status: $(head -c 300 "$work/err"); files: $(ls -A "$work/empty_trace")"
mkdir "$work/a_dir"
expect_exit "--trace onto a directory" 2 "a_dir: not a vmcisim trace \(not a regular file\)" \
    run $F/require_ok.lua --trace "$work/a_dir"
# A path of thousands of characters: the message used to be cut inside the path, so the
# cause never showed. The path is named by its head and tail; the cause is always there.
long_path="$work/$(head -c 5000 /dev/zero | tr '\0' p).db"
expect_exit "--trace with a 5000-character name" 2 \
    "trace database .*ppp\.\.\.ppp.*\.db: cannot create it: File name too long$" \
    run $F/require_ok.lua --trace "$long_path"
for command in replay inspect "export --format mermaid -o $work/long.mmd"; do
    expect_exit "$command of a 5000-character name" 1 \
        "ppp\.\.\.ppp.*\.db: cannot open: File name too long$" $command "$long_path"
done
expect_exit "a scenario with a 5000-character name" 3 \
    "cannot open .*ppp\.\.\.ppp.*\.lua: File name too long$" run "${long_path%.db}.lua"
run run $F/require_ok.lua --trace "$work/for_export.db" -q
expect_exit "export -o a 5000-character name" 1 \
    "cannot write .*ppp\.\.\.ppp.*\.mmd: File name too long$" \
    export "$work/for_export.db" --format mermaid -o "${long_path%.db}.mmd"
expect_exit "test --junit in a missing folder" 1 \
    "--junit .*/no_such_dir/j\.xml: cannot be written: No such file or directory$" \
    test $F/require_ok.lua --junit "$work/no_such_dir/j.xml"
if [ -w /dev/full ]; then    # a write that fails names its cause ("write failed" alone before)
    expect_exit "test --junit to a full device" 1 \
        "--junit /dev/full: write failed: No space left on device$" \
        test $F/require_ok.lua --junit /dev/full
fi
expect_exit "--trace in a missing folder" 1 \
    "no_such_dir/x\.db\.partial: No such file or directory$" \
    run $F/require_ok.lua --trace "$work/no_such_dir/x.db"
sqlite3 "$work/foreign.db" "CREATE TABLE t(x); INSERT INTO t VALUES (42)"
expect_exit "--trace onto another SQLite database" 2 "foreign.db: not a vmcisim trace" \
    run $F/require_ok.lua --trace "$work/foreign.db"
[ "$(sqlite3 "$work/foreign.db" "SELECT x FROM t")" = 42 ]
check "--trace onto another SQLite database leaves it untouched" $?
echo "precious" > "$work/busy.db.partial"
expect_exit "--trace whose partial name holds a file" 2 "busy.db.partial: not a vmcisim trace" \
    run $F/require_ok.lua --trace "$work/busy.db"
: > "$work/empty.db"
run run $F/require_ok.lua --trace "$work/empty.db" -q
[ "$status" -eq 0 ] && "$vmcisim" replay -q "$work/empty.db"
check "an empty file is replaced by the trace" $? "$status $err"
run run scenarios/hello.lua --trace "$work/r.db" -q
[ "$status" -eq 0 ] && [ ! -e "$work/r.db.partial" ] && [ ! -e "$work/r.db-wal" ] &&
    [ "$(sqlite3 "$work/r.db" "SELECT value FROM meta WHERE key = 'scenario'")" = \
      scenarios/hello.lua ]
check "an existing trace is replaced at a clean close, no partial or -wal file left" $?

cp "$work/r.db" "$work/old.db"
"$vmcisim" run $F/long_run.lua --trace "$work/r.db" -q -- 100000000 >/dev/null 2>&1 &
pid=$!
rows=0
for _ in $(seq 300); do
    # Read only once the run has made the file: sqlite3 would otherwise create an empty
    # database there and race the run's own start (the run then finds it locked).
    [ -s "$work/r.db.partial" ] || { sleep 0.1; continue; }
    rows=$(sqlite3 -readonly "$work/r.db.partial" "SELECT count(*) FROM events" 2>/dev/null)
    [ "${rows:-0}" -gt 0 ] && break
    sleep 0.1
done
kill -KILL $pid 2>/dev/null
wait $pid 2>/dev/null
cmp -s "$work/r.db" "$work/old.db"
check "a killed run leaves the trace it was replacing untouched" $?
[ "${rows:-0}" -gt 0 ] && [ -e "$work/r.db.partial" ]
check "a killed run leaves its committed events in PATH.partial" $? "rows $rows"
out=$("$vmcisim" replay "$work/r.db.partial" 2>&1)
rc=$?
partial="^replay: partial trace \(its run did not finish; no digest to compare\): the"
[ $rc -eq 0 ] && echo "$out" | grep -qE "$partial [1-9][0-9]* recorded events are identical$"
check "a killed run's partial trace replays as far as it goes" $? "rc $rc: $out"
# The re-run is stopped where the trace ends; that is no divergence, and nothing says it is
# (stderr said "run stopped: trace sink replay: replay diverged (below)" above "identical").
! echo "$out" | grep -q "diverged" &&
    echo "$out" | grep -qF "run stopped: trace sink replay: the trace ends here"
check "a partial trace's replay says the re-run stopped where the trace ends, not diverged" \
    $? "$out"
"$vmcisim" inspect "$work/r.db.partial" | grep -qE "^scenario +tests/fixtures/long_run.lua$"
check "a killed run's partial trace has its metadata (written at the start)" $?
# seed and product are written when the run ends: a partial trace's summary takes them from
# its world_create event (they showed "-"), in text and in json; malformed fields: "-".
world_seed=$(sqlite3 "$work/r.db.partial" \
    "SELECT json_extract(fields, '$.seed') FROM events WHERE kind = 'world_create'")
out=$("$vmcisim" inspect "$work/r.db.partial" 2>&1)
echo "$out" | grep -qE "^seed +$world_seed$" && echo "$out" | grep -qE "^product +esxi-[0-9.]+$" &&
    [ -n "$world_seed" ] && ! sqlite3 "$work/r.db.partial" "SELECT 1 FROM meta WHERE key = 'seed'" |
    grep -q 1
check "a partial trace's summary names its seed and product (from world_create)" $? \
    "seed '$world_seed': $out"
"$vmcisim" inspect "$work/r.db.partial" --format json 2>/dev/null |
    grep -qF "{\"section\":\"meta\",\"name\":\"seed\",\"layer\":null,\"value\":\"$world_seed\"}"
check "a partial trace's json summary names its seed" $?
cp "$work/r.db.partial" "$work/bare-world.db"
sqlite3 "$work/bare-world.db" "UPDATE events SET fields = '{}' WHERE kind = 'world_create'"
out=$("$vmcisim" inspect "$work/bare-world.db" 2>&1)
rc=$?
[ $rc -eq 0 ] && echo "$out" | grep -qE "^seed +-$" && echo "$out" | grep -qE "^product +-$"
check "a partial trace whose world_create names no seed or product shows '-'" $? "rc $rc: $out"
sqlite3 "$work/bare-world.db" "UPDATE events SET fields = '{not json' WHERE kind = 'world_create'"
out=$("$vmcisim" inspect "$work/bare-world.db" 2>&1)
rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -qF "bare-world.db: malformed JSON"
check "a partial trace whose world_create fields are malformed is reported (exit 1)" $? \
    "rc $rc: $out"
stored=$(sqlite3 "$work/r.db.partial" "SELECT count(*) FROM files WHERE path = '$F/long_run.lua'")
[ "$stored" = 1 ]
check "a killed run's partial trace has its scenario text" $?

"$vmcisim" run $F/long_run.lua --trace "$work/term.db" -q -- 100000000 >/dev/null 2>"$work/err" &
pid=$!
for _ in $(seq 300); do
    [ -e "$work/term.db.partial" ] && break
    sleep 0.1
done
sleep 0.3
kill -TERM $pid 2>/dev/null
wait $pid
status=$?
[ "$status" -eq 143 ] &&
    grep -q "interrupted; the trace so far is in $work/term.db.partial" "$work/err" &&
    [ ! -e "$work/term.db" ]
check "SIGTERM names the partial trace and dies of the signal" $? \
    "status $status: $(cat "$work/err")"

# --progress prints at its interval: a run of 20001 events (far fewer than 2^20) that
# lasts over 2.5 s of wall time prints at least one progress line (on a machine where it
# is shorter nothing can be said, and the check is skipped: no timing is asserted).
started=$(date +%s%N)
"$vmcisim" run $F/long_run.lua -q --progress -- 10000 20000 >/dev/null 2>"$work/err"
elapsed_ms=$(( ($(date +%s%N) - started) / 1000000 ))
if [ "$elapsed_ms" -gt 2500 ]; then
    line="^progress: simulated [0-9.]+s, [0-9]+ events, [0-9.e+]+ events/s, [0-9]+ s wall$"
    grep -qE "$line" "$work/err"
    check "--progress prints during a ${elapsed_ms} ms run of 20001 events" $? "$(cat "$work/err")"
else
    echo "ok - --progress interval check skipped: the run took only ${elapsed_ms} ms"
fi
