/* SPDX-License-Identifier: MIT */
/*
 * sim/engine/data_hash_avx512.c: copy bytes and extend a running XXH3-64 over them in one
 * pass, with AVX-512 (the Makefile builds this file alone with -mavx512f; data_hash.c calls
 * it only on a CPU that has AVX-512F, before the AVX2 path of data_hash_avx2.c).
 *
 * Why: a 64-byte stripe is one register here, so each stripe is one load, one store and
 * six vector operations instead of two of each (the byte passes of a stream are most of
 * an untraced run's time; docs/architecture.md, "session 13, stream bytes").
 *
 * Invariant: the state afterwards is what XXH3_64bits_update() of the same bytes gives
 * (data_hash_fused.h places the bytes; the arithmetic is XXH3_accumulate_512_avx512's, the
 * scramble xxhash.h's own through XXH_INLINE_ALL); tests/unit/data_hash_test.c checks it
 * against the library on many sizes and cuts where the CPU has AVX-512F. Valgrind runs no
 * AVX-512, and there the CPU reports none, so profiles take the AVX2 path.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "data_hash.h"

#if !defined(__x86_64__)
/* No AVX-512 here: sim__data_hash_avx512_usable() is false, and this is never called. */
void sim__data_hash_copy_avx512(void *hash_state, void *target, const void *source,
                                size_t size_bytes)
{
    sim__data_hash_copy_portable(hash_state, target, source, size_bytes);
}
#else

#define XXH_INLINE_ALL
#include <xxhash.h>

#if !defined(__AVX512F__) || XXH_VECTOR != XXH_AVX512
#error "sim/engine/data_hash_avx512.c must be built with -mavx512f (see the Makefile)"
#endif

_Static_assert(sizeof(XXH3_state_t) == SIM__DATA_HASH_STATE_BYTES, "the state's layout");
_Static_assert(XXH_STRIPE_LEN == sizeof(__m512i), "a stripe is one register");

/* XXH3_accumulate_512_avx512 of one stripe into the accumulators `acc`, the stripe also
 * stored to `target` (NULL: hashing only). The accumulators are a value, not memory: a
 * store through `target` may alias anything, and would make the compiler reload them. */
static inline __m512i stripe_accumulate(__m512i acc, const uint8_t *input, uint8_t *target,
                                        const uint8_t *secret)
{
    __m512i data = _mm512_loadu_si512((const void *)input);
    if (target != NULL)
        _mm512_storeu_si512((void *)target, data);
    __m512i data_key = _mm512_xor_si512(data, _mm512_loadu_si512((const void *)secret));
    /* The product of each lane's two 32-bit halves: mul_epu32 reads the low ones. */
    __m512i product = _mm512_mul_epu32(data_key, _mm512_srli_epi64(data_key, 32));
    __m512i swapped = _mm512_shuffle_epi32(data, (_MM_PERM_ENUM)_MM_SHUFFLE(1, 0, 3, 2));
    return _mm512_add_epi64(acc, _mm512_add_epi64(product, swapped));
}

/* Folds `count` whole stripes from `input` into the state's accumulators (copying them to
 * `target` unless NULL), scrambling at every block end as XXH3_consumeStripes does. */
static void stripes_consume(XXH3_state_t *state, const uint8_t *input, uint8_t *target,
                            size_t count, const uint8_t *secret)
{
    __m512i acc = _mm512_load_si512((const void *)state->acc);
    while (count > 0) {
        size_t in_block = state->nbStripesPerBlock - state->nbStripesSoFar;
        size_t now = count < in_block ? count : in_block;
        const uint8_t *key = secret + state->nbStripesSoFar * XXH_SECRET_CONSUME_RATE;
        if (target != NULL) {
            for (size_t stripe = 0; stripe < now; stripe++) {
                /* As the AVX2 path: the target's line too, often in no cache (a new
                 * string's block). */
                XXH_PREFETCH(input + XXH_PREFETCH_DIST);
                XXH_PREFETCH(target + XXH_PREFETCH_DIST);
                acc = stripe_accumulate(acc, input, target, key);
                input += XXH_STRIPE_LEN;
                target += XXH_STRIPE_LEN;
                key += XXH_SECRET_CONSUME_RATE;
            }
        } else {
            for (size_t stripe = 0; stripe < now; stripe++) {
                acc = stripe_accumulate(acc, input, NULL, key);
                input += XXH_STRIPE_LEN;
                key += XXH_SECRET_CONSUME_RATE;
            }
        }
        count -= now;
        state->nbStripesSoFar += now;
        if (state->nbStripesSoFar == state->nbStripesPerBlock) {
            XXH_ALIGN(64) uint64_t lanes[XXH_ACC_NB];
            _mm512_store_si512((void *)lanes, acc);
            XXH3_scrambleAcc_avx512(lanes, secret + state->secretLimit);
            acc = _mm512_load_si512((const void *)lanes);
            state->nbStripesSoFar = 0;
        }
    }
    _mm512_store_si512((void *)state->acc, acc);
}

#include "data_hash_fused.h"

void sim__data_hash_copy_avx512(void *hash_state, void *target, const void *source,
                                size_t size_bytes)
{
    fused_copy_update(hash_state, target, source, size_bytes);
    /* Explicit, as in data_hash_avx2.c: the SSE code after it must not find the upper
     * halves dirty, and the compiler's own insertion has missed a path before
     * (tests/unit/avx_upper_state_test.c checks this one too). */
    _mm256_zeroupper();
}

#endif /* __x86_64__ */
