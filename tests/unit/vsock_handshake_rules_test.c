/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/vsock_handshake_rules_test.c: the rules of the reference section 7.1-7.3
 * (control packets and the handshake, R147-R168), each test named after its rule and
 * asserting the exact errno, state or packet (D3), on the shared stream world of
 * vsock_fixture.h. Where the implementation disagrees with the reference, the test keeps
 * asserting the reference.
 *
 * Method: most rules are about packets the simulator's own stacks never send (a short
 * datagram, a NEGOTIATE of size 0, an ATTACH with a foreign handle). They are written by
 * hand: from guest A's kernel (fixture_inject_packet, past A's vSockets stack) to the host,
 * or from the host kernel (vmci_dg_send with a hand-built packet) to a guest. A host client
 * "connecting" to guest A while A's interrupts are masked never hears from A's stack, so
 * every packet it receives is one the test wrote. Guest-to-guest traffic is refused on
 * esxi-6.5 (R197), so a guest socket can only hear hand-made packets from the host kernel.
 * A log sink keeps every transport event (pkt_send, pkt_send_failed, pkt_recv, the
 * rule events) and the broker's qp_* events, and for R147 the raw bytes guest A writes to
 * DATA_OUT and reads from DATA_IN.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "suites.h"
#include "test_support.h"
#include "vmci/defs.h"
#include "vsock_fixture.h"
#include "vsock_test_support.h"

#define EVENTS_MAX 4096u                /* transport and broker events one test keeps */
#define RAW_DATAGRAMS_MAX 64u           /* guest A's DATA_OUT writes kept for R147 */
#define RAW_IN_BYTES_MAX (1u << 16)     /* guest A's DATA_IN stream kept for R147 */
#define STEP_NS 1000000ull              /* 1 ms: every hop, far below the 1 s / 2 s timers */
#define PACKET_RESULT VSOCK_PACKET_BYTES /* R56/R55: a routed 56-byte datagram's result */
#define GUEST_PORT 6000u
#define HOST_PORT 7000u

/* ---- A log of transport, broker and (guest A) device events ---------------------------- */

struct event {
    uint64_t time_ns;
    uint32_t ctx;
    char kind[24];
    char type[16];                      /* pkt_*: the packet type; rule events: the rule */
    uint64_t src;                       /* pkt_*: cid << 32 | port */
    uint64_t dst;
    uint64_t u0;                        /* pkt_*: union bytes 0..7 */
    uint64_t proto;
    uint64_t peer;                      /* qp_*: peer, flags, produce size, result */
    uint64_t flags;
    uint64_t produce;
    int64_t result;
};

struct raw_datagram {
    uint32_t size_bytes;
    uint8_t bytes[VSOCK_PACKET_BYTES + 8];
};

struct event_log {
    uint32_t count;
    uint32_t dropped;
    struct event events[EVENTS_MAX];
    uint32_t out_count;                 /* guest A's DATA_OUT writes (one datagram each) */
    struct raw_datagram out[RAW_DATAGRAMS_MAX];
    uint32_t in_bytes;                  /* guest A's DATA_IN reads, concatenated */
    uint8_t in[RAW_IN_BYTES_MAX];
};

static void copy_text(char *out, size_t capacity, const struct sim_trace_field *field)
{
    size_t size = field->value.blob.size_bytes < capacity - 1 ? field->value.blob.size_bytes
                                                              : capacity - 1;
    memcpy(out, field->value.blob.data, size);
    out[size] = '\0';
}

static void keep_raw(struct event_log *log, const struct sim_trace_event *event)
{
    const struct sim_trace_field *bytes = NULL;
    for (uint32_t index = 0; index < event->field_count; index++) {
        if (strcmp(event->fields[index].name, "bytes") == 0)
            bytes = &event->fields[index];
    }
    if (bytes == NULL || event->ctx != CID_A)
        return;
    uint32_t size = bytes->value.blob.size_bytes;
    if (strcmp(event->kind, "data_out") == 0 && log->out_count < RAW_DATAGRAMS_MAX) {
        struct raw_datagram *out = &log->out[log->out_count++];
        out->size_bytes = size;
        memcpy(out->bytes, bytes->value.blob.data, size < sizeof(out->bytes) ? size
                                                                            : sizeof(out->bytes));
    } else if (strcmp(event->kind, "data_in") == 0 && log->in_bytes + size <= RAW_IN_BYTES_MAX) {
        memcpy(log->in + log->in_bytes, bytes->value.blob.data, size);
        log->in_bytes += size;
    } else if (strcmp(event->kind, "data_in") == 0 || strcmp(event->kind, "data_out") == 0) {
        log->dropped++;
    }
}

static void keep_fields(struct event *entry, const struct sim_trace_event *event)
{
    for (uint32_t index = 0; index < event->field_count; index++) {
        const struct sim_trace_field *field = &event->fields[index];
        if (strcmp(field->name, "type") == 0 || strcmp(field->name, "rule") == 0)
            copy_text(entry->type, sizeof(entry->type), field);
        else if (strcmp(field->name, "src") == 0)
            entry->src = field->value.u64;
        else if (strcmp(field->name, "dst") == 0)
            entry->dst = field->value.u64;
        else if (strcmp(field->name, "u0") == 0)
            entry->u0 = field->value.u64;
        else if (strcmp(field->name, "proto") == 0)
            entry->proto = field->value.u64;
        else if (strcmp(field->name, "peer") == 0)
            entry->peer = field->value.u64;
        else if (strcmp(field->name, "flags") == 0)
            entry->flags = field->value.u64;
        else if (strcmp(field->name, "produce") == 0)
            entry->produce = field->value.u64;
        else if (strcmp(field->name, "result") == 0)
            entry->result = field->value.i64;
    }
}

static int event_log_emit(void *state, const struct sim_trace_event *event, char *message)
{
    (void)message;
    struct event_log *log = state;
    if (event->layer == SIM_LAYER_DEVICE) {
        keep_raw(log, event);
        return 0;
    }
    bool broker = event->layer == SIM_LAYER_VMCI && strncmp(event->kind, "qp_", 3) == 0;
    if (event->layer != SIM_LAYER_TRANSPORT && !broker)
        return 0;
    if (log->count >= EVENTS_MAX) {
        log->dropped++;
        return 0;
    }
    struct event *entry = &log->events[log->count++];
    memset(entry, 0, sizeof(*entry));
    entry->time_ns = event->time_ns;
    entry->ctx = event->ctx;
    snprintf(entry->kind, sizeof(entry->kind), "%s", event->kind);
    keep_fields(entry, event);
    return 0;
}

/* Events of `kind` (and `type` unless NULL) traced by context `ctx` since index `from`. */
static uint32_t count_of(const struct event_log *log, uint32_t from, uint32_t ctx,
                         const char *kind, const char *type)
{
    uint32_t count = 0;
    for (uint32_t index = from; index < log->count; index++) {
        const struct event *entry = &log->events[index];
        count += entry->ctx == ctx && strcmp(entry->kind, kind) == 0 &&
                 (type == NULL || strcmp(entry->type, type) == 0);
    }
    return count;
}

/* The first such event, or NULL. */
static const struct event *first_of(const struct event_log *log, uint32_t from, uint32_t ctx,
                                    const char *kind, const char *type)
{
    for (uint32_t index = from; index < log->count; index++) {
        const struct event *entry = &log->events[index];
        if (entry->ctx == ctx && strcmp(entry->kind, kind) == 0 &&
            (type == NULL || strcmp(entry->type, type) == 0))
            return entry;
    }
    return NULL;
}

static uint64_t addr64(uint32_t cid, uint32_t port)
{
    return ((uint64_t)cid << 32) | port;
}

/* Asserts that `ctx` sent exactly one packet since `from`: `type`, src -> dst, u0. */
static void assert_only_packet(const struct event_log *log, uint32_t from, uint32_t ctx,
                               const char *type, uint64_t src, uint64_t dst, uint64_t u0)
{
    ASSERT_U64_EQ(count_of(log, from, ctx, "pkt_send", NULL), 1);
    const struct event *sent = first_of(log, from, ctx, "pkt_send", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sent);
    ASSERT_STR_CONTAINS(sent->type, type);
    ASSERT_U64_EQ(strlen(sent->type), strlen(type));
    ASSERT_U64_EQ(sent->src, src);
    ASSERT_U64_EQ(sent->dst, dst);
    ASSERT_U64_EQ(sent->u0, u0);
}

/* ---- The world -------------------------------------------------------------------------- */

struct hs {
    struct fixture *f;
    struct event_log *log;
};

static struct hs hs_create(void)
{
    struct hs w;
    w.log = calloc(1, sizeof(*w.log));
    CU_ASSERT_PTR_NOT_NULL_FATAL(w.log);
    struct sim_trace_sink sink = { .name = "handshake", .level = SIM_LAYER_DEVICE,
                                   .emit = event_log_emit, .state = w.log };
    w.f = fixture_create_with(SEED, &sink, 1);
    return w;
}

static void hs_destroy(struct hs *w)
{
    ASSERT_U64_EQ(w->log->dropped, 0);
    fixture_destroy(w->f);
    free(w->log);
}

/* Runs the engine for `duration_ns` of simulated time (timers beyond stay pending). */
static void run_for(struct fixture *f, uint64_t duration_ns)
{
    uint64_t until_ns = sim_engine_now(f->world->engine) + duration_ns;
    enum sim_stop stopped = vs_world_run(f->world, until_ns);
    CU_ASSERT(stopped == SIM_STOP_UNTIL || stopped == SIM_STOP_IDLE);
}

/* A hand-made packet from guest `from`'s kernel to the host's stack (R147 layout). */
static int inject(struct fixture *f, uint32_t from, uint8_t type, uint32_t src_port,
                  uint32_t dst_port, uint64_t u0, uint16_t proto)
{
    struct injected_packet packet = injected_packet_make(CID_HOST, type, src_port, dst_port);
    packet.u0 = u0;
    packet.proto = proto;
    return fixture_inject_packet(f, from, &packet);
}

/* A hand-made packet from the host kernel (source {2, src_rid}) to guest `to`'s stack. */
static int64_t host_send(struct fixture *f, uint32_t to, uint32_t src_rid, uint8_t type,
                         uint32_t src_port, uint32_t dst_port, uint64_t u0,
                         uint32_t payload_bytes)
{
    uint8_t payload[VSOCK_PACKET_PAYLOAD_BYTES] = { 0 };
    payload[0] = VSOCK_PACKET_VERSION;
    payload[1] = type;
    payload[2] = type == VSOCK_PACKET_REQUEST2 ? VSOCK_PROTO_PKT_ON_NOTIFY : 0;
    vmci_write_u32(payload + 4, src_port);
    vmci_write_u32(payload + 8, dst_port);
    vmci_write_u64(payload + 16, u0);
    struct vmci_datagram_header header = {
        .dst = { to, VMCI_TRANSPORT_PACKET_RID }, .src = { CID_HOST, src_rid },
        .payload_size = payload_bytes,
    };
    return vmci_dg_send(f->world->host.kernel, &header, payload, NULL);
}

/* The outcome of a handshake on plain descriptor `fd`: 0, or the errno of connect()
 * (EAGAIN while the socket is still in TCP_SYN_SENT). */
static int connect_again(struct vs_context *context, int fd, uint32_t cid, uint32_t port)
{
    struct sockaddr_vm addr = vm_addr(cid, port);
    errno = 0;
    return vs_connect(context, fd, SA(addr), sizeof(addr)) == 0 ? 0 : errno;
}

/* A host client bound to {ANY, local_port}, in TCP_SYN_SENT toward {A, GUEST_PORT}: A's
 * interrupts are masked, so its REQUEST2 waits in A's device and only hand-made packets
 * from A's kernel ever answer it. */
static int host_client_connecting(struct fixture *f, uint32_t local_port)
{
    mask_guest_interrupts(f, CID_A);
    int fd = stream_socket(&f->host);
    struct sockaddr_vm local = vm_addr(VMADDR_CID_ANY, local_port);
    ASSERT_RETURNS(vs_bind(&f->host, fd, SA(local), sizeof(local)), 0);
    struct sockaddr_vm target = vm_addr(CID_A, GUEST_PORT);
    ASSERT_FAILS(vs_connect(&f->host, fd, SA(target), sizeof(target)), EAGAIN);
    run_for(f, STEP_NS);
    CU_ASSERT_EQUAL(connect_again(&f->host, fd, CID_A, GUEST_PORT), EAGAIN);
    return fd;
}

static uint64_t u64_option(struct vs_context *context, int fd, int name)
{
    uint64_t value = 0;
    socklen_t length = sizeof(value);
    ASSERT_RETURNS(vs_getsockopt(context, fd, AF_VSOCK, name, &value, &length), 0);
    return value;
}

static int host_listener_for_injection(struct fixture *f, int backlog);
static uint32_t request_from(struct hs *w, uint32_t port, uint8_t type, uint64_t size,
                             uint16_t proto);

/* ---- 7.1: control packets --------------------------------------------------------------- */

/* R147: the 56 bytes of one control datagram: header {dst, 1} <- {src, 1}, payload_size 32,
 * version 1, _reserved2 0, proto 1 only on REQUEST2/NEGOTIATE2, and the union as the type
 * says (sizes QUEUE_BYTES, the OFFER's handle on ATTACH, the SHUTDOWN mode, else 0), the
 * second union word 0. Returns the type. */
static uint8_t assert_packet_layout(const uint8_t *bytes, uint64_t size_bytes, uint32_t src,
                                    uint32_t dst, uint64_t *handle)
{
    ASSERT_U64_EQ(size_bytes, VSOCK_PACKET_BYTES);
    struct vmci_datagram_header header;
    vmci_header_decode(bytes, &header);
    ASSERT_U64_EQ(header.dst.context, dst);
    ASSERT_U64_EQ(header.dst.resource, VMCI_TRANSPORT_PACKET_RID);
    ASSERT_U64_EQ(header.src.context, src);
    ASSERT_U64_EQ(header.src.resource, VMCI_TRANSPORT_PACKET_RID);
    ASSERT_U64_EQ(header.payload_size, VSOCK_PACKET_PAYLOAD_BYTES);
    const uint8_t *payload = bytes + VMCI_DG_HEADERSIZE;
    uint8_t type = payload[1];
    uint16_t proto = (uint16_t)(payload[2] | payload[3] << 8);
    uint64_t u0 = vmci_read_u64(payload + 16);
    ASSERT_U64_EQ(payload[0], VSOCK_PACKET_VERSION);
    ASSERT_U64_EQ(vmci_read_u32(payload + 12), 0);                      /* _reserved2 */
    ASSERT_U64_EQ(vmci_read_u64(payload + 24), 0);                      /* union bytes 8..15 */
    bool v2 = type == VSOCK_PACKET_REQUEST2 || type == VSOCK_PACKET_NEGOTIATE2;
    ASSERT_U64_EQ(proto, v2 ? VSOCK_PROTO_PKT_ON_NOTIFY : 0);
    if (v2)
        ASSERT_U64_EQ(u0, QUEUE_BYTES);
    else if (type == VSOCK_PACKET_OFFER)
        *handle = u0;
    else if (type == VSOCK_PACKET_ATTACH)
        ASSERT_U64_EQ(u0, *handle);
    else if (type == VSOCK_PACKET_SHUTDOWN)
        ASSERT_U64_EQ(u0, VSOCK_SEND_SHUTDOWN);
    else
        ASSERT_U64_EQ(u0, 0);
    return type;
}

/* R147: every control packet guest A writes (DATA_OUT) and reads (DATA_IN: slots of
 * aligned size, then 0xFF filler, R40) during connect, one send, one recv, shutdown(WR)
 * and close has the layout of 7.1. The types seen are checked too, so the test cannot
 * pass on an empty stream. */
static void test_R147_every_control_packet_has_the_56_byte_layout(void)
{
    struct hs w = hs_create();
    struct fixture *f = w.f;
    int client, server;
    (void)connected_pair(f, &f->guest_a, &f->host, HOST_PORT, &client, &server);
    uint8_t byte = 7;
    ASSERT_RETURNS(vs_send(&f->guest_a, client, &byte, 1, 0), 1);
    ASSERT_RETURNS(vs_send(&f->host, server, &byte, 1, 0), 1);
    run_idle(f);
    ASSERT_RETURNS(vs_recv(&f->guest_a, client, &byte, 1, 0), 1);
    ASSERT_RETURNS(vs_shutdown(&f->guest_a, client, SHUT_WR), 0);
    run_idle(f);
    uint64_t handle = 0;
    uint32_t seen_out = 0, seen_in = 0;
    for (uint32_t index = 0; index < w.log->out_count; index++) {
        const struct raw_datagram *out = &w.log->out[index];
        if (out->size_bytes >= VMCI_DG_HEADERSIZE &&
            vmci_read_u32(out->bytes + 4) == VMCI_TRANSPORT_PACKET_RID)
            seen_out |= 1u << assert_packet_layout(out->bytes, out->size_bytes, CID_A,
                                                   CID_HOST, &handle);
    }
    for (uint32_t at = 0; at + VMCI_DG_HEADERSIZE <= w.log->in_bytes;) {
        struct vmci_datagram_header header;
        vmci_header_decode(w.log->in + at, &header);
        if (header.dst.resource == VMCI_INVALID_ID) {               /* filler to a read's end */
            at++;
            continue;
        }
        uint64_t size = VMCI_DG_HEADERSIZE + header.payload_size;
        if (header.dst.resource == VMCI_TRANSPORT_PACKET_RID)
            seen_in |= 1u << assert_packet_layout(w.log->in + at, size, CID_HOST, CID_A,
                                                  &handle);
        at += (uint32_t)vmci_dg_size_aligned(size);
    }
    ASSERT_U64_EQ(seen_out, (1u << VSOCK_PACKET_REQUEST2) | (1u << VSOCK_PACKET_OFFER) |
                            (1u << VSOCK_PACKET_WROTE) | (1u << VSOCK_PACKET_SHUTDOWN));
    ASSERT_U64_EQ(seen_in, (1u << VSOCK_PACKET_NEGOTIATE2) | (1u << VSOCK_PACKET_ATTACH) |
                           (1u << VSOCK_PACKET_WROTE));
    hs_destroy(&w);
}

/* ---- R147 byte by byte: the types the test above does not see -------------------------- */

#define CONTROL_MAX 16u                 /* control datagrams one direction of a test keeps */
#define UNION_FILL 0x1122334455667788ull /* union bytes 8..15 of hand-made triggers */

/* Guest A's control datagrams (to RID 1) of one direction, in order. */
struct control_list {
    uint32_t count;
    const uint8_t *bytes[CONTROL_MAX];
    uint64_t size_bytes[CONTROL_MAX];
};

static void control_add(struct control_list *list, const uint8_t *bytes, uint64_t size_bytes)
{
    CU_ASSERT_FATAL(list->count < CONTROL_MAX);
    list->bytes[list->count] = bytes;
    list->size_bytes[list->count++] = size_bytes;
}

/* The datagrams to RID 1 guest A wrote to DATA_OUT (one per write) and read from DATA_IN
 * (slots of aligned size, 0xFF filler to a read's end, R40). */
static void control_datagrams(const struct event_log *log, struct control_list *out,
                              struct control_list *in)
{
    memset(out, 0, sizeof(*out));
    memset(in, 0, sizeof(*in));
    for (uint32_t index = 0; index < log->out_count; index++) {
        const struct raw_datagram *raw = &log->out[index];
        if (raw->size_bytes >= VMCI_DG_HEADERSIZE &&
            vmci_read_u32(raw->bytes + 4) == VMCI_TRANSPORT_PACKET_RID)
            control_add(out, raw->bytes, raw->size_bytes);
    }
    for (uint32_t at = 0; at + VMCI_DG_HEADERSIZE <= log->in_bytes;) {
        struct vmci_datagram_header header;
        vmci_header_decode(log->in + at, &header);
        if (header.dst.resource == VMCI_INVALID_ID) {
            at++;
            continue;
        }
        uint64_t size = VMCI_DG_HEADERSIZE + header.payload_size;
        CU_ASSERT_FATAL(at + size <= log->in_bytes);
        if (header.dst.resource == VMCI_TRANSPORT_PACKET_RID)
            control_add(in, log->in + at, size);
        at += (uint32_t)vmci_dg_size_aligned(size);
    }
}

/* One control packet as the reference's table (7.1) describes it. */
struct expected_packet {
    uint32_t src_cid, src_port, dst_cid, dst_port;
    uint8_t type;
    uint16_t proto;
    uint64_t u0, u1;                    /* union bytes 0..7 and 8..15 */
};

static void put_le(uint8_t *at, uint64_t value, uint32_t size_bytes)
{
    for (uint32_t index = 0; index < size_bytes; index++)
        at[index] = (uint8_t)(value >> (8 * index));
}

/* R147: the 56 bytes of `packet`, little-endian at the table's offsets, written here
 * without the simulator's encoders: header {dst cid, 1} <- {src cid, 1}, payload_size 32,
 * version 1, type, proto, ports, _reserved2 0 (bytes 36..39), the union's two words. */
static void expected_bytes(const struct expected_packet *packet,
                           uint8_t out[VSOCK_PACKET_BYTES])
{
    memset(out, 0, VSOCK_PACKET_BYTES);
    put_le(out + 0, packet->dst_cid, 4);
    put_le(out + 4, 1, 4);
    put_le(out + 8, packet->src_cid, 4);
    put_le(out + 12, 1, 4);
    put_le(out + 16, 32, 8);
    out[24] = 1;
    out[25] = packet->type;
    put_le(out + 26, packet->proto, 2);
    put_le(out + 28, packet->src_port, 4);
    put_le(out + 32, packet->dst_port, 4);
    put_le(out + 40, packet->u0, 8);
    put_le(out + 48, packet->u1, 8);
}

/* R147: `list` is exactly `expected`, in order, each datagram 56 bytes equal to the
 * table's; every differing byte is reported. */
static void assert_control_bytes(const struct control_list *list,
                                 const struct expected_packet *expected, uint32_t count,
                                 const char *direction)
{
    ASSERT_U64_EQ(list->count, count);
    for (uint32_t index = 0; index < count && index < list->count; index++) {
        ASSERT_U64_EQ(list->size_bytes[index], VSOCK_PACKET_BYTES);
        if (list->size_bytes[index] != VSOCK_PACKET_BYTES)
            continue;
        uint8_t want[VSOCK_PACKET_BYTES];
        expected_bytes(&expected[index], want);
        uint32_t wrong = 0;
        for (uint32_t at = 0; at < VSOCK_PACKET_BYTES; at++) {
            if (list->bytes[index][at] == want[at])
                continue;
            wrong++;
            fprintf(stderr, "R147: %s packet %u (type %u): byte %u is 0x%02x, expected 0x%02x\n",
                    direction, index, expected[index].type, at, list->bytes[index][at],
                    want[at]);
        }
        ASSERT_U64_EQ(wrong, 0);
    }
}

/* The v1 handshake of guest A (force_v1, 7.2) toward a host listener on HOST_PORT, then
 * A as a blocked reader whose consume head stands at Q - 1 (WAITING_READ {1, 0}: the
 * next lap's position 0, R180), the host's WROTE, A as a blocked writer whose tail
 * stands at Q - 1 (WAITING_WRITE {0, 1}) and the host's READ. Plain calls: a recv or send
 * that would block notifies the peer and fails with EAGAIN. Returns A's port. */
static uint32_t v1_packet_protocol_exchange(struct fixture *f)
{
    static uint8_t bytes[QUEUE_BYTES];
    vs_world_kernel(f->world, CID_A)->transport.force_v1 = true;
    int client, server;
    (void)connected_pair(f, &f->guest_a, &f->host, HOST_PORT, &client, &server);
    ASSERT_RETURNS(vs_send(&f->host, server, bytes, QUEUE_BYTES, MSG_DONTWAIT),
                   QUEUE_BYTES - 1);
    run_idle(f);
    ASSERT_RETURNS(vs_recv(&f->guest_a, client, bytes, QUEUE_BYTES, MSG_DONTWAIT),
                   QUEUE_BYTES - 1);
    ASSERT_FAILS(vs_recv(&f->guest_a, client, bytes, 1, 0), EAGAIN);   /* WAITING_READ */
    run_idle(f);
    ASSERT_RETURNS(vs_send(&f->host, server, bytes, 1, 0), 1);         /* WROTE */
    run_idle(f);
    ASSERT_RETURNS(vs_recv(&f->guest_a, client, bytes, 1, MSG_DONTWAIT), 1);
    ASSERT_RETURNS(vs_send(&f->guest_a, client, bytes, QUEUE_BYTES, MSG_DONTWAIT),
                   QUEUE_BYTES - 1);
    ASSERT_FAILS(vs_send(&f->guest_a, client, bytes, 1, 0), EAGAIN);  /* WAITING_WRITE */
    run_idle(f);
    ASSERT_RETURNS(vs_recv(&f->host, server, bytes, QUEUE_BYTES, MSG_DONTWAIT),
                   QUEUE_BYTES - 1);                                    /* READ */
    run_idle(f);
    return name_of(&f->guest_a, client, false).svm_port;
}

/* R147 for REQUEST and NEGOTIATE (size QUEUE_BYTES, proto 0), WAITING_READ and
 * WAITING_WRITE (wait {generation, offset}), WROTE and READ (0): every byte of each
 * control datagram guest A writes and reads in v1_packet_protocol_exchange. The OFFER's
 * handle is taken from its own bytes (its value is R158's); the ATTACH must repeat it. */
static void test_R147_v1_and_packet_protocol_packets_byte_by_byte(void)
{
    struct hs w = hs_create();
    uint32_t port = v1_packet_protocol_exchange(w.f);
    struct control_list out, in;
    control_datagrams(w.log, &out, &in);
    CU_ASSERT_FATAL(out.count >= 2 && out.size_bytes[1] >= VSOCK_PACKET_BYTES);
    uint64_t handle = vmci_read_u64(out.bytes[1] + 40);
    CU_ASSERT(handle != 0);
    const struct expected_packet sent[] = {
        { CID_A, port, CID_HOST, HOST_PORT, VSOCK_PACKET_REQUEST, 0, QUEUE_BYTES, 0 },
        { CID_A, port, CID_HOST, HOST_PORT, VSOCK_PACKET_OFFER, 0, handle, 0 },
        { CID_A, port, CID_HOST, HOST_PORT, VSOCK_PACKET_WAITING_READ, 0, 1, 0 },
        { CID_A, port, CID_HOST, HOST_PORT, VSOCK_PACKET_WAITING_WRITE, 0, 0, 1 },
    };
    const struct expected_packet received[] = {
        { CID_HOST, HOST_PORT, CID_A, port, VSOCK_PACKET_NEGOTIATE, 0, QUEUE_BYTES, 0 },
        { CID_HOST, HOST_PORT, CID_A, port, VSOCK_PACKET_ATTACH, 0, handle, 0 },
        { CID_HOST, HOST_PORT, CID_A, port, VSOCK_PACKET_WROTE, 0, 0, 0 },
        { CID_HOST, HOST_PORT, CID_A, port, VSOCK_PACKET_READ, 0, 0, 0 },
    };
    assert_control_bytes(&out, sent, 4, "written");
    assert_control_bytes(&in, received, 4, "read");
    hs_destroy(&w);
}

/* A hand-made packet from {A, src_port} to {host, dst_port}, with a non-zero union (both
 * words) and proto 1, so that a reply copying anything of it shows. */
static void inject_trigger(struct fixture *f, uint8_t type, uint32_t src_port,
                           uint32_t dst_port)
{
    struct injected_packet packet = injected_packet_make(CID_HOST, type, src_port, dst_port);
    packet.u0 = QUEUE_BYTES;
    packet.u1 = UNION_FILL;
    packet.proto = 1;
    ASSERT_U64_EQ(fixture_inject_packet(f, CID_A, &packet), PACKET_RESULT);
    run_idle(f);
}

/* R147 for RST and INVALID (union 0, proto 0) in both directions, with listeners on
 * {A, GUEST_PORT} and {host, HOST_PORT}: (1) the host kernel sends type 13 to A's
 * listener, which answers INVALID (R151); the host has no socket on HOST_PORT + 1 and
 * answers that with RST (R150), which A's listener drops; (2) a WROTE to A's free port
 * GUEST_PORT + 1 gets A's RST; (3) A's kernel sends type 13 to the host listener: INVALID
 * back, and A, with no socket on GUEST_PORT + 2, answers RST; (4) A's WROTE to the host's
 * free port HOST_PORT + 3 gets the host's RST, never answered (R150). The hand-made
 * packets are in the streams too and checked as written. */
static void test_R147_rst_and_invalid_byte_by_byte(void)
{
    struct hs w = hs_create();
    struct fixture *f = w.f;
    (void)listener(&f->host, HOST_PORT, 4);
    (void)listener(&f->guest_a, GUEST_PORT, 4);
    ASSERT_U64_EQ(host_send(f, CID_A, 1, VSOCK_PACKET_MAX, HOST_PORT + 1, GUEST_PORT,
                            QUEUE_BYTES, VSOCK_PACKET_PAYLOAD_BYTES), PACKET_RESULT);
    run_idle(f);
    ASSERT_U64_EQ(host_send(f, CID_A, 1, VSOCK_PACKET_WROTE, HOST_PORT + 2, GUEST_PORT + 1,
                            QUEUE_BYTES, VSOCK_PACKET_PAYLOAD_BYTES), PACKET_RESULT);
    run_idle(f);
    inject_trigger(f, VSOCK_PACKET_MAX, GUEST_PORT + 2, HOST_PORT);
    inject_trigger(f, VSOCK_PACKET_WROTE, GUEST_PORT + 3, HOST_PORT + 3);
    struct control_list out, in;
    control_datagrams(w.log, &out, &in);
    const uint32_t h = HOST_PORT, g = GUEST_PORT;
    const struct expected_packet sent[] = {
        { CID_A, g, CID_HOST, h + 1, VSOCK_PACKET_INVALID, 0, 0, 0 },
        { CID_A, g + 1, CID_HOST, h + 2, VSOCK_PACKET_RST, 0, 0, 0 },
        { CID_A, g + 2, CID_HOST, h, VSOCK_PACKET_MAX, 1, QUEUE_BYTES, UNION_FILL },
        { CID_A, g + 2, CID_HOST, h, VSOCK_PACKET_RST, 0, 0, 0 },
        { CID_A, g + 3, CID_HOST, h + 3, VSOCK_PACKET_WROTE, 1, QUEUE_BYTES, UNION_FILL },
    };
    const struct expected_packet received[] = {
        { CID_HOST, h + 1, CID_A, g, VSOCK_PACKET_MAX, 0, QUEUE_BYTES, 0 },
        { CID_HOST, h + 1, CID_A, g, VSOCK_PACKET_RST, 0, 0, 0 },
        { CID_HOST, h + 2, CID_A, g + 1, VSOCK_PACKET_WROTE, 0, QUEUE_BYTES, 0 },
        { CID_HOST, h, CID_A, g + 2, VSOCK_PACKET_INVALID, 0, 0, 0 },
        { CID_HOST, h + 3, CID_A, g + 3, VSOCK_PACKET_RST, 0, 0, 0 },
    };
    assert_control_bytes(&out, sent, 5, "written");
    assert_control_bytes(&in, received, 5, "read");
    hs_destroy(&w);
}

/* R148 on the host, whose control callback answers the sender at once (R55): a packet from
 * a source RID other than 1 is refused with VMCI_ERROR_NO_ACCESS, one shorter than 56 bytes
 * with VMCI_ERROR_INVALID_ARGS; neither reaches a socket (no pkt_recv) nor is answered,
 * while the same REQUEST2 well formed gets its NEGOTIATE2. */
static void test_R148_host_refuses_wrong_source_rid_and_short_packets(void)
{
    struct hs w = hs_create();
    (void)host_listener_for_injection(w.f, 4);
    struct injected_packet packet = injected_packet_make(CID_HOST, VSOCK_PACKET_REQUEST2,
                                                         GUEST_PORT, HOST_PORT);
    packet.u0 = QUEUE_BYTES;
    packet.proto = 1;
    uint32_t mark = w.log->count;
    packet.src_rid = 7;
    ASSERT_U64_EQ(fixture_inject_packet(w.f, CID_A, &packet), VMCI_ERROR_NO_ACCESS);
    packet.src_rid = VMCI_TRANSPORT_HYPERVISOR_PACKET_RID;           /* 15 is CID 0's only */
    ASSERT_U64_EQ(fixture_inject_packet(w.f, CID_A, &packet), VMCI_ERROR_NO_ACCESS);
    packet.src_rid = 1;
    packet.payload_bytes = VSOCK_PACKET_PAYLOAD_BYTES - 1;
    ASSERT_U64_EQ(fixture_inject_packet(w.f, CID_A, &packet), VMCI_ERROR_INVALID_ARGS);
    packet.payload_bytes = 0;
    ASSERT_U64_EQ(fixture_inject_packet(w.f, CID_A, &packet), VMCI_ERROR_INVALID_ARGS);
    run_for(w.f, STEP_NS);
    ASSERT_U64_EQ(count_of(w.log, mark, CID_HOST, "pkt_recv", NULL), 0);
    ASSERT_U64_EQ(count_of(w.log, mark, CID_HOST, "pkt_send", NULL), 0);
    packet.payload_bytes = VSOCK_PACKET_PAYLOAD_BYTES;
    ASSERT_U64_EQ(fixture_inject_packet(w.f, CID_A, &packet), PACKET_RESULT);
    run_for(w.f, STEP_NS);
    ASSERT_U64_EQ(count_of(w.log, mark, CID_HOST, "pkt_send", "NEGOTIATE2"), 1);
    hs_destroy(&w);
}

static void ignore_datagram(void *state, const struct vmci_datagram_header *header,
                            const uint8_t *payload)
{
    (void)state;
    (void)header;
    (void)payload;
}

/* R148 in a guest (the host's send succeeds, R56): a REQUEST2 from the host's RID 7 or one
 * shorter than 56 bytes reaches guest A's listener but is dropped: no reply, no pkt_recv;
 * the same REQUEST2 from RID 1 is answered with NEGOTIATE2. */
static void test_R148_guest_drops_wrong_source_rid_and_short_packets(void)
{
    struct hs w = hs_create();
    struct fixture *f = w.f;
    (void)listener(&f->guest_a, GUEST_PORT, 4);
    struct vmci_identity trusted = { .trusted = true };
    struct vmci_handle other = VMCI_INVALID_HANDLE;
    ASSERT_U64_EQ(vmci_dg_create(f->world->host.kernel, 7, 0, &trusted, ignore_datagram, NULL,
                                 &other), VMCI_SUCCESS);
    uint32_t mark = w.log->count;
    ASSERT_U64_EQ(host_send(f, CID_A, 7, VSOCK_PACKET_REQUEST2, HOST_PORT, GUEST_PORT,
                            QUEUE_BYTES, VSOCK_PACKET_PAYLOAD_BYTES), PACKET_RESULT);
    ASSERT_U64_EQ(host_send(f, CID_A, 1, VSOCK_PACKET_REQUEST2, HOST_PORT, GUEST_PORT,
                            QUEUE_BYTES, 16), VMCI_DG_HEADERSIZE + 16);
    run_idle(f);
    ASSERT_U64_EQ(count_of(w.log, mark, CID_A, "pkt_recv", NULL), 0);
    ASSERT_U64_EQ(count_of(w.log, mark, CID_A, "pkt_send", NULL), 0);
    ASSERT_U64_EQ(host_send(f, CID_A, 1, VSOCK_PACKET_REQUEST2, HOST_PORT, GUEST_PORT,
                            QUEUE_BYTES, VSOCK_PACKET_PAYLOAD_BYTES), PACKET_RESULT);
    run_for(f, STEP_NS);
    assert_only_packet(w.log, mark, CID_A, "NEGOTIATE2", addr64(CID_A, GUEST_PORT),
                       addr64(CID_HOST, HOST_PORT), QUEUE_BYTES);
    ASSERT_U64_EQ(vmci_dg_destroy(f->world->host.kernel, other), VMCI_SUCCESS);
    hs_destroy(&w);
}

/* R149: a packet from the peer of an accepted connection goes to that connection, not to
 * the listener bound to the same {ANY, port} (a SHUTDOWN shows up as the peer's EOF and is
 * not answered); the same packet from another port goes to the listener (RST, R162). */
static void test_R149_connected_socket_before_bound_listener(void)
{
    struct hs w = hs_create();
    struct fixture *f = w.f;
    int client, server;
    (void)connected_pair(f, &f->guest_a, &f->host, HOST_PORT, &client, &server);
    struct sockaddr_vm local = name_of(&f->guest_a, client, false);
    mask_guest_interrupts(f, CID_A);
    uint32_t mark = w.log->count;
    ASSERT_U64_EQ(inject(f, CID_A, VSOCK_PACKET_SHUTDOWN, local.svm_port, HOST_PORT,
                         VSOCK_SHUTDOWN_MASK, 0), PACKET_RESULT);
    run_for(f, STEP_NS);
    ASSERT_U64_EQ(count_of(w.log, mark, CID_HOST, "pkt_send", NULL), 0);
    uint8_t byte;
    ASSERT_RETURNS(vs_recv(&f->host, server, &byte, 1, 0), 0);          /* peer's EOF */
    ASSERT_U64_EQ(inject(f, CID_A, VSOCK_PACKET_SHUTDOWN, local.svm_port + 1, HOST_PORT,
                         VSOCK_SHUTDOWN_MASK, 0), PACKET_RESULT);
    run_for(f, STEP_NS);
    assert_only_packet(w.log, mark, CID_HOST, "RST", addr64(CID_HOST, HOST_PORT),
                       addr64(CID_A, local.svm_port + 1), 0);
    hs_destroy(&w);
}

/* R151: a type >= 13 (13, 14, 255) addressed to an existing socket (a listener) is answered
 * with INVALID (addresses swapped, u 0) and otherwise ignored: no child is made (backlog 1
 * still admits a client). Type 12 is a known type (R162: RST). */
static void test_R151_type_13_and_up_answered_with_invalid(void)
{
    struct hs w = hs_create();
    int listen_fd = host_listener_for_injection(w.f, 1);
    static const uint8_t types[] = { 13, 14, 255 };
    for (uint32_t index = 0; index < 3; index++) {
        uint32_t mark = request_from(&w, GUEST_PORT, types[index], QUEUE_BYTES, 1);
        assert_only_packet(w.log, mark, CID_HOST, "INVALID", addr64(CID_HOST, HOST_PORT),
                           addr64(CID_A, GUEST_PORT), 0);
    }
    uint32_t mark = request_from(&w, GUEST_PORT, VSOCK_PACKET_NEGOTIATE2, QUEUE_BYTES, 1);
    ASSERT_U64_EQ(count_of(w.log, mark, CID_HOST, "pkt_send", "RST"), 1);
    ASSERT_FAILS(vs_accept(&w.f->host, listen_fd, NULL, NULL), EAGAIN);
    mark = request_from(&w, GUEST_PORT, VSOCK_PACKET_REQUEST2, QUEUE_BYTES, 1);
    ASSERT_U64_EQ(count_of(w.log, mark, CID_HOST, "pkt_send", "NEGOTIATE2"), 1);
    hs_destroy(&w);
}

/* R152, R153: an untrusted host listener refuses restricted VM A (R153: A is RESTRICTED,
 * the socket neither trusted nor A's owner): the REQUEST2 is dropped and the sender gets
 * VMCI_ERROR_NO_ACCESS at once (a hand-made one too), so connect() fails with EPERM and
 * nothing is answered. A trusted listener (D1's default) admits the same VM. */
static void test_R152_R153_untrusted_listener_refuses_a_restricted_vm(void)
{
    struct hs w = hs_create();
    struct fixture *f = w.f;
    f->host.credentials.trusted = false;
    f->host.credentials.owner_rule = false;
    (void)listener(&f->host, HOST_PORT, 4);
    int fd = stream_socket(&f->guest_a);
    struct sockaddr_vm target = vm_addr(CID_HOST, HOST_PORT);
    uint32_t mark = w.log->count;
    ASSERT_FAILS(vs_connect(&f->guest_a, fd, SA(target), sizeof(target)), EPERM);
    ASSERT_U64_EQ(inject(f, CID_A, VSOCK_PACKET_REQUEST2, GUEST_PORT, HOST_PORT, QUEUE_BYTES,
                         1), (uint64_t)(int64_t)VMCI_ERROR_NO_ACCESS);
    run_idle(f);
    ASSERT_U64_EQ(count_of(w.log, mark, CID_HOST, "pkt_send", NULL), 0);
    ASSERT_U64_EQ(count_of(w.log, mark, CID_HOST, "pkt_recv", NULL), 0);
    f->host.credentials.trusted = true;
    (void)listener(&f->host, HOST_PORT + 1, 4);
    int other = stream_socket(&f->guest_a);
    CU_ASSERT_EQUAL(plain_connect(f, &f->guest_a, other, CID_HOST, HOST_PORT + 1), 0);
    hs_destroy(&w);
}

/* A world of one VM (CID 100) on `product` with the given restriction and owner, and an
 * untrusted host process of user "user", which the owner rule (R50) covers on same-user
 * profiles only. Returns the errno of a guest connect to its listener (0: admitted). */
static int untrusted_host_admits(const char *product, bool unrestricted, const char *owner)
{
    struct vmci_vm_config vm = { .name = "a", .requested_cid = CID_A, .hw_version = 13,
                                 .unrestricted = unrestricted, .domain = "", .owner = owner };
    struct vs_world_config config = { .product = product, .seed = SEED, .vm_count = 1,
                                      .vms = &vm };
    char message[VS_WORLD_MESSAGE_BYTES_MAX] = "";
    struct vs_world *world = vs_world_create(&config, message, sizeof(message));
    if (world == NULL)
        fprintf(stderr, "vs_world_create: %s\n", message);
    CU_ASSERT_PTR_NOT_NULL_FATAL(world);
    struct fixture f = { .world = world };
    CU_ASSERT_EQUAL_FATAL(vs_world_context_init(world, &f.host, CID_HOST), 0);
    CU_ASSERT_EQUAL_FATAL(vs_world_context_init(world, &f.guest_a, CID_A), 0);
    f.host.credentials.trusted = false;
    f.host.credentials.owner_rule = world->profile.trust == VMCI_TRUST_SAME_USER;
    snprintf(f.host.credentials.user, sizeof(f.host.credentials.user), "%s", "user");
    (void)listener(&f.host, HOST_PORT, 4);
    int fd = stream_socket(&f.guest_a);
    struct sockaddr_vm target = vm_addr(CID_HOST, HOST_PORT);
    errno = 0;
    int rc = vs_connect(&f.guest_a, fd, SA(target), sizeof(target));
    int error = rc == 0 ? 0 : errno;
    if (error == EAGAIN) {
        run_idle(&f);
        error = connect_again(&f.guest_a, fd, CID_HOST, HOST_PORT);
    }
    vs_context_destroy(&f.guest_a);
    vs_context_destroy(&f.host);
    vs_world_destroy(world);
    return error;
}

/* R153: an untrusted host socket may exchange packets with VM p iff p is not RESTRICTED
 * (vmci0.unrestricted on esxi-5.0, which honours it, Section 9) or the socket's user owns
 * p (same-user profile workstation-8, D10); a restricted VM of another owner is refused
 * (EPERM, R152). */
static void test_R153_unrestricted_or_owned_vm_is_admitted(void)
{
    CU_ASSERT_EQUAL(untrusted_host_admits("esxi-5.0", true, "user"), 0);
    CU_ASSERT_EQUAL(untrusted_host_admits("esxi-5.0", false, "user"), EPERM);
    CU_ASSERT_EQUAL(untrusted_host_admits("workstation-8", false, "user"), 0);
    CU_ASSERT_EQUAL(untrusted_host_admits("workstation-8", false, "other"), EPERM);
}

/* R154: a socket's local CID is set from the packet delivered to it: a listener bound to
 * {ANY, port} reports {2, port} once a request reached it, the child it makes has local
 * CID 2, and a guest client bound to {ANY, port} reports its CID once NEGOTIATE2 came. */
static void test_R154_sockets_learn_their_cid_from_packets(void)
{
    struct hs w = hs_create();
    struct fixture *f = w.f;
    int listen_fd = listener(&f->host, HOST_PORT, 4);
    ASSERT_U64_EQ(name_of(&f->host, listen_fd, false).svm_cid, VMADDR_CID_ANY);
    int client = stream_socket(&f->guest_a);
    struct sockaddr_vm local = vm_addr(VMADDR_CID_ANY, GUEST_PORT);
    ASSERT_RETURNS(vs_bind(&f->guest_a, client, SA(local), sizeof(local)), 0);
    ASSERT_U64_EQ(name_of(&f->guest_a, client, false).svm_cid, VMADDR_CID_ANY);
    CU_ASSERT_EQUAL(plain_connect(f, &f->guest_a, client, CID_HOST, HOST_PORT), 0);
    struct sockaddr_vm name = name_of(&f->guest_a, client, false);
    ASSERT_U64_EQ(name.svm_cid, CID_A);
    ASSERT_U64_EQ(name.svm_port, GUEST_PORT);
    ASSERT_U64_EQ(name_of(&f->host, listen_fd, false).svm_cid, CID_HOST);
    int server = vs_accept(&f->host, listen_fd, NULL, NULL);
    CU_ASSERT_FATAL(server >= VS_FD_FIRST);
    name = name_of(&f->host, server, false);
    ASSERT_U64_EQ(name.svm_cid, CID_HOST);
    ASSERT_U64_EQ(name.svm_port, HOST_PORT);
    hs_destroy(&w);
}

/* ---- 7.2: the client side ---------------------------------------------------------------- */

/* R155: connect() sends one REQUEST2 whose u.size is the socket's buffer_size (here a
 * non-default 32768) and whose proto is 1, and leaves the socket in TCP_SYN_SENT: a
 * nonblocking connect() is EINPROGRESS, a second one EALREADY, nothing more is sent. */
static void test_R155_request2_carries_buffer_size_and_proto_1(void)
{
    struct hs w = hs_create();
    struct fixture *f = w.f;
    mask_guest_interrupts(f, CID_A);
    int fd = stream_socket(&f->host);
    uint64_t size = 32768;
    ASSERT_RETURNS(vs_setsockopt(&f->host, fd, AF_VSOCK, SO_VM_SOCKETS_BUFFER_SIZE, &size,
                                 sizeof(size)), 0);
    ASSERT_RETURNS(vs_fcntl(&f->host, fd, F_SETFL, O_NONBLOCK), 0);
    uint32_t mark = w.log->count;
    struct sockaddr_vm target = vm_addr(CID_A, GUEST_PORT);
    ASSERT_FAILS(vs_connect(&f->host, fd, SA(target), sizeof(target)), EINPROGRESS);
    struct sockaddr_vm local = name_of(&f->host, fd, false);
    assert_only_packet(w.log, mark, CID_HOST, "REQUEST2", addr64(CID_HOST, local.svm_port),
                       addr64(CID_A, GUEST_PORT), size);
    const struct event *request = first_of(w.log, mark, CID_HOST, "pkt_send", "REQUEST2");
    CU_ASSERT_PTR_NOT_NULL_FATAL(request);
    ASSERT_U64_EQ(request->proto, VSOCK_PROTO_PKT_ON_NOTIFY);
    run_for(f, STEP_NS);
    ASSERT_FAILS(vs_connect(&f->host, fd, SA(target), sizeof(target)), EALREADY);
    ASSERT_U64_EQ(count_of(w.log, mark, CID_HOST, "pkt_send", NULL), 1);        /* sent once */
    hs_destroy(&w);
}

/* R156, R157: an INVALID after REQUEST2 makes the client re-send a v1 REQUEST of the same
 * size (proto 0); a second INVALID (no REQUEST2 outstanding) is ignored; the first RST after
 * the fallback is ignored, the second resets the connect (ECONNRESET) and gets no reply. */
static void test_R156_R157_invalid_falls_back_to_v1_and_ignores_one_rst(void)
{
    struct hs w = hs_create();
    struct fixture *f = w.f;
    int fd = host_client_connecting(f, HOST_PORT);
    uint64_t client = addr64(CID_HOST, HOST_PORT), server = addr64(CID_A, GUEST_PORT);
    uint32_t mark = w.log->count;
    ASSERT_U64_EQ(inject(f, CID_A, VSOCK_PACKET_INVALID, GUEST_PORT, HOST_PORT, 0, 0),
                  PACKET_RESULT);
    run_for(f, STEP_NS);
    assert_only_packet(w.log, mark, CID_HOST, "REQUEST", client, server, QUEUE_BYTES);
    ASSERT_U64_EQ(first_of(w.log, mark, CID_HOST, "pkt_send", NULL)->proto, 0);
    mark = w.log->count;
    ASSERT_U64_EQ(inject(f, CID_A, VSOCK_PACKET_INVALID, GUEST_PORT, HOST_PORT, 0, 0),
                  PACKET_RESULT);
    run_for(f, STEP_NS);
    ASSERT_U64_EQ(count_of(w.log, mark, CID_HOST, "pkt_send", NULL), 0);        /* ignored */
    ASSERT_U64_EQ(inject(f, CID_A, VSOCK_PACKET_RST, GUEST_PORT, HOST_PORT, 0, 0),
                  PACKET_RESULT);
    run_for(f, STEP_NS);
    CU_ASSERT_EQUAL(connect_again(&f->host, fd, CID_A, GUEST_PORT), EAGAIN);   /* R157 */
    ASSERT_U64_EQ(inject(f, CID_A, VSOCK_PACKET_RST, GUEST_PORT, HOST_PORT, 0, 0),
                  PACKET_RESULT);
    run_for(f, STEP_NS);
    CU_ASSERT_EQUAL(connect_again(&f->host, fd, CID_A, GUEST_PORT), ECONNRESET);
    ASSERT_U64_EQ(count_of(w.log, mark, CID_HOST, "pkt_send", NULL), 0);        /* no RST back */
    hs_destroy(&w);
}

/* R157: without a preceding INVALID, the first RST in TCP_SYN_SENT fails the connect with
 * ECONNRESET and is not answered. */
static void test_R157_rst_while_connecting_is_econnreset_without_reply(void)
{
    struct hs w = hs_create();
    struct fixture *f = w.f;
    int fd = host_client_connecting(f, HOST_PORT);
    uint32_t mark = w.log->count;
    ASSERT_U64_EQ(inject(f, CID_A, VSOCK_PACKET_RST, GUEST_PORT, HOST_PORT, 0, 0),
                  PACKET_RESULT);
    run_for(f, STEP_NS);
    CU_ASSERT_EQUAL(connect_again(&f->host, fd, CID_A, GUEST_PORT), ECONNRESET);
    ASSERT_U64_EQ(count_of(w.log, mark, CID_HOST, "pkt_send", NULL), 0);
    ASSERT_U64_EQ(count_of(w.log, mark, CID_HOST, "pkt_recv", "RST"), 1);
    hs_destroy(&w);
}

/* One NEGOTIATE-like packet to a fresh host client: returns connect()'s errno afterwards
 * and asserts the client's only packet is `reply` (an RST, or the OFFER of a success). */
static int negotiate_outcome(uint32_t from, uint8_t type, uint32_t src_port, uint64_t size,
                             uint16_t proto, const char *reply)
{
    struct hs w = hs_create();
    struct fixture *f = w.f;
    int fd = host_client_connecting(f, HOST_PORT);
    uint32_t mark = w.log->count;
    ASSERT_U64_EQ(inject(f, from, type, src_port, HOST_PORT, size, proto), PACKET_RESULT);
    run_for(f, STEP_NS);
    ASSERT_U64_EQ(count_of(w.log, mark, CID_HOST, "pkt_send", NULL), 1);
    ASSERT_U64_EQ(count_of(w.log, mark, CID_HOST, "pkt_send", reply), 1);
    const struct event *sent = first_of(w.log, mark, CID_HOST, "pkt_send", reply);
    if (sent != NULL) {     /* R150's RST goes to the peer the client connects to */
        ASSERT_U64_EQ(sent->src, addr64(CID_HOST, HOST_PORT));
        ASSERT_U64_EQ(sent->dst, addr64(CID_A, GUEST_PORT));
    }
    int error = connect_again(&f->host, fd, CID_A, GUEST_PORT);
    hs_destroy(&w);
    return error;
}

/* R158: NEGOTIATE/NEGOTIATE2 with u.size 0, from a port or a CID (guest B) other than the
 * one connected to, fails the connect with EPROTO and an RST to the connected peer; so
 * does a second NEGOTIATE2 once the queue pair exists. */
static void test_R158_negotiate_checks_fail_with_eproto_and_rst(void)
{
    CU_ASSERT_EQUAL(negotiate_outcome(CID_A, VSOCK_PACKET_NEGOTIATE2, GUEST_PORT, 0, 1, "RST"),
                    EPROTO);
    CU_ASSERT_EQUAL(negotiate_outcome(CID_A, VSOCK_PACKET_NEGOTIATE, GUEST_PORT, 0, 0, "RST"),
                    EPROTO);
    CU_ASSERT_EQUAL(negotiate_outcome(CID_A, VSOCK_PACKET_NEGOTIATE2, GUEST_PORT + 1,
                                      QUEUE_BYTES, 1, "RST"), EPROTO);
    CU_ASSERT_EQUAL(negotiate_outcome(CID_B, VSOCK_PACKET_NEGOTIATE2, GUEST_PORT,
                                      QUEUE_BYTES, 1, "RST"), EPROTO);
    struct hs w = hs_create();
    struct fixture *f = w.f;
    int fd = host_client_connecting(f, HOST_PORT);
    ASSERT_U64_EQ(inject(f, CID_A, VSOCK_PACKET_NEGOTIATE2, GUEST_PORT, HOST_PORT,
                         QUEUE_BYTES, 1), PACKET_RESULT);
    run_for(f, STEP_NS);
    uint32_t mark = w.log->count;
    ASSERT_U64_EQ(inject(f, CID_A, VSOCK_PACKET_NEGOTIATE2, GUEST_PORT, HOST_PORT,
                         QUEUE_BYTES, 1), PACKET_RESULT);
    run_for(f, STEP_NS);
    assert_only_packet(w.log, mark, CID_HOST, "RST", addr64(CID_HOST, HOST_PORT),
                       addr64(CID_A, GUEST_PORT), 0);
    CU_ASSERT_EQUAL(connect_again(&f->host, fd, CID_A, GUEST_PORT), EPROTO);
    hs_destroy(&w);
}

/* R158: a size outside [buffer_min_size, buffer_max_size] (one below, one above) and a
 * NEGOTIATE2 whose proto is not 1 fail the connect with EINVAL and an RST; the bounds
 * themselves are accepted (OFFER). */
static void test_R158_negotiate_size_and_proto_fail_with_einval_and_rst(void)
{
    struct hs w = hs_create();
    int probe = stream_socket(&w.f->host);
    uint64_t min = u64_option(&w.f->host, probe, SO_VM_SOCKETS_BUFFER_MIN_SIZE);
    uint64_t max = u64_option(&w.f->host, probe, SO_VM_SOCKETS_BUFFER_MAX_SIZE);
    hs_destroy(&w);
    uint8_t n2 = VSOCK_PACKET_NEGOTIATE2;
    CU_ASSERT_EQUAL(negotiate_outcome(CID_A, n2, GUEST_PORT, min - 1, 1, "RST"), EINVAL);
    CU_ASSERT_EQUAL(negotiate_outcome(CID_A, n2, GUEST_PORT, max + 1, 1, "RST"), EINVAL);
    CU_ASSERT_EQUAL(negotiate_outcome(CID_A, n2, GUEST_PORT, QUEUE_BYTES, 0, "RST"), EINVAL);
    CU_ASSERT_EQUAL(negotiate_outcome(CID_A, n2, GUEST_PORT, QUEUE_BYTES, 2, "RST"), EINVAL);
    CU_ASSERT_EQUAL(negotiate_outcome(CID_A, n2, GUEST_PORT, QUEUE_BYTES, 3, "RST"), EINVAL);
    CU_ASSERT_EQUAL(negotiate_outcome(CID_A, n2, GUEST_PORT, min, 1, "OFFER"), EAGAIN);
    CU_ASSERT_EQUAL(negotiate_outcome(CID_A, n2, GUEST_PORT, max, 1, "OFFER"), EAGAIN);
}

/* A host client that has processed a NEGOTIATE2 (size QUEUE_BYTES) from A: it made the
 * queue pair and sent its OFFER. Returns the OFFER's u0 (the handle, context | rid << 32). */
static uint64_t host_client_offered(struct hs *w, int *fd)
{
    *fd = host_client_connecting(w->f, HOST_PORT);
    uint32_t mark = w->log->count;
    ASSERT_U64_EQ(inject(w->f, CID_A, VSOCK_PACKET_NEGOTIATE2, GUEST_PORT, HOST_PORT,
                         QUEUE_BYTES, 1), PACKET_RESULT);
    run_for(w->f, STEP_NS);
    const struct event *offer = first_of(w->log, mark, CID_HOST, "pkt_send", "OFFER");
    CU_ASSERT_PTR_NOT_NULL_FATAL(offer);
    return offer->u0;
}

/* R159: an ATTACH with a handle other than the client's, or the invalid handle, fails the
 * connect with EPROTO and an RST; an ATTACH before any queue pair exists likewise. */
static void test_R159_attach_with_another_handle_is_eproto_with_rst(void)
{
    static const uint64_t handles[] = { 0, UINT64_MAX, 1 /* filled in: ours + 1 rid */ };
    for (uint32_t index = 0; index < 3; index++) {
        struct hs w = hs_create();
        int fd;
        uint64_t ours = host_client_offered(&w, &fd);
        uint64_t handle = index == 2 ? ours + (1ull << 32) : handles[index];
        uint32_t mark = w.log->count;
        ASSERT_U64_EQ(inject(w.f, CID_A, VSOCK_PACKET_ATTACH, GUEST_PORT, HOST_PORT, handle, 0),
                      PACKET_RESULT);
        run_for(w.f, STEP_NS);
        assert_only_packet(w.log, mark, CID_HOST, "RST", addr64(CID_HOST, HOST_PORT),
                           addr64(CID_A, GUEST_PORT), 0);
        CU_ASSERT_EQUAL(connect_again(&w.f->host, fd, CID_A, GUEST_PORT), EPROTO);
        hs_destroy(&w);
    }
    struct hs w = hs_create();
    int fd = host_client_connecting(w.f, HOST_PORT);
    uint32_t mark = w.log->count;
    ASSERT_U64_EQ(inject(w.f, CID_A, VSOCK_PACKET_ATTACH, GUEST_PORT, HOST_PORT,
                         (uint64_t)VMCI_INVALID_ID | ((uint64_t)VMCI_INVALID_ID << 32), 0),
                  PACKET_RESULT);
    run_for(w.f, STEP_NS);
    ASSERT_U64_EQ(count_of(w.log, mark, CID_HOST, "pkt_send", "RST"), 1);
    CU_ASSERT_EQUAL(connect_again(&w.f->host, fd, CID_A, GUEST_PORT), EPROTO);
    hs_destroy(&w);
}

/* R159: the ATTACH that carries the client's own handle establishes it: connect() returns
 * 0, a further connect() is EISCONN, the peer name is the server, nothing is sent back. */
static void test_R159_attach_with_our_handle_establishes(void)
{
    struct hs w = hs_create();
    int fd;
    uint64_t ours = host_client_offered(&w, &fd);
    ASSERT_U64_EQ(ours & 0xFFFFFFFFull, CID_HOST);          /* R92: the creator's context */
    uint32_t mark = w.log->count;
    ASSERT_U64_EQ(inject(w.f, CID_A, VSOCK_PACKET_ATTACH, GUEST_PORT, HOST_PORT, ours, 0),
                  PACKET_RESULT);
    run_for(w.f, STEP_NS);
    ASSERT_U64_EQ(count_of(w.log, mark, CID_HOST, "pkt_send", NULL), 0);
    CU_ASSERT_EQUAL(connect_again(&w.f->host, fd, CID_A, GUEST_PORT), 0);
    struct sockaddr_vm target = vm_addr(CID_A, GUEST_PORT);
    ASSERT_FAILS(vs_connect(&w.f->host, fd, SA(target), sizeof(target)), EISCONN);
    struct sockaddr_vm peer = name_of(&w.f->host, fd, true);
    ASSERT_U64_EQ(peer.svm_cid, CID_A);
    ASSERT_U64_EQ(peer.svm_port, GUEST_PORT);
    ASSERT_POLL(&w.f->host, fd, POLLOUT | POLLWRNORM);
    hs_destroy(&w);
}

/* R160: every other type reaching a client in TCP_SYN_SENT (before or after its OFFER)
 * fails the connect with EPROTO and one RST to the server. */
static void test_R160_unexpected_packets_while_connecting_are_eproto_with_rst(void)
{
    static const uint8_t types[] = {
        VSOCK_PACKET_REQUEST, VSOCK_PACKET_OFFER, VSOCK_PACKET_WROTE, VSOCK_PACKET_READ,
        VSOCK_PACKET_SHUTDOWN, VSOCK_PACKET_WAITING_WRITE, VSOCK_PACKET_WAITING_READ,
        VSOCK_PACKET_REQUEST2,
    };
    for (uint32_t index = 0; index < sizeof(types) * 2; index++) {
        struct hs w = hs_create();
        int fd;
        if (index < sizeof(types))
            fd = host_client_connecting(w.f, HOST_PORT);
        else
            (void)host_client_offered(&w, &fd);                 /* queue pair made */
        uint8_t type = types[index % sizeof(types)];
        uint32_t mark = w.log->count;
        ASSERT_U64_EQ(inject(w.f, CID_A, type, GUEST_PORT, HOST_PORT, 3, 0), PACKET_RESULT);
        run_for(w.f, STEP_NS);
        assert_only_packet(w.log, mark, CID_HOST, "RST", addr64(CID_HOST, HOST_PORT),
                           addr64(CID_A, GUEST_PORT), 0);
        int error = connect_again(&w.f->host, fd, CID_A, GUEST_PORT);
        if (error != EPROTO)
            fprintf(stderr, "R160: type %u gave errno %s\n", type, vsock_errno_name(error));
        CU_ASSERT_EQUAL(error, EPROTO);
        hs_destroy(&w);
    }
}

/* R161: a QP_PEER_DETACH for the client's queue pair while it is still in TCP_SYN_SENT
 * fails the connect with ECONNRESET (no packet sent). The "server" is guest A's kernel,
 * driven through the driver API: it attaches to the client's queue pair and detaches
 * again before any ATTACH packet, which is the reference's interleaving (server gone
 * between its attach and the client's processing of ATTACH) without the ATTACH itself. */
static void test_R161_peer_detach_while_connecting_is_econnreset(void)
{
    struct hs w = hs_create();
    int fd;
    uint64_t offered = host_client_offered(&w, &fd);
    struct vmci_kernel *guest = vs_world_kernel(w.f->world, CID_A)->kernel;
    struct vmci_handle handle = { (uint32_t)offered, (uint32_t)(offered >> 32) };
    struct vmci_qpair *qpair = NULL;
    ASSERT_U64_EQ(vmci_qpair_alloc(guest, &handle, QUEUE_BYTES, QUEUE_BYTES, CID_HOST,
                                   VMCI_QPFLAG_ATTACH_ONLY, NULL, &qpair, NULL), VMCI_SUCCESS);
    run_for(w.f, STEP_NS);
    CU_ASSERT_EQUAL(connect_again(&w.f->host, fd, CID_A, GUEST_PORT), EAGAIN);
    uint32_t mark = w.log->count;
    ASSERT_U64_EQ(vmci_qpair_detach(qpair, NULL), VMCI_SUCCESS);
    run_for(w.f, STEP_NS);
    CU_ASSERT_EQUAL(connect_again(&w.f->host, fd, CID_A, GUEST_PORT), ECONNRESET);
    ASSERT_U64_EQ(count_of(w.log, mark, CID_HOST, "pkt_send", NULL), 0);
    hs_destroy(&w);
}

/* R158: NEGOTIATE (v1) gives packet-based notify (a poll of the established, empty
 * socket sends WAITING_READ, R180); NEGOTIATE2 gives queue-state notify (no packet). The
 * queue pair is created with produce = consume = size, peer = the server, flags 0. */
static void test_R158_negotiate_type_chooses_protocol_and_queue_pair(void)
{
    for (uint32_t v1 = 0; v1 < 2; v1++) {
        struct hs w = hs_create();
        int fd = host_client_connecting(w.f, HOST_PORT);
        uint32_t mark = w.log->count;
        uint8_t type = v1 ? VSOCK_PACKET_NEGOTIATE : VSOCK_PACKET_NEGOTIATE2;
        ASSERT_U64_EQ(inject(w.f, CID_A, type, GUEST_PORT, HOST_PORT, 8192, v1 ? 0 : 1),
                      PACKET_RESULT);
        run_for(w.f, STEP_NS);
        const struct event *created = first_of(w.log, mark, CID_HOST, "qp_create", NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(created);
        ASSERT_U64_EQ(created->result, 0);
        ASSERT_U64_EQ(created->peer, CID_A);
        ASSERT_U64_EQ(created->flags, 0);
        ASSERT_U64_EQ(created->produce, 8192);
        const struct event *offer = first_of(w.log, mark, CID_HOST, "pkt_send", "OFFER");
        CU_ASSERT_PTR_NOT_NULL_FATAL(offer);
        ASSERT_U64_EQ(inject(w.f, CID_A, VSOCK_PACKET_ATTACH, GUEST_PORT, HOST_PORT,
                             offer->u0, 0), PACKET_RESULT);
        run_for(w.f, STEP_NS);
        CU_ASSERT_EQUAL(connect_again(&w.f->host, fd, CID_A, GUEST_PORT), 0);
        mark = w.log->count;
        ASSERT_POLL(&w.f->host, fd, POLLOUT | POLLWRNORM);
        ASSERT_U64_EQ(count_of(w.log, mark, CID_HOST, "pkt_send", "WAITING_READ"), v1);
        ASSERT_U64_EQ(count_of(w.log, mark, CID_HOST, "pkt_send", NULL), v1);
        hs_destroy(&w);
    }
}

/* R158: a host client connecting to a host listener (D9: esxi allows host-local queue
 * pairs) creates its queue pair with VMCI_QPFLAG_LOCAL; the server attaches with
 * ATTACH_ONLY | LOCAL (R166), both with peer 2. */
static void test_R158_R166_local_queue_pair_flags(void)
{
    struct hs w = hs_create();
    int client, server;
    uint32_t mark = w.log->count;
    connected_pair(w.f, &w.f->host, &w.f->host, HOST_PORT, &client, &server);
    const struct event *created = first_of(w.log, mark, CID_HOST, "qp_create", NULL);
    const struct event *attached = first_of(w.log, mark, CID_HOST, "qp_attach", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(created);
    CU_ASSERT_PTR_NOT_NULL_FATAL(attached);
    ASSERT_U64_EQ(created->flags, VMCI_QPFLAG_LOCAL);
    ASSERT_U64_EQ(attached->flags, VMCI_QPFLAG_ATTACH_ONLY | VMCI_QPFLAG_LOCAL);
    ASSERT_U64_EQ(created->peer, CID_HOST);
    ASSERT_U64_EQ(attached->peer, CID_HOST);
    ASSERT_U64_EQ(created->result, 0);
    ASSERT_U64_EQ(attached->result, 0);
    hs_destroy(&w);
}

/* ---- 7.3: the server side ---------------------------------------------------------------- */

/* A host listener on {ANY, HOST_PORT} with `backlog`; A's interrupts are masked so A's stack
 * never answers the host's replies (they wait in A's device). */
static int host_listener_for_injection(struct fixture *f, int backlog)
{
    mask_guest_interrupts(f, CID_A);
    return listener(&f->host, HOST_PORT, backlog);
}

/* Injects a REQUEST2 (proto 1) from {A, port} with `size`; returns the log mark before it. */
static uint32_t request_from(struct hs *w, uint32_t port, uint8_t type, uint64_t size,
                             uint16_t proto)
{
    uint32_t mark = w->log->count;
    ASSERT_U64_EQ(inject(w->f, CID_A, type, port, HOST_PORT, size, proto), PACKET_RESULT);
    run_for(w->f, STEP_NS);
    return mark;
}

/* R162: a listener answers every non-REQUEST type, and a REQUEST/REQUEST2 of size 0, with
 * one RST (addresses and ports swapped, u 0) and makes no child (backlog 1 still takes a
 * connection afterwards); an RST is dropped without reply. */
static void test_R162_listener_resets_non_requests_and_size_zero(void)
{
    static const uint8_t types[] = {
        VSOCK_PACKET_INVALID, VSOCK_PACKET_NEGOTIATE, VSOCK_PACKET_OFFER, VSOCK_PACKET_ATTACH,
        VSOCK_PACKET_WROTE, VSOCK_PACKET_READ, VSOCK_PACKET_SHUTDOWN,
        VSOCK_PACKET_WAITING_WRITE, VSOCK_PACKET_WAITING_READ, VSOCK_PACKET_NEGOTIATE2,
    };
    struct hs w = hs_create();
    int listen_fd = host_listener_for_injection(w.f, 1);
    uint32_t port = GUEST_PORT;
    for (uint32_t index = 0; index < sizeof(types); index++, port++) {
        uint32_t mark = request_from(&w, port, types[index], QUEUE_BYTES, 0);
        assert_only_packet(w.log, mark, CID_HOST, "RST", addr64(CID_HOST, HOST_PORT),
                           addr64(CID_A, port), 0);
    }
    uint32_t mark = request_from(&w, port++, VSOCK_PACKET_REQUEST2, 0, 1);
    assert_only_packet(w.log, mark, CID_HOST, "RST", addr64(CID_HOST, HOST_PORT),
                       addr64(CID_A, port - 1), 0);
    mark = request_from(&w, port++, VSOCK_PACKET_REQUEST, 0, 0);
    assert_only_packet(w.log, mark, CID_HOST, "RST", addr64(CID_HOST, HOST_PORT),
                       addr64(CID_A, port - 1), 0);
    mark = request_from(&w, port++, VSOCK_PACKET_RST, 0, 0);
    ASSERT_U64_EQ(count_of(w.log, mark, CID_HOST, "pkt_send", NULL), 0);
    ASSERT_FAILS(vs_accept(&w.f->host, listen_fd, NULL, NULL), EAGAIN);
    mark = request_from(&w, port, VSOCK_PACKET_REQUEST2, QUEUE_BYTES, 1);   /* no child yet */
    assert_only_packet(w.log, mark, CID_HOST, "NEGOTIATE2", addr64(CID_HOST, HOST_PORT),
                       addr64(CID_A, port), QUEUE_BYTES);
    hs_destroy(&w);
}

/* R162, R165: a REQUEST2 makes a child {dst CID, dst port} <- {src CID, src port} that is
 * pending (not acceptable) and counts toward the backlog: with backlog 1 the next request
 * is refused with RST (R106), also 999 ms later; 1 s after its creation the child has
 * expired silently and a new request gets its NEGOTIATE2. */
static void test_R162_R165_half_open_child_counts_to_backlog_and_expires_after_1s(void)
{
    struct hs w = hs_create();
    int listen_fd = host_listener_for_injection(w.f, 1);
    uint32_t mark = request_from(&w, GUEST_PORT, VSOCK_PACKET_REQUEST2, QUEUE_BYTES, 1);
    assert_only_packet(w.log, mark, CID_HOST, "NEGOTIATE2", addr64(CID_HOST, HOST_PORT),
                       addr64(CID_A, GUEST_PORT), QUEUE_BYTES);
    uint64_t created_ns = first_of(w.log, mark, CID_HOST, "pkt_recv", "REQUEST2")->time_ns;
    ASSERT_FAILS(vs_accept(&w.f->host, listen_fd, NULL, NULL), EAGAIN);        /* pending */
    mark = request_from(&w, GUEST_PORT + 1, VSOCK_PACKET_REQUEST2, QUEUE_BYTES, 1);
    assert_only_packet(w.log, mark, CID_HOST, "RST", addr64(CID_HOST, HOST_PORT),
                       addr64(CID_A, GUEST_PORT + 1), 0);
    ASSERT_U64_EQ(count_of(w.log, mark, CID_HOST, "backlog_full", "R106"), 1);
    run_for(w.f, created_ns + 999 * STEP_NS - sim_engine_now(w.f->world->engine) - STEP_NS);
    mark = request_from(&w, GUEST_PORT + 2, VSOCK_PACKET_REQUEST2, QUEUE_BYTES, 1);
    ASSERT_U64_EQ(count_of(w.log, mark, CID_HOST, "pkt_send", "RST"), 1);      /* 999 ms */
    ASSERT_U64_EQ(first_of(w.log, mark, CID_HOST, "pkt_recv", NULL)->time_ns < created_ns +
                  VSOCK_HALF_OPEN_TIMEOUT_NS, 1);
    mark = w.log->count;
    run_for(w.f, created_ns + VSOCK_HALF_OPEN_TIMEOUT_NS - sim_engine_now(w.f->world->engine));
    ASSERT_U64_EQ(count_of(w.log, mark, CID_HOST, "pkt_send", NULL), 0);       /* silent */
    mark = request_from(&w, GUEST_PORT + 3, VSOCK_PACKET_REQUEST2, QUEUE_BYTES, 1);
    ASSERT_U64_EQ(count_of(w.log, mark, CID_HOST, "pkt_send", "NEGOTIATE2"), 1);
    ASSERT_U64_EQ(count_of(w.log, mark, CID_HOST, "pkt_send", NULL), 1);
    hs_destroy(&w);
}

/* R163: the child takes the client's size when buffer_min_size <= size <= buffer_max_size
 * of the listener (both bounds included), else the listener's buffer_size. */
static void test_R163_child_takes_size_within_min_max_else_buffer_size(void)
{
    struct hs w = hs_create();
    int listen_fd = host_listener_for_injection(w.f, 16);
    uint64_t min = u64_option(&w.f->host, listen_fd, SO_VM_SOCKETS_BUFFER_MIN_SIZE);
    uint64_t max = u64_option(&w.f->host, listen_fd, SO_VM_SOCKETS_BUFFER_MAX_SIZE);
    uint64_t own = u64_option(&w.f->host, listen_fd, SO_VM_SOCKETS_BUFFER_SIZE);
    CU_ASSERT_FATAL(min > 1 && max > own && own > min);
    const uint64_t proposed[] = { min, max, min - 1, max + 1, own + 1 };
    const uint64_t chosen[] = { min, max, own, own, own + 1 };
    for (uint32_t index = 0; index < 5; index++) {
        uint32_t mark = request_from(&w, GUEST_PORT + index, VSOCK_PACKET_REQUEST2,
                                     proposed[index], 1);
        assert_only_packet(w.log, mark, CID_HOST, "NEGOTIATE2", addr64(CID_HOST, HOST_PORT),
                           addr64(CID_A, GUEST_PORT + index), chosen[index]);
    }
    hs_destroy(&w);
}

/* R164: REQUEST -> NEGOTIATE (proto 0); REQUEST2 with proto 1 or 3 -> NEGOTIATE2 with
 * proto 1; REQUEST2 with proto 0 or 2 (nothing in common) -> RST and no child (backlog 1
 * still admits the next request). */
static void test_R164_request_type_and_proto_choose_the_reply(void)
{
    struct hs w = hs_create();
    (void)host_listener_for_injection(w.f, 1);
    const uint16_t refused[] = { 0, 2 };
    for (uint32_t index = 0; index < 2; index++) {
        uint32_t mark = request_from(&w, GUEST_PORT + index, VSOCK_PACKET_REQUEST2,
                                     QUEUE_BYTES, refused[index]);
        assert_only_packet(w.log, mark, CID_HOST, "RST", addr64(CID_HOST, HOST_PORT),
                           addr64(CID_A, GUEST_PORT + index), 0);
    }
    uint32_t mark = request_from(&w, GUEST_PORT + 2, VSOCK_PACKET_REQUEST2, QUEUE_BYTES, 3);
    assert_only_packet(w.log, mark, CID_HOST, "NEGOTIATE2", addr64(CID_HOST, HOST_PORT),
                       addr64(CID_A, GUEST_PORT + 2), QUEUE_BYTES);
    ASSERT_U64_EQ(first_of(w.log, mark, CID_HOST, "pkt_send", NULL)->proto, 1);
    hs_destroy(&w);
    for (uint16_t proto = 0; proto < 2; proto++) {             /* REQUEST ignores proto */
        w = hs_create();
        (void)host_listener_for_injection(w.f, 1);
        mark = request_from(&w, GUEST_PORT, VSOCK_PACKET_REQUEST, QUEUE_BYTES, proto);
        assert_only_packet(w.log, mark, CID_HOST, "NEGOTIATE", addr64(CID_HOST, HOST_PORT),
                           addr64(CID_A, GUEST_PORT), QUEUE_BYTES);
        ASSERT_U64_EQ(first_of(w.log, mark, CID_HOST, "pkt_send", NULL)->proto, 0);
        hs_destroy(&w);
    }
}

/* Fills guest A's pending datagram queue (A's interrupts masked) from the host kernel until
 * not even a header-only datagram fits: every later datagram to A fails with
 * VMCI_ERROR_NO_RESOURCES (R58). */
static void fill_guest_queue(struct fixture *f)
{
    static uint8_t payload[VMCI_MAX_DG_PAYLOAD_SIZE];
    struct vmci_datagram_header header = {
        .dst = { CID_A, 4000 }, .src = { CID_HOST, VMCI_TRANSPORT_PACKET_RID },
    };
    uint32_t sent = 0;
    for (uint64_t size = VMCI_MAX_DG_PAYLOAD_SIZE; ; size /= 2) {
        header.payload_size = size;
        for (uint32_t tries = 0; tries < 8; tries++, sent++) {
            if (vmci_dg_send(f->world->host.kernel, &header, payload, NULL) < 0)
                break;
        }
        if (size == 0)
            break;
    }
    CU_ASSERT(sent >= 2);
    header.payload_size = 0;
    ASSERT_U64_EQ(vmci_dg_send(f->world->host.kernel, &header, payload, NULL),
                  (uint64_t)(int64_t)VMCI_ERROR_NO_RESOURCES);
}

/* R164: when the NEGOTIATE2 cannot be sent (A's queue full), the listener sends an RST
 * (which fails too) and drops the child: with backlog 1 the next request makes a child
 * again (it tries a NEGOTIATE2) instead of hitting the backlog (R106). */
static void test_R164_failed_reply_resets_and_drops_the_child(void)
{
    struct hs w = hs_create();
    (void)host_listener_for_injection(w.f, 1);
    fill_guest_queue(w.f);
    uint32_t mark = request_from(&w, GUEST_PORT, VSOCK_PACKET_REQUEST2, QUEUE_BYTES, 1);
    ASSERT_U64_EQ(count_of(w.log, mark, CID_HOST, "pkt_send", NULL), 2);
    ASSERT_U64_EQ(count_of(w.log, mark, CID_HOST, "pkt_send_failed", "NEGOTIATE2"), 1);
    ASSERT_U64_EQ(count_of(w.log, mark, CID_HOST, "pkt_send", "RST"), 1);
    mark = request_from(&w, GUEST_PORT + 1, VSOCK_PACKET_REQUEST2, QUEUE_BYTES, 1);
    ASSERT_U64_EQ(count_of(w.log, mark, CID_HOST, "pkt_send_failed", "NEGOTIATE2"), 1);
    ASSERT_U64_EQ(count_of(w.log, mark, CID_HOST, "backlog_full", NULL), 0);
    hs_destroy(&w);
}

/* A pending child for {A, GUEST_PORT} on a host listener of backlog 1 (its NEGOTIATE2 sent). */
static int pending_child(struct hs *w)
{
    int listen_fd = host_listener_for_injection(w->f, 1);
    uint32_t mark = request_from(w, GUEST_PORT, VSOCK_PACKET_REQUEST2, QUEUE_BYTES, 1);
    ASSERT_U64_EQ(count_of(w->log, mark, CID_HOST, "pkt_send", "NEGOTIATE2"), 1);
    return listen_fd;
}

/* R167: in a pending child, an OFFER with the invalid handle or any other type is answered
 * with one RST and drops the child (an RST gets no RST back but drops it too): with
 * backlog 1 the next client is admitted again, and nothing reaches accept(). */
static void test_R167_pending_child_resets_on_bad_offer_or_other_packet(void)
{
    static const uint8_t types[] = {
        VSOCK_PACKET_OFFER, VSOCK_PACKET_REQUEST2, VSOCK_PACKET_ATTACH, VSOCK_PACKET_WROTE,
        VSOCK_PACKET_NEGOTIATE2, VSOCK_PACKET_SHUTDOWN, VSOCK_PACKET_INVALID, VSOCK_PACKET_RST,
    };
    uint64_t invalid = (uint64_t)VMCI_INVALID_ID | ((uint64_t)VMCI_INVALID_ID << 32);
    for (uint32_t index = 0; index < sizeof(types); index++) {
        struct hs w = hs_create();
        int listen_fd = pending_child(&w);
        uint8_t type = types[index];
        uint32_t mark = request_from(&w, GUEST_PORT, type, type == VSOCK_PACKET_OFFER
                                     ? invalid : QUEUE_BYTES, 1);
        if (type == VSOCK_PACKET_RST)
            ASSERT_U64_EQ(count_of(w.log, mark, CID_HOST, "pkt_send", NULL), 0);
        else
            assert_only_packet(w.log, mark, CID_HOST, "RST", addr64(CID_HOST, HOST_PORT),
                               addr64(CID_A, GUEST_PORT), 0);
        ASSERT_FAILS(vs_accept(&w.f->host, listen_fd, NULL, NULL), EAGAIN);
        mark = request_from(&w, GUEST_PORT + 1, VSOCK_PACKET_REQUEST2, QUEUE_BYTES, 1);
        assert_only_packet(w.log, mark, CID_HOST, "NEGOTIATE2", addr64(CID_HOST, HOST_PORT),
                           addr64(CID_A, GUEST_PORT + 1), QUEUE_BYTES);
        hs_destroy(&w);
    }
}

/* R166: an OFFER whose handle names no queue pair makes the attach fail: the server sends
 * one RST to the client and drops the child (backlog 1 admits the next client). */
static void test_R166_failed_attach_resets_and_drops_the_child(void)
{
    struct hs w = hs_create();
    int listen_fd = pending_child(&w);
    uint64_t nowhere = (uint64_t)CID_A | ((uint64_t)0x7777 << 32);
    uint32_t mark = request_from(&w, GUEST_PORT, VSOCK_PACKET_OFFER, nowhere, 0);
    const struct event *attach = first_of(w.log, mark, CID_HOST, "qp_attach", NULL);
    if (attach == NULL)
        attach = first_of(w.log, mark, CID_HOST, "qp_create", NULL);   /* unknown handle */
    CU_ASSERT_PTR_NOT_NULL_FATAL(attach);
    ASSERT_U64_EQ(attach->flags, VMCI_QPFLAG_ATTACH_ONLY);
    ASSERT_U64_EQ(attach->peer, CID_A);
    ASSERT_U64_EQ(attach->result, (uint64_t)(int64_t)VMCI_ERROR_NOT_FOUND);
    assert_only_packet(w.log, mark, CID_HOST, "RST", addr64(CID_HOST, HOST_PORT),
                       addr64(CID_A, GUEST_PORT), 0);
    ASSERT_FAILS(vs_accept(&w.f->host, listen_fd, NULL, NULL), EAGAIN);
    mark = request_from(&w, GUEST_PORT + 1, VSOCK_PACKET_REQUEST2, QUEUE_BYTES, 1);
    ASSERT_U64_EQ(count_of(w.log, mark, CID_HOST, "pkt_send", "NEGOTIATE2"), 1);
    hs_destroy(&w);
}

/* R166: a real client whose server cannot attach (a hand-made OFFER with a bogus handle
 * from the client's own port overtakes the client's OFFER) fails with ECONNRESET. */
static void test_R166_failed_attach_makes_the_client_econnreset(void)
{
    struct hs w = hs_create();
    struct fixture *f = w.f;
    (void)listener(&f->host, HOST_PORT, 4);
    int fd = stream_socket(&f->guest_a);
    struct sockaddr_vm local = vm_addr(VMADDR_CID_ANY, GUEST_PORT);
    ASSERT_RETURNS(vs_bind(&f->guest_a, fd, SA(local), sizeof(local)), 0);
    struct sockaddr_vm target = vm_addr(CID_HOST, HOST_PORT);
    ASSERT_FAILS(vs_connect(&f->guest_a, fd, SA(target), sizeof(target)), EAGAIN);
    uint32_t mark = w.log->count;
    uint64_t nowhere = (uint64_t)CID_A | ((uint64_t)0x7777 << 32);
    ASSERT_U64_EQ(inject(f, CID_A, VSOCK_PACKET_OFFER, GUEST_PORT, HOST_PORT, nowhere, 0),
                  PACKET_RESULT);
    run_idle(f);
    CU_ASSERT_EQUAL(connect_again(&f->guest_a, fd, CID_HOST, HOST_PORT), ECONNRESET);
    ASSERT_U64_EQ(count_of(w.log, mark, CID_HOST, "attach_failed", NULL), 1);
    ASSERT_U64_EQ(count_of(w.log, mark, CID_HOST, "pkt_send", "ATTACH"), 0);
    hs_destroy(&w);
}

/* R166: a valid OFFER makes the server attach (ATTACH_ONLY, peer = client CID, the
 * negotiated size), send ATTACH with the same handle, and queue the child for accept(). */
static void test_R166_offer_attaches_and_queues_the_child(void)
{
    struct hs w = hs_create();
    int listen_fd = pending_child(&w);
    struct vmci_kernel *guest = vs_world_kernel(w.f->world, CID_A)->kernel;
    struct vmci_handle handle = VMCI_INVALID_HANDLE;
    struct vmci_qpair *qpair = NULL;
    ASSERT_U64_EQ(vmci_qpair_alloc(guest, &handle, QUEUE_BYTES, QUEUE_BYTES, CID_HOST, 0,
                                   NULL, &qpair, NULL), VMCI_SUCCESS);
    uint64_t offered = (uint64_t)handle.context | ((uint64_t)handle.resource << 32);
    ASSERT_FAILS(vs_accept(&w.f->host, listen_fd, NULL, NULL), EAGAIN);
    uint32_t mark = request_from(&w, GUEST_PORT, VSOCK_PACKET_OFFER, offered, 0);
    const struct event *attach = first_of(w.log, mark, CID_HOST, "qp_attach", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(attach);
    ASSERT_U64_EQ(attach->flags, VMCI_QPFLAG_ATTACH_ONLY);
    ASSERT_U64_EQ(attach->peer, CID_A);
    ASSERT_U64_EQ(attach->produce, QUEUE_BYTES);
    ASSERT_U64_EQ(attach->result, 0);
    assert_only_packet(w.log, mark, CID_HOST, "ATTACH", addr64(CID_HOST, HOST_PORT),
                       addr64(CID_A, GUEST_PORT), offered);
    int child = vs_accept(&w.f->host, listen_fd, NULL, NULL);
    CU_ASSERT_FATAL(child >= VS_FD_FIRST);
    struct sockaddr_vm peer = name_of(&w.f->host, child, true);
    ASSERT_U64_EQ(peer.svm_cid, CID_A);
    ASSERT_U64_EQ(peer.svm_port, GUEST_PORT);
    ASSERT_RETURNS(vmci_qpair_detach(qpair, NULL), VMCI_SUCCESS);
    hs_destroy(&w);
}

/* R166: when the ATTACH cannot be sent (A's queue is full), the server sends an RST and
 * drops the child: accept() finds nothing and backlog 1 admits the next client. */
static void test_R166_failed_attach_send_drops_the_child(void)
{
    struct hs w = hs_create();
    int listen_fd = pending_child(&w);
    struct vmci_kernel *guest = vs_world_kernel(w.f->world, CID_A)->kernel;
    struct vmci_handle handle = VMCI_INVALID_HANDLE;
    struct vmci_qpair *qpair = NULL;
    ASSERT_U64_EQ(vmci_qpair_alloc(guest, &handle, QUEUE_BYTES, QUEUE_BYTES, CID_HOST, 0,
                                   NULL, &qpair, NULL), VMCI_SUCCESS);
    uint64_t offered = (uint64_t)handle.context | ((uint64_t)handle.resource << 32);
    fill_guest_queue(w.f);
    uint32_t mark = request_from(&w, GUEST_PORT, VSOCK_PACKET_OFFER, offered, 0);
    ASSERT_U64_EQ(count_of(w.log, mark, CID_HOST, "pkt_send_failed", "ATTACH"), 1);
    ASSERT_U64_EQ(count_of(w.log, mark, CID_HOST, "pkt_send", "RST"), 1);
    ASSERT_U64_EQ(count_of(w.log, mark, CID_HOST, "qp_detach", NULL), 1);
    ASSERT_FAILS(vs_accept(&w.f->host, listen_fd, NULL, NULL), EAGAIN);
    mark = request_from(&w, GUEST_PORT + 1, VSOCK_PACKET_REQUEST2, QUEUE_BYTES, 1);
    ASSERT_U64_EQ(count_of(w.log, mark, CID_HOST, "backlog_full", NULL), 0);
    ASSERT_U64_EQ(count_of(w.log, mark, CID_HOST, "pkt_send", "NEGOTIATE2"), 1);
    ASSERT_RETURNS(vmci_qpair_detach(qpair, NULL), VMCI_SUCCESS);
    hs_destroy(&w);
}

CU_ErrorCode vsock_handshake_rules_suite_add(void)
{
    static const struct test_entry tests[] = {
        TEST_ENTRY(test_R147_every_control_packet_has_the_56_byte_layout),
        TEST_ENTRY(test_R147_v1_and_packet_protocol_packets_byte_by_byte),
        TEST_ENTRY(test_R147_rst_and_invalid_byte_by_byte),
        TEST_ENTRY(test_R148_host_refuses_wrong_source_rid_and_short_packets),
        TEST_ENTRY(test_R148_guest_drops_wrong_source_rid_and_short_packets),
        TEST_ENTRY(test_R149_connected_socket_before_bound_listener),
        TEST_ENTRY(test_R151_type_13_and_up_answered_with_invalid),
        TEST_ENTRY(test_R152_R153_untrusted_listener_refuses_a_restricted_vm),
        TEST_ENTRY(test_R153_unrestricted_or_owned_vm_is_admitted),
        TEST_ENTRY(test_R154_sockets_learn_their_cid_from_packets),
        TEST_ENTRY(test_R155_request2_carries_buffer_size_and_proto_1),
        TEST_ENTRY(test_R156_R157_invalid_falls_back_to_v1_and_ignores_one_rst),
        TEST_ENTRY(test_R157_rst_while_connecting_is_econnreset_without_reply),
        TEST_ENTRY(test_R158_negotiate_checks_fail_with_eproto_and_rst),
        TEST_ENTRY(test_R158_negotiate_size_and_proto_fail_with_einval_and_rst),
        TEST_ENTRY(test_R158_negotiate_type_chooses_protocol_and_queue_pair),
        TEST_ENTRY(test_R158_R166_local_queue_pair_flags),
        TEST_ENTRY(test_R159_attach_with_another_handle_is_eproto_with_rst),
        TEST_ENTRY(test_R159_attach_with_our_handle_establishes),
        TEST_ENTRY(test_R160_unexpected_packets_while_connecting_are_eproto_with_rst),
        TEST_ENTRY(test_R161_peer_detach_while_connecting_is_econnreset),
        TEST_ENTRY(test_R162_listener_resets_non_requests_and_size_zero),
        TEST_ENTRY(test_R162_R165_half_open_child_counts_to_backlog_and_expires_after_1s),
        TEST_ENTRY(test_R163_child_takes_size_within_min_max_else_buffer_size),
        TEST_ENTRY(test_R164_request_type_and_proto_choose_the_reply),
        TEST_ENTRY(test_R164_failed_reply_resets_and_drops_the_child),
        TEST_ENTRY(test_R166_offer_attaches_and_queues_the_child),
        TEST_ENTRY(test_R166_failed_attach_resets_and_drops_the_child),
        TEST_ENTRY(test_R166_failed_attach_makes_the_client_econnreset),
        TEST_ENTRY(test_R166_failed_attach_send_drops_the_child),
        TEST_ENTRY(test_R167_pending_child_resets_on_bad_offer_or_other_packet),
    };
    return test_suite_register("vsock_handshake_rules", tests, sizeof(tests) / sizeof(tests[0]));
}
