#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/sweep_test.sh: `vmcisim sweep`, one scenario over many seeds in worker processes, on
# the fixtures of tests/fixtures/sweep/: a passing range (echo_swarm.lua, jitter on, random
# sizes), a scenario failing on some seeds (some_fail.lua) with its reproduction lines (one
# of them run), the same report with -j 1 and -j 2, --fail-fast, --shard partitions (union =
# the range, no overlap), a seed's digest after 100 others in one worker equal to
# `vmcisim run`'s, expect-error headers, a wall-time limit that kills a worker (hang.lua),
# a worker dying mid-seed (the test-only VMCISIM_SWEEP_ABORT_SEED hook), nothing one seed
# writes into the Lua state seen by the next (leak_probe.lua), the replayed numbering walks
# (numbering_probe.lua and tostring_all.lua against `vmcisim run`),
# the progress bar, the JUnit XML (python3's parser), shards' JUnit files merged by
# scripts/merge-junit, and the usage errors (exit 2).
set -u
vmcisim=${VMCISIM:-./vmcisim}
fixtures=tests/fixtures/sweep
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1${3:+: $3}"; fi; }
has() { printf '%s\n' "$1" | grep -qF -- "$2"; }   # has TEXT NEEDLE
count() { printf '%s\n' "$1" | grep -cE -- "$2"; }  # count TEXT REGEX
last_line() { printf '%s\n' "$1" | tail -n 1; }

# ---- a passing range --------------------------------------------------------------------
out=$("$vmcisim" sweep "$fixtures/echo_swarm.lua" --seeds 1-20 -j 2 2>&1)
status=$?
check "passing range: exit 0" $([ "$status" -eq 0 ]; echo $?) "status $status: $out"
check "passing range: the last line counts 20 passed" \
    $([ "$(last_line "$out")" = "seeds: 20 passed, 0 failed" ]; echo $?) "$(last_line "$out")"
has "$out" "slowest seeds: " && has "$out" "seeds/s with 2 workers"
check "passing range: the summary names the slowest seeds and the speed" $? "$out"
has "$out" "fault sites: "
check "passing range: the summary has its fault-site line" $? "$out"
out=$("$vmcisim" sweep "$fixtures/echo_swarm.lua" -j 1 2>&1)
check "without --seeds the header's '-- seeds: 1-4' is used" \
    $([ "$(last_line "$out")" = "seeds: 4 passed, 0 failed" ]; echo $?) "$(last_line "$out")"

# ---- --paranoid: the invariants after every event in the workers ------------------------
plain=$("$vmcisim" sweep "$fixtures/echo_swarm.lua" --seeds 1-3 -j 1 -v 2>&1 | grep '^seed ' |
        sed 's/, [0-9.]* ms$//')
paranoid=$("$vmcisim" sweep "$fixtures/echo_swarm.lua" --seeds 1-3 -j 1 -v --paranoid 2>&1)
has "$paranoid" "invariants: after every event (--paranoid)" &&
    [ "$(printf '%s\n' "$paranoid" | grep '^seed ' | sed 's/, [0-9.]* ms$//')" = "$plain" ] &&
    [ "$(printf '%s\n' "$plain" | grep -c ': pass, digest ')" -eq 3 ]
check "--paranoid: every seed passes with the digest it has without it" $? "$paranoid"
seed2=$("$vmcisim" run -q --digest --paranoid --seed 2 "$fixtures/echo_swarm.lua")
has "$plain" "seed 2: pass, ${seed2}"
check "--paranoid: a seed's digest is the one 'run --paranoid' prints" $? "$seed2 / $plain"
out=$("$vmcisim" sweep "$fixtures/some_fail.lua" --seeds 7 -j 1 --paranoid 2>&1)
has "$out" "reproduce: $vmcisim run $fixtures/some_fail.lua --seed 7 --paranoid --trace"
check "--paranoid: a failing seed reproduces with run --paranoid" $? "$out"

# ---- failing seeds and their reproduction -----------------------------------------------
out=$("$vmcisim" sweep "$fixtures/some_fail.lua" --seeds 1-30 -j 2 2>&1)
status=$?
check "failing seeds: exit 1" $([ "$status" -eq 1 ]; echo $?) "status $status"
check "failing seeds: 26 passed, 4 failed" \
    $([ "$(last_line "$out")" = "seeds: 26 passed, 4 failed" ]; echo $?) "$(last_line "$out")"
fails=$(printf '%s\n' "$out" | grep -E '^FAIL seed ' | awk '{print $3}' | tr -d : | tr '\n' ' ')
check "failing seeds: seeds 7 14 21 28 fail, listed in seed order" \
    $([ "$fails" = "7 14 21 28 " ]; echo $?) "$fails"
has "$out" "FAIL seed 7: exit 1, expected 0" && has "$out" "seeds divisible by 7 fail on purpose"
check "failing seeds: the reason and the seed's own output are shown" $? "$out"
check "failing seeds: one reproduce line per failure" \
    $([ "$(count "$out" '^  reproduce: ')" -eq 4 ]; echo $?) "$out"
line="  reproduce: $vmcisim run $fixtures/some_fail.lua --seed 14 --trace fail-some_fail-14.db"
has "$out" "$line"
check "failing seeds: the reproduce line is a run command with the seed and a trace" $? "$out"
abs_vmcisim=$(cd "$(dirname "$vmcisim")" && pwd)/$(basename "$vmcisim")
abs_fixtures=$(pwd)/$fixtures
command=$(cd "$work" && "$abs_vmcisim" sweep "$abs_fixtures/some_fail.lua" --seeds 20-22 -j 1 \
          2>&1 | grep '^  reproduce: ' | sed 's/^  reproduce: //')
(cd "$work" && eval "$command" > /dev/null 2>&1)
status=$?
check "failing seeds: the reproduce command fails the same way and writes its trace" \
    $([ "$status" -eq 1 ] && [ -s "$work/fail-some_fail-21.db" ]; echo $?) \
    "status $status: $command"
stable() { printf '%s\n' "$1" | grep -vE '^(slowest seeds|wall): '; }
again=$("$vmcisim" sweep "$fixtures/some_fail.lua" --seeds 1-30 -j 1 2>&1)
check "failing seeds: the same report with -j 1 and -j 2 (but for wall times)" \
    $([ "$(stable "$again")" = "$(stable "$out")" ]; echo $?)

# ---- --fail-fast ------------------------------------------------------------------------
out=$("$vmcisim" sweep "$fixtures/some_fail.lua" --seeds 1-1000 -j 1 --fail-fast 2>&1)
status=$?
check "--fail-fast: exit 1" $([ "$status" -eq 1 ]; echo $?) "status $status"
has "$out" "stopped at the first failure (--fail-fast): 993 seeds not run" &&
    [ "$(last_line "$out")" = "seeds: 6 passed, 1 failed" ]
check "--fail-fast with one worker stops after seed 7" $? "$out"
out=$("$vmcisim" sweep "$fixtures/some_fail.lua" --seeds 1-1000 -j 2 --fail-fast 2>&1)
run_count=$(last_line "$out" | awk '{print $2 + $4}')
check "--fail-fast with two workers stops early" \
    $([ "$run_count" -lt 100 ] && has "$out" "seeds not run"; echo $?) "$out"

# ---- --shard ----------------------------------------------------------------------------
: > "$work/union"
for shard in 1 2 3; do
    out=$("$vmcisim" sweep "$fixtures/some_fail.lua" --seeds 1-50 --shard "$shard/3" -j 2 -v \
          2>&1)
    printf '%s\n' "$out" | grep -E '^seed [0-9]+: ' | awk '{print $2}' | tr -d : \
        >> "$work/union"
    if [ "$shard" = 2 ]; then
        seeds=$(printf '%s\n' "$out" | grep -E '^seed [0-9]+: ' | awk '{print $2}' | tr -d : |
                sort -n | head -n 4 | tr '\n' ' ')
        check "--shard 2/3 holds the seeds at positions 1, 4, 7, ... (seeds 2 5 8 11 ...)" \
            $([ "$seeds" = "2 5 8 11 " ]; echo $?) "$seeds"
    fi
done
check "--shard K/3: the three shards together run seeds 1-50, each once" \
    $([ "$(sort -n "$work/union" | tr '\n' ' ')" = "$(seq 1 50 | tr '\n' ' ')" ]; echo $?) \
    "$(sort -n "$work/union" | tr '\n' ' ')"
out=$("$vmcisim" sweep "$fixtures/some_fail.lua" --seeds 1-2 --shard 5/7 2>&1)
status=$?
check "--shard: a shard with no seeds of the list runs nothing and passes" \
    $([ "$status" -eq 0 ] && [ "$(last_line "$out")" = "seeds: 0 passed, 0 failed" ]; echo $?) \
    "status $status: $out"

# ---- a seed after 100 others in one worker ----------------------------------------------
out=$("$vmcisim" sweep "$fixtures/echo_swarm.lua" --seeds 1-101 -j 1 -v 2>&1)
in_worker=$(printf '%s\n' "$out" | grep -E '^seed 101: ' | sed 's/.*digest \([0-9a-f]*\),.*/\1/')
alone=$("$vmcisim" run "$fixtures/echo_swarm.lua" --seed 101 -q --digest | tail -n 1 |
        awk '{print $2}')
check "seed 101's digest after 100 other seeds in one worker is run's digest" \
    $([ -n "$alone" ] && [ "$in_worker" = "$alone" ]; echo $?) "worker $in_worker, run $alone"
first=$(printf '%s\n' "$out" | grep -E '^seed 1: ' | sed 's/.*digest \([0-9a-f]*\),.*/\1/')
alone=$("$vmcisim" run "$fixtures/echo_swarm.lua" --seed 1 -q --digest | tail -n 1 |
        awk '{print $2}')
check "seed 1's digest (the worker's first) is run's digest too" \
    $([ "$first" = "$alone" ]; echo $?) "worker $first, run $alone"
check "every seed of the 101 passed, with its own digest" \
    $([ "$(printf '%s\n' "$out" | grep -E '^seed [0-9]+: pass, digest' | awk '{print $5}' |
           sort -u | wc -l)" -eq 101 ]; echo $?)

# ---- the numbering walks a worker replays ------------------------------------------------
# A worker's first seed records the walks that number the built-in functions, the next
# seeds replay them (sim/lua/sandbox.c): every seed must still log the creation numbers, the
# collector's count and the random draws `vmcisim run` logs (numbering_probe.lua, with
# globals made before its require; tostring_all.lua). Seeds 2-4 are replays.
for probe in "$fixtures/numbering_probe.lua" tests/fixtures/determinism/tostring_all.lua; do
    out=$("$vmcisim" sweep "$probe" --seeds 1-4 -j 1 -v 2>&1)
    differing=""
    for seed in 1 2 3 4; do
        in_worker=$(printf '%s\n' "$out" | grep -E "^seed $seed: " |
                    sed 's/.*digest \([0-9a-f]*\),.*/\1/')
        alone=$("$vmcisim" run "$probe" --seed "$seed" -q --digest | tail -n 1 | awk '{print $2}')
        [ -n "$alone" ] && [ "$in_worker" = "$alone" ] || differing="$differing $seed"
    done
    check "$probe: seeds 1-4 in one worker (2-4 replay the numbering) have run's digests" \
        $([ -z "$differing" ]; echo $?) "differing seeds:$differing"
done

# ---- nothing of one seed is seen by the next in a worker --------------------------------
# leak_probe.lua looks for what an earlier seed wrote into the Lua state's shared parts
# (globals, _G's metatable, the string metatable, library tables, package.loaded, the
# module), writes it all, and sees its own writes: every seed of one worker must pass.
out=$("$vmcisim" sweep "$fixtures/leak_probe.lua" --seeds 1-30 -j 1 -v 2>&1)
status=$?
check "leak_probe: 30 seeds in one worker, none sees an earlier seed's globals or metatables" \
    $([ "$status" -eq 0 ] && [ "$(last_line "$out")" = "seeds: 30 passed, 0 failed" ]; echo $?) \
    "status $status: $(printf '%s\n' "$out" | grep -E 'earlier seed|not ok|fail' | head -n 3)"
in_worker=$(printf '%s\n' "$out" | grep -E '^seed 30: ' | sed 's/.*digest \([0-9a-f]*\),.*/\1/')
alone=$("$vmcisim" run "$fixtures/leak_probe.lua" --seed 30 -q --digest | tail -n 1 |
        awk '{print $2}')
check "leak_probe: seed 30's digest after 29 others in one worker is run's digest" \
    $([ -n "$alone" ] && [ "$in_worker" = "$alone" ]; echo $?) "worker $in_worker, run $alone"

# ---- expect-error, timeouts, progress ---------------------------------------------------
out=$("$vmcisim" sweep "$fixtures/expect_error.lua" --seeds 1-5 -j 2 2>&1)
check "a header's '-- expect-error:' makes the expected error a pass" \
    $([ "$(last_line "$out")" = "seeds: 5 passed, 0 failed" ]; echo $?) "$out"
out=$("$vmcisim" sweep "$fixtures/hang.lua" --seeds 1-6 -j 2 --timeout 1s 2>&1)
status=$?
has "$out" "FAIL seed 3: timed out after 1 s of wall time (worker killed)" &&
    [ "$(last_line "$out")" = "seeds: 5 passed, 1 failed" ] && [ "$status" -eq 1 ]
check "--timeout kills the worker of a seed that runs too long; a new worker takes the rest" \
    $? "status $status: $out"
out=$("$vmcisim" sweep tests/fixtures/runner/suite/until.lua --seeds 1-3 -j 1 2>&1)
check "a header's '-- until:' stops a scenario that never ends, in every seed" \
    $([ "$(last_line "$out")" = "seeds: 3 passed, 0 failed" ]; echo $?) "$out"
out=$("$vmcisim" sweep tests/fixtures/until_blocked.lua --seeds 1 --until 1ms 2>&1)
has "$out" "reproduce: $vmcisim run tests/fixtures/until_blocked.lua --seed 1 --until 1ms --trace"
check "--until reaches the runs and their reproduce lines" $? "$out"
out=$(VMCISIM_SWEEP_ABORT_SEED=4 "$vmcisim" sweep "$fixtures/some_fail.lua" --seeds 1-6 -j 1 \
      2>&1)
status=$?
has "$out" "FAIL seed 4: the worker was killed by signal 6 (Aborted) during this seed" &&
    [ "$(last_line "$out")" = "seeds: 5 passed, 1 failed" ]
check "a worker dying mid-seed (test-only abort hook) fails that seed; a new worker runs the rest" \
    $([ $? -eq 0 ] && [ "$status" -eq 1 ]; echo $?) "status $status: $out"
has "$out" "  reproduce: $vmcisim run $fixtures/some_fail.lua --seed 4 --trace fail-some_fail-4.db"
check "a seed whose worker died has its reproduce line too" $? "$out"
"$vmcisim" sweep "$fixtures/some_fail.lua" --seeds 1-200 -j 1 --progress \
    > "$work/progress.out" 2> "$work/progress.err"
grep -qE '\] [0-9]+/200 seeds, [0-9]+ failed, [0-9]+ seeds/s, ETA' "$work/progress.err"
check "--progress draws the bar on stderr (seeds done, failures, seeds/s, ETA)" $? \
    "$(tr '\r' '\n' < "$work/progress.err" | tail -n 3)"
! grep -q 'ETA' "$work/progress.out"
check "the progress bar never reaches stdout" $?
"$vmcisim" sweep "$fixtures/some_fail.lua" --seeds 1-20 -j 1 > /dev/null 2> "$work/quiet.err"
check "no progress bar when stderr is not a terminal" $([ ! -s "$work/quiet.err" ]; echo $?)

# ---- JUnit ------------------------------------------------------------------------------
"$vmcisim" sweep "$fixtures/some_fail.lua" --seeds 1-30 -j 2 --junit "$work/sweep.xml" \
    > /dev/null 2>&1
result=$(python3 - "$work/sweep.xml" <<'EOF'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "testsuites", root.tag
suites = root.findall("testsuite")
assert len(suites) == 1
suite = suites[0]
assert suite.get("tests") == "30" and suite.get("failures") == "4", suite.attrib
cases = suite.findall("testcase")
assert len(cases) == 30, len(cases)
names = sorted(int(case.get("name").rsplit(" ", 1)[1]) for case in cases)
assert names == list(range(1, 31)), names
failed = [case for case in cases if case.find("failure") is not None]
assert sorted(int(c.get("name").rsplit(" ", 1)[1]) for c in failed) == [7, 14, 21, 28]
for case in failed:
    failure = case.find("failure")
    assert failure.get("message") == "exit 1, expected 0", failure.attrib
    assert "reproduce: " in failure.text and "--seed" in failure.text, failure.text
    assert case.get("classname") and case.get("time") is not None
print("ok")
EOF
)
check "--junit: testsuites/testsuite/testcase/failure with message and reproduce line" \
    $([ "$result" = "ok" ]; echo $?) "$result"
"$vmcisim" sweep "$fixtures/some_fail.lua" --seeds 1-3 --junit /nonexistent/dir/x.xml \
    > /dev/null 2>&1
status=$?
check "an unwritable --junit file fails the sweep (exit 1)" $([ "$status" -eq 1 ]; echo $?) \
    "status $status"

# ---- shards' JUnit files merged (docs/sweeps.md) ----------------------------------------
for shard in 1 2 3; do
    "$vmcisim" sweep "$fixtures/some_fail.lua" --seeds 1-30 --shard "$shard/3" -j 1 \
        --junit "$work/shard-$shard.xml" > /dev/null 2>&1
done
scripts/merge-junit "$work/merged.xml" "$work"/shard-*.xml
status=$?
result=$(python3 - "$work/merged.xml" <<'EOF'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suite = root.find("testsuite")
assert root.tag == "testsuites" and suite is not None
assert root.get("tests") == "30" and suite.get("failures") == "4", suite.attrib
seeds = sorted(int(c.get("name").rsplit(" ", 1)[1]) for c in suite.findall("testcase"))
assert seeds == list(range(1, 31)), seeds
print("ok")
EOF
)
check "scripts/merge-junit: three shards' files make one suite of seeds 1-30, 4 failures" \
    $([ "$status" -eq 0 ] && [ "$result" = "ok" ]; echo $?) "status $status: $result"
echo "not xml" > "$work/bad.xml"
scripts/merge-junit "$work/merged2.xml" "$work/bad.xml" 2>/dev/null
status=$?
check "scripts/merge-junit: an input that is not XML fails (exit 1)" \
    $([ "$status" -eq 1 ]; echo $?) "status $status"

# ---- usage errors -----------------------------------------------------------------------
usage() {
    "$vmcisim" sweep "$@" > /dev/null 2>&1
    local status=$?
    check "usage error: 'vmcisim sweep $*' exits 2" $([ "$status" -eq 2 ]; echo $?) \
        "status $status"
}
usage
usage "$fixtures/some_fail.lua"
usage "$fixtures/some_fail.lua" --seeds 5-1
usage "$fixtures/some_fail.lua" --seeds x
usage "$fixtures/some_fail.lua" --seeds 1-200000000
usage "$fixtures/some_fail.lua" --seeds 1-3 -j 0
usage "$fixtures/some_fail.lua" --seeds 1-3 --shard 0/3
usage "$fixtures/some_fail.lua" --seeds 1-3 --shard 4/3
usage "$fixtures/some_fail.lua" --seeds 1-3 --shard 1/0
usage "$fixtures/some_fail.lua" --seeds 1-3 --shard 1
usage "$fixtures/some_fail.lua" --seeds 1-3 --shard -1/3
usage "$fixtures/some_fail.lua" --seeds 1-3 --timeout banana
usage "$fixtures/some_fail.lua" --seeds 1-3 --until banana
usage "$fixtures/some_fail.lua" --seeds 1-3 --bogus
usage "$fixtures/some_fail.lua" "$fixtures/hang.lua" --seeds 1-3
usage "$fixtures/no-such-file.lua" --seeds 1-3
usage tests/fixtures/runner/suite/bad_header.lua --seeds 1-3
# A seed listed twice ran twice and counted twice ('1-3,2-4' said "4 passed, 2 failed" of
# four seeds, 'FAIL seed 3' twice, and two shards could hold the same seed): refused, naming it.
for list in 1,1 1-3,2-4 2-4,1-3 1-5,3 1-10,10-12; do
    out=$("$vmcisim" sweep "$fixtures/some_fail.lua" --seeds "$list" 2>&1)
    status=$?
    check "sweep --seeds $list: a seed listed twice is a usage error naming it" \
        $([ "$status" -eq 2 ] && has "$out" "--seeds: '$list': seed " &&
          has "$out" " is in the list twice"; echo $?) "status $status: $(printf '%s' "$out" | head -c 200)"
done
# A scenario that is not a regular file is refused at once: /dev/zero (no newline ever) and a
# FIFO with no writer used to hang the header read; a folder failed every seed with exit 3.
special=$(mktemp -d)
mkfifo "$special/fifo.lua"
for path in /dev/zero "$special/fifo.lua" "$special"; do
    out=$(timeout 20 "$vmcisim" sweep "$path" --seeds 1-3 -j 1 2>&1)
    status=$?
    check "sweep $path: a usage error at once, not a hang (exit 2)" \
        $([ "$status" -eq 2 ] && has "$out" "is not a regular file"; echo $?) \
        "status $status: $(printf '%s' "$out" | head -c 200)"
done
# The header read has a bound of its own (TEST_HEADER_BYTES_MAX) for a regular file of one
# endless comment line: the run then reports the file too large to load.
{ printf -- '-- '; head -c 17000000 /dev/zero | tr '\0' 'x'; } > "$special/long.lua"
out=$(timeout 60 "$vmcisim" sweep "$special/long.lua" --seeds 1 -j 1 2>&1)
status=$?
check "sweep of a 17 MB one-line scenario ends (exit 1: the run cannot load it)" \
    $([ "$status" -eq 1 ] && has "$out" "SIMLUA_FILE_BYTES_MAX"; echo $?) \
    "status $status: $(printf '%s' "$out" | head -c 200)"
rm -rf "$special"
out=$("$vmcisim" sweep --help 2>&1)
status=$?
check "vmcisim sweep --help prints its usage (exit 0)" \
    $([ "$status" -eq 0 ] && has "$out" "--shard K/N"; echo $?) "status $status"
out=$("$vmcisim" --help 2>&1)
has "$out" "vmcisim sweep SCENARIO.lua --seeds"
check "vmcisim --help names sweep" $?
