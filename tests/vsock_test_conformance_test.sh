#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/vsock_test_conformance_test.sh: Linux's own vsock_test, unmodified, as a conformance
# table (scenarios/vsock_test.lua; docs/conformance-vsock_test.md, "Linux's vsock_test,
# unmodified").
#
# Builds vsock_test through the cached `make vsock-test` (a no-op once built; the first build
# unpacks tools/testing/vsock from /usr/src/linux-source-6.1.tar.xz), then runs the scenario in
# both layouts (server in the guest and client on the host; then the roles swapped), twice each:
# exit 0 (every case as the scenario's table expects), the same output and digest both times,
# and each case's result as this script expects it, independently of the scenario's own table.
# Also: without --allow-exec the scenario skips; without the binary it refuses naming the make
# target; a table that expects another result, or another failure message, fails the run.
# Cost once built: nine vmcisim runs, seven of them running vsock_test pairs of a few tenths of
# a second: about 1 s of wall time on an idle machine, 3.4 s measured at load 4. Skips, saying
# why, when linux-source-6.1 is missing or this machine cannot sandbox programs. Prints
# "ok - NAME" / "not ok - NAME" for scripts/run-tests.
set -u
vmcisim=${VMCISIM:-./vmcisim}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1${3:+: $3}"; fi; }
archive=/usr/src/linux-source-6.1.tar.xz
binary=build/vsock_test/vsock_test

# Without --allow-exec the scenario says it skips and passes (as `vmcisim test scenarios` runs it).
out=$("$vmcisim" run scenarios/vsock_test.lua 2>&1)
status=$?
echo "$out" | grep -q "vsock_test: skipped: running real programs needs --allow-exec" \
    && [ "$status" -eq 0 ]
check "vsock_test.lua without --allow-exec skips and passes" $? "status $status: $out"

if [ ! -f "$archive" ] && [ ! -x "$binary" ]; then
    echo "ok - vsock_test: skipped: linux-source-6.1 is missing" \
         "($archive; scripts/install-deps installs it)"
    exit 0
fi
if [ -f "$archive" ]; then
    make --no-print-directory vsock-test >"$work/make.out" 2>&1
    check "make vsock-test builds (or finds) $binary" $? "$(tail -c 400 "$work/make.out")"
fi
[ -x "$binary" ] || { check "$binary exists" 1; exit 0; }

# Does this machine sandbox programs? vsock_test's own --list finds out.
cat >"$work/list.lua" <<EOF
local sim = require("vmcisim")
local w = sim.world{}
local p = w:host():exec{ "$PWD/$binary", "--list" }
w:run()
io.write(p:output())
EOF
"$vmcisim" run "$work/list.lua" --allow-exec -q >"$work/list.out" 2>&1
if grep -q "cannot sandbox programs" "$work/list.out"; then
    reason=$(grep -o 'cannot sandbox programs.*' "$work/list.out" | head -1)
    echo "ok - vsock_test: skipped: $reason"
    exit 0
fi

# Each layout twice: passes, same output and digest.
for layout in guest-server host-server; do
    "$vmcisim" run scenarios/vsock_test.lua --allow-exec -q --digest -- "$layout" \
        >"$work/$layout.1" 2>&1
    status=$?
    check "vsock_test.lua -- $layout passes (every case as its table expects)" "$status" \
        "$(grep -E 'UNEXPECTED|expect failed|error' "$work/$layout.1" | head -c 600)"
    "$vmcisim" run scenarios/vsock_test.lua --allow-exec -q --digest -- "$layout" \
        >"$work/$layout.2" 2>&1
    # Sanitizer builds print warnings that carry the process id ("==1234==WARNING: ...").
    cmp -s <(grep -v '^==[0-9]*==' "$work/$layout.1") <(grep -v '^==[0-9]*==' "$work/$layout.2") \
        && grep -q '^digest ' "$work/$layout.1"
    check "vsock_test.lua -- $layout twice: the same output and digest" $? \
        "$(grep '^digest ' "$work/$layout.1" "$work/$layout.2" | tr '\n' ' ')"
    sed 's/^/# /' "$work/$layout.1"
done

# The table, case by case (the reason's rule included for the expected failures).
expect_case() {   # expect_case LAYOUT ID "NAME RESULT[ RULE]"
    grep -q "^vsock_test $2 $3" "$work/$1.1"
    check "$1: case $2 ${3%\$}" $? "$(grep "^vsock_test $2 " "$work/$1.1")"
}
for layout in guest-server host-server; do
    expect_case "$layout" 0 "SOCK_STREAM connection reset pass$"
    expect_case "$layout" 1 "SOCK_STREAM bind only pass$"
    expect_case "$layout" 4 "SOCK_STREAM multiple connections pass$"
    expect_case "$layout" 5 "SOCK_STREAM MSG_PEEK pass$"
    for id in 6 7 8 9; do
        expect_case "$layout" "$id" "SOCK_SEQPACKET .* skip R100"
    done
    expect_case "$layout" 10 "SOCK_STREAM poll() + SO_RCVLOWAT pass$"
done
expect_case guest-server 2 "SOCK_STREAM client close pass$"
expect_case guest-server 3 "SOCK_STREAM server close fail R171: .*client: unexpected EOF"
expect_case host-server 2 "SOCK_STREAM client close fail R171: .*server: unexpected EOF"
expect_case host-server 3 "SOCK_STREAM server close pass$"

# A copy of the scenario with no binary beside it refuses, naming the make target.
mkdir -p "$work/copy/scenarios"
cp scenarios/vsock_test.lua "$work/copy/scenarios/"
"$vmcisim" run "$work/copy/scenarios/vsock_test.lua" --allow-exec -q >"$work/absent.out" 2>&1
status=$?
grep -q "build/vsock_test/vsock_test is absent: build it with \`make vsock-test\`" \
    "$work/absent.out" && [ "$status" -eq 1 ]
check "without build/vsock_test/vsock_test the scenario refuses, naming make vsock-test" $? \
    "status $status: $(head -c 300 "$work/absent.out")"

# The same copy with the binary, but a table that expects case 3 to pass, or to fail with
# another message: either run fails.
mkdir -p "$work/copy/build"
ln -s "$PWD/build/vsock_test" "$work/copy/build/vsock_test"
expected_row='\["guest-server"\] = { "fail", R171, "client: unexpected EOF while receiving byte" }'
wrong_table() {   # wrong_table WHAT ROW: case 3 against a table whose row says WHAT
    sed "s/$expected_row/$2/" scenarios/vsock_test.lua >"$work/copy/scenarios/vsock_test.lua"
    "$vmcisim" run "$work/copy/scenarios/vsock_test.lua" --allow-exec -q >"$work/wrong.out" 2>&1
    local status=$?
    grep -q "^vsock_test 3 SOCK_STREAM server close fail .*UNEXPECTED: the table $1" \
        "$work/wrong.out" && [ "$status" -eq 1 ]
    check "case 3 against a table that $1: the run fails" $? \
        "status $status: $(grep '^vsock_test 3 ' "$work/wrong.out")"
}
wrong_table "expects pass" '["guest-server"] = { "pass", "" }'
wrong_table "expects the message 'client: EOF'" '["guest-server"] = { "fail", R171, "client: EOF" }'
