/* SPDX-License-Identifier: MIT */
/*
 * sim/cli/summary.h: the summary tables of a trace (docs/trace-schema.md, "Summary tables").
 *
 * `vmcisim run --trace` adds them to its trace, built while the run writes
 * (summary_live.c) and stored by the writer's close before the rename, in one
 * transaction (or, when the live pass cannot be exact, rebuilt there from the stored
 * events by summary_write_db): the names, sockets and stream connections that
 * inspect_model.c rebuilds, the event count per (layer, kind), the seqs of the events the
 * errors view lists, and the run's extent. They are computed by the same code that computes
 * them from the events, so a view answers the same from either; they are a cache, not part
 * of the digest, and sim/trace knows nothing of them.
 *
 * A reader uses them only when the trace is complete (meta `digest`), they were built for
 * that digest and that last seq, and the XXH3-64 of their rows matches the one they
 * store; every value is then range-checked as it is loaded. Anything else: they are
 * ignored (with a message on stderr when they exist but do not pass) and the views compute
 * from the events, as for a trace written before they existed.
 */
#ifndef SIM_CLI_SUMMARY_H
#define SIM_CLI_SUMMARY_H

#include <stdbool.h>
#include <stdint.h>

#include "sim/cli/inspect_int.h"
#include "sim/trace/writer.h"

#define SUMMARY_VERSION          1          /* summary_info `version` this binary writes */
/* Bounds of the build at the end of a run (memory: the model holds every socket and
 * connection). Past one, the run says so and writes no tables; inspect then computes. */
#define SUMMARY_SOCKETS_MAX      (1u << 20)
#define SUMMARY_CONNECTIONS_MAX  (1u << 20)
#define SUMMARY_ERRORS_MAX       (1u << 22)  /* seqs of error events (8 bytes each) */
#define SUMMARY_KINDS_MAX        4096u       /* distinct (layer, kind) pairs */

struct model;

/* Builds the tables into the finished trace at `path`. Returns 0 (written), 1 (not
 * written: the reason is in `message`, the trace is as it was). Never changes the events,
 * meta or files. */
int summary_write(const char *path, char *message, size_t message_bytes);
/* The same on an open read-write connection to the trace at `path` (named in messages):
 * the live build's fallback (summary_live.c) inside the writer's close. */
int summary_write_db(sqlite3 *db, const char *path, char *message, size_t message_bytes);

/* The live build (summary_live.c): a writer hook that builds the same tables while the run
 * writes its trace and stores them at the writer's close, in the file before its rename,
 * rebuilding from the stored events when the live pass could not be exact.
 * Ownership: create returns NULL when out of memory; destroy after the writer is closed
 * (the hook borrows `path` and the live state until then). The bounds are
 * SUMMARY_SOCKETS_MAX and SUMMARY_CONNECTIONS_MAX for a run (smaller in tests). */
struct summary_live;
struct summary_live *summary_live_create(const char *path, uint32_t sockets_max,
                                         uint32_t connections_max);
struct sim_trace_writer_hook summary_live_hook(struct summary_live *live);
struct summary_live_outcome {
    bool finished;                  /* the writer's close called the finish */
    bool written;                   /* the tables are in the trace */
    const char *rebuilt_because;    /* NULL: built live; else why they came from the events */
    double wall_seconds, cpu_seconds;   /* of the finish (progress output only) */
    char message[SIM_ERROR_MESSAGE_BYTES_MAX];  /* why not written */
};
/* 0 when the tables were written, 1 when not (outcome->message says why, or the finish
 * never ran: outcome->finished false). */
int summary_live_report(const struct summary_live *live, struct summary_live_outcome *outcome);
void summary_live_destroy(struct summary_live *live);

/* For `inspect`: sets inspect->summary when the tables exist and pass the checks above.
 * Prints "vmcisim inspect: FILE: summary tables ignored (<why>); computing from the
 * events" when they exist but do not. Never fails the view. */
void summary_probe(struct inspect *inspect);
/* Loads the names / the model from the tables; 0, or -1 after reporting them ignored
 * (inspect->summary cleared, nothing left allocated): the caller computes from events. */
int summary_load_names(struct inspect *inspect);
int summary_load_model(struct inspect *inspect, struct model *model);

/* The XXH3-64 of every row of the summary tables but summary_info, in table then rowid
 * order (what `hash` in summary_info holds); 0, or -1 when a table cannot be read. */
int summary_hash(sqlite3 *db, uint64_t *hash);

#endif /* SIM_CLI_SUMMARY_H */
