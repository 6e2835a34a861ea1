#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/programs_test.sh: real programs on simulated endpoints (`ep:exec`, docs/programs.md).
#
# The Guide's example programs (build/programs/, from scenarios/programs/) under every product
# profile through scenarios/guide_programs.lua, each profile twice with equal digests, and
# their outcomes where the profile table says streams work or are refused; the flag
# (`--allow-exec`) for run and replay; what the trace records (exec_start with the binary's
# hash, exec_output, exec_exit) and replay catching a changed binary; what the shim serves
# besides sockets (tests/fixtures/programs/shim_probe.c, built here); and the lifecycle
# (tests/fixtures/programs/lifecycle.lua): a program sees what a Lua process sees.
# Skips, saying why, only when this machine cannot sandbox programs (the sandbox says so).
# Prints "ok - NAME" / "not ok - NAME"; scripts/run-tests counts them.
set -u
vmcisim=${VMCISIM:-./vmcisim}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. tests/programs_lib.sh

# Does this machine sandbox programs? A scenario that runs /bin/true finds out.
programs_skip_unless_sandboxed programs
check "a program runs under --allow-exec (true exits 0)" "$sandbox_status" \
    "$(head -c 300 "$work/true.out")"

# The flag: without it ep:exec fails naming it, and guide_programs.lua says it skips.
"$vmcisim" run "$work/true.lua" -q >"$work/noflag.out" 2>&1
status=$?
grep -q -- "--allow-exec" "$work/noflag.out" && [ "$status" -eq 1 ]
check "without --allow-exec, ep:exec fails naming the flag" $? "status $status"
"$vmcisim" run scenarios/guide_programs.lua >"$work/skip.out" 2>&1
status=$?
grep -q "skipped: running real programs needs --allow-exec" "$work/skip.out" && [ "$status" -eq 0 ]
check "guide_programs.lua passes without running anything when not allowed" $?

# The Guide's programs under every product (and host OS), twice each: equal digests, and the
# same outcome as Lua processes (the scenario expects that itself).
profiles="esxi-4.0 esxi-4.1 esxi-5.0 esxi-5.1 esxi-5.5 esxi-6.0 esxi-6.5
workstation-6.5:linux workstation-6.5:windows workstation-7:linux workstation-7:windows
workstation-8:linux workstation-8:windows workstation-9:linux workstation-9:windows
server-2.0:linux server-2.0:windows player-2.5:linux player-3:linux player-3:windows
player-4:windows player-5:linux fusion-3:mac fusion-4:mac fusion-5:mac"
failures=""
: >"$work/rows"
for profile in $profiles; do
    product=${profile%%:*}
    host_os=""
    [ "$product" != "$profile" ] && host_os=${profile#*:}
    digests=""
    for attempt in 1 2; do
        out=$("$vmcisim" run scenarios/guide_programs.lua --allow-exec -q --digest \
                  -- "$product" $host_os 2>&1)
        status=$?
        [ "$status" -ne 0 ] && failures="$failures $profile(exit $status: $(echo "$out" | head -c 200))"
        digests="$digests $(echo "$out" | sed -n 's/^digest //p')"
        [ "$attempt" -eq 1 ] && echo "$out" | grep '^programs ' >>"$work/rows"
    done
    set -- $digests
    [ "$#" -eq 2 ] && [ "$1" = "$2" ] || failures="$failures $profile(digests:$digests)"
done
check "the Guide's programs under every profile, as Lua processes, twice with equal digests" \
    "$([ -z "$failures" ]; echo $?)" "$failures"
cat "$work/rows" | sed 's/^/# /'
expect_row() {
    grep -q "^programs $1 $2 $3\$" "$work/rows"
    check "$1 ($2): $3" $? "$(grep "^programs $1 $2 " "$work/rows")"
}
expect_row esxi-6.5 esx "g2h_stream=ok h2g_stream=ok h2g_dgram=ok g2h_dgram=ok"
expect_row workstation-6.5 linux \
    "g2h_stream=ECONNRESET h2g_stream=ECONNRESET h2g_dgram=ok g2h_dgram=ok"
expect_row workstation-7 windows \
    "g2h_stream=ECONNRESET h2g_stream=ESOCKTNOSUPPORT h2g_dgram=ok g2h_dgram=ok"
expect_row workstation-9 linux "g2h_stream=ok h2g_stream=ok h2g_dgram=ok g2h_dgram=ok"

# The trace: exec_start (binary and its XXH3), output, exit; replay needs the flag and sees a
# changed binary.
cp build/programs/vsock_stream_server "$work/server"
cat >"$work/traced.lua" <<EOF
local sim = require("vmcisim")
local w = sim.world{}
local guest = w:vm{ name = "g" }
local server = w:host():exec{ "$work/server", "5000" }
local client = guest:exec{ "$PWD/build/programs/vsock_stream_client", "2", "5000" }
w:run()
sim.expect(client.exit_code == 0 and server.exit_code == 0, "both exited 0")
sim.expect(client:output():find("echo ok", 1, true) ~= nil, "the client's output")
EOF
"$vmcisim" run "$work/traced.lua" --allow-exec -q --trace "$work/traced.db" >"$work/traced.out" 2>&1
check "a traced run of two programs passes" $? "$(head -c 300 "$work/traced.out")"
hash=$(python3 -c "import xxhash,sys; print(xxhash.xxh3_64_hexdigest(open(sys.argv[1],'rb').read()))" \
       "$work/server" 2>/dev/null || true)
recorded=$(sqlite3 "$work/traced.db" "select json_extract(fields, '$.hash') from events
           where kind = 'exec_start' and json_extract(fields, '$.binary') = '$work/server'")
if [ -n "$hash" ]; then
    [ "$recorded" = "$hash" ]
    check "exec_start records the binary's XXH3-64" $? "recorded '$recorded', computed '$hash'"
else
    [ "${#recorded}" -eq 16 ]
    check "exec_start records the binary's XXH3-64 (16 hex digits)" $? "recorded '$recorded'"
fi
count=$(sqlite3 "$work/traced.db" "select count(*) from events where kind in
        ('exec_start', 'exec_exit') and pid > 0")
[ "$count" -eq 4 ]
check "two exec_start and two exec_exit events" $? "found $count"
sqlite3 "$work/traced.db" "select json_extract(fields, '$.text') from events
        where kind = 'exec_output'" | grep -q "client: echo ok"
check "the program's output is in exec_output events" $?
"$vmcisim" replay "$work/traced.db" --allow-exec -q >"$work/replay.out" 2>&1
check "replay --allow-exec of the traced run is identical" $? "$(head -c 300 "$work/replay.out")"
"$vmcisim" replay "$work/traced.db" -q >"$work/replay-noflag.out" 2>&1
status=$?
[ "$status" -ne 0 ] && grep -q -- "--allow-exec" "$work/replay-noflag.out"
check "replay without --allow-exec refuses, naming the flag" $? "status $status"
printf 'x' >>"$work/server"
"$vmcisim" replay "$work/traced.db" --allow-exec -q >"$work/replay-changed.out" 2>&1
status=$?
[ "$status" -ne 0 ] && grep -q "exec_start" "$work/replay-changed.out" &&
    grep -q "hash" "$work/replay-changed.out"
check "replay reports a changed binary (its exec_start hash)" $? \
    "status $status: $(head -c 300 "$work/replay-changed.out")"

# A daemon program still waiting when the world runs out of events: the run passes, the child
# is killed at the world's teardown, nothing is left running.
cp build/programs/vsock_stream_server "$work/daemon_server"
cat >"$work/daemon.lua" <<EOF
local sim = require("vmcisim")
local w = sim.world{}
local server = w:host():exec{ "$work/daemon_server", "5000", daemon = true }
w:run()
sim.expect(server.status == "running", "still waiting in accept: " .. server.status)
EOF
"$vmcisim" run "$work/daemon.lua" --allow-exec -q >"$work/daemon.out" 2>&1
status=$?
sleep 0.2
running=$(pgrep -f "$work/daemon_server" | wc -l)
[ "$status" -eq 0 ] && [ "$running" -eq 0 ]
check "a daemon program left waiting: the run passes and its child is gone" $? \
    "status $status, $running left: $(head -c 300 "$work/daemon.out")"

# What the shim serves besides sockets, seen by a program (twice: the same output).
if cc -std=c11 -O2 -o "$work/shim_probe" tests/fixtures/programs/shim_probe.c -lpthread \
        2>"$work/cc.out"; then
    # stdout only: under ASan stderr carries the sanitizer's own notes, with its pid.
    "$vmcisim" run tests/fixtures/programs/probe.lua --allow-exec -q -- "$work/shim_probe" \
        >"$work/probe1.out" 2>"$work/probe1.err"
    "$vmcisim" run tests/fixtures/programs/probe.lua --allow-exec -q -- "$work/shim_probe" \
        >"$work/probe2.out" 2>"$work/probe2.err"
    cmp -s "$work/probe1.out" "$work/probe2.out"
    check "the probe sees the same things twice" $?
    probe() { grep -q "$1" "$work/probe1.out"; check "probe: $2" $? "$(head -c 600 "$work/probe1.out")"; }
    probe "^exit 3 status exited pid 1$" "exit code 3, simulated pid 1"
    probe "^pid 1 ppid 1$" "getpid and getppid are simulated"
    probe "^uname Linux probe-vm x86_64$" "uname names the endpoint"
    probe "^realtime 17040672000" "the realtime clock starts at 2024-01-01 (simulated)"
    probe "^slept_ns 35[0-9][0-9][0-9][0-9]$" "nanosleep and usleep take simulated time"
    probe "^pthread_create ok$" "pthread_create makes a thread (docs/programs.md, Threads)"
    probe "^socket_netlink EAFNOSUPPORT$" "an AF_NETLINK socket is refused"
    probe "^socket_inet ok$" "an AF_INET socket is served (the TCP control channel)"
    probe "^device cid [0-9]* family 40 chr 1$" "/dev/vsock is served: its CID and AF ioctls"
    probe "^file scratch works$" "real files in the scratch directory work natively"
    probe "^socketpair u poll 2 real 1 simulated 1$" "poll mixes real and simulated descriptors"
    probe "^bind_on_dup 0$" "dup shares a simulated socket past the original's close"
    probe "^bypass_write \(E[A-Z]*\) \1$" "a raw write(2) on a simulated socket is trapped and served as write()"
    probe "^bypass_getpid 1$" "a raw getpid(2) is trapped and answered with the simulated pid"
    probe "^bypass_socket_packet EAFNOSUPPORT$" "a raw socket(2) of AF_PACKET is refused"
    probe "^bypass_socket_inet6 ok$" "a raw socket(2) of AF_INET6 is served (the control channel)"
    "$vmcisim" run tests/fixtures/programs/probe.lua --allow-exec -q \
        --trace "$work/probe.db" -- "$work/shim_probe" >/dev/null 2>&1
    refused=$(sqlite3 "$work/probe.db" "select json_extract(fields, '$.value') from events
              where kind = 'exec_refused' and json_extract(fields, '$.what') = 'family'" |
              tr '\n' ' ')
    [ "$refused" = "16 17 " ]
    check "the raw AF_PACKET socket(2) was trapped and refused by the shim (exec_refused)" $? \
        "family refusals traced: '$refused'"
else
    check "the probe program builds" 1 "$(head -c 300 "$work/cc.out")"
fi

# epoll (shim/shim_epoll.c): a guest's stream client driven by epoll against a Lua server.
if cc -std=c11 -O2 -o "$work/epoll_client" tests/fixtures/programs/epoll_client.c \
        2>"$work/cc_epoll.out"; then
    "$vmcisim" run tests/fixtures/programs/epoll.lua --allow-exec -q -- "$work/epoll_client" \
        >"$work/epoll1.out" 2>"$work/epoll1.err"
    "$vmcisim" run tests/fixtures/programs/epoll.lua --allow-exec -q -- "$work/epoll_client" \
        >"$work/epoll2.out" 2>"$work/epoll2.err"
    cmp -s "$work/epoll1.out" "$work/epoll2.out"
    check "the epoll client sees the same things twice" $?
    epoll() {
        grep -q "$1" "$work/epoll1.out"
        check "epoll: $2" $? "$(head -c 600 "$work/epoll1.out")"
    }
    epoll "^exit 0 status exited$" "the epoll client exits 0"
    epoll "^connect ok$" "it connects to the host"
    epoll "^epoll_ctl_add ok$" "epoll_ctl adds a simulated socket"
    epoll "^epoll_ctl_add_again EEXIST$" "adding it twice is EEXIST"
    epoll "^epoll_ctl_exclusive EINVAL$" "EPOLLEXCLUSIVE is refused with EINVAL"
    epoll "^writable 1 data 7 out 1$" "epoll_wait reports the socket writable, with its data"
    epoll "^timeout 0 waited_ns 200[0-9][0-9][0-9][0-9]$" \
        "a wait that times out takes its timeout in simulated time"
    epoll "^mixed 1 first 9$" "a ready real pipe in the interest list ends the wait at once"
    epoll "^raw_wait 1 data 8 in 1$" \
        "a raw epoll_wait(2) is trapped and waits for the answer in simulated time"
    epoll "^answer pong$" "the answer arrives"
    epoll "^after_close 0$" "a closed socket leaves the interest list"
    epoll "^closed_epoll EBADF$" "a closed epoll descriptor is EBADF"
else
    check "the epoll client builds" 1 "$(head -c 300 "$work/cc_epoll.out")"
fi

# epoll edges, one-shot entries and dup of an epoll descriptor (shim/shim_epoll.c).
if cc -std=c11 -O2 -o "$work/epoll_edge" tests/fixtures/programs/epoll_edge.c \
        2>"$work/cc_edge.out"; then
    "$vmcisim" run tests/fixtures/programs/epoll_edge.lua --allow-exec -q -- \
        "$work/epoll_edge" >"$work/edge.out" 2>&1
    edge() {
        grep -q "$1" "$work/edge.out"
        check "epoll: $2" $? "$(head -c 600 "$work/edge.out")"
    }
    edge "^exit 0 status exited$" "the edge client exits 0"
    edge "^edge_first 1 data 1$" "EPOLLET: the first data is an edge"
    edge "^edge_stale 0 waited_ms 10$" "EPOLLET: data still unread is no new edge (the wait times out)"
    edge "^edge_new 1 data 1 at_ms 31$" "EPOLLET: after reading until EAGAIN, new data is an edge"
    edge "^oneshot_first 1 data 2$" "EPOLLONESHOT: reported once"
    edge "^oneshot_disarmed 0$" "EPOLLONESHOT: then disarmed"
    edge "^oneshot_rearmed 1 data 3$" "EPOLLONESHOT: EPOLL_CTL_MOD arms it again"
    edge "^dup_disarmed 0$" "a dup of an epoll descriptor sees the same (disarmed) entry"
    edge "^dup_shared 1 data 4$" "EPOLL_CTL_MOD through the dup changes the original's list"
    edge "^dup_after_close 1 data 4$" "the list outlives the first descriptor's close"
    edge "^dup2 1$" "dup2 of an epoll descriptor"
    edge "^dup3 1$" "dup3 of an epoll descriptor"
    edge "^dupfd 1$" "F_DUPFD of an epoll descriptor"
    edge "^still_open 1$" "the last copy keeps the list"
    edge "^all_closed EBADF$" "closing every copy ends it (EBADF)"
else
    check "the epoll edge client builds" 1 "$(head -c 300 "$work/cc_edge.out")"
fi

# Ancillary data (shim/shim_socket.c): ignored on simulated sockets as Linux's AF_VSOCK
# ignores it, none received; SCM_RIGHTS carrying a simulated descriptor out over a real
# AF_UNIX socket refused loudly (EOPNOTSUPP, exec_refused "rights"), by every way of sending.
if cc -std=c11 -O2 -o "$work/ancillary" tests/fixtures/programs/ancillary.c \
        2>"$work/cc_ancillary.out"; then
    "$vmcisim" run tests/fixtures/programs/ancillary.lua --allow-exec -q \
        --trace "$work/ancillary.db" -- "$work/ancillary" >"$work/ancillary.out" 2>&1
    ancillary() {
        grep -q "$1" "$work/ancillary.out"
        check "ancillary data: $2" $? "$(head -c 600 "$work/ancillary.out")"
    }
    ancillary "^exit 0 status exited$" "the program exits 0"
    ancillary "^vsock_send_rights ok 4$" "SCM_RIGHTS on a vsock stream: the data goes"
    ancillary "^server got pingPING$" "the peer gets the data and nothing of the control data"
    ancillary "^vsock_send_enobufs ENOBUFS$" "more control bytes than the socket layer takes"
    ancillary "^vsock_send_efault EFAULT$" "a control length without a buffer"
    ancillary "^vsock_recv ok pong controllen 0$" "recvmsg returns no control data"
    ancillary "^unix_real_rights ok$" "SCM_RIGHTS of a real descriptor over AF_UNIX works"
    ancillary "^unix_sim_rights EOPNOTSUPP$" "SCM_RIGHTS of a simulated descriptor is refused"
    ancillary "^unix_mixed_rights EOPNOTSUPP$" "a real and a simulated descriptor: refused"
    ancillary "^unix_sendmmsg EOPNOTSUPP$" "sendmmsg with a simulated descriptor: refused"
    ancillary "^unix_raw_sendmsg EOPNOTSUPP$" "a raw sendmsg(2) is trapped and refused"
    ancillary "^pair_sim_rights EOPNOTSUPP$" \
        "SCM_RIGHTS on a simulated socketpair is refused, not dropped"
    refused=$(sqlite3 "$work/ancillary.db" "select count(*) from events where
              kind = 'exec_refused' and json_extract(fields, '$.what') = 'rights'")
    [ "$refused" = 5 ]
    check "ancillary data: each refusal is traced (exec_refused rights)" $? "found $refused"
else
    check "the ancillary program builds" 1 "$(head -c 300 "$work/cc_ancillary.out")"
fi

# Exit as a call: every way a program ends reaches the supervisor as one call (code and time
# simulated), so a program that makes no call of its own ends after two calls, at 2 call costs.
if cc -std=c11 -O2 -o "$work/exit_modes" tests/fixtures/programs/exit_modes.c \
        2>"$work/cc_exit.out"; then
    out=$("$vmcisim" run tests/fixtures/programs/exit.lua --allow-exec -q -- \
          "$work/exit_modes" 2>&1)
    for expected in "return status exited code 4" "exit status exited code 5" \
                    "_exit status exited code 6" "raw status exited code 7"; do
        echo "$out" | grep -q "^exit $expected calls 2 end_ns 2000000$"
        check "exit as a call: ${expected%% *} (code, 2 calls, ended at 2 call costs)" $? \
            "$(echo "$out" | head -c 400)"
    done
else
    check "the exit program builds" 1 "$(head -c 300 "$work/cc_exit.out")"
fi

# ep:exec's cwd: a directory the sandbox shows runs the program there; one it does not show
# (missing, outside the view, relative, not a directory) makes ep:exec raise naming it; before,
# a missing or hidden one ran the program, which ended "exited 1" with bwrap's "Can't chdir".
outside=$(cd "$work" && pwd -P)
out=$("$vmcisim" run tests/fixtures/programs/cwd.lua --allow-exec -q -- "$outside" 2>&1)
for directory in / /usr /usr/bin /dev; do
    echo "$out" | grep -qxF "cwd ran $directory -> exited 0 $directory"
    check "ep:exec cwd $directory runs the program there" $? "$(echo "$out" | head -c 900)"
done
echo "$out" | grep -qE "^cwd ran /bin -> exited 0 /(usr/)?bin$"
check "ep:exec cwd /bin runs the program there" $? "$(echo "$out" | head -c 900)"
for directory in /nonexistent-directory "$outside" relative "/usr/..$outside" /dev/null; do
    echo "$out" | grep -qF "cwd raised $directory: " &&
        echo "$out" | grep -F "cwd raised $directory: " |
        grep -qF "ep:exec: working directory '$directory' "
    check "ep:exec cwd $directory raises naming it" $? "$(echo "$out" | head -c 900)"
done
! echo "$out" | grep -q "Can't chdir"
check "ep:exec cwd: no program meets bwrap's Can't chdir" $? "$(echo "$out" | head -c 900)"

# Lifecycle: a program in a guest sees exactly what a Lua process sees.
for event in power_off suspend vmotion freeze; do
    out=$("$vmcisim" run tests/fixtures/programs/lifecycle.lua --allow-exec -q -- "$event" 2>&1)
    check "lifecycle $event: the program and a Lua process see the same" $? \
        "$(echo "$out" | head -c 300)"
    echo "$out" | grep '^lifecycle' | sed 's/^/# /'
done
out=$("$vmcisim" run tests/fixtures/programs/lifecycle.lua --allow-exec -q -- power_off 2>&1)
echo "$out" | grep -q "^lifecycle power_off program=killed lua=killed host=all status=killed$"
check "power-off kills the guest's programs" $? "$out"

# The channel: the same programs over the socketpair and over shared memory with a futex
# (`channel = "socket" | "shm"`) make the same calls with the same answers: equal digests;
# an unknown channel is refused naming both.
cat >"$work/channel.lua" <<EOF
local sim = require("vmcisim")
local w = sim.world{}
local guest = w:vm{ name = "g" }
local server = w:host():exec{ "$PWD/build/programs/vsock_stream_server", "5000", channel = arg[1] }
local client = guest:exec{ "$PWD/build/programs/vsock_stream_client", "2", "5000", "300000",
                           channel = arg[1] }
local dserver = guest:exec{ "$PWD/build/programs/vsock_dgram_server", "6000", channel = arg[1] }
local dclient
w:host():spawn("later", function(p)
  p:sleep(sim.ms(100))              -- the guest's server has bound by then
  dclient = w:host():exec{ "$PWD/build/programs/vsock_dgram_client", tostring(guest.cid),
                           "6000", "hello", channel = arg[1] }
  p:join(dclient)
end)
w:run()
sim.expect(client.exit_code == 0 and server.exit_code == 0, "stream: " .. client:output())
sim.expect(dclient.exit_code == 0, "dgram: " .. dclient:output())
EOF
channel_digests=""
for channel in socket shm socket shm; do
    out=$("$vmcisim" run "$work/channel.lua" --allow-exec -q --digest -- "$channel" 2>&1)
    check "programs over the $channel channel pass" $? "$(echo "$out" | head -c 300)"
    channel_digests="$channel_digests $(echo "$out" | sed -n 's/^digest //p')"
done
set -- $channel_digests
[ "$#" -eq 4 ] && [ "$1" = "$2" ] && [ "$1" = "$3" ] && [ "$1" = "$4" ]
check "socket and shm channels give the same digest" $? "$channel_digests"
sed -i 's/channel = arg\[1\] }$/channel = "futex" }/' "$work/channel.lua"
out=$("$vmcisim" run "$work/channel.lua" --allow-exec -q -- shm 2>&1)
echo "$out" | grep -q 'channel must be "shm" or "socket"'
check "an unknown channel is refused naming both" $? "$(echo "$out" | head -c 300)"

# Fault-rate kills pick programs as they pick Lua processes: a guest whose only process is a
# program blocked in accept, a kill rate, and the program ends killed, traced as p:kill()
# (a `fault` naming it, then `proc_kill`), the same on two runs.
kill_digests=""
for attempt in 1 2; do
    out=$("$vmcisim" run tests/fixtures/programs/fault_kill.lua --allow-exec -q --digest \
          --trace "$work/fault_kill.db" -- "$PWD/build/programs/vsock_stream_server" 2>&1)
    check "a kill rate kills a program (run $attempt)" $? "$(echo "$out" | head -c 300)"
    kill_digests="$kill_digests $(echo "$out" | sed -n 's/^digest //p')"
done
set -- $kill_digests
[ "$#" -eq 2 ] && [ "$1" = "$2" ]
check "a kill rate's program kill: equal digests" $? "$kill_digests"
kinds=$(sqlite3 "$work/fault_kill.db" "select kind || ':' || coalesce(json_extract(fields,
        '$.process'), '') || ':' || json_extract(fields, '$.target_pid') from events
        where kind in ('fault', 'proc_kill') order by rowid" | tr '\n' ' ')
[ "$kinds" = "fault:victim:1 proc_kill::1 " ]
check "the kill is traced as a fault naming the program, then proc_kill" $? "$kinds"

# scenario_twice NAME COUNT WHAT: runs scenarios/NAME.lua twice (traced to
# $work/NAME_1.db and NAME_2.db) and checks it exits 0, gives equal digests, and prints COUNT
# "NAME … ok" lines and no FAILED; leaves the second run's output in $out.
scenario_twice() {
    local name=$1 count=$2 what=$3 digests="" status=0 lines
    for attempt in 1 2; do
        out=$("$vmcisim" run "scenarios/$name.lua" --allow-exec -q --digest \
                  --trace "$work/${name}_$attempt.db" 2>&1)
        status=$?
        digests="$digests $(echo "$out" | sed -n 's/^digest //p')"
    done
    check "$name runs (exit 0)" "$status" "$(echo "$out" | head -c 600)"
    set -- $digests
    [ "$#" -eq 2 ] && [ "$1" = "$2" ]
    check "$name twice: equal digests" $? "$digests"
    lines=$(echo "$out" | grep -c "^$name .* ok\$")
    [ "$lines" -eq "$count" ] && ! echo "$out" | grep -q FAILED
    check "$name: all $count checks ok ($what)" $? \
        "$(echo "$out" | grep "^$name" | grep -v ' ok$')"
}

# Pipes, socket pairs and the TCP control channel (scenarios/pipes_and_tcp.lua): twice
# with equal digests; every check line of the scenario ok; the trace has their events.
scenario_twice pipes_and_tcp 14 "TCP echo by endpoint name, refusals, UDP, pipe relay"
echo "$out" | grep '^pipes_and_tcp' | sed 's/^/# /'
events=$(sqlite3 "$work/pipes_and_tcp_1.db" "select json_extract(fields, '$.op') from events
         where kind = 'inet' and json_extract(fields, '$.id') = 1" | tr '\n' ' ')
[ "$events" = "socket bind listen close " ]
check "the trace has the listener's inet events (socket bind listen close)" $? "'$events'"
pipes=$(sqlite3 "$work/pipes_and_tcp_1.db" "select count(*) from events where kind = 'exec_pipe'
        and json_extract(fields, '$.op') in ('pipe', 'socketpair')")
[ "$pipes" -eq 4 ]
check "the trace has an exec_pipe event per pipe and socket pair made (4)" $? "$pipes"

# IPv6 on the control channel (scenarios/inet6.lua): a dual-stack server, IPv6 and IPv4
# clients, [::1], getaddrinfo's order, IPV6_V6ONLY; twice with equal digests.
scenario_twice inet6 8 "IPv6 echo, v4-mapped peer, [::1], resolve order, V6ONLY"
accepted=$(sqlite3 "$work/inet6_1.db" "select json_extract(fields, '$.peer') from events
           where kind = 'inet' and json_extract(fields, '$.op') = 'accept' order by rowid
           limit 1")
[ "$accepted" = "[2001:db8::10]:32768" ]
check "the trace names an IPv6 peer as [2001:db8::10]:32768" $? "'$accepted'"

# kill between two programs of one endpoint (scenarios/programs_kill.lua): allowed there,
# EPERM for a Lua process, ESRCH for another endpoint's; twice with equal digests.
scenario_twice programs_kill 6 "peer signalled, killpg, EPERM, ESRCH"

# posix_spawn, system and popen (scenarios/programs_spawn.lua): `sh -c` through each, file
# actions, a missing binary's ENOENT; twice with equal digests.
scenario_twice programs_spawn 9 "system, popen r and w, posix_spawnp, ENOENT"

# sigwaitinfo, sigtimedwait, sigwait, SA_SIGINFO (scenarios/programs_sigwait.lua): what
# siginfo_t says of kill, SIGCHLD and alarm; twice with equal digests.
scenario_twice programs_sigwait 8 "sigwaitinfo, timeout, alarm, siginfo, signalfd"

# Debian's socat, unmodified: `socat VSOCK-LISTEN:5000 PIPE` in a guest echoes 100 000 bytes to
# a Lua client on the host, byte for byte, twice with equal digests (scenarios/socat_echo.lua).
if command -v socat >/dev/null 2>&1; then
    digests=""
    for attempt in 1 2; do
        out=$("$vmcisim" run scenarios/socat_echo.lua --allow-exec -q --digest 2>&1)
        status=$?
        digests="$digests $(echo "$out" | sed -n 's/^digest //p')"
    done
    echo "$out" | grep -q "^socat_echo 100000 equal$" && [ "$status" -eq 0 ]
    check "socat VSOCK-LISTEN:5000 PIPE echoes 100000 bytes byte for byte" $? \
        "$(echo "$out" | head -c 600)"
    set -- $digests
    [ "$#" -eq 2 ] && [ "$1" = "$2" ]
    check "socat_echo twice: equal digests" $? "$digests"
else
    echo "ok - socat: skipped: socat is not installed (scripts/install-deps installs it)"
fi

# socat over IPv6 on the control channel (scenarios/socat_tcp6.lua): TCP6-LISTEN echoing to
# an IPv6 client, a TCP6 client to a dual-stack server; twice with equal digests.
if command -v socat >/dev/null 2>&1; then
    digests=""
    for attempt in 1 2; do
        out=$("$vmcisim" run scenarios/socat_tcp6.lua --allow-exec -q --digest 2>&1)
        status=$?
        digests="$digests $(echo "$out" | sed -n 's/^digest //p')"
    done
    lines=$(echo "$out" | grep -c '^socat_tcp6 .* ok$')
    [ "$status" -eq 0 ] && [ "$lines" -eq 2 ]
    check "socat TCP6-LISTEN and TCP6 over the control channel (2 checks ok)" $? \
        "$(echo "$out" | head -c 600)"
    set -- $digests
    [ "$#" -eq 2 ] && [ "$1" = "$2" ]
    check "socat_tcp6 twice: equal digests" $? "$digests"
else
    echo "ok - socat_tcp6: skipped: socat is not installed (scripts/install-deps installs it)"
fi
