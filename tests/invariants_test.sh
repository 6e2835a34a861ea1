#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/invariants_test.sh: the world invariants from the command line (docs/invariants.md).
# Scenarios that move stream bytes, datagrams, and go through suspend, device reset and
# unread-close pass with `--paranoid` (the invariants after every event) with the digest they
# have without it, and a clean run's trace holds no invariant_violation event. Breaking each
# invariant on purpose is the CUnit suite `invariants` (tests/unit/invariants_test.c).
set -u
vmcisim=${VMCISIM:-./vmcisim}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1${3:+: $3}"; fi; }

"$vmcisim" run --help | grep -q -- '--paranoid'
check "run --help lists --paranoid" $?

for scenario in scenarios/stream_integrity.lua scenarios/many_connections.lua \
                scenarios/nfs_dgram.lua scenarios/lifecycle/suspend_resume_stream.lua \
                scenarios/lifecycle/device_reset_sockets.lua \
                scenarios/lifecycle/close_unread_hazard.lua; do
    plain=$("$vmcisim" run -q --digest "$scenario" 2>"$work/plain.err")
    plain_status=$?
    paranoid=$("$vmcisim" run -q --paranoid --digest "$scenario" 2>"$work/paranoid.err")
    paranoid_status=$?
    [ "$plain_status" -eq 0 ] && [ "$paranoid_status" -eq 0 ]
    check "$scenario passes with and without --paranoid" $? \
        "exit $plain_status / $paranoid_status: $(head -c 300 "$work/paranoid.err")"
    [ -n "$plain" ] && [ "$plain" = "$paranoid" ]
    check "$scenario: --paranoid leaves the digest as it is" $? "$plain vs $paranoid"
done

"$vmcisim" run -q --paranoid --trace "$work/t.db" scenarios/stream_integrity.lua >/dev/null 2>&1
check "stream_integrity.lua traced with --paranoid" $?
violations=$(sqlite3 "$work/t.db" "SELECT count(*) FROM events WHERE kind = 'invariant_violation'")
[ "$violations" = "0" ]
check "a clean run traces no invariant_violation" $? "$violations"
