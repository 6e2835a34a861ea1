/* SPDX-License-Identifier: MIT */
/*
 * sim/trace/reader.h: reading a trace database back (schema v1, docs/trace-schema.md):
 * its metadata, the Lua files it recorded, and its events in sequence order.
 *
 * The file is opened read-only and checked before anything is returned: a missing file,
 * a file that is not SQLite, an SQLite file without our tables, or another schema
 * version are each a clear message, never a crash (the brief: "a corrupt trace file is
 * reported, not crashed on"). Strings returned point into the reader or into the current
 * row and stay valid until the next call that moves it.
 */
#ifndef SIM_TRACE_READER_H
#define SIM_TRACE_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim/engine/error.h"
#include "sim/engine/limits.h"

/* Bounds on what a reader accepts from a file (a hostile file must not exhaust memory). */
#define SIM_TRACE_READER_META_MAX 256u          /* meta rows */
#define SIM_TRACE_READER_FILES_MAX 256u         /* files rows (SIMLUA_FILES_MAX of a run) */
#define SIM_TRACE_READER_FILE_BYTES_MAX (16u * 1024u * 1024u)

struct sim_trace_reader;
struct sqlite3;

/* What a path holds, as far as a trace is concerned (sim_trace_check). */
enum sim_trace_kind {
    SIM_TRACE_KIND_ABSENT,          /* no such file */
    SIM_TRACE_KIND_EMPTY,           /* a regular file of 0 bytes: nothing to lose */
    SIM_TRACE_KIND_TRACE,           /* a vmcisim trace this binary reads */
    SIM_TRACE_KIND_OTHER,           /* anything else: not a trace, or one we cannot read */
};

/* Looks at `path` without changing it or blocking on it (a FIFO or a device is refused
 * from its stat(), before any open) and says what it is. For everything but a trace the
 * message says why, in the one wording replay, inspect, export and run share:
 *   "PATH: cannot open: <errno text>"                     (missing, unreadable)
 *   "PATH: not a vmcisim trace (<why>)"   why: not a regular file, an empty file, not an
 *       SQLite database, no meta, files and events tables with the trace's columns,
 *       schema_version N (this vmcisim reads 1)
 *   "PATH: corrupt trace (<SQLite's message>)" */
enum sim_trace_kind sim_trace_check(const char *path, char message[SIM_ERROR_MESSAGE_BYTES_MAX]);
/* sim_trace_check, which for SIM_TRACE_KIND_TRACE also leaves the connection it checked
 * with open in *db (as sim_trace_open_database makes it: read-only, immutable without a
 * -wal file; the caller closes it); for every other answer *db is NULL. */
enum sim_trace_kind sim_trace_check_open(const char *path,
                                        char message[SIM_ERROR_MESSAGE_BYTES_MAX],
                                        struct sqlite3 **db);

/* Opens `path` read-only for reading a trace without creating files beside it. A closed
 * trace is one file (the writer checkpoints it), but an ordinary read-only connection to
 * a WAL database leaves -wal and -shm files it cannot remove; so without a -wal file the
 * trace is opened "immutable", which writes nothing. A -wal file means a run crashed or
 * is still writing: then SQLite must read it (and may create -shm). Returns SQLite's
 * result code; *db may be set even on failure (pass it to sqlite3_close). Shared by the
 * reader, `inspect` and `export`. The connection has no mutex of its own
 * (SQLITE_OPEN_NOMUTEX: SQLite's per-call locking was half of replay's reading): one
 * thread at a time uses it, and a caller that hands it to another thread orders the
 * hand-off (replay's record ring: its start and its drains). */
int sim_trace_open_database(const char *path, struct sqlite3 **db);

/* The `events` indexes readers use (time ranges, kinds). The writer does not build them
 * (docs/trace-schema.md, "Indexes"); sim_trace_indexes_ensure() (indexes.c) creates both
 * when `path` is a closed trace it may write and nobody holds its write lock, before a
 * reader opens it; a reader that finds them absent scans instead. Never fails: it returns
 * what the trace has now. */
#define SIM_TRACE_INDEX_TIME "events_time_ns"
#define SIM_TRACE_INDEX_KIND "events_kind"
enum sim_trace_indexes {
    SIM_TRACE_INDEXES_ABSENT = 0,   /* not there, and not made (read-only, being written) */
    SIM_TRACE_INDEXES_PRESENT = 1,  /* there already */
    SIM_TRACE_INDEXES_CREATED = 2,  /* made by this call */
};
enum sim_trace_indexes sim_trace_indexes_ensure(const char *path);
/* sim_trace_indexes_ensure, then a read-only connection to the trace in *db (as
 * sim_trace_open_database makes it; the caller closes it): when both indexes were there,
 * the connection the check was made with, so a trace read again is opened once. *db is
 * NULL when the file is not a trace sim_trace_check passes (or cannot be opened again
 * after the indexes were made): the caller opens it its own way to say why. */
enum sim_trace_indexes sim_trace_indexes_ensure_open(const char *path, struct sqlite3 **db);

struct sim_trace_row {
    uint64_t seq;
    uint64_t time_ns;
    uint32_t ctx;
    uint32_t pid;
    const char *layer;
    const char *kind;
    const char *fields;             /* the JSON text */
    size_t fields_bytes;
    bool has_payload;               /* false: SQL NULL */
    const uint8_t *payload;
    size_t payload_bytes;
};

struct sim_trace_file {
    const char *path;
    const char *text;
    size_t text_bytes;
};

/* Opens and checks `path` (sim_trace_check, then every recorded file's text against its
 * stored hash: a mismatch is a corrupt trace). Returns 0 and a reader, or SIM_ESINK /
 * SIM_ENOMEM / SIM_ELIMIT with a message naming the file. Ownership: free with
 * sim_trace_reader_close(). */
int sim_trace_reader_open(const char *path, struct sim_trace_reader **out,
                          char message[SIM_ERROR_MESSAGE_BYTES_MAX]);
void sim_trace_reader_close(struct sim_trace_reader *reader);

/* The value of meta key `key`, or NULL when the trace has none. */
const char *sim_trace_reader_meta(const struct sim_trace_reader *reader, const char *key);
uint32_t sim_trace_reader_file_count(const struct sim_trace_reader *reader);
struct sim_trace_file sim_trace_reader_file(const struct sim_trace_reader *reader, uint32_t index);
uint64_t sim_trace_reader_event_count(const struct sim_trace_reader *reader);

/* Events in seq order: the first call starts at the first event. Returns 1 and the row,
 * 0 at the end, or SIM_ESINK with a message (a corrupt page met while reading, or a seq
 * that is negative or not above the previous one: an edited trace). */
int sim_trace_reader_next(struct sim_trace_reader *reader, struct sim_trace_row *row,
                          char message[SIM_ERROR_MESSAGE_BYTES_MAX]);

#endif /* SIM_TRACE_READER_H */
