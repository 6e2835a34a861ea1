/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/digest_test.c: the run digest (sim/engine/digest.c).
 *
 * Two runs are the same run iff their digests are equal, so the canonical
 * encoding is pinned byte for byte: a vector written out here from the format
 * documented in digest.c's header (and in docs/digest-vectors.md) must equal
 * sim_digest_encode's output, names' ids are pinned (literals, and a byte-by-byte
 * reference for every length), and the digest of a fixed 3-event sequence is a
 * literal. Then: the digest is XXH3-128 of the concatenated encodings, and it
 * changes when any one thing about the events changes.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <CUnit/CUnit.h>
#include <xxhash.h>

#include "sim/engine/engine.h"
#include "sim/engine/trace.h"
#include "suites.h"
#include "test_support.h"

/* ---- Name ids -------------------------------------------------------------------------- */

/* The eight bytes of a u64, least significant first: a name id as the encoding stores it. */
#define LE64(value) \
    (uint8_t)(value), (uint8_t)((value) >> 8), (uint8_t)((value) >> 16), \
    (uint8_t)((value) >> 24), (uint8_t)((value) >> 32), (uint8_t)((value) >> 40), \
    (uint8_t)((value) >> 48), (uint8_t)((value) >> 56)

/* Name ids of docs/digest-vectors.md, computed there by a separate implementation. */
#define ID_DG_ROUTE   0xa1845b02d93d9e96ull
#define ID_SIZE       0x7d47cd7bc619ec88ull
#define ID_DELTA      0xa031eebd6383bd58ull
#define ID_NAME       0xa8f69c8b1c02dc1bull
#define ID_PAYLOAD    0xe02df2a9c6b885b4ull
#define ID_K          0xc91152317c40a30dull
#define ID_S          0x8165bd88abcfdae3ull
#define ID_B          0x12b58a37530be431ull
#define ID_I          0xad47b6c6650ab0f4ull
#define ID_U          0xbc5f7f9e88971c75ull

/* `count` bytes from `bytes` as a little-endian number, one byte at a time. */
static uint64_t reference_word(const char *bytes, unsigned count)
{
    uint64_t word = 0;
    for (unsigned index = 0; index < count; index++)
        word |= (uint64_t)(unsigned char)bytes[index] << (8 * index);
    return word;
}

static uint64_t reference_round(uint64_t state, uint64_t word)
{
    state ^= word * 0x9E3779B97F4A7C15ull;
    state = (state << 29) | (state >> 35);
    return state * 0xBF58476D1CE4E5B9ull;
}

/* The name id as docs/digest-vectors.md states it, step by step. */
static uint64_t reference_name_id(const char *name, size_t length)
{
    uint64_t state = 0x243F6A8885A308D3ull ^ length;
    if (length >= 8) {
        size_t offset = 0;
        for (; offset + 8 < length; offset += 8)
            state = reference_round(state, reference_word(name + offset, 8));
        state = reference_round(state, reference_word(name + length - 8, 8));
    } else if (length >= 4) {
        state = reference_round(state, reference_word(name, 4) |
                                       reference_word(name + length - 4, 4) << 32);
    } else if (length > 0) {
        state = reference_round(state, reference_word(name, 1) |
                                       reference_word(name + length / 2, 1) << 8 |
                                       reference_word(name + length - 1, 1) << 16);
    }
    state ^= state >> 32;
    state *= 0x94D049BB133111EBull;
    return state ^ (state >> 29);
}

/* Literal names (whose ids the compiler may compute) have the pinned ids; the builders put
 * those ids in the event; every length from 0 to 63, read from the end of a heap block of
 * the exact size (ASan sees a read past it), gives the reference's id; names that differ in
 * one byte or only in length get different ids. */
static void test_name_ids_are_pinned(void)
{
    ASSERT_U64_EQ(sim_trace_name_id("dg_route", 8), ID_DG_ROUTE);
    ASSERT_U64_EQ(sim_trace_name_id("size", 4), ID_SIZE);
    ASSERT_U64_EQ(sim_trace_name_id("payload", 7), ID_PAYLOAD);
    ASSERT_U64_EQ(sim_trace_name_id("k", 1), ID_K);
    ASSERT_U64_EQ(sim_trace_name_id("abcdefghijklmnopq", 17), 0x7acea219674beb20ull);
    ASSERT_U64_EQ(sim_trace_name_id("", 0), 0x2fa733dd2cb8ca6bull);
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_VMCI, "dg_route", 0, 0);
    sim_trace_field_u64(&event, "size", 1);
    ASSERT_U64_EQ(event.kind_id, ID_DG_ROUTE);
    ASSERT_U64_EQ(event.fields[0].name_id, ID_SIZE);
    static const char letters[] = "abcdefghijklmnopqrstuvwxyz0123456789_abcdefghijklmnopqrstuvwxyz";
    uint64_t ids[64];
    int mismatches = 0;
    for (uint32_t length = 0; length < 64; length++) {
        char *name = malloc(length + 1);
        CU_ASSERT_PTR_NOT_NULL_FATAL(name);
        memcpy(name, letters, length);
        name[length] = '\0';
        ids[length] = sim_trace_name_id(name, length);
        mismatches += ids[length] != reference_name_id(name, length);
        if (length > 0) {
            name[length / 2] ^= 1;      /* one bit of one byte */
            mismatches += sim_trace_name_id(name, length) == ids[length];
        }
        free(name);
    }
    CU_ASSERT_EQUAL(mismatches, 0);
    int same = 0;
    for (uint32_t left = 0; left < 64; left++) {
        for (uint32_t right = left + 1; right < 64; right++)
            same += ids[left] == ids[right];
    }
    CU_ASSERT_EQUAL(same, 0);
}

/* ---- The fixed vector ----------------------------------------------------------------- */

static const uint8_t vector_payload[4] = { 0xde, 0xad, 0xbe, 0xef };

/* Every fixed-width value has distinct bytes, so a byte-order mistake shows. */
static void vector_event(struct sim_trace_event *event)
{
    sim_trace_event_init(event, SIM_LAYER_VMCI, "dg_route", 0x21222324u, 0x31323334u);
    event->seq = 0x0102030405060708ull;
    event->time_ns = 0x1112131415161718ull;
    sim_trace_field_u64(event, "size", 0x4142434445464748ull);
    sim_trace_field_i64(event, "delta", -2);
    sim_trace_field_str(event, "name", "ab");
    sim_trace_field_bytes(event, "payload", vector_payload, sizeof(vector_payload));
}

/* The encoding of vector_event, written out from the documented format. The last 8
 * bytes are XXH3-64(de ad be ef) little-endian, filled in by the test. */
static const uint8_t vector_bytes[] = {
    /* no seq: an event's seq is its place in the digest's input */
    0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11,     /* u64 time_ns */
    0x24, 0x23, 0x22, 0x21,                             /* u32 ctx */
    0x34, 0x33, 0x32, 0x31,                             /* u32 pid */
    LE64(ID_DG_ROUTE),                                  /* u64 kind id: "dg_route" */
    0x03,                                               /* u8 layer: vmci */
    0x04,                                               /* u8 field_count */
    LE64(ID_SIZE ^ 1),                                  /* key: "size" XOR U64 */
    0x48, 0x47, 0x46, 0x45, 0x44, 0x43, 0x42, 0x41,
    LE64(ID_DELTA ^ 2),                                 /* key: "delta" XOR I64 */
    0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,     /* -2, two's complement */
    LE64(ID_NAME ^ 3),                                  /* key: "name" XOR STR */
    0x02, 0x00, 0x00, 0x00, 'a', 'b',                   /* u32 length, bytes */
    LE64(ID_PAYLOAD ^ 4),                               /* key: "payload" XOR BYTES */
    0x04, 0x00, 0x00, 0x00,                             /* u32 length */
    0, 0, 0, 0, 0, 0, 0, 0,                             /* XXH3-64 of the bytes, LE */
};

/* The documented value of XXH3-64(de ad be ef) (docs/digest-vectors.md). */
#define VECTOR_PAYLOAD_XXH3_64 0xc5a6ab5effcd7451ull

/* sim_digest_encode of the vector event equals the hand-written bytes; the payload is
 * covered by its XXH3-64 (computed here with XXH3_64bits and pinned). */
static void test_encoding_matches_documented_vector(void)
{
    uint8_t expected[sizeof(vector_bytes)];
    memcpy(expected, vector_bytes, sizeof(expected));
    uint64_t payload_hash = XXH3_64bits(vector_payload, sizeof(vector_payload));
    ASSERT_U64_EQ(payload_hash, VECTOR_PAYLOAD_XXH3_64);
    for (unsigned index = 0; index < 8; index++)
        expected[sizeof(expected) - 8 + index] = (uint8_t)(payload_hash >> (8 * index));
    struct sim_trace_event event;
    vector_event(&event);
    uint8_t actual[sizeof(vector_bytes) + 16];
    memset(actual, 0xAA, sizeof(actual));
    size_t size_bytes = sim_digest_encode(&event, actual, sizeof(actual));
    ASSERT_U64_EQ(size_bytes, sizeof(expected));
    CU_ASSERT_EQUAL(memcmp(actual, expected, sizeof(expected)), 0);
    for (size_t index = 0; index < sizeof(expected); index++) {
        if (actual[index] != expected[index])
            fprintf(stderr, "digest vector: byte %zu is 0x%02x, expected 0x%02x\n", index,
                    actual[index], expected[index]);
    }
    CU_ASSERT_EQUAL(actual[sizeof(expected)], 0xAA);
}

/* A short buffer: the size needed is still returned and nothing past capacity is written;
 * capacity 0 with no buffer only measures. */
static void test_encode_with_short_buffer_reports_size_and_stays_in_bounds(void)
{
    struct sim_trace_event event;
    vector_event(&event);
    ASSERT_U64_EQ(sim_digest_encode(&event, NULL, 0), sizeof(vector_bytes));
    uint8_t buffer[40];
    memset(buffer, 0xAA, sizeof(buffer));
    ASSERT_U64_EQ(sim_digest_encode(&event, buffer, 30), sizeof(vector_bytes));
    CU_ASSERT_EQUAL(memcmp(buffer, vector_bytes, 30), 0);    /* into the first key */
    int written_past = 0;
    for (size_t index = 30; index < sizeof(buffer); index++)
        written_past += buffer[index] != 0xAA;
    CU_ASSERT_EQUAL(written_past, 0);
}

/* Boundaries of the encoding: no fields; an empty string; empty bytes (XXH3-64 of no
 * bytes); I64 minimum and U64 maximum. */
static void test_encoding_of_empty_and_extreme_values(void)
{
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_API, "k", 0, 0);
    uint8_t buffer[128];
    ASSERT_U64_EQ(sim_digest_encode(&event, buffer, sizeof(buffer)), 8 + 4 + 4 + 8 + 1 + 1);
    static const uint8_t kind_k[] = { LE64(ID_K) };
    CU_ASSERT_EQUAL(memcmp(buffer + 16, kind_k, sizeof(kind_k)), 0);
    CU_ASSERT_EQUAL(buffer[24], SIM_LAYER_API);
    CU_ASSERT_EQUAL(buffer[25], 0);
    sim_trace_field_str(&event, "s", "");
    sim_trace_field_bytes(&event, "b", NULL, 0);
    sim_trace_field_i64(&event, "i", INT64_MIN);
    sim_trace_field_u64(&event, "u", UINT64_MAX);
    size_t size_bytes = sim_digest_encode(&event, buffer, sizeof(buffer));
    ASSERT_U64_EQ(size_bytes, 26 + (8 + 4) + (8 + 4 + 8) + (8 + 8) + (8 + 8));
    CU_ASSERT_EQUAL(buffer[25], 4);
    static const uint8_t empty_string[] = { LE64(ID_S ^ 3), 0, 0, 0, 0 };
    CU_ASSERT_EQUAL(memcmp(buffer + 26, empty_string, sizeof(empty_string)), 0);
    static const uint8_t empty_bytes[] = { LE64(ID_B ^ 4), 0, 0, 0, 0 };
    CU_ASSERT_EQUAL(memcmp(buffer + 38, empty_bytes, sizeof(empty_bytes)), 0);
    uint64_t empty_hash = 0;
    for (unsigned index = 0; index < 8; index++)
        empty_hash |= (uint64_t)buffer[38 + 12 + index] << (8 * index);
    ASSERT_U64_EQ(empty_hash, XXH3_64bits(NULL, 0));
    static const uint8_t int64_min[] = { LE64(ID_I ^ 2), 0, 0, 0, 0, 0, 0, 0, 0x80 };
    CU_ASSERT_EQUAL(memcmp(buffer + 58, int64_min, sizeof(int64_min)), 0);
    static const uint8_t uint64_max[] = { LE64(ID_U ^ 1), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                          0xff, 0xff };
    CU_ASSERT_EQUAL(memcmp(buffer + 74, uint64_max, sizeof(uint64_max)), 0);
}

/* ---- A sequence of events ------------------------------------------------------------- */

static const uint8_t hello[5] = { 'h', 'e', 'l', 'l', 'o' };

/* The pinned 3-event sequence (docs/digest-vectors.md). `variant` changes one thing:
 * 0 none, 1 a field value, 2 a time, 3 a kind, 4 a layer, 5 a ctx, 6 a payload bit,
 * 7 a field name, 8 a pid, 9 a field's type (I64 -1 as U64: the same 64 bits), 10 a
 * seq (which the encoding leaves out: an event's seq is its place in the input). */
static void sequence_event(struct sim_trace_event *event, int index, int variant)
{
    static const struct {
        enum sim_layer layer;
        const char *kind;
        uint32_t ctx;
        uint32_t pid;
        uint64_t time_ns;
    } heads[3] = {
        { SIM_LAYER_API, "proc_spawn", 2, 1, 0 },
        { SIM_LAYER_TRANSPORT, "pkt", 2, 1, 10 },
        { SIM_LAYER_DEVICE, "irq", 3, 0, 10 },
    };
    static const uint8_t hellp[5] = { 'h', 'e', 'l', 'l', 'p' };    /* one bit from hello */
    sim_trace_event_init(event, variant == 4 && index == 1 ? SIM_LAYER_VMCI : heads[index].layer,
                         variant == 3 && index == 1 ? "pkq" : heads[index].kind,
                         variant == 5 && index == 2 ? 4 : heads[index].ctx,
                         variant == 8 && index == 2 ? 1 : heads[index].pid);
    event->seq = (uint64_t)index + (variant == 10 && index == 2 ? 1 : 0);
    event->time_ns = heads[index].time_ns + (variant == 2 && index == 1 ? 1 : 0);
    if (index == 0) {
        sim_trace_field_str(event, "name", "a");
    } else if (index == 1) {
        sim_trace_field_u64(event, variant == 7 ? "sizf" : "size", variant == 1 ? 65 : 64);
        if (variant == 9)
            sim_trace_field_u64(event, "credit", UINT64_MAX);
        else
            sim_trace_field_i64(event, "credit", -1);
    } else {
        sim_trace_field_bytes(event, "payload", variant == 6 ? hellp : hello, sizeof(hello));
    }
}

/* Digest of the 3 events in `order` (indexes into the sequence), with `variant`. */
static void sequence_digest(const int order[3], int variant, char hex[33])
{
    struct sim_digest *digest = sim_digest_create();
    CU_ASSERT_PTR_NOT_NULL_FATAL(digest);
    for (int position = 0; position < 3; position++) {
        struct sim_trace_event event;
        sequence_event(&event, order[position], variant);
        sim_digest_add(digest, &event);
    }
    sim_digest_hex(digest, hex);
    sim_digest_destroy(digest);
}

static const int in_order[3] = { 0, 1, 2 };
#define SEQUENCE_DIGEST "ea0d6e835f88ee5bd0454e76e02051d3"

/* The 3-event sequence has its pinned digest, and that digest is XXH3-128 of the three
 * encodings concatenated, printed as canonical (big-endian) hex. */
static void test_sequence_digest_is_pinned(void)
{
    char hex[33];
    sequence_digest(in_order, 0, hex);
    CU_ASSERT_STRING_EQUAL(hex, SEQUENCE_DIGEST);
    if (strcmp(hex, SEQUENCE_DIGEST) != 0)
        fprintf(stderr, "sequence digest is %s, expected %s\n", hex, SEQUENCE_DIGEST);

    uint8_t stream[512];
    size_t stream_bytes = 0;
    for (int index = 0; index < 3; index++) {
        struct sim_trace_event event;
        sequence_event(&event, index, 0);
        stream_bytes += sim_digest_encode(&event, stream + stream_bytes,
                                          sizeof(stream) - stream_bytes);
    }
    CU_ASSERT_FATAL(stream_bytes <= sizeof(stream));
    XXH128_canonical_t canonical;
    XXH128_canonicalFromHash(&canonical, XXH3_128bits(stream, stream_bytes));
    char expected[33];
    for (int index = 0; index < 16; index++)
        snprintf(expected + 2 * index, 3, "%02x", canonical.digest[index]);
    CU_ASSERT_STRING_EQUAL(hex, expected);
}

/* Changing any one thing (a field value or name, a time, a kind, a layer, a ctx, a payload
 * bit, a pid, a field's type with the same bits, or the order of two events) changes the
 * digest; nothing changed, nothing does. All eleven digests differ from each other. A seq
 * alone is not encoded (the engine stamps 0, 1, 2, ... in the order the digest receives
 * events, so it is the event's place): changing it changes nothing. */
static void test_digest_changes_with_any_single_change(void)
{
    char digests[11][33];
    for (int variant = 0; variant <= 9; variant++)
        sequence_digest(in_order, variant, digests[variant]);
    static const int swapped[3] = { 0, 2, 1 };
    sequence_digest(swapped, 0, digests[10]);
    char again[33];
    sequence_digest(in_order, 0, again);
    CU_ASSERT_STRING_EQUAL(again, digests[0]);
    int collisions = 0;
    for (int left = 0; left < 11; left++) {
        for (int right = left + 1; right < 11; right++)
            collisions += strcmp(digests[left], digests[right]) == 0;
    }
    CU_ASSERT_EQUAL(collisions, 0);
    char other_seq[33];
    sequence_digest(in_order, 10, other_seq);
    CU_ASSERT_STRING_EQUAL(other_seq, digests[0]);
}

/* Lengths are encoded, so moving a byte from one string field to the next (or from the
 * kind into a field) is a different stream. */
static void test_digest_separates_adjacent_strings(void)
{
    char hex[2][33];
    static const char *const splits[2][2] = { { "ab", "c" }, { "a", "bc" } };
    for (int split = 0; split < 2; split++) {
        struct sim_digest *digest = sim_digest_create();
        CU_ASSERT_PTR_NOT_NULL_FATAL(digest);
        struct sim_trace_event event;
        sim_trace_event_init(&event, SIM_LAYER_API, "log", 2, 1);
        sim_trace_field_str(&event, "x", splits[split][0]);
        sim_trace_field_str(&event, "y", splits[split][1]);
        sim_digest_add(digest, &event);
        sim_digest_hex(digest, hex[split]);
        sim_digest_destroy(digest);
    }
    CU_ASSERT_STRING_NOT_EQUAL(hex[0], hex[1]);
}

/* The digest sink admits every layer: fed through an engine, events of all four layers
 * give the digest of the same events added by hand (seq 0..3, time 0). A digest of no
 * events is XXH3-128 of nothing. */
static void test_digest_sink_admits_every_layer(void)
{
    struct sim_digest *through_engine = sim_digest_create();
    struct sim_digest *by_hand = sim_digest_create();
    CU_ASSERT_PTR_NOT_NULL_FATAL(through_engine);
    CU_ASSERT_PTR_NOT_NULL_FATAL(by_hand);
    char empty[33];
    sim_digest_hex(through_engine, empty);
    XXH128_canonical_t canonical;
    XXH128_canonicalFromHash(&canonical, XXH3_128bits(NULL, 0));
    char expected_empty[33];
    for (unsigned index = 0; index < 16; index++)
        snprintf(expected_empty + 2 * index, 3, "%02x", canonical.digest[index]);
    CU_ASSERT_STRING_EQUAL(empty, expected_empty);   /* all 32 digits, big-endian */
    struct sim_trace_sink sink = sim_digest_sink(through_engine);
    CU_ASSERT_EQUAL(sink.level, SIM_LAYER_DEVICE);
    struct sim_limits limits = sim_limits_default();
    struct sim_engine *engine = sim_engine_create(&limits, 9);
    CU_ASSERT_PTR_NOT_NULL_FATAL(engine);
    CU_ASSERT_EQUAL(sim_engine_sink_attach(engine, sink), SIM_OK);
    for (int layer = SIM_LAYER_API; layer <= SIM_LAYER_DEVICE; layer++) {
        struct sim_trace_event event;
        sim_trace_event_init(&event, (enum sim_layer)layer, "k", 2, 0);
        sim_trace_field_u64(&event, "layer", (uint64_t)layer);
        CU_ASSERT_EQUAL(sim_engine_emit(engine, &event), SIM_OK);
        event.seq = (uint64_t)layer - 1;
        event.time_ns = 0;
        sim_digest_add(by_hand, &event);
    }
    char engine_hex[33];
    char hand_hex[33];
    sim_digest_hex(through_engine, engine_hex);
    sim_digest_hex(by_hand, hand_hex);
    CU_ASSERT_STRING_EQUAL(engine_hex, hand_hex);
    CU_ASSERT_STRING_NOT_EQUAL(engine_hex, empty);
    sim_engine_destroy(engine);
    sim_digest_destroy(through_engine);
    sim_digest_destroy(by_hand);
}

/* Hex of XXH3-128 over bytes, in the digest's canonical form. */
static void xxh3_128_hex(const uint8_t *bytes, size_t size_bytes, char hex[33])
{
    XXH128_canonical_t canonical;
    XXH128_canonicalFromHash(&canonical, XXH3_128bits(bytes, size_bytes));
    for (unsigned index = 0; index < 16; index++)
        snprintf(hex + 2 * index, 3, "%02x", canonical.digest[index]);
}

/* The digest buffers encoded events and hashes them in large pieces: over many events,
 * small and near the largest size (seven strings of SIM_TRACE_STRING_BYTES_MAX), so
 * that pieces are cut at many places, the digest asked for after every event is XXH3-128 of
 * the encodings so far, concatenated; asking for it midway changes nothing later. */
static void test_buffered_digest_is_xxh3_of_the_concatenation(void)
{
    enum { EVENTS = 120 };
    static char text[SIM_TRACE_STRING_BYTES_MAX];
    for (size_t index = 0; index < sizeof(text); index++)
        text[index] = (char)('a' + index % 26);
    size_t capacity_bytes = (size_t)EVENTS * (SIM_TRACE_FIELDS_MAX *
                                              (SIM_TRACE_STRING_BYTES_MAX + 80) + 128);
    uint8_t *stream = malloc(capacity_bytes);
    CU_ASSERT_PTR_NOT_NULL_FATAL(stream);
    struct sim_digest *digest = sim_digest_create();
    struct sim_digest *untouched = sim_digest_create();
    CU_ASSERT_PTR_NOT_NULL_FATAL(digest);
    CU_ASSERT_PTR_NOT_NULL_FATAL(untouched);
    size_t stream_bytes = 0;
    int mismatches = 0;
    for (uint32_t index = 0; index < EVENTS; index++) {
        struct sim_trace_event event;
        sim_trace_event_init(&event, SIM_LAYER_VMCI, index % 2 ? "qp_data" : "k", index, 1);
        event.seq = index;
        event.time_ns = 1000u * index;
        bool largest = index % 17 == 5;
        uint32_t fields = largest ? SIM_TRACE_FIELDS_MAX - 1 : index % 4;
        for (uint32_t field = 0; field < fields; field++) {
            uint32_t length = largest ? SIM_TRACE_STRING_BYTES_MAX
                                      : (index * 37 + field * 11) % 300;
            sim_trace_field_strn(&event, "text", text, length);
        }
        sim_trace_field_u64(&event, "index", index);
        sim_digest_add(digest, &event);
        sim_digest_add(untouched, &event);
        stream_bytes += sim_digest_encode(&event, stream + stream_bytes,
                                          capacity_bytes - stream_bytes);
        CU_ASSERT_FATAL(stream_bytes <= capacity_bytes);
        char actual[33];
        char expected[33];
        sim_digest_hex(digest, actual);
        xxh3_128_hex(stream, stream_bytes, expected);
        mismatches += strcmp(actual, expected) != 0;
    }
    CU_ASSERT_EQUAL(mismatches, 0);
    CU_ASSERT(stream_bytes > 8 * 4096);     /* many flushes happened */
    char asked_often[33];
    char asked_once[33];
    sim_digest_hex(digest, asked_often);
    sim_digest_hex(untouched, asked_once);
    CU_ASSERT_STRING_EQUAL(asked_often, asked_once);
    sim_digest_destroy(digest);
    sim_digest_destroy(untouched);
    free(stream);
}

/* ---- Measured names and sink filters --------------------------------------------------- */

/* The builders measure kind and field names and compute their ids once; an event filled by
 * hand (lengths and ids left at 0) is measured by the digest itself and encodes to the same
 * bytes, and a name that lives in a writable buffer is read by its content (the same text
 * elsewhere, same encoding). */
static void test_names_measured_or_not_encode_alike(void)
{
    struct sim_trace_event built;
    vector_event(&built);
    CU_ASSERT_EQUAL(built.kind_bytes, 8);
    CU_ASSERT_EQUAL(built.fields[1].name_bytes, 5);
    struct sim_trace_event by_hand = built;
    by_hand.kind_bytes = 0;
    by_hand.kind_id = 0;
    char name_copy[8];
    memcpy(name_copy, "payload", sizeof(name_copy));
    for (uint32_t index = 0; index < by_hand.field_count; index++) {
        by_hand.fields[index].name_bytes = 0;
        by_hand.fields[index].name_id = 0;
    }
    by_hand.fields[3].name = name_copy;
    uint8_t left[sizeof(vector_bytes)];
    uint8_t right[sizeof(vector_bytes)];
    ASSERT_U64_EQ(sim_digest_encode(&built, left, sizeof(left)), sizeof(vector_bytes));
    ASSERT_U64_EQ(sim_digest_encode(&by_hand, right, sizeof(right)), sizeof(vector_bytes));
    CU_ASSERT_EQUAL(memcmp(left, right, sizeof(left)), 0);
    char hex[2][33];
    const struct sim_trace_event *events[2] = { &built, &by_hand };
    for (int which = 0; which < 2; which++) {
        struct sim_digest *digest = sim_digest_create();
        CU_ASSERT_PTR_NOT_NULL_FATAL(digest);
        sim_digest_add(digest, events[which]);
        sim_digest_hex(digest, hex[which]);
        sim_digest_destroy(digest);
    }
    CU_ASSERT_STRING_EQUAL(hex[0], hex[1]);
}

/* The documented encoding of an event with one STR field, written out byte by byte here
 * (no memcpy, no shortcut), for test_every_name_and_string_length_encodes_as_documented. */
static size_t reference_encoding(const char *kind, const char *name, const char *text,
                                 uint32_t text_bytes, uint8_t *out)
{
    size_t at = 0;                                                      /* no seq */
    for (unsigned index = 0; index < 8; index++)
        out[at++] = 0;                                                  /* time_ns */
    for (unsigned index = 0; index < 8; index++)
        out[at++] = 0;                                                  /* ctx, pid */
    uint64_t kind_id = reference_name_id(kind, strlen(kind));
    for (unsigned index = 0; index < 8; index++)
        out[at++] = (uint8_t)(kind_id >> (8 * index));
    out[at++] = SIM_LAYER_API;
    out[at++] = 1;                                                      /* field_count */
    uint64_t key = reference_name_id(name, strlen(name)) ^ SIM_FIELD_STR;
    for (unsigned index = 0; index < 8; index++)
        out[at++] = (uint8_t)(key >> (8 * index));
    for (unsigned index = 0; index < 4; index++)
        out[at++] = (uint8_t)(text_bytes >> (8 * index));
    for (uint32_t index = 0; index < text_bytes; index++)
        out[at++] = (uint8_t)text[index];
    return at;
}

/* The encoder copies strings by length classes (under 4 bytes, 4-7, 8-15, 16 and up, in
 * overlapping pieces) and names become ids read in overlapping words: every name length
 * from 1 to 63 (as kind and as field name, measured by the builders or left for the digest
 * to measure and identify) and every string length from 0 to 300 encode exactly as the
 * documented format says, and never write past the end. The names and texts sit at the end
 * of heap blocks of their exact size, so a read past them would be seen by ASan. */
static void test_every_name_and_string_length_encodes_as_documented(void)
{
    static const char letters[] = "abcdefghijklmnopqrstuvwxyz0123456789_abcdefghijklmnopqrstuvwxyz";
    uint8_t expected[512], actual[512 + 64];
    int mismatches = 0;
    for (uint32_t length = 1; length <= 300; length++) {
        uint32_t name_length = length <= 63 ? length : 1 + length % 63;
        char *name = malloc(name_length + 1);
        char *text = malloc(length);
        CU_ASSERT_PTR_NOT_NULL_FATAL(name);
        CU_ASSERT_PTR_NOT_NULL_FATAL(text);
        memcpy(name, letters, name_length);
        name[name_length] = '\0';
        for (uint32_t index = 0; index < length; index++)
            text[index] = (char)('A' + (index * 7 + length) % 26);
        uint32_t text_bytes = length - 1;       /* 0 .. 299 */
        for (int measured = 0; measured < 2; measured++) {
            struct sim_trace_event event;
            sim_trace_event_init(&event, SIM_LAYER_API, name, 0, 0);
            event.seq = 0x0102030405060708ull;
            sim_trace_field_strn(&event, name, text + 1, text_bytes);
            if (!measured) {
                event.kind_bytes = 0;
                event.kind_id = 0;
                event.fields[0].name_bytes = 0;
                event.fields[0].name_id = 0;
            }
            size_t expected_bytes = reference_encoding(name, name, text + 1, text_bytes,
                                                       expected);
            memset(actual, 0xAA, sizeof(actual));
            size_t actual_bytes = sim_digest_encode(&event, actual, sizeof(actual));
            if (actual_bytes != expected_bytes ||
                memcmp(actual, expected, expected_bytes) != 0 ||
                actual[expected_bytes] != 0xAA)
                mismatches++;
        }
        free(name);
        free(text);
    }
    CU_ASSERT_EQUAL(mismatches, 0);
}

static int count_emit(void *state, const struct sim_trace_event *event, char *message)
{
    (void)message;
    (void)event;
    (*(int *)state)++;
    return 0;
}

/* A sink with kind_only is called for events of exactly that kind (not a prefix, not
 * another kind with the same first letter); a sink without it sees every event. */
static void test_sink_kind_only_skips_other_kinds(void)
{
    struct sim_limits limits = sim_limits_default();
    struct sim_engine *engine = sim_engine_create(&limits, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(engine);
    int filtered = 0;
    int all = 0;
    struct sim_trace_sink only = { .name = "only", .level = SIM_LAYER_DEVICE,
                                   .emit = count_emit, .state = &filtered,
                                   .kind_only = "fault_site" };
    struct sim_trace_sink every = { .name = "every", .level = SIM_LAYER_DEVICE,
                                    .emit = count_emit, .state = &all };
    CU_ASSERT_EQUAL(sim_engine_sink_attach(engine, only), SIM_OK);
    CU_ASSERT_EQUAL(sim_engine_sink_attach(engine, every), SIM_OK);
    static const char *const kinds[] = { "fault_site", "fault", "fault_sites", "log",
                                         "fault_sitf", "fault_site" };
    for (size_t index = 0; index < sizeof(kinds) / sizeof(kinds[0]); index++) {
        struct sim_trace_event event;
        sim_trace_event_init(&event, SIM_LAYER_VMCI, kinds[index], 0, 0);
        CU_ASSERT_EQUAL(sim_engine_emit(engine, &event), SIM_OK);
    }
    CU_ASSERT_EQUAL(filtered, 2);
    CU_ASSERT_EQUAL(all, 6);
    /* The engine tells kinds apart by their ids first; an event filled by hand (id 0) is
     * told by its name, and equal ids still need equal names (a forged id on "log"). */
    struct sim_trace_event by_hand;
    sim_trace_event_init(&by_hand, SIM_LAYER_VMCI, "fault_site", 0, 0);
    by_hand.kind_id = 0;
    CU_ASSERT_EQUAL(sim_engine_emit(engine, &by_hand), SIM_OK);
    sim_trace_event_init(&by_hand, SIM_LAYER_VMCI, "fault_sitf", 0, 0);
    by_hand.kind_id = 0;
    CU_ASSERT_EQUAL(sim_engine_emit(engine, &by_hand), SIM_OK);
    sim_trace_event_init(&by_hand, SIM_LAYER_VMCI, "log", 0, 0);
    by_hand.kind_id = sim_trace_name_id("fault_site", 10);
    CU_ASSERT_EQUAL(sim_engine_emit(engine, &by_hand), SIM_OK);
    CU_ASSERT_EQUAL(filtered, 3);
    CU_ASSERT_EQUAL(all, 9);
    sim_engine_destroy(engine);
}

/* A sink with kind_only and kind_also is called for events of either kind, and only those
 * (a kind that shares a first letter or a prefix with one of them is skipped). */
static void test_sink_kind_also_admits_a_second_kind(void)
{
    struct sim_limits limits = sim_limits_default();
    struct sim_engine *engine = sim_engine_create(&limits, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(engine);
    int filtered = 0;
    struct sim_trace_sink two = { .name = "two", .level = SIM_LAYER_DEVICE,
                                  .emit = count_emit, .state = &filtered,
                                  .kind_only = "fault_site", .kind_also = "fault_rate" };
    CU_ASSERT_EQUAL(sim_engine_sink_attach(engine, two), SIM_OK);
    static const char *const kinds[] = { "fault_site", "fault_rate", "fault", "fault_rates",
                                         "log", "fault_rate", "fault_sitf" };
    for (size_t index = 0; index < sizeof(kinds) / sizeof(kinds[0]); index++) {
        struct sim_trace_event event;
        sim_trace_event_init(&event, SIM_LAYER_API, kinds[index], 0, 0);
        CU_ASSERT_EQUAL(sim_engine_emit(engine, &event), SIM_OK);
    }
    CU_ASSERT_EQUAL(filtered, 3);
    sim_engine_destroy(engine);
}

/* A kind whose id shares the wanted kind's bit in the engine's kind mask (its top six
 * bits) but is another kind: found among generated names, so the mask's fallback to the
 * ids is exercised. Writes the name into `name` (32 bytes). */
static void kind_sharing_mask_bit(const char *wanted, char name[32], bool same_bit)
{
    uint64_t wanted_id = sim_trace_name_id(wanted, (uint32_t)strlen(wanted));
    for (unsigned index = 0; index < 100000; index++) {
        snprintf(name, 32, "kind_%u", index);
        uint64_t id = sim_trace_name_id(name, (uint32_t)strlen(name));
        if (id != wanted_id && ((id >> 58) == (wanted_id >> 58)) == same_bit)
            return;
    }
    CU_FAIL_FATAL("no generated kind name with the wanted mask bit");
}

/* With the digest first and a sink filtering by kind, emit hands the filtered sink its
 * kind only (a kind of the same mask bit and one of another bit are both skipped), and
 * the digest, fed inline by emit, sees every event: its value equals sim_digest_add's
 * over the same events. */
static void test_emit_kind_mask_and_inline_digest(void)
{
    char same_bit[32], other_bit[32];
    kind_sharing_mask_bit("fault_site", same_bit, true);
    kind_sharing_mask_bit("fault_site", other_bit, false);
    struct sim_limits limits = sim_limits_default();
    struct sim_engine *engine = sim_engine_create(&limits, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(engine);
    struct sim_digest *fed_by_emit = sim_digest_create();
    struct sim_digest *fed_directly = sim_digest_create();
    CU_ASSERT_PTR_NOT_NULL_FATAL(fed_by_emit);
    CU_ASSERT_PTR_NOT_NULL_FATAL(fed_directly);
    int filtered = 0;
    struct sim_trace_sink only = { .name = "only", .level = SIM_LAYER_DEVICE,
                                   .emit = count_emit, .state = &filtered,
                                   .kind_only = "fault_site" };
    CU_ASSERT_EQUAL(sim_engine_sink_attach(engine, sim_digest_sink(fed_by_emit)), SIM_OK);
    CU_ASSERT_EQUAL(sim_engine_sink_attach(engine, only), SIM_OK);
    const char *const kinds[] = { same_bit, "fault_site", other_bit, same_bit, "fault_site" };
    for (unsigned round = 0; round < 300; round++) {     /* past several buffer flushes */
        for (size_t index = 0; index < sizeof(kinds) / sizeof(kinds[0]); index++) {
            struct sim_trace_event event;
            sim_trace_event_init(&event, SIM_LAYER_VMCI, kinds[index], 2, round);
            sim_trace_field_u64(&event, "round", round);
            sim_trace_field_str(&event, "kind_again", kinds[index]);
            CU_ASSERT_EQUAL_FATAL(sim_engine_emit(engine, &event), SIM_OK);
            sim_digest_add(fed_directly, &event);
        }
    }
    CU_ASSERT_EQUAL(filtered, 600);
    char hex[2][33];
    sim_digest_hex(fed_by_emit, hex[0]);
    sim_digest_hex(fed_directly, hex[1]);
    CU_ASSERT_STRING_EQUAL(hex[0], hex[1]);
    sim_engine_destroy(engine);
    sim_digest_destroy(fed_by_emit);
    sim_digest_destroy(fed_directly);
}

/* ---- Data streams ---------------------------------------------------------------------- */


/* A PAYLOAD field is skipped entirely, its count included: an event that carries one
 * (wherever it sits, whatever its bytes and size) encodes exactly as the same event
 * without it, so what a trace stores can never change a digest. */
static void test_payload_fields_are_not_digested(void)
{
    static const uint8_t bytes_a[40] = { 1, 2, 3 };
    static const uint8_t bytes_b[7] = { 9 };
    struct sim_trace_event plain;
    sim_trace_event_init(&plain, SIM_LAYER_VMCI, "qp_data", 3, 4);
    plain.seq = 11;
    plain.time_ns = 12;
    sim_trace_field_u64(&plain, "bytes", 40);
    sim_trace_field_str(&plain, "hash", "00112233");
    struct sim_trace_event with_payload = plain;
    with_payload.field_count = 0;
    sim_trace_field_payload(&with_payload, "data", bytes_a, sizeof bytes_a);
    sim_trace_field_u64(&with_payload, "bytes", 40);
    sim_trace_field_payload(&with_payload, "more", bytes_b, sizeof bytes_b);
    sim_trace_field_str(&with_payload, "hash", "00112233");
    uint8_t expected[256], actual[256];
    size_t expected_bytes = sim_digest_encode(&plain, expected, sizeof expected);
    size_t actual_bytes = sim_digest_encode(&with_payload, actual, sizeof actual);
    ASSERT_U64_EQ(actual_bytes, expected_bytes);
    CU_ASSERT_EQUAL(memcmp(actual, expected, expected_bytes), 0);
    /* The control: the same place holding a BYTES field does change the encoding. */
    struct sim_trace_event with_bytes = with_payload;
    with_bytes.fields[0].type = SIM_FIELD_BYTES;
    CU_ASSERT_NOT_EQUAL(sim_digest_encode(&with_bytes, actual, sizeof actual), expected_bytes);
}
/* A running data hash is XXH3-64 of everything fed so far, however it was cut into pieces:
 * 1 + 2 + ... bytes give the one-shot hash of the whole, and every prefix's value too. */
static void test_data_stream_is_xxh3_of_the_bytes_so_far(void)
{
    uint8_t bytes[300];
    for (size_t index = 0; index < sizeof(bytes); index++)
        bytes[index] = (uint8_t)(index * 7 + 3);
    struct sim_data_stream *stream = sim_data_stream_create();
    CU_ASSERT_PTR_NOT_NULL_FATAL(stream);
    CU_ASSERT_EQUAL(sim_data_stream_value(stream), XXH3_64bits(NULL, 0));
    CU_ASSERT_EQUAL(sim_data_stream_value(stream), sim_data_hash(NULL, 0));
    size_t fed = 0;
    for (size_t piece = 1; fed + piece <= sizeof(bytes); piece++) {
        sim_data_stream_update(stream, bytes + fed, piece);
        fed += piece;
        CU_ASSERT_EQUAL(sim_data_stream_value(stream), XXH3_64bits(bytes, fed));
    }
    CU_ASSERT(fed > 250);
    sim_data_stream_update(stream, NULL, 0);            /* nothing moved: same value */
    CU_ASSERT_EQUAL(sim_data_stream_value(stream), XXH3_64bits(bytes, fed));
    CU_ASSERT_EQUAL(sim_data_hash(bytes, fed), XXH3_64bits(bytes, fed));
    sim_data_stream_destroy(stream);
}

/* "AAAA" and "BBBB" (same length, the case byte counts cannot tell apart) give different
 * values, and so do the same bytes in another order; equal bytes give equal values in two
 * independent streams. */
static void test_data_streams_tell_bytes_apart(void)
{
    static const char *const texts[3] = { "AAAA", "BBBB", "AAAA" };
    uint64_t values[3];
    for (int index = 0; index < 3; index++) {
        struct sim_data_stream *stream = sim_data_stream_create();
        CU_ASSERT_PTR_NOT_NULL_FATAL(stream);
        sim_data_stream_update(stream, texts[index], 2);
        sim_data_stream_update(stream, texts[index] + 2, 2);
        values[index] = sim_data_stream_value(stream);
        sim_data_stream_destroy(stream);
    }
    CU_ASSERT_NOT_EQUAL(values[0], values[1]);
    CU_ASSERT_EQUAL(values[0], values[2]);
    CU_ASSERT_NOT_EQUAL(sim_data_hash("AB", 2), sim_data_hash("BA", 2));
}

/* A shared stream is one stream: an update through either owner is seen through both, and
 * the stream lives until its last owner lets go (ASan checks the rest). */
static void test_data_stream_shared_is_one_stream(void)
{
    struct sim_data_stream *stream = sim_data_stream_create();
    CU_ASSERT_PTR_NOT_NULL_FATAL(stream);
    struct sim_data_stream *other = sim_data_stream_share(stream);
    CU_ASSERT_PTR_EQUAL(other, stream);
    sim_data_stream_update(stream, "abc", 3);
    sim_data_stream_update(other, "def", 3);
    CU_ASSERT_EQUAL(sim_data_stream_value(other), XXH3_64bits("abcdef", 6));
    sim_data_stream_destroy(stream);
    sim_data_stream_update(other, "g", 1);
    CU_ASSERT_EQUAL(sim_data_stream_value(other), XXH3_64bits("abcdefg", 7));
    sim_data_stream_destroy(other);
}

/* A PAYLOAD field is not encoded at all: the vector event with payload fields added before,
 * between and after its fields encodes to the same bytes (field_count not counting them),
 * whatever the payload holds, so adding one to an event changes no digest. */
static void test_payload_fields_are_skipped(void)
{
    struct sim_trace_event plain;
    vector_event(&plain);
    uint8_t expected[sizeof(vector_bytes)];
    CU_ASSERT_EQUAL_FATAL(sim_digest_encode(&plain, expected, sizeof(expected)),
                          sizeof(vector_bytes));
    static const char *const contents[2] = { "first bytes", "other bytes!" };
    for (unsigned variant = 0; variant < 2; variant++) {
        struct sim_trace_event event;
        sim_trace_event_init(&event, SIM_LAYER_VMCI, "dg_route", 0x21222324u, 0x31323334u);
        event.seq = plain.seq;
        event.time_ns = plain.time_ns;
        sim_trace_field_payload(&event, "data", contents[variant],
                                (uint32_t)strlen(contents[variant]));
        sim_trace_field_u64(&event, "size", 0x4142434445464748ull);
        sim_trace_field_i64(&event, "delta", -2);
        sim_trace_field_payload(&event, "more", NULL, 0);
        sim_trace_field_str(&event, "name", "ab");
        sim_trace_field_bytes(&event, "payload", vector_payload, sizeof(vector_payload));
        sim_trace_field_payload(&event, "last", contents[1 - variant], 3);
        uint8_t encoded[sizeof(vector_bytes) + 64];
        size_t size_bytes = sim_digest_encode(&event, encoded, sizeof(encoded));
        CU_ASSERT_EQUAL(size_bytes, sizeof(vector_bytes));
        CU_ASSERT_EQUAL(memcmp(encoded, expected, sizeof(vector_bytes)), 0);
        char hex[2][33];
        const struct sim_trace_event *events[2] = { &plain, &event };
        for (unsigned which = 0; which < 2; which++) {
            struct sim_digest *digest = sim_digest_create();
            CU_ASSERT_PTR_NOT_NULL_FATAL(digest);
            sim_digest_add(digest, events[which]);
            sim_digest_hex(digest, hex[which]);
            sim_digest_destroy(digest);
        }
        CU_ASSERT_STRING_EQUAL(hex[0], hex[1]);
    }
}

/* A data hash as events carry it: 16 lowercase hex digits, most significant first, as
 * printf's %016llx writes them, for values that put every digit in every place. */
static void test_data_hash_text_is_sixteen_hex_digits(void)
{
    int mismatches = 0;
    uint64_t value = 0;
    for (unsigned step = 0; step < 2000; step++) {
        char text[SIM_DATA_HASH_TEXT_BYTES], expected[32];
        memset(text, 'X', sizeof(text));
        sim_data_hash_text(value, text);
        snprintf(expected, sizeof(expected), "%016llx", (unsigned long long)value);
        if (memcmp(text, expected, SIM_DATA_HASH_TEXT_BYTES) != 0)
            mismatches++;
        value = value * 6364136223846793005ull + 1442695040888963407ull;
    }
    CU_ASSERT_EQUAL(mismatches, 0);
    char text[SIM_DATA_HASH_TEXT_BYTES];
    sim_data_hash_text(0x0123456789abcdefull, text);
    CU_ASSERT_STRING_EQUAL(text, "0123456789abcdef");
    sim_data_hash_text(UINT64_MAX, text);
    CU_ASSERT_STRING_EQUAL(text, "ffffffffffffffff");
}

CU_ErrorCode digest_suite_add(void)
{
    static const struct test_entry tests[] = {
        TEST_ENTRY(test_name_ids_are_pinned),
        TEST_ENTRY(test_encoding_matches_documented_vector),
        TEST_ENTRY(test_encode_with_short_buffer_reports_size_and_stays_in_bounds),
        TEST_ENTRY(test_encoding_of_empty_and_extreme_values),
        TEST_ENTRY(test_sequence_digest_is_pinned),
        TEST_ENTRY(test_digest_changes_with_any_single_change),
        TEST_ENTRY(test_digest_separates_adjacent_strings),
        TEST_ENTRY(test_digest_sink_admits_every_layer),
        TEST_ENTRY(test_buffered_digest_is_xxh3_of_the_concatenation),
        TEST_ENTRY(test_names_measured_or_not_encode_alike),
        TEST_ENTRY(test_every_name_and_string_length_encodes_as_documented),
        TEST_ENTRY(test_sink_kind_only_skips_other_kinds),
        TEST_ENTRY(test_sink_kind_also_admits_a_second_kind),
        TEST_ENTRY(test_emit_kind_mask_and_inline_digest),
        TEST_ENTRY(test_data_stream_is_xxh3_of_the_bytes_so_far),
        TEST_ENTRY(test_data_streams_tell_bytes_apart),
        TEST_ENTRY(test_data_stream_shared_is_one_stream),
        TEST_ENTRY(test_payload_fields_are_skipped),
        TEST_ENTRY(test_payload_fields_are_not_digested),
        TEST_ENTRY(test_data_hash_text_is_sixteen_hex_digits),
    };
    return test_suite_register("digest", tests, sizeof(tests) / sizeof(tests[0]));
}
