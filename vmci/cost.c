/* SPDX-License-Identifier: MIT */
/*
 * vmci/cost.c: cost-model defaults, overrides and jitter (docs/cost-model.md says why each
 * default is what it is, and what each jitter draws).
 *
 * A draw with jitter OFF returns the constant without touching any stream, so a world
 * without jitter consumes no random numbers here and its runs are what they were before
 * jitter existed. Each parameter has its own stream, so drawing one never shifts another.
 */
#include <assert.h>
#include <string.h>

#include "cost.h"
#include "faults.h"

const char *const vmci_cost_names[] = {
    "register_access_ns", "hypercall_ns", "route_ns", "interrupt_ns", "copy_ps_per_byte", NULL,
};

/* "jitter." + the name, in the order of vmci_cost_names. */
static const char *const jitter_streams[VMCI_COST_COUNT] = {
    "jitter.register_access_ns", "jitter.hypercall_ns", "jitter.route_ns",
    "jitter.interrupt_ns", "jitter.copy_ps_per_byte",
};

struct vmci_cost vmci_cost_default(void)
{
    struct vmci_cost cost = {
        .register_access_ns = 500,
        .hypercall_ns = 1500,
        .route_ns = 300,
        .interrupt_ns = 2000,
        .copy_ps_per_byte = 100,
    };
    return cost;
}

int vmci_cost_id_of(const char *name)
{
    assert(name != NULL);
    for (int id = 0; id < VMCI_COST_COUNT; id++) {
        if (strcmp(name, vmci_cost_names[id]) == 0)
            return id;
    }
    return -1;
}

/* percent % of value, rounded down, without overflow: in one product while value * 100
 * fits (every realistic cost), else split as in vmci_cost_copy_ns. The same value both
 * ways: with value = 100 q + r, value * p / 100 = q p + r p / 100 (rounded down). */
static inline uint64_t percent_of(uint64_t value, uint64_t percent)
{
    assert(percent <= VMCI_JITTER_PERCENT_MAX);
    if (value <= UINT64_MAX / VMCI_JITTER_PERCENT_MAX)
        return value * percent / 100u;
    return (value / 100u) * percent + (value % 100u) * percent / 100u;
}

/* The inclusive range a draw of `jitter` (RANGE or PERCENT) takes around the constant. */
static void jitter_range(const struct vmci_jitter *jitter, uint64_t value, uint64_t *low,
                         uint64_t *high)
{
    if (jitter->mode == VMCI_JITTER_RANGE) {
        *low = jitter->min;
        *high = jitter->max;
        return;
    }
    assert(jitter->mode == VMCI_JITTER_PERCENT);
    uint64_t spread = percent_of(value, jitter->percent);
    assert(spread <= value);                /* percent <= 100: never below 0 */
    *low = value - spread;
    *high = value > UINT64_MAX - spread ? UINT64_MAX : value + spread;
}

/* Prepares what every draw of `jitter` around the constant `value` computes the same way
 * (struct vmci_jitter, "prepared"); nothing for a jitter that is off or malformed (a draw
 * then computes everything, and asserts). */
static void jitter_prepare(struct vmci_jitter *jitter, uint64_t value)
{
    jitter->prepared = false;
    bool range = jitter->mode == VMCI_JITTER_RANGE && jitter->min <= jitter->max;
    bool percent = jitter->mode == VMCI_JITTER_PERCENT &&
                   jitter->percent <= VMCI_JITTER_PERCENT_MAX;
    if (!range && !percent)
        return;
    uint64_t low, high;
    jitter_range(jitter, value, &low, &high);
    jitter->prepared_percent = range ? VMCI_JITTER_PERCENT_MAX + 1u : jitter->percent;
    jitter->prepared_value = value;
    jitter->prepared_low = low;
    jitter->prepared_high = high;
    /* The full range draws sim_rng_next() itself: no limit. */
    jitter->prepared_limit = high - low == UINT64_MAX ? 0 : sim_rng_below_limit(high - low + 1);
    jitter->prepared = true;
}

static uint64_t *field(struct vmci_cost *cost, enum vmci_cost_id id)
{
    assert(cost != NULL);
    switch (id) {
    case VMCI_COST_REGISTER_ACCESS: return &cost->register_access_ns;
    case VMCI_COST_HYPERCALL: return &cost->hypercall_ns;
    case VMCI_COST_ROUTE: return &cost->route_ns;
    case VMCI_COST_INTERRUPT: return &cost->interrupt_ns;
    case VMCI_COST_COPY: return &cost->copy_ps_per_byte;
    case VMCI_COST_COUNT: break;
    }
    assert(!"unknown cost id");
    return NULL;
}

int vmci_cost_set(struct vmci_cost *cost, const char *name, uint64_t value)
{
    assert(cost != NULL);
    assert(name != NULL);
    int id = vmci_cost_id_of(name);
    if (id < 0)
        return -1;
    *field(cost, (enum vmci_cost_id)id) = value;
    jitter_prepare(&cost->jitter[id], value);      /* a PERCENT range follows the constant */
    return 0;
}

/* Uniform in [low, high] (inclusive) from `rng`. */
static uint64_t uniform(struct sim_rng *rng, uint64_t low, uint64_t high)
{
    assert(low <= high);
    if (high - low == UINT64_MAX)
        return sim_rng_next(rng);
    return low + sim_rng_below(rng, high - low + 1);
}

/* The latency fault site of each parameter (docs/faults.md). */
static const enum vmci_fault_site stretch_sites[VMCI_COST_COUNT] = {
    VMCI_FAULT_REGISTER_ACCESS_SLOW, VMCI_FAULT_HYPERCALL_SLOW, VMCI_FAULT_ROUTE_LATE,
    VMCI_FAULT_INTERRUPT_LATE, VMCI_FAULT_COPY_SLOW,
};

/* Whether the prepared range of `jitter` is still the one its fields and the constant
 * `value` give (jitter_range): then a draw needs no division to find its limit. */
static inline bool prepared_for(const struct vmci_jitter *jitter, uint64_t value)
{
    if (!jitter->prepared)
        return false;
    if (jitter->mode == VMCI_JITTER_RANGE)
        return jitter->min == jitter->prepared_low && jitter->max == jitter->prepared_high;
    return jitter->mode == VMCI_JITTER_PERCENT && jitter->percent == jitter->prepared_percent &&
           value == jitter->prepared_value;
}

/* One draw of a jitter that is on, around the constant `value`: uniform in its range,
 * from its stream. The same numbers whether prepared or not (uniform() is what both do). */
static uint64_t jitter_draw(const struct vmci_jitter *jitter, uint64_t value)
{
    assert(jitter->rng != NULL);
    uint64_t low, high;
    uint64_t drawn;
    if (prepared_for(jitter, value)) {
        low = jitter->prepared_low;
        high = jitter->prepared_high;
        drawn = high - low == UINT64_MAX
                    ? sim_rng_next(jitter->rng)
                    : low + sim_rng_below_limited(jitter->rng, high - low + 1,
                                                  jitter->prepared_limit);
    } else {
        assert(jitter->mode == VMCI_JITTER_RANGE || jitter->mode == VMCI_JITTER_PERCENT);
        assert(jitter->mode != VMCI_JITTER_RANGE || jitter->min <= jitter->max);
        assert(jitter->mode != VMCI_JITTER_PERCENT ||
               jitter->percent <= VMCI_JITTER_PERCENT_MAX);
        jitter_range(jitter, value, &low, &high);
        drawn = uniform(jitter->rng, low, high);
    }
    assert(low <= drawn && drawn <= high);      /* no overflow either way */
    return drawn;
}

/* vmci__cost_draw_varied in every case but the one a jittered world meets at every hop
 * (a prepared jitter, faults off). */
static __attribute__((noinline)) uint64_t draw_varied_slow(const struct vmci_cost *cost,
                                                           enum vmci_cost_id id,
                                                           uint64_t value)
{
    const struct vmci_jitter *jitter = &cost->jitter[id];
    if (jitter->mode != VMCI_JITTER_OFF)
        value = jitter_draw(jitter, value);
    if (!vmci_faults_on(cost->faults))
        return value;
    return vmci_fault_stretch(cost->faults, stretch_sites[id], value);
}

uint64_t vmci__cost_draw_varied(const struct vmci_cost *cost, enum vmci_cost_id id,
                                uint64_t value)
{
    /* `cost` and `id` are asserted by vmci_cost_draw, the only caller (a jittered world
     * draws here at every hop: the checks are not repeated), and `value` is its constant. */
    const struct vmci_jitter *jitter = &cost->jitter[id];
    assert(jitter->mode != VMCI_JITTER_OFF || vmci_faults_on(cost->faults));
    if (!prepared_for(jitter, value) || vmci_faults_on(cost->faults))
        return draw_varied_slow(cost, id, value);
    /* jitter_draw's prepared case, without the frame its other cases need; the first draw
     * here (nearly always the one kept), a rejected one's redraws in sim_rng_below_limited
     * (the same sequence of draws). */
    assert(jitter->rng != NULL);
    uint64_t low = jitter->prepared_low;
    uint64_t width = jitter->prepared_high - low;
    if (width == UINT64_MAX)
        return sim_rng_next(jitter->rng);
    /* The limit is the one of this width (what sim_rng_below_limited asserts). */
    assert(UINT64_MAX - jitter->prepared_limit < width + 1);
    uint64_t draw = sim_rng_next(jitter->rng);
    if (__builtin_expect(draw < jitter->prepared_limit, 1))
        return low + draw % (width + 1);
    return low + sim_rng_below_limited(jitter->rng, width + 1, jitter->prepared_limit);
}

const char *vmci_cost_jitter_stream(enum vmci_cost_id id)
{
    assert(id < VMCI_COST_COUNT);
    return jitter_streams[id];
}

int vmci_cost_jitter_set(struct vmci_cost *cost, struct sim_engine *engine,
                         enum vmci_cost_id id, struct vmci_jitter jitter)
{
    assert(cost != NULL && engine != NULL);
    assert(id < VMCI_COST_COUNT);
    if (jitter.mode == VMCI_JITTER_RANGE && jitter.min > jitter.max)
        return SIM_EINVAL;
    if (jitter.mode == VMCI_JITTER_PERCENT && jitter.percent > VMCI_JITTER_PERCENT_MAX)
        return SIM_EINVAL;
    if (jitter.mode != VMCI_JITTER_RANGE && jitter.mode != VMCI_JITTER_PERCENT &&
        jitter.mode != VMCI_JITTER_OFF)
        return SIM_EINVAL;
    jitter.rng = NULL;
    if (jitter.mode != VMCI_JITTER_OFF) {
        jitter.rng = sim_engine_rng(engine, jitter_streams[id]);
        if (jitter.rng == NULL)
            return SIM_ELIMIT;
    }
    jitter_prepare(&jitter, vmci_cost_constant(cost, id));
    cost->jitter[id] = jitter;
    return SIM_OK;
}
