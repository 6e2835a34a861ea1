/* SPDX-License-Identifier: MIT */
/*
 * sim/exec/inet.c: the TCP control channel's sockets (inet.h): addresses, ports,
 * listeners and connections over the links of pipe.c, and datagrams over a receive
 * queue per datagram socket (a link with one end). TCP and UDP ports are separate.
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

uint32_t exec_inet_address(uint32_t endpoint)
{
    if (endpoint == 0)
        return EXEC_INET_HOST_ADDRESS;
    if (endpoint >= EXEC_INET_ENDPOINTS_MAX)
        return 0;
    return EXEC_INET_GUEST_ADDRESS_FIRST + endpoint - 1;
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

void exec_inet_format(uint32_t address, uint16_t port, char text[32])
{
    snprintf(text, 32, "%u.%u.%u.%u:%u", address >> 24, (address >> 16) & 0xff,
             (address >> 8) & 0xff, address & 0xff, port);
}

int exec_inet_socket(struct exec_net *net, uint32_t endpoint, bool datagram, bool nonblock,
                     struct exec_io **out)
{
    assert(net != NULL && out != NULL);
    if (endpoint >= EXEC_INET_ENDPOINTS_MAX)
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
    io->holders = 1;
    *out = io;
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

/* Whether `port` at `address` of the endpoint is taken for io (SO_REUSEADDR on both
 * sockets lets a second one bind while neither listens, as Linux). */
static bool port_taken(const struct exec_io *io, uint32_t address, uint16_t port)
{
    for (const struct exec_io *other = io->net->inet_head; other != NULL;
         other = other->inet_next) {
        if (other == io || other->endpoint != io->endpoint || other->local_port != port ||
            other->kind != io->kind)        /* TCP and UDP ports are separate spaces */
            continue;
        bool overlap = other->local_address == INADDR_ANY || address == INADDR_ANY ||
                       other->local_address == address;
        bool shared = io->reuse_address && other->reuse_address &&
                      other->state != EXEC_INET_LISTENING;
        if (overlap && !shared)
            return true;
    }
    return false;
}

/* An unused ephemeral port of the endpoint, in order from the last one given. */
static int port_ephemeral(struct exec_io *io, uint32_t address, uint16_t *port_out)
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

static int address_check(const struct sockaddr_in *address, uint32_t length)
{
    if (address == NULL || length < sizeof(struct sockaddr_in))
        return -EINVAL;
    return address->sin_family == AF_INET ? 0 : -EAFNOSUPPORT;
}

static int bind_at(struct exec_io *io, uint32_t address, uint16_t port)
{
    if (port == 0 && port_ephemeral(io, address, &port) < 0)
        return -EADDRNOTAVAIL;
    if (port_taken(io, address, port))
        return -EADDRINUSE;
    io->local_address = address;
    io->local_port = port;
    io->state = EXEC_INET_BOUND;
    list_append(io);
    return 0;
}

int exec_inet_bind(struct exec_io *io, const struct sockaddr_in *address, uint32_t length)
{
    assert(io != NULL && (io->kind == EXEC_IO_INET_STREAM || io->kind == EXEC_IO_INET_DGRAM));
    int rc = address_check(address, length);
    if (rc < 0)
        return rc;
    if (io->state != EXEC_INET_NEW)
        return -EINVAL;
    uint32_t host = ntohl(address->sin_addr.s_addr);
    if (host != INADDR_ANY && (host >> 24) != 127 && host != exec_inet_address(io->endpoint))
        return -EADDRNOTAVAIL;              /* not an address of this endpoint */
    return bind_at(io, host, ntohs(address->sin_port));
}

int exec_inet_listen(struct exec_io *io, int backlog)
{
    assert(io != NULL);
    if (io->kind != EXEC_IO_INET_STREAM)
        return -EOPNOTSUPP;
    if (io->state == EXEC_INET_CONNECTED)
        return -EINVAL;
    if (io->state == EXEC_INET_NEW) {
        int rc = bind_at(io, INADDR_ANY, 0);
        if (rc < 0)
            return rc;
    }
    if (io->state == EXEC_INET_BOUND && port_taken(io, io->local_address, io->local_port))
        return -EADDRINUSE;                 /* a SO_REUSEADDR twin may not listen too */
    io->backlog = backlog < 1 ? 1 : (uint32_t)backlog > EXEC_INET_BACKLOG_MAX
                                          ? EXEC_INET_BACKLOG_MAX : (uint32_t)backlog;
    io->state = EXEC_INET_LISTENING;
    return 0;
}

/* The listener of `port` at `address` on `endpoint`, first bound first. */
static struct exec_io *listener_find(struct exec_net *net, uint32_t endpoint,
                                     uint32_t address, uint16_t port)
{
    for (struct exec_io *io = net->inet_head; io != NULL; io = io->inet_next) {
        if (io->state != EXEC_INET_LISTENING || io->endpoint != endpoint ||
            io->local_port != port || io->kind != EXEC_IO_INET_STREAM)
            continue;
        if (io->local_address == INADDR_ANY || io->local_address == address ||
            ((io->local_address >> 24) == 127 && (address >> 24) == 127))
            return io;
    }
    return NULL;
}

/* The accepting side of a new connection, queued on the listener. */
static int connection_queue(struct exec_io *client, struct exec_io *listener,
                            uint32_t address)
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
    server->state = client->state = EXEC_INET_CONNECTED;
    server->local_address = address;
    server->local_port = listener->local_port;
    server->peer_address = client->local_address;
    server->peer_port = client->local_port;
    client->peer_address = address;
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

/* A datagram socket's connect: its default destination (no handshake, no listener). */
static int connect_datagram(struct exec_io *io, uint32_t host, uint16_t port)
{
    uint32_t target = 0;
    if (exec_inet_endpoint_of(io->endpoint, host, &target) < 0)
        return -ENETUNREACH;
    uint32_t seen_as = host == INADDR_ANY ? LOOPBACK_ADDRESS : host;
    if (io->state == EXEC_INET_NEW) {
        int rc = bind_at(io, (seen_as >> 24) == 127 ? LOOPBACK_ADDRESS
                                                    : exec_inet_address(io->endpoint), 0);
        if (rc < 0)
            return rc;
    }
    io->peer_address = seen_as;
    io->peer_port = port;
    io->state = EXEC_INET_CONNECTED;
    return 0;
}

int exec_inet_connect(struct exec_io *io, const struct sockaddr_in *address, uint32_t length)
{
    assert(io != NULL && (io->kind == EXEC_IO_INET_STREAM || io->kind == EXEC_IO_INET_DGRAM));
    int rc = address_check(address, length);
    if (rc < 0)
        return rc;
    if (io->kind == EXEC_IO_INET_DGRAM)
        return connect_datagram(io, ntohl(address->sin_addr.s_addr), ntohs(address->sin_port));
    if (io->state == EXEC_INET_CONNECTED)
        return -EISCONN;
    if (io->state == EXEC_INET_LISTENING)
        return -EINVAL;
    uint32_t host = ntohl(address->sin_addr.s_addr);
    uint32_t target = 0;
    if (exec_inet_endpoint_of(io->endpoint, host, &target) < 0)
        return -ENETUNREACH;
    uint32_t seen_as = host == INADDR_ANY ? LOOPBACK_ADDRESS : host;
    struct exec_io *listener = listener_find(io->net, target, seen_as, ntohs(address->sin_port));
    if (listener == NULL || listener->queued >= listener->backlog)
        return -ECONNREFUSED;               /* no SYN retries: not a network model */
    if (io->state == EXEC_INET_NEW) {
        uint32_t local = (seen_as >> 24) == 127 ? LOOPBACK_ADDRESS
                                                : exec_inet_address(io->endpoint);
        rc = bind_at(io, local, 0);
        if (rc < 0)
            return rc;
    }
    return connection_queue(io, listener, seen_as);
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

int exec_inet_name(const struct exec_io *io, bool peer, struct sockaddr_in *out)
{
    assert(io != NULL && out != NULL);
    memset(out, 0, sizeof(*out));
    out->sin_family = AF_INET;
    if (peer && io->state != EXEC_INET_CONNECTED)
        return -ENOTCONN;
    out->sin_addr.s_addr = htonl(peer ? io->peer_address : io->local_address);
    out->sin_port = htons(peer ? io->peer_port : io->local_port);
    return 0;
}

/* The datagram socket bound to `port` at `address` of `endpoint`, first bound first. */
static struct exec_io *datagram_find(struct exec_net *net, uint32_t endpoint, uint32_t address,
                                     uint16_t port)
{
    for (struct exec_io *io = net->inet_head; io != NULL; io = io->inet_next) {
        if (io->kind != EXEC_IO_INET_DGRAM || io->endpoint != endpoint || io->local_port != port)
            continue;
        if (io->local_address == INADDR_ANY || io->local_address == address ||
            ((io->local_address >> 24) == 127 && (address >> 24) == 127))
            return io;
    }
    return NULL;
}

ssize_t exec_inet_sendto(struct exec_io *io, const void *data, size_t length,
                         const struct sockaddr_in *to, uint32_t to_length, uint64_t now_ns,
                         struct exec_io **full_out)
{
    assert(io != NULL && io->kind == EXEC_IO_INET_DGRAM && full_out != NULL);
    *full_out = NULL;
    uint32_t host = io->peer_address;
    uint16_t port = io->peer_port;
    if (to != NULL) {
        int rc = address_check(to, to_length);
        if (rc < 0)
            return rc;
        host = ntohl(to->sin_addr.s_addr);
        port = ntohs(to->sin_port);
    } else if (io->state != EXEC_INET_CONNECTED) {
        return -EDESTADDRREQ;
    }
    uint32_t target = 0;
    if (exec_inet_endpoint_of(io->endpoint, host, &target) < 0)
        return -ENETUNREACH;
    uint32_t seen_as = host == INADDR_ANY ? LOOPBACK_ADDRESS : host;
    if (length + EXEC_INET_DGRAM_HEAD_BYTES + 4 > EXEC_INET_DGRAM_QUEUE_BYTES)
        return -EMSGSIZE;
    if (io->state == EXEC_INET_NEW) {
        int rc = bind_at(io, INADDR_ANY, 0);
        if (rc < 0)
            return rc;
    }
    struct exec_io *receiver = datagram_find(io->net, target, seen_as, port);
    if (receiver == NULL)
        return (ssize_t)length;             /* nobody bound there: dropped, as UDP */
    uint8_t head[EXEC_INET_DGRAM_HEAD_BYTES];
    uint32_t from = io->local_address != INADDR_ANY ? io->local_address
                    : (seen_as >> 24) == 127 ? LOOPBACK_ADDRESS : exec_inet_address(io->endpoint);
    memcpy(head, &from, 4);
    memcpy(head + 4, &io->local_port, 2);
    int rc = exec__message_put(receiver->link, 1, head, sizeof(head), data, (uint32_t)length,
                               now_ns + io->net->latency_ns);
    if (rc == -EAGAIN)
        *full_out = receiver;
    return rc < 0 ? rc : (ssize_t)length;
}

ssize_t exec_inet_recvfrom(struct exec_io *io, void *data, size_t length, bool peek,
                           struct sockaddr_in *from, uint64_t now_ns)
{
    assert(io != NULL && io->kind == EXEC_IO_INET_DGRAM && from != NULL);
    uint8_t head[EXEC_INET_DGRAM_HEAD_BYTES];
    ssize_t got = exec__message_take(io->link, 1, head, sizeof(head), data, length, peek,
                                     now_ns);
    if (got < 0)
        return got;
    uint32_t address;
    uint16_t port;
    memcpy(&address, head, 4);
    memcpy(&port, head + 4, 2);
    memset(from, 0, sizeof(*from));
    from->sin_family = AF_INET;
    from->sin_addr.s_addr = htonl(address);
    from->sin_port = htons(port);
    return got;
}
