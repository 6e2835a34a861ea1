#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/swarm_test.sh: the swarm scenarios of scenarios/swarm/ (docs/sweeps.md, "The swarm
# scenarios") swept over 1 400 seeds in all with `vmcisim sweep -j 2`, each seed's end-to-end
# checks and the world invariants holding (zero failed seeds); the speed of each sweep printed
# as a comment (wall time, never asserted); the fault sites each allows fire. Seeds 1-20 of
# each with `sweep --paranoid` (the invariants after every event). Then that the scenarios do exercise what they claim:
# the chaos scenario cuts streams and the datagram scenario loses and resends datagrams on the
# seeds shown. About 25 s of wall time on the shared 2-core machine (1 400 seeds at 50-100
# seeds/s, docs/sweeps.md); `vmcisim test scenarios` (scenarios_test.sh) also runs each with
# its header's seeds and checks its digest is stable.
set -u
vmcisim=${VMCISIM:-./vmcisim}

check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1${3:+: $3}"; fi; }

sweep() {   # sweep SCENARIO SEEDS
    local scenario=$1 seeds=$2 out status last
    out=$("$vmcisim" sweep "$scenario" --seeds "$seeds" -j 2 --no-progress 2>&1)
    status=$?
    last=$(printf '%s\n' "$out" | tail -n 1)
    local first=${seeds%-*} final=${seeds#*-}
    local expected="seeds: $((final - first + 1)) passed, 0 failed"
    check "$scenario: seeds $seeds pass (exit 0)" "$status" \
        "$(printf '%s\n' "$out" | grep -E '^(FAIL|  reproduce:|  \|)' | head -n 20)"
    check "$scenario: seeds $seeds: '$expected'" $([ "$last" = "$expected" ]; echo $?) "$last"
    printf '%s\n' "$out" | grep -E '^wall: ' | sed "s|^|# $scenario: |"
    # a coverage line per site: "  NAME  real  ENABLED / REACHED / FIRED, FIRINGS"; some fired
    local fired
    fired=$(printf '%s\n' "$out" | grep -cE '^  [a-z_]+ +real +[0-9]+ +/ +[0-9]+ +/ +[1-9][0-9]*,')
    check "$scenario: seeds $seeds: fault sites fired ($fired sites)" \
        $([ "$fired" -ge 3 ]; echo $?) "$(printf '%s\n' "$out" | grep -A12 '^fault sites')"
}

sweep scenarios/swarm/streams.lua 1-400
sweep scenarios/swarm/lifecycle_chaos.lua 1-500
sweep scenarios/swarm/dgram_loss.lua 1-500

# ---- the invariants after every event ----------------------------------------------------
for scenario in streams lifecycle_chaos dgram_loss; do
    out=$("$vmcisim" sweep "scenarios/swarm/$scenario.lua" --seeds 1-20 -j 2 --paranoid \
          --no-progress 2>&1)
    status=$?
    printf '%s\n' "$out" | grep -qF "invariants: after every event (--paranoid)" &&
        [ "$(printf '%s\n' "$out" | tail -n 1)" = "seeds: 20 passed, 0 failed" ]
    check "swarm/$scenario.lua: seeds 1-20 pass with sweep --paranoid (exit $status)" $? \
        "$(printf '%s\n' "$out" | grep -E '^(FAIL|  reproduce:)' | head -n 10)"
done

# ---- the scenarios exercise what they claim ----------------------------------------------
cuts=0
for seed in 1 2 3 4 5 6 7 8 9 10; do
    line=$("$vmcisim" run scenarios/swarm/lifecycle_chaos.lua --seed "$seed" 2>&1 |
           grep -E 'chaos actions' | tail -n 1)
    n=$(printf '%s\n' "$line" | sed -nE 's/.* ([0-9]+) cut$/\1/p')
    cuts=$((cuts + ${n:-0}))
done
check "lifecycle_chaos: seeds 1-10 cut streams mid-transfer ($cuts cut)" \
    $([ "$cuts" -gt 0 ]; echo $?)

line=$("$vmcisim" run scenarios/swarm/dgram_loss.lua --seed 1 2>&1 | grep -E 'datagrams sent')
lost=$(printf '%s\n' "$line" | sed -nE 's/.* ([0-9]+) lost, .*/\1/p')
again=$(printf '%s\n' "$line" | sed -nE 's/.* ([0-9]+) sent again$/\1/p')
check "dgram_loss: seed 1 loses datagrams and sends them again ($line)" \
    $([ "${lost:-0}" -gt 0 ] && [ "${again:-0}" -ge "${lost:-0}" ]; echo $?)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$vmcisim" run scenarios/swarm/dgram_loss.lua --seed 1 -q --trace "$work/loss.db" > /dev/null 2>&1
errors=$("$vmcisim" inspect "$work/loss.db" errors 2>&1)
printf '%s\n' "$errors" | grep -q 'receive_queue_full'
check "dgram_loss: seed 1's trace names the full receive queues (receive_queue_full)" $? \
    "$(printf '%s\n' "$errors" | head -n 5)"
