/* SPDX-License-Identifier: MIT */
/*
 * vsock/vmci_transport.h: the VMCI transports of one kernel's vSockets stack
 * (reference sections 7 and 8): the stream transport (control packets as VMCI
 * datagrams, data through queue pairs) and the datagram transport.
 */
#ifndef VSOCK_VMCI_TRANSPORT_H
#define VSOCK_VMCI_TRANSPORT_H

#include "core.h"
#include "vmci/vmci.h"

/* The control packet (R147): 24-byte datagram header + 32-byte payload. */
#define VSOCK_PACKET_BYTES 56u
#define VSOCK_PACKET_PAYLOAD_BYTES 32u
#define VSOCK_PACKET_VERSION 1u
#define VSOCK_PROTO_PKT_ON_NOTIFY 1u
#define VSOCK_MAX_DGRAM_RESENDS 10u
#define VSOCK_NOTIFY_WINDOW_STEP 4096u

/* Datagram receive queues (R189). Each datagram counts as header + payload. */
#define VSOCK_DGRAM_ENTRY_OVERHEAD_BYTES 24u    /* VMCI_DG_HEADERSIZE, as R189 counts */
/* Bounds one socket's queue whatever SO_RCVBUF says: 78 times the default 212992, above
 * what Linux lets an unprivileged SO_RCVBUF reach (2 * rmem_max = 425984). */
#define VSOCK_DGRAM_QUEUE_BYTES_MAX (16u * 1024u * 1024u)
/* Zero-length datagrams cost 24 bytes each: 16 MiB / 24 < 2^20. */
#define VSOCK_DGRAM_QUEUE_DATAGRAMS_MAX (1u << 20)
_Static_assert(VSOCK_DGRAM_QUEUE_BYTES_MAX / VSOCK_DGRAM_ENTRY_OVERHEAD_BYTES <
                   VSOCK_DGRAM_QUEUE_DATAGRAMS_MAX,
               "the byte limit binds before the datagram count");

enum vsock_packet_type {
    VSOCK_PACKET_INVALID = 0,
    VSOCK_PACKET_REQUEST = 1,
    VSOCK_PACKET_NEGOTIATE = 2,
    VSOCK_PACKET_OFFER = 3,
    VSOCK_PACKET_ATTACH = 4,
    VSOCK_PACKET_WROTE = 5,
    VSOCK_PACKET_READ = 6,
    VSOCK_PACKET_RST = 7,
    VSOCK_PACKET_SHUTDOWN = 8,
    VSOCK_PACKET_WAITING_WRITE = 9,
    VSOCK_PACKET_WAITING_READ = 10,
    VSOCK_PACKET_REQUEST2 = 11,
    VSOCK_PACKET_NEGOTIATE2 = 12,
    VSOCK_PACKET_MAX = 13,
};

const char *vsock_packet_type_name(uint32_t type);

/* Per-kernel transport state; one per stack. */
struct vsock_vmci {
    struct vmci_kernel *kernel;             /* borrowed */
    struct vsock_stack *stack;              /* borrowed */
    struct vmci_handle control;             /* {ANY, 1} (R22) */
    bool control_open;
    bool force_v1;                          /* send REQUEST (v1) instead of REQUEST2 */
};

/* Creates the stack's control handle; the kernel must be ready. Returns a VMCI code. */
int vsock_vmci_start(struct vsock_vmci *transport, struct vmci_kernel *kernel,
                     struct vsock_stack *stack);
extern const struct vsock_transport_ops vsock_vmci_stream_ops;
extern const struct vsock_transport_ops vsock_vmci_dgram_ops;
/* R63: VMCI result -> negative errno. */
int vsock_vmci_error_to_errno(int64_t vmci_error);

#endif /* VSOCK_VMCI_TRANSPORT_H */
