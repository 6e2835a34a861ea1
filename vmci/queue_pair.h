/* SPDX-License-Identifier: MIT */
/*
 * vmci/queue_pair.h: queue-pair memory and ring arithmetic (reference 5.1, 5.2).
 * For vmci/ only; vsock/ reaches queue pairs through vmci/vmci.h.
 *
 * A queue pair is two queues. Each queue is a 24-byte header (R80: handle,
 * u64 producer_tail, u64 consumer_head, little-endian, stored as bytes exactly
 * as in the shared page) and a ring of size_bytes. queues[0] is the creator's
 * produce queue, queues[1] the creator's consume queue; the attacher sees them
 * the other way round. Per R80 the header of the queue an endpoint produces into
 * holds that endpoint's producer_tail for it AND that endpoint's consumer_head
 * for the other queue; each endpoint writes only its own produce header.
 *
 * Invariants (checked on write and again on read):
 *   QP1  0 <= ready bytes <= size_bytes - 1 for both rings (one byte stays free, R83).
 *   QP2  A consumer sees only bytes the producer published (tail advanced after copy).
 *   QP3  Pointers read from a header are validated (R82) before any copy.
 */
#ifndef VMCI_QUEUE_PAIR_H
#define VMCI_QUEUE_PAIR_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "defs.h"

struct sim_data_stream;

#define VMCI_QUEUE_HEADER_BYTES 24u
/* The per-connection objects of vmci/ (queue-pair memory, broker entries, endpoints): in a
 * fleet each operation finds them in no cache (issue 10), so the fields it reads come
 * first, within one line's worth of bytes (on one line or two: the objects come from
 * vmci_line_calloc, a plain calloc, because aligning them with aligned_alloc made the
 * fleet slower, measured: glibc's memalign splits chunks). */
#define VMCI_CACHE_LINE_BYTES 64u

/* The allocation of those objects (zeroed; free() frees it); NULL when out of memory. */
void *vmci_line_calloc(size_t size_bytes);

/* What went through one queue, for the stream_bytes invariant (vmci/invariants.c): the
 * bytes its writer enqueued and its reader dequeued, each with a running XXH3-64. Kept by
 * vmci/qpair.c (not by the ring code, which the benchmarks drive bare); the streams are
 * made when an endpoint attaches or at the first enqueue, and freed with the memory (the
 * written one may be shared with the writing endpoint, which holds a reference). */
struct vmci_queue_tally {
    uint64_t written_bytes;
    uint64_t read_bytes;
    struct sim_data_stream *written;           /* owned, NULL until the first enqueue */
    struct sim_data_stream *read;              /* owned */
    bool unavailable;                          /* out of memory: this queue is not checked */
};

struct vmci_queue {
    uint8_t header[VMCI_QUEUE_HEADER_BYTES];   /* the shared header page's first bytes */
    uint8_t *ring;                             /* size_bytes of data, owned by the memory */
    uint64_t size_bytes;
    /* The ring starts zeroed (R81), but is zeroed as it is used: its bytes from
     * defined_bytes on are zero that is not stored yet. Every access through this file
     * stores the zeroes it reaches first; others go through vmci_queue_ring_span(). */
    uint64_t defined_bytes;
    struct vmci_queue_tally tally;
};

struct vmci_qp_memory {
    struct vmci_handle handle;
    uint32_t references;            /* the broker entry, and each guest endpoint's qpair */
    struct vmci_queue queues[2];    /* [0] creator's produce, [1] creator's consume */
};

/* One endpoint's view: the queue it produces into and the queue it consumes from. */
struct vmci_qp_view {
    struct vmci_queue *produce;
    struct vmci_queue *consume;
};

/* Creates the memory of a queue pair with the creator's sizes; both headers are
 * {handle, 0, 0} (R81). Sizes: at least one non-zero (else VMCI_ERROR_INVALID_ARGS),
 * produce + consume <= VMCI_MAX_GUEST_QP_MEMORY and no overflow (else
 * VMCI_ERROR_NO_RESOURCES), R77. A zero-sized queue has no ring: every enqueue into it
 * is NOSPACE and every dequeue NODATA. Ownership: returns new memory owned by the caller;
 * free with vmci_qp_memory_destroy(). Returns 0 or a negative VMCI_ERROR_*. */
int vmci_qp_memory_create(struct vmci_handle handle, uint64_t produce_size_bytes,
                          uint64_t consume_size_bytes, struct vmci_qp_memory **out);
void vmci_qp_memory_destroy(struct vmci_qp_memory *memory);
/* One more holder of the memory; vmci_qp_memory_destroy() drops one and frees the memory
 * with the last (a guest's pages outlive the hypervisor's detach: R206, R209). */
void vmci_qp_memory_ref(struct vmci_qp_memory *memory);

/* The two views (inline: every data operation and query of an endpoint makes one). */
static inline struct vmci_qp_view vmci_qp_view_creator(struct vmci_qp_memory *memory)
{
    assert(memory != NULL);
    return (struct vmci_qp_view){ .produce = &memory->queues[0],
                                  .consume = &memory->queues[1] };
}

static inline struct vmci_qp_view vmci_qp_view_attacher(struct vmci_qp_memory *memory)
{
    assert(memory != NULL);
    return (struct vmci_qp_view){ .produce = &memory->queues[1],
                                  .consume = &memory->queues[0] };
}

/* R86: copies min(size, free) bytes into the produce ring (wrapping), then advances the
 * producer tail. Returns bytes copied (> 0 unless size_bytes == 0), or
 * VMCI_ERROR_QUEUEPAIR_NOSPACE (free = 0) or VMCI_ERROR_INVALID_SIZE (corrupt header, R82). */
int64_t vmci_qp_enqueue(struct vmci_qp_view view, const void *source, uint64_t size_bytes);
/* vmci_qp_enqueue() that also extends `hash` (unless NULL) by the bytes it copies, as they
 * are copied (sim_data_stream_copy: one pass over them where the CPU allows). */
int64_t vmci_qp_enqueue_hashed(struct vmci_qp_view view, const void *source,
                               uint64_t size_bytes, struct sim_data_stream *hash);
/* R87: copies min(size, ready) bytes out of the consume ring, then advances the consumer
 * head. Returns bytes copied, VMCI_ERROR_QUEUEPAIR_NODATA or VMCI_ERROR_INVALID_SIZE. */
int64_t vmci_qp_dequeue(struct vmci_qp_view view, void *target, uint64_t size_bytes);
/* R88: dequeue without advancing. */
int64_t vmci_qp_peek(struct vmci_qp_view view, void *target, uint64_t size_bytes);
/* R87/R88 without the copy: the same checks, count and head movement (with `advance`), but
 * the bytes stay in the ring and *bytes says where (struct vmci_ring_bytes, vmci.h). */
int64_t vmci_qp_consume_in_place(struct vmci_qp_view view, uint64_t size_bytes, bool advance,
                                 struct vmci_ring_bytes *bytes);

/* R89: free space / ready bytes of each queue as seen by this endpoint (R83, R84), or
 * VMCI_ERROR_INVALID_SIZE when a pointer is >= the queue size (R82). */
int64_t vmci_qp_produce_free_space(struct vmci_qp_view view);
int64_t vmci_qp_produce_buf_ready(struct vmci_qp_view view);
int64_t vmci_qp_consume_free_space(struct vmci_qp_view view);
int64_t vmci_qp_consume_buf_ready(struct vmci_qp_view view);

/* The ring bytes [offset, offset + size_bytes) (within the ring, no wrap) for a reader or
 * writer outside the ring operations (the invariants, tests): any of them never stored
 * yet are zeroed first, so they read as the zeroed ring of R81 and stay as written. */
uint8_t *vmci_queue_ring_span(struct vmci_queue *queue, uint64_t offset, uint64_t size_bytes);

/* Byte offsets of the pointers inside the 24-byte header (R80). */
#define VMCI_QUEUE_HEADER_PRODUCER_TAIL_OFFSET 8u
#define VMCI_QUEUE_HEADER_CONSUMER_HEAD_OFFSET 16u

/* Raw header access (the bytes of R80): the ring code, the position queries, tests and the
 * hostile-guest model. The readers are inline: every operation reads two of them. */
static inline uint64_t vmci_queue_producer_tail(const struct vmci_queue *queue)
{
    assert(queue != NULL);
    return vmci_read_u64(queue->header + VMCI_QUEUE_HEADER_PRODUCER_TAIL_OFFSET);
}

static inline uint64_t vmci_queue_consumer_head(const struct vmci_queue *queue)
{
    assert(queue != NULL);
    return vmci_read_u64(queue->header + VMCI_QUEUE_HEADER_CONSUMER_HEAD_OFFSET);
}

/* R82: a pointer read from a header is valid iff it lies inside the ring; a zero-sized
 * queue has no ring and only 0 is valid. */
static inline bool vmci_ring_pointer_valid(uint64_t pointer, uint64_t size_bytes)
{
    return size_bytes == 0 ? pointer == 0 : pointer < size_bytes;
}

/* R83/R84 from pointers that the operation which read them has validated (R82): the ready
 * bytes of a ring of `size_bytes` whose producer tail and consumer head these are (its free
 * space is size_bytes - 1 minus them). Inline, for a data operation that reports the ring's
 * state after it without loading the header again. */
static inline uint64_t vmci_ring_ready_bytes(uint64_t tail, uint64_t head, uint64_t size_bytes)
{
    if (size_bytes == 0) {
        assert(tail == 0 && head == 0);
        return 0;
    }
    assert(tail < size_bytes && head < size_bytes);
    uint64_t ready_bytes = tail >= head ? tail - head : size_bytes - (head - tail);
    assert(ready_bytes <= size_bytes - 1);   /* QP1 */
    return ready_bytes;
}

struct vmci_handle vmci_queue_handle(const struct vmci_queue *queue);
void vmci_queue_set_producer_tail(struct vmci_queue *queue, uint64_t value);
void vmci_queue_set_consumer_head(struct vmci_queue *queue, uint64_t value);

#endif /* VMCI_QUEUE_PAIR_H */
