/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/domain_test.c: freezing and thawing engine domains (engine.h, "Domains";
 * sim/engine/domain.c), the mechanism behind vm:suspend/resume/freeze/thaw.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "sim/engine/engine.h"
#include "sim/engine/fiber.h"
#include "sim/engine/process.h"
#include "suites.h"
#include "test_support.h"

#define LOG_MAX 32u

struct run_log {
    uint32_t count;
    uint64_t data[LOG_MAX];
    uint64_t time_ns[LOG_MAX];
    uint32_t domain[LOG_MAX];
};

static struct sim_engine *engine_fixture(void)
{
    struct sim_limits limits = sim_limits_default();
    struct sim_engine *engine = sim_engine_create(&limits, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(engine);
    return engine;
}

static void record(void *context, void *arg, uint64_t data)
{
    struct sim_engine *engine = context;
    struct run_log *log = arg;
    CU_ASSERT_FATAL(log->count < LOG_MAX);
    log->data[log->count] = data;
    log->time_ns[log->count] = sim_engine_now(engine);
    log->domain[log->count] = sim_engine_current_domain(engine);
    log->count++;
}

/* An event that schedules `data + 100` 5 ns later without naming a domain: it inherits
 * the domain it runs for. */
static void record_and_follow(void *context, void *arg, uint64_t data)
{
    record(context, arg, data);
    CU_ASSERT_EQUAL(sim_engine_schedule_after(context, 5, record, arg, data + 100, NULL), 0);
}

static enum sim_stop run_until(struct sim_engine *engine, uint64_t until_ns)
{
    struct sim_run_result result;
    sim_engine_run(engine, until_ns, 0, &result);
    return result.stopped;
}

/* A frozen domain's events do not run; they wait (parked) while others run; thawing
 * runs those that came due at the thaw, in the order they came due and after what was
 * already scheduled for that instant, and leaves later ones at their time. Domain 0 and
 * unknown domains cannot be frozen. */
static void test_frozen_domain_events_wait_and_catch_up_in_order(void)
{
    struct sim_engine *engine = engine_fixture();
    struct run_log log = { 0 };
    CU_ASSERT_EQUAL(sim_engine_domain_freeze(engine, 0), SIM_EINVAL);
    CU_ASSERT_EQUAL(sim_engine_domain_freeze(engine, SIM_DOMAINS_MAX), SIM_EINVAL);
    CU_ASSERT_EQUAL(sim_engine_schedule_at_in(engine, 3, 10, record, &log, 1, NULL), 0);
    CU_ASSERT_EQUAL(sim_engine_schedule_at_in(engine, 3, 20, record, &log, 2, NULL), 0);
    CU_ASSERT_EQUAL(sim_engine_schedule_at_in(engine, 0, 15, record, &log, 3, NULL), 0);
    CU_ASSERT_EQUAL(sim_engine_schedule_at_in(engine, 3, 1000, record, &log, 4, NULL), 0);
    CU_ASSERT_EQUAL(sim_engine_domain_freeze(engine, 3), 0);
    CU_ASSERT(sim_engine_domain_frozen(engine, 3));
    CU_ASSERT_EQUAL(run_until(engine, 500), SIM_STOP_UNTIL);
    ASSERT_U64_EQ(log.count, 1);                    /* only domain 0's event at 15 */
    ASSERT_U64_EQ(log.data[0], 3);
    ASSERT_U64_EQ(sim_engine_events_parked(engine), 2);
    CU_ASSERT_EQUAL(sim_engine_schedule_at_in(engine, 0, 500, record, &log, 5, NULL), 0);
    CU_ASSERT_EQUAL(sim_engine_domain_thaw(engine, 3), 0);
    ASSERT_U64_EQ(sim_engine_events_parked(engine), 0);
    CU_ASSERT_EQUAL(run_until(engine, SIM_TIME_NEVER), SIM_STOP_IDLE);
    static const uint64_t order[5] = { 3, 5, 1, 2, 4 };    /* 5 was at 500 already */
    static const uint64_t at_ns[5] = { 15, 500, 500, 500, 1000 };
    ASSERT_U64_EQ(log.count, 5);
    for (uint32_t index = 0; index < 5 && index < log.count; index++) {
        ASSERT_U64_EQ(log.data[index], order[index]);
        ASSERT_U64_EQ(log.time_ns[index], at_ns[index]);
    }
    ASSERT_U64_EQ(log.domain[2], 3);                /* event 1, thawed */
    ASSERT_U64_EQ(log.domain[0], 0);
    sim_engine_destroy(engine);
}

/* An event scheduled without a domain runs for the domain of the event that scheduled
 * it, so a frozen domain's follow-up work is frozen too; _in crosses over. */
static void test_events_inherit_the_running_domain(void)
{
    struct sim_engine *engine = engine_fixture();
    struct run_log log = { 0 };
    CU_ASSERT_EQUAL(sim_engine_schedule_at_in(engine, 7, 10, record_and_follow, &log, 1, NULL),
                    0);
    CU_ASSERT_EQUAL(run_until(engine, 12), SIM_STOP_UNTIL);
    CU_ASSERT_EQUAL(sim_engine_domain_freeze(engine, 7), 0);
    CU_ASSERT_EQUAL(run_until(engine, SIM_TIME_NEVER), SIM_STOP_IDLE);
    ASSERT_U64_EQ(log.count, 1);                    /* the follow-up (domain 7) waits */
    ASSERT_U64_EQ(sim_engine_events_parked(engine), 1);
    CU_ASSERT_EQUAL(sim_engine_domain_thaw(engine, 7), 0);
    CU_ASSERT_EQUAL(run_until(engine, SIM_TIME_NEVER), SIM_STOP_IDLE);
    ASSERT_U64_EQ(log.count, 2);
    ASSERT_U64_EQ(log.data[1], 101);
    ASSERT_U64_EQ(log.domain[1], 7);
    ASSERT_U64_EQ(log.time_ns[1], 15);              /* thawed at 15: it was due at 15 */
    sim_engine_destroy(engine);
}

/* Cancelling a parked event works (its id is kept); thawing then skips it. */
static void test_parked_event_can_be_cancelled(void)
{
    struct sim_engine *engine = engine_fixture();
    struct run_log log = { 0 };
    sim_event_id id = SIM_EVENT_NONE;
    CU_ASSERT_EQUAL(sim_engine_domain_freeze(engine, 2), 0);
    CU_ASSERT_EQUAL(sim_engine_schedule_at_in(engine, 2, 10, record, &log, 1, &id), 0);
    CU_ASSERT_EQUAL(sim_engine_schedule_at_in(engine, 2, 11, record, &log, 2, NULL), 0);
    CU_ASSERT_EQUAL(run_until(engine, SIM_TIME_NEVER), SIM_STOP_IDLE);
    ASSERT_U64_EQ(sim_engine_events_parked(engine), 2);
    CU_ASSERT_EQUAL(sim_engine_cancel(engine, id), 0);
    CU_ASSERT_EQUAL(sim_engine_cancel(engine, id), SIM_ENOENT);
    CU_ASSERT_EQUAL(sim_engine_domain_thaw(engine, 2), 0);
    CU_ASSERT_EQUAL(run_until(engine, SIM_TIME_NEVER), SIM_STOP_IDLE);
    ASSERT_U64_EQ(log.count, 1);
    ASSERT_U64_EQ(log.data[0], 2);
    ASSERT_U64_EQ(sim_engine_events_pending(engine), 0);
    sim_engine_destroy(engine);
}

/* Every domain a VM can have (the highest `vms` limit's) can be frozen, each on its own: the
 * bitmap grows to the highest frozen domain, and domains beyond it read as thawed. */
static void test_the_highest_domain_freezes_alone(void)
{
    struct sim_engine *engine = engine_fixture();
    struct run_log log = { 0 };
    uint32_t highest = SIM_DOMAINS_MAX - 1;
    CU_ASSERT(highest >= SIM_VMS_CEILING);
    CU_ASSERT(!sim_engine_domain_frozen(engine, highest));
    CU_ASSERT_EQUAL(sim_engine_schedule_at_in(engine, highest, 10, record, &log, 1, NULL), 0);
    CU_ASSERT_EQUAL(sim_engine_schedule_at_in(engine, 9, 10, record, &log, 2, NULL), 0);
    CU_ASSERT_EQUAL(sim_engine_domain_freeze(engine, 9), 0);
    CU_ASSERT(!sim_engine_domain_frozen(engine, highest));      /* past the small bitmap */
    CU_ASSERT_EQUAL(sim_engine_domain_freeze(engine, highest), 0);
    CU_ASSERT(sim_engine_domain_frozen(engine, highest));
    CU_ASSERT(!sim_engine_domain_frozen(engine, highest - 1));
    CU_ASSERT_EQUAL(sim_engine_domain_thaw(engine, 9), 0);
    CU_ASSERT(sim_engine_domain_frozen(engine, highest));
    CU_ASSERT_EQUAL(run_until(engine, SIM_TIME_NEVER), SIM_STOP_IDLE);
    ASSERT_U64_EQ(log.count, 1);
    ASSERT_U64_EQ(log.data[0], 2);
    CU_ASSERT_EQUAL(sim_engine_domain_thaw(engine, highest), 0);
    CU_ASSERT(!sim_engine_domain_frozen(engine, highest));
    CU_ASSERT_EQUAL(sim_engine_domain_thaw(engine, highest - 8), 0);    /* never frozen */
    CU_ASSERT_EQUAL(run_until(engine, SIM_TIME_NEVER), SIM_STOP_IDLE);
    ASSERT_U64_EQ(log.count, 2);
    ASSERT_U64_EQ(log.data[1], 1);
    ASSERT_U64_EQ(log.domain[1], highest);
    sim_engine_destroy(engine);
}

struct sleeper {
    uint64_t woke_ns;
    int rc;
};

static void sleeper_body(struct sim_engine *engine, void *arg)
{
    struct sleeper *sleeper = arg;
    sleeper->rc = sim_fiber_sleep(engine, 100);
    sleeper->woke_ns = sim_engine_now(engine);
}

static void parker_body(struct sim_engine *engine, void *arg)
{
    struct sim_waitq *queue = arg;
    (void)sim_fiber_wait(engine, queue, SIM_TIME_NEVER);
}

/* A process created in a domain is frozen with it: its sleep ends at the thaw when it
 * came due meanwhile; a process blocked forever in a frozen domain is not a deadlock
 * (the run is idle), the same process outside it is. With only frozen events left the
 * run stops idle and the clock stays: time passes only through events that run. */
static void test_processes_freeze_with_their_domain(void)
{
    struct sim_engine *engine = engine_fixture();
    struct sleeper sleeper = { 0, 1 };
    struct sim_process *process = NULL;
    CU_ASSERT_EQUAL(sim_fiber_spawn_in(engine, 5, 100, "sleeper", sleeper_body, &sleeper, 0,
                                       false, &process), 0);
    ASSERT_U64_EQ(process->domain, 5);
    CU_ASSERT_EQUAL(run_until(engine, 50), SIM_STOP_UNTIL);
    CU_ASSERT_EQUAL(sim_engine_domain_freeze(engine, 5), 0);
    struct run_log log = { 0 };                     /* time passes through domain 0 only */
    CU_ASSERT_EQUAL(sim_engine_schedule_at_in(engine, 0, 300, record, &log, 1, NULL), 0);
    CU_ASSERT_EQUAL(run_until(engine, SIM_TIME_NEVER), SIM_STOP_IDLE);
    ASSERT_U64_EQ(sim_engine_now(engine), 300);
    CU_ASSERT_EQUAL(sleeper.rc, 1);                 /* still asleep at 300 */
    CU_ASSERT_EQUAL(sim_engine_domain_thaw(engine, 5), 0);
    CU_ASSERT_EQUAL(run_until(engine, SIM_TIME_NEVER), SIM_STOP_IDLE);
    CU_ASSERT_EQUAL(sleeper.rc, SIM_OK);
    ASSERT_U64_EQ(sleeper.woke_ns, 300);
    struct sim_waitq queue;
    sim_waitq_init(&queue, "never");
    CU_ASSERT_EQUAL(sim_fiber_spawn_in(engine, 6, 101, "parked", parker_body, &queue, 0,
                                       false, NULL), 0);
    CU_ASSERT_EQUAL(run_until(engine, SIM_TIME_NEVER), SIM_STOP_DEADLOCK);
    CU_ASSERT_EQUAL(sim_engine_domain_freeze(engine, 6), 0);
    CU_ASSERT_EQUAL(run_until(engine, SIM_TIME_NEVER), SIM_STOP_IDLE);
    CU_ASSERT_EQUAL(sim_engine_domain_thaw(engine, 6), 0);
    sim_waitq_wake_all(&queue);
    CU_ASSERT_EQUAL(run_until(engine, SIM_TIME_NEVER), SIM_STOP_IDLE);
    ASSERT_U64_EQ(sim_engine_processes_live(engine), 0);
    sim_engine_destroy(engine);
}

/* Asserts that `log` holds exactly the `count` events `order`, run at `at_ns`. */
static void assert_log(const struct run_log *log, const uint64_t *order, const uint64_t *at_ns,
                       uint32_t count)
{
    ASSERT_U64_EQ(log->count, count);
    for (uint32_t index = 0; index < count && index < log->count; index++) {
        ASSERT_U64_EQ(log->data[index], order[index]);
        ASSERT_U64_EQ(log->time_ns[index], at_ns[index]);
    }
}

/* thaw_at: nothing of the domain runs before the given time, not even an event that was
 * never parked (due between the thaw and that time, or at that time but scheduled
 * earlier): all of them run at that time, in the order they came due, after what the
 * other domains had for that instant; later ones keep their time. A time in the past is
 * refused and leaves the domain frozen. */
static void test_thaw_at_runs_nothing_of_the_domain_before_that_instant(void)
{
    struct sim_engine *engine = engine_fixture();
    struct run_log log = { 0 };
    CU_ASSERT_EQUAL(sim_engine_domain_freeze(engine, 4), 0);
    CU_ASSERT_EQUAL(sim_engine_schedule_at_in(engine, 4, 10, record, &log, 1, NULL), 0);
    CU_ASSERT_EQUAL(sim_engine_schedule_at_in(engine, 0, 50, record, &log, 2, NULL), 0);
    CU_ASSERT_EQUAL(run_until(engine, SIM_TIME_NEVER), SIM_STOP_IDLE);
    ASSERT_U64_EQ(sim_engine_now(engine), 50);
    CU_ASSERT_EQUAL(sim_engine_schedule_at_in(engine, 4, 51, record, &log, 3, NULL), 0);
    CU_ASSERT_EQUAL(sim_engine_schedule_at_in(engine, 4, 52, record, &log, 4, NULL), 0);
    CU_ASSERT_EQUAL(sim_engine_schedule_at_in(engine, 0, 52, record, &log, 5, NULL), 0);
    CU_ASSERT_EQUAL(sim_engine_schedule_at_in(engine, 4, 60, record, &log, 6, NULL), 0);
    CU_ASSERT_EQUAL(sim_engine_domain_thaw_at(engine, 4, 49), SIM_EINVAL);
    CU_ASSERT(sim_engine_domain_frozen(engine, 4));
    CU_ASSERT_EQUAL(sim_engine_domain_thaw_at(engine, 4, 52), 0);
    CU_ASSERT(sim_engine_domain_frozen(engine, 4));     /* until 52 */
    CU_ASSERT_EQUAL(run_until(engine, SIM_TIME_NEVER), SIM_STOP_IDLE);
    CU_ASSERT(!sim_engine_domain_frozen(engine, 4));
    static const uint64_t order[6] = { 2, 5, 1, 3, 4, 6 };
    static const uint64_t at_ns[6] = { 50, 52, 52, 52, 52, 60 };
    assert_log(&log, order, at_ns, 6);
    ASSERT_U64_EQ(sim_engine_events_parked(engine), 0);
    sim_engine_destroy(engine);
}

/* thaw_after: the domain's gate runs first, at its own time; every other event of the
 * domain due before it (parked while frozen, or due after the thaw, or due at its time
 * but scheduled earlier) runs right after it, in the order they came due; the domain
 * counts as frozen until then; other domains and later events are untouched. An id that
 * is not a pending event of the domain is refused. */
static void test_thaw_after_runs_the_gate_before_anything_of_its_domain(void)
{
    struct sim_engine *engine = engine_fixture();
    struct run_log log = { 0 };
    sim_event_id gate = SIM_EVENT_NONE;
    sim_event_id other = SIM_EVENT_NONE;
    CU_ASSERT_EQUAL(sim_engine_domain_freeze(engine, 4), 0);
    CU_ASSERT_EQUAL(sim_engine_schedule_at_in(engine, 4, 10, record, &log, 1, NULL), 0);
    CU_ASSERT_EQUAL(sim_engine_schedule_at_in(engine, 0, 100, record, &log, 2, NULL), 0);
    CU_ASSERT_EQUAL(run_until(engine, SIM_TIME_NEVER), SIM_STOP_IDLE);
    ASSERT_U64_EQ(sim_engine_events_parked(engine), 1);
    CU_ASSERT_EQUAL(sim_engine_schedule_at_in(engine, 4, 101, record, &log, 3, NULL), 0);
    CU_ASSERT_EQUAL(sim_engine_schedule_at_in(engine, 4, 102, record, &log, 4, NULL), 0);
    CU_ASSERT_EQUAL(sim_engine_schedule_at_in(engine, 4, 102, record, &log, 9, &gate), 0);
    CU_ASSERT_EQUAL(sim_engine_schedule_at_in(engine, 0, 101, record, &log, 5, &other), 0);
    CU_ASSERT_EQUAL(sim_engine_schedule_at_in(engine, 4, 150, record, &log, 6, NULL), 0);
    CU_ASSERT_EQUAL(sim_engine_domain_thaw_after(engine, 4, other), SIM_EINVAL);
    CU_ASSERT_EQUAL(sim_engine_domain_thaw_after(engine, 4, SIM_EVENT_NONE), SIM_EINVAL);
    CU_ASSERT_EQUAL(sim_engine_domain_thaw_after(engine, 0, other), SIM_EINVAL);
    CU_ASSERT_EQUAL(sim_engine_domain_thaw_after(engine, 4, gate), 0);
    CU_ASSERT(sim_engine_domain_frozen(engine, 4));     /* until the gate has run */
    CU_ASSERT_EQUAL(run_until(engine, 101), SIM_STOP_UNTIL);
    ASSERT_U64_EQ(log.count, 2);                    /* 5 ran; 3 (due at 101) waits */
    ASSERT_U64_EQ(sim_engine_events_parked(engine), 2);
    CU_ASSERT_EQUAL(run_until(engine, SIM_TIME_NEVER), SIM_STOP_IDLE);
    CU_ASSERT(!sim_engine_domain_frozen(engine, 4));
    static const uint64_t order[7] = { 2, 5, 9, 1, 3, 4, 6 };
    static const uint64_t at_ns[7] = { 100, 101, 102, 102, 102, 102, 150 };
    assert_log(&log, order, at_ns, 7);
    ASSERT_U64_EQ(log.domain[2], 4);                /* the gate runs for its domain */
    sim_engine_destroy(engine);
}

/* A cancelled gate opens at the cancel: what waited for it runs then, not at the gate's
 * time; a domain thawed behind an event that already ran (or never existed) is refused
 * and stays as it was. */
static void test_cancelled_gate_opens_at_the_cancel(void)
{
    struct sim_engine *engine = engine_fixture();
    struct run_log log = { 0 };
    sim_event_id gate = SIM_EVENT_NONE;
    CU_ASSERT_EQUAL(sim_engine_domain_freeze(engine, 5), 0);
    CU_ASSERT_EQUAL(sim_engine_schedule_at_in(engine, 5, 10, record, &log, 1, NULL), 0);
    CU_ASSERT_EQUAL(sim_engine_schedule_at_in(engine, 5, 21, record, &log, 2, NULL), 0);
    CU_ASSERT_EQUAL(sim_engine_schedule_at_in(engine, 5, 30, record, &log, 3, &gate), 0);
    CU_ASSERT_EQUAL(sim_engine_schedule_at_in(engine, 5, 40, record, &log, 4, NULL), 0);
    CU_ASSERT_EQUAL(sim_engine_domain_thaw_after(engine, 5, gate), 0);
    CU_ASSERT_EQUAL(run_until(engine, 25), SIM_STOP_UNTIL);
    ASSERT_U64_EQ(log.count, 0);
    ASSERT_U64_EQ(sim_engine_events_parked(engine), 2);
    CU_ASSERT_EQUAL(sim_engine_cancel(engine, gate), 0);
    CU_ASSERT(!sim_engine_domain_frozen(engine, 5));
    CU_ASSERT_EQUAL(sim_engine_domain_thaw_after(engine, 5, gate), SIM_EINVAL);
    CU_ASSERT(!sim_engine_domain_frozen(engine, 5));
    CU_ASSERT_EQUAL(run_until(engine, SIM_TIME_NEVER), SIM_STOP_IDLE);
    static const uint64_t order[3] = { 1, 2, 4 };
    static const uint64_t at_ns[3] = { 25, 25, 40 };
    assert_log(&log, order, at_ns, 3);
    ASSERT_U64_EQ(sim_engine_events_pending(engine), 0);
    sim_engine_destroy(engine);
}

/* Freezing a domain that waits for its gate parks the gate too; thawing it keeps the
 * gate: the gate runs first at the thaw, then what came due before it, in order. */
static void test_freeze_while_waiting_keeps_the_gate(void)
{
    struct sim_engine *engine = engine_fixture();
    struct run_log log = { 0 };
    sim_event_id gate = SIM_EVENT_NONE;
    CU_ASSERT_EQUAL(sim_engine_schedule_at_in(engine, 6, 50, record, &log, 1, NULL), 0);
    CU_ASSERT_EQUAL(sim_engine_schedule_at_in(engine, 6, 100, record, &log, 2, &gate), 0);
    CU_ASSERT_EQUAL(sim_engine_schedule_at_in(engine, 6, 120, record, &log, 3, NULL), 0);
    CU_ASSERT_EQUAL(sim_engine_schedule_at_in(engine, 0, 200, record, &log, 4, NULL), 0);
    CU_ASSERT_EQUAL(sim_engine_domain_thaw_after(engine, 6, gate), 0);
    CU_ASSERT_EQUAL(run_until(engine, 60), SIM_STOP_UNTIL);
    CU_ASSERT_EQUAL(sim_engine_domain_freeze(engine, 6), 0);
    CU_ASSERT_EQUAL(run_until(engine, SIM_TIME_NEVER), SIM_STOP_IDLE);
    ASSERT_U64_EQ(sim_engine_now(engine), 200);
    ASSERT_U64_EQ(log.count, 1);                    /* only domain 0's event */
    ASSERT_U64_EQ(sim_engine_events_parked(engine), 3);
    CU_ASSERT_EQUAL(sim_engine_domain_thaw(engine, 6), 0);
    CU_ASSERT(sim_engine_domain_frozen(engine, 6));     /* it still waits for the gate */
    ASSERT_U64_EQ(sim_engine_events_parked(engine), 2);
    CU_ASSERT_EQUAL(run_until(engine, SIM_TIME_NEVER), SIM_STOP_IDLE);
    static const uint64_t order[4] = { 4, 2, 1, 3 };
    static const uint64_t at_ns[4] = { 200, 200, 200, 200 };
    assert_log(&log, order, at_ns, 4);
    CU_ASSERT(!sim_engine_domain_frozen(engine, 6));
    sim_engine_destroy(engine);
}

CU_ErrorCode domain_suite_add(void)
{
    static const struct test_entry tests[] = {
        TEST_ENTRY(test_frozen_domain_events_wait_and_catch_up_in_order),
        TEST_ENTRY(test_events_inherit_the_running_domain),
        TEST_ENTRY(test_parked_event_can_be_cancelled),
        TEST_ENTRY(test_the_highest_domain_freezes_alone),
        TEST_ENTRY(test_processes_freeze_with_their_domain),
        TEST_ENTRY(test_thaw_at_runs_nothing_of_the_domain_before_that_instant),
        TEST_ENTRY(test_thaw_after_runs_the_gate_before_anything_of_its_domain),
        TEST_ENTRY(test_cancelled_gate_opens_at_the_cancel),
        TEST_ENTRY(test_freeze_while_waiting_keeps_the_gate),
    };
    return test_suite_register("domain", tests, sizeof(tests) / sizeof(tests[0]));
}
