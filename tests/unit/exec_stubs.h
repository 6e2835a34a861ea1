/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/exec_stubs.h: the supervisor callbacks and program arguments of the exec
 * suites that build programs by hand (exec_process, exec_thread): no vSockets stack, CID 2,
 * failures and ends ignored. One copy, so both suites' programs are made the same way.
 */
#ifndef TESTS_UNIT_EXEC_STUBS_H
#define TESTS_UNIT_EXEC_STUBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim/exec/exec.h"

static inline struct vsock_stack *stub_stack_wait(void *owner, bool *killed)
{
    (void)owner;
    *killed = false;
    return NULL;
}
static inline uint32_t stub_local_cid(void *owner) { (void)owner; return 2; }
static inline void stub_failure(void *owner, const char *text) { (void)owner; (void)text; }
static inline void stub_ended(void *owner) { (void)owner; }

static const struct exec_callbacks stub_callbacks = {
    .stack_wait = stub_stack_wait, .local_cid = stub_local_cid,
    .failure = stub_failure, .ended = stub_ended,
};

static char *const fixture_argv[] = { "program", NULL };
static char *const fixture_envp[] = { "PATH=/bin", NULL };

#endif /* TESTS_UNIT_EXEC_STUBS_H */
