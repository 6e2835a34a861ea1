/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/lua_block_set_test.c: the set of a runtime's malloc'd blocks
 * (sim/lua/block_set.c) and the whole-state teardown of sweep workers that it allows
 * (simlua_destroy with teardown_wholesale, sim/lua/runtime.c).
 *
 * Method: the set's C API directly (membership through growth and removals in mixed
 * order, a lost set recording nothing), then runtimes with teardown_wholesale: their
 * large blocks are in the set before the teardown (freed whole; under ASan the leak check
 * at exit sees any block missed), and a run that made a datagram is marked to be closed by
 * lua_close (its finalizer frees memory outside the state).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "sim/lua/lua_int.h"
#include "sim/lua/runtime.h"
#include "suites.h"
#include "test_support.h"

#define BLOCKS 5000

/* Every block added is found until it is removed, and only then; removals in an order
 * unrelated to the adds keep every other block findable (the backward shift). */
static void test_membership_through_growth_and_removal(void)
{
    struct simlua_block_set set;
    memset(&set, 0, sizeof(set));
    static void *blocks[BLOCKS];
    for (uint32_t index = 0; index < BLOCKS; index++) {
        blocks[index] = malloc(16 + index % 64);
        CU_ASSERT_PTR_NOT_NULL_FATAL(blocks[index]);
        simlua__block_set_add(&set, blocks[index]);
    }
    CU_ASSERT_FALSE(set.lost);
    ASSERT_U64_EQ(set.count, BLOCKS);
    CU_ASSERT_TRUE(set.count * 2 <= set.capacity);
    CU_ASSERT_EQUAL(set.capacity & (set.capacity - 1), 0);
    uint32_t found = 0;
    for (uint32_t index = 0; index < BLOCKS; index++)
        found += simlua__block_set_has(&set, blocks[index]);
    ASSERT_U64_EQ(found, BLOCKS);
    /* Remove every block whose mixed index is odd. */
    uint32_t removed = 0;
    for (uint32_t index = 0; index < BLOCKS; index++) {
        uint32_t mixed = (index * 2654435761u) % BLOCKS;
        if (mixed % 2 == 1) {
            simlua__block_set_remove(&set, blocks[index]);
            free(blocks[index]);
            blocks[index] = NULL;
            removed++;
        }
    }
    ASSERT_U64_EQ(set.count, BLOCKS - removed);
    uint32_t kept = 0;
    for (uint32_t index = 0; index < BLOCKS; index++)
        kept += blocks[index] != NULL && simlua__block_set_has(&set, blocks[index]);
    ASSERT_U64_EQ(kept, BLOCKS - removed);
    int stranger = 0;
    CU_ASSERT_FALSE(simlua__block_set_has(&set, &stranger));
    simlua__block_set_free_all(&set);           /* frees the kept blocks */
    ASSERT_U64_EQ(set.count, 0);
    CU_ASSERT_PTR_NULL(set.slots);
}

/* A lost set records nothing more and removing from it is harmless. */
static void test_lost_set_records_nothing(void)
{
    struct simlua_block_set set;
    memset(&set, 0, sizeof(set));
    int first = 0, second = 0;
    simlua__block_set_add(&set, &first);
    CU_ASSERT_TRUE(simlua__block_set_has(&set, &first));
    simlua__block_set_remove(&set, &first);
    simlua__block_set_destroy(&set);
    set.lost = true;
    simlua__block_set_add(&set, &second);
    CU_ASSERT_FALSE(simlua__block_set_has(&set, &second));
    ASSERT_U64_EQ(set.count, 0);
    simlua__block_set_remove(&set, &second);
    ASSERT_U64_EQ(set.count, 0);
}

/* Runs `source` with teardown_wholesale; *close_needed and the number of blocks in the
 * set are read just before the teardown. */
static void run_wholesale(const char *source, struct simlua_outcome *outcome,
                          bool *close_needed, uint32_t *blocks_recorded)
{
    char path[TEST_LUA_PATH_BYTES];
    test_write_lua_file(source, path);
    struct simlua_options options = {
        .scenario_path = path, .seed = 1, .until_ns = SIM_TIME_NEVER, .quiet = true,
        .teardown_wholesale = true,
    };
    struct simlua_runtime *runtime = simlua_create(&options);
    CU_ASSERT_FATAL(runtime != NULL);
    simlua_run(runtime, outcome);
    *close_needed = runtime->close_needed;
    *blocks_recorded = runtime->malloc_blocks.count;
    CU_ASSERT_FALSE(runtime->malloc_blocks.lost);
    simlua_destroy(runtime);
    unlink(path);
}

/* Strings and tables beyond the pool's largest class are malloc'd and recorded, and the
 * state is freed whole (under ASan every block is malloc'd, and the leak check at exit
 * would name one the teardown missed). */
static void test_wholesale_teardown_frees_large_blocks(void)
{
    struct simlua_outcome outcome;
    bool close_needed = true;
    uint32_t blocks_recorded = 0;
    run_wholesale("local sim = require('vmcisim')\n"
                  "keep = {}\n"
                  "for i = 1, 20 do keep[i] = string.rep('x', 9000 + i) end\n"
                  "local big = {}\n"
                  "for i = 1, 5000 do big[i] = i end\n"
                  "keep.big = big\n"
                  "sim.expect(#keep[20] == 9020, 'a large string kept its length')\n",
                  &outcome, &close_needed, &blocks_recorded);
    ASSERT_U64_EQ(outcome.exit_code, SIMLUA_EXIT_PASS);
    CU_ASSERT_FALSE(close_needed);
    CU_ASSERT_TRUE(blocks_recorded >= 21);
}

/* A datagram's finalizer frees memory outside the state: such a run is closed with
 * lua_close (which runs it), even in a sweep worker. */
static void test_datagram_makes_close_needed(void)
{
    struct simlua_outcome outcome;
    bool close_needed = false;
    uint32_t blocks_recorded = 0;
    run_wholesale("local sim = require('vmcisim')\n"
                  "local w = sim.world{}\n"
                  "w:host():spawn('owner', function(p)\n"
                  "  local dg = assert(p:vmci():datagram(6000))\n"
                  "end)\n"
                  "w:run()\n",
                  &outcome, &close_needed, &blocks_recorded);
    ASSERT_U64_EQ(outcome.exit_code, SIMLUA_EXIT_PASS);
    CU_ASSERT_TRUE(close_needed);
}

CU_ErrorCode lua_block_set_suite_add(void)
{
    static const struct test_entry tests[] = {
        { "membership_through_growth_and_removal",
          test_membership_through_growth_and_removal },
        { "lost_set_records_nothing", test_lost_set_records_nothing },
        { "wholesale_teardown_frees_large_blocks", test_wholesale_teardown_frees_large_blocks },
        { "datagram_makes_close_needed", test_datagram_makes_close_needed },
    };
    return test_suite_register("lua_block_set", tests, sizeof(tests) / sizeof(tests[0]));
}
