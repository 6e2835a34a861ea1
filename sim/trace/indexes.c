/* SPDX-License-Identifier: MIT */
/*
 * sim/trace/indexes.c: the `events` indexes, made by the readers on first use (reader.h).
 *
 * The writer builds no index: building both at the end of a run cost about a fifth of a
 * traced run's time, and many traces are never queried. A reader that wants them (inspect,
 * export) calls sim_trace_indexes_ensure() before it opens the trace read-only: when the
 * file is a closed trace it may write (not a PATH.partial, which a run may still be
 * writing; writable, in a writable directory; no other connection holding the write lock)
 * it creates both in one transaction and checkpoints, so the trace stays one file and the
 * next reader finds them. Otherwise nothing is written and the readers scan instead (a
 * query is slower, never wrong). Indexes change no row: a trace with or without them reads
 * the same.
 */
#include <assert.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "sim/trace/reader.h"
#include "sim/trace/writer.h"

static const char index_sql[] =
    "CREATE INDEX IF NOT EXISTS " SIM_TRACE_INDEX_TIME " ON events(time_ns);"
    "CREATE INDEX IF NOT EXISTS " SIM_TRACE_INDEX_KIND " ON events(kind);";

static const char index_count_sql[] =
    "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'events'"
    " AND name IN ('" SIM_TRACE_INDEX_TIME "', '" SIM_TRACE_INDEX_KIND "')";

/* The file may be written: not a trace being written (PATH.partial), writable, and its
 * directory too (SQLite puts -wal and -shm files beside it). */
static bool writable_trace(const char *path)
{
    size_t length = strlen(path);
    size_t suffix = strlen(SIM_TRACE_PARTIAL_SUFFIX);
    if (length >= PATH_MAX)
        return false;
    if (length >= suffix && strcmp(path + length - suffix, SIM_TRACE_PARTIAL_SUFFIX) == 0)
        return false;
    char directory[PATH_MAX];
    memcpy(directory, path, length + 1);
    return access(path, W_OK) == 0 && access(dirname(directory), W_OK) == 0;
}

static int64_t index_count(sqlite3 *db)
{
    sqlite3_stmt *stmt = NULL;
    int64_t count = -1;
    if (sqlite3_prepare_v2(db, index_count_sql, -1, &stmt, NULL) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW)
        count = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return count;
}

/* Both indexes made through a writable connection of their own. */
static enum sim_trace_indexes indexes_create(const char *path)
{
    sqlite3 *db = NULL;
    enum sim_trace_indexes result = SIM_TRACE_INDEXES_ABSENT;
    /* No busy wait: a connection holding the lock means someone writes; then scan. */
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
        sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK) {
        if (sqlite3_exec(db, index_sql, NULL, NULL, NULL) == SQLITE_OK &&
            sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
            result = SIM_TRACE_INDEXES_CREATED;
        else
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        /* Back into one file, as the writer leaves a trace. */
        sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    }
    sqlite3_close(db);
    return result;
}

/* The check and the count of indexes share one connection, which goes to the caller (when
 * it asks, db_out not NULL) if both indexes are there: reading a trace again opens it
 * once. Otherwise they are made, and the caller gets a read-only connection opened
 * afresh once they are. */
static enum sim_trace_indexes ensure(const char *path, sqlite3 **db_out)
{
    assert(path != NULL);
    char message[SIM_ERROR_MESSAGE_BYTES_MAX];
    sqlite3 *db = NULL;
    if (sim_trace_check_open(path, message, &db) != SIM_TRACE_KIND_TRACE)
        return SIM_TRACE_INDEXES_ABSENT;
    if (index_count(db) == 2) {
        if (db_out != NULL)
            *db_out = db;
        else
            sqlite3_close(db);
        return SIM_TRACE_INDEXES_PRESENT;
    }
    sqlite3_close(db);
    enum sim_trace_indexes result = writable_trace(path) ? indexes_create(path)
                                                         : SIM_TRACE_INDEXES_ABSENT;
    if (db_out != NULL && sim_trace_open_database(path, db_out) != SQLITE_OK) {
        sqlite3_close(*db_out);
        *db_out = NULL;
    }
    return result;
}

enum sim_trace_indexes sim_trace_indexes_ensure(const char *path)
{
    return ensure(path, NULL);
}

enum sim_trace_indexes sim_trace_indexes_ensure_open(const char *path, sqlite3 **db)
{
    assert(db != NULL);
    *db = NULL;
    return ensure(path, db);
}
