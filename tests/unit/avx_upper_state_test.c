/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/avx_upper_state_test.c: the AVX2 and AVX-512 code (sim/engine/data_hash_avx2.c,
 * data_hash_avx512.c) and the one-shot data hashes of sim/engine/digest.c (the library's dispatching XXH3, AVX-512 or
 * AVX2 code past 240 bytes) return with the upper halves of the vector registers clean.
 *
 * Why a test: the rest of vmcisim and its libraries are mostly SSE code, which runs slower
 * while 256-bit code has left those halves dirty (until the next vzeroupper anywhere). The
 * compiler is meant to put a vzeroupper before every return, but GCC 12 at -O2 left one
 * path without it, and the only sign was a sweep taking about 14 % longer
 * (docs/architecture.md, "Speed of one run", session 13). So this asks the CPU itself:
 * XGETBV with ECX = 1 reads XINUSE, whose bit 2 says whether the AVX upper state is in
 * use. Each entry point runs on many sizes and prefixes (the AVX2 digest path needs a
 * stream longer than 240 bytes), each from a clean state, and must leave it clean. A
 * first check proves the probe sees a dirty state.
 * Where the CPU has no AVX2, or cannot report XINUSE, the test says so and checks nothing.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <CUnit/CUnit.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "sim/engine/data_hash.h"
#include "sim/engine/digest_int.h"
#include "sim/engine/trace.h"
#include "suites.h"
#include "test_support.h"

#if defined(__x86_64__)
#include <cpuid.h>

/* XINUSE bit 2: the upper halves of the YMM registers are in use (not in their init state);
 * bit 6: the upper halves of ZMM0-15 are (AVX-512 code; vzeroupper clears both). */
#define XINUSE_AVX_UPPER 0x44u

/* True when XGETBV with ECX = 1 exists (CPUID leaf 0xD, subleaf 1, EAX bit 2). Only asked
 * after sim__data_hash_avx2_usable(), which implies XGETBV itself (OSXSAVE). */
static bool xinuse_readable(void)
{
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (__get_cpuid_max(0, NULL) < 0xD)
        return false;
    __cpuid_count(0xD, 1, eax, ebx, ecx, edx);
    return (eax & 0x4u) != 0;
}

static bool avx_upper_dirty(void)
{
    uint32_t low = 0, high = 0;
    __asm__ volatile("xgetbv" : "=a"(low), "=d"(high) : "c"(1u));
    (void)high;
    return (low & XINUSE_AVX_UPPER) != 0;
}

/* Each call starts from a clean state, so that what it leaves is its own doing. (vzeroupper
 * keeps the low halves, all that this SSE code uses.) */
static void upper_state_clean(void)
{
    __asm__ volatile("vzeroupper");
}

/* The probe's own check: a 256-bit instruction dirties the state, vzeroupper cleans it.
 * (In asm, so that the compiler adds no vzeroupper of its own.) */
static void probe_sees_both_states(void)
{
    upper_state_clean();
    CU_ASSERT_FALSE(avx_upper_dirty());
    __asm__ volatile("vpcmpeqd %%ymm1, %%ymm1, %%ymm1" ::: "xmm1");
    CU_ASSERT_TRUE(avx_upper_dirty());
    upper_state_clean();
    CU_ASSERT_FALSE(avx_upper_dirty());
}

/* Deterministic bytes (xorshift64*); their values do not matter here, only the paths. */
static void fill_bytes(uint8_t *bytes, size_t size_bytes)
{
    uint64_t value = 0x9E3779B97F4A7C15ull;
    for (size_t index = 0; index < size_bytes; index++) {
        value ^= value >> 12;
        value ^= value << 25;
        value ^= value >> 27;
        bytes[index] = (uint8_t)((value * 0x2545F4914F6CDD1Dull) >> 56);
    }
}

/* Runs `copy` (and the AVX2 digest after it when `with_value`) on many sizes and prefixes,
 * each call from a clean state; returns how many calls left it dirty, `calls` how many ran. */
static unsigned calls_left_dirty(void (*copy)(void *, void *, const void *, size_t),
                                 bool with_value, unsigned *calls)
{
    static const size_t prefixes[] = {0, 1, 100, 255, 256, 300, 1024, 70000};
    static const size_t sizes[] = {0, 1, 63, 64, 100, 200, 240, 241, 256, 300, 1000, 4096,
                                   70000};
    enum { BYTES_MAX = 70000 * 2 };
    uint8_t *bytes = malloc(BYTES_MAX);
    uint8_t *target = malloc(BYTES_MAX);
    XXH3_state_t *state = XXH3_createState();
    CU_ASSERT_FATAL(bytes != NULL && target != NULL && state != NULL);
    fill_bytes(bytes, BYTES_MAX);
    unsigned left_dirty = 0;
    *calls = 0;
    for (size_t p = 0; p < sizeof(prefixes) / sizeof(prefixes[0]); p++) {
        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
            XXH3_64bits_reset(state);
            XXH3_64bits_update(state, bytes, prefixes[p]);
            upper_state_clean();
            copy(state, target, bytes + prefixes[p], sizes[s]);
            left_dirty += avx_upper_dirty();
            *calls += 1;
            if (with_value) {
                upper_state_clean();
                volatile uint64_t value = sim__data_hash_value_avx2(state);
                (void)value;
                left_dirty += avx_upper_dirty();
                *calls += 1;
            }
        }
    }
    XXH3_freeState(state);
    free(target);
    free(bytes);
    if (left_dirty != 0)
        printf("\n    %u of %u calls left the upper state dirty ", left_dirty, *calls);
    return left_dirty;
}

static void test_avx2_entry_points_leave_the_upper_state_clean(void)
{
    if (!sim__data_hash_avx2_usable() || !xinuse_readable()) {
        printf("\n    (no AVX2 or no XINUSE on this CPU: nothing to check) ");
        return;
    }
    probe_sees_both_states();
    unsigned calls = 0;
    CU_ASSERT_EQUAL(calls_left_dirty(sim__data_hash_copy_avx2, true, &calls), 0);
    CU_ASSERT_EQUAL(calls, 2 * 8 * 13);
}

static void test_avx512_copy_leaves_the_upper_state_clean(void)
{
    if (!sim__data_hash_avx512_usable() || !xinuse_readable()) {
        printf("\n    (no AVX-512F or no XINUSE on this CPU: nothing to check) ");
        return;
    }
    probe_sees_both_states();
    unsigned calls = 0;
    CU_ASSERT_EQUAL(calls_left_dirty(sim__data_hash_copy_avx512, false, &calls), 0);
    CU_ASSERT_EQUAL(calls, 8 * 13);
}

/* sim_data_hash and the digest's BYTES field value, on sizes either side of XXH3's 240. */
static void test_one_shot_hashes_leave_the_upper_state_clean(void)
{
    if (!sim__data_hash_avx2_usable() || !xinuse_readable()) {
        printf("\n    (no AVX2 or no XINUSE on this CPU: nothing to check) ");
        return;
    }
    static const size_t sizes[] = {0, 1, 16, 128, 240, 241, 256, 300, 1000, 4096, 65536};
    enum { BYTES_MAX = 65536 };
    uint8_t *bytes = malloc(BYTES_MAX);
    CU_ASSERT_FATAL(bytes != NULL);
    fill_bytes(bytes, BYTES_MAX);
    uint8_t encoding[16];
    unsigned calls = 0, left_dirty = 0;
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        upper_state_clean();
        volatile uint64_t hash = sim_data_hash(bytes, sizes[s]);
        (void)hash;
        left_dirty += avx_upper_dirty();
        struct sim_trace_field field = {
            .name = "bytes", .type = SIM_FIELD_BYTES, .name_bytes = 5,
            .value.blob = {.data = bytes, .size_bytes = (uint32_t)sizes[s]},
        };
        upper_state_clean();
        uint8_t *end = sim__digest_store_bytes_value(encoding, &field);
        left_dirty += avx_upper_dirty();
        CU_ASSERT_EQUAL(end - encoding, 12);   /* u32 size, u64 hash */
        calls += 2;
    }
    if (left_dirty != 0)
        printf("\n    %u of %u calls left the upper state dirty ", left_dirty, calls);
    CU_ASSERT_EQUAL(left_dirty, 0);
    free(bytes);
}
#else
static void test_avx2_entry_points_leave_the_upper_state_clean(void)
{
    printf("\n    (not x86-64: no AVX2 code to check) ");
}

static void test_avx512_copy_leaves_the_upper_state_clean(void)
{
    printf("\n    (not x86-64: no AVX-512 code to check) ");
}

static void test_one_shot_hashes_leave_the_upper_state_clean(void)
{
    printf("\n    (not x86-64: no vector state to check) ");
}
#endif

CU_ErrorCode avx_upper_state_suite_add(void)
{
    static const struct test_entry tests[] = {
        TEST_ENTRY(test_avx2_entry_points_leave_the_upper_state_clean),
        TEST_ENTRY(test_avx512_copy_leaves_the_upper_state_clean),
        TEST_ENTRY(test_one_shot_hashes_leave_the_upper_state_clean),
    };
    return test_suite_register("avx_upper_state", tests, sizeof(tests) / sizeof(tests[0]));
}
