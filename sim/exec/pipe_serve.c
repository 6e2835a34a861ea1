/* SPDX-License-Identifier: MIT */
/*
 * sim/exec/pipe_serve.c: serves a program's calls on pipes, AF_UNIX socket pairs and
 * the TCP control channel (pipe.h, inet.h), as Linux answers them.
 *
 * exec__serve hands a request here first; this file takes it when it creates such an
 * object (EXEC_OP_PIPE, EXEC_OP_SOCKETPAIR, EXEC_OP_SOCKET of AF_INET), resolves a name
 * (EXEC_OP_RESOLVE), names a descriptor whose description holds one (fdmap.h, FM4), or
 * polls a set holding one. A call that would block waits in simulated time on the
 * object's queue (or the world's poll queue for a poll), with the deadline of the next
 * bytes in flight, and is asked again when woken: one wake-up, one retry, as the C API
 * does for vSockets. A program killed meanwhile ends its call (fatal).
 *
 * SIGPIPE: a write that meets no reader fails EPIPE here; broken_pipe() is the one place
 * where the signal emulation (docs/programs.md, signals) raises SIGPIPE unless the call
 * gave MSG_NOSIGNAL.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "exec_int.h"
#include "inet.h"
#include "sim/engine/fiber.h"

#define RESOLVE_NAME_BYTES_MAX 255u

static bool is_inet(const struct exec_io *io);

/* ---- Trace ------------------------------------------------------------------------------ */

static void trace_begin(struct exec_program *program, struct sim_trace_event *event,
                        const char *kind, const char *op)
{
    sim_trace_event_init(event, SIM_LAYER_API, kind,
                         program->callbacks->local_cid(program->owner), program->pid);
    sim_trace_field_str(event, "op", op);
}

static void trace_pair(struct exec_program *program, const char *op, struct exec_io *ends[2],
                       int64_t fd0, int64_t fd1)
{
    struct sim_trace_event event;
    trace_begin(program, &event, "exec_pipe", op);
    sim_trace_field_u64(&event, "id", ends[0]->serial);
    sim_trace_field_u64(&event, "peer_id", ends[1]->serial);
    sim_trace_field_i64(&event, "fd", fd0);
    sim_trace_field_i64(&event, "peer_fd", fd1);
    (void)sim_engine_emit(program->engine, &event);
}

/* One event of the control channel: op, the socket, its addresses, the result. */
static void trace_inet(struct exec_program *program, const char *op, const struct exec_io *io,
                       int64_t fd, int64_t result)
{
    struct sim_trace_event event;
    char local[EXEC_INET_TEXT_BYTES], peer[EXEC_INET_TEXT_BYTES];
    trace_begin(program, &event, "inet", op);
    sim_trace_field_u64(&event, "id", io->serial);
    sim_trace_field_i64(&event, "fd", fd);
    exec_inet_format(&io->local_address, io->local_port, local);
    exec_inet_format(&io->peer_address, io->peer_port, peer);
    sim_trace_field_str(&event, "local", local);
    sim_trace_field_str(&event, "peer", peer);
    sim_trace_field_i64(&event, "result", result);
    (void)sim_engine_emit(program->engine, &event);
}

static void trace_close(struct exec_program *program, struct exec_io *io, int64_t fd,
                        bool last)
{
    if (is_inet(io)) {
        trace_inet(program, last ? "close" : "close_dup", io, fd, 0);
        return;
    }
    struct sim_trace_event event;
    trace_begin(program, &event, "exec_pipe", last ? "close" : "close_dup");
    sim_trace_field_u64(&event, "id", io->serial);
    sim_trace_field_i64(&event, "fd", fd);
    (void)sim_engine_emit(program->engine, &event);
}

/* ---- Helpers ---------------------------------------------------------------------------- */

static bool is_inet(const struct exec_io *io)
{
    return io->kind == EXEC_IO_INET_STREAM || io->kind == EXEC_IO_INET_DGRAM;
}

static struct exec_io *io_of(const struct exec_program *program, int64_t fd)
{
    if (fd < 0 || fd >= (int64_t)EXEC_FDS_MAX)
        return NULL;
    const struct exec_description *description =
        exec_fdmap_lookup(&program->leader->fdmap, (int)fd);
    return description != NULL ? description->io : NULL;
}

static uint64_t now_ns(const struct exec_program *program)
{
    return sim_engine_now(program->engine);
}

/* Waits for a change on io, the next bytes in flight, or deadline_ns. Returns 0, -EAGAIN
 * when the deadline (a socket timeout) passed, -EINTR when a deliverable emulated signal
 * came (D21), -EINTR with *fatal when killed. */
static int io_wait(struct exec_program *program, struct exec_io *io, uint64_t deadline_ns,
                   bool *fatal)
{
    uint64_t now = now_ns(program);
    if (deadline_ns <= now)
        return -EAGAIN;
    uint64_t next = exec_io_next_ns(io, now);
    int rc = exec__signal_wait(program, exec_io_waitq(io), next < deadline_ns ? next
                                                                            : deadline_ns);
    if (rc == -EINTR)
        return -EINTR;          /* a deliverable signal (D21): EINTR, or the call restarts */
    if (rc < 0) {
        *fatal = true;
        return -EINTR;
    }
    return 0;
}

static uint64_t deadline_of(const struct exec_program *program, uint64_t timeout_ns)
{
    return timeout_ns == 0 ? SIM_TIME_NEVER : now_ns(program) + timeout_ns;
}

/* The hook for SIGPIPE (file header): the call has just met a pipe or socket nobody
 * reads. */
static void broken_pipe(struct exec_program *program, struct exec_io *io, int flags)
{
    (void)io;
    if ((flags & MSG_NOSIGNAL) == 0)
        exec__signal_send(program, SIGPIPE);        /* D21, as for a vSockets stream */
}

/* ---- Creating ----------------------------------------------------------------------------- */

static int64_t map_pair(struct exec_program *program, const struct exec_request *request,
                        struct exec_io *ends[2], const char *op)
{
    int rc = exec_fdmap_add_io(&program->leader->fdmap, (int)request->args[0], ends[0]);
    if (rc < 0) {
        exec_io_release(ends[0]);
        exec_io_release(ends[1]);
        return rc;
    }
    rc = exec_fdmap_add_io(&program->leader->fdmap, (int)request->args[1], ends[1]);
    if (rc < 0) {
        int ignored;
        (void)exec_fdmap_remove(&program->leader->fdmap, (int)request->args[0], &ignored);
        exec_io_release(ends[0]);
        exec_io_release(ends[1]);
        return rc;
    }
    trace_pair(program, op, ends, request->args[0], request->args[1]);
    return 0;
}

static int64_t serve_pipe(struct exec_program *program, const struct exec_request *request)
{
    struct exec_io *ends[2];
    if (request->args[0] < 0 || request->args[0] >= (int64_t)EXEC_FDS_MAX ||
        request->args[1] < 0 || request->args[1] >= (int64_t)EXEC_FDS_MAX ||
        request->args[0] == request->args[1])
        return -EBADF;
    if (request->op == EXEC_OP_PIPE) {
        if ((request->args[2] & ~(int64_t)(O_NONBLOCK | O_CLOEXEC | O_DIRECT)) != 0)
            return -EINVAL;
        int rc = exec_pipe_create(program->net, (request->args[2] & O_NONBLOCK) != 0, ends);
        return rc < 0 ? rc : map_pair(program, request, ends, "pipe");
    }
    int type = (int)(request->args[2] & ~(int64_t)(SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (type != SOCK_STREAM && type != SOCK_DGRAM)
        return -EPROTONOSUPPORT;            /* SOCK_SEQPACKET is not served */
    int rc = exec_socketpair_create(program->net, type == SOCK_DGRAM,
                                    (request->args[2] & SOCK_NONBLOCK) != 0, ends);
    return rc < 0 ? rc : map_pair(program, request, ends, "socketpair");
}

static int64_t serve_inet_socket(struct exec_program *program,
                                 const struct exec_request *request)
{
    int type = (int)(request->args[2] & ~(int64_t)(SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (type != SOCK_STREAM && type != SOCK_DGRAM)
        return -ESOCKTNOSUPPORT;
    if (request->args[3] != 0 &&
        request->args[3] != (type == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP))
        return -EPROTONOSUPPORT;
    struct exec_io *io = NULL;
    int rc = exec_inet_socket_family(program->net, program->endpoint, (int)request->args[1],
                                     type == SOCK_DGRAM, (request->args[2] & SOCK_NONBLOCK) != 0,
                                     &io);
    if (rc < 0)
        return rc;
    rc = exec_fdmap_add_io(&program->leader->fdmap, (int)request->args[0], io);
    if (rc < 0) {
        exec_io_release(io);
        return rc;
    }
    trace_inet(program, "socket", io, request->args[0], 0);
    return 0;
}

/* A host name the program gave getaddrinfo: an endpoint's name (its IPv4 address in
 * values[0], its IPv6 address as the reply's 16 bytes). */
static int64_t serve_resolve(struct exec_program *program, const struct exec_request *request,
                             struct exec_reply *reply)
{
    char name[RESOLVE_NAME_BYTES_MAX + 1];
    if (request->payload_bytes == 0 || request->payload_bytes > RESOLVE_NAME_BYTES_MAX)
        return -EINVAL;
    memcpy(name, program->buffer, request->payload_bytes);
    name[request->payload_bytes] = '\0';
    uint32_t endpoint = 0;
    if (strlen(name) != request->payload_bytes || program->net->lookup == NULL ||
        program->net->lookup(program->net->lookup_owner, name, &endpoint) < 0 ||
        exec_inet_address(endpoint) == 0)
        return -ENOENT;
    reply->values[0] = exec_inet_address(endpoint);
    struct in6_addr address6;
    if (exec_inet_address6(endpoint, &address6)) {
        memcpy(program->buffer, &address6, sizeof(address6));
        reply->payload_bytes = sizeof(address6);
    }
    return 0;
}

/* ---- Moving bytes --------------------------------------------------------------------------- */

/* A control channel datagram: one message, waiting while the receiver's queue is full. */
static int64_t serve_datagram_send(struct exec_program *program, struct exec_io *io,
                                   const struct exec_request *request, bool *fatal)
{
    uint64_t address_bytes = (uint64_t)request->args[2];
    const void *to = address_bytes > 0 ? program->buffer : NULL;
    int flags = (int)request->args[1];
    bool wait = !io->nonblock && (flags & MSG_DONTWAIT) == 0;
    uint64_t deadline = deadline_of(program, io->send_timeout_ns);
    for (;;) {
        struct exec_io *full = NULL;
        ssize_t rc = exec_inet_sendto(io, program->buffer + address_bytes,
                                      request->payload_bytes - address_bytes, to,
                                      (uint32_t)address_bytes, now_ns(program), &full);
        if (rc != -EAGAIN || !wait || full == NULL)
            return rc;
        int waited = io_wait(program, full, deadline, fatal);
        if (waited < 0)
            return waited;
    }
}

static int64_t serve_datagram_recv(struct exec_program *program, struct exec_io *io,
                                   uint64_t length, int flags, struct exec_reply *reply,
                                   bool *fatal)
{
    bool wait = !io->nonblock && (flags & MSG_DONTWAIT) == 0;
    uint64_t deadline = deadline_of(program, io->receive_timeout_ns);
    for (;;) {
        memset(program->buffer, 0, EXEC_ADDRESS_BYTES);
        ssize_t rc = exec_inet_recvfrom(io, program->buffer + EXEC_ADDRESS_BYTES, length,
                                        (flags & MSG_PEEK) != 0, program->buffer,
                                        now_ns(program));
        if (rc >= 0) {
            exec_address_length_set(program->buffer, exec_inet_name_bytes(io));
            reply->payload_bytes = EXEC_ADDRESS_BYTES + (uint32_t)rc;
            return rc;
        }
        if (!wait)
            return rc;
        int waited = io_wait(program, io, deadline, fatal);
        if (waited < 0)
            return waited;
    }
}

static int64_t serve_send(struct exec_program *program, struct exec_io *io,
                          const struct exec_request *request, bool *fatal)
{
    uint64_t address_bytes = (uint64_t)request->args[2];
    if (request->args[2] < 0 || address_bytes > request->payload_bytes)
        return -EINVAL;
    if (io->kind == EXEC_IO_INET_DGRAM)
        return serve_datagram_send(program, io, request, fatal);
    const uint8_t *data = program->buffer + address_bytes;
    size_t length = request->payload_bytes - address_bytes;
    int flags = (int)request->args[1];
    bool wait = !io->nonblock && (flags & MSG_DONTWAIT) == 0;
    uint64_t deadline = deadline_of(program, io->send_timeout_ns);
    size_t done = 0;
    for (;;) {
        ssize_t rc = exec_io_write(io, data + done, length - done, now_ns(program));
        if (rc >= 0)
            done += (size_t)rc;
        if (rc >= 0 && (done == length || io->kind == EXEC_IO_UNIX_DGRAM))
            return (int64_t)done;
        if (rc == -EPIPE)
            broken_pipe(program, io, flags);
        if (rc < 0 && rc != -EAGAIN)
            return done > 0 ? (int64_t)done : rc;
        if (!wait)
            return done > 0 ? (int64_t)done : -EAGAIN;
        int waited = io_wait(program, io, deadline, fatal);
        if (waited < 0)
            return done > 0 ? (int64_t)done : waited;
    }
}

static int64_t serve_recv(struct exec_program *program, struct exec_io *io,
                          const struct exec_request *request, struct exec_reply *reply,
                          bool *fatal)
{
    if (request->args[1] < 0)
        return -EINVAL;
    uint64_t length = (uint64_t)request->args[1];
    if (length > EXEC_PAYLOAD_BYTES_MAX)
        length = EXEC_PAYLOAD_BYTES_MAX;
    int flags = (int)request->args[2];
    if (io->kind == EXEC_IO_INET_DGRAM)
        return serve_datagram_recv(program, io, length, flags, reply, fatal);
    bool wait = !io->nonblock && (flags & MSG_DONTWAIT) == 0;
    uint64_t deadline = deadline_of(program, io->receive_timeout_ns);
    uint8_t *data = program->buffer + EXEC_ADDRESS_BYTES;
    memset(program->buffer, 0, EXEC_ADDRESS_BYTES);
    if (io->kind == EXEC_IO_INET_STREAM && io->state == EXEC_INET_CONNECTED) {
        (void)exec_inet_name(io, true, program->buffer);
        exec_address_length_set(program->buffer, exec_inet_name_bytes(io));
    } else if (exec_io_is_socket(io)) {
        ((struct sockaddr *)program->buffer)->sa_family = AF_UNIX;
        exec_address_length_set(program->buffer, 0);    /* an unnamed peer: none, as Linux */
    }
    size_t done = 0;
    for (;;) {
        ssize_t rc = exec_io_read(io, data + done, length - done, flags & MSG_PEEK,
                                  now_ns(program));
        if (rc > 0)
            done += (size_t)rc;
        bool more = (flags & MSG_WAITALL) != 0 && (flags & MSG_PEEK) == 0 && rc > 0 &&
                    done < length && io->kind != EXEC_IO_UNIX_DGRAM;
        if (rc >= 0 && !more)
            break;
        if (rc < 0 && rc != -EAGAIN)
            return done > 0 ? (int64_t)done : rc;
        if (rc == -EAGAIN && !wait)
            return done > 0 ? (int64_t)done : -EAGAIN;
        int waited = io_wait(program, io, deadline, fatal);
        if (waited < 0)
            return done > 0 ? (int64_t)done : waited;
    }
    reply->payload_bytes = EXEC_ADDRESS_BYTES + (uint32_t)done;
    return (int64_t)done;
}

/* ---- The control channel's calls ------------------------------------------------------------ */

static int64_t serve_connect(struct exec_program *program, struct exec_io *io,
                             const struct exec_request *request, bool *fatal)
{
    const void *address = request->payload_bytes > 0 ? program->buffer : NULL;
    int rc = exec_inet_connect(io, address, request->payload_bytes);
    trace_inet(program, "connect", io, request->args[0], rc);
    if (rc < 0 || io->nonblock || io->kind == EXEC_IO_INET_DGRAM)
        return rc;                          /* established at once: no EINPROGRESS needed */
    /* The handshake's round trip, in simulated time. */
    if (sim_fiber_sleep(program->engine, 2 * program->net->latency_ns) == SIM_EKILLED)
        *fatal = true;
    return 0;
}

static int64_t serve_accept(struct exec_program *program, struct exec_io *io,
                            const struct exec_request *request, struct exec_reply *reply,
                            bool *fatal)
{
    if (io->kind != EXEC_IO_INET_STREAM)
        return io->kind == EXEC_IO_PIPE_READ || io->kind == EXEC_IO_PIPE_WRITE ? -ENOTSOCK
                                                                             : -EOPNOTSUPP;
    struct exec_io *server = NULL;
    uint64_t deadline = deadline_of(program, io->receive_timeout_ns);
    for (;;) {
        int rc = exec_inet_accept(io, &server);
        if (rc == 0)
            break;
        if (rc != -EAGAIN || io->nonblock)
            return rc;
        rc = io_wait(program, io, deadline, fatal);
        if (rc < 0)
            return rc;
    }
    server->nonblock = (request->args[2] & SOCK_NONBLOCK) != 0;
    int rc = exec_fdmap_add_io(&program->leader->fdmap, (int)request->args[1], server);
    if (rc < 0) {
        exec_io_release(server);
        return rc;
    }
    trace_inet(program, "accept", server, request->args[1], 0);
    memset(program->buffer, 0, EXEC_ADDRESS_BYTES);
    (void)exec_inet_name(server, true, program->buffer);
    exec_address_length_set(program->buffer, exec_inet_name_bytes(server));
    reply->payload_bytes = EXEC_ADDRESS_BYTES;
    return 0;
}

static int64_t serve_name(struct exec_program *program, struct exec_io *io,
                          const struct exec_request *request, struct exec_reply *reply)
{
    if (!exec_io_is_socket(io))
        return -ENOTSOCK;
    bool peer = request->op == EXEC_OP_GETPEERNAME;
    memset(program->buffer, 0, EXEC_ADDRESS_BYTES);
    if (is_inet(io)) {
        int rc = exec_inet_name(io, peer, program->buffer);
        if (rc < 0)
            return rc;
        exec_address_length_set(program->buffer, (uint32_t)rc);
    } else {
        ((struct sockaddr *)program->buffer)->sa_family = AF_UNIX;   /* unnamed */
        exec_address_length_set(program->buffer, sizeof(sa_family_t));
    }
    reply->payload_bytes = EXEC_ADDRESS_BYTES;
    return 0;
}

/* ---- Options, flags, ioctl ------------------------------------------------------------------ */

static int option_int(const struct exec_program *program, const struct exec_request *request,
                      int *value)
{
    if (request->payload_bytes < sizeof(int))
        return -EINVAL;
    memcpy(value, program->buffer, sizeof(int));
    return 0;
}

static int option_timeout(const struct exec_program *program, const struct exec_request *request,
                          uint64_t *ns)
{
    struct timeval value;
    if (request->payload_bytes < sizeof(value))
        return -EINVAL;
    memcpy(&value, program->buffer, sizeof(value));
    if (value.tv_usec < 0 || value.tv_usec >= 1000000)
        return -EDOM;
    *ns = value.tv_sec < 0 ? 0 : (uint64_t)value.tv_sec * 1000000000u +
                                     (uint64_t)value.tv_usec * 1000u;
    return 0;
}

static int64_t serve_setsockopt(struct exec_program *program, struct exec_io *io,
                                const struct exec_request *request)
{
    int level = (int)request->args[1], name = (int)request->args[2], value = 0;
    if (!exec_io_is_socket(io))
        return -ENOTSOCK;
    if (level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO))
        return option_timeout(program, request, name == SO_RCVTIMEO ? &io->receive_timeout_ns
                                                                    : &io->send_timeout_ns);
    int rc = option_int(program, request, &value);
    if (rc < 0)
        return rc;
    if (level == IPPROTO_IPV6 && name == IPV6_V6ONLY && is_inet(io))
        return exec_inet_set_v6only(io, value != 0);
    if (level == SOL_SOCKET && name == SO_REUSEADDR)
        io->reuse_address = value != 0;
    else if (level == IPPROTO_TCP && name == TCP_NODELAY && io->kind == EXEC_IO_INET_STREAM)
        io->no_delay = value != 0;
    else if (!(level == SOL_SOCKET && (name == SO_KEEPALIVE || name == SO_RCVBUF ||
                                        name == SO_SNDBUF || name == SO_REUSEPORT)))
        return -ENOPROTOOPT;                /* accepted above: no effect on a byte service */
    return 0;
}

static int64_t serve_getsockopt(struct exec_program *program, struct exec_io *io,
                                const struct exec_request *request, struct exec_reply *reply)
{
    int level = (int)request->args[1], name = (int)request->args[2], value;
    if (!exec_io_is_socket(io))
        return -ENOTSOCK;
    if (level == SOL_SOCKET && name == SO_ERROR)
        value = 0;
    else if (level == SOL_SOCKET && name == SO_TYPE)
        value = io->kind == EXEC_IO_UNIX_DGRAM || io->kind == EXEC_IO_INET_DGRAM ? SOCK_DGRAM
                                                                                 : SOCK_STREAM;
    else if (level == SOL_SOCKET && name == SO_DOMAIN)
        value = is_inet(io) ? io->family : AF_UNIX;
    else if (level == SOL_SOCKET && name == SO_REUSEADDR)
        value = io->reuse_address;
    else if (level == SOL_SOCKET && name == SO_ACCEPTCONN)
        value = io->state == EXEC_INET_LISTENING;
    else if (level == SOL_SOCKET && (name == SO_RCVBUF || name == SO_SNDBUF))
        value = io->kind == EXEC_IO_INET_STREAM ? (int)EXEC_INET_BYTES_MAX
                : io->kind == EXEC_IO_INET_DGRAM ? (int)EXEC_INET_DGRAM_QUEUE_BYTES
                                                 : (int)EXEC_SOCKETPAIR_BYTES_MAX;
    else if (level == IPPROTO_TCP && name == TCP_NODELAY && io->kind == EXEC_IO_INET_STREAM)
        value = io->no_delay;
    else if (level == IPPROTO_IPV6 && name == IPV6_V6ONLY && is_inet(io) &&
             io->family == AF_INET6)
        value = io->v6only;
    else
        return -ENOPROTOOPT;
    if (request->args[3] < (int64_t)sizeof(int))
        return -EINVAL;
    memcpy(program->buffer, &value, sizeof(value));
    reply->payload_bytes = sizeof(value);
    return 0;
}

static int64_t serve_fcntl(struct exec_io *io, const struct exec_request *request)
{
    int command = (int)request->args[1];
    int access = io->kind == EXEC_IO_PIPE_READ ? O_RDONLY
                 : io->kind == EXEC_IO_PIPE_WRITE ? O_WRONLY : O_RDWR;
    switch (command) {
    case F_GETFL: return access | (io->nonblock ? O_NONBLOCK : 0);
    case F_SETFL: io->nonblock = (request->args[2] & O_NONBLOCK) != 0; return 0;
    case F_GETPIPE_SZ:
    case F_SETPIPE_SZ:                      /* the capacity stays EXEC_PIPE_BYTES_MAX */
        return exec_io_is_socket(io) ? -EBADF : (int64_t)EXEC_PIPE_BYTES_MAX;
    default: return -EINVAL;
    }
}

static int64_t serve_ioctl(struct exec_program *program, struct exec_io *io,
                           const struct exec_request *request, struct exec_reply *reply)
{
    if ((uint64_t)request->args[1] != FIONREAD)
        return -ENOTTY;
    if (io->state == EXEC_INET_LISTENING)
        return -EINVAL;
    reply->values[0] = exec_io_readable(io, now_ns(program));
    return 0;
}

static int64_t serve_close(struct exec_program *program, struct exec_io *io, int64_t fd)
{
    int ignored = -1;
    int rc = exec_fdmap_remove(&program->leader->fdmap, (int)fd, &ignored);
    if (rc < 0)
        return rc;
    bool last = rc == 1 && io->holders == 1;
    trace_close(program, io, fd, last);
    if (rc == 1)
        exec_io_release(io);
    return 0;
}

/* ---- Poll --------------------------------------------------------------------------------- */

/* One look at every entry: the vSockets ones through vs_poll (never waiting), the in-world
 * ones here. Returns how many are ready; *next_ns is the next in-flight arrival. */
static int poll_scan(struct exec_program *program, struct exec_poll_entry *entries,
                     uint64_t count, struct pollfd *set, uint64_t *next_ns)
{
    int ready = 0;
    bool any_socket = false;
    uint64_t now = now_ns(program);
    *next_ns = SIM_TIME_NEVER;
    for (uint64_t index = 0; index < count; index++) {
        struct exec_io *io = io_of(program, entries[index].fd);
        const struct exec_description *description =
            entries[index].fd >= 0 && entries[index].fd < (int32_t)EXEC_FDS_MAX
                ? exec_fdmap_lookup(&program->leader->fdmap, entries[index].fd) : NULL;
        set[index] = (struct pollfd){ .fd = -1, .events = entries[index].events };
        if (io != NULL) {
            entries[index].revents = exec_io_poll(io, entries[index].events, now);
            uint64_t next = exec_io_next_ns(io, now);
            *next_ns = next < *next_ns ? next : *next_ns;
        } else if (description != NULL && description->vs_fd >= 0) {
            set[index].fd = description->vs_fd;
            any_socket = true;
            entries[index].revents = 0;
        } else {
            entries[index].revents = description != NULL ? 0 : POLLNVAL;   /* the device */
        }
    }
    if (any_socket && program->leader->context_live &&
        vs_poll(&program->leader->context, set, count, 0) > 0) {
        for (uint64_t index = 0; index < count; index++) {
            if (set[index].fd >= 0)
                entries[index].revents = set[index].revents;
        }
    }
    for (uint64_t index = 0; index < count; index++)
        ready += entries[index].revents != 0;
    return ready;
}

static int64_t serve_poll(struct exec_program *program, const struct exec_request *request,
                          bool *fatal)
{
    uint64_t count = 0;
    struct exec_poll_entry *entries = exec__poll_entries(program, request, &count);
    if (entries == NULL)
        return -EINVAL;
    struct pollfd set[VS_FDS_MAX];
    int timeout_ms = (int)request->args[1];
    uint64_t deadline = timeout_ms < 0 ? SIM_TIME_NEVER
                                       : now_ns(program) + (uint64_t)timeout_ms * 1000000u;
    for (uint64_t wakeups = 0; wakeups < VS_CALL_WAKEUPS_MAX; wakeups++) {
        uint64_t next = SIM_TIME_NEVER;
        int ready = poll_scan(program, entries, count, set, &next);
        if (ready > 0 || now_ns(program) >= deadline)
            return ready;
        if (program->net->poll_waitq == NULL)
            return -EINVAL;                 /* nothing could wake it */
        int rc = exec__signal_wait(program, program->net->poll_waitq,
                                   next < deadline ? next : deadline);
        if (rc == -EINTR)
            return -EINTR;      /* a deliverable signal (D21) */
        if (rc < 0) {
            *fatal = true;
            return -EINTR;
        }
    }
    return -EIO;
}

/* ---- Dispatch ----------------------------------------------------------------------------- */

static bool poll_claims(const struct exec_program *program, const struct exec_request *request)
{
    uint64_t count = (uint64_t)request->args[0];
    if (request->args[0] < 0 || count > EXEC_POLL_ENTRIES_MAX ||
        count * sizeof(struct exec_poll_entry) != request->payload_bytes)
        return false;                       /* exec__serve refuses it (EINVAL) */
    const struct exec_poll_entry *entries = (const struct exec_poll_entry *)program->buffer;
    for (uint64_t index = 0; index < count; index++) {
        if (io_of(program, entries[index].fd) != NULL)
            return true;
    }
    return false;
}

/* The ops whose args[0] is a descriptor of the program. */
static bool op_names_fd(uint32_t op)
{
    switch (op) {
    case EXEC_OP_BIND: case EXEC_OP_LISTEN: case EXEC_OP_ACCEPT: case EXEC_OP_CONNECT:
    case EXEC_OP_SEND: case EXEC_OP_RECV: case EXEC_OP_CLOSE: case EXEC_OP_SHUTDOWN:
    case EXEC_OP_GETSOCKNAME: case EXEC_OP_GETPEERNAME: case EXEC_OP_GETSOCKOPT:
    case EXEC_OP_SETSOCKOPT: case EXEC_OP_FCNTL: case EXEC_OP_IOCTL:
        return true;
    default:
        return false;
    }
}

static int64_t serve_on_io(struct exec_program *program, struct exec_io *io,
                           const struct exec_request *request, struct exec_reply *reply,
                           bool *fatal)
{
    bool inet = is_inet(io);
    const void *address = program->buffer;
    int64_t rc;
    switch (request->op) {
    case EXEC_OP_SEND: return serve_send(program, io, request, fatal);
    case EXEC_OP_RECV: return serve_recv(program, io, request, reply, fatal);
    case EXEC_OP_CLOSE: return serve_close(program, io, request->args[0]);
    case EXEC_OP_SHUTDOWN: return exec_io_shutdown(io, (int)request->args[1]);
    case EXEC_OP_GETSOCKNAME:
    case EXEC_OP_GETPEERNAME: return serve_name(program, io, request, reply);
    case EXEC_OP_SETSOCKOPT: return serve_setsockopt(program, io, request);
    case EXEC_OP_GETSOCKOPT: return serve_getsockopt(program, io, request, reply);
    case EXEC_OP_FCNTL: return serve_fcntl(io, request);
    case EXEC_OP_IOCTL: return serve_ioctl(program, io, request, reply);
    case EXEC_OP_ACCEPT: return serve_accept(program, io, request, reply, fatal);
    case EXEC_OP_CONNECT:
        return inet ? serve_connect(program, io, request, fatal)
               : exec_io_is_socket(io) ? -EISCONN : -ENOTSOCK;
    case EXEC_OP_BIND:
        if (!inet)
            return exec_io_is_socket(io) ? -EINVAL : -ENOTSOCK;
        rc = exec_inet_bind(io, request->payload_bytes > 0 ? address : NULL,
                            request->payload_bytes);
        trace_inet(program, "bind", io, request->args[0], rc);
        return rc;
    case EXEC_OP_LISTEN:
        if (!inet)
            return exec_io_is_socket(io) ? -EOPNOTSUPP : -ENOTSOCK;
        rc = exec_inet_listen(io, (int)request->args[1]);
        trace_inet(program, "listen", io, request->args[0], rc);
        return rc;
    default: return -EBADF;
    }
}

bool exec__io_serve(struct exec_program *program, const struct exec_request *request,
                    struct exec_reply *reply, int64_t *result, bool *fatal)
{
    assert(program != NULL && request != NULL && reply != NULL);
    switch (request->op) {
    case EXEC_OP_PIPE:
    case EXEC_OP_SOCKETPAIR:
        *result = program->net == NULL ? -ENOSYS : serve_pipe(program, request);
        return true;
    case EXEC_OP_RESOLVE:
        *result = program->net == NULL ? -ENOENT : serve_resolve(program, request, reply);
        return true;
    case EXEC_OP_SOCKET:
        if (request->args[1] != AF_INET && request->args[1] != AF_INET6)
            return false;
        *result = program->net == NULL ? -EAFNOSUPPORT : serve_inet_socket(program, request);
        return true;
    case EXEC_OP_POLL:
        if (program->net == NULL || !poll_claims(program, request))
            return false;
        *result = serve_poll(program, request, fatal);
        if (*result >= 0)
            reply->payload_bytes = request->payload_bytes;
        return true;
    case EXEC_OP_DUP:
        return false;                       /* the description is shared as any other */
    default:
        break;
    }
    struct exec_io *io = op_names_fd(request->op) ? io_of(program, request->args[0]) : NULL;
    if (io == NULL)
        return false;
    *result = serve_on_io(program, io, request, reply, fatal);
    return true;
}

bool exec__io_close(struct exec_program *program, int fd)
{
    assert(program != NULL);
    struct exec_io *io = io_of(program, fd);
    if (io == NULL)
        return false;
    (void)serve_close(program, io, fd);
    return true;
}

void exec__io_release_all(struct exec_program *program, bool quiet)
{
    assert(program != NULL);
    for (uint32_t fd = 0; fd < EXEC_FDS_MAX; fd++) {
        struct exec_io *io = io_of(program, fd);
        if (io == NULL)
            continue;
        int ignored = -1;
        bool last = io->holders == 1;
        int rc = exec_fdmap_remove(&program->leader->fdmap, (int)fd, &ignored);
        if (rc == 1 && quiet)
            exec_io_forget(io);
        else if (rc == 1) {
            trace_close(program, io, fd, last);
            exec_io_release(io);
        }
    }
}
