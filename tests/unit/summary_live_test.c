/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/summary_live_test.c: the summary tables built while the run writes
 * (sim/cli/summary_live.c) are the tables the re-reading build (summary_write) makes.
 *
 * Each scenario is traced at every layer with the live hook installed, as `vmcisim run
 * --trace` does; a copy of the finished trace gets its tables dropped and rebuilt from its
 * events by summary_write; every row of every summary table (summary_info, with its hash,
 * included) must be the same in both files. The scenarios cover streams, datagrams,
 * refusals, resets, suspends, resumes under a new CID, vMotion, device resets, power
 * cycles and fault firings, and each must have been built live, not by the fallback (or
 * the comparison would prove nothing). Then: an event that names a CID before the CID is
 * bound makes the live build fall back, with the same tables; a met bound writes none,
 * says which, and leaves the trace whole; an api-level trace and a scenario given as
 * source round out the shapes.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "sim/cli/summary.h"
#include "sim/cli/summary_int.h"
#include "sim/lua/runtime.h"
#include "sim/trace/writer.h"
#include "sql_query.h"
#include "suites.h"
#include "test_support.h"

#define DUMP_BYTES_MAX (8u << 20)

static char live_path[64], rebuilt_path[64];

/* Traces the scenario file at `level` into live_path with a live build of the given
 * bounds; returns its outcome. */
static void trace_live(const char *scenario_path, enum sim_layer level, uint32_t sockets_max,
                       struct summary_live_outcome *outcome)
{
    snprintf(live_path, sizeof live_path, "/tmp/vmcisim_live_%d.db", (int)getpid());
    char message[SIM_ERROR_MESSAGE_BYTES_MAX];
    struct sim_trace_writer *writer = NULL;
    CU_ASSERT_FATAL(sim_trace_writer_open(live_path, &writer, message) == 0);
    struct summary_live *live = summary_live_create(live_path, sockets_max,
                                                    SUMMARY_CONNECTIONS_MAX);
    CU_ASSERT_FATAL(live != NULL);
    struct sim_trace_writer_hook hook = summary_live_hook(live);
    CU_ASSERT_FATAL(sim_trace_writer_hook(writer, &hook, message) == 0);
    struct sim_trace_sink sinks[1] = { sim_trace_writer_sink(writer, level) };
    struct simlua_options options = {
        .scenario_path = scenario_path, .seed = 1, .until_ns = SIM_TIME_NEVER, .quiet = true,
        .sinks = sinks, .sink_count = 1,
    };
    struct simlua_runtime *runtime = simlua_create(&options);
    CU_ASSERT_FATAL(runtime != NULL);
    struct simlua_outcome run;
    simlua_run(runtime, &run);
    simlua_destroy(runtime);
    CU_ASSERT(sim_trace_writer_meta(writer, "digest", "00112233", message) == 0);
    CU_ASSERT_FATAL(sim_trace_writer_close(writer, message) == 0);
    summary_live_report(live, outcome);
    CU_ASSERT(outcome->finished);
    summary_live_destroy(live);
}

/* Every summary table's rows, in rowid order, as text ("" when the trace has none). */
static char *dump_tables(const char *path)
{
    static const char *const tables[] = { "summary_info", "summary_kinds", "summary_errors",
        "summary_names", "summary_bindings", "summary_processes", "summary_sockets",
        "summary_socket_errors", "summary_connections" };
    char *dump = calloc(1, DUMP_BYTES_MAX);
    CU_ASSERT_FATAL(dump != NULL);
    size_t used = 0;
    sqlite3 *db = NULL;
    CU_ASSERT_FATAL(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    for (size_t table = 0; table < sizeof tables / sizeof tables[0]; table++) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT * FROM %s ORDER BY rowid", tables[table]);
        sqlite3_stmt *statement = NULL;
        if (sqlite3_prepare_v2(db, sql, -1, &statement, NULL) != SQLITE_OK) {
            sqlite3_finalize(statement);
            continue;                   /* no such table: nothing to dump */
        }
        used += (size_t)snprintf(dump + used, DUMP_BYTES_MAX - used, "[%s]\n", tables[table]);
        while (sqlite3_step(statement) == SQLITE_ROW && used < DUMP_BYTES_MAX - 1) {
            for (int column = 0; column < sqlite3_column_count(statement); column++) {
                const unsigned char *text = sqlite3_column_text(statement, column);
                used += (size_t)snprintf(dump + used, DUMP_BYTES_MAX - used, "%d:%s|",
                                         sqlite3_column_type(statement, column),
                                         text != NULL ? (const char *)text : "NULL");
                if (used >= DUMP_BYTES_MAX - 1)
                    break;
            }
            used += (size_t)snprintf(dump + used, DUMP_BYTES_MAX - used, "\n");
        }
        sqlite3_finalize(statement);
    }
    sqlite3_close(db);
    CU_ASSERT(used < DUMP_BYTES_MAX - 1);           /* the dump was not cut */
    return dump;
}

static void sql_on(const char *path, const char *statement)
{
    sqlite3 *db = NULL;
    CU_ASSERT_FATAL(sqlite3_open(path, &db) == SQLITE_OK);
    char *error = NULL;
    if (sqlite3_exec(db, statement, NULL, NULL, &error) != SQLITE_OK)
        fprintf(stderr, "%s: %s\n", statement, error != NULL ? error : "?");
    CU_ASSERT(error == NULL);
    sqlite3_free(error);
    sqlite3_close(db);
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    CU_ASSERT_FATAL(in != NULL && out != NULL);
    char buffer[65536];
    size_t got;
    while ((got = fread(buffer, 1, sizeof buffer, in)) > 0)
        CU_ASSERT_FATAL(fwrite(buffer, 1, got, out) == got);
    fclose(in);
    fclose(out);
}

/* The live trace's tables equal the ones summary_write rebuilds on a copy of it. */
static void assert_same_as_rebuilt(const char *label)
{
    snprintf(rebuilt_path, sizeof rebuilt_path, "/tmp/vmcisim_rebuilt_%d.db", (int)getpid());
    copy_file(live_path, rebuilt_path);
    sql_on(rebuilt_path, "DROP TABLE summary_info; DROP TABLE summary_kinds; "
           "DROP TABLE summary_errors; DROP TABLE summary_names; DROP TABLE summary_bindings; "
           "DROP TABLE summary_processes; DROP TABLE summary_sockets; "
           "DROP TABLE summary_socket_errors; DROP TABLE summary_connections");
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    CU_ASSERT(summary_write(rebuilt_path, message, sizeof message) == 0);
    char *live = dump_tables(live_path), *rebuilt = dump_tables(rebuilt_path);
    CU_ASSERT(strlen(live) > 200);                  /* there is something to compare */
    int same = strcmp(live, rebuilt) == 0;
    if (!same) {
        size_t at = 0;
        while (live[at] != '\0' && live[at] == rebuilt[at])
            at++;
        size_t from = at > 200 ? at - 200 : 0;
        fprintf(stderr, "%s: live and rebuilt tables differ at byte %zu:\nlive: %.400s\n"
                "rebuilt: %.400s\n", label, at, live + from, rebuilt + from);
    }
    CU_ASSERT(same);
    free(live);
    free(rebuilt);
    unlink(rebuilt_path);
}

static void test_live_tables_equal_the_rebuilt_ones(void)
{
    static const char *const scenarios[] = {
        "scenarios/hello.lua", "scenarios/many_connections.lua", "scenarios/nfs_dgram.lua",
        "scenarios/lifecycle/close_unread_hazard.lua",
        "scenarios/lifecycle/device_reset_sockets.lua",
        "scenarios/lifecycle/suspend_resume_stream.lua",
        "scenarios/lifecycle/resume_cid_change.lua", "scenarios/lifecycle/vmotion.lua",
        "scenarios/lifecycle/lifecycle_errors.lua", "scenarios/lifecycle/freeze_thaw.lua",
        "scenarios/faults/real_faults.lua", "scenarios/faults/rates.lua",
        "scenarios/networkless_guest.lua",
    };
    for (size_t index = 0; index < sizeof scenarios / sizeof scenarios[0]; index++) {
        struct summary_live_outcome outcome;
        trace_live(scenarios[index], SIM_LAYER_DEVICE, SUMMARY_SOCKETS_MAX, &outcome);
        if (!outcome.written || outcome.rebuilt_because != NULL)
            fprintf(stderr, "%s: written %d, rebuilt because %s: %s\n", scenarios[index],
                    outcome.written, outcome.rebuilt_because != NULL
                                         ? outcome.rebuilt_because : "-", outcome.message);
        CU_ASSERT(outcome.written);
        CU_ASSERT(outcome.rebuilt_because == NULL);     /* built live, not by the fallback */
        assert_same_as_rebuilt(scenarios[index]);
        unlink(live_path);
    }
}

static void test_an_api_level_trace_is_built_live_the_same(void)
{
    struct summary_live_outcome outcome;
    trace_live("scenarios/many_connections.lua", SIM_LAYER_API, SUMMARY_SOCKETS_MAX, &outcome);
    CU_ASSERT(outcome.written && outcome.rebuilt_because == NULL);
    assert_same_as_rebuilt("many_connections.lua at api level");
    unlink(live_path);
}

/* A connect to CID 100 before any VM holds it, then a VM that takes CID 100: the reader
 * names the unbound destination after its first later binding, which a pass in seq order
 * cannot know, so the live build gives way to the rebuild: the same tables. */
static const char late_cid_scenario[] =
    "local sim = require('vmcisim')\n"
    "local w = sim.world{}\n"
    "local guest = w:vm{ name = 'guest1' }\n"
    "guest:spawn('client', function(p)\n"
    "  local s = assert(p:socket('stream'))\n"
    "  assert(not s:connect(100, 5000))\n"
    "  s:close()\n"
    "end)\n"
    "w:run()\n"
    "local late = w:vm{ name = 'late', vmx = { ['vmci0.id'] = '100' } }\n"
    "late:spawn('server', function(p)\n"
    "  local l = assert(p:socket('stream'))\n"
    "  assert(l:bind(sim.CID_ANY, 5000)); l:close()\n"
    "end)\n"
    "w:run()\n";

static void test_a_cid_named_before_its_binding_falls_back_to_the_rebuild(void)
{
    char lua_path[TEST_LUA_PATH_BYTES];
    test_write_lua_file(late_cid_scenario, lua_path);
    struct summary_live_outcome outcome;
    trace_live(lua_path, SIM_LAYER_DEVICE, SUMMARY_SOCKETS_MAX, &outcome);
    unlink(lua_path);
    CU_ASSERT(outcome.written);
    CU_ASSERT_FATAL(outcome.rebuilt_because != NULL);
    ASSERT_STR_CONTAINS(outcome.rebuilt_because, "before its first binding");
    assert_same_as_rebuilt("a CID named before its binding");
    unlink(live_path);
}

/* Names as the JSON stores them: well-formed UTF-8 is kept (built live); an ill-formed
 * byte is stored as \udcXX, which json_extract reads back otherwise, so the live build
 * gives way to the rebuild. Either way the tables are the rebuilt ones. */
static void trace_named(const char *vm_name, const char *process_name, bool live_expected)
{
    char source[1024], lua_path[TEST_LUA_PATH_BYTES];
    snprintf(source, sizeof source,
             "local sim = require('vmcisim')\n"
             "local w = sim.world{}\n"
             "local guest = w:vm{ name = '%s' }\n"
             "w:host():spawn('server', function(p)\n"
             "  local l = assert(p:socket('stream'))\n"
             "  assert(l:bind(sim.CID_ANY, 5000)); assert(l:listen(1))\n"
             "  local c = assert(l:accept()); c:close(); l:close()\n"
             "end)\n"
             "guest:spawn('%s', function(p)\n"
             "  local s = assert(p:socket('stream'))\n"
             "  assert(s:connect(sim.CID_HOST, 5000)); s:close()\n"
             "end)\n"
             "w:run()\n", vm_name, process_name);
    test_write_lua_file(source, lua_path);
    struct summary_live_outcome outcome;
    trace_live(lua_path, SIM_LAYER_DEVICE, SUMMARY_SOCKETS_MAX, &outcome);
    unlink(lua_path);
    CU_ASSERT(outcome.written);
    if (live_expected) {
        CU_ASSERT(outcome.rebuilt_because == NULL);
    } else {
        CU_ASSERT_FATAL(outcome.rebuilt_because != NULL);
        ASSERT_STR_CONTAINS(outcome.rebuilt_because, "unexpected type or encoding");
    }
    assert_same_as_rebuilt(vm_name);
    unlink(live_path);
}

static void test_names_in_utf8_are_built_live_and_ill_formed_ones_rebuilt(void)
{
    trace_named("gu\xc3\xa9st", "cli\xe2\x82\xac", true);     /* é, the euro sign */
    trace_named("g\xffx", "client", false);                      /* a byte never in UTF-8 */
    trace_named("guest1", "client\xc3", false);                  /* a sequence cut by the end */
}

static void test_a_met_bound_writes_no_tables_and_says_which(void)
{
    struct summary_live_outcome outcome;
    /* 128: a bound the model's arrays meet exactly (they grow from 64 by doubling). */
    trace_live("scenarios/many_connections.lua", SIM_LAYER_DEVICE, 128, &outcome);
    CU_ASSERT(!outcome.written);
    ASSERT_STR_CONTAINS(outcome.message, "no summary tables (more than SUMMARY_SOCKETS_MAX");
    ASSERT_U64_EQ(sql_query_int(live_path, "SELECT count(*) FROM sqlite_master WHERE name LIKE "
                                      "'summary%'"), 0);
    CU_ASSERT(sql_query_int(live_path, "SELECT count(*) FROM events") > 1000);  /* trace whole */
    unlink(live_path);
}

static const struct test_entry tests[] = {
    TEST_ENTRY(test_live_tables_equal_the_rebuilt_ones),
    TEST_ENTRY(test_an_api_level_trace_is_built_live_the_same),
    TEST_ENTRY(test_a_cid_named_before_its_binding_falls_back_to_the_rebuild),
    TEST_ENTRY(test_a_met_bound_writes_no_tables_and_says_which),
    TEST_ENTRY(test_names_in_utf8_are_built_live_and_ill_formed_ones_rebuilt),
};

CU_ErrorCode summary_live_suite_add(void)
{
    return test_suite_register("summary_live", tests, sizeof tests / sizeof tests[0]);
}
