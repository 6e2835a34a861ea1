/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/evq_test.c: the event queue (sim/engine/evq.h).
 *
 * Order is (time_ns, seq) with seq assigned at push, so equal times pop in push
 * order (style.md "Event order"). Cancel is by id (slot + generation): an id that
 * already ran, was cancelled or was reused is SIM_ENOENT. pending_max bounds the
 * pending events, and cancelled events stop counting at once. The randomised tests
 * compare every pop with a plain model (a linear scan for the minimum) and run
 * sim_evq_check (EQ1..EQ4) after every operation; the "order model" ones cover every
 * operation (ranked pushes, moves keeping their seq or not, peek, lookup) on a fleet in
 * step (thousands of events on three instants: the queue's chains) and on spread times.
 */
#include <stdint.h>
#include <stdlib.h>

#include <CUnit/CUnit.h>

#include "sim/engine/error.h"
#include "sim/engine/evq.h"
#include "sim/engine/rng.h"
#include "suites.h"
#include "test_support.h"

static int marker;      /* its address is the `arg` of every pushed event */

static void event_noop(void *context, void *arg, uint64_t data)
{
    (void)context;
    (void)arg;
    (void)data;
}

/* A second callback with a different body, so the two can never be folded into one. */
static void event_other(void *context, void *arg, uint64_t data)
{
    (void)context;
    *(int *)arg += (int)data;
}

static struct sim_evq *evq_fixture(uint32_t pending_max)
{
    struct sim_evq *queue = sim_evq_create(pending_max);
    CU_ASSERT_PTR_NOT_NULL_FATAL(queue);
    return queue;
}

/* Pops must come out by time, carry the pushed fn/arg/data, and the empty queue says so. */
static void test_evq_pops_in_time_order(void)
{
    struct sim_evq *queue = evq_fixture(16);
    static const uint64_t times[] = { 50, 10, 40, 0, 30, 20, UINT64_MAX };
    for (uint64_t index = 0; index < 7; index++)
        CU_ASSERT_EQUAL(sim_evq_push(queue, times[index], index % 2 ? event_other : event_noop,
                                     &marker, index, NULL), SIM_OK);
    CU_ASSERT_EQUAL(sim_evq_pending(queue), 7);
    ASSERT_U64_EQ(sim_evq_peek_time(queue), 0);
    static const uint64_t order[] = { 3, 1, 5, 4, 2, 0, 6 };
    for (int index = 0; index < 7; index++) {
        struct sim_evq_entry entry;
        CU_ASSERT_FATAL(sim_evq_pop(queue, &entry));
        ASSERT_U64_EQ(entry.data, order[index]);
        ASSERT_U64_EQ(entry.time_ns, times[order[index]]);
        ASSERT_U64_EQ(entry.seq, order[index]);
        CU_ASSERT(entry.fn == (order[index] % 2 ? event_other : event_noop));
        CU_ASSERT_PTR_EQUAL(entry.arg, &marker);
        CU_ASSERT_EQUAL(entry.pending, (uint32_t)(6 - index));      /* what is left after it */
        CU_ASSERT(sim_evq_check(queue));
    }
    struct sim_evq_entry entry;
    CU_ASSERT_FALSE(sim_evq_pop(queue, &entry));
    CU_ASSERT_EQUAL(sim_evq_pending(queue), 0);
    sim_evq_destroy(queue);
}

/* sim_evq_next_time is UINT64_MAX for an empty queue and the earliest time otherwise; a
 * popped chain head's successor that is not before another chain of its instant (ranks
 * 5 and 7 chained, rank 6 on a chain of its own) gives way to it: A, X, B, then C. */
static void test_evq_next_time_and_successor_behind_another_chain(void)
{
    struct sim_evq *queue = evq_fixture(16);
    ASSERT_U64_EQ(sim_evq_next_time(queue), UINT64_MAX);
    CU_ASSERT_EQUAL(sim_evq_push_ranked(queue, 0, 5, 10, event_noop, NULL, 'A', NULL), SIM_OK);
    CU_ASSERT_EQUAL(sim_evq_push_ranked(queue, 0, 7, 10, event_noop, NULL, 'B', NULL), SIM_OK);
    CU_ASSERT_EQUAL(sim_evq_push_ranked(queue, 0, 6, 10, event_noop, NULL, 'X', NULL), SIM_OK);
    CU_ASSERT_EQUAL(sim_evq_push(queue, 20, event_noop, NULL, 'C', NULL), SIM_OK);
    CU_ASSERT(sim_evq_check(queue));
    static const uint64_t order[] = { 'A', 'X', 'B', 'C' };
    static const uint64_t next_before[] = { 10, 10, 10, 20 };
    for (unsigned index = 0; index < 4; index++) {
        ASSERT_U64_EQ(sim_evq_next_time(queue), next_before[index]);
        struct sim_evq_entry entry;
        CU_ASSERT_FATAL(sim_evq_pop(queue, &entry));
        ASSERT_U64_EQ(entry.data, order[index]);
        CU_ASSERT(sim_evq_check(queue));
    }
    ASSERT_U64_EQ(sim_evq_next_time(queue), UINT64_MAX);
    sim_evq_destroy(queue);
}

/* 1000 events at one instant pop in push order (the seq counter), across heap growth. */
static void test_evq_equal_time_is_fifo(void)
{
    struct sim_evq *queue = evq_fixture(1000);
    for (uint64_t index = 0; index < 1000; index++)
        CU_ASSERT_EQUAL(sim_evq_push(queue, 77, event_noop, NULL, index, NULL), SIM_OK);
    CU_ASSERT(sim_evq_check(queue));
    int out_of_order = 0;
    for (uint64_t index = 0; index < 1000; index++) {
        struct sim_evq_entry entry;
        CU_ASSERT_FATAL(sim_evq_pop(queue, &entry));
        out_of_order += entry.data != index || entry.seq != index || entry.time_ns != 77;
    }
    CU_ASSERT_EQUAL(out_of_order, 0);
    CU_ASSERT_EQUAL(sim_evq_pending(queue), 0);
    sim_evq_destroy(queue);
}

/* The model of the randomised test: one record per push, indexed by the event's data. */
struct model_event {
    uint64_t time_ns;
    uint64_t seq;
    sim_event_id id;
    bool pending;
};

#define MODEL_PUSHES_MAX 6000u

struct model {
    struct model_event events[MODEL_PUSHES_MAX];
    uint32_t pushed;
    uint32_t pending;
};

/* Index of the pending model event with the smallest (time, seq), or -1. */
static int model_min(const struct model *model)
{
    int best = -1;
    for (uint32_t index = 0; index < model->pushed; index++) {
        const struct model_event *event = &model->events[index];
        if (!event->pending)
            continue;
        if (best < 0 || event->time_ns < model->events[best].time_ns ||
            (event->time_ns == model->events[best].time_ns && event->seq < model->events[best].seq))
            best = (int)index;
    }
    return best;
}

static void model_push(struct sim_evq *queue, struct model *model, uint64_t time_ns)
{
    struct model_event *event = &model->events[model->pushed];
    CU_ASSERT_EQUAL_FATAL(sim_evq_push(queue, time_ns, event_noop, NULL, model->pushed,
                                       &event->id), SIM_OK);
    CU_ASSERT_NOT_EQUAL(event->id, SIM_EVENT_NONE);
    event->time_ns = time_ns;
    event->seq = model->pushed;     /* no push failed, so seq counts the pushes */
    event->pending = true;
    model->pushed++;
    model->pending++;
}

/* Pops one event and checks it is the model's minimum. Returns false on a mismatch; the
 * model always drops the event that did pop, so it stays in step with the queue. */
static bool model_pop(struct sim_evq *queue, struct model *model)
{
    int expected = model_min(model);
    struct sim_evq_entry entry;
    if (!sim_evq_pop(queue, &entry))
        return expected < 0;
    if (entry.data >= model->pushed || !model->events[entry.data].pending)
        return false;
    struct model_event *event = &model->events[entry.data];
    event->pending = false;
    model->pending--;
    return entry.data == (uint64_t)expected && entry.time_ns == event->time_ns &&
           entry.seq == event->seq && entry.pending == model->pending &&
           entry.pending == sim_evq_pending(queue);
}

/* Cancels the pending model event at or after `start`, if any. */
static bool model_cancel(struct sim_evq *queue, struct model *model, uint32_t start)
{
    for (uint32_t index = start; index < model->pushed; index++) {
        struct model_event *event = &model->events[index];
        if (!event->pending)
            continue;
        event->pending = false;
        model->pending--;
        return sim_evq_cancel(queue, event->id) == SIM_OK;
    }
    return true;
}

/* Random pushes (times in a narrow window, so ties are common), pops and cancels from a
 * seeded stream: every pop is the model's (time, seq) minimum, EQ1..EQ3 hold after every
 * operation, and the queue drains to exactly the model's pending count. */
static void test_evq_random_operations_pop_sorted_by_time_then_seq(void)
{
    static struct model model;
    model = (struct model){ 0 };
    struct sim_evq *queue = evq_fixture(MODEL_PUSHES_MAX);
    struct sim_rng rng;
    sim_rng_init_stream(&rng, 2024, "evq_test");
    int bad_pops = 0, bad_cancels = 0, bad_checks = 0;
    uint64_t now_ns = 0;
    for (uint32_t round = 0; model.pushed < MODEL_PUSHES_MAX && round < 4 * MODEL_PUSHES_MAX;
         round++) {
        uint64_t action = sim_rng_below(&rng, 10);
        if (action < 6)
            model_push(queue, &model, now_ns + sim_rng_below(&rng, 40));
        else if (action < 9)
            bad_pops += !model_pop(queue, &model);
        else if (model.pushed > 0)
            bad_cancels += !model_cancel(queue, &model,
                                         (uint32_t)sim_rng_below(&rng, model.pushed));
        bad_checks += !sim_evq_check(queue);
        bad_checks += sim_evq_pending(queue) != model.pending;
        now_ns += sim_rng_below(&rng, 3);
    }
    for (uint32_t round = 0; model.pending > 0 && round < MODEL_PUSHES_MAX; round++) {
        bad_pops += !model_pop(queue, &model);
        bad_checks += !sim_evq_check(queue);
    }
    CU_ASSERT_EQUAL(model.pushed, MODEL_PUSHES_MAX);
    CU_ASSERT_EQUAL(bad_pops, 0);
    CU_ASSERT_EQUAL(bad_cancels, 0);
    CU_ASSERT_EQUAL(bad_checks, 0);
    CU_ASSERT_EQUAL(sim_evq_pending(queue), 0);
    sim_evq_destroy(queue);
}

#define LIMIT_EVENTS 1000u

/* Pops everything; returns the number of pops out of (time, seq) order or with an odd
 * data value (odd = cancelled), and stores the pop count. */
static int drain_checking_order(struct sim_evq *queue, uint32_t *pops_out)
{
    int bad = 0;
    uint32_t pops = 0;
    uint64_t last_time = 0, last_seq = 0;
    struct sim_evq_entry entry;
    while (pops <= LIMIT_EVENTS * 2 && sim_evq_pop(queue, &entry)) {
        if (pops > 0 && (entry.time_ns < last_time ||
                         (entry.time_ns == last_time && entry.seq <= last_seq)))
            bad++;
        if (entry.data % 2 == 1 && entry.data < LIMIT_EVENTS)
            bad++;
        last_time = entry.time_ns;
        last_seq = entry.seq;
        pops++;
    }
    *pops_out = pops;
    return bad;
}

/* pending_max: the 1001st push is SIM_ELIMIT; cancelling every other event frees exactly
 * 500 places (cancelled events stop counting at once), 500 more pushes fit and the next
 * is SIM_ELIMIT again; no cancelled event ever pops and the order holds. */
static void test_evq_cancel_frees_room_under_pending_limit(void)
{
    struct sim_evq *queue = evq_fixture(LIMIT_EVENTS);
    static sim_event_id ids[LIMIT_EVENTS];
    for (uint32_t index = 0; index < LIMIT_EVENTS; index++)
        CU_ASSERT_EQUAL(sim_evq_push(queue, (index * 7919u) % 1000u, event_noop, NULL, index,
                                     &ids[index]), SIM_OK);
    CU_ASSERT_EQUAL(sim_evq_push(queue, 1, event_noop, NULL, 0, NULL), SIM_ELIMIT);
    CU_ASSERT_EQUAL(sim_evq_pending(queue), LIMIT_EVENTS);
    CU_ASSERT_EQUAL(sim_evq_pending_max(queue), LIMIT_EVENTS);
    for (uint32_t index = 1; index < LIMIT_EVENTS; index += 2)
        CU_ASSERT_EQUAL(sim_evq_cancel(queue, ids[index]), SIM_OK);
    CU_ASSERT_EQUAL(sim_evq_pending(queue), LIMIT_EVENTS / 2);
    CU_ASSERT(sim_evq_check(queue));
    for (uint32_t index = 0; index < LIMIT_EVENTS / 2; index++)
        CU_ASSERT_EQUAL(sim_evq_push(queue, index, event_noop, NULL, LIMIT_EVENTS + index, NULL),
                        SIM_OK);
    CU_ASSERT_EQUAL(sim_evq_push(queue, 1, event_noop, NULL, 0, NULL), SIM_ELIMIT);
    CU_ASSERT(sim_evq_check(queue));
    uint32_t pops = 0;
    CU_ASSERT_EQUAL(drain_checking_order(queue, &pops), 0);
    CU_ASSERT_EQUAL(pops, LIMIT_EVENTS);
    sim_evq_destroy(queue);
}

/* The smallest queue: one pending event; a second push is SIM_ELIMIT until it pops. */
static void test_evq_pending_max_one_holds_one_event(void)
{
    struct sim_evq *queue = evq_fixture(1);
    CU_ASSERT_EQUAL(sim_evq_push(queue, 5, event_noop, NULL, 0, NULL), SIM_OK);
    CU_ASSERT_EQUAL(sim_evq_push(queue, 4, event_noop, NULL, 0, NULL), SIM_ELIMIT);
    struct sim_evq_entry entry;
    CU_ASSERT(sim_evq_pop(queue, &entry));
    ASSERT_U64_EQ(entry.time_ns, 5);
    CU_ASSERT_EQUAL(sim_evq_push(queue, 4, event_noop, NULL, 0, NULL), SIM_OK);
    CU_ASSERT(sim_evq_check(queue));
    sim_evq_destroy(queue);
}

/* Cancel after the event ran, a second cancel, SIM_EVENT_NONE and ids the queue never
 * issued are all SIM_ENOENT and change nothing. */
static void test_evq_cancel_of_finished_or_unknown_event_is_enoent(void)
{
    struct sim_evq *queue = evq_fixture(8);
    sim_event_id ran, cancelled, kept;
    CU_ASSERT_EQUAL(sim_evq_push(queue, 1, event_noop, NULL, 1, &ran), SIM_OK);
    CU_ASSERT_EQUAL(sim_evq_push(queue, 2, event_noop, NULL, 2, &cancelled), SIM_OK);
    CU_ASSERT_EQUAL(sim_evq_push(queue, 3, event_noop, NULL, 3, &kept), SIM_OK);
    struct sim_evq_entry entry;
    CU_ASSERT(sim_evq_pop(queue, &entry));
    ASSERT_U64_EQ(entry.data, 1);
    CU_ASSERT_EQUAL(sim_evq_cancel(queue, ran), SIM_ENOENT);
    CU_ASSERT_EQUAL(sim_evq_cancel(queue, cancelled), SIM_OK);
    CU_ASSERT_EQUAL(sim_evq_cancel(queue, cancelled), SIM_ENOENT);
    CU_ASSERT_EQUAL(sim_evq_cancel(queue, SIM_EVENT_NONE), SIM_ENOENT);
    CU_ASSERT_EQUAL(sim_evq_cancel(queue, (sim_event_id)1000), SIM_ENOENT);       /* slot 999 */
    CU_ASSERT_EQUAL(sim_evq_cancel(queue, (sim_event_id)1 << 32), SIM_ENOENT);    /* slot -1 */
    CU_ASSERT_EQUAL(sim_evq_cancel(queue, kept + ((sim_event_id)1 << 32)), SIM_ENOENT);
    CU_ASSERT_EQUAL(sim_evq_pending(queue), 1);
    CU_ASSERT(sim_evq_pop(queue, &entry));
    ASSERT_U64_EQ(entry.data, 3);
    CU_ASSERT(sim_evq_check(queue));
    sim_evq_destroy(queue);
}

/* A slot is reused after its event pops (same slot number), yet the old id stays dead:
 * cancelling it is SIM_ENOENT and leaves the new event pending (the generation). */
static void test_evq_stale_id_after_slot_reuse_is_enoent(void)
{
    struct sim_evq *queue = evq_fixture(4);
    sim_event_id old_id, new_id;
    CU_ASSERT_EQUAL(sim_evq_push(queue, 10, event_noop, NULL, 1, &old_id), SIM_OK);
    struct sim_evq_entry entry;
    CU_ASSERT(sim_evq_pop(queue, &entry));
    CU_ASSERT_EQUAL(sim_evq_push(queue, 20, event_noop, NULL, 2, &new_id), SIM_OK);
    CU_ASSERT_EQUAL(old_id & 0xFFFFFFFFu, new_id & 0xFFFFFFFFu);    /* the same slot */
    CU_ASSERT_NOT_EQUAL(old_id, new_id);
    CU_ASSERT_EQUAL(sim_evq_cancel(queue, old_id), SIM_ENOENT);
    CU_ASSERT_EQUAL(sim_evq_pending(queue), 1);
    CU_ASSERT_EQUAL(sim_evq_cancel(queue, new_id), SIM_OK);
    /* Reused again after a cancel: both older ids are dead. */
    sim_event_id third_id;
    CU_ASSERT_EQUAL(sim_evq_push(queue, 30, event_noop, NULL, 3, &third_id), SIM_OK);
    CU_ASSERT_EQUAL(sim_evq_cancel(queue, new_id), SIM_ENOENT);
    CU_ASSERT_EQUAL(sim_evq_cancel(queue, old_id), SIM_ENOENT);
    CU_ASSERT_EQUAL(sim_evq_pending(queue), 1);
    CU_ASSERT(sim_evq_pop(queue, &entry));
    ASSERT_U64_EQ(entry.data, 3);
    sim_evq_destroy(queue);
}

/* Cancelling the earliest, the latest and a middle event keeps the rest in order. */
static void test_evq_cancel_keeps_order_of_the_rest(void)
{
    struct sim_evq *queue = evq_fixture(64);
    sim_event_id ids[40];
    for (uint64_t index = 0; index < 40; index++)
        CU_ASSERT_EQUAL(sim_evq_push(queue, 100 - index, event_noop, NULL, index, &ids[index]),
                        SIM_OK);
    CU_ASSERT_EQUAL(sim_evq_cancel(queue, ids[39]), SIM_OK);   /* earliest, time 61 */
    CU_ASSERT_EQUAL(sim_evq_cancel(queue, ids[0]), SIM_OK);    /* latest, time 100 */
    CU_ASSERT_EQUAL(sim_evq_cancel(queue, ids[20]), SIM_OK);
    CU_ASSERT(sim_evq_check(queue));
    ASSERT_U64_EQ(sim_evq_peek_time(queue), 62);
    int bad = 0;
    uint64_t expected = 38;
    struct sim_evq_entry entry;
    while (sim_evq_pop(queue, &entry)) {
        bad += entry.data != expected;
        expected -= expected == 21 ? 2 : 1;
    }
    CU_ASSERT_EQUAL(bad, 0);
    ASSERT_U64_EQ(expected, 0);
    sim_evq_destroy(queue);
}

/* ---- Every operation against a model of the (time_ns, rank, seq) order ------------------ */

/* The order the queue promises, and the binary heap before it gave: the pending event with
 * the smallest (time_ns, rank, seq), found by a scan. The queue's runs are a way to find it
 * faster; this model knows nothing of them. */
#define ORDER_EVENTS_MAX 4096u
#define ORDER_STEPS 12000u

struct order_event {
    uint64_t time_ns;
    uint64_t seq;
    uint32_t rank;
    uint32_t domain;
    sim_event_id id;
    bool pending;
};

struct order_model {
    struct order_event events[ORDER_EVENTS_MAX];
    uint32_t pushed;
    uint32_t pending;
    uint64_t seq_next;      /* the queue's counter: one per push and per move to the end */
    int mismatches;
};

static bool order_less(const struct order_event *a, const struct order_event *b)
{
    if (a->time_ns != b->time_ns)
        return a->time_ns < b->time_ns;
    if (a->rank != b->rank)
        return a->rank < b->rank;
    return a->seq < b->seq;
}

static int order_min(const struct order_model *model)
{
    int best = -1;
    for (uint32_t index = 0; index < model->pushed; index++)
        if (model->events[index].pending &&
            (best < 0 || order_less(&model->events[index], &model->events[best])))
            best = (int)index;
    return best;
}

/* A random pending event at or after `start` (wrapping), or -1. */
static int order_pick(const struct order_model *model, uint32_t start)
{
    for (uint32_t step = 0; step < model->pushed; step++) {
        uint32_t index = (start + step) % model->pushed;
        if (model->events[index].pending)
            return (int)index;
    }
    return -1;
}

/* A time for the next operation: in "lockstep" a few instants shared by many events (a
 * fleet moving in step), else spread widely, sometimes far off (a parked event's time). */
static uint64_t order_time(struct sim_rng *rng, uint64_t now_ns, bool lockstep)
{
    if (lockstep)
        return now_ns + 1000 * sim_rng_below(rng, 3);
    if (sim_rng_below(rng, 50) == 0)
        return UINT64_MAX - sim_rng_below(rng, 2);
    return now_ns + sim_rng_below(rng, 1000000);
}

static void order_push(struct sim_evq *queue, struct order_model *model, uint64_t time_ns,
                       uint32_t rank)
{
    struct order_event *event = &model->events[model->pushed];
    event->time_ns = time_ns;
    event->rank = rank;
    event->domain = model->pushed % 7;
    event->seq = model->seq_next++;
    event->pending = true;
    model->mismatches += sim_evq_push_ranked(queue, event->domain, rank, time_ns, event_noop,
                                             &marker, model->pushed, &event->id) != SIM_OK;
    model->pushed++;
    model->pending++;
}

static void order_pop(struct sim_evq *queue, struct order_model *model)
{
    int expected = order_min(model);
    struct sim_evq_entry entry;
    if (!sim_evq_pop(queue, &entry)) {
        model->mismatches += expected >= 0;
        return;
    }
    if (expected < 0 || entry.data >= model->pushed) {
        model->mismatches++;
        return;
    }
    const struct order_event *event = &model->events[expected];
    model->mismatches += entry.data != (uint64_t)expected || entry.time_ns != event->time_ns ||
                         entry.seq != event->seq || entry.domain != event->domain;
    model->events[entry.data].pending = false;
    model->pending--;
}

/* Peek and lookup answer as the model does (lookup of an event that popped: false). */
static void order_look(const struct sim_evq *queue, const struct order_model *model,
                       uint32_t index)
{
    struct order_model *writable = (struct order_model *)model;
    int expected = order_min(model);
    if (expected >= 0) {
        uint64_t time_ns = 0;
        uint32_t domain = 0;
        sim_event_id id = SIM_EVENT_NONE;
        sim_evq_peek(queue, &time_ns, &domain, &id);
        writable->mismatches += id != model->events[expected].id ||
                                time_ns != model->events[expected].time_ns ||
                                sim_evq_peek_time(queue) != time_ns;
    }
    const struct order_event *event = &model->events[index];
    uint64_t time_ns = 0;
    uint32_t domain = 0;
    bool found = sim_evq_lookup(queue, event->id, &time_ns, &domain);
    writable->mismatches += found != event->pending ||
                            (found && (time_ns != event->time_ns || domain != event->domain));
}

/* One random operation: push (default or drawn rank), pop, cancel, move (keeping its seq,
 * or to the end of its new time), peek and lookup. */
static void order_step(struct sim_evq *queue, struct order_model *model, struct sim_rng *rng,
                       uint64_t now_ns, bool lockstep)
{
    uint64_t action = sim_rng_below(rng, 20);
    int picked = model->pushed > 0 ? order_pick(model, (uint32_t)sim_rng_below(rng,
                                                                              model->pushed))
                                   : -1;
    if (action < 7 && model->pushed < ORDER_EVENTS_MAX) {
        order_push(queue, model, order_time(rng, now_ns, lockstep), SIM_EVQ_RANK_DEFAULT);
    } else if (action < 9 && model->pushed < ORDER_EVENTS_MAX) {
        uint32_t rank = (uint32_t)sim_rng_below(rng, 4) + SIM_EVQ_RANK_DEFAULT - 2;
        order_push(queue, model, order_time(rng, now_ns, lockstep), rank);
    } else if (action < 14) {
        order_pop(queue, model);
    } else if (action < 15 && picked >= 0) {
        model->events[picked].pending = false;
        model->pending--;
        model->mismatches += sim_evq_cancel(queue, model->events[picked].id) != SIM_OK;
    } else if (action < 18 && picked >= 0) {
        struct order_event *event = &model->events[picked];
        bool last = action == 17;
        event->time_ns = order_time(rng, now_ns, lockstep);
        if (last) {
            event->seq = model->seq_next++;
            event->rank = SIM_EVQ_RANK_DEFAULT;
        }
        model->mismatches += sim_evq_move(queue, event->id, event->time_ns, last) != SIM_OK;
    } else if (model->pushed > 0) {
        order_look(queue, model, (uint32_t)sim_rng_below(rng, model->pushed));
    }
}

static void order_run(bool lockstep, uint64_t seed)
{
    static struct order_model model;
    model = (struct order_model){ 0 };
    struct sim_evq *queue = evq_fixture(ORDER_EVENTS_MAX);
    struct sim_rng rng;
    sim_rng_init_stream(&rng, seed, "evq_order");
    int bad_checks = 0;
    uint64_t now_ns = 0;
    for (uint32_t step = 0; step < ORDER_STEPS; step++) {
        order_step(queue, &model, &rng, now_ns, lockstep);
        bad_checks += !sim_evq_check(queue) || sim_evq_pending(queue) != model.pending;
        now_ns += lockstep ? 1000 * (sim_rng_below(&rng, 8) == 0) : sim_rng_below(&rng, 5000);
    }
    while (model.pending > 0 && model.mismatches == 0) {
        order_pop(queue, &model);
        bad_checks += !sim_evq_check(queue);
    }
    CU_ASSERT(model.pushed > ORDER_EVENTS_MAX / 2);
    CU_ASSERT_EQUAL(model.mismatches, 0);
    CU_ASSERT_EQUAL(bad_checks, 0);
    CU_ASSERT_EQUAL(sim_evq_pending(queue), 0);
    sim_evq_destroy(queue);
}

/* A fleet in step: thousands of events on three instants at a time, ranked pushes, moves
 * that keep their seq (out of order within their new time) and moves to the end: every
 * pop, peek and lookup is the model's, EQ1..EQ4 hold after every operation. */
static void test_evq_lockstep_operations_match_the_order_model(void)
{
    order_run(true, 7);
    order_run(true, 8);
}

/* The same with times spread over a million ns and a few at the end of time (a run per
 * event, more distinct times than the open-run table has entries). */
static void test_evq_spread_operations_match_the_order_model(void)
{
    order_run(false, 9);
    order_run(false, 10);
}

/* A queue that hovers around the size where its chains' heads change form (a sorted ring
 * up to 32 heads, a heap above, back to the ring at 16: evq.c): pending events kept
 * between 8 and 48, nearly every time distinct, with ranked pushes, cancels and moves of
 * heads among them. Every pop, peek and lookup is the model's and EQ1..EQ4 hold after every
 * operation, on both forms and across the conversions each way. */
static void test_evq_hovering_around_the_ring_size_matches_the_order_model(void)
{
    static struct order_model model;
    model = (struct order_model){ 0 };
    struct sim_evq *queue = evq_fixture(ORDER_EVENTS_MAX);
    struct sim_rng rng;
    sim_rng_init_stream(&rng, 11, "evq_hover");
    int bad_checks = 0;
    uint32_t pending_low = UINT32_MAX, pending_high = 0, swings = 0;
    bool growing = true;
    uint64_t now_ns = 0;
    for (uint32_t step = 0; step < ORDER_STEPS && model.pushed < ORDER_EVENTS_MAX; step++) {
        if (growing && model.pending >= 48)
            growing = false, swings++;
        else if (!growing && model.pending <= 8)
            growing = true, swings++;
        if (growing && sim_rng_below(&rng, 3) != 0)
            order_push(queue, &model, order_time(&rng, now_ns, false), SIM_EVQ_RANK_DEFAULT);
        else if (!growing && sim_rng_below(&rng, 3) != 0)
            order_pop(queue, &model);
        else
            order_step(queue, &model, &rng, now_ns, false);
        bad_checks += !sim_evq_check(queue) || sim_evq_pending(queue) != model.pending;
        pending_low = model.pending < pending_low ? model.pending : pending_low;
        pending_high = model.pending > pending_high ? model.pending : pending_high;
        now_ns += sim_rng_below(&rng, 5000);
    }
    while (model.pending > 0 && model.mismatches == 0) {
        order_pop(queue, &model);
        bad_checks += !sim_evq_check(queue);
    }
    CU_ASSERT(swings >= 20);
    CU_ASSERT(pending_low <= 8 && pending_high >= 48);
    CU_ASSERT_EQUAL(model.mismatches, 0);
    CU_ASSERT_EQUAL(bad_checks, 0);
    CU_ASSERT_EQUAL(sim_evq_pending(queue), 0);
    sim_evq_destroy(queue);
}

/* Full queue: pending_max events on one instant (one run); each move to a time of its own
 * needs a run more, and never fails (the room an event held is the room it takes), while a
 * push is still SIM_ELIMIT; moves keeping their seq put them back in seq order. */
static void test_evq_moves_at_pending_max_never_fail(void)
{
    struct sim_evq *queue = evq_fixture(8);
    sim_event_id ids[8];
    for (uint64_t index = 0; index < 8; index++)
        CU_ASSERT_EQUAL(sim_evq_push(queue, 100, event_noop, NULL, index, &ids[index]), SIM_OK);
    CU_ASSERT_EQUAL(sim_evq_push(queue, 1, event_noop, NULL, 99, NULL), SIM_ELIMIT);
    for (uint64_t index = 0; index < 8; index += 2)
        CU_ASSERT_EQUAL(sim_evq_move(queue, ids[index], 200 + index, false), SIM_OK);
    CU_ASSERT_EQUAL(sim_evq_move(queue, ids[7], 100, true), SIM_OK);     /* to its end */
    CU_ASSERT_EQUAL(sim_evq_push(queue, 1, event_noop, NULL, 99, NULL), SIM_ELIMIT);
    CU_ASSERT(sim_evq_check(queue));
    for (uint64_t index = 0; index < 8; index += 2)     /* back, behind their old neighbours */
        CU_ASSERT_EQUAL(sim_evq_reschedule(queue, ids[index], 100), SIM_OK);
    CU_ASSERT(sim_evq_check(queue));
    static const uint64_t order[] = { 0, 1, 2, 3, 4, 5, 6, 7 };
    int bad = 0;
    for (int index = 0; index < 8; index++) {
        struct sim_evq_entry entry;
        bad += !sim_evq_pop(queue, &entry) || entry.data != order[index] ||
               entry.time_ns != 100;
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(sim_evq_pending(queue), 0);
    sim_evq_destroy(queue);
}

/* sim_evq_upcoming: the next events in pop order, as far as the earliest time's chain goes
 * (a later time is not included), none from an empty queue or for a count of 0, and the
 * queue untouched: the pops that follow are the same. */
static void test_evq_upcoming_lists_the_next_events_of_the_earliest_chain(void)
{
    struct sim_evq *queue = evq_fixture(16);
    int args[6];
    sim_event_fn fns[8];
    void *found[8];
    CU_ASSERT_EQUAL(sim_evq_upcoming(queue, 3, fns, found), 0);
    CU_ASSERT_EQUAL(sim_evq_push(queue, 50, event_other, &args[5], 5, NULL), SIM_OK);
    for (uint64_t index = 0; index < 5; index++)
        CU_ASSERT_EQUAL(sim_evq_push(queue, 100, event_noop, &args[index], index, NULL), SIM_OK);
    CU_ASSERT_EQUAL(sim_evq_push(queue, 200, event_noop, &marker, 9, NULL), SIM_OK);
    CU_ASSERT_EQUAL(sim_evq_upcoming(queue, 3, fns, found), 1);   /* time 50 alone */
    CU_ASSERT(fns[0] == event_other);
    CU_ASSERT_PTR_EQUAL(found[0], &args[5]);
    CU_ASSERT_EQUAL(sim_evq_upcoming(queue, 0, fns, found), 0);
    struct sim_evq_entry entry;
    CU_ASSERT_FATAL(sim_evq_pop(queue, &entry));
    CU_ASSERT_EQUAL(sim_evq_upcoming(queue, 3, fns, found), 3);
    CU_ASSERT_EQUAL(sim_evq_upcoming(queue, 8, fns, found), 5);   /* not the one at 200 */
    int bad = 0;
    for (int index = 0; index < 5; index++)
        bad += fns[index] != event_noop || found[index] != &args[index];
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(sim_evq_pending(queue), 6);
    CU_ASSERT(sim_evq_check(queue));
    for (uint64_t index = 0; index < 5; index++)
        bad += !sim_evq_pop(queue, &entry) || entry.data != index || entry.arg != &args[index];
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(sim_evq_upcoming(queue, 3, fns, found), 1);
    CU_ASSERT_PTR_EQUAL(found[0], &marker);
    sim_evq_destroy(queue);
}

CU_ErrorCode evq_suite_add(void)
{
    static const struct test_entry tests[] = {
        TEST_ENTRY(test_evq_pops_in_time_order),
        TEST_ENTRY(test_evq_equal_time_is_fifo),
        TEST_ENTRY(test_evq_next_time_and_successor_behind_another_chain),
        TEST_ENTRY(test_evq_random_operations_pop_sorted_by_time_then_seq),
        TEST_ENTRY(test_evq_cancel_frees_room_under_pending_limit),
        TEST_ENTRY(test_evq_pending_max_one_holds_one_event),
        TEST_ENTRY(test_evq_cancel_of_finished_or_unknown_event_is_enoent),
        TEST_ENTRY(test_evq_stale_id_after_slot_reuse_is_enoent),
        TEST_ENTRY(test_evq_cancel_keeps_order_of_the_rest),
        TEST_ENTRY(test_evq_lockstep_operations_match_the_order_model),
        TEST_ENTRY(test_evq_spread_operations_match_the_order_model),
        TEST_ENTRY(test_evq_hovering_around_the_ring_size_matches_the_order_model),
        TEST_ENTRY(test_evq_moves_at_pending_max_never_fail),
        TEST_ENTRY(test_evq_upcoming_lists_the_next_events_of_the_earliest_chain),
    };
    return test_suite_register("evq", tests, sizeof(tests) / sizeof(tests[0]));
}
