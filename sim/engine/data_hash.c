/* SPDX-License-Identifier: MIT */
/*
 * sim/engine/data_hash.c: the running data hashes (struct sim_data_stream, trace.h), the
 * XXH3-64 (seed 0) of every byte one stream of data has moved, which emitters put in their
 * events so that the digest covers bytes no event carries (queue-pair rings).
 *
 * Speed (issue 10, item 6): the bytes of a stream are hashed where they are copied.
 * sim_data_stream_copy() copies and hashes in one pass with AVX-512 or AVX2 when the CPU
 * has it (data_hash_avx512.c, data_hash_avx2.c), else copies then hashes; the library's dispatching entry points hash
 * with the widest vector unit there is. Every path gives the same value (XXH3 is defined
 * on bytes, not on a vector width), so no run, trace or digest depends on the CPU. A
 * stream's value, which every enqueue's event carries, is xxhash.h's digest compiled with
 * AVX2 there too; and the reader's check that it caught up with the writer compares the two
 * states before it finalises anything (sim_data_stream_same).
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* struct XXH3_state_s itself, so that a data stream holds its state inline. */
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>
/* On x86-64 the library's dispatching entry points pick the widest vector unit the machine
 * has (AVX2 where the plain entry points use SSE2): the same values, about twice the speed
 * on the bytes of a stream. */
#if defined(__x86_64__) && defined(__has_include)
#if __has_include(<xxh_x86dispatch.h>)
#include <xxh_x86dispatch.h>
#endif
#endif

#include "data_hash.h"
#include "trace.h"
#include "process.h"

_Static_assert(sizeof(XXH3_state_t) == SIM__DATA_HASH_STATE_BYTES, "the state's layout");

/* The state inline (one allocation, no pointer to follow: a fleet's streams are in no
 * cache when their turn comes, issue 10), on the 64-byte boundary XXH3 wants, found in a
 * malloc'd block as XXH3_createState does it (aligned_alloc's memalign made the fleet
 * slower); `block` is what free() takes. */
struct sim_data_stream {
    XXH3_state_t state;
    uint32_t references;        /* sim_data_stream_share(); freed when the last one goes */
    void *block;
};

#define DATA_STREAM_ALIGN_BYTES 64u
_Static_assert(_Alignof(XXH3_state_t) <= DATA_STREAM_ALIGN_BYTES, "the state's alignment");

struct sim_data_stream *sim_data_stream_create(void)
{
    uint8_t *block = malloc(sizeof(struct sim_data_stream) + DATA_STREAM_ALIGN_BYTES - 1);
    if (block == NULL)
        return NULL;
    uintptr_t misalignment = (uintptr_t)block % DATA_STREAM_ALIGN_BYTES;
    size_t offset = misalignment == 0 ? 0 : DATA_STREAM_ALIGN_BYTES - misalignment;
    struct sim_data_stream *stream = (struct sim_data_stream *)(block + offset);
    XXH3_64bits_reset(&stream->state);      /* all the state a 64-bit hash reads */
    stream->references = 1;
    stream->block = block;
    return stream;
}

struct sim_data_stream *sim_data_stream_share(struct sim_data_stream *stream)
{
    assert(stream != NULL);
    assert(stream->references > 0 && stream->references < UINT32_MAX);
    stream->references++;
    return stream;
}

void sim_data_stream_destroy(struct sim_data_stream *stream)
{
    if (stream == NULL)
        return;
    assert(stream->references > 0);
    if (--stream->references > 0)
        return;
    free(stream->block);
}

void sim_data_stream_update(struct sim_data_stream *stream, const void *data, size_t size_bytes)
{
    assert(stream != NULL);
    assert(data != NULL || size_bytes == 0);
    if (size_bytes > 0)
        XXH3_64bits_update(&stream->state, data, size_bytes);
}

uint64_t sim__data_hash_value_portable(const void *hash_state)
{
    assert(hash_state != NULL);
    return XXH3_64bits_digest(hash_state);
}

/* Every enqueue's event carries a value: the AVX2 digest where the CPU has it took about
 * half the instructions of the library's on a 64-byte keep-alive. */
uint64_t sim_data_stream_value(const struct sim_data_stream *stream)
{
    assert(stream != NULL);
    if (sim__data_hash_avx2_usable())
        return sim__data_hash_value_avx2(&stream->state);
    return sim__data_hash_value_portable(&stream->state);
}

/* XXH3's own sizes (xxhash.h defines them only for its implementation): inputs up to
 * DATA_HASH_SHORT_BYTES_MAX are hashed whole at the digest, longer ones go in stripes. */
#define DATA_HASH_SHORT_BYTES_MAX 240u
#define DATA_HASH_STRIPE_BYTES 64u
_Static_assert(XXH3_INTERNALBUFFER_SIZE % DATA_HASH_STRIPE_BYTES == 0, "whole stripes buffered");
/* digest_inputs_equal() names what XXH3_64bits_digest reads in the 0.8 series; another
 * series must be read again before it is trusted. */
_Static_assert(XXH_VERSION_MAJOR == 0 && XXH_VERSION_MINOR == 8, "xxhash 0.8's digest inputs");

/* True when the two states hold the same inputs of XXH3_64bits_digest (xxhash.h 0.8,
 * XXH3_64bits_digest and XXH3_digest_long): the same secret, seed and length, and then the
 * bytes of a short input, or the accumulators, the stripe count, the buffered bytes and (with
 * less than a stripe buffered) the last stripe's tail that the digest takes from the end of
 * the buffer. Equal inputs give equal values, so `true` is exact; `false` says nothing (the
 * same bytes cut differently may leave different states), and the caller digests both. */
static bool digest_inputs_equal(const XXH3_state_t *a, const XXH3_state_t *b)
{
    if (a->extSecret == NULL || a->extSecret != b->extSecret || a->secretLimit != b->secretLimit ||
        a->useSeed != b->useSeed || a->seed != b->seed || a->totalLen != b->totalLen)
        return false;
    if (a->totalLen <= DATA_HASH_SHORT_BYTES_MAX)
        return memcmp(a->buffer, b->buffer, (size_t)a->totalLen) == 0;
    uint32_t buffered_bytes = a->bufferedSize;
    if (buffered_bytes != b->bufferedSize || a->nbStripesSoFar != b->nbStripesSoFar ||
        a->nbStripesPerBlock != b->nbStripesPerBlock ||
        memcmp(a->acc, b->acc, sizeof(a->acc)) != 0 ||
        memcmp(a->buffer, b->buffer, buffered_bytes) != 0)
        return false;
    if (buffered_bytes >= DATA_HASH_STRIPE_BYTES)
        return true;
    size_t catch_up_bytes = DATA_HASH_STRIPE_BYTES - buffered_bytes;
    size_t catch_up_at = sizeof(a->buffer) - catch_up_bytes;
    return memcmp(a->buffer + catch_up_at, b->buffer + catch_up_at, catch_up_bytes) == 0;
}

bool sim_data_stream_same(const struct sim_data_stream *a, const struct sim_data_stream *b)
{
    assert(a != NULL && b != NULL);
    if (a == b || digest_inputs_equal(&a->state, &b->state))
        return true;
    return sim_data_stream_value(a) == sim_data_stream_value(b);
}

void sim_data_stream_prefetch_spans(const struct sim_data_stream *stream,
                                    struct sim_prefetch_spans *spans)
{
    assert(stream != NULL);
    /* What an update and a value read: the accumulators, then the buffer and the lengths
     * after it (the custom secret between them is unused: the default secret is static). */
    sim_prefetch_spans_add(spans, stream->state.acc, sizeof(stream->state.acc));
    sim_prefetch_spans_add(spans, stream->state.buffer,
                           sizeof(stream->state) - offsetof(XXH3_state_t, buffer));
}

void sim_data_stream_prefetch(const struct sim_data_stream *stream)
{
    assert(stream != NULL);
    __builtin_prefetch(stream->state.acc, 1);
    __builtin_prefetch(&stream->state.bufferedSize, 1);
}

struct sim_data_stream *sim_data_stream_clone(const struct sim_data_stream *stream)
{
    assert(stream != NULL);
    struct sim_data_stream *clone = sim_data_stream_create();
    if (clone != NULL)
        XXH3_copyState(&clone->state, &stream->state);
    return clone;
}

bool sim__data_hash_avx2_usable(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    return __builtin_cpu_supports("avx2");      /* libgcc also asks the OS (XGETBV) */
#else
    return false;
#endif
}

bool sim__data_hash_avx512_usable(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    return __builtin_cpu_supports("avx512f");   /* the OS's ZMM state too, as above */
#else
    return false;
#endif
}

void sim__data_hash_copy_portable(void *hash_state, void *target, const void *source,
                                  size_t size_bytes)
{
    assert(hash_state != NULL);
    assert((target != NULL && source != NULL) || size_bytes == 0);
    if (size_bytes == 0)
        return;
    memcpy(target, source, size_bytes);
    XXH3_64bits_update(hash_state, source, size_bytes);
}

/* Below this the two passes are in the first-level cache anyway, and the fused one only
 * adds its set-up. */
#define DATA_STREAM_FUSED_COPY_BYTES_MIN 1024u

void sim_data_stream_copy(struct sim_data_stream *stream, void *target, const void *source,
                          size_t size_bytes)
{
    assert(stream != NULL);
    assert((target != NULL && source != NULL) || size_bytes == 0);
    assert(size_bytes == 0 || (const uint8_t *)target + size_bytes <= (const uint8_t *)source ||
           (const uint8_t *)source + size_bytes <= (const uint8_t *)target);
    if (size_bytes < DATA_STREAM_FUSED_COPY_BYTES_MIN)
        sim__data_hash_copy_portable(&stream->state, target, source, size_bytes);
    else if (sim__data_hash_avx512_usable())
        sim__data_hash_copy_avx512(&stream->state, target, source, size_bytes);
    else if (sim__data_hash_avx2_usable())
        sim__data_hash_copy_avx2(&stream->state, target, source, size_bytes);
    else
        sim__data_hash_copy_portable(&stream->state, target, source, size_bytes);
}
