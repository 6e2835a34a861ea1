#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/programs_fork_test.sh: fork, exec, wait and signals in real programs (docs/programs.md,
# "fork, exec and wait" and "Signals").
#
# The Guide's accept-and-fork server (scenarios/fork_server.lua) twice with equal digests; what
# fork, vfork and the wait family give a program (tests/fixtures/programs/fork_probe.c, built
# here, run by fork.lua) twice with the same output; a forked process that outlives its parent.
# Skips, saying why, only when this machine cannot sandbox programs.
# Outputs are compared from stdout only: under ASan stderr carries the sanitizer's own notes.
# Prints "ok - NAME" / "not ok - NAME"; scripts/run-tests counts them.
set -u
vmcisim=${VMCISIM:-./vmcisim}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. tests/programs_lib.sh
programs_skip_unless_sandboxed programs_fork

# The accept-and-fork server: every client's echo, the children reaped, twice the same digest.
digests=""
for attempt in 1 2; do
    out=$("$vmcisim" run scenarios/fork_server.lua --allow-exec -q --digest 2>&1)
    status=$?
    check "fork_server.lua passes (attempt $attempt)" "$status" "$(echo "$out" | head -c 400)"
    digests="$digests $(echo "$out" | sed -n 's/^digest //p')"
done
set -- $digests
[ "$#" -eq 2 ] && [ "$1" = "$2" ]
check "fork_server.lua twice: equal digests" $? "digests:$digests"

# fork_probe: fork, vfork, raw fork, the wait family, a socket shared across fork.
if cc -std=c11 -O2 -o "$work/fork_probe" tests/fixtures/programs/fork_probe.c \
        2>"$work/cc.out"; then
    "$vmcisim" run tests/fixtures/programs/fork.lua --allow-exec -q -- "$work/fork_probe" \
        >"$work/probe1.out" 2>"$work/probe1.err"
    "$vmcisim" run tests/fixtures/programs/fork.lua --allow-exec -q -- "$work/fork_probe" \
        >"$work/probe2.out" 2>"$work/probe2.err"
    cmp -s "$work/probe1.out" "$work/probe2.out"
    check "fork_probe sees the same things twice" $?
    probe() {
        grep -q "$1" "$work/probe1.out"
        check "fork: $2" $? "$(head -c 800 "$work/probe1.out")";
    }
    probe "^exit 0 status exited pid 2$" "the probe exits 0"
    probe "^wait_none -1 ECHILD$" "wait without children is ECHILD"
    probe "^parent forked 4 self 2$" "fork answers the child's simulated pid"
    probe "^child pid 4 ppid 2$" "the child sees its simulated pid and its parent's"
    probe "^wnohang 0$" "WNOHANG before the child ended answers 0"
    probe "^not_a_child -1 ECHILD$" "waitpid of a pid that is no child is ECHILD"
    probe "^waitid_nowait 0 pid 4 code CLD_EXITED status 3$" "waitid (WNOWAIT) fills siginfo"
    probe "^waitpid 4 exited 1 code 3 " "waitpid reaps the child with its exit code"
    probe "^wait_again -1 ECHILD$" "a reaped child is gone"
    probe "^vfork 1 status 4$" "vfork is served as fork"
    probe "^raw_fork 1 status 5$" "a raw fork(2) is trapped and served"
    probe "^clone_vm -1 ENOSYS$" "clone with CLONE_VM is refused"
    probe "^shared child 0 parent_sent 12$" \
        "the parent's socket works after the child closed its copy"
    probe "^server read from-child;from-parent;$" \
        "the server reads both, then the end at the last close"
else
    check "the fork probe builds" 1 "$(head -c 300 "$work/cc.out")"
fi

# A forked process outlives its parent: it runs on, orphaned (parent pid 1), its output kept.
cat >"$work/orphan.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(void)
{
    if (fork() == 0) {
        usleep(5000);
        printf("orphan ppid %d\n", (int)getppid());
        exit(7);
    }
    printf("parent leaves\n");
    return 0;
}
C
cat >"$work/orphan.lua" <<LUA
local sim = require("vmcisim")
local w = sim.world{}
local p = w:host():exec{ "$work/orphan" }
w:run()
io.write(p:output())
print("exit " .. tostring(p.exit_code))
LUA
if cc -std=c11 -D_DEFAULT_SOURCE -O2 -o "$work/orphan" "$work/orphan.c" 2>"$work/cc2.out"; then
    "$vmcisim" run "$work/orphan.lua" --allow-exec -q --trace "$work/orphan.db" \
        >"$work/orphan.out" 2>&1
    grep -q "^orphan ppid 1$" "$work/orphan.out" && grep -q "^exit 0$" "$work/orphan.out"
    check "an orphaned child runs on with parent pid 1, its output kept" $? \
        "$(head -c 300 "$work/orphan.out")"
    exits=$(sqlite3 "$work/orphan.db" "select pid || ':' || json_extract(fields, '$.code')
            from events where kind = 'exec_exit' order by seq" | tr '\n' ' ')
    [ "$exits" = "1:0 2:7 " ]
    check "exec_exit for the parent (code 0), then the orphan (code 7)" $? "$exits"
else
    check "the orphan program builds" 1 "$(head -c 300 "$work/cc2.out")"
fi

# A forked child makes its own pipe and socket pair (socat's `fork` option does: each child
# opens a pipe); before the fix the child's pipe() was ENOSYS.
cat >"$work/child_pipe.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void)
{
    if (fork() == 0) {
        int ends[2], pair[2];
        char got[9] = { 0 };
        if (pipe(ends) != 0 || write(ends[1], "pipe", 4) != 4 || read(ends[0], got, 4) != 4)
            exit(1);
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0 || write(pair[0], "pair", 4) != 4 ||
            read(pair[1], got + 4, 4) != 4)
            exit(2);
        printf("child got %s\n", got);
        exit(0);
    }
    int status = 0;
    wait(&status);
    printf("child exited %d code %d\n", WIFEXITED(status), WEXITSTATUS(status));
    return 0;
}
C
cat >"$work/child_pipe.lua" <<LUA
local sim = require("vmcisim")
local w = sim.world{}
local p = w:host():exec{ "$work/child_pipe" }
w:run()
io.write(p:output())
LUA
if cc -std=c11 -D_DEFAULT_SOURCE -O2 -o "$work/child_pipe" "$work/child_pipe.c" \
        2>"$work/cc5.out"; then
    "$vmcisim" run "$work/child_pipe.lua" --allow-exec -q >"$work/child_pipe.out" \
        2>"$work/child_pipe.err"
    [ "$(tr '\n' ' ' <"$work/child_pipe.out")" = "child got pipepair child exited 1 code 0 " ]
    check "a forked child makes and uses its own pipe and socket pair" $? \
        "$(head -c 300 "$work/child_pipe.out" "$work/child_pipe.err")"
else
    check "the child_pipe program builds" 1 "$(head -c 300 "$work/cc5.out")"
fi

# execve: the same simulated process, close-on-exec simulated descriptors closed, the preload
# and channel put back, a static binary refused, the new image traced like the first.
if cc -std=c11 -O2 -o "$work/exec_probe" tests/fixtures/programs/exec_probe.c \
        2>"$work/cc3.out" && [ -x build/tests/programs/sandbox_probe_static ]; then
    static="$PWD/build/tests/programs/sandbox_probe_static"
    for attempt in 1 2; do
        "$vmcisim" run tests/fixtures/programs/exec.lua --allow-exec -q \
            --trace "$work/exec$attempt.db" -- "$work/exec_probe" "$static" \
            >"$work/exec$attempt.out" 2>"$work/exec$attempt.err"
    done
    cmp -s "$work/exec1.out" "$work/exec2.out"
    check "exec_probe sees the same things twice" \
        $? "$(diff "$work/exec1.out" "$work/exec2.out" | head -c 300)"
    execs() {
        grep -q "$1" "$work/exec1.out"
        check "exec: $2" $? "$(head -c 900 "$work/exec1.out")";
    }
    execs "^exit 0 status exited pid 1$" "the probe's second image exits 0"
    execs "^exec_missing ENOENT$" "a missing binary is ENOENT, the program goes on"
    execs "^exec_static ENOEXEC$" "a static binary is refused with ENOEXEC"
    execs "execve refused: only dynamically linked" "with a line on stderr"
    execs "^again pid 1 ppid 1 env_preload set$" \
        "the new image is the same simulated process, preloaded again"
    execs "^kept_socket 0 family 40$" "a simulated socket survives execve"
    execs "^cloexec_socket -1 EBADF$" "a SOCK_CLOEXEC one is closed by execve"
    execs "^device_kept 1$" "/dev/vsock stays simulated in the new image"
    execs "^true_in_child exited 1 code 0$" "fork, then execvp of a system binary, then waitpid"
    starts=$(sqlite3 "$work/exec1.db" "select pid || ':' || json_extract(fields, '$.binary')
             from events where kind = 'exec_start' order by seq" | tr '\n' ' ')
    [ "$starts" = "1:$work/exec_probe 1:$work/exec_probe 3:/usr/bin/true " ]
    check "exec_start for each image, with its binary" $? "$starts"
    refused=$(sqlite3 "$work/exec1.db" "select json_extract(fields, '$.what') from events
              where kind = 'exec_refused'")
    [ "$refused" = "exec" ]
    check "the static binary's refusal is traced (exec_refused exec)" $? "$refused"
else
    check "the exec probe builds" 1 "$(head -c 300 "$work/cc3.out")"
fi

# A shell (started through the loader: its argv[0] is not its path) runs a pipeline of system
# binaries and execs the last command in place.
cat >"$work/shell.lua" <<'LUA'
local sim = require("vmcisim")
local w = sim.world{}
local p = w:host():exec{ "sh", "-c",
                         "echo a; /bin/echo b; ls /dev/null | wc -l; exec echo c; echo never" }
w:run()
io.write(p:output())
print("exit " .. tostring(p.exit_code))
LUA
for attempt in 1 2; do
    "$vmcisim" run "$work/shell.lua" --allow-exec -q --digest >"$work/shell$attempt.out" \
        2>"$work/shell$attempt.err"
done
[ "$(grep -v '^digest' "$work/shell1.out" | tr '\n' ' ')" = "a b 1 c exit 0 " ]
check "sh -c runs echo, a pipeline and exec in place" $? "$(head -c 300 "$work/shell1.out")"
cmp -s "$work/shell1.out" "$work/shell2.out"
check "the shell twice: the same output and digest" $?

# Emulated signals (D21): SIGPIPE (default, MSG_NOSIGNAL, ignored), SIGALRM from alarm ending a
# blocked recv with EINTR, SA_RESTART, nanosleep's time left, kill/pause between processes,
# SIGCHLD, blocked and pending signals delivered lowest first, a default action ending it.
if cc -std=c11 -O2 -o "$work/signal_probe" tests/fixtures/programs/signal_probe.c \
        2>"$work/cc4.out"; then
    for attempt in 1 2; do
        "$vmcisim" run tests/fixtures/programs/signal.lua --allow-exec -q --digest -- \
            "$work/signal_probe" >"$work/signal$attempt.out" 2>"$work/signal$attempt.err"
    done
    cmp -s "$work/signal1.out" "$work/signal2.out"
    check "signal_probe twice: the same output and digest" $? \
        "$(diff "$work/signal1.out" "$work/signal2.out" | head -c 300)"
    signals() {
        grep -q "$1" "$work/signal1.out"
        check "signals: $2" $? "$(head -c 900 "$work/signal1.out")";
    }
    signals "^sigpipe_default signalled 1 signal 13$" \
        "SIGPIPE's default action ends a writer on a broken stream"
    signals "^sigpipe_nosignal EPIPE$" "MSG_NOSIGNAL: EPIPE and no signal"
    signals "^sigpipe_ignored EPIPE$" "SIGPIPE ignored: EPIPE"
    signals "^alarm_recv -1 EINTR alarms 1 after_ms 1000$" \
        "alarm(1) ends a blocked recv with EINTR after 1 s simulated"
    signals "^restart_recv 4 alarms 2 after_ms 2000$" \
        "with SA_RESTART the recv goes on after the handler"
    signals "^nanosleep -1 EINTR left_s 3 alarms 3$" "nanosleep interrupted, with the time left"
    signals "^kill 0$" "kill of a forked process"
    signals "^paused_child exited 1 code 7 sigchld 1$" \
        "pause ends after the handler; SIGCHLD reaches the parent's handler"
    signals "^sigterm signalled 1 signal 15$" "SIGTERM's default action, seen by waitpid"
    signals "^kill_nobody -1 ESRCH$" "kill of a pid outside the program is ESRCH"
    signals "^blocked delivered 0 pending 1 1$" "blocked signals stay pending"
    signals "^unblocked delivered 2 order 10 12$" "unblocked, they are delivered lowest first"
    signals "^exit 141 status signalled$" \
        "raise(SIGPIPE) with the default action: status signalled, 128 + 13"
    ! grep -q "not reached" "$work/signal1.out"
    check "signals: nothing runs after the default action" $?
else
    check "the signal probe builds" 1 "$(head -c 300 "$work/cc4.out")"
fi

# The program's descriptor numbers do not depend on the supervisor's open files: the shim moves
# the channel to descriptor 1023, so a run with --trace numbers them as one without.
cat >"$work/fdnum.c" <<'C'
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
int main(void)
{
    int first = socket(40, SOCK_STREAM, 0), file = open("/dev/null", O_RDONLY);
    int second = socket(40, SOCK_DGRAM, 0);
    printf("fds %d %d %d channel %s\n", first, file, second, getenv("VMCISIM_CHANNEL_FD"));
    return 0;
}
C
cat >"$work/fdnum.lua" <<LUA
local sim = require("vmcisim")
local w = sim.world{}
local p = w:host():exec{ "$work/fdnum" }
w:run()
io.write(p:output())
LUA
if cc -std=c11 -O2 -o "$work/fdnum" "$work/fdnum.c" 2>"$work/cc5.out"; then
    "$vmcisim" run "$work/fdnum.lua" --allow-exec -q >"$work/fd1.out" 2>/dev/null
    "$vmcisim" run "$work/fdnum.lua" --allow-exec -q --trace "$work/fd.db" \
        >"$work/fd2.out" 2>/dev/null
    grep -q "^fds 3 4 5 channel 1023$" "$work/fd1.out" && cmp -s "$work/fd1.out" "$work/fd2.out"
    check "descriptor numbers start at 3 and do not depend on --trace" $? \
        "$(cat "$work/fd1.out" "$work/fd2.out" | head -c 300)"
else
    check "the descriptor program builds" 1 "$(head -c 300 "$work/cc5.out")"
fi
