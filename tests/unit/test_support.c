/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_support.c: suite registration shared by the CUnit suites.
 *
 * Every tests/unit/<module>_test.c lists its tests as a table of struct test_entry;
 * the loop that adds the suite and each test to the CUnit registry lives here once
 * instead of in each file (see test_support.h).
 */
#include "test_support.h"

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
