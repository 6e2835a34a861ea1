/* SPDX-License-Identifier: MIT */
/*
 * vsock/vmci_packet.c: control packets of the VMCI stream transport (7.1) and
 * what both VMCI transports share: the error mapping of R63, the peer rule of
 * R153 and the identity a socket's VMCI endpoints carry (R50). Packets are built
 * and parsed field by field (little-endian), every one traced at the transport layer.
 */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "vmci_stream_int.h"

/* The names of the packet types with their lengths, measured by the compiler: every
 * packet's two events carry one, and strlen() at each was a tenth of building them. */
#define TYPE_NAME(text) { text, sizeof(text) - 1u }
static const struct {
    const char *text;
    uint32_t bytes;
} type_names[VSOCK_PACKET_MAX + 1] = {
    TYPE_NAME("INVALID"), TYPE_NAME("REQUEST"), TYPE_NAME("NEGOTIATE"), TYPE_NAME("OFFER"),
    TYPE_NAME("ATTACH"), TYPE_NAME("WROTE"), TYPE_NAME("READ"), TYPE_NAME("RST"),
    TYPE_NAME("SHUTDOWN"), TYPE_NAME("WAITING_WRITE"), TYPE_NAME("WAITING_READ"),
    TYPE_NAME("REQUEST2"), TYPE_NAME("NEGOTIATE2"),
    TYPE_NAME("UNKNOWN"),       /* [VSOCK_PACKET_MAX]: every type past the last */
};
#undef TYPE_NAME

static uint32_t type_name_index(uint32_t type)
{
    return type < VSOCK_PACKET_MAX ? type : VSOCK_PACKET_MAX;
}

const char *vsock_packet_type_name(uint32_t type)
{
    return type_names[type_name_index(type)].text;
}

int vsock_vmci_error_to_errno(int64_t vmci_error)
{
    switch (vmci_error) {                                                       /* R63 */
    case VMCI_ERROR_NO_MEM: return -ENOMEM;
    case VMCI_ERROR_DUPLICATE_ENTRY: case VMCI_ERROR_ALREADY_EXISTS: return -EADDRINUSE;
    case VMCI_ERROR_NO_ACCESS: return -EPERM;
    case VMCI_ERROR_NO_RESOURCES: return -ENOBUFS;
    case VMCI_ERROR_INVALID_RESOURCE: return -EHOSTUNREACH;
    default: return -EINVAL;
    }
}

/* R153: a socket may exchange packets or datagrams with CID `cid` iff cid is the
 * hypervisor, the socket is trusted, its owner owns VM `cid` (D10), or `cid` is not
 * RESTRICTED. Restriction governs traffic between contexts: a kernel may always talk to
 * itself (D8). D17, R186: inside a guest the check sees no privilege flags of other
 * contexts (Linux `vmci_context_get_priv_flags` returns none when no host code is
 * active), so a guest socket never refuses here: a forbidden peer is refused by the
 * hypervisor (R51/R56/R197: NO_ACCESS -> EPERM, a CID that is not live ->
 * DST_UNREACHABLE -> EINVAL). */
bool vsock__vmci_allow_cid(const struct vsock_sock *sock, uint32_t cid)
{
    const struct vsock_vmci *transport = sock->stack->transport;
    if (cid == VMCI_HYPERVISOR_CONTEXT_ID || sock->credentials.trusted)
        return true;
    if (cid == vmci_kernel_cid(transport->kernel))
        return true;                                                            /* D8 */
    if (sock->credentials.owner_rule && vmci_context_is_vm(cid) &&
        strcmp(vmci_peer_owner(transport->kernel, cid), sock->credentials.user) == 0)
        return true;                                                            /* D10 */
    uint32_t flags = vmci_kernel_is_host(transport->kernel)
                         ? vmci_peer_flags(transport->kernel, cid)
                         : VMCI_NO_PRIVILEGE_FLAGS;                             /* D17 */
    return (flags & VMCI_PRIVILEGE_FLAG_RESTRICTED) == 0;
}

struct vmci_identity vsock__vmci_identity_of(const struct vsock_sock *sock)
{
    struct vmci_identity identity = { .trusted = sock->credentials.trusted,
                                      .owner_rule = sock->credentials.owner_rule };
    memcpy(identity.user, sock->credentials.user, sizeof(identity.user));
    return identity;
}

void vsock__packet_encode(uint8_t payload[VSOCK_PACKET_PAYLOAD_BYTES],
                          const struct vsock_packet *packet)
{
    memset(payload, 0, VSOCK_PACKET_PAYLOAD_BYTES);
    payload[0] = VSOCK_PACKET_VERSION;                                          /* R147 */
    payload[1] = (uint8_t)packet->type;
    payload[2] = (uint8_t)packet->proto;
    payload[3] = (uint8_t)(packet->proto >> 8);
    vmci_write_u32(payload + 4, packet->src_port);
    vmci_write_u32(payload + 8, packet->dst_port);
    vmci_write_u64(payload + 16, packet->u0);
    vmci_write_u64(payload + 24, packet->u1);
}

void vsock__packet_decode(const struct vmci_datagram_header *header, const uint8_t *payload,
                          struct vsock_packet *packet)
{
    memset(packet, 0, sizeof(*packet));
    packet->dst = header->dst;
    packet->src = header->src;
    packet->type = payload[1];
    packet->proto = (uint16_t)(payload[2] | (payload[3] << 8));
    packet->src_port = vmci_read_u32(payload + 4);
    packet->dst_port = vmci_read_u32(payload + 8);
    packet->u0 = vmci_read_u64(payload + 16);
    packet->u1 = vmci_read_u64(payload + 24);
}

/* Inline (forced: the compiler would rather call one copy), so that each caller's literal
 * kind is measured by the compiler and not at every packet. */
SIM_TRACE_INLINE void trace_packet(struct vsock_vmci *transport, const char *kind,
                                const struct vsock_packet *packet, int64_t result, uint32_t pid)
{
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_TRANSPORT, kind, vmci_kernel_cid(transport->kernel), pid);
    uint32_t type = type_name_index(packet->type);
    sim_trace_field_strn(&event, "type", type_names[type].text, type_names[type].bytes);
    sim_trace_field_u64(&event, "src", ((uint64_t)packet->src.context << 32) | packet->src_port);
    sim_trace_field_u64(&event, "dst", ((uint64_t)packet->dst.context << 32) | packet->dst_port);
    sim_trace_field_u64(&event, "u0", packet->u0);
    sim_trace_field_u64(&event, "u1", packet->u1);
    sim_trace_field_u64(&event, "proto", packet->proto);
    if (result != 0)
        sim_trace_field_i64(&event, "result", result);
    (void)sim_engine_emit(transport->stack->engine, &event);
}

void vsock__packet_trace_received(struct vsock_vmci *transport, const struct vsock_packet *packet)
{
    trace_packet(transport, "pkt_recv", packet, 0, 0);
}

int64_t vsock__packet_send(struct vsock_vmci *transport, struct vsock_packet *packet,
                           uint64_t *cost_ns, uint32_t pid)
{
    uint32_t local_cid = vmci_kernel_cid(transport->kernel);
    packet->src.context = local_cid;
    packet->src.resource = VMCI_TRANSPORT_PACKET_RID;                           /* R22 */
    packet->dst.resource = packet->dst.context == VMCI_HYPERVISOR_CONTEXT_ID
                               ? VMCI_TRANSPORT_HYPERVISOR_PACKET_RID : VMCI_TRANSPORT_PACKET_RID;
    uint8_t payload[VSOCK_PACKET_PAYLOAD_BYTES];
    vsock__packet_encode(payload, packet);
    struct vmci_datagram_header header = {
        .dst = packet->dst, .src = packet->src, .payload_size = VSOCK_PACKET_PAYLOAD_BYTES,
    };
    trace_packet(transport, "pkt_send", packet, 0, pid);   /* before the hops it causes */
    bool waiting = packet->type == VSOCK_PACKET_WAITING_READ ||
                   packet->type == VSOCK_PACKET_WAITING_WRITE;
    if (vmci_fault(vmci_kernel_faults(transport->kernel),
                   waiting ? VMCI_FAULT_WAITING_NOTIFY_LOST : VMCI_FAULT_CONTROL_PACKET_LOST,
                   local_cid))
        return VMCI_SUCCESS;        /* lost after the send succeeded: the sender never knows */
    int64_t result = vmci_dg_send(transport->kernel, &header, payload, cost_ns);
    if (result < 0)
        trace_packet(transport, "pkt_send_failed", packet, result, pid);
    return result;
}
