#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/notify_test.sh: scripted send/recv patterns produce exactly the notifications the
# active protocol prescribes (reference 7.5): the queue-state protocol (R176-R178) and the
# packet-based one (R180-R183), read from the transport-level trace.
set -u
vmcisim=${VMCISIM:-./vmcisim}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1${3:+: $3}"; fi; }

# The control packets sent after the first sim.log line, with the log lines as markers.
packets_after_first_log() {
    sqlite3 "$1" "SELECT group_concat(item, ' ') FROM (SELECT CASE kind WHEN 'log' THEN '|'
                  ELSE json_extract(fields, '\$.type') END AS item FROM events
                  WHERE kind IN ('log', 'pkt_send')
                  AND seq >= (SELECT min(seq) FROM events WHERE kind = 'log') ORDER BY seq)"
}

"$vmcisim" run scenarios/conformance/notify_qstate.lua --trace "$work/q.db" -q >/dev/null 2>&1
check "notify_qstate.lua passes" $?
got=$(packets_after_first_log "$work/q.db")
# phase 1: a, then b, each into an empty queue -> one WROTE each (R176)
# phase 2: c into an empty queue -> WROTE; d into a non-empty one -> nothing
# phase 3: a write into a non-empty queue -> nothing; reading from the full queue -> READ
#          (R177); the rest written into the emptied queue -> WROTE
[ "$got" = "| WROTE WROTE | WROTE | READ WROTE |" ]
check "queue-state protocol: WROTE only into an empty queue, READ only from a full one" $? "$got"
handshake=$(sqlite3 "$work/q.db" "SELECT group_concat(json_extract(fields, '\$.type'), ' ') FROM
            (SELECT fields FROM events WHERE kind = 'pkt_send' ORDER BY seq LIMIT 4)")
[ "$handshake" = "REQUEST2 NEGOTIATE2 OFFER ATTACH" ]
check "protocol v2 handshake: REQUEST2 NEGOTIATE2 OFFER ATTACH (R155-R166)" $? "$handshake"
waiting=$(sqlite3 "$work/q.db" "SELECT count(*) FROM events WHERE kind = 'pkt_send'
          AND json_extract(fields, '\$.type') LIKE 'WAITING%'")
[ "$waiting" = "0" ]
check "queue-state protocol never sends WAITING_READ/WAITING_WRITE" $? "$waiting"

"$vmcisim" run scenarios/conformance/notify_pkt.lua --trace "$work/p.db" -q >/dev/null 2>&1
check "notify_pkt.lua passes" $?
all=$(sqlite3 "$work/p.db" "SELECT group_concat(json_extract(fields, '\$.type'), ' ') FROM
      (SELECT fields FROM events WHERE kind = 'pkt_send' ORDER BY seq)")
# v1 handshake, the blocked reader's WAITING_READ (R180), the producer's WROTE because
# the peer waits (R181); nothing for the write nobody waits for.
[ "$all" = "REQUEST NEGOTIATE OFFER ATTACH WAITING_READ WROTE" ]
check "packet-based protocol: WAITING_READ once, WROTE only while the peer waits" $? "$all"

# R176 "with retry": a WROTE refused by a full pending queue is sent VSOCK_MAX_DGRAM_RESENDS
# (10) times in the same instant, each refused with VMCI_ERROR_NO_RESOURCES (-19), then
# given up: no eleventh attempt, and the writer's send still succeeded.
"$vmcisim" run scenarios/conformance/stream_R176_resends.lua --trace "$work/r176.db" -q \
    >/dev/null 2>&1
check "stream_R176_resends.lua passes" $?
tries=$(sqlite3 "$work/r176.db" "SELECT kind || ' ' || count(*) || ' ' || count(DISTINCT time_ns)
        || ' ' || ifnull(min(json_extract(fields, '\$.result')), '-') FROM events
        WHERE kind IN ('pkt_send', 'pkt_send_failed') AND json_extract(fields, '\$.type') = 'WROTE'
        GROUP BY kind ORDER BY kind")
[ "$tries" = "pkt_send 10 1 -
pkt_send_failed 10 1 -19" ]
check "R176: a refused WROTE is tried 10 times in one instant, then given up" $? "$tries"
