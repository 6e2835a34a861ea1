/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/fiber_test.c: C processes on fibers (sim/engine/fiber.h).
 *
 * Fibers are how C code (and these tests) makes blocking calls: the call parks
 * the process and switches to the engine, which switches back when the one
 * wake-up event runs. The tests check the simulated times at which fibers see
 * each other's effects, kill before and during a wait, cleanup of fibers still
 * blocked at the end (run under ASan/LSan by `make asan`), the stack-size bound,
 * and that a world of fibers is deterministic (two runs, one digest).
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

static struct sim_engine *engine_fixture(void)
{
    struct sim_limits limits = sim_limits_default();
    struct sim_engine *engine = sim_engine_create(&limits, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(engine);
    return engine;
}

static enum sim_stop run_all(struct sim_engine *engine)
{
    struct sim_run_result result;
    sim_engine_run(engine, SIM_TIME_NEVER, 0, &result);
    return result.stopped;
}

/* ---- Producer and consumer ------------------------------------------------------------ */

struct shared {
    struct sim_waitq queue;
    uint64_t counter;
    int consumer_wait_rc;
    uint64_t consumer_seen_value;
    uint64_t consumer_seen_ns;
    uint32_t consumer_waits;
    uint64_t producer_done_ns;
};

static void consumer_body(struct sim_engine *engine, void *arg)
{
    struct shared *shared = arg;
    CU_ASSERT(sim_fiber_is_current(engine));
    while (shared->counter == 0 && shared->consumer_waits < 10) {
        shared->consumer_waits++;
        shared->consumer_wait_rc = sim_fiber_wait(engine, &shared->queue, SIM_TIME_NEVER);
    }
    shared->consumer_seen_value = shared->counter;
    shared->consumer_seen_ns = sim_engine_now(engine);
}

static void producer_body(struct sim_engine *engine, void *arg)
{
    struct shared *shared = arg;
    CU_ASSERT_EQUAL(sim_fiber_sleep(engine, 10), SIM_OK);
    shared->counter = 42;
    CU_ASSERT_EQUAL(sim_waitq_wake_one(&shared->queue), 1);
    CU_ASSERT_EQUAL(sim_fiber_sleep(engine, 5), SIM_OK);
    shared->producer_done_ns = sim_engine_now(engine);
}

/* The consumer blocks first (t = 0); the producer sleeps 10 ns, sets the counter and wakes
 * it: the consumer sees 42 at t = 10 after exactly one wait, and both fibers finish. */
static void test_fiber_consumer_sees_value_when_producer_wakes_it(void)
{
    struct sim_engine *engine = engine_fixture();
    struct shared shared = { 0 };
    sim_waitq_init(&shared.queue, "counter");
    CU_ASSERT_EQUAL(sim_fiber_spawn(engine, 2, "consumer", consumer_body, &shared, 0, false,
                                    NULL), SIM_OK);
    CU_ASSERT_EQUAL(sim_fiber_spawn(engine, 2, "producer", producer_body, &shared, 0, false,
                                    NULL), SIM_OK);
    CU_ASSERT_EQUAL(run_all(engine), SIM_STOP_IDLE);
    CU_ASSERT_EQUAL(shared.consumer_waits, 1);
    CU_ASSERT_EQUAL(shared.consumer_wait_rc, SIM_WAKE_WOKEN);
    ASSERT_U64_EQ(shared.consumer_seen_value, 42);
    ASSERT_U64_EQ(shared.consumer_seen_ns, 10);
    ASSERT_U64_EQ(shared.producer_done_ns, 15);
    CU_ASSERT_EQUAL(sim_engine_processes_live(engine), 0);
    sim_engine_destroy(engine);
}

/* ---- Sleep and wait ------------------------------------------------------------------- */

struct sleeper {
    uint64_t start_ns;
    uint64_t after_ns[4];
    int overflow_rc;
    int timeout_rc;
};

static void sleeper_body(struct sim_engine *engine, void *arg)
{
    struct sleeper *sleeper = arg;
    sleeper->start_ns = sim_engine_now(engine);
    static const uint64_t delays[] = { 7, 0, 1, 1000000000 };
    for (int index = 0; index < 4; index++) {
        CU_ASSERT_EQUAL(sim_fiber_sleep(engine, delays[index]), SIM_OK);
        sleeper->after_ns[index] = sim_engine_now(engine);
    }
    sleeper->overflow_rc = sim_fiber_sleep(engine, UINT64_MAX);
    struct sim_waitq nobody;
    sim_waitq_init(&nobody, "nobody");
    sleeper->timeout_rc = sim_fiber_wait(engine, &nobody, sim_engine_now(engine) + 3);
    CU_ASSERT_EQUAL(nobody.count, 0);
}

static void event_noop(void *context, void *arg, uint64_t data)
{
    (void)context;
    (void)arg;
    (void)data;
}

/* A fiber spawned at t = 50 sleeping 7, 0, 1 and 10^9 ns wakes at exactly 57, 57, 58 and
 * 10^9 + 58; a sleep past the end of time is SIM_EINVAL; a wait with a deadline and no
 * waker returns SIM_WAKE_TIMED_OUT at the deadline. */
static void test_fiber_sleep_returns_at_exactly_now_plus_delay(void)
{
    struct sim_engine *engine = engine_fixture();
    CU_ASSERT_EQUAL(sim_engine_schedule_at(engine, 60, event_noop, NULL, 0, NULL), SIM_OK);
    struct sim_run_result result;
    sim_engine_run(engine, 50, 0, &result);
    ASSERT_U64_EQ(sim_engine_now(engine), 50);
    struct sleeper sleeper = { 0 };
    CU_ASSERT_EQUAL(sim_fiber_spawn(engine, 2, "sleeper", sleeper_body, &sleeper, 0, false, NULL),
                    SIM_OK);
    CU_ASSERT_EQUAL(run_all(engine), SIM_STOP_IDLE);
    ASSERT_U64_EQ(sleeper.start_ns, 50);
    ASSERT_U64_EQ(sleeper.after_ns[0], 57);
    ASSERT_U64_EQ(sleeper.after_ns[1], 57);
    ASSERT_U64_EQ(sleeper.after_ns[2], 58);
    ASSERT_U64_EQ(sleeper.after_ns[3], 1000000058);
    CU_ASSERT_EQUAL(sleeper.overflow_rc, SIM_EINVAL);
    CU_ASSERT_EQUAL(sleeper.timeout_rc, SIM_WAKE_TIMED_OUT);
    ASSERT_U64_EQ(sim_engine_now(engine), 1000000061);
    sim_engine_destroy(engine);
}

static void event_try_wait(void *context, void *arg, uint64_t data)
{
    (void)data;
    struct sim_engine *engine = context;
    int *rc = arg;
    rc[0] = sim_fiber_wait(engine, NULL, sim_engine_now(engine) + 1);
    rc[1] = sim_fiber_sleep(engine, 1);
    rc[2] = sim_fiber_is_current(engine);
}

/* Without a fiber (plain test code, or an event handler) a blocking call cannot wait:
 * SIM_ENOPROC, and nothing is scheduled. */
static void test_fiber_wait_outside_a_fiber_is_enoproc(void)
{
    struct sim_engine *engine = engine_fixture();
    struct sim_waitq queue;
    sim_waitq_init(&queue, "q");
    CU_ASSERT_FALSE(sim_fiber_is_current(engine));
    CU_ASSERT_EQUAL(sim_fiber_wait(engine, &queue, SIM_TIME_NEVER), SIM_ENOPROC);
    CU_ASSERT_EQUAL(sim_fiber_sleep(engine, 10), SIM_ENOPROC);
    CU_ASSERT_EQUAL(queue.count, 0);
    int rc[3] = { 0, 0, -1 };
    CU_ASSERT_EQUAL(sim_engine_schedule_at(engine, 5, event_try_wait, rc, 0, NULL), SIM_OK);
    CU_ASSERT_EQUAL(run_all(engine), SIM_STOP_IDLE);
    CU_ASSERT_EQUAL(rc[0], SIM_ENOPROC);
    CU_ASSERT_EQUAL(rc[1], SIM_ENOPROC);
    CU_ASSERT_EQUAL(rc[2], 0);
    CU_ASSERT_EQUAL(sim_engine_events_pending(engine), 0);
    sim_engine_destroy(engine);
}

/* ---- Kill ----------------------------------------------------------------------------- */

struct victim {
    struct sim_waitq queue;
    bool started;
    bool returned;
    int wait_rc;
    int wait_again_rc;
    uint64_t woke_ns;
};

static void victim_body(struct sim_engine *engine, void *arg)
{
    struct victim *victim = arg;
    victim->started = true;
    victim->wait_rc = sim_fiber_wait(engine, &victim->queue, 1000);
    victim->woke_ns = sim_engine_now(engine);
    victim->wait_again_rc = sim_fiber_sleep(engine, 10);    /* killed: must not wait */
    victim->returned = true;
}

static void event_kill(void *context, void *arg, uint64_t data)
{
    (void)context;
    (void)data;
    sim_process_kill(arg);
}

/* A fiber blocked on a queue (deadline 1000) is killed at 5: its wait returns SIM_EKILLED
 * at 5, any further blocking call returns SIM_EKILLED at once, its code returns, and the
 * process is gone (its deadline never fires). */
static void test_killed_blocked_fiber_gets_ekilled_and_returns(void)
{
    struct sim_engine *engine = engine_fixture();
    struct victim victim = { 0 };
    sim_waitq_init(&victim.queue, "q");
    struct sim_process *process = NULL;
    CU_ASSERT_EQUAL_FATAL(sim_fiber_spawn(engine, 2, "victim", victim_body, &victim, 0, false,
                                          &process), SIM_OK);
    CU_ASSERT_EQUAL(sim_engine_schedule_at(engine, 5, event_kill, process, 0, NULL), SIM_OK);
    struct sim_run_result result;
    sim_engine_run(engine, SIM_TIME_NEVER, 0, &result);
    CU_ASSERT_EQUAL(result.stopped, SIM_STOP_IDLE);
    CU_ASSERT(victim.returned);
    CU_ASSERT_EQUAL(victim.wait_rc, SIM_EKILLED);
    CU_ASSERT_EQUAL(victim.wait_again_rc, SIM_EKILLED);
    ASSERT_U64_EQ(victim.woke_ns, 5);
    ASSERT_U64_EQ(result.now_ns, 5);
    CU_ASSERT_EQUAL(victim.queue.count, 0);
    CU_ASSERT_EQUAL(sim_engine_processes_live(engine), 0);
    sim_engine_destroy(engine);
}

/* A fiber killed before its first resume never runs its body and is freed. */
static void test_fiber_killed_before_start_never_runs(void)
{
    struct sim_engine *engine = engine_fixture();
    struct victim victim = { 0 };
    sim_waitq_init(&victim.queue, "q");
    struct sim_process *process = NULL;
    CU_ASSERT_EQUAL_FATAL(sim_fiber_spawn(engine, 2, "victim", victim_body, &victim, 0, false,
                                          &process), SIM_OK);
    sim_process_kill(process);
    CU_ASSERT_EQUAL(run_all(engine), SIM_STOP_IDLE);
    CU_ASSERT_FALSE(victim.started);
    CU_ASSERT_FALSE(victim.returned);
    CU_ASSERT_EQUAL(sim_engine_processes_live(engine), 0);
    sim_engine_destroy(engine);
}

/* ---- Many fibers, cleanup, limits ----------------------------------------------------- */

#define FIBERS_MANY 100u

struct many {
    uint64_t delay_ns[FIBERS_MANY];
    uint64_t finish_ns[FIBERS_MANY];
    uint32_t finish_order[FIBERS_MANY];
    uint32_t finished;
};

struct many_arg {
    struct many *many;
    uint32_t index;
};

static void many_body(struct sim_engine *engine, void *arg)
{
    struct many_arg *many_arg = arg;
    struct many *many = many_arg->many;
    CU_ASSERT_EQUAL(sim_fiber_sleep(engine, many->delay_ns[many_arg->index]), SIM_OK);
    many->finish_ns[many_arg->index] = sim_engine_now(engine);
    if (many->finished < FIBERS_MANY)
        many->finish_order[many->finished++] = many_arg->index;
}

/* 100 fibers sleeping distinct times (a permutation of 10, 20, ..., 1000 ns, spawned in
 * another order) wake at exactly their times and finish in time order. */
static void test_hundred_fibers_finish_in_time_order(void)
{
    struct sim_engine *engine = engine_fixture();
    static struct many many;
    static struct many_arg args[FIBERS_MANY];
    many = (struct many){ 0 };
    for (uint32_t index = 0; index < FIBERS_MANY; index++) {
        many.delay_ns[index] = 10 * (uint64_t)((index * 37u) % FIBERS_MANY + 1);
        args[index] = (struct many_arg){ .many = &many, .index = index };
        char name[16];
        snprintf(name, sizeof(name), "f%u", index);
        CU_ASSERT_EQUAL_FATAL(sim_fiber_spawn(engine, 2, name, many_body, &args[index],
                                              SIM_FIBER_STACK_BYTES_MIN, false, NULL), SIM_OK);
    }
    CU_ASSERT_EQUAL(sim_engine_processes_live(engine), FIBERS_MANY);
    CU_ASSERT_EQUAL(run_all(engine), SIM_STOP_IDLE);
    CU_ASSERT_EQUAL_FATAL(many.finished, FIBERS_MANY);
    int wrong = 0;
    for (uint32_t rank = 0; rank < FIBERS_MANY; rank++) {
        uint32_t index = many.finish_order[rank];
        wrong += many.delay_ns[index] != 10 * (uint64_t)(rank + 1);
        wrong += many.finish_ns[index] != many.delay_ns[index];
    }
    CU_ASSERT_EQUAL(wrong, 0);
    CU_ASSERT_EQUAL(sim_engine_processes_live(engine), 0);
    sim_engine_destroy(engine);
}

struct daemon_state {
    struct sim_waitq queue;
    bool started;
    bool returned;
};

static void daemon_body(struct sim_engine *engine, void *arg)
{
    struct daemon_state *state = arg;
    state->started = true;
    (void)sim_fiber_wait(engine, &state->queue, SIM_TIME_NEVER);
    state->returned = true;
}

/* A daemon fiber still blocked when the world goes idle is freed, stack and all, by
 * sim_engine_destroy (LSan in `make asan` reports any leak); its body never resumes. */
static void test_daemon_fiber_blocked_at_end_is_freed_by_destroy(void)
{
    struct sim_engine *engine = engine_fixture();
    struct daemon_state state = { 0 };
    sim_waitq_init(&state.queue, "forever");
    CU_ASSERT_EQUAL(sim_fiber_spawn(engine, 2, "daemon", daemon_body, &state, 0, true, NULL),
                    SIM_OK);
    CU_ASSERT_EQUAL(sim_fiber_spawn(engine, 2, "late", daemon_body, &state, 0, true, NULL),
                    SIM_OK);
    CU_ASSERT_EQUAL(run_all(engine), SIM_STOP_IDLE);
    CU_ASSERT(state.started);
    CU_ASSERT_EQUAL(state.queue.count, 2);
    CU_ASSERT_EQUAL(sim_engine_processes_live(engine), 2);
    sim_engine_destroy(engine);
    CU_ASSERT_FALSE(state.returned);
}

/* A non-daemon fiber blocked forever is a deadlock, reported with its queue's name. */
static void test_non_daemon_fiber_blocked_forever_is_a_deadlock(void)
{
    struct sim_engine *engine = engine_fixture();
    struct daemon_state state = { 0 };
    sim_waitq_init(&state.queue, "never_signalled");
    CU_ASSERT_EQUAL(sim_fiber_spawn(engine, 2, "stuck", daemon_body, &state, 0, false, NULL),
                    SIM_OK);
    CU_ASSERT_EQUAL(run_all(engine), SIM_STOP_DEADLOCK);
    struct sim_process *process = sim_engine_processes_first(engine);
    CU_ASSERT_PTR_NOT_NULL_FATAL(process);
    CU_ASSERT_STRING_EQUAL(sim_process_waits_on(process), "never_signalled");
    CU_ASSERT_STRING_EQUAL(process->name, "stuck");
    sim_engine_destroy(engine);
}

static void touch_body(struct sim_engine *engine, void *arg)
{
    bool *ran = arg;
    CU_ASSERT_EQUAL(sim_fiber_sleep(engine, 1), SIM_OK);
    *ran = true;
}

/* Stack size: SIM_FIBER_STACK_BYTES_MIN - 1 is SIM_EINVAL naming the limit; exactly the
 * minimum works (and survives a block with the digest sink, whose encoder buffer lives on
 * the stack of whoever emits); 0 means the default. */
static void test_fiber_stack_below_minimum_is_einval(void)
{
    struct sim_engine *engine = engine_fixture();
    struct sim_digest *digest = sim_digest_create();
    CU_ASSERT_PTR_NOT_NULL_FATAL(digest);
    CU_ASSERT_EQUAL(sim_engine_sink_attach(engine, sim_digest_sink(digest)), SIM_OK);
    bool ran[3] = { false, false, false };
    CU_ASSERT_EQUAL(sim_fiber_spawn(engine, 2, "small", touch_body, &ran[0],
                                    SIM_FIBER_STACK_BYTES_MIN - 1, false, NULL), SIM_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(sim_engine_error_message(engine), "SIM_FIBER_STACK_BYTES_MIN"));
    CU_ASSERT_EQUAL(sim_engine_processes_live(engine), 0);
    CU_ASSERT_EQUAL(sim_fiber_spawn(engine, 2, "minimum", touch_body, &ran[1],
                                    SIM_FIBER_STACK_BYTES_MIN, false, NULL), SIM_OK);
    CU_ASSERT_EQUAL(sim_fiber_spawn(engine, 2, "default", touch_body, &ran[2], 0, false, NULL),
                    SIM_OK);
    CU_ASSERT_EQUAL(run_all(engine), SIM_STOP_IDLE);
    CU_ASSERT_FALSE(ran[0]);
    CU_ASSERT(ran[1]);
    CU_ASSERT(ran[2]);
    sim_engine_destroy(engine);
    sim_digest_destroy(digest);
}

/* processes_max applies to fibers: the refused fiber is freed at once (no leak, no pid). */
static void test_fiber_spawn_beyond_processes_max_is_elimit(void)
{
    struct sim_limits limits = sim_limits_default();
    limits.processes_max = 1;
    struct sim_engine *engine = sim_engine_create(&limits, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(engine);
    bool ran[2] = { false, false };
    CU_ASSERT_EQUAL(sim_fiber_spawn(engine, 2, "one", touch_body, &ran[0], 0, false, NULL),
                    SIM_OK);
    CU_ASSERT_EQUAL(sim_fiber_spawn(engine, 2, "two", touch_body, &ran[1], 0, false, NULL),
                    SIM_ELIMIT);
    CU_ASSERT_PTR_NOT_NULL(strstr(sim_engine_error_message(engine), "processes_max"));
    CU_ASSERT_EQUAL(run_all(engine), SIM_STOP_IDLE);
    CU_ASSERT(ran[0]);
    CU_ASSERT_FALSE(ran[1]);
    sim_engine_destroy(engine);
}

/* Simulated time ends at SIM_TIME_END_NS (2^63 - 1 ns, what Lua and SQLite hold): a sleep
 * to exactly that instant works; one nanosecond more is SIM_EINVAL and stops the run with
 * an error naming the end, so the clock never passes it. A deadline of SIM_TIME_NEVER
 * with no queue (a sleep nobody could end) is SIM_EINVAL too. */
static void end_of_time_body(struct sim_engine *engine, void *arg)
{
    int *rc = arg;
    rc[0] = sim_fiber_sleep(engine, UINT64_MAX - sim_engine_now(engine));
    rc[1] = sim_fiber_sleep(engine, SIM_TIME_END_NS - sim_engine_now(engine));
    rc[2] = sim_fiber_sleep(engine, 1);
}

static void test_fiber_sleep_to_end_of_time_is_einval(void)
{
    struct sim_engine *engine = engine_fixture();
    int rc[3] = { 1, 1, 1 };
    CU_ASSERT_EQUAL(sim_fiber_spawn(engine, 2, "forever", end_of_time_body, rc, 0, false, NULL),
                    SIM_OK);
    struct sim_run_result result;
    sim_engine_run(engine, SIM_TIME_NEVER, 0, &result);
    CU_ASSERT_EQUAL(result.stopped, SIM_STOP_ERROR);
    CU_ASSERT_EQUAL(rc[0], SIM_EINVAL);
    CU_ASSERT_EQUAL(rc[1], SIM_OK);
    CU_ASSERT_EQUAL(rc[2], SIM_EINVAL);
    ASSERT_U64_EQ(result.now_ns, SIM_TIME_END_NS);
    CU_ASSERT_PTR_NOT_NULL(strstr(sim_engine_error_message(engine),
                                  "past the end of simulated time"));
    sim_engine_destroy(engine);
}

/* ---- Determinism ---------------------------------------------------------------------- */

/* Runs the producer/consumer world with a digest sink; writes the digest into hex. */
static void run_world_digest(char hex[33])
{
    struct sim_engine *engine = engine_fixture();
    struct sim_digest *digest = sim_digest_create();
    CU_ASSERT_PTR_NOT_NULL_FATAL(digest);
    CU_ASSERT_EQUAL(sim_engine_sink_attach(engine, sim_digest_sink(digest)), SIM_OK);
    struct shared shared = { 0 };
    sim_waitq_init(&shared.queue, "counter");
    CU_ASSERT_EQUAL(sim_fiber_spawn(engine, 2, "consumer", consumer_body, &shared, 0, false,
                                    NULL), SIM_OK);
    CU_ASSERT_EQUAL(sim_fiber_spawn(engine, 3, "producer", producer_body, &shared, 0, false,
                                    NULL), SIM_OK);
    CU_ASSERT_EQUAL(run_all(engine), SIM_STOP_IDLE);
    ASSERT_U64_EQ(sim_engine_trace_events(engine), 12);
    sim_digest_hex(digest, hex);
    sim_engine_destroy(engine);
    sim_digest_destroy(digest);
}

/* The same fiber world run twice gives the same digest (the host's stacks, addresses and
 * allocation do not leak into the trace). */
static void test_fiber_world_twice_gives_same_digest(void)
{
    char first[33];
    char second[33];
    run_world_digest(first);
    run_world_digest(second);
    CU_ASSERT_STRING_EQUAL(first, second);
    CU_ASSERT_EQUAL(strlen(first), 32);
}

CU_ErrorCode fiber_suite_add(void)
{
    static const struct test_entry tests[] = {
        TEST_ENTRY(test_fiber_consumer_sees_value_when_producer_wakes_it),
        TEST_ENTRY(test_fiber_sleep_returns_at_exactly_now_plus_delay),
        TEST_ENTRY(test_fiber_wait_outside_a_fiber_is_enoproc),
        TEST_ENTRY(test_killed_blocked_fiber_gets_ekilled_and_returns),
        TEST_ENTRY(test_fiber_killed_before_start_never_runs),
        TEST_ENTRY(test_hundred_fibers_finish_in_time_order),
        TEST_ENTRY(test_daemon_fiber_blocked_at_end_is_freed_by_destroy),
        TEST_ENTRY(test_non_daemon_fiber_blocked_forever_is_a_deadlock),
        TEST_ENTRY(test_fiber_stack_below_minimum_is_einval),
        TEST_ENTRY(test_fiber_spawn_beyond_processes_max_is_elimit),
        TEST_ENTRY(test_fiber_sleep_to_end_of_time_is_einval),
        TEST_ENTRY(test_fiber_world_twice_gives_same_digest),
    };
    return test_suite_register("fiber", tests, sizeof(tests) / sizeof(tests[0]));
}
