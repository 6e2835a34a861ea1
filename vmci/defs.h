/* SPDX-License-Identifier: MIT */
/*
 * vmci/defs.h: constants and wire structures of the VMCI platform.
 *
 * Values are the reference's (docs/reference/: addresses.md section 2.4, device.md,
 * hypervisor.md, queue-pairs.md, limits.md), which match Linux
 * include/linux/vmw_vmci_defs.h. Wire structures are little-endian and naturally
 * aligned; code reads and writes them with the helpers at the end, never by casting
 * a byte buffer.
 */
#ifndef VMCI_DEFS_H
#define VMCI_DEFS_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Contexts (R7, R8, R9). */
#define VMCI_HYPERVISOR_CONTEXT_ID 0u
#define VMCI_WELL_KNOWN_CONTEXT_ID 1u
#define VMCI_HOST_CONTEXT_ID 2u
#define VMCI_RESERVED_CID_LIMIT 16u
#define VMCI_INVALID_ID 0xFFFFFFFFu

/* Resource ids (2.4, R20-R23). */
#define VMCI_RESOURCES_QUERY 0u
#define VMCI_GET_CONTEXT_ID 1u
#define VMCI_SET_NOTIFY_BITMAP 2u
#define VMCI_DOORBELL_LINK 3u
#define VMCI_DOORBELL_UNLINK 4u
#define VMCI_DOORBELL_NOTIFY 5u
#define VMCI_DATAGRAM_REQUEST_MAP 6u
#define VMCI_DATAGRAM_REMOVE_MAP 7u
#define VMCI_EVENT_SUBSCRIBE 8u
#define VMCI_EVENT_UNSUBSCRIBE 9u
#define VMCI_QUEUEPAIR_ALLOC 10u
#define VMCI_QUEUEPAIR_DETACH 11u
#define VMCI_HGFS_TRANSPORT 13u
#define VMCI_UNITY_PBRPC_REGISTER 14u
#define VMCI_RPC_PRIVILEGED 15u
#define VMCI_RPC_UNPRIVILEGED 16u
#define VMCI_RESOURCE_MAX 17u
#define VMCI_EVENT_HANDLER 0u
#define VMCI_CONTEXT_RESOURCE_ID 0u
#define VMCI_TRANSPORT_PACKET_RID 1u
#define VMCI_TRANSPORT_HYPERVISOR_PACKET_RID 15u
#define VMCI_RESERVED_RESOURCE_ID_MAX 1023u
#define VMCI_RESOURCE_QUERY_MAX_NUM 31u

/* Device registers (3.2): byte offsets in the BAR0 window, all 32 bits wide. */
#define VMCI_STATUS_ADDR 0x00u
#define VMCI_CONTROL_ADDR 0x04u
#define VMCI_ICR_ADDR 0x08u
#define VMCI_IMR_ADDR 0x0Cu
#define VMCI_DATA_OUT_ADDR 0x10u
#define VMCI_DATA_IN_ADDR 0x14u
#define VMCI_CAPS_ADDR 0x18u
#define VMCI_RESULT_LOW_ADDR 0x1Cu
#define VMCI_RESULT_HIGH_ADDR 0x20u
#define VMCI_DATA_OUT_LOW_ADDR 0x24u
#define VMCI_DATA_OUT_HIGH_ADDR 0x28u
#define VMCI_DATA_IN_LOW_ADDR 0x2Cu
#define VMCI_DATA_IN_HIGH_ADDR 0x30u
#define VMCI_GUEST_PAGE_SHIFT 0x34u
#define VMCI_REGISTER_WINDOW_BYTES 0x38u

#define VMCI_STATUS_INT_ON 0x1u
#define VMCI_CONTROL_RESET 0x1u
#define VMCI_CONTROL_INT_ENABLE 0x2u
#define VMCI_CONTROL_INT_DISABLE 0x4u
#define VMCI_CAPS_HYPERCALL 0x1u
#define VMCI_CAPS_GUESTCALL 0x2u
#define VMCI_CAPS_DATAGRAM 0x4u
#define VMCI_CAPS_NOTIFICATIONS 0x8u
#define VMCI_CAPS_PPN64 0x10u
#define VMCI_CAPS_DMA_DATAGRAM 0x20u
#define VMCI_CAPS_OFFERED_DEFAULT (VMCI_CAPS_DATAGRAM | VMCI_CAPS_NOTIFICATIONS | VMCI_CAPS_PPN64)
#define VMCI_ICR_DATAGRAM 0x1u
#define VMCI_ICR_NOTIFICATION 0x2u
#define VMCI_ICR_DMA_DATAGRAM 0x4u
#define VMCI_IMR_DATAGRAM 0x1u
#define VMCI_IMR_NOTIFICATION 0x2u
#define VMCI_IMR_DMA_DATAGRAM 0x4u

/* Sizes and limits (section 11). */
#define VMCI_DG_HEADERSIZE 24u
#define VMCI_MAX_DG_SIZE (17u * 4096u)
#define VMCI_MAX_DG_PAYLOAD_SIZE (VMCI_MAX_DG_SIZE - VMCI_DG_HEADERSIZE)
#define VMCI_MAX_DATAGRAM_QUEUE_SIZE (2u * VMCI_MAX_DG_SIZE)
#define VMCI_MAX_DATAGRAM_AND_EVENT_QUEUE_SIZE (VMCI_MAX_DATAGRAM_QUEUE_SIZE + 1024u * 48u)
#define VMCI_MAX_GUEST_QP_MEMORY (128ull * 1024 * 1024)
#define VMCI_MAX_GUEST_QP_COUNT 16384u
#define VMCI_MAX_GUEST_DOORBELL_COUNT 4096u
#define VMCI_PAGE_SIZE 4096u

/* Privilege flags (R49). */
#define VMCI_NO_PRIVILEGE_FLAGS 0u
#define VMCI_PRIVILEGE_FLAG_RESTRICTED 1u
#define VMCI_PRIVILEGE_FLAG_TRUSTED 2u
#define VMCI_PRIVILEGE_ALL_FLAGS 3u
#define VMCI_LEAST_PRIVILEGE_FLAGS VMCI_PRIVILEGE_FLAG_RESTRICTED

/* Datagram handle flags (R60). */
#define VMCI_FLAG_DG_NONE 0u
#define VMCI_FLAG_WELLKNOWN_DG_HND 1u
#define VMCI_FLAG_ANYCID_DG_HND 2u
#define VMCI_FLAG_DG_DELAYED_CB 4u

/* Queue-pair flags (5.3). */
#define VMCI_QPFLAG_ATTACH_ONLY 1u
#define VMCI_QPFLAG_LOCAL 2u
#define VMCI_QPFLAG_NONBLOCK 4u
#define VMCI_QPFLAG_PINNED 8u
#define VMCI_QP_ALL_FLAGS 15u

/* Events (4.5). */
#define VMCI_EVENT_CTX_ID_UPDATE 0u
#define VMCI_EVENT_CTX_REMOVED 1u
#define VMCI_EVENT_QP_RESUMED 2u
#define VMCI_EVENT_QP_PEER_ATTACH 3u
#define VMCI_EVENT_QP_PEER_DETACH 4u
#define VMCI_EVENT_MEM_ACCESS_ON 5u
#define VMCI_EVENT_MEM_ACCESS_OFF 6u
#define VMCI_EVENT_MAX 7u

/* Results (4.4). */
#define VMCI_SUCCESS_QUEUEPAIR_ATTACH 5
#define VMCI_SUCCESS_QUEUEPAIR_CREATE 4
#define VMCI_SUCCESS_LAST_DETACH 3
#define VMCI_SUCCESS_ACCESS_GRANTED 2
#define VMCI_SUCCESS_ENTRY_DEAD 1
#define VMCI_SUCCESS 0
#define VMCI_ERROR_INVALID_RESOURCE (-1)
#define VMCI_ERROR_INVALID_ARGS (-2)
#define VMCI_ERROR_NO_MEM (-3)
#define VMCI_ERROR_NO_ACCESS (-7)
#define VMCI_ERROR_NO_HANDLE (-8)
#define VMCI_ERROR_DUPLICATE_ENTRY (-9)
#define VMCI_ERROR_DST_UNREACHABLE (-10)
#define VMCI_ERROR_NO_RESOURCES (-19)
#define VMCI_ERROR_UNAVAILABLE (-20)
#define VMCI_ERROR_NOT_FOUND (-21)
#define VMCI_ERROR_ALREADY_EXISTS (-22)
#define VMCI_ERROR_INVALID_SIZE (-24)
#define VMCI_ERROR_EVENT_UNKNOWN (-29)
#define VMCI_ERROR_OBSOLETE (-30)
#define VMCI_ERROR_QUEUEPAIR_MISMATCH (-31)
#define VMCI_ERROR_QUEUEPAIR_NOTATTACHED (-34)
#define VMCI_ERROR_QUEUEPAIR_NOSPACE (-35)
#define VMCI_ERROR_QUEUEPAIR_NODATA (-36)
#define VMCI_ERROR_DEVICE_NOT_FOUND (-39)
#define VMCI_ERROR_QUEUEPAIR_NOT_READY (-40)
#define VMCI_ERROR_WOULD_BLOCK (-41)

/* "VMCI_ERROR_NO_ACCESS" for -7, "VMCI_SUCCESS" for 0, "VMCI_ERROR_UNKNOWN" otherwise. */
const char *vmci_error_name(int64_t code);

struct vmci_handle {
    uint32_t context;
    uint32_t resource;
};
#define VMCI_INVALID_HANDLE ((struct vmci_handle){ VMCI_INVALID_ID, VMCI_INVALID_ID })

/* Not a wire structure: where the bytes of a dequeue or peek that copies nothing lie in
 * the consume ring (vmci_qpair_consume_in_place): one piece, or two when they wrap around
 * the ring's end (the second then starts at the ring's first byte). */
struct vmci_ring_bytes {
    const uint8_t *first;
    uint64_t first_bytes;
    const uint8_t *second;          /* NULL when second_bytes is 0 */
    uint64_t second_bytes;
};

static inline bool vmci_handle_equal(struct vmci_handle a, struct vmci_handle b)
{
    return a.context == b.context && a.resource == b.resource;
}

static inline bool vmci_handle_is_invalid(struct vmci_handle handle)
{
    return handle.context == VMCI_INVALID_ID && handle.resource == VMCI_INVALID_ID;
}

/* R9: a CID names a VM iff it is not ANY and is above the host's. */
static inline bool vmci_context_is_vm(uint32_t cid)
{
    return cid != VMCI_INVALID_ID && cid > VMCI_HOST_CONTEXT_ID;
}

/* The datagram header (R35): dst (0), src (8), payload_size (16), payload at 24. */
struct vmci_datagram_header {
    struct vmci_handle dst;
    struct vmci_handle src;
    uint64_t payload_size;
};

/* VMCI_DG_SIZE_ALIGNED: datagram size rounded up to 8 bytes (R40). */
static inline uint64_t vmci_dg_size_aligned(uint64_t size_bytes)
{
    return (size_bytes + 7u) & ~(uint64_t)7u;
}

static inline uint32_t vmci_read_u32(const uint8_t *bytes)
{
    return (uint32_t)bytes[0] | (uint32_t)bytes[1] << 8 | (uint32_t)bytes[2] << 16 |
           (uint32_t)bytes[3] << 24;
}

static inline uint64_t vmci_read_u64(const uint8_t *bytes)
{
    return (uint64_t)vmci_read_u32(bytes) | (uint64_t)vmci_read_u32(bytes + 4) << 32;
}

/* Little-endian stores (the wire and the shared pages, R80). On a little-endian host one
 * store: the byte loop compiled to four stores a word, and every datagram header and ring
 * pointer update goes through here. */
static inline void vmci_write_u32(uint8_t *bytes, uint32_t value)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(bytes, &value, sizeof(value));
#else
    for (int index = 0; index < 4; index++)
        bytes[index] = (uint8_t)(value >> (8 * index));
#endif
}

static inline void vmci_write_u64(uint8_t *bytes, uint64_t value)
{
    vmci_write_u32(bytes, (uint32_t)value);
    vmci_write_u32(bytes + 4, (uint32_t)(value >> 32));
}

static inline void vmci_header_encode(uint8_t bytes[VMCI_DG_HEADERSIZE],
                                      const struct vmci_datagram_header *header)
{
    vmci_write_u32(bytes + 0, header->dst.context);
    vmci_write_u32(bytes + 4, header->dst.resource);
    vmci_write_u32(bytes + 8, header->src.context);
    vmci_write_u32(bytes + 12, header->src.resource);
    vmci_write_u64(bytes + 16, header->payload_size);
}

static inline void vmci_header_decode(const uint8_t bytes[VMCI_DG_HEADERSIZE],
                                      struct vmci_datagram_header *header)
{
    header->dst.context = vmci_read_u32(bytes + 0);
    header->dst.resource = vmci_read_u32(bytes + 4);
    header->src.context = vmci_read_u32(bytes + 8);
    header->src.resource = vmci_read_u32(bytes + 12);
    header->payload_size = vmci_read_u64(bytes + 16);
}

#endif /* VMCI_DEFS_H */
