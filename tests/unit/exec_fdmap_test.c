/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/exec_fdmap_test.c: a program's simulated descriptors (sim/exec/fdmap.h):
 * the child's numbers map to simulated sockets, dup shares one description, the last
 * close hands the socket back to be closed, and every bound is an error, never a crash.
 * The invariants FM1-FM3 are checked after each step.
 */
#include <errno.h>
#include <stdlib.h>

#include <CUnit/CUnit.h>

#include "sim/exec/fdmap.h"
#include "suites.h"
#include "test_support.h"

static struct exec_fdmap *map_new(void)
{
    struct exec_fdmap *map = malloc(sizeof(*map));
    CU_ASSERT_FATAL(map != NULL);
    exec_fdmap_init(map);
    return map;
}

static void test_add_lookup_remove(void)
{
    struct exec_fdmap *map = map_new();
    CU_ASSERT_EQUAL(exec_fdmap_add(map, 3, 7), 0);
    CU_ASSERT_EQUAL(exec_fdmap_add(map, 5, -1), 0);            /* /dev/vsock */
    const struct exec_description *socket = exec_fdmap_lookup(map, 3);
    CU_ASSERT_FATAL(socket != NULL);
    CU_ASSERT_EQUAL(socket->vs_fd, 7);
    CU_ASSERT_EQUAL(exec_fdmap_lookup(map, 5)->vs_fd, -1);
    CU_ASSERT_PTR_NULL(exec_fdmap_lookup(map, 4));               /* a real descriptor */
    ASSERT_U64_EQ(map->fd_count, 2);
    int vs_fd = -99;
    CU_ASSERT_EQUAL(exec_fdmap_remove(map, 3, &vs_fd), 1);
    CU_ASSERT_EQUAL(vs_fd, 7);
    CU_ASSERT_PTR_NULL(exec_fdmap_lookup(map, 3));
    CU_ASSERT_EQUAL(exec_fdmap_remove(map, 3, &vs_fd), -EBADF);    /* closed twice */
    CU_ASSERT_TRUE(exec_fdmap_check(map));
    free(map);
}

static void test_dup_shares_until_last_close(void)
{
    struct exec_fdmap *map = map_new();
    CU_ASSERT_EQUAL(exec_fdmap_add(map, 3, 11), 0);
    CU_ASSERT_EQUAL(exec_fdmap_dup(map, 3, 8), 0);
    CU_ASSERT_EQUAL(exec_fdmap_dup(map, 8, 9), 0);
    CU_ASSERT_PTR_EQUAL(exec_fdmap_lookup(map, 3), exec_fdmap_lookup(map, 9));
    ASSERT_U64_EQ(exec_fdmap_lookup(map, 3)->refs, 3);
    int vs_fd = -99;
    CU_ASSERT_EQUAL(exec_fdmap_remove(map, 3, &vs_fd), 0);        /* others still hold it */
    CU_ASSERT_EQUAL(vs_fd, -99);
    CU_ASSERT_EQUAL(exec_fdmap_remove(map, 9, &vs_fd), 0);
    CU_ASSERT_EQUAL(exec_fdmap_lookup(map, 8)->vs_fd, 11);
    CU_ASSERT_EQUAL(exec_fdmap_remove(map, 8, &vs_fd), 1);
    CU_ASSERT_EQUAL(vs_fd, 11);
    ASSERT_U64_EQ(map->fd_count, 0);
    CU_ASSERT_TRUE(exec_fdmap_check(map));
    free(map);
}

static void test_bounds_are_errors(void)
{
    struct exec_fdmap *map = map_new();
    CU_ASSERT_EQUAL(exec_fdmap_add(map, -1, 0), -EBADF);
    CU_ASSERT_EQUAL(exec_fdmap_add(map, (int)EXEC_FDS_MAX, 0), -EBADF);
    CU_ASSERT_EQUAL(exec_fdmap_add(map, 4, 0), 0);
    CU_ASSERT_EQUAL(exec_fdmap_add(map, 4, 1), -EBADF);              /* already simulated */
    CU_ASSERT_EQUAL(exec_fdmap_dup(map, 5, 6), -EBADF);              /* not simulated */
    CU_ASSERT_EQUAL(exec_fdmap_dup(map, 4, 4), -EBADF);              /* onto a simulated one */
    CU_ASSERT_EQUAL(exec_fdmap_dup(map, 4, (int)EXEC_FDS_MAX), -EBADF);
    CU_ASSERT_PTR_NULL(exec_fdmap_lookup(map, -5));
    CU_ASSERT_PTR_NULL(exec_fdmap_lookup(map, 1 << 20));
    int vs_fd = 0;
    CU_ASSERT_EQUAL(exec_fdmap_remove(map, (int)EXEC_FDS_MAX + 3, &vs_fd), -EBADF);
    CU_ASSERT_TRUE(exec_fdmap_check(map));
    free(map);
}

static void test_descriptions_run_out_with_emfile(void)
{
    struct exec_fdmap *map = map_new();
    for (int index = 0; index < (int)EXEC_DESCRIPTIONS_MAX; index++)
        CU_ASSERT_EQUAL(exec_fdmap_add(map, 10 + index, index), 0);
    CU_ASSERT_EQUAL(exec_fdmap_add(map, 900, 999), -EMFILE);
    CU_ASSERT_EQUAL(exec_fdmap_dup(map, 10, 901), 0);           /* a dup takes no description */
    int vs_fd = -1;
    CU_ASSERT_EQUAL(exec_fdmap_remove(map, 20, &vs_fd), 1);
    CU_ASSERT_EQUAL(vs_fd, 10);
    CU_ASSERT_EQUAL(exec_fdmap_add(map, 900, 999), 0);          /* the freed one, reused */
    CU_ASSERT_EQUAL(exec_fdmap_lookup(map, 900)->vs_fd, 999);
    CU_ASSERT_PTR_EQUAL(exec_fdmap_lookup(map, 900), &map->descriptions[10]);   /* lowest */
    CU_ASSERT_TRUE(exec_fdmap_check(map));
    free(map);
}

static void test_check_catches_a_broken_count(void)
{
    struct exec_fdmap *map = map_new();
    CU_ASSERT_EQUAL(exec_fdmap_add(map, 3, 1), 0);
    map->descriptions[0].refs = 2;                              /* FM2 broken by hand */
    CU_ASSERT_FALSE(exec_fdmap_check(map));
    map->descriptions[0].refs = 1;
    map->fd_count = 5;                                          /* FM3 broken by hand */
    CU_ASSERT_FALSE(exec_fdmap_check(map));
    free(map);
}

CU_ErrorCode exec_fdmap_suite_add(void)
{
    static const struct test_entry tests[] = {
        TEST_ENTRY(test_add_lookup_remove),
        TEST_ENTRY(test_dup_shares_until_last_close),
        TEST_ENTRY(test_bounds_are_errors),
        TEST_ENTRY(test_descriptions_run_out_with_emfile),
        TEST_ENTRY(test_check_catches_a_broken_count),
    };
    return test_suite_register("exec_fdmap", tests, sizeof(tests) / sizeof(tests[0]));
}
