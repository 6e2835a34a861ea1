/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/vsock_options_rules_test.c: CUnit tests for the reference sections 6.6-6.9
 * (shutdown and close, names, poll, socket options; rules R124-R146) that
 * vsock_stream_test.c and vsock_dgram_test.c leave out: each test is named after its
 * rules and asserts the exact errno, state, poll mask or packet count (D3), on the
 * shared world of vsock_fixture.h. Where the implementation disagrees with the
 * reference, the test keeps asserting the reference.
 *
 * Poll masks are read with every bit requested (POLL_EVERY), so a bit that must stay
 * clear (POLLWRBAND on streams, R133) is asserted clear rather than filtered out.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <CUnit/CUnit.h>

#include "sim/engine/fiber.h"
#include "suites.h"
#include "test_support.h"
#include "vmci/queue_pair.h"
#include "vmci/vmci_int.h"
#include "vsock/options.h"
#include "vsock/vmci_stream_int.h"
#include "vsock_fixture.h"
#include "vsock_test_support.h"

#define POLL_EVERY (POLLIN | POLLPRI | POLLOUT | POLLRDNORM | POLLRDBAND | POLLWRNORM | \
                    POLLWRBAND | POLLERR | POLLHUP | POLLRDHUP)
#define POLL_DGRAM_WRITABLE (POLLOUT | POLLWRNORM | POLLWRBAND)                  /* R134 */
#define NS_PER_SECOND 1000000000ull
#define NS_PER_MILLISECOND 1000000ull
#define RCVTIMEO_NS 250000000ull                    /* the SO_RCVTIMEO the recv tests set */

/* ---- Helpers ----------------------------------------------------------------------------- */

/* vs_poll of one descriptor asking for every bit, timeout 0; returns revents. */
static uint16_t poll_every(struct vs_context *context, int fd)
{
    struct pollfd entry = { .fd = fd, .events = POLL_EVERY };
    int ready = vs_poll(context, &entry, 1, 0);
    CU_ASSERT_EQUAL(ready, entry.revents != 0 ? 1 : 0);
    return (uint16_t)entry.revents;
}

static ssize_t send_to(struct vs_context *context, int fd, const char *text, uint32_t cid,
                       uint32_t port)
{
    struct sockaddr_vm to = vm_addr(cid, port);
    return vs_sendto(context, fd, text, strlen(text), 0, SA(to), sizeof(to));
}

static int set_u64(struct vs_context *context, int fd, int optname, uint64_t value)
{
    return vs_setsockopt(context, fd, AF_VSOCK, optname, &value, sizeof(value));
}

/* A level-40 u64 option's value; asserts that the read succeeds with 8 bytes. */
static uint64_t get_u64(struct vs_context *context, int fd, int optname)
{
    uint64_t value = 0xDEADBEEFull;
    socklen_t length = sizeof(value);
    ASSERT_RETURNS(vs_getsockopt(context, fd, AF_VSOCK, optname, &value, &length), 0);
    ASSERT_U64_EQ(length, sizeof(value));
    return value;
}

static int set_int(struct vs_context *context, int fd, int level, int optname, int value)
{
    return vs_setsockopt(context, fd, level, optname, &value, sizeof(value));
}

/* An int option's value, or -1000 - errno when the read fails. */
static int get_int(struct vs_context *context, int fd, int level, int optname)
{
    int value = -1;
    socklen_t length = sizeof(value);
    errno = 0;
    if (vs_getsockopt(context, fd, level, optname, &value, &length) != 0)
        return -1000 - errno;
    CU_ASSERT_EQUAL(length, sizeof(value));
    return value;
}

static int set_connect_timeout(struct vs_context *context, int fd, int64_t seconds,
                               int64_t microseconds)
{
    struct timeval tv = { .tv_sec = (time_t)seconds, .tv_usec = (suseconds_t)microseconds };
    return vs_setsockopt(context, fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &tv, sizeof(tv));
}

static int set_connect_timeout_new(struct vs_context *context, int fd, int64_t seconds,
                                   int64_t microseconds)
{
    struct vs_timeval64 tv = { .tv_sec = seconds, .tv_usec = microseconds };
    return vs_setsockopt(context, fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT_NEW, &tv,
                         sizeof(tv));
}

/* The connect timeout read back through the 64-bit timeval option. */
static struct vs_timeval64 connect_timeout_of(struct vs_context *context, int fd)
{
    struct vs_timeval64 tv = { -1, -1 };
    socklen_t length = sizeof(tv);
    ASSERT_RETURNS(vs_getsockopt(context, fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT_NEW, &tv,
                                 &length), 0);
    ASSERT_U64_EQ(length, sizeof(tv));
    return tv;
}

/* ---- 6.6 shutdown and close -------------------------------------------------------------- */

/* R124: an unconnected datagram socket applies the bits and still returns ENOTCONN (EINVAL
 * first for a bad `how`): after SHUT_RD it polls readable with RDHUP and recv returns 0;
 * after SHUT_WR it is no longer writable and HUP joins (mask 3, R131). */
static void test_R124_unconnected_dgram_shutdown_applies_bits_then_enotconn(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    int fd = dgram_bound(g, 5000);
    ASSERT_FAILS(vs_shutdown(g, fd, 3), EINVAL);
    ASSERT_FAILS(vs_shutdown(g, fd, -1), EINVAL);
    ASSERT_U64_EQ(vs_socket_of(g, fd)->shutdown, 0);
    ASSERT_FAILS(vs_shutdown(g, fd, SHUT_RD), ENOTCONN);
    ASSERT_U64_EQ(vs_socket_of(g, fd)->shutdown, VSOCK_RCV_SHUTDOWN);
    ASSERT_U64_EQ(vs_socket_of(g, fd)->state, VSOCK_SS_UNCONNECTED);
    ASSERT_U64_EQ(poll_every(g, fd), POLLIN | POLLRDNORM | POLLRDHUP | POLL_DGRAM_WRITABLE);
    char buffer[8];
    ASSERT_RETURNS(vs_recv(g, fd, buffer, sizeof(buffer), 0), 0);
    ASSERT_FAILS(vs_shutdown(g, fd, SHUT_WR), ENOTCONN);
    ASSERT_U64_EQ(vs_socket_of(g, fd)->shutdown, VSOCK_SHUTDOWN_MASK);
    ASSERT_U64_EQ(poll_every(g, fd), POLLIN | POLLRDNORM | POLLRDHUP | POLLHUP);
    fixture_destroy(f);
}

struct blocked_dgram_reader {
    int fd;
    ssize_t rc;
};

static void blocked_dgram_reader_body(struct vs_context *context, void *arg)
{
    struct blocked_dgram_reader *reader = arg;
    char buffer[16];
    reader->rc = vs_recv(context, reader->fd, buffer, sizeof(buffer), 0);
}

/* R124: the bits an unconnected datagram socket applies wake a reader blocked in recv,
 * which then returns 0 (R188), although shutdown itself reports ENOTCONN. */
static void test_R124_unconnected_dgram_shutdown_wakes_a_blocked_reader(void)
{
    struct fixture *f = fixture_create();
    struct blocked_dgram_reader reader = { .fd = dgram_bound(&f->guest_a, 5010), .rc = 1 };
    CU_ASSERT_EQUAL(vs_spawn(&f->guest_a, "reader", blocked_dgram_reader_body, &reader,
                             false), 0);
    ASSERT_U64_EQ(vs_world_run(f->world, SIM_TIME_NEVER), SIM_STOP_DEADLOCK);
    ASSERT_U64_EQ(reader.rc, 1);                                        /* still blocked */
    ASSERT_FAILS(vs_shutdown(&f->guest_a, reader.fd, SHUT_RD), ENOTCONN);
    run_idle(f);
    ASSERT_U64_EQ(reader.rc, 0);
    fixture_destroy(f);
}

/* R124, R125: a connected datagram socket's shutdown succeeds, moves it to
 * SS_DISCONNECTING and sends no control packet (only streams send SHUTDOWN); its
 * getpeername then fails with ENOTCONN. */
static void test_R124_R125_connected_dgram_shutdown_disconnects_silently(void)
{
    struct packet_log *log = calloc(1, sizeof(*log));
    CU_ASSERT_PTR_NOT_NULL_FATAL(log);
    struct sim_trace_sink sink = packet_log_sink(log);
    struct fixture *f = fixture_create_with(SEED, &sink, 1);
    struct vs_context *g = &f->guest_a;
    dgram_bound(&f->host, 5020);
    int fd = dgram_socket(g);
    struct sockaddr_vm server = vm_addr(CID_HOST, 5020);
    ASSERT_RETURNS(vs_connect(g, fd, SA(server), sizeof(server)), 0);
    ASSERT_U64_EQ(name_of(g, fd, true).svm_port, 5020);
    run_idle(f);
    uint32_t mark = log->count;
    ASSERT_RETURNS(vs_shutdown(g, fd, SHUT_WR), 0);
    run_idle(f);
    ASSERT_U64_EQ(packets_from(log, mark, CID_A), 0);
    ASSERT_U64_EQ(vs_socket_of(g, fd)->state, VSOCK_SS_DISCONNECTING);
    ASSERT_U64_EQ(vs_socket_of(g, fd)->shutdown, VSOCK_SEND_SHUTDOWN);
    struct sockaddr_vm peer;
    socklen_t length = sizeof(peer);
    ASSERT_FAILS(vs_getpeername(g, fd, SA(peer), &length), ENOTCONN);          /* R125 */
    ASSERT_U64_EQ(poll_every(g, fd), 0);
    ASSERT_U64_EQ(log->dropped, 0);
    fixture_destroy(f);
    free(log);
}

/* The first union word of each `type` packet sent from `cid` since `from`, in order;
 * returns how many there were (at most `max`). */
static uint32_t packet_words(const struct packet_log *log, uint32_t from, uint32_t cid,
                             const char *type, uint64_t *words, uint32_t max)
{
    uint32_t count = 0;
    for (uint32_t index = from; index < log->count && count < max; index++) {
        const struct packet *packet = &log->packets[index];
        if ((uint32_t)(packet->src >> 32) == cid && strcmp(packet->type, type) == 0)
            words[count++] = packet->u0;
    }
    return count;
}

/* R124, R174: on a connected stream each shutdown() sends exactly one SHUTDOWN packet
 * whose mode is that call's mask (SHUT_RD -> 1, SHUT_WR -> 2, SHUT_RDWR -> 3) and
 * nothing else; an EINVAL call sends nothing; the socket's mask accumulates. */
static void test_R124_R174_stream_shutdown_sends_one_packet_with_the_mask(void)
{
    struct packet_log *log = calloc(1, sizeof(*log));
    CU_ASSERT_PTR_NOT_NULL_FATAL(log);
    struct sim_trace_sink sink = packet_log_sink(log);
    struct fixture *f = fixture_create_with(SEED, &sink, 1);
    struct vs_context *g = &f->guest_a;
    int client_fd, server_fd;
    connected_pair(f, g, &f->host, 5025, &client_fd, &server_fd);
    run_idle(f);
    uint32_t mark = log->count;
    ASSERT_FAILS(vs_shutdown(g, client_fd, 3), EINVAL);
    ASSERT_RETURNS(vs_shutdown(g, client_fd, SHUT_RD), 0);
    ASSERT_RETURNS(vs_shutdown(g, client_fd, SHUT_WR), 0);
    ASSERT_RETURNS(vs_shutdown(g, client_fd, SHUT_RDWR), 0);
    run_idle(f);
    uint64_t modes[4] = { 0 };
    ASSERT_U64_EQ(packet_words(log, mark, CID_A, "SHUTDOWN", modes, 4), 3);
    ASSERT_U64_EQ(modes[0], VSOCK_RCV_SHUTDOWN);
    ASSERT_U64_EQ(modes[1], VSOCK_SEND_SHUTDOWN);
    ASSERT_U64_EQ(modes[2], VSOCK_SHUTDOWN_MASK);
    ASSERT_U64_EQ(packets_from(log, mark, CID_A), 3);
    ASSERT_U64_EQ(vs_socket_of(g, client_fd)->shutdown, VSOCK_SHUTDOWN_MASK);
    ASSERT_U64_EQ(vs_socket_of(&f->host, server_fd)->peer_shutdown, VSOCK_SHUTDOWN_MASK);
    ASSERT_U64_EQ(log->dropped, 0);
    fixture_destroy(f);
    free(log);
}

/* R125: SHUT_RD on an accepted (server-side) socket: getpeername, which worked before,
 * fails with ENOTCONN; connect() fails with EINVAL even toward a live listener (the
 * state check comes first, R111); getsockname still works (R128). */
static void test_R125_shutdown_rd_on_accepted_socket_ends_peer_name_and_connect(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *h = &f->host;
    int client_fd, server_fd;
    connected_pair(f, &f->guest_a, h, 5030, &client_fd, &server_fd);
    listener(&f->guest_b, 5031, 4);
    ASSERT_U64_EQ(name_of(h, server_fd, true).svm_cid, CID_A);
    ASSERT_RETURNS(vs_shutdown(h, server_fd, SHUT_RD), 0);
    struct sockaddr_vm peer;
    socklen_t length = sizeof(peer);
    ASSERT_FAILS(vs_getpeername(h, server_fd, SA(peer), &length), ENOTCONN);
    struct sockaddr_vm live = vm_addr(CID_B, 5031);
    ASSERT_FAILS(vs_connect(h, server_fd, SA(live), sizeof(live)), EINVAL);
    struct sockaddr_vm bad = live;
    bad.svm_family = AF_INET;
    ASSERT_FAILS(vs_connect(h, server_fd, SA(bad), sizeof(bad)), EINVAL);
    ASSERT_U64_EQ(name_of(h, server_fd, false).svm_port, 5030);
    ASSERT_U64_EQ(vs_socket_of(h, server_fd)->tcp, VSOCK_TCP_ESTABLISHED);
    fixture_destroy(f);
}

struct lingering_closer {
    int fd;
    int set_rc;
    int close_rc;
    uint64_t elapsed_ns;
    uint64_t cost_ns;
};

static void lingering_closer_body(struct vs_context *context, void *arg)
{
    struct lingering_closer *closer = arg;
    struct linger linger = { .l_onoff = 1, .l_linger = 10 };
    closer->set_rc = vs_setsockopt(context, closer->fd, SOL_SOCKET, SO_LINGER, &linger,
                                   sizeof(linger));
    uint64_t started_ns = sim_engine_now(context->engine);
    uint64_t cost_ns = context->cost_ns_charged;
    closer->close_rc = vs_close(context, closer->fd);
    closer->elapsed_ns = sim_engine_now(context->engine) - started_ns;
    closer->cost_ns = context->cost_ns_charged - cost_ns;
}

/* R126, R146: with SO_LINGER {on, 10 s} set and bytes the peer has not read, close() on a
 * fiber returns 0 after exactly its own cost (no lingering), sends no control packet,
 * and the host peer sees the detach: EOF and EPIPE. */
static void test_R126_close_with_so_linger_is_immediate_and_silent(void)
{
    struct packet_log *log = calloc(1, sizeof(*log));
    CU_ASSERT_PTR_NOT_NULL_FATAL(log);
    struct sim_trace_sink sink = packet_log_sink(log);
    struct fixture *f = fixture_create_with(SEED, &sink, 1);
    int client_fd, server_fd;
    connected_pair(f, &f->guest_a, &f->host, 5040, &client_fd, &server_fd);
    ASSERT_RETURNS(vs_send(&f->guest_a, client_fd, "unread", 6, 0), 6);
    run_idle(f);
    uint32_t mark = log->count;
    struct lingering_closer closer = { .fd = client_fd, .set_rc = 1, .close_rc = 1 };
    CU_ASSERT_EQUAL(vs_spawn(&f->guest_a, "closer", lingering_closer_body, &closer, false), 0);
    run_idle(f);
    ASSERT_U64_EQ(closer.set_rc, 0);
    ASSERT_U64_EQ(closer.close_rc, 0);
    ASSERT_U64_EQ(closer.elapsed_ns, closer.cost_ns);
    CU_ASSERT(closer.elapsed_ns < NS_PER_SECOND);
    ASSERT_U64_EQ(packets_from(log, mark, CID_A), 0);
    char buffer[16];
    ASSERT_RETURNS(vs_recv(&f->host, server_fd, buffer, sizeof(buffer), 0), 0);  /* R171 */
    ASSERT_FAILS(vs_send(&f->host, server_fd, "x", 1, 0), EPIPE);
    ASSERT_U64_EQ(log->dropped, 0);
    fixture_destroy(f);
    free(log);
}

/* R127: closing a guest datagram socket destroys its handle: the port can be bound
 * again at once; a datagram queued before the close and one sent to the port while no
 * socket held it (accepted by the sender, R186) are both gone; later ones arrive. */
static void test_R127_closed_guest_dgram_port_drops_datagrams(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_b;
    int host = dgram_socket(&f->host);
    int first = dgram_bound(g, 5050);
    ASSERT_RETURNS(send_to(&f->host, host, "queued", CID_B, 5050), 6);
    run_idle(f);
    ASSERT_U64_EQ(poll_every(g, first), POLLIN | POLLRDNORM | POLL_DGRAM_WRITABLE);
    ASSERT_RETURNS(vs_close(g, first), 0);
    ASSERT_RETURNS(send_to(&f->host, host, "orphan", CID_B, 5050), 6);
    run_idle(f);
    int second = dgram_bound(g, 5050);
    char buffer[16];
    ASSERT_FAILS(vs_recv(g, second, buffer, sizeof(buffer), MSG_DONTWAIT), EAGAIN);
    ASSERT_RETURNS(send_to(&f->host, host, "later", CID_B, 5050), 5);
    run_idle(f);
    ASSERT_RETURNS(vs_recv(g, second, buffer, sizeof(buffer), MSG_DONTWAIT), 5);
    CU_ASSERT_NSTRING_EQUAL(buffer, "later", 5);
    fixture_destroy(f);
}

/* ---- 6.7 Names and 6.8 poll -------------------------------------------------------------- */

/* R129, R133, R170: after an RST on an established connection the socket stays
 * SS_CONNECTED in TCP_CLOSING: getpeername still works, and poll shows IN, RDHUP (peer
 * SEND_SHUTDOWN) and OUT (TCP_CLOSING without local SEND_SHUTDOWN), never WRBAND. */
static void test_R129_R133_reset_socket_keeps_peer_name_and_polls_writable(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *h = &f->host;
    int client_fd, server_fd;
    connected_pair(f, &f->guest_a, h, 5060, &client_fd, &server_fd);
    uint32_t client_port = name_of(&f->guest_a, client_fd, false).svm_port;
    struct injected_packet rst = injected_packet_make(CID_HOST, VSOCK_PACKET_RST, client_port,
                                                      5060);
    ASSERT_U64_EQ(fixture_inject_packet(f, CID_A, &rst), VSOCK_PACKET_BYTES);
    run_idle(f);
    struct vsock_sock *sock = vs_socket_of(h, server_fd);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sock);
    ASSERT_U64_EQ(sock->tcp, VSOCK_TCP_CLOSING);
    ASSERT_U64_EQ(sock->state, VSOCK_SS_CONNECTED);
    struct sockaddr_vm peer = name_of(h, server_fd, true);
    ASSERT_U64_EQ(peer.svm_cid, CID_A);
    ASSERT_U64_EQ(peer.svm_port, client_port);
    ASSERT_U64_EQ(poll_every(h, server_fd), POLLIN | POLLRDNORM | POLLRDHUP | POLLOUT |
                                                POLLWRNORM);
    char buffer[8];
    ASSERT_RETURNS(vs_recv(h, server_fd, buffer, sizeof(buffer), 0), 0);
    fixture_destroy(f);
}

/* The receive ring of a connected stream socket (its consume queue, in the broker's
 * memory of its queue pair), for R82 tests. */
static struct vmci_queue *consume_queue_of(struct fixture *f, struct vs_context *context, int fd)
{
    struct vsock_sock *sock = vs_socket_of(context, fd);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sock);
    struct vsock_stream *stream = sock->transport;
    CU_ASSERT_PTR_NOT_NULL_FATAL(stream);
    CU_ASSERT_PTR_NOT_NULL_FATAL(stream->qpair);
    struct vmci_qp_entry *entry = vmci__broker_find(f->world->hypervisor,
                                                    stream->qpair->handle);
    CU_ASSERT_PTR_NOT_NULL_FATAL(entry);
    struct vmci_qp_view view = stream->qpair->is_creator ? vmci_qp_view_creator(entry->memory)
                                                         : vmci_qp_view_attacher(entry->memory);
    return view.consume;
}

/* R130 (R82): a transport error while checking data raises POLLERR without sk_err: a
 * peer that writes a producer tail >= the ring size into the shared header makes the
 * ready count an error; POLLERR goes away when the header is valid again. */
static void test_R130_pollerr_from_a_corrupt_queue_pair_header(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    int client_fd, server_fd;
    connected_pair(f, g, &f->host, 5070, &client_fd, &server_fd);
    ASSERT_U64_EQ(poll_every(g, client_fd), POLLOUT | POLLWRNORM);
    struct vmci_queue *queue = consume_queue_of(f, g, client_fd);
    uint64_t tail = vmci_queue_producer_tail(queue);
    vmci_queue_set_producer_tail(queue, queue->size_bytes);
    ASSERT_U64_EQ(poll_every(g, client_fd), POLLERR | POLLOUT | POLLWRNORM);
    ASSERT_U64_EQ(vs_socket_of(g, client_fd)->error, 0);
    vmci_queue_set_producer_tail(queue, tail);
    ASSERT_U64_EQ(poll_every(g, client_fd), POLLOUT | POLLWRNORM);
    fixture_destroy(f);
}

/* R130, R134: a datagram socket's bits one by one: writable is OUT|WRNORM|WRBAND; a
 * queued datagram adds IN|RDNORM; sk_err adds ERR until SO_ERROR reads and clears it;
 * SHUT_WR (on a connected socket) removes the three OUT bits, SHUT_RD adds IN and
 * RDHUP, both give HUP (R131). */
static void test_R130_R134_dgram_poll_bits_individually(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    int fd = dgram_bound(g, 5080);
    int host = dgram_bound(&f->host, 5081);
    ASSERT_U64_EQ(poll_every(g, fd), POLL_DGRAM_WRITABLE);
    ASSERT_RETURNS(send_to(&f->host, host, "ping", CID_A, 5080), 4);
    run_idle(f);
    ASSERT_U64_EQ(poll_every(g, fd), POLLIN | POLLRDNORM | POLL_DGRAM_WRITABLE);
    vs_socket_of(g, fd)->error = ECONNRESET;            /* no VMCI path sets it (R130) */
    ASSERT_U64_EQ(poll_every(g, fd), POLLERR | POLLIN | POLLRDNORM | POLL_DGRAM_WRITABLE);
    ASSERT_U64_EQ(get_int(g, fd, SOL_SOCKET, SO_ERROR), ECONNRESET);
    ASSERT_U64_EQ(poll_every(g, fd), POLLIN | POLLRDNORM | POLL_DGRAM_WRITABLE);
    char buffer[8];
    ASSERT_RETURNS(vs_recv(g, fd, buffer, sizeof(buffer), 0), 4);
    ASSERT_U64_EQ(poll_every(g, fd), POLL_DGRAM_WRITABLE);
    struct sockaddr_vm server = vm_addr(CID_HOST, 5081);
    ASSERT_RETURNS(vs_connect(g, fd, SA(server), sizeof(server)), 0);
    ASSERT_RETURNS(vs_shutdown(g, fd, SHUT_WR), 0);
    ASSERT_U64_EQ(poll_every(g, fd), 0);
    ASSERT_RETURNS(vs_shutdown(g, fd, SHUT_RD), 0);       /* SS_DISCONNECTING now, R124 */
    ASSERT_U64_EQ(poll_every(g, fd), POLLIN | POLLRDNORM | POLLRDHUP | POLLHUP);
    int other = dgram_bound(g, 5082);
    ASSERT_FAILS(vs_shutdown(g, other, SHUT_RD), ENOTCONN);
    ASSERT_U64_EQ(poll_every(g, other), POLLIN | POLLRDNORM | POLLRDHUP | POLL_DGRAM_WRITABLE);
    fixture_destroy(f);
}

/* R132 (D6, R145): a connected stream socket is readable only once its ready bytes reach
 * SO_RCVLOWAT (10: 9 bytes are not enough, 10 are); below the target, its local SHUT_RD
 * or the peer's SHUT_WR makes it readable anyway. */
static void test_R132_pollin_waits_for_rcvlowat_bytes_or_a_shutdown(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    struct vs_context *h = &f->host;
    int client_fd, server_fd;
    connected_pair(f, g, h, 5090, &client_fd, &server_fd);
    ASSERT_RETURNS(set_int(h, server_fd, SOL_SOCKET, SO_RCVLOWAT, 10), 0);
    ASSERT_RETURNS(vs_send(g, client_fd, "123456789", 9, 0), 9);
    run_idle(f);
    ASSERT_U64_EQ(poll_every(h, server_fd), POLLOUT | POLLWRNORM);
    ASSERT_RETURNS(vs_send(g, client_fd, "0", 1, 0), 1);
    run_idle(f);
    ASSERT_U64_EQ(poll_every(h, server_fd), POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM);
    int other_client, other_server;
    connected_pair(f, &f->guest_b, h, 5091, &other_client, &other_server);
    ASSERT_RETURNS(set_int(h, other_server, SOL_SOCKET, SO_RCVLOWAT, 10), 0);
    ASSERT_RETURNS(vs_send(&f->guest_b, other_client, "abc", 3, 0), 3);
    run_idle(f);
    ASSERT_U64_EQ(poll_every(h, other_server), POLLOUT | POLLWRNORM);
    ASSERT_RETURNS(vs_shutdown(&f->guest_b, other_client, SHUT_WR), 0);
    run_idle(f);
    ASSERT_U64_EQ(poll_every(h, other_server), POLLIN | POLLRDNORM | POLLRDHUP | POLLOUT |
                                                   POLLWRNORM);
    ASSERT_RETURNS(vs_shutdown(h, server_fd, SHUT_RD), 0);
    ASSERT_RETURNS(vs_recv(h, server_fd, (char[16]){ 0 }, 16, 0), 0);   /* R119 */
    ASSERT_U64_EQ(poll_every(h, server_fd), POLLIN | POLLRDNORM | POLLRDHUP | POLLOUT |
                                                POLLWRNORM);
    fixture_destroy(f);
}

/* R135, R113: a non-blocking connect's socket in TCP_SYN_SENT reports no bit at all;
 * when the RST for a port without listener arrives it reports ERR|OUT|WRNORM in
 * TCP_CLOSE; SO_ERROR reads ECONNRESET once and the mask drops ERR. */
static void test_R135_syn_sent_is_silent_then_reset_gives_err_and_out(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    int fd = vs_socket(g, AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK, 0);
    CU_ASSERT_FATAL(fd >= VS_FD_FIRST);
    struct sockaddr_vm nobody = vm_addr(CID_HOST, 5100);
    ASSERT_FAILS(vs_connect(g, fd, SA(nobody), sizeof(nobody)), EINPROGRESS);
    ASSERT_U64_EQ(vs_socket_of(g, fd)->tcp, VSOCK_TCP_SYN_SENT);
    ASSERT_U64_EQ(poll_every(g, fd), 0);
    run_idle(f);
    ASSERT_U64_EQ(vs_socket_of(g, fd)->tcp, VSOCK_TCP_CLOSE);
    ASSERT_U64_EQ(poll_every(g, fd), POLLERR | POLLOUT | POLLWRNORM);
    ASSERT_U64_EQ(get_int(g, fd, SOL_SOCKET, SO_ERROR), ECONNRESET);
    ASSERT_U64_EQ(poll_every(g, fd), POLLOUT | POLLWRNORM);
    listener(&f->host, 5101, 4);
    int ok = vs_socket(g, AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_vm server = vm_addr(CID_HOST, 5101);
    ASSERT_FAILS(vs_connect(g, ok, SA(server), sizeof(server)), EINPROGRESS);
    ASSERT_U64_EQ(poll_every(g, ok), 0);
    run_idle(f);
    ASSERT_U64_EQ(poll_every(g, ok), POLLOUT | POLLWRNORM);               /* R133: no WRBAND */
    fixture_destroy(f);
}

/* ---- 6.9 Socket options ------------------------------------------------------------------ */

/* R136: on a datagram socket every level-40 getsockopt fails with EOPNOTSUPP (known
 * numbers, unknown ones, whatever the buffer size), as do other non-socket levels;
 * SOL_SOCKET options still work. On a stream socket a get at level 41 is ENOPROTOOPT. */
static void test_R136_dgram_level_40_get_is_eopnotsupp(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    int dgram = dgram_socket(g);
    static const int optnames[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 99 };
    for (size_t index = 0; index < sizeof(optnames) / sizeof(optnames[0]); index++) {
        uint8_t value[16];
        socklen_t length = sizeof(value);
        ASSERT_FAILS(vs_getsockopt(g, dgram, AF_VSOCK, optnames[index], value, &length),
                     EOPNOTSUPP);
        length = 1;
        ASSERT_FAILS(vs_getsockopt(g, dgram, AF_VSOCK, optnames[index], value, &length),
                     EOPNOTSUPP);
    }
    uint64_t value = 4096;
    socklen_t length = sizeof(value);
    ASSERT_FAILS(vs_getsockopt(g, dgram, 41, SO_VMCI_BUFFER_SIZE, &value, &length), EOPNOTSUPP);
    ASSERT_FAILS(vs_setsockopt(g, dgram, 41, SO_VMCI_BUFFER_SIZE, &value, sizeof(value)),
                 EOPNOTSUPP);
    ASSERT_RETURNS(set_int(g, dgram, SOL_SOCKET, SO_RCVLOWAT, 7), 0);
    ASSERT_U64_EQ(get_int(g, dgram, SOL_SOCKET, SO_RCVLOWAT), 7);
    int stream = stream_socket(g);
    length = sizeof(value);
    ASSERT_FAILS(vs_getsockopt(g, stream, 41, SO_VMCI_BUFFER_SIZE, &value, &length),
                 ENOPROTOOPT);
    ASSERT_U64_EQ(get_u64(g, stream, SO_VMCI_BUFFER_SIZE), QUEUE_BYTES);
    fixture_destroy(f);
}

/* R138: BUFFER_SIZE below the minimum is raised to it (1, 127 -> 128; 129 stays); a new
 * MIN or MAX is stored as given and re-clamps buffer_size, max first then min, also
 * when the range is inverted (min 4096 > max 2048 keeps 4096). No error anywhere. */
static void test_R138_buffer_size_clamps_to_min_and_reclamps_after_bounds(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    int fd = stream_socket(g);
    ASSERT_RETURNS(set_u64(g, fd, SO_VMCI_BUFFER_SIZE, 1), 0);
    ASSERT_U64_EQ(get_u64(g, fd, SO_VMCI_BUFFER_SIZE), VSOCK_BUFFER_MIN_DEFAULT);
    ASSERT_RETURNS(set_u64(g, fd, SO_VMCI_BUFFER_SIZE, 127), 0);
    ASSERT_U64_EQ(get_u64(g, fd, SO_VMCI_BUFFER_SIZE), 128);
    ASSERT_RETURNS(set_u64(g, fd, SO_VMCI_BUFFER_SIZE, 129), 0);
    ASSERT_U64_EQ(get_u64(g, fd, SO_VMCI_BUFFER_SIZE), 129);
    ASSERT_RETURNS(set_u64(g, fd, SO_VMCI_BUFFER_MIN_SIZE, 4096), 0);   /* raises the size */
    ASSERT_U64_EQ(get_u64(g, fd, SO_VMCI_BUFFER_MIN_SIZE), 4096);
    ASSERT_U64_EQ(get_u64(g, fd, SO_VMCI_BUFFER_SIZE), 4096);
    ASSERT_RETURNS(set_u64(g, fd, SO_VMCI_BUFFER_MAX_SIZE, 2048), 0);   /* inverted range */
    ASSERT_U64_EQ(get_u64(g, fd, SO_VMCI_BUFFER_MAX_SIZE), 2048);
    ASSERT_U64_EQ(get_u64(g, fd, SO_VMCI_BUFFER_MIN_SIZE), 4096);
    ASSERT_U64_EQ(get_u64(g, fd, SO_VMCI_BUFFER_SIZE), 4096);          /* 2048, then 4096 */
    ASSERT_RETURNS(set_u64(g, fd, SO_VMCI_BUFFER_SIZE, 3000), 0);
    ASSERT_U64_EQ(get_u64(g, fd, SO_VMCI_BUFFER_SIZE), 4096);
    ASSERT_RETURNS(set_u64(g, fd, SO_VMCI_BUFFER_MIN_SIZE, 1024), 0);   /* lowers: to max */
    ASSERT_U64_EQ(get_u64(g, fd, SO_VMCI_BUFFER_SIZE), 2048);
    ASSERT_RETURNS(set_u64(g, fd, SO_VMCI_BUFFER_MAX_SIZE, 0), 0);
    ASSERT_U64_EQ(get_u64(g, fd, SO_VMCI_BUFFER_SIZE), 1024);          /* 0, then 1024 */
    ASSERT_RETURNS(set_u64(g, fd, SO_VMCI_BUFFER_MAX_SIZE, UINT64_MAX), 0);
    ASSERT_RETURNS(set_u64(g, fd, SO_VMCI_BUFFER_SIZE, UINT64_MAX), 0);
    ASSERT_U64_EQ(get_u64(g, fd, SO_VMCI_BUFFER_SIZE), UINT64_MAX);
    fixture_destroy(f);
}

/* R139 (R122, R163): BUFFER_SIZE set on an established socket is stored and read back
 * but the queue keeps its negotiated 65536 bytes (65535 buffered); set before connect on
 * another client, the same value gives a 4096-byte queue (4095 buffered). */
static void test_R139_buffer_size_after_connect_is_stored_not_applied(void)
{
    struct fixture *f = fixture_create();
    static uint8_t bytes[QUEUE_BYTES];
    int client_fd, server_fd;
    int listen_fd = connected_pair(f, &f->guest_a, &f->host, 5110, &client_fd, &server_fd);
    ASSERT_RETURNS(set_u64(&f->guest_a, client_fd, SO_VMCI_BUFFER_SIZE, 4096), 0);
    ASSERT_U64_EQ(get_u64(&f->guest_a, client_fd, SO_VMCI_BUFFER_SIZE), 4096);
    ASSERT_RETURNS(vs_send(&f->guest_a, client_fd, bytes, sizeof(bytes), 0), QUEUE_BYTES - 1);
    int small = stream_socket(&f->guest_b);
    ASSERT_RETURNS(set_u64(&f->guest_b, small, SO_VMCI_BUFFER_SIZE, 4096), 0);
    CU_ASSERT_EQUAL(plain_connect(f, &f->guest_b, small, CID_HOST, 5110), 0);
    CU_ASSERT(vs_accept(&f->host, listen_fd, NULL, NULL) >= VS_FD_FIRST);
    ASSERT_RETURNS(vs_send(&f->guest_b, small, bytes, sizeof(bytes), 0), 4096 - 1);
    fixture_destroy(f);
}

/* R140: ERANGE for a negative tv_usec (both option forms), a negative tv_sec, and a
 * tv_sec beyond the simulator's timer (VSOCK_CONNECT_TIMEOUT_NS_MAX): its largest
 * whole second is accepted and read back, one more is refused; a refused value leaves
 * the stored one unchanged; 1 us rounds up to one 1 ms tick. */
static void test_R140_connect_timeout_range_edges(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    int fd = stream_socket(g);
    ASSERT_RETURNS(set_connect_timeout(g, fd, 4, 0), 0);
    ASSERT_FAILS(set_connect_timeout(g, fd, 1, -1), ERANGE);
    ASSERT_FAILS(set_connect_timeout_new(g, fd, 1, -1), ERANGE);
    ASSERT_FAILS(set_connect_timeout_new(g, fd, -1, 0), ERANGE);
    ASSERT_FAILS(set_connect_timeout_new(g, fd, 0, 1000000), ERANGE);
    ASSERT_FAILS(set_connect_timeout_new(g, fd, INT64_MAX, 0), ERANGE);
    const int64_t max_seconds = (int64_t)(VSOCK_CONNECT_TIMEOUT_NS_MAX / NS_PER_SECOND);
    ASSERT_FAILS(set_connect_timeout_new(g, fd, max_seconds + 1, 0), ERANGE);
    ASSERT_FAILS(set_connect_timeout(g, fd, max_seconds + 1, 0), ERANGE);
    ASSERT_U64_EQ(connect_timeout_of(g, fd).tv_sec, 4);                 /* unchanged */
    ASSERT_U64_EQ(connect_timeout_of(g, fd).tv_usec, 0);
    ASSERT_RETURNS(set_connect_timeout_new(g, fd, max_seconds, 0), 0);
    ASSERT_U64_EQ(connect_timeout_of(g, fd).tv_sec, max_seconds);
    ASSERT_RETURNS(set_connect_timeout(g, fd, 0, 1), 0);
    ASSERT_U64_EQ(vs_socket_of(g, fd)->connect_timeout_ns, NS_PER_MILLISECOND);
    ASSERT_U64_EQ(connect_timeout_of(g, fd).tv_usec, 1000);
    ASSERT_RETURNS(set_connect_timeout(g, fd, 0, 999999), 0);
    ASSERT_U64_EQ(vs_socket_of(g, fd)->connect_timeout_ns, NS_PER_SECOND);
    fixture_destroy(f);
}

struct default_timeout_client {
    uint32_t port;
    int set_rc[2];
    struct vs_timeval64 read_back;
    int rc;
    int error;
    uint64_t elapsed_ns;
};

static void default_timeout_client_body(struct vs_context *context, void *arg)
{
    struct default_timeout_client *client = arg;
    int fd = vs_socket(context, AF_VSOCK, SOCK_STREAM, 0);
    client->set_rc[0] = set_connect_timeout(context, fd, 5, 0);
    client->set_rc[1] = set_connect_timeout_new(context, fd, 0, 0);
    socklen_t length = sizeof(client->read_back);
    (void)vs_getsockopt(context, fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT_NEW,
                        &client->read_back, &length);
    struct sockaddr_vm host = vm_addr(CID_HOST, client->port);
    uint64_t started_ns = sim_engine_now(context->engine);
    errno = 0;
    client->rc = vs_connect(context, fd, SA(host), sizeof(host));
    client->error = errno;
    client->elapsed_ns = sim_engine_now(context->engine) - started_ns;
}

/* R140, R114: a connect timeout of exactly 0 restores the default: after 5 s then 0,
 * the option reads {2, 0} and a connect whose NEGOTIATE never arrives (guest interrupts
 * masked) fails with ETIMEDOUT exactly 2 s after it began. */
static void test_R140_zero_connect_timeout_restores_2s(void)
{
    struct fixture *f = fixture_create();
    listener(&f->host, 5120, 4);
    mask_guest_interrupts(f, CID_A);
    struct default_timeout_client client = { .port = 5120, .set_rc = { 1, 1 }, .rc = 1 };
    CU_ASSERT_EQUAL(vs_spawn(&f->guest_a, "client", default_timeout_client_body, &client,
                             false), 0);
    run_idle(f);
    ASSERT_U64_EQ(client.set_rc[0], 0);
    ASSERT_U64_EQ(client.set_rc[1], 0);
    ASSERT_U64_EQ(client.read_back.tv_sec, 2);
    ASSERT_U64_EQ(client.read_back.tv_usec, 0);
    ASSERT_U64_EQ(client.rc, (uint64_t)-1);
    ASSERT_U64_EQ(client.error, ETIMEDOUT);
    ASSERT_U64_EQ(client.elapsed_ns, CONNECT_TIMEOUT_NS);
    fixture_destroy(f);
}

/* A host process that is not trusted (D1's `trusted = false`). */
static void untrusted_host_context_init(struct fixture *f, struct vs_context *context)
{
    struct vs_kernel *host = vs_world_kernel(f->world, CID_HOST);
    CU_ASSERT_PTR_NOT_NULL_FATAL(host);
    struct vsock_credentials credentials = vs_world_credentials(f->world, host);
    credentials.trusted = false;
    credentials.owner_rule = false;
    vs_context_init(context, f->world->engine, &host->stack, &credentials);
}

/* R141 (R50, R102, R137): TRUSTED reads 0 for an untrusted host process and a guest's
 * accepted socket, 1 for a trusted host process's accepted socket (copied from its
 * listener); setting it is ENOPROTOOPT whatever the value; a 2-byte buffer is EINVAL
 * and an 8-byte one is cut to the int's 4 bytes. */
static void test_R141_trusted_is_read_only_and_follows_the_process(void)
{
    struct fixture *f = fixture_create();
    struct vs_context untrusted;
    untrusted_host_context_init(f, &untrusted);
    int plain = stream_socket(&untrusted);
    ASSERT_U64_EQ(get_int(&untrusted, plain, AF_VSOCK, SO_VM_SOCKETS_TRUSTED), 0);
    int client_fd, server_fd;
    connected_pair(f, &f->guest_a, &f->host, 5130, &client_fd, &server_fd);
    ASSERT_U64_EQ(get_int(&f->host, server_fd, AF_VSOCK, SO_VM_SOCKETS_TRUSTED), 1);
    int host_client, guest_server;
    connected_pair(f, &f->host, &f->guest_b, 5131, &host_client, &guest_server);
    ASSERT_U64_EQ(get_int(&f->guest_b, guest_server, AF_VSOCK, SO_VM_SOCKETS_TRUSTED), 0);
    ASSERT_FAILS(set_int(&f->host, server_fd, AF_VSOCK, SO_VM_SOCKETS_TRUSTED, 1), ENOPROTOOPT);
    ASSERT_FAILS(set_int(&f->guest_b, guest_server, AF_VSOCK, SO_VM_SOCKETS_TRUSTED, 0),
                 ENOPROTOOPT);
    uint8_t bytes[8];
    memset(bytes, 0xAA, sizeof(bytes));
    socklen_t length = 2;
    ASSERT_FAILS(vs_getsockopt(&f->host, server_fd, AF_VSOCK, SO_VM_SOCKETS_TRUSTED, bytes,
                               &length), EINVAL);
    length = sizeof(bytes);
    ASSERT_RETURNS(vs_getsockopt(&f->host, server_fd, AF_VSOCK, SO_VM_SOCKETS_TRUSTED, bytes,
                                 &length), 0);
    ASSERT_U64_EQ(length, sizeof(int));
    ASSERT_U64_EQ(bytes[sizeof(int)], 0xAA);
    vs_context_destroy(&untrusted);
    fixture_destroy(f);
}

/* R142: PEER_HOST_VM_ID is the VM's id (default: the low 31 bits of its CID) on the host
 * side of a connection with a VM, whoever connected; ENOPROTOOPT on the guest side and
 * for a host-local connection (D9: the peer is no VM); ENOTCONN when not connected
 * (fresh, listening, after shutdown); setting it is ENOPROTOOPT. */
static void test_R142_peer_host_vm_id_only_on_the_host_side_of_vm_connections(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *h = &f->host;
    const int option = SO_VM_SOCKETS_PEER_HOST_VM_ID;
    int client_fd, server_fd;
    int listen_fd = connected_pair(f, &f->guest_a, h, 5140, &client_fd, &server_fd);
    ASSERT_U64_EQ(get_int(h, server_fd, AF_VSOCK, option), CID_A & 0x7FFFFFFFu);
    ASSERT_U64_EQ(get_int(&f->guest_a, client_fd, AF_VSOCK, option), -1000 - ENOPROTOOPT);
    ASSERT_U64_EQ(get_int(h, listen_fd, AF_VSOCK, option), -1000 - ENOTCONN);
    ASSERT_U64_EQ(get_int(h, stream_socket(h), AF_VSOCK, option), -1000 - ENOTCONN);
    int host_client, guest_server;
    connected_pair(f, h, &f->guest_b, 5141, &host_client, &guest_server);
    ASSERT_U64_EQ(get_int(h, host_client, AF_VSOCK, option), CID_B & 0x7FFFFFFFu);
    ASSERT_U64_EQ(get_int(&f->guest_b, guest_server, AF_VSOCK, option), -1000 - ENOPROTOOPT);
    int local_client, local_server;
    connected_pair(f, h, h, 5142, &local_client, &local_server);
    ASSERT_U64_EQ(get_int(h, local_server, AF_VSOCK, option), -1000 - ENOPROTOOPT);
    ASSERT_FAILS(set_int(h, server_fd, AF_VSOCK, option, 7), ENOPROTOOPT);
    ASSERT_RETURNS(vs_shutdown(h, server_fd, SHUT_WR), 0);
    ASSERT_U64_EQ(get_int(h, server_fd, AF_VSOCK, option), -1000 - ENOTCONN);
    fixture_destroy(f);
}

/* R143: SO_VM_SOCKETS_NONBLOCK_TXRX (7) is for the kernel: a user process's set and get
 * both fail with ENOPROTOOPT, before any length check (Linux returns from its option
 * switch first), on fresh and connected sockets; the socket stays blocking. */
static void test_R143_nonblock_txrx_is_enoprotoopt(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    int fresh = stream_socket(g);
    int client_fd, server_fd;
    connected_pair(f, g, &f->host, 5150, &client_fd, &server_fd);
    const int fds[2] = { fresh, client_fd };
    for (int index = 0; index < 2; index++) {
        int fd = fds[index];
        int on = 1;
        ASSERT_FAILS(vs_setsockopt(g, fd, AF_VSOCK, SO_VM_SOCKETS_NONBLOCK_TXRX, &on,
                                   sizeof(on)), ENOPROTOOPT);
        ASSERT_FAILS(vs_setsockopt(g, fd, AF_VSOCK, SO_VM_SOCKETS_NONBLOCK_TXRX, &on, 0),
                     ENOPROTOOPT);
        ASSERT_U64_EQ(get_int(g, fd, AF_VSOCK, SO_VM_SOCKETS_NONBLOCK_TXRX), -1000 - ENOPROTOOPT);
        uint8_t byte = 0;
        socklen_t length = 1;
        ASSERT_FAILS(vs_getsockopt(g, fd, AF_VSOCK, SO_VM_SOCKETS_NONBLOCK_TXRX, &byte,
                                   &length), ENOPROTOOPT);
        CU_ASSERT_FALSE(vs_socket_of(g, fd)->nonblocking);
    }
    fixture_destroy(f);
}

/* R144: option numbers without a meaning at level 40 (4 between TRUSTED's neighbours,
 * 9 just past the table, 99, -1) fail with ENOPROTOOPT for set and get, whatever the
 * length, and change nothing. */
static void test_R144_unassigned_option_numbers_are_enoprotoopt(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    int fd = stream_socket(g);
    static const int optnames[] = { 4, 9, 99, -1 };
    for (size_t index = 0; index < sizeof(optnames) / sizeof(optnames[0]); index++) {
        uint64_t value = 4096;
        ASSERT_FAILS(set_u64(g, fd, optnames[index], value), ENOPROTOOPT);
        ASSERT_FAILS(vs_setsockopt(g, fd, AF_VSOCK, optnames[index], &value, 1), ENOPROTOOPT);
        socklen_t length = sizeof(value);
        ASSERT_FAILS(vs_getsockopt(g, fd, AF_VSOCK, optnames[index], &value, &length),
                     ENOPROTOOPT);
        length = 1;
        ASSERT_FAILS(vs_getsockopt(g, fd, AF_VSOCK, optnames[index], &value, &length),
                     ENOPROTOOPT);
    }
    ASSERT_U64_EQ(get_u64(g, fd, SO_VMCI_BUFFER_SIZE), QUEUE_BYTES);
    fixture_destroy(f);
}

/* R145 (R120): on a stream socket SO_RCVLOWAT above buffer_size is EINVAL (65537 with the
 * default 65536, 4097 after BUFFER_SIZE 4096; a negative int counts as INT_MAX), equal
 * is accepted, 0 is stored as 1; a datagram socket has no such bound. A target of a
 * whole queue (65536) makes recv fail with ENOMEM. */
static void test_R145_rcvlowat_bounded_by_buffer_size_and_zero_stored_as_one(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    int fd = stream_socket(g);
    ASSERT_U64_EQ(get_int(g, fd, SOL_SOCKET, SO_RCVLOWAT), 1);
    ASSERT_FAILS(set_int(g, fd, SOL_SOCKET, SO_RCVLOWAT, QUEUE_BYTES + 1), EINVAL);
    ASSERT_FAILS(set_int(g, fd, SOL_SOCKET, SO_RCVLOWAT, -5), EINVAL);
    ASSERT_RETURNS(set_int(g, fd, SOL_SOCKET, SO_RCVLOWAT, QUEUE_BYTES), 0);
    ASSERT_U64_EQ(get_int(g, fd, SOL_SOCKET, SO_RCVLOWAT), QUEUE_BYTES);
    ASSERT_RETURNS(set_int(g, fd, SOL_SOCKET, SO_RCVLOWAT, 0), 0);
    ASSERT_U64_EQ(get_int(g, fd, SOL_SOCKET, SO_RCVLOWAT), 1);
    ASSERT_RETURNS(set_u64(g, fd, SO_VMCI_BUFFER_SIZE, 4096), 0);
    ASSERT_FAILS(set_int(g, fd, SOL_SOCKET, SO_RCVLOWAT, 4097), EINVAL);
    ASSERT_U64_EQ(get_int(g, fd, SOL_SOCKET, SO_RCVLOWAT), 1);
    ASSERT_RETURNS(set_int(g, fd, SOL_SOCKET, SO_RCVLOWAT, 4096), 0);
    int dgram = dgram_socket(g);
    ASSERT_RETURNS(set_int(g, dgram, SOL_SOCKET, SO_RCVLOWAT, 1000000), 0);
    ASSERT_U64_EQ(get_int(g, dgram, SOL_SOCKET, SO_RCVLOWAT), 1000000);
    int client_fd, server_fd;
    connected_pair(f, g, &f->host, 5160, &client_fd, &server_fd);
    static uint8_t buffer[QUEUE_BYTES];
    ASSERT_RETURNS(set_int(g, client_fd, SOL_SOCKET, SO_RCVLOWAT, QUEUE_BYTES), 0);
    ASSERT_FAILS(vs_recv(g, client_fd, buffer, sizeof(buffer), 0), ENOMEM);
    ASSERT_FAILS(vs_recv(g, client_fd, buffer, QUEUE_BYTES - 1, 0), EAGAIN);
    fixture_destroy(f);
}

struct timed_reader {
    int fd;
    int rcvlowat;                       /* 0: leave SO_RCVLOWAT alone */
    uint64_t rcvtimeo_ns;               /* 0: no SO_RCVTIMEO */
    ssize_t rc;
    int error;
    uint8_t bytes[64];
    uint64_t elapsed_ns;
    uint64_t cost_ns;
};

static void timed_reader_body(struct vs_context *context, void *arg)
{
    struct timed_reader *reader = arg;
    if (reader->rcvlowat > 0 &&
        set_int(context, reader->fd, SOL_SOCKET, SO_RCVLOWAT, reader->rcvlowat) != 0)
        return;
    struct timeval timeout = { .tv_sec = (time_t)(reader->rcvtimeo_ns / NS_PER_SECOND),
                               .tv_usec = (suseconds_t)(reader->rcvtimeo_ns % NS_PER_SECOND
                                                        / 1000) };
    if (reader->rcvtimeo_ns > 0 && vs_setsockopt(context, reader->fd, SOL_SOCKET, SO_RCVTIMEO,
                                                 &timeout, sizeof(timeout)) != 0)
        return;
    uint64_t started_ns = sim_engine_now(context->engine);
    uint64_t cost_ns = context->cost_ns_charged;
    errno = 0;
    reader->rc = vs_recv(context, reader->fd, reader->bytes, sizeof(reader->bytes), 0);
    reader->error = errno;
    reader->elapsed_ns = sim_engine_now(context->engine) - started_ns;
    reader->cost_ns = context->cost_ns_charged - cost_ns;
}

/* R145, R121: SO_RCVLOWAT 10 is a blocking recv's target: with 4 bytes queued it keeps
 * waiting, and returns all 10 once 6 more arrive (without it, 4 would have been
 * returned: the second reader shows that with the default target 1). */
static void test_R145_rcvlowat_is_the_blocking_recv_target(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    int client_fd, server_fd;
    connected_pair(f, g, &f->host, 5170, &client_fd, &server_fd);
    struct timed_reader reader = { .fd = server_fd, .rcvlowat = 10, .rc = 1 };
    CU_ASSERT_EQUAL(vs_spawn(&f->host, "reader", timed_reader_body, &reader, false), 0);
    ASSERT_RETURNS(vs_send(g, client_fd, "abcd", 4, 0), 4);
    ASSERT_U64_EQ(vs_world_run(f->world, SIM_TIME_NEVER), SIM_STOP_DEADLOCK);
    ASSERT_U64_EQ(reader.rc, 1);                                        /* still waiting */
    ASSERT_RETURNS(vs_send(g, client_fd, "efghij", 6, 0), 6);
    run_idle(f);
    ASSERT_U64_EQ(reader.rc, 10);
    CU_ASSERT_NSTRING_EQUAL(reader.bytes, "abcdefghij", 10);
    struct timed_reader eager = { .fd = server_fd, .rcvlowat = 1, .rc = 1 };
    ASSERT_RETURNS(vs_send(g, client_fd, "klmn", 4, 0), 4);
    CU_ASSERT_EQUAL(vs_spawn(&f->host, "eager", timed_reader_body, &eager, false), 0);
    run_idle(f);
    ASSERT_U64_EQ(eager.rc, 4);
    fixture_destroy(f);
}

/* R146, R121: SO_RCVTIMEO bounds a blocking stream recv: with nothing queued it fails
 * with EAGAIN exactly 250 ms (plus the call's own cost) after it began; with 3 of a
 * 10-byte SO_RCVLOWAT target queued it returns those 3 bytes at the same moment. */
static void test_R146_rcvtimeo_bounds_a_blocking_stream_recv(void)
{
    struct fixture *f = fixture_create();
    int client_fd, server_fd;
    connected_pair(f, &f->guest_a, &f->host, 5180, &client_fd, &server_fd);
    struct timed_reader idle = { .fd = server_fd, .rcvtimeo_ns = RCVTIMEO_NS, .rc = 1 };
    CU_ASSERT_EQUAL(vs_spawn(&f->host, "idle", timed_reader_body, &idle, false), 0);
    run_idle(f);
    ASSERT_U64_EQ(idle.rc, (uint64_t)-1);
    ASSERT_U64_EQ(idle.error, EAGAIN);
    ASSERT_U64_EQ(idle.elapsed_ns, RCVTIMEO_NS + idle.cost_ns);
    ASSERT_RETURNS(vs_send(&f->guest_a, client_fd, "xyz", 3, 0), 3);
    run_idle(f);
    struct timed_reader partial = { .fd = server_fd, .rcvlowat = 10, .rcvtimeo_ns = RCVTIMEO_NS,
                                    .rc = 1 };
    CU_ASSERT_EQUAL(vs_spawn(&f->host, "partial", timed_reader_body, &partial, false), 0);
    run_idle(f);
    ASSERT_U64_EQ(partial.rc, 3);
    CU_ASSERT_NSTRING_EQUAL(partial.bytes, "xyz", 3);
    ASSERT_U64_EQ(partial.elapsed_ns, RCVTIMEO_NS + partial.cost_ns);
    fixture_destroy(f);
}

/* Sets SO_SNDBUF, SO_RCVBUF, SO_LINGER, SO_REUSEADDR and other generic options (any
 * process may set them on Linux) on `fd`; each must return 0. */
static void set_generic_options(struct vs_context *context, int fd)
{
    ASSERT_RETURNS(set_int(context, fd, SOL_SOCKET, SO_SNDBUF, 1), 0);
    ASSERT_RETURNS(set_int(context, fd, SOL_SOCKET, SO_RCVBUF, 1), 0);
    ASSERT_RETURNS(set_int(context, fd, SOL_SOCKET, SO_REUSEADDR, 1), 0);
    ASSERT_RETURNS(set_int(context, fd, SOL_SOCKET, SO_DONTROUTE, 1), 0);
    ASSERT_RETURNS(set_int(context, fd, SOL_SOCKET, SO_BROADCAST, 1), 0);
    ASSERT_RETURNS(set_int(context, fd, SOL_SOCKET, SO_OOBINLINE, 1), 0);
    ASSERT_RETURNS(set_int(context, fd, SOL_SOCKET, SO_PRIORITY, 6), 0);
    struct linger linger = { .l_onoff = 1, .l_linger = 0 };
    ASSERT_RETURNS(vs_setsockopt(context, fd, SOL_SOCKET, SO_LINGER, &linger, sizeof(linger)),
                   0);
}

/* R146: SO_SNDBUF and SO_RCVBUF of 1 byte, SO_LINGER, SO_REUSEADDR and other generic
 * options are accepted on both ends of a stream and change nothing: buffer_size stays
 * 65536, each direction still buffers 65535 bytes (R122), and SO_REUSEADDR does not let
 * a second socket bind a port in use (EADDRINUSE, R16). */
static void test_R146_generic_options_change_nothing_on_streams(void)
{
    struct fixture *f = fixture_create();
    struct vs_context *g = &f->guest_a;
    struct vs_context *h = &f->host;
    static uint8_t bytes[QUEUE_BYTES];
    int listen_fd = stream_socket(h);
    set_generic_options(h, listen_fd);
    struct sockaddr_vm addr = vm_addr(VMADDR_CID_ANY, 5190);
    ASSERT_RETURNS(vs_bind(h, listen_fd, SA(addr), sizeof(addr)), 0);
    ASSERT_RETURNS(vs_listen(h, listen_fd, 4), 0);
    int client = stream_socket(g);
    set_generic_options(g, client);
    ASSERT_U64_EQ(get_u64(g, client, SO_VMCI_BUFFER_SIZE), QUEUE_BYTES);
    CU_ASSERT_EQUAL(plain_connect(f, g, client, CID_HOST, 5190), 0);
    int server = vs_accept(h, listen_fd, NULL, NULL);
    CU_ASSERT_FATAL(server >= VS_FD_FIRST);
    ASSERT_RETURNS(vs_send(g, client, bytes, sizeof(bytes), 0), QUEUE_BYTES - 1);
    ASSERT_RETURNS(vs_send(h, server, bytes, sizeof(bytes), 0), QUEUE_BYTES - 1);
    run_idle(f);
    ASSERT_RETURNS(vs_recv(h, server, bytes, sizeof(bytes), 0), QUEUE_BYTES - 1);
    int second = stream_socket(h);
    ASSERT_RETURNS(set_int(h, second, SOL_SOCKET, SO_REUSEADDR, 1), 0);
    ASSERT_FAILS(vs_bind(h, second, SA(addr), sizeof(addr)), EADDRINUSE);
    fixture_destroy(f);
}

CU_ErrorCode vsock_options_rules_suite_add(void)
{
    static const struct test_entry tests[] = {
        TEST_ENTRY(test_R124_unconnected_dgram_shutdown_applies_bits_then_enotconn),
        TEST_ENTRY(test_R124_unconnected_dgram_shutdown_wakes_a_blocked_reader),
        TEST_ENTRY(test_R124_R125_connected_dgram_shutdown_disconnects_silently),
        TEST_ENTRY(test_R124_R174_stream_shutdown_sends_one_packet_with_the_mask),
        TEST_ENTRY(test_R125_shutdown_rd_on_accepted_socket_ends_peer_name_and_connect),
        TEST_ENTRY(test_R126_close_with_so_linger_is_immediate_and_silent),
        TEST_ENTRY(test_R127_closed_guest_dgram_port_drops_datagrams),
        TEST_ENTRY(test_R129_R133_reset_socket_keeps_peer_name_and_polls_writable),
        TEST_ENTRY(test_R130_pollerr_from_a_corrupt_queue_pair_header),
        TEST_ENTRY(test_R130_R134_dgram_poll_bits_individually),
        TEST_ENTRY(test_R132_pollin_waits_for_rcvlowat_bytes_or_a_shutdown),
        TEST_ENTRY(test_R135_syn_sent_is_silent_then_reset_gives_err_and_out),
        TEST_ENTRY(test_R136_dgram_level_40_get_is_eopnotsupp),
        TEST_ENTRY(test_R138_buffer_size_clamps_to_min_and_reclamps_after_bounds),
        TEST_ENTRY(test_R139_buffer_size_after_connect_is_stored_not_applied),
        TEST_ENTRY(test_R140_connect_timeout_range_edges),
        TEST_ENTRY(test_R140_zero_connect_timeout_restores_2s),
        TEST_ENTRY(test_R141_trusted_is_read_only_and_follows_the_process),
        TEST_ENTRY(test_R142_peer_host_vm_id_only_on_the_host_side_of_vm_connections),
        TEST_ENTRY(test_R143_nonblock_txrx_is_enoprotoopt),
        TEST_ENTRY(test_R144_unassigned_option_numbers_are_enoprotoopt),
        TEST_ENTRY(test_R145_rcvlowat_bounded_by_buffer_size_and_zero_stored_as_one),
        TEST_ENTRY(test_R145_rcvlowat_is_the_blocking_recv_target),
        TEST_ENTRY(test_R146_rcvtimeo_bounds_a_blocking_stream_recv),
        TEST_ENTRY(test_R146_generic_options_change_nothing_on_streams),
    };
    return test_suite_register("vsock_options_rules", tests, sizeof(tests) / sizeof(tests[0]));
}
