/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/process_test.c: processes, wait queues, limits and the run loop
 * (sim/engine/process.h, engine.h).
 *
 * The processes here are owned by a test-only `script`: its resume op records
 * each resume (reason, time) and then runs the next scripted step: block on a
 * queue and/or a deadline, or finish. So the engine's own rules are tested
 * without fibers or Lua: one resume per wake-up (PR1, PR2), deadlines against
 * wake-ups, FIFO wait queues, kill, the named limits, deadlock detection and the
 * stop conditions of sim_engine_run. A collecting trace sink checks what the
 * engine reports.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "sim/engine/engine.h"
#include "sim/engine/engine_int.h"
#include "sim/engine/process.h"
#include "suites.h"
#include "test_support.h"

/* ---- The scripted test process ---------------------------------------------------- */

#define SCRIPT_STEPS_MAX 4u
#define SCRIPT_RESUMES_MAX 8u

struct script_step {
    struct sim_waitq *queue;    /* NULL: sleep until the deadline */
    uint64_t deadline_ns;       /* SIM_TIME_NEVER: none */
};

struct script {
    struct sim_engine *engine;
    struct sim_process *process;    /* NULL once finished (the script destroys it) */
    uint32_t pid;
    struct script_step steps[SCRIPT_STEPS_MAX];
    uint32_t step_count;
    uint32_t step_index;
    bool kill_self;                 /* request its own kill before blocking */
    bool fill_queue;                /* fill the event queue to its limit before blocking */
    uint32_t resumes;
    enum sim_wake_reason reasons[SCRIPT_RESUMES_MAX];
    uint64_t resume_times_ns[SCRIPT_RESUMES_MAX];
    int block_rc;
    bool finished;
    uint64_t finish_ns;
    bool released;
};

/* Order in which scripts were resumed (pids), shared by the tests that need it. */
static uint32_t resume_order[32];
static uint32_t resume_order_count;

static void event_noop(void *context, void *arg, uint64_t data)
{
    (void)context;
    (void)arg;
    (void)data;
}

static void script_fill_queue(struct script *script)
{
    uint32_t limit = sim_engine_limits(script->engine)->events_pending_max;
    for (uint32_t index = 0; index < limit && sim_engine_events_pending(script->engine) < limit;
         index++)
        (void)sim_engine_schedule_at(script->engine, 1000000, event_noop, NULL, 0, NULL);
}

static void script_resume(struct sim_process *process, enum sim_wake_reason reason)
{
    struct script *script = process->owner;
    CU_ASSERT_PTR_EQUAL(sim_engine_current(script->engine), process);
    CU_ASSERT_EQUAL(process->state, SIM_PROCESS_RUNNING);
    if (script->resumes < SCRIPT_RESUMES_MAX) {
        script->reasons[script->resumes] = reason;
        script->resume_times_ns[script->resumes] = sim_engine_now(script->engine);
    }
    script->resumes++;
    if (resume_order_count < 32)
        resume_order[resume_order_count++] = process->pid;
    if (reason != SIM_WAKE_KILLED && script->step_index < script->step_count) {
        struct script_step step = script->steps[script->step_index++];
        if (script->kill_self)
            sim_process_kill(process);
        if (script->fill_queue)
            script_fill_queue(script);
        script->block_rc = sim_process_block(process, step.queue, step.deadline_ns);
        if (script->block_rc == SIM_OK)
            return;
    }
    sim_process_finish(process, false);
    sim_process_destroy(process);
    script->process = NULL;
    script->finished = true;
    script->finish_ns = sim_engine_now(script->engine);
}

static void script_release(struct sim_process *process)
{
    struct script *script = process->owner;
    script->released = true;
}

static const struct sim_process_ops script_ops = {
    .resume = script_resume,
    .release = script_release,
};

/* Adds a step: block on `queue` (may be NULL) with `deadline_ns`. */
static void script_step(struct script *script, struct sim_waitq *queue, uint64_t deadline_ns)
{
    CU_ASSERT_FATAL(script->step_count < SCRIPT_STEPS_MAX);
    script->steps[script->step_count].queue = queue;
    script->steps[script->step_count].deadline_ns = deadline_ns;
    script->step_count++;
}

static int script_spawn(struct sim_engine *engine, struct script *script, const char *name,
                        bool daemon, uint64_t start_ns)
{
    script->engine = engine;
    int rc = sim_process_create(engine, 1, name, &script_ops, script, daemon, start_ns,
                                &script->process);
    if (rc == SIM_OK)
        script->pid = script->process->pid;
    return rc;
}

static struct sim_engine *engine_fixture(const struct sim_limits *limits)
{
    struct sim_limits defaults = sim_limits_default();
    struct sim_engine *engine = sim_engine_create(limits != NULL ? limits : &defaults, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(engine);
    resume_order_count = 0;
    return engine;
}

static struct sim_run_result run_all(struct sim_engine *engine)
{
    struct sim_run_result result;
    sim_engine_run(engine, SIM_TIME_NEVER, 0, &result);
    return result;
}

/* ---- Events the tests schedule ------------------------------------------------------ */

/* One wake-up source: what to wake and the results of each call. */
struct waker {
    struct sim_waitq *queue;
    struct sim_process *process;    /* for direct sim_process_wake / kill */
    uint32_t results[4];
    uint32_t calls;
};

static void waker_record(struct waker *waker, uint32_t result)
{
    if (waker->calls < 4)
        waker->results[waker->calls] = result;
    waker->calls++;
}

static void event_wake_one(void *context, void *arg, uint64_t data)
{
    (void)context;
    (void)data;
    struct waker *waker = arg;
    waker_record(waker, sim_waitq_wake_one(waker->queue));
}

static void event_wake_all(void *context, void *arg, uint64_t data)
{
    (void)context;
    (void)data;
    struct waker *waker = arg;
    waker_record(waker, sim_waitq_wake_all(waker->queue));
}

/* Two wake_one and two wake_all in the same event: only the first may wake anything. */
static void event_wake_four_times(void *context, void *arg, uint64_t data)
{
    (void)context;
    (void)data;
    struct waker *waker = arg;
    waker_record(waker, sim_waitq_wake_one(waker->queue));
    waker_record(waker, sim_waitq_wake_one(waker->queue));
    waker_record(waker, sim_waitq_wake_all(waker->queue));
    waker_record(waker, sim_process_wake(waker->process, SIM_WAKE_WOKEN) ? 1 : 0);
}

static void event_kill_process(void *context, void *arg, uint64_t data)
{
    (void)context;
    (void)data;
    struct waker *waker = arg;
    sim_process_kill(waker->process);
    waker_record(waker, 1);
}

/* Schedules event_wake_one alone at time `data`, from inside the run. */
static void event_schedule_late_wake_one(void *context, void *arg, uint64_t data)
{
    CU_ASSERT_EQUAL(sim_engine_schedule_at(context, data, event_wake_one, arg, 0, NULL),
                    SIM_OK);
}

static void event_count(void *context, void *arg, uint64_t data)
{
    (void)data;
    uint64_t *count = arg;
    (*count)++;
    CU_ASSERT_PTR_NULL(sim_engine_current(context));
}

/* ---- Deadlines against wake-ups ----------------------------------------------------- */

/* A process blocked until D = 100 and woken at 99 resumes WOKEN at 99; its deadline event
 * is cancelled (it never runs: 3 events in all) and its deadline is cleared. */
static void test_wake_before_deadline_resumes_woken_and_cancels_deadline(void)
{
    struct sim_engine *engine = engine_fixture(NULL);
    struct sim_waitq queue;
    sim_waitq_init(&queue, "q");
    struct script script = { 0 };
    script_step(&script, &queue, 100);
    CU_ASSERT_EQUAL_FATAL(script_spawn(engine, &script, "p", false, 0), SIM_OK);
    struct waker waker = { .queue = &queue };
    CU_ASSERT_EQUAL(sim_engine_schedule_at(engine, 99, event_wake_one, &waker, 0, NULL), SIM_OK);
    struct sim_run_result result = run_all(engine);
    CU_ASSERT_EQUAL(result.stopped, SIM_STOP_IDLE);
    CU_ASSERT_EQUAL(waker.results[0], 1);
    CU_ASSERT_EQUAL(script.resumes, 2);
    CU_ASSERT_EQUAL(script.reasons[1], SIM_WAKE_WOKEN);
    ASSERT_U64_EQ(script.resume_times_ns[1], 99);
    ASSERT_U64_EQ(result.events_run, 3);        /* start, wake, resume: no deadline */
    ASSERT_U64_EQ(result.now_ns, 99);
    CU_ASSERT(script.finished);
    CU_ASSERT_EQUAL(queue.count, 0);
    sim_engine_destroy(engine);
}

/* A process nobody wakes resumes TIMED_OUT at exactly its deadline and leaves its queue. */
static void test_unwoken_process_times_out_at_exactly_deadline(void)
{
    struct sim_engine *engine = engine_fixture(NULL);
    struct sim_waitq queue;
    sim_waitq_init(&queue, "q");
    struct script script = { 0 };
    script_step(&script, &queue, 100);
    CU_ASSERT_EQUAL_FATAL(script_spawn(engine, &script, "p", false, 0), SIM_OK);
    struct sim_run_result result = run_all(engine);
    CU_ASSERT_EQUAL(result.stopped, SIM_STOP_IDLE);
    CU_ASSERT_EQUAL(script.resumes, 2);
    CU_ASSERT_EQUAL(script.reasons[1], SIM_WAKE_TIMED_OUT);
    ASSERT_U64_EQ(script.resume_times_ns[1], 100);
    CU_ASSERT_EQUAL(queue.count, 0);
    CU_ASSERT_PTR_NULL(queue.head);
    sim_engine_destroy(engine);
}

/* Wake exactly at D: the event scheduled first wins (style.md "Event order"). Here the
 * wake event was scheduled before the process blocked, so before its deadline event:
 * the process resumes WOKEN at D, once. */
static void test_wake_at_deadline_scheduled_first_wins_as_woken(void)
{
    struct sim_engine *engine = engine_fixture(NULL);
    struct sim_waitq queue;
    sim_waitq_init(&queue, "q");
    struct script script = { 0 };
    script_step(&script, &queue, 100);
    CU_ASSERT_EQUAL_FATAL(script_spawn(engine, &script, "p", false, 0), SIM_OK);
    struct waker waker = { .queue = &queue };
    CU_ASSERT_EQUAL(sim_engine_schedule_at(engine, 100, event_wake_one, &waker, 0, NULL), SIM_OK);
    struct sim_run_result result = run_all(engine);
    CU_ASSERT_EQUAL(result.stopped, SIM_STOP_IDLE);
    CU_ASSERT_EQUAL(waker.results[0], 1);
    CU_ASSERT_EQUAL(script.resumes, 2);
    CU_ASSERT_EQUAL(script.reasons[1], SIM_WAKE_WOKEN);
    ASSERT_U64_EQ(script.resume_times_ns[1], 100);
    ASSERT_U64_EQ(result.events_run, 3);
    sim_engine_destroy(engine);
}

/* Wake exactly at D, the other way round: the wake is scheduled (at t = 50) after the
 * block (t = 0), so the deadline event runs first, and it resumes the process itself:
 * TIMED_OUT at D, once, in one event; the wake_one later in the same instant finds the
 * queue empty. (The process has finished by then, so nothing wakes it directly.) */
static void test_wake_at_deadline_scheduled_after_block_loses_to_timeout(void)
{
    struct sim_engine *engine = engine_fixture(NULL);
    struct sim_waitq queue;
    sim_waitq_init(&queue, "q");
    struct script script = { 0 };
    script_step(&script, &queue, 100);
    CU_ASSERT_EQUAL_FATAL(script_spawn(engine, &script, "p", false, 0), SIM_OK);
    struct waker waker = { .queue = &queue };
    CU_ASSERT_EQUAL(sim_engine_schedule_at(engine, 50, event_schedule_late_wake_one, &waker,
                                           100, NULL), SIM_OK);
    struct sim_run_result result = run_all(engine);
    CU_ASSERT_EQUAL(result.stopped, SIM_STOP_IDLE);
    CU_ASSERT_EQUAL(waker.calls, 1);
    CU_ASSERT_EQUAL(waker.results[0], 0);       /* wake_one: queue already empty */
    CU_ASSERT_EQUAL(script.resumes, 2);
    CU_ASSERT_EQUAL(script.reasons[1], SIM_WAKE_TIMED_OUT);
    ASSERT_U64_EQ(script.resume_times_ns[1], 100);
    ASSERT_U64_EQ(result.events_run, 4);        /* start, scheduler, deadline, wake_one */
    sim_engine_destroy(engine);
}

/* Counts the resumes `arg` (a script) has had when this event runs, in `data`'s slot of
 * sleep_seen. */
static uint32_t sleep_seen[4];

static void event_see_resumes(void *context, void *arg, uint64_t data)
{
    (void)context;
    const struct script *script = arg;
    CU_ASSERT_FATAL(data < 4);
    sleep_seen[data] = script->resumes;
}

/* Schedules event_see_resumes for `data` (a time) from inside the run: after the sleeper
 * blocked. */
static void event_schedule_seer(void *context, void *arg, uint64_t data)
{
    CU_ASSERT_EQUAL(sim_engine_schedule_at(context, data, event_see_resumes, arg, 0, NULL),
                    SIM_OK);
}

/* A sleep is one engine event: the deadline resumes the process itself (TIMED_OUT), at the
 * deadline's place among the events of its instant. A process sleeping until 100 from
 * t = 0 and two more sleeps after it: start + 3 deadlines, nothing else; an event
 * scheduled at t = 50 for t = 100 runs after the sleeper resumed (it was scheduled after
 * the deadline); one scheduled at t = 0 before the process blocked runs before it. */
static void test_sleep_is_one_event_at_the_deadlines_place(void)
{
    struct sim_engine *engine = engine_fixture(NULL);
    struct script script = { 0 };
    script_step(&script, NULL, 100);
    script_step(&script, NULL, 150);
    script_step(&script, NULL, 150);           /* a sleep of 0: still one event */
    CU_ASSERT_EQUAL(sim_engine_schedule_at(engine, 100, event_see_resumes, &script, 1, NULL),
                    SIM_OK);                    /* before the spawn: before the deadline */
    CU_ASSERT_EQUAL_FATAL(script_spawn(engine, &script, "sleeper", false, 0), SIM_OK);
    CU_ASSERT_EQUAL(sim_engine_schedule_at(engine, 50, event_schedule_seer, &script, 100,
                                           NULL), SIM_OK);
    sleep_seen[0] = 99;
    sleep_seen[1] = 99;
    struct sim_run_result result = run_all(engine);
    CU_ASSERT_EQUAL(result.stopped, SIM_STOP_IDLE);
    CU_ASSERT_EQUAL(script.resumes, 4);
    for (uint32_t index = 1; index < 4; index++)
        CU_ASSERT_EQUAL(script.reasons[index], SIM_WAKE_TIMED_OUT);
    ASSERT_U64_EQ(script.resume_times_ns[1], 100);
    ASSERT_U64_EQ(script.resume_times_ns[2], 150);
    ASSERT_U64_EQ(script.resume_times_ns[3], 150);
    CU_ASSERT_EQUAL(sleep_seen[0], 2);          /* the late one ran after the resume, */
    CU_ASSERT_EQUAL(sleep_seen[1], 1);          /* the early one before it */
    ASSERT_U64_EQ(result.events_run, 1 + 3 + 1 + 1 + 1);    /* start, 3 sleeps, 3 others */
    sim_engine_destroy(engine);
}

/* Eight processes sleeping until the same instant resume in the order they blocked when
 * the wake-up tie-break is off; with it on, the order is a function of the seed (the same
 * seed, the same order) and some seed among the first 16 gives another order: the deadline
 * took a drawn rank when its process blocked. */
static void sleepers_order(uint64_t seed, bool shuffle, uint32_t order[8])
{
    struct sim_limits limits = sim_limits_default();
    struct sim_engine *engine = sim_engine_create(&limits, seed);
    CU_ASSERT_PTR_NOT_NULL_FATAL(engine);
    CU_ASSERT_EQUAL(sim_engine_set_wakeup_shuffle(engine, shuffle), SIM_OK);
    resume_order_count = 0;
    static const char *const names[8] = { "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8" };
    struct script scripts[8];
    for (uint32_t index = 0; index < 8; index++) {
        scripts[index] = (struct script){ 0 };
        script_step(&scripts[index], NULL, 1000);
        CU_ASSERT_EQUAL_FATAL(script_spawn(engine, &scripts[index], names[index], false,
                                           index), SIM_OK);
    }
    struct sim_run_result result = run_all(engine);
    CU_ASSERT_EQUAL(result.stopped, SIM_STOP_IDLE);
    ASSERT_U64_EQ(result.events_run, 16);       /* 8 starts, 8 deadlines */
    CU_ASSERT_EQUAL_FATAL(resume_order_count, 16);
    for (uint32_t index = 0; index < 8; index++)
        order[index] = resume_order[8 + index];
    sim_engine_destroy(engine);
}

static void test_equal_deadlines_resume_in_block_order_or_seeded_order(void)
{
    uint32_t order[8];
    sleepers_order(1, false, order);
    int out_of_order = 0;
    for (uint32_t index = 0; index < 8; index++)
        out_of_order += order[index] != index + 1;
    CU_ASSERT_EQUAL(out_of_order, 0);
    int seeds_reordered = 0;
    for (uint64_t seed = 1; seed <= 16; seed++) {
        uint32_t first[8];
        uint32_t again[8];
        sleepers_order(seed, true, first);
        sleepers_order(seed, true, again);
        CU_ASSERT_EQUAL(memcmp(first, again, sizeof(first)), 0);
        for (uint32_t index = 0; index < 8; index++) {
            if (first[index] != index + 1) {
                seeds_reordered++;
                break;
            }
        }
    }
    CU_ASSERT(seeds_reordered > 0);
}

/* One wake-up per event: wake_one twice, wake_all and a direct wake in the same event,
 * then wake_all in a later event of the same instant: one resume, WOKEN, at 10. */
static void test_repeated_wakes_in_one_instant_resume_once(void)
{
    struct sim_engine *engine = engine_fixture(NULL);
    struct sim_waitq queue;
    sim_waitq_init(&queue, "q");
    struct script script = { 0 };
    script_step(&script, &queue, SIM_TIME_NEVER);
    CU_ASSERT_EQUAL_FATAL(script_spawn(engine, &script, "p", false, 0), SIM_OK);
    struct waker first = { .queue = &queue, .process = script.process };
    struct waker second = { .queue = &queue };
    CU_ASSERT_EQUAL(sim_engine_schedule_at(engine, 10, event_wake_four_times, &first, 0, NULL),
                    SIM_OK);
    CU_ASSERT_EQUAL(sim_engine_schedule_at(engine, 10, event_wake_all, &second, 0, NULL), SIM_OK);
    struct sim_run_result result = run_all(engine);
    CU_ASSERT_EQUAL(result.stopped, SIM_STOP_IDLE);
    CU_ASSERT_EQUAL(first.results[0], 1);
    CU_ASSERT_EQUAL(first.results[1], 0);
    CU_ASSERT_EQUAL(first.results[2], 0);
    CU_ASSERT_EQUAL(first.results[3], 0);
    CU_ASSERT_EQUAL(second.results[0], 0);
    CU_ASSERT_EQUAL(script.resumes, 2);
    CU_ASSERT_EQUAL(script.reasons[1], SIM_WAKE_WOKEN);
    ASSERT_U64_EQ(script.resume_times_ns[1], 10);
    sim_engine_destroy(engine);
}

/* ---- Wait queues ---------------------------------------------------------------------- */

/* Spawns `count` scripts blocking on `queue` (no deadline), in pid order. */
static void spawn_waiters(struct sim_engine *engine, struct script *scripts, uint32_t count,
                          struct sim_waitq *queue)
{
    static const char *const names[] = { "w1", "w2", "w3", "w4" };
    CU_ASSERT_FATAL(count <= 4);
    for (uint32_t index = 0; index < count; index++) {
        scripts[index] = (struct script){ 0 };
        script_step(&scripts[index], queue, SIM_TIME_NEVER);
        CU_ASSERT_EQUAL_FATAL(script_spawn(engine, &scripts[index], names[index], false, 0),
                              SIM_OK);
    }
}

/* wake_one wakes the longest waiter: three waiters woken at 10, 20, 30 resume in the
 * order they blocked, each at the time of its own wake-up. */
static void test_waitq_wake_one_is_fifo(void)
{
    struct sim_engine *engine = engine_fixture(NULL);
    struct sim_waitq queue;
    sim_waitq_init(&queue, "fifo");
    struct script scripts[3];
    spawn_waiters(engine, scripts, 3, &queue);
    struct waker waker = { .queue = &queue };
    for (uint64_t time_ns = 10; time_ns <= 30; time_ns += 10)
        CU_ASSERT_EQUAL(sim_engine_schedule_at(engine, time_ns, event_wake_one, &waker, 0, NULL),
                        SIM_OK);
    struct sim_run_result first = { 0 };
    sim_engine_run(engine, 5, 0, &first);
    CU_ASSERT_EQUAL(queue.count, 3);
    CU_ASSERT_PTR_EQUAL(queue.head, scripts[0].process);
    CU_ASSERT_PTR_EQUAL(queue.tail, scripts[2].process);
    struct sim_run_result result = run_all(engine);
    CU_ASSERT_EQUAL(result.stopped, SIM_STOP_IDLE);
    for (int index = 0; index < 3; index++) {
        CU_ASSERT_EQUAL(scripts[index].resumes, 2);
        CU_ASSERT_EQUAL(scripts[index].reasons[1], SIM_WAKE_WOKEN);
        ASSERT_U64_EQ(scripts[index].resume_times_ns[1], 10 * (index + 1));
    }
    sim_engine_destroy(engine);
}

/* wake_all wakes every waiter (returns 3) in FIFO order; a second wake_all finds none. */
static void test_waitq_wake_all_wakes_every_waiter_in_order(void)
{
    struct sim_engine *engine = engine_fixture(NULL);
    struct sim_waitq queue;
    sim_waitq_init(&queue, "all");
    struct script scripts[3];
    spawn_waiters(engine, scripts, 3, &queue);
    struct waker waker = { .queue = &queue };
    CU_ASSERT_EQUAL(sim_engine_schedule_at(engine, 10, event_wake_all, &waker, 0, NULL), SIM_OK);
    CU_ASSERT_EQUAL(sim_engine_schedule_at(engine, 10, event_wake_all, &waker, 0, NULL), SIM_OK);
    struct sim_run_result result = run_all(engine);
    CU_ASSERT_EQUAL(result.stopped, SIM_STOP_IDLE);
    CU_ASSERT_EQUAL(waker.results[0], 3);
    CU_ASSERT_EQUAL(waker.results[1], 0);
    CU_ASSERT_EQUAL_FATAL(resume_order_count, 6);
    for (uint32_t index = 0; index < 3; index++) {
        CU_ASSERT_EQUAL(resume_order[3 + index], scripts[index].pid);
        CU_ASSERT_EQUAL(scripts[index].resumes, 2);
        ASSERT_U64_EQ(scripts[index].resume_times_ns[1], 10);
    }
    sim_engine_destroy(engine);
}

/* ---- Kill ----------------------------------------------------------------------------- */

/* A process blocked on a queue with a deadline, killed at 5: it resumes once with
 * SIM_WAKE_KILLED at 5, leaves the queue, and its deadline (at 100) never runs. */
static void test_kill_of_blocked_process_resumes_killed(void)
{
    struct sim_engine *engine = engine_fixture(NULL);
    struct sim_waitq queue;
    sim_waitq_init(&queue, "q");
    struct script script = { 0 };
    script_step(&script, &queue, 100);
    CU_ASSERT_EQUAL_FATAL(script_spawn(engine, &script, "victim", false, 0), SIM_OK);
    struct waker waker = { .process = script.process };
    CU_ASSERT_EQUAL(sim_engine_schedule_at(engine, 5, event_kill_process, &waker, 0, NULL),
                    SIM_OK);
    struct sim_run_result result = run_all(engine);
    CU_ASSERT_EQUAL(result.stopped, SIM_STOP_IDLE);
    CU_ASSERT_EQUAL(script.resumes, 2);
    CU_ASSERT_EQUAL(script.reasons[1], SIM_WAKE_KILLED);
    ASSERT_U64_EQ(script.resume_times_ns[1], 5);
    ASSERT_U64_EQ(result.now_ns, 5);
    ASSERT_U64_EQ(result.events_run, 3);
    CU_ASSERT_EQUAL(queue.count, 0);
    CU_ASSERT_EQUAL(sim_engine_processes_live(engine), 0);
    sim_engine_destroy(engine);
}

/* A process killed while RUNNABLE (before its first resume) starts with SIM_WAKE_KILLED,
 * at its start time; a process that requests its own kill gets SIM_EKILLED from block. */
static void test_kill_before_start_and_self_kill(void)
{
    struct sim_engine *engine = engine_fixture(NULL);
    struct script early = { 0 };
    script_step(&early, NULL, 50);
    CU_ASSERT_EQUAL_FATAL(script_spawn(engine, &early, "early", false, 20), SIM_OK);
    sim_process_kill(early.process);
    CU_ASSERT_EQUAL(early.process->state, SIM_PROCESS_RUNNABLE);
    struct script self = { .kill_self = true };
    script_step(&self, NULL, 50);
    CU_ASSERT_EQUAL_FATAL(script_spawn(engine, &self, "self", false, 0), SIM_OK);
    struct sim_run_result result = run_all(engine);
    CU_ASSERT_EQUAL(result.stopped, SIM_STOP_IDLE);
    CU_ASSERT_EQUAL(early.resumes, 1);
    CU_ASSERT_EQUAL(early.reasons[0], SIM_WAKE_KILLED);
    ASSERT_U64_EQ(early.resume_times_ns[0], 20);
    CU_ASSERT_EQUAL(self.resumes, 1);
    CU_ASSERT_EQUAL(self.block_rc, SIM_EKILLED);
    CU_ASSERT(self.finished);
    ASSERT_U64_EQ(self.finish_ns, 0);
    sim_engine_destroy(engine);
}

/* ---- Limits --------------------------------------------------------------------------- */

/* processes_max = 2: the third live process is SIM_ELIMIT naming the limit and takes no
 * pid; once the first two finish, a new one fits (and gets pid 3). */
static void test_processes_max_is_named_in_the_error(void)
{
    struct sim_limits limits = sim_limits_default();
    limits.processes_max = 2;
    struct sim_engine *engine = engine_fixture(&limits);
    struct script scripts[4] = { { 0 } };
    CU_ASSERT_EQUAL(script_spawn(engine, &scripts[0], "a", false, 0), SIM_OK);
    CU_ASSERT_EQUAL(script_spawn(engine, &scripts[1], "b", false, 0), SIM_OK);
    CU_ASSERT_EQUAL(script_spawn(engine, &scripts[2], "c", false, 0), SIM_ELIMIT);
    ASSERT_STR_CONTAINS(sim_engine_error_message(engine), "processes_max");
    CU_ASSERT_PTR_NULL(scripts[2].process);
    CU_ASSERT_EQUAL(sim_engine_processes_live(engine), 2);
    struct sim_run_result result = run_all(engine);
    CU_ASSERT_EQUAL(result.stopped, SIM_STOP_IDLE);
    CU_ASSERT_EQUAL(sim_engine_processes_live(engine), 0);
    CU_ASSERT_EQUAL(script_spawn(engine, &scripts[3], "d", false, 0), SIM_OK);
    CU_ASSERT_EQUAL(scripts[3].pid, 3);
    result = run_all(engine);
    CU_ASSERT(scripts[3].finished);
    sim_engine_destroy(engine);
}

/* Process names: 1..63 bytes; empty or 64 bytes is SIM_EINVAL. */
static void test_process_name_length_is_bounded(void)
{
    struct sim_engine *engine = engine_fixture(NULL);
    char name[SIM_PROCESS_NAME_BYTES_MAX + 1];
    memset(name, 'x', SIM_PROCESS_NAME_BYTES_MAX);
    name[SIM_PROCESS_NAME_BYTES_MAX] = '\0';
    struct script scripts[3] = { { 0 } };
    CU_ASSERT_EQUAL(script_spawn(engine, &scripts[0], name, false, 0), SIM_EINVAL);
    CU_ASSERT_EQUAL(script_spawn(engine, &scripts[1], "", false, 0), SIM_EINVAL);
    name[SIM_PROCESS_NAME_BYTES_MAX - 1] = '\0';
    CU_ASSERT_EQUAL(script_spawn(engine, &scripts[2], name, false, 0), SIM_OK);
    CU_ASSERT_EQUAL(sim_engine_processes_live(engine), 1);
    run_all(engine);
    CU_ASSERT(scripts[2].finished);
    sim_engine_destroy(engine);
}

/* events_pending_max = 2: scheduling or creating beyond it is SIM_ELIMIT naming the limit;
 * a block whose deadline does not fit returns SIM_ELIMIT to the process. */
static void test_events_pending_max_is_named_in_the_error(void)
{
    struct sim_limits limits = sim_limits_default();
    limits.events_pending_max = 2;
    struct sim_engine *engine = engine_fixture(&limits);
    struct script scripts[3] = { { 0 } };
    scripts[0].fill_queue = true;
    script_step(&scripts[0], NULL, 10);
    CU_ASSERT_EQUAL(script_spawn(engine, &scripts[0], "a", false, 0), SIM_OK);
    CU_ASSERT_EQUAL(sim_engine_schedule_at(engine, 1, event_noop, NULL, 0, NULL), SIM_OK);
    CU_ASSERT_EQUAL(sim_engine_schedule_at(engine, 1, event_noop, NULL, 0, NULL), SIM_ELIMIT);
    ASSERT_STR_CONTAINS(sim_engine_error_message(engine), "events_pending_max");
    sim_engine_fail(engine, SIM_EINVAL, "reset");
    CU_ASSERT_EQUAL(script_spawn(engine, &scripts[1], "b", false, 0), SIM_ELIMIT);
    ASSERT_STR_CONTAINS(sim_engine_error_message(engine), "events_pending_max");
    CU_ASSERT_EQUAL(sim_engine_processes_live(engine), 1);
    sim_engine_fail(engine, SIM_EINVAL, "reset");
    struct sim_run_result result = run_all(engine);
    CU_ASSERT_EQUAL(result.stopped, SIM_STOP_IDLE);
    CU_ASSERT_EQUAL(scripts[0].block_rc, SIM_ELIMIT);
    ASSERT_STR_CONTAINS(sim_engine_error_message(engine), "events_pending_max");
    CU_ASSERT(scripts[0].finished);
    sim_engine_destroy(engine);
}

/* A wake-up whose resume event does not fit stops the whole run (SIM_STOP_ERROR) with the
 * limit's name: the process cannot be silently lost. */
static void test_wake_beyond_events_pending_max_stops_the_run(void)
{
    struct sim_limits limits = sim_limits_default();
    limits.events_pending_max = 2;
    struct sim_engine *engine = engine_fixture(&limits);
    struct sim_waitq queue;
    sim_waitq_init(&queue, "q");
    struct script script = { 0 };
    script_step(&script, &queue, SIM_TIME_NEVER);
    CU_ASSERT_EQUAL_FATAL(script_spawn(engine, &script, "d", true, 0), SIM_OK);
    CU_ASSERT_EQUAL(run_all(engine).stopped, SIM_STOP_IDLE);    /* a daemon blocked alone */
    CU_ASSERT_EQUAL(sim_engine_schedule_at(engine, 50, event_noop, NULL, 0, NULL), SIM_OK);
    CU_ASSERT_EQUAL(sim_engine_schedule_at(engine, 60, event_noop, NULL, 0, NULL), SIM_OK);
    CU_ASSERT_EQUAL(sim_waitq_wake_one(&queue), 1);
    CU_ASSERT_EQUAL(sim_engine_abort_code(engine), SIM_ELIMIT);
    struct sim_run_result result = run_all(engine);
    CU_ASSERT_EQUAL(result.stopped, SIM_STOP_ERROR);
    ASSERT_U64_EQ(result.events_run, 0);
    ASSERT_STR_CONTAINS(sim_engine_error_message(engine), "events_pending_max");
    sim_engine_destroy(engine);
    CU_ASSERT(script.released);
}

/* ---- Trace ---------------------------------------------------------------------------- */

#define COLLECTOR_RECORDS_MAX 32u

struct record {
    uint64_t seq;
    uint64_t time_ns;
    uint32_t ctx;
    uint32_t pid;
    enum sim_layer layer;
    char kind[32];
    char text[64];      /* the first field, when it is a string */
};

struct collector {
    struct record records[COLLECTOR_RECORDS_MAX];
    uint32_t count;
    int fail_code;      /* non-zero: emit fails with this code and "disk full" */
};

static int collector_emit(void *state, const struct sim_trace_event *event, char *message)
{
    struct collector *collector = state;
    if (collector->fail_code != 0) {
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX, "disk full");
        return collector->fail_code;
    }
    if (collector->count >= COLLECTOR_RECORDS_MAX)
        return SIM_OK;
    struct record *record = &collector->records[collector->count++];
    *record = (struct record){ .seq = event->seq, .time_ns = event->time_ns, .ctx = event->ctx,
                               .pid = event->pid, .layer = event->layer };
    snprintf(record->kind, sizeof(record->kind), "%s", event->kind);
    if (event->field_count > 0 && event->fields[0].type == SIM_FIELD_STR)
        snprintf(record->text, sizeof(record->text), "%.*s",
                 (int)event->fields[0].value.blob.size_bytes,
                 (const char *)event->fields[0].value.blob.data);
    return SIM_OK;
}

static struct sim_trace_sink collector_sink(struct collector *collector, enum sim_layer level)
{
    struct sim_trace_sink sink = {
        .name = "collector", .level = level, .emit = collector_emit, .state = collector,
    };
    return sink;
}

static int emit_simple(struct sim_engine *engine, enum sim_layer layer, const char *kind)
{
    struct sim_trace_event event;
    sim_trace_event_init(&event, layer, kind, 2, 0);
    return sim_engine_emit(engine, &event);
}

/* A process's life in the trace: spawn, resume (start), block (sleep until 5), resume
 * (timed_out), exit (done); api layer, seq 0..4, stamped with the time of each step. */
static void test_trace_records_process_lifecycle(void)
{
    struct sim_engine *engine = engine_fixture(NULL);
    static struct collector collector;
    collector = (struct collector){ 0 };
    CU_ASSERT_EQUAL(sim_engine_sink_attach(engine, collector_sink(&collector, SIM_LAYER_API)),
                    SIM_OK);
    struct script script = { 0 };
    script_step(&script, NULL, 5);
    CU_ASSERT_EQUAL_FATAL(script_spawn(engine, &script, "sleeper", false, 0), SIM_OK);
    run_all(engine);
    static const struct {
        const char *kind;
        uint64_t time_ns;
        const char *text;
    } expected[] = {
        { "proc_spawn", 0, "sleeper" }, { "proc_resume", 0, "start" },
        { "proc_block", 0, "sleep" },   { "proc_resume", 5, "timed_out" },
        { "proc_exit", 5, "done" },
    };
    CU_ASSERT_EQUAL_FATAL(collector.count, 5);
    for (uint32_t index = 0; index < 5; index++) {
        const struct record *record = &collector.records[index];
        ASSERT_U64_EQ(record->seq, index);
        ASSERT_U64_EQ(record->time_ns, expected[index].time_ns);
        CU_ASSERT_STRING_EQUAL(record->kind, expected[index].kind);
        CU_ASSERT_STRING_EQUAL(record->text, expected[index].text);
        CU_ASSERT_EQUAL(record->pid, script.pid);
        CU_ASSERT_EQUAL(record->ctx, 1);
        CU_ASSERT_EQUAL(record->layer, SIM_LAYER_API);
    }
    ASSERT_U64_EQ(sim_engine_trace_events(engine), 5);
    sim_engine_destroy(engine);
}

/* A proc_block event names the queue as sim_waitq_init kept it (a name past the bound cut
 * to SIM_WAITQ_NAME_BYTES_MAX - 1 bytes, its measured length with it), and "sleep" without
 * one; each proc_resume names its reason. */
static void test_trace_names_waitq_and_reason_with_their_lengths(void)
{
    struct sim_engine *engine = engine_fixture(NULL);
    static struct collector collector;
    collector = (struct collector){ 0 };
    CU_ASSERT_EQUAL(sim_engine_sink_attach(engine, collector_sink(&collector, SIM_LAYER_API)),
                    SIM_OK);
    char long_name[SIM_WAITQ_NAME_BYTES_MAX + 20];
    memset(long_name, 'w', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    struct sim_waitq long_queue, short_queue;
    sim_waitq_init(&long_queue, long_name);
    sim_waitq_init(&short_queue, "accept:2:5000");
    CU_ASSERT_EQUAL(long_queue.name_bytes, SIM_WAITQ_NAME_BYTES_MAX - 1);
    CU_ASSERT_EQUAL(strlen(long_queue.name), SIM_WAITQ_NAME_BYTES_MAX - 1);
    CU_ASSERT_EQUAL(short_queue.name_bytes, 13);
    struct script script = { 0 };
    script_step(&script, &short_queue, 7);
    script_step(&script, &long_queue, 9);
    script_step(&script, NULL, 11);
    CU_ASSERT_EQUAL_FATAL(script_spawn(engine, &script, "waiter", false, 0), SIM_OK);
    run_all(engine);
    /* spawn, resume, block, resume, block, resume, block, resume, exit */
    CU_ASSERT_EQUAL_FATAL(collector.count, 9);
    CU_ASSERT_STRING_EQUAL(collector.records[2].kind, "proc_block");
    CU_ASSERT_STRING_EQUAL(collector.records[2].text, "accept:2:5000");
    CU_ASSERT_STRING_EQUAL(collector.records[3].text, "timed_out");
    CU_ASSERT_STRING_EQUAL(collector.records[4].kind, "proc_block");
    /* the record keeps 63 bytes of text: all 'w' */
    CU_ASSERT_EQUAL(strspn(collector.records[4].text, "w"), sizeof(collector.records[4].text) - 1);
    CU_ASSERT_STRING_EQUAL(collector.records[6].kind, "proc_block");
    CU_ASSERT_STRING_EQUAL(collector.records[6].text, "sleep");
    CU_ASSERT_STRING_EQUAL(collector.records[1].text, "start");
    CU_ASSERT_STRING_EQUAL(collector.records[7].text, "timed_out");
    CU_ASSERT_STRING_EQUAL(sim_wake_reason_name(SIM_WAKE_WOKEN), "woken");
    CU_ASSERT_STRING_EQUAL(sim_wake_reason_name(SIM_WAKE_KILLED), "killed");
    CU_ASSERT_STRING_EQUAL(sim_wake_reason_name((enum sim_wake_reason)99), "?");
    sim_engine_destroy(engine);
}

/* trace_events_max = 10: ten emits succeed, the 11th is SIM_ELIMIT naming the limit and
 * reaches no sink; the next run stops at once with SIM_STOP_ERROR. */
static void test_trace_events_max_stops_the_run(void)
{
    struct sim_limits limits = sim_limits_default();
    limits.trace_events_max = 10;
    struct sim_engine *engine = engine_fixture(&limits);
    static struct collector collector;
    collector = (struct collector){ 0 };
    CU_ASSERT_EQUAL(sim_engine_sink_attach(engine, collector_sink(&collector, SIM_LAYER_DEVICE)),
                    SIM_OK);
    for (int index = 0; index < 10; index++)
        CU_ASSERT_EQUAL(emit_simple(engine, SIM_LAYER_API, "log"), SIM_OK);
    CU_ASSERT_EQUAL(sim_engine_abort_code(engine), 0);
    CU_ASSERT_EQUAL(emit_simple(engine, SIM_LAYER_API, "log"), SIM_ELIMIT);
    ASSERT_STR_CONTAINS(sim_engine_error_message(engine), "trace_events_max");
    CU_ASSERT_EQUAL(collector.count, 10);
    ASSERT_U64_EQ(sim_engine_trace_events(engine), 10);
    uint64_t ran = 0;
    CU_ASSERT_EQUAL(sim_engine_schedule_at(engine, 5, event_count, &ran, 0, NULL), SIM_OK);
    struct sim_run_result result;
    sim_engine_run(engine, SIM_TIME_NEVER, 0, &result);
    CU_ASSERT_EQUAL(result.stopped, SIM_STOP_ERROR);
    ASSERT_U64_EQ(ran, 0);
    ASSERT_STR_CONTAINS(sim_engine_error_message(engine), "trace_events_max");
    sim_engine_destroy(engine);
}

/* A failing sink makes emit return its code with the sink's name and message, and stops
 * the run after the running event (EN3). */
static void test_sink_failure_stops_run_with_its_message(void)
{
    struct sim_engine *engine = engine_fixture(NULL);
    static struct collector collector;
    collector = (struct collector){ .fail_code = SIM_ESINK };
    CU_ASSERT_EQUAL(sim_engine_sink_attach(engine, collector_sink(&collector, SIM_LAYER_API)),
                    SIM_OK);
    struct script script = { 0 };
    CU_ASSERT_EQUAL(script_spawn(engine, &script, "p", false, 0), SIM_OK);   /* spawn fails */
    CU_ASSERT_EQUAL(sim_engine_abort_code(engine), SIM_ESINK);
    ASSERT_STR_CONTAINS(sim_engine_error_message(engine), "collector");
    ASSERT_STR_CONTAINS(sim_engine_error_message(engine), "disk full");
    struct sim_run_result result = run_all(engine);
    CU_ASSERT_EQUAL(result.stopped, SIM_STOP_ERROR);
    CU_ASSERT_EQUAL(script.resumes, 0);
    sim_engine_destroy(engine);
    CU_ASSERT(script.released);
}

/* A sink admits layers up to its level; seq counts every event, admitted or not; at most
 * SIM_TRACE_SINKS_MAX sinks attach. */
static void test_sink_level_admits_layers_up_to_level(void)
{
    struct sim_engine *engine = engine_fixture(NULL);
    static struct collector api, vmci, device, off;
    api = vmci = device = off = (struct collector){ 0 };
    CU_ASSERT_EQUAL(sim_engine_sink_attach(engine, collector_sink(&api, SIM_LAYER_API)), SIM_OK);
    CU_ASSERT_EQUAL(sim_engine_sink_attach(engine, collector_sink(&vmci, SIM_LAYER_VMCI)), SIM_OK);
    CU_ASSERT_EQUAL(sim_engine_sink_attach(engine, collector_sink(&device, SIM_LAYER_DEVICE)),
                    SIM_OK);
    for (uint32_t sink = 3; sink < SIM_TRACE_SINKS_MAX; sink++)       /* the table fills up */
        CU_ASSERT_EQUAL(sim_engine_sink_attach(engine, collector_sink(&off, SIM_LAYER_OFF)),
                        SIM_OK);
    CU_ASSERT_EQUAL(sim_engine_sink_attach(engine, collector_sink(&device, SIM_LAYER_API)),
                    SIM_ELIMIT);
    ASSERT_STR_CONTAINS(sim_engine_error_message(engine), "SIM_TRACE_SINKS_MAX");
    for (int layer = SIM_LAYER_DEVICE; layer >= SIM_LAYER_API; layer--)
        CU_ASSERT_EQUAL(emit_simple(engine, (enum sim_layer)layer, "k"), SIM_OK);
    CU_ASSERT_EQUAL(api.count, 1);
    CU_ASSERT_EQUAL(vmci.count, 3);
    CU_ASSERT_EQUAL(device.count, 4);
    CU_ASSERT_EQUAL(off.count, 0);                      /* level OFF admits nothing */
    ASSERT_U64_EQ(api.records[0].seq, 3);
    ASSERT_U64_EQ(vmci.records[0].seq, 1);
    CU_ASSERT_EQUAL(vmci.records[0].layer, SIM_LAYER_VMCI);
    sim_engine_sinks_detach(engine);
    CU_ASSERT_EQUAL(emit_simple(engine, SIM_LAYER_API, "k"), SIM_OK);
    CU_ASSERT_EQUAL(api.count, 1);
    ASSERT_U64_EQ(sim_engine_trace_events(engine), 5);
    sim_engine_destroy(engine);
}

/* The null sink admits every layer and keeps nothing; emitting through it still numbers
 * events, so a run with it behaves as one with no sink at all. */
static void test_null_sink_discards_but_events_are_numbered(void)
{
    struct sim_engine *engine = engine_fixture(NULL);
    struct sim_trace_sink sink = sim_trace_null_sink();
    CU_ASSERT_EQUAL(sink.level, SIM_LAYER_DEVICE);
    CU_ASSERT_EQUAL(sim_engine_sink_attach(engine, sink), SIM_OK);
    for (int layer = SIM_LAYER_API; layer <= SIM_LAYER_DEVICE; layer++)
        CU_ASSERT_EQUAL(emit_simple(engine, (enum sim_layer)layer, "k"), SIM_OK);
    ASSERT_U64_EQ(sim_engine_trace_events(engine), 4);
    CU_ASSERT_EQUAL(sim_engine_abort_code(engine), 0);
    sim_engine_destroy(engine);
}

/* ---- Stop conditions ------------------------------------------------------------------ */

/* Two non-daemon processes blocked forever on named queues (and a daemon): the run stops
 * with SIM_STOP_DEADLOCK, and the live list names each process's queue, in creation
 * order. Killing them lets the world finish (IDLE), the daemon still blocked. */
static void test_blocked_processes_without_events_are_a_deadlock(void)
{
    struct sim_engine *engine = engine_fixture(NULL);
    struct sim_waitq alpha, beta, gamma;
    sim_waitq_init(&alpha, "q_alpha");
    sim_waitq_init(&beta, "q_beta");
    sim_waitq_init(&gamma, "q_daemon");
    struct script scripts[3] = { { 0 } };
    script_step(&scripts[0], &alpha, SIM_TIME_NEVER);
    script_step(&scripts[1], &beta, SIM_TIME_NEVER);
    script_step(&scripts[2], &gamma, SIM_TIME_NEVER);
    CU_ASSERT_EQUAL_FATAL(script_spawn(engine, &scripts[0], "a", false, 0), SIM_OK);
    CU_ASSERT_EQUAL_FATAL(script_spawn(engine, &scripts[1], "b", false, 3), SIM_OK);
    CU_ASSERT_EQUAL_FATAL(script_spawn(engine, &scripts[2], "d", true, 0), SIM_OK);
    struct sim_run_result result = run_all(engine);
    CU_ASSERT_EQUAL(result.stopped, SIM_STOP_DEADLOCK);
    ASSERT_U64_EQ(result.now_ns, 3);
    CU_ASSERT_EQUAL(sim_engine_processes_live(engine), 3);
    static const char *const waits_on[] = { "q_alpha", "q_beta", "q_daemon" };
    struct sim_process *process = sim_engine_processes_first(engine);
    for (int index = 0; index < 3; index++) {
        CU_ASSERT_PTR_NOT_NULL_FATAL(process);
        CU_ASSERT_PTR_EQUAL(process, scripts[index].process);
        CU_ASSERT_EQUAL(process->state, SIM_PROCESS_BLOCKED);
        CU_ASSERT_STRING_EQUAL(sim_process_waits_on(process), waits_on[index]);
        CU_ASSERT(sim_process_check(process));
        process = process->live_next;
    }
    CU_ASSERT_PTR_NULL(process);
    sim_process_kill(scripts[0].process);
    sim_process_kill(scripts[1].process);
    result = run_all(engine);
    CU_ASSERT_EQUAL(result.stopped, SIM_STOP_IDLE);
    CU_ASSERT_EQUAL(scripts[0].reasons[1], SIM_WAKE_KILLED);
    CU_ASSERT_EQUAL(scripts[1].reasons[1], SIM_WAKE_KILLED);
    CU_ASSERT_EQUAL(sim_engine_processes_live(engine), 1);
    sim_engine_destroy(engine);
    CU_ASSERT(scripts[2].released);
}

/* A daemon blocked alone is no deadlock: the world is idle. Destroying the engine hands
 * the still-live daemon back to its owner (release). */
static void test_daemon_blocked_alone_is_idle(void)
{
    struct sim_engine *engine = engine_fixture(NULL);
    struct sim_waitq queue;
    sim_waitq_init(&queue, "q_daemon");
    struct script script = { 0 };
    script_step(&script, &queue, SIM_TIME_NEVER);
    CU_ASSERT_EQUAL_FATAL(script_spawn(engine, &script, "d", true, 0), SIM_OK);
    struct sim_run_result result = run_all(engine);
    CU_ASSERT_EQUAL(result.stopped, SIM_STOP_IDLE);
    CU_ASSERT_EQUAL(sim_engine_processes_live(engine), 1);
    CU_ASSERT_STRING_EQUAL(sim_process_waits_on(script.process), "q_daemon");
    CU_ASSERT_FALSE(script.released);
    sim_engine_destroy(engine);
    CU_ASSERT(script.released);
}

/* until_ns: events at exactly until_ns run, later ones do not; the clock is left at
 * until_ns; a later call continues; an empty queue stops IDLE at the last event's time
 * (the clock is not moved to until_ns then). */
static void test_until_runs_events_at_until_and_stops_there(void)
{
    struct sim_engine *engine = engine_fixture(NULL);
    uint64_t ran = 0;
    static const uint64_t times[] = { 10, 20, 20, 30 };
    for (int index = 0; index < 4; index++)
        CU_ASSERT_EQUAL(sim_engine_schedule_at(engine, times[index], event_count, &ran, 0, NULL),
                        SIM_OK);
    struct sim_run_result result;
    sim_engine_run(engine, 20, 0, &result);
    CU_ASSERT_EQUAL(result.stopped, SIM_STOP_UNTIL);
    ASSERT_U64_EQ(result.now_ns, 20);
    ASSERT_U64_EQ(sim_engine_now(engine), 20);
    ASSERT_U64_EQ(result.events_run, 3);
    ASSERT_U64_EQ(ran, 3);
    sim_engine_run(engine, 25, 0, &result);
    CU_ASSERT_EQUAL(result.stopped, SIM_STOP_UNTIL);
    ASSERT_U64_EQ(result.now_ns, 25);
    ASSERT_U64_EQ(result.events_run, 0);
    sim_engine_run(engine, 100, 0, &result);
    CU_ASSERT_EQUAL(result.stopped, SIM_STOP_IDLE);
    ASSERT_U64_EQ(result.now_ns, 30);
    ASSERT_U64_EQ(ran, 4);
    ASSERT_U64_EQ(sim_engine_events_run(engine), 4);
    sim_engine_destroy(engine);
}

/* max_events: the run stops after exactly that many events; a count that empties the
 * queue exactly is IDLE (the empty queue is checked first); 0 means no bound. */
static void test_max_events_stops_after_that_many_events(void)
{
    struct sim_engine *engine = engine_fixture(NULL);
    uint64_t ran = 0;
    for (uint64_t time_ns = 1; time_ns <= 6; time_ns++)
        CU_ASSERT_EQUAL(sim_engine_schedule_at(engine, time_ns, event_count, &ran, 0, NULL),
                        SIM_OK);
    struct sim_run_result result;
    sim_engine_run(engine, SIM_TIME_NEVER, 3, &result);
    CU_ASSERT_EQUAL(result.stopped, SIM_STOP_MAX_EVENTS);
    ASSERT_U64_EQ(result.events_run, 3);
    ASSERT_U64_EQ(result.now_ns, 3);
    ASSERT_U64_EQ(ran, 3);
    sim_engine_run(engine, SIM_TIME_NEVER, 1, &result);
    CU_ASSERT_EQUAL(result.stopped, SIM_STOP_MAX_EVENTS);
    ASSERT_U64_EQ(result.events_run, 1);
    sim_engine_run(engine, SIM_TIME_NEVER, 2, &result);
    CU_ASSERT_EQUAL(result.stopped, SIM_STOP_IDLE);
    ASSERT_U64_EQ(result.events_run, 2);
    ASSERT_U64_EQ(ran, 6);
    sim_engine_destroy(engine);
}

/* schedule_after: relative to now; an overflowing delay is SIM_EINVAL; cancel by id. */
static void test_schedule_after_is_relative_and_rejects_overflow(void)
{
    struct sim_engine *engine = engine_fixture(NULL);
    uint64_t ran = 0;
    CU_ASSERT_EQUAL(sim_engine_schedule_at(engine, 100, event_noop, NULL, 0, NULL), SIM_OK);
    struct sim_run_result result = run_all(engine);
    ASSERT_U64_EQ(result.now_ns, 100);
    sim_event_id id = SIM_EVENT_NONE;
    CU_ASSERT_EQUAL(sim_engine_schedule_after(engine, 5, event_count, &ran, 0, &id), SIM_OK);
    CU_ASSERT_EQUAL(sim_engine_schedule_after(engine, UINT64_MAX - 99, event_count, &ran, 0,
                                              NULL), SIM_EINVAL);
    ASSERT_STR_CONTAINS(sim_engine_error_message(engine), "overflows");
    CU_ASSERT_EQUAL(sim_engine_schedule_after(engine, 7, event_count, &ran, 0, NULL), SIM_OK);
    CU_ASSERT_EQUAL(sim_engine_cancel(engine, id), SIM_OK);
    CU_ASSERT_EQUAL(sim_engine_cancel(engine, id), SIM_ENOENT);
    CU_ASSERT_EQUAL(sim_engine_events_pending(engine), 1);
    result = run_all(engine);
    ASSERT_U64_EQ(result.now_ns, 107);
    ASSERT_U64_EQ(ran, 1);
    sim_engine_destroy(engine);
}

/* The end of simulated time (SIM_TIME_END_NS = 2^63 - 1 ns): an event exactly there runs;
 * one past it is SIM_EINVAL naming the end and stops the run (stopped ERROR) before the
 * clock passes it, so no time a scenario or the trace reads is negative. */
static void test_schedule_past_end_of_time_stops_the_run(void)
{
    struct sim_engine *engine = engine_fixture(NULL);
    uint64_t ran = 0;
    CU_ASSERT_EQUAL(sim_engine_schedule_at(engine, SIM_TIME_END_NS, event_count, &ran, 0,
                                           NULL), SIM_OK);
    CU_ASSERT_EQUAL(sim_engine_schedule_at(engine, SIM_TIME_END_NS + 1, event_count, &ran, 0,
                                           NULL), SIM_EINVAL);
    ASSERT_STR_CONTAINS(sim_engine_error_message(engine), "past the end of simulated time");
    CU_ASSERT_EQUAL(sim_engine_events_pending(engine), 1);
    struct sim_run_result result = run_all(engine);
    CU_ASSERT_EQUAL(result.stopped, SIM_STOP_ERROR);
    ASSERT_U64_EQ(ran, 0);
    ASSERT_U64_EQ(result.now_ns, 0);
    sim_engine_destroy(engine);
}

/* A deadline past the end of time with a queue can never come: the process waits as with
 * no deadline (no timer event; the world runs out of events at once, blocked) and the run
 * is not stopped; woken, it resumes WOKEN. */
static void test_deadline_past_end_of_time_is_no_deadline(void)
{
    struct sim_engine *engine = engine_fixture(NULL);
    struct sim_waitq queue;
    sim_waitq_init(&queue, "q");
    struct script script = { 0 };
    script_step(&script, &queue, SIM_TIME_END_NS + 5);
    CU_ASSERT_EQUAL_FATAL(script_spawn(engine, &script, "p", false, 0), SIM_OK);
    struct sim_run_result result = run_all(engine);
    CU_ASSERT_EQUAL(script.block_rc, SIM_OK);
    CU_ASSERT_EQUAL(result.stopped, SIM_STOP_DEADLOCK);
    ASSERT_U64_EQ(result.now_ns, 0);
    CU_ASSERT_EQUAL(sim_engine_events_pending(engine), 0);
    CU_ASSERT_EQUAL(queue.count, 1);
    struct waker waker = { .queue = &queue };
    CU_ASSERT_EQUAL(sim_engine_schedule_at(engine, 7, event_wake_one, &waker, 0, NULL), SIM_OK);
    result = run_all(engine);
    CU_ASSERT_EQUAL(result.stopped, SIM_STOP_IDLE);
    CU_ASSERT_EQUAL(script.resumes, 2);
    CU_ASSERT_EQUAL(script.reasons[1], SIM_WAKE_WOKEN);
    ASSERT_U64_EQ(script.resume_times_ns[1], 7);
    CU_ASSERT(script.finished);
    sim_engine_destroy(engine);
}

/* ---- Prefetching the next resumes (engine.c, prefetch_upcoming) ------------------------ */

/* Enough processes that the world stays above the prefetch threshold for two whole rounds
 * and crosses below it during the third, as its processes finish. */
#define PREFETCH_PROCESSES (SIM_PREFETCH_PENDING_MIN + 76u)
#define PREFETCH_ROUNDS 3u

struct sleeper {
    struct sim_engine *engine;
    uint32_t rounds;            /* resumes so far */
    bool prefetched;            /* named by a prefetch since its last resume */
    bool finished;
};

static uint32_t prefetched_resumes[PREFETCH_ROUNDS];
static uint32_t prefetch_bad;   /* prefetches of a process that was running or finished */

static void sleeper_resume(struct sim_process *process, enum sim_wake_reason reason)
{
    (void)reason;
    struct sleeper *sleeper = process->owner;
    if (sleeper->prefetched)
        prefetched_resumes[sleeper->rounds]++;
    sleeper->prefetched = false;
    if (++sleeper->rounds < PREFETCH_ROUNDS &&
        sim_process_block(process, NULL, sim_engine_now(sleeper->engine) + 10) == SIM_OK)
        return;
    sim_process_finish(process, false);
    sim_process_destroy(process);
    sleeper->finished = true;
}

static void sleeper_prefetch(const struct sim_process *process)
{
    struct sleeper *sleeper = process->owner;
    prefetch_bad += sleeper->finished || process->state == SIM_PROCESS_RUNNING;
    sleeper->prefetched = true;
}

static const struct sim_process_ops sleeper_ops = {
    .resume = sleeper_resume,
    .prefetch = sleeper_prefetch,
};

/* Runs `count` sleepers (each resumed PREFETCH_ROUNDS times, 10 ns apart, all in step);
 * the rounds' prefetched resumes land in prefetched_resumes. */
static void sleepers_run(uint32_t count)
{
    struct sim_limits limits = sim_limits_default();
    limits.processes_max = count;
    limits.events_pending_max = count + 16;
    struct sim_engine *engine = engine_fixture(&limits);
    struct sleeper *sleepers = calloc(count, sizeof(*sleepers));
    CU_ASSERT_PTR_NOT_NULL_FATAL(sleepers);
    memset(prefetched_resumes, 0, sizeof(prefetched_resumes));
    prefetch_bad = 0;
    for (uint32_t index = 0; index < count; index++) {
        struct sim_process *process = NULL;
        sleepers[index].engine = engine;
        CU_ASSERT_EQUAL_FATAL(sim_process_create(engine, 1, "sleeper", &sleeper_ops,
                                                 &sleepers[index], false, 0, &process),
                              SIM_OK);
    }
    struct sim_run_result result = run_all(engine);
    CU_ASSERT_EQUAL(result.stopped, SIM_STOP_IDLE);
    uint32_t finished = 0;
    for (uint32_t index = 0; index < count; index++)
        finished += sleepers[index].finished && sleepers[index].rounds == PREFETCH_ROUNDS;
    CU_ASSERT_EQUAL(finished, count);
    CU_ASSERT_EQUAL(prefetch_bad, 0);
    free(sleepers);
    sim_engine_destroy(engine);
}

/* A world with SIM_PREFETCH_PENDING_MIN events pending or more names each process to its
 * owner's prefetch before the event that resumes it runs: every resume but the run's very
 * first in the first two rounds; in the last round the first (named during the second
 * round's last event) and then only while enough are still pending (the event before the
 * k-th resume of that round, k from 0, leaves PREFETCH_PROCESSES - k pending). Never a
 * process that runs or has finished. A small world is never prefetched. */
static void test_prefetch_names_each_process_before_its_resume_in_a_large_world(void)
{
    sleepers_run(PREFETCH_PROCESSES);
    CU_ASSERT_EQUAL(prefetched_resumes[0], PREFETCH_PROCESSES - 1);
    CU_ASSERT_EQUAL(prefetched_resumes[1], PREFETCH_PROCESSES);
    CU_ASSERT_EQUAL(prefetched_resumes[2], PREFETCH_PROCESSES - SIM_PREFETCH_PENDING_MIN + 1);
    sleepers_run(SIM_PREFETCH_PENDING_MIN / 2);
    CU_ASSERT_EQUAL(prefetched_resumes[0] + prefetched_resumes[1] + prefetched_resumes[2], 0);
}

/* A span names every line its bytes touch, from the first byte's line, at most
 * SIM_PREFETCH_SPAN_LINES_MAX of them; nothing for NULL, for no bytes, or beyond
 * SIM_PREFETCH_SPANS_MAX spans. */
static void test_prefetch_spans_name_the_lines_of_their_bytes_within_bounds(void)
{
    static _Alignas(64) uint8_t memory[64 * (SIM_PREFETCH_SPAN_LINES_MAX + 4)];
    struct sim_prefetch_spans spans = { .count = 0 };
    sim_prefetch_spans_add(&spans, memory + 10, 54);            /* ends at the line's end */
    sim_prefetch_spans_add(&spans, memory + 63, 2);             /* straddles two lines */
    sim_prefetch_spans_add(&spans, memory + 64, 64 * 3);
    sim_prefetch_spans_add(&spans, memory, sizeof(memory));     /* capped */
    sim_prefetch_spans_add(&spans, NULL, 64);
    sim_prefetch_spans_add(&spans, memory, 0);
    CU_ASSERT_EQUAL_FATAL(spans.count, 4);
    CU_ASSERT_PTR_EQUAL(spans.start[0], memory);
    CU_ASSERT_EQUAL(spans.lines[0], 1);
    CU_ASSERT_PTR_EQUAL(spans.start[1], memory);
    CU_ASSERT_EQUAL(spans.lines[1], 2);
    CU_ASSERT_PTR_EQUAL(spans.start[2], memory + 64);
    CU_ASSERT_EQUAL(spans.lines[2], 3);
    CU_ASSERT_EQUAL(spans.lines[3], SIM_PREFETCH_SPAN_LINES_MAX);
    while (spans.count < SIM_PREFETCH_SPANS_MAX)
        sim_prefetch_spans_add(&spans, memory + 128, 1);
    sim_prefetch_spans_add(&spans, memory + 64, 1);             /* full: left out */
    CU_ASSERT_EQUAL(spans.count, SIM_PREFETCH_SPANS_MAX);
    CU_ASSERT_PTR_EQUAL(spans.start[SIM_PREFETCH_SPANS_MAX - 1], memory + 128);
}

/* Blocking forgets the spans an owner named for the wait before: only the current wait's
 * are ever prefetched. */
static void test_block_forgets_the_spans_of_the_wait_before(void)
{
    struct sim_limits limits = sim_limits_default();
    struct sim_engine *engine = engine_fixture(&limits);
    struct sleeper sleeper = { .engine = engine };
    struct sim_process *process = NULL;
    CU_ASSERT_EQUAL_FATAL(sim_process_create(engine, 1, "sleeper", &sleeper_ops, &sleeper,
                                             false, 0, &process), SIM_OK);
    static uint8_t memory[64];
    sim_prefetch_spans_add(&process->prefetch_spans, memory, sizeof(memory));
    CU_ASSERT_EQUAL(process->prefetch_spans.count, 1);
    memset(prefetched_resumes, 0, sizeof(prefetched_resumes));
    prefetch_bad = 0;
    struct sim_run_result first;
    sim_engine_run(engine, SIM_TIME_NEVER, 1, &first);          /* its first resume: blocks */
    CU_ASSERT_EQUAL(first.events_run, 1);
    CU_ASSERT_EQUAL(process->state, SIM_PROCESS_BLOCKED);
    CU_ASSERT_EQUAL(process->prefetch_spans.count, 0);
    run_all(engine);
    CU_ASSERT(sleeper.finished);
    sim_engine_destroy(engine);
}

CU_ErrorCode process_suite_add(void)
{
    static const struct test_entry tests[] = {
        TEST_ENTRY(test_wake_before_deadline_resumes_woken_and_cancels_deadline),
        TEST_ENTRY(test_prefetch_spans_name_the_lines_of_their_bytes_within_bounds),
        TEST_ENTRY(test_block_forgets_the_spans_of_the_wait_before),
        TEST_ENTRY(test_unwoken_process_times_out_at_exactly_deadline),
        TEST_ENTRY(test_wake_at_deadline_scheduled_first_wins_as_woken),
        TEST_ENTRY(test_wake_at_deadline_scheduled_after_block_loses_to_timeout),
        TEST_ENTRY(test_sleep_is_one_event_at_the_deadlines_place),
        TEST_ENTRY(test_equal_deadlines_resume_in_block_order_or_seeded_order),
        TEST_ENTRY(test_repeated_wakes_in_one_instant_resume_once),
        TEST_ENTRY(test_waitq_wake_one_is_fifo),
        TEST_ENTRY(test_waitq_wake_all_wakes_every_waiter_in_order),
        TEST_ENTRY(test_kill_of_blocked_process_resumes_killed),
        TEST_ENTRY(test_kill_before_start_and_self_kill),
        TEST_ENTRY(test_processes_max_is_named_in_the_error),
        TEST_ENTRY(test_process_name_length_is_bounded),
        TEST_ENTRY(test_events_pending_max_is_named_in_the_error),
        TEST_ENTRY(test_wake_beyond_events_pending_max_stops_the_run),
        TEST_ENTRY(test_trace_records_process_lifecycle),
        TEST_ENTRY(test_trace_names_waitq_and_reason_with_their_lengths),
        TEST_ENTRY(test_trace_events_max_stops_the_run),
        TEST_ENTRY(test_sink_failure_stops_run_with_its_message),
        TEST_ENTRY(test_sink_level_admits_layers_up_to_level),
        TEST_ENTRY(test_null_sink_discards_but_events_are_numbered),
        TEST_ENTRY(test_blocked_processes_without_events_are_a_deadlock),
        TEST_ENTRY(test_daemon_blocked_alone_is_idle),
        TEST_ENTRY(test_until_runs_events_at_until_and_stops_there),
        TEST_ENTRY(test_max_events_stops_after_that_many_events),
        TEST_ENTRY(test_schedule_after_is_relative_and_rejects_overflow),
        TEST_ENTRY(test_schedule_past_end_of_time_stops_the_run),
        TEST_ENTRY(test_deadline_past_end_of_time_is_no_deadline),
        TEST_ENTRY(test_prefetch_names_each_process_before_its_resume_in_a_large_world),
    };
    return test_suite_register("process", tests, sizeof(tests) / sizeof(tests[0]));
}
