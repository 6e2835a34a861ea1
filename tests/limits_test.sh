#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/limits_test.sh: the world limits a fleet meets (docs/limits.md, issue 10 item 2;
# fixtures in tests/fixtures/limits/):
# met, each is named by a `limit_reached` event that `vmcisim inspect FILE errors` lists
# beside the errno the application got; raised through sim.world{ limits = … }, the same
# scenario goes through; above its ceiling, or not a positive integer (0, negative,
# fractional, a string, a boolean), a limit is refused with a message naming it.
set -u
vmcisim=${VMCISIM:-./vmcisim}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fixture=tests/fixtures/limits/streams.lua

check() {   # check NAME CONDITION-STATUS [DETAIL]
    if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1${3:+: $3}"; fi
}

out=$("$vmcisim" run "$fixture" --trace "$work/met.db" 2>&1)
check "8 subscriptions: 8 streams connect, 4 are reset" \
    "$(printf '%s\n' "$out" | grep -c 'streams: 8 connected, 4 reset' | grep -qx 1; echo $?)" \
    "$out"
errors=$("$vmcisim" inspect "$work/met.db" errors 2>&1)
count=$(printf '%s\n' "$errors" | grep -c 'limit_reached  limit=event_subscriptions_max value=8')
check "errors lists 4 limit_reached events naming event_subscriptions_max" \
    "$([ "$count" -eq 4 ]; echo $?)" "$count in: $errors"
resets=$(printf '%s\n' "$errors" | grep -c 'sock_connect .*(ECONNRESET)')
check "errors lists the 4 ECONNRESET connects beside them" "$([ "$resets" -eq 4 ]; echo $?)" \
    "$resets"
first_limit=$(printf '%s\n' "$errors" | grep -n 'event_subscriptions_max' | head -n 1 | cut -d: -f1)
first_reset=$(printf '%s\n' "$errors" | grep -n 'ECONNRESET' | head -n 1 | cut -d: -f1)
check "the first limit event comes before the first reset" \
    "$([ -n "$first_limit" ] && [ -n "$first_reset" ] && [ "$first_limit" -lt "$first_reset" ]; echo $?)"
check "the backlog clamp is named (limit backlog_max 64, requested 1000, R105)" \
    "$(printf '%s\n' "$errors" | grep -q 'limit_reached  limit=backlog_max value=64 requested=1000 port=5001 rule=R105'; echo $?)" \
    "$errors"
summary=$("$vmcisim" inspect "$work/met.db" summary 2>&1)
check "summary counts them among the errors" \
    "$(printf '%s\n' "$summary" | grep -Eq '^errors +(1[3-9]|[2-9][0-9])'; echo $?)" "$summary"

out=$("$vmcisim" run "$fixture" --trace "$work/raised.db" -- 64 2>&1)
check "64 subscriptions: all 12 streams connect" \
    "$(printf '%s\n' "$out" | grep -q 'streams: 12 connected, 0 reset'; echo $?)" "$out"
count=$("$vmcisim" inspect "$work/raised.db" errors 2>&1 | grep -c 'event_subscriptions_max')
check "raised: no event_subscriptions_max event" "$([ "$count" -eq 0 ]; echo $?)" "$count"

out=$("$vmcisim" run tests/fixtures/limits/deliveries.lua --trace "$work/deliveries.db" 2>&1)
check "host_deliveries 4: 4 datagrams sent, 4 refused (ENOBUFS)" \
    "$(printf '%s\n' "$out" | grep -q 'deliveries: 4 sent, 4 refused'; echo $?)" "$out"
errors=$("$vmcisim" inspect "$work/deliveries.db" errors 2>&1)
count=$(printf '%s\n' "$errors" | grep -c 'limit_reached  limit=host_deliveries_max value=4')
check "errors names host_deliveries_max once per refused datagram, beside ENOBUFS" \
    "$([ "$count" -eq 4 ] && [ "$(printf '%s\n' "$errors" | grep -c '(ENOBUFS)')" -eq 4 ]; echo $?)" \
    "$errors"
out=$("$vmcisim" run tests/fixtures/limits/deliveries.lua -- 64 2>&1)
check "host_deliveries 64: all 8 sent" \
    "$(printf '%s\n' "$out" | grep -q 'deliveries: 8 sent, 0 refused'; echo $?)" "$out"

out=$("$vmcisim" run tests/fixtures/limits/dg_queue.lua --trace "$work/dg_queue.db" 2>&1)
check "vmci_datagram_queue 8: 12 datagrams sent, 8 read" \
    "$(printf '%s\n' "$out" | grep -q 'dg_queue: 12 sent, 8 read'; echo $?)" "$out"
errors=$("$vmcisim" inspect "$work/dg_queue.db" errors 2>&1)
count=$(printf '%s\n' "$errors" | grep -c 'dg_queue_full .*limit=vmci_datagram_queue_max value=8')
check "errors names vmci_datagram_queue_max once per dropped datagram" \
    "$([ "$count" -eq 4 ]; echo $?)" "$errors"
out=$("$vmcisim" run tests/fixtures/limits/dg_queue.lua -- 64 2>&1)
check "vmci_datagram_queue 64: all 12 read" \
    "$(printf '%s\n' "$out" | grep -q 'dg_queue: 12 sent, 12 read'; echo $?)" "$out"

out=$("$vmcisim" run tests/fixtures/limits/sockets.lua --trace "$work/sockets.db" 2>&1)
check "sockets 4: 1 stream connects, 1 is reset, 1 socket() is ENFILE" \
    "$(printf '%s\n' "$out" | grep -q 'sockets: 1 connected, 1 reset, 1 refused'; echo $?)" "$out"
errors=$("$vmcisim" inspect "$work/sockets.db" errors 2>&1)
count=$(printf '%s\n' "$errors" | grep -c 'limit_reached  limit=sockets_max value=4 result=-23')
check "errors names sockets_max twice (the host's child, the guest's socket)" \
    "$([ "$count" -eq 2 ]; echo $?)" "$errors"
check "errors lists the reset connect and the ENFILE socket() beside them" \
    "$(printf '%s\n' "$errors" | grep -q 'sock_connect .*(ECONNRESET)' &&
       printf '%s\n' "$errors" | grep -q 'sock_socket .*(ENFILE)'; echo $?)" "$errors"
check "the host's refused child is not called a full backlog (R106)" \
    "$(printf '%s\n' "$errors" | grep -q 'backlog_full'; [ $? -ne 0 ]; echo $?)" "$errors"
out=$("$vmcisim" run tests/fixtures/limits/sockets.lua --trace "$work/sockets64.db" -- 64 2>&1)
check "sockets 64: all 3 streams connect" \
    "$(printf '%s\n' "$out" | grep -q 'sockets: 3 connected, 0 reset, 0 refused'; echo $?)" \
    "$out"
count=$("$vmcisim" inspect "$work/sockets64.db" errors 2>&1 | grep -c 'sockets_max')
check "raised: no sockets_max event" "$([ "$count" -eq 0 ]; echo $?)" "$count"

out=$("$vmcisim" run tests/fixtures/limits/client_streams.lua --trace "$work/client.db" 2>&1)
check "3 subscriptions in the guest: 2 streams connect, 2 connects are ENOBUFS (R158, R63)" \
    "$(printf '%s\n' "$out" | grep -q 'client streams: 2 connected, 2 refused'; echo $?)" "$out"
errors=$("$vmcisim" inspect "$work/client.db" errors 2>&1)
check "errors names event_subscriptions_max in the guest twice, beside the ENOBUFS connects" \
    "$([ "$(printf '%s\n' "$errors" | grep -c 'guest1 .*limit_reached  limit=event_subscriptions_max value=3')" -eq 2 ] &&
       [ "$(printf '%s\n' "$errors" | grep -c 'sock_connect .*(ENOBUFS)')" -eq 2 ]; echo $?)" \
    "$errors"
out=$("$vmcisim" run tests/fixtures/limits/client_streams.lua -- 16 2>&1)
check "16 subscriptions: all 4 client streams connect" \
    "$(printf '%s\n' "$out" | grep -q 'client streams: 4 connected, 0 refused'; echo $?)" "$out"

# The VMCI tables a scenario meets below its sockets (docs/limits.md): queue pairs per VM,
# queue-pair memory per VM, datagram handles per kernel.
limit_fixture() {   # limit_fixture NAME FIXTURE LOG-MET LIMIT-TEXT COUNT ERRNO-TEXT RAISE LOG-RAISED
    local out errors
    out=$("$vmcisim" run "tests/fixtures/limits/$2.lua" --trace "$work/$2.db" 2>&1)
    check "$1: $3" "$(printf '%s\n' "$out" | grep -q "$3"; echo $?)" "$out"
    errors=$("$vmcisim" inspect "$work/$2.db" errors 2>&1)
    check "$1: errors lists $5 limit_reached events naming it, beside $6" \
        "$([ "$(printf '%s\n' "$errors" | grep -c "limit_reached  $4")" -eq "$5" ] &&
           [ "$(printf '%s\n' "$errors" | grep -c "$6")" -ge 2 ]; echo $?)" "$errors"
    out=$("$vmcisim" run "tests/fixtures/limits/$2.lua" -- "$7" 2>&1)
    check "$1 raised to $7: $8" "$(printf '%s\n' "$out" | grep -q "$8"; echo $?)" "$out"
}
limit_fixture queue_pairs queue_pairs 'queue pairs: 3 connected, 2 refused' \
    'limit=queue_pairs_max value=3 result=-19' 2 'sock_connect .*(ENOBUFS)' 16 \
    'queue pairs: 5 connected, 0 refused'
limit_fixture qp_memory_bytes qp_memory 'qp memory: 2 allocated, 2 refused' \
    'limit=qp_memory_bytes_max value=300000 result=-19' 2 'qp_create .*(VMCI_ERROR_NO_RESOURCES)' \
    1000000 'qp memory: 4 allocated, 0 refused'
limit_fixture handles handles 'handles: 2 bound, 2 refused, vmci VMCI_ERROR_NO_RESOURCES' \
    'limit=handles_max value=3 result=-19' 3 'sock_bind .*(ENOBUFS)' 16 \
    'handles: 4 bound, 0 refused, vmci ok'
# The world's queue-pair memory: the host's own queue pairs (charged to no VM) and a guest's.
limit_fixture world_qp_memory_bytes world_qp_memory \
    'world qp memory: 2 allocated, 2 refused, guest VMCI_ERROR_NO_RESOURCES' \
    'limit=world_qp_memory_bytes_max value=300000 result=-19' 3 \
    'qp_create .*(VMCI_ERROR_NO_RESOURCES)' 1000000 'world qp memory: 4 allocated, 0 refused, guest ok'

out=$("$vmcisim" run tests/fixtures/limits/doorbells.lua --trace "$work/doorbells.db" 2>&1)
check "doorbell links: 4096 linked, 2 refused" \
    "$(printf '%s\n' "$out" | grep -q 'doorbells: 4096 linked, 2 refused'; echo $?)" "$out"
errors=$("$vmcisim" inspect "$work/doorbells.db" errors 2>&1)
check "errors names doorbell_links_max once per refused link" \
    "$([ "$(printf '%s\n' "$errors" | grep -c 'evil .*limit_reached  limit=doorbell_links_max value=4096 result=-19')" -eq 2 ]; echo $?)" \
    "$errors"

out=$("$vmcisim" run tests/fixtures/limits/driver_events.lua --trace "$work/driver.db" 2>&1)
status=$?
check "events_pending 1: the second VM's driver cannot start, the run stops naming the limit (exit 1)" \
    "$([ "$status" -eq 1 ] &&
       printf '%s\n' "$out" | grep -q 'w:run: run stopped: limit events_pending_max (1) exceeded'; echo $?)" \
    "$status: $out"
check "the trace says which driver failed and why" \
    "$("$vmcisim" inspect "$work/driver.db" timeline 2>&1 |
       grep -q 'second .*driver_fail    reason="limit events_pending_max"'; echo $?)"
out=$("$vmcisim" run tests/fixtures/limits/driver_events.lua -- 64 2>&1)
check "events_pending 64: both drivers load" \
    "$(printf '%s\n' "$out" | grep -q 'drivers: 1 1'; echo $?)" "$out"

# More VMs than the old fixed 4096 engine domains: the last one suspends and resumes.
cat > "$work/vms.lua" <<'EOF'
local sim = require("vmcisim")
local w = sim.world{ limits = { vms = 4100 } }
local last
for i = 1, 4100 do last = w:vm{ name = "g" .. i } end
w:at(sim.ms(1), function() last:suspend() end)
w:at(sim.ms(2), function() last:resume() end)
last:spawn("p", function(p) p:sleep(sim.ms(3)); sim.log("alive at %d", w.now) end)
w:run()
EOF
out=$("$vmcisim" run "$work/vms.lua" 2>&1)
check "vms 4100: the 4100th VM suspends, resumes and runs on" \
    "$(printf '%s\n' "$out" | grep -q 'g4100/p: alive at 3007008'; echo $?)" "$out"

for limit in "vms 1048577" "processes 4194305" "events_pending 268435457" "sockets 4294967296" \
             "event_subscriptions 4194305" "queue_pairs 1048577" "handles 4194305" \
             "backlog 4194305" "host_deliveries 16777217" "vmci_datagram_queue 1048577" \
             "world_qp_memory_bytes 70368744177665"; do
    set -- $limit
    printf 'local sim = require("vmcisim")\nsim.world{ limits = { %s = %s } }\n' "$1" "$2" \
        > "$work/ceiling.lua"
    out=$("$vmcisim" run "$work/ceiling.lua" 2>&1)
    check "limits.$1 above its ceiling is refused, naming it" \
        "$(printf '%s\n' "$out" | grep -q "limits.$1 = $2 is above its ceiling"; echo $?)" "$out"
done
for key in vms processes sockets events_pending trace_events qp_memory_bytes event_subscriptions \
           queue_pairs handles backlog host_deliveries vmci_datagram_queue world_qp_memory_bytes; do
    for value in 0 -1 1.5 '"8"' true math.mininteger; do
        printf 'local sim = require("vmcisim")\nsim.world{ limits = { %s = %s } }\n' "$key" "$value" \
            > "$work/bad.lua"
        out=$("$vmcisim" run "$work/bad.lua" 2>&1)
        status=$?
        check "limits.$key = $value is refused, naming it (exit 1)" \
            "$([ "$status" -eq 1 ] &&
               printf '%s\n' "$out" | grep -q "bad.lua:2: sim.world: limits.$key must be a positive integer"; echo $?)" \
            "$status: $out"
    done
done
