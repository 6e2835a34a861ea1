#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/export_test.sh: `vmcisim export` seen from outside (docs/cli.md, "export"): traces of
# real scenarios exported as pcap (read back by tshark), Perfetto JSON (read back by Python's
# json module) and Mermaid; the error cases and their exit codes; byte-identical output.
# Prints "ok - NAME" / "not ok - NAME"; scripts/run-tests counts them.
set -u
vmcisim=${VMCISIM:-./vmcisim}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

check() {   # check NAME CONDITION-STATUS [DETAIL]
    if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1${3:+: $3}"; fi
}

run() {     # run ARGS...: sets status, out, err
    "$vmcisim" "$@" >"$work/out" 2>"$work/err"
    status=$?
    out=$(cat "$work/out")
    err=$(cat "$work/err")
}

q() {       # q DB SQL: one value from a trace
    sqlite3 "$1" "$2"
}

# tshark, minus its warning about running as root (not an error of the file).
tshark_read() {
    tshark "$@" 2>"$work/tshark.err"
    local rc=$?
    grep -v 'Running as user' "$work/tshark.err" >"$work/tshark.err2"
    return $rc
}

for scenario in guide_stream guide_dgram lifecycle/resume_cid_change; do
    name=$(basename "$scenario")
    "$vmcisim" run "scenarios/$scenario.lua" -q --trace "$work/$name.db" >/dev/null 2>&1
    check "trace of $scenario written" $?
done
S=$work/guide_stream.db
D=$work/guide_dgram.db
R=$work/resume_cid_change.db

# ---- pcap -----------------------------------------------------------------------------
for name in guide_stream guide_dgram resume_cid_change; do
    run export "$work/$name.db" --format pcap -o "$work/$name.pcap"
    check "pcap export of $name exits 0" "$status" "$err"
done
[ "$(od -An -tx1 -N4 "$work/guide_stream.pcap" | tr -d ' ')" = "4d3cb2a1" ]
check "pcap has the nanosecond libpcap magic" $?

if ! command -v tshark >/dev/null 2>&1; then
    check "tshark is installed (scripts/install-deps installs it)" 1
else
    for name in guide_stream guide_dgram resume_cid_change; do
        db=$work/$name.db
        # pkt_send + qp_enqueue that moved bytes + datagrams routed between endpoints.
        expected=$(q "$db" "SELECT
            (SELECT count(*) FROM events WHERE kind = 'pkt_send')
          + (SELECT count(*) FROM events WHERE kind = 'qp_enqueue'
               AND json_extract(fields, '$.bytes') > 0)
          + (SELECT count(*) FROM events WHERE kind = 'dg_route'
               AND json_extract(fields, '$.result') >= 0
               AND json_extract(fields, '$.src_cid') != 0 AND json_extract(fields, '$.dst_cid') != 0
               AND json_extract(fields, '$.src_rid') != 1
               AND json_extract(fields, '$.dst_rid') != 1)")
        tshark_read -r "$work/$name.pcap" >"$work/$name.tshark"
        rc=$?
        [ "$rc" -eq 0 ] && [ ! -s "$work/tshark.err2" ]
        check "tshark reads $name.pcap without errors" $? \
            "status $rc: $(head -c 300 "$work/tshark.err2")"
        got=$(wc -l <"$work/$name.tshark")
        [ "$expected" -gt 0 ] && [ "$got" -eq "$expected" ]
        check "tshark shows every packet of $name ($expected)" $? "got $got"
        ! grep -qiE 'malformed|exception' "$work/$name.tshark"
        check "tshark dissects every packet of $name as vSocket" $?
    done

    fields="-T fields -e frame.time_epoch -e vsock.src_cid -e vsock.src_port -e vsock.dst_cid \
-e vsock.dst_port -e vsock.op -e frame.len -e frame.cap_len -e vsock.payload"
    # shellcheck disable=SC2086
    tshark_read -r "$work/guide_stream.pcap" $fields >"$work/stream.fields"
    cid=$(q "$S" "SELECT cid FROM (SELECT json_extract(fields, '$.cid') AS cid FROM events
                  WHERE kind = 'vm_create')")
    first=$(head -n 1 "$work/stream.fields")
    request2=010b010000040000983a00000000000000000100000000000000000000000000
    [ "$first" = "$(printf '0.000007008\t%s\t1024\t2\t15000\t1\t64\t64\t' "$cid")$request2" ]
    check "first packet: REQUEST2 from the guest's 1024 to host:15000 at 7008 ns, re-encoded" $? \
        "$first"
    ops=$(cut -f6 "$work/stream.fields" | sort | uniq -c | tr -s ' ' | tr '\n' ',')
    [ "$ops" = " 4 1, 2 3, 2 4," ]
    check "guide_stream: 4 CONNECT, 2 CONTROL (WROTE), 2 PAYLOAD records" $? \
        "$(cut -f6 "$work/stream.fields" | tr '\n' ' ')"
    hello=48656c6c6f2066726f6d20746865206775657374      # "Hello from the guest"
    grep -qP "^[0-9.]+\t2\t15000\t$cid\t1024\t4\t52\t52\t$hello$" "$work/stream.fields"
    check "the host's 20-byte stream write goes to the guest's port, with its bytes" $?
    grep -qP "^[0-9.]+\t$cid\t1024\t2\t15000\t4\t52\t52\t$hello$" "$work/stream.fields"
    check "the guest's 20-byte stream write goes to host:15000, with its bytes" $?

    # shellcheck disable=SC2086
    tshark_read -r "$work/guide_dgram.pcap" $fields >"$work/dgram.fields"
    [ "$(cut -f9 "$work/dgram.fields" | tr '\n' ' ')" = \
      "68656c6c6f 48454c4c4f 776f726c64 574f524c44 " ]
    check "guide_dgram: the datagrams both ways carry hello, HELLO, world, WORLD" $? \
        "$(cut -f9 "$work/dgram.fields" | tr '\n' ' ')"
    [ "$(cut -f7,8 "$work/dgram.fields" | sort -u | tr '\n' ' ')" = "37	37 " ]
    check "guide_dgram: 5-byte datagrams are 37 bytes on the wire, all captured" $?
fi

# ---- perfetto -------------------------------------------------------------------------
for name in guide_stream resume_cid_change; do
    run export "$work/$name.db" --format perfetto -o "$work/$name.json"
    check "perfetto export of $name exits 0" "$status" "$err"
    events=$(q "$work/$name.db" "SELECT count(*) FROM events")
    python3 - "$work/$name.json" "$events" >"$work/py.out" 2>&1 <<'EOF'
import json, sys
trace = json.load(open(sys.argv[1], encoding="utf-8"))
events = trace["traceEvents"]
instants = [e for e in events if e["ph"] == "i"]
begins = sum(1 for e in events if e["ph"] == "B")
ends = sum(1 for e in events if e["ph"] == "E")
names = sorted(e["args"]["name"] for e in events if e.get("name") == "process_name")
threads = sorted(e["args"]["name"] for e in events if e.get("name") == "thread_name")
seqs = [e["args"]["seq"] for e in instants]
print(len(instants), int(sys.argv[2]), begins, ends, seqs == sorted(seqs))
print("|".join(names))
print("|".join(threads))
EOF
    check "perfetto JSON of $name is valid" $? "$(head -c 300 "$work/py.out")"
    read -r instants stored begins ends ordered <"$work/py.out"
    [ "$instants" = "$stored" ] && [ "$ordered" = "True" ]
    check "perfetto $name: one instant per trace event, in seq order ($stored)" $? \
        "$(head -n 1 "$work/py.out")"
    [ "$begins" = "$ends" ] && [ "$begins" -gt 0 ]
    check "perfetto $name: every blocking slice has a begin and an end" $? "B $begins E $ends"
done
cid=$(q "$S" "SELECT json_extract(fields, '$.cid') FROM events WHERE kind = 'vm_create'")
python3 - "$work/guide_stream.json" >"$work/py.out" 2>&1 <<'EOF'
import json, sys
events = json.load(open(sys.argv[1], encoding="utf-8"))["traceEvents"]
print("|".join(sorted(e["args"]["name"] for e in events if e.get("name") == "process_name")))
threads = [e["args"]["name"] for e in events if e.get("name") == "thread_name"]
print("|".join(sorted(t for t in threads if not t.startswith("connection #"))))
print("|".join(sorted(t for t in threads if t.startswith("connection #"))))
EOF
[ "$(sed -n 1p "$work/py.out")" = "guest1 (cid $cid)|host (cid 2)" ]
check "perfetto guide_stream: a process per endpoint, named with its CID" $? \
    "$(sed -n 1p "$work/py.out")"
[ "$(sed -n 2p "$work/py.out")" = "client (pid 2)|kernel|kernel|server (pid 1)" ]
check "perfetto guide_stream: a thread per simulated process and a kernel thread" $? \
    "$(sed -n 2p "$work/py.out")"
[ "$(sed -n 3p "$work/py.out")" = \
  "connection #1 client (port 1024)|connection #1 server (port 15000)" ]
check "perfetto guide_stream: a thread per side of connection #1" $? "$(sed -n 3p "$work/py.out")"

# Causality: flows pair up (one start, one end per id, the end not before the start), every
# slice nests on its track (B/E balanced like brackets, X slices never overlap partly), and
# each connection side is one slice from the connect (or attach) to that side's close.
"$vmcisim" run tests/fixtures/twenty_guests.lua -q --trace "$work/twenty.db" >/dev/null 2>&1
check "trace of tests/fixtures/twenty_guests.lua written" $?
for name in guide_stream guide_dgram twenty; do
    run export "$work/$name.db" --format perfetto -o "$work/$name.flows.json"
    check "perfetto export of $name with flows exits 0" "$status" "$err"
    python3 - "$work/$name.flows.json" >"$work/py.out" 2>&1 <<'EOF'
import collections, json, sys
events = json.load(open(sys.argv[1], encoding="utf-8"))["traceEvents"]
flows = collections.defaultdict(list)
for e in events:
    if e["ph"] in ("s", "f"):
        flows[e["id"]].append(e)
def bad(pair):
    phases = sorted(p["ph"] for p in pair)
    if phases != ["f", "s"]:
        return True
    start = [p for p in pair if p["ph"] == "s"][0]
    end = [p for p in pair if p["ph"] == "f"][0]
    return start["ts"] > end["ts"] or start["name"] != end["name"] or end.get("bp") != "e"
unpaired = sum(1 for pair in flows.values() if bad(pair))
names = collections.Counter(pair[0]["name"] for pair in flows.values())
tracks = collections.defaultdict(list)
for e in events:
    if e["ph"] in ("B", "E", "X"):
        tracks[(e["pid"], e["tid"])].append(e)
nest_errors = 0
for key, items in tracks.items():
    depth = 0
    for e in items:
        depth += 1 if e["ph"] == "B" else -1 if e["ph"] == "E" else 0
        nest_errors += depth < 0
    nest_errors += depth != 0
    spans = sorted((e["ts"], e["ts"] + e["dur"]) for e in items if e["ph"] == "X")
    for (s1, e1), (s2, e2) in zip(spans, spans[1:]):
        nest_errors += s2 < e1 and e2 > e1
connections = [e for e in events if e["ph"] == "X" and e.get("cat") == "connection"]
print(len(flows), unpaired, nest_errors, len(connections),
      names["WROTE"], names["interrupt"], names["datagram"], names["REQUEST2"])
EOF
    check "perfetto $name: the flow check ran" $? "$(head -c 300 "$work/py.out")"
    read -r flow_count unpaired nest_errors slices wrote interrupts datagrams requests \
        <"$work/py.out"
    [ "$flow_count" -gt 0 ] && [ "$unpaired" -eq 0 ]
    check "perfetto $name: $flow_count flows, each with one start and one end" $? \
        "$(cat "$work/py.out")"
    [ "$nest_errors" -eq 0 ]
    check "perfetto $name: slices nest on every track" $? "$(cat "$work/py.out")"
    case $name in       # connection slices, WROTE flows, REQUEST2 flows, any interrupt flow
    guide_stream) expected="2 2 1 1" ;;
    twenty) expected="80 240 40 1" ;;
    guide_dgram) expected="0 0 0 1" ;;
    esac
    has_interrupts=$([ "$interrupts" -gt 0 ] && echo 1 || echo 0)
    [ "$slices $wrote $requests $has_interrupts" = "$expected" ]
    check "perfetto $name: connection slices, WROTE, REQUEST2 and interrupt flows ($expected)" \
        $? "$slices $wrote $requests $has_interrupts"
    if [ "$name" = guide_dgram ]; then
        [ "$datagrams" -eq 4 ]
        check "perfetto guide_dgram: an arrow per routed datagram (4)" $? "$datagrams"
    fi
done
python3 - "$work/resume_cid_change.json" >"$work/py.out" 2>&1 <<'EOF'
import json, sys
events = json.load(open(sys.argv[1], encoding="utf-8"))["traceEvents"]
names = {e["pid"]: e["args"]["name"] for e in events if e.get("name") == "process_name"}
resumed = [e for e in events if e.get("name") == "vm_resume"]
print("|".join(sorted(names.values())), names[resumed[0]["pid"]])
EOF
[ "$(cat "$work/py.out")" = "host (cid 2)|vmA (cid 4000)|vmB (cid 4000) vmA (cid 4000)" ]
check "perfetto resume_cid_change: vmA resumed under a new CID stays vmA's process" $? \
    "$(cat "$work/py.out")"

# ---- mermaid --------------------------------------------------------------------------
run export "$S" --format mermaid -o "$work/stream.mmd"
check "mermaid export exits 0" "$status" "$err"
[ "$(head -n 1 "$work/stream.mmd")" = "sequenceDiagram" ]
check "mermaid starts with sequenceDiagram" $?
[ "$(grep -c '^    participant ' "$work/stream.mmd")" -eq 2 ] &&
    grep -q "^    participant P1 as host (cid 2)$" "$work/stream.mmd" &&
    grep -q "^    participant P2 as guest1 (cid $cid)$" "$work/stream.mmd"
check "mermaid participants are the host and guest1" $? "$(grep participant "$work/stream.mmd")"
sends=$(q "$S" "SELECT count(*) FROM events WHERE kind = 'pkt_send'")
[ "$(grep -c -- '->>' "$work/stream.mmd")" -eq "$sends" ]
check "mermaid has one arrow per control packet ($sends)" $?
grep -q '^    P2->>P1: REQUEST2 1024 to 15000 at 7.008us$' "$work/stream.mmd" &&
    grep -q '^    P1->>P2: NEGOTIATE2 15000 to 1024 at 7.308us$' "$work/stream.mmd"
check "mermaid arrows name the type, the ports and the time" $?
run export "$D" --format mermaid -o "$work/dgram.mmd"
[ "$(grep -c -- '-)' "$work/dgram.mmd")" -eq 4 ]
check "mermaid has an open arrow per datagram (4)" $?
total=$(grep -cE '^    (P[0-9]+-|Note)' "$work/stream.mmd")
run export "$S" --format mermaid -o "$work/bounded.mmd" --max-messages 5
[ "$(grep -cE '^    (P[0-9]+-|Note)' "$work/bounded.mmd")" -eq 6 ] &&
    tail -n 1 "$work/bounded.mmd" | grep -q "Note over P1: $((total - 5)) more messages left out"
check "--max-messages 5 keeps 5 messages and says how many were left out" $? \
    "$(tail -n 1 "$work/bounded.mmd")"

# A 20-guest run: its whole diagram is about twice mermaid.live's 50 000 characters; the
# default export stops in time and says what it left out; --connection draws one connection.
run export "$work/twenty.db" --format mermaid -o "$work/twenty.mmd"
size=$(wc -c <"$work/twenty.mmd")
[ "$status" -eq 0 ] && [ "$size" -le 50000 ] && [ "$size" -gt 40000 ] &&
    tail -n 1 "$work/twenty.mmd" | grep -qE \
    '^    Note over P1: [0-9]+ more messages left out \(at most 2000 messages and 50000 characters'
check "mermaid of 20 guests fits in 50 000 characters ($size) and says what it left out" $? \
    "$(tail -n 1 "$work/twenty.mmd")"
run export "$work/twenty.db" --format mermaid -o "$work/whole.mmd" --max-messages 100000
[ "$(wc -c <"$work/whole.mmd")" -le 50000 ]
check "the character bound holds when the message bound is raised" $?
run export "$work/twenty.db" --format mermaid -o "$work/one.mmd" --connection 7
client=$(q "$work/twenty.db" "SELECT json_extract(fields, '$.src') FROM events
    WHERE kind = 'pkt_send' AND json_extract(fields, '$.type') = 'REQUEST2' ORDER BY seq
    LIMIT 1 OFFSET 6")
[ "$status" -eq 0 ] && [ "$(grep -c '^    participant ' "$work/one.mmd")" -eq 2 ] &&
    [ "$(grep -c 'REQUEST2' "$work/one.mmd")" -eq 1 ] &&
    grep -q "REQUEST2 $((client & 0xffffffff)) to 16000" "$work/one.mmd" &&
    [ "$(grep -c 'WROTE' "$work/one.mmd")" -eq 6 ] && ! grep -q 'left out' "$work/one.mmd"
check "--connection 7 draws connection 7 only (2 participants, 1 REQUEST2, 6 WROTE)" $? \
    "$status $err $(head -c 600 "$work/one.mmd")"
run export "$work/twenty.db" --format mermaid -o "$work/none.mmd" --connection 41
[ "$status" -eq 1 ] && [ ! -e "$work/none.mmd" ] && grep -q "no connection 41" "$work/err"
check "--connection 41 of 40: exit 1, no output, says so" $? "$status $err"
run export "$work/twenty.db" --format pcap -o "$work/x.pcap" --connection 1
[ "$status" -eq 2 ]
check "--connection with pcap is a usage error" $? "$status $err"
# --max-messages is Mermaid's alone, as --connection is: with pcap or perfetto it was accepted
# and ignored (exit 0, a file without the bound the command line asked for).
for format in pcap perfetto; do
    run export "$work/twenty.db" --format "$format" -o "$work/bounded_other.$format" --max-messages 5
    [ "$status" -eq 2 ] && [ ! -e "$work/bounded_other.$format" ] &&
        grep -qF -- "--max-messages applies to --format mermaid" "$work/err"
    check "--max-messages with $format is a usage error naming the format it applies to" $? \
        "$status $err"
done

# ---- windows --------------------------------------------------------------------------
run export "$S" --format pcap -o "$work/window.pcap" --from 9us --to 10us
if command -v tshark >/dev/null 2>&1; then
    [ "$(tshark -r "$work/window.pcap" 2>/dev/null | wc -l)" -eq 2 ]
    check "--from 9us --to 10us keeps OFFER and ATTACH only" $?
else
    check "--from 9us --to 10us keeps OFFER and ATTACH only (tshark reads the window)" 1 \
        "tshark is not installed (scripts/install-deps installs it)"
fi

# ---- determinism ----------------------------------------------------------------------
"$vmcisim" run scenarios/guide_stream.lua -q --trace "$work/again.db" >/dev/null 2>&1
for format in pcap perfetto mermaid; do
    "$vmcisim" export "$S" --format "$format" -o "$work/one.$format" &&
        "$vmcisim" export "$work/again.db" --format "$format" -o "$work/two.$format" &&
        cmp -s "$work/one.$format" "$work/two.$format"
    check "two runs of guide_stream export to byte-identical $format" $?
done
ls "$work"/guide_stream.db-* >/dev/null 2>&1
check "exporting leaves no -wal or -shm beside the trace" $((!$?))

# ---- errors ---------------------------------------------------------------------------
expect_exit() {  # expect_exit NAME CODE STDERR-PATTERN ARGS...
    local name=$1 code=$2 pattern=$3
    shift 3
    run "$@"
    [ "$status" -eq "$code" ]
    check "$name exits $code" $? "got $status; stderr: $(head -c 300 "$work/err")"
    grep -qE -- "$pattern" "$work/err"
    check "$name names the cause on stderr" $? "no /$pattern/ in: $(head -c 300 "$work/err")"
}
echo "not a database at all, just some text that is long enough" >"$work/junk.db"
sqlite3 "$work/foreign.db" "CREATE TABLE t(a)"
head -c 8192 "$S" >"$work/truncated.db"
expect_exit "missing trace" 1 "no_such.db: cannot open: No such file" \
    export "$work/no_such.db" --format pcap -o "$work/x.pcap"
expect_exit "not a database" 1 "junk.db: not a vmcisim trace \(not an SQLite database\)" \
    export "$work/junk.db" --format perfetto -o "$work/x.json"
expect_exit "foreign SQLite database" 1 "foreign.db: not a vmcisim trace \(no meta" \
    export "$work/foreign.db" --format mermaid -o "$work/x.mmd"
expect_exit "truncated trace" 1 "truncated.db.*(corrupt|malformed|not a)" \
    export "$work/truncated.db" --format perfetto -o "$work/x.json"
[ ! -e "$work/x.pcap" ] && [ ! -e "$work/x.json" ] && [ ! -e "$work/x.mmd" ]
check "a failed export leaves no output file" $?
expect_exit "unwritable output" 1 "cannot write .*no/such/dir.pcap" \
    export "$S" --format pcap -o "$work/no/such/dir.pcap"
expect_exit "output is the trace" 1 "it is the trace being exported" \
    export "$S" --format pcap -o "$S"
expect_exit "unknown format" 2 "unknown format 'pcapng'.*" export "$S" --format pcapng -o x
grep -q "usage: vmcisim" "$work/err"
check "a usage error prints the usage on stderr" $?
expect_exit "missing -o" 2 "missing -o OUT" export "$S" --format pcap
expect_exit "missing --format" 2 "missing --format" export "$S" -o "$work/x.pcap"
expect_exit "missing trace argument" 2 "missing FILE.db" export --format pcap -o "$work/x.pcap"
expect_exit "bad --from" 2 "--from" export "$S" --format pcap -o "$work/x.pcap" --from soon
expect_exit "--from after --to" 2 "--from is after --to" \
    export "$S" --format pcap -o "$work/x.pcap" --from 2ms --to 1ms
expect_exit "unknown option" 2 "unknown option" export "$S" --format pcap -o x --colour

# A trace written below the vmci layer (--trace-level api or transport) lacks events every
# format draws on (control packets, stream writes, datagrams): the export still writes what
# the trace has (exit 0) but says so on stderr, instead of a silently empty or partial file.
"$vmcisim" run scenarios/hello.lua -q --trace "$work/api.db" --trace-level api >/dev/null 2>&1
"$vmcisim" run scenarios/hello.lua -q --trace "$work/transport.db" --trace-level transport \
    >/dev/null 2>&1
for level in api transport; do
    for format in pcap perfetto mermaid; do
        run export "$work/$level.db" --format $format -o "$work/$level.$format"
        [ "$status" -eq 0 ] && echo "$err" | grep -qF "warning: $work/$level.db was written with\
 --trace-level $level"
        check "export $format of a --trace-level $level trace warns that it lacks layers" $? \
            "status $status: $err"
    done
done
run export "$work/api.db" --format pcap -o "$work/api2.pcap"
[ "$(tshark_read -r "$work/api2.pcap" | wc -l)" -eq 0 ] && [ -s "$work/api2.pcap" ]
check "the api-level trace's pcap is written, empty" $?
"$vmcisim" run scenarios/hello.lua -q --trace "$work/vmci.db" --trace-level vmci >/dev/null 2>&1
run export "$work/vmci.db" --format pcap -o "$work/vmci.pcap"
[ "$status" -eq 0 ] && [ -z "$err" ]
check "a vmci-level trace exports without a warning" $? "$err"
# A full device: every format names the cause (perfetto's output, larger than the stream's
# buffer, said "Input/output error": the failed write's errno was lost by the time it was
# reported).
if [ -w /dev/full ]; then
    for format in pcap perfetto mermaid; do
        run export "$S" --format $format -o /dev/full
        [ "$status" -eq 1 ] && printf '%s\n' "$err" | grep -q "cannot write /dev/full: No space left on device"
        check "$format to a full device says 'No space left on device' (exit 1)" $? "$status: $err"
    done
fi
