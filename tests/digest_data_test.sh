#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/digest_data_test.sh: the run digest tells apart runs that move different bytes
# (docs/trace-schema.md, "Data bytes"). tests/fixtures/data_bytes.lua sends its first
# argument over a stream socket (queue pair), its second in a host-to-host datagram and its
# third through a raw queue pair, and logs only their lengths: equal lengths, different
# bytes must give different digests.
set -u
vmcisim=${VMCISIM:-./vmcisim}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1${3:+: $3}"; fi; }
F=tests/fixtures/data_bytes.lua

digest_of() { "$vmcisim" run "$F" -q --digest "$@" 2>/dev/null | tail -n 1; }
aaaa=$(digest_of -- AAAA dddd)
bbbb=$(digest_of -- BBBB dddd)
again=$(digest_of -- AAAA dddd)
eeee=$(digest_of -- AAAA eeee)
rrrr=$(digest_of -- AAAA dddd rrrr)
case "$aaaa" in "digest "[0-9a-f]*) true ;; *) false ;; esac
check "data_bytes.lua runs and prints a digest" $? "$aaaa"
[ "$aaaa" != "$bbbb" ]
check "stream bytes AAAA and BBBB give different digests" $?
[ "$aaaa" = "$again" ]
check "the same stream and datagram bytes give the same digest" $?
[ "$aaaa" != "$eeee" ]
check "datagram payloads dddd and eeee give different digests" $?
[ "$aaaa" != "$rrrr" ]
check "raw queue-pair bytes qqqq and rrrr give different digests" $?
for level in off api transport vmci; do
    other=$(digest_of --trace "$work/$level.db" --trace-level "$level" -- AAAA dddd)
    [ "$other" = "$aaaa" ] || break
done
[ "$other" = "$aaaa" ]
check "the digest covers the bytes whatever --trace-level says" $? "level $level: $other"

# The trace shows the running hash: the guest's enqueue of the 4 stream bytes carries
# XXH3-64 of "AAAA" as sim.checksum computes it; the host's dequeue of them counts 4 bytes
# (the raw queue pair moves 5 bytes, so `bytes = 4` picks the stream's events).
"$vmcisim" run "$F" -q --trace "$work/t.db" -- AAAA dddd qqqqq >/dev/null 2>&1
q() { sqlite3 "$work/t.db" "$1"; }
enqueued=$(q "SELECT json_extract(fields, '\$.hash') FROM events WHERE kind = 'qp_data'
              AND json_extract(fields, '\$.op') = 'enqueue'
              AND json_extract(fields, '\$.bytes') = 4")
dequeued=$(q "SELECT count(*) FROM events WHERE kind = 'qp_data' AND ctx = 2
              AND json_extract(fields, '\$.op') = 'dequeue'
              AND json_extract(fields, '\$.bytes') = 4")
printf 'local sim = require("vmcisim")\nsim.log("%%s", sim.checksum("AAAA"))\n' > "$work/sum.lua"
expected=$("$vmcisim" run "$work/sum.lua" 2>&1 | grep -Eo '[0-9a-f]{16}' | head -n 1)
[ -n "$expected" ] && [ "$enqueued" = "$expected" ] && [ "$dequeued" = 1 ]
check "qp_data: the enqueue's hash is XXH3-64 of the bytes, the dequeue counts them" $? \
    "enqueue '$enqueued' expected '$expected', dequeues of 4 bytes on the host: $dequeued"
routed=$(q "SELECT count(*) FROM events WHERE kind = 'dg_route'
            AND json_extract(fields, '\$.hash') GLOB '[0-9a-f]*'
            AND length(json_extract(fields, '\$.hash')) = 16")
all=$(q "SELECT count(*) FROM events WHERE kind = 'dg_route'")
[ "$all" -gt 0 ] && [ "$routed" = "$all" ]
check "every dg_route carries a 16-digit hash" $? "$routed of $all"
