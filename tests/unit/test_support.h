/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_support.h: what every CUnit suite in tests/unit shares.
 *
 * The assertions that print the values they compare (CUnit's own print only the
 * expression), and the table-driven registration of a suite: each
 * tests/unit/<module>_test.c lists its tests once, as a static array of
 * TEST_ENTRY, and its `<module>_suite_add()` is one call to test_suite_register.
 * One copy here, so every suite reports failures and registers tests the same way.
 */
#ifndef TESTS_UNIT_TEST_SUPPORT_H
#define TESTS_UNIT_TEST_SUPPORT_H

#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <CUnit/CUnit.h>

/* Asserts actual == expected as uint64_t. On failure prints both values, in decimal and
 * in hex, then records the assertion with CUnit (non-fatal). */
#define ASSERT_U64_EQ(actual, expected)                                                      \
    do {                                                                                     \
        uint64_t actual_ = (uint64_t)(actual);                                               \
        uint64_t expected_ = (uint64_t)(expected);                                           \
        if (actual_ != expected_)                                                            \
            fprintf(stderr, "%s:%d: %s is %" PRIu64 " (0x%016" PRIx64 "), expected %" PRIu64 \
                    " (0x%016" PRIx64 ")\n", __FILE__, __LINE__, #actual, actual_, actual_,  \
                    expected_, expected_);                                                   \
        CU_assertImplementation(actual_ == expected_, __LINE__,                              \
                                "ASSERT_U64_EQ(" #actual ", " #expected ")", __FILE__, "",   \
                                CU_FALSE);                                                   \
    } while (0)

/* Asserts that the string `text` contains `part`. On failure prints both, then records
 * the assertion with CUnit (non-fatal). */
#define ASSERT_STR_CONTAINS(text, part)                                                   \
    do {                                                                                  \
        const char *text_ = (text);                                                       \
        if (strstr(text_, (part)) == NULL)                                                \
            fprintf(stderr, "%s:%d: \"%s\" lacks \"%s\"\n", __FILE__, __LINE__, text_,    \
                    (part));                                                              \
        CU_assertImplementation(strstr(text_, (part)) != NULL, __LINE__,                  \
                                "ASSERT_STR_CONTAINS(" #text ", " #part ")", __FILE__,    \
                                "", CU_FALSE);                                            \
    } while (0)

struct simlua_outcome;

/* Writes `source` to a new temporary .lua file and puts its name in `path`; the caller
 * unlinks it. */
#define TEST_LUA_PATH_BYTES 64
void test_write_lua_file(const char *source, char path[TEST_LUA_PATH_BYTES]);
/* Writes `source` to a temporary .lua file, runs it as a quiet scenario with seed 1
 * (sim/lua/runtime.h), removes the file and returns the outcome in *outcome. */
void test_run_lua_source(const char *source, struct simlua_outcome *outcome);
/* Runs `source` as test_run_lua_source does and asserts that it passed: exit PASS, no
 * failed expectation, stopped because nothing was left to run ("idle"). */
void test_expect_lua_source_passes(const char *source);
/* Asserts that `sim.world{ OPTIONS }` raises before a world exists (the scenario fails and
 * no world was created); names the options on stderr when they were accepted. */
void test_expect_world_refused(const char *options);

/* One test of a suite: the name CUnit reports and the function it runs. */
struct test_entry {
    const char *name;
    CU_TestFunc function;
};

/* The entry for test function `fn`, reported under its own name. */
#define TEST_ENTRY(fn) { #fn, fn }

/* Adds the suite `suite_name` (no init or cleanup) and then each of the `test_count`
 * tests in order. Returns CUE_SUCCESS, or CU_get_error() at the first failure. */
CU_ErrorCode test_suite_register(const char *suite_name, const struct test_entry *tests,
                                 size_t test_count);

/* test_suite_register for a suite with fixtures: CUnit runs `init` before the suite's
 * first test and `cleanup` after its last (either may be NULL). */
CU_ErrorCode test_suite_register_with_fixtures(const char *suite_name, CU_InitializeFunc init,
                                               CU_CleanupFunc cleanup,
                                               const struct test_entry *tests,
                                               size_t test_count);

#endif /* TESTS_UNIT_TEST_SUPPORT_H */
