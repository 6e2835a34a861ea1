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

/* thaw_at: the parked events run at the given time (not before it, not now), after an
 * event already scheduled for that time: how a resumed guest takes its pending interrupt
 * before its own catching up. A time in the past is refused. */
static void test_thaw_at_runs_parked_events_after_that_instant(void)
{
    struct sim_engine *engine = engine_fixture();
    struct run_log log = { 0 };
    CU_ASSERT_EQUAL(sim_engine_domain_freeze(engine, 4), 0);
    CU_ASSERT_EQUAL(sim_engine_schedule_at_in(engine, 4, 10, record, &log, 1, NULL), 0);
    CU_ASSERT_EQUAL(sim_engine_schedule_at_in(engine, 0, 50, record, &log, 2, NULL), 0);
    CU_ASSERT_EQUAL(run_until(engine, SIM_TIME_NEVER), SIM_STOP_IDLE);
    ASSERT_U64_EQ(sim_engine_now(engine), 50);
    CU_ASSERT_EQUAL(sim_engine_schedule_at_in(engine, 4, 52, record, &log, 3, NULL), 0);
    CU_ASSERT_EQUAL(sim_engine_domain_thaw_at(engine, 4, 49), SIM_EINVAL);
    CU_ASSERT(sim_engine_domain_frozen(engine, 4));
    CU_ASSERT_EQUAL(sim_engine_domain_thaw_at(engine, 4, 52), 0);
    CU_ASSERT_EQUAL(run_until(engine, SIM_TIME_NEVER), SIM_STOP_IDLE);
    static const uint64_t order[3] = { 2, 3, 1 };
    static const uint64_t at_ns[3] = { 50, 52, 52 };
    ASSERT_U64_EQ(log.count, 3);
    for (uint32_t index = 0; index < 3 && index < log.count; index++) {
        ASSERT_U64_EQ(log.data[index], order[index]);
        ASSERT_U64_EQ(log.time_ns[index], at_ns[index]);
    }
    sim_engine_destroy(engine);
}

CU_ErrorCode domain_suite_add(void)
{
    static const struct test_entry tests[] = {
        TEST_ENTRY(test_frozen_domain_events_wait_and_catch_up_in_order),
        TEST_ENTRY(test_events_inherit_the_running_domain),
        TEST_ENTRY(test_parked_event_can_be_cancelled),
        TEST_ENTRY(test_processes_freeze_with_their_domain),
        TEST_ENTRY(test_thaw_at_runs_parked_events_after_that_instant),
    };
    return test_suite_register("domain", tests, sizeof(tests) / sizeof(tests[0]));
}
