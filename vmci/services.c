/* SPDX-License-Identifier: MIT */
/*
 * vmci/services.c: the hypervisor services a guest calls with a datagram to
 * {0, rid} (reference 4.6, R43-R45, R73-R76, 5.3, D12).
 *
 * Payloads are read with explicit bounds: a hostile guest's malformed request
 * gets VMCI_ERROR_INVALID_ARGS, never a read past what it sent.
 */
#include <assert.h>

#include "vmci_int.h"

/* The services R73 says this hypervisor implements. */
static bool service_implemented(uint32_t rid)
{
    switch (rid) {
    case VMCI_RESOURCES_QUERY: case VMCI_GET_CONTEXT_ID: case VMCI_SET_NOTIFY_BITMAP:
    case VMCI_DOORBELL_LINK: case VMCI_DOORBELL_UNLINK: case VMCI_DOORBELL_NOTIFY:
    case VMCI_EVENT_SUBSCRIBE: case VMCI_EVENT_UNSUBSCRIBE: case VMCI_QUEUEPAIR_ALLOC:
    case VMCI_QUEUEPAIR_DETACH: case VMCI_UNITY_PBRPC_REGISTER: case VMCI_RPC_PRIVILEGED:
        return true;
    default:
        return false;
    }
}

static int64_t resources_query(const uint8_t *payload, uint64_t payload_bytes)
{
    if (payload_bytes < 8)
        return VMCI_ERROR_INVALID_ARGS;
    uint32_t count = vmci_read_u32(payload);
    if (count < 1 || count > VMCI_RESOURCE_QUERY_MAX_NUM || payload_bytes < 8u + 4u * count)
        return VMCI_ERROR_INVALID_ARGS;                                         /* R73 */
    int64_t result = 0;
    for (uint32_t index = 0; index < count; index++) {
        if (service_implemented(vmci_read_u32(payload + 8 + 4 * index)))
            result |= (int64_t)1 << index;
    }
    return result;
}

static int64_t set_notify_bitmap(struct vmci_context *caller, const uint8_t *payload,
                                 uint64_t payload_bytes)
{
    bool ppn64 = (vmci_device_caps_in_use(caller->device) & VMCI_CAPS_PPN64) != 0;
    uint64_t needed = ppn64 ? 8u : 4u;
    if (payload_bytes < needed)
        return VMCI_ERROR_INVALID_ARGS;
    uint64_t ppn = ppn64 ? vmci_read_u64(payload) : vmci_read_u32(payload);
    return vmci_device_bitmap_register(caller->device, ppn);                    /* R43 */
}

static struct vmci_handle read_handle(const uint8_t *bytes)
{
    struct vmci_handle handle = { vmci_read_u32(bytes), vmci_read_u32(bytes + 4) };
    return handle;
}

static int64_t doorbell_service(struct vmci_hypervisor *hypervisor, struct vmci_context *caller,
                                uint32_t rid, const uint8_t *payload, uint64_t payload_bytes)
{
    if (payload_bytes < 8 || (rid == VMCI_DOORBELL_LINK && payload_bytes < 16))
        return VMCI_ERROR_INVALID_ARGS;
    struct vmci_handle handle = read_handle(payload);
    if (rid == VMCI_DOORBELL_LINK)
        return vmci__doorbell_link(hypervisor, caller, handle, vmci_read_u64(payload + 8));
    if (rid == VMCI_DOORBELL_UNLINK)
        return vmci__doorbell_unlink(caller, handle);
    return vmci__doorbell_notify(hypervisor, caller, handle);
}

/* 5.3: handle(8) peer(4) flags(4) produce(8) consume(8) num_ppns(8) then the PPNs. */
static int64_t queue_pair_alloc(struct vmci_hypervisor *hypervisor, struct vmci_context *caller,
                                const uint8_t *payload, uint64_t payload_bytes)
{
    if (payload_bytes < 40)
        return VMCI_ERROR_INVALID_ARGS;
    struct vmci_handle handle = read_handle(payload);
    uint32_t peer = vmci_read_u32(payload + 8);
    uint32_t flags = vmci_read_u32(payload + 12);
    uint64_t produce = vmci_read_u64(payload + 16);
    uint64_t consume = vmci_read_u64(payload + 24);
    uint64_t ppn_count = vmci_read_u64(payload + 32);
    if (flags & VMCI_QPFLAG_LOCAL)
        return VMCI_ERROR_INVALID_ARGS;         /* R95: LOCAL pairs never reach the broker */
    bool ppn64 = (vmci_device_caps_in_use(caller->device) & VMCI_CAPS_PPN64) != 0;
    uint64_t ppn_bytes = ppn64 ? 8u : 4u;
    if (ppn_count <= 2 || ppn_count > (payload_bytes - 40) / ppn_bytes)
        return VMCI_ERROR_INVALID_ARGS;                                         /* R78 */
    uint64_t expected = produce / VMCI_PAGE_SIZE + (produce % VMCI_PAGE_SIZE != 0) + 1 +
                        consume / VMCI_PAGE_SIZE + (consume % VMCI_PAGE_SIZE != 0) + 1;
    if (produce > VMCI_MAX_GUEST_QP_MEMORY || consume > VMCI_MAX_GUEST_QP_MEMORY ||
        ppn_count != expected)
        return produce > VMCI_MAX_GUEST_QP_MEMORY || consume > VMCI_MAX_GUEST_QP_MEMORY
                   ? VMCI_ERROR_NO_RESOURCES : VMCI_ERROR_INVALID_ARGS;
    struct vmci_qp_entry *entry = NULL;
    bool created = false;
    int rc = vmci__broker_alloc(hypervisor, caller, NULL, handle, peer, flags, produce, consume,
                                &entry, &created);
    if (rc < 0)
        return rc;
    return created ? VMCI_SUCCESS_QUEUEPAIR_CREATE : VMCI_SUCCESS_QUEUEPAIR_ATTACH;
}

int64_t vmci__service(struct vmci_hypervisor *hypervisor, struct vmci_context *caller,
                      const uint8_t *bytes, uint64_t size_bytes)
{
    assert(caller != NULL && caller->device != NULL);
    assert(size_bytes >= VMCI_DG_HEADERSIZE);
    uint32_t rid = vmci_read_u32(bytes + 4);
    const uint8_t *payload = bytes + VMCI_DG_HEADERSIZE;
    uint64_t payload_bytes = size_bytes - VMCI_DG_HEADERSIZE;
    switch (rid) {
    case VMCI_RESOURCES_QUERY:
        return resources_query(payload, payload_bytes);
    case VMCI_GET_CONTEXT_ID:
        return (int64_t)(int32_t)caller->cid;                                  /* R74 */
    case VMCI_SET_NOTIFY_BITMAP:
        return set_notify_bitmap(caller, payload, payload_bytes);
    case VMCI_DOORBELL_LINK: case VMCI_DOORBELL_UNLINK: case VMCI_DOORBELL_NOTIFY:
        return doorbell_service(hypervisor, caller, rid, payload, payload_bytes);
    case VMCI_DATAGRAM_REQUEST_MAP: case VMCI_DATAGRAM_REMOVE_MAP:
        return VMCI_ERROR_OBSOLETE;                                             /* R75 */
    case VMCI_EVENT_SUBSCRIBE: case VMCI_EVENT_UNSUBSCRIBE:
        return VMCI_SUCCESS;                                                    /* R66 */
    case VMCI_QUEUEPAIR_ALLOC:
        return queue_pair_alloc(hypervisor, caller, payload, payload_bytes);
    case VMCI_QUEUEPAIR_DETACH:
        if (payload_bytes < 8)
            return VMCI_ERROR_INVALID_ARGS;
        return vmci__broker_detach(hypervisor, caller, read_handle(payload));
    case VMCI_UNITY_PBRPC_REGISTER: case VMCI_RPC_PRIVILEGED:
        return (int64_t)size_bytes;                             /* D12: accepted, unanswered */
    default:
        return VMCI_ERROR_INVALID_RESOURCE;                                     /* R54 */
    }
}
