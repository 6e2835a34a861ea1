/* SPDX-License-Identifier: MIT */
/*
 * sim/export/trace_read.c: the exporters' read-only view of a trace database.
 *
 * A scan is one SQL statement over `events` in seq order. The fields an exporter needs
 * are extracted by SQLite (json_extract) rather than by a JSON parser of ours: the
 * `fields` text is SQLite's to read (docs/trace-schema.md shows json_extract to users),
 * and a field an exporter does not ask for costs nothing.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "export_int.h"
#include "sim/trace/reader.h"
#include "sim/trace/writer.h"

/* Column of the first extracted field: after seq .. payload. */
#define FIRST_FIELD_COLUMN 8
/* The scan's SQL: the fixed columns, one json_extract per field, the kind list. */
#define SCAN_SQL_BYTES_MAX 4096u
/* Trace paths opened without side files (open_database); longer ones open plainly. */

static const char *const field_names[EXPORT__F_COUNT] = {
    [EXPORT__F_TYPE] = "type", [EXPORT__F_SRC] = "src", [EXPORT__F_DST] = "dst",
    [EXPORT__F_U0] = "u0", [EXPORT__F_U1] = "u1", [EXPORT__F_PROTO] = "proto",
    [EXPORT__F_NAME] = "name", [EXPORT__F_VM] = "vm", [EXPORT__F_CID] = "cid",
    [EXPORT__F_ASSIGNED] = "assigned", [EXPORT__F_PORT] = "port", [EXPORT__F_BYTES] = "bytes",
    [EXPORT__F_SIZE] = "size", [EXPORT__F_SRC_CID] = "src_cid", [EXPORT__F_SRC_RID] = "src_rid",
    [EXPORT__F_DST_CID] = "dst_cid", [EXPORT__F_DST_RID] = "dst_rid",
    [EXPORT__F_RESULT] = "result", [EXPORT__F_WAITS_ON] = "waits_on",
    [EXPORT__F_REASON] = "reason", [EXPORT__F_SOCKET] = "socket",
};

struct export__trace {
    sqlite3 *db;
    sqlite3_stmt *scan;
    const char *path;               /* borrowed: the caller's argument */
};

static void say(char *message, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX, format, args);
    va_end(args);
}

/* Why a statement on the trace failed, in words a user can act on. */
static void say_sqlite(char *message, const struct export__trace *trace, const char *what)
{
    int code = sqlite3_errcode(trace->db);
    if (code == SQLITE_NOTADB)
        say(message, "%s is not a vmcisim trace: not an SQLite database", trace->path);
    else if (strstr(sqlite3_errmsg(trace->db), "no such table") != NULL)
        say(message, "%s is not a vmcisim trace (%s)", trace->path, sqlite3_errmsg(trace->db));
    else if (code == SQLITE_CORRUPT)
        say(message, "%s: the trace is corrupt (%s: %s)", trace->path, what,
            sqlite3_errmsg(trace->db));
    else
        say(message, "%s is not a readable vmcisim trace (%s: %s)", trace->path, what,
            sqlite3_errmsg(trace->db));
}

/* The schema check: meta.schema_version is the writer's and `events` has its columns. */
static int check_schema(struct export__trace *trace, char *message)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(trace->db, "SELECT value FROM meta WHERE key = 'schema_version'",
                           -1, &stmt, NULL) != SQLITE_OK) {
        say_sqlite(message, trace, "reading meta");
        return -1;
    }
    int rc = sqlite3_step(stmt);
    char version[32] = "";
    if (rc == SQLITE_ROW && sqlite3_column_text(stmt, 0) != NULL)
        snprintf(version, sizeof version, "%s", (const char *)sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        say_sqlite(message, trace, "reading meta");
        return -1;
    }
    if (rc == SQLITE_DONE) {
        say(message, "%s is not a vmcisim trace: meta has no schema_version", trace->path);
        return -1;
    }
    if (strtol(version, NULL, 10) != SIM_TRACE_SCHEMA_VERSION) {
        say(message, "%s: trace schema version '%s' is not the supported %d", trace->path,
            version, SIM_TRACE_SCHEMA_VERSION);
        return -1;
    }
    if (sqlite3_prepare_v2(trace->db, "SELECT seq, time_ns, ctx, pid, layer, kind, fields, "
                           "payload FROM events LIMIT 0", -1, &stmt, NULL) != SQLITE_OK) {
        say_sqlite(message, trace, "reading events");
        return -1;
    }
    sqlite3_finalize(stmt);
    return 0;
}

int export__trace_open(const char *path, struct export__trace **out, char *message)
{
    *out = NULL;
    struct stat info;
    if (stat(path, &info) != 0) {
        say(message, "cannot open trace %s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(info.st_mode)) {
        say(message, "cannot open trace %s: not a regular file", path);
        return -1;
    }
    struct export__trace *trace = calloc(1, sizeof *trace);
    if (trace == NULL) {
        say(message, "cannot open trace %s: out of memory", path);
        return -1;
    }
    trace->path = path;
    /* Indexes on first use (docs/trace-schema.md). A trace that passes the check comes back
     * open (once, when it has its indexes); anything else is opened here, to say why. */
    (void)sim_trace_indexes_ensure_open(path, &trace->db);
    if (trace->db == NULL && sim_trace_open_database(path, &trace->db) != SQLITE_OK) {
        say(message, "cannot open trace %s: %s", path,
            trace->db != NULL ? sqlite3_errmsg(trace->db) : "out of memory");
        export__trace_close(trace);
        return -1;
    }
    if (check_schema(trace, message) != 0) {
        export__trace_close(trace);
        return -1;
    }
    *out = trace;
    return 0;
}

void export__trace_close(struct export__trace *trace)
{
    if (trace == NULL)
        return;
    sqlite3_finalize(trace->scan);
    sqlite3_close(trace->db);
    free(trace);
}

/* Appends to `sql`; returns false when SCAN_SQL_BYTES_MAX would be exceeded. */
static bool append(char *sql, size_t *used, const char *format, const char *text)
{
    int written = snprintf(sql + *used, SCAN_SQL_BYTES_MAX - *used, format, text);
    if (written < 0 || (size_t)written >= SCAN_SQL_BYTES_MAX - *used)
        return false;
    *used += (size_t)written;
    return true;
}

/* Builds the scan's SQL. Kinds and field names are the exporters' constants ([a-z0-9_]),
 * never user input, so they are written into the text. */
static bool build_sql(char *sql, bool windowed, const char *const *kinds, uint32_t field_mask)
{
    size_t used = 0;
    bool ok = append(sql, &used, "%s", "SELECT seq, time_ns, ctx, pid, layer, kind, fields, "
                     "payload");
    for (unsigned field = 0; field < EXPORT__F_COUNT && ok; field++) {
        if (field_mask & EXPORT__FIELD_BIT(field))
            ok = append(sql, &used, ", json_extract(fields, '$.%s')", field_names[field]);
        else
            ok = append(sql, &used, "%s", ", NULL");
    }
    ok = ok && append(sql, &used, "%s", " FROM events WHERE 1");
    if (windowed)
        ok = ok && append(sql, &used, "%s", " AND time_ns BETWEEN ?1 AND ?2");
    if (kinds != NULL) {
        ok = ok && append(sql, &used, "%s", " AND kind IN (''");
        for (unsigned index = 0; index < EXPORT__SCAN_KINDS_MAX && kinds[index] != NULL; index++)
            ok = ok && append(sql, &used, ", '%s'", kinds[index]);
        ok = ok && append(sql, &used, "%s", ")");
    }
    return ok && append(sql, &used, "%s", " ORDER BY seq");
}

int export__trace_scan(struct export__trace *trace, uint64_t from_ns, uint64_t to_ns,
                       const char *const *kinds, uint32_t field_mask, char *message)
{
    char sql[SCAN_SQL_BYTES_MAX];
    bool windowed = from_ns > 0 || to_ns < (uint64_t)INT64_MAX;
    if (!build_sql(sql, windowed, kinds, field_mask)) {
        say(message, "%s: internal error: scan query over SCAN_SQL_BYTES_MAX", trace->path);
        return -1;
    }
    sqlite3_finalize(trace->scan);
    trace->scan = NULL;
    if (sqlite3_prepare_v2(trace->db, sql, -1, &trace->scan, NULL) != SQLITE_OK) {
        say_sqlite(message, trace, "reading events");
        return -1;
    }
    if (windowed) {
        /* Stored times are at most INT64_MAX (trace-schema.md), so clamping loses nothing. */
        sqlite3_bind_int64(trace->scan, 1, from_ns > INT64_MAX ? INT64_MAX : (int64_t)from_ns);
        sqlite3_bind_int64(trace->scan, 2, to_ns > INT64_MAX ? INT64_MAX : (int64_t)to_ns);
    }
    return 0;
}

static const char *column_text(sqlite3_stmt *stmt, int column)
{
    const unsigned char *text = sqlite3_column_text(stmt, column);
    return text != NULL ? (const char *)text : "";
}

int export__trace_next(struct export__trace *trace, struct export__event *event, char *message)
{
    int rc = sqlite3_step(trace->scan);
    if (rc == SQLITE_DONE)
        return 0;
    if (rc != SQLITE_ROW) {
        say_sqlite(message, trace, "reading events");
        return -1;
    }
    sqlite3_stmt *stmt = trace->scan;
    event->seq = (uint64_t)sqlite3_column_int64(stmt, 0);
    event->time_ns = (uint64_t)sqlite3_column_int64(stmt, 1);
    event->ctx = (uint32_t)sqlite3_column_int64(stmt, 2);
    event->pid = (uint32_t)sqlite3_column_int64(stmt, 3);
    event->layer = column_text(stmt, 4);
    event->kind = column_text(stmt, 5);
    event->fields = column_text(stmt, 6);
    if (event->fields[0] == '\0')
        event->fields = "{}";
    event->payload = sqlite3_column_type(stmt, 7) == SQLITE_NULL
                         ? NULL : (const uint8_t *)sqlite3_column_blob(stmt, 7);
    event->payload_bytes = event->payload != NULL ? (uint32_t)sqlite3_column_bytes(stmt, 7) : 0;
    event->trace = trace;
    return 1;
}

bool export__field_present(const struct export__event *event, enum export__field field)
{
    return sqlite3_column_type(event->trace->scan, FIRST_FIELD_COLUMN + (int)field) != SQLITE_NULL;
}

uint64_t export__field_u64(const struct export__event *event, enum export__field field)
{
    sqlite3_stmt *stmt = event->trace->scan;
    int column = FIRST_FIELD_COLUMN + (int)field;
    switch (sqlite3_column_type(stmt, column)) {
    case SQLITE_INTEGER:
        return (uint64_t)sqlite3_column_int64(stmt, column);
    case SQLITE_TEXT:       /* a U64 above INT64_MAX, as decimal digits */
        return strtoull(column_text(stmt, column), NULL, 10);
    default:
        return 0;
    }
}

int64_t export__field_i64(const struct export__event *event, enum export__field field)
{
    sqlite3_stmt *stmt = event->trace->scan;
    int column = FIRST_FIELD_COLUMN + (int)field;
    if (sqlite3_column_type(stmt, column) == SQLITE_TEXT)
        return (int64_t)strtoull(column_text(stmt, column), NULL, 10);
    return sqlite3_column_int64(stmt, column);
}

const char *export__field_str(const struct export__event *event, enum export__field field)
{
    return column_text(event->trace->scan, FIRST_FIELD_COLUMN + (int)field);
}
