/* SPDX-License-Identifier: MIT */
/*
 * vmci/vmci.h: the VMCI driver API, the only header of vmci/ that vsock/ includes.
 *
 * What a real vSockets transport uses of VMCI: datagram handles, send and receive
 * callbacks, queue pairs, doorbells, event subscription, and the queries it needs
 * to apply the rules it owns (local CID, a peer's privilege flags and owner, the
 * profile's capabilities, whether the device and driver are there). The same
 * functions serve the host and every guest; underneath, a guest kernel goes
 * through its device (DATA_OUT, interrupts, DATA_IN) and the host kernel calls
 * the hypervisor directly.
 *
 * Costs: calls that do work a process pays for add it to *cost_ns (may be NULL);
 * the caller's process sleeps that long before the call returns to it.
 * Results: 0 or positive on success, a negative VMCI_ERROR_* otherwise.
 */
#ifndef VMCI_VMCI_H
#define VMCI_VMCI_H

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>

#include "defs.h"
#include "hypervisor.h"
#include "profile.h"

struct vmci_kernel;
struct vmci_qpair;

/* Queries. */
/* What vSockets asks a kernel at every packet and traced event, laid out as the first member
 * of struct vmci_kernel (vmci_int.h) so that vmci_kernel_cid and vmci_kernel_faults are
 * loads, not calls. Only vmci/ writes it. */
struct vmci_kernel_head {
    uint32_t cid;                           /* the kernel's cached CID (R70) */
    struct vmci_faults *faults;             /* its hypervisor's fault sites, for life */
};

/* A pointer to a structure, converted, points to its first member (C11 6.7.2.1). */
static inline const struct vmci_kernel_head *vmci__kernel_head(const struct vmci_kernel *kernel)
{
    return (const struct vmci_kernel_head *)(const void *)kernel;
}

static inline uint32_t vmci_kernel_cid(const struct vmci_kernel *kernel)
{
    return vmci__kernel_head(kernel)->cid;
}
bool vmci_kernel_is_host(const struct vmci_kernel *kernel);
/* A guest without a device (hw < 7) or whose driver has not loaded is not ready (R203). */
bool vmci_kernel_has_device(const struct vmci_kernel *kernel);
bool vmci_kernel_ready(const struct vmci_kernel *kernel);
struct vmci_hypervisor *vmci_kernel_hypervisor(struct vmci_kernel *kernel);
/* The world's fault sites, for the layers above (vsock): vmci_fault(faults, site, cid). */
static inline struct vmci_faults *vmci_kernel_faults(struct vmci_kernel *kernel)
{
    assert(kernel != NULL);
    return vmci__kernel_head(kernel)->faults;
}
/* Called once the guest driver has loaded (D4); host kernels are ready at once. */
typedef void (*vmci_ready_fn)(void *state, struct vmci_kernel *kernel);
void vmci_kernel_on_ready(struct vmci_kernel *kernel, vmci_ready_fn fn, void *state);
/* A guest's device was reset (R34, R209). `reloaded` false: at the reset, the hypervisor has
 * just detached the kernel's queue pairs; true: the driver's bring-up has run again (D4,
 * as after a driver reload) and the kernel may create handles again. Registrations last
 * as long as the kernel; at most VMCI_RESET_CALLBACKS_MAX (else VMCI_ERROR_NO_RESOURCES). */
typedef void (*vmci_reset_fn)(void *state, struct vmci_kernel *kernel, bool reloaded);
int vmci_kernel_on_reset(struct vmci_kernel *kernel, vmci_reset_fn fn, void *state);
/* The guest driver resets its own device (CONTROL_RESET, R34, R209) and then loads again
 * (D4) in the guest's next event. VMCI_ERROR_UNAVAILABLE for the host, a guest without a
 * device, a driver not loaded yet, or a reload still pending. */
int vmci_kernel_reset_device(struct vmci_kernel *kernel);

/* Datagram handles. The callback runs in an engine event (never inside the sender's
 * call); the payload is borrowed for the call. */
typedef void (*vmci_dg_recv_fn)(void *state, const struct vmci_datagram_header *header,
                                const uint8_t *payload);
/* Creates a handle {own CID (ANY with VMCI_FLAG_ANYCID_DG_HND), rid}; rid VMCI_INVALID_ID
 * allocates one (R23). `identity` (host kernels only, may be NULL) asks for TRUSTED
 * privileges (R60). Errors: INVALID_ARGS (bad flags), ALREADY_EXISTS (R61), NO_HANDLE,
 * NO_RESOURCES (VMCI_*_HANDLES_MAX), UNAVAILABLE (driver not loaded). */
int vmci_dg_create(struct vmci_kernel *kernel, uint32_t rid, uint32_t flags,
                   const struct vmci_identity *identity, vmci_dg_recv_fn fn, void *state,
                   struct vmci_handle *handle_out);
int vmci_dg_destroy(struct vmci_kernel *kernel, struct vmci_handle handle);
/* A host handle's synchronous check (R55: the host callback's negative result reaches the
 * sender; R152, R190). It runs inside the sender's call, so it must only read state and
 * return 0 or a negative VMCI_ERROR_*; delivery itself still happens route_ns later. */
typedef int (*vmci_dg_filter_fn)(void *state, const struct vmci_datagram_header *header,
                                 const uint8_t *payload);
int vmci_dg_set_filter(struct vmci_kernel *kernel, struct vmci_handle handle,
                       vmci_dg_filter_fn filter);
/* Sends header + payload (header->payload_size bytes). Returns the result of R39: the
 * datagram size, or a negative VMCI_ERROR_*. */
int64_t vmci_dg_send(struct vmci_kernel *kernel, const struct vmci_datagram_header *header,
                     const void *payload, uint64_t *cost_ns);

/* Events (4.5): local subscriptions of this kernel (R66). The payload is the event
 * datagram's payload after the event number. */
typedef void (*vmci_event_fn)(void *state, uint32_t event, const uint8_t *payload,
                              uint64_t payload_bytes);
int vmci_event_subscribe(struct vmci_kernel *kernel, uint32_t event, vmci_event_fn fn,
                         void *state, uint32_t *subscription_out);
int vmci_event_unsubscribe(struct vmci_kernel *kernel, uint32_t subscription);
/* From now on subscription `subscription` (to QP_PEER_ATTACH or QP_PEER_DETACH) is called
 * only for events about queue pair `handle`: what a subscriber that ignores every other
 * handle would see, found by a lookup instead of a call per subscriber. NOT_FOUND,
 * INVALID_ARGS (another event). The event_subscriptions limit ("limit_reached" event
 * when met) bounds the subscriptions of one kernel. */
int vmci_event_subscription_filter(struct vmci_kernel *kernel, uint32_t subscription,
                                   struct vmci_handle handle);

/* Queue pairs (5.3). *handle: VMCI_INVALID_HANDLE to create (a new handle is chosen,
 * R92), or the handle to attach to. Sizes are this endpoint's produce/consume sizes. */
int vmci_qpair_alloc(struct vmci_kernel *kernel, struct vmci_handle *handle,
                     uint64_t produce_size_bytes, uint64_t consume_size_bytes, uint32_t peer,
                     uint32_t flags, const struct vmci_identity *identity,
                     struct vmci_qpair **out, uint64_t *cost_ns);
int vmci_qpair_detach(struct vmci_qpair *qpair, uint64_t *cost_ns);
/* Frees this endpoint's handle without telling the hypervisor: for teardown, when the
 * world goes away with the endpoint still attached (the broker frees its entries). */
void vmci_qpair_release(struct vmci_qpair *qpair);
struct vmci_handle vmci_qpair_handle(const struct vmci_qpair *qpair);
int64_t vmci_qpair_enqueue(struct vmci_qpair *qpair, const void *source, uint64_t size_bytes,
                           uint64_t *cost_ns);
int64_t vmci_qpair_dequeue(struct vmci_qpair *qpair, void *target, uint64_t size_bytes,
                           uint64_t *cost_ns);
int64_t vmci_qpair_peek(struct vmci_qpair *qpair, void *target, uint64_t size_bytes,
                        uint64_t *cost_ns);
/* Dequeue (or, with `peek`, peek) without copying: the same checks, events, hashes, cost
 * and result as vmci_qpair_dequeue/peek, but the bytes stay where they lie in the consume
 * ring and *bytes says where, for a reader that makes its own copy at once (a Lua string).
 * They stay valid until the next enqueue into that queue or the endpoint's detach, so the
 * reader copies them before anything else runs on the pair. */
int64_t vmci_qpair_consume_in_place(struct vmci_qpair *qpair, uint64_t size_bytes, bool peek,
                                    struct vmci_ring_bytes *bytes, uint64_t *cost_ns);
/* The ring pointer a data operation moved (R80), read in the same call, so that a transport
 * that traces it needs no vmci_qpair_produce_tail / consume_head of its own before and
 * after: an enqueue's producer tail, a dequeue's or peek's consumer head. Likewise the ready
 * bytes and free space (R89) of the queue it used (an enqueue's produce queue, a dequeue's or
 * peek's consume queue) right after it, what vmci_qpair_produce_buf_ready /
 * _consume_free_space would answer next if nothing touched the pair in between: a
 * transport's notification test needs no query of its own. Filled only when the operation
 * moved bytes (result > 0). */
struct vmci_qpair_position {
    uint64_t before;
    uint64_t after;             /* a peek's is `before` */
    uint64_t ready_bytes_after;
    uint64_t free_bytes_after;
};
/* vmci_qpair_enqueue, and the producer tail it moved in *position. */
int64_t vmci_qpair_enqueue_at(struct vmci_qpair *qpair, const void *source, uint64_t size_bytes,
                              uint64_t *cost_ns, struct vmci_qpair_position *position);
/* vmci_qpair_dequeue or _peek (`target` set) or _consume_in_place (`target` NULL, `bytes`
 * set), and the consumer head it moved in *position. With both set, the bytes are copied
 * to `target` and *bytes says where they lay in the ring (still there until its next
 * write). */
int64_t vmci_qpair_consume_at(struct vmci_qpair *qpair, void *target, uint64_t size_bytes,
                              bool peek, struct vmci_ring_bytes *bytes, uint64_t *cost_ns,
                              struct vmci_qpair_position *position);
/* D20: true on the host's side of a guest's queue pair once the guest's side is gone (its
 * detach, suspend, power-off, device reset): the pages were the guest's, so the host can read
 * no header any more. The driver API's queries then answer 0, as Linux's vmci_qpair_*_buf_ready
 * and _free_space do when qp_get_queue_headers fails (sim/lua/vmci_binding.c); the four
 * queries below keep reading the pointers, for the transport's R171 accounting of what the
 * host lost (vsock/vmci_stream.c). */
bool vmci_qpair_memory_gone(const struct vmci_qpair *qpair);
int64_t vmci_qpair_produce_free_space(const struct vmci_qpair *qpair);
int64_t vmci_qpair_produce_buf_ready(const struct vmci_qpair *qpair);
int64_t vmci_qpair_consume_free_space(const struct vmci_qpair *qpair);
int64_t vmci_qpair_consume_buf_ready(const struct vmci_qpair *qpair);
/* The ring positions in the shared headers (R80), for traces: this endpoint's producer
 * tail in its produce queue and its consumer head in its consume queue. */
int64_t vmci_qpair_produce_tail(const struct vmci_qpair *qpair);
int64_t vmci_qpair_consume_head(const struct vmci_qpair *qpair);
/* Starts loading, without waiting for them, the lines the next data operation of this
 * endpoint reads (its broker entry, the queue headers, its running hash), so that their
 * cache misses overlap instead of following one another: in a fleet they are in no cache
 * (issue 10). Changes nothing but how long the operation takes. */
void vmci_qpair_prefetch(const struct vmci_qpair *qpair);
/* Adds the spans of memory the endpoint's next data operation reads (its caches, the
 * broker entry, the queue headers, the rings where the next bytes go and come from, the
 * running hashes, the peer's too, which a read that catches up compares with its own): read
 * now, prefetched later (sim_process.prefetch_spans). */
void vmci_qpair_prefetch_spans(const struct vmci_qpair *qpair, struct sim_prefetch_spans *spans);

/* Doorbells (R43-R46). The callback runs when the owner's bitmap byte is seen set. */
typedef void (*vmci_doorbell_fn)(void *state);
int vmci_doorbell_create(struct vmci_kernel *kernel, vmci_doorbell_fn fn, void *state,
                         struct vmci_handle *handle_out, uint64_t *cost_ns);
int vmci_doorbell_destroy(struct vmci_kernel *kernel, struct vmci_handle handle,
                          uint64_t *cost_ns);
int vmci_doorbell_notify(struct vmci_kernel *kernel, struct vmci_handle handle,
                         uint64_t *cost_ns);

/* Rules the transport applies itself. */
uint32_t vmci_peer_flags(const struct vmci_kernel *kernel, uint32_t cid);
const char *vmci_peer_owner(const struct vmci_kernel *kernel, uint32_t cid);
const struct vmci_profile *vmci_kernel_profile(const struct vmci_kernel *kernel);
bool vmci_trusted_toward(const struct vmci_kernel *kernel, const struct vmci_identity *identity,
                         uint32_t cid);

#endif /* VMCI_VMCI_H */
