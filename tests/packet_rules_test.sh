#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/packet_rules_test.sh: how a host stack answers hand-made control packets that a
# guest kernel writes to its device (tests/fixtures/injected_packets.lua), read from the
# trace: R151 (unknown type to a socket -> INVALID), R173 (a packet to a socket that is not
# listening, connecting or established -> RST), R148 (a wrong source RID or a short
# datagram is dropped without a reply), R150 (no RST in reply to an RST).
set -u
vmcisim=${VMCISIM:-./vmcisim}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1${3:+: $3}"; fi; }
db="$work/p.db"
"$vmcisim" run tests/fixtures/injected_packets.lua --trace "$db" -q >/dev/null 2>&1
check "injected_packets.lua runs" $?

# The seq of the one log line starting with $1; empty when there is not exactly one.
marker_seq() {
    sqlite3 "$db" "SELECT CASE WHEN count(*) = 1 THEN max(seq) END FROM events
        WHERE kind = 'log' AND json_extract(fields, '\$.text') LIKE '$1%'"
}

# The host's (CID 2) replies between the log line starting with $1 and the next log line;
# "no marker $1" when that line or a later one is missing, so that an expected empty
# answer cannot pass by accident.
host_replies() {
    local seq
    seq=$(marker_seq "$1")
    if [ -z "$seq" ] || [ -z "$(sqlite3 "$db" "SELECT min(seq) FROM events WHERE kind = 'log'
                                               AND seq > $seq")" ]; then
        echo "no marker $1"
        return
    fi
    sqlite3 "$db" "SELECT coalesce(group_concat(json_extract(fields, '\$.type'), ' '), '')
        FROM events WHERE kind = 'pkt_send' AND ctx = 2
        AND seq > (SELECT seq FROM events WHERE kind = 'log' AND json_extract(fields, '\$.text') LIKE '$1%')
        AND seq < (SELECT min(seq) FROM events WHERE kind = 'log' AND seq >
                   (SELECT seq FROM events WHERE kind = 'log' AND json_extract(fields, '\$.text') LIKE '$1%'))"
}
got=$(host_replies "R151")
[ "$got" = "INVALID" ]
check "R151: a packet of unknown type to a listener is answered with INVALID" $? "$got"
got=$(host_replies "R173")
[ "$got" = "RST" ]
check "R173: WROTE to a bound socket in TCP_CLOSE is answered with RST" $? "$got"
got=$(host_replies "R148: REQUEST2 from")
[ "$got" = "" ]
check "R148: a packet from a source RID other than 1 gets no reply" $? "$got"
received="no marker R148 or R150"
[ -n "$(marker_seq 'R148: REQUEST2 from')" ] && [ -n "$(marker_seq 'R150')" ] &&
received=$(sqlite3 "$db" "SELECT count(*) FROM events WHERE kind = 'pkt_recv' AND ctx = 2
    AND seq > (SELECT seq FROM events WHERE json_extract(fields, '\$.text') LIKE 'R148: REQUEST2 from%')
    AND seq < (SELECT seq FROM events WHERE json_extract(fields, '\$.text') LIKE 'R150%')")
[ "$received" = "0" ]
check "R148: neither the wrong-RID nor the short packet reaches a socket" $? "$received"
got=$(host_replies "R148: a REQUEST2 datagram shorter")
[ "$got" = "" ]
check "R148: a datagram shorter than 56 bytes gets no reply" $? "$got"
got=$(host_replies "R150")
[ "$got" = "" ]
check "R150: an RST to a port without socket is not answered" $? "$got"

# R156/R157 (tests/fixtures/fallback_v1.lua): INVALID makes the client re-send a v1 REQUEST
# of the same size; the RST that follows is ignored (its connect then times out instead).
db2="$work/f.db"
"$vmcisim" run tests/fixtures/fallback_v1.lua --trace "$db2" -q >/dev/null 2>&1
check "fallback_v1.lua passes (connect ETIMEDOUT, not ECONNRESET: R157)" $?
sent=$(sqlite3 "$db2" "SELECT group_concat(json_extract(fields, '\$.type') || ':' ||
       json_extract(fields, '\$.u0'), ' ') FROM events WHERE kind = 'pkt_send' AND ctx = 2")
[ "$sent" = "REQUEST2:65536 REQUEST:65536" ]
check "R156: after INVALID the client re-sends its request as a v1 REQUEST, same size" $? "$sent"
