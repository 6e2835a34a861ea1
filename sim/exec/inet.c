/* SPDX-License-Identifier: MIT */
/*
 * sim/exec/inet.c: the TCP control channel's sockets (inet.h): addresses, ports,
 * listeners and connections over the links of pipe.c, and datagrams over a receive
 * queue per datagram socket (a link with one end). TCP and UDP ports are separate; IPv4
 * and IPv6 share them (a dual-stack socket holds its port in both).
 *
 * Every address is kept as an in6_addr, an IPv4 one v4-mapped (::ffff:a.b.c.d), so one
 * comparison serves both families; a socket's family only decides which addresses it may
 * use and reach (reach_of) and how its names are written out (name_write).
 *
 * Bound sockets are on the net's list in bind order, and every search walks it in that
 * order, so which listener a connect finds never depends on addresses in memory.
 * Invariant: a socket is on the list exactly while it has a local port (bound, listening
 * or a connected client); accepted sockets share their listener's port and are not.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "inet.h"

#define LOOPBACK_ADDRESS 0x7f000001u

static const uint8_t inet6_prefix[4] = { 0x20, 0x01, 0x0d, 0xb8 };     /* 2001:db8:: */

/* ---- Addresses ------------------------------------------------------------------------- */

static struct in6_addr mapped(uint32_t address)
{
    struct in6_addr out;
    memset(&out, 0, sizeof(out));
    out.s6_addr[10] = out.s6_addr[11] = 0xff;
    uint32_t network = htonl(address);
    memcpy(&out.s6_addr[12], &network, 4);
    return out;
}

static bool is_mapped(const struct in6_addr *address)
{
    return IN6_IS_ADDR_V4MAPPED(address);
}

/* The IPv4 address (host byte order) of a v4-mapped one. */
static uint32_t v4_of(const struct in6_addr *address)
{
    uint32_t network;
    memcpy(&network, &address->s6_addr[12], 4);
    return ntohl(network);
}

static bool is_any(const struct in6_addr *address)
{
    return IN6_IS_ADDR_UNSPECIFIED(address) || (is_mapped(address) && v4_of(address) == 0);
}

static bool is_loopback(const struct in6_addr *address)
{
    return IN6_IS_ADDR_LOOPBACK(address) ||
           (is_mapped(address) && (v4_of(address) >> 24) == 127);
}

/* The same address; all of 127.0.0.0/8 counts as one, as the endpoint itself. */
static bool same_address(const struct in6_addr *a, const struct in6_addr *b)
{
    if (is_mapped(a) && is_mapped(b) && (v4_of(a) >> 24) == 127 && (v4_of(b) >> 24) == 127)
        return true;
    return memcmp(a, b, sizeof(*a)) == 0;
}

uint32_t exec_inet_address(uint32_t endpoint)
{
    if (endpoint == 0)
        return EXEC_INET_HOST_ADDRESS;
    if (endpoint >= EXEC_INET_ENDPOINTS_MAX)
        return 0;
    return EXEC_INET_GUEST_ADDRESS_FIRST + endpoint - 1;
}

bool exec_inet_address6(uint32_t endpoint, struct in6_addr *out)
{
    assert(out != NULL);
    memset(out, 0, sizeof(*out));
    if (endpoint >= EXEC_INET_ENDPOINTS_MAX)
        return false;
    memcpy(out->s6_addr, inet6_prefix, sizeof(inet6_prefix));
    out->s6_addr[15] = (uint8_t)(endpoint == 0 ? EXEC_INET6_HOST_LAST_BYTE
                                               : EXEC_INET6_GUEST_LAST_BYTE_FIRST + endpoint - 1);
    return true;
}

static bool loopback(uint32_t address)
{
    return (address >> 24) == 127 || address == INADDR_ANY;
}

int exec_inet_endpoint_of(uint32_t self, uint32_t address, uint32_t *endpoint_out)
{
    if (loopback(address)) {
        *endpoint_out = self;
        return 0;
    }
    if (address == EXEC_INET_HOST_ADDRESS) {
        *endpoint_out = 0;
        return 0;
    }
    if (address >= EXEC_INET_GUEST_ADDRESS_FIRST &&
        address < EXEC_INET_GUEST_ADDRESS_FIRST + EXEC_INET_ENDPOINTS_MAX - 1) {
        *endpoint_out = address - EXEC_INET_GUEST_ADDRESS_FIRST + 1;
        return 0;
    }
    return -EHOSTUNREACH;
}

int exec_inet_endpoint_of6(uint32_t self, const struct in6_addr *address,
                           uint32_t *endpoint_out)
{
    assert(address != NULL && endpoint_out != NULL);
    if (is_mapped(address))
        return exec_inet_endpoint_of(self, v4_of(address), endpoint_out);
    if (IN6_IS_ADDR_UNSPECIFIED(address) || IN6_IS_ADDR_LOOPBACK(address)) {
        *endpoint_out = self;
        return 0;
    }
    static const uint8_t zeros[11];
    if (memcmp(address->s6_addr, inet6_prefix, sizeof(inet6_prefix)) != 0 ||
        memcmp(&address->s6_addr[4], zeros, sizeof(zeros)) != 0)
        return -EHOSTUNREACH;
    uint32_t last = address->s6_addr[15];
    if (last == EXEC_INET6_HOST_LAST_BYTE) {
        *endpoint_out = 0;
        return 0;
    }
    if (last >= EXEC_INET6_GUEST_LAST_BYTE_FIRST &&
        last < EXEC_INET6_GUEST_LAST_BYTE_FIRST + EXEC_INET_ENDPOINTS_MAX - 1) {
        *endpoint_out = last - EXEC_INET6_GUEST_LAST_BYTE_FIRST + 1;
        return 0;
    }
    return -EHOSTUNREACH;
}

/* The endpoint's own address of the same kind as `toward` (v4-mapped or IPv6): a loopback
 * one when `toward` is a loopback address. */
static struct in6_addr own_address(uint32_t endpoint, const struct in6_addr *toward)
{
    struct in6_addr out;
    if (is_mapped(toward))
        return mapped(is_loopback(toward) ? LOOPBACK_ADDRESS : exec_inet_address(endpoint));
    if (is_loopback(toward))
        return in6addr_loopback;
    (void)exec_inet_address6(endpoint, &out);
    return out;
}

void exec_inet_format(const struct in6_addr *address, uint16_t port,
                      char text[EXEC_INET_TEXT_BYTES])
{
    assert(address != NULL && text != NULL);
    if (is_mapped(address)) {
        uint32_t v4 = v4_of(address);
        snprintf(text, EXEC_INET_TEXT_BYTES, "%u.%u.%u.%u:%u", v4 >> 24, (v4 >> 16) & 0xff,
                 (v4 >> 8) & 0xff, v4 & 0xff, port);
        return;
    }
    char numeric[INET6_ADDRSTRLEN];
    if (inet_ntop(AF_INET6, address, numeric, sizeof(numeric)) == NULL)
        snprintf(numeric, sizeof(numeric), "?");
    snprintf(text, EXEC_INET_TEXT_BYTES, "[%s]:%u", numeric, port);
}

/* ---- Sockets ----------------------------------------------------------------------------- */

int exec_inet_socket_family(struct exec_net *net, uint32_t endpoint, int family,
                            bool datagram, bool nonblock, struct exec_io **out)
{
    assert(net != NULL && out != NULL);
    if (endpoint >= EXEC_INET_ENDPOINTS_MAX || (family != AF_INET && family != AF_INET6))
        return -EAFNOSUPPORT;               /* this endpoint has no address */
    struct exec_io *io = exec__io_new(net, datagram ? EXEC_IO_INET_DGRAM : EXEC_IO_INET_STREAM,
                                      nonblock);
    if (io == NULL)
        return net->io_count >= EXEC_IO_OBJECTS_MAX ? -ENFILE : -ENOMEM;
    if (datagram &&
        exec__link_new(net, io, NULL, EXEC_INET_DGRAM_QUEUE_BYTES, true, net->latency_ns) < 0) {
        assert(net->io_count > 0);
        net->io_count--;
        free(io);
        return -ENOMEM;
    }
    io->endpoint = endpoint;
    io->family = family;
    /* Unbound: 0.0.0.0:0 or [::]:0. */
    io->local_address = io->peer_address = family == AF_INET ? mapped(INADDR_ANY) : in6addr_any;
    io->holders = 1;
    *out = io;
    return 0;
}

int exec_inet_socket(struct exec_net *net, uint32_t endpoint, bool datagram, bool nonblock,
                     struct exec_io **out)
{
    return exec_inet_socket_family(net, endpoint, AF_INET, datagram, nonblock, out);
}

int exec_inet_set_v6only(struct exec_io *io, bool v6only)
{
    assert(io != NULL);
    if (io->family != AF_INET6)
        return -ENOPROTOOPT;
    if (io->state != EXEC_INET_NEW)
        return -EINVAL;                     /* as Linux: not once the socket has a port */
    io->v6only = v6only;
    return 0;
}

static void list_append(struct exec_io *io)
{
    struct exec_net *net = io->net;
    io->inet_prev = net->inet_tail;
    io->inet_next = NULL;
    if (net->inet_tail != NULL)
        net->inet_tail->inet_next = io;
    else
        net->inet_head = io;
    net->inet_tail = io;
}

/* What a socket bound at `local` receives of one family (IPv4 when `v4`): nothing, every
 * address of the endpoint (a wildcard), or `local` alone. */
enum reach { REACH_NONE, REACH_ONE, REACH_ALL };

static enum reach reach_of(const struct exec_io *io, const struct in6_addr *local, bool v4)
{
    if (io->family == AF_INET)
        return !v4 ? REACH_NONE : is_any(local) ? REACH_ALL : REACH_ONE;
    if (v4 && io->v6only)
        return REACH_NONE;
    if (IN6_IS_ADDR_UNSPECIFIED(local))
        return REACH_ALL;                   /* [::]: dual-stack unless IPV6_V6ONLY */
    if (is_mapped(local) != v4)
        return REACH_NONE;
    return is_any(local) ? REACH_ALL : REACH_ONE;
}

/* Whether sockets bound at `a_local` and `b_local` would both receive some address. */
static bool overlap(const struct exec_io *a, const struct in6_addr *a_local,
                    const struct exec_io *b, const struct in6_addr *b_local)
{
    for (int v4 = 0; v4 <= 1; v4++) {
        enum reach ra = reach_of(a, a_local, v4 != 0), rb = reach_of(b, b_local, v4 != 0);
        if (ra == REACH_NONE || rb == REACH_NONE)
            continue;
        if (ra == REACH_ALL || rb == REACH_ALL || same_address(a_local, b_local))
            return true;
    }
    return false;
}

/* Whether io, bound where it is, receives what is sent to `destination`. */
static bool accepts(const struct exec_io *io, const struct in6_addr *destination)
{
    enum reach reach = reach_of(io, &io->local_address, is_mapped(destination));
    return reach == REACH_ALL ||
           (reach == REACH_ONE && same_address(&io->local_address, destination));
}

/* Whether `port` at `address` of the endpoint is taken for io (SO_REUSEADDR on both
 * sockets lets a second one bind while neither listens, as Linux). */
static bool port_taken(const struct exec_io *io, const struct in6_addr *address, uint16_t port)
{
    for (const struct exec_io *other = io->net->inet_head; other != NULL;
         other = other->inet_next) {
        if (other == io || other->endpoint != io->endpoint || other->local_port != port ||
            other->kind != io->kind)        /* TCP and UDP ports are separate spaces */
            continue;
        bool shared = io->reuse_address && other->reuse_address &&
                      other->state != EXEC_INET_LISTENING;
        if (overlap(io, address, other, &other->local_address) && !shared)
            return true;
    }
    return false;
}

/* An unused ephemeral port of the endpoint, in order from the last one given. */
static int port_ephemeral(struct exec_io *io, const struct in6_addr *address,
                          uint16_t *port_out)
{
    uint16_t *next = &io->net->port_next[io->endpoint];
    uint32_t range = EXEC_INET_PORT_EPHEMERAL_LAST - EXEC_INET_PORT_EPHEMERAL_FIRST + 1;
    for (uint32_t tries = 0; tries < range; tries++) {
        if (*next < EXEC_INET_PORT_EPHEMERAL_FIRST || *next > EXEC_INET_PORT_EPHEMERAL_LAST)
            *next = EXEC_INET_PORT_EPHEMERAL_FIRST;
        uint16_t port = (*next)++;
        if (!port_taken(io, address, port)) {
            *port_out = port;
            return 0;
        }
    }
    return -EADDRNOTAVAIL;
}

/* The address and port a program gave, as its socket's family reads them (IPv4
 * v4-mapped). `binding`: a v4-mapped address on an IPV6_V6ONLY socket is EINVAL (bind), not
 * ENETUNREACH (connect, sendto). */
static int address_parse(const struct exec_io *io, const void *bytes, uint32_t length,
                         bool binding, struct in6_addr *address_out, uint16_t *port_out)
{
    if (bytes == NULL)
        return -EINVAL;
    if (io->family == AF_INET) {
        struct sockaddr_in in;
        if (length < sizeof(in))
            return -EINVAL;
        memcpy(&in, bytes, sizeof(in));
        if (in.sin_family != AF_INET)
            return -EAFNOSUPPORT;
        *address_out = mapped(ntohl(in.sin_addr.s_addr));
        *port_out = ntohs(in.sin_port);
        return 0;
    }
    struct sockaddr_in6 in6;
    if (length < EXEC_INET6_SOCKADDR_BYTES_MIN)
        return -EINVAL;
    memset(&in6, 0, sizeof(in6));
    memcpy(&in6, bytes, length < sizeof(in6) ? length : sizeof(in6));
    if (in6.sin6_family != AF_INET6)
        return -EAFNOSUPPORT;
    if (is_mapped(&in6.sin6_addr) && io->v6only)
        return binding ? -EINVAL : -ENETUNREACH;
    *address_out = in6.sin6_addr;
    *port_out = ntohs(in6.sin6_port);
    return 0;
}

/* Writes `address`:`port` as the socket's family names it; returns the bytes. */
static uint32_t name_write(const struct exec_io *io, const struct in6_addr *address,
                           uint16_t port, void *out)
{
    if (io->family == AF_INET) {
        struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(port) };
        in.sin_addr.s_addr = htonl(v4_of(address));
        memcpy(out, &in, sizeof(in));
        return sizeof(in);
    }
    struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
    in6.sin6_addr = *address;
    memcpy(out, &in6, sizeof(in6));
    return sizeof(in6);
}

uint32_t exec_inet_name_bytes(const struct exec_io *io)
{
    assert(io != NULL);
    return io->family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}

static int bind_at(struct exec_io *io, const struct in6_addr *address, uint16_t port)
{
    if (port == 0 && port_ephemeral(io, address, &port) < 0)
        return -EADDRNOTAVAIL;
    if (port_taken(io, address, port))
        return -EADDRINUSE;
    io->local_address = *address;
    io->local_port = port;
    io->state = EXEC_INET_BOUND;
    list_append(io);
    return 0;
}

/* The wildcard of the socket's family: 0.0.0.0 or [::]. */
static struct in6_addr wildcard(const struct exec_io *io)
{
    return io->family == AF_INET ? mapped(INADDR_ANY) : in6addr_any;
}

int exec_inet_bind(struct exec_io *io, const void *address, uint32_t length)
{
    assert(io != NULL && (io->kind == EXEC_IO_INET_STREAM || io->kind == EXEC_IO_INET_DGRAM));
    struct in6_addr local;
    uint16_t port = 0;
    int rc = address_parse(io, address, length, true, &local, &port);
    if (rc < 0)
        return rc;
    if (io->state != EXEC_INET_NEW)
        return -EINVAL;
    if (!is_any(&local) && !is_loopback(&local)) {
        struct in6_addr own = own_address(io->endpoint, &local);
        if (!same_address(&local, &own))
            return -EADDRNOTAVAIL;          /* not an address of this endpoint */
    }
    return bind_at(io, &local, port);
}

int exec_inet_listen(struct exec_io *io, int backlog)
{
    assert(io != NULL);
    if (io->kind != EXEC_IO_INET_STREAM)
        return -EOPNOTSUPP;
    if (io->state == EXEC_INET_CONNECTED)
        return -EINVAL;
    if (io->state == EXEC_INET_NEW) {
        struct in6_addr any = wildcard(io);
        int rc = bind_at(io, &any, 0);
        if (rc < 0)
            return rc;
    }
    if (io->state == EXEC_INET_BOUND && port_taken(io, &io->local_address, io->local_port))
        return -EADDRINUSE;                 /* a SO_REUSEADDR twin may not listen too */
    io->backlog = backlog < 1 ? 1 : (uint32_t)backlog > EXEC_INET_BACKLOG_MAX
                                          ? EXEC_INET_BACKLOG_MAX : (uint32_t)backlog;
    io->state = EXEC_INET_LISTENING;
    return 0;
}

/* The listener of `port` at `address` on `endpoint`, first bound first. */
static struct exec_io *listener_find(struct exec_net *net, uint32_t endpoint,
                                     const struct in6_addr *address, uint16_t port)
{
    for (struct exec_io *io = net->inet_head; io != NULL; io = io->inet_next) {
        if (io->state != EXEC_INET_LISTENING || io->endpoint != endpoint ||
            io->local_port != port || io->kind != EXEC_IO_INET_STREAM)
            continue;
        if (accepts(io, address))
            return io;
    }
    return NULL;
}

/* The accepting side of a new connection, queued on the listener. */
static int connection_queue(struct exec_io *client, struct exec_io *listener,
                            const struct in6_addr *address)
{
    struct exec_net *net = client->net;
    struct exec_io *server = exec__io_new(net, EXEC_IO_INET_STREAM, false);
    if (server == NULL)
        return net->io_count >= EXEC_IO_OBJECTS_MAX ? -ENFILE : -ENOMEM;
    int rc = exec__link_new(net, client, server, EXEC_INET_BYTES_MAX, false, net->latency_ns);
    if (rc < 0) {
        assert(net->io_count > 0);
        net->io_count--;
        free(server);
        return rc;
    }
    server->endpoint = listener->endpoint;
    server->family = listener->family;
    server->v6only = listener->v6only;
    server->state = client->state = EXEC_INET_CONNECTED;
    server->local_address = *address;
    server->local_port = listener->local_port;
    server->peer_address = client->local_address;
    server->peer_port = client->local_port;
    client->peer_address = *address;
    client->peer_port = listener->local_port;
    if (listener->queue_tail != NULL)
        listener->queue_tail->queue_next = server;
    else
        listener->queue_head = server;
    listener->queue_tail = server;
    listener->queued++;
    exec__net_wake(net, &listener->accept_waitq);
    return 0;
}

/* Where a connect or sendto to `destination` goes: the endpoint, and the address as the
 * receiver sees it (a wildcard is the loopback address of its family, as in Linux). */
static int route(const struct exec_io *io, const struct in6_addr *destination,
                 uint32_t *target_out, struct in6_addr *seen_as_out)
{
    if (exec_inet_endpoint_of6(io->endpoint, destination, target_out) < 0)
        return -ENETUNREACH;
    *seen_as_out = !is_any(destination) ? *destination
                   : is_mapped(destination) ? mapped(LOOPBACK_ADDRESS) : in6addr_loopback;
    return 0;
}

/* A socket that is not bound yet takes an ephemeral port at the endpoint's address toward
 * `seen_as` (loopback for loopback). One bound to an address of the other family (an IPv6
 * one toward an IPv4 destination) cannot reach it. */
static int bind_toward(struct exec_io *io, const struct in6_addr *seen_as)
{
    if (io->state == EXEC_INET_NEW) {
        struct in6_addr local = own_address(io->endpoint, seen_as);
        return bind_at(io, &local, 0);
    }
    if (!is_any(&io->local_address) && is_mapped(&io->local_address) != is_mapped(seen_as))
        return -ENETUNREACH;
    return 0;
}

/* A datagram socket's connect: its default destination (no handshake, no listener). */
static int connect_datagram(struct exec_io *io, const struct in6_addr *destination,
                            uint16_t port)
{
    uint32_t target = 0;
    struct in6_addr seen_as;
    int rc = route(io, destination, &target, &seen_as);
    if (rc < 0)
        return rc;
    rc = bind_toward(io, &seen_as);
    if (rc < 0)
        return rc;
    io->peer_address = seen_as;
    io->peer_port = port;
    io->state = EXEC_INET_CONNECTED;
    return 0;
}

int exec_inet_connect(struct exec_io *io, const void *address, uint32_t length)
{
    assert(io != NULL && (io->kind == EXEC_IO_INET_STREAM || io->kind == EXEC_IO_INET_DGRAM));
    struct in6_addr destination, seen_as;
    uint16_t port = 0;
    int rc = address_parse(io, address, length, false, &destination, &port);
    if (rc < 0)
        return rc;
    if (io->kind == EXEC_IO_INET_DGRAM)
        return connect_datagram(io, &destination, port);
    if (io->state == EXEC_INET_CONNECTED)
        return -EISCONN;
    if (io->state == EXEC_INET_LISTENING)
        return -EINVAL;
    uint32_t target = 0;
    rc = route(io, &destination, &target, &seen_as);
    if (rc < 0)
        return rc;
    struct exec_io *listener = listener_find(io->net, target, &seen_as, port);
    if (listener == NULL || listener->queued >= listener->backlog)
        return -ECONNREFUSED;               /* no SYN retries: not a network model */
    rc = bind_toward(io, &seen_as);
    if (rc < 0)
        return rc;
    return connection_queue(io, listener, &seen_as);
}

int exec_inet_accept(struct exec_io *io, struct exec_io **out)
{
    assert(io != NULL && out != NULL);
    if (io->kind != EXEC_IO_INET_STREAM || io->state != EXEC_INET_LISTENING)
        return -EINVAL;
    struct exec_io *server = io->queue_head;
    if (server == NULL)
        return -EAGAIN;
    io->queue_head = server->queue_next;
    if (io->queue_head == NULL)
        io->queue_tail = NULL;
    io->queued--;
    server->queue_next = NULL;
    server->holders = 1;
    *out = server;
    return 0;
}

int exec_inet_name(const struct exec_io *io, bool peer, void *out)
{
    assert(io != NULL && out != NULL);
    memset(out, 0, exec_inet_name_bytes(io));
    if (peer && io->state != EXEC_INET_CONNECTED)
        return -ENOTCONN;
    return (int)name_write(io, peer ? &io->peer_address : &io->local_address,
                           peer ? io->peer_port : io->local_port, out);
}

/* The datagram socket bound to `port` at `address` of `endpoint`, first bound first. */
static struct exec_io *datagram_find(struct exec_net *net, uint32_t endpoint,
                                     const struct in6_addr *address, uint16_t port)
{
    for (struct exec_io *io = net->inet_head; io != NULL; io = io->inet_next) {
        if (io->kind != EXEC_IO_INET_DGRAM || io->endpoint != endpoint || io->local_port != port)
            continue;
        if (accepts(io, address))
            return io;
    }
    return NULL;
}

ssize_t exec_inet_sendto(struct exec_io *io, const void *data, size_t length, const void *to,
                         uint32_t to_length, uint64_t now_ns, struct exec_io **full_out)
{
    assert(io != NULL && io->kind == EXEC_IO_INET_DGRAM && full_out != NULL);
    *full_out = NULL;
    struct in6_addr destination = io->peer_address, seen_as;
    uint16_t port = io->peer_port;
    if (to != NULL) {
        int rc = address_parse(io, to, to_length, false, &destination, &port);
        if (rc < 0)
            return rc;
    } else if (io->state != EXEC_INET_CONNECTED) {
        return -EDESTADDRREQ;
    }
    uint32_t target = 0;
    int rc = route(io, &destination, &target, &seen_as);
    if (rc < 0)
        return rc;
    if (length + EXEC_INET_DGRAM_HEAD_BYTES + 4 > EXEC_INET_DGRAM_QUEUE_BYTES)
        return -EMSGSIZE;
    if (io->state == EXEC_INET_NEW) {
        struct in6_addr any = wildcard(io);
        rc = bind_at(io, &any, 0);
    } else {
        rc = bind_toward(io, &seen_as);     /* bound already: only checks the family */
    }
    if (rc < 0)
        return rc;
    struct exec_io *receiver = datagram_find(io->net, target, &seen_as, port);
    if (receiver == NULL)
        return (ssize_t)length;             /* nobody bound there: dropped, as UDP */
    uint8_t head[EXEC_INET_DGRAM_HEAD_BYTES];
    struct in6_addr from = !is_any(&io->local_address) ? io->local_address
                                                      : own_address(io->endpoint, &seen_as);
    memcpy(head, &from, sizeof(from));
    memcpy(head + sizeof(from), &io->local_port, 2);
    rc = exec__message_put(receiver->link, 1, head, sizeof(head), data, (uint32_t)length,
                           now_ns + io->net->latency_ns);
    if (rc == -EAGAIN)
        *full_out = receiver;
    return rc < 0 ? rc : (ssize_t)length;
}

ssize_t exec_inet_recvfrom(struct exec_io *io, void *data, size_t length, bool peek,
                           void *from, uint64_t now_ns)
{
    assert(io != NULL && io->kind == EXEC_IO_INET_DGRAM && from != NULL);
    uint8_t head[EXEC_INET_DGRAM_HEAD_BYTES];
    ssize_t got = exec__message_take(io->link, 1, head, sizeof(head), data, length, peek,
                                     now_ns);
    if (got < 0)
        return got;
    struct in6_addr address;
    uint16_t port;
    memcpy(&address, head, sizeof(address));
    memcpy(&port, head + sizeof(address), 2);
    (void)name_write(io, &address, port, from);
    return got;
}
