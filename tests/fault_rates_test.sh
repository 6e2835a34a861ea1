#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/fault_rates_test.sh: fault rates seen from outside (docs/faults.md, "Rates"). A run of
# scenarios/faults/rates.lua has one fault_rate event per rate at its end, as many rate fault
# events per rate as its fault_rate event says were applied, each naming its guest (and for
# kill the process), a resume for every suspend and a power-on for every power-off; the run
# summary's `fault rates:` line says the same; the same seed gives the same digest and the
# trace replays; a world with sites but no rates has no fault_rate event and no such line; a
# sweep reports every rate's coverage.
set -u
vmcisim=${VMCISIM:-./vmcisim}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
scenario=scenarios/faults/rates.lua

check() {   # check NAME CONDITION-STATUS [DETAIL]
    if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1${3:+: $3}"; fi
}
count() {   # count DB SQL-WHERE
    sqlite3 "$1" "SELECT count(*) FROM events WHERE $2"
}

"$vmcisim" run "$scenario" --seed 8 --trace "$work/r.db" > "$work/run.out" 2>&1
check "rates seed 8 passes" $? "$(tail -n 3 "$work/run.out")"
rates=$(count "$work/r.db" "kind = 'fault_rate'")
check "one fault_rate event per rate (4)" "$([ "$rates" = 4 ]; echo $?)" "$rates"
total=0
kinds=0
for rate in suspend vmotion power_cycle kill; do
    applied=$(sqlite3 "$work/r.db" "SELECT json_extract(fields, '$.applied') FROM events
                                    WHERE kind = 'fault_rate'
                                    AND json_extract(fields, '$.rate') = '$rate'")
    arrivals=$(sqlite3 "$work/r.db" "SELECT json_extract(fields, '$.arrivals') FROM events
                                     WHERE kind = 'fault_rate'
                                     AND json_extract(fields, '$.rate') = '$rate'")
    events=$(count "$work/r.db" "kind = 'fault' AND json_extract(fields, '$.class') = 'rate'
                                 AND json_extract(fields, '$.site') = '$rate'")
    check "$rate: fault events = applied ($events) <= arrivals ($arrivals)" \
          "$([ "$events" = "$applied" ] && [ "$applied" -le "$arrivals" ]; echo $?)" \
          "$events vs $applied"
    grep -Eq "(fault rates:|;) $rate [0-9.]+/s: $arrivals arrivals, $applied applied" \
        "$work/run.out"
    check "$rate: the summary line says $arrivals arrivals, $applied applied" $?
    total=$((total + applied))
    kinds=$((kinds + (applied > 0)))
done
check "seed 8 had every kind of rate fault ($total)" \
      "$([ "$total" -gt 0 ] && [ "$kinds" = 4 ]; echo $?)"
unnamed=$(count "$work/r.db" "kind = 'fault' AND json_extract(fields, '$.class') = 'rate'
                              AND (json_extract(fields, '$.vm') IS NULL OR ctx = 2)")
check "every rate fault names its guest" "$([ "$unnamed" = 0 ]; echo $?)" "$unnamed"
nameless=$(count "$work/r.db" "kind = 'fault' AND json_extract(fields, '$.site') = 'kill'
                               AND (json_extract(fields, '$.process') <> 'client'
                                    OR json_extract(fields, '$.target_pid') IS NULL)")
check "every kill names a client process and its pid" "$([ "$nameless" = 0 ]; echo $?)"
suspends=$(count "$work/r.db" "kind = 'vm_suspend'")
resumes=$(count "$work/r.db" "kind = 'vm_resume'")
check "a resume for every suspend ($suspends)" "$([ "$suspends" = "$resumes" ]; echo $?)" \
      "$suspends vs $resumes"
offs=$(count "$work/r.db" "kind = 'vm_power_off'")
ons=$(count "$work/r.db" "kind = 'vm_power_on'")
check "a power-on for every power-off ($offs)" "$([ "$offs" = "$ons" ]; echo $?)" \
      "$offs vs $ons"
"$vmcisim" replay "$work/r.db" > "$work/replay.out" 2>&1
check "the trace replays identically" $? "$(tail -n 2 "$work/replay.out")"

first=$("$vmcisim" run "$scenario" --seed 5 -q --digest 2>&1 | tail -n 1)
second=$("$vmcisim" run "$scenario" --seed 5 -q --digest 2>&1 | tail -n 1)
other=$("$vmcisim" run "$scenario" --seed 6 -q --digest 2>&1 | tail -n 1)
check "same seed, same digest with rates" "$([ "$first" = "$second" ]; echo $?)"
check "another seed, another digest" "$([ "$first" != "$other" ]; echo $?)"

"$vmcisim" run scenarios/faults/real_faults.lua --seed 3 --trace "$work/f.db" \
    > "$work/sites.out" 2>&1
check "real_faults (sites, no rates) passes" $?
check "no fault_rate event without rates" \
      "$([ "$(count "$work/f.db" "kind = 'fault_rate'")" = 0 ]; echo $?)"
! grep -q '^fault rates:' "$work/sites.out"
check "no fault rates line without rates" $?

"$vmcisim" sweep "$scenario" --seeds 1-40 -j 2 > "$work/sweep.out" 2>&1
check "sweep of rates: 40 seeds pass" $? "$(tail -n 3 "$work/sweep.out")"
grep -q '^fault rates (seeds on / arrived / applied, arrivals, applied):' "$work/sweep.out"
check "sweep prints the rates header" $?
for rate in suspend vmotion power_cycle kill; do
    grep -Eq "^  $rate +40 / +[1-9][0-9]* / +[1-9][0-9]*, [1-9]" "$work/sweep.out"
    check "sweep coverage: $rate on in 40 seeds, arrived and applied" $?
done
! grep -q '^fault rates never applied' "$work/sweep.out"
check "no rate left unapplied over 40 seeds" $?
