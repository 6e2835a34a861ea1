/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/vsock_test_support.h: assertions shared by the tests of the C socket API
 * (vsock/vmci_sockets.h), which returns -1 and sets errno: on failure they print the
 * call, what it returned and both errno names, so a wrong errno reads at a glance.
 */
#ifndef TESTS_UNIT_VSOCK_TEST_SUPPORT_H
#define TESTS_UNIT_VSOCK_TEST_SUPPORT_H

#include <errno.h>
#include <stdio.h>

#include <CUnit/CUnit.h>

#include "vsock/core.h"

#define SA(addr) ((struct sockaddr *)&(addr))

/* Asserts that `call` failed with -1 and errno `expected`; prints both names if not. */
#define ASSERT_FAILS(call, expected)                                                     \
    do {                                                                                 \
        errno = 0;                                                                       \
        long long rc_ = (long long)(call);                                               \
        int errno_ = errno;                                                              \
        if (rc_ != -1 || errno_ != (expected))                                           \
            fprintf(stderr, "%s:%d: %s returned %lld, errno %s; expected -1, %s\n",      \
                    __FILE__, __LINE__, #call, rc_, vsock_errno_name(errno_),            \
                    vsock_errno_name(expected));                                         \
        CU_assertImplementation(rc_ == -1 && errno_ == (expected), __LINE__,             \
                                "ASSERT_FAILS(" #call ", " #expected ")", __FILE__, "",  \
                                CU_FALSE);                                               \
    } while (0)

/* Asserts that `call` returned `expected` (a count or 0); prints errno if not. */
#define ASSERT_RETURNS(call, expected)                                                   \
    do {                                                                                 \
        errno = 0;                                                                       \
        long long rc_ = (long long)(call);                                               \
        int errno_ = errno;                                                              \
        if (rc_ != (long long)(expected))                                                \
            fprintf(stderr, "%s:%d: %s returned %lld (errno %s), expected %lld\n",       \
                    __FILE__, __LINE__, #call, rc_, rc_ < 0 ? vsock_errno_name(errno_)   \
                    : "-", (long long)(expected));                                       \
        CU_assertImplementation(rc_ == (long long)(expected), __LINE__,                  \
                                "ASSERT_RETURNS(" #call ", " #expected ")", __FILE__,    \
                                "", CU_FALSE);                                           \
    } while (0)

#endif /* TESTS_UNIT_VSOCK_TEST_SUPPORT_H */
