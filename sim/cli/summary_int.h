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

#endif /* SIM_CLI_SUMMARY_INT_H */
