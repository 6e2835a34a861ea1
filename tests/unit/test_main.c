/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_main.c: runs every CUnit suite listed in suites.h.
 *
 * Usage: unit_tests [SUITE]   (no argument: all suites). Exits 1 on any failure
 * so `make test` fails, and prints CUnit's summary table.
 */
#include <stdio.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "suites.h"

int main(int argc, char **argv)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
#define TEST_SUITE_ADD(name)                                                  \
    if (argc < 2 || strcmp(argv[1], #name) == 0) {                            \
        if (name##_suite_add() != CUE_SUCCESS) {                              \
            fprintf(stderr, "cannot add suite %s: %s\n", #name, CU_get_error_msg()); \
            CU_cleanup_registry();                                            \
            return 2;                                                         \
        }                                                                     \
    }
    TEST_SUITES(TEST_SUITE_ADD)
#undef TEST_SUITE_ADD
    CU_basic_set_mode(CU_BRM_NORMAL);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    unsigned asserts_failed = CU_get_number_of_failures();
    unsigned tests_run = CU_get_number_of_tests_run();
    unsigned tests_failed = CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    printf("unit: %u passed, %u failed\n", tests_run - tests_failed, tests_failed);
    return (failed != 0 || asserts_failed != 0) ? 1 : 0;
}
