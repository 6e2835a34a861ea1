#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/inspect_format_test.sh: `vmcisim inspect --format text|tsv|csv|json` and the `stats`
# view (docs/cli.md, "inspect"; docs/trace-schema.md, "inspect --format json"). The JSON of
# every view, on traces of several scenarios, is checked against the schema block that
# docs/trace-schema.md documents (read from that file, so the two cannot drift apart) by a
# small hand-written checker; tsv and csv must carry the same columns and rows; text stays
# the default and unchanged; stats' figures are checked against the trace; damaged names and
# fields still give valid JSON. Prints "ok - NAME" / "not ok - NAME".
set -u
vmcisim=${VMCISIM:-./vmcisim}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1${3:+: $3}"; fi; }

run() {     # run ARGS...: sets status; output in $work/out and $work/err
    "$vmcisim" "$@" >"$work/out" 2>"$work/err"
    status=$?
}

# The schema block of docs/trace-schema.md, as JSON.
awk '/^```json inspect-schema$/ { on = 1; next } on && /^```$/ { exit } on' \
    docs/trace-schema.md >"$work/schema.json"
python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$work/schema.json"
check "docs/trace-schema.md has a schema block that is JSON" $?

# The checker: FILE VIEW -> "ok" or the first problem.
cat >"$work/check.py" <<'EOF'
import json, sys
schema = json.load(open(sys.argv[1]))
path, view = sys.argv[2], sys.argv[3]
KINDS = {"integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
         "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
         "string": lambda v: isinstance(v, str), "object": lambda v: isinstance(v, dict),
         "array": lambda v: isinstance(v, list), "null": lambda v: v is None}
def fits(value, types):
    return any(KINDS[t](value) for t in types.split("|"))
def problem():
    try:
        document = json.load(open(path, encoding="utf-8"))
    except Exception as error:
        return "not JSON: %s" % error
    if not isinstance(document, dict):
        return "not an object"
    envelope = schema["envelope"]
    if sorted(document) != sorted(envelope):
        return "keys %s, documented %s" % (sorted(document), sorted(envelope))
    for key, types in envelope.items():
        if not fits(document[key], types):
            return "%s is not %s" % (key, types)
    if document["format"] != "vmcisim-inspect" or document["version"] != schema["version"]:
        return "format %r version %r" % (document["format"], document["version"])
    if document["view"] != view:
        return "view %r" % document["view"]
    if document["row_count"] != len(document["rows"]):
        return "row_count %d for %d rows" % (document["row_count"], len(document["rows"]))
    columns = document["columns"]
    if view == "sql":
        types = {c: "integer|number|string|null" for c in columns}
    else:
        types = schema["views"][view]
        if columns != list(types):
            return "columns %s, documented %s" % (columns, list(types))
    for number, row in enumerate(document["rows"]):
        if not isinstance(row, dict) or list(row) != columns:
            return "row %d keys %s" % (number, list(row))
        for key, value in row.items():
            if not fits(value, types[key]):
                return "row %d: %s = %r is not %s" % (number, key, value, types[key])
    return None
found = problem()
print("ok %d" % len(json.load(open(path))["rows"]) if found is None else found)
EOF

for scenario in scenarios/guide_stream.lua scenarios/guide_dgram.lua \
    scenarios/lifecycle/resume_cid_change.lua scenarios/lifecycle/close_unread_hazard.lua \
    tests/fixtures/inspect_mix.lua; do
    name=$(basename "$scenario" .lua)
    "$vmcisim" run "$scenario" -q --trace "$work/$name.db" >/dev/null 2>&1
    [ -s "$work/$name.db" ]
    check "trace of $scenario written" $?
done

# Every view, every trace: the JSON fits the documented schema; tsv and csv have the same
# header and as many rows; text is the default.
for name in guide_stream guide_dgram resume_cid_change close_unread_hazard inspect_mix; do
    db=$work/$name.db
    for view in summary timeline connections sockets vms errors stats sql; do
        query=()
        [ "$view" = sql ] && query=("SELECT seq, time_ns / 1e9 AS time_s, kind, payload,
            json_extract(fields, '$.result') AS result FROM events ORDER BY seq")
        run inspect "$db" "$view" "${query[@]}" --format json
        cp "$work/out" "$work/$view.json"
        result=$(python3 "$work/check.py" "$work/schema.json" "$work/$view.json" "$view")
        [ "$status" -eq 0 ] && [ "${result%% *}" = ok ]
        check "$name $view --format json fits the documented schema (${result#ok })" $? \
            "$status $result $(head -c 300 "$work/err")"
        rows=${result#ok }
        run inspect "$db" "$view" "${query[@]}" --format tsv
        python3 - "$work/out" "$work/$view.json" "$rows" >"$work/py.out" 2>&1 <<'EOF'
import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
document = json.load(open(sys.argv[2]))
assert lines[-1] == "", "ends with a newline"
lines = lines[:-1]
assert lines[0].split("\t") == document["columns"], lines[0]
assert len(lines) - 1 == int(sys.argv[3]), (len(lines) - 1, sys.argv[3])
assert all(len(l.split("\t")) == len(document["columns"]) for l in lines), "ragged"
print("ok")
EOF
        check "$name $view --format tsv: same header, $rows rows, no ragged line" $? \
            "$(tail -n 1 "$work/py.out")"
        run inspect "$db" "$view" "${query[@]}" --format csv
        python3 - "$work/out" "$work/$view.json" >"$work/py.out" 2>&1 <<'EOF'
import csv, json, sys
document = json.load(open(sys.argv[2]))
with open(sys.argv[1], newline="", encoding="utf-8") as f:
    table = list(csv.reader(f))
assert table[0] == document["columns"], table[0]
assert len(table) - 1 == len(document["rows"]), (len(table) - 1, len(document["rows"]))
for line, row in zip(table[1:], document["rows"]):
    for text, (key, value) in zip(line, row.items()):
        want = "" if value is None else json.dumps(value, separators=(",", ":"),
            ensure_ascii=False) if isinstance(value, dict) else str(value)
        if isinstance(value, float):
            assert abs(float(text) - value) <= abs(value) * 1e-12, (key, text, value)
        else:
            assert text == want or (isinstance(value, dict) and json.loads(text) == value), \
                (key, text, want)
print("ok")
EOF
        check "$name $view --format csv: every value equals the JSON one" $? \
            "$(tail -n 1 "$work/py.out")"
        "$vmcisim" inspect "$db" "$view" "${query[@]}" >"$work/text.default" 2>&1
        "$vmcisim" inspect "$db" "$view" "${query[@]}" --format text >"$work/text.asked" 2>&1
        cmp -s "$work/text.default" "$work/text.asked"
        check "$name $view: --format text is the default output" $?
    done
done

# stats against the trace: guide_stream's one connection.
db=$work/guide_stream.db
run inspect "$db" connections --format json
cp "$work/out" "$work/connections.json"
run inspect "$db" stats --format json
python3 - "$work/out" "$work/connections.json" >"$work/py.out" 2>&1 <<'EOF'
import json, sys
rows = json.load(open(sys.argv[1]))["rows"]
connection = json.load(open(sys.argv[2]))["rows"][0]
c = [r for r in rows if r["scope"] == "connection"]
vms = {r["name"]: r for r in rows if r["scope"] == "vm"}
assert len(c) == 1, c
c = c[0]
assert c["number"] == 1 and c["name"] == "guest1:1024 -> host:15000", c
latency = connection["established_ns"] - connection["requested_ns"]
assert latency > 0 and c["connect_latency_ns"] == latency, (c, latency)
assert c["client_to_server_bytes"] == 20 and c["server_to_client_bytes"] == 20, c
assert c["sent_bytes"] == 40 and c["received_bytes"] == 40 and c["lost_bytes"] == 0, c
assert c["undelivered_bytes"] == 0 and c["lost_why"] is None, c
assert c["end"] == "closed by server", c
stop = max(connection["client_closed_ns"], connection["server_closed_ns"])
assert c["duration_ns"] == stop - connection["established_ns"], c
assert c["throughput_bytes_per_s"] == 40 * 10**9 // c["duration_ns"], c
assert sorted(vms) == ["guest1", "host"], vms
assert vms["guest1"]["connections"] == 1 and vms["guest1"]["sockets"] == 1, vms
assert vms["guest1"]["connect_latency_ns"] == latency, vms
assert vms["host"]["connect_latency_ns"] is None and vms["host"]["sockets"] == 2, vms
assert vms["host"]["sent_bytes"] == 20 and vms["host"]["received_bytes"] == 20, vms
print("ok")
EOF
check "stats guide_stream: latency, bytes each way, duration, throughput, end; per VM" $? \
    "$(tail -n 3 "$work/py.out")"
run inspect "$db" stats
grep -qE '^    1  guest1:1024 -> host:15000 +0\.000002600 ' "$work/out" &&
    grep -qE '^  guest1 +1 +1 +20 +20 +0 +0\.000002600$' "$work/out" &&
    grep -qx '1 stream connections (of 1), 2 endpoints' "$work/out"
check "stats in text: a line per connection and per endpoint, then the counts" $? \
    "$(cat "$work/out")"
run inspect "$db" stats --vm guest1 --format json
python3 -c 'import json, sys; rows = json.load(open(sys.argv[1]))["rows"]
assert [r["name"] for r in rows if r["scope"] == "vm"] == ["guest1"], rows' "$work/out"
check "stats --vm guest1 keeps guest1's row only" $?

# Losses: close_unread_hazard closes with bytes unread; stats says how many and why.
run inspect "$work/close_unread_hazard.db" stats --format json
python3 - "$work/out" >"$work/py.out" 2>&1 <<'EOF'
import json, sys
rows = [r for r in json.load(open(sys.argv[1]))["rows"] if r["scope"] == "connection"]
lost = [r for r in rows if r["lost_bytes"] > 0]
assert lost and all(r["lost_why"] and "unread" in r["lost_why"] for r in lost), rows
assert all(r["undelivered_bytes"] >= r["lost_bytes"] for r in rows), rows
print("ok", sum(r["lost_bytes"] for r in lost))
EOF
check "stats close_unread_hazard: lost bytes with their reason" $? "$(tail -n 2 "$work/py.out")"

# sql keeps SQLite's types.
run inspect "$db" sql "SELECT 1 AS i, 2.5 AS r, 'a,b\"c' AS t, NULL AS n, x'00ff' AS b" \
    --format json
python3 -c 'import json, sys; d = json.load(open(sys.argv[1]))
assert d["rows"] == [{"i": 1, "r": 2.5, "t": "a,b\"c", "n": None, "b": "x'"'"'00ff'"'"'"}], d
' "$work/out"
check "sql --format json: integer, real, text, null and blob values" $? "$(cat "$work/out")"
run inspect "$db" sql "SELECT 'a,b\"c' AS t, NULL AS n, 'x	y' AS tab" --format csv
[ "$(cat "$work/out")" = "$(printf 't,n,tab\r\n"a,b""c",,x\ty\r')" ]
check "csv quotes a comma and a quote, leaves NULL empty" $? "$(od -c "$work/out" | head -3)"
run inspect "$db" sql "SELECT 'x	y' AS tab, NULL AS n" --format tsv
[ "$(cat "$work/out")" = "$(printf 'tab\tn\nx\\ty\t\\N')" ]
check "tsv escapes a tab and writes NULL as \\N" $? "$(cat "$work/out")"

# Bad uses.
run inspect "$db" --format yaml
[ "$status" -eq 2 ] && grep -q "not text, tsv, csv or json" "$work/err"
check "--format yaml is a usage error" $? "$status $(head -n 1 "$work/err")"
run inspect "$db" stats --layer api
[ "$status" -eq 2 ]
check "stats --layer is a usage error (it is not an event view)" $? "$status"

# A damaged trace: a name that is not UTF-8 still gives valid JSON (U+FFFD in its place).
cp "$db" "$work/damaged.db"
sqlite3 "$work/damaged.db" "UPDATE events SET fields = '{\"name\":\"gu' || CAST(x'ffc3' AS TEXT)
    || 'st1\",\"cid\":' || json_extract(fields, '$.cid') || '}' WHERE kind = 'vm_create'"
for view in summary timeline connections sockets vms stats; do
    run inspect "$work/damaged.db" "$view" --format json
    result=$(python3 "$work/check.py" "$work/schema.json" "$work/out" "$view")
    [ "$status" -eq 0 ] && [ "${result%% *}" = ok ]
    check "name not UTF-8: $view --format json is still valid and fits the schema" $? \
        "$status $result $(head -c 200 "$work/err")"
done
run inspect "$work/damaged.db" vms --format json
python3 -c 'import json, sys; rows = json.load(open(sys.argv[1]))["rows"]
assert [r["name"] for r in rows if r["event"] == "vm_create"] == ["gu\ufffd\ufffdst1"], rows
' "$work/out"
check "name not UTF-8: each bad byte is U+FFFD" $? "$(head -c 400 "$work/out")"
# Fields that are not JSON: refused with a message, as the text views do, and no output.
cp "$db" "$work/broken.db"
sqlite3 "$work/broken.db" "UPDATE events SET fields = '{not json' WHERE seq = 5"
run inspect "$work/broken.db" timeline --format json
[ "$status" -eq 1 ] && [ ! -s "$work/out" ] && grep -q "malformed JSON" "$work/err"
check "fields not JSON: exit 1 with SQLite's message, nothing on stdout" $? \
    "$status $(head -c 200 "$work/out") $(cat "$work/err")"
