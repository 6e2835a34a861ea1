/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/vsock_core_rules_test.c: CUnit tests for the rules of the reference sections
 * 6.1-6.5 (socket core: creation, bind, listen and accept, connect, data transfer), R99-R123,
 * each named after its rule and asserting the exact errno, state or packet (D3), on the
 * shared stream world of vsock_fixture.h. They add to vsock_stream_test.c: rules it does not
 * test, and the parts of partly covered rules it leaves out (docs/conformance.md). Where the
 * implementation disagrees with the reference, the test keeps asserting the reference.
 *
 * Blocking calls run on a fiber (blocked_io); "run until blocked" means the engine stops in
 * SIM_STOP_DEADLOCK with the fiber still waiting, so the test can then change the world
 * (a shutdown, a packet, an error) and see how the waiting call ends.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <CUnit/CUnit.h>

#include "suites.h"
#include "test_support.h"
#include "vsock_fixture.h"
#include "vsock_test_support.h"

#define PAYLOAD_BYTES_MAX 300000u               /* > the Linux flavour's 262143 (R122) */
#define RECEIVED_BYTES_MAX 64u
#define LINUX_QUEUE_BYTES 262144u               /* R211: the Linux flavour's default */
#define BUFFER_MIN_BYTES 128u                   /* R101 */
#define BUFFER_MAX_BYTES 262144u
#define NS_PER_SEC 1000000000ull
#define NS_PER_USEC 1000ull

/* ---- Helpers -------------------------------------------------------------------------------- */

/* A level-40 u64 option (R101, R102); asserts that getsockopt succeeds with 8 bytes. */
static uint64_t u64_option(struct vs_context *context, int fd, int optname)
{
    uint64_t value = 0xDEADBEEFull;
    socklen_t length = sizeof(value);
    ASSERT_RETURNS(vs_getsockopt(context, fd, AF_VSOCK, optname, &value, &length), 0);
    ASSERT_U64_EQ(length, sizeof(value));
    return value;
}

static int int_option(struct vs_context *context, int fd, int level, int optname)
{
    int value = -12345;
    socklen_t length = sizeof(value);
    ASSERT_RETURNS(vs_getsockopt(context, fd, level, optname, &value, &length), 0);
    ASSERT_U64_EQ(length, sizeof(value));
    return value;
}

/* The connect timeout (a struct timeval, R140) in ns. */
static uint64_t connect_timeout_ns(struct vs_context *context, int fd)
{
    struct timeval value = { .tv_sec = -1, .tv_usec = -1 };
    socklen_t length = sizeof(value);
    ASSERT_RETURNS(vs_getsockopt(context, fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &value,
                                 &length), 0);
    return (uint64_t)value.tv_sec * NS_PER_SEC + (uint64_t)value.tv_usec * NS_PER_USEC;
}

static void set_u64_option(struct vs_context *context, int fd, int optname, uint64_t value)
{
    ASSERT_RETURNS(vs_setsockopt(context, fd, AF_VSOCK, optname, &value, sizeof(value)), 0);
}

static void set_int_option(struct vs_context *context, int fd, int optname, int value)
{
    ASSERT_RETURNS(vs_setsockopt(context, fd, SOL_SOCKET, optname, &value, sizeof(value)), 0);
}

/* A second process context in kernel `cid` with the default credentials (D14) changed by
 * the caller; destroy it with vs_context_destroy before the fixture. */
static void context_init_as(struct fixture *f, struct vs_context *context, uint32_t cid,
                            const char *user, bool trusted, bool net_bind_service)
{
    struct vs_kernel *kernel = vs_world_kernel(f->world, cid);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kernel);
    struct vsock_credentials credentials = vs_world_credentials(f->world, kernel);
    snprintf(credentials.user, sizeof(credentials.user), "%s", user);
    credentials.trusted = trusted;
    credentials.net_bind_service = net_bind_service;
    vs_context_init(context, f->world->engine, &kernel->stack, &credentials);
}

/* R211: makes kernel `cid` a Linux-flavour kernel, exactly as the Lua binding's
 * `ep:vsock{ flavour = "linux" }` does (sim/lua/endpoint.c): sockets created afterwards get
 * the default buffer size 262144. */
static void select_linux_flavour(struct fixture *f, uint32_t cid)
{
    struct vs_kernel *kernel = vs_world_kernel(f->world, cid);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kernel);
    kernel->stack.buffer_size_default = VSOCK_BUFFER_SIZE_LINUX;
}

/* Sets sk_err on `sock` and wakes it, as a transport reports an error (vsock_connect_failed
 * does the same during a handshake). The VMCI transport, like Linux's, sets sk_err only
 * while a connection is being made, so no packet can set it on an established socket or
 * a listener; the tests of R107, R117 and R121 that need it set it here. */
static void inject_sk_err(struct vsock_sock *sock, int error)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(sock);
    sock->error = error;
    vsock_sock_wake(sock);
}

/* Runs the engine until every fiber waits: the blocking call under test is now blocked. */
static void run_until_blocked(struct fixture *f)
{
    ASSERT_U64_EQ(vs_world_run(f->world, SIM_TIME_NEVER), SIM_STOP_DEADLOCK);
}

static uint8_t payload[PAYLOAD_BYTES_MAX];

/* One blocking send or recv on a fiber, and how it ended. */
struct blocked_io {
    int fd;
    size_t size_bytes;
    int flags;
    int64_t timeout_us;                 /* SO_SNDTIMEO / SO_RCVTIMEO when non-zero */
    bool returned;
    ssize_t rc;
    int error;
    ssize_t second_rc;                  /* a second call of 1 byte after the first (D11) */
    int second_error;
    bool finished;                      /* the body ran to its end */
    uint64_t started_ns;
    uint64_t ended_ns;
    uint8_t received[RECEIVED_BYTES_MAX];
};

static void io_set_timeout(struct vs_context *context, struct blocked_io *io, int optname)
{
    if (io->timeout_us == 0)
        return;
    struct timeval timeout = { .tv_sec = io->timeout_us / 1000000,
                               .tv_usec = io->timeout_us % 1000000 };
    CU_ASSERT_EQUAL(vs_setsockopt(context, io->fd, SOL_SOCKET, optname, &timeout,
                                  sizeof(timeout)), 0);
}

static void sender_body(struct vs_context *context, void *arg)
{
    struct blocked_io *io = arg;
    io_set_timeout(context, io, SO_SNDTIMEO);
    stream_fill(payload, 0, io->size_bytes);
    io->started_ns = sim_engine_now(context->engine);
    errno = 0;
    io->rc = vs_send(context, io->fd, payload, io->size_bytes, io->flags);
    io->error = errno;
    io->returned = true;
    io->ended_ns = sim_engine_now(context->engine);
    errno = 0;
    io->second_rc = vs_send(context, io->fd, payload, 1, MSG_NOSIGNAL);
    io->second_error = errno;
    io->finished = true;
}

static void receiver_body(struct vs_context *context, void *arg)
{
    struct blocked_io *io = arg;
    CU_ASSERT_FATAL(io->size_bytes <= sizeof(io->received));
    io_set_timeout(context, io, SO_RCVTIMEO);
    io->started_ns = sim_engine_now(context->engine);
    errno = 0;
    io->rc = vs_recv(context, io->fd, io->received, io->size_bytes, io->flags);
    io->error = errno;
    io->returned = true;
    io->ended_ns = sim_engine_now(context->engine);
    io->finished = true;
}

static void spawn_io(struct vs_context *context, vs_body_fn body, struct blocked_io *io)
{
    io->returned = false;
    io->finished = false;
    CU_ASSERT_EQUAL_FATAL(vs_spawn(context, "io", body, io, false), 0);
}

/* A plain send that must move every byte at once (the queue has room). */
static void send_all(struct vs_context *context, int fd, uint64_t offset, size_t size_bytes)
{
    uint8_t bytes[RECEIVED_BYTES_MAX];
    CU_ASSERT_FATAL(size_bytes <= sizeof(bytes));
    stream_fill(bytes, offset, size_bytes);
    ASSERT_RETURNS(vs_send(context, fd, bytes, size_bytes, 0), size_bytes);
}

/* Bytes of `received` that differ from the test stream from `offset` on. */
static uint64_t stream_mismatches(const uint8_t *received, uint64_t offset, uint64_t size_bytes)
{
    uint64_t mismatches = 0;
    for (uint64_t index = 0; index < size_bytes; index++)
        mismatches += received[index] != stream_byte(offset + index);
    return mismatches;
}

/* ---- 6.1 Creation and states ---------------------------------------------------------------- */

/* R101: every initial field of a new stream socket, read through the API where it shows
 * (names, options) and from the socket where it does not (states, shutdown bits); the
 * owner is the creating process's user, trust follows R50/D1 both ways. */
static void test_R101_fresh_socket_initial_fields(void)
{
    struct fixture *f = fixture_create();
    struct vs_context alice, untrusted_host;
    context_init_as(f, &alice, CID_A, "alice", false, false);
    context_init_as(f, &untrusted_host, CID_HOST, "user", false, false);
    int fd = stream_socket(&alice);
    struct vsock_sock *sock = vs_socket_of(&alice, fd);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sock);
    ASSERT_U64_EQ(sock->state, VSOCK_SS_UNCONNECTED);
    ASSERT_U64_EQ(sock->tcp, VSOCK_TCP_CLOSE);
    ASSERT_U64_EQ(sock->tcp, 7);                                /* Linux's TCP_CLOSE */
    ASSERT_U64_EQ(sock->local.cid, VMADDR_CID_ANY);
    ASSERT_U64_EQ(sock->local.port, VMADDR_PORT_ANY);
    ASSERT_U64_EQ(sock->remote.cid, VMADDR_CID_ANY);
    ASSERT_U64_EQ(sock->remote.port, VMADDR_PORT_ANY);
    ASSERT_U64_EQ(sock->shutdown, 0);
    ASSERT_U64_EQ(sock->peer_shutdown, 0);
    ASSERT_U64_EQ(int_option(&alice, fd, SOL_SOCKET, SO_ERROR), 0);  /* sk_err */
    ASSERT_U64_EQ(u64_option(&alice, fd, SO_VM_SOCKETS_BUFFER_SIZE), QUEUE_BYTES);
    ASSERT_U64_EQ(u64_option(&alice, fd, SO_VM_SOCKETS_BUFFER_MIN_SIZE), BUFFER_MIN_BYTES);
    ASSERT_U64_EQ(u64_option(&alice, fd, SO_VM_SOCKETS_BUFFER_MAX_SIZE), BUFFER_MAX_BYTES);
    ASSERT_U64_EQ(connect_timeout_ns(&alice, fd), CONNECT_TIMEOUT_NS);
    ASSERT_U64_EQ(int_option(&alice, fd, AF_VSOCK, SO_VM_SOCKETS_TRUSTED), 0);  /* guest */
    CU_ASSERT_STRING_EQUAL(sock->credentials.user, "alice");                 /* owner */
    int host_fd = stream_socket(&f->host);
    ASSERT_U64_EQ(int_option(&f->host, host_fd, AF_VSOCK, SO_VM_SOCKETS_TRUSTED), 1); /* D1 */
    CU_ASSERT_STRING_EQUAL(vs_socket_of(&f->host, host_fd)->credentials.user, "user");
    int untrusted_fd = stream_socket(&untrusted_host);
    ASSERT_U64_EQ(int_option(&untrusted_host, untrusted_fd, AF_VSOCK, SO_VM_SOCKETS_TRUSTED), 0);
    vs_context_destroy(&untrusted_host);
    vs_context_destroy(&alice);
    fixture_destroy(f);
}

/* R101, R122, R211: on a Linux-flavour kernel a new socket's buffer size is 262144 (min and
 * max unchanged), the connection negotiates Q = 262144, and a writer whose reader reads
 * nothing buffers exactly Q - 1 = 262143 bytes, which the reader then finds in order. */
static void test_R101_R122_linux_flavour_buffers_262143_bytes(void)
{
    struct fixture *f = fixture_create();
    select_linux_flavour(f, CID_A);
    select_linux_flavour(f, CID_HOST);
    int fresh = stream_socket(&f->guest_a);
    ASSERT_U64_EQ(u64_option(&f->guest_a, fresh, SO_VM_SOCKETS_BUFFER_SIZE), LINUX_QUEUE_BYTES);
    ASSERT_U64_EQ(u64_option(&f->guest_a, fresh, SO_VM_SOCKETS_BUFFER_MIN_SIZE),
                  BUFFER_MIN_BYTES);
    ASSERT_U64_EQ(u64_option(&f->guest_a, fresh, SO_VM_SOCKETS_BUFFER_MAX_SIZE),
                  BUFFER_MAX_BYTES);
    int other = stream_socket(&f->guest_b);                     /* a vmware-flavour kernel */
    ASSERT_U64_EQ(u64_option(&f->guest_b, other, SO_VM_SOCKETS_BUFFER_SIZE), QUEUE_BYTES);
    int client_fd, server_fd;
    connected_pair(f, &f->guest_a, &f->host, 9000, &client_fd, &server_fd);
    stream_fill(payload, 0, PAYLOAD_BYTES_MAX);
    ASSERT_RETURNS(vs_send(&f->guest_a, client_fd, payload, PAYLOAD_BYTES_MAX, 0),
                   LINUX_QUEUE_BYTES - 1);                      /* plain: the bytes moved */
    ASSERT_FAILS(vs_send(&f->guest_a, client_fd, payload, 1, 0), EAGAIN);
    run_idle(f);
    static uint8_t received[PAYLOAD_BYTES_MAX];
    ASSERT_RETURNS(vs_recv(&f->host, server_fd, received, sizeof(received), 0),
                   LINUX_QUEUE_BYTES - 1);
    ASSERT_U64_EQ(stream_mismatches(received, 0, LINUX_QUEUE_BYTES - 1), 0);
    fixture_destroy(f);
}

/* R102: an accepted child copies the listener's trust, owner, connect timeout, the three
 * buffer sizes and the socket type. The listener's values differ from every default, and
 * the client's requested size (65536) lies inside the listener's range, so the queue is
 * 65536 (R163) while the child's buffer_size is still the listener's 100000. */
static void test_R102_accepted_child_copies_listener_settings(void)
{
    struct fixture *f = fixture_create();
    struct vs_context alice;
    context_init_as(f, &alice, CID_HOST, "alice", true, false);
    int listen_fd = stream_socket(&alice);
    set_u64_option(&alice, listen_fd, SO_VM_SOCKETS_BUFFER_MAX_SIZE, 200000);
    set_u64_option(&alice, listen_fd, SO_VM_SOCKETS_BUFFER_MIN_SIZE, 1000);
    set_u64_option(&alice, listen_fd, SO_VM_SOCKETS_BUFFER_SIZE, 100000);
    struct timeval five_s = { .tv_sec = 5, .tv_usec = 0 };
    ASSERT_RETURNS(vs_setsockopt(&alice, listen_fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT,
                                 &five_s, sizeof(five_s)), 0);
    struct sockaddr_vm addr = vm_addr(VMADDR_CID_ANY, 9100);
    ASSERT_RETURNS(vs_bind(&alice, listen_fd, SA(addr), sizeof(addr)), 0);
    ASSERT_RETURNS(vs_listen(&alice, listen_fd, 4), 0);
    int client_fd = stream_socket(&f->guest_a);
    CU_ASSERT_EQUAL_FATAL(plain_connect(f, &f->guest_a, client_fd, CID_HOST, 9100), 0);
    int child = vs_accept(&alice, listen_fd, NULL, NULL);
    CU_ASSERT_FATAL(child >= VS_FD_FIRST);
    ASSERT_U64_EQ(u64_option(&alice, child, SO_VM_SOCKETS_BUFFER_SIZE), 100000);
    ASSERT_U64_EQ(u64_option(&alice, child, SO_VM_SOCKETS_BUFFER_MIN_SIZE), 1000);
    ASSERT_U64_EQ(u64_option(&alice, child, SO_VM_SOCKETS_BUFFER_MAX_SIZE), 200000);
    ASSERT_U64_EQ(connect_timeout_ns(&alice, child), 5 * NS_PER_SEC);
    ASSERT_U64_EQ(int_option(&alice, child, AF_VSOCK, SO_VM_SOCKETS_TRUSTED), 1);
    ASSERT_U64_EQ(int_option(&alice, child, SOL_SOCKET, SO_TYPE), SOCK_STREAM);
    CU_ASSERT_STRING_EQUAL(vs_socket_of(&alice, child)->credentials.user, "alice");
    stream_fill(payload, 0, PAYLOAD_BYTES_MAX);
    ASSERT_RETURNS(vs_send(&f->guest_a, client_fd, payload, PAYLOAD_BYTES_MAX, 0),
                   QUEUE_BYTES - 1);                            /* Q = the client's 65536 */
    /* The other way round: a guest listener is untrusted, and so is its child. */
    int guest_listener = listener(&f->guest_b, 9101, 4);
    int host_client = stream_socket(&f->host);
    CU_ASSERT_EQUAL_FATAL(plain_connect(f, &f->host, host_client, CID_B, 9101), 0);
    int guest_child = vs_accept(&f->guest_b, guest_listener, NULL, NULL);
    CU_ASSERT_FATAL(guest_child >= VS_FD_FIRST);
    ASSERT_U64_EQ(int_option(&f->guest_b, guest_child, AF_VSOCK, SO_VM_SOCKETS_TRUSTED), 0);
    vs_context_destroy(&alice);
    fixture_destroy(f);
}

/* ---- 6.2 bind ------------------------------------------------------------------------------- */

/* R103, stream: address validation comes before every other check (a foreign-family,
 * flagged or short address naming a foreign CID and a privileged port is EINVAL, not
 * EADDRNOTAVAIL or EACCES); EACCES (R12) comes before EADDRINUSE (R16); 24 taken ephemeral
 * candidates give EADDRNOTAVAIL (R14), and the counter has moved past them. */
static void test_R103_stream_bind_error_order(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    int fd = stream_socket(g);
    struct sockaddr_vm foreign_family = vm_addr(CID_B, 80);
    foreign_family.svm_family = AF_INET;
    ASSERT_FAILS(vs_bind(g, fd, SA(foreign_family), sizeof(foreign_family)), EINVAL);
    struct sockaddr_vm flagged = vm_addr(CID_B, 80);
    flagged.svm_zero[0] = 0x80;                                 /* an undefined flag, R5 */
    ASSERT_FAILS(vs_bind(g, fd, SA(flagged), sizeof(flagged)), EINVAL);
    struct sockaddr_vm foreign = vm_addr(CID_B, 80);
    ASSERT_FAILS(vs_bind(g, fd, SA(foreign), sizeof(foreign) - 1), EINVAL);
    ASSERT_FAILS(vs_bind(g, fd, SA(foreign), sizeof(foreign)), EADDRNOTAVAIL);
    ASSERT_U64_EQ(name_of(g, fd, false).svm_port, VMADDR_PORT_ANY);     /* still unbound */
    struct vs_context admin;
    context_init_as(f, &admin, CID_HOST, "root", true, true);
    struct sockaddr_vm port_80 = vm_addr(VMADDR_CID_ANY, 80);
    int privileged = stream_socket(&admin);
    ASSERT_RETURNS(vs_bind(&admin, privileged, SA(port_80), sizeof(port_80)), 0);
    int unprivileged = stream_socket(&f->host);
    ASSERT_FAILS(vs_bind(&f->host, unprivileged, SA(port_80), sizeof(port_80)), EACCES);
    int second_privileged = stream_socket(&admin);
    ASSERT_FAILS(vs_bind(&admin, second_privileged, SA(port_80), sizeof(port_80)), EADDRINUSE);
    struct vs_context *b = &f->guest_b;
    for (uint32_t port = 1024; port < 1024 + VSOCK_MAX_PORT_RETRIES; port++) {
        struct sockaddr_vm taken = vm_addr(VMADDR_CID_ANY, port);
        ASSERT_RETURNS(vs_bind(b, stream_socket(b), SA(taken), sizeof(taken)), 0);
    }
    struct sockaddr_vm any = vm_addr(VMADDR_CID_ANY, VMADDR_PORT_ANY);
    int ephemeral = stream_socket(b);
    ASSERT_FAILS(vs_bind(b, ephemeral, SA(any), sizeof(any)), EADDRNOTAVAIL);
    ASSERT_RETURNS(vs_bind(b, ephemeral, SA(any), sizeof(any)), 0);
    ASSERT_U64_EQ(name_of(b, ephemeral, false).svm_port, 1024 + VSOCK_MAX_PORT_RETRIES);
    vs_context_destroy(&admin);
    fixture_destroy(f);
}

/* R103, datagram: a non-local CID is EADDRNOTAVAIL before the privileged-port check; EACCES
 * (R12) before the handle creation; a handle that exists maps to EADDRINUSE (R16, R63). */
static void test_R103_dgram_bind_error_order(void)
{
    struct fixture *f = fixture_create();
    struct vs_context admin;
    context_init_as(f, &admin, CID_HOST, "root", true, true);
    int guest_fd = vs_socket(&f->guest_a, AF_VSOCK, SOCK_DGRAM, 0);
    CU_ASSERT_FATAL(guest_fd >= VS_FD_FIRST);
    struct sockaddr_vm foreign = vm_addr(CID_B, 80);
    ASSERT_FAILS(vs_bind(&f->guest_a, guest_fd, SA(foreign), sizeof(foreign)), EADDRNOTAVAIL);
    struct sockaddr_vm port_80 = vm_addr(VMADDR_CID_ANY, 80);
    ASSERT_FAILS(vs_bind(&f->guest_a, guest_fd, SA(port_80), sizeof(port_80)), EACCES);
    int privileged = vs_socket(&admin, AF_VSOCK, SOCK_DGRAM, 0);
    CU_ASSERT_FATAL(privileged >= VS_FD_FIRST);
    ASSERT_RETURNS(vs_bind(&admin, privileged, SA(port_80), sizeof(port_80)), 0);
    int unprivileged = vs_socket(&f->host, AF_VSOCK, SOCK_DGRAM, 0);
    CU_ASSERT_FATAL(unprivileged >= VS_FD_FIRST);
    ASSERT_FAILS(vs_bind(&f->host, unprivileged, SA(port_80), sizeof(port_80)), EACCES);
    int second_privileged = vs_socket(&admin, AF_VSOCK, SOCK_DGRAM, 0);
    CU_ASSERT_FATAL(second_privileged >= VS_FD_FIRST);
    ASSERT_FAILS(vs_bind(&admin, second_privileged, SA(port_80), sizeof(port_80)), EADDRINUSE);
    struct sockaddr_vm port_6000 = vm_addr(VMADDR_CID_ANY, 6000);
    ASSERT_RETURNS(vs_bind(&f->host, unprivileged, SA(port_6000), sizeof(port_6000)), 0);
    int other = vs_socket(&f->host, AF_VSOCK, SOCK_DGRAM, 0);
    CU_ASSERT_FATAL(other >= VS_FD_FIRST);
    ASSERT_FAILS(vs_bind(&f->host, other, SA(port_6000), sizeof(port_6000)), EADDRINUSE);
    ASSERT_FAILS(vs_bind(&f->host, unprivileged, SA(foreign), sizeof(foreign)), EINVAL); /* R18 */
    vs_context_destroy(&admin);
    fixture_destroy(f);
}

/* R104: after bind, getsockname returns the CID asked for (ANY stays ANY, also once the
 * socket listens) and the port asked for or chosen, for stream and datagram sockets. */
static void test_R104_getsockname_after_bind(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    struct sockaddr_vm own = vm_addr(CID_A, 6000);
    int explicit_cid = stream_socket(g);
    ASSERT_RETURNS(vs_bind(g, explicit_cid, SA(own), sizeof(own)), 0);
    struct sockaddr_vm name = name_of(g, explicit_cid, false);
    ASSERT_U64_EQ(name.svm_cid, CID_A);
    ASSERT_U64_EQ(name.svm_port, 6000);
    struct sockaddr_vm any_port = vm_addr(VMADDR_CID_ANY, VMADDR_PORT_ANY);
    int ephemeral = stream_socket(g);
    ASSERT_RETURNS(vs_bind(g, ephemeral, SA(any_port), sizeof(any_port)), 0);
    name = name_of(g, ephemeral, false);
    ASSERT_U64_EQ(name.svm_cid, VMADDR_CID_ANY);
    ASSERT_U64_EQ(name.svm_port, 1024);                         /* R14, D13 */
    int listening = listener(g, 6001, 4);
    name = name_of(g, listening, false);
    ASSERT_U64_EQ(name.svm_cid, VMADDR_CID_ANY);
    ASSERT_U64_EQ(name.svm_port, 6001);
    struct sockaddr_vm host_own = vm_addr(CID_HOST, 6002);
    int host_fd = stream_socket(&f->host);
    ASSERT_RETURNS(vs_bind(&f->host, host_fd, SA(host_own), sizeof(host_own)), 0);
    ASSERT_U64_EQ(name_of(&f->host, host_fd, false).svm_cid, CID_HOST);
    int dgram_explicit = vs_socket(g, AF_VSOCK, SOCK_DGRAM, 0);
    CU_ASSERT_FATAL(dgram_explicit >= VS_FD_FIRST);
    ASSERT_RETURNS(vs_bind(g, dgram_explicit, SA(own), sizeof(own)), 0);       /* R15 */
    name = name_of(g, dgram_explicit, false);
    ASSERT_U64_EQ(name.svm_cid, CID_A);
    ASSERT_U64_EQ(name.svm_port, 6000);
    int dgram_any = vs_socket(g, AF_VSOCK, SOCK_DGRAM, 0);
    CU_ASSERT_FATAL(dgram_any >= VS_FD_FIRST);
    ASSERT_RETURNS(vs_bind(g, dgram_any, SA(any_port), sizeof(any_port)), 0);
    name = name_of(g, dgram_any, false);
    ASSERT_U64_EQ(name.svm_cid, VMADDR_CID_ANY);
    ASSERT_U64_EQ(name.svm_port, 1024);                         /* the first RID, R15, R23 */
    fixture_destroy(f);
}

/* ---- 6.3 listen and accept ------------------------------------------------------------------ */

/* R107: accept() on a stream socket that is not listening (fresh, bound, connected, or an
 * accepted child) is EINVAL; a listener with sk_err set returns that error, and the child it
 * dequeued is discarded: it leaves the accept queue and its peer sees the queue pair
 * detach (EOF, then EPIPE, R171). */
static void test_R107_accept_on_non_listener_and_listener_error(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *h = &f->host;
    int fresh = stream_socket(h);
    ASSERT_FAILS(vs_accept(h, fresh, NULL, NULL), EINVAL);
    struct sockaddr_vm addr = vm_addr(VMADDR_CID_ANY, 9200);
    ASSERT_RETURNS(vs_bind(h, fresh, SA(addr), sizeof(addr)), 0);
    ASSERT_FAILS(vs_accept(h, fresh, NULL, NULL), EINVAL);
    int client_fd, server_fd;
    int listen_fd = connected_pair(f, &f->guest_a, h, 9201, &client_fd, &server_fd);
    ASSERT_FAILS(vs_accept(h, server_fd, NULL, NULL), EINVAL);
    ASSERT_FAILS(vs_accept(&f->guest_a, client_fd, NULL, NULL), EINVAL);
    int queued_client = stream_socket(&f->guest_b);
    CU_ASSERT_EQUAL_FATAL(plain_connect(f, &f->guest_b, queued_client, CID_HOST, 9201), 0);
    struct vsock_sock *listening = vs_socket_of(h, listen_fd);
    ASSERT_U64_EQ(listening->accept_count, 1);
    inject_sk_err(listening, EPROTO);
    uint32_t fds_before = h->fd_count;
    ASSERT_FAILS(vs_accept(h, listen_fd, NULL, NULL), EPROTO);
    ASSERT_U64_EQ(h->fd_count, fds_before);
    ASSERT_U64_EQ(listening->accept_count, 0);                  /* the child was discarded */
    run_idle(f);
    uint8_t buffer[8];
    ASSERT_RETURNS(vs_recv(&f->guest_b, queued_client, buffer, sizeof(buffer), 0), 0);
    ASSERT_FAILS(vs_send(&f->guest_b, queued_client, buffer, sizeof(buffer), 0), EPIPE);
    fixture_destroy(f);
}

/* R109, detach: a child whose client closed (sending data first) while it waited in the
 * accept queue is still accepted, connected, with the peer's address; a guest-side child
 * keeps the queued bytes (R171), then reads EOF. */
static void test_R109_child_detached_in_accept_queue_is_accepted(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    int listen_fd = listener(g, 9300, 4);
    int client_fd = stream_socket(&f->host);
    CU_ASSERT_EQUAL_FATAL(plain_connect(f, &f->host, client_fd, CID_A, 9300), 0);
    send_all(&f->host, client_fd, 0, 5);
    ASSERT_RETURNS(vs_close(&f->host, client_fd), 0);
    run_idle(f);
    struct sockaddr_vm peer;
    socklen_t length = sizeof(peer);
    int child = vs_accept(g, listen_fd, SA(peer), &length);
    CU_ASSERT_FATAL(child >= VS_FD_FIRST);
    ASSERT_U64_EQ(peer.svm_cid, CID_HOST);
    ASSERT_U64_EQ(peer.svm_port, 1024);
    ASSERT_U64_EQ(vs_socket_of(g, child)->state, VSOCK_SS_CONNECTED);
    uint8_t buffer[16];
    ASSERT_RETURNS(vs_recv(g, child, buffer, sizeof(buffer), 0), 5);
    ASSERT_U64_EQ(stream_mismatches(buffer, 0, 5), 0);
    ASSERT_RETURNS(vs_recv(g, child, buffer, sizeof(buffer), 0), 0);           /* EOF */
    ASSERT_FAILS(vs_send(g, child, buffer, 1, 0), EPIPE);
    fixture_destroy(f);
}

/* R109, reset: an RST for a child waiting in the accept queue (a hand-made packet from the
 * client's kernel) marks it done (R170, TCP_CLOSING); accept() still returns it, connected,
 * and its reads see EOF. */
static void test_R109_child_reset_in_accept_queue_is_accepted(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *h = &f->host;
    int listen_fd = listener(h, 9301, 4);
    int client_fd = stream_socket(&f->guest_a);
    CU_ASSERT_EQUAL_FATAL(plain_connect(f, &f->guest_a, client_fd, CID_HOST, 9301), 0);
    uint32_t client_port = name_of(&f->guest_a, client_fd, false).svm_port;
    struct injected_packet rst = injected_packet_make(CID_HOST, VSOCK_PACKET_RST, client_port,
                                                      9301);
    CU_ASSERT(fixture_inject_packet(f, CID_A, &rst) >= 0);
    run_idle(f);
    struct sockaddr_vm peer;
    socklen_t length = sizeof(peer);
    int child = vs_accept(h, listen_fd, SA(peer), &length);
    CU_ASSERT_FATAL(child >= VS_FD_FIRST);
    ASSERT_U64_EQ(peer.svm_cid, CID_A);
    ASSERT_U64_EQ(peer.svm_port, client_port);
    struct vsock_sock *sock = vs_socket_of(h, child);
    ASSERT_U64_EQ(sock->state, VSOCK_SS_CONNECTED);
    ASSERT_U64_EQ(sock->tcp, VSOCK_TCP_CLOSING);
    ASSERT_U64_EQ(sock->peer_shutdown, VSOCK_SHUTDOWN_MASK);
    uint8_t buffer[8];
    ASSERT_RETURNS(vs_recv(h, child, buffer, sizeof(buffer), 0), 0);
    ASSERT_RETURNS(vs_recv(h, child, buffer, sizeof(buffer), 0), 0);
    fixture_destroy(f);
}

/* The time of the first `type` packet from `cid` at or after index `from` of the log. */
static uint64_t packet_time_ns(const struct packet_log *log, uint32_t from, uint32_t cid,
                               const char *type)
{
    for (uint32_t index = from; index < log->count; index++) {
        const struct packet *packet = &log->packets[index];
        if ((uint32_t)(packet->src >> 32) == cid && strcmp(packet->type, type) == 0)
            return packet->time_ns;
    }
    CU_FAIL("no such packet");
    return 0;
}

/* Writes a hand-made OFFER from guest A's port 5555 to the host's port `port`, runs the
 * engine, and returns the RSTs the host sent back to {CID_A, 5555}. */
static uint32_t late_offer_rsts(struct fixture *f, struct packet_log *log, uint32_t port)
{
    uint32_t mark = log->count;
    struct injected_packet offer = injected_packet_make(CID_HOST, VSOCK_PACKET_OFFER, 5555, port);
    offer.u0 = (uint64_t)CID_A | ((uint64_t)4000 << 32);       /* a handle {CID_A, 4000} */
    CU_ASSERT(fixture_inject_packet(f, CID_A, &offer) >= 0);
    run_idle(f);
    uint32_t rsts = 0;
    for (uint32_t index = mark; index < log->count; index++) {
        const struct packet *packet = &log->packets[index];
        rsts += (uint32_t)(packet->src >> 32) == CID_HOST && strcmp(packet->type, "RST") == 0 &&
                packet->dst == (((uint64_t)CID_A << 32) | 5555u);
    }
    ASSERT_U64_EQ(packets_from(log, mark, CID_HOST), rsts);
    return rsts;
}

/* R110: a hand-made REQUEST2 from guest A (whose interrupts are masked, so the NEGOTIATE2
 * never reaches its stack and no OFFER follows) leaves a half-open child. It is still
 * pending 1 ns before 1 s after the REQUEST arrived and gone at 1 s, with no packet sent;
 * it no longer counts toward backlog 1 (a new client gets in); a late OFFER for it is
 * answered with RST by the listener (R162), and with RST once the listener is gone (R150). */
static void test_R110_half_open_child_expires_silently(void)
{
    struct packet_log *log = calloc(1, sizeof(*log));
    CU_ASSERT_PTR_NOT_NULL_FATAL(log);
    struct sim_trace_sink sink = packet_log_sink(log);
    struct fixture *f = fixture_create_with(SEED, &sink, 1);
    int listen_fd = listener(&f->host, 9400, 1);
    struct vsock_sock *listening = vs_socket_of(&f->host, listen_fd);
    mask_guest_interrupts(f, CID_A);
    struct injected_packet request = injected_packet_make(CID_HOST, VSOCK_PACKET_REQUEST2, 5555,
                                                          9400);
    request.u0 = QUEUE_BYTES;
    request.proto = VSOCK_PROTO_PKT_ON_NOTIFY;
    uint32_t mark = log->count;
    CU_ASSERT(fixture_inject_packet(f, CID_A, &request) >= 0);
    uint64_t start_ns = sim_engine_now(f->world->engine);
    ASSERT_U64_EQ(vs_world_run(f->world, start_ns + NS_PER_SEC / 10), SIM_STOP_UNTIL);
    ASSERT_U64_EQ(packets_count(log, mark, CID_HOST, "NEGOTIATE2"), 1);
    ASSERT_U64_EQ(listening->pending_count, 1);
    uint64_t arrived_ns = packet_time_ns(log, mark, CID_HOST, "NEGOTIATE2");
    uint32_t after_negotiate = log->count;
    ASSERT_U64_EQ(vs_world_run(f->world, arrived_ns + VSOCK_HALF_OPEN_TIMEOUT_NS - 1),
                  SIM_STOP_UNTIL);
    ASSERT_U64_EQ(listening->pending_count, 1);
    run_idle(f);                                /* the expiry is the last event */
    ASSERT_U64_EQ(sim_engine_now(f->world->engine), arrived_ns + VSOCK_HALF_OPEN_TIMEOUT_NS);
    ASSERT_U64_EQ(listening->pending_count, 0);
    ASSERT_U64_EQ(listening->accept_count, 0);
    ASSERT_U64_EQ(packets_from(log, after_negotiate, CID_HOST), 0);      /* silently */
    ASSERT_U64_EQ(late_offer_rsts(f, log, 9400), 1);                     /* R162 */
    ASSERT_U64_EQ(listening->pending_count + listening->accept_count, 0);
    int client = stream_socket(&f->guest_b);
    CU_ASSERT_EQUAL(plain_connect(f, &f->guest_b, client, CID_HOST, 9400), 0);
    ASSERT_RETURNS(vs_close(&f->host, listen_fd), 0);
    ASSERT_U64_EQ(late_offer_rsts(f, log, 9400), 1);                     /* R150 */
    ASSERT_U64_EQ(log->dropped, 0);
    fixture_destroy(f);
    free(log);
}

/* ---- 6.4 connect ---------------------------------------------------------------------------- */

/* A blocking connect() of an existing descriptor on a fiber. */
struct fd_connect {
    int fd;
    struct sockaddr_vm target;
    bool returned;
    int rc;
    int error;
    uint64_t started_ns;
    uint64_t ended_ns;
};

static void fd_connect_body(struct vs_context *context, void *arg)
{
    struct fd_connect *connect = arg;
    connect->started_ns = sim_engine_now(context->engine);
    errno = 0;
    connect->rc = vs_connect(context, connect->fd, SA(connect->target), sizeof(connect->target));
    connect->error = errno;
    connect->returned = true;
    connect->ended_ns = sim_engine_now(context->engine);
}

/* Starts a non-blocking connect (EINPROGRESS), makes the socket blocking again, and has a
 * fiber call connect() once more: R111 says it waits for the earlier attempt's outcome.
 * Returns 0 or the fiber's errno. */
static int connect_again_while_connecting(struct fixture *f, struct vs_context *context,
                                          uint32_t port, struct fd_connect *connect)
{
    memset(connect, 0, sizeof(*connect));
    connect->fd = vs_socket(context, AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK, 0);
    CU_ASSERT_FATAL(connect->fd >= VS_FD_FIRST);
    connect->target = vm_addr(CID_HOST, port);
    ASSERT_FAILS(vs_connect(context, connect->fd, SA(connect->target), sizeof(connect->target)),
                 EINPROGRESS);
    ASSERT_U64_EQ(vs_socket_of(context, connect->fd)->state, VSOCK_SS_CONNECTING);
    ASSERT_RETURNS(vs_fcntl(context, connect->fd, F_SETFL, 0), 0);
    CU_ASSERT_EQUAL_FATAL(vs_spawn(context, "connect", fd_connect_body, connect, false), 0);
    run_idle(f);
    CU_ASSERT_FATAL(connect->returned);
    return connect->rc == 0 ? 0 : connect->error;
}

/* R111: a blocking connect() on a socket in SS_CONNECTING waits for the earlier attempt:
 * it returns 0 when that attempt is established, ECONNRESET when it is reset (no
 * listener, R212), later than it started in both cases. A REQUEST that cannot be sent
 * (CID 300 does not exist: DST_UNREACHABLE -> EINVAL, R63, R221) leaves TCP_CLOSE and
 * SS_UNCONNECTED, and the socket can connect again. */
static void test_R111_connect_waits_for_earlier_attempt_and_failed_request(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    listener(&f->host, 9500, 4);
    struct fd_connect connect;
    ASSERT_U64_EQ(connect_again_while_connecting(f, g, 9500, &connect), 0);
    CU_ASSERT(connect.ended_ns > connect.started_ns);
    ASSERT_U64_EQ(vs_socket_of(g, connect.fd)->state, VSOCK_SS_CONNECTED);
    ASSERT_U64_EQ(vs_socket_of(g, connect.fd)->tcp, VSOCK_TCP_ESTABLISHED);
    ASSERT_U64_EQ(connect_again_while_connecting(f, g, 9501, &connect), ECONNRESET);
    CU_ASSERT(connect.ended_ns > connect.started_ns);
    ASSERT_U64_EQ(vs_socket_of(g, connect.fd)->state, VSOCK_SS_UNCONNECTED);
    ASSERT_U64_EQ(vs_socket_of(g, connect.fd)->tcp, VSOCK_TCP_CLOSE);
    int fd = stream_socket(g);
    struct sockaddr_vm nowhere = vm_addr(300, 9502);
    ASSERT_FAILS(vs_connect(g, fd, SA(nowhere), sizeof(nowhere)), EINVAL);
    struct vsock_sock *sock = vs_socket_of(g, fd);
    ASSERT_U64_EQ(sock->tcp, VSOCK_TCP_CLOSE);
    ASSERT_U64_EQ(sock->state, VSOCK_SS_UNCONNECTED);
    ASSERT_U64_EQ(int_option(g, fd, SOL_SOCKET, SO_ERROR), 0);
    CU_ASSERT_EQUAL(plain_connect(f, g, fd, CID_HOST, 9500), 0);
    fixture_destroy(f);
}

/* R111, R112: a blocking connect() on a socket still in SS_CONNECTING whose earlier
 * non-blocking attempt already failed, and whose error was read (SO_ERROR clears it, R113),
 * has no outcome left to wait for: like Linux (af_vsock.c vsock_connect waits
 * connect_timeout with sk_state TCP_CLOSE and sk_err 0), it ends after the connect timeout
 * with ETIMEDOUT, TCP_CLOSE and SS_UNCONNECTED, and the socket can connect again. */
static void test_R111_R112_connect_after_failed_attempt_was_read_times_out(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    listener(&f->host, 9510, 4);
    int fd = vs_socket(g, AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK, 0);
    CU_ASSERT_FATAL(fd >= VS_FD_FIRST);
    struct sockaddr_vm nobody = vm_addr(CID_HOST, 9511);
    ASSERT_FAILS(vs_connect(g, fd, SA(nobody), sizeof(nobody)), EINPROGRESS);
    run_idle(f);
    struct vsock_sock *sock = vs_socket_of(g, fd);
    ASSERT_U64_EQ(sock->tcp, VSOCK_TCP_CLOSE);
    ASSERT_U64_EQ(sock->state, VSOCK_SS_CONNECTING);          /* state table, R113 */
    ASSERT_U64_EQ(int_option(g, fd, SOL_SOCKET, SO_ERROR), ECONNRESET);        /* R212 */
    ASSERT_U64_EQ(int_option(g, fd, SOL_SOCKET, SO_ERROR), 0);
    ASSERT_FAILS(vs_connect(g, fd, SA(nobody), sizeof(nobody)), EALREADY);     /* R111 */
    ASSERT_RETURNS(vs_fcntl(g, fd, F_SETFL, 0), 0);
    struct fd_connect connect;
    memset(&connect, 0, sizeof(connect));
    connect.fd = fd;
    connect.target = nobody;
    CU_ASSERT_EQUAL_FATAL(vs_spawn(g, "connect", fd_connect_body, &connect, false), 0);
    run_idle(f);
    CU_ASSERT_FATAL(connect.returned);                  /* bounded: no wait without end */
    CU_ASSERT_EQUAL(connect.rc, -1);
    ASSERT_U64_EQ(connect.error, ETIMEDOUT);
    CU_ASSERT(connect.ended_ns - connect.started_ns >= 2000000000u);           /* R114 */
    ASSERT_U64_EQ(sock->tcp, VSOCK_TCP_CLOSE);
    ASSERT_U64_EQ(sock->state, VSOCK_SS_UNCONNECTED);
    ASSERT_U64_EQ(int_option(g, fd, SOL_SOCKET, SO_ERROR), 0);
    CU_ASSERT_EQUAL(plain_connect(f, g, fd, CID_HOST, 9510), 0);
    fixture_destroy(f);
}

/* R115: after connect() returns 0 the local name has the CID actually used and the port,
 * never ANY, and the peer name is the server's: a host client bound to {ANY, 5000} and a
 * guest client connected by a blocking connect() with an ephemeral port. */
static void test_R115_names_after_connect(void)
{
    struct fixture *f = fixture_create();
    listener(&f->guest_b, 9600, 4);
    int host_fd = stream_socket(&f->host);
    struct sockaddr_vm any_5000 = vm_addr(VMADDR_CID_ANY, 5000);
    ASSERT_RETURNS(vs_bind(&f->host, host_fd, SA(any_5000), sizeof(any_5000)), 0);
    ASSERT_U64_EQ(name_of(&f->host, host_fd, false).svm_cid, VMADDR_CID_ANY);
    CU_ASSERT_EQUAL_FATAL(plain_connect(f, &f->host, host_fd, CID_B, 9600), 0);
    struct sockaddr_vm name = name_of(&f->host, host_fd, false);
    ASSERT_U64_EQ(name.svm_cid, CID_HOST);
    ASSERT_U64_EQ(name.svm_port, 5000);
    struct sockaddr_vm peer = name_of(&f->host, host_fd, true);
    ASSERT_U64_EQ(peer.svm_cid, CID_B);
    ASSERT_U64_EQ(peer.svm_port, 9600);
    listener(&f->host, 9601, 4);
    struct connect_result result;
    ASSERT_U64_EQ(fiber_connect(f, &f->guest_a, CID_HOST, 9601, &result), 0);
    name = name_of(&f->guest_a, result.fd, false);
    ASSERT_U64_EQ(name.svm_cid, CID_A);
    ASSERT_U64_EQ(name.svm_port, 1024);                         /* auto-bind, R14, R19 */
    peer = name_of(&f->guest_a, result.fd, true);
    ASSERT_U64_EQ(peer.svm_cid, CID_HOST);
    ASSERT_U64_EQ(peer.svm_port, 9601);
    fixture_destroy(f);
}

/* ---- 6.5 Data transfer ---------------------------------------------------------------------- */

/* R116, the order of the checks: MSG_OOB comes before the address check (EOPNOTSUPP on an
 * established socket given an address), the address check before the shutdown check
 * (EISCONN after SHUT_WR while still established), and the shutdown check before the
 * state check (EPIPE, not ENOTCONN, once that socket's peer has gone: TCP_CLOSE). */
static void test_R116_send_checks_in_order(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    uint8_t bytes[4] = { 1, 2, 3, 4 };
    struct sockaddr_vm host = vm_addr(CID_HOST, 9700);
    int client_fd, server_fd;
    connected_pair(f, g, &f->host, 9700, &client_fd, &server_fd);
    ASSERT_FAILS(vs_sendto(g, client_fd, bytes, sizeof(bytes), MSG_OOB, SA(host), sizeof(host)),
                 EOPNOTSUPP);
    ASSERT_RETURNS(vs_shutdown(g, client_fd, SHUT_WR), 0);
    ASSERT_U64_EQ(vs_socket_of(g, client_fd)->tcp, VSOCK_TCP_ESTABLISHED);
    ASSERT_FAILS(vs_sendto(g, client_fd, bytes, sizeof(bytes), 0, SA(host), sizeof(host)),
                 EISCONN);
    ASSERT_FAILS(vs_send(g, client_fd, bytes, sizeof(bytes), MSG_OOB), EOPNOTSUPP);
    ASSERT_FAILS(vs_send(g, client_fd, bytes, sizeof(bytes), 0), EPIPE);
    ASSERT_RETURNS(vs_close(&f->host, server_fd), 0);
    run_idle(f);
    ASSERT_U64_EQ(vs_socket_of(g, client_fd)->tcp, VSOCK_TCP_CLOSE);          /* R171 */
    ASSERT_FAILS(vs_send(g, client_fd, bytes, sizeof(bytes), 0), EPIPE);
    fixture_destroy(f);
}

/* R117: a blocked send stops on sk_err: with bytes already written it returns their count
 * (and the next send reports the error); with nothing written it fails with that error. */
static void test_R117_blocked_send_stopped_by_sk_err(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    int client_fd, server_fd;
    connected_pair(f, g, &f->host, 9800, &client_fd, &server_fd);
    struct blocked_io io = { .fd = client_fd, .size_bytes = QUEUE_BYTES + 1000 };
    spawn_io(g, sender_body, &io);
    run_until_blocked(f);
    CU_ASSERT_FALSE(io.returned);
    inject_sk_err(vs_socket_of(g, client_fd), ECONNRESET);
    run_idle(f);
    CU_ASSERT_FATAL(io.finished);
    ASSERT_U64_EQ(io.rc, QUEUE_BYTES - 1);
    ASSERT_U64_EQ(io.second_rc, (uint64_t)-1);
    ASSERT_U64_EQ(io.second_error, ECONNRESET);
    int full_client, full_server;
    connected_pair(f, &f->guest_b, &f->host, 9801, &full_client, &full_server);
    stream_fill(payload, 0, QUEUE_BYTES);
    ASSERT_RETURNS(vs_send(&f->guest_b, full_client, payload, QUEUE_BYTES, 0), QUEUE_BYTES - 1);
    struct blocked_io empty = { .fd = full_client, .size_bytes = 100 };
    spawn_io(&f->guest_b, sender_body, &empty);
    run_until_blocked(f);
    CU_ASSERT_FALSE(empty.returned);
    inject_sk_err(vs_socket_of(&f->guest_b, full_client), EPROTO);
    run_idle(f);
    CU_ASSERT_FATAL(empty.returned);
    ASSERT_U64_EQ(empty.rc, (uint64_t)-1);
    ASSERT_U64_EQ(empty.error, EPROTO);
    fixture_destroy(f);
}

/* R117, R118: a blocked send stops on a local SHUT_WR (the bytes written so far) and on the
 * peer's SHUT_RD (EPIPE, nothing written); EPIPE raises no signal (D11): the process goes
 * on, its next send fails with EPIPE as well, and it ends normally. */
static void test_R117_R118_blocked_send_stopped_by_shutdown(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    int client_fd, server_fd;
    connected_pair(f, g, &f->host, 9900, &client_fd, &server_fd);
    struct blocked_io io = { .fd = client_fd, .size_bytes = QUEUE_BYTES + 1000 };
    spawn_io(g, sender_body, &io);
    run_until_blocked(f);
    CU_ASSERT_FALSE(io.returned);
    ASSERT_RETURNS(vs_shutdown(g, client_fd, SHUT_WR), 0);
    run_idle(f);
    CU_ASSERT_FATAL(io.finished);
    ASSERT_U64_EQ(io.rc, QUEUE_BYTES - 1);
    ASSERT_U64_EQ(io.second_error, EPIPE);
    int full_client, full_server;
    connected_pair(f, &f->guest_b, &f->host, 9901, &full_client, &full_server);
    stream_fill(payload, 0, QUEUE_BYTES);
    ASSERT_RETURNS(vs_send(&f->guest_b, full_client, payload, QUEUE_BYTES, 0), QUEUE_BYTES - 1);
    struct blocked_io empty = { .fd = full_client, .size_bytes = 100 };
    spawn_io(&f->guest_b, sender_body, &empty);
    run_until_blocked(f);
    CU_ASSERT_FALSE(empty.returned);
    ASSERT_RETURNS(vs_shutdown(&f->host, full_server, SHUT_RD), 0);
    run_idle(f);
    ASSERT_U64_EQ(empty.rc, (uint64_t)-1);
    ASSERT_U64_EQ(empty.error, EPIPE);
    CU_ASSERT(empty.finished);                                  /* R118: no SIGPIPE */
    ASSERT_U64_EQ(empty.second_rc, (uint64_t)-1);
    ASSERT_U64_EQ(empty.second_error, EPIPE);
    CU_ASSERT_FALSE(f->guest_b.process_live);                   /* ended by returning */
    fixture_destroy(f);
}

/* Has guest A's fiber recv(`size_bytes`, `flags`) on `fd` while the host sends 4 bytes, then
 * (once the reader is blocked again) 6 more. Returns how the recv ended. */
static struct blocked_io recv_across_two_sends(struct fixture *f, int fd, int server_fd,
                                               size_t size_bytes, int flags, uint64_t *offset)
{
    struct blocked_io io = { .fd = fd, .size_bytes = size_bytes, .flags = flags };
    spawn_io(&f->guest_a, receiver_body, &io);
    run_until_blocked(f);
    send_all(&f->host, server_fd, *offset, 4);
    run_until_blocked(f);
    CU_ASSERT_FALSE(io.returned);                               /* 4 bytes: target not met */
    send_all(&f->host, server_fd, *offset + 4, 6);
    run_idle(f);
    CU_ASSERT(io.returned);
    *offset += 10;
    return io;
}

/* R120: the wake-up target is min(SO_RCVLOWAT, len): with SO_RCVLOWAT 10 a recv of 64 bytes
 * waits past 4 ready bytes and returns 10 once the next 6 arrive; a recv of 5 returns 5 (and
 * the rest stays queued). With MSG_WAITALL the target is len (8, SO_RCVLOWAT 1). */
static void test_R120_rcvlowat_and_waitall_set_the_recv_target(void)
{
    struct fixture *f = fixture_create();
    int client_fd, server_fd;
    connected_pair(f, &f->guest_a, &f->host, 10000, &client_fd, &server_fd);
    uint64_t offset = 0;
    set_int_option(&f->guest_a, client_fd, SO_RCVLOWAT, 10);
    struct blocked_io io = recv_across_two_sends(f, client_fd, server_fd, 64, 0, &offset);
    ASSERT_U64_EQ(io.rc, 10);
    ASSERT_U64_EQ(stream_mismatches(io.received, 0, 10), 0);
    io = recv_across_two_sends(f, client_fd, server_fd, 5, 0, &offset);
    ASSERT_U64_EQ(io.rc, 5);
    ASSERT_U64_EQ(stream_mismatches(io.received, 10, 5), 0);
    uint8_t rest[16];
    ASSERT_RETURNS(vs_recv(&f->guest_a, client_fd, rest, sizeof(rest), 0), 5);
    ASSERT_U64_EQ(stream_mismatches(rest, 15, 5), 0);
    set_int_option(&f->guest_a, client_fd, SO_RCVLOWAT, 1);
    io = recv_across_two_sends(f, client_fd, server_fd, 8, MSG_WAITALL, &offset);
    ASSERT_U64_EQ(io.rc, 8);
    ASSERT_U64_EQ(stream_mismatches(io.received, 20, 8), 0);
    fixture_destroy(f);
}

/* R120: a target >= the consume queue size (Q = 65536) fails with ENOMEM before any wait:
 * MSG_WAITALL with len Q (len Q - 1 would wait: EAGAIN for plain code), and SO_RCVLOWAT Q
 * (allowed: it equals buffer_size, R145) with a longer buffer. */
static void test_R120_target_at_queue_size_is_enomem(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    int client_fd, server_fd;
    connected_pair(f, g, &f->host, 10100, &client_fd, &server_fd);
    static uint8_t buffer[QUEUE_BYTES + 100];
    ASSERT_FAILS(vs_recv(g, client_fd, buffer, QUEUE_BYTES, MSG_WAITALL), ENOMEM);
    ASSERT_FAILS(vs_recv(g, client_fd, buffer, QUEUE_BYTES - 1, MSG_WAITALL), EAGAIN);
    ASSERT_FAILS(vs_recv(g, client_fd, buffer, sizeof(buffer), 0), EAGAIN);   /* target 1 */
    set_int_option(g, client_fd, SO_RCVLOWAT, (int)QUEUE_BYTES);
    ASSERT_FAILS(vs_recv(g, client_fd, buffer, sizeof(buffer), 0), ENOMEM);
    ASSERT_FAILS(vs_recv(g, client_fd, buffer, QUEUE_BYTES - 1, 0), EAGAIN);  /* min(): len */
    send_all(&f->host, server_fd, 0, 8);
    run_idle(f);
    ASSERT_FAILS(vs_recv(g, client_fd, buffer, sizeof(buffer), 0), ENOMEM);   /* data or not */
    ASSERT_RETURNS(vs_recv(g, client_fd, buffer, 8, 0), 8);
    fixture_destroy(f);
}

/* R121: a blocked recv ends at its SO_RCVTIMEO: EAGAIN with nothing copied, exactly 250 ms
 * after it began; with MSG_WAITALL and 3 of 8 bytes copied, those 3 bytes. */
static void test_R121_blocked_recv_stopped_by_rcvtimeo(void)
{
    struct fixture *f = fixture_create();
    int client_fd, server_fd;
    connected_pair(f, &f->guest_a, &f->host, 10200, &client_fd, &server_fd);
    struct blocked_io io = { .fd = client_fd, .size_bytes = 16, .timeout_us = 250000 };
    spawn_io(&f->guest_a, receiver_body, &io);
    run_idle(f);
    CU_ASSERT_FATAL(io.returned);
    ASSERT_U64_EQ(io.rc, (uint64_t)-1);
    ASSERT_U64_EQ(io.error, EAGAIN);
    ASSERT_U64_EQ(io.ended_ns - io.started_ns, 250000000ull);
    send_all(&f->host, server_fd, 0, 3);
    run_idle(f);
    struct blocked_io partial = { .fd = client_fd, .size_bytes = 8, .flags = MSG_WAITALL,
                                  .timeout_us = 250000 };
    spawn_io(&f->guest_a, receiver_body, &partial);
    run_idle(f);
    CU_ASSERT_FATAL(partial.returned);
    ASSERT_U64_EQ(partial.rc, 3);
    ASSERT_U64_EQ(stream_mismatches(partial.received, 0, 3), 0);
    CU_ASSERT(partial.ended_ns - partial.started_ns >= 250000000ull);   /* + the copy cost */
    fixture_destroy(f);
}

/* R121, R146: SO_RCVTIMEO bounds the whole call, not each wait: a MSG_WAITALL recv that
 * wakes at 100 ms for 3 of its 8 bytes (and pays their copy) goes back to waiting for
 * what is left of its 250 ms, and returns the 3 bytes exactly 250 ms after it began
 * (Linux counts the remaining time down; restarting the timeout at each wake-up would
 * end it at about 350 ms). */
static void test_R121_rcvtimeo_counts_down_across_wakeups(void)
{
    struct fixture *f = fixture_create();
    int client_fd, server_fd;
    connected_pair(f, &f->guest_a, &f->host, 10250, &client_fd, &server_fd);
    struct blocked_io partial = { .fd = client_fd, .size_bytes = 8, .flags = MSG_WAITALL,
                                  .timeout_us = 250000 };
    spawn_io(&f->guest_a, receiver_body, &partial);
    uint64_t spawned_ns = sim_engine_now(f->world->engine);
    vs_world_run(f->world, spawned_ns + 100000000ull);
    CU_ASSERT_FATAL(!partial.returned);
    send_all(&f->host, server_fd, 0, 3);
    run_idle(f);
    CU_ASSERT_FATAL(partial.returned);
    ASSERT_U64_EQ(partial.rc, 3);
    ASSERT_U64_EQ(stream_mismatches(partial.received, 0, 3), 0);
    CU_ASSERT(partial.started_ns < spawned_ns + 100000000ull);
    ASSERT_U64_EQ(partial.ended_ns - partial.started_ns, 250000000ull);
    fixture_destroy(f);
}

/* R121: a blocked recv ends on sk_err: the errno with nothing copied; with MSG_WAITALL and
 * 3 of 8 bytes copied, those 3 bytes. */
static void test_R121_blocked_recv_stopped_by_sk_err(void)
{
    struct fixture *f = fixture_create();
    int client_fd, server_fd;
    connected_pair(f, &f->guest_a, &f->host, 10300, &client_fd, &server_fd);
    struct blocked_io partial = { .fd = client_fd, .size_bytes = 8, .flags = MSG_WAITALL };
    spawn_io(&f->guest_a, receiver_body, &partial);
    send_all(&f->host, server_fd, 0, 3);
    run_until_blocked(f);
    CU_ASSERT_FALSE(partial.returned);
    inject_sk_err(vs_socket_of(&f->guest_a, client_fd), ECONNRESET);
    run_idle(f);
    CU_ASSERT_FATAL(partial.returned);
    ASSERT_U64_EQ(partial.rc, 3);
    ASSERT_U64_EQ(stream_mismatches(partial.received, 0, 3), 0);
    int other_client, other_server;
    connected_pair(f, &f->guest_b, &f->host, 10301, &other_client, &other_server);
    struct blocked_io empty = { .fd = other_client, .size_bytes = 8 };
    spawn_io(&f->guest_b, receiver_body, &empty);
    run_until_blocked(f);
    CU_ASSERT_FALSE(empty.returned);
    inject_sk_err(vs_socket_of(&f->guest_b, other_client), EPROTO);
    run_idle(f);
    CU_ASSERT_FATAL(empty.returned);
    ASSERT_U64_EQ(empty.rc, (uint64_t)-1);
    ASSERT_U64_EQ(empty.error, EPROTO);
    fixture_destroy(f);
}

/* R121: a blocked recv ends on a local SHUT_RD (0) and on the peer's SHUT_WR (the 3 bytes
 * copied of a MSG_WAITALL recv of 8, then EOF). */
static void test_R121_blocked_recv_stopped_by_shutdown(void)
{
    struct fixture *f = fixture_create();
    int client_fd, server_fd;
    connected_pair(f, &f->guest_a, &f->host, 10400, &client_fd, &server_fd);
    struct blocked_io local = { .fd = client_fd, .size_bytes = 8 };
    spawn_io(&f->guest_a, receiver_body, &local);
    run_until_blocked(f);
    CU_ASSERT_FALSE(local.returned);
    ASSERT_RETURNS(vs_shutdown(&f->guest_a, client_fd, SHUT_RD), 0);
    run_idle(f);
    CU_ASSERT_FATAL(local.returned);
    ASSERT_U64_EQ(local.rc, 0);
    int other_client, other_server;
    connected_pair(f, &f->guest_b, &f->host, 10401, &other_client, &other_server);
    struct blocked_io peer = { .fd = other_client, .size_bytes = 8, .flags = MSG_WAITALL };
    spawn_io(&f->guest_b, receiver_body, &peer);
    send_all(&f->host, other_server, 0, 3);
    run_until_blocked(f);
    CU_ASSERT_FALSE(peer.returned);
    ASSERT_RETURNS(vs_shutdown(&f->host, other_server, SHUT_WR), 0);
    run_idle(f);
    CU_ASSERT_FATAL(peer.returned);
    ASSERT_U64_EQ(peer.rc, 3);
    ASSERT_U64_EQ(stream_mismatches(peer.received, 0, 3), 0);
    uint8_t buffer[8];
    ASSERT_RETURNS(vs_recv(&f->guest_b, other_client, buffer, sizeof(buffer), 0), 0);
    fixture_destroy(f);
}

/* R121: MSG_PEEK returns after one peek, even with MSG_WAITALL and fewer bytes than asked
 * (the fiber never blocks: the engine goes idle, not deadlocked), and consumes nothing. */
static void test_R121_peek_returns_after_one_peek(void)
{
    struct fixture *f = fixture_create();
    int client_fd, server_fd;
    connected_pair(f, &f->guest_a, &f->host, 10500, &client_fd, &server_fd);
    send_all(&f->host, server_fd, 0, 3);
    run_idle(f);
    struct blocked_io peek = { .fd = client_fd, .size_bytes = 8,
                               .flags = MSG_PEEK | MSG_WAITALL };
    spawn_io(&f->guest_a, receiver_body, &peek);
    run_idle(f);
    CU_ASSERT_FATAL(peek.returned);
    ASSERT_U64_EQ(peek.rc, 3);
    ASSERT_U64_EQ(stream_mismatches(peek.received, 0, 3), 0);
    uint8_t buffer[8];
    ASSERT_RETURNS(vs_recv(&f->guest_a, client_fd, buffer, sizeof(buffer), 0), 3);
    ASSERT_U64_EQ(stream_mismatches(buffer, 0, 3), 0);
    fixture_destroy(f);
}

static void mark_ran_body(struct vs_context *context, void *arg)
{
    (void)context;
    *(bool *)arg = true;
}

/* vs_spawn_stack (the fuzz targets' small fibers): the engine's smallest stack runs a body;
 * one byte less is refused with EINVAL and spawns nothing. */
static void test_spawn_stack_size_bounds(void)
{
    struct fixture *f = fixture_create();
    bool ran = false;
    errno = 0;
    ASSERT_RETURNS(vs_spawn_stack(&f->host, "small", mark_ran_body, &ran, false,
                                  SIM_FIBER_STACK_BYTES_MIN - 1), -1);
    ASSERT_U64_EQ(errno, EINVAL);
    ASSERT_RETURNS(vs_spawn_stack(&f->guest_a, "smallest", mark_ran_body, &ran, false,
                                  SIM_FIBER_STACK_BYTES_MIN), 0);
    CU_ASSERT_FALSE(ran);
    run_idle(f);
    CU_ASSERT_TRUE(ran);
    fixture_destroy(f);
}

CU_ErrorCode vsock_core_rules_suite_add(void)
{
    static const struct test_entry tests[] = {
        TEST_ENTRY(test_R101_fresh_socket_initial_fields),
        TEST_ENTRY(test_R101_R122_linux_flavour_buffers_262143_bytes),
        TEST_ENTRY(test_R102_accepted_child_copies_listener_settings),
        TEST_ENTRY(test_R103_stream_bind_error_order),
        TEST_ENTRY(test_R103_dgram_bind_error_order),
        TEST_ENTRY(test_R104_getsockname_after_bind),
        TEST_ENTRY(test_R107_accept_on_non_listener_and_listener_error),
        TEST_ENTRY(test_R109_child_detached_in_accept_queue_is_accepted),
        TEST_ENTRY(test_R109_child_reset_in_accept_queue_is_accepted),
        TEST_ENTRY(test_R110_half_open_child_expires_silently),
        TEST_ENTRY(test_R111_connect_waits_for_earlier_attempt_and_failed_request),
        TEST_ENTRY(test_R111_R112_connect_after_failed_attempt_was_read_times_out),
        TEST_ENTRY(test_R115_names_after_connect),
        TEST_ENTRY(test_R116_send_checks_in_order),
        TEST_ENTRY(test_R117_blocked_send_stopped_by_sk_err),
        TEST_ENTRY(test_R117_R118_blocked_send_stopped_by_shutdown),
        TEST_ENTRY(test_R120_rcvlowat_and_waitall_set_the_recv_target),
        TEST_ENTRY(test_R120_target_at_queue_size_is_enomem),
        TEST_ENTRY(test_R121_blocked_recv_stopped_by_rcvtimeo),
        TEST_ENTRY(test_R121_rcvtimeo_counts_down_across_wakeups),
        TEST_ENTRY(test_R121_blocked_recv_stopped_by_sk_err),
        TEST_ENTRY(test_R121_blocked_recv_stopped_by_shutdown),
        TEST_ENTRY(test_R121_peek_returns_after_one_peek),
        TEST_ENTRY(test_spawn_stack_size_bounds),
    };
    return test_suite_register("vsock_core_rules", tests, sizeof(tests) / sizeof(tests[0]));
}
