/* SPDX-License-Identifier: MIT */
/*
 * sim/exec/serve.c: serves one call of a program on its endpoint's simulated stack.
 *
 * Socket calls go through the C API (vsock/vmci_sockets.h) on the program's
 * vs_context, so a program gets exactly the core's behaviour, errno values and trace
 * events, the Linux ABI on the wire (family 40, struct sockaddr_vm, SOL_SOCKET and
 * AF_VSOCK option levels). The child's descriptor numbers are translated through the
 * program's fdmap (fdmap.h); a number that is not simulated is EBADF here (the shim
 * sends only simulated ones). Time, randomness, pids and the system's identity come
 * from the world: the engine's clock, the "exec:<pid>" random stream, simulated pids
 * and the endpoint's name.
 *
 * Every length from the child is checked against the protocol's bounds before use:
 * a hostile program can make its own calls fail, never the simulator crash.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/utsname.h>
#include <time.h>

#include "exec_int.h"
#include "sim/engine/fiber.h"

#define IOCTL_GET_AF_VALUE 0x7b8        /* the VMware header's get-AF request */
#define IOCTL_GET_LOCAL_CID 0x7b9       /* IOCTL_VM_SOCKETS_GET_LOCAL_CID */

bool exec__request_valid(const struct exec_request *request)
{
    return request->magic == EXEC_MAGIC && request->op >= EXEC_OP_HELLO &&
           request->op < EXEC_OP_COUNT && request->payload_bytes <= EXEC_PAYLOAD_BYTES_MAX;
}

/* The vs_context descriptor behind a child's socket descriptor, or -EBADF / -ENOTSOCK. */
static int socket_of(const struct exec_program *program, int64_t fd)
{
    if (fd < 0 || fd >= (int64_t)EXEC_FDS_MAX)
        return -EBADF;
    const struct exec_description *description =
        exec_fdmap_lookup(&program->leader->fdmap, (int)fd);
    if (description == NULL)
        return -EBADF;
    return description->vs_fd >= 0 ? description->vs_fd : -ENOTSOCK;
}

/* A C API result: -1 with errno becomes -errno. */
static int64_t api(int64_t rc)
{
    return rc < 0 ? -(int64_t)errno : rc;
}

static int64_t serve_socket(struct exec_program *program, const struct exec_request *request)
{
    int vs_fd = vs_socket(&program->leader->context, (int)request->args[1], (int)request->args[2],
                          (int)request->args[3]);
    if (vs_fd < 0)
        return -errno;
    int rc = exec_fdmap_add(&program->leader->fdmap, (int)request->args[0], vs_fd);
    if (rc < 0)
        (void)vs_close(&program->leader->context, vs_fd);
    return rc;
}

static int64_t serve_address(struct exec_program *program, const struct exec_request *request)
{
    int vs_fd = socket_of(program, request->args[0]);
    if (vs_fd < 0)
        return vs_fd;
    const struct sockaddr *addr = request->payload_bytes > 0
                                      ? (const struct sockaddr *)program->buffer : NULL;
    socklen_t length = (socklen_t)request->payload_bytes;
    if (request->op == EXEC_OP_BIND)
        return api(vs_bind(&program->leader->context, vs_fd, addr, length));
    return api(vs_connect(&program->leader->context, vs_fd, addr, length));
}

static int64_t serve_accept(struct exec_program *program, const struct exec_request *request,
                            struct exec_reply *reply)
{
    int vs_fd = socket_of(program, request->args[0]);
    if (vs_fd < 0)
        return vs_fd;
    socklen_t length = EXEC_SOCKADDR_BYTES_MAX;
    memset(program->buffer, 0, EXEC_ADDRESS_BYTES);
    int child = vs_accept(&program->leader->context, vs_fd, (struct sockaddr *)program->buffer,
                          &length);
    if (child < 0)
        return -errno;
    if ((request->args[2] & SOCK_NONBLOCK) != 0)
        (void)vs_fcntl(&program->leader->context, child, F_SETFL, O_NONBLOCK);
    int rc = exec_fdmap_add(&program->leader->fdmap, (int)request->args[1], child);
    if (rc < 0) {
        (void)vs_close(&program->leader->context, child);
        return rc;
    }
    exec_address_length_set(program->buffer, length);
    reply->payload_bytes = EXEC_ADDRESS_BYTES;
    return 0;
}

static int64_t serve_send(struct exec_program *program, const struct exec_request *request)
{
    int vs_fd = socket_of(program, request->args[0]);
    if (vs_fd < 0)
        return vs_fd;
    uint64_t address_bytes = (uint64_t)request->args[2];
    if (request->args[2] < 0 || address_bytes > request->payload_bytes)
        return -EINVAL;
    const struct sockaddr *to = address_bytes > 0 ? (const struct sockaddr *)program->buffer
                                                  : NULL;
    const uint8_t *data = program->buffer + address_bytes;
    size_t length = request->payload_bytes - address_bytes;
    int64_t rc = api(vs_sendto(&program->leader->context, vs_fd, data, length,
                               (int)request->args[1], to, (socklen_t)address_bytes));
    if (rc == -EPIPE && (request->args[1] & MSG_NOSIGNAL) == 0)
        exec__signal_send(program, SIGPIPE);        /* D21: programs get SIGPIPE */
    return rc;
}

static int64_t serve_recv(struct exec_program *program, const struct exec_request *request,
                          struct exec_reply *reply)
{
    int vs_fd = socket_of(program, request->args[0]);
    if (vs_fd < 0)
        return vs_fd;
    if (request->args[1] < 0)
        return -EINVAL;
    uint64_t length = (uint64_t)request->args[1];
    if (length > EXEC_PAYLOAD_BYTES_MAX)
        length = EXEC_PAYLOAD_BYTES_MAX;
    socklen_t address_length = EXEC_SOCKADDR_BYTES_MAX;
    memset(program->buffer, 0, EXEC_ADDRESS_BYTES);
    ssize_t got = vs_recvfrom(&program->leader->context, vs_fd,
                              program->buffer + EXEC_ADDRESS_BYTES, length,
                              (int)request->args[2], (struct sockaddr *)program->buffer,
                              &address_length);
    if (got < 0)
        return -errno;
    exec_address_length_set(program->buffer, address_length);
    reply->payload_bytes = EXEC_ADDRESS_BYTES + (uint32_t)got;
    return got;
}

static int64_t serve_close(struct exec_program *program, const struct exec_request *request)
{
    int vs_fd = -1;
    if (request->args[0] < 0 || request->args[0] >= (int64_t)EXEC_FDS_MAX)
        return -EBADF;
    int rc = exec_fdmap_remove(&program->leader->fdmap, (int)request->args[0], &vs_fd);
    if (rc < 0)
        return rc;
    if (rc == 1 && vs_fd >= 0)
        return exec__process_close(program, vs_fd);     /* forked processes may share it */
    return 0;
}

static int64_t serve_name(struct exec_program *program, const struct exec_request *request,
                          struct exec_reply *reply)
{
    int vs_fd = socket_of(program, request->args[0]);
    if (vs_fd < 0)
        return vs_fd;
    socklen_t length = EXEC_SOCKADDR_BYTES_MAX;
    memset(program->buffer, 0, EXEC_ADDRESS_BYTES);
    struct sockaddr *addr = (struct sockaddr *)program->buffer;
    struct vs_context *context = &program->leader->context;
    int rc = request->op == EXEC_OP_GETSOCKNAME ? vs_getsockname(context, vs_fd, addr, &length)
                                                : vs_getpeername(context, vs_fd, addr, &length);
    if (rc < 0)
        return -errno;
    exec_address_length_set(program->buffer, length);
    reply->payload_bytes = EXEC_ADDRESS_BYTES;
    return 0;
}

static int64_t serve_option(struct exec_program *program, const struct exec_request *request,
                            struct exec_reply *reply)
{
    int vs_fd = socket_of(program, request->args[0]);
    if (vs_fd < 0)
        return vs_fd;
    int level = (int)request->args[1];
    int name = (int)request->args[2];
    if (request->op == EXEC_OP_SETSOCKOPT)
        return api(vs_setsockopt(&program->leader->context, vs_fd, level, name, program->buffer,
                                 (socklen_t)request->payload_bytes));
    if (request->args[3] < 0 || request->args[3] > 64)
        return -EINVAL;
    socklen_t length = (socklen_t)request->args[3];
    memset(program->buffer, 0, 64);
    if (vs_getsockopt(&program->leader->context, vs_fd, level, name, program->buffer, &length) < 0)
        return -errno;
    reply->payload_bytes = length;
    return 0;
}

static int64_t serve_fcntl(struct exec_program *program, const struct exec_request *request)
{
    if (request->args[0] < 0 || request->args[0] >= (int64_t)EXEC_FDS_MAX)
        return -EBADF;
    const struct exec_description *description =
        exec_fdmap_lookup(&program->leader->fdmap, (int)request->args[0]);
    if (description == NULL)
        return -EBADF;
    int command = (int)request->args[1];
    if (description->vs_fd < 0)             /* /dev/vsock: flags only */
        return command == F_GETFL ? O_RDWR : command == F_SETFL ? 0 : -EINVAL;
    return api(vs_fcntl(&program->leader->context, description->vs_fd, command,
                        (int)request->args[2]));
}

/* FIONREAD on a stream: the bytes ready to read; the device's two requests (R2). */
static int64_t serve_ioctl(struct exec_program *program, const struct exec_request *request,
                           struct exec_reply *reply)
{
    if (request->args[0] < 0 || request->args[0] >= (int64_t)EXEC_FDS_MAX)
        return -EBADF;
    const struct exec_description *description =
        exec_fdmap_lookup(&program->leader->fdmap, (int)request->args[0]);
    if (description == NULL)
        return -EBADF;
    uint64_t code = (uint64_t)request->args[1];
    if (description->vs_fd < 0) {
        if (code == IOCTL_GET_LOCAL_CID)
            reply->values[0] = program->callbacks->local_cid(program->owner);
        else if (code == IOCTL_GET_AF_VALUE)
            reply->values[0] = AF_VSOCK;
        else
            return -ENOTTY;
        return 0;
    }
    struct vsock_sock *sock = vs_socket_of(&program->leader->context, description->vs_fd);
    if (code != FIONREAD || sock == NULL)
        return -ENOTTY;
    if (sock->tcp == VSOCK_TCP_LISTEN)
        return -EINVAL;
    int64_t ready = 0;
    if (sock->type == VSOCK_TYPE_STREAM && sock->state == VSOCK_SS_CONNECTED &&
        sock->ops->stream_has_data != NULL)
        ready = sock->ops->stream_has_data(sock);
    reply->values[0] = ready > 0 ? ready : 0;
    return 0;
}

static int64_t serve_open_device(struct exec_program *program, const struct exec_request *request)
{
    if (request->args[0] < 0 || request->args[0] >= (int64_t)EXEC_FDS_MAX)
        return -EBADF;
    return exec_fdmap_add(&program->leader->fdmap, (int)request->args[0], -1);
}

static int64_t serve_dup(struct exec_program *program, const struct exec_request *request)
{
    if (request->args[0] < 0 || request->args[0] >= (int64_t)EXEC_FDS_MAX ||
        request->args[1] < 0 || request->args[1] >= (int64_t)EXEC_FDS_MAX)
        return -EBADF;
    return exec_fdmap_dup(&program->leader->fdmap, (int)request->args[0], (int)request->args[1]);
}

struct exec_poll_entry *exec__poll_entries(struct exec_program *program,
                                           const struct exec_request *request,
                                           uint64_t *count)
{
    uint64_t entries = (uint64_t)request->args[0];
    if (request->args[0] < 0 || entries > EXEC_POLL_ENTRIES_MAX || entries > VS_FDS_MAX ||
        entries * sizeof(struct exec_poll_entry) != request->payload_bytes)
        return NULL;
    *count = entries;
    return (struct exec_poll_entry *)program->buffer;
}

/* Poll: simulated entries translated to the vs_context, waited on in simulated time.
 * A set with nothing simulated and no timeout would wait forever: a deadlock. */
static int64_t serve_poll(struct exec_program *program, const struct exec_request *request,
                          bool *fatal)
{
    uint64_t count = 0;
    struct exec_poll_entry *entries = exec__poll_entries(program, request, &count);
    if (entries == NULL)
        return -EINVAL;
    struct pollfd set[VS_FDS_MAX];
    int invalid = 0;
    bool any_socket = false;
    for (uint64_t index = 0; index < count; index++) {
        int vs_fd = socket_of(program, entries[index].fd);
        set[index] = (struct pollfd){ .fd = vs_fd >= 0 ? vs_fd : -1,
                                      .events = entries[index].events };
        entries[index].revents = vs_fd == -EBADF ? POLLNVAL : 0;
        invalid += vs_fd == -EBADF;
        any_socket |= vs_fd >= 0;
    }
    int timeout_ms = (int)request->args[1];
    if (!any_socket && invalid == 0) {
        if (timeout_ms < 0) {
            exec__failure(program, "program %s waits without a timeout on descriptors no "
                          "simulated event can wake (real ones only, or /dev/vsock): a "
                          "deadlock", program->name);
            *fatal = true;
            return -EINVAL;
        }
        if (timeout_ms > 0) {
            uint64_t deadline_ns = sim_engine_now(program->engine) +
                                   (uint64_t)timeout_ms * 1000000u;
            int rc = exec__signal_wait(program, NULL, deadline_ns);
            if (rc == -EINTR)
                return -EINTR;
            if (rc == SIM_EKILLED)
                *fatal = true;
        }
        return 0;
    }
    int ready = vs_poll(&program->leader->context, set, count, invalid > 0 ? 0 : timeout_ms);
    if (ready < 0)
        return -errno;
    for (uint64_t index = 0; index < count; index++) {
        if (set[index].fd >= 0)
            entries[index].revents = set[index].revents;
    }
    return ready + invalid;
}

static int64_t serve_clock(struct exec_program *program, const struct exec_request *request,
                           struct exec_reply *reply)
{
    int64_t clock = request->args[0];
    uint64_t now_ns = sim_engine_now(program->engine);
    if (clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE || clock == CLOCK_TAI)
        reply->values[0] = (int64_t)(EXEC_REALTIME_EPOCH_NS + now_ns);
    else if (clock > CLOCK_TAI)
        return -EINVAL;
    else
        reply->values[0] = (int64_t)now_ns;     /* monotonic, boottime and CPU clocks */
    return 0;
}

static int64_t serve_random(struct exec_program *program, const struct exec_request *request,
                            struct exec_reply *reply)
{
    if (request->args[0] < 0)
        return -EINVAL;
    uint64_t length = (uint64_t)request->args[0];
    if (length > EXEC_PAYLOAD_BYTES_MAX)
        length = EXEC_PAYLOAD_BYTES_MAX;
    for (uint64_t offset = 0; offset < length; offset += 8) {
        uint64_t word = sim_rng_next(&program->rng);
        size_t take = length - offset < 8 ? (size_t)(length - offset) : 8;
        memcpy(program->buffer + offset, &word, take);
    }
    reply->payload_bytes = (uint32_t)length;
    return (int64_t)length;
}

static int64_t serve_uname(struct exec_program *program, struct exec_reply *reply)
{
    struct utsname name;
    memset(&name, 0, sizeof(name));
    snprintf(name.sysname, sizeof(name.sysname), "Linux");
    snprintf(name.nodename, sizeof(name.nodename), "%s", program->nodename);
    snprintf(name.release, sizeof(name.release), "6.1.0-vmcisim");
    snprintf(name.version, sizeof(name.version), "#1 SMP vmcisim");
    snprintf(name.machine, sizeof(name.machine), "x86_64");
    snprintf(name.domainname, sizeof(name.domainname), "(none)");
    memcpy(program->buffer, &name, sizeof(name));
    reply->payload_bytes = sizeof(name);
    return 0;
}

static int64_t serve_refused(struct exec_program *program, const struct exec_request *request)
{
    static const char *const what[] = { "", "thread", "syscall", "family", "rights", "futex" };
    int64_t which = request->args[0];
    exec__trace_refused(program, which >= 1 && which <= EXEC_REFUSED_FUTEX ? what[which]
                                                                            : "unknown",
                        request->args[1]);
    return 0;
}

/* Sleeps `ns` in simulated time; a deliverable signal ends it early with EINTR and the
 * ns left in values[0]. */
static int64_t serve_sleep(struct exec_program *program, int64_t ns, struct exec_reply *reply,
                           bool *fatal)
{
    if (ns <= 0)
        return 0;
    uint64_t now_ns = sim_engine_now(program->engine);
    uint64_t deadline_ns = (uint64_t)ns > SIM_TIME_NEVER - 1 - now_ns ? SIM_TIME_NEVER - 1
                                                                      : now_ns + (uint64_t)ns;
    int rc = exec__signal_wait(program, NULL, deadline_ns);
    if (rc == -EINTR) {
        reply->values[0] = (int64_t)(deadline_ns - sim_engine_now(program->engine));
        return -EINTR;
    }
    if (rc == SIM_EKILLED)
        *fatal = true;
    return 0;
}

static int64_t serve_time(struct exec_program *program, const struct exec_request *request,
                          struct exec_reply *reply, bool *fatal)
{
    switch (request->op) {
    case EXEC_OP_SLEEP:
        return serve_sleep(program, request->args[0], reply, fatal);
    case EXEC_OP_CLOCK:
        return serve_clock(program, request, reply);
    case EXEC_OP_RANDOM:
        return serve_random(program, request, reply);
    case EXEC_OP_GETPID:                /* a thread's process: its leader; the result: gettid */
        reply->values[0] = program->leader->pid;
        reply->values[1] = program->leader->parent_pid;
        return program->pid;
    case EXEC_OP_UNAME:
        return serve_uname(program, reply);
    case EXEC_OP_EXIT:
        program->exit_called = true;
        program->exit_code_called = (int)(request->args[0] & 0xff);   /* as the kernel */
        if (request->args[1] >= 1 && request->args[1] <= EXEC_SIGNALS_MAX)
            program->signals.killed_by = (int)request->args[1];      /* a default action */
        if (program->thread)
            exec__thread_group_exit(program);   /* exit_group ends every thread */
        return 0;
    default:
        return -ENOSYS;
    }
}

/* One request of the socket, device, process, signal, thread and time families (the
 * pipes, pairs and AF_INET ones are exec__io_serve's): its result, or -errno. */
static int64_t serve_op(struct exec_program *program, const struct exec_request *request,
                        struct exec_reply *reply, bool *fatal)
{
    int64_t result;
    switch (request->op) {
    case EXEC_OP_HELLO: result = exec__process_hello(program, reply); break;
    case EXEC_OP_SOCKET: result = serve_socket(program, request); break;
    case EXEC_OP_BIND:
    case EXEC_OP_CONNECT: result = serve_address(program, request); break;
    case EXEC_OP_LISTEN: {
        int vs_fd = socket_of(program, request->args[0]);
        result = vs_fd < 0 ? vs_fd
                           : api(vs_listen(&program->leader->context, vs_fd,
                                           (int)request->args[1]));
        break;
    }
    case EXEC_OP_ACCEPT: result = serve_accept(program, request, reply); break;
    case EXEC_OP_SEND: result = serve_send(program, request); break;
    case EXEC_OP_RECV: result = serve_recv(program, request, reply); break;
    case EXEC_OP_CLOSE: result = serve_close(program, request); break;
    case EXEC_OP_SHUTDOWN: {
        int vs_fd = socket_of(program, request->args[0]);
        result = vs_fd < 0 ? vs_fd
                           : api(vs_shutdown(&program->leader->context, vs_fd,
                                             (int)request->args[1]));
        break;
    }
    case EXEC_OP_GETSOCKNAME:
    case EXEC_OP_GETPEERNAME: result = serve_name(program, request, reply); break;
    case EXEC_OP_GETSOCKOPT:
    case EXEC_OP_SETSOCKOPT: result = serve_option(program, request, reply); break;
    case EXEC_OP_FCNTL: result = serve_fcntl(program, request); break;
    case EXEC_OP_IOCTL: result = serve_ioctl(program, request, reply); break;
    case EXEC_OP_OPEN_DEVICE: result = serve_open_device(program, request); break;
    case EXEC_OP_POLL:
        result = serve_poll(program, request, fatal);
        if (result >= 0)
            reply->payload_bytes = request->payload_bytes;
        break;
    case EXEC_OP_DUP: result = serve_dup(program, request); break;
    case EXEC_OP_REFUSED: result = serve_refused(program, request); break;
    case EXEC_OP_FORK:
    case EXEC_OP_EXECVE:
        /* Only a process without threads forks or executes (docs/programs.md "Threads"). */
        if (program->thread || exec__thread_count(program) > 0)
            result = -ENOSYS;
        else if (request->op == EXEC_OP_FORK)
            result = exec__process_fork(program, request, reply);
        else
            result = exec__process_execve(program, request);
        break;
    case EXEC_OP_WAIT: result = exec__process_wait(program, request, reply, fatal); break;
    case EXEC_OP_EXECVE_FAILED: result = exec__process_execve_failed(program); break;
    case EXEC_OP_SIGACTION:
    case EXEC_OP_SIGMASK:
    case EXEC_OP_SIGTAKE:
    case EXEC_OP_SIGSUSPEND:
    case EXEC_OP_KILL:
    case EXEC_OP_SIGWAIT:
    case EXEC_OP_ALARM:
        result = exec__signal_serve(program, request, reply, fatal);
        if (request->op == EXEC_OP_SIGACTION && result == 0)
            exec__thread_share_actions(program);    /* actions are the process's */
        break;
    case EXEC_OP_THREAD_CREATE:
    case EXEC_OP_THREAD_STARTED:
    case EXEC_OP_THREAD_EXIT:
    case EXEC_OP_THREAD_JOIN:
    case EXEC_OP_FUTEX: result = exec__thread_serve(program, request, reply, fatal); break;
    default: result = serve_time(program, request, reply, fatal); break;
    }
    return result;
}

bool exec__serve(struct exec_program *program, const struct exec_request *request,
                 struct exec_reply *reply)
{
    assert(exec__request_valid(request));
    memset(reply, 0, sizeof(*reply));
    reply->magic = EXEC_MAGIC;
    program->signals.interrupted = false;       /* a wake-up of an earlier call is spent */
    bool fatal = false;
    int64_t result;
    if (exec__io_serve(program, request, reply, &result, &fatal)) {    /* pipes, pairs, AF_INET */
        reply->result = result;
        if (result < 0)
            reply->payload_bytes = 0;
        return !fatal && !(program->process != NULL && program->process->kill_requested);
    }
    result = serve_op(program, request, reply, &fatal);
    reply->result = result;
    if (result < 0)
        reply->payload_bytes = 0;
    exec__signal_after_call(program, request, reply);
    return !fatal && !(program->process != NULL && program->process->kill_requested);
}
