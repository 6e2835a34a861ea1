/* SPDX-License-Identifier: MIT */
/*
 * sim/export/export_int.h: what the exporters share (for sim/export only): the trace
 * reader (read-only SQLite, events in seq order with chosen fields extracted), the names
 * of contexts as the trace tells them, and JSON string output.
 */
#ifndef SIM_EXPORT_EXPORT_INT_H
#define SIM_EXPORT_EXPORT_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "export.h"

/* The fields an exporter may read, extracted by SQLite's json_extract from `fields`. */
enum export__field {
    EXPORT__F_TYPE, EXPORT__F_SRC, EXPORT__F_DST, EXPORT__F_U0, EXPORT__F_U1,
    EXPORT__F_PROTO, EXPORT__F_NAME, EXPORT__F_VM, EXPORT__F_CID, EXPORT__F_ASSIGNED,
    EXPORT__F_PORT, EXPORT__F_BYTES, EXPORT__F_SIZE, EXPORT__F_SRC_CID, EXPORT__F_SRC_RID,
    EXPORT__F_DST_CID, EXPORT__F_DST_RID, EXPORT__F_RESULT, EXPORT__F_WAITS_ON,
    EXPORT__F_REASON, EXPORT__F_SOCKET, EXPORT__F_COUNT,
};
#define EXPORT__FIELD_BIT(field) (1u << (field))
_Static_assert(EXPORT__F_COUNT <= 32, "a scan names its fields in a 32-bit mask");

/* The kinds one scan may filter on: enough for every exporter's list. */
#define EXPORT__SCAN_KINDS_MAX 32u

struct export__trace;

/* One row of a scan. Strings and the payload are borrowed until the next row. */
struct export__event {
    uint64_t seq;
    uint64_t time_ns;
    uint32_t ctx;
    uint32_t pid;
    const char *layer;
    const char *kind;
    const char *fields;            /* the JSON object text, "{}" at least */
    const uint8_t *payload;        /* NULL when the event has none */
    uint32_t payload_bytes;
    const struct export__trace *trace;
};

/* Opens `path` read-only and checks that it is a vmcisim trace (meta.schema_version is the
 * writer's, events has its columns). Ownership: returns a reader owned by the caller;
 * free with export__trace_close(). Returns 0, or -1 with a message. */
int export__trace_open(const char *path, struct export__trace **out, char *message);
void export__trace_close(struct export__trace *trace);

/* Starts a scan of the events in [from_ns, to_ns] in seq order, of the kinds in the
 * NULL-terminated `kinds` (NULL: every kind), with the fields in `field_mask` extracted.
 * Returns 0, or -1 with a message. */
int export__trace_scan(struct export__trace *trace, uint64_t from_ns, uint64_t to_ns,
                       const char *const *kinds, uint32_t field_mask, char *message);
/* Returns 1 and the next row, 0 at the end, or -1 with a message (a corrupt database). */
int export__trace_next(struct export__trace *trace, struct export__event *event, char *message);

/* A field of the current row: present (not NULL in the JSON), as an unsigned or signed
 * integer (U64 fields above INT64_MAX are stored as decimal strings, trace-schema.md), or
 * as a string ("" when absent). */
bool export__field_present(const struct export__event *event, enum export__field field);
uint64_t export__field_u64(const struct export__event *event, enum export__field field);
int64_t export__field_i64(const struct export__event *event, enum export__field field);
const char *export__field_str(const struct export__event *event, enum export__field field);

/* Names of contexts: host_create/vm_create name a CID; events with a `vm` field (ctx_create,
 * vm_suspend, vm_power_on, cid_reassigned ...) rename theirs; a context that resumes under
 * a new CID keeps the name it had when it was suspended. */
#define EXPORT__NAME_BYTES_MAX 64u          /* as SIM_PROCESS_NAME_BYTES_MAX; longer is cut */
#define EXPORT__CONTEXTS_MAX 8192u          /* 4x SIM_VMS_MAX_DEFAULT plus room for CID reuse */
struct export__names;
/* The fields export__names_update reads. */
#define EXPORT__NAMES_FIELDS                                                                 \
    (EXPORT__FIELD_BIT(EXPORT__F_NAME) | EXPORT__FIELD_BIT(EXPORT__F_VM) |                   \
     EXPORT__FIELD_BIT(EXPORT__F_CID) | EXPORT__FIELD_BIT(EXPORT__F_ASSIGNED))
/* The kinds export__names_update learns from (NULL-terminated). */
extern const char *const export__names_kinds[];
struct export__names *export__names_create(void);
void export__names_destroy(struct export__names *names);
/* Learns from one event; returns true when it named (or renamed) a context. */
bool export__names_update(struct export__names *names, const struct export__event *event);
/* The name of `ctx` now: the learnt one, "hypervisor" for 0, else "cid N". */
const char *export__names_get(struct export__names *names, uint32_t ctx);

/* Writes `text` as a JSON string: quotes, escapes, well-formed UTF-8 copied, every byte of
 * an ill-formed sequence as U+FFFD (the output must stay valid JSON and UTF-8). */
void export__json_string(FILE *out, const char *text);

/* Makes room for element `count` of *array (capacity *capacity, elements of
 * `element_bytes`), doubling up to `max`. Returns false at `max` or out of memory. */
bool export__grow(void **array, uint32_t *capacity, uint32_t count, size_t element_bytes,
                  uint32_t max);

/* True for a dg_route the exporters show as a datagram: routed (result >= 0) between two
 * endpoints' resources, neither end the hypervisor nor a vSockets control handle (those
 * are pkt_send's packets). Needs EXPORT__DATAGRAM_FIELDS. */
#define EXPORT__DATAGRAM_FIELDS                                                              \
    (EXPORT__FIELD_BIT(EXPORT__F_SRC_CID) | EXPORT__FIELD_BIT(EXPORT__F_SRC_RID) |           \
     EXPORT__FIELD_BIT(EXPORT__F_DST_CID) | EXPORT__FIELD_BIT(EXPORT__F_DST_RID) |           \
     EXPORT__FIELD_BIT(EXPORT__F_SIZE) | EXPORT__FIELD_BIT(EXPORT__F_RESULT))
bool export__dg_route_is_datagram(const struct export__event *event);

/* The sides of the stream connections (options->spans) by (endpoint name, socket number),
 * for placing a queue-pair write in its connection (sides.c). Borrows the spans. */
struct export__sides;
struct export__sides *export__sides_create(const struct export_span *spans, uint32_t count);
void export__sides_destroy(struct export__sides *sides);
/* The side whose endpoint is `name` and socket `socket` that had started by `time_ns`
 * (the latest such), or NULL. */
const struct export_span *export__sides_find(const struct export__sides *sides, const char *name,
                                             uint32_t socket, uint64_t time_ns);

/* The writers. Each scans the trace itself and writes to `out`; 0 or -1 with a message. */
int export__pcap_write(struct export__trace *trace, FILE *out,
                       const struct export_options *options, char *message);
/* `--as-tcp`: the stream connections as a pcapng capture of synthetic TCP/IPv4 (pcap_tcp.c). */
int export__pcap_tcp_write(struct export__trace *trace, FILE *out,
                           const struct export_options *options, char *message);
int export__perfetto_write(struct export__trace *trace, FILE *out,
                           const struct export_options *options, char *message);
int export__mermaid_write(struct export__trace *trace, FILE *out,
                          const struct export_options *options, char *message);

#endif /* SIM_EXPORT_EXPORT_INT_H */
