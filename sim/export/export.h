/* SPDX-License-Identifier: MIT */
/*
 * sim/export/export.h: a trace database (docs/trace-schema.md) turned into a file that
 * other tools read (docs/cli.md, "export"):
 *
 *   pcap      a nanosecond libpcap file, link type LINKTYPE_VSOCK (Linux vsockmon), one
 *             record per control packet sent, stream data write and routed datagram;
 *   perfetto  Chrome/Perfetto JSON trace events: a process per VM, a thread per simulated
 *             process, an instant per trace event, a slice per blocking call;
 *   mermaid   a Mermaid sequence diagram of control packets, datagrams and lifecycle notes.
 *
 * The output is a pure function of the trace and the options: the same trace gives the
 * same bytes. Only sim/cli chooses exit codes; these functions return 0 or -1 with a message.
 */
#ifndef SIM_EXPORT_EXPORT_H
#define SIM_EXPORT_EXPORT_H

#include <stdint.h>

#include "sim/engine/limits.h"

/* Messages (arrows and notes) a Mermaid diagram holds before it ends with a note saying
 * how many were left out: Mermaid's renderer becomes unusably slow well before 10 000. */
#define EXPORT_MERMAID_MESSAGES_MAX 2000u

enum export_format {
    EXPORT_FORMAT_PCAP,
    EXPORT_FORMAT_PERFETTO,
    EXPORT_FORMAT_MERMAID,
};

struct export_options {
    enum export_format format;
    uint64_t from_ns;                 /* events with from_ns <= time_ns <= to_ns only */
    uint64_t to_ns;
    uint32_t mermaid_messages_max;    /* EXPORT_MERMAID_MESSAGES_MAX unless told */
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

#endif /* SIM_EXPORT_EXPORT_H */
