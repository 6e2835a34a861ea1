/* SPDX-License-Identifier: MIT */
/*
 * sim/trace/writer.h: the SQLite trace writer (schema v1, docs/trace-schema.md).
 *
 * A run's trace database holds its metadata (schema version, simulator version,
 * seed, options; never a wall-clock time), the text of every Lua file the run
 * loaded, and its events. The writer is a trace sink (sim/engine/trace.h): the
 * engine hands it admitted events in sequence order, the run's thread copies each into a
 * record ring, a worker thread makes the rows and a third thread inserts them in batched
 * transactions (sim/trace/ring.h).
 */
#ifndef SIM_TRACE_WRITER_H
#define SIM_TRACE_WRITER_H

#include <stddef.h>
#include <stdint.h>

struct sqlite3;

#include "sim/engine/trace.h"
#include "sim/trace/fields_json.h"
#include "sim/trace/ring.h"

#define SIM_TRACE_SCHEMA_VERSION 1
/* Events per transaction: large enough that commit cost is amortised (measured in
 * docs/trace-schema.md), small enough that a crash loses at most this many events. */
#define SIM_TRACE_BATCH_EVENTS 4096u
/* A transaction also ends at this many record bytes, so that events with large payloads
 * do not make one transaction (and the WAL file) grow without bound. */
#define SIM_TRACE_BATCH_BYTES (4u * 1024u * 1024u)

/* The connection's settings, run at open before the schema (a page size holds only
 * while the file is empty): WAL with synchronous=OFF (crash semantics in
 * docs/trace-schema.md); 16 KiB pages, which write the same rows in a quarter of the
 * WAL writes, reads and checkpoint copies of 4 KiB pages (about a sixth less CPU on the
 * thread that inserts, measured there); no zeroing of freed space (secure_delete, on
 * in Debian's SQLite: a trace deletes nothing it must hide; 2 % of the inserts); and a
 * checkpoint per 64 pages (1 MiB) of WAL, on the thread that inserts, while the run goes
 * on: with SQLite's 1 000 pages (16 MiB now) a trace under that size was copied whole by
 * the close's checkpoint on the run's thread after everything else (10 ms of a 256 MiB
 * stream's 100). synchronous=OFF comes before the switch to WAL: the switch is a
 * rollback-journal transaction, which with SQLite's default (FULL) synced the journal, its
 * folder and the database four times (fdatasync: 5 to 11 ms of a traced run's start on
 * this machine's disk); the file is the same. The benchmarks' SQLite floors use the same
 * text, so they stay "the writer's settings". */
#define SIM_TRACE_WRITER_PRAGMAS_SQL \
    "PRAGMA page_size=16384; PRAGMA synchronous=OFF; PRAGMA journal_mode=WAL;" \
    " PRAGMA secure_delete=OFF; PRAGMA wal_autocheckpoint=64;"
/* The events insert up to its rows' values: "(?,?,?,?,?,?,?,?)" once per row. OR FAIL
 * because a statement that can abort must be undoable alone, so SQLite copies every page
 * a multi-row INSERT touches into a statement journal first (a 16 KiB copy per page, 16 %
 * of the inserting thread's instructions); FAIL stops at the failing row without undoing
 * the earlier ones, which changes nothing here: any failure fails the whole transaction,
 * which the writer rolls back, and the trace. The floors use it too. */
#define SIM_TRACE_WRITER_INSERT_SQL \
    "INSERT OR FAIL INTO events(seq, time_ns, ctx, pid, layer, kind, fields, payload) VALUES"

/* How long the writer waits for a reader's lock (someone inspecting a trace being
 * written) before it gives up and reports the trace as unwritable. */
#define SIM_TRACE_BUSY_TIMEOUT_MS 10000

/* Appended to the path: the file being written until a successful close renames it. */
#define SIM_TRACE_PARTIAL_SUFFIX ".partial"

struct sim_trace_writer;

/* Creates the database as `path` + SIM_TRACE_PARTIAL_SUFFIX (replacing a trace left
 * there) with its schema; a successful close renames it onto `path`. Refuses with
 * SIM_EINVAL when `path` or the partial path holds anything but nothing, an empty file
 * or a vmcisim trace (sim_trace_check). Returns 0 and a writer in *out, or a negative
 * SIM_E* code with a message naming the path and the cause.
 * Ownership: returns a new writer owned by the caller; free with sim_trace_writer_close(). */
int sim_trace_writer_open(const char *path, struct sim_trace_writer **out,
                          char message[SIM_ERROR_MESSAGE_BYTES_MAX]);

/* Stores one metadata row (key unique; a second call for a key replaces the value). */
int sim_trace_writer_meta(struct sim_trace_writer *writer, const char *key, const char *value,
                          char message[SIM_ERROR_MESSAGE_BYTES_MAX]);

/* Stores one loaded Lua file: path, full text and its XXH3-128 hash (hex). Borrows text. */
int sim_trace_writer_file(struct sim_trace_writer *writer, const char *path, const char *text,
                          size_t text_bytes, char message[SIM_ERROR_MESSAGE_BYTES_MAX]);

/* XXH3-128 of a file's text as 32 lowercase hex digits, most significant byte first: the
 * `files.hash` column (the reader checks texts against it). */
void sim_trace_text_hash_hex(const char *text, size_t text_bytes, char hex[33]);

/* The meta key that records the cut below, in decimal bytes: readers (replay) read the
 * payload column knowing it; a trace without it stored every payload whole. */
#define SIM_TRACE_META_PAYLOAD_BYTES_MAX "payload_bytes_max"

/* --payload: the bytes of each event's payload field (its first BYTES or PAYLOAD field)
 * the trace stores, SIM_TRACE_PAYLOAD_DEFAULT_BYTES (256) until this is called;
 * SIM_TRACE_PAYLOAD_ALL_BYTES keeps every byte, 0 none (the payload column is NULL). A cut
 * payload's JSON member says how much was stored (docs/trace-schema.md). Applies to the
 * events emitted after the call; stores the value in `meta`. Returns 0 or a SIM_E* code. */
int sim_trace_writer_payload(struct sim_trace_writer *writer, uint32_t payload_bytes_max,
                             char message[SIM_ERROR_MESSAGE_BYTES_MAX]);

/* A hook into the writer for a layer above (sim/trace knows nothing of what it does):
 * `observe` sees every event the writer stores, on the writer's worker thread (the one
 * that makes the rows, not the one that inserts them), in order, before its row is
 * inserted (trace_ring_observe_fn); `finish` runs once in a close that has stored
 * everything, on the closing thread, with the database still open and nothing else using
 * it, before the checkpoint and the rename, so what it adds is part of the finished file
 * (events observed but never stored make the close fail, so `finish` never sees them). It
 * may add tables in its own transaction and must leave none open; it cannot fail the
 * close (a hook that could not do its work reports that itself). An abandoned trace never
 * calls it. Either function may be NULL. */
struct sim_trace_writer_hook {
    trace_ring_observe_fn observe;
    void (*finish)(void *context, struct sqlite3 *db);
    void *context;
};

/* Installs `hook` (copied; its context is borrowed until the writer is freed) for the
 * events emitted from now on; a second call replaces the first. Drains the ring first:
 * returns 0, or the ring's failure code with its message. */
int sim_trace_writer_hook(struct sim_trace_writer *writer,
                          const struct sim_trace_writer_hook *hook,
                          char message[SIM_ERROR_MESSAGE_BYTES_MAX]);

/* A sink that inserts events of layers <= level. The sink borrows the writer. */
struct sim_trace_sink sim_trace_writer_sink(struct sim_trace_writer *writer, enum sim_layer level);

/* Events written so far. */
uint64_t sim_trace_writer_event_count(const struct sim_trace_writer *writer);

/* How often and how long the run's thread waited for the writer's threads (its record ring
 * was full): trace_ring_run_waits. On the run's thread, before the close. */
struct trace_ring_waits sim_trace_writer_run_waits(const struct sim_trace_writer *writer);

/* The file being written (path + SIM_TRACE_PARTIAL_SUFFIX): where a killed run leaves
 * its committed batches. Borrowed from the writer. */
const char *sim_trace_writer_partial_path(const struct sim_trace_writer *writer);

/* Commits what is pending, checkpoints, closes the database and renames the partial file
 * onto the path (no index: readers make them, sim_trace_indexes_ensure). Always frees the writer; returns 0, or a
 * negative SIM_E* code with a message that names the partial file left behind. */
int sim_trace_writer_close(struct sim_trace_writer *writer,
                           char message[SIM_ERROR_MESSAGE_BYTES_MAX]);

/* For a run whose trace cannot be finished: commits what is pending and closes the
 * database, leaving it at the partial path (PATH itself is not touched). Always frees
 * the writer; returns 0 or a negative SIM_E* code with a message. */
int sim_trace_writer_abandon(struct sim_trace_writer *writer,
                             char message[SIM_ERROR_MESSAGE_BYTES_MAX]);

#endif /* SIM_TRACE_WRITER_H */
