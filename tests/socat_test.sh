#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/socat_test.sh: Debian's unmodified socat in simulated VMs (issue 13 item 5,
# docs/programs.md "socat and Linux's vsock_test"). Each scenario below runs twice with
# `--allow-exec`; it must exit 0, print every one of its `NAME ok` check lines and no
# `FAILED`, and both runs must give the same digest. (scenarios/socat_echo.lua is run by
# tests/programs_test.sh.) scenarios/lua_file.lua, the same transfer as socat_file between two
# Lua processes (the reference for socat's throughput), runs twice too. Skips, saying why,
# when socat is not installed or this machine cannot sandbox programs. Prints "ok - NAME" /
# "not ok - NAME"; scripts/run-tests counts them.
set -u
vmcisim=${VMCISIM:-./vmcisim}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. tests/programs_lib.sh

if ! command -v socat >/dev/null 2>&1; then
    echo "ok - socat: skipped: socat is not installed (scripts/install-deps installs it)"
    exit 0
fi
programs_skip_unless_sandboxed socat

# run_twice SCENARIO NAME CHECKS...: runs the scenario twice; every CHECK must print
# "NAME CHECK ok", nothing may print FAILED, both runs exit 0 with equal digests.
run_twice() {
    local scenario=$1 name=$2
    shift 2
    local digests="" attempt out status missing="" check_name
    for attempt in 1 2; do
        out=$("$vmcisim" run "$scenario" --allow-exec -q --digest 2>&1)
        status=$?
        digests="$digests $(echo "$out" | sed -n 's/^digest //p')"
        echo "$out" >"$work/$name.$attempt.out"
    done
    for check_name in "$@"; do
        echo "$out" | grep -qx "$name $check_name ok" || missing="$missing $check_name"
    done
    [ "$status" -eq 0 ] && [ -z "$missing" ] && ! echo "$out" | grep -q "FAILED"
    check "$name: exits 0 with all $# checks ok" $? \
        "status $status, missing:$missing; $(echo "$out" | grep "^$name" | grep -v ' ok$' |
         head -c 600)"
    set -- $digests
    [ "$#" -eq 2 ] && [ "$1" = "$2" ]
    check "$name twice: equal digests" $? "$digests"
    echo "$out" | grep "^$name " | sed 's/^/# /'
}

# A socat client on the host moves 200 000 bytes to a socat server in a guest that writes
# them into its scratch directory; cksum on both sides agrees.
run_twice scenarios/socat_file.lua socat_file \
    run_idle server_exit_0 client_exit_0 length checksum

# `socat VSOCK-LISTEN:5002,fork PIPE` in a guest: one forked child per connection, each with
# its own pipe, echoes three host clients one after another, then three at once.
run_twice scenarios/socat_fork.lua socat_fork \
    run_idle sequential_1_echo sequential_2_echo sequential_3_echo concurrent_4_echo \
    concurrent_5_echo concurrent_6_echo accepted_6 server_killed

# A vMotion of the guest in the middle of a socat transfer, in both directions: the sender
# reports Broken pipe and exits 1, the receiver sees the end of stream, writes a prefix of
# what was sent and exits 0, the guest keeps its CID.
vmotion_checks=()
for case in to_guest from_guest; do
    for name in mid_transfer cid_kept client_broken_pipe client_exit_1 server_exit_0 \
            received_part received_is_prefix; do
        vmotion_checks+=("$case $name")
    done
done
run_twice scenarios/socat_vmotion.lua socat_vmotion "${vmotion_checks[@]}"

# The reference transfer between two Lua processes (scenarios/lua_file.lua, no program).
digests=""
for attempt in 1 2; do
    out=$("$vmcisim" run scenarios/lua_file.lua -q --digest 2>&1)
    status=$?
    digests="$digests $(echo "$out" | sed -n 's/^digest //p')"
done
[ "$status" -eq 0 ] && [ "$(echo "$out" | grep -c '^lua_file .* ok$')" -eq 3 ]
check "lua_file: the same transfer between two Lua processes, 3 checks ok" $? \
    "$(echo "$out" | head -c 300)"
set -- $digests
[ "$#" -eq 2 ] && [ "$1" = "$2" ]
check "lua_file twice: equal digests" $? "$digests"
