/* SPDX-License-Identifier: MIT */
/*
 * sim/cli/summary_load.c: `inspect` reads the summary tables back (summary.h).
 *
 * The file is hostile until proven otherwise: the tables are used only when the trace is
 * complete, summary_info names this trace's digest and last seq, and the hash of the rows
 * matches; then each value is checked against the range its field may hold (and every
 * index against the table it points into) as it is loaded. A failed check is reported once
 * on stderr and the view computes from the events: it never fails, never crashes, and
 * never prints a figure from a row that did not pass.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sim/cli/inspect_model.h"
#include "sim/cli/summary.h"
#include "sim/cli/summary_int.h"

#define INFO_ROWS_MAX 64u        /* summary_info has 8 keys; more is not ours */
#define INFO_TEXT_BYTES 64u

struct summary_info {
    int64_t version, events, seq_max, model_end_ns;
    int has_version, has_seq_max, has_model_end;
    char digest[INFO_TEXT_BYTES], hash[INFO_TEXT_BYTES];
};

static void ignored(struct inspect *inspect, const char *why)
{
    fprintf(stderr, "vmcisim %s: %s: summary tables ignored (%s); computing from the events\n",
            inspect->command != NULL ? inspect->command : "inspect", inspect->path, why);
    inspect->summary = 0;
}

static sqlite3_stmt *prepare(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *statement = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &statement, NULL) != SQLITE_OK) {
        sqlite3_finalize(statement);
        return NULL;
    }
    return statement;
}

/* One integer from a query of one row; -1 when it is not one. */
static int query_i64(sqlite3 *db, const char *sql, int64_t *value)
{
    sqlite3_stmt *statement = prepare(db, sql);
    int ok = statement != NULL && sqlite3_step(statement) == SQLITE_ROW &&
             sqlite3_column_type(statement, 0) == SQLITE_INTEGER;
    if (ok)
        *value = sqlite3_column_int64(statement, 0);
    sqlite3_finalize(statement);
    return ok ? 0 : -1;
}

static void copy_text(sqlite3_stmt *statement, int column, char *text, size_t text_bytes)
{
    text[0] = '\0';
    if (sqlite3_column_type(statement, column) == SQLITE_TEXT &&
        (size_t)sqlite3_column_bytes(statement, column) < text_bytes)
        snprintf(text, text_bytes, "%s", (const char *)sqlite3_column_text(statement, column));
}

static int read_info(sqlite3 *db, struct summary_info *info)
{
    *info = (struct summary_info){ 0 };
    sqlite3_stmt *statement = prepare(db, "SELECT key, value FROM summary_info");
    if (statement == NULL)
        return -1;
    int rc = SQLITE_DONE;
    for (uint32_t rows = 0; (rc = sqlite3_step(statement)) == SQLITE_ROW; rows++) {
        const unsigned char *key = sqlite3_column_text(statement, 0);
        int integer = sqlite3_column_type(statement, 1) == SQLITE_INTEGER;
        int64_t value = sqlite3_column_int64(statement, 1);
        if (rows == INFO_ROWS_MAX || key == NULL)
            break;
        if (strcmp((const char *)key, "version") == 0 && integer)
            info->version = value, info->has_version = 1;
        else if (strcmp((const char *)key, "seq_max") == 0 && integer)
            info->seq_max = value, info->has_seq_max = 1;
        else if (strcmp((const char *)key, "model_end_ns") == 0 && integer && value >= 0)
            info->model_end_ns = value, info->has_model_end = 1;
        else if (strcmp((const char *)key, "digest") == 0)
            copy_text(statement, 1, info->digest, sizeof info->digest);
        else if (strcmp((const char *)key, "hash") == 0)
            copy_text(statement, 1, info->hash, sizeof info->hash);
    }
    sqlite3_finalize(statement);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Why the tables may not answer for this trace, or NULL when they may. */
static const char *check_info(sqlite3 *db, const struct summary_info *info)
{
    if (!info->has_version || info->version != SUMMARY_VERSION)
        return "summary_info has no version this vmcisim reads";
    sqlite3_stmt *statement = prepare(db, "SELECT value FROM meta WHERE key = 'digest'");
    int same = statement != NULL && sqlite3_step(statement) == SQLITE_ROW &&
               sqlite3_column_type(statement, 0) == SQLITE_TEXT && info->digest[0] != '\0' &&
               strcmp((const char *)sqlite3_column_text(statement, 0), info->digest) == 0;
    sqlite3_finalize(statement);
    if (!same)
        return "they were not built for this trace's digest";
    int64_t seq_max = 0;
    if (!info->has_seq_max || !info->has_model_end ||
        query_i64(db, "SELECT coalesce(max(seq), 0) FROM events", &seq_max) != 0 ||
        seq_max != info->seq_max)
        return "they do not end at the trace's last event";
    /* Real tables only: a view of the same name could compute rows without end. */
    int64_t tables = 0;
    if (query_i64(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN "
                  "('summary_kinds', 'summary_errors', 'summary_names', 'summary_bindings', "
                  "'summary_processes', 'summary_sockets', 'summary_socket_errors', "
                  "'summary_connections')", &tables) != 0 ||
        tables != SUMMARY_TABLES_HASHED)
        return "a summary table is missing or unreadable";
    uint64_t hash = 0;
    char hash_hex[17];
    if (summary_hash(db, &hash) != 0)
        return "a summary table is missing or unreadable";
    snprintf(hash_hex, sizeof hash_hex, "%016" PRIx64, hash);
    if (strcmp(hash_hex, info->hash) != 0)
        return "their rows do not match their hash: changed after the run";
    return NULL;
}

void summary_probe(struct inspect *inspect)
{
    assert(inspect != NULL && inspect->db != NULL);
    inspect->summary = 0;
    int64_t present = 0;
    if (query_i64(inspect->db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                  "name = 'summary_info'", &present) != 0 || present == 0)
        return;                         /* an older trace, or a partial one: no tables */
    struct summary_info info;
    const char *why = read_info(inspect->db, &info) != 0 ? "summary_info is unreadable"
                                                         : check_info(inspect->db, &info);
    if (why != NULL) {
        ignored(inspect, why);
        return;
    }
    inspect->summary = 1;
}

/* An integer column in [minimum, maximum]; -1 otherwise. */
static int column_in(sqlite3_stmt *statement, int column, int64_t minimum, int64_t maximum,
                     int64_t *value)
{
    if (sqlite3_column_type(statement, column) != SQLITE_INTEGER)
        return -1;
    *value = sqlite3_column_int64(statement, column);
    return *value >= minimum && *value <= maximum ? 0 : -1;
}

/* A text column that fits `text_bytes` with its NUL and holds no NUL; -1 otherwise. */
static int column_text(sqlite3_stmt *statement, int column, char *text, size_t text_bytes)
{
    if (sqlite3_column_type(statement, column) != SQLITE_TEXT)
        return -1;
    const char *value = (const char *)sqlite3_column_text(statement, column);
    size_t length = (size_t)sqlite3_column_bytes(statement, column);
    if (value == NULL || length >= text_bytes || strlen(value) != length)
        return -1;
    memcpy(text, value, length + 1);
    return 0;
}

static int load_name_rows(sqlite3 *db, struct inspect_names *names)
{
    sqlite3_stmt *statement = prepare(db, "SELECT number, name FROM summary_names "
                                          "ORDER BY number");
    int rc = statement != NULL ? SQLITE_ROW : SQLITE_ERROR, bad = 0;
    while (!bad && (rc = sqlite3_step(statement)) == SQLITE_ROW) {
        uint32_t index = names->name_count == 0 ? 1u : names->name_count;
        int64_t number = 0;
        void *array = names->names;
        bad = column_in(statement, 0, index, index, &number) != 0 ||
              inspect_array_reserve(&array, &names->name_capacity, index, INSPECT_NAME_BYTES,
                                    INSPECT_NAMES_MAX) != 0;
        names->names = array;
        if (!bad)
            bad = column_text(statement, 1, names->names[index], INSPECT_NAME_BYTES) != 0;
        if (!bad)
            names->name_count = index + 1;          /* index 0 stays "" */
    }
    sqlite3_finalize(statement);
    return !bad && rc == SQLITE_DONE ? 0 : -1;
}

static int load_binding_rows(sqlite3 *db, struct inspect_names *names)
{
    sqlite3_stmt *statement = prepare(db, "SELECT number, seq, cid, name FROM "
                                          "summary_bindings ORDER BY number");
    int rc = statement != NULL ? SQLITE_ROW : SQLITE_ERROR, bad = 0;
    while (!bad && (rc = sqlite3_step(statement)) == SQLITE_ROW) {
        uint32_t count = names->binding_count;
        int64_t number = 0, seq = 0, cid = 0, name = 0;
        void *array = names->bindings;
        bad = column_in(statement, 0, count + 1, count + 1, &number) != 0 ||
              column_in(statement, 1, 0, INT64_MAX, &seq) != 0 ||
              column_in(statement, 2, 0, UINT32_MAX, &cid) != 0 ||
              column_in(statement, 3, 1, (int64_t)names->name_count - 1, &name) != 0 ||
              inspect_array_reserve(&array, &names->binding_capacity, count,
                                    sizeof(struct inspect_binding), INSPECT_BINDINGS_MAX) != 0;
        names->bindings = array;
        if (bad)
            break;
        struct inspect_binding binding = { .seq = (uint64_t)seq, .cid = (uint32_t)cid,
                                           .name_index = (uint32_t)name };
        const struct inspect_binding *last = count > 0 ? &names->bindings[count - 1] : NULL;
        /* inspect_owner's binary search needs the (cid, seq) order. */
        bad = last != NULL && (last->cid > binding.cid ||
                               (last->cid == binding.cid && last->seq > binding.seq));
        names->bindings[names->binding_count++] = binding;
    }
    sqlite3_finalize(statement);
    return !bad && rc == SQLITE_DONE ? 0 : -1;
}

static int load_process_rows(sqlite3 *db, struct inspect_names *names)
{
    sqlite3_stmt *statement = prepare(db, "SELECT pid, name, endpoint FROM summary_processes "
                                          "ORDER BY pid");
    int rc = statement != NULL ? SQLITE_ROW : SQLITE_ERROR, bad = 0;
    while (!bad && (rc = sqlite3_step(statement)) == SQLITE_ROW) {
        int64_t pid = 0, owner = 0;
        void *array = names->processes;
        bad = column_in(statement, 0, 0, INSPECT_PROCESSES_MAX - 1, &pid) != 0 ||
              column_in(statement, 2, 0, names->name_count > 0 ? names->name_count - 1 : 0,
                        &owner) != 0 ||
              inspect_array_reserve(&array, &names->process_capacity, (uint32_t)pid,
                                    sizeof(struct inspect_process), INSPECT_PROCESSES_MAX) != 0;
        names->processes = array;
        if (!bad) {
            struct inspect_process *process = &names->processes[pid];
            process->owner_index = (uint32_t)owner;
            bad = column_text(statement, 1, process->name, sizeof process->name) != 0;
        }
    }
    sqlite3_finalize(statement);
    return !bad && rc == SQLITE_DONE ? 0 : -1;
}

int summary_load_names(struct inspect *inspect)
{
    assert(inspect != NULL && inspect->summary);
    struct inspect_names *names = &inspect->names;
    inspect_names_free(names);
    if (load_name_rows(inspect->db, names) == 0 && load_binding_rows(inspect->db, names) == 0 &&
        load_process_rows(inspect->db, names) == 0)
        return 0;
    inspect_names_free(names);
    ignored(inspect, "summary_names, summary_bindings or summary_processes holds a value out "
                     "of range");
    return -1;
}

/* One sockets or connections row into `record`; -1 when a value is out of its range. */
static int read_record(sqlite3_stmt *statement, void *record,
                       const struct summary_column *columns, uint32_t count)
{
    for (uint32_t index = 0; index < count; index++) {
        char *field = (char *)record + columns[index].offset;
        int column = (int)index + 1;
        int64_t value = 0;
        uint32_t u32;
        uint64_t u64;
        int flag;
        enum socket_type type;
        switch (columns[index].value) {
        case SUMMARY_U32:
            if (column_in(statement, column, 0, UINT32_MAX, &value) != 0)
                return -1;
            u32 = (uint32_t)value;
            memcpy(field, &u32, sizeof u32);
            break;
        case SUMMARY_U64:
            if (column_in(statement, column, INT64_MIN, INT64_MAX, &value) != 0)
                return -1;
            u64 = (uint64_t)value;
            memcpy(field, &u64, sizeof u64);
            break;
        case SUMMARY_FLAG:
            if (column_in(statement, column, 0, 1, &value) != 0)
                return -1;
            flag = (int)value;
            memcpy(field, &flag, sizeof flag);
            break;
        case SUMMARY_TYPE:
            if (column_in(statement, column, TYPE_UNKNOWN, TYPE_DGRAM, &value) != 0)
                return -1;
            type = (enum socket_type)value;
            memcpy(field, &type, sizeof type);
            break;
        case SUMMARY_TEXT:
            if (column_text(statement, column, field, columns[index].text_bytes) != 0)
                return -1;
            break;
        }
    }
    return 0;
}

/* All rows of a record table, numbered 1..count in order; 0 or -1. */
static int load_records(sqlite3 *db, const char *table, void **records, uint32_t *count,
                        size_t record_bytes, uint32_t limit,
                        const struct summary_column *columns, uint32_t column_count)
{
    char sql[SUMMARY_SQL_BYTES_MAX];
    int64_t rows = 0;
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    if (query_i64(db, sql, &rows) != 0 || rows < 0 || rows > limit ||
        summary_sql_select(table, columns, column_count, sql, sizeof sql) != 0)
        return -1;
    *records = calloc(rows > 0 ? (size_t)rows : 1u, record_bytes);
    sqlite3_stmt *statement = *records != NULL ? prepare(db, sql) : NULL;
    int rc = statement != NULL ? SQLITE_ROW : SQLITE_ERROR, bad = 0;
    while (!bad && (rc = sqlite3_step(statement)) == SQLITE_ROW) {
        int64_t number = 0;
        bad = *count >= rows || column_in(statement, 0, *count + 1, *count + 1, &number) != 0 ||
              read_record(statement, (char *)*records + (size_t)*count * record_bytes, columns,
                          column_count) != 0;
        *count += !bad;
    }
    sqlite3_finalize(statement);
    return !bad && rc == SQLITE_DONE && *count == rows ? 0 : -1;
}

static int load_socket_errors(sqlite3 *db, struct model *model)
{
    sqlite3_stmt *statement = prepare(db, "SELECT socket, position, call, result, count FROM "
                                          "summary_socket_errors ORDER BY socket, position");
    int rc = statement != NULL ? SQLITE_ROW : SQLITE_ERROR, bad = 0;
    while (!bad && (rc = sqlite3_step(statement)) == SQLITE_ROW) {
        int64_t number = 0, position = 0, call = 0, result = 0, count = 0;
        bad = column_in(statement, 0, 1, model->socket_count, &number) != 0;
        struct socket_record *socket = bad ? NULL : &model->sockets[number - 1];
        bad = bad || column_in(statement, 1, socket->error_count, socket->error_count,
                               &position) != 0 || position >= SOCKET_ERRORS_KEPT ||
              column_in(statement, 2, 0, CALL_COUNT - 1, &call) != 0 ||
              column_in(statement, 3, INT32_MIN, INT32_MAX, &result) != 0 ||
              column_in(statement, 4, INT64_MIN, INT64_MAX, &count) != 0;
        if (!bad)
            socket->errors[socket->error_count++] = (struct socket_error){
                .call = (uint8_t)call, .result = (int32_t)result, .count = (uint64_t)count };
    }
    sqlite3_finalize(statement);
    return !bad && rc == SQLITE_DONE ? 0 : -1;
}

/* Every index a view follows points into its table. */
static int check_links(const struct model *model, uint32_t name_count)
{
    for (uint32_t index = 0; index < model->socket_count; index++) {
        const struct socket_record *socket = &model->sockets[index];
        if (socket->connection > model->connection_count ||
            (socket->owner != 0 && socket->owner >= name_count))
            return -1;
    }
    for (uint32_t index = 0; index < model->connection_count; index++) {
        const struct connection *connection = &model->connections[index];
        for (int side = 0; side < SIDE_COUNT; side++) {
            if (connection->socket[side] > model->socket_count ||
                (connection->owner[side] != 0 && connection->owner[side] >= name_count))
                return -1;
        }
    }
    return 0;
}

int summary_load_model(struct inspect *inspect, struct model *model)
{
    assert(inspect != NULL && model != NULL && inspect->summary);
    *model = (struct model){ .inspect = inspect, .sockets_max = INSPECT_SOCKETS_MAX,
                             .connections_max = INSPECT_CONNECTIONS_MAX };
    int64_t end_ns = 0;
    void *sockets = NULL, *connections = NULL;
    int rc = query_i64(inspect->db, "SELECT value FROM summary_info WHERE key = "
                       "'model_end_ns'", &end_ns);
    model->last_time_ns = (uint64_t)end_ns;
    rc = rc != 0 ? rc : load_records(inspect->db, "summary_sockets", &sockets,
                                     &model->socket_count, sizeof(struct socket_record),
                                     INSPECT_SOCKETS_MAX, summary_socket_columns,
                                     summary_socket_column_count);
    model->sockets = sockets;
    model->socket_capacity = model->socket_count;
    rc = rc != 0 ? rc : load_records(inspect->db, "summary_connections", &connections,
                                     &model->connection_count, sizeof(struct connection),
                                     INSPECT_CONNECTIONS_MAX, summary_connection_columns,
                                     summary_connection_column_count);
    model->connections = connections;
    model->connection_capacity = model->connection_count;
    rc = rc != 0 ? rc : load_socket_errors(inspect->db, model);
    rc = rc != 0 ? rc : check_links(model, inspect->names.name_count);
    if (rc == 0)
        return 0;
    inspect_model_free(model);
    ignored(inspect, "summary_sockets, summary_socket_errors or summary_connections holds a "
                     "value out of range");
    return -1;
}
