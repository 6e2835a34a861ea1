/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/exec_stubs.h: the supervisor callbacks and program arguments of the exec
 * suites that build programs by hand (exec_process, exec_thread): no vSockets stack, CID 2,
 * failures and ends ignored; and the started process those suites' fixtures make (pid 1 on
 * the host of a C world, no real program behind it). One copy, so both suites' programs are
 * made the same way.
 */
#ifndef TESTS_UNIT_EXEC_STUBS_H
#define TESTS_UNIT_EXEC_STUBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <CUnit/CUnit.h>

#include "sim/exec/exec.h"
#include "sim/exec/exec_int.h"
#include "vsock/vs_world.h"

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

/* The process ep:exec would have started: pid 1 on `world`'s host, its own root and leader
 * (a process, not a thread), no channel, a fresh descriptor table and vSockets context. */
static inline struct exec_program *exec_stub_root(struct vs_world *world)
{
    struct exec_program *root = calloc(1, sizeof(*root));
    CU_ASSERT_FATAL(root != NULL);
    root->engine = world->engine;
    root->callbacks = &stub_callbacks;
    root->name = "program";
    root->nodename = "host";
    root->binary_path = "/bin/program";
    root->scratch_dir = root->shim_path = "/tmp";
    root->argv = (char **)fixture_argv;
    root->envp = (char **)fixture_envp;
    root->pid = 1;
    root->parent_pid = 1;
    root->root = root->leader = root;
    exec_channel_init(&root->channel);
    root->channel_pending = root->pidfd = -1;
    root->output_fd[0] = root->output_fd[1] = -1;
    root->buffer = calloc(1, EXEC_PAYLOAD_BYTES_MAX + EXEC_ADDRESS_BYTES);
    CU_ASSERT_FATAL(root->buffer != NULL);
    struct vsock_credentials credentials = { .trusted = true, .pid = 1 };
    vs_context_init(&root->context, root->engine, &world->host.stack, &credentials);
    root->context_live = true;
    exec_fdmap_init(&root->fdmap);
    sim_waitq_init(&root->children_waitq, "wait");
    sim_waitq_init(&root->futex_waitq, "futex");
    return root;
}

/* Frees what exec_stub_root made, and the family and threads the test gave it. */
static inline void exec_stub_root_free(struct exec_program *root)
{
    exec__family_destroy(root);
    vs_context_destroy(&root->context);
    free(root->buffer);
    free(root->threads);
    free(root);
}

#endif /* TESTS_UNIT_EXEC_STUBS_H */
