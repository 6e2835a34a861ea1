/* SPDX-License-Identifier: MIT */
/*
 * sim/cli/export.c: `vmcisim export FILE.db --format pcap|perfetto|mermaid -o OUT`
 * (`--as-tcp` with pcap: synthetic TCP/IPv4, sim/export/pcap_tcp.c)
 * (scenario-api.md, "Command line"; docs/cli.md, "export"). Parses the arguments and
 * chooses the exit status; sim/export/ does the work.
 * Exit status: 0 written; 1 the trace cannot be read (missing, corrupt, not a vmcisim
 * trace) or the output cannot be written; 2 usage error.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/cli/cli.h"
#include "sim/cli/option_once.h"
#include "sim/cli/inspect_int.h"
#include "sim/engine/duration.h"
#include "sim/engine/error.h"
#include "sim/engine/trace.h"
#include "sim/export/export.h"
#include "sim/trace/reader.h"

struct export_arguments {
    const char *trace_path;
    const char *out_path;
    bool have_format;
    bool have_max_messages;                 /* --max-messages given (Mermaid's alone) */
    struct export_options options;
};

static int parse_count(const char *text, uint32_t *out)
{
    char *end = NULL;
    unsigned long long value = strtoull(text, &end, 10);
    if (text[0] < '0' || text[0] > '9' || end == NULL || *end != '\0' || value == 0 ||
        value > UINT32_MAX)
        return -1;
    *out = (uint32_t)value;
    return 0;
}

/* One option's value into `arguments`; returns 0 or 2 (reported usage error). */
static int parse_option(int option, const char *value, struct export_arguments *arguments)
{
    struct export_options *options = &arguments->options;
    switch (option) {
    case 'f':
        if (export_format_parse(value, &options->format) != 0)
            return cli_usage_error("export: unknown format '%s' (pcap, perfetto or mermaid)",
                                   value);
        arguments->have_format = true;
        return 0;
    case 'o':
        arguments->out_path = value;
        return 0;
    case 'F': {
        int code = sim_duration_parse(value, &options->from_ns);
        if (code != 0)
            return cli_duration_error("export: --from", value, code, "250ms, 3s");
        return 0;
    }
    case 'T': {
        int code = sim_duration_parse(value, &options->to_ns);
        if (code != 0)
            return cli_duration_error("export: --to", value, code, "250ms, 3s");
        return 0;
    }
    case 'm':
        if (parse_count(value, &options->mermaid_messages_max) != 0)
            return cli_usage_error("export: --max-messages: '%s' is not a count from 1", value);
        arguments->have_max_messages = true;
        return 0;
    case 't':
        options->as_tcp = true;
        return 0;
    case 'c':
        if (parse_count(value, &options->connection) != 0)
            return cli_usage_error("export: --connection: '%s' is not a connection number "
                                   "from 1", value);
        return 0;
    default:
        return cli_usage_error("%s", "export: unknown or incomplete option");
    }
}

/* Fills `arguments` from argv. Returns -1 for --help, 0 on success, 2 on a usage error. */
static int parse_arguments(int argc, char **argv, struct export_arguments *arguments)
{
    static const struct option long_options[] = {
        { "format", required_argument, NULL, 'f' },
        { "output", required_argument, NULL, 'o' },
        { "from", required_argument, NULL, 'F' },
        { "to", required_argument, NULL, 'T' },
        { "max-messages", required_argument, NULL, 'm' },
        { "connection", required_argument, NULL, 'c' },
        { "as-tcp", no_argument, NULL, 't' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    opterr = 0;
    optind = 1;
    int option;
    struct option_once seen = { .values = { NULL } };
    char repeated[OPTION_ONCE_MESSAGE_BYTES];
    while ((option = getopt_long(argc, argv, "f:o:h", long_options, NULL)) != -1) {
        if (option == 'h')
            return cli_help_alone(argc, argv, argv[optind - 1], cli_usage);
        if (option == '?') {
            char letter[3];
            return cli_usage_error("export: unknown option or missing value: '%s'",
                                   cli_refused_option(argv, letter));
        }
        if (option_once_note(&seen, long_options, "f:o:h", option, optarg, repeated) < 0)
            return cli_usage_error("export: %s", repeated);
        if (parse_option(option, optarg, arguments) != 0)
            return 2;
    }
    if (optind >= argc)
        return cli_usage_error("%s", "export: missing FILE.db");
    if (optind + 1 < argc)
        return cli_usage_error("export: unexpected argument '%s'", argv[optind + 1]);
    arguments->trace_path = argv[optind];
    if (!arguments->have_format)
        return cli_usage_error("%s", "export: missing --format pcap|perfetto|mermaid");
    if (arguments->out_path == NULL || arguments->out_path[0] == '\0')
        return cli_usage_error("%s", "export: missing -o OUT");
    if (arguments->options.from_ns > arguments->options.to_ns)
        return cli_usage_error("%s", "export: --from is after --to");
    if (arguments->options.connection != 0 &&
        arguments->options.format != EXPORT_FORMAT_MERMAID)
        return cli_usage_error("%s", "export: --connection applies to --format mermaid");
    if (arguments->have_max_messages && arguments->options.format != EXPORT_FORMAT_MERMAID)
        return cli_usage_error("%s", "export: --max-messages applies to --format mermaid");
    if (arguments->options.as_tcp && arguments->options.format != EXPORT_FORMAT_PCAP)
        return cli_usage_error("%s", "export: --as-tcp applies to --format pcap");
    return 0;
}

/* The connections as `inspect connections` rebuilds them, for the Perfetto slices,
 * Mermaid's --connection and the pcap's stream records; 0 or 1 (reported). Ownership: the caller frees *spans. */
static int load_spans(const char *path, struct export_span **spans, uint32_t *count)
{
    struct inspect inspect = { .command = "export", .path = path };
    int status = inspect_open(&inspect);
    if (status == 0)
        status = inspect_model_spans(&inspect, spans, count);
    inspect_close(&inspect);
    return status;
}

/* Says on stderr when the trace was written below the vmci layer (`--trace-level api` or
 * `transport`): every format draws on control packets, stream writes and datagrams, up to
 * the vmci layer, so the output holds only what the trace has (an api-level pcap is empty).
 * A warning, not a failure: what is written is all the trace can give. */
static void warn_trace_level(const char *trace_path)
{
    struct sim_trace_reader *reader = NULL;
    char message[SIM_ERROR_MESSAGE_BYTES_MAX];
    if (sim_trace_reader_open(trace_path, &reader, message) < 0)
        return;
    const char *level_text = sim_trace_reader_meta(reader, "trace_level");
    int level = level_text != NULL ? sim_layer_parse(level_text) : -1;
    if (level >= 0 && level < SIM_LAYER_VMCI) {
        char shown[SIM_MESSAGE_PATH_BYTES_MAX];
        fprintf(stderr, "vmcisim export: warning: %s was written with --trace-level %s, so it "
                "has no events of the layers below it; the formats draw on layers up to vmci "
                "(control packets, stream writes, datagrams): the output holds only what the "
                "trace has\n", sim_message_path(trace_path, shown), level_text);
    }
    sim_trace_reader_close(reader);
}

int cli_export(int argc, char **argv)
{
    struct export_arguments arguments = { 0 };
    export_options_default(&arguments.options);
    int rc = parse_arguments(argc, argv, &arguments);
    if (rc == -1) {
        cli_usage(stdout);
        return 0;
    }
    if (rc != 0)
        return rc;
    char message[SIM_ERROR_MESSAGE_BYTES_MAX];
    if (sim_trace_check(arguments.trace_path, message) != SIM_TRACE_KIND_TRACE) {
        fprintf(stderr, "vmcisim export: %s\n", message);     /* replay's and inspect's words */
        return 1;
    }
    struct export_span *spans = NULL;
    uint32_t span_count = 0;
    if ((arguments.options.format == EXPORT_FORMAT_PERFETTO ||
         arguments.options.format == EXPORT_FORMAT_PCAP || arguments.options.connection != 0) &&
        load_spans(arguments.trace_path, &spans, &span_count) != 0) {
        free(spans);
        return 1;
    }
    arguments.options.spans = spans;
    arguments.options.span_count = span_count;
    int status = 0;
    if (export_run(arguments.trace_path, arguments.out_path, &arguments.options, message) != 0) {
        fprintf(stderr, "vmcisim export: %s\n", message);
        status = 1;
    } else {
        warn_trace_level(arguments.trace_path);
    }
    free(spans);
    return status;
}
