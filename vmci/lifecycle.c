/* SPDX-License-Identifier: MIT */
/*
 * vmci/lifecycle.c: what the hypervisor does when a VM is suspended, resumed or
 * powered off (reference 10: R204-R206, R68-R71). The VM lifecycle layer above
 * decides when; these hooks keep the context table, the broker and the events
 * consistent (HV1, HV2 hold after each).
 */
#include <assert.h>
#include <stdlib.h>

#include "vmci_int.h"

static void trace_lifecycle(struct vmci_hypervisor *hypervisor, const char *kind, uint32_t cid,
                            uint32_t other_cid)
{
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_VMCI, kind, cid, 0);
    sim_trace_field_u64(&event, "cid", other_cid);
    vmci__trace(hypervisor, &event);
}

/* The common part of suspend and power-off: the VM leaves the table. `reason` and `rule`
 * name the cause in the trace of what is lost (queued datagrams, unread stream bytes). */
static struct vmci_context *take_off(struct vmci_hypervisor *hypervisor, uint32_t cid,
                                     const char *reason, const char *rule)
{
    struct vmci_context *context = vmci__context_find(hypervisor, cid);
    if (context == NULL || !vmci_context_is_vm(cid))
        return NULL;
    /* Bring-up events hold the kernel: a VM leaves only once its driver has loaded. */
    if (context->device != NULL && !context->kernel->driver_loaded)
        return NULL;
    context->memory_inaccessible = true;                                        /* R205 */
    vmci__broker_detach_all(hypervisor, context);                               /* R68 */
    vmci__broker_uncharge_all(hypervisor, cid);
    context->link_count = 0;
    if (context->device != NULL)
        vmci_device_discard_pending(context->device, reason, rule);
    vmci__context_remove(hypervisor, context);
    uint8_t data[8] = { 0 };
    vmci_write_u32(data, cid);
    vmci__event_send(hypervisor, VMCI_HOST_CONTEXT_ID, VMCI_EVENT_CTX_REMOVED, data,
                     sizeof(data));                                             /* R69 */
    return context;
}

/* A suspended VM's context, by the CID it had; its index in *index_out. */
static struct vmci_context *suspended_find(struct vmci_hypervisor *hypervisor, uint32_t cid,
                                           uint32_t *index_out)
{
    for (uint32_t index = 0; index < hypervisor->suspended_count; index++) {
        if (hypervisor->suspended[index]->cid == cid) {
            *index_out = index;
            return hypervisor->suspended[index];
        }
    }
    return NULL;
}

int vmci_hypervisor_vm_suspend(struct vmci_hypervisor *hypervisor, uint32_t cid)
{
    if (hypervisor->suspended_count == hypervisor->suspended_capacity) {
        uint32_t capacity = hypervisor->suspended_capacity == 0 ? 4u
                                                                : hypervisor->suspended_capacity * 2;
        struct vmci_context **grown = realloc(hypervisor->suspended, capacity * sizeof(*grown));
        if (grown == NULL)
            return VMCI_ERROR_NO_MEM;
        hypervisor->suspended = grown;
        hypervisor->suspended_capacity = capacity;
    }
    struct vmci_context *context = take_off(hypervisor, cid, "suspend", "R205");
    if (context == NULL)
        return VMCI_ERROR_NOT_FOUND;
    hypervisor->suspended[hypervisor->suspended_count++] = context;
    trace_lifecycle(hypervisor, "ctx_suspend", cid, cid);
    return VMCI_SUCCESS;
}

int vmci_hypervisor_vm_resume(struct vmci_hypervisor *hypervisor, uint32_t suspended_cid,
                              uint32_t *cid_out)
{
    uint32_t index = 0;
    struct vmci_context *context = suspended_find(hypervisor, suspended_cid, &index);
    if (context == NULL)
        return VMCI_ERROR_NOT_FOUND;
    uint32_t cid = 0;
    int rc = vmci__cid_next_free(hypervisor, suspended_cid, &cid);              /* R8, R206 */
    if (rc < 0)
        return rc;
    context->cid = cid;
    if (context->device != NULL)
        vmci_device_set_cid(context->device, cid);
    rc = vmci__context_insert(hypervisor, context);
    if (rc < 0) {
        context->cid = suspended_cid;
        return rc;
    }
    hypervisor->suspended[index] = hypervisor->suspended[--hypervisor->suspended_count];
    context->memory_inaccessible = false;
    trace_lifecycle(hypervisor, "ctx_resume", cid, suspended_cid);
    if (cid != suspended_cid) {
        uint8_t data[8] = { 0 };
        vmci_write_u32(data, cid);
        vmci__event_send(hypervisor, cid, VMCI_EVENT_CTX_ID_UPDATE, data, sizeof(data)); /* R70 */
    }
    vmci__event_send(hypervisor, cid, VMCI_EVENT_QP_RESUMED, NULL, 0);           /* R71 */
    if (cid_out != NULL)
        *cid_out = cid;
    return VMCI_SUCCESS;
}

int vmci_hypervisor_vm_power_off(struct vmci_hypervisor *hypervisor, uint32_t cid)
{
    uint32_t index = 0;
    struct vmci_context *suspended = suspended_find(hypervisor, cid, &index);
    if (suspended != NULL) {
        /* Powering off a suspended VM: its context already left the table (R205). */
        hypervisor->suspended[index] = hypervisor->suspended[--hypervisor->suspended_count];
        trace_lifecycle(hypervisor, "ctx_remove", cid, cid);
        vmci__context_free(suspended);
        return VMCI_SUCCESS;
    }
    struct vmci_context *context = take_off(hypervisor, cid, "power_off", "R204");
    if (context == NULL)
        return VMCI_ERROR_NOT_FOUND;
    trace_lifecycle(hypervisor, "ctx_remove", cid, cid);                        /* R204 */
    vmci__context_free(context);
    return VMCI_SUCCESS;
}

int vmci_hypervisor_vm_set_ft(struct vmci_hypervisor *hypervisor, uint32_t cid, bool on)
{
    uint32_t index = 0;
    struct vmci_context *context = vmci__context_find(hypervisor, cid);
    if (context == NULL || !vmci_context_is_vm(cid))
        context = suspended_find(hypervisor, cid, &index);
    if (context == NULL)
        return VMCI_ERROR_NOT_FOUND;
    context->ft_mode = on;
    trace_lifecycle(hypervisor, on ? "ctx_ft_on" : "ctx_ft_off", cid, cid);     /* R208 */
    return VMCI_SUCCESS;
}

bool vmci__ft_separates(const struct vmci_hypervisor *hypervisor, uint32_t cid_a, uint32_t cid_b)
{
    if (cid_a == cid_b || cid_a == VMCI_HYPERVISOR_CONTEXT_ID ||
        cid_b == VMCI_HYPERVISOR_CONTEXT_ID)
        return false;
    const struct vmci_context *a = vmci__context_find((struct vmci_hypervisor *)hypervisor, cid_a);
    const struct vmci_context *b = vmci__context_find((struct vmci_hypervisor *)hypervisor, cid_b);
    return vmci__ft_separates_found(a, cid_a, b, cid_b);
}

bool vmci__ft_separates_found(const struct vmci_context *a, uint32_t cid_a,
                              const struct vmci_context *b, uint32_t cid_b)
{
    assert(a == NULL || a->cid == cid_a);
    assert(b == NULL || b->cid == cid_b);
    if (cid_a == cid_b || cid_a == VMCI_HYPERVISOR_CONTEXT_ID ||
        cid_b == VMCI_HYPERVISOR_CONTEXT_ID)
        return false;
    return (a != NULL && a->ft_mode) || (b != NULL && b->ft_mode);
}
