/* SPDX-License-Identifier: MIT */
/*
 * vmci/invariants.h: the VMCI platform's world invariants (docs/invariants.md), checked at
 * the end of every run and, with `vmcisim run --paranoid`, after every event. Each check
 * reports every violation it finds through a callback, naming the invariant, the object
 * and what is wrong; it changes nothing (the test-only breakers below do).
 *
 *   stream_bytes    every byte a queue's reader dequeued was enqueued by its writer, in
 *                   order, no duplicate, no gap; what is still queued completes the
 *                   writer's bytes exactly
 *   qp_owner        every queue pair the broker holds has an attached side, and each
 *                   attached side's context is live
 *   qp_quota        each VM's queue-pair memory account equals the sizes of the live queue
 *                   pairs charged to it, within the limit
 *   resource_owner  every live datagram handle and doorbell of a kernel names that kernel's
 *                   context (or ANY) and has a receiver, and no two live ones share a handle
 *   dgram_once      every datagram a device queued for DATA_IN was read out once, or
 *                   discarded with a reason, or is still queued; every datagram handed to
 *                   the delivery queue (to the host kernel, local events) was dispatched
 *                   to its kernel once, or discarded (destination gone), or is in flight.
 *                   A dispatched datagram is then delivered or dropped with its rule (each
 *                   branch of the kernel's dispatch traces dg_deliver or dg_drop).
 */
#ifndef VMCI_INVARIANTS_H
#define VMCI_INVARIANTS_H

#include <stdint.h>

#include "hypervisor.h"

/* Bytes of an invariant report's object and detail texts (longer ones are cut). */
#define VMCI_INVARIANT_TEXT_BYTES 160u

/* One violation: `name` is the invariant, `object` what breaks it, `detail` how. */
typedef void (*vmci_invariant_report_fn)(void *state, const char *name, const char *object,
                                         const char *detail);

/* Runs every check; returns the number of violations reported. */
uint32_t vmci_invariants_check(const struct vmci_hypervisor *hypervisor,
                               vmci_invariant_report_fn report, void *state);

/* TEST ONLY (tests/unit/invariants_test.c): corrupts the state so that one invariant is
 * broken, to show that the check reports it. Never called by the simulator. */
enum vmci_invariant_break {
    VMCI_BREAK_STREAM_BYTES = 1,    /* flips one unread byte of the first non-empty queue */
    VMCI_BREAK_QP_OWNER,            /* marks both sides of the first queue pair detached */
    VMCI_BREAK_QP_QUOTA,            /* adds a page to the first VM's queue-pair account */
    VMCI_BREAK_RESOURCE_OWNER,      /* takes the receiver off the host's first live handle */
    VMCI_BREAK_DGRAM_ONCE,          /* counts a queued datagram the first device never had */
    VMCI_BREAK_DELIVERIES,          /* counts an accepted delivery that never was */
};
/* Returns 0, or -1 when the world has nothing to break that way. */
int vmci_invariants_break_for_test(struct vmci_hypervisor *hypervisor,
                                   enum vmci_invariant_break which);

#endif /* VMCI_INVARIANTS_H */
