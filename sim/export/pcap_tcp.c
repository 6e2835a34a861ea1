/* SPDX-License-Identifier: MIT */
/*
 * sim/export/pcap_tcp.c: `export --format pcap --as-tcp`: the stream connections of a trace
 * as a pcapng capture of synthetic TCP/IPv4, so that Wireshark's "Follow TCP Stream" (which
 * knows no vsock) shows each conversation (docs/wireshark.md, "--as-tcp").
 *
 * - Addresses: every context a connection names is one IPv4 address from the documentation
 *   ranges (RFC 5737), in order of first appearance over the connections in number order:
 *   the host (CID 2) is always 192.0.2.2, the others 192.0.2.3 to .254, then 198.51.100.1 to
 *   .254, then 203.0.113.1 to .254 (TCP_CONTEXTS_MAX in all). The mapping is written into
 *   the section header's comment.
 * - Ports are the vSockets ports; one above 65535 is written as its low 16 bits, and the
 *   comment lists each such port.
 * - Connection N (as `inspect connections` numbers it, options->spans) is one TCP flow:
 *   SYN at its REQUEST, SYN-ACK at the NEGOTIATE, ACK at the OFFER; one PSH-ACK segment per
 *   queue-pair write (`qp_enqueue`, placed by its socket: sides.c), split at
 *   TCP_SEGMENT_BYTES_MAX; FIN-ACK when a side closes its socket; RST-ACK from the side
 *   that sent a vSockets RST, after which the flow sends nothing. A connection that ended
 *   by a detach (peer_detach, qp_resumed, device_reset) just stops.
 * - Sequence numbers: each side starts at a fixed number near 2^32 (TCP_CLIENT_ISN,
 *   TCP_SERVER_ISN) so that they wrap within the first kilobyte and a reader that mishandles
 *   the wrap shows it at once; every segment acknowledges all the peer has sent so far.
 * - Every byte: a write the trace stored cut (stored < written) is refused with a message
 *   naming it; the capture would otherwise show bytes that were never sent.
 * - `--from`/`--to` keep the packets in the window; the flows are still followed from the
 *   start of the trace, so numbers stay what they would be in a whole capture.
 * Layout: pcapng (little-endian), one section, one interface of LINKTYPE_RAW (101) with
 * nanosecond timestamps (if_tsresol 9). Checksums are computed, so no tool flags them.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "export_int.h"

#define LINKTYPE_RAW 101u
#define PCAPNG_SECTION_HEADER 0x0A0D0D0Au
#define PCAPNG_INTERFACE 0x00000001u
#define PCAPNG_ENHANCED_PACKET 0x00000006u
#define PCAPNG_BYTE_ORDER_MAGIC 0x1A2B3C4Du
#define OPTION_END 0u
#define OPTION_COMMENT 1u
#define OPTION_SHB_USER_APPLICATION 4u
#define OPTION_IF_NAME 2u
#define OPTION_IF_TSRESOL 9u

#define IPV4_HEADER_BYTES 20u
#define TCP_HEADER_BYTES 20u
/* The largest TCP payload one IPv4 packet carries (total length is 16 bits). */
#define TCP_SEGMENT_BYTES_MAX (65535u - IPV4_HEADER_BYTES - TCP_HEADER_BYTES)
#define TCP_PACKET_BYTES_MAX (IPV4_HEADER_BYTES + TCP_HEADER_BYTES + TCP_SEGMENT_BYTES_MAX)
/* Contexts one capture can name: 192.0.2.2-254, 198.51.100.1-254, 203.0.113.1-254. */
#define TCP_CONTEXTS_MAX (253u + 254u + 254u)
/* The section comment (the address mapping): past this, a line says how many were left out. */
#define TCP_COMMENT_BYTES_MAX (60u * 1024u)
#define TCP_PACKET_COMMENT_BYTES_MAX 256u

#define TCP_CLIENT_ISN 0xFFFFFF00u  /* wraps after 255 bytes */
#define TCP_SERVER_ISN 0xFFFFFE00u  /* wraps after 511 bytes */
#define TCP_WINDOW 65535u

enum { TCP_FIN = 0x01, TCP_SYN = 0x02, TCP_RST = 0x04, TCP_PSH = 0x08, TCP_ACK = 0x10 };
enum flow_state { FLOW_IDLE, FLOW_SYN_SENT, FLOW_SYN_RECEIVED, FLOW_ESTABLISHED };

struct context {
    uint32_t cid;
    uint32_t ip;
    const char *name;               /* a span's endpoint; NULL until a span names it */
};

struct flow_side {
    uint32_t ip;
    uint32_t vsock_port;
    uint32_t next_seq;              /* the sequence number of its next byte (or SYN/FIN) */
    uint16_t ip_id;
    bool fin_sent;
};

struct flow {
    enum flow_state state;
    bool reset;
    uint32_t client_cid, server_cid;
    struct flow_side side[2];       /* 0 client, 1 server (export_span.side) */
};

struct tcp_state {
    FILE *out;
    const struct export_options *options;
    struct export__names *names;
    struct export__sides *sides;
    struct context *contexts;       /* sorted by cid */
    uint32_t context_count;
    struct flow *flows;             /* [number - 1] */
    uint32_t flow_count;
    uint32_t next_request;          /* flows before it have seen their REQUEST */
    uint8_t *packet;                /* TCP_PACKET_BYTES_MAX */
    char *message;
};

static void put_le16(uint8_t *at, uint32_t value)
{
    at[0] = (uint8_t)value;
    at[1] = (uint8_t)(value >> 8);
}

static void put_le32(uint8_t *at, uint32_t value)
{
    for (unsigned index = 0; index < 4; index++)
        at[index] = (uint8_t)(value >> (8 * index));
}

static void put_be16(uint8_t *at, uint32_t value)
{
    at[0] = (uint8_t)(value >> 8);
    at[1] = (uint8_t)value;
}

static void put_be32(uint8_t *at, uint32_t value)
{
    for (unsigned index = 0; index < 4; index++)
        at[index] = (uint8_t)(value >> (24 - 8 * index));
}

static uint32_t padded4(uint32_t bytes)
{
    return (bytes + 3u) & ~3u;
}

/* ---- pcapng blocks ------------------------------------------------------------------ */

/* Writes one option (code, length, value padded to 4 bytes). */
static void write_option(FILE *out, uint32_t code, const void *value, uint32_t bytes)
{
    uint8_t header[4];
    static const uint8_t zeros[4] = { 0 };
    put_le16(header, code);
    put_le16(header + 2, bytes);
    fwrite(header, 1, sizeof header, out);
    if (bytes > 0)
        fwrite(value, 1, bytes, out);
    fwrite(zeros, 1, padded4(bytes) - bytes, out);
}

static uint32_t option_bytes(uint32_t value_bytes)
{
    return 4u + padded4(value_bytes);
}

static void write_u32(FILE *out, uint32_t value)
{
    uint8_t bytes[4];
    put_le32(bytes, value);
    fwrite(bytes, 1, sizeof bytes, out);
}

static void write_section_header(FILE *out, const char *comment)
{
    static const char application[] = "vmcisim export --format pcap --as-tcp";
    uint32_t comment_bytes = (uint32_t)strlen(comment);
    uint32_t total = 28u + option_bytes(comment_bytes) +
                     option_bytes(sizeof application - 1) + option_bytes(0);
    uint8_t header[24];
    put_le32(header, PCAPNG_SECTION_HEADER);
    put_le32(header + 4, total);
    put_le32(header + 8, PCAPNG_BYTE_ORDER_MAGIC);
    put_le16(header + 12, 1);                   /* version 1.0 */
    put_le16(header + 14, 0);
    put_le32(header + 16, 0xFFFFFFFFu);         /* section length: not given */
    put_le32(header + 20, 0xFFFFFFFFu);
    fwrite(header, 1, sizeof header, out);
    write_option(out, OPTION_COMMENT, comment, comment_bytes);
    write_option(out, OPTION_SHB_USER_APPLICATION, application, sizeof application - 1);
    write_option(out, OPTION_END, NULL, 0);
    write_u32(out, total);
}

static void write_interface(FILE *out)
{
    static const char name[] = "vmcisim-as-tcp";
    static const char comment[] = "synthetic TCP/IPv4 of the trace's vSockets streams";
    static const uint8_t nanoseconds = 9;
    uint32_t total = 20u + option_bytes(sizeof name - 1) + option_bytes(sizeof comment - 1) +
                     option_bytes(1) + option_bytes(0);
    uint8_t header[16];
    put_le32(header, PCAPNG_INTERFACE);
    put_le32(header + 4, total);
    put_le16(header + 8, LINKTYPE_RAW);
    put_le16(header + 10, 0);
    put_le32(header + 12, 0);                   /* snap length: none */
    fwrite(header, 1, sizeof header, out);
    write_option(out, OPTION_IF_NAME, name, sizeof name - 1);
    write_option(out, OPTION_COMMENT, comment, sizeof comment - 1);
    write_option(out, OPTION_IF_TSRESOL, &nanoseconds, 1);
    write_option(out, OPTION_END, NULL, 0);
    write_u32(out, total);
}

/* One Enhanced Packet Block: the packet, and a comment when `comment` is not "". */
static void write_packet_block(FILE *out, uint64_t time_ns, const uint8_t *packet,
                               uint32_t bytes, const char *comment)
{
    uint32_t comment_bytes = (uint32_t)strlen(comment);
    uint32_t options = comment_bytes > 0 ? option_bytes(comment_bytes) + option_bytes(0) : 0;
    uint32_t total = 32u + padded4(bytes) + options;
    uint8_t header[28];
    static const uint8_t zeros[4] = { 0 };
    put_le32(header, PCAPNG_ENHANCED_PACKET);
    put_le32(header + 4, total);
    put_le32(header + 8, 0);                    /* interface 0 */
    put_le32(header + 12, (uint32_t)(time_ns >> 32));
    put_le32(header + 16, (uint32_t)time_ns);
    put_le32(header + 20, bytes);
    put_le32(header + 24, bytes);
    fwrite(header, 1, sizeof header, out);
    fwrite(packet, 1, bytes, out);
    fwrite(zeros, 1, padded4(bytes) - bytes, out);
    if (comment_bytes > 0) {
        write_option(out, OPTION_COMMENT, comment, comment_bytes);
        write_option(out, OPTION_END, NULL, 0);
    }
    write_u32(out, total);
}

/* ---- IPv4 and TCP ------------------------------------------------------------------- */

/* The Internet checksum's running one's-complement sum of big-endian 16-bit words. */
static uint32_t sum_words(uint32_t sum, const uint8_t *bytes, uint32_t count)
{
    for (uint32_t index = 0; index + 1 < count; index += 2)
        sum += (uint32_t)bytes[index] << 8 | bytes[index + 1];
    if (count % 2 == 1)
        sum += (uint32_t)bytes[count - 1] << 8;
    return sum;
}

static uint16_t fold_checksum(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xFFFFu) + (sum >> 16);
    return (uint16_t)~sum;
}

struct segment {
    const struct flow_side *from, *to;
    uint8_t flags;
    uint32_t seq, ack;
    const uint8_t *data;
    uint32_t bytes;
};

/* Fills state->packet with one IPv4 packet holding the segment; returns its length. */
static uint32_t build_packet(struct tcp_state *state, const struct segment *segment,
                             uint16_t ip_id)
{
    assert(segment->bytes <= TCP_SEGMENT_BYTES_MAX);
    uint8_t *ip = state->packet;
    uint8_t *tcp = ip + IPV4_HEADER_BYTES;
    uint32_t total = IPV4_HEADER_BYTES + TCP_HEADER_BYTES + segment->bytes;
    memset(ip, 0, IPV4_HEADER_BYTES + TCP_HEADER_BYTES);
    ip[0] = 0x45;                               /* IPv4, 5 words of header */
    put_be16(ip + 2, total);
    put_be16(ip + 4, ip_id);
    put_be16(ip + 6, 0x4000);                   /* don't fragment */
    ip[8] = 64;                                 /* TTL */
    ip[9] = 6;                                  /* TCP */
    put_be32(ip + 12, segment->from->ip);
    put_be32(ip + 16, segment->to->ip);
    put_be16(ip + 10, fold_checksum(sum_words(0, ip, IPV4_HEADER_BYTES)));
    put_be16(tcp, segment->from->vsock_port & 0xFFFFu);
    put_be16(tcp + 2, segment->to->vsock_port & 0xFFFFu);
    put_be32(tcp + 4, segment->seq);
    put_be32(tcp + 8, segment->ack);
    tcp[12] = (TCP_HEADER_BYTES / 4) << 4;
    tcp[13] = segment->flags;
    put_be16(tcp + 14, TCP_WINDOW);
    if (segment->bytes > 0)
        memcpy(tcp + TCP_HEADER_BYTES, segment->data, segment->bytes);
    uint8_t pseudo[12] = { 0 };
    memcpy(pseudo, ip + 12, 8);                 /* source and destination */
    pseudo[9] = 6;
    put_be16(pseudo + 10, TCP_HEADER_BYTES + segment->bytes);
    uint32_t sum = sum_words(0, pseudo, sizeof pseudo);
    sum = sum_words(sum, tcp, TCP_HEADER_BYTES + segment->bytes);
    put_be16(tcp + 16, fold_checksum(sum));
    return total;
}

static bool in_window(const struct tcp_state *state, uint64_t time_ns)
{
    return time_ns >= state->options->from_ns && time_ns <= state->options->to_ns;
}

/* Sends one segment from side `from` of `flow` (its seq, the peer's next as ack), advances
 * the sender's sequence by the data and by one for SYN or FIN. */
static void send_segment(struct tcp_state *state, struct flow *flow, uint32_t from,
                         uint8_t flags, const uint8_t *data, uint32_t bytes,
                         uint64_t time_ns, const char *comment)
{
    struct flow_side *sender = &flow->side[from];
    struct flow_side *receiver = &flow->side[1 - from];
    struct segment segment = {
        .from = sender, .to = receiver, .flags = flags, .seq = sender->next_seq,
        .ack = flags & TCP_ACK ? receiver->next_seq : 0, .data = data, .bytes = bytes,
    };
    uint32_t length = build_packet(state, &segment, sender->ip_id++);
    if (in_window(state, time_ns))
        write_packet_block(state->out, time_ns, state->packet, length, comment);
    sender->next_seq += bytes + ((flags & (TCP_SYN | TCP_FIN)) != 0);   /* mod 2^32 */
}

/* ---- Contexts and flows -------------------------------------------------------------- */

/* The address of the k-th context (k = 0 the host, then in order of appearance). */
static uint32_t context_ip(uint32_t k)
{
    if (k < 253u)
        return 0xC0000200u + 2u + k;            /* 192.0.2.2 .. 192.0.2.254 */
    if (k < 253u + 254u)
        return 0xC6336400u + 1u + (k - 253u);   /* 198.51.100.1 .. .254 */
    return 0xCB007100u + 1u + (k - 253u - 254u); /* 203.0.113.1 .. .254 */
}

static uint32_t context_find(const struct tcp_state *state, uint32_t cid, bool *found)
{
    uint32_t low = 0, high = state->context_count;
    while (low < high) {
        uint32_t middle = low + (high - low) / 2;
        if (state->contexts[middle].cid < cid)
            low = middle + 1;
        else
            high = middle;
    }
    *found = low < state->context_count && state->contexts[low].cid == cid;
    return low;
}

/* The address of `cid`, given one on first sight; 0 past TCP_CONTEXTS_MAX. */
static uint32_t context_address(struct tcp_state *state, uint32_t cid, const char *name)
{
    bool found;
    uint32_t at = context_find(state, cid, &found);
    if (found && state->contexts[at].name == NULL)
        state->contexts[at].name = name;        /* first seen as a peer, now named */
    if (found)
        return state->contexts[at].ip;
    bool host_known;
    context_find(state, 2, &host_known);
    uint32_t k = cid == 2 ? 0 : state->context_count - host_known + 1;
    if (k >= TCP_CONTEXTS_MAX)
        return 0;
    memmove(&state->contexts[at + 1], &state->contexts[at],
            (size_t)(state->context_count - at) * sizeof *state->contexts);
    state->contexts[at] = (struct context){ .cid = cid, .ip = context_ip(k), .name = name };
    state->context_count++;
    return state->contexts[at].ip;
}

static void side_init(struct flow_side *side, uint32_t ip, uint32_t port, uint32_t isn)
{
    *side = (struct flow_side){ .ip = ip, .vsock_port = port, .next_seq = isn };
}

/* One flow per connection number, from the spans (client side first, as sim/cli gives
 * them); addresses given in that order. */
static int flows_build(struct tcp_state *state)
{
    const struct export_options *options = state->options;
    for (uint32_t index = 0; index < options->span_count; index++)
        if (options->spans[index].number > state->flow_count)
            state->flow_count = options->spans[index].number;
    state->flows = calloc(state->flow_count > 0 ? state->flow_count : 1, sizeof *state->flows);
    state->contexts = calloc(TCP_CONTEXTS_MAX, sizeof *state->contexts);
    if (state->flows == NULL || state->contexts == NULL) {
        snprintf(state->message, SIM_ERROR_MESSAGE_BYTES_MAX, "pcap --as-tcp: out of memory");
        return -1;
    }
    for (uint32_t index = 0; index < options->span_count; index++) {
        const struct export_span *span = &options->spans[index];
        if (span->number == 0 || span->side > 1)
            continue;
        struct flow *flow = &state->flows[span->number - 1];
        uint32_t ip = context_address(state, span->cid, span->endpoint);
        uint32_t peer_ip = context_address(state, span->peer_cid, NULL);
        if (ip == 0 || peer_ip == 0) {
            snprintf(state->message, SIM_ERROR_MESSAGE_BYTES_MAX,
                     "pcap --as-tcp: connection %" PRIu32 ": more than %u contexts "
                     "(TCP_CONTEXTS_MAX: the addresses of three documentation ranges)",
                     span->number, TCP_CONTEXTS_MAX);
            return -1;
        }
        bool client = span->side == 0;
        side_init(&flow->side[span->side], ip, span->port,
                  client ? TCP_CLIENT_ISN : TCP_SERVER_ISN);
        side_init(&flow->side[1 - span->side], peer_ip, span->peer_port,
                  client ? TCP_SERVER_ISN : TCP_CLIENT_ISN);
        flow->client_cid = span->side == 0 ? span->cid : span->peer_cid;
        flow->server_cid = span->side == 0 ? span->peer_cid : span->cid;
    }
    return 0;
}

/* Appends to the comment; false once TCP_COMMENT_BYTES_MAX would be passed. */
static bool comment_add(char *comment, size_t *used, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
static bool comment_add(char *comment, size_t *used, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    int written = vsnprintf(comment + *used, TCP_COMMENT_BYTES_MAX - *used, format, args);
    va_end(args);
    if (written < 0 || (size_t)written >= TCP_COMMENT_BYTES_MAX - *used) {
        comment[*used] = '\0';
        return false;
    }
    *used += (size_t)written;
    return true;
}

static void ip_text(uint32_t ip, char text[16])
{
    snprintf(text, 16, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 0xFFu, (ip >> 8) & 0xFFu,
             ip & 0xFFu);
}

/* The section comment: what the capture is, the address of each context, the ports that
 * do not fit 16 bits. Cut with a final line when it would pass TCP_COMMENT_BYTES_MAX. */
static void comment_build(const struct tcp_state *state, char *comment)
{
    size_t used = 0;
    comment_add(comment, &used, "%s",
                "vmcisim export --as-tcp: synthetic TCP/IPv4 built from a vmcisim trace, not "
                "captured traffic. Each vSockets stream connection is one TCP flow (SYN = "
                "REQUEST, SYN-ACK = NEGOTIATE, ACK = OFFER, one segment per queue-pair write, "
                "FIN = close, RST = RST); TCP ports are the vSockets ports. Datagrams are not "
                "included. Addresses:\n");
    uint32_t written = 0;
    bool fits = true;
    for (uint32_t k = 0; fits && k <= TCP_CONTEXTS_MAX; k++) {
        for (uint32_t at = 0; at < state->context_count; at++) {
            const struct context *context = &state->contexts[at];
            if (context->ip != context_ip(k))
                continue;
            char ip[16];
            ip_text(context->ip, ip);
            const char *name = context->cid == 2 ? "host" : context->name;
            fits = comment_add(comment, &used, "%s = %s (CID %" PRIu32 ")\n", ip,
                               name != NULL ? name : "unnamed", context->cid);
            written += fits;
        }
    }
    for (uint32_t index = 0; fits && index < state->flow_count; index++) {
        for (uint32_t side = 0; fits && side < 2; side++) {
            uint32_t port = state->flows[index].side[side].vsock_port;
            if (port > 0xFFFFu)
                fits = comment_add(comment, &used, "connection %" PRIu32 ": vSockets port %"
                                   PRIu32 " written as TCP port %" PRIu32 "\n", index + 1,
                                   port, port & 0xFFFFu);
        }
    }
    if (!fits)
        snprintf(comment + (used < TCP_COMMENT_BYTES_MAX - 80 ? used : TCP_COMMENT_BYTES_MAX - 80),
                 80, "... (cut at %u bytes; %" PRIu32 " of %" PRIu32 " addresses listed)\n",
                 TCP_COMMENT_BYTES_MAX, written, state->context_count);
}

/* ---- Flows by address ---------------------------------------------------------------- */

/* (client cid:port, server cid:port) -> the latest flow that sent a SYN with them: open
 * addressing over a power-of-two table at most half full (2 slots per flow). */
struct flow_map {
    uint64_t *client, *server;
    uint32_t *number;                   /* 0: empty */
    uint32_t capacity;
};

static uint32_t map_slot(const struct flow_map *map, uint64_t client, uint64_t server)
{
    uint64_t hash = client * 0x9E3779B97F4A7C15u ^ (server + 0x632BE59BD9B4E019u) *
                    0xBF58476D1CE4E5B9u;
    return (uint32_t)(hash ^ hash >> 31) & (map->capacity - 1);
}

static bool map_create(struct flow_map *map, uint32_t flows)
{
    map->capacity = 16;
    while (map->capacity < 2u * flows)
        map->capacity *= 2;
    map->client = calloc(map->capacity, sizeof *map->client);
    map->server = calloc(map->capacity, sizeof *map->server);
    map->number = calloc(map->capacity, sizeof *map->number);
    return map->client != NULL && map->server != NULL && map->number != NULL;
}

static void map_destroy(struct flow_map *map)
{
    free(map->client);
    free(map->server);
    free(map->number);
}

/* Sets the pair's flow; every flow is put at most once, so the table never fills. */
static void map_put(struct flow_map *map, uint64_t client, uint64_t server, uint32_t number)
{
    uint32_t slot = map_slot(map, client, server);
    while (map->number[slot] != 0 && (map->client[slot] != client || map->server[slot] != server))
        slot = (slot + 1) & (map->capacity - 1);
    map->client[slot] = client;
    map->server[slot] = server;
    map->number[slot] = number;
}

static uint32_t map_get(const struct flow_map *map, uint64_t client, uint64_t server)
{
    for (uint32_t slot = map_slot(map, client, server), probe = 0; probe < map->capacity;
         probe++, slot = (slot + 1) & (map->capacity - 1)) {
        if (map->number[slot] == 0)
            return 0;
        if (map->client[slot] == client && map->server[slot] == server)
            return map->number[slot];
    }
    return 0;
}

/* ---- Events -------------------------------------------------------------------------- */

/* Flows a REQUEST may belong to past the first one still waiting for its REQUEST (the
 * model numbers connections in REQUEST order; a bounded look-ahead forgives a connection
 * whose REQUEST the pass did not recognise). */
#define TCP_REQUEST_LOOKAHEAD 64u

static uint64_t flow_address(const struct flow *flow, uint32_t side)
{
    return (uint64_t)(side == 0 ? flow->client_cid : flow->server_cid) << 32 |
           flow->side[side].vsock_port;
}

static void on_request(struct tcp_state *state, struct flow_map *map,
                       const struct export__event *event, uint64_t src, uint64_t dst)
{
    while (state->next_request < state->flow_count &&
           state->flows[state->next_request].state != FLOW_IDLE)
        state->next_request++;
    for (uint32_t index = state->next_request;
         index < state->flow_count && index < state->next_request + TCP_REQUEST_LOOKAHEAD;
         index++) {
        struct flow *flow = &state->flows[index];
        if (flow->state != FLOW_IDLE || flow_address(flow, 0) != src ||
            flow_address(flow, 1) != dst)
            continue;
        char comment[TCP_PACKET_COMMENT_BYTES_MAX];
        snprintf(comment, sizeof comment, "connection %" PRIu32 ": CID %" PRIu32 " port %"
                 PRIu32 " -> CID %" PRIu32 " port %" PRIu32 " (trace seq %" PRIu64 ")",
                 index + 1, flow->client_cid, flow->side[0].vsock_port, flow->server_cid,
                 flow->side[1].vsock_port, event->seq);
        send_segment(state, flow, 0, TCP_SYN, NULL, 0, event->time_ns, comment);
        flow->state = FLOW_SYN_SENT;
        map_put(map, src, dst, index + 1);
        return;
    }
}

/* A control packet: the handshake's steps and RST. */
static void on_packet(struct tcp_state *state, struct flow_map *map,
                      const struct export__event *event)
{
    const char *type = export__field_str(event, EXPORT__F_TYPE);
    uint64_t src = export__field_u64(event, EXPORT__F_SRC);
    uint64_t dst = export__field_u64(event, EXPORT__F_DST);
    if (strcmp(type, "REQUEST") == 0 || strcmp(type, "REQUEST2") == 0) {
        on_request(state, map, event, src, dst);
        return;
    }
    uint32_t from_client = map_get(map, src, dst), from_server = map_get(map, dst, src);
    struct flow *flow = NULL;
    uint32_t sender = 0;
    if (from_client != 0)
        flow = &state->flows[from_client - 1];
    else if (from_server != 0)
        flow = &state->flows[from_server - 1], sender = 1;
    if (flow == NULL || flow->reset)
        return;
    if ((strcmp(type, "NEGOTIATE") == 0 || strcmp(type, "NEGOTIATE2") == 0) && sender == 1 &&
        flow->state == FLOW_SYN_SENT) {
        send_segment(state, flow, 1, TCP_SYN | TCP_ACK, NULL, 0, event->time_ns, "");
        flow->state = FLOW_SYN_RECEIVED;
    } else if (strcmp(type, "OFFER") == 0 && sender == 0 && flow->state == FLOW_SYN_RECEIVED) {
        send_segment(state, flow, 0, TCP_ACK, NULL, 0, event->time_ns, "");
        flow->state = FLOW_ESTABLISHED;
    } else if (strcmp(type, "RST") == 0) {
        char comment[64];
        snprintf(comment, sizeof comment, "vSockets RST (trace seq %" PRIu64 ")", event->seq);
        send_segment(state, flow, sender, TCP_RST | TCP_ACK, NULL, 0, event->time_ns, comment);
        flow->reset = true;
    }
}

/* The connection side of the socket an event names (its context and `socket`), or NULL. */
static const struct export_span *event_side(const struct tcp_state *state,
                                            const struct export__event *event)
{
    if (!export__field_present(event, EXPORT__F_SOCKET))
        return NULL;
    return export__sides_find(state->sides, export__names_get(state->names, event->ctx),
                              (uint32_t)export__field_u64(event, EXPORT__F_SOCKET),
                              event->time_ns);
}

/* One queue-pair write: its bytes as segments of its side's flow. */
static int on_write(struct tcp_state *state, const struct export__event *event)
{
    int64_t moved = export__field_i64(event, EXPORT__F_BYTES);
    if (moved <= 0)
        return 0;
    const struct export_span *span = event_side(state, event);
    if (span == NULL || span->number == 0 || span->number > state->flow_count) {
        snprintf(state->message, SIM_ERROR_MESSAGE_BYTES_MAX,
                 "pcap --as-tcp: the write at trace seq %" PRIu64 " (context %" PRIu32
                 ", socket %" PRIu64 ") is in no connection that `inspect connections` "
                 "rebuilds", event->seq, event->ctx, export__field_u64(event, EXPORT__F_SOCKET));
        return -1;
    }
    uint64_t stored = event->payload != NULL ? event->payload_bytes : 0;
    if (stored < (uint64_t)moved) {
        snprintf(state->message, SIM_ERROR_MESSAGE_BYTES_MAX,
                 "pcap --as-tcp: connection %" PRIu32 ": the trace stored %" PRIu64 " of the %"
                 PRId64 " bytes written at trace seq %" PRIu64 "; --as-tcp needs every byte "
                 "(run again with --payload all)", span->number, stored, moved, event->seq);
        return -1;
    }
    struct flow *flow = &state->flows[span->number - 1];
    for (uint64_t offset = 0; offset < (uint64_t)moved && !flow->reset;) {
        uint64_t left = (uint64_t)moved - offset;
        uint32_t bytes = left < TCP_SEGMENT_BYTES_MAX ? (uint32_t)left : TCP_SEGMENT_BYTES_MAX;
        send_segment(state, flow, span->side, TCP_PSH | TCP_ACK, event->payload + offset, bytes,
                     event->time_ns, "");
        offset += bytes;
    }
    return 0;
}

/* A socket closed: FIN from its side, once, if the flow began and was not reset. */
static void on_close(struct tcp_state *state, const struct export__event *event)
{
    const struct export_span *span = event_side(state, event);
    if (span == NULL || span->number == 0 || span->number > state->flow_count)
        return;
    struct flow *flow = &state->flows[span->number - 1];
    if (flow->state == FLOW_IDLE || flow->reset || flow->side[span->side].fin_sent)
        return;
    send_segment(state, flow, span->side, TCP_FIN | TCP_ACK, NULL, 0, event->time_ns, "close");
    flow->side[span->side].fin_sent = true;
}

/* ---- The writer ---------------------------------------------------------------------- */

static const char *const tcp_kinds[] = { "pkt_send", "qp_enqueue", "sock_close", NULL };

static int scan(struct tcp_state *state, struct export__trace *trace, struct flow_map *map)
{
    const char *kinds[EXPORT__SCAN_KINDS_MAX + 1];
    uint32_t count = 0;
    for (uint32_t index = 0; tcp_kinds[index] != NULL; index++)
        kinds[count++] = tcp_kinds[index];
    for (uint32_t index = 0; export__names_kinds[index] != NULL; index++) {
        assert(count < EXPORT__SCAN_KINDS_MAX);
        kinds[count++] = export__names_kinds[index];
    }
    kinds[count] = NULL;
    uint32_t fields = EXPORT__FIELD_BIT(EXPORT__F_TYPE) | EXPORT__FIELD_BIT(EXPORT__F_SRC) |
        EXPORT__FIELD_BIT(EXPORT__F_DST) | EXPORT__FIELD_BIT(EXPORT__F_BYTES) |
        EXPORT__FIELD_BIT(EXPORT__F_SOCKET) | EXPORT__NAMES_FIELDS;
    /* The whole trace: flows are followed from their start; in_window() picks packets. */
    if (export__trace_scan(trace, 0, UINT64_MAX, kinds, fields, state->message) != 0)
        return -1;
    struct export__event event;
    int step;
    while ((step = export__trace_next(trace, &event, state->message)) == 1) {
        export__names_update(state->names, &event);
        if (strcmp(event.kind, "pkt_send") == 0)
            on_packet(state, map, &event);
        else if (strcmp(event.kind, "qp_enqueue") == 0 && on_write(state, &event) != 0)
            return -1;
        else if (strcmp(event.kind, "sock_close") == 0)
            on_close(state, &event);
    }
    return step < 0 ? -1 : 0;
}

int export__pcap_tcp_write(struct export__trace *trace, FILE *out,
                           const struct export_options *options, char *message)
{
    struct tcp_state state = { .out = out, .options = options, .message = message };
    struct flow_map map = { 0 };
    char *comment = NULL;
    int rc = flows_build(&state);
    if (rc == 0) {
        state.names = export__names_create();
        state.sides = export__sides_create(options->spans, options->span_count);
        state.packet = malloc(TCP_PACKET_BYTES_MAX);
        comment = malloc(TCP_COMMENT_BYTES_MAX);
        if (state.names == NULL || state.sides == NULL || state.packet == NULL ||
            comment == NULL || !map_create(&map, state.flow_count)) {
            snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX, "pcap --as-tcp: out of memory");
            rc = -1;
        }
    }
    if (rc == 0) {
        comment_build(&state, comment);
        write_section_header(out, comment);
        write_interface(out);
        rc = scan(&state, trace, &map);
    }
    map_destroy(&map);
    free(comment);
    free(state.packet);
    free(state.flows);
    free(state.contexts);
    export__names_destroy(state.names);
    export__sides_destroy(state.sides);
    return rc;
}
