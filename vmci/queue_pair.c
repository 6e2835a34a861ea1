/* SPDX-License-Identifier: MIT */
/*
 * vmci/queue_pair.c: queue-pair memory and ring arithmetic (reference 5.1, 5.2).
 *
 * The header bytes (R80) are the only copy of the pointers. Every operation reads
 * producer_tail and consumer_head from them once into a `struct ring`, validates
 * those values (R82), computes free/ready from the same values, copies, and only
 * then writes its one pointer back. Nothing is cached elsewhere, so a hostile peer
 * that rewrites a header (vmci_queue_set_*) is seen by the next call and can at
 * worst make it return VMCI_ERROR_INVALID_SIZE; it can never steer a copy outside
 * the ring.
 *
 * Where a queue's pointers live (R80): the tail of the queue an endpoint produces
 * into is in that queue's header; its head is in the header of the endpoint's
 * consume queue, written by the peer that consumes it. For one endpoint's view:
 *   produce ring: tail in view.produce->header, head in view.consume->header
 *   consume ring: tail in view.consume->header, head in view.produce->header
 * so enqueue and dequeue both write only view.produce->header.
 *
 * Invariants (queue_pair.h), asserted in pairs:
 *   QP1  on read: free + ready == N - 1 after validation (ring_load callers);
 *        on write: the new ready (ring_reload) is still <= N - 1.
 *   QP2  the tail is written after the copy, and a re-read shows ready grown by
 *        exactly the copied count; dequeue shows it shrunk by the same count.
 *   QP3  ring_load() returns INVALID_SIZE before any caller can copy.
 *   QP4  a ring reads as zero where nothing was written (R81), though only the bytes
 *        below defined_bytes are stored: a copy stores the zeroes it reaches first.
 *
 * An enqueue may also hash what it copies (vmci_qp_enqueue_hashed), piece by piece as the
 * bytes go into the ring, so that each byte is read once for both (issue 10, item 6).
 *
 * A dequeue or peek may also copy nothing and say where its bytes lie in the ring
 * (vmci_qp_consume_in_place), for a reader that makes its own copy at once: the same
 * checks, results and head movement, and the same zeroes stored first (QP4).
 *
 * A zero-sized queue (R77 allows P = 0 or C = 0) has no ring; its only valid pointer
 * value is 0 and free = ready = 0, so enqueue is NOSPACE and dequeue NODATA (the
 * header's contract). A 1-byte queue holds 0 bytes (R83): same results.
 */
#include "queue_pair.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "sim/engine/trace.h"

/* Under AddressSanitizer a line of poisoned bytes follows each ring in its block, so that
 * a copy past a ring's end is still reported as when each ring was a block of its own. */
#if defined(__SANITIZE_ADDRESS__)
#define QUEUE_PAIR_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define QUEUE_PAIR_ASAN 1
#endif
#endif
#ifdef QUEUE_PAIR_ASAN
#include <sanitizer/asan_interface.h>
#define RING_RED_ZONE_BYTES VMCI_CACHE_LINE_BYTES
#define RING_POISON(address, bytes) ASAN_POISON_MEMORY_REGION((address), (bytes))
#else
#define RING_RED_ZONE_BYTES 0u
#define RING_POISON(address, bytes) ((void)(address), (void)(bytes))
#endif

/* Byte offsets inside the 24-byte header (R80). */
#define HEADER_HANDLE_CONTEXT_OFFSET 0u
#define HEADER_HANDLE_RESOURCE_OFFSET 4u
#define HEADER_PRODUCER_TAIL_OFFSET VMCI_QUEUE_HEADER_PRODUCER_TAIL_OFFSET
#define HEADER_CONSUMER_HEAD_OFFSET VMCI_QUEUE_HEADER_CONSUMER_HEAD_OFFSET

_Static_assert(HEADER_CONSUMER_HEAD_OFFSET + 8u == VMCI_QUEUE_HEADER_BYTES,
               "R80: handle (8) + producer_tail (8) + consumer_head (8)");

/* One ring's pointers as read once from the header bytes, so the values validated
 * (R82) are the values used for the copy (QP3). */
struct ring {
    struct vmci_queue *queue;   /* borrowed: whose ring and producer_tail */
    uint64_t tail;
    uint64_t head;
    uint64_t ready_bytes;       /* R84 from tail and head, once they are validated */
};

/* ---- Header bytes (R80) -------------------------------------------------------------- */

struct vmci_handle vmci_queue_handle(const struct vmci_queue *queue)
{
    assert(queue != NULL);
    return (struct vmci_handle){
        .context = vmci_read_u32(queue->header + HEADER_HANDLE_CONTEXT_OFFSET),
        .resource = vmci_read_u32(queue->header + HEADER_HANDLE_RESOURCE_OFFSET),
    };
}

void vmci_queue_set_producer_tail(struct vmci_queue *queue, uint64_t value)
{
    assert(queue != NULL);
    vmci_write_u64(queue->header + HEADER_PRODUCER_TAIL_OFFSET, value);
    assert(vmci_queue_producer_tail(queue) == value);
}

void vmci_queue_set_consumer_head(struct vmci_queue *queue, uint64_t value)
{
    assert(queue != NULL);
    vmci_write_u64(queue->header + HEADER_CONSUMER_HEAD_OFFSET, value);
    assert(vmci_queue_consumer_head(queue) == value);
}

/* R81: {handle, 0, 0}. */
static void queue_header_init(struct vmci_queue *queue, struct vmci_handle handle)
{
    vmci_write_u32(queue->header + HEADER_HANDLE_CONTEXT_OFFSET, handle.context);
    vmci_write_u32(queue->header + HEADER_HANDLE_RESOURCE_OFFSET, handle.resource);
    vmci_queue_set_producer_tail(queue, 0);
    vmci_queue_set_consumer_head(queue, 0);
    assert(vmci_handle_equal(vmci_queue_handle(queue), handle));
}

/* ---- Memory (R77, R81) --------------------------------------------------------------- */

void *vmci_line_calloc(size_t size_bytes)
{
    assert(size_bytes > 0);
    return calloc(1, size_bytes);
}

/* R77: at least one size non-zero; the sum fits the limit without overflowing. */
static int qp_sizes_check(uint64_t produce_size_bytes, uint64_t consume_size_bytes)
{
    if (produce_size_bytes == 0 && consume_size_bytes == 0)
        return VMCI_ERROR_INVALID_ARGS;
    if (produce_size_bytes > VMCI_MAX_GUEST_QP_MEMORY)
        return VMCI_ERROR_NO_RESOURCES;
    if (consume_size_bytes > VMCI_MAX_GUEST_QP_MEMORY - produce_size_bytes)
        return VMCI_ERROR_NO_RESOURCES;    /* also catches a sum that would overflow */
    return VMCI_SUCCESS;
}

/* Sets a queue's ring: exactly size_bytes at `ring` (NULL for a zero-sized queue), zero to
 * every reader (R81). The zeroes are stored as the ring is used (defined_bytes): a
 * stream's ring of 256 KiB is written from its start, and zeroing it all at once cost
 * more than the bytes most connections ever put through it. */
static void queue_ring_set(struct vmci_queue *queue, uint8_t *ring, uint64_t size_bytes)
{
    assert(queue->ring == NULL);
    assert(size_bytes <= VMCI_MAX_GUEST_QP_MEMORY);
    assert((ring == NULL) == (size_bytes == 0));
    queue->ring = ring;
    queue->size_bytes = size_bytes;
    queue->defined_bytes = 0;
}

/* A ring's bytes rounded up to whole cache lines (and its red zone under ASan), so that
 * the next ring starts on a line. */
static size_t ring_span_bytes(uint64_t size_bytes)
{
    uint64_t line_bytes = VMCI_CACHE_LINE_BYTES;
    return (size_t)((size_bytes + line_bytes - 1) / line_bytes * line_bytes) +
           RING_RED_ZONE_BYTES;
}

/* Where the first ring of a memory block starts: the first cache line after the
 * bookkeeping (the block itself is only as aligned as malloc makes it). */
static uint8_t *rings_start(struct vmci_qp_memory *memory)
{
    uintptr_t end = (uintptr_t)(memory + 1);
    uintptr_t line_bytes = VMCI_CACHE_LINE_BYTES;
    uintptr_t start = (end + line_bytes - 1) / line_bytes * line_bytes;
    assert(start - end < line_bytes);
    return (uint8_t *)(memory + 1) + (start - end);
}

/* Before ring bytes below `end` are read: stores the zeroes not stored yet there. */
static void ring_define_for_read(struct vmci_queue *queue, uint64_t end)
{
    assert(end <= queue->size_bytes);
    if (end > queue->defined_bytes) {
        memset(queue->ring + queue->defined_bytes, 0, (size_t)(end - queue->defined_bytes));
        queue->defined_bytes = end;
    }
}

/* Before [offset, end) is written: stores the zeroes below `offset` not stored yet; the
 * write itself defines the rest. */
static void ring_define_for_write(struct vmci_queue *queue, uint64_t offset, uint64_t end)
{
    assert(offset <= end && end <= queue->size_bytes);
    if (offset > queue->defined_bytes)
        ring_define_for_read(queue, offset);
    if (end > queue->defined_bytes)
        queue->defined_bytes = end;
}

uint8_t *vmci_queue_ring_span(struct vmci_queue *queue, uint64_t offset, uint64_t size_bytes)
{
    assert(queue != NULL);
    assert(offset <= queue->size_bytes && size_bytes <= queue->size_bytes - offset);
    if (queue->ring == NULL)
        return NULL;
    ring_define_for_read(queue, offset + size_bytes);
    return queue->ring + offset;
}

/* One block holds the bookkeeping and both rings, each ring starting on a cache line:
 * in a fleet every operation finds a queue pair's memory in no cache (issue 10), and this
 * way the headers and the first bytes of the rings share pages (fewer TLB misses), and a
 * 64-byte message written at a multiple of 64 bytes touches one line, not two (malloc
 * gives 16-byte alignment). Only placement: nothing reads an address. */
int vmci_qp_memory_create(struct vmci_handle handle, uint64_t produce_size_bytes,
                          uint64_t consume_size_bytes, struct vmci_qp_memory **out)
{
    assert(out != NULL);
    *out = NULL;
    int rc = qp_sizes_check(produce_size_bytes, consume_size_bytes);
    if (rc < 0)
        return rc;
    /* Both sizes are within VMCI_MAX_GUEST_QP_MEMORY: no overflow. */
    size_t block_bytes = sizeof(struct vmci_qp_memory) + VMCI_CACHE_LINE_BYTES +
                         ring_span_bytes(produce_size_bytes) + ring_span_bytes(consume_size_bytes);
    struct vmci_qp_memory *memory = malloc(block_bytes);
    if (memory == NULL)
        return VMCI_ERROR_NO_MEM;
    memset(memory, 0, sizeof(*memory));     /* the rings are zeroed as they are used */
    memory->handle = handle;
    memory->references = 1;
    uint8_t *produce = rings_start(memory);
    uint8_t *consume = produce + ring_span_bytes(produce_size_bytes);
    assert(consume + ring_span_bytes(consume_size_bytes) <= (uint8_t *)memory + block_bytes);
    RING_POISON(produce + produce_size_bytes, (size_t)(consume - produce) - produce_size_bytes);
    RING_POISON(consume + consume_size_bytes, ring_span_bytes(consume_size_bytes) -
                                                  (size_t)consume_size_bytes);
    queue_ring_set(&memory->queues[0], produce_size_bytes > 0 ? produce : NULL,
                   produce_size_bytes);
    queue_ring_set(&memory->queues[1], consume_size_bytes > 0 ? consume : NULL,
                   consume_size_bytes);
    queue_header_init(&memory->queues[0], handle);
    queue_header_init(&memory->queues[1], handle);
    assert(memory->queues[0].size_bytes + memory->queues[1].size_bytes <=
           VMCI_MAX_GUEST_QP_MEMORY);
    *out = memory;
    return VMCI_SUCCESS;
}

void vmci_qp_memory_ref(struct vmci_qp_memory *memory)
{
    assert(memory != NULL && memory->references > 0);
    memory->references++;
}

void vmci_qp_memory_destroy(struct vmci_qp_memory *memory)
{
    if (memory == NULL)
        return;
    assert(memory->references > 0);
    if (--memory->references > 0)
        return;
    for (uint32_t index = 0; index < 2; index++) {
        sim_data_stream_destroy(memory->queues[index].tally.written);
        sim_data_stream_destroy(memory->queues[index].tally.read);
    }
    free(memory);                       /* the rings are in the same block (ASan unpoisons) */
}

/* ---- Ring arithmetic (R82-R85) ------------------------------------------------------- */

/* R83, by its own formula (the free space between tail and head): ring_load cross-checks
 * it against the ready bytes of R84 (QP1). Pointers validated (R82), ring not empty. */
static inline uint64_t ring_free_bytes_r83(uint64_t tail, uint64_t head, uint64_t size_bytes)
{
    assert(size_bytes > 0 && tail < size_bytes && head < size_bytes);
    uint64_t free_bytes = tail >= head ? size_bytes - (tail - head) - 1 : head - tail - 1;
    assert(free_bytes <= size_bytes - 1);   /* QP1 */
    return free_bytes;
}

/* R83: the free space of a loaded ring (its ready bytes were computed once by ring_load). */
static inline uint64_t ring_free_bytes(const struct ring *ring)
{
    uint64_t size_bytes = ring->queue->size_bytes;
    return size_bytes == 0 ? 0 : size_bytes - 1 - ring->ready_bytes;
}

/* R84. */
static inline uint64_t ring_ready_bytes(const struct ring *ring)
{
    return ring->ready_bytes;
}

/* R85: p advanced by k, 0 < k <= N - 1. */
static inline uint64_t ring_advance(uint64_t pointer, uint64_t step_bytes, uint64_t size_bytes)
{
    assert(pointer < size_bytes);
    assert(step_bytes > 0);
    assert(step_bytes <= size_bytes - 1);
    uint64_t next = pointer >= size_bytes - step_bytes ? pointer + step_bytes - size_bytes
                                                       : pointer + step_bytes;
    assert(next < size_bytes);
    return next;
}

/* Reads the pointers of `queue` (tail from its own header, head from `head_holder`'s,
 * R80), validates them (R82, QP3) and computes the ready bytes from them once (R84), which
 * the free space then follows from (R83). Returns 0 or VMCI_ERROR_INVALID_SIZE. Inline
 * (always): every data operation loads its ring twice, once more to check what it wrote. */
static inline __attribute__((always_inline)) int64_t
ring_load(struct vmci_queue *queue, const struct vmci_queue *head_holder, struct ring *ring)
{
    assert(queue != NULL);
    assert(head_holder != NULL);
    assert(queue != head_holder);
    assert((queue->ring == NULL) == (queue->size_bytes == 0));
    uint64_t size_bytes = queue->size_bytes;
    ring->queue = queue;
    ring->tail = vmci_queue_producer_tail(queue);
    ring->head = vmci_queue_consumer_head(head_holder);
    if (!vmci_ring_pointer_valid(ring->tail, size_bytes) ||
        !vmci_ring_pointer_valid(ring->head, size_bytes))
        return VMCI_ERROR_INVALID_SIZE;
    ring->ready_bytes = vmci_ring_ready_bytes(ring->tail, ring->head, size_bytes);
    assert(size_bytes == 0 || ring_free_bytes_r83(ring->tail, ring->head, size_bytes) +
                                      ring->ready_bytes == size_bytes - 1);          /* QP1 */
    return VMCI_SUCCESS;
}

static inline __attribute__((always_inline)) int64_t
produce_ring_load(struct vmci_qp_view view, struct ring *ring)
{
    return ring_load(view.produce, view.consume, ring);
}

static inline __attribute__((always_inline)) int64_t
consume_ring_load(struct vmci_qp_view view, struct ring *ring)
{
    return ring_load(view.consume, view.produce, ring);
}

/* One piece of a copy into the ring, hashed on the way when `hash` is given. */
static void piece_copy_in(uint8_t *target, const uint8_t *source, uint64_t size_bytes,
                          struct sim_data_stream *hash)
{
    if (hash != NULL)
        sim_data_stream_copy(hash, target, source, (size_t)size_bytes);
    else
        memcpy(target, source, (size_t)size_bytes);
}

/* Copies size_bytes into the ring from `offset`, wrapping at N: at most two pieces, both
 * added to `hash` (unless NULL) in order. */
static void ring_copy_in(struct vmci_queue *queue, uint64_t offset, const uint8_t *source,
                         uint64_t size_bytes, struct sim_data_stream *hash)
{
    assert(offset < queue->size_bytes);
    assert(size_bytes <= queue->size_bytes - 1);
    uint64_t first_bytes = queue->size_bytes - offset;
    if (first_bytes > size_bytes)
        first_bytes = size_bytes;
    ring_define_for_write(queue, offset, offset + first_bytes);
    piece_copy_in(queue->ring + offset, source, first_bytes, hash);
    if (size_bytes > first_bytes) {
        ring_define_for_write(queue, 0, size_bytes - first_bytes);
        piece_copy_in(queue->ring, source + first_bytes, size_bytes - first_bytes, hash);
    }
}

/* Copies size_bytes out of the ring from `offset`, wrapping at N: at most two pieces. */
static void ring_copy_out(struct vmci_queue *queue, uint64_t offset, uint8_t *target,
                          uint64_t size_bytes)
{
    assert(offset < queue->size_bytes);
    assert(size_bytes <= queue->size_bytes - 1);
    uint64_t first_bytes = queue->size_bytes - offset;
    if (first_bytes > size_bytes)
        first_bytes = size_bytes;
    ring_define_for_read(queue, offset + first_bytes);
    memcpy(target, queue->ring + offset, (size_t)first_bytes);
    if (size_bytes > first_bytes) {
        ring_define_for_read(queue, size_bytes - first_bytes);
        memcpy(target + first_bytes, queue->ring, (size_t)(size_bytes - first_bytes));
    }
}

/* The bytes ring_copy_out() would copy, described where they lie instead (the same zeroes
 * stored first, QP4). */
static void ring_locate(struct vmci_queue *queue, uint64_t offset, uint64_t size_bytes,
                        struct vmci_ring_bytes *bytes)
{
    assert(offset < queue->size_bytes);
    assert(size_bytes <= queue->size_bytes - 1);
    uint64_t first_bytes = queue->size_bytes - offset;
    if (first_bytes > size_bytes)
        first_bytes = size_bytes;
    ring_define_for_read(queue, offset + first_bytes);
    *bytes = (struct vmci_ring_bytes){ .first = queue->ring + offset,
                                       .first_bytes = first_bytes };
    if (size_bytes > first_bytes) {
        ring_define_for_read(queue, size_bytes - first_bytes);
        bytes->second = queue->ring;
        bytes->second_bytes = size_bytes - first_bytes;
    }
    assert(bytes->first_bytes + bytes->second_bytes == size_bytes);
}

/* ---- Enqueue, dequeue, peek (R86-R88) ------------------------------------------------ */

static inline void view_check(struct vmci_qp_view view)
{
    assert(view.produce != NULL);
    assert(view.consume != NULL);
    assert(view.produce != view.consume);
    (void)view;
}

int64_t vmci_qp_enqueue(struct vmci_qp_view view, const void *source, uint64_t size_bytes)
{
    return vmci_qp_enqueue_hashed(view, source, size_bytes, NULL);
}

int64_t vmci_qp_enqueue_hashed(struct vmci_qp_view view, const void *source,
                               uint64_t size_bytes, struct sim_data_stream *hash)
{
    view_check(view);
    assert(source != NULL || size_bytes == 0);
    struct ring ring;
    int64_t rc = produce_ring_load(view, &ring);
    if (rc < 0)
        return rc;   /* R82: nothing copied, nothing written */
    uint64_t free_bytes = ring_free_bytes(&ring);
    if (free_bytes == 0)
        return VMCI_ERROR_QUEUEPAIR_NOSPACE;
    uint64_t copied_bytes = size_bytes < free_bytes ? size_bytes : free_bytes;
    if (copied_bytes == 0)
        return 0;
    uint64_t ready_before = ring_ready_bytes(&ring);
    ring_copy_in(ring.queue, ring.tail, source, copied_bytes, hash);
    /* QP2: publish only after the copy. */
    vmci_queue_set_producer_tail(view.produce,
                                 ring_advance(ring.tail, copied_bytes, ring.queue->size_bytes));

    struct ring after;
    rc = produce_ring_load(view, &after);
    assert(rc == VMCI_SUCCESS);
    assert(ring_ready_bytes(&after) == ready_before + copied_bytes);   /* QP1, QP2 */
    (void)rc;
    (void)after;
    (void)ready_before;
    return (int64_t)copied_bytes;
}

/* R87/R88: copies min(size, ready) bytes into `target`, or with `target` NULL says in
 * *in_place where they lie; moves consumer_head only if `advance`. */
static int64_t consume(struct vmci_qp_view view, void *target, uint64_t size_bytes,
                       bool advance, struct vmci_ring_bytes *in_place)
{
    view_check(view);
    assert((target == NULL) == (in_place != NULL) || size_bytes == 0);
    struct ring ring;
    int64_t rc = consume_ring_load(view, &ring);
    if (rc < 0)
        return rc;   /* R82: nothing copied, nothing written */
    uint64_t ready_bytes = ring_ready_bytes(&ring);
    if (ready_bytes == 0)
        return VMCI_ERROR_QUEUEPAIR_NODATA;
    uint64_t copied_bytes = size_bytes < ready_bytes ? size_bytes : ready_bytes;
    if (copied_bytes == 0)
        return 0;
    if (in_place != NULL)
        ring_locate(ring.queue, ring.head, copied_bytes, in_place);
    else
        ring_copy_out(ring.queue, ring.head, target, copied_bytes);
    if (advance)
        vmci_queue_set_consumer_head(view.produce, ring_advance(ring.head, copied_bytes,
                                                                ring.queue->size_bytes));

    struct ring after;
    rc = consume_ring_load(view, &after);
    assert(rc == VMCI_SUCCESS);
    assert(ring_ready_bytes(&after) == ready_bytes - (advance ? copied_bytes : 0)); /* QP1 */
    assert(after.tail == ring.tail);
    (void)rc;
    (void)after;
    return (int64_t)copied_bytes;
}

int64_t vmci_qp_dequeue(struct vmci_qp_view view, void *target, uint64_t size_bytes)
{
    return consume(view, target, size_bytes, true, NULL);
}

int64_t vmci_qp_peek(struct vmci_qp_view view, void *target, uint64_t size_bytes)
{
    return consume(view, target, size_bytes, false, NULL);
}

int64_t vmci_qp_consume_in_place(struct vmci_qp_view view, uint64_t size_bytes, bool advance,
                                 struct vmci_ring_bytes *bytes)
{
    assert(bytes != NULL);
    *bytes = (struct vmci_ring_bytes){ .first = NULL };
    return consume(view, NULL, size_bytes, advance, bytes);
}

/* ---- Queries (R89) ------------------------------------------------------------------- */

int64_t vmci_qp_produce_free_space(struct vmci_qp_view view)
{
    view_check(view);
    struct ring ring;
    int64_t rc = produce_ring_load(view, &ring);
    return rc < 0 ? rc : (int64_t)ring_free_bytes(&ring);
}

int64_t vmci_qp_produce_buf_ready(struct vmci_qp_view view)
{
    view_check(view);
    struct ring ring;
    int64_t rc = produce_ring_load(view, &ring);
    return rc < 0 ? rc : (int64_t)ring_ready_bytes(&ring);
}

int64_t vmci_qp_consume_free_space(struct vmci_qp_view view)
{
    view_check(view);
    struct ring ring;
    int64_t rc = consume_ring_load(view, &ring);
    return rc < 0 ? rc : (int64_t)ring_free_bytes(&ring);
}

int64_t vmci_qp_consume_buf_ready(struct vmci_qp_view view)
{
    view_check(view);
    struct ring ring;
    int64_t rc = consume_ring_load(view, &ring);
    return rc < 0 ? rc : (int64_t)ring_ready_bytes(&ring);
}
