/* SPDX-License-Identifier: MIT */
/*
 * vmci/host_driver.c: the host kernel's path (CID 2): a send goes straight to the
 * hypervisor's router; a datagram for a host handle is delivered in an engine
 * event route_ns later, so no receiver runs inside its sender's call.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "vmci_int.h"

int64_t vmci__host_send(struct vmci_kernel *kernel, const uint8_t *bytes, uint64_t size_bytes,
                        uint64_t *cost_ns)
{
    assert(kernel->is_host);
    struct vmci_hypervisor *hypervisor = kernel->hypervisor;
    if (cost_ns != NULL)
        *cost_ns += vmci_cost_draw(&hypervisor->cost, VMCI_COST_HYPERCALL) +
                    vmci_cost_copy_ns(&hypervisor->cost, size_bytes);
    return vmci__route(hypervisor, kernel->head.cid, bytes, size_bytes);
}

static void delivery_unlink(struct vmci_hypervisor *hypervisor, struct vmci_delivery *delivery)
{
    if (delivery->prev != NULL)
        delivery->prev->next = delivery->next;
    else
        hypervisor->deliveries = delivery->next;
    if (delivery->next != NULL)
        delivery->next->prev = delivery->prev;
    else
        hypervisor->deliveries_tail = delivery->prev;
    assert(hypervisor->delivery_count > 0);
    hypervisor->delivery_count--;
}

static void deliver_event(void *context, void *arg, uint64_t data)
{
    (void)context;
    (void)data;
    struct vmci_hypervisor *hypervisor = arg;
    struct vmci_delivery *delivery = hypervisor->deliveries;    /* FIFO: R59 */
    assert(delivery != NULL);
    delivery_unlink(hypervisor, delivery);
    struct vmci_kernel *kernel = delivery->target_cid == VMCI_HOST_CONTEXT_ID
                                     ? vmci_hypervisor_host(hypervisor)
                                     : vmci_hypervisor_guest(hypervisor, delivery->target_cid);
    if (kernel != NULL) {
        hypervisor->deliveries_dispatched++;
        vmci__kernel_dispatch(kernel, delivery->bytes, delivery->size_bytes);
    } else {
        hypervisor->deliveries_discarded++;                                    /* the VM left meanwhile (R204, R205) */
        struct sim_trace_event event;
        sim_trace_event_init(&event, SIM_LAYER_VMCI, "data_discarded", delivery->target_cid, 0);
        sim_trace_field_str(&event, "reason", "destination_gone");
        sim_trace_field_str(&event, "rule", "R204");
        sim_trace_field_u64(&event, "count", 1);
        sim_trace_field_u64(&event, "bytes", delivery->size_bytes);
        vmci__trace(hypervisor, &event);
    }
    vmci_spares_give(&hypervisor->delivery_spares, delivery, delivery->size_bytes);
}

int vmci__host_deliver_later(struct vmci_hypervisor *hypervisor, const uint8_t *bytes,
                             uint64_t size_bytes)
{
    return vmci__deliver_later(hypervisor, VMCI_HOST_CONTEXT_ID, bytes, size_bytes);
}

int vmci__deliver_later(struct vmci_hypervisor *hypervisor, uint32_t cid, const uint8_t *bytes,
                        uint64_t size_bytes)
{
    return vmci__deliver_later_after(hypervisor, cid, bytes, size_bytes, 0);
}

int vmci__deliver_later_after(struct vmci_hypervisor *hypervisor, uint32_t cid,
                              const uint8_t *bytes, uint64_t size_bytes, uint64_t extra_ns)
{
    assert(size_bytes >= VMCI_DG_HEADERSIZE && size_bytes <= VMCI_MAX_DG_SIZE);
    uint32_t deliveries_max = sim_engine_limits(hypervisor->engine)->host_deliveries_max;
    if (hypervisor->delivery_count >= deliveries_max) {
        struct vmci_datagram_header header;
        vmci_header_decode(bytes, &header);             /* named in the sender's context */
        vmci__limit_reached(hypervisor, header.src.context, "host_deliveries_max",
                            deliveries_max, VMCI_ERROR_NO_RESOURCES);
        return VMCI_ERROR_NO_RESOURCES;
    }
    struct vmci_delivery *delivery = vmci_spares_take(&hypervisor->delivery_spares,
                                                      sizeof(*delivery), (size_t)size_bytes);
    if (delivery == NULL)
        return VMCI_ERROR_NO_MEM;
    /* Deliveries keep their order: each is due no earlier than the one before it (a
     * jittered or lowered route_ns could otherwise overtake it), so events fire in append
     * order and the event handler can always take the oldest. */
    uint64_t now_ns = sim_engine_now(hypervisor->engine);
    uint64_t route_ns = vmci_cost_draw(&hypervisor->cost, VMCI_COST_ROUTE);
    route_ns = extra_ns > UINT64_MAX - route_ns ? UINT64_MAX : route_ns + extra_ns;
    uint64_t due_ns = route_ns > UINT64_MAX - now_ns ? UINT64_MAX : now_ns + route_ns;
    if (hypervisor->delivery_count > 0 && due_ns < hypervisor->delivery_last_due_ns)
        due_ns = hypervisor->delivery_last_due_ns;
    /* The host's side, in the host's domain (0), whichever guest sent it. */
    if (sim_engine_schedule_at_in(hypervisor->engine, 0, due_ns, deliver_event, hypervisor, 0,
                                  NULL) < 0) {
        vmci_spares_give(&hypervisor->delivery_spares, delivery, (size_t)size_bytes);
        return VMCI_ERROR_NO_RESOURCES;
    }
    hypervisor->delivery_last_due_ns = due_ns;
    delivery->target_cid = cid;
    delivery->size_bytes = size_bytes;
    memcpy(delivery->bytes, bytes, size_bytes);
    delivery->next = NULL;
    delivery->prev = hypervisor->deliveries_tail;
    if (hypervisor->deliveries_tail != NULL)
        hypervisor->deliveries_tail->next = delivery;
    else
        hypervisor->deliveries = delivery;
    hypervisor->deliveries_tail = delivery;
    hypervisor->delivery_count++;
    hypervisor->deliveries_accepted++;
    return VMCI_SUCCESS;
}

void vmci__host_deliveries_free(struct vmci_hypervisor *hypervisor)
{
    uint32_t freed = 0;
    while (hypervisor->deliveries != NULL) {
        struct vmci_delivery *delivery = hypervisor->deliveries;
        hypervisor->deliveries = delivery->next;
        free(delivery);
        freed++;
    }
    assert(freed == hypervisor->delivery_count);
    vmci_spares_free(&hypervisor->delivery_spares);
    hypervisor->deliveries_tail = NULL;
    hypervisor->delivery_count = 0;
}
