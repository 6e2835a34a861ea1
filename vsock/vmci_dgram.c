/* SPDX-License-Identifier: MIT */
/*
 * vsock/vmci_dgram.c: the VMCI datagram transport (reference section 8).
 *
 * A vSockets datagram is one raw VMCI datagram: dst = {peer CID, peer port},
 * src = {local CID, local port}, payload = the user's bytes. There is no control
 * packet and no connection. A bound socket owns one VMCI datagram handle whose
 * RID is its port (R15); the handle's receive callback (an engine event, never
 * inside the sender's call) appends to the socket's receive queue, and recv
 * takes one datagram per call (R188). On the host the handle also has a filter
 * that runs inside the sender's call, so an R190 refusal reaches the sender.
 *
 * Invariants:
 *   DG1  queued_bytes = sum over the queue of (VSOCK_DGRAM_ENTRY_OVERHEAD_BYTES + payload),
 *        and queued_datagrams is the queue's length.
 *   DG2  A datagram is appended only while queued_bytes < min(SO_RCVBUF,
 *        VSOCK_DGRAM_QUEUE_BYTES_MAX) and queued_datagrams < VSOCK_DGRAM_QUEUE_DATAGRAMS_MAX
 *        (R189), so one socket never holds more than the limit plus one datagram.
 *   DG3  handle_open iff the socket is bound and not yet released; the handle's callback
 *        state is the socket, which outlives the handle (release destroys it, R127).
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmci_stream_int.h"

/* One received datagram, payload inline. */
struct dgram_entry {
    struct dgram_entry *next;
    struct vsock_addr from;                 /* {src.context, src.resource} (R188) */
    uint64_t payload_bytes;
    uint8_t payload[];
};

/* Per-socket datagram transport state. */
struct vsock_dgram {
    struct vmci_handle handle;              /* {local CID or ANY, port} once bound */
    bool handle_open;                       /* DG3 */
    struct dgram_entry *head;               /* owned: the receive queue, oldest first */
    struct dgram_entry *tail;
    uint64_t queued_bytes;                  /* DG1: counted as R189 says */
    uint32_t queued_datagrams;
};

static struct vsock_vmci *transport_of(const struct vsock_sock *sock)
{
    return sock->stack->transport;
}

static struct vsock_dgram *dgram_of(const struct vsock_sock *sock)
{
    return sock->transport;
}

/* R189 with the transport's own bound: SO_RCVBUF, never above the named limit. */
static uint64_t queue_limit_bytes(const struct vsock_sock *sock)
{
    return sock->rcvbuf < VSOCK_DGRAM_QUEUE_BYTES_MAX ? sock->rcvbuf : VSOCK_DGRAM_QUEUE_BYTES_MAX;
}

static void trace_rule(const struct vsock_sock *sock, const char *kind, const char *rule,
                       uint32_t peer_cid, uint32_t peer_port, uint64_t payload_bytes)
{
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_TRANSPORT, kind, vsock_stack_local_cid(sock->stack),
                         sock->credentials.pid);
    sim_trace_field_str(&event, "rule", rule);
    sim_trace_field_u64(&event, "port", sock->local.port);
    sim_trace_field_u64(&event, "peer", ((uint64_t)peer_cid << 32) | peer_port);
    sim_trace_field_u64(&event, "size", payload_bytes);
    (void)sim_engine_emit(sock->stack->engine, &event);
}

/* A datagram this socket drops (R189's full queue, or no memory): silent for the sockets,
 * never for the trace: one `data_discarded` with its reason (docs/sockets.md). */
static void trace_discarded(const struct vsock_sock *sock, const char *reason, const char *rule,
                            uint32_t peer_cid, uint32_t peer_port, uint64_t payload_bytes)
{
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_TRANSPORT, "data_discarded",
                         vsock_stack_local_cid(sock->stack), sock->credentials.pid);
    sim_trace_field_str(&event, "reason", reason);
    sim_trace_field_str(&event, "rule", rule);
    sim_trace_field_u64(&event, "count", 1);
    sim_trace_field_u64(&event, "bytes", payload_bytes);
    sim_trace_field_u64(&event, "port", sock->local.port);
    sim_trace_field_u64(&event, "peer", ((uint64_t)peer_cid << 32) | peer_port);
    (void)sim_engine_emit(sock->stack->engine, &event);
}

/* The handle's receive callback (R189, R190): queue the datagram or drop it silently. */
static void recv_dgram(void *state, const struct vmci_datagram_header *header,
                       const uint8_t *payload)
{
    struct vsock_sock *sock = state;
    struct vsock_dgram *dgram = dgram_of(sock);
    assert(dgram->handle_open);                                                 /* DG3 */
    assert(header->payload_size <= VMCI_MAX_DG_PAYLOAD_SIZE);
    uint32_t src_cid = header->src.context;
    uint32_t src_port = header->src.resource;
    if (!vsock__vmci_allow_cid(sock, src_cid)) {
        trace_rule(sock, "dgram_denied", "R190", src_cid, src_port, header->payload_size);
        return;
    }
    if (vmci_fault(vmci_kernel_faults(transport_of(sock)->kernel), VMCI_FAULT_DGRAM_DROP,
                   vsock_stack_local_cid(sock->stack))) {
        trace_discarded(sock, "fault_dgram_drop", "fault", src_cid, src_port,
                        header->payload_size);  /* as R189's full queue does: silently */
        return;
    }
    if (dgram->queued_bytes >= queue_limit_bytes(sock) ||
        dgram->queued_datagrams >= VSOCK_DGRAM_QUEUE_DATAGRAMS_MAX) {
        trace_discarded(sock, "receive_queue_full", "R189", src_cid, src_port,
                        header->payload_size);
        return;
    }
    struct dgram_entry *entry = malloc(sizeof(*entry) + header->payload_size);
    if (entry == NULL) {
        trace_discarded(sock, "out_of_memory", "ENOMEM", src_cid, src_port,
                        header->payload_size);
        return;
    }
    entry->next = NULL;
    entry->from = (struct vsock_addr){ src_cid, src_port };
    entry->payload_bytes = header->payload_size;
    if (header->payload_size > 0)
        memcpy(entry->payload, payload, header->payload_size);
    if (dgram->tail != NULL)
        dgram->tail->next = entry;
    else
        dgram->head = entry;
    dgram->tail = entry;
    dgram->queued_bytes += VSOCK_DGRAM_ENTRY_OVERHEAD_BYTES + entry->payload_bytes;    /* DG1 */
    dgram->queued_datagrams++;
    assert(dgram->queued_datagrams <= VSOCK_DGRAM_QUEUE_DATAGRAMS_MAX);
    vsock_sock_wake(sock);
}

/* R190 on the host, where a handle's verdict reaches the sender inside its call (R55):
 * refuse what the socket's R153 check would drop, so the sender gets EPERM. With the
 * handle's identity set as dgram_bind sets it, the hypervisor's R51 check already
 * refuses the same datagrams; this keeps the socket's own rule authoritative. Reads only. */
static int filter_dgram(void *state, const struct vmci_datagram_header *header,
                        const uint8_t *payload)
{
    (void)payload;
    const struct vsock_sock *sock = state;
    return vsock__vmci_allow_cid(sock, header->src.context) ? VMCI_SUCCESS : VMCI_ERROR_NO_ACCESS;
}

/* ---- The operations table ------------------------------------------------------------------ */

static int dgram_init(struct vsock_sock *sock, struct vsock_sock *parent)
{
    assert(parent == NULL);                 /* datagram sockets have no listener */
    struct vsock_dgram *dgram = dgram_of(sock);         /* zeroed, with the socket */
    assert(dgram != NULL);
    dgram->handle = VMCI_INVALID_HANDLE;
    return 0;
}

/* close(): destroys the handle, so later datagrams to the port are refused (host, R55)
 * or dropped (guest, R42). Queued datagrams stay until destruct frees them. */
static void dgram_release(struct vsock_sock *sock, struct vsock_call *call)
{
    (void)call;
    struct vsock_dgram *dgram = dgram_of(sock);
    if (!dgram->handle_open)
        return;
    /* R127. NOT_FOUND (a handle the kernel already dropped) leaves nothing to undo. */
    (void)vmci_dg_destroy(transport_of(sock)->kernel, dgram->handle);
    dgram->handle_open = false;
}

/* Memory only: at world teardown the hypervisor frees its handles itself. */
static void dgram_destruct(struct vsock_sock *sock)
{
    struct vsock_dgram *dgram = dgram_of(sock);
    if (dgram == NULL)
        return;
    uint32_t freed = 0;
    while (dgram->head != NULL) {
        struct dgram_entry *entry = dgram->head;
        dgram->head = entry->next;
        free(entry);
        freed++;
    }
    assert(freed == dgram->queued_datagrams);                                   /* DG1 */
    dgram->queued_datagrams = 0;            /* its memory goes with the socket's */
    dgram->queued_bytes = 0;
}

/* R15, R16, R22, R60: the socket's datagram handle; the RID is the port. A trusted
 * socket asks for TRUSTED first and falls back when the kernel refuses (guests). */
static int dgram_bind(struct vsock_sock *sock, struct vsock_addr *addr)
{
    struct vsock_dgram *dgram = dgram_of(sock);
    assert(!dgram->handle_open);            /* the core refuses a second bind (R18) */
    struct vsock_vmci *transport = transport_of(sock);
    uint32_t rid = addr->port == VSOCK_PORT_ANY ? VMCI_INVALID_ID : addr->port;
    uint32_t flags = addr->cid == VSOCK_CID_ANY ? VMCI_FLAG_ANYCID_DG_HND : VMCI_FLAG_DG_NONE;
    struct vmci_identity identity = vsock__vmci_identity_of(sock);
    bool trusted = identity.trusted || identity.owner_rule;
    struct vmci_handle handle = VMCI_INVALID_HANDLE;
    int rc = vmci_dg_create(transport->kernel, rid, flags, trusted ? &identity : NULL,
                            recv_dgram, sock, &handle);
    if (rc == VMCI_ERROR_NO_ACCESS && trusted)
        rc = vmci_dg_create(transport->kernel, rid, flags, NULL, recv_dgram, sock, &handle);
    if (rc < VMCI_SUCCESS)
        return vsock_vmci_error_to_errno(rc);                                   /* R63, R103 */
    if (vmci_kernel_is_host(transport->kernel)) {
        rc = vmci_dg_set_filter(transport->kernel, handle, filter_dgram);       /* R190 */
        assert(rc == VMCI_SUCCESS);         /* the handle was just made, in a host kernel */
        (void)rc;
    }
    assert(rid == VMCI_INVALID_ID || handle.resource == rid);
    assert(handle.resource > VMCI_RESERVED_RESOURCE_ID_MAX || rid != VMCI_INVALID_ID);  /* R23 */
    dgram->handle = handle;
    dgram->handle_open = true;
    addr->port = handle.resource;                                               /* R15 */
    return 0;
}

/* R185 from EMSGSIZE on (the core checked the rest): one VMCI datagram, or an errno. */
static int64_t dgram_enqueue(struct vsock_sock *sock, const struct vsock_addr *to,
                             const void *source, uint64_t size_bytes, struct vsock_call *call)
{
    struct vsock_dgram *dgram = dgram_of(sock);
    assert(dgram->handle_open);             /* the core auto-binds first (R19) */
    assert(to->port != VSOCK_PORT_ANY && to->cid != VSOCK_CID_ANY);
    if (size_bytes > VMCI_MAX_DG_PAYLOAD_SIZE)
        return -EMSGSIZE;                                                       /* R185 */
    if (!vsock__vmci_allow_cid(sock, to->cid)) {
        trace_rule(sock, "dgram_denied", "R153", to->cid, to->port, size_bytes);
        return -EPERM;
    }
    struct vsock_vmci *transport = transport_of(sock);
    /* dgram_send_nobufs: R186's ENOBUFS for a destination VM whose queue is full. */
    if (vmci_context_is_vm(to->cid) &&
        vmci_fault(vmci_kernel_faults(transport->kernel), VMCI_FAULT_DGRAM_SEND_NOBUFS,
                   vsock_stack_local_cid(sock->stack)))
        return -ENOBUFS;
    /* A socket bound to CID ANY sends as the kernel's current CID (R210). */
    uint32_t src_cid = sock->local.cid != VSOCK_CID_ANY ? sock->local.cid
                                                        : vmci_kernel_cid(transport->kernel);
    struct vmci_datagram_header header = {
        .dst = { to->cid, to->port }, .src = { src_cid, sock->local.port },
        .payload_size = size_bytes,
    };
    int64_t result = vmci_dg_send(transport->kernel, &header, source, &call->cost_ns);
    if (result < 0)
        return vsock_vmci_error_to_errno(result);                               /* R63, R186 */
    return (int64_t)size_bytes;
}

/* R188: one datagram per call; a short buffer truncates it and the rest is discarded;
 * MSG_PEEK leaves it queued. */
static int64_t dgram_dequeue(struct vsock_sock *sock, void *target, uint64_t size_bytes,
                             uint32_t flags, struct vsock_addr *from, bool *truncated)
{
    struct vsock_dgram *dgram = dgram_of(sock);
    struct dgram_entry *entry = dgram->head;
    if (entry == NULL)
        return -EAGAIN;                     /* the core asks dgram_has_data first */
    uint64_t copied = entry->payload_bytes < size_bytes ? entry->payload_bytes : size_bytes;
    if (copied > 0)
        memcpy(target, entry->payload, copied);
    if (from != NULL)
        *from = entry->from;
    if (truncated != NULL)
        *truncated = entry->payload_bytes > size_bytes;
    if (!(flags & VSOCK_MSG_PEEK)) {
        dgram->head = entry->next;
        if (dgram->head == NULL)
            dgram->tail = NULL;
        uint64_t charged = VSOCK_DGRAM_ENTRY_OVERHEAD_BYTES + entry->payload_bytes;
        assert(dgram->queued_bytes >= charged && dgram->queued_datagrams > 0);  /* DG1 */
        dgram->queued_bytes -= charged;
        dgram->queued_datagrams--;
        free(entry);
    }
    assert(copied <= size_bytes);
    return (int64_t)copied;
}

static bool dgram_has_data(const struct vsock_sock *sock)
{
    return dgram_of(sock)->head != NULL;
}

static bool dgram_allow_cid(const struct vsock_sock *sock, uint32_t cid)
{
    return vsock__vmci_allow_cid(sock, cid);
}

static uint32_t local_cid(const struct vsock_stack *stack)
{
    const struct vsock_vmci *transport = stack->transport;
    return vmci_kernel_cid(transport->kernel);
}

const struct vsock_transport_ops vsock_vmci_dgram_ops = {
    .name = "vmci_dgram",
    .state_bytes = sizeof(struct vsock_dgram),
    .init = dgram_init,
    .release = dgram_release,
    .destruct = dgram_destruct,
    .bind = dgram_bind,
    .allow_cid = dgram_allow_cid,
    .dgram_enqueue = dgram_enqueue,
    .dgram_dequeue = dgram_dequeue,
    .dgram_has_data = dgram_has_data,
    .local_cid = local_cid,
};
