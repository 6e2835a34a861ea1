/* SPDX-License-Identifier: MIT */
/*
 * sim/engine/data_hash.h: inside the running data hashes (struct sim_data_stream, trace.h):
 * the ways of copying bytes while extending a stream's XXH3 state, for data_hash.c and for
 * the test that proves they agree.
 *
 * Every translation unit that touches the state (data_hash.c through the library's API,
 * data_hash_avx2.c and data_hash_avx512.c through xxhash.h inlined) checks that it sees
 * the same layout.
 */
#ifndef SIM_ENGINE_DATA_HASH_H
#define SIM_ENGINE_DATA_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* sizeof(XXH3_state_t) in the xxhash.h this is built with (0.8.x): 8 accumulators, the
 * secret, the 256-byte buffer and the counters, on 64-byte alignment. */
#define SIM__DATA_HASH_STATE_BYTES 576u

/* True when this CPU (and its operating system) runs AVX2 code; AVX-512F code. */
bool sim__data_hash_avx2_usable(void);
bool sim__data_hash_avx512_usable(void);

/* Copies `size_bytes` from `source` to `target` (not overlapping) and extends the XXH3-64
 * state `hash_state` (an XXH3_state_t) by them: the result of memcpy() followed by
 * XXH3_64bits_update(). The portable one does exactly that, in two passes; the AVX2 one
 * (only where sim__data_hash_avx2_usable()) and the AVX-512 one (only where
 * sim__data_hash_avx512_usable()) read each byte once. */
void sim__data_hash_copy_portable(void *hash_state, void *target, const void *source,
                                  size_t size_bytes);
void sim__data_hash_copy_avx2(void *hash_state, void *target, const void *source,
                              size_t size_bytes);
void sim__data_hash_copy_avx512(void *hash_state, void *target, const void *source,
                                size_t size_bytes);

/* XXH3_64bits_digest() of the state `hash_state`: the library's (whose last stripes take
 * the SSE2 path whatever the CPU), and xxhash.h's own compiled with AVX2 (only where
 * sim__data_hash_avx2_usable()). The same value. */
uint64_t sim__data_hash_value_portable(const void *hash_state);
uint64_t sim__data_hash_value_avx2(const void *hash_state);

#endif /* SIM_ENGINE_DATA_HASH_H */
