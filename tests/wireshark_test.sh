#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/wireshark_test.sh: scripts/wireshark/vmci_vsock.lua read by tshark (docs/wireshark.md)
# on pcap exports of real scenarios: every control packet is named and its fields equal the
# trace's pkt_send events (handshake v1 and v2, WROTE, READ, WAITING_READ, SHUTDOWN, RST);
# stream data and datagrams are marked and carry their bytes (a trace that stored them cut
# gives cut records, marked as such); `export --as-tcp` gives TCP flows whose Follow TCP
# Stream equals the bytes a known scenario sent both ways;
# captures from before the record kind was written still decode; hostile records (short,
# unknown type) are reported without a Lua error.
# Prints "ok - NAME" / "not ok - NAME"; scripts/run-tests counts them.
set -u
vmcisim=${VMCISIM:-./vmcisim}
dissector=scripts/wireshark/vmci_vsock.lua
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

check() {   # check NAME CONDITION-STATUS [DETAIL]
    if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1${3:+: $3}"; fi
}

q() {       # q DB SQL: the rows of a query on a trace
    sqlite3 "$1" "$2"
}

# tshark with the dissector; fails on any Lua error (tshark itself still exits 0 then).
dissect() { # dissect PCAP ARGS...
    local pcap=$1
    shift
    tshark -X "lua_script:$dissector" -r "$pcap" "$@" 2>"$work/tshark.err"
    local rc=$?
    grep -v 'Running as user' "$work/tshark.err" >"$work/tshark.err2"
    [ "$rc" -eq 0 ] && [ ! -s "$work/tshark.err2" ]
}

if ! command -v tshark >/dev/null 2>&1; then
    check "tshark is installed (scripts/install-deps installs it)" 1
    exit 0
fi

scenarios="guide_stream guide_dgram conformance/notify_pkt conformance/notify_qstate
    conformance/vsock_test_stream_connection_reset conformance/vsock_test_stream_shutwr"
for scenario in $scenarios; do
    name=$(basename "$scenario")
    "$vmcisim" run "scenarios/$scenario.lua" -q --trace "$work/$name.db" >/dev/null 2>&1 &&
        "$vmcisim" export "$work/$name.db" --format pcap -o "$work/$name.pcap" 2>"$work/err"
    check "pcap of $scenario written" $? "$(cat "$work/err")"
done

# ---- control packets: names and fields equal the trace -------------------------------
# One line per pkt_send, in trace order: type, ports, proto, then the u0/u1 meaning of
# its type (R147): size, handle (context:resource = low:high half of u0), shutdown mode,
# WAITING generation and offset; empty where the type carries none.
expected_control() {    # expected_control DB
    q "$1" "SELECT type || char(9) || (src & 4294967295) || char(9) || (dst & 4294967295)
          || char(9) || printf('0x%04x', proto) || char(9)
          || CASE WHEN type IN ('REQUEST', 'REQUEST2', 'NEGOTIATE', 'NEGOTIATE2')
                  THEN u0 ELSE '' END || char(9)
          || CASE WHEN type IN ('OFFER', 'ATTACH')
                  THEN (u0 & 4294967295) || ':' || (u0 >> 32) ELSE '' END || char(9)
          || CASE WHEN type = 'SHUTDOWN' THEN u0 ELSE '' END || char(9)
          || CASE WHEN type IN ('WAITING_READ', 'WAITING_WRITE')
                  THEN u0 || char(9) || u1 ELSE char(9) END
        FROM (SELECT seq, json_extract(fields, '$.type') AS type,
                     json_extract(fields, '$.src') AS src, json_extract(fields, '$.dst') AS dst,
                     json_extract(fields, '$.proto') AS proto,
                     json_extract(fields, '$.u0') AS u0, json_extract(fields, '$.u1') AS u1
              FROM events WHERE kind = 'pkt_send') ORDER BY seq"
}
control_fields="-e vmci_vsock.type_name -e vmci_vsock.src_port -e vmci_vsock.dst_port
    -e vmci_vsock.proto -e vmci_vsock.qp_size -e vmci_vsock.qp_handle
    -e vmci_vsock.shutdown_mode -e vmci_vsock.wait.generation -e vmci_vsock.wait.offset"
for scenario in $scenarios; do
    name=$(basename "$scenario")
    expected_control "$work/$name.db" >"$work/$name.expected"
    # shellcheck disable=SC2086 # the field list is split on purpose
    dissect "$work/$name.pcap" -Y "vmci_vsock.kind == 1" -T fields $control_fields \
        >"$work/$name.control"
    check "$name: tshark with the dissector reports no error" $? \
        "$(head -c 300 "$work/tshark.err2")"
    cmp -s "$work/$name.expected" "$work/$name.control"
    check "$name: every control packet's name and fields equal the trace's pkt_send" $? \
        "$(diff "$work/$name.expected" "$work/$name.control" | head -n 6)"
done

# Every type the scenarios above send is seen, so the comparisons cover each decoding.
seen=$(cat "$work"/*.control | cut -f1 | sort -u | tr '\n' ' ')
[ "$seen" = "ATTACH NEGOTIATE NEGOTIATE2 OFFER READ REQUEST REQUEST2 RST SHUTDOWN \
WAITING_READ WROTE " ]
check "the scenarios cover the handshakes, notifications, SHUTDOWN and RST" $? "$seen"

# The Info column names the packet and its main field.
dissect "$work/guide_stream.pcap" -T fields -e _ws.col.Info >"$work/stream.info"
[ "$(head -n 4 "$work/stream.info")" = "REQUEST2 1024 → 15000 size=65536 proto=0x1
NEGOTIATE2 15000 → 1024 size=65536 proto=0x1
OFFER 1024 → 15000 handle=$(q "$work/guide_stream.db" "SELECT json_extract(fields, '$.cid')
    FROM events WHERE kind = 'vm_create'"):1024
ATTACH 15000 → 1024 handle=$(q "$work/guide_stream.db" "SELECT json_extract(fields, '$.cid')
    FROM events WHERE kind = 'vm_create'"):1024" ]
check "guide_stream: the Info column names the handshake and its size and handle" $? \
    "$(head -n 4 "$work/stream.info")"
grep -qx "WAITING_READ 1024 → 5000 generation=0 offset=1" \
    <(dissect "$work/notify_pkt.pcap" -T fields -e _ws.col.Info)
check "notify_pkt: the Info column shows WAITING_READ's generation and offset" $?
grep -qx "SHUTDOWN 1024 → 1234 mode=SEND" \
    <(dissect "$work/vsock_test_stream_shutwr.pcap" -T fields -e _ws.col.Info)
check "shutwr: the Info column shows the SHUTDOWN mode by name" $?

# The notify protocol the handshake picks: v1 packet-based, v2 queue-state (R164, R158).
dissect "$work/notify_pkt.pcap" -Y "vmci_vsock.type == 2" -T fields -e vmci_vsock.notify \
    >"$work/notify_v1"
grep -q "^packet-based" "$work/notify_v1"
check "NEGOTIATE says packet-based notify" $? "$(cat "$work/notify_v1")"
dissect "$work/guide_stream.pcap" -Y "vmci_vsock.type == 12" -T fields -e vmci_vsock.notify \
    >"$work/notify_v2"
grep -q "^queue-state" "$work/notify_v2"
check "NEGOTIATE2 with proto 1 says queue-state notify" $? "$(cat "$work/notify_v2")"
dissect "$work/guide_stream.pcap" -Y "vmci_vsock.type == 11" -V >"$work/request2.tree"
grep -q "Proposed queue pair size: 65536" "$work/request2.tree"
check "REQUEST2's size is shown as proposed" $?
dissect "$work/guide_stream.pcap" -Y "vmci_vsock.type == 12" -V >"$work/negotiate2.tree"
grep -q "Negotiated queue pair size: 65536" "$work/negotiate2.tree"
check "NEGOTIATE2's size is shown as negotiated" $?

# ---- stream data and datagrams ----------------------------------------------------------
booleans() { sed -e 's/True/1/g' -e 's/False/0/g'; }   # tshark versions print either
q "$work/guide_stream.db" "SELECT json_extract(fields, '$.bytes') || char(9)
    || length(payload) || char(9) || '0' || char(9) || lower(hex(payload))
    FROM events WHERE kind = 'qp_enqueue' AND json_extract(fields, '$.bytes') > 0
    ORDER BY seq" >"$work/stream_data.expected"
dissect "$work/guide_stream.pcap" -Y "vmci_vsock.kind == 2" -T fields -e vmci_vsock.data_len \
    -e vmci_vsock.captured_len -e vmci_vsock.cut -e vmci_vsock.data | booleans \
    >"$work/stream_data.got"
[ -s "$work/stream_data.expected" ] && cmp -s "$work/stream_data.expected" "$work/stream_data.got"
check "guide_stream: stream writes are marked and carry the bytes written, whole" $? \
    "$(paste "$work/stream_data.expected" "$work/stream_data.got" | head -n 3)"
[ "$(grep -c '^Stream data .* 20 bytes "Hello from the guest"$' "$work/stream.info")" -eq 2 ]
check "guide_stream: the Info column says stream data and shows the text both ways" $? \
    "$(grep '^Stream' "$work/stream.info")"

dissect "$work/guide_dgram.pcap" -Y "vmci_vsock.kind == 3" -T fields -e vmci_vsock.data_len \
    -e vmci_vsock.captured_len -e vmci_vsock.cut -e vmci_vsock.data | booleans \
    >"$work/dgram.got"
[ "$(cat "$work/dgram.got")" = "5	5	0	68656c6c6f
5	5	0	48454c4c4f
5	5	0	776f726c64
5	5	0	574f524c44" ]
check "guide_dgram: datagrams both ways (the host's too) carry hello, HELLO, world, WORLD" \
    $? "$(cat "$work/dgram.got")"
dissect "$work/guide_dgram.pcap" -T fields -e _ws.col.Info >"$work/dgram.info"
[ "$(grep -c '^Datagram .*, 5 bytes "[a-zA-Z]*"$' "$work/dgram.info")" -eq 4 ] &&
    ! grep -q "cut" "$work/dgram.info"
check "guide_dgram: the Info column says datagram, with the text, none cut" $? \
    "$(cat "$work/dgram.info")"

# A trace that stored only part of each payload (as `run --payload 5` would): the records
# are cut, the dissector says so, and --as-tcp refuses rather than invent bytes.
cp "$work/guide_stream.db" "$work/cut.db"
q "$work/cut.db" "UPDATE events SET payload = substr(payload, 1, 5)
    WHERE kind IN ('qp_enqueue', 'dg_route')"
"$vmcisim" export "$work/cut.db" --format pcap -o "$work/cut.pcap"
check "a trace with cut payloads exports as pcap" $?
dissect "$work/cut.pcap" -Y "vmci_vsock.kind == 2" -T fields -e vmci_vsock.data_len \
    -e vmci_vsock.captured_len -e vmci_vsock.cut -e vmci_vsock.data | booleans \
    | sort -u >"$work/cut.got"
[ "$(cat "$work/cut.got")" = "20	5	1	48656c6c6f" ]
check "cut payloads: records carry the stored 5 bytes, the 20 written, and are marked cut" $? \
    "$(cat "$work/cut.got")"
dissect "$work/cut.pcap" -Y "vmci_vsock.kind == 2" -T fields -e _ws.col.Info | sort -u \
    >"$work/cut.info"
grep -q '20 bytes (cut: 5 captured) "Hello"$' "$work/cut.info"
check "cut payloads: the Info column says how much was captured" $? "$(cat "$work/cut.info")"
dissect "$work/cut.pcap" -Y "vmci_vsock.kind == 2" -V >"$work/cut.tree"
grep -q "Record cut: the trace did not store every byte" "$work/cut.tree"
check "cut payloads: an expert note says the trace did not store every byte" $?
"$vmcisim" export "$work/cut.db" --format pcap --as-tcp -o "$work/cut_tcp.pcapng" \
    2>"$work/cut_tcp.err"
[ $? -eq 1 ] && [ ! -e "$work/cut_tcp.pcapng" ] &&
    grep -q "stored 5 of the 20 bytes written .*--payload all" "$work/cut_tcp.err"
check "--as-tcp refuses a trace with cut payloads (exit 1, no file, says why)" $? \
    "$(cat "$work/cut_tcp.err")"

# ---- --as-tcp: Follow TCP Stream shows what the scenario sent -----------------------------
"$vmcisim" run tests/fixtures/capture_stream.lua -q --payload all --trace "$work/cs.db" \
    >/dev/null 2>&1 &&
    "$vmcisim" export "$work/cs.db" --format pcap --as-tcp -o "$work/cs.pcapng" 2>"$work/err"
check "capture_stream: --as-tcp capture written" $? "$(cat "$work/err")"
# The bytes the scenario sends, built here from its pattern (not from the trace): client
# NAME sends "name[:4]NNNNN\n" for N = 1..300; the server answers upper-cased, then
# "END <client CID, 10 digits>\n".
expected_follow() {     # expected_follow NAME CID: "client-hex server-hex"
    python3 -c '
import sys
name, cid = sys.argv[1], int(sys.argv[2])
request = "".join("%s%05d\n" % (name[:4], index) for index in range(1, 301)).encode()
answer = request.upper() + b"END %010d\n" % cid
print(request.hex(), answer.hex())' "$1" "$2"
}
# tshark's raw follow: client lines unindented, server lines after a tab; joined per side.
followed() {            # followed PCAP STREAM: "client-hex server-hex"
    tshark -r "$1" -q -z "follow,tcp,raw,$2" 2>/dev/null | python3 -c '
import sys
lines = sys.stdin.read().split("\n")
body = lines[[i for i, l in enumerate(lines) if l.startswith("Node 1:")][0] + 1:]
client = "".join(l for l in body if l and not l.startswith(("\t", "=")))
server = "".join(l[1:] for l in body if l.startswith("\t"))
print(client, server)'
}
vm_field() {            # vm_field DB FIELD INDEX: a field of the INDEX-th vm_create (0-based)
    q "$1" "SELECT json_extract(fields, '$.$2') FROM events WHERE kind = 'vm_create'
        ORDER BY seq LIMIT 1 OFFSET $3"
}
for stream in 0 1; do
    name=$(vm_field "$work/cs.db" name "$stream")
    want=$(expected_follow "$name" "$(vm_field "$work/cs.db" cid "$stream")")
    got=$(followed "$work/cs.pcapng" "$stream")
    [ -n "$got" ] && [ "$got" = "$want" ]
    check "--as-tcp: tshark -z follow,tcp,raw,$stream equals the bytes $name and the server sent" \
        $? "$(echo "$got" | head -c 200) / $(echo "$want" | head -c 200)"
done
tshark -r "$work/cs.pcapng" -o tcp.check_checksum:TRUE -o ip.check_checksum:TRUE -T fields \
    -e tcp.checksum.status -e ip.checksum.status 2>/dev/null | sort -u >"$work/sums"
[ "$(cat "$work/sums")" = "1	1" ]
check "--as-tcp: every IPv4 and TCP checksum is good" $? "$(cat "$work/sums")"
tshark -r "$work/cs.pcapng" -Y "tcp.stream == 0 && tcp.len == 0" -T fields \
    -e ip.src -e ip.dst -e tcp.flags.syn -e tcp.flags.ack -e tcp.flags.fin -e tcp.flags.reset \
    2>/dev/null | booleans >"$work/flags"
[ "$(cat "$work/flags")" = "192.0.2.3	192.0.2.2	1	0	0	0
192.0.2.2	192.0.2.3	1	1	0	0
192.0.2.3	192.0.2.2	0	1	0	0
192.0.2.3	192.0.2.2	0	1	1	0
192.0.2.2	192.0.2.3	0	1	1	0" ]
check "--as-tcp: SYN, SYN-ACK, ACK, then the client's FIN and the server's" $? \
    "$(cat "$work/flags")"
tshark -r "$work/cs.pcapng" -Y "tcp.analysis.flags" 2>/dev/null >"$work/analysis"
[ ! -s "$work/analysis" ]
check "--as-tcp: tshark's TCP analysis flags nothing (no gap, retransmission, dup ack)" \
    $? "$(head -n 3 "$work/analysis")"
tshark -r "$work/cs.pcapng" -Y "tcp.flags.syn == 1 && tcp.flags.ack == 0" -T fields \
    -e tcp.seq_raw 2>/dev/null | sort -u >"$work/isn"
lowest=$(tshark -r "$work/cs.pcapng" -Y "tcp.stream == 0 && tcp.len > 0" -T fields \
    -e tcp.seq_raw 2>/dev/null | sort -n | head -n 1)
[ "$(cat "$work/isn")" = "4294967040" ] && [ "$lowest" -lt 4096 ]
check "--as-tcp: sequence numbers start near 2^32 and wrap within the stream" $? \
    "$(cat "$work/isn") $lowest"
capinfos "$work/cs.pcapng" >"$work/capinfos" 2>&1
grep -q "192.0.2.2 = host (CID 2)" "$work/capinfos" &&
    grep -q "192.0.2.3 = alpha (CID $(vm_field "$work/cs.db" cid 0))" "$work/capinfos"
check "--as-tcp: the capture's comment maps each address to its context" $? \
    "$(grep -i comment "$work/capinfos")"
for scenario in guide_stream many_connections conformance/vsock_test_stream_connection_reset \
                conformance/vsock_test_stream_shutwr lifecycle/suspend_resume_stream; do
    name=$(basename "$scenario")
    "$vmcisim" run "scenarios/$scenario.lua" -q --payload all --trace "$work/t_$name.db" \
        >/dev/null 2>&1
    "$vmcisim" export "$work/t_$name.db" --format pcap --as-tcp -o "$work/t_$name.pcapng" \
        2>"$work/err"
    status=$?
    tshark -r "$work/t_$name.pcapng" >/dev/null 2>"$work/tshark.err"
    [ "$status" -eq 0 ] && ! grep -qv "Running as user" "$work/tshark.err"
    check "--as-tcp: $scenario exports and tshark reads it" $? \
        "$(cat "$work/err" "$work/tshark.err" | head -c 300)"
    # every byte written into a queue pair is in exactly one TCP segment
    written=$(q "$work/t_$name.db" "SELECT coalesce(sum(json_extract(fields, '$.bytes')), 0)
        FROM events WHERE kind = 'qp_enqueue'")
    segments=$(tshark -r "$work/t_$name.pcapng" -T fields -e tcp.len 2>/dev/null |
        awk '{ total += $1 } END { print total + 0 }')
    [ "$written" = "$segments" ]
    check "--as-tcp: $scenario: the segments carry the $written bytes written" $? "$segments"
done
tshark -r "$work/t_vsock_test_stream_connection_reset.pcapng" -Y "tcp.flags.reset == 1" \
    2>/dev/null | grep -q .
check "--as-tcp: a vSockets RST is a TCP RST" $?

# ---- captures without the record kind, and hostile records ----------------------------
# rewrite_pcap IN OUT MODE: zero every record's kind, or append hostile records.
rewrite_pcap() {
    python3 - "$@" <<'EOF'
import struct, sys
data = bytearray(open(sys.argv[1], "rb").read())
mode = sys.argv[3]
if mode == "zero-kind":
    at = 24
    while at < len(data):
        captured = struct.unpack_from("<I", data, at + 8)[0]
        struct.pack_into("<H", data, at + 16 + 30, 0)
        at += 16 + captured
else:
    def record(body, original=None):
        original = len(body) if original is None else original
        return struct.pack("<IIII", 1, 0, len(body), original) + body
    def vsockmon(op, kind):
        return struct.pack("<QQIIHHHH", 3, 2, 1024, 15000, op, 1, 0, kind)
    data += record(vsockmon(1, 1) + bytes(10))                   # control packet cut short
    data += record(vsockmon(1, 1) + bytes([1, 200]) + bytes(30))  # unknown type
    data += record(vsockmon(3, 1) + bytes([1, 5]) + bytes(14) + b"\xff" * 16)  # WROTE, u != 0
    data += record(vsockmon(4, 9) + b"xy", 32 + 100)             # unknown kind, cut
    data += record(bytes(20))                                    # shorter than a header
open(sys.argv[2], "wb").write(data)
EOF
}

rewrite_pcap "$work/guide_stream.pcap" "$work/old.pcap" zero-kind
dissect "$work/old.pcap" -Y "vmci_vsock.kind == 1" -T fields $control_fields >"$work/old.control"
check "a capture without record kinds: no error" $? "$(head -c 300 "$work/tshark.err2")"
cmp -s "$work/guide_stream.expected" "$work/old.control"
check "a capture without record kinds: control packets decode as before" $? \
    "$(diff "$work/guide_stream.expected" "$work/old.control" | head -n 4)"
[ "$(dissect "$work/old.pcap" -T fields -e _ws.col.Info | grep -c '^Stream data or datagram ')" \
    -eq 2 ]
check "a capture without record kinds: PAYLOAD records are 'stream data or datagram'" $?

rewrite_pcap "$work/guide_stream.pcap" "$work/hostile.pcap" hostile
dissect "$work/hostile.pcap" -V >"$work/hostile.tree"
check "hostile records: tshark with the dissector reports no error" $? \
    "$(head -c 300 "$work/tshark.err2")"
! grep -q "Lua Error" "$work/hostile.tree"
check "hostile records: no Lua error in the tree" $? "$(grep -m 2 'Lua Error' "$work/hostile.tree")"
dissect "$work/hostile.pcap" -T fields -e _ws.col.Info | tail -n 5 >"$work/hostile.info"
[ "$(head -n 3 "$work/hostile.info")" = "VMCI control packet cut at 10 bytes
UNKNOWN(200) 1024 → 15000
WROTE 1024 → 15000" ]
check "hostile records: a short control packet and an unknown type are named as such" $? \
    "$(cat "$work/hostile.info")"
grep -q "Bytes that must be 0 are not (R147)" "$work/hostile.tree"
check "hostile records: a WROTE with non-zero union bytes is flagged" $?
[ "$(sed -n 4p "$work/hostile.info")" = \
    'Stream data or datagram 3:1024 → 2:15000, 100 bytes (cut: 2 captured) "xy"' ]
check "hostile records: an unknown record kind is shown as data, cut" $? \
    "$(sed -n 4p "$work/hostile.info")"
