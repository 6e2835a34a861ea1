/* SPDX-License-Identifier: MIT */
/*
 * scenarios/programs/kill_peer.c: kill(2) between two programs of one endpoint, as two
 * processes of one user on one Linux machine signal each other.
 *
 *   kill_peer wait            print "waiter: ready", wait for SIGUSR1 (5 s alarm as a bound),
 *                             print "waiter: got SIGUSR1" and exit 0
 *   kill_peer send PID...     for each PID: kill(PID, 0), then kill(PID, SIGUSR1) for the
 *                             first one and killpg(PID, 0) for it; print each result
 *
 * It prints "<who>: <call>: <result or ERRNO NAME>". Run it only inside vmcisim.
 */
#include <signal.h>

#include "vsock_common.h"

static volatile sig_atomic_t got_signal;

static void on_signal(int signo)
{
    got_signal = signo;
}

static int wait_for_signal(void)
{
    struct sigaction action = { .sa_handler = on_signal };
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGUSR1, &action, NULL) < 0)
        fail("waiter", "sigaction");
    alarm(5);                           /* simulated seconds: the test's bound */
    printf("waiter: ready\n");
    fflush(stdout);
    while (got_signal == 0)
        pause();
    printf("waiter: got %s\n", sigabbrev_np(got_signal));
    return 0;
}

static const char *result(int rc)
{
    return rc == 0 ? "ok" : strerrorname_np(errno);
}

static int send_signals(int count, char **pids)
{
    for (int index = 0; index < count; index++) {
        pid_t pid = (pid_t)parse_number(pids[index]);
        printf("sender: kill %s 0: %s\n", pids[index], result(kill(pid, 0)));
        if (index > 0)
            continue;
        printf("sender: killpg %s 0: %s\n", pids[index], result(killpg(pid, 0)));
        printf("sender: kill %s SIGUSR1: %s\n", pids[index], result(kill(pid, SIGUSR1)));
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "wait") == 0)
        return wait_for_signal();
    if (argc >= 3 && strcmp(argv[1], "send") == 0)
        return send_signals(argc - 2, argv + 2);
    fprintf(stderr, "usage: kill_peer wait | kill_peer send PID...\n");
    return 2;
}
