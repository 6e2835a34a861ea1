/* SPDX-License-Identifier: MIT */
/*
 * vmci/broker.c: the queue-pair broker (reference 5.3, R91-R98, R67, R68, D9).
 *
 * Entries live in creation order. The checks of create (R93) and attach (R94)
 * run in exactly the order the reference lists them, so the first failing rule
 * decides the result; every decision is a "qp_alloc" trace event naming it.
 * Memory is charged to the VM that provides it (the creator if it is a VM,
 * otherwise the attaching VM), within the world's qp_memory_bytes limit (R79). Every
 * entry's P + C also counts in queue_pair_bytes, within world_qp_memory_bytes: the host's
 * own queue pairs are charged to no VM, and their rings are the simulator's memory too.
 */
#include <assert.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "vmci_int.h"

struct vmci_qp_entry *vmci__broker_find(const struct vmci_hypervisor *hypervisor,
                                        struct vmci_handle handle)
{
    struct sim_index_node *node = sim_index_first(&hypervisor->queue_pair_index,
                                                  sim_index_key2(handle.context,
                                                                 handle.resource));
    if (node == NULL)
        return NULL;
    struct vmci_qp_entry *entry = (struct vmci_qp_entry *)((char *)node -
                                                          offsetof(struct vmci_qp_entry,
                                                                   by_handle));
    assert(vmci_handle_equal(entry->handle, handle));       /* one entry per handle (R93) */
    return entry;
}

static bool attached(const struct vmci_qp_entry *entry, uint32_t cid)
{
    return (entry->creator_attached && entry->creator_cid == cid) ||
           (entry->attacher_attached && entry->attacher_cid == cid);
}

/* R197 for queue pairs between two different VMs: NO_ACCESS when a restricted VM is
 * involved, DST_UNREACHABLE when the profile has no guest-to-guest; domains (D5). */
static int guest_to_guest(const struct vmci_hypervisor *hypervisor, uint32_t cid_a, uint32_t cid_b)
{
    if (!vmci_context_is_vm(cid_a) || !vmci_context_is_vm(cid_b) || cid_a == cid_b)
        return VMCI_SUCCESS;
    const struct vmci_context *a = vmci__context_find(hypervisor, cid_a);
    const struct vmci_context *b = vmci__context_find(hypervisor, cid_b);
    if (a == NULL || b == NULL)
        return VMCI_ERROR_DST_UNREACHABLE;
    if (hypervisor->profile.domain_honoured && strcmp(a->domain, b->domain) != 0)
        return VMCI_ERROR_NO_ACCESS;
    if ((a->privilege_flags | b->privilege_flags) & VMCI_PRIVILEGE_FLAG_RESTRICTED)
        return VMCI_ERROR_NO_ACCESS;
    return hypervisor->profile.guest_to_guest ? VMCI_SUCCESS : VMCI_ERROR_DST_UNREACHABLE;
}

static uint64_t quota_bytes(const struct vmci_hypervisor *hypervisor)
{
    uint64_t limit = sim_engine_limits(hypervisor->engine)->qp_memory_bytes_max;
    return limit < VMCI_MAX_GUEST_QP_MEMORY ? limit : VMCI_MAX_GUEST_QP_MEMORY;
}

static int charge(struct vmci_hypervisor *hypervisor, struct vmci_qp_entry *entry, uint32_t cid)
{
    struct vmci_context *context = vmci__context_find(hypervisor, cid);
    assert(context != NULL);
    uint64_t bytes = entry->produce_size_bytes + entry->consume_size_bytes;
    if (vmci_fault(&hypervisor->faults, VMCI_FAULT_QP_ALLOC_QUOTA, cid))
        return VMCI_ERROR_NO_RESOURCES;                         /* fault site: the quota */
    uint32_t count_max = sim_engine_limits(hypervisor->engine)->queue_pairs_max;
    if (context->qp_count >= count_max) {
        vmci__limit_reached(hypervisor, cid, "queue_pairs_max", count_max,
                            VMCI_ERROR_NO_RESOURCES);
        return VMCI_ERROR_NO_RESOURCES;                                         /* R79 */
    }
    if (bytes > quota_bytes(hypervisor) - context->qp_memory_bytes) {
        vmci__limit_reached(hypervisor, cid, "qp_memory_bytes_max", quota_bytes(hypervisor),
                            VMCI_ERROR_NO_RESOURCES);
        return VMCI_ERROR_NO_RESOURCES;                                         /* R79 */
    }
    context->qp_memory_bytes += bytes;
    context->qp_count++;
    entry->charged_cid = cid;
    return VMCI_SUCCESS;
}

static void uncharge(struct vmci_hypervisor *hypervisor, struct vmci_qp_entry *entry)
{
    struct vmci_context *context = vmci__context_find(hypervisor, entry->charged_cid);
    if (context == NULL)
        return;
    uint64_t bytes = entry->produce_size_bytes + entry->consume_size_bytes;
    assert(context->qp_memory_bytes >= bytes && context->qp_count > 0);
    context->qp_memory_bytes -= bytes;
    context->qp_count--;
    entry->charged_cid = VMCI_INVALID_ID;
}

static int entries_append(struct vmci_hypervisor *hypervisor, struct vmci_qp_entry *entry)
{
    if (hypervisor->queue_pair_count >= VMCI_QUEUE_PAIRS_MAX) {
        /* Met by the host's own queue pairs (no VM is charged for them, R79), so a
         * scenario reaches it: the trace names it as it names the world limits. */
        vmci__limit_reached(hypervisor, entry->handle.context, "broker_entries_max",
                            VMCI_QUEUE_PAIRS_MAX, VMCI_ERROR_NO_RESOURCES);
        return VMCI_ERROR_NO_RESOURCES;
    }
    int rc = sim_index_insert(&hypervisor->queue_pair_index, &entry->by_handle,
                              sim_index_key2(entry->handle.context, entry->handle.resource),
                              hypervisor->queue_pair_serial_next);
    if (rc < 0)
        return VMCI_ERROR_NO_RESOURCES;
    entry->serial = hypervisor->queue_pair_serial_next++;
    entry->next = NULL;
    entry->prev = hypervisor->queue_pairs_tail;
    if (hypervisor->queue_pairs_tail != NULL)
        hypervisor->queue_pairs_tail->next = entry;
    else
        hypervisor->queue_pairs_head = entry;
    hypervisor->queue_pairs_tail = entry;
    hypervisor->queue_pair_count++;
    hypervisor->queue_pair_bytes += entry->produce_size_bytes + entry->consume_size_bytes;
    return VMCI_SUCCESS;
}

static void entry_remove(struct vmci_hypervisor *hypervisor, struct vmci_qp_entry *entry)
{
    assert(hypervisor->queue_pair_count > 0);
    sim_index_remove(&hypervisor->queue_pair_index, &entry->by_handle);
    if (entry->prev != NULL)
        entry->prev->next = entry->next;
    else
        hypervisor->queue_pairs_head = entry->next;
    if (entry->next != NULL)
        entry->next->prev = entry->prev;
    else
        hypervisor->queue_pairs_tail = entry->prev;
    hypervisor->queue_pair_count--;
    assert(hypervisor->queue_pair_bytes >= entry->produce_size_bytes +
                                           entry->consume_size_bytes);
    hypervisor->queue_pair_bytes -= entry->produce_size_bytes + entry->consume_size_bytes;
    hypervisor->queue_pair_removals++;          /* every vmci_qpair's cached entry is stale */
    uncharge(hypervisor, entry);
    vmci_qp_memory_destroy(entry->memory);
    free(entry);
}

void vmci__broker_destroy_all(struct vmci_hypervisor *hypervisor)
{
    while (hypervisor->queue_pairs_tail != NULL)
        entry_remove(hypervisor, hypervisor->queue_pairs_tail);
    sim_index_destroy(&hypervisor->queue_pair_index);
}

struct request {
    struct vmci_context *caller;
    const struct vmci_identity *identity;
    struct vmci_handle handle;
    uint32_t peer;
    uint32_t flags;
    uint64_t produce_size_bytes;
    uint64_t consume_size_bytes;
    const char *rule;
};

static int refuse(struct request *request, int code, const char *rule)
{
    request->rule = rule;
    return code;
}

/* The world's queue-pair memory has room for the request's rings (sizes already checked
 * by R77, so the sum does not wrap): the machine is never asked to hold more rings than
 * the limit (one refused request's, untouched, for the moment of the check). */
static bool world_memory_left(struct vmci_hypervisor *hypervisor, uint32_t caller,
                              const struct request *request)
{
    uint64_t limit = sim_engine_limits(hypervisor->engine)->world_qp_memory_bytes_max;
    assert(hypervisor->queue_pair_bytes <= limit);
    uint64_t left = limit > hypervisor->queue_pair_bytes ? limit - hypervisor->queue_pair_bytes
                                                         : 0;
    if (request->produce_size_bytes <= left &&
        request->consume_size_bytes <= left - request->produce_size_bytes)
        return true;
    vmci__limit_reached(hypervisor, caller, "world_qp_memory_bytes_max", limit,
                        VMCI_ERROR_NO_RESOURCES);
    return false;
}

/* R93 (and R95 / D9 for LOCAL), in the reference's order. */
static int create(struct vmci_hypervisor *hypervisor, struct request *request,
                  struct vmci_qp_entry **entry_out)
{
    uint32_t caller = request->caller->cid;
    bool local = (request->flags & VMCI_QPFLAG_LOCAL) != 0;
    if (request->flags & VMCI_QPFLAG_ATTACH_ONLY)
        return refuse(request, VMCI_ERROR_NOT_FOUND, "R93");
    if (local && (request->handle.context != caller ||
                  (request->peer != VMCI_INVALID_ID && request->peer != caller)))
        return refuse(request, VMCI_ERROR_NO_ACCESS, "R95");
    if (request->handle.context != caller && request->handle.context != request->peer)
        return refuse(request, VMCI_ERROR_NO_ACCESS, "R93");
    if (!local && (vmci__ft_separates(hypervisor, caller, request->peer) ||
                   (request->peer == VMCI_INVALID_ID &&
                    vmci__ft_separates(hypervisor, caller, VMCI_HOST_CONTEXT_ID) &&
                    caller != VMCI_HOST_CONTEXT_ID)))
        return refuse(request, VMCI_ERROR_NO_ACCESS, "R208");
    int rc = local ? VMCI_SUCCESS : guest_to_guest(hypervisor, caller, request->peer);
    if (rc < 0)
        return refuse(request, rc, "R197");
    struct vmci_qp_entry *entry = NULL;
    if (!vmci_fault(&hypervisor->faults, VMCI_FAULT_QP_CREATE_NO_MEM, caller))
        entry = vmci_line_calloc(sizeof(*entry));              /* the site: no memory */
    if (entry == NULL)
        return refuse(request, VMCI_ERROR_NO_MEM, "R93");
    rc = vmci_qp_memory_create(request->handle, request->produce_size_bytes,
                               request->consume_size_bytes, &entry->memory);
    if (rc < 0) {
        free(entry);
        return refuse(request, rc, "R77");
    }
    if (!world_memory_left(hypervisor, caller, request)) {
        vmci_qp_memory_destroy(entry->memory);
        free(entry);
        return refuse(request, VMCI_ERROR_NO_RESOURCES, "R79");
    }
    entry->handle = request->handle;
    entry->peer = request->peer;
    entry->flags = request->flags;
    entry->produce_size_bytes = request->produce_size_bytes;
    entry->consume_size_bytes = request->consume_size_bytes;
    entry->creator_cid = caller;
    entry->creator_attached = true;
    entry->attacher_cid = VMCI_INVALID_ID;
    entry->charged_cid = VMCI_INVALID_ID;
    entry->local = local;
    entry->state = VMCI_QP_CREATED_NO_PEER;
    entry->created_by_trusted = vmci_hypervisor_trusted_toward(hypervisor, request->identity,
                                                              request->peer);
    entry->require_trusted_attach = (request->caller->privilege_flags &
                                     VMCI_PRIVILEGE_FLAG_RESTRICTED) != 0;
    rc = vmci_context_is_vm(caller) ? charge(hypervisor, entry, caller) : VMCI_SUCCESS;
    if (rc == VMCI_SUCCESS)
        rc = entries_append(hypervisor, entry);
    if (rc < 0) {
        uncharge(hypervisor, entry);
        vmci_qp_memory_destroy(entry->memory);
        free(entry);
        return refuse(request, rc, "R79");
    }
    *entry_out = entry;
    return refuse(request, VMCI_SUCCESS, "R93");
}

static bool flags_match(uint32_t creator_flags, uint32_t attacher_flags)
{
    uint32_t ignored = VMCI_QPFLAG_NONBLOCK | VMCI_QPFLAG_PINNED | VMCI_QPFLAG_ATTACH_ONLY;
    return ((creator_flags ^ attacher_flags) & ~ignored) == 0;
}

/* R94 (R95 for LOCAL), in the reference's order. */
static int attach(struct vmci_hypervisor *hypervisor, struct request *request,
                  struct vmci_qp_entry *entry)
{
    uint32_t caller = request->caller->cid;
    if (entry->state != VMCI_QP_CREATED_NO_PEER)
        return refuse(request, VMCI_ERROR_UNAVAILABLE, entry->local ? "R95" : "R94");
    if (!entry->local && (entry->creator_cid == caller || entry->attacher_cid == caller))
        return refuse(request, VMCI_ERROR_ALREADY_EXISTS, "R94");
    if (entry->local && caller != entry->creator_cid)
        return refuse(request, VMCI_ERROR_NO_ACCESS, "R95");
    if (!entry->local && vmci__ft_separates(hypervisor, caller, entry->creator_cid))
        return refuse(request, VMCI_ERROR_NO_ACCESS, "R208");
    int rc = entry->local ? VMCI_SUCCESS : guest_to_guest(hypervisor, caller, entry->creator_cid);
    if (rc < 0)
        return refuse(request, rc, "R197");
    bool caller_restricted = (request->caller->privilege_flags & VMCI_PRIVILEGE_FLAG_RESTRICTED) != 0;
    if (!entry->local && caller_restricted && !entry->created_by_trusted)
        return refuse(request, VMCI_ERROR_NO_ACCESS, "R94");
    if (!entry->local && entry->require_trusted_attach &&
        !vmci_hypervisor_trusted_toward(hypervisor, request->identity, entry->creator_cid))
        return refuse(request, VMCI_ERROR_NO_ACCESS, "R94");
    if (entry->peer != VMCI_INVALID_ID && entry->peer != caller)
        return refuse(request, VMCI_ERROR_NO_ACCESS, "R94");
    bool host_and_vm = (caller == VMCI_HOST_CONTEXT_ID && vmci_context_is_vm(entry->creator_cid)) ||
                       (entry->creator_cid == VMCI_HOST_CONTEXT_ID && vmci_context_is_vm(caller));
    if (host_and_vm && !hypervisor->profile.host_queue_pairs)
        return refuse(request, VMCI_ERROR_INVALID_RESOURCE, "R98");
    if (!flags_match(entry->flags, request->flags) ||
        request->produce_size_bytes != entry->consume_size_bytes ||
        request->consume_size_bytes != entry->produce_size_bytes)
        return refuse(request, VMCI_ERROR_QUEUEPAIR_MISMATCH, "R94");
    /* The site: the host could not map or pin the attacher's side (no memory). */
    if (vmci_fault(&hypervisor->faults, VMCI_FAULT_QP_ATTACH_NO_MEM, caller))
        return refuse(request, VMCI_ERROR_NO_MEM, "R94");
    if (entry->charged_cid == VMCI_INVALID_ID && vmci_context_is_vm(caller)) {
        rc = charge(hypervisor, entry, caller);
        if (rc < 0)
            return refuse(request, rc, "R79");
    }
    entry->attacher_cid = caller;
    entry->attacher_attached = true;
    entry->state = VMCI_QP_ATTACHED;
    return refuse(request, VMCI_SUCCESS, "R94");
}

/* R67, R68; a LOCAL pair's events stay inside the guest kernel (R68). */
static void send_peer_event(struct vmci_hypervisor *hypervisor, uint32_t target, uint32_t event,
                            struct vmci_handle handle, uint32_t peer, bool local)
{
    uint8_t data[16] = { 0 };
    vmci_write_u32(data, handle.context);
    vmci_write_u32(data + 4, handle.resource);
    vmci_write_u32(data + 8, peer);
    if (local)
        vmci__event_send_local(hypervisor, target, event, data, sizeof(data));
    else
        vmci__event_send(hypervisor, target, event, data, sizeof(data));
}

static void trace_broker(struct vmci_hypervisor *hypervisor, const char *kind,
                         const struct request *request, int result)
{
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_VMCI, kind, request->caller->cid,
                         vmci__current_pid(hypervisor));
    sim_trace_field_u64(&event, "context", request->handle.context);
    sim_trace_field_u64(&event, "rid", request->handle.resource);
    sim_trace_field_u64(&event, "peer", request->peer);
    sim_trace_field_u64(&event, "flags", request->flags);
    sim_trace_field_u64(&event, "produce", request->produce_size_bytes);
    sim_trace_field_u64(&event, "consume", request->consume_size_bytes);
    sim_trace_field_i64(&event, "result", result);
    sim_trace_field_str(&event, "rule", request->rule != NULL ? request->rule : "");
    vmci__trace(hypervisor, &event);
}

int vmci__broker_alloc(struct vmci_hypervisor *hypervisor, struct vmci_context *caller,
                       const struct vmci_identity *identity, struct vmci_handle handle,
                       uint32_t peer, uint32_t flags, uint64_t produce_size_bytes,
                       uint64_t consume_size_bytes, struct vmci_qp_entry **entry_out,
                       bool *created_out)
{
    assert(caller != NULL && entry_out != NULL && created_out != NULL);
    struct request request = {
        .caller = caller, .identity = identity, .handle = handle, .peer = peer, .flags = flags,
        .produce_size_bytes = produce_size_bytes, .consume_size_bytes = consume_size_bytes,
    };
    int rc;
    struct vmci_qp_entry *entry = vmci__broker_find(hypervisor, handle);
    *created_out = entry == NULL;
    if (flags & ~(uint32_t)VMCI_QP_ALL_FLAGS)
        rc = refuse(&request, VMCI_ERROR_INVALID_ARGS, "R91");
    else if ((flags & VMCI_QPFLAG_LOCAL) && caller->cid == VMCI_HOST_CONTEXT_ID &&
             !hypervisor->profile.esx)
        rc = refuse(&request, VMCI_ERROR_INVALID_ARGS, "D9");
    else if (entry != NULL && !entry->local && attached(entry, caller->cid))
        rc = refuse(&request, VMCI_ERROR_ALREADY_EXISTS, "R93");
    else if (entry == NULL)
        rc = create(hypervisor, &request, &entry);
    else
        rc = attach(hypervisor, &request, entry);
    trace_broker(hypervisor, *created_out ? "qp_create" : "qp_attach", &request, rc);
    if (rc < 0)
        return rc;
    if (!*created_out && !entry->local)
        send_peer_event(hypervisor, entry->creator_cid, VMCI_EVENT_QP_PEER_ATTACH, handle,
                        caller->cid, false);                                    /* R67 */
    *entry_out = entry;
    return rc;
}

int vmci__broker_detach(struct vmci_hypervisor *hypervisor, struct vmci_context *caller,
                        struct vmci_handle handle)
{
    struct vmci_qp_entry *entry = vmci__broker_find(hypervisor, handle);
    struct request request = { .caller = caller, .handle = handle, .peer = VMCI_INVALID_ID };
    int rc = VMCI_SUCCESS;
    if (entry == NULL || !attached(entry, caller->cid)) {
        rc = refuse(&request, VMCI_ERROR_NOT_FOUND, "R96");
        trace_broker(hypervisor, "qp_detach", &request, rc);
        return rc;
    }
    /* A LOCAL pair has both sides in one context: the attacher detaches first. */
    bool as_attacher = entry->attacher_attached && entry->attacher_cid == caller->cid;
    if (as_attacher)
        entry->attacher_attached = false;
    else
        entry->creator_attached = false;
    request.rule = "R96";
    trace_broker(hypervisor, "qp_detach", &request, rc);
    uint32_t remaining = as_attacher ? entry->creator_cid : entry->attacher_cid;
    if (entry->creator_attached || entry->attacher_attached) {
        entry->state = VMCI_QP_SHUTDOWN;
        send_peer_event(hypervisor, remaining, VMCI_EVENT_QP_PEER_DETACH, handle,
                        caller->cid, entry->local);                             /* R68 */
        return VMCI_SUCCESS;
    }
    entry_remove(hypervisor, entry);
    return VMCI_SUCCESS;
}

void vmci__broker_detach_all(struct vmci_hypervisor *hypervisor, struct vmci_context *context)
{
    /* Each detach removes at most the entry it detaches; walk from the newest, taking the
     * previous one before the detach (as the walk by index from the end did). */
    struct vmci_qp_entry *previous = NULL;
    for (struct vmci_qp_entry *entry = hypervisor->queue_pairs_tail; entry != NULL;
         entry = previous) {
        previous = entry->prev;
        for (int side = 0; side < 2 && attached(entry, context->cid); side++) {
            struct vmci_handle handle = entry->handle;
            vmci__broker_detach(hypervisor, context, handle);
            entry = vmci__broker_find(hypervisor, handle);
            if (entry == NULL)
                break;
        }
    }
}

void vmci__broker_uncharge_all(struct vmci_hypervisor *hypervisor, uint32_t cid)
{
    for (struct vmci_qp_entry *entry = hypervisor->queue_pairs_head; entry != NULL;
         entry = entry->next) {
        if (entry->charged_cid == cid)
            uncharge(hypervisor, entry);
    }
}
