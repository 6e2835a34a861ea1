/* SPDX-License-Identifier: MIT */
/*
 * vmci/vmci_int.h: state shared by the files of vmci/ (never included above it).
 *
 * Ownership: the hypervisor owns its contexts; a context owns its kernel (the
 * host driver or a guest driver's state), a VM context owns its device. Kernels
 * own their datagram handles, event subscriptions and doorbells; the broker owns
 * queue-pair entries and their memory; a struct vmci_qpair is one endpoint's
 * attachment, owned by the kernel that allocated it.
 *
 * Invariants (vmci_hypervisor_check):
 *   HV1  Contexts are sorted by CID, CIDs unique, 0 and 2 always present.
 *   HV2  A VM context's qp_memory_bytes equals the sum of P + C of the queue pairs it
 *        created (R79) and is <= VMCI_MAX_GUEST_QP_MEMORY.
 *   HV3  Every device passes vmci_device_check.
 *   HV4  queue_pair_bytes equals the sum of P + C of every queue-pair entry and is within
 *        the world's world_qp_memory_bytes limit.
 */
#ifndef VMCI_VMCI_INT_H
#define VMCI_VMCI_INT_H

#include <stddef.h>

#include "sim/engine/engine.h"
#include "sim/engine/index.h"
#include "sim/engine/process.h"

#include "device.h"
#include "faults.h"
#include "hypervisor.h"
#include "queue_pair.h"
#include "spares.h"
#include "vmci.h"

#define VMCI_READY_CALLBACKS_MAX 8u
/* Subscribers to a guest device reset (vmci_kernel_on_reset): the kernel's vSockets stack. */
#define VMCI_RESET_CALLBACKS_MAX 4u
/* Datagrams in flight to the host kernel at once (the host's receive queue): the default
 * of the world's `host_deliveries` limit. */
#define VMCI_HOST_DELIVERIES_MAX 65536u
_Static_assert(VMCI_HOST_DELIVERIES_MAX == SIM_HOST_DELIVERIES_MAX_DEFAULT,
               "the host_deliveries limit");
#define VMCI_CONTEXTS_INITIAL 16u
/* One DATA_IN read of the guest driver (vmci_guest.c reads a page first, R41). */
#define VMCI_DRIVER_FIRST_READ_BYTES VMCI_PAGE_SIZE
/* Datagrams one interrupt may dispatch before the driver re-arms (bounds the ISR loop;
 * R33's re-raise brings it back for the rest). */
#define VMCI_DRIVER_DATAGRAMS_PER_INTERRUPT_MAX 4096u

struct vmci_dg_entry {
    struct vmci_handle handle;
    uint32_t flags;
    bool live;
    struct vmci_identity identity;  /* host handles: who created it (trust) */
    bool has_identity;
    vmci_dg_recv_fn fn;
    vmci_dg_filter_fn filter;       /* host handles: synchronous check, may be NULL */
    void *state;
    struct sim_index_node by_rid;   /* the kernel's handle_index (live entries only) */
};

struct vmci_subscription {
    uint32_t id;
    uint32_t event;
    bool live;
    bool filtered;                          /* only events whose data starts with `handle` */
    struct vmci_handle handle;
    vmci_event_fn fn;
    void *state;
    struct sim_index_node by_id;            /* the kernel's subscription_ids */
    struct sim_index_node by_event;         /* the kernel's subscription_events */
};

struct vmci_doorbell_entry {
    struct vmci_handle handle;
    uint32_t notify_index;
    bool live;
    vmci_doorbell_fn fn;
    void *state;
};

struct vmci_kernel {
    struct vmci_kernel_head head;           /* first: its cached CID (R70), read inline */
    struct vmci_hypervisor *hypervisor;     /* borrowed */
    struct vmci_context *context;           /* borrowed: the context that owns us */
    bool is_host;
    bool driver_loaded;
    uint32_t engine_domain;                 /* the guest's (vmci_vm_config); host: 0 */
    uint32_t rid_next;                      /* R23, per kernel (D13) */
    /* Datagram handles: slots (a dead one is reused, the lowest first) indexed by resource
     * ID in slot order, so that the first live match is the one a walk of the slots finds
     * (R16 matching lets a context of ANY match any context). */
    struct vmci_dg_entry *handles;
    uint32_t handle_count;                  /* slots used, <= the world's handles limit */
    uint32_t handle_capacity;
    struct sim_index handle_index;
    struct sim_slots handle_free;
    /* What vmci__kernel_handle_find found last: the entry for handle_cache_key, good while
     * handle_changes (every create, destroy and move of the slots adds one) is still
     * handle_cache_changes. Every stream packet looks its handle up once or twice; a miss
     * (or a NULL entry: nothing cached) asks the index as before. */
    struct vmci_dg_entry *handle_cache_entry;
    struct vmci_handle handle_cache_key;
    uint64_t handle_changes;
    uint64_t handle_cache_changes;
    /* Subscriptions: slots (a dead one is reused, the lowest first), indexed by id and by
     * (event, handle); both indexes order by slot, the order dispatch calls them in. */
    struct vmci_subscription *subscriptions;
    uint32_t subscription_count;            /* slots used, <= the event_subscriptions limit */
    uint32_t subscription_capacity;
    uint32_t subscription_id_next;
    struct sim_slots subscription_free;
    struct sim_index subscription_ids;
    struct sim_index subscription_events;
    struct vmci_doorbell_entry *doorbells;
    uint32_t doorbell_count;
    uint32_t doorbell_capacity;
    struct {
        vmci_ready_fn fn;
        void *state;
    } ready[VMCI_READY_CALLBACKS_MAX];
    uint32_t ready_count;
    struct {
        vmci_reset_fn fn;
        void *state;
    } reset[VMCI_RESET_CALLBACKS_MAX];
    uint32_t reset_count;
    bool reload_pending;                    /* reset done, bring-up not yet run again */
    bool fault_reset_done;                  /* the device_reset site fired here (once) */
    uint8_t *receive_buffer;                /* guests: VMCI_MAX_DG_SIZE + a page, at load */
};

struct vmci_link {                          /* a doorbell link in the hypervisor (R44) */
    struct vmci_handle handle;
    uint32_t notify_index;
};

/* R208: true when fault tolerance stands between contexts a and b (one of them is in FT
 * mode, they differ, and neither is the hypervisor). */
bool vmci__ft_separates(const struct vmci_hypervisor *hypervisor, uint32_t cid_a, uint32_t cid_b);
/* The same for contexts already looked up (NULL: not in the table, so in no FT mode). */
struct vmci_context;
bool vmci__ft_separates_found(const struct vmci_context *a, uint32_t cid_a,
                              const struct vmci_context *b, uint32_t cid_b);

struct vmci_context {
    uint32_t cid;
    uint32_t privilege_flags;               /* R49: 0 or RESTRICTED for VMs */
    char name[VMCI_NAME_BYTES_MAX];
    char domain[VMCI_NAME_BYTES_MAX];
    char owner[VMCI_NAME_BYTES_MAX];
    uint32_t hw_version;
    bool memory_inaccessible;               /* between MEM_ACCESS_OFF and _ON (R90) */
    bool ft_mode;                           /* R208: fault tolerance on */
    struct vmci_device *device;             /* owned; NULL for CID 0, 2 and hw < 7 */
    struct vmci_kernel *kernel;             /* owned; NULL for CID 0 */
    uint64_t qp_memory_bytes;               /* R79 */
    uint32_t qp_count;
    struct vmci_link *links;                /* doorbell links of this context */
    uint32_t link_count;
    uint32_t link_capacity;
    struct sim_index_node by_cid;           /* the hypervisor's context_index, while in it */
};

enum vmci_qp_state {
    VMCI_QP_CREATED_NO_PEER = 1,
    VMCI_QP_ATTACHED,
    VMCI_QP_SHUTDOWN,                       /* one side detached: no new attach (R96) */
};

/* A broker entry (vmci_line_calloc): its first VMCI_CACHE_LINE_BYTES bytes hold what every
 * data operation of either side checks (who is attached, the memory, the state), the rest
 * serves allocation, detach and the broker's walks. */
struct vmci_qp_entry {
    struct vmci_handle handle;
    uint32_t creator_cid;
    uint32_t attacher_cid;                  /* VMCI_INVALID_ID until attached */
    struct vmci_qp_memory *memory;          /* owned */
    enum vmci_qp_state state;
    bool creator_attached;
    bool attacher_attached;
    bool local;                             /* R95 / D9: both ends in one context */
    bool created_by_trusted;
    bool require_trusted_attach;
    uint32_t peer;                          /* as given by the creator (ANY allowed) */
    uint32_t flags;
    uint32_t charged_cid;                   /* the VM whose quota pays (R79), or INVALID */
    uint64_t produce_size_bytes;            /* creator's view */
    uint64_t consume_size_bytes;
    uint64_t serial;                        /* creation number: the broker's walk order */
    struct vmci_qp_entry *next;             /* the broker's list, creation order */
    struct vmci_qp_entry *prev;
    struct sim_index_node by_handle;        /* the broker's index, keyed by handle */
};

_Static_assert(offsetof(struct vmci_qp_entry, require_trusted_attach) < VMCI_CACHE_LINE_BYTES,
               "what a data operation checks of an entry is in its first 64 bytes");

/* One endpoint (vmci_line_calloc): its first VMCI_CACHE_LINE_BYTES bytes hold everything a
 * data operation reads (the caches below, the running hash); the guest's own mapping
 * follows, read only once the hypervisor detached it. */
struct vmci_qpair {
    struct vmci_kernel *kernel;             /* borrowed */
    /* The broker's entry of `handle` as last looked up, valid while the broker's
     * queue_pair_removals is still entry_removals (no entry was freed since), which
     * spares most data operations a lookup (vmci__qpair_entry). */
    struct vmci_qp_entry *entry;
    uint64_t entry_removals;
    /* Running hash of the bytes this endpoint enqueued (one reference): one per direction
     * of the pair, shown in its "qp_data" events so that the digest covers the data. Most
     * often the same stream as its produce queue's written tally (qpair.c). */
    struct sim_data_stream *produced;
    /* The host side's peer context (R90: is its memory reachable?) as last looked up, valid
     * while the hypervisor's context_changes is still peer_context_changes and the peer is
     * still peer_cid: a host's every data operation asked the context table otherwise. */
    struct vmci_context *peer_context;
    uint64_t peer_context_changes;
    struct vmci_handle handle;
    uint32_t peer_cid;
    bool is_creator;
    bool detached;
    /* Guests only: the pages this endpoint mapped, kept (a reference) so that what was
     * in its consume queue stays readable after the hypervisor detached it on the
     * guest's behalf (suspend R206, device reset R209). NULL on the host. */
    struct vmci_qp_memory *memory;
    struct vmci_qp_view view;
};

_Static_assert(offsetof(struct vmci_qpair, detached) < VMCI_CACHE_LINE_BYTES,
               "what a data operation reads of an endpoint is in its first 64 bytes");

/* A datagram on its way to a kernel without passing a device: to the host kernel, or an
 * event a guest kernel generates for itself (R68, LOCAL queue pairs); after route_ns. */
struct vmci_delivery {
    struct vmci_delivery *next;
    struct vmci_delivery *prev;
    uint32_t target_cid;
    uint64_t size_bytes;
    uint8_t bytes[];
};

/* Contexts found by CID lately (vmci__context_find): every routed datagram looks up its
 * source and its destination, a host delivery its kernel. Direct-mapped by the CID's low
 * bits; a slot holds only a context that was in the table, and answers only while the
 * table is as it was then (the hypervisor's context_changes: a context put in or taken off
 * changes it, and a CID changes only off the table). Memory of lookups, never a result of
 * its own: a miss asks the index as before. */
#define VMCI_CONTEXT_CACHE_SLOTS 16u
struct vmci_context_cache_slot {
    struct vmci_context *context;           /* NULL: empty */
    uint64_t context_changes;
    uint32_t cid;
};

struct vmci_hypervisor {
    struct sim_engine *engine;              /* borrowed */
    struct vmci_profile profile;
    struct vmci_cost cost;                  /* cost.faults points at `faults` */
    struct vmci_faults faults;              /* off until vmci_hypervisor_faults_configure */
    struct vmci_context **contexts;         /* sorted by CID (HV1): every walk */
    uint32_t context_count;
    uint32_t context_capacity;
    struct sim_index context_index;         /* the same contexts by CID: every lookup */
    /* Queue-pair entries: a list in creation order (every walk) and an index by handle
     * (vmci__broker_find), so that a lookup costs the same whatever the count. */
    struct vmci_qp_entry *queue_pairs_head;
    struct vmci_qp_entry *queue_pairs_tail;
    uint32_t queue_pair_count;              /* <= VMCI_QUEUE_PAIRS_MAX */
    uint64_t queue_pair_bytes;              /* P + C of every entry: <= world_qp_memory_bytes */
    uint64_t queue_pair_serial_next;
    uint64_t queue_pair_removals;           /* entries freed so far: vmci_qpair's cache */
    uint64_t context_changes;               /* contexts put in or taken off the table so
                                             * far: vmci_qpair's peer cache */
    struct sim_index queue_pair_index;
    struct vmci_context **suspended;        /* VM contexts off the table (R205), owned */
    uint32_t suspended_count;
    uint32_t suspended_capacity;
    struct vmci_delivery *deliveries;       /* in flight to the host, oldest first */
    struct vmci_delivery *deliveries_tail;
    struct vmci_spares delivery_spares;     /* freed deliveries kept for the next ones */
    uint32_t delivery_count;                /* <= the world's host_deliveries limit */
    uint64_t delivery_last_due_ns;          /* when the newest delivery is due */
    /* The dgram_once account of deliveries (host_driver.c): accepted == dispatched to a
     * kernel + discarded (destination gone) + delivery_count. */
    uint64_t deliveries_accepted;
    uint64_t deliveries_dispatched;
    uint64_t deliveries_discarded;
    /* stream_bytes violations seen by a dequeue (vmci/qpair.c): a reader that caught up
     * with its writer and hashed other bytes. The first is kept; vmci/invariants.c reports
     * it, so a pair freed before the end of the run still fails it. */
    uint32_t stream_violation_count;
    struct vmci_handle stream_violation_handle;
    uint64_t stream_violation_time_ns;
    uint64_t stream_violation_offset_bytes;
    struct vmci_context_cache_slot context_cache[VMCI_CONTEXT_CACHE_SLOTS];
};

/* hypervisor.c */
int vmci__context_insert(struct vmci_hypervisor *hypervisor, struct vmci_context *context);
void vmci__context_remove(struct vmci_hypervisor *hypervisor, struct vmci_context *context);
void vmci__context_free(struct vmci_context *context);
int vmci__cid_next_free(const struct vmci_hypervisor *hypervisor, uint32_t cid, uint32_t *cid_out);
/* The context of `cid` in the table, NULL if none: the index, through the cache. */
struct vmci_context *vmci__context_find_indexed(const struct vmci_hypervisor *hypervisor,
                                               uint32_t cid);
static inline struct vmci_context *vmci__context_find(const struct vmci_hypervisor *hypervisor,
                                                      uint32_t cid)
{
    const struct vmci_context_cache_slot *slot =
        &hypervisor->context_cache[cid % VMCI_CONTEXT_CACHE_SLOTS];
    if (slot->context != NULL && slot->cid == cid &&
        slot->context_changes == hypervisor->context_changes) {
        assert(slot->context->cid == cid);
        return slot->context;
    }
    return vmci__context_find_indexed(hypervisor, cid);
}
/* Emits a VMCI-layer event (inline: a hop's only call to the engine). */
static inline void vmci__trace(struct vmci_hypervisor *hypervisor, struct sim_trace_event *event)
{
    (void)sim_engine_emit(hypervisor->engine, event);     /* failure aborts the run */
}
/* A "limit_reached" event: world limit `limit` (its sim.world{ limits } name + "_max")
 * of value `value` refused something in context `cid`, which got VMCI result `result`. */
void vmci__limit_reached(struct vmci_hypervisor *hypervisor, uint32_t cid, const char *limit,
                         uint64_t value, int result);
/* The pid of the process running now, 0 outside any: inline, every traced hop asks. */
static inline uint32_t vmci__current_pid(const struct vmci_hypervisor *hypervisor)
{
    const struct sim_process *process = sim_engine_current(hypervisor->engine);
    return process != NULL ? process->pid : 0;
}
/* Sends event `event` with `data` to context `cid` (4.5). */
void vmci__event_send(struct vmci_hypervisor *hypervisor, uint32_t cid, uint32_t event,
                      const uint8_t *data, uint32_t data_bytes);
/* An event a guest kernel raises for its own subscribers (R68 for LOCAL pairs). */
void vmci__event_send_local(struct vmci_hypervisor *hypervisor, uint32_t cid, uint32_t event,
                            const uint8_t *data, uint32_t data_bytes);

/* route.c: routes one datagram whose sender is context `src_cid` (R37, R52-R58). `bytes`
 * is the whole datagram (header + payload). Returns the result of R39. */
int64_t vmci__route(struct vmci_hypervisor *hypervisor, uint32_t src_cid, const uint8_t *bytes,
                    uint64_t size_bytes);

/* services.c: a guest's hypercall to {0, rid} (4.6). */
int64_t vmci__service(struct vmci_hypervisor *hypervisor, struct vmci_context *caller,
                      const uint8_t *bytes, uint64_t size_bytes);

/* kernel.c */
struct vmci_kernel *vmci__kernel_create(struct vmci_hypervisor *hypervisor,
                                        struct vmci_context *context, bool is_host);
void vmci__kernel_destroy(struct vmci_kernel *kernel);
/* Delivers one received datagram inside the kernel (R42): events to subscribers, others
 * to the matching handle; returns false when dropped. */
bool vmci__kernel_dispatch(struct vmci_kernel *kernel, const uint8_t *bytes, uint64_t size_bytes);
struct vmci_dg_entry *vmci__kernel_handle_find(struct vmci_kernel *kernel,
                                               struct vmci_handle handle);
void vmci__kernel_ready(struct vmci_kernel *kernel);
/* Tells the kernel's reset subscribers (vmci_kernel_on_reset). */
void vmci__kernel_reset_notify(struct vmci_kernel *kernel, bool reloaded);
void vmci__kernel_doorbells_scan(struct vmci_kernel *kernel, uint8_t *bitmap);

/* guest_driver.c */
void vmci__guest_driver_start(struct vmci_kernel *kernel);
int64_t vmci__guest_send(struct vmci_kernel *kernel, const uint8_t *bytes, uint64_t size_bytes,
                         uint64_t *cost_ns);
extern const struct vmci_device_ops vmci__device_ops;

/* host_driver.c */
int64_t vmci__host_send(struct vmci_kernel *kernel, const uint8_t *bytes, uint64_t size_bytes,
                        uint64_t *cost_ns);
/* Returns 0 or VMCI_ERROR_NO_RESOURCES (the host_deliveries limit) / NO_MEM. */
int vmci__host_deliver_later(struct vmci_hypervisor *hypervisor, const uint8_t *bytes,
                             uint64_t size_bytes);
/* Delivers to the kernel of `cid` (host or guest) route_ns later, bypassing any device. */
int vmci__deliver_later(struct vmci_hypervisor *hypervisor, uint32_t cid, const uint8_t *bytes,
                        uint64_t size_bytes);
/* vmci__deliver_later, due `extra_ns` later still (a late event, docs/faults.md). */
int vmci__deliver_later_after(struct vmci_hypervisor *hypervisor, uint32_t cid,
                              const uint8_t *bytes, uint64_t size_bytes, uint64_t extra_ns);
void vmci__host_deliveries_free(struct vmci_hypervisor *hypervisor);

/* broker.c */
int vmci__broker_alloc(struct vmci_hypervisor *hypervisor, struct vmci_context *caller,
                       const struct vmci_identity *identity, struct vmci_handle handle,
                       uint32_t peer, uint32_t flags, uint64_t produce_size_bytes,
                       uint64_t consume_size_bytes, struct vmci_qp_entry **entry_out,
                       bool *created_out);
int vmci__broker_detach(struct vmci_hypervisor *hypervisor, struct vmci_context *caller,
                        struct vmci_handle handle);
void vmci__broker_detach_all(struct vmci_hypervisor *hypervisor, struct vmci_context *context);
struct vmci_qp_entry *vmci__broker_find(const struct vmci_hypervisor *hypervisor,
                                        struct vmci_handle handle);
void vmci__broker_destroy_all(struct vmci_hypervisor *hypervisor);
/* A context leaves the table: entries charged to it stop counting against it (the memory
 * stays while the other side still maps it, QP3). */
void vmci__broker_uncharge_all(struct vmci_hypervisor *hypervisor, uint32_t cid);

/* doorbell.c (hypervisor side, R44, R45) */
int vmci__doorbell_link(struct vmci_hypervisor *hypervisor, struct vmci_context *context,
                        struct vmci_handle handle, uint64_t notify_index);
int vmci__doorbell_unlink(struct vmci_context *context, struct vmci_handle handle);
int vmci__doorbell_notify(struct vmci_hypervisor *hypervisor, struct vmci_context *source,
                          struct vmci_handle handle);

#endif /* VMCI_VMCI_INT_H */
