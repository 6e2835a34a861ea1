/* SPDX-License-Identifier: MIT */
/*
 * sim/engine/digest.c: the run digest, XXH3-128 over a canonical event encoding.
 *
 * Two runs are the same run iff their digests are equal, so the encoding is
 * fixed, little-endian and independent of the host (docs/trace-schema.md,
 * "Run digest"). Per event:
 *   u64 time_ns, u32 ctx, u32 pid, u64 kind id, u8 layer, u8 field_count,
 *   then per field: u64 key (the name id XOR the type's number), value:
 *     U64/I64: 8 bytes LE (two's complement for I64);
 *     STR:     u32 length LE, the bytes;
 *     BYTES:   u32 length LE, XXH3-64 of the bytes as u64 LE (payloads are
 *              covered by their hash, not copied: architecture.md "Traces").
 *     PAYLOAD: nothing, and not counted in field_count (a data hash field of the same
 *              event covers those bytes; what a trace stores of them cannot matter).
 * No seq: the engine stamps 0, 1, 2, ... in the order the digest receives events, so an
 * event's seq is its place in the input. The type rides in the key's low bits, so an
 * integer field is two words (the encoding until issue 10's fifth speed pass had a seq
 * word per event and a type byte per field: docs/digest-vectors.md says why it changed).
 * A name id is sim_trace_name_id (trace.h) of the kind's or field's name: a function of
 * the name's bytes only. Names are encoded as ids, not copied, because an event's names
 * are most of its encoding and copying them was most of the digest's cost; the builders
 * compute an id once per literal (at compile time), so the encoder only stores it.
 *
 * Events are encoded straight into a buffer and reach XXH3 a few kilobytes at a time;
 * the value is that of one XXH3-128 over all encodings concatenated, whatever the cuts.
 * The encoder itself is in digest_int.h, inline, so that emit (engine.c) encodes every
 * event without a call; this file keeps the rare paths and the digest's API.
 * Names are read by content only (never by address), so the value depends on the events
 * alone: not on the build, the address layout or the trace level. One event in
 * DIGEST_ID_CHECK_EVERY has every id it carries checked against its name (assert).
 *
 * Also the one-shot data hash (sim_data_hash) of the bytes events carry; the running ones
 * (struct sim_data_stream) are in data_hash.c. Both one-shot hashes go through
 * digest_hash_bytes, which leaves the vector registers' upper halves clean (see there).
 */
#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>
/* On x86-64 the library's dispatching entry points pick the widest vector unit the machine
 * has (AVX2 where the plain entry points use SSE2): the same values, about twice the speed
 * on the bytes of a stream. */
#if defined(__x86_64__) && defined(__has_include)
#if __has_include(<xxh_x86dispatch.h>)
#include <xxh_x86dispatch.h>
#endif
#endif

#if defined(__x86_64__) && defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define DIGEST_VZEROUPPER 1
#endif

#include "digest_int.h"
#include "engine_int.h"
#include "error.h"
#include "trace.h"

/* A name's length: the one the builders measured (for a literal, at compile time), or 0
 * when the event was filled by hand, and then the name is measured here. */
static size_t name_length(const char *name, uint32_t known_bytes)
{
    size_t length = known_bytes;
    if (length == 0) {
        while (length < DIGEST_NAME_BYTES_MAX && name[length] != '\0')
            length++;
        assert(length > 0);
    }
    assert(length <= DIGEST_NAME_BYTES_MAX);
    assert(name[length] == '\0');      /* the length belongs to this name; no longer names */
    return length;
}

/* The id of a name whose event did not carry it (filled by hand). Out of line: the
 * builders set every id, so the encoder only tests for 0. */
uint64_t sim__digest_name_id_measured(const char *name, uint32_t known_bytes)
{
    return sim_trace_name_id(name, (uint32_t)name_length(name, known_bytes));
}

bool sim__digest_ids_match_names(const struct sim_trace_event *event)
{
    uint64_t kind_id = sim__digest_name_id_measured(event->kind, event->kind_bytes);
    if (event->kind_id != 0 && event->kind_id != kind_id)
        return false;
    for (uint32_t index = 0; index < event->field_count; index++) {
        const struct sim_trace_field *field = &event->fields[index];
        if (field->name_id != 0 &&
            field->name_id != sim__digest_name_id_measured(field->name, field->name_bytes))
            return false;
    }
    return true;
}

/* XXH3's long inputs: past this many bytes the one-shot hash takes its vector path. */
#define DIGEST_HASH_SHORT_BYTES_MAX 240u

#if defined(DIGEST_VZEROUPPER)
/* One vzeroupper, in a function of its own built for AVX (the rest of this file is not). */
__attribute__((target("avx"), noinline)) static void vector_upper_clean(void)
{
    _mm256_zeroupper();
}
#endif

/* XXH3_64bits of the bytes, returning with the upper halves of the vector registers clean.
 * Past 240 bytes the library's dispatching entry point runs its AVX-512 or AVX2 code, and
 * the build this was measured with (Debian's libxxhash 0.8.1) returns from it without a
 * vzeroupper: the GCC 12 omission sim/engine/data_hash_avx2.c's header describes. The SSE
 * code that runs next (all of vmcisim) is slow while they are dirty; so one vzeroupper
 * here, where the CPU has AVX2 (where it has not, the dispatch takes the SSE2 code). */
static inline uint64_t digest_hash_bytes(const void *data, size_t size_bytes)
{
    uint64_t hash = XXH3_64bits(data, size_bytes);
#if defined(DIGEST_VZEROUPPER)
    if (size_bytes > DIGEST_HASH_SHORT_BYTES_MAX && __builtin_cpu_supports("avx2"))
        vector_upper_clean();
#endif
    return hash;
}

uint8_t *sim__digest_store_bytes_value(uint8_t *out, const struct sim_trace_field *field)
{
    assert(field->type == SIM_FIELD_BYTES);
    out = digest_store_u32(out, field->value.blob.size_bytes);
    return digest_store_u64(out, digest_hash_bytes(field->value.blob.data,
                                                   field->value.blob.size_bytes));
}

/* The exact size of an event's encoding, without writing it. */
static size_t encoded_size(const struct sim_trace_event *event)
{
    size_t size_bytes = DIGEST_EVENT_HEAD_BYTES;
    for (uint32_t index = 0; index < event->field_count; index++) {
        const struct sim_trace_field *field = &event->fields[index];
        if (field->type == SIM_FIELD_PAYLOAD)
            continue;
        size_bytes += 8;
        if (field->type == SIM_FIELD_STR)
            size_bytes += 4 + field->value.blob.size_bytes;
        else if (field->type == SIM_FIELD_BYTES)
            size_bytes += 4 + 8;
        else
            size_bytes += 8;
    }
    return size_bytes;
}

size_t sim_digest_encode(const struct sim_trace_event *event, uint8_t *out, size_t capacity_bytes)
{
    assert(event != NULL);
    assert(out != NULL || capacity_bytes == 0);
    assert(event->field_count <= SIM_TRACE_FIELDS_MAX);
    size_t size_bytes = encoded_size(event);
    if (size_bytes <= capacity_bytes) {
        size_t written_bytes = digest_encode_event(event, out);
        assert(written_bytes == size_bytes);
        return written_bytes;
    }
    /* A short buffer (tests and tools only): encode in the heap, hand back what fits. */
    uint8_t *whole = capacity_bytes > 0 ? malloc(size_bytes) : NULL;
    if (whole != NULL) {
        digest_encode_event(event, whole);
        memcpy(out, whole, capacity_bytes);
        free(whole);
    }
    return size_bytes;
}

struct sim_digest *sim_digest_create(void)
{
    struct sim_digest *digest = malloc(sizeof(*digest));
    if (digest == NULL)
        return NULL;
    digest->pending_bytes = 0;
    digest->state = XXH3_createState();
    digest->final_state = XXH3_createState();
    if (digest->state == NULL || digest->final_state == NULL) {
        sim_digest_destroy(digest);
        return NULL;
    }
    XXH3_128bits_reset(digest->state);
    return digest;
}

void sim_digest_destroy(struct sim_digest *digest)
{
    if (digest == NULL)
        return;
    XXH3_freeState(digest->state);
    XXH3_freeState(digest->final_state);
    free(digest);
}

void sim__digest_flush(struct sim_digest *digest)
{
    assert(digest != NULL);
    XXH3_128bits_update(digest->state, digest->buffer, digest->pending_bytes);
    digest->pending_bytes = 0;
}

void sim_digest_add(struct sim_digest *digest, const struct sim_trace_event *event)
{
    assert(digest != NULL);
    assert(event != NULL);
    sim__digest_add_inline(digest, event);
}

void sim_digest_hex(const struct sim_digest *digest, char hex[33])
{
    assert(digest != NULL);
    /* The pending bytes are hashed into the scratch state, so asking for the value in the
     * middle of a run changes nothing of what follows. */
    XXH3_copyState(digest->final_state, digest->state);
    XXH3_128bits_update(digest->final_state, digest->buffer, digest->pending_bytes);
    XXH128_hash_t hash = XXH3_128bits_digest(digest->final_state);
    XXH128_canonical_t canonical;
    XXH128_canonicalFromHash(&canonical, hash);
    static const char digits[] = "0123456789abcdef";
    for (unsigned index = 0; index < 16; index++) {
        hex[2 * index] = digits[canonical.digest[index] >> 4];
        hex[2 * index + 1] = digits[canonical.digest[index] & 0xF];
    }
    hex[32] = '\0';
}

static int digest_emit(void *state, const struct sim_trace_event *event, char *message)
{
    (void)message;
    assert(state != NULL && event != NULL);
    sim__digest_add_inline(state, event);
    return SIM_OK;
}

struct sim_digest *sim__digest_of_sink(const struct sim_trace_sink *sink)
{
    assert(sink != NULL);
    return sink->emit == digest_emit ? sink->state : NULL;
}

struct sim_trace_sink sim_digest_sink(struct sim_digest *digest)
{
    assert(digest != NULL);
    struct sim_trace_sink sink = {
        .name = "digest",
        .level = SIM_LAYER_DEVICE,
        .emit = digest_emit,
        .state = digest,
    };
    return sink;
}

uint64_t sim_data_hash(const void *data, size_t size_bytes)
{
    assert(data != NULL || size_bytes == 0);
    return digest_hash_bytes(data, size_bytes);
}

/* The 16 nibbles of `half` (32 bits), each in its own byte, least significant first. */
static inline uint64_t spread_nibbles(uint32_t half)
{
    uint64_t value = half;
    value = (value | (value << 16)) & 0x0000FFFF0000FFFFull;
    value = (value | (value << 8)) & 0x00FF00FF00FF00FFull;
    value = (value | (value << 4)) & 0x0F0F0F0F0F0F0F0Full;
    return value;
}

/* Eight nibbles, one per byte, as eight lowercase hex digits in the same bytes: '0' + n,
 * and 39 more ('a' - '0' - 10) where n > 9 (n + 6 carries into bit 4 exactly then). */
static inline uint64_t nibbles_to_hex(uint64_t nibbles)
{
    uint64_t above_nine = ((nibbles + 0x0606060606060606ull) >> 4) & 0x0101010101010101ull;
    return nibbles + 0x3030303030303030ull + above_nine * 39u;
}

/* "00" "01" ... "ff": two digits per byte, for a host whose byte order is not known here. */
#define HEX_PAIR_ROW(high) \
    #high "0", #high "1", #high "2", #high "3", #high "4", #high "5", #high "6", #high "7", \
    #high "8", #high "9", #high "a", #high "b", #high "c", #high "d", #high "e", #high "f"
static const char hex_pairs[256][3] = {
    HEX_PAIR_ROW(0), HEX_PAIR_ROW(1), HEX_PAIR_ROW(2), HEX_PAIR_ROW(3),
    HEX_PAIR_ROW(4), HEX_PAIR_ROW(5), HEX_PAIR_ROW(6), HEX_PAIR_ROW(7),
    HEX_PAIR_ROW(8), HEX_PAIR_ROW(9), HEX_PAIR_ROW(a), HEX_PAIR_ROW(b),
    HEX_PAIR_ROW(c), HEX_PAIR_ROW(d), HEX_PAIR_ROW(e), HEX_PAIR_ROW(f),
};
#undef HEX_PAIR_ROW

#if defined(__x86_64__) && defined(__SSE2__)
/* The 16 digits in one SSE2 register (every x86-64 has it): the hash's bytes most
 * significant first, each split into its two nibbles side by side, then '0' + n, and 39 more
 * where n > 9. About a third of the two-word version's instructions. */
static inline void hash_text_sse2(uint64_t hash, char *text)
{
    __m128i bytes = _mm_cvtsi64_si128((long long)__builtin_bswap64(hash));
    __m128i nibble_mask = _mm_set1_epi8(0x0F);
    __m128i high = _mm_and_si128(_mm_srli_epi16(bytes, 4), nibble_mask);
    __m128i low = _mm_and_si128(bytes, nibble_mask);
    __m128i nibbles = _mm_unpacklo_epi8(high, low);
    __m128i above_nine = _mm_cmpgt_epi8(nibbles, _mm_set1_epi8(9));
    __m128i digits = _mm_add_epi8(_mm_add_epi8(nibbles, _mm_set1_epi8('0')),
                                  _mm_and_si128(above_nine, _mm_set1_epi8('a' - '0' - 10)));
    _mm_storeu_si128((__m128i *)(void *)text, digits);
}
#endif

/* Written for every enqueue and every datagram: with SSE2 in one register; on another
 * little-endian host all 16 digits are computed at once in two 64-bit words (no table, no
 * loop), most significant first once each word's bytes are reversed. */
void sim_data_hash_text(uint64_t hash, char text[SIM_DATA_HASH_TEXT_BYTES])
{
    assert(text != NULL);
#if defined(__x86_64__) && defined(__SSE2__)
    hash_text_sse2(hash, text);
    text[16] = '\0';
    return;
#endif
    if (DIGEST_HOST_LITTLE_ENDIAN) {
        uint64_t high = __builtin_bswap64(nibbles_to_hex(spread_nibbles((uint32_t)(hash >> 32))));
        uint64_t low = __builtin_bswap64(nibbles_to_hex(spread_nibbles((uint32_t)hash)));
        memcpy(text, &high, sizeof(high));
        memcpy(text + 8, &low, sizeof(low));
    } else {
        for (unsigned index = 0; index < 8; index++) {
            const char *pair = hex_pairs[(hash >> (56 - 8 * index)) & 0xFF];
            text[2 * index] = pair[0];
            text[2 * index + 1] = pair[1];
        }
    }
    text[16] = '\0';
}
