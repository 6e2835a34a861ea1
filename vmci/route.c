/* SPDX-License-Identifier: MIT */
/*
 * vmci/route.c: the datagram router (reference 4.2, R37, R51-R58, R197, D5, D8).
 *
 * Every datagram a guest writes to DATA_OUT and every datagram the host kernel
 * sends comes through vmci__route, which decides its result synchronously: a
 * guest-bound datagram is copied into the destination device's queue here (the
 * interrupt follows after the cost model's latency); a host-bound one is handed
 * to the host kernel in an event after route_ns, never inside the sender's call.
 * Every decision is one "dg_route" trace event; a denial names its rule, and its "hash"
 * (XXH3-64 of the datagram) lets the digest tell different payloads apart.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "vmci_int.h"

struct route {
    struct vmci_hypervisor *hypervisor;
    struct vmci_context *source;
    /* The destination's context (NULL: not in the table), looked up once by dispatch() for
     * every check of the route (R208, D5, R51, the delivery) instead of once per check. */
    struct vmci_context *target;
    struct vmci_datagram_header header;
    const uint8_t *bytes;
    uint64_t size_bytes;
    const char *rule;           /* the rule that decided, for the trace */
    uint8_t *rewritten;         /* owned: a copy with the source filled in (R37), or NULL */
};

static int64_t decide(struct route *route, int64_t result, const char *rule)
{
    route->rule = rule;
    return result;
}

/* One vmci-layer `data_discarded` for the datagram being routed (ctx = its destination),
 * so that what the router refuses or loses counts with every other drop of the model. */
static void trace_discarded(struct route *route, uint32_t target_cid, const char *reason,
                            const char *rule)
{
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_VMCI, "data_discarded", target_cid,
                         vmci__current_pid(route->hypervisor));
    sim_trace_field_str(&event, "reason", reason);
    sim_trace_field_str(&event, "rule", rule);
    sim_trace_field_u64(&event, "count", 1);
    sim_trace_field_u64(&event, "bytes", route->size_bytes);
    sim_trace_field_u64(&event, "src_cid", route->source->cid);
    vmci__trace(route->hypervisor, &event);
}

/* R58: the destination's queue is full (or memory ran out): the sender is told, and the
 * refused datagram is also one `data_discarded`. */
static int64_t refuse_full(struct route *route, int64_t result, uint32_t target_cid)
{
    trace_discarded(route, target_cid,
                    result == VMCI_ERROR_NO_RESOURCES ? "queue_full" : "out_of_memory", "R58");
    return decide(route, result, "R58");
}

/* The fault sites met where a datagram is queued for its destination (docs/faults.md):
 * a full queue and no memory refuse it as R58 does; a lost datagram is accepted and never
 * queued. Stream control packets (RID 1, 15) are never lost: no real VMCI loses one (that
 * is the protocol site control_packet_lost, in vsock/). Returns 0 to queue the datagram,
 * a VMCI error to refuse it, or 1 when it is lost. */
static int queue_faults(struct route *route, uint32_t target_cid)
{
    struct vmci_faults *faults = &route->hypervisor->faults;
    bool host = target_cid == VMCI_HOST_CONTEXT_ID;
    if (vmci_fault(faults, host ? VMCI_FAULT_HOST_QUEUE_FULL : VMCI_FAULT_GUEST_QUEUE_FULL,
                   target_cid))
        return VMCI_ERROR_NO_RESOURCES;
    if (vmci_fault(faults, VMCI_FAULT_ROUTE_NO_MEM, target_cid))
        return VMCI_ERROR_NO_MEM;
    uint32_t rid = route->header.dst.resource;
    bool control = rid == VMCI_TRANSPORT_PACKET_RID ||
                   rid == VMCI_TRANSPORT_HYPERVISOR_PACKET_RID;
    if (!control && vmci_fault(faults, VMCI_FAULT_DGRAM_LOST, target_cid)) {
        trace_discarded(route, target_cid, "fault_dgram_lost", "fault");
        return 1;
    }
    return 0;
}

/* One side of an interaction (R51, D5): its CID, its context (NULL when not in the table)
 * and, for a host endpoint, the identity of the handle (NULL otherwise). */
struct side {
    uint32_t cid;
    const struct vmci_context *context;
    const struct vmci_identity *host_identity;
};

static uint32_t side_flags(const struct side *side)
{
    assert(side->context == NULL || side->context->cid == side->cid);
    return side->context != NULL ? side->context->privilege_flags : VMCI_LEAST_PRIVILEGE_FLAGS;
}

/* R51: interaction denied iff one side is RESTRICTED and the other is not TRUSTED. A
 * host endpoint's trust is its creator's, toward this particular peer (R50, D10). The
 * flags come from the contexts at hand (what vmci_hypervisor_context_flags would look up)
 * and a side's trust is asked only when the other side is restricted: both are pure. */
static bool denied(const struct vmci_hypervisor *hypervisor, const struct side *a,
                   const struct side *b)
{
    if (a->cid == VMCI_HYPERVISOR_CONTEXT_ID || b->cid == VMCI_HYPERVISOR_CONTEXT_ID)
        return false;
    if ((side_flags(a) & VMCI_PRIVILEGE_FLAG_RESTRICTED) &&
        !vmci_hypervisor_trusted_toward(hypervisor, b->host_identity, a->cid))
        return true;
    return (side_flags(b) & VMCI_PRIVILEGE_FLAG_RESTRICTED) &&
           !vmci_hypervisor_trusted_toward(hypervisor, a->host_identity, b->cid);
}

/* D5: on profiles that honour domains, only equal domains meet (hosts are in ""). */
static bool domains_differ(const struct vmci_hypervisor *hypervisor, const struct side *a,
                           const struct side *b)
{
    if (!hypervisor->profile.domain_honoured)
        return false;
    const char *domain_a = a->context != NULL ? a->context->domain : "";
    const char *domain_b = b->context != NULL ? b->context->domain : "";
    return strcmp(domain_a, domain_b) != 0;
}

/* The identity of the host handle that sent a host datagram (NULL for guests). */
static const struct vmci_identity *source_identity(struct route *route)
{
    if (route->source->cid != VMCI_HOST_CONTEXT_ID)
        return NULL;
    struct vmci_dg_entry *entry = vmci__kernel_handle_find(route->source->kernel, route->header.src);
    return entry != NULL && entry->has_identity ? &entry->identity : NULL;
}

static int64_t to_host(struct route *route)
{
    struct vmci_hypervisor *hypervisor = route->hypervisor;
    uint32_t source_cid = route->source->cid;
    /* The host's context: always in the table, with its kernel (vmci_hypervisor_host). */
    assert(route->target != NULL && route->target->cid == VMCI_HOST_CONTEXT_ID);
    assert(route->target->kernel != NULL);
    struct vmci_kernel *host = route->target->kernel;
    struct vmci_handle target = { VMCI_HOST_CONTEXT_ID, route->header.dst.resource };
    struct vmci_dg_entry *entry = vmci__kernel_handle_find(host, target);
    if (entry == NULL)
        return decide(route, VMCI_ERROR_INVALID_RESOURCE, "R55");
    struct side source = { source_cid, route->source, NULL };
    struct side destination = { VMCI_HOST_CONTEXT_ID, route->target,
                                entry->has_identity ? &entry->identity : NULL };
    if (domains_differ(hypervisor, &source, &destination))
        return decide(route, VMCI_ERROR_NO_ACCESS, "D5");
    if (source_cid != VMCI_HOST_CONTEXT_ID && denied(hypervisor, &source, &destination))
        return decide(route, VMCI_ERROR_NO_ACCESS, "R51");
    if (entry->filter != NULL) {
        int verdict = entry->filter(entry->state, &route->header, route->bytes + VMCI_DG_HEADERSIZE);
        if (verdict < 0)
            return decide(route, verdict, "R55");       /* the host handle refused it */
    }
    int rc = queue_faults(route, VMCI_HOST_CONTEXT_ID);
    if (rc == 0)
        rc = vmci__host_deliver_later(hypervisor, route->bytes, route->size_bytes);
    if (rc < 0)
        return refuse_full(route, rc, VMCI_HOST_CONTEXT_ID);
    return decide(route, (int64_t)route->size_bytes, "R55");
}

static int64_t to_vm(struct route *route)
{
    struct vmci_hypervisor *hypervisor = route->hypervisor;
    uint32_t source_cid = route->source->cid;
    uint32_t target_cid = route->header.dst.context;
    struct vmci_context *target = route->target;
    assert(target == NULL || target->cid == target_cid);
    if (target == NULL || target->device == NULL)
        return decide(route, VMCI_ERROR_DST_UNREACHABLE, "R56");
    if (source_cid != target_cid) {                                     /* D8: self is fine */
        struct side source = { source_cid, route->source, NULL };
        struct side destination = { target_cid, target, NULL };
        if (domains_differ(hypervisor, &source, &destination))
            return decide(route, VMCI_ERROR_NO_ACCESS, "D5");
        source.host_identity = source_identity(route);
        if (denied(hypervisor, &source, &destination))
            return decide(route, VMCI_ERROR_NO_ACCESS, "R51");
        if (vmci_context_is_vm(source_cid) && !hypervisor->profile.guest_to_guest)
            return decide(route, VMCI_ERROR_DST_UNREACHABLE, "R197");
    }
    int rc = queue_faults(route, target_cid);
    if (rc == 0)
        rc = vmci_device_enqueue(target->device, route->bytes, route->size_bytes, false);
    if (rc < 0)
        return refuse_full(route, rc, target_cid);
    return decide(route, (int64_t)route->size_bytes, "R56");
}

/* R37: a guest sends as itself, or anonymously toward the hypervisor only; a source of
 * {ANY, rid} is filled in with the guest's CID. Rewrites the header bytes. */
static int64_t check_source(struct route *route, uint8_t *header_bytes)
{
    uint32_t own = route->source->cid;
    struct vmci_handle *source = &route->header.src;
    if (own == VMCI_HOST_CONTEXT_ID || source->context == own)
        return VMCI_SUCCESS;
    if (vmci_handle_is_invalid(*source))
        return route->header.dst.context == VMCI_HYPERVISOR_CONTEXT_ID
                   ? VMCI_SUCCESS : decide(route, VMCI_ERROR_NO_ACCESS, "R37");
    if (source->context == VMCI_INVALID_ID) {
        source->context = own;
        vmci_write_u32(header_bytes + 8, own);
        return VMCI_SUCCESS;
    }
    return decide(route, VMCI_ERROR_NO_ACCESS, "R37");
}

static int64_t dispatch(struct route *route, uint8_t *header_bytes)
{
    if (route->header.payload_size > VMCI_MAX_DG_SIZE ||
        route->size_bytes > VMCI_MAX_DG_SIZE || route->size_bytes < VMCI_DG_HEADERSIZE ||
        route->header.payload_size != route->size_bytes - VMCI_DG_HEADERSIZE)
        return decide(route, VMCI_ERROR_INVALID_ARGS, "R52");
    int64_t rc = check_source(route, header_bytes);
    if (rc < 0)
        return rc;
    if (memcmp(header_bytes, route->bytes, VMCI_DG_HEADERSIZE) != 0) {
        route->rewritten = malloc(route->size_bytes);
        if (route->rewritten == NULL)
            return decide(route, VMCI_ERROR_NO_MEM, "R37");
        memcpy(route->rewritten, route->bytes, route->size_bytes);
        memcpy(route->rewritten, header_bytes, VMCI_DG_HEADERSIZE);
        route->bytes = route->rewritten;
    }
    uint32_t target = route->header.dst.context;
    if (target == VMCI_INVALID_ID)
        return decide(route, VMCI_ERROR_INVALID_ARGS, "R53");
    if (target == VMCI_HYPERVISOR_CONTEXT_ID) {
        if (route->source->cid == VMCI_HOST_CONTEXT_ID)
            return decide(route, VMCI_ERROR_DEVICE_NOT_FOUND, "R54");
        route->rule = "R54";
        return vmci__service(route->hypervisor, route->source, route->bytes, route->size_bytes);
    }
    route->target = vmci__context_find(route->hypervisor, target);
    if (vmci__ft_separates_found(route->source, route->source->cid, route->target, target))
        return decide(route, VMCI_ERROR_NO_ACCESS, "R208");
    if (target == VMCI_HOST_CONTEXT_ID)
        return to_host(route);
    if (!vmci_context_is_vm(target) || target < VMCI_RESERVED_CID_LIMIT)
        return decide(route, VMCI_ERROR_DST_UNREACHABLE, "R57");
    return to_vm(route);
}

static void trace_route(struct route *route, int64_t result)
{
    /* The datagram's bytes as routed (source filled in, R37): what the digest covers. */
    char hash_text[SIM_DATA_HASH_TEXT_BYTES];
    sim_data_hash_text(sim_data_hash(route->bytes, route->size_bytes), hash_text);
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_VMCI, "dg_route", route->source->cid,
                         vmci__current_pid(route->hypervisor));
    sim_trace_field_u64(&event, "src_cid", route->header.src.context);
    sim_trace_field_u64(&event, "src_rid", route->header.src.resource);
    sim_trace_field_u64(&event, "dst_cid", route->header.dst.context);
    sim_trace_field_u64(&event, "dst_rid", route->header.dst.resource);
    sim_trace_field_u64(&event, "size", route->size_bytes);
    sim_trace_field_i64(&event, "result", result);
    sim_trace_field_str(&event, "rule", route->rule != NULL ? route->rule : "");
    sim_trace_field_strn(&event, "hash", hash_text, SIM_DATA_HASH_TEXT_BYTES - 1u);
    /* The same bytes for the trace to store (every datagram, from a guest or the host, in
     * one event); the digest skips them, `hash` covers them. */
    uint64_t stored_bytes = route->size_bytes < SIM_TRACE_BYTES_MAX ? route->size_bytes
                                                                     : SIM_TRACE_BYTES_MAX;
    sim_trace_field_payload(&event, "data", route->bytes, (uint32_t)stored_bytes);
    vmci__trace(route->hypervisor, &event);
}

/* A datagram from a VM whose context is off the table: suspended (R205), its memory
 * inaccessible. No code of such a VM runs, so only a scenario acting on one of its sockets
 * from outside (a `w:at` callback) gets here; the hypercall is refused and the datagram is
 * one `data_discarded` (reason `not_running`) so that it is counted like every other drop. */
static int64_t refuse_not_running(struct vmci_hypervisor *hypervisor, uint32_t src_cid,
                                  uint64_t size_bytes)
{
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_VMCI, "data_discarded", src_cid,
                         vmci__current_pid(hypervisor));
    sim_trace_field_str(&event, "reason", "not_running");
    sim_trace_field_str(&event, "rule", "R205");
    sim_trace_field_u64(&event, "count", 1);
    sim_trace_field_u64(&event, "bytes", size_bytes);
    sim_trace_field_u64(&event, "src_cid", src_cid);
    vmci__trace(hypervisor, &event);
    return VMCI_ERROR_UNAVAILABLE;
}

int64_t vmci__route(struct vmci_hypervisor *hypervisor, uint32_t src_cid, const uint8_t *bytes,
                    uint64_t size_bytes)
{
    assert(hypervisor != NULL);
    assert(bytes != NULL || size_bytes == 0);
    struct route route = { .hypervisor = hypervisor, .bytes = bytes, .size_bytes = size_bytes };
    route.source = vmci__context_find(hypervisor, src_cid);
    if (route.source == NULL)
        return refuse_not_running(hypervisor, src_cid, size_bytes);
    if (size_bytes < VMCI_DG_HEADERSIZE) {
        route.rule = "R52";
        trace_route(&route, VMCI_ERROR_INVALID_ARGS);
        return VMCI_ERROR_INVALID_ARGS;
    }
    uint8_t header_bytes[VMCI_DG_HEADERSIZE];
    memcpy(header_bytes, bytes, sizeof(header_bytes));
    vmci_header_decode(header_bytes, &route.header);
    int64_t result = dispatch(&route, header_bytes);
    trace_route(&route, result);
    free(route.rewritten);
    return result;
}
