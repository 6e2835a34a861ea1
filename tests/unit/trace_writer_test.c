/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/trace_writer_test.c: the SQLite trace writer (sim/trace/writer.h).
 *
 * Each test writes a database under one mkdtemp directory, closes the writer, and
 * reads the file back with plain SQLite: what a user's query would see. Field values
 * are read with json_extract, the way docs/trace-schema.md tells users to.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <sqlite3.h>
#include <xxhash.h>

#include "sim/engine/error.h"
#include "sim/trace/fields_json.h"
#include "sim/trace/ring.h"
#include "sim/trace/reader.h"
#include "sim/trace/writer.h"
#include "suites.h"
#include "test_support.h"

static char temp_dir[64];

/* ---- Fixtures ---------------------------------------------------------------------- */

static const char *temp_path(const char *name)
{
    static char path[sizeof temp_dir + 256 + 1];     /* d_name is at most 255 bytes */
    snprintf(path, sizeof path, "%s/%s", temp_dir, name);
    return path;
}

static struct sim_trace_event event_make(uint64_t seq, enum sim_layer layer, const char *kind)
{
    struct sim_trace_event event;
    memset(&event, 0, sizeof event);
    event.seq = seq;
    event.time_ns = 1000 * seq + 7;
    event.ctx = (uint32_t)(seq % 5) + 2;
    event.pid = (uint32_t)(seq % 3);
    event.layer = layer;
    event.kind = kind;
    return event;
}

static struct sim_trace_writer *writer_open_fixture(const char *name)
{
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    struct sim_trace_writer *writer = NULL;
    int rc = sim_trace_writer_open(temp_path(name), &writer, message);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(writer);
    return writer;
}

static void writer_close_fixture(struct sim_trace_writer *writer)
{
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    CU_ASSERT_EQUAL(sim_trace_writer_close(writer, message), 0);
    CU_ASSERT_STRING_EQUAL(message, "");
}

static int emit(struct sim_trace_sink *sink, const struct sim_trace_event *event)
{
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    return sink->emit(sink->state, event, message);
}

static sqlite3 *db_open(const char *name)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(temp_path(name), &db, SQLITE_OPEN_READONLY, NULL);
    CU_ASSERT_EQUAL_FATAL(rc, SQLITE_OK);
    return db;
}

/* Prepares `sql` with one optional text parameter and steps to its first row. */
static sqlite3_stmt *db_row(sqlite3 *db, const char *sql, const char *parameter)
{
    sqlite3_stmt *stmt = NULL;
    CU_ASSERT_EQUAL_FATAL(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    if (parameter != NULL)
        sqlite3_bind_text(stmt, 1, parameter, -1, SQLITE_TRANSIENT);
    CU_ASSERT_EQUAL(sqlite3_step(stmt), SQLITE_ROW);
    return stmt;
}

static int64_t db_int(sqlite3 *db, const char *sql, const char *parameter)
{
    sqlite3_stmt *stmt = db_row(db, sql, parameter);
    int64_t value = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return value;
}

/* True if column 0 of the first row is exactly `size_bytes` bytes equal to `expected`. */
static bool db_bytes_equal(sqlite3 *db, const char *sql, const char *parameter,
                           const void *expected, size_t size_bytes)
{
    sqlite3_stmt *stmt = db_row(db, sql, parameter);
    const void *data = sqlite3_column_blob(stmt, 0);
    size_t got_bytes = (size_t)sqlite3_column_bytes(stmt, 0);
    bool equal = got_bytes == size_bytes &&
                 (size_bytes == 0 || memcmp(data, expected, size_bytes) == 0);
    sqlite3_finalize(stmt);
    return equal;
}

static bool db_text_equal(sqlite3 *db, const char *sql, const char *parameter,
                          const char *expected)
{
    return db_bytes_equal(db, sql, parameter, expected, strlen(expected));
}

static void hash_hex(const char *text, size_t text_bytes, char hex[33])
{
    XXH128_canonical_t canonical;
    XXH128_canonicalFromHash(&canonical, XXH3_128bits(text, text_bytes));
    for (size_t i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", canonical.digest[i]);
}

/* ---- Tests ------------------------------------------------------------------------- */

/* Every column of every emitted event reads back: fields via json_extract in emission
 * order, the first bytes field as the payload blob, byte for byte. */
static void test_every_event_is_stored_with_its_fields(void)
{
    static const uint8_t payload[56] = {0, 1, 2, 0xff, 0x80, 'a', 0, 9};
    struct sim_trace_writer *writer = writer_open_fixture("all.db");
    struct sim_trace_sink sink = sim_trace_writer_sink(writer, SIM_LAYER_DEVICE);
    struct sim_trace_event event = event_make(0, SIM_LAYER_API, "proc_spawn");
    sim_trace_field_u64(&event, "pid", 42);
    sim_trace_field_i64(&event, "delta", INT64_MIN);
    sim_trace_field_str(&event, "name", "client");
    CU_ASSERT_EQUAL(emit(&sink, &event), 0);
    event = event_make(1, SIM_LAYER_DEVICE, "reg_write");
    sim_trace_field_u64(&event, "reg", 0x10);
    sim_trace_field_bytes(&event, "data", payload, sizeof payload);
    sim_trace_field_bytes(&event, "more", "\x01\xab", 2);
    CU_ASSERT_EQUAL(emit(&sink, &event), 0);
    event = event_make(5, SIM_LAYER_VMCI, "dg_route");
    sim_trace_field_bytes(&event, "empty", NULL, 0);
    CU_ASSERT_EQUAL(emit(&sink, &event), 0);
    event = event_make(6, SIM_LAYER_TRANSPORT, "no_fields");
    CU_ASSERT_EQUAL(emit(&sink, &event), 0);
    CU_ASSERT_EQUAL(sim_trace_writer_event_count(writer), 4);
    writer_close_fixture(writer);

    sqlite3 *db = db_open("all.db");
    CU_ASSERT_EQUAL(db_int(db, "SELECT count(*) FROM events", NULL), 4);
    CU_ASSERT_TRUE(db_text_equal(db, "SELECT fields FROM events WHERE seq = 0", NULL,
                                 "{\"pid\":42,\"delta\":-9223372036854775808,"
                                 "\"name\":\"client\"}"));
    CU_ASSERT_EQUAL(db_int(db, "SELECT time_ns FROM events WHERE seq = 0", NULL), 7);
    CU_ASSERT_TRUE(db_text_equal(db, "SELECT layer || ' ' || kind || ' ' || ctx || ' ' || pid"
                                 " FROM events WHERE seq = 1", NULL, "device reg_write 3 1"));
    CU_ASSERT_EQUAL(db_int(db, "SELECT json_extract(fields, '$.delta') FROM events"
                           " WHERE seq = 0", NULL), INT64_MIN);
    CU_ASSERT_TRUE(db_text_equal(db, "SELECT json_extract(fields, '$.name') FROM events"
                                 " WHERE kind = ?1", "proc_spawn", "client"));
    CU_ASSERT_EQUAL(db_int(db, "SELECT payload IS NULL FROM events WHERE seq = 0", NULL), 1);
    CU_ASSERT_TRUE(db_bytes_equal(db, "SELECT payload FROM events WHERE seq = 1", NULL,
                                  payload, sizeof payload));
    CU_ASSERT_TRUE(db_text_equal(db, "SELECT fields FROM events WHERE seq = 1", NULL,
                                 "{\"reg\":16,\"data\":{\"bytes\":56},"
                                 "\"more\":{\"bytes\":2,\"hex\":\"01ab\"}}"));
    CU_ASSERT_TRUE(db_text_equal(db, "SELECT typeof(payload) || length(payload) || fields"
                                 " FROM events WHERE seq = 5", NULL,
                                 "blob0{\"empty\":{\"bytes\":0}}"));
    CU_ASSERT_TRUE(db_text_equal(db, "SELECT fields FROM events WHERE seq = 6", NULL, "{}"));
    sqlite3_close(db);
}

/* A PAYLOAD field is stored as a bytes field is: the first one in the payload column,
 * byte for byte, and {"bytes":N} in the JSON (the digest skips it; digest_test.c). */
static void test_payload_field_is_stored_like_bytes(void)
{
    static const uint8_t written[5] = { 'h', 0, 0xff, 'o', '\n' };
    struct sim_trace_writer *writer = writer_open_fixture("payload.db");
    struct sim_trace_sink sink = sim_trace_writer_sink(writer, SIM_LAYER_DEVICE);
    struct sim_trace_event event = event_make(0, SIM_LAYER_TRANSPORT, "qp_enqueue");
    sim_trace_field_u64(&event, "port", 1024);
    sim_trace_field_i64(&event, "bytes", 5);
    sim_trace_field_payload(&event, "data", written, sizeof written);
    CU_ASSERT_EQUAL(emit(&sink, &event), 0);
    writer_close_fixture(writer);
    sqlite3 *db = db_open("payload.db");
    CU_ASSERT_TRUE(db_bytes_equal(db, "SELECT payload FROM events WHERE seq = 0", NULL,
                                  written, sizeof written));
    CU_ASSERT_TRUE(db_text_equal(db, "SELECT fields FROM events WHERE seq = 0", NULL,
                                 "{\"port\":1024,\"bytes\":5,\"data\":{\"bytes\":5}}"));
    sqlite3_close(db);
}

/* A sink at level L stores layers <= L only, even if the engine hands it more. */
static void test_level_stores_only_layers_up_to_level(void)
{
    static const enum sim_layer levels[] = {SIM_LAYER_OFF, SIM_LAYER_TRANSPORT,
                                            SIM_LAYER_DEVICE};
    static const int64_t expected_rows[] = {0, 2, 4};
    static const char *const expected_layers[] = {"", "api,transport",
                                                  "api,transport,vmci,device"};
    for (size_t i = 0; i < 3; i++) {
        struct sim_trace_writer *writer = writer_open_fixture("level.db");
        struct sim_trace_sink sink = sim_trace_writer_sink(writer, levels[i]);
        CU_ASSERT_EQUAL(sink.level, levels[i]);
        for (uint64_t seq = 0; seq < 4; seq++) {
            struct sim_trace_event event = event_make(seq, (enum sim_layer)(seq + 1), "any");
            CU_ASSERT_EQUAL(emit(&sink, &event), 0);
        }
        CU_ASSERT_EQUAL(sim_trace_writer_event_count(writer), (uint64_t)expected_rows[i]);
        writer_close_fixture(writer);
        sqlite3 *db = db_open("level.db");
        CU_ASSERT_EQUAL(db_int(db, "SELECT count(*) FROM events", NULL), expected_rows[i]);
        CU_ASSERT_TRUE(db_text_equal(db, "SELECT group_concat(layer) FROM"
                                     " (SELECT layer FROM events ORDER BY seq)", NULL,
                                     expected_layers[i]));
        sqlite3_close(db);
    }
}

/* 10 000 events span two full batches and a partial one. Batches are stored by the
 * writer's worker thread while emitting goes on, so a second connection sees whole
 * batches only, never more than were handed over; metadata drains the batches, so after
 * sim_trace_writer_meta it sees every event; after close every row, seqs contiguous. */
static void test_batches_commit_every_batch_and_the_rest_at_close(void)
{
    enum { EVENTS = 10000 };
    _Static_assert(EVENTS > 2 * SIM_TRACE_BATCH_EVENTS, "spans two full batches");
    struct sim_trace_writer *writer = writer_open_fixture("batch.db");
    struct sim_trace_sink sink = sim_trace_writer_sink(writer, SIM_LAYER_DEVICE);
    sqlite3 *db = db_open("batch.db.partial");     /* the file being written */
    for (uint64_t seq = 0; seq < EVENTS; seq++) {
        struct sim_trace_event event = event_make(seq, SIM_LAYER_VMCI, "dg_route");
        sim_trace_field_u64(&event, "index", seq);
        CU_ASSERT_EQUAL_FATAL(emit(&sink, &event), 0);
        uint64_t emitted = seq + 1;
        uint64_t in_batch = emitted % SIM_TRACE_BATCH_EVENTS;
        if (in_batch <= 1 || in_batch == SIM_TRACE_BATCH_EVENTS - 1 || emitted == EVENTS) {
            int64_t stored = db_int(db, "SELECT count(*) FROM events", NULL);
            CU_ASSERT_EQUAL(stored % SIM_TRACE_BATCH_EVENTS, 0);
            CU_ASSERT(stored <= (int64_t)(emitted - in_batch));
        }
    }
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    CU_ASSERT_EQUAL(sim_trace_writer_meta(writer, "drained", "yes", message), 0);
    CU_ASSERT_EQUAL(db_int(db, "SELECT count(*) FROM events", NULL), EVENTS);
    sqlite3_close(db);
    CU_ASSERT_EQUAL(sim_trace_writer_event_count(writer), EVENTS);
    writer_close_fixture(writer);

    db = db_open("batch.db");
    CU_ASSERT_EQUAL(db_int(db, "SELECT count(*) FROM events", NULL), EVENTS);
    CU_ASSERT_EQUAL(db_int(db, "SELECT min(seq) FROM events", NULL), 0);
    CU_ASSERT_EQUAL(db_int(db, "SELECT max(seq) FROM events", NULL), EVENTS - 1);
    CU_ASSERT_EQUAL(db_int(db, "SELECT count(*) FROM events"
                           " WHERE json_extract(fields, '$.index') <> seq", NULL), 0);
    sqlite3_close(db);
}

/* Seqs with gaps (a level that filters layers out leaves them): the writer binds a seq
 * that follows the last stored one as NULL (writer.c W4), so every row must still carry
 * its own seq: a first seq above 0, gaps at the start, middle and end of 32-row groups,
 * runs across a transaction's end, and a gap right after a drain (meta). */
static void test_seqs_with_gaps_are_stored_exactly(void)
{
    enum { EVENTS = 5000 };
    struct sim_trace_writer *writer = writer_open_fixture("gaps.db");
    struct sim_trace_sink sink = sim_trace_writer_sink(writer, SIM_LAYER_DEVICE);
    uint64_t seq = 5;                               /* SQLite's own first rowid is 1 */
    uint64_t seq_sum = 0;
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    for (uint32_t index = 0; index < EVENTS; index++) {
        if (index == 2500)
            CU_ASSERT_EQUAL(sim_trace_writer_meta(writer, "half", "yes", message), 0);
        if (index % 31 == 0 || index % 32 == 0 || index % 32 == 31 || index == 2500)
            seq += 1 + index % 3;                   /* a gap of 1 to 3 */
        struct sim_trace_event event = event_make(seq, SIM_LAYER_VMCI, "dg_route");
        sim_trace_field_u64(&event, "index", index);
        CU_ASSERT_EQUAL_FATAL(emit(&sink, &event), 0);
        seq_sum += seq;
        seq++;
    }
    writer_close_fixture(writer);
    sqlite3 *db = db_open("gaps.db");
    CU_ASSERT_EQUAL(db_int(db, "SELECT count(*) FROM events", NULL), EVENTS);
    CU_ASSERT_EQUAL(db_int(db, "SELECT min(seq) FROM events", NULL), 6);
    CU_ASSERT_EQUAL(db_int(db, "SELECT max(seq) FROM events", NULL), (int64_t)seq - 1);
    CU_ASSERT_EQUAL(db_int(db, "SELECT sum(seq) FROM events", NULL), (int64_t)seq_sum);
    /* Each row's own columns were made from its seq (event_make) */
    CU_ASSERT_EQUAL(db_int(db, "SELECT count(*) FROM events WHERE time_ns <> 1000 * seq + 7"
                           " OR ctx <> seq % 5 + 2 OR pid <> seq % 3", NULL), 0);
    /* ... and rows stay in emission order. */
    CU_ASSERT_EQUAL(db_int(db, "SELECT count(*) FROM events a JOIN events b"
                           " ON b.seq = (SELECT min(seq) FROM events WHERE seq > a.seq)"
                           " WHERE json_extract(b.fields, '$.index') <>"
                           " json_extract(a.fields, '$.index') + 1", NULL), 0);
    sqlite3_close(db);
}

/* Close builds no index (readers make them on first use) and leaves no -wal file beside
 * the trace; the file stays in WAL mode (docs/trace-schema.md, "Journal mode") with the
 * writer's 16 KiB pages. */
static void test_close_checkpoints_and_builds_no_index(void)
{
    struct sim_trace_writer *writer = writer_open_fixture("index.db");
    writer_close_fixture(writer);
    char wal[sizeof temp_dir + 300];
    snprintf(wal, sizeof wal, "%s-wal", temp_path("index.db"));
    CU_ASSERT_NOT_EQUAL(access(wal, F_OK), 0);
    sqlite3 *db = db_open("index.db");
    CU_ASSERT_EQUAL(db_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'index'"
                           " AND tbl_name = 'events'", NULL), 0);
    CU_ASSERT_TRUE(db_text_equal(db, "PRAGMA journal_mode", NULL, "wal"));
    CU_ASSERT_EQUAL(db_int(db, "PRAGMA page_size", NULL), 16384);
    sqlite3_close(db);
}

/* sim_trace_indexes_ensure: makes both indexes on a closed trace (then finds them), leaves
 * the trace one file with the same rows, and writes nothing to a PATH.partial, a read-only
 * file, a file whose write lock another connection holds, or what is not a trace. */
static void test_readers_make_the_indexes_on_first_use(void)
{
    struct sim_trace_writer *writer = writer_open_fixture("ensure.db");
    struct sim_trace_sink sink = sim_trace_writer_sink(writer, SIM_LAYER_DEVICE);
    for (uint64_t seq = 0; seq < 100; seq++) {
        struct sim_trace_event event = event_make(seq, SIM_LAYER_VMCI, seq % 2 ? "a" : "b");
        CU_ASSERT_EQUAL(emit(&sink, &event), 0);
    }
    writer_close_fixture(writer);
    const char *path = temp_path("ensure.db");
    char copy[sizeof temp_dir + 300];
    snprintf(copy, sizeof copy, "%s", path);
    CU_ASSERT_EQUAL(chmod(copy, 0444), 0);
    bool root = access(copy, W_OK) == 0;           /* root writes whatever the mode says */
    if (!root)
        CU_ASSERT_EQUAL(sim_trace_indexes_ensure(copy), SIM_TRACE_INDEXES_ABSENT);
    CU_ASSERT_EQUAL(chmod(copy, 0644), 0);
    sqlite3 *locker = NULL;
    CU_ASSERT_EQUAL_FATAL(sqlite3_open_v2(copy, &locker, SQLITE_OPEN_READWRITE, NULL),
                          SQLITE_OK);
    CU_ASSERT_EQUAL(sqlite3_exec(locker, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    CU_ASSERT_EQUAL(sim_trace_indexes_ensure(copy), SIM_TRACE_INDEXES_ABSENT);
    sqlite3_exec(locker, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(locker);
    CU_ASSERT_EQUAL(sim_trace_indexes_ensure(copy), SIM_TRACE_INDEXES_CREATED);
    CU_ASSERT_EQUAL(sim_trace_indexes_ensure(copy), SIM_TRACE_INDEXES_PRESENT);
    char wal[sizeof temp_dir + 300];
    snprintf(wal, sizeof wal, "%s-wal", path);
    CU_ASSERT_NOT_EQUAL(access(wal, F_OK), 0);
    sqlite3 *db = db_open("ensure.db");
    CU_ASSERT_EQUAL(db_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'index'"
                           " AND name IN ('events_time_ns', 'events_kind')", NULL), 2);
    CU_ASSERT_EQUAL(db_int(db, "SELECT count(*) FROM pragma_index_info('events_kind')"
                           " WHERE name = 'kind'", NULL), 1);
    CU_ASSERT_EQUAL(db_int(db, "SELECT count(*) FROM events WHERE kind = 'a'", NULL), 50);
    sqlite3_close(db);
    /* A trace being written (the partial file of an open writer) is never touched. */
    writer = writer_open_fixture("live.db");
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    CU_ASSERT_EQUAL(sim_trace_writer_meta(writer, "k", "v", message), 0);
    CU_ASSERT_EQUAL(sim_trace_indexes_ensure(temp_path("live.db.partial")),
                    SIM_TRACE_INDEXES_ABSENT);
    writer_close_fixture(writer);
    db = db_open("live.db");
    CU_ASSERT_EQUAL(db_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'index'"
                           " AND tbl_name = 'events'", NULL), 0);
    sqlite3_close(db);
    FILE *other = fopen(temp_path("ensure_other.db"), "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(other);
    fputs("not a trace", other);
    fclose(other);
    CU_ASSERT_EQUAL(sim_trace_indexes_ensure(temp_path("ensure_other.db")),
                    SIM_TRACE_INDEXES_ABSENT);
}

/* meta keeps one value per key (the last); files keeps the exact text and its
 * XXH3-128; the same path with other text is refused. */
static void test_meta_and_files_are_stored_exactly(void)
{
    static const char text[] = "-- scenario\nsim.log(\"h\\xc3\\xa9\")\n\0tail\xff";
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    char hex[33];
    struct sim_trace_writer *writer = writer_open_fixture("meta.db");
    CU_ASSERT_EQUAL(sim_trace_writer_meta(writer, "seed", "1", message), 0);
    CU_ASSERT_EQUAL(sim_trace_writer_meta(writer, "seed", "42", message), 0);
    CU_ASSERT_EQUAL(sim_trace_writer_file(writer, "main.lua", text, sizeof text - 1, message), 0);
    CU_ASSERT_EQUAL(sim_trace_writer_file(writer, "main.lua", text, sizeof text - 1, message), 0);
    CU_ASSERT_EQUAL(sim_trace_writer_file(writer, "empty.lua", NULL, 0, message), 0);
    CU_ASSERT_EQUAL(sim_trace_writer_file(writer, "main.lua", text, 4, message), SIM_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(message, "main.lua"));
    CU_ASSERT_PTR_NOT_NULL(strstr(message, temp_path("meta.db")));
    writer_close_fixture(writer);

    sqlite3 *db = db_open("meta.db");
    CU_ASSERT_TRUE(db_text_equal(db, "SELECT value FROM meta WHERE key = ?1", "seed", "42"));
    CU_ASSERT_TRUE(db_text_equal(db, "SELECT value FROM meta WHERE key = ?1", "schema_version",
                                 "1"));
    CU_ASSERT_TRUE(db_bytes_equal(db, "SELECT text FROM files WHERE path = ?1", "main.lua",
                                  text, sizeof text - 1));
    hash_hex(text, sizeof text - 1, hex);
    CU_ASSERT_TRUE(db_text_equal(db, "SELECT hash FROM files WHERE path = ?1", "main.lua", hex));
    hash_hex("", 0, hex);
    CU_ASSERT_TRUE(db_text_equal(db, "SELECT hash FROM files WHERE path = ?1", "empty.lua", hex));
    CU_ASSERT_TRUE(db_text_equal(db, "SELECT text FROM files WHERE path = ?1", "empty.lua", ""));
    CU_ASSERT_EQUAL(db_int(db, "SELECT count(*) FROM files", NULL), 2);
    sqlite3_close(db);
}

/* Field names whose ids pick the same slot of the writer's name cache, more of them than a
 * name may probe, each encode as themselves in any order: the cache answers only for a
 * name with the same bytes, and its text is the uncached one. */
static void test_names_sharing_a_cache_slot_each_encode_as_themselves(void)
{
    enum { NAMES = SIM_TRACE_JSON_NAME_PROBES + 2 };
    static char names[NAMES][16];
    uint32_t found = 0, slot = 0;
    for (uint32_t candidate = 0; found < NAMES && candidate < 1000000; candidate++) {
        char name[16];
        snprintf(name, sizeof name, "n%" PRIu32, candidate);
        uint64_t id = sim_trace_name_id(name, (uint32_t)strlen(name));
        uint32_t home = (uint32_t)(id ^ (id >> 32)) & (SIM_TRACE_JSON_NAME_SLOTS - 1);
        if (found == 0)
            slot = home;
        if (home == slot)
            memcpy(names[found++], name, sizeof name);
    }
    CU_ASSERT_FATAL(found == NAMES);
    struct sim_trace_json_names *cache = calloc(1, sizeof *cache);
    CU_ASSERT_FATAL(cache != NULL);
    uint32_t equal = 0;
    for (uint32_t round = 0; round < 4 * NAMES; round++) {
        struct sim_trace_event event;
        memset(&event, 0, sizeof event);
        event.layer = SIM_LAYER_API;
        event.kind = "names";
        event.field_count = 2;
        for (uint32_t index = 0; index < 2; index++) {
            const char *name = names[(round * (index + 2) + index) % NAMES];
            event.fields[index] = (struct sim_trace_field){
                .name = name, .type = SIM_FIELD_U64, .name_bytes = (uint32_t)strlen(name),
                .value.u64 = round * 10 + index,
            };
        }
        char cached[1024], uncached[1024];
        uint32_t payload_field = 0;
        size_t cached_bytes = sim_trace_fields_json_named(cached, &event, 256, &payload_field,
                                                          cache);
        size_t uncached_bytes = sim_trace_fields_json(uncached, &event, 256, &payload_field);
        equal += cached_bytes == uncached_bytes && strcmp(cached, uncached) == 0;
    }
    ASSERT_U64_EQ(equal, 4 * NAMES);
    free(cache);
}

/* Strings come back byte for byte through json_extract: quote, backslash, newline, tab,
 * CR, control bytes, DEL, UTF-8. An ill-formed byte is escaped as \udcXX, distinct from
 * the well-formed character of the same value, and the JSON stays valid. */
static void test_string_escaping_round_trips_through_json_extract(void)
{
    static const char tricky[] = "q\"b\\n\nt\tr\rc\x01\x1f del\x7f \xc3\xa9 \xf0\x9f\x98\x80 /";
    static const char ill_formed[] = "\xff\xc3\x28\xed\xa0\x80\xf4\x90\x80\x80\xc0\xaf\xe0";
    struct sim_trace_writer *writer = writer_open_fixture("escape.db");
    struct sim_trace_sink sink = sim_trace_writer_sink(writer, SIM_LAYER_DEVICE);
    struct sim_trace_event event = event_make(0, SIM_LAYER_API, "log");
    sim_trace_field_str(&event, "text", tricky);
    sim_trace_field_str(&event, "bad", ill_formed);
    sim_trace_field_str(&event, "y_umlaut", "\xc3\xbf");
    sim_trace_field_strn(&event, "raw_ff", "\xff", 1);
    CU_ASSERT_EQUAL(emit(&sink, &event), 0);
    writer_close_fixture(writer);

    sqlite3 *db = db_open("escape.db");
    CU_ASSERT_TRUE(db_text_equal(db, "SELECT json_extract(fields, '$.text') FROM events", NULL,
                                 tricky));
    CU_ASSERT_EQUAL(db_int(db, "SELECT json_valid(fields) FROM events", NULL), 1);
    CU_ASSERT_TRUE(db_text_equal(db, "SELECT json_extract(fields, '$.y_umlaut') FROM events",
                                 NULL, "\xc3\xbf"));
    CU_ASSERT_TRUE(db_text_equal(db, "SELECT json_extract(fields, '$.raw_ff') FROM events",
                                 NULL, "\xed\xb3\xbf"));   /* U+DCFF, not U+00FF */
    CU_ASSERT_EQUAL(db_int(db, "SELECT instr(fields, '\"bad\":\"\\udcff\\udcc3(\\udced"
                           "\\udca0\\udc80\\udcf4\\udc90\\udc80\\udc80\\udcc0\\udcaf\\udce0\"')"
                           " > 0 FROM events", NULL), 1);
    CU_ASSERT_EQUAL(db_int(db, "SELECT instr(fields, '\\u007f') > 0 FROM events", NULL), 1);
    sqlite3_close(db);
}

/* A string of exactly SIM_TRACE_STRING_BYTES_MAX bytes is stored; one byte more is
 * refused with SIM_ELIMIT naming the limit (built by hand: the builder asserts). */
static void test_string_limit_boundary(void)
{
    static char text[SIM_TRACE_STRING_BYTES_MAX + 1];
    memset(text, '"', sizeof text);
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    struct sim_trace_writer *writer = writer_open_fixture("limit.db");
    struct sim_trace_sink sink = sim_trace_writer_sink(writer, SIM_LAYER_DEVICE);
    struct sim_trace_event event = event_make(0, SIM_LAYER_API, "log");
    sim_trace_field_strn(&event, "text", text, SIM_TRACE_STRING_BYTES_MAX);
    CU_ASSERT_EQUAL(sink.emit(sink.state, &event, message), 0);
    event = event_make(1, SIM_LAYER_API, "log");
    event.fields[0] = (struct sim_trace_field){
        .name = "text", .type = SIM_FIELD_STR,
        .value.blob = {.data = text, .size_bytes = SIM_TRACE_STRING_BYTES_MAX + 1}};
    event.field_count = 1;
    CU_ASSERT_EQUAL(sink.emit(sink.state, &event, message), SIM_ELIMIT);
    CU_ASSERT_PTR_NOT_NULL(strstr(message, "SIM_TRACE_STRING_BYTES_MAX"));
    writer_close_fixture(writer);
    sqlite3 *db = db_open("limit.db");
    CU_ASSERT_EQUAL(db_int(db, "SELECT length(json_extract(fields, '$.text')) FROM events",
                           NULL), SIM_TRACE_STRING_BYTES_MAX);
    CU_ASSERT_EQUAL(db_int(db, "SELECT count(*) FROM events", NULL), 1);
    sqlite3_close(db);
}

/* U64 up to INT64_MAX is a JSON integer; above it a decimal string, so that UINT64_MAX
 * reads back exactly (SQLite would read a bare integer that large as a REAL). */
static void test_u64_boundaries_round_trip(void)
{
    static const uint64_t values[] = {0, 1, INT64_MAX, (uint64_t)INT64_MAX + 1, UINT64_MAX};
    static const char *const types[] = {"integer", "integer", "integer", "text", "text"};
    struct sim_trace_writer *writer = writer_open_fixture("u64.db");
    struct sim_trace_sink sink = sim_trace_writer_sink(writer, SIM_LAYER_DEVICE);
    for (uint64_t seq = 0; seq < 5; seq++) {
        struct sim_trace_event event = event_make(seq, SIM_LAYER_VMCI, "value");
        sim_trace_field_u64(&event, "v", values[seq]);
        CU_ASSERT_EQUAL(emit(&sink, &event), 0);
    }
    writer_close_fixture(writer);
    sqlite3 *db = db_open("u64.db");
    sqlite3_stmt *stmt = NULL;
    CU_ASSERT_EQUAL_FATAL(sqlite3_prepare_v2(db, "SELECT json_type(fields, '$.v'),"
                                             " json_extract(fields, '$.v') FROM events"
                                             " ORDER BY seq", -1, &stmt, NULL), SQLITE_OK);
    for (size_t i = 0; i < 5; i++) {
        CU_ASSERT_EQUAL_FATAL(sqlite3_step(stmt), SQLITE_ROW);
        CU_ASSERT_STRING_EQUAL((const char *)sqlite3_column_text(stmt, 0), types[i]);
        const char *text = (const char *)sqlite3_column_text(stmt, 1);
        CU_ASSERT_EQUAL(strtoull(text, NULL, 10), values[i]);
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
}

/* time_ns above INT64_MAX cannot be an SQLite INTEGER: SIM_ESINK, nothing stored. */
static void test_time_above_int64_max_is_refused(void)
{
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    struct sim_trace_writer *writer = writer_open_fixture("time.db");
    struct sim_trace_sink sink = sim_trace_writer_sink(writer, SIM_LAYER_DEVICE);
    struct sim_trace_event event = event_make(0, SIM_LAYER_API, "tick");
    event.time_ns = INT64_MAX;
    CU_ASSERT_EQUAL(sink.emit(sink.state, &event, message), 0);
    event = event_make(1, SIM_LAYER_API, "tick");
    event.time_ns = (uint64_t)INT64_MAX + 1;
    CU_ASSERT_EQUAL(sink.emit(sink.state, &event, message), SIM_ESINK);
    CU_ASSERT_PTR_NOT_NULL(strstr(message, "time_ns"));
    CU_ASSERT_EQUAL(sim_trace_writer_event_count(writer), 1);
    writer_close_fixture(writer);
}

/* A path in a missing directory fails at open with SIM_ESINK and a message that names
 * the path and SQLite's reason; no writer is returned. */
static void test_open_in_missing_directory_names_the_path(void)
{
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    struct sim_trace_writer *writer = (struct sim_trace_writer *)&message;
    const char *path = temp_path("no_such_dir/trace.db");
    CU_ASSERT_EQUAL(sim_trace_writer_open(path, &writer, message), SIM_ESINK);
    CU_ASSERT_PTR_NULL(writer);
    CU_ASSERT_PTR_NOT_NULL(strstr(message, path));
    CU_ASSERT_PTR_NOT_NULL(strstr(message, strerror(ENOENT)));   /* why SQLite could not */
}

/* A path far longer than a message: the message still ends with the cause, and names the
 * path by its head and its tail around "...". */
static void test_open_with_a_very_long_path_keeps_the_cause(void)
{
    static char path[6000];
    int used = snprintf(path, sizeof path, "%s/", temp_dir);
    memset(path + used, 'a', sizeof path - (size_t)used - 8);
    strcpy(path + sizeof path - 8, "tail.db");
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    struct sim_trace_writer *writer = NULL;
    CU_ASSERT_EQUAL(sim_trace_writer_open(path, &writer, message), SIM_EINVAL);
    CU_ASSERT_PTR_NULL(writer);
    CU_ASSERT_PTR_NOT_NULL(strstr(message, strerror(ENAMETOOLONG)));
    CU_ASSERT_PTR_NOT_NULL(strstr(message, "aaa...aaa"));
    CU_ASSERT_PTR_NOT_NULL(strstr(message, "tail.db: "));
    CU_ASSERT_PTR_NOT_NULL(strstr(message, temp_dir));
    CU_ASSERT_TRUE(strlen(message) < SIM_ERROR_MESSAGE_BYTES_MAX - 1);  /* nothing cut */
}

/* sim_message_path: whole up to the bound, else head + "..." + tail within it, never
 * cutting a UTF-8 character in two. */
static void test_message_path_shortens_in_the_middle(void)
{
    char shown[SIM_MESSAGE_PATH_BYTES_MAX];
    char path[3 * SIM_MESSAGE_PATH_BYTES_MAX];
    memset(path, 'x', SIM_MESSAGE_PATH_BYTES_MAX - 1);
    path[SIM_MESSAGE_PATH_BYTES_MAX - 1] = '\0';
    CU_ASSERT_STRING_EQUAL(sim_message_path(path, shown), path);    /* the longest whole */
    strcpy(path + SIM_MESSAGE_PATH_BYTES_MAX - 1, "yz");
    CU_ASSERT_PTR_EQUAL(sim_message_path(path, shown), shown);
    CU_ASSERT_EQUAL(strlen(shown), SIM_MESSAGE_PATH_BYTES_MAX - 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(shown, "x...x"));
    CU_ASSERT_EQUAL(strncmp(shown, "xxx", 3), 0);
    CU_ASSERT_STRING_EQUAL(shown + strlen(shown) - 3, "xyz");
    /* Two-byte characters (U+00E9) throughout: every byte kept begins or continues a
     * whole character, so the cut text is still valid UTF-8. */
    for (size_t index = 0; index + 2 < sizeof path; index += 2)
        memcpy(path + index, "\xC3\xA9", 2);
    path[sizeof path - 1 - (sizeof path - 1) % 2] = '\0';
    sim_message_path(path, shown);
    size_t length = strlen(shown);
    CU_ASSERT_TRUE(length < SIM_MESSAGE_PATH_BYTES_MAX);
    const char *dots = strstr(shown, "...");
    CU_ASSERT_PTR_NOT_NULL_FATAL(dots);
    CU_ASSERT_EQUAL((dots - shown) % 2, 0);                         /* whole characters */
    CU_ASSERT_EQUAL((length - (size_t)(dots - shown) - 3) % 2, 0);
    CU_ASSERT_EQUAL((unsigned char)dots[3], 0xC3u);                 /* a character's start */
}

/* Opening a path that holds an old trace and a stale -wal starts an empty trace. */
static void test_open_truncates_an_old_trace(void)
{
    struct sim_trace_writer *writer = writer_open_fixture("old.db");
    struct sim_trace_sink sink = sim_trace_writer_sink(writer, SIM_LAYER_DEVICE);
    struct sim_trace_event event = event_make(0, SIM_LAYER_API, "old");
    CU_ASSERT_EQUAL(emit(&sink, &event), 0);
    writer_close_fixture(writer);
    char wal[sizeof temp_dir + 300];
    snprintf(wal, sizeof wal, "%s-wal", temp_path("old.db"));
    FILE *stale = fopen(wal, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(stale);
    fputs("not a wal", stale);
    fclose(stale);
    writer = writer_open_fixture("old.db");
    writer_close_fixture(writer);
    sqlite3 *db = db_open("old.db");
    CU_ASSERT_EQUAL(db_int(db, "SELECT count(*) FROM events", NULL), 0);
    sqlite3_close(db);
}

/* ---- Replacing safely (writer.h: PATH.partial, renamed at a clean close) ------------ */

static void file_write(const char *name, const char *text)
{
    FILE *file = fopen(temp_path(name), "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(file);
    fputs(text, file);
    fclose(file);
}

static bool file_holds(const char *name, const char *text)
{
    char buffer[256] = "";
    FILE *file = fopen(temp_path(name), "r");
    if (file == NULL)
        return false;
    size_t got = fread(buffer, 1, sizeof buffer - 1, file);
    fclose(file);
    return got == strlen(text) && memcmp(buffer, text, got) == 0;
}

/* A Lua file, any other file, a directory, or such a file at PATH.partial is never
 * replaced: open refuses with SIM_EINVAL, names the path and leaves the file as it was. */
static void test_open_refuses_to_replace_what_is_not_a_trace(void)
{
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    struct sim_trace_writer *writer = NULL;
    file_write("victim.lua", "print('precious')\n");
    CU_ASSERT_EQUAL(sim_trace_writer_open(temp_path("victim.lua"), &writer, message),
                    SIM_EINVAL);
    CU_ASSERT_PTR_NULL(writer);
    CU_ASSERT_PTR_NOT_NULL(strstr(message, "refusing to replace"));
    CU_ASSERT_PTR_NOT_NULL(strstr(message, "victim.lua: not a vmcisim trace (not an SQLite"));
    CU_ASSERT_TRUE(file_holds("victim.lua", "print('precious')\n"));
    CU_ASSERT_EQUAL(access(temp_path("victim.lua.partial"), F_OK), -1);

    file_write("guarded.db.partial", "someone else's\n");
    CU_ASSERT_EQUAL(sim_trace_writer_open(temp_path("guarded.db"), &writer, message),
                    SIM_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(message, "guarded.db.partial: not a vmcisim trace"));
    CU_ASSERT_TRUE(file_holds("guarded.db.partial", "someone else's\n"));
    CU_ASSERT_EQUAL(access(temp_path("guarded.db"), F_OK), -1);

    CU_ASSERT_EQUAL(sim_trace_writer_open(temp_dir, &writer, message), SIM_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(message, "(not a regular file)"));

    file_write("empty.db", "");                     /* nothing to lose: replaced */
    writer = writer_open_fixture("empty.db");
    writer_close_fixture(writer);
    CU_ASSERT_EQUAL(sim_trace_check(temp_path("empty.db"), message), SIM_TRACE_KIND_TRACE);
}

/* An old trace at PATH stays whole until close: the new one is PATH.partial meanwhile,
 * and close renames it onto PATH, leaving no partial and no -wal file. */
static void test_trace_is_written_beside_and_renamed_at_close(void)
{
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    struct sim_trace_writer *writer = writer_open_fixture("swap.db");
    CU_ASSERT_EQUAL(sim_trace_writer_meta(writer, "generation", "1", message), 0);
    writer_close_fixture(writer);

    writer = writer_open_fixture("swap.db");
    CU_ASSERT_STRING_EQUAL(sim_trace_writer_partial_path(writer), temp_path("swap.db.partial"));
    CU_ASSERT_EQUAL(sim_trace_writer_meta(writer, "generation", "2", message), 0);
    sqlite3 *db = db_open("swap.db");
    CU_ASSERT_TRUE(db_text_equal(db, "SELECT value FROM meta WHERE key = 'generation'", NULL,
                                 "1"));
    sqlite3_close(db);
    db = db_open("swap.db.partial");
    CU_ASSERT_TRUE(db_text_equal(db, "SELECT value FROM meta WHERE key = 'generation'", NULL,
                                 "2"));
    sqlite3_close(db);
    writer_close_fixture(writer);
    CU_ASSERT_EQUAL(access(temp_path("swap.db.partial"), F_OK), -1);
    CU_ASSERT_EQUAL(access(temp_path("swap.db-wal"), F_OK), -1);
    db = db_open("swap.db");
    CU_ASSERT_TRUE(db_text_equal(db, "SELECT value FROM meta WHERE key = 'generation'", NULL,
                                 "2"));
    sqlite3_close(db);
}

/* abandon commits what was emitted and leaves it at PATH.partial, readable by the reader;
 * PATH is not created. */
static void test_abandon_leaves_a_readable_partial_trace(void)
{
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    struct sim_trace_writer *writer = writer_open_fixture("left.db");
    struct sim_trace_sink sink = sim_trace_writer_sink(writer, SIM_LAYER_DEVICE);
    for (uint64_t seq = 0; seq < 5; seq++) {
        struct sim_trace_event event = event_make(seq, SIM_LAYER_API, "kept");
        CU_ASSERT_EQUAL(emit(&sink, &event), 0);
    }
    CU_ASSERT_EQUAL(sim_trace_writer_abandon(writer, message), 0);
    CU_ASSERT_EQUAL(access(temp_path("left.db"), F_OK), -1);
    struct sim_trace_reader *reader = NULL;
    CU_ASSERT_EQUAL_FATAL(sim_trace_reader_open(temp_path("left.db.partial"), &reader,
                                                message), 0);
    ASSERT_U64_EQ(sim_trace_reader_event_count(reader), 5);
    sim_trace_reader_close(reader);
}

/* sim_trace_check tells the kinds apart without changing anything. */
static void test_check_tells_absent_empty_trace_and_other(void)
{
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    CU_ASSERT_EQUAL(sim_trace_check(temp_path("never.db"), message), SIM_TRACE_KIND_ABSENT);
    CU_ASSERT_PTR_NOT_NULL(strstr(message, "never.db: cannot open: No such file"));
    file_write("zero.db", "");
    CU_ASSERT_EQUAL(sim_trace_check(temp_path("zero.db"), message), SIM_TRACE_KIND_EMPTY);
    file_write("words.db", "SQLite format 3 is not what this is\n");
    CU_ASSERT_EQUAL(sim_trace_check(temp_path("words.db"), message), SIM_TRACE_KIND_OTHER);
    CU_ASSERT_PTR_NOT_NULL(strstr(message, "words.db: not a vmcisim trace ("));
    struct sim_trace_writer *writer = writer_open_fixture("kind.db");
    writer_close_fixture(writer);
    CU_ASSERT_EQUAL(sim_trace_check(temp_path("kind.db"), message), SIM_TRACE_KIND_TRACE);
    sqlite3 *db = NULL;
    CU_ASSERT_EQUAL_FATAL(sqlite3_open(temp_path("kind.db"), &db), SQLITE_OK);
    CU_ASSERT_EQUAL(sqlite3_exec(db, "UPDATE meta SET value = '2' WHERE key = "
                                     "'schema_version'", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    CU_ASSERT_EQUAL(sim_trace_check(temp_path("kind.db"), message), SIM_TRACE_KIND_OTHER);
    CU_ASSERT_PTR_NOT_NULL(strstr(message, "(schema_version 2; this vmcisim reads 1)"));
}

/* SQLite failing (another connection holds the write lock, so "database is locked") is
 * found by the worker when it stores the batch; the next call that waits for the worker
 * (here sim_trace_writer_meta) returns SIM_ESINK naming the path and SQLite's message.
 * A writer that failed stays failed: later events and close return the same error, and
 * the events of the failed batch are not in the file. */
static void test_sqlite_failure_returns_esink_naming_path(void)
{
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    struct sim_trace_writer *writer = writer_open_fixture("busy.db");
    struct sim_trace_sink sink = sim_trace_writer_sink(writer, SIM_LAYER_DEVICE);
    sqlite3 *other = NULL;
    CU_ASSERT_EQUAL_FATAL(sqlite3_open(temp_path("busy.db.partial"), &other), SQLITE_OK);
    CU_ASSERT_EQUAL_FATAL(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    struct sim_trace_event event = event_make(0, SIM_LAYER_API, "blocked");
    CU_ASSERT_EQUAL(sink.emit(sink.state, &event, message), 0);     /* only queued */
    CU_ASSERT_EQUAL(sim_trace_writer_meta(writer, "k", "v", message), SIM_ESINK);
    CU_ASSERT_PTR_NOT_NULL(strstr(message, temp_path("busy.db")));
    CU_ASSERT_PTR_NOT_NULL(strstr(message, "database is locked"));
    CU_ASSERT_EQUAL(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    message[0] = '\0';
    event = event_make(1, SIM_LAYER_API, "after");
    CU_ASSERT_EQUAL(sink.emit(sink.state, &event, message), SIM_ESINK);
    CU_ASSERT_PTR_NOT_NULL(strstr(message, "database is locked"));
    message[0] = '\0';
    CU_ASSERT_EQUAL(sim_trace_writer_close(writer, message), SIM_ESINK);
    CU_ASSERT_PTR_NOT_NULL(strstr(message, "database is locked"));
    CU_ASSERT_PTR_NOT_NULL(strstr(message, "the unfinished trace is"));
    CU_ASSERT_PTR_NOT_NULL(strstr(message, temp_path("busy.db.partial")));
    CU_ASSERT_EQUAL(access(temp_path("busy.db"), F_OK), -1);     /* never renamed */
    sqlite3 *db = db_open("busy.db.partial");
    CU_ASSERT_EQUAL(db_int(db, "SELECT count(*) FROM events", NULL), 0);
    sqlite3_close(db);
}

static bool file_equal(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb");
    FILE *fb = fopen(b, "rb");
    bool equal = fa != NULL && fb != NULL;
    for (long i = 0; equal && i < (1L << 24); i++) {
        int ca = fgetc(fa);
        equal = ca == fgetc(fb);
        if (ca == EOF)
            break;
    }
    if (fa != NULL)
        fclose(fa);
    if (fb != NULL)
        fclose(fb);
    return equal;
}

static void write_same_run(const char *name)
{
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    struct sim_trace_writer *writer = writer_open_fixture(name);
    struct sim_trace_sink sink = sim_trace_writer_sink(writer, SIM_LAYER_DEVICE);
    CU_ASSERT_EQUAL(sim_trace_writer_meta(writer, "seed", "7", message), 0);
    for (uint64_t seq = 0; seq < 5000; seq++) {
        struct sim_trace_event event = event_make(seq, SIM_LAYER_API, "x");
        CU_ASSERT_EQUAL(emit(&sink, &event), 0);
    }
    writer_close_fixture(writer);
}

/* meta holds only what callers put there (schema_version and payload_bytes_max from the
 * writer, no time of day), and two identical runs give byte-identical trace files. */
static void test_meta_has_no_wall_clock_value(void)
{
    write_same_run("same_a.db");
    sleep(1);   /* a second apart: any time-of-day value would differ */
    write_same_run("same_b.db");
    CU_ASSERT_TRUE(file_equal(temp_path("same_a.db"), temp_path("same_b.db")));
    sqlite3 *db = db_open("same_a.db");
    CU_ASSERT_EQUAL(db_int(db, "SELECT count(*) FROM meta", NULL), 3);
    CU_ASSERT_EQUAL(db_int(db, "SELECT count(*) FROM meta WHERE key NOT IN"
                           " ('schema_version', 'payload_bytes_max', 'seed')", NULL), 0);
    int64_t now_s = (int64_t)time(NULL);
    char since[32];
    snprintf(since, sizeof since, "%" PRId64, now_s - 366 * 86400);
    /* No value that reads as seconds, ms, us or ns since the epoch within the last year,
     * nor as a date. */
    CU_ASSERT_EQUAL(db_int(db, "SELECT count(*) FROM meta WHERE CAST(value AS INTEGER)"
                           " >= CAST(?1 AS INTEGER) OR value GLOB '*[0-9]-[0-9][0-9]-*'",
                           since), 0);
    sqlite3_close(db);
}

/* ---- Suite ------------------------------------------------------------------------- */

static int suite_init(void)
{
    snprintf(temp_dir, sizeof temp_dir, "/tmp/trace_writer_test.XXXXXX");
    return mkdtemp(temp_dir) == NULL ? 1 : 0;
}

static int suite_cleanup(void)
{
    DIR *dir = opendir(temp_dir);
    if (dir == NULL)
        return 1;
    struct dirent *entry;
    for (int i = 0; i < 1000 && (entry = readdir(dir)) != NULL; i++) {
        if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0)
            unlink(temp_path(entry->d_name));
    }
    closedir(dir);
    return rmdir(temp_dir) == 0 ? 0 : 1;
}

/* ---- The record ring behind the writer (sim/trace/ring.h) ------------------------------ */

#define STORE_CALLS_MAX 4096u

/* What the store and commit callbacks saw; read by the test only after a drain. */
struct store_log {
    uint32_t store_counts[STORE_CALLS_MAX];     /* events per store call */
    uint32_t store_calls;
    uint32_t commits;
    uint32_t events_at_commit[STORE_CALLS_MAX];
    uint64_t next_seq;                          /* the seq each event must have, in order */
    uint64_t stored_events;
    uint32_t wrong_events;
    uint32_t payload_bytes_max;                 /* the cut the events must show */
    int fail_at_store;                          /* -1: never fail */
};

/* Event `seq`'s payload size: small for the first ten, then large enough that the ring's
 * lap wraps several times over a few hundred events, and small enough that a store group
 * of them fits in the lap (PAYLOAD_SIZE_MAX). */
#define PAYLOAD_SIZE_MAX 66000u
static uint32_t payload_size_of(uint64_t seq)
{
    return seq < 10 ? (uint32_t)seq : 60000u + (uint32_t)(seq % 7) * 1000u;
}

/* Byte i of event seq's payload. */
static uint8_t payload_byte(uint64_t seq, uint32_t i)
{
    return (uint8_t)(seq * 31u + i * 7u);
}

static bool event_as_appended(const struct store_log *log, const struct sim_trace_event *event,
                              uint32_t payload_bytes_max)
{
    static const char *const kinds[7] = { "k0", "k1", "k2", "k3", "k4", "k5", "k6" };
    uint64_t seq = event->seq;
    uint32_t full = payload_size_of(seq);
    uint32_t kept = full < log->payload_bytes_max ? full : log->payload_bytes_max;
    bool right = seq == log->next_seq && event->time_ns == 1000 * seq + 7 &&
                 strcmp(event->kind, kinds[seq % 7]) == 0 && event->field_count == 3 &&
                 payload_bytes_max == log->payload_bytes_max &&
                 event->fields[0].type == SIM_FIELD_U64 && event->fields[0].value.u64 == seq &&
                 event->fields[1].type == SIM_FIELD_STR &&
                 event->fields[1].value.blob.size_bytes == 5 &&
                 memcmp(event->fields[1].value.blob.data, "hello", 5) == 0 &&
                 event->fields[2].type == SIM_FIELD_BYTES &&
                 event->fields[2].value.blob.size_bytes == full;
    const uint8_t *data = event->fields[2].value.blob.data;
    for (uint32_t i = 0; right && i < kept; i++)
        right = data[i] == payload_byte(seq, i);
    return right;
}

static int store_logged(void *state, uint32_t slot, const struct sim_trace_event *events,
                        const uint32_t *payload_bytes_max, uint32_t count, char *message)
{
    struct store_log *log = state;
    CU_ASSERT(count == 1 || count == TRACE_RING_STORE_EVENTS_MAX);
    CU_ASSERT(slot + count <= TRACE_RING_SLOTS);
    if ((int)log->store_calls == log->fail_at_store) {
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX, "test store refuses call %u",
                 log->store_calls);
        return SIM_ESINK;
    }
    for (uint32_t index = 0; index < count; index++) {
        log->wrong_events += !event_as_appended(log, &events[index], payload_bytes_max[index]);
        log->next_seq++;
    }
    if (log->store_calls < STORE_CALLS_MAX)
        log->store_counts[log->store_calls] = count;
    log->store_calls++;
    log->stored_events += count;
    return 0;
}

static int commit_logged(void *state, char *message)
{
    (void)message;
    struct store_log *log = state;
    if (log->commits < STORE_CALLS_MAX)
        log->events_at_commit[log->commits] = (uint32_t)log->stored_events;
    log->commits++;
    return 0;
}

static int append_numbered(struct trace_ring *ring, uint64_t seq, uint8_t *payload,
                           uint32_t payload_bytes_max)
{
    static char kinds[7][4] = { "k0", "k1", "k2", "k3", "k4", "k5", "k6" };
    struct sim_trace_event event = event_make(seq, SIM_LAYER_VMCI, kinds[seq % 7]);
    uint32_t size = payload_size_of(seq);
    for (uint32_t i = 0; i < size; i++)
        payload[i] = payload_byte(seq, i);
    sim_trace_field_u64(&event, "n", seq);
    sim_trace_field_str(&event, "text", "hello");
    sim_trace_field_bytes(&event, "bytes", payload, size);
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    return trace_ring_append(ring, &event, payload_bytes_max, message);
}

/* Every record comes back in order with its header, fields, string and payload kept bytes,
 * across many wraps of the ring (160 events of about 60 KB: twice its lap); stores are
 * groups of TRACE_RING_STORE_EVENTS_MAX, a drain stores the rest one by one and commits;
 * a transaction also ends at commit_events. */
static void test_ring_keeps_order_across_wraps_and_commits(void)
{
    enum { EVENTS = 160 };
    /* Two groups and half of one: the third group of each transaction would cross it. */
    enum { TRANSACTION_EVENTS = 2 * TRACE_RING_STORE_EVENTS_MAX + TRACE_RING_STORE_EVENTS_MAX / 2 };
    _Static_assert(EVENTS * 60000ull > 2ull * TRACE_RING_LAP_BYTES, "wraps at least twice");
    _Static_assert(TRACE_RING_STORE_EVENTS_MAX * (PAYLOAD_SIZE_MAX + 1024ull) <
                   TRACE_RING_LAP_BYTES, "a whole store group fits in the lap");
    _Static_assert(3 + 2 * TRANSACTION_EVENTS > EVENTS && 3 + TRANSACTION_EVENTS < EVENTS,
                   "one whole transaction between the first drain and the last commit");
    static struct store_log log;
    memset(&log, 0, sizeof log);
    log.fail_at_store = -1;
    log.payload_bytes_max = SIM_TRACE_PAYLOAD_ALL_BYTES;
    struct trace_ring *ring = NULL;
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    CU_ASSERT_EQUAL_FATAL(trace_ring_create(&ring, TRANSACTION_EVENTS, 1u << 30, store_logged,
                                            commit_logged, &log, message), 0);
    uint8_t *payload = malloc(400000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(payload);
    for (uint64_t seq = 0; seq < 3; seq++)
        CU_ASSERT_EQUAL(append_numbered(ring, seq, payload, log.payload_bytes_max), 0);
    CU_ASSERT_EQUAL(trace_ring_drain(ring, message), 0);        /* 3 single stores, commit */
    ASSERT_U64_EQ(log.stored_events, 3);
    ASSERT_U64_EQ(log.commits, 1);
    for (uint64_t seq = 3; seq < EVENTS; seq++)
        CU_ASSERT_EQUAL(append_numbered(ring, seq, payload, log.payload_bytes_max), 0);
    CU_ASSERT_EQUAL(trace_ring_drain(ring, message), 0);
    ASSERT_U64_EQ(trace_ring_appended(ring), EVENTS);
    ASSERT_U64_EQ(log.stored_events, EVENTS);
    ASSERT_U64_EQ(log.next_seq, EVENTS);
    ASSERT_U64_EQ(log.wrong_events, 0);
    for (uint32_t index = 0; index < 3; index++)
        ASSERT_U64_EQ(log.store_counts[index], 1);
    ASSERT_U64_EQ(log.store_counts[3], TRACE_RING_STORE_EVENTS_MAX);
    /* After the first drain, every commit but the last ends a transaction of exactly
     * TRANSACTION_EVENTS events (a group that would cross it is stored one by one up to it). */
    CU_ASSERT(log.commits >= 3);
    for (uint32_t index = 1; index + 1 < log.commits && index < STORE_CALLS_MAX; index++)
        ASSERT_U64_EQ(log.events_at_commit[index] - log.events_at_commit[index - 1],
                      TRANSACTION_EVENTS);
    ASSERT_U64_EQ(log.events_at_commit[log.commits - 1], EVENTS);
    trace_ring_destroy(ring);
    free(payload);
}

/* Fields of SIM_TRACE_BYTES_MAX (1 MiB) in a record larger than the lap. */
#define LARGE_FIELDS 5u
_Static_assert(LARGE_FIELDS <= SIM_TRACE_FIELDS_MAX &&
               LARGE_FIELDS * SIM_TRACE_BYTES_MAX > TRACE_RING_LAP_BYTES, "larger than the lap");

/* Records of `fields` BYTES fields of `payload_bytes` each, byte i of field f of event seq
 * being sized_byte(seq, f, i); the store checks every kept byte and counts the events. */
struct sized_log {
    uint64_t stored_events;
    uint64_t next_seq;
    uint32_t wrong_events;
};

static uint8_t sized_byte(uint64_t seq, uint32_t field, uint32_t i)
{
    return (uint8_t)(seq * 13u + field * 101u + i * 3u);
}

static int append_sized(struct trace_ring *ring, uint64_t seq, uint8_t *buffer,
                        uint32_t fields, uint32_t payload_bytes)
{
    static const char *const names[LARGE_FIELDS] = { "a", "b", "c", "d", "e" };
    assert(fields >= 1 && fields <= LARGE_FIELDS);
    struct sim_trace_event event = event_make(seq, SIM_LAYER_VMCI, "k");
    for (uint32_t field = 0; field < fields; field++) {
        uint8_t *bytes = buffer + (size_t)field * SIM_TRACE_BYTES_MAX;
        for (uint32_t i = 0; i < payload_bytes; i++)
            bytes[i] = sized_byte(seq, field, i);
        sim_trace_field_bytes(&event, names[field], bytes, payload_bytes);
    }
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    return trace_ring_append(ring, &event, SIM_TRACE_PAYLOAD_ALL_BYTES, message);
}

static int store_sized(void *state, uint32_t slot, const struct sim_trace_event *events,
                       const uint32_t *payload_bytes_max, uint32_t count, char *message)
{
    (void)payload_bytes_max;
    (void)message;
    CU_ASSERT(slot + count <= TRACE_RING_SLOTS);
    struct sized_log *log = state;
    for (uint32_t index = 0; index < count; index++) {
        const struct sim_trace_event *event = &events[index];
        bool right = event->seq == log->next_seq++;
        for (uint32_t field = 0; right && field < event->field_count; field++) {
            const uint8_t *data = event->fields[field].value.blob.data;
            for (uint32_t i = 0; right && i < event->fields[field].value.blob.size_bytes; i++)
                right = data[i] == sized_byte(event->seq, field, i);
        }
        log->wrong_events += !right;
    }
    log->stored_events += count;
    return 0;
}

static int commit_nothing(void *state, char *message)
{
    (void)state;
    (void)message;
    return 0;
}

/* The size of a record of `fields` BYTES fields of `payload_bytes` each. */
static size_t sized_record_bytes(uint32_t fields, uint32_t payload_bytes)
{
    static const uint8_t none[1];
    struct sim_trace_event probe = event_make(0, SIM_LAYER_VMCI, "k");
    for (uint32_t field = 0; field < fields; field++)
        sim_trace_field_bytes(&probe, "a", none, 0);
    for (uint32_t field = 0; field < fields; field++)
        probe.fields[field].value.blob.size_bytes = payload_bytes;
    return trace_ring_record_bytes(&probe, SIM_TRACE_PAYLOAD_ALL_BYTES);
}

/* Ordinary records go round the lap (TRACE_RING_LAP_BYTES), not the whole buffer: one that
 * leaves exactly 8 bytes before the lap's end makes the next start again at 0; a record
 * larger than the lap stays where it is when it could not fit before it, the next one goes
 * back to 0; every byte comes back in order. */
static void test_ring_goes_round_the_lap(void)
{
    static struct sized_log log;
    memset(&log, 0, sizeof log);
    struct trace_ring *ring = NULL;
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    CU_ASSERT_EQUAL_FATAL(trace_ring_create(&ring, 4096, 1u << 30, store_sized,
                                            commit_nothing, &log, message), 0);
    uint8_t *buffer = malloc(LARGE_FIELDS * SIM_TRACE_BYTES_MAX);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buffer);
    uint64_t seq = 0, used = 0;
    size_t small_bytes = sized_record_bytes(1, 100);
    while (TRACE_RING_LAP_BYTES - used > 2u * 65536u) {
        CU_ASSERT_EQUAL(append_sized(ring, seq++, buffer, 1, 65536), 0);
        used += sized_record_bytes(1, 65536);
    }
    size_t empty_bytes = sized_record_bytes(1, 0);
    uint32_t filler = (uint32_t)(TRACE_RING_LAP_BYTES - used - 8u - empty_bytes);
    CU_ASSERT_EQUAL(append_sized(ring, seq++, buffer, 1, filler), 0);
    used += sized_record_bytes(1, filler);
    ASSERT_U64_EQ(TRACE_RING_LAP_BYTES - used, 8);
    ASSERT_U64_EQ(trace_ring_extent_bytes(ring), TRACE_RING_LAP_BYTES - 8u);
    for (size_t round = 0; round < 4u * TRACE_RING_LAP_BYTES / small_bytes; round++)
        CU_ASSERT_EQUAL(append_sized(ring, seq++, buffer, 1, 100), 0);
    ASSERT_U64_EQ(trace_ring_extent_bytes(ring), TRACE_RING_LAP_BYTES - 8u);
    CU_ASSERT_EQUAL(trace_ring_drain(ring, message), 0);
    /* LARGE_FIELDS fields of 1 MiB are more than the lap and than what lies before them. */
    size_t large_bytes = sized_record_bytes(LARGE_FIELDS, SIM_TRACE_BYTES_MAX);
    CU_ASSERT(large_bytes > TRACE_RING_LAP_BYTES);
    CU_ASSERT_EQUAL(append_sized(ring, seq++, buffer, LARGE_FIELDS, SIM_TRACE_BYTES_MAX), 0);
    CU_ASSERT(trace_ring_extent_bytes(ring) > TRACE_RING_LAP_BYTES);
    CU_ASSERT(trace_ring_extent_bytes(ring) < TRACE_RING_LAP_BYTES + large_bytes);
    for (int more = 0; more < 3; more++)
        CU_ASSERT_EQUAL(append_sized(ring, seq++, buffer, 2, 100), 0);
    CU_ASSERT_EQUAL(append_sized(ring, seq++, buffer, LARGE_FIELDS, SIM_TRACE_BYTES_MAX), 0);
    CU_ASSERT_EQUAL(trace_ring_drain(ring, message), 0);
    ASSERT_U64_EQ(log.stored_events, seq);
    ASSERT_U64_EQ(log.wrong_events, 0);
    trace_ring_destroy(ring);
    free(buffer);
}

/* Resident memory of this process, from /proc/self/statm (0 when unreadable). */
static uint64_t resident_bytes(void)
{
    FILE *file = fopen("/proc/self/statm", "r");
    unsigned long long size_pages = 0, resident_pages = 0;
    if (file == NULL)
        return 0;
    int read = fscanf(file, "%llu %llu", &size_pages, &resident_pages);
    fclose(file);
    return read == 2 ? resident_pages * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

/* The worker maps the lap's pages itself (MADV_POPULATE_WRITE), so the run's thread, which
 * here writes one record of a few hundred bytes, does not take the lap's page faults: once
 * the ring has answered a drain the whole lap is resident. */
static void test_ring_worker_maps_the_lap(void)
{
#ifdef MADV_POPULATE_WRITE
    static struct sized_log log;
    memset(&log, 0, sizeof log);
    uint8_t buffer[100] = { 0 };
    uint64_t before_bytes = resident_bytes();
    CU_ASSERT_FATAL(before_bytes > 0);
    struct trace_ring *ring = NULL;
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    CU_ASSERT_EQUAL_FATAL(trace_ring_create(&ring, 4096, 1u << 30, store_sized,
                                            commit_nothing, &log, message), 0);
    CU_ASSERT_EQUAL(append_sized(ring, 0, buffer, 1, sizeof buffer), 0);
    CU_ASSERT_EQUAL(trace_ring_drain(ring, message), 0);
    uint64_t after_bytes = resident_bytes();
    CU_ASSERT(after_bytes >= before_bytes + TRACE_RING_LAP_BYTES - 2u * 65536u);
    ASSERT_U64_EQ(log.stored_events, 1);
    trace_ring_destroy(ring);
#endif
}

/* A store that holds its first group until the run's thread has waited for space: the ring
 * releases nothing before that store returns, so appending more than the lap holds must
 * wait (deterministically) and the diagnostic counts it. */
struct gated_log {
    struct sized_log sized;
    struct trace_ring *ring;        /* set before the first append */
    bool saw_wait;                  /* the first store saw the count become 1 */
};

static int store_after_a_wait(void *state, uint32_t slot, const struct sim_trace_event *events,
                              const uint32_t *payload_bytes_max, uint32_t count, char *message)
{
    struct gated_log *log = state;
    enum { POLLS_MAX = 10000 };     /* 10 s of 1 ms naps: a failure, not a hang */
    const struct timespec nap = { 0, 1000000 };
    for (int poll = 0; !log->saw_wait && poll < POLLS_MAX; poll++) {
        log->saw_wait = trace_ring_run_waits(log->ring).count > 0;
        if (!log->saw_wait)
            nanosleep(&nap, NULL);
    }
    return store_sized(&log->sized, slot, events, payload_bytes_max, count, message);
}

/* trace_ring_run_waits: no wait while the ring has room; a run that fills the ring while
 * the store is held waits, and the count and its wall time say so; every record is still
 * stored in order. */
static void test_ring_counts_the_runs_waits_for_space(void)
{
    static struct gated_log log;
    memset(&log, 0, sizeof log);
    struct trace_ring *ring = NULL;
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    CU_ASSERT_EQUAL_FATAL(trace_ring_create(&ring, 4096, 1u << 30, store_after_a_wait,
                                            commit_nothing, &log, message), 0);
    log.ring = ring;
    uint8_t *buffer = malloc(65536);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buffer);
    uint64_t seq = 0;
    struct trace_ring_waits waits = trace_ring_run_waits(ring);
    ASSERT_U64_EQ(waits.count, 0);
    ASSERT_U64_EQ(waits.wait_ns, 0);
    /* Twice the lap of 64 KiB records: past the lap's end the next one needs the space the
     * held store has not released. */
    size_t appended_bytes = 0;
    while (appended_bytes < 2u * TRACE_RING_LAP_BYTES) {
        CU_ASSERT_EQUAL_FATAL(append_sized(ring, seq++, buffer, 1, 65536), 0);
        appended_bytes += sized_record_bytes(1, 65536);
    }
    CU_ASSERT_EQUAL(trace_ring_drain(ring, message), 0);
    waits = trace_ring_run_waits(ring);
    CU_ASSERT(log.saw_wait);
    CU_ASSERT(waits.count >= 1);
    CU_ASSERT(waits.wait_ns > 0);
    ASSERT_U64_EQ(log.sized.stored_events, seq);
    ASSERT_U64_EQ(log.sized.wrong_events, 0);
    trace_ring_destroy(ring);
    free(buffer);
}

/* The writer passes the ring's count on: a few events never fill the ring. */
static void test_writer_reports_no_wait_for_a_small_trace(void)
{
    struct sim_trace_writer *writer = writer_open_fixture("waits.db");
    struct sim_trace_sink sink = sim_trace_writer_sink(writer, SIM_LAYER_DEVICE);
    for (uint64_t seq = 0; seq < 100; seq++) {
        struct sim_trace_event event = event_make(seq, SIM_LAYER_VMCI, "dg_send");
        sim_trace_field_u64(&event, "size", seq);
        CU_ASSERT_EQUAL(emit(&sink, &event), 0);
    }
    struct trace_ring_waits waits = sim_trace_writer_run_waits(writer);
    ASSERT_U64_EQ(waits.count, 0);
    ASSERT_U64_EQ(waits.wait_ns, 0);
    writer_close_fixture(writer);
}

/* A ring of 4 KiB slots storing into `log` (cleared; no store fails) with the payload cut
 * `payload_bytes_max`, as the tests below use it. */
static struct trace_ring *logged_ring_create(struct store_log *log, uint32_t payload_bytes_max)
{
    memset(log, 0, sizeof *log);
    log->fail_at_store = -1;
    log->payload_bytes_max = payload_bytes_max;
    struct trace_ring *ring = NULL;
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    CU_ASSERT_EQUAL_FATAL(trace_ring_create(&ring, 4096, 1u << 30, store_logged, commit_logged,
                                            log, message), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ring);
    return ring;
}

/* The cut keeps the first payload_bytes_max bytes of the payload field (the full size stays
 * in the field) and makes the record smaller: with a cut of 16 the same events pass. */
static void test_ring_keeps_only_the_cut_of_a_payload(void)
{
    static struct store_log log;
    struct trace_ring *ring = logged_ring_create(&log, 16);
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    uint8_t *payload = malloc(400000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(payload);
    for (uint64_t seq = 0; seq < 40; seq++)
        CU_ASSERT_EQUAL(append_numbered(ring, seq, payload, 16), 0);
    CU_ASSERT_EQUAL(trace_ring_drain(ring, message), 0);
    ASSERT_U64_EQ(log.stored_events, 40);
    ASSERT_U64_EQ(log.wrong_events, 0);
    trace_ring_destroy(ring);
    free(payload);
    struct sim_trace_event event = event_make(1, SIM_LAYER_VMCI, "k");
    static const uint8_t bytes[300];
    sim_trace_field_bytes(&event, "bytes", bytes, sizeof bytes);
    CU_ASSERT(trace_ring_record_bytes(&event, 16) + 280 <= trace_ring_record_bytes(&event, 300));
    CU_ASSERT_EQUAL(trace_ring_record_bytes(&event, 300),
                    trace_ring_record_bytes(&event, SIM_TRACE_PAYLOAD_ALL_BYTES));
}


/* An event filled by hand with a string above SIM_TRACE_STRING_BYTES_MAX or a blob above
 * SIM_TRACE_BYTES_MAX is refused with SIM_ELIMIT by the record's layout: nothing is
 * written, the ring is not failed, and the events before and after it are stored in
 * order. A string at its limit makes a record, kept whole (no payload cut applies). */
static void test_ring_refuses_a_field_above_its_limit(void)
{
    static struct store_log log;
    struct trace_ring *ring = logged_ring_create(&log, 16);
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    uint8_t *payload = malloc(400000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(payload);
    static char text[SIM_TRACE_STRING_BYTES_MAX + 1];
    static const uint8_t bytes[1];
    CU_ASSERT_EQUAL(append_numbered(ring, 0, payload, 16), 0);
    const enum sim_field_type types[3] = {SIM_FIELD_STR, SIM_FIELD_BYTES, SIM_FIELD_PAYLOAD};
    for (int index = 0; index < 3; index++) {
        uint32_t limit = types[index] == SIM_FIELD_STR ? SIM_TRACE_STRING_BYTES_MAX
                                                       : SIM_TRACE_BYTES_MAX;
        const void *data = types[index] == SIM_FIELD_STR ? (const void *)text : bytes;
        struct sim_trace_event event = event_make(1, SIM_LAYER_VMCI, "k");
        sim_trace_field_u64(&event, "n", 1);
        event.fields[1] = (struct sim_trace_field){
            .name = "big", .type = types[index],
            .value.blob = {.data = data, .size_bytes = limit + 1}};
        event.field_count = 2;
        message[0] = '\0';
        CU_ASSERT_EQUAL(trace_ring_record_bytes(&event, 16), 0);
        CU_ASSERT_EQUAL(trace_ring_append(ring, &event, 16, message), SIM_ELIMIT);
        ASSERT_STR_CONTAINS(message, "event 1 has a field larger than");
    }
    ASSERT_U64_EQ(trace_ring_appended(ring), 1);
    struct sim_trace_event event = event_make(1, SIM_LAYER_VMCI, "k");
    event.fields[0] = (struct sim_trace_field){
        .name = "text", .type = SIM_FIELD_STR,
        .value.blob = {.data = text, .size_bytes = SIM_TRACE_STRING_BYTES_MAX}};
    event.field_count = 1;
    CU_ASSERT(trace_ring_record_bytes(&event, 16) >= SIM_TRACE_STRING_BYTES_MAX);
    CU_ASSERT_EQUAL(append_numbered(ring, 1, payload, 16), 0);
    CU_ASSERT_EQUAL(append_numbered(ring, 2, payload, 16), 0);
    CU_ASSERT_EQUAL(trace_ring_drain(ring, message), 0);
    ASSERT_U64_EQ(log.stored_events, 3);
    ASSERT_U64_EQ(log.wrong_events, 0);
    trace_ring_destroy(ring);
    free(payload);
}
/* A failing store fails the ring for good: the next append or drain returns its code and
 * message; later events reach no store, and appends never block on a failed ring. */
static void test_ring_failure_is_sticky_and_reported(void)
{
    static struct store_log log;
    memset(&log, 0, sizeof log);
    log.fail_at_store = 1;
    log.payload_bytes_max = SIM_TRACE_PAYLOAD_ALL_BYTES;
    struct trace_ring *ring = NULL;
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    CU_ASSERT_EQUAL_FATAL(trace_ring_create(&ring, 2, 1u << 20, store_logged, commit_logged,
                                            &log, message), 0);
    uint8_t *payload = malloc(400000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(payload);
    for (uint64_t seq = 0; seq < 4; seq++)
        CU_ASSERT_EQUAL(append_numbered(ring, seq, payload, log.payload_bytes_max), 0);
    CU_ASSERT_EQUAL(trace_ring_drain(ring, message), SIM_ESINK);
    ASSERT_STR_CONTAINS(message, "test store refuses call 1");
    message[0] = '\0';
    int rc = 0;
    for (uint64_t seq = 4; seq < 200 && rc == 0; seq++)     /* more than the ring holds */
        rc = append_numbered(ring, seq, payload, log.payload_bytes_max);
    CU_ASSERT_EQUAL(rc, SIM_ESINK);
    CU_ASSERT_EQUAL(trace_ring_drain(ring, message), SIM_ESINK);
    ASSERT_STR_CONTAINS(message, "test store refuses call 1");
    trace_ring_destroy(ring);
    ASSERT_U64_EQ(log.store_calls, 1);      /* call 0 stored, call 1 refused, no more */
    ASSERT_U64_EQ(log.wrong_events, 0);
    free(payload);
}

/* --payload: the payload field keeps its first N bytes in the column and says so in its
 * JSON member; 0 leaves the column NULL; `all` keeps everything; a later BYTES field keeps
 * its whole hex, a later PAYLOAD field its cut hex; a PAYLOAD field is stored like BYTES;
 * the cut is in meta. */
static void test_payload_is_cut_to_the_writer_limit(void)
{
    static uint8_t bytes[300];
    for (uint32_t i = 0; i < sizeof bytes; i++)
        bytes[i] = (uint8_t)i;
    static const uint32_t cuts[3] = { SIM_TRACE_PAYLOAD_DEFAULT_BYTES, 0,
                                      SIM_TRACE_PAYLOAD_ALL_BYTES };
    static const char *const names[3] = { "cut256.db", "cut0.db", "cutall.db" };
    for (uint32_t run = 0; run < 3; run++) {
        struct sim_trace_writer *writer = writer_open_fixture(names[run]);
        char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
        if (run > 0)
            CU_ASSERT_EQUAL(sim_trace_writer_payload(writer, cuts[run], message), 0);
        struct sim_trace_sink sink = sim_trace_writer_sink(writer, SIM_LAYER_DEVICE);
        struct sim_trace_event event = event_make(0, SIM_LAYER_VMCI, "qp_data");
        sim_trace_field_payload(&event, "data", bytes, sizeof bytes);
        sim_trace_field_bytes(&event, "more", bytes, 3);
        sim_trace_field_payload(&event, "again", bytes, 260);
        CU_ASSERT_EQUAL(emit(&sink, &event), 0);
        event = event_make(1, SIM_LAYER_DEVICE, "data_out");
        sim_trace_field_bytes(&event, "bytes", bytes, 10);
        CU_ASSERT_EQUAL(emit(&sink, &event), 0);
        writer_close_fixture(writer);
    }
    char again_hex[2 * 260 + 1];
    for (uint32_t i = 0; i < 260; i++)
        snprintf(again_hex + 2 * i, 3, "%02x", bytes[i]);
    char expected[1024];
    sqlite3 *db = db_open("cut256.db");
    snprintf(expected, sizeof expected, "{\"data\":{\"bytes\":300,\"stored\":256},\"more\":"
             "{\"bytes\":3,\"hex\":\"000102\"},\"again\":{\"bytes\":260,\"stored\":256,"
             "\"hex\":\"%.512s\"}}", again_hex);
    CU_ASSERT_TRUE(db_text_equal(db, "SELECT fields FROM events WHERE seq = 0", NULL, expected));
    CU_ASSERT_TRUE(db_bytes_equal(db, "SELECT payload FROM events WHERE seq = 0", NULL, bytes,
                                  256));
    CU_ASSERT_TRUE(db_bytes_equal(db, "SELECT payload FROM events WHERE seq = 1", NULL, bytes,
                                  10));
    CU_ASSERT_TRUE(db_text_equal(db, "SELECT fields FROM events WHERE seq = 1", NULL,
                                 "{\"bytes\":{\"bytes\":10}}"));
    CU_ASSERT_TRUE(db_text_equal(db, "SELECT value FROM meta WHERE key = ?1",
                                 SIM_TRACE_META_PAYLOAD_BYTES_MAX, "256"));
    sqlite3_close(db);
    db = db_open("cut0.db");
    CU_ASSERT_EQUAL(db_int(db, "SELECT count(*) FROM events WHERE payload IS NULL", NULL), 2);
    CU_ASSERT_TRUE(db_text_equal(db, "SELECT fields FROM events WHERE seq = 0", NULL,
                                 "{\"data\":{\"bytes\":300,\"stored\":0},\"more\":"
                                 "{\"bytes\":3,\"hex\":\"000102\"},\"again\":{\"bytes\":260,"
                                 "\"stored\":0,\"hex\":\"\"}}"));
    CU_ASSERT_TRUE(db_text_equal(db, "SELECT value FROM meta WHERE key = ?1",
                                 SIM_TRACE_META_PAYLOAD_BYTES_MAX, "0"));
    sqlite3_close(db);
    db = db_open("cutall.db");
    snprintf(expected, sizeof expected, "{\"data\":{\"bytes\":300},\"more\":"
             "{\"bytes\":3,\"hex\":\"000102\"},\"again\":{\"bytes\":260,\"hex\":\"%s\"}}",
             again_hex);
    CU_ASSERT_TRUE(db_text_equal(db, "SELECT fields FROM events WHERE seq = 0", NULL, expected));
    CU_ASSERT_TRUE(db_bytes_equal(db, "SELECT payload FROM events WHERE seq = 0", NULL, bytes,
                                  sizeof bytes));
    CU_ASSERT_TRUE(db_text_equal(db, "SELECT value FROM meta WHERE key = ?1",
                                 SIM_TRACE_META_PAYLOAD_BYTES_MAX, "1048576"));
    sqlite3_close(db);
}

/* True when the row at `stmt` (seq, layer, kind, fields, payload) is `event` encoded with the
 * cut: its own JSON, and the payload column holding the kept bytes (NULL when none). */
static bool row_is_the_encoding(sqlite3_stmt *stmt, const struct sim_trace_event *event,
                                uint32_t cut)
{
    static char json[64 * 1024];
    uint32_t payload_field = 0;
    size_t json_bytes = sim_trace_fields_json(json, event, cut, &payload_field);
    bool has_payload = payload_field < event->field_count && cut > 0;
    uint32_t kept = payload_field < event->field_count
        ? sim_trace_field_kept_bytes(event, payload_field, payload_field, cut) : 0;
    const char *layer = (const char *)sqlite3_column_text(stmt, 1);
    const char *kind = (const char *)sqlite3_column_text(stmt, 2);
    bool right = (uint64_t)sqlite3_column_int64(stmt, 0) == event->seq &&
                 strcmp(layer, sim_layer_name(event->layer)) == 0 &&
                 strcmp(kind, event->kind) == 0 &&
                 (size_t)sqlite3_column_bytes(stmt, 3) == json_bytes &&
                 memcmp(sqlite3_column_text(stmt, 3), json, json_bytes) == 0 &&
                 (sqlite3_column_type(stmt, 4) != SQLITE_NULL) == has_payload;
    if (!right || !has_payload)
        return right;
    const void *stored = sqlite3_column_blob(stmt, 4);
    return (uint32_t)sqlite3_column_bytes(stmt, 4) == kept &&
           (kept == 0 || memcmp(stored, event->fields[payload_field].value.blob.data, kept) == 0);
}

/* A row made on the writer's thread from the ring's record is the row the event's own
 * encoding gives (sim_trace_fields_json on the event as emitted, the payload cut alike):
 * hostile strings, every field type, empty and large blobs, U64 extremes, at three cuts. */
static void test_rows_equal_the_encoding_of_the_emitted_event(void)
{
    static uint8_t blob[5000];
    for (uint32_t i = 0; i < sizeof blob; i++)
        blob[i] = (uint8_t)(i * 13u + 5u);
    static const char hostile[] = "a\"b\\c\n\x01\x7f\xc3\xa9\xed\xa0\x80\xff\xf4\x90";
    static const uint32_t cuts[3] = { 0, 100, SIM_TRACE_PAYLOAD_ALL_BYTES };
    enum { EVENTS = 40 };
    for (uint32_t run = 0; run < 3; run++) {
        struct sim_trace_writer *writer = writer_open_fixture("rows.db");
        char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
        CU_ASSERT_EQUAL(sim_trace_writer_payload(writer, cuts[run], message), 0);
        struct sim_trace_sink sink = sim_trace_writer_sink(writer, SIM_LAYER_DEVICE);
        struct sim_trace_event events[EVENTS];
        for (uint32_t seq = 0; seq < EVENTS; seq++) {
            struct sim_trace_event *event = &events[seq];
            *event = event_make(seq, (enum sim_layer)(1 + seq % 4), seq % 2 ? "odd" : "even");
            event->kind_bytes = seq % 3 == 0 ? 0 : (uint32_t)strlen(event->kind);
            sim_trace_field_u64(event, "u", seq % 5 == 0 ? UINT64_MAX : seq);
            sim_trace_field_i64(event, "i", seq % 4 == 0 ? INT64_MIN : -(int64_t)seq);
            sim_trace_field_strn(event, "s", hostile, (uint32_t)(seq % sizeof hostile));
            if (seq % 3 != 2)
                sim_trace_field_bytes(event, "b", blob, (uint32_t)(seq * 125u % 5001u));
            if (seq % 2 == 0)
                sim_trace_field_payload(event, "p", blob + 1, seq * 37u % 300u);
            if (seq % 5 == 1)
                sim_trace_field_bytes(event, "tail", blob + 2, seq % 9);
            CU_ASSERT_EQUAL(emit(&sink, event), 0);
        }
        writer_close_fixture(writer);
        sqlite3 *db = db_open("rows.db");
        sqlite3_stmt *stmt = NULL;
        CU_ASSERT_EQUAL_FATAL(sqlite3_prepare_v2(db, "SELECT seq, layer, kind, fields, payload"
                                                 " FROM events ORDER BY seq", -1, &stmt, NULL),
                              SQLITE_OK);
        uint32_t rows = 0, wrong = 0;
        while (sqlite3_step(stmt) == SQLITE_ROW && rows < EVENTS) {
            wrong += !row_is_the_encoding(stmt, &events[rows], cuts[run]);
            rows++;
        }
        sqlite3_finalize(stmt);
        sqlite3_close(db);
        ASSERT_U64_EQ(rows, EVENTS);
        ASSERT_U64_EQ(wrong, 0);
    }
}

/* The storer binds a column only when its value differs from the one the statement's
 * row position holds from the step before (writer.c, W5): rows whose context, process,
 * layer, kind, NULL seq or missing payload now repeat and now change at every position
 * of the 32-row statement, over many steps and the one-row statement, each read back
 * whole. A value left bound from an earlier row where it changed would show here. */
static void test_rows_bind_only_what_changed_and_read_back_whole(void)
{
    static uint8_t blob[64];
    for (uint32_t i = 0; i < sizeof blob; i++)
        blob[i] = (uint8_t)(i * 7u + 1u);
    static const char *const kinds[3] = { "alpha", "beta", "gamma_kind" };
    enum { EVENTS = 32 * 9 + 5 };
    static struct sim_trace_event events[EVENTS];
    struct sim_trace_writer *writer = writer_open_fixture("rebind.db");
    struct sim_trace_sink sink = sim_trace_writer_sink(writer, SIM_LAYER_DEVICE);
    uint64_t seq = 1, state = 12345;
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    for (uint32_t index = 0; index < EVENTS; index++) {
        state = state * 6364136223846793005u + 1442695040888963407u;   /* fixed sequence */
        uint32_t draw = (uint32_t)(state >> 33);
        if (index == 100)                   /* a drain: the rest of a group goes one by one */
            CU_ASSERT_EQUAL(sim_trace_writer_meta(writer, "middle", "yes", message), 0);
        seq += draw % 7 == 0 ? 2 : 0;        /* a gap: this seq is bound, not NULL */
        struct sim_trace_event *event = &events[index];
        *event = event_make(seq, (enum sim_layer)(1 + (draw >> 3) % 2 * 3),
                            kinds[(draw >> 5) % 3]);
        event->kind_bytes = (uint32_t)strlen(event->kind);
        event->ctx = 2 + (draw >> 7) % 2;
        event->pid = (draw >> 9) % 2;
        sim_trace_field_u64(event, "index", index);
        if ((draw >> 11) % 3 != 0)
            sim_trace_field_payload(event, "p", blob + index % 8, (draw >> 13) % 40);
        CU_ASSERT_EQUAL_FATAL(emit(&sink, event), 0);
        seq++;
    }
    writer_close_fixture(writer);
    sqlite3 *db = db_open("rebind.db");
    sqlite3_stmt *stmt = NULL;
    CU_ASSERT_EQUAL_FATAL(sqlite3_prepare_v2(db, "SELECT seq, layer, kind, fields, payload,"
                                             " ctx, pid, time_ns FROM events ORDER BY seq",
                                             -1, &stmt, NULL), SQLITE_OK);
    uint32_t rows = 0, wrong = 0;
    while (sqlite3_step(stmt) == SQLITE_ROW && rows < EVENTS) {
        const struct sim_trace_event *event = &events[rows];
        wrong += !row_is_the_encoding(stmt, event, SIM_TRACE_PAYLOAD_DEFAULT_BYTES) ||
                 sqlite3_column_int64(stmt, 5) != event->ctx ||
                 sqlite3_column_int64(stmt, 6) != event->pid ||
                 (uint64_t)sqlite3_column_int64(stmt, 7) != event->time_ns;
        rows++;
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    ASSERT_U64_EQ(rows, EVENTS);
    ASSERT_U64_EQ(wrong, 0);
}

/* The bound the writer sizes a row's text with for its cut holds the text at every cut,
 * never exceeds the bound for any cut, and does not count the payload field's bytes: a
 * 60 000-byte payload stored as 256 bytes needs a few dozen bytes of text, not 120 000. */
static void test_cut_bound_holds_the_text_and_skips_the_payload(void)
{
    static uint8_t blob[60000];
    static char json[256 * 1024];
    for (uint32_t i = 0; i < sizeof blob; i++)
        blob[i] = (uint8_t)(i * 7u + 3u);
    static const char hostile[] = "q\"\\\n\x01\x7f\xc3\xa9\xed\xa0\x80\xff";
    static const uint32_t cuts[4] = { 0, 100, SIM_TRACE_PAYLOAD_DEFAULT_BYTES,
                                      SIM_TRACE_PAYLOAD_ALL_BYTES };
    uint32_t too_small = 0, too_large = 0;
    for (uint32_t shape = 0; shape < 24; shape++) {
        struct sim_trace_event event = event_make(shape, SIM_LAYER_VMCI, "qp_enqueue");
        sim_trace_field_u64(&event, "u", shape % 2 ? UINT64_MAX : shape);
        sim_trace_field_strn(&event, "s", hostile, (uint32_t)(shape % sizeof hostile));
        if (shape % 3 != 0)
            sim_trace_field_payload(&event, "data", blob, shape * 2500u);
        if (shape % 4 != 1)
            sim_trace_field_bytes(&event, "more", blob + 1, shape * 300u % 5000u);
        if (shape % 5 == 2)
            sim_trace_field_payload(&event, "again", blob + 2, shape * 1000u);
        for (uint32_t cut = 0; cut < 4; cut++) {
            uint32_t payload_field = 0;
            size_t bound = sim_trace_fields_json_cut_bound_bytes(&event, cuts[cut]);
            size_t length = sim_trace_fields_json(json, &event, cuts[cut], &payload_field);
            too_small += length >= bound;
            too_large += bound > sim_trace_fields_json_bound_bytes(&event);
        }
    }
    ASSERT_U64_EQ(too_small, 0);
    ASSERT_U64_EQ(too_large, 0);
    struct sim_trace_event event = event_make(1, SIM_LAYER_TRANSPORT, "qp_enqueue");
    sim_trace_field_u64(&event, "bytes", sizeof blob);
    sim_trace_field_payload(&event, "data", blob, sizeof blob);
    CU_ASSERT_TRUE(sim_trace_fields_json_cut_bound_bytes(&event,
                                                         SIM_TRACE_PAYLOAD_DEFAULT_BYTES) < 200);
    CU_ASSERT_TRUE(sim_trace_fields_json_bound_bytes(&event) > 2 * sizeof blob);
}

/* ---- Reading a trace back (sim/trace/reader.h) ------------------------------------------ */

/* What the writer stored reads back through the reader: meta, files, and every event in
 * seq order with its columns (fields text, payload or NULL). */
static void test_reader_reads_back_what_the_writer_stored(void)
{
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    struct sim_trace_writer *writer = writer_open_fixture("read.db");
    struct sim_trace_sink sink = sim_trace_writer_sink(writer, SIM_LAYER_DEVICE);
    static const uint8_t bytes[3] = { 7, 8, 9 };
    for (uint64_t seq = 0; seq < 5000; seq++) {
        struct sim_trace_event event = event_make(seq, SIM_LAYER_VMCI, "dg_route");
        sim_trace_field_u64(&event, "n", seq);
        if (seq % 2 == 0)
            sim_trace_field_bytes(&event, "bytes", bytes, (uint32_t)(seq % 4));
        CU_ASSERT_EQUAL_FATAL(emit(&sink, &event), 0);
    }
    CU_ASSERT_EQUAL(sim_trace_writer_meta(writer, "seed", "7", message), 0);
    CU_ASSERT_EQUAL(sim_trace_writer_file(writer, "a.lua", "return 1", 8, message), 0);
    writer_close_fixture(writer);
    struct sim_trace_reader *reader = NULL;
    CU_ASSERT_EQUAL_FATAL(sim_trace_reader_open(temp_path("read.db"), &reader, message), 0);
    CU_ASSERT_STRING_EQUAL(sim_trace_reader_meta(reader, "seed"), "7");
    CU_ASSERT_PTR_NULL(sim_trace_reader_meta(reader, "absent"));
    ASSERT_U64_EQ(sim_trace_reader_file_count(reader), 1);
    struct sim_trace_file file = sim_trace_reader_file(reader, 0);
    CU_ASSERT_STRING_EQUAL(file.path, "a.lua");
    ASSERT_U64_EQ(file.text_bytes, 8);
    ASSERT_U64_EQ(sim_trace_reader_event_count(reader), 5000);
    struct sim_trace_row row;
    uint64_t seen = 0;
    uint32_t wrong = 0;
    while (sim_trace_reader_next(reader, &row, message) == 1) {
        char expected[64];
        snprintf(expected, sizeof(expected), "{\"n\":%" PRIu64 "%s", seen,
                 seen % 2 == 0 ? ",\"bytes\":{\"bytes\":" : "}");
        wrong += row.seq != seen || row.time_ns != 1000 * seen + 7 ||
                 strcmp(row.kind, "dg_route") != 0 || strcmp(row.layer, "vmci") != 0 ||
                 strncmp(row.fields, expected, strlen(expected)) != 0 ||
                 row.has_payload != (seen % 2 == 0) ||
                 (row.has_payload && row.payload_bytes != seen % 4);
        seen++;
    }
    ASSERT_U64_EQ(seen, 5000);
    ASSERT_U64_EQ(wrong, 0);
    sim_trace_reader_close(reader);
}

/* A missing file, a file that is not SQLite, and an SQLite file without our tables are
 * refused at open with a message naming the file. */
static void test_reader_refuses_what_is_not_a_trace(void)
{
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    struct sim_trace_reader *reader = NULL;
    CU_ASSERT_EQUAL(sim_trace_reader_open(temp_path("missing.db"), &reader, message), SIM_ESINK);
    CU_ASSERT_PTR_NULL(reader);
    ASSERT_STR_CONTAINS(message, "missing.db");
    FILE *stream = fopen(temp_path("text.db"), "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(stream);
    fputs("this is not a database, it is text\n", stream);
    fclose(stream);
    CU_ASSERT_EQUAL(sim_trace_reader_open(temp_path("text.db"), &reader, message), SIM_ESINK);
    ASSERT_STR_CONTAINS(message, "not an SQLite database");
    sqlite3 *db = NULL;
    CU_ASSERT_EQUAL_FATAL(sqlite3_open(temp_path("other.db"), &db), SQLITE_OK);
    CU_ASSERT_EQUAL(sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    CU_ASSERT_EQUAL(sim_trace_reader_open(temp_path("other.db"), &reader, message), SIM_ESINK);
    ASSERT_STR_CONTAINS(message, "not a vmcisim trace");
}

/* sim_trace_check_open hands over the connection it checked with only for a trace, and
 * sim_trace_indexes_ensure_open answers as sim_trace_indexes_ensure does with a read-only
 * connection that reads the trace (NULL for what is not one), leaving no -wal file. */
static void test_check_and_ensure_hand_over_their_connection(void)
{
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    sqlite3 *db = (sqlite3 *)message;               /* each call must set it */
    CU_ASSERT_EQUAL(sim_trace_check_open(temp_path("handover_never.db"), message, &db),
                    SIM_TRACE_KIND_ABSENT);
    CU_ASSERT_PTR_NULL(db);
    file_write("handover_words.db", "not a trace\n");
    db = (sqlite3 *)message;
    CU_ASSERT_EQUAL(sim_trace_check_open(temp_path("handover_words.db"), message, &db),
                    SIM_TRACE_KIND_OTHER);
    CU_ASSERT_PTR_NULL(db);
    db = (sqlite3 *)message;
    CU_ASSERT_EQUAL(sim_trace_indexes_ensure_open(temp_path("handover_words.db"), &db),
                    SIM_TRACE_INDEXES_ABSENT);
    CU_ASSERT_PTR_NULL(db);
    struct sim_trace_writer *writer = writer_open_fixture("handover.db");
    struct sim_trace_sink sink = sim_trace_writer_sink(writer, SIM_LAYER_DEVICE);
    for (uint64_t seq = 0; seq < 10; seq++) {
        struct sim_trace_event event = event_make(seq, SIM_LAYER_VMCI, "k");
        CU_ASSERT_EQUAL(emit(&sink, &event), 0);
    }
    writer_close_fixture(writer);
    const char *path = temp_path("handover.db");
    CU_ASSERT_EQUAL(sim_trace_check_open(path, message, &db), SIM_TRACE_KIND_TRACE);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    CU_ASSERT_EQUAL(sqlite3_db_readonly(db, "main"), 1);
    CU_ASSERT_EQUAL(db_int(db, "SELECT count(*) FROM events", NULL), 10);
    sqlite3_close(db);
    static const enum sim_trace_indexes answers[2] = { SIM_TRACE_INDEXES_CREATED,
                                                       SIM_TRACE_INDEXES_PRESENT };
    for (int round = 0; round < 2; round++) {
        db = NULL;
        CU_ASSERT_EQUAL(sim_trace_indexes_ensure_open(path, &db), answers[round]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(db);
        CU_ASSERT_EQUAL(sqlite3_db_readonly(db, "main"), 1);
        CU_ASSERT_EQUAL(db_int(db, "SELECT count(*) FROM events WHERE kind = 'k'", NULL), 10);
        CU_ASSERT_EQUAL(db_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'index'"
                               " AND name IN ('events_time_ns', 'events_kind')", NULL), 2);
        sqlite3_close(db);
    }
    char wal[sizeof temp_dir + 300];
    snprintf(wal, sizeof wal, "%s-wal", path);
    CU_ASSERT_NOT_EQUAL(access(wal, F_OK), 0);
}

CU_ErrorCode trace_writer_suite_add(void)
{
    static const struct test_entry tests[] = {
        TEST_ENTRY(test_every_event_is_stored_with_its_fields),
        TEST_ENTRY(test_payload_field_is_stored_like_bytes),
        TEST_ENTRY(test_level_stores_only_layers_up_to_level),
        TEST_ENTRY(test_batches_commit_every_batch_and_the_rest_at_close),
        TEST_ENTRY(test_seqs_with_gaps_are_stored_exactly),
        TEST_ENTRY(test_close_checkpoints_and_builds_no_index),
        TEST_ENTRY(test_readers_make_the_indexes_on_first_use),
        TEST_ENTRY(test_meta_and_files_are_stored_exactly),
        TEST_ENTRY(test_string_escaping_round_trips_through_json_extract),
        TEST_ENTRY(test_names_sharing_a_cache_slot_each_encode_as_themselves),
        TEST_ENTRY(test_string_limit_boundary),
        TEST_ENTRY(test_u64_boundaries_round_trip),
        TEST_ENTRY(test_time_above_int64_max_is_refused),
        TEST_ENTRY(test_open_in_missing_directory_names_the_path),
        TEST_ENTRY(test_open_with_a_very_long_path_keeps_the_cause),
        TEST_ENTRY(test_message_path_shortens_in_the_middle),
        TEST_ENTRY(test_open_truncates_an_old_trace),
        TEST_ENTRY(test_open_refuses_to_replace_what_is_not_a_trace),
        TEST_ENTRY(test_trace_is_written_beside_and_renamed_at_close),
        TEST_ENTRY(test_abandon_leaves_a_readable_partial_trace),
        TEST_ENTRY(test_check_tells_absent_empty_trace_and_other),
        TEST_ENTRY(test_sqlite_failure_returns_esink_naming_path),
        TEST_ENTRY(test_meta_has_no_wall_clock_value),
        TEST_ENTRY(test_ring_keeps_order_across_wraps_and_commits),
        TEST_ENTRY(test_ring_keeps_only_the_cut_of_a_payload),
        TEST_ENTRY(test_ring_goes_round_the_lap),
        TEST_ENTRY(test_ring_worker_maps_the_lap),
        TEST_ENTRY(test_ring_counts_the_runs_waits_for_space),
        TEST_ENTRY(test_writer_reports_no_wait_for_a_small_trace),
        TEST_ENTRY(test_ring_failure_is_sticky_and_reported),
        TEST_ENTRY(test_ring_refuses_a_field_above_its_limit),
        TEST_ENTRY(test_payload_is_cut_to_the_writer_limit),
        TEST_ENTRY(test_rows_equal_the_encoding_of_the_emitted_event),
        TEST_ENTRY(test_rows_bind_only_what_changed_and_read_back_whole),
        TEST_ENTRY(test_cut_bound_holds_the_text_and_skips_the_payload),
        TEST_ENTRY(test_reader_reads_back_what_the_writer_stored),
        TEST_ENTRY(test_reader_refuses_what_is_not_a_trace),
        TEST_ENTRY(test_check_and_ensure_hand_over_their_connection),
    };
    return test_suite_register_with_fixtures("trace_writer", suite_init, suite_cleanup, tests,
                                             sizeof(tests) / sizeof(tests[0]));
}
