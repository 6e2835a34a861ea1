/* SPDX-License-Identifier: MIT */
/*
 * sim/cli/replay.c: `vmcisim replay FILE.db` re-executes a traced run from what the
 * trace holds and verifies every event (scenario-api.md, "Command line").
 *
 * From the trace: the scenario and every file it required (their recorded texts, not
 * what is on disk now: a replay checks the run, not today's files), the seed, the
 * --until bound, the scenario arguments and the trace level. The re-run's events go
 * through a comparing sink at that level: each must equal the next recorded row in
 * seq, time, context, process, layer, kind, fields and payload; the first difference
 * stops the run and is printed. The sink only copies each event into a record ring, as the
 * trace writer does, and the ring's worker thread reads the rows and compares them, so a
 * replay overlaps SQLite and the comparison with the re-run (issue 10 item 5: a replay
 * takes no longer than the traced run). At the end, no recorded row may be left over, and the
 * re-run's digest (every layer, whatever the level) must equal the recorded one. The
 * reader has checked the file first (sim_trace_check, the recorded texts against their
 * hashes, seq order), so a hostile trace is an error message, never a crash or a hang.
 * A trace without a digest is partial (its run did not finish): it is checked as far as
 * it goes and the re-run stops where it ends.
 * Exit status: 0 identical (or a partial trace identical as far as it goes), 1 a
 * divergence or an unusable trace, 2 usage.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim/cli/cli.h"
#include "sim/engine/duration.h"
#include "sim/engine/engine.h"
#include "sim/lua/runtime.h"
#include "sim/trace/fields_json.h"
#include "sim/trace/reader.h"
#include "sim/trace/ring.h"
#include "sim/trace/writer.h"

#define REPLAY_ARGS_MAX 256u                    /* scenario arguments read from meta */
#define REPLAY_TEXT_SHOWN_BYTES 300             /* of a field text, in a divergence report */

struct comparison {
    struct sim_trace_reader *reader;
    uint64_t compared;
    bool diverged;
    bool trace_ended;                           /* the re-run went past the last row */
    bool partial;                               /* the trace has no digest: its run died */
    char report[4 * SIM_ERROR_MESSAGE_BYTES_MAX];
    char *json;                                 /* owned: the re-run event's fields text */
    size_t json_capacity_bytes;
    /* owned: field names encoded once (as the writer's worker keeps them), so the worker
     * does not escape every name of every event again; used on the worker only */
    struct sim_trace_json_names *json_names;
    uint32_t payload_bytes_max;                 /* the trace's --payload (meta) */
    struct trace_ring *ring;                    /* owned during the re-run */
};

static void describe_row(char *out, size_t out_bytes, const struct sim_trace_row *row)
{
    snprintf(out, out_bytes, "seq %" PRIu64 " t=%" PRIu64 "ns ctx %" PRIu32 " pid %" PRIu32
             " %s %s %.*s", row->seq, row->time_ns, row->ctx, row->pid, row->layer, row->kind,
             REPLAY_TEXT_SHOWN_BYTES, row->fields);
}

static void describe_event(char *out, size_t out_bytes, const struct sim_trace_event *event,
                           const char *json)
{
    snprintf(out, out_bytes, "seq %" PRIu64 " t=%" PRIu64 "ns ctx %" PRIu32 " pid %" PRIu32
             " %s %s %.*s", event->seq, event->time_ns, event->ctx, event->pid,
             sim_layer_name(event->layer), event->kind, REPLAY_TEXT_SHOWN_BYTES, json);
}

static void diverge(struct comparison *comparison, const char *what, const char *recorded,
                    const char *replayed)
{
    comparison->diverged = true;
    snprintf(comparison->report, sizeof(comparison->report),
             "first divergence after %" PRIu64 " identical events: %s\n  recorded: %s\n"
             "  replayed: %s", comparison->compared, what, recorded, replayed);
}

/* True when the re-run event equals the recorded row; the json is the event's. The payload
 * is compared as far as the trace stored it (its --payload cut). */
static bool same_event(const struct sim_trace_event *event, const char *json, size_t json_bytes,
                       uint32_t payload_field, uint32_t payload_bytes_max,
                       const struct sim_trace_row *row)
{
    if (event->seq != row->seq || event->time_ns != row->time_ns || event->ctx != row->ctx ||
        event->pid != row->pid || strcmp(sim_layer_name(event->layer), row->layer) != 0 ||
        strcmp(event->kind, row->kind) != 0 || json_bytes != row->fields_bytes ||
        memcmp(json, row->fields, json_bytes) != 0)
        return false;
    bool has_payload = payload_field < event->field_count && payload_bytes_max > 0;
    if (has_payload != row->has_payload)
        return false;
    if (!has_payload)
        return true;
    const struct sim_trace_field *field = &event->fields[payload_field];
    return sim_trace_field_kept_bytes(event, payload_field, payload_field, payload_bytes_max) ==
               row->payload_bytes &&
           (row->payload_bytes == 0 ||
            memcmp(field->value.blob.data, row->payload, row->payload_bytes) == 0);
}

static int json_reserve(struct comparison *comparison, size_t bytes)
{
    if (bytes <= comparison->json_capacity_bytes)
        return 0;
    char *json = realloc(comparison->json, bytes);
    if (json == NULL)
        return SIM_ENOMEM;
    comparison->json = json;
    comparison->json_capacity_bytes = bytes;
    return 0;
}

/* Which part of a mismatching event differs first, in the order a reader scans a row. */
static const char *difference(const struct sim_trace_event *event, const char *json,
                              size_t json_bytes, const struct sim_trace_row *row)
{
    if (event->seq != row->seq)
        return "the events differ (seq)";
    if (event->time_ns != row->time_ns)
        return "the events differ (time)";
    if (event->ctx != row->ctx || event->pid != row->pid)
        return "the events differ (context or process)";
    if (strcmp(sim_layer_name(event->layer), row->layer) != 0)
        return "the events differ (layer)";
    if (strcmp(event->kind, row->kind) != 0)
        return "the events differ (kind)";
    if (json_bytes != row->fields_bytes || memcmp(json, row->fields, json_bytes) != 0)
        return "the events differ (fields)";
    return "the payloads (bytes fields) differ";
}

/* On the ring's worker thread: compares one re-run event with the next recorded row.
 * Returns 0, or a negative SIM_E* after recording the divergence. */
static int compare_one(struct comparison *comparison, const struct sim_trace_event *event)
{
    /* The text for the trace's cut, as the writer made it: sized by that cut's bound (the
     * ring kept only the cut of each payload, and the payload's bytes are not in it). */
    size_t bound_bytes = sim_trace_fields_json_cut_bound_bytes(event,
                                                               comparison->payload_bytes_max);
    if (json_reserve(comparison, bound_bytes) < 0) {
        diverge(comparison, "out of memory", "", "");
        return SIM_ENOMEM;
    }
    uint32_t payload_field = 0;
    size_t json_bytes = sim_trace_fields_json_named(comparison->json, event,
                                                    comparison->payload_bytes_max,
                                                    &payload_field, comparison->json_names);
    assert(json_bytes < bound_bytes);                                       /* W3 */
    struct sim_trace_row row;
    char reader_message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    int rc = sim_trace_reader_next(comparison->reader, &row, reader_message);
    if (rc > 0 && same_event(event, comparison->json, json_bytes, payload_field,
                             comparison->payload_bytes_max, &row)) {
        comparison->compared++;
        return 0;
    }
    char replayed[SIM_ERROR_MESSAGE_BYTES_MAX];
    describe_event(replayed, sizeof(replayed), event, comparison->json);
    if (rc < 0) {
        diverge(comparison, "the trace could not be read on", reader_message, replayed);
    } else if (rc == 0) {
        comparison->trace_ended = true;
        diverge(comparison, "the re-run has more events than the trace", "(end of trace)",
                replayed);
    } else {
        char recorded[SIM_ERROR_MESSAGE_BYTES_MAX];
        describe_row(recorded, sizeof(recorded), &row);
        diverge(comparison, difference(event, comparison->json, json_bytes, &row), recorded,
                replayed);
    }
    return SIM_ESINK;
}

/* The ring's store callback (worker thread): the first divergence fails the ring, so the
 * re-run's next event stops it; the report names that first divergence. */
static int compare_store(void *state, uint32_t slot, const struct sim_trace_event *events,
                         const uint32_t *payload_bytes_max, uint32_t count, char *message)
{
    struct comparison *comparison = state;
    (void)slot;                         /* no prepare stage: nothing kept per row */
    (void)payload_bytes_max;            /* the trace's cut, comparison->payload_bytes_max */
    for (uint32_t index = 0; index < count; index++) {
        int rc = compare_one(comparison, &events[index]);
        if (rc < 0) {
            /* The re-run's own stderr says why it stops: past a partial trace's last row is
             * where the check ends (report() says "identical"), not a divergence. */
            snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX, "%s", rc == SIM_ENOMEM
                     ? "replay: out of memory"
                     : comparison->partial && comparison->trace_ended
                     ? "the trace ends here (its run did not finish), so the re-run stops"
                     : "replay diverged (below)");
            return rc;
        }
    }
    return 0;
}

static int compare_commit(void *state, char *message)
{
    (void)state;
    (void)message;
    return 0;
}

/* The re-run's sink: a copy into the record ring (sim/trace/ring.h), as the trace writer
 * does; the worker reads the recorded rows and compares, so the re-run's thread pays
 * neither SQLite nor the fields' JSON. */
static int compare_emit(void *state, const struct sim_trace_event *event, char *message)
{
    struct comparison *comparison = state;
    return trace_ring_append(comparison->ring, event, comparison->payload_bytes_max, message);
}

/* What the trace says about the run to repeat. */
struct recorded_run {
    const char *scenario;
    uint64_t seed;
    uint64_t until_ns;
    int level;
    const char *digest;
    const char *digest_encoding;                /* SIM_DIGEST_ENCODING of the run, or NULL */
    uint32_t payload_bytes_max;                 /* every byte in a trace older than the key */
    int arg_count;
    char *args[REPLAY_ARGS_MAX];                /* borrowed from the reader */
    struct simlua_file *files;                  /* owned array; texts borrowed */
    uint32_t file_count;
};

/* A decimal number as the run writes it: digits only (strtoull alone would take a sign or
 * leading blanks), within 64 bits (beyond, strtoull reads 2^64-1 and sets ERANGE). */
static bool parse_u64(const char *text, uint64_t *out)
{
    if (text == NULL || *text < '0' || *text > '9')
        return false;
    char *end = NULL;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (*end != '\0' || errno == ERANGE)
        return false;
    *out = value;
    return true;
}

static int recorded_meta(struct sim_trace_reader *reader, struct recorded_run *run, char *message)
{
    run->scenario = sim_trace_reader_meta(reader, "scenario");
    const char *seed = sim_trace_reader_meta(reader, "options_seed");
    if (seed == NULL)
        seed = sim_trace_reader_meta(reader, "seed");
    const char *until = sim_trace_reader_meta(reader, "until_ns");
    const char *level = sim_trace_reader_meta(reader, "trace_level");
    run->digest = sim_trace_reader_meta(reader, "digest");
    run->digest_encoding = sim_trace_reader_meta(reader, "digest_encoding");
    const char *payload = sim_trace_reader_meta(reader, SIM_TRACE_META_PAYLOAD_BYTES_MAX);
    uint64_t payload_bytes_max = SIM_TRACE_PAYLOAD_ALL_BYTES;
    if (payload != NULL && !parse_u64(payload, &payload_bytes_max))
        payload_bytes_max = UINT64_MAX;         /* refused below */
    run->payload_bytes_max = (uint32_t)payload_bytes_max;
    run->until_ns = SIM_TIME_NEVER;
    run->level = level != NULL ? sim_layer_parse(level) : -1;
    if (run->scenario == NULL || !parse_u64(seed, &run->seed) || run->level < 0 ||
        (until != NULL && until[0] != '\0' &&
         (!parse_u64(until, &run->until_ns) || run->until_ns > SIM_DURATION_NS_MAX)) ||
        payload_bytes_max > SIM_TRACE_PAYLOAD_ALL_BYTES) {
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX, "the trace's metadata does not say how "
                 "to re-run it (scenario, seed, trace_level, until_ns, payload_bytes_max); was "
                 "it written by "
                 "`vmcisim run --trace`?");
        return SIM_EINVAL;
    }
    for (run->arg_count = 0; run->arg_count < (int)REPLAY_ARGS_MAX; run->arg_count++) {
        char name[32];
        snprintf(name, sizeof(name), "arg.%d", run->arg_count + 1);
        const char *value = sim_trace_reader_meta(reader, name);
        if (value == NULL)
            break;
        run->args[run->arg_count] = (char *)value;
    }
    return 0;
}

static int recorded_files(struct sim_trace_reader *reader, struct recorded_run *run)
{
    run->file_count = sim_trace_reader_file_count(reader);
    run->files = calloc(run->file_count > 0 ? run->file_count : 1, sizeof(*run->files));
    if (run->files == NULL)
        return SIM_ENOMEM;
    for (uint32_t index = 0; index < run->file_count; index++) {
        struct sim_trace_file file = sim_trace_reader_file(reader, index);
        run->files[index] = (struct simlua_file){ (char *)file.path, (char *)file.text,
                                                  file.text_bytes };
    }
    return 0;
}

/* The scenario's own stdout (print; sim.log is quiet already) is not the replay's: it goes
 * to /dev/null during the re-run. Returns the saved descriptor, or -1 (then nothing is
 * hidden: output is noise, not an error). stderr stays, so failures and sanitizer
 * reports are still seen. */
static int stdout_silence(void)
{
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    int null = open("/dev/null", O_WRONLY);
    if (saved < 0 || null < 0 || dup2(null, STDOUT_FILENO) < 0) {
        if (saved >= 0)
            close(saved);
        if (null >= 0)
            close(null);
        return -1;
    }
    close(null);
    return saved;
}

static void stdout_restore(int saved)
{
    if (saved < 0)
        return;
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
}

/* Re-runs; returns the re-run's digest in digest_hex. */
static void rerun(const struct recorded_run *run, struct comparison *comparison,
                  char digest_hex[33], struct simlua_outcome *outcome, bool allow_exec)
{
    struct sim_digest *digest = sim_digest_create();
    struct sim_trace_sink sinks[2];
    uint32_t sink_count = 0;
    if (digest != NULL)
        sinks[sink_count++] = sim_digest_sink(digest);
    if (run->level != SIM_LAYER_OFF)
        sinks[sink_count++] = (struct sim_trace_sink){ .name = "replay",
                                                       .level = (enum sim_layer)run->level,
                                                       .emit = compare_emit,
                                                       .state = comparison };
    struct simlua_options options = {
        .scenario_path = run->scenario, .seed = run->seed, .until_ns = run->until_ns,
        .quiet = true, .arg_count = run->arg_count, .args = (char **)run->args,
        .sinks = sinks, .sink_count = sink_count, .preloaded = run->files,
        .preloaded_count = run->file_count, .allow_exec = allow_exec,
    };
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    if (trace_ring_create(&comparison->ring, UINT32_MAX, SIZE_MAX, compare_store,
                          compare_commit, comparison, message) < 0) {
        diverge(comparison, "out of memory", "", "");
        sim_digest_destroy(digest);
        digest = NULL;
    }
    struct simlua_runtime *runtime = digest != NULL ? simlua_create(&options) : NULL;
    memset(outcome, 0, sizeof(*outcome));
    if (runtime != NULL) {
        int saved_stdout = stdout_silence();
        simlua_run(runtime, outcome);
        stdout_restore(saved_stdout);
        simlua_destroy(runtime);
    }
    if (comparison->ring != NULL) {
        (void)trace_ring_drain(comparison->ring, message);  /* a failure is the divergence */
        trace_ring_destroy(comparison->ring);
        comparison->ring = NULL;
    }
    if (digest != NULL)
        sim_digest_hex(digest, digest_hex);
    else
        snprintf(digest_hex, 33, "(out of memory)");
    sim_digest_destroy(digest);
}

/* After a re-run without divergence: nothing may be left, and the digests must agree. */
static void verify_end(struct comparison *comparison, const struct recorded_run *run,
                       const char *digest_hex)
{
    struct sim_trace_row row;
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    int rc = sim_trace_reader_next(comparison->reader, &row, message);
    if (rc != 0) {
        char recorded[SIM_ERROR_MESSAGE_BYTES_MAX];
        if (rc > 0)
            describe_row(recorded, sizeof(recorded), &row);
        diverge(comparison, "the trace has more events than the re-run",
                rc > 0 ? recorded : message, "(end of the re-run)");
        return;
    }
    if (run->digest == NULL || strcmp(run->digest, digest_hex) == 0)
        return;
    char encoding[16];
    snprintf(encoding, sizeof(encoding), "%d", SIM_DIGEST_ENCODING);
    if (run->digest_encoding == NULL || strcmp(run->digest_encoding, encoding) != 0) {
        /* The events agree; the digest was computed another way, so it proves nothing. */
        char recorded[SIM_ERROR_MESSAGE_BYTES_MAX];
        if (run->digest_encoding != NULL)
            snprintf(recorded, sizeof(recorded), "digest %.64s, encoding %.16s", run->digest,
                     run->digest_encoding);
        else
            snprintf(recorded, sizeof(recorded), "digest %.64s, encoding 1 or 2 (not recorded)",
                     run->digest);
        char replayed[SIM_ERROR_MESSAGE_BYTES_MAX];
        snprintf(replayed, sizeof(replayed), "digest %s, encoding %s", digest_hex, encoding);
        diverge(comparison, "the trace's digest was computed with another digest encoding "
                "(an older vmcisim; docs/digest-vectors.md): the events agree, the digests "
                "cannot be compared", recorded, replayed);
        return;
    }
    diverge(comparison, "the digests differ (the trace's events agree: layers above the "
            "trace level differ)", run->digest, digest_hex);
}

/* Prints the verdict; returns the exit status. A trace without a digest is partial (its
 * run was killed or its trace could not be closed): what it holds can still be checked,
 * and the re-run stops where the trace ends. */
static int report(const char *path, const struct recorded_run *run,
                  const struct comparison *comparison, const char *digest_hex, bool quiet)
{
    bool partial = run->digest == NULL;
    if (partial && (!comparison->diverged || comparison->trace_ended)) {
        if (!quiet)
            printf("replay: partial trace (its run did not finish; no digest to compare): the "
                   "%" PRIu64 " recorded events are identical\n", comparison->compared);
        return 0;
    }
    if (comparison->diverged) {
        fprintf(stderr, "vmcisim replay: %s: %s\n", path, comparison->report);
        return 1;
    }
    if (!quiet)
        printf("replay: identical: %" PRIu64 " traced events compared, digest %s\n",
               comparison->compared, digest_hex);
    return 0;
}

static int replay_file(const char *path, bool quiet, bool allow_exec)
{
    struct sim_trace_reader *reader = NULL;
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    if (sim_trace_reader_open(path, &reader, message) < 0) {
        fprintf(stderr, "vmcisim replay: %s\n", message);
        return 1;
    }
    struct recorded_run run = { 0 };
    int rc = recorded_meta(reader, &run, message);
    if (rc == 0 && recorded_files(reader, &run) < 0) {
        snprintf(message, sizeof(message), "out of memory");
        rc = SIM_ENOMEM;
    }
    if (rc < 0) {
        fprintf(stderr, "vmcisim replay: %s: %s\n", path, message);
        free(run.files);
        sim_trace_reader_close(reader);
        return 1;
    }
    struct comparison comparison = { .reader = reader, .partial = run.digest == NULL,
                                     .payload_bytes_max = run.payload_bytes_max,
                                     .json_names = calloc(1, sizeof *comparison.json_names) };
    if (comparison.json_names == NULL) {
        fprintf(stderr, "vmcisim replay: %s: out of memory\n", path);
        free(run.files);
        sim_trace_reader_close(reader);
        return 1;
    }
    char digest_hex[33];
    struct simlua_outcome outcome;
    rerun(&run, &comparison, digest_hex, &outcome, allow_exec);
    if (!comparison.diverged)
        verify_end(&comparison, &run, digest_hex);
    int status = report(path, &run, &comparison, digest_hex, quiet);
    free(comparison.json);
    free(comparison.json_names);
    free(run.files);
    sim_trace_reader_close(reader);
    return status;
}

int cli_replay(int argc, char **argv)
{
    const char *path = NULL;
    bool quiet = false;
    bool allow_exec = false;
    for (int index = 1; index < argc; index++) {
        if (strcmp(argv[index], "-q") == 0 || strcmp(argv[index], "--quiet") == 0)
            quiet = true;
        else if (strcmp(argv[index], "--allow-exec") == 0)
            allow_exec = true;
        else if (strcmp(argv[index], "-h") == 0 || strcmp(argv[index], "--help") == 0) {
            if (cli_help_alone(argc, argv, argv[index], cli_usage) != -1)
                return 2;
            cli_usage(stdout);
            return 0;
        } else if (argv[index][0] == '-')
            return cli_usage_error("replay: unknown option '%s'", argv[index]);
        else if (path != NULL)
            return cli_usage_error("replay: one trace file at a time ('%s' is extra)",
                                   argv[index]);
        else
            path = argv[index];
    }
    if (path == NULL)
        return cli_usage_error("%s", "replay: missing FILE.db");
    return replay_file(path, quiet, allow_exec);
}
