#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/trace_path_test.sh: every hop of one stream send() (architecture.md, "The path of
# one stream send()") is one event in a device-level trace, in order, and the fields agree
# with each other: the ICR value read is the cause delivered; the DATA_IN bytes decode to a
# 56-byte control packet (WROTE) with the connection's ports; the queue pair's tail moved
# by the bytes sent and the reader's head by the bytes received.
set -u
vmcisim=${VMCISIM:-./vmcisim}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1${3:+: $3}"; fi; }
db="$work/one.db"
"$vmcisim" run tests/fixtures/one_send.lua --trace "$db" -q >/dev/null 2>&1
check "one_send.lua runs with a device-level trace" $?
q() { sqlite3 "$db" "$1"; }
start=$(q "SELECT seq FROM events WHERE kind = 'log' AND json_extract(fields, '\$.text') = 'send now'")
end=$(q "SELECT min(seq) FROM events WHERE kind = 'sock_recv' AND seq > $start")
kinds=$(q "SELECT group_concat(kind, ' ') FROM (SELECT kind FROM events WHERE seq > $start AND seq <= $end
          AND kind NOT IN ('proc_block', 'proc_resume') ORDER BY seq)")
expected="qp_data qp_enqueue pkt_send dg_route sock_send interrupt reg_read data_in dg_deliver"
expected="$expected pkt_recv qp_data qp_dequeue sock_recv"
[ "$kinds" = "$expected" ]
check "the hops of one send, in order" $? "got: $kinds"
woken=$(q "SELECT count(*) FROM events WHERE seq > (SELECT seq FROM events WHERE kind = 'pkt_recv' AND seq > $start)
           AND seq < $end AND kind = 'proc_resume' AND json_extract(fields, '\$.reason') = 'woken'")
[ "$woken" = "1" ]
check "the receiving process is woken once by the packet" $? "$woken"
icr=$(q "SELECT json_extract(fields, '\$.icr') FROM events WHERE kind = 'interrupt' AND seq > $start LIMIT 1")
read_value=$(q "SELECT json_extract(fields, '\$.value') FROM events WHERE kind = 'reg_read'
               AND json_extract(fields, '\$.reg') = 'ICR' AND seq > $start LIMIT 1")
[ -n "$icr" ] && [ "$icr" = "$read_value" ] && [ "$icr" = "1" ]
check "the ICR value read equals the cause delivered (DATAGRAM)" $? "icr $icr read $read_value"
hex=$(q "SELECT hex(payload) FROM events WHERE kind = 'data_in' AND seq > $start LIMIT 1")
# datagram header: dst {4000, 1}, src {2, 1}, payload_size 32; packet: version 1, type 5
# (WROTE), src_port 5000 (0x1388), dst_port 1024 (0x400).
expected_hex="A00F000001000000020000000100000020000000000000000105000088130000"
expected_hex="${expected_hex}00040000"
[ "${hex:0:72}" = "$expected_hex" ]
check "DATA_IN bytes decode to a 56-byte WROTE packet from port 5000 to port 1024" $? "${hex:0:72}"
# The trace stores the bytes before the filler and counts the filler (docs/device.md).
sizes=$(q "SELECT json_extract(fields, '\$.size') || ' ' || json_extract(fields, '\$.fill') || ' '
           || length(payload) FROM events WHERE kind = 'data_in' AND seq > $start LIMIT 1")
set -- $sizes
[ "$#" = 3 ] && [ "$3" = 56 ] && [ "$2" -gt 0 ] && [ $(( $2 + $3 )) = "$1" ]
check "after the 56-byte packet the DATA_IN stream is 0xFF filler (R40): size = 56 + fill" $? "$sizes"
moved=$(q "SELECT json_extract(fields, '\$.bytes') || ' ' || json_extract(fields, '\$.position')
           FROM events WHERE kind = 'qp_enqueue' AND seq > $start LIMIT 1")
[ "$moved" = "2 2" ]
check "the produce tail moved by the 2 bytes sent (0 -> 2)" $? "$moved"
read_moved=$(q "SELECT json_extract(fields, '\$.bytes') || ' ' || json_extract(fields, '\$.position')
                FROM events WHERE kind = 'qp_dequeue' AND seq > $start LIMIT 1")
[ "$read_moved" = "2 2" ]
check "the consumer head moved by the 2 bytes received" $? "$read_moved"
