/* SPDX-License-Identifier: MIT */
/*
 * sim/cli/inspect_sql_guard.c: keeps `inspect sql` a reader of the trace alone, so that the
 * same query on the same trace prints the same output every time (docs/cli.md, "inspect").
 *
 * Two ways a read-only query can print something the trace does not hold:
 *  - a function whose value is drawn anew at each call: random(), randomblob(),
 *    CURRENT_DATE, CURRENT_TIME, CURRENT_TIMESTAMP. The authorizer refuses them by name
 *    when the query is prepared, before a row is printed (exit 2, as for a query that does
 *    not compile); the name is kept for the message.
 *  - a date and time function given 'now' or no time at all (date(), strftime('%s',
 *    'now'), julianday('now'), unixepoch(), ...): the same functions are deterministic on
 *    a value (datetime(time_ns / 1000000000, 'unixepoch')), so they cannot be refused by
 *    name. SQLite asks its VFS for the clock then and only then; the VFS installed here
 *    answers with an error (the function gives NULL) and notes that the clock was asked
 *    for, which the row loop checks before it prints a row (exit 1, as for a query stopped
 *    while it runs).
 *  - the 'localtime' and 'utc' modifiers, which read the machine's time zone: the guard
 *    sets TZ to UTC for the process, so both are the identity on every machine (a trace's
 *    times are simulated, since the epoch; no zone is theirs).
 *
 * The VFS is the default one copied with its two clock methods replaced, registered as
 * the process's default: only the `inspect sql` command installs it, before it opens the
 * trace. Invariant: after inspect_sql_guard_install() no statement of this process can read
 * the wall clock without inspect_sql_guard_clock_read() becoming true.
 */
#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>

#include <sqlite3.h>

#include "sim/cli/inspect_int.h"

/* Functions whose every call may give another value whatever the trace holds. */
static const char *const refused_functions[] = {
    "random", "randomblob", "current_date", "current_time", "current_timestamp",
};

/* Process-wide, as the VFS is: the clock methods have no per-connection state to write to. */
static sqlite3_vfs clock_guard_vfs;
static bool clock_asked;

static int clock_refused(sqlite3_vfs *vfs, double *julian_day)
{
    (void)vfs;
    clock_asked = true;
    *julian_day = 0;
    return SQLITE_ERROR;
}

static int clock_refused_int64(sqlite3_vfs *vfs, sqlite3_int64 *julian_day_ms)
{
    (void)vfs;
    clock_asked = true;
    *julian_day_ms = 0;
    return SQLITE_ERROR;
}

int inspect_sql_guard_install(void)
{
    if (clock_guard_vfs.zName != NULL)
        return 0;
    if (setenv("TZ", "UTC0", 1) != 0)
        return -1;
    tzset();
    sqlite3_vfs *base = sqlite3_vfs_find(NULL);
    if (base == NULL)
        return -1;
    /* A copy keeps the base's pAppData and sizes, which its methods read from the VFS
     * they are given; only the clock differs. */
    clock_guard_vfs = *base;
    clock_guard_vfs.zName = "vmcisim-inspect-sql";
    clock_guard_vfs.pNext = NULL;
    clock_guard_vfs.xCurrentTime = clock_refused;
    if (clock_guard_vfs.iVersion >= 2)
        clock_guard_vfs.xCurrentTimeInt64 = clock_refused_int64;
    if (sqlite3_vfs_register(&clock_guard_vfs, 1) != SQLITE_OK) {
        clock_guard_vfs.zName = NULL;
        return -1;
    }
    assert(sqlite3_vfs_find(NULL) == &clock_guard_vfs);
    return 0;
}

bool inspect_sql_guard_clock_read(void)
{
    return clock_asked;
}

/* sqlite3_set_authorizer: for SQLITE_FUNCTION the third argument is the function's name. */
static int authorize(void *state, int action, const char *first, const char *second,
                     const char *database, const char *trigger)
{
    (void)first;
    (void)database;
    (void)trigger;
    struct inspect_sql_guard *guard = state;
    if (action != SQLITE_FUNCTION || second == NULL)
        return SQLITE_OK;
    for (size_t index = 0; index < sizeof refused_functions / sizeof refused_functions[0];
         index++) {
        if (strcasecmp(second, refused_functions[index]) == 0) {
            if (guard->refused == NULL)
                guard->refused = refused_functions[index];
            return SQLITE_DENY;
        }
    }
    return SQLITE_OK;
}

void inspect_sql_guard_begin(struct inspect_sql_guard *guard, sqlite3 *db)
{
    assert(guard != NULL && db != NULL);
    guard->refused = NULL;
    clock_asked = false;
    sqlite3_set_authorizer(db, authorize, guard);
}
