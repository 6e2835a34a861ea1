/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/exec_process_test.c: fork and wait on the supervisor's side (sim/exec/process.c)
 * without a real child: a program's fork and wait calls are served on a host stack of a C
 * world from plain code (nothing runs the engine, so the forked process never starts; its
 * channel is closed). After a fork both processes name the same simulated sockets: closing
 * one process's descriptors leaves the socket open for the other (a port stays bound), the
 * last close anywhere closes it; dup'ed descriptors count too; the bounds are errors.
 * Emulated signals: the order they are taken in, what is discarded, and EINTR; kill between
 * the programs of one endpoint; sigwait's take of blocked signals and what siginfo_t says.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "sim/exec/exec_int.h"
#include "sim/exec/pipe.h"
#include "exec_stubs.h"
#include "suites.h"
#include "test_support.h"
#include "vsock/vs_world.h"

struct fixture {
    struct vs_world *world;
    struct exec_program *root;
};

static void fixture_open(struct fixture *fixture)
{
    char message[VS_WORLD_MESSAGE_BYTES_MAX];
    struct vs_world_config config = { .seed = 7 };
    fixture->world = vs_world_create(&config, message, sizeof(message));
    CU_ASSERT_FATAL(fixture->world != NULL);
    fixture->root = exec_stub_root(fixture->world);
}

static void fixture_close(struct fixture *fixture)
{
    exec_stub_root_free(fixture->root);
    vs_world_destroy(fixture->world);
}

static int64_t call(struct exec_program *program, enum exec_op op, int64_t a0, int64_t a1,
                    int64_t a2, const void *payload, uint32_t payload_bytes,
                    struct exec_reply *reply)
{
    struct exec_request request = { .magic = EXEC_MAGIC, .op = op,
                                    .payload_bytes = payload_bytes, .args = { a0, a1, a2 } };
    if (payload_bytes > 0)
        memcpy(program->buffer, payload, payload_bytes);
    CU_ASSERT_TRUE(exec__request_valid(&request));
    CU_ASSERT_TRUE(exec__serve(program, &request, reply));
    return reply->result;
}

/* A stream socket at child descriptor `fd`, bound to `port`. */
static void bound_socket(struct exec_program *program, int fd, uint32_t port)
{
    struct exec_reply reply;
    CU_ASSERT_EQUAL(call(program, EXEC_OP_SOCKET, fd, AF_VSOCK, SOCK_STREAM, NULL, 0, &reply),
                    0);
    struct sockaddr_vm address = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY,
                                   .svm_port = port };
    CU_ASSERT_EQUAL(call(program, EXEC_OP_BIND, fd, 0, 0, &address, sizeof(address), &reply),
                    0);
}

/* Whether `port` is free: a fresh socket of the root binds to it (then is closed). */
static bool port_free(struct exec_program *root, uint32_t port)
{
    struct exec_reply reply;
    CU_ASSERT_EQUAL(call(root, EXEC_OP_SOCKET, 900, AF_VSOCK, SOCK_STREAM, NULL, 0, &reply), 0);
    struct sockaddr_vm address = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY,
                                   .svm_port = port };
    int64_t rc = call(root, EXEC_OP_BIND, 900, 0, 0, &address, sizeof(address), &reply);
    CU_ASSERT_EQUAL(call(root, EXEC_OP_CLOSE, 900, 0, 0, NULL, 0, &reply), 0);
    return rc == 0;
}

/* Forks `parent`; returns the child's process (its channel end closed: it never runs). */
static struct exec_program *fork_of(struct fixture *fixture, struct exec_program *parent)
{
    struct exec_reply reply;
    int64_t pid = call(parent, EXEC_OP_FORK, 0, 0, 0, NULL, 0, &reply);
    CU_ASSERT_FATAL(pid > 0);
    CU_ASSERT_FATAL(parent->channel_pending >= 0);
    close(parent->channel_pending);
    parent->channel_pending = -1;
    struct exec_program *child = exec__family_member(fixture->root, (uint32_t)pid);
    CU_ASSERT_FATAL(child != NULL);
    CU_ASSERT_EQUAL(child->parent, parent);
    CU_ASSERT_EQUAL(child->parent_pid, parent->pid);
    return child;
}

static void test_fork_shares_sockets_until_the_last_close(void)
{
    struct fixture fixture;
    fixture_open(&fixture);
    struct exec_program *root = fixture.root;
    bound_socket(root, 5, 7000);
    CU_ASSERT_FALSE(port_free(root, 7000));
    struct exec_program *child = fork_of(&fixture, root);
    CU_ASSERT_PTR_NOT_NULL(exec_fdmap_lookup(&child->fdmap, 5));       /* the same number */
    const struct exec_description *mine = exec_fdmap_lookup(&root->fdmap, 5);
    const struct exec_description *theirs = exec_fdmap_lookup(&child->fdmap, 5);
    CU_ASSERT_PTR_EQUAL(vs_socket_of(&root->context, mine->vs_fd),
                        vs_socket_of(&child->context, theirs->vs_fd));  /* one socket */
    struct exec_reply reply;
    CU_ASSERT_EQUAL(call(root, EXEC_OP_CLOSE, 5, 0, 0, NULL, 0, &reply), 0);
    CU_ASSERT_PTR_NULL(exec_fdmap_lookup(&root->fdmap, 5));
    CU_ASSERT_FALSE(port_free(root, 7000));          /* the child still holds it: bound */
    CU_ASSERT_EQUAL(call(child, EXEC_OP_CLOSE, 5, 0, 0, NULL, 0, &reply), 0);
    CU_ASSERT_TRUE(port_free(root, 7000));           /* the last close closed it */
    CU_ASSERT_EQUAL(call(child, EXEC_OP_CLOSE, 5, 0, 0, NULL, 0, &reply), -EBADF);
    fixture_close(&fixture);
}

static void test_dups_and_grandchildren_count_as_holders(void)
{
    struct fixture fixture;
    fixture_open(&fixture);
    struct exec_program *root = fixture.root;
    struct exec_reply reply;
    bound_socket(root, 5, 7001);
    CU_ASSERT_EQUAL(call(root, EXEC_OP_DUP, 5, 6, 0, NULL, 0, &reply), 0);
    struct exec_program *child = fork_of(&fixture, root);
    struct exec_program *grandchild = fork_of(&fixture, child);
    CU_ASSERT_EQUAL(grandchild->parent_pid, child->pid);
    /* Every process drops one number at a time; only the very last close frees the port. */
    struct exec_program *order[] = { child, root, grandchild, child, root };
    int fds[] = { 5, 6, 6, 6, 5 };
    for (size_t step = 0; step < 5; step++) {
        CU_ASSERT_EQUAL(call(order[step], EXEC_OP_CLOSE, fds[step], 0, 0, NULL, 0, &reply), 0);
        CU_ASSERT_FALSE(port_free(root, 7001));
    }
    CU_ASSERT_EQUAL(call(grandchild, EXEC_OP_CLOSE, 5, 0, 0, NULL, 0, &reply), 0);
    CU_ASSERT_TRUE(port_free(root, 7001));
    fixture_close(&fixture);
}

static void test_a_child_socket_is_its_own(void)
{
    struct fixture fixture;
    fixture_open(&fixture);
    struct exec_program *child = fork_of(&fixture, fixture.root);
    bound_socket(child, 8, 7002);                   /* made after the fork: not shared */
    CU_ASSERT_PTR_NULL(exec_fdmap_lookup(&fixture.root->fdmap, 8));
    CU_ASSERT_FALSE(port_free(fixture.root, 7002));
    struct exec_reply reply;
    CU_ASSERT_EQUAL(call(child, EXEC_OP_CLOSE, 8, 0, 0, NULL, 0, &reply), 0);
    CU_ASSERT_TRUE(port_free(fixture.root, 7002));
    fixture_close(&fixture);
}

static void test_wait_sees_children_only(void)
{
    struct fixture fixture;
    fixture_open(&fixture);
    struct exec_program *root = fixture.root;
    struct exec_reply reply;
    CU_ASSERT_EQUAL(call(root, EXEC_OP_WAIT, -1, 0, 0, NULL, 0, &reply), -ECHILD);
    struct exec_program *child = fork_of(&fixture, root);
    CU_ASSERT_EQUAL(call(root, EXEC_OP_WAIT, -1, WNOHANG, 0, NULL, 0, &reply), 0);
    CU_ASSERT_EQUAL(call(root, EXEC_OP_WAIT, child->pid + 1, WNOHANG, 0, NULL, 0, &reply),
                    -ECHILD);
    CU_ASSERT_EQUAL(call(child, EXEC_OP_WAIT, -1, WNOHANG, 0, NULL, 0, &reply), -ECHILD);
    fixture_close(&fixture);
}

static void test_forks_are_bounded(void)
{
    struct fixture fixture;
    fixture_open(&fixture);
    struct exec_reply reply;
    int64_t last = 0;
    uint32_t made = 0;
    for (uint32_t attempt = 0; attempt < 70; attempt++) {
        last = call(fixture.root, EXEC_OP_FORK, 0, 0, 0, NULL, 0, &reply);
        if (last < 0)
            break;
        made++;
        close(fixture.root->channel_pending);
        fixture.root->channel_pending = -1;
    }
    CU_ASSERT_EQUAL(made, 64);                      /* EXEC_PROCESSES_MAX */
    CU_ASSERT_EQUAL(last, -EAGAIN);
    fixture_close(&fixture);
}

/* Emulated signals (sim/exec/signal.c): blocked ones wait, unblocked ones are taken lowest
 * number first, ignored ones are discarded, SIGKILL cannot be caught. */
static void test_signals_are_taken_lowest_first(void)
{
    struct fixture fixture;
    fixture_open(&fixture);
    struct exec_program *root = fixture.root;
    struct exec_reply reply;
    for (int signo = SIGUSR1; signo <= SIGUSR2; signo += SIGUSR2 - SIGUSR1)
        CU_ASSERT_EQUAL(call(root, EXEC_OP_SIGACTION, signo, EXEC_SIGNAL_HANDLER, 0, NULL, 0,
                             &reply), 0);
    uint64_t both = (1ull << (SIGUSR1 - 1)) | (1ull << (SIGUSR2 - 1));
    CU_ASSERT_EQUAL(call(root, EXEC_OP_SIGMASK, SIG_BLOCK, (int64_t)both, 0, NULL, 0, &reply),
                    0);
    CU_ASSERT_EQUAL(call(root, EXEC_OP_KILL, root->pid, SIGUSR2, 0, NULL, 0, &reply), 0);
    CU_ASSERT_EQUAL(call(root, EXEC_OP_KILL, root->pid, SIGUSR1, 0, NULL, 0, &reply), 0);
    ASSERT_U64_EQ(reply.signals, 0);                    /* blocked: pending, not offered */
    ASSERT_U64_EQ(root->signals.pending, both);
    CU_ASSERT_EQUAL(call(root, EXEC_OP_SIGMASK, SIG_UNBLOCK, (int64_t)both, 0, NULL, 0, &reply),
                    0);
    ASSERT_U64_EQ(reply.signals, both);                 /* offered with the reply */
    CU_ASSERT_EQUAL(call(root, EXEC_OP_SIGTAKE, 0, 0, 0, NULL, 0, &reply), SIGUSR1);
    CU_ASSERT_EQUAL(reply.values[0], EXEC_SIGNAL_HANDLER);
    ASSERT_U64_EQ(reply.values[1], 0);                  /* the mask to restore */
    CU_ASSERT_TRUE((root->signals.blocked & (1ull << (SIGUSR1 - 1))) != 0);  /* in handler */
    CU_ASSERT_EQUAL(call(root, EXEC_OP_SIGMASK, SIG_SETMASK, 0, 0, NULL, 0, &reply), 0);
    CU_ASSERT_EQUAL(call(root, EXEC_OP_SIGTAKE, 0, 0, 0, NULL, 0, &reply), SIGUSR2);
    CU_ASSERT_EQUAL(call(root, EXEC_OP_SIGTAKE, 0, 0, 0, NULL, 0, &reply), 0);
    /* Ignored: discarded at once. Default SIGCHLD: discarded. SIGKILL: not catchable. */
    CU_ASSERT_EQUAL(call(root, EXEC_OP_SIGACTION, SIGUSR1, EXEC_SIGNAL_IGNORE, 0, NULL, 0,
                         &reply), 0);
    CU_ASSERT_EQUAL(reply.values[0], EXEC_SIGNAL_HANDLER);              /* the old action */
    CU_ASSERT_EQUAL(call(root, EXEC_OP_KILL, root->pid, SIGUSR1, 0, NULL, 0, &reply), 0);
    CU_ASSERT_EQUAL(call(root, EXEC_OP_KILL, root->pid, SIGCHLD, 0, NULL, 0, &reply), 0);
    ASSERT_U64_EQ(root->signals.pending, 0);
    CU_ASSERT_EQUAL(call(root, EXEC_OP_SIGACTION, SIGKILL, EXEC_SIGNAL_HANDLER, 0, NULL, 0,
                         &reply), -EINVAL);
    CU_ASSERT_EQUAL(call(root, EXEC_OP_KILL, 999, SIGUSR1, 0, NULL, 0, &reply), -ESRCH);
    /* Default action of SIGTERM: the shim is told to end the program. */
    CU_ASSERT_EQUAL(call(root, EXEC_OP_KILL, root->pid, SIGTERM, 0, NULL, 0, &reply), 0);
    CU_ASSERT_EQUAL(call(root, EXEC_OP_SIGTAKE, 0, 0, 0, NULL, 0, &reply), SIGTERM);
    CU_ASSERT_EQUAL(reply.values[0], EXEC_SIGNAL_TERMINATE);
    fixture_close(&fixture);
}

/* EINTR: a blocked call a deliverable handled signal interrupted fails with EINTR, or is made
 * again after the handler (EXEC_ERESTART) when the action has SA_RESTART and Linux restarts
 * that call (recv does, poll does not). */
static void test_interrupted_calls_restart_only_where_linux_does(void)
{
    struct fixture fixture;
    fixture_open(&fixture);
    struct exec_program *root = fixture.root;
    struct exec_reply reply;
    CU_ASSERT_EQUAL(call(root, EXEC_OP_SIGACTION, SIGALRM, EXEC_SIGNAL_HANDLER, SA_RESTART,
                         NULL, 0, &reply), 0);
    CU_ASSERT_EQUAL(call(root, EXEC_OP_SIGACTION, SIGUSR1, EXEC_SIGNAL_HANDLER, 0, NULL, 0,
                         &reply), 0);
    struct exec_request recv_request = { .magic = EXEC_MAGIC, .op = EXEC_OP_RECV };
    struct exec_request poll_request = { .magic = EXEC_MAGIC, .op = EXEC_OP_POLL };
    exec__signal_send(root, SIGALRM);
    reply.result = -EINTR;
    exec__signal_after_call(root, &recv_request, &reply);
    CU_ASSERT_EQUAL(reply.result, -EXEC_ERESTART);
    reply.result = -EINTR;
    exec__signal_after_call(root, &poll_request, &reply);
    CU_ASSERT_EQUAL(reply.result, -EINTR);
    CU_ASSERT_EQUAL(call(root, EXEC_OP_SIGTAKE, 0, 0, 0, NULL, 0, &reply), SIGALRM);
    CU_ASSERT_EQUAL(call(root, EXEC_OP_SIGMASK, SIG_SETMASK, 0, 0, NULL, 0, &reply), 0);
    exec__signal_send(root, SIGUSR1);                   /* no SA_RESTART: EINTR stays */
    reply.result = -EINTR;
    exec__signal_after_call(root, &recv_request, &reply);
    CU_ASSERT_EQUAL(reply.result, -EINTR);
    ASSERT_U64_EQ(reply.signals, 1ull << (SIGUSR1 - 1));
    fixture_close(&fixture);
}

/* ---- kill between programs, sigwait, siginfo ----------------------------------------------- */

/* Another program started in the fixture's world: endpoint `endpoint`, simulated `pid`. */
static struct exec_program *program_add(struct fixture *fixture, struct exec_net *net,
                                        uint32_t endpoint, uint32_t pid)
{
    struct exec_program *program = calloc(1, sizeof(*program));
    CU_ASSERT_FATAL(program != NULL);
    program->engine = fixture->root->engine;
    program->callbacks = &stub_callbacks;
    program->root = program;
    program->leader = program;          /* a process, not a thread */
    program->pid = pid;
    program->net = net;
    program->endpoint = endpoint;
    program->domain = endpoint;         /* an endpoint's processes run in its domain */
    program->buffer = calloc(1, EXEC_PAYLOAD_BYTES_MAX + EXEC_ADDRESS_BYTES);
    CU_ASSERT_FATAL(program->buffer != NULL);
    exec_fdmap_init(&program->fdmap);
    sim_waitq_init(&program->children_waitq, "wait");
    exec__program_list(program);
    return program;
}

static void stub_resume(struct sim_process *process, enum sim_wake_reason reason)
{
    (void)process;
    (void)reason;
}
static void stub_release(struct sim_process *process) { (void)process; }
static const struct sim_process_ops stub_process_ops = { .resume = stub_resume,
                                                         .release = stub_release };

/* The rule (docs/programs.md, "Signals"): the programs of one endpoint signal each other; a
 * Lua process of it is EPERM; a process of another endpoint, or nobody, ESRCH; -1 reaches
 * every other program of the endpoint; -pgid the program started with that pid. */
static void test_kill_reaches_the_programs_of_one_endpoint(void)
{
    struct fixture fixture;
    fixture_open(&fixture);
    struct sim_waitq poll_waitq;
    sim_waitq_init(&poll_waitq, "poll");
    struct exec_net *net = exec_net_create(fixture.root->engine, &poll_waitq);
    CU_ASSERT_FATAL(net != NULL);
    struct exec_program *a = program_add(&fixture, net, 1, 101);
    struct exec_program *b = program_add(&fixture, net, 1, 102);
    struct exec_program *elsewhere = program_add(&fixture, net, 2, 103);
    struct sim_process *lua = NULL;
    CU_ASSERT_EQUAL_FATAL(sim_process_create_in(fixture.root->engine, a->domain, 2, "lua",
                                                &stub_process_ops, NULL, false, 0, &lua), 0);
    CU_ASSERT_TRUE(lua->pid != 101 && lua->pid != 102 && lua->pid != 103);
    struct exec_reply reply;
    uint64_t usr1 = 1ull << (SIGUSR1 - 1);
    CU_ASSERT_EQUAL(call(a, EXEC_OP_KILL, 102, SIGUSR1, 0, NULL, 0, &reply), 0);
    ASSERT_U64_EQ(b->signals.pending, usr1);
    ASSERT_U64_EQ(b->signals.info[SIGUSR1 - 1].pid, 101);             /* the sender */
    CU_ASSERT_EQUAL(b->signals.info[SIGUSR1 - 1].code, SI_USER);
    CU_ASSERT_EQUAL(call(a, EXEC_OP_KILL, 103, 0, 0, NULL, 0, &reply), -ESRCH);
    CU_ASSERT_EQUAL(call(a, EXEC_OP_KILL, lua->pid, 0, 0, NULL, 0, &reply), -EPERM);
    CU_ASSERT_EQUAL(call(elsewhere, EXEC_OP_KILL, lua->pid, 0, 0, NULL, 0, &reply), -ESRCH);
    CU_ASSERT_EQUAL(call(a, EXEC_OP_KILL, 9999, 0, 0, NULL, 0, &reply), -ESRCH);
    /* Hostile targets beyond any pid: no overflow, nobody new reached. */
    CU_ASSERT_EQUAL(call(a, EXEC_OP_KILL, INT64_MAX, 0, 0, NULL, 0, &reply), -ESRCH);
    b->signals.pending = 0;
    CU_ASSERT_EQUAL(call(a, EXEC_OP_KILL, INT64_MIN, SIGUSR1, 0, NULL, 0, &reply), 0);
    ASSERT_U64_EQ(b->signals.pending, 0);               /* the caller's own group only */
    ASSERT_U64_EQ(a->signals.pending, usr1);
    a->signals.pending = 0;
    b->signals.pending = 0;
    CU_ASSERT_EQUAL(call(a, EXEC_OP_KILL, -1, SIGUSR1, 0, NULL, 0, &reply), 0);
    ASSERT_U64_EQ(b->signals.pending, usr1);
    ASSERT_U64_EQ(a->signals.pending, 0);                             /* not the caller */
    ASSERT_U64_EQ(elsewhere->signals.pending, 0);                     /* another machine */
    b->signals.pending = 0;
    CU_ASSERT_EQUAL(call(a, EXEC_OP_KILL, -102, SIGUSR1, 0, NULL, 0, &reply), 0);
    ASSERT_U64_EQ(b->signals.pending, usr1);
    ASSERT_U64_EQ(a->signals.pending, 0);
    b->ended = true;                                                  /* gone: ESRCH */
    CU_ASSERT_EQUAL(call(a, EXEC_OP_KILL, 102, 0, 0, NULL, 0, &reply), -ESRCH);
    struct exec_program *programs[] = { a, b, elsewhere };
    for (int index = 0; index < 3; index++) {
        exec__program_unlist(programs[index]);
        free(programs[index]->buffer);
        free(programs[index]);
    }
    CU_ASSERT_PTR_NULL(net->programs_head);
    exec_net_destroy(net);
    fixture_close(&fixture);
}

/* sigwait takes a pending signal of its set, blocked ones included, even one whose action
 * ignores it (Linux queues a blocked signal whatever its action); once unblocked, such a
 * signal is discarded. siginfo_t's fields come with it; a standard signal sent again
 * while pending keeps the first one's. */
static void test_sigwait_takes_blocked_signals_with_their_info(void)
{
    struct fixture fixture;
    fixture_open(&fixture);
    struct exec_program *root = fixture.root;
    struct exec_reply reply;
    uint64_t chld = 1ull << (SIGCHLD - 1);
    CU_ASSERT_EQUAL(call(root, EXEC_OP_SIGMASK, SIG_BLOCK, (int64_t)chld, 0, NULL, 0, &reply),
                    0);
    struct exec_signal_info first = { .code = CLD_EXITED, .pid = 77, .status = 3 };
    struct exec_signal_info second = { .code = CLD_KILLED, .pid = 78, .status = 9 };
    exec__signal_send_info(root, SIGCHLD, &first);
    exec__signal_send_info(root, SIGCHLD, &second);
    ASSERT_U64_EQ(root->signals.pending, chld);         /* default-ignored, but blocked */
    CU_ASSERT_EQUAL(call(root, EXEC_OP_SIGWAIT, (int64_t)chld, 0, 0, NULL, 0, &reply), SIGCHLD);
    CU_ASSERT_EQUAL(reply.payload_bytes, sizeof(struct exec_signal_info));
    struct exec_signal_info got;
    memcpy(&got, root->buffer, sizeof(got));
    CU_ASSERT_EQUAL(got.code, CLD_EXITED);
    ASSERT_U64_EQ(got.pid, 77);
    CU_ASSERT_EQUAL(got.status, 3);
    ASSERT_U64_EQ(root->signals.pending, 0);
    CU_ASSERT_EQUAL(call(root, EXEC_OP_SIGWAIT, (int64_t)chld, 0, 0, NULL, 0, &reply), -EAGAIN);
    exec__signal_send_info(root, SIGCHLD, &second);
    CU_ASSERT_EQUAL(call(root, EXEC_OP_SIGMASK, SIG_UNBLOCK, (int64_t)chld, 0, NULL, 0, &reply),
                    0);
    ASSERT_U64_EQ(root->signals.pending, 0);            /* unblocked and ignored: gone */
    ASSERT_U64_EQ(reply.signals, 0);
    /* An SA_SIGINFO handler's take carries the sender. */
    CU_ASSERT_EQUAL(call(root, EXEC_OP_SIGACTION, SIGUSR2, EXEC_SIGNAL_HANDLER, SA_SIGINFO,
                         NULL, 0, &reply), 0);
    CU_ASSERT_EQUAL(call(root, EXEC_OP_KILL, root->pid, SIGUSR2, 0, NULL, 0, &reply), 0);
    CU_ASSERT_EQUAL(call(root, EXEC_OP_SIGTAKE, 0, 0, 0, NULL, 0, &reply), SIGUSR2);
    memcpy(&got, root->buffer, sizeof(got));
    CU_ASSERT_EQUAL(got.code, SI_USER);
    ASSERT_U64_EQ(got.pid, root->pid);
    fixture_close(&fixture);
}

CU_ErrorCode exec_process_suite_add(void)
{
    static const struct test_entry tests[] = {
        TEST_ENTRY(test_fork_shares_sockets_until_the_last_close),
        TEST_ENTRY(test_dups_and_grandchildren_count_as_holders),
        TEST_ENTRY(test_a_child_socket_is_its_own),
        TEST_ENTRY(test_wait_sees_children_only),
        TEST_ENTRY(test_forks_are_bounded),
        TEST_ENTRY(test_signals_are_taken_lowest_first),
        TEST_ENTRY(test_interrupted_calls_restart_only_where_linux_does),
        TEST_ENTRY(test_kill_reaches_the_programs_of_one_endpoint),
        TEST_ENTRY(test_sigwait_takes_blocked_signals_with_their_info),
    };
    return test_suite_register("exec_process", tests, sizeof(tests) / sizeof(tests[0]));
}
