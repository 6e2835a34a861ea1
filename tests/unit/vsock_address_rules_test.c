/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/vsock_address_rules_test.c: CUnit tests for the reference's section 2
 * (addresses, CIDs, ports, resource IDs; rules R1-R23), for the rules and the aspects of
 * rules that vsock_stream_test.c, vsock_dgram_test.c and the VMCI suites leave unasserted.
 * Each test is named after its rule and asserts the exact errno, value, address bytes or
 * traced datagram (D3), on the shared world of vsock_fixture.h or on small worlds built
 * here (other products, chosen VM CIDs). Where the implementation disagrees with the
 * reference, the test keeps asserting the reference.
 *
 * Rules that would take 2^32 operations (R14's port counter reset, R23's RID counter wrap)
 * are reached by setting the counter near 0xFFFFFFFF from the test; each such test says so.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "sim/lua/runtime.h"
#include "suites.h"
#include "test_support.h"
#include "vmci/defs.h"
#include "vmci/vmci_int.h"      /* white box: R23's per-kernel RID counter (rid_next) */
#include "vsock_fixture.h"
#include "vsock_test_support.h"

#define ADDR_BYTES 16u                          /* R1, R6 */
#define POISON 0xAAu                            /* bytes the stack must not write */
#define CID_TOP 0xFFFFFFFEu                     /* the highest CID a VM can have (R8) */
#define VMCI_LOG_MAX 8192u
#define CONTROL_PACKET_DG_BYTES 56u             /* R147: 24-byte header + 32 */
#define QP_EVENT_DG_BYTES 48u                   /* R64: 24 + 8 + 16 */

/* ---- A log of VMCI-layer trace events (routes, event deliveries, CID reassignments) ---- */

struct vmci_record {
    char kind[24];
    uint32_t ctx;
    uint64_t src_cid, src_rid, dst_cid, dst_rid, size;
    int64_t result;
    uint64_t requested, assigned;
};

struct vmci_log {
    uint32_t count;
    uint32_t dropped;                   /* records past VMCI_LOG_MAX: asserted 0 */
    struct vmci_record records[VMCI_LOG_MAX];
};

static int vmci_log_emit(void *state, const struct sim_trace_event *event, char *message)
{
    (void)message;
    struct vmci_log *log = state;
    if (event->layer != SIM_LAYER_VMCI)
        return 0;
    if (log->count >= VMCI_LOG_MAX) {
        log->dropped++;
        return 0;
    }
    struct vmci_record *record = &log->records[log->count++];
    memset(record, 0, sizeof(*record));
    snprintf(record->kind, sizeof(record->kind), "%s", event->kind);
    record->ctx = event->ctx;
    for (uint32_t index = 0; index < event->field_count; index++) {
        const struct sim_trace_field *field = &event->fields[index];
        uint64_t value = field->value.u64;
        if (strcmp(field->name, "src_cid") == 0)
            record->src_cid = value;
        else if (strcmp(field->name, "src_rid") == 0)
            record->src_rid = value;
        else if (strcmp(field->name, "dst_cid") == 0)
            record->dst_cid = value;
        else if (strcmp(field->name, "dst_rid") == 0)
            record->dst_rid = value;
        else if (strcmp(field->name, "size") == 0)
            record->size = value;
        else if (strcmp(field->name, "result") == 0)
            record->result = field->value.i64;
        else if (strcmp(field->name, "requested") == 0)
            record->requested = value;
        else if (strcmp(field->name, "assigned") == 0)
            record->assigned = value;
    }
    return 0;
}

static struct sim_trace_sink vmci_log_sink(struct vmci_log *log)
{
    struct sim_trace_sink sink = { .name = "vmci", .level = SIM_LAYER_VMCI,
                                   .emit = vmci_log_emit, .state = log };
    return sink;
}

/* Records of `kind` traced in context `ctx` since index `from`. */
static uint32_t vmci_log_count(const struct vmci_log *log, uint32_t from, const char *kind,
                               uint32_t ctx)
{
    uint32_t count = 0;
    for (uint32_t index = from; index < log->count; index++)
        count += strcmp(log->records[index].kind, kind) == 0 && log->records[index].ctx == ctx;
    return count;
}

/* The first record of `kind` in context `ctx` since `from`; fails the test if none. */
static const struct vmci_record *vmci_log_first(const struct vmci_log *log, uint32_t from,
                                                const char *kind, uint32_t ctx)
{
    for (uint32_t index = from; index < log->count; index++) {
        const struct vmci_record *record = &log->records[index];
        if (strcmp(record->kind, kind) == 0 && record->ctx == ctx)
            return record;
    }
    CU_FAIL_FATAL("no such VMCI trace record");
    return NULL;
}

/* ---- Small helpers ------------------------------------------------------------------------ */

static int bind_to(struct vs_context *context, int fd, uint32_t cid, uint32_t port)
{
    struct sockaddr_vm addr = vm_addr(cid, port);
    return vs_bind(context, fd, SA(addr), sizeof(addr));
}

/* R6: `bytes` (a returned address, `length` as returned, inside a buffer of
 * `buffer_bytes` that was filled with POISON) must be exactly family 40, reserved 0, the
 * port and CID little-endian, zero padding, length 16, and nothing written past
 * min(16, offered_bytes). The expected bytes are spelled out, not taken from the struct. */
static void assert_address_bytes(const uint8_t *bytes, uint32_t buffer_bytes,
                                 uint32_t offered_bytes, socklen_t length, uint32_t cid,
                                 uint32_t port)
{
    const uint8_t expected[ADDR_BYTES] = {
        40, 0, 0, 0,
        (uint8_t)port, (uint8_t)(port >> 8), (uint8_t)(port >> 16), (uint8_t)(port >> 24),
        (uint8_t)cid, (uint8_t)(cid >> 8), (uint8_t)(cid >> 16), (uint8_t)(cid >> 24),
        0, 0, 0, 0,
    };
    ASSERT_U64_EQ(length, ADDR_BYTES);
    uint32_t written_bytes = offered_bytes < ADDR_BYTES ? offered_bytes : ADDR_BYTES;
    uint32_t mismatches = 0;
    for (uint32_t index = 0; index < buffer_bytes; index++) {
        uint8_t want = index < written_bytes ? expected[index] : POISON;
        if (bytes[index] != want) {
            fprintf(stderr, "address byte %u is 0x%02x, expected 0x%02x\n", index,
                    bytes[index], want);
            mismatches++;
        }
    }
    ASSERT_U64_EQ(mismatches, 0);
}

/* ---- 2.1 sockaddr_vm --------------------------------------------------------------------- */

/* R3: the length boundary is 16: 15 (and 0) fail with EINVAL in bind() and connect() of
 * both types, 16 and anything longer (a struct sockaddr_storage) are accepted. */
static void test_R3_address_length_boundary_is_16_bytes(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    listener(&f->host, 5100, 4);
    struct sockaddr_storage storage;
    memset(&storage, 0, sizeof(storage));
    struct sockaddr_vm addr = vm_addr(VMADDR_CID_ANY, 5200);
    memcpy(&storage, &addr, sizeof(addr));
    int stream = stream_socket(g);
    ASSERT_FAILS(vs_bind(g, stream, SA(storage), ADDR_BYTES - 1), EINVAL);
    ASSERT_FAILS(vs_bind(g, stream, SA(storage), 0), EINVAL);
    ASSERT_RETURNS(vs_bind(g, stream, SA(storage), sizeof(storage)), 0);
    ASSERT_U64_EQ(name_of(g, stream, false).svm_port, 5200);
    struct sockaddr_vm host = vm_addr(CID_HOST, 5100);
    memcpy(&storage, &host, sizeof(host));
    ASSERT_FAILS(vs_connect(g, stream, SA(storage), ADDR_BYTES - 1), EINVAL);
    ASSERT_FAILS(vs_connect(g, stream, SA(storage), sizeof(storage)), EAGAIN);   /* sent */
    run_idle(f);
    ASSERT_RETURNS(vs_connect(g, stream, SA(storage), sizeof(storage)), 0);
    int dgram = dgram_socket(g);
    memcpy(&storage, &addr, sizeof(addr));
    ASSERT_FAILS(vs_bind(g, dgram, SA(storage), ADDR_BYTES - 1), EINVAL);
    ASSERT_U64_EQ(name_of(g, dgram, false).svm_port, VMADDR_PORT_ANY);           /* R13 */
    ASSERT_RETURNS(vs_bind(g, dgram, SA(storage), ADDR_BYTES + 1), 0);
    ASSERT_U64_EQ(name_of(g, dgram, false).svm_port, 5200);
    memcpy(&storage, &host, sizeof(host));
    ASSERT_FAILS(vs_connect(g, dgram, SA(storage), ADDR_BYTES - 1), EINVAL);    /* R191 */
    ASSERT_U64_EQ(vs_socket_of(g, dgram)->state, VSOCK_SS_UNCONNECTED);
    ASSERT_RETURNS(vs_connect(g, dgram, SA(storage), sizeof(storage)), 0);
    ASSERT_U64_EQ(vs_socket_of(g, dgram)->state, VSOCK_SS_CONNECTED);
    fixture_destroy(f);
}

/* R3 (datagram sendto from a guest): an address of 15 bytes, or of another family, is
 * ignored: on an unconnected socket the send fails with EINVAL and nothing reaches the
 * socket the address names; once connected, the same calls reach the connected peer and
 * never the named one. The host-side case is test_R185_* in vsock_dgram_test.c. */
static void test_R3_guest_dgram_sendto_ignores_short_or_foreign_address(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    int named = dgram_socket(&f->host);
    ASSERT_RETURNS(bind_to(&f->host, named, VMADDR_CID_ANY, 5300), 0);
    int peer = dgram_socket(&f->host);
    ASSERT_RETURNS(bind_to(&f->host, peer, VMADDR_CID_ANY, 5301), 0);
    struct sockaddr_vm to_named = vm_addr(CID_HOST, 5300);
    struct sockaddr_vm foreign = to_named;
    foreign.svm_family = AF_UNSPEC;
    int fd = dgram_socket(g);
    ASSERT_FAILS(vs_sendto(g, fd, "a", 1, 0, SA(to_named), ADDR_BYTES - 1), EINVAL);
    ASSERT_FAILS(vs_sendto(g, fd, "b", 1, 0, SA(foreign), sizeof(foreign)), EINVAL);
    ASSERT_FAILS(vs_sendto(g, fd, "c", 1, 0, SA(to_named), 0), EINVAL);
    struct sockaddr_vm to_peer = vm_addr(CID_HOST, 5301);
    ASSERT_RETURNS(vs_connect(g, fd, SA(to_peer), sizeof(to_peer)), 0);
    ASSERT_RETURNS(vs_sendto(g, fd, "dd", 2, 0, SA(to_named), ADDR_BYTES - 1), 2);
    ASSERT_RETURNS(vs_sendto(g, fd, "eee", 3, 0, SA(foreign), sizeof(foreign)), 3);
    run_idle(f);
    char buffer[8];
    ASSERT_FAILS(vs_recv(&f->host, named, buffer, sizeof(buffer), 0), EAGAIN);
    ASSERT_RETURNS(vs_recv(&f->host, peer, buffer, sizeof(buffer), 0), 2);
    ASSERT_RETURNS(vs_recv(&f->host, peer, buffer, sizeof(buffer), 0), 3);
    ASSERT_FAILS(vs_recv(&f->host, peer, buffer, sizeof(buffer), 0), EAGAIN);
    fixture_destroy(f);
}

/* getpeername into a POISON-filled 32-byte buffer, offering `offered_bytes` of it (R6). */
static void assert_peername_bytes(struct vs_context *context, int fd, uint32_t offered_bytes,
                                  uint32_t cid, uint32_t port)
{
    uint8_t buffer[32];
    memset(buffer, POISON, sizeof(buffer));
    socklen_t length = offered_bytes;
    ASSERT_RETURNS(vs_getpeername(context, fd, (struct sockaddr *)(void *)buffer, &length), 0);
    assert_address_bytes(buffer, sizeof(buffer), offered_bytes, length, cid, port);
}

/* recvfrom of one message on `fd` into a POISON-filled buffer, offering `offered_bytes`
 * for the address; asserts a 3-byte payload and the address bytes (R6, R188). */
static void assert_recvfrom_bytes(struct vs_context *context, int fd, uint32_t offered_bytes,
                                  uint32_t cid, uint32_t port)
{
    uint8_t from[32];
    memset(from, POISON, sizeof(from));
    socklen_t length = offered_bytes;
    char payload[8];
    ASSERT_RETURNS(vs_recvfrom(context, fd, payload, sizeof(payload), 0,
                               (struct sockaddr *)(void *)from, &length), 3);
    assert_address_bytes(from, sizeof(from), offered_bytes, length, cid, port);
}

/* R6 (accept, getpeername, recvfrom on a stream): the peer address is 16 bytes, family
 * 40, reserved and padding bytes 0, with nothing written past 16 bytes of a longer buffer
 * and only the offered bytes of a shorter one (length still 16). Both directions. */
static void test_R6_accept_and_getpeername_addresses_byte_by_byte(void)
{
    struct fixture *f = fixture_create();
    int listen_fd = listener(&f->host, 5400, 4);
    int client = stream_socket(&f->guest_a);
    ASSERT_RETURNS(bind_to(&f->guest_a, client, VMADDR_CID_ANY, 0x0102A0B0u), 0);
    CU_ASSERT_EQUAL_FATAL(plain_connect(f, &f->guest_a, client, CID_HOST, 5400), 0);
    uint8_t buffer[32];
    memset(buffer, POISON, sizeof(buffer));
    socklen_t length = sizeof(buffer);
    int child = vs_accept(&f->host, listen_fd, (struct sockaddr *)(void *)buffer, &length);
    CU_ASSERT_FATAL(child >= VS_FD_FIRST);
    assert_address_bytes(buffer, sizeof(buffer), sizeof(buffer), length, CID_A, 0x0102A0B0u);
    assert_peername_bytes(&f->host, child, 32, CID_A, 0x0102A0B0u);
    assert_peername_bytes(&f->host, child, 8, CID_A, 0x0102A0B0u);
    assert_peername_bytes(&f->guest_a, client, 32, CID_HOST, 5400);
    assert_peername_bytes(&f->guest_a, client, 16, CID_HOST, 5400);
    ASSERT_RETURNS(vs_send(&f->host, child, "abc", 3, 0), 3);
    run_idle(f);
    assert_recvfrom_bytes(&f->guest_a, client, 32, CID_HOST, 5400);            /* stream */
    int guest_listener = listener(&f->guest_a, 5401, 4);
    int host_client = stream_socket(&f->host);
    CU_ASSERT_EQUAL_FATAL(plain_connect(f, &f->host, host_client, CID_A, 5401), 0);
    memset(buffer, POISON, sizeof(buffer));
    length = 12;
    child = vs_accept(&f->guest_a, guest_listener, (struct sockaddr *)(void *)buffer, &length);
    CU_ASSERT_FATAL(child >= VS_FD_FIRST);
    assert_address_bytes(buffer, sizeof(buffer), 12, length, CID_HOST, 1024);
    fixture_destroy(f);
}

/* R6 (recvfrom, getsockname of a datagram socket): the source address of a datagram is
 * written byte by byte like every returned address, guest -> host and host -> guest,
 * with long, exact and short address buffers. */
static void test_R6_recvfrom_address_byte_by_byte(void)
{
    struct fixture *f = fixture_create();
    int host_fd = dgram_socket(&f->host);
    ASSERT_RETURNS(bind_to(&f->host, host_fd, VMADDR_CID_ANY, 0xBEEF01u), 0);
    int guest_fd = dgram_socket(&f->guest_a);
    ASSERT_RETURNS(bind_to(&f->guest_a, guest_fd, VMADDR_CID_ANY, 0x7654321u), 0);
    struct sockaddr_vm to_host = vm_addr(CID_HOST, 0xBEEF01u);
    struct sockaddr_vm to_guest = vm_addr(CID_A, 0x7654321u);
    for (int round = 0; round < 3; round++) {
        ASSERT_RETURNS(vs_sendto(&f->guest_a, guest_fd, "abc", 3, 0, SA(to_host),
                                 sizeof(to_host)), 3);
        ASSERT_RETURNS(vs_sendto(&f->host, host_fd, "xyz", 3, 0, SA(to_guest),
                                 sizeof(to_guest)), 3);
    }
    run_idle(f);
    const uint32_t offered[3] = { 32, 16, 6 };
    for (int round = 0; round < 3; round++) {
        assert_recvfrom_bytes(&f->host, host_fd, offered[round], CID_A, 0x7654321u);
        assert_recvfrom_bytes(&f->guest_a, guest_fd, offered[round], CID_HOST, 0xBEEF01u);
    }
    uint8_t name[32];
    memset(name, POISON, sizeof(name));
    socklen_t length = sizeof(name);
    ASSERT_RETURNS(vs_getsockname(&f->guest_a, guest_fd, (struct sockaddr *)(void *)name,
                                  &length), 0);
    assert_address_bytes(name, sizeof(name), sizeof(name), length, VMADDR_CID_ANY, 0x7654321u);
    fixture_destroy(f);
}

/* ---- 2.2 CIDs -------------------------------------------------------------------------- */

static struct vs_world *world_create(const char *product, const struct vmci_vm_config *vms,
                                     uint32_t vm_count, const struct sim_trace_sink *sinks,
                                     uint32_t sink_count)
{
    struct vs_world_config config = { .product = product, .seed = SEED, .vm_count = vm_count,
                                      .vms = vms, .sinks = sinks, .sink_count = sink_count };
    char message[VS_WORLD_MESSAGE_BYTES_MAX] = "";
    struct vs_world *world = vs_world_create(&config, message, sizeof(message));
    if (world == NULL)
        fprintf(stderr, "vs_world_create(%s): %s\n", product, message);
    CU_ASSERT_PTR_NOT_NULL_FATAL(world);
    return world;
}

static void cid_of_caller_body(struct vs_context *context, void *arg)
{
    (void)context;
    *(uint32_t *)arg = VMCISock_GetLocalCID();
}

/* R7 on one product: the host kernel and its processes have CID 2; a VM that asks for
 * CID 2 is moved to 16 (R8), so no VM ever shares it; the host binds CID 2 only (R17). */
static void assert_host_is_cid_2(const char *product)
{
    const struct vmci_vm_config vm = { .name = "asks-2", .requested_cid = CID_HOST,
                                       .hw_version = 13, .domain = "", .owner = "user" };
    struct vs_world *world = world_create(product, &vm, 1, NULL, 0);
    ASSERT_U64_EQ(world->host.cid, CID_HOST);
    ASSERT_U64_EQ(world->vms[0].cid, VMCI_RESERVED_CID_LIMIT);
    struct vs_context host;
    CU_ASSERT_EQUAL_FATAL(vs_world_context_init(world, &host, CID_HOST), 0);
    ASSERT_U64_EQ(vs_local_cid(&host), CID_HOST);
    uint32_t seen = 0;
    CU_ASSERT_EQUAL_FATAL(vs_spawn(&host, "probe", cid_of_caller_body, &seen, false), 0);
    CU_ASSERT_EQUAL(vs_world_run(world, SIM_TIME_NEVER), SIM_STOP_IDLE);
    ASSERT_U64_EQ(seen, CID_HOST);
    int fd = stream_socket(&host);
    ASSERT_FAILS(bind_to(&host, fd, VMCI_RESERVED_CID_LIMIT, 5500), EADDRNOTAVAIL);
    ASSERT_RETURNS(bind_to(&host, fd, CID_HOST, 5500), 0);
    ASSERT_U64_EQ(name_of(&host, fd, false).svm_cid, CID_HOST);
    vs_context_destroy(&host);
    vs_world_destroy(world);
}

/* R7: host processes have CID 2 on ESXi and on hosted products (Linux, Mac hosts), and a
 * guest sees its host peer as CID 2 (accept and getpeername). */
static void test_R7_host_processes_have_cid_2_on_every_product(void)
{
    const char *products[] = { "esxi-6.5", "esxi-5.0", "workstation-9", "server-2.0",
                               "fusion-5" };
    for (size_t index = 0; index < sizeof(products) / sizeof(products[0]); index++)
        assert_host_is_cid_2(products[index]);
    struct fixture *f = fixture_create();
    int client, server;
    connected_pair(f, &f->host, &f->guest_a, 5501, &client, &server);
    ASSERT_U64_EQ(name_of(&f->guest_a, server, true).svm_cid, CID_HOST);
    ASSERT_U64_EQ(name_of(&f->host, client, false).svm_cid, CID_HOST);
    fixture_destroy(f);
}

/* R8: collisions move a VM to max(cid, 15) + 1, wrapping from 0xFFFFFFFF to 16, and
 * each reassignment is traced with the requested and the chosen CID; requests below 16
 * end at 16 or above; a generated CID (D15) is >= 16, < 2^31 and collides with nothing. */
static void test_R8_colliding_cid_wraps_from_ffffffff_to_16(void)
{
    struct vmci_log *log = calloc(1, sizeof(*log));
    CU_ASSERT_PTR_NOT_NULL_FATAL(log);
    struct sim_trace_sink sink = vmci_log_sink(log);
    const uint32_t requested[6] = { CID_TOP, CID_TOP, CID_TOP, 3, 17, VMCI_INVALID_ID };
    const uint32_t expected[5] = { CID_TOP, 16, 17, 18, 19 };
    static const char *const names[6] = { "vm0", "vm1", "vm2", "vm3", "vm4", "vm5" };
    struct vmci_vm_config vms[6];
    for (int index = 0; index < 6; index++) {
        vms[index] = (struct vmci_vm_config){ .name = names[index],
                                              .requested_cid = requested[index],
                                              .hw_version = 13, .domain = "",
                                              .owner = "user" };
    }
    struct vs_world *world = world_create("esxi-6.5", vms, 6, &sink, 1);
    for (int index = 0; index < 5; index++) {
        ASSERT_U64_EQ(world->vms[index].cid, expected[index]);
        CU_ASSERT_PTR_NOT_NULL(vmci_hypervisor_guest(world->hypervisor, expected[index]));
    }
    uint32_t generated = world->vms[5].cid;
    CU_ASSERT(generated >= VMCI_RESERVED_CID_LIMIT && generated < (1u << 31));
    for (int index = 0; index < 5; index++)
        CU_ASSERT(generated != expected[index]);
    ASSERT_U64_EQ(vmci_log_count(log, 0, "cid_reassigned", 16), 1);
    ASSERT_U64_EQ(vmci_log_first(log, 0, "cid_reassigned", 16)->requested, CID_TOP);
    ASSERT_U64_EQ(vmci_log_first(log, 0, "cid_reassigned", 18)->requested, 3);
    ASSERT_U64_EQ(vmci_log_first(log, 0, "cid_reassigned", 19)->requested, 17);
    ASSERT_U64_EQ(vmci_log_count(log, 0, "cid_reassigned", CID_TOP), 0);
    ASSERT_U64_EQ(vmci_log_count(log, 0, "cid_reassigned", generated), 0);
    struct vs_context guest;
    CU_ASSERT_EQUAL_FATAL(vs_world_context_init(world, &guest, 16), 0);
    ASSERT_U64_EQ(vs_local_cid(&guest), 16);
    vs_context_destroy(&guest);
    ASSERT_U64_EQ(log->dropped, 0);
    vs_world_destroy(world);
    free(log);
}

/* Runs `source` as a quiet scenario (seed 1) and returns the outcome. */
static struct simlua_outcome run_scenario(const char *source)
{
    struct simlua_outcome outcome;
    test_run_lua_source(source, &outcome);
    return outcome;
}

/* R8: the chosen CID is written back to vmci0.id also when it was generated (D15) or
 * wrapped to 16, and the write-back is what a later power-on uses: the VM comes back with
 * the same generated CID; if another VM has taken it meanwhile, with the next free one,
 * written back again. The scenario's checks are sim.expect; the last line proves they ran. */
static void test_R8_generated_cid_is_written_back_and_reused(void)
{
    struct simlua_outcome outcome = run_scenario(
        "local sim = require('vmcisim')\nlocal w = sim.world{}\n"
        "local top = w:vm{ name = 'top', vmx = { ['vmci0.id'] = '4294967294' } }\n"
        "local wrapped = w:vm{ name = 'wrapped', vmx = { ['vmci0.id'] = '4294967294' } }\n"
        "sim.expect(top.cid == 4294967294 and wrapped.cid == 16, 'R8: wrap to 16')\n"
        "sim.expect(wrapped:vmx('vmci0.id') == '16', 'R8: wrapped CID written back')\n"
        "local d = w:vm{ name = 'd' }\nlocal generated = d.cid\n"
        "sim.expect(generated >= 17 and generated < 2147483648, 'D15: generated range')\n"
        "sim.expect(d:vmx('vmci0.id') == tostring(generated), 'R8: generated written back')\n"
        "local cycled = false\n"
        "w:host():spawn('cycle', function(p)\n"
        "  p:sleep(sim.ms(10))\n  d:power_off()\n  d:power_on()\n"
        "  sim.expect(d.cid == generated, 'R8: power-on reuses the written-back CID')\n"
        "  p:sleep(sim.ms(10))\n  d:power_off()\n"
        "  w:vm{ name = 'thief', vmx = { ['vmci0.id'] = tostring(generated) } }\n"
        "  d:power_on()\n"
        "  sim.expect(d.cid == generated + 1, 'R8: taken meanwhile: next free CID')\n"
        "  sim.expect(d:vmx('vmci0.id') == tostring(generated + 1), 'R8: written back again')\n"
        "  cycled = true\nend)\n"
        "w:run()\nsim.expect(cycled, 'the power cycles ran')\n");
    ASSERT_U64_EQ(outcome.failure_count, 0);
    ASSERT_U64_EQ(outcome.exit_code, SIMLUA_EXIT_PASS);
}

/* R9: "a VM" iff the CID is not 0xFFFFFFFF and is above 2 (defs.h VMCI_CONTEXT_IS_VM):
 * boundaries 0, 1, 2 | 3 (a VM by the predicate although R8 never assigns it), 15, 16,
 * 0xFFFFFFFE | 0xFFFFFFFF. In a world, the hypervisor gives a guest kernel and a device
 * for VM CIDs only: none for the hypervisor, CID 1, the host or ANY. */
static void test_R9_context_is_vm_iff_not_any_and_above_2(void)
{
    const uint32_t not_vm[4] = { VMCI_HYPERVISOR_CONTEXT_ID, VMCI_WELL_KNOWN_CONTEXT_ID,
                                 VMCI_HOST_CONTEXT_ID, VMCI_INVALID_ID };
    const uint32_t vm[6] = { 3, 15, VMCI_RESERVED_CID_LIMIT, CID_A, 0x80000000u, CID_TOP };
    for (int index = 0; index < 4; index++)
        ASSERT_U64_EQ(vmci_context_is_vm(not_vm[index]), false);
    for (int index = 0; index < 6; index++)
        ASSERT_U64_EQ(vmci_context_is_vm(vm[index]), true);
    struct fixture *f = fixture_create();
    for (int index = 0; index < 4; index++) {
        CU_ASSERT_PTR_NULL(vmci_hypervisor_guest(f->world->hypervisor, not_vm[index]));
        CU_ASSERT_PTR_NULL(vmci_hypervisor_device(f->world->hypervisor, not_vm[index]));
    }
    CU_ASSERT_PTR_NOT_NULL(vmci_hypervisor_guest(f->world->hypervisor, CID_A));
    CU_ASSERT_PTR_NOT_NULL(vmci_hypervisor_device(f->world->hypervisor, CID_B));
    fixture_destroy(f);
}

/* R10 (with R111's order and R19): a stream connect() to CID 1 fails with ENETUNREACH from
 * the host and from a guest, blocking or not, whatever the port; it is refused before the
 * auto-bind (the socket stays {ANY, ANY}, unconnected) and sends no control packet; the
 * socket can then connect normally. A datagram connect() to CID 1 is not refused (R191):
 * R10 is about streams. */
static void test_R10_stream_connect_to_cid_1_is_enetunreach_before_auto_bind(void)
{
    struct packet_log *log = calloc(1, sizeof(*log));
    CU_ASSERT_PTR_NOT_NULL_FATAL(log);
    struct sim_trace_sink sink = packet_log_sink(log);
    struct fixture *f = fixture_create_with(SEED, &sink, 1);
    struct vs_context *contexts[2] = { &f->host, &f->guest_a };
    const uint32_t ports[3] = { 5600, 0, VMADDR_PORT_ANY };
    for (int index = 0; index < 2; index++) {
        struct vs_context *c = contexts[index];
        int fd = stream_socket(c);
        int nonblocking = vs_socket(c, AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK, 0);
        for (int port = 0; port < 3; port++) {
            struct sockaddr_vm local = vm_addr(VMADDR_CID_LOCAL, ports[port]);
            ASSERT_FAILS(vs_connect(c, fd, SA(local), sizeof(local)), ENETUNREACH);
            ASSERT_FAILS(vs_connect(c, nonblocking, SA(local), sizeof(local)), ENETUNREACH);
        }
        struct sockaddr_vm name = name_of(c, fd, false);
        ASSERT_U64_EQ(name.svm_cid, VMADDR_CID_ANY);
        ASSERT_U64_EQ(name.svm_port, VMADDR_PORT_ANY);                          /* no R19 */
        ASSERT_U64_EQ(vs_socket_of(c, fd)->state, VSOCK_SS_UNCONNECTED);
        ASSERT_U64_EQ(vs_socket_of(c, nonblocking)->tcp, VSOCK_TCP_CLOSE);
        int dgram = dgram_socket(c);
        struct sockaddr_vm local = vm_addr(VMADDR_CID_LOCAL, 5600);
        ASSERT_RETURNS(vs_connect(c, dgram, SA(local), sizeof(local)), 0);
    }
    run_idle(f);
    ASSERT_U64_EQ(log->count, 0);                        /* no packet was ever sent */
    listener(&f->host, 5601, 4);
    int retry = stream_socket(&f->guest_a);
    struct sockaddr_vm local = vm_addr(VMADDR_CID_LOCAL, 5601);
    ASSERT_FAILS(vs_connect(&f->guest_a, retry, SA(local), sizeof(local)), ENETUNREACH);
    ASSERT_U64_EQ(plain_connect(f, &f->guest_a, retry, CID_HOST, 5601), 0);
    ASSERT_U64_EQ(packets_count(log, 0, CID_A, "REQUEST2"), 1);
    fixture_destroy(f);
    free(log);
}

/* ---- 2.3 Ports ----------------------------------------------------------------------------- */

/* R13: a socket is bound iff its port is not ANY. A fresh socket of either type is
 * {ANY, ANY}; listen() refuses it (unbound, R105). Binding with port ANY never leaves the
 * port ANY: the socket is then bound (listen() works, a second bind() is EINVAL, R18) and
 * found by its port; the requested CID is kept (R104). */
static void test_R13_bound_iff_port_is_not_any(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    int stream = stream_socket(g);
    int dgram = dgram_socket(g);
    for (int index = 0; index < 2; index++) {
        int fd = index == 0 ? stream : dgram;
        struct sockaddr_vm name = name_of(g, fd, false);
        ASSERT_U64_EQ(name.svm_cid, VMADDR_CID_ANY);
        ASSERT_U64_EQ(name.svm_port, VMADDR_PORT_ANY);
    }
    ASSERT_FAILS(vs_listen(g, stream, 4), EINVAL);
    ASSERT_RETURNS(bind_to(g, stream, CID_A, VMADDR_PORT_ANY), 0);
    struct sockaddr_vm name = name_of(g, stream, false);
    ASSERT_U64_EQ(name.svm_cid, CID_A);
    ASSERT_U64_EQ(name.svm_port, 1024);
    struct vsock_addr bound = { CID_A, 1024 };
    CU_ASSERT_PTR_EQUAL(vsock_find_bound(g->stack, VSOCK_TYPE_STREAM, &bound),
                        vs_socket_of(g, stream));
    ASSERT_FAILS(bind_to(g, stream, VMADDR_CID_ANY, VMADDR_PORT_ANY), EINVAL);
    ASSERT_RETURNS(vs_listen(g, stream, 4), 0);
    ASSERT_RETURNS(bind_to(g, dgram, VMADDR_CID_ANY, VMADDR_PORT_ANY), 0);
    name = name_of(g, dgram, false);
    ASSERT_U64_EQ(name.svm_cid, VMADDR_CID_ANY);
    ASSERT_U64_EQ(name.svm_port, 1024);                                         /* R15 */
    ASSERT_FAILS(bind_to(g, dgram, VMADDR_CID_ANY, VMADDR_PORT_ANY), EINVAL);
    fixture_destroy(f);
}

/* R13 (with R149, R150, R154): an unbound socket is not a bound socket, so a control
 * packet addressed to port 0xFFFFFFFF finds no socket and is answered with RST; it must
 * not reach a fresh socket, whose local address stays {ANY, ANY} (R154 would otherwise
 * fix its CID). Method: a hand-made REQUEST2 from VM 100 to the host's port ANY while
 * the host has a fresh stream socket. */
static void test_R13_packet_to_port_any_finds_no_unbound_socket(void)
{
    struct packet_log *log = calloc(1, sizeof(*log));
    CU_ASSERT_PTR_NOT_NULL_FATAL(log);
    struct sim_trace_sink sink = packet_log_sink(log);
    struct fixture *f = fixture_create_with(SEED, &sink, 1);
    int fresh = stream_socket(&f->host);
    struct vsock_addr any_any = { VSOCK_CID_ANY, VSOCK_PORT_ANY };
    CU_ASSERT_PTR_NULL(vsock_find_bound(f->host.stack, VSOCK_TYPE_STREAM, &any_any));
    struct injected_packet request = injected_packet_make(CID_HOST, VSOCK_PACKET_REQUEST2,
                                                          6200, VMADDR_PORT_ANY);
    request.proto = 1;
    request.u0 = QUEUE_BYTES;
    uint32_t from = log->count;
    CU_ASSERT(fixture_inject_packet(f, CID_A, &request) >= 0);
    run_idle(f);
    ASSERT_U64_EQ(packets_count(log, from, CID_HOST, "RST"), 1);               /* R150 */
    ASSERT_U64_EQ(packets_from(log, from, CID_HOST), 1);
    struct sockaddr_vm name = name_of(&f->host, fresh, false);
    ASSERT_U64_EQ(name.svm_cid, VMADDR_CID_ANY);
    ASSERT_U64_EQ(name.svm_port, VMADDR_PORT_ANY);
    ASSERT_U64_EQ(vs_socket_of(&f->host, fresh)->tcp, VSOCK_TCP_CLOSE);
    fixture_destroy(f);
    free(log);
}

/* R14: the counter is reset to 1024 when it reaches 0xFFFFFFFF (PORT_ANY is never a
 * port) or is <= 1023, and the reset candidate still skips bound ports. Reaching
 * 0xFFFFFFFF by binding would take 2^32 binds, so the test sets the host stack's
 * next_port to 0xFFFFFFFE (and later to 7) directly. */
static void test_R14_port_counter_resets_to_1024_at_port_any(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *h = &f->host;
    int fds[4];
    for (int index = 0; index < 4; index++)
        fds[index] = stream_socket(h);
    h->stack->next_port = 0xFFFFFFFEu;
    ASSERT_RETURNS(bind_to(h, fds[0], VMADDR_CID_ANY, VMADDR_PORT_ANY), 0);
    ASSERT_U64_EQ(name_of(h, fds[0], false).svm_port, 0xFFFFFFFEu);
    ASSERT_U64_EQ(h->stack->next_port, VMADDR_PORT_ANY);
    ASSERT_RETURNS(bind_to(h, fds[1], VMADDR_CID_ANY, VMADDR_PORT_ANY), 0);
    ASSERT_U64_EQ(name_of(h, fds[1], false).svm_port, 1024);
    ASSERT_U64_EQ(h->stack->next_port, 1025);
    h->stack->next_port = 7;
    ASSERT_RETURNS(bind_to(h, fds[2], VMADDR_CID_ANY, VMADDR_PORT_ANY), 0);
    ASSERT_U64_EQ(name_of(h, fds[2], false).svm_port, 1025);                   /* 1024 taken */
    h->stack->next_port = VMADDR_PORT_ANY;
    listener(&f->guest_a, 5700, 4);
    CU_ASSERT_EQUAL(plain_connect(f, h, fds[3], CID_A, 5700), 0);              /* R19 */
    ASSERT_U64_EQ(name_of(h, fds[3], false).svm_port, 1026);
    fixture_destroy(f);
}

/* R19 (stream): connect() on an unbound socket binds it to {ANY, ANY} with the stream
 * counter of R14 (skipping a port bound explicitly), also when the connect then fails
 * (ECONNRESET, no listener); a bound socket keeps its port. The port spaces are separate
 * (R15): a datagram connect() auto-binds to RID 1024 while stream port 1024 is bound. */
static void test_R19_stream_connect_auto_binds_from_the_stream_counter(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    listener(&f->host, 5800, 4);
    int explicit_fd = stream_socket(g);
    ASSERT_RETURNS(bind_to(g, explicit_fd, VMADDR_CID_ANY, 1024), 0);
    int dgram = dgram_socket(g);
    struct sockaddr_vm host = vm_addr(CID_HOST, 5800);
    ASSERT_RETURNS(vs_connect(g, dgram, SA(host), sizeof(host)), 0);
    ASSERT_U64_EQ(name_of(g, dgram, false).svm_port, 1024);                     /* R15 */
    int refused = stream_socket(g);
    ASSERT_U64_EQ(plain_connect(f, g, refused, CID_HOST, 5899), ECONNRESET);
    ASSERT_U64_EQ(name_of(g, refused, false).svm_port, 1025);
    int client = stream_socket(g);
    ASSERT_U64_EQ(plain_connect(f, g, client, CID_HOST, 5800), 0);
    struct sockaddr_vm name = name_of(g, client, false);
    ASSERT_U64_EQ(name.svm_port, 1026);
    ASSERT_U64_EQ(name.svm_cid, CID_A);                                         /* R115 */
    ASSERT_U64_EQ(plain_connect(f, g, explicit_fd, CID_HOST, 5800), 0);
    ASSERT_U64_EQ(name_of(g, explicit_fd, false).svm_port, 1024);               /* kept */
    fixture_destroy(f);
}

/* R19 (datagram): connect() and sendto() on an unbound datagram socket bind it to
 * {ANY, ANY}: the local CID stays ANY (an ANY-CID handle, R16) and the port is the next
 * RID (R15, R23); a reply addressed to the guest's real CID and that port arrives. */
static void test_R19_dgram_connect_and_sendto_auto_bind_to_any_any(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    int host_fd = dgram_socket(&f->host);
    ASSERT_RETURNS(bind_to(&f->host, host_fd, VMADDR_CID_ANY, 5900), 0);
    struct sockaddr_vm to_host = vm_addr(CID_HOST, 5900);
    int connected = dgram_socket(g);
    ASSERT_RETURNS(vs_connect(g, connected, SA(to_host), sizeof(to_host)), 0);
    struct sockaddr_vm name = name_of(g, connected, false);
    ASSERT_U64_EQ(name.svm_cid, VMADDR_CID_ANY);
    ASSERT_U64_EQ(name.svm_port, 1024);
    int sender = dgram_socket(g);
    ASSERT_RETURNS(vs_sendto(g, sender, "ping", 4, 0, SA(to_host), sizeof(to_host)), 4);
    name = name_of(g, sender, false);
    ASSERT_U64_EQ(name.svm_cid, VMADDR_CID_ANY);
    ASSERT_U64_EQ(name.svm_port, 1025);
    run_idle(f);
    struct sockaddr_vm from;
    socklen_t length = sizeof(from);
    char buffer[8];
    ASSERT_RETURNS(vs_recvfrom(&f->host, host_fd, buffer, sizeof(buffer), 0, SA(from),
                               &length), 4);
    ASSERT_U64_EQ(from.svm_cid, CID_A);
    ASSERT_U64_EQ(from.svm_port, 1025);
    ASSERT_RETURNS(vs_sendto(&f->host, host_fd, "pong", 4, 0, SA(from), sizeof(from)), 4);
    run_idle(f);
    ASSERT_RETURNS(vs_recv(g, sender, buffer, sizeof(buffer), 0), 4);
    CU_ASSERT_NSTRING_EQUAL(buffer, "pong", 4);
    fixture_destroy(f);
}

/* ---- 2.4 Resource IDs ------------------------------------------------------------------- */

/* Closes one end of a connected pair and runs the world: the other side's kernel gets
 * QP_PEER_DETACH (R171), an event datagram. */
static void close_one_end(struct fixture *f, struct vs_context *closer, int fd)
{
    ASSERT_RETURNS(vs_close(closer, fd), 0);
    run_idle(f);
}

/* R20, R21, R64: hypervisor events reach RID 0 of the host as well as of a guest, and
 * come from {0, 0}. Method: close the guest's end of a stream (the host's kernel gets
 * QP_PEER_DETACH), then the host's end of another (the guest's kernel gets it); the
 * VMCI trace's event deliveries are all {0, 0} -> {ctx, 0}, 48 bytes. */
static void test_R20_R21_events_reach_rid_0_of_host_and_guest_from_0_0(void)
{
    struct vmci_log *log = calloc(1, sizeof(*log));
    CU_ASSERT_PTR_NOT_NULL_FATAL(log);
    struct sim_trace_sink sink = vmci_log_sink(log);
    struct fixture *f = fixture_create_with(SEED, &sink, 1);
    int client, server;
    connected_pair(f, &f->guest_a, &f->host, 6000, &client, &server);
    uint32_t from = log->count;
    close_one_end(f, &f->guest_a, client);
    ASSERT_U64_EQ(vmci_log_count(log, from, "event_deliver", CID_HOST), 1);
    ASSERT_U64_EQ(vmci_log_count(log, from, "event_deliver", CID_A), 0);
    connected_pair(f, &f->host, &f->guest_a, 6001, &client, &server);
    uint32_t second = log->count;
    close_one_end(f, &f->host, client);
    ASSERT_U64_EQ(vmci_log_count(log, second, "event_deliver", CID_A), 1);
    ASSERT_U64_EQ(vmci_log_count(log, second, "event_deliver", CID_HOST), 0);
    uint32_t deliveries = 0;
    for (uint32_t index = 0; index < log->count; index++) {
        const struct vmci_record *record = &log->records[index];
        if (strcmp(record->kind, "event_deliver") != 0)
            continue;
        deliveries++;
        ASSERT_U64_EQ(record->src_cid, VMCI_HYPERVISOR_CONTEXT_ID);             /* R21 */
        ASSERT_U64_EQ(record->src_rid, VMCI_CONTEXT_RESOURCE_ID);
        ASSERT_U64_EQ(record->dst_rid, VMCI_EVENT_HANDLER);                      /* R20 */
        ASSERT_U64_EQ(record->size, QP_EVENT_DG_BYTES);
    }
    CU_ASSERT(deliveries >= 2);
    ASSERT_U64_EQ(log->dropped, 0);
    fixture_destroy(f);
    free(log);
}

/* R22: control packets go from RID 1 to RID 1, except toward the hypervisor, where the
 * destination RID is 15. A guest's connect() to CID 0 sends its REQUEST2 {100, 1} ->
 * {0, 15}, which the hypervisor accepts and never answers (services.c, like D12's port
 * 14), so the connect times out (ETIMEDOUT, R114); the host's REQUEST2 to {0, 15} is
 * refused by the router (R54: DEVICE_NOT_FOUND, mapped to EINVAL by R63). */
static void test_R22_control_packets_use_rid_1_and_rid_15_toward_cid_0(void)
{
    struct vmci_log *log = calloc(1, sizeof(*log));
    CU_ASSERT_PTR_NOT_NULL_FATAL(log);
    struct sim_trace_sink sink = vmci_log_sink(log);
    struct fixture *f = fixture_create_with(SEED, &sink, 1);
    listener(&f->host, 6100, 4);
    uint32_t from = log->count;
    int client = stream_socket(&f->guest_a);
    ASSERT_U64_EQ(plain_connect(f, &f->guest_a, client, CID_HOST, 6100), 0);
    const struct vmci_record *request = vmci_log_first(log, from, "dg_route", CID_A);
    ASSERT_U64_EQ(request->src_rid, VMCI_TRANSPORT_PACKET_RID);
    ASSERT_U64_EQ(request->dst_cid, CID_HOST);
    ASSERT_U64_EQ(request->dst_rid, VMCI_TRANSPORT_PACKET_RID);
    from = log->count;
    struct connect_result result;
    ASSERT_U64_EQ(fiber_connect(f, &f->guest_a, VMADDR_CID_HYPERVISOR, 6100, &result),
                  ETIMEDOUT);
    ASSERT_U64_EQ(result.ended_ns - result.started_ns, CONNECT_TIMEOUT_NS);
    ASSERT_U64_EQ(vmci_log_count(log, from, "dg_route", CID_A), 1);
    request = vmci_log_first(log, from, "dg_route", CID_A);
    ASSERT_U64_EQ(request->src_cid, CID_A);
    ASSERT_U64_EQ(request->src_rid, VMCI_TRANSPORT_PACKET_RID);
    ASSERT_U64_EQ(request->dst_cid, VMCI_HYPERVISOR_CONTEXT_ID);
    ASSERT_U64_EQ(request->dst_rid, VMCI_TRANSPORT_HYPERVISOR_PACKET_RID);
    ASSERT_U64_EQ(request->result, CONTROL_PACKET_DG_BYTES);
    from = log->count;
    int host_fd = stream_socket(&f->host);
    struct sockaddr_vm hypervisor = vm_addr(VMADDR_CID_HYPERVISOR, 6100);
    ASSERT_FAILS(vs_connect(&f->host, host_fd, SA(hypervisor), sizeof(hypervisor)), EINVAL);
    request = vmci_log_first(log, from, "dg_route", CID_HOST);
    ASSERT_U64_EQ(request->src_rid, VMCI_TRANSPORT_PACKET_RID);
    ASSERT_U64_EQ(request->dst_rid, VMCI_TRANSPORT_HYPERVISOR_PACKET_RID);
    ASSERT_U64_EQ(request->result, VMCI_ERROR_DEVICE_NOT_FOUND);
    ASSERT_U64_EQ(vs_socket_of(&f->host, host_fd)->state, VSOCK_SS_UNCONNECTED);   /* R111 */
    ASSERT_U64_EQ(log->dropped, 0);
    fixture_destroy(f);
    free(log);
}

/* R23: the RID counter skips from 0xFFFFFFFF back to 1024: 0xFFFFFFFE is still handed
 * out, 0xFFFFFFFF (ANY) never is, and after the wrap used RIDs are skipped. Counting
 * there would take 2^32 allocations, so the test sets the guest kernel's counter
 * (struct vmci_kernel.rid_next, vmci/vmci_int.h) to 0xFFFFFFFE directly. */
static void test_R23_rid_counter_wraps_from_ffffffff_to_1024(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    int taken = dgram_socket(g);
    ASSERT_RETURNS(bind_to(g, taken, VMADDR_CID_ANY, 1024), 0);
    struct vmci_kernel *kernel = vs_world_kernel(f->world, CID_A)->kernel;
    kernel->rid_next = CID_TOP;
    int fds[3];
    for (int index = 0; index < 3; index++) {
        fds[index] = dgram_socket(g);
        ASSERT_RETURNS(bind_to(g, fds[index], VMADDR_CID_ANY, VMADDR_PORT_ANY), 0);
    }
    ASSERT_U64_EQ(name_of(g, fds[0], false).svm_port, CID_TOP);
    ASSERT_U64_EQ(name_of(g, fds[1], false).svm_port, 1025);                   /* 1024 taken */
    ASSERT_U64_EQ(name_of(g, fds[2], false).svm_port, 1026);
    int host_fd = dgram_socket(&f->host);
    ASSERT_RETURNS(bind_to(&f->host, host_fd, VMADDR_CID_ANY, VMADDR_PORT_ANY), 0);
    ASSERT_U64_EQ(name_of(&f->host, host_fd, false).svm_port, 1024);            /* D13 */
    fixture_destroy(f);
}

CU_ErrorCode vsock_address_rules_suite_add(void)
{
    static const struct test_entry tests[] = {
        TEST_ENTRY(test_R3_address_length_boundary_is_16_bytes),
        TEST_ENTRY(test_R3_guest_dgram_sendto_ignores_short_or_foreign_address),
        TEST_ENTRY(test_R6_accept_and_getpeername_addresses_byte_by_byte),
        TEST_ENTRY(test_R6_recvfrom_address_byte_by_byte),
        TEST_ENTRY(test_R7_host_processes_have_cid_2_on_every_product),
        TEST_ENTRY(test_R8_colliding_cid_wraps_from_ffffffff_to_16),
        TEST_ENTRY(test_R8_generated_cid_is_written_back_and_reused),
        TEST_ENTRY(test_R9_context_is_vm_iff_not_any_and_above_2),
        TEST_ENTRY(test_R10_stream_connect_to_cid_1_is_enetunreach_before_auto_bind),
        TEST_ENTRY(test_R13_bound_iff_port_is_not_any),
        TEST_ENTRY(test_R13_packet_to_port_any_finds_no_unbound_socket),
        TEST_ENTRY(test_R14_port_counter_resets_to_1024_at_port_any),
        TEST_ENTRY(test_R19_stream_connect_auto_binds_from_the_stream_counter),
        TEST_ENTRY(test_R19_dgram_connect_and_sendto_auto_bind_to_any_any),
        TEST_ENTRY(test_R20_R21_events_reach_rid_0_of_host_and_guest_from_0_0),
        TEST_ENTRY(test_R22_control_packets_use_rid_1_and_rid_15_toward_cid_0),
        TEST_ENTRY(test_R23_rid_counter_wraps_from_ffffffff_to_1024),
    };
    return test_suite_register("vsock_address_rules", tests, sizeof(tests) / sizeof(tests[0]));
}
