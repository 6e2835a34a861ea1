/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/invariants_test.c: the world invariants (docs/invariants.md). A correct world
 * in the middle of a transfer passes every check; then each invariant is broken on purpose
 * through its test-only breaker (vmci_invariants_break_for_test,
 * vsock_invariants_break_for_test) and the check must report exactly that invariant. The
 * Lua glue (sim/lua/invariants.c: failure, exit 1, `invariant_violation` event) is checked
 * on a real scenario's world by breaking it after w:run() from C.
 */
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "sim/lua/lua_int.h"
#include "sim/lua/runtime.h"
#include "suites.h"
#include "test_support.h"
#include "vmci/invariants.h"
#include "vmci/vmci_int.h"      /* the broker's queue-pair entries: is the memory gone */
#include "vsock/invariants.h"
#include "vsock_fixture.h"

#define REPORTS_MAX 16u
#define PORT 5000u
#define SENT_BYTES 3000u
#define READ_BYTES 1000u

struct reports {
    uint32_t count;
    char names[REPORTS_MAX][32];
    char objects[REPORTS_MAX][VMCI_INVARIANT_TEXT_BYTES];
};

static void collect(void *state, const char *name, const char *object, const char *detail)
{
    struct reports *reports = state;
    CU_ASSERT_PTR_NOT_NULL(detail);
    if (reports->count < REPORTS_MAX) {
        snprintf(reports->names[reports->count], sizeof(reports->names[0]), "%s", name);
        snprintf(reports->objects[reports->count], sizeof(reports->objects[0]), "%s", object);
    }
    reports->count++;
}

/* Every check of the world: VMCI, then each started stack (at_end as given). */
static struct reports check_world(struct fixture *f, bool at_end)
{
    struct reports reports;
    memset(&reports, 0, sizeof(reports));
    uint32_t total = vmci_invariants_check(f->world->hypervisor, collect, &reports);
    struct vs_kernel *kernels[3] = { &f->world->host, vs_world_kernel(f->world, CID_A),
                                     vs_world_kernel(f->world, CID_B) };
    for (uint32_t index = 0; index < 3; index++) {
        if (kernels[index] != NULL && kernels[index]->started)
            total += vsock_invariants_check(&kernels[index]->stack, at_end, collect, &reports);
    }
    ASSERT_U64_EQ(total, reports.count);
    return reports;
}

/* Every report names `name` (and there is at least one). */
static void assert_only(const struct reports *reports, const char *name)
{
    CU_ASSERT(reports->count >= 1);
    for (uint32_t index = 0; index < reports->count && index < REPORTS_MAX; index++)
        CU_ASSERT_STRING_EQUAL(reports->names[index], name);
}

/* A guest A -> host stream with SENT_BYTES sent and READ_BYTES of them read, plus a guest
 * datagram socket bound: queue pairs, handles and bound ports all exist. */
static struct fixture *busy_world(int *client_fd, int *server_fd)
{
    struct fixture *f = fixture_create();
    (void)connected_pair(f, &f->guest_a, &f->host, PORT, client_fd, server_fd);
    static uint8_t bytes[SENT_BYTES];
    stream_fill(bytes, 0, sizeof(bytes));
    ASSERT_RETURNS(vs_send(&f->guest_a, *client_fd, bytes, sizeof(bytes), MSG_DONTWAIT),
                   SENT_BYTES);
    run_idle(f);
    uint8_t got[READ_BYTES];
    ASSERT_RETURNS(vs_recv(&f->host, *server_fd, got, sizeof(got), MSG_DONTWAIT), READ_BYTES);
    CU_ASSERT_EQUAL(memcmp(got, bytes, sizeof(got)), 0);
    (void)dgram_bound(&f->guest_b, PORT + 1);
    (void)dgram_bound(&f->guest_b, PORT + 2);
    run_idle(f);
    return f;
}

static void test_a_busy_world_passes_every_check(void)
{
    int client_fd = -1;
    int server_fd = -1;
    struct fixture *f = busy_world(&client_fd, &server_fd);
    struct reports reports = check_world(f, true);
    ASSERT_U64_EQ(reports.count, 0);
    /* Everything read and both ends closed: still clean. */
    uint8_t rest[SENT_BYTES];
    ASSERT_RETURNS(vs_recv(&f->host, server_fd, rest, sizeof(rest), MSG_DONTWAIT),
                   SENT_BYTES - READ_BYTES);
    CU_ASSERT_EQUAL(vs_close(&f->guest_a, client_fd), 0);
    run_idle(f);
    reports = check_world(f, true);
    ASSERT_U64_EQ(reports.count, 0);
    fixture_destroy(f);
}

static void test_stream_bytes_queued_byte_changed(void)
{
    int client_fd = -1;
    int server_fd = -1;
    struct fixture *f = busy_world(&client_fd, &server_fd);
    CU_ASSERT_EQUAL_FATAL(vmci_invariants_break_for_test(f->world->hypervisor,
                                                         VMCI_BREAK_STREAM_BYTES), 0);
    struct reports reports = check_world(f, true);
    ASSERT_U64_EQ(reports.count, 1);
    assert_only(&reports, "stream_bytes");
    ASSERT_STR_CONTAINS(reports.objects[0], "queue pair");
    fixture_destroy(f);
}

/* The reader catches up with bytes its writer never wrote: seen at that dequeue, and still
 * reported after the queue is empty (nothing left to hash at the end). */
static void test_stream_bytes_read_byte_changed(void)
{
    int client_fd = -1;
    int server_fd = -1;
    struct fixture *f = busy_world(&client_fd, &server_fd);
    CU_ASSERT_EQUAL_FATAL(vmci_invariants_break_for_test(f->world->hypervisor,
                                                         VMCI_BREAK_STREAM_BYTES), 0);
    uint8_t rest[SENT_BYTES];
    ASSERT_RETURNS(vs_recv(&f->host, server_fd, rest, sizeof(rest), MSG_DONTWAIT),
                   SENT_BYTES - READ_BYTES);
    run_idle(f);
    struct reports reports = check_world(f, true);
    ASSERT_U64_EQ(reports.count, 1);
    assert_only(&reports, "stream_bytes");
    fixture_destroy(f);
}

/* The check made when the reader catches up is the only one that can see a bad byte once
 * its queue pair is gone: both ends closed and the memory freed, nothing is left for the
 * end check to hash, so this fails if that check (or the dequeue's hashing of the bytes it
 * copies out) is skipped. */
static void test_stream_bytes_read_byte_changed_queue_pair_freed(void)
{
    int client_fd = -1;
    int server_fd = -1;
    struct fixture *f = busy_world(&client_fd, &server_fd);
    CU_ASSERT_EQUAL_FATAL(vmci_invariants_break_for_test(f->world->hypervisor,
                                                         VMCI_BREAK_STREAM_BYTES), 0);
    uint8_t rest[SENT_BYTES];
    ASSERT_RETURNS(vs_recv(&f->host, server_fd, rest, sizeof(rest), MSG_DONTWAIT),
                   SENT_BYTES - READ_BYTES);
    CU_ASSERT_EQUAL(vs_close(&f->guest_a, client_fd), 0);
    CU_ASSERT_EQUAL(vs_close(&f->host, server_fd), 0);
    run_idle(f);
    for (const struct vmci_qp_entry *entry = f->world->hypervisor->queue_pairs_head;
         entry != NULL; entry = entry->next)
        CU_ASSERT_PTR_NULL(entry->memory);      /* no ring left to hash at the end */
    struct reports reports = check_world(f, true);
    ASSERT_U64_EQ(reports.count, 1);
    assert_only(&reports, "stream_bytes");
    ASSERT_STR_CONTAINS(reports.objects[0], "queue pair");
    fixture_destroy(f);
}

static void test_vmci_breaker(enum vmci_invariant_break which, const char *name)
{
    int client_fd = -1;
    int server_fd = -1;
    struct fixture *f = busy_world(&client_fd, &server_fd);
    CU_ASSERT_EQUAL_FATAL(vmci_invariants_break_for_test(f->world->hypervisor, which), 0);
    struct reports reports = check_world(f, true);
    assert_only(&reports, name);
    fixture_destroy(f);
}

static void test_qp_owner_entry_without_sides(void)
{
    test_vmci_breaker(VMCI_BREAK_QP_OWNER, "qp_owner");
}

static void test_qp_quota_account_off_by_a_page(void)
{
    test_vmci_breaker(VMCI_BREAK_QP_QUOTA, "qp_quota");
}

static void test_resource_owner_handle_without_receiver(void)
{
    test_vmci_breaker(VMCI_BREAK_RESOURCE_OWNER, "resource_owner");
}

static void test_dgram_once_device_account(void)
{
    test_vmci_breaker(VMCI_BREAK_DGRAM_ONCE, "dgram_once");
}

static void test_dgram_once_deliveries_account(void)
{
    test_vmci_breaker(VMCI_BREAK_DELIVERIES, "dgram_once");
}

static void test_port_socket_two_sockets_on_one_port(void)
{
    int client_fd = -1;
    int server_fd = -1;
    struct fixture *f = busy_world(&client_fd, &server_fd);
    struct vs_kernel *guest_b = vs_world_kernel(f->world, CID_B);
    CU_ASSERT_PTR_NOT_NULL_FATAL(guest_b);
    CU_ASSERT_EQUAL_FATAL(vsock_invariants_break_for_test(&guest_b->stack,
                                                          VSOCK_BREAK_PORT_SOCKET), 0);
    struct reports reports = check_world(f, false);
    assert_only(&reports, "port_socket");
    ASSERT_STR_CONTAINS(reports.objects[0], "datagram socket");
    fixture_destroy(f);
}

struct reader {
    int fd;
    ssize_t rc;
};

static void reader_body(struct vs_context *context, void *arg)
{
    struct reader *reader = arg;
    uint8_t bytes[16];
    reader->rc = vs_recv(context, reader->fd, bytes, sizeof(bytes), 0);
}

/* A process blocked in recv() on a socket whose peer is gone without the wake-up a reset
 * owes it: reported at the end of the run only. */
static void test_blocked_dead_peer_reader_never_woken(void)
{
    struct fixture *f = fixture_create();
    int client_fd = -1;
    int server_fd = -1;
    (void)connected_pair(f, &f->guest_a, &f->host, PORT, &client_fd, &server_fd);
    struct reader reader = { .fd = server_fd, .rc = 99 };
    CU_ASSERT_EQUAL_FATAL(vs_spawn(&f->host, "reader", reader_body, &reader, true), 0);
    run_idle(f);
    ASSERT_U64_EQ(reader.rc, 99);                   /* still blocked: nothing was sent */
    struct reports reports = check_world(f, true);
    ASSERT_U64_EQ(reports.count, 0);
    CU_ASSERT_EQUAL_FATAL(vsock_invariants_break_for_test(&f->world->host.stack,
                                                          VSOCK_BREAK_BLOCKED_DEAD_PEER), 0);
    reports = check_world(f, false);
    ASSERT_U64_EQ(reports.count, 0);                /* not a per-event invariant */
    reports = check_world(f, true);
    ASSERT_U64_EQ(reports.count, 1);
    assert_only(&reports, "blocked_dead_peer");
    fixture_destroy(f);
}

/* ---- The run's glue: failure, exit code, trace event --------------------------------- */

static uint32_t violation_events;

static int count_violations(void *state, const struct sim_trace_event *event, char *message)
{
    (void)state;
    (void)message;
    if (strcmp(event->kind, "invariant_violation") == 0)
        violation_events++;
    return 0;
}

static void test_run_fails_on_a_violation_and_traces_it(void)
{
    static const char source[] =
        "local sim = require('vmcisim')\n"
        "local w = sim.world{}\n"
        "local g = w:vm{ name = 'g' }\n"
        "w:run()\n";
    char path[TEST_LUA_PATH_BYTES];
    test_write_lua_file(source, path);
    struct sim_trace_sink sink = { .name = "count", .level = SIM_LAYER_DEVICE,
                                   .emit = count_violations };
    struct simlua_options options = {
        .scenario_path = path, .seed = 1, .until_ns = SIM_TIME_NEVER, .quiet = true,
        .sinks = &sink, .sink_count = 1,
    };
    struct simlua_runtime *runtime = simlua_create(&options);
    CU_ASSERT_PTR_NOT_NULL_FATAL(runtime);
    struct simlua_outcome outcome;
    violation_events = 0;
    simlua_run(runtime, &outcome);
    ASSERT_U64_EQ(outcome.exit_code, SIMLUA_EXIT_PASS);
    ASSERT_U64_EQ(violation_events, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(runtime->world);
    CU_ASSERT_EQUAL_FATAL(vmci_invariants_break_for_test(runtime->world->hypervisor,
                                                         VMCI_BREAK_QP_QUOTA), 0);
    ASSERT_U64_EQ(simlua__invariants_check(runtime->world, true), 1);
    ASSERT_U64_EQ(violation_events, 1);
    ASSERT_U64_EQ(runtime->failure_count, 1);
    ASSERT_STR_CONTAINS(runtime->failures[0].message, "invariant qp_quota violated");
    simlua_destroy(runtime);
    remove(path);
}

/* A world broken while it runs: a trace sink breaks it at the scenario's first sim.log
 * line. The end-of-run check fails the run (exit 1); with paranoid on, the check after that
 * very event reports it, at that event's time, and the end-of-run check does not repeat it. */
static struct simlua_runtime *breaking_runtime;
static uint64_t broken_at_ns;
static uint64_t violation_at_ns;

static int break_at_first_log(void *state, const struct sim_trace_event *event, char *message)
{
    (void)state;
    (void)message;
    if (strcmp(event->kind, "log") == 0 && broken_at_ns == UINT64_MAX) {
        broken_at_ns = event->time_ns;
        CU_ASSERT_EQUAL(vmci_invariants_break_for_test(breaking_runtime->world->hypervisor,
                                                       VMCI_BREAK_QP_QUOTA), 0);
    }
    if (strcmp(event->kind, "invariant_violation") == 0) {
        violation_events++;
        violation_at_ns = event->time_ns;
    }
    return 0;
}

static void run_broken_mid_run(bool paranoid)
{
    static const char source[] =
        "local sim = require('vmcisim')\n"
        "local w = sim.world{}\n"
        "local g = w:vm{ name = 'g' }\n"
        "g:spawn('p', function(p) p:sleep(1000) sim.log('break now') p:sleep(5000000) end)\n"
        "w:run()\n";
    char path[TEST_LUA_PATH_BYTES];
    test_write_lua_file(source, path);
    struct sim_trace_sink sink = { .name = "breaker", .level = SIM_LAYER_DEVICE,
                                   .emit = break_at_first_log };
    struct simlua_options options = {
        .scenario_path = path, .seed = 1, .until_ns = SIM_TIME_NEVER, .quiet = true,
        .sinks = &sink, .sink_count = 1, .paranoid = paranoid,
    };
    breaking_runtime = simlua_create(&options);
    CU_ASSERT_PTR_NOT_NULL_FATAL(breaking_runtime);
    broken_at_ns = UINT64_MAX;
    violation_at_ns = 0;
    violation_events = 0;
    struct simlua_outcome outcome;
    simlua_run(breaking_runtime, &outcome);
    CU_ASSERT(broken_at_ns != UINT64_MAX);
    ASSERT_U64_EQ(outcome.exit_code, SIMLUA_EXIT_FAIL);
    ASSERT_U64_EQ(outcome.failure_count, 1);
    ASSERT_U64_EQ(violation_events, 1);
    /* Paranoid: reported at the time of the breaking event; else when the run is over. */
    if (paranoid)
        ASSERT_U64_EQ(violation_at_ns, broken_at_ns);
    else
        CU_ASSERT(violation_at_ns >= broken_at_ns + 5000000);
    simlua_destroy(breaking_runtime);
    breaking_runtime = NULL;
    remove(path);
}

static void test_broken_mid_run_fails_at_the_end(void)
{
    run_broken_mid_run(false);
}

static void test_broken_mid_run_paranoid_reports_the_event(void)
{
    run_broken_mid_run(true);
}

CU_ErrorCode invariants_suite_add(void)
{
    static const struct test_entry tests[] = {
        TEST_ENTRY(test_a_busy_world_passes_every_check),
        TEST_ENTRY(test_stream_bytes_queued_byte_changed),
        TEST_ENTRY(test_stream_bytes_read_byte_changed),
        TEST_ENTRY(test_stream_bytes_read_byte_changed_queue_pair_freed),
        TEST_ENTRY(test_qp_owner_entry_without_sides),
        TEST_ENTRY(test_qp_quota_account_off_by_a_page),
        TEST_ENTRY(test_resource_owner_handle_without_receiver),
        TEST_ENTRY(test_dgram_once_device_account),
        TEST_ENTRY(test_dgram_once_deliveries_account),
        TEST_ENTRY(test_port_socket_two_sockets_on_one_port),
        TEST_ENTRY(test_blocked_dead_peer_reader_never_woken),
        TEST_ENTRY(test_run_fails_on_a_violation_and_traces_it),
        TEST_ENTRY(test_broken_mid_run_fails_at_the_end),
        TEST_ENTRY(test_broken_mid_run_paranoid_reports_the_event),
    };
    return test_suite_register("invariants", tests, sizeof(tests) / sizeof(tests[0]));
}
