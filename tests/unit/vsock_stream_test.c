/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/vsock_stream_test.c: stream sockets through the C API
 * (vsock/vmci_sockets.h) over the socket core and the VMCI stream transport
 * (reference sections 2, 6 and 7; decisions D1, D3, D11, D13).
 *
 * World: esxi-6.5, the host and two restricted VMs with CIDs 100 and 200
 * (vsock/vs_world.h). Host processes are trusted (D1), so host <-> guest streams
 * work. Tests that need a blocking call run it on a fiber (vs_spawn) and then run
 * the engine; tests of non-blocking behaviour use plain calls, which never wait
 * (a call that would block fails with EAGAIN, architecture.md): a plain connect()
 * sends its request and fails with EAGAIN, and the next connect() on the
 * descriptor, after the engine has run, reports the handshake's outcome.
 *
 * Each test is named after the rule it checks and asserts the exact errno (D3).
 * Where the implementation disagrees with the reference, the test keeps asserting
 * the reference.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <CUnit/CUnit.h>

#include "sim/engine/engine.h"
#include "sim/engine/fiber.h"
#include "sim/engine/process.h"
#include "sim/engine/rng.h"
#include "sim/lua/runtime.h"
#include "suites.h"
#include "test_support.h"
#include "vmci/device.h"
#include "vsock/vmci_sockets.h"
#include "vsock/vs_world.h"
#include "vsock_fixture.h"
#include "vsock_test_support.h"

#define TRANSFER_BYTES (1u << 20)               /* R123 */
#define CHUNK_BYTES_MAX 20000u
#define TIMEOUT_EVENTS_MAX 40u                  /* "a few dozen" events during that wait */

/* ---- 2.1 Addresses ---------------------------------------------------------------------- */

/* R1: struct sockaddr_vm is 16 bytes with the uapi offsets; the well-known values. */
static void test_R1_sockaddr_vm_layout_and_constants(void)
{
    ASSERT_U64_EQ(sizeof(struct sockaddr_vm), 16);
    ASSERT_U64_EQ(sizeof(struct sockaddr_vm), sizeof(struct sockaddr));
    ASSERT_U64_EQ(offsetof(struct sockaddr_vm, svm_family), 0);
    ASSERT_U64_EQ(offsetof(struct sockaddr_vm, svm_reserved1), 2);
    ASSERT_U64_EQ(offsetof(struct sockaddr_vm, svm_port), 4);
    ASSERT_U64_EQ(offsetof(struct sockaddr_vm, svm_cid), 8);
    ASSERT_U64_EQ(offsetof(struct sockaddr_vm, svm_zero), 12);
    ASSERT_U64_EQ(VMADDR_CID_ANY, 0xFFFFFFFFu);
    ASSERT_U64_EQ(VMADDR_PORT_ANY, 0xFFFFFFFFu);
    ASSERT_U64_EQ(VMADDR_CID_HYPERVISOR, 0);
    ASSERT_U64_EQ(VMADDR_CID_LOCAL, 1);
    ASSERT_U64_EQ(VMADDR_CID_HOST, 2);
    ASSERT_U64_EQ(SO_VMCI_BUFFER_SIZE, 0);
    ASSERT_U64_EQ(SO_VMCI_BUFFER_MIN_SIZE, 1);
    ASSERT_U64_EQ(SO_VMCI_BUFFER_MAX_SIZE, 2);
    /* R214: Linux's names have the same numbers 0/1/2 (literals: an alias compared with
     * the name it is defined as could never fail). */
    ASSERT_U64_EQ(SO_VM_SOCKETS_BUFFER_SIZE, 0);
    ASSERT_U64_EQ(SO_VM_SOCKETS_BUFFER_MIN_SIZE, 1);
    ASSERT_U64_EQ(SO_VM_SOCKETS_BUFFER_MAX_SIZE, 2);
}

struct cid_probe {
    uint32_t seen;
    uint32_t seen_explicit;
};

static void cid_probe_body(struct vs_context *context, void *arg)
{
    struct cid_probe *probe = arg;
    probe->seen = VMCISock_GetLocalCID();
    probe->seen_explicit = vs_local_cid(context);
}

/* R2: the AF value is 40; each process sees its own kernel's CID (2 on the host, the
 * VM's CID in a guest). Without a running process there is no caller: VMADDR_CID_ANY. */
static void test_R2_af_value_and_local_cid(void)
{
    struct fixture *f = fixture_create();
    ASSERT_U64_EQ(VMCISock_GetAFValue(), 40);
    int kept_fd = 0;
    ASSERT_U64_EQ(VMCISock_GetAFValueFd(&kept_fd), 40);
    VMCISock_ReleaseAFValueFd(kept_fd);
    struct cid_probe probes[3] = { { 0, 0 }, { 0, 0 }, { 0, 0 } };
    struct vs_context *contexts[3] = { &f->host, &f->guest_a, &f->guest_b };
    const uint32_t expected[3] = { CID_HOST, CID_A, CID_B };
    for (int index = 0; index < 3; index++)
        CU_ASSERT_EQUAL(vs_spawn(contexts[index], "cid", cid_probe_body, &probes[index], false), 0);
    ASSERT_FAILS(vs_spawn(&f->host, "again", cid_probe_body, &probes[0], false), EBUSY);
    run_idle(f);
    for (int index = 0; index < 3; index++) {
        ASSERT_U64_EQ(probes[index].seen, expected[index]);
        ASSERT_U64_EQ(probes[index].seen_explicit, expected[index]);
    }
    ASSERT_U64_EQ(VMCISock_GetLocalCID(), VMADDR_CID_ANY);
    int fd = vs_socket(&f->guest_a, VMCISock_GetAFValue(), SOCK_STREAM, 0);
    CU_ASSERT(fd >= VS_FD_FIRST);
    fixture_destroy(f);
}

/* R3, R4, R5: short, foreign-family and flagged addresses are refused by bind() and
 * connect() with EINVAL; reserved bytes are ignored and flag 0x01 is allowed. */
static void test_R3_R4_R5_invalid_addresses(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *c = &f->guest_a;
    int fd = stream_socket(c);
    struct sockaddr_vm addr = vm_addr(VMADDR_CID_ANY, 5000);
    ASSERT_FAILS(vs_bind(c, fd, SA(addr), sizeof(addr) - 1), EINVAL);          /* R3 */
    ASSERT_FAILS(vs_bind(c, fd, SA(addr), 0), EINVAL);
    ASSERT_FAILS(vs_bind(c, fd, NULL, sizeof(addr)), EINVAL);
    ASSERT_FAILS(vs_connect(c, fd, SA(addr), sizeof(addr) - 1), EINVAL);
    struct sockaddr_vm foreign = addr;
    foreign.svm_family = AF_INET;
    ASSERT_FAILS(vs_bind(c, fd, SA(foreign), sizeof(foreign)), EINVAL);         /* R4 */
    foreign.svm_family = AF_UNSPEC;
    ASSERT_FAILS(vs_connect(c, fd, SA(foreign), sizeof(foreign)), EINVAL);
    struct sockaddr_vm flagged = addr;
    flagged.svm_zero[0] = 0x02;
    ASSERT_FAILS(vs_bind(c, fd, SA(flagged), sizeof(flagged)), EINVAL);         /* R5 */
    struct sockaddr_vm ignored = addr;
    ignored.svm_reserved1 = 0xBEEF;
    ignored.svm_zero[0] = VMADDR_FLAG_TO_HOST;
    ignored.svm_zero[3] = 0x7F;
    ASSERT_RETURNS(vs_bind(c, fd, SA(ignored), sizeof(ignored)), 0);
    struct sockaddr_vm name = name_of(c, fd, false);
    ASSERT_U64_EQ(name.svm_port, 5000);
    ASSERT_FAILS(vs_bind(c, 99, SA(addr), sizeof(addr)), EBADF);
    fixture_destroy(f);
}

/* ---- 2.3 Ports ----------------------------------------------------------------------------- */

/* R12: ports <= 1023 (port 0 too) need net_bind_service; D1's host trust does not give it. */
static void test_R12_privileged_port_needs_net_bind_service(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *contexts[2] = { &f->guest_a, &f->host };
    for (int index = 0; index < 2; index++) {
        struct vs_context *c = contexts[index];
        int fd = stream_socket(c);
        struct sockaddr_vm port_1023 = vm_addr(VMADDR_CID_ANY, 1023);
        struct sockaddr_vm port_0 = vm_addr(VMADDR_CID_ANY, 0);
        struct sockaddr_vm port_1024 = vm_addr(VMADDR_CID_ANY, 1024);
        ASSERT_FAILS(vs_bind(c, fd, SA(port_1023), sizeof(port_1023)), EACCES);
        ASSERT_FAILS(vs_bind(c, fd, SA(port_0), sizeof(port_0)), EACCES);
        ASSERT_RETURNS(vs_bind(c, fd, SA(port_1024), sizeof(port_1024)), 0);
    }
    struct vsock_credentials privileged = f->guest_a.credentials;
    privileged.net_bind_service = true;
    struct vs_context root;
    vs_context_init(&root, f->world->engine, f->guest_a.stack, &privileged);
    int fd = stream_socket(&root);
    struct sockaddr_vm port_1023 = vm_addr(VMADDR_CID_ANY, 1023);
    ASSERT_RETURNS(vs_bind(&root, fd, SA(port_1023), sizeof(port_1023)), 0);
    int fd0 = stream_socket(&root);
    struct sockaddr_vm port_0 = vm_addr(CID_A, 0);
    ASSERT_RETURNS(vs_bind(&root, fd0, SA(port_0), sizeof(port_0)), 0);
    vs_context_destroy(&root);
    fixture_destroy(f);
}

static uint32_t bind_any_port(struct vs_context *c)
{
    int fd = stream_socket(c);
    struct sockaddr_vm any = vm_addr(VMADDR_CID_ANY, VMADDR_PORT_ANY);
    ASSERT_RETURNS(vs_bind(c, fd, SA(any), sizeof(any)), 0);
    return name_of(c, fd, false).svm_port;
}

/* R14, D13: each kernel's ephemeral stream ports start at 1024 and count up, skipping
 * ports already bound; connect() auto-binds from the same counter (R19). */
static void test_R14_ephemeral_ports_start_at_1024_per_kernel(void)
{
    struct fixture *f = fixture_create();
    ASSERT_U64_EQ(bind_any_port(&f->host), 1024);
    ASSERT_U64_EQ(bind_any_port(&f->host), 1025);
    ASSERT_U64_EQ(bind_any_port(&f->guest_a), 1024);                            /* D13 */
    ASSERT_U64_EQ(bind_any_port(&f->guest_b), 1024);
    int taken = stream_socket(&f->host);
    struct sockaddr_vm port_1027 = vm_addr(VMADDR_CID_ANY, 1027);
    ASSERT_RETURNS(vs_bind(&f->host, taken, SA(port_1027), sizeof(port_1027)), 0);
    ASSERT_U64_EQ(bind_any_port(&f->host), 1026);
    ASSERT_U64_EQ(bind_any_port(&f->host), 1028);                               /* skips 1027 */
    int listen_fd = listener(&f->host, 7000, 4);
    (void)listen_fd;
    int client = stream_socket(&f->guest_a);
    CU_ASSERT_EQUAL(plain_connect(f, &f->guest_a, client, CID_HOST, 7000), 0);
    ASSERT_U64_EQ(name_of(&f->guest_a, client, false).svm_port, 1025);          /* R19 */
    fixture_destroy(f);
}

/* R16: equal ports conflict when the CIDs are equal or either is ANY; other kernels and
 * closed sockets do not count. */
static void test_R16_bind_to_a_port_in_use(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *c = &f->host;
    struct sockaddr_vm any_5000 = vm_addr(VMADDR_CID_ANY, 5000);
    struct sockaddr_vm host_5000 = vm_addr(CID_HOST, 5000);
    struct sockaddr_vm host_5001 = vm_addr(CID_HOST, 5001);
    struct sockaddr_vm any_5001 = vm_addr(VMADDR_CID_ANY, 5001);
    int first = stream_socket(c);
    ASSERT_RETURNS(vs_bind(c, first, SA(any_5000), sizeof(any_5000)), 0);
    int second = stream_socket(c);
    ASSERT_FAILS(vs_bind(c, second, SA(any_5000), sizeof(any_5000)), EADDRINUSE);
    ASSERT_FAILS(vs_bind(c, second, SA(host_5000), sizeof(host_5000)), EADDRINUSE);
    ASSERT_RETURNS(vs_bind(c, second, SA(host_5001), sizeof(host_5001)), 0);
    int third = stream_socket(c);
    ASSERT_FAILS(vs_bind(c, third, SA(any_5001), sizeof(any_5001)), EADDRINUSE);
    int guest = stream_socket(&f->guest_a);
    ASSERT_RETURNS(vs_bind(&f->guest_a, guest, SA(any_5000), sizeof(any_5000)), 0);
    ASSERT_RETURNS(vs_close(c, first), 0);
    ASSERT_RETURNS(vs_bind(c, third, SA(any_5000), sizeof(any_5000)), 0);
    fixture_destroy(f);
}

/* R17, R103: only the kernel's own CID (or ANY) may be bound; the CID is checked before
 * the privileged-port rule. */
static void test_R17_bind_to_a_foreign_cid(void)
{
    struct fixture *f = fixture_create();
    struct sockaddr_vm guest_on_host = vm_addr(CID_A, 6000);
    struct sockaddr_vm local_cid = vm_addr(VMADDR_CID_LOCAL, 6000);
    struct sockaddr_vm host_on_guest = vm_addr(CID_HOST, 6000);
    struct sockaddr_vm other_guest = vm_addr(CID_B, 6000);
    struct sockaddr_vm privileged_foreign = vm_addr(CID_B, 80);
    int fd = stream_socket(&f->host);
    ASSERT_FAILS(vs_bind(&f->host, fd, SA(guest_on_host), sizeof(guest_on_host)), EADDRNOTAVAIL);
    ASSERT_FAILS(vs_bind(&f->host, fd, SA(local_cid), sizeof(local_cid)), EADDRNOTAVAIL);
    struct sockaddr_vm host_ok = vm_addr(CID_HOST, 6000);
    ASSERT_RETURNS(vs_bind(&f->host, fd, SA(host_ok), sizeof(host_ok)), 0);
    int guest_fd = stream_socket(&f->guest_a);
    ASSERT_FAILS(vs_bind(&f->guest_a, guest_fd, SA(host_on_guest), sizeof(host_on_guest)),
                 EADDRNOTAVAIL);
    ASSERT_FAILS(vs_bind(&f->guest_a, guest_fd, SA(other_guest), sizeof(other_guest)),
                 EADDRNOTAVAIL);
    ASSERT_FAILS(vs_bind(&f->guest_a, guest_fd, SA(privileged_foreign),
                         sizeof(privileged_foreign)), EADDRNOTAVAIL);           /* R103 order */
    struct sockaddr_vm own = vm_addr(CID_A, 6000);
    ASSERT_RETURNS(vs_bind(&f->guest_a, guest_fd, SA(own), sizeof(own)), 0);
    ASSERT_U64_EQ(name_of(&f->guest_a, guest_fd, false).svm_cid, CID_A);
    fixture_destroy(f);
}

/* R18, R103: a bound socket cannot be bound again, whatever the second address. */
static void test_R18_bind_twice(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *c = &f->guest_a;
    int fd = stream_socket(c);
    struct sockaddr_vm first = vm_addr(VMADDR_CID_ANY, 6100);
    struct sockaddr_vm other = vm_addr(VMADDR_CID_ANY, 6101);
    struct sockaddr_vm foreign = vm_addr(CID_B, 6102);
    struct sockaddr_vm any = vm_addr(VMADDR_CID_ANY, VMADDR_PORT_ANY);
    ASSERT_RETURNS(vs_bind(c, fd, SA(first), sizeof(first)), 0);
    ASSERT_FAILS(vs_bind(c, fd, SA(first), sizeof(first)), EINVAL);
    ASSERT_FAILS(vs_bind(c, fd, SA(other), sizeof(other)), EINVAL);
    ASSERT_FAILS(vs_bind(c, fd, SA(foreign), sizeof(foreign)), EINVAL);        /* before R17 */
    int ephemeral = stream_socket(c);
    ASSERT_RETURNS(vs_bind(c, ephemeral, SA(any), sizeof(any)), 0);
    ASSERT_FAILS(vs_bind(c, ephemeral, SA(any), sizeof(any)), EINVAL);
    ASSERT_U64_EQ(name_of(c, fd, false).svm_port, 6100);
    fixture_destroy(f);
}

/* ---- 6.1 Creation ---------------------------------------------------------------------------- */

/* R99: the protocol must be 0 or 40 (checked before the type); the family must be 40. */
static void test_R99_protocol_and_family(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *c = &f->guest_a;
    ASSERT_FAILS(vs_socket(c, AF_VSOCK, SOCK_STREAM, 1), EPROTONOSUPPORT);
    ASSERT_FAILS(vs_socket(c, AF_VSOCK, SOCK_STREAM, 41), EPROTONOSUPPORT);
    ASSERT_FAILS(vs_socket(c, AF_VSOCK, SOCK_STREAM, -1), EPROTONOSUPPORT);
    ASSERT_FAILS(vs_socket(c, AF_VSOCK, SOCK_SEQPACKET, 6), EPROTONOSUPPORT);
    ASSERT_FAILS(vs_socket(c, AF_INET, SOCK_STREAM, 0), EAFNOSUPPORT);
    CU_ASSERT(vs_socket(c, AF_VSOCK, SOCK_STREAM, 0) >= VS_FD_FIRST);
    CU_ASSERT(vs_socket(c, AF_VSOCK, SOCK_STREAM, PF_VSOCK) >= VS_FD_FIRST);
    CU_ASSERT(vs_socket(c, AF_VSOCK, SOCK_DGRAM, 0) >= VS_FD_FIRST);
    ASSERT_U64_EQ(c->fd_count, 3);
    fixture_destroy(f);
}

/* R100: SOCK_SEQPACKET (and any other type) fails at once with ESOCKTNOSUPPORT;
 * SOCK_NONBLOCK makes a non-blocking socket. */
static void test_R100_seqpacket_and_other_types(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *c = &f->host;
    ASSERT_FAILS(vs_socket(c, AF_VSOCK, SOCK_SEQPACKET, 0), ESOCKTNOSUPPORT);
    ASSERT_FAILS(vs_socket(c, AF_VSOCK, SOCK_RAW, 0), ESOCKTNOSUPPORT);
    ASSERT_FAILS(vs_socket(c, AF_VSOCK, 0, 0), ESOCKTNOSUPPORT);
    ASSERT_U64_EQ(c->fd_count, 0);
    int fd = vs_socket(c, AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK, 0);
    CU_ASSERT_FATAL(fd >= VS_FD_FIRST);
    CU_ASSERT((vs_fcntl(c, fd, F_GETFL, 0) & O_NONBLOCK) != 0);
    ASSERT_RETURNS(vs_fcntl(c, fd, F_SETFL, 0), 0);
    ASSERT_U64_EQ(vs_fcntl(c, fd, F_GETFL, 0) & O_NONBLOCK, 0);
    fixture_destroy(f);
}

/* ---- 6.3 listen and accept ------------------------------------------------------------------ */

/* R105: listen needs a bound, unconnected stream socket; the backlog is clamped to
 * [0, 4096] (negative: 4096), and a second listen only updates it. */
static void test_R105_listen_rules_and_backlog_clamp(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *c = &f->host;
    int fd = stream_socket(c);
    ASSERT_FAILS(vs_listen(c, fd, 8), EINVAL);                                  /* unbound */
    struct sockaddr_vm addr = vm_addr(VMADDR_CID_ANY, 6200);
    ASSERT_RETURNS(vs_bind(c, fd, SA(addr), sizeof(addr)), 0);
    ASSERT_RETURNS(vs_listen(c, fd, 100000), 0);
    ASSERT_U64_EQ(vs_socket_of(c, fd)->backlog_max, 4096);
    ASSERT_RETURNS(vs_listen(c, fd, -1), 0);
    ASSERT_U64_EQ(vs_socket_of(c, fd)->backlog_max, 4096);
    ASSERT_RETURNS(vs_listen(c, fd, 4097), 0);
    ASSERT_U64_EQ(vs_socket_of(c, fd)->backlog_max, 4096);
    ASSERT_RETURNS(vs_listen(c, fd, 3), 0);
    ASSERT_U64_EQ(vs_socket_of(c, fd)->backlog_max, 3);
    ASSERT_RETURNS(vs_listen(c, fd, 0), 0);
    ASSERT_U64_EQ(vs_socket_of(c, fd)->backlog_max, 0);
    ASSERT_U64_EQ(vs_socket_of(c, fd)->tcp, VSOCK_TCP_LISTEN);
    int client_fd, server_fd;
    connected_pair(f, &f->guest_a, c, 6201, &client_fd, &server_fd);
    ASSERT_FAILS(vs_listen(&f->guest_a, client_fd, 1), EINVAL);                 /* connected */
    ASSERT_FAILS(vs_listen(c, server_fd, 1), EINVAL);
    int dgram = vs_socket(c, AF_VSOCK, SOCK_DGRAM, 0);
    CU_ASSERT_FATAL(dgram >= VS_FD_FIRST);
    ASSERT_FAILS(vs_listen(c, dgram, 1), EOPNOTSUPP);
    fixture_destroy(f);
}

/* R106: the backlog counts pending plus unaccepted children; at the backlog an incoming
 * request is reset, so listen(fd, 0) refuses every connection (the client: ECONNRESET). */
static void test_R106_backlog_zero_refuses_every_connection(void)
{
    struct fixture *f = fixture_create();
    struct connect_result result;
    int zero = listener(&f->host, 6300, 0);
    ASSERT_U64_EQ(fiber_connect(f, &f->guest_a, CID_HOST, 6300, &result), ECONNRESET);
    ASSERT_U64_EQ(fiber_connect(f, &f->guest_b, CID_HOST, 6300, &result), ECONNRESET);
    ASSERT_FAILS(vs_accept(&f->host, zero, NULL, NULL), EAGAIN);
    int one = listener(&f->host, 6301, 1);
    int first = stream_socket(&f->guest_a);
    int second = stream_socket(&f->guest_a);
    int third = stream_socket(&f->guest_a);
    CU_ASSERT_EQUAL(plain_connect(f, &f->guest_a, first, CID_HOST, 6301), 0);
    CU_ASSERT_EQUAL(plain_connect(f, &f->guest_a, second, CID_HOST, 6301), ECONNRESET);
    CU_ASSERT(vs_accept(&f->host, one, NULL, NULL) >= VS_FD_FIRST);
    CU_ASSERT_EQUAL(plain_connect(f, &f->guest_a, third, CID_HOST, 6301), 0);
    fixture_destroy(f);
}

/* R108: children are accepted in the order they became established, with the peer's
 * address, connected. */
static void test_R108_accept_in_order_of_establishment(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    int listen_fd = listener(&f->host, 6400, 16);
    int clients[3];
    for (int index = 0; index < 3; index++) {
        clients[index] = stream_socket(g);
        struct sockaddr_vm addr = vm_addr(VMADDR_CID_ANY, 1100u + (uint32_t)index);
        ASSERT_RETURNS(vs_bind(g, clients[index], SA(addr), sizeof(addr)), 0);
    }
    const int order[3] = { 2, 0, 1 };
    for (int index = 0; index < 3; index++)
        CU_ASSERT_EQUAL(plain_connect(f, g, clients[order[index]], CID_HOST, 6400), 0);
    for (int index = 0; index < 3; index++) {
        struct sockaddr_vm peer;
        memset(&peer, 0xAA, sizeof(peer));
        socklen_t length = sizeof(peer);
        int child = vs_accept(&f->host, listen_fd, SA(peer), &length);
        CU_ASSERT_FATAL(child >= VS_FD_FIRST);
        ASSERT_U64_EQ(length, sizeof(peer));
        ASSERT_U64_EQ(peer.svm_family, AF_VSOCK);
        ASSERT_U64_EQ(peer.svm_cid, CID_A);
        ASSERT_U64_EQ(peer.svm_port, 1100u + (uint32_t)order[index]);
        ASSERT_U64_EQ(vs_socket_of(&f->host, child)->state, VSOCK_SS_CONNECTED);
        ASSERT_U64_EQ(name_of(&f->host, child, true).svm_port, 1100u + (uint32_t)order[index]);
    }
    ASSERT_FAILS(vs_accept(&f->host, listen_fd, NULL, NULL), EAGAIN);
    fixture_destroy(f);
}

/* ---- 6.4 connect ---------------------------------------------------------------------------- */

/* R111 (and R10, R125): EISCONN when connected (before the address is looked at),
 * ENETUNREACH for CID 1, EINVAL for a listener or after shutdown, EALREADY for a second
 * non-blocking connect while the first is in progress. */
static void test_R111_connect_errors(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    int client_fd, server_fd;
    connected_pair(f, g, &f->host, 6500, &client_fd, &server_fd);
    struct sockaddr_vm host = vm_addr(CID_HOST, 6500);
    struct sockaddr_vm bad = host;
    bad.svm_family = AF_INET;
    ASSERT_FAILS(vs_connect(g, client_fd, SA(host), sizeof(host)), EISCONN);
    ASSERT_FAILS(vs_connect(g, client_fd, SA(bad), sizeof(bad)), EISCONN);
    int fresh = stream_socket(g);
    struct sockaddr_vm local = vm_addr(VMADDR_CID_LOCAL, 6500);
    ASSERT_FAILS(vs_connect(g, fresh, SA(local), sizeof(local)), ENETUNREACH);  /* R10 */
    int listen_fd = listener(g, 6501, 4);
    ASSERT_FAILS(vs_connect(g, listen_fd, SA(host), sizeof(host)), EINVAL);
    ASSERT_RETURNS(vs_shutdown(g, client_fd, SHUT_WR), 0);
    ASSERT_FAILS(vs_connect(g, client_fd, SA(host), sizeof(host)), EINVAL);     /* R125 */
    struct sockaddr_vm peer;
    socklen_t length = sizeof(peer);
    ASSERT_FAILS(vs_getpeername(g, client_fd, SA(peer), &length), ENOTCONN);
    int nonblocking = vs_socket(g, AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ASSERT_FAILS(vs_connect(g, nonblocking, SA(host), sizeof(host)), EINPROGRESS);
    ASSERT_FAILS(vs_connect(g, nonblocking, SA(host), sizeof(host)), EALREADY);
    run_idle(f);
    ASSERT_FAILS(vs_connect(g, nonblocking, SA(host), sizeof(host)), EISCONN);
    fixture_destroy(f);
}

/* R112, R168, R212 (and R172): a connect to a port with no listener is reset: ECONNRESET,
 * not ECONNREFUSED, from a guest to the host and from the host to a guest, also when
 * the port is bound but not listening. The failed socket may connect again (R112). */
static void test_R112_R168_R212_connect_without_listener_is_reset(void)
{
    struct fixture *f = fixture_create();
    struct connect_result result;
    ASSERT_U64_EQ(fiber_connect(f, &f->guest_a, CID_HOST, 6600, &result), ECONNRESET);
    CU_ASSERT(result.ended_ns > result.started_ns);
    CU_ASSERT(result.ended_ns - result.started_ns < CONNECT_TIMEOUT_NS);
    struct vsock_sock *sock = vs_socket_of(&f->guest_a, result.fd);
    CU_ASSERT_FATAL(sock != NULL);
    ASSERT_U64_EQ(sock->tcp, VSOCK_TCP_CLOSE);
    ASSERT_U64_EQ(sock->state, VSOCK_SS_UNCONNECTED);
    int guest_fd = result.fd;
    ASSERT_U64_EQ(fiber_connect(f, &f->host, CID_A, 6601, &result), ECONNRESET);
    int bound = stream_socket(&f->host);
    struct sockaddr_vm addr = vm_addr(VMADDR_CID_ANY, 6602);
    ASSERT_RETURNS(vs_bind(&f->host, bound, SA(addr), sizeof(addr)), 0);
    ASSERT_U64_EQ(fiber_connect(f, &f->guest_b, CID_HOST, 6602, &result), ECONNRESET); /* R172 */
    int listen_fd = listener(&f->host, 6603, 4);
    (void)listen_fd;
    CU_ASSERT_EQUAL(plain_connect(f, &f->guest_a, guest_fd, CID_HOST, 6603), 0);
    fixture_destroy(f);
}

struct nonblocking_client {
    uint32_t port;
    int connect_error;
    int immediate_ready;
    short immediate_revents;
    int ready;
    short revents;
    uint64_t started_ns;
    uint64_t ready_ns;
    int so_error;
    int so_error_again;
    int reconnect_error;
    enum vsock_socket_state state_after;
    enum vsock_tcp_state tcp_after;
};

static void nonblocking_client_body(struct vs_context *context, void *arg)
{
    struct nonblocking_client *client = arg;
    int fd = vs_socket(context, AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_vm host = vm_addr(CID_HOST, client->port);
    client->started_ns = sim_engine_now(context->engine);
    errno = 0;
    client->connect_error = vs_connect(context, fd, SA(host), sizeof(host)) == 0 ? 0 : errno;
    struct pollfd entry = { .fd = fd, .events = POLL_ALL };
    client->immediate_ready = vs_poll(context, &entry, 1, 0);
    client->immediate_revents = entry.revents;
    client->ready = vs_poll(context, &entry, 1, -1);
    client->revents = entry.revents;
    client->ready_ns = sim_engine_now(context->engine);
    socklen_t length = sizeof(client->so_error);
    (void)vs_getsockopt(context, fd, SOL_SOCKET, SO_ERROR, &client->so_error, &length);
    length = sizeof(client->so_error_again);
    (void)vs_getsockopt(context, fd, SOL_SOCKET, SO_ERROR, &client->so_error_again, &length);
    client->state_after = vs_socket_of(context, fd)->state;
    client->tcp_after = vs_socket_of(context, fd)->tcp;
    errno = 0;
    client->reconnect_error = vs_connect(context, fd, SA(host), sizeof(host)) == 0 ? 0 : errno;
}

/* R113, R135: a non-blocking connect returns EINPROGRESS; the socket is neither readable
 * nor writable during the handshake and becomes writable when established. */
static void test_R113_nonblocking_connect_then_pollout(void)
{
    struct fixture *f = fixture_create();
    listener(&f->host, 6700, 4);
    struct nonblocking_client client = { .port = 6700 };
    CU_ASSERT_EQUAL(vs_spawn(&f->guest_a, "client", nonblocking_client_body, &client, false), 0);
    run_idle(f);
    ASSERT_U64_EQ(client.connect_error, EINPROGRESS);
    ASSERT_U64_EQ(client.immediate_ready, 0);
    ASSERT_U64_EQ(client.immediate_revents, 0);                                 /* R135 */
    ASSERT_U64_EQ(client.ready, 1);
    ASSERT_U64_EQ((uint16_t)client.revents, POLLOUT | POLLWRNORM);
    CU_ASSERT(client.ready_ns > client.started_ns);
    CU_ASSERT(client.ready_ns - client.started_ns < CONNECT_TIMEOUT_NS);
    ASSERT_U64_EQ(client.so_error, 0);
    ASSERT_U64_EQ(client.state_after, VSOCK_SS_CONNECTED);
    ASSERT_U64_EQ(client.tcp_after, VSOCK_TCP_ESTABLISHED);
    ASSERT_U64_EQ(client.reconnect_error, EISCONN);
    fixture_destroy(f);
}


/* R114 (R112): with the guest's interrupts masked the NEGOTIATE never reaches its
 * driver, so a blocking guest -> host connect fails with ETIMEDOUT exactly 2 s after it
 * began (the cost of sending the request is paid inside those 2 s, before the wait),
 * and the engine ran only a few dozen events meanwhile: the wait is one timer, not
 * polling. */
static void test_R114_connect_times_out_after_2s_with_interrupts_masked(void)
{
    struct fixture *f = fixture_create();
    listener(&f->host, 6800, 4);
    mask_guest_interrupts(f, CID_A);
    struct connect_result result;
    ASSERT_U64_EQ(fiber_connect(f, &f->guest_a, CID_HOST, 6800, &result), ETIMEDOUT);
    CU_ASSERT(result.cost_ns > 0);
    ASSERT_U64_EQ(result.ended_ns - result.started_ns, CONNECT_TIMEOUT_NS);
    CU_ASSERT(result.events <= TIMEOUT_EVENTS_MAX);
    if (result.events > TIMEOUT_EVENTS_MAX)
        fprintf(stderr, "R114: %llu events during the connect\n",
                (unsigned long long)result.events);
    struct vsock_sock *sock = vs_socket_of(&f->guest_a, result.fd);
    CU_ASSERT_FATAL(sock != NULL);
    ASSERT_U64_EQ(sock->state, VSOCK_SS_UNCONNECTED);                           /* R112 */
    ASSERT_U64_EQ(sock->tcp, VSOCK_TCP_CLOSE);
    fixture_destroy(f);
}

/* R113, R135: the same with a non-blocking connect: the poll wakes exactly 2 s after the
 * connect with POLLERR and POLLOUT, SO_ERROR reads ETIMEDOUT once, and the socket is back
 * in TCP_CLOSE / SS_UNCONNECTED, so a new connect starts again (EINPROGRESS). */
static void test_R113_nonblocking_connect_timeout(void)
{
    struct fixture *f = fixture_create();
    listener(&f->host, 6900, 4);
    mask_guest_interrupts(f, CID_A);
    struct nonblocking_client client = { .port = 6900 };
    CU_ASSERT_EQUAL(vs_spawn(&f->guest_a, "client", nonblocking_client_body, &client, false), 0);
    ASSERT_U64_EQ(vs_world_run(f->world, SIM_TIME_NEVER), SIM_STOP_IDLE);
    ASSERT_U64_EQ(client.connect_error, EINPROGRESS);
    ASSERT_U64_EQ(client.ready, 1);
    ASSERT_U64_EQ((uint16_t)client.revents, POLLERR | POLLOUT | POLLWRNORM);     /* R135 */
    ASSERT_U64_EQ(client.so_error, ETIMEDOUT);
    ASSERT_U64_EQ(client.so_error_again, 0);
    ASSERT_U64_EQ(client.tcp_after, VSOCK_TCP_CLOSE);
    ASSERT_U64_EQ(client.state_after, VSOCK_SS_UNCONNECTED);
    ASSERT_U64_EQ(client.reconnect_error, EINPROGRESS);
    fixture_destroy(f);
}

/* ---- 6.5 Data transfer ------------------------------------------------------------------------ */

/* R116: send() on an unconnected socket is ENOTCONN; MSG_OOB is EOPNOTSUPP; an address
 * is EISCONN when established, EOPNOTSUPP otherwise; after SHUT_WR, EPIPE. */
static void test_R116_send_errors(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    uint8_t bytes[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    int fresh = stream_socket(g);
    ASSERT_FAILS(vs_send(g, fresh, bytes, sizeof(bytes), 0), ENOTCONN);
    struct sockaddr_vm addr = vm_addr(VMADDR_CID_ANY, 7000);
    ASSERT_RETURNS(vs_bind(g, fresh, SA(addr), sizeof(addr)), 0);
    ASSERT_FAILS(vs_send(g, fresh, bytes, sizeof(bytes), 0), ENOTCONN);
    struct sockaddr_vm host = vm_addr(CID_HOST, 7001);
    ASSERT_FAILS(vs_sendto(g, fresh, bytes, sizeof(bytes), 0, SA(host), sizeof(host)),
                 EOPNOTSUPP);
    int client_fd, server_fd;
    connected_pair(f, g, &f->host, 7001, &client_fd, &server_fd);
    ASSERT_FAILS(vs_send(g, client_fd, bytes, sizeof(bytes), MSG_OOB), EOPNOTSUPP);
    ASSERT_FAILS(vs_sendto(g, client_fd, bytes, sizeof(bytes), 0, SA(host), sizeof(host)),
                 EISCONN);
    ASSERT_RETURNS(vs_send(g, client_fd, bytes, 0, 0), 0);
    ASSERT_RETURNS(vs_send(g, client_fd, bytes, sizeof(bytes), MSG_NOSIGNAL), sizeof(bytes));
    ASSERT_RETURNS(vs_shutdown(g, client_fd, SHUT_WR), 0);
    ASSERT_FAILS(vs_send(g, client_fd, bytes, sizeof(bytes), 0), EPIPE);        /* D11 */
    ASSERT_FAILS(vs_send(g, 1234, bytes, sizeof(bytes), 0), EBADF);
    fixture_destroy(f);
}

/* R119: recv() on an unconnected or listening socket is ENOTCONN; MSG_OOB EOPNOTSUPP; a
 * zero-length buffer returns 0; with nothing queued a non-blocking recv (and a plain
 * call) fails with EAGAIN; after SHUT_RD it returns 0 even with data queued. */
static void test_R119_recv_errors(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    uint8_t buffer[64];
    int fresh = stream_socket(g);
    ASSERT_FAILS(vs_recv(g, fresh, buffer, sizeof(buffer), 0), ENOTCONN);
    int client_fd, server_fd;
    int listen_fd = connected_pair(f, g, &f->host, 7100, &client_fd, &server_fd);
    ASSERT_FAILS(vs_recv(&f->host, listen_fd, buffer, sizeof(buffer), 0), ENOTCONN);
    ASSERT_FAILS(vs_recv(g, client_fd, buffer, sizeof(buffer), MSG_OOB), EOPNOTSUPP);
    ASSERT_RETURNS(vs_recv(g, client_fd, buffer, 0, 0), 0);
    ASSERT_FAILS(vs_recv(g, client_fd, buffer, sizeof(buffer), 0), EAGAIN);    /* plain call */
    ASSERT_FAILS(vs_recv(g, client_fd, buffer, sizeof(buffer), MSG_DONTWAIT), EAGAIN);
    const char text[] = "hello";
    ASSERT_RETURNS(vs_send(&f->host, server_fd, text, sizeof(text), 0), sizeof(text));
    run_idle(f);
    ASSERT_RETURNS(vs_recv(g, client_fd, buffer, 2, MSG_PEEK), 2);
    ASSERT_RETURNS(vs_shutdown(g, client_fd, SHUT_RD), 0);
    ASSERT_RETURNS(vs_recv(g, client_fd, buffer, sizeof(buffer), 0), 0);
    fixture_destroy(f);
}

/* R119's checks in their order, with calls that meet two conditions at once: the state
 * check comes before MSG_OOB, MSG_OOB before a local SHUT_RD and before a zero length. */
static void test_R119_recv_checks_in_order(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    uint8_t buffer[64];
    int fresh = stream_socket(g);
    ASSERT_FAILS(vs_recv(g, fresh, buffer, sizeof(buffer), MSG_OOB), ENOTCONN);
    ASSERT_FAILS(vs_recv(g, fresh, buffer, 0, MSG_OOB), ENOTCONN);
    int client_fd, server_fd;
    int listen_fd = connected_pair(f, g, &f->host, 7110, &client_fd, &server_fd);
    ASSERT_FAILS(vs_recv(&f->host, listen_fd, buffer, 0, MSG_OOB), ENOTCONN);
    ASSERT_FAILS(vs_recv(g, client_fd, buffer, 0, MSG_OOB), EOPNOTSUPP);   /* before length 0 */
    const char text[] = "queued";
    ASSERT_RETURNS(vs_send(&f->host, server_fd, text, sizeof(text), 0), sizeof(text));
    run_idle(f);
    ASSERT_RETURNS(vs_shutdown(g, client_fd, SHUT_RD), 0);
    ASSERT_FAILS(vs_recv(g, client_fd, buffer, sizeof(buffer), MSG_OOB), EOPNOTSUPP);
    ASSERT_RETURNS(vs_recv(g, client_fd, buffer, sizeof(buffer), 0), 0);  /* data queued: 0 */
    /* A guest socket whose peer closed with nothing left to read is done and no longer
     * established: the state check answers 0 before MSG_OOB is looked at. */
    int other_client, other_server;
    int other_listener = connected_pair(f, g, &f->host, 7111, &other_client, &other_server);
    ASSERT_RETURNS(vs_close(&f->host, other_server), 0);
    run_idle(f);
    ASSERT_RETURNS(vs_recv(g, other_client, buffer, sizeof(buffer), MSG_OOB), 0);
    (void)other_listener;
    fixture_destroy(f);
}

struct timed_writer {
    int fd;
    ssize_t first;
    uint64_t first_ns;
    int dontwait_error;
    ssize_t second;
    int second_error;
    uint64_t second_ns;
    uint64_t started_ns;
};

static void timed_writer_body(struct vs_context *context, void *arg)
{
    static uint8_t payload[100000];
    struct timed_writer *writer = arg;
    struct sim_engine *engine = context->engine;
    struct timeval one_second = { .tv_sec = 1, .tv_usec = 0 };
    if (vs_setsockopt(context, writer->fd, SOL_SOCKET, SO_SNDTIMEO, &one_second,
                      sizeof(one_second)) != 0)
        return;
    stream_fill(payload, 0, sizeof(payload));
    writer->started_ns = sim_engine_now(engine);
    writer->first = vs_send(context, writer->fd, payload, sizeof(payload), 0);
    writer->first_ns = sim_engine_now(engine);
    errno = 0;
    writer->dontwait_error = vs_send(context, writer->fd, payload, 1, MSG_DONTWAIT) < 0 ? errno : 0;
    errno = 0;
    writer->second = vs_send(context, writer->fd, payload, 1, 0);
    writer->second_error = errno;
    writer->second_ns = sim_engine_now(engine);
}

/* R122 (R117): a writer whose reader reads nothing buffers exactly Q - 1 = 65535 bytes
 * and then blocks: a blocking send with SO_SNDTIMEO returns 65535 when it times out, a
 * non-blocking send then fails with EAGAIN, a timed-out send with nothing written fails
 * with EAGAIN; the reader then finds exactly those bytes. */
static void test_R122_writer_without_reader_buffers_65535_bytes(void)
{
    struct fixture *f = fixture_create();
    int client_fd, server_fd;
    connected_pair(f, &f->guest_a, &f->host, 7200, &client_fd, &server_fd);
    struct timed_writer writer = { .fd = client_fd };
    CU_ASSERT_EQUAL(vs_spawn(&f->guest_a, "writer", timed_writer_body, &writer, false), 0);
    run_idle(f);
    ASSERT_U64_EQ(writer.first, QUEUE_BYTES - 1);
    CU_ASSERT(writer.first_ns - writer.started_ns >= 1000000000ull);
    ASSERT_U64_EQ(writer.dontwait_error, EAGAIN);
    ASSERT_U64_EQ(writer.second, (uint64_t)-1);
    ASSERT_U64_EQ(writer.second_error, EAGAIN);
    CU_ASSERT(writer.second_ns - writer.first_ns >= 1000000000ull);
    ASSERT_POLL(&f->guest_a, client_fd, 0);                     /* full: not writable */
    static uint8_t received[QUEUE_BYTES + 16];
    ASSERT_RETURNS(vs_recv(&f->host, server_fd, received, sizeof(received), 0), QUEUE_BYTES - 1);
    uint64_t mismatches = 0;
    for (uint64_t offset = 0; offset < QUEUE_BYTES - 1; offset++)
        mismatches += received[offset] != stream_byte(offset);
    ASSERT_U64_EQ(mismatches, 0);
    int other_client, other_server;
    connected_pair(f, &f->guest_b, &f->host, 7201, &other_client, &other_server);
    static uint8_t payload[QUEUE_BYTES + 1];
    ASSERT_RETURNS(vs_send(&f->guest_b, other_client, payload, sizeof(payload), 0),
                   QUEUE_BYTES - 1);                           /* plain: the bytes moved */
    ASSERT_FAILS(vs_send(&f->guest_b, other_client, payload, 1, 0), EAGAIN);
    fixture_destroy(f);
}

/* ---- R123: 1 MiB in order ------------------------------------------------------------------ */

struct transfer {
    uint32_t port;
    uint64_t seed;
    uint64_t sent;
    uint64_t received;
    uint64_t mismatches;
    uint64_t recv_calls;
    int send_error;
    int recv_error;
    bool reader_saw_eof;
    uint64_t done_ns;
};

static void transfer_writer_body(struct vs_context *context, void *arg)
{
    static uint8_t chunk[CHUNK_BYTES_MAX];
    struct transfer *transfer = arg;
    struct sim_rng rng;
    sim_rng_init_stream(&rng, transfer->seed, "writer");
    int listen_fd = vs_socket(context, AF_VSOCK, SOCK_STREAM, 0);
    struct sockaddr_vm addr = vm_addr(VMADDR_CID_ANY, transfer->port);
    if (vs_bind(context, listen_fd, SA(addr), sizeof(addr)) != 0 ||
        vs_listen(context, listen_fd, 1) != 0)
        return;
    int fd = vs_accept(context, listen_fd, NULL, NULL);
    while (fd >= 0 && transfer->sent < TRANSFER_BYTES) {
        uint64_t size = 1 + sim_rng_below(&rng, CHUNK_BYTES_MAX);
        if (size > TRANSFER_BYTES - transfer->sent)
            size = TRANSFER_BYTES - transfer->sent;
        stream_fill(chunk, transfer->sent, size);
        ssize_t sent = vs_send(context, fd, chunk, size, 0);
        if (sent <= 0) {
            transfer->send_error = errno;
            break;
        }
        transfer->sent += (uint64_t)sent;
    }
    (void)vs_close(context, fd);
    (void)vs_close(context, listen_fd);
}

static void transfer_reader_body(struct vs_context *context, void *arg)
{
    static uint8_t chunk[CHUNK_BYTES_MAX];
    struct transfer *transfer = arg;
    struct sim_rng rng;
    sim_rng_init_stream(&rng, transfer->seed, "reader");
    int fd = vs_socket(context, AF_VSOCK, SOCK_STREAM, 0);
    struct sockaddr_vm host = vm_addr(CID_HOST, transfer->port);
    if (vs_connect(context, fd, SA(host), sizeof(host)) != 0) {
        transfer->recv_error = errno;
        return;
    }
    for (uint64_t calls = 0; calls < 4 * TRANSFER_BYTES; calls++) {
        uint64_t size = 1 + sim_rng_below(&rng, CHUNK_BYTES_MAX);
        ssize_t got = vs_recv(context, fd, chunk, size, 0);
        transfer->recv_calls++;
        if (got < 0) {
            transfer->recv_error = errno;
            break;
        }
        if (got == 0) {
            transfer->reader_saw_eof = true;
            break;
        }
        for (ssize_t index = 0; index < got; index++)
            transfer->mismatches += chunk[index] != stream_byte(transfer->received + (uint64_t)index);
        transfer->received += (uint64_t)got;
    }
    transfer->done_ns = sim_engine_now(context->engine);
}

/* One 1 MiB transfer host -> guest A on fibers, chunk sizes drawn from `seed`. */
static void transfer_run(uint64_t seed, struct transfer *transfer, char digest_hex[33])
{
    struct sim_digest *digest = sim_digest_create();
    CU_ASSERT_PTR_NOT_NULL_FATAL(digest);
    struct sim_trace_sink sink = sim_digest_sink(digest);
    struct fixture *f = fixture_create_with(seed, &sink, 1);
    memset(transfer, 0, sizeof(*transfer));
    transfer->port = 7300;
    transfer->seed = seed;
    CU_ASSERT_EQUAL(vs_spawn(&f->host, "writer", transfer_writer_body, transfer, false), 0);
    CU_ASSERT_EQUAL(vs_spawn(&f->guest_a, "reader", transfer_reader_body, transfer, false), 0);
    run_idle(f);
    fixture_destroy(f);
    sim_digest_hex(digest, digest_hex);
    sim_digest_destroy(digest);
}

/* R123: 1 MiB written in random-sized chunks arrives in order, byte for byte, read in
 * other random-sized chunks, then EOF (R171: guest-side data outlives the writer's
 * close). The same world twice gives the same digest and end time. */
static void test_R123_one_mebibyte_in_order_and_deterministic(void)
{
    struct transfer first, second;
    char first_hex[33], second_hex[33];
    transfer_run(SEED, &first, first_hex);
    ASSERT_U64_EQ(first.sent, TRANSFER_BYTES);
    ASSERT_U64_EQ(first.received, TRANSFER_BYTES);
    ASSERT_U64_EQ(first.mismatches, 0);
    ASSERT_U64_EQ(first.send_error, 0);
    ASSERT_U64_EQ(first.recv_error, 0);
    CU_ASSERT(first.reader_saw_eof);
    CU_ASSERT(first.recv_calls > TRANSFER_BYTES / CHUNK_BYTES_MAX);
    CU_ASSERT(first.done_ns > 0);
    transfer_run(SEED, &second, second_hex);
    CU_ASSERT_STRING_EQUAL(first_hex, second_hex);
    ASSERT_U64_EQ(second.done_ns, first.done_ns);
    ASSERT_U64_EQ(second.recv_calls, first.recv_calls);
}

/* ---- Receiving in place (vsock_recv_in_place) ------------------------------------------------ */

#define IN_PLACE_STEPS 6u

/* What one run of in_place_run saw: per receive step its result and whether its bytes were
 * the stream's at that offset (gathered from the pieces, or as copied). */
struct in_place_run {
    int64_t results[IN_PLACE_STEPS];
    uint64_t mismatches;
    uint64_t wrapped_steps;             /* in place: steps whose bytes came in two pieces */
    char digest_hex[33];
};

/* One receive on the guest's end, plain code (never waits): copied by vsock_recv, or in
 * place; checks the bytes against the stream at `offset`. */
static int64_t in_place_receive(struct vsock_sock *sock, bool in_place, uint64_t size_bytes,
                                uint32_t flags, uint64_t offset, struct in_place_run *run)
{
    static uint8_t copied[3 * QUEUE_BYTES];
    struct vsock_call call = { .deadline_ns = SIM_TIME_NEVER };
    uint64_t progress = 0;
    int64_t rc;
    if (in_place) {
        struct vsock_bytes bytes;
        CU_ASSERT_FATAL(vsock_recv_in_place_fits(sock, size_bytes, flags, 0));
        rc = vsock_recv_in_place(sock, size_bytes, flags, &bytes, &progress, &call);
        if (rc > 0) {
            CU_ASSERT_FATAL(bytes.first_bytes + bytes.second_bytes == (uint64_t)rc);
            memcpy(copied, bytes.first, (size_t)bytes.first_bytes);
            if (bytes.second_bytes > 0)
                memcpy(copied + bytes.first_bytes, bytes.second, (size_t)bytes.second_bytes);
            run->wrapped_steps += bytes.second_bytes > 0;
        }
    } else {
        rc = vsock_recv(sock, copied, size_bytes, flags, NULL, NULL, &progress, &call);
    }
    for (int64_t index = 0; index < rc; index++)
        run->mismatches += copied[index] != stream_byte(offset + (uint64_t)index);
    return rc;
}

/* Host -> guest A through a 64 KiB queue: 50 000 bytes, 30 000 read, 40 000 more (the
 * ring wraps), a peek and reads across the wrap, then nothing left (EAGAIN). The same
 * steps read in place or copied, with a digest of every event. */
static void in_place_run(bool in_place, struct in_place_run *run)
{
    static uint8_t chunk[3 * QUEUE_BYTES];
    memset(run, 0, sizeof(*run));
    struct sim_digest *digest = sim_digest_create();
    CU_ASSERT_PTR_NOT_NULL_FATAL(digest);
    struct sim_trace_sink sink = sim_digest_sink(digest);
    struct fixture *f = fixture_create_with(SEED, &sink, 1);
    int client_fd, server_fd;
    connected_pair(f, &f->guest_a, &f->host, 8300, &client_fd, &server_fd);
    struct vsock_sock *guest = vs_socket_of(&f->guest_a, client_fd);
    CU_ASSERT_PTR_NOT_NULL_FATAL(guest);
    static const struct { uint64_t send_bytes, recv_bytes; uint32_t flags; } steps[] = {
        { 50000, 30000, 0 }, { 40000, 100, VSOCK_MSG_PEEK }, { 0, 35000, 0 },
        { 0, 3 * QUEUE_BYTES, VSOCK_MSG_PEEK }, { 0, 3 * QUEUE_BYTES, 0 }, { 0, 10, 0 },
    };
    _Static_assert(sizeof(steps) / sizeof(steps[0]) == IN_PLACE_STEPS, "one result a step");
    uint64_t sent = 0, received = 0;
    for (uint32_t index = 0; index < IN_PLACE_STEPS; index++) {
        stream_fill(chunk, sent, steps[index].send_bytes);
        if (steps[index].send_bytes > 0)
            ASSERT_RETURNS(vs_send(&f->host, server_fd, chunk, steps[index].send_bytes, 0),
                           (ssize_t)steps[index].send_bytes);
        sent += steps[index].send_bytes;
        run_idle(f);
        run->results[index] = in_place_receive(guest, in_place, steps[index].recv_bytes,
                                               steps[index].flags, received, run);
        if (run->results[index] > 0 && !(steps[index].flags & VSOCK_MSG_PEEK))
            received += (uint64_t)run->results[index];
        run_idle(f);
    }
    fixture_destroy(f);
    sim_digest_hex(digest, run->digest_hex);
    sim_digest_destroy(digest);
}

/* R121 in place: a receive that leaves its bytes in the ring returns what a copying one
 * returns, step for step (a partial read, a peek, reads and a peek across the ring's
 * wrap, EAGAIN when empty), with the stream's bytes, and the trace is the same event for
 * event (equal digests). Some steps must have met the wrap, or it proved little. */
static void test_R121_recv_in_place_matches_copying_recv(void)
{
    struct in_place_run copied, in_place;
    in_place_run(false, &copied);
    in_place_run(true, &in_place);
    static const int64_t expected[IN_PLACE_STEPS] = { 30000, 100, 35000, 25000, 25000,
                                                      -EAGAIN };
    for (uint32_t index = 0; index < IN_PLACE_STEPS; index++) {
        ASSERT_U64_EQ(copied.results[index], expected[index]);
        ASSERT_U64_EQ(in_place.results[index], expected[index]);
    }
    ASSERT_U64_EQ(copied.mismatches, 0);
    ASSERT_U64_EQ(in_place.mismatches, 0);
    ASSERT_U64_EQ(in_place.wrapped_steps, 2);
    CU_ASSERT_STRING_EQUAL(in_place.digest_hex, copied.digest_hex);
}

/* Which receives end at their first dequeue and may read in place: a 1-byte target (no
 * MSG_WAITALL, SO_RCVLOWAT 1) or a peek; not one that has moved bytes already, nor a
 * datagram socket's. */
static void test_R121_recv_in_place_fits_one_dequeue_only(void)
{
    struct fixture *f = fixture_create();
    int client_fd, server_fd;
    connected_pair(f, &f->guest_a, &f->host, 8301, &client_fd, &server_fd);
    struct vsock_sock *sock = vs_socket_of(&f->guest_a, client_fd);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sock);
    CU_ASSERT(vsock_recv_in_place_fits(sock, 4096, 0, 0));
    CU_ASSERT(vsock_recv_in_place_fits(sock, 1, VSOCK_MSG_WAITALL, 0));
    CU_ASSERT_FALSE(vsock_recv_in_place_fits(sock, 4096, VSOCK_MSG_WAITALL, 0));
    CU_ASSERT(vsock_recv_in_place_fits(sock, 4096, VSOCK_MSG_WAITALL | VSOCK_MSG_PEEK, 0));
    CU_ASSERT_FALSE(vsock_recv_in_place_fits(sock, 4096, 0, 1));
    sock->rcvlowat = 2;
    CU_ASSERT_FALSE(vsock_recv_in_place_fits(sock, 4096, 0, 0));
    CU_ASSERT(vsock_recv_in_place_fits(sock, 1, 0, 0));
    sock->rcvlowat = 1;
    int dgram_fd = dgram_bound(&f->guest_a, 8302);
    struct vsock_sock *dgram = vs_socket_of(&f->guest_a, dgram_fd);
    CU_ASSERT_PTR_NOT_NULL_FATAL(dgram);
    CU_ASSERT_FALSE(vsock_recv_in_place_fits(dgram, 4096, 0, 0));
    fixture_destroy(f);
}

/* The Lua binding's receives over a 1 KiB queue, every path of sim/lua/socket.c's
 * step_recv: plain reads of odd sizes and recvfrom (in place, many across the ring's
 * wrap), a peek and the read after it, MSG_WAITALL and SO_RCVLOWAT (several dequeues
 * gathered in a buffer, with waits between), and a MSG_WAITALL that times out holding
 * bytes (they come back from the buffer). */
static const char lua_recv_paths[] =
    "local sim = require('vmcisim')\n"
    "local w = sim.world{}\n"
    "local host, guest = w:host(), w:vm{ name = 'guest1' }\n"
    "local TOTAL, ready = 6000, false\n"
    "local stream = sim.pattern(7, 0, TOTAL)\n"
    "host:spawn('sender', function(p)\n"
    "  local l = assert(p:socket('stream'))\n"
    "  assert(l:setsockopt('buffer_size', 1024))\n"
    "  assert(l:bind(sim.CID_ANY, 5000)); assert(l:listen(1))\n"
    "  ready = true\n"
    "  local c = assert(l:accept())\n"
    "  local sent = 0\n"
    "  for _, size in ipairs({ 700, 900, 333, 1000, 67, 1023, 500, 1477 }) do\n"
    "    sent = sent + assert(c:send(stream:sub(sent + 1, sent + size)))\n"
    "  end\n"
    "  sim.expect(sent == TOTAL, 'sent ' .. sent)\n"
    "  p:sleep(sim.ms(20)); assert(c:send('0123456789'))\n"
    "  p:sleep(sim.ms(50)); assert(c:send('abcdef'))\n"
    "  c:close(); l:close()\n"
    "end)\n"
    "guest:spawn('receiver', function(p)\n"
    "  while not ready do p:sleep(sim.us(10)) end\n"
    "  local s = assert(p:socket('stream'))\n"
    "  assert(s:setsockopt('buffer_size', 1024))\n"
    "  assert(s:connect(sim.CID_HOST, 5000))\n"
    "  local got, n, round = {}, 0, 0\n"
    "  while n < TOTAL and round < 1000 do\n"
    "    round = round + 1\n"
    "    local mode, left, piece = round % 5, TOTAL - n\n"
    "    if mode == 0 then\n"
    "      local peeked = assert(s:recv(math.min(300, left), 'peek'))\n"
    "      piece = assert(s:recv(#peeked))\n"
    "      sim.expect(piece == peeked, 'a peek shows what the next recv returns')\n"
    "    elseif mode == 1 then\n"
    "      local cid, port\n"
    "      piece, cid, port = s:recvfrom(math.min(211, left))\n"
    "      sim.expect(cid == sim.CID_HOST and port == 5000, 'recvfrom names the peer')\n"
    "    elseif mode == 2 then\n"
    "      piece = assert(s:recv(math.min(900, left), 'waitall'))\n"
    "      sim.expect(#piece == math.min(900, left), 'waitall: ' .. #piece)\n"
    "    elseif mode == 3 then\n"
    "      assert(s:setsockopt('rcvlowat', 400))\n"
    "      piece = assert(s:recv(math.min(1000, left)))\n"
    "      sim.expect(#piece >= math.min(400, left), 'rcvlowat: ' .. #piece)\n"
    "      assert(s:setsockopt('rcvlowat', 1))\n"
    "    else\n"
    "      piece = assert(s:recv(math.min(97, left)))\n"
    "    end\n"
    "    got[#got + 1] = piece; n = n + #piece\n"
    "  end\n"
    "  sim.expect(n == TOTAL and table.concat(got) == stream, 'the stream arrived intact')\n"
    "  assert(s:setsockopt('rcvtimeo', sim.ms(30)))\n"
    "  local early = s:recv(100, 'waitall')\n"
    "  sim.expect(early == '0123456789', 'a timed-out waitall returns its bytes')\n"
    "  assert(s:setsockopt('rcvtimeo', 0))\n"
    "  sim.expect(s:recv(100) == 'abcdef', 'the last bytes')\n"
    "  sim.expect(s:recv(100) == '', 'then the end of the stream')\n"
    "  s:close()\n"
    "end)\n";

static void test_R121_lua_recv_in_place_and_buffered(void)
{
    test_expect_lua_source_passes(lua_recv_paths);
}

/* ---- 6.6 shutdown and close ------------------------------------------------------------------ */

/* R124: `how` outside 0..2 is EINVAL (checked first); an unconnected stream socket or
 * a listener is ENOTCONN; a connected one accepts it and becomes SS_DISCONNECTING. */
static void test_R124_shutdown_errors(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    int fresh = stream_socket(g);
    ASSERT_FAILS(vs_shutdown(g, fresh, 3), EINVAL);
    ASSERT_FAILS(vs_shutdown(g, fresh, -1), EINVAL);
    ASSERT_FAILS(vs_shutdown(g, fresh, SHUT_RDWR), ENOTCONN);
    int client_fd, server_fd;
    int listen_fd = connected_pair(f, g, &f->host, 7400, &client_fd, &server_fd);
    ASSERT_FAILS(vs_shutdown(&f->host, listen_fd, SHUT_RD), ENOTCONN);
    ASSERT_FAILS(vs_shutdown(g, client_fd, 3), EINVAL);
    ASSERT_RETURNS(vs_shutdown(g, client_fd, SHUT_RD), 0);
    ASSERT_U64_EQ(vs_socket_of(g, client_fd)->state, VSOCK_SS_DISCONNECTING);
    ASSERT_RETURNS(vs_shutdown(g, client_fd, SHUT_WR), 0);
    ASSERT_U64_EQ(vs_socket_of(g, client_fd)->shutdown, 3);
    ASSERT_FAILS(vs_shutdown(g, 4321, SHUT_RD), EBADF);
    fixture_destroy(f);
}

/* R126, R171, R129: close() sends no control packet; the peer sees the queue pair's
 * detach: queued data stays readable on a guest, then EOF, then send() is EPIPE, and
 * getpeername keeps working. A host-side socket loses unread data at once (R171). */
static void test_R126_R171_close_gives_peer_eof_then_epipe(void)
{
    struct packet_log *log = calloc(1, sizeof(*log));
    CU_ASSERT_PTR_NOT_NULL_FATAL(log);
    struct sim_trace_sink sink = packet_log_sink(log);
    struct fixture *f = fixture_create_with(SEED, &sink, 1);
    struct vs_context *g = &f->guest_a;
    uint8_t buffer[64];
    const char text[] = "last words";
    int client_fd, server_fd;
    connected_pair(f, g, &f->host, 7500, &client_fd, &server_fd);
    ASSERT_RETURNS(vs_send(&f->host, server_fd, text, sizeof(text), 0), sizeof(text));
    uint32_t mark = log->count;
    ASSERT_RETURNS(vs_close(&f->host, server_fd), 0);
    run_idle(f);
    ASSERT_U64_EQ(packets_from(log, mark, CID_HOST), 0);                        /* R126 */
    ASSERT_RETURNS(vs_recv(g, client_fd, buffer, sizeof(buffer), 0), sizeof(text));
    CU_ASSERT_EQUAL(memcmp(buffer, text, sizeof(text)), 0);
    ASSERT_RETURNS(vs_recv(g, client_fd, buffer, sizeof(buffer), 0), 0);
    ASSERT_RETURNS(vs_recv(g, client_fd, buffer, sizeof(buffer), 0), 0);
    ASSERT_FAILS(vs_send(g, client_fd, text, sizeof(text), 0), EPIPE);
    ASSERT_U64_EQ(name_of(g, client_fd, true).svm_cid, CID_HOST);               /* R129 */
    ASSERT_POLL(g, client_fd, POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM | POLLRDHUP);
    int other_client, other_server;
    connected_pair(f, &f->guest_b, &f->host, 7501, &other_client, &other_server);
    ASSERT_RETURNS(vs_send(&f->guest_b, other_client, text, sizeof(text), 0), sizeof(text));
    run_idle(f);
    mark = log->count;
    ASSERT_RETURNS(vs_close(&f->guest_b, other_client), 0);
    run_idle(f);
    ASSERT_U64_EQ(packets_from(log, mark, CID_B), 0);
    ASSERT_RETURNS(vs_recv(&f->host, other_server, buffer, sizeof(buffer), 0), 0);
    ASSERT_FAILS(vs_send(&f->host, other_server, text, sizeof(text), 0), EPIPE);
    ASSERT_U64_EQ(vs_socket_of(&f->host, other_server)->tcp, VSOCK_TCP_CLOSE);
    ASSERT_U64_EQ(log->dropped, 0);
    fixture_destroy(f);
    free(log);
}

/* ---- 6.7 Names -------------------------------------------------------------------------------- */

/* R128, R104, R115, R129, R6: names are 16 bytes with family 40 and zero padding;
 * {ANY, ANY} unbound; a bound ANY stays ANY; after connect the real local CID. */
static void test_R128_R129_names(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    int fd = stream_socket(g);
    struct sockaddr_vm name = name_of(g, fd, false);
    ASSERT_U64_EQ(name.svm_family, AF_VSOCK);
    ASSERT_U64_EQ(name.svm_reserved1, 0);
    ASSERT_U64_EQ(name.svm_cid, VMADDR_CID_ANY);
    ASSERT_U64_EQ(name.svm_port, VMADDR_PORT_ANY);
    for (int index = 0; index < 4; index++)
        ASSERT_U64_EQ(name.svm_zero[index], 0);
    struct sockaddr_vm peer;
    socklen_t length = sizeof(peer);
    ASSERT_FAILS(vs_getpeername(g, fd, SA(peer), &length), ENOTCONN);
    struct sockaddr_vm addr = vm_addr(VMADDR_CID_ANY, 7600);
    ASSERT_RETURNS(vs_bind(g, fd, SA(addr), sizeof(addr)), 0);
    name = name_of(g, fd, false);
    ASSERT_U64_EQ(name.svm_cid, VMADDR_CID_ANY);                                /* R104 */
    ASSERT_U64_EQ(name.svm_port, 7600);
    int client_fd, server_fd;
    connected_pair(f, g, &f->host, 7601, &client_fd, &server_fd);
    name = name_of(g, client_fd, false);
    ASSERT_U64_EQ(name.svm_cid, CID_A);                                         /* R115 */
    ASSERT_U64_EQ(name.svm_port, 1024);
    peer = name_of(g, client_fd, true);
    ASSERT_U64_EQ(peer.svm_cid, CID_HOST);
    ASSERT_U64_EQ(peer.svm_port, 7601);
    ASSERT_U64_EQ(name_of(&f->host, server_fd, false).svm_cid, CID_HOST);
    ASSERT_U64_EQ(name_of(&f->host, server_fd, false).svm_port, 7601);
    ASSERT_U64_EQ(name_of(&f->host, server_fd, true).svm_port, 1024);
    uint8_t small[8];
    memset(small, 0xAA, sizeof(small));
    length = sizeof(small);
    ASSERT_RETURNS(vs_getsockname(g, client_fd, (struct sockaddr *)(void *)small, &length), 0);
    ASSERT_U64_EQ(length, sizeof(struct sockaddr_vm));
    uint32_t port;
    memcpy(&port, small + 4, sizeof(port));
    ASSERT_U64_EQ(port, 1024);
    ASSERT_FAILS(vs_getsockname(g, client_fd, NULL, &length), EFAULT);
    ASSERT_FAILS(vs_getsockname(g, 77, SA(peer), &length), EBADF);
    fixture_destroy(f);
}

/* ---- 6.8 poll ------------------------------------------------------------------------------------ */

/* R131, R132, R133: the exact masks around shutdown. After SHUT_WR a socket is not
 * writable; its peer sees RDHUP and EOF-readable; both sides shut for writing: HUP. */
static void test_R131_R133_poll_after_shutdown(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    struct vs_context *h = &f->host;
    int client_fd, server_fd;
    connected_pair(f, g, h, 7700, &client_fd, &server_fd);
    ASSERT_POLL(g, client_fd, POLLOUT | POLLWRNORM);
    ASSERT_RETURNS(vs_shutdown(g, client_fd, SHUT_WR), 0);
    run_idle(f);
    ASSERT_POLL(g, client_fd, 0);
    ASSERT_POLL(h, server_fd, POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM | POLLRDHUP);
    uint8_t buffer[8];
    ASSERT_RETURNS(vs_recv(h, server_fd, buffer, sizeof(buffer), 0), 0);       /* EOF */
    ASSERT_RETURNS(vs_shutdown(h, server_fd, SHUT_WR), 0);
    run_idle(f);
    ASSERT_POLL(h, server_fd, POLLIN | POLLRDNORM | POLLHUP | POLLRDHUP);
    ASSERT_POLL(g, client_fd, POLLIN | POLLRDNORM | POLLHUP | POLLRDHUP);
    int other_client, other_server;
    connected_pair(f, &f->guest_b, h, 7701, &other_client, &other_server);
    ASSERT_RETURNS(vs_shutdown(&f->guest_b, other_client, SHUT_RD), 0);
    ASSERT_POLL(&f->guest_b, other_client, POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM | POLLRDHUP);
    ASSERT_RETURNS(vs_shutdown(&f->guest_b, other_client, SHUT_RDWR), 0);
    run_idle(f);
    ASSERT_POLL(&f->guest_b, other_client, POLLIN | POLLRDNORM | POLLHUP | POLLRDHUP);
    ASSERT_POLL(h, other_server, POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM | POLLRDHUP);
    ASSERT_FAILS(vs_send(h, other_server, buffer, sizeof(buffer), 0), EPIPE);   /* peer RCV */
    fixture_destroy(f);
}

/* R133, R132: a fresh socket is in TCP_CLOSE with no local SEND_SHUTDOWN, so it polls
 * writable; a listener is readable exactly when a child waits in its accept queue. */
static void test_R133_fresh_socket_writable_listener_readable(void)
{
    struct fixture *f = fixture_create();
    int fresh = stream_socket(&f->guest_a);
    ASSERT_POLL(&f->guest_a, fresh, POLLOUT | POLLWRNORM);
    int listen_fd = listener(&f->host, 7800, 4);
    ASSERT_POLL(&f->host, listen_fd, 0);
    int client = stream_socket(&f->guest_a);
    CU_ASSERT_EQUAL(plain_connect(f, &f->guest_a, client, CID_HOST, 7800), 0);
    ASSERT_POLL(&f->host, listen_fd, POLLIN | POLLRDNORM);
    CU_ASSERT(vs_accept(&f->host, listen_fd, NULL, NULL) >= VS_FD_FIRST);
    ASSERT_POLL(&f->host, listen_fd, 0);
    struct pollfd entries[2] = { { .fd = -1, .events = POLLIN }, { .fd = 99, .events = POLLIN } };
    ASSERT_RETURNS(vs_poll(&f->host, entries, 2, 0), 1);
    ASSERT_U64_EQ(entries[0].revents, 0);
    ASSERT_U64_EQ(entries[1].revents, POLLNVAL);
    fixture_destroy(f);
}

/* ---- 7 The control protocol ----------------------------------------------------------------------- */

/* R150 (R168): a REQUEST for a port with no socket is answered with one RST from the
 * receiving kernel, addresses swapped; the client never answers that RST. */
static void test_R150_rst_for_a_packet_without_socket(void)
{
    struct packet_log *log = calloc(1, sizeof(*log));
    CU_ASSERT_PTR_NOT_NULL_FATAL(log);
    struct sim_trace_sink sink = packet_log_sink(log);
    struct fixture *f = fixture_create_with(SEED, &sink, 1);
    int client = stream_socket(&f->guest_a);
    uint32_t mark = log->count;
    CU_ASSERT_EQUAL(plain_connect(f, &f->guest_a, client, CID_HOST, 7900), ECONNRESET);
    ASSERT_U64_EQ(packets_count(log, mark, CID_A, "REQUEST2"), 1);
    ASSERT_U64_EQ(packets_count(log, mark, CID_HOST, "RST"), 1);
    ASSERT_U64_EQ(packets_from(log, mark, CID_HOST), 1);
    ASSERT_U64_EQ(packets_count(log, mark, CID_A, "RST"), 0);
    for (uint32_t index = mark; index < log->count; index++) {
        const struct packet *packet = &log->packets[index];
        if (strcmp(packet->type, "RST") != 0)
            continue;
        ASSERT_U64_EQ(packet->src, ((uint64_t)CID_HOST << 32) | 7900u);
        ASSERT_U64_EQ(packet->dst, ((uint64_t)CID_A << 32) | 1024u);
    }
    ASSERT_U64_EQ(log->dropped, 0);
    fixture_destroy(f);
    free(log);
}

/* R176, R177: the queue-state protocol. WROTE goes out only when a write lands in an
 * empty queue; READ only after a read from a full queue (once the reader has freed more
 * than Q - W bytes, R178); WAITING_READ and WAITING_WRITE are never sent. */
static void test_R176_queue_state_notifications(void)
{
    struct packet_log *log = calloc(1, sizeof(*log));
    CU_ASSERT_PTR_NOT_NULL_FATAL(log);
    struct sim_trace_sink sink = packet_log_sink(log);
    struct fixture *f = fixture_create_with(SEED, &sink, 1);
    struct vs_context *g = &f->guest_a;
    struct vs_context *h = &f->host;
    static uint8_t bytes[QUEUE_BYTES];
    int writer, reader;
    uint32_t start = log->count;
    connected_pair(f, g, h, 8000, &writer, &reader);
    ASSERT_U64_EQ(packets_count(log, start, CID_A, "REQUEST2"), 1);             /* R155 */
    ASSERT_U64_EQ(packets_count(log, start, CID_HOST, "NEGOTIATE2"), 1);
    uint32_t mark = log->count;
    ASSERT_RETURNS(vs_send(g, writer, bytes, 100, 0), 100);
    run_idle(f);
    ASSERT_U64_EQ(packets_count(log, mark, CID_A, "WROTE"), 1);                 /* empty */
    ASSERT_RETURNS(vs_send(g, writer, bytes, 100, 0), 100);
    run_idle(f);
    ASSERT_U64_EQ(packets_count(log, mark, CID_A, "WROTE"), 1);                 /* not empty */
    ASSERT_POLL(h, reader, POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM);
    ASSERT_RETURNS(vs_recv(h, reader, bytes, sizeof(bytes), 0), 200);
    run_idle(f);
    ASSERT_U64_EQ(packets_count(log, mark, CID_HOST, "READ"), 0);              /* not full */
    ASSERT_POLL(h, reader, POLLOUT | POLLWRNORM);
    ASSERT_RETURNS(vs_send(g, writer, bytes, QUEUE_BYTES, 0), QUEUE_BYTES - 1);
    ASSERT_FAILS(vs_send(g, writer, bytes, 1, 0), EAGAIN);
    run_idle(f);
    ASSERT_U64_EQ(packets_count(log, mark, CID_A, "WROTE"), 2);
    ASSERT_RETURNS(vs_recv(h, reader, bytes, 100, 0), 100);
    run_idle(f);
    ASSERT_U64_EQ(packets_count(log, mark, CID_HOST, "READ"), 0);              /* window */
    ASSERT_RETURNS(vs_recv(h, reader, bytes, 10000, 0), 10000);
    run_idle(f);
    ASSERT_U64_EQ(packets_count(log, mark, CID_HOST, "READ"), 1);
    ASSERT_RETURNS(vs_recv(h, reader, bytes, sizeof(bytes), 0), QUEUE_BYTES - 1 - 10100);
    ASSERT_RETURNS(vs_send(g, writer, bytes, 10, 0), 10);
    run_idle(f);
    ASSERT_U64_EQ(packets_count(log, mark, CID_HOST, "READ"), 1);
    ASSERT_U64_EQ(packets_count(log, mark, CID_A, "WROTE"), 3);
    ASSERT_U64_EQ(packets_count(log, start, CID_A, "WAITING_READ") +
                  packets_count(log, start, CID_HOST, "WAITING_READ") +
                  packets_count(log, start, CID_A, "WAITING_WRITE") +
                  packets_count(log, start, CID_HOST, "WAITING_WRITE"), 0);
    ASSERT_U64_EQ(log->dropped, 0);
    fixture_destroy(f);
    free(log);
}

/* ---- The C API's own machinery ------------------------------------------------------------------ */

struct timed_accept {
    int fd;
    int rc;
    int error;
    uint64_t waited_ns;
};

static void timed_accept_body(struct vs_context *context, void *arg)
{
    struct timed_accept *accept_state = arg;
    struct timeval half_second = { .tv_sec = 0, .tv_usec = 500000 };
    if (vs_setsockopt(context, accept_state->fd, SOL_SOCKET, SO_RCVTIMEO, &half_second,
                      sizeof(half_second)) != 0)
        return;
    uint64_t started_ns = sim_engine_now(context->engine);
    errno = 0;
    accept_state->rc = vs_accept(context, accept_state->fd, NULL, NULL);
    accept_state->error = errno;
    accept_state->waited_ns = sim_engine_now(context->engine) - started_ns;
}

/* R107: a blocking accept with SO_RCVTIMEO and nothing to accept fails with EAGAIN when
 * the timeout ends, exactly then. */
static void test_R107_accept_timeout(void)
{
    struct fixture *f = fixture_create();
    struct timed_accept accept_state = { .fd = listener(&f->host, 8100, 4), .rc = 1 };
    CU_ASSERT_EQUAL(vs_spawn(&f->host, "acceptor", timed_accept_body, &accept_state, false), 0);
    run_idle(f);
    ASSERT_U64_EQ(accept_state.rc, (uint64_t)-1);
    ASSERT_U64_EQ(accept_state.error, EAGAIN);
    ASSERT_U64_EQ(accept_state.waited_ns, 500000000ull);
    fixture_destroy(f);
}

/* R136, R137, R138, R140, R141, R214: options through the C API: u64 buffer options with
 * the clamp rule, short buffers, the connect timeout as a timeval, read-only options,
 * and no level-40 options on datagram sockets. */
static void test_R137_R140_options_through_the_c_api(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    int fd = stream_socket(g);
    uint64_t value = 1000000;
    socklen_t length = sizeof(value);
    ASSERT_RETURNS(vs_setsockopt(g, fd, AF_VSOCK, SO_VMCI_BUFFER_SIZE, &value, sizeof(value)), 0);
    ASSERT_RETURNS(vs_getsockopt(g, fd, AF_VSOCK, SO_VM_SOCKETS_BUFFER_SIZE, &value, &length), 0);
    ASSERT_U64_EQ(value, 262144);                                               /* R138 */
    ASSERT_U64_EQ(length, sizeof(value));
    ASSERT_FAILS(vs_setsockopt(g, fd, AF_VSOCK, SO_VMCI_BUFFER_SIZE, &value, 7), EINVAL);
    length = 7;
    ASSERT_FAILS(vs_getsockopt(g, fd, AF_VSOCK, SO_VMCI_BUFFER_SIZE, &value, &length), EINVAL);
    uint8_t wide[12];
    length = sizeof(wide);
    ASSERT_RETURNS(vs_getsockopt(g, fd, AF_VSOCK, SO_VMCI_BUFFER_MIN_SIZE, wide, &length), 0);
    ASSERT_U64_EQ(length, 8);                                                   /* R137 */
    struct timeval timeout = { .tv_sec = 3, .tv_usec = 1500 };
    ASSERT_RETURNS(vs_setsockopt(g, fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &timeout,
                                 sizeof(timeout)), 0);
    ASSERT_U64_EQ(vs_socket_of(g, fd)->connect_timeout_ns, 3002000000ull);     /* rounded up */
    struct timeval bad = { .tv_sec = 1, .tv_usec = 1000000 };
    ASSERT_FAILS(vs_setsockopt(g, fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &bad,
                               sizeof(bad)), ERANGE);
    bad.tv_sec = -1;
    bad.tv_usec = 0;
    ASSERT_FAILS(vs_setsockopt(g, fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &bad,
                               sizeof(bad)), ERANGE);
    struct vs_timeval64 read_back;
    length = sizeof(read_back);
    ASSERT_RETURNS(vs_getsockopt(g, fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT_NEW, &read_back,
                                 &length), 0);
    ASSERT_U64_EQ(read_back.tv_sec, 3);
    ASSERT_U64_EQ(read_back.tv_usec, 2000);
    int trusted = -1;
    length = sizeof(trusted);
    ASSERT_RETURNS(vs_getsockopt(g, fd, AF_VSOCK, SO_VM_SOCKETS_TRUSTED, &trusted, &length), 0);
    ASSERT_U64_EQ(trusted, 0);
    int host_fd = stream_socket(&f->host);
    length = sizeof(trusted);
    ASSERT_RETURNS(vs_getsockopt(&f->host, host_fd, AF_VSOCK, SO_VM_SOCKETS_TRUSTED, &trusted,
                                 &length), 0);
    ASSERT_U64_EQ(trusted, 1);                                                  /* D1 */
    ASSERT_FAILS(vs_setsockopt(g, fd, AF_VSOCK, SO_VM_SOCKETS_TRUSTED, &trusted,
                               sizeof(trusted)), ENOPROTOOPT);                  /* R141 */
    ASSERT_FAILS(vs_setsockopt(g, fd, AF_VSOCK, 99, &value, sizeof(value)), ENOPROTOOPT);
    ASSERT_FAILS(vs_setsockopt(g, fd, 41, SO_VMCI_BUFFER_SIZE, &value, sizeof(value)),
                 ENOPROTOOPT);                                                  /* R136 */
    int dgram = vs_socket(g, AF_VSOCK, SOCK_DGRAM, 0);
    CU_ASSERT_FATAL(dgram >= VS_FD_FIRST);
    ASSERT_FAILS(vs_setsockopt(g, dgram, AF_VSOCK, SO_VMCI_BUFFER_SIZE, &value, sizeof(value)),
                 EOPNOTSUPP);
    int type = 0;
    length = sizeof(type);
    ASSERT_RETURNS(vs_getsockopt(g, dgram, SOL_SOCKET, SO_TYPE, &type, &length), 0);
    ASSERT_U64_EQ(type, SOCK_DGRAM);
    int keepalive = 1;
    ASSERT_RETURNS(vs_setsockopt(g, fd, SOL_SOCKET, SO_KEEPALIVE, &keepalive,
                                 sizeof(keepalive)), 0);                        /* R146 */
    fixture_destroy(f);
}

/* R191, R192 (R4): connect() on a datagram socket records a default peer; AF_UNSPEC
 * dissolves it (a short AF_UNSPEC address is still EINVAL). */
static void test_R192_dgram_connect_af_unspec_dissolves(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    int fd = vs_socket(g, AF_VSOCK, SOCK_DGRAM, 0);
    CU_ASSERT_FATAL(fd >= VS_FD_FIRST);
    struct sockaddr_vm host = vm_addr(CID_HOST, 5000);
    ASSERT_RETURNS(vs_connect(g, fd, SA(host), sizeof(host)), 0);
    struct sockaddr_vm peer = name_of(g, fd, true);
    ASSERT_U64_EQ(peer.svm_cid, CID_HOST);
    ASSERT_U64_EQ(peer.svm_port, 5000);
    struct sockaddr_vm unspec = vm_addr(0, 0);
    unspec.svm_family = AF_UNSPEC;
    ASSERT_FAILS(vs_connect(g, fd, SA(unspec), sizeof(unspec) - 1), EINVAL);
    ASSERT_RETURNS(vs_connect(g, fd, SA(unspec), sizeof(unspec)), 0);
    socklen_t length = sizeof(peer);
    ASSERT_FAILS(vs_getpeername(g, fd, SA(peer), &length), ENOTCONN);
    struct sockaddr_vm foreign = host;
    foreign.svm_family = AF_INET;
    ASSERT_FAILS(vs_connect(g, fd, SA(foreign), sizeof(foreign)), EINVAL);
    fixture_destroy(f);
}

struct blocked_reader {
    struct vs_context *context;
    int fd;
    ssize_t rc;
    int error;
};

static void blocked_reader_body(struct vs_context *context, void *arg)
{
    struct blocked_reader *reader = arg;
    uint8_t buffer[16];
    errno = 0;
    reader->rc = vs_recv(context, reader->fd, buffer, sizeof(buffer), 0);
    reader->error = errno;
}

/* A second fiber of the reader's process: closes the reader's descriptor and opens a new
 * socket, which gets the same number. */
static void closer_body(struct sim_engine *engine, void *arg)
{
    struct blocked_reader *reader = arg;
    (void)sim_fiber_sleep(engine, 1000);
    (void)vs_close(reader->context, reader->fd);
    (void)vs_socket(reader->context, AF_VSOCK, SOCK_STREAM, 0);
}

/* The C API: a process killed while it waits sees ECANCELED; a descriptor closed by
 * another fiber of the same process while one waits on it gives that wait EBADF, even
 * when the descriptor number is reused at once (VS2). */
static void test_vs_killed_or_closed_while_blocked(void)
{
    struct fixture *f = fixture_create();
    int client_fd, server_fd;
    connected_pair(f, &f->guest_a, &f->host, 8200, &client_fd, &server_fd);
    struct blocked_reader killed = { .context = &f->guest_a, .fd = client_fd, .rc = 1 };
    CU_ASSERT_EQUAL(vs_spawn(&f->guest_a, "reader", blocked_reader_body, &killed, false), 0);
    ASSERT_U64_EQ(vs_world_run(f->world, SIM_TIME_NEVER), SIM_STOP_DEADLOCK);
    ASSERT_U64_EQ(killed.rc, 1);                                /* still blocked */
    sim_process_kill(f->guest_a.process);
    run_idle(f);
    ASSERT_U64_EQ(killed.rc, (uint64_t)-1);
    ASSERT_U64_EQ(killed.error, ECANCELED);
    CU_ASSERT_FALSE(f->guest_a.process_live);
    int other_client, other_server;
    connected_pair(f, &f->guest_b, &f->host, 8201, &other_client, &other_server);
    struct blocked_reader closed = { .context = &f->guest_b, .fd = other_client, .rc = 1 };
    CU_ASSERT_EQUAL(vs_spawn(&f->guest_b, "reader", blocked_reader_body, &closed, false), 0);
    CU_ASSERT_EQUAL(sim_fiber_spawn(f->world->engine, CID_B, "closer", closer_body, &closed,
                                    0, false, NULL), SIM_OK);
    run_idle(f);
    ASSERT_U64_EQ(closed.rc, (uint64_t)-1);
    ASSERT_U64_EQ(closed.error, EBADF);
    struct vsock_sock *reused = vs_socket_of(&f->guest_b, other_client);
    CU_ASSERT_PTR_NOT_NULL_FATAL(reused);
    ASSERT_U64_EQ(reused->tcp, VSOCK_TCP_CLOSE);                /* the new, fresh socket */
    fixture_destroy(f);
}

/* The C API: VS_FDS_MAX descriptors per context, the lowest free one first; EMFILE
 * beyond; EBADF for numbers that name no socket. */
static void test_vs_descriptor_table(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *c = &f->host;
    for (uint32_t index = 0; index < VS_FDS_MAX; index++)
        ASSERT_RETURNS(vs_socket(c, AF_VSOCK, SOCK_STREAM, 0), VS_FD_FIRST + (int)index);
    ASSERT_FAILS(vs_socket(c, AF_VSOCK, SOCK_STREAM, 0), EMFILE);
    ASSERT_RETURNS(vs_close(c, VS_FD_FIRST + 7), 0);
    ASSERT_FAILS(vs_close(c, VS_FD_FIRST + 7), EBADF);
    ASSERT_RETURNS(vs_socket(c, AF_VSOCK, SOCK_STREAM, 0), VS_FD_FIRST + 7);
    ASSERT_FAILS(vs_close(c, 0), EBADF);
    ASSERT_FAILS(vs_close(c, -1), EBADF);
    ASSERT_FAILS(vs_close(c, VS_FD_FIRST + (int)VS_FDS_MAX), EBADF);
    ASSERT_U64_EQ(c->fd_count, VS_FDS_MAX);
    fixture_destroy(f);
}

/* The memory a blocked send or recv names to the engine (vsock_prefetch_spans): an
 * unconnected socket its hot lines and its transport's state; a connected one also its
 * queue pair (endpoint, kernel, context, broker entry, headers, both rings, its own running
 * hash, its read tally's and the peer's running hash, which a read that catches up compares
 * with it), every span whole lines within the bounds; asking changes nothing. */
static void test_prefetch_spans_of_a_stream_socket(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    int fresh = stream_socket(g);
    struct sim_prefetch_spans spans = { .count = 0 };
    const struct vsock_sock *sock = vs_socket_of(g, fresh);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sock);
    vsock_prefetch_spans(sock, &spans);
    CU_ASSERT_EQUAL_FATAL(spans.count, 2);
    CU_ASSERT_PTR_EQUAL(spans.start[0], (const uint8_t *)sock + VSOCK_SOCK_HOT_START_BYTES -
                        (uintptr_t)((const uint8_t *)sock + VSOCK_SOCK_HOT_START_BYTES) % 64u);
    CU_ASSERT(spans.lines[0] >= 2 && spans.lines[0] <= 3);
    CU_ASSERT_PTR_EQUAL(spans.start[1], (const uint8_t *)sock + VSOCK_SOCK_STATE_OFFSET_BYTES -
                        (uintptr_t)((const uint8_t *)sock + VSOCK_SOCK_STATE_OFFSET_BYTES) % 64u);
    int client_fd, server_fd;
    connected_pair(f, g, &f->host, 7300, &client_fd, &server_fd);
    uint8_t bytes[100];
    stream_fill(bytes, 0, sizeof(bytes));
    ASSERT_RETURNS(vs_send(g, client_fd, bytes, sizeof(bytes), 0), sizeof(bytes));
    run_idle(f);
    const int fds[2] = { client_fd, server_fd };
    struct vs_context *contexts[2] = { g, &f->host };
    struct sim_prefetch_spans sides[2];
    for (int side = 0; side < 2; side++) {
        spans.count = 0;
        vsock_prefetch_spans(vs_socket_of(contexts[side], fds[side]), &spans);
        /* socket, state, endpoint, kernel, context, entry, headers, 2 rings, 3 x 2 hashes */
        CU_ASSERT_EQUAL(spans.count, 15);
        for (uint32_t index = 0; index < spans.count; index++) {
            CU_ASSERT((uintptr_t)spans.start[index] % 64u == 0);
            CU_ASSERT(spans.lines[index] >= 1 && spans.lines[index] <= SIM_PREFETCH_SPAN_LINES_MAX);
        }
        sides[side] = spans;
    }
    /* The peer's running hash (spans 13 and 14) is the one the peer names as its own
     * (spans 9 and 10): a queue's written tally and its producer's hash are one stream. */
    for (int side = 0; side < 2; side++)
        for (uint32_t index = 0; index < 2; index++) {
            CU_ASSERT_PTR_EQUAL(sides[side].start[13 + index], sides[1 - side].start[9 + index]);
            CU_ASSERT_EQUAL(sides[side].lines[13 + index], sides[1 - side].lines[9 + index]);
        }
    uint8_t got[sizeof(bytes)];
    ASSERT_RETURNS(vs_recv(&f->host, server_fd, got, sizeof(got), 0), sizeof(got));
    CU_ASSERT_EQUAL(memcmp(got, bytes, sizeof(got)), 0);
    fixture_destroy(f);
}

CU_ErrorCode vsock_stream_suite_add(void)
{
    static const struct test_entry tests[] = {
        TEST_ENTRY(test_R1_sockaddr_vm_layout_and_constants),
        TEST_ENTRY(test_R2_af_value_and_local_cid),
        TEST_ENTRY(test_R3_R4_R5_invalid_addresses),
        TEST_ENTRY(test_R12_privileged_port_needs_net_bind_service),
        TEST_ENTRY(test_R14_ephemeral_ports_start_at_1024_per_kernel),
        TEST_ENTRY(test_R16_bind_to_a_port_in_use),
        TEST_ENTRY(test_R17_bind_to_a_foreign_cid),
        TEST_ENTRY(test_R18_bind_twice),
        TEST_ENTRY(test_R99_protocol_and_family),
        TEST_ENTRY(test_R100_seqpacket_and_other_types),
        TEST_ENTRY(test_R105_listen_rules_and_backlog_clamp),
        TEST_ENTRY(test_R106_backlog_zero_refuses_every_connection),
        TEST_ENTRY(test_R108_accept_in_order_of_establishment),
        TEST_ENTRY(test_R111_connect_errors),
        TEST_ENTRY(test_R112_R168_R212_connect_without_listener_is_reset),
        TEST_ENTRY(test_R113_nonblocking_connect_then_pollout),
        TEST_ENTRY(test_R114_connect_times_out_after_2s_with_interrupts_masked),
        TEST_ENTRY(test_R113_nonblocking_connect_timeout),
        TEST_ENTRY(test_R116_send_errors),
        TEST_ENTRY(test_prefetch_spans_of_a_stream_socket),
        TEST_ENTRY(test_R119_recv_errors),
        TEST_ENTRY(test_R119_recv_checks_in_order),
        TEST_ENTRY(test_R122_writer_without_reader_buffers_65535_bytes),
        TEST_ENTRY(test_R123_one_mebibyte_in_order_and_deterministic),
        TEST_ENTRY(test_R121_recv_in_place_matches_copying_recv),
        TEST_ENTRY(test_R121_recv_in_place_fits_one_dequeue_only),
        TEST_ENTRY(test_R121_lua_recv_in_place_and_buffered),
        TEST_ENTRY(test_R124_shutdown_errors),
        TEST_ENTRY(test_R126_R171_close_gives_peer_eof_then_epipe),
        TEST_ENTRY(test_R128_R129_names),
        TEST_ENTRY(test_R131_R133_poll_after_shutdown),
        TEST_ENTRY(test_R133_fresh_socket_writable_listener_readable),
        TEST_ENTRY(test_R150_rst_for_a_packet_without_socket),
        TEST_ENTRY(test_R176_queue_state_notifications),
        TEST_ENTRY(test_R107_accept_timeout),
        TEST_ENTRY(test_R137_R140_options_through_the_c_api),
        TEST_ENTRY(test_R192_dgram_connect_af_unspec_dissolves),
        TEST_ENTRY(test_vs_killed_or_closed_while_blocked),
        TEST_ENTRY(test_vs_descriptor_table),
    };
    return test_suite_register("vsock_stream", tests, sizeof(tests) / sizeof(tests[0]));
}
