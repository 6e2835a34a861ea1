/* SPDX-License-Identifier: MIT */
/*
 * sim/engine/digest.c: the run digest, XXH3-128 over a canonical event encoding.
 *
 * Two runs are the same run iff their digests are equal, so the encoding is
 * fixed, little-endian and independent of the host (docs/trace-schema.md,
 * "Run digest"). Per event:
 *   u64 seq, u64 time_ns, u32 ctx, u32 pid, u8 layer, u8 kind_len, kind bytes,
 *   u8 field_count, then per field: u8 name_len, name bytes, u8 type, value:
 *     U64/I64: 8 bytes LE (two's complement for I64);
 *     STR:     u32 length LE, the bytes;
 *     BYTES:   u32 length LE, XXH3-64 of the bytes as u64 LE (payloads are
 *              covered by their hash, not copied: architecture.md "Traces").
 *
 * Also the running data hashes (struct sim_data_stream) that emitters put in their events
 * so that the digest covers data bytes that no event carries (queue-pair rings).
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "error.h"
#include "trace.h"

/* kind and field names are short identifiers; longer ones are a programmer error. */
#define DIGEST_NAME_BYTES_MAX 63u
/* Worst case of one event without string bodies: header + fields' fixed parts. */
#define DIGEST_EVENT_FIXED_BYTES_MAX \
    (8 + 8 + 4 + 4 + 1 + 1 + DIGEST_NAME_BYTES_MAX + 1 + \
     SIM_TRACE_FIELDS_MAX * (1 + DIGEST_NAME_BYTES_MAX + 1 + 8 + 4))

/* One encoded event: strings are bounded (SIM_TRACE_STRING_BYTES_MAX each). Kept in the
 * digest, not on the stack, because events are emitted from fiber stacks too. */
#define DIGEST_BUFFER_BYTES \
    (DIGEST_EVENT_FIXED_BYTES_MAX + SIM_TRACE_FIELDS_MAX * SIM_TRACE_STRING_BYTES_MAX)

struct sim_digest {
    XXH3_state_t *state;
    uint64_t events_added;
    uint8_t buffer[DIGEST_BUFFER_BYTES];
};

struct encoder {
    uint8_t *out;
    size_t capacity_bytes;
    size_t size_bytes;      /* bytes needed so far, may exceed capacity */
};

static void put_bytes(struct encoder *encoder, const void *data, size_t size_bytes)
{
    if (encoder->size_bytes + size_bytes <= encoder->capacity_bytes)
        memcpy(encoder->out + encoder->size_bytes, data, size_bytes);
    encoder->size_bytes += size_bytes;
}

static void put_le(struct encoder *encoder, uint64_t value, unsigned width_bytes)
{
    uint8_t bytes[8];
    assert(width_bytes <= 8);
    for (unsigned index = 0; index < width_bytes; index++)
        bytes[index] = (uint8_t)(value >> (8 * index));
    put_bytes(encoder, bytes, width_bytes);
}

static void put_name(struct encoder *encoder, const char *name)
{
    size_t length = strlen(name);
    assert(length > 0);
    assert(length <= DIGEST_NAME_BYTES_MAX);
    put_le(encoder, length, 1);
    put_bytes(encoder, name, length);
}

static void put_field(struct encoder *encoder, const struct sim_trace_field *field)
{
    put_name(encoder, field->name);
    put_le(encoder, (uint64_t)field->type, 1);
    switch (field->type) {
    case SIM_FIELD_U64:
        put_le(encoder, field->value.u64, 8);
        break;
    case SIM_FIELD_I64:
        put_le(encoder, (uint64_t)field->value.i64, 8);
        break;
    case SIM_FIELD_STR:
        put_le(encoder, field->value.blob.size_bytes, 4);
        put_bytes(encoder, field->value.blob.data, field->value.blob.size_bytes);
        break;
    case SIM_FIELD_BYTES:
        put_le(encoder, field->value.blob.size_bytes, 4);
        put_le(encoder, XXH3_64bits(field->value.blob.data, field->value.blob.size_bytes), 8);
        break;
    default:
        assert(!"unknown field type");
    }
}

size_t sim_digest_encode(const struct sim_trace_event *event, uint8_t *out, size_t capacity_bytes)
{
    assert(event != NULL);
    assert(out != NULL || capacity_bytes == 0);
    assert(event->field_count <= SIM_TRACE_FIELDS_MAX);
    struct encoder encoder = { .out = out, .capacity_bytes = capacity_bytes, .size_bytes = 0 };
    put_le(&encoder, event->seq, 8);
    put_le(&encoder, event->time_ns, 8);
    put_le(&encoder, event->ctx, 4);
    put_le(&encoder, event->pid, 4);
    put_le(&encoder, (uint64_t)event->layer, 1);
    put_name(&encoder, event->kind);
    put_le(&encoder, event->field_count, 1);
    for (uint32_t index = 0; index < event->field_count; index++)
        put_field(&encoder, &event->fields[index]);
    return encoder.size_bytes;
}

struct sim_digest *sim_digest_create(void)
{
    struct sim_digest *digest = calloc(1, sizeof(*digest));
    if (digest == NULL)
        return NULL;
    digest->state = XXH3_createState();
    if (digest->state == NULL) {
        free(digest);
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
    free(digest);
}

static size_t event_strings_bytes(const struct sim_trace_event *event)
{
    size_t total_bytes = 0;
    for (uint32_t index = 0; index < event->field_count; index++) {
        if (event->fields[index].type == SIM_FIELD_STR)
            total_bytes += event->fields[index].value.blob.size_bytes;
    }
    return total_bytes;
}

void sim_digest_add(struct sim_digest *digest, const struct sim_trace_event *event)
{
    assert(digest != NULL);
    assert(event != NULL);
    assert(event_strings_bytes(event) <= SIM_TRACE_FIELDS_MAX * SIM_TRACE_STRING_BYTES_MAX);
    size_t size_bytes = sim_digest_encode(event, digest->buffer, sizeof(digest->buffer));
    assert(size_bytes <= sizeof(digest->buffer));
    XXH3_128bits_update(digest->state, digest->buffer, size_bytes);
    digest->events_added++;
}

void sim_digest_hex(const struct sim_digest *digest, char hex[33])
{
    assert(digest != NULL);
    XXH128_hash_t hash = XXH3_128bits_digest(digest->state);
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
    sim_digest_add(state, event);
    return SIM_OK;
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

struct sim_data_stream {
    XXH3_state_t *state;
};

struct sim_data_stream *sim_data_stream_create(void)
{
    struct sim_data_stream *stream = calloc(1, sizeof(*stream));
    if (stream == NULL)
        return NULL;
    stream->state = XXH3_createState();
    if (stream->state == NULL) {
        free(stream);
        return NULL;
    }
    XXH3_64bits_reset(stream->state);
    return stream;
}

void sim_data_stream_destroy(struct sim_data_stream *stream)
{
    if (stream == NULL)
        return;
    XXH3_freeState(stream->state);
    free(stream);
}

void sim_data_stream_update(struct sim_data_stream *stream, const void *data, size_t size_bytes)
{
    assert(stream != NULL);
    assert(data != NULL || size_bytes == 0);
    if (size_bytes > 0)
        XXH3_64bits_update(stream->state, data, size_bytes);
}

uint64_t sim_data_stream_value(const struct sim_data_stream *stream)
{
    assert(stream != NULL);
    return XXH3_64bits_digest(stream->state);
}

struct sim_data_stream *sim_data_stream_clone(const struct sim_data_stream *stream)
{
    assert(stream != NULL);
    struct sim_data_stream *clone = sim_data_stream_create();
    if (clone != NULL)
        XXH3_copyState(clone->state, stream->state);
    return clone;
}

uint64_t sim_data_hash(const void *data, size_t size_bytes)
{
    assert(data != NULL || size_bytes == 0);
    return XXH3_64bits(data, size_bytes);
}

void sim_data_hash_text(uint64_t hash, char text[SIM_DATA_HASH_TEXT_BYTES])
{
    assert(text != NULL);
    static const char digits[] = "0123456789abcdef";
    for (unsigned index = 0; index < 16; index++)
        text[index] = digits[(hash >> (60 - 4 * index)) & 0xF];
    text[16] = '\0';
}
