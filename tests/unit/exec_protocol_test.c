/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/exec_protocol_test.c: the supervisor's side of the call protocol
 * (sim/exec/protocol.h, serve.c) without a child: requests are built here as a hostile
 * program could send them, served on a host stack of a C world (vsock/vs_world.h) from
 * plain code (nothing blocks), and the replies checked. Every malformed length or
 * descriptor is an errno for the program, never a crash; descriptors map through the
 * fdmap (dup shares a socket until the last close); time, randomness and identity come
 * from the world.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/utsname.h>
#include <time.h>

#include <CUnit/CUnit.h>

#include "sim/exec/exec_int.h"
#include "suites.h"
#include "test_support.h"
#include "vsock/vs_world.h"

static int failures_reported;

static struct vsock_stack *stub_stack_wait(void *owner, bool *killed)
{
    (void)owner;
    *killed = false;
    return NULL;
}
static uint32_t stub_local_cid(void *owner) { (void)owner; return 2; }
static void stub_failure(void *owner, const char *text) { (void)owner; (void)text; failures_reported++; }
static void stub_ended(void *owner) { (void)owner; }

static const struct exec_callbacks stub_callbacks = {
    .stack_wait = stub_stack_wait, .local_cid = stub_local_cid,
    .failure = stub_failure, .ended = stub_ended,
};

struct fixture {
    struct vs_world *world;
    struct exec_program *program;
};

static void fixture_open(struct fixture *fixture, uint32_t pid)
{
    char message[VS_WORLD_MESSAGE_BYTES_MAX];
    struct vs_world_config config = { .seed = 7 };
    fixture->world = vs_world_create(&config, message, sizeof(message));
    CU_ASSERT_FATAL(fixture->world != NULL);
    struct exec_program *program = calloc(1, sizeof(*program));
    CU_ASSERT_FATAL(program != NULL);
    program->engine = fixture->world->engine;
    program->callbacks = &stub_callbacks;
    program->name = "test";
    program->nodename = "hostname-of-test";
    program->pid = pid;
    program->parent_pid = 1;
    program->root = program;                /* a family of one until it forks */
    program->leader = program;              /* a process, not a thread */
    program->channel_pending = program->pidfd = -1;
    program->buffer = calloc(1, EXEC_PAYLOAD_BYTES_MAX + EXEC_ADDRESS_BYTES);
    CU_ASSERT_FATAL(program->buffer != NULL);
    struct vsock_credentials credentials = { .trusted = true, .pid = pid };
    vs_context_init(&program->context, program->engine, &fixture->world->host.stack,
                    &credentials);
    program->context_live = true;
    exec_fdmap_init(&program->fdmap);
    sim_rng_init_stream(&program->rng, 7, "exec:test");
    fixture->program = program;
}

static void fixture_close(struct fixture *fixture)
{
    vs_context_destroy(&fixture->program->context);
    free(fixture->program->buffer);
    free(fixture->program);
    vs_world_destroy(fixture->world);
}

/* Serves op(args) with `payload`; returns the reply's result. */
static int64_t call(struct fixture *fixture, enum exec_op op, const int64_t args[4],
                    const void *payload, uint32_t payload_bytes, struct exec_reply *reply)
{
    struct exec_request request = { .magic = EXEC_MAGIC, .op = op,
                                    .payload_bytes = payload_bytes };
    for (int index = 0; index < 4; index++)
        request.args[index] = args[index];
    if (payload_bytes > 0)
        memcpy(fixture->program->buffer, payload, payload_bytes);
    CU_ASSERT_TRUE(exec__request_valid(&request));
    CU_ASSERT_TRUE(exec__serve(fixture->program, &request, reply));
    CU_ASSERT_EQUAL(reply->magic, EXEC_MAGIC);
    return reply->result;
}

static void test_request_headers_are_validated(void)
{
    struct exec_request request = { .magic = EXEC_MAGIC, .op = EXEC_OP_SOCKET };
    CU_ASSERT_TRUE(exec__request_valid(&request));
    request.magic = 0x12345678u;
    CU_ASSERT_FALSE(exec__request_valid(&request));
    request.magic = EXEC_MAGIC;
    request.op = 0;
    CU_ASSERT_FALSE(exec__request_valid(&request));
    request.op = EXEC_OP_COUNT;
    CU_ASSERT_FALSE(exec__request_valid(&request));
    request.op = EXEC_OP_SEND;
    request.payload_bytes = EXEC_PAYLOAD_BYTES_MAX + 1;
    CU_ASSERT_FALSE(exec__request_valid(&request));
    request.payload_bytes = EXEC_PAYLOAD_BYTES_MAX;
    CU_ASSERT_TRUE(exec__request_valid(&request));
}

static void test_hostile_lengths_and_descriptors_are_errnos(void)
{
    struct fixture fixture;
    fixture_open(&fixture, 5);
    struct exec_reply reply;
    int64_t socket_args[4] = { 2000, AF_VSOCK, SOCK_STREAM, 0 };     /* fd beyond the table */
    CU_ASSERT_EQUAL(call(&fixture, EXEC_OP_SOCKET, socket_args, NULL, 0, &reply), -EBADF);
    ASSERT_U64_EQ(fixture.program->context.fd_count, 0);            /* the socket was closed */
    int64_t good[4] = { 3, AF_VSOCK, SOCK_DGRAM, 0 };
    CU_ASSERT_EQUAL(call(&fixture, EXEC_OP_SOCKET, good, NULL, 0, &reply), 0);
    int64_t send_args[4] = { 3, 0, 64 };                            /* address beyond payload */
    CU_ASSERT_EQUAL(call(&fixture, EXEC_OP_SEND, send_args, "ab", 2, &reply), -EINVAL);
    send_args[2] = -1;
    CU_ASSERT_EQUAL(call(&fixture, EXEC_OP_SEND, send_args, "ab", 2, &reply), -EINVAL);
    int64_t recv_args[4] = { 3, -5, 0 };
    CU_ASSERT_EQUAL(call(&fixture, EXEC_OP_RECV, recv_args, NULL, 0, &reply), -EINVAL);
    int64_t option_args[4] = { 3, SOL_SOCKET, SO_RCVBUF, 65 };
    CU_ASSERT_EQUAL(call(&fixture, EXEC_OP_GETSOCKOPT, option_args, NULL, 0, &reply), -EINVAL);
    int64_t poll_args[4] = { 3, 0 };                                /* 3 entries, no payload */
    CU_ASSERT_EQUAL(call(&fixture, EXEC_OP_POLL, poll_args, NULL, 0, &reply), -EINVAL);
    poll_args[0] = -1;
    CU_ASSERT_EQUAL(call(&fixture, EXEC_OP_POLL, poll_args, NULL, 0, &reply), -EINVAL);
    int64_t bad_fd[4] = { -7 };
    CU_ASSERT_EQUAL(call(&fixture, EXEC_OP_LISTEN, bad_fd, NULL, 0, &reply), -EBADF);
    CU_ASSERT_EQUAL(call(&fixture, EXEC_OP_CLOSE, bad_fd, NULL, 0, &reply), -EBADF);
    CU_ASSERT_EQUAL(call(&fixture, EXEC_OP_FCNTL, bad_fd, NULL, 0, &reply), -EBADF);
    int64_t unmapped[4] = { 4 };
    CU_ASSERT_EQUAL(call(&fixture, EXEC_OP_GETSOCKNAME, unmapped, NULL, 0, &reply), -EBADF);
    CU_ASSERT_EQUAL(reply.payload_bytes, 0);
    fixture_close(&fixture);
}

static void test_dup_keeps_the_socket_until_the_last_close(void)
{
    struct fixture fixture;
    fixture_open(&fixture, 5);
    struct exec_reply reply;
    int64_t socket_args[4] = { 3, AF_VSOCK, SOCK_DGRAM, 0 };
    CU_ASSERT_EQUAL(call(&fixture, EXEC_OP_SOCKET, socket_args, NULL, 0, &reply), 0);
    int64_t dup_args[4] = { 3, 9 };
    CU_ASSERT_EQUAL(call(&fixture, EXEC_OP_DUP, dup_args, NULL, 0, &reply), 0);
    int64_t close_3[4] = { 3 };
    CU_ASSERT_EQUAL(call(&fixture, EXEC_OP_CLOSE, close_3, NULL, 0, &reply), 0);
    ASSERT_U64_EQ(fixture.program->context.fd_count, 1);            /* 9 still holds it */
    struct sockaddr_vm address = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY,
                                   .svm_port = 4000 };
    int64_t bind_9[4] = { 9 };
    CU_ASSERT_EQUAL(call(&fixture, EXEC_OP_BIND, bind_9, &address, sizeof(address), &reply), 0);
    CU_ASSERT_EQUAL(call(&fixture, EXEC_OP_GETSOCKNAME, bind_9, NULL, 0, &reply), 0);
    CU_ASSERT_EQUAL(reply.payload_bytes, EXEC_ADDRESS_BYTES);   /* the address area */
    ASSERT_U64_EQ(exec_address_length_get(fixture.program->buffer), sizeof(address));
    struct sockaddr_vm name;
    memcpy(&name, fixture.program->buffer, sizeof(name));
    CU_ASSERT_EQUAL(name.svm_family, AF_VSOCK);
    CU_ASSERT_EQUAL(name.svm_port, 4000);
    CU_ASSERT_EQUAL(call(&fixture, EXEC_OP_CLOSE, bind_9, NULL, 0, &reply), 0);
    ASSERT_U64_EQ(fixture.program->context.fd_count, 0);
    CU_ASSERT_EQUAL(call(&fixture, EXEC_OP_CLOSE, bind_9, NULL, 0, &reply), -EBADF);
    fixture_close(&fixture);
}

static void test_device_ioctls(void)
{
    struct fixture fixture;
    fixture_open(&fixture, 5);
    struct exec_reply reply;
    int64_t open_args[4] = { 6 };
    CU_ASSERT_EQUAL(call(&fixture, EXEC_OP_OPEN_DEVICE, open_args, NULL, 0, &reply), 0);
    int64_t cid_args[4] = { 6, 0x7b9 };     /* IOCTL_VM_SOCKETS_GET_LOCAL_CID */
    CU_ASSERT_EQUAL(call(&fixture, EXEC_OP_IOCTL, cid_args, NULL, 0, &reply), 0);
    CU_ASSERT_EQUAL(reply.values[0], 2);
    int64_t af_args[4] = { 6, 0x7b8 };
    CU_ASSERT_EQUAL(call(&fixture, EXEC_OP_IOCTL, af_args, NULL, 0, &reply), 0);
    CU_ASSERT_EQUAL(reply.values[0], 40);
    int64_t other_args[4] = { 6, FIONREAD };
    CU_ASSERT_EQUAL(call(&fixture, EXEC_OP_IOCTL, other_args, NULL, 0, &reply), -ENOTTY);
    int64_t send_args[4] = { 6, 0, 0 };
    CU_ASSERT_EQUAL(call(&fixture, EXEC_OP_SEND, send_args, "x", 1, &reply), -ENOTSOCK);
    fixture_close(&fixture);
}

static void test_time_random_and_identity_come_from_the_world(void)
{
    struct fixture fixture;
    fixture_open(&fixture, 5);
    struct exec_reply reply;
    int64_t realtime[4] = { CLOCK_REALTIME };
    CU_ASSERT_EQUAL(call(&fixture, EXEC_OP_CLOCK, realtime, NULL, 0, &reply), 0);
    ASSERT_U64_EQ((uint64_t)reply.values[0],
                  EXEC_REALTIME_EPOCH_NS + sim_engine_now(fixture.world->engine));
    int64_t monotonic[4] = { CLOCK_MONOTONIC };
    CU_ASSERT_EQUAL(call(&fixture, EXEC_OP_CLOCK, monotonic, NULL, 0, &reply), 0);
    ASSERT_U64_EQ((uint64_t)reply.values[0], sim_engine_now(fixture.world->engine));
    int64_t unknown[4] = { 99 };
    CU_ASSERT_EQUAL(call(&fixture, EXEC_OP_CLOCK, unknown, NULL, 0, &reply), -EINVAL);
    int64_t random_args[4] = { 13 };
    CU_ASSERT_EQUAL(call(&fixture, EXEC_OP_RANDOM, random_args, NULL, 0, &reply), 13);
    uint8_t first[13];
    memcpy(first, fixture.program->buffer, sizeof(first));
    struct sim_rng again;
    sim_rng_init_stream(&again, 7, "exec:test");
    uint64_t words[2] = { sim_rng_next(&again), sim_rng_next(&again) };
    CU_ASSERT_EQUAL(memcmp(first, words, sizeof(first)), 0);     /* the stream, in order */
    int64_t none[4] = { 0 };
    /* The result is the caller's own id (gettid: a process's first thread is the process). */
    CU_ASSERT_EQUAL(call(&fixture, EXEC_OP_GETPID, none, NULL, 0, &reply), 5);
    CU_ASSERT_EQUAL(reply.values[0], 5);
    CU_ASSERT_EQUAL(reply.values[1], 1);
    CU_ASSERT_EQUAL(call(&fixture, EXEC_OP_UNAME, none, NULL, 0, &reply), 0);
    struct utsname name;
    memcpy(&name, fixture.program->buffer, sizeof(name));
    CU_ASSERT_STRING_EQUAL(name.nodename, "hostname-of-test");
    CU_ASSERT_STRING_EQUAL(name.sysname, "Linux");
    fixture_close(&fixture);
}

static void test_poll_on_nothing_simulated_without_timeout_is_a_deadlock(void)
{
    struct fixture fixture;
    fixture_open(&fixture, 5);
    struct exec_request request = { .magic = EXEC_MAGIC, .op = EXEC_OP_POLL,
                                    .args = { 0, -1 } };
    struct exec_reply reply;
    failures_reported = 0;
    CU_ASSERT_FALSE(exec__serve(fixture.program, &request, &reply));    /* the program ends */
    CU_ASSERT_EQUAL(failures_reported, 1);
    CU_ASSERT_EQUAL(reply.result, -EINVAL);
    /* One simulated socket and a descriptor that is not open: POLLNVAL, no wait. */
    int64_t socket_args[4] = { 3, AF_VSOCK, SOCK_DGRAM, 0 };
    CU_ASSERT_EQUAL(call(&fixture, EXEC_OP_SOCKET, socket_args, NULL, 0, &reply), 0);
    struct exec_poll_entry entries[2] = { { .fd = 3, .events = POLLIN }, { .fd = 8 } };
    int64_t poll_args[4] = { 2, -1 };
    CU_ASSERT_EQUAL(call(&fixture, EXEC_OP_POLL, poll_args, entries, sizeof(entries), &reply), 1);
    memcpy(entries, fixture.program->buffer, sizeof(entries));
    CU_ASSERT_EQUAL(entries[0].revents, 0);
    CU_ASSERT_EQUAL(entries[1].revents, POLLNVAL);
    fixture_close(&fixture);
}

CU_ErrorCode exec_protocol_suite_add(void)
{
    static const struct test_entry tests[] = {
        TEST_ENTRY(test_request_headers_are_validated),
        TEST_ENTRY(test_hostile_lengths_and_descriptors_are_errnos),
        TEST_ENTRY(test_dup_keeps_the_socket_until_the_last_close),
        TEST_ENTRY(test_device_ioctls),
        TEST_ENTRY(test_time_random_and_identity_come_from_the_world),
        TEST_ENTRY(test_poll_on_nothing_simulated_without_timeout_is_a_deadlock),
    };
    return test_suite_register("exec_protocol", tests, sizeof(tests) / sizeof(tests[0]));
}
