/* SPDX-License-Identifier: MIT */
/*
 * sim/exec/inet.h: the TCP control channel (docs/programs.md): AF_INET and AF_INET6 stream
 * and datagram sockets between programs of simulated endpoints, served by a simple
 * in-world byte service.
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
 * Addresses (documentation ranges): IPv4 (RFC 5737) the host 192.0.2.2, the guests
 * 192.0.2.16, .17, ... in the order the scenario made them (endpoint index + 15); IPv6
 * (RFC 3849) the host 2001:db8::2, the guests 2001:db8::10, ::11, ... (the same last byte,
 * in hexadecimal), up to EXEC_INET_ENDPOINTS_MAX endpoints. 127.0.0.0/8, ::1 and the
 * wildcards 0.0.0.0 and :: are the endpoint itself. Ephemeral ports come from 32768-60999
 * in order, per endpoint, shared by both families as in Linux.
 *
 * AF_INET6 sockets are dual-stack unless IPV6_V6ONLY is set (Linux's default,
 * net.ipv6.bindv6only = 0): one bound to :: also takes IPv4 connections and datagrams and
 * sees their peers as v4-mapped addresses (::ffff:192.0.2.16), and it holds the port in
 * both families. Inside, every address is an in6_addr, an IPv4 one v4-mapped.
 */
#ifndef SIM_EXEC_INET_H
#define SIM_EXEC_INET_H

#include <netinet/in.h>
#include <stdint.h>

#include "pipe.h"

/* One-way latency of the control channel's bytes (and half of connect's cost). */
#define EXEC_INET_LATENCY_NS 50000u
/* Endpoints with an address: 192.0.2.2 and 192.0.2.16 ... 192.0.2.254 (and in IPv6). */
#define EXEC_INET_ENDPOINTS_MAX 240u
/* Pending connections of one listener at most (a larger backlog is cut to this). */
#define EXEC_INET_BACKLOG_MAX 128u
#define EXEC_INET_PORT_EPHEMERAL_FIRST 32768u
#define EXEC_INET_PORT_EPHEMERAL_LAST 60999u
/* Bytes a datagram socket's receive queue holds (then a sender waits, or EAGAIN). */
#define EXEC_INET_DGRAM_QUEUE_BYTES 65536u
/* What a queued datagram carries before its data: the sender's address and port. */
#define EXEC_INET_DGRAM_HEAD_BYTES 18u
#define EXEC_INET_HOST_ADDRESS 0xc0000202u      /* 192.0.2.2 */
#define EXEC_INET_GUEST_ADDRESS_FIRST 0xc0000210u   /* 192.0.2.16: endpoint 1 */
/* The IPv6 addresses: 2001:db8::, then the last byte (0x02 the host, 0x10 + index - 1). */
#define EXEC_INET6_HOST_LAST_BYTE 0x02u
#define EXEC_INET6_GUEST_LAST_BYTE_FIRST 0x10u
/* Bytes of the longest socket address this file reads or writes (a sockaddr_in6). */
#define EXEC_INET_SOCKADDR_BYTES_MAX 28u
/* The shortest sockaddr_in6 Linux accepts (RFC 2133's, without sin6_scope_id). */
#define EXEC_INET6_SOCKADDR_BYTES_MIN 24u
/* Characters of an address and port as exec_inet_format writes them, with the NUL. */
#define EXEC_INET_TEXT_BYTES 64u

/* The IPv4 address of endpoint `index` (host byte order), or 0 when it has none. */
uint32_t exec_inet_address(uint32_t endpoint);
/* The IPv6 address of endpoint `index` in *out; false when it has none. */
bool exec_inet_address6(uint32_t endpoint, struct in6_addr *out);
/* The endpoint an IPv4 address names, seen from endpoint `self`. -EHOSTUNREACH outside
 * the range. */
int exec_inet_endpoint_of(uint32_t self, uint32_t address, uint32_t *endpoint_out);
/* The same for an IPv6 address (a v4-mapped one as its IPv4 address). */
int exec_inet_endpoint_of6(uint32_t self, const struct in6_addr *address,
                           uint32_t *endpoint_out);

/* A new socket of endpoint `endpoint` of `family` (AF_INET or AF_INET6; SOCK_STREAM, or
 * SOCK_DGRAM when `datagram`), held once. exec_inet_socket makes an AF_INET one. */
int exec_inet_socket_family(struct exec_net *net, uint32_t endpoint, int family,
                            bool datagram, bool nonblock, struct exec_io **out);
int exec_inet_socket(struct exec_net *net, uint32_t endpoint, bool datagram, bool nonblock,
                     struct exec_io **out);
/* IPV6_V6ONLY: 0, -ENOPROTOOPT on an AF_INET socket, -EINVAL once it has a port. */
int exec_inet_set_v6only(struct exec_io *io, bool v6only);
/* Addresses below are the program's bytes: a struct sockaddr_in on an AF_INET socket, a
 * sockaddr_in6 (at least EXEC_INET6_SOCKADDR_BYTES_MIN bytes) on an AF_INET6 one.
 * Datagrams: sendto (to NULL: the connected peer) queues one on the socket bound to the
 * destination, readable after the latency; nobody bound there: dropped, as UDP does.
 * Returns the bytes, -EAGAIN (its queue is full: *full_out is that socket, to wait on),
 * -EDESTADDRREQ, -EMSGSIZE, -ENETUNREACH, -EINVAL, -EAFNOSUPPORT. */
ssize_t exec_inet_sendto(struct exec_io *io, const void *data, size_t length, const void *to,
                         uint32_t to_length, uint64_t now_ns, struct exec_io **full_out);
/* recvfrom: the next datagram (cut to `length`), its sender in *from (room for
 * EXEC_INET_SOCKADDR_BYTES_MAX bytes; exec_inet_name_bytes of them are written).
 * -EAGAIN when none. */
ssize_t exec_inet_recvfrom(struct exec_io *io, void *data, size_t length, bool peek,
                           void *from, uint64_t now_ns);
/* bind(2), listen(2), connect(2) (establishes at once: the caller charges the round
 * trip), accept(2) (-EAGAIN when none is pending; the new socket is held once). */
int exec_inet_bind(struct exec_io *io, const void *address, uint32_t length);
int exec_inet_listen(struct exec_io *io, int backlog);
int exec_inet_connect(struct exec_io *io, const void *address, uint32_t length);
int exec_inet_accept(struct exec_io *io, struct exec_io **out);
/* Bytes of the socket's addresses in the Linux ABI: a sockaddr_in's or sockaddr_in6's. */
uint32_t exec_inet_name_bytes(const struct exec_io *io);
/* getsockname (peer false) or getpeername (true) into *out (room for
 * EXEC_INET_SOCKADDR_BYTES_MAX bytes): its length (exec_inet_name_bytes), or -ENOTCONN. */
int exec_inet_name(const struct exec_io *io, bool peer, void *out);
/* "a.b.c.d:port" (an IPv4 or v4-mapped address) or "[v6]:port", for traces. */
void exec_inet_format(const struct in6_addr *address, uint16_t port,
                      char text[EXEC_INET_TEXT_BYTES]);

#endif /* SIM_EXEC_INET_H */
