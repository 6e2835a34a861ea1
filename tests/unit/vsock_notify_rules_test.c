/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/vsock_notify_rules_test.c: CUnit tests for the reference's sections 7.4 and 7.5
 * (established connections and the two notification protocols), rules R169-R184. Each test
 * is named after its rules and asserts the exact errno, state or packet sequence (D3) on the
 * shared stream world of vsock_fixture.h: guest A (CID 100) is the client, the host (CID 2)
 * the server, unless a test says otherwise.
 *
 * Out-of-place packets are hand-made by guest A's kernel (fixture_inject_packet) and carry
 * the ports of a live connection, so the host stack takes them for the peer's. The
 * packet-based protocol (R180-R183) is chosen by making guest A's stack speak protocol v1
 * (struct vsock_vmci.force_v1), as `guest:vsock{ protocol = 1 }` does for scenarios.
 * Where the reference and the Linux sources it cites disagree, the test follows Linux (the
 * tiebreaker) and its comment says so.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "suites.h"
#include "test_support.h"
#include "vsock_fixture.h"
#include "vsock_test_support.h"

#define JOB_PENDING 7777                /* a fiber's call has not returned yet */
#define QUEUE_USABLE_BYTES (QUEUE_BYTES - 1u)   /* one ring byte stays free (R83) */
#define WINDOW_STEP_BYTES 4096u         /* PAGE in 7.5 (R178) */
#define EVENTS_MAX 4096u
#define SEQUENCE_BYTES_MAX 1024u

/* ---- What the transports and processes did, beyond the fixture's packet_log ------------ */

/* Received control packets and blocks of processes on a socket's wait queue: a wake-up
 * of a process that still cannot proceed shows as one more block (R169, R179). */
struct event_log {
    uint32_t count;
    struct {
        uint64_t time_ns;
        uint32_t ctx;
        uint32_t pid;
        bool block;                     /* proc_block on a socket; else pkt_recv */
        char type[16];
    } events[EVENTS_MAX];
};

static int event_log_emit(void *state, const struct sim_trace_event *event, char *message)
{
    (void)message;
    struct event_log *log = state;
    bool block = strcmp(event->kind, "proc_block") == 0;
    if ((!block && strcmp(event->kind, "pkt_recv") != 0) || log->count >= EVENTS_MAX)
        return 0;
    char text[16] = "";
    for (uint32_t index = 0; index < event->field_count; index++) {
        const struct sim_trace_field *field = &event->fields[index];
        if (strcmp(field->name, block ? "waits_on" : "type") != 0)
            continue;
        uint32_t size = field->value.blob.size_bytes < sizeof(text) - 1
                            ? field->value.blob.size_bytes : (uint32_t)sizeof(text) - 1;
        memcpy(text, field->value.blob.data, size);
    }
    if (block && strcmp(text, "socket:stream") != 0)
        return 0;
    log->events[log->count].time_ns = event->time_ns;
    log->events[log->count].ctx = event->ctx;
    log->events[log->count].pid = event->pid;
    log->events[log->count].block = block;
    memcpy(log->events[log->count].type, text, sizeof(text));
    log->count++;
    return 0;
}

/* Times process `pid` blocked on a socket's wait queue. */
static uint32_t blocks_of(const struct event_log *log, uint32_t pid)
{
    uint32_t count = 0;
    for (uint32_t index = 0; index < log->count; index++)
        count += log->events[index].block && log->events[index].pid == pid;
    return count;
}

/* The world, its two logs and (optionally) guest A speaking protocol v1. */
struct notify_world {
    struct fixture *f;
    struct packet_log *sent;
    struct event_log *seen;
};

static struct notify_world notify_world_open(bool packet_protocol)
{
    struct notify_world w = { .sent = calloc(1, sizeof(struct packet_log)),
                              .seen = calloc(1, sizeof(struct event_log)) };
    CU_ASSERT_PTR_NOT_NULL_FATAL(w.sent);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w.seen);
    struct sim_trace_sink sinks[2] = {
        packet_log_sink(w.sent),
        { .name = "events", .level = SIM_LAYER_TRANSPORT, .emit = event_log_emit,
          .state = w.seen },
    };
    w.f = fixture_create_with(SEED, sinks, 2);
    struct vs_kernel *guest = vs_world_kernel(w.f->world, CID_A);
    CU_ASSERT_PTR_NOT_NULL_FATAL(guest);
    guest->transport.force_v1 = packet_protocol;        /* 7.2: REQUEST -> pkt notify */
    return w;
}

static void notify_world_close(struct notify_world *w)
{
    ASSERT_U64_EQ(w->sent->dropped, 0);
    CU_ASSERT(w->seen->count < EVENTS_MAX);
    fixture_destroy(w->f);
    free(w->sent);
    free(w->seen);
}

/* The packets sent since `from` as "cid:TYPE cid:TYPE ...". */
static void sequence_of(const struct packet_log *log, uint32_t from, char *out, size_t out_bytes)
{
    size_t used = 0;
    out[0] = '\0';
    for (uint32_t index = from; index < log->count && used < out_bytes; index++) {
        const struct packet *packet = &log->packets[index];
        int n = snprintf(out + used, out_bytes - used, "%s%u:%s", used == 0 ? "" : " ",
                         (unsigned)(packet->src >> 32), packet->type);
        used += n > 0 ? (size_t)n : 0;
    }
}

#define ASSERT_SEQUENCE(log, from, expected)                                               \
    do {                                                                                   \
        char actual_[SEQUENCE_BYTES_MAX];                                                  \
        sequence_of((log), (from), actual_, sizeof(actual_));                              \
        if (strcmp(actual_, (expected)) != 0)                                              \
            fprintf(stderr, "%s:%d: packets \"%s\", expected \"%s\"\n", __FILE__, __LINE__, \
                    actual_, (expected));                                                  \
        CU_ASSERT_STRING_EQUAL(actual_, (expected));                                       \
    } while (0)

static uint64_t address_of(uint32_t cid, uint32_t port)
{
    return (uint64_t)cid << 32 | port;
}

static uint32_t port_of(struct vs_context *context, int fd)
{
    return name_of(context, fd, false).svm_port;
}

/* A hand-made packet of `type` from guest A's client `client_fd` to the host end
 * `server_fd` (of `server`) of the same connection, written to A's device (R147 layout);
 * then the engine runs. */
static void inject_to(struct notify_world *w, int client_fd, struct vs_context *server,
                      int server_fd, uint8_t type, uint64_t u0)
{
    struct injected_packet packet = injected_packet_make(
        CID_HOST, type, port_of(&w->f->guest_a, client_fd), port_of(server, server_fd));
    packet.u0 = u0;
    ASSERT_U64_EQ(fixture_inject_packet(w->f, CID_A, &packet), VSOCK_PACKET_BYTES);
    run_idle(w->f);
}

static void inject_from_client(struct notify_world *w, int client_fd, int server_fd,
                               uint8_t type, uint64_t u0)
{
    inject_to(w, client_fd, &w->f->host, server_fd, type, u0);
}

static int socket_error(struct vs_context *context, int fd)
{
    int error = -1;
    socklen_t length = sizeof(error);
    ASSERT_RETURNS(vs_getsockopt(context, fd, SOL_SOCKET, SO_ERROR, &error, &length), 0);
    return error;
}

/* ---- Blocking calls on fibers ------------------------------------------------------------ */

/* One blocking send or recv on a fiber. With timeout_ms > 0 the first call runs under
 * SO_SNDTIMEO/SO_RCVTIMEO (its outcome in first_rc/first_error) and a second call
 * without a timeout follows. */
struct io_job {
    int fd;
    bool send;
    size_t size_bytes;
    int flags;
    int timeout_ms;
    ssize_t first_rc;
    int first_error;
    ssize_t rc;
    int error;
    uint8_t buffer[256];
};

static void set_timeout(struct vs_context *context, const struct io_job *job, int ms)
{
    struct timeval timeout = { .tv_sec = 0, .tv_usec = ms * 1000 };
    int name = job->send ? SO_SNDTIMEO : SO_RCVTIMEO;
    ASSERT_RETURNS(vs_setsockopt(context, job->fd, SOL_SOCKET, name, &timeout, sizeof(timeout)),
                   0);
}

static ssize_t job_call(struct vs_context *context, struct io_job *job, int *error)
{
    errno = 0;
    ssize_t rc = job->send ? vs_send(context, job->fd, job->buffer, job->size_bytes, job->flags)
                           : vs_recv(context, job->fd, job->buffer, job->size_bytes, job->flags);
    *error = errno;
    return rc;
}

static void io_job_body(struct vs_context *context, void *arg)
{
    struct io_job *job = arg;
    if (job->timeout_ms > 0) {
        set_timeout(context, job, job->timeout_ms);
        job->first_rc = job_call(context, job, &job->first_error);
        set_timeout(context, job, 0);
    }
    job->rc = job_call(context, job, &job->error);
}

/* Starts `job` on `context`'s fiber (a daemon: it may stay blocked) and runs to idle. */
static void io_job_start(struct fixture *f, struct vs_context *context, struct io_job *job)
{
    job->rc = JOB_PENDING;
    job->first_rc = JOB_PENDING;
    CU_ASSERT_EQUAL_FATAL(vs_spawn(context, "io", io_job_body, job, true), 0);
    run_idle(f);
}

/* Fills the writer's produce queue, which has `free_bytes` free: they all go in, the
 * next byte would block; then the engine runs. */
static void top_up(struct fixture *f, struct vs_context *context, int fd, size_t free_bytes)
{
    static uint8_t bytes[QUEUE_BYTES];
    ASSERT_RETURNS(vs_send(context, fd, bytes, sizeof(bytes), MSG_DONTWAIT), free_bytes);
    ASSERT_FAILS(vs_send(context, fd, bytes, 1, MSG_DONTWAIT), EAGAIN);
    run_idle(f);
}

/* Fills an empty produce queue: Q - 1 bytes go in (R83). */
static void fill_queue(struct fixture *f, struct vs_context *context, int fd)
{
    top_up(f, context, fd, QUEUE_USABLE_BYTES);
}

/* Reads exactly `size_bytes` (they are there) without blocking, then runs the engine. */
static void read_now(struct fixture *f, struct vs_context *context, int fd, size_t size_bytes)
{
    static uint8_t bytes[QUEUE_BYTES];
    ASSERT_RETURNS(vs_recv(context, fd, bytes, size_bytes, MSG_DONTWAIT), size_bytes);
    run_idle(f);
}

/* ---- 7.4 Established connection --------------------------------------------------------- */

/* R169: SHUTDOWN with mode 0 changes nothing and wakes nobody; a non-zero mode is ORed
 * into peer_shutdown and wakes the blocked reader (SEND: it returns 0 = EOF). */
static void test_R169_shutdown_packet_ors_mode_and_wakes_reader_mode_zero_ignored(void)
{
    struct notify_world w = notify_world_open(false);
    struct fixture *f = w.f;
    int client_fd, server_fd;
    connected_pair(f, &f->guest_a, &f->host, 9000, &client_fd, &server_fd);
    struct vsock_sock *server = vs_socket_of(&f->host, server_fd);
    struct io_job reader = { .fd = server_fd, .size_bytes = 16 };
    io_job_start(f, &f->host, &reader);
    uint32_t pid = f->host.process_pid;
    ASSERT_U64_EQ(blocks_of(w.seen, pid), 1);
    uint32_t mark = w.sent->count;
    inject_from_client(&w, client_fd, server_fd, VSOCK_PACKET_SHUTDOWN, 0);
    ASSERT_U64_EQ(server->peer_shutdown, 0);                                    /* ignored */
    ASSERT_U64_EQ(blocks_of(w.seen, pid), 1);                                   /* not woken */
    ASSERT_U64_EQ(reader.rc, JOB_PENDING);
    inject_from_client(&w, client_fd, server_fd, VSOCK_PACKET_SHUTDOWN, VSOCK_SEND_SHUTDOWN);
    ASSERT_U64_EQ(server->peer_shutdown, VSOCK_SEND_SHUTDOWN);
    ASSERT_RETURNS(reader.rc, 0);                                               /* EOF */
    ASSERT_POLL(&f->host, server_fd, POLLIN | POLLRDNORM | POLLRDHUP | POLLOUT | POLLWRNORM);
    ASSERT_RETURNS(vs_send(&f->host, server_fd, "x", 1, 0), 1);  /* the peer still reads */
    inject_from_client(&w, client_fd, server_fd, VSOCK_PACKET_SHUTDOWN, VSOCK_RCV_SHUTDOWN);
    ASSERT_U64_EQ(server->peer_shutdown, VSOCK_SHUTDOWN_MASK);                  /* ORed */
    ASSERT_FAILS(vs_send(&f->host, server_fd, "x", 1, 0), EPIPE);
    ASSERT_U64_EQ(server->tcp, VSOCK_TCP_ESTABLISHED);
    ASSERT_U64_EQ(packets_from(w.sent, mark, CID_HOST), 1);     /* the WROTE of "x" only */
    ASSERT_U64_EQ(packets_count(w.sent, mark, CID_HOST, "WROTE"), 1);
    notify_world_close(&w);
}

/* R170, R129: an RST on an established connection with data queued: done, peer_shutdown
 * 3, still TCP_ESTABLISHED, the data stays readable, then recv() returns 0, no errno,
 * send() fails with EPIPE, the peer's name survives; no packet answers the RST. */
static void test_R170_rst_with_data_queued_keeps_data_then_eof(void)
{
    struct notify_world w = notify_world_open(false);
    struct fixture *f = w.f;
    int client_fd, server_fd;
    connected_pair(f, &f->guest_a, &f->host, 9010, &client_fd, &server_fd);
    const char text[] = "abc";
    ASSERT_RETURNS(vs_send(&f->guest_a, client_fd, text, 3, 0), 3);
    run_idle(f);
    uint32_t mark = w.sent->count;
    inject_from_client(&w, client_fd, server_fd, VSOCK_PACKET_RST, 0);
    struct vsock_sock *server = vs_socket_of(&f->host, server_fd);
    CU_ASSERT_TRUE(server->done);
    ASSERT_U64_EQ(server->peer_shutdown, VSOCK_SHUTDOWN_MASK);
    ASSERT_U64_EQ(server->tcp, VSOCK_TCP_ESTABLISHED);                          /* data left */
    char buffer[16] = "";
    ASSERT_RETURNS(vs_recv(&f->host, server_fd, buffer, sizeof(buffer), 0), 3);
    CU_ASSERT_EQUAL(memcmp(buffer, text, 3), 0);
    ASSERT_RETURNS(vs_recv(&f->host, server_fd, buffer, sizeof(buffer), 0), 0);
    ASSERT_RETURNS(vs_recv(&f->host, server_fd, buffer, sizeof(buffer), 0), 0);
    ASSERT_U64_EQ(socket_error(&f->host, server_fd), 0);
    ASSERT_FAILS(vs_send(&f->host, server_fd, "x", 1, 0), EPIPE);
    ASSERT_U64_EQ(name_of(&f->host, server_fd, true).svm_cid, CID_A);           /* R129 */
    run_idle(f);
    ASSERT_U64_EQ(packets_from(w.sent, mark, CID_HOST), 0);                     /* R150 */
    notify_world_close(&w);
}

/* R170: an RST with no data queued wakes the blocked reader, which returns 0 without an
 * errno; the socket is TCP_CLOSING; send() fails with EPIPE. */
static void test_R170_rst_without_data_is_closing_and_wakes_reader(void)
{
    struct notify_world w = notify_world_open(false);
    struct fixture *f = w.f;
    int client_fd, server_fd;
    connected_pair(f, &f->guest_a, &f->host, 9020, &client_fd, &server_fd);
    struct io_job reader = { .fd = server_fd, .size_bytes = 16 };
    io_job_start(f, &f->host, &reader);
    ASSERT_U64_EQ(reader.rc, JOB_PENDING);
    uint32_t mark = w.sent->count;
    inject_from_client(&w, client_fd, server_fd, VSOCK_PACKET_RST, 0);
    ASSERT_RETURNS(reader.rc, 0);
    ASSERT_U64_EQ(reader.error, 0);
    struct vsock_sock *server = vs_socket_of(&f->host, server_fd);
    ASSERT_U64_EQ(server->tcp, VSOCK_TCP_CLOSING);
    ASSERT_U64_EQ(server->peer_shutdown, VSOCK_SHUTDOWN_MASK);
    ASSERT_U64_EQ(socket_error(&f->host, server_fd), 0);
    ASSERT_FAILS(vs_send(&f->host, server_fd, "x", 1, 0), EPIPE);
    ASSERT_U64_EQ(packets_from(w.sent, mark, CID_HOST), 0);
    notify_world_close(&w);
}

/* R172 (TCP_CLOSE): a REQUEST2 to a socket that is bound but neither listening nor
 * connected is answered with one RST to the requester, whose connect() fails with
 * ECONNRESET. */
static void test_R172_request_to_bound_closed_socket_is_reset(void)
{
    struct notify_world w = notify_world_open(false);
    struct fixture *f = w.f;
    int bound_fd = stream_socket(&f->guest_b);
    struct sockaddr_vm addr = vm_addr(VMADDR_CID_ANY, 6000);
    ASSERT_RETURNS(vs_bind(&f->guest_b, bound_fd, SA(addr), sizeof(addr)), 0);
    uint32_t mark = w.sent->count;
    struct connect_result result;
    ASSERT_U64_EQ(fiber_connect(f, &f->host, CID_B, 6000, &result), ECONNRESET);
    ASSERT_SEQUENCE(w.sent, mark, "2:REQUEST2 200:RST");
    ASSERT_U64_EQ(w.sent->packets[mark + 1].dst, address_of(CID_HOST, 1024));
    ASSERT_U64_EQ(vs_socket_of(&f->guest_b, bound_fd)->tcp, VSOCK_TCP_CLOSE);
    notify_world_close(&w);
}

/* R172 (TCP_SYN_SENT), R160: a REQUEST2 reaching a socket that is itself connecting (B's
 * request to the host's listener is still on its way back) fails that socket's connect()
 * with EPROTO and makes it send RST. Linux (the tiebreaker) sends that RST to the
 * connecting socket's own peer (vmci_transport_send_reset uses remote_addr once it is
 * bound), not to the requester, whose connect() then times out with ETIMEDOUT: the
 * reference's "so the requester fails with ECONNRESET" does not hold. */
static void test_R172_request_to_connecting_socket_fails_it_with_eproto(void)
{
    struct notify_world w = notify_world_open(false);
    struct fixture *f = w.f;
    listener(&f->host, 7000, 4);
    int connecting_fd = stream_socket(&f->guest_b);
    struct sockaddr_vm addr = vm_addr(VMADDR_CID_ANY, 6001);
    ASSERT_RETURNS(vs_bind(&f->guest_b, connecting_fd, SA(addr), sizeof(addr)), 0);
    struct sockaddr_vm target = vm_addr(CID_HOST, 7000);
    ASSERT_FAILS(vs_connect(&f->guest_b, connecting_fd, SA(target), sizeof(target)), EAGAIN);
    uint32_t mark = w.sent->count;
    struct connect_result result;
    ASSERT_U64_EQ(fiber_connect(f, &f->host, CID_B, 6001, &result), ETIMEDOUT);
    ASSERT_U64_EQ(result.ended_ns - result.started_ns, CONNECT_TIMEOUT_NS);
    ASSERT_FAILS(vs_connect(&f->guest_b, connecting_fd, SA(target), sizeof(target)), EPROTO);
    /* The requester's REQUEST2, the listener's NEGOTIATE2 to B, B's RST on the REQUEST2,
     * and B's RST on the NEGOTIATE2 that finds it in TCP_CLOSE (R173): both to its peer. */
    ASSERT_SEQUENCE(w.sent, mark, "2:REQUEST2 2:NEGOTIATE2 200:RST 200:RST");
    ASSERT_U64_EQ(w.sent->packets[mark].dst, address_of(CID_B, 6001));
    ASSERT_U64_EQ(w.sent->packets[mark + 2].dst, address_of(CID_HOST, 7000));
    ASSERT_U64_EQ(w.sent->packets[mark + 3].dst, address_of(CID_HOST, 7000));
    notify_world_close(&w);
}

/* R172 (TCP_ESTABLISHED), R175: a REQUEST2 from a third party reaching an established
 * socket is ignored: no packet answers it, the requester times out with ETIMEDOUT, and
 * the connection carries data as before. */
static void test_R172_request_to_established_socket_is_ignored(void)
{
    struct notify_world w = notify_world_open(false);
    struct fixture *f = w.f;
    int client_fd, server_fd;
    connected_pair(f, &f->guest_b, &f->host, 6002, &client_fd, &server_fd);
    uint32_t client_port = port_of(&f->guest_b, client_fd);
    uint32_t mark = w.sent->count;
    struct connect_result result;
    ASSERT_U64_EQ(fiber_connect(f, &f->host, CID_B, client_port, &result), ETIMEDOUT);
    ASSERT_U64_EQ(result.ended_ns - result.started_ns, CONNECT_TIMEOUT_NS);
    ASSERT_SEQUENCE(w.sent, mark, "2:REQUEST2");
    ASSERT_U64_EQ(vs_socket_of(&f->guest_b, client_fd)->tcp, VSOCK_TCP_ESTABLISHED);
    ASSERT_U64_EQ(socket_error(&f->guest_b, client_fd), 0);
    ASSERT_RETURNS(vs_send(&f->host, server_fd, "ok", 2, 0), 2);
    run_idle(f);
    char buffer[4] = "";
    ASSERT_RETURNS(vs_recv(&f->guest_b, client_fd, buffer, sizeof(buffer), 0), 2);
    CU_ASSERT_EQUAL(memcmp(buffer, "ok", 2), 0);
    notify_world_close(&w);
}

/* R173: a packet for a socket that is neither listening, connecting nor established (here
 * TCP_CLOSING after an RST, and a bound socket in TCP_CLOSE) is answered with one RST
 * to its sender; an RST is never answered (R150). */
static void test_R173_packet_to_closing_or_closed_socket_gets_rst(void)
{
    struct notify_world w = notify_world_open(false);
    struct fixture *f = w.f;
    int client_fd, server_fd;
    connected_pair(f, &f->guest_a, &f->host, 9030, &client_fd, &server_fd);
    inject_from_client(&w, client_fd, server_fd, VSOCK_PACKET_RST, 0);
    ASSERT_U64_EQ(vs_socket_of(&f->host, server_fd)->tcp, VSOCK_TCP_CLOSING);
    uint32_t mark = w.sent->count;
    inject_from_client(&w, client_fd, server_fd, VSOCK_PACKET_WROTE, 0);
    ASSERT_SEQUENCE(w.sent, mark, "2:RST");
    ASSERT_U64_EQ(w.sent->packets[mark].src, address_of(CID_HOST, 9030));
    ASSERT_U64_EQ(w.sent->packets[mark].dst, address_of(CID_A, port_of(&f->guest_a,
                                                                          client_fd)));
    inject_from_client(&w, client_fd, server_fd, VSOCK_PACKET_RST, 0);
    ASSERT_SEQUENCE(w.sent, mark, "2:RST");                                     /* no more */
    int bound_fd = stream_socket(&f->host);
    struct sockaddr_vm addr = vm_addr(VMADDR_CID_ANY, 9031);
    ASSERT_RETURNS(vs_bind(&f->host, bound_fd, SA(addr), sizeof(addr)), 0);
    mark = w.sent->count;
    struct injected_packet packet = injected_packet_make(CID_HOST, VSOCK_PACKET_READ, 5555, 9031);
    ASSERT_U64_EQ(fixture_inject_packet(f, CID_A, &packet), VSOCK_PACKET_BYTES);
    run_idle(f);
    ASSERT_SEQUENCE(w.sent, mark, "2:RST");
    ASSERT_U64_EQ(w.sent->packets[mark].dst, address_of(CID_A, 5555));
    ASSERT_U64_EQ(vs_socket_of(&f->host, bound_fd)->tcp, VSOCK_TCP_CLOSE);
    notify_world_close(&w);
}

/* R174, R169: each shutdown() sends one SHUTDOWN packet to the peer carrying the mode of
 * that call (Linux passes the call's mode; 1 = RCV, 2 = SEND), which the peer ORs into
 * peer_shutdown; SHUT_RDWR sends mode 3 in one packet. */
static void test_R174_shutdown_sends_one_packet_with_the_mode(void)
{
    struct notify_world w = notify_world_open(false);
    struct fixture *f = w.f;
    int client_fd, server_fd;
    connected_pair(f, &f->guest_a, &f->host, 9040, &client_fd, &server_fd);
    struct vsock_sock *server = vs_socket_of(&f->host, server_fd);
    uint32_t mark = w.sent->count;
    ASSERT_RETURNS(vs_shutdown(&f->guest_a, client_fd, SHUT_RD), 0);
    run_idle(f);
    ASSERT_SEQUENCE(w.sent, mark, "100:SHUTDOWN");
    ASSERT_U64_EQ(w.sent->packets[mark].u0, VSOCK_RCV_SHUTDOWN);
    ASSERT_U64_EQ(w.sent->packets[mark].dst, address_of(CID_HOST, 9040));
    ASSERT_U64_EQ(server->peer_shutdown, VSOCK_RCV_SHUTDOWN);
    ASSERT_RETURNS(vs_shutdown(&f->guest_a, client_fd, SHUT_WR), 0);
    run_idle(f);
    ASSERT_SEQUENCE(w.sent, mark, "100:SHUTDOWN 100:SHUTDOWN");
    ASSERT_U64_EQ(w.sent->packets[mark + 1].u0, VSOCK_SEND_SHUTDOWN);
    ASSERT_U64_EQ(server->peer_shutdown, VSOCK_SHUTDOWN_MASK);
    int other_client, other_server;
    connected_pair(f, &f->guest_a, &f->host, 9041, &other_client, &other_server);
    mark = w.sent->count;
    ASSERT_RETURNS(vs_shutdown(&f->guest_a, other_client, SHUT_RDWR), 0);
    run_idle(f);
    ASSERT_SEQUENCE(w.sent, mark, "100:SHUTDOWN");
    ASSERT_U64_EQ(w.sent->packets[mark].u0, VSOCK_SHUTDOWN_MASK);
    ASSERT_U64_EQ(vs_socket_of(&f->host, other_server)->peer_shutdown, VSOCK_SHUTDOWN_MASK);
    notify_world_close(&w);
}

/* R174 "whatever the state": after the peer closed (queue pair detached, R171) the
 * socket is no longer established, yet shutdown() still returns 0 and sends its
 * SHUTDOWN; the host's listener, the only socket left on that port, answers RST (R162). */
static void test_R174_shutdown_after_peer_close_still_sends_shutdown(void)
{
    struct notify_world w = notify_world_open(false);
    struct fixture *f = w.f;
    int client_fd, server_fd;
    connected_pair(f, &f->guest_a, &f->host, 9042, &client_fd, &server_fd);
    ASSERT_RETURNS(vs_close(&f->host, server_fd), 0);
    run_idle(f);
    ASSERT_U64_EQ(vs_socket_of(&f->guest_a, client_fd)->tcp, VSOCK_TCP_CLOSE);
    uint32_t mark = w.sent->count;
    ASSERT_RETURNS(vs_shutdown(&f->guest_a, client_fd, SHUT_WR), 0);
    run_idle(f);
    ASSERT_SEQUENCE(w.sent, mark, "100:SHUTDOWN 2:RST");
    ASSERT_U64_EQ(w.sent->packets[mark].u0, VSOCK_SEND_SHUTDOWN);
    ASSERT_U64_EQ(vs_socket_of(&f->guest_a, client_fd)->shutdown, VSOCK_SEND_SHUTDOWN);
    notify_world_close(&w);
}

/* R171: a guest socket whose peer detached stays TCP_ESTABLISHED while it had unread
 * data, also after draining it (recv then returns 0), and moves to TCP_CLOSE when it had
 * none; the host's end is TCP_CLOSE either way (asserted in vsock_stream_test.c). */
static void test_R171_guest_state_follows_unread_data(void)
{
    struct notify_world w = notify_world_open(false);
    struct fixture *f = w.f;
    int with_data, with_data_peer, without, without_peer;
    connected_pair(f, &f->guest_a, &f->host, 9060, &with_data, &with_data_peer);
    connected_pair(f, &f->guest_b, &f->host, 9061, &without, &without_peer);
    ASSERT_RETURNS(vs_send(&f->host, with_data_peer, "tail", 4, 0), 4);
    run_idle(f);
    ASSERT_RETURNS(vs_close(&f->host, with_data_peer), 0);
    ASSERT_RETURNS(vs_close(&f->host, without_peer), 0);
    run_idle(f);
    ASSERT_U64_EQ(vs_socket_of(&f->guest_a, with_data)->tcp, VSOCK_TCP_ESTABLISHED);
    ASSERT_U64_EQ(vs_socket_of(&f->guest_b, without)->tcp, VSOCK_TCP_CLOSE);
    uint8_t buffer[8];
    ASSERT_RETURNS(vs_recv(&f->guest_a, with_data, buffer, sizeof(buffer), 0), 4);
    ASSERT_RETURNS(vs_recv(&f->guest_a, with_data, buffer, sizeof(buffer), 0), 0);
    ASSERT_U64_EQ(vs_socket_of(&f->guest_a, with_data)->tcp, VSOCK_TCP_ESTABLISHED);
    ASSERT_U64_EQ(vs_socket_of(&f->guest_a, with_data)->peer_shutdown, VSOCK_SHUTDOWN_MASK);
    ASSERT_FAILS(vs_send(&f->guest_a, with_data, "x", 1, 0), EPIPE);
    ASSERT_FAILS(vs_send(&f->guest_b, without, "x", 1, 0), EPIPE);
    notify_world_close(&w);
}

/* R174: a SHUTDOWN whose send fails still shuts the socket down locally: the host's
 * socket toward a suspended guest (its context is gone: DST_UNREACHABLE) sends the one
 * packet, which fails, and the shutdown takes effect (recv "" at once, send EPIPE). */
static void test_R174_failed_shutdown_send_still_shuts_down(void)
{
    struct notify_world w = notify_world_open(false);
    struct fixture *f = w.f;
    int client_fd, server_fd;
    connected_pair(f, &f->guest_a, &f->host, 9043, &client_fd, &server_fd);
    CU_ASSERT_EQUAL_FATAL(vmci_hypervisor_vm_suspend(f->world->hypervisor, CID_A), 0);
    run_idle(f);
    uint32_t mark = w.sent->count;
    ASSERT_RETURNS(vs_shutdown(&f->host, server_fd, SHUT_RDWR), 0);
    ASSERT_SEQUENCE(w.sent, mark, "2:SHUTDOWN");
    ASSERT_U64_EQ(w.sent->packets[mark].u0, VSOCK_SHUTDOWN_MASK);
    ASSERT_U64_EQ(w.sent->packets[mark].result, VMCI_ERROR_DST_UNREACHABLE);
    ASSERT_U64_EQ(vs_socket_of(&f->host, server_fd)->shutdown, VSOCK_SHUTDOWN_MASK);
    uint8_t byte = 0;
    ASSERT_RETURNS(vs_recv(&f->host, server_fd, &byte, 1, 0), 0);
    ASSERT_FAILS(vs_send(&f->host, server_fd, "x", 1, 0), EPIPE);
    notify_world_close(&w);
}

/* R175: in the established state, packet types that are neither SHUTDOWN, RST nor a
 * notification are ignored: no reply, no change of state, data still flows. The
 * queue-state protocol takes only WROTE and READ, so WAITING_* are ignored as well. */
static void test_R175_unexpected_types_ignored_when_established(void)
{
    struct notify_world w = notify_world_open(false);
    struct fixture *f = w.f;
    int client_fd, server_fd;
    connected_pair(f, &f->guest_a, &f->host, 9050, &client_fd, &server_fd);
    static const uint8_t types[] = {
        VSOCK_PACKET_INVALID, VSOCK_PACKET_REQUEST, VSOCK_PACKET_NEGOTIATE,
        VSOCK_PACKET_OFFER, VSOCK_PACKET_ATTACH, VSOCK_PACKET_REQUEST2,
        VSOCK_PACKET_NEGOTIATE2, VSOCK_PACKET_WAITING_READ, VSOCK_PACKET_WAITING_WRITE,
    };
    ASSERT_RETURNS(vs_send(&f->host, server_fd, "q", 1, 0), 1);    /* produce queue not empty */
    run_idle(f);
    uint32_t mark = w.sent->count;
    for (size_t index = 0; index < sizeof(types); index++)
        inject_from_client(&w, client_fd, server_fd, types[index], QUEUE_BYTES);
    ASSERT_SEQUENCE(w.sent, mark, "");
    struct vsock_sock *server = vs_socket_of(&f->host, server_fd);
    ASSERT_U64_EQ(server->tcp, VSOCK_TCP_ESTABLISHED);
    ASSERT_U64_EQ(server->peer_shutdown, 0);
    CU_ASSERT_FALSE(server->done);
    ASSERT_U64_EQ(socket_error(&f->host, server_fd), 0);
    char buffer[4] = "";
    ASSERT_RETURNS(vs_recv(&f->guest_a, client_fd, buffer, sizeof(buffer), 0), 1);
    ASSERT_RETURNS(vs_send(&f->guest_a, client_fd, "ab", 2, 0), 2);
    run_idle(f);
    ASSERT_RETURNS(vs_recv(&f->host, server_fd, buffer, sizeof(buffer), 0), 2);
    CU_ASSERT_EQUAL(memcmp(buffer, "ab", 2), 0);
    notify_world_close(&w);
}

/* ---- 7.5 Queue-state protocol ----------------------------------------------------------- */

/* R177, R178: reading from a full queue records a waiting writer and reduces W by 4096
 * once per READ; READ goes out when free space > Q - W. First cycle: W = Q - 4096, READ
 * at 4097 bytes free, not at 4096; a reader that neither blocked nor polled in between
 * leaves W alone, so the second cycle reduces it again (READ at 8193, not at 8192). A
 * read from a queue that was not full sends nothing. */
static void test_R177_R178_read_after_full_queue_with_shrinking_window(void)
{
    struct notify_world w = notify_world_open(false);
    struct fixture *f = w.f;
    int writer, reader;
    connected_pair(f, &f->guest_a, &f->host, 9100, &writer, &reader);
    uint32_t mark = w.sent->count;
    fill_queue(f, &f->guest_a, writer);
    read_now(f, &f->host, reader, WINDOW_STEP_BYTES);
    ASSERT_U64_EQ(packets_count(w.sent, mark, CID_HOST, "READ"), 0);
    read_now(f, &f->host, reader, 1);
    ASSERT_U64_EQ(packets_count(w.sent, mark, CID_HOST, "READ"), 1);
    read_now(f, &f->host, reader, QUEUE_USABLE_BYTES - WINDOW_STEP_BYTES - 1);
    ASSERT_U64_EQ(packets_count(w.sent, mark, CID_HOST, "READ"), 1);         /* not full */
    fill_queue(f, &f->guest_a, writer);
    read_now(f, &f->host, reader, WINDOW_STEP_BYTES + 1);
    ASSERT_U64_EQ(packets_count(w.sent, mark, CID_HOST, "READ"), 1);         /* W = Q - 8192 */
    read_now(f, &f->host, reader, 2 * WINDOW_STEP_BYTES - (WINDOW_STEP_BYTES + 1));
    ASSERT_U64_EQ(packets_count(w.sent, mark, CID_HOST, "READ"), 1);         /* 8192 free */
    read_now(f, &f->host, reader, 1);
    ASSERT_U64_EQ(packets_count(w.sent, mark, CID_HOST, "READ"), 2);
    ASSERT_U64_EQ(w.sent->packets[w.sent->count - 1].dst,
                  address_of(CID_A, port_of(&f->guest_a, writer)));
    ASSERT_U64_EQ(packets_count(w.sent, mark, CID_A, "WAITING_WRITE") +
                  packets_count(w.sent, mark, CID_HOST, "WAITING_READ"), 0);   /* R176 */
    notify_world_close(&w);
}

/* R178: Wmin is raised at the start of every recv whose target reaches it, not only when
 * a reader blocks. A recv of 60000 bytes with MSG_WAITALL that finds them queued (no
 * block) makes Wmin 60001; the first full-queue cycle reduces W to Q - 4096 as usual, but
 * the second stops at Wmin (60001) instead of Q - 8192, so its READ comes at 5536 free
 * bytes (> Q - 60001), where W = Q - 8192 would wait for 8193. */
static void test_R178_recv_start_raises_wmin_without_blocking(void)
{
    struct notify_world w = notify_world_open(false);
    struct fixture *f = w.f;
    int writer, reader;
    connected_pair(f, &f->guest_a, &f->host, 9105, &writer, &reader);
    enum { TARGET_BYTES = 60000 };
    fill_queue(f, &f->guest_a, writer);
    uint32_t mark = w.sent->count;
    static uint8_t bytes[QUEUE_BYTES];
    ASSERT_RETURNS(vs_recv(&f->host, reader, bytes, TARGET_BYTES, MSG_WAITALL), TARGET_BYTES);
    run_idle(f);
    ASSERT_U64_EQ(packets_count(w.sent, mark, CID_HOST, "READ"), 1);         /* W = Q - 4096 */
    read_now(f, &f->host, reader, QUEUE_USABLE_BYTES - TARGET_BYTES);         /* empty */
    fill_queue(f, &f->guest_a, writer);
    mark = w.sent->count;
    read_now(f, &f->host, reader, QUEUE_BYTES - (TARGET_BYTES + 1));          /* = Q - Wmin */
    ASSERT_U64_EQ(packets_count(w.sent, mark, CID_HOST, "READ"), 0);
    read_now(f, &f->host, reader, 1);
    ASSERT_U64_EQ(packets_count(w.sent, mark, CID_HOST, "READ"), 1);
    notify_world_close(&w);
}

/* Empties the reader's consume queue without blocking (the data is there). */
static void drain(struct fixture *f, struct vs_context *context, int fd)
{
    static uint8_t bytes[QUEUE_BYTES];
    CU_ASSERT(vs_recv(context, fd, bytes, sizeof(bytes), MSG_DONTWAIT) > 0);
    ASSERT_FAILS(vs_recv(context, fd, bytes, sizeof(bytes), MSG_DONTWAIT), EAGAIN);
    run_idle(f);
}

/* Reads `first` then `second` bytes from a full queue: no READ after the first, one
 * after the second (the READ threshold lies between them). */
static void assert_read_threshold(struct notify_world *w, int reader, size_t first,
                                  size_t second)
{
    uint32_t mark = w->sent->count;
    read_now(w->f, &w->f->host, reader, first);
    ASSERT_U64_EQ(packets_count(w->sent, mark, CID_HOST, "READ"), 0);
    read_now(w->f, &w->f->host, reader, second);
    ASSERT_U64_EQ(packets_count(w->sent, mark, CID_HOST, "READ"), 1);
}

/* R178: W grows by 4096 each time a reader blocks or polls an empty established socket,
 * up to Q. After two cycles W = Q - 8192; one poll (W = Q - 4096) makes the next cycle's
 * READ come at 8193 free bytes instead of 12289; a reader that blocks does the same;
 * many polls stop at Q (next READ at 4097, as in the first cycle). */
static void test_R178_window_grows_when_reader_blocks_or_polls(void)
{
    struct notify_world w = notify_world_open(false);
    struct fixture *f = w.f;
    int writer, reader;
    connected_pair(f, &f->guest_a, &f->host, 9110, &writer, &reader);
    fill_queue(f, &f->guest_a, writer);
    assert_read_threshold(&w, reader, WINDOW_STEP_BYTES, 1);                 /* W = Q - 4096 */
    drain(f, &f->host, reader);
    fill_queue(f, &f->guest_a, writer);
    assert_read_threshold(&w, reader, 2 * WINDOW_STEP_BYTES, 1);             /* W = Q - 8192 */
    drain(f, &f->host, reader);
    ASSERT_POLL(&f->host, reader, POLLOUT | POLLWRNORM);                     /* W = Q - 4096 */
    fill_queue(f, &f->guest_a, writer);
    assert_read_threshold(&w, reader, 2 * WINDOW_STEP_BYTES, 1);             /* not 12288 */
    drain(f, &f->host, reader);
    struct io_job blocked = { .fd = reader, .size_bytes = 1 };
    io_job_start(f, &f->host, &blocked);                                     /* W = Q - 4096 */
    ASSERT_U64_EQ(blocked.rc, JOB_PENDING);
    fill_queue(f, &f->guest_a, writer);      /* the reader takes 1 byte: W = Q - 8192 */
    ASSERT_RETURNS(blocked.rc, 1);
    assert_read_threshold(&w, reader, 2 * WINDOW_STEP_BYTES - 1, 1);         /* not 12288 */
    drain(f, &f->host, reader);
    for (int poll = 0; poll < 8; poll++)
        ASSERT_POLL(&f->host, reader, POLLOUT | POLLWRNORM);                 /* W = Q */
    fill_queue(f, &f->guest_a, writer);
    assert_read_threshold(&w, reader, WINDOW_STEP_BYTES, 1);                 /* Q - 4096 */
    notify_world_close(&w);
}

/* R179: WROTE wakes a blocked reader and READ a blocked writer (each blocks once more, as
 * nothing changed for it); neither changes queue state: the data and free space stay. */
static void test_R179_wrote_wakes_reader_read_wakes_writer_queues_unchanged(void)
{
    struct notify_world w = notify_world_open(false);
    struct fixture *f = w.f;
    struct vs_context writer_context;
    CU_ASSERT_EQUAL_FATAL(vs_world_context_init(f->world, &writer_context, CID_HOST), 0);
    int client_fd, server_fd, client2_fd, server2_fd;
    connected_pair(f, &f->guest_a, &f->host, 9120, &client_fd, &server_fd);
    connected_pair(f, &f->guest_a, &writer_context, 9121, &client2_fd, &server2_fd);
    struct io_job reader = { .fd = server_fd, .size_bytes = 16 };
    io_job_start(f, &f->host, &reader);
    fill_queue(f, &writer_context, server2_fd);
    struct io_job writer = { .send = true, .fd = server2_fd, .size_bytes = 1 };
    io_job_start(f, &writer_context, &writer);
    uint32_t reader_pid = f->host.process_pid, writer_pid = writer_context.process_pid;
    ASSERT_U64_EQ(blocks_of(w.seen, reader_pid), 1);
    ASSERT_U64_EQ(blocks_of(w.seen, writer_pid), 1);
    inject_from_client(&w, client_fd, server_fd, VSOCK_PACKET_WROTE, 0);
    ASSERT_U64_EQ(blocks_of(w.seen, reader_pid), 2);
    ASSERT_U64_EQ(blocks_of(w.seen, writer_pid), 1);
    ASSERT_U64_EQ(reader.rc, JOB_PENDING);
    inject_to(&w, client2_fd, &writer_context, server2_fd, VSOCK_PACKET_READ, 0);
    ASSERT_U64_EQ(blocks_of(w.seen, writer_pid), 2);
    ASSERT_U64_EQ(blocks_of(w.seen, reader_pid), 2);
    ASSERT_U64_EQ(writer.rc, JOB_PENDING);
    struct vsock_sock *empty = vs_socket_of(&f->host, server_fd);
    ASSERT_U64_EQ(empty->ops->stream_has_data(empty), 0);
    struct vsock_sock *full = vs_socket_of(&writer_context, server2_fd);
    ASSERT_U64_EQ(full->ops->stream_has_space(full), 0);
    ASSERT_RETURNS(vs_send(&f->guest_a, client_fd, "r", 1, 0), 1);          /* end both */
    run_idle(f);
    ASSERT_RETURNS(reader.rc, 1);
    read_now(f, &f->guest_a, client2_fd, QUEUE_USABLE_BYTES);
    ASSERT_RETURNS(writer.rc, 1);
    vs_context_destroy(&writer_context);
    notify_world_close(&w);
}

/* ---- 7.5 Packet-based protocol ---------------------------------------------------------- */

/* R180, R181, R183, R184: a blocked reader sends WAITING_READ once: blocking again after
 * a timeout sends nothing more; the producer answers with WROTE only because the peer
 * waits; WROTE clears "sent waiting read", so the next block sends a new WAITING_READ;
 * a write nobody waits for sends nothing. */
static void test_R180_R181_R183_blocked_reader_waiting_read_once_until_wrote(void)
{
    struct notify_world w = notify_world_open(true);
    struct fixture *f = w.f;
    int client_fd, server_fd;
    uint32_t start = w.sent->count;
    connected_pair(f, &f->guest_a, &f->host, 9200, &client_fd, &server_fd);
    ASSERT_SEQUENCE(w.sent, start, "100:REQUEST 2:NEGOTIATE 100:OFFER 2:ATTACH");
    uint32_t mark = w.sent->count;
    struct io_job reader = { .fd = client_fd, .size_bytes = 1, .timeout_ms = 1 };
    io_job_start(f, &f->guest_a, &reader);
    ASSERT_U64_EQ(reader.first_rc, (uint64_t)-1);
    ASSERT_U64_EQ(reader.first_error, EAGAIN);                      /* timed out, blocks again */
    ASSERT_U64_EQ(blocks_of(w.seen, f->guest_a.process_pid), 2);
    ASSERT_SEQUENCE(w.sent, mark, "100:WAITING_READ");
    ASSERT_U64_EQ(w.sent->packets[mark].dst, address_of(CID_HOST, 9200));
    ASSERT_U64_EQ(w.sent->packets[mark].u0, 0);             /* {generation 0, head 0 + 1} */
    ASSERT_U64_EQ(w.sent->packets[mark].u1, 1);
    ASSERT_POLL(&f->guest_a, client_fd, POLLOUT | POLLWRNORM);      /* polling: still once */
    ASSERT_SEQUENCE(w.sent, mark, "100:WAITING_READ");
    ASSERT_RETURNS(vs_send(&f->host, server_fd, "x", 1, 0), 1);
    run_idle(f);
    ASSERT_RETURNS(reader.rc, 1);
    ASSERT_U64_EQ(reader.buffer[0], 'x');
    ASSERT_SEQUENCE(w.sent, mark, "100:WAITING_READ 2:WROTE");
    struct io_job again = { .fd = client_fd, .size_bytes = 1 };
    io_job_start(f, &f->guest_a, &again);
    ASSERT_SEQUENCE(w.sent, mark, "100:WAITING_READ 2:WROTE 100:WAITING_READ");
    ASSERT_U64_EQ(w.sent->packets[mark + 2].u0, 0);         /* head 1 now: {0, 2} */
    ASSERT_U64_EQ(w.sent->packets[mark + 2].u1, 2);
    ASSERT_RETURNS(vs_send(&f->host, server_fd, "y", 1, 0), 1);
    run_idle(f);
    ASSERT_RETURNS(again.rc, 1);
    ASSERT_RETURNS(vs_send(&f->host, server_fd, "z", 1, 0), 1);     /* nobody waits */
    run_idle(f);
    ASSERT_SEQUENCE(w.sent, mark, "100:WAITING_READ 2:WROTE 100:WAITING_READ 2:WROTE");
    notify_world_close(&w);
}

/* R180: each side counts the wrap-arounds of its consume ring: a reader whose head stands
 * at Q - 1 and needs 10 bytes names position 9 of the next lap {1, 9}; after it has read
 * across the end (generation 1, head 9), needing 1 byte names {1, 10}. */
static void test_R180_waiting_read_names_positions_across_the_ring_end(void)
{
    struct notify_world w = notify_world_open(true);
    struct fixture *f = w.f;
    int client_fd, server_fd;
    connected_pair(f, &f->guest_a, &f->host, 9205, &client_fd, &server_fd);
    fill_queue(f, &f->host, server_fd);
    read_now(f, &f->guest_a, client_fd, QUEUE_USABLE_BYTES);        /* head Q - 1, gen 0 */
    uint32_t mark = w.sent->count;
    struct io_job wide = { .fd = client_fd, .size_bytes = 10, .flags = MSG_WAITALL };
    io_job_start(f, &f->guest_a, &wide);
    ASSERT_SEQUENCE(w.sent, mark, "100:WAITING_READ");
    ASSERT_U64_EQ(w.sent->packets[mark].u0, 1);
    ASSERT_U64_EQ(w.sent->packets[mark].u1, 9);
    static uint8_t bytes[10];
    ASSERT_RETURNS(vs_send(&f->host, server_fd, bytes, sizeof(bytes), 0), 10);
    run_idle(f);
    ASSERT_RETURNS(wide.rc, 10);                                    /* head 9, gen 1 */
    mark = w.sent->count;
    struct io_job narrow = { .fd = client_fd, .size_bytes = 1 };
    io_job_start(f, &f->guest_a, &narrow);
    ASSERT_SEQUENCE(w.sent, mark, "100:WAITING_READ");
    ASSERT_U64_EQ(w.sent->packets[mark].u0, 1);
    ASSERT_U64_EQ(w.sent->packets[mark].u1, 10);
    ASSERT_RETURNS(vs_send(&f->host, server_fd, "n", 1, 0), 1);
    run_idle(f);
    ASSERT_RETURNS(narrow.rc, 1);
    notify_world_close(&w);
}

/* R181, R175: WAITING_READ goes to the packet-based protocol: with data already in the
 * produce queue it is answered with WROTE at once; with an empty queue it is remembered
 * and the next write sends WROTE; the write after that (nobody waits) sends nothing. */
static void test_R181_waiting_read_answered_at_once_when_data_queued(void)
{
    struct notify_world w = notify_world_open(true);
    struct fixture *f = w.f;
    int client_fd, server_fd;
    connected_pair(f, &f->guest_a, &f->host, 9210, &client_fd, &server_fd);
    uint32_t mark = w.sent->count;
    ASSERT_RETURNS(vs_send(&f->host, server_fd, "a", 1, 0), 1);
    run_idle(f);
    ASSERT_SEQUENCE(w.sent, mark, "");                                  /* nobody waits */
    inject_from_client(&w, client_fd, server_fd, VSOCK_PACKET_WAITING_READ, 0);
    ASSERT_SEQUENCE(w.sent, mark, "2:WROTE");
    ASSERT_U64_EQ(w.sent->packets[mark].dst,
                  address_of(CID_A, port_of(&f->guest_a, client_fd)));
    read_now(f, &f->guest_a, client_fd, 1);
    inject_from_client(&w, client_fd, server_fd, VSOCK_PACKET_WAITING_READ, 0);
    ASSERT_SEQUENCE(w.sent, mark, "2:WROTE");                           /* queue empty */
    ASSERT_RETURNS(vs_send(&f->host, server_fd, "b", 1, 0), 1);
    run_idle(f);
    ASSERT_SEQUENCE(w.sent, mark, "2:WROTE 2:WROTE");
    ASSERT_RETURNS(vs_send(&f->host, server_fd, "c", 1, 0), 1);
    run_idle(f);
    ASSERT_SEQUENCE(w.sent, mark, "2:WROTE 2:WROTE");
    notify_world_close(&w);
}

/* R180, R182, R183: a blocked writer sends WAITING_WRITE once (again after its send timed
 * out and blocked anew: nothing); reading from the full queue sends nothing until the
 * window test passes (W = Q - 4096: READ at 4097 free bytes); the READ clears "sent
 * waiting write" and wakes the writer, so its next block sends a new WAITING_WRITE. */
static void test_R180_R182_R183_blocked_writer_waiting_write_until_read(void)
{
    struct notify_world w = notify_world_open(true);
    struct fixture *f = w.f;
    int client_fd, server_fd;
    connected_pair(f, &f->guest_a, &f->host, 9220, &client_fd, &server_fd);
    uint32_t mark = w.sent->count;
    fill_queue(f, &f->guest_a, client_fd);
    struct io_job writer = { .send = true, .fd = client_fd, .size_bytes = 1, .timeout_ms = 1 };
    io_job_start(f, &f->guest_a, &writer);
    ASSERT_U64_EQ(writer.first_error, EAGAIN);
    ASSERT_U64_EQ(blocks_of(w.seen, f->guest_a.process_pid), 2);
    ASSERT_SEQUENCE(w.sent, mark, "100:WAITING_WRITE");
    ASSERT_U64_EQ(w.sent->packets[mark].dst, address_of(CID_HOST, 9220));
    /* tail Q - 1: one byte of room needs position 1 of the next lap: {generation 0, 1} */
    ASSERT_U64_EQ(w.sent->packets[mark].u0, 0);
    ASSERT_U64_EQ(w.sent->packets[mark].u1, 1);
    read_now(f, &f->host, server_fd, WINDOW_STEP_BYTES);
    ASSERT_SEQUENCE(w.sent, mark, "100:WAITING_WRITE");
    read_now(f, &f->host, server_fd, 1);
    ASSERT_SEQUENCE(w.sent, mark, "100:WAITING_WRITE 2:READ");
    ASSERT_RETURNS(writer.rc, 1);
    top_up(f, &f->guest_a, client_fd, WINDOW_STEP_BYTES);          /* 4097 freed, 1 written */
    struct io_job again = { .send = true, .fd = client_fd, .size_bytes = 1 };
    io_job_start(f, &f->guest_a, &again);
    ASSERT_SEQUENCE(w.sent, mark, "100:WAITING_WRITE 2:READ 100:WAITING_WRITE");
    /* the tail wrapped (produce generation 1) and stands at 4096: {1 - 1, 4096 + 2} */
    ASSERT_U64_EQ(w.sent->packets[mark + 2].u0, 0);
    ASSERT_U64_EQ(w.sent->packets[mark + 2].u1, WINDOW_STEP_BYTES + 2);
    read_now(f, &f->host, server_fd, QUEUE_USABLE_BYTES);
    ASSERT_RETURNS(again.rc, 1);
    ASSERT_SEQUENCE(w.sent, mark, "100:WAITING_WRITE 2:READ 100:WAITING_WRITE 2:READ");
    notify_world_close(&w);
}

/* R182: with the packet-based protocol the consumer sends READ only to a peer that waits
 * to write: emptying a full queue sends nothing; a WAITING_WRITE that arrives when the
 * window test already passes is answered with READ at once. */
static void test_R182_read_only_for_waiting_writer_and_at_once_on_waiting_write(void)
{
    struct notify_world w = notify_world_open(true);
    struct fixture *f = w.f;
    int client_fd, server_fd;
    connected_pair(f, &f->guest_a, &f->host, 9230, &client_fd, &server_fd);
    uint32_t mark = w.sent->count;
    fill_queue(f, &f->guest_a, client_fd);
    read_now(f, &f->host, server_fd, QUEUE_USABLE_BYTES);
    ASSERT_SEQUENCE(w.sent, mark, "");                  /* no WROTE, no READ: nobody waits */
    fill_queue(f, &f->guest_a, client_fd);
    read_now(f, &f->host, server_fd, 2 * WINDOW_STEP_BYTES);
    ASSERT_SEQUENCE(w.sent, mark, "");
    inject_from_client(&w, client_fd, server_fd, VSOCK_PACKET_WAITING_WRITE, 0);
    ASSERT_SEQUENCE(w.sent, mark, "2:READ");
    ASSERT_U64_EQ(w.sent->packets[mark].dst,
                  address_of(CID_A, port_of(&f->guest_a, client_fd)));
    read_now(f, &f->host, server_fd, WINDOW_STEP_BYTES);
    ASSERT_SEQUENCE(w.sent, mark, "2:READ");            /* the READ cleared the waiter */
    notify_world_close(&w);
}

/* R184: notifications are delivered in virtual time order and none is lost: in a
 * packet-based exchange every packet sent is received by the peer's stack, in the order
 * sent, no earlier than sent, with the sequence of 7.5. */
static void test_R184_notifications_delivered_in_order_none_lost(void)
{
    struct notify_world w = notify_world_open(true);
    struct fixture *f = w.f;
    int client_fd, server_fd;
    connected_pair(f, &f->guest_a, &f->host, 9240, &client_fd, &server_fd);
    struct io_job reader = { .fd = client_fd, .size_bytes = 1 };
    io_job_start(f, &f->guest_a, &reader);
    ASSERT_RETURNS(vs_send(&f->host, server_fd, "x", 1, 0), 1);
    run_idle(f);
    ASSERT_RETURNS(reader.rc, 1);
    fill_queue(f, &f->guest_a, client_fd);
    struct io_job writer = { .send = true, .fd = client_fd, .size_bytes = 1 };
    io_job_start(f, &f->guest_a, &writer);
    read_now(f, &f->host, server_fd, QUEUE_USABLE_BYTES);
    ASSERT_RETURNS(writer.rc, 1);
    ASSERT_SEQUENCE(w.sent, 0, "100:REQUEST 2:NEGOTIATE 100:OFFER 2:ATTACH 100:WAITING_READ "
                               "2:WROTE 100:WAITING_WRITE 2:READ");
    uint32_t received = 0;
    uint64_t last_ns = 0;
    for (uint32_t index = 0; index < w.seen->count; index++) {
        if (w.seen->events[index].block)
            continue;
        CU_ASSERT_FATAL(received < w.sent->count);
        const struct packet *sent = &w.sent->packets[received++];
        CU_ASSERT_STRING_EQUAL(w.seen->events[index].type, sent->type);
        ASSERT_U64_EQ(w.seen->events[index].ctx, (uint32_t)(sent->dst >> 32));
        CU_ASSERT(w.seen->events[index].time_ns >= sent->time_ns);
        CU_ASSERT(w.seen->events[index].time_ns >= last_ns);
        last_ns = w.seen->events[index].time_ns;
    }
    ASSERT_U64_EQ(received, w.sent->count);
    notify_world_close(&w);
}

CU_ErrorCode vsock_notify_rules_suite_add(void)
{
    static const struct test_entry tests[] = {
        TEST_ENTRY(test_R169_shutdown_packet_ors_mode_and_wakes_reader_mode_zero_ignored),
        TEST_ENTRY(test_R170_rst_with_data_queued_keeps_data_then_eof),
        TEST_ENTRY(test_R170_rst_without_data_is_closing_and_wakes_reader),
        TEST_ENTRY(test_R172_request_to_bound_closed_socket_is_reset),
        TEST_ENTRY(test_R172_request_to_connecting_socket_fails_it_with_eproto),
        TEST_ENTRY(test_R172_request_to_established_socket_is_ignored),
        TEST_ENTRY(test_R173_packet_to_closing_or_closed_socket_gets_rst),
        TEST_ENTRY(test_R174_shutdown_sends_one_packet_with_the_mode),
        TEST_ENTRY(test_R174_shutdown_after_peer_close_still_sends_shutdown),
        TEST_ENTRY(test_R174_failed_shutdown_send_still_shuts_down),
        TEST_ENTRY(test_R171_guest_state_follows_unread_data),
        TEST_ENTRY(test_R175_unexpected_types_ignored_when_established),
        TEST_ENTRY(test_R177_R178_read_after_full_queue_with_shrinking_window),
        TEST_ENTRY(test_R178_window_grows_when_reader_blocks_or_polls),
        TEST_ENTRY(test_R178_recv_start_raises_wmin_without_blocking),
        TEST_ENTRY(test_R179_wrote_wakes_reader_read_wakes_writer_queues_unchanged),
        TEST_ENTRY(test_R180_R181_R183_blocked_reader_waiting_read_once_until_wrote),
        TEST_ENTRY(test_R180_waiting_read_names_positions_across_the_ring_end),
        TEST_ENTRY(test_R181_waiting_read_answered_at_once_when_data_queued),
        TEST_ENTRY(test_R180_R182_R183_blocked_writer_waiting_write_until_read),
        TEST_ENTRY(test_R182_read_only_for_waiting_writer_and_at_once_on_waiting_write),
        TEST_ENTRY(test_R184_notifications_delivered_in_order_none_lost),
    };
    return test_suite_register("vsock_notify_rules", tests, sizeof(tests) / sizeof(tests[0]));
}
