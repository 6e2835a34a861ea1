/* SPDX-License-Identifier: MIT */
/*
 * scenarios/programs/signal_wait.c: sigwaitinfo, sigtimedwait, sigwait and SA_SIGINFO
 * handlers, as a program that takes signals synchronously uses them. One line per check:
 *
 *   wait: USR1 SI_USER from child / CHLD CLD_EXITED from child status 7
 *        SIGUSR1 and SIGCHLD blocked; a forked child signals its parent and exits 7
 *   timedwait: EAGAIN after 2 ms        nothing pending: the timeout, in simulated time
 *   alarm: ALRM SI_KERNEL               alarm(1) taken by sigtimedwait
 *   sigwait: USR2                       sigwait of a signal the program sent itself
 *   handler: USR2 SI_USER from self     an SA_SIGINFO handler's siginfo_t
 *   handler: CHLD CLD_EXITED from child status 3
 *   signalfd: ENOSYS                    not served
 *
 * Run it only inside vmcisim.
 */
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>

#include "vsock_common.h"

static volatile sig_atomic_t handled_signo, handled_code, handled_pid, handled_status;

static const char *code_name(int code)
{
    switch (code) {
    case SI_USER: return "SI_USER";
    case SI_KERNEL: return "SI_KERNEL";
    case SI_TKILL: return "SI_TKILL";
    case CLD_EXITED: return "CLD_EXITED";
    case CLD_KILLED: return "CLD_KILLED";
    default: return "other";
    }
}

static const char *who(pid_t pid, pid_t child)
{
    return pid == getpid() ? "self" : pid == child ? "child" : "someone else";
}

static void print_info(const char *what, const siginfo_t *info, pid_t child)
{
    printf(" %s %s from %s", sigabbrev_np(info->si_signo), code_name(info->si_code),
           who(info->si_pid, child));
    if (info->si_signo == SIGCHLD)
        printf(" status %d", info->si_status);
    (void)what;
}

static void on_signal(int signo, siginfo_t *info, void *context)
{
    (void)context;
    handled_signo = signo;
    handled_code = info->si_code;
    handled_pid = info->si_pid;
    handled_status = info->si_status;
}

static long long now_ns(void)
{
    struct timespec value;
    clock_gettime(CLOCK_MONOTONIC, &value);
    return (long long)value.tv_sec * 1000000000ll + value.tv_nsec;
}

static void check_waitinfo(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
    pid_t child = fork();
    if (child == 0) {
        kill(getppid(), SIGUSR1);
        _exit(7);
    }
    printf("wait:");
    for (int round = 0; round < 2; round++) {
        siginfo_t info;
        if (sigwaitinfo(&set, &info) < 0)
            fail("wait", "sigwaitinfo");
        print_info("wait", &info, child);
        printf(round == 0 ? " /" : "\n");
    }
    waitpid(child, NULL, 0);
    sigset_t empty;
    sigemptyset(&empty);
    struct timespec timeout = { .tv_nsec = 2000000 };
    long long before = now_ns();
    int rc = sigtimedwait(&set, NULL, &timeout);
    printf("timedwait: %s after %lld ms\n", rc < 0 ? strerrorname_np(errno) : "a signal",
           (now_ns() - before) / 1000000);
}

static void check_alarm_and_sigwait(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGALRM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    alarm(1);
    siginfo_t info;
    if (sigtimedwait(&set, &info, NULL) < 0)
        fail("alarm", "sigtimedwait");
    printf("alarm: %s %s\n", sigabbrev_np(info.si_signo), code_name(info.si_code));
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, NULL);
    raise(SIGUSR2);
    int signo = 0;
    int rc = sigwait(&set, &signo);
    printf("sigwait: %s\n", rc == 0 ? sigabbrev_np(signo) : strerrorname_np(rc));
    sigprocmask(SIG_UNBLOCK, &set, NULL);
}

static void check_handlers(void)
{
    struct sigaction action = { .sa_sigaction = on_signal, .sa_flags = SA_SIGINFO };
    sigemptyset(&action.sa_mask);
    sigaction(SIGUSR2, &action, NULL);
    sigaction(SIGCHLD, &action, NULL);
    kill(getpid(), SIGUSR2);
    printf("handler: %s %s from %s\n", sigabbrev_np(handled_signo), code_name(handled_code),
           who(handled_pid, -1));
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_UNBLOCK, &set, &old);
    handled_signo = 0;
    pid_t child = fork();
    if (child == 0)
        _exit(3);
    while (handled_signo != SIGCHLD)
        pause();
    printf("handler: %s %s from %s status %d\n", sigabbrev_np(handled_signo),
           code_name(handled_code), who(handled_pid, child), (int)handled_status);
    waitpid(child, NULL, 0);
}

int main(void)
{
    check_waitinfo();
    check_alarm_and_sigwait();
    check_handlers();
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    int fd = signalfd(-1, &set, 0);
    printf("signalfd: %s\n", fd < 0 ? strerrorname_np(errno) : "served");
    return 0;
}
