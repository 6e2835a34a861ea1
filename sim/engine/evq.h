/* SPDX-License-Identifier: MIT */
/*
 * sim/engine/evq.h: the event queue, ordered by (time_ns, rank, seq).
 *
 * seq comes from one counter per queue, assigned at push, so two events for the
 * same instant and rank run in the order they were scheduled. Every event has rank
 * SIM_EVQ_RANK_DEFAULT unless pushed with sim_evq_push_ranked (the engine's seeded
 * tie-break among equal-time process wake-ups, engine.h), so without ranked pushes the
 * order is (time_ns, seq). An event is named by a
 * sim_event_id (slot + generation): cancelling an event that already ran or was
 * cancelled is detected (SIM_ENOENT), never a use-after-free. Push, pop and
 * cancel are O(log n) in the number of distinct pending times, O(1) for an event
 * joining or leaving the front of a time that already has events (an indexed binary
 * heap of equal-time chains; docs/architecture.md gives the measurements behind it).
 */
#ifndef SIM_ENGINE_EVQ_H
#define SIM_ENGINE_EVQ_H

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>

/* 0 never names an event. */
typedef uint64_t sim_event_id;
#define SIM_EVENT_NONE ((sim_event_id)0)

/* The rank of every event not pushed with sim_evq_push_ranked: the middle of the range, so
 * a ranked event may land before or after them. */
#define SIM_EVQ_RANK_DEFAULT 0x80000000u

typedef void (*sim_event_fn)(void *context, void *arg, uint64_t data);

struct sim_evq_entry {
    uint64_t time_ns;
    uint64_t seq;
    sim_event_fn fn;
    void *arg;
    uint64_t data;
    uint32_t domain;
    uint32_t pending;       /* sim_evq_pop: the events still pending after this one left */
};

struct sim_evq;

/* Ownership: returns a new queue owned by the caller; free with sim_evq_destroy().
 * Memory grows with use, up to pending_max events. NULL when out of memory. */
struct sim_evq *sim_evq_create(uint32_t pending_max);
void sim_evq_destroy(struct sim_evq *queue);

/* Schedules fn(context, arg, data) at time_ns. Returns 0, SIM_ELIMIT when pending_max
 * events are pending, or SIM_ENOMEM. *id_out (may be NULL) names the event. */
int sim_evq_push(struct sim_evq *queue, uint64_t time_ns, sim_event_fn fn, void *arg,
                 uint64_t data, sim_event_id *id_out);
/* sim_evq_push for `domain` (push itself uses domain 0). The queue only stores the
 * domain; the engine decides what it means (engine.h, "Domains"). */
int sim_evq_push_in(struct sim_evq *queue, uint32_t domain, uint64_t time_ns, sim_event_fn fn,
                    void *arg, uint64_t data, sim_event_id *id_out);
/* sim_evq_push_in with an explicit rank: among events of one instant, a lower rank runs
 * first (equal ranks: scheduling order). */
int sim_evq_push_ranked(struct sim_evq *queue, uint32_t domain, uint32_t rank, uint64_t time_ns,
                        sim_event_fn fn, void *arg, uint64_t data, sim_event_id *id_out);
/* Moves a pending event to time_ns, keeping its id and its seq (so among events of one
 * instant it keeps its place). Returns 0, or SIM_ENOENT. */
int sim_evq_reschedule(struct sim_evq *queue, sim_event_id id, uint64_t time_ns);
/* sim_evq_reschedule, or with `last` a fresh seq and SIM_EVQ_RANK_DEFAULT, as if pushed
 * now: it runs after every default-rank event already scheduled for time_ns. */
int sim_evq_move(struct sim_evq *queue, sim_event_id id, uint64_t time_ns, bool last);
/* True and the time and domain of pending event `id`, or false (ran, cancelled, never
 * existed). */
bool sim_evq_lookup(const struct sim_evq *queue, sim_event_id id, uint64_t *time_ns,
                    uint32_t *domain);
/* The earliest event's time, domain and id, left in place; the queue must not be empty. */
void sim_evq_peek(const struct sim_evq *queue, uint64_t *time_ns, uint32_t *domain,
                  sim_event_id *id);
/* Removes a pending event. Returns 0, or SIM_ENOENT if it already ran or was cancelled. */
int sim_evq_cancel(struct sim_evq *queue, sim_event_id id);
/* True and the earliest event in *entry (removed), or false when empty. */
bool sim_evq_pop(struct sim_evq *queue, struct sim_evq_entry *entry);
/* The functions and arguments of up to `count` events that run next, the earliest first,
 * as far as they follow one another in the chain of the earliest time (an event of a later
 * time is not looked for); returns how many were filled. The slot of the event after the
 * last one filled is prefetched, so that the next call reads it from the cache. For a
 * caller that starts loading what those events will touch: nothing here changes the queue,
 * its order or any event. */
uint32_t sim_evq_upcoming(const struct sim_evq *queue, uint32_t count, sim_event_fn *fns,
                          void **args);
/* Time of the earliest event; the queue must not be empty. */
uint64_t sim_evq_peek_time(const struct sim_evq *queue);
/* Time of the earliest event, or UINT64_MAX when the queue is empty (the run loop's one
 * question per event). */
uint64_t sim_evq_next_time(const struct sim_evq *queue);
/* The count the engine asks at every blocking socket call (sim_engine_prefetching), laid
 * out as the first member of struct sim_evq (evq.c) so that asking is a load, not a call.
 * Only evq.c writes it. */
struct sim_evq_head {
    uint32_t pending;
};

static inline uint32_t sim_evq_pending(const struct sim_evq *queue)
{
    assert(queue != NULL);
    /* A pointer to a structure, converted, points to its first member (C11 6.7.2.1). */
    return ((const struct sim_evq_head *)(const void *)queue)->pending;
}
uint32_t sim_evq_pending_max(const struct sim_evq *queue);
/* Whole-structure check (heap order, index back-links); O(n), for tests and asserts. */
bool sim_evq_check(const struct sim_evq *queue);

#endif /* SIM_ENGINE_EVQ_H */
