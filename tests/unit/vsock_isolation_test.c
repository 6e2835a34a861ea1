/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/vsock_isolation_test.c: what one VM's control packets can and cannot do to
 * another VM's stream connection (docs/fuzzing.md, the guest target's finding of the
 * fourth campaign).
 *
 * World: guest A (CID 100) connected to a host listener; guest B (CID 200) writes
 * hand-made control packets straight to its device, as a hostile kernel does. Where
 * guest-to-guest traffic is allowed (esxi-4.1, both VMs unrestricted, R196/R197), B is a
 * legitimate vSockets peer of A: its packets to A's client port reach A's connected socket
 * through the socket's binding (R149, as in Linux's bound table), and an RST or a
 * SHUTDOWN with the receive bit ends A's connection (R170, R169) — A's next send fails
 * with EPIPE, the bytes already sent reach the host intact. Even a packet of an unknown
 * type does it in two steps: A answers INVALID (R151) and B's own stack answers that with
 * RST (R150). Where VMs are restricted (esxi-6.5) the hypervisor refuses B's packet
 * (R51) and A's connection does not notice. In neither world can B reach the host's end
 * of A's connection: it is found by its (local, remote) pair only, and B cannot send with
 * A's CID (R37), so B's packet goes to the listener (R162).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "suites.h"
#include "test_support.h"
#include "vmci/defs.h"
#include "vsock_fixture.h"
#include "vsock_test_support.h"

#define HOST_PORT 7000u
#define B_PORT 7777u
#define UNKNOWN_TYPE 20u                /* >= 13: no packet type (R151) */
#define PACKET_RESULT VSOCK_PACKET_BYTES /* a routed 56-byte datagram's result (R56) */

/* A's connection to the host, with the packet log of the world. */
struct isolation {
    struct fixture *f;
    struct packet_log log;
    int client;                         /* A's end */
    int server;                         /* the host's end */
    uint32_t client_port;
};

/* Ownership: destroy with isolation_destroy(). `log` must stay where it is (the sink
 * points to it), hence the caller's storage. */
static void isolation_create(struct isolation *w, bool guest_to_guest)
{
    memset(w, 0, sizeof(*w));
    struct sim_trace_sink sink = packet_log_sink(&w->log);
    w->f = guest_to_guest ? fixture_create_guest_to_guest(&sink, 1)
                          : fixture_create_with(SEED, &sink, 1);
    (void)connected_pair(w->f, &w->f->guest_a, &w->f->host, HOST_PORT, &w->client,
                         &w->server);
    w->client_port = name_of(&w->f->guest_a, w->client, false).svm_port;
}

static void isolation_destroy(struct isolation *w)
{
    fixture_destroy(w->f);
}

/* A sends `text`; the host reads exactly it. */
static void assert_a_reaches_host(struct isolation *w, const char *text)
{
    size_t size = strlen(text);
    ASSERT_RETURNS(vs_send(&w->f->guest_a, w->client, text, size, 0), (long long)size);
    run_idle(w->f);
    char buffer[32];
    CU_ASSERT_FATAL(size < sizeof(buffer));
    ASSERT_RETURNS(vs_recv(&w->f->host, w->server, buffer, sizeof(buffer), 0), (long long)size);
    CU_ASSERT_EQUAL(memcmp(buffer, text, size), 0);
}

/* B's hand-made packet from {B, src_port} to {to_cid, to_port}; returns the device's
 * result for it. */
static int b_sends(struct isolation *w, uint8_t type, uint32_t src_port, uint32_t to_cid,
                   uint32_t to_port, uint64_t u0)
{
    struct injected_packet packet = injected_packet_make(to_cid, type, src_port, to_port);
    packet.u0 = u0;
    int result = fixture_inject_packet(w->f, CID_B, &packet);
    run_idle(w->f);
    return result;
}

/* A's connection ended by the peer: the next send fails with EPIPE; once A closes, the
 * host reads the end of the stream (its end is not reset by anything of B's). */
static void assert_a_ended_cleanly(struct isolation *w)
{
    ASSERT_FAILS(vs_send(&w->f->guest_a, w->client, "late", 4, 0), EPIPE);
    ASSERT_RETURNS(vs_close(&w->f->guest_a, w->client), 0);
    run_idle(w->f);
    char byte;
    ASSERT_RETURNS(vs_recv(&w->f->host, w->server, &byte, 1, 0), 0);
}

/* R149, R170: B's RST to A's client port ends A's connection, unanswered (R150). */
static void test_R149_R170_other_vm_rst_reaches_a_client_through_its_binding(void)
{
    struct isolation w;
    isolation_create(&w, true);
    assert_a_reaches_host(&w, "before");
    uint32_t mark = w.log.count;
    ASSERT_U64_EQ(b_sends(&w, VSOCK_PACKET_RST, B_PORT, CID_A, w.client_port, 0), PACKET_RESULT);
    ASSERT_U64_EQ(packets_from(&w.log, mark, CID_A), 0);
    assert_a_ended_cleanly(&w);
    isolation_destroy(&w);
}

/* R151, R150, R170: the fuzz finding. B's packet of an unknown type from its port 0 (no
 * socket there) gets A's INVALID; B's stack answers that with RST, which ends A's
 * connection. */
static void test_R151_R150_other_vm_stack_answers_invalid_with_rst(void)
{
    struct isolation w;
    isolation_create(&w, true);
    assert_a_reaches_host(&w, "before");
    uint32_t mark = w.log.count;
    ASSERT_U64_EQ(b_sends(&w, UNKNOWN_TYPE, 0, CID_A, w.client_port, 0), PACKET_RESULT);
    ASSERT_U64_EQ(packets_count(&w.log, mark, CID_A, "INVALID"), 1);
    ASSERT_U64_EQ(packets_count(&w.log, mark, CID_B, "RST"), 1);
    ASSERT_U64_EQ(packets_from(&w.log, mark, CID_A) + packets_from(&w.log, mark, CID_B), 2);
    assert_a_ended_cleanly(&w);
    isolation_destroy(&w);
}

/* R169: only the receive bit of B's SHUTDOWN stops A's sends: mode 2 (B says it sends no
 * more) changes nothing A's sender sees, mode 1 ends it. */
static void test_R169_other_vm_shutdown_ends_sends_only_with_the_receive_bit(void)
{
    struct isolation w;
    isolation_create(&w, true);
    ASSERT_U64_EQ(b_sends(&w, VSOCK_PACKET_SHUTDOWN, B_PORT, CID_A, w.client_port,
                          VSOCK_SEND_SHUTDOWN), PACKET_RESULT);
    assert_a_reaches_host(&w, "still");
    ASSERT_U64_EQ(b_sends(&w, VSOCK_PACKET_SHUTDOWN, B_PORT, CID_A, w.client_port,
                          VSOCK_RCV_SHUTDOWN), PACKET_RESULT);
    assert_a_ended_cleanly(&w);
    isolation_destroy(&w);
}

/* R51: between restricted VMs the hypervisor refuses B's RST; A's connection goes on. */
static void test_R51_restricted_vm_cannot_reach_a_connection(void)
{
    struct isolation w;
    isolation_create(&w, false);
    uint32_t mark = w.log.count;
    ASSERT_U64_EQ((int64_t)b_sends(&w, VSOCK_PACKET_RST, B_PORT, CID_A, w.client_port, 0),
                  (int64_t)VMCI_ERROR_NO_ACCESS);
    ASSERT_U64_EQ(packets_from(&w.log, mark, CID_A), 0);
    assert_a_reaches_host(&w, "after");
    isolation_destroy(&w);
}

/* R149, R37, R162: in both worlds, B's SHUTDOWN to the host's port from a port equal to
 * A's is not A's connection (the source CID is B's): the listener answers it with RST to
 * B, and A's connection carries data both ways as before. */
static void test_R149_other_vm_cannot_reach_the_hosts_end(void)
{
    for (int guest_to_guest = 0; guest_to_guest < 2; guest_to_guest++) {
        struct isolation w;
        isolation_create(&w, guest_to_guest == 1);
        uint32_t mark = w.log.count;
        ASSERT_U64_EQ(b_sends(&w, VSOCK_PACKET_SHUTDOWN, w.client_port, CID_HOST, HOST_PORT,
                              VSOCK_SHUTDOWN_MASK), PACKET_RESULT);
        ASSERT_U64_EQ(packets_count(&w.log, mark, CID_HOST, "RST"), 1);
        ASSERT_U64_EQ(packets_from(&w.log, mark, CID_HOST), 1);
        ASSERT_U64_EQ(w.log.packets[mark].dst, ((uint64_t)CID_B << 32) | w.client_port);
        assert_a_reaches_host(&w, "after");
        ASSERT_RETURNS(vs_send(&w.f->host, w.server, "back", 4, 0), 4);
        run_idle(w.f);
        char buffer[8];
        ASSERT_RETURNS(vs_recv(&w.f->guest_a, w.client, buffer, sizeof(buffer), 0), 4);
        isolation_destroy(&w);
    }
}

CU_ErrorCode vsock_isolation_suite_add(void)
{
    static const struct test_entry tests[] = {
        TEST_ENTRY(test_R149_R170_other_vm_rst_reaches_a_client_through_its_binding),
        TEST_ENTRY(test_R151_R150_other_vm_stack_answers_invalid_with_rst),
        TEST_ENTRY(test_R169_other_vm_shutdown_ends_sends_only_with_the_receive_bit),
        TEST_ENTRY(test_R51_restricted_vm_cannot_reach_a_connection),
        TEST_ENTRY(test_R149_other_vm_cannot_reach_the_hosts_end),
    };
    return test_suite_register("vsock_isolation", tests, sizeof(tests) / sizeof(tests[0]));
}
