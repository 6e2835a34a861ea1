/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/fault_sites_vmci_test.c: the fault sites of the VMCI layer (vmci/faults.h,
 * docs/faults.md, "The sites"), one test per site.
 *
 * Each test turns exactly one site on (allowed, enabled and firing at every reach: the
 * `sites = { name }, enable = 1, fire = 1` of a scenario), makes the model reach it and
 * checks the effect the table promises: the same error code, trace and accounting as the
 * real condition the site imitates. Each also runs the same steps with the site off and
 * checks that the effect is absent then, so no assertion holds by accident. The C tests
 * drive the VMCI driver API of a small world (the host, two VMs); the Lua ones check what
 * an application sees through vSockets.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "sim/engine/engine.h"
#include "sim/lua/runtime.h"
#include "suites.h"
#include "test_support.h"
#include "vmci/device.h"
#include "vmci/faults.h"
#include "vmci/vmci.h"

#define GUEST_CID_A 100u
#define GUEST_CID_B 101u
#define HOST_RID 5000u
#define GUEST_RID 6000u
#define SITE_NONE (-1)
#define PAYLOAD_BYTES 8u

/* What one datagram handle received. */
struct receiver {
    uint32_t delivered;
};

/* A world of the host and two guests, each with one datagram handle. */
struct world {
    struct sim_engine *engine;
    struct vmci_hypervisor *hypervisor;
    struct vmci_kernel *host;
    struct vmci_kernel *guest_a;
    struct vmci_kernel *guest_b;
    struct vmci_identity host_identity;
    struct vmci_handle host_handle;
    struct vmci_handle guest_handle_a;
    struct receiver host_rx;
    struct receiver guest_rx_a;
};

static void receiver_fn(void *state, const struct vmci_datagram_header *header,
                        const uint8_t *payload)
{
    (void)header;
    (void)payload;
    struct receiver *rx = state;
    rx->delivered++;
}

static void run_idle(struct world *w)
{
    struct sim_run_result result;
    sim_engine_run(w->engine, SIM_TIME_NEVER, 0, &result);
    CU_ASSERT_EQUAL(result.stopped, SIM_STOP_IDLE);
}

static struct vmci_kernel *power_on(struct world *w, const char *name, uint32_t cid)
{
    struct vmci_vm_config config = {
        .name = name, .requested_cid = cid, .hw_version = 7, .unrestricted = true,
        .domain = "", .owner = "user", .engine_domain = cid,
    };
    struct vmci_kernel *kernel = NULL;
    CU_ASSERT_EQUAL_FATAL(vmci_hypervisor_vm_power_on(w->hypervisor, &config, &kernel),
                          VMCI_SUCCESS);
    return kernel;
}

/* Faults on for `site` only (enable 1, fire 1), or configured with no site allowed for
 * SITE_NONE: the same draws machinery, nothing enabled. */
static void faults_on(struct world *w, int site)
{
    struct vmci_faults_config config;
    memset(&config, 0, sizeof(config));
    if (site != SITE_NONE) {
        config.allowed[site] = true;
        config.enable_ppm[site] = VMCI_FAULT_PPM;
        config.fire_ppm[site] = VMCI_FAULT_PPM;
    }
    struct vmci_faults *faults = vmci_hypervisor_faults(w->hypervisor);
    CU_ASSERT_EQUAL_FATAL(vmci_faults_configure(faults, w->engine, &config), SIM_OK);
    if (site != SITE_NONE)
        CU_ASSERT_TRUE(faults->enabled[site]);
}

/* Ownership: a new world for the caller (world_destroy). Drivers loaded, handles made,
 * faults configured for `site` after the bring-up. */
static struct world *world_create(int site)
{
    struct world *w = calloc(1, sizeof(*w));
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    struct vmci_profile profile;
    char message[128];
    CU_ASSERT_EQUAL_FATAL(vmci_profile_lookup("esxi-6.5", "esx", &profile, message,
                                              sizeof(message)), 0);
    struct sim_limits limits = sim_limits_default();
    w->engine = sim_engine_create(&limits, 7);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w->engine);
    struct vmci_cost cost = vmci_cost_default();
    w->hypervisor = vmci_hypervisor_create(w->engine, &profile, &cost);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w->hypervisor);
    w->host = vmci_hypervisor_host(w->hypervisor);
    w->host_identity.trusted = true;
    snprintf(w->host_identity.user, sizeof(w->host_identity.user), "user");
    CU_ASSERT_EQUAL_FATAL(vmci_dg_create(w->host, HOST_RID, VMCI_FLAG_DG_NONE, &w->host_identity,
                                         receiver_fn, &w->host_rx, &w->host_handle),
                          VMCI_SUCCESS);
    w->guest_a = power_on(w, "guest-a", GUEST_CID_A);
    w->guest_b = power_on(w, "guest-b", GUEST_CID_B);
    run_idle(w);                                    /* the drivers' bring-up */
    CU_ASSERT_EQUAL_FATAL(vmci_dg_create(w->guest_a, GUEST_RID, VMCI_FLAG_DG_NONE, NULL,
                                         receiver_fn, &w->guest_rx_a, &w->guest_handle_a),
                          VMCI_SUCCESS);
    faults_on(w, site);
    return w;
}

static void world_destroy(struct world *w)
{
    run_idle(w);
    CU_ASSERT(vmci_hypervisor_check(w->hypervisor));
    vmci_hypervisor_destroy(w->hypervisor);
    sim_engine_destroy(w->engine);
    free(w);
}

static uint64_t fired(struct world *w, enum vmci_fault_site site)
{
    return vmci_hypervisor_faults(w->hypervisor)->fired[site];
}

/* One datagram of PAYLOAD_BYTES from `from` (handle `src`) to {cid, rid}. */
static int64_t send_one(struct vmci_kernel *from, struct vmci_handle src, uint32_t cid,
                        uint32_t rid)
{
    uint8_t payload[PAYLOAD_BYTES] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    struct vmci_datagram_header header = {
        .dst = { cid, rid }, .src = src, .payload_size = sizeof(payload),
    };
    return vmci_dg_send(from, &header, payload, NULL);
}

/* ---- Datagram queues (R58) ------------------------------------------------------------ */

/* guest_queue_full: the host's datagram to a guest is refused with NO_RESOURCES, as a
 * full device queue refuses it, and never arrives; off, it is accepted and arrives. */
static void test_guest_queue_full(void)
{
    for (int on = 0; on <= 1; on++) {
        struct world *w = world_create(on ? VMCI_FAULT_GUEST_QUEUE_FULL : SITE_NONE);
        int64_t result = send_one(w->host, w->host_handle, GUEST_CID_A, GUEST_RID);
        run_idle(w);
        if (on) {
            ASSERT_U64_EQ(result, (uint64_t)(int64_t)VMCI_ERROR_NO_RESOURCES);
            ASSERT_U64_EQ(w->guest_rx_a.delivered, 0);
            ASSERT_U64_EQ(fired(w, VMCI_FAULT_GUEST_QUEUE_FULL), 1);
            ASSERT_U64_EQ(vmci_device_pending_bytes(vmci_hypervisor_device(w->hypervisor,
                                                                            GUEST_CID_A)), 0);
        } else {
            ASSERT_U64_EQ(result, VMCI_DG_HEADERSIZE + PAYLOAD_BYTES);
            ASSERT_U64_EQ(w->guest_rx_a.delivered, 1);
        }
        /* Datagrams to the host are not this site's business. */
        ASSERT_U64_EQ(send_one(w->guest_a, w->guest_handle_a, VMCI_HOST_CONTEXT_ID, HOST_RID),
                      VMCI_DG_HEADERSIZE + PAYLOAD_BYTES);
        world_destroy(w);
    }
}

/* host_queue_full: a guest's datagram to the host is refused with NO_RESOURCES and never
 * delivered; off, it arrives. */
static void test_host_queue_full(void)
{
    for (int on = 0; on <= 1; on++) {
        struct world *w = world_create(on ? VMCI_FAULT_HOST_QUEUE_FULL : SITE_NONE);
        int64_t result = send_one(w->guest_a, w->guest_handle_a, VMCI_HOST_CONTEXT_ID, HOST_RID);
        run_idle(w);
        if (on) {
            ASSERT_U64_EQ(result, (uint64_t)(int64_t)VMCI_ERROR_NO_RESOURCES);
            ASSERT_U64_EQ(w->host_rx.delivered, 0);
            ASSERT_U64_EQ(fired(w, VMCI_FAULT_HOST_QUEUE_FULL), 1);
        } else {
            ASSERT_U64_EQ(result, VMCI_DG_HEADERSIZE + PAYLOAD_BYTES);
            ASSERT_U64_EQ(w->host_rx.delivered, 1);
        }
        ASSERT_U64_EQ(send_one(w->host, w->host_handle, GUEST_CID_A, GUEST_RID),
                      VMCI_DG_HEADERSIZE + PAYLOAD_BYTES);
        world_destroy(w);
    }
}

/* route_no_mem: the router has no memory to queue a datagram: NO_MEM to the sender (R58's
 * out-of-memory path), nothing delivered, in both directions. */
static void test_route_no_mem(void)
{
    for (int on = 0; on <= 1; on++) {
        struct world *w = world_create(on ? VMCI_FAULT_ROUTE_NO_MEM : SITE_NONE);
        int64_t to_guest = send_one(w->host, w->host_handle, GUEST_CID_A, GUEST_RID);
        int64_t to_host = send_one(w->guest_a, w->guest_handle_a, VMCI_HOST_CONTEXT_ID, HOST_RID);
        run_idle(w);
        int64_t expected = on ? VMCI_ERROR_NO_MEM : (int64_t)(VMCI_DG_HEADERSIZE + PAYLOAD_BYTES);
        ASSERT_U64_EQ(to_guest, (uint64_t)expected);
        ASSERT_U64_EQ(to_host, (uint64_t)expected);
        ASSERT_U64_EQ(w->guest_rx_a.delivered, on ? 0 : 1);
        ASSERT_U64_EQ(w->host_rx.delivered, on ? 0 : 1);
        ASSERT_U64_EQ(fired(w, VMCI_FAULT_ROUTE_NO_MEM), on ? 2 : 0);
        world_destroy(w);
    }
}

/* dgram_lost: the sender is told the datagram went (its size), and it never arrives; a
 * datagram to a stream control RID (1) is never lost, so the site is not even reached. */
static void test_dgram_lost(void)
{
    for (int on = 0; on <= 1; on++) {
        struct world *w = world_create(on ? VMCI_FAULT_DGRAM_LOST : SITE_NONE);
        struct receiver control_rx = { 0 };
        struct vmci_handle control;
        CU_ASSERT_EQUAL_FATAL(vmci_dg_create(w->guest_a, VMCI_TRANSPORT_PACKET_RID,
                                             VMCI_FLAG_DG_NONE, NULL, receiver_fn, &control_rx,
                                             &control), VMCI_SUCCESS);
        ASSERT_U64_EQ(send_one(w->host, w->host_handle, GUEST_CID_A, GUEST_RID),
                      VMCI_DG_HEADERSIZE + PAYLOAD_BYTES);
        ASSERT_U64_EQ(send_one(w->guest_a, w->guest_handle_a, VMCI_HOST_CONTEXT_ID, HOST_RID),
                      VMCI_DG_HEADERSIZE + PAYLOAD_BYTES);
        ASSERT_U64_EQ(send_one(w->host, w->host_handle, GUEST_CID_A, VMCI_TRANSPORT_PACKET_RID),
                      VMCI_DG_HEADERSIZE + PAYLOAD_BYTES);
        run_idle(w);
        ASSERT_U64_EQ(w->guest_rx_a.delivered, on ? 0 : 1);
        ASSERT_U64_EQ(w->host_rx.delivered, on ? 0 : 1);
        ASSERT_U64_EQ(control_rx.delivered, 1);
        ASSERT_U64_EQ(fired(w, VMCI_FAULT_DGRAM_LOST), on ? 2 : 0);
        /* Reached twice either way (faults are on, the site merely not enabled when off):
         * never for the control datagram. */
        ASSERT_U64_EQ(vmci_hypervisor_faults(w->hypervisor)->reached[VMCI_FAULT_DGRAM_LOST], 2);
        world_destroy(w);
    }
}

/* ---- Queue pairs ------------------------------------------------------------------------ */

#define QP_BYTES 4096u

/* qp_create_no_mem: creating a queue pair fails with NO_MEM (host and guest alike), as
 * when the broker cannot allocate its entry; nothing is charged to the guest (HV2). */
static void test_qp_create_no_mem(void)
{
    for (int on = 0; on <= 1; on++) {
        struct world *w = world_create(on ? VMCI_FAULT_QP_CREATE_NO_MEM : SITE_NONE);
        struct vmci_handle host_handle = VMCI_INVALID_HANDLE;
        struct vmci_handle guest_handle = VMCI_INVALID_HANDLE;
        struct vmci_qpair *host_qp = NULL;
        struct vmci_qpair *guest_qp = NULL;
        int host_rc = vmci_qpair_alloc(w->host, &host_handle, QP_BYTES, QP_BYTES, GUEST_CID_A,
                                       0, &w->host_identity, &host_qp, NULL);
        int guest_rc = vmci_qpair_alloc(w->guest_a, &guest_handle, QP_BYTES, QP_BYTES,
                                        VMCI_HOST_CONTEXT_ID, 0, NULL, &guest_qp, NULL);
        CU_ASSERT_EQUAL(host_rc, on ? VMCI_ERROR_NO_MEM : VMCI_SUCCESS);
        CU_ASSERT_EQUAL(guest_rc, on ? VMCI_ERROR_NO_MEM : VMCI_SUCCESS);
        CU_ASSERT_EQUAL(host_qp == NULL, on);
        CU_ASSERT_EQUAL(guest_qp == NULL, on);
        CU_ASSERT(vmci_hypervisor_check(w->hypervisor));
        if (host_qp != NULL)
            vmci_qpair_detach(host_qp, NULL);
        if (guest_qp != NULL)
            vmci_qpair_detach(guest_qp, NULL);
        world_destroy(w);
    }
}

/* qp_attach_no_mem: the creator's pair is made, the peer's attach fails with NO_MEM and
 * the pair stays waiting for a peer (a later attach, site off, would succeed). */
static void test_qp_attach_no_mem(void)
{
    for (int on = 0; on <= 1; on++) {
        struct world *w = world_create(on ? VMCI_FAULT_QP_ATTACH_NO_MEM : SITE_NONE);
        struct vmci_handle handle = VMCI_INVALID_HANDLE;
        struct vmci_qpair *creator = NULL;
        struct vmci_qpair *attacher = NULL;
        CU_ASSERT_EQUAL_FATAL(vmci_qpair_alloc(w->guest_a, &handle, QP_BYTES, QP_BYTES,
                                               VMCI_HOST_CONTEXT_ID, 0, NULL, &creator, NULL),
                              VMCI_SUCCESS);
        int rc = vmci_qpair_alloc(w->host, &handle, QP_BYTES, QP_BYTES, GUEST_CID_A,
                                  VMCI_QPFLAG_ATTACH_ONLY, &w->host_identity, &attacher, NULL);
        CU_ASSERT_EQUAL(rc, on ? VMCI_ERROR_NO_MEM : VMCI_SUCCESS);
        CU_ASSERT_EQUAL(attacher == NULL, on);
        ASSERT_U64_EQ(fired(w, VMCI_FAULT_QP_ATTACH_NO_MEM), on ? 1 : 0);
        if (attacher != NULL)
            vmci_qpair_detach(attacher, NULL);
        vmci_qpair_detach(creator, NULL);
        world_destroy(w);
    }
}

/* dg_handles_full: a handle with a dynamic RID is refused with NO_RESOURCES, as a full
 * handle table refuses it; a fixed RID (a stack's control handle) never meets the site. */
static void test_dg_handles_full(void)
{
    for (int on = 0; on <= 1; on++) {
        struct world *w = world_create(on ? VMCI_FAULT_DG_HANDLES_FULL : SITE_NONE);
        struct receiver rx = { 0 };
        struct vmci_handle dynamic = VMCI_INVALID_HANDLE;
        struct vmci_handle fixed = VMCI_INVALID_HANDLE;
        CU_ASSERT_EQUAL(vmci_dg_create(w->guest_b, VMCI_INVALID_ID, VMCI_FLAG_DG_NONE, NULL,
                                       receiver_fn, &rx, &dynamic),
                        on ? VMCI_ERROR_NO_RESOURCES : VMCI_SUCCESS);
        CU_ASSERT_EQUAL(vmci_dg_create(w->guest_b, GUEST_RID, VMCI_FLAG_DG_NONE, NULL,
                                       receiver_fn, &rx, &fixed), VMCI_SUCCESS);
        struct vmci_faults *faults = vmci_hypervisor_faults(w->hypervisor);
        ASSERT_U64_EQ(faults->reached[VMCI_FAULT_DG_HANDLES_FULL], 1);
        world_destroy(w);
    }
}

/* ---- Interrupts ------------------------------------------------------------------------- */

static struct vmci_device *device_a(struct world *w)
{
    return vmci_hypervisor_device(w->hypervisor, GUEST_CID_A);
}

/* interrupt_spurious: every ICR read of the driver sees 0, so its handler leaves the
 * datagram where it is; the line stays asserted and the interrupt keeps coming. Once the
 * reads see the cause again (site off) the datagram is read out, exactly once. */
static void test_interrupt_spurious(void)
{
    for (int on = 0; on <= 1; on++) {
        struct world *w = world_create(on ? VMCI_FAULT_INTERRUPT_SPURIOUS : SITE_NONE);
        ASSERT_U64_EQ(send_one(w->host, w->host_handle, GUEST_CID_A, GUEST_RID),
                      VMCI_DG_HEADERSIZE + PAYLOAD_BYTES);
        struct sim_run_result result;
        sim_engine_run(w->engine, sim_engine_now(w->engine) + 1000000u, 0, &result);
        CU_ASSERT_EQUAL(result.stopped, on ? SIM_STOP_UNTIL : SIM_STOP_IDLE);
        ASSERT_U64_EQ(w->guest_rx_a.delivered, on ? 0 : 1);
        if (on) {
            CU_ASSERT(fired(w, VMCI_FAULT_INTERRUPT_SPURIOUS) > 100);   /* 1 ms of retries */
            faults_on(w, SITE_NONE);
            run_idle(w);
            ASSERT_U64_EQ(w->guest_rx_a.delivered, 1);
        }
        world_destroy(w);
    }
}

/* interrupt_lost (protocol): the delivery vanishes and the guest never reads the
 * datagram, not even when a second one queues behind it (no new cause: the queue was not
 * empty); writing IMR again re-asserts the line and both arrive. */
static void test_interrupt_lost(void)
{
    for (int on = 0; on <= 1; on++) {
        struct world *w = world_create(on ? VMCI_FAULT_INTERRUPT_LOST : SITE_NONE);
        send_one(w->host, w->host_handle, GUEST_CID_A, GUEST_RID);
        run_idle(w);
        ASSERT_U64_EQ(w->guest_rx_a.delivered, on ? 0 : 1);
        faults_on(w, SITE_NONE);
        send_one(w->host, w->host_handle, GUEST_CID_A, GUEST_RID);
        run_idle(w);
        ASSERT_U64_EQ(w->guest_rx_a.delivered, on ? 0 : 2);
        struct vmci_device *device = device_a(w);
        uint32_t imr = vmci_device_read(device, VMCI_IMR_ADDR);
        vmci_device_write(device, VMCI_IMR_ADDR, imr);
        run_idle(w);
        ASSERT_U64_EQ(w->guest_rx_a.delivered, 2);
        world_destroy(w);
    }
}

/* ---- Doorbells ------------------------------------------------------------------------- */

struct ring {
    struct sim_engine *engine;
    uint32_t count;
    uint64_t at_ns;
};

static void ring_fn(void *state)
{
    struct ring *ring = state;
    ring->count++;
    ring->at_ns = sim_engine_now(ring->engine);
}

/* A guest doorbell rung by the host and a host doorbell rung by the guest, each once:
 * the two rings in `guest_ring` and `host_ring`, timed from the ring. */
static void ring_both(int site, struct ring *guest_ring, struct ring *host_ring)
{
    struct world *w = world_create(site);
    *guest_ring = (struct ring){ .engine = w->engine };
    *host_ring = (struct ring){ .engine = w->engine };
    struct vmci_handle guest_bell;
    struct vmci_handle host_bell;
    CU_ASSERT_EQUAL_FATAL(vmci_doorbell_create(w->guest_a, ring_fn, guest_ring, &guest_bell,
                                               NULL), VMCI_SUCCESS);
    CU_ASSERT_EQUAL_FATAL(vmci_doorbell_create(w->host, ring_fn, host_ring, &host_bell, NULL),
                          VMCI_SUCCESS);
    run_idle(w);
    uint64_t start_ns = sim_engine_now(w->engine);
    CU_ASSERT_EQUAL(vmci_doorbell_notify(w->host, guest_bell, NULL), VMCI_SUCCESS);
    CU_ASSERT_EQUAL(vmci_doorbell_notify(w->guest_a, host_bell, NULL), VMCI_SUCCESS);
    run_idle(w);
    guest_ring->at_ns -= guest_ring->count > 0 ? start_ns : 0;
    host_ring->at_ns -= host_ring->count > 0 ? start_ns : 0;
    world_destroy(w);
}

/* doorbell_late: each ring arrives once, later than without the site. */
static void test_doorbell_late(void)
{
    struct ring guest_off, host_off, guest_on, host_on;
    ring_both(SITE_NONE, &guest_off, &host_off);
    ring_both(VMCI_FAULT_DOORBELL_LATE, &guest_on, &host_on);
    ASSERT_U64_EQ(guest_off.count, 1);
    ASSERT_U64_EQ(host_off.count, 1);
    ASSERT_U64_EQ(guest_on.count, 1);
    ASSERT_U64_EQ(host_on.count, 1);
    CU_ASSERT(guest_on.at_ns > guest_off.at_ns);
    CU_ASSERT(host_on.at_ns > host_off.at_ns);
}

/* doorbell_lost (protocol): the ringer is told it worked; no callback ever runs. */
static void test_doorbell_lost(void)
{
    struct ring guest_off, host_off, guest_on, host_on;
    ring_both(SITE_NONE, &guest_off, &host_off);
    ring_both(VMCI_FAULT_DOORBELL_LOST, &guest_on, &host_on);
    ASSERT_U64_EQ(guest_off.count + host_off.count, 2);
    ASSERT_U64_EQ(guest_on.count + host_on.count, 0);
}

/* ---- Events ----------------------------------------------------------------------------- */

/* The host hears CTX_REMOVED when guest B powers off (R69): `ring` counts and times it. */
static void event_fn(void *state, uint32_t event, const uint8_t *payload,
                     uint64_t payload_bytes)
{
    (void)payload;
    (void)payload_bytes;
    if (event == VMCI_EVENT_CTX_REMOVED)
        ring_fn(state);
}

static struct ring power_off_heard(int site)
{
    struct world *w = world_create(site);
    struct ring ring = { .engine = w->engine };
    uint32_t subscription = 0;
    CU_ASSERT_EQUAL_FATAL(vmci_event_subscribe(w->host, VMCI_EVENT_CTX_REMOVED, event_fn, &ring,
                                               &subscription), VMCI_SUCCESS);
    uint64_t start_ns = sim_engine_now(w->engine);
    CU_ASSERT_EQUAL(vmci_hypervisor_vm_power_off(w->hypervisor, GUEST_CID_B), VMCI_SUCCESS);
    /* A datagram to the host sent after the event: host deliveries keep their order. */
    send_one(w->guest_a, w->guest_handle_a, VMCI_HOST_CONTEXT_ID, HOST_RID);
    run_idle(w);
    ASSERT_U64_EQ(w->host_rx.delivered, 1);
    ring.at_ns -= ring.count > 0 ? start_ns : 0;
    world_destroy(w);
    return ring;
}

/* host_event_late: the host hears it once, later. */
static void test_host_event_late(void)
{
    struct ring off = power_off_heard(SITE_NONE);
    struct ring on = power_off_heard(VMCI_FAULT_HOST_EVENT_LATE);
    ASSERT_U64_EQ(off.count, 1);
    ASSERT_U64_EQ(on.count, 1);
    CU_ASSERT(on.at_ns > off.at_ns);
}

/* event_lost (protocol): the host never hears it. */
static void test_event_lost(void)
{
    struct ring off = power_off_heard(SITE_NONE);
    struct ring on = power_off_heard(VMCI_FAULT_EVENT_LOST);
    ASSERT_U64_EQ(off.count, 1);
    ASSERT_U64_EQ(on.count, 0);
}

/* ---- The guest driver ------------------------------------------------------------------ */

/* device_reset: the guest driver resets its device instead of handling the interrupt of
 * the first datagram (dropped with the queue, R34), loads again (D4) and then handles the
 * second one: the site fires once per VM and is not reached again. A queue pair the guest
 * had with the host is detached (R209). */
static void test_device_reset(void)
{
    for (int on = 0; on <= 1; on++) {
        struct world *w = world_create(on ? VMCI_FAULT_DEVICE_RESET : SITE_NONE);
        struct vmci_handle handle = VMCI_INVALID_HANDLE;
        struct vmci_qpair *guest_qp = NULL;
        CU_ASSERT_EQUAL_FATAL(vmci_qpair_alloc(w->guest_a, &handle, QP_BYTES, QP_BYTES,
                                               VMCI_HOST_CONTEXT_ID, 0, NULL, &guest_qp, NULL),
                              VMCI_SUCCESS);
        send_one(w->host, w->host_handle, GUEST_CID_A, GUEST_RID);
        run_idle(w);
        ASSERT_U64_EQ(w->guest_rx_a.delivered, on ? 0 : 1);
        send_one(w->host, w->host_handle, GUEST_CID_A, GUEST_RID);
        run_idle(w);
        ASSERT_U64_EQ(w->guest_rx_a.delivered, on ? 1 : 2);
        struct vmci_faults *faults = vmci_hypervisor_faults(w->hypervisor);
        ASSERT_U64_EQ(faults->fired[VMCI_FAULT_DEVICE_RESET], on ? 1 : 0);
        ASSERT_U64_EQ(faults->reached[VMCI_FAULT_DEVICE_RESET], on ? 1 : 2);
        CU_ASSERT(vmci_kernel_ready(w->guest_a));
        /* Detached by the reset: the guest's endpoint can no longer write. */
        CU_ASSERT_EQUAL(vmci_qpair_enqueue(guest_qp, "x", 1, NULL) < 0, on);
        vmci_qpair_detach(guest_qp, NULL);
        world_destroy(w);
    }
}

/* ---- What an application sees (Lua, through vSockets) -------------------------------- */

/* A guest datagram to a host service: with a full host queue sendto fails with ENOBUFS
 * (R58 mapped by R63, R186); the scenario checks it, so it fails when the site is off. */
#define DGRAM_REFUSED_WORLD(faults)                                                        \
    "local sim = require('vmcisim')\n"                                                      \
    "local w = sim.world{ product = 'esxi-6.5', faults = " faults " }\n"                    \
    "local g = w:vm{ name = 'g1' }\n"                                                       \
    "w:host():spawn('server', function(p)\n"                                                \
    "  local s = assert(p:socket('dgram')); assert(s:bind(sim.CID_ANY, 7001))\n"            \
    "  assert(s:setsockopt('rcvtimeo', sim.ms(5))); s:recvfrom(64)\n"                       \
    "end)\n"                                                                                \
    "g:spawn('client', function(p)\n"                                                       \
    "  p:sleep(sim.us(100))\n"                                                              \
    "  local s = assert(p:socket('dgram'))\n"                                               \
    "  local ok, err = s:sendto('x', sim.CID_HOST, 7001)\n"                                 \
    "  sim.expect(ok == nil and err == 'ENOBUFS', 'refused: ' .. tostring(err))\n"          \
    "end)\n"                                                                                \
    "w:run()\n"

static void test_lua_host_queue_full_is_enobufs(void)
{
    struct simlua_outcome on, off;
    test_run_lua_source(DGRAM_REFUSED_WORLD("{ sites = { 'host_queue_full' }, enable = 1, "
                                            "fire = 1 }"), &on);
    test_run_lua_source(DGRAM_REFUSED_WORLD("{ sites = { 'guest_queue_full' }, enable = 1, "
                                            "fire = 1 }"), &off);
    CU_ASSERT_EQUAL(on.exit_code, SIMLUA_EXIT_PASS);
    CU_ASSERT_NOT_EQUAL(off.exit_code, SIMLUA_EXIT_PASS);   /* guest-bound only: accepted */
}

/* A guest connects to a host listener while half of the host-bound datagrams are refused
 * (`fire = 0.5`). A refused REQUEST2 fails connect with ENOBUFS (R111); a refused OFFER,
 * after the NEGOTIATE2, fails it with EINVAL: Linux converts the VMCI error to an errno in
 * the send and then once more (vmci_transport.c, recv_connecting_client_negotiate), so
 * ENOBUFS becomes EINVAL. Nothing else: seed 1 sees both, then connects. */
#define CONNECT_REFUSED_WORLD(faults)                                                      \
    "local sim = require('vmcisim')\n"                                                      \
    "local w = sim.world{ product = 'esxi-6.5', faults = " faults " }\n"                    \
    "local g = w:vm{ name = 'g1' }\n"                                                       \
    "w:host():spawn('server', function(p)\n"                                                \
    "  local l = assert(p:socket('stream')); assert(l:bind(sim.CID_ANY, 5000))\n"           \
    "  assert(l:listen(4)); local c = assert(l:accept()); c:close()\n"                      \
    "end)\n"                                                                                \
    "g:spawn('client', function(p)\n"                                                       \
    "  p:sleep(sim.us(100))\n"                                                              \
    "  local seen = {}\n"                                                                   \
    "  for _ = 1, 200 do\n"                                                                 \
    "    local s = assert(p:socket('stream'))\n"                                            \
    "    local ok, err = s:connect(sim.CID_HOST, 5000)\n"                                   \
    "    s:close()\n"                                                                       \
    "    if ok then break end\n"                                                            \
    "    sim.expect(err == 'ENOBUFS' or err == 'EINVAL', 'only these: ' .. tostring(err))\n" \
    "    seen[err] = true; p:sleep(sim.ms(1))\n"                                            \
    "  end\n"                                                                               \
    "  sim.expect(seen.ENOBUFS and seen.EINVAL, 'a refused REQUEST2 and a refused OFFER')\n" \
    "end)\n"                                                                                \
    "w:run()\n"

static void test_lua_refused_control_packets_fail_connect(void)
{
    struct simlua_outcome on, off;
    test_run_lua_source(CONNECT_REFUSED_WORLD("{ sites = { 'host_queue_full' }, enable = 1, "
                                              "fire = 0.5 }"), &on);
    test_run_lua_source(CONNECT_REFUSED_WORLD("false"), &off);
    CU_ASSERT_EQUAL(on.exit_code, SIMLUA_EXIT_PASS);
    CU_ASSERT_NOT_EQUAL(off.exit_code, SIMLUA_EXIT_PASS);   /* connects at once: none seen */
}

/* A guest's first connect to a host listener, and the error the scenario expects from it
 * (`expected`), with the listed site firing at every reach. */
#define FIRST_CONNECT_WORLD(faults, expected)                                               \
    "local sim = require('vmcisim')\n"                                                      \
    "local w = sim.world{ product = 'esxi-6.5', faults = " faults " }\n"                    \
    "local g = w:vm{ name = 'g1' }\n"                                                       \
    "w:host():spawn('server', function(p)\n"                                                \
    "  local l = assert(p:socket('stream')); assert(l:bind(sim.CID_ANY, 5000))\n"           \
    "  assert(l:listen(4)); assert(l:setsockopt('rcvtimeo', sim.ms(50))); l:accept()\n"     \
    "end)\n"                                                                                \
    "g:spawn('client', function(p)\n"                                                       \
    "  p:sleep(sim.us(100))\n"                                                              \
    "  local s = assert(p:socket('stream'))\n"                                              \
    "  local ok, err = s:connect(sim.CID_HOST, 5000)\n"                                     \
    "  sim.expect(ok == nil and err == '" expected "', 'connect: ' .. tostring(err))\n"     \
    "end)\n"                                                                                \
    "w:run()\n"

static void expect_first_connect(const char *on_source, const char *off_source)
{
    struct simlua_outcome on, off;
    test_run_lua_source(on_source, &on);
    test_run_lua_source(off_source, &off);
    CU_ASSERT_EQUAL(on.exit_code, SIMLUA_EXIT_PASS);
    CU_ASSERT_NOT_EQUAL(off.exit_code, SIMLUA_EXIT_PASS);   /* off: the connect succeeds */
}

/* qp_create_no_mem: the client's queue pair is refused: connect fails with ENOMEM (R63,
 * R158). qp_attach_no_mem: the server cannot attach: it answers RST (R166), ECONNRESET. */
static void test_lua_qp_no_mem_fails_connect(void)
{
    expect_first_connect(FIRST_CONNECT_WORLD("{ sites = { 'qp_create_no_mem' }, enable = 1, "
                                             "fire = 1 }", "ENOMEM"),
                         FIRST_CONNECT_WORLD("false", "ENOMEM"));
    expect_first_connect(FIRST_CONNECT_WORLD("{ sites = { 'qp_attach_no_mem' }, enable = 1, "
                                             "fire = 1 }", "ECONNRESET"),
                         FIRST_CONNECT_WORLD("false", "ECONNRESET"));
}

/* dg_handles_full: sendto on an unbound datagram socket binds it first (R185) and the
 * dynamic handle is refused: ENOBUFS (R63). */
#define AUTOBIND_WORLD(faults)                                                             \
    "local sim = require('vmcisim')\n"                                                      \
    "local w = sim.world{ product = 'esxi-6.5', faults = " faults " }\n"                    \
    "local g = w:vm{ name = 'g1' }\n"                                                       \
    "g:spawn('client', function(p)\n"                                                       \
    "  local s = assert(p:socket('dgram'))\n"                                               \
    "  local ok, err = s:sendto('x', sim.CID_HOST, 7001)\n"                                 \
    "  sim.expect(ok == nil and err == 'ENOBUFS', 'sendto: ' .. tostring(err))\n"           \
    "end)\n"                                                                                \
    "w:run()\n"

static void test_lua_dg_handles_full_is_enobufs(void)
{
    struct simlua_outcome on, off;
    test_run_lua_source(AUTOBIND_WORLD("{ sites = { 'dg_handles_full' }, enable = 1, fire = 1 }"),
                        &on);
    test_run_lua_source(AUTOBIND_WORLD("false"), &off);     /* off: EHOSTUNREACH, no socket */
    CU_ASSERT_EQUAL(on.exit_code, SIMLUA_EXIT_PASS);
    CU_ASSERT_NOT_EQUAL(off.exit_code, SIMLUA_EXIT_PASS);
}

CU_ErrorCode fault_sites_vmci_suite_add(void)
{
    static const struct test_entry tests[] = {
        TEST_ENTRY(test_guest_queue_full),
        TEST_ENTRY(test_host_queue_full),
        TEST_ENTRY(test_route_no_mem),
        TEST_ENTRY(test_dgram_lost),
        TEST_ENTRY(test_qp_create_no_mem),
        TEST_ENTRY(test_qp_attach_no_mem),
        TEST_ENTRY(test_dg_handles_full),
        TEST_ENTRY(test_interrupt_spurious),
        TEST_ENTRY(test_interrupt_lost),
        TEST_ENTRY(test_doorbell_late),
        TEST_ENTRY(test_doorbell_lost),
        TEST_ENTRY(test_host_event_late),
        TEST_ENTRY(test_event_lost),
        TEST_ENTRY(test_device_reset),
        TEST_ENTRY(test_lua_host_queue_full_is_enobufs),
        TEST_ENTRY(test_lua_refused_control_packets_fail_connect),
        TEST_ENTRY(test_lua_qp_no_mem_fails_connect),
        TEST_ENTRY(test_lua_dg_handles_full_is_enobufs),
    };
    return test_suite_register("fault_sites_vmci", tests, sizeof(tests) / sizeof(tests[0]));
}
