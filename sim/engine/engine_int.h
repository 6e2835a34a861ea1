/* SPDX-License-Identifier: MIT */
/*
 * sim/engine/engine_int.h: the engine's state, shared by engine.c and process.c
 * only. Nothing outside sim/engine includes this file.
 */
#ifndef SIM_ENGINE_ENGINE_INT_H
#define SIM_ENGINE_ENGINE_INT_H

#include <assert.h>

#include "engine.h"
#include "error.h"
#include "evq.h"
#include "process.h"
#include "rng.h"

struct rng_stream {
    char name[SIM_RNG_STREAM_NAME_BYTES_MAX];
    struct sim_rng rng;
};

/* An event of a frozen domain that came due (domain.c). */
struct sim_parked {
    sim_event_id id;
    uint32_t domain;
    uint64_t time_ns;               /* when it was due: thawing never runs it earlier */
};

/* A domain thawed behind one of its events (domain.c, sim_engine_domain_thaw_after). */
struct sim_gate {
    uint32_t domain;
    sim_event_id id;                /* the one event of `domain` that may run */
};

/* A background event (engine.h): ordered by (time_ns, seq) among its kind. */
struct sim_background {
    uint64_t time_ns;
    uint64_t seq;
    sim_event_fn fn;
    void *arg;
    uint64_t data;
};

/* Parked events wait at this time, after every real one (SIM_TIME_NEVER is "none"). */
#define SIM_TIME_PARKED (SIM_TIME_NEVER - 1)

struct sim_engine {
    struct sim_engine_head head;    /* first: the current process and now_ns (engine.h) */
    struct sim_limits limits;
    uint64_t seed;
    uint64_t events_run;
    struct rng_stream streams[SIM_RNG_STREAMS_MAX];   /* in creation order */
    uint32_t stream_count;
    struct sim_trace_sink sinks[SIM_TRACE_SINKS_MAX];
    uint32_t sink_count;
    /* When sinks[0] is a digest's sink (sim_digest_sink), its digest, which emit feeds with
     * a direct call, and 1: the loop over sinks starts after it. Else NULL and 0. */
    struct sim_digest *digest_first;
    uint32_t sinks_looped_first;
    /* sim_trace_name_id of each sink's kind_only and kind_also (0 when it has none): an
     * event whose kind id differs from both is neither kind, without a strcmp. */
    uint64_t sink_kind_ids[SIM_TRACE_SINKS_MAX][2];
    /* True while every sink the loop visits has a kind_only: then an event whose kind id
     * is none of theirs (wanted_kind_ids) skips the loop at once. */
    bool looped_sinks_all_filtered;
    uint32_t wanted_kind_count;
    uint64_t wanted_kind_ids[2 * SIM_TRACE_SINKS_MAX];
    /* One bit per wanted id (engine.c, wanted_kind_bit): a clear bit rules a kind out
     * without the loop over wanted_kind_ids. */
    uint64_t wanted_kind_mask;
    uint64_t trace_seq_next;        /* the one counter of trace event sequence numbers */
    struct sim_process *live_head;  /* live processes, creation order */
    struct sim_process *live_tail;
    uint32_t live_count;
    uint32_t pid_next;
    sim_progress_fn progress_fn;    /* output only; never feeds the simulation */
    void *progress_state;
    uint64_t progress_every_events;
    sim_after_event_fn after_event_fn;  /* sim_engine_set_after_event, or NULL */
    void *after_event_state;
    uint32_t current_domain;        /* of the event running now; 0 between events */
    uint8_t *frozen;                /* owned: bit per domain, grown to the highest frozen */
    uint32_t frozen_bytes;          /* <= SIM_DOMAINS_MAX / 8 + 1; a domain past it is thawed */
    uint32_t frozen_count;          /* domains frozen now: 0 skips the park check per event */
    struct sim_parked *parked;      /* owned: parked events, in the order they came due */
    uint32_t parked_count;
    uint32_t parked_capacity;
    struct sim_gate *gates;         /* owned: domains waiting for one event, at most one each */
    uint32_t gate_count;            /* 0 (the common case) skips the gate checks */
    uint32_t gate_capacity;
    struct sim_rng *wakeup_rng;     /* "jitter.schedule" while the tie-break is on, or NULL */
    struct sim_background background[SIM_BACKGROUND_EVENTS_MAX];   /* unordered */
    uint32_t background_count;
    uint64_t background_seq_next;
    int abort_code;                 /* non-zero: stop the run after the current event */
    char error_message[SIM_ERROR_MESSAGE_BYTES_MAX];
};

/* engine.c, out of line because rare: the failures of sim__engine_schedule_ranked. Each
 * records the error and returns the code. */
int sim__engine_time_past_end(struct sim_engine *engine, uint64_t time_ns);
int sim__engine_push_failed(struct sim_engine *engine, int rc);

/* sim_engine_schedule_at_in with an explicit rank (evq.h). Inline: every sleep and every
 * resume of a process (process.c) schedules through it, and the call and its checks of
 * the queue's answer cost more than the checks themselves. */
static inline int sim__engine_schedule_ranked(struct sim_engine *engine, uint32_t domain,
                                              uint32_t rank, uint64_t time_ns,
                                              sim_event_fn fn, void *arg, uint64_t data,
                                              sim_event_id *id_out)
{
    assert(engine != NULL);
    assert(time_ns >= engine->head.now_ns);      /* EN1 */
    assert(domain < SIM_DOMAINS_MAX);
    if (time_ns > SIM_TIME_END_NS)
        return sim__engine_time_past_end(engine, time_ns);
    int rc = sim_evq_push_ranked(engine->head.queue, domain, rank, time_ns, fn, arg, data, id_out);
    if (__builtin_expect(rc != SIM_OK, 0))
        return sim__engine_push_failed(engine, rc);
    return SIM_OK;
}

/* process.c's rank for a resume event: drawn while the tie-break is on, else the default. */
static inline uint32_t sim__engine_resume_rank(struct sim_engine *engine)
{
    if (engine->wakeup_rng == NULL)
        return SIM_EVQ_RANK_DEFAULT;
    return (uint32_t)(sim_rng_next(engine->wakeup_rng) >> 32);     /* the best-mixed bits */
}

/* domain.c: parks the earliest event if its domain holds its events; true if it did.
 * When the earliest event is its domain's gate, opens the gate (the domain's parked
 * events follow it at its time) and returns false: it runs. */
bool sim__domain_park_top(struct sim_engine *engine);
/* domain.c: event `id` was cancelled; a domain waiting for it waits no more. */
void sim__domain_cancelled(struct sim_engine *engine, sim_event_id id);

/* digest.c: the digest behind a sink that sim_digest_sink made, or NULL for any other. */
struct sim_digest *sim__digest_of_sink(const struct sim_trace_sink *sink);

/* process.c */
void sim__process_deadlock_scan(struct sim_engine *engine, bool *deadlock_out);
/* How many events ahead of the running one the engine starts loading state (engine.c,
 * prefetch_upcoming): one step of a chain of dependent loads per event. */
#define SIM_PREFETCH_DISTANCE_MAX 3u
/* Starts loading what a pending event (fn, arg) will read first when it runs `distance`
 * events from now (1: next; engine.c, prefetch_upcoming): at 3 its argument (a process's
 * lines), at 2 a process's owner, prefetch_hints and prefetch_spans, at 1 what the
 * owner's ops->prefetch names. Each step reads only what the step before loaded. Reads a
 * pending event's process, which lives until that event runs or is cancelled; changes
 * nothing. */
void sim__process_prefetch(sim_event_fn fn, void *arg, uint32_t distance);

#endif /* SIM_ENGINE_ENGINE_INT_H */
