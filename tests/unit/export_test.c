/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/export_test.c: the exporters (sim/export/export.h).
 *
 * Each test writes a small trace with the real writer (sim/trace/writer.h) from hand-made
 * events, exports it with export_run, and reads the output back byte by byte (pcap) or as
 * text (perfetto, mermaid). tests/export_test.sh checks the same formats with tshark and
 * Python's json module on traces of real scenarios.
 */
#include <dirent.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <sqlite3.h>

#include "sim/engine/error.h"
#include "sim/export/export.h"
#include "sim/trace/writer.h"
#include "suites.h"
#include "test_support.h"

#define OUTPUT_BYTES_MAX (1u << 20)
#define PCAP_GLOBAL 24u
#define PCAP_RECORD 16u
#define VSOCKMON 32u

static char temp_dir[64];

/* ---- Fixtures ---------------------------------------------------------------------- */

static const char *temp_path(const char *name)
{
    static char paths[4][sizeof temp_dir + 256 + 1];
    static unsigned next;
    char *path = paths[next++ % 4];
    snprintf(path, sizeof paths[0], "%s/%s", temp_dir, name);
    return path;
}

struct fixture {
    struct sim_trace_writer *writer;
    struct sim_trace_sink sink;
    uint64_t seq;
    char path[sizeof temp_dir + 256 + 1];
};

static void fixture_open(struct fixture *fixture, const char *name)
{
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    memset(fixture, 0, sizeof *fixture);
    snprintf(fixture->path, sizeof fixture->path, "%s", temp_path(name));
    CU_ASSERT_EQUAL_FATAL(sim_trace_writer_open(fixture->path, &fixture->writer, message), 0);
    /* Every byte, as `--payload all`: a fixture's writes are the data the exports show, and
     * a cut is made explicitly where a test wants one. */
    CU_ASSERT_EQUAL_FATAL(sim_trace_writer_payload(fixture->writer, SIM_TRACE_PAYLOAD_ALL_BYTES,
                                                   message), 0);
    fixture->sink = sim_trace_writer_sink(fixture->writer, SIM_LAYER_DEVICE);
}

static struct sim_trace_event event_make(uint64_t time_ns, uint32_t ctx, uint32_t pid,
                                         enum sim_layer layer, const char *kind)
{
    struct sim_trace_event event;
    memset(&event, 0, sizeof event);
    event.time_ns = time_ns;
    event.ctx = ctx;
    event.pid = pid;
    event.layer = layer;
    event.kind = kind;
    return event;
}

static void put(struct fixture *fixture, struct sim_trace_event *event)
{
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    event->seq = fixture->seq++;
    CU_ASSERT_EQUAL(fixture->sink.emit(fixture->sink.state, event, message), 0);
}

static void put_packet(struct fixture *fixture, uint64_t time_ns, const char *type, uint64_t src,
                       uint64_t dst, uint64_t u0, uint64_t u1)
{
    struct sim_trace_event event = event_make(time_ns, (uint32_t)(src >> 32), 0,
                                              SIM_LAYER_TRANSPORT, "pkt_send");
    sim_trace_field_str(&event, "type", type);
    sim_trace_field_u64(&event, "src", src);
    sim_trace_field_u64(&event, "dst", dst);
    sim_trace_field_u64(&event, "u0", u0);
    sim_trace_field_u64(&event, "u1", u1);
    sim_trace_field_u64(&event, "proto", 1);
    put(fixture, &event);
}

static void put_named(struct fixture *fixture, uint64_t time_ns, const char *kind, uint32_t cid,
                      const char *name)
{
    struct sim_trace_event event = event_make(time_ns, cid, 0, SIM_LAYER_API, kind);
    sim_trace_field_str(&event, "name", name);
    sim_trace_field_u64(&event, "cid", cid);
    put(fixture, &event);
}

static void put_route(struct fixture *fixture, uint32_t ctx, uint32_t src_cid, uint32_t src_rid,
                      uint32_t dst_cid, uint32_t dst_rid, uint64_t size, int64_t result)
{
    struct sim_trace_event event = event_make(5000, ctx, 0, SIM_LAYER_VMCI, "dg_route");
    sim_trace_field_u64(&event, "src_cid", src_cid);
    sim_trace_field_u64(&event, "src_rid", src_rid);
    sim_trace_field_u64(&event, "dst_cid", dst_cid);
    sim_trace_field_u64(&event, "dst_rid", dst_rid);
    sim_trace_field_u64(&event, "size", size);
    sim_trace_field_i64(&event, "result", result);
    put(fixture, &event);
}

static void fixture_close(struct fixture *fixture)
{
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    CU_ASSERT_EQUAL(sim_trace_writer_close(fixture->writer, message), 0);
}

/* Exports `trace_path` and returns the output (NUL-terminated; caller frees), its size in
 * *size_bytes. NULL when the export failed. */
static uint8_t *export_read(const char *trace_path, const struct export_options *options,
                            size_t *size_bytes)
{
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    const char *out_path = temp_path("out");
    int rc = export_run(trace_path, out_path, options, message);
    if (rc != 0)
        fprintf(stderr, "export_run: %s\n", message);
    CU_ASSERT_EQUAL(rc, 0);
    if (rc != 0)
        return NULL;
    FILE *file = fopen(out_path, "rb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(file);
    uint8_t *bytes = calloc(1, OUTPUT_BYTES_MAX + 1);
    *size_bytes = fread(bytes, 1, OUTPUT_BYTES_MAX, file);
    fclose(file);
    unlink(out_path);
    return bytes;
}

static uint8_t *export_format(const char *trace_path, enum export_format format,
                              size_t *size_bytes)
{
    struct export_options options;
    export_options_default(&options);
    options.format = format;
    return export_read(trace_path, &options, size_bytes);
}

static uint64_t get_le(const uint8_t *at, unsigned bytes)
{
    uint64_t value = 0;
    for (unsigned index = 0; index < bytes; index++)
        value |= (uint64_t)at[index] << (8 * index);
    return value;
}

static unsigned count_substrings(const char *text, const char *part)
{
    unsigned count = 0;
    for (const char *at = strstr(text, part); at != NULL; at = strstr(at + 1, part))
        count++;
    return count;
}

/* ---- pcap -------------------------------------------------------------------------- */

/* The global header: nanosecond magic, 2.4, snap length, LINKTYPE_VSOCK. */
static void test_pcap_header_is_nanosecond_vsockmon(void)
{
    struct fixture fixture;
    fixture_open(&fixture, "empty.db");
    put_named(&fixture, 0, "host_create", 2, "host");
    fixture_close(&fixture);
    size_t size = 0;
    uint8_t *out = export_format(fixture.path, EXPORT_FORMAT_PCAP, &size);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    ASSERT_U64_EQ(size, PCAP_GLOBAL);
    ASSERT_U64_EQ(get_le(out, 4), 0xa1b23c4du);
    ASSERT_U64_EQ(get_le(out + 4, 2), 2);
    ASSERT_U64_EQ(get_le(out + 6, 2), 4);
    ASSERT_U64_EQ(get_le(out + 16, 4), 262144);
    ASSERT_U64_EQ(get_le(out + 20, 4), 271);
    free(out);
}

/* R147: a control packet record is the vsockmon header and the 32-byte packet. */
static void test_R147_pcap_control_packet_is_reencoded(void)
{
    struct fixture fixture;
    fixture_open(&fixture, "packet.db");
    put_packet(&fixture, 1500000007u, "REQUEST2", (5000ull << 32) | 1024, (2ull << 32) | 15000,
               65536, 7);
    fixture_close(&fixture);
    size_t size = 0;
    uint8_t *out = export_format(fixture.path, EXPORT_FORMAT_PCAP, &size);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    ASSERT_U64_EQ(size, PCAP_GLOBAL + PCAP_RECORD + VSOCKMON + 32);
    const uint8_t *record = out + PCAP_GLOBAL;
    ASSERT_U64_EQ(get_le(record, 4), 1);                 /* seconds */
    ASSERT_U64_EQ(get_le(record + 4, 4), 500000007);     /* nanoseconds */
    ASSERT_U64_EQ(get_le(record + 8, 4), 64);
    ASSERT_U64_EQ(get_le(record + 12, 4), 64);
    const uint8_t *header = record + PCAP_RECORD;
    ASSERT_U64_EQ(get_le(header, 8), 5000);
    ASSERT_U64_EQ(get_le(header + 8, 8), 2);
    ASSERT_U64_EQ(get_le(header + 16, 4), 1024);
    ASSERT_U64_EQ(get_le(header + 20, 4), 15000);
    ASSERT_U64_EQ(get_le(header + 24, 2), 1);            /* CONNECT */
    ASSERT_U64_EQ(get_le(header + 26, 2), 1);            /* transport: no info */
    ASSERT_U64_EQ(get_le(header + 28, 2), 0);
    ASSERT_U64_EQ(get_le(header + 30, 2), 1);            /* record kind: control packet */
    const uint8_t *packet = header + VSOCKMON;
    ASSERT_U64_EQ(packet[0], 1);                         /* version */
    ASSERT_U64_EQ(packet[1], 11);                        /* REQUEST2 */
    ASSERT_U64_EQ(get_le(packet + 2, 2), 1);
    ASSERT_U64_EQ(get_le(packet + 4, 4), 1024);
    ASSERT_U64_EQ(get_le(packet + 8, 4), 15000);
    ASSERT_U64_EQ(get_le(packet + 16, 8), 65536);
    ASSERT_U64_EQ(get_le(packet + 24, 8), 7);
    free(out);
}

/* Ops as Linux maps virtio's: handshake CONNECT, RST/SHUTDOWN DISCONNECT, notifications
 * CONTROL, anything else UNKNOWN. A src with CID ANY (a U64 above INT64_MAX) reads whole. */
static void test_pcap_ops_follow_vsockmon_mapping(void)
{
    static const struct {
        const char *type;
        unsigned op;
    } cases[] = { { "REQUEST", 1 }, { "ATTACH", 1 }, { "RST", 2 }, { "SHUTDOWN", 2 },
                  { "WROTE", 3 }, { "WAITING_READ", 3 }, { "BOGUS", 0 } };
    const size_t count = sizeof cases / sizeof cases[0];
    struct fixture fixture;
    fixture_open(&fixture, "ops.db");
    for (size_t index = 0; index < count; index++)
        put_packet(&fixture, index, cases[index].type, (0xFFFFFFFFull << 32) | 1024,
                   (2ull << 32) | 80, 0, 0);
    fixture_close(&fixture);
    size_t size = 0;
    uint8_t *out = export_format(fixture.path, EXPORT_FORMAT_PCAP, &size);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    const size_t record_bytes = PCAP_RECORD + VSOCKMON + 32;
    ASSERT_U64_EQ(size, PCAP_GLOBAL + count * record_bytes);
    for (size_t index = 0; index < count && size >= PCAP_GLOBAL + count * record_bytes; index++) {
        const uint8_t *header = out + PCAP_GLOBAL + index * record_bytes + PCAP_RECORD;
        ASSERT_U64_EQ(get_le(header + 24, 2), cases[index].op);
        ASSERT_U64_EQ(get_le(header, 8), 0xFFFFFFFFu);
    }
    free(out);
}

static void put_enqueue(struct fixture *fixture, uint32_t ctx, uint32_t port, int64_t bytes)
{
    struct sim_trace_event event = event_make(9000, ctx, 1, SIM_LAYER_TRANSPORT, "qp_enqueue");
    sim_trace_field_u64(&event, "port", port);
    sim_trace_field_i64(&event, "bytes", bytes);
    sim_trace_field_i64(&event, "position", bytes);
    put(fixture, &event);
}

/* A stream write is cut (32 bytes captured, 32 + bytes on the wire) and goes to the peer
 * that last exchanged a packet from that local port; an unknown port's to ANY:ANY; a
 * write that moved nothing is no record. */
static void test_pcap_stream_write_goes_to_the_last_active_peer(void)
{
    struct fixture fixture;
    fixture_open(&fixture, "stream.db");
    put_packet(&fixture, 1, "NEGOTIATE2", (2ull << 32) | 15000, (5000ull << 32) | 1024, 0, 0);
    put_packet(&fixture, 2, "NEGOTIATE2", (2ull << 32) | 15000, (6000ull << 32) | 1025, 0, 0);
    put_packet(&fixture, 3, "WROTE", (2ull << 32) | 15000, (5000ull << 32) | 1024, 0, 0);
    put_enqueue(&fixture, 2, 15000, 20);
    put_enqueue(&fixture, 2, 15000, 0);
    put_enqueue(&fixture, 2, 15000, -5);
    put_enqueue(&fixture, 7, 9, 3);
    fixture_close(&fixture);
    size_t size = 0;
    uint8_t *out = export_format(fixture.path, EXPORT_FORMAT_PCAP, &size);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    size_t first = PCAP_GLOBAL + 3 * (PCAP_RECORD + VSOCKMON + 32);
    ASSERT_U64_EQ(size, first + 2 * (PCAP_RECORD + VSOCKMON));
    if (size == first + 2 * (PCAP_RECORD + VSOCKMON)) {
        const uint8_t *record = out + first;
        ASSERT_U64_EQ(get_le(record + 8, 4), 32);
        ASSERT_U64_EQ(get_le(record + 12, 4), 52);
        ASSERT_U64_EQ(get_le(record + PCAP_RECORD + 8, 8), 5000);
        ASSERT_U64_EQ(get_le(record + PCAP_RECORD + 20, 4), 1024);
        ASSERT_U64_EQ(get_le(record + PCAP_RECORD + 24, 2), 4);     /* PAYLOAD */
        ASSERT_U64_EQ(get_le(record + PCAP_RECORD + 30, 2), 2);     /* kind: stream data */
        record += PCAP_RECORD + VSOCKMON;
        ASSERT_U64_EQ(get_le(record + PCAP_RECORD + 8, 8), 0xFFFFFFFFu);
        ASSERT_U64_EQ(get_le(record + PCAP_RECORD + 20, 4), 0xFFFFFFFFu);
    }
    free(out);
}

/* A guest's datagram carries its payload (from the DATA_OUT just before the route); the
 * host's is cut; failed routes, hypervisor calls and control handles are no records. */
static void test_pcap_datagrams_carry_guest_payloads(void)
{
    static const uint8_t datagram[29] = {
        2, 0, 0, 0, 0, 4, 0, 0,  0x88, 0x13, 0, 0, 0, 4, 0, 0,  5, 0, 0, 0, 0, 0, 0, 0,
        'H', 'E', 'L', 'L', 'O',
    };
    struct fixture fixture;
    fixture_open(&fixture, "dgram.db");
    struct sim_trace_event event = event_make(5000, 5000, 1, SIM_LAYER_DEVICE, "data_out");
    sim_trace_field_u64(&event, "size", sizeof datagram);
    sim_trace_field_bytes(&event, "bytes", datagram, sizeof datagram);
    put(&fixture, &event);
    put_route(&fixture, 5000, 5000, 1024, 2, 1024, 29, 29);
    put_route(&fixture, 2, 2, 1024, 5000, 1024, 29, 29);
    put_route(&fixture, 2, 2, 1024, 5000, 1024, 29, -2);
    put_route(&fixture, 5000, 5000, 0, 0, 10, 336, 4);
    put_route(&fixture, 5000, 5000, 1, 2, 1, 56, 56);
    fixture_close(&fixture);
    size_t size = 0;
    uint8_t *out = export_format(fixture.path, EXPORT_FORMAT_PCAP, &size);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    size_t guest_record = PCAP_RECORD + VSOCKMON + 5;
    ASSERT_U64_EQ(size, PCAP_GLOBAL + guest_record + PCAP_RECORD + VSOCKMON);
    if (size == PCAP_GLOBAL + guest_record + PCAP_RECORD + VSOCKMON) {
        const uint8_t *record = out + PCAP_GLOBAL;
        ASSERT_U64_EQ(get_le(record + 8, 4), 37);
        CU_ASSERT_EQUAL(memcmp(record + PCAP_RECORD + VSOCKMON, "HELLO", 5), 0);
        ASSERT_U64_EQ(get_le(record + PCAP_RECORD + 30, 2), 3);     /* kind: datagram */
        record += guest_record;
        ASSERT_U64_EQ(get_le(record + 8, 4), 32);
        ASSERT_U64_EQ(get_le(record + 12, 4), 37);
        ASSERT_U64_EQ(get_le(record + PCAP_RECORD, 8), 2);
    }
    free(out);
}

/* ---- perfetto ---------------------------------------------------------------------- */

/* R207: a VM that resumes under another CID stays one process; the VM that took its old
 * CID is another. */
static void test_R207_perfetto_processes_follow_names_across_cid_changes(void)
{
    struct fixture fixture;
    fixture_open(&fixture, "names.db");
    put_named(&fixture, 0, "host_create", 2, "host");
    put_named(&fixture, 0, "vm_create", 4000, "vmA");
    struct sim_trace_event event = event_make(1000, 4000, 0, SIM_LAYER_VMCI, "ctx_suspend");
    sim_trace_field_u64(&event, "cid", 4000);
    put(&fixture, &event);
    put_named(&fixture, 2000, "vm_create", 4000, "vmB");
    event = event_make(3000, 4001, 0, SIM_LAYER_VMCI, "ctx_resume");
    sim_trace_field_u64(&event, "cid", 4000);
    put(&fixture, &event);
    event = event_make(5000, 4001, 0, SIM_LAYER_VMCI, "probe");
    put(&fixture, &event);
    fixture_close(&fixture);
    size_t size = 0;
    char *out = (char *)export_format(fixture.path, EXPORT_FORMAT_PERFETTO, &size);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    ASSERT_STR_CONTAINS(out, "\"pid\":2,\"tid\":0,\"args\":{\"name\":\"vmA (cid 4000)\"}");
    ASSERT_STR_CONTAINS(out, "\"pid\":3,\"tid\":0,\"args\":{\"name\":\"vmB (cid 4000)\"}");
    ASSERT_STR_CONTAINS(out, "\"name\":\"probe\",\"cat\":\"vmci\",\"ts\":5.000,\"pid\":2,");
    ASSERT_U64_EQ(count_substrings(out, "\"process_name\""), 3);
    ASSERT_U64_EQ(count_substrings(out, "\"ph\":\"i\""), 6);
    free(out);
}

/* Endpoints that appear in no particular order of their names keep one process each,
 * numbered in order of appearance, however the lookup by name is kept sorted. */
static void test_perfetto_processes_numbered_in_order_of_appearance(void)
{
    enum { ENDPOINTS = 40 };
    struct fixture fixture;
    fixture_open(&fixture, "order.db");
    put_named(&fixture, 0, "host_create", 2, "host");
    char name[16];
    for (uint32_t index = 0; index < ENDPOINTS; index++) {
        uint32_t number = (index * 17u) % ENDPOINTS;        /* names out of sorted order */
        snprintf(name, sizeof name, "vm%02u", number);
        put_named(&fixture, 10 * index, "vm_create", 100 + number, name);
    }
    struct sim_trace_event event = event_make(9000, 100 + 17u, 0, SIM_LAYER_VMCI, "probe");
    put(&fixture, &event);
    fixture_close(&fixture);
    size_t size = 0;
    char *out = (char *)export_format(fixture.path, EXPORT_FORMAT_PERFETTO, &size);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    ASSERT_U64_EQ(count_substrings(out, "\"process_name\""), 1 + ENDPOINTS);
    ASSERT_STR_CONTAINS(out, "\"pid\":2,\"tid\":0,\"args\":{\"name\":\"vm00 (cid 100)\"}");
    ASSERT_STR_CONTAINS(out, "\"pid\":3,\"tid\":0,\"args\":{\"name\":\"vm17 (cid 117)\"}");
    ASSERT_STR_CONTAINS(out, "\"pid\":41,\"tid\":0,\"args\":{\"name\":\"vm23 (cid 123)\"}");
    /* vm17 appeared second: its later event goes to the second VM's process. */
    ASSERT_STR_CONTAINS(out, "\"name\":\"probe\",\"cat\":\"vmci\",\"ts\":9.000,\"pid\":3,");
    free(out);
}

static void put_process(struct fixture *fixture, uint64_t time_ns, uint32_t pid, const char *kind,
                        const char *field, const char *value)
{
    struct sim_trace_event event = event_make(time_ns, 2, pid, SIM_LAYER_API, kind);
    sim_trace_field_str(&event, field, value);
    put(fixture, &event);
}

/* A proc_block opens a slice that the next proc_resume closes, or the trace's end. */
static void test_perfetto_blocking_calls_are_slices(void)
{
    struct fixture fixture;
    fixture_open(&fixture, "slices.db");
    put_process(&fixture, 0, 1, "proc_spawn", "name", "server");
    put_process(&fixture, 1000, 1, "proc_block", "waits_on", "socket:stream");
    put_process(&fixture, 2000, 2, "proc_block", "waits_on", "sleep");
    put_process(&fixture, 3000, 1, "proc_resume", "reason", "woken");
    put_process(&fixture, 9000, 1, "proc_exit", "status", "done");
    fixture_close(&fixture);
    size_t size = 0;
    char *out = (char *)export_format(fixture.path, EXPORT_FORMAT_PERFETTO, &size);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    ASSERT_STR_CONTAINS(out, "{\"ph\":\"B\",\"ts\":1.000,\"pid\":1,\"tid\":1,"
                        "\"name\":\"wait socket:stream\"}");
    ASSERT_STR_CONTAINS(out, "{\"ph\":\"E\",\"ts\":3.000,\"pid\":1,\"tid\":1}");
    ASSERT_STR_CONTAINS(out, "{\"ph\":\"E\",\"ts\":9.000,\"pid\":1,\"tid\":2}");
    ASSERT_STR_CONTAINS(out, "\"args\":{\"name\":\"server (pid 1)\"}");
    ASSERT_STR_CONTAINS(out, "\"args\":{\"name\":\"pid 2\"}");
    ASSERT_U64_EQ(count_substrings(out, "\"ph\":\"B\""), 2);
    ASSERT_U64_EQ(count_substrings(out, "\"ph\":\"E\""), 2);
    free(out);
}

/* Names are JSON-escaped, and bytes that are not UTF-8 become U+FFFD: the file stays valid
 * JSON and valid UTF-8. */
static void test_perfetto_names_stay_valid_json(void)
{
    struct fixture fixture;
    fixture_open(&fixture, "escape.db");
    put_named(&fixture, 0, "vm_create", 3000, "a\"b\\c\nd\xff\xc3\xa9");
    fixture_close(&fixture);
    size_t size = 0;
    char *out = (char *)export_format(fixture.path, EXPORT_FORMAT_PERFETTO, &size);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    ASSERT_STR_CONTAINS(out,
                        "\"name\":\"a\\\"b\\\\c\\nd\\ufffd\\ufffd\\ufffd\xc3\xa9 (cid 3000)\"");
    CU_ASSERT_PTR_NULL(memchr(out, 0xff, size));
    free(out);
}

/* ---- mermaid ----------------------------------------------------------------------- */

/* A trace of the host, guest1 and `packets` REQUEST2s from guest1 to the host, 1 ns apart
 * from 1 us on. */
static void write_requests_trace(struct fixture *fixture, const char *name, uint64_t packets)
{
    fixture_open(fixture, name);
    put_named(fixture, 0, "host_create", 2, "host");
    put_named(fixture, 0, "vm_create", 5000, "guest1");
    for (uint64_t index = 0; index < packets; index++)
        put_packet(fixture, 1000 + index, "REQUEST2", (5000ull << 32) | 1024,
                   (2ull << 32) | 15000, 0, 0);
    fixture_close(fixture);
}

/* Participants are names; each packet is an arrow; past the bound a note counts the rest. */
static void test_mermaid_bound_ends_with_a_note_counting_the_rest(void)
{
    struct fixture fixture;
    write_requests_trace(&fixture, "mermaid.db", 5);
    struct export_options options;
    export_options_default(&options);
    options.format = EXPORT_FORMAT_MERMAID;
    options.mermaid_messages_max = 4;
    size_t size = 0;
    char *out = (char *)export_read(fixture.path, &options, &size);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    CU_ASSERT_EQUAL(strncmp(out, "sequenceDiagram\n", 16), 0);
    ASSERT_STR_CONTAINS(out, "    participant P1 as host (cid 2)\n");
    ASSERT_STR_CONTAINS(out, "    participant P2 as guest1 (cid 5000)\n");
    ASSERT_STR_CONTAINS(out, "    P2->>P1: REQUEST2 1024 to 15000 at 1.000us\n");
    ASSERT_U64_EQ(count_substrings(out, "->>"), 2);
    ASSERT_STR_CONTAINS(out, "Note over P1: 3 more messages left out (at most 4 ");
    free(out);
}

/* The character bound holds for the whole text, final note included, and the diagram is a
 * clean prefix: the messages drawn are the first ones, none after the first left out. */
static void test_mermaid_character_bound_keeps_a_prefix_and_the_note(void)
{
    struct fixture fixture;
    write_requests_trace(&fixture, "mermaid_chars.db", 40);
    struct export_options options;
    export_options_default(&options);
    options.format = EXPORT_FORMAT_MERMAID;
    options.mermaid_characters_max = 1200;
    size_t size = 0;
    char *out = (char *)export_read(fixture.path, &options, &size);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    CU_ASSERT(size <= 1200);
    uint64_t arrows = count_substrings(out, "->>");
    CU_ASSERT(arrows > 0 && arrows < 40);
    char last[96];                                  /* the first `arrows` packets, in order */
    snprintf(last, sizeof last, "P2->>P1: REQUEST2 1024 to 15000 at 1.%03uus\n",
             (unsigned)(arrows - 1));
    ASSERT_STR_CONTAINS(out, last);
    snprintf(last, sizeof last, "at 1.%03uus", (unsigned)arrows);
    CU_ASSERT_PTR_NULL(strstr(out, last));
    ASSERT_STR_CONTAINS(out, "Note over P1: host_create at 0.000us\n");
    char note[96];                                  /* 2 notes + 40 packets, all counted */
    snprintf(note, sizeof note, "Note over P1: %" PRIu64 " more messages left out (at most ",
             40 - arrows);
    ASSERT_STR_CONTAINS(out, note);
    free(out);
}

/* A trace of the host and `guests` VMs (guestN, cid 5000 + N), each sending one REQUEST2 to
 * the host in turn, then each receiving one back, in the same order. */
static void write_many_guests_trace(struct fixture *fixture, const char *name, uint32_t guests)
{
    fixture_open(fixture, name);
    put_named(fixture, 0, "host_create", 2, "host");
    char guest[32];
    for (uint32_t index = 0; index < guests; index++) {
        snprintf(guest, sizeof guest, "guest%u", index);
        put_named(fixture, 0, "vm_create", 5000 + index, guest);
    }
    for (uint32_t round = 0; round < 2; round++)
        for (uint64_t index = 0; index < guests; index++) {
            uint64_t guest_address = ((5000 + index) << 32) | 1024, host = (2ull << 32) | 15000;
            put_packet(fixture, 1000 + round * guests + index, round == 0 ? "REQUEST2" : "RST",
                       round == 0 ? guest_address : host, round == 0 ? host : guest_address,
                       0, 0);
        }
    fixture_close(fixture);
}

/* Participants are found by name however many there are: each is declared once, on first
 * use, and the second round's arrows go to the same ones. */
static void test_mermaid_many_participants_declared_once(void)
{
    struct fixture fixture;
    write_many_guests_trace(&fixture, "mermaid_many.db", 600);
    struct export_options options;
    export_options_default(&options);
    options.format = EXPORT_FORMAT_MERMAID;
    options.mermaid_characters_max = OUTPUT_BYTES_MAX - 1;
    size_t size = 0;
    char *out = (char *)export_read(fixture.path, &options, &size);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    ASSERT_U64_EQ(count_substrings(out, "    participant "), 601);
    ASSERT_STR_CONTAINS(out, "    participant P601 as guest599 (cid 5599)\n");
    ASSERT_STR_CONTAINS(out, "    P601->>P1: REQUEST2 1024 to 15000 at 1.599us\n");
    ASSERT_STR_CONTAINS(out, "    P1->>P601: RST 15000 to 1024 at 2.199us\n");
    ASSERT_U64_EQ(count_substrings(out, "->>"), 1200);
    free(out);
}

/* Past the character bound every later message still declares its new participant before
 * it is forgotten: thousands of those leave the diagram a clean prefix with the note. */
static void test_mermaid_forgotten_participants_stay_bounded(void)
{
    struct fixture fixture;
    write_many_guests_trace(&fixture, "mermaid_forgotten.db", 3000);
    struct export_options options;
    export_options_default(&options);
    options.format = EXPORT_FORMAT_MERMAID;
    options.mermaid_characters_max = 4000;
    size_t size = 0;
    char *out = (char *)export_read(fixture.path, &options, &size);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    CU_ASSERT(size <= 4000);
    /* The creation notes come first (one per VM), so the bound cuts among them. */
    uint64_t drawn = count_substrings(out, "    Note over ") - 1 + count_substrings(out, "->>");
    CU_ASSERT(drawn > 2 && drawn < 100);
    ASSERT_U64_EQ(count_substrings(out, "    participant "), drawn);   /* the host, guest0.. */
    char note[96];                                  /* 3001 notes + 6000 packets in all */
    snprintf(note, sizeof note, "%" PRIu64 " more messages left out (at most ", 9001 - drawn);
    ASSERT_STR_CONTAINS(out, note);
    free(out);
}

/* ---- export_run -------------------------------------------------------------------- */

/* A missing file, a foreign SQLite database and a non-database fail with a message naming
 * the file, and leave no output behind. */
static void test_export_refuses_what_is_not_a_trace(void)
{
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    struct export_options options;
    export_options_default(&options);
    char out_path[sizeof temp_dir + 32];
    snprintf(out_path, sizeof out_path, "%s", temp_path("refused.out"));
    CU_ASSERT_EQUAL(export_run(temp_path("missing.db"), out_path, &options, message), -1);
    ASSERT_STR_CONTAINS(message, "missing.db: No such file or directory");
    sqlite3 *db = NULL;
    CU_ASSERT_EQUAL_FATAL(sqlite3_open(temp_path("foreign.db"), &db), SQLITE_OK);
    CU_ASSERT_EQUAL(sqlite3_exec(db, "CREATE TABLE t(a)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    CU_ASSERT_EQUAL(export_run(temp_path("foreign.db"), out_path, &options, message), -1);
    ASSERT_STR_CONTAINS(message, "foreign.db is not a vmcisim trace");
    FILE *junk = fopen(temp_path("junk.db"), "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(junk);
    fputs("this is not a database, not even close; it is long enough to have a header\n", junk);
    fclose(junk);
    CU_ASSERT_EQUAL(export_run(temp_path("junk.db"), out_path, &options, message), -1);
    ASSERT_STR_CONTAINS(message, "junk.db is not a vmcisim trace");
    CU_ASSERT_NOT_EQUAL(access(out_path, F_OK), 0);
}

/* An output that cannot be written is named; the trace itself is refused as output. */
static void test_export_names_an_unwritable_output(void)
{
    struct fixture fixture;
    fixture_open(&fixture, "writable.db");
    put_named(&fixture, 0, "host_create", 2, "host");
    fixture_close(&fixture);
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    struct export_options options;
    export_options_default(&options);
    CU_ASSERT_EQUAL(export_run(fixture.path, temp_path("no/such/dir.pcap"), &options, message),
                    -1);
    ASSERT_STR_CONTAINS(message, "cannot write");
    ASSERT_STR_CONTAINS(message, "no/such/dir.pcap");
    CU_ASSERT_EQUAL(export_run(fixture.path, fixture.path, &options, message), -1);
    ASSERT_STR_CONTAINS(message, "it is the trace being exported");
}

/* ---- pcap --as-tcp ------------------------------------------------------------------ */

/* One IPv4/TCP packet of an --as-tcp capture, as read back. */
struct tcp_packet {
    uint64_t time_ns;
    uint32_t source, destination;
    uint32_t source_port, destination_port;
    uint32_t seq, ack;
    uint8_t flags;
    uint32_t data_bytes;
    uint8_t first_byte;
    bool checksums_good;
};

#define TCP_PACKETS_READ_MAX 32u

static uint32_t get_be(const uint8_t *at, unsigned bytes)
{
    uint32_t value = 0;
    for (unsigned index = 0; index < bytes; index++)
        value = value << 8 | at[index];
    return value;
}

/* The one's-complement sum over `count` bytes folded: 0xFFFF when a checksum inside is good. */
static uint32_t folded_sum(uint32_t sum, const uint8_t *bytes, uint32_t count)
{
    for (uint32_t index = 0; index + 1 < count; index += 2)
        sum += get_be(bytes + index, 2);
    if (count % 2 == 1)
        sum += (uint32_t)bytes[count - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xFFFFu) + (sum >> 16);
    return sum;
}

static void read_tcp_packet(const uint8_t *packet, uint32_t bytes, uint64_t time_ns,
                            struct tcp_packet *out)
{
    const uint8_t *tcp = packet + 20;
    uint8_t pseudo[12] = { 0 };
    memcpy(pseudo, packet + 12, 8);
    pseudo[9] = 6;
    pseudo[10] = (uint8_t)((bytes - 20) >> 8);
    pseudo[11] = (uint8_t)(bytes - 20);
    *out = (struct tcp_packet){
        .time_ns = time_ns, .source = get_be(packet + 12, 4),
        .destination = get_be(packet + 16, 4), .source_port = get_be(tcp, 2),
        .destination_port = get_be(tcp + 2, 2), .seq = get_be(tcp + 4, 4),
        .ack = get_be(tcp + 8, 4), .flags = tcp[13], .data_bytes = bytes - 40,
        .first_byte = bytes > 40 ? tcp[20] : 0,
        .checksums_good = packet[0] == 0x45 && get_be(packet + 2, 2) == bytes &&
                          folded_sum(0, packet, 20) == 0xFFFFu &&
                          folded_sum(folded_sum(0, pseudo, 12), tcp, bytes - 20) == 0xFFFFu,
    };
}

/* Walks the pcapng blocks: the section comment into `comment`, the interface's link type,
 * the packets into `packets`. Returns the packet count; CUnit failures on a bad layout. */
static uint32_t read_pcapng(const uint8_t *bytes, size_t size, char *comment,
                            size_t comment_bytes, uint32_t *linktype,
                            struct tcp_packet *packets)
{
    uint32_t count = 0;
    comment[0] = '\0';
    for (size_t at = 0; at + 12 <= size;) {
        uint32_t type = (uint32_t)get_le(bytes + at, 4);
        uint32_t total = (uint32_t)get_le(bytes + at + 4, 4);
        CU_ASSERT_FATAL(total >= 12 && total % 4 == 0 && at + total <= size);
        CU_ASSERT_EQUAL(get_le(bytes + at + total - 4, 4), total);
        if (type == 0x0A0D0D0Au) {
            CU_ASSERT_EQUAL(get_le(bytes + at + 8, 4), 0x1A2B3C4Du);
            CU_ASSERT_EQUAL(get_le(bytes + at + 24, 2), 1);            /* opt_comment */
            size_t length = (size_t)get_le(bytes + at + 26, 2);
            CU_ASSERT_FATAL(length < comment_bytes);
            memcpy(comment, bytes + at + 28, length);
            comment[length] = '\0';
        } else if (type == 1) {
            *linktype = (uint32_t)get_le(bytes + at + 8, 2);
        } else if (type == 6 && count < TCP_PACKETS_READ_MAX) {
            uint64_t time_ns = get_le(bytes + at + 12, 4) << 32 | get_le(bytes + at + 16, 4);
            uint32_t captured = (uint32_t)get_le(bytes + at + 20, 4);
            CU_ASSERT_EQUAL(captured, get_le(bytes + at + 24, 4));
            read_tcp_packet(bytes + at + 28, captured, time_ns, &packets[count++]);
        }
        at += total;
    }
    return count;
}

static void put_write(struct fixture *fixture, uint64_t time_ns, uint32_t ctx, uint32_t socket,
                      const uint8_t *data, int64_t bytes, uint32_t stored)
{
    struct sim_trace_event event = event_make(time_ns, ctx, 1, SIM_LAYER_TRANSPORT,
                                              "qp_enqueue");
    sim_trace_field_u64(&event, "port", 1);
    sim_trace_field_i64(&event, "bytes", bytes);
    sim_trace_field_i64(&event, "position", 0);
    sim_trace_field_u64(&event, "socket", socket);
    sim_trace_field_payload(&event, "data", data, stored);
    put(fixture, &event);
}

static void put_close(struct fixture *fixture, uint64_t time_ns, uint32_t ctx, uint32_t socket)
{
    struct sim_trace_event event = event_make(time_ns, ctx, 1, SIM_LAYER_API, "sock_close");
    sim_trace_field_u64(&event, "socket", socket);
    sim_trace_field_i64(&event, "result", 0);
    put(fixture, &event);
}

#define ALPHA 5000ull
#define BETA 6000ull
#define BIG_WRITE_BYTES 70000u

/* Two connections to host:7000, as `inspect connections` would give them: alpha:1024
 * (server socket 3) and beta:70000 (server socket 4). */
static void tcp_spans(struct export_span spans[4])
{
    static const struct { uint32_t number, side; const char *endpoint; uint32_t cid, port,
                          socket, peer_cid, peer_port; uint64_t start_ns; } table[4] = {
        { 1, 0, "alpha", ALPHA, 1024, 1, 2, 7000, 10 },
        { 1, 1, "host", 2, 7000, 3, ALPHA, 1024, 30 },
        { 2, 0, "beta", BETA, 70000, 1, 2, 7000, 11 },
        { 2, 1, "host", 2, 7000, 4, BETA, 70000, 31 },
    };
    for (unsigned index = 0; index < 4; index++) {
        spans[index] = (struct export_span){
            .number = table[index].number, .side = table[index].side, .cid = table[index].cid,
            .port = table[index].port, .socket = table[index].socket,
            .peer_cid = table[index].peer_cid, .peer_port = table[index].peer_port,
            .start_ns = table[index].start_ns, .end_ns = 100,
        };
        snprintf(spans[index].endpoint, sizeof spans[index].endpoint, "%s",
                 table[index].endpoint);
    }
}

/* The handshakes, writes of 300 (client), 70000 (server: two segments) and 5 bytes,
 * alpha's close, an RST from the server of connection 2, then the host's closes. */
static void write_tcp_trace(struct fixture *fixture, const char *name, uint32_t stored_small)
{
    static uint8_t big[BIG_WRITE_BYTES];
    for (uint32_t index = 0; index < BIG_WRITE_BYTES; index++)
        big[index] = (uint8_t)('a' + index % 26);
    fixture_open(fixture, name);
    put_named(fixture, 0, "host_create", 2, "host");
    put_named(fixture, 0, "vm_create", (uint32_t)ALPHA, "alpha");
    put_named(fixture, 0, "vm_create", (uint32_t)BETA, "beta");
    uint64_t host = 2ull << 32 | 7000, alpha = ALPHA << 32 | 1024, beta = BETA << 32 | 70000;
    put_packet(fixture, 10, "REQUEST2", alpha, host, 1024, 0);
    put_packet(fixture, 11, "REQUEST2", beta, host, 1024, 0);
    put_packet(fixture, 20, "NEGOTIATE2", host, alpha, 1024, 0);
    put_packet(fixture, 21, "NEGOTIATE2", host, beta, 1024, 0);
    put_packet(fixture, 25, "OFFER", alpha, host, 0, 0);
    put_packet(fixture, 26, "OFFER", beta, host, 0, 0);
    put_write(fixture, 40, (uint32_t)ALPHA, 1, big + 1, 300, 300);
    put_write(fixture, 41, 2, 3, big, BIG_WRITE_BYTES, BIG_WRITE_BYTES);
    put_write(fixture, 42, 2, 4, (const uint8_t *)"hello", 5, stored_small);
    put_close(fixture, 50, (uint32_t)ALPHA, 1);
    put_packet(fixture, 51, "RST", host, beta, 0, 0);
    put_close(fixture, 52, 2, 3);
    put_close(fixture, 53, 2, 4);
    fixture_close(fixture);
}

static void expect_segment(const struct tcp_packet *packet, uint32_t source, uint32_t seq,
                           uint32_t ack, uint8_t flags, uint32_t data_bytes)
{
    ASSERT_U64_EQ(packet->source, source);
    ASSERT_U64_EQ(packet->seq, seq);
    ASSERT_U64_EQ(packet->ack, ack);
    ASSERT_U64_EQ(packet->flags, flags);
    ASSERT_U64_EQ(packet->data_bytes, data_bytes);
    CU_ASSERT_TRUE(packet->checksums_good);
}

/* An --as-tcp export of write_tcp_trace's two connections (`spans` holds their spans). */
static void tcp_export_options(struct export_options *options, struct export_span spans[4])
{
    tcp_spans(spans);
    export_options_default(options);
    options->as_tcp = true;
    options->spans = spans;
    options->span_count = 4;
}

/* Exports `trace_path` with `options` (an --as-tcp export) and reads the capture back:
 * returns the packet count, with the section comment and link type filled. */
static uint32_t export_tcp_packets(const char *trace_path, const struct export_options *options,
                                   char *comment, size_t comment_bytes, uint32_t *linktype,
                                   struct tcp_packet packets[TCP_PACKETS_READ_MAX])
{
    size_t size = 0;
    uint8_t *out = export_read(trace_path, options, &size);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    uint32_t count = read_pcapng(out, size, comment, comment_bytes, linktype, packets);
    free(out);
    return count;
}

/* The flows of two connections: handshake, sequence numbers that start at 2^32 - 256
 * (client) and 2^32 - 512 (server) and wrap, acks of all the peer sent, a 70000-byte write
 * split at 65495, FIN at a close, RST from the RST's sender and nothing after it, ports
 * above 65535 cut to 16 bits and named in the comment with the address mapping. */
static void test_pcap_as_tcp_flows_sequence_numbers_and_wrap(void)
{
    struct fixture fixture;
    write_tcp_trace(&fixture, "tcp.db", 5);
    struct export_span spans[4];
    struct export_options options;
    tcp_export_options(&options, spans);
    char comment[2048];
    uint32_t linktype = 0;
    struct tcp_packet packets[TCP_PACKETS_READ_MAX];
    uint32_t count = export_tcp_packets(fixture.path, &options, comment, sizeof comment,
                                        &linktype, packets);
    ASSERT_U64_EQ(linktype, 101);
    CU_ASSERT_PTR_NOT_NULL(strstr(comment, "192.0.2.2 = host (CID 2)\n192.0.2.3 = alpha "
                                  "(CID 5000)\n192.0.2.4 = beta (CID 6000)\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(comment, "connection 2: vSockets port 70000 written as TCP "
                                  "port 4464"));
    ASSERT_U64_EQ(count, 13);
    if (count != 13)
        return;
    const uint32_t host = 0xC0000202u, alpha = 0xC0000203u, beta = 0xC0000204u;
    const uint32_t client_isn = 0xFFFFFF00u, server_isn = 0xFFFFFE00u;
    expect_segment(&packets[0], alpha, client_isn, 0, 0x02, 0);
    expect_segment(&packets[1], beta, client_isn, 0, 0x02, 0);
    ASSERT_U64_EQ(packets[1].source_port, 70000u & 0xFFFFu);
    ASSERT_U64_EQ(packets[1].destination_port, 7000);
    expect_segment(&packets[2], host, server_isn, client_isn + 1, 0x12, 0);
    ASSERT_U64_EQ(packets[2].destination, alpha);
    expect_segment(&packets[3], host, server_isn, client_isn + 1, 0x12, 0);
    ASSERT_U64_EQ(packets[3].destination, beta);
    expect_segment(&packets[4], alpha, client_isn + 1, server_isn + 1, 0x10, 0);
    expect_segment(&packets[5], beta, client_isn + 1, server_isn + 1, 0x10, 0);
    uint32_t client_next = client_isn + 1 + 300;                /* wrapped: 0x2d */
    ASSERT_U64_EQ(client_next, 0x2Du);
    expect_segment(&packets[6], alpha, client_isn + 1, server_isn + 1, 0x18, 300);
    ASSERT_U64_EQ(packets[6].first_byte, 'b');
    expect_segment(&packets[7], host, server_isn + 1, client_next, 0x18, 65495);
    ASSERT_U64_EQ(packets[7].destination, alpha);
    ASSERT_U64_EQ(packets[7].time_ns, 41);
    expect_segment(&packets[8], host, server_isn + 1 + 65495, client_next, 0x18,
                   BIG_WRITE_BYTES - 65495);
    ASSERT_U64_EQ(packets[8].first_byte, 'a' + 65495 % 26);
    expect_segment(&packets[9], host, server_isn + 1, client_isn + 1, 0x18, 5);
    ASSERT_U64_EQ(packets[9].destination, beta);
    uint32_t server_next = server_isn + 1 + BIG_WRITE_BYTES;
    expect_segment(&packets[10], alpha, client_next, server_next, 0x11, 0);
    expect_segment(&packets[11], host, server_isn + 1 + 5, client_isn + 1, 0x14, 0);
    ASSERT_U64_EQ(packets[11].destination, beta);
    expect_segment(&packets[12], host, server_next, client_next + 1, 0x11, 0);
    ASSERT_U64_EQ(packets[12].time_ns, 52);
}

/* A write the trace stored cut (3 of 5 bytes) is refused with a message naming it, and no
 * file is left; --from/--to keep only the packets in the window, numbers unchanged. */
static void test_pcap_as_tcp_refuses_cut_payloads_and_keeps_numbers_in_a_window(void)
{
    struct fixture fixture;
    write_tcp_trace(&fixture, "tcp_cut.db", 3);
    struct export_span spans[4];
    struct export_options options;
    tcp_export_options(&options, spans);
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    const char *out_path = temp_path("cut.pcapng");
    CU_ASSERT_EQUAL(export_run(fixture.path, out_path, &options, message), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(message, "connection 2: the trace stored 3 of the 5 bytes"));
    CU_ASSERT_PTR_NOT_NULL(strstr(message, "--payload all"));
    CU_ASSERT_EQUAL(access(out_path, F_OK), -1);

    write_tcp_trace(&fixture, "tcp_window.db", 5);
    options.from_ns = 41;
    options.to_ns = 41;
    char comment[2048];
    uint32_t linktype = 0;
    struct tcp_packet packets[TCP_PACKETS_READ_MAX];
    uint32_t count = export_tcp_packets(fixture.path, &options, comment, sizeof comment,
                                        &linktype, packets);
    ASSERT_U64_EQ(count, 2);
    if (count == 2)
        expect_segment(&packets[0], 0xC0000202u, 0xFFFFFE01u, 0x2Du, 0x18, 65495);
}

/* --from/--to keep only the events in the window; the same trace gives the same bytes. */
static void test_export_window_and_determinism(void)
{
    struct fixture fixture;
    fixture_open(&fixture, "window.db");
    for (uint64_t index = 0; index < 10; index++)
        put_packet(&fixture, index * 1000, "WROTE", (5000ull << 32) | 1024, (2ull << 32) | 80,
                   0, 0);
    fixture_close(&fixture);
    struct export_options options;
    export_options_default(&options);
    options.from_ns = 2000;
    options.to_ns = 4000;
    size_t size = 0;
    uint8_t *out = export_read(fixture.path, &options, &size);
    ASSERT_U64_EQ(size, PCAP_GLOBAL + 3 * (PCAP_RECORD + VSOCKMON + 32));
    free(out);
    for (int format = EXPORT_FORMAT_PCAP; format <= EXPORT_FORMAT_MERMAID; format++) {
        size_t first_size = 0, second_size = 0;
        uint8_t *first = export_format(fixture.path, (enum export_format)format, &first_size);
        uint8_t *second = export_format(fixture.path, (enum export_format)format, &second_size);
        CU_ASSERT_PTR_NOT_NULL_FATAL(first);
        CU_ASSERT_PTR_NOT_NULL_FATAL(second);
        ASSERT_U64_EQ(first_size, second_size);
        CU_ASSERT_EQUAL(memcmp(first, second, first_size), 0);
        free(first);
        free(second);
    }
}

static void test_format_names_parse(void)
{
    enum export_format format = EXPORT_FORMAT_PCAP;
    CU_ASSERT_EQUAL(export_format_parse("perfetto", &format), 0);
    CU_ASSERT_EQUAL(format, EXPORT_FORMAT_PERFETTO);
    CU_ASSERT_EQUAL(export_format_parse("mermaid", &format), 0);
    CU_ASSERT_EQUAL(format, EXPORT_FORMAT_MERMAID);
    CU_ASSERT_EQUAL(export_format_parse("pcap", &format), 0);
    CU_ASSERT_EQUAL(format, EXPORT_FORMAT_PCAP);
    CU_ASSERT_EQUAL(export_format_parse("pcapng", &format), -1);
    CU_ASSERT_EQUAL(export_format_parse("", &format), -1);
}

/* ---- Suite ------------------------------------------------------------------------- */

static int suite_init(void)
{
    snprintf(temp_dir, sizeof temp_dir, "/tmp/export_test.XXXXXX");
    return mkdtemp(temp_dir) == NULL ? 1 : 0;
}

static int suite_cleanup(void)
{
    DIR *dir = opendir(temp_dir);
    if (dir == NULL)
        return 1;
    struct dirent *entry;
    for (int i = 0; i < 1000 && (entry = readdir(dir)) != NULL; i++) {
        if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0)
            unlink(temp_path(entry->d_name));
    }
    closedir(dir);
    return rmdir(temp_dir) == 0 ? 0 : 1;
}

CU_ErrorCode export_suite_add(void)
{
    static const struct test_entry tests[] = {
        TEST_ENTRY(test_pcap_header_is_nanosecond_vsockmon),
        TEST_ENTRY(test_R147_pcap_control_packet_is_reencoded),
        TEST_ENTRY(test_pcap_ops_follow_vsockmon_mapping),
        TEST_ENTRY(test_pcap_stream_write_goes_to_the_last_active_peer),
        TEST_ENTRY(test_pcap_datagrams_carry_guest_payloads),
        TEST_ENTRY(test_R207_perfetto_processes_follow_names_across_cid_changes),
        TEST_ENTRY(test_perfetto_processes_numbered_in_order_of_appearance),
        TEST_ENTRY(test_perfetto_blocking_calls_are_slices),
        TEST_ENTRY(test_perfetto_names_stay_valid_json),
        TEST_ENTRY(test_mermaid_bound_ends_with_a_note_counting_the_rest),
        TEST_ENTRY(test_mermaid_character_bound_keeps_a_prefix_and_the_note),
        TEST_ENTRY(test_mermaid_many_participants_declared_once),
        TEST_ENTRY(test_mermaid_forgotten_participants_stay_bounded),
        TEST_ENTRY(test_export_refuses_what_is_not_a_trace),
        TEST_ENTRY(test_export_names_an_unwritable_output),
        TEST_ENTRY(test_export_window_and_determinism),
        TEST_ENTRY(test_format_names_parse),
        TEST_ENTRY(test_pcap_as_tcp_flows_sequence_numbers_and_wrap),
        TEST_ENTRY(test_pcap_as_tcp_refuses_cut_payloads_and_keeps_numbers_in_a_window),
    };
    return test_suite_register_with_fixtures("export", suite_init, suite_cleanup, tests,
                                             sizeof(tests) / sizeof(tests[0]));
}
