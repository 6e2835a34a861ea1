/* SPDX-License-Identifier: MIT */
/*
 * shim/shim_thread.c: threads inside a program (docs/programs.md, "Threads").
 *
 * - pthread_create asks the supervisor for a thread, receives the thread's channel after the
 *   answer (as a fork does), moves it to a high descriptor number, lets glibc make the real
 *   thread (the trap's filter lets a clone with CLONE_THREAD through), then reports it made
 *   (the supervisor starts the thread's simulated process, which shares the program's
 *   descriptors, and answers its id). The thread starts in thread_main, which introduces
 *   itself on its channel (HELLO) and runs the program's function only once the supervisor
 *   answers: from then on every thread waits for its answer at each call, so exactly one
 *   real thread runs at a time.
 * - futex(2) is trapped (shim_trap.c). Once the program has threads, waits and wakes go to
 *   the supervisor, so a thread that blocks on a mutex, a condition variable or a join
 *   sleeps in simulated time and the thread holding the lock gets its turn. Every wake is
 *   also made natively, for the moments glibc code runs outside the simulation (a thread's
 *   first steps before its HELLO, a thread's last steps after its exit call).
 * - A thread's exit (glibc's start_thread ends in exit(2)) is one last call, then the real
 *   exit from the shim's site. pthread_join (and its timed and try forms) first waits in
 *   simulated time until the thread made that call, then lets glibc finish the join (the
 *   kernel clears the thread's id when the real thread is gone: that last wait is native
 *   and short).
 *
 * - pthread_kill names its thread by the simulated id the supervisor gave it (the real
 *   kernel id glibc would use means nothing to the simulation).
 *
 * Invariants: a slot is LIVE from pthread_create's answer to the thread's exit call, EXITING
 * until its channel is closed, then FREE; its channel number belongs to the slot; `futex_waiters`
 * counts the threads inside a simulated futex wait (only one thread runs, so it is exact).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "shim_int.h"

/* Slots for threads: twice the supervisor's bound, so a thread that has made its exit call
 * (ended for the supervisor) but not yet closed its channel never takes a place the
 * supervisor gave away. */
#define SHIM_THREAD_SLOTS (2u * EXEC_THREADS_MAX)
/* Where slot N's channel lives: just below the first thread's (EXEC_FDS_MAX - 1), so the
 * program's own descriptors are numbered as without threads. */
#define SHIM_THREAD_CHANNEL_FD(slot) ((int)EXEC_FDS_MAX - 2 - (int)(slot))
/* sched_yield rounds pthread_create waits for an EXITING slot to become FREE. */
#define SHIM_THREAD_SLOT_WAITS_MAX 1000000u

enum shim_thread_state { SHIM_THREAD_FREE = 0, SHIM_THREAD_LIVE, SHIM_THREAD_EXITING };

struct shim_thread {
    int state;                          /* enum shim_thread_state, atomic */
    int channel;
    int64_t id;                         /* the simulated thread id */
    pthread_t handle;
    void *(*start)(void *);
    void *argument;
};

static struct shim_thread threads[SHIM_THREAD_SLOTS];
/* The first thread's handle (it has no slot), known from the first pthread_create. */
static pthread_t first_handle;
static bool first_known;
static uint32_t futex_waiters;
/* The calling thread's slot (NULL: the first thread, or one pthread_create did not make). */
static __thread struct shim_thread *self __attribute__((tls_model("initial-exec")));
/* Inside the last step of a join: futexes are the kernel's (see the header). */
static __thread bool futex_native __attribute__((tls_model("initial-exec")));

typedef int (*create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
typedef int (*join_fn)(pthread_t, void **);

/* A timeout as ns (saturating), or -EINVAL. */
static int64_t timeout_ns(const struct timespec *timeout)
{
    if (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= 1000000000l)
        return -EINVAL;
    if (timeout->tv_sec > INT64_MAX / 1000000000l - 1)
        return INT64_MAX;
    return (int64_t)timeout->tv_sec * 1000000000l + timeout->tv_nsec;
}

static void *thread_main(void *argument)
{
    struct shim_thread *thread = argument;
    self = thread;
    shim_thread_channel_set(thread->channel);
    (void)shim_call_simple(EXEC_OP_HELLO, SHIM_SYSCALL3(SYS_gettid, 0, 0, 0), 0, 0, 0);
    return thread->start(thread->argument);
}

/* A FREE slot, waiting (bounded) for an EXITING one to finish; NULL when every slot is LIVE. */
static struct shim_thread *slot_take(void)
{
    for (uint32_t round = 0; round < SHIM_THREAD_SLOT_WAITS_MAX; round++) {
        bool exiting = false;
        for (uint32_t index = 0; index < SHIM_THREAD_SLOTS; index++) {
            int state = __atomic_load_n(&threads[index].state, __ATOMIC_ACQUIRE);
            if (state == SHIM_THREAD_FREE)
                return &threads[index];
            exiting |= state == SHIM_THREAD_EXITING;
        }
        if (!exiting)
            return NULL;
        (void)shim_syscall(SYS_sched_yield, 0, 0, 0, 0, 0, 0);
    }
    return NULL;
}

/* The thread's channel, received after the answer, at its slot's number (or -errno). */
static int channel_place(struct shim_thread *thread)
{
    int fd = shim_channel_receive();
    if (fd < 0)
        return fd;
    int number = SHIM_THREAD_CHANNEL_FD(thread - threads);
    if (SHIM_SYSCALL3(SYS_dup3, fd, number, O_CLOEXEC) == number) {
        (void)SHIM_SYSCALL3(SYS_close, fd, 0, 0);
        fd = number;
    }
    shim_fd_set_kind(fd, SHIM_FD_CHANNEL);
    return fd;
}

int pthread_create(pthread_t *handle, const pthread_attr_t *attributes,
                   void *(*start)(void *), void *argument)
{
    static create_fn real;
    if (real == NULL)
        real = (create_fn)dlsym(RTLD_NEXT, "pthread_create");
    if (real == NULL || shim_channel_fd() < 0 || start == NULL)
        return real == NULL || start == NULL ? EINVAL : ENOSYS;
    struct shim_thread *thread = slot_take();
    if (self == NULL && !first_known) {  /* the first creation is the first thread's */
        first_handle = pthread_self();
        first_known = true;
    }
    shim_threads_start();               /* from now on each thread calls over its channel */
    struct exec_request request = { .op = EXEC_OP_THREAD_CREATE };
    struct exec_reply reply;
    int64_t rc = thread != NULL ? shim_call(&request, NULL, 0, &reply, NULL, 0) : -EAGAIN;
    if (rc < 0)
        return (int)-rc;                /* EAGAIN beyond EXEC_THREADS_MAX */
    int channel = channel_place(thread);
    if (channel < 0)
        return EAGAIN;
    *thread = (struct shim_thread){ .channel = channel, .start = start, .argument = argument };
    __atomic_store_n(&thread->state, SHIM_THREAD_LIVE, __ATOMIC_RELEASE);
    int error = real(handle, attributes, thread_main, thread);
    if (error != 0) {
        (void)SHIM_SYSCALL3(SYS_close, channel, 0, 0);
        shim_fd_set_kind(channel, SHIM_FD_REAL);
        __atomic_store_n(&thread->state, SHIM_THREAD_FREE, __ATOMIC_RELEASE);
    }
    thread->handle = *handle;
    thread->id = shim_call_simple(EXEC_OP_THREAD_STARTED, error, 0, 0, 0);
    return error;
}

/* The LIVE thread `handle` names (one that has not made its exit call), or NULL. */
static struct shim_thread *live_thread(pthread_t handle)
{
    for (uint32_t index = 0; shim_threads_active() && index < SHIM_THREAD_SLOTS; index++) {
        struct shim_thread *thread = &threads[index];
        if (__atomic_load_n(&thread->state, __ATOMIC_ACQUIRE) == SHIM_THREAD_LIVE &&
            pthread_equal(thread->handle, handle))
            return thread;
    }
    return NULL;
}

/* pthread_kill: a signal to one thread (docs/programs.md, "Threads"), named to the
 * supervisor by its simulated id, as kill(2) of that id names it; the first thread's id is
 * the process's pid. A thread that has made its exit call is gone: ESRCH. */
int pthread_kill(pthread_t handle, int signo)
{
    int64_t target;
    struct shim_thread *thread = live_thread(handle);
    if (thread != NULL)
        target = thread->id;
    else if ((self == NULL && pthread_equal(handle, pthread_self())) ||
             (first_known && pthread_equal(handle, first_handle)))
        target = getpid();
    else
        return ESRCH;
    return shim_call_simple(EXEC_OP_KILL, target, signo, 0, 0) < 0 ? errno : 0;
}

/* The simulated part of a join: waits until `handle`'s thread made its exit call, or the
 * deadline (kind and ns as EXEC_OP_THREAD_JOIN). 0, or the error number. */
static int join_wait(pthread_t handle, int64_t kind, int64_t ns)
{
    struct shim_thread *thread = live_thread(handle);
    if (thread == NULL)
        return 0;
    if (thread == self)
        return EDEADLK;
    long rc;
    do                                  /* a signal's handlers ran: join again */
        rc = (long)shim_call_simple(EXEC_OP_THREAD_JOIN, thread->id, kind, ns, 0);
    while (rc < 0 && errno == EINTR);
    return rc < 0 ? errno : 0;
}

/* glibc's join, once the thread made its exit call: its last wait is the kernel's. */
static int join_finish(pthread_t handle, void **result)
{
    static join_fn real;
    if (real == NULL)
        real = (join_fn)dlsym(RTLD_NEXT, "pthread_join");
    if (real == NULL)
        return EINVAL;
    futex_native = true;
    int rc = real(handle, result);
    futex_native = false;
    return rc;
}

int pthread_join(pthread_t handle, void **result)
{
    int rc = join_wait(handle, EXEC_FUTEX_NONE, 0);
    return rc != 0 && rc != ENOSYS ? rc : join_finish(handle, result);
}

int pthread_tryjoin_np(pthread_t handle, void **result)
{
    return live_thread(handle) != NULL ? EBUSY : join_finish(handle, result);
}

/* pthread_clockjoin_np's deadline on `clock` (CLOCK_REALTIME or CLOCK_MONOTONIC). */
int pthread_clockjoin_np(pthread_t handle, void **result, clockid_t clock,
                         const struct timespec *deadline)
{
    int64_t ns = 0, kind = EXEC_FUTEX_NONE;
    if (deadline != NULL) {
        ns = timeout_ns(deadline);
        if (ns < 0 || (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC))
            return EINVAL;
        kind = clock == CLOCK_REALTIME ? EXEC_FUTEX_REALTIME : EXEC_FUTEX_MONOTONIC;
    }
    int rc = join_wait(handle, kind, ns);
    return rc != 0 && rc != ENOSYS ? rc : join_finish(handle, result);
}

int pthread_timedjoin_np(pthread_t handle, void **result, const struct timespec *deadline)
{
    return pthread_clockjoin_np(handle, result, CLOCK_REALTIME, deadline);
}


/* ---- Trapped calls ---------------------------------------------------------------------- */

/* The end of a thread pthread_create made: its exit call, its channel closed, its slot free
 * (in that order: the slot's number is not reused while the channel is open). */
static __attribute__((noreturn)) void thread_exit(long code)
{
    struct shim_thread *thread = self;
    __atomic_store_n(&thread->state, SHIM_THREAD_EXITING, __ATOMIC_RELEASE);
    (void)shim_call_simple(EXEC_OP_THREAD_EXIT, 0, 0, 0, 0);
    int channel = thread->channel;
    shim_thread_channel_set(-1);
    self = NULL;
    (void)SHIM_SYSCALL3(SYS_close, channel, 0, 0);
    shim_fd_set_kind(channel, SHIM_FD_REAL);
    __atomic_store_n(&thread->state, SHIM_THREAD_FREE, __ATOMIC_RELEASE);
    for (;;)
        (void)shim_syscall(SYS_exit, code, 0, 0, 0, 0, 0);
}

static long futex_wait(const uint32_t *address, int command, int flags, uint32_t expected,
                       const struct timespec *timeout, uint32_t bitset)
{
    if (bitset == 0)
        return -EINVAL;
    int64_t kind = EXEC_FUTEX_NONE, ns = 0;
    if (timeout != NULL) {
        ns = timeout_ns(timeout);
        if (ns < 0)
            return ns;
        kind = command == FUTEX_WAIT ? EXEC_FUTEX_RELATIVE
               : (flags & FUTEX_CLOCK_REALTIME) != 0 ? EXEC_FUTEX_REALTIME
                                                     : EXEC_FUTEX_MONOTONIC;
    }
    if (__atomic_load_n(address, __ATOMIC_SEQ_CST) != expected)
        return -EAGAIN;                 /* no thread runs meanwhile: the check is atomic */
    struct exec_request request = { .op = EXEC_OP_FUTEX, .args = {
        EXEC_FUTEX_WAIT, (int64_t)(uintptr_t)address, bitset, kind, ns } };
    struct exec_reply reply;
    futex_waiters++;
    long rc = (long)shim_call(&request, NULL, 0, &reply, NULL, 0);
    futex_waiters--;
    return rc;
}

/* futex(2) once the program has threads (the kernel's convention: -errno). */
static long thread_futex(const long a[6])
{
    int operation = (int)a[1];
    int command = operation & FUTEX_CMD_MASK;
    uint32_t *address = (uint32_t *)a[0];
    switch (command) {
    case FUTEX_WAIT:
    case FUTEX_WAIT_BITSET:
        return futex_wait(address, command, operation, (uint32_t)a[2],
                          (const struct timespec *)a[3],
                          command == FUTEX_WAIT ? FUTEX_BITSET_MATCH_ANY : (uint32_t)a[5]);
    case FUTEX_WAKE:
    case FUTEX_WAKE_BITSET:
    case FUTEX_REQUEUE:
    case FUTEX_CMP_REQUEUE: {
        if (command == FUTEX_CMP_REQUEUE && __atomic_load_n(address, __ATOMIC_SEQ_CST) !=
                                                (uint32_t)a[5])
            return -EAGAIN;
        /* Natively first: a waiter outside the simulation (see the header). */
        long native = shim_syscall(SYS_futex, a[0], a[1], a[2], a[3], a[4], a[5]);
        if (futex_waiters == 0)
            return native;
        bool requeue = command == FUTEX_REQUEUE || command == FUTEX_CMP_REQUEUE;
        uint32_t bitset = command == FUTEX_WAKE_BITSET ? (uint32_t)a[5] : FUTEX_BITSET_MATCH_ANY;
        struct exec_request request = { .op = EXEC_OP_FUTEX, .args = {
            requeue ? EXEC_FUTEX_REQUEUE : EXEC_FUTEX_WAKE, (int64_t)(uintptr_t)address,
            requeue ? (int64_t)(int)a[2] : (int64_t)bitset,
            requeue ? (int64_t)(int)a[3] : (int64_t)(int)a[2], a[4] } };
        struct exec_reply reply;
        long rc = (long)shim_call(&request, NULL, 0, &reply, NULL, 0);
        return rc < 0 ? rc : rc + (native > 0 ? native : 0);
    }
    default:
        /* Priority-inheritance and the other operations: not served. */
        (void)shim_call_simple(EXEC_OP_REFUSED, EXEC_REFUSED_FUTEX, command, 0, 0);
        return -ENOSYS;
    }
}

bool shim_thread_trap(long number, const long arguments[6], long *result)
{
    if (!shim_threads_active())
        return false;                   /* futex and gettid stay native without threads */
    switch (number) {
    case SYS_futex:
        *result = futex_native || shim_channel_fd() < 0
                      ? shim_syscall(number, arguments[0], arguments[1], arguments[2],
                                     arguments[3], arguments[4], arguments[5])
                      : thread_futex(arguments);
        return true;
    case SYS_gettid: {
        struct exec_request request = { .op = EXEC_OP_GETPID };
        struct exec_reply reply;
        int64_t id = shim_call(&request, NULL, 0, &reply, NULL, 0);   /* the caller's own */
        *result = id > 0 ? (long)id : shim_syscall(number, 0, 0, 0, 0, 0, 0);
        return true;
    }
    case SYS_exit:
        if (self != NULL)
            thread_exit(arguments[0]);
        /* The first thread: glibc makes exit(2) there only for pthread_exit while other
         * threads run (the process goes on); otherwise it ends the program (the trap). A
         * thread without a channel (not made by pthread_create) just ends. */
        if (shim_channel_fd() >= 0 && shim_call_simple(EXEC_OP_THREAD_EXIT, 0, 0, 0, 0) < 0)
            return false;
        for (;;)
            (void)shim_syscall(SYS_exit, arguments[0], 0, 0, 0, 0, 0);
    default:
        return false;
    }
}
