/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/queue_pair_test.c: queue-pair memory and ring arithmetic
 * (vmci/queue_pair.h; reference 5.1 and 5.2, rules R77-R89).
 *
 * Each test is named after the rule it checks and covers the boundaries (0, 1,
 * N - 1, N, N + k, UINT64_MAX) and invalid inputs. Expected header bytes are
 * written out by hand, never through the library's own encoders. Two tests
 * compare the rings with an independent model: a property test (100 000 seeded
 * random enqueue/dequeue/peek steps in both directions against a plain byte FIFO
 * per direction, checked after every step) and a sweep that starts every
 * transfer length at every ring offset.
 *
 * A "direction" is one ring: the endpoint that produces into it, the endpoint
 * that consumes it, the queue itself and the header that holds its head (R80:
 * the consumer's produce header).
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "sim/engine/rng.h"
#include "sim/engine/trace.h"
#include "sim/lua/runtime.h"
#include "suites.h"
#include "test_support.h"
#include "vmci/queue_pair.h"

#define QP_HANDLE_CONTEXT 0x11223344u
#define QP_HANDLE_RESOURCE 0x55667788u
#define SENTINEL_BYTE 0xA5u
#define BUFFER_BYTES_MAX 256u

static const struct vmci_handle qp_handle = { QP_HANDLE_CONTEXT, QP_HANDLE_RESOURCE };

struct qp_fixture {
    struct vmci_qp_memory *memory;
    struct vmci_qp_view creator;
    struct vmci_qp_view attacher;
};

struct direction {
    struct vmci_qp_view producer;
    struct vmci_qp_view consumer;
    struct vmci_queue *queue;         /* the ring; its header holds the tail */
    struct vmci_queue *head_holder;   /* the consumer's produce queue; holds the head */
    uint64_t size_bytes;
};

static void fixture_create(struct qp_fixture *fixture, uint64_t produce_size_bytes,
                           uint64_t consume_size_bytes)
{
    fixture->memory = NULL;
    CU_ASSERT_EQUAL_FATAL(vmci_qp_memory_create(qp_handle, produce_size_bytes,
                                                consume_size_bytes, &fixture->memory),
                          VMCI_SUCCESS);
    CU_ASSERT_PTR_NOT_NULL_FATAL(fixture->memory);
    fixture->creator = vmci_qp_view_creator(fixture->memory);
    fixture->attacher = vmci_qp_view_attacher(fixture->memory);
}

static void fixture_destroy(struct qp_fixture *fixture)
{
    vmci_qp_memory_destroy(fixture->memory);
    fixture->memory = NULL;
}

/* Index 0: creator -> attacher (queues[0]); index 1: attacher -> creator (queues[1]). */
static struct direction fixture_direction(struct qp_fixture *fixture, int index)
{
    struct direction direction = {
        .producer = index == 0 ? fixture->creator : fixture->attacher,
        .consumer = index == 0 ? fixture->attacher : fixture->creator,
        .queue = &fixture->memory->queues[index],
        .head_holder = &fixture->memory->queues[1 - index],
    };
    direction.size_bytes = direction.queue->size_bytes;
    return direction;
}

static void pattern_fill(uint8_t *bytes, uint64_t size_bytes, uint8_t seed)
{
    for (uint64_t index = 0; index < size_bytes; index++)
        bytes[index] = (uint8_t)(seed + 7u * index + 1u);
}

static bool bytes_all(const uint8_t *bytes, uint64_t size_bytes, uint8_t value)
{
    for (uint64_t index = 0; index < size_bytes; index++) {
        if (bytes[index] != value)
            return false;
    }
    return true;
}

/* Moves tail and head of an empty `direction` forward by `step_bytes` through the API. */
static void direction_advance(struct direction *direction, uint64_t step_bytes)
{
    uint8_t scratch[BUFFER_BYTES_MAX];
    CU_ASSERT_FATAL(step_bytes < direction->size_bytes && step_bytes <= BUFFER_BYTES_MAX);
    if (step_bytes == 0)
        return;
    uint64_t expected = (vmci_queue_producer_tail(direction->queue) + step_bytes) %
                        direction->size_bytes;
    pattern_fill(scratch, step_bytes, 0x30);
    ASSERT_U64_EQ(vmci_qp_enqueue(direction->producer, scratch, step_bytes), step_bytes);
    ASSERT_U64_EQ(vmci_qp_dequeue(direction->consumer, scratch, step_bytes), step_bytes);
    ASSERT_U64_EQ(vmci_queue_producer_tail(direction->queue), expected);
    ASSERT_U64_EQ(vmci_queue_consumer_head(direction->head_holder), expected);
}

/* ---- R77: sizes ------------------------------------------------------------------------ */

static int create_rc(uint64_t produce_size_bytes, uint64_t consume_size_bytes)
{
    static struct vmci_qp_memory not_null;
    struct vmci_qp_memory *memory = &not_null;   /* a failed create must reset it */
    int rc = vmci_qp_memory_create(qp_handle, produce_size_bytes, consume_size_bytes, &memory);
    if (rc < 0)
        CU_ASSERT_PTR_NULL(memory);
    vmci_qp_memory_destroy(rc < 0 ? NULL : memory);
    return rc;
}

/* R77: 0/0 is INVALID_ARGS; sizes up to a 128 MiB total (not page multiples) work; one
 * byte more, or a sum that wraps around u64, is NO_RESOURCES. */
static void test_R77_sizes(void)
{
    const uint64_t max = VMCI_MAX_GUEST_QP_MEMORY;
    ASSERT_U64_EQ(max, 134217728u);
    ASSERT_U64_EQ(create_rc(0, 0), VMCI_ERROR_INVALID_ARGS);
    ASSERT_U64_EQ(create_rc(1, 0), VMCI_SUCCESS);
    ASSERT_U64_EQ(create_rc(0, 1), VMCI_SUCCESS);
    ASSERT_U64_EQ(create_rc(4097, 4095), VMCI_SUCCESS);
    ASSERT_U64_EQ(create_rc(max, 0), VMCI_SUCCESS);   /* freed at once, pages never touched */
    ASSERT_U64_EQ(create_rc(max, 1), VMCI_ERROR_NO_RESOURCES);
    ASSERT_U64_EQ(create_rc(1, max), VMCI_ERROR_NO_RESOURCES);
    ASSERT_U64_EQ(create_rc(max + 1, 0), VMCI_ERROR_NO_RESOURCES);
    ASSERT_U64_EQ(create_rc(0, max + 1), VMCI_ERROR_NO_RESOURCES);
    ASSERT_U64_EQ(create_rc(max / 2 + 1, max / 2), VMCI_ERROR_NO_RESOURCES);
    /* Sums that overflow u64 to a small value (0, 1, max) must not pass. */
    ASSERT_U64_EQ(create_rc(UINT64_MAX, 1), VMCI_ERROR_NO_RESOURCES);
    ASSERT_U64_EQ(create_rc(1, UINT64_MAX), VMCI_ERROR_NO_RESOURCES);
    ASSERT_U64_EQ(create_rc(UINT64_MAX, 2), VMCI_ERROR_NO_RESOURCES);
    ASSERT_U64_EQ(create_rc(1ull << 63, 1ull << 63), VMCI_ERROR_NO_RESOURCES);
    ASSERT_U64_EQ(create_rc(UINT64_MAX - max + 1, max), VMCI_ERROR_NO_RESOURCES);
    ASSERT_U64_EQ(create_rc(UINT64_MAX, UINT64_MAX), VMCI_ERROR_NO_RESOURCES);

    /* The exact maximum, split: both rings exist with exactly those sizes and work at
     * their far end. Allocated once (128 MiB). */
    struct qp_fixture fixture;
    fixture_create(&fixture, max / 2, max / 2);
    ASSERT_U64_EQ(fixture.memory->queues[0].size_bytes, max / 2);
    ASSERT_U64_EQ(fixture.memory->queues[1].size_bytes, max / 2);
    CU_ASSERT_PTR_NOT_NULL(fixture.memory->queues[0].ring);
    CU_ASSERT_PTR_NOT_NULL(fixture.memory->queues[1].ring);
    ASSERT_U64_EQ(vmci_qp_produce_free_space(fixture.creator), max / 2 - 1);
    ASSERT_U64_EQ(vmci_qp_consume_free_space(fixture.creator), max / 2 - 1);
    struct direction direction = fixture_direction(&fixture, 1);
    vmci_queue_set_producer_tail(direction.queue, max / 2 - 2);
    vmci_queue_set_consumer_head(direction.head_holder, max / 2 - 2);
    uint8_t bytes[4] = { 1, 2, 3, 4 }, out[4] = { 0 };
    ASSERT_U64_EQ(vmci_qp_enqueue(direction.producer, bytes, 4), 4);
    ASSERT_U64_EQ(vmci_qp_dequeue(direction.consumer, out, 4), 4);
    CU_ASSERT_EQUAL(memcmp(bytes, out, 4), 0);
    ASSERT_U64_EQ(vmci_queue_producer_tail(direction.queue), 2);
    fixture_destroy(&fixture);
}

/* R77 + header contract: a zero-sized queue has no ring; enqueue into it is NOSPACE,
 * dequeue/peek NODATA, free = ready = 0. Its only valid pointer is 0 (R82 with no ring:
 * anything else is INVALID_SIZE). The other queue works normally. */
static void test_R77_zero_size_queue_is_nospace_and_nodata(void)
{
    struct qp_fixture fixture;
    fixture_create(&fixture, 16, 0);
    CU_ASSERT_PTR_NULL(fixture.memory->queues[1].ring);
    ASSERT_U64_EQ(fixture.memory->queues[1].size_bytes, 0);
    uint8_t bytes[8] = { 9, 8, 7, 6, 5, 4, 3, 2 }, out[8];
    ASSERT_U64_EQ(vmci_qp_enqueue(fixture.attacher, bytes, 8), VMCI_ERROR_QUEUEPAIR_NOSPACE);
    ASSERT_U64_EQ(vmci_qp_enqueue(fixture.attacher, NULL, 0), VMCI_ERROR_QUEUEPAIR_NOSPACE);
    ASSERT_U64_EQ(vmci_qp_dequeue(fixture.creator, out, 8), VMCI_ERROR_QUEUEPAIR_NODATA);
    ASSERT_U64_EQ(vmci_qp_peek(fixture.creator, out, 8), VMCI_ERROR_QUEUEPAIR_NODATA);
    ASSERT_U64_EQ(vmci_qp_produce_free_space(fixture.attacher), 0);
    ASSERT_U64_EQ(vmci_qp_produce_buf_ready(fixture.attacher), 0);
    ASSERT_U64_EQ(vmci_qp_consume_free_space(fixture.creator), 0);
    ASSERT_U64_EQ(vmci_qp_consume_buf_ready(fixture.creator), 0);
    ASSERT_U64_EQ(vmci_queue_producer_tail(&fixture.memory->queues[1]), 0);

    ASSERT_U64_EQ(vmci_qp_enqueue(fixture.creator, bytes, 8), 8);
    ASSERT_U64_EQ(vmci_qp_dequeue(fixture.attacher, out, 8), 8);
    CU_ASSERT_EQUAL(memcmp(bytes, out, 8), 0);

    vmci_queue_set_producer_tail(&fixture.memory->queues[1], 1);
    ASSERT_U64_EQ(vmci_qp_produce_free_space(fixture.attacher), VMCI_ERROR_INVALID_SIZE);
    ASSERT_U64_EQ(vmci_qp_dequeue(fixture.creator, out, 8), VMCI_ERROR_INVALID_SIZE);
    vmci_queue_set_producer_tail(&fixture.memory->queues[1], 0);
    vmci_queue_set_consumer_head(&fixture.memory->queues[0], UINT64_MAX);
    ASSERT_U64_EQ(vmci_qp_consume_buf_ready(fixture.creator), VMCI_ERROR_INVALID_SIZE);
    ASSERT_U64_EQ(vmci_qp_enqueue(fixture.attacher, bytes, 8), VMCI_ERROR_INVALID_SIZE);
    fixture_destroy(&fixture);
}

/* ---- R80, R81: header layout ------------------------------------------------------------ */

/* The 24 header bytes written out by hand: handle (LE u32 context, u32 resource),
 * LE u64 producer_tail, LE u64 consumer_head. */
static void expected_header(uint8_t bytes[VMCI_QUEUE_HEADER_BYTES], uint8_t tail, uint8_t head)
{
    static const uint8_t handle_bytes[8] = { 0x44, 0x33, 0x22, 0x11, 0x88, 0x77, 0x66, 0x55 };
    memset(bytes, 0, VMCI_QUEUE_HEADER_BYTES);
    memcpy(bytes, handle_bytes, sizeof(handle_bytes));
    bytes[8] = tail;
    bytes[16] = head;
}

static void assert_header_bytes(const struct vmci_queue *queue, uint8_t tail, uint8_t head)
{
    uint8_t expected[VMCI_QUEUE_HEADER_BYTES];
    expected_header(expected, tail, head);
    CU_ASSERT_EQUAL(memcmp(queue->header, expected, VMCI_QUEUE_HEADER_BYTES), 0);
    ASSERT_U64_EQ(vmci_queue_producer_tail(queue), tail);
    ASSERT_U64_EQ(vmci_queue_consumer_head(queue), head);
    CU_ASSERT(vmci_handle_equal(vmci_queue_handle(queue), qp_handle));
}

/* R81: both headers are {handle, 0, 0} (every byte), the rings are zeroed, and all four
 * queries of both endpoints read "empty". */
static void test_R81_headers_start_zero(void)
{
    struct qp_fixture fixture;
    fixture_create(&fixture, 64, 32);
    assert_header_bytes(&fixture.memory->queues[0], 0, 0);
    assert_header_bytes(&fixture.memory->queues[1], 0, 0);
    CU_ASSERT(vmci_handle_equal(fixture.memory->handle, qp_handle));
    CU_ASSERT(bytes_all(vmci_queue_ring_span(&fixture.memory->queues[0], 0, 64), 64, 0));
    CU_ASSERT(bytes_all(vmci_queue_ring_span(&fixture.memory->queues[1], 0, 32), 32, 0));
    CU_ASSERT_PTR_EQUAL(fixture.creator.produce, &fixture.memory->queues[0]);
    CU_ASSERT_PTR_EQUAL(fixture.creator.consume, &fixture.memory->queues[1]);
    CU_ASSERT_PTR_EQUAL(fixture.attacher.produce, &fixture.memory->queues[1]);
    CU_ASSERT_PTR_EQUAL(fixture.attacher.consume, &fixture.memory->queues[0]);
    ASSERT_U64_EQ(vmci_qp_produce_free_space(fixture.creator), 63);
    ASSERT_U64_EQ(vmci_qp_produce_buf_ready(fixture.creator), 0);
    ASSERT_U64_EQ(vmci_qp_consume_free_space(fixture.creator), 31);
    ASSERT_U64_EQ(vmci_qp_consume_buf_ready(fixture.creator), 0);
    ASSERT_U64_EQ(vmci_qp_produce_free_space(fixture.attacher), 31);
    ASSERT_U64_EQ(vmci_qp_consume_free_space(fixture.attacher), 63);
    fixture_destroy(&fixture);
}

/* R81 with a ring zeroed as it is used: whatever the memory held before (a ring of the
 * same size filled with 0xAB and freed just before, which malloc tends to hand back),
 * every byte a reader can reach reads 0 until written: bytes a peer exposes by moving the
 * tail past what was written (R82 allows any pointer below the size), bytes skipped by a
 * write that starts beyond the stored part, and the part after a wrap. */
static void test_R81_ring_zeroed_as_used(void)
{
    enum { SIZE = 4096 };
    static uint8_t bytes[SIZE], out[SIZE];
    struct qp_fixture fixture;
    fixture_create(&fixture, SIZE, SIZE);
    memset(vmci_queue_ring_span(&fixture.memory->queues[0], 0, SIZE), 0xAB, SIZE);
    fixture_destroy(&fixture);
    fixture_create(&fixture, SIZE, SIZE);
    struct direction direction = fixture_direction(&fixture, 0);
    ASSERT_U64_EQ(direction.queue->defined_bytes, 0);           /* nothing stored yet */
    vmci_queue_set_producer_tail(direction.queue, 1000);        /* 1000 bytes never written */
    memset(out, 0x11, sizeof(out));
    ASSERT_U64_EQ(vmci_qp_dequeue(direction.consumer, out, SIZE), 1000);
    CU_ASSERT(bytes_all(out, 1000, 0));
    ASSERT_U64_EQ(direction.queue->defined_bytes, 1000);
    vmci_queue_set_producer_tail(direction.queue, 3000);        /* head 1000 -> tail 3000 */
    vmci_queue_set_consumer_head(direction.head_holder, 3000);
    pattern_fill(bytes, 1500, 0x21);
    ASSERT_U64_EQ(vmci_qp_enqueue(direction.producer, bytes, 1500), 1500);    /* wraps */
    ASSERT_U64_EQ(vmci_queue_producer_tail(direction.queue), 404);
    vmci_queue_set_consumer_head(direction.head_holder, 404);   /* 1000..2999 unwritten */
    vmci_queue_set_producer_tail(direction.queue, 3000);
    memset(out, 0x11, sizeof(out));
    ASSERT_U64_EQ(vmci_qp_peek(direction.consumer, out, SIZE), 2596);
    CU_ASSERT(bytes_all(out, 596, 0));                          /* read as zero before */
    CU_ASSERT(bytes_all(out + 596, 2000, 0));                   /* skipped by the write */
    vmci_queue_set_consumer_head(direction.head_holder, 3000);
    vmci_queue_set_producer_tail(direction.queue, 404);
    ASSERT_U64_EQ(vmci_qp_dequeue(direction.consumer, out, SIZE), 1500);
    CU_ASSERT_EQUAL(memcmp(out, bytes, 1500), 0);               /* the wrapped write */
    CU_ASSERT(bytes_all(vmci_queue_ring_span(direction.queue, 404, 596), 596, 0));
    ASSERT_U64_EQ(direction.queue->defined_bytes, SIZE);
    fixture_destroy(&fixture);
}

/* R80: after the creator enqueues 10 and the attacher dequeues 4, queues[0]'s header
 * holds the creator's tail (10) and queues[1]'s header holds the attacher's head for
 * queues[0] (4). Then the attacher enqueues 7 and the creator dequeues 3: queues[1]
 * holds tail 7, queues[0] holds head 3. Checked byte for byte and through both views. */
static void test_R80_header_layout_read_from_both_endpoints(void)
{
    struct qp_fixture fixture;
    fixture_create(&fixture, 64, 32);
    struct vmci_queue *queue0 = &fixture.memory->queues[0], *queue1 = &fixture.memory->queues[1];
    uint8_t bytes[10], out[10];
    pattern_fill(bytes, 10, 0x10);
    ASSERT_U64_EQ(vmci_qp_enqueue(fixture.creator, bytes, 10), 10);
    ASSERT_U64_EQ(vmci_qp_dequeue(fixture.attacher, out, 4), 4);
    CU_ASSERT_EQUAL(memcmp(bytes, out, 4), 0);
    assert_header_bytes(queue0, 10, 0);
    assert_header_bytes(queue1, 0, 4);
    ASSERT_U64_EQ(vmci_queue_producer_tail(fixture.creator.produce), 10);
    ASSERT_U64_EQ(vmci_queue_producer_tail(fixture.attacher.consume), 10);
    ASSERT_U64_EQ(vmci_queue_consumer_head(fixture.attacher.produce), 4);
    ASSERT_U64_EQ(vmci_queue_consumer_head(fixture.creator.consume), 4);
    CU_ASSERT(vmci_handle_equal(vmci_queue_handle(fixture.attacher.produce), qp_handle));
    CU_ASSERT(vmci_handle_equal(vmci_queue_handle(fixture.attacher.consume), qp_handle));
    ASSERT_U64_EQ(vmci_qp_produce_buf_ready(fixture.creator), 6);
    ASSERT_U64_EQ(vmci_qp_consume_buf_ready(fixture.attacher), 6);

    pattern_fill(bytes, 7, 0x60);
    ASSERT_U64_EQ(vmci_qp_enqueue(fixture.attacher, bytes, 7), 7);
    ASSERT_U64_EQ(vmci_qp_dequeue(fixture.creator, out, 3), 3);
    CU_ASSERT_EQUAL(memcmp(bytes, out, 3), 0);
    assert_header_bytes(queue0, 10, 3);
    assert_header_bytes(queue1, 7, 4);
    ASSERT_U64_EQ(vmci_qp_consume_buf_ready(fixture.creator), 4);
    ASSERT_U64_EQ(vmci_qp_produce_buf_ready(fixture.attacher), 4);
    fixture_destroy(&fixture);
}

/* R80: each endpoint writes only its own produce header. Enqueue, dequeue and peek by one
 * endpoint leave the other queue's header bytes untouched. */
static void test_R80_endpoint_writes_only_its_produce_header(void)
{
    struct qp_fixture fixture;
    fixture_create(&fixture, 32, 32);
    uint8_t bytes[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, out[8];
    ASSERT_U64_EQ(vmci_qp_enqueue(fixture.attacher, bytes, 8), 8);
    for (int endpoint = 0; endpoint < 2; endpoint++) {
        struct vmci_qp_view view = endpoint == 0 ? fixture.creator : fixture.attacher;
        uint8_t before[VMCI_QUEUE_HEADER_BYTES];
        memcpy(before, view.consume->header, VMCI_QUEUE_HEADER_BYTES);
        ASSERT_U64_EQ(vmci_qp_enqueue(view, bytes, 3), 3);
        ASSERT_U64_EQ(vmci_qp_peek(view, out, 2), 2);
        ASSERT_U64_EQ(vmci_qp_dequeue(view, out, 2), 2);
        CU_ASSERT_EQUAL(memcmp(before, view.consume->header, VMCI_QUEUE_HEADER_BYTES), 0);
        CU_ASSERT_NOT_EQUAL(vmci_queue_producer_tail(view.produce), 0);
        CU_ASSERT_NOT_EQUAL(vmci_queue_consumer_head(view.produce), 0);
    }
    fixture_destroy(&fixture);
}

/* ---- R82: corrupt pointers -------------------------------------------------------------- */

/* With one pointer of `direction` corrupt, all five operations that touch its ring return
 * INVALID_SIZE (even for size 0), copy nothing, write nothing; the other ring still
 * works; restoring the pointer restores the ring. Run under ASan, nothing is read or
 * written out of bounds. */
static void check_corrupt_pointer(struct qp_fixture *fixture, int index, bool corrupt_tail,
                                  uint64_t bad_value)
{
    struct direction direction = fixture_direction(fixture, index);
    struct direction other = fixture_direction(fixture, 1 - index);
    uint8_t bytes[10], out[BUFFER_BYTES_MAX], ring_before[BUFFER_BYTES_MAX];
    uint8_t headers_before[2][VMCI_QUEUE_HEADER_BYTES];
    pattern_fill(bytes, 10, 0x40);
    ASSERT_U64_EQ(vmci_qp_enqueue(direction.producer, bytes, 10), 10);
    memcpy(ring_before, vmci_queue_ring_span(direction.queue, 0, direction.size_bytes),
           direction.size_bytes);
    if (corrupt_tail)
        vmci_queue_set_producer_tail(direction.queue, bad_value);
    else
        vmci_queue_set_consumer_head(direction.head_holder, bad_value);
    memcpy(headers_before[0], direction.queue->header, VMCI_QUEUE_HEADER_BYTES);
    memcpy(headers_before[1], direction.head_holder->header, VMCI_QUEUE_HEADER_BYTES);

    ASSERT_U64_EQ(vmci_qp_produce_free_space(direction.producer), VMCI_ERROR_INVALID_SIZE);
    ASSERT_U64_EQ(vmci_qp_produce_buf_ready(direction.producer), VMCI_ERROR_INVALID_SIZE);
    ASSERT_U64_EQ(vmci_qp_consume_free_space(direction.consumer), VMCI_ERROR_INVALID_SIZE);
    ASSERT_U64_EQ(vmci_qp_consume_buf_ready(direction.consumer), VMCI_ERROR_INVALID_SIZE);
    ASSERT_U64_EQ(vmci_qp_enqueue(direction.producer, bytes, 5), VMCI_ERROR_INVALID_SIZE);
    ASSERT_U64_EQ(vmci_qp_enqueue(direction.producer, NULL, 0), VMCI_ERROR_INVALID_SIZE);
    memset(out, SENTINEL_BYTE, sizeof(out));
    ASSERT_U64_EQ(vmci_qp_dequeue(direction.consumer, out, sizeof(out)), VMCI_ERROR_INVALID_SIZE);
    ASSERT_U64_EQ(vmci_qp_peek(direction.consumer, out, sizeof(out)), VMCI_ERROR_INVALID_SIZE);
    CU_ASSERT(bytes_all(out, sizeof(out), SENTINEL_BYTE));
    CU_ASSERT_EQUAL(memcmp(ring_before, direction.queue->ring, direction.size_bytes), 0);
    CU_ASSERT_EQUAL(memcmp(headers_before[0], direction.queue->header, VMCI_QUEUE_HEADER_BYTES), 0);
    CU_ASSERT_EQUAL(memcmp(headers_before[1], direction.head_holder->header,
                           VMCI_QUEUE_HEADER_BYTES), 0);

    /* The other ring's pointers live in the same two headers (R80), at the other field. */
    ASSERT_U64_EQ(vmci_qp_enqueue(other.producer, bytes, 3), 3);
    ASSERT_U64_EQ(vmci_qp_consume_buf_ready(other.consumer), 3);
    ASSERT_U64_EQ(vmci_qp_dequeue(other.consumer, out, 3), 3);
    CU_ASSERT_EQUAL(memcmp(bytes, out, 3), 0);

    if (corrupt_tail)
        vmci_queue_set_producer_tail(direction.queue, 10);
    else
        vmci_queue_set_consumer_head(direction.head_holder, 0);
    ASSERT_U64_EQ(vmci_qp_dequeue(direction.consumer, out, sizeof(out)), 10);
    CU_ASSERT_EQUAL(memcmp(bytes, out, 10), 0);
}

static void check_corrupt_values(bool corrupt_tail)
{
    for (int index = 0; index < 2; index++) {
        const uint64_t size_bytes = index == 0 ? 64 : 32;
        const uint64_t bad_values[] = { size_bytes, size_bytes + 7, UINT64_MAX,
                                        1ull << 32 };
        for (size_t value = 0; value < sizeof(bad_values) / sizeof(bad_values[0]); value++) {
            struct qp_fixture fixture;
            fixture_create(&fixture, 64, 32);
            check_corrupt_pointer(&fixture, index, corrupt_tail, bad_values[value]);
            fixture_destroy(&fixture);
        }
    }
}

/* R82: producer_tail = N, N + 7, UINT64_MAX, 2^32, in either ring. */
static void test_R82_corrupt_producer_tail_gives_invalid_size(void)
{
    check_corrupt_values(true);
}

/* R82: the same for consumer_head (which R80 stores in the consumer's produce header). */
static void test_R82_corrupt_consumer_head_gives_invalid_size(void)
{
    check_corrupt_values(false);
}

/* R82 boundary: N - 1 is a valid pointer. tail = N - 1, head = 0 is a full ring; head =
 * N - 1, tail = 0 holds the single byte at offset N - 1. */
static void test_R82_last_valid_pointer_is_size_minus_one(void)
{
    struct qp_fixture fixture;
    fixture_create(&fixture, 16, 16);
    struct direction direction = fixture_direction(&fixture, 0);
    vmci_queue_set_producer_tail(direction.queue, 15);
    ASSERT_U64_EQ(vmci_qp_produce_buf_ready(direction.producer), 15);
    ASSERT_U64_EQ(vmci_qp_produce_free_space(direction.producer), 0);
    uint8_t byte = 0x77, out[4] = { 0 };
    ASSERT_U64_EQ(vmci_qp_enqueue(direction.producer, &byte, 1), VMCI_ERROR_QUEUEPAIR_NOSPACE);
    vmci_queue_set_producer_tail(direction.queue, 0);
    vmci_queue_set_consumer_head(direction.head_holder, 15);
    *vmci_queue_ring_span(direction.queue, 15, 1) = 0x5C;
    ASSERT_U64_EQ(vmci_qp_consume_buf_ready(direction.consumer), 1);
    ASSERT_U64_EQ(vmci_qp_consume_free_space(direction.consumer), 14);
    ASSERT_U64_EQ(vmci_qp_dequeue(direction.consumer, out, 4), 1);
    ASSERT_U64_EQ(out[0], 0x5C);
    ASSERT_U64_EQ(vmci_queue_consumer_head(direction.head_holder), 0);
    fixture_destroy(&fixture);
}

/* ---- R83-R85: arithmetic ----------------------------------------------------------------- */

/* R83: a 64-byte ring takes 63 bytes (a 100-byte enqueue is cut to 63), then NOSPACE,
 * also for the next single byte; after one byte is dequeued exactly one fits again. */
static void test_R83_capacity_is_size_minus_one(void)
{
    struct qp_fixture fixture;
    fixture_create(&fixture, 64, 64);
    uint8_t bytes[100], out[100];
    pattern_fill(bytes, 100, 0x01);
    ASSERT_U64_EQ(vmci_qp_enqueue(fixture.creator, bytes, 100), 63);
    ASSERT_U64_EQ(vmci_qp_produce_free_space(fixture.creator), 0);
    ASSERT_U64_EQ(vmci_qp_produce_buf_ready(fixture.creator), 63);
    ASSERT_U64_EQ(vmci_qp_enqueue(fixture.creator, bytes + 63, 1), VMCI_ERROR_QUEUEPAIR_NOSPACE);
    ASSERT_U64_EQ(vmci_queue_producer_tail(&fixture.memory->queues[0]), 63);
    ASSERT_U64_EQ(vmci_qp_dequeue(fixture.attacher, out, 1), 1);
    ASSERT_U64_EQ(vmci_qp_enqueue(fixture.creator, bytes + 63, 2), 1);
    ASSERT_U64_EQ(vmci_queue_producer_tail(&fixture.memory->queues[0]), 0);
    ASSERT_U64_EQ(vmci_qp_dequeue(fixture.attacher, out + 1, 100), 63);
    CU_ASSERT_EQUAL(memcmp(bytes, out, 64), 0);
    fixture_destroy(&fixture);
}

/* R83: a 1-byte queue holds nothing (always NOSPACE / NODATA); a 2-byte queue holds one
 * byte and wraps its pointers at every byte. */
static void test_R83_one_byte_queue_holds_nothing(void)
{
    struct qp_fixture fixture;
    fixture_create(&fixture, 1, 2);
    uint8_t bytes[3] = { 0xA1, 0xB2, 0xC3 }, out[3] = { 0 };
    ASSERT_U64_EQ(vmci_qp_enqueue(fixture.creator, bytes, 3), VMCI_ERROR_QUEUEPAIR_NOSPACE);
    ASSERT_U64_EQ(vmci_qp_produce_free_space(fixture.creator), 0);
    ASSERT_U64_EQ(vmci_qp_consume_buf_ready(fixture.attacher), 0);
    ASSERT_U64_EQ(vmci_qp_dequeue(fixture.attacher, out, 3), VMCI_ERROR_QUEUEPAIR_NODATA);
    for (int round = 0; round < 3; round++) {
        ASSERT_U64_EQ(vmci_qp_enqueue(fixture.attacher, bytes + round, 3), 1);
        ASSERT_U64_EQ(vmci_qp_enqueue(fixture.attacher, bytes, 1), VMCI_ERROR_QUEUEPAIR_NOSPACE);
        ASSERT_U64_EQ(vmci_queue_producer_tail(&fixture.memory->queues[1]), (round + 1) % 2);
        ASSERT_U64_EQ(vmci_qp_dequeue(fixture.creator, out, 3), 1);
        ASSERT_U64_EQ(out[0], bytes[round]);
        ASSERT_U64_EQ(vmci_queue_consumer_head(&fixture.memory->queues[0]), (round + 1) % 2);
    }
    fixture_destroy(&fixture);
}

/* R83, R84: every (tail, head) pair of a 7-byte ring, set through the header, against an
 * independent formula: ready = (tail - head) mod N, free = N - 1 - ready. */
static void test_R83_R84_free_and_ready_for_every_pointer_pair(void)
{
    struct qp_fixture fixture;
    fixture_create(&fixture, 7, 5);
    for (int index = 0; index < 2; index++) {
        struct direction direction = fixture_direction(&fixture, index);
        const uint64_t size_bytes = direction.size_bytes;
        for (uint64_t tail = 0; tail < size_bytes; tail++) {
            for (uint64_t head = 0; head < size_bytes; head++) {
                vmci_queue_set_producer_tail(direction.queue, tail);
                vmci_queue_set_consumer_head(direction.head_holder, head);
                uint64_t ready = (tail + size_bytes - head) % size_bytes;
                ASSERT_U64_EQ(vmci_qp_produce_buf_ready(direction.producer), ready);
                ASSERT_U64_EQ(vmci_qp_consume_buf_ready(direction.consumer), ready);
                ASSERT_U64_EQ(vmci_qp_produce_free_space(direction.producer),
                              size_bytes - 1 - ready);
                ASSERT_U64_EQ(vmci_qp_consume_free_space(direction.consumer),
                              size_bytes - 1 - ready);
            }
        }
    }
    fixture_destroy(&fixture);
}

/* R85: advancing p by k gives p + k - N when p >= N - k: the boundary cases p = N - k
 * (lands on 0), p = N - k - 1 (lands on N - 1) and k = N - 1 from 0 and from 1. */
static void test_R85_advance_wraps_pointer(void)
{
    static const struct { uint64_t start, step, end; } cases[] = {
        { 13, 3, 0 }, { 12, 3, 15 }, { 0, 15, 15 }, { 1, 15, 0 }, { 15, 1, 0 }, { 14, 5, 3 },
    };
    uint8_t bytes[16], out[16];
    pattern_fill(bytes, 16, 0x22);
    for (size_t index = 0; index < sizeof(cases) / sizeof(cases[0]); index++) {
        struct qp_fixture fixture;
        fixture_create(&fixture, 16, 16);
        struct direction direction = fixture_direction(&fixture, 1);
        vmci_queue_set_producer_tail(direction.queue, cases[index].start);
        vmci_queue_set_consumer_head(direction.head_holder, cases[index].start);
        ASSERT_U64_EQ(vmci_qp_enqueue(direction.producer, bytes, cases[index].step),
                      cases[index].step);
        ASSERT_U64_EQ(vmci_queue_producer_tail(direction.queue), cases[index].end);
        ASSERT_U64_EQ(vmci_qp_dequeue(direction.consumer, out, 16), cases[index].step);
        ASSERT_U64_EQ(vmci_queue_consumer_head(direction.head_holder), cases[index].end);
        CU_ASSERT_EQUAL(memcmp(bytes, out, cases[index].step), 0);
        fixture_destroy(&fixture);
    }
}

/* ---- R86-R88: enqueue, dequeue, peek ------------------------------------------------------ */

/* R86: with tail at 60 of 64, a 16-byte enqueue puts 4 bytes at 60..63 and 12 at 0..11,
 * leaves offset 12 untouched and moves the tail to 12. A zero-byte enqueue returns 0 and
 * changes nothing; a partial enqueue returns the free space. */
static void test_R86_enqueue_wraps_at_ring_end(void)
{
    struct qp_fixture fixture;
    fixture_create(&fixture, 64, 64);
    struct direction direction = fixture_direction(&fixture, 0);
    direction_advance(&direction, 60);
    memset(vmci_queue_ring_span(direction.queue, 0, 64), SENTINEL_BYTE, 64);
    uint8_t bytes[64], out[64];
    pattern_fill(bytes, 64, 0x80);
    ASSERT_U64_EQ(vmci_qp_enqueue(direction.producer, NULL, 0), 0);
    ASSERT_U64_EQ(vmci_queue_producer_tail(direction.queue), 60);
    ASSERT_U64_EQ(vmci_qp_enqueue(direction.producer, bytes, 16), 16);
    CU_ASSERT_EQUAL(memcmp(direction.queue->ring + 60, bytes, 4), 0);
    CU_ASSERT_EQUAL(memcmp(direction.queue->ring, bytes + 4, 12), 0);
    CU_ASSERT(bytes_all(direction.queue->ring + 12, 48, SENTINEL_BYTE));
    ASSERT_U64_EQ(vmci_queue_producer_tail(direction.queue), 12);
    ASSERT_U64_EQ(vmci_qp_produce_buf_ready(direction.producer), 16);
    ASSERT_U64_EQ(vmci_qp_enqueue(direction.producer, bytes + 16, 48), 47);
    ASSERT_U64_EQ(vmci_queue_producer_tail(direction.queue), 59);
    ASSERT_U64_EQ(vmci_qp_dequeue(direction.consumer, out, 64), 63);
    CU_ASSERT_EQUAL(memcmp(bytes, out, 63), 0);
    fixture_destroy(&fixture);
}

/* R86 with hashing (vmci_qp_enqueue_hashed): the stream ends up hashing exactly the bytes
 * that went into the ring, in ring order across the wrap, whether the pieces are large
 * (the one-pass copy where the CPU has it) or small; a cut-short enqueue hashes only what
 * it copied, a refused one nothing, and the ring holds the same bytes as a plain enqueue
 * would have put there. */
static void test_R86_hashed_enqueue_hashes_what_it_copies(void)
{
    enum { RING_BYTES = 8192, SENT_BYTES = 8191 + 5000 + 1500 };
    static uint8_t bytes[SENT_BYTES], out[RING_BYTES];
    struct qp_fixture fixture;
    fixture_create(&fixture, RING_BYTES, 64);
    struct direction direction = fixture_direction(&fixture, 0);
    struct sim_data_stream *hash = sim_data_stream_create();
    CU_ASSERT_PTR_NOT_NULL_FATAL(hash);
    for (size_t index = 0; index < sizeof(bytes); index++)
        bytes[index] = (uint8_t)((index * 2654435761u) >> 13);
    /* Tail and head at RING_BYTES - 3000, through plain enqueues (not hashed). */
    ASSERT_U64_EQ(vmci_qp_enqueue(direction.producer, out, RING_BYTES - 3000), RING_BYTES - 3000);
    ASSERT_U64_EQ(vmci_qp_dequeue(direction.consumer, out, RING_BYTES), RING_BYTES - 3000);
    size_t hashed = 0;
    /* 5000 bytes: 3000 before the wrap, 2000 after. */
    ASSERT_U64_EQ(vmci_qp_enqueue_hashed(direction.producer, bytes, 5000, hash), 5000);
    hashed += 5000;
    ASSERT_U64_EQ(sim_data_stream_value(hash), sim_data_hash(bytes, hashed));
    /* 1500 more, then 100 in small pieces, then one cut short at the free space. */
    ASSERT_U64_EQ(vmci_qp_enqueue_hashed(direction.producer, bytes + hashed, 1500, hash), 1500);
    hashed += 1500;
    for (unsigned piece = 0; piece < 10; piece++, hashed += 10)
        ASSERT_U64_EQ(vmci_qp_enqueue_hashed(direction.producer, bytes + hashed, 10, hash), 10);
    uint64_t free_bytes = RING_BYTES - 1 - hashed;
    ASSERT_U64_EQ(vmci_qp_enqueue_hashed(direction.producer, bytes + hashed, 5000, hash),
                  free_bytes);
    hashed += free_bytes;
    ASSERT_U64_EQ(sim_data_stream_value(hash), sim_data_hash(bytes, hashed));
    /* Full: refused, nothing hashed. */
    ASSERT_U64_EQ(vmci_qp_enqueue_hashed(direction.producer, bytes + hashed, 10, hash),
                  VMCI_ERROR_QUEUEPAIR_NOSPACE);
    ASSERT_U64_EQ(sim_data_stream_value(hash), sim_data_hash(bytes, hashed));
    ASSERT_U64_EQ(vmci_qp_dequeue(direction.consumer, out, RING_BYTES), RING_BYTES - 1);
    CU_ASSERT_EQUAL(memcmp(out, bytes, RING_BYTES - 1), 0);
    sim_data_stream_destroy(hash);
    fixture_destroy(&fixture);
}

/* R87: empty -> NODATA (target untouched); a short read returns what was asked, a long
 * read what is ready; a zero-byte dequeue returns 0 and does not move the head. */
static void test_R87_dequeue_partial_and_nodata(void)
{
    struct qp_fixture fixture;
    fixture_create(&fixture, 32, 32);
    struct direction direction = fixture_direction(&fixture, 1);
    uint8_t bytes[10], out[100];
    pattern_fill(bytes, 10, 0x90);
    memset(out, SENTINEL_BYTE, sizeof(out));
    ASSERT_U64_EQ(vmci_qp_dequeue(direction.consumer, out, 100), VMCI_ERROR_QUEUEPAIR_NODATA);
    ASSERT_U64_EQ(vmci_qp_dequeue(direction.consumer, NULL, 0), VMCI_ERROR_QUEUEPAIR_NODATA);
    CU_ASSERT(bytes_all(out, sizeof(out), SENTINEL_BYTE));
    ASSERT_U64_EQ(vmci_qp_enqueue(direction.producer, bytes, 10), 10);
    ASSERT_U64_EQ(vmci_qp_dequeue(direction.consumer, NULL, 0), 0);
    ASSERT_U64_EQ(vmci_queue_consumer_head(direction.head_holder), 0);
    ASSERT_U64_EQ(vmci_qp_dequeue(direction.consumer, out, 4), 4);
    CU_ASSERT_EQUAL(memcmp(out, bytes, 4), 0);
    CU_ASSERT(bytes_all(out + 4, 96, SENTINEL_BYTE));
    ASSERT_U64_EQ(vmci_qp_consume_buf_ready(direction.consumer), 6);
    ASSERT_U64_EQ(vmci_qp_dequeue(direction.consumer, out, 100), 6);
    CU_ASSERT_EQUAL(memcmp(out, bytes + 4, 6), 0);
    ASSERT_U64_EQ(vmci_queue_consumer_head(direction.head_holder), 10);
    ASSERT_U64_EQ(vmci_qp_dequeue(direction.consumer, out, 100), VMCI_ERROR_QUEUEPAIR_NODATA);
    /* Across the ring end: 10 bytes from offset 28 of 32. */
    direction_advance(&direction, 28 - 10);   /* from 10 to 28 */
    ASSERT_U64_EQ(vmci_qp_enqueue(direction.producer, bytes, 10), 10);
    ASSERT_U64_EQ(vmci_qp_dequeue(direction.consumer, out, 7), 7);
    ASSERT_U64_EQ(vmci_qp_dequeue(direction.consumer, out + 7, 7), 3);
    CU_ASSERT_EQUAL(memcmp(out, bytes, 10), 0);
    ASSERT_U64_EQ(vmci_queue_consumer_head(direction.head_holder), 6);
    fixture_destroy(&fixture);
}

/* R88: peek copies like dequeue (also across the ring end) but leaves consumer_head and
 * ready unchanged, so repeated peeks return the same bytes; NODATA when empty. */
static void test_R88_peek_does_not_advance(void)
{
    struct qp_fixture fixture;
    fixture_create(&fixture, 16, 16);
    struct direction direction = fixture_direction(&fixture, 0);
    direction_advance(&direction, 12);
    uint8_t bytes[10], out[16], again[16];
    pattern_fill(bytes, 10, 0xB0);
    ASSERT_U64_EQ(vmci_qp_peek(direction.consumer, out, 16), VMCI_ERROR_QUEUEPAIR_NODATA);
    ASSERT_U64_EQ(vmci_qp_enqueue(direction.producer, bytes, 10), 10);
    ASSERT_U64_EQ(vmci_qp_peek(direction.consumer, out, 4), 4);
    CU_ASSERT_EQUAL(memcmp(out, bytes, 4), 0);
    ASSERT_U64_EQ(vmci_queue_consumer_head(direction.head_holder), 12);
    ASSERT_U64_EQ(vmci_qp_consume_buf_ready(direction.consumer), 10);
    ASSERT_U64_EQ(vmci_qp_peek(direction.consumer, out, 16), 10);
    ASSERT_U64_EQ(vmci_qp_peek(direction.consumer, again, 16), 10);
    CU_ASSERT_EQUAL(memcmp(out, bytes, 10), 0);
    CU_ASSERT_EQUAL(memcmp(again, bytes, 10), 0);
    ASSERT_U64_EQ(vmci_queue_consumer_head(direction.head_holder), 12);
    ASSERT_U64_EQ(vmci_qp_dequeue(direction.consumer, again, 16), 10);
    CU_ASSERT_EQUAL(memcmp(again, bytes, 10), 0);
    ASSERT_U64_EQ(vmci_queue_consumer_head(direction.head_holder), 6);
    ASSERT_U64_EQ(vmci_qp_peek(direction.consumer, out, 16), VMCI_ERROR_QUEUEPAIR_NODATA);
    fixture_destroy(&fixture);
}

/* R89: the four queries from both endpoints, with different sizes (64/32) and different
 * fill levels per queue, so a swapped size, pointer or view shows. */
static void test_R89_queries_from_both_sides(void)
{
    struct qp_fixture fixture;
    fixture_create(&fixture, 64, 32);
    uint8_t bytes[10];
    pattern_fill(bytes, 10, 0xC0);
    ASSERT_U64_EQ(vmci_qp_enqueue(fixture.creator, bytes, 10), 10);
    ASSERT_U64_EQ(vmci_qp_enqueue(fixture.attacher, bytes, 7), 7);
    ASSERT_U64_EQ(vmci_qp_produce_free_space(fixture.creator), 53);
    ASSERT_U64_EQ(vmci_qp_produce_buf_ready(fixture.creator), 10);
    ASSERT_U64_EQ(vmci_qp_consume_free_space(fixture.creator), 24);
    ASSERT_U64_EQ(vmci_qp_consume_buf_ready(fixture.creator), 7);
    ASSERT_U64_EQ(vmci_qp_produce_free_space(fixture.attacher), 24);
    ASSERT_U64_EQ(vmci_qp_produce_buf_ready(fixture.attacher), 7);
    ASSERT_U64_EQ(vmci_qp_consume_free_space(fixture.attacher), 53);
    ASSERT_U64_EQ(vmci_qp_consume_buf_ready(fixture.attacher), 10);
    uint8_t out[10];
    ASSERT_U64_EQ(vmci_qp_dequeue(fixture.attacher, out, 9), 9);
    ASSERT_U64_EQ(vmci_qp_produce_buf_ready(fixture.creator), 1);
    ASSERT_U64_EQ(vmci_qp_consume_free_space(fixture.attacher), 62);
    ASSERT_U64_EQ(vmci_qp_consume_buf_ready(fixture.creator), 7);
    fixture_destroy(&fixture);
}

/* ---- Property test and offset sweep ------------------------------------------------------- */

#define PROPERTY_STEPS 100000u
#define PROPERTY_PRODUCE_BYTES 61u
#define PROPERTY_CONSUME_BYTES 37u

/* The reference: a plain byte FIFO with capacity N - 1 and running totals. */
struct fifo_model {
    uint8_t bytes[BUFFER_BYTES_MAX];
    uint64_t count;
    uint64_t capacity;
    uint64_t enqueued_total;
    uint64_t dequeued_total;
};

struct property_counts {
    uint64_t mismatches;
    uint64_t first_bad_step;
    uint64_t nospace, nodata, partial_enqueues, partial_dequeues, wraps[2];
};

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* Every query of both endpoints and both header pointers agree with the model. */
static uint64_t property_state_mismatches(const struct direction *direction,
                                          const struct fifo_model *model)
{
    uint64_t bad = 0, free_bytes = model->capacity - model->count;
    bad += vmci_qp_produce_free_space(direction->producer) != (int64_t)free_bytes;
    bad += vmci_qp_produce_buf_ready(direction->producer) != (int64_t)model->count;
    bad += vmci_qp_consume_free_space(direction->consumer) != (int64_t)free_bytes;
    bad += vmci_qp_consume_buf_ready(direction->consumer) != (int64_t)model->count;
    bad += vmci_queue_producer_tail(direction->queue) !=
           model->enqueued_total % direction->size_bytes;
    bad += vmci_queue_consumer_head(direction->head_holder) !=
           model->dequeued_total % direction->size_bytes;
    return bad;
}

static uint64_t property_enqueue(struct sim_rng *rng, const struct direction *direction,
                                 struct fifo_model *model, uint64_t size_bytes,
                                 struct property_counts *counts, int index)
{
    uint8_t source[BUFFER_BYTES_MAX];
    for (uint64_t byte = 0; byte < size_bytes; byte++)
        source[byte] = (uint8_t)sim_rng_next(rng);
    uint64_t free_bytes = model->capacity - model->count;
    int64_t expected = free_bytes == 0 ? VMCI_ERROR_QUEUEPAIR_NOSPACE
                                       : (int64_t)min_u64(size_bytes, free_bytes);
    uint64_t tail = model->enqueued_total % direction->size_bytes;
    int64_t result = vmci_qp_enqueue(direction->producer, source, size_bytes);
    if (result != expected)
        return 1;
    if (result < 0) {
        counts->nospace++;
        return 0;
    }
    counts->partial_enqueues += (uint64_t)result < size_bytes;
    counts->wraps[index] += tail + (uint64_t)result > direction->size_bytes;
    memcpy(model->bytes + model->count, source, (size_t)result);
    model->count += (uint64_t)result;
    model->enqueued_total += (uint64_t)result;
    return 0;
}

static uint64_t property_consume(const struct direction *direction, struct fifo_model *model,
                                 uint64_t size_bytes, bool advance,
                                 struct property_counts *counts)
{
    uint8_t target[BUFFER_BYTES_MAX];
    memset(target, SENTINEL_BYTE, sizeof(target));
    int64_t expected = model->count == 0 ? VMCI_ERROR_QUEUEPAIR_NODATA
                                         : (int64_t)min_u64(size_bytes, model->count);
    int64_t result = advance ? vmci_qp_dequeue(direction->consumer, target, size_bytes)
                             : vmci_qp_peek(direction->consumer, target, size_bytes);
    if (result != expected)
        return 1;
    if (result < 0) {
        counts->nodata++;
        return !bytes_all(target, sizeof(target), SENTINEL_BYTE);
    }
    uint64_t copied = (uint64_t)result;
    counts->partial_dequeues += copied < size_bytes;
    uint64_t bad = memcmp(target, model->bytes, (size_t)copied) != 0;
    bad += !bytes_all(target + copied, sizeof(target) - copied, SENTINEL_BYTE);
    if (advance) {
        memmove(model->bytes, model->bytes + copied, (size_t)(model->count - copied));
        model->count -= copied;
        model->dequeued_total += copied;
    }
    return bad;
}

/* Property: 100 000 seeded random enqueue/dequeue/peek steps of 0..2N bytes on both rings
 * of a 61/37-byte queue pair agree with a byte FIFO per ring: every result, every byte
 * copied (and nothing past it), all four queries of both endpoints and both pointers,
 * after every step. The run must also have hit NOSPACE, NODATA, partial transfers and
 * wrapped copies in both rings, or it proved little. */
static void test_R83_R88_property_random_ops_match_fifo_model(void)
{
    struct qp_fixture fixture;
    fixture_create(&fixture, PROPERTY_PRODUCE_BYTES, PROPERTY_CONSUME_BYTES);
    struct direction directions[2] = { fixture_direction(&fixture, 0),
                                       fixture_direction(&fixture, 1) };
    static struct fifo_model models[2];
    memset(models, 0, sizeof(models));
    models[0].capacity = PROPERTY_PRODUCE_BYTES - 1;
    models[1].capacity = PROPERTY_CONSUME_BYTES - 1;
    struct property_counts counts = { .first_bad_step = UINT64_MAX };
    struct sim_rng rng;
    sim_rng_init_stream(&rng, 42, "qp_property");
    for (uint64_t step = 0; step < PROPERTY_STEPS; step++) {
        int index = (int)sim_rng_below(&rng, 2);
        uint64_t operation = sim_rng_below(&rng, 3);
        uint64_t size_bytes = sim_rng_below(&rng, 2 * directions[index].size_bytes + 1);
        uint64_t bad = operation == 0
            ? property_enqueue(&rng, &directions[index], &models[index], size_bytes, &counts,
                               index)
            : property_consume(&directions[index], &models[index], size_bytes,
                               operation == 1, &counts);
        bad += property_state_mismatches(&directions[0], &models[0]);
        bad += property_state_mismatches(&directions[1], &models[1]);
        if (bad != 0 && counts.first_bad_step == UINT64_MAX)
            counts.first_bad_step = step;
        counts.mismatches += bad;
    }
    ASSERT_U64_EQ(counts.first_bad_step, UINT64_MAX);
    ASSERT_U64_EQ(counts.mismatches, 0);
    CU_ASSERT(counts.nospace > 100);
    CU_ASSERT(counts.nodata > 100);
    CU_ASSERT(counts.partial_enqueues > 100);
    CU_ASSERT(counts.partial_dequeues > 100);
    CU_ASSERT(counts.wraps[0] > 100);
    CU_ASSERT(counts.wraps[1] > 100);
    fixture_destroy(&fixture);
}

/* One (offset, length) case of the sweep: tail = head = offset, then `length` bytes go in
 * (landing at (offset + i) mod N in the ring), are peeked, dequeued, and both pointers end
 * at (offset + length) mod N. A full ring refuses one more byte. */
static void sweep_case(int index, uint64_t offset, uint64_t length)
{
    struct qp_fixture fixture;
    fixture_create(&fixture, 13, 11);
    struct direction direction = fixture_direction(&fixture, index);
    const uint64_t size_bytes = direction.size_bytes;
    direction_advance(&direction, offset);
    uint8_t bytes[16], out[16], peeked[16];
    pattern_fill(bytes, length, (uint8_t)(offset * 16 + length));
    ASSERT_U64_EQ(vmci_qp_enqueue(direction.producer, bytes, length), length);
    bool placed = true;
    for (uint64_t byte = 0; byte < length; byte++)
        placed = placed && direction.queue->ring[(offset + byte) % size_bytes] == bytes[byte];
    CU_ASSERT(placed);
    ASSERT_U64_EQ(vmci_queue_producer_tail(direction.queue), (offset + length) % size_bytes);
    ASSERT_U64_EQ(vmci_qp_consume_buf_ready(direction.consumer), length);
    if (length == size_bytes - 1)
        ASSERT_U64_EQ(vmci_qp_enqueue(direction.producer, bytes, 1),
                      VMCI_ERROR_QUEUEPAIR_NOSPACE);
    ASSERT_U64_EQ(vmci_qp_peek(direction.consumer, peeked, sizeof(peeked)), length);
    ASSERT_U64_EQ(vmci_qp_dequeue(direction.consumer, out, sizeof(out)), length);
    CU_ASSERT_EQUAL(memcmp(peeked, bytes, length), 0);
    CU_ASSERT_EQUAL(memcmp(out, bytes, length), 0);
    ASSERT_U64_EQ(vmci_queue_consumer_head(direction.head_holder),
                  (offset + length) % size_bytes);
    ASSERT_U64_EQ(vmci_qp_consume_buf_ready(direction.consumer), 0);
    fixture_destroy(&fixture);
}

/* R85-R88 sweep: every start offset 0..N-1 and every length 1..N-1 of a 13-byte and an
 * 11-byte ring (both directions), so every split point of the two-piece copy is hit. */
static void test_R86_R87_sweep_every_start_offset(void)
{
    for (int index = 0; index < 2; index++) {
        const uint64_t size_bytes = index == 0 ? 13 : 11;
        for (uint64_t offset = 0; offset < size_bytes; offset++) {
            for (uint64_t length = 1; length < size_bytes; length++)
                sweep_case(index, offset, length);
        }
    }
}

/* ---- Dequeue and peek in place (vmci_qp_consume_in_place) ---------------------------- */

/* The pieces gathered into `out`; false when they do not add up to `expected_bytes`. */
static bool in_place_gather(const struct vmci_ring_bytes *bytes, uint8_t *out,
                            uint64_t expected_bytes)
{
    if (bytes->first_bytes + bytes->second_bytes != expected_bytes)
        return false;
    if ((bytes->second == NULL) != (bytes->second_bytes == 0))
        return false;
    memcpy(out, bytes->first, (size_t)bytes->first_bytes);
    if (bytes->second_bytes > 0)
        memcpy(out + bytes->first_bytes, bytes->second, (size_t)bytes->second_bytes);
    return true;
}

/* One (offset, length) case: the pieces of an in-place peek and dequeue lie in the ring
 * where the copy would have read them (first at the head, second at the ring's start
 * exactly when the bytes wrap), hold the enqueued bytes, and move the head like a copy. */
static void in_place_case(int index, uint64_t offset, uint64_t length)
{
    struct qp_fixture fixture;
    fixture_create(&fixture, 13, 11);
    struct direction direction = fixture_direction(&fixture, index);
    const uint64_t size_bytes = direction.size_bytes;
    direction_advance(&direction, offset);
    uint8_t bytes[16], out[16];
    pattern_fill(bytes, length, (uint8_t)(offset * 16 + length + 3));
    ASSERT_U64_EQ(vmci_qp_enqueue(direction.producer, bytes, length), length);
    uint64_t first_expected = length < size_bytes - offset ? length : size_bytes - offset;
    for (int advance = 0; advance < 2; advance++) {
        struct vmci_ring_bytes pieces;
        memset(out, SENTINEL_BYTE, sizeof(out));
        ASSERT_U64_EQ(vmci_qp_consume_in_place(direction.consumer, sizeof(out), advance != 0,
                                               &pieces), length);
        CU_ASSERT_PTR_EQUAL(pieces.first, direction.queue->ring + offset);
        ASSERT_U64_EQ(pieces.first_bytes, first_expected);
        CU_ASSERT_PTR_EQUAL(pieces.second,
                            length > first_expected ? direction.queue->ring : NULL);
        CU_ASSERT(in_place_gather(&pieces, out, length));
        CU_ASSERT_EQUAL(memcmp(out, bytes, length), 0);
        ASSERT_U64_EQ(vmci_queue_consumer_head(direction.head_holder),
                      advance ? (offset + length) % size_bytes : offset);
        ASSERT_U64_EQ(vmci_qp_consume_buf_ready(direction.consumer), advance ? 0 : length);
    }
    fixture_destroy(&fixture);
}

/* R87/R88 in place: every start offset and length of a 13- and an 11-byte ring, so every
 * split point of the two pieces is hit, peeked and dequeued. */
static void test_R87_R88_in_place_sweep_every_start_offset(void)
{
    for (int index = 0; index < 2; index++) {
        const uint64_t size_bytes = index == 0 ? 13 : 11;
        for (uint64_t offset = 0; offset < size_bytes; offset++) {
            for (uint64_t length = 1; length < size_bytes; length++)
                in_place_case(index, offset, length);
        }
    }
}

/* In place, the results a copy gives: NODATA when empty and INVALID_SIZE with a corrupt
 * pointer (no pieces either way), a short read of what was asked, 0 for 0 bytes; bytes
 * never written read as zero (QP4), stored before the pieces are handed out. */
static void test_R87_R88_in_place_results_and_zeroes(void)
{
    struct qp_fixture fixture;
    fixture_create(&fixture, 64, 64);
    struct direction direction = fixture_direction(&fixture, 1);
    struct vmci_ring_bytes pieces;
    uint8_t bytes[10], out[64];
    pattern_fill(bytes, 10, 0x61);
    ASSERT_U64_EQ(vmci_qp_consume_in_place(direction.consumer, 8, true, &pieces),
                  VMCI_ERROR_QUEUEPAIR_NODATA);
    CU_ASSERT_PTR_NULL(pieces.first);
    ASSERT_U64_EQ(vmci_qp_enqueue(direction.producer, bytes, 10), 10);
    ASSERT_U64_EQ(vmci_qp_consume_in_place(direction.consumer, 0, true, &pieces), 0);
    CU_ASSERT_PTR_NULL(pieces.first);
    ASSERT_U64_EQ(vmci_qp_consume_in_place(direction.consumer, 4, true, &pieces), 4);
    CU_ASSERT(in_place_gather(&pieces, out, 4));
    CU_ASSERT_EQUAL(memcmp(out, bytes, 4), 0);
    ASSERT_U64_EQ(vmci_qp_consume_buf_ready(direction.consumer), 6);
    vmci_queue_set_producer_tail(direction.queue, 64);                  /* R82: >= N */
    ASSERT_U64_EQ(vmci_qp_consume_in_place(direction.consumer, 8, false, &pieces),
                  VMCI_ERROR_INVALID_SIZE);
    CU_ASSERT_PTR_NULL(pieces.first);
    ASSERT_U64_EQ(vmci_queue_consumer_head(direction.head_holder), 4);
    vmci_queue_set_producer_tail(direction.queue, 40);        /* 10..39 never written */
    ASSERT_U64_EQ(direction.queue->defined_bytes, 10);
    ASSERT_U64_EQ(vmci_qp_consume_in_place(direction.consumer, 64, true, &pieces), 36);
    CU_ASSERT(in_place_gather(&pieces, out, 36));
    CU_ASSERT_EQUAL(memcmp(out, bytes + 4, 6), 0);
    CU_ASSERT(bytes_all(out + 6, 30, 0));
    ASSERT_U64_EQ(direction.queue->defined_bytes, 40);
    fixture_destroy(&fixture);
}

/* The Lua binding's qp:peek and qp:dequeue (sim/lua/vmci_binding.c), which make their
 * string from the ring in place: a 64-byte ring, 50 bytes in, 40 out, 40 more in (the
 * tail wraps to 26), then peeks and reads across the wrap, and NODATA when empty. */
static const char lua_qp_reads[] =
    "local sim = require('vmcisim')\n"
    "local w = sim.world{}\n"
    "local host, guest = w:host(), w:vm{ name = 'guest1' }\n"
    "local stream = sim.pattern(9, 0, 90)\n"
    "guest:spawn('producer', function(p)\n"
    "  local v = p:vmci()\n"
    "  local dg = assert(v:datagram(1500))\n"
    "  local qp = assert(v:queue_pair_alloc(sim.CID_HOST, 64, 64))\n"
    "  local context, resource = qp:handle()\n"
    "  assert(dg:send(sim.CID_HOST, 1500, string.pack('<I4I4', context, resource)))\n"
    "  assert(dg:recv())\n"
    "  sim.expect(qp:enqueue(stream:sub(1, 50)) == 50, 'first 50 in')\n"
    "  assert(dg:send(sim.CID_HOST, 1500, 'more'))\n"
    "  assert(dg:recv())\n"
    "  sim.expect(qp:enqueue(stream:sub(51, 90)) == 40, 'next 40 in, across the end')\n"
    "  assert(dg:send(sim.CID_HOST, 1500, 'more'))\n"
    "  assert(dg:recv())\n"
    "  assert(qp:detach())\n"
    "end)\n"
    "host:spawn('consumer', function(p)\n"
    "  local v = p:vmci()\n"
    "  local dg = assert(v:datagram(1500))\n"
    "  local handle, cid, rid = dg:recv()\n"
    "  local context, resource = string.unpack('<I4I4', handle)\n"
    "  local qp = assert(v:queue_pair_attach(context, resource, 64, 64))\n"
    "  assert(dg:send(cid, rid, 'attached'))\n"
    "  assert(dg:recv())\n"
    "  sim.expect(qp:dequeue(40) == stream:sub(1, 40), 'first 40 out')\n"
    "  assert(dg:send(cid, rid, 'read'))\n"
    "  assert(dg:recv())\n"
    "  sim.expect(qp:peek(100) == stream:sub(41, 90), 'a peek across the wrap')\n"
    "  sim.expect(qp:peek(5) == stream:sub(41, 45), 'a short peek')\n"
    "  sim.expect(qp:dequeue(30) == stream:sub(41, 70), 'a read across the wrap')\n"
    "  sim.expect(qp:dequeue(100) == stream:sub(71, 90), 'the rest')\n"
    "  sim.expect(qp:dequeue(0) == nil, 'empty: an error')\n"
    "  local none, name = qp:dequeue(10)\n"
    "  sim.expect(none == nil and name == 'VMCI_ERROR_QUEUEPAIR_NODATA', tostring(name))\n"
    "  assert(dg:send(cid, rid, 'done'))\n"
    "  assert(qp:detach())\n"
    "end)\n";

static void test_R87_R88_lua_qp_reads_in_place(void)
{
    test_expect_lua_source_passes(lua_qp_reads);
}

CU_ErrorCode queue_pair_suite_add(void)
{
    static const struct test_entry tests[] = {
        TEST_ENTRY(test_R77_sizes),
        TEST_ENTRY(test_R77_zero_size_queue_is_nospace_and_nodata),
        TEST_ENTRY(test_R81_headers_start_zero),
        TEST_ENTRY(test_R81_ring_zeroed_as_used),
        TEST_ENTRY(test_R80_header_layout_read_from_both_endpoints),
        TEST_ENTRY(test_R80_endpoint_writes_only_its_produce_header),
        TEST_ENTRY(test_R82_corrupt_producer_tail_gives_invalid_size),
        TEST_ENTRY(test_R82_corrupt_consumer_head_gives_invalid_size),
        TEST_ENTRY(test_R82_last_valid_pointer_is_size_minus_one),
        TEST_ENTRY(test_R83_capacity_is_size_minus_one),
        TEST_ENTRY(test_R83_one_byte_queue_holds_nothing),
        TEST_ENTRY(test_R83_R84_free_and_ready_for_every_pointer_pair),
        TEST_ENTRY(test_R85_advance_wraps_pointer),
        TEST_ENTRY(test_R86_enqueue_wraps_at_ring_end),
        TEST_ENTRY(test_R86_hashed_enqueue_hashes_what_it_copies),
        TEST_ENTRY(test_R87_dequeue_partial_and_nodata),
        TEST_ENTRY(test_R88_peek_does_not_advance),
        TEST_ENTRY(test_R89_queries_from_both_sides),
        TEST_ENTRY(test_R83_R88_property_random_ops_match_fifo_model),
        TEST_ENTRY(test_R86_R87_sweep_every_start_offset),
        TEST_ENTRY(test_R87_R88_in_place_sweep_every_start_offset),
        TEST_ENTRY(test_R87_R88_in_place_results_and_zeroes),
        TEST_ENTRY(test_R87_R88_lua_qp_reads_in_place),
    };
    return test_suite_register("queue_pair", tests, sizeof(tests) / sizeof(tests[0]));
}
