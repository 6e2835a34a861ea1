#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/test_runner_test.sh: `vmcisim test`, the regression-suite runner, on the fixtures of
# tests/fixtures/runner/: passing, failing, expect-exit, expect-error (present and missing),
# seeds, slow, until, a malformed header (suite/); a wall-time timeout (timeout/); a run
# whose digest differs between the two process conditions (flaky/, through the test-only
# VMCISIM_TEST_EXEC hook and fake_runner.sh); failure text that XML must escape (escape/);
# an empty folder (empty/); directives given twice (twice/). Checks the plain and TAP
# reports, the reproduction lines (and runs one), the exit statuses, the JUnit XML as CI
# reporters read it (python3's parser), and the conditions each run is given.
set -u
vmcisim=${VMCISIM:-./vmcisim}
fixtures=tests/fixtures/runner
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1${3:+: $3}"; fi; }
has() { [ $# -eq 2 ] || { echo "has: two arguments, not $#" >&2; return 2; }   # has TEXT NEEDLE
        printf '%s\n' "$1" | grep -qF -- "$2"; }
count() { printf '%s\n' "$1" | grep -cE -- "$2"; }  # count TEXT REGEX

# ---- the suite, plain report ------------------------------------------------------------
out=$("$vmcisim" test "$fixtures/suite" -j 3 2>&1)
status=$?
check "suite: exit 1 when a case fails" $([ "$status" -eq 1 ]; echo $?) "status $status"
last=$(printf '%s\n' "$out" | tail -n 1)
check "suite: the last line counts 6 passed, 4 failed" \
    $([ "$last" = "tests: 6 passed, 4 failed" ]; echo $?) "$last"
for name in pass.lua expect_exit.lua expect_error.lua until.lua; do
    has "$out" "PASS $fixtures/suite/$name seed 1"
    check "suite: $name passes" $? "$out"
done
has "$out" "FAIL $fixtures/suite/fail.lua seed 1: exit 1, expected 0"
check "suite: a failed expectation fails with its exit status" $? "$out"
has "$out" "arithmetic is broken on purpose"
check "suite: a failure shows the run's stderr" $? "$out"
has "$out" "FAIL $fixtures/suite/expect_error_missing.lua seed 1: the expected error text\
 'ETIMEDOUT' is not in the output"
check "suite: expect-error fails when the text is missing" $? "$out"
has "$out" "FAIL $fixtures/suite/bad_header.lua seed 1: header line 2: '-- expect: banana'"
check "suite: a malformed header directive fails that scenario, naming the line" $? "$out"
has "$out" "PASS $fixtures/suite/seeds.lua seed 1" &&
    has "$out" "FAIL $fixtures/suite/seeds.lua seed 2: exit 1, expected 0" &&
    has "$out" "PASS $fixtures/suite/seeds.lua seed 3"
check "suite: '-- seeds: 1-3' runs three seeds and names the failing one" $? "$out"
has "$out" "SKIP $fixtures/suite/slow.lua: slow (--slow runs it)" &&
    ! has "$out" "the slow fixture ran"
check "suite: a slow scenario is skipped without --slow" $? "$out"
fails=$(count "$out" '^FAIL ')
reproduces=$(count "$out" '^  reproduce: ')
check "suite: one reproduce line per failure ($fails failures)" \
    $([ "$fails" -eq 4 ] && [ "$reproduces" -eq 4 ]; echo $?) "$reproduces reproduce lines"
has "$out" "  reproduce: $vmcisim run $fixtures/suite/seeds.lua --seed 2 --trace fail-seeds-2.db"
check "suite: the reproduce line is a run command with the seed and a trace" $? "$out"
paranoid=$("$vmcisim" test "$fixtures/suite/seeds.lua" "$fixtures/suite/pass.lua" --paranoid \
           -j 2 2>&1)
has "$paranoid" "  reproduce: $vmcisim run $fixtures/suite/seeds.lua --seed 2 --paranoid --trace" &&
    has "$paranoid" "PASS $fixtures/suite/pass.lua seed 1" &&
    [ "$(printf '%s\n' "$paranoid" | tail -n 1)" = "tests: 3 passed, 1 failed" ]
check "--paranoid: the runs pass as without it and a failure reproduces with --paranoid" $? \
    "$paranoid"
paths=$(printf '%s\n' "$out" | grep -E '^(PASS|FAIL|SKIP) ' | awk '{print $2}' | tr -d :)
printf '%s\n' "$paths" | LC_ALL=C sort -c 2>/dev/null
check "suite: cases are reported in sorted path order" $? "$paths"
again=$("$vmcisim" test "$fixtures/suite" -j 1 2>&1)
check "suite: the report is the same with -j 1 and -j 3" $([ "$again" = "$out" ]; echo $?)

# ---- running the reproduction line ------------------------------------------------------
line=$(printf '%s\n' "$out" | grep -F "reproduce: $vmcisim run $fixtures/suite/seeds.lua" |
       sed 's/^  reproduce: //')
top=$(pwd)
(cd "$work" && eval "$(printf '%s' "$line" | sed "s|^$vmcisim|\"$top/$vmcisim\"|; \
    s| $fixtures/| $top/$fixtures/|")" >/dev/null 2>&1)
status=$?
check "the reproduction command fails the same way (exit 1) and writes its trace" \
    $([ "$status" -eq 1 ] && [ -s "$work/fail-seeds-2.db" ]; echo $?) "status $status: $line"

# ---- options ----------------------------------------------------------------------------
out=$("$vmcisim" test "$fixtures/suite/slow.lua" --slow 2>&1)
has "$out" "the slow fixture ran" && has "$out" "tests: 0 passed, 1 failed"
check "--slow runs a slow scenario" $? "$out"
out=$("$vmcisim" test "$fixtures/suite/seeds.lua" --seeds 1 2>&1)
check "--seeds replaces the header's seeds" $([ "$(count "$out" '^(PASS|FAIL) ')" -eq 1 ] &&
    has "$out" "tests: 1 passed, 0 failed"; echo $?) "$out"
out=$("$vmcisim" test "$fixtures/suite/seeds.lua" --seeds 2,3 --once 2>&1)
has "$out" "seeds.lua seed 2:" && has "$out" "PASS $fixtures/suite/seeds.lua seed 3" &&
    has "$out" "tests: 1 passed, 1 failed"
check "--seeds takes a list" $? "$out"
out=$("$vmcisim" test "$fixtures/timeout/forever.lua" --until 10us 2>&1)
status=$?
check "--until stops a scenario that never ends (no header until)" \
    $([ "$status" -eq 0 ]; echo $?) "status $status: $out"
out=$("$vmcisim" test "$fixtures/timeout" 2>&1)
status=$?
has "$out" "FAIL $fixtures/timeout/forever.lua seed 1: timed out after 1 s of wall time (killed)"
check "'-- timeout: 1s' kills a run that does not end and fails it" \
    $([ $? -eq 0 ] && [ "$status" -eq 1 ]; echo $?) "status $status: $out"
out=$("$vmcisim" test "$fixtures/timeout" --timeout 600s 2>&1)
has "$out" "forever.lua seed 1: timed out after 1 s of wall time (killed)"
check "'-- timeout:' in the header wins over --timeout" $? "$out"
mkdir -p "$work/headerless"
grep -v '^-- timeout:' "$fixtures/timeout/forever.lua" > "$work/headerless/forever.lua"
out=$("$vmcisim" test "$work/headerless" --timeout 500ms --once 2>&1)
has "$out" "forever.lua seed 1: timed out after 0.5 s of wall time (killed)"
check "--timeout limits a scenario without '-- timeout:'" $? "$out"
mkdir -p "$work/loud"
cat > "$work/loud/loud.lua" <<'LUA'
-- prints 40 000 bytes on stdout, then fails
for _ = 1, 400 do print(string.rep("z", 99)) end
error("loud failure")
LUA
out=$("$vmcisim" test "$work/loud" --once 2>&1)
has "$out" "loud failure" && has "$out" "more bytes not shown" &&
    [ "$(count "$out" 'zzzz')" -lt 200 ]
check "a run's output is shown up to its bound, and the cut is said" $? \
    "$(printf '%s' "$out" | grep -v zzzz)"
"$vmcisim" test "$fixtures/suite/pass.lua" --junit "$work/no-such-folder/j.xml" >/dev/null 2>&1
status=$?
check "an unwritable --junit file fails the run (exit 1)" $([ "$status" -eq 1 ]; echo $?) \
    "status $status"
for bad in "--seeds 5-1" "--seeds x" "-j 0" "--timeout banana" "--bogus" \
           "$fixtures/no-such-file.lua" /dev/null; do
    # shellcheck disable=SC2086
    "$vmcisim" test $bad >/dev/null 2>&1
    status=$?
    check "usage error: 'vmcisim test $bad' exits 2" $([ "$status" -eq 2 ]; echo $?) \
        "status $status"
done
# A seed listed twice ran twice and was counted twice: refused in --seeds (usage error) and in
# a '-- seeds:' header (that scenario fails naming its line).
out=$("$vmcisim" test "$fixtures/suite/pass.lua" --seeds 1-3,3 --once 2>&1)
status=$?
check "usage error: 'vmcisim test --seeds 1-3,3' names the seed listed twice (exit 2)" \
    $([ "$status" -eq 2 ] && has "$out" "'1-3,3': seed 3 is in the list twice"; echo $?) \
    "status $status: $(printf '%s' "$out" | head -c 200)"
mkdir -p "$work/overlap"
printf '%s\n' '-- seeds: 1-2,2-3' 'local sim = require("vmcisim"); sim.world{}' \
    > "$work/overlap/overlap.lua"
out=$("$vmcisim" test "$work/overlap" --once 2>&1)
status=$?
check "a '-- seeds:' header listing a seed twice fails the scenario once, naming the seed" \
    $([ "$status" -eq 1 ] && has "$out" "header line 1: " && has "$out" "seed 2 is in the list twice" &&
      [ "$(printf '%s\n' "$out" | tail -n 1)" = "tests: 0 passed, 1 failed" ]; echo $?) "status $status: $out"
out=$("$vmcisim" test --help)
check "vmcisim test --help prints its usage (exit 0)" \
    $([ $? -eq 0 ] && has "$out" "usage: vmcisim test"; echo $?)
out=$("$vmcisim" test "$fixtures/empty" 2>&1)
status=$?
has "$out" "no scenarios found" && has "$out" "tests: 0 passed, 0 failed"
check "a folder without scenarios fails (exit 1)" $([ $? -eq 0 ] && [ "$status" -eq 1 ]; echo $?) \
    "status $status: $out"

# A scenario named twice, by two PATHS (a folder and a file in it, the same file twice, or
# './x.lua' and 'x.lua'), ran twice and was counted twice; it runs once, where it is first met.
out=$("$vmcisim" test "$fixtures/suite/pass.lua" "$fixtures/suite" "./$fixtures/suite/pass.lua" \
      "$fixtures/suite/pass.lua" --once 2>&1)
check "a scenario given by several PATHS runs once" \
    $([ "$(count "$out" "pass\.lua seed 1$")" -eq 1 ] &&
      [ "$(count "$out" '^(PASS|FAIL|SKIP) ')" -eq 11 ] &&
      [ "$(printf '%s\n' "$out" | head -n 1)" = "PASS $fixtures/suite/pass.lua seed 1" ]; echo $?) \
    "$out"

# ---- TAP ----------------------------------------------------------------------------------
out=$("$vmcisim" test "$fixtures/suite" --tap 2>&1)
first_two=$(printf '%s\n' "$out" | head -n 2 | tr '\n' ' ')
check "--tap: version and plan lines" $([ "$first_two" = "TAP version 13 1..11 " ]; echo $?) \
    "$first_two"
check "--tap: 11 numbered test lines, 4 of them not ok" \
    $([ "$(count "$out" '^(not )?ok [0-9]+ - ')" -eq 11 ] &&
      [ "$(count "$out" '^not ok [0-9]+ - ')" -eq 4 ]; echo $?) "$out"
has "$out" "ok 10 - $fixtures/suite/slow.lua # SKIP slow" &&
    has "$out" "# reproduce: $vmcisim run $fixtures/suite/fail.lua --seed 1"
check "--tap: SKIP directive and reproduce comments" $? "$out"

# A '#' in a scenario's path began a TAP directive ('not ok 2 - b # SKIP me.lua seed 1' is a
# skipped test to a TAP reader, a failure hidden), and a newline in it started a line of its
# own ('not ok 9 - ...' out of sequence, the plan broken). The description escapes '\', '#',
# newline and carriage return (TAP 14's '\#', '\\'), and every comment line starts with '# '.
mkdir -p "$work/tapnames"
fail_lua='local sim = require("vmcisim"); sim.expect(false, "fails on purpose")'
printf '%s\n' "$fail_lua" > "$work/tapnames/b # SKIP me.lua"
printf '%s\n' "$fail_lua" > "$work/tapnames/c\\d # TODO.lua"
printf '%s\n' "$fail_lua" > "$work/tapnames/$(printf 'e\nnot ok 9 - x').lua"
printf '%s\n' 'local sim = require("vmcisim"); sim.world{}' > "$work/tapnames/f#.lua"
"$vmcisim" test "$work/tapnames" --tap --once > "$work/tapnames.tap" 2>&1
status=$?
verdict=$(python3 - "$work/tapnames.tap" <<'EOF' 2>&1
import re, sys
lines = open(sys.argv[1], encoding="utf-8", errors="replace").read().split("\n")
assert lines[-1] == "", "no final newline"
lines = lines[:-1]
assert lines[0] == "TAP version 13" and lines[1] == "1..4", lines[:2]
tests, numbers = [], []
for line in lines[2:-1]:
    if line.startswith("#"):
        continue
    match = re.match(r"(not ok|ok) (\d+) - (.*)$", line)
    assert match, "not a TAP line: %r" % line
    numbers.append(int(match.group(2)))
    # an unescaped '#' would begin a directive (SKIP, TODO)
    assert re.search(r"(?<!\\)(\\\\)*#", match.group(3)) is None, "directive in %r" % line
    tests.append(match.group(1))
assert lines[-1].startswith("tests: "), lines[-1]
assert numbers == [1, 2, 3, 4], numbers
assert tests.count("not ok") == 3 and tests.count("ok") == 1, tests
print("valid")
EOF
)
check "--tap: '#', '\\' and newlines in paths keep the TAP valid (4 tests, 3 not ok, no directive)" \
    $([ "$status" -eq 1 ] && [ "$verdict" = valid ]; echo $?) \
    "status $status: $verdict: $(head -c 1500 "$work/tapnames.tap")"
has "$(cat "$work/tapnames.tap")" "not ok 1 - $work/tapnames/b \\# SKIP me.lua seed 1: exit 1"
check "--tap: a '#' in a path is written '\\#'" $? "$(head -c 600 "$work/tapnames.tap")"

# ---- JUnit --------------------------------------------------------------------------------
"$vmcisim" test "$fixtures/suite" "$fixtures/escape" --junit "$work/junit.xml" >/dev/null 2>&1
junit=$(python3 - "$work/junit.xml" <<'EOF' 2>&1
import sys
import xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "testsuites", root.tag
suites = root.findall("testsuite")
assert len(suites) == 1, suites
suite = suites[0]
cases = suite.findall("testcase")
assert suite.get("tests") == "12" == str(len(cases)), (suite.attrib, len(cases))
assert suite.get("failures") == "5" and suite.get("skipped") == "1", suite.attrib
assert root.get("tests") == "12" and root.get("failures") == "5", root.attrib
failed = [c for c in cases if c.find("failure") is not None]
assert len(failed) == 5, len(failed)
for case in cases:
    assert case.get("name") and case.get("classname") and case.get("file"), case.attrib
    float(case.get("time"))
for case in failed:
    failure = case.find("failure")
    assert failure.get("message"), case.attrib
    assert "reproduce: " in failure.text, failure.text
    assert " run " + case.get("file") in failure.text, failure.text
skipped = [c for c in cases if c.find("skipped") is not None]
assert len(skipped) == 1 and skipped[0].get("file").endswith("slow.lua"), skipped
markup = [c for c in failed if c.get("file").endswith("markup.lua")][0].find("failure").text
assert "<b>&amp;</b> \"quoted\" 'single'" in markup and "\ufffd" in markup, markup
print("junit ok")
EOF
)
check "--junit: testsuites/testsuite/testcase/failure/skipped as reporters read them, escaped" \
    $([ "$junit" = "junit ok" ]; echo $?) "$junit"

# ---- the two process conditions and digest stability ------------------------------------
mkdir -p "$work/flaky"
cp "$fixtures/flaky/unstable.lua" "$work/flaky/unstable.lua"
fake=$(pwd)/$fixtures/fake_runner.sh
out=$(VMCISIM_TEST_EXEC=$fake "$vmcisim" test "$work/flaky" 2>&1)
status=$?
has "$out" "FAIL $work/flaky/unstable.lua seed 1: not reproducible: run B (other process" &&
    has "$out" "run A: digest 00000000000000000000000000000a0a" &&
    has "$out" "run B: digest 00000000000000000000000000000b0b" &&
    has "$out" "reproduce: $vmcisim test $work/flaky/unstable.lua --seeds 1"
check "a digest that differs between the two conditions fails the case (exit 1)" \
    $([ $? -eq 0 ] && [ "$status" -eq 1 ]; echo $?) "status $status: $out"
conditions=$(cat "$work/flaky/unstable.lua.conditions" 2>/dev/null)
run_a=$(printf '%s\n' "$conditions" | grep -v 'pad=yes')
run_b=$(printf '%s\n' "$conditions" | grep 'pad=yes')
has "$run_a" "args=run $work/flaky/unstable.lua --seed 1 -q --digest pad= " &&
    [ "$(printf '%s\n' "$run_a" | sed 's/.* env=\([0-9]*\) .*/\1/')" -le 4 ]
check "run A: the run command, and an environment of PATH and sanitizer options only" $? \
    "$conditions"
has "$run_b" "args=run $work/flaky/unstable.lua --seed 1 -q --digest pad=yes"
check "run B: the same command with the padded environment" $? "$conditions"
if setarch -R true >/dev/null 2>&1; then
    persona_a=$(printf '%s\n' "$run_a" | sed 's/.*personality=//')
    persona_b=$(printf '%s\n' "$run_b" | sed 's/.*personality=//')
    [ $(( 0x$persona_b & 0x0040000 )) -ne 0 ] && [ $(( 0x$persona_a & 0x0040000 )) -eq 0 ]
    check "run B has address-space randomisation off (ADDR_NO_RANDOMIZE), run A not" $? \
        "A $persona_a, B $persona_b"
else
    echo "# setarch -R is refused here: run B keeps randomisation (not checked)"
fi
rm -f "$work/flaky/unstable.lua.conditions"
out=$(VMCISIM_TEST_EXEC=$fake "$vmcisim" test "$work/flaky" --once 2>&1)
check "--once runs a case once: no comparison" \
    $([ $? -eq 0 ] && [ "$(wc -l < "$work/flaky/unstable.lua.conditions")" -eq 1 ]; echo $?) \
    "$out"

# ---- a directive that takes one value, given twice (twice/) -----------------------------
# The second used to replace the first silently: `-- expect: exit 1` then `-- expect: exit 0`
# passed a run that exits 0. Now each such scenario fails, naming the line.
out=$("$vmcisim" test "$fixtures/twice" 2>&1)
status=$?
check "twice: exit 1" $([ "$status" -eq 1 ]; echo $?) "status $status"
for key in expect seeds timeout until; do
    has "$out" "FAIL $fixtures/twice/${key}_twice.lua seed 1: header line 4: a second\
 '-- $key:' directive (one per scenario)"
    check "twice: a second '-- $key:' fails the scenario, naming the line" $? "$out"
done

# ---- a header duration too long, or written with more characters than it needs ---------
# `-- until:` and `-- timeout:` said "is not a duration" of a duration longer than the
# longest, where run --until says it is too long; and a valid duration written in more
# characters than the runner kept (leading zeros) was refused although run --until takes it.
mkdir -p "$work/durations"
write_case() {   # write_case NAME HEADER
    printf '%s\n%s\n' "$2" 'local sim = require("vmcisim"); sim.world{}' \
        > "$work/durations/$1.lua"
}
write_case until_long '-- until: 99999999999s'
write_case timeout_long '-- timeout: 99999999999s'
write_case until_zeros '-- until: 000000000000000000000000000000000005s'
out=$("$vmcisim" test "$work/durations" --once 2>&1)
for key in until timeout; do
    has "$out" "FAIL $work/durations/${key}_long.lua seed 1: header line 1: '-- $key:\
 99999999999s' is longer than the longest duration (18446744073.709551614 s)"
    check "a '-- $key:' beyond the longest duration is said to be too long" $? "$out"
done
has "$out" "PASS $work/durations/until_zeros.lua seed 1"
check "a '-- until:' written with leading zeros is taken, as run --until takes it" $? "$out"
out=$("$vmcisim" sweep "$work/durations/until_long.lua" --seeds 1-2 2>&1)
has "$out" "'-- until: 99999999999s' is longer than the longest duration"
check "sweep: a '-- until:' beyond the longest duration is said to be too long" $? "$out"

# A zero --timeout (or '-- timeout: 0s') was called 'not a duration' and a too long one
# too, where --until says it is too long: each is now said for what it is.
for command in test sweep; do
    out=$("$vmcisim" $command "$fixtures/suite/pass.lua" --seeds 1 --timeout 0s 2>&1)
    status=$?
    check "$command --timeout 0s: a usage error saying a timeout is longer than 0" \
        $([ "$status" -eq 2 ] && has "$out" "--timeout: '0s' is 0: a run's wall time must be longer than 0 (e.g. 30s)"; echo $?) \
        "status $status: $(printf '%s' "$out" | head -n 1)"
    out=$("$vmcisim" $command "$fixtures/suite/pass.lua" --seeds 1 --timeout 99999999999s 2>&1)
    status=$?
    check "$command --timeout 99999999999s: a usage error saying it is too long" \
        $([ "$status" -eq 2 ] && has "$out" "--timeout: '99999999999s' is longer than the longest duration (18446744073.709551614 s)"; echo $?) \
        "status $status: $(printf '%s' "$out" | head -n 1)"
done
write_case timeout_zero '-- timeout: 0s'
out=$("$vmcisim" test "$work/durations/timeout_zero.lua" --once 2>&1)
has "$out" "header line 1: '-- timeout: 0s' is 0: a run's wall time must be longer than 0 (e.g. 30s)"
check "a '-- timeout: 0s' header says the timeout must be longer than 0" $? "$out"

# ---- a directive misspelled: case, a space before the colon, '_' for '-', 'seed' --------
# `-- SEEDS: 1-3` and `-- seeds : 1-3` were ignored as plain comments, so the scenario ran
# with seed 1 only and passed. A comment line of the form `-- WORD:` whose WORD is a
# directive's name in other letters is refused naming the line; prose is not.
mkdir -p "$work/typos"
typo_case() {   # typo_case NAME HEADER-LINE
    printf '%s\n%s\n%s\n' '-- a scenario with a misspelled directive' "$2" \
        'local sim = require("vmcisim"); sim.world{}' > "$work/typos/$1.lua"
}
typo_case upper '-- SEEDS: 1-3'
typo_case space '-- seeds : 1-3'
typo_case mixed '-- Expect: exit 1'
typo_case underscore '-- expect_error: boom'
typo_case singular '-- seed: 1-3'
typo_case until_upper '--UNTIL: 5s'
typo_case timeout_space '-- timeout  :30s'
typo_case slow_upper '-- Slow'
out=$("$vmcisim" test "$work/typos" --once 2>&1)
status=$?
check "typos: exit 1" $([ "$status" -eq 1 ]; echo $?) "status $status"
for entry in "upper:SEEDS:seeds" "space:seeds :seeds" "mixed:Expect:expect" \
             "underscore:expect_error:expect-error" "singular:seed:seeds" \
             "until_upper:UNTIL:until" "timeout_space:timeout  :timeout" "slow_upper:Slow:slow"; do
    name=${entry%%:*}; rest=${entry#*:}; given=${rest%:*}; key=${rest##*:}
    has "$out" "FAIL $work/typos/$name.lua seed 1: header line 2: '-- $given' is not a\
 directive: write '-- $key"
    check "typos: '-- $given' fails the scenario, naming the line and '-- $key'" $? "$out"
done
out=$("$vmcisim" sweep "$work/typos/upper.lua" --seeds 1-2 2>&1)
has "$out" "header line 2: '-- SEEDS' is not a directive: write '-- seeds"
check "sweep: a misspelled directive is refused too" $? "$out"
# Prose is not a directive: a sentence, a word that is no directive's name before the colon,
# a directive's name not followed by a colon, a header-like line after the code begins.
mkdir -p "$work/prose"
printf '%s\n' '-- Seeds are 1 to 3: see below.' '-- Note: seeds are 1 to 3.' \
    '-- Expectations: none' '-- TODO: until then' '-- Slow networks are simulated here.' \
    'local sim = require("vmcisim"); sim.world{}' '-- SEEDS: after the code' \
    > "$work/prose/prose.lua"
out=$("$vmcisim" test "$work/prose" --once 2>&1)
has "$out" "PASS $work/prose/prose.lua seed 1"
check "prose comment lines (and a header-like line after the code) are not refused" $? "$out"

# ---- the header after a "#!" line or a byte-order mark ----------------------------------
# The run skips both (as `lua` does), so the header below them is the scenario's header.
mkdir -p "$work/shebang"
printf '#!/usr/bin/env vmcisim\n-- expect: exit 1\n%s\n' \
    'local sim = require("vmcisim"); sim.world{}; sim.expect(false, "fails on purpose")' \
    > "$work/shebang/hash_bang.lua"
printf '\357\273\277-- expect: exit 1\n%s\n' \
    'local sim = require("vmcisim"); sim.world{}; sim.expect(false, "fails on purpose")' \
    > "$work/shebang/byte_order_mark.lua"
out=$("$vmcisim" test "$work/shebang" --once 2>&1)
has "$out" "PASS $work/shebang/hash_bang.lua seed 1" &&
    has "$out" "PASS $work/shebang/byte_order_mark.lua seed 1"
check "a header after a #! line or a byte-order mark is read" $? "$out"
