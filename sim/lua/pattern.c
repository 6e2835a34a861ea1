/* SPDX-License-Identifier: MIT */
/*
 * sim/lua/pattern.c: sim.pattern(seed, offset, length), the deterministic bytes scenarios
 * send and check (docs/scenario-api.md gives the formula).
 *
 * Byte k of pattern `seed` is byte k % 8 (least significant first) of the SplitMix64
 * finaliser of seed + (k / 8) * 0x9E3779B97F4A7C15. The bytes depend on nothing but the
 * arguments: where the machine has AVX2 the whole 8-byte blocks are made four at a time,
 * with the same arithmetic (the 64-bit products are built from 32-bit ones, which AVX2
 * has), so the same bytes come out on every machine (tests/unit/lua_runtime_test.c checks
 * both ways against the formula).
 *
 * The Lua objects a call makes are those of the lauxlib buffer it always used: only the
 * string for up to LUAL_BUFFERSIZE bytes (filled on the C stack here, as lauxlib did in
 * the luaL_Buffer), the buffer's box and the string beyond (the box is still made by
 * lauxlib: its __close call is part of what a scenario can run into, at the C-call limit).
 * So creation numbers and the collector's pace are unchanged (tests/objects_test.sh).
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "lua_int.h"
#include "sim/engine/rng.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define PATTERN_AVX2 1
#else
#define PATTERN_AVX2 0
#endif

#define PATTERN_STEP 0x9E3779B97F4A7C15ull
#define PATTERN_MULTIPLIER_FIRST 0xBF58476D1CE4E5B9ull   /* sim_splitmix64_mix's two */
#define PATTERN_MULTIPLIER_SECOND 0x94D049BB133111EBull
/* Whole blocks below which the vector loop is not worth its set-up. */
#define PATTERN_AVX2_BLOCKS_MIN 8u

_Static_assert(LUAL_BUFFERSIZE > 0 && LUAL_BUFFERSIZE <= 65536,
               "a pattern of up to LUAL_BUFFERSIZE bytes is made on the C stack");

#if PATTERN_AVX2
/* The low 64 bits of each lane's product with a constant given as its low and high 32 bits
 * (in every lane): lo*lo + ((hi*lo + lo*hi) << 32), all modulo 2^64 as in C. */
__attribute__((target("avx2"))) static inline __m256i multiply_low64(__m256i value,
                                                                      __m256i low,
                                                                      __m256i high)
{
    __m256i low_product = _mm256_mul_epu32(value, low);
    __m256i cross = _mm256_add_epi64(_mm256_mul_epu32(_mm256_srli_epi64(value, 32), low),
                                     _mm256_mul_epu32(value, high));
    return _mm256_add_epi64(low_product, _mm256_slli_epi64(cross, 32));
}

/* Blocks block .. block + count - 1 (count a multiple of 4) into out, 32 bytes a round. */
__attribute__((target("avx2"))) static void blocks_avx2(uint8_t *out, uint64_t seed,
                                                        uint64_t block, uint64_t count)
{
    assert(count % 4 == 0);
    const __m256i first_low = _mm256_set1_epi64x((long long)(PATTERN_MULTIPLIER_FIRST &
                                                             0xFFFFFFFFull));
    const __m256i first_high = _mm256_set1_epi64x((long long)(PATTERN_MULTIPLIER_FIRST >> 32));
    const __m256i second_low = _mm256_set1_epi64x((long long)(PATTERN_MULTIPLIER_SECOND &
                                                              0xFFFFFFFFull));
    const __m256i second_high = _mm256_set1_epi64x((long long)(PATTERN_MULTIPLIER_SECOND >> 32));
    const __m256i advance = _mm256_set1_epi64x((long long)(4 * PATTERN_STEP));
    uint64_t base = seed + block * PATTERN_STEP;
    __m256i z = _mm256_set_epi64x((long long)(base + 3 * PATTERN_STEP),
                                  (long long)(base + 2 * PATTERN_STEP),
                                  (long long)(base + PATTERN_STEP), (long long)base);
    for (uint64_t done = 0; done < count; done += 4) {
        __m256i x = _mm256_xor_si256(z, _mm256_srli_epi64(z, 30));
        x = multiply_low64(x, first_low, first_high);
        x = _mm256_xor_si256(x, _mm256_srli_epi64(x, 27));
        x = multiply_low64(x, second_low, second_high);
        x = _mm256_xor_si256(x, _mm256_srli_epi64(x, 31));
        _mm256_storeu_si256((__m256i *)(void *)(out + 8 * done), x);   /* little-endian */
        z = _mm256_add_epi64(z, advance);
    }
}
#endif

/* Blocks block .. block + count - 1, one word at a time. */
static void blocks_scalar(uint8_t *out, uint64_t seed, uint64_t block, uint64_t count)
{
    for (uint64_t done = 0; done < count; done++) {
        uint64_t word = sim_splitmix64_mix(seed + (block + done) * PATTERN_STEP);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        memcpy(out + 8 * done, &word, sizeof(word));    /* one store (one check under ASan) */
#else
        for (unsigned byte = 0; byte < 8; byte++)
            out[8 * done + byte] = (uint8_t)(word >> (8 * byte));
#endif
    }
}

void simlua__pattern_fill(uint8_t *out, uint64_t seed, uint64_t offset, uint64_t length,
                          bool vector_allowed)
{
    assert(out != NULL || length == 0);
    uint64_t block = offset / 8;
    uint64_t index = 0;
    unsigned first = (unsigned)(offset % 8);
    if (first != 0 && length > 0) {             /* a partial first block */
        uint64_t word = sim_splitmix64_mix(seed + block * PATTERN_STEP);
        for (; first < 8 && index < length; first++, index++)
            out[index] = (uint8_t)(word >> (8 * first));
        block++;
    }
    uint64_t whole = (length - index) / 8;
#if PATTERN_AVX2
    if (vector_allowed && whole >= PATTERN_AVX2_BLOCKS_MIN && __builtin_cpu_supports("avx2")) {
        uint64_t vector_blocks = whole - whole % 4;
        blocks_avx2(out + index, seed, block, vector_blocks);
        index += 8 * vector_blocks;
        block += vector_blocks;
        whole -= vector_blocks;
    }
#else
    (void)vector_allowed;
#endif
    blocks_scalar(out + index, seed, block, whole);
    index += 8 * whole;
    block += whole;
    if (index < length) {                       /* a partial last block */
        uint64_t word = sim_splitmix64_mix(seed + block * PATTERN_STEP);
        for (unsigned byte = 0; index < length; byte++, index++)
            out[index] = (uint8_t)(word >> (8 * byte));
    }
}

int simlua__sim_pattern(lua_State *L)
{
    uint64_t seed = (uint64_t)simlua__check_integer(L, 1);
    lua_Integer offset = simlua__check_integer(L, 2);
    lua_Integer length = simlua__check_integer(L, 3);
    luaL_argcheck(L, offset >= 0, 2, "offset must be >= 0");
    luaL_argcheck(L, length >= 0, 3, "length must be >= 0");
    if ((uint64_t)length > SIMLUA_PATTERN_BYTES_MAX)
        return luaL_error(L, "sim.pattern: length %I exceeds SIMLUA_PATTERN_BYTES_MAX (%I)",
                          length, (lua_Integer)SIMLUA_PATTERN_BYTES_MAX);
    if (length <= LUAL_BUFFERSIZE) {
        /* What luaL_buffinitsize and luaL_pushresultsize did for this size, without their
         * steps: the bytes in a buffer on the C stack, then the string (its one object). */
        uint8_t bytes[LUAL_BUFFERSIZE];
        simlua__pattern_fill(bytes, seed, (uint64_t)offset, (uint64_t)length, true);
        lua_pushlstring(L, (const char *)bytes, (size_t)length);
        return 1;
    }
    luaL_Buffer buffer;
    char *out = luaL_buffinitsize(L, &buffer, (size_t)length);
    simlua__pattern_fill((uint8_t *)out, seed, (uint64_t)offset, (uint64_t)length, true);
    luaL_pushresultsize(&buffer, (size_t)length);
    return 1;
}
