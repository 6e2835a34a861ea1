/* SPDX-License-Identifier: MIT */
/* vsock/vmci_stream_int.h: shared by the files of the VMCI transports only. */
#ifndef VSOCK_VMCI_STREAM_INT_H
#define VSOCK_VMCI_STREAM_INT_H

#include "vmci_transport.h"
#include "vmci/faults.h"

struct vsock_packet {
    struct vmci_handle dst;
    struct vmci_handle src;
    uint32_t type;
    uint16_t proto;
    uint32_t src_port;
    uint32_t dst_port;
    uint64_t u0;        /* size, mode, handle (context | resource << 32) or generation */
    uint64_t u1;        /* wait offset */
};

enum vsock_notify_protocol { VSOCK_NOTIFY_QSTATE = 1, VSOCK_NOTIFY_PKT = 2 };

/* Per-socket stream transport state, allocated with its socket (ops->state_bytes). Its
 * first 64 bytes hold what every send, recv and notification reads or writes (checked
 * below); the handshake and fault fields follow. */
struct vsock_stream {
    struct vmci_qpair *qpair;               /* NULL until the handshake made one */
    uint64_t queue_size;                    /* negotiated Q */
    /* R180: wrap-arounds of each ring, counted as enqueues and dequeues cross its end;
     * WAITING_* name a position as {generation, offset}. */
    uint64_t produce_generation;
    uint64_t consume_generation;
    uint64_t write_notify_window;           /* W */
    uint64_t write_notify_min_window;       /* Wmin */
    sim_event_id late_timer;                /* SIM_EVENT_NONE: nothing held back */
    uint8_t protocol;                       /* an enum vsock_notify_protocol */
    bool peer_waiting_write;                /* R177 */
    bool peer_waiting_read;                 /* R181 */
    bool sent_waiting_read;                 /* R180 */
    bool sent_waiting_write;
    bool window_reduced;                    /* R178: since the last READ */
    bool read_test_on_block;                /* R178: a recv raised W to a new Wmin */
    /* Colder: the handshake, the detach subscription, faults. */
    struct vmci_handle qp_handle;
    bool sent_request2;                     /* R156 */
    bool ignore_next_rst;
    bool detach_subscribed;
    uint32_t detach_subscription;
    /* A control packet a fault site holds back (shutdown_late, wrote_late, read_late):
     * sent when late_timer fires; dropped when the socket is released or freed; at most one. */
    struct vsock_packet late_packet;
};

_Static_assert(offsetof(struct vsock_stream, read_test_on_block) < VSOCK_CACHE_LINE_BYTES,
               "a stream's per-operation fields are in its first 64 bytes");

/* Shared by both VMCI transports (vmci_packet.c). */
bool vsock__vmci_allow_cid(const struct vsock_sock *sock, uint32_t cid);           /* R153 */
struct vmci_identity vsock__vmci_identity_of(const struct vsock_sock *sock);       /* R50 */

/* The 32-byte payload of a control packet (R147); the datagram header is the sender's. */
void vsock__packet_encode(uint8_t payload[VSOCK_PACKET_PAYLOAD_BYTES],
                          const struct vsock_packet *packet);
void vsock__packet_decode(const struct vmci_datagram_header *header, const uint8_t *payload,
                          struct vsock_packet *packet);
int64_t vsock__packet_send(struct vsock_vmci *transport, struct vsock_packet *packet,
                           uint64_t *cost_ns, uint32_t pid);
void vsock__packet_trace_received(struct vsock_vmci *transport, const struct vsock_packet *packet);

#endif /* VSOCK_VMCI_STREAM_INT_H */
