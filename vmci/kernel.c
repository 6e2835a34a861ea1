/* SPDX-License-Identifier: MIT */
/*
 * vmci/kernel.c: one kernel's VMCI state behind vmci/vmci.h: datagram handles,
 * event subscriptions, dispatch of received datagrams (R42, R66), the queries the
 * transport needs. Host and guest kernels share this file; how a datagram leaves
 * (host_driver.c, guest_driver.c) is the only difference.
 */
#include <assert.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "vmci_int.h"

#define KERNEL_TABLE_INITIAL 8u
/* A datagram this small (every vSockets control packet: 56 bytes) is put together on the
 * stack for its send; larger ones (up to VMCI_MAX_DG_SIZE) in the heap. Sends copy what
 * they keep, so the bytes never outlive vmci_dg_send. */
#define KERNEL_DG_STACK_BYTES 256u

struct vmci_kernel *vmci__kernel_create(struct vmci_hypervisor *hypervisor,
                                        struct vmci_context *context, bool is_host)
{
    struct vmci_kernel *kernel = calloc(1, sizeof(*kernel));
    if (kernel == NULL)
        return NULL;
    kernel->hypervisor = hypervisor;
    kernel->context = context;
    kernel->head.cid = context->cid;
    kernel->head.faults = &hypervisor->faults;
    kernel->is_host = is_host;
    kernel->driver_loaded = is_host;        /* the host kernel talks to the hypervisor directly */
    kernel->rid_next = VMCI_RESERVED_RESOURCE_ID_MAX + 1u;                      /* R23 */
    kernel->subscription_id_next = 1;
    sim_index_init(&kernel->handle_index, UINT32_MAX);
    sim_slots_init(&kernel->handle_free);
    sim_index_init(&kernel->subscription_ids, UINT32_MAX);
    sim_index_init(&kernel->subscription_events, UINT32_MAX);
    sim_slots_init(&kernel->subscription_free);
    return kernel;
}

void vmci__kernel_destroy(struct vmci_kernel *kernel)
{
    if (kernel == NULL)
        return;
    free(kernel->handles);
    sim_index_destroy(&kernel->handle_index);
    sim_slots_destroy(&kernel->handle_free);
    free(kernel->subscriptions);
    sim_index_destroy(&kernel->subscription_ids);
    sim_index_destroy(&kernel->subscription_events);
    sim_slots_destroy(&kernel->subscription_free);
    free(kernel->doorbells);
    free(kernel->receive_buffer);
    free(kernel);
}

bool vmci_kernel_is_host(const struct vmci_kernel *kernel) { return kernel->is_host; }
bool vmci_kernel_ready(const struct vmci_kernel *kernel) { return kernel->driver_loaded; }
struct vmci_hypervisor *vmci_kernel_hypervisor(struct vmci_kernel *kernel)
{
    return kernel->hypervisor;
}

bool vmci_kernel_has_device(const struct vmci_kernel *kernel)
{
    return kernel->is_host || kernel->context->device != NULL;
}

void vmci_kernel_on_ready(struct vmci_kernel *kernel, vmci_ready_fn fn, void *state)
{
    assert(fn != NULL);
    if (kernel->driver_loaded || !vmci_kernel_has_device(kernel)) {
        fn(state, kernel);                  /* D4: nothing to wait for */
        return;
    }
    assert(kernel->ready_count < VMCI_READY_CALLBACKS_MAX);
    kernel->ready[kernel->ready_count].fn = fn;
    kernel->ready[kernel->ready_count].state = state;
    kernel->ready_count++;
}

void vmci__kernel_ready(struct vmci_kernel *kernel)
{
    kernel->driver_loaded = true;
    uint32_t count = kernel->ready_count;
    kernel->ready_count = 0;
    for (uint32_t index = 0; index < count; index++)
        kernel->ready[index].fn(kernel->ready[index].state, kernel);
}

int vmci_kernel_on_reset(struct vmci_kernel *kernel, vmci_reset_fn fn, void *state)
{
    assert(kernel != NULL && fn != NULL);
    if (kernel->reset_count >= VMCI_RESET_CALLBACKS_MAX)
        return VMCI_ERROR_NO_RESOURCES;
    kernel->reset[kernel->reset_count].fn = fn;
    kernel->reset[kernel->reset_count].state = state;
    kernel->reset_count++;
    return VMCI_SUCCESS;
}

void vmci__kernel_reset_notify(struct vmci_kernel *kernel, bool reloaded)
{
    assert(!kernel->is_host);
    for (uint32_t index = 0; index < kernel->reset_count; index++)
        kernel->reset[index].fn(kernel->reset[index].state, kernel, reloaded);
}

/* R16/R61 matching: equal RIDs and equal contexts, or either context ANY. */
static bool handle_matches(struct vmci_handle a, struct vmci_handle b)
{
    return a.resource == b.resource &&
           (a.context == b.context || a.context == VMCI_INVALID_ID || b.context == VMCI_INVALID_ID);
}

static struct vmci_dg_entry *handle_of(const struct sim_index_node *node)
{
    return (struct vmci_dg_entry *)((const char *)node - offsetof(struct vmci_dg_entry, by_rid));
}

/* The first live handle of the RID in slot order: equal to `handle`, or matching it as
 * R16/R61 match (either context ANY). */
static struct vmci_dg_entry *handle_first(struct vmci_kernel *kernel, struct vmci_handle handle,
                                          bool exact)
{
    for (const struct sim_index_node *node = sim_index_first(&kernel->handle_index,
                                                             handle.resource);
         node != NULL; node = sim_index_next(node)) {
        struct vmci_dg_entry *entry = handle_of(node);
        if (entry->live && (exact ? vmci_handle_equal(entry->handle, handle)
                                  : handle_matches(entry->handle, handle)))
            return entry;
    }
    return NULL;
}

struct vmci_dg_entry *vmci__kernel_handle_find(struct vmci_kernel *kernel,
                                               struct vmci_handle handle)
{
    if (kernel->handle_cache_entry != NULL &&
        kernel->handle_cache_changes == kernel->handle_changes &&
        vmci_handle_equal(kernel->handle_cache_key, handle)) {
        assert(kernel->handle_cache_entry->live);
        return kernel->handle_cache_entry;
    }
    struct vmci_dg_entry *entry = handle_first(kernel, handle, false);
    kernel->handle_cache_entry = entry;
    kernel->handle_cache_key = handle;
    kernel->handle_cache_changes = kernel->handle_changes;
    return entry;
}

/* The slots moved (realloc): their index nodes are rebuilt, in slot order. */
static void handles_reindex(struct vmci_kernel *kernel)
{
    kernel->handle_changes++;               /* the entries moved: no cached one is good */
    sim_index_clear(&kernel->handle_index);
    for (uint32_t slot = 0; slot < kernel->handle_count; slot++) {
        struct vmci_dg_entry *entry = &kernel->handles[slot];
        if (entry->live) {
            int rc = sim_index_insert(&kernel->handle_index, &entry->by_rid,
                                      entry->handle.resource, slot);
            assert(rc == SIM_OK);
            (void)rc;
        }
    }
}

/* R23: the next free RID of this kernel, from 1024, wrapping, at most one full cycle. */
static int rid_allocate(struct vmci_kernel *kernel, uint32_t flags, uint32_t *rid_out)
{
    uint32_t context = (flags & VMCI_FLAG_ANYCID_DG_HND) ? VMCI_INVALID_ID : kernel->head.cid;
    uint32_t limit = kernel->handle_count + 1u;    /* a free RID exists within this many tries */
    for (uint32_t tries = 0; tries <= limit; tries++) {
        uint32_t rid = kernel->rid_next;
        kernel->rid_next = rid == VMCI_INVALID_ID - 1u ? VMCI_RESERVED_RESOURCE_ID_MAX + 1u
                                                       : rid + 1u;
        struct vmci_handle candidate = { context, rid };
        if (vmci__kernel_handle_find(kernel, candidate) == NULL) {
            *rid_out = rid;
            return VMCI_SUCCESS;
        }
    }
    return VMCI_ERROR_NO_HANDLE;
}

static struct vmci_dg_entry *handle_slot(struct vmci_kernel *kernel)
{
    uint32_t free_slot = 0;
    if (sim_slots_take(&kernel->handle_free, &free_slot))
        return &kernel->handles[free_slot];                     /* the lowest dead slot */
    uint32_t limit = sim_engine_limits(kernel->hypervisor->engine)->handles_max;
    if (kernel->handle_count >= limit) {
        vmci__limit_reached(kernel->hypervisor, kernel->head.cid, "handles_max", limit,
                            VMCI_ERROR_NO_RESOURCES);
        return NULL;
    }
    if (kernel->handle_count == kernel->handle_capacity) {
        uint32_t capacity = kernel->handle_capacity == 0 ? KERNEL_TABLE_INITIAL
                                                         : kernel->handle_capacity * 2;
        struct vmci_dg_entry *grown = realloc(kernel->handles, capacity * sizeof(*grown));
        if (grown == NULL)
            return NULL;
        bool moved = grown != kernel->handles;
        kernel->handles = grown;
        kernel->handle_capacity = capacity;
        if (moved)
            handles_reindex(kernel);
    }
    return &kernel->handles[kernel->handle_count++];
}

static void trace_handle(struct vmci_kernel *kernel, const char *kind, struct vmci_handle handle,
                         int result)
{
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_VMCI, kind, kernel->head.cid,
                         vmci__current_pid(kernel->hypervisor));
    sim_trace_field_u64(&event, "context", handle.context);
    sim_trace_field_u64(&event, "rid", handle.resource);
    sim_trace_field_i64(&event, "result", result);
    vmci__trace(kernel->hypervisor, &event);
}

int vmci_dg_create(struct vmci_kernel *kernel, uint32_t rid, uint32_t flags,
                   const struct vmci_identity *identity, vmci_dg_recv_fn fn, void *state,
                   struct vmci_handle *handle_out)
{
    assert(kernel != NULL && fn != NULL && handle_out != NULL);
    if ((flags & VMCI_FLAG_WELLKNOWN_DG_HND) ||
        (flags & ~(uint32_t)(VMCI_FLAG_ANYCID_DG_HND | VMCI_FLAG_DG_DELAYED_CB)))
        return VMCI_ERROR_INVALID_ARGS;                                         /* R60 */
    if (!kernel->driver_loaded)
        return VMCI_ERROR_UNAVAILABLE;
    if (identity != NULL && !kernel->is_host && (identity->trusted || identity->owner_rule))
        return VMCI_ERROR_NO_ACCESS;                /* R60: only host kernels are trusted */
    uint32_t context = (flags & VMCI_FLAG_ANYCID_DG_HND) ? VMCI_INVALID_ID : kernel->head.cid;
    if (rid == VMCI_INVALID_ID) {
        /* The site: only for a dynamic RID, so a stack's fixed control handle (RID 1, made
         * once at bring-up) is never refused. A full table refuses as handle_slot does. */
        if (vmci_fault(&kernel->hypervisor->faults, VMCI_FAULT_DG_HANDLES_FULL, kernel->head.cid))
            return VMCI_ERROR_NO_RESOURCES;
        int rc = rid_allocate(kernel, flags, &rid);
        if (rc < 0)
            return rc;
    }
    struct vmci_handle handle = { context, rid };
    if (vmci__kernel_handle_find(kernel, handle) != NULL) {
        trace_handle(kernel, "dg_create", handle, VMCI_ERROR_ALREADY_EXISTS);
        return VMCI_ERROR_ALREADY_EXISTS;                                       /* R61 */
    }
    struct vmci_dg_entry *entry = handle_slot(kernel);
    if (entry == NULL)
        return VMCI_ERROR_NO_RESOURCES;
    memset(entry, 0, sizeof(*entry));
    entry->handle = handle;
    entry->flags = flags;
    entry->live = true;
    entry->has_identity = identity != NULL;
    if (identity != NULL)
        entry->identity = *identity;
    entry->fn = fn;
    entry->state = state;
    kernel->handle_changes++;               /* a lookup may now find this one */
    int rc = sim_index_insert(&kernel->handle_index, &entry->by_rid, rid,
                              (uint64_t)(entry - kernel->handles));
    assert(rc == SIM_OK);                   /* the index has no bound of its own */
    (void)rc;
    trace_handle(kernel, "dg_create", handle, VMCI_SUCCESS);
    *handle_out = handle;
    return VMCI_SUCCESS;
}

int vmci_dg_set_filter(struct vmci_kernel *kernel, struct vmci_handle handle,
                       vmci_dg_filter_fn filter)
{
    struct vmci_dg_entry *entry = handle_first(kernel, handle, true);
    if (entry == NULL)
        return VMCI_ERROR_NOT_FOUND;
    entry->filter = kernel->is_host ? filter : NULL;
    return kernel->is_host ? VMCI_SUCCESS : VMCI_ERROR_INVALID_ARGS;
}

int vmci_dg_destroy(struct vmci_kernel *kernel, struct vmci_handle handle)
{
    struct vmci_dg_entry *entry = handle_first(kernel, handle, true);
    if (entry == NULL)
        return VMCI_ERROR_NOT_FOUND;                                            /* R62 */
    entry->live = false;
    kernel->handle_changes++;               /* a lookup may have found this one */
    sim_index_remove(&kernel->handle_index, &entry->by_rid);
    /* Without memory to record the free slot it is simply never reused. */
    (void)sim_slots_free(&kernel->handle_free, (uint32_t)(entry - kernel->handles));
    trace_handle(kernel, "dg_destroy", handle, VMCI_SUCCESS);
    return VMCI_SUCCESS;
}

int64_t vmci_dg_send(struct vmci_kernel *kernel, const struct vmci_datagram_header *header,
                     const void *payload, uint64_t *cost_ns)
{
    assert(kernel != NULL && header != NULL);
    assert(payload != NULL || header->payload_size == 0);
    if (header->payload_size > VMCI_MAX_DG_PAYLOAD_SIZE)
        return VMCI_ERROR_INVALID_ARGS;                                         /* R52 */
    if (!kernel->driver_loaded)
        return VMCI_ERROR_UNAVAILABLE;
    uint64_t size_bytes = VMCI_DG_HEADERSIZE + header->payload_size;
    uint8_t stack_bytes[KERNEL_DG_STACK_BYTES];
    uint8_t *bytes = size_bytes <= sizeof(stack_bytes) ? stack_bytes : malloc(size_bytes);
    if (bytes == NULL)
        return VMCI_ERROR_NO_MEM;
    vmci_header_encode(bytes, header);
    if (header->payload_size > 0)
        memcpy(bytes + VMCI_DG_HEADERSIZE, payload, header->payload_size);
    int64_t result = kernel->is_host ? vmci__host_send(kernel, bytes, size_bytes, cost_ns)
                                     : vmci__guest_send(kernel, bytes, size_bytes, cost_ns);
    if (bytes != stack_bytes)
        free(bytes);
    return result;
}

/* The key of a subscription in subscription_events: its event alone, or its event and
 * the handle it is filtered on. Keys may collide; every lookup compares the fields. */
static uint64_t subscription_key(const struct vmci_subscription *entry)
{
    if (!entry->filtered)
        return sim_index_key2(VMCI_INVALID_ID, entry->event);
    return sim_index_key2(entry->handle.context ^ (entry->event * 0x9E3779B9u),
                          entry->handle.resource);
}

static struct vmci_subscription *subscription_of_id(const struct sim_index_node *node)
{
    return (struct vmci_subscription *)((const char *)node -
                                        offsetof(struct vmci_subscription, by_id));
}

static struct vmci_subscription *subscription_of_event(const struct sim_index_node *node)
{
    return (struct vmci_subscription *)((const char *)node -
                                        offsetof(struct vmci_subscription, by_event));
}

static void subscription_index(struct vmci_kernel *kernel, uint32_t slot)
{
    struct vmci_subscription *entry = &kernel->subscriptions[slot];
    int rc = sim_index_insert(&kernel->subscription_ids, &entry->by_id, entry->id, slot);
    if (rc == SIM_OK)
        rc = sim_index_insert(&kernel->subscription_events, &entry->by_event,
                              subscription_key(entry), slot);
    assert(rc == SIM_OK);                           /* the indexes have no bound of their own */
}

/* The slots moved (realloc): their index nodes are rebuilt, in slot order. */
static void subscriptions_reindex(struct vmci_kernel *kernel)
{
    sim_index_clear(&kernel->subscription_ids);
    sim_index_clear(&kernel->subscription_events);
    for (uint32_t slot = 0; slot < kernel->subscription_count; slot++) {
        if (kernel->subscriptions[slot].live)
            subscription_index(kernel, slot);
    }
}

static struct vmci_subscription *subscription_find(const struct vmci_kernel *kernel,
                                                   uint32_t subscription)
{
    for (const struct sim_index_node *node = sim_index_first(&kernel->subscription_ids,
                                                             subscription);
         node != NULL; node = sim_index_next(node)) {
        struct vmci_subscription *entry = subscription_of_id(node);
        if (entry->live && entry->id == subscription)
            return entry;
    }
    return NULL;
}

/* A free slot: the lowest dead one, else a new one within the event_subscriptions limit. */
static int subscription_slot(struct vmci_kernel *kernel, uint32_t *slot_out)
{
    if (sim_slots_take(&kernel->subscription_free, slot_out))
        return VMCI_SUCCESS;
    uint32_t limit = sim_engine_limits(kernel->hypervisor->engine)->event_subscriptions_max;
    if (kernel->subscription_count >= limit) {
        vmci__limit_reached(kernel->hypervisor, kernel->head.cid, "event_subscriptions_max", limit,
                            VMCI_ERROR_NO_RESOURCES);
        return VMCI_ERROR_NO_RESOURCES;
    }
    if (kernel->subscription_count == kernel->subscription_capacity) {
        uint32_t capacity = kernel->subscription_capacity == 0 ? KERNEL_TABLE_INITIAL
                                                               : kernel->subscription_capacity * 2;
        struct vmci_subscription *grown = realloc(kernel->subscriptions,
                                                  capacity * sizeof(*grown));
        if (grown == NULL)
            return VMCI_ERROR_NO_MEM;
        bool moved = grown != kernel->subscriptions;
        kernel->subscriptions = grown;
        kernel->subscription_capacity = capacity;
        if (moved)
            subscriptions_reindex(kernel);
    }
    *slot_out = kernel->subscription_count++;
    return VMCI_SUCCESS;
}

int vmci_event_subscribe(struct vmci_kernel *kernel, uint32_t event, vmci_event_fn fn,
                         void *state, uint32_t *subscription_out)
{
    assert(kernel != NULL && fn != NULL && subscription_out != NULL);
    if (event >= VMCI_EVENT_MAX || event == VMCI_EVENT_MEM_ACCESS_ON ||
        event == VMCI_EVENT_MEM_ACCESS_OFF)
        return VMCI_ERROR_INVALID_ARGS;                                         /* R65 */
    uint32_t slot = 0;
    int rc = subscription_slot(kernel, &slot);
    if (rc < 0)
        return rc;
    struct vmci_subscription *entry = &kernel->subscriptions[slot];
    memset(entry, 0, sizeof(*entry));
    entry->id = kernel->subscription_id_next++;
    entry->event = event;
    entry->live = true;
    entry->fn = fn;
    entry->state = state;
    subscription_index(kernel, slot);
    *subscription_out = entry->id;
    return VMCI_SUCCESS;
}

int vmci_event_subscription_filter(struct vmci_kernel *kernel, uint32_t subscription,
                                   struct vmci_handle handle)
{
    assert(kernel != NULL);
    struct vmci_subscription *entry = subscription_find(kernel, subscription);
    if (entry == NULL)
        return VMCI_ERROR_NOT_FOUND;
    if (entry->event != VMCI_EVENT_QP_PEER_ATTACH && entry->event != VMCI_EVENT_QP_PEER_DETACH)
        return VMCI_ERROR_INVALID_ARGS;             /* only these events carry a handle */
    sim_index_remove(&kernel->subscription_events, &entry->by_event);
    entry->filtered = true;
    entry->handle = handle;
    int rc = sim_index_insert(&kernel->subscription_events, &entry->by_event,
                              subscription_key(entry),
                              (uint64_t)(entry - kernel->subscriptions));
    assert(rc == SIM_OK);
    (void)rc;
    return VMCI_SUCCESS;
}

int vmci_event_unsubscribe(struct vmci_kernel *kernel, uint32_t subscription)
{
    struct vmci_subscription *entry = subscription_find(kernel, subscription);
    if (entry == NULL)
        return VMCI_ERROR_NOT_FOUND;
    entry->live = false;
    sim_index_remove(&kernel->subscription_ids, &entry->by_id);
    sim_index_remove(&kernel->subscription_events, &entry->by_event);
    /* Without memory to record the free slot it is simply never reused. */
    (void)sim_slots_free(&kernel->subscription_free,
                         (uint32_t)(entry - kernel->subscriptions));
    return VMCI_SUCCESS;
}

/* One delivery decision for a received datagram: `kind` and `rule` are literals at every
 * call, and inline (forced) the compiler measures them instead of each delivery. */
SIM_TRACE_INLINE void trace_delivery(struct vmci_kernel *kernel,
                                     const struct vmci_datagram_header *header,
                                     const char *kind, const char *rule)
{
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_VMCI, kind, kernel->head.cid, 0);
    sim_trace_field_u64(&event, "src_cid", header->src.context);
    sim_trace_field_u64(&event, "src_rid", header->src.resource);
    sim_trace_field_u64(&event, "dst_rid", header->dst.resource);
    sim_trace_field_u64(&event, "size", VMCI_DG_HEADERSIZE + header->payload_size);
    if (rule != NULL)
        sim_trace_field_str(&event, "rule", rule);
    vmci__trace(kernel->hypervisor, &event);
}

/* Whether subscription `entry` takes `event` with `data` (its filter, if any, matches). */
static bool subscriber_wants(const struct vmci_subscription *entry, uint32_t event,
                             const uint8_t *data, uint64_t data_bytes)
{
    if (!entry->live || entry->event != event)
        return false;
    if (!entry->filtered)
        return true;
    return data_bytes >= 8 && vmci_read_u32(data) == entry->handle.context &&
           vmci_read_u32(data + 4) == entry->handle.resource;
}

/* Appends to `slots` the slots of index chain `key` that want the event, ascending. */
static uint32_t subscribers_gather(const struct vmci_kernel *kernel,
                                   const struct vmci_subscription *probe, const uint8_t *data,
                                   uint64_t data_bytes, uint32_t *slots, uint32_t count)
{
    for (const struct sim_index_node *node = sim_index_first(&kernel->subscription_events,
                                                             subscription_key(probe));
         node != NULL; node = sim_index_next(node)) {
        const struct vmci_subscription *entry = subscription_of_event(node);
        if (entry->filtered == probe->filtered &&           /* keys of the two may collide */
            subscriber_wants(entry, probe->event, data, data_bytes))
            slots[count++] = (uint32_t)node->order;
    }
    return count;
}

static int slot_compare(const void *a, const void *b)
{
    uint32_t left = *(const uint32_t *)a, right = *(const uint32_t *)b;
    return (left > right) - (left < right);
}

/* R66: every live subscriber of `event` is called, in slot order, as a walk of all the
 * slots would call them; the indexes give the few that want it (those filtered on
 * another handle are never looked at). Each is checked again when its turn comes, since
 * an earlier callback may have unsubscribed it. */
static void subscribers_call(struct vmci_kernel *kernel, uint32_t event, const uint8_t *data,
                             uint64_t data_bytes)
{
    uint32_t count_max = kernel->subscription_ids.count;
    uint32_t local[16];
    uint32_t *slots = count_max <= 16u ? local : malloc(count_max * sizeof(*slots));
    uint32_t count = 0;
    if (slots == NULL) {
        slots = local;      /* no memory for the list: walk every slot (the same calls) */
        for (uint32_t slot = 0; slot < kernel->subscription_count; slot++) {
            struct vmci_subscription entry = kernel->subscriptions[slot];   /* may move */
            if (subscriber_wants(&entry, event, data, data_bytes))
                entry.fn(entry.state, event, data, data_bytes);
        }
        return;
    }
    struct vmci_subscription probe = { .event = event, .filtered = data_bytes >= 8 };
    if (probe.filtered) {
        probe.handle = (struct vmci_handle){ vmci_read_u32(data), vmci_read_u32(data + 4) };
        count = subscribers_gather(kernel, &probe, data, data_bytes, slots, count);
    }
    uint32_t filtered = count;
    probe.filtered = false;
    count = subscribers_gather(kernel, &probe, data, data_bytes, slots, count);
    if (filtered > 0 && count > filtered)
        qsort(slots, count, sizeof(*slots), slot_compare);          /* merge the two lists */
    for (uint32_t index = 0; index < count; index++) {
        if (slots[index] >= kernel->subscription_count)
            continue;
        struct vmci_subscription entry = kernel->subscriptions[slots[index]];
        if (subscriber_wants(&entry, event, data, data_bytes))
            entry.fn(entry.state, event, data, data_bytes);
    }
    if (slots != local)
        free(slots);
}

/* 4.5: an event datagram goes to every live subscriber of its type (R66); CTX_ID_UPDATE
 * first updates the kernel's cached CID (R70). */
static bool dispatch_event(struct vmci_kernel *kernel, const struct vmci_datagram_header *header,
                           const uint8_t *payload)
{
    if (header->payload_size < 8) {
        trace_delivery(kernel, header, "dg_drop", "R64");
        return false;
    }
    uint32_t event = vmci_read_u32(payload);
    if (event >= VMCI_EVENT_MAX || event == VMCI_EVENT_MEM_ACCESS_ON ||
        event == VMCI_EVENT_MEM_ACCESS_OFF) {
        trace_delivery(kernel, header, "dg_drop", "R65");
        return false;
    }
    if (event == VMCI_EVENT_CTX_ID_UPDATE && header->payload_size >= 12 && !kernel->is_host)
        kernel->head.cid = vmci_read_u32(payload + 8);
    trace_delivery(kernel, header, "event_deliver", NULL);
    subscribers_call(kernel, event, payload + 8, header->payload_size - 8);
    return true;
}

bool vmci__kernel_dispatch(struct vmci_kernel *kernel, const uint8_t *bytes, uint64_t size_bytes)
{
    assert(size_bytes >= VMCI_DG_HEADERSIZE);
    struct vmci_datagram_header header;
    vmci_header_decode(bytes, &header);
    assert(header.payload_size == size_bytes - VMCI_DG_HEADERSIZE);
    const uint8_t *payload = bytes + VMCI_DG_HEADERSIZE;
    if (header.src.context == VMCI_HYPERVISOR_CONTEXT_ID &&
        header.src.resource == VMCI_CONTEXT_RESOURCE_ID &&
        header.dst.resource == VMCI_EVENT_HANDLER)
        return dispatch_event(kernel, &header, payload);                        /* R42 */
    struct vmci_dg_entry *entry = vmci__kernel_handle_find(kernel, header.dst);
    if (entry == NULL) {
        trace_delivery(kernel, &header, "dg_drop", "R42");
        return false;
    }
    vmci_dg_recv_fn fn = entry->fn;
    void *state = entry->state;
    trace_delivery(kernel, &header, "dg_deliver", NULL);
    fn(state, &header, payload);
    return true;
}

uint32_t vmci_peer_flags(const struct vmci_kernel *kernel, uint32_t cid)
{
    return vmci_hypervisor_context_flags(kernel->hypervisor, cid);
}

const char *vmci_peer_owner(const struct vmci_kernel *kernel, uint32_t cid)
{
    return vmci_hypervisor_context_owner(kernel->hypervisor, cid);
}

const struct vmci_profile *vmci_kernel_profile(const struct vmci_kernel *kernel)
{
    return vmci_hypervisor_profile(kernel->hypervisor);
}

bool vmci_trusted_toward(const struct vmci_kernel *kernel, const struct vmci_identity *identity,
                         uint32_t cid)
{
    return kernel->is_host && vmci_hypervisor_trusted_toward(kernel->hypervisor, identity, cid);
}
