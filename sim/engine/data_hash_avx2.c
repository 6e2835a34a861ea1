/* SPDX-License-Identifier: MIT */
/*
 * sim/engine/data_hash_avx2.c: copy bytes and extend a running XXH3-64 over them in one
 * pass, with AVX2 (the Makefile builds this file alone with -mavx2; data_hash.c calls it
 * only on a CPU that has AVX2, and otherwise copies and hashes in two passes).
 *
 * Why: every byte a stream moves is copied into a queue-pair ring and hashed for the
 * digest. Two passes (memcpy, then XXH3) read the bytes twice and cost about as much as
 * two copies; here each 64-byte stripe is loaded once, stored to the target and folded
 * into the accumulators.
 *
 * The accumulator arithmetic is xxhash.h's AVX2 code itself (XXH_INLINE_ALL); where a
 * copy's bytes go (XXH3's buffer, whole stripes) is data_hash_fused.h, shared with the
 * AVX-512 path, whose invariant this keeps: the state afterwards is what
 * XXH3_64bits_update() of the same bytes gives. XXH3 gives the same values on every vector
 * path, which tests/unit/data_hash_test.c checks against the library on many sizes and cuts.
 *
 * Invariant: both entry points return with the upper halves of the vector registers clean
 * (`vzeroupper`, explicitly at every exit: leave_vector_state_clean). The rest of vmcisim
 * and its libraries are mostly SSE code, which runs slower after 256-bit code left those
 * halves dirty, until the next vzeroupper anywhere. The compiler's own insertion is not
 * enough: GCC 12 at -O2 left sim__data_hash_value_avx2 (whose AVX2 path calls
 * XXH3_mergeAccs, which uses no vector registers, out of line) without one, and a sweep
 * took about 14 % longer (docs/architecture.md, "Speed of one run", session 13).
 * tests/unit/avx_upper_state_test.c checks it on the CPU itself.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "data_hash.h"

#if !defined(__x86_64__)
/* No AVX2 here: sim__data_hash_avx2_usable() is false, and these are never called. */
void sim__data_hash_copy_avx2(void *hash_state, void *target, const void *source,
                              size_t size_bytes)
{
    sim__data_hash_copy_portable(hash_state, target, source, size_bytes);
}

uint64_t sim__data_hash_value_avx2(const void *hash_state)
{
    return sim__data_hash_value_portable(hash_state);
}
#else

#define XXH_INLINE_ALL
#include <xxhash.h>

#if !defined(__AVX2__) || XXH_VECTOR != XXH_AVX2
#error "sim/engine/data_hash_avx2.c must be built with -mavx2 (see the Makefile)"
#endif

_Static_assert(sizeof(XXH3_state_t) == SIM__DATA_HASH_STATE_BYTES, "the state's layout");

/* The last thing before every return of this file's entry points (see the header): one
 * vzeroupper, cheap, and a no-op for the values (nothing vector is live across it). */
static inline void leave_vector_state_clean(void)
{
    _mm256_zeroupper();
}

/* XXH3_accumulate_512_avx2 of one stripe into the two halves of the accumulators, the
 * stripe also stored to `target` (NULL: hashing only). The halves are values, not memory:
 * a store through `target` may alias anything, and would make the compiler reload them. */
static inline void stripe_accumulate(__m256i *low, __m256i *high, const uint8_t *input,
                                     uint8_t *target, const uint8_t *secret)
{
    __m256i data[2] = {
        _mm256_loadu_si256((const __m256i *)(const void *)input),
        _mm256_loadu_si256((const __m256i *)(const void *)(input + 32)),
    };
    if (target != NULL) {
        _mm256_storeu_si256((__m256i *)(void *)target, data[0]);
        _mm256_storeu_si256((__m256i *)(void *)(target + 32), data[1]);
    }
    __m256i sums[2];
    for (unsigned half = 0; half < 2; half++) {
        __m256i key = _mm256_loadu_si256((const __m256i *)(const void *)(secret + 32 * half));
        __m256i data_key = _mm256_xor_si256(data[half], key);
        __m256i data_key_high = _mm256_shuffle_epi32(data_key, _MM_SHUFFLE(0, 3, 0, 1));
        __m256i product = _mm256_mul_epu32(data_key, data_key_high);
        sums[half] = _mm256_add_epi64(product,
                                      _mm256_shuffle_epi32(data[half], _MM_SHUFFLE(1, 0, 3, 2)));
    }
    *low = _mm256_add_epi64(*low, sums[0]);
    *high = _mm256_add_epi64(*high, sums[1]);
}

/* Folds `count` whole stripes from `input` into the state's accumulators (copying them to
 * `target` unless NULL), scrambling at every block end as XXH3_consumeStripes does. */
static void stripes_consume(XXH3_state_t *state, const uint8_t *input, uint8_t *target,
                            size_t count, const uint8_t *secret)
{
    __m256i low = _mm256_load_si256((const __m256i *)(const void *)state->acc);
    __m256i high = _mm256_load_si256((const __m256i *)(const void *)(state->acc + 4));
    while (count > 0) {
        size_t in_block = state->nbStripesPerBlock - state->nbStripesSoFar;
        size_t now = count < in_block ? count : in_block;
        const uint8_t *key = secret + state->nbStripesSoFar * XXH_SECRET_CONSUME_RATE;
        if (target != NULL) {
            for (size_t stripe = 0; stripe < now; stripe++) {
                XXH_PREFETCH(input + XXH_PREFETCH_DIST);
                /* The target too: a string's new block is usually in no cache, and each
                 * store would otherwise wait for its line (64 KiB into cold memory: 18.7
                 * to 22.2 GB/s, as fast as glibc's memcpy there; into a warm ring 26.6
                 * to 28.4). A prefetch never faults, past the target's end either. */
                XXH_PREFETCH(target + XXH_PREFETCH_DIST);
                stripe_accumulate(&low, &high, input, target, key);
                input += XXH_STRIPE_LEN;
                target += XXH_STRIPE_LEN;
                key += XXH_SECRET_CONSUME_RATE;
            }
        } else {
            for (size_t stripe = 0; stripe < now; stripe++) {
                stripe_accumulate(&low, &high, input, NULL, key);
                input += XXH_STRIPE_LEN;
                key += XXH_SECRET_CONSUME_RATE;
            }
        }
        count -= now;
        state->nbStripesSoFar += now;
        if (state->nbStripesSoFar == state->nbStripesPerBlock) {
            XXH_ALIGN(32) uint64_t lanes[XXH_ACC_NB];
            _mm256_store_si256((__m256i *)(void *)lanes, low);
            _mm256_store_si256((__m256i *)(void *)(lanes + 4), high);
            XXH3_scrambleAcc_avx2(lanes, secret + state->secretLimit);
            low = _mm256_load_si256((const __m256i *)(const void *)lanes);
            high = _mm256_load_si256((const __m256i *)(const void *)(lanes + 4));
            state->nbStripesSoFar = 0;
        }
    }
    _mm256_store_si256((__m256i *)(void *)state->acc, low);
    _mm256_store_si256((__m256i *)(void *)(state->acc + 4), high);
}

#include "data_hash_fused.h"

void sim__data_hash_copy_avx2(void *hash_state, void *target, const void *source,
                              size_t size_bytes)
{
    fused_copy_update(hash_state, target, source, size_bytes);
    leave_vector_state_clean();
}

uint64_t sim__data_hash_value_avx2(const void *hash_state)
{
    assert(hash_state != NULL);
    /* xxhash.h's own digest, inlined here, so its last stripes go through AVX2 (the library's
     * digest is not dispatched and takes them with SSE2). */
    uint64_t value = XXH3_64bits_digest(hash_state);
    leave_vector_state_clean();
    return value;
}

#endif /* __x86_64__ */
