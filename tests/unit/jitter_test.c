/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/jitter_test.c: variation from the seed (docs/cost-model.md, "Jitter").
 *
 * Cost draws (vmci/cost.h): off is the constant and touches no stream; RANGE and PERCENT
 * draws stay within their bounds and reach both ends; each parameter draws from its own
 * named stream ("jitter.<name>", recomputed here from docs/rng.md), so the same seed gives
 * the same draws, another seed other draws, and drawing one parameter never shifts another.
 * The event queue's rank (evq.h) and the engine's seeded tie-break among equal-time
 * wake-ups (engine.h): off keeps scheduling order, on gives an order that is a function of
 * the seed. The Lua option (sim.world{ jitter = ... }): its errors, and that a world with
 * `jitter = false` runs exactly as one without the option.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "sim/engine/engine.h"
#include "sim/engine/evq.h"
#include "sim/engine/process.h"
#include "sim/lua/runtime.h"
#include "suites.h"
#include "test_support.h"
#include "vmci/cost.h"

#define DRAWS 20000u

static struct sim_engine *engine_of_seed(uint64_t seed)
{
    struct sim_limits limits = sim_limits_default();
    struct sim_engine *engine = sim_engine_create(&limits, seed);
    CU_ASSERT_PTR_NOT_NULL_FATAL(engine);
    return engine;
}

static struct vmci_jitter range_jitter(uint64_t min, uint64_t max)
{
    struct vmci_jitter jitter = { .mode = VMCI_JITTER_RANGE, .min = min, .max = max };
    return jitter;
}

static void test_off_is_the_constant_and_has_no_stream(void)
{
    struct vmci_cost cost = vmci_cost_default();
    for (int id = 0; id < VMCI_COST_COUNT; id++) {
        CU_ASSERT_EQUAL(cost.jitter[id].mode, VMCI_JITTER_OFF);
        CU_ASSERT_PTR_NULL(cost.jitter[id].rng);
    }
    for (uint32_t draw = 0; draw < 100; draw++) {
        ASSERT_U64_EQ(vmci_cost_draw(&cost, VMCI_COST_INTERRUPT), 2000);
        ASSERT_U64_EQ(vmci_cost_draw(&cost, VMCI_COST_ROUTE), 300);
        ASSERT_U64_EQ(vmci_cost_draw(&cost, VMCI_COST_HYPERCALL), 1500);
        ASSERT_U64_EQ(vmci_cost_draw(&cost, VMCI_COST_REGISTER_ACCESS), 500);
        ASSERT_U64_EQ(vmci_cost_draw(&cost, VMCI_COST_COPY), 100);
    }
    ASSERT_U64_EQ(vmci_cost_copy_ns(&cost, 1001), 101);     /* 100.1 ns, rounded up */
    /* Setting OFF through the engine creates no stream either. */
    struct sim_engine *engine = engine_of_seed(1);
    struct vmci_jitter off = { .mode = VMCI_JITTER_OFF };
    CU_ASSERT_EQUAL(vmci_cost_jitter_set(&cost, engine, VMCI_COST_ROUTE, off), SIM_OK);
    CU_ASSERT_PTR_NULL(cost.jitter[VMCI_COST_ROUTE].rng);
    sim_engine_destroy(engine);
}

static void test_range_stays_within_bounds_and_reaches_every_value(void)
{
    struct sim_engine *engine = engine_of_seed(3);
    struct vmci_cost cost = vmci_cost_default();
    CU_ASSERT_EQUAL_FATAL(vmci_cost_jitter_set(&cost, engine, VMCI_COST_INTERRUPT,
                                               range_jitter(1000, 1010)), SIM_OK);
    uint32_t seen[11] = { 0 };
    uint32_t outside = 0;
    for (uint32_t draw = 0; draw < DRAWS; draw++) {
        uint64_t value = vmci_cost_draw(&cost, VMCI_COST_INTERRUPT);
        if (value < 1000 || value > 1010)
            outside++;
        else
            seen[value - 1000]++;
    }
    CU_ASSERT_EQUAL(outside, 0);
    for (uint32_t value = 0; value < 11; value++) {
        /* Uniform: about DRAWS / 11 = 1818 each; a value seen under half that is a bias. */
        if (seen[value] < DRAWS / 22)
            fprintf(stderr, "value %u drawn %u times\n", 1000 + value, seen[value]);
        CU_ASSERT(seen[value] >= DRAWS / 22);
    }
    /* A range of one value is that value. */
    CU_ASSERT_EQUAL(vmci_cost_jitter_set(&cost, engine, VMCI_COST_ROUTE, range_jitter(7, 7)),
                    SIM_OK);
    ASSERT_U64_EQ(vmci_cost_draw(&cost, VMCI_COST_ROUTE), 7);
    sim_engine_destroy(engine);
}

static void test_percent_stays_within_bounds_around_the_current_value(void)
{
    struct sim_engine *engine = engine_of_seed(4);
    struct vmci_cost cost = vmci_cost_default();
    struct vmci_jitter percent = { .mode = VMCI_JITTER_PERCENT, .percent = 50 };
    CU_ASSERT_EQUAL_FATAL(vmci_cost_jitter_set(&cost, engine, VMCI_COST_HYPERCALL, percent),
                          SIM_OK);
    uint64_t low = UINT64_MAX, high = 0, sum = 0;
    for (uint32_t draw = 0; draw < DRAWS; draw++) {
        uint64_t value = vmci_cost_draw(&cost, VMCI_COST_HYPERCALL);
        low = value < low ? value : low;
        high = value > high ? value : high;
        sum += value;
    }
    CU_ASSERT(low >= 750 && high <= 2250);         /* 1500 +- 50 % */
    CU_ASSERT(low < 760 && high > 2240);           /* and the ends are reached */
    uint64_t mean = sum / DRAWS;
    CU_ASSERT(mean > 1480 && mean < 1520);
    /* Centred on the value now set (w:timing), not the one at the time of the setting. */
    CU_ASSERT_EQUAL(vmci_cost_set(&cost, "hypercall_ns", 100), 0);
    for (uint32_t draw = 0; draw < 1000; draw++) {
        uint64_t value = vmci_cost_draw(&cost, VMCI_COST_HYPERCALL);
        CU_ASSERT(value >= 50 && value <= 150);
    }
    /* 100 % may draw 0 and never less; 0 % is the value itself. */
    percent.percent = 100;
    CU_ASSERT_EQUAL(vmci_cost_jitter_set(&cost, engine, VMCI_COST_ROUTE, percent), SIM_OK);
    for (uint32_t draw = 0; draw < 1000; draw++)
        CU_ASSERT(vmci_cost_draw(&cost, VMCI_COST_ROUTE) <= 600);
    percent.percent = 0;
    CU_ASSERT_EQUAL(vmci_cost_jitter_set(&cost, engine, VMCI_COST_ROUTE, percent), SIM_OK);
    ASSERT_U64_EQ(vmci_cost_draw(&cost, VMCI_COST_ROUTE), 300);
    sim_engine_destroy(engine);
}

/* A constant too large for value * percent to fit still draws around itself: the spread
 * is computed without overflow (50 % of V, so the low end V - V / 2 is reached and never
 * passed), and the high end is capped at UINT64_MAX. */
static void test_percent_of_a_huge_constant_does_not_overflow(void)
{
    struct sim_engine *engine = engine_of_seed(6);
    struct vmci_cost cost = vmci_cost_default();
    const uint64_t huge = UINT64_MAX - 5u;
    CU_ASSERT_EQUAL(vmci_cost_set(&cost, "route_ns", huge), 0);
    struct vmci_jitter percent = { .mode = VMCI_JITTER_PERCENT, .percent = 50 };
    CU_ASSERT_EQUAL_FATAL(vmci_cost_jitter_set(&cost, engine, VMCI_COST_ROUTE, percent),
                          SIM_OK);
    uint64_t low_end = huge - huge / 2u;
    uint64_t low = UINT64_MAX;
    for (uint32_t draw = 0; draw < 1000; draw++) {
        uint64_t value = vmci_cost_draw(&cost, VMCI_COST_ROUTE);
        CU_ASSERT(value >= low_end);
        low = value < low ? value : low;
    }
    CU_ASSERT(low < low_end + huge / 100u);        /* the whole band is drawn from */
    percent.percent = 0;
    CU_ASSERT_EQUAL(vmci_cost_jitter_set(&cost, engine, VMCI_COST_ROUTE, percent), SIM_OK);
    ASSERT_U64_EQ(vmci_cost_draw(&cost, VMCI_COST_ROUTE), huge);
    sim_engine_destroy(engine);
}

static void test_invalid_settings_are_refused(void)
{
    struct sim_engine *engine = engine_of_seed(1);
    struct vmci_cost cost = vmci_cost_default();
    CU_ASSERT_EQUAL(vmci_cost_jitter_set(&cost, engine, VMCI_COST_ROUTE, range_jitter(5, 4)),
                    SIM_EINVAL);
    struct vmci_jitter percent = { .mode = VMCI_JITTER_PERCENT, .percent = 101 };
    CU_ASSERT_EQUAL(vmci_cost_jitter_set(&cost, engine, VMCI_COST_ROUTE, percent), SIM_EINVAL);
    CU_ASSERT_EQUAL(cost.jitter[VMCI_COST_ROUTE].mode, VMCI_JITTER_OFF);   /* unchanged */
    sim_engine_destroy(engine);
}

/* The first `count` draws of `id` with jitter RANGE [0, 999999] in a world of `seed`. */
static void draws_of(uint64_t seed, enum vmci_cost_id id, bool other_draws_between,
                     uint64_t *out, uint32_t count)
{
    struct sim_engine *engine = engine_of_seed(seed);
    struct vmci_cost cost = vmci_cost_default();
    for (int other = 0; other < VMCI_COST_COUNT; other++)
        CU_ASSERT_EQUAL(vmci_cost_jitter_set(&cost, engine, (enum vmci_cost_id)other,
                                             range_jitter(0, 999999)), SIM_OK);
    for (uint32_t index = 0; index < count; index++) {
        for (int other = 0; other_draws_between && other < VMCI_COST_COUNT; other++) {
            if (other != (int)id)
                (void)vmci_cost_draw(&cost, (enum vmci_cost_id)other);
        }
        out[index] = vmci_cost_draw(&cost, id);
    }
    sim_engine_destroy(engine);
}

static void test_draws_are_the_named_stream_of_the_seed(void)
{
    enum { COUNT = 64 };
    uint64_t alone[COUNT], mixed[COUNT], again[COUNT], other_seed[COUNT];
    draws_of(7, VMCI_COST_INTERRUPT, false, alone, COUNT);
    draws_of(7, VMCI_COST_INTERRUPT, true, mixed, COUNT);
    draws_of(7, VMCI_COST_INTERRUPT, false, again, COUNT);
    draws_of(8, VMCI_COST_INTERRUPT, false, other_seed, COUNT);
    CU_ASSERT_EQUAL(memcmp(alone, again, sizeof(alone)), 0);       /* same seed, same draws */
    CU_ASSERT_EQUAL(memcmp(alone, mixed, sizeof(alone)), 0);       /* others shift nothing */
    CU_ASSERT_NOT_EQUAL(memcmp(alone, other_seed, sizeof(alone)), 0);
    /* Recomputed from docs/rng.md: the stream "jitter.interrupt_ns" of seed 7, drawn with
     * sim_rng_below(max - min + 1) + min. */
    CU_ASSERT_STRING_EQUAL(vmci_cost_jitter_stream(VMCI_COST_INTERRUPT), "jitter.interrupt_ns");
    struct sim_rng rng;
    sim_rng_init_stream(&rng, 7, "jitter.interrupt_ns");
    for (uint32_t index = 0; index < COUNT; index++)
        ASSERT_U64_EQ(alone[index], sim_rng_below(&rng, 1000000));
    /* Two parameters of one world draw different numbers (different streams). */
    uint64_t route[COUNT];
    draws_of(7, VMCI_COST_ROUTE, false, route, COUNT);
    CU_ASSERT_NOT_EQUAL(memcmp(alone, route, sizeof(alone)), 0);
}

/* A draw uses the range and rejection limit prepared when the jitter or the constant was
 * set, and the numbers are exactly sim_rng_below's over the recomputed range: while the
 * preparation holds, after a constant set through vmci_cost_set, and after fields written
 * directly (the struct is public), when it must not be used. */
static void test_prepared_draws_are_the_draws_computed_each_time(void)
{
    struct sim_engine *engine = engine_of_seed(9);
    struct vmci_cost cost = vmci_cost_default();
    struct vmci_jitter percent = { .mode = VMCI_JITTER_PERCENT, .percent = 50 };
    CU_ASSERT_EQUAL_FATAL(vmci_cost_jitter_set(&cost, engine, VMCI_COST_HYPERCALL, percent),
                          SIM_OK);
    CU_ASSERT(cost.jitter[VMCI_COST_HYPERCALL].prepared);
    struct sim_rng rng;
    sim_rng_init_stream(&rng, 9, "jitter.hypercall_ns");
    for (uint32_t draw = 0; draw < 2000; draw++)                    /* 1500 +- 750 */
        ASSERT_U64_EQ(vmci_cost_draw(&cost, VMCI_COST_HYPERCALL), 750 + sim_rng_below(&rng, 1501));
    CU_ASSERT_EQUAL(vmci_cost_set(&cost, "hypercall_ns", 300), 0);  /* prepared again */
    ASSERT_U64_EQ(cost.jitter[VMCI_COST_HYPERCALL].prepared_value, 300);
    for (uint32_t draw = 0; draw < 2000; draw++)                    /* 300 +- 150 */
        ASSERT_U64_EQ(vmci_cost_draw(&cost, VMCI_COST_HYPERCALL), 150 + sim_rng_below(&rng, 301));
    cost.hypercall_ns = 1000;                   /* written directly: not prepared for it */
    for (uint32_t draw = 0; draw < 2000; draw++)                    /* 1000 +- 500 */
        ASSERT_U64_EQ(vmci_cost_draw(&cost, VMCI_COST_HYPERCALL), 500 + sim_rng_below(&rng, 1001));
    cost.jitter[VMCI_COST_HYPERCALL].percent = 10;
    for (uint32_t draw = 0; draw < 2000; draw++)                    /* 1000 +- 100 */
        ASSERT_U64_EQ(vmci_cost_draw(&cost, VMCI_COST_HYPERCALL), 900 + sim_rng_below(&rng, 201));
    /* RANGE: prepared for [10, 20]; then its bounds written directly. */
    CU_ASSERT_EQUAL_FATAL(vmci_cost_jitter_set(&cost, engine, VMCI_COST_ROUTE,
                                               range_jitter(10, 20)), SIM_OK);
    sim_rng_init_stream(&rng, 9, "jitter.route_ns");
    for (uint32_t draw = 0; draw < 2000; draw++)
        ASSERT_U64_EQ(vmci_cost_draw(&cost, VMCI_COST_ROUTE), 10 + sim_rng_below(&rng, 11));
    cost.jitter[VMCI_COST_ROUTE].max = 1000;
    for (uint32_t draw = 0; draw < 2000; draw++)
        ASSERT_U64_EQ(vmci_cost_draw(&cost, VMCI_COST_ROUTE), 10 + sim_rng_below(&rng, 991));
    /* The whole range of 64 bits is a draw of the generator itself. */
    CU_ASSERT_EQUAL_FATAL(vmci_cost_jitter_set(&cost, engine, VMCI_COST_INTERRUPT,
                                               range_jitter(0, UINT64_MAX)), SIM_OK);
    sim_rng_init_stream(&rng, 9, "jitter.interrupt_ns");
    for (uint32_t draw = 0; draw < 100; draw++)
        ASSERT_U64_EQ(vmci_cost_draw(&cost, VMCI_COST_INTERRUPT), sim_rng_next(&rng));
    sim_engine_destroy(engine);
}

/* ---- The event queue's rank and the engine's wake-up tie-break --------------------- */

static uint32_t ran[64];
static uint32_t ran_count;

static void record_event(void *context, void *arg, uint64_t data)
{
    (void)context;
    (void)arg;
    if (ran_count < 64)
        ran[ran_count++] = (uint32_t)data;
}

static void test_rank_orders_equal_times_and_move_last_resets_it(void)
{
    struct sim_evq *queue = sim_evq_create(16);
    CU_ASSERT_PTR_NOT_NULL_FATAL(queue);
    sim_event_id moved = SIM_EVENT_NONE;
    CU_ASSERT_EQUAL(sim_evq_push_in(queue, 0, 10, record_event, NULL, 1, NULL), SIM_OK);
    CU_ASSERT_EQUAL(sim_evq_push_ranked(queue, 0, 5, 10, record_event, NULL, 2, NULL), SIM_OK);
    CU_ASSERT_EQUAL(sim_evq_push_ranked(queue, 0, 0xFFFFFFFFu, 10, record_event, NULL, 3, NULL),
                    SIM_OK);
    CU_ASSERT_EQUAL(sim_evq_push_ranked(queue, 0, 5, 10, record_event, NULL, 4, NULL), SIM_OK);
    CU_ASSERT_EQUAL(sim_evq_push_ranked(queue, 0, 1, 9, record_event, NULL, 5, &moved), SIM_OK);
    CU_ASSERT_EQUAL(sim_evq_push_in(queue, 0, 10, record_event, NULL, 6, NULL), SIM_OK);
    CU_ASSERT(sim_evq_check(queue));
    /* Moved "last" to 10: after every default-rank event already there, rank reset. */
    CU_ASSERT_EQUAL(sim_evq_move(queue, moved, 10, true), SIM_OK);
    ran_count = 0;
    struct sim_evq_entry entry;
    while (sim_evq_pop(queue, &entry))
        entry.fn(NULL, entry.arg, entry.data);
    static const uint32_t expected[] = { 2, 4, 1, 6, 5, 3 };
    CU_ASSERT_EQUAL_FATAL(ran_count, 6);
    for (uint32_t index = 0; index < 6; index++)
        ASSERT_U64_EQ(ran[index], expected[index]);
    sim_evq_destroy(queue);
}

#define SHUFFLED_PROCESSES 8u

static void record_resume(struct sim_process *process, enum sim_wake_reason reason)
{
    struct sim_waitq *queue = process->owner;
    if (ran_count < 64)
        ran[ran_count++] = process->pid;
    if (reason == SIM_WAKE_START) {
        CU_ASSERT_EQUAL(sim_process_block(process, queue, SIM_TIME_NEVER), SIM_OK);
        return;
    }
    sim_process_finish(process, false);
    sim_process_destroy(process);
}

static const struct sim_process_ops record_ops = { .resume = record_resume };

static void wake_everyone(void *context, void *arg, uint64_t data)
{
    (void)context;
    (void)data;
    CU_ASSERT_EQUAL(sim_waitq_wake_all(arg), SHUFFLED_PROCESSES);
}

/* Runs SHUFFLED_PROCESSES processes started at one instant that block on one queue and are
 * woken together; `order` gets the pids in resume order (starts, then wake-ups). */
static void resume_order_of(uint64_t seed, bool shuffle, uint32_t order[2 * SHUFFLED_PROCESSES])
{
    struct sim_engine *engine = engine_of_seed(seed);
    CU_ASSERT_EQUAL(sim_engine_set_wakeup_shuffle(engine, shuffle), SIM_OK);
    CU_ASSERT_EQUAL(sim_engine_wakeup_shuffle(engine), shuffle);
    struct sim_waitq queue;
    sim_waitq_init(&queue, "together");
    for (uint32_t index = 0; index < SHUFFLED_PROCESSES; index++) {
        struct sim_process *process = NULL;
        CU_ASSERT_EQUAL(sim_process_create(engine, 2, "p", &record_ops, &queue, false, 100,
                                           &process), SIM_OK);
    }
    CU_ASSERT_EQUAL(sim_engine_schedule_at(engine, 200, wake_everyone, &queue, 0, NULL), SIM_OK);
    ran_count = 0;
    struct sim_run_result result;
    sim_engine_run(engine, SIM_TIME_NEVER, 0, &result);
    CU_ASSERT_EQUAL(result.stopped, SIM_STOP_IDLE);
    CU_ASSERT_EQUAL_FATAL(ran_count, 2 * SHUFFLED_PROCESSES);
    memcpy(order, ran, 2 * SHUFFLED_PROCESSES * sizeof(order[0]));
    sim_engine_destroy(engine);
}

static void test_wakeup_order_is_fifo_when_off_and_seeded_when_on(void)
{
    uint32_t off[2 * SHUFFLED_PROCESSES], on[2 * SHUFFLED_PROCESSES];
    uint32_t again[2 * SHUFFLED_PROCESSES], other[2 * SHUFFLED_PROCESSES];
    resume_order_of(1, false, off);
    for (uint32_t index = 0; index < 2 * SHUFFLED_PROCESSES; index++)
        ASSERT_U64_EQ(off[index], 1 + index % SHUFFLED_PROCESSES);     /* creation order */
    resume_order_of(1, true, on);
    resume_order_of(1, true, again);
    resume_order_of(2, true, other);
    CU_ASSERT_EQUAL(memcmp(on, again, sizeof(on)), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(on, off, sizeof(on)), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(on, other, sizeof(on)), 0);
    /* Every process still starts once and wakes once. */
    uint32_t counts[SHUFFLED_PROCESSES + 1] = { 0 };
    for (uint32_t index = 0; index < 2 * SHUFFLED_PROCESSES; index++)
        counts[on[index] <= SHUFFLED_PROCESSES ? on[index] : 0]++;
    CU_ASSERT_EQUAL(counts[0], 0);
    for (uint32_t pid = 1; pid <= SHUFFLED_PROCESSES; pid++)
        CU_ASSERT_EQUAL(counts[pid], 2);
    /* Off again: the stream stays but draws stop, and the order is FIFO again. */
    struct sim_engine *engine = engine_of_seed(1);
    CU_ASSERT_EQUAL(sim_engine_set_wakeup_shuffle(engine, true), SIM_OK);
    CU_ASSERT_EQUAL(sim_engine_set_wakeup_shuffle(engine, false), SIM_OK);
    CU_ASSERT_FALSE(sim_engine_wakeup_shuffle(engine));
    sim_engine_destroy(engine);
}

/* ---- The Lua option ----------------------------------------------------------------- */

/* A host echo service and three guest clients started together. */
#define THREE_CLIENTS(world_options)                                                        \
    "local sim = require('vmcisim')\n"                                                      \
    "local w = sim.world{ " world_options " }\n"                                            \
    "local guests = { w:vm{ name = 'g1' }, w:vm{ name = 'g2' }, w:vm{ name = 'g3' } }\n"    \
    "w:host():spawn('server', function(p)\n"                                                \
    "  local l = assert(p:socket('stream')); assert(l:bind(sim.CID_ANY, 5000))\n"           \
    "  assert(l:listen(3))\n"                                                               \
    "  for i = 1, 3 do\n"                                                                   \
    "    local c = assert(l:accept())\n"                                                    \
    "    assert(c:send(assert(c:recv(100)))); c:close()\n"                                  \
    "  end\n"                                                                               \
    "end)\n"                                                                                \
    "local done = {}\n"                                                                     \
    "for i, g in ipairs(guests) do\n"                                                       \
    "  g:spawn('client', function(p)\n"                                                     \
    "    p:sleep(sim.us(100))\n"                                                            \
    "    local s = assert(p:socket('stream')); assert(s:connect(sim.CID_HOST, 5000))\n"     \
    "    assert(s:send('x')); sim.expect(s:recv(100) == 'x', 'echo')\n"                    \
    "    done[i] = w.now\n"                                                                 \
    "  end)\n"                                                                              \
    "end\n"                                                                                 \
    "w:run()\n"

static void test_lua_jitter_false_runs_as_without_the_option(void)
{
    struct simlua_outcome without, off, on;
    test_run_lua_source(THREE_CLIENTS("product = 'esxi-6.5'"), &without);
    test_run_lua_source(THREE_CLIENTS("product = 'esxi-6.5', jitter = false"), &off);
    test_run_lua_source(THREE_CLIENTS("product = 'esxi-6.5', jitter = true"), &on);
    CU_ASSERT_EQUAL(without.exit_code, SIMLUA_EXIT_PASS);
    CU_ASSERT_EQUAL(off.exit_code, SIMLUA_EXIT_PASS);
    CU_ASSERT_EQUAL(on.exit_code, SIMLUA_EXIT_PASS);
    ASSERT_U64_EQ(off.now_ns, without.now_ns);
    ASSERT_U64_EQ(off.events_run, without.events_run);
    ASSERT_U64_EQ(off.trace_events, without.trace_events);
    CU_ASSERT_NOT_EQUAL(on.now_ns, without.now_ns);
}

static void test_lua_jitter_refuses_invalid_settings(void)
{
    test_expect_world_refused("jitter = 1");
    test_expect_world_refused("jitter = 'yes'");
    test_expect_world_refused("jitter = { interrupts = true }");
    test_expect_world_refused("jitter = { interrupt_ns = 5 }");
    test_expect_world_refused("jitter = { interrupt_ns = { min = 5, max = 4 } }");
    test_expect_world_refused("jitter = { interrupt_ns = { min = -1, max = 4 } }");
    test_expect_world_refused("jitter = { interrupt_ns = { min = 1 } }");
    test_expect_world_refused("jitter = { interrupt_ns = { mean = 10, spread = 11 } }");
    test_expect_world_refused("jitter = { interrupt_ns = { percent = 101 } }");
    test_expect_world_refused("jitter = { interrupt_ns = { percent = 5, min = 1, max = 2 } }");
    test_expect_world_refused("jitter = { interrupt_ns = { width = 5 } }");
    test_expect_world_refused("jitter = { schedule = 1 }");
}

static void test_lua_jitter_accepts_every_documented_form(void)
{
    struct simlua_outcome outcome;
    test_run_lua_source(THREE_CLIENTS(
        "jitter = { interrupt_ns = { min = 1000, max = 3000 }, route_ns = { mean = 300, "
        "spread = 100 }, hypercall_ns = { percent = 20 }, copy_ps_per_byte = true, "
        "register_access_ns = false, schedule = true }"), &outcome);
    CU_ASSERT_EQUAL(outcome.exit_code, SIMLUA_EXIT_PASS);
    CU_ASSERT_EQUAL(outcome.failure_count, 0);
}

/* Datagrams for the host keep their order when their route latencies are drawn far apart
 * (the stream protocol's control packets rely on it, R184). */
static void test_lua_host_datagrams_keep_their_order_under_route_jitter(void)
{
    struct simlua_outcome outcome;
    test_run_lua_source(
        "local sim = require('vmcisim')\n"
        "local w = sim.world{ jitter = { route_ns = { min = 0, max = 100000 },\n"
        "                                hypercall_ns = { min = 0, max = 10 } } }\n"
        "local g = w:vm{ name = 'g' }\n"
        "local got = {}\n"
        "w:host():spawn('sink', function(p)\n"
        "  local s = assert(p:socket('dgram')); assert(s:bind(sim.CID_ANY, 7000))\n"
        "  for i = 1, 40 do local data = assert(s:recvfrom(100)); got[i] = tonumber(data) end\n"
        "end)\n"
        "g:spawn('source', function(p)\n"
        "  p:sleep(sim.us(10))\n"
        "  local s = assert(p:socket('dgram'))\n"
        "  for i = 1, 40 do assert(s:sendto(tostring(i), sim.CID_HOST, 7000)) end\n"
        "end)\n"
        "w:run()\n"
        "for i = 1, 40 do sim.expect(got[i] == i, 'datagram ' .. i .. ' in order') end\n",
        &outcome);
    CU_ASSERT_EQUAL(outcome.exit_code, SIMLUA_EXIT_PASS);
    CU_ASSERT_EQUAL(outcome.failure_count, 0);
}

CU_ErrorCode jitter_suite_add(void)
{
    static const struct test_entry tests[] = {
        TEST_ENTRY(test_off_is_the_constant_and_has_no_stream),
        TEST_ENTRY(test_range_stays_within_bounds_and_reaches_every_value),
        TEST_ENTRY(test_percent_stays_within_bounds_around_the_current_value),
        TEST_ENTRY(test_percent_of_a_huge_constant_does_not_overflow),
        TEST_ENTRY(test_invalid_settings_are_refused),
        TEST_ENTRY(test_draws_are_the_named_stream_of_the_seed),
        TEST_ENTRY(test_prepared_draws_are_the_draws_computed_each_time),
        TEST_ENTRY(test_rank_orders_equal_times_and_move_last_resets_it),
        TEST_ENTRY(test_wakeup_order_is_fifo_when_off_and_seeded_when_on),
        TEST_ENTRY(test_lua_jitter_false_runs_as_without_the_option),
        TEST_ENTRY(test_lua_jitter_refuses_invalid_settings),
        TEST_ENTRY(test_lua_jitter_accepts_every_documented_form),
        TEST_ENTRY(test_lua_host_datagrams_keep_their_order_under_route_jitter),
    };
    return test_suite_register("jitter", tests, sizeof(tests) / sizeof(tests[0]));
}
