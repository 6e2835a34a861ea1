/* SPDX-License-Identifier: MIT */
/*
 * sim/export/pcap.c: a trace as a libpcap capture of vSockets traffic (docs/cli.md).
 *
 * Format: classic libpcap with nanosecond timestamps (magic 0xa1b23c4d, all fields
 * little-endian), timestamps = simulated time, link type LINKTYPE_VSOCK (271): each
 * record is Linux's vsockmon header (struct af_vsockmon_hdr, 32 bytes) and a payload.
 * Wireshark's "vsock" dissector reads the header (vsock.src_cid, vsock.dst_port, vsock.op
 * ...); the transport is "no info" (vsockmon knows only virtio), so the payload is shown
 * as bytes. One record per
 *   - control packet sent (`pkt_send`): op CONNECT for the handshake, DISCONNECT for RST
 *     and SHUTDOWN, CONTROL for notifications (as Linux maps virtio's ops); payload = the
 *     32-byte control packet re-encoded from the event's fields (R147 layout);
 *   - stream write into a queue pair (`qp_enqueue`): op PAYLOAD; payload = the bytes the
 *     trace stored of the write (its `data` payload), original length = the bytes written,
 *     so a write the trace stored cut (`--payload`) is a record "cut by the snap length"
 *     (captured < original), which Wireshark and the dissector show. The peer is the other
 *     side of the writer's connection, found by its socket (options->spans, sides.c); when
 *     the spans do not know the socket, the connection on that local port that last sent a
 *     control packet;
 *   - datagram between two endpoints routed by the hypervisor (`dg_route` with a result
 *     >= 0, neither end the hypervisor nor a control handle): op PAYLOAD; payload = the
 *     datagram's payload (after its 24-byte header) as the event's `data` stored it, cut
 *     the same way. A trace from before datagrams carried their bytes: a guest's from its
 *     device's `data_out`, the host's cut to nothing.
 * The vsockmon header's 2 reserved bytes (offset 30) say which of the three a record is
 * (RECORD_KIND_*, le16; 0 in captures from before): Linux leaves them 0 and Wireshark only
 * shows them, so the vsock dissector reads these captures as before, while
 * scripts/wireshark/vmci_vsock.lua tells a cut stream write from a cut datagram by them.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "export_int.h"
#include "vsock/vmci_transport.h"

#define PCAP_MAGIC_NS 0xa1b23c4du
#define PCAP_VERSION_MAJOR 2u
#define PCAP_VERSION_MINOR 4u
#define LINKTYPE_VSOCK 271u
#define PCAP_GLOBAL_HEADER_BYTES 24u
#define PCAP_RECORD_HEADER_BYTES 16u
#define VSOCKMON_HEADER_BYTES 32u
/* Largest record: header + a whole VMCI datagram payload; Wireshark's default maximum. */
#define PCAP_SNAPLEN_BYTES 262144u
_Static_assert(PCAP_SNAPLEN_BYTES >= VSOCKMON_HEADER_BYTES + VMCI_MAX_DG_PAYLOAD_SIZE,
               "a routed datagram fits a record whole");

/* enum af_vsockmon_op and af_vsockmon_transport (linux/vsockmon.h). */
enum { OP_UNKNOWN = 0, OP_CONNECT = 1, OP_DISCONNECT = 2, OP_CONTROL = 3, OP_PAYLOAD = 4 };
#define TRANSPORT_NO_INFO 1u

/* What a record is, in the vsockmon header's reserved bytes; the values are part of the
 * capture format (docs/cli.md, scripts/wireshark/vmci_vsock.lua): never renumber them. */
enum { RECORD_KIND_CONTROL = 1, RECORD_KIND_STREAM_DATA = 2, RECORD_KIND_DATAGRAM = 3 };

/* Stream connections remembered to name the peer of a queue-pair write; past this the one
 * idle longest is forgotten (a write on it then shows the peer as ANY). */
#define PCAP_CONNECTIONS_MAX 1024u

struct connection {
    uint64_t local;                 /* cid << 32 | port, as pkt_send's src */
    uint64_t peer;
    uint64_t last_seq;              /* its last control packet from `local` */
};

struct pcap_state {
    FILE *out;
    struct export__names *names;
    struct export__sides *sides;    /* NULL when the options carry no spans */
    struct connection *connections; /* PCAP_CONNECTIONS_MAX entries */
    uint32_t connection_count;
    uint8_t *last_data_out;         /* bytes of the latest guest DATA_OUT transfer */
    uint32_t last_data_out_bytes;   /* stored: fewer than the full size when cut (--payload) */
    uint64_t last_data_out_full_bytes;  /* the transfer's `size` */
    uint32_t last_data_out_ctx;
    bool have_data_out;
};

/* One record's vsockmon header fields. */
struct record {
    uint64_t time_ns;
    uint64_t src_cid, dst_cid;
    uint32_t src_port, dst_port;
    uint16_t op;
    uint16_t kind;                  /* RECORD_KIND_* */
    const uint8_t *payload;
    uint32_t payload_bytes;         /* captured */
    uint64_t original_payload_bytes;
};

static void put_u16(uint8_t *at, uint16_t value)
{
    at[0] = (uint8_t)value;
    at[1] = (uint8_t)(value >> 8);
}

static void put_u32(uint8_t *at, uint32_t value)
{
    for (unsigned index = 0; index < 4; index++)
        at[index] = (uint8_t)(value >> (8 * index));
}

static uint32_t get_u32(const uint8_t *at)
{
    return (uint32_t)at[0] | (uint32_t)at[1] << 8 | (uint32_t)at[2] << 16 | (uint32_t)at[3] << 24;
}

static void put_u64(uint8_t *at, uint64_t value)
{
    for (unsigned index = 0; index < 8; index++)
        at[index] = (uint8_t)(value >> (8 * index));
}

static void write_global_header(FILE *out)
{
    uint8_t header[PCAP_GLOBAL_HEADER_BYTES] = { 0 };
    put_u32(header, PCAP_MAGIC_NS);
    put_u16(header + 4, PCAP_VERSION_MAJOR);
    put_u16(header + 6, PCAP_VERSION_MINOR);
    /* thiszone and sigfigs stay 0 */
    put_u32(header + 16, PCAP_SNAPLEN_BYTES);
    put_u32(header + 20, LINKTYPE_VSOCK);
    fwrite(header, 1, sizeof header, out);
}

static void write_record(FILE *out, const struct record *record)
{
    uint8_t header[PCAP_RECORD_HEADER_BYTES + VSOCKMON_HEADER_BYTES] = { 0 };
    uint64_t seconds = record->time_ns / 1000000000u;
    uint64_t original = VSOCKMON_HEADER_BYTES + record->original_payload_bytes;
    put_u32(header, seconds > UINT32_MAX ? UINT32_MAX : (uint32_t)seconds);
    put_u32(header + 4, (uint32_t)(record->time_ns % 1000000000u));
    put_u32(header + 8, VSOCKMON_HEADER_BYTES + record->payload_bytes);
    put_u32(header + 12, original > UINT32_MAX ? UINT32_MAX : (uint32_t)original);
    uint8_t *vsockmon = header + PCAP_RECORD_HEADER_BYTES;
    put_u64(vsockmon, record->src_cid);
    put_u64(vsockmon + 8, record->dst_cid);
    put_u32(vsockmon + 16, record->src_port);
    put_u32(vsockmon + 20, record->dst_port);
    put_u16(vsockmon + 24, record->op);
    put_u16(vsockmon + 26, TRANSPORT_NO_INFO);
    /* len (the transport header's length) stays 0: no transport header */
    put_u16(vsockmon + 30, record->kind);
    fwrite(header, 1, sizeof header, out);
    if (record->payload_bytes > 0)
        fwrite(record->payload, 1, record->payload_bytes, out);
}

/* The packet type's number from its traced name; INVALID (0) for a name we do not know. */
static uint32_t packet_type(const char *name)
{
    for (uint32_t type = 0; type < VSOCK_PACKET_MAX; type++)
        if (strcmp(vsock_packet_type_name(type), name) == 0)
            return type;
    return VSOCK_PACKET_INVALID;
}

/* Linux's vsockmon op for a VMCI control packet, mapped as virtio's ops are. */
static uint16_t packet_op(uint32_t type)
{
    switch (type) {
    case VSOCK_PACKET_REQUEST: case VSOCK_PACKET_REQUEST2: case VSOCK_PACKET_NEGOTIATE:
    case VSOCK_PACKET_NEGOTIATE2: case VSOCK_PACKET_OFFER: case VSOCK_PACKET_ATTACH:
        return OP_CONNECT;
    case VSOCK_PACKET_RST: case VSOCK_PACKET_SHUTDOWN:
        return OP_DISCONNECT;
    case VSOCK_PACKET_WROTE: case VSOCK_PACKET_READ: case VSOCK_PACKET_WAITING_WRITE:
    case VSOCK_PACKET_WAITING_READ:
        return OP_CONTROL;
    default:
        return OP_UNKNOWN;
    }
}

/* Remembers that `local` talks to `peer` (seq: recency), evicting the idlest when full. */
static void connection_note(struct pcap_state *state, uint64_t local, uint64_t peer, uint64_t seq)
{
    uint32_t idlest = 0;
    for (uint32_t index = 0; index < state->connection_count; index++) {
        struct connection *entry = &state->connections[index];
        if (entry->local == local && entry->peer == peer) {
            entry->last_seq = seq;
            return;
        }
        if (entry->last_seq < state->connections[idlest].last_seq)
            idlest = index;
    }
    uint32_t slot = state->connection_count < PCAP_CONNECTIONS_MAX ? state->connection_count++
                                                                    : idlest;
    state->connections[slot] = (struct connection){ local, peer, seq };
}

/* The peer of `local` that sent last, or ANY:ANY when none is known. */
static uint64_t connection_peer(const struct pcap_state *state, uint64_t local)
{
    const struct connection *best = NULL;
    for (uint32_t index = 0; index < state->connection_count; index++) {
        const struct connection *entry = &state->connections[index];
        if (entry->local == local && (best == NULL || entry->last_seq > best->last_seq))
            best = entry;
    }
    return best != NULL ? best->peer : UINT64_MAX;
}

static void on_pkt_send(struct pcap_state *state, const struct export__event *event)
{
    uint64_t src = export__field_u64(event, EXPORT__F_SRC);
    uint64_t dst = export__field_u64(event, EXPORT__F_DST);
    uint32_t type = packet_type(export__field_str(event, EXPORT__F_TYPE));
    uint64_t proto = export__field_u64(event, EXPORT__F_PROTO);
    uint8_t packet[VSOCK_PACKET_PAYLOAD_BYTES] = { 0 };
    packet[0] = VSOCK_PACKET_VERSION;                                           /* R147 */
    packet[1] = (uint8_t)type;
    put_u16(packet + 2, (uint16_t)proto);
    put_u32(packet + 4, (uint32_t)src);
    put_u32(packet + 8, (uint32_t)dst);
    put_u64(packet + 16, export__field_u64(event, EXPORT__F_U0));
    put_u64(packet + 24, export__field_u64(event, EXPORT__F_U1));
    struct record record = {
        .time_ns = event->time_ns, .src_cid = src >> 32, .dst_cid = dst >> 32,
        .src_port = (uint32_t)src, .dst_port = (uint32_t)dst, .op = packet_op(type),
        .kind = RECORD_KIND_CONTROL, .payload = packet, .payload_bytes = sizeof packet,
        .original_payload_bytes = sizeof packet,
    };
    write_record(state->out, &record);
    connection_note(state, src, dst, event->seq);
}

/* The writer's peer (cid << 32 | port): its connection's other side, else a guess. */
static uint64_t write_peer(struct pcap_state *state, const struct export__event *event,
                           uint64_t local)
{
    const struct export_span *span = NULL;
    if (state->sides != NULL && export__field_present(event, EXPORT__F_SOCKET))
        span = export__sides_find(state->sides, export__names_get(state->names, event->ctx),
                                  (uint32_t)export__field_u64(event, EXPORT__F_SOCKET),
                                  event->time_ns);
    if (span != NULL)
        return (uint64_t)span->peer_cid << 32 | span->peer_port;
    return connection_peer(state, local);
}

static void on_qp_enqueue(struct pcap_state *state, const struct export__event *event)
{
    int64_t moved = export__field_i64(event, EXPORT__F_BYTES);
    if (moved <= 0)
        return;                     /* a full ring or an error moved nothing */
    uint32_t port = (uint32_t)export__field_u64(event, EXPORT__F_PORT);
    uint64_t local = (uint64_t)event->ctx << 32 | port;
    uint64_t peer = write_peer(state, event, local);
    uint32_t stored = event->payload != NULL ? event->payload_bytes : 0;
    if ((uint64_t)stored > (uint64_t)moved)
        stored = (uint32_t)moved;   /* a damaged trace: never more than was written */
    if (stored > PCAP_SNAPLEN_BYTES - VSOCKMON_HEADER_BYTES)
        stored = PCAP_SNAPLEN_BYTES - VSOCKMON_HEADER_BYTES;
    struct record record = {
        .time_ns = event->time_ns, .src_cid = event->ctx, .dst_cid = peer >> 32,
        .src_port = (uint32_t)local, .dst_port = (uint32_t)peer, .op = OP_PAYLOAD,
        .kind = RECORD_KIND_STREAM_DATA, .payload = event->payload, .payload_bytes = stored,
        .original_payload_bytes = (uint64_t)moved,
    };
    write_record(state->out, &record);
}

/* Keeps the bytes of a guest's DATA_OUT transfer: the datagram a dg_route may describe next. */
static void on_data_out(struct pcap_state *state, const struct export__event *event)
{
    state->have_data_out = false;
    if (event->payload == NULL || event->payload_bytes > VMCI_MAX_DG_SIZE)
        return;
    memcpy(state->last_data_out, event->payload, event->payload_bytes);
    state->last_data_out_bytes = event->payload_bytes;
    state->last_data_out_full_bytes = export__field_u64(event, EXPORT__F_SIZE);
    state->last_data_out_ctx = event->ctx;
    state->have_data_out = true;
}

/* The routed datagram's bytes if the DATA_OUT just before it was that datagram: its stored
 * bytes, which the trace may have cut (--payload) but not below the header, so the record
 * captures fewer bytes than the datagram's length says (pcap's caplen < len). */
static const uint8_t *routed_bytes(const struct pcap_state *state,
                                   const struct export__event *event, uint64_t size_bytes)
{
    const uint8_t *bytes = state->last_data_out;
    if (!state->have_data_out || state->last_data_out_ctx != event->ctx ||
        state->last_data_out_full_bytes != size_bytes || size_bytes < VMCI_DG_HEADERSIZE ||
        state->last_data_out_bytes < VMCI_DG_HEADERSIZE ||
        state->last_data_out_bytes > size_bytes)
        return NULL;
    if (get_u32(bytes) != export__field_u64(event, EXPORT__F_DST_CID) ||
        get_u32(bytes + 4) != export__field_u64(event, EXPORT__F_DST_RID))
        return NULL;
    return bytes;
}

bool export__dg_route_is_datagram(const struct export__event *event)
{
    uint64_t src_cid = export__field_u64(event, EXPORT__F_SRC_CID);
    uint64_t dst_cid = export__field_u64(event, EXPORT__F_DST_CID);
    uint64_t src_rid = export__field_u64(event, EXPORT__F_SRC_RID);
    uint64_t dst_rid = export__field_u64(event, EXPORT__F_DST_RID);
    bool hypervisor =
        src_cid == VMCI_HYPERVISOR_CONTEXT_ID || dst_cid == VMCI_HYPERVISOR_CONTEXT_ID;
    bool control = src_rid == VMCI_TRANSPORT_PACKET_RID || dst_rid == VMCI_TRANSPORT_PACKET_RID;
    return export__field_i64(event, EXPORT__F_RESULT) >= 0 && !hypervisor && !control &&
           export__field_u64(event, EXPORT__F_SIZE) >= VMCI_DG_HEADERSIZE;
}

static void on_dg_route(struct pcap_state *state, const struct export__event *event)
{
    uint64_t size = export__field_u64(event, EXPORT__F_SIZE);
    const uint8_t *bytes = routed_bytes(state, event, size);
    state->have_data_out = false;   /* one DATA_OUT transfer, one datagram */
    if (!export__dg_route_is_datagram(event))
        return;
    uint64_t src_cid = export__field_u64(event, EXPORT__F_SRC_CID);
    struct record record = {
        .time_ns = event->time_ns, .src_cid = src_cid == VMCI_INVALID_ID ? event->ctx : src_cid,
        .dst_cid = export__field_u64(event, EXPORT__F_DST_CID),
        .src_port = (uint32_t)export__field_u64(event, EXPORT__F_SRC_RID),
        .dst_port = (uint32_t)export__field_u64(event, EXPORT__F_DST_RID),
        .op = OP_PAYLOAD, .kind = RECORD_KIND_DATAGRAM,
        .original_payload_bytes = size - VMCI_DG_HEADERSIZE,
    };
    if (event->payload != NULL) {
        /* The event's own bytes, as many as the trace stored (the header first). */
        uint64_t stored = event->payload_bytes < size ? event->payload_bytes : size;
        if (stored > VMCI_DG_HEADERSIZE + PCAP_SNAPLEN_BYTES - VSOCKMON_HEADER_BYTES)
            stored = VMCI_DG_HEADERSIZE + PCAP_SNAPLEN_BYTES - VSOCKMON_HEADER_BYTES;
        if (stored > VMCI_DG_HEADERSIZE) {
            record.payload = event->payload + VMCI_DG_HEADERSIZE;
            record.payload_bytes = (uint32_t)(stored - VMCI_DG_HEADERSIZE);
        }
    } else if (bytes != NULL) {
        record.payload = bytes + VMCI_DG_HEADERSIZE;
        record.payload_bytes = state->last_data_out_bytes - VMCI_DG_HEADERSIZE;
    }
    write_record(state->out, &record);
}

static const char *const pcap_kinds[] = { "pkt_send", "qp_enqueue", "dg_route", "data_out", NULL };

/* pcap_kinds then the kinds that name contexts, NULL-terminated in `kinds`. */
static void scan_kinds(const char *kinds[EXPORT__SCAN_KINDS_MAX + 1])
{
    uint32_t count = 0;
    for (uint32_t index = 0; pcap_kinds[index] != NULL; index++)
        kinds[count++] = pcap_kinds[index];
    for (uint32_t index = 0; export__names_kinds[index] != NULL; index++) {
        assert(count < EXPORT__SCAN_KINDS_MAX);
        kinds[count++] = export__names_kinds[index];
    }
    kinds[count] = NULL;
}

int export__pcap_write(struct export__trace *trace, FILE *out,
                       const struct export_options *options, char *message)
{
    if (options->as_tcp)
        return export__pcap_tcp_write(trace, out, options, message);
    uint32_t fields = EXPORT__FIELD_BIT(EXPORT__F_TYPE) | EXPORT__FIELD_BIT(EXPORT__F_SRC) |
        EXPORT__FIELD_BIT(EXPORT__F_DST) | EXPORT__FIELD_BIT(EXPORT__F_U0) |
        EXPORT__FIELD_BIT(EXPORT__F_U1) | EXPORT__FIELD_BIT(EXPORT__F_PROTO) |
        EXPORT__FIELD_BIT(EXPORT__F_PORT) | EXPORT__FIELD_BIT(EXPORT__F_BYTES) |
        EXPORT__FIELD_BIT(EXPORT__F_SOCKET) | EXPORT__DATAGRAM_FIELDS | EXPORT__NAMES_FIELDS;
    const char *kinds[EXPORT__SCAN_KINDS_MAX + 1];
    scan_kinds(kinds);
    if (export__trace_scan(trace, options->from_ns, options->to_ns, kinds, fields,
                           message) != 0)
        return -1;
    struct pcap_state state = { .out = out };
    state.connections = calloc(PCAP_CONNECTIONS_MAX, sizeof *state.connections);
    state.last_data_out = malloc(VMCI_MAX_DG_SIZE);
    state.names = export__names_create();
    if (options->span_count > 0)
        state.sides = export__sides_create(options->spans, options->span_count);
    int rc = 0;
    if (state.connections == NULL || state.last_data_out == NULL || state.names == NULL ||
        (options->span_count > 0 && state.sides == NULL)) {
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX, "pcap export: out of memory");
        rc = -1;
    }
    if (rc == 0)
        write_global_header(out);
    struct export__event event;
    int step = 0;
    while (rc == 0 && (step = export__trace_next(trace, &event, message)) == 1) {
        export__names_update(state.names, &event);
        if (strcmp(event.kind, "pkt_send") == 0)
            on_pkt_send(&state, &event);
        else if (strcmp(event.kind, "qp_enqueue") == 0)
            on_qp_enqueue(&state, &event);
        else if (strcmp(event.kind, "data_out") == 0)
            on_data_out(&state, &event);
        else if (strcmp(event.kind, "dg_route") == 0)
            on_dg_route(&state, &event);
    }
    if (step < 0)
        rc = -1;
    free(state.connections);
    free(state.last_data_out);
    export__names_destroy(state.names);
    export__sides_destroy(state.sides);
    return rc;
}
