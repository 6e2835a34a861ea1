/* SPDX-License-Identifier: MIT */
/*
 * vmci/guest_driver.c: what a guest kernel's VMCI driver does with its device
 * (reference 3.3-3.6): probe and bring-up, sending a datagram through DATA_OUT,
 * and the interrupt handler (ICR, DATA_IN, dispatch, notification bitmap).
 *
 * The driver only touches its device through registers, like the Linux driver;
 * it never reads hypervisor tables. Bring-up runs as simulated events (D4): the
 * kernel is ready once the last step's register costs have elapsed.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "vmci_int.h"

/* The DATA_IN receive buffer: the largest datagram plus the page read before it. */
#define DRIVER_RECEIVE_BUFFER_BYTES (VMCI_MAX_DG_SIZE + VMCI_PAGE_SIZE)

static struct vmci_device *device_of(struct vmci_kernel *kernel)
{
    assert(!kernel->is_host);
    assert(kernel->context->device != NULL);
    return kernel->context->device;
}

int64_t vmci__guest_send(struct vmci_kernel *kernel, const uint8_t *bytes, uint64_t size_bytes,
                         uint64_t *cost_ns)
{
    struct vmci_device *device = device_of(kernel);
    const struct vmci_cost *cost = &kernel->hypervisor->cost;
    vmci_device_write_data_out(device, bytes, size_bytes);                      /* R36 */
    int32_t result = (int32_t)vmci_device_read(device, VMCI_RESULT_LOW_ADDR);
    if (cost_ns != NULL)
        *cost_ns += vmci_cost_draw(cost, VMCI_COST_REGISTER_ACCESS) +
                    vmci_cost_draw(cost, VMCI_COST_REGISTER_ACCESS) +
                    vmci_cost_draw(cost, VMCI_COST_HYPERCALL) + vmci_cost_copy_ns(cost, size_bytes);
    return result;
}

/* A hypercall with a small payload, during bring-up. */
static int64_t hypercall(struct vmci_kernel *kernel, uint32_t rid, const uint8_t *payload,
                         uint32_t payload_bytes, uint64_t *cost_ns)
{
    uint8_t bytes[VMCI_DG_HEADERSIZE + 16] = { 0 };
    assert(payload_bytes <= 16);
    struct vmci_datagram_header header = {
        .dst = { VMCI_HYPERVISOR_CONTEXT_ID, rid },
        .src = VMCI_INVALID_HANDLE,
        .payload_size = payload_bytes,
    };
    vmci_header_encode(bytes, &header);
    memcpy(bytes + VMCI_DG_HEADERSIZE, payload, payload_bytes);
    return vmci__guest_send(kernel, bytes, VMCI_DG_HEADERSIZE + payload_bytes, cost_ns);
}

static void driver_loaded_event(void *context, void *arg, uint64_t data)
{
    (void)context;
    (void)data;
    struct vmci_kernel *kernel = arg;
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_VMCI, "driver_loaded", kernel->head.cid, 0);
    vmci__trace(kernel->hypervisor, &event);
    vmci__kernel_ready(kernel);
}

static void driver_fail(struct vmci_kernel *kernel, const char *reason)
{
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_VMCI, "driver_fail", kernel->head.cid, 0);
    sim_trace_field_str(&event, "reason", reason);
    vmci__trace(kernel->hypervisor, &event);
}

/* The event queue is full (events_pending_max, which the engine's message names): the
 * driver cannot go on, and neither can the run, as when the device cannot schedule an
 * interrupt; a run that went on would pass with a VM that silently has no driver. */
static void driver_fail_events_pending(struct vmci_kernel *kernel, int rc)
{
    driver_fail(kernel, "limit events_pending_max");
    sim_engine_abort(kernel->hypervisor->engine, rc);
}

/* 3.3, in order. Returns the simulated time the bring-up took, or 0 on failure. */
static uint64_t bring_up(struct vmci_kernel *kernel)
{
    struct vmci_device *device = device_of(kernel);
    const struct vmci_cost *cost = &kernel->hypervisor->cost;
    uint64_t cost_ns = 0;
    uint32_t caps = vmci_device_read(device, VMCI_CAPS_ADDR);
    if (!(caps & VMCI_CAPS_DATAGRAM)) {
        driver_fail(kernel, "no VMCI_CAPS_DATAGRAM (ENXIO)");                   /* R29 */
        return 0;
    }
    uint32_t in_use = caps & (VMCI_CAPS_DATAGRAM | VMCI_CAPS_NOTIFICATIONS | VMCI_CAPS_PPN64);
    vmci_device_write(device, VMCI_CAPS_ADDR, in_use);
    cost_ns += vmci_cost_draw(cost, VMCI_COST_REGISTER_ACCESS) +
               vmci_cost_draw(cost, VMCI_COST_REGISTER_ACCESS);
    if (in_use & VMCI_CAPS_NOTIFICATIONS) {
        uint8_t ppn[8];
        vmci_write_u64(ppn, 0x1000u + kernel->head.cid);     /* any page number: not modelled */
        int64_t rc = hypercall(kernel, VMCI_SET_NOTIFY_BITMAP, ppn,
                               (in_use & VMCI_CAPS_PPN64) ? 8 : 4, &cost_ns);
        if (rc < VMCI_SUCCESS) {
            driver_fail(kernel, "VMCI_SET_NOTIFY_BITMAP failed (ENXIO)");
            return 0;
        }
    }
    uint8_t query[12] = { 0 };
    vmci_write_u32(query, 1);
    vmci_write_u32(query + 8, VMCI_GET_CONTEXT_ID);
    if (hypercall(kernel, VMCI_RESOURCES_QUERY, query, sizeof(query), &cost_ns) != 0x1) {
        driver_fail(kernel, "VMCI_GET_CONTEXT_ID not offered (ENXIO)");
        return 0;
    }
    uint32_t mask = VMCI_IMR_DATAGRAM | ((in_use & VMCI_CAPS_NOTIFICATIONS) ? VMCI_IMR_NOTIFICATION : 0);
    vmci_device_write(device, VMCI_IMR_ADDR, mask);
    vmci_device_write(device, VMCI_CONTROL_ADDR, VMCI_CONTROL_INT_ENABLE);
    return cost_ns + vmci_cost_draw(cost, VMCI_COST_REGISTER_ACCESS) +
           vmci_cost_draw(cost, VMCI_COST_REGISTER_ACCESS);
}

static void driver_probe_event(void *context, void *arg, uint64_t data)
{
    (void)data;
    struct sim_engine *engine = context;
    struct vmci_kernel *kernel = arg;
    if (kernel->receive_buffer == NULL)
        kernel->receive_buffer = malloc(DRIVER_RECEIVE_BUFFER_BYTES);
    if (kernel->receive_buffer == NULL) {
        driver_fail(kernel, "out of memory");
        return;
    }
    uint64_t took_ns = bring_up(kernel);
    if (took_ns == 0)
        return;
    int rc = sim_engine_schedule_after_in(engine, kernel->engine_domain, took_ns,
                                          driver_loaded_event, kernel, 0, NULL);
    if (rc < 0)
        driver_fail_events_pending(kernel, rc);
}

void vmci__guest_driver_start(struct vmci_kernel *kernel)
{
    struct sim_engine *engine = kernel->hypervisor->engine;
    int rc = sim_engine_schedule_after_in(engine, kernel->engine_domain, 0, driver_probe_event,
                                          kernel, 0, NULL);
    if (rc < 0)
        driver_fail_events_pending(kernel, rc);
}

/* The driver's receive buffer: [start, end) holds unread stream bytes, of which
 * [filler_from, end) are 0xFF filler the device did not store (vmci_device_read_data_in_
 * unfilled). They are stored on demand, before the driver looks at them or moves them, so
 * every byte the driver reads is the byte a fully written page would hold; a driver that
 * finds the filler after a 56-byte packet stores 24 bytes of it instead of a page. */
struct receive_window {
    uint8_t *buffer;
    uint64_t start;
    uint64_t end;
    uint64_t filler_from;
};

/* Stores the deferred filler below `upto` (clamped to the window's end). */
static void window_settle(struct receive_window *window, uint64_t upto)
{
    if (upto > window->end)
        upto = window->end;
    if (upto > window->filler_from) {
        memset(window->buffer + window->filler_from, 0xFF, upto - window->filler_from);
        window->filler_from = upto;
    }
    assert(window->filler_from <= window->end);
}

/* Moves the unread bytes to the buffer's start and reads `size_bytes` more after them. */
static void window_read(struct receive_window *window, struct vmci_device *device,
                        uint64_t size_bytes)
{
    window_settle(window, window->end);
    memmove(window->buffer, window->buffer + window->start, window->end - window->start);
    window->end -= window->start;
    window->start = 0;
    assert(window->end + size_bytes <= DRIVER_RECEIVE_BUFFER_BYTES);
    size_t filler_bytes = vmci_device_read_data_in_unfilled(device, window->buffer + window->end,
                                                            size_bytes);
    window->end += size_bytes;
    window->filler_from = window->end - filler_bytes;
}

/* Reads DATA_IN until the 0xFF filler and dispatches every datagram (R40-R42). */
static void drain_datagrams(struct vmci_kernel *kernel)
{
    struct vmci_device *device = device_of(kernel);
    struct receive_window window = { .buffer = kernel->receive_buffer };
    for (uint32_t count = 0; count < VMCI_DRIVER_DATAGRAMS_PER_INTERRUPT_MAX; count++) {
        if (window.end - window.start < VMCI_DG_HEADERSIZE)
            window_read(&window, device, VMCI_DRIVER_FIRST_READ_BYTES);
        window_settle(&window, window.start + VMCI_DG_HEADERSIZE);
        struct vmci_datagram_header header;
        vmci_header_decode(window.buffer + window.start, &header);
        if (header.dst.resource == VMCI_INVALID_ID)
            return;                                         /* the filler: nothing more */
        if (header.payload_size > VMCI_MAX_DG_PAYLOAD_SIZE)
            return;                                         /* corrupt stream: stop (R41) */
        uint64_t size_bytes = VMCI_DG_HEADERSIZE + header.payload_size;
        uint64_t slot_bytes = vmci_dg_size_aligned(size_bytes);
        if (window.end - window.start < slot_bytes)        /* read the rest of this one */
            window_read(&window, device, slot_bytes - (window.end - window.start));
        window_settle(&window, window.start + size_bytes);
        vmci__kernel_dispatch(kernel, window.buffer + window.start, size_bytes);
        window.start += slot_bytes;
    }
}

static void interrupt(void *state, uint32_t cid)
{
    struct vmci_hypervisor *hypervisor = state;
    struct vmci_kernel *kernel = vmci_hypervisor_guest(hypervisor, cid);
    if (kernel == NULL || kernel->receive_buffer == NULL)
        return;                                 /* no driver yet: the cause stays pending */
    /* The site device_reset: instead of handling this interrupt the driver reloads, as
     * vm:reset_device() does (R209); once per kernel, so a VM is not reset over and over. */
    if (!kernel->fault_reset_done && kernel->driver_loaded && !kernel->reload_pending &&
        vmci_fault(&hypervisor->faults, VMCI_FAULT_DEVICE_RESET, cid)) {
        kernel->fault_reset_done = true;
        (void)vmci_kernel_reset_device(kernel);
        return;
    }
    struct vmci_device *device = device_of(kernel);
    uint32_t causes = vmci_device_read(device, VMCI_ICR_ADDR);                  /* R31 */
    if (causes & VMCI_ICR_DATAGRAM)
        drain_datagrams(kernel);
    if (causes & VMCI_ICR_NOTIFICATION) {
        uint8_t *bitmap = vmci_device_bitmap(device);
        if (bitmap != NULL)
            vmci__kernel_doorbells_scan(kernel, bitmap);                        /* R46 */
    }
}

static int64_t datagram_out(void *state, uint32_t cid, const uint8_t *datagram,
                            uint64_t size_bytes)
{
    return vmci__route(state, cid, datagram, size_bytes);
}

/* The guest kernel whose engine domain is `domain` (a VM keeps its domain across CID
 * changes), or NULL when the VM is not in the context table (suspended, powered off). */
static struct vmci_kernel *guest_in_domain(struct vmci_hypervisor *hypervisor, uint32_t domain)
{
    for (uint32_t index = 0; index < hypervisor->context_count; index++) {
        struct vmci_kernel *kernel = hypervisor->contexts[index]->kernel;
        if (kernel != NULL && !kernel->is_host && kernel->engine_domain == domain)
            return kernel;
    }
    return NULL;
}

/* D4 after R34: the driver runs its bring-up again, as a reload does, then its users may
 * create handles again. The bring-up's register costs are not simulated time here. A VM
 * suspended meanwhile runs this at its resume (the event is the guest's); one powered off
 * meanwhile has a new kernel without reload_pending, and nothing happens. */
static void driver_reload_event(void *context, void *arg, uint64_t data)
{
    (void)context;
    struct vmci_kernel *kernel = guest_in_domain(arg, (uint32_t)data);
    if (kernel == NULL || !kernel->reload_pending)
        return;
    kernel->reload_pending = false;
    if (bring_up(kernel) == 0)
        return;                                 /* driver_fail traced the reason */
    /* A loading driver asks for its CID (R74) and keeps the result's low 32 bits, as the
     * Linux driver does: a CTX_ID_UPDATE that the reset discarded (a resume just before
     * it, its interrupt not yet taken) is not missed, so the reloaded guest never goes on
     * with its old CID (R210). */
    uint64_t cost_ns = 0;
    uint8_t none[1] = { 0 };
    kernel->head.cid = (uint32_t)hypercall(kernel, VMCI_GET_CONTEXT_ID, none, 0, &cost_ns);
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_VMCI, "driver_loaded", kernel->head.cid, 0);
    sim_trace_field_str(&event, "after", "device_reset");
    vmci__trace(kernel->hypervisor, &event);
    vmci__kernel_reset_notify(kernel, true);
}

/* R34, R209: the hypervisor detaches the VM's queue pairs (peers see QP_PEER_DETACH); the
 * guest kernel, which wrote CONTROL_RESET itself, knows at once: its sockets end as after
 * a peer detach. When the driver asked for the reset (vmci_kernel_reset_device) it loads
 * again in the guest's next event; a raw register write (a hostile or buggy kernel behind
 * the driver's back) leaves the device reset. Nothing here touches the device: this runs
 * inside its reset callback. */
static void device_reset(void *state, uint32_t cid)
{
    struct vmci_hypervisor *hypervisor = state;
    struct vmci_context *context = vmci__context_find(hypervisor, cid);
    if (context == NULL)
        return;
    vmci__broker_detach_all(hypervisor, context);                              /* R34 */
    context->link_count = 0;
    struct vmci_kernel *kernel = context->kernel;
    if (kernel == NULL || !kernel->driver_loaded)
        return;                                 /* still in its first bring-up: it goes on */
    vmci__kernel_reset_notify(kernel, false);                                   /* R209 */
    if (!kernel->reload_pending)
        return;
    int rc = sim_engine_schedule_after_in(hypervisor->engine, kernel->engine_domain, 0,
                                          driver_reload_event, hypervisor, kernel->engine_domain,
                                          NULL);
    if (rc < 0) {
        kernel->reload_pending = false;
        driver_fail_events_pending(kernel, rc);
    }
}

int vmci_kernel_reset_device(struct vmci_kernel *kernel)
{
    assert(kernel != NULL);
    if (kernel->is_host || kernel->context->device == NULL || !kernel->driver_loaded ||
        kernel->reload_pending)
        return VMCI_ERROR_UNAVAILABLE;
    kernel->reload_pending = true;              /* device_reset schedules the reload */
    vmci_device_write(kernel->context->device, VMCI_CONTROL_ADDR, VMCI_CONTROL_RESET);
    return VMCI_SUCCESS;
}

const struct vmci_device_ops vmci__device_ops = {
    .datagram_out = datagram_out,
    .interrupt = interrupt,
    .reset = device_reset,
};
