/* SPDX-License-Identifier: MIT */
/*
 * sim/export/export.h: a trace database (docs/trace-schema.md) turned into a file that
 * other tools read (docs/cli.md, "export"):
 *
 *   pcap      a nanosecond libpcap file, link type LINKTYPE_VSOCK (Linux vsockmon), one
 *             record per control packet sent, stream data write and routed datagram;
 *   perfetto  Chrome/Perfetto JSON trace events: a process per VM, a thread per simulated
 *             process, an instant per trace event, a slice per blocking call, flow arrows
 *             from each packet, datagram and interrupt's sender to its receiver, and a
 *             slice per side of each connection (options->spans);
 *   mermaid   a Mermaid sequence diagram of control packets, datagrams and lifecycle notes,
 *             within mermaid.live's 50 000 characters, or of one connection.
 *
 * The output is a pure function of the trace and the options: the same trace gives the
 * same bytes. Only sim/cli chooses exit codes; these functions return 0 or -1 with a message.
 */
#ifndef SIM_EXPORT_EXPORT_H
#define SIM_EXPORT_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sim/engine/limits.h"

/* Messages (arrows and notes) a Mermaid diagram holds before it ends with a note saying
 * how many were left out: Mermaid's renderer becomes unusably slow well before 10 000. */
#define EXPORT_MERMAID_MESSAGES_MAX 2000u
/* Characters a Mermaid diagram holds, the final note included: mermaid.live's default
 * maxTextSize (50 000) refuses a longer text. The output is ASCII, so bytes = characters. */
#define EXPORT_MERMAID_CHARACTERS_MAX 50000u
/* Connection slices (perfetto) one export draws; more are counted in a final instant. */
#define EXPORT_SPANS_MAX (1u << 22)

enum export_format {
    EXPORT_FORMAT_PCAP,
    EXPORT_FORMAT_PERFETTO,
    EXPORT_FORMAT_MERMAID,
};

/* One side of one stream connection, as `inspect connections` rebuilt it (sim/cli gives
 * them; the exporters do not rebuild connections themselves). */
struct export_span {
    uint32_t number;                  /* the connection's number in `inspect connections` */
    uint32_t side;                    /* 0 client, 1 server */
    char endpoint[64];                /* the endpoint's name (the Perfetto process) */
    uint32_t cid, port;               /* this side's address when the connection started */
    uint32_t socket;                  /* this side's socket id in its endpoint, 0 unknown */
    uint32_t peer_cid, peer_port;
    uint64_t start_ns, end_ns;
    char end[96];                     /* how it ended, "" while open */
};

struct export_options {
    enum export_format format;
    uint64_t from_ns;                 /* events with from_ns <= time_ns <= to_ns only */
    uint64_t to_ns;
    uint32_t mermaid_messages_max;    /* EXPORT_MERMAID_MESSAGES_MAX unless told */
    uint32_t mermaid_characters_max;  /* EXPORT_MERMAID_CHARACTERS_MAX unless told */
    /* Perfetto: the connections' sides, drawn as slices; mermaid with `connection` set:
     * the two sides of that connection only. Borrowed; NULL/0 for none. */
    const struct export_span *spans;
    uint32_t span_count;
    uint32_t connection;              /* mermaid: draw only this connection (0: all) */
    /* pcap: a synthetic TCP/IPv4 capture (pcapng) of the stream connections instead of the
     * vsockmon one; needs the spans, and every byte of every write stored. */
    bool as_tcp;
};

/* Fills `options` with: pcap, the whole trace, the default Mermaid bound. */
void export_options_default(struct export_options *options);

/* Returns 0 and the format named `name` ("pcap", "perfetto", "mermaid"), or -1. */
int export_format_parse(const char *name, enum export_format *format);

/* Reads the trace at `trace_path` and writes `out_path` (created or replaced). Returns 0,
 * or -1 with a message naming the file and the cause: the trace is missing, unreadable,
 * corrupt or not a vmcisim trace, or the output cannot be written. A failed export
 * leaves no output file behind. */
int export_run(const char *trace_path, const char *out_path, const struct export_options *options,
               char message[SIM_ERROR_MESSAGE_BYTES_MAX]);

/* Writes `length` bytes of `text` as a JSON string: quotes, escapes, well-formed UTF-8
 * copied, every byte of an ill-formed sequence as U+FFFD, so the output stays valid JSON and
 * UTF-8 (also used by `inspect --format json`). */
void export_json_string_bytes(FILE *out, const char *text, size_t length);
void export_json_string(FILE *out, const char *text);
/* Copies a JSON text that SQLite's json_valid accepted, ill-formed UTF-8 bytes (which can
 * only be inside its strings) as U+FFFD escapes. */
void export_json_copy(FILE *out, const char *json);

#endif /* SIM_EXPORT_EXPORT_H */
