#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/fuzz_replay_test.sh: every fuzz target's checked-in corpus (tests/fuzz/corpus/<target>/,
# crash reproducers included) passes through the target once more, built with the normal
# compiler and tests/fuzz/replay_main.c instead of libFuzzer (docs/fuzzing.md). The replay
# drivers sit beside the vmcisim under test ($(BUILD)/fuzz/replay_<target>, so `make asan`
# replays under the sanitizers), else in build/fuzz/. Reproducers of bugs not fixed yet wait
# in tests/fuzz/pending/<target>/: they are run too, and one that passes now is reported
# (a note, not a failure) so it can move to the corpus. The self-tests show that the guest and
# peer targets' own checks can fail (tests/fuzz/self-test/).
set -u
vmcisim=${VMCISIM:-./vmcisim}
drivers="$(dirname "$vmcisim")/fuzz"
[ -x "$drivers/replay_guest" ] || drivers=build/fuzz
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1${3:+: $3}"; fi; }

for target in guest peer trace lua; do
    driver="$drivers/replay_$target"
    corpus="tests/fuzz/corpus/$target"
    files=$(find "$corpus" -maxdepth 1 -type f ! -name '.*' 2>/dev/null | wc -l)
    if [ ! -x "$driver" ]; then
        check "fuzz $target: replay driver built" 1 "$driver missing (make fuzz-replays)"
        continue
    fi
    "$driver" "$corpus" >"$work/$target.log" 2>&1
    status=$?
    summary=$(grep -E '^replay: [0-9]+ inputs$' "$work/$target.log")
    [ "$status" -eq 0 ] && [ "$files" -gt 0 ] && [ "$summary" = "replay: $files inputs" ]
    ok=$?
    if [ "$ok" -ne 0 ]; then
        tail -n 5 "$work/$target.log" | sed 's/^/# /'
    fi
    check "fuzz $target: the $files inputs of $corpus replay without a failure" "$ok" \
        "status $status, ${summary:-no summary}"

    for input in tests/fuzz/pending/"$target"/*; do
        [ -f "$input" ] || continue
        if ( "$driver" "$input" >/dev/null 2>&1; rc=$?; exit $rc ) 2>/dev/null; then
            echo "# pending reproducer $input passes now: move it to $corpus"
        fi
    done
done

# The targets' own checks can fail: with VMCISIM_FUZZ_SELF_TEST set, the guest target drives
# A's device instead of H's (resetting it mid-transfer must be seen as a disturbed transfer)
# and the peer target leaves the listeners open (they must be seen as sockets left).
self_test() {
    local target=$1 input=$2 expected=$3
    ( VMCISIM_FUZZ_SELF_TEST=1 "$drivers/replay_$target" "$input" >"$work/self.log" 2>&1
      rc=$?; exit $rc ) 2>/dev/null
    local status=$?
    [ "$status" -ne 0 ] && grep -q "$expected" "$work/self.log"
    check "fuzz $target: a broken invariant aborts the target ($expected)" $? "status $status"
    "$drivers/replay_$target" "$input" >/dev/null 2>&1
    check "fuzz $target: the same input passes without the self-test switch" $?
}
self_test guest tests/fuzz/self-test/guest-resets-its-device-mid-transfer \
    "fuzz: guest: A's transfer disturbed"
self_test peer tests/fuzz/self-test/peer-no-operations "fuzz: peer: after closing everything"

# An input's run does not depend on the inputs before it in the same process (the lua target
# keeps its numbering walks from one input to the next): with VMCISIM_FUZZ_PRINT each target
# prints an outcome line with its run's trace digest, and input A run alone, then A, B, A in
# one process give the same line for A every time; B's differs, so the order was seen.
same_after_others() {
    local target=$1 pattern=$2 corpus="tests/fuzz/corpus/$1"
    local a b
    a=$(find "$corpus" -maxdepth 1 -type f ! -name '.*' | LC_ALL=C sort | head -n 1)
    b=$(find "$corpus" -maxdepth 1 -type f ! -name '.*' | LC_ALL=C sort | tail -n 1)
    VMCISIM_FUZZ_PRINT=1 "$drivers/replay_$target" "$a" 2>&1 | grep -E "$pattern" >"$work/alone"
    VMCISIM_FUZZ_PRINT=1 "$drivers/replay_$target" "$a" "$b" "$a" 2>&1 |
        grep -E "$pattern" >"$work/aba"
    local alone first second third
    alone=$(cat "$work/alone")
    first=$(sed -n 1p "$work/aba")
    second=$(sed -n 2p "$work/aba")
    third=$(sed -n 3p "$work/aba")
    [ "$(wc -l <"$work/alone")" -eq 1 ] && [ "$(wc -l <"$work/aba")" -eq 3 ] &&
        [ "$first" = "$alone" ] && [ "$third" = "$alone" ] && [ "$second" != "$alone" ] &&
        grep -qE 'digest [0-9a-f]{32}' "$work/alone"
    check "fuzz $target: an input runs the same alone and after another ($(basename "$a"))" $? \
        "alone '$alone'; A, B, A: '$first' / '$second' / '$third'"
}
same_after_others guest '^guest: '
same_after_others peer '^peer: outcome: '
same_after_others lua '^lua: outcome: '

# Every entry of the coverage ignorelist still names something in the sources: a src: file
# that exists, a fun: name (or pattern) that a top-level definition or declaration has. A
# function renamed without its entry silently gets its coverage tracing back (sim.pattern's
# fill did once, in every build from session 8 to session 10).
ignorelist=tests/fuzz/coverage-ignorelist.txt
stale=""
while read -r entry; do
    case $entry in
    src:*) [ -f "${entry#src:}" ] || stale="$stale $entry" ;;
    fun:*)
        regex=${entry#fun:}
        regex=${regex//\*/[A-Za-z0-9_]*}
        grep -rqE "^[A-Za-z_][^;=]*[ *]${regex}\(" --include='*.c' --include='*.h' \
            sim vmci vsock tests/fuzz || stale="$stale $entry"
        ;;
    esac
done < <(grep -E '^(src|fun):' "$ignorelist")
[ -z "$stale" ] && [ "$(grep -cE '^(src|fun):' "$ignorelist")" -gt 0 ]
check "fuzz: every entry of $ignorelist names a file or function of the sources" $? \
    "stale:$stale"

# The driver itself: a missing input is an error, not an empty success.
"$drivers/replay_guest" "$work/missing" >/dev/null 2>&1
[ $? -eq 1 ]
check "fuzz replay driver: a missing input path fails (status 1)" $?
