/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/vsock_fixture.h: the stream-socket test world shared by the vSockets
 * rule suites: esxi-6.5, the host (CID 2) and two restricted VMs with CIDs 100 and
 * 200 (vsock/vs_world.h), one vs_context per kernel (or, for the isolation tests, the
 * same VMs unrestricted on esxi-4.1, where they reach each other). Host processes are trusted
 * (D1), so host <-> guest streams work.
 *
 * Tests that need a blocking call run it on a fiber (vs_spawn) and then run the
 * engine; plain calls never wait (a call that would block fails with EAGAIN): a plain
 * connect() sends its request and fails with EAGAIN, and the next connect() on the
 * descriptor, after the engine has run, reports the handshake's outcome
 * (plain_connect).
 *
 * Control packets: a packet_log, attached as a trace sink at world creation, keeps
 * every `pkt_send` the transports trace (type, addresses, first union word), and
 * fixture_inject_packet writes a hand-made control packet from a guest kernel
 * straight to its device's DATA_OUT register, past the guest's vSockets stack.
 */
#ifndef TESTS_UNIT_VSOCK_FIXTURE_H
#define TESTS_UNIT_VSOCK_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <CUnit/CUnit.h>

#include "sim/engine/engine.h"
#include "test_support.h"
#include "vsock/vmci_sockets.h"
#include "vsock/vmci_transport.h"
#include "vsock/vs_world.h"
#include "vsock_test_support.h"

#define CID_A 100u
#define CID_B 200u
#define CID_HOST 2u
#define SEED 0x5EEDull
#define QUEUE_BYTES 65536u                      /* R211: the product flavour's default */
#define PACKETS_MAX 4096u                       /* control packets a test's log keeps */
#define CONNECT_TIMEOUT_NS 2000000000ull        /* R114 */

#define POLL_ALL (POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM | POLLRDHUP)

/* ---- Control packets seen at the transport layer ----------------------------------- */

struct packet {
    uint64_t time_ns;
    uint32_t ctx;
    char type[16];
    uint64_t src;                       /* cid << 32 | port */
    uint64_t dst;
    uint64_t u0;
    uint64_t u1;
    int64_t result;                     /* 0, or the VMCI error (pkt_send_failed) */
};

struct packet_log {
    uint32_t count;
    uint32_t dropped;
    struct packet packets[PACKETS_MAX];
};

int packet_log_emit(void *state, const struct sim_trace_event *event, char *message);
/* A sink (level transport) that appends every traced pkt_send to `log`. */
struct sim_trace_sink packet_log_sink(struct packet_log *log);
/* Packets of `type` sent from CID `cid` since index `from` of the log. */
uint32_t packets_count(const struct packet_log *log, uint32_t from, uint32_t cid,
                       const char *type);
/* Every packet sent from CID `cid` since index `from`. */
uint32_t packets_from(const struct packet_log *log, uint32_t from, uint32_t cid);

/* ---- The world ------------------------------------------------------------------------ */

struct fixture {
    struct vs_world *world;
    struct vs_context host;
    struct vs_context guest_a;
    struct vs_context guest_b;
};

/* Ownership: the fixture is the caller's; free with fixture_destroy(). */
struct fixture *fixture_create_with(uint64_t seed, const struct sim_trace_sink *sinks,
                                    uint32_t sink_count);
struct fixture *fixture_create(void);
/* The same two VMs, unrestricted, on esxi-4.1, where guest-to-guest traffic is allowed
 * (R197): each VM's stack takes the other's control packets. */
struct fixture *fixture_create_guest_to_guest(const struct sim_trace_sink *sinks,
                                              uint32_t sink_count);
void fixture_destroy(struct fixture *f);
/* Runs the engine until idle and asserts that it stopped idle. */
enum sim_stop run_idle(struct fixture *f);

struct sockaddr_vm vm_addr(uint32_t cid, uint32_t port);
int stream_socket(struct vs_context *context);
int dgram_socket(struct vs_context *context);
/* A datagram socket bound to {ANY, port}. */
int dgram_bound(struct vs_context *context, uint32_t port);
/* A stream socket bound to {ANY, port} and listening. */
int listener(struct vs_context *context, uint32_t port, int backlog);
/* A plain-code connect (see above). Returns 0 or the errno of the second call. */
int plain_connect(struct fixture *f, struct vs_context *context, int fd, uint32_t cid,
                  uint32_t port);
/* Connects a new socket of `client` to `server`'s listener on `port` (made here) and
 * accepts it: *client_fd and *server_fd are the two ends. Returns the listener. */
int connected_pair(struct fixture *f, struct vs_context *client, struct vs_context *server,
                   uint32_t port, int *client_fd, int *server_fd);
/* getsockname (peer false) or getpeername; asserts success and a 16-byte length. */
struct sockaddr_vm name_of(struct vs_context *context, int fd, bool peer);
/* vs_poll of one descriptor for POLL_ALL with timeout 0; returns revents. */
short poll_one(struct vs_context *context, int fd);

#define ASSERT_POLL(context, fd, expected) ASSERT_U64_EQ((uint16_t)poll_one(context, fd), \
                                                         (uint16_t)(expected))

/* The byte at `offset` of a test stream: SplitMix64 words, so shifts and repeats show. */
uint8_t stream_byte(uint64_t offset);
void stream_fill(uint8_t *out, uint64_t offset, uint64_t size_bytes);

/* ---- Blocking connect on a fiber ---------------------------------------------------- */

struct connect_result {
    struct sockaddr_vm target;
    int rc;
    int error;
    uint64_t started_ns;
    uint64_t ended_ns;
    uint64_t events;
    uint64_t cost_ns;
    int fd;
};

/* The fiber body: socket(), then a blocking connect() to result->target. */
void blocking_connect_body(struct vs_context *context, void *arg);
/* A blocking connect on `context`'s fiber, run to idle; returns 0 or its errno. */
int fiber_connect(struct fixture *f, struct vs_context *context, uint32_t cid,
                  uint32_t port, struct connect_result *result);

/* Writes 0 to the guest device's IMR: no interrupt reaches the guest driver. */
void mask_guest_interrupts(struct fixture *f, uint32_t cid);

/* ---- Hand-made control packets --------------------------------------------------------- */

/* One control packet as a guest kernel writes it (R147): header {dst_cid, dst_rid} <-
 * {guest cid, src_rid}, then version, type, proto, ports and the union's two words.
 * payload_bytes < 32 makes a short datagram (R148). */
struct injected_packet {
    uint32_t dst_cid;
    uint32_t dst_rid;                   /* 0: the control RID 1 */
    uint32_t src_rid;                   /* 0: the control RID 1 */
    uint8_t version;
    uint8_t type;
    uint16_t proto;
    uint32_t src_port;
    uint32_t dst_port;
    uint64_t u0;                        /* union bytes 0..7: size, handle, mode, ... */
    uint64_t u1;                        /* union bytes 8..15 */
    uint32_t payload_bytes;             /* <= VSOCK_PACKET_PAYLOAD_BYTES */
};

/* A well-formed packet of `type` from the control RID to {dst_cid, 1}, version 1,
 * 32-byte payload, union zero. */
struct injected_packet injected_packet_make(uint32_t dst_cid, uint8_t type, uint32_t src_port,
                                            uint32_t dst_port);
/* Writes `packet` to DATA_OUT of the device of VM `from_cid` (source {from_cid,
 * src_rid}); returns the device's RESULT register (a VMCI code, R37/R38). The packet
 * travels like any datagram: run the engine to have it delivered. */
int fixture_inject_packet(struct fixture *f, uint32_t from_cid, const struct injected_packet *packet);

#endif /* TESTS_UNIT_VSOCK_FIXTURE_H */
