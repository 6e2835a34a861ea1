/* SPDX-License-Identifier: MIT */
/*
 * vmci/cost.h: the cost model, in simulated time.
 *
 * Costs are charged to the process that causes them (its call returns that much
 * later); latencies are the delays of the events a hop schedules (architecture.md,
 * "The engine"). Defaults and their reasons: docs/cost-model.md. A scenario
 * overrides them by name with w:timing{ name = value } or sim.world{ timing = {...} }.
 */
#ifndef VMCI_COST_H
#define VMCI_COST_H

#include <stddef.h>
#include <stdint.h>

struct vmci_cost {
    uint64_t register_access_ns;    /* one guest access to a device register (a VM exit) */
    uint64_t hypercall_ns;          /* the hypervisor's work for one DATA_OUT datagram */
    uint64_t route_ns;              /* routing latency: sender's hypercall to destination queue */
    uint64_t interrupt_ns;          /* cause set to the guest's interrupt handler running */
    uint64_t copy_ps_per_byte;      /* memory copy cost, picoseconds per byte */
};

struct vmci_cost vmci_cost_default(void);
/* Sets the parameter `name` ("register_access_ns", ...). Returns 0, or -1 if the name is
 * unknown. */
int vmci_cost_set(struct vmci_cost *cost, const char *name, uint64_t value);
/* Names of all parameters, NULL-terminated (for error messages and docs). */
extern const char *const vmci_cost_names[];
/* Copy cost of size_bytes, rounded up to whole ns. */
uint64_t vmci_cost_copy_ns(const struct vmci_cost *cost, uint64_t size_bytes);

#endif /* VMCI_COST_H */
