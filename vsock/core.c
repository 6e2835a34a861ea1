/* SPDX-License-Identifier: MIT */
/*
 * vsock/core.c: socket creation, addresses, listen/accept bookkeeping, close,
 * names, poll (reference 6.1-6.3, 6.6-6.8). Data transfer and connect live in
 * core_io.c. Knows nothing of VMCI: transports are reached through the ops table.
 *
 * Invariants:
 *   SK1  A socket is on its stack's list from vsock_socket()/vsock_child_create()
 *        until it is freed; stack->socket_count counts them.
 *   SK2  A child is on exactly one of its listener's lists (pending or accept) until
 *        accepted (listener = NULL then) or dropped.
 *   SK3  pending_count + accept_count of a listener is what R106 compares to backlog.
 */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core_int.h"

void vsock_stack_init(struct vsock_stack *stack, struct sim_engine *engine,
                      const struct vsock_transport_ops *stream_ops,
                      const struct vsock_transport_ops *dgram_ops, void *transport,
                      bool is_host, uint32_t *world_socket_count, uint32_t sockets_max)
{
    assert(stack != NULL && engine != NULL && world_socket_count != NULL);
    memset(stack, 0, sizeof(*stack));
    stack->engine = engine;
    stack->stream_ops = stream_ops;
    stack->dgram_ops = dgram_ops;
    stack->transport = transport;
    stack->is_host = is_host;
    stack->world_socket_count = world_socket_count;
    stack->sockets_max = sockets_max;
    stack->buffer_size_default = VSOCK_BUFFER_SIZE_VMWARE;          /* R211 */
    /* Never fuller than the stack's socket list, which sockets_max bounds (sock_new). */
    sim_index_init(&stack->connections, UINT32_MAX);
    sim_index_init(&stack->ports, UINT32_MAX);
}

uint32_t vsock_stack_local_cid(const struct vsock_stack *stack)
{
    return (stack->stream_ops != NULL ? stack->stream_ops : stack->dgram_ops)->local_cid(stack);
}

static void stack_link(struct vsock_stack *stack, struct vsock_sock *sock)
{
    sock->stack_prev = stack->sockets_tail;
    sock->stack_next = NULL;
    if (stack->sockets_tail != NULL)
        stack->sockets_tail->stack_next = sock;
    else
        stack->sockets_head = sock;
    stack->sockets_tail = sock;
    stack->socket_count++;
    (*stack->world_socket_count)++;
}

static void unindex(struct vsock_sock *sock)
{
    if (sock->in_connections)
        sim_index_remove(&sock->stack->connections, &sock->by_connection);
    if (sock->in_ports)
        sim_index_remove(&sock->stack->ports, &sock->by_port);
    sock->in_connections = false;
    sock->in_ports = false;
}

/* A connection's key mixes the three parts; lookups compare the addresses themselves. */
static uint64_t connection_key(const struct vsock_addr *local, const struct vsock_addr *remote)
{
    return sim_index_key2(remote->cid, remote->port ^ (local->port << 16 | local->port >> 16));
}

static uint64_t port_key(enum vsock_type type, uint32_t port)
{
    return sim_index_key2((uint32_t)type, port);
}

/* A socket with no remote address at all stays out of the connection index; only a
 * lookup for the remote {ANY, ANY} (never a real peer) walks the list for it. */
static bool remote_unset(const struct vsock_addr *remote)
{
    return remote->cid == VSOCK_CID_ANY && remote->port == VSOCK_PORT_ANY;
}

void vsock_sock_reindex(struct vsock_sock *sock)
{
    assert(sock != NULL);
    struct vsock_stack *stack = sock->stack;
    unindex(sock);
    if (sock->type == VSOCK_TYPE_STREAM && !remote_unset(&sock->remote)) {
        int rc = sim_index_insert(&stack->connections, &sock->by_connection,
                                  connection_key(&sock->local, &sock->remote), sock->id);
        assert(rc == 0);                            /* no bound below the socket list's */
        sock->in_connections = rc == 0;
    }
    if (!sock->child && sock->local.port != VSOCK_PORT_ANY) {
        int rc = sim_index_insert(&stack->ports, &sock->by_port,
                                  port_key(sock->type, sock->local.port), sock->id);
        assert(rc == 0);
        sock->in_ports = rc == 0;
    }
}

static void stack_unlink(struct vsock_stack *stack, struct vsock_sock *sock)
{
    unindex(sock);
    if (sock->stack_prev != NULL)
        sock->stack_prev->stack_next = sock->stack_next;
    else
        stack->sockets_head = sock->stack_next;
    if (sock->stack_next != NULL)
        sock->stack_next->stack_prev = sock->stack_prev;
    else
        stack->sockets_tail = sock->stack_prev;
    assert(stack->socket_count > 0 && *stack->world_socket_count > 0);
    stack->socket_count--;
    (*stack->world_socket_count)--;
}

/* Frees a socket the user no longer holds and no list references (SK1, SK2). */
static void sock_free(struct vsock_sock *sock)
{
    sim_waitq_wake_all(&sock->waitq);       /* nobody may stay queued on freed memory */
    if (sock->connect_timer != SIM_EVENT_NONE)
        sim_engine_cancel(sock->stack->engine, sock->connect_timer);
    if (sock->expiry_timer != SIM_EVENT_NONE)
        sim_engine_cancel(sock->stack->engine, sock->expiry_timer);
    stack_unlink(sock->stack, sock);
    if (sock->ops->destruct != NULL)
        sock->ops->destruct(sock);
    free(sock);                             /* its transport state with it (sock_alloc) */
}

void vsock_stack_destroy(struct vsock_stack *stack)
{
    uint32_t freed = 0;
    while (stack->sockets_head != NULL) {
        struct vsock_sock *sock = stack->sockets_head;
        stack->sockets_head = sock->stack_next;
        if (sock->ops->destruct != NULL)
            sock->ops->destruct(sock);
        free(sock);
        freed++;
    }
    assert(freed == stack->socket_count);
    *stack->world_socket_count -= freed;
    stack->socket_count = 0;
    stack->sockets_tail = NULL;
    sim_index_destroy(&stack->connections);
    sim_index_destroy(&stack->ports);
}

/* The world's socket limit is met: a "limit_reached" event names it (sockets_max, the
 * limit in force, and `result`: the errno the caller turns it into, ENFILE for socket(),
 * a reset connection for a peer's connect to a listener), so `vmcisim inspect FILE errors`
 * lists it beside the failed call. */
static void sockets_limit_reached(const struct vsock_stack *stack)
{
    const struct sim_process *process = sim_engine_current(stack->engine);
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_TRANSPORT, "limit_reached",
                         vsock_stack_local_cid(stack), process != NULL ? process->pid : 0);
    sim_trace_field_str(&event, "limit", "sockets_max");
    sim_trace_field_u64(&event, "value", stack->sockets_max);
    sim_trace_field_i64(&event, "result", -ENFILE);
    (void)sim_engine_emit(stack->engine, &event);     /* failure aborts the run */
}

/* One zeroed allocation: the socket, then its transport's state at the next multiple of a
 * cache line (at least one line of it, so that vsock__prefetch may always name it). A plain
 * calloc: aligned_alloc made the fleet slower (glibc's memalign splits chunks), so the
 * hot lines of struct vsock_sock are two lines' worth of bytes, on two or three lines. */
static struct vsock_sock *sock_alloc(const struct vsock_transport_ops *ops)
{
    assert(ops != NULL && ops->state_bytes <= VSOCK_TRANSPORT_STATE_BYTES_MAX);
    size_t state_offset = VSOCK_SOCK_STATE_OFFSET_BYTES;
    size_t state_bytes = ops->state_bytes > 0 ? ops->state_bytes : VSOCK_CACHE_LINE_BYTES;
    uint8_t *block = calloc(1, state_offset + state_bytes);
    if (block == NULL)
        return NULL;
    struct vsock_sock *sock = (struct vsock_sock *)block;
    sock->transport = ops->state_bytes > 0 ? block + state_offset : NULL;
    return sock;
}

static struct vsock_sock *sock_new(struct vsock_stack *stack, enum vsock_type type)
{
    if (*stack->world_socket_count >= stack->sockets_max) {
        sockets_limit_reached(stack);
        return NULL;
    }
    const struct vsock_transport_ops *ops = type == VSOCK_TYPE_STREAM ? stack->stream_ops
                                                                      : stack->dgram_ops;
    struct vsock_sock *sock = sock_alloc(ops);
    if (sock == NULL)
        return NULL;
    sock->id = ++stack->socket_id_next;
    sock->stack = stack;
    sock->type = type;
    sock->ops = ops;
    sock->state = VSOCK_SS_UNCONNECTED;                                         /* R101 */
    sock->tcp = VSOCK_TCP_CLOSE;
    sock->local = (struct vsock_addr){ VSOCK_CID_ANY, VSOCK_PORT_ANY };
    sock->remote = (struct vsock_addr){ VSOCK_CID_ANY, VSOCK_PORT_ANY };
    sock->buffer_size = stack->buffer_size_default;
    sock->buffer_min_size = VSOCK_BUFFER_MIN_DEFAULT;
    sock->buffer_max_size = VSOCK_BUFFER_MAX_DEFAULT;
    sock->connect_timeout_ns = VSOCK_CONNECT_TIMEOUT_NS_DEFAULT;
    sock->rcvlowat = 1;
    sock->rcvbuf = VSOCK_DGRAM_RCVBUF_DEFAULT;
    sim_waitq_init(&sock->waitq, type == VSOCK_TYPE_STREAM ? "socket:stream" : "socket:dgram");
    stack_link(stack, sock);
    return sock;
}

int vsock_socket(struct vsock_stack *stack, int type, int protocol,
                 const struct vsock_credentials *credentials, struct vsock_sock **out)
{
    assert(stack != NULL && credentials != NULL && out != NULL);
    if (protocol != 0 && protocol != 40)
        return -EPROTONOSUPPORT;                                                /* R99 */
    if (type != VSOCK_TYPE_STREAM && type != VSOCK_TYPE_DGRAM)
        return -ESOCKTNOSUPPORT;                                                /* R100 */
    const struct vsock_transport_ops *ops = type == VSOCK_TYPE_STREAM ? stack->stream_ops
                                                                      : stack->dgram_ops;
    if (ops == NULL)
        return -ESOCKTNOSUPPORT;        /* e.g. host streams on WS 7 / Windows (section 9) */
    struct vsock_sock *sock = sock_new(stack, (enum vsock_type)type);
    if (sock == NULL)
        return *stack->world_socket_count >= stack->sockets_max ? -ENFILE : -ENOMEM;
    sock->credentials = *credentials;
    int rc = ops->init != NULL ? ops->init(sock, NULL) : 0;
    if (rc < 0) {
        sock_free(sock);
        return rc;
    }
    *out = sock;
    return 0;
}

/* R16: stream sockets conflict on equal ports with equal CIDs or either CID ANY. */
static bool stream_port_taken(const struct vsock_stack *stack, const struct vsock_addr *addr)
{
    assert(addr->port != VSOCK_PORT_ANY);          /* so every candidate is in the index */
    for (const struct sim_index_node *node = sim_index_first(&stack->ports,
                                                             port_key(VSOCK_TYPE_STREAM,
                                                                      addr->port));
         node != NULL; node = sim_index_next(node)) {
        const struct vsock_sock *other = (const struct vsock_sock *)(
            (const char *)node - offsetof(struct vsock_sock, by_port));
        if (other->type != VSOCK_TYPE_STREAM || other->local.port != addr->port || other->child)
            continue;
        if (other->local.cid == addr->cid || other->local.cid == VSOCK_CID_ANY ||
            addr->cid == VSOCK_CID_ANY)
            return true;
    }
    return false;
}

/* R14: the next ephemeral stream port, 24 tries, first value 1024 (R218, D13). */
static int stream_port_ephemeral(struct vsock_stack *stack, struct vsock_addr *addr)
{
    if (stack->next_port == 0)
        stack->next_port = VSOCK_LAST_RESERVED_PORT + 1u;
    for (uint32_t tries = 0; tries < VSOCK_MAX_PORT_RETRIES; tries++) {
        if (stack->next_port == VSOCK_PORT_ANY || stack->next_port <= VSOCK_LAST_RESERVED_PORT)
            stack->next_port = VSOCK_LAST_RESERVED_PORT + 1u;
        struct vsock_addr candidate = { addr->cid, stack->next_port++ };
        if (!stream_port_taken(stack, &candidate)) {
            addr->port = candidate.port;
            return 0;
        }
    }
    return -EADDRNOTAVAIL;
}

int vsock_bind(struct vsock_sock *sock, const struct vsock_addr *requested)
{
    assert(sock != NULL && requested != NULL);
    if (sock->local.port != VSOCK_PORT_ANY)
        return -EINVAL;                                                         /* R18 */
    uint32_t local_cid = vsock_stack_local_cid(sock->stack);
    if (requested->cid != VSOCK_CID_ANY && requested->cid != local_cid)
        return -EADDRNOTAVAIL;                                                  /* R17 */
    struct vsock_addr addr = *requested;
    bool privileged = addr.port != VSOCK_PORT_ANY && addr.port <= VSOCK_LAST_RESERVED_PORT;
    if (privileged && !sock->credentials.net_bind_service)
        return -EACCES;                                                         /* R12 */
    if (sock->type == VSOCK_TYPE_STREAM) {
        if (addr.port == VSOCK_PORT_ANY) {
            if (sock->ops->fault_ports_exhausted != NULL && sock->ops->fault_ports_exhausted(sock))
                return -EADDRNOTAVAIL;                  /* as when R14's 24 tries all fail */
            int rc = stream_port_ephemeral(sock->stack, &addr);
            if (rc < 0)
                return rc;
        } else if (stream_port_taken(sock->stack, &addr)) {
            return -EADDRINUSE;                                                 /* R16 */
        }
    } else {
        int rc = sock->ops->bind(sock, &addr);                                  /* R15 */
        if (rc < 0)
            return rc;
    }
    sock->local = addr;
    sock->bound_any = addr.cid == VSOCK_CID_ANY;
    vsock_sock_reindex(sock);
    return 0;
}

/* R105: a backlog above the world's backlog limit is clamped to it; the trace says so (a
 * "limit_reached" event naming the limit, which `vmcisim inspect FILE errors` lists). */
static void backlog_clamped(const struct vsock_sock *sock, uint32_t requested, uint32_t clamp)
{
    const struct sim_process *process = sim_engine_current(sock->stack->engine);
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_TRANSPORT, "limit_reached",
                         vsock_stack_local_cid(sock->stack), process != NULL ? process->pid : 0);
    sim_trace_field_str(&event, "limit", "backlog_max");
    sim_trace_field_u64(&event, "value", clamp);
    sim_trace_field_u64(&event, "requested", requested);
    sim_trace_field_u64(&event, "port", sock->local.port);
    sim_trace_field_str(&event, "rule", "R105");
    (void)sim_engine_emit(sock->stack->engine, &event);     /* failure aborts the run */
}

int vsock_listen(struct vsock_sock *sock, int backlog)
{
    if (sock->type != VSOCK_TYPE_STREAM)
        return -EOPNOTSUPP;                                                     /* R105 */
    if (sock->state != VSOCK_SS_UNCONNECTED)
        return -EINVAL;
    if (sock->local.port == VSOCK_PORT_ANY)
        return -EINVAL;
    if (sock->tcp != VSOCK_TCP_LISTEN && sock->tcp != VSOCK_TCP_CLOSE)
        return -EINVAL;
    uint32_t clamp = sim_engine_limits(sock->stack->engine)->backlog_max;
    if (backlog > 0 && (uint64_t)backlog > clamp)
        backlog_clamped(sock, (uint32_t)backlog, clamp);
    sock->backlog_max = (backlog < 0 || (uint32_t)backlog > clamp) ? clamp : (uint32_t)backlog;
    sock->tcp = VSOCK_TCP_LISTEN;
    return 0;
}

static uint64_t deadline_after(const struct vsock_sock *sock, uint64_t timeout_ns)
{
    if (timeout_ns == 0)
        return SIM_TIME_NEVER;
    uint64_t now_ns = sim_engine_now(sock->stack->engine);
    return timeout_ns > SIM_TIME_NEVER - 1 - now_ns ? SIM_TIME_NEVER : now_ns + timeout_ns;
}

/* Asks the caller to wait on the socket's queue (until deadline_ns) and call again. A
 * deadline the caller brought from an earlier wait of the same call stands: a timeout
 * (SO_RCVTIMEO, SO_SNDTIMEO) bounds the whole call, as Linux counts the remaining time
 * down across wake-ups, instead of restarting at each wake-up that did not finish it. */
int vsock__wait(struct vsock_sock *sock, struct vsock_call *call, uint64_t timeout_ns)
{
    call->wait = &sock->waitq;
    if (call->deadline_ns == SIM_TIME_NEVER)
        call->deadline_ns = deadline_after(sock, timeout_ns);
    return -EAGAIN;
}

int vsock_accept(struct vsock_sock *sock, struct vsock_sock **child, struct vsock_call *call)
{
    assert(child != NULL && call != NULL);
    if (sock->type != VSOCK_TYPE_STREAM)
        return -EOPNOTSUPP;                                                     /* R107 */
    if (sock->tcp != VSOCK_TCP_LISTEN)
        return -EINVAL;
    struct vsock_sock *first = sock->accept_head;
    if (first == NULL && sock->error == 0)
        return sock->nonblocking ? -EAGAIN : vsock__wait(sock, call, sock->rcvtimeo_ns);
    if (first != NULL) {
        sock->accept_head = first->queue_next;                                  /* R108 */
        if (sock->accept_head == NULL)
            sock->accept_tail = NULL;
        sock->accept_count--;
        first->queue_next = NULL;
        first->listener = NULL;
    }
    if (sock->error != 0) {
        /* R107 (af_vsock.c vsock_accept): a listener's sk_err is returned, and the child
         * dequeued with it, if any, is rejected: closed, so its peer sees the detach. */
        int error = sock->error;
        sock->error = 0;
        if (first != NULL)
            vsock_close(first, call);
        return -error;
    }
    if (sock->ops->fault_accept_delay_ns != NULL)
        call->cost_ns += sock->ops->fault_accept_delay_ns(sock);    /* accept_slow */
    *child = first;
    return 0;
}

/* The pending list is doubly linked, so that a child leaves it in O(1) however many
 * half-open connections a listener holds; its order (newest first, R165) is unchanged. */
static void pending_remove(struct vsock_sock *listener, struct vsock_sock *child)
{
    assert(child->listener == listener && listener->pending_count > 0);
    if (child->queue_prev != NULL)
        child->queue_prev->queue_next = child->queue_next;
    else
        listener->pending_head = child->queue_next;
    if (child->queue_next != NULL)
        child->queue_next->queue_prev = child->queue_prev;
    child->queue_next = NULL;
    child->queue_prev = NULL;
    listener->pending_count--;
}

static void child_expire(void *context, void *arg, uint64_t data)
{
    (void)context;
    (void)data;
    struct vsock_sock *child = arg;
    child->expiry_timer = SIM_EVENT_NONE;
    if (child->listener != NULL && child->tcp == VSOCK_TCP_SYN_SENT)
        vsock_child_drop(child);                             /* R110: silently, no packet */
}

int vsock_child_create(struct vsock_sock *listener, const struct vsock_addr *local,
                       const struct vsock_addr *remote, struct vsock_sock **out)
{
    assert(listener->tcp == VSOCK_TCP_LISTEN);
    if (listener->pending_count + listener->accept_count >= listener->backlog_max)
        return -ECONNREFUSED;                                                   /* R106 */
    struct vsock_sock *child = sock_new(listener->stack, VSOCK_TYPE_STREAM);
    if (child == NULL)
        return *listener->stack->world_socket_count >= listener->stack->sockets_max ? -ENFILE
                                                                                    : -ENOMEM;
    child->child = true;
    child->credentials = listener->credentials;                                 /* R102 */
    child->connect_timeout_ns = listener->connect_timeout_ns;
    child->buffer_size = listener->buffer_size;
    child->buffer_min_size = listener->buffer_min_size;
    child->buffer_max_size = listener->buffer_max_size;
    child->local = *local;
    child->remote = *remote;
    vsock_sock_reindex(child);
    child->tcp = VSOCK_TCP_SYN_SENT;
    child->listener = listener;
    int rc = child->ops->init != NULL ? child->ops->init(child, listener) : 0;  /* errno */
    if (rc == 0 && sim_engine_schedule_after(listener->stack->engine, VSOCK_HALF_OPEN_TIMEOUT_NS,
                                             child_expire, child, 0, &child->expiry_timer) < 0)
        rc = -ENOBUFS;                                          /* events_pending_max */
    if (rc < 0) {
        child->listener = NULL;
        sock_free(child);
        return rc;
    }
    child->queue_next = listener->pending_head;                                 /* R165 */
    child->queue_prev = NULL;
    if (listener->pending_head != NULL)
        listener->pending_head->queue_prev = child;
    listener->pending_head = child;
    listener->pending_count++;
    *out = child;
    return 0;
}

void vsock_child_established(struct vsock_sock *child)
{
    struct vsock_sock *listener = child->listener;
    assert(listener != NULL);
    pending_remove(listener, child);
    if (child->expiry_timer != SIM_EVENT_NONE) {
        sim_engine_cancel(child->stack->engine, child->expiry_timer);
        child->expiry_timer = SIM_EVENT_NONE;
    }
    child->tcp = VSOCK_TCP_ESTABLISHED;                                         /* R166 */
    child->state = VSOCK_SS_CONNECTED;
    if (listener->accept_tail != NULL)
        listener->accept_tail->queue_next = child;
    else
        listener->accept_head = child;
    listener->accept_tail = child;
    listener->accept_count++;
    vsock_sock_wake(listener);
}

void vsock_child_drop(struct vsock_sock *child)
{
    struct vsock_sock *listener = child->listener;
    if (listener != NULL && child->tcp == VSOCK_TCP_SYN_SENT)
        pending_remove(listener, child);
    child->listener = NULL;
    struct vsock_call call = { 0 };
    if (child->ops->release != NULL)
        child->ops->release(child, &call);
    sock_free(child);
}

void vsock_sock_wake(struct vsock_sock *sock)
{
    sim_waitq_wake_all(&sock->waitq);
    if (sock->stack->poll_waitq != NULL)
        sim_waitq_wake_all(sock->stack->poll_waitq);    /* p:poll re-evaluates */
}

static void close_children(struct vsock_sock *listener, struct vsock_call *call)
{
    while (listener->accept_head != NULL) {                                     /* R126 */
        struct vsock_sock *child = listener->accept_head;
        listener->accept_head = child->queue_next;
        listener->accept_count--;
        child->queue_next = NULL;
        child->listener = NULL;
        vsock_close(child, call);
    }
    listener->accept_tail = NULL;
    while (listener->pending_head != NULL)
        vsock_child_drop(listener->pending_head);
}

void vsock_close(struct vsock_sock *sock, struct vsock_call *call)
{
    assert(sock != NULL && call != NULL);
    assert(!sock->closed);
    sock->closed = true;
    if (sock->tcp == VSOCK_TCP_LISTEN)
        close_children(sock, call);
    if (sock->ops->release != NULL)
        sock->ops->release(sock, call);                     /* R126: no packet, QP detached */
    sock_free(sock);
}

int vsock_shutdown(struct vsock_sock *sock, int how, struct vsock_call *call)
{
    if (how < 0 || how > 2)
        return -EINVAL;                                                         /* R124 */
    uint32_t mask = (uint32_t)how + 1u;
    if (sock->state == VSOCK_SS_UNCONNECTED) {
        if (sock->type == VSOCK_TYPE_STREAM)
            return -ENOTCONN;
        sock->shutdown |= mask;
        vsock_sock_wake(sock);
        return -ENOTCONN;
    }
    sock->state = VSOCK_SS_DISCONNECTING;
    sock->shutdown |= mask;
    if (sock->type == VSOCK_TYPE_STREAM && sock->ops->shutdown != NULL)
        (void)sock->ops->shutdown(sock, mask, call);        /* R174: failure changes nothing */
    vsock_sock_wake(sock);
    return 0;
}

int vsock_getsockname(const struct vsock_sock *sock, struct vsock_addr *addr)
{
    *addr = sock->local;                                                        /* R128 */
    return 0;
}

int vsock_getpeername(const struct vsock_sock *sock, struct vsock_addr *addr)
{
    if (sock->state != VSOCK_SS_CONNECTED)
        return -ENOTCONN;                                                       /* R129 */
    *addr = sock->remote;
    return 0;
}

static uint32_t poll_stream(struct vsock_sock *sock)
{
    uint32_t mask = 0;
    bool listening = sock->tcp == VSOCK_TCP_LISTEN;
    if (listening && sock->accept_head != NULL)
        mask |= VSOCK_POLLIN | VSOCK_POLLRDNORM;
    if (!listening && sock->tcp == VSOCK_TCP_ESTABLISHED && !(sock->shutdown & VSOCK_RCV_SHUTDOWN)) {
        int64_t ready = sock->ops->stream_has_data(sock);
        if (ready < 0)
            mask |= VSOCK_POLLERR;
        else if ((uint64_t)ready >= sock->rcvlowat)                             /* R132, D6 */
            mask |= VSOCK_POLLIN | VSOCK_POLLRDNORM;
        else if (sock->ops->notify_poll_in != NULL)
            sock->ops->notify_poll_in(sock);
    }
    if ((sock->shutdown & VSOCK_RCV_SHUTDOWN) || (sock->peer_shutdown & VSOCK_SEND_SHUTDOWN))
        mask |= VSOCK_POLLIN | VSOCK_POLLRDNORM;
    if (!(sock->shutdown & VSOCK_SEND_SHUTDOWN)) {                              /* R133 */
        if (sock->tcp == VSOCK_TCP_ESTABLISHED) {
            int64_t space = sock->ops->stream_has_space(sock);
            if (space < 0)
                mask |= VSOCK_POLLERR;
            else if (space > 0)
                mask |= VSOCK_POLLOUT | VSOCK_POLLWRNORM;
        } else if (sock->tcp == VSOCK_TCP_CLOSE || sock->tcp == VSOCK_TCP_CLOSING) {
            mask |= VSOCK_POLLOUT | VSOCK_POLLWRNORM;   /* a send() reveals the state, R133 */
        }
    }
    return mask;
}

uint32_t vsock_poll(struct vsock_sock *sock)
{
    uint32_t mask = sock->error != 0 ? VSOCK_POLLERR : 0;                      /* R130 */
    if (sock->shutdown == VSOCK_SHUTDOWN_MASK ||
        ((sock->shutdown & VSOCK_SEND_SHUTDOWN) && (sock->peer_shutdown & VSOCK_SEND_SHUTDOWN)))
        mask |= VSOCK_POLLHUP;                                                  /* R131 */
    if ((sock->shutdown & VSOCK_RCV_SHUTDOWN) || (sock->peer_shutdown & VSOCK_SEND_SHUTDOWN))
        mask |= VSOCK_POLLRDHUP;
    if (sock->type == VSOCK_TYPE_STREAM)
        return mask | poll_stream(sock);
    if (sock->ops->dgram_has_data(sock) || (sock->shutdown & VSOCK_RCV_SHUTDOWN))
        mask |= VSOCK_POLLIN | VSOCK_POLLRDNORM;                                /* R134 */
    if (!(sock->shutdown & VSOCK_SEND_SHUTDOWN))
        mask |= VSOCK_POLLOUT | VSOCK_POLLWRNORM | VSOCK_POLLWRBAND;
    return mask;
}

static bool local_matches(const struct vsock_addr *bound, const struct vsock_addr *wanted)
{
    return bound->port == wanted->port &&
           (bound->cid == wanted->cid || bound->cid == VSOCK_CID_ANY);
}

static bool connected_matches(const struct vsock_sock *sock, const struct vsock_addr *local,
                              const struct vsock_addr *remote)
{
    return sock->type == VSOCK_TYPE_STREAM && sock->tcp != VSOCK_TCP_LISTEN &&
           sock->remote.cid == remote->cid && sock->remote.port == remote->port &&
           local_matches(&sock->local, local);
}

/* R149: the first socket in creation order whose connection matches. The index holds
 * every stream socket with a remote address, sorted by id (creation order) per key, so
 * its first match is the list's first match. */
struct vsock_sock *vsock_find_connected(struct vsock_stack *stack, const struct vsock_addr *local,
                                        const struct vsock_addr *remote)
{
    if (remote_unset(remote)) {
        for (struct vsock_sock *sock = stack->sockets_head; sock != NULL;
             sock = sock->stack_next) {
            if (connected_matches(sock, local, remote))
                return sock;
        }
        return NULL;
    }
    for (const struct sim_index_node *node = sim_index_first(&stack->connections,
                                                             connection_key(local, remote));
         node != NULL; node = sim_index_next(node)) {
        struct vsock_sock *sock = (struct vsock_sock *)(
            (const char *)node - offsetof(struct vsock_sock, by_connection));
        if (connected_matches(sock, local, remote))
            return sock;                                                        /* R149 */
    }
    return NULL;
}

struct vsock_sock *vsock_find_bound(struct vsock_stack *stack, enum vsock_type type,
                                    const struct vsock_addr *local)
{
    /* R149: every bound socket, whatever its state: a packet from a stranger reaches a
     * connecting or connected socket through its binding (R158's source check, R172), as
     * in Linux's bound table. A listener's children are found by connection only, and
     * an unbound socket (port ANY) is not bound (R13). */
    if (local->port == VSOCK_PORT_ANY)
        return NULL;                        /* an unbound socket is not bound (R13) */
    for (const struct sim_index_node *node = sim_index_first(&stack->ports,
                                                             port_key(type, local->port));
         node != NULL; node = sim_index_next(node)) {
        struct vsock_sock *sock = (struct vsock_sock *)(
            (const char *)node - offsetof(struct vsock_sock, by_port));
        /* R207: a socket bound to ANY keeps matching after R154 set its local CID, so
         * it still receives once the guest's CID has changed (the refresh of R154). */
        if (sock->type == type && !sock->child && sock->local.port != VSOCK_PORT_ANY &&
            (local_matches(&sock->local, local) ||
             (sock->bound_any && sock->local.port == local->port)))
            return sock;
    }
    return NULL;
}
