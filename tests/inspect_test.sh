#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/inspect_test.sh: `vmcisim inspect` (docs/cli.md, "inspect") on traces of
# tests/fixtures/inspect_mix.lua and scenarios/lifecycle/resume_cid_change.lua: each view's
# content against counts taken from the database with sqlite3, the filters, `sql`, and the
# error cases (exit 1 for files, 2 for arguments). Prints "ok - NAME" / "not ok - NAME".
set -u
vmcisim=${VMCISIM:-./vmcisim}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1${3:+: $3}"; fi; }

run() {     # run ARGS...: sets status; output in $work/out and $work/err
    "$vmcisim" "$@" >"$work/out" 2>"$work/err"
    status=$?
}
q() { sqlite3 "$db" "$1"; }

db="$work/mix.db"
"$vmcisim" run tests/fixtures/inspect_mix.lua --trace "$db" -q >/dev/null 2>&1
[ -s "$db" ]
check "inspect_mix.lua writes a trace" $?
G2=$(q "SELECT ctx FROM events
    WHERE kind = 'vm_create' AND json_extract(fields, '\$.name') = 'guest2'")

# summary
run inspect "$db"
[ "$status" -eq 0 ] && grep -qx "scenario     tests/fixtures/inspect_mix.lua" "$work/out" &&
    grep -qx "digest       $(q "SELECT value FROM meta WHERE key = 'digest'")" "$work/out"
check "summary (the default view) shows the scenario and the digest from meta" $?
events=$(q "SELECT count(*) FROM events")
grep -q "^events       $events stored" "$work/out"
check "summary counts the $events stored events" $? "$(grep '^events' "$work/out")"
grep -qx "endpoints    2 VMs, 1 host, 12 processes, 13 sockets, 5 stream connections" "$work/out"
check "summary counts VMs, processes, sockets and connections" $? "$(grep '^endpoints' "$work/out")"
last=$(q "SELECT printf('%d.%09d', max(time_ns) / 1000000000, max(time_ns) % 1000000000)
    FROM events")
grep -q "^run length   ${last}s" "$work/out"
check "summary's run length is the last event's time ($last s)" $?
api=$(q "SELECT count(*) FROM events WHERE layer = 'api'")
resumes=$(q "SELECT count(*) FROM events WHERE kind = 'proc_resume'")
grep -q "^layers       api $api transport" "$work/out" &&
    grep -qE "^ +$resumes  api +proc_resume$" "$work/out"
check "summary counts per layer (api $api) and per kind (proc_resume $resumes)" $?
grep -qE "^  \.\.\. [0-9]+ more kinds with [0-9]+ events \(not shown" "$work/out"
check "summary says how many kinds it leaves out" $?

# timeline
run inspect "$db" timeline
[ "$status" -eq 0 ] && [ "$(($(wc -l <"$work/out") - 2))" -eq "$events" ] &&
    tail -n 1 "$work/out" | grep -qx "$events events"
check "timeline prints every event, a header and a count line" $?
pattern="^ +[0-9]+  0\.[0-9]{9}  [0-9]+/[0-9]+ +guest1/c100 +transport pkt_send"
grep -qE "$pattern +type=REQUEST2 src=[0-9]+:1024 dst=2:6000 " "$work/out"
check "timeline shows who, layer, kind and packet addresses as cid:port" $?
n=$(q "SELECT count(*) FROM events WHERE layer IN ('api', 'transport')")
run inspect "$db" timeline --layer transport
[ "$(($(wc -l <"$work/out") - 2))" -eq "$n" ] && ! grep -qE " (vmci|device) " "$work/out"
check "--layer transport keeps api and transport events ($n)" $?
n=$(q "SELECT count(*) FROM events WHERE time_ns BETWEEN 200000 AND 400000")
run inspect "$db" timeline --from 200us --to 0.4ms
[ "$(($(wc -l <"$work/out") - 2))" -eq "$n" ]
check "--from 200us --to 0.4ms keeps the $n events in that window" $?
n=$(q "SELECT count(*) FROM events WHERE ctx = $G2")
run inspect "$db" timeline --vm guest2
[ "$status" -eq 0 ] && [ "$(($(wc -l <"$work/out") - 2))" -eq "$n" ] &&
    ! grep -qE "guest1|host/" "$work/out"
check "--vm guest2 keeps the $n events of its CID" $?

# connections
run inspect "$db" connections
[ "$status" -eq 0 ] && tail -n 1 "$work/out" | grep -qx "5 stream connections (of 5 in the trace)"
check "connections finds the 5 connections (4 served, 1 refused)" $?
for size in 100 200 300 400; do
    grep -q "bytes client->server $size sent, $size received; server->client 3 sent, 3 received" \
        "$work/out"
    check "connections matches the $size-byte client with the handler that counted $size" $?
done
grep -A3 "^#5 guest1:1026 (failures)" "$work/out" | grep -q "established -" &&
    grep -A3 "^#5 " "$work/out" | grep -q "end: refused (RST from server)"
check "a connect to a port without listener ends refused by RST" $?
grep -A3 "^#4 guest2:1025 (c400)" "$work/out" | grep -q "client saw detach R206" &&
    grep -A3 "^#4 " "$work/out" | grep -q "end: peer_detach R171 seen by server"
check "the suspend of guest2 ends #4 (host peer_detach R171, guest qp_resumed R206)" $?
grep -A3 "^#1 guest1:1024 (c100)" "$work/out" | grep -q "end: closed by server"
check "#1 ends when the server closes" $?
run inspect "$db" connections --vm guest2
tail -n 1 "$work/out" | grep -qx "2 stream connections (of 5 in the trace)"
check "connections --vm guest2 keeps its 2 connections" $?
run inspect "$db" connections --from 1ms
tail -n 1 "$work/out" | grep -qx "2 stream connections (of 5 in the trace)"
check "connections --from 1ms keeps those that last until then (#4, #5)" $?

# sockets
run inspect "$db" sockets
n=$(q "SELECT count(*) FROM events WHERE kind = 'sock_socket'")
[ "$status" -eq 0 ] && tail -n 1 "$work/out" | grep -qx "13 sockets (of 13 in the trace)"
check "sockets: 9 from socket() ($n in the trace) and 4 accepted children" $?
[ "$(grep -c "by the listener on port 6000" "$work/out")" -eq 4 ]
check "sockets names the 4 children of the listener" $?
grep -q "^guest1 socket 4  ?  .*calls socket 1, bind 1, close 1  errors bind EACCES x1$" "$work/out"
check "sockets lists calls and errno names of a socket" $?
[ "$(grep -c " dgram " "$work/out")" -eq 2 ] &&
    grep -q "^host socket 1  stream .*accept 4" "$work/out"
check "sockets infers stream and dgram types" $?

# errors
run inspect "$db" errors
n=$(q "SELECT count(*) FROM events
    WHERE (layer = 'api' AND (json_extract(fields, '\$.result') < 0 OR kind = 'expect_fail'))
    OR (layer = 'transport' AND json_extract(fields, '\$.rule') IS NOT NULL
        AND kind != 'peer_detach')
    OR kind = 'data_discarded'")
[ "$status" -eq 0 ] && tail -n 1 "$work/out" | grep -qx "$n errors"
check "errors lists the $n failed calls, failures, rule events and discards" $?
! grep -q " peer_detach " "$work/out"
check "errors leaves out peer_detach (a peer's close is not an error by itself)" $?
grep -q "sock_connect   socket=3 result=-104  (ECONNRESET)$" "$work/out" &&
    grep -q "expect_fail    message=\"expect failed: tests/fixtures/inspect_mix.lua" "$work/out" &&
    grep -q "qp_resumed     rule=R206 port=1025" "$work/out"
check "errors names errnos, shows expect failures and rule events" $?
run inspect "$db" errors --vm guest1 --layer api
tail -n 1 "$work/out" | grep -qx "3 errors"
check "errors --vm guest1 --layer api: ECONNRESET, EACCES and the expect" $?

# what the model discards: the close hazard and its cure (scenarios/lifecycle/close_unread_hazard.lua)
hazard_db="$work/hazard.db"
"$vmcisim" run scenarios/lifecycle/close_unread_hazard.lua --trace "$hazard_db" >"$work/run" 2>&1
grep -qx "discarded: 1 bytes in 1 data_discarded events (\`vmcisim inspect FILE errors\` lists them)" \
    "$work/run"
check "the run summary counts the byte the hazard lost" $? "$(tail -n 2 "$work/run")"
run inspect "$hazard_db" connections
grep -A3 "^#1 guest1:1024 (hazard_sender)" "$work/out" |
    grep -q "; host lost 1 byte unread at guest1 close$"
check "connections: the hazard's host lost 1 byte unread at guest1 close" $?
! grep -A3 "^#2 guest1:1025 (cure_sender)" "$work/out" | grep -q "lost"
check "connections: the cure loses nothing" $?
run inspect "$hazard_db" errors
grep -qE "transport data_discarded reason=peer_detach rule=R171 count=1 bytes=1 port=4300 peer=[0-9]+:1024$" \
    "$work/out" && tail -n 1 "$work/out" | grep -qx "1 errors"
check "errors: the one loss (reason, rule, bytes, the peer as cid:port), no clean close" $? \
    "$(tail -n 3 "$work/out")"
reset_db="$work/reset.db"
"$vmcisim" run scenarios/lifecycle/device_reset_sockets.lua --trace "$reset_db" -q >/dev/null 2>&1
run inspect "$reset_db" errors --vm guest1 --layer transport
grep -q "transport device_reset   rule=R209 port=1024$" "$work/out"
check "errors: the guest's device_reset (R209) ends its stream" $?
run inspect "$reset_db" connections
grep -A3 "^#1 guest1:1024 (client)" "$work/out" | grep -q "end: device_reset R209 seen by client"
check "connections: the guest's device reset ends #1" $? "$(grep -A3 '^#1' "$work/out")"

# vms
cid_db="$work/cid.db"
"$vmcisim" run scenarios/lifecycle/resume_cid_change.lua --trace "$cid_db" -q >/dev/null 2>&1
run inspect "$cid_db" vms
[ "$status" -eq 0 ] && grep -qE "vmA +vm_resume +cid 4001 \(was 4000\) -> powered_on" "$work/out" &&
    grep -qE "vmB +vm_create +cid 4000 hw_version 13" "$work/out" &&
    tail -n 1 "$work/out" | grep -qx "5 lifecycle events"
check "vms shows creations, suspend and a resume under a new CID" $?
db=$cid_db
n=$(q "SELECT count(*) FROM events WHERE (ctx = 4000 AND seq < (SELECT seq FROM events
    WHERE kind = 'ctx_create' AND json_extract(fields, '\$.vm') = 'vmB')) OR ctx = 4001")
run inspect "$cid_db" timeline --vm vmA
[ "$(($(wc -l <"$work/out") - 2))" -eq "$n" ] && ! grep -q " vmB" "$work/out"
check "--vm vmA follows its CID from 4000 to 4001 and skips vmB on 4000 ($n events)" $?
db="$work/mix.db"

# sql
run inspect "$db" sql "SELECT kind, count(*) AS n FROM events WHERE layer = 'api'
    GROUP BY kind ORDER BY n DESC, kind LIMIT 2"
printf 'kind\tn\nproc_resume\t%s\nproc_block\t%s\n' "$resumes" \
    "$(q "SELECT count(*) FROM events WHERE kind = 'proc_block'")" >"$work/expected"
[ "$status" -eq 0 ] && cmp -s "$work/out" "$work/expected"
check "sql prints a header and tab-separated rows" $? "$(head -3 "$work/out")"
run inspect "$db" sql "SELECT NULL AS a, x'00ff' AS b, 'x' || char(9) || 'y' AS c"
printf 'a\tb\tc\n\\N\tx'"'"'00ff'"'"'\tx\\ty\n' | cmp -s - "$work/out"
check "sql writes NULL as \\N, blobs as x'..', escapes tabs" $? "$(cat "$work/out")"
before=$(md5sum <"$db")
run inspect "$db" sql "DELETE FROM events"
[ "$status" -eq 2 ] && [ "$(md5sum <"$db")" = "$before" ]
check "sql refuses DELETE (exit 2) and the file is unchanged" $?
run inspect "$db" sql "WITH x AS (SELECT 1) DELETE FROM events"
[ "$status" -eq 2 ] && grep -q "must only read" "$work/err"
check "sql refuses a WITH that writes" $?
run inspect "$db" sql "SELECT 1; DROP TABLE meta"
[ "$status" -eq 2 ] && grep -q "one statement only" "$work/err"
check "sql refuses a second statement" $?
# A query may begin with SQL comments (a query file's heading: sql "$(cat q.sql)"); it was
# refused as not a SELECT, and one beginning with '--' was taken for an unknown option even
# after the '--' that ends the options.
for query in "/* count */ SELECT 41 + 1" "$(printf -- '-- the answer\n  SELECT 41 + 1')" \
             "$(printf -- ' /* a */ -- b\n/**/WITH x AS (SELECT 42) SELECT * FROM x')"; do
    run inspect "$db" -- sql "$query"
    [ "$status" -eq 0 ] && [ "$(tail -n 1 "$work/out")" = 42 ]
    ran=$?
    check "sql after --: a query that begins with comments runs ($(echo "$query" | head -c 12))" \
        $ran "status $status: $(head -c 300 "$work/err")"
done
run inspect "$db" sql "/* SELECT */ DELETE FROM events"
[ "$status" -eq 2 ] && grep -q "only a SELECT or WITH query" "$work/err"
check "sql: a SELECT inside a comment does not make a DELETE a query" $?
run inspect "$db" sql "/* never closed SELECT 1"
[ "$status" -eq 2 ]
check "sql: an unclosed comment is refused" $?
run inspect "$db" -- sql --vm
[ "$status" -eq 2 ] && grep -q "only a SELECT or WITH query is run, not '--vm'" "$work/err"
check "after --, an argument that looks like an option is a positional" $? "$(cat "$work/err")"
ls "$work" | grep -q -- "-wal\|-shm"
[ $? -ne 0 ]
check "inspect leaves no -wal or -shm file beside a closed trace" $?

# errors of files and arguments
expect_exit() {  # expect_exit NAME CODE STDERR-PATTERN ARGS...
    local name=$1 code=$2 pattern=$3
    shift 3
    run "$@"
    [ "$status" -eq "$code" ] && grep -qE -- "$pattern" "$work/err"
    check "$name exits $code and says why" $? "status $status: $(head -c 200 "$work/err")"
}
head -c 4096 /dev/urandom >"$work/garbage.db"
sqlite3 "$work/other.db" "CREATE TABLE t(x)"
cp "$db" "$work/v9.db"
sqlite3 "$work/v9.db" "UPDATE meta SET value = '9' WHERE key = 'schema_version'"
head -c 4096 "$db" >"$work/truncated.db"
expect_exit "a missing file" 1 "no_such.db: cannot open: No such file" inspect "$work/no_such.db"
expect_exit "a garbage file" 1 "not a vmcisim trace" inspect "$work/garbage.db"
expect_exit "an SQLite file without our tables" 1 "no such table: meta" inspect "$work/other.db"
expect_exit "another schema_version" 1 \
    "not a vmcisim trace \(schema_version 9; this vmcisim reads 1\)" \
    inspect "$work/v9.db"
expect_exit "a truncated trace" 1 "malformed|not a vmcisim trace" inspect "$work/truncated.db"
expect_exit "a directory" 1 "not a regular file" inspect "$work"
expect_exit "a bad view" 2 "unknown view 'bogus'" inspect "$db" bogus
expect_exit "a bad duration" 2 "--from: '5parsecs' is not a duration" \
    inspect "$db" timeline --from 5parsecs
expect_exit "an unknown option is named" 2 "unknown option or missing value: '--bogus'" \
    inspect "$db" --bogus
expect_exit "follow -1 names the -1" 2 "unknown option or missing value: '-1'" \
    inspect "$db" follow -1
expect_exit "a bad layer" 2 "--layer: 'kernel'" inspect "$db" timeline --layer kernel
expect_exit "--from after --to" 2 "later than --to" inspect "$db" --from 2ms --to 1ms
expect_exit "an unknown VM" 2 "no VM or host named 'nobody'" inspect "$db" errors --vm nobody
expect_exit "no file" 2 "missing FILE.db" inspect
expect_exit "sql without a query" 2 "missing the query" inspect "$db" sql
expect_exit "filters with sql" 2 "filters do not apply" inspect "$db" sql "SELECT 1" --vm guest1
expect_exit "an extra argument" 2 "unexpected argument 'more'" inspect "$db" timeline more
expect_exit "a query with a syntax error" 2 "syntax error" inspect "$db" sql "SELECT FROM"
# every loop has a bound: a recursive query that never ends stops at --sql-steps (the default
# INSPECT_SQL_STEPS_MAX_DEFAULT, 10^10, is a minute or two: too long for make test), in every
# format; a query that ends within the bound is untouched by it.
endless="WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
expect_exit "an endless recursive query" 1 \
    "ran more than 1000000 SQLite steps \(INSPECT_SQL_STEPS_MAX_DEFAULT 10000000000; --sql-steps N" \
    inspect "$db" sql "$endless" --sql-steps 1000000
expect_exit "an endless recursive query as JSON" 1 "ran more than 2000000 SQLite steps" \
    inspect "$db" sql "$endless" --sql-steps 2000000 --format json
run inspect "$db" sql "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c
    LIMIT 1000) SELECT count(*) FROM c" --sql-steps 1000000
[ "$status" -eq 0 ] && [ "$(tail -n 1 "$work/out")" = "1000" ]
check "a recursive query that ends within --sql-steps prints its rows" $? \
    "status $status: $(head -c 200 "$work/err")"
run inspect "$db" sql "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c
    LIMIT 1000) SELECT count(*) FROM c" --sql-steps 1000
[ "$status" -eq 1 ] && grep -q "ran more than 1000 SQLite steps" "$work/err"
check "the same query is stopped by a --sql-steps below its needs" $? "status $status"
# sql reads the trace and nothing else: the same query on the same trace prints the same
# output every time. A function drawn anew at each call is refused when the query is
# prepared (exit 2); asking for the date or time of now fails the query before the row
# that holds it is printed (exit 1); the time zone is UTC whatever TZ says.
for call in "random()" "hex(randomblob(8))" "CURRENT_TIMESTAMP" "CURRENT_DATE" "Random()"; do
    name=$(printf '%s' "$call" | sed 's/^hex(//; s/(.*//' | tr 'A-Z' 'a-z')
    expect_exit "sql with $call" 2 "inspect sql: $name\(\) is refused: its value does not come" \
        inspect "$db" sql "SELECT $call"
done
expect_exit "sql ordered by random()" 2 "random\(\) is refused" \
    inspect "$db" sql "SELECT seq FROM events ORDER BY random() LIMIT 3"
for call in "date('now')" "date()" "strftime('%s', 'now')" "julianday('now')" "unixepoch()" \
            "datetime('now', 'localtime')" "time()"; do
    expect_exit "sql with $call" 1 "sql: the query asks for the date or time of now" \
        inspect "$db" sql "SELECT $call"
done
expect_exit "sql with date('now') in --format json" 1 "the date or time of now" \
    inspect "$db" sql "SELECT date('now') AS d" --format json
run inspect "$db" sql "SELECT seq, CASE WHEN seq > 0 THEN date('now') END AS d FROM events
    ORDER BY seq LIMIT 5"
[ "$status" -eq 1 ] && [ "$(cat "$work/out")" = "$(printf 'seq\td\n0\t\\N')" ]
check "sql prints the rows before the clock is asked for, not the row that asks" $? \
    "status $status: $(cat "$work/out")"
run inspect "$db" sql "SELECT datetime(0, 'unixepoch'), strftime('%H:%M:%f', 1.5, 'unixepoch')"
[ "$status" -eq 0 ] && [ "$(tail -n 1 "$work/out")" = "$(printf '1970-01-01 00:00:00\t00:00:01.500')" ]
check "sql: date and time functions of a given time run" $? "status $status: $(cat "$work/out")"
TZ=EST5 "$vmcisim" inspect "$db" sql "SELECT datetime(0, 'unixepoch', 'localtime')" \
    >"$work/out" 2>&1
[ "$(tail -n 1 "$work/out")" = "1970-01-01 00:00:00" ]
check "sql: 'localtime' is UTC whatever TZ says" $? "$(cat "$work/out")"
run inspect "$db" sql "SELECT count(*) FROM events WHERE kind = 'random'"
[ "$status" -eq 0 ]
check "sql: the word random in a string is no call" $? "status $status"
expect_exit "--sql-steps 0" 2 "--sql-steps: '0' is not a count" inspect "$db" sql "SELECT 1" \
    --sql-steps 0
expect_exit "--sql-steps beyond 2^63-1" 2 "is not a count from 1 to 2\^63-1" \
    inspect "$db" sql "SELECT 1" --sql-steps 9223372036854775808
expect_exit "--sql-steps with another view" 2 "--sql-steps applies to sql only" \
    inspect "$db" timeline --sql-steps 5

# determinism: the same file gives the same output
"$vmcisim" inspect "$db" connections >"$work/a" 2>&1
"$vmcisim" inspect "$db" connections >"$work/b" 2>&1
cmp -s "$work/a" "$work/b"
check "inspect prints the same output twice" $?

# pkt_send_failed's result is a VMCI error code, named as one (not as an errno)
"$vmcisim" run tests/fixtures/pkt_send_failed_result_name.lua -q --trace "$work/psf.db" \
    >/dev/null 2>&1
"$vmcisim" inspect "$work/psf.db" errors >"$work/psf.out" 2>&1
grep -q 'pkt_send_failed .*result=-7  (VMCI_ERROR_NO_ACCESS)$' "$work/psf.out" &&
    ! grep -q 'pkt_send_failed .*(EUNKNOWN)' "$work/psf.out"
check "inspect names pkt_send_failed's result as a VMCI error" $? "$(grep pkt_send "$work/psf.out")"

# A close with bytes unread: the close call is traced before the release that reports the
# discarded bytes (data_discarded closed_unread), and the views still charge them to it.
cu="$work/close_unread.db"
"$vmcisim" run tests/fixtures/close_unread.lua --trace "$cu" -q >/dev/null 2>&1
[ "$(sqlite3 "$cu" "SELECT count(*) FROM events e JOIN events c ON c.seq < e.seq
    AND c.kind = 'sock_close' AND c.pid = e.pid
    WHERE e.kind = 'data_discarded' AND json_extract(e.fields, '\$.reason') = 'closed_unread'
      AND json_extract(e.fields, '\$.bytes') = 4000")" -ge 1 ]
check "close_unread.lua: 4000 bytes discarded after the host's close call" $?
for source in "" --recompute; do
    run inspect "$cu" $source connections
    grep -q "host closed with 4000 bytes unread" "$work/out"
    check "connections ${source:-(tables)} names the 4000 bytes the host lost at its close" $? \
        "$(cat "$work/out")"
    run inspect "$cu" $source stats --format tsv
    awk -F'\t' '$1 == "connection" && $15 == 4000' "$work/out" | grep -q .
    check "stats ${source:-(tables)} counts 4000 lost bytes on the connection" $? \
        "$(head -2 "$work/out")"
done

# A hostile trace: a transport event with a pid far above any process so far must not send
# the model's per-process array past its end (it grew by one doubling only).
cp "$cu" "$work/pid.db"
sqlite3 "$work/pid.db" "UPDATE events SET pid = 60000 WHERE seq = (SELECT min(seq) FROM events
    WHERE layer = 'transport')"
run inspect "$work/pid.db" --recompute connections
[ "$status" -eq 0 ] && grep -q "^1 stream connections" "$work/out"
check "a transport event of pid 60000 is read without a crash" $? "$(tail -3 "$work/err")"

# A hostile trace of many distinct endpoint names: N vm_create events with new names, then a
# vm_resume of each (in reverse order, under a new CID), which must find the name again (its
# previous CID shows). A linear search per name made this quadratic (about 4e9 instructions
# for 10 000 names); the names now have a hash index. Past INSPECT_NAMES_MAX (65 536) names
# the trace is refused with a message, not read wrong.
many_names() {     # many_names FILE N: the mix trace plus N created and N resumed VMs
    cp "$db" "$1"
    sqlite3 "$1" "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $2)
        INSERT INTO events(seq, time_ns, ctx, pid, layer, kind, fields)
        SELECT (SELECT max(seq) FROM events) + i, (SELECT max(time_ns) FROM events),
            1000000 + i, 0, 'api', 'vm_create',
            json_object('name', printf('vm-%05d', i), 'cid', 1000000 + i, 'hw_version', 13)
        FROM n;
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $2)
        INSERT INTO events(seq, time_ns, ctx, pid, layer, kind, fields)
        SELECT (SELECT max(seq) FROM events) + i, (SELECT max(time_ns) FROM events),
            3000000 - i, 0, 'api', 'vm_resume', json_object('vm', printf('vm-%05d', $2 + 1 - i))
        FROM n"
}
many_names "$work/names.db" 30000
run inspect "$work/names.db" vms --recompute --format tsv
created=$(awk -F'\t' '$4 == "vm_create" && $3 ~ /^vm-/ { n++; if ($3 != sprintf("vm-%05d", n) ||
    $5 != 1000000 + n) bad = 1 } END { print (bad ? "bad" : n) }' "$work/out")
resumed=$(awk -F'\t' '$4 == "vm_resume" && $3 ~ /^vm-/ { n++; i = substr($3, 4) + 0
    if ($6 != 1000000 + i || $5 != 2969999 + i) bad = 1 } END { print (bad ? "bad" : n) }' \
    "$work/out")
[ "$status" -eq 0 ] && [ "$created" = 30000 ] && [ "$resumed" = 30000 ]
check "30 000 distinct names: each created in order, each found again at its resume" $? \
    "status $status, created $created, resumed $resumed"
many_names "$work/names_max.db" 70000
run inspect "$work/names_max.db" vms --recompute
[ "$status" -eq 1 ] && grep -q "INSPECT_NAMES_MAX" "$work/err"
check "70 000 distinct names (more than INSPECT_NAMES_MAX) are refused with a message" $? \
    "status $status: $(tail -1 "$work/err")"

# ---- names holding a newline or a tab in the text timeline -------------------------------
# 'timeline' and 'errors' print one line per event, but a VM or process name holding a
# newline (the fields escape theirs) broke its event's line in two. The text views write a
# name's control characters as \n, \t, \r, \xHH; tsv, csv and json keep the name as it is.
cat > "$work/control_names.lua" <<'EOF'
local sim = require("vmcisim")
local w = sim.world{}
local guest = w:vm{ name = "g\tx" }
guest:spawn("cli\nq\r\1", function(p)
  sim.expect(false, "fails on purpose")
end)
w:run()
EOF
"$vmcisim" run "$work/control_names.lua" -q --trace "$work/control_names.db" >/dev/null 2>&1
events=$("$vmcisim" inspect "$work/control_names.db" sql "SELECT count(*) FROM events" | tail -n 1)
run inspect "$work/control_names.db" timeline
[ "$status" -eq 0 ] && [ "$(wc -l < "$work/out")" -eq $((events + 2)) ] &&
    grep -qF 'g\tx/cli\nq\r\x01 ' "$work/out"
check "timeline: a name with a newline, tab, CR or control byte stays on its event's line" $? \
    "status $status, $events events: $(head -c 600 "$work/out")"
run inspect "$work/control_names.db" errors
[ "$status" -eq 0 ] && [ "$(wc -l < "$work/out")" -eq 3 ] && grep -qF 'g\tx/cli\nq\r\x01 ' "$work/out"
check "errors: the expect_fail of a process with a newline in its name is one line" $? \
    "status $status: $(head -c 600 "$work/out")"
run inspect "$work/control_names.db" timeline --format json
python3 -c 'import json,sys; rows=json.load(open(sys.argv[1]))["rows"]
sys.exit(0 if "g\tx/cli\nq\r\x01" in [r["who"] for r in rows] else 1)' "$work/out"
check "timeline --format json keeps the name as it is" $?
