/* SPDX-License-Identifier: MIT */
/*
 * sim/engine/domain.c: freezing and thawing domains (engine.h, "Domains").
 *
 * Why a lazy park: a frozen domain's events stay in the queue until one reaches the
 * front; only then is it moved to SIM_TIME_PARKED (sim_evq_reschedule keeps its id and
 * seq) and remembered with the time it was due. Freezing is O(1), thawing O(parked),
 * and an event that is cancelled while parked simply fails to re-schedule.
 *
 * Invariants:
 *   DO1  every entry of `parked` names an event of a frozen domain, or one that was
 *        cancelled since; entries are in the order they came due.
 *   DO2  parked_count <= events_pending_max (parked events are pending events).
 */
#include <assert.h>
#include <stdlib.h>

#include "engine_int.h"

static bool domain_valid(uint32_t domain)
{
    return domain != 0 && domain < SIM_DOMAINS_MAX;
}

bool sim_engine_domain_frozen(const struct sim_engine *engine, uint32_t domain)
{
    assert(engine != NULL);
    if (!domain_valid(domain))
        return false;
    return (engine->frozen[domain / 8] >> (domain % 8)) & 1u;
}

int sim_engine_domain_freeze(struct sim_engine *engine, uint32_t domain)
{
    assert(engine != NULL);
    if (!domain_valid(domain))
        return SIM_EINVAL;
    if (!sim_engine_domain_frozen(engine, domain))
        engine->frozen_count++;
    engine->frozen[domain / 8] |= (uint8_t)(1u << (domain % 8));
    assert(engine->frozen_count < SIM_DOMAINS_MAX);
    return SIM_OK;
}

int sim_engine_domain_thaw(struct sim_engine *engine, uint32_t domain)
{
    assert(engine != NULL);
    return sim_engine_domain_thaw_at(engine, domain, engine->now_ns);
}

int sim_engine_domain_thaw_at(struct sim_engine *engine, uint32_t domain, uint64_t at_ns)
{
    assert(engine != NULL);
    if (!domain_valid(domain) || at_ns < engine->now_ns || at_ns >= SIM_TIME_PARKED)
        return SIM_EINVAL;
    if (sim_engine_domain_frozen(engine, domain)) {
        assert(engine->frozen_count > 0);
        engine->frozen_count--;
    }
    engine->frozen[domain / 8] &= (uint8_t)~(1u << (domain % 8));
    uint32_t kept = 0;
    for (uint32_t index = 0; index < engine->parked_count; index++) {
        struct sim_parked entry = engine->parked[index];
        if (entry.domain != domain) {
            engine->parked[kept++] = entry;
            continue;
        }
        /* Never before its own time (a run that stopped idle leaves the clock behind the
         * parked events); a fresh seq puts it after what is already scheduled for that
         * instant (a resumed guest's pending interrupt comes first). */
        uint64_t time_ns = entry.time_ns > at_ns ? entry.time_ns : at_ns;
        (void)sim_evq_move(engine->queue, entry.id, time_ns, true);     /* ENOENT: cancelled */
    }
    engine->parked_count = kept;
    assert(engine->parked_count <= engine->limits.events_pending_max);     /* DO2 */
    return SIM_OK;
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

bool sim__domain_park_top(struct sim_engine *engine)
{
    if (engine->frozen_count == 0)
        return false;                   /* the common case: nothing to look at */
    uint64_t time_ns = 0;
    uint32_t domain = 0;
    sim_event_id id = SIM_EVENT_NONE;
    sim_evq_peek(engine->queue, &time_ns, &domain, &id);
    if (time_ns == SIM_TIME_PARKED || !sim_engine_domain_frozen(engine, domain))
        return false;
    if (parked_reserve(engine) < 0) {
        sim_engine_abort(engine, SIM_ENOMEM);
        (void)sim_engine_fail(engine, SIM_ENOMEM, "out of memory parking a frozen event");
        return false;
    }
    engine->parked[engine->parked_count++] = (struct sim_parked){
        .id = id, .domain = domain, .time_ns = time_ns,
    };
    int rc = sim_evq_reschedule(engine->queue, id, SIM_TIME_PARKED);
    assert(rc == SIM_OK);
    (void)rc;
    return true;
}
