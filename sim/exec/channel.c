/* SPDX-License-Identifier: MIT */
/*
 * sim/exec/channel.c: the supervisor's end of a program's channel (channel.h): creating it,
 * reading requests and writing replies over a socketpair or over shared memory and a futex.
 *
 * Wall time is read here only to bound how long the supervisor waits for a program's next
 * call (EXEC_CALL_WAIT_MS_MAX) and never feeds the simulation. Whatever a program writes into
 * the shared memory, the supervisor reads each request exactly once, into its own memory,
 * and validates it before use (channel.h).
 */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "channel.h"
#include "exec_int.h"

static int64_t wall_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);      /* hang detection only */
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

const char *exec_channel_kind_name(enum exec_channel_kind kind)
{
    return kind == EXEC_CHANNEL_SOCKET ? "socket" : kind == EXEC_CHANNEL_SHM ? "shm" : NULL;
}

int exec_channel_kind_parse(const char *name, enum exec_channel_kind *kind)
{
    assert(name != NULL && kind != NULL);
    if (strcmp(name, "socket") == 0)
        *kind = EXEC_CHANNEL_SOCKET;
    else if (strcmp(name, "shm") == 0)
        *kind = EXEC_CHANNEL_SHM;
    else
        return SIM_EINVAL;
    return SIM_OK;
}

void exec_channel_init(struct exec_channel *channel)
{
    assert(channel != NULL);
    memset(channel, 0, sizeof(*channel));
    channel->socket = channel->child_socket = channel->memfd = -1;
    channel->spin_budget = EXEC_CHANNEL_SPIN_MAX;
}

int exec_channel_create(struct exec_channel *channel, enum exec_channel_kind kind,
                        char message[SIM_ERROR_MESSAGE_BYTES_MAX])
{
    assert(channel != NULL && exec_channel_kind_name(kind) != NULL);
    exec_channel_init(channel);
    channel->kind = kind;
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) {
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX, "cannot make the program's channel: %s",
                 strerror(errno));
        return SIM_ENOMEM;
    }
    channel->socket = pair[0];
    channel->child_socket = pair[1];
    if (kind == EXEC_CHANNEL_SOCKET)
        return SIM_OK;
    size_t bytes = sizeof(struct exec_channel_shared);
    channel->memfd = memfd_create("vmcisim-channel", MFD_CLOEXEC);
    void *mapping = MAP_FAILED;
    if (channel->memfd >= 0 && ftruncate(channel->memfd, (off_t)bytes) == 0)
        mapping = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, channel->memfd, 0);
    if (mapping == MAP_FAILED) {
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX,
                 "cannot make the program's shared-memory channel: %s", strerror(errno));
        exec_channel_close(channel);
        return SIM_ENOMEM;
    }
    channel->shared = mapping;          /* a new memfd reads as zeros: sequence 0, awake */
    return SIM_OK;
}

uint32_t exec_channel_child_fds(const struct exec_channel *channel,
                                int fds[EXEC_CHANNEL_CHILD_FDS_MAX])
{
    assert(channel->child_socket >= 0);
    uint32_t count = 0;
    fds[count++] = channel->child_socket;
    if (channel->memfd >= 0)
        fds[count++] = channel->memfd;
    return count;
}

uint32_t exec_channel_child_environment(const struct exec_channel *channel,
                                        char entries[EXEC_CHANNEL_CHILD_FDS_MAX]
                                                    [EXEC_CHANNEL_ENV_BYTES_MAX])
{
    assert(channel->child_socket >= 0);
    uint32_t count = 0;
    snprintf(entries[count++], EXEC_CHANNEL_ENV_BYTES_MAX, "%s=%d", EXEC_CHANNEL_ENV,
             channel->child_socket);
    if (channel->memfd >= 0)
        snprintf(entries[count++], EXEC_CHANNEL_ENV_BYTES_MAX, "%s=%d", EXEC_CHANNEL_SHM_ENV,
                 channel->memfd);
    return count;
}

void exec_channel_started(struct exec_channel *channel)
{
    if (channel->child_socket >= 0)
        close(channel->child_socket);
    if (channel->memfd >= 0)
        close(channel->memfd);
    channel->child_socket = channel->memfd = -1;
}

/* The shared page is given up and the socketpair carries the calls from now on: after an
 * execve's answer (the new image cannot map the page again: the shim closed its memfd),
 * the shim does the same at the same call. */
void exec_channel_demote(struct exec_channel *channel)
{
    assert(channel != NULL);
    if (channel->kind != EXEC_CHANNEL_SHM)
        return;
    if (channel->shared != NULL)
        munmap(channel->shared, sizeof(struct exec_channel_shared));
    channel->shared = NULL;
    channel->kind = EXEC_CHANNEL_SOCKET;
}

void exec_channel_close(struct exec_channel *channel)
{
    exec_channel_started(channel);
    if (channel->socket >= 0)
        close(channel->socket);
    channel->socket = -1;
    if (channel->shared != NULL)
        munmap(channel->shared, sizeof(struct exec_channel_shared));
    channel->shared = NULL;
}

/* ---- Waiting ----------------------------------------------------------------------------- */

/* Polls the socket and the watched pipes for at most `timeout_ms`, draining output that is
 * ready. Returns 1 when the socket has something (data or its end), 0 otherwise, -1 on an
 * error. */
static int socket_poll(struct exec_channel *channel, const struct exec_channel_watch *watch,
                       int timeout_ms)
{
    struct pollfd set[3] = {
        { .fd = channel->socket, .events = POLLIN },
        { .fd = watch->fds[0], .events = POLLIN },
        { .fd = watch->fds[1], .events = POLLIN },
    };
    int ready = poll(set, 3, timeout_ms);
    if (ready < 0)
        return errno == EINTR ? 0 : -1;
    if (ready > 0 && (set[1].revents || set[2].revents))
        watch->drain(watch->arg);
    return ready > 0 && set[0].revents != 0;
}

/* Waits until the socket is readable, draining output meanwhile. Returns 1, or -1 on an
 * error or when `deadline` (wall ms) passed (*hung). */
static int socket_wait(struct exec_channel *channel, const struct exec_channel_watch *watch,
                       int64_t deadline, bool *hung)
{
    for (;;) {
        int64_t left = deadline - wall_ms();
        if (left <= 0) {
            *hung = true;
            return -1;
        }
        int rc = socket_poll(channel, watch, (int)left);
        if (rc != 0)
            return rc;
    }
}

/* ---- The socket kind ----------------------------------------------------------------------- */

/* One request from the socket: its header, then its payload, in as few system calls as the
 * program's writes allow (each read after socket_wait says there is data). */
static int socket_request_read(struct exec_channel *channel, struct exec_request *request,
                               uint8_t *payload, const struct exec_channel_watch *watch,
                               bool *hung)
{
    size_t done = 0, want = sizeof(*request);
    int64_t deadline = wall_ms() + EXEC_CALL_WAIT_MS_MAX;
    while (done < want) {
        struct iovec left[2];
        int count = 0;
        if (done < sizeof(*request))
            left[count++] = (struct iovec){ (char *)request + done, sizeof(*request) - done };
        size_t payload_done = done > sizeof(*request) ? done - sizeof(*request) : 0;
        left[count++] = (struct iovec){ payload + payload_done,
                                        want > sizeof(*request) ? want - done
                                                                 : EXEC_PAYLOAD_BYTES_MAX };
        if (socket_wait(channel, watch, deadline, hung) < 0)
            return -1;
        struct msghdr message = { .msg_iov = left, .msg_iovlen = (size_t)count };
        ssize_t got = recvmsg(channel->socket, &message, MSG_DONTWAIT);
        if (got < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (got <= 0)
            return got == 0 && done == 0 ? 0 : -1;
        done += (size_t)got;
        if (done >= sizeof(*request) && want == sizeof(*request)) {
            if (!exec__request_valid(request))
                return -1;
            want = sizeof(*request) + request->payload_bytes;
        }
        if (done > want)
            return -1;                  /* more than one request: the protocol broke */
    }
    return 1;
}

/* The reply's header and payload (one system call when the socket takes it all). */
static bool socket_reply_write(struct exec_channel *channel, const struct exec_reply *reply,
                               const uint8_t *payload)
{
    struct iovec parts[2] = { { (void *)reply, sizeof(*reply) },
                              { (void *)payload, reply->payload_bytes } };
    int first = 0;
    while (first < 2) {
        struct msghdr message = { .msg_iov = &parts[first], .msg_iovlen = (size_t)(2 - first) };
        ssize_t written = sendmsg(channel->socket, &message, MSG_NOSIGNAL);
        if (written < 0 && errno == EINTR)
            continue;
        if (written < 0 || (written == 0 && parts[first].iov_len > 0))
            return false;
        size_t left = (size_t)written;
        while (first < 2 && left >= parts[first].iov_len)
            left -= parts[first++].iov_len;
        if (first < 2) {
            parts[first].iov_base = (char *)parts[first].iov_base + left;
            parts[first].iov_len -= left;
        }
    }
    return true;
}

/* ---- The shared-memory kind ---------------------------------------------------------------- */

static void futex_wait_ms(uint32_t *word, uint32_t expected, int timeout_ms)
{
    struct timespec timeout = { 0, (long)timeout_ms * 1000000l };
    (void)syscall(SYS_futex, word, FUTEX_WAIT, expected, &timeout, NULL, 0);
}

/* In the shm kind the socket carries nothing: after poll said it is readable, its end of
 * file (or an error) means the program is gone (0); bytes on it break the protocol (-1). */
static int socket_silent_end(struct exec_channel *channel)
{
    char byte;
    ssize_t got = recv(channel->socket, &byte, 1, MSG_DONTWAIT | MSG_PEEK);
    if (got > 0)
        return -1;
    return got == 0 || (errno != EAGAIN && errno != EINTR) ? 0 : 1;
}

/* Waits until the request bell moves past `sequence`: spins, then sleeps on the futex in
 * ticks, checking the socket and the output pipes after each. Returns the bell's value;
 * *end says why it did not move: 0 the program went away, -1 it wrote on the socket or the
 * deadline passed (*hung); 1 while it did not end. */
static uint32_t shm_wait(struct exec_channel *channel, const struct exec_channel_watch *watch,
                         int *end, bool *hung)
{
    struct exec_channel_bell *bell = &channel->shared->request_bell;
    uint32_t spins = exec_channel_spins(channel->spin_budget, &channel->waits);
    for (uint32_t spin = 0; spin < spins; spin++) {
        uint32_t seen = __atomic_load_n(&bell->sequence, __ATOMIC_ACQUIRE);
        if (seen != channel->sequence) {
            channel->spin_budget = exec_channel_spin_next(spins, 1);
            return seen;
        }
        exec_channel_pause();
    }
    channel->spin_budget = exec_channel_spin_next(spins, 0);
    int64_t deadline = wall_ms() + EXEC_CALL_WAIT_MS_MAX;
    uint32_t seen;
    for (;;) {
        __atomic_store_n(&bell->sleeping, 1, __ATOMIC_SEQ_CST);
        seen = __atomic_load_n(&bell->sequence, __ATOMIC_SEQ_CST);
        if (seen != channel->sequence)
            break;
        futex_wait_ms(&bell->sequence, channel->sequence, EXEC_CHANNEL_TICK_MS);
        seen = __atomic_load_n(&bell->sequence, __ATOMIC_ACQUIRE);
        if (seen != channel->sequence)
            break;
        int rc = socket_poll(channel, watch, 0);
        *end = rc < 0 ? -1 : rc > 0 ? socket_silent_end(channel) : 1;
        if (*end < 1)
            break;
        if (wall_ms() >= deadline) {
            *hung = true;
            *end = -1;
            break;
        }
    }
    __atomic_store_n(&bell->sleeping, 0, __ATOMIC_RELAXED);
    return seen;
}

/* One request from the shared memory: the bell must say exactly the next number; the header
 * is copied out and validated, then at most its validated payload bound is copied. */
static int shm_request_read(struct exec_channel *channel, struct exec_request *request,
                            uint8_t *payload, const struct exec_channel_watch *watch, bool *hung)
{
    int end = 1;
    uint32_t seen = shm_wait(channel, watch, &end, hung);
    if (seen == channel->sequence)
        return end == 0 ? 0 : -1;
    if (seen != channel->sequence + 1)
        return -1;                      /* a bell no request rang: the protocol broke */
    memcpy(request, &channel->shared->request, sizeof(*request));
    if (!exec__request_valid(request))
        return -1;
    uint32_t bytes = request->payload_bytes;        /* validated: our copy, not the page */
    assert(bytes <= EXEC_PAYLOAD_BYTES_MAX);
    memcpy(payload, channel->shared->request_payload, bytes);
    channel->sequence = seen;
    return 1;
}

static bool shm_reply_write(struct exec_channel *channel, const struct exec_reply *reply,
                            const uint8_t *payload)
{
    struct exec_channel_shared *shared = channel->shared;
    memcpy(&shared->reply, reply, sizeof(*reply));
    if (reply->payload_bytes > 0)
        memcpy(shared->reply_payload, payload, reply->payload_bytes);
    struct exec_channel_bell *bell = &shared->reply_bell;
    __atomic_store_n(&bell->sequence, channel->sequence, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&bell->sleeping, __ATOMIC_SEQ_CST) != 0)
        (void)syscall(SYS_futex, &bell->sequence, FUTEX_WAKE, 1, NULL, NULL, 0);
    return true;
}

/* ---- Either kind --------------------------------------------------------------------------- */

int exec_channel_request_read(struct exec_channel *channel, struct exec_request *request,
                              uint8_t *payload, const struct exec_channel_watch *watch,
                              bool *hung)
{
    assert(channel != NULL && request != NULL && payload != NULL && watch != NULL);
    assert(channel->socket >= 0 && watch->drain != NULL);
    *hung = false;
    if (channel->kind == EXEC_CHANNEL_SHM)
        return shm_request_read(channel, request, payload, watch, hung);
    return socket_request_read(channel, request, payload, watch, hung);
}

bool exec_channel_reply_write(struct exec_channel *channel, const struct exec_reply *reply,
                              const uint8_t *payload)
{
    assert(channel != NULL && reply != NULL);
    assert(reply->payload_bytes <= EXEC_REPLY_PAYLOAD_BYTES_MAX);
    assert(reply->payload_bytes == 0 || payload != NULL);
    if (channel->socket < 0)
        return false;
    if (channel->kind == EXEC_CHANNEL_SHM)
        return shm_reply_write(channel, reply, payload);
    return socket_reply_write(channel, reply, payload);
}
