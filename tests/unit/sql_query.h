/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/sql_query.h: one integer read from a trace file by an SQL query, for the suites
 * that check what a run stored (summary_live, summary_tables). One copy of the open, prepare,
 * step and close.
 */
#ifndef TESTS_UNIT_SQL_QUERY_H
#define TESTS_UNIT_SQL_QUERY_H

#include <stdint.h>

#include <CUnit/CUnit.h>
#include <sqlite3.h>

/* The first column of the first row of `query` on the file at `path`, opened read-only; -1
 * when the query fails or gives no row. */
static inline int64_t sql_query_int(const char *path, const char *query)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *statement = NULL;
    CU_ASSERT_FATAL(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    int64_t value = -1;
    if (sqlite3_prepare_v2(db, query, -1, &statement, NULL) == SQLITE_OK &&
        sqlite3_step(statement) == SQLITE_ROW)
        value = sqlite3_column_int64(statement, 0);
    sqlite3_finalize(statement);
    sqlite3_close(db);
    return value;
}

#endif /* TESTS_UNIT_SQL_QUERY_H */
