/* SPDX-License-Identifier: MIT */
/*
 * sim/cli/run.c: `vmcisim run SCENARIO.lua [options] [-- scenario args]`.
 *
 * Arguments after the first "--" belong to the scenario (`arg` in Lua); the
 * rest is parsed with getopt_long, so options may come before or after the
 * scenario path. The trace gets the metadata known before the run at open (so a
 * killed run's partial trace can be replayed), each loaded file as soon as the next
 * event shows it was loaded, and the world's seed, product and digest at close;
 * never a wall-clock time. The trace is written beside its path and renamed at a
 * clean close (sim/trace/writer.h); SIGINT/SIGTERM/SIGHUP name the partial file. The
 * summary tables (sim/cli/summary.h) are built while the run writes, by the writer's hook
 * (sim/cli/summary_live.c), and stored by its close after the digest, before the rename:
 * they change neither the digest nor any event.
 */
#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fault_tally.h"
#include "sim/cli/cli.h"
#include "sim/cli/option_once.h"
#include "sim/cli/summary.h"
#include "sim/engine/duration.h"
#include "sim/engine/engine.h"
#include "sim/lua/runtime.h"
#include "sim/trace/writer.h"
#include "sim/version.h"

struct run_options {
    const char *scenario_path;
    uint64_t seed;
    const char *trace_path;
    enum sim_layer trace_level;
    const char *trace_level_text;
    unsigned payload_bytes_max;     /* --payload */
    const char *until_text;
    uint64_t until_ns;
    int digest;
    int quiet;
    int verbose;
    int paranoid;           /* --paranoid: world invariants after every event */
    int allow_exec;         /* --allow-exec: ep:exec may run real programs */
    int progress;           /* -1 auto (stderr is a terminal), 0 off, 1 on */
    int arg_count;
    char **args;
};

/* Returns 0, -1 when the text is not an integer, or -2 when it is one beyond 64 bits. */
static int parse_seed(const char *text, uint64_t *seed_out)
{
    char *end = NULL;
    /* Decimal or 0x hex (docs/cli.md): strtoull's base 0 read a leading 0 as octal (010 was
     * eight), and spaces before the number were skipped. */
    const char *digits = text[0] == '-' ? text + 1 : text;
    if (digits[0] < '0' || digits[0] > '9')
        return -1;
    int base = digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X') ? 16 : 10;
    errno = 0;
    if (text[0] == '-') {
        long long value = strtoll(text, &end, base);
        *seed_out = (uint64_t)value;
    } else {
        unsigned long long value = strtoull(text, &end, base);
        *seed_out = (uint64_t)value;
    }
    if (end == text || *end != '\0')
        return -1;
    return errno == ERANGE ? -2 : (errno != 0 ? -1 : 0);
}

static int parse_option(int option, const char *value, struct run_options *options)
{
    switch (option) {
    case 's': {
        int parsed = parse_seed(value, &options->seed);
        if (parsed == -2)
            return cli_usage_error("--seed: '%s' does not fit in 64 bits (from -2^63 to "
                                   "2^64-1)", value);
        if (parsed < 0)
            return cli_usage_error("--seed: '%s' is not an integer", value);
        return 0;
    }
    case 't':
        if (value[0] == '\0')   /* else the run wrote '.partial' here and failed at its end */
            return cli_usage_error("%s", "--trace: an empty path (give FILE.db)");
        options->trace_path = value;
        return 0;
    case 'l': {
        int level = sim_layer_parse(value);
        if (level < 0)
            return cli_usage_error("--trace-level: '%s' is not one of off, api, transport, "
                                   "vmci, device", value);
        options->trace_level = (enum sim_layer)level;
        options->trace_level_text = value;
        return 0;
    }
    case 'u': {
        int code = sim_duration_parse(value, &options->until_ns);
        if (code < 0)
            return cli_duration_error("--until", value, code, "250ms, 1.5ms, 3s");
        options->until_text = value;
        if (value[0] != '\0' && strchr("0123456789.", value[strlen(value) - 1]) != NULL)
            fprintf(stderr, "vmcisim: warning: --until %s has no unit and is read as ns; "
                    "write %sns, %sus, %sms or %ss\n", value, value, value, value, value);
        return 0;
    }
    case 'q':
        options->quiet = 1;
        return 0;
    case 'v':
        options->verbose = 1;
        return 0;
    case 'I':
        options->paranoid = 1;
        return 0;
    case 'Y':
        if (cli_payload_parse(value, &options->payload_bytes_max) < 0)
            return cli_usage_error("--payload: '%s' is not `all` or a number of bytes from 0 "
                                   "to 1048576", value);
        return 0;
    case 'X':
        options->allow_exec = 1;
        return 0;
    default:
        return cli_usage_error("%s", "unknown or incomplete option");
    }
}

/* Fills `options` from argv. Returns -1 when the caller should print help and exit 0,
 * 0 on success, or 2 (a usage error, already reported). */
static int parse_arguments(int argc, char **argv, struct run_options *options)
{
    static const struct option long_options[] = {
        { "seed", required_argument, NULL, 's' },
        { "trace", required_argument, NULL, 't' },
        { "trace-level", required_argument, NULL, 'l' },
        { "until", required_argument, NULL, 'u' },
        { "digest", no_argument, NULL, 'd' },
        { "quiet", no_argument, NULL, 'q' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { "progress", no_argument, NULL, 'p' },
        { "no-progress", no_argument, NULL, 'P' },
        { "paranoid", no_argument, NULL, 'I' },
        { "payload", required_argument, NULL, 'Y' },
        { "allow-exec", no_argument, NULL, 'X' },
        { NULL, 0, NULL, 0 },
    };
    int own_count = argc;
    for (int index = 1; index < argc; index++) {
        if (strcmp(argv[index], "--") == 0) {
            own_count = index;
            options->arg_count = argc - index - 1;
            options->args = argv + index + 1;
            if (options->arg_count > (int)SIMLUA_ARGS_MAX) {
                char limit[16];
                snprintf(limit, sizeof(limit), "%u", SIMLUA_ARGS_MAX);
                return cli_usage_error("run: more than SIMLUA_ARGS_MAX (%s) scenario arguments",
                                       limit);
            }
            break;
        }
    }
    opterr = 0;
    optind = 1;
    int option;
    struct option_once seen = { .values = { NULL } };
    char repeated[OPTION_ONCE_MESSAGE_BYTES];
    while ((option = getopt_long(own_count, argv, "qvh", long_options, NULL)) != -1) {
        if (option == 'h')
            return cli_help_alone(argc, argv, argv[optind - 1], cli_usage);
        if (option == 'd' || option == 'p' || option == 'P') {
            if (option == 'd')
                options->digest = 1;
            else
                options->progress = option == 'p';
            continue;
        }
        if (option == '?') {
            char letter[3];
            return cli_usage_error("unknown option or missing value: '%s'",
                                   cli_refused_option(argv, letter));
        }
        if (option_once_note(&seen, long_options, "qvh", option, optarg, repeated) < 0)
            return cli_usage_error("run: %s", repeated);
        if (parse_option(option, optarg, options) != 0)
            return 2;
    }
    if (optind >= own_count)
        return cli_usage_error("%s", "run: missing SCENARIO.lua");
    if (optind + 1 < own_count)
        return cli_usage_error("run: unexpected argument '%s' (scenario arguments go after --)",
                               argv[optind + 1]);
    options->scenario_path = argv[optind];
    return 0;
}

/* -v: one line per trace event on stderr, every layer. */
static int verbose_emit(void *state, const struct sim_trace_event *event, char *message)
{
    (void)state;
    (void)message;
    char time_text[32];
    sim_time_format(event->time_ns, time_text, sizeof(time_text));
    fprintf(stderr, "#%" PRIu64 " [%s] ctx %" PRIu32 " pid %" PRIu32 " %s %s", event->seq,
            time_text, event->ctx, event->pid, sim_layer_name(event->layer), event->kind);
    for (uint32_t index = 0; index < event->field_count; index++) {
        const struct sim_trace_field *field = &event->fields[index];
        switch (field->type) {
        case SIM_FIELD_U64:
            fprintf(stderr, " %s=%" PRIu64, field->name, field->value.u64);
            break;
        case SIM_FIELD_I64:
            fprintf(stderr, " %s=%" PRId64, field->name, field->value.i64);
            break;
        case SIM_FIELD_STR:
            fprintf(stderr, " %s=\"%.*s\"", field->name, (int)field->value.blob.size_bytes,
                    (const char *)field->value.blob.data);
            break;
        case SIM_FIELD_BYTES:
        case SIM_FIELD_PAYLOAD:
            fprintf(stderr, " %s=<%" PRIu32 " bytes>", field->name, field->value.blob.size_bytes);
            break;
        }
    }
    fputc('\n', stderr);
    return 0;
}

/* Progress on long runs: wall time appears here and nowhere near the trace. The engine
 * calls back every PROGRESS_EVERY_EVENTS events; the callback reads CLOCK_MONOTONIC (a
 * vDSO call of tens of ns, so well under 1 ns per event) and prints once the interval has
 * passed: a line comes at most 256 events late, even when each event costs a millisecond
 * of Lua (a check every 2^20 events left a 43-second run silent). */
#define PROGRESS_EVERY_EVENTS 256u
#define PROGRESS_INTERVAL_SECONDS 2.0

struct progress {
    double started_seconds;
    double last_seconds;
    uint64_t last_events;
};

static double wall_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

static void progress_report(void *state, uint64_t now_ns, uint64_t events_run)
{
    struct progress *progress = state;
    double now_seconds = wall_seconds();
    if (now_seconds - progress->last_seconds < PROGRESS_INTERVAL_SECONDS)
        return;
    double rate = (double)(events_run - progress->last_events) /
                  (now_seconds - progress->last_seconds);
    char time_text[32];
    sim_time_format(now_ns, time_text, sizeof(time_text));
    fprintf(stderr, "progress: simulated %ss, %" PRIu64 " events, %.2e events/s, %.0f s wall\n",
            time_text, events_run, rate, now_seconds - progress->started_seconds);
    progress->last_seconds = now_seconds;
    progress->last_events = events_run;
}

/* Metadata known before the run: written at open, so a killed run's partial trace says
 * how to replay it. */
static int write_metadata_start(struct sim_trace_writer *writer,
                                const struct run_options *options, char *message)
{
    char until_text[32];
    snprintf(until_text, sizeof(until_text), "%" PRIu64, options->until_ns);
    char options_seed_text[32];                 /* --seed, for replay (seed: the world's) */
    snprintf(options_seed_text, sizeof(options_seed_text), "%" PRIu64, options->seed);
    const char *pairs[][2] = {
        { "simulator_version", VMCISIM_VERSION },
        { "scenario", options->scenario_path },
        { "options_seed", options_seed_text },
        { "trace_level", options->trace_level_text },
        { "until_ns", options->until_text != NULL ? until_text : "" },
    };
    for (size_t index = 0; index < sizeof(pairs) / sizeof(pairs[0]); index++) {
        int rc = sim_trace_writer_meta(writer, pairs[index][0], pairs[index][1], message);
        if (rc < 0)
            return rc;
    }
    char name[32];
    for (int index = 0; index < options->arg_count; index++) {
        snprintf(name, sizeof(name), "arg.%d", index + 1);
        int rc = sim_trace_writer_meta(writer, name, options->args[index], message);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Metadata known at the end; `digest` is the last row written, so its absence marks a
 * trace whose run did not finish. */
static int write_metadata_end(struct sim_trace_writer *writer,
                              const struct simlua_outcome *outcome, const char *digest_hex,
                              char *message)
{
    char seed_text[32];
    snprintf(seed_text, sizeof(seed_text), "%" PRIu64, outcome->seed);
    char encoding_text[16];
    snprintf(encoding_text, sizeof(encoding_text), "%d", SIM_DIGEST_ENCODING);
    const char *pairs[][2] = {
        { "seed", seed_text },
        { "product", outcome->product },
        { "digest_encoding", encoding_text },
        { "digest", digest_hex },
    };
    for (size_t index = 0; index < sizeof(pairs) / sizeof(pairs[0]); index++) {
        int rc = sim_trace_writer_meta(writer, pairs[index][0], pairs[index][1], message);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Stores the files the runtime loaded that the trace does not hold yet. */
struct trace_files {
    struct sim_trace_writer *writer;
    struct simlua_runtime *runtime;             /* set once created */
    uint32_t stored;
    struct summary_live *summary;               /* the writer's hook; freed after close */
};

static int files_store(struct trace_files *files, char *message)
{
    uint32_t count = files->runtime != NULL ? simlua_file_count(files->runtime) : 0;
    for (; files->stored < count; files->stored++) {
        const struct simlua_file *file = simlua_file(files->runtime, files->stored);
        int rc = sim_trace_writer_file(files->writer, file->path, file->text, file->text_bytes,
                                       message);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* A sink that sees every api event only to notice new files: one comparison per event. */
static int files_emit(void *state, const struct sim_trace_event *event, char *message)
{
    (void)event;
    struct trace_files *files = state;
    if (files->runtime == NULL || simlua_file_count(files->runtime) == files->stored)
        return 0;
    return files_store(files, message) < 0 ? SIM_ESINK : 0;
}

static int finish_trace(struct trace_files *files, const struct run_options *options,
                        const struct simlua_outcome *outcome, const char *digest_hex)
{
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    int rc = files_store(files, message);
    if (rc == 0)
        rc = write_metadata_end(files->writer, outcome, digest_hex, message);
    if (rc < 0) {
        fprintf(stderr, "vmcisim: trace %s: %s (the unfinished trace is %s)\n",
                options->trace_path, message, sim_trace_writer_partial_path(files->writer));
        char ignored[SIM_ERROR_MESSAGE_BYTES_MAX];
        sim_trace_writer_abandon(files->writer, ignored);
        return 1;
    }
    if (sim_trace_writer_close(files->writer, message) < 0) {
        fprintf(stderr, "vmcisim: trace %s: %s\n", options->trace_path, message);
        return 1;
    }
    return 0;
}

/* What the model discarded on purpose (every `data_discarded`, any layer), for the summary;
 * it sees every event, as the digest sink does. */
struct discarded {
    uint64_t events, bytes;
};

static int discarded_emit(void *state, const struct sim_trace_event *event, char *message)
{
    (void)message;
    struct discarded *discarded = state;
    if (strcmp(event->kind, "data_discarded") != 0)
        return 0;
    discarded->events++;
    for (uint32_t index = 0; index < event->field_count; index++) {
        const struct sim_trace_field *field = &event->fields[index];
        if (strcmp(field->name, "bytes") == 0 && field->type == SIM_FIELD_U64)
            discarded->bytes += field->value.u64;
        else if (strcmp(field->name, "bytes") == 0 && field->type == SIM_FIELD_I64 &&
                 field->value.i64 > 0)
            discarded->bytes += (uint64_t)field->value.i64;
    }
    return 0;
}

/* SIGINT, SIGTERM, SIGHUP: say where the committed part of the trace is, then die of the
 * signal as before. Only async-signal-safe calls (write, signal, raise). */
static char interrupted_message[512];
static size_t interrupted_message_bytes;

static void interrupted(int signal_number)
{
    if (interrupted_message_bytes > 0 &&
        write(STDERR_FILENO, interrupted_message, interrupted_message_bytes) < 0)
        interrupted_message_bytes = 0;      /* nothing else to do about it */
    signal(signal_number, SIG_DFL);
    raise(signal_number);
}

static void interrupted_catch(const char *partial_path)
{
    int written = snprintf(interrupted_message, sizeof(interrupted_message),
                           "\nvmcisim: interrupted; the trace so far is in %s\n", partial_path);
    interrupted_message_bytes = written > 0 && (size_t)written < sizeof(interrupted_message)
                                    ? (size_t)written : 0;
    signal(SIGINT, interrupted);
    signal(SIGTERM, interrupted);
    signal(SIGHUP, interrupted);
}

static void interrupted_release(void)
{
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
}

/* How the run ended, as the summary's first words (docs/cli.md lists them). */
static const char *ending(const struct simlua_outcome *outcome, const struct run_options *options)
{
    if (!outcome->world_created) {
        if (outcome->exit_code == SIMLUA_EXIT_LOAD)
            return "scenario not loaded";
        return outcome->exit_code == SIMLUA_EXIT_PASS ? "no world" : "scenario error, no world";
    }
    if (outcome->stopped[0] == '\0')
        return "world not run";
    if (strcmp(outcome->stopped, "until") == 0 && options->until_text != NULL &&
        outcome->now_ns == options->until_ns)
        return "stopped by --until (work left)";     /* events remain after until_ns */
    return outcome->stopped;
}

/* A deadlock, a limit or trace failure that stopped the run ("error") and a scenario that
 * could not be loaded are each a failure of the run, so the summary counts them: a FAIL
 * never says "0 failures". */
static void print_summary(const struct simlua_outcome *outcome, const struct run_options *options,
                          const struct discarded *discarded)
{
    char time_text[32];
    sim_time_format(outcome->now_ns, time_text, sizeof(time_text));
    uint64_t failures = outcome->failure_count;
    if (outcome->world_created && strcmp(outcome->stopped, "deadlock") == 0)
        failures++;
    bool stopped_by_error = outcome->world_created && strcmp(outcome->stopped, "error") == 0;
    if ((stopped_by_error || outcome->exit_code == SIMLUA_EXIT_LOAD) && failures == 0)
        failures = 1;               /* the limit, trace or load error that ended the run */
    printf("run: %s at %ss, %" PRIu64 " events, %" PRIu64 " trace events, %" PRIu64
           " failures -> %s\n", ending(outcome, options), time_text, outcome->events_run,
           outcome->trace_events, failures, outcome->exit_code == 0 ? "pass" : "FAIL");
    if (discarded->events > 0)
        printf("discarded: %" PRIu64 " bytes in %" PRIu64 " data_discarded events "
               "(`vmcisim inspect FILE errors` lists them)\n", discarded->bytes,
               discarded->events);
}

/* The summary tables `inspect` answers from (sim/cli/summary.h), built while the run wrote
 * and stored by the writer's close. Without them the trace is still whole and every view
 * computes from its events, so a failure here is a warning, not a failed run. */
static void report_summary_tables(const char *trace_path, const struct summary_live *summary,
                                  bool progress_on)
{
    struct summary_live_outcome outcome;
    if (summary_live_report(summary, &outcome) != 0) {
        if (outcome.finished)
            fprintf(stderr, "vmcisim: trace %s: %s\n", trace_path, outcome.message);
        return;
    }
    if (progress_on)
        fprintf(stderr, "progress: summary tables written in %.3f s wall, %.3f s CPU%s%s%s\n",
                outcome.wall_seconds, outcome.cpu_seconds,
                outcome.rebuilt_because != NULL ? " (rebuilt from the events: " : "",
                outcome.rebuilt_because != NULL ? outcome.rebuilt_because : "",
                outcome.rebuilt_because != NULL ? ")" : "");
}

/* How often the run stopped because the trace's writer was behind (its record ring was
 * full): 0 says the run itself bounded the traced run. Wall time, for --progress only. */
static void report_ring_waits(const struct sim_trace_writer *writer)
{
    struct trace_ring_waits waits = sim_trace_writer_run_waits(writer);
    fprintf(stderr, "progress: the run waited %" PRIu64 " times, %.3f s wall, for the trace's "
            "writer (its record ring was full)\n", waits.count, (double)waits.wait_ns / 1e9);
}

/* Opens the trace: refuses (exit 2) to replace what is not a trace; 0 or an exit status. */
static int open_trace(const struct run_options *options, struct trace_files *files)
{
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    int rc = sim_trace_writer_open(options->trace_path, &files->writer, message);
    if (rc == SIM_EINVAL) {
        fprintf(stderr, "vmcisim: --trace: %s\n", message);
        return 2;
    }
    if (rc == 0) {
        files->summary = summary_live_create(options->trace_path, SUMMARY_SOCKETS_MAX,
                                             SUMMARY_CONNECTIONS_MAX);
        if (files->summary == NULL)
            snprintf(message, sizeof message, "out of memory");
    }
    struct sim_trace_writer_hook hook = { 0 };
    if (files->summary != NULL)
        hook = summary_live_hook(files->summary);
    if (rc == 0 && (files->summary == NULL ||
                    sim_trace_writer_hook(files->writer, &hook, message) < 0 ||
                    sim_trace_writer_payload(files->writer, options->payload_bytes_max,
                                             message) < 0 ||
                    write_metadata_start(files->writer, options, message) < 0)) {
        char ignored[SIM_ERROR_MESSAGE_BYTES_MAX];
        sim_trace_writer_abandon(files->writer, ignored);
        files->writer = NULL;
        summary_live_destroy(files->summary);
        files->summary = NULL;
        rc = SIM_ESINK;
    }
    if (rc < 0) {
        fprintf(stderr, "vmcisim: %s\n", message);
        return 1;
    }
    interrupted_catch(sim_trace_writer_partial_path(files->writer));
    return 0;
}

/* The run's trace sinks, in order: the digest, the discarded bytes' count, the fault tally,
 * with a trace its files and its writer, and the verbose printer. Returns how many. */
enum { RUN_SINKS_MAX = 5 + FAULT_TALLY_SINKS };
_Static_assert(RUN_SINKS_MAX <= SIM_TRACE_SINKS_MAX,
               "every sink vmcisim run may add fits the engine's table");
static uint32_t run_sinks_fill(struct sim_trace_sink sinks[RUN_SINKS_MAX],
                               const struct run_options *options, struct sim_digest *digest,
                               struct discarded *discarded, struct fault_tally *fault_tally,
                               struct trace_files *files)
{
    uint32_t sink_count = 0;
    sinks[sink_count++] = sim_digest_sink(digest);
    sinks[sink_count++] = (struct sim_trace_sink){ .name = "discarded",
                                                   .level = SIM_LAYER_DEVICE,
                                                   .emit = discarded_emit,
                                                   .state = discarded,
                                                   .kind_only = "data_discarded" };
    fault_tally_sinks(fault_tally, &sinks[sink_count]);        /* docs/faults.md */
    sink_count += FAULT_TALLY_SINKS;
    if (files->writer != NULL) {
        sinks[sink_count++] = (struct sim_trace_sink){ .name = "files", .level = SIM_LAYER_API,
                                                       .emit = files_emit, .state = files };
        if (options->trace_level != SIM_LAYER_OFF)
            sinks[sink_count++] = sim_trace_writer_sink(files->writer, options->trace_level);
    }
    if (options->verbose)
        sinks[sink_count++] = (struct sim_trace_sink){ .name = "verbose",
                                                       .level = SIM_LAYER_DEVICE,
                                                       .emit = verbose_emit };
    assert(sink_count <= RUN_SINKS_MAX);
    return sink_count;
}

static int run_scenario(const struct run_options *options)
{
    struct sim_digest *digest = sim_digest_create();
    if (digest == NULL) {
        fprintf(stderr, "vmcisim: out of memory\n");
        return 1;
    }
    struct trace_files files = { 0 };
    if (options->trace_path != NULL) {
        int status = open_trace(options, &files);
        if (status != 0) {
            sim_digest_destroy(digest);
            return status;
        }
    }
    struct sim_trace_sink sinks[RUN_SINKS_MAX];
    struct discarded discarded = { 0 };
    struct fault_tally fault_tally = { .on = false };
    uint32_t sink_count = run_sinks_fill(sinks, options, digest, &discarded, &fault_tally, &files);
    struct progress progress = { .started_seconds = wall_seconds() };
    progress.last_seconds = progress.started_seconds;
    bool progress_on = options->progress == 1 ||
                       (options->progress == -1 && !options->quiet && isatty(STDERR_FILENO));
    struct simlua_options lua_options = {
        .progress_fn = progress_on ? progress_report : NULL, .progress_state = &progress,
        .progress_every_events = progress_on ? PROGRESS_EVERY_EVENTS : 0,
        .scenario_path = options->scenario_path, .seed = options->seed,
        .until_ns = options->until_ns, .quiet = options->quiet, .verbose = options->verbose,
        .paranoid = options->paranoid != 0, .allow_exec = options->allow_exec != 0,
        .arg_count = options->arg_count, .args = options->args, .sinks = sinks,
        .sink_count = sink_count,
    };
    struct simlua_runtime *runtime = simlua_create(&lua_options);
    if (runtime == NULL) {
        fprintf(stderr, "vmcisim: out of memory\n");
        char ignored[SIM_ERROR_MESSAGE_BYTES_MAX];
        if (files.writer != NULL)
            sim_trace_writer_abandon(files.writer, ignored);
        summary_live_destroy(files.summary);
        sim_digest_destroy(digest);
        return 1;
    }
    files.runtime = runtime;
    struct simlua_outcome outcome;
    simlua_run(runtime, &outcome);
    fflush(stdout);
    char digest_hex[33];
    sim_digest_hex(digest, digest_hex);
    int status = (int)outcome.exit_code;
    if (files.writer != NULL && progress_on)
        report_ring_waits(files.writer);        /* before the close frees the writer */
    int trace_status = files.writer != NULL ? finish_trace(&files, options, &outcome, digest_hex)
                                            : 0;
    if (trace_status != 0 && status == 0)
        status = 1;
    if (options->trace_path != NULL)
        interrupted_release();              /* the partial file is renamed or reported */
    if (files.writer != NULL && trace_status == 0)
        report_summary_tables(options->trace_path, files.summary, progress_on);
    summary_live_destroy(files.summary);
    if (!options->quiet)
        print_summary(&outcome, options, &discarded);
    if (!options->quiet)
        fault_tally_print(&fault_tally, stdout);
    simlua_destroy(runtime);
    sim_digest_destroy(digest);
    if (options->digest)
        printf("digest %s\n", digest_hex);
    return status;
}

int cli_run(int argc, char **argv)
{
    struct run_options options = {
        .seed = 1, .trace_level = SIM_LAYER_DEVICE, .trace_level_text = "device",
        .payload_bytes_max = SIM_TRACE_PAYLOAD_DEFAULT_BYTES,
        .until_ns = SIM_TIME_NEVER, .progress = -1,
    };
    int rc = parse_arguments(argc, argv, &options);
    if (rc == -1) {
        cli_usage(stdout);
        return 0;
    }
    if (rc != 0)
        return rc;
    return run_scenario(&options);
}
