/* SPDX-License-Identifier: MIT */
/*
 * sim/exec/thread.c: threads of real programs (docs/programs.md, "Threads").
 *
 * pthread_create in a program makes a thread: a new simulated process of the same endpoint
 * (its own fiber, id and channel, a socketpair handed over after the reply as a fork's is)
 * that shares its process's descriptor table and vSockets context (exec_int.h, `leader`).
 * Every real thread waits for its answer at each call, and the fiber of the thread that runs
 * waits for that thread's next call without letting the engine go on, so exactly one real
 * thread runs at a time and the switches happen at calls, in the engine's order.
 *
 * Blocking between threads is simulated too: once a process has threads, the shim traps
 * every futex(2) (what glibc's mutexes, condition variables, semaphores and joins are made
 * of) and sends waits and wakes here. A waiter sleeps in simulated time on its own queue and
 * stands on its process's list of waiters in arrival order; a wake walks that list, so who
 * wakes first is a function of the scenario and the seed, never of the machine.
 *
 * Invariants: `waiters` holds exactly the processes of the thread group (threads and leader)
 * inside a futex wait that no wake chose yet, in arrival order, each at most once; `live`
 * counts the group's threads that have not ended and `pending` those handed a channel whose
 * real thread was not reported yet, together at most EXEC_THREADS_MAX. A thread whose
 * process ended is detached (its `leader` is itself again) before it is killed, so nothing
 * it does on its way out touches the ended process.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "exec_int.h"
#include "sim/engine/fiber.h"

/* Processes of one thread group that may wait on futexes at once: every thread and the
 * leader, each in at most one wait. */
#define EXEC_FUTEX_WAITERS_MAX (EXEC_THREADS_MAX + 1u)

struct exec_threads {
    uint32_t live;
    uint32_t pending;                   /* handed a channel, real thread not yet reported */
    struct exec_program *waiters[EXEC_FUTEX_WAITERS_MAX];
    uint32_t waiter_count;
    struct sim_waitq ended_waitq;       /* joins sleep here until a thread ends */
};

static struct exec_threads *threads_of(struct exec_program *leader)
{
    if (leader->threads == NULL) {
        leader->threads = calloc(1, sizeof(*leader->threads));
        if (leader->threads != NULL)
            sim_waitq_init(&leader->threads->ended_waitq, "join");
    }
    return leader->threads;
}

uint32_t exec__thread_count(const struct exec_program *program)
{
    const struct exec_threads *threads = program->leader->threads;
    return threads != NULL ? threads->live : 0;
}

static void trace_thread(struct exec_program *program, uint32_t thread_pid)
{
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_API, "exec_thread",
                         program->callbacks->local_cid(program->owner), program->pid);
    sim_trace_field_u64(&event, "thread_pid", thread_pid);
    (void)sim_engine_emit(program->engine, &event);
}

/* ---- Create, exit, join --------------------------------------------------------------------- */

/* Forgets a thread whose real thread was never made (pthread_create failed, or its creator
 * ended first): its end of the channel closes, so nothing waits for it. */
static void pending_drop(struct exec_program *program)
{
    struct exec_program *thread = program->thread_pending;
    struct exec_threads *threads = program->leader->threads;
    program->thread_pending = NULL;
    if (thread == NULL)
        return;
    if (threads != NULL && threads->pending > 0)
        threads->pending--;
    exec_channel_close(&thread->channel);
    exec__program_free(thread);
}

/* The first half: the thread's channel, handed over after the reply. Its fiber starts only
 * in the second half, once the real thread exists: the creator's own calls between the two
 * (glibc's pthread_create blocks signals around clone) must not wait for a thread that
 * cannot call yet. */
static int64_t thread_create(struct exec_program *program)
{
    struct exec_threads *threads = threads_of(program->leader);
    pending_drop(program);              /* a creation that never reported: forgotten */
    if (threads == NULL)
        return -EAGAIN;
    if (threads->live + threads->pending >= EXEC_THREADS_MAX) {
        exec__trace_refused(program, "thread", EXEC_THREADS_MAX);
        return -EAGAIN;                 /* as Linux at its thread limit */
    }
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
        return -EAGAIN;
    struct exec_program *thread = exec__member_new(program, pair[0]);
    if (thread == NULL) {
        close(pair[0]);
        close(pair[1]);
        return -EAGAIN;
    }
    thread->thread = true;
    thread->leader = program->leader;
    thread->parent = NULL;              /* no process waits for a thread */
    thread->parent_pid = program->leader->parent_pid;
    program->thread_pending = thread;
    threads->pending++;
    program->channel_pending = pair[1];     /* sent after the reply (process.c) */
    return 0;
}

/* The second half: the real thread runs (`error` 0): its simulated process starts. */
static int64_t thread_started(struct exec_program *program, int64_t error)
{
    struct exec_program *thread = program->thread_pending;
    struct exec_threads *threads = program->leader->threads;
    if (thread == NULL || threads == NULL || error != 0 || !exec__family_ready(program->root)) {
        pending_drop(program);
        return thread == NULL || error != 0 ? 0 : -EAGAIN;
    }
    uint32_t cid = program->callbacks->local_cid(program->owner);
    bool daemon = program->process != NULL && program->process->daemon;
    if (sim_fiber_spawn_in(program->engine, program->domain, cid, program->name,
                           exec__member_main, thread, 0, daemon, &thread->process) < 0) {
        pending_drop(program);
        return -EAGAIN;
    }
    program->thread_pending = NULL;
    threads->pending--;
    thread->pid = thread->process->pid;
    exec__signal_fork(thread, program);     /* the creator's mask and actions, none pending */
    char stream[32];
    snprintf(stream, sizeof(stream), "exec:%u", thread->pid);
    sim_rng_init_stream(&thread->rng, sim_engine_seed(program->engine), stream);
    (void)exec__family_append(program->root, thread);      /* the family is ready (above) */
    threads->live++;
    trace_thread(program, thread->pid);
    return thread->pid;
}

/* The thread of the caller's process with simulated id `tid` that has not ended, or NULL. */
static struct exec_program *thread_find(struct exec_program *program, int64_t tid)
{
    if (tid <= 0 || tid > UINT32_MAX)
        return NULL;
    struct exec_program *found = exec__family_member(program->root, (uint32_t)tid);
    if (found == NULL || !found->thread || found->leader != program->leader || found->ended)
        return NULL;
    return found;
}

static uint64_t futex_deadline(struct exec_program *program, int64_t kind, int64_t ns);

/* Waits until thread `tid` of the caller's process ended, or the deadline (pthread_join,
 * pthread_timedjoin_np and pthread_clockjoin_np). */
static int64_t thread_join(struct exec_program *program, const struct exec_request *request,
                           bool *fatal)
{
    int64_t tid = request->args[0], kind = request->args[1];
    if (kind < EXEC_FUTEX_NONE || kind > EXEC_FUTEX_REALTIME)
        return -EINVAL;
    uint64_t deadline_ns = futex_deadline(program, kind, request->args[2]);
    for (;;) {
        struct exec_program *target = thread_find(program, tid);
        if (target == NULL)
            return 0;                   /* ended (or never one): glibc's join does the rest */
        if (target == program)
            return -EDEADLK;
        int rc = exec__signal_wait(program, &program->leader->threads->ended_waitq,
                                   deadline_ns);
        if (rc == -EINTR)
            return -EINTR;              /* the shim runs the handlers and joins again */
        if (rc == SIM_WAKE_TIMED_OUT)
            return -ETIMEDOUT;
        if (rc < 0) {
            *fatal = true;
            return -EINTR;
        }
    }
}

void exec__thread_ended(struct exec_program *thread)
{
    assert(thread->thread);
    struct exec_program *leader = thread->leader;
    if (leader == thread || leader->threads == NULL)
        return;                         /* detached: its process ended first */
    assert(leader->threads->live > 0);
    leader->threads->live--;
    sim_waitq_wake_all(&leader->threads->ended_waitq);
}

/* Detaches `thread` from its ended process and kills it (see the header). */
static void thread_detach_kill(struct exec_program *thread)
{
    struct exec_threads *threads = thread->leader->threads;
    if (threads != NULL && threads->live > 0)
        threads->live--;
    thread->leader = thread;
    exec__member_kill(thread);
}

void exec__thread_group_exit(struct exec_program *program)
{
    struct exec_program *leader = program->leader;
    struct exec_threads *threads = leader->threads;
    pending_drop(program);
    if (threads == NULL)
        return;
    if (program->thread) {
        /* exit_group from a thread: the process ends with this code; its leader is killed
         * in simulated time and reaps the real process, which exits by itself. */
        leader->exit_called = true;
        leader->exit_code_called = program->exit_code_called;
        leader->signals.killed_by = program->signals.killed_by;
        leader->group_exit = true;
        if (leader->process != NULL)
            sim_process_kill(leader->process);
    }
    threads->waiter_count = 0;          /* every waiter is killed below, or is the leader */
    struct exec_program *member = exec__family_next(program->root, NULL);
    while (member != NULL) {
        struct exec_program *next = exec__family_next(program->root, member);
        if (member->thread && member->leader == leader && member != program && !member->ended)
            thread_detach_kill(member);     /* may free a thread that never ran */
        member = next;
    }
}

/* ---- Futexes -------------------------------------------------------------------------------- */

static void waiter_remove(struct exec_threads *threads, const struct exec_program *program)
{
    for (uint32_t index = 0; index < threads->waiter_count; index++) {
        if (threads->waiters[index] != program)
            continue;
        memmove(&threads->waiters[index], &threads->waiters[index + 1],
                (threads->waiter_count - index - 1) * sizeof(threads->waiters[0]));
        threads->waiter_count--;
        return;
    }
}

/* The wait's deadline in simulated ns from the request's kind and ns (SIM_TIME_NEVER: none). */
static uint64_t futex_deadline(struct exec_program *program, int64_t kind, int64_t ns)
{
    uint64_t now_ns = sim_engine_now(program->engine);
    uint64_t value = ns > 0 ? (uint64_t)ns : 0;
    switch (kind) {
    case EXEC_FUTEX_RELATIVE:
        return value > SIM_TIME_NEVER - 1 - now_ns ? SIM_TIME_NEVER - 1 : now_ns + value;
    case EXEC_FUTEX_MONOTONIC:
        return value < now_ns ? now_ns : value;
    case EXEC_FUTEX_REALTIME:
        value = value > EXEC_REALTIME_EPOCH_NS ? value - EXEC_REALTIME_EPOCH_NS : 0;
        return value < now_ns ? now_ns : value;
    default:
        return SIM_TIME_NEVER;
    }
}

static int64_t futex_wait(struct exec_program *program, const struct exec_request *request,
                          bool *fatal)
{
    struct exec_threads *threads = threads_of(program->leader);
    int64_t kind = request->args[3];
    if (threads == NULL || threads->waiter_count >= EXEC_FUTEX_WAITERS_MAX ||
        (uint32_t)request->args[2] == 0 || kind < EXEC_FUTEX_NONE || kind > EXEC_FUTEX_REALTIME)
        return -EINVAL;
    uint64_t deadline_ns = futex_deadline(program, kind, request->args[4]);
    program->futex_address = (uint64_t)request->args[1];
    program->futex_bitset = (uint32_t)request->args[2];
    program->futex_woken = false;
    threads->waiters[threads->waiter_count++] = program;
    for (;;) {
        int rc = exec__signal_wait(program, &program->futex_waitq, deadline_ns);
        if (program->futex_woken)
            return 0;                   /* a wake chose it (and took it off the list) */
        struct exec_threads *still = program->leader->threads;
        if (rc == -EINTR || rc < 0 || rc == SIM_WAKE_TIMED_OUT) {
            if (still != NULL)
                waiter_remove(still, program);
            *fatal = rc < 0 && rc != -EINTR;
            return rc == SIM_WAKE_TIMED_OUT ? -ETIMEDOUT : -EINTR;
        }
    }
}

/* Wakes up to `count` waiters on `address` whose bitset meets `bitset`, then moves up to
 * `requeue` more of them to `target`. Returns how many of both. */
static int64_t futex_wake(struct exec_program *program, uint64_t address, uint32_t bitset,
                          int64_t count, int64_t requeue, uint64_t target)
{
    struct exec_threads *threads = program->leader->threads;
    if (bitset == 0 || count < 0 || requeue < 0)
        return -EINVAL;
    if (threads == NULL)
        return 0;                       /* nobody ever waited */
    int64_t woken = 0, moved = 0;
    uint32_t index = 0;
    while (index < threads->waiter_count) {
        struct exec_program *waiter = threads->waiters[index];
        if (waiter->futex_address != address || (waiter->futex_bitset & bitset) == 0) {
            index++;
            continue;
        }
        if (woken < count) {
            waiter->futex_woken = true;
            waiter_remove(threads, waiter);             /* the next one moves to `index` */
            sim_waitq_wake_all(&waiter->futex_waitq);
            woken++;
        } else if (moved < requeue) {
            waiter->futex_address = target;
            moved++;
            index++;
        } else {
            break;
        }
    }
    return woken + moved;
}

static int64_t futex_serve(struct exec_program *program, const struct exec_request *request,
                           bool *fatal)
{
    const int64_t *args = request->args;
    switch (args[0]) {
    case EXEC_FUTEX_WAIT:
        return futex_wait(program, request, fatal);
    case EXEC_FUTEX_WAKE:               /* a count of 0 wakes one, as Linux */
        return futex_wake(program, (uint64_t)args[1], (uint32_t)args[2],
                          args[3] == 0 ? 1 : args[3], 0, 0);
    case EXEC_FUTEX_REQUEUE:
        return futex_wake(program, (uint64_t)args[1], UINT32_MAX, args[2], args[3],
                          (uint64_t)args[4]);
    default:
        return -ENOSYS;
    }
}

/* ---- The calls ------------------------------------------------------------------------------ */

int64_t exec__thread_serve(struct exec_program *program, const struct exec_request *request,
                           struct exec_reply *reply, bool *fatal)
{
    (void)reply;
    switch (request->op) {
    case EXEC_OP_THREAD_CREATE:
        return thread_create(program);
    case EXEC_OP_THREAD_STARTED:
        return thread_started(program, request->args[0]);
    case EXEC_OP_THREAD_EXIT:
        if (!program->thread) {
            /* pthread_exit in the first thread: the process goes on while threads run
             * (glibc exits the process itself when there are none: EINVAL is a bug). */
            if (exec__thread_count(program) == 0)
                return -EINVAL;
            program->first_thread_gone = true;
            return 0;
        }
        program->exit_called = true;
        program->exit_code_called = 0;
        return 0;
    case EXEC_OP_THREAD_JOIN:
        return thread_join(program, request, fatal);
    case EXEC_OP_FUTEX:
        return futex_serve(program, request, fatal);
    default:
        return -ENOSYS;
    }
}

bool exec__thread_leader_park(struct exec_program *leader)
{
    assert(leader->first_thread_gone);
    while (sim_fiber_wait(leader->engine, &leader->futex_waitq, SIM_TIME_NEVER) >= 0)
        continue;                       /* nothing wakes it but its end (killed) */
    return false;
}

static void actions_copy(struct exec_signal_state *to, const struct exec_signal_state *from)
{
    to->ignored = from->ignored;
    to->handled = from->handled;
    to->restart = from->restart;
    to->reset = from->reset;
    to->nodefer = from->nodefer;
    memcpy(to->handler_masks, from->handler_masks, sizeof(to->handler_masks));
}

void exec__thread_share_actions(struct exec_program *program)
{
    struct exec_program *leader = program->leader;
    if (leader->threads == NULL)
        return;
    if (leader != program)
        actions_copy(&leader->signals, &program->signals);
    for (struct exec_program *member = exec__family_next(program->root, NULL); member != NULL;
         member = exec__family_next(program->root, member)) {
        if (member != program && member->thread && member->leader == leader && !member->ended)
            actions_copy(&member->signals, &program->signals);
    }
}
