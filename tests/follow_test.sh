#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/follow_test.sh: `vmcisim inspect FILE follow N [client|server]` (docs/cli.md, "inspect
# follow") and the bytes behind it: every qp_enqueue of tests/fixtures/capture_stream.lua
# stores the bytes written (writes that wrap around the 1024-byte ring included), and follow
# gives back exactly what the scenario sent both ways, for each of two connections a server
# accepted on one port (told apart by socket number), in every format; a trace whose payloads
# were stored cut is shown with what was stored and says what is missing, and raw refuses it.
# Prints "ok - NAME" / "not ok - NAME"; scripts/run-tests counts them.
set -u
vmcisim=${VMCISIM:-./vmcisim}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1${3:+: $3}"; fi; }

run() {     # run ARGS...: sets status; output in $work/out and $work/err
    "$vmcisim" "$@" >"$work/out" 2>"$work/err"
    status=$?
}
q() { sqlite3 "$1" "$2"; }

"$vmcisim" run tests/fixtures/capture_stream.lua -q --payload all --trace "$work/cs.db" \
    >/dev/null 2>&1
check "capture_stream runs and passes" $?
db=$work/cs.db

# The bytes the scenario sends, built from its pattern (not from the trace).
expected() {    # expected NAME CID SIDE: the bytes that side of NAME's connection wrote
    python3 -c '
import sys
name, cid, side = sys.argv[1], int(sys.argv[2]), sys.argv[3]
request = "".join("%s%05d\n" % (name[:4], index) for index in range(1, 301)).encode()
answer = request.upper() + b"END %010d\n" % cid
sys.stdout.buffer.write(request if side == "client" else answer)' "$1" "$2" "$3"
}
to_hex() { python3 -c 'import sys; print(sys.stdin.buffer.read().hex())'; }
vm_field() {    # vm_field FIELD INDEX: a field of the INDEX-th vm_create (0-based)
    q "$db" "SELECT json_extract(fields, '$.$1') FROM events WHERE kind = 'vm_create'
        ORDER BY seq LIMIT 1 OFFSET $2"
}

# Stored bytes: one qp_enqueue per write, each with exactly its bytes.
[ "$(q "$db" "SELECT count(*) FROM events WHERE kind = 'qp_enqueue'
    AND (payload IS NULL OR length(payload) != json_extract(fields, '$.bytes'))")" = 0 ] &&
    [ "$(q "$db" "SELECT count(*) FROM events WHERE kind = 'qp_enqueue'
        AND json_extract(fields, '$.position') < json_extract(fields, '$.bytes')")" -gt 0 ]
check "every qp_enqueue stores its bytes, writes that wrap the ring included" $?

for number in 1 2; do
    name=$(vm_field name $((number - 1)))
    cid=$(vm_field cid $((number - 1)))
    for side in client server; do
        expected "$name" "$cid" "$side" >"$work/want"
        run inspect "$db" follow "$number" "$side" --format raw
        [ "$status" -eq 0 ] && cmp -s "$work/want" "$work/out"
        check "follow $number $side --format raw equals what $name's $side sent" $? \
            "$status $(head -c 200 "$work/err") $(cmp "$work/want" "$work/out" 2>&1)"
    done
    # both ways as JSON rows: the data_hex of each side, in order, is that side's bytes
    run inspect "$db" follow "$number" --format json
    python3 - "$work/out" "$(expected "$name" "$cid" client | to_hex)" \
        "$(expected "$name" "$cid" server | to_hex)" >"$work/py" 2>&1 <<'EOF'
import json, sys
document = json.load(open(sys.argv[1]))
rows = document["rows"]
assert document["view"] == "follow" and document["row_count"] == len(rows)
for side, want in (("client", sys.argv[2]), ("server", sys.argv[3])):
    mine = [r for r in rows if r["side"] == side]
    assert "".join(r["data_hex"] for r in mine) == want, side
    offset = 0
    for row in mine:
        assert row["offset_bytes"] == offset and row["stored_bytes"] == row["bytes"], row
        offset += row["bytes"]
assert [r["seq"] for r in rows] == sorted(r["seq"] for r in rows)
print("ok")
EOF
    [ "$status" -eq 0 ] && [ "$(tail -n 1 "$work/py")" = ok ]
    check "follow $number --format json: rows in write order, offsets and bytes per side" $? \
        "$(tail -n 2 "$work/py")"
done

run inspect "$db" follow 1
head -n 2 "$work/out" >"$work/head"
[ "$status" -eq 0 ] &&
    grep -q "^connection 1: client alpha:1024 \[cid $(vm_field cid 0)\] <-> server host:7000" \
        "$work/head" && grep -q "^> client [0-9.]* 700 bytes at offset 0 (seq [0-9]*)$" \
        "$work/head" && grep -q "^< server [0-9.]* [0-9]* bytes at offset 0 " "$work/out" &&
    grep -qx "alph00001" "$work/out" && grep -qx "END $(printf %010d "$(vm_field cid 0)")" \
        "$work/out" && tail -n 2 "$work/out" | grep -qx \
        "client wrote 3000 bytes in 5 writes, all stored"
check "follow 1 (text): header, direction markers, the bytes, totals" $? \
    "$(head -n 3 "$work/out"; tail -n 2 "$work/out")"
run inspect "$db" follow 1 client --format hex
sed -n 3p "$work/out" >"$work/line"
[ "$status" -eq 0 ] && [ "$(cat "$work/line")" = \
    "00000000  61 6c 70 68 30 30 30 30 31 0a 61 6c 70 68 30 30  |alph00001.alph00|" ] &&
    ! grep -q "^< server" "$work/out"
check "follow 1 client --format hex: a hex dump of the client's writes only" $? \
    "$(head -n 3 "$work/out")"
columns="seq time_ns side offset_bytes bytes stored_bytes data_hex"
for format in tsv csv; do
    separator=$'\t'
    [ "$format" = csv ] && separator=,
    run inspect "$db" follow 2 --format "$format"
    [ "$status" -eq 0 ] &&
        [ "$(head -n 1 "$work/out" | tr -d '\r')" = "$(echo "$columns" | tr ' ' "$separator")" ]
    check "follow 2 --format $format: the documented columns" $? "$(head -n 1 "$work/out")"
done

# A trace that stored only the first 100 bytes of each write.
"$vmcisim" run tests/fixtures/capture_stream.lua -q --payload 100 --trace "$work/cut.db" \
    >/dev/null 2>&1
run inspect "$work/cut.db" follow 1
[ "$status" -eq 0 ] && grep -q "^\[600 of these 700 bytes were not stored in the trace" \
    "$work/out" && grep -q "^client wrote 3000 bytes in 5 writes; 2500 of them not stored" \
    "$work/out"
check "cut payloads: follow shows what was stored and says what is missing" $? \
    "$(grep -m 2 'not stored' "$work/out")"
run inspect "$work/cut.db" follow 1 --format json
python3 -c 'import json, sys
rows = json.load(open(sys.argv[1]))["rows"]
assert rows and all(r["stored_bytes"] == min(100, r["bytes"]) for r in rows)
assert all(len(r["data_hex"]) == 2 * r["stored_bytes"] for r in rows)
print("ok")' "$work/out" >"$work/py" 2>&1
[ "$(cat "$work/py")" = ok ]
check "cut payloads: json rows give stored_bytes below bytes" $? "$(cat "$work/py")"
run inspect "$work/cut.db" follow 1 --format raw
[ "$status" -eq 1 ] && [ ! -s "$work/out" ] && grep -q "were not stored .*--format raw needs" \
    "$work/err"
check "cut payloads: --format raw refuses (exit 1, nothing written)" $? \
    "$status $(cat "$work/err")"

# Usage and missing connections.
run inspect "$db" follow
[ "$status" -eq 2 ] && grep -q "missing the connection number" "$work/err"
check "follow without N is a usage error" $? "$status $(head -n 1 "$work/err")"
for bad in 0 x 1x; do
    run inspect "$db" follow "$bad"
    [ "$status" -eq 2 ]
    check "follow $bad is a usage error" $? "$status"
done
run inspect "$db" follow 1 both
[ "$status" -eq 2 ] && grep -q "'both' is not client or server" "$work/err"
check "follow 1 both is a usage error" $? "$status $(head -n 1 "$work/err")"
run inspect "$db" follow 3
[ "$status" -eq 1 ] && grep -q "no connection 3 (the trace has 2" "$work/err"
check "follow 3 on a trace with 2 connections is exit 1, saying so" $? "$(cat "$work/err")"
run inspect "$db" follow 1 --vm alpha
[ "$status" -eq 2 ]
check "follow with a filter is a usage error" $? "$status"
run inspect "$db" timeline --format raw
[ "$status" -eq 2 ] && grep -q "hex and raw apply to follow only" "$work/err"
check "--format raw on another view is a usage error" $? "$status $(head -n 1 "$work/err")"
