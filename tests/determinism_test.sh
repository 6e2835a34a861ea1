#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/determinism_test.sh: the determinism check.
#  1. Every tests/fixtures/determinism/*.lua (adversarial Lua: reference keys, weak tables,
#     collector timing, many coroutines...) runs under the two process conditions of
#     tests/determinism_lib.sh (address-space randomisation on and off, different
#     environment and argv sizes) and must print the same output, digest and exit status.
#     Fixtures need not pass: only agreement is checked.
#  2. The normal and the sanitizer build give the same digest on every scenario under
#     scenarios/ and every fixture above: under `make asan` (VMCISIM is build/asan/vmcisim)
#     always, and the normal build must exist; under `make test` when build/asan/vmcisim
#     exists and no source file is newer than it (a stale sanitizer build is skipped, and
#     the skip is printed).
# scenarios_test.sh does part 1 for scenarios/.
set -u
vmcisim=${VMCISIM:-./vmcisim}
. tests/determinism_lib.sh

check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1${3:+: $3}"; fi; }

detcheck_describe "$vmcisim"
fixtures=0
for file in tests/fixtures/determinism/*.lua; do
    [ -e "$file" ] || continue
    fixtures=$((fixtures + 1))
    first=$(detcheck_run_a run "$file" -q --digest 2>&1)
    first_status=$?
    second=$(detcheck_run_b run "$file" -q --digest 2>&1)
    second_status=$?
    case "$first" in *"digest "[0-9a-f]*) true ;; *) false ;; esac
    check "$file prints a digest" $? "$(printf '%s' "$first" | head -c 300)"
    [ "$first" = "$second" ] && [ "$first_status" = "$second_status" ]
    check "$file: same output, digest and exit status in both conditions" $? \
        "A (status $first_status): $(printf '%s' "$first" | tail -n 1) / B (status \
$second_status): $(printf '%s' "$second" | tail -n 1)"
done
[ "$fixtures" -gt 0 ]
check "tests/fixtures/determinism/ holds fixtures ($fixtures)" $?

# ---- normal build against sanitizer build -------------------------------------------------
normal=build/vmcisim
sanitized=build/asan/vmcisim
case "$vmcisim" in *asan*) required=yes ;; *) required=no ;; esac
newer_source() {   # newer_source BINARY: the first source file newer than BINARY, if any
    find sim vmci vsock -name '*.[ch]' -newer "$1" 2>/dev/null | head -n 1
}
reason=""
if [ ! -x "$normal" ] || [ ! -x "$sanitized" ]; then
    reason="$normal or $sanitized is not built"
elif [ -n "$(newer_source "$sanitized")" ]; then
    reason="$(newer_source "$sanitized") is newer than $sanitized"
elif [ -n "$(newer_source "$normal")" ]; then
    reason="$(newer_source "$normal") is newer than $normal"
fi
if [ -n "$reason" ]; then
    if [ "$required" = yes ]; then
        check "the normal and the sanitizer build can be compared" 1 "$reason"
    else
        echo "# normal vs sanitizer build: skipped ($reason); make asan compares them"
    fi
else
    compared=0
    differing=""
    while IFS= read -r file; do
        a=$("$normal" run "$file" -q --digest 2>/dev/null | tail -n 1)
        b=$("$sanitized" run "$file" -q --digest 2>/dev/null | tail -n 1)
        compared=$((compared + 1))
        case "$a" in
            "digest "[0-9a-f]*) ;;
            *) differing="$differing $file(no digest)"; continue ;;
        esac
        [ "$a" = "$b" ] || differing="$differing $file"
    done < <(find scenarios tests/fixtures/determinism -name '*.lua' -type f | LC_ALL=C sort)
    [ "$compared" -gt 0 ] && [ -z "$differing" ]
    check "normal and sanitizer builds: the same digest on all $compared scenarios and fixtures" \
        $? "differ:$differing"
fi
