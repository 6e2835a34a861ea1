/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/exec_thread_test.c: threads on the supervisor's side (sim/exec/thread.c)
 * without a real program. From plain code: a thread made by a program's pthread_create
 * calls shares the process's descriptors, answers its own id to gettid and its process's to
 * getpid, forbids fork meanwhile, and the number of threads is bounded. In fibers: futex
 * waits and wakes as glibc makes them (arrival order, bitsets, counts, requeue), timeouts in
 * simulated time on each clock, and a signal ending a wait with EINTR.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "sim/engine/fiber.h"
#include "sim/exec/exec_int.h"
#include "exec_stubs.h"
#include "suites.h"
#include "test_support.h"
#include "vsock/vs_world.h"

/* Waiters (made by hand, each with its own fiber) and what each wait answered. */
#define WAITERS 4

struct fixture {
    struct vs_world *world;
    struct exec_program *root;
    struct exec_program *waiters[WAITERS];
    int64_t results[WAITERS];
    uint64_t ended_ns[WAITERS];
    uint32_t order[WAITERS], ended;     /* waiter indexes in the order their waits ended */
};

static void fixture_open(struct fixture *fixture)
{
    memset(fixture, 0, sizeof(*fixture));
    char message[VS_WORLD_MESSAGE_BYTES_MAX];
    struct vs_world_config config = { .seed = 7 };
    fixture->world = vs_world_create(&config, message, sizeof(message));
    CU_ASSERT_FATAL(fixture->world != NULL);
    fixture->root = exec_stub_root(fixture->world);
}

static void fixture_close(struct fixture *fixture)
{
    for (int index = 0; index < WAITERS; index++)
        free(fixture->waiters[index]);
    exec_stub_root_free(fixture->root);
    vs_world_destroy(fixture->world);
}

static int64_t call(struct exec_program *program, enum exec_op op, int64_t a0, int64_t a1,
                    int64_t a2, struct exec_reply *reply)
{
    struct exec_request request = { .magic = EXEC_MAGIC, .op = op, .args = { a0, a1, a2 } };
    CU_ASSERT_TRUE(exec__request_valid(&request));
    CU_ASSERT_TRUE(exec__serve(program, &request, reply));
    return reply->result;
}

/* pthread_create as the shim makes it: the thread (its channel end closed: it never runs). */
static struct exec_program *thread_of(struct fixture *fixture, struct exec_program *creator)
{
    struct exec_reply reply;
    CU_ASSERT_EQUAL_FATAL(call(creator, EXEC_OP_THREAD_CREATE, 0, 0, 0, &reply), 0);
    CU_ASSERT_FATAL(creator->channel_pending >= 0);
    close(creator->channel_pending);
    creator->channel_pending = -1;
    int64_t id = call(creator, EXEC_OP_THREAD_STARTED, 0, 0, 0, &reply);
    CU_ASSERT_FATAL(id > 0);
    struct exec_program *thread = exec__family_member(fixture->root, (uint32_t)id);
    CU_ASSERT_FATAL(thread != NULL);
    CU_ASSERT_TRUE(thread->thread);
    CU_ASSERT_EQUAL(thread->leader, fixture->root);
    return thread;
}

static void test_threads_share_the_descriptor_table(void)
{
    struct fixture fixture;
    fixture_open(&fixture);
    struct exec_program *root = fixture.root;
    struct exec_reply reply;
    struct exec_program *thread = thread_of(&fixture, root);
    CU_ASSERT_EQUAL(exec__thread_count(root), 1);
    /* A socket the thread makes is the process's: the first thread closes it. */
    CU_ASSERT_EQUAL(call(thread, EXEC_OP_SOCKET, 5, AF_VSOCK, SOCK_STREAM, &reply), 0);
    CU_ASSERT_EQUAL(call(root, EXEC_OP_SHUTDOWN, 5, SHUT_RDWR, 0, &reply), -ENOTCONN);
    CU_ASSERT_EQUAL(call(root, EXEC_OP_SHUTDOWN, 6, SHUT_RDWR, 0, &reply), -EBADF);
    CU_ASSERT_EQUAL(call(root, EXEC_OP_CLOSE, 5, 0, 0, &reply), 0);
    CU_ASSERT_EQUAL(call(thread, EXEC_OP_CLOSE, 5, 0, 0, &reply), -EBADF);
    /* gettid answers each its own id, getpid the process's. */
    CU_ASSERT_EQUAL(call(thread, EXEC_OP_GETPID, 0, 0, 0, &reply), thread->pid);
    CU_ASSERT_EQUAL(reply.values[0], root->pid);
    CU_ASSERT_EQUAL(call(root, EXEC_OP_GETPID, 0, 0, 0, &reply), root->pid);
    /* No fork (nor execve) while threads live, from any of them. */
    CU_ASSERT_EQUAL(call(root, EXEC_OP_FORK, 0, 0, 0, &reply), -ENOSYS);
    CU_ASSERT_EQUAL(call(thread, EXEC_OP_FORK, 0, 0, 0, &reply), -ENOSYS);
    /* A pthread_create that failed after the channel was handed over makes nothing. */
    CU_ASSERT_EQUAL(call(root, EXEC_OP_THREAD_CREATE, 0, 0, 0, &reply), 0);
    close(root->channel_pending);
    root->channel_pending = -1;
    CU_ASSERT_EQUAL(call(root, EXEC_OP_THREAD_STARTED, EAGAIN, 0, 0, &reply), 0);
    CU_ASSERT_EQUAL(exec__thread_count(root), 1);
    /* pthread_exit in the first thread while a thread runs: the process goes on. */
    CU_ASSERT_FALSE(root->first_thread_gone);
    CU_ASSERT_EQUAL(call(root, EXEC_OP_THREAD_EXIT, 0, 0, 0, &reply), 0);
    CU_ASSERT_TRUE(root->first_thread_gone);
    fixture_close(&fixture);
}

static void test_first_thread_exit_needs_threads(void)
{
    struct fixture fixture;
    fixture_open(&fixture);
    struct exec_reply reply;
    /* Without threads glibc ends the process itself: a thread exit there is a bug. */
    CU_ASSERT_EQUAL(call(fixture.root, EXEC_OP_THREAD_EXIT, 0, 0, 0, &reply), -EINVAL);
    CU_ASSERT_FALSE(fixture.root->first_thread_gone);
    CU_ASSERT_EQUAL(call(fixture.root, EXEC_OP_THREAD_JOIN, 99, 0, 0, &reply), 0);  /* none */
    fixture_close(&fixture);
}

static void test_threads_are_bounded(void)
{
    struct fixture fixture;
    fixture_open(&fixture);
    struct exec_reply reply;
    for (uint32_t index = 0; index < EXEC_THREADS_MAX; index++)
        (void)thread_of(&fixture, fixture.root);
    CU_ASSERT_EQUAL(exec__thread_count(fixture.root), EXEC_THREADS_MAX);
    CU_ASSERT_EQUAL(call(fixture.root, EXEC_OP_THREAD_CREATE, 0, 0, 0, &reply), -EAGAIN);
    CU_ASSERT_EQUAL(fixture.root->channel_pending, -1);      /* no channel handed over */
    fixture_close(&fixture);
}

/* ---- Futexes, in fibers ------------------------------------------------------------------- */

/* What waiter N asks, and when. */
struct wait_plan {
    struct fixture *fixture;
    int index;
    uint64_t start_ns;
    int64_t args[5];
};

static void waiter_main(struct sim_engine *engine, void *arg)
{
    struct wait_plan *plan = arg;
    struct fixture *fixture = plan->fixture;
    if (plan->start_ns > 0)
        CU_ASSERT_EQUAL(sim_fiber_sleep(engine, plan->start_ns), 0);
    struct exec_request request = { .magic = EXEC_MAGIC, .op = EXEC_OP_FUTEX };
    memcpy(request.args, plan->args, sizeof(plan->args));
    struct exec_reply reply;
    bool fatal = false;
    int64_t rc = exec__thread_serve(fixture->waiters[plan->index], &request, &reply, &fatal);
    CU_ASSERT_FALSE(fatal);
    fixture->results[plan->index] = rc;
    fixture->ended_ns[plan->index] = sim_engine_now(engine);
    fixture->order[fixture->ended++] = (uint32_t)plan->index;
}

/* A thread of the root made by hand, waiting as `plan` says in its own fiber. */
static void waiter_start(struct fixture *fixture, struct wait_plan *plan)
{
    struct exec_program *waiter = calloc(1, sizeof(*waiter));
    CU_ASSERT_FATAL(waiter != NULL);
    waiter->engine = fixture->root->engine;
    waiter->callbacks = &stub_callbacks;
    waiter->root = waiter->leader = fixture->root;
    waiter->thread = true;
    sim_waitq_init(&waiter->futex_waitq, "futex");
    fixture->waiters[plan->index] = waiter;
    fixture->results[plan->index] = 1;          /* not ended */
    plan->fixture = fixture;
    CU_ASSERT_EQUAL_FATAL(sim_fiber_spawn(waiter->engine, 2, "waiter", waiter_main, plan, 0,
                                          false, &waiter->process), 0);
    waiter->pid = waiter->process->pid;
}

/* A futex call made from plain code by the root (a wake never waits). */
static int64_t wake(struct fixture *fixture, int64_t op, int64_t a1, int64_t a2, int64_t a3,
                    int64_t a4)
{
    struct exec_request request = { .magic = EXEC_MAGIC, .op = EXEC_OP_FUTEX,
                                    .args = { op, a1, a2, a3, a4 } };
    struct exec_reply reply;
    bool fatal = false;
    int64_t rc = exec__thread_serve(fixture->root, &request, &reply, &fatal);
    CU_ASSERT_FALSE(fatal);
    return rc;
}

static void run_until(struct fixture *fixture, uint64_t until_ns)
{
    struct sim_run_result result;
    sim_engine_run(fixture->root->engine, until_ns, 0, &result);
}

#define WORD_A 0x1000
#define WORD_B 0x2000

static void test_futex_wakes_in_arrival_order(void)
{
    struct fixture fixture;
    fixture_open(&fixture);
    /* Three wait on A (the third with bitset 2), in this order; one on B. */
    struct wait_plan plans[WAITERS] = {
        { .index = 0, .start_ns = 300, .args = { EXEC_FUTEX_WAIT, WORD_A, 1 } },
        { .index = 1, .start_ns = 100, .args = { EXEC_FUTEX_WAIT, WORD_A, 1 } },
        { .index = 2, .start_ns = 200, .args = { EXEC_FUTEX_WAIT, WORD_A, 2 } },
        { .index = 3, .start_ns = 400, .args = { EXEC_FUTEX_WAIT, WORD_B, UINT32_MAX } },
    };
    for (int index = 0; index < WAITERS; index++)
        waiter_start(&fixture, &plans[index]);
    run_until(&fixture, 1000);
    CU_ASSERT_EQUAL(fixture.ended, 0);
    /* Bitset 1, one waiter: the longest waiting with bit 1 (waiter 1, then 0). */
    CU_ASSERT_EQUAL(wake(&fixture, EXEC_FUTEX_WAKE, WORD_A, 1, 1, 0), 1);
    run_until(&fixture, 2000);
    CU_ASSERT_EQUAL(fixture.ended, 1);
    CU_ASSERT_EQUAL(fixture.order[0], 1);
    /* Count 0 wakes one, as Linux: waiter 2 has no bit 1, so waiter 0. */
    CU_ASSERT_EQUAL(wake(&fixture, EXEC_FUTEX_WAKE, WORD_A, 1, 0, 0), 1);
    CU_ASSERT_EQUAL(wake(&fixture, EXEC_FUTEX_WAKE, WORD_A, 1, 5, 0), 0);   /* none left */
    CU_ASSERT_EQUAL(wake(&fixture, EXEC_FUTEX_WAKE, WORD_A, 0, 5, 0), -EINVAL);
    /* Requeue: one woken on B (waiter 3)... then waiter 2 moves from A to B and wakes there. */
    CU_ASSERT_EQUAL(wake(&fixture, EXEC_FUTEX_REQUEUE, WORD_B, 1, 0, 0), 1);
    CU_ASSERT_EQUAL(wake(&fixture, EXEC_FUTEX_REQUEUE, WORD_A, 0, 1, WORD_B), 1);
    CU_ASSERT_EQUAL(fixture.waiters[2]->futex_address, WORD_B);
    CU_ASSERT_EQUAL(wake(&fixture, EXEC_FUTEX_WAKE, WORD_A, UINT32_MAX, 5, 0), 0);
    CU_ASSERT_EQUAL(wake(&fixture, EXEC_FUTEX_WAKE, WORD_B, UINT32_MAX, 5, 0), 1);
    run_until(&fixture, 3000);
    CU_ASSERT_EQUAL(fixture.ended, 4);
    CU_ASSERT_EQUAL(fixture.order[1], 0);
    CU_ASSERT_EQUAL(fixture.order[2], 3);
    CU_ASSERT_EQUAL(fixture.order[3], 2);
    for (int index = 0; index < WAITERS; index++)
        CU_ASSERT_EQUAL(fixture.results[index], 0);
    fixture_close(&fixture);
}

static void test_futex_timeouts_are_simulated(void)
{
    struct fixture fixture;
    fixture_open(&fixture);
    struct wait_plan plans[WAITERS] = {
        { .index = 0, .start_ns = 1000,
          .args = { EXEC_FUTEX_WAIT, WORD_A, 1, EXEC_FUTEX_RELATIVE, 5000 } },
        { .index = 1, .args = { EXEC_FUTEX_WAIT, WORD_A, 1, EXEC_FUTEX_MONOTONIC, 7000 } },
        { .index = 2, .args = { EXEC_FUTEX_WAIT, WORD_A, 1, EXEC_FUTEX_REALTIME,
                                (int64_t)(EXEC_REALTIME_EPOCH_NS + 9000) } },
        { .index = 3, .args = { EXEC_FUTEX_WAIT, WORD_A, 0, EXEC_FUTEX_NONE, 0 } },
    };
    for (int index = 0; index < WAITERS; index++)
        waiter_start(&fixture, &plans[index]);
    run_until(&fixture, 20000);
    CU_ASSERT_EQUAL(fixture.results[3], -EINVAL);       /* bitset 0 */
    CU_ASSERT_EQUAL(fixture.ended_ns[3], 0);
    CU_ASSERT_EQUAL(fixture.results[0], -ETIMEDOUT);
    CU_ASSERT_EQUAL(fixture.ended_ns[0], 6000);
    CU_ASSERT_EQUAL(fixture.results[1], -ETIMEDOUT);
    CU_ASSERT_EQUAL(fixture.ended_ns[1], 7000);
    CU_ASSERT_EQUAL(fixture.results[2], -ETIMEDOUT);
    CU_ASSERT_EQUAL(fixture.ended_ns[2], 9000);
    CU_ASSERT_EQUAL(wake(&fixture, EXEC_FUTEX_WAKE, WORD_A, UINT32_MAX, 5, 0), 0);  /* gone */
    fixture_close(&fixture);
}

static void signal_at(struct sim_engine *engine, void *arg)
{
    CU_ASSERT_EQUAL(sim_fiber_sleep(engine, 3000), 0);
    exec__signal_send(arg, SIGUSR1);
}

static void test_a_signal_ends_a_futex_wait(void)
{
    struct fixture fixture;
    fixture_open(&fixture);
    struct wait_plan plan = { .index = 0, .args = { EXEC_FUTEX_WAIT, WORD_A, 1 } };
    waiter_start(&fixture, &plan);
    fixture.waiters[0]->signals.handled = 1ull << (SIGUSR1 - 1);
    CU_ASSERT_EQUAL(sim_fiber_spawn(fixture.root->engine, 2, "signal", signal_at,
                                    fixture.waiters[0], 0, false, NULL), 0);
    run_until(&fixture, 10000);
    CU_ASSERT_EQUAL(fixture.results[0], -EINTR);
    CU_ASSERT_EQUAL(fixture.ended_ns[0], 3000);
    CU_ASSERT_EQUAL(wake(&fixture, EXEC_FUTEX_WAKE, WORD_A, 1, 1, 0), 0);   /* it left */
    fixture_close(&fixture);
}

CU_ErrorCode exec_thread_suite_add(void)
{
    static const struct test_entry tests[] = {
        TEST_ENTRY(test_threads_share_the_descriptor_table),
        TEST_ENTRY(test_threads_are_bounded),
        TEST_ENTRY(test_first_thread_exit_needs_threads),
        TEST_ENTRY(test_futex_wakes_in_arrival_order),
        TEST_ENTRY(test_futex_timeouts_are_simulated),
        TEST_ENTRY(test_a_signal_ends_a_futex_wait),
    };
    return test_suite_register("exec_thread", tests, sizeof(tests) / sizeof(tests[0]));
}
