/* SPDX-License-Identifier: MIT */
/*
 * vmci/qpair.c: queue pairs as a kernel sees them (vmci.h): alloc/attach through
 * the broker (a hypercall for guests, a direct call for the host and for LOCAL
 * pairs, R95), detach, and the data operations on the shared memory.
 *
 * A struct vmci_qpair holds only the handle: every operation looks the broker
 * entry up again and checks that this side is still attached, so a side detached
 * by a device reset (R34) or power-off can never touch freed memory.
 *
 * Every operation that moves bytes emits one "qp_data" event (VMCI layer); an enqueue's
 * carries the running XXH3-64 of every byte this endpoint has enqueued so far, so two runs
 * that move different bytes have different digests (docs/trace-schema.md, "Data bytes").
 *
 * The writer's bytes are hashed as they are copied into the ring (vmci_qp_enqueue_hashed),
 * and once per side: an endpoint that starts writing into a queue nobody has
 * written yet (every vSockets stream) shares its running hash with the queue's
 * stream_bytes tally (the same stream, sim_data_stream_share), since both count the same
 * bytes from the same start; only an endpoint that attaches to a queue with bytes already
 * written keeps a stream of its own, and then both are extended. The reader's bytes are
 * hashed for the tally as they are copied out (a copying dequeue), or where they lie (in
 * place, for a reader that makes its own copy at once).
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "sim/engine/process.h"
#include "vmci_int.h"

static int alloc_hypercall(struct vmci_kernel *kernel, struct vmci_handle handle,
                           uint64_t produce, uint64_t consume, uint32_t peer, uint32_t flags,
                           uint64_t *cost_ns)
{
    /* R78: one header page plus the data pages of each queue; PPN values are not modelled. */
    uint64_t pages = produce / VMCI_PAGE_SIZE + (produce % VMCI_PAGE_SIZE != 0) + 1 +
                     consume / VMCI_PAGE_SIZE + (consume % VMCI_PAGE_SIZE != 0) + 1;
    bool ppn64 = (vmci_device_caps_in_use(kernel->context->device) & VMCI_CAPS_PPN64) != 0;
    uint64_t payload_bytes = 40u + pages * (ppn64 ? 8u : 4u);
    if (VMCI_DG_HEADERSIZE + payload_bytes > VMCI_MAX_DG_SIZE)
        return VMCI_ERROR_NO_RESOURCES;         /* more pages than one datagram can name */
    uint8_t *bytes = calloc(1, VMCI_DG_HEADERSIZE + payload_bytes);
    if (bytes == NULL)
        return VMCI_ERROR_NO_MEM;
    struct vmci_datagram_header header = {
        .dst = { VMCI_HYPERVISOR_CONTEXT_ID, VMCI_QUEUEPAIR_ALLOC },
        .src = { kernel->head.cid, VMCI_CONTEXT_RESOURCE_ID },
        .payload_size = payload_bytes,
    };
    vmci_header_encode(bytes, &header);
    uint8_t *payload = bytes + VMCI_DG_HEADERSIZE;
    vmci_write_u32(payload, handle.context);
    vmci_write_u32(payload + 4, handle.resource);
    vmci_write_u32(payload + 8, peer);
    vmci_write_u32(payload + 12, flags);
    vmci_write_u64(payload + 16, produce);
    vmci_write_u64(payload + 24, consume);
    vmci_write_u64(payload + 32, pages);
    int64_t rc = vmci__guest_send(kernel, bytes, VMCI_DG_HEADERSIZE + payload_bytes, cost_ns);
    free(bytes);
    return rc < 0 ? (int)rc : VMCI_SUCCESS;
}

static int detach_hypercall(struct vmci_kernel *kernel, struct vmci_handle handle,
                            uint64_t *cost_ns)
{
    uint8_t bytes[VMCI_DG_HEADERSIZE + 8];
    struct vmci_datagram_header header = {
        .dst = { VMCI_HYPERVISOR_CONTEXT_ID, VMCI_QUEUEPAIR_DETACH },
        .src = { kernel->head.cid, VMCI_CONTEXT_RESOURCE_ID },
        .payload_size = 8,
    };
    vmci_header_encode(bytes, &header);
    vmci_write_u32(bytes + VMCI_DG_HEADERSIZE, handle.context);
    vmci_write_u32(bytes + VMCI_DG_HEADERSIZE + 4, handle.resource);
    int64_t rc = vmci__guest_send(kernel, bytes, sizeof(bytes), cost_ns);
    return rc < 0 ? (int)rc : VMCI_SUCCESS;
}

static bool data_hashing = true;     /* vmci_data_hashing_set(): benchmarks only */

void vmci_data_hashing_set(bool on)
{
    data_hashing = on;
}

/* Streams made at the first bytes; out of memory leaves the queue unchecked (counted as
 * unavailable, never a false violation). */
static bool tally_ready(struct vmci_queue_tally *tally)
{
    if (tally->unavailable)
        return false;
    if (tally->written == NULL) {
        tally->written = sim_data_stream_create();
        tally->read = sim_data_stream_create();
        if (tally->written == NULL || tally->read == NULL) {
            tally->unavailable = true;
            return false;
        }
    }
    return true;
}

/* Copies the one or two pieces of `bytes` to `target`, one after the other; with `hash`,
 * extends it by them in the same pass (sim_data_stream_copy). */
static void pieces_copy(const struct vmci_ring_bytes *bytes, uint8_t *target,
                        struct sim_data_stream *hash)
{
    if (hash != NULL) {
        sim_data_stream_copy(hash, target, bytes->first, (size_t)bytes->first_bytes);
        sim_data_stream_copy(hash, target + bytes->first_bytes, bytes->second,
                             (size_t)bytes->second_bytes);
        return;
    }
    memcpy(target, bytes->first, (size_t)bytes->first_bytes);
    if (bytes->second_bytes > 0)
        memcpy(target + bytes->first_bytes, bytes->second, (size_t)bytes->second_bytes);
}

/* The reader's side of the stream_bytes tally: `bytes` (one or two pieces, as read) were
 * dequeued from `queue`. With `target` (a copying dequeue) they are copied there too, in
 * the same pass as the tally's hash: a reader that makes its own copy reads each byte
 * once. When the reader catches up (or goes past) what it read must be what was written. */
static void tally_read(struct vmci_hypervisor *hypervisor, struct vmci_handle handle,
                       struct vmci_queue *queue, const struct vmci_ring_bytes *bytes,
                       uint8_t *target)
{
    assert(hypervisor != NULL && queue != NULL && bytes != NULL && bytes->first != NULL);
    uint64_t moved = bytes->first_bytes + bytes->second_bytes;
    assert(moved > 0);
    struct vmci_queue_tally *tally = &queue->tally;
    if (!tally_ready(tally)) {
        if (target != NULL)
            pieces_copy(bytes, target, NULL);
        return;
    }
    if (target != NULL) {
        pieces_copy(bytes, target, tally->read);
    } else {
        sim_data_stream_update(tally->read, bytes->first, bytes->first_bytes);
        sim_data_stream_update(tally->read, bytes->second, bytes->second_bytes);
    }
    tally->read_bytes += moved;
    bool past = tally->read_bytes > tally->written_bytes;
    bool caught_up = tally->read_bytes == tally->written_bytes;
    /* Caught up: the two running hashes must have the same value. Compared as states
     * first (sim_data_stream_same), since a reader catches up at most reads. */
    if (past || (caught_up && !sim_data_stream_same(tally->read, tally->written))) {
        if (hypervisor->stream_violation_count++ == 0) {
            hypervisor->stream_violation_handle = handle;
            hypervisor->stream_violation_time_ns = sim_engine_now(hypervisor->engine);
            hypervisor->stream_violation_offset_bytes = tally->read_bytes;
        }
        tally->unavailable = true;      /* reported once; the end check skips it */
    }
}

/* The writer's side: `moved` bytes from `bytes` went into `queue` through `qpair`, and the
 * copy into the ring has extended the endpoint's running hash by them already
 * (vmci_qp_enqueue_hashed). Extends the queue's tally, which needs nothing more when it is
 * the same stream (qpair_share_tally), and returns the endpoint's new hash value. */
static uint64_t hash_enqueued(struct vmci_qpair *qpair, struct vmci_queue *queue,
                              const void *bytes, uint64_t moved)
{
    assert(qpair->produced != NULL && bytes != NULL && moved > 0);
    uint64_t value = sim_data_stream_value(qpair->produced);
    struct vmci_queue_tally *tally = &queue->tally;
    if (!tally_ready(tally))
        return value;
    if (tally->written != qpair->produced)
        sim_data_stream_update(tally->written, bytes, moved);
    tally->written_bytes += moved;
    return value;
}

static struct vmci_qpair *qpair_new(void)
{
    struct vmci_qpair *qpair = vmci_line_calloc(sizeof(*qpair));
    if (qpair == NULL)
        return NULL;
    qpair->produced = sim_data_stream_create();
    if (qpair->produced == NULL) {
        free(qpair);
        return NULL;
    }
    return qpair;
}

static void qpair_free(struct vmci_qpair *qpair)
{
    sim_data_stream_destroy(qpair->produced);
    free(qpair);
}

/* A new endpoint's running hash and its produce queue's written tally count the same bytes
 * from the same start when nothing has been written into that queue yet: then the endpoint
 * drops its own (empty) stream and shares the tally's, so each byte is hashed once. Out of
 * memory for the tally keeps the endpoint's own stream (the queue goes unchecked, as at the
 * first bytes). */
static void qpair_share_tally(struct vmci_qpair *qpair, struct vmci_qp_entry *entry,
                              bool created)
{
    if (entry == NULL || entry->memory == NULL)
        return;
    struct vmci_qp_view view = created ? vmci_qp_view_creator(entry->memory)
                                       : vmci_qp_view_attacher(entry->memory);
    struct vmci_queue_tally *tally = &view.produce->tally;
    if (!tally_ready(tally) || tally->written_bytes != 0)
        return;
    sim_data_stream_destroy(qpair->produced);
    qpair->produced = sim_data_stream_share(tally->written);
}

/* What a qp_data event's `op` says, with the names' lengths measured by the compiler (a
 * strlen() at every data operation cost more than the field). */
enum data_operation { DATA_ENQUEUE, DATA_DEQUEUE, DATA_PEEK };
#define OPERATION_NAME(text) { text, sizeof(text) - 1u }
static const struct {
    const char *text;
    uint32_t bytes;
} operation_names[] = {
    [DATA_ENQUEUE] = OPERATION_NAME("enqueue"),
    [DATA_DEQUEUE] = OPERATION_NAME("dequeue"),
    [DATA_PEEK] = OPERATION_NAME("peek"),
};
#undef OPERATION_NAME

/* One "qp_data" event: `moved` bytes went through this endpoint's side of the pair. An
 * enqueue shows the running hash of everything this endpoint has produced (hash_enqueued
 * extended it); a dequeue or peek shows only the count: what a reader gets is fixed by the
 * bytes written and the traced operations. */
static inline void trace_data(struct vmci_qpair *qpair, enum data_operation operation,
                              uint64_t produced_hash, uint64_t moved)
{
    assert(moved > 0);
    assert(data_hashing);
    assert(operation <= DATA_PEEK);
    bool enqueue = operation == DATA_ENQUEUE;
    char hash_text[SIM_DATA_HASH_TEXT_BYTES] = "";
    if (enqueue)
        sim_data_hash_text(produced_hash, hash_text);
    struct vmci_hypervisor *hypervisor = qpair->kernel->hypervisor;
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_VMCI, "qp_data", qpair->kernel->head.cid,
                         vmci__current_pid(hypervisor));
    sim_trace_field_u64(&event, "context", qpair->handle.context);
    sim_trace_field_u64(&event, "rid", qpair->handle.resource);
    sim_trace_field_strn(&event, "op", operation_names[operation].text,
                         operation_names[operation].bytes);
    sim_trace_field_u64(&event, "bytes", moved);
    if (enqueue)
        sim_trace_field_strn(&event, "hash", hash_text, SIM_DATA_HASH_TEXT_BYTES - 1u);
    vmci__trace(hypervisor, &event);
}

static bool direct(const struct vmci_kernel *kernel, uint32_t flags)
{
    return kernel->is_host || (flags & VMCI_QPFLAG_LOCAL) != 0;
}

int vmci_qpair_alloc(struct vmci_kernel *kernel, struct vmci_handle *handle,
                     uint64_t produce_size_bytes, uint64_t consume_size_bytes, uint32_t peer,
                     uint32_t flags, const struct vmci_identity *identity,
                     struct vmci_qpair **out, uint64_t *cost_ns)
{
    assert(kernel != NULL && handle != NULL && out != NULL);
    if (flags & (VMCI_QPFLAG_NONBLOCK | VMCI_QPFLAG_PINNED))
        return VMCI_ERROR_INVALID_ARGS;                                         /* R91 */
    if (!kernel->driver_loaded)
        return VMCI_ERROR_UNAVAILABLE;
    bool creating = vmci_handle_is_invalid(*handle);
    if (creating) {                                                             /* R92 */
        handle->context = kernel->head.cid;
        handle->resource = kernel->rid_next;
        kernel->rid_next = kernel->rid_next == VMCI_INVALID_ID - 1u
                               ? VMCI_RESERVED_RESOURCE_ID_MAX + 1u : kernel->rid_next + 1u;
    }
    struct vmci_qpair *qpair = qpair_new();
    if (qpair == NULL)
        return VMCI_ERROR_NO_MEM;
    int rc;
    bool created = false;
    if (direct(kernel, flags)) {
        struct vmci_qp_entry *entry = NULL;
        if (cost_ns != NULL)
            *cost_ns += vmci_cost_draw(&kernel->hypervisor->cost, VMCI_COST_HYPERCALL);
        rc = vmci__broker_alloc(kernel->hypervisor, kernel->context, identity, *handle, peer,
                                flags, produce_size_bytes, consume_size_bytes, &entry, &created);
    } else {
        struct vmci_qp_entry *before = vmci__broker_find(kernel->hypervisor, *handle);
        rc = alloc_hypercall(kernel, *handle, produce_size_bytes, consume_size_bytes, peer, flags,
                             cost_ns);
        created = before == NULL;
    }
    if (rc < 0) {
        qpair_free(qpair);
        return rc;
    }
    qpair->kernel = kernel;
    qpair->handle = *handle;
    qpair->is_creator = created;
    struct vmci_qp_entry *entry = vmci__broker_find(kernel->hypervisor, *handle);
    if (!kernel->is_host && entry != NULL) {
        qpair->memory = entry->memory;
        vmci_qp_memory_ref(qpair->memory);
        qpair->view = created ? vmci_qp_view_creator(entry->memory)
                              : vmci_qp_view_attacher(entry->memory);
    }
    qpair_share_tally(qpair, entry, created);
    *out = qpair;
    return VMCI_SUCCESS;
}

/* The broker's entry of the pair (NULL once freed): the cached one while no entry has
 * been freed since it was looked up (so it cannot be a freed one), else a lookup. The
 * queries of vmci.h take a const endpoint; the cache is not part of what they read, and
 * every endpoint is allocated writable (vmci_qpair_alloc), so it is updated in place. */
static inline struct vmci_qp_entry *qpair_entry(const struct vmci_qpair *qpair)
{
    struct vmci_qpair *cache = (struct vmci_qpair *)qpair;
    struct vmci_hypervisor *hypervisor = qpair->kernel->hypervisor;
    if (cache->entry == NULL || cache->entry_removals != hypervisor->queue_pair_removals) {
        cache->entry = vmci__broker_find(hypervisor, qpair->handle);
        cache->entry_removals = hypervisor->queue_pair_removals;
    }
    assert(cache->entry == NULL || vmci_handle_equal(cache->entry->handle, qpair->handle));
    return cache->entry;
}

/* The entry and this side's view, or NULL when this side is no longer attached. */
static inline struct vmci_qp_entry *side(const struct vmci_qpair *qpair, struct vmci_qp_view *view)
{
    struct vmci_qp_entry *entry = qpair_entry(qpair);
    if (entry == NULL || qpair->detached)
        return NULL;
    uint32_t cid = qpair->kernel->context->cid;
    bool ours = qpair->is_creator ? entry->creator_attached && entry->creator_cid == cid
                                  : entry->attacher_attached && entry->attacher_cid == cid;
    if (!ours)
        return NULL;
    *view = qpair->is_creator ? vmci_qp_view_creator(entry->memory)
                              : vmci_qp_view_attacher(entry->memory);
    return entry;
}

/* R90: the host cannot touch a queue pair whose VM's memory is inaccessible. The peer's
 * context is looked up again only when the peer or the context table changed since the
 * last time (a cache like qpair_entry's, in the same writable endpoint). */
static inline bool peer_memory_off(const struct vmci_qpair *qpair,
                                   const struct vmci_qp_entry *entry)
{
    if (!qpair->kernel->is_host)
        return false;
    uint32_t peer = entry->creator_cid == VMCI_HOST_CONTEXT_ID ? entry->attacher_cid
                                                               : entry->creator_cid;
    struct vmci_qpair *cache = (struct vmci_qpair *)qpair;
    struct vmci_hypervisor *hypervisor = qpair->kernel->hypervisor;
    if (cache->peer_context_changes != hypervisor->context_changes || cache->peer_cid != peer) {
        cache->peer_context = vmci__context_find(hypervisor, peer);
        cache->peer_cid = peer;
        cache->peer_context_changes = hypervisor->context_changes;
    }
    const struct vmci_context *context = cache->peer_context;
    return context != NULL && context->memory_inaccessible;
}

/* side() plus the R90 check; returns 0, VMCI_ERROR_NOT_FOUND or QUEUEPAIR_NOT_READY. */
static inline int usable(const struct vmci_qpair *qpair, struct vmci_qp_view *view)
{
    struct vmci_qp_entry *entry = side(qpair, view);
    if (entry == NULL)
        return VMCI_ERROR_NOT_FOUND;
    return peer_memory_off(qpair, entry) ? VMCI_ERROR_QUEUEPAIR_NOT_READY : VMCI_SUCCESS;
}

int vmci_qpair_detach(struct vmci_qpair *qpair, uint64_t *cost_ns)
{
    assert(qpair != NULL);
    struct vmci_kernel *kernel = qpair->kernel;
    struct vmci_qp_view view;
    struct vmci_qp_entry *entry = side(qpair, &view);
    int rc = VMCI_SUCCESS;
    if (entry != NULL && (kernel->is_host || entry->local)) {
        if (cost_ns != NULL)
            *cost_ns += vmci_cost_draw(&kernel->hypervisor->cost, VMCI_COST_HYPERCALL);
        rc = vmci__broker_detach(kernel->hypervisor, kernel->context, qpair->handle);
    } else if (entry != NULL) {
        rc = detach_hypercall(kernel, qpair->handle, cost_ns);
    }
    vmci_qp_memory_destroy(qpair->memory);      /* our reference (NULL on the host) */
    qpair_free(qpair);      /* detached already (reset, power-off) is not an error here */
    return rc;
}

void vmci_qpair_release(struct vmci_qpair *qpair)
{
    if (qpair == NULL)
        return;
    vmci_qp_memory_destroy(qpair->memory);      /* our reference, if a guest's */
    qpair_free(qpair);
}

struct vmci_handle vmci_qpair_handle(const struct vmci_qpair *qpair)
{
    return qpair->handle;
}

/* D20 (R97, R205): a guest's queue pair lives in the guest's pages, so once the guest's
 * side is gone (detach, suspend, power-off, device reset) the host's side has no memory:
 * its enqueue and dequeue fail, as Linux's qp_enqueue_locked / qp_dequeue_locked do, and
 * nothing the host writes reaches a resumed guest. A host-local pair keeps its memory. */
static inline bool host_memory_gone(const struct vmci_qpair *qpair)
{
    if (!qpair->kernel->is_host)
        return false;
    const struct vmci_qp_entry *entry = qpair_entry(qpair);
    return entry != NULL && !entry->local && entry->state == VMCI_QP_SHUTDOWN;
}

bool vmci_qpair_memory_gone(const struct vmci_qpair *qpair)
{
    assert(qpair != NULL);
    return host_memory_gone(qpair);
}

/* What a data operation on `queue` (whose consumer head `head_holder`'s header holds, R80)
 * reports in its position: the pointer it moved, and the queue's ready bytes and free space
 * from the pointers now in the headers, which the operation validated (R82) and wrote. */
static inline struct vmci_qpair_position ring_position(const struct vmci_queue *queue,
                                                       const struct vmci_queue *head_holder,
                                                       uint64_t before, uint64_t after)
{
    uint64_t size_bytes = queue->size_bytes;
    assert(size_bytes > 0);                 /* it moved bytes, so it has a ring */
    uint64_t ready_bytes = vmci_ring_ready_bytes(vmci_queue_producer_tail(queue),
                                                 vmci_queue_consumer_head(head_holder),
                                                 size_bytes);
    return (struct vmci_qpair_position){ .before = before, .after = after,
                                         .ready_bytes_after = ready_bytes,
                                         .free_bytes_after = size_bytes - 1 - ready_bytes };
}

int64_t vmci_qpair_enqueue(struct vmci_qpair *qpair, const void *source, uint64_t size_bytes,
                           uint64_t *cost_ns)
{
    return vmci_qpair_enqueue_at(qpair, source, size_bytes, cost_ns, NULL);
}

int64_t vmci_qpair_enqueue_at(struct vmci_qpair *qpair, const void *source, uint64_t size_bytes,
                              uint64_t *cost_ns, struct vmci_qpair_position *position)
{
    struct vmci_qp_view view;
    int state = usable(qpair, &view);
    if (state == VMCI_SUCCESS && host_memory_gone(qpair))
        state = VMCI_ERROR_QUEUEPAIR_NOT_READY;                                 /* D20 */
    if (state < 0)
        return state;
    /* What vmci_qpair_produce_tail() would say before and after: the same view. */
    uint64_t tail_before = vmci_queue_producer_tail(view.produce);
    int64_t rc = vmci_qp_enqueue_hashed(view, source, size_bytes,
                                        data_hashing ? qpair->produced : NULL);
    if (rc > 0 && position != NULL)
        *position = ring_position(view.produce, view.consume, tail_before,
                                  vmci_queue_producer_tail(view.produce));
    if (rc > 0 && data_hashing) {
        uint64_t produced_hash = hash_enqueued(qpair, view.produce, source, (uint64_t)rc);
        trace_data(qpair, DATA_ENQUEUE, produced_hash, (uint64_t)rc);
    }
    if (rc > 0 && cost_ns != NULL)
        *cost_ns += vmci_cost_copy_ns(&qpair->kernel->hypervisor->cost, (uint64_t)rc);
    return rc;
}

/* usable() for reading the consume queue: a guest whose endpoint the hypervisor detached
 * (suspend, device reset) still reads its own pages, frozen as they were (R206, R209). */
static inline int readable(const struct vmci_qpair *qpair, struct vmci_qp_view *view)
{
    int state = usable(qpair, view);
    if (state != VMCI_ERROR_NOT_FOUND || qpair->memory == NULL || qpair->detached)
        return state;
    *view = qpair->view;
    return VMCI_SUCCESS;
}

/* A dequeue or peek: copied into `target`, or with `target` NULL left in the ring and
 * described by *in_place, or both; all move, hash, trace and cost the same. *position
 * (optional): the consumer head before and after, as vmci_qpair_consume_head() would read
 * it. */
static int64_t consume(struct vmci_qpair *qpair, void *target, uint64_t size_bytes, bool peek,
                       struct vmci_ring_bytes *in_place, uint64_t *cost_ns,
                       struct vmci_qpair_position *position)
{
    struct vmci_qp_view view;
    int state = readable(qpair, &view);
    if (state == VMCI_SUCCESS && host_memory_gone(qpair))
        state = VMCI_ERROR_QUEUEPAIR_NOT_READY;                                 /* D20 */
    if (state < 0)
        return state;
    /* R80: our consumer head for the consume queue lives in our produce queue's header. */
    uint64_t head_before = vmci_queue_consumer_head(view.produce);
    /* The bytes are located in the ring, then copied to `target` (if any): by tally_read,
     * which hashes them in the same pass, when the tally counts them. */
    struct vmci_ring_bytes located;
    int64_t rc = vmci_qp_consume_in_place(view, size_bytes, !peek, &located);
    if (in_place != NULL)
        *in_place = located;
    if (rc > 0 && position != NULL)
        *position = ring_position(view.consume, view.produce, head_before,
                                  vmci_queue_consumer_head(view.produce));
    if (rc > 0 && !peek && data_hashing)
        tally_read(qpair->kernel->hypervisor, qpair->handle, view.consume, &located, target);
    else if (rc > 0 && target != NULL)
        pieces_copy(&located, target, NULL);
    if (rc > 0 && data_hashing)
        trace_data(qpair, peek ? DATA_PEEK : DATA_DEQUEUE, 0, (uint64_t)rc);
    if (rc > 0 && cost_ns != NULL)
        *cost_ns += vmci_cost_copy_ns(&qpair->kernel->hypervisor->cost, (uint64_t)rc);
    return rc;
}

int64_t vmci_qpair_dequeue(struct vmci_qpair *qpair, void *target, uint64_t size_bytes,
                           uint64_t *cost_ns)
{
    assert(target != NULL || size_bytes == 0);
    return consume(qpair, target, size_bytes, false, NULL, cost_ns, NULL);
}

int64_t vmci_qpair_peek(struct vmci_qpair *qpair, void *target, uint64_t size_bytes,
                        uint64_t *cost_ns)
{
    assert(target != NULL || size_bytes == 0);
    return consume(qpair, target, size_bytes, true, NULL, cost_ns, NULL);
}

int64_t vmci_qpair_consume_in_place(struct vmci_qpair *qpair, uint64_t size_bytes, bool peek,
                                    struct vmci_ring_bytes *bytes, uint64_t *cost_ns)
{
    assert(bytes != NULL);
    *bytes = (struct vmci_ring_bytes){ .first = NULL };
    int64_t rc = consume(qpair, NULL, size_bytes, peek, bytes, cost_ns, NULL);
    assert(rc <= 0 || bytes->first_bytes + bytes->second_bytes == (uint64_t)rc);
    return rc;
}

int64_t vmci_qpair_consume_at(struct vmci_qpair *qpair, void *target, uint64_t size_bytes,
                              bool peek, struct vmci_ring_bytes *bytes, uint64_t *cost_ns,
                              struct vmci_qpair_position *position)
{
    assert(target != NULL || bytes != NULL || size_bytes == 0);
    assert(position != NULL);
    if (bytes != NULL)
        *bytes = (struct vmci_ring_bytes){ .first = NULL };
    int64_t rc = consume(qpair, target, size_bytes, peek, bytes, cost_ns, position);
    assert(rc <= 0 || bytes == NULL || bytes->first_bytes + bytes->second_bytes == (uint64_t)rc);
    assert(rc <= 0 || position->after == position->before || !peek);
    return rc;
}

/* R89 for one queue of this endpoint's view: its pointers read once from the headers
 * (R80: the tail from `queue`'s, the head from `head_holder`'s) and validated (R82), as the
 * ring code's queries do (vmci_qp_*_free_space, _buf_ready), but inline: the notification
 * protocol asks before most receives. The ready bytes, or with `free_space` the free space. */
static inline int64_t ring_query(const struct vmci_queue *queue,
                                 const struct vmci_queue *head_holder, bool free_space)
{
    assert(queue != head_holder);
    uint64_t size_bytes = queue->size_bytes;
    uint64_t tail = vmci_queue_producer_tail(queue);
    uint64_t head = vmci_queue_consumer_head(head_holder);
    if (!vmci_ring_pointer_valid(tail, size_bytes) || !vmci_ring_pointer_valid(head, size_bytes))
        return VMCI_ERROR_INVALID_SIZE;                                         /* R82 */
    uint64_t ready_bytes = vmci_ring_ready_bytes(tail, head, size_bytes);
    if (!free_space)
        return (int64_t)ready_bytes;
    return size_bytes == 0 ? 0 : (int64_t)(size_bytes - 1 - ready_bytes);      /* R83 */
}

int64_t vmci_qpair_produce_free_space(const struct vmci_qpair *qpair)
{
    struct vmci_qp_view view;
    /* readable(): the free space of a detached guest endpoint is read from its own pages,
     * as a Linux guest does, so a resumed guest's socket polls writable like any socket
     * after a peer detach (R206 "as in R171", R133); enqueue itself still fails. */
    int state = readable(qpair, &view);
    return state < 0 ? state : ring_query(view.produce, view.consume, true);
}

int64_t vmci_qpair_produce_buf_ready(const struct vmci_qpair *qpair)
{
    struct vmci_qp_view view;
    int state = usable(qpair, &view);
    return state < 0 ? state : ring_query(view.produce, view.consume, false);
}

int64_t vmci_qpair_consume_free_space(const struct vmci_qpair *qpair)
{
    struct vmci_qp_view view;
    int state = readable(qpair, &view);
    return state < 0 ? state : ring_query(view.consume, view.produce, true);
}

int64_t vmci_qpair_consume_buf_ready(const struct vmci_qpair *qpair)
{
    struct vmci_qp_view view;
    int state = readable(qpair, &view);
    return state < 0 ? state : ring_query(view.consume, view.produce, false);
}

int64_t vmci_qpair_produce_tail(const struct vmci_qpair *qpair)
{
    struct vmci_qp_view view;
    int state = usable(qpair, &view);
    return state < 0 ? state : (int64_t)vmci_queue_producer_tail(view.produce);
}

void vmci_qpair_prefetch(const struct vmci_qpair *qpair)
{
    assert(qpair != NULL);
    sim_data_stream_prefetch(qpair->produced);
    const struct vmci_qp_entry *entry = qpair->entry;
    /* Only an entry the cache still vouches for (qpair_entry): a freed one is not touched. */
    if (entry == NULL || qpair->entry_removals != qpair->kernel->hypervisor->queue_pair_removals)
        return;
    __builtin_prefetch(entry);
    const struct vmci_qp_memory *memory = entry->memory;     /* waits for the entry's line */
    assert(memory != NULL);                 /* made with the entry, freed with it */
    __builtin_prefetch(memory);
    __builtin_prefetch((const uint8_t *)memory + VMCI_CACHE_LINE_BYTES);
    __builtin_prefetch((const uint8_t *)memory + 2 * VMCI_CACHE_LINE_BYTES);
}

int64_t vmci_qpair_consume_head(const struct vmci_qpair *qpair)
{
    struct vmci_qp_view view;
    int state = readable(qpair, &view);
    /* R80: our consumer head for the consume queue lives in our produce queue's header. */
    return state < 0 ? state : (int64_t)vmci_queue_consumer_head(view.produce);
}

/* The ring's line where the next byte at `offset` goes or comes from, and the next one (a
 * 64-byte message seldom starts on a line). */
static void ring_spans_add(const struct vmci_queue *queue, uint64_t offset,
                           struct sim_prefetch_spans *spans)
{
    if (queue->ring == NULL || offset >= queue->size_bytes)
        return;                             /* no ring, or a pointer R82 will refuse */
    uint64_t left_bytes = queue->size_bytes - offset;
    sim_prefetch_spans_add(spans, queue->ring + offset,
                           (size_t)(left_bytes < 2u * VMCI_CACHE_LINE_BYTES
                                        ? left_bytes : 2u * VMCI_CACHE_LINE_BYTES));
}

void vmci_qpair_prefetch_spans(const struct vmci_qpair *qpair, struct sim_prefetch_spans *spans)
{
    assert(qpair != NULL && spans != NULL);
    sim_prefetch_spans_add(spans, qpair, VMCI_CACHE_LINE_BYTES);
    sim_prefetch_spans_add(spans, qpair->kernel, VMCI_CACHE_LINE_BYTES);
    sim_prefetch_spans_add(spans, qpair->kernel->context, VMCI_CACHE_LINE_BYTES);
    struct vmci_qp_view view;
    if (readable(qpair, &view) < 0)
        return;                             /* its next operation fails before the rings */
    sim_prefetch_spans_add(spans, qpair->entry, VMCI_CACHE_LINE_BYTES);
    if (qpair->entry != NULL)
        sim_prefetch_spans_add(spans, qpair->entry->memory, sizeof(struct vmci_qp_memory));
    /* R80: both pointers this endpoint moves live in its produce queue's header. */
    ring_spans_add(view.produce, vmci_queue_producer_tail(view.produce), spans);
    ring_spans_add(view.consume, vmci_queue_consumer_head(view.produce), spans);
    if (qpair->produced != NULL)
        sim_data_stream_prefetch_spans(qpair->produced, spans);
    if (view.consume->tally.read != NULL)
        sim_data_stream_prefetch_spans(view.consume->tally.read, spans);
    /* The peer's running hash: a read that catches up compares the two (tally_read), and
     * the peer wrote it a whole round of a fleet ago. */
    if (view.consume->tally.written != NULL)
        sim_data_stream_prefetch_spans(view.consume->tally.written, spans);
}
