/* SPDX-License-Identifier: MIT */
/*
 * vsock/vmci_stream.c: the VMCI stream transport (reference section 7).
 *
 * Control packets travel as VMCI datagrams between the stacks' control handles
 * {ANY, 1}; data travels only through the queue pair the client creates and the
 * server attaches (R158, R166). Incoming packets arrive in engine events (the
 * VMCI layer never delivers inside a sender's call), are matched to a socket
 * (R149) and handled by its state: listening, connecting (client), half-open
 * child (server), established. Notifications follow the protocol negotiated:
 * queue state (R176-R179) or packets (R180-R183).
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sim/engine/rng.h"
#include "vmci_stream_int.h"

/* A fault site's extra time (a late control packet, a slow accept): this base stretched
 * 2 to VMCI_FAULT_STRETCH_MAX times, so 2 to 64 ms. */
#define VSOCK_FAULT_DELAY_NS_BASE 1000000ull

static struct vsock_vmci *transport_of(const struct vsock_sock *sock)
{
    return sock->stack->transport;
}

static struct vsock_stream *stream_of(const struct vsock_sock *sock)
{
    return sock->transport;
}

static int64_t reply(struct vsock_vmci *transport, const struct vsock_packet *incoming,
                     uint32_t type, uint64_t u0)
{
    struct vsock_packet packet = {
        .dst = { incoming->src.context, VMCI_TRANSPORT_PACKET_RID },
        .type = type, .src_port = incoming->dst_port, .dst_port = incoming->src_port, .u0 = u0,
    };
    return vsock__packet_send(transport, &packet, NULL, 0);
}

/* R150: RST in reply, never to an RST. */
static void reply_rst(struct vsock_vmci *transport, const struct vsock_packet *incoming)
{
    if (incoming->type != VSOCK_PACKET_RST)
        reply(transport, incoming, VSOCK_PACKET_RST, 0);
}

/* A control packet from this socket to its peer, with both union words. */
static int64_t send_packet(struct vsock_sock *sock, uint32_t type, uint64_t u0, uint64_t u1,
                           uint16_t proto, struct vsock_call *call)
{
    struct vsock_packet packet = {
        .dst = { sock->remote.cid, VMCI_TRANSPORT_PACKET_RID }, .type = type, .proto = proto,
        .src_port = sock->local.port, .dst_port = sock->remote.port, .u0 = u0, .u1 = u1,
    };
    return vsock__packet_send(transport_of(sock), &packet, call != NULL ? &call->cost_ns : NULL,
                              sock->credentials.pid);
}

static int64_t send_to_peer(struct vsock_sock *sock, uint32_t type, uint64_t u0, uint16_t proto,
                            struct vsock_call *call)
{
    return send_packet(sock, type, u0, 0, proto, call);
}

/* R180: WAITING_READ / WAITING_WRITE carry {generation, offset} in the union: the ring
 * position the reader waits to see filled, or the writer waits to see freed. */
static void send_waiting(struct vsock_sock *sock, uint32_t type, uint64_t generation,
                         uint64_t offset, struct vsock_call *call)
{
    (void)send_packet(sock, type, generation, offset, 0, call);
}

/* A reader that needs `room_needed` more bytes names the consume-queue position they end
 * at: past the end of the ring, it is in the next generation (notify.c send_waiting_read). */
static void send_waiting_read(struct vsock_sock *sock, uint64_t room_needed,
                              struct vsock_call *call)
{
    struct vsock_stream *stream = stream_of(sock);
    int64_t head = vmci_qpair_consume_head(stream->qpair);
    if (head < 0)
        return;
    uint64_t room_left = stream->queue_size - (uint64_t)head;
    if (room_needed >= room_left)
        send_waiting(sock, VSOCK_PACKET_WAITING_READ, stream->consume_generation + 1,
                     room_needed - room_left, call);
    else
        send_waiting(sock, VSOCK_PACKET_WAITING_READ, stream->consume_generation,
                     (uint64_t)head + room_needed, call);
}

/* A writer that needs one byte of room names the produce-queue position that must become
 * free (notify.c send_waiting_write: one past the byte it wants to write, so one
 * generation back while that position is still ahead of the tail in this lap). */
static void send_waiting_write(struct vsock_sock *sock, struct vsock_call *call)
{
    struct vsock_stream *stream = stream_of(sock);
    int64_t tail = vmci_qpair_produce_tail(stream->qpair);
    if (tail < 0)
        return;
    uint64_t room_needed = 1;
    uint64_t room_left = stream->queue_size - (uint64_t)tail;
    if (room_needed + 1 >= room_left)
        send_waiting(sock, VSOCK_PACKET_WAITING_WRITE, stream->produce_generation,
                     room_needed + 1 - room_left, call);
    else
        send_waiting(sock, VSOCK_PACKET_WAITING_WRITE, stream->produce_generation - 1,
                     (uint64_t)tail + room_needed + 1, call);
}

static struct vmci_faults *faults_of(const struct vsock_sock *sock)
{
    return vmci_kernel_faults(transport_of(sock)->kernel);
}

/* Whether `site` fires here (the socket's kernel, for the `fault` event). The CID is
 * asked only with faults on: with them off a check is one test, not two calls. */
static bool fault_fires(const struct vsock_sock *sock, enum vmci_fault_site site)
{
    struct vmci_faults *faults = faults_of(sock);
    return vmci_faults_on(faults) && vmci_fault(faults, site, vsock_stack_local_cid(sock->stack));
}

/* The extra time of a firing delay site, drawn from the faults stream (which is on, since
 * a site fired). */
static uint64_t fault_delay_ns(const struct vsock_sock *sock)
{
    struct vmci_faults *faults = faults_of(sock);
    assert(vmci_faults_on(faults));
    uint64_t factor = 2u + sim_rng_below(faults->rng, VMCI_FAULT_STRETCH_MAX - 1u);
    assert(factor >= 2u && factor <= VMCI_FAULT_STRETCH_MAX);
    return VSOCK_FAULT_DELAY_NS_BASE * factor;
}

/* Sends the packet held back by a late site, when its time has come. */
static void late_packet_due(void *context, void *arg, uint64_t data)
{
    (void)context;
    (void)data;
    struct vsock_sock *sock = arg;
    struct vsock_stream *stream = stream_of(sock);
    assert(stream->late_timer != SIM_EVENT_NONE);
    stream->late_timer = SIM_EVENT_NONE;
    /* WROTE and READ keep their "with retry" (7.5) when late: a refusal by a full queue
     * (another site) would otherwise lose the wake-up a blocked peer waits for. */
    bool retried = stream->late_packet.type == VSOCK_PACKET_WROTE ||
                   stream->late_packet.type == VSOCK_PACKET_READ;
    uint32_t attempts_max = retried ? VSOCK_MAX_DGRAM_RESENDS : 1u;
    for (uint32_t attempt = 0; attempt < attempts_max; attempt++) {
        if (retried && (sock->peer_shutdown & VSOCK_RCV_SHUTDOWN))
            return;
        if (vsock__packet_send(transport_of(sock), &stream->late_packet, NULL,
                               sock->credentials.pid) >= 0)
            return;                                     /* a failure is traced there */
    }
}

/* shutdown_late, wrote_late, read_late: when `site` fires, the packet leaves 2-64 ms later
 * instead of now (true). One packet at a time is held back; later packets of the socket may
 * overtake it, which these three types tolerate: each only sets bits or wakes (R169, R179,
 * R183). False: send it now. */
static bool send_late(struct vsock_sock *sock, uint32_t type, uint64_t u0,
                      enum vmci_fault_site site)
{
    struct vsock_stream *stream = stream_of(sock);
    if (stream->late_timer != SIM_EVENT_NONE || !fault_fires(sock, site))
        return false;
    stream->late_packet = (struct vsock_packet){
        .dst = { sock->remote.cid, VMCI_TRANSPORT_PACKET_RID }, .type = type,
        .src_port = sock->local.port, .dst_port = sock->remote.port, .u0 = u0,
    };
    if (sim_engine_schedule_after(sock->stack->engine, fault_delay_ns(sock), late_packet_due,
                                  sock, 0, &stream->late_timer) < 0) {
        stream->late_timer = SIM_EVENT_NONE;
        return false;                       /* no room for the event: on time after all */
    }
    assert(stream->late_timer != SIM_EVENT_NONE);
    return true;
}

/* A notification "with retry" (7.5): up to MAX_RESENDS tries while the peer still reads. */
static void send_with_retry(struct vsock_sock *sock, uint32_t type, struct vsock_call *call)
{
    assert(type == VSOCK_PACKET_WROTE || type == VSOCK_PACKET_READ);
    if (!(sock->peer_shutdown & VSOCK_RCV_SHUTDOWN) &&
        send_late(sock, type, 0,
                  type == VSOCK_PACKET_WROTE ? VMCI_FAULT_WROTE_LATE : VMCI_FAULT_READ_LATE))
        return;
    for (uint32_t attempt = 0; attempt < VSOCK_MAX_DGRAM_RESENDS; attempt++) {
        if (sock->peer_shutdown & VSOCK_RCV_SHUTDOWN)
            return;
        if (send_to_peer(sock, type, 0, 0, call) >= 0)
            return;
    }
}

static void trace_rule(struct vsock_sock *sock, const char *kind, const char *rule)
{
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_TRANSPORT, kind, vsock_stack_local_cid(sock->stack),
                         sock->credentials.pid);
    sim_trace_field_str(&event, "rule", rule);
    sim_trace_field_u64(&event, "port", sock->local.port);
    (void)sim_engine_emit(sock->stack->engine, &event);
}

/* R153: may this socket exchange packets with CID `cid`? (shared with datagrams) */
static bool allow_cid(const struct vsock_sock *sock, uint32_t cid)
{
    return vsock__vmci_allow_cid(sock, cid);
}

static struct vmci_identity identity_of(const struct vsock_sock *sock)
{
    return vsock__vmci_identity_of(sock);
}

/* Nothing the model drops is silent: `bytes` of this stream socket's consume queue that
 * nobody will read, as one transport-layer `data_discarded` (docs/sockets.md). */
static void trace_discarded(struct vsock_sock *sock, int64_t bytes, const char *reason,
                            const char *rule)
{
    assert(bytes > 0);
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_TRANSPORT, "data_discarded",
                         vsock_stack_local_cid(sock->stack), sock->credentials.pid);
    sim_trace_field_str(&event, "reason", reason);
    sim_trace_field_str(&event, "rule", rule);
    sim_trace_field_u64(&event, "count", 1);    /* one stream's unread bytes */
    sim_trace_field_i64(&event, "bytes", bytes);
    sim_trace_field_u64(&event, "port", sock->local.port);
    sim_trace_field_u64(&event, "peer",
                        ((uint64_t)sock->remote.cid << 32) | sock->remote.port);
    (void)sim_engine_emit(sock->stack->engine, &event);
}

/* R171: the other end is gone; the guest keeps what it has not read yet (its pages), the
 * host loses it (EOF at once): those bytes are traced as discarded after the detach. */
static void connection_lost(struct vsock_sock *sock, const char *kind, const char *rule)
{
    struct vsock_stream *stream = stream_of(sock);
    sock->done = true;
    sock->peer_shutdown = VSOCK_SHUTDOWN_MASK;
    int64_t ready = vmci_qpair_consume_buf_ready(stream->qpair);
    if (sock->stack->is_host || ready <= 0)
        sock->tcp = VSOCK_TCP_CLOSE;
    trace_rule(sock, kind, rule);
    if (sock->stack->is_host && ready > 0)
        trace_discarded(sock, ready, kind, rule);
    vsock_sock_wake(sock);
}

/* R171 / R161: the peer detached from our queue pair. */
static void peer_detached(void *state, uint32_t event, const uint8_t *payload,
                          uint64_t payload_bytes)
{
    (void)event;
    struct vsock_sock *sock = state;
    struct vsock_stream *stream = stream_of(sock);
    if (payload_bytes < 12 || stream->qpair == NULL)
        return;
    struct vmci_handle handle = { vmci_read_u32(payload), vmci_read_u32(payload + 4) };
    if (!vmci_handle_equal(handle, stream->qp_handle))
        return;
    if (sock->tcp == VSOCK_TCP_SYN_SENT && !sock->child) {
        vsock_connect_failed(sock, ECONNRESET);                                 /* R161 */
        return;
    }
    connection_lost(sock, "peer_detach", "R171");
}

/* R206: after a resume the guest's queue pairs are gone (the hypervisor detached them at
 * the suspend): every established stream socket goes the way of a peer detach (what is
 * in its consume queue stays readable, then EOF; send EPIPE). Connections still in their
 * handshake are left to their timeouts; datagram sockets are untouched. */
static void queue_pairs_resumed(void *state, uint32_t event, const uint8_t *payload,
                                uint64_t payload_bytes)
{
    (void)event;
    (void)payload;
    (void)payload_bytes;
    struct vsock_vmci *transport = state;
    struct vsock_stack *stack = transport->stack;
    uint32_t visited = 0;
    for (struct vsock_sock *sock = stack->sockets_head; sock != NULL; sock = sock->stack_next) {
        assert(visited++ <= stack->socket_count);
        if (sock->type != VSOCK_TYPE_STREAM || sock->ops != &vsock_vmci_stream_ops ||
            stream_of(sock)->qpair == NULL || sock->tcp != VSOCK_TCP_ESTABLISHED || sock->done)
            continue;
        connection_lost(sock, "qp_resumed", "R206");
    }
}

static int subscribe_detach(struct vsock_sock *sock)
{
    struct vsock_stream *stream = stream_of(sock);
    int rc = vmci_event_subscribe(transport_of(sock)->kernel, VMCI_EVENT_QP_PEER_DETACH,
                                  peer_detached, sock, &stream->detach_subscription);
    if (rc == VMCI_SUCCESS)
        stream->detach_subscribed = true;
    return rc;
}

static void negotiated(struct vsock_stream *stream, uint64_t size, enum vsock_notify_protocol protocol)
{
    stream->queue_size = size;
    stream->protocol = protocol;
    stream->write_notify_window = size;                                         /* 7.5 */
    stream->write_notify_min_window = size < VSOCK_NOTIFY_WINDOW_STEP ? size
                                                                       : VSOCK_NOTIFY_WINDOW_STEP;
}

/* R158: the client's side of NEGOTIATE/NEGOTIATE2. Returns 0 or an errno (RST sent). */
static int client_negotiate(struct vsock_sock *sock, const struct vsock_packet *packet)
{
    struct vsock_stream *stream = stream_of(sock);
    struct vsock_vmci *transport = transport_of(sock);
    if (packet->u0 == 0 || packet->src.context != sock->remote.cid ||
        packet->src_port != sock->remote.port || stream->qpair != NULL)
        return EPROTO;
    stream->sent_request2 = false;
    stream->ignore_next_rst = false;
    if (packet->u0 < sock->buffer_min_size || packet->u0 > sock->buffer_max_size)
        return EINVAL;
    sock->local.cid = packet->dst.context;                                      /* R154 */
    enum vsock_notify_protocol protocol = VSOCK_NOTIFY_PKT;
    if (packet->type == VSOCK_PACKET_NEGOTIATE2) {
        if (packet->proto != VSOCK_PROTO_PKT_ON_NOTIFY)
            return EINVAL;
        protocol = VSOCK_NOTIFY_QSTATE;
    }
    negotiated(stream, packet->u0, protocol);
    int rc = subscribe_detach(sock);
    if (rc < 0)                 /* R158: mapped by R63 (the limit's NO_RESOURCES: ENOBUFS) */
        return -vsock_vmci_error_to_errno(rc);
    uint32_t flags = sock->remote.cid == vmci_kernel_cid(transport->kernel) ? VMCI_QPFLAG_LOCAL : 0;
    struct vmci_identity identity = identity_of(sock);
    struct vmci_handle handle = VMCI_INVALID_HANDLE;
    rc = vmci_qpair_alloc(transport->kernel, &handle, packet->u0, packet->u0,
                          sock->remote.cid, flags, &identity, &stream->qpair, NULL);
    if (rc < 0)
        return -vsock_vmci_error_to_errno(rc);
    stream->qp_handle = handle;
    if (stream->detach_subscribed)      /* peer_detached ignores every other handle */
        (void)vmci_event_subscription_filter(transport->kernel, stream->detach_subscription,
                                             handle);
    uint64_t encoded = (uint64_t)handle.context | ((uint64_t)handle.resource << 32);
    /* A refused OFFER (a full queue: NO_RESOURCES) is EINVAL, not R63's ENOBUFS: Linux's
     * send already returns an errno and recv_connecting_client_negotiate maps it once
     * more, where every errno falls to the default, EINVAL. */
    if (send_to_peer(sock, VSOCK_PACKET_OFFER, encoded, 0, NULL) < 0)
        return EINVAL;
    return 0;
}

/* R156-R160: a packet for a client in TCP_SYN_SENT. */
static void recv_connecting_client(struct vsock_sock *sock, const struct vsock_packet *packet)
{
    struct vsock_stream *stream = stream_of(sock);
    int error = 0;
    switch (packet->type) {
    case VSOCK_PACKET_INVALID:
        if (stream->sent_request2) {                                            /* R156 */
            stream->sent_request2 = false;
            stream->ignore_next_rst = true;
            send_to_peer(sock, VSOCK_PACKET_REQUEST, sock->buffer_size, 0, NULL);
        }
        return;
    case VSOCK_PACKET_RST:
        if (stream->ignore_next_rst) {                                          /* R157 */
            stream->ignore_next_rst = false;
            return;
        }
        vsock_connect_failed(sock, ECONNRESET);
        return;
    case VSOCK_PACKET_NEGOTIATE:
    case VSOCK_PACKET_NEGOTIATE2:
        /* connect_answer_late: the answer comes after the connect timer fired (R113:
         * ETIMEDOUT) and the server's child expired (R110); the socket, closed by then,
         * would answer it with an RST that changes nothing. So it is not seen at all. */
        if (fault_fires(sock, VMCI_FAULT_CONNECT_ANSWER_LATE))
            return;
        error = client_negotiate(sock, packet);
        break;
    case VSOCK_PACKET_ATTACH: {
        uint64_t ours = (uint64_t)stream->qp_handle.context |
                        ((uint64_t)stream->qp_handle.resource << 32);
        if (stream->qpair != NULL && packet->u0 == ours) {
            vsock_connect_established(sock);                                    /* R159 */
            return;
        }
        error = EPROTO;
        break;
    }
    default:
        error = EPROTO;                                                         /* R160 */
        break;
    }
    if (error != 0) {
        send_to_peer(sock, VSOCK_PACKET_RST, 0, 0, NULL);
        vsock_connect_failed(sock, error);
    }
}

/* R162-R165: a REQUEST/REQUEST2 for a listener. */
static void recv_listen(struct vsock_sock *listener, const struct vsock_packet *packet)
{
    struct vsock_vmci *transport = transport_of(listener);
    if ((packet->type != VSOCK_PACKET_REQUEST && packet->type != VSOCK_PACKET_REQUEST2) ||
        packet->u0 == 0) {
        reply_rst(transport, packet);                                           /* R162 */
        return;
    }
    struct vsock_addr local = { packet->dst.context, packet->dst_port };
    struct vsock_addr remote = { packet->src.context, packet->src_port };
    struct vsock_sock *child = NULL;
    /* listener_nomem takes the path of vsock_child_create failing with ENOMEM. */
    int child_rc = 0;
    if (vmci_fault(vmci_kernel_faults(transport->kernel), VMCI_FAULT_BACKLOG_FULL,
                   local.cid) ||
        vmci_fault(vmci_kernel_faults(transport->kernel), VMCI_FAULT_LISTENER_NOMEM,
                   local.cid) ||
        (child_rc = vsock_child_create(listener, &local, &remote, &child)) < 0) {
        if (child_rc != -ENFILE)        /* sockets_max: its limit_reached event says so */
            trace_rule(listener, "backlog_full", "R106");
        reply_rst(transport, packet);
        return;
    }
    struct vsock_stream *stream = stream_of(child);
    uint64_t size = packet->u0 >= child->buffer_min_size && packet->u0 <= child->buffer_max_size
                        ? packet->u0 : child->buffer_size;                      /* R163 */
    if (vmci_fault(vmci_kernel_faults(transport->kernel), VMCI_FAULT_QP_SIZE_MINIMUM, local.cid))
        size = child->buffer_min_size;      /* protocol: R163 would keep the size above */
    int64_t rc;
    if (packet->type == VSOCK_PACKET_REQUEST) {                                 /* R164 */
        negotiated(stream, size, VSOCK_NOTIFY_PKT);
        rc = reply(transport, packet, VSOCK_PACKET_NEGOTIATE, size);
    } else if ((packet->proto & VSOCK_PROTO_PKT_ON_NOTIFY) == 0) {
        rc = -1;
    } else {
        negotiated(stream, size, VSOCK_NOTIFY_QSTATE);
        struct vsock_packet answer = {
            .dst = { packet->src.context, VMCI_TRANSPORT_PACKET_RID },
            .type = VSOCK_PACKET_NEGOTIATE2, .proto = VSOCK_PROTO_PKT_ON_NOTIFY,
            .src_port = packet->dst_port, .dst_port = packet->src_port, .u0 = size,
        };
        rc = vsock__packet_send(transport, &answer, NULL, 0);
    }
    if (rc < 0) {
        reply_rst(transport, packet);
        vsock_child_drop(child);
    }
}

/* R166, R167: a packet for a half-open child. */
static void recv_connecting_server(struct vsock_sock *child, const struct vsock_packet *packet)
{
    struct vsock_vmci *transport = transport_of(child);
    struct vsock_stream *stream = stream_of(child);
    struct vmci_handle handle = { (uint32_t)packet->u0, (uint32_t)(packet->u0 >> 32) };
    if (packet->type != VSOCK_PACKET_OFFER || vmci_handle_is_invalid(handle)) {
        reply_rst(transport, packet);                                           /* R167 */
        vsock_child_drop(child);
        return;
    }
    uint32_t flags = VMCI_QPFLAG_ATTACH_ONLY;
    if (child->remote.cid == vmci_kernel_cid(transport->kernel))
        flags |= VMCI_QPFLAG_LOCAL;
    struct vmci_identity identity = identity_of(child);
    /* qp_attach_failed: the attach fails as it does when the host is out of memory. */
    int rc = fault_fires(child, VMCI_FAULT_QP_ATTACH_FAILED) ? VMCI_ERROR_NO_MEM
                                                                    : subscribe_detach(child);
    if (rc == VMCI_SUCCESS)
        rc = vmci_qpair_alloc(transport->kernel, &handle, stream->queue_size, stream->queue_size,
                              child->remote.cid, flags, &identity, &stream->qpair, NULL);
    if (rc < 0) {
        trace_rule(child, "attach_failed", vmci_error_name(rc));
        reply_rst(transport, packet);                                           /* R166 */
        vsock_child_drop(child);
        return;
    }
    stream->qp_handle = handle;
    if (stream->detach_subscribed)      /* peer_detached ignores every other handle */
        (void)vmci_event_subscription_filter(transport->kernel, stream->detach_subscription,
                                             handle);
    /* R166: the child reaches the accept queue only once its ATTACH is out; a failed send
     * drops it after an RST (vmci_transport.c recv_connecting_server). Delivery is never
     * inside the sender's call, so nothing can look the child up in between. */
    if (send_to_peer(child, VSOCK_PACKET_ATTACH, packet->u0, 0, NULL) < 0) {
        send_to_peer(child, VSOCK_PACKET_RST, 0, 0, NULL);
        vsock_child_drop(child);
        return;
    }
    vsock_child_established(child);
}

static void notify_wake_readers(struct vsock_sock *sock);
static void read_test(struct vsock_sock *sock, struct vsock_call *call);

/* R169-R175: a packet for an established socket. */
static void recv_connected(struct vsock_sock *sock, const struct vsock_packet *packet)
{
    struct vsock_stream *stream = stream_of(sock);
    switch (packet->type) {
    case VSOCK_PACKET_SHUTDOWN:
        if (packet->u0 != 0) {                                                  /* R169 */
            sock->peer_shutdown |= (uint32_t)packet->u0 & VSOCK_SHUTDOWN_MASK;
            vsock_sock_wake(sock);
        }
        return;
    case VSOCK_PACKET_RST: {                                                    /* R170 */
        sock->done = true;
        sock->peer_shutdown = VSOCK_SHUTDOWN_MASK;
        int64_t ready = stream->qpair != NULL ? vmci_qpair_consume_buf_ready(stream->qpair) : 0;
        if (ready <= 0)
            sock->tcp = VSOCK_TCP_CLOSING;
        vsock_sock_wake(sock);
        return;
    }
    case VSOCK_PACKET_WROTE:                                                    /* R179, R183 */
        stream->sent_waiting_read = false;
        notify_wake_readers(sock);
        return;
    case VSOCK_PACKET_READ:
        stream->sent_waiting_write = false;
        stream->window_reduced = false;
        vsock_sock_wake(sock);
        return;
    case VSOCK_PACKET_WAITING_READ:                                             /* R181 */
        if (stream->protocol == VSOCK_NOTIFY_PKT) {
            stream->peer_waiting_read = true;
            if (stream->qpair != NULL && vmci_qpair_produce_buf_ready(stream->qpair) > 0) {
                send_with_retry(sock, VSOCK_PACKET_WROTE, NULL);
                stream->peer_waiting_read = false;
            }
        }
        return;
    case VSOCK_PACKET_WAITING_WRITE:                                            /* R182 */
        if (stream->protocol == VSOCK_NOTIFY_PKT) {
            stream->peer_waiting_write = true;
            /* R182: the window test is applied at once, as notify.c's
             * handle_waiting_write does: a reader that already freed enough space sends
             * READ now instead of leaving the writer blocked until its next dequeue. */
            read_test(sock, NULL);
        }
        return;
    default:
        return;                                             /* R172, R175: ignored */
    }
}

static void notify_wake_readers(struct vsock_sock *sock)
{
    vsock_sock_wake(sock);
}

static void deliver(struct vsock_vmci *transport, const struct vsock_packet *packet)
{
    struct vsock_addr local = { packet->dst.context, packet->dst_port };
    struct vsock_addr remote = { packet->src.context, packet->src_port };
    struct vsock_sock *sock = vsock_find_connected(transport->stack, &local, &remote);
    if (sock == NULL)
        sock = vsock_find_bound(transport->stack, VSOCK_TYPE_STREAM, &local);   /* R149 */
    if (sock == NULL) {
        reply_rst(transport, packet);                                           /* R150 */
        return;
    }
    if (!allow_cid(sock, packet->src.context)) {
        trace_rule(sock, "packet_denied", "R153");                              /* R152 */
        return;
    }
    if (packet->type >= VSOCK_PACKET_MAX) {
        reply(transport, packet, VSOCK_PACKET_INVALID, 0);                      /* R151 */
        return;
    }
    if (sock->local.cid == VSOCK_CID_ANY || sock->tcp != VSOCK_TCP_LISTEN)
        sock->local.cid = packet->dst.context;                                  /* R154 */
    switch (sock->tcp) {
    case VSOCK_TCP_LISTEN:
        recv_listen(sock, packet);
        return;
    case VSOCK_TCP_SYN_SENT:
        if (sock->child && sock->listener != NULL &&
            fault_fires(sock, VMCI_FAULT_HALF_OPEN_EXPIRED)) {
            /* half_open_expired: R110's expiry came first and dropped the child silently;
             * the packet then reaches the listener (R162: RST) or nobody (R150: RST). The
             * child is gone, so this second delivery cannot come back here. */
            vsock_child_drop(sock);
            deliver(transport, packet);
            return;
        }
        if (sock->child)
            recv_connecting_server(sock, packet);
        else
            recv_connecting_client(sock, packet);
        return;
    case VSOCK_TCP_ESTABLISHED:
        recv_connected(sock, packet);
        return;
    default:
        reply_rst(transport, packet);                                           /* R172, R173 */
        return;
    }
}

/* The control handle's receive callback (an engine event, never inside the sender). */
static void recv_control(void *state, const struct vmci_datagram_header *header,
                         const uint8_t *payload)
{
    struct vsock_vmci *transport = state;
    if (header->payload_size < VSOCK_PACKET_PAYLOAD_BYTES)
        return;                                                                 /* R148 */
    uint32_t expected_rid = header->src.context == VMCI_HYPERVISOR_CONTEXT_ID
                                ? VMCI_TRANSPORT_HYPERVISOR_PACKET_RID : VMCI_TRANSPORT_PACKET_RID;
    if (header->src.context == VMCI_WELL_KNOWN_CONTEXT_ID || header->src.resource != expected_rid)
        return;
    struct vsock_packet packet;
    vsock__packet_decode(header, payload, &packet);
    vsock__packet_trace_received(transport, &packet);
    deliver(transport, &packet);
}

/* R152 on the host, where delivery is deferred: refuse at once, in the sender's call, a
 * packet the target socket's R153 check would drop, so a guest's connect to an untrusted
 * host listener fails with EPERM (R199). Reads state only. */
static int control_filter(void *state, const struct vmci_datagram_header *header,
                          const uint8_t *payload)
{
    struct vsock_vmci *transport = state;
    /* R148 with R55: the host callback's refusals reach the sender, source first (as in
     * vmci_transport.c recv_stream_cb); recv_control drops the same packets later. */
    uint32_t expected_rid = header->src.context == VMCI_HYPERVISOR_CONTEXT_ID
                                ? VMCI_TRANSPORT_HYPERVISOR_PACKET_RID : VMCI_TRANSPORT_PACKET_RID;
    if (header->src.context == VMCI_WELL_KNOWN_CONTEXT_ID || header->src.resource != expected_rid)
        return VMCI_ERROR_NO_ACCESS;
    if (header->payload_size < VSOCK_PACKET_PAYLOAD_BYTES)
        return VMCI_ERROR_INVALID_ARGS;
    struct vsock_packet packet;
    vsock__packet_decode(header, payload, &packet);
    struct vsock_addr local = { packet.dst.context, packet.dst_port };
    struct vsock_addr remote = { packet.src.context, packet.src_port };
    struct vsock_sock *sock = vsock_find_connected(transport->stack, &local, &remote);
    if (sock == NULL)
        sock = vsock_find_bound(transport->stack, VSOCK_TYPE_STREAM, &local);
    if (sock != NULL && !allow_cid(sock, packet.src.context))
        return VMCI_ERROR_NO_ACCESS;
    return VMCI_SUCCESS;
}

/* R209: the guest's own device reset detached its queue pairs; its established stream
 * sockets end as after a peer detach (R171: what their consume queue holds stays readable,
 * then EOF; send EPIPE) and the control handle goes with the driver. Once the driver has
 * loaded again (D4) the control handle is created anew, so new connections work.
 * Handshakes in progress are left to their timeouts and datagram sockets keep their
 * handles, as after a resume (R206). */
static void device_was_reset(void *state, struct vmci_kernel *kernel, bool reloaded)
{
    struct vsock_vmci *transport = state;
    struct vsock_stack *stack = transport->stack;
    assert(transport->kernel == kernel);
    if (reloaded) {
        if (!transport->control_open)
            transport->control_open = vmci_dg_create(kernel, VMCI_TRANSPORT_PACKET_RID,
                                                     VMCI_FLAG_ANYCID_DG_HND, NULL,
                                                     recv_control, transport,
                                                     &transport->control) == VMCI_SUCCESS;
        return;
    }
    uint32_t visited = 0;
    for (struct vsock_sock *sock = stack->sockets_head; sock != NULL; sock = sock->stack_next) {
        assert(visited++ <= stack->socket_count);
        if (sock->type != VSOCK_TYPE_STREAM || sock->ops != &vsock_vmci_stream_ops ||
            stream_of(sock)->qpair == NULL || sock->tcp != VSOCK_TCP_ESTABLISHED || sock->done)
            continue;
        connection_lost(sock, "device_reset", "R209");
    }
    if (transport->control_open && vmci_dg_destroy(kernel, transport->control) == VMCI_SUCCESS)
        transport->control_open = false;
}

int vsock_vmci_start(struct vsock_vmci *transport, struct vmci_kernel *kernel,
                     struct vsock_stack *stack)
{
    memset(transport, 0, sizeof(*transport));
    transport->kernel = kernel;
    transport->stack = stack;
    /* The transport itself applies R153 per socket, so the host's control handle is a
     * kernel (trusted) endpoint; a guest's cannot be (R60). */
    struct vmci_identity kernel_identity = { .trusted = true };
    int rc = vmci_dg_create(kernel, VMCI_TRANSPORT_PACKET_RID, VMCI_FLAG_ANYCID_DG_HND,
                            vmci_kernel_is_host(kernel) ? &kernel_identity : NULL, recv_control,
                            transport, &transport->control);
    transport->control_open = rc == VMCI_SUCCESS;
    if (rc == VMCI_SUCCESS && vmci_kernel_is_host(kernel))
        rc = vmci_dg_set_filter(kernel, transport->control, control_filter);
    uint32_t subscription = 0;
    if (rc == VMCI_SUCCESS && !vmci_kernel_is_host(kernel))
        rc = vmci_event_subscribe(kernel, VMCI_EVENT_QP_RESUMED, queue_pairs_resumed, transport,
                                  &subscription);                               /* R206 */
    if (rc == VMCI_SUCCESS && !vmci_kernel_is_host(kernel))
        rc = vmci_kernel_on_reset(kernel, device_was_reset, transport);         /* R209 */
    return rc;
}

/* ---- Notifications (7.5) ---------------------------------------------------------------- */

/* R177/R182: the consumer decides whether the waiting writer gets a READ now. */
static void read_test(struct vsock_sock *sock, struct vsock_call *call)
{
    struct vsock_stream *stream = stream_of(sock);
    if (!stream->peer_waiting_write || stream->qpair == NULL)
        return;
    if (!stream->window_reduced) {                                              /* R178 */
        stream->window_reduced = true;
        if (stream->write_notify_window < VSOCK_NOTIFY_WINDOW_STEP)
            stream->write_notify_window = stream->write_notify_min_window;
        else if (stream->write_notify_window - VSOCK_NOTIFY_WINDOW_STEP <
                 stream->write_notify_min_window)
            stream->write_notify_window = stream->write_notify_min_window;
        else
            stream->write_notify_window -= VSOCK_NOTIFY_WINDOW_STEP;
    }
    int64_t free_bytes = vmci_qpair_consume_free_space(stream->qpair);
    if (free_bytes > 0 &&
        (uint64_t)free_bytes > stream->queue_size - stream->write_notify_window) {
        send_with_retry(sock, VSOCK_PACKET_READ, call);
        stream->peer_waiting_write = false;
        stream->window_reduced = false;
    }
}

/* After an enqueue of `written` bytes (> 0) that left `ready` bytes in the produce queue
 * (what vmci_qpair_produce_buf_ready would answer: the enqueue reported it). */
static void notify_send_post_enqueue(struct vsock_sock *sock, uint64_t written, uint64_t ready,
                                     struct vsock_call *call)
{
    struct vsock_stream *stream = stream_of(sock);
    assert(written > 0 && ready >= written);
    if (stream->protocol == VSOCK_NOTIFY_QSTATE) {
        if (ready == written)                                                   /* R176 */
            send_with_retry(sock, VSOCK_PACKET_WROTE, call);
        return;
    }
    if (stream->peer_waiting_read && ready > 0) {                               /* R181 */
        send_with_retry(sock, VSOCK_PACKET_WROTE, call);
        stream->peer_waiting_read = false;
    }
}

/* After a dequeue (not a peek) of `copied` bytes (> 0) that left `free_bytes` of space in
 * the consume queue (what vmci_qpair_consume_free_space would answer: the dequeue reported
 * it). */
static void notify_recv_post_dequeue(struct vsock_sock *sock, uint64_t copied,
                                     uint64_t free_bytes, struct vsock_call *call)
{
    struct vsock_stream *stream = stream_of(sock);
    assert(copied > 0 && free_bytes >= copied);
    if (stream->protocol == VSOCK_NOTIFY_QSTATE && free_bytes == copied)
        stream->peer_waiting_write = true;                                      /* R177 */
    read_test(sock, call);
}

static void window_grow(struct vsock_stream *stream)
{
    stream->write_notify_window += VSOCK_NOTIFY_WINDOW_STEP;                    /* R178 */
    if (stream->write_notify_window > stream->queue_size)
        stream->write_notify_window = stream->queue_size;
}

/* R178: a recv whose target reaches Wmin raises Wmin to target + 1 (so the writer is told
 * about enough free space for this reader's target); a W below it is raised too, and the
 * READ test is then due once more before the reader blocks. Idempotent within one recv:
 * after the first call target < Wmin, and W never drops below Wmin. */
static void notify_recv_init(struct vsock_sock *sock, uint64_t target)
{
    struct vsock_stream *stream = stream_of(sock);
    if (target < stream->write_notify_min_window)
        return;
    stream->write_notify_min_window = target + 1;
    if (stream->write_notify_window < stream->write_notify_min_window) {
        stream->write_notify_window = stream->write_notify_min_window;
        stream->read_test_on_block = true;
    }
}

static void notify_recv_pre_block(struct vsock_sock *sock, uint64_t target, struct vsock_call *call)
{
    struct vsock_stream *stream = stream_of(sock);
    window_grow(stream);
    if (stream->read_test_on_block) {
        stream->read_test_on_block = false;
        read_test(sock, call);
    }
    if (stream->protocol == VSOCK_NOTIFY_PKT && !stream->sent_waiting_read) {   /* R180 */
        stream->sent_waiting_read = true;
        send_waiting_read(sock, target, call);
    }
}

static void notify_send_pre_block(struct vsock_sock *sock, struct vsock_call *call)
{
    struct vsock_stream *stream = stream_of(sock);
    if (stream->protocol == VSOCK_NOTIFY_PKT && !stream->sent_waiting_write) {  /* R180 */
        stream->sent_waiting_write = true;
        send_waiting_write(sock, call);
    }
}

static void notify_poll_in(struct vsock_sock *sock)
{
    struct vsock_stream *stream = stream_of(sock);
    if (stream->qpair == NULL || vmci_qpair_consume_buf_ready(stream->qpair) != 0)
        return;
    window_grow(stream);                                                        /* R178 */
    if (stream->protocol == VSOCK_NOTIFY_PKT && !stream->sent_waiting_read) {
        stream->sent_waiting_read = true;
        send_waiting_read(sock, 1, NULL);
    }
}

/* ---- The operations table ------------------------------------------------------------------ */

static int stream_init(struct vsock_sock *sock, struct vsock_sock *parent)
{
    (void)parent;
    struct vsock_stream *stream = stream_of(sock);      /* zeroed, with the socket */
    assert(stream != NULL);
    stream->qp_handle = VMCI_INVALID_HANDLE;
    stream->write_notify_window = VSOCK_NOTIFY_WINDOW_STEP;
    stream->write_notify_min_window = VSOCK_NOTIFY_WINDOW_STEP;
    return 0;
}

static int64_t stream_has_data(const struct vsock_sock *sock);

static void stream_release(struct vsock_sock *sock, struct vsock_call *call)
{
    struct vsock_stream *stream = stream_of(sock);
    struct vsock_vmci *transport = transport_of(sock);
    /* R126: close detaches at once; what this socket had not read is gone with it (a
     * host socket whose peer detached lost its bytes then, and has none now). */
    int64_t unread = stream_has_data(sock);
    if (unread > 0)
        trace_discarded(sock, unread, "closed_unread", "R126");
    if (stream->late_timer != SIM_EVENT_NONE) {
        /* A packet still held back goes with the socket: the detach below tells the peer
         * more than it would (R171: both directions shut, done). Sending it here instead
         * would use the device of a guest being powered off while suspended. */
        sim_engine_cancel(sock->stack->engine, stream->late_timer);
        stream->late_timer = SIM_EVENT_NONE;
    }
    if (stream->detach_subscribed) {
        vmci_event_unsubscribe(transport->kernel, stream->detach_subscription);
        stream->detach_subscribed = false;
    }
    if (stream->qpair != NULL) {
        vmci_qpair_detach(stream->qpair, &call->cost_ns);                       /* R126 */
        stream->qpair = NULL;
    }
}

/* Memory only: at world teardown the hypervisor frees queue pairs itself; a socket still
 * attached (a daemon's, at the end of a run) frees just its handle. */
static void stream_destruct(struct vsock_sock *sock)
{
    struct vsock_stream *stream = stream_of(sock);
    if (stream != NULL && stream->late_timer != SIM_EVENT_NONE) {
        /* Freed without a release (world teardown, power-off): the packet goes nowhere. */
        sim_engine_cancel(sock->stack->engine, stream->late_timer);
        stream->late_timer = SIM_EVENT_NONE;
    }
    if (stream != NULL && stream->qpair != NULL) {
        vmci_qpair_release(stream->qpair);
        stream->qpair = NULL;
    }
}

static int stream_connect(struct vsock_sock *sock, struct vsock_call *call)
{
    struct vsock_stream *stream = stream_of(sock);
    bool version1 = transport_of(sock)->force_v1;
    stream->sent_request2 = !version1;                                          /* R155 */
    int64_t rc = send_to_peer(sock, version1 ? VSOCK_PACKET_REQUEST : VSOCK_PACKET_REQUEST2,
                              sock->buffer_size, version1 ? 0 : VSOCK_PROTO_PKT_ON_NOTIFY, call);
    return rc < 0 ? vsock_vmci_error_to_errno(rc) : 0;
}

/* `written`: for an enqueue, the `moved` bytes as the application gave them (its buffer,
 * not the ring: a write that wraps around the ring is still one contiguous sequence in the
 * event), stored as the event's `data` payload; NULL for a dequeue or a peek. The digest
 * skips the payload: the qp_data event of the same write carries the running hash of the
 * queue's bytes. A write above SIM_TRACE_BYTES_MAX keeps its first SIM_TRACE_BYTES_MAX bytes
 * (`bytes` says how many moved, so a reader sees the cut). Inline (forced), so that each
 * caller's literal kind is measured by the compiler and not at every operation. */
SIM_TRACE_INLINE void trace_ring(struct vsock_sock *sock, const char *kind, int64_t moved,
                              int64_t position, const void *written)
{
    assert(moved > 0);
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_TRANSPORT, kind, vsock_stack_local_cid(sock->stack),
                         sock->credentials.pid);
    sim_trace_field_u64(&event, "port", sock->local.port);
    sim_trace_field_i64(&event, "bytes", moved);
    sim_trace_field_i64(&event, "position", position);   /* tail or head after the move */
    /* Which socket: the port alone does not tell a listener's children apart. */
    sim_trace_field_u64(&event, "socket", sock->id);
    if (written != NULL) {
        uint64_t stored_bytes = (uint64_t)moved < SIM_TRACE_BYTES_MAX ? (uint64_t)moved
                                                                       : SIM_TRACE_BYTES_MAX;
        sim_trace_field_payload(&event, "data", written, (uint32_t)stored_bytes);
    }
    (void)sim_engine_emit(sock->stack->engine, &event);
}

static int64_t stream_enqueue(struct vsock_sock *sock, const void *source, uint64_t size_bytes,
                              struct vsock_call *call)
{
    struct vsock_stream *stream = stream_of(sock);
    if (stream->qpair == NULL)
        return -ENOTCONN;
    /* The tail before and after, read by the enqueue itself (no query of its own). */
    struct vmci_qpair_position tail;
    int64_t rc = vmci_qpair_enqueue_at(stream->qpair, source, size_bytes, &call->cost_ns, &tail);
    if (rc > 0) {
        assert(tail.before < stream->queue_size && tail.after < stream->queue_size);
        trace_ring(sock, "qp_enqueue", rc, (int64_t)tail.after, source);
        if ((uint64_t)rc >= stream->queue_size - tail.before)
            stream->produce_generation++;                                       /* R180 */
        /* The notification the core's notify_send_post_enqueue hook would send next (this
         * transport leaves the hook unset): here, with the queue's state the enqueue read. */
        notify_send_post_enqueue(sock, (uint64_t)rc, tail.ready_bytes_after, call);
    }
    if (rc == VMCI_ERROR_QUEUEPAIR_NOSPACE)
        return 0;
    return rc < 0 ? -EIO : rc;
}

/* Copies into `target`, or with `target` NULL leaves the bytes in the ring and says where
 * in *in_place (vsock_recv_in_place); the events and counts are the same. */
static int64_t stream_dequeue(struct vsock_sock *sock, void *target, uint64_t size_bytes, bool peek,
                              struct vsock_bytes *in_place, struct vsock_call *call)
{
    assert(target != NULL || in_place != NULL || size_bytes == 0);
    struct vsock_stream *stream = stream_of(sock);
    if (stream->qpair == NULL)
        return -ENOTCONN;
    /* The head before and after, read by the dequeue itself (no query of its own). */
    struct vmci_qpair_position head;
    struct vmci_ring_bytes bytes;
    int64_t rc = vmci_qpair_consume_at(stream->qpair, target, size_bytes, peek,
                                       in_place != NULL ? &bytes : NULL, &call->cost_ns, &head);
    if (in_place != NULL)
        *in_place = (struct vsock_bytes){ .first = bytes.first, .first_bytes = bytes.first_bytes,
                                          .second = bytes.second,
                                          .second_bytes = bytes.second_bytes };
    if (rc > 0) {
        assert(head.before < stream->queue_size && head.after < stream->queue_size);
        if (peek)
            trace_ring(sock, "qp_peek", rc, (int64_t)head.after, NULL);
        else
            trace_ring(sock, "qp_dequeue", rc, (int64_t)head.after, NULL);
        if (!peek && (uint64_t)rc >= stream->queue_size - head.before)
            stream->consume_generation++;                                       /* R180 */
        /* Likewise the core's notify_recv_post_dequeue hook (unset), which a peek skips. */
        if (!peek)
            notify_recv_post_dequeue(sock, (uint64_t)rc, head.free_bytes_after, call);
    }
    if (rc == VMCI_ERROR_QUEUEPAIR_NODATA)
        return 0;
    return rc < 0 ? -EIO : rc;
}

static int64_t stream_has_data(const struct vsock_sock *sock)
{
    const struct vsock_stream *stream = stream_of(sock);
    if (stream->qpair == NULL)
        return 0;
    int64_t ready = vmci_qpair_consume_buf_ready(stream->qpair);
    /* R171: a host-side socket loses unread data when its peer detaches. */
    if (ready == VMCI_ERROR_NOT_FOUND || (sock->done && sock->stack->is_host &&
                                          sock->tcp == VSOCK_TCP_CLOSE))
        return 0;
    return ready;
}

static int64_t stream_has_space(const struct vsock_sock *sock)
{
    const struct vsock_stream *stream = stream_of(sock);
    if (stream->qpair == NULL)
        return 0;
    int64_t space = vmci_qpair_produce_free_space(stream->qpair);
    return space == VMCI_ERROR_NOT_FOUND ? 0 : space;
}

static uint64_t stream_rcvhiwat(const struct vsock_sock *sock)
{
    const struct vsock_stream *stream = stream_of(sock);
    return stream->queue_size != 0 ? stream->queue_size : sock->buffer_size;
}

static bool stream_is_active(const struct vsock_sock *sock)
{
    return stream_of(sock)->qpair != NULL;
}

static void stream_prefetch(const struct vsock_sock *sock)
{
    const struct vsock_stream *stream = stream_of(sock);
    if (stream->qpair != NULL)
        vmci_qpair_prefetch(stream->qpair);
}

static void stream_prefetch_spans(const struct vsock_sock *sock,
                                  struct sim_prefetch_spans *spans)
{
    const struct vsock_stream *stream = stream_of(sock);
    if (stream->qpair != NULL)
        vmci_qpair_prefetch_spans(stream->qpair, spans);
}

static int stream_shutdown(struct vsock_sock *sock, uint32_t mode, struct vsock_call *call)
{
    if (send_late(sock, VSOCK_PACKET_SHUTDOWN, mode, VMCI_FAULT_SHUTDOWN_LATE))
        return 0;                           /* shutdown_late: it leaves later */
    int64_t rc = send_to_peer(sock, VSOCK_PACKET_SHUTDOWN, mode, 0, call);      /* R174 */
    return rc < 0 ? vsock_vmci_error_to_errno(rc) : 0;
}

static uint32_t local_cid(const struct vsock_stack *stack)
{
    const struct vsock_vmci *transport = stack->transport;
    return vmci_kernel_cid(transport->kernel);
}

/* The port_space_exhausted fault site (docs/faults.md). */
static bool stream_fault_ports_exhausted(const struct vsock_sock *sock)
{
    struct vsock_vmci *transport = transport_of(sock);
    return vmci_fault(vmci_kernel_faults(transport->kernel), VMCI_FAULT_PORT_SPACE_EXHAUSTED,
                      vmci_kernel_cid(transport->kernel));
}

static bool stream_fault_send_short(const struct vsock_sock *sock)
{
    return fault_fires(sock, VMCI_FAULT_SEND_SHORT);
}

static bool stream_fault_recv_short(const struct vsock_sock *sock)
{
    return fault_fires(sock, VMCI_FAULT_RECV_SHORT);
}

static uint64_t stream_fault_accept_delay_ns(const struct vsock_sock *listener)
{
    return fault_fires(listener, VMCI_FAULT_ACCEPT_SLOW) ? fault_delay_ns(listener) : 0;
}

const struct vsock_transport_ops vsock_vmci_stream_ops = {
    .name = "vmci_stream",
    .state_bytes = sizeof(struct vsock_stream),
    .fault_ports_exhausted = stream_fault_ports_exhausted,
    .fault_send_short = stream_fault_send_short,
    .fault_recv_short = stream_fault_recv_short,
    .fault_accept_delay_ns = stream_fault_accept_delay_ns,
    .init = stream_init,
    .release = stream_release,
    .destruct = stream_destruct,
    .allow_cid = allow_cid,
    .connect = stream_connect,
    .stream_enqueue = stream_enqueue,
    .stream_dequeue = stream_dequeue,
    .stream_has_data = stream_has_data,
    .stream_has_space = stream_has_space,
    .stream_rcvhiwat = stream_rcvhiwat,
    .stream_is_active = stream_is_active,
    .prefetch = stream_prefetch,
    .prefetch_spans = stream_prefetch_spans,
    .shutdown = stream_shutdown,
    .notify_recv_init = notify_recv_init,
    .notify_recv_pre_block = notify_recv_pre_block,
    /* notify_recv_post_dequeue and notify_send_post_enqueue: unset, stream_dequeue and
     * stream_enqueue notify themselves with the queue state their operation reported. */
    .notify_send_pre_block = notify_send_pre_block,
    .notify_poll_in = notify_poll_in,
    .local_cid = local_cid,
};
