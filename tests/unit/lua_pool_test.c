/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/lua_pool_test.c: the pool of the Lua state's small blocks (sim/lua/pool.c).
 *
 * Method: the pool's C API directly (classes, reuse, accounting, blocks that never
 * overlap), then whole runs through the runtime, whose allocator takes its small blocks
 * from the pool: every block comes back (simlua_destroy asserts it) and the run's
 * digest is the one of the same scenario run again.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "sim/lua/lua_int.h"
#if SIMLUA_ASAN
#include <sanitizer/asan_interface.h>
#endif
#include "sim/lua/runtime.h"
#include "suites.h"
#include "test_support.h"

/* Every size has a class at least as large, a multiple of the class step, wasting at
 * most a fifth of the block (or less than one step for small blocks), and classes grow
 * with the size. */
static void test_classes_fit_their_blocks(void)
{
    size_t previous = 0;
    for (size_t bytes = 1; bytes <= SIMLUA_POOL_BLOCK_BYTES_MAX; bytes++) {
        size_t block = simlua__pool_block_bytes(bytes);
        CU_ASSERT_TRUE_FATAL(block >= bytes);
        CU_ASSERT_EQUAL(block % SIMLUA_POOL_CLASS_BYTES, 0);
        CU_ASSERT_TRUE(block - bytes < SIMLUA_POOL_CLASS_BYTES || (block - bytes) * 5 <= block);
        CU_ASSERT_TRUE(block >= previous);
        previous = block;
    }
    CU_ASSERT_EQUAL(simlua__pool_block_bytes(SIMLUA_POOL_BLOCK_BYTES_MAX),
                    SIMLUA_POOL_BLOCK_BYTES_MAX);
    CU_ASSERT_EQUAL(simlua__pool_serves(SIMLUA_POOL_BLOCK_BYTES_MAX), SIMLUA_POOL_IN_RUNTIME);
    CU_ASSERT_FALSE(simlua__pool_serves(SIMLUA_POOL_BLOCK_BYTES_MAX + 1));
}

#define BLOCKS 3000

/* Size of block `index`: every class, many times, in a mixed order. */
static size_t block_size(uint32_t index)
{
    return 1 + (index * 2654435761u) % SIMLUA_POOL_BLOCK_BYTES_MAX;
}

/* Blocks are aligned, never overlap (each keeps what was written into it while all the
 * others were made), and the accounting adds up; freed blocks are reused before any new
 * slab is taken. */
static void test_blocks_are_distinct_and_reused(void)
{
    struct simlua_pool pool;
    memset(&pool, 0, sizeof(pool));
    static unsigned char *blocks[BLOCKS];
    uint64_t live_bytes = 0;
    for (uint32_t index = 0; index < BLOCKS; index++) {
        blocks[index] = simlua__pool_alloc(&pool, block_size(index));
        CU_ASSERT_PTR_NOT_NULL_FATAL(blocks[index]);
        CU_ASSERT_EQUAL((uintptr_t)blocks[index] % 16, 0);
        memset(blocks[index], (int)(index & 0xFF), block_size(index));
        live_bytes += simlua__pool_block_bytes(block_size(index));
    }
    CU_ASSERT_EQUAL(pool.live_bytes, live_bytes);
    CU_ASSERT_TRUE(pool.slab_bytes >= live_bytes);
    CU_ASSERT_EQUAL(simlua__pool_idle_bytes(&pool), pool.slab_bytes - live_bytes);
    uint32_t intact = 0;
    for (uint32_t index = 0; index < BLOCKS; index++) {
        size_t bytes = block_size(index);
        bool same = true;
        for (size_t byte = 0; byte < bytes; byte++)
            same = same && blocks[index][byte] == (unsigned char)(index & 0xFF);
        intact += same;
    }
    CU_ASSERT_EQUAL(intact, BLOCKS);
    uint64_t slab_bytes = pool.slab_bytes;
    for (uint32_t index = 0; index < BLOCKS; index++)
        simlua__pool_free(&pool, blocks[index], block_size(index));
    CU_ASSERT_EQUAL(pool.live_bytes, 0);
    CU_ASSERT_EQUAL(simlua__pool_idle_bytes(&pool), slab_bytes);
    for (uint32_t index = 0; index < BLOCKS; index++) {     /* the same sizes again */
        blocks[index] = simlua__pool_alloc(&pool, block_size(index));
        CU_ASSERT_PTR_NOT_NULL_FATAL(blocks[index]);
    }
    CU_ASSERT_EQUAL(pool.slab_bytes, slab_bytes);            /* no new slab */
    CU_ASSERT_EQUAL(pool.live_bytes, live_bytes);
    for (uint32_t index = 0; index < BLOCKS; index++)
        simlua__pool_free(&pool, blocks[index], block_size(index));
    simlua__pool_destroy(&pool);
    CU_ASSERT_EQUAL(pool.slab_bytes, 0);
    CU_ASSERT_PTR_NULL(pool.slabs);
}

/* A block grows or shrinks where it lies only within its class. */
static void test_resize_in_place_within_a_class(void)
{
    struct simlua_pool pool;
    memset(&pool, 0, sizeof(pool));
    void *block = simlua__pool_alloc(&pool, 20);
    CU_ASSERT_PTR_NOT_NULL_FATAL(block);
    CU_ASSERT_TRUE(simlua__pool_resize_in_place(&pool, block, 20, 32));
    CU_ASSERT_TRUE(simlua__pool_resize_in_place(&pool, block, 32, 17));
    CU_ASSERT_FALSE(simlua__pool_resize_in_place(&pool, block, 17, 33));
    CU_ASSERT_FALSE(simlua__pool_resize_in_place(&pool, block, 17, 16));
    simlua__pool_free(&pool, block, 17);
    block = simlua__pool_alloc(&pool, 600);                 /* 513..640: one class */
    CU_ASSERT_PTR_NOT_NULL_FATAL(block);
    CU_ASSERT_TRUE(simlua__pool_resize_in_place(&pool, block, 600, 513));
    CU_ASSERT_TRUE(simlua__pool_resize_in_place(&pool, block, 513, 640));
    CU_ASSERT_FALSE(simlua__pool_resize_in_place(&pool, block, 640, 641));
    simlua__pool_free(&pool, block, 640);
    CU_ASSERT_EQUAL(pool.live_bytes, 0);
    simlua__pool_destroy(&pool);
}

/* A run that makes and drops strings, tables and closures of every size class, grows
 * and shrinks tables across classes and beyond the pool: the scenario sees its data
 * intact, and simlua_destroy finds every block back (it asserts so). */
static void test_runtime_allocations_round_trip(void)
{
    struct simlua_outcome outcome;
    test_run_lua_source(
        "local sim = require('vmcisim')\n"
        "local keep = {}\n"
        "for round = 1, 3 do\n"
        "  for size = 1, 9000, 37 do\n"
        "    local text = string.rep(string.char(65 + size % 26), size)\n"
        "    local list = {}\n"
        "    for i = 1, size // 64 do list[i] = i end\n"
        "    keep[#keep + 1] = { text = text, list = list, f = function() return size end }\n"
        "  end\n"
        "  for i, item in ipairs(keep) do\n"
        "    sim.expect(#item.text == item.f(), 'a string kept its length')\n"
        "    sim.expect(#item.list == item.f() // 64, 'a table kept its items')\n"
        "  end\n"
        "  if round < 3 then keep = {} end\n"
        "  collectgarbage()\n"
        "end\n",
        &outcome);
    CU_ASSERT_EQUAL(outcome.failure_count, 0);
    CU_ASSERT_EQUAL(outcome.exit_code, SIMLUA_EXIT_PASS);
}

/* Under ASan a block's bytes past what was asked for, and a freed block, are poisoned, so a
 * write past a payload or a use after free is reported (without ASan: nothing to check). */
static void test_asan_sees_past_the_end_and_after_free(void)
{
#if SIMLUA_ASAN
    struct simlua_pool pool;
    memset(&pool, 0, sizeof(pool));
    char *block = simlua__pool_alloc(&pool, 20);            /* a 32-byte class */
    CU_ASSERT_PTR_NOT_NULL_FATAL(block);
    CU_ASSERT_FALSE(__asan_address_is_poisoned(block + 19));
    CU_ASSERT_TRUE(__asan_address_is_poisoned(block + 24));
    simlua__pool_free(&pool, block, 20);
    CU_ASSERT_TRUE(__asan_address_is_poisoned(block));
    CU_ASSERT_TRUE(__asan_address_is_poisoned(block + 19));
    char *again = simlua__pool_alloc(&pool, 17);            /* the same block, 17 bytes */
    CU_ASSERT_PTR_EQUAL(again, block);
    CU_ASSERT_FALSE(__asan_address_is_poisoned(again + 16));
    CU_ASSERT_TRUE(__asan_address_is_poisoned(again + 24));
    simlua__pool_free(&pool, again, 17);
    char *tiny = simlua__pool_alloc(&pool, 1);      /* smaller than the free list's link */
    simlua__pool_free(&pool, tiny, 1);
    CU_ASSERT_PTR_EQUAL(simlua__pool_alloc(&pool, 1), tiny);    /* the link read back */
    CU_ASSERT_TRUE(__asan_address_is_poisoned(tiny + 8));
    simlua__pool_free(&pool, tiny, 1);
    simlua__pool_destroy(&pool);
#endif
}

CU_ErrorCode lua_pool_suite_add(void)
{
    static const struct test_entry tests[] = {
        { "classes_fit_their_blocks", test_classes_fit_their_blocks },
        { "blocks_are_distinct_and_reused", test_blocks_are_distinct_and_reused },
        { "resize_in_place_within_a_class", test_resize_in_place_within_a_class },
        { "runtime_allocations_round_trip", test_runtime_allocations_round_trip },
        { "asan_sees_past_the_end_and_after_free", test_asan_sees_past_the_end_and_after_free },
    };
    return test_suite_register("lua_pool", tests, sizeof(tests) / sizeof(tests[0]));
}
