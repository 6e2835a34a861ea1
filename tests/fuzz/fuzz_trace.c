/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/fuzz_trace.c: fuzz target (c), the trace readers fed arbitrary files
 * (docs/fuzzing.md).
 *
 * The input's first byte chooses which reader opens the trace (below); the rest becomes a
 * trace file in one of two ways:
 *   - an input that starts with SQLite's magic ("SQLite format 3\0") is the file itself,
 *     byte for byte (corrupt pages, wrong schemas, truncations);
 *   - any other input is SQL text run against a fresh database that already has the
 *     writer's schema (meta, files, events, schema_version 1) and the two indexes the
 *     readers make on first use (as a trace read before has them; an input that drops
 *     them has them made again, and a file input without them too): so a small input such as
 *     one INSERT of a row with a strange `fields` JSON reaches the readers' own code,
 *     which random bytes in an SQLite page rarely do. The SQL may not touch any other
 *     file: ATTACH, VACUUM and extension loading are refused before it runs (text
 *     check and authorizer), and a statement stops after SQL_STEPS_MAX virtual-machine
 *     steps.
 * Then one of the WAYS readers of traces opens the file, the first byte modulo WAYS:
 * sim/trace/reader.c (metadata, recorded files, every event up to EVENTS_MAX), `export` in
 * one of its three formats, or `inspect` (sim/cli) in one of its six views; the output goes
 * to a scratch file and /dev/null. A first byte of WAY_ALL reads the file every way in
 * turn (the crash reproducers start with it, so each stays checked by every reader). One
 * reader per input rather than all ten: most of an input's cost is the reading, and the
 * fuzzer learns which first byte reaches which code as it learns any other byte.
 * Each reader must return an answer or a message, never crash; that is the invariant (ASan
 * and UBSan watch the memory).
 *
 * The scratch files live in $TMPDIR, else /dev/shm when it is a folder (memory: writing a
 * database syncs it, and a disk sync per input cost more than the reading), else /tmp.
 * The fresh database an SQL input runs against is the same every time: it is made once
 * (in memory, serialized to schema_image) and each SQL input starts from a copy of those
 * bytes written to the scratch file, rather than from CREATE statements parsed and run
 * again, which were a fifth of what an empty input cost.
 */
#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "fuzz.h"
#include "sim/cli/cli.h"
#include "sim/engine/error.h"
#include "sim/export/export.h"
#include "sim/trace/reader.h"

#define TARGET "trace"
#define EVENTS_MAX 100000u
#define SQL_BYTES_MAX (256u * 1024)
#define SQL_STEPS_MAX 2000000
#define PATH_BYTES_MAX 256u
#define WAYS 10u                        /* the reader, 3 export formats, 6 inspect views */
#define WAY_ALL 0xFFu

static char trace_path[PATH_BYTES_MAX];
static char out_path[PATH_BYTES_MAX];
/* The writer's schema as a database file's bytes (sqlite3_serialize), made once. */
static unsigned char *schema_image;
static size_t schema_image_bytes;

static const char schema_sql[] =
    "BEGIN;"
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE files(path TEXT PRIMARY KEY, text TEXT NOT NULL, hash TEXT NOT NULL);"
    "CREATE TABLE events(seq INTEGER PRIMARY KEY, time_ns INTEGER NOT NULL,"
    " ctx INTEGER NOT NULL, pid INTEGER NOT NULL, layer TEXT NOT NULL, kind TEXT NOT NULL,"
    " fields TEXT NOT NULL, payload BLOB);"
    "CREATE INDEX " SIM_TRACE_INDEX_TIME " ON events(time_ns);"
    "CREATE INDEX " SIM_TRACE_INDEX_KIND " ON events(kind);"
    "INSERT INTO meta(key, value) VALUES('schema_version', '1'); COMMIT;";

/* `inspect` is linked without sim/cli/main.c: its usage messages come here. */
void cli_usage(FILE *stream)
{
    fputs("usage\n", stream);
}

int cli_usage_error(const char *format, const char *detail)
{
    (void)format;
    (void)detail;
    return 2;
}

/* schema_image: the schema made in an in-memory database, its file image kept. */
static void make_schema_image(void)
{
    sqlite3 *db = NULL;
    sqlite3_int64 image_bytes = 0;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK ||
        sqlite3_exec(db, schema_sql, NULL, NULL, NULL) != SQLITE_OK ||
        (schema_image = sqlite3_serialize(db, "main", &image_bytes, 0)) == NULL ||
        image_bytes <= 0)
        fuzz_fail(TARGET, "cannot make the schema's database image");
    schema_image_bytes = (size_t)image_bytes;
    sqlite3_close(db);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet_stdout();
    /* SQLite's memory statistics take a process-wide mutex around every allocation and
     * free (millions per run of the corpus); nothing here reads them or sets a heap limit,
     * so what the readers do is the same without. Before SQLite's first use. */
    if (sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) != SQLITE_OK)
        fuzz_fail(TARGET, "sqlite3_config(SQLITE_CONFIG_MEMSTATUS) refused");
    make_schema_image();
    struct stat info;
    const char *folder = getenv("TMPDIR");
    if (folder == NULL)
        folder = stat("/dev/shm", &info) == 0 && S_ISDIR(info.st_mode) ? "/dev/shm" : "/tmp";
    snprintf(trace_path, sizeof(trace_path), "%s/vmcisim-fuzz-trace-%ld.db", folder,
             (long)getpid());
    snprintf(out_path, sizeof(out_path), "%s/vmcisim-fuzz-trace-%ld.out", folder,
             (long)getpid());
    return 0;
}

static void remove_files(void)
{
    char side[PATH_BYTES_MAX + 8];
    unlink(trace_path);
    unlink(out_path);
    snprintf(side, sizeof(side), "%s-wal", trace_path);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", trace_path);
    unlink(side);
    snprintf(side, sizeof(side), "%s-journal", trace_path);
    unlink(side);
}

static int deny_other_files(void *state, int action, const char *a, const char *b,
                            const char *c, const char *d)
{
    (void)state, (void)a, (void)b, (void)c, (void)d;
    return action == SQLITE_ATTACH || action == SQLITE_DETACH ? SQLITE_DENY : SQLITE_OK;
}

static int steps_exceeded(void *state)
{
    (void)state;
    return 1;                           /* called once per SQL_STEPS_MAX steps: stop */
}

/* True when the SQL names something that could reach another file. */
static bool sql_refused(const char *sql)
{
    static const char *const words[] = { "attach", "vacuum", "load_extension", "detach" };
    static char lowered[SQL_BYTES_MAX + 1];
    size_t length = strlen(sql);
    for (size_t index = 0; index < length; index++)
        lowered[index] = (char)tolower((unsigned char)sql[index]);
    lowered[length] = '\0';
    for (size_t index = 0; index < sizeof(words) / sizeof(words[0]); index++) {
        if (strstr(lowered, words[index]) != NULL)
            return true;
    }
    return false;
}

/* The scratch trace holds exactly these bytes (a failure is the harness's, not the
 * readers': it aborts). */
static void write_file(const void *data, size_t size)
{
    FILE *file = fopen(trace_path, "wb");
    if (file == NULL)
        fuzz_fail(TARGET, "cannot write the scratch trace");
    bool ok = fwrite(data, 1, size, file) == size;
    ok = fclose(file) == 0 && ok;
    if (!ok)
        fuzz_fail(TARGET, "cannot write the scratch trace");
}

/* Writes the trace file for this input; false when the input makes none (refused SQL). */
static bool write_trace(const uint8_t *data, size_t size)
{
    static const char magic[16] = "SQLite format 3";
    if (size >= sizeof(magic) && memcmp(data, magic, sizeof(magic)) == 0) {
        write_file(data, size);
        return true;
    }
    if (size > SQL_BYTES_MAX)
        return false;
    char *sql = malloc(size + 1);
    if (sql == NULL)
        fuzz_fail(TARGET, "out of memory");
    memcpy(sql, data, size);
    sql[size] = '\0';
    bool written = false;
    sqlite3 *db = NULL;
    bool refused = sql_refused(sql);
    if (!refused)
        write_file(schema_image, schema_image_bytes);
    /* No syncs and no journal file per statement: the scratch file needs no durability
     * (a statement that fails is still rolled back, from the journal in memory). */
    if (!refused && sqlite3_open(trace_path, &db) == SQLITE_OK &&
        sqlite3_exec(db, "PRAGMA synchronous=OFF; PRAGMA journal_mode=MEMORY", NULL, NULL,
                     NULL) == SQLITE_OK) {
        sqlite3_set_authorizer(db, deny_other_files, NULL);
        sqlite3_progress_handler(db, SQL_STEPS_MAX, steps_exceeded, NULL);
        sqlite3_limit(db, SQLITE_LIMIT_LENGTH, 1 << 20);
        (void)sqlite3_exec(db, sql, NULL, NULL, NULL);  /* whatever ran is the trace */
        written = true;
    }
    sqlite3_close(db);
    free(sql);
    return written;
}

static void read_with_reader(void)
{
    static const char *const keys[] = { "schema_version", "simulator_version", "seed",
                                        "options", "digest", "" };
    struct sim_trace_reader *reader = NULL;
    char message[SIM_ERROR_MESSAGE_BYTES_MAX];
    if (sim_trace_reader_open(trace_path, &reader, message) != 0)
        return;
    for (size_t index = 0; index < sizeof(keys) / sizeof(keys[0]); index++)
        (void)sim_trace_reader_meta(reader, keys[index]);
    uint32_t files = sim_trace_reader_file_count(reader);
    for (uint32_t index = 0; index < files; index++) {
        struct sim_trace_file file = sim_trace_reader_file(reader, index);
        if (file.path == NULL || (file.text == NULL && file.text_bytes > 0))
            fuzz_fail(TARGET, "reader returned a file without its path or text");
    }
    (void)sim_trace_reader_event_count(reader);
    struct sim_trace_row row;
    uint64_t checksum = 0;
    for (uint32_t count = 0; count < EVENTS_MAX; count++) {
        if (sim_trace_reader_next(reader, &row, message) != 1)
            break;
        if (row.layer == NULL || row.kind == NULL || row.fields == NULL)
            fuzz_fail(TARGET, "reader returned a row without layer, kind or fields");
        for (size_t index = 0; index < row.payload_bytes; index++)
            checksum += row.payload[index];              /* ASan checks every byte */
        checksum += strlen(row.fields) + strlen(row.layer) + strlen(row.kind);
    }
    (void)checksum;
    sim_trace_reader_close(reader);
}

static void read_with_export(const char *format)
{
    struct export_options options;
    export_options_default(&options);
    if (export_format_parse(format, &options.format) != 0)
        fuzz_fail(TARGET, "export format unknown");
    char message[SIM_ERROR_MESSAGE_BYTES_MAX];
    (void)export_run(trace_path, out_path, &options, message);
}

static void read_with_inspect(const char *view)
{
    char *argv[] = { "inspect", trace_path, (char *)view, NULL };
    (void)cli_inspect(3, argv);
}

/* Way 0 is the reader, 1-3 `export`, 4-9 `inspect`. */
static void read_one_way(uint32_t way)
{
    static const char *const formats[] = { "pcap", "perfetto", "mermaid" };
    static const char *const views[] = { "summary", "timeline", "connections", "sockets",
                                         "vms", "errors" };
    _Static_assert(1 + sizeof(formats) / sizeof(formats[0]) +
                   sizeof(views) / sizeof(views[0]) == WAYS, "WAYS counts every reader");
    assert(way < WAYS);
    if (way == 0)
        read_with_reader();
    else if (way < 4)
        read_with_export(formats[way - 1]);
    else
        read_with_inspect(views[way - 4]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t first = size > 0 ? data[0] : 0;
    remove_files();
    if (write_trace(data + (size > 0), size - (size > 0))) {
        for (uint32_t way = 0; way < WAYS; way++) {
            if (first == WAY_ALL || way == first % WAYS)
                read_one_way(way);
        }
    }
    remove_files();
    return 0;
}
