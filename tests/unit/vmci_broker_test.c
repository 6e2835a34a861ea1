/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/vmci_broker_test.c: the queue-pair broker, events and doorbells of the
 * VMCI hypervisor, through the driver API (vmci/vmci.h) and the raw device
 * (reference 3.6, 4.5, 5.3, R34, R77-R79, R197-R200, D9).
 *
 * Each test builds a world: an engine, a hypervisor with one product profile, and a
 * few VMs powered on and run until their guest drivers have loaded (D4). Guest calls
 * go through the device (DATA_OUT, RESULT_LOW); events and doorbell callbacks arrive
 * in engine events, so a test runs the engine to idle before it looks at them. Where
 * the driver API cannot say something (detach by a context that is not attached, a
 * second doorbell link), the test writes the hypercall into the device itself.
 * Expectations come from the reference text; every world ends with
 * vmci_hypervisor_check.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "sim/engine/engine.h"
#include "suites.h"
#include "test_support.h"
#include "vmci/device.h"
#include "vmci/hypervisor.h"
#include "vmci/invariants.h"
#include "vmci/vmci.h"
#include "vmci/vmci_int.h"

#define CID_A 100u
#define CID_B 200u
#define CID_C 300u
#define CID_ABSENT 12345u
#define HW_VERSION 13u
#define KIB 1024ull
#define MIB (1024ull * 1024ull)
#define EVENT_LOG_MAX 8u
#define QPAIRS_MAX 2200u
#define RAW_PAYLOAD_BYTES_MAX 256u

/* What one kernel's event subscription received (4.5). */
struct event_log {
    uint32_t count;
    uint32_t event[EVENT_LOG_MAX];
    struct vmci_handle handle[EVENT_LOG_MAX];
    uint32_t peer[EVENT_LOG_MAX];
    uint64_t payload_bytes[EVENT_LOG_MAX];
};

/* Device-layer trace events of one watched VM. */
struct trace_counts {
    uint32_t cid;
    uint64_t data_out;
    uint64_t interrupts;
    uint64_t notification_interrupts;
};

struct world {
    struct sim_engine *engine;
    struct vmci_hypervisor *hv;
    struct vmci_kernel *host;
    struct vmci_profile profile;
    struct vmci_identity trusted;       /* D1: a host process's default identity */
    struct vmci_identity untrusted;     /* spawn option trusted = false */
    struct trace_counts counts;
    struct vmci_qpair *qpairs[QPAIRS_MAX]; /* every endpoint a test made, freed at close */
    uint32_t qpair_count;
};

/* ---- Fixture -------------------------------------------------------------------------- */

static int counts_emit(void *state, const struct sim_trace_event *event, char *message)
{
    (void)message;
    struct trace_counts *counts = state;
    if (event->ctx != counts->cid || event->layer != SIM_LAYER_DEVICE)
        return 0;
    if (strcmp(event->kind, "data_out") == 0)
        counts->data_out++;
    if (strcmp(event->kind, "interrupt") != 0)
        return 0;
    counts->interrupts++;
    for (uint32_t index = 0; index < event->field_count; index++) {
        if (strcmp(event->fields[index].name, "icr") == 0 &&
            (event->fields[index].value.u64 & VMCI_ICR_NOTIFICATION) != 0)
            counts->notification_interrupts++;
    }
    return 0;
}

static struct world *world_open_limits(const char *product, const char *host_os,
                                       const struct sim_limits *limits)
{
    struct world *w = calloc(1, sizeof(*w));
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    char message[128];
    CU_ASSERT_FATAL(vmci_profile_lookup(product, host_os, &w->profile, message,
                                        sizeof(message)) == 0);
    w->engine = sim_engine_create(limits, 7);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w->engine);
    struct sim_trace_sink sink = {
        .name = "counts", .level = SIM_LAYER_DEVICE, .emit = counts_emit, .state = &w->counts,
    };
    CU_ASSERT_FATAL(sim_engine_sink_attach(w->engine, sink) == SIM_OK);
    struct vmci_cost cost = vmci_cost_default();
    w->hv = vmci_hypervisor_create(w->engine, &w->profile, &cost);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w->hv);
    w->host = vmci_hypervisor_host(w->hv);
    vmci_profile_host_identity(&w->profile, true, false, false, &w->trusted.trusted,
                               &w->trusted.owner_rule);
    strcpy(w->trusted.user, "user");
    strcpy(w->untrusted.user, "user");
    w->counts.cid = VMCI_INVALID_ID;
    return w;
}

static struct world *world_open(const char *product, const char *host_os)
{
    struct sim_limits limits = sim_limits_default();
    return world_open_limits(product, host_os, &limits);
}

/* Runs the engine until nothing is left to do. */
static void world_run(struct world *w)
{
    struct sim_run_result result;
    sim_engine_run(w->engine, SIM_TIME_NEVER, 0, &result);
    ASSERT_U64_EQ(result.stopped, SIM_STOP_IDLE);
}

static void world_close(struct world *w)
{
    world_run(w);
    CU_ASSERT(vmci_hypervisor_check(w->hv));
    for (uint32_t index = 0; index < w->qpair_count; index++)
        (void)vmci_qpair_detach(w->qpairs[index], NULL);
    world_run(w);
    CU_ASSERT(vmci_hypervisor_check(w->hv));
    vmci_hypervisor_destroy(w->hv);
    sim_engine_destroy(w->engine);
    free(w);
}

/* Powers a VM on with CID `cid` and runs its driver bring-up (D4). */
static struct vmci_kernel *vm_on(struct world *w, uint32_t cid, bool unrestricted)
{
    struct vmci_vm_config config = {
        .name = "vm", .requested_cid = cid, .hw_version = HW_VERSION,
        .unrestricted = unrestricted, .domain = "", .owner = "user",
    };
    struct vmci_kernel *kernel = NULL;
    CU_ASSERT_FATAL(vmci_hypervisor_vm_power_on(w->hv, &config, &kernel) == VMCI_SUCCESS);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kernel);
    world_run(w);
    CU_ASSERT_FATAL(vmci_kernel_ready(kernel));
    ASSERT_U64_EQ(vmci_kernel_cid(kernel), cid);
    return kernel;
}

/* vmci_qpair_alloc; a successful endpoint is kept so world_close detaches and frees it. */
static int qp(struct world *w, struct vmci_kernel *kernel, struct vmci_handle *handle,
              uint64_t produce, uint64_t consume, uint32_t peer, uint32_t flags,
              const struct vmci_identity *identity, struct vmci_qpair **out)
{
    struct vmci_qpair *qpair = NULL;
    int rc = vmci_qpair_alloc(kernel, handle, produce, consume, peer, flags, identity, &qpair,
                              NULL);
    if (rc >= 0) {
        CU_ASSERT_PTR_NOT_NULL_FATAL(qpair);
        CU_ASSERT_FATAL(w->qpair_count < QPAIRS_MAX);
        w->qpairs[w->qpair_count++] = qpair;
    }
    if (out != NULL)
        *out = rc >= 0 ? qpair : NULL;
    return rc;
}

/* Same, for a fresh handle (R92). */
static int qp_new(struct world *w, struct vmci_kernel *kernel, uint64_t produce,
                  uint64_t consume, uint32_t peer, uint32_t flags,
                  const struct vmci_identity *identity, struct vmci_handle *handle_out,
                  struct vmci_qpair **out)
{
    struct vmci_handle handle = VMCI_INVALID_HANDLE;
    int rc = qp(w, kernel, &handle, produce, consume, peer, flags, identity, out);
    if (handle_out != NULL)
        *handle_out = handle;
    return rc;
}

/* Detaches an endpoint the world keeps, and forgets it. */
static int qp_detach(struct world *w, struct vmci_qpair *qpair)
{
    for (uint32_t index = 0; index < w->qpair_count; index++) {
        if (w->qpairs[index] == qpair) {
            w->qpairs[index] = w->qpairs[--w->qpair_count];
            return vmci_qpair_detach(qpair, NULL);
        }
    }
    CU_FAIL("qp_detach of an endpoint the world does not hold");
    return VMCI_ERROR_NOT_FOUND;
}

/* A hypercall written by hand into VM `cid`'s DATA_OUT as {cid, 0} (R35-R37); returns
 * RESULT_LOW as a signed value. */
static int32_t raw_hypercall(struct world *w, uint32_t cid, uint32_t rid, const uint8_t *payload,
                             uint32_t payload_bytes)
{
    uint8_t bytes[VMCI_DG_HEADERSIZE + RAW_PAYLOAD_BYTES_MAX];
    CU_ASSERT_FATAL(payload_bytes <= RAW_PAYLOAD_BYTES_MAX);
    struct vmci_datagram_header header = {
        .dst = { VMCI_HYPERVISOR_CONTEXT_ID, rid },
        .src = { cid, VMCI_CONTEXT_RESOURCE_ID },
        .payload_size = payload_bytes,
    };
    vmci_header_encode(bytes, &header);
    if (payload_bytes > 0)
        memcpy(bytes + VMCI_DG_HEADERSIZE, payload, payload_bytes);
    struct vmci_device *device = vmci_hypervisor_device(w->hv, cid);
    CU_ASSERT_PTR_NOT_NULL_FATAL(device);
    vmci_device_write_data_out(device, bytes, VMCI_DG_HEADERSIZE + payload_bytes);
    return (int32_t)vmci_device_read(device, VMCI_RESULT_LOW_ADDR);
}

/* VMCI_QUEUEPAIR_ALLOC by hand (5.3 payload; 64-bit PPNs, the driver uses PPN64). */
static int32_t raw_qp_alloc(struct world *w, uint32_t cid, struct vmci_handle handle,
                            uint32_t peer, uint32_t flags, uint64_t produce, uint64_t consume)
{
    uint64_t pages = (produce + 4095) / 4096 + 1 + (consume + 4095) / 4096 + 1;   /* R78 */
    uint8_t payload[RAW_PAYLOAD_BYTES_MAX] = { 0 };
    CU_ASSERT_FATAL(40 + pages * 8 <= sizeof(payload));
    vmci_write_u32(payload, handle.context);
    vmci_write_u32(payload + 4, handle.resource);
    vmci_write_u32(payload + 8, peer);
    vmci_write_u32(payload + 12, flags);
    vmci_write_u64(payload + 16, produce);
    vmci_write_u64(payload + 24, consume);
    vmci_write_u64(payload + 32, pages);
    for (uint64_t page = 0; page < pages; page++)
        vmci_write_u64(payload + 40 + 8 * page, 0x5000 + page);
    return raw_hypercall(w, cid, VMCI_QUEUEPAIR_ALLOC, payload, (uint32_t)(40 + pages * 8));
}

static int32_t raw_qp_detach(struct world *w, uint32_t cid, struct vmci_handle handle)
{
    uint8_t payload[8];
    vmci_write_u32(payload, handle.context);
    vmci_write_u32(payload + 4, handle.resource);
    return raw_hypercall(w, cid, VMCI_QUEUEPAIR_DETACH, payload, sizeof(payload));
}

static void event_record(void *state, uint32_t event, const uint8_t *payload,
                         uint64_t payload_bytes)
{
    struct event_log *log = state;
    if (log->count < EVENT_LOG_MAX) {
        log->event[log->count] = event;
        log->payload_bytes[log->count] = payload_bytes;
        if (payload_bytes >= 12) {
            log->handle[log->count].context = vmci_read_u32(payload);
            log->handle[log->count].resource = vmci_read_u32(payload + 4);
            log->peer[log->count] = vmci_read_u32(payload + 8);
        }
    }
    log->count++;
}

static void subscribe(struct vmci_kernel *kernel, uint32_t event, struct event_log *log)
{
    uint32_t subscription = 0;
    CU_ASSERT_FATAL(vmci_event_subscribe(kernel, event, event_record, log, &subscription) ==
                    VMCI_SUCCESS);
}

static void dg_ignore(void *state, const struct vmci_datagram_header *header,
                      const uint8_t *payload)
{
    (void)state;
    (void)header;
    (void)payload;
}

static void count_ring(void *state)
{
    (*(uint32_t *)state)++;
}

static void assert_handle(struct vmci_handle actual, uint32_t context, uint32_t resource)
{
    ASSERT_U64_EQ(actual.context, context);
    ASSERT_U64_EQ(actual.resource, resource);
}

/* ---- R91, R92, R93 ----------------------------------------------------------------------- */

/* R91: the flag mask is 15; bits outside it are INVALID_ARGS at the broker, and the client
 * API refuses NONBLOCK and PINNED (which the broker itself accepts). */
static void test_R91_flags_mask_and_client_api_refuses_nonblock_pinned(void)
{
    ASSERT_U64_EQ(VMCI_QP_ALL_FLAGS, 15);
    ASSERT_U64_EQ(VMCI_QPFLAG_ATTACH_ONLY | VMCI_QPFLAG_LOCAL | VMCI_QPFLAG_NONBLOCK |
                      VMCI_QPFLAG_PINNED, VMCI_QP_ALL_FLAGS);
    struct world *w = world_open("esxi-6.5", NULL);
    struct vmci_kernel *a = vm_on(w, CID_A, false);
    static const uint32_t refused[] = { VMCI_QPFLAG_NONBLOCK, VMCI_QPFLAG_PINNED,
                                        VMCI_QPFLAG_NONBLOCK | VMCI_QPFLAG_PINNED, 0x10u,
                                        0x80000000u, 0xFFFFFFF0u };
    for (size_t index = 0; index < sizeof(refused) / sizeof(refused[0]); index++) {
        ASSERT_U64_EQ(qp_new(w, a, 4096, 4096, VMCI_HOST_CONTEXT_ID, refused[index], NULL, NULL,
                             NULL), VMCI_ERROR_INVALID_ARGS);
        ASSERT_U64_EQ(qp_new(w, w->host, 4096, 4096, CID_A, refused[index], &w->trusted, NULL,
                             NULL), VMCI_ERROR_INVALID_ARGS);
    }
    ASSERT_U64_EQ(qp_new(w, a, 4096, 4096, VMCI_HOST_CONTEXT_ID, 0, NULL, NULL, NULL),
                  VMCI_SUCCESS);
    /* The broker itself: outside the mask is refused, NONBLOCK|PINNED are in it. */
    struct vmci_handle raw = { CID_A, 50000 };
    ASSERT_U64_EQ(raw_qp_alloc(w, CID_A, raw, VMCI_HOST_CONTEXT_ID, 0x10u, 4096, 4096),
                  VMCI_ERROR_INVALID_ARGS);
    ASSERT_U64_EQ(raw_qp_alloc(w, CID_A, raw, VMCI_HOST_CONTEXT_ID,
                               VMCI_QPFLAG_NONBLOCK | VMCI_QPFLAG_PINNED, 4096, 4096),
                  VMCI_SUCCESS_QUEUEPAIR_CREATE);
    ASSERT_U64_EQ(raw_qp_detach(w, CID_A, raw), VMCI_SUCCESS);
    world_close(w);
}

/* R92, R23, D13: a creator's new handle is {own CID, next RID of its own kernel's counter},
 * the counter that also numbers datagram handles and doorbells, from 1024 per kernel. */
static void test_R92_new_handle_is_own_cid_and_kernel_rid_counter(void)
{
    struct world *w = world_open("esxi-6.5", NULL);
    struct vmci_kernel *a = vm_on(w, CID_A, false);
    struct vmci_handle handle;
    ASSERT_U64_EQ(qp_new(w, a, 4096, 4096, VMCI_HOST_CONTEXT_ID, 0, NULL, &handle, NULL),
                  VMCI_SUCCESS);
    assert_handle(handle, CID_A, 1024);
    struct vmci_handle dg;
    ASSERT_U64_EQ(vmci_dg_create(a, VMCI_INVALID_ID, 0, NULL,
                                 dg_ignore, NULL, &dg),
                  VMCI_SUCCESS);
    assert_handle(dg, CID_A, 1025);
    ASSERT_U64_EQ(qp_new(w, a, 4096, 4096, VMCI_HOST_CONTEXT_ID, 0, NULL, &handle, NULL),
                  VMCI_SUCCESS);
    assert_handle(handle, CID_A, 1026);
    /* The host kernel has its own counter (D13). */
    ASSERT_U64_EQ(qp_new(w, w->host, 4096, 4096, CID_A, 0, &w->trusted, &handle, NULL),
                  VMCI_SUCCESS);
    assert_handle(handle, VMCI_HOST_CONTEXT_ID, 1024);
    ASSERT_U64_EQ(vmci_dg_destroy(a, dg), VMCI_SUCCESS);
    world_close(w);
}

/* R93: create checks in order: ATTACH_ONLY (-21) before the handle's context (-7) before
 * both-VMs (R197: -7 with a restricted VM). handle.context may be the creator or the peer. */
static void test_R93_create_checks_in_order(void)
{
    struct world *w = world_open("esxi-6.5", NULL);
    struct vmci_kernel *a = vm_on(w, CID_A, false);
    struct vmci_kernel *b = vm_on(w, CID_B, false);
    struct vmci_handle handle = { CID_A, 5000 };
    ASSERT_U64_EQ(qp(w, a, &handle, 4096, 4096, VMCI_HOST_CONTEXT_ID, VMCI_QPFLAG_ATTACH_ONLY,
                     NULL, NULL), VMCI_ERROR_NOT_FOUND);
    handle = (struct vmci_handle){ 999, 5001 };         /* also a foreign context: -21 first */
    ASSERT_U64_EQ(qp(w, a, &handle, 4096, 4096, CID_B, VMCI_QPFLAG_ATTACH_ONLY, NULL, NULL),
                  VMCI_ERROR_NOT_FOUND);
    handle = (struct vmci_handle){ 999, 5002 };
    ASSERT_U64_EQ(qp(w, a, &handle, 4096, 4096, VMCI_HOST_CONTEXT_ID, 0, NULL, NULL),
                  VMCI_ERROR_NO_ACCESS);
    handle = (struct vmci_handle){ VMCI_HOST_CONTEXT_ID, 5003 };  /* the peer's context is fine */
    ASSERT_U64_EQ(qp(w, a, &handle, 4096, 4096, VMCI_HOST_CONTEXT_ID, 0, NULL, NULL),
                  VMCI_SUCCESS);
    /* Both VMs on a profile without guest-to-guest, both restricted (R196): R197 -> -7,
     * at create (peer B) and at attach (peer ANY, B attaches: R94). */
    ASSERT_U64_EQ(qp_new(w, a, 4096, 4096, CID_B, 0, NULL, NULL, NULL), VMCI_ERROR_NO_ACCESS);
    ASSERT_U64_EQ(qp_new(w, a, 4096, 4096, VMCI_INVALID_ID, 0, NULL, &handle, NULL),
                  VMCI_SUCCESS);
    ASSERT_U64_EQ(qp(w, b, &handle, 4096, 4096, CID_A, 0, NULL, NULL), VMCI_ERROR_NO_ACCESS);
    handle = (struct vmci_handle){ CID_B, 5004 };
    ASSERT_U64_EQ(qp(w, a, &handle, 4096, 4096, CID_B, 0, NULL, NULL), VMCI_ERROR_NO_ACCESS);
    /* The host, likewise: its handle's context must be 2 or the peer. */
    handle = (struct vmci_handle){ CID_B, 6000 };
    ASSERT_U64_EQ(qp(w, w->host, &handle, 4096, 4096, CID_A, 0, &w->trusted, NULL),
                  VMCI_ERROR_NO_ACCESS);
    handle = (struct vmci_handle){ CID_A, 6001 };
    ASSERT_U64_EQ(qp(w, w->host, &handle, 4096, 4096, CID_A, 0, &w->trusted, NULL),
                  VMCI_SUCCESS);
    world_close(w);
}

/* R93, R197: VM-to-VM queue pairs are created and attached where the profile allows
 * guest-to-guest and both VMs are unrestricted; a restricted one makes it -7. */
static void test_R93_R197_guest_to_guest_by_profile(void)
{
    struct world *w = world_open("workstation-8", "linux");
    struct vmci_kernel *a = vm_on(w, CID_A, true);
    struct vmci_kernel *b = vm_on(w, CID_B, true);
    struct vmci_kernel *c = vm_on(w, CID_C, false);
    struct vmci_handle handle;
    ASSERT_U64_EQ(qp_new(w, a, 4096, 8192, CID_B, 0, NULL, &handle, NULL), VMCI_SUCCESS);
    ASSERT_U64_EQ(qp(w, b, &handle, 8192, 4096, CID_A, 0, NULL, NULL), VMCI_SUCCESS);
    ASSERT_U64_EQ(qp_new(w, a, 4096, 4096, CID_C, 0, NULL, NULL, NULL), VMCI_ERROR_NO_ACCESS);
    ASSERT_U64_EQ(qp_new(w, a, 4096, 4096, VMCI_INVALID_ID, 0, NULL, &handle, NULL),
                  VMCI_SUCCESS);
    ASSERT_U64_EQ(qp(w, c, &handle, 4096, 4096, CID_A, 0, NULL, NULL), VMCI_ERROR_NO_ACCESS);
    ASSERT_U64_EQ(qp(w, b, &handle, 4096, 4096, CID_A, 0, NULL, NULL), VMCI_SUCCESS);
    world_close(w);

    w = world_open("workstation-9", "linux");           /* no guest-to-guest, always restricted */
    a = vm_on(w, CID_A, true);
    (void)vm_on(w, CID_B, true);
    ASSERT_U64_EQ(qp_new(w, a, 4096, 4096, CID_B, 0, NULL, NULL, NULL), VMCI_ERROR_NO_ACCESS);
    world_close(w);
}

/* R93, R96, R77 through the hypercalls themselves: a create's result is
 * VMCI_SUCCESS_QUEUEPAIR_CREATE (4) (the driver API reports VMCI_SUCCESS), the last detach
 * VMCI_SUCCESS, and P = C = 0 is -2. */
static void test_R93_R96_broker_results_through_raw_hypercalls(void)
{
    struct world *w = world_open("esxi-6.5", NULL);
    (void)vm_on(w, CID_A, false);
    struct vmci_handle handle = { CID_A, 40000 };
    ASSERT_U64_EQ(raw_qp_alloc(w, CID_A, handle, VMCI_HOST_CONTEXT_ID, 0, 100, 0),
                  VMCI_SUCCESS_QUEUEPAIR_CREATE);
    ASSERT_U64_EQ(raw_qp_detach(w, CID_A, handle), VMCI_SUCCESS);
    ASSERT_U64_EQ(raw_qp_alloc(w, CID_A, handle, VMCI_HOST_CONTEXT_ID, 0, 0, 0),
                  VMCI_ERROR_INVALID_ARGS);                                     /* R77 */
    world_close(w);
}

/* ---- R94 --------------------------------------------------------------------------------- */

/* R94 first check: once the creator has detached, nobody may attach (-20), which comes
 * before every other check; a context still attached gets -22 (R93, before the lookup). */
static void test_R94_attach_after_creator_detached_unavailable(void)
{
    struct world *w = world_open("esxi-6.5", NULL);
    struct vmci_kernel *a = vm_on(w, CID_A, false);
    struct vmci_kernel *b = vm_on(w, CID_B, false);
    struct vmci_handle handle;
    struct vmci_qpair *creator = NULL;
    ASSERT_U64_EQ(qp_new(w, a, 4096, 4096, VMCI_HOST_CONTEXT_ID, 0, NULL, &handle, &creator),
                  VMCI_SUCCESS);
    ASSERT_U64_EQ(qp(w, w->host, &handle, 4096, 4096, CID_A, 0, &w->trusted, NULL),
                  VMCI_SUCCESS);
    ASSERT_U64_EQ(qp_detach(w, creator), VMCI_SUCCESS);
    ASSERT_U64_EQ(qp(w, a, &handle, 4096, 4096, VMCI_HOST_CONTEXT_ID, 0, NULL, NULL),
                  VMCI_ERROR_UNAVAILABLE);
    ASSERT_U64_EQ(qp(w, a, &handle, 1, 1, VMCI_HOST_CONTEXT_ID, 0, NULL, NULL),
                  VMCI_ERROR_UNAVAILABLE);                      /* before the size check */
    ASSERT_U64_EQ(qp(w, b, &handle, 4096, 4096, VMCI_HOST_CONTEXT_ID, 0, NULL, NULL),
                  VMCI_ERROR_UNAVAILABLE);                      /* before the peer check */
    ASSERT_U64_EQ(qp(w, w->host, &handle, 4096, 4096, CID_A, 0, &w->trusted, NULL),
                  VMCI_ERROR_ALREADY_EXISTS);
    world_close(w);
}

/* R94 second check: the creator or the attacher attaching again gets -22, whatever the
 * sizes. */
static void test_R94_attach_twice_already_exists(void)
{
    struct world *w = world_open("esxi-6.5", NULL);
    struct vmci_kernel *a = vm_on(w, CID_A, false);
    struct vmci_handle handle;
    ASSERT_U64_EQ(qp_new(w, a, 4096, 8192, VMCI_HOST_CONTEXT_ID, 0, NULL, &handle, NULL),
                  VMCI_SUCCESS);
    ASSERT_U64_EQ(qp(w, a, &handle, 8192, 4096, VMCI_HOST_CONTEXT_ID, 0, NULL, NULL),
                  VMCI_ERROR_ALREADY_EXISTS);                   /* the creator, before a peer */
    ASSERT_U64_EQ(qp(w, w->host, &handle, 8192, 4096, CID_A, 0, &w->trusted, NULL),
                  VMCI_SUCCESS);
    ASSERT_U64_EQ(qp(w, w->host, &handle, 8192, 4096, CID_A, 0, &w->trusted, NULL),
                  VMCI_ERROR_ALREADY_EXISTS);
    ASSERT_U64_EQ(qp(w, w->host, &handle, 1, 2, CID_A, 0, &w->trusted, NULL),
                  VMCI_ERROR_ALREADY_EXISTS);
    ASSERT_U64_EQ(qp(w, a, &handle, 8192, 4096, VMCI_HOST_CONTEXT_ID, 0, NULL, NULL),
                  VMCI_ERROR_ALREADY_EXISTS);
    world_close(w);
}

/* R94, R50, R51: a restricted VM may attach only to an entry created by a trusted
 * endpoint, and an entry created by a restricted VM needs a trusted attacher (-7, before
 * the size check). */
static void test_R94_restricted_and_trusted_attach(void)
{
    struct world *w = world_open("esxi-6.5", NULL);
    struct vmci_kernel *a = vm_on(w, CID_A, false);
    struct vmci_handle handle;
    ASSERT_U64_EQ(qp_new(w, w->host, 4096, 4096, CID_A, 0, &w->untrusted, &handle, NULL),
                  VMCI_SUCCESS);
    ASSERT_U64_EQ(qp(w, a, &handle, 4096, 4096, VMCI_HOST_CONTEXT_ID, 0, NULL, NULL),
                  VMCI_ERROR_NO_ACCESS);
    ASSERT_U64_EQ(qp(w, a, &handle, 1, 1, VMCI_HOST_CONTEXT_ID, 0, NULL, NULL),
                  VMCI_ERROR_NO_ACCESS);
    ASSERT_U64_EQ(qp_new(w, w->host, 4096, 4096, CID_A, 0, &w->trusted, &handle, NULL),
                  VMCI_SUCCESS);
    ASSERT_U64_EQ(qp(w, a, &handle, 4096, 4096, VMCI_HOST_CONTEXT_ID, 0, NULL, NULL),
                  VMCI_SUCCESS);
    /* require_trusted_attach: created by the restricted VM. */
    ASSERT_U64_EQ(qp_new(w, a, 4096, 4096, VMCI_HOST_CONTEXT_ID, 0, NULL, &handle, NULL),
                  VMCI_SUCCESS);
    ASSERT_U64_EQ(qp(w, w->host, &handle, 4096, 4096, CID_A, 0, &w->untrusted, NULL),
                  VMCI_ERROR_NO_ACCESS);
    ASSERT_U64_EQ(qp(w, w->host, &handle, 1, 1, CID_A, 0, &w->untrusted, NULL),
                  VMCI_ERROR_NO_ACCESS);
    ASSERT_U64_EQ(qp(w, w->host, &handle, 4096, 4096, CID_A, 0, &w->trusted, NULL),
                  VMCI_SUCCESS);
    world_close(w);
}

/* R94: an entry naming a peer admits only that peer (-7, before the size check). On
 * workstation-8 with unrestricted VMs, no other check stands in the way. */
static void test_R94_peer_not_any_must_be_the_attacher(void)
{
    struct world *w = world_open("workstation-8", "linux");
    struct vmci_kernel *a = vm_on(w, CID_A, true);
    struct vmci_kernel *b = vm_on(w, CID_B, true);
    struct vmci_kernel *c = vm_on(w, CID_C, true);
    struct vmci_handle handle;
    ASSERT_U64_EQ(qp_new(w, a, 4096, 4096, CID_B, 0, NULL, &handle, NULL), VMCI_SUCCESS);
    ASSERT_U64_EQ(qp(w, c, &handle, 4096, 4096, CID_A, 0, NULL, NULL), VMCI_ERROR_NO_ACCESS);
    ASSERT_U64_EQ(qp(w, c, &handle, 1, 1, CID_A, 0, NULL, NULL), VMCI_ERROR_NO_ACCESS);
    ASSERT_U64_EQ(qp(w, w->host, &handle, 4096, 4096, CID_A, 0, &w->trusted, NULL),
                  VMCI_ERROR_NO_ACCESS);
    ASSERT_U64_EQ(qp(w, b, &handle, 4096, 4096, CID_A, 0, NULL, NULL), VMCI_SUCCESS);
    /* Peer ANY admits anyone allowed. */
    ASSERT_U64_EQ(qp_new(w, a, 4096, 4096, VMCI_INVALID_ID, 0, NULL, &handle, NULL),
                  VMCI_SUCCESS);
    ASSERT_U64_EQ(qp(w, c, &handle, 4096, 4096, CID_A, 0, NULL, NULL), VMCI_SUCCESS);
    /* The host naming A as peer: B may not attach. */
    ASSERT_U64_EQ(qp_new(w, w->host, 4096, 4096, CID_A, 0, &w->trusted, &handle, NULL),
                  VMCI_SUCCESS);
    ASSERT_U64_EQ(qp(w, b, &handle, 4096, 4096, VMCI_HOST_CONTEXT_ID, 0, NULL, NULL),
                  VMCI_ERROR_NO_ACCESS);
    world_close(w);
}

/* R94, R98, R200: on profiles without host queue pairs, attaching across host and VM is
 * INVALID_RESOURCE (-1), in either direction, before the size check. */
static void host_qp_refused(const char *product, const char *host_os, bool unrestricted)
{
    struct world *w = world_open(product, host_os);
    struct vmci_kernel *a = vm_on(w, CID_A, unrestricted);
    struct vmci_handle handle;
    ASSERT_U64_EQ(qp_new(w, w->host, 4096, 4096, CID_A, 0, &w->trusted, &handle, NULL),
                  VMCI_SUCCESS);
    ASSERT_U64_EQ(qp(w, a, &handle, 4096, 4096, VMCI_HOST_CONTEXT_ID, 0, NULL, NULL),
                  VMCI_ERROR_INVALID_RESOURCE);
    ASSERT_U64_EQ(qp(w, a, &handle, 1, 1, VMCI_HOST_CONTEXT_ID, 0, NULL, NULL),
                  VMCI_ERROR_INVALID_RESOURCE);
    ASSERT_U64_EQ(qp_new(w, a, 4096, 4096, VMCI_HOST_CONTEXT_ID, 0, NULL, &handle, NULL),
                  VMCI_SUCCESS);
    ASSERT_U64_EQ(qp(w, w->host, &handle, 4096, 4096, CID_A, 0, &w->trusted, NULL),
                  VMCI_ERROR_INVALID_RESOURCE);
    world_close(w);
}

static void test_R98_R200_host_qp_refused_without_host_queue_pairs(void)
{
    host_qp_refused("workstation-6.5", "linux", false);
    host_qp_refused("workstation-6.5", "windows", true);   /* no trusted host endpoint (R50) */
    host_qp_refused("workstation-7", "windows", true);
    /* The same attach where the profile has host queue pairs. */
    struct world *w = world_open("workstation-7", "linux");
    struct vmci_kernel *a = vm_on(w, CID_A, false);
    struct vmci_handle handle;
    ASSERT_U64_EQ(qp_new(w, w->host, 4096, 4096, CID_A, 0, &w->trusted, &handle, NULL),
                  VMCI_SUCCESS);
    ASSERT_U64_EQ(qp(w, a, &handle, 4096, 4096, VMCI_HOST_CONTEXT_ID, 0, NULL, NULL),
                  VMCI_SUCCESS);
    world_close(w);
}

/* R94: flags must match, ignoring the attacher's ATTACH_ONLY (-31). The host on ESX may
 * ask for LOCAL (D9), which a VM-created entry does not have. */
static void test_R94_flags_mismatch(void)
{
    struct world *w = world_open("esxi-6.5", NULL);
    struct vmci_kernel *a = vm_on(w, CID_A, false);
    struct vmci_handle handle;
    ASSERT_U64_EQ(qp_new(w, a, 4096, 4096, VMCI_HOST_CONTEXT_ID, 0, NULL, &handle, NULL),
                  VMCI_SUCCESS);
    ASSERT_U64_EQ(qp(w, w->host, &handle, 4096, 4096, CID_A, VMCI_QPFLAG_LOCAL, &w->trusted,
                     NULL), VMCI_ERROR_QUEUEPAIR_MISMATCH);
    ASSERT_U64_EQ(qp(w, w->host, &handle, 4096, 4096, CID_A, VMCI_QPFLAG_ATTACH_ONLY,
                     &w->trusted, NULL), VMCI_SUCCESS);
    world_close(w);
}

/* R94: the attacher's produce size must be the creator's consume size and vice versa
 * (-31); zero-sized queues mirror too. */
static void test_R94_sizes_not_mirrored_mismatch(void)
{
    struct world *w = world_open("esxi-6.5", NULL);
    struct vmci_kernel *a = vm_on(w, CID_A, false);
    struct vmci_handle handle;
    ASSERT_U64_EQ(qp_new(w, a, 4096, 8192, VMCI_HOST_CONTEXT_ID, 0, NULL, &handle, NULL),
                  VMCI_SUCCESS);
    ASSERT_U64_EQ(qp(w, w->host, &handle, 4096, 8192, CID_A, 0, &w->trusted, NULL),
                  VMCI_ERROR_QUEUEPAIR_MISMATCH);
    ASSERT_U64_EQ(qp(w, w->host, &handle, 8192, 8192, CID_A, 0, &w->trusted, NULL),
                  VMCI_ERROR_QUEUEPAIR_MISMATCH);
    ASSERT_U64_EQ(qp(w, w->host, &handle, 8193, 4096, CID_A, 0, &w->trusted, NULL),
                  VMCI_ERROR_QUEUEPAIR_MISMATCH);
    ASSERT_U64_EQ(qp(w, w->host, &handle, 8192, 4096, CID_A, 0, &w->trusted, NULL),
                  VMCI_SUCCESS);
    ASSERT_U64_EQ(qp_new(w, a, 4096, 0, VMCI_HOST_CONTEXT_ID, 0, NULL, &handle, NULL),
                  VMCI_SUCCESS);
    ASSERT_U64_EQ(qp(w, w->host, &handle, 4096, 0, CID_A, 0, &w->trusted, NULL),
                  VMCI_ERROR_QUEUEPAIR_MISMATCH);
    ASSERT_U64_EQ(qp(w, w->host, &handle, 0, 4096, CID_A, 0, &w->trusted, NULL),
                  VMCI_SUCCESS);
    world_close(w);
}

/* ---- R95, D9 ----------------------------------------------------------------------------- */

/* R95: a LOCAL pair is created with peer ANY (or the own CID) and attached from the same
 * guest, with no hypercall; the attacher consumes what the creator produces; a third
 * attach is -20. */
static void test_R95_local_pair_in_one_guest(void)
{
    struct world *w = world_open("esxi-6.5", NULL);
    struct vmci_kernel *a = vm_on(w, CID_A, false);
    w->counts.cid = CID_A;
    uint64_t data_out_before = w->counts.data_out;
    struct vmci_handle handle;
    struct vmci_qpair *creator = NULL, *attacher = NULL;
    ASSERT_U64_EQ(qp_new(w, a, 4096, 1024, VMCI_INVALID_ID, VMCI_QPFLAG_LOCAL, NULL, &handle,
                         &creator), VMCI_SUCCESS);
    assert_handle(handle, CID_A, 1024);
    ASSERT_U64_EQ(qp(w, a, &handle, 1024, 4096, VMCI_INVALID_ID, VMCI_QPFLAG_LOCAL, NULL,
                     &attacher), VMCI_SUCCESS);
    ASSERT_U64_EQ(w->counts.data_out, data_out_before);         /* no hypercall */
    CU_ASSERT_FATAL(creator != NULL && attacher != NULL);
    uint8_t bytes[16] = { 0 };
    ASSERT_U64_EQ(vmci_qpair_enqueue(creator, "local", 5, NULL), 5);
    ASSERT_U64_EQ(vmci_qpair_consume_buf_ready(attacher), 5);
    ASSERT_U64_EQ(vmci_qpair_dequeue(attacher, bytes, sizeof(bytes), NULL), 5);
    CU_ASSERT(memcmp(bytes, "local", 5) == 0);
    ASSERT_U64_EQ(vmci_qpair_enqueue(attacher, "back", 4, NULL), 4);
    ASSERT_U64_EQ(vmci_qpair_dequeue(creator, bytes, sizeof(bytes), NULL), 4);
    CU_ASSERT(memcmp(bytes, "back", 4) == 0);
    ASSERT_U64_EQ(vmci_qpair_produce_free_space(attacher), 1023);     /* 1024-byte queue, R83 */
    ASSERT_U64_EQ(qp(w, a, &handle, 1024, 4096, VMCI_INVALID_ID, VMCI_QPFLAG_LOCAL, NULL, NULL),
                  VMCI_ERROR_UNAVAILABLE);
    /* Peer = own CID is allowed too. */
    ASSERT_U64_EQ(qp_new(w, a, 64, 64, CID_A, VMCI_QPFLAG_LOCAL, NULL, &handle, NULL),
                  VMCI_SUCCESS);
    ASSERT_U64_EQ(qp(w, a, &handle, 64, 64, CID_A, VMCI_QPFLAG_LOCAL, NULL, NULL),
                  VMCI_SUCCESS);
    ASSERT_U64_EQ(w->counts.data_out, data_out_before);
    world_close(w);
}

/* A local queue pair in `kernel`'s guest: created with `produce`/`consume` bytes, then
 * attached from the same guest with the sizes swapped; both endpoints must exist. */
static void local_pair_open(struct world *w, struct vmci_kernel *kernel, uint64_t produce,
                            uint64_t consume, struct vmci_handle *handle,
                            struct vmci_qpair **creator, struct vmci_qpair **attacher)
{
    ASSERT_U64_EQ(qp_new(w, kernel, produce, consume, VMCI_INVALID_ID, VMCI_QPFLAG_LOCAL, NULL,
                         handle, creator), VMCI_SUCCESS);
    ASSERT_U64_EQ(qp(w, kernel, handle, consume, produce, VMCI_INVALID_ID, VMCI_QPFLAG_LOCAL,
                     NULL, attacher), VMCI_SUCCESS);
    CU_ASSERT_FATAL(*creator != NULL && *attacher != NULL);
}

/* vmci_qpair_enqueue_at / _consume_at report the pointer they moved as the position
 * queries read it before and after (R80), across the ring's end too; a peek's does not
 * move, and an operation that moves nothing leaves *position as it was. The ready bytes
 * and free space they report for the queue they used are what the R89 queries say next. */
static void test_R80_positions_reported_by_the_data_operation(void)
{
    struct world *w = world_open("esxi-6.5", NULL);
    struct vmci_kernel *a = vm_on(w, CID_A, false);
    struct vmci_handle handle;
    struct vmci_qpair *creator = NULL, *attacher = NULL;
    local_pair_open(w, a, 64, 64, &handle, &creator, &attacher);
    uint8_t bytes[64] = { 0 };
    const struct vmci_qpair_position unset = { .before = 999, .after = 999 };
    for (uint32_t round = 0; round < 4; round++) {          /* 4 x 40 bytes: wraps twice */
        struct vmci_qpair_position position = unset;
        int64_t tail = vmci_qpair_produce_tail(creator);
        ASSERT_U64_EQ(vmci_qpair_enqueue_at(creator, bytes, 40, NULL, &position), 40);
        ASSERT_U64_EQ(position.before, tail);
        ASSERT_U64_EQ(position.after, vmci_qpair_produce_tail(creator));
        ASSERT_U64_EQ(position.after, (tail + 40) % 64);
        ASSERT_U64_EQ(position.ready_bytes_after, vmci_qpair_produce_buf_ready(creator));
        ASSERT_U64_EQ(position.ready_bytes_after, 40);
        ASSERT_U64_EQ(position.free_bytes_after, vmci_qpair_produce_free_space(creator));
        ASSERT_U64_EQ(position.free_bytes_after, 63 - 40);
        int64_t head = vmci_qpair_consume_head(attacher);
        position = unset;
        ASSERT_U64_EQ(vmci_qpair_consume_at(attacher, bytes, 10, true, NULL, NULL, &position),
                      10);
        ASSERT_U64_EQ(position.before, head);
        ASSERT_U64_EQ(position.after, head);                        /* a peek: no move */
        ASSERT_U64_EQ(position.ready_bytes_after, 40);
        ASSERT_U64_EQ(position.free_bytes_after, vmci_qpair_consume_free_space(attacher));
        struct vmci_ring_bytes in_place;
        position = unset;
        ASSERT_U64_EQ(vmci_qpair_consume_at(attacher, NULL, 25, false, &in_place, NULL,
                                            &position), 25);
        ASSERT_U64_EQ(in_place.first_bytes + in_place.second_bytes, 25);
        ASSERT_U64_EQ(position.before, head);
        ASSERT_U64_EQ(position.after, vmci_qpair_consume_head(attacher));
        ASSERT_U64_EQ(position.ready_bytes_after, vmci_qpair_consume_buf_ready(attacher));
        ASSERT_U64_EQ(position.ready_bytes_after, 15);
        ASSERT_U64_EQ(position.free_bytes_after, vmci_qpair_consume_free_space(attacher));
        ASSERT_U64_EQ(position.free_bytes_after, 63 - 15);
        position = unset;
        ASSERT_U64_EQ(vmci_qpair_consume_at(attacher, bytes, sizeof(bytes), false, NULL, NULL,
                                            &position), 15);
        ASSERT_U64_EQ(position.after, vmci_qpair_consume_head(attacher));
        ASSERT_U64_EQ(position.after, (head + 40) % 64);
        ASSERT_U64_EQ(position.ready_bytes_after, 0);
        ASSERT_U64_EQ(position.free_bytes_after, vmci_qpair_consume_free_space(attacher));
        ASSERT_U64_EQ(position.free_bytes_after, 63);
    }
    struct vmci_qpair_position position = unset;
    ASSERT_U64_EQ(vmci_qpair_consume_at(attacher, bytes, sizeof(bytes), false, NULL, NULL,
                                        &position), VMCI_ERROR_QUEUEPAIR_NODATA);
    ASSERT_U64_EQ(vmci_qpair_enqueue_at(creator, bytes, 63, NULL, &position), 63);
    position = unset;
    ASSERT_U64_EQ(vmci_qpair_enqueue_at(creator, bytes, 1, NULL, &position),
                  VMCI_ERROR_QUEUEPAIR_NOSPACE);                    /* full (R83) */
    ASSERT_U64_EQ(position.before, unset.before);
    ASSERT_U64_EQ(position.after, unset.after);
    world_close(w);
}

/* The four R89 queries of both endpoints (ready bytes and free space of each queue) equal
 * the ring code's queries on the same views, whatever the pointers, a hostile header's
 * included (R82: INVALID_SIZE). */
static void assert_queries_match_the_ring(const struct vmci_qpair *creator,
                                          const struct vmci_qpair *attacher)
{
    const struct vmci_qpair *endpoints[2] = { creator, attacher };
    for (uint32_t index = 0; index < 2; index++) {
        const struct vmci_qpair *endpoint = endpoints[index];
        ASSERT_U64_EQ(vmci_qpair_produce_free_space(endpoint),
                      vmci_qp_produce_free_space(endpoint->view));
        ASSERT_U64_EQ(vmci_qpair_produce_buf_ready(endpoint),
                      vmci_qp_produce_buf_ready(endpoint->view));
        ASSERT_U64_EQ(vmci_qpair_consume_free_space(endpoint),
                      vmci_qp_consume_free_space(endpoint->view));
        ASSERT_U64_EQ(vmci_qpair_consume_buf_ready(endpoint),
                      vmci_qp_consume_buf_ready(endpoint->view));
    }
}

static void test_R89_endpoint_queries_read_the_ring_as_the_ring_code_does(void)
{
    struct world *w = world_open("esxi-6.5", NULL);
    struct vmci_kernel *a = vm_on(w, CID_A, false);
    struct vmci_handle handle;
    struct vmci_qpair *creator = NULL, *attacher = NULL;
    local_pair_open(w, a, 64, 32, &handle, &creator, &attacher);
    CU_ASSERT_FATAL(creator->memory != NULL && attacher->memory != NULL);
    uint8_t bytes[64] = { 0 };
    assert_queries_match_the_ring(creator, attacher);                       /* empty */
    ASSERT_U64_EQ(vmci_qpair_produce_buf_ready(creator), 0);
    ASSERT_U64_EQ(vmci_qpair_produce_free_space(creator), 63);
    for (uint32_t round = 0; round < 5; round++) {          /* 5 x 50 bytes: wraps */
        ASSERT_U64_EQ(vmci_qpair_enqueue(creator, bytes, 50, NULL), 50);
        ASSERT_U64_EQ(vmci_qpair_enqueue(attacher, bytes, 20, NULL), 20);
        assert_queries_match_the_ring(creator, attacher);
        ASSERT_U64_EQ(vmci_qpair_consume_buf_ready(attacher), 50);
        ASSERT_U64_EQ(vmci_qpair_consume_free_space(creator), 31 - 20);
        ASSERT_U64_EQ(vmci_qpair_dequeue(attacher, bytes, 30, NULL), 30);
        assert_queries_match_the_ring(creator, attacher);
        ASSERT_U64_EQ(vmci_qpair_dequeue(attacher, bytes, 64, NULL), 20);
        ASSERT_U64_EQ(vmci_qpair_dequeue(creator, bytes, 64, NULL), 20);
    }
    ASSERT_U64_EQ(vmci_qpair_enqueue(creator, bytes, 64, NULL), 63);      /* full (R83) */
    assert_queries_match_the_ring(creator, attacher);
    ASSERT_U64_EQ(vmci_qpair_produce_free_space(creator), 0);
    /* A hostile header: the creator's produce tail outside its ring, then its consumer
     * head (for the other queue) likewise; every query of either side that reads it. */
    struct vmci_queue *produce = creator->view.produce;
    uint64_t tail = vmci_queue_producer_tail(produce);
    vmci_queue_set_producer_tail(produce, 64);
    assert_queries_match_the_ring(creator, attacher);
    ASSERT_U64_EQ(vmci_qpair_produce_buf_ready(creator), VMCI_ERROR_INVALID_SIZE);
    ASSERT_U64_EQ(vmci_qpair_consume_free_space(attacher), VMCI_ERROR_INVALID_SIZE);
    vmci_queue_set_producer_tail(produce, tail);
    uint64_t head = vmci_queue_consumer_head(produce);
    vmci_queue_set_consumer_head(produce, UINT64_MAX);
    assert_queries_match_the_ring(creator, attacher);
    ASSERT_U64_EQ(vmci_qpair_consume_buf_ready(creator), VMCI_ERROR_INVALID_SIZE);
    ASSERT_U64_EQ(vmci_qpair_produce_free_space(attacher), VMCI_ERROR_INVALID_SIZE);
    vmci_queue_set_consumer_head(produce, head);
    assert_queries_match_the_ring(creator, attacher);
    ASSERT_U64_EQ(vmci_qpair_produce_buf_ready(creator), 63);
    world_close(w);
}

/* The finders' caches (vmci_int.h) answer only what the tables would: a context found by
 * CID is gone once suspended, another context taking the CID is found instead (also while
 * the suspended one is powered off), and one powered off is gone; a datagram handle found
 * once is gone once destroyed, and a new handle with the same RID is found, also after
 * many creates move the slots. */
static void test_lookup_caches_follow_the_tables(void)
{
    struct world *w = world_open("esxi-6.5", NULL);
    struct vmci_kernel *a = vm_on(w, CID_A, false);
    struct vmci_context *first = vmci__context_find(w->hv, CID_A);
    CU_ASSERT_FATAL(first != NULL && first->kernel == a);
    CU_ASSERT_PTR_EQUAL(vmci__context_find(w->hv, CID_A), first);           /* cached */
    ASSERT_U64_EQ(vmci_hypervisor_vm_suspend(w->hv, CID_A), VMCI_SUCCESS);
    CU_ASSERT_PTR_NULL(vmci__context_find(w->hv, CID_A));
    struct vmci_kernel *b = vm_on(w, CID_A, false);                 /* takes the free CID */
    struct vmci_context *second = vmci__context_find(w->hv, CID_A);
    CU_ASSERT_FATAL(second != NULL);
    CU_ASSERT_PTR_EQUAL(second->kernel, b);
    CU_ASSERT_PTR_NOT_EQUAL(second, first);
    /* The suspended VM goes first (it still holds CID_A off the table): b stays found. */
    ASSERT_U64_EQ(vmci_hypervisor_vm_power_off(w->hv, CID_A), VMCI_SUCCESS);
    CU_ASSERT_PTR_EQUAL(vmci__context_find(w->hv, CID_A), second);
    ASSERT_U64_EQ(vmci_hypervisor_vm_power_off(w->hv, CID_A), VMCI_SUCCESS);   /* b */
    CU_ASSERT_PTR_NULL(vmci__context_find(w->hv, CID_A));
    CU_ASSERT_PTR_NOT_NULL(vmci__context_find(w->hv, VMCI_HOST_CONTEXT_ID));

    struct vmci_handle handle;
    ASSERT_U64_EQ(vmci_dg_create(w->host, 4242, 0, NULL, dg_ignore, NULL, &handle),
                  VMCI_SUCCESS);
    struct vmci_dg_entry *entry = vmci__kernel_handle_find(w->host, handle);
    CU_ASSERT_FATAL(entry != NULL);
    CU_ASSERT_PTR_EQUAL(vmci__kernel_handle_find(w->host, handle), entry);  /* cached */
    ASSERT_U64_EQ(vmci_dg_destroy(w->host, handle), VMCI_SUCCESS);
    CU_ASSERT_PTR_NULL(vmci__kernel_handle_find(w->host, handle));
    ASSERT_U64_EQ(vmci_dg_create(w->host, 4242, 0, NULL, dg_ignore, NULL, &handle),
                  VMCI_SUCCESS);
    entry = vmci__kernel_handle_find(w->host, handle);
    CU_ASSERT_FATAL(entry != NULL);
    CU_ASSERT(entry->live && vmci_handle_equal(entry->handle, handle));
    for (uint32_t rid = 5000; rid < 5064; rid++) {      /* grows (and moves) the slots */
        struct vmci_handle more;
        ASSERT_U64_EQ(vmci_dg_create(w->host, rid, 0, NULL, dg_ignore, NULL, &more),
                      VMCI_SUCCESS);
    }
    entry = vmci__kernel_handle_find(w->host, handle);
    CU_ASSERT_FATAL(entry != NULL);
    CU_ASSERT(entry->live && vmci_handle_equal(entry->handle, handle));
    CU_ASSERT(entry >= w->host->handles &&
              entry < w->host->handles + w->host->handle_count);  /* in the slots now */
    world_close(w);
}

/* R95: LOCAL creation needs handle.context = own CID and peer in {ANY, own} (-7);
 * ATTACH_ONLY at create is -21; mismatched sizes or flags at attach are -31. */
static void test_R95_local_checks(void)
{
    struct world *w = world_open("esxi-6.5", NULL);
    struct vmci_kernel *a = vm_on(w, CID_A, false);
    (void)vm_on(w, CID_B, false);
    struct vmci_handle handle = { CID_A, 7777 };
    ASSERT_U64_EQ(qp(w, a, &handle, 64, 64, VMCI_INVALID_ID,
                     VMCI_QPFLAG_LOCAL | VMCI_QPFLAG_ATTACH_ONLY, NULL, NULL),
                  VMCI_ERROR_NOT_FOUND);
    handle = (struct vmci_handle){ CID_B, 7778 };
    ASSERT_U64_EQ(qp(w, a, &handle, 64, 64, VMCI_INVALID_ID, VMCI_QPFLAG_LOCAL, NULL, NULL),
                  VMCI_ERROR_NO_ACCESS);
    ASSERT_U64_EQ(qp_new(w, a, 64, 64, VMCI_HOST_CONTEXT_ID, VMCI_QPFLAG_LOCAL, NULL, NULL,
                         NULL), VMCI_ERROR_NO_ACCESS);
    ASSERT_U64_EQ(qp_new(w, a, 64, 64, CID_B, VMCI_QPFLAG_LOCAL, NULL, NULL, NULL),
                  VMCI_ERROR_NO_ACCESS);
    ASSERT_U64_EQ(qp_new(w, a, 64, 128, VMCI_INVALID_ID, VMCI_QPFLAG_LOCAL, NULL, &handle,
                         NULL), VMCI_SUCCESS);
    ASSERT_U64_EQ(qp(w, a, &handle, 64, 128, VMCI_INVALID_ID, VMCI_QPFLAG_LOCAL, NULL, NULL),
                  VMCI_ERROR_QUEUEPAIR_MISMATCH);
    ASSERT_U64_EQ(qp(w, a, &handle, 128, 64, VMCI_INVALID_ID, 0, NULL, NULL),
                  VMCI_ERROR_QUEUEPAIR_MISMATCH);
    ASSERT_U64_EQ(qp(w, a, &handle, 128, 64, VMCI_INVALID_ID,
                     VMCI_QPFLAG_LOCAL | VMCI_QPFLAG_ATTACH_ONLY, NULL, NULL), VMCI_SUCCESS);
    world_close(w);
}

/* R68, R95: when one side of a LOCAL pair detaches, the guest kernel itself tells the
 * other side (QP_PEER_DETACH, peer_id = own CID): no hypercall, and no event datagram from
 * the hypervisor in the device's queue. */
static void test_R68_R95_local_detach_event_stays_in_guest(void)
{
    struct world *w = world_open("esxi-6.5", NULL);
    struct vmci_kernel *a = vm_on(w, CID_A, false);
    struct vmci_device *device = vmci_hypervisor_device(w->hv, CID_A);
    struct event_log log = { 0 };
    subscribe(a, VMCI_EVENT_QP_PEER_DETACH, &log);
    w->counts.cid = CID_A;
    struct vmci_handle handle;
    struct vmci_qpair *attacher = NULL;
    ASSERT_U64_EQ(qp_new(w, a, 64, 64, VMCI_INVALID_ID, VMCI_QPFLAG_LOCAL, NULL, &handle, NULL),
                  VMCI_SUCCESS);
    ASSERT_U64_EQ(qp(w, a, &handle, 64, 64, VMCI_INVALID_ID, VMCI_QPFLAG_LOCAL, NULL,
                     &attacher), VMCI_SUCCESS);
    world_run(w);
    uint64_t data_out_before = w->counts.data_out;
    ASSERT_U64_EQ(qp_detach(w, attacher), VMCI_SUCCESS);
    ASSERT_U64_EQ(w->counts.data_out, data_out_before);
    ASSERT_U64_EQ(vmci_device_pending_bytes(device), 0);
    world_run(w);
    ASSERT_U64_EQ(log.count, 1);
    ASSERT_U64_EQ(log.event[0], VMCI_EVENT_QP_PEER_DETACH);
    assert_handle(log.handle[0], CID_A, handle.resource);
    ASSERT_U64_EQ(log.peer[0], CID_A);
    world_close(w);
}

/* D9: the host creates and attaches LOCAL pairs on ESX/ESXi profiles; hosted products
 * refuse them with -2 (R95). */
static void test_D9_host_local_pairs_esx_only(void)
{
    static const char *const esx[] = { "esxi-4.0", "esxi-5.0", "esxi-6.5" };
    for (size_t index = 0; index < sizeof(esx) / sizeof(esx[0]); index++) {
        struct world *w = world_open(esx[index], NULL);
        struct vmci_handle handle;
        struct vmci_qpair *creator = NULL, *attacher = NULL;
        ASSERT_U64_EQ(qp_new(w, w->host, 4096, 4096, VMCI_INVALID_ID, VMCI_QPFLAG_LOCAL,
                             &w->trusted, &handle, &creator), VMCI_SUCCESS);
        ASSERT_U64_EQ(handle.context, VMCI_HOST_CONTEXT_ID);
        ASSERT_U64_EQ(qp(w, w->host, &handle, 4096, 4096, VMCI_INVALID_ID, VMCI_QPFLAG_LOCAL,
                         &w->trusted, &attacher), VMCI_SUCCESS);
        if (creator != NULL && attacher != NULL) {
            uint8_t bytes[8] = { 0 };
            ASSERT_U64_EQ(vmci_qpair_enqueue(creator, "host", 4, NULL), 4);
            ASSERT_U64_EQ(vmci_qpair_dequeue(attacher, bytes, sizeof(bytes), NULL), 4);
            CU_ASSERT(memcmp(bytes, "host", 4) == 0);
        }
        world_close(w);
    }
    static const struct { const char *product, *host_os; } hosted[] = {
        { "workstation-6.5", "linux" }, { "workstation-8", "windows" }, { "server-2.0", "linux" },
        { "player-5", "linux" }, { "fusion-5", "mac" },
    };
    for (size_t index = 0; index < sizeof(hosted) / sizeof(hosted[0]); index++) {
        struct world *w = world_open(hosted[index].product, hosted[index].host_os);
        ASSERT_U64_EQ(qp_new(w, w->host, 4096, 4096, VMCI_INVALID_ID, VMCI_QPFLAG_LOCAL,
                             &w->trusted, NULL, NULL), VMCI_ERROR_INVALID_ARGS);
        world_close(w);
    }
}

/* ---- R96, R97, R67, R68 -------------------------------------------------------------------- */

/* R96: a context that is not attached, or an unknown handle, detaches with -21; after the
 * last detach the handle is gone. */
static void test_R96_detach_by_non_attached_context_or_unknown_handle(void)
{
    struct world *w = world_open("esxi-6.5", NULL);
    struct vmci_kernel *a = vm_on(w, CID_A, false);
    (void)vm_on(w, CID_B, false);
    struct vmci_handle handle;
    struct vmci_qpair *creator = NULL;
    ASSERT_U64_EQ(qp_new(w, a, 4096, 4096, VMCI_HOST_CONTEXT_ID, 0, NULL, &handle, &creator),
                  VMCI_SUCCESS);
    ASSERT_U64_EQ(raw_qp_detach(w, CID_B, handle), VMCI_ERROR_NOT_FOUND);
    ASSERT_U64_EQ(raw_qp_detach(w, CID_A, (struct vmci_handle){ CID_A, 77777 }),
                  VMCI_ERROR_NOT_FOUND);
    ASSERT_U64_EQ(raw_qp_detach(w, CID_B, (struct vmci_handle){ CID_B, 1024 }),
                  VMCI_ERROR_NOT_FOUND);
    ASSERT_U64_EQ(qp_detach(w, creator), VMCI_SUCCESS);
    ASSERT_U64_EQ(raw_qp_detach(w, CID_A, handle), VMCI_ERROR_NOT_FOUND);
    world_close(w);
}

/* R96, R97, R68: when the host detaches, the guest gets QP_PEER_DETACH with peer_id 2,
 * still dequeues what was there and may still enqueue; no new attach is possible (-20). */
static void test_R96_R97_peer_detach_keeps_data_and_blocks_attach(void)
{
    struct world *w = world_open("esxi-6.5", NULL);
    struct vmci_kernel *a = vm_on(w, CID_A, false);
    struct event_log guest_log = { 0 };
    subscribe(a, VMCI_EVENT_QP_PEER_DETACH, &guest_log);
    struct vmci_handle handle;
    struct vmci_qpair *guest = NULL, *host = NULL;
    ASSERT_U64_EQ(qp_new(w, a, 4096, 4096, VMCI_HOST_CONTEXT_ID, 0, NULL, &handle, &guest),
                  VMCI_SUCCESS);
    ASSERT_U64_EQ(qp(w, w->host, &handle, 4096, 4096, CID_A, 0, &w->trusted, &host),
                  VMCI_SUCCESS);
    CU_ASSERT_FATAL(guest != NULL && host != NULL);
    ASSERT_U64_EQ(vmci_qpair_enqueue(host, "from host", 9, NULL), 9);
    ASSERT_U64_EQ(qp_detach(w, host), VMCI_SUCCESS);
    world_run(w);
    ASSERT_U64_EQ(guest_log.count, 1);
    ASSERT_U64_EQ(guest_log.event[0], VMCI_EVENT_QP_PEER_DETACH);
    assert_handle(guest_log.handle[0], handle.context, handle.resource);
    ASSERT_U64_EQ(guest_log.peer[0], VMCI_HOST_CONTEXT_ID);
    uint8_t bytes[16] = { 0 };
    ASSERT_U64_EQ(vmci_qpair_dequeue(guest, bytes, sizeof(bytes), NULL), 9);
    CU_ASSERT(memcmp(bytes, "from host", 9) == 0);
    ASSERT_U64_EQ(vmci_qpair_enqueue(guest, "unread", 6, NULL), 6);
    ASSERT_U64_EQ(qp(w, w->host, &handle, 4096, 4096, CID_A, 0, &w->trusted, NULL),
                  VMCI_ERROR_UNAVAILABLE);
    ASSERT_U64_EQ(qp_detach(w, guest), VMCI_SUCCESS);
    ASSERT_U64_EQ(raw_qp_detach(w, CID_A, handle), VMCI_ERROR_NOT_FOUND);  /* destroyed */
    world_close(w);
}

/* R67: the creator (guest or host) receives QP_PEER_ATTACH with peer_id = the attacher;
 * the attacher receives none. The event payload is {handle, peer_id, pad} (R64). */
static void test_R67_peer_attach_event_to_creator(void)
{
    struct world *w = world_open("esxi-6.5", NULL);
    struct vmci_kernel *a = vm_on(w, CID_A, false);
    struct event_log guest_log = { 0 }, host_log = { 0 };
    subscribe(a, VMCI_EVENT_QP_PEER_ATTACH, &guest_log);
    subscribe(w->host, VMCI_EVENT_QP_PEER_ATTACH, &host_log);
    struct vmci_handle handle;
    ASSERT_U64_EQ(qp_new(w, a, 4096, 4096, VMCI_HOST_CONTEXT_ID, 0, NULL, &handle, NULL),
                  VMCI_SUCCESS);
    world_run(w);
    ASSERT_U64_EQ(guest_log.count, 0);                  /* nobody attached yet */
    ASSERT_U64_EQ(qp(w, w->host, &handle, 4096, 4096, CID_A, 0, &w->trusted, NULL),
                  VMCI_SUCCESS);
    world_run(w);
    ASSERT_U64_EQ(guest_log.count, 1);
    ASSERT_U64_EQ(guest_log.event[0], VMCI_EVENT_QP_PEER_ATTACH);
    assert_handle(guest_log.handle[0], CID_A, handle.resource);
    ASSERT_U64_EQ(guest_log.peer[0], VMCI_HOST_CONTEXT_ID);
    ASSERT_U64_EQ(guest_log.payload_bytes[0], 16);
    ASSERT_U64_EQ(host_log.count, 0);
    /* And the other way round. */
    ASSERT_U64_EQ(qp_new(w, w->host, 4096, 4096, CID_A, 0, &w->trusted, &handle, NULL),
                  VMCI_SUCCESS);
    ASSERT_U64_EQ(qp(w, a, &handle, 4096, 4096, VMCI_HOST_CONTEXT_ID, 0, NULL, NULL),
                  VMCI_SUCCESS);
    world_run(w);
    ASSERT_U64_EQ(host_log.count, 1);
    ASSERT_U64_EQ(host_log.event[0], VMCI_EVENT_QP_PEER_ATTACH);
    assert_handle(host_log.handle[0], VMCI_HOST_CONTEXT_ID, handle.resource);
    ASSERT_U64_EQ(host_log.peer[0], CID_A);
    ASSERT_U64_EQ(host_log.payload_bytes[0], 16);
    ASSERT_U64_EQ(guest_log.count, 1);
    world_close(w);
}

/* R68: the remaining side gets QP_PEER_DETACH with peer_id = the detaching context; the
 * detaching side gets nothing; a failed attach sends no QP_PEER_ATTACH (R67). */
static void test_R68_peer_detach_event_to_remaining_side(void)
{
    struct world *w = world_open("esxi-6.5", NULL);
    struct vmci_kernel *a = vm_on(w, CID_A, false);
    struct event_log guest_log = { 0 }, host_log = { 0 }, host_attach_log = { 0 };
    subscribe(a, VMCI_EVENT_QP_PEER_DETACH, &guest_log);
    subscribe(w->host, VMCI_EVENT_QP_PEER_DETACH, &host_log);
    subscribe(w->host, VMCI_EVENT_QP_PEER_ATTACH, &host_attach_log);
    struct vmci_handle handle;
    struct vmci_qpair *guest = NULL;
    ASSERT_U64_EQ(qp_new(w, w->host, 4096, 4096, CID_A, 0, &w->trusted, &handle, NULL),
                  VMCI_SUCCESS);
    ASSERT_U64_EQ(qp(w, a, &handle, 1, 1, VMCI_HOST_CONTEXT_ID, 0, NULL, NULL),
                  VMCI_ERROR_QUEUEPAIR_MISMATCH);
    world_run(w);
    ASSERT_U64_EQ(host_attach_log.count, 0);
    ASSERT_U64_EQ(qp(w, a, &handle, 4096, 4096, VMCI_HOST_CONTEXT_ID, 0, NULL, &guest),
                  VMCI_SUCCESS);
    ASSERT_U64_EQ(qp_detach(w, guest), VMCI_SUCCESS);
    world_run(w);
    ASSERT_U64_EQ(host_attach_log.count, 1);
    ASSERT_U64_EQ(host_log.count, 1);
    ASSERT_U64_EQ(host_log.event[0], VMCI_EVENT_QP_PEER_DETACH);
    assert_handle(host_log.handle[0], VMCI_HOST_CONTEXT_ID, handle.resource);
    ASSERT_U64_EQ(host_log.peer[0], CID_A);
    ASSERT_U64_EQ(host_log.payload_bytes[0], 16);
    ASSERT_U64_EQ(guest_log.count, 0);
    world_close(w);
}

/* ---- R64, R65, R72 ----------------------------------------------------------------------- */

/* R64: a QP event datagram is src {0, 0}, dst {cid, 0}, payload {event, pad, handle,
 * peer_id, pad}: 48 bytes in all. Read raw from DATA_IN with the guest's interrupts off. */
static void test_R64_event_datagram_layout_and_size(void)
{
    struct world *w = world_open("esxi-6.5", NULL);
    struct vmci_kernel *a = vm_on(w, CID_A, false);
    struct vmci_device *device = vmci_hypervisor_device(w->hv, CID_A);
    vmci_device_write(device, VMCI_CONTROL_ADDR, VMCI_CONTROL_INT_DISABLE);
    struct vmci_handle handle;
    ASSERT_U64_EQ(qp_new(w, a, 4096, 4096, VMCI_HOST_CONTEXT_ID, 0, NULL, &handle, NULL),
                  VMCI_SUCCESS);
    ASSERT_U64_EQ(vmci_device_pending_bytes(device), 0);
    ASSERT_U64_EQ(qp(w, w->host, &handle, 4096, 4096, CID_A, 0, &w->trusted, NULL),
                  VMCI_SUCCESS);
    world_run(w);
    ASSERT_U64_EQ(vmci_device_pending_bytes(device), 48);
    uint8_t bytes[56];
    vmci_device_read_data_in(device, bytes, sizeof(bytes));
    struct vmci_datagram_header header;
    vmci_header_decode(bytes, &header);
    assert_handle(header.dst, CID_A, VMCI_EVENT_HANDLER);
    assert_handle(header.src, VMCI_HYPERVISOR_CONTEXT_ID, VMCI_CONTEXT_RESOURCE_ID);
    ASSERT_U64_EQ(header.payload_size, 24);
    ASSERT_U64_EQ(vmci_read_u32(bytes + 24), VMCI_EVENT_QP_PEER_ATTACH);
    ASSERT_U64_EQ(vmci_read_u32(bytes + 28), 0);
    ASSERT_U64_EQ(vmci_read_u32(bytes + 32), handle.context);
    ASSERT_U64_EQ(vmci_read_u32(bytes + 36), handle.resource);
    ASSERT_U64_EQ(vmci_read_u32(bytes + 40), VMCI_HOST_CONTEXT_ID);
    ASSERT_U64_EQ(vmci_read_u32(bytes + 44), 0);
    ASSERT_U64_EQ(vmci_read_u64(bytes + 48), UINT64_MAX);      /* R40: nothing more */
    ASSERT_U64_EQ(vmci_device_pending_bytes(device), 0);
    world_close(w);
}

/* R65: events 5 and 6 are the hypervisor's own and 7 is the bound: no subscription (-2);
 * 0..4 may be subscribed, in a guest and on the host. */
static void test_R65_events_5_6_7_cannot_be_subscribed(void)
{
    struct world *w = world_open("esxi-6.5", NULL);
    struct vmci_kernel *a = vm_on(w, CID_A, false);
    struct vmci_kernel *kernels[2] = { a, w->host };
    struct event_log log = { 0 };
    for (int k = 0; k < 2; k++) {
        static const uint32_t refused[] = { VMCI_EVENT_MEM_ACCESS_ON, VMCI_EVENT_MEM_ACCESS_OFF,
                                            VMCI_EVENT_MAX, 8u, UINT32_MAX };
        for (size_t index = 0; index < sizeof(refused) / sizeof(refused[0]); index++) {
            uint32_t subscription = 0;
            ASSERT_U64_EQ(vmci_event_subscribe(kernels[k], refused[index], event_record, &log,
                                               &subscription), VMCI_ERROR_INVALID_ARGS);
        }
        for (uint32_t event = 0; event <= VMCI_EVENT_QP_PEER_DETACH; event++) {
            uint32_t subscription = 0;
            ASSERT_U64_EQ(vmci_event_subscribe(kernels[k], event, event_record, &log,
                                               &subscription), VMCI_SUCCESS);
            ASSERT_U64_EQ(vmci_event_unsubscribe(kernels[k], subscription), VMCI_SUCCESS);
        }
    }
    ASSERT_U64_EQ(log.count, 0);
    world_close(w);
}

/* R72, R58: with the guest's normal queue full (139256 of 139264 bytes), hypervisor events
 * still queue, up to 188416: exactly 1024 48-byte events fit, the 1025th is dropped, and
 * a normal datagram is still refused with -19. */
static void test_R72_events_use_the_larger_queue_limit(void)
{
    struct world *w = world_open("esxi-6.5", NULL);
    struct vmci_kernel *a = vm_on(w, CID_A, false);
    struct vmci_device *device = vmci_hypervisor_device(w->hv, CID_A);
    vmci_device_write(device, VMCI_CONTROL_ADDR, VMCI_CONTROL_INT_DISABLE);
    struct vmci_handle sender;
    ASSERT_U64_EQ(vmci_dg_create(w->host, VMCI_INVALID_ID, 0, &w->trusted,
                                 dg_ignore, NULL, &sender),
                  VMCI_SUCCESS);
    static uint8_t payload[VMCI_MAX_DG_PAYLOAD_SIZE];
    struct vmci_datagram_header header = { .dst = { CID_A, 4242 }, .src = sender };
    static const struct { uint64_t size; int64_t result; } sends[] = {
        { 69632, 69632 }, { 69632, VMCI_ERROR_NO_RESOURCES }, { 69600, 69600 },
        { 24, 24 }, { 24, VMCI_ERROR_NO_RESOURCES },
    };
    for (size_t index = 0; index < sizeof(sends) / sizeof(sends[0]); index++) {
        header.payload_size = sends[index].size - VMCI_DG_HEADERSIZE;
        ASSERT_U64_EQ(vmci_dg_send(w->host, &header, payload, NULL), sends[index].result);
    }
    ASSERT_U64_EQ(vmci_device_pending_bytes(device), 139256);
    for (uint32_t count = 0; count < 1025; count++) {
        struct vmci_handle handle;
        CU_ASSERT_FATAL(qp_new(w, a, 64, 64, VMCI_HOST_CONTEXT_ID, 0, NULL, &handle, NULL) ==
                        VMCI_SUCCESS);
        CU_ASSERT_FATAL(qp(w, w->host, &handle, 64, 64, CID_A, 0, &w->trusted, NULL) ==
                        VMCI_SUCCESS);
        ASSERT_U64_EQ(vmci_device_pending_bytes(device), 139256 + 48ull * (count < 1024 ? count + 1
                                                                                        : 1024));
    }
    ASSERT_U64_EQ(vmci_device_pending_bytes(device), 188408);
    header.payload_size = 0;
    ASSERT_U64_EQ(vmci_dg_send(w->host, &header, payload, NULL), VMCI_ERROR_NO_RESOURCES);
    ASSERT_U64_EQ(vmci_dg_destroy(w->host, sender), VMCI_SUCCESS);
    world_close(w);
}

/* ---- R77, R79 ---------------------------------------------------------------------------- */

/* R77, R79: with a 1 MiB queue-pair memory limit, a VM may hold exactly 1 MiB of P + C;
 * one byte more is -19; each VM has its own budget; a detach gives the memory back. */
static void test_R77_R79_quota_limits_qp_memory(void)
{
    struct sim_limits limits = sim_limits_default();
    limits.qp_memory_bytes_max = MIB;
    struct world *w = world_open_limits("esxi-6.5", NULL, &limits);
    struct vmci_kernel *a = vm_on(w, CID_A, false);
    struct vmci_kernel *b = vm_on(w, CID_B, false);
    struct vmci_qpair *first = NULL;
    ASSERT_U64_EQ(qp_new(w, a, 512 * KIB, 256 * KIB, VMCI_HOST_CONTEXT_ID, 0, NULL, NULL, &first),
                  VMCI_SUCCESS);
    ASSERT_U64_EQ(qp_new(w, a, 256 * KIB, 0, VMCI_HOST_CONTEXT_ID, 0, NULL, NULL, NULL),
                  VMCI_SUCCESS);
    ASSERT_U64_EQ(qp_new(w, a, 1, 0, VMCI_HOST_CONTEXT_ID, 0, NULL, NULL, NULL),
                  VMCI_ERROR_NO_RESOURCES);
    ASSERT_U64_EQ(qp_new(w, a, 0, 1, VMCI_HOST_CONTEXT_ID, 0, NULL, NULL, NULL),
                  VMCI_ERROR_NO_RESOURCES);
    ASSERT_U64_EQ(qp_new(w, b, MIB, 0, VMCI_HOST_CONTEXT_ID, 0, NULL, NULL, NULL),
                  VMCI_SUCCESS);
    ASSERT_U64_EQ(qp_new(w, b, 0, 1, VMCI_HOST_CONTEXT_ID, 0, NULL, NULL, NULL),
                  VMCI_ERROR_NO_RESOURCES);
    CU_ASSERT(vmci_hypervisor_check(w->hv));
    ASSERT_U64_EQ(qp_detach(w, first), VMCI_SUCCESS);
    ASSERT_U64_EQ(qp_new(w, a, 256 * KIB, 512 * KIB, VMCI_HOST_CONTEXT_ID, 0, NULL, NULL, NULL),
                  VMCI_SUCCESS);
    ASSERT_U64_EQ(qp_new(w, a, 1, 0, VMCI_HOST_CONTEXT_ID, 0, NULL, NULL, NULL),
                  VMCI_ERROR_NO_RESOURCES);
    ASSERT_U64_EQ(qp_new(w, a, 0, 0, VMCI_HOST_CONTEXT_ID, 0, NULL, NULL, NULL),
                  VMCI_ERROR_INVALID_ARGS);
    world_close(w);
}

/* R77: P + C above 128 MiB, or a sum that overflows, is -19 whatever the world limit. */
static void test_R77_sizes_above_128_mib(void)
{
    struct world *w = world_open("esxi-6.5", NULL);
    struct vmci_kernel *a = vm_on(w, CID_A, false);
    ASSERT_U64_EQ(qp_new(w, w->host, 128 * MIB, 1, CID_A, 0, &w->trusted, NULL, NULL),
                  VMCI_ERROR_NO_RESOURCES);
    ASSERT_U64_EQ(qp_new(w, w->host, UINT64_MAX, 2, CID_A, 0, &w->trusted, NULL, NULL),
                  VMCI_ERROR_NO_RESOURCES);
    ASSERT_U64_EQ(qp_new(w, a, 64 * MIB, 64 * MIB + 1, VMCI_HOST_CONTEXT_ID, 0, NULL, NULL,
                         NULL), VMCI_ERROR_NO_RESOURCES);
    world_close(w);
}

/* ---- R34 --------------------------------------------------------------------------------- */

/* D20, R97: a guest's queue pair lives in the guest's pages, so once the guest's side has
 * detached the host's side has no memory: its dequeue, peek and enqueue fail with
 * QUEUEPAIR_NOT_READY, whether the guest created the pair or attached to the host's, and
 * also with data still queued both ways. The host can still detach. */
static void test_R97_D20_host_side_has_no_memory_once_the_guest_detaches(void)
{
    for (int guest_creates = 0; guest_creates < 2; guest_creates++) {
        struct world *w = world_open("esxi-6.5", NULL);
        struct vmci_kernel *a = vm_on(w, CID_A, false);
        struct vmci_handle handle;
        struct vmci_qpair *guest = NULL, *host = NULL;
        if (guest_creates) {
            ASSERT_U64_EQ(qp_new(w, a, 4096, 4096, VMCI_HOST_CONTEXT_ID, 0, NULL, &handle,
                                 &guest), VMCI_SUCCESS);
            ASSERT_U64_EQ(qp(w, w->host, &handle, 4096, 4096, CID_A, 0, &w->trusted, &host),
                          VMCI_SUCCESS);
        } else {
            ASSERT_U64_EQ(qp_new(w, w->host, 4096, 4096, CID_A, 0, &w->trusted, &handle,
                                 &host), VMCI_SUCCESS);
            ASSERT_U64_EQ(qp(w, a, &handle, 4096, 4096, VMCI_HOST_CONTEXT_ID, 0, NULL,
                             &guest), VMCI_SUCCESS);
        }
        CU_ASSERT_FATAL(guest != NULL && host != NULL);
        ASSERT_U64_EQ(vmci_qpair_enqueue(guest, "to host", 7, NULL), 7);
        ASSERT_U64_EQ(vmci_qpair_enqueue(host, "to guest", 8, NULL), 8);
        ASSERT_U64_EQ(qp_detach(w, guest), VMCI_SUCCESS);
        world_run(w);
        uint8_t bytes[16] = { 0 };
        ASSERT_U64_EQ(vmci_qpair_dequeue(host, bytes, sizeof(bytes), NULL),
                      VMCI_ERROR_QUEUEPAIR_NOT_READY);
        ASSERT_U64_EQ(vmci_qpair_peek(host, bytes, sizeof(bytes), NULL),
                      VMCI_ERROR_QUEUEPAIR_NOT_READY);
        ASSERT_U64_EQ(vmci_qpair_enqueue(host, "late", 4, NULL),
                      VMCI_ERROR_QUEUEPAIR_NOT_READY);
        ASSERT_U64_EQ(bytes[0], 0);                     /* nothing was copied out */
        ASSERT_U64_EQ(qp_detach(w, host), VMCI_SUCCESS);
        world_close(w);
    }
}

/* R97, D20: the memory remains for a side that owns the pages: in a host-local pair (D9)
 * the side left behind (the creator; the attacher leaves) still dequeues what was queued
 * for it and still enqueues. */
static void test_R97_host_local_pair_keeps_its_memory_after_a_detach(void)
{
    struct world *w = world_open("esxi-6.5", NULL);
    struct vmci_handle handle;
    struct vmci_qpair *creator = NULL, *attacher = NULL;
    ASSERT_U64_EQ(qp_new(w, w->host, 4096, 4096, VMCI_INVALID_ID, VMCI_QPFLAG_LOCAL,
                         &w->trusted, &handle, &creator), VMCI_SUCCESS);
    ASSERT_U64_EQ(qp(w, w->host, &handle, 4096, 4096, VMCI_INVALID_ID, VMCI_QPFLAG_LOCAL,
                     &w->trusted, &attacher), VMCI_SUCCESS);
    CU_ASSERT_FATAL(creator != NULL && attacher != NULL);
    ASSERT_U64_EQ(vmci_qpair_enqueue(attacher, "kept", 4, NULL), 4);
    ASSERT_U64_EQ(qp_detach(w, attacher), VMCI_SUCCESS);
    world_run(w);
    uint8_t bytes[8] = { 0 };
    ASSERT_U64_EQ(vmci_qpair_dequeue(creator, bytes, sizeof(bytes), NULL), 4);
    CU_ASSERT(memcmp(bytes, "kept", 4) == 0);
    ASSERT_U64_EQ(vmci_qpair_enqueue(creator, "xy", 2, NULL), 2);
    ASSERT_U64_EQ(qp_detach(w, creator), VMCI_SUCCESS);
    world_close(w);
}

static void report_ignore(void *state, const char *name, const char *object, const char *detail)
{
    (void)state;
    (void)name;
    (void)object;
    (void)detail;
}

/* Each byte is hashed once on the writer's side (vmci/qpair.c): an endpoint that starts a
 * queue shares its running hash with that queue's written tally, and that one stream is
 * the XXH3-64 of every byte written; the reader's tally still checks what it read. */
static void test_qp_data_hash_shared_with_the_written_tally(void)
{
    struct world *w = world_open("esxi-6.5", NULL);
    struct vmci_handle handle;
    struct vmci_qpair *creator = NULL, *attacher = NULL;
    ASSERT_U64_EQ(qp_new(w, w->host, 4096, 4096, VMCI_INVALID_ID, VMCI_QPFLAG_LOCAL,
                         &w->trusted, &handle, &creator), VMCI_SUCCESS);
    ASSERT_U64_EQ(qp(w, w->host, &handle, 4096, 4096, VMCI_INVALID_ID, VMCI_QPFLAG_LOCAL,
                     &w->trusted, &attacher), VMCI_SUCCESS);
    CU_ASSERT_FATAL(creator != NULL && attacher != NULL);
    ASSERT_U64_EQ(vmci_qpair_enqueue(creator, "hello", 5, NULL), 5);
    ASSERT_U64_EQ(vmci_qpair_enqueue(creator, "world", 5, NULL), 5);
    ASSERT_U64_EQ(vmci_qpair_enqueue(attacher, "back", 4, NULL), 4);
    struct vmci_qp_entry *entry = vmci__broker_find(w->hv, handle);
    CU_ASSERT_PTR_NOT_NULL_FATAL(entry);
    CU_ASSERT_PTR_EQUAL(creator->produced, entry->memory->queues[0].tally.written);
    CU_ASSERT_PTR_EQUAL(attacher->produced, entry->memory->queues[1].tally.written);
    ASSERT_U64_EQ(sim_data_stream_value(creator->produced), sim_data_hash("helloworld", 10));
    ASSERT_U64_EQ(sim_data_stream_value(attacher->produced), sim_data_hash("back", 4));
    ASSERT_U64_EQ(entry->memory->queues[0].tally.written_bytes, 10);
    uint8_t bytes[16] = { 0 };
    ASSERT_U64_EQ(vmci_qpair_dequeue(attacher, bytes, sizeof(bytes), NULL), 10);
    CU_ASSERT(memcmp(bytes, "helloworld", 10) == 0);
    ASSERT_U64_EQ(entry->memory->queues[0].tally.read_bytes, 10);
    ASSERT_U64_EQ(vmci_invariants_check(w->hv, report_ignore, NULL), 0);
    world_close(w);
}

/* R34, R68, D20: CONTROL_RESET through the raw device returns it to power-on state and
 * detaches the VM's queue pairs: the host peer gets QP_PEER_DETACH (peer_id = the VM)
 * and, the pages having been the guest's, can no longer read what the guest had written
 * (QUEUEPAIR_NOT_READY); the VM's doorbell links are gone. */
static void test_R34_device_reset_detaches_queue_pairs(void)
{
    struct world *w = world_open("workstation-8", "linux");    /* unrestricted: R51 allows */
    struct vmci_kernel *a = vm_on(w, CID_A, true);
    struct event_log host_log = { 0 };
    subscribe(w->host, VMCI_EVENT_QP_PEER_DETACH, &host_log);
    struct vmci_handle handle;
    struct vmci_qpair *guest = NULL, *host = NULL;
    ASSERT_U64_EQ(qp_new(w, a, 4096, 4096, VMCI_HOST_CONTEXT_ID, 0, NULL, &handle, &guest),
                  VMCI_SUCCESS);
    ASSERT_U64_EQ(qp(w, w->host, &handle, 4096, 4096, CID_A, 0, &w->trusted, &host),
                  VMCI_SUCCESS);
    CU_ASSERT_FATAL(guest != NULL && host != NULL);
    ASSERT_U64_EQ(vmci_qpair_enqueue(guest, "before reset", 12, NULL), 12);
    struct vmci_handle doorbell;
    uint32_t rings = 0;
    ASSERT_U64_EQ(vmci_doorbell_create(a, count_ring,
                                       &rings, &doorbell, NULL), VMCI_SUCCESS);
    world_run(w);
    struct vmci_device *device = vmci_hypervisor_device(w->hv, CID_A);
    CU_ASSERT(vmci_device_read(device, VMCI_STATUS_ADDR) & VMCI_STATUS_INT_ON);
    vmci_device_write(device, VMCI_CONTROL_ADDR, VMCI_CONTROL_RESET);
    ASSERT_U64_EQ(vmci_device_read(device, VMCI_STATUS_ADDR), 0);
    ASSERT_U64_EQ(vmci_device_read(device, VMCI_IMR_ADDR), 0);
    ASSERT_U64_EQ(vmci_device_caps_in_use(device), 0);
    CU_ASSERT_PTR_NULL(vmci_device_bitmap(device));
    world_run(w);
    ASSERT_U64_EQ(host_log.count, 1);
    ASSERT_U64_EQ(host_log.event[0], VMCI_EVENT_QP_PEER_DETACH);
    assert_handle(host_log.handle[0], CID_A, handle.resource);
    ASSERT_U64_EQ(host_log.peer[0], CID_A);
    uint8_t bytes[16] = { 0 };
    ASSERT_U64_EQ(vmci_qpair_dequeue(host, bytes, sizeof(bytes), NULL),
                  VMCI_ERROR_QUEUEPAIR_NOT_READY);                              /* D20 */
    ASSERT_U64_EQ(bytes[0], 0);
    /* The CID is unchanged and the doorbell is no longer linked (R45: -21). */
    CU_ASSERT(vmci_hypervisor_context_live(w->hv, CID_A));
    CU_ASSERT(vmci_hypervisor_device(w->hv, CID_A) == device);
    ASSERT_U64_EQ(vmci_doorbell_notify(w->host, doorbell, NULL), VMCI_ERROR_NOT_FOUND);
    world_close(w);
}

/* ---- R44, R45, R46 ----------------------------------------------------------------------- */

/* The one bitmap byte set to 1 (its index), or -1 when none or several are. */
static int32_t bitmap_single_set(struct vmci_device *device)
{
    const uint8_t *bitmap = vmci_device_bitmap(device);
    if (bitmap == NULL)
        return -1;
    int32_t found = -1;
    for (int32_t index = 0; index < (int32_t)VMCI_NOTIFY_BITMAP_BYTES; index++) {
        if (bitmap[index] == 0)
            continue;
        if (bitmap[index] != 1 || found >= 0)
            return -1;
        found = index;
    }
    return found;
}

/* R45, R46: the host rings a guest doorbell: its bitmap byte becomes 1, one NOTIFICATION
 * interrupt follows, the handler clears the byte and runs the callback once. Rings before
 * the guest handles them coalesce. (workstation-8 with an unrestricted VM, so R51 cannot
 * deny.) */
static void test_R45_R46_host_rings_guest_doorbell_and_rings_coalesce(void)
{
    struct world *w = world_open("workstation-8", "linux");
    struct vmci_kernel *a = vm_on(w, CID_A, true);
    struct vmci_device *device = vmci_hypervisor_device(w->hv, CID_A);
    w->counts.cid = CID_A;
    uint32_t rings = 0;
    struct vmci_handle doorbell;
    ASSERT_U64_EQ(vmci_doorbell_create(a, count_ring, &rings, &doorbell, NULL), VMCI_SUCCESS);
    ASSERT_U64_EQ(doorbell.context, CID_A);
    world_run(w);
    ASSERT_U64_EQ(bitmap_single_set(device), (uint64_t)-1);
    uint64_t interrupts_before = w->counts.notification_interrupts;
    ASSERT_U64_EQ(vmci_doorbell_notify(w->host, doorbell, NULL), VMCI_SUCCESS);
    int32_t index = bitmap_single_set(device);
    CU_ASSERT(index >= 0);
    ASSERT_U64_EQ(rings, 0);                            /* the callback runs in an event */
    world_run(w);
    ASSERT_U64_EQ(rings, 1);
    ASSERT_U64_EQ(w->counts.notification_interrupts - interrupts_before, 1);
    CU_ASSERT(vmci_device_bitmap(device) != NULL && vmci_device_bitmap(device)[index] == 0);
    for (int ring = 0; ring < 3; ring++)
        ASSERT_U64_EQ(vmci_doorbell_notify(w->host, doorbell, NULL), VMCI_SUCCESS);
    ASSERT_U64_EQ(bitmap_single_set(device), index);
    world_run(w);
    ASSERT_U64_EQ(rings, 2);
    ASSERT_U64_EQ(w->counts.notification_interrupts - interrupts_before, 2);
    /* A guest may ring its own doorbell. */
    ASSERT_U64_EQ(vmci_doorbell_notify(a, doorbell, NULL), VMCI_SUCCESS);
    world_run(w);
    ASSERT_U64_EQ(rings, 3);
    ASSERT_U64_EQ(vmci_doorbell_destroy(a, doorbell, NULL), VMCI_SUCCESS);
    world_close(w);
}

/* R45: an absent owner is -21 first; VM to another VM is -10 (before the link lookup);
 * an unlinked handle is -21. Nothing rings. */
static void test_R45_notify_errors(void)
{
    struct world *w = world_open("workstation-8", "linux");
    struct vmci_kernel *a = vm_on(w, CID_A, true);
    struct vmci_kernel *b = vm_on(w, CID_B, true);
    uint32_t rings = 0;
    struct vmci_handle doorbell;
    ASSERT_U64_EQ(vmci_doorbell_create(a, count_ring, &rings, &doorbell, NULL), VMCI_SUCCESS);
    ASSERT_U64_EQ(vmci_doorbell_notify(b, doorbell, NULL), VMCI_ERROR_DST_UNREACHABLE);
    ASSERT_U64_EQ(vmci_doorbell_notify(b, (struct vmci_handle){ CID_A, 999999 }, NULL),
                  VMCI_ERROR_DST_UNREACHABLE);
    ASSERT_U64_EQ(vmci_doorbell_notify(b, (struct vmci_handle){ CID_ABSENT, 1024 }, NULL),
                  VMCI_ERROR_NOT_FOUND);
    ASSERT_U64_EQ(vmci_doorbell_notify(w->host, (struct vmci_handle){ CID_A, 999999 }, NULL),
                  VMCI_ERROR_NOT_FOUND);
    ASSERT_U64_EQ(vmci_doorbell_notify(w->host, (struct vmci_handle){ CID_ABSENT, 1024 }, NULL),
                  VMCI_ERROR_NOT_FOUND);
    world_run(w);
    ASSERT_U64_EQ(rings, 0);
    ASSERT_U64_EQ(vmci_doorbell_destroy(a, doorbell, NULL), VMCI_SUCCESS);
    ASSERT_U64_EQ(vmci_doorbell_notify(w->host, doorbell, NULL), VMCI_ERROR_NOT_FOUND);
    world_close(w);
}

/* R44 through the raw hypercalls: linking a linked handle is -9, unlinking an unknown
 * one -21; a new link and its unlink succeed. */
static void test_R44_link_twice_and_unlink_unknown_raw(void)
{
    struct world *w = world_open("workstation-8", "linux");
    struct vmci_kernel *a = vm_on(w, CID_A, true);
    uint32_t rings = 0;
    struct vmci_handle doorbell;
    ASSERT_U64_EQ(vmci_doorbell_create(a, count_ring, &rings, &doorbell, NULL), VMCI_SUCCESS);
    uint8_t payload[16];
    vmci_write_u32(payload, doorbell.context);
    vmci_write_u32(payload + 4, doorbell.resource);
    vmci_write_u64(payload + 8, 7);
    ASSERT_U64_EQ(raw_hypercall(w, CID_A, VMCI_DOORBELL_LINK, payload, 16),
                  VMCI_ERROR_DUPLICATE_ENTRY);
    vmci_write_u32(payload + 4, 60000);
    ASSERT_U64_EQ(raw_hypercall(w, CID_A, VMCI_DOORBELL_UNLINK, payload, 8),
                  VMCI_ERROR_NOT_FOUND);
    vmci_write_u64(payload + 8, 4095);
    ASSERT_U64_EQ(raw_hypercall(w, CID_A, VMCI_DOORBELL_LINK, payload, 16), VMCI_SUCCESS);
    ASSERT_U64_EQ(raw_hypercall(w, CID_A, VMCI_DOORBELL_LINK, payload, 16),
                  VMCI_ERROR_DUPLICATE_ENTRY);
    ASSERT_U64_EQ(raw_hypercall(w, CID_A, VMCI_DOORBELL_UNLINK, payload, 8), VMCI_SUCCESS);
    ASSERT_U64_EQ(raw_hypercall(w, CID_A, VMCI_DOORBELL_UNLINK, payload, 8),
                  VMCI_ERROR_NOT_FOUND);
    ASSERT_U64_EQ(vmci_doorbell_destroy(a, doorbell, NULL), VMCI_SUCCESS);
    world_close(w);
}

/* R90: while a VM's memory is inaccessible (the hypervisor's MEM_ACCESS_OFF during suspend
 * or vMotion), the host's operations on that VM's queue pairs fail with
 * QUEUEPAIR_NOT_READY; the guest's own side keeps working; access back, the host resumes. */
static void test_R90_host_queue_pair_access_while_memory_off(void)
{
    struct world *w = world_open("esxi-6.5", NULL);
    struct vmci_kernel *a = vm_on(w, CID_A, false);
    struct vmci_handle handle;
    struct vmci_qpair *guest_side = NULL;
    struct vmci_qpair *host_side = NULL;
    ASSERT_U64_EQ(qp_new(w, a, 4096, 4096, VMCI_HOST_CONTEXT_ID, 0, NULL, &handle, &guest_side),
                  VMCI_SUCCESS);
    ASSERT_U64_EQ(qp(w, w->host, &handle, 4096, 4096, CID_A, 0, &w->trusted, &host_side),
                  VMCI_SUCCESS);
    ASSERT_U64_EQ(vmci_qpair_enqueue(guest_side, "abc", 3, NULL), 3);
    ASSERT_U64_EQ(vmci_hypervisor_vm_memory_access(w->hv, CID_A, false), VMCI_SUCCESS);
    char buffer[8];
    ASSERT_U64_EQ(vmci_qpair_dequeue(host_side, buffer, sizeof(buffer), NULL),
                  (uint64_t)(int64_t)VMCI_ERROR_QUEUEPAIR_NOT_READY);
    ASSERT_U64_EQ(vmci_qpair_enqueue(host_side, "x", 1, NULL),
                  (uint64_t)(int64_t)VMCI_ERROR_QUEUEPAIR_NOT_READY);
    ASSERT_U64_EQ(vmci_qpair_consume_buf_ready(host_side),
                  (uint64_t)(int64_t)VMCI_ERROR_QUEUEPAIR_NOT_READY);
    ASSERT_U64_EQ(vmci_qpair_produce_buf_ready(guest_side), 3);
    ASSERT_U64_EQ(vmci_hypervisor_vm_memory_access(w->hv, VMCI_HOST_CONTEXT_ID, false),
                  (uint64_t)(int64_t)VMCI_ERROR_NOT_FOUND);
    ASSERT_U64_EQ(vmci_hypervisor_vm_memory_access(w->hv, CID_A, true), VMCI_SUCCESS);
    ASSERT_U64_EQ(vmci_qpair_dequeue(host_side, buffer, sizeof(buffer), NULL), 3);
    CU_ASSERT_EQUAL(memcmp(buffer, "abc", 3), 0);
    world_close(w);
}

/* The CID an 8-byte context event carries (R64: {u32 context_id; u32 pad}). */
struct context_event_log {
    uint32_t count;
    uint32_t event[8];
    uint32_t cid[8];
};

static void context_event_record(void *state, uint32_t event, const uint8_t *payload,
                                 uint64_t payload_bytes)
{
    struct context_event_log *log = state;
    if (log->count < 8) {
        log->event[log->count] = event;
        log->cid[log->count] = payload_bytes >= 4 ? vmci_read_u32(payload) : VMCI_INVALID_ID;
    }
    log->count++;
}

/* R204-R206, R69-R71: suspend detaches the VM's queue pairs (the host peer gets
 * QP_PEER_DETACH) and removes its context (the host gets CTX_REMOVED with the CID; datagrams
 * to it are DST_UNREACHABLE); another VM may take the CID meanwhile; resume brings the VM
 * back with the next free CID and the guest receives CTX_ID_UPDATE, then QP_RESUMED, and its
 * kernel reports the new CID; power-off removes the context for good. */
static void test_R204_R205_R206_suspend_resume_power_off(void)
{
    struct world *w = world_open("esxi-6.5", NULL);
    struct vmci_kernel *a = vm_on(w, CID_A, false);
    struct context_event_log host_log = { 0 };
    struct context_event_log guest_log = { 0 };
    struct event_log detach_log = { 0 };
    uint32_t subscription = 0;
    CU_ASSERT_FATAL(vmci_event_subscribe(w->host, VMCI_EVENT_CTX_REMOVED, context_event_record,
                                         &host_log, &subscription) == VMCI_SUCCESS);
    CU_ASSERT_FATAL(vmci_event_subscribe(a, VMCI_EVENT_CTX_ID_UPDATE, context_event_record,
                                         &guest_log, &subscription) == VMCI_SUCCESS);
    CU_ASSERT_FATAL(vmci_event_subscribe(a, VMCI_EVENT_QP_RESUMED, context_event_record,
                                         &guest_log, &subscription) == VMCI_SUCCESS);
    subscribe(w->host, VMCI_EVENT_QP_PEER_DETACH, &detach_log);
    struct vmci_handle handle;
    struct vmci_qpair *host_side = NULL;
    ASSERT_U64_EQ(qp_new(w, a, 4096, 4096, VMCI_HOST_CONTEXT_ID, 0, NULL, &handle, NULL),
                  VMCI_SUCCESS);
    ASSERT_U64_EQ(qp(w, w->host, &handle, 4096, 4096, CID_A, 0, &w->trusted, &host_side),
                  VMCI_SUCCESS);
    world_run(w);
    ASSERT_U64_EQ(vmci_hypervisor_vm_suspend(w->hv, CID_A), VMCI_SUCCESS);
    CU_ASSERT_FALSE(vmci_hypervisor_context_live(w->hv, CID_A));
    CU_ASSERT_TRUE(vmci_hypervisor_check(w->hv));
    world_run(w);
    ASSERT_U64_EQ(detach_log.count, 1);
    ASSERT_U64_EQ(detach_log.peer[0], CID_A);
    ASSERT_U64_EQ(host_log.count, 1);
    ASSERT_U64_EQ(host_log.event[0], VMCI_EVENT_CTX_REMOVED);
    ASSERT_U64_EQ(host_log.cid[0], CID_A);
    struct vmci_kernel *b = vm_on(w, CID_A, false);            /* takes the free CID */
    ASSERT_U64_EQ(vmci_kernel_cid(b), CID_A);
    uint32_t resumed_cid = 0;
    ASSERT_U64_EQ(vmci_hypervisor_vm_resume(w->hv, CID_A, &resumed_cid), VMCI_SUCCESS);
    ASSERT_U64_EQ(resumed_cid, CID_A + 1);                      /* R8: the next free one */
    world_run(w);
    ASSERT_U64_EQ(guest_log.count, 2);
    ASSERT_U64_EQ(guest_log.event[0], VMCI_EVENT_CTX_ID_UPDATE);
    ASSERT_U64_EQ(guest_log.cid[0], CID_A + 1);
    ASSERT_U64_EQ(guest_log.event[1], VMCI_EVENT_QP_RESUMED);
    ASSERT_U64_EQ(vmci_kernel_cid(a), CID_A + 1);                /* R70 */
    CU_ASSERT_TRUE(vmci_hypervisor_check(w->hv));
    ASSERT_U64_EQ(vmci_hypervisor_vm_resume(w->hv, CID_A, NULL),
                  (uint64_t)(int64_t)VMCI_ERROR_NOT_FOUND);
    ASSERT_U64_EQ(vmci_hypervisor_vm_power_off(w->hv, CID_A), VMCI_SUCCESS);   /* b */
    CU_ASSERT_FALSE(vmci_hypervisor_context_live(w->hv, CID_A));
    ASSERT_U64_EQ(vmci_hypervisor_vm_power_off(w->hv, CID_A),
                  (uint64_t)(int64_t)VMCI_ERROR_NOT_FOUND);
    world_run(w);
    ASSERT_U64_EQ(host_log.count, 2);
    ASSERT_U64_EQ(host_log.cid[1], CID_A);
    CU_ASSERT_TRUE(vmci_hypervisor_check(w->hv));
    world_close(w);
}

CU_ErrorCode vmci_broker_suite_add(void)
{
    static const struct test_entry tests[] = {
        TEST_ENTRY(test_R91_flags_mask_and_client_api_refuses_nonblock_pinned),
        TEST_ENTRY(test_R92_new_handle_is_own_cid_and_kernel_rid_counter),
        TEST_ENTRY(test_R93_create_checks_in_order),
        TEST_ENTRY(test_R93_R197_guest_to_guest_by_profile),
        TEST_ENTRY(test_R93_R96_broker_results_through_raw_hypercalls),
        TEST_ENTRY(test_R94_attach_after_creator_detached_unavailable),
        TEST_ENTRY(test_R94_attach_twice_already_exists),
        TEST_ENTRY(test_R94_restricted_and_trusted_attach),
        TEST_ENTRY(test_R94_peer_not_any_must_be_the_attacher),
        TEST_ENTRY(test_R98_R200_host_qp_refused_without_host_queue_pairs),
        TEST_ENTRY(test_R94_flags_mismatch),
        TEST_ENTRY(test_R94_sizes_not_mirrored_mismatch),
        TEST_ENTRY(test_R95_local_pair_in_one_guest),
        TEST_ENTRY(test_R95_local_checks),
        TEST_ENTRY(test_R80_positions_reported_by_the_data_operation),
        TEST_ENTRY(test_R89_endpoint_queries_read_the_ring_as_the_ring_code_does),
        TEST_ENTRY(test_lookup_caches_follow_the_tables),
        TEST_ENTRY(test_R68_R95_local_detach_event_stays_in_guest),
        TEST_ENTRY(test_D9_host_local_pairs_esx_only),
        TEST_ENTRY(test_R96_detach_by_non_attached_context_or_unknown_handle),
        TEST_ENTRY(test_R96_R97_peer_detach_keeps_data_and_blocks_attach),
        TEST_ENTRY(test_R97_D20_host_side_has_no_memory_once_the_guest_detaches),
        TEST_ENTRY(test_R97_host_local_pair_keeps_its_memory_after_a_detach),
        TEST_ENTRY(test_qp_data_hash_shared_with_the_written_tally),
        TEST_ENTRY(test_R67_peer_attach_event_to_creator),
        TEST_ENTRY(test_R68_peer_detach_event_to_remaining_side),
        TEST_ENTRY(test_R64_event_datagram_layout_and_size),
        TEST_ENTRY(test_R65_events_5_6_7_cannot_be_subscribed),
        TEST_ENTRY(test_R72_events_use_the_larger_queue_limit),
        TEST_ENTRY(test_R77_R79_quota_limits_qp_memory),
        TEST_ENTRY(test_R77_sizes_above_128_mib),
        TEST_ENTRY(test_R34_device_reset_detaches_queue_pairs),
        TEST_ENTRY(test_R45_R46_host_rings_guest_doorbell_and_rings_coalesce),
        TEST_ENTRY(test_R45_notify_errors),
        TEST_ENTRY(test_R44_link_twice_and_unlink_unknown_raw),
        TEST_ENTRY(test_R90_host_queue_pair_access_while_memory_off),
        TEST_ENTRY(test_R204_R205_R206_suspend_resume_power_off),
    };
    return test_suite_register("vmci_broker", tests, sizeof(tests) / sizeof(tests[0]));
}
