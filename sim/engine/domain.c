/* SPDX-License-Identifier: MIT */
/*
 * sim/engine/domain.c: freezing and thawing domains (engine.h, "Domains").
 *
 * Why a lazy park: a held domain's events stay in the queue until one reaches the
 * front; only then is it moved to SIM_TIME_PARKED (sim_evq_reschedule keeps its id and
 * seq) and remembered with the time it was due. Freezing is O(1), thawing O(parked),
 * and an event that is cancelled while parked simply fails to re-schedule.
 *
 * A domain holds its events while it is frozen, and while it waits for its gate: thawed
 * behind one of its events (thaw_after), it runs that event first and nothing else
 * before it; the gate opens when that event reaches the front (its parked events follow
 * it at its time) or is cancelled. That is how a resumed guest takes the resume's
 * interrupt before any of its own code runs, whatever its timers say.
 *
 * Invariants:
 *   DO1  every entry of `parked` names an event of a domain that holds its events, or
 *        one that was cancelled since; entries are in the order they came due.
 *   DO2  parked_count <= events_pending_max (parked events are pending events).
 *   DO3  at most one gate per domain; a gate names a pending event of its domain (it is
 *        dropped when that event runs or is cancelled).
 *   DO4  no event of a domain that holds its events runs (engine.c asserts it at each
 *        event).
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"

static bool domain_valid(uint32_t domain)
{
    return domain != 0 && domain < SIM_DOMAINS_MAX;
}

static bool frozen_bit(const struct sim_engine *engine, uint32_t domain)
{
    if (domain / 8 >= engine->frozen_bytes)
        return false;
    return (engine->frozen[domain / 8] >> (domain % 8)) & 1u;
}

/* Grows the bitmap to hold `domain`'s bit: a world of a few VMs keeps a few bytes, a fleet
 * frozen at its last VM a bit per VM (at most SIM_DOMAINS_MAX / 8 + 1 bytes). */
static int frozen_reserve(struct sim_engine *engine, uint32_t domain)
{
    assert(domain < SIM_DOMAINS_MAX);
    if (domain / 8 < engine->frozen_bytes)
        return SIM_OK;
    uint32_t bytes = engine->frozen_bytes == 0 ? 64u : engine->frozen_bytes;
    while (bytes <= domain / 8)
        bytes *= 2;
    if (bytes > SIM_DOMAINS_MAX / 8 + 1)
        bytes = SIM_DOMAINS_MAX / 8 + 1;
    assert(domain / 8 < bytes);
    uint8_t *grown = realloc(engine->frozen, bytes);
    if (grown == NULL)
        return sim_engine_fail(engine, SIM_ENOMEM, "out of memory freezing a domain");
    memset(grown + engine->frozen_bytes, 0, bytes - engine->frozen_bytes);
    engine->frozen = grown;
    engine->frozen_bytes = bytes;
    return SIM_OK;
}

/* The index of the gate of `domain` in `gates`, or gate_count when it has none. */
static uint32_t gate_find(const struct sim_engine *engine, uint32_t domain)
{
    uint32_t index = 0;
    while (index < engine->gate_count && engine->gates[index].domain != domain)
        index++;
    return index;
}

/* The gate of `domain`, or NULL. */
static struct sim_gate *gate_of(struct sim_engine *engine, uint32_t domain)
{
    uint32_t index = gate_find(engine, domain);
    return index < engine->gate_count ? &engine->gates[index] : NULL;
}

static void gate_drop(struct sim_engine *engine, struct sim_gate *gate)
{
    assert(gate >= engine->gates && gate < engine->gates + engine->gate_count);
    *gate = engine->gates[--engine->gate_count];        /* order of gates is never used */
}

bool sim_engine_domain_frozen(const struct sim_engine *engine, uint32_t domain)
{
    assert(engine != NULL);
    if (!domain_valid(domain))
        return false;
    return frozen_bit(engine, domain) || gate_find(engine, domain) < engine->gate_count;
}

int sim_engine_domain_freeze(struct sim_engine *engine, uint32_t domain)
{
    assert(engine != NULL);
    if (!domain_valid(domain))
        return SIM_EINVAL;
    int rc = frozen_reserve(engine, domain);
    if (rc < 0)
        return rc;
    if (!frozen_bit(engine, domain))
        engine->frozen_count++;
    engine->frozen[domain / 8] |= (uint8_t)(1u << (domain % 8));
    assert(engine->frozen_count < SIM_DOMAINS_MAX);
    return SIM_OK;
}

static void frozen_clear(struct sim_engine *engine, uint32_t domain)
{
    if (!frozen_bit(engine, domain))
        return;                     /* also a domain past the bitmap: never frozen */
    assert(engine->frozen_count > 0);
    engine->frozen_count--;
    engine->frozen[domain / 8] &= (uint8_t)~(1u << (domain % 8));
}

/* Re-schedules the parked events of `domain` (all of them, or only `only` when it is not
 * SIM_EVENT_NONE) at at_ns, never before their own time (a run that stopped idle leaves
 * the clock behind the parked events). A fresh seq puts each after what is already
 * scheduled for that instant, in the order they came due. */
static void release_parked(struct sim_engine *engine, uint32_t domain, uint64_t at_ns,
                           sim_event_id only)
{
    uint32_t kept = 0;
    for (uint32_t index = 0; index < engine->parked_count; index++) {
        struct sim_parked entry = engine->parked[index];
        if (entry.domain != domain || (only != SIM_EVENT_NONE && entry.id != only)) {
            engine->parked[kept++] = entry;
            continue;
        }
        uint64_t time_ns = entry.time_ns > at_ns ? entry.time_ns : at_ns;
        (void)sim_evq_move(engine->head.queue, entry.id, time_ns, true);     /* ENOENT: cancelled */
    }
    engine->parked_count = kept;
    assert(engine->parked_count <= engine->limits.events_pending_max);     /* DO2 */
}

int sim_engine_domain_thaw(struct sim_engine *engine, uint32_t domain)
{
    assert(engine != NULL);
    if (!domain_valid(domain))
        return SIM_EINVAL;
    frozen_clear(engine, domain);
    struct sim_gate *gate = gate_of(engine, domain);
    if (gate != NULL)
        release_parked(engine, domain, engine->head.now_ns, gate->id);  /* still waits for it */
    else
        release_parked(engine, domain, engine->head.now_ns, SIM_EVENT_NONE);
    return SIM_OK;
}

static int gates_reserve(struct sim_engine *engine)
{
    if (engine->gate_count < engine->gate_capacity)
        return SIM_OK;
    uint32_t capacity = engine->gate_capacity == 0 ? 4u : engine->gate_capacity * 2;
    if (capacity > SIM_DOMAINS_MAX)
        capacity = SIM_DOMAINS_MAX;
    assert(capacity > engine->gate_count);      /* DO3: one gate per domain at most */
    struct sim_gate *grown = realloc(engine->gates, capacity * sizeof(*grown));
    if (grown == NULL)
        return sim_engine_fail(engine, SIM_ENOMEM, "out of memory thawing a domain");
    engine->gates = grown;
    engine->gate_capacity = capacity;
    return SIM_OK;
}

int sim_engine_domain_thaw_after(struct sim_engine *engine, uint32_t domain, sim_event_id first)
{
    assert(engine != NULL);
    uint64_t time_ns = 0;
    uint32_t first_domain = 0;
    if (!domain_valid(domain) || !sim_evq_lookup(engine->head.queue, first, &time_ns, &first_domain) ||
        first_domain != domain)
        return SIM_EINVAL;
    struct sim_gate *gate = gate_of(engine, domain);
    if (gate == NULL) {
        int rc = gates_reserve(engine);
        if (rc < 0)
            return rc;
        gate = &engine->gates[engine->gate_count++];
    }
    *gate = (struct sim_gate){ .domain = domain, .id = first };
    frozen_clear(engine, domain);
    if (time_ns == SIM_TIME_PARKED)             /* it came due while frozen: it runs now */
        release_parked(engine, domain, engine->head.now_ns, first);
    assert(gate_of(engine, domain) != NULL);    /* DO3 */
    return SIM_OK;
}

static void gate_event(void *context, void *arg, uint64_t data)
{
    (void)context;
    (void)arg;
    (void)data;                 /* its running is the point: the domain's gate opens */
}

int sim_engine_domain_thaw_at(struct sim_engine *engine, uint32_t domain, uint64_t at_ns)
{
    assert(engine != NULL);
    if (!domain_valid(domain) || at_ns < engine->head.now_ns || at_ns > SIM_TIME_END_NS)
        return SIM_EINVAL;
    if (at_ns == engine->head.now_ns)
        return sim_engine_domain_thaw(engine, domain);
    sim_event_id id = SIM_EVENT_NONE;
    int rc = sim_engine_schedule_at_in(engine, domain, at_ns, gate_event, NULL, 0, &id);
    if (rc < 0)
        return rc;
    rc = sim_engine_domain_thaw_after(engine, domain, id);
    if (rc < 0)
        (void)sim_evq_cancel(engine->head.queue, id);
    return rc;
}

void sim__domain_cancelled(struct sim_engine *engine, sim_event_id id)
{
    for (uint32_t index = 0; index < engine->gate_count; index++) {
        struct sim_gate *gate = &engine->gates[index];
        if (gate->id != id)
            continue;
        uint32_t domain = gate->domain;
        gate_drop(engine, gate);
        if (!frozen_bit(engine, domain))        /* nothing left to wait for */
            release_parked(engine, domain, engine->head.now_ns, SIM_EVENT_NONE);
        return;
    }
}

uint32_t sim_engine_events_parked(const struct sim_engine *engine)
{
    assert(engine != NULL);
    return engine->parked_count;
}

static int parked_reserve(struct sim_engine *engine)
{
    if (engine->parked_count < engine->parked_capacity)
        return SIM_OK;
    uint32_t capacity = engine->parked_capacity == 0 ? 64u : engine->parked_capacity * 2;
    if (capacity > engine->limits.events_pending_max)
        capacity = engine->limits.events_pending_max;
    assert(capacity > engine->parked_count);    /* DO2: a parked event is a pending one */
    struct sim_parked *grown = realloc(engine->parked, capacity * sizeof(*grown));
    if (grown == NULL)
        return SIM_ENOMEM;
    engine->parked = grown;
    engine->parked_capacity = capacity;
    return SIM_OK;
}

/* Parks event `id` of `domain`, due at time_ns; true. False when out of memory (the run
 * is aborted with that error). */
static bool park(struct sim_engine *engine, sim_event_id id, uint32_t domain, uint64_t time_ns)
{
    if (parked_reserve(engine) < 0) {
        sim_engine_abort(engine, SIM_ENOMEM);
        (void)sim_engine_fail(engine, SIM_ENOMEM, "out of memory parking a frozen event");
        return false;
    }
    engine->parked[engine->parked_count++] = (struct sim_parked){
        .id = id, .domain = domain, .time_ns = time_ns,
    };
    int rc = sim_evq_reschedule(engine->head.queue, id, SIM_TIME_PARKED);
    assert(rc == SIM_OK);
    (void)rc;
    return true;
}

bool sim__domain_park_top(struct sim_engine *engine)
{
    if (engine->frozen_count == 0 && engine->gate_count == 0)
        return false;                   /* the common case: nothing to look at */
    uint64_t time_ns = 0;
    uint32_t domain = 0;
    sim_event_id id = SIM_EVENT_NONE;
    sim_evq_peek(engine->head.queue, &time_ns, &domain, &id);
    if (time_ns == SIM_TIME_PARKED || !domain_valid(domain))
        return false;
    struct sim_gate *gate = engine->gate_count != 0 ? gate_of(engine, domain) : NULL;
    if (!frozen_bit(engine, domain)) {
        if (gate == NULL || gate->id != id)
            return gate != NULL && park(engine, id, domain, time_ns);
        gate_drop(engine, gate);        /* the gate runs: what waited for it follows it */
        release_parked(engine, domain, time_ns, SIM_EVENT_NONE);
        sim_event_id top = SIM_EVENT_NONE;
        sim_evq_peek(engine->head.queue, &time_ns, &domain, &top);
        assert(top == id);              /* the parked ones got later seqs at its time */
        return false;
    }
    return park(engine, id, domain, time_ns);
}
