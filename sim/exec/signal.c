/* SPDX-License-Identifier: MIT */
/*
 * sim/exec/signal.c: emulated signals for real programs (decision D21, docs/programs.md
 * "Signals"). Lua and C processes keep D11 (no signals).
 *
 * Real signals stay blocked in the program (the shim blocks them, SIGSYS and the
 * synchronous faults aside); every signal a program sees is generated here, in simulated
 * time: SIGPIPE by a send on a broken stream (without MSG_NOSIGNAL), SIGCHLD when a child
 * ends, SIGALRM from alarm/setitimer(ITIMER_REAL), and kill/raise between the programs of
 * one endpoint. A signal is delivered only at a call boundary: every reply carries the
 * deliverable set (pending and not blocked), the shim takes them one by one (lowest
 * number first) with EXEC_OP_SIGTAKE and runs the handler in the program, or ends the
 * program as the default action would. A process waiting in a call when a deliverable
 * signal arrives is woken: the call fails with EINTR (or returns the bytes it moved), or is
 * made again after the handler (EXEC_ERESTART) when the handler has SA_RESTART and Linux
 * restarts that call (accept, recv, send, wait). sigwait, sigwaitinfo and sigtimedwait take
 * a pending signal of their set instead (EXEC_OP_SIGWAIT), waiting in simulated time.
 *
 * The supervisor keeps, per process: the pending and blocked sets, each signal's action
 * (default, ignore, handler: the handler's address stays in the program) with its flags
 * and mask, the alarm, and what siginfo_t says of each pending signal (the first one's, as
 * Linux keeps for a standard signal sent again while pending). Invariant: an ignored signal
 * is pending only while blocked (as Linux, which queues a blocked signal whatever its
 * action, since the action may change before it is unblocked); SIGKILL and SIGSTOP are
 * never blocked, ignored or handled.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "exec_int.h"
#include "pipe.h"
#include "sim/engine/fiber.h"

static uint64_t bit(int64_t signo)
{
    return 1ull << (signo - 1);
}

static bool signal_valid(int64_t signo)
{
    return signo >= 1 && signo <= EXEC_SIGNALS_MAX;
}

/* Signals whose default action is to do nothing (no job control is simulated: the stop
 * signals are among them). */
static bool default_ignored(int signo)
{
    return signo == SIGCHLD || signo == SIGURG || signo == SIGWINCH || signo == SIGCONT ||
           signo == SIGSTOP || signo == SIGTSTP || signo == SIGTTIN || signo == SIGTTOU;
}

static const uint64_t unmaskable_signals = (1ull << (SIGKILL - 1)) | (1ull << (SIGSTOP - 1));

/* The signals the process ignores now: by its action, or by default when not handled. */
static uint64_t ignored_now(const struct exec_signal_state *state)
{
    uint64_t by_default = 0;
    for (int signo = 1; signo <= EXEC_SIGNALS_MAX; signo++)
        by_default |= default_ignored(signo) ? bit(signo) : 0;
    return state->ignored | (by_default & ~state->handled);
}

/* A change of the mask: a pending signal that is ignored and no longer blocked goes. */
static void discard_ignored(struct exec_signal_state *state)
{
    state->pending &= ~(ignored_now(state) & ~state->blocked);
}

uint64_t exec__signal_deliverable(const struct exec_program *program)
{
    return program->signals.pending & ~program->signals.blocked;
}

/* Wakes the process out of an interruptible wait (a socket call's, or one of this layer's). */
static void interrupt(struct exec_program *program)
{
    if (program->process == NULL || exec__signal_deliverable(program) == 0)
        return;
    /* This layer's waits first, then a socket call's: the socket context is the thread
     * group's (the leader's), and the mark of this process's own call there tells it from
     * another thread's call waiting in the same context. */
    if (program->signals.waiting) {
        program->signals.interrupted = true;
        (void)sim_process_wake(program->process, SIM_WAKE_WOKEN);
    } else if (program->leader->context_live &&
               vs_context_interrupt(&program->leader->context, program->process)) {
        (void)sim_process_wake(program->process, SIM_WAKE_WOKEN);
    }
}

void exec__signal_send_info(struct exec_program *program, int signo,
                            const struct exec_signal_info *info)
{
    assert(signal_valid(signo) && info != NULL);
    struct exec_signal_state *state = &program->signals;
    if (program->ended)
        return;
    uint64_t mask = bit(signo);
    if ((state->blocked & mask) == 0 && (ignored_now(state) & mask) != 0)
        return;                         /* discarded at once, as Linux does */
    if ((state->pending & mask) == 0)
        state->info[signo - 1] = *info; /* a standard signal pending again keeps the first */
    state->pending |= mask;
    if ((state->wait_set & mask) != 0 && program->process != NULL)
        (void)sim_process_wake(program->process, SIM_WAKE_WOKEN);  /* sigwait takes it */
    interrupt(program);
}

void exec__signal_send(struct exec_program *program, int signo)
{
    struct exec_signal_info info = { .code = SI_USER, .pid = program->pid };
    exec__signal_send_info(program, signo, &info);
}

int exec__signal_wait(struct exec_program *program, struct sim_waitq *queue,
                      uint64_t deadline_ns)
{
    if (exec__signal_deliverable(program) != 0)
        return -EINTR;
    program->signals.waiting = true;
    int wake = sim_fiber_wait(program->engine, queue, deadline_ns);
    program->signals.waiting = false;
    if (wake >= 0 && program->signals.interrupted) {
        program->signals.interrupted = false;
        return -EINTR;
    }
    return wake;
}

/* ---- The calls ------------------------------------------------------------------------- */

static int64_t serve_sigaction(struct exec_program *program, const struct exec_request *request,
                               struct exec_reply *reply)
{
    struct exec_signal_state *state = &program->signals;
    int64_t signo = request->args[0], action = request->args[1];
    if (!signal_valid(signo) || action < EXEC_SIGNAL_DEFAULT || action > EXEC_SIGNAL_QUERY ||
        ((unmaskable_signals & bit(signo)) != 0 && action != EXEC_SIGNAL_QUERY))
        return -EINVAL;
    uint64_t mask = bit(signo);
    reply->values[0] = (state->handled & mask) ? EXEC_SIGNAL_HANDLER
                       : (state->ignored & mask) ? EXEC_SIGNAL_IGNORE : EXEC_SIGNAL_DEFAULT;
    reply->values[1] = ((state->restart & mask) ? SA_RESTART : 0) |
                       ((state->reset & mask) ? (int64_t)SA_RESETHAND : 0) |
                       ((state->nodefer & mask) ? SA_NODEFER : 0);
    if (action == EXEC_SIGNAL_QUERY)
        return 0;
    int64_t flags = request->args[2];
    state->handled = (state->handled & ~mask) | (action == EXEC_SIGNAL_HANDLER ? mask : 0);
    state->ignored = (state->ignored & ~mask) | (action == EXEC_SIGNAL_IGNORE ? mask : 0);
    state->restart = (state->restart & ~mask) | ((flags & SA_RESTART) ? mask : 0);
    state->reset = (state->reset & ~mask) | ((flags & (int64_t)SA_RESETHAND) ? mask : 0);
    state->nodefer = (state->nodefer & ~mask) | ((flags & SA_NODEFER) ? mask : 0);
    state->handler_masks[signo - 1] = (uint64_t)request->args[3] & ~unmaskable_signals;
    if (action == EXEC_SIGNAL_IGNORE || (action == EXEC_SIGNAL_DEFAULT &&
                                         default_ignored((int)signo)))
        state->pending &= ~mask;        /* a pending signal now ignored is discarded */
    return 0;
}

static int64_t serve_sigmask(struct exec_program *program, const struct exec_request *request,
                             struct exec_reply *reply)
{
    struct exec_signal_state *state = &program->signals;
    uint64_t set = (uint64_t)request->args[1] & ~unmaskable_signals;
    reply->values[0] = (int64_t)state->blocked;
    reply->values[1] = (int64_t)state->pending;
    switch (request->args[0]) {
    case -1: return 0;
    case SIG_BLOCK: state->blocked |= set; break;
    case SIG_UNBLOCK: state->blocked &= ~set; break;
    case SIG_SETMASK: state->blocked = set; break;
    default: return -EINVAL;
    }
    discard_ignored(state);
    return 0;
}

/* What siginfo_t says of a signal just taken, as the reply's payload. */
static void info_reply(struct exec_program *program, int signo, struct exec_reply *reply)
{
    memcpy(program->buffer, &program->signals.info[signo - 1], sizeof(struct exec_signal_info));
    reply->payload_bytes = sizeof(struct exec_signal_info);
}

/* The lowest deliverable signal: what the shim does with it, and the mask to restore. */
static int64_t serve_sigtake(struct exec_program *program, struct exec_reply *reply)
{
    struct exec_signal_state *state = &program->signals;
    discard_ignored(state);
    uint64_t ready = exec__signal_deliverable(program);
    if (ready == 0)
        return 0;
    int signo = __builtin_ctzll(ready) + 1;
    uint64_t mask = bit(signo);
    state->pending &= ~mask;
    info_reply(program, signo, reply);
    reply->values[1] = (int64_t)state->blocked;
    if ((state->handled & mask) == 0) {
        reply->values[0] = EXEC_SIGNAL_TERMINATE;   /* ignored ones are never pending */
        return signo;
    }
    reply->values[0] = EXEC_SIGNAL_HANDLER;
    state->blocked |= state->handler_masks[signo - 1] |
                      ((state->nodefer & mask) ? 0 : mask);
    state->blocked &= ~unmaskable_signals;
    if (state->reset & mask) {                      /* SA_RESETHAND: once only */
        state->handled &= ~mask;
        state->restart &= ~mask;
    }
    return signo;
}

static int64_t serve_sigsuspend(struct exec_program *program, const struct exec_request *request,
                                struct exec_reply *reply, bool *fatal)
{
    struct exec_signal_state *state = &program->signals;
    reply->values[0] = (int64_t)state->blocked;
    state->blocked = (uint64_t)request->args[0] & ~unmaskable_signals;
    discard_ignored(state);
    for (;;) {
        /* Any queue of its own will do (a wait needs one): a child's end only loops. */
        int rc = exec__signal_wait(program, &program->children_waitq, SIM_TIME_NEVER);
        if (rc == -EINTR)
            return -EINTR;              /* the shim restores the mask after the handlers */
        if (rc < 0) {
            *fatal = true;
            return -EINTR;
        }
    }
}

/* Signals every running process of root's family but `except` (NULL: none); how many. A
 * thread is not a process here: a signal sent to its process goes to the process's first
 * thread once (docs/programs.md, "Threads"), so the family's threads are skipped. */
static uint32_t kill_family(struct exec_program *root, const struct exec_program *except,
                            int64_t signo, uint32_t sender_pid)
{
    struct exec_signal_info info = { .code = SI_USER, .pid = sender_pid };
    uint32_t count = 0;
    for (struct exec_program *process = root; process != NULL;
         process = process == root ? exec__family_next(root, NULL)
                                   : exec__family_next(root, process)) {
        if (process->ended || process->thread || process == except ||
            (except != NULL && process == except->leader))
            continue;
        count++;
        if (signo != 0)
            exec__signal_send_info(process, (int)signo, &info);
    }
    return count;
}

/* Whether a process of another kind (a Lua or C process, D11: no signals) with simulated
 * pid `pid` runs on the program's endpoint (its engine domain). */
static bool endpoint_runs_other(const struct exec_program *program, uint32_t pid)
{
    for (const struct sim_process *process = sim_engine_processes_first(program->engine);
         process != NULL; process = process->live_next) {
        if (process->pid == pid)
            return process->domain == program->domain;
    }
    return false;
}

/* kill(2), as Linux with one user per endpoint (docs/programs.md, "Signals"): the programs
 * of one endpoint may signal each other (same machine, same uid); each program (the one
 * ep:exec started and those it forked) is one process group, its id the started one's pid.
 * pid > 0: that process of any program of the endpoint; a Lua process of the endpoint
 * exists but takes no signals (EPERM); anything else (another endpoint is another machine)
 * is ESRCH. 0: the caller's program. -1: every process of the endpoint's programs but the
 * caller. -pgid: the program whose started process has that pid, else the caller's own. */
static int64_t serve_kill(struct exec_program *program, const struct exec_request *request)
{
    int64_t target = request->args[0], signo = request->args[1];
    if (signo != 0 && !signal_valid(signo))
        return -EINVAL;
    if (target > 0 && target <= UINT32_MAX) {
        struct exec_program *process = exec__endpoint_process(program, (uint32_t)target);
        if (process != NULL) {
            struct exec_signal_info info = { .code = SI_USER, .pid = program->pid };
            if (signo != 0)
                exec__signal_send_info(process, (int)signo, &info);
            return 0;
        }
        return endpoint_runs_other(program, (uint32_t)target) ? -EPERM : -ESRCH;
    }
    if (target > 0)
        return -ESRCH;
    struct exec_program *group = program->root;
    if (target < -1 && target >= -(int64_t)UINT32_MAX) {   /* never negates INT64_MIN */
        struct exec_program *named = exec__endpoint_process(program, (uint32_t)-target);
        if (named != NULL && named->root == named)
            group = named;                  /* another program's group */
    }
    uint32_t count = kill_family(group, target == -1 ? program : NULL, signo, program->pid);
    if (target == -1 && group->net != NULL) {
        for (struct exec_program *root = group->net->programs_head; root != NULL;
             root = root->net_next) {
            if (root != group && root->endpoint == group->endpoint)
                count += kill_family(root, NULL, signo, program->pid);
        }
    }
    return count > 0 ? 0 : -ESRCH;
}

/* sigwait, sigwaitinfo, sigtimedwait: the lowest pending signal of the set (blocked, as
 * they should be, or not), taken without running its handler; waits in simulated time
 * until one is sent (-EAGAIN when the timeout passes). A deliverable signal outside the
 * set interrupts the wait (-EINTR; its handler runs), as in Linux. */
static int64_t serve_sigwait(struct exec_program *program, const struct exec_request *request,
                             struct exec_reply *reply, bool *fatal)
{
    struct exec_signal_state *state = &program->signals;
    uint64_t set = (uint64_t)request->args[0] & ~unmaskable_signals;
    int64_t timeout_ns = request->args[1];
    uint64_t now_ns = sim_engine_now(program->engine);
    uint64_t deadline_ns = timeout_ns < 0 ? SIM_TIME_NEVER
                           : (uint64_t)timeout_ns >= SIM_TIME_NEVER - now_ns
                               ? SIM_TIME_NEVER : now_ns + (uint64_t)timeout_ns;
    for (uint64_t wakeups = 0; wakeups < VS_CALL_WAKEUPS_MAX; wakeups++) {
        uint64_t ready = state->pending & set;
        if (ready != 0) {
            int signo = __builtin_ctzll(ready) + 1;
            state->pending &= ~bit(signo);
            info_reply(program, signo, reply);
            return signo;
        }
        if (sim_engine_now(program->engine) >= deadline_ns)
            return -EAGAIN;
        state->wait_set = set;
        /* Any queue of its own will do: a child's end only loops. */
        int rc = exec__signal_wait(program, &program->children_waitq, deadline_ns);
        state->wait_set = 0;
        if (rc == -EINTR)
            return -EINTR;
        if (rc < 0) {
            *fatal = true;
            return -EINTR;
        }
    }
    return -EIO;
}

static void alarm_fire(void *context, void *arg, uint64_t data);

static void alarm_cancel(struct exec_program *program)
{
    struct exec_signal_state *state = &program->signals;
    if (state->alarm_armed)
        (void)sim_engine_cancel(program->engine, state->alarm_event);
    state->alarm_armed = false;
}

static void alarm_arm(struct exec_program *program, uint64_t delay_ns)
{
    struct exec_signal_state *state = &program->signals;
    uint64_t now_ns = sim_engine_now(program->engine);
    state->alarm_deadline_ns = now_ns + delay_ns;
    state->alarm_armed = sim_engine_schedule_at_in(program->engine, program->domain,
                                                   state->alarm_deadline_ns, alarm_fire,
                                                   program, 0, &state->alarm_event) == 0;
}

static void alarm_fire(void *context, void *arg, uint64_t data)
{
    (void)context;
    (void)data;
    struct exec_program *program = arg;
    program->signals.alarm_armed = false;
    if (program->signals.alarm_interval_ns > 0)
        alarm_arm(program, program->signals.alarm_interval_ns);
    struct exec_signal_info info = { .code = SI_KERNEL };      /* as Linux's timer */
    exec__signal_send_info(program, SIGALRM, &info);
}

static int64_t serve_alarm(struct exec_program *program, const struct exec_request *request,
                           struct exec_reply *reply)
{
    struct exec_signal_state *state = &program->signals;
    uint64_t now_ns = sim_engine_now(program->engine);
    reply->values[0] = state->alarm_armed ? (int64_t)(state->alarm_deadline_ns - now_ns) : 0;
    reply->values[1] = (int64_t)state->alarm_interval_ns;
    if (request->args[2] != 0)
        return 0;                       /* getitimer */
    if (request->args[0] < 0 || request->args[1] < 0 ||
        (uint64_t)request->args[0] > SIM_TIME_NEVER / 4 ||
        (uint64_t)request->args[1] > SIM_TIME_NEVER / 4)
        return -EINVAL;
    alarm_cancel(program);
    state->alarm_interval_ns = request->args[0] > 0 ? (uint64_t)request->args[1] : 0;
    if (request->args[0] > 0)
        alarm_arm(program, (uint64_t)request->args[0]);
    return 0;
}

int64_t exec__signal_serve(struct exec_program *program, const struct exec_request *request,
                           struct exec_reply *reply, bool *fatal)
{
    switch (request->op) {
    case EXEC_OP_SIGACTION: return serve_sigaction(program, request, reply);
    case EXEC_OP_SIGMASK: return serve_sigmask(program, request, reply);
    case EXEC_OP_SIGTAKE: return serve_sigtake(program, reply);
    case EXEC_OP_SIGSUSPEND: return serve_sigsuspend(program, request, reply, fatal);
    case EXEC_OP_KILL: return serve_kill(program, request);
    case EXEC_OP_ALARM: return serve_alarm(program, request, reply);
    case EXEC_OP_SIGWAIT: return serve_sigwait(program, request, reply, fatal);
    default: return -ENOSYS;
    }
}

/* ---- Around every call ------------------------------------------------------------------ */

void exec__signal_after_call(struct exec_program *program, const struct exec_request *request,
                             struct exec_reply *reply)
{
    uint64_t ready = exec__signal_deliverable(program);
    if (request->op == EXEC_OP_EXIT)
        ready = 0;                      /* nothing follows the exit call */
    reply->signals = ready;
    if (reply->result != -EINTR || ready == 0)
        return;
    int signo = __builtin_ctzll(ready) + 1;
    bool restartable = request->op == EXEC_OP_ACCEPT || request->op == EXEC_OP_RECV ||
                       request->op == EXEC_OP_SEND || request->op == EXEC_OP_WAIT;
    if (restartable && (program->signals.handled & bit(signo)) != 0 &&
        (program->signals.restart & bit(signo)) != 0)
        reply->result = -EXEC_ERESTART;
}

void exec__signal_fork(struct exec_program *child, const struct exec_program *parent)
{
    child->signals = parent->signals;
    child->signals.pending = 0;         /* as fork(2): nothing pending, no alarm */
    child->signals.alarm_armed = false;
    child->signals.alarm_interval_ns = 0;
    child->signals.waiting = child->signals.interrupted = false;
    child->signals.wait_set = 0;
}

void exec__signal_exec(struct exec_program *program)
{
    struct exec_signal_state *state = &program->signals;
    state->handled = 0;                 /* handlers are gone with the old image */
    state->restart = state->reset = state->nodefer = 0;
    memset(state->handler_masks, 0, sizeof(state->handler_masks));
}

void exec__signal_end(struct exec_program *program)
{
    alarm_cancel(program);
    program->signals.pending = 0;
}
