/* SPDX-License-Identifier: MIT */
/*
 * vmci/faults.c: the fault-site table and the draws (vmci/faults.h, docs/faults.md).
 *
 * Every draw comes from the world's "faults" stream, in the order the model reaches the
 * sites, so firings are a function of the seed alone. A site that is reached but not
 * enabled draws nothing. The stream is the world's one "faults" stream, separate from every
 * other stream, so faults never shift the numbers of jitter, `math.random` or CIDs.
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "sim/engine/process.h"
#include "sim/engine/rng.h"
#include "vmci/defs.h"
#include "faults.h"

#define R VMCI_FAULT_REAL
#define P VMCI_FAULT_PROTOCOL

const struct vmci_fault_info vmci_fault_sites[VMCI_FAULT_SITE_COUNT] = {
    { "register_access_slow", R, "a VM exit that takes long (host contention)" },
    { "hypercall_slow", R, "the hypervisor slow to handle a datagram (host load)" },
    { "route_late", R, "a host-bound datagram delivered late (busy host driver thread)" },
    { "interrupt_late", R, "a virtual interrupt injected late (vCPU descheduled)" },
    { "copy_slow", R, "a copy slowed down (cache misses, page faults)" },
    { "qp_alloc_quota", R, "queue pair allocation refused with the quota error" },
    { "backlog_full", R, "a listener's accept queue full: the connection refused" },
    { "port_space_exhausted", R, "no free ephemeral port for an implicit bind" },
    { "dgram_drop", R, "a datagram dropped by a full receive queue" },
    { "control_packet_lost", P, "a stream control packet lost (no real VMCI loses one)" },
    { "waiting_notify_lost", P, "a WAITING_READ/WAITING_WRITE notification lost" },
    { "guest_queue_full", R, "a VM's incoming datagram queue full (R58): NO_RESOURCES" },
    { "host_queue_full", R, "the host's incoming datagram queue full: NO_RESOURCES" },
    { "route_no_mem", R, "no memory to queue a datagram: NO_MEM to the sender" },
    { "dgram_lost", R, "a datagram (not a stream control packet) lost after it was sent" },
    { "qp_create_no_mem", R, "queue pair creation refused: no host memory (NO_MEM)" },
    { "qp_attach_no_mem", R, "queue pair attach refused: no host memory (NO_MEM)" },
    { "dg_handles_full", R, "a kernel's datagram handle table full (NO_RESOURCES)" },
    { "interrupt_spurious", R, "the driver's ICR read sees 0 (spurious or shared interrupt)" },
    { "interrupt_lost", P, "a virtual interrupt never delivered (no real device loses one)" },
    { "doorbell_late", R, "a doorbell notification delivered late (host load)" },
    { "doorbell_lost", P, "a doorbell notification lost (bitmap never set)" },
    { "host_event_late", R, "a hypervisor event to the host delivered late (busy host)" },
    { "event_lost", P, "a hypervisor event (peer detach, context removed, ...) lost" },
    { "device_reset", R, "the guest's VMCI driver reloads: its device reset (once a VM)" },
    { "qp_attach_failed", R, "the server's queue pair attach fails (no memory): RST" },
    { "half_open_expired", R, "a half-open connection expires before the client's OFFER" },
    { "connect_answer_late", R, "the server's answer arrives after the connect timeout" },
    { "shutdown_late", R, "a SHUTDOWN control packet delivered late" },
    { "wrote_late", R, "a WROTE notification delivered late" },
    { "read_late", R, "a READ notification delivered late" },
    { "send_short", R, "a non-blocking stream send accepting fewer bytes than asked" },
    { "recv_short", R, "a stream recv returning fewer bytes than are ready" },
    { "accept_slow", R, "accept() slow to hand out an established connection" },
    { "listener_nomem", R, "a listener without memory for a new connection: RST" },
    { "dgram_send_nobufs", R, "a datagram to a VM refused with ENOBUFS (its queue full)" },
    { "qp_size_minimum", P, "the server negotiating the minimum queue pair size" },
};

#undef R
#undef P

const char *vmci_fault_class_name(enum vmci_fault_class class)
{
    assert(class < VMCI_FAULT_CLASS_COUNT);
    return class == VMCI_FAULT_REAL ? "real" : "protocol";
}

int vmci_fault_site_of(const char *name)
{
    assert(name != NULL);
    for (int site = 0; site < VMCI_FAULT_SITE_COUNT; site++) {
        if (strcmp(name, vmci_fault_sites[site].name) == 0)
            return site;
    }
    return -1;
}

/* True with probability ppm / 10^6 (no draw at 0 or at 10^6: certain outcomes). */
static bool chance(struct sim_rng *rng, uint32_t ppm)
{
    assert(ppm <= VMCI_FAULT_PPM);
    if (ppm == 0)
        return false;
    if (ppm == VMCI_FAULT_PPM)
        return true;
    return sim_rng_below(rng, VMCI_FAULT_PPM) < ppm;
}

static void trace_enabled(struct vmci_faults *faults)
{
    char names[VMCI_FAULT_SITE_COUNT * 32];
    size_t used = 0;
    uint64_t count = 0;
    names[0] = '\0';
    for (int site = 0; site < VMCI_FAULT_SITE_COUNT; site++) {
        if (!faults->enabled[site])
            continue;
        int written = snprintf(names + used, sizeof(names) - used, "%s%s", count ? "," : "",
                               vmci_fault_sites[site].name);
        assert(written > 0 && (size_t)written < sizeof(names) - used);
        used += (size_t)written;
        count++;
    }
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_VMCI, "faults_enabled", VMCI_HOST_CONTEXT_ID, 0);
    sim_trace_field_u64(&event, "count", count);
    sim_trace_field_str(&event, "sites", names);
    (void)sim_engine_emit(faults->engine, &event);      /* failure aborts the run */
}

int vmci_faults_configure(struct vmci_faults *faults, struct sim_engine *engine,
                          const struct vmci_faults_config *config)
{
    assert(faults != NULL && engine != NULL && config != NULL);
    for (int site = 0; site < VMCI_FAULT_SITE_COUNT; site++) {
        if (config->enable_ppm[site] > VMCI_FAULT_PPM || config->fire_ppm[site] > VMCI_FAULT_PPM)
            return SIM_EINVAL;
    }
    struct sim_rng *rng = sim_engine_rng(engine, "faults");
    if (rng == NULL)
        return SIM_ELIMIT;
    *faults = (struct vmci_faults){ .engine = engine, .rng = rng };
    for (int site = 0; site < VMCI_FAULT_SITE_COUNT; site++) {
        if (!config->allowed[site])
            continue;
        faults->enabled[site] = chance(rng, config->enable_ppm[site]);
        faults->fire_ppm[site] = config->fire_ppm[site];
    }
    trace_enabled(faults);
    return SIM_OK;
}

bool vmci__fault_reached(struct vmci_faults *faults, enum vmci_fault_site site, uint32_t cid)
{
    assert(site < VMCI_FAULT_SITE_COUNT);
    assert(vmci_faults_on(faults));
    faults->reached[site]++;
    if (!faults->enabled[site] || !chance(faults->rng, faults->fire_ppm[site]))
        return false;
    faults->fired[site]++;
    assert(faults->fired[site] <= faults->reached[site]);
    const struct sim_process *process = sim_engine_current(faults->engine);
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_VMCI, "fault", cid, process ? process->pid : 0);
    sim_trace_field_str(&event, "site", vmci_fault_sites[site].name);
    sim_trace_field_str(&event, "class", vmci_fault_class_name(vmci_fault_sites[site].class));
    (void)sim_engine_emit(faults->engine, &event);
    return true;
}

uint64_t vmci_fault_stretch(struct vmci_faults *faults, enum vmci_fault_site site,
                            uint64_t value_ns)
{
    if (!vmci_fault(faults, site, VMCI_HOST_CONTEXT_ID))
        return value_ns;
    return vmci_fault_stretch_fired(faults, value_ns);
}

uint64_t vmci_fault_stretch_fired(struct vmci_faults *faults, uint64_t value_ns)
{
    assert(vmci_faults_on(faults));
    uint64_t factor = 2u + sim_rng_below(faults->rng, VMCI_FAULT_STRETCH_MAX - 1u);
    assert(factor >= 2u && factor <= VMCI_FAULT_STRETCH_MAX);
    if (value_ns > UINT64_MAX / factor)
        return UINT64_MAX / VMCI_FAULT_STRETCH_MAX;     /* still a bounded latency */
    return value_ns * factor;
}

void vmci_faults_trace_summary(struct vmci_faults *faults)
{
    if (!vmci_faults_on(faults))
        return;
    for (int site = 0; site < VMCI_FAULT_SITE_COUNT; site++) {
        assert(faults->fired[site] <= faults->reached[site]);
        struct sim_trace_event event;
        sim_trace_event_init(&event, SIM_LAYER_VMCI, "fault_site", VMCI_HOST_CONTEXT_ID, 0);
        sim_trace_field_str(&event, "site", vmci_fault_sites[site].name);
        sim_trace_field_str(&event, "class",
                            vmci_fault_class_name(vmci_fault_sites[site].class));
        sim_trace_field_u64(&event, "enabled", faults->enabled[site] ? 1u : 0u);
        sim_trace_field_u64(&event, "reached", faults->reached[site]);
        sim_trace_field_u64(&event, "fired", faults->fired[site]);
        (void)sim_engine_emit(faults->engine, &event);
    }
}
