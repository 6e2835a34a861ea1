/* SPDX-License-Identifier: MIT */
/*
 * sim/exec/inet.h: the TCP control channel (docs/programs.md): AF_INET stream and datagram
 * sockets between programs of simulated endpoints, served by a simple in-world byte service.
 *
 * It is NOT a network model: no packets, no loss, no congestion, no retransmission. A
 * connection is two bounded byte buffers (EXEC_INET_BYTES_MAX each way, pipe.h) whose
 * bytes become readable EXEC_INET_LATENCY_NS after they were written; connect finds the
 * listener at once (ECONNREFUSED when there is none or its backlog is full) and costs
 * one round trip. A datagram goes to the queue of the socket bound to its destination,
 * readable after the same latency; one to a port nobody is bound to is dropped, as UDP
 * drops it, and a full queue makes the sender wait instead of losing it. It exists so
 * that programs that coordinate over TCP (vsock_test's control channel) run inside the
 * simulation.
 *
 * Addresses (IPv4 only; a documentation range, RFC 5737): the host is 192.0.2.2, the
 * guests 192.0.2.16, .17, ... in the order the scenario made them (endpoint index + 15),
 * up to EXEC_INET_ENDPOINTS_MAX endpoints; 127.0.0.0/8 and 0.0.0.0 are the endpoint
 * itself. Ephemeral ports come from 32768-60999 in order, per endpoint.
 */
#ifndef SIM_EXEC_INET_H
#define SIM_EXEC_INET_H

#include <netinet/in.h>
#include <stdint.h>

#include "pipe.h"

/* One-way latency of the control channel's bytes (and half of connect's cost). */
#define EXEC_INET_LATENCY_NS 50000u
/* Endpoints with an address: 192.0.2.2 and 192.0.2.16 ... 192.0.2.254. */
#define EXEC_INET_ENDPOINTS_MAX 240u
/* Pending connections of one listener at most (a larger backlog is cut to this). */
#define EXEC_INET_BACKLOG_MAX 128u
#define EXEC_INET_PORT_EPHEMERAL_FIRST 32768u
#define EXEC_INET_PORT_EPHEMERAL_LAST 60999u
/* Bytes a datagram socket's receive queue holds (then a sender waits, or EAGAIN). */
#define EXEC_INET_DGRAM_QUEUE_BYTES 65536u
/* What a queued datagram carries before its data: the sender's address and port. */
#define EXEC_INET_DGRAM_HEAD_BYTES 6u
#define EXEC_INET_HOST_ADDRESS 0xc0000202u      /* 192.0.2.2 */
#define EXEC_INET_GUEST_ADDRESS_FIRST 0xc0000210u   /* 192.0.2.16: endpoint 1 */

/* The address of endpoint `index` (host byte order), or 0 when it has none. */
uint32_t exec_inet_address(uint32_t endpoint);
/* The endpoint an address names, seen from endpoint `self`. -EHOSTUNREACH outside the range. */
int exec_inet_endpoint_of(uint32_t self, uint32_t address, uint32_t *endpoint_out);

/* A new AF_INET socket of endpoint `endpoint` (SOCK_STREAM, or SOCK_DGRAM when
 * `datagram`), held once. */
int exec_inet_socket(struct exec_net *net, uint32_t endpoint, bool datagram, bool nonblock,
                     struct exec_io **out);
/* Datagrams: sendto (to NULL: the connected peer) queues one on the socket bound to the
 * destination, readable after the latency; nobody bound there: dropped, as UDP does.
 * Returns the bytes, -EAGAIN (its queue is full: *full_out is that socket, to wait on),
 * -EDESTADDRREQ, -EMSGSIZE, -ENETUNREACH, -EINVAL, -EAFNOSUPPORT. */
ssize_t exec_inet_sendto(struct exec_io *io, const void *data, size_t length,
                         const struct sockaddr_in *to, uint32_t to_length, uint64_t now_ns,
                         struct exec_io **full_out);
/* recvfrom: the next datagram (cut to `length`), its sender in *from. -EAGAIN when none. */
ssize_t exec_inet_recvfrom(struct exec_io *io, void *data, size_t length, bool peek,
                           struct sockaddr_in *from, uint64_t now_ns);
/* bind(2), listen(2), connect(2) (establishes at once: the caller charges the round
 * trip), accept(2) (-EAGAIN when none is pending; the new socket is held once). */
int exec_inet_bind(struct exec_io *io, const struct sockaddr_in *address, uint32_t length);
int exec_inet_listen(struct exec_io *io, int backlog);
int exec_inet_connect(struct exec_io *io, const struct sockaddr_in *address, uint32_t length);
int exec_inet_accept(struct exec_io *io, struct exec_io **out);
/* getsockname (peer false) or getpeername (true): 0 or -ENOTCONN. */
int exec_inet_name(const struct exec_io *io, bool peer, struct sockaddr_in *out);
/* "a.b.c.d:port" of a local or peer address, for traces. */
void exec_inet_format(uint32_t address, uint16_t port, char text[32]);

#endif /* SIM_EXEC_INET_H */
