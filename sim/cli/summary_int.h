/* SPDX-License-Identifier: MIT */
/*
 * sim/cli/summary_int.h: the columns of the summary tables, shared by the writer
 * (summary.c) and the loader (summary_load.c) so that the two can never disagree on a
 * column's name, order, type or the record field it holds.
 *
 * A sockets or connections row is its record field by field: every field of struct
 * socket_record / struct connection that a view reads after the build, flags as 0/1
 * columns beside their values, so a record loaded back equals the one that was written.
 */
#ifndef SIM_CLI_SUMMARY_INT_H
#define SIM_CLI_SUMMARY_INT_H

#include <stddef.h>
#include <stdint.h>

#include "sim/cli/summary.h"

enum summary_value {
    SUMMARY_U32,        /* uint32_t, 0..2^32-1 */
    SUMMARY_U64,        /* uint64_t stored as its int64 bit pattern */
    SUMMARY_FLAG,       /* int, 0 or 1 */
    SUMMARY_TYPE,       /* enum socket_type, TYPE_UNKNOWN..TYPE_DGRAM */
    SUMMARY_TEXT,       /* char[text_bytes], NUL-terminated */
};

struct summary_column {
    const char *name;
    enum summary_value value;
    size_t offset;              /* in the record */
    size_t text_bytes;          /* SUMMARY_TEXT: the field's size */
};

/* The tables in hash order (summary_info is not hashed: it holds the hash). */
#define SUMMARY_TABLES_HASHED 8u
extern const char *const summary_hashed_tables[SUMMARY_TABLES_HASHED];

extern const struct summary_column summary_socket_columns[];
extern const uint32_t summary_socket_column_count;
extern const struct summary_column summary_connection_columns[];
extern const uint32_t summary_connection_column_count;

/* "CREATE TABLE t(number INTEGER PRIMARY KEY, <columns>)" and "SELECT number, <columns>
 * FROM t ORDER BY number" / "INSERT INTO t VALUES (?, ...)" texts; 0 or -1 (too long). */
#define SUMMARY_SQL_BYTES_MAX 4096u
int summary_sql_create(const char *table, const struct summary_column *columns,
                       uint32_t count, char *sql, size_t sql_bytes);
int summary_sql_select(const char *table, const struct summary_column *columns,
                       uint32_t count, char *sql, size_t sql_bytes);
int summary_sql_insert(const char *table, uint32_t count, char *sql, size_t sql_bytes);

/* ---- What summary.c (the build from the events) and summary_live.c (the build while the
 * run writes) share: the per-kind and error tally, and the store of the tables. */

#define SUMMARY_KIND_SLOTS (2u * SUMMARY_KINDS_MAX)   /* open addressing at most half full */
#define SUMMARY_KIND_NAME_BYTES 64u                   /* layer and kind names kept per slot */

struct kind_count {
    char layer[SUMMARY_KIND_NAME_BYTES], kind[SUMMARY_KIND_NAME_BYTES];
    uint64_t events;
};

/* Events per (layer, kind), the seqs the errors view lists, the extent. */
struct event_tally {
    struct kind_count *kinds;           /* SUMMARY_KIND_SLOTS, open addressing by content */
    uint32_t kind_count;
    uint64_t *errors;                   /* seqs, ascending */
    uint32_t error_count, error_capacity;
    uint64_t events, time_ns_max, seq_min, seq_max;
};

/* Counts one event of (layer, kind); -1 past SUMMARY_KINDS_MAX or a name too long. */
int summary_tally_kind(struct event_tally *tally, const char *layer, const char *kind);
/* The slot of (layer, kind) in tally->kinds, taken when new (the caller counts an event
 * into it at once: a slot of 0 events is free); -1 as above. A slot never moves until the
 * store, so a caller may keep it and count into it directly. */
int64_t summary_tally_kind_slot(struct event_tally *tally, const char *layer,
                                const char *kind);
/* Appends an error seq; -1 past SUMMARY_ERRORS_MAX or out of memory. */
int summary_tally_error(struct event_tally *tally, uint64_t seq);

struct sqlite3;
struct inspect_names;
struct model;
/* Every table in one transaction on `db`, summary_info last; 0 or -1 (rolled back).
 * Sorts tally->kinds in place. */
int summary_store(struct sqlite3 *db, const struct inspect_names *names,
                  const struct model *model, struct event_tally *tally, const char *digest);
/* The trace's digest (meta), which the tables are tied to; 0 or -1 when it has none. */
int summary_read_digest(struct sqlite3 *db, char *digest, size_t digest_bytes);

#endif /* SIM_CLI_SUMMARY_INT_H */
