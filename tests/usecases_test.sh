#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/usecases_test.sh: the use-case scenarios (scenarios/rabbitmq_proxy.lua,
# nfs_dgram.lua, networkless_guest.lua) show in their traces what their headers promise, as
# `vmcisim inspect` reports it. (tests/scenarios_test.sh already runs each one twice for its
# pass and its digest; tests/release_matrix_test.sh covers release_matrix.lua.) Each scenario
# also passes over a range of seeds, since the CIDs and so the port and routing choices
# change with the seed. Prints "ok - NAME" / "not ok - NAME".
set -u
vmcisim=${VMCISIM:-./vmcisim}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1${3:+: $3}"; fi; }
q() { "$vmcisim" inspect "$1" sql "$2" | tail -n +2; }

# nfs_dgram: replies dropped at a full receive queue (R189), retransmitted, files intact.
db="$work/nfs.db"
"$vmcisim" run scenarios/nfs_dgram.lua --trace "$db" >"$work/nfs.out" 2>"$work/nfs.err"
check "nfs_dgram.lua passes" $? "$(head -c 300 "$work/nfs.err")"
"$vmcisim" inspect "$db" errors >"$work/nfs.errors"
drops=$(grep -c 'data_discarded .*reason=receive_queue_full rule=R189' "$work/nfs.errors")
[ "$drops" -gt 0 ]
check "inspect errors lists data_discarded reason=receive_queue_full (R189): $drops" $?
all=$(q "$db" "SELECT count(*) FROM events WHERE kind = 'data_discarded'")
[ "$drops" = "$all" ]
check "every data_discarded of nfs_dgram is a full receive queue ($drops of $all)" $?
retransmissions=$(sed -n \
    's/^nfs_dgram: 8 files checked; [0-9]* requests, \([0-9]*\) retrans.*/\1/p' "$work/nfs.out")
[ -n "$retransmissions" ] && [ "$retransmissions" -ge "$drops" ]
check "each dropped reply was retransmitted ($retransmissions retransmissions, $drops drops)" $?
grep -q "^discarded: [0-9]* bytes in $drops data_discarded events" "$work/nfs.out"
check "the run summary counts the same discarded datagrams" $?
at_clients=$(q "$db" "SELECT count(*) FROM events e JOIN events c ON c.kind = 'vm_create'
    AND c.ctx = e.ctx WHERE e.kind = 'data_discarded'")
[ "$at_clients" = "$drops" ]
check "the drops happen in the guests, at the clients' sockets" $?

# rabbitmq_proxy: 8 upstream + 256 guest-local connections, nothing reset or discarded.
db="$work/mq.db"
"$vmcisim" run scenarios/rabbitmq_proxy.lua --trace "$db" >"$work/mq.out" 2>"$work/mq.err"
check "rabbitmq_proxy.lua passes" $? "$(head -c 300 "$work/mq.err")"
rate_line='^rabbitmq_proxy: 2560 messages through 8 proxies in [0-9.]+ simulated s: '
grep -Eq "$rate_line"'[0-9]+ messages per simulated second$' "$work/mq.out"
check "rabbitmq_proxy prints the messages per simulated second" $? "$(tail -n 3 "$work/mq.out")"
"$vmcisim" inspect "$db" connections >"$work/mq.conns"
grep -q '^264 stream connections (of 264 in the trace)$' "$work/mq.conns"
check "264 stream connections: 8 to the broker, 256 guest-local" $? "$(tail -n 1 "$work/mq.conns")"
upstream=$(grep -c '^#[0-9]* guest[0-9]*:[0-9]* (proxy) .* -> host:5672 (broker) \[cid 2\]$' \
    "$work/mq.conns")
local_conns=$(grep -Ec '^#[0-9]+ (guest[0-9]+):[0-9]+ \(client[0-9]+\) .* -> \1:5672 \(proxy\)' \
    "$work/mq.conns")
[ "$upstream" -eq 8 ] && [ "$local_conns" -eq 256 ]
check "each proxy has one upstream and 32 local clients ($upstream, $local_conns)" $?
[ "$(grep -c 'end: closed by server; client shutdown mode 2;' "$work/mq.conns")" -eq 264 ]
check "every connection ends cleanly: the client's shutdown, then the server's close" $?
"$vmcisim" inspect "$db" errors | grep -v '^ *seq \|^[0-9]* errors$' >"$work/mq.errors"
! grep -v '(EAGAIN)$' "$work/mq.errors" | grep -q .
check "rabbitmq_proxy's only errors are EAGAIN from its non-blocking loops" $? \
    "$(grep -v '(EAGAIN)$' "$work/mq.errors" | head -n 2)"

# networkless_guest: the guest reaches the host only, by CID.
db="$work/ng.db"
"$vmcisim" run scenarios/networkless_guest.lua --trace "$db" >"$work/ng.out" 2>"$work/ng.err"
check "networkless_guest.lua passes" $? "$(head -c 300 "$work/ng.err")"
"$vmcisim" inspect "$db" connections >"$work/ng.conns"
grep -q '^#1 airgapped:[0-9]* (agent) .* -> host:15000 (config-service) \[cid 2\]$' \
    "$work/ng.conns" &&
    grep -q '^#2 airgapped:[0-9]* (agent) .* -> host:15001 (log-collector) \[cid 2\]$' \
    "$work/ng.conns" &&
    grep -q 'client->server 204800 sent, 204800 received' "$work/ng.conns" &&
    grep -q 'end: connect failed EPERM' "$work/ng.conns"
check "inspect connections: config and logs to the host, the sibling VM refused" $?
[ "$("$vmcisim" inspect "$db" errors | grep -c 'sock_connect .*(EPERM)$')" -eq 1 ]
check "inspect errors shows the one EPERM connect" $?

# Other seeds give other CIDs: every use case must hold for each.
failed=""
for seed in 2 3 5 8 13 21 34 55; do
    for scenario in rabbitmq_proxy nfs_dgram networkless_guest release_matrix; do
        "$vmcisim" run "scenarios/$scenario.lua" -q --seed "$seed" >/dev/null 2>&1 ||
            failed="$failed $scenario/$seed"
    done
done
[ -z "$failed" ]
check "the use cases pass with seeds 2 3 5 8 13 21 34 55" $? "$failed"
