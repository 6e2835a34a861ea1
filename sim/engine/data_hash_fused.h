/* SPDX-License-Identifier: MIT */
/*
 * sim/engine/data_hash_fused.h: the part of the one-pass copy-and-hash that does not depend
 * on the vector width: where a copy's bytes go in XXH3's buffer and its stripes. Included
 * by data_hash_avx2.c and data_hash_avx512.c only, after xxhash.h (XXH_INLINE_ALL) and
 * after their own
 *
 *     static void stripes_consume(XXH3_state_t *state, const uint8_t *input,
 *                                 uint8_t *target, size_t count, const uint8_t *secret);
 *
 * which folds `count` whole stripes from `input` into state->acc (copying them to `target`
 * unless NULL), scrambling at every block end, as XXH3_consumeStripes does.
 *
 * Invariant: the state afterwards hashes to exactly what XXH3_64bits_update() of the same
 * bytes would give (and keeps extending identically): XXH3's value is defined by the
 * stripes, the block boundaries where the accumulators are scrambled, and the last bytes
 * left buffered for the digest; this keeps all three as xxhash.h's own update does:
 *   - stripes are accumulated with the secret offset of their place in the block, and the
 *     accumulators are scrambled as soon as a block is complete (stripes_consume);
 *   - at least one byte, at most XXH3_INTERNALBUFFER_SIZE, stays buffered (the last stripe
 *     is taken with another secret by the digest), and when fewer than a stripe are
 *     buffered the buffer's last stripe holds the bytes just before them.
 */
#ifndef SIM_ENGINE_DATA_HASH_FUSED_H
#define SIM_ENGINE_DATA_HASH_FUSED_H

#include <assert.h>
#include <stdint.h>
#include <string.h>

_Static_assert(XXH3_INTERNALBUFFER_SIZE % XXH_STRIPE_LEN == 0, "whole stripes buffered");

#define FUSED_BUFFER_STRIPES (XXH3_INTERNALBUFFER_SIZE / XXH_STRIPE_LEN)

/* memcpy(target, source, size_bytes) then XXH3_64bits_update(state, source, size_bytes),
 * reading each byte once where it goes through whole stripes. */
static inline void fused_copy_update(XXH3_state_t *state, uint8_t *output,
                                     const uint8_t *input, size_t size_bytes)
{
    assert(state != NULL && (output != NULL || size_bytes == 0));
    assert(state->bufferedSize <= XXH3_INTERNALBUFFER_SIZE);
    assert(state->nbStripesSoFar < state->nbStripesPerBlock);
    if (state->bufferedSize + size_bytes <= XXH3_INTERNALBUFFER_SIZE) {
        memcpy(output, input, size_bytes);      /* only buffered: nothing to fuse */
        XXH3_64bits_update(state, input, size_bytes);
        return;
    }
    const uint8_t *secret = state->extSecret != NULL ? state->extSecret : state->customSecret;
    state->totalLen += size_bytes;
    /* Complete the buffer and fold it in: those stripes are followed by more bytes. */
    size_t lead_bytes = XXH3_INTERNALBUFFER_SIZE - state->bufferedSize;
    memcpy(state->buffer + state->bufferedSize, input, lead_bytes);
    memcpy(output, input, lead_bytes);
    stripes_consume(state, state->buffer, NULL, FUSED_BUFFER_STRIPES, secret);
    state->bufferedSize = 0;
    input += lead_bytes;
    output += lead_bytes;
    /* Every whole stripe but the last one (which the digest takes with its own secret). */
    size_t rest_bytes = size_bytes - lead_bytes;
    assert(rest_bytes > 0);
    size_t stripes = (rest_bytes - 1) / XXH_STRIPE_LEN;
    stripes_consume(state, input, output, stripes, secret);
    input += stripes * XXH_STRIPE_LEN;
    output += stripes * XXH_STRIPE_LEN;
    size_t tail_bytes = rest_bytes - stripes * XXH_STRIPE_LEN;
    assert(tail_bytes >= 1 && tail_bytes <= XXH_STRIPE_LEN);
    /* The stripe before the tail, for a digest of fewer than a stripe buffered (when no
     * stripe came from `input`, the buffer's last stripe is that one already). */
    if (stripes > 0)
        memcpy(state->buffer + XXH3_INTERNALBUFFER_SIZE - XXH_STRIPE_LEN,
               input - XXH_STRIPE_LEN, XXH_STRIPE_LEN);
    memcpy(state->buffer, input, tail_bytes);
    memcpy(output, input, tail_bytes);
    state->bufferedSize = (XXH32_hash_t)tail_bytes;
}

#endif /* SIM_ENGINE_DATA_HASH_FUSED_H */
