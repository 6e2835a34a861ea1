/* SPDX-License-Identifier: MIT */
/*
 * sim/trace/writer.c: the SQLite trace writer (schema v1, docs/trace-schema.md).
 *
 * One writer owns one database connection and its prepared statements. Events arrive
 * through the sink in sequence order; the run's thread only copies each into the record
 * ring (sim/trace/ring.h: no formatting, no allocation). The ring's worker thread hands
 * them back here in groups, where the rows' `fields` JSON is made (rows_prepare, the
 * payload field cut to --payload), and its storer thread hands the same groups back,
 * where the rows are bound and inserted 32 per statement (rows_store), one transaction
 * per SIM_TRACE_BATCH_EVENTS events or SIM_TRACE_BATCH_BYTES record bytes, while the run
 * goes on: the SQLite thread does what a bare insert loop does and little else (its
 * instructions per row are the floor's, docs/trace-schema.md). Metadata, files and close
 * first drain the ring, so only one thread uses the connection at a time. A hook
 * (sim_trace_writer_hook) may watch the events on the worker and add its own tables at
 * the close, before the rename; the writer knows nothing of what they hold.
 *
 * Replacing safely (docs/trace-schema.md, "Where the trace is written"): the database is
 * written as PATH.partial beside PATH and renamed onto PATH only by a close that
 * succeeded, so a killed run never leaves a half-file where a good trace was, and its
 * committed batches stay readable in PATH.partial. Open refuses (SIM_EINVAL) when PATH
 * or PATH.partial holds something that is not a vmcisim trace (sim_trace_check): a
 * mistyped --trace must not destroy a scenario or any other file.
 *
 * The database runs in WAL mode with synchronous=OFF and has no index: the readers
 * build the two `events` indexes on first use (sim/trace/indexes.c; measurements and
 * crash semantics in docs/trace-schema.md): a process crash keeps every committed
 * transaction and leaves a consistent file; a power loss may not. The connection is used by
 * one thread at a time (opened with SQLITE_OPEN_NOMUTEX; the ring's drains hand it over).
 *
 * Invariants (asserted below):
 *   W1  Rows are stored in the order the run emitted them (one ring, one worker).
 *   W2  Stored events have strictly increasing seq (the engine's order).
 *   W3  An event's JSON never exceeds its bound (sim/trace/fields_json.c).
 *   W4  Only the writer inserts events, in seq order (W2), so the table's largest rowid is
 *       the last stored event's seq (last_seq): a row bound with a NULL seq gets
 *       last_seq + 1, which the writer does only when that is the row's seq.
 *   W5  A statement's parameters always hold the values of the row last bound at their
 *       position: row_bind skips a bind only when its row_bound says the value is already
 *       there, and a failed bind clears that knowledge (the next row binds everything).
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>
#include <xxhash.h>

#include "sim/engine/error.h"
#include "sim/trace/ring.h"
#include "sim/trace/fields_json.h"
#include "sim/trace/reader.h"
#include "sim/trace/writer.h"

#define STRINGIFY(x) #x
#define STRINGIFY_VALUE(x) STRINGIFY(x)

/* Run once at open, in one transaction (the journal mode cannot change inside one). */
static const char schema_sql[] =
    SIM_TRACE_WRITER_PRAGMAS_SQL
    "BEGIN;"
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE files(path TEXT PRIMARY KEY, text TEXT NOT NULL, hash TEXT NOT NULL);"
    "CREATE TABLE events(seq INTEGER PRIMARY KEY, time_ns INTEGER NOT NULL,"
    " ctx INTEGER NOT NULL, pid INTEGER NOT NULL, layer TEXT NOT NULL, kind TEXT NOT NULL,"
    " fields TEXT NOT NULL, payload BLOB);"
    "INSERT INTO meta(key, value) VALUES('schema_version', '"
    STRINGIFY_VALUE(SIM_TRACE_SCHEMA_VERSION) "');"
    "COMMIT;";

static const char event_insert_sql[] =
    SIM_TRACE_WRITER_INSERT_SQL "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
/* Rows per multi-row INSERT: one statement step per 8 rows instead of per row cut the
 * worker's insert time by about a quarter, and 32 instead of 8 another 11 % of
 * sqlite3_step's instructions (64: 2 % more; docs/trace-schema.md); the rest of a batch
 * goes one row at a time. */
#define WRITER_ROWS_PER_INSERT 32u
#define WRITER_COLUMNS 8u
#define WRITER_ROWS_SQL_BYTES 2048u
static const char meta_insert_sql[] = "INSERT OR REPLACE INTO meta(key, value) VALUES(?1, ?2)";
/* A second store of the same path succeeds only with the same text (changes() == 1). */
static const char file_insert_sql[] =
    "INSERT INTO files(path, text, hash) VALUES(?1, ?2, ?3)"
    " ON CONFLICT(path) DO UPDATE SET text = excluded.text WHERE files.hash = excluded.hash";

/* The values one row position of an event statement holds bound, where a row repeats
 * them often (the same context, process, layer or kind as the row one statement
 * before; a NULL seq or payload): the storer binds only what differs, which saves a
 * quarter of its sqlite3_bind_* work for datagram round trips (docs/trace-schema.md).
 * The texts are static strings (the engine's layer names and kinds, trace.h), so an
 * equal pointer and length is an equal value. `valid` false: nothing known yet. */
struct row_bound {
    bool valid;
    bool seq_null;
    bool payload_null;
    uint32_t ctx;
    uint32_t pid;
    uint32_t kind_bytes;
    const char *layer;
    const char *kind;
};

struct sim_trace_writer {
    sqlite3 *db;
    char *path;                     /* owned copy */
    char path_shown[SIM_MESSAGE_PATH_BYTES_MAX];    /* as every message names it */
    char *partial_path;             /* owned: path + SIM_TRACE_PARTIAL_SUFFIX, written */
    sqlite3_stmt *event_insert;
    sqlite3_stmt *event_insert_rows;    /* WRITER_ROWS_PER_INSERT rows at once */
    sqlite3_stmt *meta_insert;
    sqlite3_stmt *file_insert;
    sqlite3_stmt *batch_begin;
    sqlite3_stmt *batch_commit;
    enum sim_layer level;           /* set by sim_trace_writer_sink() */
    uint32_t payload_bytes_max;     /* --payload: kept bytes of an event's payload field */
    struct trace_ring *ring;        /* owned; NULL once stopped */
    struct sim_trace_writer_hook hook;  /* zero: none (sim_trace_writer_hook) */
    /* The rows' JSON texts, made by the ring's worker (rows_prepare) and bound by its
     * storer (rows_store): one buffer per batch of row slots (grown, never shrunk), and
     * where each slot's text lies in its batch's buffer. */
    char *batch_json[TRACE_RING_BATCHES];
    size_t batch_json_capacity_bytes[TRACE_RING_BATCHES];
    size_t row_json_offset[TRACE_RING_SLOTS];
    size_t row_json_bytes[TRACE_RING_SLOTS];
    uint32_t row_payload_field[TRACE_RING_SLOTS];
    struct sim_trace_json_names json_names;     /* the worker's encoded field names */
    /* What each row position of the two event statements holds bound now (row_bind): a
     * binding stays after sqlite3_reset, so a value that did not change is not bound
     * again. Only the storer uses them. */
    struct row_bound one_row_bound;
    struct row_bound rows_bound[WRITER_ROWS_PER_INSERT];
    uint64_t stored_events;         /* by the storer, read after a drain */
    uint64_t last_seq;              /* W2: valid when stored_events > 0 */
};

static int rows_prepare(void *state, uint32_t slot, const struct sim_trace_event *events,
                        const uint32_t *payload_bytes_max, uint32_t count, char *message);
static int rows_store(void *state, uint32_t slot, const struct sim_trace_event *events,
                      const uint32_t *payload_bytes_max, uint32_t count, char *message);
static int transaction_commit(void *state, char *message);

/* ---- Messages ---------------------------------------------------------------------- */

/* Messages are cut to SIM_ERROR_MESSAGE_BYTES_MAX; so a path is named as sim_message_path
 * shows it (a long one shortened in its middle), which leaves room for the cause. */
__attribute__((format(printf, 2, 3)))
static void message_format(char *message, const char *format, ...)
{
    assert(message != NULL);
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX, format, arguments);
    va_end(arguments);
}

static int sqlite_fail(const struct sim_trace_writer *writer, const char *what, char *message)
{
    assert(writer != NULL);
    assert(what != NULL);
    message_format(message, "trace database %s: %s: %s", writer->path_shown, what,
                   sqlite3_errmsg(writer->db));
    return SIM_ESINK;
}

/* Runs a statement that returns no rows and resets it; the message is taken before the
 * reset so that it is the step's. */
static int step_done(const struct sim_trace_writer *writer, sqlite3_stmt *stmt,
                     const char *what, char *message)
{
    assert(stmt != NULL);
    int rc = sqlite3_step(stmt);
    int result = 0;
    if (rc != SQLITE_DONE)
        result = sqlite_fail(writer, what, message);
    sqlite3_reset(stmt);
    return result;
}

/* ---- Opening and closing ----------------------------------------------------------- */

/* Removes the file at `path` and any journal beside it, since a stale -wal file would
 * otherwise be replayed into the database that takes the name. */
static int remove_old_files(const char *path, char *message)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    char name[PATH_MAX + 16];
    char shown[SIM_MESSAGE_PATH_BYTES_MAX];
    sim_message_path(path, shown);
    if (strlen(path) >= PATH_MAX) {
        message_format(message, "trace database %s: path longer than PATH_MAX (%d)", shown,
                       PATH_MAX);
        return SIM_EINVAL;
    }
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        snprintf(name, sizeof name, "%s%s", path, suffixes[i]);
        if (unlink(name) != 0 && errno != ENOENT) {
            message_format(message, "trace database %s: cannot remove the old %s%s: %s",
                           shown, shown, suffixes[i], strerror(errno));
            return SIM_ESINK;
        }
    }
    return 0;
}

/* A file may be replaced only when it is absent, empty or a vmcisim trace. A path that
 * cannot even be looked at (too long, a file as a folder, no search permission) is named
 * with its cause: it is not a file that is refused, there is none to create. */
static int may_replace(const char *path, char *message)
{
    struct stat info;
    if (stat(path, &info) != 0 && errno != ENOENT) {
        int error = errno;
        char shown[SIM_MESSAGE_PATH_BYTES_MAX];
        message_format(message, "trace database %s: cannot create it: %s",
                       sim_message_path(path, shown), strerror(error));
        return SIM_EINVAL;
    }
    char why[SIM_ERROR_MESSAGE_BYTES_MAX];
    if (sim_trace_check(path, why) != SIM_TRACE_KIND_OTHER)
        return 0;
    message_format(message, "refusing to replace %.3000s (only a vmcisim trace is replaced)",
                   why);
    return SIM_EINVAL;
}

static int prepare(struct sim_trace_writer *writer, const char *sql, sqlite3_stmt **stmt,
                   char *message)
{
    assert(*stmt == NULL);
    if (sqlite3_prepare_v3(writer->db, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt, NULL) !=
        SQLITE_OK)
        return sqlite_fail(writer, "prepare", message);
    assert(*stmt != NULL);
    return 0;
}

static int prepare_all(struct sim_trace_writer *writer, char *message)
{
    char rows_sql[WRITER_ROWS_SQL_BYTES];
    size_t used = (size_t)snprintf(rows_sql, sizeof(rows_sql), "%s",
                                   SIM_TRACE_WRITER_INSERT_SQL);
    for (uint32_t row = 0; row < WRITER_ROWS_PER_INSERT; row++)
        used += (size_t)snprintf(rows_sql + used, sizeof(rows_sql) - used, "%s(?,?,?,?,?,?,?,?)",
                                 row == 0 ? "" : ",");
    assert(used < sizeof(rows_sql));
    int rc = prepare(writer, event_insert_sql, &writer->event_insert, message);
    if (rc == 0)
        rc = prepare(writer, rows_sql, &writer->event_insert_rows, message);
    if (rc == 0)
        rc = prepare(writer, meta_insert_sql, &writer->meta_insert, message);
    if (rc == 0)
        rc = prepare(writer, file_insert_sql, &writer->file_insert, message);
    if (rc == 0)
        rc = prepare(writer, "BEGIN", &writer->batch_begin, message);
    if (rc == 0)
        rc = prepare(writer, "COMMIT", &writer->batch_commit, message);
    return rc;
}

/* Finalises the statements, closes the connection and stops the worker; may be called
 * again (it then does nothing). Returns 0, or SIM_ESINK with a message if SQLite could
 * not close the file. */
static int writer_close_database(struct sim_trace_writer *writer, char *message)
{
    assert(writer != NULL);
    int result = 0;
    if (writer->ring != NULL)
        trace_ring_destroy(writer->ring);       /* first: the worker uses the statements */
    writer->ring = NULL;
    sqlite3_stmt **statements[] = {
        &writer->event_insert, &writer->event_insert_rows, &writer->meta_insert,
        &writer->file_insert, &writer->batch_begin, &writer->batch_commit,
    };
    for (size_t index = 0; index < sizeof statements / sizeof statements[0]; index++) {
        sqlite3_finalize(*statements[index]);
        *statements[index] = NULL;
    }
    if (writer->db != NULL && sqlite3_close(writer->db) != SQLITE_OK) {
        result = sqlite_fail(writer, "close", message);
        sqlite3_close_v2(writer->db);   /* frees it once whatever holds it lets go */
    }
    writer->db = NULL;
    return result;
}

/* Closes the database (if open) and frees the writer. */
static int writer_destroy(struct sim_trace_writer *writer, char *message)
{
    int result = writer_close_database(writer, message);
    free(writer->path);
    free(writer->partial_path);
    for (uint32_t index = 0; index < TRACE_RING_BATCHES; index++)
        free(writer->batch_json[index]);
    free(writer);
    return result;
}

static struct sim_trace_writer *writer_alloc(const char *path)
{
    struct sim_trace_writer *writer = calloc(1, sizeof *writer);
    if (writer == NULL)
        return NULL;
    writer->path = strdup(path);
    sim_message_path(path, writer->path_shown);
    size_t partial_bytes = strlen(path) + sizeof(SIM_TRACE_PARTIAL_SUFFIX);
    writer->partial_path = malloc(partial_bytes);
    if (writer->path == NULL || writer->partial_path == NULL) {
        free(writer->path);
        free(writer->partial_path);
        free(writer);
        return NULL;
    }
    snprintf(writer->partial_path, partial_bytes, "%s%s", path, SIM_TRACE_PARTIAL_SUFFIX);
    writer->level = SIM_LAYER_OFF;
    return writer;
}

int sim_trace_writer_open(const char *path, struct sim_trace_writer **out,
                          char message[SIM_ERROR_MESSAGE_BYTES_MAX])
{
    assert(path != NULL);
    assert(out != NULL);
    assert(message != NULL);
    *out = NULL;
    struct sim_trace_writer *writer = writer_alloc(path);
    if (writer == NULL) {
        char shown[SIM_MESSAGE_PATH_BYTES_MAX];
        message_format(message, "trace database %s: out of memory",
                       sim_message_path(path, shown));
        return SIM_ENOMEM;
    }
    int rc = may_replace(path, message);
    if (rc == 0)
        rc = may_replace(writer->partial_path, message);
    if (rc == 0)
        rc = remove_old_files(writer->partial_path, message);
    if (rc < 0) {
        char destroy_message[SIM_ERROR_MESSAGE_BYTES_MAX];
        writer_destroy(writer, destroy_message);
        return rc;
    }
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(writer->partial_path, &writer->db, flags, NULL) != SQLITE_OK) {
        rc = sqlite_fail(writer, "open", message);   /* db is set unless out of memory */
        int error = writer->db != NULL ? sqlite3_system_errno(writer->db) : 0;
        if (error != 0) {           /* SQLite's "unable to open database file" hides why */
            char partial_shown[SIM_MESSAGE_PATH_BYTES_MAX];
            message_format(message, "trace database %s: cannot create %s: %s",
                           writer->path_shown,
                           sim_message_path(writer->partial_path, partial_shown),
                           strerror(error));
        }
        goto fail;
    }
    sqlite3_extended_result_codes(writer->db, 1);
    /* A reader (inspect, sqlite3) may look at a trace being written: wait for its lock
     * rather than fail the run. Wall time here changes nothing in the trace. */
    sqlite3_busy_timeout(writer->db, SIM_TRACE_BUSY_TIMEOUT_MS);
    if (sqlite3_exec(writer->db, schema_sql, NULL, NULL, NULL) != SQLITE_OK) {
        rc = sqlite_fail(writer, "create schema", message);
        goto fail;
    }
    rc = prepare_all(writer, message);
    if (rc == 0)
        rc = trace_ring_create_staged(&writer->ring, SIM_TRACE_BATCH_EVENTS,
                                      SIM_TRACE_BATCH_BYTES, rows_prepare, rows_store,
                                      transaction_commit, writer, message);
    if (rc == 0)
        rc = sim_trace_writer_payload(writer, SIM_TRACE_PAYLOAD_DEFAULT_BYTES, message);
    if (rc < 0)
        goto fail;
    *out = writer;
    return 0;
fail:;
    char destroy_message[SIM_ERROR_MESSAGE_BYTES_MAX];
    writer_destroy(writer, destroy_message);    /* the first message is the one to report */
    return rc;
}

/* The closed PATH.partial becomes PATH: PATH's own journals go first (a stale -wal would
 * be replayed into the new file), then one rename(2) swaps the file in. */
static int put_in_place(const char *path, const char *partial_path, char *message)
{
    static const char *const suffixes[] = {"-wal", "-shm", "-journal"};
    char name[PATH_MAX + 16];
    char shown[SIM_MESSAGE_PATH_BYTES_MAX], partial_shown[SIM_MESSAGE_PATH_BYTES_MAX];
    sim_message_path(path, shown);
    sim_message_path(partial_path, partial_shown);
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        snprintf(name, sizeof name, "%s%s", path, suffixes[i]);
        if (unlink(name) != 0 && errno != ENOENT) {
            message_format(message, "trace database %s: cannot remove the old %s%s: %s (the "
                           "finished trace is %s)", shown, shown, suffixes[i], strerror(errno),
                           partial_shown);
            return SIM_ESINK;
        }
    }
    if (rename(partial_path, path) != 0) {
        message_format(message, "trace database %s: cannot rename %s onto it: %s (the "
                       "finished trace is %s)", shown, partial_shown, strerror(errno),
                       partial_shown);
        return SIM_ESINK;
    }
    return 0;
}

int sim_trace_writer_abandon(struct sim_trace_writer *writer,
                             char message[SIM_ERROR_MESSAGE_BYTES_MAX])
{
    assert(writer != NULL);
    assert(message != NULL);
    int rc = trace_ring_drain(writer->ring, message);
    char close_message[SIM_ERROR_MESSAGE_BYTES_MAX];
    int close_rc = writer_destroy(writer, close_message);
    if (rc == 0 && close_rc < 0) {
        memcpy(message, close_message, SIM_ERROR_MESSAGE_BYTES_MAX);
        rc = close_rc;
    }
    return rc;
}

const char *sim_trace_writer_partial_path(const struct sim_trace_writer *writer)
{
    assert(writer != NULL);
    return writer->partial_path;
}

int sim_trace_writer_close(struct sim_trace_writer *writer,
                           char message[SIM_ERROR_MESSAGE_BYTES_MAX])
{
    assert(writer != NULL);
    assert(message != NULL);
    int rc = trace_ring_drain(writer->ring, message);
    assert(rc < 0 || writer->stored_events == sim_trace_writer_event_count(writer));
    trace_ring_destroy(writer->ring);
    writer->ring = NULL;
    if (rc == 0 && writer->hook.finish != NULL)
        writer->hook.finish(writer->hook.context, writer->db);
    assert(rc < 0 || sqlite3_get_autocommit(writer->db));  /* the hook left none open */
    /* Copies the WAL back so the database is one self-contained file; sqlite3_close()
     * would do it too, but silently. */
    if (rc == 0 && sqlite3_wal_checkpoint_v2(writer->db, NULL, SQLITE_CHECKPOINT_TRUNCATE,
                                             NULL, NULL) != SQLITE_OK)
        rc = sqlite_fail(writer, "checkpoint", message);
    char close_message[SIM_ERROR_MESSAGE_BYTES_MAX];
    int close_rc = writer_close_database(writer, close_message);
    if (rc == 0 && close_rc < 0) {
        memcpy(message, close_message, SIM_ERROR_MESSAGE_BYTES_MAX);
        rc = close_rc;
    }
    if (rc == 0) {
        rc = put_in_place(writer->path, writer->partial_path, message);
    } else {
        char cause[SIM_ERROR_MESSAGE_BYTES_MAX];
        memcpy(cause, message, sizeof cause);
        char partial_shown[SIM_MESSAGE_PATH_BYTES_MAX];
        message_format(message, "%.1500s (the unfinished trace is %s)", cause,
                       sim_message_path(writer->partial_path, partial_shown));
    }
    writer_destroy(writer, close_message);      /* the database is closed: frees only */
    return rc;
}

/* ---- Metadata and files ------------------------------------------------------------ */

int sim_trace_writer_hook(struct sim_trace_writer *writer,
                          const struct sim_trace_writer_hook *hook,
                          char message[SIM_ERROR_MESSAGE_BYTES_MAX])
{
    assert(writer != NULL && hook != NULL && message != NULL);
    int rc = trace_ring_drain(writer->ring, message);    /* the worker is idle */
    if (rc < 0)
        return rc;
    writer->hook = *hook;
    trace_ring_observe(writer->ring, hook->observe, hook->context);
    return 0;
}

int sim_trace_writer_payload(struct sim_trace_writer *writer, uint32_t payload_bytes_max,
                             char message[SIM_ERROR_MESSAGE_BYTES_MAX])
{
    assert(writer != NULL);
    assert(message != NULL);
    if (payload_bytes_max > SIM_TRACE_PAYLOAD_ALL_BYTES)
        payload_bytes_max = SIM_TRACE_PAYLOAD_ALL_BYTES;   /* no field holds more */
    char text[16];
    snprintf(text, sizeof text, "%" PRIu32, payload_bytes_max);
    int rc = sim_trace_writer_meta(writer, SIM_TRACE_META_PAYLOAD_BYTES_MAX, text, message);
    if (rc == 0)
        writer->payload_bytes_max = payload_bytes_max;
    return rc;
}

int sim_trace_writer_meta(struct sim_trace_writer *writer, const char *key, const char *value,
                          char message[SIM_ERROR_MESSAGE_BYTES_MAX])
{
    assert(writer != NULL);
    assert(key != NULL);
    assert(value != NULL);
    assert(message != NULL);
    int rc = trace_ring_drain(writer->ring, message);    /* the connection is ours */
    if (rc < 0)
        return rc;
    sqlite3_stmt *stmt = writer->meta_insert;
    if (sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(stmt, 2, value, -1, SQLITE_STATIC) != SQLITE_OK) {
        sqlite3_reset(stmt);
        return sqlite_fail(writer, "bind meta", message);
    }
    return step_done(writer, stmt, "insert meta", message);
}

/* XXH3-128 as 32 lowercase hex digits, most significant byte first (canonical form). */
void sim_trace_text_hash_hex(const char *text, size_t text_bytes, char hex[33])
{
    assert(text != NULL || text_bytes == 0);
    assert(hex != NULL);
    static const char digits[] = "0123456789abcdef";
    XXH128_canonical_t canonical;
    XXH128_canonicalFromHash(&canonical, XXH3_128bits(text, text_bytes));
    for (size_t i = 0; i < sizeof canonical.digest; i++) {
        hex[2 * i] = digits[canonical.digest[i] >> 4];
        hex[2 * i + 1] = digits[canonical.digest[i] & 0x0f];
    }
    hex[32] = '\0';
}

int sim_trace_writer_file(struct sim_trace_writer *writer, const char *path, const char *text,
                          size_t text_bytes, char message[SIM_ERROR_MESSAGE_BYTES_MAX])
{
    assert(writer != NULL);
    assert(path != NULL);
    assert(text != NULL || text_bytes == 0);
    assert(message != NULL);
    int rc = trace_ring_drain(writer->ring, message);    /* the connection is ours */
    if (rc < 0)
        return rc;
    char hex[33];
    sim_trace_text_hash_hex(text, text_bytes, hex);
    sqlite3_stmt *stmt = writer->file_insert;
    /* An empty text is bound as "" (a NULL pointer would bind SQL NULL). */
    if (sqlite3_bind_text(stmt, 1, path, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text64(stmt, 2, text_bytes > 0 ? text : "", text_bytes, SQLITE_STATIC,
                            SQLITE_UTF8) != SQLITE_OK ||
        sqlite3_bind_text(stmt, 3, hex, 32, SQLITE_TRANSIENT) != SQLITE_OK) {
        sqlite3_reset(stmt);
        return sqlite_fail(writer, "bind file", message);
    }
    rc = step_done(writer, stmt, "insert file", message);
    if (rc == 0 && sqlite3_changes(writer->db) != 1) {
        char shown[SIM_MESSAGE_PATH_BYTES_MAX];
        message_format(message, "trace database %s: file %s stored twice with different text",
                       writer->path_shown, sim_message_path(path, shown));
        rc = SIM_EINVAL;
    }
    return rc;
}

/* ---- Events ------------------------------------------------------------------------ */

static bool field_has_blob(const struct sim_trace_field *field)
{
    return field->type == SIM_FIELD_STR || field->type == SIM_FIELD_BYTES ||
           field->type == SIM_FIELD_PAYLOAD;
}

/* Operating errors of one event: limits a release build of the emitter did not check,
 * and a time SQLite cannot hold. Programmer errors are asserted instead. */
static int event_check(const struct sim_trace_writer *writer,
                       const struct sim_trace_event *event, char *message)
{
    if (event->time_ns > (uint64_t)INT64_MAX) {
        message_format(message,
                       "trace database %s: event %" PRIu64 ": time_ns %" PRIu64
                       " exceeds SQLite's INTEGER range", writer->path_shown, event->seq,
                       event->time_ns);
        return SIM_ESINK;
    }
    for (uint32_t i = 0; i < event->field_count; i++) {
        const struct sim_trace_field *field = &event->fields[i];
        assert(field->name != NULL);
        assert(field->type >= SIM_FIELD_U64 && field->type <= SIM_FIELD_PAYLOAD);
        if (!field_has_blob(field))
            continue;
        assert(field->value.blob.data != NULL || field->value.blob.size_bytes == 0);
        bool is_str = field->type == SIM_FIELD_STR;
        uint32_t limit = is_str ? SIM_TRACE_STRING_BYTES_MAX : SIM_TRACE_BYTES_MAX;
        if (field->value.blob.size_bytes > limit) {
            message_format(message,
                           "trace database %s: event %" PRIu64 " field %s: %" PRIu32
                           " bytes exceed %s (%" PRIu32 ")", writer->path_shown, event->seq,
                           field->name, field->value.blob.size_bytes,
                           is_str ? "SIM_TRACE_STRING_BYTES_MAX" : "SIM_TRACE_BYTES_MAX", limit);
            return SIM_ELIMIT;
        }
    }
    return 0;
}

/* The ring's prepare callback, on its worker: the `fields` JSON of `count` rows, one after
 * the other in the buffer of the batch that holds slots `slot` .. `slot` + count - 1, grown
 * to the rows' bounds here (never on the run's thread, nor on the storer's). */
static int rows_prepare(void *state, uint32_t slot, const struct sim_trace_event *events,
                        const uint32_t *payload_bytes_max, uint32_t count, char *message)
{
    struct sim_trace_writer *writer = state;
    assert(count >= 1 && count <= TRACE_RING_STORE_EVENTS_MAX);
    assert(slot % TRACE_RING_STORE_EVENTS_MAX == 0 && slot + count <= TRACE_RING_SLOTS);
    uint32_t batch = slot / TRACE_RING_STORE_EVENTS_MAX;
    size_t bounds[TRACE_RING_STORE_EVENTS_MAX];
    size_t bound_bytes = 0;
    for (uint32_t index = 0; index < count; index++) {
        bounds[index] = sim_trace_fields_json_cut_bound_bytes(&events[index],
                                                              payload_bytes_max[index]);
        bound_bytes += bounds[index];
    }
    if (writer->batch_json_capacity_bytes[batch] < bound_bytes) {
        size_t capacity_bytes = bound_bytes < 65536u ? 65536u : bound_bytes;
        char *json = realloc(writer->batch_json[batch], capacity_bytes);
        if (json == NULL) {
            message_format(message, "trace database %s: out of memory for a row",
                           writer->path_shown);
            return SIM_ENOMEM;
        }
        writer->batch_json[batch] = json;
        writer->batch_json_capacity_bytes[batch] = capacity_bytes;
    }
    size_t used_bytes = 0;
    for (uint32_t index = 0; index < count; index++) {
        size_t json_bytes = sim_trace_fields_json_named(writer->batch_json[batch] + used_bytes,
                                                        &events[index], payload_bytes_max[index],
                                                        &writer->row_payload_field[slot + index],
                                                        &writer->json_names);
        assert(json_bytes < bounds[index]);                                     /* W3 */
        writer->row_json_offset[slot + index] = used_bytes;
        writer->row_json_bytes[slot + index] = json_bytes;
        used_bytes += json_bytes + 1;
    }
    assert(used_bytes <= bound_bytes);
    return 0;
}

/* Binds one row's eight columns from parameter `first` on (1 for a one-row statement),
 * with the JSON rows_prepare made for its slot: the payload column holds the payload
 * field's kept bytes, or NULL when the event has none or the cut is 0 (--payload 0).
 * `follows`: the row's seq is one more than the last row stored (W4), so seq is bound as
 * NULL and SQLite gives the row the table's largest rowid plus one, the same value: a
 * NULL key makes SQLite take the table's last row as the place to append, where a given
 * key makes it search the tree for that key first (a fifth of the inserting thread's
 * instructions, docs/trace-schema.md). The stored row and the file are the same.
 * `bound` says what the position holds from the statement's last step: a seq, context,
 * process, layer, kind or NULL payload equal to it is left bound (W5). */
static int row_bind(struct sim_trace_writer *writer, sqlite3_stmt *stmt, int first,
                    uint32_t slot, const struct sim_trace_event *event,
                    uint32_t payload_bytes_max, bool follows, struct row_bound *bound)
{
    const char *json = writer->batch_json[slot / TRACE_RING_STORE_EVENTS_MAX] +
                       writer->row_json_offset[slot];
    uint32_t payload_field = writer->row_payload_field[slot];
    uint32_t kind_bytes = event->kind_bytes != 0 ? event->kind_bytes
                                                 : (uint32_t)strlen(event->kind);
    const char *layer = sim_layer_name(event->layer);
    bool payload_null = payload_field >= event->field_count || payload_bytes_max == 0;
    bool known = bound->valid;
    int rc = SQLITE_OK;
    if (!follows)
        rc |= sqlite3_bind_int64(stmt, first, (sqlite3_int64)event->seq);
    else if (!known || !bound->seq_null)
        rc |= sqlite3_bind_null(stmt, first);
    rc |= sqlite3_bind_int64(stmt, first + 1, (sqlite3_int64)event->time_ns);
    if (!known || bound->ctx != event->ctx)
        rc |= sqlite3_bind_int64(stmt, first + 2, event->ctx);
    if (!known || bound->pid != event->pid)
        rc |= sqlite3_bind_int64(stmt, first + 3, event->pid);
    if (!known || bound->layer != layer)
        rc |= sqlite3_bind_text(stmt, first + 4, layer, -1, SQLITE_STATIC);
    if (!known || bound->kind != event->kind || bound->kind_bytes != kind_bytes)
        rc |= sqlite3_bind_text(stmt, first + 5, event->kind, (int)kind_bytes, SQLITE_STATIC);
    rc |= sqlite3_bind_text64(stmt, first + 6, json, writer->row_json_bytes[slot],
                              SQLITE_STATIC, SQLITE_UTF8);
    if (payload_null) {
        if (!known || !bound->payload_null)
            rc |= sqlite3_bind_null(stmt, first + 7);
    } else {
        uint32_t kept_bytes = sim_trace_field_kept_bytes(event, payload_field, payload_field,
                                                         payload_bytes_max);
        if (kept_bytes == 0)                        /* an empty blob, not NULL */
            rc |= sqlite3_bind_zeroblob(stmt, first + 7, 0);
        else
            rc |= sqlite3_bind_blob(stmt, first + 7,
                                    event->fields[payload_field].value.blob.data,
                                    (int)kept_bytes, SQLITE_STATIC);
    }
    *bound = (struct row_bound){
        .valid = rc == SQLITE_OK, .seq_null = follows, .payload_null = payload_null,
        .ctx = event->ctx, .pid = event->pid, .kind_bytes = kind_bytes, .layer = layer,
        .kind = event->kind,
    };
    return rc;  /* SQLITE_OK is 0: any failure leaves bits set */
}

/* The ring's commit callback (worker thread): ends the open transaction. */
static int transaction_commit(void *state, char *message)
{
    struct sim_trace_writer *writer = state;
    if (sqlite3_get_autocommit(writer->db))
        return 0;
    int rc = step_done(writer, writer->batch_commit, "commit a batch", message);
    if (rc < 0 && !sqlite3_get_autocommit(writer->db))
        sqlite3_exec(writer->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* The ring's store callback, on its storer thread: `count` rows (1, or
 * TRACE_RING_STORE_EVENTS_MAX with the multi-row statement) in the open transaction,
 * begun here if none is. The run's thread does not touch the connection meanwhile. */
static int rows_store(void *state, uint32_t slot, const struct sim_trace_event *events,
                      const uint32_t *payload_bytes_max, uint32_t count, char *message)
{
    struct sim_trace_writer *writer = state;
    _Static_assert(TRACE_RING_STORE_EVENTS_MAX == WRITER_ROWS_PER_INSERT, "one statement");
    assert(count == 1 || count == WRITER_ROWS_PER_INSERT);
    assert(slot + count <= TRACE_RING_SLOTS);
    int rc = 0;
    if (sqlite3_get_autocommit(writer->db))
        rc = step_done(writer, writer->batch_begin, "begin a batch", message);
    sqlite3_stmt *stmt = count == 1 ? writer->event_insert : writer->event_insert_rows;
    int bound = SQLITE_OK;
    for (uint32_t index = 0; rc == 0 && index < count; index++) {
        bool first_row = writer->stored_events + index == 0;
        assert(first_row || events[index].seq > writer->last_seq);                    /* W2 */
        bool follows = !first_row && events[index].seq == writer->last_seq + 1;     /* W4 */
        writer->last_seq = events[index].seq;
        struct row_bound *row_bound = count == 1 ? &writer->one_row_bound
                                                 : &writer->rows_bound[index];
        bound |= row_bind(writer, stmt, (int)(index * WRITER_COLUMNS + 1), slot + index,
                          &events[index], payload_bytes_max[index], follows, row_bound);
    }
    if (rc == 0 && bound != SQLITE_OK) {
        sqlite3_reset(stmt);
        rc = sqlite_fail(writer, "bind event", message);
    }
    if (rc == 0)
        rc = step_done(writer, stmt, "insert event", message);
    assert(rc < 0 || sqlite3_last_insert_rowid(writer->db) ==
                         (sqlite3_int64)writer->last_seq);                              /* W4 */
    if (rc < 0) {
        if (!sqlite3_get_autocommit(writer->db))
            sqlite3_exec(writer->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    writer->stored_events += count;
    return 0;
}

static int writer_emit(void *state, const struct sim_trace_event *event, char *message)
{
    struct sim_trace_writer *writer = state;
    assert(writer != NULL);
    assert(event != NULL);
    assert(message != NULL);
    assert(event->layer >= SIM_LAYER_API && event->layer <= SIM_LAYER_DEVICE);
    assert(event->kind != NULL);
    assert(event->field_count <= SIM_TRACE_FIELDS_MAX);
    assert(event->seq <= (uint64_t)INT64_MAX);
    if (event->layer > writer->level)
        return 0;   /* the engine filters too; a sink must not rely on it */
    /* The ring's one pass over the fields also refuses a field above its limit
     * (SIM_ELIMIT, nothing written); only then, or for a time SQLite cannot hold, does
     * event_check walk the event again, for the message that names the field. */
    if (event->time_ns > (uint64_t)INT64_MAX)
        return event_check(writer, event, message);
    int rc = trace_ring_append(writer->ring, event, writer->payload_bytes_max, message);
    if (rc == SIM_ELIMIT) {
        rc = event_check(writer, event, message);
        assert(rc == SIM_ELIMIT);
    }
    assert(rc == 0 || rc == SIM_ELIMIT || rc == SIM_ENOMEM || rc == SIM_ESINK);
    return rc;
}

struct sim_trace_sink sim_trace_writer_sink(struct sim_trace_writer *writer, enum sim_layer level)
{
    assert(writer != NULL);
    assert(level >= SIM_LAYER_OFF && level <= SIM_LAYER_DEVICE);
    writer->level = level;  /* one sink per writer: the last call sets the level */
    return (struct sim_trace_sink){
        .name = "sqlite",
        .level = level,
        .emit = writer_emit,
        .state = writer,
    };
}

uint64_t sim_trace_writer_event_count(const struct sim_trace_writer *writer)
{
    assert(writer != NULL);
    return trace_ring_appended(writer->ring);
}

struct trace_ring_waits sim_trace_writer_run_waits(const struct sim_trace_writer *writer)
{
    assert(writer != NULL && writer->ring != NULL);
    return trace_ring_run_waits(writer->ring);
}
