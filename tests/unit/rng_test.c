/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/rng_test.c: the world's random streams (sim/engine/rng.h).
 *
 * The generator must match the published algorithms bit for bit (xoshiro256**
 * 1.0, SplitMix64, FNV-1a-64), and a stream's numbers must depend on (seed, name)
 * alone: drawing from "vmci" never shifts "lua". The stream-derivation formula is
 * recomputed here from its documentation (rng.h, docs/rng.md) with reference
 * implementations written in this file, so a change to rng.c that still agrees
 * with itself is caught. The pinned stream vectors are those of docs/rng.md.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "sim/engine/engine.h"
#include "sim/engine/rng.h"
#include "suites.h"
#include "test_support.h"

/* Reference implementations, written from the published algorithms. */

static uint64_t ref_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* xoshiro256** 1.0, https://prng.di.unimi.it/xoshiro256starstar.c */
static uint64_t ref_xoshiro_next(uint64_t s[4])
{
    const uint64_t result = ref_rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = ref_rotl(s[3], 45);
    return result;
}

/* SplitMix64, https://prng.di.unimi.it/splitmix64.c */
static uint64_t ref_splitmix_next(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* FNV-1a 64: offset basis 14695981039346656037, prime 1099511628211. */
static uint64_t ref_fnv1a64(const char *text)
{
    uint64_t hash = 14695981039346656037ull;
    for (size_t index = 0; text[index] != '\0'; index++) {
        hash ^= (unsigned char)text[index];
        hash *= 1099511628211ull;
    }
    return hash;
}

/* The documented derivation: key = seed ^ fnv1a64(name); s[i] = i-th SplitMix64 output. */
static void ref_stream_state(uint64_t seed, const char *name, uint64_t state[4])
{
    uint64_t key = seed ^ ref_fnv1a64(name);
    for (int index = 0; index < 4; index++)
        state[index] = ref_splitmix_next(&key);
}

/* Published vectors: the first outputs of xoshiro256** from state {1, 2, 3, 4}; then
 * 10 000 more outputs agree with the reference implementation above. */
static void test_xoshiro256ss_matches_published_vectors(void)
{
    const uint64_t seed_state[4] = { 1, 2, 3, 4 };
    struct sim_rng rng;
    sim_rng_init_state(&rng, seed_state);
    ASSERT_U64_EQ(sim_rng_next(&rng), 11520u);
    ASSERT_U64_EQ(sim_rng_next(&rng), 0u);
    ASSERT_U64_EQ(sim_rng_next(&rng), 1509978240u);
    ASSERT_U64_EQ(sim_rng_next(&rng), 1215971899390074240ull);

    uint64_t reference[4] = { 1, 2, 3, 4 };
    for (int index = 0; index < 4; index++)
        (void)ref_xoshiro_next(reference);
    int mismatches = 0;
    for (int index = 0; index < 10000; index++)
        mismatches += sim_rng_next(&rng) != ref_xoshiro_next(reference);
    CU_ASSERT_EQUAL(mismatches, 0);
    for (int index = 0; index < 4; index++)
        ASSERT_U64_EQ(rng.state[index], reference[index]);
}

/* Published vectors of SplitMix64 from seed 1234567; the mixer alone is the same function. */
static void test_splitmix64_matches_published_vectors(void)
{
    static const uint64_t expected[5] = {
        6457827717110365317ull, 3203168211198807973ull, 9817491932198370423ull,
        4593380528125082431ull, 16408922859458223821ull,
    };
    uint64_t state = 1234567;
    for (int index = 0; index < 5; index++)
        ASSERT_U64_EQ(sim_splitmix64_next(&state), expected[index]);
    ASSERT_U64_EQ(state, 1234567u + 5u * 0x9E3779B97F4A7C15ull);
    ASSERT_U64_EQ(sim_splitmix64_mix(1234567u + 0x9E3779B97F4A7C15ull), expected[0]);
    ASSERT_U64_EQ(sim_splitmix64_mix(0), 0u);
}

/* Published FNV-1a-64 vectors, plus the reference on longer and high-bit names. */
static void test_fnv1a64_matches_published_vectors(void)
{
    ASSERT_U64_EQ(sim_fnv1a64(""), 0xcbf29ce484222325ull);
    ASSERT_U64_EQ(sim_fnv1a64("a"), 0xaf63dc4c8601ec8cull);
    ASSERT_U64_EQ(sim_fnv1a64("foobar"), 0x85944171f73967e8ull);
    static const char *const names[] = { "lua", "vmci", "vsock", "\xff\x80", "a much longer name" };
    for (size_t index = 0; index < sizeof(names) / sizeof(names[0]); index++)
        ASSERT_U64_EQ(sim_fnv1a64(names[index]), ref_fnv1a64(names[index]));
}

/* rng.h's formula, recomputed from the reference functions, gives the same state and
 * outputs as sim_rng_init_stream for several seeds (0, 1, max) and names ("" included). */
static void test_stream_state_follows_documented_formula(void)
{
    static const uint64_t seeds[] = { 0, 1, 42, 0xcbf29ce484222325ull, UINT64_MAX };
    static const char *const names[] = { "", "lua", "vmci", "a" };
    for (size_t seed_index = 0; seed_index < sizeof(seeds) / sizeof(seeds[0]); seed_index++) {
        for (size_t name_index = 0; name_index < sizeof(names) / sizeof(names[0]); name_index++) {
            uint64_t expected[4];
            ref_stream_state(seeds[seed_index], names[name_index], expected);
            struct sim_rng rng;
            sim_rng_init_stream(&rng, seeds[seed_index], names[name_index]);
            for (int index = 0; index < 4; index++)
                ASSERT_U64_EQ(rng.state[index], expected[index]);
            ASSERT_U64_EQ(sim_rng_next(&rng), ref_xoshiro_next(expected));
        }
    }
}

/* The documented stream vectors (docs/rng.md): first three outputs of (seed 1, "lua")
 * and (seed 1, "vmci"). Also computed independently in Python when they were pinned. */
static const uint64_t lua_seed1_vector[3] = {
    0x8cd6f8de75ad4b84ull, 0x3bc2d9ec7ae9ddadull, 0xa7f21df3ef0573a4ull,
};
static const uint64_t vmci_seed1_vector[3] = {
    0xbf425d6ba43385abull, 0x47bcbf732945548aull, 0x9a709b8309e6ff23ull,
};

static void test_stream_vectors_are_pinned(void)
{
    struct sim_rng lua;
    struct sim_rng vmci;
    sim_rng_init_stream(&lua, 1, "lua");
    sim_rng_init_stream(&vmci, 1, "vmci");
    ASSERT_U64_EQ(lua.state[0], 0xbd45ad24e3018483ull);
    ASSERT_U64_EQ(vmci.state[0], 0x5ca9f8b0c430508dull);
    for (int index = 0; index < 3; index++) {
        ASSERT_U64_EQ(sim_rng_next(&lua), lua_seed1_vector[index]);
        ASSERT_U64_EQ(sim_rng_next(&vmci), vmci_seed1_vector[index]);
    }
}

/* The engine's named streams are the documented streams of its seed. */
static void test_engine_stream_is_documented_stream_of_seed(void)
{
    struct sim_limits limits = sim_limits_default();
    struct sim_engine *engine = sim_engine_create(&limits, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(engine);
    struct sim_rng *lua = sim_engine_rng(engine, "lua");
    CU_ASSERT_PTR_NOT_NULL_FATAL(lua);
    for (int index = 0; index < 3; index++)
        ASSERT_U64_EQ(sim_rng_next(lua), lua_seed1_vector[index]);
    /* The same name gives the same stream (its position kept), not a fresh copy. */
    CU_ASSERT_PTR_EQUAL(sim_engine_rng(engine, "lua"), lua);
    struct sim_rng *vmci = sim_engine_rng(engine, "vmci");
    CU_ASSERT_PTR_NOT_NULL_FATAL(vmci);
    CU_ASSERT_PTR_NOT_EQUAL(vmci, lua);
    ASSERT_U64_EQ(sim_rng_next(vmci), vmci_seed1_vector[0]);
    sim_engine_destroy(engine);
}

/* Draws `count` numbers from stream "lua" of a world with `seed`. With vmci_between > 0
 * it first draws 1000 numbers from "vmci", then vmci_between more before every "lua"
 * draw; the "vmci" stream is created before "lua" so creation order is exercised too. */
static void draw_lua_sequence(uint64_t seed, uint32_t vmci_between, uint64_t *out, int count)
{
    struct sim_limits limits = sim_limits_default();
    struct sim_engine *engine = sim_engine_create(&limits, seed);
    CU_ASSERT_PTR_NOT_NULL_FATAL(engine);
    if (vmci_between > 0) {
        struct sim_rng *vmci = sim_engine_rng(engine, "vmci");
        for (int draw = 0; draw < 1000; draw++)
            (void)sim_rng_next(vmci);
    }
    for (int index = 0; index < count; index++) {
        for (uint32_t draw = 0; draw < vmci_between; draw++)
            (void)sim_rng_next(sim_engine_rng(engine, "vmci"));
        out[index] = sim_rng_next(sim_engine_rng(engine, "lua"));
    }
    sim_engine_destroy(engine);
}

#define SEQUENCE_DRAWS 200

/* Architecture "The engine": adding draws in one component does not shift another's. */
static void test_engine_streams_are_independent_of_other_draws(void)
{
    uint64_t alone[SEQUENCE_DRAWS];
    uint64_t interleaved[SEQUENCE_DRAWS];
    draw_lua_sequence(7, 0, alone, SEQUENCE_DRAWS);
    draw_lua_sequence(7, 5, interleaved, SEQUENCE_DRAWS);
    CU_ASSERT_EQUAL(memcmp(alone, interleaved, sizeof(alone)), 0);
    uint64_t reference[4];
    ref_stream_state(7, "lua", reference);
    ASSERT_U64_EQ(alone[0], ref_xoshiro_next(reference));
}

/* Counts positions where two sequences agree (a different stream should agree nowhere). */
static int count_equal(const uint64_t *left, const uint64_t *right, int count)
{
    int equal = 0;
    for (int index = 0; index < count; index++)
        equal += left[index] == right[index];
    return equal;
}

/* Different seeds (including adjacent ones) and different names give different numbers. */
static void test_engine_streams_differ_by_seed_and_name(void)
{
    uint64_t seed7[SEQUENCE_DRAWS];
    uint64_t seed8[SEQUENCE_DRAWS];
    draw_lua_sequence(7, 0, seed7, SEQUENCE_DRAWS);
    draw_lua_sequence(8, 0, seed8, SEQUENCE_DRAWS);
    CU_ASSERT_EQUAL(count_equal(seed7, seed8, SEQUENCE_DRAWS), 0);

    struct sim_limits limits = sim_limits_default();
    struct sim_engine *engine = sim_engine_create(&limits, 7);
    CU_ASSERT_PTR_NOT_NULL_FATAL(engine);
    uint64_t other[SEQUENCE_DRAWS];
    for (int index = 0; index < SEQUENCE_DRAWS; index++)
        other[index] = sim_rng_next(sim_engine_rng(engine, "lub"));
    CU_ASSERT_EQUAL(count_equal(seed7, other, SEQUENCE_DRAWS), 0);
    sim_engine_destroy(engine);
}

/* Stream names: 31 bytes is the longest accepted (SIM_RNG_STREAM_NAME_BYTES_MAX incl. NUL);
 * at most SIM_RNG_STREAMS_MAX streams exist, after which a new name gives NULL while
 * existing names still resolve. */
static void test_engine_rng_limits_name_length_and_stream_count(void)
{
    struct sim_limits limits = sim_limits_default();
    struct sim_engine *engine = sim_engine_create(&limits, 3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(engine);
    char name[SIM_RNG_STREAM_NAME_BYTES_MAX + 1];
    memset(name, 'n', SIM_RNG_STREAM_NAME_BYTES_MAX);
    name[SIM_RNG_STREAM_NAME_BYTES_MAX] = '\0';
    CU_ASSERT_PTR_NULL(sim_engine_rng(engine, name));             /* 32 bytes */
    name[SIM_RNG_STREAM_NAME_BYTES_MAX - 1] = '\0';
    CU_ASSERT_PTR_NOT_NULL(sim_engine_rng(engine, name));         /* 31 bytes */
    for (uint32_t index = 1; index < SIM_RNG_STREAMS_MAX; index++) {
        char numbered[16];
        snprintf(numbered, sizeof(numbered), "s%u", index);
        CU_ASSERT_PTR_NOT_NULL(sim_engine_rng(engine, numbered));
    }
    CU_ASSERT_PTR_NULL(sim_engine_rng(engine, "one_too_many"));
    CU_ASSERT_PTR_NOT_NULL(sim_engine_rng(engine, "s1"));
    CU_ASSERT_PTR_NOT_NULL(sim_engine_rng(engine, name));
    sim_engine_destroy(engine);
}

#define BELOW_DRAWS 100000

/* sim_rng_below: never reaches its bound; bound 1 is always 0; bound 2 and 10 hit every
 * value about equally (a fixed seed, so the counts are fixed; the margin is wide); bounds
 * near 2^64 (where rejection is most frequent) stay in range. */
static void test_rng_below_stays_under_bound(void)
{
    struct sim_rng rng;
    sim_rng_init_stream(&rng, 11, "below");
    uint32_t counts[10] = { 0 };
    int out_of_range = 0;
    for (int draw = 0; draw < BELOW_DRAWS; draw++) {
        uint64_t value = sim_rng_below(&rng, 10);
        out_of_range += value >= 10;
        if (value < 10)
            counts[value]++;
        out_of_range += sim_rng_below(&rng, 1) != 0;
        out_of_range += sim_rng_below(&rng, 2) >= 2;
        out_of_range += sim_rng_below(&rng, 3) >= 3;
        out_of_range += sim_rng_below(&rng, (1ull << 63) + 1) >= (1ull << 63) + 1;
        out_of_range += sim_rng_below(&rng, UINT64_MAX) == UINT64_MAX;
    }
    CU_ASSERT_EQUAL(out_of_range, 0);
    for (int value = 0; value < 10; value++) {
        CU_ASSERT(counts[value] > BELOW_DRAWS / 10 - 1000);
        CU_ASSERT(counts[value] < BELOW_DRAWS / 10 + 1000);
    }
}

/* The inverse of an odd number modulo 2^64 (Newton's iteration doubles the good bits). */
static uint64_t inverse_odd(uint64_t odd)
{
    uint64_t inverse = odd;             /* right in 3 bits: odd * odd == 1 mod 8 */
    for (int round = 0; round < 5; round++)
        inverse *= 2 - odd * inverse;
    return inverse;
}

/* A state whose next xoshiro256** output is `output`: solves rotl(s1 * 5, 7) * 9 = output. */
static void state_with_next_output(uint64_t output, uint64_t state[4])
{
    uint64_t rotated = output * inverse_odd(9);
    uint64_t s1 = ((rotated >> 7) | (rotated << 57)) * inverse_odd(5);
    state[0] = 0x0123456789abcdefull;
    state[1] = s1;
    state[2] = 3;
    state[3] = 4;
}

/* Rejection, exactly: for bound 10 the largest multiple of 10 not above 2^64 - 1 is
 * 2^64 - 6, so a draw of 2^64 - 6 .. 2^64 - 1 is redrawn (modulo would bias towards 0..5)
 * and the result is the next draw mod 10; a draw just below the zone is kept. */
static void test_rng_below_redraws_the_incomplete_last_multiple(void)
{
    uint64_t state[4];
    state_with_next_output(UINT64_MAX - 1, state);
    struct sim_rng rng;
    sim_rng_init_state(&rng, state);
    struct sim_rng copy = rng;
    ASSERT_U64_EQ(sim_rng_next(&copy), UINT64_MAX - 1);
    uint64_t second = sim_rng_next(&copy);
    CU_ASSERT_FATAL(second < UINT64_MAX - 5);
    ASSERT_U64_EQ(sim_rng_below(&rng, 10), second % 10);

    state_with_next_output(UINT64_MAX - 5, state);
    sim_rng_init_state(&rng, state);
    copy = rng;
    (void)sim_rng_next(&copy);
    ASSERT_U64_EQ(sim_rng_below(&rng, 10), sim_rng_next(&copy) % 10);   /* redrawn */

    state_with_next_output(UINT64_MAX - 6, state);
    sim_rng_init_state(&rng, state);
    ASSERT_U64_EQ(sim_rng_below(&rng, 10), (UINT64_MAX - 6) % 10);       /* kept: 9 */
}

/* sim_rng_below_limited with the limit of sim_rng_below_limit draws what sim_rng_below
 * draws, for bounds small, odd, near powers of two and huge (incl. the redraw above). */
static void test_rng_below_limited_draws_what_below_draws(void)
{
    static const uint64_t bounds[] = { 1, 2, 3, 10, 301, 1501, 1ull << 32, (1ull << 32) + 1,
                                       (1ull << 63) + 1, UINT64_MAX };
    ASSERT_U64_EQ(sim_rng_below_limit(10), UINT64_MAX - 5);      /* 2^64 - 6 */
    ASSERT_U64_EQ(sim_rng_below_limit(1), UINT64_MAX);
    for (size_t index = 0; index < sizeof(bounds) / sizeof(bounds[0]); index++) {
        struct sim_rng rng, copy;
        sim_rng_init_stream(&rng, index, "limited");
        copy = rng;
        uint64_t limit = sim_rng_below_limit(bounds[index]);
        for (int draw = 0; draw < 1000; draw++)
            ASSERT_U64_EQ(sim_rng_below_limited(&rng, bounds[index], limit),
                          sim_rng_below(&copy, bounds[index]));
    }
    uint64_t state[4];
    state_with_next_output(UINT64_MAX - 5, state);              /* redrawn, as above */
    struct sim_rng rng, copy;
    sim_rng_init_state(&rng, state);
    copy = rng;
    ASSERT_U64_EQ(sim_rng_below_limited(&rng, 10, sim_rng_below_limit(10)),
                  sim_rng_below(&copy, 10));
}

/* sim_rng_unit: in [0, 1) and uses the top 53 bits of the next output. */
static void test_rng_unit_is_in_unit_interval(void)
{
    struct sim_rng rng;
    struct sim_rng copy;
    sim_rng_init_stream(&rng, 5, "unit");
    copy = rng;
    int out_of_range = 0;
    for (int draw = 0; draw < BELOW_DRAWS; draw++) {
        double value = sim_rng_unit(&rng);
        out_of_range += !(value >= 0.0 && value < 1.0);
    }
    CU_ASSERT_EQUAL(out_of_range, 0);
    uint64_t next = sim_rng_next(&copy);
    struct sim_rng again;
    sim_rng_init_stream(&again, 5, "unit");
    CU_ASSERT_DOUBLE_EQUAL(sim_rng_unit(&again), (double)(next >> 11) / 9007199254740992.0, 0.0);
}

CU_ErrorCode rng_suite_add(void)
{
    static const struct test_entry tests[] = {
        TEST_ENTRY(test_xoshiro256ss_matches_published_vectors),
        TEST_ENTRY(test_splitmix64_matches_published_vectors),
        TEST_ENTRY(test_fnv1a64_matches_published_vectors),
        TEST_ENTRY(test_stream_state_follows_documented_formula),
        TEST_ENTRY(test_stream_vectors_are_pinned),
        TEST_ENTRY(test_engine_stream_is_documented_stream_of_seed),
        TEST_ENTRY(test_engine_streams_are_independent_of_other_draws),
        TEST_ENTRY(test_engine_streams_differ_by_seed_and_name),
        TEST_ENTRY(test_engine_rng_limits_name_length_and_stream_count),
        TEST_ENTRY(test_rng_below_stays_under_bound),
        TEST_ENTRY(test_rng_below_redraws_the_incomplete_last_multiple),
        TEST_ENTRY(test_rng_below_limited_draws_what_below_draws),
        TEST_ENTRY(test_rng_unit_is_in_unit_interval),
    };
    return test_suite_register("rng", tests, sizeof(tests) / sizeof(tests[0]));
}
