/* SPDX-License-Identifier: MIT */
/*
 * sim/engine/trace.h: the trace sink API.
 *
 * Every layer reports what happened as typed events: (sequence, simulated time,
 * context id, process id, layer, kind, up to SIM_TRACE_FIELDS_MAX typed fields).
 * The engine stamps sequence and time and hands each event to every attached
 * sink whose level admits the event's layer. The digest sink sees every layer
 * whatever the level (architecture.md, "Traces").
 *
 * The engine knows no kinds: a kind is a short string owned by the layer that
 * emits it ("log", "proc_spawn", "dg_route", ...). Field names and kind strings
 * must be string literals or otherwise outlive the run; string and bytes values
 * are borrowed only for the duration of the emit call.
 *
 * Each kind and field name also carries its name id (sim_trace_name_id): a 64-bit value
 * computed from the name's bytes alone, which the digest encodes instead of the name. The
 * builders below compute it inline, so for a literal name the compiler does it once; an
 * event filled by hand leaves it 0 ("not known") and the digest computes it then.
 */
#ifndef SIM_ENGINE_TRACE_H
#define SIM_ENGINE_TRACE_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "limits.h"

/* The builders are inlined at every call, even where the compiler would rather call one
 * copy: only inline does a literal name's length and id become constants. */
#define SIM_TRACE_INLINE static inline __attribute__((always_inline))

/* Layers from the top; a trace level L admits layers <= L. */
enum sim_layer {
    SIM_LAYER_OFF = 0,      /* only as a level: nothing is written */
    SIM_LAYER_API = 1,      /* socket and process calls, sim.log, expect */
    SIM_LAYER_TRANSPORT = 2,/* vSockets control packets, notifications, socket QP operations */
    SIM_LAYER_VMCI = 3,     /* hypervisor routing, datagram hops, events, broker, doorbells */
    SIM_LAYER_DEVICE = 4,   /* register accesses and interrupts */
};
#define SIM_LAYER_COUNT 5

const char *sim_layer_name(enum sim_layer layer);
/* Returns the layer for "off", "api", "transport", "vmci", "device"; -1 if unknown. */
int sim_layer_parse(const char *name);

enum sim_field_type {
    SIM_FIELD_U64 = 1,
    SIM_FIELD_I64 = 2,
    SIM_FIELD_STR = 3,      /* text, length-counted, at most SIM_TRACE_STRING_BYTES_MAX */
    SIM_FIELD_BYTES = 4,    /* payload; the digest covers its XXH3-64, the trace stores it */
    SIM_FIELD_PAYLOAD = 5,  /* bytes the trace stores (cut to --payload); the digest skips them:
                               a data hash field of the same event covers them */
};

struct sim_trace_field {
    const char *name;               /* static */
    enum sim_field_type type;
    /* strlen(name), measured once by the builders (at compile time for a literal, since they
     * are inline): 0 means not known and sinks measure the name themselves. A value that
     * does not match the name is a programmer error (the digest asserts it). */
    uint32_t name_bytes;
    union {
        uint64_t u64;
        int64_t i64;
        struct {
            const void *data;       /* borrowed for the emit call */
            uint32_t size_bytes;
        } blob;                     /* STR, BYTES and PAYLOAD */
    } value;
    /* sim_trace_name_id(name), set by the builders (a constant for a literal); 0 means not
     * known and the digest computes it. Any other value that is not the name's id is a
     * programmer error (the digest checks a sample of events). */
    uint64_t name_id;
};

struct sim_trace_event {
    uint64_t seq;                   /* stamped by the engine: 0, 1, 2, ... per run */
    uint64_t time_ns;               /* stamped by the engine: the current simulated time */
    uint32_t ctx;                   /* context id (2 host, guest CIDs, 0 hypervisor) */
    uint32_t pid;                   /* process id, 0 when no process is involved */
    enum sim_layer layer;
    const char *kind;               /* static, [a-z0-9_]+, at most 63 bytes */
    uint32_t field_count;
    uint32_t kind_bytes;            /* strlen(kind) set by sim_trace_event_init; 0: not known */
    uint64_t kind_id;               /* sim_trace_name_id(kind) set likewise; 0: not known */
    struct sim_trace_field fields[SIM_TRACE_FIELDS_MAX];
};

/* A sink receives admitted events in sequence order. `emit` returns 0, or a negative
 * SIM_E* code that stops the run (e.g. the trace file's disk is full); on failure the
 * sink writes a message into `message` (SIM_ERROR_MESSAGE_BYTES_MAX bytes). */
struct sim_trace_sink {
    const char *name;
    enum sim_layer level;           /* admits layers <= level */
    int (*emit)(void *state, const struct sim_trace_event *event, char *message);
    void *state;                    /* borrowed: owned by whoever attached the sink */
    /* NULL: every kind. Otherwise the sink wants only events of this kind, and the engine
     * skips the others without calling it (a sink that reads one kind costs nothing on
     * the other events of a run). */
    const char *kind_only;
    /* NULL, or a second kind the sink wants as well (only with kind_only). */
    const char *kind_also;
};

/* The name id: a fixed function of a name's length and bytes (docs/digest-vectors.md gives
 * it step by step, with vectors). Words are read little-endian with fixed-size loads that
 * stay inside the name (the last one overlaps the one before), so for a literal the
 * compiler computes the whole value, and a name stored anywhere gets the same id. */
#define SIM_NAME_ID_SEED 0x243F6A8885A308D3ull
#define SIM_NAME_ID_WORD_MULTIPLIER 0x9E3779B97F4A7C15ull
#define SIM_NAME_ID_ROUND_MULTIPLIER 0xBF58476D1CE4E5B9ull
#define SIM_NAME_ID_FINAL_MULTIPLIER 0x94D049BB133111EBull

SIM_TRACE_INLINE uint64_t sim__name_id_load(const char *bytes, unsigned size_bytes)
{
    uint64_t word = 0;
    if (size_bytes == 8) {
        memcpy(&word, bytes, 8);
    } else {
        uint32_t half;
        memcpy(&half, bytes, 4);
        word = half;
    }
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    word = size_bytes == 8 ? __builtin_bswap64(word) : __builtin_bswap32((uint32_t)word);
#endif
    return word;
}

SIM_TRACE_INLINE uint64_t sim__name_id_round(uint64_t state, uint64_t word)
{
    state ^= word * SIM_NAME_ID_WORD_MULTIPLIER;
    state = (state << 29) | (state >> 35);
    return state * SIM_NAME_ID_ROUND_MULTIPLIER;
}

SIM_TRACE_INLINE uint64_t sim_trace_name_id(const char *name, uint32_t size_bytes)
{
    assert(name != NULL);
    uint64_t state = SIM_NAME_ID_SEED ^ size_bytes;
    if (size_bytes >= 8) {
        uint32_t offset = 0;
        for (; offset + 8 < size_bytes; offset += 8)
            state = sim__name_id_round(state, sim__name_id_load(name + offset, 8));
        state = sim__name_id_round(state, sim__name_id_load(name + size_bytes - 8, 8));
    } else if (size_bytes >= 4) {
        state = sim__name_id_round(state, sim__name_id_load(name, 4) |
                                          sim__name_id_load(name + size_bytes - 4, 4) << 32);
    } else if (size_bytes > 0) {
        const unsigned char *bytes = (const unsigned char *)name;
        state = sim__name_id_round(state, (uint64_t)bytes[0] |
                                          (uint64_t)bytes[size_bytes / 2] << 8 |
                                          (uint64_t)bytes[size_bytes - 1] << 16);
    }
    state ^= state >> 32;
    state *= SIM_NAME_ID_FINAL_MULTIPLIER;
    return state ^ (state >> 29);
}

/* Fills layer, kind (its length and id), ctx and pid; zeroes seq, time and the field count.
 * Inline, like the builders below, so a literal kind or field name is measured by the
 * compiler and not at every event. */
SIM_TRACE_INLINE void sim_trace_event_init(struct sim_trace_event *event, enum sim_layer layer,
                                           const char *kind, uint32_t ctx, uint32_t pid)
{
    assert(event != NULL);
    assert(layer > SIM_LAYER_OFF && layer < SIM_LAYER_COUNT);
    assert(kind != NULL);
    memset(event, 0, offsetof(struct sim_trace_event, fields));
    event->layer = layer;
    event->kind = kind;
    event->kind_bytes = (uint32_t)strlen(kind);
    event->kind_id = sim_trace_name_id(kind, event->kind_bytes);
    event->ctx = ctx;
    event->pid = pid;
}

/* Builders used by emitters: they fill event->fields[event->field_count++]. They assert
 * what the API promises (field count, string sizes), so a layer that emits a malformed
 * event fails in its own test, not in a sink. */
SIM_TRACE_INLINE struct sim_trace_field *sim__trace_field_next(struct sim_trace_event *event,
                                                               const char *name,
                                                               enum sim_field_type type)
{
    assert(event != NULL);
    assert(name != NULL);
    assert(event->field_count < SIM_TRACE_FIELDS_MAX);
    struct sim_trace_field *field = &event->fields[event->field_count];
    event->field_count++;
    field->name = name;
    field->name_bytes = (uint32_t)strlen(name);
    field->name_id = sim_trace_name_id(name, field->name_bytes);
    field->type = type;
    return field;
}

SIM_TRACE_INLINE void sim_trace_field_u64(struct sim_trace_event *event, const char *name,
                                          uint64_t value)
{
    sim__trace_field_next(event, name, SIM_FIELD_U64)->value.u64 = value;
}

SIM_TRACE_INLINE void sim_trace_field_i64(struct sim_trace_event *event, const char *name,
                                          int64_t value)
{
    sim__trace_field_next(event, name, SIM_FIELD_I64)->value.i64 = value;
}

SIM_TRACE_INLINE void sim_trace_field_strn(struct sim_trace_event *event, const char *name,
                                           const char *text, uint32_t size_bytes)
{
    assert(text != NULL || size_bytes == 0);
    assert(size_bytes <= SIM_TRACE_STRING_BYTES_MAX);
    struct sim_trace_field *field = sim__trace_field_next(event, name, SIM_FIELD_STR);
    field->value.blob.data = text;
    field->value.blob.size_bytes = size_bytes;
}

SIM_TRACE_INLINE void sim_trace_field_str(struct sim_trace_event *event, const char *name,
                                          const char *text)
{
    assert(text != NULL);
    size_t size_bytes = strlen(text);
    assert(size_bytes <= SIM_TRACE_STRING_BYTES_MAX);
    sim_trace_field_strn(event, name, text, (uint32_t)size_bytes);
}

SIM_TRACE_INLINE void sim_trace_field_bytes(struct sim_trace_event *event, const char *name,
                                            const void *data, uint32_t size_bytes)
{
    assert(data != NULL || size_bytes == 0);
    assert(size_bytes <= SIM_TRACE_BYTES_MAX);
    struct sim_trace_field *field = sim__trace_field_next(event, name, SIM_FIELD_BYTES);
    field->value.blob.data = data;
    field->value.blob.size_bytes = size_bytes;
}

SIM_TRACE_INLINE void sim_trace_field_payload(struct sim_trace_event *event, const char *name,
                                              const void *data, uint32_t size_bytes)
{
    assert(data != NULL || size_bytes == 0);
    assert(size_bytes <= SIM_TRACE_BYTES_MAX);
    struct sim_trace_field *field = sim__trace_field_next(event, name, SIM_FIELD_PAYLOAD);
    field->value.blob.data = data;
    field->value.blob.size_bytes = size_bytes;
}

/* A sink that discards every event: what unit tests attach when they only need the engine
 * to run (an engine with no sink at all behaves the same). */
struct sim_trace_sink sim_trace_null_sink(void);

/* The digest: XXH3-128 over the canonical encoding documented in docs/trace-schema.md.
 * SIM_DIGEST_ENCODING numbers that encoding (docs/digest-vectors.md): a trace records it, so
 * `replay` can tell a run that changed from a digest computed the way an older vmcisim did.
 * 1: names as their bytes; 2: names as 64-bit ids; 3: no seq, the type folded into the key. */
#define SIM_DIGEST_ENCODING 3
struct sim_digest;
struct sim_digest *sim_digest_create(void);
void sim_digest_destroy(struct sim_digest *digest);
void sim_digest_add(struct sim_digest *digest, const struct sim_trace_event *event);
/* Writes 32 lowercase hex digits and a NUL into hex (33 bytes). */
void sim_digest_hex(const struct sim_digest *digest, char hex[33]);
/* The canonical encoding of one event, for tests and tools. Returns the bytes needed;
 * writes at most capacity_bytes into out (nothing when that is short and memory is out). */
size_t sim_digest_encode(const struct sim_trace_event *event, uint8_t *out, size_t capacity_bytes);
/* A sink that feeds `digest` (level DEVICE: every layer). */
struct sim_trace_sink sim_digest_sink(struct sim_digest *digest);

/* A running XXH3-64 (seed 0) over one stream of data bytes, e.g. one direction of a queue
 * pair. Emitters put its value in an event field, so the digest covers the bytes that moved
 * and not only how many (docs/trace-schema.md, "Data bytes"). An empty stream hashes to
 * sim_data_hash(NULL, 0). Returns NULL when out of memory. */
struct sim_data_stream;
struct sim_data_stream *sim_data_stream_create(void);
/* One more owner of the same stream (the same state, not a copy: an update through any owner
 * is seen by all): two counts of the same bytes hash them once. Returns `stream`. */
struct sim_data_stream *sim_data_stream_share(struct sim_data_stream *stream);
/* Drops one owner; the last one frees the stream. */
void sim_data_stream_destroy(struct sim_data_stream *stream);
void sim_data_stream_update(struct sim_data_stream *stream, const void *data, size_t size_bytes);
/* Copies `size_bytes` from `source` to `target` (not overlapping) and extends the stream by
 * them: the same as memcpy() then sim_data_stream_update(), in one pass over the bytes
 * where the CPU allows (data_hash.c), for the copies that move a stream's data. */
void sim_data_stream_copy(struct sim_data_stream *stream, void *target, const void *source,
                          size_t size_bytes);
uint64_t sim_data_stream_value(const struct sim_data_stream *stream);
/* sim_data_stream_value(a) == sim_data_stream_value(b), most often without computing
 * either: two streams fed the same bytes are most often in the same state (always when fed
 * in the same pieces), and comparing the states is a few word compares where a value costs
 * a digest; other states are digested and compared (data_hash.c). */
bool sim_data_stream_same(const struct sim_data_stream *a, const struct sim_data_stream *b);
/* Starts loading the stream's state (what an update and a value read first) without
 * waiting for it: for callers that know which stream comes next. */
void sim_data_stream_prefetch(const struct sim_data_stream *stream);
struct sim_prefetch_spans;
/* Adds the state's lines to `spans` (sim/engine/process.h). */
void sim_data_stream_prefetch_spans(const struct sim_data_stream *stream,
                                    struct sim_prefetch_spans *spans);
/* A new stream in the same state as `stream` (to extend a copy without touching the
 * original: the invariant checks hash what is still queued). NULL when out of memory. */
struct sim_data_stream *sim_data_stream_clone(const struct sim_data_stream *stream);
/* XXH3-64 (seed 0) of one buffer, e.g. a datagram: the same function as the stream's. */
uint64_t sim_data_hash(const void *data, size_t size_bytes);
/* A data hash as events carry it: 16 lowercase hex digits, most significant first, and a
 * NUL (a string field, so that SQL reads every value the same way: a U64 above 2^63-1 would
 * be a JSON string and the others integers). */
#define SIM_DATA_HASH_TEXT_BYTES 17u
void sim_data_hash_text(uint64_t hash, char text[SIM_DATA_HASH_TEXT_BYTES]);

#endif /* SIM_ENGINE_TRACE_H */
