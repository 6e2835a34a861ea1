#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/summary_tables_test.sh: the summary tables a finished `vmcisim run --trace` adds
# (docs/trace-schema.md, "Summary tables"). On traces of several scenarios, every view that
# reads them (summary, connections, sockets, stats, errors), in every format, with and
# without filters, prints exactly what `--recompute` (from the events) prints; the tables
# really answer (a trace whose events were cut but whose tables were kept still lists its
# connections); they change no digest and the file stays byte-identical across two runs;
# replay still verifies the trace; a partial trace has none; tables that were changed,
# dropped, built for another digest or that no longer end at the last event are reported
# on stderr and ignored, the view answering from the events with exit status 0.
# Prints "ok - NAME" / "not ok - NAME".
set -u
vmcisim=${VMCISIM:-./vmcisim}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1${3:+: $3}"; fi; }

views="summary connections sockets stats errors"
formats="text tsv csv json"

# same_views TRACE LABEL [FILTERS...]: every view and format from the tables equals the
# recompute, and no message says the tables were ignored.
same_views() {
    local trace=$1 label=$2 differ="" noisy=""
    shift 2
    for view in $views; do
        for format in $formats; do
            "$vmcisim" inspect "$trace" "$view" --format "$format" "$@" \
                >"$work/tables.out" 2>"$work/tables.err"
            local tables_status=$?
            "$vmcisim" inspect "$trace" "$view" --format "$format" --recompute "$@" \
                >"$work/events.out" 2>"$work/events.err"
            local events_status=$?
            if [ "$tables_status" -ne "$events_status" ] ||
               ! cmp -s "$work/tables.out" "$work/events.out"; then
                differ="$differ $view/$format"
            fi
            grep -q "summary tables ignored" "$work/tables.err" && noisy="$noisy $view/$format"
        done
    done
    check "$label: tables and events give the same views in every format" \
        "$([ -z "$differ" ]; echo $?)" "differ:$differ"
    check "$label: the tables are used without a message" "$([ -z "$noisy" ]; echo $?)" \
        "stderr:$noisy"
}

has_tables() {
    [ "$(sqlite3 "$1" "SELECT count(*) FROM sqlite_master WHERE name = 'summary_info'")" = 1 ]
}

# Scenarios with streams, datagrams, refusals, resets, suspends and faults.
scenarios="scenarios/hello.lua scenarios/many_connections.lua scenarios/nfs_dgram.lua
scenarios/lifecycle/close_unread_hazard.lua scenarios/lifecycle/device_reset_sockets.lua
scenarios/lifecycle/suspend_resume_stream.lua scenarios/faults/real_faults.lua"
number=0
for scenario in $scenarios; do
    number=$((number + 1))
    trace="$work/trace$number.db"
    "$vmcisim" run "$scenario" --trace "$trace" -q >/dev/null 2>"$work/run.err"
    cp "$trace" "$work/fresh$number.db"     # as written: inspect adds indexes on first use
    has_tables "$trace"
    check "$scenario: run --trace wrote the summary tables" $? "$(head -c 300 "$work/run.err")"
    same_views "$trace" "$scenario"
done

# Filters: the model's rows are filtered the same; the event counts come from the events.
same_views "$work/trace1.db" "hello.lua --vm host" --vm host
same_views "$work/trace2.db" "many_connections.lua --from/--to" --from 1us --to 5us
same_views "$work/trace3.db" "nfs_dgram.lua --layer transport" --layer transport

# A trace at --trace-level api: sockets without connections.
"$vmcisim" run scenarios/hello.lua --trace "$work/api.db" --trace-level api -q >/dev/null
same_views "$work/api.db" "hello.lua --trace-level api"

# The tables answer: cut the events but keep the last one (so seq_max still matches).
cp "$work/trace2.db" "$work/cut.db"
sqlite3 "$work/cut.db" "DELETE FROM events WHERE seq < (SELECT max(seq) FROM events)"
tables=$("$vmcisim" inspect "$work/cut.db" connections 2>/dev/null | tail -n 1)
events=$("$vmcisim" inspect "$work/cut.db" connections --recompute 2>/dev/null | tail -n 1)
check "the connections view answers from the tables (256 connections without the events)" \
    "$([ "$tables" = "256 stream connections (of 256 in the trace)" ] &&
       [ "$events" = "0 stream connections (of 0 in the trace)" ]; echo $?)" \
    "tables: $tables; events: $events"

# Determinism: the digest is the same with and without a trace, and two traced runs give
# byte-identical files (the tables are built from the trace's content alone).
plain=$("$vmcisim" run scenarios/many_connections.lua --digest -q | tail -n 1)
traced=$("$vmcisim" run scenarios/many_connections.lua --digest -q --trace "$work/again.db" |
         tail -n 1)
check "the tables change no digest" "$([ "$plain" = "$traced" ]; echo $?)" "$plain / $traced"
cmp -s "$work/fresh2.db" "$work/again.db"
check "two runs write byte-identical traces, tables included" $?
"$vmcisim" replay "$work/trace1.db" >/dev/null 2>&1
check "replay verifies a trace that has summary tables" $?

# A partial trace (its run did not finish) gets no tables.
cp "$work/trace1.db" "$work/partial.db"
sqlite3 "$work/partial.db" "DELETE FROM meta WHERE key = 'digest'"
"$vmcisim" inspect "$work/partial.db" summary >"$work/out" 2>"$work/err"
check "tables of a trace without its digest are ignored, reported" \
    "$(grep -q "summary tables ignored (they were not built for this trace's digest)" \
        "$work/err"; echo $?)" "$(cat "$work/err")"

# tampered LABEL SQL EXPECTED-REASON: the changed copy is reported and answers as
# --recompute does on the same file (from its events), with status 0.
tampered() {
    cp "$work/trace4.db" "$work/tampered.db"
    sqlite3 "$work/tampered.db" "$2" 2>/dev/null
    local bad=""
    for view in $views; do
        "$vmcisim" inspect "$work/tampered.db" "$view" --format json \
            >"$work/tampered.out" 2>"$work/tampered.err"
        local status=$?
        "$vmcisim" inspect "$work/tampered.db" "$view" --format json --recompute \
            >"$work/reference.out" 2>"$work/reference.err"
        if [ "$status" -ne 0 ] || ! cmp -s "$work/tampered.out" "$work/reference.out" ||
           ! grep -q "summary tables ignored ($3" "$work/tampered.err" ||
           [ -s "$work/reference.err" ]; then
            bad="$bad $view"
        fi
    done
    check "tampered tables ($1) are reported and ignored" "$([ -z "$bad" ]; echo $?)" \
        "views:$bad; $(head -c 300 "$work/tampered.err")"
}
tampered "a changed byte count" \
    "UPDATE summary_connections SET client_written_bytes = client_written_bytes + 1" \
    "their rows do not match their hash"
tampered "a changed kind count" "UPDATE summary_kinds SET events = events + 1" \
    "their rows do not match their hash"
tampered "a deleted error seq" "DELETE FROM summary_errors" "their rows do not match"
tampered "a dropped table" "DROP TABLE summary_sockets" "a summary table is missing"
tampered "a view in place of a table" "DROP TABLE summary_kinds; CREATE VIEW summary_kinds
    AS WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT x FROM n" \
    "a summary table is missing"
tampered "a text where an integer was" "UPDATE summary_sockets SET closed = 'x'" \
    "their rows do not match"
tampered "another version" "UPDATE summary_info SET value = 99 WHERE key = 'version'" \
    "summary_info has no version"
tampered "another digest" "UPDATE summary_info SET value = 'ff' WHERE key = 'digest'" \
    "they were not built for this trace's digest"
tampered "an appended event" "INSERT INTO events SELECT seq + 1, time_ns, ctx, pid, layer,
    kind, fields, payload FROM events WHERE seq = (SELECT max(seq) FROM events)" \
    "they do not end at the trace's last event"
tampered "garbage in summary_info" "DELETE FROM summary_info; INSERT INTO summary_info
    VALUES (x'00', x'ff'), ('version', 'one')" "summary_info has no version"
