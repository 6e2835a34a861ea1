#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/replay_test.sh: `vmcisim replay FILE.db` (scenario-api.md): a traced run replays as
# identical (exit 0) at every trace level, with scenario arguments, --until and a require;
# a changed event, payload, scenario text, a missing or extra event is a divergence
# (exit 1, the first one printed); unreadable traces exit 1 with a message; usage exits 2.
set -u
vmcisim=${VMCISIM:-./vmcisim}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1${3:+: $3}"; fi; }

traced() {   # traced NAME SCENARIO [run options...]: runs it with --trace into $work/NAME.db
    local name=$1 scenario=$2
    shift 2
    "$vmcisim" run "$scenario" --trace "$work/$name.db" -q "$@" >/dev/null 2>&1
}

for scenario in scenarios/guide_stream.lua scenarios/guide_dgram.lua \
                scenarios/lifecycle/suspend_resume_stream.lua scenarios/many_connections.lua; do
    name=$(basename "$scenario" .lua)
    traced "$name" "$scenario"
    out=$("$vmcisim" replay "$work/$name.db" 2>&1)
    rc=$?
    [ $rc -eq 0 ] && echo "$out" | grep -q "^replay: identical: [0-9]* traced events compared"
    check "$scenario replays as identical" $? "rc $rc: $out"
done

# The scenario's own output (print) is not shown: the verdict is the only line.
traced hello scenarios/hello.lua
out=$("$vmcisim" replay "$work/hello.db" 2>/dev/null)
[ "$(echo "$out" | wc -l)" = 1 ] && echo "$out" | grep -q "^replay: identical: "
check "replay shows the verdict, not the scenario's print output" $? "$out"

# The count of compared events is the trace's row count.
rows=$(sqlite3 "$work/guide_stream.db" "SELECT count(*) FROM events")
out=$("$vmcisim" replay "$work/guide_stream.db")
echo "$out" | grep -q "identical: $rows traced events compared"
check "replay compares every traced event ($rows)" $? "$out"

# The digest printed is the run's.
digest=$("$vmcisim" run scenarios/guide_stream.lua -q --digest | tail -n 1 | cut -d' ' -f2)
echo "$out" | grep -q "digest $digest\$"
check "replay prints the run's digest" $? "$digest vs $out"

for level in off api vmci; do
    traced "level_$level" scenarios/guide_stream.lua --trace-level "$level"
    "$vmcisim" replay -q "$work/level_$level.db" >/dev/null 2>&1
    check "a trace at level $level replays (events up to it, then the digest)" $?
done

traced args tests/fixtures/args.lua --seed 9 --until 5ms -- alpha 42
"$vmcisim" replay -q "$work/args.db"
check "seed, --until and scenario arguments come from the trace" $?

traced req tests/fixtures/require_ok.lua --seed 3
"$vmcisim" replay -q "$work/req.db"
check "a required file's recorded text is used" $?

diverged() {   # diverged NAME SQL PATTERN: replaying a copy changed by SQL prints PATTERN
    cp "$work/guide_stream.db" "$work/$1.db"
    sqlite3 "$work/$1.db" "$2"
    out=$("$vmcisim" replay "$work/$1.db" 2>&1)
    rc=$?
    [ $rc -eq 1 ] && echo "$out" | grep -q "$3"
}
diverged time "UPDATE events SET time_ns = time_ns + 1 WHERE seq = 40" \
    "first divergence after 40 identical events: the events differ"
check "a changed time is the first divergence, at its seq" $? "$out"
diverged fields "UPDATE events SET fields = replace(fields, '\"size\":56', '\"size\":57') WHERE kind = 'dg_route'" \
    "the events differ"
check "a changed field is a divergence" $? "$out"
diverged payload "UPDATE events SET payload = zeroblob(length(payload)) WHERE kind = 'data_out' AND payload IS NOT NULL" \
    "the payloads (bytes fields) differ"
check "a changed payload is a divergence" $? "$out"
diverged text "UPDATE files SET text = replace(text, '5000', '5001')" \
    "corrupt trace (the recorded text of scenarios/guide_stream.lua does not match its stored hash)"
check "a recorded text edited without its hash is a corrupt trace (exit 1)" $? "$out"
# The recorded text (with a matching hash) is what runs, not the file on disk: give the
# trace the text and hash of a changed copy of the scenario, traced under the same path.
mkdir -p "$work/scenarios"
sed 's/5000/5001/g' scenarios/guide_stream.lua > "$work/scenarios/guide_stream.lua"
vmcisim_path=$(readlink -f "$vmcisim")
(cd "$work" &&
    "$vmcisim_path" run scenarios/guide_stream.lua --trace changed_src.db -q >/dev/null 2>&1)
diverged rehashed "ATTACH '$work/changed_src.db' AS other;
    UPDATE files SET text = (SELECT text FROM other.files), hash = (SELECT hash FROM other.files)" \
    "first divergence after [0-9]* identical events: the events differ"
check "the recorded scenario text is what runs (a changed text with its hash diverges)" $? "$out"
diverged seed "UPDATE meta SET value = '99' WHERE key = 'options_seed'" \
    "first divergence after 0 identical events: the events differ (fields)"
check "a changed seed is reported at seq 0, the first event that differs" $? "$out"
echo "$out" | grep -q "recorded: seq 0 " && echo "$out" | grep -q "replayed: seq 0 "
check "the seed divergence shows seq 0 on both sides" $? "$out"
diverged deleted "DELETE FROM events WHERE seq = 70" \
    "first divergence after 70 identical events: the events differ (seq)"
check "a deleted row 70 is reported at 70, not at a later mismatch" $? "$out"
echo "$out" | grep -q "recorded: seq 71 " && echo "$out" | grep -q "replayed: seq 70 "
check "the deleted-row report shows recorded seq 71 against replayed seq 70" $? "$out"
diverged layer "UPDATE events SET layer = 'vmci' WHERE seq = 50 AND layer = 'device'" \
    "first divergence after 50 identical events: the events differ (layer)"
check "a difference only in the layer column is named as the layer" $? "$out"
diverged fewer "DELETE FROM events WHERE seq > 100" "the re-run has more events than the trace"
check "a trace cut short is a divergence" $? "$out"
diverged more "INSERT INTO events SELECT seq + 100000, time_ns, ctx, pid, layer, kind, fields, payload FROM events WHERE seq = (SELECT max(seq) FROM events)" \
    "the trace has more events than the re-run"
check "an extra recorded event is a divergence" $? "$out"
diverged digest "UPDATE meta SET value = '00000000000000000000000000000000' WHERE key = 'digest'" \
    "the digests differ"
check "a different digest is a divergence" $? "$out"
sqlite3 "$work/guide_stream.db" "SELECT value FROM meta WHERE key = 'digest_encoding'" |
    grep -qx '[0-9][0-9]*'
check "a trace records its digest encoding (meta digest_encoding)" $?
diverged old_encoding "UPDATE meta SET value = '00000000000000000000000000000000' WHERE key = 'digest';
    UPDATE meta SET value = '2' WHERE key = 'digest_encoding'" \
    "computed with another digest encoding .*the events agree, the digests cannot be compared"
check "a digest of another encoding is named as such, not as a changed run" $? "$out"
echo "$out" | grep -q "recorded: digest 0* *, encoding 2"
check "the other encoding's number is shown" $? "$out"
diverged no_encoding "UPDATE meta SET value = '00000000000000000000000000000000' WHERE key = 'digest';
    DELETE FROM meta WHERE key = 'digest_encoding'" "encoding 1 or 2 (not recorded)"
check "a trace from before digest encodings were recorded says so" $? "$out"

# Hostile traces: a clear message and exit 1, never an assertion (134) or a hang.
hostile() {   # hostile NAME SQL PATTERN: replaying a copy changed by SQL exits 1 with PATTERN
    cp "$work/guide_stream.db" "$work/$1.db"
    sqlite3 "$work/$1.db" "$2"
    out=$(timeout 60 "$vmcisim" replay "$work/$1.db" 2>&1)
    rc=$?
    [ $rc -eq 1 ] && echo "$out" | grep -q -- "$3"
}
hostile negative_seq "UPDATE events SET seq = -1 WHERE seq = 60" \
    "corrupt trace (event seq '-1' is not a non-negative integer above the one before)"
check "a negative seq is a corrupt trace (exit 1, no assertion)" $? "rc $rc: $out"
hostile duplicate_seq "CREATE TABLE copy AS SELECT * FROM events; DROP TABLE events;
    ALTER TABLE copy RENAME TO events; INSERT INTO events SELECT * FROM events WHERE seq = 30" \
    "corrupt trace (event seq '30' is not a non-negative integer above the one before)"
check "a repeated seq is a corrupt trace (exit 1, no assertion)" $? "rc $rc: $out"
hostile text_seq "CREATE TABLE copy AS SELECT * FROM events; DROP TABLE events;
    ALTER TABLE copy RENAME TO events;
    UPDATE events SET seq = 'x' WHERE seq = (SELECT max(seq) FROM events)" \
    "corrupt trace (event seq 'x'"
check "a seq that is not an integer is refused (exit 1)" $? "rc $rc: $out"
# The other numbers of a row are compared whole: a ctx or pid beyond 32 bits, or one stored as
# a real or text, was read cut to 32 bits (or truncated) and compared equal.
hostile wide_pid "UPDATE events SET pid = pid + 4294967296 WHERE seq = 30" \
    "corrupt trace (event seq 30: pid '4294967"
check "a pid beyond 32 bits is a corrupt trace, not identical" $? "rc $rc: $out"
hostile wide_ctx "UPDATE events SET ctx = ctx + 4294967296 WHERE seq = 31" \
    "corrupt trace (event seq 31: ctx '"
check "a ctx beyond 32 bits is a corrupt trace, not identical" $? "rc $rc: $out"
hostile real_pid "UPDATE events SET pid = pid + 0.5 WHERE seq = 32" \
    "corrupt trace (event seq 32: pid '"
check "a pid that is not an integer is a corrupt trace" $? "rc $rc: $out"
hostile negative_time "UPDATE events SET time_ns = -1 WHERE seq = 33" \
    "corrupt trace (event seq 33: time_ns '-1' is not an integer from 0 to 2^63-1)"
check "a negative time is a corrupt trace" $? "rc $rc: $out"
hostile text_time "UPDATE events SET time_ns = CAST(time_ns AS TEXT) || 'x' WHERE seq = 34" \
    "corrupt trace (event seq 34: time_ns '"
check "a time that is not an integer is a corrupt trace" $? "rc $rc: $out"
mkfifo "$work/fifo.db"
out=$(timeout 20 "$vmcisim" replay "$work/fifo.db" 2>&1)
rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "fifo.db: not a vmcisim trace (not a regular file)"
check "replay refuses a FIFO at once (exit 1, no hang)" $? "rc $rc: $out"
mkdir "$work/dir.db"
out=$("$vmcisim" replay "$work/dir.db" 2>&1)
rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "dir.db: not a vmcisim trace (not a regular file)" &&
    ! echo "$out" | grep -q "disk I/O"
check "replay of a directory says it is not a regular file (not 'disk I/O error')" $? "$out"
: > "$work/empty.db"
# One wording of "not a trace" for replay, inspect and export.
sqlite3 "$work/foreign.db" "CREATE TABLE t(x)"
echo "not a database" > "$work/junk.db"
for file in fifo.db dir.db empty.db foreign.db junk.db missing.db; do
    for command in replay inspect export; do
        extra=""
        [ $command = export ] && extra="--format pcap -o $work/out.pcap"
        timeout 20 "$vmcisim" $command "$work/$file" $extra > /dev/null 2> "$work/$command.err"
        echo "rc $?" >> "$work/$command.err"
        sed "s/^vmcisim $command: //" "$work/$command.err" > "$work/$command.cause"
    done
    cmp -s "$work/replay.cause" "$work/inspect.cause" &&
        cmp -s "$work/replay.cause" "$work/export.cause" && grep -q "^rc 1$" "$work/replay.cause"
    check "replay, inspect and export say the same of $file (exit 1)" $? \
        "$(cat "$work/replay.err" "$work/inspect.err" "$work/export.err" | tr '\n' '|')"
done

# inspect of a trace with no events (no CID bindings to sort) prints every view.
cp "$work/guide_stream.db" "$work/no_events.db"
sqlite3 "$work/no_events.db" "DELETE FROM events"
failed=""
for view in summary timeline connections sockets vms errors; do
    "$vmcisim" inspect "$work/no_events.db" $view > /dev/null 2>&1 || failed="$failed $view"
done
[ -z "$failed" ]
check "inspect of a trace without events prints every view" $? "failed:$failed"

head -c 3000 "$work/guide_stream.db" > "$work/cut.db"
out=$("$vmcisim" replay "$work/cut.db" 2>&1)
[ $? -eq 1 ] && echo "$out" | grep -q "corrupt"
check "a truncated trace is reported as corrupt (exit 1)" $? "$out"
echo "not a database" > "$work/text.db"
"$vmcisim" replay "$work/text.db" >/dev/null 2>&1
check "a text file exits 1" $([ $? -eq 1 ]; echo $?)
sqlite3 "$work/other.db" "CREATE TABLE t(x)"
out=$("$vmcisim" replay "$work/other.db" 2>&1)
[ $? -eq 1 ] && echo "$out" | grep -q "not a vmcisim trace"
check "an SQLite file without our tables exits 1" $? "$out"
cp "$work/guide_stream.db" "$work/nometa.db"
sqlite3 "$work/nometa.db" "DELETE FROM meta WHERE key = 'scenario'"
out=$("$vmcisim" replay "$work/nometa.db" 2>&1)
[ $? -eq 1 ] && echo "$out" | grep -q "does not say how to re-run it"
check "a trace without its scenario metadata exits 1" $? "$out"
# Numbers the run never writes: beyond 64 bits (strtoull's ERANGE would read them as
# 2^64-1), signed or spaced, an until_ns above the longest --until (2^64-2 ns).
for edit in "options_seed|18446744073709551616" "options_seed| 5" "options_seed|+5" \
            "until_ns|99999999999999999999" "until_ns|18446744073709551615" \
            "payload_bytes_max|+256"; do
    cp "$work/guide_stream.db" "$work/meta_edit.db"
    sqlite3 "$work/meta_edit.db" "UPDATE meta SET value = '${edit#*|}' WHERE key = '${edit%%|*}'"
    out=$("$vmcisim" replay "$work/meta_edit.db" 2>&1)
    [ $? -eq 1 ] && echo "$out" | grep -q "does not say how to re-run it"
    check "meta ${edit%%|*} = '${edit#*|}' is refused as metadata (exit 1)" $? "$out"
done
"$vmcisim" replay "$work/missing.db" >/dev/null 2>&1
check "a missing file exits 1" $([ $? -eq 1 ]; echo $?)
"$vmcisim" replay >/dev/null 2>&1
check "no file is a usage error (exit 2)" $([ $? -eq 2 ]; echo $?)
"$vmcisim" replay --bogus "$work/guide_stream.db" >/dev/null 2>&1
check "an unknown option is a usage error (exit 2)" $([ $? -eq 2 ]; echo $?)
