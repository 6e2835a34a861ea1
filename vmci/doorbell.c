/* SPDX-License-Identifier: MIT */
/*
 * vmci/doorbell.c: doorbells (reference R43-R47). The vSockets transport does not
 * use them (R47); they exist for completeness and for tests of the device model.
 *
 * Hypervisor side: each context's link table {handle -> bitmap index}; ringing
 * sets the index's byte in the owner's notification bitmap and raises
 * ICR_NOTIFICATION. Kernel side: the callbacks, found by index when the guest's
 * interrupt handler scans the bitmap (R46). A host doorbell has no bitmap: ringing
 * it runs its callback in an event route_ns later.
 *
 * R45's privilege check never denies here: VM-to-VM rings are refused before it
 * (DST_UNREACHABLE), a context may ring itself, and the host kernel's doorbells
 * and rings are privileged (the host kernel creates them, not a user process).
 */
#include <assert.h>
#include <stdlib.h>

#include "vmci_int.h"

static struct vmci_link *link_find(struct vmci_context *context, struct vmci_handle handle)
{
    for (uint32_t index = 0; index < context->link_count; index++) {
        if (vmci_handle_equal(context->links[index].handle, handle))
            return &context->links[index];
    }
    return NULL;
}

/* A full link table is named in the trace (a hostile guest kernel meets it through raw
 * hypercalls); not a world limit: the bitmap's index range is the device's interface. */
int vmci__doorbell_link(struct vmci_hypervisor *hypervisor, struct vmci_context *context,
                        struct vmci_handle handle, uint64_t notify_index)
{
    if (notify_index >= VMCI_MAX_GUEST_DOORBELL_COUNT || handle.context != context->cid)
        return VMCI_ERROR_INVALID_ARGS;
    if (link_find(context, handle) != NULL)
        return VMCI_ERROR_DUPLICATE_ENTRY;                                      /* R44 */
    if (context->link_count >= VMCI_MAX_GUEST_DOORBELL_COUNT) {
        vmci__limit_reached(hypervisor, context->cid, "doorbell_links_max",
                            VMCI_MAX_GUEST_DOORBELL_COUNT, VMCI_ERROR_NO_RESOURCES);
        return VMCI_ERROR_NO_RESOURCES;
    }
    if (context->link_count == context->link_capacity) {
        uint32_t capacity = context->link_capacity == 0 ? 8u : context->link_capacity * 2;
        struct vmci_link *grown = realloc(context->links, capacity * sizeof(*grown));
        if (grown == NULL)
            return VMCI_ERROR_NO_MEM;
        context->links = grown;
        context->link_capacity = capacity;
    }
    context->links[context->link_count].handle = handle;
    context->links[context->link_count].notify_index = (uint32_t)notify_index;
    context->link_count++;
    return VMCI_SUCCESS;
}

int vmci__doorbell_unlink(struct vmci_context *context, struct vmci_handle handle)
{
    struct vmci_link *link = link_find(context, handle);
    if (link == NULL)
        return VMCI_ERROR_NOT_FOUND;                                            /* R44 */
    *link = context->links[context->link_count - 1];
    context->link_count--;
    return VMCI_SUCCESS;
}

static void host_ring_event(void *context, void *arg, uint64_t data)
{
    (void)context;
    struct vmci_kernel *host = arg;
    for (uint32_t index = 0; index < host->doorbell_count; index++) {
        struct vmci_doorbell_entry entry = host->doorbells[index];
        if (entry.live && entry.notify_index == (uint32_t)data)
            entry.fn(entry.state);
    }
}

/* A doorbell_late ring, due now: the target found again by CID (it may have left, or
 * unlinked the doorbell, meanwhile: then the ring is gone with it). data: cid << 32 | index. */
static void late_ring_event(void *context, void *arg, uint64_t data)
{
    (void)context;
    struct vmci_hypervisor *hypervisor = arg;
    uint32_t cid = (uint32_t)(data >> 32);
    uint32_t notify_index = (uint32_t)data;
    struct vmci_context *target = vmci__context_find(hypervisor, cid);
    if (target == NULL)
        return;
    if (target->device != NULL)
        (void)vmci_device_bitmap_set(target->device, notify_index);
    else if (target->kernel != NULL)
        host_ring_event(hypervisor->engine, target->kernel, notify_index);
}

/* The doorbell sites, once the ring is valid (docs/faults.md). Returns true when a site
 * took the ring: lost (doorbell_lost) or scheduled late (doorbell_late). */
static bool ring_faults(struct vmci_hypervisor *hypervisor, struct vmci_context *target,
                        const struct vmci_link *link)
{
    struct vmci_faults *faults = &hypervisor->faults;
    if (vmci_fault(faults, VMCI_FAULT_DOORBELL_LOST, target->cid))
        return true;
    if (!vmci_fault(faults, VMCI_FAULT_DOORBELL_LATE, target->cid))
        return false;
    uint64_t late_ns = vmci_fault_stretch_fired(faults, vmci_cost_draw(&hypervisor->cost,
                                                                       VMCI_COST_ROUTE));
    uint64_t data = ((uint64_t)target->cid << 32) | link->notify_index;
    /* A full event queue is a world limit the engine names: the ring is then simply lost. */
    (void)sim_engine_schedule_after_in(hypervisor->engine, 0, late_ns, late_ring_event,
                                       hypervisor, data, NULL);
    return true;
}

int vmci__doorbell_notify(struct vmci_hypervisor *hypervisor, struct vmci_context *source,
                          struct vmci_handle handle)
{
    struct vmci_context *target = vmci__context_find(hypervisor, handle.context);
    int rc = VMCI_SUCCESS;
    struct vmci_link *link = target != NULL ? link_find(target, handle) : NULL;
    if (target == NULL)
        rc = VMCI_ERROR_NOT_FOUND;                                              /* R45 */
    else if (vmci_context_is_vm(source->cid) && vmci_context_is_vm(target->cid) &&
             source->cid != target->cid)
        rc = VMCI_ERROR_DST_UNREACHABLE;
    else if (link == NULL)
        rc = VMCI_ERROR_NOT_FOUND;
    else if (ring_faults(hypervisor, target, link))
        rc = VMCI_SUCCESS;                          /* the ringer never knows */
    else if (target->device != NULL)
        rc = vmci_device_bitmap_set(target->device, link->notify_index);
    else if (sim_engine_schedule_after_in(hypervisor->engine, 0,
                                          vmci_cost_draw(&hypervisor->cost, VMCI_COST_ROUTE),
                                          host_ring_event, target->kernel, link->notify_index,
                                          NULL) < 0)
        rc = VMCI_ERROR_NO_RESOURCES;
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_VMCI, "doorbell_notify", source->cid,
                         vmci__current_pid(hypervisor));
    sim_trace_field_u64(&event, "dst_cid", handle.context);
    sim_trace_field_u64(&event, "dst_rid", handle.resource);
    sim_trace_field_i64(&event, "result", rc);
    vmci__trace(hypervisor, &event);
    return rc;
}

/* Kernel side. The lowest free bitmap index; the table is bounded by the bitmap size. */
static int index_free(const struct vmci_kernel *kernel, uint32_t *index_out)
{
    for (uint32_t candidate = 0; candidate < VMCI_MAX_GUEST_DOORBELL_COUNT; candidate++) {
        bool used = false;
        for (uint32_t index = 0; index < kernel->doorbell_count && !used; index++)
            used = kernel->doorbells[index].live && kernel->doorbells[index].notify_index == candidate;
        if (!used) {
            *index_out = candidate;
            return VMCI_SUCCESS;
        }
    }
    return VMCI_ERROR_NO_RESOURCES;
}

static struct vmci_doorbell_entry *doorbell_slot(struct vmci_kernel *kernel)
{
    for (uint32_t index = 0; index < kernel->doorbell_count; index++) {
        if (!kernel->doorbells[index].live)
            return &kernel->doorbells[index];
    }
    if (kernel->doorbell_count >= VMCI_MAX_GUEST_DOORBELL_COUNT)
        return NULL;
    if (kernel->doorbell_count == kernel->doorbell_capacity) {
        uint32_t capacity = kernel->doorbell_capacity == 0 ? 8u : kernel->doorbell_capacity * 2;
        struct vmci_doorbell_entry *grown = realloc(kernel->doorbells, capacity * sizeof(*grown));
        if (grown == NULL)
            return NULL;
        kernel->doorbells = grown;
        kernel->doorbell_capacity = capacity;
    }
    return &kernel->doorbells[kernel->doorbell_count++];
}

/* A doorbell hypercall from a guest kernel, or the direct call for the host. */
static int doorbell_call(struct vmci_kernel *kernel, uint32_t rid, struct vmci_handle handle,
                         uint32_t notify_index, uint64_t *cost_ns)
{
    struct vmci_hypervisor *hypervisor = kernel->hypervisor;
    if (kernel->is_host) {
        if (cost_ns != NULL)
            *cost_ns += vmci_cost_draw(&hypervisor->cost, VMCI_COST_HYPERCALL);
        if (rid == VMCI_DOORBELL_LINK)
            return vmci__doorbell_link(hypervisor, kernel->context, handle, notify_index);
        if (rid == VMCI_DOORBELL_UNLINK)
            return vmci__doorbell_unlink(kernel->context, handle);
        return vmci__doorbell_notify(hypervisor, kernel->context, handle);
    }
    uint8_t bytes[VMCI_DG_HEADERSIZE + 16] = { 0 };
    uint32_t payload_bytes = rid == VMCI_DOORBELL_LINK ? 16u : 8u;
    struct vmci_datagram_header header = {
        .dst = { VMCI_HYPERVISOR_CONTEXT_ID, rid },
        .src = { kernel->head.cid, VMCI_CONTEXT_RESOURCE_ID },
        .payload_size = payload_bytes,
    };
    vmci_header_encode(bytes, &header);
    vmci_write_u32(bytes + VMCI_DG_HEADERSIZE, handle.context);
    vmci_write_u32(bytes + VMCI_DG_HEADERSIZE + 4, handle.resource);
    vmci_write_u64(bytes + VMCI_DG_HEADERSIZE + 8, notify_index);
    return (int)vmci__guest_send(kernel, bytes, VMCI_DG_HEADERSIZE + payload_bytes, cost_ns);
}

int vmci_doorbell_create(struct vmci_kernel *kernel, vmci_doorbell_fn fn, void *state,
                         struct vmci_handle *handle_out, uint64_t *cost_ns)
{
    assert(kernel != NULL && fn != NULL && handle_out != NULL);
    if (!kernel->driver_loaded)
        return VMCI_ERROR_UNAVAILABLE;
    uint32_t notify_index = 0;
    int rc = index_free(kernel, &notify_index);
    if (rc < 0)
        return rc;
    struct vmci_handle handle = { kernel->head.cid, kernel->rid_next };
    kernel->rid_next = kernel->rid_next == VMCI_INVALID_ID - 1u
                           ? VMCI_RESERVED_RESOURCE_ID_MAX + 1u : kernel->rid_next + 1u;  /* R23 */
    struct vmci_doorbell_entry *entry = doorbell_slot(kernel);
    if (entry == NULL)
        return VMCI_ERROR_NO_RESOURCES;
    rc = doorbell_call(kernel, VMCI_DOORBELL_LINK, handle, notify_index, cost_ns);
    if (rc < 0) {
        entry->live = false;
        return rc;
    }
    entry->handle = handle;
    entry->notify_index = notify_index;
    entry->live = true;
    entry->fn = fn;
    entry->state = state;
    *handle_out = handle;
    return VMCI_SUCCESS;
}

int vmci_doorbell_destroy(struct vmci_kernel *kernel, struct vmci_handle handle,
                          uint64_t *cost_ns)
{
    for (uint32_t index = 0; index < kernel->doorbell_count; index++) {
        struct vmci_doorbell_entry *entry = &kernel->doorbells[index];
        if (entry->live && vmci_handle_equal(entry->handle, handle)) {
            entry->live = false;
            return doorbell_call(kernel, VMCI_DOORBELL_UNLINK, handle, 0, cost_ns);
        }
    }
    return VMCI_ERROR_NOT_FOUND;
}

int vmci_doorbell_notify(struct vmci_kernel *kernel, struct vmci_handle handle,
                         uint64_t *cost_ns)
{
    if (!kernel->driver_loaded)
        return VMCI_ERROR_UNAVAILABLE;
    return doorbell_call(kernel, VMCI_DOORBELL_NOTIFY, handle, 0, cost_ns);
}

void vmci__kernel_doorbells_scan(struct vmci_kernel *kernel, uint8_t *bitmap)
{
    for (uint32_t byte = 0; byte < VMCI_NOTIFY_BITMAP_BYTES; byte++) {
        if (bitmap[byte] != 1)
            continue;
        bitmap[byte] = 0;                                                       /* R46 */
        for (uint32_t index = 0; index < kernel->doorbell_count; index++) {
            struct vmci_doorbell_entry entry = kernel->doorbells[index];
            if (entry.live && entry.notify_index == byte)
                entry.fn(entry.state);
        }
    }
}
