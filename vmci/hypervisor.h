/* SPDX-License-Identifier: MIT */
/*
 * vmci/hypervisor.h: the VMCI hypervisor of one simulated host (reference
 * section 4). For vmci/ and for the world that builds VMs (sim/lua); sockets use
 * vmci/vmci.h instead.
 *
 * The hypervisor owns the context table (CID 0 itself, CID 2 the host, one
 * context per powered-on VM with its device and guest kernel), routes every
 * datagram with the permission rules of the active profile (R51-R58, R197, D5),
 * runs the hypervisor services (4.6), brokers queue pairs (5.3), links and rings
 * doorbells (R43-R46) and sends events (4.5). It checks the source context of
 * every datagram (R37).
 */
#ifndef VMCI_HYPERVISOR_H
#define VMCI_HYPERVISOR_H

#include <stdbool.h>
#include <stdint.h>

#include "cost.h"
#include "defs.h"
#include "profile.h"
#include "sim/engine/engine.h"
#include "sim/engine/limits.h"

/* Named limits of the hypervisor (docs/limits.md). The handle and subscription bounds
 * are the defaults of the world's `handles` and `event_subscriptions` limits, which a
 * scenario may raise (sim.world{ limits = ... }); VMCI_MAX_GUEST_QP_COUNT likewise is the
 * default of `queue_pairs`. */
#define VMCI_HOST_HANDLES_MAX 65536u        /* host datagram handles */
#define VMCI_GUEST_HANDLES_MAX 65536u       /* datagram handles in one guest kernel */
#define VMCI_QUEUE_PAIRS_MAX (1u << 20)     /* broker entries per host */
#define VMCI_EVENT_SUBSCRIPTIONS_MAX 4096u  /* per kernel */
#define VMCI_NAME_BYTES_MAX 64u
_Static_assert(VMCI_HOST_HANDLES_MAX == SIM_HANDLES_MAX_DEFAULT &&
               VMCI_GUEST_HANDLES_MAX == SIM_HANDLES_MAX_DEFAULT, "the handles limit");
_Static_assert(VMCI_EVENT_SUBSCRIPTIONS_MAX == SIM_EVENT_SUBSCRIPTIONS_MAX_DEFAULT,
               "the event_subscriptions limit");
_Static_assert(VMCI_MAX_GUEST_QP_COUNT == SIM_QUEUE_PAIRS_MAX_DEFAULT, "the queue_pairs limit");
_Static_assert(VMCI_QUEUE_PAIRS_MAX == SIM_QUEUE_PAIRS_CEILING, "queue_pairs' ceiling");

struct vmci_hypervisor;
struct vmci_kernel;
struct vmci_device;

/* Who created an endpoint, for the trust rules (R50, D1, D10). */
struct vmci_identity {
    bool trusted;               /* trusted toward every VM */
    bool owner_rule;            /* same-user profiles: trusted toward VMs owned by `user` */
    char user[VMCI_NAME_BYTES_MAX];
};

struct vmci_vm_config {
    const char *name;
    uint32_t requested_cid;     /* VMCI_INVALID_ID: generate (D15) */
    uint32_t hw_version;
    bool unrestricted;          /* vmci0.unrestricted = "TRUE" */
    const char *domain;         /* vmci0.domain, "" by default */
    const char *owner;          /* the VM's owner (D14: "user") */
    /* The engine domain the guest runs in (engine.h, "Domains"): its interrupt handler and
     * driver events run there, so freezing it freezes the guest. 0: never frozen. */
    uint32_t engine_domain;
};

/* Ownership: returns a new hypervisor owned by the caller; free with
 * vmci_hypervisor_destroy(). The profile and cost are copied. NULL when out of memory. */
struct vmci_hypervisor *vmci_hypervisor_create(struct sim_engine *engine,
                                               const struct vmci_profile *profile,
                                               const struct vmci_cost *cost);
void vmci_hypervisor_destroy(struct vmci_hypervisor *hypervisor);

/* Benchmarks only: off, queue-pair operations emit no "qp_data" event and hash nothing, so
 * the digest no longer tells different bytes apart. On by default; every run of vmcisim
 * keeps it on. Process-wide, set before building a world. */
void vmci_data_hashing_set(bool on);
struct vmci_cost *vmci_hypervisor_cost(struct vmci_hypervisor *hypervisor);
/* The world's fault sites (vmci/faults.h): off until vmci_faults_configure is called on
 * them. */
struct vmci_faults *vmci_hypervisor_faults(struct vmci_hypervisor *hypervisor);
const struct vmci_profile *vmci_hypervisor_profile(const struct vmci_hypervisor *hypervisor);

/* The host's kernel (CID 2), created with the hypervisor. */
struct vmci_kernel *vmci_hypervisor_host(struct vmci_hypervisor *hypervisor);

/* Powers a VM on (R203): creates its context with CID per R8/D15 (a collision is
 * reassigned and traced), its device if hw_version >= 7 (D7) and its guest kernel, and
 * schedules the guest driver's bring-up (3.3) as simulated events. Returns 0 and the
 * guest kernel, or a negative VMCI_ERROR_* / SIM_E* with a message in the engine. */
int vmci_hypervisor_vm_power_on(struct vmci_hypervisor *hypervisor,
                                const struct vmci_vm_config *config, struct vmci_kernel **out);

/* Looks a live context up. */
bool vmci_hypervisor_context_live(const struct vmci_hypervisor *hypervisor, uint32_t cid);
/* R49: a context's privilege flags (RESTRICTED for an unknown context). */
uint32_t vmci_hypervisor_context_flags(const struct vmci_hypervisor *hypervisor, uint32_t cid);
/* The owner of VM `cid` ("" for the host or an unknown context). */
const char *vmci_hypervisor_context_owner(const struct vmci_hypervisor *hypervisor,
                                          uint32_t cid);
/* R50/R51 for a host endpoint with `identity` toward context `cid`. */
bool vmci_hypervisor_trusted_toward(const struct vmci_hypervisor *hypervisor,
                                    const struct vmci_identity *identity, uint32_t cid);
/* The guest kernel of a live VM, or NULL. */
struct vmci_kernel *vmci_hypervisor_guest(struct vmci_hypervisor *hypervisor, uint32_t cid);
/* The device of a live VM (NULL without one): for the raw-register binding of
 * scenarios that play a hostile or buggy guest kernel (vm:device()). */
struct vmci_device *vmci_hypervisor_device(struct vmci_hypervisor *hypervisor, uint32_t cid);
/* Sizes of queue pair `handle` as its creator sees them; false when there is none. */
bool vmci_hypervisor_qp_sizes(const struct vmci_hypervisor *hypervisor, struct vmci_handle handle,
                              uint64_t *produce_size_bytes, uint64_t *consume_size_bytes);
/* The hypervisor's internal MEM_ACCESS_OFF / _ON for a VM (R90; the hooks suspend and
 * vMotion use): while off, the host's operations on that VM's queue pairs fail with
 * VMCI_ERROR_QUEUEPAIR_NOT_READY. Events 5/6 are never delivered to anyone (R65). */
int vmci_hypervisor_vm_memory_access(struct vmci_hypervisor *hypervisor, uint32_t cid,
                                     bool accessible);
/* Lifecycle hooks (reference 10), for the VM lifecycle layer above:
 * suspend (R205): memory access off, the VM's queue pairs detached (peers get
 *   QP_PEER_DETACH), its queued datagrams lost, its context off the table (the host gets
 *   CTX_REMOVED); the guest kernel and device are kept, frozen.
 * resume (R206): the context comes back with its CID, or the next free one if taken (R8);
 *   the guest then receives CTX_ID_UPDATE (if the CID changed) and QP_RESUMED.
 * power_off (R204): like suspend, then the context, device and guest kernel are freed; the
 *   caller must have released everything that uses that kernel first.
 * Return 0 or VMCI_ERROR_NOT_FOUND (no such live / suspended VM, or a VM whose driver is
 * still loading) / NO_MEM. */
int vmci_hypervisor_vm_suspend(struct vmci_hypervisor *hypervisor, uint32_t cid);
int vmci_hypervisor_vm_resume(struct vmci_hypervisor *hypervisor, uint32_t suspended_cid,
                              uint32_t *cid_out);
int vmci_hypervisor_vm_power_off(struct vmci_hypervisor *hypervisor, uint32_t cid);
/* R208: fault-tolerance mode of a VM (live or suspended). While on, the router and the
 * broker refuse every datagram and queue pair operation between the VM and any other
 * context except the hypervisor with VMCI_ERROR_NO_ACCESS. Returns 0 or NOT_FOUND. */
int vmci_hypervisor_vm_set_ft(struct vmci_hypervisor *hypervisor, uint32_t cid, bool on);
/* Whole-hypervisor invariant check (tests, the hostile-guest test). */
bool vmci_hypervisor_check(const struct vmci_hypervisor *hypervisor);

#endif /* VMCI_HYPERVISOR_H */
