/* SPDX-License-Identifier: MIT */
/*
 * sim/engine/process.c: processes, blocking, wake-ups and wait queues.
 *
 * One event resumes a process once: waking removes it from its queue and cancels
 * its deadline in the same step, so a second wake (or the deadline) finds it no
 * longer BLOCKED and does nothing (PR1, PR2). The trace records spawn, block,
 * resume and exit at the api layer, so a reader can see why a process waited.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"

/* What a process blocked on no queue (a sleep or a timed wait) waits on. */
#define WAITS_ON_SLEEP "sleep"

const char *sim_process_state_name(enum sim_process_state state)
{
    switch (state) {
    case SIM_PROCESS_RUNNABLE: return "runnable";
    case SIM_PROCESS_RUNNING: return "running";
    case SIM_PROCESS_BLOCKED: return "blocked";
    case SIM_PROCESS_DONE: return "done";
    case SIM_PROCESS_FAILED: return "failed";
    }
    return "?";
}

/* Each wake reason's name with its length: a resume traces it, and measuring it there
 * was a strlen call per resume. */
struct reason_name {
    const char *text;
    uint32_t size_bytes;
};
#define REASON_NAME(text) { text, sizeof(text) - 1 }
static const struct reason_name reason_names[] = {
    [SIM_WAKE_START] = REASON_NAME("start"),
    [SIM_WAKE_WOKEN] = REASON_NAME("woken"),
    [SIM_WAKE_TIMED_OUT] = REASON_NAME("timed_out"),
    [SIM_WAKE_KILLED] = REASON_NAME("killed"),
};
#undef REASON_NAME
static const struct reason_name reason_unknown = { "?", 1 };

static const struct reason_name *reason_name_of(enum sim_wake_reason reason)
{
    if ((unsigned)reason < sizeof(reason_names) / sizeof(reason_names[0]) &&
        reason_names[reason].text != NULL)
        return &reason_names[reason];
    return &reason_unknown;
}

const char *sim_wake_reason_name(enum sim_wake_reason reason)
{
    return reason_name_of(reason)->text;
}

void sim_waitq_init(struct sim_waitq *queue, const char *name)
{
    assert(queue != NULL);
    assert(name != NULL);
    memset(queue, 0, sizeof(*queue));
    int length = snprintf(queue->name, sizeof(queue->name), "%s", name);
    assert(length >= 0);
    /* Measured once here, not at every block that traces it (a name cut to fit is as long
     * as what was kept). */
    queue->name_bytes = (uint32_t)length < sizeof(queue->name) ? (uint32_t)length
                                                                : sizeof(queue->name) - 1;
}

static void waitq_append(struct sim_waitq *queue, struct sim_process *process)
{
    assert(process->waitq == NULL);
    process->waitq = queue;
    process->waitq_next = NULL;
    process->waitq_prev = queue->tail;
    if (queue->tail != NULL)
        queue->tail->waitq_next = process;
    else
        queue->head = process;
    queue->tail = process;
    queue->count++;
}

static void waitq_remove(struct sim_process *process)
{
    struct sim_waitq *queue = process->waitq;
    assert(queue != NULL);
    assert(queue->count > 0);
    if (process->waitq_prev != NULL)
        process->waitq_prev->waitq_next = process->waitq_next;
    else
        queue->head = process->waitq_next;
    if (process->waitq_next != NULL)
        process->waitq_next->waitq_prev = process->waitq_prev;
    else
        queue->tail = process->waitq_prev;
    queue->count--;
    process->waitq = NULL;
    process->waitq_next = NULL;
    process->waitq_prev = NULL;
}

/* Inline at each call: the kinds and field names are literals there, and only then are
 * their lengths and name ids constants. */
static inline __attribute__((always_inline)) void trace_process(struct sim_process *process,
                                                               const char *kind,
                                                               const char *field_name,
                                                               const char *field_text)
{
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_API, kind, process->ctx, process->pid);
    if (field_name != NULL)
        sim_trace_field_str(&event, field_name, field_text);
    (void)sim_engine_emit(process->engine, &event);    /* failure aborts the run */
}

/* Runs the RUNNABLE process now: the one place a process is resumed. */
static void resume_now(struct sim_engine *engine, struct sim_process *process,
                       enum sim_wake_reason reason)
{
    assert(process->state == SIM_PROCESS_RUNNABLE);     /* PR2 */
    assert(engine->head.current == NULL);
    process->resume_event = SIM_EVENT_NONE;
    if (process->kill_requested)
        reason = SIM_WAKE_KILLED;
    process->wake_reason = reason;
    process->state = SIM_PROCESS_RUNNING;
    const struct reason_name *reason_name = reason_name_of(reason);
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_API, "proc_resume", process->ctx, process->pid);
    sim_trace_field_strn(&event, "reason", reason_name->text, reason_name->size_bytes);
    (void)sim_engine_emit(engine, &event);     /* failure aborts the run */
    engine->head.current = process;
    process->ops->resume(process, reason);
    engine->head.current = NULL;
    /* The owner may have destroyed a finished process; touch nothing after resume. */
}

static void resume_event(void *context, void *arg, uint64_t data)
{
    resume_now(context, arg, (enum sim_wake_reason)data);
}

static int schedule_resume(struct sim_process *process, enum sim_wake_reason reason,
                           uint64_t time_ns)
{
    assert(process->resume_event == SIM_EVENT_NONE);
    process->state = SIM_PROCESS_RUNNABLE;
    struct sim_engine *engine = process->engine;
    return sim__engine_schedule_ranked(engine, process->domain, sim__engine_resume_rank(engine),
                                       time_ns, resume_event, process, (uint64_t)reason,
                                       &process->resume_event);
}

int sim_process_create(struct sim_engine *engine, uint32_t ctx, const char *name,
                       const struct sim_process_ops *ops, void *owner, bool daemon,
                       uint64_t start_ns, struct sim_process **out)
{
    return sim_process_create_in(engine, 0, ctx, name, ops, owner, daemon, start_ns, out);
}

int sim_process_create_in(struct sim_engine *engine, uint32_t domain, uint32_t ctx,
                          const char *name, const struct sim_process_ops *ops, void *owner,
                          bool daemon, uint64_t start_ns, struct sim_process **out)
{
    assert(engine != NULL);
    assert(domain < SIM_DOMAINS_MAX);
    assert(ops != NULL && ops->resume != NULL);
    assert(out != NULL);
    size_t name_bytes = strlen(name);
    if (name_bytes == 0 || name_bytes >= SIM_PROCESS_NAME_BYTES_MAX)
        return sim_engine_fail(engine, SIM_EINVAL, "process name must be 1..%u bytes",
                               SIM_PROCESS_NAME_BYTES_MAX - 1);
    if (engine->live_count >= engine->limits.processes_max)
        return sim_engine_fail(engine, SIM_ELIMIT, "limit processes_max (%u) exceeded",
                               engine->limits.processes_max);
    struct sim_process *process = calloc(1, sizeof(*process));
    if (process == NULL)
        return sim_engine_fail(engine, SIM_ENOMEM, "out of memory creating a process");
    memcpy(process->name, name, name_bytes + 1);
    process->pid = engine->pid_next;
    process->ctx = ctx;
    process->domain = domain;
    process->daemon = daemon;
    process->deadline_ns = SIM_TIME_NEVER;
    process->ops = ops;
    process->owner = owner;
    process->engine = engine;
    int rc = schedule_resume(process, SIM_WAKE_START, start_ns < engine->head.now_ns ? engine->head.now_ns
                                                                                : start_ns);
    if (rc < 0) {
        free(process);
        return rc;
    }
    engine->pid_next++;
    process->live_prev = engine->live_tail;
    if (engine->live_tail != NULL)
        engine->live_tail->live_next = process;
    else
        engine->live_head = process;
    engine->live_tail = process;
    engine->live_count++;
    trace_process(process, "proc_spawn", "name", process->name);
    *out = process;
    return SIM_OK;
}

/* A deadline that comes due resumes the process itself, timed out: one engine event per
 * sleep (or per timed wait that times out), where a wake-up schedules a resume event. So
 * the process runs at the deadline event's place among the events of its instant, which
 * the rank drawn for it when it blocked decides like a resume's (engine.h, the wake-up
 * shuffle). A wake before the deadline cancels it (sim_process_wake). */
static void deadline_event(void *context, void *arg, uint64_t data)
{
    (void)data;
    struct sim_process *process = arg;
    assert(process->state == SIM_PROCESS_BLOCKED);   /* a wake would have cancelled us */
    assert(process->resume_event == SIM_EVENT_NONE);  /* PR1 */
    process->deadline_event = SIM_EVENT_NONE;
    if (process->waitq != NULL)
        waitq_remove(process);
    process->deadline_ns = SIM_TIME_NEVER;
    process->state = SIM_PROCESS_RUNNABLE;
    resume_now(context, process, SIM_WAKE_TIMED_OUT);
}

void sim__process_prefetch(sim_event_fn fn, void *arg, uint32_t distance)
{
    assert(distance >= 1 && distance <= SIM_PREFETCH_DISTANCE_MAX);
    if (fn != resume_event && fn != deadline_event) {
        if (distance == SIM_PREFETCH_DISTANCE_MAX && arg != NULL)
            __builtin_prefetch(arg);            /* any other event: its argument's first line */
        return;
    }
    const struct sim_process *process = arg;
    if (distance == SIM_PREFETCH_DISTANCE_MAX) {
        for (size_t offset = 0; offset < sizeof(*process); offset += 64)
            __builtin_prefetch((const char *)process + offset);
    } else if (distance == 2) {
        __builtin_prefetch(process->owner);
        for (uint32_t index = 0; index < SIM_PROCESS_PREFETCH_HINTS; index++)
            __builtin_prefetch(process->prefetch_hints[index]);
        const struct sim_prefetch_spans *spans = &process->prefetch_spans;
        assert(spans->count <= SIM_PREFETCH_SPANS_MAX);
        for (uint32_t index = 0; index < spans->count; index++)
            for (uint32_t line = 0; line < spans->lines[index]; line++)
                __builtin_prefetch((const char *)spans->start[index] +
                                   SIM_PREFETCH_LINE_BYTES * line);
    } else if (process->ops->prefetch != NULL) {
        process->ops->prefetch(process);
    }
}

int sim_process_block(struct sim_process *process, struct sim_waitq *queue, uint64_t deadline_ns)
{
    assert(process != NULL);
    assert(process->state == SIM_PROCESS_RUNNING);
    assert(process->engine->head.current == process);
    assert(queue != NULL || deadline_ns != SIM_TIME_NEVER);    /* PR3 */
    struct sim_engine *engine = process->engine;
    process->prefetch_spans.count = 0;     /* the owner names this wait's, if any */
    if (process->kill_requested)
        return SIM_EKILLED;
    if (deadline_ns > SIM_TIME_END_NS && queue != NULL)
        deadline_ns = SIM_TIME_NEVER;       /* it can never come: only the queue wakes it */
    if (deadline_ns != SIM_TIME_NEVER) {
        uint64_t at_ns = deadline_ns < engine->head.now_ns ? engine->head.now_ns : deadline_ns;
        int rc = sim__engine_schedule_ranked(engine, process->domain,
                                             sim__engine_resume_rank(engine), at_ns,
                                             deadline_event, process, 0,
                                             &process->deadline_event);
        if (rc < 0)
            return rc;
    }
    process->deadline_ns = deadline_ns;
    process->state = SIM_PROCESS_BLOCKED;
    if (queue != NULL)
        waitq_append(queue, process);
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_API, "proc_block", process->ctx, process->pid);
    if (queue != NULL) {
        assert(queue->name[queue->name_bytes] == '\0');     /* name_bytes is its length */
        sim_trace_field_strn(&event, "waits_on", queue->name, queue->name_bytes);
    } else {
        sim_trace_field_strn(&event, "waits_on", WAITS_ON_SLEEP, sizeof(WAITS_ON_SLEEP) - 1);
    }
    sim_trace_field_u64(&event, "deadline_ns", deadline_ns);
    (void)sim_engine_emit(engine, &event);
    assert(sim_process_check(process));
    return SIM_OK;
}

bool sim_process_wake(struct sim_process *process, enum sim_wake_reason reason)
{
    assert(process != NULL);
    assert(reason != SIM_WAKE_START);
    if (process->state != SIM_PROCESS_BLOCKED)
        return false;
    if (process->waitq != NULL)
        waitq_remove(process);
    if (process->deadline_event != SIM_EVENT_NONE) {
        int rc = sim_engine_cancel(process->engine, process->deadline_event);
        assert(rc == SIM_OK);
        (void)rc;
        process->deadline_event = SIM_EVENT_NONE;
    }
    process->deadline_ns = SIM_TIME_NEVER;
    /* With a deadline, the resume event replaces the deadline event, so this cannot hit
     * events_pending_max; without one it can, and then the whole run stops with the
     * limit's name (the process is left RUNNABLE without an event: the run is over). */
    int rc = schedule_resume(process, reason, process->engine->head.now_ns);
    if (rc < 0) {
        sim_engine_abort(process->engine, rc);
        return true;
    }
    assert(sim_process_check(process));
    return true;
}

uint32_t sim_waitq_wake_one(struct sim_waitq *queue)
{
    assert(queue != NULL);
    if (queue->head == NULL)
        return 0;
    bool woken = sim_process_wake(queue->head, SIM_WAKE_WOKEN);
    assert(woken);
    return woken ? 1 : 0;
}

uint32_t sim_waitq_wake_all(struct sim_waitq *queue)
{
    assert(queue != NULL);
    uint32_t woken_count = 0;
    uint32_t count_before = queue->count;
    while (queue->head != NULL && woken_count < count_before) {
        sim_process_wake(queue->head, SIM_WAKE_WOKEN);
        woken_count++;
    }
    assert(queue->count == 0);
    return woken_count;
}

void sim_process_kill(struct sim_process *process)
{
    assert(process != NULL);
    if (process->state == SIM_PROCESS_DONE || process->state == SIM_PROCESS_FAILED)
        return;
    process->kill_requested = true;
    if (process->state == SIM_PROCESS_BLOCKED)
        sim_process_wake(process, SIM_WAKE_KILLED);
    /* RUNNABLE: resume_event turns the reason into KILLED. RUNNING: the owner sees
     * kill_requested when control comes back to it and finishes the process. */
}

void sim_process_finish(struct sim_process *process, bool failed)
{
    assert(process != NULL);
    assert(process->state == SIM_PROCESS_RUNNING);
    assert(process->waitq == NULL);
    assert(process->resume_event == SIM_EVENT_NONE);
    struct sim_engine *engine = process->engine;
    process->state = failed ? SIM_PROCESS_FAILED : SIM_PROCESS_DONE;
    const char *status = failed ? "failed" : process->kill_requested ? "killed" : "done";
    trace_process(process, "proc_exit", "status", status);
    if (process->live_prev != NULL)
        process->live_prev->live_next = process->live_next;
    else
        engine->live_head = process->live_next;
    if (process->live_next != NULL)
        process->live_next->live_prev = process->live_prev;
    else
        engine->live_tail = process->live_prev;
    process->live_next = NULL;
    process->live_prev = NULL;
    assert(engine->live_count > 0);
    engine->live_count--;
}

void sim_process_destroy(struct sim_process *process)
{
    if (process == NULL)
        return;
    assert(process->state == SIM_PROCESS_DONE || process->state == SIM_PROCESS_FAILED);
    free(process);
}

const char *sim_process_waits_on(const struct sim_process *process)
{
    assert(process != NULL);
    if (process->waitq != NULL)
        return process->waitq->name;
    return WAITS_ON_SLEEP;
}

bool sim_process_check(const struct sim_process *process)
{
    switch (process->state) {
    case SIM_PROCESS_BLOCKED:
        if (process->resume_event != SIM_EVENT_NONE)
            return false;                                               /* PR1 */
        return process->waitq != NULL || process->deadline_event != SIM_EVENT_NONE; /* PR3 */
    case SIM_PROCESS_RUNNABLE:
        return process->waitq == NULL && process->deadline_event == SIM_EVENT_NONE; /* PR2 */
    default:
        return process->waitq == NULL;
    }
}

struct sim_process *sim_engine_processes_first(const struct sim_engine *engine)
{
    return engine->live_head;
}

uint32_t sim_engine_processes_live(const struct sim_engine *engine)
{
    return engine->live_count;
}

void sim__process_deadlock_scan(struct sim_engine *engine, bool *deadlock_out)
{
    /* Called when no event can run: every live process outside a frozen domain is BLOCKED
     * on a queue with no deadline (a deadline or a resume would be a pending event). A
     * frozen domain's processes wait for their thaw, not forever. */
    bool deadlock = false;
    uint32_t visited = 0;
    for (struct sim_process *process = engine->live_head; process != NULL;
         process = process->live_next) {
        assert(visited++ < engine->live_count);
        if (sim_engine_domain_frozen(engine, process->domain))
            continue;
        assert(process->state == SIM_PROCESS_BLOCKED);
        if (!process->daemon)
            deadlock = true;
    }
    *deadlock_out = deadlock;
}
