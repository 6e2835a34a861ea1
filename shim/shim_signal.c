/* SPDX-License-Identifier: MIT */
/*
 * shim/shim_signal.c: emulated signals inside a program (decision D21, docs/programs.md
 * "Signals"). Real signals stay blocked (SIGSYS, the trap's, and the synchronous faults
 * aside); sigaction, signal, sigprocmask, pthread_sigmask, sigpending, sigsuspend, pause,
 * sigwait, sigwaitinfo, sigtimedwait, alarm, setitimer/getitimer (ITIMER_REAL), kill,
 * killpg and raise are served by the
 * supervisor (sim/exec/signal.c), and so are the system calls behind them when glibc makes
 * them itself (abort's tgkill, system's rt_sigaction): the trap brings those here.
 *
 * Delivery: every reply says which signals are deliverable; after the call the shim takes
 * them one at a time (EXEC_OP_SIGTAKE) and runs the program's handler, with the mask the
 * supervisor set, then restores the mask; a default action that ends the program reports
 * the signal as the program's end (EXEC_OP_EXIT) and exits. A call interrupted by a
 * handler with SA_RESTART (EXEC_ERESTART) is made again after the handler. An SA_SIGINFO
 * handler gets a siginfo_t filled from what the supervisor says of the signal (si_code,
 * si_pid, si_status). signalfd is refused (ENOSYS, traced): its readiness would need a
 * descriptor kind the supervisor polls.
 *
 * Invariant: the handler table here holds the program's handler addresses; the supervisor
 * holds what they are (default, ignore, handler), so both agree after fork and execve.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include "shim_int.h"

#define SHIM_NS_PER_SEC 1000000000ll
#ifndef SA_RESTORER
#define SA_RESTORER 0x04000000          /* the kernel's flag glibc adds (not in its headers) */
#endif

static struct sigaction handlers[EXEC_SIGNALS_MAX + 1];
static bool delivering;

static uint64_t mask_of(const sigset_t *set)
{
    uint64_t mask = 0;
    if (set != NULL)
        memcpy(&mask, set, sizeof(mask));
    return mask;
}

static void mask_store(sigset_t *set, uint64_t mask)
{
    if (set == NULL)
        return;
    sigemptyset(set);
    memcpy(set, &mask, sizeof(mask));
}

/* The signal's default action ends the program: the supervisor learns it as its end. */
static __attribute__((noreturn)) void signal_terminate(int signo)
{
    (void)shim_call_simple(EXEC_OP_EXIT, 128 + signo, signo, 0, 0);
    for (;;)
        (void)shim_syscall(SYS_exit_group, 128 + signo, 0, 0, 0, 0, 0);
}

/* A siginfo_t as Linux fills it for these sources: the sender (or the child that ended)
 * and, for SIGCHLD, its status. */
static void info_fill(siginfo_t *out, int signo, const struct exec_signal_info *info)
{
    memset(out, 0, sizeof(*out));
    out->si_signo = signo;
    out->si_code = info->code;
    out->si_pid = (pid_t)info->pid;
    out->si_uid = getuid();
    if (signo == SIGCHLD)
        out->si_status = info->status;
}

static void handler_run(int signo, const struct exec_signal_info *given)
{
    const struct sigaction *action = &handlers[signo];
    if ((action->sa_flags & SA_SIGINFO) != 0 && action->sa_sigaction != NULL) {
        siginfo_t info;
        info_fill(&info, signo, given);
        action->sa_sigaction(signo, &info, NULL);
    } else if (action->sa_handler != SIG_DFL && action->sa_handler != SIG_IGN &&
               action->sa_handler != NULL) {
        action->sa_handler(signo);
    }
    if (action->sa_flags & SA_RESETHAND)
        memset(&handlers[signo], 0, sizeof(handlers[signo]));
}

bool shim_signal_deliver(bool restart)
{
    if (delivering)
        return false;                   /* inside a handler: after it returns */
    delivering = true;
    int saved = errno;
    for (;;) {
        struct exec_request request = { .op = EXEC_OP_SIGTAKE };
        struct exec_reply reply;
        struct exec_signal_info info = { .code = SI_USER };
        struct iovec in = { &info, sizeof(info) };
        int64_t signo = shim_call(&request, NULL, 0, &reply, &in, 1);
        if (signo <= 0 || signo > EXEC_SIGNALS_MAX)
            break;
        if (reply.values[0] == EXEC_SIGNAL_TERMINATE)
            signal_terminate((int)signo);
        handler_run((int)signo, &info);
        (void)shim_call_simple(EXEC_OP_SIGMASK, SIG_SETMASK, reply.values[1], 0, 0);
    }
    errno = saved;
    delivering = false;
    return restart;
}

/* ---- The calls ---------------------------------------------------------------------------- */

/* sigaction with a glibc struct (the kernel's is converted by the trap below). */
static int action_change(int signo, const struct sigaction *action, struct sigaction *old)
{
    if (signo < 1 || signo > EXEC_SIGNALS_MAX) {
        errno = EINVAL;
        return -1;
    }
    int64_t kind = EXEC_SIGNAL_QUERY;
    if (action != NULL)
        kind = action->sa_handler == SIG_DFL ? EXEC_SIGNAL_DEFAULT
               : action->sa_handler == SIG_IGN ? EXEC_SIGNAL_IGNORE : EXEC_SIGNAL_HANDLER;
    struct exec_request request = { .op = EXEC_OP_SIGACTION, .args = {
        signo, kind, action != NULL ? action->sa_flags : 0,
        action != NULL ? (int64_t)mask_of(&action->sa_mask) : 0 } };
    struct exec_reply reply;
    if (shim_result(shim_call(&request, NULL, 0, &reply, NULL, 0)) < 0)
        return -1;
    if (old != NULL) {
        if (reply.values[0] == EXEC_SIGNAL_HANDLER) {
            *old = handlers[signo];
        } else {
            memset(old, 0, sizeof(*old));
            old->sa_handler = reply.values[0] == EXEC_SIGNAL_IGNORE ? SIG_IGN : SIG_DFL;
            old->sa_flags = (int)reply.values[1];
        }
    }
    if (action != NULL)
        handlers[signo] = *action;
    return 0;
}

int sigaction(int signo, const struct sigaction *action, struct sigaction *old)
{
    return action_change(signo, action, old);
}

sighandler_t signal(int signo, sighandler_t handler)
{
    struct sigaction action, old;
    memset(&action, 0, sizeof(action));
    action.sa_handler = handler;
    action.sa_flags = SA_RESTART;       /* glibc's signal() has BSD semantics */
    if (action_change(signo, &action, &old) < 0)
        return SIG_ERR;
    return old.sa_handler;
}

static long mask_change(int how, const sigset_t *set, sigset_t *old)
{
    struct exec_request request = { .op = EXEC_OP_SIGMASK,
                                    .args = { set != NULL ? how : -1,
                                              (int64_t)mask_of(set) } };
    struct exec_reply reply;
    long rc = (long)shim_call(&request, NULL, 0, &reply, NULL, 0);
    if (rc == 0)
        mask_store(old, (uint64_t)reply.values[0]);
    return rc;
}

int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
    return (int)shim_result(mask_change(how, set, old));
}

int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
    return (int)-mask_change(how, set, old);    /* the error number itself, as pthreads */
}

int sigpending(sigset_t *set)
{
    struct exec_request request = { .op = EXEC_OP_SIGMASK, .args = { -1 } };
    struct exec_reply reply;
    if (shim_result(shim_call(&request, NULL, 0, &reply, NULL, 0)) < 0)
        return -1;
    mask_store(set, (uint64_t)(reply.values[0] & reply.values[1]));
    return 0;
}

static long suspend_with(uint64_t mask)
{
    struct exec_request request = { .op = EXEC_OP_SIGSUSPEND, .args = { (int64_t)mask } };
    struct exec_reply reply;
    long rc = (long)shim_call(&request, NULL, 0, &reply, NULL, 0);  /* handlers ran */
    if (rc == -EINTR)
        (void)shim_call_simple(EXEC_OP_SIGMASK, SIG_SETMASK, reply.values[0], 0, 0);
    return rc;
}

int sigsuspend(const sigset_t *mask)
{
    return (int)shim_result(suspend_with(mask_of(mask)));
}

static long pause_now(void)
{
    struct exec_request request = { .op = EXEC_OP_SIGMASK, .args = { -1 } };
    struct exec_reply reply;
    long rc = (long)shim_call(&request, NULL, 0, &reply, NULL, 0);
    return rc < 0 ? rc : suspend_with((uint64_t)reply.values[0]);
}

int pause(void)
{
    return (int)shim_result(pause_now());
}

/* sigtimedwait's core: the signal taken (and *info filled), or -EAGAIN, -EINTR, -EINVAL. */
static long signal_wait(const sigset_t *set, siginfo_t *info, const struct timespec *timeout)
{
    if (set == NULL)
        return -EFAULT;
    int64_t timeout_ns = -1;
    if (timeout != NULL) {
        if (timeout->tv_nsec < 0 || timeout->tv_nsec >= SHIM_NS_PER_SEC || timeout->tv_sec < 0)
            return -EINVAL;
        timeout_ns = timeout->tv_sec > INT64_MAX / SHIM_NS_PER_SEC - 1
                         ? INT64_MAX : timeout->tv_sec * SHIM_NS_PER_SEC + timeout->tv_nsec;
    }
    struct exec_request request = { .op = EXEC_OP_SIGWAIT,
                                    .args = { (int64_t)mask_of(set), timeout_ns } };
    struct exec_reply reply;
    struct exec_signal_info given = { .code = SI_USER };
    struct iovec in = { &given, sizeof(given) };
    long signo = (long)shim_call(&request, NULL, 0, &reply, &in, 1);
    if (signo > 0 && info != NULL)
        info_fill(info, (int)signo, &given);
    return signo;
}

int sigtimedwait(const sigset_t *set, siginfo_t *info, const struct timespec *timeout)
{
    return (int)shim_result(signal_wait(set, info, timeout));
}

int sigwaitinfo(const sigset_t *set, siginfo_t *info)
{
    return (int)shim_result(signal_wait(set, info, NULL));
}

int sigwait(const sigset_t *set, int *signo)
{
    long rc;
    do {
        rc = signal_wait(set, NULL, NULL);      /* POSIX: sigwait is not interrupted */
    } while (rc == -EINTR);
    if (rc < 0)
        return (int)-rc;                        /* the error number itself */
    if (signo != NULL)
        *signo = (int)rc;
    return 0;
}

int signalfd(int fd, const sigset_t *mask, int flags)
{
    (void)fd;
    (void)mask;
    (void)flags;
    shim_complain("vmcisim shim: signalfd refused: not served (docs/programs.md, Signals)\n");
    (void)shim_call_simple(EXEC_OP_REFUSED, EXEC_REFUSED_SYSCALL, SYS_signalfd4, 0, 0);
    errno = ENOSYS;
    return -1;
}

/* alarm/setitimer: ns until SIGALRM and the interval; the old ones into *old_*. */
static long timer_change(int64_t value_ns, int64_t interval_ns, bool query, int64_t *old_ns,
                         int64_t *old_interval_ns)
{
    struct exec_request request = { .op = EXEC_OP_ALARM,
                                    .args = { value_ns, interval_ns, query } };
    struct exec_reply reply;
    long rc = (long)shim_call(&request, NULL, 0, &reply, NULL, 0);
    *old_ns = rc == 0 ? reply.values[0] : 0;
    *old_interval_ns = rc == 0 ? reply.values[1] : 0;
    return rc;
}

unsigned int alarm(unsigned int seconds)
{
    int64_t old_ns = 0, old_interval_ns = 0;
    (void)timer_change((int64_t)seconds * SHIM_NS_PER_SEC, 0, false, &old_ns, &old_interval_ns);
    return (unsigned int)((old_ns + SHIM_NS_PER_SEC - 1) / SHIM_NS_PER_SEC);
}

static int64_t timeval_ns(const struct timeval *value)
{
    return (int64_t)value->tv_sec * SHIM_NS_PER_SEC + (int64_t)value->tv_usec * 1000;
}

static void timeval_store(struct timeval *out, int64_t ns)
{
    out->tv_sec = ns / SHIM_NS_PER_SEC;
    out->tv_usec = (ns % SHIM_NS_PER_SEC) / 1000;
}

static long itimer(int which, const struct itimerval *value, struct itimerval *old)
{
    if (which != ITIMER_REAL)
        return -EINVAL;                 /* CPU-time timers: no CPU time is simulated */
    if (value != NULL && (value->it_value.tv_sec < 0 || value->it_value.tv_usec < 0 ||
                          value->it_value.tv_usec >= 1000000 || value->it_interval.tv_sec < 0 ||
                          value->it_interval.tv_usec < 0 ||
                          value->it_interval.tv_usec >= 1000000))
        return -EINVAL;
    int64_t old_ns = 0, old_interval_ns = 0;
    long rc = timer_change(value != NULL ? timeval_ns(&value->it_value) : 0,
                           value != NULL ? timeval_ns(&value->it_interval) : 0, value == NULL,
                           &old_ns, &old_interval_ns);
    if (rc == 0 && old != NULL) {
        timeval_store(&old->it_value, old_ns);
        timeval_store(&old->it_interval, old_interval_ns);
    }
    return rc;
}

int setitimer(__itimer_which_t which, const struct itimerval *value, struct itimerval *old)
{
    return (int)shim_result(itimer((int)which, value, old));
}

int getitimer(__itimer_which_t which, struct itimerval *value)
{
    return (int)shim_result(itimer((int)which, NULL, value));
}

int kill(pid_t pid, int signo)
{
    return (int)shim_call_simple(EXEC_OP_KILL, pid, signo, 0, 0);
}

int killpg(pid_t group, int signo)
{
    if (group < 0) {
        errno = EINVAL;
        return -1;
    }
    /* A program is one process group, its id the started process's pid (signal.c). */
    return (int)shim_call_simple(EXEC_OP_KILL, group == 0 ? 0 : -(int64_t)group, signo, 0, 0);
}

int raise(int signo)
{
    return kill(getpid(), signo);
}

/* ---- The same, as trapped system calls (glibc's own: abort, system, ...) ---------------- */

/* The kernel's struct sigaction. */
struct signal_kernel_action {
    void *handler;
    unsigned long flags;
    void *restorer;
    uint64_t mask;
};

static long trap_rt_sigaction(long signo, long action_address, long old_address)
{
    const struct signal_kernel_action *given = (const void *)action_address;
    struct sigaction action, old;
    memset(&action, 0, sizeof(action));
    if (given != NULL) {
        action.sa_handler = (sighandler_t)given->handler;
        action.sa_flags = (int)given->flags & ~SA_RESTORER;
        mask_store(&action.sa_mask, given->mask);
    }
    if (action_change((int)signo, given != NULL ? &action : NULL, &old) < 0)
        return -errno;
    if (old_address != 0) {
        struct signal_kernel_action out = { .handler = (void *)old.sa_handler,
                                            .flags = (unsigned long)old.sa_flags,
                                            .mask = mask_of(&old.sa_mask) };
        memcpy((void *)old_address, &out, sizeof(out));
    }
    return 0;
}

bool shim_signal_trap(long number, const long arguments[6], long *result)
{
    const long *a = arguments;
    int64_t old_ns = 0, old_interval_ns = 0;
    switch (number) {
    case SYS_rt_sigaction:
        *result = trap_rt_sigaction((int)a[0], a[1], a[2]);
        return true;
    case SYS_rt_sigprocmask:
        *result = mask_change((int)a[0], (const sigset_t *)a[1], (sigset_t *)a[2]);
        return true;
    case SYS_rt_sigpending:
        *result = sigpending((sigset_t *)a[0]) < 0 ? -errno : 0;
        return true;
    case SYS_rt_sigsuspend:
        *result = suspend_with(mask_of((const sigset_t *)a[0]));
        return true;
    case SYS_pause:
        *result = pause_now();
        return true;
    case SYS_rt_sigtimedwait:
        *result = signal_wait((const sigset_t *)a[0], (siginfo_t *)a[1],
                              (const struct timespec *)a[2]);
        return true;
    case SYS_signalfd:
    case SYS_signalfd4:
        *result = signalfd((int)a[0], (const sigset_t *)a[1], 0) < 0 ? -errno : 0;
        return true;
    case SYS_alarm:
        (void)timer_change((int64_t)(unsigned int)a[0] * SHIM_NS_PER_SEC, 0, false, &old_ns,
                           &old_interval_ns);
        *result = (old_ns + SHIM_NS_PER_SEC - 1) / SHIM_NS_PER_SEC;
        return true;
    case SYS_setitimer:
        *result = itimer((int)a[0], (const struct itimerval *)a[1], (struct itimerval *)a[2]);
        return true;
    case SYS_getitimer:
        *result = itimer((int)a[0], NULL, (struct itimerval *)a[1]);
        return true;
    case SYS_kill:
        *result = shim_call_simple(EXEC_OP_KILL, (int)a[0], (int)a[1], 0, 0) < 0 ? -errno : 0;
        return true;
    case SYS_tgkill:                    /* one thread per program: the program itself */
    case SYS_tkill:
        *result = raise((int)(number == SYS_tgkill ? a[2] : a[1])) < 0 ? -errno : 0;
        return true;
    default:
        return false;
    }
}

/* Real signals stay blocked (delivery is the simulation's): all but SIGSYS (the trap's)
 * and the faults the kernel raises synchronously. */
void shim_signal_start(void)
{
    uint64_t keep = 0;
    static const int unblocked[] = { SIGSYS, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP };
    for (size_t index = 0; index < sizeof(unblocked) / sizeof(unblocked[0]); index++)
        keep |= 1ull << (unblocked[index] - 1);
    uint64_t blocked = ~keep;
    (void)shim_syscall(SYS_rt_sigprocmask, SIG_SETMASK, (long)&blocked, 0, sizeof(blocked), 0,
                       0);
}
