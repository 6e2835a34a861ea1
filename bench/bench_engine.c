/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_engine.c: event-queue and event-loop throughput (events/s).
 *
 * Workload: the classic hold model. N events are kept pending; each step pops
 * the earliest event and pushes one new event at its time plus a pseudo-random
 * delay (1..65 536 ns, from a fixed xorshift64, so ties happen at large N and
 * every run sees the same delays). Measured at N = 10, 1 000, 100 000 and
 * 1 000 000 through sim_evq (push/pop, a no-op callback stored with each event).
 *
 * Reference: in the same run, the same workload and the same delays through a
 * minimal binary heap of (time_ns, seq) keys written below, with no payload and
 * no cancel support: the cost floor of any heap-based queue on this machine.
 * The ratio (engine / reference) is what to track; target 0.8 for the queue.
 *
 * engine_run_1k_pending measures the whole path a simulation uses:
 * sim_engine_schedule_after from inside a callback, and sim_engine_run
 * dispatching it (clock, counters, stop checks), against the same reference at
 * 1 000 pending; its target is lower (0.5) because it does that extra work.
 */
#include <stdio.h>
#include <stdlib.h>

#include "bench/bench.h"
#include "sim/engine/engine.h"
#include "sim/engine/evq.h"

#define DELAY_MASK 0xFFFFu
#define XORSHIFT_SEED 0x9E3779B97F4A7C15ull

static inline uint64_t delay_next(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return (x & DELAY_MASK) + 1;
}

/* ---- The reference heap ------------------------------------------------------------- */

struct ref_key {
    uint64_t time_ns;
    uint64_t seq;
};

struct ref_heap {
    struct ref_key *keys;
    uint32_t count;
    uint64_t seq_next;
};

static inline int ref_less(const struct ref_key *a, const struct ref_key *b)
{
    return a->time_ns < b->time_ns || (a->time_ns == b->time_ns && a->seq < b->seq);
}

static inline void ref_push(struct ref_heap *heap, uint64_t time_ns)
{
    struct ref_key key = { .time_ns = time_ns, .seq = heap->seq_next++ };
    uint32_t index = heap->count++;
    while (index > 0) {
        uint32_t parent = (index - 1) / 2;
        if (!ref_less(&key, &heap->keys[parent]))
            break;
        heap->keys[index] = heap->keys[parent];
        index = parent;
    }
    heap->keys[index] = key;
}

static inline struct ref_key ref_pop(struct ref_heap *heap)
{
    struct ref_key top = heap->keys[0];
    struct ref_key last = heap->keys[--heap->count];
    uint32_t count = heap->count;
    uint32_t index = 0;
    for (;;) {
        uint32_t child = 2 * index + 1;
        if (child >= count)
            break;
        if (child + 1 < count && ref_less(&heap->keys[child + 1], &heap->keys[child]))
            child++;
        if (!ref_less(&heap->keys[child], &last))
            break;
        heap->keys[index] = heap->keys[child];
        index = child;
    }
    if (count > 0)
        heap->keys[index] = last;
    return top;
}

/* Events per second of the hold model on the reference heap. */
static double measure_reference(uint32_t pending, uint64_t steps)
{
    struct ref_heap heap = { .keys = malloc((size_t)pending * sizeof(struct ref_key)) };
    if (heap.keys == NULL) {
        fprintf(stderr, "bench_engine: out of memory\n");
        return 0.0;
    }
    uint64_t state = XORSHIFT_SEED;
    for (uint32_t index = 0; index < pending; index++)
        ref_push(&heap, delay_next(&state));
    uint64_t checksum = 0;
    double start = bench_now_seconds();
    for (uint64_t step = 0; step < steps; step++) {
        struct ref_key key = ref_pop(&heap);
        checksum += key.seq;
        ref_push(&heap, key.time_ns + delay_next(&state));
    }
    double seconds = bench_now_seconds() - start;
    bench_sink_u64(checksum);
    free(heap.keys);
    return (double)steps / seconds;
}

/* ---- sim_evq ---------------------------------------------------------------------------- */

static void event_noop(void *context, void *arg, uint64_t data)
{
    (void)context;
    (void)arg;
    (void)data;
}

/* Events per second of the hold model on sim_evq. */
static double measure_evq(uint32_t pending, uint64_t steps)
{
    struct sim_evq *queue = sim_evq_create(pending);
    if (queue == NULL) {
        fprintf(stderr, "bench_engine: out of memory\n");
        return 0.0;
    }
    uint64_t state = XORSHIFT_SEED;
    for (uint32_t index = 0; index < pending; index++)
        (void)sim_evq_push(queue, delay_next(&state), event_noop, NULL, 0, NULL);
    uint64_t checksum = 0;
    int failures = 0;
    double start = bench_now_seconds();
    for (uint64_t step = 0; step < steps; step++) {
        struct sim_evq_entry entry;
        failures += !sim_evq_pop(queue, &entry);
        checksum += entry.seq;
        failures += sim_evq_push(queue, entry.time_ns + delay_next(&state), event_noop, NULL,
                                 0, NULL) != SIM_OK;
    }
    double seconds = bench_now_seconds() - start;
    bench_sink_u64(checksum);
    sim_evq_destroy(queue);
    if (failures != 0)
        fprintf(stderr, "bench_engine: %d queue operations failed\n", failures);
    return (double)steps / seconds;
}

/* ---- The engine's run loop -------------------------------------------------------------- */

struct hold_state {
    struct sim_engine *engine;
    uint64_t xorshift;
    uint64_t failures;
};

static void event_reschedule(void *context, void *arg, uint64_t data)
{
    (void)context;
    (void)data;
    struct hold_state *hold = arg;
    hold->failures += sim_engine_schedule_after(hold->engine, delay_next(&hold->xorshift),
                                                event_reschedule, hold, 0, NULL) != SIM_OK;
}

/* Events per second of the hold model through sim_engine_schedule_* and sim_engine_run. */
static double measure_engine_run(uint32_t pending, uint64_t steps)
{
    struct sim_limits limits = sim_limits_default();
    limits.events_pending_max = pending;
    struct hold_state hold = { .engine = sim_engine_create(&limits, 1), .xorshift = XORSHIFT_SEED };
    if (hold.engine == NULL) {
        fprintf(stderr, "bench_engine: out of memory\n");
        return 0.0;
    }
    for (uint32_t index = 0; index < pending; index++)
        hold.failures += sim_engine_schedule_at(hold.engine, delay_next(&hold.xorshift),
                                                event_reschedule, &hold, 0, NULL) != SIM_OK;
    struct sim_run_result result;
    double start = bench_now_seconds();
    sim_engine_run(hold.engine, SIM_TIME_NEVER, steps, &result);
    double seconds = bench_now_seconds() - start;
    if (hold.failures != 0 || result.stopped != SIM_STOP_MAX_EVENTS)
        fprintf(stderr, "bench_engine: run stopped %s, %llu failures\n",
                sim_stop_name(result.stopped), (unsigned long long)hold.failures);
    bench_sink_u64(result.now_ns);
    sim_engine_destroy(hold.engine);
    return (double)result.events_run / seconds;
}

/* Steps per size: about 0.3-1 s each on a current machine (larger heaps are slower per
 * step, so they take fewer steps). */
static const struct {
    const char *name;
    uint32_t pending;
    uint64_t steps;
} sizes[] = {
    { "engine_10_pending", 10, 20000000 },
    { "engine_1k_pending", 1000, 8000000 },
    { "engine_100k_pending", 100000, 3000000 },
    { "engine_1m_pending", 1000000, 2000000 },
};

void bench_engine(void)
{
    double reference_1k = 0.0;
    for (size_t index = 0; index < sizeof(sizes) / sizeof(sizes[0]); index++) {
        double reference = measure_reference(sizes[index].pending, sizes[index].steps);
        double value = measure_evq(sizes[index].pending, sizes[index].steps);
        bench_report(sizes[index].name, value, "events/s", reference, 0.8);
        if (sizes[index].pending == 1000)
            reference_1k = reference;
    }
    double run_value = measure_engine_run(1000, 8000000);
    bench_report("engine_run_1k_pending", run_value, "events/s", reference_1k, 0.5);
}
