/* SPDX-License-Identifier: MIT */
/*
 * shim/shim_core.c: the shim's system-call site, its channel to the supervisor and
 * its table of descriptor kinds (shim_int.h says which invariants they keep).
 *
 * The channel is a stream socketpair whose child end the spawner puts at the number
 * EXEC_CHANNEL_ENV names. A call writes one request and reads one reply, both with
 * raw system calls; when EXEC_CHANNEL_SHM_ENV names a shared-memory file too, the calls
 * cross through it instead (shim_channel.c) and the socketpair only tells the two sides
 * that the other is gone. If the supervisor goes away (vmcisim ended, or killed this
 * program), the program ends at once with status 125: there is nothing left that
 * could answer it, and going on natively would step outside the simulation.
 *
 * Threads (shim_thread.c): once the program made one, each thread calls over its own
 * socketpair channel (the first thread keeps the program's channel and its shared page);
 * a thread not made through pthread_create has none, and its calls fail with ENOSYS.
 * Before the first thread nothing here reads thread-local storage (it may not exist yet
 * while the loader runs the shim's earliest code).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim_int.h"
#include "sim/exec/channel_shared.h"

static int channel_fd = -1;
static unsigned char fd_kinds[EXEC_FDS_MAX];
/* Set once, by the first pthread_create: calls then pick their thread's channel. */
static bool threads_started;
/* The calling thread's channel (-1: the first thread's, or none) and whether it is the first
 * thread (its constructor ran there). */
static __thread int thread_channel_fd __attribute__((tls_model("initial-exec"))) = -1;
static __thread bool thread_first __attribute__((tls_model("initial-exec")));

/* The shim's only syscall instruction, written in assembly so that there is exactly one
 * copy (a compiler may clone or inline a C function): the seccomp filter lets calls whose
 * instruction pointer is the site's return address through and traps every other one
 * (shim_trap.c). The instruction is reached through shim_syscall_target: the one here
 * (shim_syscall_native) until shim_process.c maps the same `syscall; ret` at a fixed
 * address, which stays the site across execve (a new image's shim may load elsewhere).
 * Arguments as the C prototype in shim_int.h; the result is the kernel's. */
__asm__(".text\n"
        ".globl shim_syscall\n"
        ".hidden shim_syscall\n"
        ".type shim_syscall, @function\n"
        "shim_syscall:\n"
        "    movq %rdi, %rax\n"
        "    movq %rsi, %rdi\n"
        "    movq %rdx, %rsi\n"
        "    movq %rcx, %rdx\n"
        "    movq %r8, %r10\n"
        "    movq %r9, %r8\n"
        "    movq 8(%rsp), %r9\n"
        "    jmp *shim_syscall_target(%rip)\n"
        ".globl shim_syscall_native\n"
        ".hidden shim_syscall_native\n"
        "shim_syscall_native:\n"
        "    syscall\n"
        ".globl shim_syscall_return\n"
        ".hidden shim_syscall_return\n"
        "shim_syscall_return:\n"
        "    ret\n"
        ".size shim_syscall, . - shim_syscall\n");

extern const char shim_syscall_native[];
/* Where shim_syscall makes its call: shim_syscall_native, or the fixed trampoline. */
const void *shim_syscall_target = shim_syscall_native;

enum shim_fd_kind shim_fd_kind(int fd)
{
    if (fd < 0 || (unsigned)fd >= EXEC_FDS_MAX)
        return SHIM_FD_REAL;
    return (enum shim_fd_kind)fd_kinds[fd];
}

void shim_fd_set_kind(int fd, enum shim_fd_kind kind)
{
    if (fd >= 0 && (unsigned)fd < EXEC_FDS_MAX)
        fd_kinds[fd] = (unsigned char)kind;
}

void shim_complain(const char *text)
{
    (void)SHIM_SYSCALL3(SYS_write, 2, text, strlen(text));
}

void shim_channel_lost(void)
{
    shim_complain("vmcisim shim: the simulator stopped serving this program\n");
    for (;;)
        (void)shim_syscall(SYS_exit_group, 125, 0, 0, 0, 0, 0);
}

/* Writes every byte of the iovecs to the channel `fd` (partial writes resumed). */
static void channel_write(int fd, struct iovec *parts, int count)
{
    int first = 0;
    while (first < count) {
        long written = SHIM_SYSCALL3(SYS_writev, fd, &parts[first], count - first);
        if (written == -EINTR)
            continue;
        if (written <= 0)
            shim_channel_lost();
        size_t left = (size_t)written;
        while (first < count && left >= parts[first].iov_len)
            left -= parts[first++].iov_len;
        if (first < count) {
            parts[first].iov_base = (char *)parts[first].iov_base + left;
            parts[first].iov_len -= left;
        }
    }
}

static void channel_read(int fd, void *target, size_t size_bytes)
{
    char *cursor = target;
    while (size_bytes > 0) {
        long got = SHIM_SYSCALL3(SYS_read, fd, cursor, size_bytes);
        if (got == -EINTR)
            continue;
        if (got <= 0)
            shim_channel_lost();
        cursor += got;
        size_bytes -= (size_t)got;
    }
}

/* Reads the reply: its header and, in the same system calls, its payload scattered over
 * `in` (the channel holds nothing beyond this one reply, so reading ahead is safe); bytes
 * beyond the buffers are read and dropped. */
static void reply_read(int fd, struct exec_reply *reply, const struct iovec *in,
                       int in_count)
{
    struct iovec parts[1 + 9];
    int count = 0;
    parts[count++] = (struct iovec){ reply, sizeof(*reply) };
    size_t capacity = 0;
    for (int index = 0; index < in_count && count < 10; index++) {
        parts[count++] = in[index];
        capacity += in[index].iov_len;
    }
    size_t got = 0, want = sizeof(*reply);
    int first = 0;
    while (got < want) {
        long rc = SHIM_SYSCALL3(SYS_readv, fd, &parts[first], count - first);
        if (rc == -EINTR)
            continue;
        if (rc <= 0)
            shim_channel_lost();
        got += (size_t)rc;
        size_t left = (size_t)rc;
        while (first < count && left >= parts[first].iov_len)
            left -= parts[first++].iov_len;
        if (first < count) {
            parts[first].iov_base = (char *)parts[first].iov_base + left;
            parts[first].iov_len -= left;
        }
        if (got >= sizeof(*reply)) {
            if (reply->magic != EXEC_MAGIC || reply->payload_bytes > EXEC_PAYLOAD_BYTES_MAX)
                shim_channel_lost();
            size_t kept = reply->payload_bytes < capacity ? reply->payload_bytes : capacity;
            want = sizeof(*reply) + kept;
            if (got > want)
                shim_channel_lost();         /* more than the reply: the protocol broke */
        }
    }
    static char sink[4096];
    for (size_t left = reply->payload_bytes - (want - sizeof(*reply)); left > 0;) {
        size_t take = left < sizeof(sink) ? left : sizeof(sink);
        channel_read(fd, sink, take);
        left -= take;
    }
}

int64_t shim_call(struct exec_request *request, const struct iovec *out, int out_count,
                  struct exec_reply *reply, const struct iovec *in, int in_count)
{
    struct iovec parts[1 + 8];
    int fd = shim_channel_fd();
    if (fd < 0 || out_count > 8 || in_count > 9)
        return -ENOSYS;
    size_t payload_bytes = 0;
    parts[0].iov_base = request;
    parts[0].iov_len = sizeof(*request);
    for (int index = 0; index < out_count; index++) {
        parts[1 + index] = out[index];
        payload_bytes += out[index].iov_len;
    }
    if (payload_bytes > EXEC_PAYLOAD_BYTES_MAX)
        return -EMSGSIZE;
    request->magic = EXEC_MAGIC;
    request->payload_bytes = (uint32_t)payload_bytes;
    for (;;) {
        if (fd == channel_fd && shim_channel_shm_active()) {   /* the first thread's */
            (void)shim_channel_shm_call(channel_fd, request, out, out_count, reply, in,
                                        in_count);
        } else {
            struct iovec sent[1 + 8];   /* channel_write advances what it is given */
            memcpy(sent, parts, sizeof(parts[0]) * (size_t)(1 + out_count));
            channel_write(fd, sent, 1 + out_count);
            reply_read(fd, reply, in, in_count);
        }
        bool restart = reply->result == -EXEC_ERESTART;
        if (reply->signals == 0 && !restart)
            return reply->result;
        /* Emulated signals (shim_signal.c): handlers run now, at the call's end; a call
         * they interrupted with SA_RESTART is made again. */
        if (!shim_signal_deliver(restart))
            return restart ? -EINTR : reply->result;
    }
}

long shim_result(int64_t result)
{
    if (result < 0) {
        errno = (int)-result;
        return -1;
    }
    return (long)result;
}

long shim_call_simple(enum exec_op op, int64_t a0, int64_t a1, int64_t a2, int64_t a3)
{
    struct exec_request request = { .op = op, .args = { a0, a1, a2, a3 } };
    struct exec_reply reply;
    return shim_result(shim_call(&request, NULL, 0, &reply, NULL, 0));
}

int shim_channel_fd(void)
{
    if (!threads_started)
        return channel_fd;
    return thread_channel_fd >= 0 ? thread_channel_fd : thread_first ? channel_fd : -1;
}

void shim_threads_start(void)
{
    threads_started = true;
}

bool shim_threads_active(void)
{
    return threads_started;
}

void shim_thread_channel_set(int fd)
{
    thread_channel_fd = fd;
}

void shim_channel_move(int fd)
{
    shim_fd_set_kind(channel_fd, SHIM_FD_REAL);
    channel_fd = fd;
    shim_fd_set_kind(channel_fd, SHIM_FD_CHANNEL);
}

int shim_placeholder(void)
{
    return (int)SHIM_SYSCALL3(SYS_socket, AF_UNIX, SOCK_STREAM, 0);
}

/* A descriptor number from the environment variable `name`: 0..EXEC_FDS_MAX-1, or -1. */
static int environment_fd(const char *name)
{
    const char *text = getenv(name);
    char *end = NULL;
    long fd = text != NULL ? strtol(text, &end, 10) : -1;
    if (text == NULL || end == text || *end != '\0' || fd < 0 || fd >= (long)EXEC_FDS_MAX)
        return -1;
    return (int)fd;
}

static __attribute__((noreturn)) void start_failed(const char *text)
{
    shim_complain(text);
    for (;;)
        (void)shim_syscall(SYS_exit_group, 126, 0, 0, 0, 0, 0);
}

/* Finds the channel before main runs: the socketpair's end and, for the shared-memory kind,
 * the memfd to map (and close). Without a channel (the library preloaded outside vmcisim)
 * the program is stopped: its simulated calls could be served by nobody. */
__attribute__((constructor)) static void shim_start(void)
{
    int fd = environment_fd(EXEC_CHANNEL_ENV);
    if (fd < 0)
        start_failed("vmcisim shim: no channel to the simulator (" EXEC_CHANNEL_ENV
                     " unset): this library runs only under `vmcisim run --allow-exec`\n");
    int shm_fd = getenv(EXEC_CHANNEL_SHM_ENV) != NULL ? environment_fd(EXEC_CHANNEL_SHM_ENV) : -2;
    if (shm_fd == -1 || (shm_fd >= 0 && shim_channel_shm_map(shm_fd) < 0))
        start_failed("vmcisim shim: cannot map the shared-memory channel (" EXEC_CHANNEL_SHM_ENV
                     ")\n");
    channel_fd = fd;
    thread_first = true;
    shim_fd_set_kind(channel_fd, SHIM_FD_CHANNEL);
    shim_process_hello();           /* the HELLO call, and what a new image learns from it */
    int rc = shim_trap_install();
    if (rc < 0)
        (void)shim_call_simple(EXEC_OP_REFUSED, EXEC_REFUSED_SYSCALL, rc, 0, 0);
}
