#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/jitter_test.sh: variation from the seed, seen from outside (docs/cost-model.md,
# "Jitter"). Off by default and when asked for: `jitter = false` (or a table that turns
# nothing on) gives every golden digest unchanged. On: the same seed gives the same digest
# in two processes and a replay of its trace is identical; other seeds give other digests;
# scenarios that check their bytes end to end still pass with jitter;
# scenarios/jitter_three_clients.lua passes its own checks over a range of seeds, with
# jitter and without.
set -u
vmcisim=${VMCISIM:-./vmcisim}
vmcisim="$(cd "$(dirname "$vmcisim")" && pwd)/$(basename "$vmcisim")"   # absolute: we cd
top=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

check() {   # check NAME CONDITION-STATUS [DETAIL]
    if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1${3:+: $3}"; fi
}

digest_of() {   # digest_of FILE SEED [ARGS...]: the run's digest, or the run's last line
    local file=$1 seed=$2
    shift 2
    "$vmcisim" run "$file" --seed "$seed" -q --digest -- "$@" 2>&1 | tail -n 1
}

# Each golden scenario with the option spelled out as off must keep its golden digest.
# The copies keep the original's relative path and line numbers (under $work/tree, where
# the runs happen), since failure messages name the file and line and are in the digest.
with_option() {     # with_option FILE OPTION: a copy of FILE whose sim.world gets OPTION
    local copy="$work/tree/$1"
    mkdir -p "$(dirname "$copy")"
    sed "s/sim\.world{/sim.world{ $2, /" "$top/$1" > "$copy"
    grep -q "sim.world{ $2, " "$copy" || return 1
    echo "$1"
}
mkdir -p "$work/tree"
cd "$work/tree" || exit 1
while read -r file seed digest; do
    case "$file" in '#'*) continue ;; esac
    grep -q "require(\"lib\." "$top/$file" && continue      # needs its folder's lib/: skip
    for option in "jitter = false" "jitter = { schedule = false, route_ns = false }"; do
        # The table form creates one more Lua table, so it shifts the creation numbers that
        # tostring shows (docs/determinism.md): a scenario that logs them cannot keep its digest.
        case "$option" in
        *"{"*) "$vmcisim" run "$top/$file" --seed "$seed" 2>&1 | grep -qE ': #[0-9]+' &&
                   continue ;;
        esac
        copy=$(with_option "$file" "$option")
        check "$file seed $seed: sim.world{ $option } is found" $?
        [ -n "$copy" ] || continue
        got=$(digest_of "$copy" "$seed")
        [ "$got" = "digest $digest" ]
        check "$file seed $seed with '$option' keeps the golden digest" $? "got '$got'"
    done
done < "$top/tests/fixtures/golden-digests.txt"

# On: a function of the seed.
jittered=$(with_option scenarios/hello.lua "jitter = true")
first=$(digest_of "$jittered" 11)
second=$(digest_of "$jittered" 11)
case "$first" in "digest "*) true ;; *) false ;; esac
check "hello.lua with jitter prints a digest" $? "$first"
[ "$first" = "$second" ]
check "hello.lua with jitter: the same seed gives the same digest" $? "$first / $second"
golden=$(grep '^scenarios/hello.lua 7 ' "$top/tests/fixtures/golden-digests.txt" | cut -d' ' -f3)
[ "$(digest_of "$jittered" 7)" != "digest $golden" ]
check "hello.lua with jitter differs from its golden run without" $?
: > "$work/digests"
for seed in 1 2 3 4 5 6 7 8; do digest_of "$jittered" "$seed" >> "$work/digests"; done
[ "$(sort -u "$work/digests" | wc -l)" -eq 8 ]
check "hello.lua with jitter: 8 seeds give 8 different digests" $? \
    "$(sort "$work/digests" | uniq -c)"
events=$("$vmcisim" run "$jittered" --seed 11 -v 2>&1 >/dev/null)
printf '%s\n' "$events" | grep -qE '^#1 .* api jitter .*route_ns="percent 50".*schedule="seeded"'
check "a jittered run traces what it draws (the jitter event after world_create)" $? \
    "$(printf '%s\n' "$events" | head -n 3)"
events=$("$vmcisim" run "$top/scenarios/hello.lua" --seed 11 -v 2>&1 >/dev/null)
printf '%s\n' "$events" | grep -q ' api jitter '
[ $? -ne 0 ] && printf '%s\n' "$events" | grep -q ' api world_create '
check "a run without jitter has no jitter event" $?
"$vmcisim" run "$jittered" --seed 11 -q --trace "$work/jittered.db" >/dev/null 2>&1
replayed=$("$vmcisim" replay "$work/jittered.db" 2>&1)
check "a jittered run replays identically" $? "$replayed"

# Scenarios that check their own bytes end to end still pass with everything jittered.
for file in scenarios/stream_integrity.lua scenarios/many_connections.lua \
            scenarios/guide_stream.lua scenarios/lifecycle/close_unread_hazard.lua; do
    copy=$(with_option "$file" "jitter = true")
    failed=""
    for seed in 1 2 3 4 5; do
        "$vmcisim" run "$copy" --seed "$seed" -q >/dev/null 2>&1 || failed="$failed $seed"
    done
    [ -z "$failed" ]
    check "$file passes its own checks with jitter = true, seeds 1-5" $? "failed seeds:$failed"
done

# The self-checking scenario: distinct finish times with jitter, one finish time without.
cd "$top" || exit 1
scenario=scenarios/jitter_three_clients.lua
failed=""
for seed in $(seq 1 25); do
    "$vmcisim" run "$scenario" --seed "$seed" -q >/dev/null 2>&1 || failed="$failed $seed"
done
[ -z "$failed" ]
check "$scenario passes for seeds 1-25 with jitter" $? "failed seeds:$failed"
failed=""
for seed in 1 2 3; do
    "$vmcisim" run "$scenario" --seed "$seed" -q -- off >/dev/null 2>&1 || failed="$failed $seed"
done
[ -z "$failed" ]
check "$scenario passes without jitter" $? "failed seeds:$failed"
finish_times() {    # finish_times OUTPUT: "COUNT UNIQUE" of the clients' finish times
    local times
    times=$(printf '%s\n' "$1" | sed -n 's/.*client [0-9] finished at \([0-9]*\) ns.*/\1/p')
    echo "$(printf '%s\n' "$times" | grep -c .) $(printf '%s\n' "$times" | sort -u | grep -c .)"
}
out=$("$vmcisim" run "$scenario" --seed 1 -- off 2>&1)
[ "$(finish_times "$out")" = "3 1" ]
check "$scenario without jitter: the three log one finish time" $? "$out"
out=$("$vmcisim" run "$scenario" --seed 1 2>&1)
[ "$(finish_times "$out")" = "3 3" ]
check "$scenario with jitter: the three log three finish times" $? "$out"
