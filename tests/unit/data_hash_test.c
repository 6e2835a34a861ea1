/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/data_hash_test.c: the running data hashes' copy-and-hash paths
 * (sim/engine/data_hash.c, data_hash_avx2.c, data_hash_avx512.c).
 *
 * A stream's value goes into the digest, so every path that extends it must give what
 * the library's XXH3_64bits gives for the same bytes, whatever the CPU: the AVX-512 and
 * AVX2 paths (one pass, their own loops over xxhash.h's stripe arithmetic) and the portable
 * one (memcpy, then update) are checked against libxxhash on every size from 0 to 4096 after prefixes
 * that leave the state's buffer empty, partly filled, full or past a block, on large inputs
 * cut at many places, and on the state they leave for the bytes that come after; the two
 * digests of a state (the library's, and xxhash.h's compiled with AVX2) with it. Each copy
 * must also be a plain copy: the target's bytes equal the source's and nothing around them
 * is written. On a CPU without AVX2 or AVX-512 the cases say so and check the paths it runs.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "sim/engine/data_hash.h"
#include "sim/engine/trace.h"
#include "suites.h"
#include "test_support.h"

#define SMALL_SIZE_MAX 4096u
#define LARGE_BYTES ((1u << 20) + 13u)
#define GUARD_BYTES 64u
#define GUARD_VALUE 0xA5u

typedef void copy_function(void *hash_state, void *target, const void *source,
                           size_t size_bytes);

/* Deterministic bytes with no short period (xorshift64*). */
static void fill_bytes(uint8_t *bytes, size_t size_bytes, uint64_t seed)
{
    uint64_t value = seed * 2 + 1;
    for (size_t index = 0; index < size_bytes; index++) {
        value ^= value >> 12;
        value ^= value << 25;
        value ^= value >> 27;
        bytes[index] = (uint8_t)((value * 0x2545F4914F6CDD1Dull) >> 56);
    }
}

#define COPY_PATHS_MAX 3u

/* The paths to check: the portable one always, the AVX2 and AVX-512 ones where the CPU
 * runs them. */
static unsigned copy_paths(copy_function *paths[COPY_PATHS_MAX],
                           const char *names[COPY_PATHS_MAX])
{
    unsigned count = 0;
    paths[count] = sim__data_hash_copy_portable;
    names[count++] = "portable";
    if (sim__data_hash_avx2_usable()) {
        paths[count] = sim__data_hash_copy_avx2;
        names[count++] = "avx2";
    } else {
        printf("\n    (no AVX2 on this CPU: its path is not checked) ");
    }
    if (sim__data_hash_avx512_usable()) {
        paths[count] = sim__data_hash_copy_avx512;
        names[count++] = "avx512";
    } else {
        printf("\n    (no AVX-512 on this CPU: its path is not checked) ");
    }
    return count;
}

/* One copy of `size` bytes after `prefix` bytes already hashed: the value is the library's
 * over all of them, the target holds the bytes and its guards are intact, and the state
 * extends as the library's would. Returns false (after a CUnit failure) on a mismatch. */
static bool check_one_copy(copy_function *copy, XXH3_state_t *state, const uint8_t *bytes,
                           size_t prefix, size_t size, uint8_t *target_area)
{
    XXH3_64bits_reset(state);
    XXH3_64bits_update(state, bytes, prefix);
    memset(target_area, GUARD_VALUE, size + 2 * GUARD_BYTES);
    uint8_t *target = target_area + GUARD_BYTES;
    copy(state, target, bytes + prefix, size);
    uint64_t expected = XXH3_64bits(bytes, prefix + size);
    /* Both digests of the state, the library's and (where the CPU runs it) the AVX2 one. */
    bool same_value = XXH3_64bits_digest(state) == expected &&
                      sim__data_hash_value_portable(state) == expected &&
                      (!sim__data_hash_avx2_usable() ||
                       sim__data_hash_value_avx2(state) == expected);
    bool same_bytes = size == 0 || memcmp(target, bytes + prefix, size) == 0;
    bool guards = true;
    for (size_t index = 0; index < GUARD_BYTES; index++)
        guards = guards && target_area[index] == GUARD_VALUE &&
                 target[size + index] == GUARD_VALUE;
    XXH3_64bits_update(state, bytes + prefix + size, 100);     /* and it goes on alike */
    bool same_after = XXH3_64bits_digest(state) == XXH3_64bits(bytes, prefix + size + 100);
    CU_ASSERT(same_value);
    CU_ASSERT(same_bytes);
    CU_ASSERT(guards);
    CU_ASSERT(same_after);
    return same_value && same_bytes && guards && same_after;
}

static void test_copy_paths_match_the_library_on_every_small_size(void)
{
    /* Prefixes that leave the buffer empty, with one byte, one stripe, nearly and exactly
     * full, and after a whole block (1 KiB) and then some. */
    static const size_t prefixes[] = { 0, 1, 63, 64, 65, 200, 255, 256, 257, 1024, 1100 };
    size_t bytes_size = prefixes[sizeof(prefixes) / sizeof(prefixes[0]) - 1] +
                        SMALL_SIZE_MAX + 100;
    uint8_t *bytes = malloc(bytes_size);
    uint8_t *target_area = malloc(SMALL_SIZE_MAX + 2 * GUARD_BYTES);
    XXH3_state_t *state = XXH3_createState();
    CU_ASSERT_FATAL(bytes != NULL && target_area != NULL && state != NULL);
    fill_bytes(bytes, bytes_size, 1);
    copy_function *paths[COPY_PATHS_MAX];
    const char *names[COPY_PATHS_MAX];
    unsigned path_count = copy_paths(paths, names);
    for (unsigned path = 0; path < path_count; path++) {
        for (size_t p = 0; p < sizeof(prefixes) / sizeof(prefixes[0]); p++) {
            for (size_t size = 0; size <= SMALL_SIZE_MAX; size++) {
                if (!check_one_copy(paths[path], state, bytes, prefixes[p], size,
                                    target_area)) {
                    printf("\n    %s path: prefix %zu, size %zu differs ", names[path],
                           prefixes[p], size);
                    goto done;
                }
            }
        }
    }
done:
    XXH3_freeState(state);
    free(target_area);
    free(bytes);
}

/* A large input cut into pieces of many sizes (1 byte to past 64 KiB), each piece going
 * through one of the paths or a plain update in turn: after every piece the value is the
 * library's over everything so far, and the copied pieces rebuild the input. */
static void test_copy_paths_match_the_library_on_large_cut_input(void)
{
    uint8_t *bytes = malloc(LARGE_BYTES);
    uint8_t *copied = malloc(LARGE_BYTES);
    XXH3_state_t *state = XXH3_createState();
    CU_ASSERT_FATAL(bytes != NULL && copied != NULL && state != NULL);
    fill_bytes(bytes, LARGE_BYTES, 2);
    memset(copied, 0, LARGE_BYTES);
    copy_function *paths[COPY_PATHS_MAX];
    const char *names[COPY_PATHS_MAX];
    unsigned path_count = copy_paths(paths, names);
    static const size_t cuts[] = { 1, 65536, 7, 70001, 256, 255, 257, 64, 1024, 1023, 4096,
                                   65537, 3, 16384, 999, 131072, 63, 65 };
    XXH3_64bits_reset(state);
    size_t done = 0;
    unsigned mismatches = 0;
    for (unsigned piece = 0; done < LARGE_BYTES; piece++) {
        size_t size = cuts[piece % (sizeof(cuts) / sizeof(cuts[0]))];
        if (size > LARGE_BYTES - done)
            size = LARGE_BYTES - done;
        unsigned way = piece % (path_count + 1);
        if (way == path_count) {
            XXH3_64bits_update(state, bytes + done, size);
            memcpy(copied + done, bytes + done, size);
        } else {
            paths[way](state, copied + done, bytes + done, size);
        }
        done += size;
        if (XXH3_64bits_digest(state) != XXH3_64bits(bytes, done) && mismatches++ == 0)
            printf("\n    piece %u (%s, %zu bytes) ends at %zu with another value ", piece,
                   way == path_count ? "update" : names[way], size, done);
    }
    CU_ASSERT_EQUAL(mismatches, 0);
    CU_ASSERT(memcmp(copied, bytes, LARGE_BYTES) == 0);
    /* The whole input in one copy, by each path. */
    for (unsigned path = 0; path < path_count; path++) {
        XXH3_64bits_reset(state);
        memset(copied, 0, LARGE_BYTES);
        paths[path](state, copied, bytes, LARGE_BYTES);
        CU_ASSERT_EQUAL(XXH3_64bits_digest(state), XXH3_64bits(bytes, LARGE_BYTES));
        CU_ASSERT(memcmp(copied, bytes, LARGE_BYTES) == 0);
    }
    XXH3_freeState(state);
    free(copied);
    free(bytes);
}

/* The public copy: the same values as sim_data_stream_update over the same bytes, on a
 * shared stream too, and a plain copy of each piece. */
static void test_stream_copy_is_update_of_the_copied_bytes(void)
{
    enum { TOTAL_BYTES = 300000 };
    uint8_t *bytes = malloc(TOTAL_BYTES);
    uint8_t *copied = calloc(1, TOTAL_BYTES);
    struct sim_data_stream *copying = sim_data_stream_create();
    struct sim_data_stream *updating = sim_data_stream_create();
    CU_ASSERT_FATAL(bytes != NULL && copied != NULL && copying != NULL && updating != NULL);
    struct sim_data_stream *shared = sim_data_stream_share(copying);
    fill_bytes(bytes, TOTAL_BYTES, 3);
    static const size_t pieces[] = { 0, 5, 1023, 1024, 1025, 65536, 40000, 17, 2048 };
    size_t done = 0;
    for (unsigned index = 0; done < TOTAL_BYTES; index++) {
        size_t size = pieces[index % (sizeof(pieces) / sizeof(pieces[0]))];
        if (size > TOTAL_BYTES - done)
            size = TOTAL_BYTES - done;
        sim_data_stream_copy(index % 2 == 0 ? copying : shared, copied + done, bytes + done,
                             size);
        sim_data_stream_update(updating, bytes + done, size);
        done += size;
        ASSERT_U64_EQ(sim_data_stream_value(copying), sim_data_stream_value(updating));
        ASSERT_U64_EQ(sim_data_stream_value(copying), XXH3_64bits(bytes, done));
    }
    CU_ASSERT(memcmp(copied, bytes, TOTAL_BYTES) == 0);
    sim_data_stream_copy(copying, NULL, NULL, 0);           /* nothing moved: same value */
    ASSERT_U64_EQ(sim_data_stream_value(copying), XXH3_64bits(bytes, TOTAL_BYTES));
    sim_data_stream_destroy(shared);
    sim_data_stream_destroy(copying);
    sim_data_stream_destroy(updating);
    free(copied);
    free(bytes);
}

/* Feeds `bytes` to `stream` in pieces whose sizes cycle through `cut_sizes`, by copy
 * (AVX2 where the CPU has it, at 1 KiB and more) or by update. */
static void feed_in_pieces(struct sim_data_stream *stream, const uint8_t *bytes, size_t size_bytes,
                           const size_t *cut_sizes, unsigned cut_count, bool by_copy,
                           uint8_t *scratch)
{
    size_t done = 0;
    for (unsigned index = 0; done < size_bytes; index++) {
        size_t size = cut_sizes[index % cut_count];
        if (size > size_bytes - done)
            size = size_bytes - done;
        if (by_copy)
            sim_data_stream_copy(stream, scratch + done, bytes + done, size);
        else
            sim_data_stream_update(stream, bytes + done, size);
        done += size;
    }
}

/* sim_data_stream_same is value equality: true for the same bytes however they were cut and
 * by whichever path, false when one byte anywhere differs (in the accumulated stripes, the
 * buffered bytes or the stripe the digest takes from the buffer's end) or a length does. */
static void test_stream_same_is_value_equality(void)
{
    enum { TOTAL_BYTES = 5000 };
    uint8_t *bytes = malloc(TOTAL_BYTES);
    uint8_t *other = malloc(TOTAL_BYTES);
    uint8_t *scratch = malloc(TOTAL_BYTES);
    CU_ASSERT_FATAL(bytes != NULL && other != NULL && scratch != NULL);
    fill_bytes(bytes, TOTAL_BYTES, 11);
    static const size_t cuts_a[] = { 64 };
    static const size_t cuts_b[] = { 1, 300, 7, 1024, 64, 2000, 63 };
    static const size_t lengths[] = { 0, 1, 63, 64, 65, 200, 240, 241, 256, 257, 300, 512,
                                      522, 1100, 1999, 4097, TOTAL_BYTES };
    unsigned wrong = 0;
    for (unsigned which = 0; which < sizeof(lengths) / sizeof(lengths[0]); which++) {
        size_t length = lengths[which];
        for (unsigned mode = 0; mode < 4; mode++) {
            struct sim_data_stream *a = sim_data_stream_create();
            struct sim_data_stream *b = sim_data_stream_create();
            CU_ASSERT_FATAL(a != NULL && b != NULL);
            feed_in_pieces(a, bytes, length, cuts_a, 1, (mode & 1) != 0, scratch);
            feed_in_pieces(b, bytes, length, cuts_b, 7, (mode & 2) != 0, scratch);
            wrong += !sim_data_stream_same(a, b) || !sim_data_stream_same(b, a);
            sim_data_stream_destroy(b);
            /* One byte flipped, at every place (every 7th on the long inputs). */
            size_t step = length > 600 ? 7 : 1;
            for (size_t flip = 0; flip < length; flip += step) {
                memcpy(other, bytes, length);
                other[flip] ^= 0x20;
                struct sim_data_stream *c = sim_data_stream_create();
                CU_ASSERT_FATAL(c != NULL);
                feed_in_pieces(c, other, length, mode < 2 ? cuts_a : cuts_b, mode < 2 ? 1 : 7,
                               (mode & 2) != 0, scratch);
                wrong += sim_data_stream_same(a, c);
                sim_data_stream_destroy(c);
            }
            /* One byte more. */
            struct sim_data_stream *longer = sim_data_stream_clone(a);
            CU_ASSERT_FATAL(longer != NULL);
            sim_data_stream_update(longer, "x", 1);
            wrong += sim_data_stream_same(a, longer);
            sim_data_stream_destroy(longer);
            wrong += !sim_data_stream_same(a, a);
            sim_data_stream_destroy(a);
        }
    }
    CU_ASSERT_EQUAL(wrong, 0);
    free(scratch);
    free(other);
    free(bytes);
}

CU_ErrorCode data_hash_suite_add(void)
{
    static const struct test_entry tests[] = {
        TEST_ENTRY(test_copy_paths_match_the_library_on_every_small_size),
        TEST_ENTRY(test_copy_paths_match_the_library_on_large_cut_input),
        TEST_ENTRY(test_stream_copy_is_update_of_the_copied_bytes),
        TEST_ENTRY(test_stream_same_is_value_equality),
    };
    return test_suite_register("data_hash", tests, sizeof(tests) / sizeof(tests[0]));
}
