/* SPDX-License-Identifier: MIT */
/*
 * shim/shim_channel.c: the program's end of a shared-memory channel (sim/exec/channel_shared.h,
 * docs/programs.md "The channel"). A call copies its request into the shared page, rings the
 * request bell (the next sequence number; FUTEX_WAKE only when the supervisor says it may be
 * asleep), then waits for the reply bell to show the same number: a brief spin, then futex
 * sleeps of SHIM_CHANNEL_TICK_MS, after each of which the socketpair is checked: the
 * supervisor never writes to it in this kind, so anything there (its end closed) means the
 * supervisor is gone and the program ends (status 125), as with the socket kind.
 *
 * Invariants: the page is mapped once, before main, and its descriptor closed at once (the
 * program never sees it); every system call goes through shim_syscall; a reply whose header
 * is not the protocol's (magic, payload bound) ends the program like a lost channel.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>

#include "shim_int.h"
#include "sim/exec/channel_shared.h"

/* How long the program sleeps on the reply bell before it checks that the supervisor lives. */
#define SHIM_CHANNEL_TICK_MS 100

static struct exec_channel_shared *shared;
static uint32_t sequence;
static uint32_t spin_budget = EXEC_CHANNEL_SPIN_MAX;
static uint32_t waits;

int shim_channel_shm_map(int fd)
{
    long address = shim_syscall(SYS_mmap, 0, (long)sizeof(struct exec_channel_shared),
                                PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    (void)SHIM_SYSCALL3(SYS_close, fd, 0, 0);
    if (address < 0 && address > -4096)
        return (int)address;
    shared = (struct exec_channel_shared *)address;
    sequence = __atomic_load_n(&shared->request_bell.sequence, __ATOMIC_ACQUIRE);
    return 0;
}

/* Gives the page up: calls go over the socket from now on. A forked child (its own channel
 * is a socketpair) and a process whose execve the supervisor answered (it demotes at the
 * same call) do this; the mapping of the parent or of the old image is not touched. */
void shim_channel_shm_forget(void)
{
    if (shared != NULL)
        (void)shim_syscall(SYS_munmap, (long)shared, (long)sizeof(struct exec_channel_shared),
                           0, 0, 0, 0);
    shared = NULL;
}

bool shim_channel_shm_active(void)
{
    return shared != NULL;
}

/* The supervisor is gone when its end of the socketpair shows anything at all. */
static void check_supervisor(int socket_fd)
{
    struct pollfd entry = { .fd = socket_fd, .events = POLLIN };
    long ready = SHIM_SYSCALL3(SYS_poll, &entry, 1, 0);
    if (ready > 0 || (ready < 0 && ready != -EINTR))
        shim_channel_lost();
}

/* Waits until the reply bell shows `number`. */
static void reply_wait(uint32_t number, int socket_fd)
{
    struct exec_channel_bell *bell = &shared->reply_bell;
    uint32_t spins = exec_channel_spins(spin_budget, &waits);
    for (uint32_t spin = 0; spin < spins; spin++) {
        if (__atomic_load_n(&bell->sequence, __ATOMIC_ACQUIRE) == number) {
            spin_budget = exec_channel_spin_next(spins, 1);
            return;
        }
        exec_channel_pause();
    }
    spin_budget = exec_channel_spin_next(spins, 0);
    for (;;) {
        __atomic_store_n(&bell->sleeping, 1, __ATOMIC_SEQ_CST);
        uint32_t seen = __atomic_load_n(&bell->sequence, __ATOMIC_SEQ_CST);
        if (seen == number)
            break;
        struct timespec tick = { 0, SHIM_CHANNEL_TICK_MS * 1000000l };
        (void)shim_syscall(SYS_futex, (long)&bell->sequence, FUTEX_WAIT, seen, (long)&tick, 0,
                           0);
        if (__atomic_load_n(&bell->sequence, __ATOMIC_ACQUIRE) == number)
            break;
        check_supervisor(socket_fd);
    }
    __atomic_store_n(&bell->sleeping, 0, __ATOMIC_RELAXED);
}

int64_t shim_channel_shm_call(int socket_fd, struct exec_request *request,
                              const struct iovec *out, int out_count, struct exec_reply *reply,
                              const struct iovec *in, int in_count)
{
    size_t offset = 0;
    for (int index = 0; index < out_count; index++) {
        memcpy(shared->request_payload + offset, out[index].iov_base, out[index].iov_len);
        offset += out[index].iov_len;
    }
    memcpy(&shared->request, request, sizeof(*request));
    uint32_t number = ++sequence;
    struct exec_channel_bell *bell = &shared->request_bell;
    __atomic_store_n(&bell->sequence, number, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&bell->sleeping, __ATOMIC_SEQ_CST) != 0)
        (void)shim_syscall(SYS_futex, (long)&bell->sequence, FUTEX_WAKE, 1, 0, 0, 0);
    reply_wait(number, socket_fd);
    memcpy(reply, &shared->reply, sizeof(*reply));
    if (reply->magic != EXEC_MAGIC || reply->payload_bytes > EXEC_REPLY_PAYLOAD_BYTES_MAX)
        shim_channel_lost();
    size_t left = reply->payload_bytes;
    const uint8_t *cursor = shared->reply_payload;
    for (int index = 0; index < in_count && left > 0; index++) {
        size_t take = in[index].iov_len < left ? in[index].iov_len : left;
        memcpy(in[index].iov_base, cursor, take);
        cursor += take;
        left -= take;
    }
    return reply->result;
}
