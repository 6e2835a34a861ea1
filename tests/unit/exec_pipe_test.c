/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/exec_pipe_test.c: programs' in-world byte objects (sim/exec/pipe.h, inet.h):
 * a pipe's capacity, atomic small writes, end of file and EPIPE, holders shared as a fork
 * would, datagram socket pairs keeping message boundaries, a reader woken in simulated
 * time by the writer, and the TCP control channel's addresses, ports, listeners, latency
 * and refusals, in IPv4 and IPv6 (dual-stack listeners, IPV6_V6ONLY, v4-mapped peers).
 * Every bound is an error, never a crash; exec_net_check after each step.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <CUnit/CUnit.h>

#include "sim/engine/fiber.h"
#include "sim/exec/inet.h"
#include "sim/exec/pipe.h"
#include "suites.h"
#include "test_support.h"

#ifndef POLLRDHUP
#define POLLRDHUP 0x2000           /* Linux's; glibc shows it only with _GNU_SOURCE */
#endif

struct fixture {
    struct sim_engine *engine;
    struct sim_waitq poll_waitq;
    struct exec_net *net;
};

static void fixture_init(struct fixture *fx)
{
    struct sim_limits limits = sim_limits_default();
    fx->engine = sim_engine_create(&limits, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(fx->engine);
    sim_waitq_init(&fx->poll_waitq, "poll");
    fx->net = exec_net_create(fx->engine, &fx->poll_waitq);
    CU_ASSERT_PTR_NOT_NULL_FATAL(fx->net);
}

static void fixture_fini(struct fixture *fx)
{
    CU_ASSERT_TRUE(exec_net_check(fx->net));
    ASSERT_U64_EQ(fx->net->io_count, 0);            /* every object was released */
    exec_net_destroy(fx->net);
    sim_engine_destroy(fx->engine);
}

static void test_pipe_capacity_eof_and_epipe(void)
{
    struct fixture fx;
    fixture_init(&fx);
    struct exec_io *ends[2];
    CU_ASSERT_EQUAL_FATAL(exec_pipe_create(fx.net, false, ends), 0);
    static uint8_t block[EXEC_PIPE_BYTES_MAX + 100];
    memset(block, 'p', sizeof(block));
    CU_ASSERT_EQUAL(exec_io_write(ends[1], block, sizeof(block), 0), EXEC_PIPE_BYTES_MAX);
    CU_ASSERT_EQUAL(exec_io_write(ends[1], block, 1, 0), -EAGAIN);         /* full */
    CU_ASSERT_EQUAL(exec_io_poll(ends[1], POLLOUT, 0), 0);
    CU_ASSERT_EQUAL(exec_io_readable(ends[0], 0), EXEC_PIPE_BYTES_MAX);
    CU_ASSERT_EQUAL(exec_io_write(ends[0], block, 1, 0), -EBADF);          /* read end */
    uint8_t out[100];
    CU_ASSERT_EQUAL(exec_io_read(ends[0], out, 100, 0, 0), 100);
    /* 100 bytes free: a write of up to PIPE_BUF bytes is all or nothing. */
    CU_ASSERT_EQUAL(exec_io_write(ends[1], block, 200, 0), -EAGAIN);
    CU_ASSERT_EQUAL(exec_io_write(ends[1], block, 100, 0), 100);
    CU_ASSERT_EQUAL(exec_io_read(ends[1], out, 1, 0, 0), -EBADF);           /* write end */
    exec_io_release(ends[1]);                       /* the last writer: end of file next */
    CU_ASSERT_EQUAL(exec_io_poll(ends[0], POLLIN, 0), POLLIN);
    size_t drained = 0;
    ssize_t got;
    while ((got = exec_io_read(ends[0], block, sizeof(block), 0, 0)) > 0)
        drained += (size_t)got;
    ASSERT_U64_EQ(drained, EXEC_PIPE_BYTES_MAX);
    CU_ASSERT_EQUAL(got, 0);
    CU_ASSERT_EQUAL(exec_io_poll(ends[0], POLLIN, 0), POLLIN | POLLHUP);
    exec_io_release(ends[0]);

    CU_ASSERT_EQUAL_FATAL(exec_pipe_create(fx.net, true, ends), 0);
    exec_io_release(ends[0]);                       /* the last reader */
    CU_ASSERT_EQUAL(exec_io_write(ends[1], "x", 1, 0), -EPIPE);
    CU_ASSERT_EQUAL(exec_io_poll(ends[1], POLLOUT, 0) & POLLERR, POLLERR);
    exec_io_release(ends[1]);
    fixture_fini(&fx);
}

static void test_holders_share_an_end(void)
{
    struct fixture fx;
    fixture_init(&fx);
    struct exec_io *ends[2];
    CU_ASSERT_EQUAL_FATAL(exec_pipe_create(fx.net, false, ends), 0);
    exec_io_hold(ends[1]);                          /* a forked child's copy */
    exec_io_release(ends[1]);                       /* the parent closes its own */
    CU_ASSERT_EQUAL(exec_io_write(ends[1], "ab", 2, 0), 2);     /* the child still writes */
    char out[4];
    CU_ASSERT_EQUAL(exec_io_read(ends[0], out, 4, MSG_PEEK, 0), 2);
    CU_ASSERT_EQUAL(exec_io_read(ends[0], out, 4, 0, 0), 2);
    CU_ASSERT_EQUAL(exec_io_read(ends[0], out, 4, 0, 0), -EAGAIN);          /* not yet EOF */
    exec_io_release(ends[1]);
    CU_ASSERT_EQUAL(exec_io_read(ends[0], out, 4, 0, 0), 0);
    exec_io_release(ends[0]);
    fixture_fini(&fx);
}

static void test_socketpair_stream_and_datagrams(void)
{
    struct fixture fx;
    fixture_init(&fx);
    struct exec_io *ends[2];
    CU_ASSERT_EQUAL_FATAL(exec_socketpair_create(fx.net, true, false, ends), 0);
    CU_ASSERT_EQUAL(exec_io_write(ends[0], "hello", 5, 0), 5);
    CU_ASSERT_EQUAL(exec_io_write(ends[0], "", 0, 0), 0);        /* an empty datagram */
    CU_ASSERT_EQUAL(exec_io_write(ends[1], "back", 4, 0), 4);     /* both ways */
    CU_ASSERT_EQUAL(exec_io_readable(ends[1], 0), 5);
    char out[16];
    CU_ASSERT_EQUAL(exec_io_read(ends[1], out, 3, 0, 0), 3);      /* truncated: rest lost */
    CU_ASSERT_EQUAL(memcmp(out, "hel", 3), 0);
    CU_ASSERT_EQUAL(exec_io_read(ends[1], out, 16, 0, 0), 0);     /* the empty one */
    CU_ASSERT_EQUAL(exec_io_read(ends[1], out, 16, 0, 0), -EAGAIN);
    CU_ASSERT_EQUAL(exec_io_read(ends[0], out, 16, 0, 0), 4);
    static uint8_t big[EXEC_SOCKETPAIR_BYTES_MAX];
    CU_ASSERT_EQUAL(exec_io_write(ends[0], big, sizeof(big), 0), -EMSGSIZE);
    exec_io_release(ends[0]);
    exec_io_release(ends[1]);

    CU_ASSERT_EQUAL_FATAL(exec_socketpair_create(fx.net, false, false, ends), 0);
    CU_ASSERT_EQUAL(exec_io_poll(ends[0], POLLIN | POLLOUT, 0), POLLOUT);
    CU_ASSERT_EQUAL(exec_io_shutdown(ends[0], SHUT_WR), 0);
    CU_ASSERT_EQUAL(exec_io_write(ends[0], "x", 1, 0), -EPIPE);
    CU_ASSERT_EQUAL(exec_io_read(ends[1], out, 16, 0, 0), 0);     /* the peer's end of file */
    CU_ASSERT_EQUAL(exec_io_poll(ends[1], POLLIN | POLLRDHUP, 0), POLLIN | POLLRDHUP);
    CU_ASSERT_EQUAL(exec_io_shutdown(ends[1], 7), -EINVAL);
    exec_io_release(ends[1]);
    CU_ASSERT_EQUAL(exec_io_poll(ends[0], POLLIN, 0) & POLLHUP, POLLHUP);   /* gone both ways */
    exec_io_release(ends[0]);
    CU_ASSERT_EQUAL(exec_pipe_create(fx.net, false, ends), 0);
    CU_ASSERT_EQUAL(exec_io_shutdown(ends[0], SHUT_RD), -ENOTSOCK);
    exec_io_release(ends[0]);
    exec_io_release(ends[1]);
    fixture_fini(&fx);
}

static void test_objects_run_out_with_enfile(void)
{
    struct fixture fx;
    fixture_init(&fx);
    static struct exec_io *pairs[EXEC_IO_OBJECTS_MAX / 2][2];
    for (uint32_t index = 0; index < EXEC_IO_OBJECTS_MAX / 2; index++)
        CU_ASSERT_EQUAL_FATAL(exec_pipe_create(fx.net, false, pairs[index]), 0);
    struct exec_io *more[2];
    CU_ASSERT_EQUAL(exec_pipe_create(fx.net, false, more), -ENFILE);
    struct exec_io *inet = NULL;
    CU_ASSERT_EQUAL(exec_inet_socket(fx.net, 0, false, false, &inet), -ENFILE);
    for (uint32_t index = 0; index < EXEC_IO_OBJECTS_MAX / 2; index++) {
        exec_io_release(pairs[index][0]);
        exec_io_release(pairs[index][1]);
    }
    fixture_fini(&fx);
}

/* ---- A reader woken in simulated time --------------------------------------------------- */

struct wake_case {
    struct exec_io *ends[2];
    uint64_t read_at_ns;
    ssize_t got;
};

static void reader_fiber(struct sim_engine *engine, void *arg)
{
    struct wake_case *wake = arg;
    char out[8];
    for (int tries = 0; tries < 10; tries++) {
        wake->got = exec_io_read(wake->ends[0], out, sizeof(out), 0, sim_engine_now(engine));
        if (wake->got != -EAGAIN)
            break;
        if (sim_fiber_wait(engine, exec_io_waitq(wake->ends[0]),
                           exec_io_next_ns(wake->ends[0], sim_engine_now(engine))) < 0)
            return;
    }
    wake->read_at_ns = sim_engine_now(engine);
}

static void writer_fiber(struct sim_engine *engine, void *arg)
{
    struct wake_case *wake = arg;
    CU_ASSERT_EQUAL(sim_fiber_sleep(engine, 7000), 0);
    CU_ASSERT_EQUAL(exec_io_write(wake->ends[1], "w", 1, sim_engine_now(engine)), 1);
}

static void test_reader_wakes_when_the_writer_writes(void)
{
    struct fixture fx;
    fixture_init(&fx);
    struct wake_case wake = { .got = -1 };
    CU_ASSERT_EQUAL_FATAL(exec_pipe_create(fx.net, false, wake.ends), 0);
    CU_ASSERT_EQUAL(sim_fiber_spawn(fx.engine, 2, "reader", reader_fiber, &wake, 0, false, NULL),
                    0);
    CU_ASSERT_EQUAL(sim_fiber_spawn(fx.engine, 2, "writer", writer_fiber, &wake, 0, false, NULL),
                    0);
    struct sim_run_result result;
    sim_engine_run(fx.engine, SIM_TIME_NEVER, 0, &result);
    CU_ASSERT_EQUAL(wake.got, 1);
    ASSERT_U64_EQ(wake.read_at_ns, 7000);           /* the write's simulated time */
    exec_io_release(wake.ends[0]);
    exec_io_release(wake.ends[1]);
    fixture_fini(&fx);
}

/* ---- The TCP control channel ----------------------------------------------------------- */

static struct sockaddr_in address_of(uint32_t host, uint16_t port)
{
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons(port) };
    address.sin_addr.s_addr = htonl(host);
    return address;
}

static void test_inet_addresses(void)
{
    ASSERT_U64_EQ(exec_inet_address(0), 0xc0000202u);                /* 192.0.2.2 */
    ASSERT_U64_EQ(exec_inet_address(1), 0xc0000210u);                /* 192.0.2.16 */
    ASSERT_U64_EQ(exec_inet_address(EXEC_INET_ENDPOINTS_MAX - 1), 0xc00002feu);  /* .254 */
    ASSERT_U64_EQ(exec_inet_address(EXEC_INET_ENDPOINTS_MAX), 0);
    uint32_t endpoint = 99;
    CU_ASSERT_EQUAL(exec_inet_endpoint_of(3, 0x7f000001u, &endpoint), 0);
    ASSERT_U64_EQ(endpoint, 3);                                       /* loopback: itself */
    CU_ASSERT_EQUAL(exec_inet_endpoint_of(3, 0xc0000211u, &endpoint), 0);
    ASSERT_U64_EQ(endpoint, 2);
    CU_ASSERT_EQUAL(exec_inet_endpoint_of(3, 0x08080808u, &endpoint), -EHOSTUNREACH);
}

static void test_inet_connect_accept_and_latency(void)
{
    struct fixture fx;
    fixture_init(&fx);
    struct exec_io *listener = NULL, *client = NULL, *server = NULL, *other = NULL;
    CU_ASSERT_EQUAL_FATAL(exec_inet_socket(fx.net, 0, false, false, &listener), 0);
    struct sockaddr_in any = address_of(INADDR_ANY, 7000);
    struct sockaddr_in foreign = address_of(0xc0000210u, 7000);      /* a guest's address */
    CU_ASSERT_EQUAL(exec_inet_bind(listener, &foreign, sizeof(foreign)), -EADDRNOTAVAIL);
    CU_ASSERT_EQUAL(exec_inet_bind(listener, &any, 4), -EINVAL);
    CU_ASSERT_EQUAL(exec_inet_bind(listener, &any, sizeof(any)), 0);
    CU_ASSERT_EQUAL(exec_inet_listen(listener, 1), 0);
    CU_ASSERT_EQUAL_FATAL(exec_inet_socket(fx.net, 0, false, false, &other), 0);
    CU_ASSERT_EQUAL(exec_inet_bind(other, &any, sizeof(any)), -EADDRINUSE);
    exec_io_release(other);
    CU_ASSERT_EQUAL(exec_inet_accept(listener, &server), -EAGAIN);
    CU_ASSERT_EQUAL_FATAL(exec_inet_socket(fx.net, 1, false, false, &client), 0);
    struct sockaddr_in host = address_of(0xc0000202u, 7000);
    struct sockaddr_in closed = address_of(0xc0000202u, 7001);
    CU_ASSERT_EQUAL(exec_inet_connect(client, &closed, sizeof(closed)), -ECONNREFUSED);
    CU_ASSERT_EQUAL(exec_inet_connect(client, &host, sizeof(host)), 0);
    CU_ASSERT_EQUAL(exec_inet_connect(client, &host, sizeof(host)), -EISCONN);
    CU_ASSERT_EQUAL(exec_io_poll(listener, POLLIN, 0), POLLIN);
    CU_ASSERT_EQUAL_FATAL(exec_inet_accept(listener, &server), 0);
    struct sockaddr_in name;
    CU_ASSERT_EQUAL(exec_inet_name(client, false, &name), (int)sizeof(name));
    ASSERT_U64_EQ(ntohl(name.sin_addr.s_addr), 0xc0000210u);          /* 192.0.2.16 */
    ASSERT_U64_EQ(ntohs(name.sin_port), EXEC_INET_PORT_EPHEMERAL_FIRST);
    CU_ASSERT_EQUAL(exec_inet_name(server, true, &name), (int)sizeof(name));
    ASSERT_U64_EQ(ntohs(name.sin_port), EXEC_INET_PORT_EPHEMERAL_FIRST);
    CU_ASSERT_EQUAL(exec_inet_name(listener, true, &name), -ENOTCONN);
    /* Bytes arrive one latency after they were written. */
    CU_ASSERT_EQUAL(exec_io_write(client, "ping", 4, 1000), 4);
    char out[8];
    CU_ASSERT_EQUAL(exec_io_read(server, out, 8, 0, 1000), -EAGAIN);
    ASSERT_U64_EQ(exec_io_next_ns(server, 1000), 1000 + EXEC_INET_LATENCY_NS);
    CU_ASSERT_EQUAL(exec_io_read(server, out, 8, 0, 1000 + EXEC_INET_LATENCY_NS), 4);
    /* The client goes: the server reads end of file once the bytes in flight are read. */
    CU_ASSERT_EQUAL(exec_io_write(client, "bye", 3, 2000), 3);
    exec_io_release(client);
    CU_ASSERT_EQUAL(exec_io_read(server, out, 8, 0, 2000), -EAGAIN);
    CU_ASSERT_EQUAL(exec_io_read(server, out, 8, 0, 2000 + EXEC_INET_LATENCY_NS), 3);
    CU_ASSERT_EQUAL(exec_io_read(server, out, 8, 0, 2000 + EXEC_INET_LATENCY_NS), 0);
    exec_io_release(server);
    exec_io_release(listener);
    fixture_fini(&fx);
}

static void test_inet_backlog_and_unaccepted_reset(void)
{
    struct fixture fx;
    fixture_init(&fx);
    struct exec_io *listener = NULL, *clients[3] = { NULL, NULL, NULL };
    CU_ASSERT_EQUAL_FATAL(exec_inet_socket(fx.net, 2, false, false, &listener), 0);
    struct sockaddr_in loopback = address_of(0x7f000001u, 80);
    CU_ASSERT_EQUAL(exec_inet_bind(listener, &loopback, sizeof(loopback)), 0);
    CU_ASSERT_EQUAL(exec_inet_listen(listener, 2), 0);
    for (int index = 0; index < 3; index++)
        CU_ASSERT_EQUAL_FATAL(exec_inet_socket(fx.net, 2, false, false, &clients[index]), 0);
    struct sockaddr_in from_outside = address_of(0xc0000211u, 80);   /* endpoint 2's own */
    CU_ASSERT_EQUAL(exec_inet_connect(clients[0], &from_outside, sizeof(from_outside)),
                    -ECONNREFUSED);                 /* bound to loopback only */
    CU_ASSERT_EQUAL(exec_inet_connect(clients[0], &loopback, sizeof(loopback)), 0);
    CU_ASSERT_EQUAL(exec_inet_connect(clients[1], &loopback, sizeof(loopback)), 0);
    CU_ASSERT_EQUAL(exec_inet_connect(clients[2], &loopback, sizeof(loopback)), -ECONNREFUSED);
    exec_io_release(listener);                      /* two connections never accepted */
    char out[4];
    CU_ASSERT_EQUAL(exec_io_read(clients[0], out, 4, 0, 1u << 20), -ECONNRESET);
    CU_ASSERT_EQUAL(exec_io_poll(clients[1], POLLIN, 1u << 20) & POLLERR, POLLERR);
    for (int index = 0; index < 3; index++)
        exec_io_release(clients[index]);
    fixture_fini(&fx);
}

static void test_inet_datagrams(void)
{
    struct fixture fx;
    fixture_init(&fx);
    struct exec_io *receiver = NULL, *sender = NULL, *stream = NULL, *full = NULL;
    CU_ASSERT_EQUAL_FATAL(exec_inet_socket(fx.net, 1, true, false, &receiver), 0);
    CU_ASSERT_EQUAL_FATAL(exec_inet_socket(fx.net, 0, true, false, &sender), 0);
    CU_ASSERT_EQUAL_FATAL(exec_inet_socket(fx.net, 1, false, false, &stream), 0);
    struct sockaddr_in any = address_of(INADDR_ANY, 9000);
    CU_ASSERT_EQUAL(exec_inet_bind(receiver, &any, sizeof(any)), 0);
    CU_ASSERT_EQUAL(exec_inet_bind(stream, &any, sizeof(any)), 0);     /* TCP's own port */
    CU_ASSERT_EQUAL(exec_inet_listen(receiver, 1), -EOPNOTSUPP);
    CU_ASSERT_EQUAL(exec_inet_sendto(sender, "x", 1, NULL, 0, 0, &full), -EDESTADDRREQ);
    struct sockaddr_in guest = address_of(0xc0000210u, 9000);         /* endpoint 1 */
    CU_ASSERT_EQUAL(exec_inet_sendto(sender, "hello", 5, &guest, sizeof(guest), 100, &full), 5);
    char out[8];
    struct sockaddr_in from;
    CU_ASSERT_EQUAL(exec_inet_recvfrom(receiver, out, sizeof(out), false, &from, 100), -EAGAIN);
    CU_ASSERT_EQUAL(exec_io_poll(receiver, POLLIN | POLLOUT, 100), POLLOUT);
    uint64_t arrival = 100 + EXEC_INET_LATENCY_NS;
    CU_ASSERT_EQUAL(exec_io_readable(receiver, arrival), 5);
    CU_ASSERT_EQUAL(exec_inet_recvfrom(receiver, out, 3, false, &from, arrival), 3);  /* cut */
    CU_ASSERT_EQUAL(memcmp(out, "hel", 3), 0);
    ASSERT_U64_EQ(ntohl(from.sin_addr.s_addr), 0xc0000202u);          /* from the host */
    ASSERT_U64_EQ(ntohs(from.sin_port), EXEC_INET_PORT_EPHEMERAL_FIRST);   /* auto-bound */
    CU_ASSERT_EQUAL(exec_inet_recvfrom(receiver, out, 8, false, &from, arrival), -EAGAIN);
    /* Nobody bound there: dropped, as UDP does. Too long for any queue: EMSGSIZE. */
    struct sockaddr_in unbound = address_of(0xc0000210u, 9001);
    CU_ASSERT_EQUAL(exec_inet_sendto(sender, "lost", 4, &unbound, sizeof(unbound), 0, &full), 4);
    static uint8_t big[EXEC_INET_DGRAM_QUEUE_BYTES];
    CU_ASSERT_EQUAL(exec_inet_sendto(sender, big, sizeof(big), &guest, sizeof(guest), 0, &full),
                    -EMSGSIZE);
    /* A full queue: the sender learns which socket to wait for. */
    CU_ASSERT_EQUAL(exec_inet_connect(sender, &guest, sizeof(guest)), 0);
    ssize_t rc;
    uint32_t queued = 0;
    while ((rc = exec_inet_sendto(sender, big, 1000, NULL, 0, 0, &full)) == 1000)
        queued++;
    CU_ASSERT_EQUAL(rc, -EAGAIN);
    CU_ASSERT_PTR_EQUAL(full, receiver);
    ASSERT_U64_EQ(queued, EXEC_INET_DGRAM_QUEUE_BYTES / (1000 + EXEC_INET_DGRAM_HEAD_BYTES + 4));
    exec_io_release(stream);
    exec_io_release(sender);
    exec_io_release(receiver);
    fixture_fini(&fx);
}

/* ---- IPv6 on the control channel --------------------------------------------------------- */

static struct sockaddr_in6 address6_of(const char *text, uint16_t port)
{
    struct sockaddr_in6 address = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
    CU_ASSERT_EQUAL(inet_pton(AF_INET6, text, &address.sin6_addr), 1);
    return address;
}

static bool address6_is(const struct in6_addr *address, const char *text)
{
    struct in6_addr expected;
    return inet_pton(AF_INET6, text, &expected) == 1 &&
           memcmp(address, &expected, sizeof(expected)) == 0;
}

static void test_inet6_addresses(void)
{
    struct in6_addr address;
    CU_ASSERT_TRUE(exec_inet_address6(0, &address));
    CU_ASSERT_TRUE(address6_is(&address, "2001:db8::2"));
    CU_ASSERT_TRUE(exec_inet_address6(1, &address));
    CU_ASSERT_TRUE(address6_is(&address, "2001:db8::10"));
    CU_ASSERT_TRUE(exec_inet_address6(EXEC_INET_ENDPOINTS_MAX - 1, &address));
    CU_ASSERT_TRUE(address6_is(&address, "2001:db8::fe"));
    CU_ASSERT_FALSE(exec_inet_address6(EXEC_INET_ENDPOINTS_MAX, &address));
    uint32_t endpoint = 99;
    struct sockaddr_in6 probe = address6_of("::1", 0);
    CU_ASSERT_EQUAL(exec_inet_endpoint_of6(3, &probe.sin6_addr, &endpoint), 0);
    ASSERT_U64_EQ(endpoint, 3);                                       /* loopback: itself */
    probe = address6_of("2001:db8::11", 0);
    CU_ASSERT_EQUAL(exec_inet_endpoint_of6(3, &probe.sin6_addr, &endpoint), 0);
    ASSERT_U64_EQ(endpoint, 2);
    probe = address6_of("::ffff:192.0.2.2", 0);                       /* v4-mapped: the host */
    CU_ASSERT_EQUAL(exec_inet_endpoint_of6(3, &probe.sin6_addr, &endpoint), 0);
    ASSERT_U64_EQ(endpoint, 0);
    probe = address6_of("2001:db8::1:11", 0);                         /* outside the range */
    CU_ASSERT_EQUAL(exec_inet_endpoint_of6(3, &probe.sin6_addr, &endpoint), -EHOSTUNREACH);
    probe = address6_of("2001:db8::ff", 0);
    CU_ASSERT_EQUAL(exec_inet_endpoint_of6(3, &probe.sin6_addr, &endpoint), -EHOSTUNREACH);
    char text[EXEC_INET_TEXT_BYTES];
    probe = address6_of("2001:db8::10", 0);
    exec_inet_format(&probe.sin6_addr, 80, text);
    CU_ASSERT_STRING_EQUAL(text, "[2001:db8::10]:80");
    probe = address6_of("::ffff:192.0.2.16", 0);
    exec_inet_format(&probe.sin6_addr, 80, text);
    CU_ASSERT_STRING_EQUAL(text, "192.0.2.16:80");                  /* as an IPv4 socket's */
}

/* A dual-stack listener on [::] takes IPv4 and IPv6 clients and holds the port in both
 * families; the IPv4 client's address comes back v4-mapped. */
static void test_inet6_dual_stack_listener(void)
{
    struct fixture fx;
    fixture_init(&fx);
    struct exec_io *listener = NULL, *v4 = NULL, *client4 = NULL, *client6 = NULL;
    struct exec_io *server = NULL;
    CU_ASSERT_EQUAL_FATAL(exec_inet_socket_family(fx.net, 0, AF_INET6, false, false,
                                                  &listener), 0);
    struct sockaddr_in any4 = address_of(INADDR_ANY, 7000);
    CU_ASSERT_EQUAL(exec_inet_bind(listener, &any4, sizeof(any4)), -EINVAL);   /* too short */
    struct sockaddr_in6 wrong = address6_of("::", 7000);
    wrong.sin6_family = AF_INET;
    CU_ASSERT_EQUAL(exec_inet_bind(listener, &wrong, sizeof(wrong)), -EAFNOSUPPORT);
    struct sockaddr_in6 guest = address6_of("2001:db8::10", 7000);   /* not the host's */
    CU_ASSERT_EQUAL(exec_inet_bind(listener, &guest, sizeof(guest)), -EADDRNOTAVAIL);
    struct sockaddr_in6 any6 = address6_of("::", 7000);
    CU_ASSERT_EQUAL(exec_inet_bind(listener, &any6, sizeof(any6)), 0);
    CU_ASSERT_EQUAL(exec_inet_set_v6only(listener, true), -EINVAL);   /* bound already */
    CU_ASSERT_EQUAL(exec_inet_listen(listener, 4), 0);
    CU_ASSERT_EQUAL_FATAL(exec_inet_socket(fx.net, 0, false, false, &v4), 0);
    CU_ASSERT_EQUAL(exec_inet_bind(v4, &any4, sizeof(any4)), -EADDRINUSE);     /* both */
    CU_ASSERT_EQUAL(exec_inet_set_v6only(v4, true), -ENOPROTOOPT);
    exec_io_release(v4);
    CU_ASSERT_EQUAL_FATAL(exec_inet_socket(fx.net, 1, false, false, &client4), 0);
    struct sockaddr_in host4 = address_of(0xc0000202u, 7000);
    CU_ASSERT_EQUAL(exec_inet_connect(client4, &host4, sizeof(host4)), 0);
    CU_ASSERT_EQUAL_FATAL(exec_inet_accept(listener, &server), 0);
    struct sockaddr_in6 name;
    CU_ASSERT_EQUAL(exec_inet_name(server, true, &name), (int)sizeof(name));
    CU_ASSERT_EQUAL(name.sin6_family, AF_INET6);
    CU_ASSERT_TRUE(address6_is(&name.sin6_addr, "::ffff:192.0.2.16"));
    ASSERT_U64_EQ(ntohs(name.sin6_port), EXEC_INET_PORT_EPHEMERAL_FIRST);
    exec_io_release(server);
    CU_ASSERT_EQUAL_FATAL(exec_inet_socket_family(fx.net, 2, AF_INET6, false, false,
                                                  &client6), 0);
    struct sockaddr_in6 host6 = address6_of("2001:db8::2", 7000);
    CU_ASSERT_EQUAL(exec_inet_connect(client6, &host6, sizeof(host6)), 0);
    CU_ASSERT_EQUAL(exec_inet_name(client6, false, &name), (int)sizeof(name));
    CU_ASSERT_TRUE(address6_is(&name.sin6_addr, "2001:db8::11"));     /* endpoint 2 */
    CU_ASSERT_EQUAL_FATAL(exec_inet_accept(listener, &server), 0);
    CU_ASSERT_EQUAL(exec_inet_name(server, false, &name), (int)sizeof(name));
    CU_ASSERT_TRUE(address6_is(&name.sin6_addr, "2001:db8::2"));
    CU_ASSERT_EQUAL(exec_inet_name(server, true, &name), (int)sizeof(name));
    CU_ASSERT_TRUE(address6_is(&name.sin6_addr, "2001:db8::11"));
    CU_ASSERT_TRUE(exec_net_check(fx.net));
    exec_io_release(server);
    exec_io_release(client6);
    exec_io_release(client4);
    exec_io_release(listener);
    fixture_fini(&fx);
}

/* IPV6_V6ONLY: the listener leaves IPv4 to an AF_INET one on the same port, and an IPv4
 * destination is unreachable from it; [::1] reaches only its own endpoint. */
static void test_inet6_v6only_and_loopback(void)
{
    struct fixture fx;
    fixture_init(&fx);
    struct exec_io *only6 = NULL, *v4 = NULL, *client = NULL, *server = NULL, *mixed = NULL;
    CU_ASSERT_EQUAL_FATAL(exec_inet_socket_family(fx.net, 1, AF_INET6, false, false, &only6),
                          0);
    CU_ASSERT_EQUAL(exec_inet_set_v6only(only6, true), 0);
    struct sockaddr_in6 any6 = address6_of("::", 8000);
    CU_ASSERT_EQUAL(exec_inet_bind(only6, &any6, sizeof(any6)), 0);
    CU_ASSERT_EQUAL(exec_inet_listen(only6, 4), 0);
    CU_ASSERT_EQUAL_FATAL(exec_inet_socket(fx.net, 1, false, false, &v4), 0);
    struct sockaddr_in any4 = address_of(INADDR_ANY, 8000);
    CU_ASSERT_EQUAL(exec_inet_bind(v4, &any4, sizeof(any4)), 0);      /* IPv4 is free */
    CU_ASSERT_EQUAL(exec_inet_listen(v4, 4), 0);
    CU_ASSERT_EQUAL_FATAL(exec_inet_socket_family(fx.net, 1, AF_INET6, false, false, &mixed),
                          0);
    CU_ASSERT_EQUAL(exec_inet_set_v6only(mixed, true), 0);
    struct sockaddr_in6 to_v4 = address6_of("::ffff:127.0.0.1", 8000);
    CU_ASSERT_EQUAL(exec_inet_connect(mixed, &to_v4, sizeof(to_v4)), -ENETUNREACH);
    CU_ASSERT_EQUAL(exec_inet_bind(mixed, &to_v4, sizeof(to_v4)), -EINVAL);
    exec_io_release(mixed);
    /* [::1] from the same endpoint reaches the IPv6 listener, from itself. */
    CU_ASSERT_EQUAL_FATAL(exec_inet_socket_family(fx.net, 1, AF_INET6, false, false, &client),
                          0);
    struct sockaddr_in6 loopback = address6_of("::1", 8000);
    CU_ASSERT_EQUAL(exec_inet_connect(client, &loopback, sizeof(loopback)), 0);
    CU_ASSERT_EQUAL_FATAL(exec_inet_accept(only6, &server), 0);
    CU_ASSERT_EQUAL(exec_inet_accept(v4, &server), -EAGAIN);          /* not the IPv4 one */
    struct sockaddr_in6 name;
    CU_ASSERT_EQUAL(exec_inet_name(client, false, &name), (int)sizeof(name));
    CU_ASSERT_TRUE(address6_is(&name.sin6_addr, "::1"));
    exec_io_release(server);
    exec_io_release(client);
    /* A v4-mapped destination from a dual-stack socket reaches the IPv4 listener. */
    CU_ASSERT_EQUAL_FATAL(exec_inet_socket_family(fx.net, 1, AF_INET6, false, false, &client),
                          0);
    CU_ASSERT_EQUAL(exec_inet_connect(client, &to_v4, sizeof(to_v4)), 0);
    CU_ASSERT_EQUAL_FATAL(exec_inet_accept(v4, &server), 0);
    struct sockaddr_in name4;
    CU_ASSERT_EQUAL(exec_inet_name(server, true, &name4), (int)sizeof(name4));
    ASSERT_U64_EQ(ntohl(name4.sin_addr.s_addr), 0x7f000001u);
    CU_ASSERT_EQUAL(exec_inet_name(client, false, &name), (int)sizeof(name));
    CU_ASSERT_TRUE(address6_is(&name.sin6_addr, "::ffff:127.0.0.1"));
    CU_ASSERT_TRUE(exec_net_check(fx.net));
    exec_io_release(server);
    exec_io_release(client);
    exec_io_release(v4);
    exec_io_release(only6);
    fixture_fini(&fx);
}

/* A datagram from an IPv4 socket to a dual-stack one: its sender comes back v4-mapped. */
static void test_inet6_datagrams(void)
{
    struct fixture fx;
    fixture_init(&fx);
    struct exec_io *receiver = NULL, *sender = NULL, *full = NULL;
    CU_ASSERT_EQUAL_FATAL(exec_inet_socket_family(fx.net, 1, AF_INET6, true, false,
                                                  &receiver), 0);
    CU_ASSERT_EQUAL_FATAL(exec_inet_socket(fx.net, 0, true, false, &sender), 0);
    struct sockaddr_in6 any6 = address6_of("::", 9000);
    CU_ASSERT_EQUAL(exec_inet_bind(receiver, &any6, sizeof(any6)), 0);
    struct sockaddr_in guest = address_of(0xc0000210u, 9000);
    CU_ASSERT_EQUAL(exec_inet_sendto(sender, "hi", 2, &guest, sizeof(guest), 0, &full), 2);
    char out[4];
    struct sockaddr_in6 from;
    CU_ASSERT_EQUAL(exec_inet_recvfrom(receiver, out, sizeof(out), false, &from,
                                       EXEC_INET_LATENCY_NS), 2);
    CU_ASSERT_EQUAL(from.sin6_family, AF_INET6);
    CU_ASSERT_TRUE(address6_is(&from.sin6_addr, "::ffff:192.0.2.2"));
    ASSERT_U64_EQ(ntohs(from.sin6_port), EXEC_INET_PORT_EPHEMERAL_FIRST);
    exec_io_release(sender);
    exec_io_release(receiver);
    fixture_fini(&fx);
}

CU_ErrorCode exec_pipe_suite_add(void)
{
    static const struct test_entry tests[] = {
        TEST_ENTRY(test_pipe_capacity_eof_and_epipe),
        TEST_ENTRY(test_holders_share_an_end),
        TEST_ENTRY(test_socketpair_stream_and_datagrams),
        TEST_ENTRY(test_objects_run_out_with_enfile),
        TEST_ENTRY(test_reader_wakes_when_the_writer_writes),
        TEST_ENTRY(test_inet_addresses),
        TEST_ENTRY(test_inet_connect_accept_and_latency),
        TEST_ENTRY(test_inet_backlog_and_unaccepted_reset),
        TEST_ENTRY(test_inet_datagrams),
        TEST_ENTRY(test_inet6_addresses),
        TEST_ENTRY(test_inet6_dual_stack_listener),
        TEST_ENTRY(test_inet6_v6only_and_loopback),
        TEST_ENTRY(test_inet6_datagrams),
    };
    return test_suite_register("exec_pipe", tests, sizeof(tests) / sizeof(tests[0]));
}
