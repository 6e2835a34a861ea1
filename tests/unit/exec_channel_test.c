/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/exec_channel_test.c: the supervisor's end of a program's channel
 * (sim/exec/channel.h) without a child. The test plays the program: it writes into the
 * shared page (the same mapping the supervisor reads) or into the socketpair's other end
 * what a correct or a hostile program could, and checks what exec_channel_request_read
 * makes of it: a request copied out and validated, or a broken protocol (-1), or the
 * program gone (0); never a crash, never a read past the validated bounds.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "sim/exec/channel.h"
#include "sim/exec/exec_int.h"
#include "suites.h"
#include "test_support.h"

static int drains;
static const int no_output[2] = { -1, -1 };

static void count_drain(void *arg)
{
    (void)arg;
    drains++;
}

static const struct exec_channel_watch watch = { .fds = no_output, .drain = count_drain };

/* A shm channel whose program end stays open (the program "lives"). */
static void shm_open(struct exec_channel *channel)
{
    char message[SIM_ERROR_MESSAGE_BYTES_MAX];
    CU_ASSERT_FATAL(exec_channel_create(channel, EXEC_CHANNEL_SHM, message) == SIM_OK);
    CU_ASSERT_FATAL(channel->shared != NULL);
}

/* Writes a request as the program would and rings the bell with `number`. */
static void post(struct exec_channel *channel, const struct exec_request *request,
                 const void *payload, uint32_t payload_bytes, uint32_t number)
{
    memcpy(&channel->shared->request, request, sizeof(*request));
    if (payload_bytes > 0)
        memcpy(channel->shared->request_payload, payload, payload_bytes);
    __atomic_store_n(&channel->shared->request_bell.sequence, number, __ATOMIC_SEQ_CST);
}

static int read_one(struct exec_channel *channel, struct exec_request *request,
                    uint8_t *payload, bool *hung)
{
    return exec_channel_request_read(channel, request, payload, &watch, hung);
}

static uint8_t payload[EXEC_PAYLOAD_BYTES_MAX];

static void test_kind_names(void)
{
    enum exec_channel_kind kind = EXEC_CHANNEL_SOCKET;
    CU_ASSERT_EQUAL(exec_channel_kind_parse("shm", &kind), SIM_OK);
    CU_ASSERT_EQUAL(kind, EXEC_CHANNEL_SHM);
    CU_ASSERT_EQUAL(exec_channel_kind_parse("socket", &kind), SIM_OK);
    CU_ASSERT_EQUAL(kind, EXEC_CHANNEL_SOCKET);
    CU_ASSERT_EQUAL(exec_channel_kind_parse("futex", &kind), SIM_EINVAL);
    CU_ASSERT_STRING_EQUAL(exec_channel_kind_name(EXEC_CHANNEL_SHM), "shm");
    CU_ASSERT_STRING_EQUAL(exec_channel_kind_name(EXEC_CHANNEL_SOCKET), "socket");
}

static void test_child_gets_its_ends(void)
{
    struct exec_channel channel;
    shm_open(&channel);
    int fds[EXEC_CHANNEL_CHILD_FDS_MAX];
    CU_ASSERT_EQUAL(exec_channel_child_fds(&channel, fds), 2);
    CU_ASSERT_EQUAL(fds[0], channel.child_socket);
    CU_ASSERT_EQUAL(fds[1], channel.memfd);
    char entries[EXEC_CHANNEL_CHILD_FDS_MAX][EXEC_CHANNEL_ENV_BYTES_MAX];
    CU_ASSERT_EQUAL(exec_channel_child_environment(&channel, entries), 2);
    CU_ASSERT_NSTRING_EQUAL(entries[0], EXEC_CHANNEL_ENV "=", strlen(EXEC_CHANNEL_ENV) + 1);
    CU_ASSERT_NSTRING_EQUAL(entries[1], EXEC_CHANNEL_SHM_ENV "=",
                            strlen(EXEC_CHANNEL_SHM_ENV) + 1);
    exec_channel_started(&channel);
    CU_ASSERT_EQUAL(channel.child_socket, -1);
    CU_ASSERT_EQUAL(channel.memfd, -1);
    CU_ASSERT(channel.shared != NULL);          /* our mapping stays */
    exec_channel_close(&channel);
    CU_ASSERT_EQUAL(channel.socket, -1);
    CU_ASSERT_PTR_NULL(channel.shared);
    char message[SIM_ERROR_MESSAGE_BYTES_MAX];
    CU_ASSERT_FATAL(exec_channel_create(&channel, EXEC_CHANNEL_SOCKET, message) == SIM_OK);
    CU_ASSERT_EQUAL(exec_channel_child_fds(&channel, fds), 1);
    CU_ASSERT_EQUAL(exec_channel_child_environment(&channel, entries), 1);
    CU_ASSERT_PTR_NULL(channel.shared);
    exec_channel_close(&channel);
}

/* A request is copied out; scribbling on the page afterwards changes nothing read. */
static void test_shm_request_is_copied_and_answered(void)
{
    struct exec_channel channel;
    shm_open(&channel);
    struct exec_request request = { .magic = EXEC_MAGIC, .op = EXEC_OP_SEND,
                                    .payload_bytes = 5, .args = { 3, 0, 0 } };
    post(&channel, &request, "hello", 5, 1);
    struct exec_request got;
    bool hung = true;
    CU_ASSERT_EQUAL(read_one(&channel, &got, payload, &hung), 1);
    CU_ASSERT_FALSE(hung);
    CU_ASSERT_EQUAL(got.op, EXEC_OP_SEND);
    CU_ASSERT_EQUAL(got.payload_bytes, 5);
    CU_ASSERT_EQUAL(memcmp(payload, "hello", 5), 0);
    CU_ASSERT_EQUAL(channel.sequence, 1);
    channel.shared->request.payload_bytes = 0xffffffffu;       /* too late: copied */
    memset(channel.shared->request_payload, 'x', 5);
    CU_ASSERT_EQUAL(got.payload_bytes, 5);
    CU_ASSERT_EQUAL(memcmp(payload, "hello", 5), 0);
    struct exec_reply reply = { .magic = EXEC_MAGIC, .payload_bytes = 3, .result = 42 };
    CU_ASSERT_TRUE(exec_channel_reply_write(&channel, &reply, (const uint8_t *)"abc"));
    CU_ASSERT_EQUAL(channel.shared->reply_bell.sequence, 1);
    CU_ASSERT_EQUAL(channel.shared->reply.result, 42);
    CU_ASSERT_EQUAL(memcmp(channel.shared->reply_payload, "abc", 3), 0);
    exec_channel_close(&channel);
}

/* Headers a hostile program can write: each is a broken protocol, never used. */
static void test_shm_hostile_headers_are_refused(void)
{
    static const struct exec_request bad[] = {
        { .magic = 0x12345678u, .op = EXEC_OP_GETPID },
        { .magic = EXEC_MAGIC, .op = 0 },
        { .magic = EXEC_MAGIC, .op = EXEC_OP_COUNT },
        { .magic = EXEC_MAGIC, .op = 0xffffffffu },
        { .magic = EXEC_MAGIC, .op = EXEC_OP_SEND, .payload_bytes = EXEC_PAYLOAD_BYTES_MAX + 1 },
        { .magic = EXEC_MAGIC, .op = EXEC_OP_SEND, .payload_bytes = 0xffffffffu },
    };
    for (size_t index = 0; index < sizeof(bad) / sizeof(bad[0]); index++) {
        struct exec_channel channel;
        shm_open(&channel);
        post(&channel, &bad[index], NULL, 0, 1);
        struct exec_request got;
        bool hung = false;
        CU_ASSERT_EQUAL(read_one(&channel, &got, payload, &hung), -1);
        CU_ASSERT_FALSE(hung);
        CU_ASSERT_EQUAL(channel.sequence, 0);   /* nothing was taken as served */
        exec_channel_close(&channel);
    }
}

/* A bell that skips a number (or goes back) is no request: the protocol broke. */
static void test_shm_wrong_sequence_is_refused(void)
{
    static const uint32_t numbers[] = { 2, 0xffffffffu, 1000 };
    for (size_t index = 0; index < sizeof(numbers) / sizeof(numbers[0]); index++) {
        struct exec_channel channel;
        shm_open(&channel);
        struct exec_request request = { .magic = EXEC_MAGIC, .op = EXEC_OP_GETPID };
        post(&channel, &request, NULL, 0, numbers[index]);
        struct exec_request got;
        bool hung = false;
        CU_ASSERT_EQUAL(read_one(&channel, &got, payload, &hung), -1);
        exec_channel_close(&channel);
    }
    /* The second request must carry 2 after a 1. */
    struct exec_channel channel;
    shm_open(&channel);
    struct exec_request request = { .magic = EXEC_MAGIC, .op = EXEC_OP_GETPID };
    struct exec_request got;
    bool hung = false;
    post(&channel, &request, NULL, 0, 1);
    CU_ASSERT_EQUAL(read_one(&channel, &got, payload, &hung), 1);
    post(&channel, &request, NULL, 0, 3);
    CU_ASSERT_EQUAL(read_one(&channel, &got, payload, &hung), -1);
    exec_channel_close(&channel);
}

/* The program's end closed with no request pending: it is gone (0), found after a tick. */
static void test_shm_program_gone(void)
{
    struct exec_channel channel;
    shm_open(&channel);
    exec_channel_started(&channel);             /* closes the program's end */
    struct exec_request got;
    bool hung = false;
    CU_ASSERT_EQUAL(read_one(&channel, &got, payload, &hung), 0);
    CU_ASSERT_FALSE(hung);
    exec_channel_close(&channel);
    /* Writing on the socket is no part of the shm protocol: it broke. */
    shm_open(&channel);
    CU_ASSERT_EQUAL(write(channel.child_socket, "x", 1), 1);
    CU_ASSERT_EQUAL(read_one(&channel, &got, payload, &hung), -1);
    CU_ASSERT_FALSE(hung);
    exec_channel_close(&channel);
}

/* The socket kind: a header, a payload; a header that lies is refused; end of file is 0. */
static void test_socket_requests(void)
{
    struct exec_channel channel;
    char message[SIM_ERROR_MESSAGE_BYTES_MAX];
    CU_ASSERT_FATAL(exec_channel_create(&channel, EXEC_CHANNEL_SOCKET, message) == SIM_OK);
    struct exec_request request = { .magic = EXEC_MAGIC, .op = EXEC_OP_SEND,
                                    .payload_bytes = 4 };
    CU_ASSERT_EQUAL(write(channel.child_socket, &request, sizeof(request)),
                    (ssize_t)sizeof(request));
    CU_ASSERT_EQUAL(write(channel.child_socket, "ping", 4), 4);
    struct exec_request got;
    bool hung = false;
    CU_ASSERT_EQUAL(read_one(&channel, &got, payload, &hung), 1);
    CU_ASSERT_EQUAL(got.payload_bytes, 4);
    CU_ASSERT_EQUAL(memcmp(payload, "ping", 4), 0);
    struct exec_reply reply = { .magic = EXEC_MAGIC, .payload_bytes = 2, .result = 7 };
    CU_ASSERT_TRUE(exec_channel_reply_write(&channel, &reply, (const uint8_t *)"ok"));
    struct exec_reply back;
    CU_ASSERT_EQUAL(read(channel.child_socket, &back, sizeof(back)), (ssize_t)sizeof(back));
    CU_ASSERT_EQUAL(back.result, 7);
    request.payload_bytes = EXEC_PAYLOAD_BYTES_MAX + 1;
    CU_ASSERT_EQUAL(write(channel.child_socket, &request, sizeof(request)),
                    (ssize_t)sizeof(request));
    CU_ASSERT_EQUAL(read_one(&channel, &got, payload, &hung), -1);
    exec_channel_close(&channel);
    CU_ASSERT_FATAL(exec_channel_create(&channel, EXEC_CHANNEL_SOCKET, message) == SIM_OK);
    exec_channel_started(&channel);
    CU_ASSERT_EQUAL(read_one(&channel, &got, payload, &hung), 0);
    exec_channel_close(&channel);
}

CU_ErrorCode exec_channel_suite_add(void)
{
    static const struct test_entry tests[] = {
        TEST_ENTRY(test_kind_names),
        TEST_ENTRY(test_child_gets_its_ends),
        TEST_ENTRY(test_shm_request_is_copied_and_answered),
        TEST_ENTRY(test_shm_hostile_headers_are_refused),
        TEST_ENTRY(test_shm_wrong_sequence_is_refused),
        TEST_ENTRY(test_shm_program_gone),
        TEST_ENTRY(test_socket_requests),
    };
    return test_suite_register("exec_channel", tests, sizeof(tests) / sizeof(tests[0]));
}
