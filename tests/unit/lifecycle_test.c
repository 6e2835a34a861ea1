/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/lifecycle_test.c: the VM lifecycle (reference section 10: R204-R210, with
 * R68-R71, R90, R97, R154, R171).
 *
 * Two levels. The VMCI level builds a bare world (engine, hypervisor, VMs powered on and
 * run until their drivers have loaded, D4) and calls the hypervisor's lifecycle hooks
 * (vmci/lifecycle.c) directly: events are seen through subscriptions of the host and
 * guest kernels, datagrams through handles, queue pairs through the driver API. The
 * socket level uses the shared vSockets world (vsock_fixture.h: the host and VMs 100 and
 * 200 on esxi-6.5) and calls the same hooks on its hypervisor, then looks at the sockets
 * through the C API. That world's guests run in engine domain 0, so nothing there is
 * frozen: what a frozen guest does (its timers catch up at the resume, a frozen guest
 * keeps its queue pairs) is checked through small Lua scenarios (sim/lua/lifecycle.c).
 * Expected values come from the reference text; every bare world ends with
 * vmci_hypervisor_check.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "sim/engine/engine.h"
#include "sim/lua/runtime.h"
#include "suites.h"
#include "test_support.h"
#include "vmci/device.h"
#include "vmci/hypervisor.h"
#include "vmci/vmci.h"
#include "vsock_fixture.h"

#define CID_C 300u
#define HW_VERSION 13u
#define HOST_RID 5000u
#define GUEST_RID 6000u
#define QP_BYTES 4096u
#define EVENT_LOG_MAX 8u
#define LUA_SOURCE_BYTES_MAX 4096u
#define TRACE_LOG_MAX 2048u
#define KIND_BYTES_MAX 64u

/* What a kernel's subscriptions received, in order (4.5). */
struct event_log {
    struct vmci_kernel *kernel;         /* borrowed: whose cached CID to sample (R70) */
    uint32_t count;
    uint32_t event[EVENT_LOG_MAX];
    uint64_t payload_bytes[EVENT_LOG_MAX];
    uint32_t word0[EVENT_LOG_MAX];      /* CID of a context event, handle.context of a QP one */
    uint32_t peer[EVENT_LOG_MAX];       /* peer_id of a QP event */
    uint32_t kernel_cid[EVENT_LOG_MAX]; /* the kernel's cached CID when the callback ran */
};

struct bare_world {
    struct sim_engine *engine;
    struct vmci_hypervisor *hv;
    struct vmci_kernel *host;
    struct vmci_profile profile;
    struct vmci_identity trusted;       /* D1: a host process's default identity */
};

/* ---- VMCI-level fixture ----------------------------------------------------------------- */

static struct bare_world *bare_open(const char *product)
{
    struct bare_world *w = calloc(1, sizeof(*w));
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    char message[128];
    CU_ASSERT_FATAL(vmci_profile_lookup(product, NULL, &w->profile, message,
                                        sizeof(message)) == 0);
    struct sim_limits limits = sim_limits_default();
    w->engine = sim_engine_create(&limits, 11);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w->engine);
    struct vmci_cost cost = vmci_cost_default();
    w->hv = vmci_hypervisor_create(w->engine, &w->profile, &cost);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w->hv);
    w->host = vmci_hypervisor_host(w->hv);
    vmci_profile_host_identity(&w->profile, true, false, false, &w->trusted.trusted,
                               &w->trusted.owner_rule);
    strcpy(w->trusted.user, "user");
    return w;
}

static void bare_run(struct bare_world *w)
{
    struct sim_run_result result;
    sim_engine_run(w->engine, SIM_TIME_NEVER, 0, &result);
    ASSERT_U64_EQ(result.stopped, SIM_STOP_IDLE);
}

static void bare_close(struct bare_world *w)
{
    bare_run(w);
    CU_ASSERT(vmci_hypervisor_check(w->hv));
    vmci_hypervisor_destroy(w->hv);
    sim_engine_destroy(w->engine);
    free(w);
}

/* Powers a VM on asking for `cid` and runs its driver bring-up (D4). */
static struct vmci_kernel *bare_vm(struct bare_world *w, uint32_t cid, bool unrestricted)
{
    struct vmci_vm_config config = {
        .name = "vm", .requested_cid = cid, .hw_version = HW_VERSION,
        .unrestricted = unrestricted, .domain = "", .owner = "user",
    };
    struct vmci_kernel *kernel = NULL;
    CU_ASSERT_FATAL(vmci_hypervisor_vm_power_on(w->hv, &config, &kernel) == VMCI_SUCCESS);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kernel);
    bare_run(w);
    CU_ASSERT_FATAL(vmci_kernel_ready(kernel));
    return kernel;
}

static void event_record(void *state, uint32_t event, const uint8_t *payload,
                         uint64_t payload_bytes)
{
    struct event_log *log = state;
    if (log->count < EVENT_LOG_MAX) {
        log->event[log->count] = event;
        log->payload_bytes[log->count] = payload_bytes;
        log->word0[log->count] = payload_bytes >= 4 ? vmci_read_u32(payload) : 0;
        log->peer[log->count] = payload_bytes >= 12 ? vmci_read_u32(payload + 8) : 0;
        log->kernel_cid[log->count] = vmci_kernel_cid(log->kernel);
    }
    log->count++;
}

static void subscribe(struct vmci_kernel *kernel, uint32_t event, struct event_log *log)
{
    uint32_t subscription = 0;
    log->kernel = kernel;
    CU_ASSERT_FATAL(vmci_event_subscribe(kernel, event, event_record, log, &subscription) ==
                    VMCI_SUCCESS);
}

static void dg_count(void *state, const struct vmci_datagram_header *header,
                     const uint8_t *payload)
{
    (void)header;
    (void)payload;
    (*(uint32_t *)state)++;
}

/* A handle with RID `rid` in `kernel` whose callback counts deliveries in *counter. */
static void handle_make(struct bare_world *w, struct vmci_kernel *kernel, uint32_t rid,
                        uint32_t flags, uint32_t *counter)
{
    struct vmci_handle handle;
    const struct vmci_identity *identity = vmci_kernel_is_host(kernel) ? &w->trusted : NULL;
    CU_ASSERT_FATAL(vmci_dg_create(kernel, rid, flags, identity, dg_count, counter,
                                   &handle) == VMCI_SUCCESS);
}

/* Sends an 8-byte datagram {src_cid, src_rid} -> {dst_cid, dst_rid}; returns R39's result. */
static int64_t dg_send(struct vmci_kernel *kernel, uint32_t src_rid, uint32_t dst_cid,
                       uint32_t dst_rid)
{
    static const uint8_t payload[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    struct vmci_datagram_header header = {
        .dst = { dst_cid, dst_rid }, .src = { vmci_kernel_cid(kernel), src_rid },
        .payload_size = sizeof(payload),
    };
    return vmci_dg_send(kernel, &header, payload, NULL);
}

#define DG_BYTES ((int64_t)VMCI_DG_HEADERSIZE + 8)   /* R39: a send returns the size */

/* VMCI_GET_CONTEXT_ID (R74) written into VM `cid`'s DATA_OUT: a datagram to CID 0. */
static int32_t hypercall_get_cid(struct bare_world *w, uint32_t cid)
{
    uint8_t bytes[VMCI_DG_HEADERSIZE];
    struct vmci_datagram_header header = {
        .dst = { VMCI_HYPERVISOR_CONTEXT_ID, VMCI_GET_CONTEXT_ID },
        .src = { cid, VMCI_CONTEXT_RESOURCE_ID }, .payload_size = 0,
    };
    vmci_header_encode(bytes, &header);
    struct vmci_device *device = vmci_hypervisor_device(w->hv, cid);
    CU_ASSERT_PTR_NOT_NULL_FATAL(device);
    vmci_device_write_data_out(device, bytes, sizeof(bytes));
    return (int32_t)vmci_device_read(device, VMCI_RESULT_LOW_ADDR);
}

/* A host-created queue pair with VM `guest` attached: *host_qp and *guest_qp. */
static void qp_connect(struct bare_world *w, struct vmci_kernel *guest,
                       struct vmci_qpair **host_qp, struct vmci_qpair **guest_qp,
                       struct vmci_handle *handle)
{
    *handle = VMCI_INVALID_HANDLE;
    CU_ASSERT_FATAL(vmci_qpair_alloc(w->host, handle, QP_BYTES, QP_BYTES, vmci_kernel_cid(guest),
                                     0, &w->trusted, host_qp, NULL) == VMCI_SUCCESS);
    CU_ASSERT_FATAL(vmci_qpair_alloc(guest, handle, QP_BYTES, QP_BYTES, VMCI_HOST_CONTEXT_ID, 0,
                                     NULL, guest_qp, NULL) == VMCI_SUCCESS);
}

/* ---- VMCI level: suspend (R205) --------------------------------------------------------- */

/* R205, R68, R69, R48: suspend detaches the VM's queue pairs (the host peer gets
 * QP_PEER_DETACH naming the VM), then removes the context (the host gets CTX_REMOVED with
 * its CID, in that order); the VM is no longer live, has no guest kernel or device in the
 * table, and a second suspend finds nothing. */
static void test_R205_suspend_detaches_queue_pairs_and_removes_context(void)
{
    struct bare_world *w = bare_open("esxi-6.5");
    struct vmci_kernel *a = bare_vm(w, CID_A, false);
    struct vmci_qpair *host_qp, *guest_qp;
    struct vmci_handle handle;
    qp_connect(w, a, &host_qp, &guest_qp, &handle);
    bare_run(w);
    struct event_log host_log = { 0 };
    subscribe(w->host, VMCI_EVENT_QP_PEER_DETACH, &host_log);
    subscribe(w->host, VMCI_EVENT_CTX_REMOVED, &host_log);
    ASSERT_U64_EQ(vmci_hypervisor_vm_suspend(w->hv, CID_A), VMCI_SUCCESS);
    CU_ASSERT_FALSE(vmci_hypervisor_context_live(w->hv, CID_A));
    CU_ASSERT_PTR_NULL(vmci_hypervisor_guest(w->hv, CID_A));
    CU_ASSERT_PTR_NULL(vmci_hypervisor_device(w->hv, CID_A));
    ASSERT_U64_EQ(vmci_hypervisor_context_flags(w->hv, CID_A), VMCI_PRIVILEGE_FLAG_RESTRICTED);
    bare_run(w);
    ASSERT_U64_EQ(host_log.count, 2);
    ASSERT_U64_EQ(host_log.event[0], VMCI_EVENT_QP_PEER_DETACH);               /* R68 */
    ASSERT_U64_EQ(host_log.payload_bytes[0], 16);
    ASSERT_U64_EQ(host_log.word0[0], handle.context);
    ASSERT_U64_EQ(host_log.peer[0], CID_A);
    ASSERT_U64_EQ(host_log.event[1], VMCI_EVENT_CTX_REMOVED);                  /* R69 */
    ASSERT_U64_EQ(host_log.payload_bytes[1], 8);
    ASSERT_U64_EQ(host_log.word0[1], CID_A);
    ASSERT_U64_EQ(vmci_hypervisor_vm_suspend(w->hv, CID_A), VMCI_ERROR_NOT_FOUND);
    ASSERT_U64_EQ(vmci_hypervisor_vm_suspend(w->hv, VMCI_HOST_CONTEXT_ID), VMCI_ERROR_NOT_FOUND);
    CU_ASSERT(vmci_hypervisor_check(w->hv));
    ASSERT_U64_EQ(vmci_qpair_detach(host_qp, NULL), VMCI_SUCCESS);             /* last side */
    ASSERT_U64_EQ(vmci_qpair_detach(guest_qp, NULL), VMCI_SUCCESS);            /* gone already */
    bare_close(w);
}

/* R205, R56, R206: datagrams queued for the VM when it is suspended are discarded, and new
 * ones to its CID fail with DST_UNREACHABLE while it is suspended; after the resume the
 * guest's handle has received none of them, and a datagram sent then arrives. */
static void test_R205_datagrams_to_suspended_cid_unreachable_and_queued_lost(void)
{
    struct bare_world *w = bare_open("esxi-6.5");
    struct vmci_kernel *a = bare_vm(w, CID_A, false);
    uint32_t host_got = 0, guest_got = 0;
    handle_make(w, w->host, HOST_RID, 0, &host_got);
    handle_make(w, a, GUEST_RID, 0, &guest_got);
    ASSERT_U64_EQ(dg_send(w->host, HOST_RID, CID_A, GUEST_RID), DG_BYTES);    /* queued */
    ASSERT_U64_EQ(vmci_hypervisor_vm_suspend(w->hv, CID_A), VMCI_SUCCESS);
    ASSERT_U64_EQ(dg_send(w->host, HOST_RID, CID_A, GUEST_RID), VMCI_ERROR_DST_UNREACHABLE);
    bare_run(w);
    ASSERT_U64_EQ(guest_got, 0);
    uint32_t cid = 0;
    ASSERT_U64_EQ(vmci_hypervisor_vm_resume(w->hv, CID_A, &cid), VMCI_SUCCESS);
    ASSERT_U64_EQ(cid, CID_A);
    bare_run(w);
    ASSERT_U64_EQ(guest_got, 0);                            /* R205: the queued one is lost */
    ASSERT_U64_EQ(dg_send(w->host, HOST_RID, CID_A, GUEST_RID), DG_BYTES);
    ASSERT_U64_EQ(dg_send(a, GUEST_RID, VMCI_HOST_CONTEXT_ID, HOST_RID), DG_BYTES);
    bare_run(w);
    ASSERT_U64_EQ(guest_got, 1);
    ASSERT_U64_EQ(host_got, 1);
    bare_close(w);
}

/* R205: no code of a suspended VM runs, but a scenario can act on one of its sockets from
 * outside (a w:at callback closing it): the datagram its driver writes to DATA_OUT is
 * refused (UNAVAILABLE) and dropped, never routed, and nothing crashes; after the resume
 * the same send works. */
static void test_R205_datagram_out_of_a_suspended_vm_refused(void)
{
    struct bare_world *w = bare_open("esxi-6.5");
    struct vmci_kernel *a = bare_vm(w, CID_A, false);
    uint32_t host_got = 0, guest_got = 0;
    handle_make(w, w->host, HOST_RID, 0, &host_got);
    handle_make(w, a, GUEST_RID, 0, &guest_got);
    ASSERT_U64_EQ(vmci_hypervisor_vm_suspend(w->hv, CID_A), VMCI_SUCCESS);
    ASSERT_U64_EQ(dg_send(a, GUEST_RID, VMCI_HOST_CONTEXT_ID, HOST_RID), VMCI_ERROR_UNAVAILABLE);
    bare_run(w);
    ASSERT_U64_EQ(host_got, 0);
    uint32_t cid = 0;
    ASSERT_U64_EQ(vmci_hypervisor_vm_resume(w->hv, CID_A, &cid), VMCI_SUCCESS);
    ASSERT_U64_EQ(dg_send(a, GUEST_RID, VMCI_HOST_CONTEXT_ID, HOST_RID), DG_BYTES);
    bare_run(w);
    ASSERT_U64_EQ(host_got, 1);
    bare_close(w);
}

/* R90: while the VM's memory is inaccessible (MEM_ACCESS_OFF, the first step of a suspend),
 * the host's operations on its queue pair fail with QUEUEPAIR_NOT_READY. R205, D20: once
 * the suspend has detached the VM, the host's side has no memory (the pages were the
 * guest's): its dequeue, peek and enqueue keep failing with QUEUEPAIR_NOT_READY, and
 * after the resume nothing the host tried to write has reached the guest. */
static void test_R90_R205_host_queue_pair_ops_around_suspend(void)
{
    struct bare_world *w = bare_open("esxi-6.5");
    struct vmci_kernel *a = bare_vm(w, CID_A, false);
    struct vmci_qpair *host_qp, *guest_qp;
    struct vmci_handle handle;
    qp_connect(w, a, &host_qp, &guest_qp, &handle);
    ASSERT_U64_EQ(vmci_qpair_enqueue(guest_qp, "abc", 3, NULL), 3);
    ASSERT_U64_EQ(vmci_hypervisor_vm_memory_access(w->hv, CID_A, false), VMCI_SUCCESS);
    uint8_t buffer[8] = { 0 };
    ASSERT_U64_EQ(vmci_qpair_enqueue(host_qp, "x", 1, NULL), VMCI_ERROR_QUEUEPAIR_NOT_READY);
    ASSERT_U64_EQ(vmci_qpair_dequeue(host_qp, buffer, sizeof(buffer), NULL),
                  VMCI_ERROR_QUEUEPAIR_NOT_READY);
    ASSERT_U64_EQ(vmci_qpair_consume_buf_ready(host_qp), VMCI_ERROR_QUEUEPAIR_NOT_READY);
    ASSERT_U64_EQ(vmci_qpair_enqueue(guest_qp, "d", 1, NULL), 1);      /* the guest is not */
    ASSERT_U64_EQ(vmci_hypervisor_vm_memory_access(w->hv, CID_A, true), VMCI_SUCCESS);
    ASSERT_U64_EQ(vmci_qpair_consume_buf_ready(host_qp), 4);
    ASSERT_U64_EQ(vmci_hypervisor_vm_suspend(w->hv, CID_A), VMCI_SUCCESS);
    ASSERT_U64_EQ(vmci_qpair_dequeue(host_qp, buffer, sizeof(buffer), NULL),
                  VMCI_ERROR_QUEUEPAIR_NOT_READY);                              /* D20 */
    ASSERT_U64_EQ(vmci_qpair_peek(host_qp, buffer, sizeof(buffer), NULL),
                  VMCI_ERROR_QUEUEPAIR_NOT_READY);
    ASSERT_U64_EQ(vmci_qpair_enqueue(host_qp, "xy", 2, NULL), VMCI_ERROR_QUEUEPAIR_NOT_READY);
    ASSERT_U64_EQ(buffer[0], 0);                        /* nothing was ever copied out */
    uint32_t cid = 0;
    ASSERT_U64_EQ(vmci_hypervisor_vm_resume(w->hv, CID_A, &cid), VMCI_SUCCESS);
    bare_run(w);
    ASSERT_U64_EQ(vmci_qpair_enqueue(host_qp, "xy", 2, NULL), VMCI_ERROR_QUEUEPAIR_NOT_READY);
    ASSERT_U64_EQ(vmci_qpair_consume_buf_ready(guest_qp), 0);  /* the guest got nothing */
    ASSERT_U64_EQ(vmci_qpair_detach(guest_qp, NULL), VMCI_SUCCESS);
    ASSERT_U64_EQ(vmci_qpair_detach(host_qp, NULL), VMCI_SUCCESS);
    bare_close(w);
}

/* R206 (with qpair.c `readable`): the guest endpoint the suspend detached still reads what
 * was in its consume queue when the VM stopped, then NODATA; it can no longer enqueue
 * (its side is gone from the broker: NOT_FOUND) but still sees its own free space (R133
 * through R171 at the socket level). */
static void test_R206_detached_guest_endpoint_reads_its_consume_queue(void)
{
    struct bare_world *w = bare_open("esxi-6.5");
    struct vmci_kernel *a = bare_vm(w, CID_A, false);
    struct vmci_qpair *host_qp, *guest_qp;
    struct vmci_handle handle;
    qp_connect(w, a, &host_qp, &guest_qp, &handle);
    ASSERT_U64_EQ(vmci_qpair_enqueue(host_qp, "hello", 5, NULL), 5);
    ASSERT_U64_EQ(vmci_hypervisor_vm_suspend(w->hv, CID_A), VMCI_SUCCESS);
    uint32_t cid = 0;
    ASSERT_U64_EQ(vmci_hypervisor_vm_resume(w->hv, CID_A, &cid), VMCI_SUCCESS);
    bare_run(w);
    ASSERT_U64_EQ(vmci_qpair_consume_buf_ready(guest_qp), 5);
    ASSERT_U64_EQ(vmci_qpair_enqueue(guest_qp, "z", 1, NULL), VMCI_ERROR_NOT_FOUND);
    ASSERT_U64_EQ(vmci_qpair_produce_free_space(guest_qp), QP_BYTES - 1);       /* R83 */
    uint8_t buffer[8] = { 0 };
    ASSERT_U64_EQ(vmci_qpair_dequeue(guest_qp, buffer, sizeof(buffer), NULL), 5);
    CU_ASSERT_EQUAL(memcmp(buffer, "hello", 5), 0);
    ASSERT_U64_EQ(vmci_qpair_consume_buf_ready(guest_qp), 0);
    ASSERT_U64_EQ(vmci_qpair_dequeue(guest_qp, buffer, sizeof(buffer), NULL),
                  VMCI_ERROR_QUEUEPAIR_NODATA);
    ASSERT_U64_EQ(vmci_qpair_detach(guest_qp, NULL), VMCI_SUCCESS);
    ASSERT_U64_EQ(vmci_qpair_detach(host_qp, NULL), VMCI_SUCCESS);
    bare_close(w);
}

/* ---- VMCI level: resume (R206, R70, R71) ------------------------------------------------ */

/* R206, R71: a resume to a free CID keeps it: the guest gets QP_RESUMED (no payload) and no
 * CTX_ID_UPDATE; the host gets nothing. Resuming a VM that is not suspended (again, or one
 * never suspended) finds nothing. */
static void test_R206_resume_keeps_free_cid_and_sends_only_qp_resumed(void)
{
    struct bare_world *w = bare_open("esxi-6.5");
    struct vmci_kernel *a = bare_vm(w, CID_A, false);
    (void)bare_vm(w, CID_B, false);
    struct event_log guest_log = { 0 }, host_log = { 0 };
    subscribe(a, VMCI_EVENT_CTX_ID_UPDATE, &guest_log);
    subscribe(a, VMCI_EVENT_QP_RESUMED, &guest_log);
    subscribe(w->host, VMCI_EVENT_CTX_ID_UPDATE, &host_log);
    subscribe(w->host, VMCI_EVENT_QP_RESUMED, &host_log);
    ASSERT_U64_EQ(vmci_hypervisor_vm_suspend(w->hv, CID_A), VMCI_SUCCESS);
    bare_run(w);
    ASSERT_U64_EQ(guest_log.count, 0);
    uint32_t cid = 0;
    ASSERT_U64_EQ(vmci_hypervisor_vm_resume(w->hv, CID_B, &cid), VMCI_ERROR_NOT_FOUND);
    ASSERT_U64_EQ(vmci_hypervisor_vm_resume(w->hv, CID_A, &cid), VMCI_SUCCESS);
    ASSERT_U64_EQ(cid, CID_A);
    CU_ASSERT(vmci_hypervisor_context_live(w->hv, CID_A));
    CU_ASSERT_PTR_EQUAL(vmci_hypervisor_guest(w->hv, CID_A), a);
    ASSERT_U64_EQ(vmci_hypervisor_vm_resume(w->hv, CID_A, &cid), VMCI_ERROR_NOT_FOUND);
    bare_run(w);
    ASSERT_U64_EQ(guest_log.count, 1);
    ASSERT_U64_EQ(guest_log.event[0], VMCI_EVENT_QP_RESUMED);
    ASSERT_U64_EQ(guest_log.payload_bytes[0], 0);
    ASSERT_U64_EQ(host_log.count, 0);
    ASSERT_U64_EQ(vmci_kernel_cid(a), CID_A);
    ASSERT_U64_EQ(hypercall_get_cid(w, CID_A), CID_A);                         /* R74 */
    bare_close(w);
}

/* R206, R8, R70, R71, R60: another VM took the CID while the VM was suspended, so the resume
 * gives the next free one (101); the guest gets CTX_ID_UPDATE with it (its cached CID has
 * changed when the callback runs), then QP_RESUMED. The hypervisor and the device say 101;
 * a handle made for {100, rid} no longer matches, an ANY-CID handle (R60) still does. */
static void test_R206_R70_resume_to_taken_cid_sends_id_update_then_qp_resumed(void)
{
    struct bare_world *w = bare_open("esxi-6.5");
    struct vmci_kernel *a = bare_vm(w, CID_A, false);
    uint32_t plain_got = 0, any_got = 0;
    handle_make(w, a, GUEST_RID, 0, &plain_got);
    handle_make(w, a, GUEST_RID + 1, VMCI_FLAG_ANYCID_DG_HND, &any_got);
    uint32_t host_got = 0;
    handle_make(w, w->host, HOST_RID, 0, &host_got);
    struct event_log guest_log = { 0 };
    subscribe(a, VMCI_EVENT_CTX_ID_UPDATE, &guest_log);
    subscribe(a, VMCI_EVENT_QP_RESUMED, &guest_log);
    ASSERT_U64_EQ(vmci_hypervisor_vm_suspend(w->hv, CID_A), VMCI_SUCCESS);
    struct vmci_kernel *taker = bare_vm(w, CID_A, false);
    ASSERT_U64_EQ(vmci_kernel_cid(taker), CID_A);               /* R48: 100 was free */
    uint32_t cid = 0;
    ASSERT_U64_EQ(vmci_hypervisor_vm_resume(w->hv, CID_A, &cid), VMCI_SUCCESS);
    ASSERT_U64_EQ(cid, CID_A + 1);
    CU_ASSERT_PTR_EQUAL(vmci_hypervisor_guest(w->hv, CID_A + 1), a);
    CU_ASSERT_PTR_EQUAL(vmci_hypervisor_guest(w->hv, CID_A), taker);
    bare_run(w);
    ASSERT_U64_EQ(guest_log.count, 2);
    ASSERT_U64_EQ(guest_log.event[0], VMCI_EVENT_CTX_ID_UPDATE);
    ASSERT_U64_EQ(guest_log.payload_bytes[0], 8);
    ASSERT_U64_EQ(guest_log.word0[0], CID_A + 1);
    ASSERT_U64_EQ(guest_log.kernel_cid[0], CID_A + 1);                         /* R70 */
    ASSERT_U64_EQ(guest_log.event[1], VMCI_EVENT_QP_RESUMED);                  /* R71 */
    ASSERT_U64_EQ(vmci_kernel_cid(a), CID_A + 1);
    ASSERT_U64_EQ(hypercall_get_cid(w, CID_A + 1), CID_A + 1);                 /* R74 */
    ASSERT_U64_EQ(dg_send(w->host, HOST_RID, CID_A + 1, GUEST_RID), DG_BYTES);
    ASSERT_U64_EQ(dg_send(w->host, HOST_RID, CID_A + 1, GUEST_RID + 1), DG_BYTES);
    ASSERT_U64_EQ(dg_send(a, GUEST_RID + 1, VMCI_HOST_CONTEXT_ID, HOST_RID), DG_BYTES);
    bare_run(w);
    ASSERT_U64_EQ(plain_got, 0);                                /* {100, rid}: R42 drop */
    ASSERT_U64_EQ(any_got, 1);
    ASSERT_U64_EQ(host_got, 1);
    bare_close(w);
}

/* ---- VMCI level: power-off of a suspended VM (R204) ------------------------------------- */

/* R204, R205, R69: powering off a suspended VM frees its context (it cannot be resumed,
 * a second power-off finds nothing) without a second CTX_REMOVED, and its CID is free: a
 * VM powered on asking for it gets it. */
static void test_R204_power_off_of_suspended_vm_frees_context_and_cid(void)
{
    struct bare_world *w = bare_open("esxi-6.5");
    struct vmci_kernel *a = bare_vm(w, CID_A, false);
    struct vmci_qpair *host_qp, *guest_qp;
    struct vmci_handle handle;
    qp_connect(w, a, &host_qp, &guest_qp, &handle);
    struct event_log host_log = { 0 };
    subscribe(w->host, VMCI_EVENT_CTX_REMOVED, &host_log);
    ASSERT_U64_EQ(vmci_hypervisor_vm_suspend(w->hv, CID_A), VMCI_SUCCESS);
    bare_run(w);
    ASSERT_U64_EQ(host_log.count, 1);
    /* The guest's endpoint is released before its kernel goes (hypervisor.h). */
    ASSERT_U64_EQ(vmci_qpair_detach(guest_qp, NULL), VMCI_SUCCESS);
    ASSERT_U64_EQ(vmci_hypervisor_vm_power_off(w->hv, CID_A), VMCI_SUCCESS);
    bare_run(w);
    ASSERT_U64_EQ(host_log.count, 1);
    uint32_t cid = 0;
    ASSERT_U64_EQ(vmci_hypervisor_vm_resume(w->hv, CID_A, &cid), VMCI_ERROR_NOT_FOUND);
    ASSERT_U64_EQ(vmci_hypervisor_vm_power_off(w->hv, CID_A), VMCI_ERROR_NOT_FOUND);
    ASSERT_U64_EQ(vmci_hypervisor_vm_set_ft(w->hv, CID_A, true), VMCI_ERROR_NOT_FOUND);
    CU_ASSERT(vmci_hypervisor_check(w->hv));
    struct vmci_kernel *again = bare_vm(w, CID_A, false);
    ASSERT_U64_EQ(vmci_kernel_cid(again), CID_A);
    /* D20: the host's side of the old VM's pair has no memory; the new VM shares none. */
    uint8_t buffer[4];
    ASSERT_U64_EQ(vmci_qpair_dequeue(host_qp, buffer, sizeof(buffer), NULL),
                  VMCI_ERROR_QUEUEPAIR_NOT_READY);
    ASSERT_U64_EQ(vmci_qpair_enqueue(host_qp, "x", 1, NULL), VMCI_ERROR_QUEUEPAIR_NOT_READY);
    ASSERT_U64_EQ(vmci_qpair_detach(host_qp, NULL), VMCI_SUCCESS);
    bare_close(w);
}

/* ---- VMCI level: fault tolerance (R208) ------------------------------------------------- */

/* Datagrams between A (FT candidate), B, the host and A itself; `a_refused` says whether
 * every path touching A is refused (R208), the others must pass either way. */
static void ft_check_datagrams(struct bare_world *w, struct vmci_kernel *a, struct vmci_kernel *b,
                               bool a_refused)
{
    int64_t a_path = a_refused ? VMCI_ERROR_NO_ACCESS : DG_BYTES;
    ASSERT_U64_EQ(dg_send(a, GUEST_RID, VMCI_HOST_CONTEXT_ID, HOST_RID), a_path);
    ASSERT_U64_EQ(dg_send(w->host, HOST_RID, CID_A, GUEST_RID), a_path);
    ASSERT_U64_EQ(dg_send(a, GUEST_RID, CID_B, GUEST_RID), a_path);
    ASSERT_U64_EQ(dg_send(b, GUEST_RID, CID_A, GUEST_RID), a_path);
    ASSERT_U64_EQ(dg_send(a, GUEST_RID, CID_A, GUEST_RID), DG_BYTES);         /* D8 */
    ASSERT_U64_EQ(hypercall_get_cid(w, CID_A), CID_A);                         /* CID 0 */
    ASSERT_U64_EQ(dg_send(b, GUEST_RID, VMCI_HOST_CONTEXT_ID, HOST_RID), DG_BYTES);
    ASSERT_U64_EQ(dg_send(w->host, HOST_RID, CID_B, GUEST_RID), DG_BYTES);
}

/* Queue pairs between A and the host or B, made and attached from either side. */
static void ft_check_queue_pairs(struct bare_world *w, struct vmci_kernel *a,
                                 struct vmci_kernel *b, bool a_refused)
{
    int expected = a_refused ? VMCI_ERROR_NO_ACCESS : VMCI_SUCCESS;
    struct vmci_qpair *qps[8] = { NULL };
    struct vmci_handle h[4] = { VMCI_INVALID_HANDLE, VMCI_INVALID_HANDLE, VMCI_INVALID_HANDLE,
                                VMCI_INVALID_HANDLE };
    ASSERT_U64_EQ(vmci_qpair_alloc(a, &h[0], QP_BYTES, QP_BYTES, VMCI_HOST_CONTEXT_ID, 0, NULL,
                                   &qps[0], NULL), expected);
    ASSERT_U64_EQ(vmci_qpair_alloc(w->host, &h[1], QP_BYTES, QP_BYTES, CID_A, 0, &w->trusted,
                                   &qps[1], NULL), expected);
    ASSERT_U64_EQ(vmci_qpair_alloc(a, &h[2], QP_BYTES, QP_BYTES, CID_B, 0, NULL, &qps[2], NULL),
                  expected);
    /* B creates for anyone (allowed: B is not in FT); A's attach is the refused step. */
    ASSERT_U64_EQ(vmci_qpair_alloc(b, &h[3], QP_BYTES, QP_BYTES, VMCI_INVALID_ID, 0, NULL,
                                   &qps[3], NULL), VMCI_SUCCESS);
    ASSERT_U64_EQ(vmci_qpair_alloc(a, &h[3], QP_BYTES, QP_BYTES, CID_B, 0, NULL, &qps[4], NULL),
                  expected);
    for (uint32_t index = 0; index < 8; index++) {
        if (qps[index] != NULL)
            ASSERT_U64_EQ(vmci_qpair_detach(qps[index], NULL), VMCI_SUCCESS);
    }
}

/* R208: in FT mode every datagram and queue pair alloc/attach between the VM and the host
 * or another VM is refused with NO_ACCESS, whichever side starts it; the VM still reaches
 * the hypervisor (CID 0) and itself, and the others still reach each other. Leaving FT
 * lifts the refusal. esxi-4.0 with unrestricted VMs, where guest-to-guest is allowed
 * (R197), so the VM-to-VM refusal is FT's own. */
static void test_R208_ft_refuses_traffic_with_vm_except_hypervisor(void)
{
    struct bare_world *w = bare_open("esxi-4.0");
    struct vmci_kernel *a = bare_vm(w, CID_A, true);
    struct vmci_kernel *b = bare_vm(w, CID_B, true);
    uint32_t host_got = 0, a_got = 0, b_got = 0;
    handle_make(w, w->host, HOST_RID, 0, &host_got);
    handle_make(w, a, GUEST_RID, 0, &a_got);
    handle_make(w, b, GUEST_RID, 0, &b_got);
    ft_check_datagrams(w, a, b, false);
    ft_check_queue_pairs(w, a, b, false);
    ASSERT_U64_EQ(vmci_hypervisor_vm_set_ft(w->hv, CID_A, true), VMCI_SUCCESS);
    ft_check_datagrams(w, a, b, true);
    ft_check_queue_pairs(w, a, b, true);
    ASSERT_U64_EQ(vmci_hypervisor_vm_set_ft(w->hv, CID_A, false), VMCI_SUCCESS);
    ft_check_datagrams(w, a, b, false);
    ft_check_queue_pairs(w, a, b, false);
    bare_run(w);
    /* Delivered (before FT, in FT, after): the host 2 + 1 + 2 (B's in FT), A 3 + 1 + 3 (its
     * own in FT), B 2 + 1 + 2 (the host's in FT). */
    ASSERT_U64_EQ(host_got, 2u + 1u + 2u);
    ASSERT_U64_EQ(a_got, 3u + 1u + 3u);
    ASSERT_U64_EQ(b_got, 2u + 1u + 2u);
    ASSERT_U64_EQ(vmci_hypervisor_vm_set_ft(w->hv, VMCI_HOST_CONTEXT_ID, true),
                  VMCI_ERROR_NOT_FOUND);
    ASSERT_U64_EQ(vmci_hypervisor_vm_set_ft(w->hv, CID_C, true), VMCI_ERROR_NOT_FOUND);
    bare_close(w);
}

/* R208: FT can be switched on while the VM is suspended (vmci/hypervisor.h) and holds
 * after the resume; the queue pairs the suspend detached are not restored by leaving it. */
static void test_R208_ft_set_while_suspended_holds_after_resume(void)
{
    struct bare_world *w = bare_open("esxi-6.5");
    struct vmci_kernel *a = bare_vm(w, CID_A, false);
    uint32_t host_got = 0, a_got = 0;
    handle_make(w, w->host, HOST_RID, 0, &host_got);
    handle_make(w, a, GUEST_RID, 0, &a_got);
    ASSERT_U64_EQ(vmci_hypervisor_vm_suspend(w->hv, CID_A), VMCI_SUCCESS);
    ASSERT_U64_EQ(vmci_hypervisor_vm_set_ft(w->hv, CID_A, true), VMCI_SUCCESS);
    uint32_t cid = 0;
    ASSERT_U64_EQ(vmci_hypervisor_vm_resume(w->hv, CID_A, &cid), VMCI_SUCCESS);
    ASSERT_U64_EQ(dg_send(w->host, HOST_RID, CID_A, GUEST_RID), VMCI_ERROR_NO_ACCESS);
    ASSERT_U64_EQ(dg_send(a, GUEST_RID, VMCI_HOST_CONTEXT_ID, HOST_RID), VMCI_ERROR_NO_ACCESS);
    ASSERT_U64_EQ(vmci_hypervisor_vm_set_ft(w->hv, CID_A, false), VMCI_SUCCESS);
    ASSERT_U64_EQ(dg_send(w->host, HOST_RID, CID_A, GUEST_RID), DG_BYTES);
    bare_run(w);
    ASSERT_U64_EQ(a_got, 1);
    ASSERT_U64_EQ(host_got, 0);
    bare_close(w);
}

/* ---- Socket level (vsock_fixture.h world) ------------------------------------------------ */

#define PORT_STREAM 5000u
#define PORT_DGRAM 7000u
static const char to_guest[] = "to-guest";     /* 9 bytes with the NUL */
static const char to_host[] = "to-host";       /* 8 bytes */

struct suspended_pair {
    struct fixture *f;
    int guest_fd;                       /* guest A's client */
    int host_fd;                        /* the host's accepted end */
    int listen_fd;                      /* the host's listener */
};

/* Guest A connects to a host listener; each side writes to the other and nobody reads;
 * then A is suspended (R205) and the engine runs until idle. */
static struct suspended_pair suspended_pair_make(void)
{
    struct suspended_pair s;
    s.f = fixture_create();
    s.listen_fd = connected_pair(s.f, &s.f->guest_a, &s.f->host, PORT_STREAM, &s.guest_fd,
                                 &s.host_fd);
    ASSERT_RETURNS(vs_send(&s.f->host, s.host_fd, to_guest, sizeof(to_guest), 0),
                   sizeof(to_guest));
    ASSERT_RETURNS(vs_send(&s.f->guest_a, s.guest_fd, to_host, sizeof(to_host), 0),
                   sizeof(to_host));
    run_idle(s.f);
    ASSERT_U64_EQ(vmci_hypervisor_vm_suspend(s.f->world->hypervisor, CID_A), VMCI_SUCCESS);
    run_idle(s.f);
    return s;
}

static int socket_error(struct vs_context *context, int fd)
{
    int error = -1;
    socklen_t length = sizeof(error);
    ASSERT_RETURNS(vs_getsockopt(context, fd, SOL_SOCKET, SO_ERROR, &error, &length), 0);
    return error;
}

/* A VM powered on in the fixture's world asking for `cid` (no vSockets stack: it only
 * holds the CID, R8). */
static void vm_take_cid(struct fixture *f, uint32_t cid)
{
    struct vmci_vm_config config = {
        .name = "taker", .requested_cid = cid, .hw_version = HW_VERSION, .domain = "",
        .owner = "user",
    };
    struct vmci_kernel *kernel = NULL;
    CU_ASSERT_FATAL(vmci_hypervisor_vm_power_on(f->world->hypervisor, &config, &kernel) ==
                    VMCI_SUCCESS);
    run_idle(f);
    ASSERT_U64_EQ(vmci_kernel_cid(kernel), cid);
}

/* R205, R171, R220, R204: the host end of a stream to a suspended guest loses its unread
 * bytes and reads EOF at once, send gives EPIPE, and no error is pending (no reset); the
 * socket is closed (TCP_CLOSE). A datagram or a new connection to the CID fails with
 * EINVAL (DST_UNREACHABLE, R63). */
static void test_R205_host_stream_to_suspended_guest_eof_then_epipe(void)
{
    struct suspended_pair s = suspended_pair_make();
    struct vs_context *h = &s.f->host;
    uint8_t buffer[32];
    ASSERT_RETURNS(vs_recv(h, s.host_fd, buffer, sizeof(buffer), 0), 0);
    ASSERT_RETURNS(vs_recv(h, s.host_fd, buffer, sizeof(buffer), 0), 0);
    ASSERT_FAILS(vs_send(h, s.host_fd, "x", 1, 0), EPIPE);
    ASSERT_U64_EQ(socket_error(h, s.host_fd), 0);
    ASSERT_U64_EQ(vs_socket_of(h, s.host_fd)->tcp, VSOCK_TCP_CLOSE);
    ASSERT_U64_EQ(vs_socket_of(h, s.host_fd)->peer_shutdown, VSOCK_SHUTDOWN_MASK);
    int dgram_fd = dgram_socket(h);
    struct sockaddr_vm to = vm_addr(CID_A, PORT_DGRAM);
    ASSERT_FAILS(vs_sendto(h, dgram_fd, "d", 1, 0, SA(to), sizeof(to)), EINVAL);
    int fd = stream_socket(h);
    to = vm_addr(CID_A, PORT_STREAM);
    ASSERT_FAILS(vs_connect(h, fd, SA(to), sizeof(to)), EINVAL);
    /* The guest end is untouched until the resume delivers QP_RESUMED (R206). */
    CU_ASSERT_FALSE(vs_socket_of(&s.f->guest_a, s.guest_fd)->done);
    ASSERT_U64_EQ(vs_socket_of(&s.f->guest_a, s.guest_fd)->tcp, VSOCK_TCP_ESTABLISHED);
    fixture_destroy(s.f);
}

/* R206, R171, R220: on QP_RESUMED the guest end of the stream keeps the bytes that were in
 * its consume queue: they are read, then EOF (repeatedly), and send gives EPIPE; no error
 * is pending. The socket stays ESTABLISHED while it has unread data (R171). */
static void test_R206_guest_stream_after_resume_reads_queued_then_eof_epipe(void)
{
    struct suspended_pair s = suspended_pair_make();
    struct vs_context *g = &s.f->guest_a;
    uint32_t cid = 0;
    ASSERT_U64_EQ(vmci_hypervisor_vm_resume(s.f->world->hypervisor, CID_A, &cid), VMCI_SUCCESS);
    ASSERT_U64_EQ(cid, CID_A);
    run_idle(s.f);
    struct vsock_sock *sock = vs_socket_of(g, s.guest_fd);
    CU_ASSERT(sock->done);
    ASSERT_U64_EQ(sock->peer_shutdown, VSOCK_SHUTDOWN_MASK);
    ASSERT_U64_EQ(sock->tcp, VSOCK_TCP_ESTABLISHED);
    ASSERT_POLL(g, s.guest_fd, POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM | POLLRDHUP);
    uint8_t buffer[32];
    ASSERT_RETURNS(vs_recv(g, s.guest_fd, buffer, sizeof(buffer), 0), sizeof(to_guest));
    CU_ASSERT_EQUAL(memcmp(buffer, to_guest, sizeof(to_guest)), 0);
    ASSERT_RETURNS(vs_recv(g, s.guest_fd, buffer, sizeof(buffer), 0), 0);
    ASSERT_RETURNS(vs_recv(g, s.guest_fd, buffer, sizeof(buffer), 0), 0);
    ASSERT_FAILS(vs_send(g, s.guest_fd, "x", 1, 0), EPIPE);
    ASSERT_U64_EQ(socket_error(g, s.guest_fd), 0);
    ASSERT_U64_EQ(vs_local_cid(g), CID_A);
    fixture_destroy(s.f);
}

/* R206: a guest stream with nothing unread ends at once (TCP_CLOSE, EOF); the guest's
 * datagram socket survives (a datagram sent after the resume arrives) and new connections
 * work both ways at once. */
static void test_R206_dgram_socket_survives_and_new_connections_work(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a, *h = &f->host;
    int guest_fd, host_fd;
    int listen_fd = connected_pair(f, g, h, PORT_STREAM, &guest_fd, &host_fd);
    int guest_dgram = dgram_bound(g, PORT_DGRAM);
    ASSERT_U64_EQ(vmci_hypervisor_vm_suspend(f->world->hypervisor, CID_A), VMCI_SUCCESS);
    uint32_t cid = 0;
    ASSERT_U64_EQ(vmci_hypervisor_vm_resume(f->world->hypervisor, CID_A, &cid), VMCI_SUCCESS);
    run_idle(f);
    ASSERT_U64_EQ(vs_socket_of(g, guest_fd)->tcp, VSOCK_TCP_CLOSE);
    uint8_t buffer[16];
    ASSERT_RETURNS(vs_recv(g, guest_fd, buffer, sizeof(buffer), 0), 0);
    int host_dgram = dgram_socket(h);
    struct sockaddr_vm to = vm_addr(CID_A, PORT_DGRAM);
    ASSERT_RETURNS(vs_sendto(h, host_dgram, "after", 5, 0, SA(to), sizeof(to)), 5);
    run_idle(f);
    struct sockaddr_vm from;
    socklen_t length = sizeof(from);
    ASSERT_RETURNS(vs_recvfrom(g, guest_dgram, buffer, sizeof(buffer), 0, SA(from),
                               &length), 5);
    ASSERT_U64_EQ(from.svm_cid, CID_HOST);
    int again = stream_socket(g);
    ASSERT_U64_EQ(plain_connect(f, g, again, CID_HOST, PORT_STREAM), 0);
    int child = vs_accept(h, listen_fd, NULL, NULL);
    CU_ASSERT(child >= VS_FD_FIRST);
    ASSERT_RETURNS(vs_send(g, again, "ok", 2, 0), 2);
    run_idle(f);
    ASSERT_RETURNS(vs_recv(h, child, buffer, sizeof(buffer), 0), 2);
    int guest_listen = listener(g, PORT_STREAM + 1, 4);
    int host_client = stream_socket(h);
    ASSERT_U64_EQ(plain_connect(f, h, host_client, CID_A, PORT_STREAM + 1), 0);
    CU_ASSERT(vs_accept(g, guest_listen, NULL, NULL) >= VS_FD_FIRST);
    fixture_destroy(f);
}

/* ---- Socket level: device reset (R34, R209, D4) and what the model discards ------------- */

#define DISCARDS_MAX 8u

/* Every `data_discarded` event, any layer (docs/sockets.md): reason and bytes. */
struct discard_log {
    uint32_t count;
    char reason[DISCARDS_MAX][32];
    uint32_t ctx[DISCARDS_MAX];
    uint64_t bytes[DISCARDS_MAX];
};

static int discard_log_emit(void *state, const struct sim_trace_event *event, char *message)
{
    (void)message;
    struct discard_log *log = state;
    if (strcmp(event->kind, "data_discarded") != 0 || log->count == DISCARDS_MAX)
        return 0;
    uint32_t index = log->count++;
    log->ctx[index] = event->ctx;
    for (uint32_t field = 0; field < event->field_count; field++) {
        const struct sim_trace_field *f = &event->fields[field];
        if (strcmp(f->name, "reason") == 0)
            snprintf(log->reason[index], sizeof(log->reason[index]), "%.*s",
                     (int)f->value.blob.size_bytes, (const char *)f->value.blob.data);
        else if (strcmp(f->name, "bytes") == 0)
            log->bytes[index] = f->type == SIM_FIELD_I64 ? (uint64_t)f->value.i64
                                                         : f->value.u64;
    }
    return 0;
}

static void discard_log_attach(struct fixture *f, struct discard_log *log)
{
    memset(log, 0, sizeof(*log));
    struct sim_trace_sink sink = { .name = "discards", .level = SIM_LAYER_DEVICE,
                                   .emit = discard_log_emit, .state = log };
    ASSERT_U64_EQ(sim_engine_sink_attach(f->world->engine, sink), 0);
}

static struct vmci_kernel *kernel_of(struct fixture *f, uint32_t cid)
{
    struct vs_kernel *kernel = vs_world_kernel(f->world, cid);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kernel);
    return kernel->kernel;
}

/* R209 (R34): the guest resets its own device. Its stream socket ends as after a peer
 * detach (R171): still ESTABLISHED with the unread bytes, which it reads, then EOF, and
 * send gives EPIPE (not EIO); no error is pending. The host end reads EOF at once and
 * loses the bytes the guest had sent (R171, traced as data_discarded peer_detach). */
static void test_R209_device_reset_ends_guest_stream_like_peer_detach(void)
{
    struct fixture *f = fixture_create();
    struct discard_log log;
    discard_log_attach(f, &log);
    struct vs_context *g = &f->guest_a, *h = &f->host;
    int guest_fd, host_fd;
    (void)connected_pair(f, g, h, PORT_STREAM, &guest_fd, &host_fd);
    ASSERT_RETURNS(vs_send(h, host_fd, to_guest, sizeof(to_guest), 0), sizeof(to_guest));
    ASSERT_RETURNS(vs_send(g, guest_fd, to_host, sizeof(to_host), 0), sizeof(to_host));
    run_idle(f);
    ASSERT_U64_EQ(vmci_kernel_reset_device(kernel_of(f, CID_A)), VMCI_SUCCESS);
    struct vsock_sock *sock = vs_socket_of(g, guest_fd);
    CU_ASSERT(sock->done);                      /* at once: the guest kernel reset it */
    ASSERT_U64_EQ(sock->peer_shutdown, VSOCK_SHUTDOWN_MASK);
    ASSERT_U64_EQ(sock->tcp, VSOCK_TCP_ESTABLISHED);
    run_idle(f);
    uint8_t buffer[32];
    ASSERT_RETURNS(vs_recv(g, guest_fd, buffer, sizeof(buffer), 0), sizeof(to_guest));
    CU_ASSERT_EQUAL(memcmp(buffer, to_guest, sizeof(to_guest)), 0);
    ASSERT_RETURNS(vs_recv(g, guest_fd, buffer, sizeof(buffer), 0), 0);
    ASSERT_FAILS(vs_send(g, guest_fd, "x", 1, 0), EPIPE);
    ASSERT_U64_EQ(socket_error(g, guest_fd), 0);
    ASSERT_RETURNS(vs_recv(h, host_fd, buffer, sizeof(buffer), 0), 0);
    ASSERT_FAILS(vs_send(h, host_fd, "x", 1, 0), EPIPE);
    ASSERT_U64_EQ(vs_socket_of(h, host_fd)->tcp, VSOCK_TCP_CLOSE);
    ASSERT_U64_EQ(log.count, 1);
    CU_ASSERT_STRING_EQUAL(log.reason[0], "peer_detach");
    ASSERT_U64_EQ(log.ctx[0], CID_HOST);
    ASSERT_U64_EQ(log.bytes[0], sizeof(to_host));
    fixture_destroy(f);
}

/* R209, D4: after the reset the driver loads again (a second reset is accepted only then),
 * the stack's control handle is back, and new connections and datagrams work both ways;
 * a guest stream with nothing unread ends in TCP_CLOSE at once. */
static void test_R209_D4_after_device_reset_new_traffic_works(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a, *h = &f->host;
    int guest_fd, host_fd;
    int listen_fd = connected_pair(f, g, h, PORT_STREAM, &guest_fd, &host_fd);
    int guest_dgram = dgram_bound(g, PORT_DGRAM);
    struct vmci_kernel *kernel = kernel_of(f, CID_A);
    ASSERT_U64_EQ(vmci_kernel_reset_device(kernel), VMCI_SUCCESS);
    ASSERT_U64_EQ(vmci_kernel_reset_device(kernel), VMCI_ERROR_UNAVAILABLE);    /* reloading */
    ASSERT_U64_EQ(vs_socket_of(g, guest_fd)->tcp, VSOCK_TCP_CLOSE);
    run_idle(f);
    CU_ASSERT(vmci_kernel_ready(kernel));
    ASSERT_U64_EQ(vmci_device_read(vmci_hypervisor_device(f->world->hypervisor, CID_A),
                                   VMCI_STATUS_ADDR), VMCI_STATUS_INT_ON);   /* bring-up ran */
    int host_dgram = dgram_socket(h);
    struct sockaddr_vm to = vm_addr(CID_A, PORT_DGRAM);
    ASSERT_RETURNS(vs_sendto(h, host_dgram, "after", 5, 0, SA(to), sizeof(to)), 5);
    run_idle(f);
    uint8_t buffer[16];
    ASSERT_RETURNS(vs_recv(g, guest_dgram, buffer, sizeof(buffer), 0), 5);
    int again = stream_socket(g);
    ASSERT_U64_EQ(plain_connect(f, g, again, CID_HOST, PORT_STREAM), 0);
    int child = vs_accept(h, listen_fd, NULL, NULL);
    CU_ASSERT(child >= VS_FD_FIRST);
    ASSERT_RETURNS(vs_send(g, again, "ok", 2, 0), 2);
    run_idle(f);
    ASSERT_RETURNS(vs_recv(h, child, buffer, sizeof(buffer), 0), 2);
    int guest_listen = listener(g, PORT_STREAM + 1, 4);
    int host_client = stream_socket(h);
    ASSERT_U64_EQ(plain_connect(f, h, host_client, CID_A, PORT_STREAM + 1), 0);
    CU_ASSERT(vs_accept(g, guest_listen, NULL, NULL) >= VS_FD_FIRST);
    ASSERT_U64_EQ(vmci_kernel_reset_device(kernel), VMCI_SUCCESS);              /* again */
    ASSERT_U64_EQ(vmci_kernel_reset_device(kernel_of(f, CID_HOST)), VMCI_ERROR_UNAVAILABLE);
    fixture_destroy(f);
}

/* A clean end is not a loss: the guest closes after the host has read everything, then
 * the host closes, and nothing is discarded (R171 applies only to unread bytes). A guest
 * that closes with unread bytes records them (closed_unread, R126); datagrams still queued
 * for a VM when it is suspended are recorded with their bytes (R205). */
static void test_R171_R126_R205_discards_are_traced_and_clean_closes_are_not(void)
{
    struct fixture *f = fixture_create();
    struct discard_log log;
    discard_log_attach(f, &log);
    struct vs_context *g = &f->guest_a, *h = &f->host;
    int guest_fd, host_fd;
    (void)connected_pair(f, g, h, PORT_STREAM, &guest_fd, &host_fd);
    ASSERT_RETURNS(vs_send(g, guest_fd, to_host, sizeof(to_host), 0), sizeof(to_host));
    run_idle(f);
    uint8_t buffer[32];
    ASSERT_RETURNS(vs_recv(h, host_fd, buffer, sizeof(buffer), 0), sizeof(to_host));
    ASSERT_RETURNS(vs_close(g, guest_fd), 0);
    run_idle(f);
    ASSERT_RETURNS(vs_close(h, host_fd), 0);
    ASSERT_U64_EQ(log.count, 0);                 /* a clean close loses nothing */
    (void)connected_pair(f, g, h, PORT_STREAM + 1, &guest_fd, &host_fd);
    ASSERT_RETURNS(vs_send(h, host_fd, to_guest, sizeof(to_guest), 0), sizeof(to_guest));
    run_idle(f);
    ASSERT_RETURNS(vs_close(g, guest_fd), 0);
    ASSERT_U64_EQ(log.count, 1);
    CU_ASSERT_STRING_EQUAL(log.reason[0], "closed_unread");
    ASSERT_U64_EQ(log.ctx[0], CID_A);
    ASSERT_U64_EQ(log.bytes[0], sizeof(to_guest));
    (void)dgram_bound(g, PORT_DGRAM);
    int host_dgram = dgram_socket(h);
    struct sockaddr_vm to = vm_addr(CID_A, PORT_DGRAM);
    ASSERT_RETURNS(vs_sendto(h, host_dgram, "lost", 4, 0, SA(to), sizeof(to)), 4);
    ASSERT_RETURNS(vs_sendto(h, host_dgram, "lost", 4, 0, SA(to), sizeof(to)), 4);
    ASSERT_U64_EQ(vmci_hypervisor_vm_suspend(f->world->hypervisor, CID_A), VMCI_SUCCESS);
    run_idle(f);
    ASSERT_U64_EQ(log.count, 2);
    CU_ASSERT_STRING_EQUAL(log.reason[1], "suspend");
    ASSERT_U64_EQ(log.ctx[1], CID_A);
    ASSERT_U64_EQ(log.bytes[1], 2 * (VMCI_DG_HEADERSIZE + 4));
    fixture_destroy(f);
}

/* R58, R34: a datagram refused by the guest's full device queue is traced as discarded
 * (reason queue_full, at the destination) while its sender gets ENOBUFS; the datagrams
 * still queued when the guest resets its device are traced with their count and bytes
 * (reason device_reset). */
static void test_R58_R34_device_queue_drops_are_traced(void)
{
    struct fixture *f = fixture_create();
    struct discard_log log;
    discard_log_attach(f, &log);
    struct vs_context *g = &f->guest_a, *h = &f->host;
    (void)dgram_bound(g, PORT_DGRAM);
    int host_dgram = dgram_socket(h);
    struct sockaddr_vm to = vm_addr(CID_A, PORT_DGRAM);
    enum { PAYLOAD_BYTES = 60000 };
    static uint8_t payload[PAYLOAD_BYTES];
    /* Nothing runs between the sends, so the guest reads none: 2 fit under 139264 (R58). */
    ASSERT_RETURNS(vs_sendto(h, host_dgram, payload, PAYLOAD_BYTES, 0, SA(to), sizeof(to)),
                   PAYLOAD_BYTES);
    ASSERT_RETURNS(vs_sendto(h, host_dgram, payload, PAYLOAD_BYTES, 0, SA(to), sizeof(to)),
                   PAYLOAD_BYTES);
    ASSERT_FAILS(vs_sendto(h, host_dgram, payload, PAYLOAD_BYTES, 0, SA(to), sizeof(to)),
                 ENOBUFS);
    ASSERT_U64_EQ(log.count, 1);
    CU_ASSERT_STRING_EQUAL(log.reason[0], "queue_full");
    ASSERT_U64_EQ(log.ctx[0], CID_A);
    ASSERT_U64_EQ(log.bytes[0], VMCI_DG_HEADERSIZE + PAYLOAD_BYTES);
    ASSERT_U64_EQ(vmci_kernel_reset_device(kernel_of(f, CID_A)), VMCI_SUCCESS);
    ASSERT_U64_EQ(log.count, 2);
    CU_ASSERT_STRING_EQUAL(log.reason[1], "device_reset");
    ASSERT_U64_EQ(log.ctx[1], CID_A);
    ASSERT_U64_EQ(log.bytes[1], 2 * (VMCI_DG_HEADERSIZE + PAYLOAD_BYTES));
    run_idle(f);
    ASSERT_U64_EQ(log.count, 2);                /* the reload drops nothing more */
    fixture_destroy(f);
}

/* R209 without D4: a raw CONTROL_RESET written behind the driver's back (a hostile or buggy
 * kernel) still ends the guest's streams as after a peer detach, but the driver does not
 * load again: interrupts stay off. */
static void test_R209_raw_control_reset_ends_streams_without_reload(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a, *h = &f->host;
    int guest_fd, host_fd;
    (void)connected_pair(f, g, h, PORT_STREAM, &guest_fd, &host_fd);
    struct vmci_device *device = vmci_hypervisor_device(f->world->hypervisor, CID_A);
    vmci_device_write(device, VMCI_CONTROL_ADDR, VMCI_CONTROL_RESET);
    CU_ASSERT(vs_socket_of(g, guest_fd)->done);
    ASSERT_U64_EQ(vs_socket_of(g, guest_fd)->tcp, VSOCK_TCP_CLOSE);
    run_idle(f);
    ASSERT_U64_EQ(vmci_device_read(device, VMCI_STATUS_ADDR), 0);
    ASSERT_FAILS(vs_send(g, guest_fd, "x", 1, 0), EPIPE);
    uint8_t buffer[8];
    ASSERT_RETURNS(vs_recv(h, host_fd, buffer, sizeof(buffer), 0), 0);
    fixture_destroy(f);
}

struct cid_probe {
    uint32_t cid;
};

static void cid_probe_body(struct vs_context *context, void *arg)
{
    (void)context;
    ((struct cid_probe *)arg)->cid = VMCISock_GetLocalCID();
}

/* Suspends A, lets a new VM take its CID and resumes A, which gets CID_A + 1 (R8). */
static void move_a_to_next_cid(struct fixture *f)
{
    ASSERT_U64_EQ(vmci_hypervisor_vm_suspend(f->world->hypervisor, CID_A), VMCI_SUCCESS);
    vm_take_cid(f, CID_A);
    uint32_t cid = 0;
    ASSERT_U64_EQ(vmci_hypervisor_vm_resume(f->world->hypervisor, CID_A, &cid), VMCI_SUCCESS);
    ASSERT_U64_EQ(cid, CID_A + 1);
    run_idle(f);
}

/* R210, R70, R154: after CTX_ID_UPDATE the guest stack reports the new CID (vs_local_cid,
 * VMCISock_GetLocalCID in a guest process); bind() to the old CID fails with
 * EADDRNOTAVAIL, to the new one succeeds; a new connection carries the new CID on both
 * ends. */
static void test_R210_guest_adopts_new_cid_and_old_cid_bind_fails(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    move_a_to_next_cid(f);
    ASSERT_U64_EQ(vs_local_cid(g), CID_A + 1);
    struct cid_probe probe = { 0 };
    CU_ASSERT_FATAL(vs_spawn(g, "probe", cid_probe_body, &probe, false) == 0);
    run_idle(f);
    ASSERT_U64_EQ(probe.cid, CID_A + 1);
    int fd = stream_socket(g);
    struct sockaddr_vm addr = vm_addr(CID_A, 9000);
    ASSERT_FAILS(vs_bind(g, fd, SA(addr), sizeof(addr)), EADDRNOTAVAIL);
    addr = vm_addr(CID_A + 1, 9000);
    ASSERT_RETURNS(vs_bind(g, fd, SA(addr), sizeof(addr)), 0);
    ASSERT_U64_EQ(name_of(g, fd, false).svm_cid, CID_A + 1);
    int dgram_fd = dgram_socket(g);
    addr = vm_addr(CID_A, 9001);
    ASSERT_FAILS(vs_bind(g, dgram_fd, SA(addr), sizeof(addr)), EADDRNOTAVAIL);
    int listen_fd = listener(&f->host, 9002, 4);
    int client = stream_socket(g);
    ASSERT_U64_EQ(plain_connect(f, g, client, CID_HOST, 9002), 0);
    ASSERT_U64_EQ(name_of(g, client, false).svm_cid, CID_A + 1);               /* R154 */
    int child = vs_accept(&f->host, listen_fd, NULL, NULL);
    CU_ASSERT_FATAL(child >= VS_FD_FIRST);
    ASSERT_U64_EQ(name_of(&f->host, child, true).svm_cid, CID_A + 1);
    fixture_destroy(f);
}

/* R207, R154: after a CID change a listener bound explicitly to the old CID no longer
 * matches packets for the new one (the host's connect is reset, R150), while a listener
 * bound to ANY keeps working and its child reports the new CID. */
static void test_R207_old_cid_listener_no_longer_matches_any_keeps_working(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a, *h = &f->host;
    int explicit_fd = stream_socket(g);
    struct sockaddr_vm addr = vm_addr(CID_A, 6001);
    ASSERT_RETURNS(vs_bind(g, explicit_fd, SA(addr), sizeof(addr)), 0);
    ASSERT_RETURNS(vs_listen(g, explicit_fd, 4), 0);
    int any_fd = listener(g, 6002, 4);
    move_a_to_next_cid(f);
    int client = stream_socket(h);
    ASSERT_U64_EQ(plain_connect(f, h, client, CID_A + 1, 6001), ECONNRESET);
    client = stream_socket(h);
    ASSERT_U64_EQ(plain_connect(f, h, client, CID_A + 1, 6002), 0);
    int child = vs_accept(g, any_fd, NULL, NULL);
    CU_ASSERT_FATAL(child >= VS_FD_FIRST);
    ASSERT_U64_EQ(name_of(g, child, false).svm_cid, CID_A + 1);                /* R154 */
    ASSERT_U64_EQ(name_of(g, child, false).svm_port, 6002);
    fixture_destroy(f);
}

/* R207, R154: a listener bound to ANY that has already accepted a connection (so a packet
 * has set its local CID, R154) keeps working after the CID change: the refresh of R154
 * needs the socket to be found first. */
static void test_R207_used_any_listener_keeps_working_after_cid_change(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a, *h = &f->host;
    int any_fd = listener(g, 6003, 4);
    int client = stream_socket(h);
    ASSERT_U64_EQ(plain_connect(f, h, client, CID_A, 6003), 0);
    CU_ASSERT(vs_accept(g, any_fd, NULL, NULL) >= VS_FD_FIRST);
    move_a_to_next_cid(f);
    client = stream_socket(h);
    ASSERT_U64_EQ(plain_connect(f, h, client, CID_A + 1, 6003), 0);
    int child = vs_accept(g, any_fd, NULL, NULL);
    CU_ASSERT_FATAL(child >= VS_FD_FIRST);
    ASSERT_U64_EQ(name_of(g, child, false).svm_cid, CID_A + 1);
    fixture_destroy(f);
}

/* R208, R63: while A is in FT mode, connect() and sendto() between A and the host fail with
 * EPERM on either side; leaving FT lets a new connection through. */
static void test_R208_ft_connect_and_sendto_fail_with_eperm(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a, *h = &f->host;
    int host_listen = listener(h, 8000, 4);
    int guest_listen = listener(g, 8001, 4);
    ASSERT_U64_EQ(vmci_hypervisor_vm_set_ft(f->world->hypervisor, CID_A, true), VMCI_SUCCESS);
    int fd = stream_socket(g);
    struct sockaddr_vm to = vm_addr(CID_HOST, 8000);
    ASSERT_FAILS(vs_connect(g, fd, SA(to), sizeof(to)), EPERM);
    fd = stream_socket(h);
    to = vm_addr(CID_A, 8001);
    ASSERT_FAILS(vs_connect(h, fd, SA(to), sizeof(to)), EPERM);
    int dgram_fd = dgram_socket(g);
    to = vm_addr(CID_HOST, 8002);
    ASSERT_FAILS(vs_sendto(g, dgram_fd, "d", 1, 0, SA(to), sizeof(to)), EPERM);
    dgram_fd = dgram_socket(h);
    to = vm_addr(CID_A, 8002);
    ASSERT_FAILS(vs_sendto(h, dgram_fd, "d", 1, 0, SA(to), sizeof(to)), EPERM);
    fd = stream_socket(&f->guest_b);                            /* B is not concerned */
    ASSERT_U64_EQ(plain_connect(f, &f->guest_b, fd, CID_HOST, 8000), 0);
    CU_ASSERT(vs_accept(h, host_listen, NULL, NULL) >= VS_FD_FIRST);
    ASSERT_U64_EQ(vmci_hypervisor_vm_set_ft(f->world->hypervisor, CID_A, false), VMCI_SUCCESS);
    fd = stream_socket(g);
    ASSERT_U64_EQ(plain_connect(f, g, fd, CID_HOST, 8000), 0);
    fd = stream_socket(h);
    ASSERT_U64_EQ(plain_connect(f, h, fd, CID_A, 8001), 0);
    CU_ASSERT(vs_accept(g, guest_listen, NULL, NULL) >= VS_FD_FIRST);
    fixture_destroy(f);
}

/* ---- Lua level: what a frozen guest does (sim/lua/lifecycle.c) --------------------------- */

/* Runs `source` and asserts that it passed: no failed sim.expect, no error. Each scenario
 * ends with sim.expect on a flag its last step sets, so a step that never ran fails. */
static void assert_lua_passes(const char *source)
{
    struct simlua_outcome outcome;
    test_run_lua_source(source, &outcome);
    ASSERT_U64_EQ(outcome.failure_count, 0);
    ASSERT_U64_EQ(outcome.exit_code, SIMLUA_EXIT_PASS);
    CU_ASSERT(outcome.world_created);
}

/* Simulator addition (docs/lifecycle.md, freeze/thaw): a frozen guest keeps its VMCI
 * context and queue pairs: the host's stream send and datagram to it succeed (no detach,
 * no DST_UNREACHABLE), the guest's sleep due meanwhile ends at the thaw, and then it reads
 * both and answers on the same connection. */
static const char lua_freeze_source[] =
    "local sim = require('vmcisim')\n"
    "local w = sim.world{}\n"
    "local host = w:host()\n"
    "local guest = w:vm{ name = 'g', vmx = { ['vmci0.id'] = '3000' } }\n"
    "local server_done, client_done = false, false\n"
    "host:spawn('server', function(p)\n"
    "  local l = assert(p:socket('stream'))\n"
    "  assert(l:bind(sim.CID_ANY, 5000)); assert(l:listen(4))\n"
    "  local c = assert(l:accept())\n"
    "  p:sleep(sim.ms(2) - w.now)\n"
    "  sim.expect(guest.state == 'frozen', 'state: ' .. guest.state)\n"
    "  sim.expect(c:send('while-frozen') == 12, 'send to a frozen guest')\n"
    "  local d = assert(p:socket('dgram'))\n"
    "  sim.expect(d:sendto('dg', 3000, 7000) == 2, 'datagram to a frozen guest')\n"
    "  local reply = c:recv(100)\n"
    "  sim.expect(reply == 'back', 'reply: ' .. tostring(reply))\n"
    "  sim.expect(w.now >= sim.ms(4), 'reply after the thaw: ' .. w.now)\n"
    "  server_done = true\n"
    "end)\n"
    "guest:spawn('client', function(p)\n"
    "  local d = assert(p:socket('dgram')); assert(d:bind(sim.CID_ANY, 7000))\n"
    "  local s = assert(p:socket('stream')); assert(s:connect(sim.CID_HOST, 5000))\n"
    "  p:sleep(sim.ms(3) - w.now)\n"
    "  sim.expect(w.now == sim.ms(4), 'the sleep due at 3 ms ends at the thaw: ' .. w.now)\n"
    "  sim.expect(s:recv(100) == 'while-frozen', 'stream data kept')\n"
    "  sim.expect(d:recvfrom(100) == 'dg', 'datagram queued while frozen')\n"
    "  assert(s:send('back') == 4)\n"
    "  client_done = true\n"
    "end)\n"
    "w:at(sim.ms(1), function() guest:freeze() end)\n"
    "w:at(sim.ms(4), function() guest:thaw() end)\n"
    "local result = w:run()\n"
    "sim.expect(result.stopped == 'idle', 'stopped: ' .. result.stopped)\n"
    "sim.expect(server_done and client_done, 'both processes ran to their end')\n";

static void test_freeze_keeps_vmci_state_and_thaw_catches_up(void)
{
    assert_lua_passes(lua_freeze_source);
}

/* sim/lua/lifecycle.c header and docs/lifecycle.md: vm.state and vm.fault_tolerant follow
 * the calls, and a call that does not apply to the VM's state is a Lua error. R208: the
 * ft(true) of a running VM also drops its connections (suspend + resume), ft(false)
 * lifts the refusal. */
static const char lua_states_source[] =
    "local sim = require('vmcisim')\n"
    "local w = sim.world{}\n"
    "local g = w:vm{ name = 'g', vmx = { ['vmci0.id'] = '3000' } }\n"
    "local steps = 0\n"
    "local function fails(f, ...) return not pcall(f, ...) end\n"
    "w:at(sim.ms(1), function()\n"
    "  sim.expect(g.state == 'powered_on' and g.fault_tolerant == false, 'initial')\n"
    "  sim.expect(fails(g.resume, g), 'resume of a running VM')\n"
    "  sim.expect(fails(g.thaw, g), 'thaw of a running VM')\n"
    "  sim.expect(fails(g.ft, g, false), 'ft(false) when not in FT')\n"
    "  g:suspend(); sim.expect(g.state == 'suspended', 'suspended: ' .. g.state)\n"
    "  sim.expect(fails(g.suspend, g), 'suspend twice')\n"
    "  sim.expect(fails(g.freeze, g), 'freeze while suspended')\n"
    "  sim.expect(fails(g.vmotion, g), 'vmotion while suspended')\n"
    "  g:resume(); sim.expect(g.state == 'powered_on', 'resumed: ' .. g.state)\n"
    "  g:freeze(); sim.expect(g.state == 'frozen', 'frozen: ' .. g.state)\n"
    "  sim.expect(fails(g.suspend, g), 'suspend while frozen')\n"
    "  g:thaw(); g:vmotion(); sim.expect(g.cid == 3000, 'vmotion keeps the CID')\n"
    "  g:ft(true); sim.expect(g.fault_tolerant == true, 'ft on')\n"
    "  sim.expect(fails(g.ft, g, true), 'ft(true) twice')\n"
    "  g:ft(false); sim.expect(g.fault_tolerant == false, 'ft off')\n"
    "  g:power_off(); sim.expect(g.state == 'powered_off', 'off: ' .. g.state)\n"
    "  sim.expect(fails(g.resume, g), 'resume when off')\n"
    "  steps = steps + 1\n"
    "end)\n"
    "w:run()\n"
    "sim.expect(steps == 1, 'the checks ran')\n";

static void test_lifecycle_calls_follow_vm_state(void)
{
    assert_lua_passes(lua_states_source);
}

/* R195, R207, R208: vMotion and fault tolerance exist only in ESX/ESXi profiles. Under
 * every other product vm:vmotion(), vm:ft(true) and vm:ft(false) are scenario errors that
 * name the product, and change nothing (state, CID, FT flag); suspend and resume exist
 * everywhere. Under the ESX/ESXi products all three work. */
static const char lua_esx_only_format[] =
    "local sim = require('vmcisim')\n"
    "local product, esx = '%s', %s\n"
    "local w = sim.world{ product = product }\n"
    "local g = w:vm{ name = 'g' }\n"
    "local ran = false\n"
    "local function refused(what, pattern, f, ...)\n"
    "  local ok, err = pcall(f, ...)\n"
    "  sim.expect(not ok and tostring(err):find(pattern, 1, true) ~= nil,\n"
    "             what .. ' under ' .. product .. ': ' .. tostring(err))\n"
    "end\n"
    "w:at(sim.ms(1), function()\n"
    "  local cid = g.cid\n"
    "  if esx then\n"
    "    g:vmotion(); g:ft(true)\n"
    "    sim.expect(g.fault_tolerant == true, 'ft on under ' .. product)\n"
    "    g:ft(false)\n"
    "  else\n"
    "    refused('vmotion', 'vm:vmotion: ' .. product .. ' has no vMotion', g.vmotion, g)\n"
    "    refused('ft(true)', 'vm:ft: ' .. product .. ' has no fault tolerance', g.ft, g, true)\n"
    "    refused('ft(false)', 'vm:ft: ' .. product .. ' has no fault tolerance', g.ft, g, false)\n"
    "  end\n"
    "  sim.expect(g.state == 'powered_on' and g.fault_tolerant == false and g.cid == cid,\n"
    "             'unchanged under ' .. product)\n"
    "  g:suspend(); g:resume()\n"
    "  sim.expect(g.state == 'powered_on', 'suspend and resume under ' .. product)\n"
    "  ran = true\n"
    "end)\n"
    "w:run()\n"
    "sim.expect(ran, 'the checks ran under ' .. product)\n";

static void test_R195_R207_R208_vmotion_and_ft_only_on_esx_profiles(void)
{
    static const struct { const char *product; bool esx; } products[] = {
        { "esxi-4.0", true }, { "esxi-5.0", true }, { "esxi-6.5", true },
        { "workstation-6.5", false }, { "workstation-8", false }, { "workstation-9", false },
        { "server-2.0", false }, { "player-3", false }, { "fusion-5", false },
    };
    for (size_t index = 0; index < sizeof(products) / sizeof(products[0]); index++) {
        char source[sizeof(lua_esx_only_format) + 64];
        int used = snprintf(source, sizeof(source), lua_esx_only_format,
                            products[index].product, products[index].esx ? "true" : "false");
        CU_ASSERT_FATAL(used > 0 && (size_t)used < sizeof(source));
        assert_lua_passes(source);
    }
}

/* ---- Lua level: no guest code before the resume's interrupt (docs/lifecycle.md) ----------- */

/* The trace events of a run, in order (time, context, layer, kind). */
struct trace_log {
    uint32_t count;
    bool overflowed;
    uint64_t time_ns[TRACE_LOG_MAX];
    uint32_t ctx[TRACE_LOG_MAX];
    enum sim_layer layer[TRACE_LOG_MAX];
    char kind[TRACE_LOG_MAX][KIND_BYTES_MAX];
};

static int trace_log_emit(void *state, const struct sim_trace_event *event, char *message)
{
    (void)message;
    struct trace_log *log = state;
    if (log->count == TRACE_LOG_MAX) {
        log->overflowed = true;
        return SIM_OK;
    }
    log->time_ns[log->count] = event->time_ns;
    log->ctx[log->count] = event->ctx;
    log->layer[log->count] = event->layer;
    snprintf(log->kind[log->count], KIND_BYTES_MAX, "%s", event->kind);
    log->count++;
    return SIM_OK;
}

/* test_run_lua_source with every trace event recorded in *log; asserts that it passed. */
static void assert_lua_passes_traced(const char *source, struct trace_log *log)
{
    char path[] = "/tmp/vmcisim-lifecycle-test-XXXXXX.lua";
    int descriptor = mkstemps(path, 4);
    CU_ASSERT_FATAL(descriptor >= 0);
    size_t length = strlen(source);
    CU_ASSERT_FATAL(write(descriptor, source, length) == (ssize_t)length);
    close(descriptor);
    struct sim_trace_sink sink = {
        .name = "lifecycle_test", .level = SIM_LAYER_DEVICE, .emit = trace_log_emit,
        .state = log,
    };
    struct simlua_options options = {
        .scenario_path = path, .seed = 1, .until_ns = SIM_TIME_NEVER, .quiet = true,
        .sinks = &sink, .sink_count = 1,
    };
    struct simlua_runtime *runtime = simlua_create(&options);
    CU_ASSERT_FATAL(runtime != NULL);
    struct simlua_outcome outcome;
    simlua_run(runtime, &outcome);
    simlua_destroy(runtime);
    unlink(path);
    ASSERT_U64_EQ(outcome.failure_count, 0);
    ASSERT_U64_EQ(outcome.exit_code, SIMLUA_EXIT_PASS);
    CU_ASSERT(!log->overflowed);
}

/* The index of the first event from `from` on of `kind` with context `ctx`, or log->count. */
static uint32_t trace_find(const struct trace_log *log, uint32_t from, const char *kind,
                           uint32_t ctx)
{
    uint32_t index = from;
    while (index < log->count && (log->ctx[index] != ctx || strcmp(log->kind[index], kind) != 0))
        index++;
    return index;
}

/* In the trace: after the api event `resumed_kind` of the guest `cid`, the guest's next
 * event of any kind (but the scenario's vm_* calls) is its device interrupt, at
 * interrupt_at_ns, and its first process event (proc_resume) after that comes after the
 * transport's qp_resumed. */
static void assert_interrupt_first(const struct trace_log *log, const char *resumed_kind,
                                   uint32_t cid, uint64_t interrupt_at_ns)
{
    uint32_t resumed = trace_find(log, 0, resumed_kind, cid);
    CU_ASSERT_FATAL(resumed < log->count);
    uint32_t next = resumed + 1;                    /* the scenario's vm_* calls are not */
    while (next < log->count &&                     /* the guest's: skip them */
           (log->ctx[next] != cid || strncmp(log->kind[next], "vm_", 3) == 0))
        next++;
    CU_ASSERT_FATAL(next < log->count);
    ASSERT_STR_CONTAINS(log->kind[next], "interrupt");
    ASSERT_U64_EQ(log->layer[next], SIM_LAYER_DEVICE);
    ASSERT_U64_EQ(log->time_ns[next], interrupt_at_ns);
    uint32_t qp_resumed = trace_find(log, resumed, "qp_resumed", cid);
    uint32_t woke = trace_find(log, resumed, "proc_resume", cid);
    CU_ASSERT(qp_resumed < woke);
    CU_ASSERT(woke < log->count);                   /* a guest process did run after it */
}

/* R206, R207 (reproduces a bug: a guest timer due between a vMotion and the interrupt it
 * raised ran first, and its send on a stream whose queue pair was gone gave EIO): guest
 * processes whose sleeps end 1 ns, 1 us, 1999 ns and exactly interrupt_ns (2 us) after
 * the vMotion all run at the interrupt, after it: send gives EPIPE, then recv gives "".
 * The trace shows no guest event between the vMotion and the guest's interrupt. */
static const char lua_vmotion_interrupt_first_source[] =
    "local sim = require('vmcisim')\n"
    "local w = sim.world{ product = 'esxi-6.5' }\n"
    "local host = w:host()\n"
    "local guest = w:vm{ name = 'g', vmx = { ['vmci0.id'] = '3100' } }\n"
    "local AT, INTERRUPT_NS = sim.ms(1), 2000\n"
    "local delays = { 1, 1000, 1999, 2000 }\n"
    "local woke = 0\n"
    "host:spawn('server', function(p)\n"
    "  local l = assert(p:socket('stream'))\n"
    "  assert(l:bind(sim.CID_ANY, 5000)); assert(l:listen(8))\n"
    "  local held = {}\n"
    "  for i = 1, #delays do held[i] = assert(l:accept()) end\n"
    "  p:sleep(sim.ms(2) - w.now)\n"
    "end)\n"
    "for _, delay in ipairs(delays) do\n"
    "  guest:spawn('client', function(p)\n"
    "    local s = assert(p:socket('stream'))\n"
    "    assert(s:connect(sim.CID_HOST, 5000))\n"
    "    p:sleep(AT + delay - w.now)\n"
    "    sim.expect(w.now == AT + INTERRUPT_NS, delay .. ': woke at ' .. w.now)\n"
    "    local ok, name = s:send('x')\n"
    "    sim.expect(ok == nil and name == 'EPIPE', delay .. ': send: ' .. tostring(name))\n"
    "    sim.expect(s:recv(10) == '', delay .. ': end of stream')\n"
    "    woke = woke + 1\n"
    "  end)\n"
    "end\n"
    "w:at(AT, function() guest:vmotion() end)\n"
    "w:run()\n"
    "sim.expect(woke == #delays, 'every client ran: ' .. woke)\n";

static void test_R206_R207_no_guest_code_between_vmotion_and_its_interrupt(void)
{
    static struct trace_log log;
    memset(&log, 0, sizeof(log));
    assert_lua_passes_traced(lua_vmotion_interrupt_first_source, &log);
    assert_interrupt_first(&log, "vm_vmotion", 3100, 1000000 + 2000);
}

/* R206, R210 with the suspend and the resume apart, the CID changed meanwhile: a sleep
 * that ended while the VM was suspended and one that ends 1 us after the resume both run
 * at the resume's interrupt, after it, and already see the new CID; their sends give
 * EPIPE. */
static const char lua_resume_interrupt_first_source[] =
    "local sim = require('vmcisim')\n"
    "local w = sim.world{}\n"
    "local host = w:host()\n"
    "local a = w:vm{ name = 'a', vmx = { ['vmci0.id'] = '4000' } }\n"
    "local SUSPEND_AT, RESUME_AT, INTERRUPT_NS = sim.ms(1), sim.ms(3), 2000\n"
    "local delays = { -sim.us(500), 1000 }\n"
    "local woke = 0\n"
    "host:spawn('server', function(p)\n"
    "  local l = assert(p:socket('stream'))\n"
    "  assert(l:bind(sim.CID_ANY, 5000)); assert(l:listen(8))\n"
    "  local held = {}\n"
    "  for i = 1, #delays do held[i] = assert(l:accept()) end\n"
    "  p:sleep(sim.ms(5) - w.now)\n"
    "end)\n"
    "for _, delay in ipairs(delays) do\n"
    "  a:spawn('client', function(p)\n"
    "    local s = assert(p:socket('stream'))\n"
    "    assert(s:connect(sim.CID_HOST, 5000))\n"
    "    p:sleep(RESUME_AT + delay - w.now)\n"
    "    sim.expect(w.now == RESUME_AT + INTERRUPT_NS, delay .. ': woke at ' .. w.now)\n"
    "    sim.expect(p:local_cid() == 4001, delay .. ': CID ' .. p:local_cid())\n"
    "    local ok, name = s:send('x')\n"
    "    sim.expect(ok == nil and name == 'EPIPE', delay .. ': send: ' .. tostring(name))\n"
    "    woke = woke + 1\n"
    "  end)\n"
    "end\n"
    "w:run{ until_ns = SUSPEND_AT }\n"
    "a:suspend()\n"
    "w:run{ until_ns = sim.ms(2) }\n"
    "local b = w:vm{ name = 'b', vmx = { ['vmci0.id'] = '4000' } }\n"
    "w:run{ until_ns = RESUME_AT }\n"
    "a:resume()\n"
    "sim.expect(a.cid == 4001, 'new CID: ' .. a.cid)\n"
    "w:run()\n"
    "sim.expect(woke == #delays and b.cid == 4000, 'every client ran: ' .. woke)\n";

static void test_R206_R210_no_guest_code_between_resume_and_its_interrupt(void)
{
    static struct trace_log log;
    memset(&log, 0, sizeof(log));
    assert_lua_passes_traced(lua_resume_interrupt_first_source, &log);
    assert_interrupt_first(&log, "vm_resume", 4001, 3000000 + 2000);
}

/* A guest frozen after a vMotion but before the interrupt it raised, then thawed: at the
 * thaw it takes that interrupt first, then what came due meanwhile runs (send EPIPE,
 * never EIO), even a guest process that the host woke (it joined a host process that
 * ended) before the interrupt was due: its resume was parked before the interrupt. */
static const char lua_freeze_before_interrupt_source[] =
    "local sim = require('vmcisim')\n"
    "local w = sim.world{ product = 'esxi-6.5' }\n"
    "local host = w:host()\n"
    "local guest = w:vm{ name = 'g', vmx = { ['vmci0.id'] = '3100' } }\n"
    "local AT, THAW_AT = sim.ms(1), sim.ms(1) + sim.us(5)\n"
    "local woke = false\n"
    "host:spawn('server', function(p)\n"
    "  local l = assert(p:socket('stream'))\n"
    "  assert(l:bind(sim.CID_ANY, 5000)); assert(l:listen(1))\n"
    "  local held = assert(l:accept())\n"
    "  p:sleep(sim.ms(2) - w.now)\n"
    "end)\n"
    "local waker = host:spawn('waker', function(p) p:sleep(AT + 1000 - w.now) end)\n"
    "guest:spawn('client', function(p)\n"
    "  local s = assert(p:socket('stream'))\n"
    "  assert(s:connect(sim.CID_HOST, 5000))\n"
    "  assert(p:join(waker))\n"
    "  sim.expect(w.now == THAW_AT, 'woke at the thaw: ' .. w.now)\n"
    "  local ok, name = s:send('x')\n"
    "  sim.expect(ok == nil and name == 'EPIPE', 'send: ' .. tostring(name))\n"
    "  woke = true\n"
    "end)\n"
    "w:at(AT, function() guest:vmotion() end)\n"
    "w:at(AT + 500, function() guest:freeze() end)\n"
    "w:at(THAW_AT, function() guest:thaw() end)\n"
    "w:run()\n"
    "sim.expect(woke, 'the client ran')\n";

static void test_R206_freeze_before_the_resume_interrupt_keeps_it_first(void)
{
    static struct trace_log log;
    memset(&log, 0, sizeof(log));
    assert_lua_passes_traced(lua_freeze_before_interrupt_source, &log);
    assert_interrupt_first(&log, "vm_vmotion", 3100, 1000000 + 5000);
}

/* R74, R210, D4: a device reset right after a resume to another CID, before the guest took
 * the resume's interrupt, discards the queued CTX_ID_UPDATE; the reloading driver asks
 * for its CID, so the guest still goes on with the new one (p:local_cid(), and the
 * host sees a new connection come from it). */
static const char lua_reset_after_resume_source[] =
    "local sim = require('vmcisim')\n"
    "local w = sim.world{}\n"
    "local host = w:host()\n"
    "local a = w:vm{ name = 'a', vmx = { ['vmci0.id'] = '4000' } }\n"
    "local done = {}\n"
    "host:spawn('server', function(p)\n"
    "  local l = assert(p:socket('stream'))\n"
    "  assert(l:bind(sim.CID_ANY, 5000)); assert(l:listen(1))\n"
    "  local c, cid = assert(l:accept())\n"
    "  sim.expect(cid == 4001, 'the connection comes from ' .. tostring(cid))\n"
    "  done.host = true\n"
    "end)\n"
    "a:spawn('client', function(p)\n"
    "  p:sleep(sim.ms(5) - w.now)\n"
    "  sim.expect(p:local_cid() == 4001, 'local CID ' .. p:local_cid())\n"
    "  local s = assert(p:socket('stream'))\n"
    "  assert(s:connect(sim.CID_HOST, 5000))\n"
    "  done.client = true\n"
    "end)\n"
    "w:run{ until_ns = sim.ms(1) }\n"
    "a:suspend()\n"
    "w:run{ until_ns = sim.ms(2) }\n"
    "local b = w:vm{ name = 'b', vmx = { ['vmci0.id'] = '4000' } }\n"
    "w:run{ until_ns = sim.ms(3) }\n"
    "a:resume()\n"
    "a:reset_device()\n"
    "w:run()\n"
    "sim.expect(done.host and done.client and b.cid == 4000, 'both ran')\n";

static void test_R210_D4_reset_before_the_resume_interrupt_keeps_the_new_cid(void)
{
    assert_lua_passes(lua_reset_after_resume_source);
}

/* ---- Registration -------------------------------------------------------------------------- */

static const struct test_entry tests[] = {
    TEST_ENTRY(test_R205_suspend_detaches_queue_pairs_and_removes_context),
    TEST_ENTRY(test_R205_datagrams_to_suspended_cid_unreachable_and_queued_lost),
    TEST_ENTRY(test_R205_datagram_out_of_a_suspended_vm_refused),
    TEST_ENTRY(test_R90_R205_host_queue_pair_ops_around_suspend),
    TEST_ENTRY(test_R206_detached_guest_endpoint_reads_its_consume_queue),
    TEST_ENTRY(test_R206_resume_keeps_free_cid_and_sends_only_qp_resumed),
    TEST_ENTRY(test_R206_R70_resume_to_taken_cid_sends_id_update_then_qp_resumed),
    TEST_ENTRY(test_R204_power_off_of_suspended_vm_frees_context_and_cid),
    TEST_ENTRY(test_R208_ft_refuses_traffic_with_vm_except_hypervisor),
    TEST_ENTRY(test_R208_ft_set_while_suspended_holds_after_resume),
    TEST_ENTRY(test_R205_host_stream_to_suspended_guest_eof_then_epipe),
    TEST_ENTRY(test_R206_guest_stream_after_resume_reads_queued_then_eof_epipe),
    TEST_ENTRY(test_R206_dgram_socket_survives_and_new_connections_work),
    TEST_ENTRY(test_R209_device_reset_ends_guest_stream_like_peer_detach),
    TEST_ENTRY(test_R209_D4_after_device_reset_new_traffic_works),
    TEST_ENTRY(test_R171_R126_R205_discards_are_traced_and_clean_closes_are_not),
    TEST_ENTRY(test_R58_R34_device_queue_drops_are_traced),
    TEST_ENTRY(test_R209_raw_control_reset_ends_streams_without_reload),
    TEST_ENTRY(test_R210_guest_adopts_new_cid_and_old_cid_bind_fails),
    TEST_ENTRY(test_R207_old_cid_listener_no_longer_matches_any_keeps_working),
    TEST_ENTRY(test_R207_used_any_listener_keeps_working_after_cid_change),
    TEST_ENTRY(test_R208_ft_connect_and_sendto_fail_with_eperm),
    TEST_ENTRY(test_freeze_keeps_vmci_state_and_thaw_catches_up),
    TEST_ENTRY(test_lifecycle_calls_follow_vm_state),
    TEST_ENTRY(test_R195_R207_R208_vmotion_and_ft_only_on_esx_profiles),
    TEST_ENTRY(test_R206_R207_no_guest_code_between_vmotion_and_its_interrupt),
    TEST_ENTRY(test_R206_R210_no_guest_code_between_resume_and_its_interrupt),
    TEST_ENTRY(test_R206_freeze_before_the_resume_interrupt_keeps_it_first),
    TEST_ENTRY(test_R210_D4_reset_before_the_resume_interrupt_keeps_the_new_cid),
};

CU_ErrorCode lifecycle_suite_add(void)
{
    return test_suite_register("lifecycle", tests, sizeof(tests) / sizeof(tests[0]));
}
