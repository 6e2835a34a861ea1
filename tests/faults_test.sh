#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/faults_test.sh: fault sites seen from outside (docs/faults.md). A run with faults has
# one faults_enabled event, one fault_site event per site at its end, and as many fault
# events as the fault_site events say fired; its summary names the enabled sites; the same
# seed gives the same digest twice; a world without faults traces none of this and prints no
# faults line; a sweep of scenarios/faults/real_faults.lua passes every seed and reports the
# sites' coverage; a sweep without faults says so.
set -u
vmcisim=${VMCISIM:-./vmcisim}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
scenario=scenarios/faults/real_faults.lua

check() {   # check NAME CONDITION-STATUS [DETAIL]
    if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1${3:+: $3}"; fi
}
count() {   # count DB SQL-WHERE
    sqlite3 "$1" "SELECT count(*) FROM events WHERE $2"
}

"$vmcisim" run "$scenario" --seed 3 --trace "$work/f.db" > "$work/run.out" 2>&1
check "real_faults seed 3 passes" $? "$(tail -n 3 "$work/run.out")"
enabled_events=$(count "$work/f.db" "kind = 'faults_enabled'")
check "one faults_enabled event" "$([ "$enabled_events" = 1 ]; echo $?)" "$enabled_events"
sites=$(count "$work/f.db" "kind = 'fault_site'")
# The table's size, from the summary line (so a new site changes nothing here).
table=$(sed -n 's/^faults: [0-9]* of \([0-9]*\) sites enabled.*/\1/p' "$work/run.out")
check "one fault_site event per site ($table)" \
      "$([ -n "$table" ] && [ "$sites" = "$table" ] && [ "$table" -ge 11 ]; echo $?)" "$sites"
fired=$(sqlite3 "$work/f.db" "SELECT coalesce(sum(json_extract(fields, '$.fired')), 0) FROM events
                              WHERE kind = 'fault_site'")
firings=$(count "$work/f.db" "kind = 'fault'")
check "fault events = the fired counts ($firings)" \
      "$([ "$fired" = "$firings" ] && [ "$firings" -gt 0 ]; echo $?)" "$fired vs $firings"
protocol=$(count "$work/f.db" "kind = 'fault' AND json_extract(fields, '$.class') <> 'real'")
check "sites = \"real\" fires no protocol site" "$([ "$protocol" = 0 ]; echo $?)" "$protocol"
grep -q '^faults: [0-9]* of [0-9]* sites enabled' "$work/run.out"
check "the run summary names the enabled sites" $?

first=$("$vmcisim" run "$scenario" --seed 5 -q --digest 2>&1 | tail -n 1)
second=$("$vmcisim" run "$scenario" --seed 5 -q --digest 2>&1 | tail -n 1)
other=$("$vmcisim" run "$scenario" --seed 6 -q --digest 2>&1 | tail -n 1)
check "same seed, same digest with faults" "$([ "$first" = "$second" ]; echo $?)"
check "another seed, another digest" "$([ "$first" != "$other" ]; echo $?)"

"$vmcisim" run scenarios/hello.lua --seed 1 --trace "$work/h.db" > "$work/hello.out" 2>&1
check "hello passes" $?
check "no fault events without faults" \
      "$([ "$(count "$work/h.db" "kind LIKE 'fault%'")" = 0 ]; echo $?)"
! grep -q '^faults:' "$work/hello.out"
check "no faults line without faults" $?

"$vmcisim" sweep "$scenario" --seeds 1-60 -j 2 > "$work/sweep.out" 2>&1
check "sweep of real_faults: 60 seeds pass" $? "$(tail -n 3 "$work/sweep.out")"
grep -q '^fault sites over 60 seeds with faults on' "$work/sweep.out"
check "sweep prints the coverage header" $?
grep -Eq '^  dgram_drop +real +[1-9][0-9]* / +[1-9][0-9]* / +[1-9]' "$work/sweep.out"
check "sweep coverage: dgram_drop enabled, reached and fired" $?
! grep -q 'control_packet_lost' "$work/sweep.out"
check "sweep coverage lists no protocol site for sites = \"real\"" $?

"$vmcisim" sweep scenarios/hello.lua --seeds 1-4 -j 2 > "$work/hello_sweep.out" 2>&1
grep -q '^fault sites: faults off in every seed' "$work/hello_sweep.out"
check "a sweep without faults says so" $?
