#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/trace_rows_test.sh: the trace writer's rows and the --payload cut
# (docs/trace-schema.md, "The writer" and "Payload storage").
#
# 1. Rows unchanged by the record ring: with --payload all, the events of four scenarios
#    (streams, datagrams through guests' devices and from the host) hash to the values the
#    writer that formatted rows on the run's thread gave (recorded before the change, and
#    again with that writer once qp_enqueue and dg_route carried their bytes as `data` and
#    the queue-pair events their `socket`). A deliberate change of an event stream updates
#    these hashes in the same commit, as it does the golden digests.
# 2. The digest does not depend on --payload: one scenario with --payload 0, 16, all, the
#    default and no trace gives one digest; every such trace replays.
# 3. The cut: with --payload 16, every stored payload is at most 16 bytes, and exactly the
#    rows whose payload is longer say "stored":16 in their JSON; with 0 the column is NULL.
# 4. --payload refuses what is not `all` or a count up to 1048576 (exit 2).
set -u
vmcisim=${VMCISIM:-./vmcisim}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1${3:+: $3}"; fi; }

rows_hash() {
    sqlite3 "$1" "SELECT seq, time_ns, ctx, pid, layer, kind, fields, quote(payload)
                  FROM events ORDER BY seq" | sha256sum | cut -d' ' -f1
}

while read -r scenario expected; do
    "$vmcisim" run "scenarios/$scenario.lua" -q --payload all --trace "$work/$scenario.db" \
        >/dev/null 2>&1
    got=$(rows_hash "$work/$scenario.db")
    [ "$got" = "$expected" ]
    check "$scenario: rows with --payload all equal the run-thread writer's" $? "$got"
done <<'GOLDEN'
hello d3c0a04670addf3a50697615b5e2fb571785a07a7b427433aa830dd2b85ec501
guide_dgram 8afe3d11fe89321680bc617ef35483f04921272a157d222299265586983b356a
stream_integrity 3bad8e5bf0ae76e98feba8c7ccc684c656a7dec63c0fdcfd0573577bd7d67e54
nfs_dgram e57ec7255faf4ad269e61d13533127cb4b3c83e0ef6dd32ea32721128f282869
GOLDEN

S=scenarios/nfs_dgram.lua     # datagrams of up to 2 KiB through the guests' devices
untraced=$("$vmcisim" run "$S" -q --digest 2>/dev/null | tail -n 1)
failed=""
for payload in 0 16 all default; do
    option=(--payload "$payload")
    [ "$payload" = default ] && option=()
    digest=$("$vmcisim" run "$S" -q --digest "${option[@]}" --trace "$work/p$payload.db" \
             2>/dev/null | tail -n 1)
    [ "$digest" = "$untraced" ] || failed="$failed $payload:$digest"
    "$vmcisim" replay -q "$work/p$payload.db" >/dev/null 2>&1 || failed="$failed replay-$payload"
done
case "$untraced" in "digest "[0-9a-f]*) true ;; *) failed="$failed untraced:$untraced" ;; esac
[ -z "$failed" ]
check "one digest with --payload 0, 16, all, the default and no trace; each replays" $? \
    "untraced $untraced;$failed"

q() { sqlite3 "$work/$1" "$2"; }
longest=$(q p16.db "SELECT max(length(payload)) FROM events")
said_stored() {   # said_stored DB N: rows whose payload field's JSON member says stored N
    q "$1" "SELECT count(*) FROM events WHERE EXISTS (SELECT 1 FROM json_each(fields)
            WHERE type = 'object' AND json_extract(value, '\$.stored') = $2)"
}
cut=$(said_stored p16.db 16)
long=$(q pall.db "SELECT count(*) FROM events WHERE length(payload) > 16")
[ "$longest" = 16 ] && [ "$long" -gt 0 ] && [ "$cut" = "$long" ]
check "--payload 16: payloads cut to 16 bytes, exactly the longer ones say stored 16" $? \
    "longest $longest, cut $cut, longer than 16 with all: $long"
prefix=$(q p16.db "SELECT hex(payload) FROM events WHERE length(payload) = 16 ORDER BY seq
                   LIMIT 1")
whole=$(q pall.db "SELECT hex(substr(payload, 1, 16)) FROM events WHERE length(payload) > 16
                   ORDER BY seq LIMIT 1")
[ -n "$prefix" ] && [ "$prefix" = "$whole" ]
check "--payload 16 stores the first 16 bytes of the payload" $? "$prefix / $whole"
stored=$(q p0.db "SELECT count(*) FROM events WHERE payload IS NOT NULL")
said=$(said_stored p0.db 0)
[ "$stored" = 0 ] && [ "$said" -gt 0 ]
check "--payload 0: no payload stored, the JSON says stored 0" $? "$stored stored, $said say 0"
meta=$(q p16.db "SELECT value FROM meta WHERE key = 'payload_bytes_max'")/$(
       q pdefault.db "SELECT value FROM meta WHERE key = 'payload_bytes_max'")
[ "$meta" = "16/256" ]
check "meta payload_bytes_max records the cut (256 by default)" $? "$meta"

for bad in -1 1048577 abc "" 0x10 " 5"; do
    "$vmcisim" run scenarios/hello.lua -q --payload "$bad" >/dev/null 2>"$work/err"
    status=$?
    [ "$status" = 2 ] && grep -q -- "--payload" "$work/err" || break
done
[ "$status" = 2 ]
check "--payload refuses '$bad' and the like with exit 2" $? "status $status"
"$vmcisim" run scenarios/hello.lua -q --payload 1048576 >/dev/null 2>&1
check "--payload 1048576 is accepted" $?

# test and sweep write no trace: they pass --payload on to the lines that reproduce a
# failure with `run ... --trace`, and refuse a bad value as run does.
line=$("$vmcisim" sweep tests/fixtures/sweep/some_fail.lua --seeds 1-20 --payload 16 -j 1 \
       2>&1 | grep -m 1 "reproduce:")
case "$line" in *" --trace fail-some_fail-"*".db --payload 16") true ;; *) false ;; esac
check "sweep --payload 16: reproduce lines end with --payload 16" $? "$line"
line=$("$vmcisim" test tests/fixtures/runner/suite --once --payload all 2>&1 |
       grep -m 1 "reproduce:.* run ")
case "$line" in *" --trace fail-"*".db --payload all") true ;; *) false ;; esac
check "test --payload all: reproduce lines end with --payload all" $? "$line"
"$vmcisim" sweep tests/fixtures/sweep/some_fail.lua --seeds 1 --payload 2000000 >/dev/null 2>&1
sweep_status=$?
"$vmcisim" test tests/fixtures/runner/suite --payload abc >/dev/null 2>&1
test_status=$?
[ "$sweep_status" = 2 ] && [ "$test_status" = 2 ]
check "sweep and test refuse a bad --payload with exit 2" $? "$sweep_status $test_status"
