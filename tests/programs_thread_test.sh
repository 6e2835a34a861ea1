#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/programs_thread_test.sh: threads in real programs (docs/programs.md, "Threads").
#
# The Guide's stream server with a thread per connection (scenarios/thread_server.lua) twice with
# equal digests, under both channel kinds; what threads see (join values, timed joins, a mutex and
# condition variable handoff, a timed wait, a semaphore, shared descriptors, ids, a detached thread,
# the thread limit, fork refused: tests/fixtures/programs/thread_probe.c, built here, run by
# threads.lua) twice with the same output and digest; exit() in a thread ends the whole program with
# its code; pthread_exit in main lets the threads run on. Skips, saying why, only when this machine
# cannot sandbox programs. Outputs are compared from stdout only (under ASan stderr carries the
# sanitizer's own notes). Prints "ok - NAME" / "not ok - NAME"; scripts/run-tests counts them.
set -u
vmcisim=${VMCISIM:-./vmcisim}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. tests/programs_lib.sh
programs_skip_unless_sandboxed programs_thread

# The thread-per-connection server: every echo, every join's byte count, twice the same digest.
digests=""
for attempt in 1 2; do
    out=$("$vmcisim" run scenarios/thread_server.lua --allow-exec -q --digest 2>&1)
    status=$?
    check "thread_server.lua passes (attempt $attempt)" "$status" "$(echo "$out" | head -c 400)"
    digests="$digests $(echo "$out" | sed -n 's/^digest //p')"
done
set -- $digests
[ "$#" -eq 2 ] && [ "$1" = "$2" ]
check "thread_server.lua twice: equal digests" $? "digests:$digests"
out=$("$vmcisim" run scenarios/thread_server.lua --allow-exec -q 2>&1)
for number in 0 1 2 3; do
    echo "$out" | grep -q "^thread $number: pid 1 tid [0-9]*$"
    check "thread $number sees its process's pid and its own id" $? "$(echo "$out" | head -c 400)"
done

# The same server over the socket channel: the same digest (the channel is not simulated).
"$vmcisim" run scenarios/thread_server.lua --allow-exec -q --digest -- esxi-6.5 socket \
    >"$work/socket.out" 2>&1
check "thread_server.lua over the socket channel passes" $? "$(head -c 400 "$work/socket.out")"
socket_digest=$(sed -n 's/^digest //p' "$work/socket.out")
[ -n "$socket_digest" ] && [ "$socket_digest" = "$1" ]
check "thread_server.lua: the same digest over either channel" $? "$socket_digest vs $1"

# thread_probe: what threads see, twice the same.
if cc -std=c11 -O2 -o "$work/thread_probe" tests/fixtures/programs/thread_probe.c -lpthread \
        2>"$work/cc.out"; then
    for attempt in 1 2; do
        "$vmcisim" run tests/fixtures/programs/threads.lua --allow-exec -q --digest -- \
            "$work/thread_probe" >"$work/probe$attempt.out" 2>"$work/probe$attempt.err"
    done
    cmp -s "$work/probe1.out" "$work/probe2.out"
    check "thread_probe twice: the same output and digest" $? \
        "$(diff "$work/probe1.out" "$work/probe2.out" | head -c 300)"
    probe() {
        grep -q "$1" "$work/probe1.out"
        check "threads: $2" $? "$(head -c 900 "$work/probe1.out" "$work/probe1.err")";
    }
    probe "^exit 0 status exited$" "the probe exits 0"
    probe "^join_values 0 1 4 9 77$" "pthread_join returns each thread's value, pthread_exit's too"
    probe "^handoff 50 sum 1275 waited 1$" \
        "a mutex and condition variable hand 50 items over, both sides waiting"
    probe "^timedwait ETIMEDOUT after_ms 5$" \
        "pthread_cond_timedwait times out after 5 ms of simulated time"
    probe "^semaphore 3$" "sem_wait takes the 3 tokens another thread posts"
    probe "^pipe_read hello closed_for_all EBADF$" \
        "a thread's read waits for another thread's write; a close is every thread's"
    probe "^thread_ids pid 1 main_tid 1 other_tid_differs 1$" \
        "getpid is the process's, gettid each thread's own"
    probe "^joins try EBUSY timed ETIMEDOUT clock 0 value 5$" \
        "tryjoin is EBUSY, a timed join times out, a clock join gets the value (simulated)"
    probe "^detached ran 1$" "a detached thread runs"
    probe "^group_signal kill 0 handled 1 read x$" \
        "kill(0) reaches the program once: its handler runs once, the other thread reads on"
    probe "^socket_signal kill 0 handled 1 recv y$" \
        "a signal to the program while another thread waits in a vSockets recv: that recv goes on"
    probe "^thread_kill 0 handled 2 recv EINTR gone ESRCH$" \
        "pthread_kill interrupts that thread's recv (EINTR); a joined thread is ESRCH"
    probe "^limit 64 EAGAIN fork_with_threads ENOSYS$" \
        "the 65th thread is EAGAIN; fork is refused while threads live"
    probe "^limit_joined 64$" "a broadcast wakes the 64, every join succeeds"
    "$vmcisim" run tests/fixtures/programs/threads.lua --allow-exec -q \
        --trace "$work/probe.db" -- "$work/thread_probe" >/dev/null 2>&1
    counts=$(sqlite3 "$work/probe.db" "select kind || ':' || count(*) from events
             where kind in ('exec_thread', 'exec_thread_exit') group by kind order by kind" |
             tr '\n' ' ')
    [ "$counts" = "exec_thread:77 exec_thread_exit:77 " ]
    check "each of the 77 threads (5 + 1 + 1 + 1 + 1 + 1 + 1 + 2 + 64) is traced made and ended" $? \
        "$counts"
    refused=$(sqlite3 "$work/probe.db" "select json_extract(fields, '$.value') from events
              where kind = 'exec_refused' and json_extract(fields, '$.what') = 'thread'")
    [ "$refused" = "64" ]
    check "the thread beyond the limit is traced (exec_refused thread 64)" $? "$refused"
    "$vmcisim" run tests/fixtures/programs/threads.lua --allow-exec -q -- \
        "$work/thread_probe" exit_in_thread >"$work/exit.out" 2>"$work/exit.err"
    [ "$(tr '\n' ' ' <"$work/exit.out")" = "exit 9 status exited thread exits the program " ]
    check "exit(9) in a thread ends the whole program with 9" $? \
        "$(head -c 300 "$work/exit.out" "$work/exit.err")"
    "$vmcisim" run tests/fixtures/programs/threads.lua --allow-exec -q -- \
        "$work/thread_probe" main_exits >"$work/main.out" 2>"$work/main.err"
    expected="exit 0 status exited main leaves thread 1 after main left thread 2 after main left "
    [ "$(tr '\n' ' ' <"$work/main.out")" = "$expected" ]
    check "pthread_exit in main: the threads run on, the last one's end ends the program" $? \
        "$(head -c 300 "$work/main.out" "$work/main.err")"
else
    check "the thread probe builds" 1 "$(head -c 300 "$work/cc.out")"
fi
