/* SPDX-License-Identifier: MIT */
/*
 * sim/engine/engine.c: the world's clock, event loop, random streams and trace
 * dispatch.
 *
 * Invariants:
 *   EN1  now_ns never decreases; an event runs at exactly its time.
 *   EN2  Trace events are stamped with seq 0, 1, 2, ... in emission order and the
 *        current time, and every sink sees them in that order.
 *   EN3  The run stops after the event during which abort_code was set.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest_int.h"
#include "engine_int.h"

struct sim_engine *sim_engine_create(const struct sim_limits *limits, uint64_t seed)
{
    assert(limits != NULL);
    assert(limits->events_pending_max > 0);
    assert(limits->events_pending_max <= SIM_EVENTS_PENDING_CEILING);
    struct sim_engine *engine = calloc(1, sizeof(*engine));
    if (engine == NULL)
        return NULL;
    engine->limits = *limits;
    engine->seed = seed;
    engine->pid_next = 1;
    engine->head.queue = sim_evq_create(limits->events_pending_max);
    if (engine->head.queue == NULL) {
        free(engine);
        return NULL;
    }
    return engine;
}

void sim_engine_destroy(struct sim_engine *engine)
{
    if (engine == NULL)
        return;
    /* Processes still live belong to owners that should have destroyed them; free what
     * is left so a failed run does not leak. */
    while (engine->live_head != NULL) {
        struct sim_process *process = engine->live_head;
        engine->live_head = process->live_next;
        if (process->ops->release != NULL)
            process->ops->release(process);
        free(process);
    }
    sim_evq_destroy(engine->head.queue);
    free(engine->parked);
    free(engine->gates);
    free(engine->frozen);
    free(engine);
}

uint64_t sim_engine_seed(const struct sim_engine *engine)
{
    return engine->seed;
}

const struct sim_limits *sim_engine_limits(const struct sim_engine *engine)
{
    return &engine->limits;
}

const char *sim_engine_error_message(const struct sim_engine *engine)
{
    return engine->error_message;
}

int sim_engine_fail(struct sim_engine *engine, int code, const char *format, ...)
{
    assert(engine != NULL);
    assert(code < 0);
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(engine->error_message, sizeof(engine->error_message), format, arguments);
    va_end(arguments);
    return code;
}

void sim_engine_abort(struct sim_engine *engine, int code)
{
    assert(code < 0);
    if (engine->abort_code == 0)
        engine->abort_code = code;
}

int sim_engine_abort_code(const struct sim_engine *engine)
{
    return engine->abort_code;
}

int sim_engine_schedule_at(struct sim_engine *engine, uint64_t time_ns, sim_event_fn fn,
                           void *arg, uint64_t data, sim_event_id *id_out)
{
    assert(engine != NULL);
    return sim_engine_schedule_at_in(engine, engine->current_domain, time_ns, fn, arg, data,
                                     id_out);
}

int sim_engine_schedule_at_in(struct sim_engine *engine, uint32_t domain, uint64_t time_ns,
                              sim_event_fn fn, void *arg, uint64_t data, sim_event_id *id_out)
{
    return sim__engine_schedule_ranked(engine, domain, SIM_EVQ_RANK_DEFAULT, time_ns, fn, arg,
                                       data, id_out);
}

/* An event past SIM_TIME_END_NS can never run: the run stops with that error (EN3), so no
 * caller has to tell a lost event from a refused one. */
int sim__engine_time_past_end(struct sim_engine *engine, uint64_t time_ns)
{
    int rc = sim_engine_fail(engine, SIM_EINVAL, "event time %llu ns is past the end of "
                             "simulated time (%llu ns)", (unsigned long long)time_ns,
                             (unsigned long long)SIM_TIME_END_NS);
    sim_engine_abort(engine, rc);
    return rc;
}

int sim__engine_push_failed(struct sim_engine *engine, int rc)
{
    if (rc == SIM_ELIMIT)
        return sim_engine_fail(engine, rc, "limit events_pending_max (%u) exceeded",
                               engine->limits.events_pending_max);
    assert(rc == SIM_ENOMEM);
    return sim_engine_fail(engine, rc, "out of memory growing the event queue");
}

int sim_engine_schedule_after(struct sim_engine *engine, uint64_t delay_ns, sim_event_fn fn,
                              void *arg, uint64_t data, sim_event_id *id_out)
{
    return sim_engine_schedule_after_in(engine, engine->current_domain, delay_ns, fn, arg, data,
                                        id_out);
}

int sim_engine_schedule_after_in(struct sim_engine *engine, uint32_t domain, uint64_t delay_ns,
                                 sim_event_fn fn, void *arg, uint64_t data, sim_event_id *id_out)
{
    uint64_t time_ns = engine->head.now_ns + delay_ns;
    if (time_ns < engine->head.now_ns)
        return sim_engine_fail(engine, SIM_EINVAL, "delay of %llu ns overflows simulated time",
                               (unsigned long long)delay_ns);
    return sim_engine_schedule_at_in(engine, domain, time_ns, fn, arg, data, id_out);
}

uint32_t sim_engine_current_domain(const struct sim_engine *engine)
{
    assert(engine != NULL);
    return engine->current_domain;
}

int sim_engine_cancel(struct sim_engine *engine, sim_event_id id)
{
    int rc = sim_evq_cancel(engine->head.queue, id);
    if (rc == SIM_OK && engine->gate_count != 0)
        sim__domain_cancelled(engine, id);      /* DO3: a gate is a pending event */
    return rc;
}

int sim_engine_schedule_background_at(struct sim_engine *engine, uint64_t time_ns,
                                      sim_event_fn fn, void *arg, uint64_t data)
{
    assert(engine != NULL && fn != NULL);
    assert(time_ns >= engine->head.now_ns);      /* EN1 */
    if (time_ns > SIM_TIME_END_NS)
        return sim__engine_time_past_end(engine, time_ns);
    if (engine->background_count >= SIM_BACKGROUND_EVENTS_MAX)
        return sim_engine_fail(engine, SIM_ELIMIT, "limit SIM_BACKGROUND_EVENTS_MAX (%u) "
                               "exceeded", SIM_BACKGROUND_EVENTS_MAX);
    engine->background[engine->background_count++] = (struct sim_background){
        .time_ns = time_ns, .seq = engine->background_seq_next++, .fn = fn, .arg = arg,
        .data = data,
    };
    return SIM_OK;
}

uint32_t sim_engine_background_pending(const struct sim_engine *engine)
{
    return engine->background_count;
}

/* The earliest background event that may run now (engine.h): due no later than until_ns
 * and the earliest other runnable event. Its index, or -1. */
static int background_due(const struct sim_engine *engine, uint64_t until_ns,
                          uint64_t next_event_ns)
{
    if (engine->background_count == 0)
        return -1;
    uint32_t first = 0;
    for (uint32_t index = 1; index < engine->background_count; index++) {
        const struct sim_background *event = &engine->background[index];
        const struct sim_background *best = &engine->background[first];
        if (event->time_ns < best->time_ns ||
            (event->time_ns == best->time_ns && event->seq < best->seq))
            first = index;
    }
    uint64_t time_ns = engine->background[first].time_ns;
    return time_ns <= until_ns && time_ns <= next_event_ns ? (int)first : -1;
}

/* What follows every event: the after-event check and the progress report (inline: both
 * are usually off, and the run loop pays two tests instead of a call). */
static inline __attribute__((always_inline)) void event_done(struct sim_engine *engine)
{
    if (engine->after_event_fn != NULL)
        engine->after_event_fn(engine->after_event_state, engine);
    if (engine->progress_every_events != 0 &&
        engine->events_run % engine->progress_every_events == 0)
        engine->progress_fn(engine->progress_state, engine->head.now_ns, engine->events_run);
}

static void background_run(struct sim_engine *engine, uint32_t index)
{
    assert(index < engine->background_count);
    struct sim_background event = engine->background[index];
    engine->background[index] = engine->background[--engine->background_count];
    assert(event.time_ns >= engine->head.now_ns);    /* EN1 */
    engine->head.now_ns = event.time_ns;
    engine->events_run++;
    engine->current_domain = 0;
    event.fn(engine, event.arg, event.data);
    event_done(engine);
}

uint32_t sim_engine_events_pending(const struct sim_engine *engine)
{
    return sim_evq_pending(engine->head.queue);
}

uint64_t sim_engine_events_run(const struct sim_engine *engine)
{
    return engine->events_run;
}

struct sim_rng *sim_engine_rng(struct sim_engine *engine, const char *name)
{
    assert(engine != NULL);
    assert(name != NULL);
    if (strlen(name) >= SIM_RNG_STREAM_NAME_BYTES_MAX)
        return NULL;
    for (uint32_t index = 0; index < engine->stream_count; index++) {
        if (strcmp(engine->streams[index].name, name) == 0)
            return &engine->streams[index].rng;
    }
    if (engine->stream_count >= SIM_RNG_STREAMS_MAX)
        return NULL;
    struct rng_stream *stream = &engine->streams[engine->stream_count++];
    snprintf(stream->name, sizeof(stream->name), "%s", name);
    sim_rng_init_stream(&stream->rng, engine->seed, name);
    return &stream->rng;
}

int sim_engine_set_wakeup_shuffle(struct sim_engine *engine, bool on)
{
    assert(engine != NULL);
    if (!on) {
        engine->wakeup_rng = NULL;
        return SIM_OK;
    }
    struct sim_rng *rng = sim_engine_rng(engine, "jitter.schedule");
    if (rng == NULL)
        return sim_engine_fail(engine, SIM_ELIMIT, "limit SIM_RNG_STREAMS_MAX (%u) exceeded "
                               "creating stream jitter.schedule", SIM_RNG_STREAMS_MAX);
    engine->wakeup_rng = rng;
    return SIM_OK;
}

bool sim_engine_wakeup_shuffle(const struct sim_engine *engine)
{
    assert(engine != NULL);
    return engine->wakeup_rng != NULL;
}

/* A kind id's bit in wanted_kind_mask: its top six bits (a name id's bits are all well
 * mixed) pick one of 64. */
static inline uint64_t wanted_kind_bit(uint64_t kind_id)
{
    return 1ull << (kind_id >> 58);
}

/* Recomputes looped_sinks_all_filtered, wanted_kind_ids and wanted_kind_mask from the
 * sinks attached. */
static void sinks_filter_update(struct sim_engine *engine)
{
    engine->looped_sinks_all_filtered = true;
    engine->wanted_kind_count = 0;
    engine->wanted_kind_mask = 0;
    for (uint32_t index = engine->sinks_looped_first; index < engine->sink_count; index++) {
        if (engine->sinks[index].kind_only == NULL)
            engine->looped_sinks_all_filtered = false;
        for (unsigned which = 0; which < 2; which++) {
            uint64_t id = engine->sink_kind_ids[index][which];
            if (id != 0) {
                assert(engine->wanted_kind_count < 2 * SIM_TRACE_SINKS_MAX);
                engine->wanted_kind_ids[engine->wanted_kind_count++] = id;
                engine->wanted_kind_mask |= wanted_kind_bit(id);
            }
        }
    }
}

/* False when every looped sink filters by kind and `event`'s kind is none of theirs. */
static inline bool some_sink_may_want(const struct sim_engine *engine,
                                      const struct sim_trace_event *event)
{
    if (!engine->looped_sinks_all_filtered || event->kind_id == 0)
        return true;
    /* Most events are of no wanted kind, and their bit says so at once (with no sink but
     * the digest the mask is 0); a set bit may be another kind's: the ids decide. */
    if ((engine->wanted_kind_mask & wanted_kind_bit(event->kind_id)) == 0)
        return false;
    for (uint32_t index = 0; index < engine->wanted_kind_count; index++) {
        if (engine->wanted_kind_ids[index] == event->kind_id)
            return true;
    }
    return false;
}

int sim_engine_sink_attach(struct sim_engine *engine, struct sim_trace_sink sink)
{
    assert(sink.emit != NULL);
    if (engine->sink_count >= SIM_TRACE_SINKS_MAX)
        return sim_engine_fail(engine, SIM_ELIMIT, "limit SIM_TRACE_SINKS_MAX (%u) exceeded",
                               SIM_TRACE_SINKS_MAX);
    if (engine->sink_count == 0) {
        /* The digest sees every event and never fails: first in line, it is fed by a direct
         * call instead of the loop's checks and indirect call (the same events, in the same
         * order, as through the loop). */
        engine->digest_first = sim__digest_of_sink(&sink);
        engine->sinks_looped_first = engine->digest_first != NULL ? 1 : 0;
    }
    assert(sink.kind_also == NULL || sink.kind_only != NULL);
    const char *kinds[2] = { sink.kind_only, sink.kind_also };
    for (unsigned which = 0; which < 2; which++)
        engine->sink_kind_ids[engine->sink_count][which] =
            kinds[which] != NULL ? sim_trace_name_id(kinds[which], (uint32_t)strlen(kinds[which]))
                                 : 0;
    engine->sinks[engine->sink_count++] = sink;
    sinks_filter_update(engine);
    return SIM_OK;
}

void sim_engine_sinks_detach(struct sim_engine *engine)
{
    engine->sink_count = 0;
    engine->digest_first = NULL;
    engine->sinks_looped_first = 0;
    sinks_filter_update(engine);
}

/* Whether sink `index`, which has a kind_only, wants `event`. Different ids: different
 * kinds. Equal ids (or an id not known): the names decide, so a collision of ids cannot
 * hand a sink another kind. */
static inline bool sink_wants_kind(const struct sim_engine *engine, uint32_t index,
                                   const struct sim_trace_event *event)
{
    const struct sim_trace_sink *sink = &engine->sinks[index];
    const uint64_t *ids = engine->sink_kind_ids[index];
    uint64_t kind_id = event->kind_id;
    if (kind_id != 0 && kind_id != ids[0] && kind_id != ids[1])
        return false;
    return strcmp(sink->kind_only, event->kind) == 0 ||
           (sink->kind_also != NULL && strcmp(sink->kind_also, event->kind) == 0);
}

int sim_engine_emit(struct sim_engine *engine, struct sim_trace_event *event)
{
    assert(engine != NULL);
    assert(event->field_count <= SIM_TRACE_FIELDS_MAX);
    if (engine->trace_seq_next >= engine->limits.trace_events_max) {
        sim_engine_abort(engine, SIM_ELIMIT);
        return sim_engine_fail(engine, SIM_ELIMIT, "limit trace_events_max (%llu) exceeded",
                               (unsigned long long)engine->limits.trace_events_max);
    }
    event->seq = engine->trace_seq_next++;      /* EN2 */
    event->time_ns = engine->head.now_ns;
    /* Only the first byte is cleared: zero-filling the whole buffer for every sink of every
     * event was the largest single cost of an untraced run, and a sink writes its message
     * only when it fails. */
    if (engine->digest_first != NULL)
        sim__digest_add_inline(engine->digest_first, event);
    if (!some_sink_may_want(engine, event))
        return SIM_OK;      /* the common case of a run without a trace file */
    char message[SIM_ERROR_MESSAGE_BYTES_MAX];
    for (uint32_t index = engine->sinks_looped_first; index < engine->sink_count; index++) {
        struct sim_trace_sink *sink = &engine->sinks[index];
        if (event->layer > sink->level)
            continue;
        if (sink->kind_only != NULL && !sink_wants_kind(engine, index, event))
            continue;
        message[0] = '\0';
        int rc = sink->emit(sink->state, event, message);
        if (rc < 0) {
            message[sizeof(message) - 1] = '\0';
            sim_engine_abort(engine, rc);
            return sim_engine_fail(engine, rc, "trace sink %s: %s", sink->name, message);
        }
    }
    return SIM_OK;
}

uint64_t sim_engine_trace_events(const struct sim_engine *engine)
{
    return engine->trace_seq_next;
}

const char *sim_stop_name(enum sim_stop stop)
{
    switch (stop) {
    case SIM_STOP_IDLE: return "idle";
    case SIM_STOP_UNTIL: return "until";
    case SIM_STOP_MAX_EVENTS: return "max_events";
    case SIM_STOP_DEADLOCK: return "deadlock";
    case SIM_STOP_ERROR: return "error";
    }
    return "?";
}

static enum sim_stop stop_when_empty(struct sim_engine *engine)
{
    bool deadlock = false;
    sim__process_deadlock_scan(engine, &deadlock);
    return deadlock ? SIM_STOP_DEADLOCK : SIM_STOP_IDLE;
}

/* In a large world each event finds its state out of every cache: its process, the
 * process's owner and coroutine were last touched a whole round of the world ago, and each
 * is known only once the one before is loaded. So while one event runs, the loads for the
 * next SIM_PREFETCH_DISTANCE_MAX are started, one link of that chain deeper the nearer an
 * event is (sim__process_prefetch), each step reading only lines the step before loaded.
 * Only in a world with SIM_PREFETCH_PENDING_MIN events pending or more: a smaller one stays
 * in the caches. Prefetches change no state: no order, trace or digest depends on them. */
static void prefetch_upcoming(const struct sim_engine *engine, uint32_t pending)
{
    /* sim_engine_prefetching's rule, on the count the pop just reported (one call fewer
     * per event). */
    if (!sim__prefetch_pays(pending))
        return;
    sim_event_fn fns[SIM_PREFETCH_DISTANCE_MAX];
    void *args[SIM_PREFETCH_DISTANCE_MAX];
    uint32_t count = sim_evq_upcoming(engine->head.queue, SIM_PREFETCH_DISTANCE_MAX, fns, args);
    for (uint32_t index = count; index > 0; index--)
        sim__process_prefetch(fns[index - 1], args[index - 1], index);
}

void sim_engine_run(struct sim_engine *engine, uint64_t until_ns, uint64_t max_events,
                    struct sim_run_result *result)
{
    assert(engine != NULL);
    assert(result != NULL);
    assert(engine->head.current == NULL);        /* no nested runs from inside a process */
    uint64_t events_run = 0;
    enum sim_stop stopped = SIM_STOP_IDLE;
    for (;;) {
        if (engine->abort_code != 0) {
            stopped = SIM_STOP_ERROR;
            break;
        }
        /* SIM_TIME_NEVER when the queue is empty; nothing is scheduled at or past
         * SIM_TIME_PARKED but parked events. */
        uint64_t next_event_ns = sim_evq_next_time(engine->head.queue);
        if (next_event_ns >= SIM_TIME_PARKED) {
            stopped = stop_when_empty(engine);      /* nothing left but frozen domains' */
            break;                                  /* (and background events) */
        }
        int background = background_due(engine, until_ns, next_event_ns);
        if (background >= 0) {
            if (max_events != 0 && events_run >= max_events) {
                stopped = SIM_STOP_MAX_EVENTS;
                break;
            }
            background_run(engine, (uint32_t)background);
            events_run++;
            continue;
        }
        if (next_event_ns > until_ns) {
            if (until_ns > engine->head.now_ns)
                engine->head.now_ns = until_ns;
            stopped = SIM_STOP_UNTIL;
            break;
        }
        /* The call only when some domain is frozen or gated (the common case: none). */
        if ((engine->frozen_count != 0 || engine->gate_count != 0) &&
            sim__domain_park_top(engine))
            continue;                   /* a frozen domain's event came due: it waits */
        if (engine->abort_code != 0) {
            stopped = SIM_STOP_ERROR;
            break;
        }
        if (max_events != 0 && events_run >= max_events) {
            stopped = SIM_STOP_MAX_EVENTS;
            break;
        }
        struct sim_evq_entry entry;
        bool popped = sim_evq_pop(engine->head.queue, &entry);
        assert(popped);
        assert(entry.time_ns >= engine->head.now_ns);    /* EN1 */
        engine->head.now_ns = entry.time_ns;
        engine->events_run++;
        events_run++;
        /* DO4: a domain that holds its events runs none (its gate opened it first). */
        assert((engine->frozen_count == 0 && engine->gate_count == 0) ||
               !sim_engine_domain_frozen(engine, entry.domain));
        engine->current_domain = entry.domain;
        prefetch_upcoming(engine, entry.pending);
        entry.fn(engine, entry.arg, entry.data);
        engine->current_domain = 0;
        event_done(engine);
    }
    result->stopped = stopped;
    result->now_ns = engine->head.now_ns;
    result->events_run = events_run;
}

void sim_engine_set_progress(struct sim_engine *engine, sim_progress_fn fn, void *state,
                             uint64_t every_events)
{
    assert(engine != NULL);
    assert(fn != NULL || every_events == 0);
    engine->progress_fn = fn;
    engine->progress_state = state;
    engine->progress_every_events = every_events;
}

void sim_engine_set_after_event(struct sim_engine *engine, sim_after_event_fn fn, void *state)
{
    assert(engine != NULL);
    engine->after_event_fn = fn;
    engine->after_event_state = state;
}
