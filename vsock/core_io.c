/* SPDX-License-Identifier: MIT */
/*
 * vsock/core_io.c: connect, send and receive (reference 6.4, 6.5, R185-R191).
 *
 * Blocking calls are re-entered: a call that must wait returns -EAGAIN with
 * call->wait set, and the caller calls again after the wake-up with the same
 * progress counter, so bytes already moved are never moved twice.
 */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "core_int.h"

static void connect_timeout(void *context, void *arg, uint64_t data)
{
    (void)context;
    (void)data;
    struct vsock_sock *sock = arg;
    sock->connect_timer = SIM_EVENT_NONE;
    /* SS_CONNECTING without TCP_SYN_SENT: a blocking connect() waits on an attempt whose
     * outcome was already reported (arm_connect_timer); it ends the same way. */
    if (sock->tcp == VSOCK_TCP_SYN_SENT || sock->state == VSOCK_SS_CONNECTING) {
        vsock_connect_failed(sock, ETIMEDOUT);                                  /* R113 */
        sock->state = VSOCK_SS_UNCONNECTED;     /* a timed-out connect may be started anew */
    }
}

/* Arms the connect timer for connect_timeout_ns from now (R113, R114). A timeout past the
 * end of simulated time can never fire: no timer for it. Returns 0 or -ENOBUFS. */
static int arm_connect_timer(struct vsock_sock *sock)
{
    assert(sock->connect_timer == SIM_EVENT_NONE);
    if (sock->connect_timeout_ns > SIM_TIME_END_NS - sim_engine_now(sock->stack->engine))
        return 0;
    if (sim_engine_schedule_after(sock->stack->engine, sock->connect_timeout_ns, connect_timeout,
                                  sock, 0, &sock->connect_timer) < 0)
        return -ENOBUFS;
    return 0;
}

void vsock_connect_failed(struct vsock_sock *sock, int error)
{
    assert(error > 0);
    if (sock->connect_timer != SIM_EVENT_NONE) {
        sim_engine_cancel(sock->stack->engine, sock->connect_timer);
        sock->connect_timer = SIM_EVENT_NONE;
    }
    sock->tcp = VSOCK_TCP_CLOSE;
    sock->error = error;
    vsock_sock_wake(sock);
}

void vsock_connect_established(struct vsock_sock *sock)
{
    if (sock->connect_timer != SIM_EVENT_NONE) {
        sim_engine_cancel(sock->stack->engine, sock->connect_timer);
        sock->connect_timer = SIM_EVENT_NONE;
    }
    sock->tcp = VSOCK_TCP_ESTABLISHED;                                          /* R159 */
    sock->state = VSOCK_SS_CONNECTED;
    vsock_sock_wake(sock);
}

/* The outcome of a handshake a blocking connect() waits for (R112). */
static int connect_outcome(struct vsock_sock *sock, struct vsock_call *call)
{
    if (sock->tcp == VSOCK_TCP_ESTABLISHED && sock->state == VSOCK_SS_CONNECTED)
        return 0;
    if (sock->error != 0) {
        int error = sock->error;
        sock->error = 0;                        /* simulator choice: connect may be retried */
        sock->tcp = VSOCK_TCP_CLOSE;
        sock->state = VSOCK_SS_UNCONNECTED;
        return -error;
    }
    return vsock__wait(sock, call, 0);          /* the connect timer bounds the wait */
}

static int dgram_connect(struct vsock_sock *sock, const struct vsock_addr *addr)
{
    if (sock->local.port == VSOCK_PORT_ANY) {
        struct vsock_addr any = { VSOCK_CID_ANY, VSOCK_PORT_ANY };
        int rc = vsock_bind(sock, &any);                                        /* R19 */
        if (rc < 0)
            return rc;
    }
    if (addr->cid == VSOCK_CID_HYPERVISOR && addr->port != 14u)
        return -EINVAL;                                                         /* R11 */
    sock->remote = *addr;                                                       /* R191 */
    vsock_sock_reindex(sock);
    sock->state = VSOCK_SS_CONNECTED;
    return 0;
}

int vsock_dgram_disconnect(struct vsock_sock *sock)
{
    assert(sock != NULL);
    if (sock->type != VSOCK_TYPE_DGRAM)
        return -EINVAL;
    sock->remote = (struct vsock_addr){ VSOCK_CID_ANY, VSOCK_PORT_ANY };        /* R192 */
    vsock_sock_reindex(sock);
    sock->state = VSOCK_SS_UNCONNECTED;
    return 0;
}

int vsock_connect(struct vsock_sock *sock, const struct vsock_addr *addr, bool retry,
                  struct vsock_call *call)
{
    assert(sock != NULL && addr != NULL && call != NULL);
    if (sock->type == VSOCK_TYPE_DGRAM)
        return dgram_connect(sock, addr);
    if (retry && (sock->state == VSOCK_SS_CONNECTING || sock->error != 0))
        return connect_outcome(sock, call);
    if (retry && sock->state == VSOCK_SS_CONNECTED)
        return 0;
    if (sock->state == VSOCK_SS_CONNECTED)
        return -EISCONN;                                                        /* R111 */
    if (sock->state == VSOCK_SS_DISCONNECTING)
        return -EINVAL;
    if (sock->state == VSOCK_SS_CONNECTING) {
        if (sock->nonblocking)
            return -EALREADY;
        /* R111, R112: the earlier attempt failed and its error was read (SO_ERROR), so no
         * outcome is left to wait for: Linux waits connect_timeout, then ETIMEDOUT. */
        if (sock->tcp != VSOCK_TCP_SYN_SENT && sock->error == 0 &&
            sock->connect_timer == SIM_EVENT_NONE && arm_connect_timer(sock) < 0)
            return -ENOBUFS;
        return connect_outcome(sock, call);
    }
    if (sock->tcp == VSOCK_TCP_LISTEN)
        return -EINVAL;
    if (addr->cid == VSOCK_CID_LOCAL)
        return -ENETUNREACH;                                                    /* R10 */
    if (sock->local.port == VSOCK_PORT_ANY) {
        struct vsock_addr any = { VSOCK_CID_ANY, VSOCK_PORT_ANY };
        int rc = vsock_bind(sock, &any);                                        /* R19 */
        if (rc < 0)
            return rc;
    }
    sock->remote = *addr;
    vsock_sock_reindex(sock);
    sock->error = 0;
    sock->state = VSOCK_SS_CONNECTING;
    sock->tcp = VSOCK_TCP_SYN_SENT;
    int rc = sock->ops->connect(sock, call);                                    /* R155 */
    if (rc < 0) {
        sock->tcp = VSOCK_TCP_CLOSE;
        sock->state = VSOCK_SS_UNCONNECTED;
        return rc;
    }
    if (sock->tcp == VSOCK_TCP_SYN_SENT && arm_connect_timer(sock) < 0)
        return -ENOBUFS;
    if (sock->nonblocking)
        return -EINPROGRESS;                                                    /* R113 */
    return connect_outcome(sock, call);
}

static int64_t stream_send(struct vsock_sock *sock, const uint8_t *source, uint64_t size_bytes,
                           uint32_t flags, uint64_t *progress, struct vsock_call *call)
{
    bool wait_allowed = !sock->nonblocking && !(flags & VSOCK_MSG_DONTWAIT);
    /* send_short: R117 lets a send that may not wait return the bytes written so far when
     * the produce queue fills; the fault makes it fill after half of them. */
    if (!wait_allowed && size_bytes - *progress >= 2 && sock->ops->fault_send_short != NULL &&
        sock->ops->fault_send_short(sock))
        size_bytes = *progress + (size_bytes - *progress + 1) / 2;
    for (uint32_t round = 0; *progress < size_bytes; round++) {
        assert(round <= size_bytes);            /* each round moves >= 1 byte or returns */
        if (sock->error != 0)
            return *progress > 0 ? (int64_t)*progress : -sock->error;           /* R117 */
        if ((sock->shutdown & VSOCK_SEND_SHUTDOWN) || (sock->peer_shutdown & VSOCK_RCV_SHUTDOWN) ||
            sock->done)
            return *progress > 0 ? (int64_t)*progress : -EPIPE;
        int64_t written = sock->ops->stream_enqueue(sock, source + *progress,
                                                    size_bytes - *progress, call);
        if (written < 0)
            return *progress > 0 ? (int64_t)*progress : written;
        if (written == 0) {
            if (!wait_allowed)
                return *progress > 0 ? (int64_t)*progress : -EAGAIN;
            if (sock->ops->notify_send_pre_block != NULL)
                sock->ops->notify_send_pre_block(sock, call);
            return vsock__wait(sock, call, sock->sndtimeo_ns);
        }
        *progress += (uint64_t)written;
        if (sock->ops->notify_send_post_enqueue != NULL)
            sock->ops->notify_send_post_enqueue(sock, (uint64_t)written, call);
    }
    return (int64_t)*progress;
}

static int64_t dgram_send(struct vsock_sock *sock, const uint8_t *source, uint64_t size_bytes,
                          const struct vsock_addr *to, struct vsock_call *call)
{
    if (sock->local.port == VSOCK_PORT_ANY) {
        struct vsock_addr any = { VSOCK_CID_ANY, VSOCK_PORT_ANY };
        int rc = vsock_bind(sock, &any);                                        /* R19 */
        if (rc < 0)
            return rc;
    }
    struct vsock_addr target;
    if (to != NULL)
        target = *to;
    else if (sock->state == VSOCK_SS_CONNECTED)
        target = sock->remote;
    else
        return -EINVAL;                                                         /* R185 */
    if (target.cid == VSOCK_CID_ANY)
        target.cid = vsock_stack_local_cid(sock->stack);
    if (target.port == VSOCK_PORT_ANY)
        return -EINVAL;
    if (target.cid == VSOCK_CID_HYPERVISOR && target.port != 14u)
        return -EINVAL;                                                         /* R11 */
    return sock->ops->dgram_enqueue(sock, &target, source, size_bytes, call);
}

int64_t vsock_send(struct vsock_sock *sock, const void *source, uint64_t size_bytes,
                   uint32_t flags, const struct vsock_addr *to, uint64_t *progress_bytes,
                   struct vsock_call *call)
{
    assert(sock != NULL && (source != NULL || size_bytes == 0));
    assert(progress_bytes != NULL && call != NULL);
    vsock__prefetch(sock);
    if (flags & VSOCK_MSG_OOB)
        return -EOPNOTSUPP;                                                     /* R116 */
    if (sock->type == VSOCK_TYPE_DGRAM)
        return dgram_send(sock, source, size_bytes, to, call);
    if (to != NULL)
        return sock->tcp == VSOCK_TCP_ESTABLISHED ? -EISCONN : -EOPNOTSUPP;
    if ((sock->shutdown & VSOCK_SEND_SHUTDOWN) || (sock->peer_shutdown & VSOCK_RCV_SHUTDOWN))
        return *progress_bytes > 0 ? (int64_t)*progress_bytes : -EPIPE;
    if (sock->tcp != VSOCK_TCP_ESTABLISHED || sock->local.port == VSOCK_PORT_ANY) {
        if (sock->done || sock->state == VSOCK_SS_CONNECTED)
            return *progress_bytes > 0 ? (int64_t)*progress_bytes : -EPIPE;     /* R171 */
        return -ENOTCONN;
    }
    if (sock->remote.port == VSOCK_PORT_ANY)
        return -EDESTADDRREQ;
    return stream_send(sock, source, size_bytes, flags, progress_bytes, call);
}

/* R120: the number of bytes a recv waits for. */
static uint64_t recv_target(const struct vsock_sock *sock, uint64_t size_bytes, uint32_t flags)
{
    uint64_t target = (flags & VSOCK_MSG_WAITALL) ? size_bytes
                      : (sock->rcvlowat < size_bytes ? sock->rcvlowat : size_bytes);
    return target == 0 ? 1 : target;
}

/* With `in_place` the one dequeue that ends the recv says where its bytes lie
 * (vsock_recv_in_place; it also copies them when target_bytes is given); a round that
 * would not end it cannot happen then, since vsock_recv_in_place_fits() made the target 1
 * byte. */
static int64_t stream_recv(struct vsock_sock *sock, uint8_t *target_bytes, uint64_t size_bytes,
                           uint32_t flags, struct vsock_bytes *in_place, uint64_t *progress,
                           struct vsock_call *call)
{
    uint64_t target = recv_target(sock, size_bytes, flags);
    if (target >= sock->ops->stream_rcvhiwat(sock))
        return -ENOMEM;                                                         /* R120 */
    if (sock->ops->notify_recv_init != NULL)
        sock->ops->notify_recv_init(sock, target);                              /* R178 */
    bool peek = (flags & VSOCK_MSG_PEEK) != 0;
    bool wait_allowed = !sock->nonblocking && !(flags & VSOCK_MSG_DONTWAIT);
    for (uint32_t round = 0; round <= size_bytes; round++) {
        int64_t ready = sock->ops->stream_has_data(sock);
        if (ready < 0)
            return *progress > 0 ? (int64_t)*progress : -EIO;
        if (ready > 1 && sock->ops->fault_recv_short != NULL && sock->ops->fault_recv_short(sock))
            ready = (ready + 1) / 2;    /* recv_short: R121 dequeues what it saw as ready */
        if (ready > 0) {
            uint64_t want = size_bytes - *progress;
            assert(in_place == NULL || *progress == 0);     /* one dequeue, then return */
            int64_t copied = sock->ops->stream_dequeue(
                sock, target_bytes != NULL ? target_bytes + *progress : NULL,
                (uint64_t)ready < want ? (uint64_t)ready : want, peek, in_place, call);
            if (copied < 0)
                return *progress > 0 ? (int64_t)*progress : -EIO;
            if (sock->ops->notify_recv_post_dequeue != NULL)
                sock->ops->notify_recv_post_dequeue(sock, (uint64_t)copied, peek, call);
            *progress += (uint64_t)copied;
            if (peek || *progress >= target)                                    /* R121 */
                return (int64_t)*progress;
            continue;
        }
        if (sock->error != 0)
            return *progress > 0 ? (int64_t)*progress : -sock->error;
        if ((sock->shutdown & VSOCK_RCV_SHUTDOWN) || (sock->peer_shutdown & VSOCK_SEND_SHUTDOWN) ||
            sock->done)
            return (int64_t)*progress;                                          /* 0 = EOF */
        if (!wait_allowed)
            return *progress > 0 ? (int64_t)*progress : -EAGAIN;
        if (sock->ops->notify_recv_pre_block != NULL)
            sock->ops->notify_recv_pre_block(sock, target, call);
        return vsock__wait(sock, call, sock->rcvtimeo_ns);
    }
    return (int64_t)*progress;
}

static int64_t dgram_recv(struct vsock_sock *sock, uint8_t *target_bytes, uint64_t size_bytes,
                          uint32_t flags, struct vsock_addr *from, bool *truncated,
                          struct vsock_call *call)
{
    if (flags & VSOCK_MSG_ERRQUEUE)
        return -EOPNOTSUPP;                                                     /* R188 */
    if (sock->ops->dgram_has_data(sock))
        return sock->ops->dgram_dequeue(sock, target_bytes, size_bytes, flags, from, truncated);
    if (sock->shutdown & VSOCK_RCV_SHUTDOWN)
        return 0;
    if (sock->nonblocking || (flags & VSOCK_MSG_DONTWAIT))
        return -EAGAIN;
    return vsock__wait(sock, call, sock->rcvtimeo_ns);
}

/* vsock_recv's checks for a stream (R119, in this order), then stream_recv. */
static int64_t stream_recv_checked(struct vsock_sock *sock, uint8_t *target_bytes,
                                   uint64_t size_bytes, uint32_t flags, struct vsock_addr *from,
                                   struct vsock_bytes *in_place, uint64_t *progress,
                                   struct vsock_call *call)
{
    if (sock->tcp != VSOCK_TCP_ESTABLISHED) {                                   /* R119 */
        bool was_connected = sock->state == VSOCK_SS_CONNECTED &&
                             sock->tcp != VSOCK_TCP_SYN_SENT;
        return sock->done || was_connected ? (int64_t)*progress : -ENOTCONN;
    }
    if (flags & VSOCK_MSG_OOB)
        return -EOPNOTSUPP;
    if (sock->shutdown & VSOCK_RCV_SHUTDOWN)
        return (int64_t)*progress;
    if (size_bytes == 0)
        return 0;
    if (from != NULL)
        *from = sock->remote;
    return stream_recv(sock, target_bytes, size_bytes, flags, in_place, progress, call);
}

int64_t vsock_recv(struct vsock_sock *sock, void *target, uint64_t size_bytes, uint32_t flags,
                   struct vsock_addr *from, bool *truncated, uint64_t *progress_bytes,
                   struct vsock_call *call)
{
    assert(sock != NULL && (target != NULL || size_bytes == 0));
    assert(progress_bytes != NULL && call != NULL);
    vsock__prefetch(sock);
    if (sock->type == VSOCK_TYPE_DGRAM) {
        if (flags & VSOCK_MSG_OOB)
            return -EOPNOTSUPP;
        return dgram_recv(sock, target, size_bytes, flags, from, truncated, call);
    }
    return stream_recv_checked(sock, target, size_bytes, flags, from, NULL, progress_bytes,
                               call);
}

bool vsock_recv_in_place_fits(const struct vsock_sock *sock, uint64_t size_bytes,
                              uint32_t flags, uint64_t progress_bytes)
{
    assert(sock != NULL);
    /* A 1-byte target ends the recv at its first dequeue (R121); so does a peek. */
    return sock->type == VSOCK_TYPE_STREAM && progress_bytes == 0 &&
           ((flags & VSOCK_MSG_PEEK) || recv_target(sock, size_bytes, flags) == 1);
}

int64_t vsock_recv_in_place_copy(struct vsock_sock *sock, void *target, uint64_t size_bytes,
                                 uint32_t flags, struct vsock_bytes *in_place,
                                 uint64_t *progress_bytes, struct vsock_call *call)
{
    assert(sock != NULL && in_place != NULL && progress_bytes != NULL && call != NULL);
    assert(vsock_recv_in_place_fits(sock, size_bytes, flags, *progress_bytes));
    *in_place = (struct vsock_bytes){ .first = NULL };
    int64_t rc = stream_recv_checked(sock, target, size_bytes, flags, NULL, in_place,
                                     progress_bytes, call);
    assert(rc <= 0 || in_place->first_bytes + in_place->second_bytes == (uint64_t)rc);
    return rc;
}

int64_t vsock_recv_in_place(struct vsock_sock *sock, uint64_t size_bytes, uint32_t flags,
                            struct vsock_bytes *in_place, uint64_t *progress_bytes,
                            struct vsock_call *call)
{
    return vsock_recv_in_place_copy(sock, NULL, size_bytes, flags, in_place, progress_bytes,
                                    call);
}

const char *vsock_errno_name(int error)
{
    switch (error < 0 ? -error : error) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EINVAL: return "EINVAL";
    case ENFILE: return "ENFILE";
    case EPIPE: return "EPIPE";
    case ERANGE: return "ERANGE";
    case EDESTADDRREQ: return "EDESTADDRREQ";
    case EMSGSIZE: return "EMSGSIZE";
    case EPROTOTYPE: return "EPROTOTYPE";
    case ENOPROTOOPT: return "ENOPROTOOPT";
    case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
    case ESOCKTNOSUPPORT: return "ESOCKTNOSUPPORT";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EADDRINUSE: return "EADDRINUSE";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case ENETUNREACH: return "ENETUNREACH";
    case ECONNRESET: return "ECONNRESET";
    case ENOBUFS: return "ENOBUFS";
    case EISCONN: return "EISCONN";
    case ENOTCONN: return "ENOTCONN";
    case ETIMEDOUT: return "ETIMEDOUT";
    case ECONNREFUSED: return "ECONNREFUSED";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case EALREADY: return "EALREADY";
    case EINPROGRESS: return "EINPROGRESS";
    case EPROTO: return "EPROTO";
    default: return "EUNKNOWN";
    }
}

void vsock_prefetch_spans(const struct vsock_sock *sock, struct sim_prefetch_spans *spans)
{
    assert(sock != NULL && spans != NULL);
    const uint8_t *block = (const uint8_t *)sock;
    sim_prefetch_spans_add(spans, block + VSOCK_SOCK_HOT_START_BYTES, VSOCK_SOCK_HOT_BYTES);
    sim_prefetch_spans_add(spans, block + VSOCK_SOCK_STATE_OFFSET_BYTES, VSOCK_CACHE_LINE_BYTES);
    if (sock->ops->prefetch_spans != NULL)
        sock->ops->prefetch_spans(sock, spans);
}
