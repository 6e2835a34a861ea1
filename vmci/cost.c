/* SPDX-License-Identifier: MIT */
/*
 * vmci/cost.c: cost-model defaults and overrides (docs/cost-model.md says why each
 * default is what it is).
 */
#include <assert.h>
#include <string.h>

#include "cost.h"

const char *const vmci_cost_names[] = {
    "register_access_ns", "hypercall_ns", "route_ns", "interrupt_ns", "copy_ps_per_byte", NULL,
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

static uint64_t *field(struct vmci_cost *cost, const char *name)
{
    if (strcmp(name, "register_access_ns") == 0)
        return &cost->register_access_ns;
    if (strcmp(name, "hypercall_ns") == 0)
        return &cost->hypercall_ns;
    if (strcmp(name, "route_ns") == 0)
        return &cost->route_ns;
    if (strcmp(name, "interrupt_ns") == 0)
        return &cost->interrupt_ns;
    if (strcmp(name, "copy_ps_per_byte") == 0)
        return &cost->copy_ps_per_byte;
    return NULL;
}

int vmci_cost_set(struct vmci_cost *cost, const char *name, uint64_t value)
{
    assert(cost != NULL);
    assert(name != NULL);
    uint64_t *target = field(cost, name);
    if (target == NULL)
        return -1;
    *target = value;
    return 0;
}

uint64_t vmci_cost_copy_ns(const struct vmci_cost *cost, uint64_t size_bytes)
{
    assert(cost != NULL);
    /* Split to avoid overflow: whole ns per 1000 bytes plus the remainder. */
    uint64_t whole_ns = (size_bytes / 1000u) * cost->copy_ps_per_byte;
    uint64_t rest_ps = (size_bytes % 1000u) * cost->copy_ps_per_byte;
    return whole_ns + (rest_ps + 999u) / 1000u;
}
