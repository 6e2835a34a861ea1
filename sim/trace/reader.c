/* SPDX-License-Identifier: MIT */
/*
 * sim/trace/reader.c: the trace database read back (sim/trace/reader.h).
 *
 * Metadata and files are read whole at open (both are small and bounded); events are
 * stepped through one prepared statement, so a trace of any length is read in constant
 * memory. The connection is SQLITE_OPEN_READONLY: reading never changes a trace.
 *
 * sim_trace_check is the one place that decides whether a path is a trace: replay,
 * inspect and export call it before opening anything (so a FIFO never blocks them and
 * the three say "not a vmcisim trace" alike), and the writer calls it before it may
 * replace a file. sim_trace_check_open hands the connection it checked with to a reader
 * that goes on reading, so a trace is opened once, not once to check and again to read
 * (each open reads the schema again: most of what a small trace costs to read).
 *
 * Invariant R1: rows come back in strictly increasing, non-negative seq; a file that
 * breaks it (an edited trace) is an error, never an assertion.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "sim/trace/reader.h"
#include "sim/trace/writer.h"

struct meta_entry {
    char *key;
    char *value;
};

struct file_entry {
    char *path;
    char *text;
    size_t text_bytes;
};

struct sim_trace_reader {
    sqlite3 *db;
    char path_shown[SIM_MESSAGE_PATH_BYTES_MAX];    /* as every message names the path */
    struct meta_entry meta[SIM_TRACE_READER_META_MAX];
    uint32_t meta_count;
    struct file_entry files[SIM_TRACE_READER_FILES_MAX];
    uint32_t file_count;
    uint64_t event_count;
    sqlite3_stmt *events;
    bool started;
    bool finished;          /* the events statement returned SQLITE_DONE: stays at the end */
    uint64_t last_seq;
};

#define READER_PATH_BYTES_MAX 4096u        /* longer paths are opened without the URI */

/* Writes the "file:" URI of `path` opened immutable, percent-encoding what a URI may not
 * hold as is. Returns false when it does not fit. */
static bool immutable_uri(const char *path, char *uri, size_t uri_bytes)
{
    static const char hex[] = "0123456789abcdef";
    size_t used = (size_t)snprintf(uri, uri_bytes, "file:");
    for (const unsigned char *cursor = (const unsigned char *)path; *cursor != '\0'; cursor++) {
        unsigned char byte = *cursor;
        bool plain = (byte >= 'a' && byte <= 'z') || (byte >= 'A' && byte <= 'Z') ||
                     (byte >= '0' && byte <= '9') || strchr("/-_.~", byte) != NULL;
        if (used + 4 >= uri_bytes)
            return false;
        if (plain) {
            uri[used++] = (char)byte;
        } else {
            uri[used++] = '%';
            uri[used++] = hex[byte >> 4];
            uri[used++] = hex[byte & 15];
        }
    }
    int written = snprintf(uri + used, uri_bytes - used, "?immutable=1");
    return written > 0 && (size_t)written < uri_bytes - used;
}

/* Read-only, and one thread at a time (reader.h). */
#define READER_OPEN_FLAGS (SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX)

int sim_trace_open_database(const char *path, sqlite3 **db)
{
    assert(path != NULL && db != NULL);
    *db = NULL;
    char wal_path[READER_PATH_BYTES_MAX + 8];
    char uri[3 * READER_PATH_BYTES_MAX + 32];
    struct stat info;
    if (strlen(path) < READER_PATH_BYTES_MAX) {
        snprintf(wal_path, sizeof wal_path, "%s-wal", path);
        if (stat(wal_path, &info) != 0 && immutable_uri(path, uri, sizeof uri))
            return sqlite3_open_v2(uri, db, READER_OPEN_FLAGS | SQLITE_OPEN_URI, NULL);
    }
    return sqlite3_open_v2(path, db, READER_OPEN_FLAGS, NULL);
}

__attribute__((format(printf, 2, 3)))
static void message_format(char *message, const char *format, ...)
{
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX, format, arguments);
    va_end(arguments);
}

/* The columns every reader of a trace relies on; "no such table/column" means not ours. */
static const char *const schema_probes[] = {
    "SELECT key, value FROM meta LIMIT 0",
    "SELECT path, text, hash FROM files LIMIT 0",
    "SELECT seq, time_ns, ctx, pid, layer, kind, fields, payload FROM events LIMIT 0",
};

/* One failed SQLite call, worded as sim_trace_check promises. */
static enum sim_trace_kind check_failed(const char *path_shown, sqlite3 *db, char *message)
{
    int code = db != NULL ? sqlite3_errcode(db) : SQLITE_NOMEM;
    const char *why = db != NULL ? sqlite3_errmsg(db) : "out of memory";
    if (code == SQLITE_NOTADB)
        message_format(message, "%s: not a vmcisim trace (not an SQLite database)", path_shown);
    else if (code == SQLITE_CORRUPT)
        message_format(message, "%s: corrupt trace (%s)", path_shown, why);
    else if (strstr(why, "no such") != NULL)
        message_format(message, "%s: not a vmcisim trace (no meta, files and events tables "
                       "with the trace's columns: %s)", path_shown, why);
    else
        message_format(message, "%s: cannot read the trace (%s)", path_shown, why);
    return SIM_TRACE_KIND_OTHER;
}

static enum sim_trace_kind check_schema_version(const char *path_shown, sqlite3 *db,
                                                char *message)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'schema_version'", -1,
                           &stmt, NULL) != SQLITE_OK)
        return check_failed(path_shown, db, message);
    int rc = sqlite3_step(stmt);
    char version[32] = "";
    if (rc == SQLITE_ROW && sqlite3_column_text(stmt, 0) != NULL)
        snprintf(version, sizeof version, "%s", (const char *)sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return check_failed(path_shown, db, message);
    char expected[16];
    snprintf(expected, sizeof(expected), "%d", SIM_TRACE_SCHEMA_VERSION);
    if (rc == SQLITE_DONE || strcmp(version, expected) != 0) {
        message_format(message, "%s: not a vmcisim trace (schema_version %s; this vmcisim "
                       "reads %s)", path_shown, rc == SQLITE_DONE ? "missing" : version, expected);
        return SIM_TRACE_KIND_OTHER;
    }
    return SIM_TRACE_KIND_TRACE;
}

enum sim_trace_kind sim_trace_check_open(const char *path,
                                        char message[SIM_ERROR_MESSAGE_BYTES_MAX],
                                        struct sqlite3 **db_out)
{
    assert(path != NULL && message != NULL && db_out != NULL);
    *db_out = NULL;
    message[0] = '\0';
    char shown[SIM_MESSAGE_PATH_BYTES_MAX];     /* the path as the messages name it */
    sim_message_path(path, shown);
    struct stat info;
    if (stat(path, &info) != 0) {
        int error = errno;
        message_format(message, "%s: cannot open: %s", shown, strerror(error));
        return error == ENOENT ? SIM_TRACE_KIND_ABSENT : SIM_TRACE_KIND_OTHER;
    }
    if (!S_ISREG(info.st_mode)) {
        message_format(message, "%s: not a vmcisim trace (not a regular file)", shown);
        return SIM_TRACE_KIND_OTHER;
    }
    if (info.st_size == 0) {
        message_format(message, "%s: not a vmcisim trace (an empty file)", shown);
        return SIM_TRACE_KIND_EMPTY;
    }
    sqlite3 *db = NULL;
    enum sim_trace_kind kind = SIM_TRACE_KIND_TRACE;
    if (sim_trace_open_database(path, &db) != SQLITE_OK)
        kind = check_failed(shown, db, message);
    for (size_t index = 0; kind == SIM_TRACE_KIND_TRACE &&
                           index < sizeof schema_probes / sizeof schema_probes[0]; index++) {
        sqlite3_stmt *stmt = NULL;
        if (sqlite3_prepare_v2(db, schema_probes[index], -1, &stmt, NULL) != SQLITE_OK)
            kind = check_failed(shown, db, message);
        sqlite3_finalize(stmt);
    }
    if (kind == SIM_TRACE_KIND_TRACE)
        kind = check_schema_version(shown, db, message);
    if (kind == SIM_TRACE_KIND_TRACE)
        *db_out = db;               /* the caller reads on with the checked connection */
    else
        sqlite3_close(db);
    return kind;
}

enum sim_trace_kind sim_trace_check(const char *path, char message[SIM_ERROR_MESSAGE_BYTES_MAX])
{
    sqlite3 *db = NULL;
    enum sim_trace_kind kind = sim_trace_check_open(path, message, &db);
    sqlite3_close(db);
    return kind;
}

static int fail(const struct sim_trace_reader *reader, const char *what, char *message)
{
    message_format(message, "trace %s: %s: %s", reader->path_shown, what,
                   sqlite3_errmsg(reader->db));
    return SIM_ESINK;
}

static char *copy_text(const unsigned char *text, size_t bytes)
{
    char *copy = malloc(bytes + 1);
    if (copy == NULL)
        return NULL;
    if (bytes > 0)
        memcpy(copy, text, bytes);
    copy[bytes] = '\0';
    return copy;
}

static int load_meta(struct sim_trace_reader *reader, char *message)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(reader->db, "SELECT key, value FROM meta ORDER BY key", -1, &stmt,
                           NULL) != SQLITE_OK)
        return fail(reader, "reading meta", message);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (reader->meta_count >= SIM_TRACE_READER_META_MAX) {
            sqlite3_finalize(stmt);
            message_format(message, "trace %s: more than %u meta rows", reader->path_shown,
                           SIM_TRACE_READER_META_MAX);
            return SIM_ELIMIT;
        }
        struct meta_entry *entry = &reader->meta[reader->meta_count];
        entry->key = copy_text(sqlite3_column_text(stmt, 0), (size_t)sqlite3_column_bytes(stmt, 0));
        entry->value = copy_text(sqlite3_column_text(stmt, 1),
                                 (size_t)sqlite3_column_bytes(stmt, 1));
        reader->meta_count++;
        if (entry->key == NULL || entry->value == NULL) {
            sqlite3_finalize(stmt);
            message_format(message, "trace %s: out of memory", reader->path_shown);
            return SIM_ENOMEM;
        }
    }
    sqlite3_finalize(stmt);
    return rc == SQLITE_DONE ? 0 : fail(reader, "reading meta", message);
}

static int file_store(struct sim_trace_reader *reader, sqlite3_stmt *stmt, char *message)
{
    size_t text_bytes = (size_t)sqlite3_column_bytes(stmt, 1);
    if (reader->file_count >= SIM_TRACE_READER_FILES_MAX ||
        text_bytes > SIM_TRACE_READER_FILE_BYTES_MAX) {
        message_format(message, "trace %s: more than %u files, or a file over %u bytes",
                       reader->path_shown, SIM_TRACE_READER_FILES_MAX,
                       SIM_TRACE_READER_FILE_BYTES_MAX);
        return SIM_ELIMIT;
    }
    struct file_entry *entry = &reader->files[reader->file_count++];
    entry->path = copy_text(sqlite3_column_text(stmt, 0), (size_t)sqlite3_column_bytes(stmt, 0));
    entry->text = copy_text(sqlite3_column_text(stmt, 1), text_bytes);
    entry->text_bytes = text_bytes;
    if (entry->path == NULL || entry->text == NULL) {
        message_format(message, "trace %s: out of memory", reader->path_shown);
        return SIM_ENOMEM;
    }
    /* Catches a damaged or carelessly edited text; a deliberate editor can fix the hash,
     * so whoever runs the text must treat it as hostile anyway (the sandbox does). */
    char hex[33];
    sim_trace_text_hash_hex(entry->text, text_bytes, hex);
    const unsigned char *stored = sqlite3_column_text(stmt, 2);
    if (stored == NULL || strcmp((const char *)stored, hex) != 0) {
        char shown[SIM_MESSAGE_PATH_BYTES_MAX];
        message_format(message, "%s: corrupt trace (the recorded text of %s does not "
                       "match its stored hash)", reader->path_shown,
                       sim_message_path(entry->path, shown));
        return SIM_ESINK;
    }
    return 0;
}

static int load_files(struct sim_trace_reader *reader, char *message)
{
    sqlite3_stmt *stmt = NULL;
    const char *sql = "SELECT path, text, hash FROM files ORDER BY path";
    if (sqlite3_prepare_v2(reader->db, sql, -1, &stmt, NULL) != SQLITE_OK)
        return fail(reader, "reading files", message);
    int rc;
    int stored = 0;
    while (stored == 0 && (rc = sqlite3_step(stmt)) == SQLITE_ROW)
        stored = file_store(reader, stmt, message);
    sqlite3_finalize(stmt);
    if (stored < 0)
        return stored;
    return rc == SQLITE_DONE ? 0 : fail(reader, "reading files", message);
}

static int count_events(struct sim_trace_reader *reader, char *message)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(reader->db, "SELECT count(*) FROM events", -1, &stmt, NULL) !=
        SQLITE_OK)
        return fail(reader, "reading events", message);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        reader->event_count = (uint64_t)sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    if (rc != SQLITE_ROW)
        return fail(reader, "reading events", message);
    const char *sql = "SELECT seq, time_ns, ctx, pid, layer, kind, fields, payload FROM events"
                      " ORDER BY seq";
    if (sqlite3_prepare_v2(reader->db, sql, -1, &reader->events, NULL) != SQLITE_OK)
        return fail(reader, "reading events", message);
    return 0;
}

int sim_trace_reader_open(const char *path, struct sim_trace_reader **out,
                          char message[SIM_ERROR_MESSAGE_BYTES_MAX])
{
    assert(path != NULL && out != NULL && message != NULL);
    *out = NULL;
    struct sim_trace_reader *reader = calloc(1, sizeof(*reader));
    if (reader == NULL) {
        char shown[SIM_MESSAGE_PATH_BYTES_MAX];
        message_format(message, "trace %s: out of memory", sim_message_path(path, shown));
        return SIM_ENOMEM;
    }
    sim_message_path(path, reader->path_shown);
    int rc = 0;
    /* The connection the check opened is the one read from (one open of the file). */
    if (sim_trace_check_open(path, message, &reader->db) != SIM_TRACE_KIND_TRACE)
        rc = SIM_ESINK;             /* the message says why, in the shared wording */
    if (rc == 0)
        rc = load_meta(reader, message);
    if (rc == 0)
        rc = load_files(reader, message);
    if (rc == 0)
        rc = count_events(reader, message);
    if (rc < 0) {
        sim_trace_reader_close(reader);
        return rc;
    }
    *out = reader;
    return 0;
}

void sim_trace_reader_close(struct sim_trace_reader *reader)
{
    if (reader == NULL)
        return;
    sqlite3_finalize(reader->events);
    sqlite3_close(reader->db);      /* NULL is fine; a failed open still allocated one */
    for (uint32_t index = 0; index < reader->meta_count; index++) {
        free(reader->meta[index].key);
        free(reader->meta[index].value);
    }
    for (uint32_t index = 0; index < reader->file_count; index++) {
        free(reader->files[index].path);
        free(reader->files[index].text);
    }
    free(reader);
}

const char *sim_trace_reader_meta(const struct sim_trace_reader *reader, const char *key)
{
    assert(reader != NULL && key != NULL);
    for (uint32_t index = 0; index < reader->meta_count; index++) {
        if (strcmp(reader->meta[index].key, key) == 0)
            return reader->meta[index].value;
    }
    return NULL;
}

uint32_t sim_trace_reader_file_count(const struct sim_trace_reader *reader)
{
    assert(reader != NULL);
    return reader->file_count;
}

struct sim_trace_file sim_trace_reader_file(const struct sim_trace_reader *reader, uint32_t index)
{
    assert(reader != NULL && index < reader->file_count);
    const struct file_entry *entry = &reader->files[index];
    return (struct sim_trace_file){ entry->path, entry->text, entry->text_bytes };
}

uint64_t sim_trace_reader_event_count(const struct sim_trace_reader *reader)
{
    assert(reader != NULL);
    return reader->event_count;
}

static const char *column_text(sqlite3_stmt *stmt, int column)
{
    const unsigned char *text = sqlite3_column_text(stmt, column);
    return text != NULL ? (const char *)text : "";
}

/* Whether `column` holds an SQLite INTEGER from 0 to `max`. */
static bool integer_in(sqlite3_stmt *stmt, int column, uint64_t max)
{
    if (sqlite3_column_type(stmt, column) != SQLITE_INTEGER)
        return false;
    int64_t value = sqlite3_column_int64(stmt, column);
    return value >= 0 && (uint64_t)value <= max;
}

int sim_trace_reader_next(struct sim_trace_reader *reader, struct sim_trace_row *row,
                          char message[SIM_ERROR_MESSAGE_BYTES_MAX])
{
    assert(reader != NULL && row != NULL && message != NULL);
    if (reader->finished)
        return 0;           /* a step after DONE would start the query again */
    int rc = sqlite3_step(reader->events);
    if (rc == SQLITE_DONE) {
        reader->finished = true;
        return 0;
    }
    if (rc != SQLITE_ROW)
        return fail(reader, "reading events", message);
    sqlite3_stmt *stmt = reader->events;
    row->seq = (uint64_t)sqlite3_column_int64(stmt, 0);
    row->time_ns = (uint64_t)sqlite3_column_int64(stmt, 1);
    row->ctx = (uint32_t)sqlite3_column_int64(stmt, 2);
    row->pid = (uint32_t)sqlite3_column_int64(stmt, 3);
    row->layer = column_text(stmt, 4);
    row->kind = column_text(stmt, 5);
    row->fields = column_text(stmt, 6);
    row->fields_bytes = (size_t)sqlite3_column_bytes(stmt, 6);
    row->has_payload = sqlite3_column_type(stmt, 7) != SQLITE_NULL;
    row->payload = row->has_payload ? sqlite3_column_blob(stmt, 7) : NULL;
    row->payload_bytes = row->has_payload ? (size_t)sqlite3_column_bytes(stmt, 7) : 0;
    if (sqlite3_column_type(stmt, 0) != SQLITE_INTEGER || sqlite3_column_int64(stmt, 0) < 0 ||
        (reader->started && row->seq <= reader->last_seq)) {                     /* R1 */
        message_format(message, "%s: corrupt trace (event seq '%.40s' is not a non-negative "
                       "integer above the one before)", reader->path_shown, column_text(stmt, 0));
        return SIM_ESINK;
    }
    /* The other numbers are compared whole, so each must be what the writer stores: an
     * integer in its range. A wider or non-integer value would be read cut (a pid of
     * 2^32 + 1 as 1) and compare equal to the re-run's. */
    static const struct { int column; const char *name; uint64_t max; const char *max_text; }
        numbers[] = { { 1, "time_ns", INT64_MAX, "2^63-1" }, { 2, "ctx", UINT32_MAX, "2^32-1" },
                      { 3, "pid", UINT32_MAX, "2^32-1" } };
    for (size_t index = 0; index < sizeof(numbers) / sizeof(numbers[0]); index++) {
        if (integer_in(stmt, numbers[index].column, numbers[index].max))
            continue;
        message_format(message, "%s: corrupt trace (event seq %" PRIu64 ": %s '%.40s' is not "
                       "an integer from 0 to %s)", reader->path_shown, row->seq,
                       numbers[index].name,
                       column_text(stmt, numbers[index].column), numbers[index].max_text);
        return SIM_ESINK;
    }
    reader->started = true;
    reader->last_seq = row->seq;
    return 1;
}
