/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/summary_tables_test.c: the summary tables of sim/cli/summary.h.
 *
 * A small scenario (an echo over a stream, a refused connect, a datagram) is traced once
 * per test; the tables written into it must load back into exactly the names, sockets
 * and connections that inspect_model.c rebuilds from the events (every column the
 * descriptors list, every socket error), must leave the events and meta as they were, and
 * must be refused when a row was changed (the hash) or when a forged hash covers a value
 * out of range (the range checks), the views then falling back to the events.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "sim/cli/inspect_int.h"
#include "sim/cli/inspect_model.h"
#include "sim/cli/summary.h"
#include "sim/cli/summary_int.h"
#include "sim/lua/runtime.h"
#include "sim/trace/reader.h"
#include "sim/trace/writer.h"
#include "sql_query.h"
#include "suites.h"
#include "test_support.h"

/* `inspect` is linked without sim/cli/main.c: its usage messages come here. */
void cli_usage(FILE *stream)
{
    fprintf(stream, "usage\n");
}

int cli_usage_error(const char *format, const char *detail)
{
    fprintf(stderr, format, detail);
    fputc('\n', stderr);
    return 2;
}

static const char scenario[] =
    "local sim = require('vmcisim')\n"
    "local w = sim.world{}\n"
    "local guest = w:vm{ name = 'guest1' }\n"
    "w:host():spawn('server', function(p)\n"
    "  local l = assert(p:socket('stream'))\n"
    "  assert(l:bind(sim.CID_ANY, 5000)); assert(l:listen(1))\n"
    "  local c = assert(l:accept())\n"
    "  c:send(assert(c:recv(100))); c:close(); l:close()\n"
    "end)\n"
    "guest:spawn('client', function(p)\n"
    "  local refused = assert(p:socket('stream'))\n"
    "  assert(not refused:connect(sim.CID_HOST, 6000))\n"
    "  local s = assert(p:socket('stream'))\n"
    "  assert(s:connect(sim.CID_HOST, 5000)); s:send('hello'); s:recv(100); s:close()\n"
    "  local d = assert(p:socket('dgram'))\n"
    "  d:sendto('ping', sim.CID_HOST, 7000)\n"
    "end)\n"
    "w:run()\n";

static char trace_path[64];

/* Traces the scenario at every layer into a fresh trace_path, as `run --trace` does. */
static void make_trace(void)
{
    snprintf(trace_path, sizeof trace_path, "/tmp/vmcisim_summary_%d.db", (int)getpid());
    char message[SIM_ERROR_MESSAGE_BYTES_MAX], lua_path[TEST_LUA_PATH_BYTES];
    struct sim_trace_writer *writer = NULL;
    CU_ASSERT_FATAL(sim_trace_writer_open(trace_path, &writer, message) == 0);
    test_write_lua_file(scenario, lua_path);
    struct sim_trace_sink sinks[1] = { sim_trace_writer_sink(writer, SIM_LAYER_DEVICE) };
    struct simlua_options options = {
        .scenario_path = lua_path, .seed = 1, .until_ns = SIM_TIME_NEVER, .quiet = true,
        .sinks = sinks, .sink_count = 1,
    };
    struct simlua_runtime *runtime = simlua_create(&options);
    CU_ASSERT_FATAL(runtime != NULL);
    struct simlua_outcome outcome;
    simlua_run(runtime, &outcome);
    ASSERT_U64_EQ(outcome.exit_code, SIMLUA_EXIT_PASS);
    simlua_destroy(runtime);
    unlink(lua_path);
    CU_ASSERT(sim_trace_writer_meta(writer, "digest", "00112233", message) == 0);
    CU_ASSERT_FATAL(sim_trace_writer_close(writer, message) == 0);
}

static char no_filter[1] = "";

/* Opens the trace read-only as `inspect` does, probing the tables unless `recompute`. */
static void inspect_open_trace(struct inspect *inspect, int recompute)
{
    *inspect = (struct inspect){ .path = trace_path, .command = "inspect", .where = no_filter };
    CU_ASSERT_FATAL(sim_trace_open_database(trace_path, &inspect->db) == SQLITE_OK);
    if (!recompute)
        summary_probe(inspect);
    CU_ASSERT_FATAL(inspect_names_load(inspect) == 0);
}

static void inspect_done(struct inspect *inspect)
{
    inspect_names_free(&inspect->names);
    sqlite3_close(inspect->db);
}

static void sql(const char *statement)
{
    sqlite3 *db = NULL;
    CU_ASSERT_FATAL(sqlite3_open(trace_path, &db) == SQLITE_OK);
    char *error = NULL;
    if (sqlite3_exec(db, statement, NULL, NULL, &error) != SQLITE_OK)
        fprintf(stderr, "%s: %s\n", statement, error != NULL ? error : "?");
    CU_ASSERT(error == NULL);
    sqlite3_free(error);
    sqlite3_close(db);
}

static int64_t sql_int(const char *query)
{
    return sql_query_int(trace_path, query);
}

/* Each column the descriptors list, compared as the bytes of its field. */
static void assert_records_equal(const void *left, const void *right,
                                 const struct summary_column *columns, uint32_t count)
{
    for (uint32_t index = 0; index < count; index++) {
        const struct summary_column *column = &columns[index];
        size_t bytes = column->value == SUMMARY_U32 ? sizeof(uint32_t)
                       : column->value == SUMMARY_U64 ? sizeof(uint64_t)
                       : column->value == SUMMARY_FLAG ? sizeof(int)
                       : column->value == SUMMARY_TYPE ? sizeof(enum socket_type) : 0;
        const char *a = (const char *)left + column->offset;
        const char *b = (const char *)right + column->offset;
        int same = bytes > 0 ? memcmp(a, b, bytes) == 0 : strcmp(a, b) == 0;
        if (!same)
            fprintf(stderr, "column %s differs\n", column->name);
        CU_ASSERT(same);
    }
}

static void assert_models_equal(const struct model *tables, const struct model *events)
{
    ASSERT_U64_EQ(tables->socket_count, events->socket_count);
    ASSERT_U64_EQ(tables->connection_count, events->connection_count);
    ASSERT_U64_EQ(tables->last_time_ns, events->last_time_ns);
    for (uint32_t index = 0; index < tables->socket_count && index < events->socket_count;
         index++) {
        const struct socket_record *a = &tables->sockets[index], *b = &events->sockets[index];
        assert_records_equal(a, b, summary_socket_columns, summary_socket_column_count);
        ASSERT_U64_EQ(a->error_count, b->error_count);
        for (uint32_t error = 0; error < a->error_count && error < b->error_count; error++) {
            ASSERT_U64_EQ(a->errors[error].call, b->errors[error].call);
            ASSERT_U64_EQ((uint64_t)a->errors[error].result, (uint64_t)b->errors[error].result);
            ASSERT_U64_EQ(a->errors[error].count, b->errors[error].count);
        }
    }
    for (uint32_t index = 0;
         index < tables->connection_count && index < events->connection_count; index++)
        assert_records_equal(&tables->connections[index], &events->connections[index],
                             summary_connection_columns, summary_connection_column_count);
}

static void test_tables_load_back_as_the_model_from_events(void)
{
    make_trace();
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    CU_ASSERT_FATAL(summary_write(trace_path, message, sizeof message) == 0);
    struct inspect from_tables, from_events;
    inspect_open_trace(&from_tables, 0);
    inspect_open_trace(&from_events, 1);
    CU_ASSERT_FATAL(from_tables.summary == 1);
    CU_ASSERT(from_events.summary == 0);
    const struct inspect_names *a = &from_tables.names, *b = &from_events.names;
    ASSERT_U64_EQ(a->name_count, b->name_count);
    ASSERT_U64_EQ(a->binding_count, b->binding_count);
    for (uint32_t index = 1; index < a->name_count && index < b->name_count; index++)
        CU_ASSERT_STRING_EQUAL(a->names[index], b->names[index]);
    for (uint32_t index = 0; index < a->binding_count && index < b->binding_count; index++)
        CU_ASSERT(memcmp(&a->bindings[index], &b->bindings[index], sizeof *a->bindings) == 0);
    for (uint32_t pid = 0; pid < b->process_capacity; pid++) {
        const char *name = pid < a->process_capacity ? a->processes[pid].name : "";
        CU_ASSERT_STRING_EQUAL(name, b->processes[pid].name);
    }
    struct model tables, events;
    CU_ASSERT_FATAL(inspect_model_build(&from_tables, &tables) == 0);
    CU_ASSERT_FATAL(inspect_model_build(&from_events, &events) == 0);
    CU_ASSERT(from_tables.summary == 1);                /* the tables passed every check */
    CU_ASSERT(events.connection_count >= 2);             /* the refused one and the echo */
    CU_ASSERT(events.socket_count >= 5);
    assert_models_equal(&tables, &events);
    inspect_model_free(&tables);
    inspect_model_free(&events);
    inspect_done(&from_tables);
    inspect_done(&from_events);
    unlink(trace_path);
}

static void test_writing_changes_no_event_and_no_meta(void)
{
    make_trace();
    int64_t events = sql_int("SELECT count(*) FROM events");
    int64_t meta = sql_int("SELECT count(*) FROM meta");
    int64_t seq_sum = sql_int("SELECT sum(seq + length(fields)) FROM events");
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    CU_ASSERT(summary_write(trace_path, message, sizeof message) == 0);
    CU_ASSERT(events > 0);
    ASSERT_U64_EQ(sql_int("SELECT count(*) FROM events"), events);
    ASSERT_U64_EQ(sql_int("SELECT count(*) FROM meta"), meta);
    ASSERT_U64_EQ(sql_int("SELECT sum(seq + length(fields)) FROM events"), seq_sum);
    ASSERT_U64_EQ(sql_int("SELECT value FROM summary_info WHERE key = 'events'"), events);
    ASSERT_U64_EQ(sql_int("SELECT sum(events) FROM summary_kinds"), events);
    unlink(trace_path);
}

static void test_a_trace_without_digest_gets_no_tables(void)
{
    make_trace();
    sql("DELETE FROM meta WHERE key = 'digest'");
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    CU_ASSERT(summary_write(trace_path, message, sizeof message) == 1);
    ASSERT_STR_CONTAINS(message, "no digest");
    ASSERT_U64_EQ(sql_int("SELECT count(*) FROM sqlite_master WHERE name LIKE 'summary%'"), 0);
    unlink(trace_path);
}

static void test_a_changed_row_is_refused_by_the_hash(void)
{
    make_trace();
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    CU_ASSERT_FATAL(summary_write(trace_path, message, sizeof message) == 0);
    sql("UPDATE summary_connections SET client_written_bytes = client_written_bytes + 1");
    struct inspect inspect;
    inspect_open_trace(&inspect, 0);
    CU_ASSERT(inspect.summary == 0);
    inspect_done(&inspect);
    unlink(trace_path);
}

/* Changes the tables with `statement`, then stores the hash of the changed rows, as a
 * forger would: the hash passes and only the range checks stand. */
static void forge(const char *statement)
{
    sql(statement);
    sqlite3 *db = NULL;
    CU_ASSERT_FATAL(sqlite3_open(trace_path, &db) == SQLITE_OK);
    uint64_t hash = 0;
    CU_ASSERT(summary_hash(db, &hash) == 0);
    char update[128];
    snprintf(update, sizeof update, "UPDATE summary_info SET value = '%016llx' WHERE key = "
             "'hash'", (unsigned long long)hash);
    CU_ASSERT(sqlite3_exec(db, update, NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
}

static void expect_model_falls_back(const char *statement)
{
    make_trace();
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    CU_ASSERT_FATAL(summary_write(trace_path, message, sizeof message) == 0);
    forge(statement);
    struct inspect inspect, reference;
    inspect_open_trace(&inspect, 0);
    inspect_open_trace(&reference, 1);
    struct model model, events;
    CU_ASSERT(inspect.summary == 1);                    /* the forged hash passed */
    CU_ASSERT_FATAL(inspect_model_build(&inspect, &model) == 0);
    CU_ASSERT(inspect.summary == 0);                    /* the range check did not */
    CU_ASSERT_FATAL(inspect_model_build(&reference, &events) == 0);
    assert_models_equal(&model, &events);
    inspect_model_free(&model);
    inspect_model_free(&events);
    inspect_done(&inspect);
    inspect_done(&reference);
    unlink(trace_path);
}

static void test_forged_values_out_of_range_fall_back_to_the_events(void)
{
    expect_model_falls_back("UPDATE summary_connections SET client_socket = 1000000");
    expect_model_falls_back("UPDATE summary_sockets SET type = 7 WHERE number = 1");
    expect_model_falls_back("UPDATE summary_sockets SET closed = 'yes' WHERE number = 1");
    expect_model_falls_back("UPDATE summary_connections SET end = '' || zeroblob(200)");
    expect_model_falls_back("UPDATE summary_socket_errors SET call = 99");
    expect_model_falls_back("DELETE FROM summary_sockets WHERE number = 2");
}

static void test_forged_names_fall_back_to_the_events(void)
{
    make_trace();
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    CU_ASSERT_FATAL(summary_write(trace_path, message, sizeof message) == 0);
    forge("UPDATE summary_bindings SET name = 5000");
    struct inspect inspect, reference;
    inspect_open_trace(&inspect, 0);
    inspect_open_trace(&reference, 1);
    CU_ASSERT(inspect.summary == 0);
    ASSERT_U64_EQ(inspect.names.binding_count, reference.names.binding_count);
    ASSERT_U64_EQ(inspect.names.name_count, reference.names.name_count);
    inspect_done(&inspect);
    inspect_done(&reference);
    unlink(trace_path);
}

/* Applies one binding event to `names`; CU-asserts it was taken. */
static void binding(struct inspect_names *names, struct inspect_suspended *suspended,
                    uint64_t seq, uint32_t ctx, const char *kind, const char *name,
                    uint64_t field_cid)
{
    struct inspect_binding_event event = { .seq = seq, .ctx = ctx, .kind = kind,
                                           .name = name, .field_cid = field_cid };
    CU_ASSERT_EQUAL(inspect_names_binding(names, suspended, &event), 0);
}

/* A resumed VM is named by the last suspend of its old CID, even after another VM took that
 * CID, and with more VMs suspended at once than the 4096 a fixed table once held (each
 * suspend used to scan every binding read so far). */
static void test_resumes_name_the_suspended_vm_at_any_count(void)
{
    enum { VMS = 6000 };
    struct inspect_names names = { 0 };
    struct inspect_suspended *suspended = calloc(1, sizeof *suspended);
    CU_ASSERT_PTR_NOT_NULL_FATAL(suspended);
    uint64_t seq = 1;
    char name[32];
    for (uint32_t vm = 0; vm < VMS; vm++) {
        snprintf(name, sizeof name, "g%u", vm);
        binding(&names, suspended, seq++, 100 + vm, "vm_create", name, 0);
    }
    for (uint32_t vm = 0; vm < VMS; vm++)
        binding(&names, suspended, seq++, 100 + vm, "ctx_suspend", "", 0);
    binding(&names, suspended, seq++, 100, "vm_create", "intruder", 0);   /* takes CID 100 */
    for (uint32_t vm = 0; vm < VMS; vm++)
        binding(&names, suspended, seq++, 50000 + vm, "ctx_resume", "", 100 + vm);
    binding(&names, suspended, seq++, 60000, "ctx_resume", "", 100);      /* taken already */
    inspect_suspended_free(suspended);
    qsort(names.bindings, names.binding_count, sizeof(struct inspect_binding),
          inspect_bindings_compare);
    ASSERT_U64_EQ(names.binding_count, 2 * VMS + 1);
    for (uint32_t vm = 0; vm < VMS; vm += 997) {
        snprintf(name, sizeof name, "g%u", vm);
        CU_ASSERT_STRING_EQUAL(inspect_name(&names, inspect_owner(&names, 50000 + vm, seq)),
                               name);
    }
    CU_ASSERT_STRING_EQUAL(inspect_name(&names, inspect_owner(&names, 100, seq)), "intruder");
    CU_ASSERT_STRING_EQUAL(inspect_name(&names, inspect_owner(&names, 60000, seq)), "");
    inspect_names_free(&names);
}

/* The model pass's dispatch is decided by the layer and kind texts alone: what the live
 * build decides once per kind is what the SQLite rebuild decides per row. */
static void test_model_kinds_are_decided_by_layer_and_kind(void)
{
    enum call call = CALL_SOCKET;
    CU_ASSERT_EQUAL(inspect_model_kind("api", "sock_connect", &call), MODEL_KIND_SOCKET_CALL);
    CU_ASSERT_EQUAL(call, CALL_CONNECT);
    CU_ASSERT_EQUAL(inspect_model_kind("api", "sock_close", &call), MODEL_KIND_SOCKET_CALL);
    CU_ASSERT_EQUAL(call, CALL_CLOSE);
    CU_ASSERT_EQUAL(inspect_model_kind("api", "sock_sendto", &call), MODEL_KIND_SOCKET_CALL);
    CU_ASSERT_EQUAL(call, CALL_COUNT);      /* a sock_ kind that names no call */
    CU_ASSERT_EQUAL(inspect_model_kind("api", "proc_block", &call), MODEL_KIND_API_OTHER);
    CU_ASSERT_EQUAL(inspect_model_kind("api", "pkt_send", &call), MODEL_KIND_API_OTHER);
    CU_ASSERT_EQUAL(inspect_model_kind("transport", "pkt_send", &call),
                    MODEL_KIND_PACKET_SEND);
    CU_ASSERT_EQUAL(inspect_model_kind("transport", "pkt_recv", &call),
                    MODEL_KIND_PACKET_RECV);
    CU_ASSERT_EQUAL(inspect_model_kind("transport", "peer_detach", &call), MODEL_KIND_DETACH);
    CU_ASSERT_EQUAL(inspect_model_kind("transport", "qp_resumed", &call), MODEL_KIND_DETACH);
    CU_ASSERT_EQUAL(inspect_model_kind("vmci", "device_reset", &call), MODEL_KIND_DETACH);
    CU_ASSERT_EQUAL(inspect_model_kind("transport", "data_discarded", &call),
                    MODEL_KIND_DISCARDED);
    CU_ASSERT_EQUAL(inspect_model_kind("vmci", "dg_route", &call), MODEL_KIND_ROUTE);
    CU_ASSERT_EQUAL(inspect_model_kind("transport", "sock_connect", &call), MODEL_KIND_OTHER);
    CU_ASSERT_EQUAL(call, CALL_COUNT);
}

static const struct test_entry tests[] = {
    TEST_ENTRY(test_resumes_name_the_suspended_vm_at_any_count),
    TEST_ENTRY(test_model_kinds_are_decided_by_layer_and_kind),
    TEST_ENTRY(test_tables_load_back_as_the_model_from_events),
    TEST_ENTRY(test_writing_changes_no_event_and_no_meta),
    TEST_ENTRY(test_a_trace_without_digest_gets_no_tables),
    TEST_ENTRY(test_a_changed_row_is_refused_by_the_hash),
    TEST_ENTRY(test_forged_values_out_of_range_fall_back_to_the_events),
    TEST_ENTRY(test_forged_names_fall_back_to_the_events),
};

CU_ErrorCode summary_tables_suite_add(void)
{
    return test_suite_register("summary_tables", tests, sizeof tests / sizeof tests[0]);
}
