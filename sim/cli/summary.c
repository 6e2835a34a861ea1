/* SPDX-License-Identifier: MIT */
/*
 * sim/cli/summary.c: builds the summary tables of a trace from its stored events
 * (summary.h, docs/trace-schema.md "Summary tables"): the fallback of the live build
 * (summary_live.c) inside the writer's close, and the reference its tests compare with;
 * also the columns, the tally and the store both builds share.
 *
 * The trace is open read-write (the writer's connection, or summary_write's own); the names,
 * sockets and connections are rebuilt by the very code `inspect` runs on the events
 * (inspect_names.c, inspect_model.c), the per-kind counts, error seqs and extent come from
 * one more pass over the events, and everything is inserted in one transaction, ended by
 * summary_info (the hash of the rows last). So a trace either has the whole set or none of
 * it, and a view answers the same from the tables as from the events. Memory is bounded by
 * SUMMARY_*_MAX; past one, no tables are written and the caller says so.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>
#include <xxhash.h>

#include "sim/cli/inspect_model.h"
#include "sim/cli/summary.h"
#include "sim/cli/summary_int.h"

#define SUMMARY_BUSY_TIMEOUT_MS 10000
#define KIND_SLOTS SUMMARY_KIND_SLOTS
#define TEXT_FIELD_BYTES SUMMARY_KIND_NAME_BYTES

const char *const summary_hashed_tables[SUMMARY_TABLES_HASHED] = {
    "summary_kinds", "summary_errors", "summary_names", "summary_bindings",
    "summary_processes", "summary_sockets", "summary_socket_errors", "summary_connections",
};

#define S_U32(name, field) { name, SUMMARY_U32, offsetof(struct socket_record, field), 0 }
#define S_U64(name, field) { name, SUMMARY_U64, offsetof(struct socket_record, field), 0 }
const struct summary_column summary_socket_columns[] = {
    S_U32("endpoint", owner), S_U32("socket", id), S_U32("creator_pid", creator_pid),
    S_U32("listener_port", listener_port), S_U64("created_ns", created_ns),
    { "closed", SUMMARY_FLAG, offsetof(struct socket_record, closed), 0 },
    S_U64("closed_ns", closed_ns),
    { "type", SUMMARY_TYPE, offsetof(struct socket_record, type), 0 },
    S_U32("connection", connection),
    S_U64("calls_socket", calls[CALL_SOCKET]), S_U64("calls_bind", calls[CALL_BIND]),
    S_U64("calls_listen", calls[CALL_LISTEN]), S_U64("calls_connect", calls[CALL_CONNECT]),
    S_U64("calls_accept", calls[CALL_ACCEPT]), S_U64("calls_send", calls[CALL_SEND]),
    S_U64("calls_recv", calls[CALL_RECV]), S_U64("calls_shutdown", calls[CALL_SHUTDOWN]),
    S_U64("calls_disconnect", calls[CALL_DISCONNECT]), S_U64("calls_close", calls[CALL_CLOSE]),
    S_U64("sent_bytes", bytes_sent), S_U64("received_bytes", bytes_received),
    S_U64("errors_not_kept", errors_not_kept),
};
const uint32_t summary_socket_column_count =
    sizeof summary_socket_columns / sizeof summary_socket_columns[0];
_Static_assert(CALL_COUNT == 10, "summary_socket_columns has one calls_ column per call");

#define C_FIELD(name, kind, field) { name, kind, offsetof(struct connection, field), 0 }
#define C_TEXT(name, field) { name, SUMMARY_TEXT, offsetof(struct connection, field), \
                              sizeof(((struct connection *)0)->field) }
#define C_SIDE(side, index)                                                                 \
    C_FIELD(side "_endpoint", SUMMARY_U32, owner[index]),                                   \
    C_FIELD(side "_cid", SUMMARY_U32, cid[index]),                                          \
    C_FIELD(side "_port", SUMMARY_U32, port[index]),                                        \
    C_FIELD(side "_socket", SUMMARY_U32, socket[index]),                                    \
    C_FIELD(side "_pid", SUMMARY_U32, pid[index]),                                          \
    C_FIELD(side "_written_bytes", SUMMARY_U64, written[index]),                            \
    C_FIELD(side "_read_bytes", SUMMARY_U64, read[index]),                                  \
    C_FIELD(side "_closed", SUMMARY_FLAG, closed[index]),                                   \
    C_FIELD(side "_closed_ns", SUMMARY_U64, closed_ns[index]),                              \
    C_FIELD(side "_detached", SUMMARY_FLAG, detached[index]),                               \
    C_FIELD(side "_detached_ns", SUMMARY_U64, detached_ns[index]),                          \
    C_TEXT(side "_detach_rule", detach_rule[index]),                                        \
    C_FIELD(side "_lost_at_detach_bytes", SUMMARY_U64, lost_at_detach[index]),              \
    C_FIELD(side "_lost_at_close_bytes", SUMMARY_U64, lost_at_close[index]),                \
    C_FIELD(side "_shut", SUMMARY_FLAG, shut[index]),                                       \
    C_FIELD(side "_shutdown_mode", SUMMARY_U64, shutdown_mode[index])
const struct summary_column summary_connection_columns[] = {
    C_SIDE("client", SIDE_CLIENT), C_SIDE("server", SIDE_SERVER),
    C_FIELD("requested_ns", SUMMARY_U64, requested_ns),
    C_FIELD("established", SUMMARY_FLAG, established),
    C_FIELD("established_ns", SUMMARY_U64, established_ns),
    C_FIELD("ended", SUMMARY_FLAG, ended), C_FIELD("ended_ns", SUMMARY_U64, ended_ns),
    C_TEXT("end", end),
};
const uint32_t summary_connection_column_count =
    sizeof summary_connection_columns / sizeof summary_connection_columns[0];

/* Appends printf-style text; -1 once the buffer is full. */
static int append(char *sql, size_t sql_bytes, size_t *used, const char *piece)
{
    int length = snprintf(sql + *used, sql_bytes - *used, "%s", piece);
    if (length < 0 || (size_t)length >= sql_bytes - *used)
        return -1;
    *used += (size_t)length;
    return 0;
}

int summary_sql_create(const char *table, const struct summary_column *columns,
                       uint32_t count, char *sql, size_t sql_bytes)
{
    size_t used = 0;
    int rc = append(sql, sql_bytes, &used, "CREATE TABLE ");
    rc = rc != 0 ? rc : append(sql, sql_bytes, &used, table);
    rc = rc != 0 ? rc : append(sql, sql_bytes, &used, "(number INTEGER PRIMARY KEY");
    for (uint32_t index = 0; rc == 0 && index < count; index++) {
        rc = append(sql, sql_bytes, &used, ", ");
        rc = rc != 0 ? rc : append(sql, sql_bytes, &used, columns[index].name);
        rc = rc != 0 ? rc : append(sql, sql_bytes, &used,
                                   columns[index].value == SUMMARY_TEXT ? " TEXT NOT NULL"
                                                                        : " INTEGER NOT NULL");
    }
    return rc != 0 ? rc : append(sql, sql_bytes, &used, ")");
}

int summary_sql_select(const char *table, const struct summary_column *columns,
                       uint32_t count, char *sql, size_t sql_bytes)
{
    size_t used = 0;
    int rc = append(sql, sql_bytes, &used, "SELECT number");
    for (uint32_t index = 0; rc == 0 && index < count; index++) {
        rc = append(sql, sql_bytes, &used, ", ");
        rc = rc != 0 ? rc : append(sql, sql_bytes, &used, columns[index].name);
    }
    rc = rc != 0 ? rc : append(sql, sql_bytes, &used, " FROM ");
    rc = rc != 0 ? rc : append(sql, sql_bytes, &used, table);
    return rc != 0 ? rc : append(sql, sql_bytes, &used, " ORDER BY number");
}

int summary_sql_insert(const char *table, uint32_t count, char *sql, size_t sql_bytes)
{
    size_t used = 0;
    int rc = append(sql, sql_bytes, &used, "INSERT INTO ");
    rc = rc != 0 ? rc : append(sql, sql_bytes, &used, table);
    rc = rc != 0 ? rc : append(sql, sql_bytes, &used, " VALUES (?");
    for (uint32_t index = 0; rc == 0 && index < count; index++)
        rc = append(sql, sql_bytes, &used, ", ?");
    return rc != 0 ? rc : append(sql, sql_bytes, &used, ")");
}

/* One value into the hash: its SQLite type, then its bytes (integers little-endian). */
static void hash_value(XXH3_state_t *state, sqlite3_stmt *statement, int column)
{
    unsigned char type = (unsigned char)sqlite3_column_type(statement, column);
    XXH3_64bits_update(state, &type, 1);
    if (type == SQLITE_INTEGER || type == SQLITE_FLOAT) {
        uint64_t bits = (uint64_t)sqlite3_column_int64(statement, column);
        if (type == SQLITE_FLOAT) {
            double real = sqlite3_column_double(statement, column);
            memcpy(&bits, &real, sizeof bits);
        }
        unsigned char bytes[8];
        for (int index = 0; index < 8; index++)
            bytes[index] = (unsigned char)(bits >> (8 * index));
        XXH3_64bits_update(state, bytes, sizeof bytes);
    } else if (type == SQLITE_TEXT || type == SQLITE_BLOB) {
        const void *data = type == SQLITE_TEXT
                               ? (const void *)sqlite3_column_text(statement, column)
                               : sqlite3_column_blob(statement, column);
        uint32_t length = (uint32_t)sqlite3_column_bytes(statement, column);
        XXH3_64bits_update(state, &length, sizeof length);
        if (data != NULL)
            XXH3_64bits_update(state, data, length);
    }
}

static int hash_table(sqlite3 *db, const char *table, XXH3_state_t *state)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT * FROM %s ORDER BY rowid", table);
    sqlite3_stmt *statement = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &statement, NULL) != SQLITE_OK) {
        sqlite3_finalize(statement);
        return -1;
    }
    XXH3_64bits_update(state, table, strlen(table) + 1);
    int columns = sqlite3_column_count(statement), rc;
    while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
        for (int column = 0; column < columns; column++)
            hash_value(state, statement, column);
        XXH3_64bits_update(state, "\n", 1);
    }
    sqlite3_finalize(statement);
    return rc == SQLITE_DONE ? 0 : -1;
}

int summary_hash(sqlite3 *db, uint64_t *hash)
{
    assert(db != NULL && hash != NULL);
    XXH3_state_t *state = XXH3_createState();
    if (state == NULL || XXH3_64bits_reset(state) != XXH_OK) {
        XXH3_freeState(state);
        return -1;
    }
    int rc = 0;
    for (uint32_t index = 0; rc == 0 && index < SUMMARY_TABLES_HASHED; index++)
        rc = hash_table(db, summary_hashed_tables[index], state);
    *hash = XXH3_64bits_digest(state);
    XXH3_freeState(state);
    return rc;
}

/* ---- The pass over the events: count per (layer, kind), error seqs, extent ---------- */

static uint32_t kind_slot(const char *layer, const char *kind)
{
    uint64_t hash = XXH3_64bits(kind, strlen(kind)) ^ XXH3_64bits(layer, strlen(layer)) * 31u;
    return (uint32_t)(hash & (KIND_SLOTS - 1));
}

int summary_tally_kind(struct event_tally *tally, const char *layer, const char *kind)
{
    int64_t slot = summary_tally_kind_slot(tally, layer, kind);
    if (slot < 0)
        return -1;
    tally->kinds[slot].events++;
    return 0;
}

int64_t summary_tally_kind_slot(struct event_tally *tally, const char *layer, const char *kind)
{
    if (strlen(layer) >= TEXT_FIELD_BYTES || strlen(kind) >= TEXT_FIELD_BYTES)
        return -1;
    uint32_t slot = kind_slot(layer, kind);
    for (uint32_t probe = 0; probe < KIND_SLOTS; probe++) {
        struct kind_count *entry = &tally->kinds[slot];
        if (entry->events == 0) {           /* free: a taken slot is counted at once */
            if (tally->kind_count == SUMMARY_KINDS_MAX)
                return -1;
            tally->kind_count++;
            snprintf(entry->layer, sizeof entry->layer, "%s", layer);
            snprintf(entry->kind, sizeof entry->kind, "%s", kind);
        }
        if (strcmp(entry->kind, kind) == 0 && strcmp(entry->layer, layer) == 0)
            return slot;
        slot = (slot + 1) & (KIND_SLOTS - 1);
    }
    return -1;
}

int summary_tally_error(struct event_tally *tally, uint64_t seq)
{
    if (tally->error_count == tally->error_capacity) {
        if (tally->error_capacity == SUMMARY_ERRORS_MAX)
            return -1;
        uint32_t wanted = tally->error_capacity == 0 ? 1024u : tally->error_capacity * 2;
        uint64_t *grown = realloc(tally->errors, (size_t)wanted * sizeof *grown);
        if (grown == NULL)
            return -1;
        tally->errors = grown;
        tally->error_capacity = wanted;
    }
    tally->errors[tally->error_count++] = seq;
    return 0;
}

/* One pass in seq order; 0, 1 (an SQL error, reported) or 2 (a bound met, `why` says). */
static int tally_events(struct inspect *inspect, struct event_tally *tally, const char **why)
{
    /* The condition is the errors view's, evaluated only where it can hold: each of its
     * terms needs a top-level "result" below 0, a "rule" member or one of these kinds, and
     * the writer's compact JSON then holds `"result":-` or `"rule":` (a string value's
     * quotes are escaped). That skips the JSON parse of most rows, exactly. */
    char sql[2048];
    int length = snprintf(sql, sizeof sql, "SELECT seq, time_ns, layer, kind, CASE WHEN "
                          "(instr(fields, '\"result\":-') > 0 OR instr(fields, '\"rule\":') > 0 "
                          "OR kind IN ('expect_fail', 'proc_error', 'callback_error', "
                          "'scenario_error', 'deadlock', 'dg_queue_full', 'dg_drop', "
                          "'data_discarded')) AND %s "
                          "THEN 1 ELSE 0 END FROM events ORDER BY seq",
                          inspect_errors_condition);
    assert(length > 0 && (size_t)length < sizeof sql);
    sqlite3_stmt *statement = inspect_prepare(inspect, sql);
    if (statement == NULL)
        return 1;
    int rc;
    while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
        uint64_t seq = inspect_u64(statement, 0), time_ns = inspect_u64(statement, 1);
        if (tally->events == 0)
            tally->seq_min = seq;
        tally->seq_max = seq;
        tally->events++;
        tally->time_ns_max = time_ns > tally->time_ns_max ? time_ns : tally->time_ns_max;
        if (summary_tally_kind(tally, inspect_text(statement, 2), inspect_text(statement, 3)) < 0)
            *why = "more than SUMMARY_KINDS_MAX kinds, or a kind name too long";
        else if (sqlite3_column_int(statement, 4) != 0 && summary_tally_error(tally, seq) < 0)
            *why = "more than SUMMARY_ERRORS_MAX error events";
        if (*why != NULL) {
            sqlite3_finalize(statement);
            return 2;
        }
    }
    return inspect_finish(inspect, statement, rc);
}

static int compare_kinds(const void *left, const void *right)
{
    const struct kind_count *a = left, *b = right;
    int order = strcmp(a->layer, b->layer);
    return order != 0 ? order : strcmp(a->kind, b->kind);
}

/* ---- Inserting ---------------------------------------------------------------------- */

struct summary_writer {
    sqlite3 *db;
    sqlite3_stmt *statement;            /* the insert being run */
};

static int writer_prepare(struct summary_writer *writer, const char *sql)
{
    sqlite3_finalize(writer->statement);
    writer->statement = NULL;
    return sqlite3_prepare_v2(writer->db, sql, -1, &writer->statement, NULL) == SQLITE_OK ? 0
                                                                                         : -1;
}

static int writer_step(struct summary_writer *writer)
{
    int rc = sqlite3_step(writer->statement);
    sqlite3_reset(writer->statement);
    sqlite3_clear_bindings(writer->statement);
    return rc == SQLITE_DONE ? 0 : -1;
}

static void bind_record(sqlite3_stmt *statement, uint32_t number, const void *record,
                        const struct summary_column *columns, uint32_t count)
{
    sqlite3_bind_int64(statement, 1, number);
    for (uint32_t index = 0; index < count; index++) {
        const char *field = (const char *)record + columns[index].offset;
        int parameter = (int)index + 2;
        uint32_t u32;
        uint64_t u64;
        int flag;
        enum socket_type type;
        switch (columns[index].value) {
        case SUMMARY_U32:
            memcpy(&u32, field, sizeof u32);
            sqlite3_bind_int64(statement, parameter, u32);
            break;
        case SUMMARY_U64:
            memcpy(&u64, field, sizeof u64);
            sqlite3_bind_int64(statement, parameter, (int64_t)u64);
            break;
        case SUMMARY_FLAG:
            memcpy(&flag, field, sizeof flag);
            sqlite3_bind_int(statement, parameter, flag);
            break;
        case SUMMARY_TYPE:
            memcpy(&type, field, sizeof type);
            sqlite3_bind_int(statement, parameter, (int)type);
            break;
        case SUMMARY_TEXT:
            sqlite3_bind_text(statement, parameter, field, (int)strnlen(field,
                              columns[index].text_bytes), SQLITE_STATIC);
            break;
        }
    }
}

/* The rows of one record table (sockets or connections), 1-based as the model numbers. */
static int write_records(struct summary_writer *writer, const char *table, const void *records,
                         size_t record_bytes, uint32_t record_count,
                         const struct summary_column *columns, uint32_t count)
{
    char sql[SUMMARY_SQL_BYTES_MAX];
    if (summary_sql_create(table, columns, count, sql, sizeof sql) != 0 ||
        sqlite3_exec(writer->db, sql, NULL, NULL, NULL) != SQLITE_OK ||
        summary_sql_insert(table, count, sql, sizeof sql) != 0 || writer_prepare(writer, sql) != 0)
        return -1;
    for (uint32_t index = 0; index < record_count; index++) {
        bind_record(writer->statement, index + 1,
                    (const char *)records + (size_t)index * record_bytes, columns, count);
        if (writer_step(writer) != 0)
            return -1;
    }
    return 0;
}

static int write_socket_errors(struct summary_writer *writer, const struct model *model)
{
    if (sqlite3_exec(writer->db, "CREATE TABLE summary_socket_errors(socket INTEGER NOT NULL, "
                     "position INTEGER NOT NULL, call INTEGER NOT NULL, result INTEGER NOT "
                     "NULL, count INTEGER NOT NULL, PRIMARY KEY(socket, position))",
                     NULL, NULL, NULL) != SQLITE_OK ||
        writer_prepare(writer, "INSERT INTO summary_socket_errors VALUES (?, ?, ?, ?, ?)") != 0)
        return -1;
    for (uint32_t index = 0; index < model->socket_count; index++) {
        const struct socket_record *socket = &model->sockets[index];
        for (uint32_t position = 0; position < socket->error_count; position++) {
            const struct socket_error *error = &socket->errors[position];
            sqlite3_bind_int64(writer->statement, 1, index + 1);
            sqlite3_bind_int64(writer->statement, 2, position);
            sqlite3_bind_int64(writer->statement, 3, error->call);
            sqlite3_bind_int64(writer->statement, 4, error->result);
            sqlite3_bind_int64(writer->statement, 5, (int64_t)error->count);
            if (writer_step(writer) != 0)
                return -1;
        }
    }
    return 0;
}

static int write_names(struct summary_writer *writer, const struct inspect_names *names)
{
    if (sqlite3_exec(writer->db, "CREATE TABLE summary_names(number INTEGER PRIMARY KEY, "
                     "name TEXT NOT NULL); CREATE TABLE summary_bindings(number INTEGER "
                     "PRIMARY KEY, seq INTEGER NOT NULL, cid INTEGER NOT NULL, name INTEGER "
                     "NOT NULL); CREATE TABLE summary_processes(pid INTEGER PRIMARY KEY, "
                     "name TEXT NOT NULL, endpoint INTEGER NOT NULL)",
                     NULL, NULL, NULL) != SQLITE_OK ||
        writer_prepare(writer, "INSERT INTO summary_names VALUES (?, ?)") != 0)
        return -1;
    for (uint32_t index = 1; index < names->name_count; index++) {
        sqlite3_bind_int64(writer->statement, 1, index);
        sqlite3_bind_text(writer->statement, 2, names->names[index], -1, SQLITE_STATIC);
        if (writer_step(writer) != 0)
            return -1;
    }
    if (writer_prepare(writer, "INSERT INTO summary_bindings VALUES (?, ?, ?, ?)") != 0)
        return -1;
    for (uint32_t index = 0; index < names->binding_count; index++) {
        const struct inspect_binding *binding = &names->bindings[index];
        sqlite3_bind_int64(writer->statement, 1, index + 1);
        sqlite3_bind_int64(writer->statement, 2, (int64_t)binding->seq);
        sqlite3_bind_int64(writer->statement, 3, binding->cid);
        sqlite3_bind_int64(writer->statement, 4, binding->name_index);
        if (writer_step(writer) != 0)
            return -1;
    }
    if (writer_prepare(writer, "INSERT INTO summary_processes VALUES (?, ?, ?)") != 0)
        return -1;
    for (uint32_t pid = 0; pid < names->process_capacity; pid++) {
        const struct inspect_process *process = &names->processes[pid];
        if (process->name[0] == '\0' && process->owner_index == 0)
            continue;               /* the same as a pid never spawned */
        sqlite3_bind_int64(writer->statement, 1, pid);
        sqlite3_bind_text(writer->statement, 2, process->name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(writer->statement, 3, process->owner_index);
        if (writer_step(writer) != 0)
            return -1;
    }
    return 0;
}

static int write_tally(struct summary_writer *writer, struct event_tally *tally)
{
    if (sqlite3_exec(writer->db, "CREATE TABLE summary_kinds(layer TEXT NOT NULL, kind TEXT "
                     "NOT NULL, events INTEGER NOT NULL, PRIMARY KEY(layer, kind)); "
                     "CREATE TABLE summary_errors(seq INTEGER PRIMARY KEY)",
                     NULL, NULL, NULL) != SQLITE_OK ||
        writer_prepare(writer, "INSERT INTO summary_kinds VALUES (?, ?, ?)") != 0)
        return -1;
    uint32_t used = 0;
    for (uint32_t slot = 0; slot < KIND_SLOTS; slot++) {
        if (tally->kinds[slot].events != 0)
            tally->kinds[used++] = tally->kinds[slot];   /* compacts in place: used <= slot */
    }
    assert(used == tally->kind_count);
    if (used > 0)
        qsort(tally->kinds, used, sizeof *tally->kinds, compare_kinds);
    for (uint32_t index = 0; index < used; index++) {
        sqlite3_bind_text(writer->statement, 1, tally->kinds[index].layer, -1, SQLITE_STATIC);
        sqlite3_bind_text(writer->statement, 2, tally->kinds[index].kind, -1, SQLITE_STATIC);
        sqlite3_bind_int64(writer->statement, 3, (int64_t)tally->kinds[index].events);
        if (writer_step(writer) != 0)
            return -1;
    }
    if (writer_prepare(writer, "INSERT INTO summary_errors VALUES (?)") != 0)
        return -1;
    for (uint32_t index = 0; index < tally->error_count; index++) {
        sqlite3_bind_int64(writer->statement, 1, (int64_t)tally->errors[index]);
        if (writer_step(writer) != 0)
            return -1;
    }
    return 0;
}

static int write_info(struct summary_writer *writer, const struct event_tally *tally,
                      const struct model *model, const char *digest)
{
    uint64_t hash = 0;
    if (summary_hash(writer->db, &hash) != 0)
        return -1;
    char hash_hex[17];
    snprintf(hash_hex, sizeof hash_hex, "%016" PRIx64, hash);
    const struct { const char *key; uint64_t value; } numbers[] = {
        { "version", SUMMARY_VERSION }, { "events", tally->events },
        { "run_length_ns", tally->time_ns_max }, { "seq_min", tally->seq_min },
        { "seq_max", tally->seq_max }, { "model_end_ns", model->last_time_ns },
    };
    if (sqlite3_exec(writer->db, "CREATE TABLE summary_info(key TEXT PRIMARY KEY, value NOT "
                     "NULL)", NULL, NULL, NULL) != SQLITE_OK ||
        writer_prepare(writer, "INSERT INTO summary_info VALUES (?, ?)") != 0)
        return -1;
    for (size_t index = 0; index < sizeof numbers / sizeof numbers[0]; index++) {
        sqlite3_bind_text(writer->statement, 1, numbers[index].key, -1, SQLITE_STATIC);
        sqlite3_bind_int64(writer->statement, 2, (int64_t)numbers[index].value);
        if (writer_step(writer) != 0)
            return -1;
    }
    const char *texts[][2] = { { "digest", digest }, { "hash", hash_hex } };
    for (size_t index = 0; index < sizeof texts / sizeof texts[0]; index++) {
        sqlite3_bind_text(writer->statement, 1, texts[index][0], -1, SQLITE_STATIC);
        sqlite3_bind_text(writer->statement, 2, texts[index][1], -1, SQLITE_STATIC);
        if (writer_step(writer) != 0)
            return -1;
    }
    return 0;
}

int summary_store(sqlite3 *db, const struct inspect_names *names, const struct model *model,
                  struct event_tally *tally, const char *digest)
{
    struct summary_writer writer = { .db = db };
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return -1;
    int rc = write_tally(&writer, tally);
    rc = rc != 0 ? rc : write_names(&writer, names);
    rc = rc != 0 ? rc : write_records(&writer, "summary_sockets", model->sockets,
                                      sizeof *model->sockets, model->socket_count,
                                      summary_socket_columns, summary_socket_column_count);
    rc = rc != 0 ? rc : write_socket_errors(&writer, model);
    rc = rc != 0 ? rc : write_records(&writer, "summary_connections", model->connections,
                                      sizeof *model->connections, model->connection_count,
                                      summary_connection_columns,
                                      summary_connection_column_count);
    rc = rc != 0 ? rc : write_info(&writer, tally, model, digest);
    sqlite3_finalize(writer.statement);
    if (rc == 0 && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
        return 0;
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

int summary_read_digest(sqlite3 *db, char *digest, size_t digest_bytes)
{
    sqlite3_stmt *statement = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'digest'", -1,
                                &statement, NULL);
    int found = rc == SQLITE_OK && sqlite3_step(statement) == SQLITE_ROW &&
                sqlite3_column_type(statement, 0) == SQLITE_TEXT;
    if (found)
        snprintf(digest, digest_bytes, "%s", (const char *)sqlite3_column_text(statement, 0));
    sqlite3_finalize(statement);
    return found && digest[0] != '\0' ? 0 : -1;
}

/* Builds everything in memory, then stores it; 0, or 1 with `*why`. */
static int build_and_store(struct inspect *inspect, const char **why)
{
    char digest[64];
    if (summary_read_digest(inspect->db, digest, sizeof digest) != 0) {
        *why = "the trace has no digest (its run did not finish)";
        return 1;
    }
    struct model model = { 0 };
    struct event_tally tally = { .kinds = calloc(KIND_SLOTS, sizeof(struct kind_count)) };
    int status = tally.kinds != NULL ? inspect_names_load(inspect) : 1;
    if (tally.kinds == NULL)
        *why = "out of memory";
    if (status == 0)
        status = inspect_model_build_bounded(inspect, &model, SUMMARY_SOCKETS_MAX,
                                             SUMMARY_CONNECTIONS_MAX);
    if (status == 2)
        *why = "more than SUMMARY_SOCKETS_MAX sockets or SUMMARY_CONNECTIONS_MAX connections";
    if (status == 0)
        status = tally_events(inspect, &tally, why);
    if (status == 0 &&
        summary_store(inspect->db, &inspect->names, &model, &tally, digest) != 0) {
        *why = sqlite3_errmsg(inspect->db);
        status = 1;
    }
    if (status != 0 && *why == NULL)
        *why = "the events could not be read";
    inspect_model_free(&model);
    free(tally.kinds);
    free(tally.errors);
    return status == 0 ? 0 : 1;
}

int summary_write_db(sqlite3 *db, const char *path, char *message, size_t message_bytes)
{
    assert(db != NULL && path != NULL && message != NULL && message_bytes > 0);
    char no_filter[1] = "";
    struct inspect inspect = { .db = db, .command = "run", .path = path, .where = no_filter };
    const char *why = NULL;
    int status = build_and_store(&inspect, &why);
    if (status != 0)
        snprintf(message, message_bytes, "no summary tables (%s); `inspect` computes its views "
                 "from the events", why);
    inspect_names_free(&inspect.names);
    return status;
}

int summary_write(const char *path, char *message, size_t message_bytes)
{
    assert(path != NULL && message != NULL && message_bytes > 0);
    sqlite3 *db = NULL;
    /* One thread uses the connection: no per-call mutex (several percent of the pass). */
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        snprintf(message, message_bytes, "no summary tables: %s",
                 db != NULL ? sqlite3_errmsg(db) : "cannot open");
        sqlite3_close(db);
        return 1;
    }
    sqlite3_busy_timeout(db, SUMMARY_BUSY_TIMEOUT_MS);
    int status = summary_write_db(db, path, message, message_bytes);
    if (sqlite3_close(db) != SQLITE_OK && status == 0) {
        snprintf(message, message_bytes, "no summary tables: the trace could not be closed");
        status = 1;
    }
    return status;
}
