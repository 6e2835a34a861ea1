/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/vsock_dgram_test.c: datagram sockets through the C API
 * (vsock/vmci_sockets.h) over the socket core and the VMCI datagram transport
 * (reference section 8, R185-R194, and the datagram side of section 2: R11, R12,
 * R15, R22; with R58, R63, R153, D1, D8, D12, D13).
 *
 * World: esxi-6.5 (D2's default), the host and two restricted VMs with CIDs 100 and
 * 200 (vsock/vs_world.h). Host processes are trusted by default (D1), so host <->
 * guest datagrams flow; guest <-> guest datagrams are refused by the hypervisor (R51,
 * R197; a guest's own R153 check sees no other context's flags, D17). Extra
 * processes: a privileged one (net_bind_service, R12) on the host and in VM 100, and
 * an untrusted one on the host (D1's `trusted = false`).
 *
 * Most tests use plain calls, which never wait (a call that would block fails with
 * EAGAIN, architecture.md); the engine then runs until idle to deliver what was sent
 * (into a guest: its device's DATA_IN). Tests of blocking receives run on fibers.
 *
 * The C API has no recvmsg(), so the flags a receive returns (R188: MSG_TRUNC) are read
 * from the core's recv call (vsock_recv, the call vs_recvfrom makes) on the socket
 * behind the descriptor, as the Lua binding reads them.
 *
 * Each test is named after the rule it checks and asserts the exact errno or value the
 * reference gives (D3), written from the reference, not from the code.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <CUnit/CUnit.h>

#include "sim/engine/engine.h"
#include "sim/engine/fiber.h"
#include "sim/engine/rng.h"
#include "suites.h"
#include "test_support.h"
#include "vsock/vmci_sockets.h"
#include "vsock/vs_world.h"
#include "vsock_test_support.h"

#define CID_A 100u
#define CID_B 200u
#define CID_HOST 2u
#define CID_MISSING 999999u                     /* no context has it */
#define SEED 0xD6A4ull
#define MAX_PAYLOAD 69608u                      /* R185: VMCI_MAX_DG_PAYLOAD_SIZE */
#define HEADER_BYTES 24u                        /* R189: each datagram counts 24 + payload */
#define RCVBUF_DEFAULT 212992u                  /* R189 */
#define GUEST_QUEUE_LIMIT 139264u               /* R58: VMCI_MAX_DATAGRAM_QUEUE_SIZE */
#define PBRPC_PORT 14u                          /* R11: VMCI_UNITY_PBRPC_REGISTER */
#define RCVTIMEO_NS 500000000ull
#define ORDER_COUNT 100u                        /* R194: datagrams per sender */

_Static_assert(VSOCK_MSG_TRUNC == MSG_TRUNC, "the core's MSG_TRUNC is Linux's");
_Static_assert(2 * (HEADER_BYTES + MAX_PAYLOAD) == GUEST_QUEUE_LIMIT,
               "R58: two maximal datagrams reach the guest queue limit");
_Static_assert(8 * (HEADER_BYTES + 26600) == RCVBUF_DEFAULT,
               "R189: eight 26600-byte datagrams reach the default limit");


/* ---- The world ------------------------------------------------------------------------- */

struct fixture {
    struct vs_world *world;
    struct vs_context host;
    struct vs_context guest_a;
    struct vs_context guest_b;
    struct vs_context host_root;        /* net_bind_service (R12) */
    struct vs_context guest_root;       /* net_bind_service, in VM 100 */
    struct vs_context host_untrusted;   /* D1: spawned with trusted = false */
};

/* A process in the kernel with CID `cid` with the world's default credentials, changed
 * as asked: the capability to bind ports <= 1023, or no trust at all. */
static void context_init_as(struct fixture *f, struct vs_context *context, uint32_t cid,
                            bool net_bind_service, bool untrusted)
{
    struct vs_kernel *kernel = vs_world_kernel(f->world, cid);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kernel);
    struct vsock_credentials credentials = vs_world_credentials(f->world, kernel);
    credentials.net_bind_service = net_bind_service;
    if (untrusted) {
        credentials.trusted = false;
        credentials.owner_rule = false;
    }
    vs_context_init(context, f->world->engine, &kernel->stack, &credentials);
}

static struct fixture *fixture_create_in(const char *product, const char *host_os,
                                         const struct vmci_vm_config vms[2],
                                         const struct sim_trace_sink *sinks, uint32_t sink_count)
{
    struct fixture *f = calloc(1, sizeof(*f));
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    struct vs_world_config config = { .product = product, .host_os = host_os, .seed = SEED,
                                      .vm_count = 2, .vms = vms, .sinks = sinks,
                                      .sink_count = sink_count };
    char message[VS_WORLD_MESSAGE_BYTES_MAX] = "";
    f->world = vs_world_create(&config, message, sizeof(message));
    if (f->world == NULL)
        fprintf(stderr, "vs_world_create: %s\n", message);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f->world);
    context_init_as(f, &f->host, CID_HOST, false, false);
    context_init_as(f, &f->guest_a, CID_A, false, false);
    context_init_as(f, &f->guest_b, CID_B, false, false);
    context_init_as(f, &f->host_root, CID_HOST, true, false);
    context_init_as(f, &f->guest_root, CID_A, true, false);
    context_init_as(f, &f->host_untrusted, CID_HOST, false, true);
    return f;
}

static const struct vmci_vm_config default_vms[2] = {
    { .name = "a", .requested_cid = CID_A, .hw_version = 13, .domain = "", .owner = "user" },
    { .name = "b", .requested_cid = CID_B, .hw_version = 13, .domain = "", .owner = "user" },
};

static struct fixture *fixture_create_with(const struct sim_trace_sink *sinks, uint32_t count)
{
    return fixture_create_in(NULL, NULL, default_vms, sinks, count);
}

static struct fixture *fixture_create(void)
{
    return fixture_create_with(NULL, 0);
}

static void fixture_destroy(struct fixture *f)
{
    vs_context_destroy(&f->host_untrusted);
    vs_context_destroy(&f->guest_root);
    vs_context_destroy(&f->host_root);
    vs_context_destroy(&f->guest_b);
    vs_context_destroy(&f->guest_a);
    vs_context_destroy(&f->host);
    vs_world_destroy(f->world);
    free(f);
}

/* Who refused a datagram, read from the trace (D17): the last "dg_route" decision of the
 * hypervisor's router and the socket layer's own "dgram_denied" refusals. Tests clear it
 * with refusal_log_clear() before the send they look at. */
#define RULE_BYTES 16u

struct refusal_log {
    uint32_t routes;                    /* dg_route events since the clear */
    uint32_t route_ctx;                 /* the last one's sender context */
    uint64_t route_dst_cid;
    int64_t route_result;
    char route_rule[RULE_BYTES];
    uint32_t socket_denials;            /* dgram_denied events since the clear */
    char socket_rule[RULE_BYTES];       /* the last one's rule */
};

static void copy_str_field(const struct sim_trace_field *field, char out[RULE_BYTES])
{
    snprintf(out, RULE_BYTES, "%.*s", (int)field->value.blob.size_bytes,
             (const char *)field->value.blob.data);
}

static int refusal_log_emit(void *state, const struct sim_trace_event *event, char *message)
{
    (void)message;
    struct refusal_log *log = state;
    bool route = strcmp(event->kind, "dg_route") == 0;
    bool denial = strcmp(event->kind, "dgram_denied") == 0;
    if (!route && !denial)
        return 0;
    if (route) {
        log->routes++;
        log->route_ctx = event->ctx;
    } else {
        log->socket_denials++;
    }
    for (uint32_t index = 0; index < event->field_count; index++) {
        const struct sim_trace_field *field = &event->fields[index];
        if (strcmp(field->name, "rule") == 0)
            copy_str_field(field, route ? log->route_rule : log->socket_rule);
        else if (route && strcmp(field->name, "result") == 0)
            log->route_result = field->value.i64;
        else if (route && strcmp(field->name, "dst_cid") == 0)
            log->route_dst_cid = field->value.u64;
    }
    return 0;
}

static struct sim_trace_sink refusal_log_sink(struct refusal_log *log)
{
    struct sim_trace_sink sink = { .name = "refusals", .level = SIM_LAYER_VMCI,
                                   .emit = refusal_log_emit, .state = log };
    return sink;
}

static void refusal_log_clear(struct refusal_log *log)
{
    memset(log, 0, sizeof(*log));
}

/* D17: the last send from context `ctx` reached the router, which answered `result`
 * under `rule`, and no socket check refused anything. */
static void assert_refused_by_hypervisor(const struct refusal_log *log, uint32_t ctx,
                                         uint64_t dst_cid, int64_t result, const char *rule)
{
    ASSERT_U64_EQ(log->socket_denials, 0);
    ASSERT_U64_EQ(log->routes, 1);
    ASSERT_U64_EQ(log->route_ctx, ctx);
    ASSERT_U64_EQ(log->route_dst_cid, dst_cid);
    ASSERT_U64_EQ((uint64_t)log->route_result, (uint64_t)result);
    CU_ASSERT_STRING_EQUAL(log->route_rule, rule);
}

static void run_idle(struct fixture *f)
{
    CU_ASSERT_EQUAL(vs_world_run(f->world, SIM_TIME_NEVER), SIM_STOP_IDLE);
}

static struct sockaddr_vm vm_addr(uint32_t cid, uint32_t port)
{
    struct sockaddr_vm addr;
    memset(&addr, 0, sizeof(addr));
    addr.svm_family = AF_VSOCK;
    addr.svm_cid = cid;
    addr.svm_port = port;
    return addr;
}

static int dgram_socket(struct vs_context *context)
{
    int fd = vs_socket(context, AF_VSOCK, SOCK_DGRAM, 0);
    CU_ASSERT_FATAL(fd >= VS_FD_FIRST);
    return fd;
}

/* A datagram socket bound to {ANY, port}. */
static int dgram_bound(struct vs_context *context, uint32_t port)
{
    int fd = dgram_socket(context);
    struct sockaddr_vm addr = vm_addr(VMADDR_CID_ANY, port);
    ASSERT_RETURNS(vs_bind(context, fd, SA(addr), sizeof(addr)), 0);
    return fd;
}

/* bind() to {cid, port}: 0 or the errno. */
static int bind_errno(struct vs_context *context, int fd, uint32_t cid, uint32_t port)
{
    struct sockaddr_vm addr = vm_addr(cid, port);
    errno = 0;
    return vs_bind(context, fd, SA(addr), sizeof(addr)) == 0 ? 0 : errno;
}

static ssize_t send_to(struct vs_context *context, int fd, const void *buf, size_t len,
                       uint32_t cid, uint32_t port)
{
    struct sockaddr_vm to = vm_addr(cid, port);
    return vs_sendto(context, fd, buf, len, 0, SA(to), sizeof(to));
}

static struct sockaddr_vm name_of(struct vs_context *context, int fd, bool peer)
{
    struct sockaddr_vm addr;
    memset(&addr, 0xAA, sizeof(addr));
    socklen_t length = sizeof(addr);
    int rc = peer ? vs_getpeername(context, fd, SA(addr), &length)
                  : vs_getsockname(context, fd, SA(addr), &length);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_EQUAL(length, sizeof(addr));
    return addr;
}

static uint32_t port_of(struct vs_context *context, int fd)
{
    return name_of(context, fd, false).svm_port;
}

/* One receive as recvmsg() would report it: the result (a count or -errno), the source
 * and the returned msg_flags (MSG_TRUNC). Never waits. */
struct received {
    int64_t rc;
    struct vsock_addr from;
    int msg_flags;
};

static struct received recv_msg(struct vs_context *context, int fd, void *buf, uint64_t len,
                                uint32_t flags)
{
    struct vsock_sock *sock = vs_socket_of(context, fd);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sock);
    struct received out = { .from = { VMADDR_CID_ANY, VMADDR_PORT_ANY } };
    bool truncated = false;
    uint64_t progress = 0;
    struct vsock_call call = { .deadline_ns = SIM_TIME_NEVER };
    out.rc = vsock_recv(sock, buf, len, flags | VSOCK_MSG_DONTWAIT, &out.from, &truncated,
                        &progress, &call);
    out.msg_flags = truncated ? MSG_TRUNC : 0;
    return out;
}

/* The byte at `index` of test payload `tag`: SplitMix64 words, so shifts and swaps show. */
static uint8_t payload_byte(uint32_t tag, uint64_t index)
{
    uint64_t word = sim_splitmix64_mix(((uint64_t)tag << 40) + index / 8 + 1);
    return (uint8_t)(word >> (8 * (index % 8)));
}

static void payload_fill(uint8_t *out, uint32_t tag, uint64_t size_bytes)
{
    for (uint64_t index = 0; index < size_bytes; index++)
        out[index] = payload_byte(tag, index);
}

/* The number of bytes of out[0..size) that differ from payload `tag`. */
static uint64_t payload_mismatches(const uint8_t *out, uint32_t tag, uint64_t size_bytes)
{
    uint64_t mismatches = 0;
    for (uint64_t index = 0; index < size_bytes; index++)
        mismatches += out[index] != payload_byte(tag, index);
    return mismatches;
}

/* Receives everything queued on `fd` (buffers of `len` bytes); returns the count. */
static uint32_t drain(struct vs_context *context, int fd, uint64_t len)
{
    static uint8_t buffer[MAX_PAYLOAD + 1];
    CU_ASSERT_FATAL(len <= sizeof(buffer));
    uint32_t count = 0;
    for (;;) {
        struct received got = recv_msg(context, fd, buffer, len, 0);
        if (got.rc < 0) {
            ASSERT_U64_EQ(-got.rc, EAGAIN);
            return count;
        }
        count++;
    }
}

static uint8_t big_out[MAX_PAYLOAD + 1];
static uint8_t big_in[MAX_PAYLOAD + 16];

/* ---- 2.2, 2.3: CIDs and ports ----------------------------------------------------------- */

/* R11, D12: from a guest, CID 0 takes datagrams on port 14 only; every other port, and
 * a connect() to one, is EINVAL. Port 14 is accepted (the payload length) and never
 * answered. Method: sendto on ports around 14, then connect and send. */
static void test_R11_guest_reaches_cid0_only_on_port_14(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    int fd = dgram_socket(g);
    const uint32_t refused[] = { 0, 1, 13, 15, 16, 1024 };
    for (size_t index = 0; index < sizeof(refused) / sizeof(refused[0]); index++)
        ASSERT_FAILS(send_to(g, fd, "x", 1, VMADDR_CID_HYPERVISOR, refused[index]), EINVAL);
    ASSERT_RETURNS(send_to(g, fd, "register", 8, VMADDR_CID_HYPERVISOR, PBRPC_PORT), 8);
    struct sockaddr_vm port_15 = vm_addr(VMADDR_CID_HYPERVISOR, 15);
    struct sockaddr_vm port_13 = vm_addr(VMADDR_CID_HYPERVISOR, 13);
    struct sockaddr_vm port_14 = vm_addr(VMADDR_CID_HYPERVISOR, PBRPC_PORT);
    ASSERT_FAILS(vs_connect(g, fd, SA(port_15), sizeof(port_15)), EINVAL);
    ASSERT_FAILS(vs_connect(g, fd, SA(port_13), sizeof(port_13)), EINVAL);
    ASSERT_RETURNS(vs_connect(g, fd, SA(port_14), sizeof(port_14)), 0);
    ASSERT_RETURNS(vs_send(g, fd, "again", 5, 0), 5);
    run_idle(f);
    uint8_t buffer[64];
    ASSERT_FAILS(vs_recv(g, fd, buffer, sizeof(buffer), MSG_DONTWAIT), EAGAIN);     /* D12 */
    fixture_destroy(f);
}

/* R11, R54, R63: a host socket cannot reach CID 0 at all: port 14 fails too (the host
 * has no device to route through, DEVICE_NOT_FOUND -> EINVAL); other ports are EINVAL
 * by R11 already. A connect() to 0:14 only records the destination. */
static void test_R11_host_to_cid0_is_einval_on_every_port(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *h = &f->host;
    int fd = dgram_socket(h);
    ASSERT_FAILS(send_to(h, fd, "x", 1, VMADDR_CID_HYPERVISOR, 15), EINVAL);
    ASSERT_FAILS(send_to(h, fd, "x", 1, VMADDR_CID_HYPERVISOR, PBRPC_PORT), EINVAL);
    struct sockaddr_vm port_14 = vm_addr(VMADDR_CID_HYPERVISOR, PBRPC_PORT);
    struct sockaddr_vm port_0 = vm_addr(VMADDR_CID_HYPERVISOR, 0);
    ASSERT_FAILS(vs_connect(h, fd, SA(port_0), sizeof(port_0)), EINVAL);
    ASSERT_RETURNS(vs_connect(h, fd, SA(port_14), sizeof(port_14)), 0);
    ASSERT_FAILS(vs_send(h, fd, "x", 1, 0), EINVAL);
    fixture_destroy(f);
}

/* R12: binding a datagram socket to an explicit port <= 1023 (0 included) needs
 * net_bind_service, on the host (D1's trust grants nothing here) and in a guest;
 * 1024 and PORT_ANY need nothing. Method: the 1023/1024 boundary, port 0, both kernels. */
static void test_R12_dgram_privileged_ports_need_net_bind_service(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *users[2] = { &f->host, &f->guest_a };
    struct vs_context *roots[2] = { &f->host_root, &f->guest_root };
    const uint32_t privileged[] = { 0, 1, 80, 1023 };
    for (int kernel = 0; kernel < 2; kernel++) {
        struct vs_context *c = users[kernel];
        for (size_t index = 0; index < sizeof(privileged) / sizeof(privileged[0]); index++)
            ASSERT_U64_EQ(bind_errno(c, dgram_socket(c), VMADDR_CID_ANY, privileged[index]),
                          EACCES);
        ASSERT_U64_EQ(bind_errno(c, dgram_socket(c), VMADDR_CID_ANY, 1024), 0);
        int any = dgram_socket(c);
        ASSERT_U64_EQ(bind_errno(c, any, VMADDR_CID_ANY, VMADDR_PORT_ANY), 0);
        CU_ASSERT(port_of(c, any) > 1023);
        struct vs_context *root = roots[kernel];
        ASSERT_U64_EQ(bind_errno(root, dgram_socket(root), VMADDR_CID_ANY, 0), 0);
        ASSERT_U64_EQ(bind_errno(root, dgram_socket(root), VMADDR_CID_ANY, 80), 0);
        ASSERT_U64_EQ(bind_errno(root, dgram_socket(root), VMADDR_CID_ANY, 1023), 0);
    }
    fixture_destroy(f);
}

/* R15, R23, D13: datagram ports chosen by the stack are RIDs from each kernel's own
 * counter, first 1024, then 1025...; bind(PORT_ANY), sendto() and connect() on an
 * unbound socket (R19) all draw from it; the CID stays ANY. */
static void test_R15_dgram_ephemeral_ports_count_from_1024_per_kernel(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *contexts[3] = { &f->host, &f->guest_a, &f->guest_b };
    for (int index = 0; index < 3; index++) {
        struct vs_context *c = contexts[index];
        int first = dgram_socket(c);
        ASSERT_U64_EQ(bind_errno(c, first, VMADDR_CID_ANY, VMADDR_PORT_ANY), 0);
        struct sockaddr_vm name = name_of(c, first, false);
        ASSERT_U64_EQ(name.svm_port, 1024);
        ASSERT_U64_EQ(name.svm_cid, VMADDR_CID_ANY);
        int second = dgram_socket(c);
        ASSERT_U64_EQ(bind_errno(c, second, VMADDR_CID_ANY, VMADDR_PORT_ANY), 0);
        ASSERT_U64_EQ(port_of(c, second), 1025);
    }
    int sent = dgram_socket(&f->host);
    ASSERT_RETURNS(send_to(&f->host, sent, "x", 1, CID_A, 7001), 1);           /* R19 */
    ASSERT_U64_EQ(port_of(&f->host, sent), 1026);
    int connected = dgram_socket(&f->host);
    struct sockaddr_vm peer = vm_addr(CID_A, 7001);
    ASSERT_RETURNS(vs_connect(&f->host, connected, SA(peer), sizeof(peer)), 0);
    ASSERT_U64_EQ(port_of(&f->host, connected), 1027);
    fixture_destroy(f);
}

/* R15, R16: stream and datagram ports are separate spaces: both types bind 5000, and
 * each type's first ephemeral port is 1024; a second datagram bind of 5000 conflicts
 * (EADDRINUSE), with ANY or the own CID. */
static void test_R15_stream_and_dgram_port_spaces_are_separate(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_b;
    int stream = vs_socket(g, AF_VSOCK, SOCK_STREAM, 0);
    CU_ASSERT_FATAL(stream >= VS_FD_FIRST);
    ASSERT_U64_EQ(bind_errno(g, stream, VMADDR_CID_ANY, 5000), 0);
    ASSERT_U64_EQ(bind_errno(g, dgram_socket(g), VMADDR_CID_ANY, 5000), 0);
    ASSERT_U64_EQ(bind_errno(g, dgram_socket(g), VMADDR_CID_ANY, 5000), EADDRINUSE);
    ASSERT_U64_EQ(bind_errno(g, dgram_socket(g), CID_B, 5000), EADDRINUSE);
    int stream_any = vs_socket(g, AF_VSOCK, SOCK_STREAM, 0);
    CU_ASSERT_FATAL(stream_any >= VS_FD_FIRST);
    ASSERT_U64_EQ(bind_errno(g, stream_any, VMADDR_CID_ANY, VMADDR_PORT_ANY), 0);
    ASSERT_U64_EQ(port_of(g, stream_any), 1024);                                /* R14 */
    int dgram_any = dgram_socket(g);
    ASSERT_U64_EQ(bind_errno(g, dgram_any, VMADDR_CID_ANY, VMADDR_PORT_ANY), 0);
    ASSERT_U64_EQ(port_of(g, dgram_any), 1024);                                 /* R15 */
    fixture_destroy(f);
}

/* R22, R16, R103: each stack's control handle {ANY, 1} holds datagram port 1, so a
 * privileged bind of a datagram socket to port 1 (ANY or the own CID) fails with
 * EADDRINUSE, on the host and in a guest. Without the privilege R12 answers first
 * (EACCES). Port 2 next to it and stream port 1 (another port space, R15) are free. */
static void test_R22_dgram_port_1_is_taken_by_the_control_handle(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *roots[2] = { &f->host_root, &f->guest_root };
    const uint32_t own_cids[2] = { CID_HOST, CID_A };
    for (int kernel = 0; kernel < 2; kernel++) {
        struct vs_context *root = roots[kernel];
        ASSERT_U64_EQ(bind_errno(root, dgram_socket(root), VMADDR_CID_ANY, 1), EADDRINUSE);
        ASSERT_U64_EQ(bind_errno(root, dgram_socket(root), own_cids[kernel], 1), EADDRINUSE);
        ASSERT_U64_EQ(bind_errno(root, dgram_socket(root), VMADDR_CID_ANY, 2), 0);
        int stream = vs_socket(root, AF_VSOCK, SOCK_STREAM, 0);
        CU_ASSERT_FATAL(stream >= VS_FD_FIRST);
        ASSERT_U64_EQ(bind_errno(root, stream, VMADDR_CID_ANY, 1), 0);
    }
    ASSERT_U64_EQ(bind_errno(&f->host, dgram_socket(&f->host), VMADDR_CID_ANY, 1), EACCES);
    ASSERT_U64_EQ(bind_errno(&f->guest_a, dgram_socket(&f->guest_a), VMADDR_CID_ANY, 1), EACCES);
    fixture_destroy(f);
}

/* ---- 8: sendto --------------------------------------------------------------------------- */

/* R185: MSG_OOB is the first check: EOPNOTSUPP whatever the destination (even none),
 * and before the auto-bind, so the socket stays unbound (R13, R128: {ANY, ANY}). */
static void test_R185_msg_oob_is_eopnotsupp_before_auto_bind(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    int fd = dgram_socket(g);
    struct sockaddr_vm host = vm_addr(CID_HOST, 6000);
    struct sockaddr_vm port_any = vm_addr(CID_HOST, VMADDR_PORT_ANY);
    ASSERT_FAILS(vs_sendto(g, fd, "x", 1, MSG_OOB, SA(host), sizeof(host)), EOPNOTSUPP);
    ASSERT_FAILS(vs_sendto(g, fd, "x", 1, MSG_OOB, SA(port_any), sizeof(port_any)), EOPNOTSUPP);
    ASSERT_FAILS(vs_send(g, fd, "x", 1, MSG_OOB), EOPNOTSUPP);
    ASSERT_FAILS(vs_sendto(g, fd, big_out, MAX_PAYLOAD + 1, MSG_OOB, SA(host), sizeof(host)),
                 EOPNOTSUPP);
    struct sockaddr_vm name = name_of(g, fd, false);
    ASSERT_U64_EQ(name.svm_port, VMADDR_PORT_ANY);
    ASSERT_U64_EQ(name.svm_cid, VMADDR_CID_ANY);
    fixture_destroy(f);
}

/* R185, R19, R3: send() without an address on an unconnected socket is EINVAL, after
 * the auto-bind (the socket is now bound to the first ephemeral port); so is a sendto()
 * whose address is short or of another family (ignored, R3), and a destination port of
 * PORT_ANY. */
static void test_R185_no_usable_destination_is_einval_after_auto_bind(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *h = &f->host;
    int fd = dgram_socket(h);
    ASSERT_FAILS(vs_send(h, fd, "x", 1, 0), EINVAL);
    ASSERT_U64_EQ(port_of(h, fd), 1024);                                        /* R19 */
    struct sockaddr_vm guest = vm_addr(CID_A, 6000);
    ASSERT_FAILS(vs_sendto(h, fd, "x", 1, 0, SA(guest), sizeof(guest) - 1), EINVAL);
    struct sockaddr_vm foreign = guest;
    foreign.svm_family = AF_INET;
    ASSERT_FAILS(vs_sendto(h, fd, "x", 1, 0, SA(foreign), sizeof(foreign)), EINVAL);
    ASSERT_FAILS(vs_sendto(h, fd, "x", 1, 0, NULL, 0), EINVAL);
    ASSERT_FAILS(send_to(h, fd, "x", 1, CID_A, VMADDR_PORT_ANY), EINVAL);
    ASSERT_FAILS(send_to(h, fd, "x", 1, VMADDR_CID_ANY, VMADDR_PORT_ANY), EINVAL);
    int fresh = dgram_socket(h);
    ASSERT_FAILS(send_to(h, fresh, "x", 1, CID_A, VMADDR_PORT_ANY), EINVAL);
    ASSERT_U64_EQ(port_of(h, fresh), 1025);                                     /* R19 */
    fixture_destroy(f);
}

/* R185's order past the destination: port ANY (EINVAL) and CID 0 with port != 14
 * (EINVAL) before the size (EMSGSIZE), the size before R153, R153 before the VMCI send;
 * at 69608 bytes the VMCI result is what counts (no host socket on 7999: EHOSTUNREACH,
 * R186). R153 refuses on the host (the untrusted process toward restricted guest 100:
 * EPERM, no datagram routed); inside a guest it sees no other context's flags (D17), so
 * guest 100's datagram to restricted guest 200 is refused by the router (R51: EPERM). */
static void test_R185_checks_in_order_port_cid0_size_r153_vmci(void)
{
    struct refusal_log log;
    struct sim_trace_sink sink = refusal_log_sink(&log);
    struct fixture *f = fixture_create_with(&sink, 1);
    struct vs_context *g = &f->guest_a;
    int fd = dgram_socket(g);
    ASSERT_FAILS(send_to(g, fd, big_out, MAX_PAYLOAD + 1, CID_HOST, VMADDR_PORT_ANY), EINVAL);
    ASSERT_FAILS(send_to(g, fd, big_out, MAX_PAYLOAD + 1, VMADDR_CID_HYPERVISOR, 15), EINVAL);
    ASSERT_FAILS(send_to(g, fd, big_out, MAX_PAYLOAD + 1, CID_B, 6000), EMSGSIZE);
    refusal_log_clear(&log);
    ASSERT_FAILS(send_to(g, fd, big_out, MAX_PAYLOAD, CID_B, 6000), EPERM);
    assert_refused_by_hypervisor(&log, CID_A, CID_B, VMCI_ERROR_NO_ACCESS, "R51");  /* D17 */
    ASSERT_FAILS(send_to(g, fd, big_out, MAX_PAYLOAD + 1, CID_HOST, 7999), EMSGSIZE);
    ASSERT_FAILS(send_to(g, fd, big_out, MAX_PAYLOAD, CID_HOST, 7999), EHOSTUNREACH);
    struct vs_context *u = &f->host_untrusted;
    int host_fd = dgram_socket(u);
    ASSERT_FAILS(send_to(u, host_fd, big_out, MAX_PAYLOAD + 1, CID_A, 6000), EMSGSIZE);
    refusal_log_clear(&log);
    ASSERT_FAILS(send_to(u, host_fd, big_out, MAX_PAYLOAD, CID_A, 6000), EPERM);
    ASSERT_U64_EQ(log.socket_denials, 1);                                       /* R153 */
    CU_ASSERT_STRING_EQUAL(log.socket_rule, "R153");
    ASSERT_U64_EQ(log.routes, 0);                       /* refused before the VMCI send */
    fixture_destroy(f);
}

/* Sends 69609 then 69608 bytes (payload `tag`) from `from` to `to_cid`:6000 and checks
 * that exactly the second arrives, whole, from the sender's address. */
static void max_payload_one_way(struct fixture *f, struct vs_context *from, uint32_t from_cid,
                                struct vs_context *to, uint32_t to_cid, uint32_t tag)
{
    int receiver = dgram_bound(to, 6000);
    int sender = dgram_bound(from, 6100);
    payload_fill(big_out, tag, MAX_PAYLOAD + 1);
    ASSERT_FAILS(send_to(from, sender, big_out, MAX_PAYLOAD + 1, to_cid, 6000), EMSGSIZE);
    ASSERT_RETURNS(send_to(from, sender, big_out, MAX_PAYLOAD, to_cid, 6000), MAX_PAYLOAD);
    run_idle(f);
    memset(big_in, 0, sizeof(big_in));
    struct received got = recv_msg(to, receiver, big_in, sizeof(big_in), 0);
    ASSERT_U64_EQ(got.rc, MAX_PAYLOAD);
    ASSERT_U64_EQ(got.msg_flags, 0);
    ASSERT_U64_EQ(payload_mismatches(big_in, tag, MAX_PAYLOAD), 0);
    ASSERT_U64_EQ(got.from.cid, from_cid);
    ASSERT_U64_EQ(got.from.port, 6100);
    got = recv_msg(to, receiver, big_in, sizeof(big_in), 0);
    ASSERT_U64_EQ(-got.rc, EAGAIN);                     /* the 69609 bytes sent nothing */
}

/* R185, R187: a payload of VMCI_MAX_DG_PAYLOAD_SIZE = 69608 bytes is one datagram and
 * the call returns 69608; 69609 bytes fail with EMSGSIZE and send nothing. Both ways:
 * host -> guest (through DATA_IN) and guest -> host. */
static void test_R185_payload_69608_ok_69609_emsgsize(void)
{
    struct fixture *f = fixture_create();
    max_payload_one_way(f, &f->host, CID_HOST, &f->guest_a, CID_A, 1);
    struct fixture *g = fixture_create();
    max_payload_one_way(g, &g->guest_a, CID_A, &g->host, CID_HOST, 2);
    fixture_destroy(g);
    fixture_destroy(f);
}

/* R185, D8: a destination CID of ANY is the sender's own CID: a host socket reaches a
 * host socket, and a (restricted) guest socket reaches a socket of its own VM, the
 * datagram coming from {local CID, sender port}. The result is the payload length. */
static void test_R185_cid_any_is_the_local_cid(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *contexts[2] = { &f->host, &f->guest_a };
    const uint32_t cids[2] = { CID_HOST, CID_A };
    for (int index = 0; index < 2; index++) {
        struct vs_context *c = contexts[index];
        int receiver = dgram_bound(c, 6001);
        int sender = dgram_bound(c, 6002);
        ASSERT_RETURNS(send_to(c, sender, "to myself", 9, VMADDR_CID_ANY, 6001), 9);
        ASSERT_RETURNS(send_to(c, sender, "by cid", 6, cids[index], 6001), 6);      /* D8 */
        run_idle(f);
        char buffer[32] = "";
        struct received got = recv_msg(c, receiver, buffer, sizeof(buffer), 0);
        ASSERT_U64_EQ(got.rc, 9);
        CU_ASSERT_NSTRING_EQUAL(buffer, "to myself", 9);
        ASSERT_U64_EQ(got.from.cid, cids[index]);
        ASSERT_U64_EQ(got.from.port, 6002);
        ASSERT_U64_EQ(recv_msg(c, receiver, buffer, sizeof(buffer), 0).rc, 6);
    }
    fixture_destroy(f);
}

/* R185, R3: on a connected socket, a supplied address that fails validation (short, of
 * another family, or with an unknown flag) is ignored and the datagram goes to the
 * connected default peer; a valid one wins over it. */
static void test_R185_unusable_address_means_the_connected_peer(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *h = &f->host;
    int peer = dgram_bound(h, 6010);
    int other = dgram_bound(h, 6011);
    int fd = dgram_socket(h);
    struct sockaddr_vm peer_addr = vm_addr(CID_HOST, 6010);
    ASSERT_RETURNS(vs_connect(h, fd, SA(peer_addr), sizeof(peer_addr)), 0);
    struct sockaddr_vm other_addr = vm_addr(CID_HOST, 6011);
    struct sockaddr_vm foreign = other_addr;
    foreign.svm_family = AF_INET;
    struct sockaddr_vm flagged = other_addr;
    flagged.svm_zero[0] = 0x02;                                                 /* R5 */
    ASSERT_RETURNS(vs_sendto(h, fd, "a", 1, 0, SA(other_addr), sizeof(other_addr) - 1), 1);
    ASSERT_RETURNS(vs_sendto(h, fd, "bb", 2, 0, SA(foreign), sizeof(foreign)), 2);
    ASSERT_RETURNS(vs_sendto(h, fd, "ccc", 3, 0, SA(flagged), sizeof(flagged)), 3);
    ASSERT_RETURNS(vs_sendto(h, fd, "dddd", 4, 0, SA(other_addr), sizeof(other_addr)), 4);
    run_idle(f);
    char buffer[8];
    ASSERT_U64_EQ(recv_msg(h, peer, buffer, sizeof(buffer), 0).rc, 1);
    ASSERT_U64_EQ(recv_msg(h, peer, buffer, sizeof(buffer), 0).rc, 2);
    ASSERT_U64_EQ(recv_msg(h, peer, buffer, sizeof(buffer), 0).rc, 3);
    ASSERT_U64_EQ(-recv_msg(h, peer, buffer, sizeof(buffer), 0).rc, EAGAIN);
    ASSERT_U64_EQ(recv_msg(h, other, buffer, sizeof(buffer), 0).rc, 4);
    fixture_destroy(f);
}

/* ---- 8: what a send reports (R186) --------------------------------------------------------- */

/* R186, R55, R56, R63, R127: a host port with no socket is EHOSTUNREACH (from a guest
 * and from the host); a CID no context has is EINVAL, from the trusted host and, since a
 * guest's R153 check sees no other context's flags (D17), from a guest too: the router
 * answers DST_UNREACHABLE (R56); after a host socket closed, its port is EHOSTUNREACH
 * again. */
static void test_R186_unreachable_destinations(void)
{
    struct refusal_log log;
    struct sim_trace_sink sink = refusal_log_sink(&log);
    struct fixture *f = fixture_create_with(&sink, 1);
    int guest = dgram_socket(&f->guest_a);
    int host = dgram_socket(&f->host);
    ASSERT_FAILS(send_to(&f->guest_a, guest, "x", 1, CID_HOST, 7999), EHOSTUNREACH);
    ASSERT_FAILS(send_to(&f->host, host, "x", 1, CID_HOST, 7999), EHOSTUNREACH);
    ASSERT_FAILS(send_to(&f->host, host, "x", 1, CID_MISSING, 7000), EINVAL);
    refusal_log_clear(&log);
    ASSERT_FAILS(send_to(&f->guest_a, guest, "x", 1, CID_MISSING, 7000), EINVAL);  /* D17 */
    assert_refused_by_hypervisor(&log, CID_A, CID_MISSING, VMCI_ERROR_DST_UNREACHABLE, "R56");
    int closing = dgram_bound(&f->host, 7100);
    ASSERT_RETURNS(send_to(&f->guest_a, guest, "open", 4, CID_HOST, 7100), 4);
    ASSERT_RETURNS(vs_close(&f->host, closing), 0);
    ASSERT_FAILS(send_to(&f->guest_a, guest, "closed", 6, CID_HOST, 7100), EHOSTUNREACH);
    ASSERT_FAILS(send_to(&f->host, host, "closed", 6, CID_HOST, 7100), EHOSTUNREACH);
    fixture_destroy(f);
}

/* R186, R153, R196, R197, D17: VM to VM through sockets. Where guest-to-guest datagrams
 * are forbidden (esxi-6.5) the product also ignores vmci0.unrestricted, so both VMs are
 * restricted and the router's R51 check refuses first (the guest socket's own R153 check
 * sees no other context's flags, D17): EPERM, before the router could answer
 * DST_UNREACHABLE (EINVAL). Where both are allowed (esxi-5.0, unrestricted VMs) the
 * datagram arrives. So R186's EINVAL for a forbidden VM-to-VM datagram is reachable only
 * below the socket layer (test_R197_guest_to_guest_matrix). */
static void test_R186_R153_vm_to_vm_datagram_through_a_socket(void)
{
    struct refusal_log log;
    struct sim_trace_sink sink = refusal_log_sink(&log);
    static const struct vmci_vm_config open_vms[2] = {
        { .name = "a", .requested_cid = CID_A, .hw_version = 13, .unrestricted = true,
          .domain = "", .owner = "user" },
        { .name = "b", .requested_cid = CID_B, .hw_version = 13, .unrestricted = true,
          .domain = "", .owner = "user" },
    };
    static const char *const products[2] = { "esxi-6.5", "esxi-5.0" };
    for (int index = 0; index < 2; index++) {
        struct fixture *f = fixture_create_in(products[index], NULL, open_vms, &sink, 1);
        int receiver = dgram_bound(&f->guest_b, 7300);
        int sender = dgram_socket(&f->guest_a);
        if (index == 0) {
            refusal_log_clear(&log);
            ASSERT_FAILS(send_to(&f->guest_a, sender, "vm2vm", 5, CID_B, 7300), EPERM);
            assert_refused_by_hypervisor(&log, CID_A, CID_B, VMCI_ERROR_NO_ACCESS, "R51");
        } else {
            ASSERT_RETURNS(send_to(&f->guest_a, sender, "vm2vm", 5, CID_B, 7300), 5);
            run_idle(f);
            uint8_t buffer[8];
            ASSERT_RETURNS(vs_recv(&f->guest_b, receiver, buffer, sizeof(buffer), 0), 5);
            CU_ASSERT_EQUAL(memcmp(buffer, "vm2vm", 5), 0);
        }
        fixture_destroy(f);
    }
}

/* R186, D17, R56, R51: a guest's R153 check sees no privilege flags of other contexts,
 * so the verdicts on a guest's datagrams come from the hypervisor: to a CID that is not
 * live, DST_UNREACHABLE -> EINVAL (R56); from restricted VM 200 to restricted VM 100 and
 * to an unknown CID alike, nothing is refused by the socket. On the host R153 applies as
 * written: an untrusted process's datagram to an unknown CID (least-privilege flags:
 * RESTRICTED) is refused by its own check with EPERM before any VMCI send, while the
 * trusted one reaches the router (EINVAL). */
static void test_R186_D17_guest_datagrams_are_judged_by_the_hypervisor(void)
{
    struct refusal_log log;
    struct sim_trace_sink sink = refusal_log_sink(&log);
    struct fixture *f = fixture_create_with(&sink, 1);
    int receiver = dgram_bound(&f->guest_a, 7400);
    int guest = dgram_socket(&f->guest_b);
    refusal_log_clear(&log);
    ASSERT_FAILS(send_to(&f->guest_b, guest, "dead", 4, CID_MISSING, 7400), EINVAL);
    assert_refused_by_hypervisor(&log, CID_B, CID_MISSING, VMCI_ERROR_DST_UNREACHABLE, "R56");
    refusal_log_clear(&log);
    ASSERT_FAILS(send_to(&f->guest_b, guest, "vm", 2, CID_A, 7400), EPERM);
    assert_refused_by_hypervisor(&log, CID_B, CID_A, VMCI_ERROR_NO_ACCESS, "R51");
    int untrusted = dgram_socket(&f->host_untrusted);
    refusal_log_clear(&log);
    ASSERT_FAILS(send_to(&f->host_untrusted, untrusted, "dead", 4, CID_MISSING, 7400), EPERM);
    ASSERT_U64_EQ(log.socket_denials, 1);
    CU_ASSERT_STRING_EQUAL(log.socket_rule, "R153");
    ASSERT_U64_EQ(log.routes, 0);
    int trusted = dgram_socket(&f->host);
    refusal_log_clear(&log);
    ASSERT_FAILS(send_to(&f->host, trusted, "dead", 4, CID_MISSING, 7400), EINVAL);
    assert_refused_by_hypervisor(&log, CID_HOST, CID_MISSING, VMCI_ERROR_DST_UNREACHABLE, "R56");
    run_idle(f);
    char buffer[8];
    ASSERT_U64_EQ(-recv_msg(&f->guest_a, receiver, buffer, sizeof(buffer), 0).rc, EAGAIN);
    fixture_destroy(f);
}

/* R186, R42: a datagram to a guest port with no socket succeeds for the sender and is
 * dropped inside the guest: a socket bound to that port afterwards finds nothing, while
 * a datagram sent after it to a bound port arrives. */
static void test_R186_guest_port_without_socket_accepts_and_drops(void)
{
    struct fixture *f = fixture_create();
    int marker_port = dgram_bound(&f->guest_a, 7000);
    int host = dgram_socket(&f->host);
    ASSERT_RETURNS(send_to(&f->host, host, "lost", 4, CID_A, 7001), 4);
    ASSERT_RETURNS(send_to(&f->host, host, "marker", 6, CID_A, 7000), 6);
    run_idle(f);
    int late = dgram_bound(&f->guest_a, 7001);
    char buffer[16] = "";
    struct received got = recv_msg(&f->guest_a, marker_port, buffer, sizeof(buffer), 0);
    ASSERT_U64_EQ(got.rc, 6);
    CU_ASSERT_NSTRING_EQUAL(buffer, "marker", 6);
    ASSERT_U64_EQ(-recv_msg(&f->guest_a, late, buffer, sizeof(buffer), 0).rc, EAGAIN);
    fixture_destroy(f);
}

/* R186, R58, R63: the destination VM's pending queue refuses a datagram of s = 24 +
 * payload bytes when queued + s >= 139264 (NO_RESOURCES -> ENOBUFS). With one 69608-byte
 * datagram (69632) pending, another 69608 is refused, 69607 (139263 in all) accepted,
 * and then even an empty one is refused. What was accepted arrives, in order. */
static void test_R186_destination_vm_queue_full_is_enobufs(void)
{
    struct fixture *f = fixture_create();
    int receiver = dgram_bound(&f->guest_a, 7002);
    int host = dgram_socket(&f->host);
    payload_fill(big_out, 3, MAX_PAYLOAD);
    ASSERT_RETURNS(send_to(&f->host, host, big_out, MAX_PAYLOAD, CID_A, 7002), MAX_PAYLOAD);
    ASSERT_FAILS(send_to(&f->host, host, big_out, MAX_PAYLOAD, CID_A, 7002), ENOBUFS);
    ASSERT_RETURNS(send_to(&f->host, host, big_out, MAX_PAYLOAD - 1, CID_A, 7002),
                   MAX_PAYLOAD - 1);
    ASSERT_FAILS(send_to(&f->host, host, "", 0, CID_A, 7002), ENOBUFS);
    run_idle(f);
    ASSERT_U64_EQ(recv_msg(&f->guest_a, receiver, big_in, sizeof(big_in), 0).rc, MAX_PAYLOAD);
    ASSERT_U64_EQ(recv_msg(&f->guest_a, receiver, big_in, sizeof(big_in), 0).rc,
                  MAX_PAYLOAD - 1);
    ASSERT_U64_EQ(payload_mismatches(big_in, 3, MAX_PAYLOAD - 1), 0);
    ASSERT_U64_EQ(-recv_msg(&f->guest_a, receiver, big_in, sizeof(big_in), 0).rc, EAGAIN);
    ASSERT_RETURNS(send_to(&f->host, host, "", 0, CID_A, 7002), 0);             /* drained */
    fixture_destroy(f);
}

/* R186, R153, R199, R197: privilege denial is EPERM: an untrusted host process to a
 * restricted VM (the sender's R153 check), a restricted VM to an untrusted host socket
 * (denied at the destination), and one restricted VM to another. The trusted host (D1)
 * reaches the same VM. */
static void test_R186_privilege_denial_is_eperm(void)
{
    struct fixture *f = fixture_create();
    int guest_socket = dgram_bound(&f->guest_a, 7200);
    int untrusted = dgram_bound(&f->host_untrusted, 7201);
    int trusted = dgram_socket(&f->host);
    ASSERT_FAILS(send_to(&f->host_untrusted, untrusted, "x", 1, CID_A, 7200), EPERM);
    ASSERT_FAILS(send_to(&f->guest_a, guest_socket, "y", 1, CID_HOST, 7201), EPERM);
    int other_guest = dgram_socket(&f->guest_b);
    ASSERT_FAILS(send_to(&f->guest_b, other_guest, "z", 1, CID_A, 7200), EPERM);
    ASSERT_RETURNS(send_to(&f->host, trusted, "ok", 2, CID_A, 7200), 2);
    run_idle(f);
    char buffer[8] = "";
    struct received got = recv_msg(&f->guest_a, guest_socket, buffer, sizeof(buffer), 0);
    ASSERT_U64_EQ(got.rc, 2);
    ASSERT_U64_EQ(got.from.cid, CID_HOST);
    ASSERT_U64_EQ(-recv_msg(&f->guest_a, guest_socket, buffer, sizeof(buffer), 0).rc, EAGAIN);
    ASSERT_U64_EQ(-recv_msg(&f->host_untrusted, untrusted, buffer, sizeof(buffer), 0).rc,
                  EAGAIN);
    fixture_destroy(f);
}

/* ---- 8: datagrams (R187, R188) ------------------------------------------------------------- */

/* Sends "", "a", "bb", "ccc" from `from` to `to_cid`:8000 and reads them with a buffer
 * that could hold all four: four datagrams of 0..3 bytes, none merged, then EAGAIN. */
static void four_datagrams(struct fixture *f, struct vs_context *from, struct vs_context *to,
                           uint32_t to_cid)
{
    int receiver = dgram_bound(to, 8000);
    int sender = dgram_socket(from);
    const char *messages[4] = { "", "a", "bb", "ccc" };
    for (int index = 0; index < 4; index++)
        ASSERT_RETURNS(send_to(from, sender, messages[index], (size_t)index, to_cid, 8000),
                       index);
    run_idle(f);
    for (int index = 0; index < 4; index++) {
        char buffer[4096];
        memset(buffer, '#', sizeof(buffer));
        struct received got = recv_msg(to, receiver, buffer, sizeof(buffer), 0);
        ASSERT_U64_EQ(got.rc, index);
        ASSERT_U64_EQ(got.msg_flags, 0);
        CU_ASSERT_NSTRING_EQUAL(buffer, messages[index], (size_t)index);
        ASSERT_U64_EQ((uint8_t)buffer[index], '#');
        ASSERT_U64_EQ(got.from.port, port_of(from, sender));
    }
    char buffer[16];
    ASSERT_U64_EQ(-recv_msg(to, receiver, buffer, sizeof(buffer), 0).rc, EAGAIN);
}

/* R187: one send is one datagram: a zero-length send returns 0 and arrives as an empty
 * message (not "nothing": the next receive returns it with 0, not EAGAIN); datagrams
 * queued together are never merged. Both directions. */
static void test_R187_zero_length_datagram_and_no_merging(void)
{
    struct fixture *f = fixture_create();
    four_datagrams(f, &f->guest_a, &f->host, CID_HOST);
    four_datagrams(f, &f->host, &f->guest_b, CID_B);
    fixture_destroy(f);
}

/* R188: a buffer shorter than the datagram gets its first bytes, the return value is
 * the count copied, MSG_TRUNC is set, and the rest of that datagram is gone. Buffer =
 * payload length is whole (no MSG_TRUNC); payload - 1 truncates; 0 bytes takes the
 * whole datagram away and returns 0 with MSG_TRUNC. */
static void test_R188_truncation_sets_msg_trunc_and_discards_the_rest(void)
{
    struct fixture *f = fixture_create();
    int reader = dgram_bound(&f->guest_a, 8100);
    int writer = dgram_bound(&f->host, 8200);
    const char *sent[5] = { "0123456789", "abcdefghij", "ABCDEFGHIJ", "klmnopqrst", "third" };
    for (int index = 0; index < 5; index++)
        ASSERT_RETURNS(send_to(&f->host, writer, sent[index], strlen(sent[index]), CID_A, 8100),
                       (long long)strlen(sent[index]));
    run_idle(f);
    char buffer[16];
    memset(buffer, '#', sizeof(buffer));
    struct received got = recv_msg(&f->guest_a, reader, buffer, 4, 0);
    ASSERT_U64_EQ(got.rc, 4);
    ASSERT_U64_EQ(got.msg_flags, MSG_TRUNC);
    CU_ASSERT_NSTRING_EQUAL(buffer, "0123#", 5);
    got = recv_msg(&f->guest_a, reader, buffer, 10, 0);                         /* = payload */
    ASSERT_U64_EQ(got.rc, 10);
    ASSERT_U64_EQ(got.msg_flags, 0);
    CU_ASSERT_NSTRING_EQUAL(buffer, "abcdefghij", 10);
    got = recv_msg(&f->guest_a, reader, buffer, 9, 0);                          /* payload - 1 */
    ASSERT_U64_EQ(got.rc, 9);
    ASSERT_U64_EQ(got.msg_flags, MSG_TRUNC);
    CU_ASSERT_NSTRING_EQUAL(buffer, "ABCDEFGHI", 9);
    got = recv_msg(&f->guest_a, reader, buffer, 0, 0);
    ASSERT_U64_EQ(got.rc, 0);
    ASSERT_U64_EQ(got.msg_flags, MSG_TRUNC);
    memset(buffer, '#', sizeof(buffer));
    got = recv_msg(&f->guest_a, reader, buffer, sizeof(buffer), 0);
    ASSERT_U64_EQ(got.rc, 5);                               /* "klmnopqrst" went whole */
    CU_ASSERT_NSTRING_EQUAL(buffer, "third", 5);
    ASSERT_U64_EQ(-recv_msg(&f->guest_a, reader, buffer, sizeof(buffer), 0).rc, EAGAIN);
    fixture_destroy(f);
}

/* R188: MSG_PEEK returns the head datagram, with its source and truncation, and leaves
 * it queued: a second peek and then a receive see it whole, then comes the next. Also
 * through the C API's vs_recvfrom. */
static void test_R188_peek_leaves_the_head_datagram(void)
{
    struct fixture *f = fixture_create();
    int reader = dgram_bound(&f->guest_a, 8101);
    int writer = dgram_bound(&f->host, 8201);
    ASSERT_RETURNS(send_to(&f->host, writer, "0123456789", 10, CID_A, 8101), 10);
    ASSERT_RETURNS(send_to(&f->host, writer, "next", 4, CID_A, 8101), 4);
    run_idle(f);
    char buffer[16] = "";
    struct received got = recv_msg(&f->guest_a, reader, buffer, 4, VSOCK_MSG_PEEK);
    ASSERT_U64_EQ(got.rc, 4);
    ASSERT_U64_EQ(got.msg_flags, MSG_TRUNC);
    ASSERT_U64_EQ(got.from.cid, CID_HOST);
    ASSERT_U64_EQ(got.from.port, 8201);
    CU_ASSERT_NSTRING_EQUAL(buffer, "0123", 4);
    got = recv_msg(&f->guest_a, reader, buffer, sizeof(buffer), VSOCK_MSG_PEEK);
    ASSERT_U64_EQ(got.rc, 10);
    ASSERT_U64_EQ(got.msg_flags, 0);
    ASSERT_RETURNS(vs_recvfrom(&f->guest_a, reader, buffer, sizeof(buffer), MSG_PEEK, NULL,
                               NULL), 10);
    memset(buffer, 0, sizeof(buffer));
    ASSERT_RETURNS(vs_recv(&f->guest_a, reader, buffer, sizeof(buffer), 0), 10);
    CU_ASSERT_NSTRING_EQUAL(buffer, "0123456789", 10);
    ASSERT_RETURNS(vs_recv(&f->guest_a, reader, buffer, sizeof(buffer), 0), 4);
    CU_ASSERT_NSTRING_EQUAL(buffer, "next", 4);
    ASSERT_FAILS(vs_recv(&f->guest_a, reader, buffer, sizeof(buffer), MSG_PEEK), EAGAIN);
    fixture_destroy(f);
}

/* R188, R6: recvfrom's source is {src.context, src.resource} of the datagram, as a
 * 16-byte sockaddr_vm with family 40 and zero padding; MSG_OOB and MSG_ERRQUEUE are
 * EOPNOTSUPP (empty queue or not, and the datagram stays); an empty queue is EAGAIN
 * with MSG_DONTWAIT or on a non-blocking socket. */
static void test_R188_source_address_and_errors(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    int reader = dgram_bound(g, 8102);
    char buffer[16];
    ASSERT_FAILS(vs_recv(g, reader, buffer, sizeof(buffer), MSG_DONTWAIT), EAGAIN);
    ASSERT_FAILS(vs_recv(g, reader, buffer, sizeof(buffer), MSG_OOB), EOPNOTSUPP);
    ASSERT_FAILS(vs_recv(g, reader, buffer, sizeof(buffer), MSG_ERRQUEUE), EOPNOTSUPP);
    int nonblocking = vs_socket(g, AF_VSOCK, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    CU_ASSERT_FATAL(nonblocking >= VS_FD_FIRST);
    ASSERT_U64_EQ(bind_errno(g, nonblocking, VMADDR_CID_ANY, 8103), 0);
    ASSERT_FAILS(vs_recv(g, nonblocking, buffer, sizeof(buffer), 0), EAGAIN);
    int writer = dgram_bound(&f->host, 8202);
    ASSERT_RETURNS(send_to(&f->host, writer, "hello", 5, CID_A, 8102), 5);
    run_idle(f);
    ASSERT_FAILS(vs_recv(g, reader, buffer, sizeof(buffer), MSG_OOB), EOPNOTSUPP);
    ASSERT_FAILS(vs_recv(g, reader, buffer, sizeof(buffer), MSG_ERRQUEUE), EOPNOTSUPP);
    struct sockaddr_vm from;
    memset(&from, 0xAA, sizeof(from));
    socklen_t length = sizeof(from);
    ASSERT_RETURNS(vs_recvfrom(g, reader, buffer, sizeof(buffer), 0, SA(from), &length), 5);
    ASSERT_U64_EQ(length, 16);
    ASSERT_U64_EQ(from.svm_family, 40);
    ASSERT_U64_EQ(from.svm_reserved1, 0);
    ASSERT_U64_EQ(from.svm_cid, CID_HOST);
    ASSERT_U64_EQ(from.svm_port, 8202);
    const uint8_t zero[4] = { 0, 0, 0, 0 };
    CU_ASSERT_EQUAL(memcmp(from.svm_zero, zero, sizeof(zero)), 0);
    fixture_destroy(f);
}

struct timed_recv {
    int fd;
    bool set_timeout;
    ssize_t rc;
    int error;
    uint64_t returned_ns;
    char buffer[32];
};

static void timed_recv_body(struct vs_context *context, void *arg)
{
    struct timed_recv *state = arg;
    if (state->set_timeout) {
        struct timeval timeout = { .tv_sec = 0, .tv_usec = (suseconds_t)(RCVTIMEO_NS / 1000) };
        if (vs_setsockopt(context, state->fd, SOL_SOCKET, SO_RCVTIMEO, &timeout,
                          sizeof(timeout)) != 0)
            return;
    }
    errno = 0;
    state->rc = vs_recv(context, state->fd, state->buffer, sizeof(state->buffer), 0);
    state->error = errno;
    state->returned_ns = sim_engine_now(context->engine);
}

struct delayed_send {
    uint64_t delay_ns;
    uint32_t cid;
    uint32_t port;
};

static void delayed_send_body(struct vs_context *context, void *arg)
{
    struct delayed_send *state = arg;
    if (sim_fiber_sleep(context->engine, state->delay_ns) != SIM_OK)
        return;
    int fd = vs_socket(context, AF_VSOCK, SOCK_DGRAM, 0);
    (void)send_to(context, fd, "late", 4, state->cid, state->port);
}

/* R188, R146: a blocking recv on an empty queue waits: with SO_RCVTIMEO = 0.5 s it fails
 * with EAGAIN exactly then; without it, it returns the datagram that arrives 1 ms later. */
static void test_R188_blocking_recv_waits_bounded_by_rcvtimeo(void)
{
    struct fixture *f = fixture_create();
    struct timed_recv timed = { .fd = dgram_bound(&f->guest_a, 8104), .set_timeout = true,
                                .rc = 1 };
    uint64_t start_ns = sim_engine_now(f->world->engine);
    CU_ASSERT_EQUAL(vs_spawn(&f->guest_a, "timed", timed_recv_body, &timed, false), 0);
    run_idle(f);
    ASSERT_U64_EQ(timed.rc, (uint64_t)-1);
    ASSERT_U64_EQ(timed.error, EAGAIN);
    ASSERT_U64_EQ(timed.returned_ns - start_ns, RCVTIMEO_NS);
    struct timed_recv woken = { .fd = dgram_bound(&f->guest_b, 8105), .rc = 1 };
    struct delayed_send sender = { .delay_ns = 1000000, .cid = CID_B, .port = 8105 };
    start_ns = sim_engine_now(f->world->engine);
    CU_ASSERT_EQUAL(vs_spawn(&f->guest_b, "woken", timed_recv_body, &woken, false), 0);
    CU_ASSERT_EQUAL(vs_spawn(&f->host, "sender", delayed_send_body, &sender, false), 0);
    run_idle(f);
    ASSERT_U64_EQ(woken.rc, 4);
    CU_ASSERT_NSTRING_EQUAL(woken.buffer, "late", 4);
    CU_ASSERT(woken.returned_ns - start_ns >= sender.delay_ns);
    fixture_destroy(f);
}

/* R188, R124: after a local SHUT_RD an empty queue returns 0 at once, for a blocking
 * socket too (not EAGAIN): on an unconnected socket (shutdown says ENOTCONN but sets the
 * bit) and on a connected one. */
static void test_R188_rcv_shutdown_empty_queue_returns_0(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    int unconnected = dgram_bound(g, 8106);
    char buffer[16];
    ASSERT_FAILS(vs_recv(g, unconnected, buffer, sizeof(buffer), 0), EAGAIN);
    ASSERT_FAILS(vs_shutdown(g, unconnected, SHUT_RD), ENOTCONN);
    ASSERT_RETURNS(vs_recv(g, unconnected, buffer, sizeof(buffer), 0), 0);
    ASSERT_RETURNS(vs_recv(g, unconnected, buffer, sizeof(buffer), MSG_DONTWAIT), 0);
    int connected = dgram_socket(g);
    struct sockaddr_vm host = vm_addr(CID_HOST, 8300);
    ASSERT_RETURNS(vs_connect(g, connected, SA(host), sizeof(host)), 0);
    ASSERT_FAILS(vs_recv(g, connected, buffer, sizeof(buffer), 0), EAGAIN);
    ASSERT_RETURNS(vs_shutdown(g, connected, SHUT_RD), 0);
    ASSERT_RETURNS(vs_recv(g, connected, buffer, sizeof(buffer), 0), 0);
    fixture_destroy(f);
}

/* ---- 8: the receive queue (R189) ----------------------------------------------------------- */

/* Sends `count` datagrams of payload[i] bytes from guest 100 to host port `port`; each
 * send must report its payload length, dropped or not. */
static void send_sizes(struct vs_context *from, uint32_t to_cid, uint32_t port,
                       const uint32_t *payloads, uint32_t count)
{
    int sender = dgram_socket(from);
    for (uint32_t index = 0; index < count; index++)
        ASSERT_RETURNS(send_to(from, sender, big_out, payloads[index], to_cid, port),
                       payloads[index]);
}

/* R189: SO_RCVBUF is 212992 by default and each datagram counts 24 + payload, checked
 * before adding: with eight 26600-byte datagrams (8 * 26624 = 212992) the queue is at the
 * limit and the ninth is dropped; with 7 * 26624 + 26623 = 212991 it is still below, so
 * the ninth is accepted (passing the limit) and the tenth dropped. Senders see success
 * every time; a drained queue accepts again. */
static void test_R189_default_rcvbuf_212992_counted_before_adding(void)
{
    struct fixture *f = fixture_create();
    int at_limit = dgram_bound(&f->host, 9000);
    int below = dgram_bound(&f->host, 9001);
    int value = 0;
    socklen_t length = sizeof(value);
    ASSERT_RETURNS(vs_getsockopt(&f->host, at_limit, SOL_SOCKET, SO_RCVBUF, &value, &length), 0);
    ASSERT_U64_EQ(value, RCVBUF_DEFAULT);
    const uint32_t exact[9] = { 26600, 26600, 26600, 26600, 26600, 26600, 26600, 26600, 26600 };
    const uint32_t short_by_one[10] = { 26600, 26600, 26600, 26600, 26600, 26600, 26600, 26599,
                                        26600, 26600 };
    payload_fill(big_out, 4, MAX_PAYLOAD);
    send_sizes(&f->guest_a, CID_HOST, 9000, exact, 9);
    send_sizes(&f->guest_a, CID_HOST, 9001, short_by_one, 10);
    run_idle(f);
    ASSERT_U64_EQ(drain(&f->host, at_limit, MAX_PAYLOAD), 8);
    ASSERT_U64_EQ(drain(&f->host, below, MAX_PAYLOAD), 9);
    send_sizes(&f->guest_a, CID_HOST, 9000, exact, 1);
    run_idle(f);
    ASSERT_U64_EQ(drain(&f->host, at_limit, MAX_PAYLOAD), 1);
    fixture_destroy(f);
}

/* A host socket on `port` with SO_RCVBUF = `rcvbuf`, sent `count` host-local datagrams of
 * `payload` bytes; returns how many it holds. */
static uint32_t rcvbuf_holds(struct fixture *f, uint32_t port, int rcvbuf, uint32_t payload,
                             uint32_t count)
{
    int fd = dgram_bound(&f->host, port);
    ASSERT_RETURNS(vs_setsockopt(&f->host, fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)),
                   0);
    int value = 0;
    socklen_t length = sizeof(value);
    ASSERT_RETURNS(vs_getsockopt(&f->host, fd, SOL_SOCKET, SO_RCVBUF, &value, &length), 0);
    ASSERT_U64_EQ(value, rcvbuf);
    uint32_t payloads[8];
    CU_ASSERT_FATAL(count <= 8);
    for (uint32_t index = 0; index < count; index++)
        payloads[index] = payload;
    send_sizes(&f->host, CID_HOST, port, payloads, count);
    run_idle(f);
    return drain(&f->host, fd, MAX_PAYLOAD);
}

/* R189, R146: SO_RCVBUF sets the limit. 500-byte entries (476 + 24): with 1000 the
 * queue reaches the limit after two and drops the third; with 1001 it takes three.
 * Empty datagrams count 24 each: 48 holds two, 49 three. */
static void test_R189_so_rcvbuf_sets_the_limit(void)
{
    struct fixture *f = fixture_create();
    ASSERT_U64_EQ(rcvbuf_holds(f, 9100, 1000, 476, 5), 2);
    ASSERT_U64_EQ(rcvbuf_holds(f, 9101, 1001, 476, 5), 3);
    ASSERT_U64_EQ(rcvbuf_holds(f, 9102, 48, 0, 5), 2);
    ASSERT_U64_EQ(rcvbuf_holds(f, 9103, 49, 0, 5), 3);
    fixture_destroy(f);
}

/* ---- 8: the receiver's own check (R190) ---------------------------------------------------- */

/* R190, R199: on the host, delivery runs inside the send, so a datagram the receiving
 * socket refuses (an untrusted host socket; the source, a restricted VM) fails the send
 * with EPERM and nothing is queued; a trusted host socket takes the same datagram. */
static void test_R190_host_socket_refusal_is_eperm_for_the_sender(void)
{
    struct fixture *f = fixture_create();
    int untrusted = dgram_bound(&f->host_untrusted, 9200);
    int trusted = dgram_bound(&f->host, 9201);
    int guest = dgram_socket(&f->guest_a);
    ASSERT_FAILS(send_to(&f->guest_a, guest, "refused", 7, CID_HOST, 9200), EPERM);
    ASSERT_RETURNS(send_to(&f->guest_a, guest, "taken", 5, CID_HOST, 9201), 5);
    run_idle(f);
    char buffer[16];
    ASSERT_U64_EQ(-recv_msg(&f->host_untrusted, untrusted, buffer, sizeof(buffer), 0).rc, EAGAIN);
    struct received got = recv_msg(&f->host, trusted, buffer, sizeof(buffer), 0);
    ASSERT_U64_EQ(got.rc, 5);
    ASSERT_U64_EQ(got.from.cid, CID_A);
    fixture_destroy(f);
}

/* R190, R153, R50, D10: on workstation-9 (every VM restricted) a host socket of user
 * "alice" is trusted exactly toward alice's VM: a datagram from bob's VM is refused by
 * it (EPERM for the sender, nothing queued) while alice's VM gets through. */
static void test_R190_owner_rule_refuses_another_users_vm(void)
{
    const struct vmci_vm_config vms[2] = {
        { .name = "alice_vm", .requested_cid = CID_A, .hw_version = 13, .domain = "",
          .owner = "alice" },
        { .name = "bob_vm", .requested_cid = CID_B, .hw_version = 13, .domain = "",
          .owner = "bob" },
    };
    struct fixture *f = fixture_create_in("workstation-9", "linux", vms, NULL, 0);
    struct vsock_credentials alice = vs_world_credentials(f->world, &f->world->host);
    snprintf(alice.user, sizeof(alice.user), "alice");
    vmci_profile_host_identity(&f->world->profile, true, true, false, &alice.trusted,
                               &alice.owner_rule);
    struct vs_context host_alice;
    vs_context_init(&host_alice, f->world->engine, &f->world->host.stack, &alice);
    int fd = dgram_bound(&host_alice, 9400);
    ASSERT_FAILS(send_to(&f->guest_b, dgram_socket(&f->guest_b), "from bob", 8, CID_HOST, 9400),
                 EPERM);
    ASSERT_RETURNS(send_to(&f->guest_a, dgram_socket(&f->guest_a), "from alice", 10, CID_HOST,
                           9400), 10);
    run_idle(f);
    char buffer[16];
    struct received got = recv_msg(&host_alice, fd, buffer, sizeof(buffer), 0);
    ASSERT_U64_EQ(got.rc, 10);
    ASSERT_U64_EQ(got.from.cid, CID_A);
    ASSERT_U64_EQ(-recv_msg(&host_alice, fd, buffer, sizeof(buffer), 0).rc, EAGAIN);
    vs_context_destroy(&host_alice);
    fixture_destroy(f);
}

/* ---- 8: connect, listen, accept (R191-R193) ------------------------------------------------ */

/* R191, R129: connect() records the default destination (getpeername), marks the socket
 * connected and sends nothing: the peer's socket stays empty, and a destination with no
 * socket or no context (which a send would refuse) is accepted. send() then uses it; a
 * new connect() replaces it. */
static void test_R191_connect_records_the_peer_and_sends_nothing(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    int server = dgram_bound(&f->host, 9500);
    int fd = dgram_socket(g);
    struct sockaddr_vm server_addr = vm_addr(CID_HOST, 9500);
    ASSERT_RETURNS(vs_connect(g, fd, SA(server_addr), sizeof(server_addr)), 0);
    ASSERT_U64_EQ(vs_socket_of(g, fd)->state, VSOCK_SS_CONNECTED);
    struct sockaddr_vm peer = name_of(g, fd, true);
    ASSERT_U64_EQ(peer.svm_cid, CID_HOST);
    ASSERT_U64_EQ(peer.svm_port, 9500);
    run_idle(f);
    char buffer[16];
    ASSERT_U64_EQ(-recv_msg(&f->host, server, buffer, sizeof(buffer), 0).rc, EAGAIN);
    ASSERT_RETURNS(vs_send(g, fd, "via send", 8, 0), 8);
    run_idle(f);
    ASSERT_U64_EQ(recv_msg(&f->host, server, buffer, sizeof(buffer), 0).rc, 8);
    struct sockaddr_vm nobody = vm_addr(CID_HOST, 7999);
    ASSERT_RETURNS(vs_connect(g, fd, SA(nobody), sizeof(nobody)), 0);
    ASSERT_U64_EQ(name_of(g, fd, true).svm_port, 7999);
    ASSERT_FAILS(vs_send(g, fd, "x", 1, 0), EHOSTUNREACH);                      /* R186 */
    int host_fd = dgram_socket(&f->host);
    struct sockaddr_vm missing = vm_addr(CID_MISSING, 7000);
    ASSERT_RETURNS(vs_connect(&f->host, host_fd, SA(missing), sizeof(missing)), 0);
    ASSERT_FAILS(vs_send(&f->host, host_fd, "x", 1, 0), EINVAL);                /* R186 */
    fixture_destroy(f);
}

/* R191, R19, R3-R5: connect()'s checks in order: an invalid address is EINVAL before the
 * auto-bind (the socket stays unbound); then the auto-bind; then CID 0 with a port other
 * than 14 is EINVAL (the socket is bound now, still unconnected); 0:14 is accepted. */
static void test_R191_connect_errors_and_auto_bind_order(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    int fd = dgram_socket(g);
    struct sockaddr_vm host = vm_addr(CID_HOST, 9501);
    struct sockaddr_vm foreign = host;
    foreign.svm_family = AF_INET;
    struct sockaddr_vm flagged = host;
    flagged.svm_zero[0] = 0x02;
    ASSERT_FAILS(vs_connect(g, fd, SA(host), sizeof(host) - 1), EINVAL);
    ASSERT_FAILS(vs_connect(g, fd, SA(foreign), sizeof(foreign)), EINVAL);
    ASSERT_FAILS(vs_connect(g, fd, SA(flagged), sizeof(flagged)), EINVAL);
    ASSERT_U64_EQ(port_of(g, fd), VMADDR_PORT_ANY);
    struct sockaddr_vm port_15 = vm_addr(VMADDR_CID_HYPERVISOR, 15);
    ASSERT_FAILS(vs_connect(g, fd, SA(port_15), sizeof(port_15)), EINVAL);
    ASSERT_U64_EQ(port_of(g, fd), 1024);                                        /* R19 */
    ASSERT_U64_EQ(vs_socket_of(g, fd)->state, VSOCK_SS_UNCONNECTED);
    socklen_t length = sizeof(host);
    ASSERT_FAILS(vs_getpeername(g, fd, SA(host), &length), ENOTCONN);
    struct sockaddr_vm port_14 = vm_addr(VMADDR_CID_HYPERVISOR, PBRPC_PORT);
    ASSERT_RETURNS(vs_connect(g, fd, SA(port_14), sizeof(port_14)), 0);
    ASSERT_U64_EQ(name_of(g, fd, true).svm_port, PBRPC_PORT);
    fixture_destroy(f);
}

/* R191: incoming datagrams are not filtered by the connected peer: a connected guest
 * socket receives from its peer and from another host port alike, and can still sendto()
 * another destination. */
static void test_R191_incoming_datagrams_are_not_filtered(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    int peer = dgram_bound(&f->host, 9510);
    int stranger = dgram_bound(&f->host, 9511);
    int fd = dgram_bound(g, 9512);
    struct sockaddr_vm peer_addr = vm_addr(CID_HOST, 9510);
    ASSERT_RETURNS(vs_connect(g, fd, SA(peer_addr), sizeof(peer_addr)), 0);
    ASSERT_RETURNS(send_to(&f->host, peer, "peer", 4, CID_A, 9512), 4);
    ASSERT_RETURNS(send_to(&f->host, stranger, "stranger", 8, CID_A, 9512), 8);
    ASSERT_RETURNS(send_to(g, fd, "elsewhere", 9, CID_HOST, 9511), 9);
    run_idle(f);
    char buffer[16];
    struct received got = recv_msg(g, fd, buffer, sizeof(buffer), 0);
    ASSERT_U64_EQ(got.rc, 4);
    ASSERT_U64_EQ(got.from.port, 9510);
    got = recv_msg(g, fd, buffer, sizeof(buffer), 0);
    ASSERT_U64_EQ(got.rc, 8);
    ASSERT_U64_EQ(got.from.port, 9511);
    ASSERT_U64_EQ(recv_msg(&f->host, stranger, buffer, sizeof(buffer), 0).rc, 9);
    fixture_destroy(f);
}

/* R192: connect() with AF_UNSPEC resets the default destination to {ANY, ANY} and the
 * socket to SS_UNCONNECTED and returns 0 (also on a socket never connected): getpeername
 * is ENOTCONN, send() is EINVAL (R185), sendto() with an address still works. */
static void test_R192_af_unspec_resets_the_default_destination(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    int sink = dgram_bound(&f->host, 9520);
    int fd = dgram_socket(g);
    struct sockaddr_vm unspec = vm_addr(0, 0);
    unspec.svm_family = AF_UNSPEC;
    ASSERT_RETURNS(vs_connect(g, fd, SA(unspec), sizeof(unspec)), 0);
    struct sockaddr_vm host = vm_addr(CID_HOST, 9520);
    ASSERT_RETURNS(vs_connect(g, fd, SA(host), sizeof(host)), 0);
    ASSERT_RETURNS(vs_send(g, fd, "first", 5, 0), 5);
    ASSERT_RETURNS(vs_connect(g, fd, SA(unspec), sizeof(unspec)), 0);
    struct vsock_sock *sock = vs_socket_of(g, fd);
    ASSERT_U64_EQ(sock->state, VSOCK_SS_UNCONNECTED);
    ASSERT_U64_EQ(sock->remote.cid, VMADDR_CID_ANY);
    ASSERT_U64_EQ(sock->remote.port, VMADDR_PORT_ANY);
    socklen_t length = sizeof(host);
    ASSERT_FAILS(vs_getpeername(g, fd, SA(host), &length), ENOTCONN);
    ASSERT_FAILS(vs_send(g, fd, "second", 6, 0), EINVAL);
    ASSERT_RETURNS(send_to(g, fd, "third", 5, CID_HOST, 9520), 5);
    run_idle(f);
    char buffer[16] = "";
    ASSERT_U64_EQ(recv_msg(&f->host, sink, buffer, sizeof(buffer), 0).rc, 5);
    CU_ASSERT_NSTRING_EQUAL(buffer, "first", 5);
    ASSERT_U64_EQ(recv_msg(&f->host, sink, buffer, sizeof(buffer), 0).rc, 5);
    CU_ASSERT_NSTRING_EQUAL(buffer, "third", 5);
    ASSERT_U64_EQ(-recv_msg(&f->host, sink, buffer, sizeof(buffer), 0).rc, EAGAIN);
    fixture_destroy(f);
}

/* R193: listen() and accept() on a datagram socket fail with EOPNOTSUPP, unbound, bound
 * or connected, on the host and in a guest. */
static void test_R193_listen_and_accept_are_eopnotsupp(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *contexts[2] = { &f->host, &f->guest_a };
    for (int index = 0; index < 2; index++) {
        struct vs_context *c = contexts[index];
        int fd = dgram_socket(c);
        ASSERT_FAILS(vs_listen(c, fd, 5), EOPNOTSUPP);
        ASSERT_FAILS(vs_accept(c, fd, NULL, NULL), EOPNOTSUPP);
        ASSERT_U64_EQ(bind_errno(c, fd, VMADDR_CID_ANY, 9530), 0);
        ASSERT_FAILS(vs_listen(c, fd, 0), EOPNOTSUPP);
        ASSERT_FAILS(vs_accept(c, fd, NULL, NULL), EOPNOTSUPP);
        struct sockaddr_vm peer = vm_addr(index == 0 ? CID_A : CID_HOST, 9531);
        ASSERT_RETURNS(vs_connect(c, fd, SA(peer), sizeof(peer)), 0);
        ASSERT_FAILS(vs_listen(c, fd, 5), EOPNOTSUPP);
        ASSERT_FAILS(vs_accept(c, fd, NULL, NULL), EOPNOTSUPP);
    }
    fixture_destroy(f);
}

/* ---- 8: order (R194) ------------------------------------------------------------------------ */

struct order_sender {
    uint32_t cid;                       /* destination */
    uint32_t port;                      /* the sender's own port */
    uint32_t tag;
    uint32_t failures;
};

struct order_receiver {
    int fd;
    uint32_t ports[2];                  /* the two senders' ports */
    uint32_t next[2];                   /* the next sequence number expected from each */
    uint32_t received;
    uint32_t out_of_order;
    uint32_t damaged;
    int64_t after_last;                 /* a receive after the last: -EAGAIN */
    uint64_t done_ns;
};

/* Datagram i of a sender: its 4-byte sequence number, then 0..596 pattern bytes. */
static uint32_t order_size(uint32_t index)
{
    return 4 + (index * 97u) % 597u;
}

static void order_sender_body(struct vs_context *context, void *arg)
{
    static uint8_t message[4 + 597];
    struct order_sender *state = arg;
    int fd = vs_socket(context, AF_VSOCK, SOCK_DGRAM, 0);
    if (bind_errno(context, fd, VMADDR_CID_ANY, state->port) != 0) {
        state->failures = ORDER_COUNT;
        return;
    }
    for (uint32_t index = 0; index < ORDER_COUNT; index++) {
        memcpy(message, &index, sizeof(index));
        payload_fill(message + 4, state->tag + index, order_size(index) - 4);
        if (send_to(context, fd, message, order_size(index), state->cid, 9600) !=
            (ssize_t)order_size(index))
            state->failures++;
    }
}

static void order_receiver_body(struct vs_context *context, void *arg)
{
    static uint8_t message[1024];
    struct order_receiver *state = arg;
    for (uint32_t count = 0; count < 2 * ORDER_COUNT; count++) {
        struct sockaddr_vm from;
        socklen_t length = sizeof(from);
        ssize_t got = vs_recvfrom(context, state->fd, message, sizeof(message), 0, SA(from),
                                  &length);
        if (got < 4)
            return;
        int who = from.svm_port == state->ports[0] ? 0 : from.svm_port == state->ports[1] ? 1 : -1;
        uint32_t index;
        memcpy(&index, message, sizeof(index));
        if (who < 0 || index != state->next[who]) {
            state->out_of_order++;
            continue;
        }
        state->next[who]++;
        state->received++;
        uint32_t tag = who == 0 ? 1000 : 2000;
        state->damaged += (uint64_t)got != order_size(index) ||
                          payload_mismatches(message + 4, tag + index, (uint64_t)got - 4) != 0;
    }
    if (sim_fiber_sleep(context->engine, 1000000) != SIM_OK)
        return;
    struct received after = recv_msg(context, state->fd, message, sizeof(message), 0);
    state->after_last = after.rc;
    state->done_ns = sim_engine_now(context->engine);
}

/* One run of R194's world: two host senders to guest 100's port 9600 and two guest
 * senders (VMs 100 and 200) to host port 9600, 100 datagrams each, all on fibers. */
static void order_run(struct order_receiver receivers[2], struct order_sender senders[4],
                      char digest_hex[33])
{
    struct sim_digest *digest = sim_digest_create();
    CU_ASSERT_PTR_NOT_NULL_FATAL(digest);
    struct sim_trace_sink sink = sim_digest_sink(digest);
    struct fixture *f = fixture_create_with(&sink, 1);
    struct vs_context host_second, guest_second;
    context_init_as(f, &host_second, CID_HOST, false, false);
    context_init_as(f, &guest_second, CID_A, false, false);
    struct vs_context *sender_contexts[4] = { &f->host, &host_second, &guest_second, &f->guest_b };
    const uint32_t to[4] = { CID_A, CID_A, CID_HOST, CID_HOST };
    const uint32_t ports[4] = { 9601, 9602, 9603, 9604 };
    memset(receivers, 0, 2 * sizeof(receivers[0]));
    receivers[0] = (struct order_receiver){ .fd = dgram_bound(&f->guest_a, 9600),
                                            .ports = { 9601, 9602 }, .after_last = 1 };
    receivers[1] = (struct order_receiver){ .fd = dgram_bound(&f->host_root, 9600),
                                            .ports = { 9603, 9604 }, .after_last = 1 };
    CU_ASSERT_EQUAL(vs_spawn(&f->guest_a, "rx_guest", order_receiver_body, &receivers[0],
                             false), 0);
    CU_ASSERT_EQUAL(vs_spawn(&f->host_root, "rx_host", order_receiver_body, &receivers[1],
                             false), 0);
    for (int index = 0; index < 4; index++) {
        senders[index] = (struct order_sender){ .cid = to[index], .port = ports[index],
                                                .tag = index % 2 == 0 ? 1000 : 2000 };
        CU_ASSERT_EQUAL(vs_spawn(sender_contexts[index], "tx", order_sender_body,
                                 &senders[index], false), 0);
    }
    run_idle(f);
    vs_context_destroy(&guest_second);
    vs_context_destroy(&host_second);
    fixture_destroy(f);
    sim_digest_hex(digest, digest_hex);
    sim_digest_destroy(digest);
}

/* R194, R59: datagrams between one pair of sockets arrive in send order and none twice,
 * in both directions, with two senders interleaving at each receiver; sizes up to 624
 * bytes keep the total under R58's and R189's limits, so nothing may be lost. The same
 * world twice gives the same digest and end time. */
static void test_R194_per_pair_send_order_without_duplicates(void)
{
    struct order_receiver first[2], second[2];
    struct order_sender senders[4];
    char first_hex[33], second_hex[33];
    order_run(first, senders, first_hex);
    for (int index = 0; index < 4; index++)
        ASSERT_U64_EQ(senders[index].failures, 0);
    for (int index = 0; index < 2; index++) {
        ASSERT_U64_EQ(first[index].received, 2 * ORDER_COUNT);
        ASSERT_U64_EQ(first[index].next[0], ORDER_COUNT);
        ASSERT_U64_EQ(first[index].next[1], ORDER_COUNT);
        ASSERT_U64_EQ(first[index].out_of_order, 0);
        ASSERT_U64_EQ(first[index].damaged, 0);
        ASSERT_U64_EQ(-first[index].after_last, EAGAIN);
    }
    order_run(second, senders, second_hex);
    CU_ASSERT_STRING_EQUAL(first_hex, second_hex);
    ASSERT_U64_EQ(second[0].done_ns, first[0].done_ns);
    ASSERT_U64_EQ(second[1].done_ns, first[1].done_ns);
}

CU_ErrorCode vsock_dgram_suite_add(void)
{
    static const struct test_entry tests[] = {
        TEST_ENTRY(test_R11_guest_reaches_cid0_only_on_port_14),
        TEST_ENTRY(test_R11_host_to_cid0_is_einval_on_every_port),
        TEST_ENTRY(test_R12_dgram_privileged_ports_need_net_bind_service),
        TEST_ENTRY(test_R15_dgram_ephemeral_ports_count_from_1024_per_kernel),
        TEST_ENTRY(test_R15_stream_and_dgram_port_spaces_are_separate),
        TEST_ENTRY(test_R22_dgram_port_1_is_taken_by_the_control_handle),
        TEST_ENTRY(test_R185_msg_oob_is_eopnotsupp_before_auto_bind),
        TEST_ENTRY(test_R185_no_usable_destination_is_einval_after_auto_bind),
        TEST_ENTRY(test_R185_checks_in_order_port_cid0_size_r153_vmci),
        TEST_ENTRY(test_R185_payload_69608_ok_69609_emsgsize),
        TEST_ENTRY(test_R185_cid_any_is_the_local_cid),
        TEST_ENTRY(test_R185_unusable_address_means_the_connected_peer),
        TEST_ENTRY(test_R186_unreachable_destinations),
        TEST_ENTRY(test_R186_R153_vm_to_vm_datagram_through_a_socket),
        TEST_ENTRY(test_R186_D17_guest_datagrams_are_judged_by_the_hypervisor),
        TEST_ENTRY(test_R186_guest_port_without_socket_accepts_and_drops),
        TEST_ENTRY(test_R186_destination_vm_queue_full_is_enobufs),
        TEST_ENTRY(test_R186_privilege_denial_is_eperm),
        TEST_ENTRY(test_R187_zero_length_datagram_and_no_merging),
        TEST_ENTRY(test_R188_truncation_sets_msg_trunc_and_discards_the_rest),
        TEST_ENTRY(test_R188_peek_leaves_the_head_datagram),
        TEST_ENTRY(test_R188_source_address_and_errors),
        TEST_ENTRY(test_R188_blocking_recv_waits_bounded_by_rcvtimeo),
        TEST_ENTRY(test_R188_rcv_shutdown_empty_queue_returns_0),
        TEST_ENTRY(test_R189_default_rcvbuf_212992_counted_before_adding),
        TEST_ENTRY(test_R189_so_rcvbuf_sets_the_limit),
        TEST_ENTRY(test_R190_host_socket_refusal_is_eperm_for_the_sender),
        TEST_ENTRY(test_R190_owner_rule_refuses_another_users_vm),
        TEST_ENTRY(test_R191_connect_records_the_peer_and_sends_nothing),
        TEST_ENTRY(test_R191_connect_errors_and_auto_bind_order),
        TEST_ENTRY(test_R191_incoming_datagrams_are_not_filtered),
        TEST_ENTRY(test_R192_af_unspec_resets_the_default_destination),
        TEST_ENTRY(test_R193_listen_and_accept_are_eopnotsupp),
        TEST_ENTRY(test_R194_per_pair_send_order_without_duplicates),
    };
    return test_suite_register("vsock_dgram", tests, sizeof(tests) / sizeof(tests[0]));
}
