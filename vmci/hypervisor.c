/* SPDX-License-Identifier: MIT */
/*
 * vmci/hypervisor.c: the context table, privilege and trust, events, power-on.
 *
 * Contexts are kept sorted by CID so that any walk over them (invariant checks, detaching
 * everything) has a fixed order, and indexed by CID so that a lookup (several per socket
 * operation) costs the same with a thousand VMs as with one.
 */
#include <assert.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/engine/process.h"
#include "sim/engine/rng.h"
#include "vmci_int.h"

/* Bounds R8's walk and D15's draws: the table never holds more contexts than this. */
#define VMCI_CID_TRIES_MAX (SIM_VMS_CEILING + 4u)

void vmci__limit_reached(struct vmci_hypervisor *hypervisor, uint32_t cid, const char *limit,
                         uint64_t value, int result)
{
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_VMCI, "limit_reached", cid,
                         vmci__current_pid(hypervisor));
    sim_trace_field_str(&event, "limit", limit);
    sim_trace_field_u64(&event, "value", value);
    sim_trace_field_i64(&event, "result", result);
    vmci__trace(hypervisor, &event);
}

/* The lookup vmci__context_find makes on a miss of its cache, which it then fills. The
 * finders take a const hypervisor; the cache is not part of what they read (a hit returns
 * what the index would), and every hypervisor is allocated writable (create), so the slot
 * is updated in place. */
struct vmci_context *vmci__context_find_indexed(const struct vmci_hypervisor *hypervisor,
                                               uint32_t cid)
{
    const struct sim_index_node *node = sim_index_first(&hypervisor->context_index, cid);
    if (node == NULL)
        return NULL;
    struct vmci_context *context = (struct vmci_context *)(
        (const char *)node - offsetof(struct vmci_context, by_cid));
    assert(context->cid == cid);
    struct vmci_context_cache_slot *slot =
        (struct vmci_context_cache_slot *)&hypervisor->context_cache[cid %
                                                                    VMCI_CONTEXT_CACHE_SLOTS];
    *slot = (struct vmci_context_cache_slot){ .context = context, .cid = cid,
                                              .context_changes = hypervisor->context_changes };
    return context;
}

int vmci__context_insert(struct vmci_hypervisor *hypervisor, struct vmci_context *context)
{
    assert(vmci__context_find(hypervisor, context->cid) == NULL);
    if (hypervisor->context_count == hypervisor->context_capacity) {
        uint32_t capacity = hypervisor->context_capacity == 0 ? VMCI_CONTEXTS_INITIAL
                                                              : hypervisor->context_capacity * 2;
        struct vmci_context **grown = realloc(hypervisor->contexts, capacity * sizeof(*grown));
        if (grown == NULL)
            return VMCI_ERROR_NO_MEM;
        hypervisor->contexts = grown;
        hypervisor->context_capacity = capacity;
    }
    uint32_t position = hypervisor->context_count;
    while (position > 0 && hypervisor->contexts[position - 1]->cid > context->cid) {
        hypervisor->contexts[position] = hypervisor->contexts[position - 1];
        position--;
    }
    hypervisor->contexts[position] = context;
    hypervisor->context_count++;
    hypervisor->context_changes++;          /* every vmci_qpair's cached peer is stale */
    int rc = sim_index_insert(&hypervisor->context_index, &context->by_cid, context->cid, 0);
    assert(rc == SIM_OK);                   /* the vms limit bounds the table, not the index */
    (void)rc;
    return VMCI_SUCCESS;
}

void vmci__context_free(struct vmci_context *context)
{
    if (context == NULL)
        return;
    vmci__kernel_destroy(context->kernel);
    vmci_device_destroy(context->device);
    free(context->links);
    free(context);
}

static struct vmci_context *context_new(uint32_t cid, const char *name)
{
    struct vmci_context *context = calloc(1, sizeof(*context));
    if (context == NULL)
        return NULL;
    context->cid = cid;
    snprintf(context->name, sizeof(context->name), "%s", name);
    return context;
}

struct vmci_hypervisor *vmci_hypervisor_create(struct sim_engine *engine,
                                               const struct vmci_profile *profile,
                                               const struct vmci_cost *cost)
{
    assert(engine != NULL);
    assert(profile != NULL && cost != NULL);
    struct vmci_hypervisor *hypervisor = calloc(1, sizeof(*hypervisor));
    if (hypervisor == NULL)
        return NULL;
    hypervisor->engine = engine;
    sim_index_init(&hypervisor->context_index, UINT32_MAX);
    hypervisor->profile = *profile;
    hypervisor->cost = *cost;
    hypervisor->cost.faults = &hypervisor->faults;
    sim_index_init(&hypervisor->queue_pair_index, VMCI_QUEUE_PAIRS_MAX);
    struct vmci_context *self = context_new(VMCI_HYPERVISOR_CONTEXT_ID, "hypervisor");
    struct vmci_context *host = context_new(VMCI_HOST_CONTEXT_ID, "host");
    if (self == NULL || host == NULL || vmci__context_insert(hypervisor, self) < 0 ||
        vmci__context_insert(hypervisor, host) < 0) {
        free(self);
        free(host);
        vmci_hypervisor_destroy(hypervisor);
        return NULL;
    }
    host->kernel = vmci__kernel_create(hypervisor, host, true);
    if (host->kernel == NULL) {
        vmci_hypervisor_destroy(hypervisor);
        return NULL;
    }
    return hypervisor;
}

void vmci_hypervisor_destroy(struct vmci_hypervisor *hypervisor)
{
    if (hypervisor == NULL)
        return;
    vmci__broker_destroy_all(hypervisor);
    vmci__host_deliveries_free(hypervisor);
    for (uint32_t index = 0; index < hypervisor->context_count; index++)
        vmci__context_free(hypervisor->contexts[index]);
    for (uint32_t index = 0; index < hypervisor->suspended_count; index++)
        vmci__context_free(hypervisor->suspended[index]);
    free(hypervisor->suspended);
    free(hypervisor->contexts);
    sim_index_destroy(&hypervisor->context_index);
    free(hypervisor);
}

void vmci__context_remove(struct vmci_hypervisor *hypervisor, struct vmci_context *context)
{
    uint32_t index = 0;
    while (index < hypervisor->context_count && hypervisor->contexts[index] != context)
        index++;
    assert(index < hypervisor->context_count);
    memmove(&hypervisor->contexts[index], &hypervisor->contexts[index + 1],
            (hypervisor->context_count - index - 1) * sizeof(context));
    hypervisor->context_count--;
    sim_index_remove(&hypervisor->context_index, &context->by_cid);
    hypervisor->context_changes++;
}

struct vmci_faults *vmci_hypervisor_faults(struct vmci_hypervisor *hypervisor)
{
    assert(hypervisor != NULL);
    return &hypervisor->faults;
}

struct vmci_cost *vmci_hypervisor_cost(struct vmci_hypervisor *hypervisor)
{
    return &hypervisor->cost;
}

const struct vmci_profile *vmci_hypervisor_profile(const struct vmci_hypervisor *hypervisor)
{
    return &hypervisor->profile;
}

struct vmci_kernel *vmci_hypervisor_host(struct vmci_hypervisor *hypervisor)
{
    struct vmci_context *host = vmci__context_find(hypervisor, VMCI_HOST_CONTEXT_ID);
    assert(host != NULL && host->kernel != NULL);
    return host->kernel;
}

bool vmci_hypervisor_context_live(const struct vmci_hypervisor *hypervisor, uint32_t cid)
{
    return vmci__context_find(hypervisor, cid) != NULL;
}

uint32_t vmci_hypervisor_context_flags(const struct vmci_hypervisor *hypervisor, uint32_t cid)
{
    const struct vmci_context *context = vmci__context_find(hypervisor, cid);
    return context != NULL ? context->privilege_flags : VMCI_LEAST_PRIVILEGE_FLAGS;
}

const char *vmci_hypervisor_context_owner(const struct vmci_hypervisor *hypervisor, uint32_t cid)
{
    const struct vmci_context *context = vmci__context_find(hypervisor, cid);
    return context != NULL ? context->owner : "";
}

bool vmci_hypervisor_trusted_toward(const struct vmci_hypervisor *hypervisor,
                                    const struct vmci_identity *identity, uint32_t cid)
{
    if (identity == NULL)
        return false;
    if (identity->trusted)
        return true;
    if (!identity->owner_rule || !vmci_context_is_vm(cid))
        return false;
    const struct vmci_context *context = vmci__context_find(hypervisor, cid);
    return context != NULL && strcmp(context->owner, identity->user) == 0;     /* R50, D10 */
}

struct vmci_kernel *vmci_hypervisor_guest(struct vmci_hypervisor *hypervisor, uint32_t cid)
{
    struct vmci_context *context = vmci__context_find(hypervisor, cid);
    if (context == NULL || !vmci_context_is_vm(cid))
        return NULL;
    return context->kernel;
}

/* R8: the next free CID after `cid` (max(cid, 15) + 1, wrapping to 16). */
int vmci__cid_next_free(const struct vmci_hypervisor *hypervisor, uint32_t cid, uint32_t *cid_out)
{
    for (uint32_t tries = 0; tries < VMCI_CID_TRIES_MAX; tries++) {
        if (cid >= VMCI_RESERVED_CID_LIMIT && cid != VMCI_INVALID_ID &&
            vmci__context_find(hypervisor, cid) == NULL) {
            *cid_out = cid;
            return VMCI_SUCCESS;
        }
        cid = (cid < 15u ? 15u : cid) + 1u;
        if (cid == VMCI_INVALID_ID)
            cid = VMCI_RESERVED_CID_LIMIT;
    }
    return VMCI_ERROR_NO_RESOURCES;
}

/* D15: generated CIDs are uniform in [16, 2^31) from the "vmci" stream, skipping used. */
static int cid_generate(struct vmci_hypervisor *hypervisor, uint32_t *cid_out)
{
    struct sim_rng *rng = sim_engine_rng(hypervisor->engine, "vmci");
    assert(rng != NULL);
    for (uint32_t tries = 0; tries < VMCI_CID_TRIES_MAX; tries++) {
        uint32_t cid = VMCI_RESERVED_CID_LIMIT +
                       (uint32_t)sim_rng_below(rng, (1u << 31) - VMCI_RESERVED_CID_LIMIT);
        if (vmci__context_find(hypervisor, cid) == NULL) {
            *cid_out = cid;
            return VMCI_SUCCESS;
        }
    }
    return VMCI_ERROR_NO_RESOURCES;
}

static int vm_cid(struct vmci_hypervisor *hypervisor, const struct vmci_vm_config *config,
                  uint32_t *cid_out)
{
    if (config->requested_cid == VMCI_INVALID_ID)
        return cid_generate(hypervisor, cid_out);
    int rc = vmci__cid_next_free(hypervisor, config->requested_cid, cid_out);
    if (rc == VMCI_SUCCESS && *cid_out != config->requested_cid) {
        struct sim_trace_event event;
        sim_trace_event_init(&event, SIM_LAYER_VMCI, "cid_reassigned", *cid_out, 0);
        sim_trace_field_str(&event, "vm", config->name);
        sim_trace_field_u64(&event, "requested", config->requested_cid);
        sim_trace_field_u64(&event, "assigned", *cid_out);
        sim_trace_field_str(&event, "rule", "R8");
        vmci__trace(hypervisor, &event);
    }
    return rc;
}

static void vm_context_configure(const struct vmci_hypervisor *hypervisor,
                                 const struct vmci_vm_config *config,
                                 struct vmci_context *context)
{
    const struct vmci_profile *profile = &hypervisor->profile;
    bool unrestricted = profile->unrestricted_honoured && config->unrestricted;   /* R196 */
    context->privilege_flags = unrestricted ? VMCI_NO_PRIVILEGE_FLAGS
                                            : VMCI_PRIVILEGE_FLAG_RESTRICTED;
    snprintf(context->domain, sizeof(context->domain), "%s",
             profile->domain_honoured && config->domain != NULL ? config->domain : "");
    snprintf(context->owner, sizeof(context->owner), "%s",
             config->owner != NULL ? config->owner : "user");
    context->hw_version = config->hw_version;
}

static void trace_context_create(struct vmci_hypervisor *hypervisor,
                                 const struct vmci_context *context)
{
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_VMCI, "ctx_create", context->cid, 0);
    sim_trace_field_str(&event, "vm", context->name);
    sim_trace_field_u64(&event, "flags", context->privilege_flags);
    sim_trace_field_str(&event, "domain", context->domain);
    sim_trace_field_u64(&event, "device", context->device != NULL);
    vmci__trace(hypervisor, &event);
}

int vmci_hypervisor_vm_power_on(struct vmci_hypervisor *hypervisor,
                                const struct vmci_vm_config *config, struct vmci_kernel **out)
{
    assert(hypervisor != NULL && config != NULL && out != NULL);
    uint32_t cid = 0;
    int rc = vm_cid(hypervisor, config, &cid);
    if (rc < 0)
        return rc;
    struct vmci_context *context = context_new(cid, config->name);
    if (context == NULL)
        return VMCI_ERROR_NO_MEM;
    vm_context_configure(hypervisor, config, context);
    if (config->hw_version >= 7) {                                              /* D7 */
        struct vmci_device_config device_config = {
            .cid = cid, .caps_offered = VMCI_CAPS_OFFERED_DEFAULT, .engine = hypervisor->engine,
            .cost = &hypervisor->cost, .ops = &vmci__device_ops, .ops_state = hypervisor,
            .engine_domain = config->engine_domain,
        };
        context->device = vmci_device_create(&device_config);
    }
    context->kernel = vmci__kernel_create(hypervisor, context, false);
    if (context->kernel != NULL)
        context->kernel->engine_domain = config->engine_domain;
    if ((config->hw_version >= 7 && context->device == NULL) || context->kernel == NULL ||
        vmci__context_insert(hypervisor, context) < 0) {
        vmci__context_free(context);
        return VMCI_ERROR_NO_MEM;
    }
    trace_context_create(hypervisor, context);
    if (context->device != NULL)
        vmci__guest_driver_start(context->kernel);
    *out = context->kernel;
    return VMCI_SUCCESS;
}

/* R64: the event datagram {0,0} -> {cid, 0}; returns its size. */
static uint64_t event_build(uint8_t bytes[VMCI_DG_HEADERSIZE + 8 + 16], uint32_t cid,
                            uint32_t event, const uint8_t *data, uint32_t data_bytes)
{
    assert(event < VMCI_EVENT_MAX);
    assert(data_bytes <= 16u);
    memset(bytes, 0, VMCI_DG_HEADERSIZE + 8 + 16);
    struct vmci_datagram_header header = {
        .dst = { cid, VMCI_EVENT_HANDLER },
        .src = { VMCI_HYPERVISOR_CONTEXT_ID, VMCI_CONTEXT_RESOURCE_ID },
        .payload_size = 8u + data_bytes,
    };
    vmci_header_encode(bytes, &header);                                         /* R64 */
    vmci_write_u32(bytes + VMCI_DG_HEADERSIZE, event);
    if (data_bytes > 0)
        memcpy(bytes + VMCI_DG_HEADERSIZE + 8, data, data_bytes);
    return VMCI_DG_HEADERSIZE + 8u + data_bytes;
}

static void trace_event_send(struct vmci_hypervisor *hypervisor, uint32_t cid, uint32_t event,
                             int rc, bool local)
{
    struct sim_trace_event trace;
    sim_trace_event_init(&trace, SIM_LAYER_VMCI, local ? "event_local" : "event_send", cid, 0);
    sim_trace_field_u64(&trace, "event", event);
    sim_trace_field_i64(&trace, "result", rc);
    vmci__trace(hypervisor, &trace);
}

void vmci__event_send_local(struct vmci_hypervisor *hypervisor, uint32_t cid, uint32_t event,
                            const uint8_t *data, uint32_t data_bytes)
{
    uint8_t bytes[VMCI_DG_HEADERSIZE + 8 + 16];
    uint64_t size_bytes = event_build(bytes, cid, event, data, data_bytes);
    int rc = vmci__deliver_later(hypervisor, cid, bytes, size_bytes);
    trace_event_send(hypervisor, cid, event, rc, true);
}

/* The protocol site event_lost: the event is sent and never arrives, traced as one
 * vmci-layer `data_discarded` (reason fault_event_lost) so it counts as a drop. */
static bool event_lost(struct vmci_hypervisor *hypervisor, uint32_t cid, uint64_t size_bytes)
{
    if (!vmci_fault(&hypervisor->faults, VMCI_FAULT_EVENT_LOST, cid))
        return false;
    struct sim_trace_event trace;
    sim_trace_event_init(&trace, SIM_LAYER_VMCI, "data_discarded", cid, 0);
    sim_trace_field_str(&trace, "reason", "fault_event_lost");
    sim_trace_field_str(&trace, "rule", "fault");
    sim_trace_field_u64(&trace, "count", 1);
    sim_trace_field_u64(&trace, "bytes", size_bytes);
    vmci__trace(hypervisor, &trace);
    return true;
}

/* The host's delivery of an event: route_ns later, or much later when the site
 * host_event_late fires (a stretched route_ns added; later deliveries keep their order). */
static int event_to_host(struct vmci_hypervisor *hypervisor, const uint8_t *bytes,
                         uint64_t size_bytes)
{
    uint64_t extra_ns = 0;
    if (vmci_fault(&hypervisor->faults, VMCI_FAULT_HOST_EVENT_LATE, VMCI_HOST_CONTEXT_ID))
        extra_ns = vmci_fault_stretch_fired(&hypervisor->faults,
                                            vmci_cost_draw(&hypervisor->cost, VMCI_COST_ROUTE));
    return vmci__deliver_later_after(hypervisor, VMCI_HOST_CONTEXT_ID, bytes, size_bytes,
                                     extra_ns);
}

void vmci__event_send(struct vmci_hypervisor *hypervisor, uint32_t cid, uint32_t event,
                      const uint8_t *data, uint32_t data_bytes)
{
    uint8_t bytes[VMCI_DG_HEADERSIZE + 8 + 16];
    uint64_t size_bytes = event_build(bytes, cid, event, data, data_bytes);
    struct vmci_context *context = vmci__context_find(hypervisor, cid);
    int rc = VMCI_ERROR_DST_UNREACHABLE;
    bool reachable = (context != NULL && context->device != NULL) || cid == VMCI_HOST_CONTEXT_ID;
    if (reachable && event_lost(hypervisor, cid, size_bytes))
        rc = VMCI_SUCCESS;                          /* as sent: nobody learns otherwise */
    else if (context != NULL && context->device != NULL)
        rc = vmci_device_enqueue(context->device, bytes, size_bytes, true);      /* R72 */
    else if (cid == VMCI_HOST_CONTEXT_ID)
        rc = event_to_host(hypervisor, bytes, size_bytes);
    trace_event_send(hypervisor, cid, event, rc, false);
}

bool vmci_hypervisor_check(const struct vmci_hypervisor *hypervisor)
{
    if (vmci__context_find(hypervisor, VMCI_HYPERVISOR_CONTEXT_ID) == NULL ||
        vmci__context_find(hypervisor, VMCI_HOST_CONTEXT_ID) == NULL)
        return false;                                                           /* HV1 */
    for (uint32_t index = 0; index < hypervisor->context_count; index++) {
        const struct vmci_context *context = hypervisor->contexts[index];
        if (index > 0 && hypervisor->contexts[index - 1]->cid >= context->cid)
            return false;                                                       /* HV1 */
        if (context->qp_memory_bytes > VMCI_MAX_GUEST_QP_MEMORY)
            return false;                                                       /* HV2 */
        if (context->device != NULL && !vmci_device_check(context->device))
            return false;                                                       /* HV3 */
    }
    for (uint32_t index = 0; index < hypervisor->context_count; index++) {
        const struct vmci_context *context = hypervisor->contexts[index];
        uint64_t charged_bytes = 0;
        for (const struct vmci_qp_entry *qp = hypervisor->queue_pairs_head; qp != NULL;
             qp = qp->next) {
            if (qp->charged_cid == context->cid)
                charged_bytes += qp->produce_size_bytes + qp->consume_size_bytes;
        }
        if (charged_bytes != context->qp_memory_bytes)
            return false;                                                       /* HV2 */
    }
    uint64_t entry_bytes = 0;
    for (const struct vmci_qp_entry *qp = hypervisor->queue_pairs_head; qp != NULL;
         qp = qp->next)
        entry_bytes += qp->produce_size_bytes + qp->consume_size_bytes;
    return entry_bytes == hypervisor->queue_pair_bytes &&
           entry_bytes <= sim_engine_limits(hypervisor->engine)->world_qp_memory_bytes_max;
                                                                                /* HV4 */
}

struct vmci_device *vmci_hypervisor_device(struct vmci_hypervisor *hypervisor, uint32_t cid)
{
    struct vmci_context *context = vmci__context_find(hypervisor, cid);
    return context != NULL && vmci_context_is_vm(cid) ? context->device : NULL;
}

bool vmci_hypervisor_qp_sizes(const struct vmci_hypervisor *hypervisor, struct vmci_handle handle,
                              uint64_t *produce_size_bytes, uint64_t *consume_size_bytes)
{
    const struct vmci_qp_entry *entry = vmci__broker_find(hypervisor, handle);
    if (entry == NULL)
        return false;
    *produce_size_bytes = entry->produce_size_bytes;
    *consume_size_bytes = entry->consume_size_bytes;
    return true;
}

int vmci_hypervisor_vm_memory_access(struct vmci_hypervisor *hypervisor, uint32_t cid,
                                     bool accessible)
{
    struct vmci_context *context = vmci__context_find(hypervisor, cid);
    if (context == NULL || !vmci_context_is_vm(cid))
        return VMCI_ERROR_NOT_FOUND;
    context->memory_inaccessible = !accessible;
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_VMCI, "mem_access", cid, 0);
    sim_trace_field_u64(&event, "event",
                        accessible ? VMCI_EVENT_MEM_ACCESS_ON : VMCI_EVENT_MEM_ACCESS_OFF);
    vmci__trace(hypervisor, &event);
    return VMCI_SUCCESS;
}
