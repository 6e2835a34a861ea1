/* SPDX-License-Identifier: MIT */
/*
 * vmci/faults.h: named fault sites (the BUGGIFY idea), docs/faults.md.
 *
 * Every site is a place in the model that can misbehave the way a real system (class
 * REAL: a late interrupt, a full queue, a quota refusal) or only a broken one (class
 * PROTOCOL: a control packet no real VMCI loses) does. A world turns sites on with
 * vmci_faults_configure: each site of the allowed set is enabled for the whole run with
 * a probability drawn from the world's "faults" stream, then fires with its own
 * probability each time the model reaches it (vmci_fault), drawing from the same stream.
 * A world that never configures faults draws nothing, creates no stream and emits no
 * event: its runs are what they were before faults existed.
 * Invariants: fired[site] <= reached[site]; a site fires only when enabled; every firing
 * is one `fault` trace event; the faults are on only with a stream.
 */
#ifndef VMCI_FAULTS_H
#define VMCI_FAULTS_H

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>

#include "sim/engine/engine.h"

enum vmci_fault_class {
    VMCI_FAULT_REAL = 0,        /* something a real VMware host and guest can do */
    VMCI_FAULT_PROTOCOL,        /* breaks the protocol: no real VMCI does it */
    VMCI_FAULT_CLASS_COUNT,
};

/* The sites, in the order of the table in faults.c (docs/faults.md lists each). */
enum vmci_fault_site {
    VMCI_FAULT_REGISTER_ACCESS_SLOW = 0,
    VMCI_FAULT_HYPERCALL_SLOW,
    VMCI_FAULT_ROUTE_LATE,
    VMCI_FAULT_INTERRUPT_LATE,
    VMCI_FAULT_COPY_SLOW,
    VMCI_FAULT_QP_ALLOC_QUOTA,
    VMCI_FAULT_BACKLOG_FULL,
    VMCI_FAULT_PORT_SPACE_EXHAUSTED,
    VMCI_FAULT_DGRAM_DROP,
    VMCI_FAULT_CONTROL_PACKET_LOST,
    VMCI_FAULT_WAITING_NOTIFY_LOST,
    /* VMCI layer (vmci/) */
    VMCI_FAULT_GUEST_QUEUE_FULL,
    VMCI_FAULT_HOST_QUEUE_FULL,
    VMCI_FAULT_ROUTE_NO_MEM,
    VMCI_FAULT_DGRAM_LOST,
    VMCI_FAULT_QP_CREATE_NO_MEM,
    VMCI_FAULT_QP_ATTACH_NO_MEM,
    VMCI_FAULT_DG_HANDLES_FULL,
    VMCI_FAULT_INTERRUPT_SPURIOUS,
    VMCI_FAULT_INTERRUPT_LOST,
    VMCI_FAULT_DOORBELL_LATE,
    VMCI_FAULT_DOORBELL_LOST,
    VMCI_FAULT_HOST_EVENT_LATE,
    VMCI_FAULT_EVENT_LOST,
    VMCI_FAULT_DEVICE_RESET,
    /* vSockets layer (vsock/), docs/faults.md */
    VMCI_FAULT_QP_ATTACH_FAILED,
    VMCI_FAULT_HALF_OPEN_EXPIRED,
    VMCI_FAULT_CONNECT_ANSWER_LATE,
    VMCI_FAULT_SHUTDOWN_LATE,
    VMCI_FAULT_WROTE_LATE,
    VMCI_FAULT_READ_LATE,
    VMCI_FAULT_SEND_SHORT,
    VMCI_FAULT_RECV_SHORT,
    VMCI_FAULT_ACCEPT_SLOW,
    VMCI_FAULT_LISTENER_NOMEM,
    VMCI_FAULT_DGRAM_SEND_NOBUFS,
    VMCI_FAULT_QP_SIZE_MINIMUM,
    VMCI_FAULT_SITE_COUNT,
};

/* A latency site stretches a draw by a factor in [2, this]. */
#define VMCI_FAULT_STRETCH_MAX 64u
/* Probabilities are kept in parts per million (exact, so a run is the same everywhere). */
#define VMCI_FAULT_PPM 1000000u

struct vmci_fault_info {
    const char *name;
    enum vmci_fault_class class;
    const char *imitates;           /* one line: what it imitates */
};

struct vmci_faults {
    struct sim_engine *engine;      /* borrowed; NULL until configured */
    struct sim_rng *rng;            /* the "faults" stream; NULL when off */
    bool enabled[VMCI_FAULT_SITE_COUNT];
    uint32_t fire_ppm[VMCI_FAULT_SITE_COUNT];
    uint64_t reached[VMCI_FAULT_SITE_COUNT];
    uint64_t fired[VMCI_FAULT_SITE_COUNT];
};

/* What a world asks for: which sites may be enabled, with which probabilities. */
struct vmci_faults_config {
    bool allowed[VMCI_FAULT_SITE_COUNT];
    uint32_t enable_ppm[VMCI_FAULT_SITE_COUNT];    /* chance the site is on for the run */
    uint32_t fire_ppm[VMCI_FAULT_SITE_COUNT];      /* chance it fires when reached */
};

extern const struct vmci_fault_info vmci_fault_sites[VMCI_FAULT_SITE_COUNT];
/* "real" or "protocol". */
const char *vmci_fault_class_name(enum vmci_fault_class class);
/* The site called `name`; -1 if none. */
int vmci_fault_site_of(const char *name);

/* Turns faults on: creates the "faults" stream of `engine`, draws which allowed sites are
 * enabled (one draw per allowed site, in table order) and emits `faults_enabled`.
 * Returns SIM_OK, SIM_EINVAL (a probability above VMCI_FAULT_PPM) or SIM_ELIMIT (no
 * room for another stream). */
int vmci_faults_configure(struct vmci_faults *faults, struct sim_engine *engine,
                          const struct vmci_faults_config *config);
/* Whether faults are on: configured, with the "faults" stream (NULL: off). Inline, like
 * vmci_fault below: the model asks at every hop, and with faults off (most runs) the
 * answer must cost one predictable branch, not a call. */
static inline bool vmci_faults_on(const struct vmci_faults *faults)
{
    return faults != NULL && faults->rng != NULL;
}

/* vmci_fault with faults on: counts the site reached, draws, traces a firing. */
bool vmci__fault_reached(struct vmci_faults *faults, enum vmci_fault_site site, uint32_t cid);

/* The model reached `site` (cid: where, for the trace). True when it fires: counted,
 * traced as a `fault` event. With faults off (NULL or never configured): false, no draw. */
static inline bool vmci_fault(struct vmci_faults *faults, enum vmci_fault_site site,
                              uint32_t cid)
{
    assert(site < VMCI_FAULT_SITE_COUNT);
    if (!vmci_faults_on(faults))
        return false;
    return vmci__fault_reached(faults, site, cid);
}
/* `value_ns` stretched by a latency site when it fires (a factor in [2, STRETCH_MAX]). */
uint64_t vmci_fault_stretch(struct vmci_faults *faults, enum vmci_fault_site site,
                            uint64_t value_ns);
/* `value_ns` times a factor in [2, STRETCH_MAX] drawn from the stream, for a site that has
 * just fired (vmci_fault returned true); bounded on overflow. */
uint64_t vmci_fault_stretch_fired(struct vmci_faults *faults, uint64_t value_ns);
/* At the end of a run with faults on: one `fault_site` event per site (site, class,
 * enabled, reached, fired), in table order. Nothing with faults off. */
void vmci_faults_trace_summary(struct vmci_faults *faults);

#endif /* VMCI_FAULTS_H */
