/* SPDX-License-Identifier: MIT */
/*
 * sim/engine/digest_int.h: the run digest's state and its per-event encoder, shared by
 * digest.c and engine.c only. Nothing outside sim/engine includes this file.
 *
 * Why a header: every emitted event goes through the encoder, and a call from emit into
 * digest.c (its register saves, its argument checks) cost about a tenth of the digest's
 * work per event. With the encoder inline, emit encodes the event itself into the digest's
 * buffer; digest.c keeps what is rare (flushing a full buffer to XXH3, BYTES values, hand-
 * filled names, the value at the end of a run). The encoding is documented in digest.c.
 *
 * Invariants:
 *   DG1  pending_bytes < DIGEST_PENDING_FLUSH_BYTES between events, so one event at its
 *        largest always fits in the buffer behind what is pending.
 *   DG2  the value is XXH3-128 of every encoded byte in order, whatever the flush cuts.
 */
#ifndef SIM_ENGINE_DIGEST_INT_H
#define SIM_ENGINE_DIGEST_INT_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "trace.h"

/* kind and field names are short identifiers; longer ones are a programmer error. */
#define DIGEST_NAME_BYTES_MAX 63u
/* Header: time, ctx, pid, kind id, layer, field count (no seq: digest_encode_event). */
#define DIGEST_EVENT_HEAD_BYTES (8 + 4 + 4 + 8 + 1 + 1)
/* Worst case of one event without string bodies: header + fields' fixed parts (a key,
 * then a BYTES value's length and hash). */
#define DIGEST_EVENT_FIXED_BYTES_MAX \
    (DIGEST_EVENT_HEAD_BYTES + SIM_TRACE_FIELDS_MAX * (8 + 4 + 8))
/* One event in this many (by seq) has its names' ids checked against the names: a hand-made
 * event with a stale id is caught in tests, at a small fraction of what checking every
 * event would cost. A power of two. */
#define DIGEST_ID_CHECK_EVERY 64u

/* One encoded event at its largest: strings are bounded (SIM_TRACE_STRING_BYTES_MAX each). */
#define DIGEST_EVENT_BYTES_MAX \
    (DIGEST_EVENT_FIXED_BYTES_MAX + SIM_TRACE_FIELDS_MAX * SIM_TRACE_STRING_BYTES_MAX)

/* Encoded events wait in the digest's buffer until this many bytes are there, then go to
 * XXH3 in one update: one streaming call per event cost more than the hashing itself.
 * Small enough to stay in the first-level cache between encoding and hashing. */
#define DIGEST_PENDING_FLUSH_BYTES 4096u

/* The buffer holds what is pending (below the flush mark before every event) plus one
 * event at its largest, so an event is always encoded in place without a bounds check. */
#define DIGEST_BUFFER_BYTES (DIGEST_PENDING_FLUSH_BYTES + DIGEST_EVENT_BYTES_MAX)

/* The XXH3 states are the library's (allocated by it): this header needs no xxhash.h. */
struct XXH3_state_s;

/* Kept in the heap, not on the stack, because events are emitted from fiber stacks too.
 * XXH3-128 of a concatenation does not depend on how it was cut into updates, so the
 * buffering changes nothing of the digest's value (tests/unit/digest_test.c checks it
 * against one XXH3 call over the concatenated encodings). */
struct sim_digest {
    struct XXH3_state_s *state;         /* every flushed byte */
    struct XXH3_state_s *final_state;   /* scratch: state + pending bytes, for sim_digest_hex */
    size_t pending_bytes;               /* encoded, not yet given to XXH3 */
    uint8_t buffer[DIGEST_BUFFER_BYTES];
};

/* digest.c, out of line because rare: hashes the pending bytes and empties the buffer. */
void sim__digest_flush(struct sim_digest *digest);
/* digest.c: the id of a name its event did not carry (filled by hand; the builders set
 * every id, so the encoder only tests for 0). */
uint64_t sim__digest_name_id_measured(const char *name, uint32_t known_bytes);
/* digest.c: a BYTES field's value, its u32 length and XXH3-64 (few events carry one, and
 * hashing inline would take registers from the encoder's loop). Returns the end. */
uint8_t *sim__digest_store_bytes_value(uint8_t *out, const struct sim_trace_field *field);
/* digest.c: every nonzero id the event carries is its name's (for the sampled assert). */
bool sim__digest_ids_match_names(const struct sim_trace_event *event);

/* Little-endian stores. On a little-endian host a value's own bytes are already in that
 * order and one copy stores them; elsewhere they are written byte by byte. (Byte by byte on
 * every host looked free, but once the encoder's output pointer is `restrict` the compiler
 * merged the byte stores of neighbouring fields into long shift-and-or chains.) */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define DIGEST_HOST_LITTLE_ENDIAN 1
#else
#define DIGEST_HOST_LITTLE_ENDIAN 0
#endif

static inline uint8_t *digest_store_u8(uint8_t *out, uint64_t value)
{
    out[0] = (uint8_t)value;
    return out + 1;
}

static inline uint8_t *digest_store_u32(uint8_t *out, uint64_t value)
{
    if (DIGEST_HOST_LITTLE_ENDIAN) {
        uint32_t word = (uint32_t)value;
        memcpy(out, &word, sizeof(word));
    } else {
        out[0] = (uint8_t)value;
        out[1] = (uint8_t)(value >> 8);
        out[2] = (uint8_t)(value >> 16);
        out[3] = (uint8_t)(value >> 24);
    }
    return out + 4;
}

static inline uint8_t *digest_store_u64(uint8_t *out, uint64_t value)
{
    if (DIGEST_HOST_LITTLE_ENDIAN) {
        memcpy(out, &value, sizeof(value));
        return out + 8;
    }
    digest_store_u32(out, value);
    digest_store_u32(out + 4, value >> 32);
    return out + 8;
}

/* Copies `size_bytes` bytes without a library call. Names and most string values are a few
 * bytes long, and calling memcpy for each cost more than the copies themselves (a quarter
 * of the digest's time on an idle-heavy run). Fixed-size copies that overlap cover every
 * length with at most three loads and three stores per 16 bytes; no load reads
 * outside [source, source + size_bytes), so a name at the end of a page is safe. */
static inline void digest_copy_small(uint8_t *out, const uint8_t *source, size_t size_bytes)
{
    if (size_bytes >= 16) {
        size_t offset = 0;
        for (; offset + 16 < size_bytes; offset += 16)
            memcpy(out + offset, source + offset, 16);
        memcpy(out + size_bytes - 16, source + size_bytes - 16, 16);
    } else if (size_bytes >= 8) {
        uint64_t head, tail;
        memcpy(&head, source, 8);
        memcpy(&tail, source + size_bytes - 8, 8);
        memcpy(out, &head, 8);
        memcpy(out + size_bytes - 8, &tail, 8);
    } else if (size_bytes >= 4) {
        uint32_t head, tail;
        memcpy(&head, source, 4);
        memcpy(&tail, source + size_bytes - 4, 4);
        memcpy(out, &head, 4);
        memcpy(out + size_bytes - 4, &tail, 4);
    } else if (size_bytes > 0) {
        /* 1 to 3 bytes: first, middle and last cover them all, without a loop. */
        out[0] = source[0];
        out[size_bytes / 2] = source[size_bytes / 2];
        out[size_bytes - 1] = source[size_bytes - 1];
    }
}

/* The header's first 16 bytes are the event's time, ctx and pid as they lie in the event
 * (little-endian hosts copy them at once). */
_Static_assert(offsetof(struct sim_trace_event, ctx) ==
                   offsetof(struct sim_trace_event, time_ns) + 8 &&
               offsetof(struct sim_trace_event, pid) ==
                   offsetof(struct sim_trace_event, time_ns) + 12,
               "DIGEST_HEAD: time, ctx, pid adjacent");

static inline uint64_t digest_kind_id_of(const struct sim_trace_event *event)
{
    uint64_t id = event->kind_id;
    return __builtin_expect(id != 0, 1) ? id
                                        : sim__digest_name_id_measured(event->kind,
                                                                       event->kind_bytes);
}

static inline uint64_t digest_field_name_id_of(const struct sim_trace_field *field)
{
    uint64_t id = field->name_id;
    return __builtin_expect(id != 0, 1) ? id
                                        : sim__digest_name_id_measured(field->name,
                                                                       field->name_bytes);
}

/* A STR field's value: u32 length, then the bytes. */
static inline uint8_t *digest_store_text_value(uint8_t *restrict out,
                                               const struct sim_trace_field *restrict field)
{
    uint32_t text_bytes = field->value.blob.size_bytes;
    assert(text_bytes <= SIM_TRACE_STRING_BYTES_MAX);
    assert(field->value.blob.data != NULL || text_bytes == 0);
    out = digest_store_u32(out, text_bytes);
    digest_copy_small(out, field->value.blob.data, text_bytes);
    return out + text_bytes;
}

/* A STR, BYTES or PAYLOAD field, or one whose name id the event does not carry: what the
 * field loop's fast path leaves (integers with their ids). Returns the end; a PAYLOAD
 * field writes nothing and counts itself in *skipped_fields. */
static inline __attribute__((always_inline)) uint8_t *
digest_store_other_field(uint8_t *restrict cursor, const struct sim_trace_field *restrict field,
                         uint32_t *skipped_fields)
{
    uint32_t type = field->type;
    if (type == SIM_FIELD_PAYLOAD) {
        (*skipped_fields)++;
        return cursor;
    }
    cursor = digest_store_u64(cursor, digest_field_name_id_of(field) ^ type);
    if (type - SIM_FIELD_U64 <= SIM_FIELD_I64 - SIM_FIELD_U64)
        return digest_store_u64(cursor, field->value.u64);   /* a hand-filled name */
    if (type == SIM_FIELD_STR)
        return digest_store_text_value(cursor, field);
    assert(type == SIM_FIELD_BYTES);    /* PAYLOAD was skipped; no other type */
    return sim__digest_store_bytes_value(cursor, field);
}

/* Encodes one event into out, which has room for its encoding (at most
 * DIGEST_EVENT_BYTES_MAX bytes); returns the bytes written. Always inline: emit (the hot
 * caller) and sim_digest_encode each get their own copy, without a call. `restrict`: the
 * event is never inside the buffer, and saying so spares a reload of the event's fields
 * after every byte stored.
 *
 * The seq is not encoded: the engine stamps 0, 1, 2, ... in the order it hands events to
 * the digest, so an event's seq is its place in the digest's input and says nothing more.
 * An integer field (the common one) with its id is one test and two stores: its key (the
 * name id XOR the type) and its value. */
static inline __attribute__((always_inline)) size_t
digest_encode_event(const struct sim_trace_event *restrict event, uint8_t *restrict out)
{
    assert(event->field_count <= SIM_TRACE_FIELDS_MAX);
    uint8_t *cursor = out;
    if (DIGEST_HOST_LITTLE_ENDIAN) {
        memcpy(cursor, &event->time_ns, 16);    /* time, ctx, pid: one copy (DIGEST_HEAD) */
        cursor += 16;
    } else {
        cursor = digest_store_u64(cursor, event->time_ns);
        cursor = digest_store_u32(cursor, event->ctx);
        cursor = digest_store_u32(cursor, event->pid);
    }
    cursor = digest_store_u64(cursor, digest_kind_id_of(event));
    /* PAYLOAD fields are skipped entirely, count included: a data hash field of the same
     * event covers their bytes, and the digest must not depend on what a trace stores.
     * The layer and the count are stored together once the count is known. */
    uint8_t *layer_at = cursor;
    cursor += 2;
    uint32_t skipped_fields = 0;
    const struct sim_trace_field *field = event->fields;
    const struct sim_trace_field *end = event->fields + event->field_count;
    for (; field < end; field++) {
        uint32_t type = field->type;
        uint64_t id = field->name_id;
        if (__builtin_expect(type - SIM_FIELD_U64 <= SIM_FIELD_I64 - SIM_FIELD_U64 && id != 0,
                             1)) {
            cursor = digest_store_u64(cursor, id ^ type);
            cursor = digest_store_u64(cursor, field->value.u64);   /* I64: the same 64 bits */
            continue;
        }
        cursor = digest_store_other_field(cursor, field, &skipped_fields);
    }
    uint32_t layer_and_count = (uint32_t)event->layer | (event->field_count - skipped_fields) << 8;
    if (DIGEST_HOST_LITTLE_ENDIAN) {
        uint16_t pair = (uint16_t)layer_and_count;
        memcpy(layer_at, &pair, sizeof(pair));
    } else {
        layer_at[0] = (uint8_t)layer_and_count;
        layer_at[1] = (uint8_t)(layer_and_count >> 8);
    }
    size_t size_bytes = (size_t)(cursor - out);
    assert(size_bytes <= DIGEST_EVENT_BYTES_MAX);
    return size_bytes;
}

/* Encodes one event behind the pending bytes (DG1) and hashes them once they reach the
 * flush mark. Inline: emit (the hot caller) and sim_digest_add share it. */
static inline __attribute__((always_inline)) void
sim__digest_add_inline(struct sim_digest *restrict digest,
                       const struct sim_trace_event *restrict event)
{
    assert(digest->pending_bytes < DIGEST_PENDING_FLUSH_BYTES);             /* DG1 */
    assert((event->seq & (DIGEST_ID_CHECK_EVERY - 1)) != 0 ||
           sim__digest_ids_match_names(event));
    /* Within the buffer: DG1 and the encoder's own bound on one event. */
    size_t pending_bytes = digest->pending_bytes +
                           digest_encode_event(event, digest->buffer + digest->pending_bytes);
    digest->pending_bytes = pending_bytes;
    if (__builtin_expect(pending_bytes >= DIGEST_PENDING_FLUSH_BYTES, 0))
        sim__digest_flush(digest);
}

#endif /* SIM_ENGINE_DIGEST_INT_H */
