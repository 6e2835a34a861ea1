/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/lookups_test.c: the indexed tables behind per-operation lookups (issue 10):
 * sim/engine/index.[ch] itself (insert, find, remove, growth, the bound, order within a
 * key, the free-slot heap), the broker's queue pairs by handle, the kernel's event
 * subscriptions (dispatch order and handle filters) and the vSockets stack's sockets by
 * connection and by port, each compared with the walk of the whole table it replaced.
 *
 * The reference walks below are the code the indexes replaced, kept here so that "the
 * first match of the index is the first match of the walk" is checked on many shapes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "sim/engine/engine.h"
#include "sim/engine/error.h"
#include "sim/engine/index.h"
#include "sim/engine/rng.h"
#include "suites.h"
#include "test_support.h"
#include "vmci/hypervisor.h"
#include "vmci/vmci.h"
#include "vmci/vmci_int.h"
#include "vsock/core.h"
#include "vsock/vs_world.h"

#define NODES 5000u
#define SOCKETS 300u
#define CID_A 100u
#define CALLS_MAX 16u

struct item {
    struct sim_index_node node;
    uint32_t value;
};

static struct item *item_of(struct sim_index_node *node)
{
    return (struct item *)((char *)node - offsetof(struct item, node));
}

/* ---- sim_index ------------------------------------------------------------------------- */

static void test_index_insert_find_remove_across_growth(void)
{
    struct sim_index index;
    sim_index_init(&index, NODES);
    struct item *items = calloc(NODES, sizeof(*items));
    CU_ASSERT_PTR_NOT_NULL_FATAL(items);
    for (uint32_t n = 0; n < NODES; n++) {
        items[n].value = n;
        ASSERT_U64_EQ(sim_index_insert(&index, &items[n].node, 1000003ull * n, n), SIM_OK);
    }
    CU_ASSERT(index.bucket_count > SIM_INDEX_BUCKETS_INITIAL);       /* it grew */
    CU_ASSERT(sim_index_check(&index));
    for (uint32_t n = 0; n < NODES; n++) {
        struct sim_index_node *node = sim_index_first(&index, 1000003ull * n);
        CU_ASSERT_PTR_NOT_NULL_FATAL(node);
        ASSERT_U64_EQ(item_of(node)->value, n);
        CU_ASSERT_PTR_NULL(sim_index_next(node));
    }
    for (uint32_t n = 0; n < NODES; n += 2)
        sim_index_remove(&index, &items[n].node);
    ASSERT_U64_EQ(index.count, NODES / 2);
    CU_ASSERT(sim_index_check(&index));
    for (uint32_t n = 0; n < NODES; n++) {
        struct sim_index_node *node = sim_index_first(&index, 1000003ull * n);
        if (n % 2 == 0) {
            CU_ASSERT_PTR_NULL(node);
        } else {
            CU_ASSERT(node == &items[n].node);
        }
    }
    CU_ASSERT_PTR_NULL(sim_index_first(&index, 7));                  /* never inserted */
    sim_index_destroy(&index);
    free(items);
}

/* Nodes of one key come out by ascending order, whatever the order of insertion. */
static void test_index_one_key_in_order(void)
{
    struct sim_index index;
    sim_index_init(&index, 16);
    struct item items[5] = { { .value = 50 }, { .value = 10 }, { .value = 30 },
                             { .value = 20 }, { .value = 40 } };
    for (uint32_t n = 0; n < 5; n++)
        ASSERT_U64_EQ(sim_index_insert(&index, &items[n].node, 42, items[n].value), SIM_OK);
    struct item other = { .value = 15 };
    ASSERT_U64_EQ(sim_index_insert(&index, &other.node, 43, 15), SIM_OK);
    uint32_t expected[] = { 10, 20, 30, 40, 50 };
    uint32_t seen = 0;
    for (struct sim_index_node *node = sim_index_first(&index, 42); node != NULL;
         node = sim_index_next(node)) {
        CU_ASSERT_FATAL(seen < 5);
        ASSERT_U64_EQ(item_of(node)->value, expected[seen]);
        seen++;
    }
    ASSERT_U64_EQ(seen, 5);
    sim_index_remove(&index, &items[1].node);                         /* order 10 */
    ASSERT_U64_EQ(item_of(sim_index_first(&index, 42))->value, 20);
    CU_ASSERT(sim_index_check(&index));
    sim_index_destroy(&index);
}

/* The bound: one insert beyond count_max is SIM_ELIMIT and changes nothing. */
static void test_index_bound_is_a_clear_error(void)
{
    struct sim_index index;
    sim_index_init(&index, 3);
    struct item items[4];
    for (uint32_t n = 0; n < 3; n++)
        ASSERT_U64_EQ(sim_index_insert(&index, &items[n].node, n, n), SIM_OK);
    ASSERT_U64_EQ(sim_index_insert(&index, &items[3].node, 3, 3), (uint64_t)(int64_t)SIM_ELIMIT);
    ASSERT_U64_EQ(index.count, 3);
    CU_ASSERT_PTR_NULL(sim_index_first(&index, 3));
    CU_ASSERT(sim_index_check(&index));
    sim_index_remove(&index, &items[0].node);
    ASSERT_U64_EQ(sim_index_insert(&index, &items[3].node, 3, 3), SIM_OK);
    sim_index_destroy(&index);
}

static void test_slots_give_the_lowest_free_first(void)
{
    struct sim_slots slots;
    sim_slots_init(&slots);
    uint32_t freed[] = { 40, 7, 99, 0, 23, 7000, 8, 1 };
    for (uint32_t n = 0; n < sizeof(freed) / sizeof(freed[0]); n++)
        ASSERT_U64_EQ(sim_slots_free(&slots, freed[n]), SIM_OK);
    uint32_t expected[] = { 0, 1, 7, 8, 23, 40, 99, 7000 };
    for (uint32_t n = 0; n < sizeof(expected) / sizeof(expected[0]); n++) {
        uint32_t slot = UINT32_MAX;
        CU_ASSERT_FATAL(sim_slots_take(&slots, &slot));
        ASSERT_U64_EQ(slot, expected[n]);
    }
    uint32_t slot = 0;
    CU_ASSERT_FALSE(sim_slots_take(&slots, &slot));
    ASSERT_U64_EQ(sim_slots_free(&slots, 5), SIM_OK);
    ASSERT_U64_EQ(sim_slots_free(&slots, 2), SIM_OK);
    CU_ASSERT(sim_slots_take(&slots, &slot));
    ASSERT_U64_EQ(slot, 2);
    CU_ASSERT(sim_slots_take(&slots, &slot));
    ASSERT_U64_EQ(slot, 5);
    CU_ASSERT_FALSE(sim_slots_take(&slots, &slot));
    sim_slots_destroy(&slots);
}

/* ---- VMCI: queue pairs by handle, subscriptions ------------------------------------------ */

struct vmci_fixture {
    struct sim_engine *engine;
    struct vmci_hypervisor *hv;
    struct vmci_kernel *host;
    struct vmci_kernel *guest;
    struct vmci_identity trusted;
    uint64_t limit_events;
    char last_limit[64];
};

static int limit_watch(void *state, const struct sim_trace_event *event, char *message)
{
    (void)message;
    struct vmci_fixture *f = state;
    if (strcmp(event->kind, "limit_reached") != 0)
        return 0;
    f->limit_events++;
    for (uint32_t index = 0; index < event->field_count; index++) {
        if (strcmp(event->fields[index].name, "limit") == 0)
            snprintf(f->last_limit, sizeof(f->last_limit), "%.*s",
                     (int)event->fields[index].value.blob.size_bytes,
                     (const char *)event->fields[index].value.blob.data);
    }
    return 0;
}

static void vmci_fixture_run(struct vmci_fixture *f)
{
    struct sim_run_result result;
    sim_engine_run(f->engine, SIM_TIME_NEVER, 0, &result);
    ASSERT_U64_EQ(result.stopped, SIM_STOP_IDLE);
}

static void vmci_fixture_open(struct vmci_fixture *f, const struct sim_limits *limits)
{
    memset(f, 0, sizeof(*f));
    struct vmci_profile profile;
    char message[128];
    CU_ASSERT_FATAL(vmci_profile_lookup("esxi-6.5", NULL, &profile, message,
                                        sizeof(message)) == 0);
    f->engine = sim_engine_create(limits, 7);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f->engine);
    struct sim_trace_sink sink = {
        .name = "limits", .level = SIM_LAYER_DEVICE, .emit = limit_watch, .state = f,
    };
    CU_ASSERT_FATAL(sim_engine_sink_attach(f->engine, sink) == SIM_OK);
    struct vmci_cost cost = vmci_cost_default();
    f->hv = vmci_hypervisor_create(f->engine, &profile, &cost);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f->hv);
    f->host = vmci_hypervisor_host(f->hv);
    f->trusted.trusted = true;
    strcpy(f->trusted.user, "user");
    struct vmci_vm_config config = {
        .name = "vm", .requested_cid = CID_A, .hw_version = 13, .unrestricted = true,
        .domain = "", .owner = "user",
    };
    CU_ASSERT_FATAL(vmci_hypervisor_vm_power_on(f->hv, &config, &f->guest) == VMCI_SUCCESS);
    vmci_fixture_run(f);
    CU_ASSERT_FATAL(vmci_kernel_ready(f->guest));
}

static void vmci_fixture_close(struct vmci_fixture *f)
{
    vmci_fixture_run(f);
    CU_ASSERT(vmci_hypervisor_check(f->hv));
    vmci_hypervisor_destroy(f->hv);
    sim_engine_destroy(f->engine);
}

/* Many queue pairs between the host and a guest: each is found by its handle (sizes
 * tell them apart), detaching every other one leaves the rest findable, and the
 * hypervisor's accounting (vmci_hypervisor_check walks the list) holds throughout. */
static void test_broker_finds_each_pair_by_handle(void)
{
    enum { PAIRS = 600 };
    struct vmci_fixture f;
    struct sim_limits limits = sim_limits_default();
    vmci_fixture_open(&f, &limits);
    static struct vmci_qpair *host_ends[PAIRS], *guest_ends[PAIRS];
    static struct vmci_handle handles[PAIRS];
    for (uint32_t n = 0; n < PAIRS; n++) {
        handles[n] = VMCI_INVALID_HANDLE;
        uint64_t produce = 4096u * (1u + n % 7u), consume = 4096u * (1u + n % 5u);
        ASSERT_U64_EQ(vmci_qpair_alloc(f.guest, &handles[n], produce, consume,
                                       VMCI_HOST_CONTEXT_ID, 0, NULL, &guest_ends[n], NULL),
                      VMCI_SUCCESS);
        ASSERT_U64_EQ(vmci_qpair_alloc(f.host, &handles[n], consume, produce, CID_A, 0,
                                       &f.trusted, &host_ends[n], NULL), VMCI_SUCCESS);
    }
    vmci_fixture_run(&f);
    CU_ASSERT(vmci_hypervisor_check(f.hv));
    for (uint32_t n = 0; n < PAIRS; n += 2) {
        ASSERT_U64_EQ(vmci_qpair_detach(guest_ends[n], NULL), VMCI_SUCCESS);
        ASSERT_U64_EQ(vmci_qpair_detach(host_ends[n], NULL), VMCI_SUCCESS);
    }
    vmci_fixture_run(&f);
    for (uint32_t n = 0; n < PAIRS; n++) {
        uint64_t produce = 0, consume = 0;
        bool found = vmci_hypervisor_qp_sizes(f.hv, handles[n], &produce, &consume);
        ASSERT_U64_EQ(found, n % 2 == 1);
        if (found) {
            ASSERT_U64_EQ(produce, 4096u * (1u + n % 7u));
            ASSERT_U64_EQ(consume, 4096u * (1u + n % 5u));
        }
    }
    CU_ASSERT(vmci_hypervisor_check(f.hv));
    for (uint32_t n = 1; n < PAIRS; n += 2) {
        ASSERT_U64_EQ(vmci_qpair_detach(guest_ends[n], NULL), VMCI_SUCCESS);
        ASSERT_U64_EQ(vmci_qpair_detach(host_ends[n], NULL), VMCI_SUCCESS);
    }
    vmci_fixture_close(&f);
}

/* The queue_pairs limit (one VM's count, R79) is a world limit: met, the allocation is
 * NO_RESOURCES and the trace names the limit. */
static void test_queue_pairs_limit_is_named_when_met(void)
{
    struct vmci_fixture f;
    struct sim_limits limits = sim_limits_default();
    limits.queue_pairs_max = 3;
    vmci_fixture_open(&f, &limits);
    struct vmci_qpair *ends[4] = { NULL };
    for (uint32_t n = 0; n < 4; n++) {
        struct vmci_handle handle = VMCI_INVALID_HANDLE;
        int rc = vmci_qpair_alloc(f.guest, &handle, 4096, 4096, VMCI_HOST_CONTEXT_ID, 0, NULL,
                                  &ends[n], NULL);
        ASSERT_U64_EQ(rc, n < 3 ? VMCI_SUCCESS : VMCI_ERROR_NO_RESOURCES);
    }
    ASSERT_U64_EQ(f.limit_events, 1);
    ASSERT_STR_CONTAINS(f.last_limit, "queue_pairs_max");
    for (uint32_t n = 0; n < 3; n++)
        ASSERT_U64_EQ(vmci_qpair_detach(ends[n], NULL), VMCI_SUCCESS);
    vmci_fixture_close(&f);
}

/* The broker's table (VMCI_QUEUE_PAIRS_MAX entries per host) bounds the queue pairs the host
 * creates, which no VM is charged for (R79): met, the allocation is NO_RESOURCES and the
 * trace names the table, as for the world limits. Filling 2^20 entries takes 2 GB, so the
 * test moves the broker's count (vmci_int.h) to two below the bound, and back before the
 * detaches. */
static void test_broker_entries_limit_is_named_when_met(void)
{
    struct vmci_fixture f;
    struct sim_limits limits = sim_limits_default();
    vmci_fixture_open(&f, &limits);
    uint32_t guest_cid = vmci_kernel_cid(f.guest);
    uint32_t count = f.hv->queue_pair_count;
    f.hv->queue_pair_count = VMCI_QUEUE_PAIRS_MAX - 2;
    struct vmci_qpair *ends[3] = { NULL };
    for (uint32_t n = 0; n < 3; n++) {
        struct vmci_handle handle = VMCI_INVALID_HANDLE;
        ASSERT_U64_EQ(vmci_qpair_alloc(f.host, &handle, 4096, 4096, guest_cid, 0, &f.trusted,
                                       &ends[n], NULL),
                      n < 2 ? VMCI_SUCCESS : VMCI_ERROR_NO_RESOURCES);
        ASSERT_U64_EQ(f.limit_events, n < 2 ? 0 : 1);
    }
    ASSERT_STR_CONTAINS(f.last_limit, "broker_entries_max");
    ASSERT_U64_EQ(f.hv->queue_pair_count, VMCI_QUEUE_PAIRS_MAX);
    f.hv->queue_pair_count = count + 2;
    for (uint32_t n = 0; n < 2; n++)
        ASSERT_U64_EQ(vmci_qpair_detach(ends[n], NULL), VMCI_SUCCESS);
    vmci_fixture_close(&f);
}

/* The world's queue-pair memory (world_qp_memory_bytes) bounds every queue pair, the host's
 * own included (no VM is charged for those, R79): met, the allocation is NO_RESOURCES, the
 * trace names the limit, and a detach gives the bytes back (HV4 throughout). */
static void test_world_qp_memory_is_named_when_met(void)
{
    struct vmci_fixture f;
    struct sim_limits limits = sim_limits_default();
    limits.world_qp_memory_bytes_max = 3 * 8192 + 4096;     /* three pairs of 4 KiB each way */
    vmci_fixture_open(&f, &limits);
    uint32_t guest_cid = vmci_kernel_cid(f.guest);
    uint64_t bytes_before = f.hv->queue_pair_bytes;
    CU_ASSERT_TRUE(bytes_before <= 4096);
    struct vmci_qpair *ends[4] = { NULL };
    uint32_t made = 0;
    for (uint32_t n = 0; n < 4; n++) {
        struct vmci_handle handle = VMCI_INVALID_HANDLE;
        int rc = vmci_qpair_alloc(f.host, &handle, 4096, 4096, guest_cid, 0, &f.trusted,
                                  &ends[n], NULL);
        ASSERT_U64_EQ(rc, n < 3 ? VMCI_SUCCESS : VMCI_ERROR_NO_RESOURCES);
        made += rc == VMCI_SUCCESS;
        CU_ASSERT_TRUE(vmci_hypervisor_check(f.hv));
    }
    ASSERT_U64_EQ(f.limit_events, 1);
    ASSERT_STR_CONTAINS(f.last_limit, "world_qp_memory_bytes_max");
    ASSERT_U64_EQ(f.hv->queue_pair_bytes, bytes_before + 3 * 8192);
    ASSERT_U64_EQ(vmci_qpair_detach(ends[0], NULL), VMCI_SUCCESS);
    ASSERT_U64_EQ(f.hv->queue_pair_bytes, bytes_before + 2 * 8192);
    struct vmci_handle handle = VMCI_INVALID_HANDLE;
    ASSERT_U64_EQ(vmci_qpair_alloc(f.host, &handle, 4096, 4096, guest_cid, 0, &f.trusted,
                                   &ends[0], NULL), VMCI_SUCCESS);      /* room again */
    CU_ASSERT_TRUE(vmci_hypervisor_check(f.hv));
    for (uint32_t n = 0; n < made; n++)
        ASSERT_U64_EQ(vmci_qpair_detach(ends[n], NULL), VMCI_SUCCESS);
    ASSERT_U64_EQ(f.hv->queue_pair_bytes, bytes_before);
    vmci_fixture_close(&f);
}

struct call_log {
    uint32_t count;
    uint32_t who[CALLS_MAX];
};

struct subscriber {
    struct call_log *log;
    uint32_t name;
};

static void record_call(void *state, uint32_t event, const uint8_t *payload,
                        uint64_t payload_bytes)
{
    (void)event;
    (void)payload;
    (void)payload_bytes;
    struct subscriber *subscriber = state;
    if (subscriber->log->count < CALLS_MAX)
        subscriber->log->who[subscriber->log->count] = subscriber->name;
    subscriber->log->count++;
}

/* R66 with filters: subscribers are called in slot order (a dead slot is reused, lowest
 * first), those filtered on another handle are not called, and unfiltered ones are. */
static void test_subscriptions_dispatch_in_slot_order_with_filters(void)
{
    struct vmci_fixture f;
    struct sim_limits limits = sim_limits_default();
    vmci_fixture_open(&f, &limits);
    struct vmci_handle mine = VMCI_INVALID_HANDLE, other = VMCI_INVALID_HANDLE;
    struct vmci_qpair *host_mine = NULL, *host_other = NULL, *guest_mine = NULL;
    ASSERT_U64_EQ(vmci_qpair_alloc(f.host, &mine, 4096, 4096, CID_A, 0, &f.trusted, &host_mine,
                                   NULL), VMCI_SUCCESS);
    ASSERT_U64_EQ(vmci_qpair_alloc(f.host, &other, 4096, 4096, CID_A, 0, &f.trusted,
                                   &host_other, NULL), VMCI_SUCCESS);
    struct call_log log = { 0 };
    struct subscriber subscribers[6];
    uint32_t ids[6];
    for (uint32_t n = 0; n < 5; n++) {          /* A..E = 1..5 in slots 0..4 */
        subscribers[n] = (struct subscriber){ &log, n + 1 };
        ASSERT_U64_EQ(vmci_event_subscribe(f.host, VMCI_EVENT_QP_PEER_ATTACH, record_call,
                                           &subscribers[n], &ids[n]), VMCI_SUCCESS);
    }
    ASSERT_U64_EQ(vmci_event_subscription_filter(f.host, ids[1], mine), VMCI_SUCCESS);
    ASSERT_U64_EQ(vmci_event_subscription_filter(f.host, ids[2], other), VMCI_SUCCESS);
    ASSERT_U64_EQ(vmci_event_subscription_filter(f.host, ids[4], mine), VMCI_SUCCESS);
    ASSERT_U64_EQ(vmci_event_unsubscribe(f.host, ids[0]), VMCI_SUCCESS);
    ASSERT_U64_EQ(vmci_event_unsubscribe(f.host, ids[0]), VMCI_ERROR_NOT_FOUND);
    subscribers[5] = (struct subscriber){ &log, 6 };
    ASSERT_U64_EQ(vmci_event_subscribe(f.host, VMCI_EVENT_QP_PEER_ATTACH, record_call,
                                       &subscribers[5], &ids[5]), VMCI_SUCCESS); /* slot 0 */
    ASSERT_U64_EQ(vmci_event_subscription_filter(f.host, 999999, mine), VMCI_ERROR_NOT_FOUND);
    ASSERT_U64_EQ(vmci_qpair_alloc(f.guest, &mine, 4096, 4096, VMCI_HOST_CONTEXT_ID, 0, NULL,
                                   &guest_mine, NULL), VMCI_SUCCESS);
    vmci_fixture_run(&f);                       /* the host gets PEER_ATTACH for `mine` */
    uint32_t expected[] = { 6, 2, 4, 5 };       /* slots 0, 1, 3, 4; not 3 (other handle) */
    ASSERT_U64_EQ(log.count, 4);
    for (uint32_t n = 0; n < 4 && n < log.count; n++)
        ASSERT_U64_EQ(log.who[n], expected[n]);
    ASSERT_U64_EQ(vmci_qpair_detach(guest_mine, NULL), VMCI_SUCCESS);
    ASSERT_U64_EQ(vmci_qpair_detach(host_mine, NULL), VMCI_SUCCESS);
    ASSERT_U64_EQ(vmci_qpair_detach(host_other, NULL), VMCI_SUCCESS);
    vmci_fixture_close(&f);
}

/* The event_subscriptions limit: one subscription more is NO_RESOURCES and a
 * "limit_reached" event naming it; a freed slot is reused below the limit. */
static void test_subscriptions_limit_is_named_when_met(void)
{
    struct vmci_fixture f;
    struct sim_limits limits = sim_limits_default();
    limits.event_subscriptions_max = 4;
    vmci_fixture_open(&f, &limits);
    struct call_log log = { 0 };
    struct subscriber subscriber = { &log, 1 };
    uint32_t ids[5];
    for (uint32_t n = 0; n < 4; n++)
        ASSERT_U64_EQ(vmci_event_subscribe(f.host, VMCI_EVENT_QP_PEER_DETACH, record_call,
                                           &subscriber, &ids[n]), VMCI_SUCCESS);
    ASSERT_U64_EQ(vmci_event_subscribe(f.host, VMCI_EVENT_QP_PEER_DETACH, record_call,
                                       &subscriber, &ids[4]), VMCI_ERROR_NO_RESOURCES);
    ASSERT_U64_EQ(f.limit_events, 1);
    ASSERT_STR_CONTAINS(f.last_limit, "event_subscriptions_max");
    ASSERT_U64_EQ(vmci_event_unsubscribe(f.host, ids[2]), VMCI_SUCCESS);
    ASSERT_U64_EQ(vmci_event_subscribe(f.host, VMCI_EVENT_QP_PEER_DETACH, record_call,
                                       &subscriber, &ids[4]), VMCI_SUCCESS);
    ASSERT_U64_EQ(f.limit_events, 1);
    vmci_fixture_close(&f);
}

static void dg_ignore(void *state, const struct vmci_datagram_header *header,
                      const uint8_t *payload)
{
    (void)state;
    (void)header;
    (void)payload;
}

/* Datagram handles by RID: many made and destroyed, each found exactly while live (R61
 * ALREADY_EXISTS, R62 NOT_FOUND after), an ANY-context handle matching a specific one (R16),
 * and the handles limit named when met. */
static void test_handles_found_by_rid_and_limit_named(void)
{
    enum { HANDLES = 400 };
    struct vmci_fixture f;
    struct sim_limits limits = sim_limits_default();
    limits.handles_max = HANDLES + 1;           /* the transport-less host holds none yet */
    vmci_fixture_open(&f, &limits);
    uint32_t cid = vmci_kernel_cid(f.host);
    for (uint32_t n = 0; n < HANDLES; n++) {
        struct vmci_handle made;
        ASSERT_U64_EQ(vmci_dg_create(f.host, 5000 + n, 0, &f.trusted, dg_ignore, NULL, &made),
                      VMCI_SUCCESS);
        ASSERT_U64_EQ(made.resource, 5000 + n);
    }
    for (uint32_t n = 0; n < HANDLES; n += 3)
        ASSERT_U64_EQ(vmci_dg_destroy(f.host, (struct vmci_handle){ cid, 5000 + n }),
                      VMCI_SUCCESS);
    for (uint32_t n = 0; n < HANDLES; n++) {
        struct vmci_handle made;
        int rc = vmci_dg_create(f.host, 5000 + n, VMCI_FLAG_ANYCID_DG_HND, &f.trusted,
                                dg_ignore, NULL, &made);
        ASSERT_U64_EQ(rc, n % 3 == 0 ? VMCI_SUCCESS : VMCI_ERROR_ALREADY_EXISTS);
    }
    ASSERT_U64_EQ(f.limit_events, 0);
    struct vmci_handle made;
    ASSERT_U64_EQ(vmci_dg_create(f.host, 9000, 0, &f.trusted, dg_ignore, NULL, &made),
                  VMCI_SUCCESS);                                  /* the last slot */
    ASSERT_U64_EQ(vmci_dg_create(f.host, 9001, 0, &f.trusted, dg_ignore, NULL, &made),
                  VMCI_ERROR_NO_RESOURCES);
    ASSERT_U64_EQ(f.limit_events, 1);
    ASSERT_STR_CONTAINS(f.last_limit, "handles_max");
    for (uint32_t n = 0; n < HANDLES; n++) {
        struct vmci_handle handle = { n % 3 == 0 ? VMCI_INVALID_ID : cid, 5000 + n };
        ASSERT_U64_EQ(vmci_dg_destroy(f.host, handle), VMCI_SUCCESS);
        ASSERT_U64_EQ(vmci_dg_destroy(f.host, handle), VMCI_ERROR_NOT_FOUND);
    }
    ASSERT_U64_EQ(vmci_dg_create(f.host, 9001, 0, &f.trusted, dg_ignore, NULL, &made),
                  VMCI_SUCCESS);                                  /* a freed slot */
    vmci_fixture_close(&f);
}

/* ---- vSockets: sockets by connection and by port ---------------------------------------- */

static bool local_matches(const struct vsock_addr *bound, const struct vsock_addr *wanted)
{
    return bound->port == wanted->port &&
           (bound->cid == wanted->cid || bound->cid == VSOCK_CID_ANY);
}

/* The walks the indexes replaced (vsock/core.c before issue 10). */
static struct vsock_sock *walk_connected(struct vsock_stack *stack,
                                         const struct vsock_addr *local,
                                         const struct vsock_addr *remote)
{
    for (struct vsock_sock *sock = stack->sockets_head; sock != NULL; sock = sock->stack_next) {
        if (sock->type == VSOCK_TYPE_STREAM && sock->tcp != VSOCK_TCP_LISTEN &&
            sock->remote.cid == remote->cid && sock->remote.port == remote->port &&
            local_matches(&sock->local, local))
            return sock;
    }
    return NULL;
}

static struct vsock_sock *walk_bound(struct vsock_stack *stack, enum vsock_type type,
                                     const struct vsock_addr *local)
{
    for (struct vsock_sock *sock = stack->sockets_head; sock != NULL; sock = sock->stack_next) {
        if (sock->type == type && !sock->child && sock->local.port != VSOCK_PORT_ANY &&
            (local_matches(&sock->local, local) ||
             (sock->bound_any && sock->local.port == local->port)))
            return sock;
    }
    return NULL;
}

static uint32_t pick(struct sim_rng *rng, const uint32_t *values, uint32_t count)
{
    return values[sim_rng_below(rng, count)];
}

/* Sockets given addresses from small sets (so that many share a port or a connection,
 * including CID ANY and port ANY), then re-addressed in a seeded order: every lookup of
 * every combination gives the socket the walk in creation order gives. */
static void test_socket_lookups_match_the_walk(void)
{
    struct vs_world_config config = { .seed = 3, .vm_count = 0 };
    char message[VS_WORLD_MESSAGE_BYTES_MAX];
    struct vs_world *world = vs_world_create(&config, message, sizeof(message));
    CU_ASSERT_PTR_NOT_NULL_FATAL(world);
    struct vsock_stack *stack = &world->host.stack;
    struct vsock_credentials credentials = { .trusted = true, .net_bind_service = true };
    static struct vsock_sock *socks[SOCKETS];
    for (uint32_t n = 0; n < SOCKETS; n++) {
        int type = n % 3 == 0 ? VSOCK_TYPE_DGRAM : VSOCK_TYPE_STREAM;
        ASSERT_U64_EQ(vsock_socket(stack, type, 0, &credentials, &socks[n]), 0);
    }
    const uint32_t cids[] = { VSOCK_CID_ANY, 2, 100, 101 };
    const uint32_t ports[] = { VSOCK_PORT_ANY, 5000, 5001, 1024 };
    struct sim_rng *rng = sim_engine_rng(world->engine, "lookups_test");
    CU_ASSERT_PTR_NOT_NULL_FATAL(rng);
    for (uint32_t round = 0; round < 3; round++) {
        for (uint32_t step = 0; step < SOCKETS; step++) {
            struct vsock_sock *sock = socks[sim_rng_below(rng, SOCKETS)];
            sock->local = (struct vsock_addr){ pick(rng, cids, 4), pick(rng, ports, 4) };
            sock->remote = (struct vsock_addr){ pick(rng, cids, 4), pick(rng, ports, 4) };
            sock->bound_any = sock->local.cid == VSOCK_CID_ANY;
            sock->tcp = sim_rng_below(rng, 4) == 0 ? VSOCK_TCP_LISTEN : VSOCK_TCP_ESTABLISHED;
            vsock_sock_reindex(sock);
        }
        CU_ASSERT(sim_index_check(&stack->connections));
        CU_ASSERT(sim_index_check(&stack->ports));
        for (uint32_t a = 0; a < 16; a++) {
            struct vsock_addr local = { cids[a / 4], ports[a % 4] };
            for (uint32_t b = 0; b < 16; b++) {
                struct vsock_addr remote = { cids[b / 4], ports[b % 4] };
                CU_ASSERT(vsock_find_connected(stack, &local, &remote) ==
                          walk_connected(stack, &local, &remote));
            }
            CU_ASSERT(vsock_find_bound(stack, VSOCK_TYPE_STREAM, &local) ==
                      walk_bound(stack, VSOCK_TYPE_STREAM, &local));
            CU_ASSERT(vsock_find_bound(stack, VSOCK_TYPE_DGRAM, &local) ==
                      walk_bound(stack, VSOCK_TYPE_DGRAM, &local));
        }
    }
    for (uint32_t n = 0; n < SOCKETS; n++) {       /* plain addresses again, then close */
        socks[n]->local = (struct vsock_addr){ VSOCK_CID_ANY, VSOCK_PORT_ANY };
        socks[n]->remote = socks[n]->local;
        socks[n]->tcp = VSOCK_TCP_CLOSE;
        vsock_sock_reindex(socks[n]);
        struct vsock_call call = { .deadline_ns = SIM_TIME_NEVER };
        vsock_close(socks[n], &call);
    }
    ASSERT_U64_EQ(stack->connections.count, 0);
    ASSERT_U64_EQ(stack->ports.count, 0);
    vs_world_destroy(world);
}

CU_ErrorCode lookups_suite_add(void)
{
    static const struct test_entry tests[] = {
        TEST_ENTRY(test_index_insert_find_remove_across_growth),
        TEST_ENTRY(test_index_one_key_in_order),
        TEST_ENTRY(test_index_bound_is_a_clear_error),
        TEST_ENTRY(test_slots_give_the_lowest_free_first),
        TEST_ENTRY(test_broker_finds_each_pair_by_handle),
        TEST_ENTRY(test_queue_pairs_limit_is_named_when_met),
        TEST_ENTRY(test_broker_entries_limit_is_named_when_met),
        TEST_ENTRY(test_world_qp_memory_is_named_when_met),
        TEST_ENTRY(test_subscriptions_dispatch_in_slot_order_with_filters),
        TEST_ENTRY(test_subscriptions_limit_is_named_when_met),
        TEST_ENTRY(test_handles_found_by_rid_and_limit_named),
        TEST_ENTRY(test_socket_lookups_match_the_walk),
    };
    return test_suite_register("lookups", tests, sizeof(tests) / sizeof(tests[0]));
}
