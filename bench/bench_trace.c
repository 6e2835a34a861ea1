/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_trace.c: rows per second of the SQLite trace writer.
 *
 * Writes 1 000 000 events of a realistic mix (3 fields each: two u64 and a third
 * that is a u64, a short string every 3rd event, or a 56-byte payload every 10th)
 * through the writer's sink, and the same rows through the least code that can
 * insert them the way the writer does: the same open flags, pragmas, schema, batch size,
 * REFERENCE_ROWS_PER_INSERT rows per INSERT statement (the writer's 32; the rest of a batch
 * one by one) and no index (the writer builds none), with the JSON text made before the
 * clock starts.
 * What differs, plainly: the writer copies every event into its record ring on the calling
 * thread, makes the rows (fields JSON) on one worker thread and inserts them on another,
 * while the reference inserts on one thread and encodes nothing. So the ratio is the
 * writer's whole cost against the same SQLite work alone: it can pass 1 only where the
 * inserts overlap the copying and the encoding. Both timings cover open to close. Each runs twice, alternating; the
 * better run counts.
 *
 * The traced runs (issue 10, items 4 and 5) go through the `vmcisim` binary, as a user runs
 * them (`make bench` runs from the project root and builds ./vmcisim first), each the best
 * of RUNS:
 *   trace_stream_h2g_64k_traced   STREAM_MIB MiB host -> guest in 64 KiB sends, `run
 *                                 --trace` at device level with the default --payload (256),
 *                                 in simulated bytes per wall second; reference: the same
 *                                 `run` without --trace (the digest only); target 0.75.
 *   trace_stream_h2g_64k_traced_cpu  the same two runs in simulated bytes per CPU second
 *                                 (user and system time of the whole process, every thread),
 *                                 which moves far less with the machine's load than the wall
 *                                 figure; no target (a traced run spends more CPU on its
 *                                 writer threads by design: the wall figure has the target).
 *   trace_stream_h2g_64k_floor    the same traced figure against the SQLite floor: the rows
 *                                 of that trace, read back before the clock starts, inserted
 *                                 by a bare loop with the writer's settings (pragmas, schema,
 *                                 32 rows per statement, 4096 per transaction, no index,
 *                                 checkpoint) on a second thread, timed from open to close,
 *                                 and counted as the stream's bytes per second; target 0.9.
 *   trace_stream_h2g_64k_floor_cpu  the same two in CPU seconds: all threads of the traced
 *                                 run against the floor's one thread; no target. On a loaded
 *                                 machine, where the traced run's threads share what the
 *                                 floor's thread gets alone (the kernel shares the CPUs
 *                                 between sessions), the wall line comes near this one.
 *   trace_dg_roundtrips_traced    DG_ROUNDTRIPS 64-byte datagram round trips guest -> host
 *                                 echo -> guest, traced, in round trips per wall second;
 *                                 reference: the same without --trace; no target of its own
 *                                 (SQLite bounds it: the next line).
 *   trace_dg_roundtrips_floor     that traced figure against its rows' SQLite floor, as
 *                                 above; target 0.9.
 *   trace_dg_roundtrips_floor_cpu the same two in CPU seconds, as for the stream; no target.
 *   trace_replay_s                wall seconds of `vmcisim replay` of the stream trace;
 *                                 reference: the traced run that wrote it; a ceiling:
 *                                 target ratio <= 1.0.
 *   trace_replay_cpu_s            the same two in CPU seconds of the whole process (best of
 *                                 RUNS each); a ceiling: target ratio <= 1.0.
 *   trace_first_inspect_indexes_s wall seconds the first reader spends making the trace's
 *                                 indexes (sim_trace_indexes_ensure) on the 1 000 000-row
 *                                 file of trace_writer_rows; reference: that file's write, from
 *                                 open to close (what a close that built them would add).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "bench.h"
#include "bench_trace_runs.h"
#include "sim/engine/error.h"
#include "sim/trace/reader.h"
#include "sim/trace/writer.h"

#define EVENTS 1000000u
#define RUNS 2u
#define NAMES 64u
#define REFERENCE_ROWS_PER_INSERT 32u   /* WRITER_ROWS_PER_INSERT in sim/trace/writer.c */
#define REFERENCE_COLUMNS 8

static const char *const kinds[12] = {
    "dg_route", "dg_send", "dg_recv", "qp_alloc", "qp_enqueue", "qp_dequeue",
    "doorbell", "proc_spawn", "log", "reg_write", "reg_read", "irq",
};
static char names[NAMES][16];
static uint8_t payload[56];
static char *reference_json;            /* EVENTS texts, one after the other */
static uint32_t *reference_json_end;    /* EVENTS end offsets into reference_json */

/* Must match sim/trace/writer.c: pragmas, tables, statement, indexes. */
static const char reference_schema_sql[] =
    SIM_TRACE_WRITER_PRAGMAS_SQL " BEGIN;"
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE files(path TEXT PRIMARY KEY, text TEXT NOT NULL, hash TEXT NOT NULL);"
    "CREATE TABLE events(seq INTEGER PRIMARY KEY, time_ns INTEGER NOT NULL,"
    " ctx INTEGER NOT NULL, pid INTEGER NOT NULL, layer TEXT NOT NULL, kind TEXT NOT NULL,"
    " fields TEXT NOT NULL, payload BLOB);"
    "INSERT INTO meta(key, value) VALUES('schema_version', '1'); COMMIT;";
static const char *const reference_layers[5] = {"off", "api", "transport", "vmci", "device"};

static uint64_t event_time_ns(uint32_t i)
{
    return (uint64_t)i * 350 + (i % 7) * 100;   /* non-decreasing, as the engine's */
}

static void event_fill(uint32_t i, struct sim_trace_event *event)
{
    event->seq = i;
    event->time_ns = event_time_ns(i);
    event->ctx = 3 + i % 1000;
    event->pid = i % 64;
    event->layer = (enum sim_layer)(1 + i % 4);
    event->kind = kinds[i % 12];
    event->field_count = 0;
    sim_trace_field_u64(event, "src", 3 + i % 1000);
    sim_trace_field_u64(event, "dst", 1024 + i % 50);
    if (i % 10 == 0)
        sim_trace_field_bytes(event, "data", payload, sizeof payload);
    else if (i % 3 == 0)
        sim_trace_field_str(event, "name", names[i % NAMES]);
    else
        sim_trace_field_u64(event, "size", i % 65536);
}

static double run_writer(const char *path)
{
    char message[SIM_ERROR_MESSAGE_BYTES_MAX];
    struct sim_trace_writer *writer = NULL;
    double start_s = bench_now_seconds();
    if (sim_trace_writer_open(path, &writer, message) < 0) {
        fprintf(stderr, "bench trace: %s\n", message);
        return 0;
    }
    struct sim_trace_sink sink = sim_trace_writer_sink(writer, SIM_LAYER_DEVICE);
    struct sim_trace_event event;
    memset(&event, 0, sizeof event);
    for (uint32_t i = 0; i < EVENTS; i++) {
        event_fill(i, &event);
        if (sink.emit(sink.state, &event, message) < 0) {
            fprintf(stderr, "bench trace: %s\n", message);
            break;
        }
    }
    bench_sink_u64(sim_trace_writer_event_count(writer));
    if (sim_trace_writer_close(writer, message) < 0) {
        fprintf(stderr, "bench trace: %s\n", message);
        return 0;
    }
    return EVENTS / (bench_now_seconds() - start_s);
}

static int reference_fields(uint32_t i, char *json, size_t capacity_bytes)
{
    uint32_t src = 3 + i % 1000;
    uint32_t dst = 1024 + i % 50;
    if (i % 10 == 0)
        return snprintf(json, capacity_bytes,
                        "{\"src\":%" PRIu32 ",\"dst\":%" PRIu32 ",\"data\":{\"bytes\":56}}",
                        src, dst);
    if (i % 3 == 0)
        return snprintf(json, capacity_bytes,
                        "{\"src\":%" PRIu32 ",\"dst\":%" PRIu32 ",\"name\":\"%s\"}", src, dst,
                        names[i % NAMES]);
    return snprintf(json, capacity_bytes,
                    "{\"src\":%" PRIu32 ",\"dst\":%" PRIu32 ",\"size\":%" PRIu32 "}", src, dst,
                    i % 65536);
}

/* Makes the reference's JSON texts (untimed). Returns 0, or -1 if out of memory. */
static int reference_json_create(void)
{
    enum { JSON_BYTES_MAX = 96 };
    reference_json = malloc((size_t)EVENTS * JSON_BYTES_MAX);
    reference_json_end = malloc(EVENTS * sizeof *reference_json_end);
    if (reference_json == NULL || reference_json_end == NULL)
        return -1;
    uint32_t offset = 0;
    for (uint32_t i = 0; i < EVENTS; i++) {
        int json_bytes = reference_fields(i, reference_json + offset, JSON_BYTES_MAX);
        if (json_bytes < 0 || json_bytes >= JSON_BYTES_MAX)
            return -1;
        offset += (uint32_t)json_bytes;
        reference_json_end[i] = offset;
    }
    return 0;
}

/* Binds event i's columns from parameter `first` on, as the writer does: a seq one more
 * than the row before (every one but the first here) as NULL (writer.c W4). */
static void reference_bind(sqlite3_stmt *insert, int first, uint32_t i)
{
    uint32_t json_start = i == 0 ? 0 : reference_json_end[i - 1];
    const char *json = reference_json + json_start;
    int json_bytes = (int)(reference_json_end[i] - json_start);
    if (i > 0)
        sqlite3_bind_null(insert, first);
    else
        sqlite3_bind_int64(insert, first, i);
    sqlite3_bind_int64(insert, first + 1, (sqlite3_int64)event_time_ns(i));
    sqlite3_bind_int64(insert, first + 2, 3 + i % 1000);
    sqlite3_bind_int64(insert, first + 3, i % 64);
    sqlite3_bind_text(insert, first + 4, reference_layers[1 + i % 4], -1, SQLITE_STATIC);
    sqlite3_bind_text(insert, first + 5, kinds[i % 12], -1, SQLITE_STATIC);
    sqlite3_bind_text(insert, first + 6, json, json_bytes, SQLITE_STATIC);
    if (i % 10 == 0)
        sqlite3_bind_blob(insert, first + 7, payload, sizeof payload, SQLITE_STATIC);
    else
        sqlite3_bind_null(insert, first + 7);
}

/* Inserts events first .. first + count - 1 with one step of `insert` (count rows). */
static void reference_insert(sqlite3_stmt *insert, uint32_t first, uint32_t count)
{
    for (uint32_t row = 0; row < count; row++)
        reference_bind(insert, (int)(row * REFERENCE_COLUMNS + 1), first + row);
    if (sqlite3_step(insert) != SQLITE_DONE)
        fprintf(stderr, "bench trace: reference insert: %s\n",
                sqlite3_errmsg(sqlite3_db_handle(insert)));
    sqlite3_reset(insert);
}

/* One batch of the writer's size as one transaction: groups of REFERENCE_ROWS_PER_INSERT
 * rows, then the rest one by one. */
static void reference_batch(sqlite3 *db, sqlite3_stmt *one, sqlite3_stmt *rows, uint32_t first,
                            uint32_t count)
{
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    uint32_t index = 0;
    for (; index + REFERENCE_ROWS_PER_INSERT <= count; index += REFERENCE_ROWS_PER_INSERT)
        reference_insert(rows, first + index, REFERENCE_ROWS_PER_INSERT);
    for (; index < count; index++)
        reference_insert(one, first + index, 1);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
}

static int reference_prepare(sqlite3 *db, sqlite3_stmt **one, sqlite3_stmt **rows)
{
    static const char head[] = SIM_TRACE_WRITER_INSERT_SQL;
    static const char row_sql[] = "(?,?,?,?,?,?,?,?)";
    char sql[sizeof head + REFERENCE_ROWS_PER_INSERT * sizeof row_sql];
    size_t used = (size_t)snprintf(sql, sizeof sql, "%s%s", head, row_sql);
    if (sqlite3_prepare_v2(db, sql, -1, one, NULL) != SQLITE_OK)
        return -1;
    for (uint32_t row = 1; row < REFERENCE_ROWS_PER_INSERT; row++)
        used += (size_t)snprintf(sql + used, sizeof sql - used, ",%s", row_sql);
    if (used >= sizeof sql)
        return -1;
    return sqlite3_prepare_v2(db, sql, -1, rows, NULL) == SQLITE_OK ? 0 : -1;
}

static double run_reference(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *one = NULL, *rows = NULL;
    double start_s = bench_now_seconds();
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK ||
        sqlite3_exec(db, reference_schema_sql, NULL, NULL, NULL) != SQLITE_OK ||
        reference_prepare(db, &one, &rows) < 0) {
        fprintf(stderr, "bench trace: reference: %s\n", sqlite3_errmsg(db));
        sqlite3_finalize(one);
        sqlite3_finalize(rows);
        sqlite3_close(db);
        return 0;
    }
    for (uint32_t first = 0; first < EVENTS; first += SIM_TRACE_BATCH_EVENTS) {
        uint32_t count = EVENTS - first < SIM_TRACE_BATCH_EVENTS ? EVENTS - first
                                                                 : SIM_TRACE_BATCH_EVENTS;
        reference_batch(db, one, rows, first, count);
    }
    sqlite3_finalize(one);
    sqlite3_finalize(rows);
    if (sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL) != SQLITE_OK)
        fprintf(stderr, "bench trace: reference: %s\n", sqlite3_errmsg(db));
    sqlite3_close(db);
    return EVENTS / (bench_now_seconds() - start_s);
}

static void remove_database(const char *path)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    char name[256];
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        snprintf(name, sizeof name, "%.200s%s", path, suffixes[i]);
        unlink(name);
    }
}

void bench_trace(void)
{
    char dir[] = "/tmp/bench_trace.XXXXXX";
    if (mkdtemp(dir) == NULL) {
        perror("bench trace: mkdtemp");
        return;
    }
    char path[sizeof dir + 16];
    snprintf(path, sizeof path, "%s/trace.db", dir);
    for (uint32_t i = 0; i < NAMES; i++)
        snprintf(names[i], sizeof names[i], "process-%" PRIu32, i);
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)(i * 37 + 11);
    if (reference_json_create() < 0) {
        fprintf(stderr, "bench trace: out of memory\n");
        goto done;
    }
    double writer_best = 0;
    double reference_best = 0;
    double indexes_best_s = 0;
    for (uint32_t run = 0; run < RUNS; run++) {
        remove_database(path);
        double reference = run_reference(path);
        remove_database(path);
        double writer = run_writer(path);
        reference_best = reference > reference_best ? reference : reference_best;
        writer_best = writer > writer_best ? writer : writer_best;
        double start_s = bench_now_seconds();
        enum sim_trace_indexes made = sim_trace_indexes_ensure(path);
        double indexes_s = bench_now_seconds() - start_s;
        if (made != SIM_TRACE_INDEXES_CREATED)
            bench_error("trace_first_inspect_indexes_s", "the indexes were not made (%d)",
                        (int)made);
        else if (indexes_best_s == 0 || indexes_s < indexes_best_s)
            indexes_best_s = indexes_s;
    }
    remove_database(path);
    bench_report("trace_writer_rows", writer_best, "rows/s", reference_best, 0.7);
    if (indexes_best_s > 0 && writer_best > 0)
        bench_report("trace_first_inspect_indexes_s", indexes_best_s, "s", EVENTS / writer_best,
                     0.0);
    bench_trace_runs(dir);
done:
    free(reference_json);
    free(reference_json_end);
    reference_json = NULL;
    reference_json_end = NULL;
    rmdir(dir);
}
