/* SPDX-License-Identifier: MIT */
/*
 * vmci/cost.h: the cost model, in simulated time.
 *
 * Costs are charged to the process that causes them (its call returns that much
 * later); latencies are the delays of the events a hop schedules (architecture.md,
 * "The engine"). Defaults and their reasons: docs/cost-model.md. A scenario
 * overrides them by name with w:timing{ name = value } or sim.world{ timing = {...} }.
 *
 * Jitter (docs/cost-model.md, "Jitter"): each parameter may instead be drawn, at every
 * use, from a distribution (a fixed range, or a percentage around its current value)
 * fed by its own random stream "jitter.<name>" of the world's engine. Every use goes
 * through vmci_cost_draw / vmci_cost_copy_ns, so with jitter off (the default) a draw
 * is the constant and consumes no random number.
 * Invariants: a jitter of mode RANGE has min <= max; one of mode PERCENT has
 * percent <= 100; a jitter other than OFF has a stream.
 */
#ifndef VMCI_COST_H
#define VMCI_COST_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim/engine/engine.h"
#include "faults.h"

/* The parameters, in the order of vmci_cost_names. */
enum vmci_cost_id {
    VMCI_COST_REGISTER_ACCESS = 0,
    VMCI_COST_HYPERCALL,
    VMCI_COST_ROUTE,
    VMCI_COST_INTERRUPT,
    VMCI_COST_COPY,
    VMCI_COST_COUNT,
};

enum vmci_jitter_mode {
    VMCI_JITTER_OFF = 0,    /* the constant */
    VMCI_JITTER_RANGE,      /* uniform in [min, max] */
    VMCI_JITTER_PERCENT,    /* uniform in [v - v*percent/100, v + v*percent/100], v the constant */
};

/* The largest percentage a PERCENT jitter may name (a draw never goes below 0). */
#define VMCI_JITTER_PERCENT_MAX 100u

struct vmci_jitter {
    enum vmci_jitter_mode mode;
    uint64_t min;               /* RANGE: inclusive bounds, in the parameter's unit */
    uint64_t max;
    uint32_t percent;           /* PERCENT */
    struct sim_rng *rng;        /* borrowed from the engine; NULL when OFF */
    /* What every draw would compute the same way, prepared by vmci_cost_jitter_set and
     * vmci_cost_set (vmci/cost.c): the range [low, high] and the rejection limit of its
     * width (sim_rng_below_limit), for the constant `prepared_value` (PERCENT). A draw
     * uses them only while mode, min, max, percent and the constant still give that range
     * (the fields are public: a test may set one directly), and computes all otherwise. */
    bool prepared;
    uint32_t prepared_percent;  /* PERCENT: the percent prepared for; RANGE: none (above 100) */
    uint64_t prepared_value;
    uint64_t prepared_low;
    uint64_t prepared_high;
    uint64_t prepared_limit;
};

struct vmci_cost {
    uint64_t register_access_ns;    /* one guest access to a device register (a VM exit) */
    uint64_t hypercall_ns;          /* the hypervisor's work for one DATA_OUT datagram */
    uint64_t route_ns;              /* routing latency: sender's hypercall to destination queue */
    uint64_t interrupt_ns;          /* cause set to the guest's interrupt handler running */
    uint64_t copy_ps_per_byte;      /* memory copy cost, picoseconds per byte */
    struct vmci_jitter jitter[VMCI_COST_COUNT];     /* all OFF by default */
    /* The world's fault sites (vmci/faults.h), borrowed; NULL or off: no latency site. */
    struct vmci_faults *faults;
};

struct vmci_cost vmci_cost_default(void);
/* Sets the parameter `name` ("register_access_ns", ...). Returns 0, or -1 if the name is
 * unknown. */
int vmci_cost_set(struct vmci_cost *cost, const char *name, uint64_t value);
/* Names of all parameters, NULL-terminated (for error messages and docs). */
extern const char *const vmci_cost_names[];
/* The id of parameter `name`; -1 if unknown. */
int vmci_cost_id_of(const char *name);
/* vmci_cost_draw when parameter `id` is jittered or faults are on: the draw around `value`
 * (the parameter's constant, which the inline caller loads as one field for a literal id),
 * stretched when the parameter's latency site fires. */
uint64_t vmci__cost_draw_varied(const struct vmci_cost *cost, enum vmci_cost_id id,
                                uint64_t value);

/* The constant of parameter `id` (a literal id folds to one load). */
static inline uint64_t vmci_cost_constant(const struct vmci_cost *cost, enum vmci_cost_id id)
{
    switch (id) {
    case VMCI_COST_REGISTER_ACCESS: return cost->register_access_ns;
    case VMCI_COST_HYPERCALL: return cost->hypercall_ns;
    case VMCI_COST_ROUTE: return cost->route_ns;
    case VMCI_COST_INTERRUPT: return cost->interrupt_ns;
    case VMCI_COST_COPY: return cost->copy_ps_per_byte;
    case VMCI_COST_COUNT: break;
    }
    assert(!"unknown cost id");
    return 0;
}

/* The value of parameter `id` for one use: the constant, or a draw from its jitter.
 * Inline: every hop draws several costs, and with jitter off and no faults (the default)
 * a draw is the constant: two tests and a load. */
static inline uint64_t vmci_cost_draw(const struct vmci_cost *cost, enum vmci_cost_id id)
{
    assert(cost != NULL);
    assert(id < VMCI_COST_COUNT);
    uint64_t value = vmci_cost_constant(cost, id);
    if (cost->jitter[id].mode == VMCI_JITTER_OFF && !vmci_faults_on(cost->faults))
        return value;
    return vmci__cost_draw_varied(cost, id, value);
}

/* Copy cost of size_bytes, rounded up to whole ns (one draw of copy_ps_per_byte). */
static inline uint64_t vmci_cost_copy_ns(const struct vmci_cost *cost, uint64_t size_bytes)
{
    assert(cost != NULL);
    uint64_t ps_per_byte = vmci_cost_draw(cost, VMCI_COST_COPY);
    /* Split to avoid overflow: whole ns per 1000 bytes plus the remainder. */
    uint64_t whole_ns = (size_bytes / 1000u) * ps_per_byte;
    uint64_t rest_ps = (size_bytes % 1000u) * ps_per_byte;
    return whole_ns + (rest_ps + 999u) / 1000u;
}

/* Sets the jitter of parameter `id` (`jitter.rng` is ignored: the stream "jitter.<name>"
 * of `engine` is used). Returns 0, or SIM_EINVAL (min > max, percent over the maximum)
 * or SIM_ELIMIT (the engine has no room for another stream). */
int vmci_cost_jitter_set(struct vmci_cost *cost, struct sim_engine *engine,
                         enum vmci_cost_id id, struct vmci_jitter jitter);
/* The stream name of parameter `id` ("jitter.route_ns", ...). */
const char *vmci_cost_jitter_stream(enum vmci_cost_id id);

#endif /* VMCI_COST_H */
