/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_trace_runs.c: what a trace costs a run, its SQLite floor, and replay, through
 * the `vmcisim` binary (the figures trace_stream_*, trace_dg_*, trace_replay_s are described
 * in bench/bench_trace.c, which calls bench_trace_runs()).
 *
 * Each run is `./vmcisim run SCENARIO -q [--trace DB] -- ARG` started with posix_spawn (its
 * output discarded), timed from spawn to exit, and its CPU time (user and system, all its
 * threads) taken from wait4; a run that does not exit 0 is a bench error.
 * The floor reads the rows of the trace a traced run wrote into memory (untimed), then a
 * second thread inserts them into a new database with the writer's settings, timed from the
 * thread's start to its end; it encodes nothing (the rows are the writer's own texts). It
 * binds as the writer does (a seq that follows the row before as NULL). The floor's CPU
 * time is that thread's (CLOCK_THREAD_CPUTIME_ID), the traced run's that of its whole
 * process (wait4): the *_floor_cpu lines compare all the CPU a traced run spends with the
 * SQLite work alone, which is what the wall lines come to when the machine is loaded.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "bench.h"
#include "bench_trace_runs.h"
#include "sim/trace/writer.h"

#define RUNS 3u
#define STREAM_MIB 256u
#define DG_ROUNDTRIPS 20000u
#define FLOOR_ROWS_PER_INSERT 32u      /* WRITER_ROWS_PER_INSERT in sim/trace/writer.c */
#define FLOOR_COLUMNS 8

extern char **environ;

static const char stream_lua[] =
    "-- bench_trace stream: host -> guest, arg TOTAL bytes (a multiple of 64 KiB)\n"
    "local sim = require(\"vmcisim\")\n"
    "local w = sim.world{}\n"
    "local host, guest = w:host(), w:vm{ name = \"guest1\" }\n"
    "local total, chunk, ready, got = tonumber(arg[1]), 65536, false, 0\n"
    "local data = sim.pattern(7, 0, chunk)\n"
    "host:spawn(\"sender\", function(p)\n"
    "  local l = assert(p:socket(\"stream\"))\n"
    "  assert(l:setsockopt(\"buffer_size\", 262144))\n"
    "  assert(l:bind(sim.CID_ANY, 5000)); assert(l:listen(1))\n"
    "  ready = true\n"
    "  local c = assert(l:accept())\n"
    "  local sent = 0\n"
    "  while sent < total do sent = sent + assert(c:send(data)) end\n"
    "  c:close(); l:close()\n"
    "end)\n"
    "guest:spawn(\"receiver\", function(p)\n"
    "  while not ready do p:sleep(sim.us(10)) end\n"
    "  local s = assert(p:socket(\"stream\"))\n"
    "  assert(s:setsockopt(\"buffer_size\", 262144))\n"
    "  assert(s:connect(sim.CID_HOST, 5000))\n"
    "  while true do\n"
    "    local piece = assert(s:recv(chunk))\n"
    "    if #piece == 0 then break end\n"
    "    got = got + #piece\n"
    "  end\n"
    "  s:close()\n"
    "end)\n"
    "w:run()\n"
    "sim.expect(got == total, \"received \" .. got .. \" of \" .. total)\n";

static const char dgram_lua[] =
    "-- bench_trace dgram: COUNT 64-byte round trips guest -> host echo -> guest, arg COUNT\n"
    "local sim = require(\"vmcisim\")\n"
    "local w = sim.world{}\n"
    "local host, guest = w:host(), w:vm{ name = \"guest1\" }\n"
    "local count, ready, done = tonumber(arg[1]), false, 0\n"
    "host:spawn(\"echo\", function(p)\n"
    "  local s = assert(p:socket(\"dgram\"))\n"
    "  assert(s:bind(sim.CID_ANY, 6000))\n"
    "  ready = true\n"
    "  for _ = 1, count do\n"
    "    local data, cid, port = assert(s:recvfrom(4096))\n"
    "    assert(s:sendto(data, cid, port))\n"
    "  end\n"
    "  s:close()\n"
    "end)\n"
    "guest:spawn(\"client\", function(p)\n"
    "  while not ready do p:sleep(sim.us(10)) end\n"
    "  local s = assert(p:socket(\"dgram\"))\n"
    "  local message = string.rep(\"x\", 64)\n"
    "  for _ = 1, count do\n"
    "    assert(s:sendto(message, sim.CID_HOST, 6000))\n"
    "    if assert(s:recvfrom(4096)) == message then done = done + 1 end\n"
    "  end\n"
    "  s:close()\n"
    "end)\n"
    "w:run()\n"
    "sim.expect(done == count, done .. \" of \" .. count .. \" round trips\")\n";

/* ---- Running vmcisim ------------------------------------------------------------------ */

/* One process's times: wall from spawn to exit, and the CPU time (user and system, every
 * thread) it used, which moves much less than the wall time with the machine's load. */
struct timing {
    double wall_s;
    double cpu_s;
};

static double timeval_seconds(struct timeval value)
{
    return (double)value.tv_sec + (double)value.tv_usec / 1e6;
}

/* Runs ./vmcisim with `argv` (NULL-terminated, argv[0] included), output to /dev/null.
 * Returns its times, or wall_s -1 when it could not run or did not exit 0. */
static struct timing vmcisim_timing(char *const argv[])
{
    struct timing failed = { -1.0, -1.0 };
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    double start_s = bench_now_seconds();
    pid_t pid = 0;
    int rc = posix_spawn(&pid, "./vmcisim", &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
        return failed;
    int status = 0;
    struct rusage usage;
    memset(&usage, 0, sizeof usage);
    if (wait4(pid, &status, 0, &usage) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0)
        return failed;
    return (struct timing){
        .wall_s = bench_now_seconds() - start_s,
        .cpu_s = timeval_seconds(usage.ru_utime) + timeval_seconds(usage.ru_stime),
    };
}

/* Best of RUNS of `argv`, wall and CPU each the smallest of the runs; zeros after an error,
 * which is reported for `figure` as `what` failed. */
static struct timing best_of_runs(const char *figure, char *const argv[], const char *what)
{
    struct timing best = { 0.0, 0.0 };
    for (unsigned run = 0; run < RUNS; run++) {
        struct timing timing = vmcisim_timing(argv);
        if (timing.wall_s < 0) {
            bench_error(figure, "%s failed (run `make bench` from the project root)", what);
            return (struct timing){ 0.0, 0.0 };
        }
        if (best.wall_s == 0.0 || timing.wall_s < best.wall_s)
            best.wall_s = timing.wall_s;
        if (best.cpu_s == 0.0 || timing.cpu_s < best.cpu_s)
            best.cpu_s = timing.cpu_s;
    }
    return best;
}

/* Best of RUNS of `vmcisim run SCENARIO -q [--trace DB] -- ARG`. */
static struct timing run_best(const char *figure, const char *scenario, const char *db,
                              const char *arg)
{
    char *traced[] = { "vmcisim", "run", (char *)scenario, "-q", "--trace", (char *)db,
                       "--", (char *)arg, NULL };
    char *untraced[] = { "vmcisim", "run", (char *)scenario, "-q", "--", (char *)arg, NULL };
    char what[1024];
    snprintf(what, sizeof what, "./vmcisim run %s%s", scenario, db != NULL ? " --trace" : "");
    return best_of_runs(figure, db != NULL ? traced : untraced, what);
}

static double run_best_seconds(const char *figure, const char *scenario, const char *db,
                               const char *arg)
{
    return run_best(figure, scenario, db, arg).wall_s;
}

/* ---- The SQLite floor ------------------------------------------------------------------ */

/* A trace's rows in memory: per row 4 integers and offsets of kind, fields and payload. */
struct floor_row {
    int64_t seq, time_ns, ctx, pid;
    uint32_t layer_offset, kind_offset, fields_offset, fields_bytes, payload_offset;
    int32_t payload_bytes;          /* -1: NULL */
};

struct floor {
    const char *path;               /* the database the thread writes */
    struct floor_row *rows;
    uint32_t row_count;
    char *bytes;                    /* the texts and blobs, one after the other */
    size_t used_bytes;
    size_t capacity_bytes;
    double seconds;                 /* the thread's open to close; < 0 on failure */
    double cpu_seconds;             /* the CPU time the thread spent on it */
};

static int floor_keep(struct floor *floor, const void *data, size_t size_bytes,
                      uint32_t *offset)
{
    if (floor->used_bytes + size_bytes + 1 > floor->capacity_bytes) {
        size_t capacity_bytes = (floor->capacity_bytes + size_bytes + 1) * 2;
        char *bytes = realloc(floor->bytes, capacity_bytes);
        if (bytes == NULL || capacity_bytes > UINT32_MAX)
            return -1;
        floor->bytes = bytes;
        floor->capacity_bytes = capacity_bytes;
    }
    *offset = (uint32_t)floor->used_bytes;
    if (size_bytes > 0)
        memcpy(floor->bytes + floor->used_bytes, data, size_bytes);
    floor->bytes[floor->used_bytes + size_bytes] = '\0';
    floor->used_bytes += size_bytes + 1;
    return 0;
}

/* Reads every event row of `trace` into `floor` (untimed). 0, or -1. */
static int floor_load(struct floor *floor, const char *trace)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    int rc = -1;
    uint32_t capacity = 0;
    if (sqlite3_open_v2(trace, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT seq, time_ns, ctx, pid, layer, kind, fields, payload"
                           " FROM events ORDER BY seq", -1, &stmt, NULL) != SQLITE_OK)
        goto done;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (floor->row_count == capacity) {
            capacity = capacity == 0 ? 4096 : capacity * 2;
            struct floor_row *rows = realloc(floor->rows, capacity * sizeof *rows);
            if (rows == NULL)
                goto done;
            floor->rows = rows;
        }
        struct floor_row *row = &floor->rows[floor->row_count++];
        row->seq = sqlite3_column_int64(stmt, 0);
        row->time_ns = sqlite3_column_int64(stmt, 1);
        row->ctx = sqlite3_column_int64(stmt, 2);
        row->pid = sqlite3_column_int64(stmt, 3);
        row->fields_bytes = (uint32_t)sqlite3_column_bytes(stmt, 6);
        row->payload_bytes = sqlite3_column_type(stmt, 7) == SQLITE_NULL
                                 ? -1 : sqlite3_column_bytes(stmt, 7);
        if (floor_keep(floor, sqlite3_column_text(stmt, 4), sqlite3_column_bytes(stmt, 4),
                       &row->layer_offset) < 0 ||
            floor_keep(floor, sqlite3_column_text(stmt, 5), sqlite3_column_bytes(stmt, 5),
                       &row->kind_offset) < 0 ||
            floor_keep(floor, sqlite3_column_text(stmt, 6), row->fields_bytes,
                       &row->fields_offset) < 0 ||
            floor_keep(floor, sqlite3_column_blob(stmt, 7),
                       row->payload_bytes > 0 ? (size_t)row->payload_bytes : 0,
                       &row->payload_offset) < 0)
            goto done;
    }
    rc = rc == SQLITE_DONE && floor->row_count > 0 ? 0 : -1;
done:
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return rc == 0 ? 0 : -1;
}

/* Binds row i as the writer does, its seq NULL when it is one more than the row before
 * (SQLite then appends without searching for the key, the same rowid; writer.c W4). */
static void floor_bind(const struct floor *floor, sqlite3_stmt *stmt, int first, uint32_t i)
{
    const struct floor_row *row = &floor->rows[i];
    if (i > 0 && row->seq == floor->rows[i - 1].seq + 1)
        sqlite3_bind_null(stmt, first);
    else
        sqlite3_bind_int64(stmt, first, row->seq);
    sqlite3_bind_int64(stmt, first + 1, row->time_ns);
    sqlite3_bind_int64(stmt, first + 2, row->ctx);
    sqlite3_bind_int64(stmt, first + 3, row->pid);
    sqlite3_bind_text(stmt, first + 4, floor->bytes + row->layer_offset, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, first + 5, floor->bytes + row->kind_offset, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, first + 6, floor->bytes + row->fields_offset,
                      (int)row->fields_bytes, SQLITE_STATIC);
    if (row->payload_bytes < 0)
        sqlite3_bind_null(stmt, first + 7);
    else if (row->payload_bytes == 0)
        sqlite3_bind_zeroblob(stmt, first + 7, 0);
    else
        sqlite3_bind_blob(stmt, first + 7, floor->bytes + row->payload_offset,
                          row->payload_bytes, SQLITE_STATIC);
}

static int floor_step(const struct floor *floor, sqlite3_stmt *stmt, uint32_t first,
                      uint32_t count)
{
    for (uint32_t row = 0; row < count; row++)
        floor_bind(floor, stmt, (int)(row * FLOOR_COLUMNS + 1), first + row);
    int rc = sqlite3_step(stmt) == SQLITE_DONE ? 0 : -1;
    sqlite3_reset(stmt);
    return rc;
}

/* The writer's settings: the schema it creates (WAL, synchronous=OFF), 32 rows per INSERT
 * statement and the rest of a transaction one by one, SIM_TRACE_BATCH_EVENTS rows per
 * transaction, no index, a TRUNCATE checkpoint at close. */
static int floor_insert(const struct floor *floor, sqlite3 *db)
{
    static const char schema_sql[] =
        SIM_TRACE_WRITER_PRAGMAS_SQL " BEGIN;"
        "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "CREATE TABLE files(path TEXT PRIMARY KEY, text TEXT NOT NULL, hash TEXT NOT NULL);"
        "CREATE TABLE events(seq INTEGER PRIMARY KEY, time_ns INTEGER NOT NULL,"
        " ctx INTEGER NOT NULL, pid INTEGER NOT NULL, layer TEXT NOT NULL, kind TEXT NOT NULL,"
        " fields TEXT NOT NULL, payload BLOB); COMMIT;";
    static const char head[] = SIM_TRACE_WRITER_INSERT_SQL "(?,?,?,?,?,?,?,?)";
    char rows_sql[sizeof head + FLOOR_ROWS_PER_INSERT * 20];
    size_t used = (size_t)snprintf(rows_sql, sizeof rows_sql, "%s", head);
    for (uint32_t row = 1; row < FLOOR_ROWS_PER_INSERT; row++)
        used += (size_t)snprintf(rows_sql + used, sizeof rows_sql - used, ",(?,?,?,?,?,?,?,?)");
    sqlite3_stmt *one = NULL, *rows = NULL;
    int rc = sqlite3_exec(db, schema_sql, NULL, NULL, NULL) == SQLITE_OK &&
             sqlite3_prepare_v2(db, head, -1, &one, NULL) == SQLITE_OK &&
             sqlite3_prepare_v2(db, rows_sql, -1, &rows, NULL) == SQLITE_OK ? 0 : -1;
    for (uint32_t first = 0; rc == 0 && first < floor->row_count;
         first += SIM_TRACE_BATCH_EVENTS) {
        uint32_t count = floor->row_count - first < SIM_TRACE_BATCH_EVENTS
                             ? floor->row_count - first : SIM_TRACE_BATCH_EVENTS;
        rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
        uint32_t index = 0;
        for (; rc == 0 && index + FLOOR_ROWS_PER_INSERT <= count; index += FLOOR_ROWS_PER_INSERT)
            rc = floor_step(floor, rows, first + index, FLOOR_ROWS_PER_INSERT);
        for (; rc == 0 && index < count; index++)
            rc = floor_step(floor, one, first + index, 1);
        if (rc == 0 && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
            rc = -1;
    }
    sqlite3_finalize(one);
    sqlite3_finalize(rows);
    if (rc == 0 &&
        sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL) != SQLITE_OK)
        rc = -1;
    return rc;
}

/* CPU seconds the calling thread has used. */
static double thread_cpu_seconds(void)
{
    struct timespec now;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now) != 0)
        return 0.0;
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static void *floor_main(void *state)
{
    struct floor *floor = state;
    double start_cpu_s = thread_cpu_seconds();
    double start_s = bench_now_seconds();
    sqlite3 *db = NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(floor->path, &db, flags, NULL) == SQLITE_OK ? 0 : -1;
    if (rc == 0)
        rc = floor_insert(floor, db);
    if (sqlite3_close(db) != SQLITE_OK)
        rc = -1;
    floor->seconds = rc == 0 ? bench_now_seconds() - start_s : -1.0;
    floor->cpu_seconds = thread_cpu_seconds() - start_cpu_s;
    return NULL;
}

static void database_remove(const char *path)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    char name[512];
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        snprintf(name, sizeof name, "%.400s%s", path, suffixes[i]);
        unlink(name);
    }
}

/* Best of RUNS: seconds a second thread takes to insert the rows of `trace` into a new
 * database beside it, and (best of the same runs) the CPU seconds it spends; zeros after
 * an error. */
static struct timing floor_best(const char *figure, const char *trace, const char *dir)
{
    struct floor floor = { 0 };
    char path[512];
    snprintf(path, sizeof path, "%.400s/floor.db", dir);
    floor.path = path;
    double best_s = 0.0, best_cpu_s = 0.0;
    if (floor_load(&floor, trace) < 0) {
        bench_error(figure, "cannot read the rows of %s", trace);
    } else {
        for (unsigned run = 0; run < RUNS; run++) {
            database_remove(path);
            pthread_t thread;
            if (pthread_create(&thread, NULL, floor_main, &floor) != 0) {
                bench_error(figure, "cannot start the floor's thread");
                break;
            }
            pthread_join(thread, NULL);
            if (floor.seconds < 0) {
                bench_error(figure, "the floor's inserts failed");
                best_s = 0.0;
                break;
            }
            if (best_s == 0.0 || floor.seconds < best_s)
                best_s = floor.seconds;
            if (best_cpu_s == 0.0 || floor.cpu_seconds < best_cpu_s)
                best_cpu_s = floor.cpu_seconds;
        }
    }
    database_remove(path);
    free(floor.rows);
    free(floor.bytes);
    return (struct timing){ .wall_s = best_s, .cpu_s = best_s > 0.0 ? best_cpu_s : 0.0 };
}

/* ---- The figures ---------------------------------------------------------------------- */

/* Replay of `db`, best of RUNS (wall and CPU each the smallest); zeros after an error. */
static struct timing replay_best(const char *db)
{
    char *replay[] = { "vmcisim", "replay", "-q", (char *)db, NULL };
    char what[1024];
    snprintf(what, sizeof what, "./vmcisim replay %s", db);
    return best_of_runs("trace_replay_s", replay, what);
}

static void stream_figures(const char *dir)
{
    char scenario[512], db[512], arg[32];
    snprintf(scenario, sizeof scenario, "%.400s/stream.lua", dir);
    snprintf(db, sizeof db, "%.400s/stream.db", dir);
    snprintf(arg, sizeof arg, "%u", STREAM_MIB * 1024u * 1024u);
    if (bench_write_file(scenario, stream_lua) < 0) {
        bench_error("trace_stream_h2g_64k_traced", "cannot write %s", scenario);
        return;
    }
    double bytes = (double)STREAM_MIB * 1024.0 * 1024.0;
    struct timing untraced = run_best("trace_stream_h2g_64k_traced", scenario, NULL, arg);
    struct timing traced = run_best("trace_stream_h2g_64k_traced", scenario, db, arg);
    if (untraced.wall_s <= 0 || traced.wall_s <= 0)
        return;
    bench_report("trace_stream_h2g_64k_traced", bytes / traced.wall_s, "bytes/s",
                 bytes / untraced.wall_s, 0.75);
    if (untraced.cpu_s > 0 && traced.cpu_s > 0)
        bench_report("trace_stream_h2g_64k_traced_cpu", bytes / traced.cpu_s, "bytes/cpu_s",
                     bytes / untraced.cpu_s, 0.0);
    struct timing floor = floor_best("trace_stream_h2g_64k_floor", db, dir);
    if (floor.wall_s > 0)
        bench_report("trace_stream_h2g_64k_floor", bytes / traced.wall_s, "bytes/s",
                     bytes / floor.wall_s, 0.9);
    if (floor.cpu_s > 0 && traced.cpu_s > 0)
        bench_report("trace_stream_h2g_64k_floor_cpu", bytes / traced.cpu_s, "bytes/cpu_s",
                     bytes / floor.cpu_s, 0.0);
    struct timing replay = replay_best(db);
    if (replay.wall_s > 0)
        bench_report("trace_replay_s", replay.wall_s, "s", traced.wall_s, 1.0);
    if (replay.cpu_s > 0 && traced.cpu_s > 0)
        bench_report("trace_replay_cpu_s", replay.cpu_s, "cpu_s", traced.cpu_s, 1.0);
    database_remove(db);
}

static void dgram_figures(const char *dir)
{
    char scenario[512], db[512], arg[32];
    snprintf(scenario, sizeof scenario, "%.400s/dgram.lua", dir);
    snprintf(db, sizeof db, "%.400s/dgram.db", dir);
    snprintf(arg, sizeof arg, "%u", DG_ROUNDTRIPS);
    if (bench_write_file(scenario, dgram_lua) < 0) {
        bench_error("trace_dg_roundtrips_traced", "cannot write %s", scenario);
        return;
    }
    double untraced_s = run_best_seconds("trace_dg_roundtrips_traced", scenario, NULL, arg);
    struct timing traced = run_best("trace_dg_roundtrips_traced", scenario, db, arg);
    if (untraced_s <= 0 || traced.wall_s <= 0)
        return;
    bench_report("trace_dg_roundtrips_traced", DG_ROUNDTRIPS / traced.wall_s, "roundtrips/s",
                 DG_ROUNDTRIPS / untraced_s, 0.0);
    struct timing floor = floor_best("trace_dg_roundtrips_floor", db, dir);
    if (floor.wall_s > 0)
        bench_report("trace_dg_roundtrips_floor", DG_ROUNDTRIPS / traced.wall_s, "roundtrips/s",
                     DG_ROUNDTRIPS / floor.wall_s, 0.9);
    if (floor.cpu_s > 0 && traced.cpu_s > 0)
        bench_report("trace_dg_roundtrips_floor_cpu", DG_ROUNDTRIPS / traced.cpu_s,
                     "roundtrips/cpu_s", DG_ROUNDTRIPS / floor.cpu_s, 0.0);
    database_remove(db);
}

void bench_trace_runs(const char *dir)
{
    char path[512];
    stream_figures(dir);
    dgram_figures(dir);
    snprintf(path, sizeof path, "%.400s/stream.lua", dir);
    unlink(path);
    snprintf(path, sizeof path, "%.400s/dgram.lua", dir);
    unlink(path);
}
