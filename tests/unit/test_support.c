/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_support.c: suite registration shared by the CUnit suites, and running
 * a Lua scenario given as text.
 *
 * Every tests/unit/<module>_test.c lists its tests as a table of struct test_entry;
 * the loop that adds the suite and each test to the CUnit registry lives here once
 * instead of in each file (see test_support.h).
 */
#include "test_support.h"

#include <stdlib.h>
#include <unistd.h>

#include "sim/lua/runtime.h"

void test_write_lua_file(const char *source, char path[TEST_LUA_PATH_BYTES])
{
    snprintf(path, TEST_LUA_PATH_BYTES, "%s", "/tmp/vmcisim-unit-test-XXXXXX.lua");
    int descriptor = mkstemps(path, 4);
    CU_ASSERT_FATAL(descriptor >= 0);
    size_t length = strlen(source);
    CU_ASSERT_FATAL(write(descriptor, source, length) == (ssize_t)length);
    close(descriptor);
}

void test_run_lua_source(const char *source, struct simlua_outcome *outcome)
{
    char path[TEST_LUA_PATH_BYTES];
    test_write_lua_file(source, path);
    struct simlua_options options = {
        .scenario_path = path, .seed = 1, .until_ns = SIM_TIME_NEVER, .quiet = true,
    };
    struct simlua_runtime *runtime = simlua_create(&options);
    CU_ASSERT_FATAL(runtime != NULL);
    simlua_run(runtime, outcome);
    simlua_destroy(runtime);
    unlink(path);
}

void test_expect_lua_source_passes(const char *source)
{
    struct simlua_outcome outcome;
    test_run_lua_source(source, &outcome);
    ASSERT_U64_EQ(outcome.exit_code, SIMLUA_EXIT_PASS);
    ASSERT_U64_EQ(outcome.failure_count, 0);
    CU_ASSERT_STRING_EQUAL(outcome.stopped, "idle");
}

void test_expect_world_refused(const char *options)
{
    char source[256];
    snprintf(source, sizeof(source), "local sim = require('vmcisim')\nsim.world{ %s }\n", options);
    struct simlua_outcome outcome;
    test_run_lua_source(source, &outcome);
    if (outcome.exit_code == SIMLUA_EXIT_PASS)
        fprintf(stderr, "sim.world{ %s } was accepted\n", options);
    CU_ASSERT_NOT_EQUAL(outcome.exit_code, SIMLUA_EXIT_PASS);
    CU_ASSERT_FALSE(outcome.world_created);
}

CU_ErrorCode test_suite_register(const char *suite_name, const struct test_entry *tests,
                                 size_t test_count)
{
    return test_suite_register_with_fixtures(suite_name, NULL, NULL, tests, test_count);
}

CU_ErrorCode test_suite_register_with_fixtures(const char *suite_name, CU_InitializeFunc init,
                                               CU_CleanupFunc cleanup,
                                               const struct test_entry *tests,
                                               size_t test_count)
{
    CU_pSuite suite = CU_add_suite(suite_name, init, cleanup);
    if (suite == NULL)
        return CU_get_error();
    for (size_t index = 0; index < test_count; index++) {
        if (CU_add_test(suite, tests[index].name, tests[index].function) == NULL)
            return CU_get_error();
    }
    return CUE_SUCCESS;
}
