/* SPDX-License-Identifier: MIT */
/*
 * sim/cli/inspect_views.c: the views that read events one by one (summary, timeline,
 * errors, vms) and `sql`. Each query orders by seq, the engine's order, and streams its rows:
 * nothing is limited, so nothing is cut silently (summary's kind list says how many it leaves
 * out). With --format tsv|csv|json each view gives rows with fixed columns instead
 * (docs/trace-schema.md, "inspect --format json"); the text output does not change.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sim/cli/cli.h"
#include "sim/cli/inspect_int.h"
#include "sim/engine/trace.h"
#include "vmci/defs.h"
#include "vsock/core.h"

#define PACKET_ADDRESS_PORT_BITS 32u     /* pkt src/dst are cid << 32 | port (docs/sockets.md) */

/* A peer_detach is how a stream learns of a clean close: not an error by itself (bytes it
 * cost are their own data_discarded event). Every data_discarded, at any layer, is one. */
const char inspect_errors_condition[] =
    "((layer = 'api' AND (json_extract(fields, '$.result') < 0 OR kind IN ('expect_fail', "
    "'proc_error', 'callback_error', 'scenario_error', 'deadlock', 'dg_queue_full'))) "
    "OR (layer = 'transport' AND ((json_extract(fields, '$.rule') IS NOT NULL "
    "AND kind != 'peer_detach') OR json_extract(fields, '$.result') < 0)) "
    "OR (layer = 'vmci' AND (json_extract(fields, '$.result') < 0 OR kind = 'dg_drop')) "
    "OR kind = 'data_discarded')";

/* The summary tables count the whole trace: they answer the counts when they were checked
 * (summary.h) and no filter applies; with a filter the counts come from the events. */
static int counts_from_summary(const struct inspect *inspect)
{
    return inspect->summary && inspect->where[0] == '\0';
}

/* The run's extent: events, last time, first and last seq (one row). */
static const char *run_extent_query(const struct inspect *inspect)
{
    if (inspect->summary)
        return "SELECT (SELECT value FROM summary_info WHERE key = 'events'), "
               "(SELECT value FROM summary_info WHERE key = 'run_length_ns'), "
               "(SELECT value FROM summary_info WHERE key = 'seq_min'), "
               "(SELECT value FROM summary_info WHERE key = 'seq_max')";
    return "SELECT count(*), coalesce(max(time_ns), 0), coalesce(min(seq), 0), "
           "coalesce(max(seq), 0) FROM events";
}

/* The prefixes of the per-layer and per-kind counts (the conditions and orders are the
 * same on summary_kinds, which has the columns layer and kind). */
static const char *layer_counts(const struct inspect *inspect)
{
    return counts_from_summary(inspect) ? "SELECT layer, sum(events) FROM summary_kinds"
                                        : "SELECT layer, count(*) FROM events";
}

static const char *kind_counts(const struct inspect *inspect, const char *name_column)
{
    if (strcmp(name_column, "kind") == 0)
        return counts_from_summary(inspect) ? "SELECT kind, layer, sum(events) FROM "
                                              "summary_kinds"
                                            : "SELECT kind, layer, count(*) FROM events";
    return counts_from_summary(inspect) ? "SELECT layer, layer, sum(events) FROM summary_kinds"
                                        : "SELECT layer, layer, count(*) FROM events";
}

/* Makes "<prefix> WHERE 1<filters><suffix>" in a buffer the caller frees. */
static char *query_with_filters(const struct inspect *inspect, const char *prefix,
                                const char *condition, const char *suffix)
{
    size_t bytes = strlen(prefix) + strlen(condition) + strlen(inspect->where) + strlen(suffix) +
                   32;
    char *sql = malloc(bytes);
    if (sql != NULL)
        snprintf(sql, bytes, "%s WHERE %s%s %s", prefix, condition, inspect->where, suffix);
    return sql;
}

static sqlite3_stmt *prepare_filtered(const struct inspect *inspect, const char *prefix,
                                      const char *condition, const char *suffix)
{
    char *sql = query_with_filters(inspect, prefix, condition, suffix);
    if (sql == NULL) {
        inspect_fail(inspect, "out of memory");
        return NULL;
    }
    sqlite3_stmt *statement = inspect_prepare(inspect, sql);
    free(sql);
    return statement;
}

/* Prints `length` bytes of a JSON value; src/dst of packets become cid:port. */
static void print_value(FILE *stream, const char *kind, const char *key, size_t key_length,
                        const char *value, size_t length)
{
    int is_address = (strncmp(kind, "pkt_", 4) == 0 && key_length == 3 &&
                      (strncmp(key, "src", 3) == 0 || strncmp(key, "dst", 3) == 0)) ||
                     (key_length == 4 && strncmp(key, "peer", 4) == 0 &&
                      (strncmp(kind, "dgram_", 6) == 0 || strcmp(kind, "data_discarded") == 0));
    const char *digits = value[0] == '"' ? value + 1 : value;
    if (is_address && isdigit((unsigned char)digits[0])) {
        uint64_t address = strtoull(digits, NULL, 10);
        fprintf(stream, "%" PRIu64 ":%" PRIu64, address >> PACKET_ADDRESS_PORT_BITS,
                address & 0xffffffffu);
        return;
    }
    int plain = value[0] == '"' && length > 2;
    for (size_t index = 1; plain && index + 1 < length; index++)
        plain = value[index] != ' ' && value[index] != '\\' && value[index] != '=';
    if (plain)
        fwrite(value + 1, 1, length - 2, stream);
    else
        fwrite(value, 1, length, stream);
}

/* The length of the JSON string at `text` (quotes included). */
static size_t string_length(const char *text)
{
    size_t index = 1;
    for (; text[index] != '\0' && text[index] != '"'; index++) {
        if (text[index] == '\\' && text[index + 1] != '\0')
            index++;
    }
    return text[index] == '"' ? index + 1 : index;
}

/* The length of the JSON value at `text`: a string, an object or array, or a scalar. */
static size_t value_length(const char *text)
{
    if (text[0] == '"')
        return string_length(text);
    size_t index = 0;
    int depth = 0;
    for (; text[index] != '\0'; index++) {
        char c = text[index];
        if (c == '"') {
            index += string_length(text + index) - 1;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (depth == 0)
                return index;
            if (--depth == 0)
                return index + 1;
        } else if (c == ',' && depth == 0) {
            return index;
        }
    }
    return index;
}

void inspect_fields_print(FILE *stream, const char *kind, const char *fields)
{
    const char *cursor = fields[0] == '{' ? fields + 1 : fields;
    /* Each member takes at least 4 bytes ("k":1), so strlen bounds the loop. */
    for (size_t members = 0; members <= strlen(fields) && *cursor == '"'; members++) {
        const char *key = cursor + 1;
        const char *key_end = strchr(key, '"');
        if (key_end == NULL || key_end[1] != ':')
            break;
        const char *value = key_end + 2;
        size_t length = value_length(value);
        fprintf(stream, "%s%.*s=", members > 0 ? " " : "", (int)(key_end - key), key);
        print_value(stream, kind, key, (size_t)(key_end - key), value, length);
        cursor = value + length;
        if (*cursor == ',')
            cursor++;
    }
}

/* A transport event's result is an errno, except pkt_send_failed's: the VMCI send's result.
 * NULL when the event has no negative result, or a layer whose results have no names. */
static const char *result_name(const char *layer, const char *kind, sqlite3_stmt *statement,
                               int column)
{
    if (sqlite3_column_type(statement, column) != SQLITE_INTEGER)
        return NULL;
    int64_t result = sqlite3_column_int64(statement, column);
    if (result >= 0)
        return NULL;
    if (strcmp(layer, "transport") == 0 && strcmp(kind, "pkt_send_failed") == 0)
        return vmci_error_name(result);
    if (strcmp(layer, "api") == 0 || strcmp(layer, "transport") == 0)
        return vsock_errno_name((int)result);
    if (strcmp(layer, "vmci") == 0)
        return vmci_error_name(result);
    return NULL;
}

static void print_result_name(FILE *stream, const char *layer, const char *kind,
                              sqlite3_stmt *statement, int column)
{
    const char *name = result_name(layer, kind, statement, column);
    if (name != NULL)
        fprintf(stream, "  (%s)", name);
}

/* Columns: seq, time_ns, ctx, pid, layer, kind, fields, payload bytes, result, whether
 * fields is valid JSON (a hostile trace may hold anything). */
#define EVENT_COLUMNS "SELECT seq, time_ns, ctx, pid, layer, kind, fields, length(payload), " \
                      "CASE WHEN json_valid(fields) THEN json_extract(fields, '$.result') END, " \
                      "json_valid(fields) FROM events"

static const char *const event_columns[] = {
    "seq", "time_ns", "ctx", "pid", "who", "layer", "kind", "fields", "payload_bytes", "result",
    "result_name",
};

static void event_row(const struct inspect *inspect, struct inspect_table *table,
                      sqlite3_stmt *statement)
{
    uint64_t seq = inspect_u64(statement, 0);
    uint32_t ctx = (uint32_t)inspect_u64(statement, 2), pid = (uint32_t)inspect_u64(statement, 3);
    char who[INSPECT_WHO_BYTES];
    inspect_who(&inspect->names, ctx, pid, seq, who, sizeof(who));
    const char *layer = inspect_text(statement, 4), *kind = inspect_text(statement, 5);
    inspect_row_begin(table);
    inspect_value_u64(table, seq);
    inspect_value_u64(table, inspect_u64(statement, 1));
    inspect_value_u64(table, ctx);
    inspect_value_u64(table, pid);
    inspect_value_text(table, who);
    inspect_value_text(table, layer);
    inspect_value_text(table, kind);
    inspect_value_json(table, inspect_text(statement, 6), sqlite3_column_int(statement, 9));
    inspect_value_optional_u64(table, sqlite3_column_type(statement, 7) != SQLITE_NULL,
                               inspect_u64(statement, 7));
    if (sqlite3_column_type(statement, 8) == SQLITE_INTEGER)
        inspect_value_i64(table, sqlite3_column_int64(statement, 8));
    else
        inspect_value_null(table);
    inspect_value_optional_text(table, result_name(layer, kind, statement, 8));
    inspect_row_end(table);
}

/* `who` for the text views, which print one line per event: a name's newline, tab, CR or
 * other control byte is written \n, \t, \r or \xHH, as the fields escape theirs (a name
 * holding a newline broke its event's line in two). The structured formats keep it as is. */
static void who_text_escape(const char *who, char *out, size_t out_bytes)
{
    assert(who != NULL && out != NULL && out_bytes >= 1);
    size_t length = 0;
    for (const char *cursor = who; *cursor != '\0' && length + 5 < out_bytes; cursor++) {
        unsigned char c = (unsigned char)*cursor;
        if (c == '\n' || c == '\t' || c == '\r')
            length += (size_t)snprintf(out + length, out_bytes - length, "\\%c",
                                       c == '\n' ? 'n' : c == '\t' ? 't' : 'r');
        else if (c < 0x20 || c == 0x7f)
            length += (size_t)snprintf(out + length, out_bytes - length, "\\x%02x", c);
        else
            out[length++] = (char)c;
    }
    out[length] = '\0';
}

static void print_event(const struct inspect *inspect, sqlite3_stmt *statement)
{
    uint64_t seq = inspect_u64(statement, 0);
    char time_text[32], who_raw[INSPECT_WHO_BYTES], who[INSPECT_WHO_BYTES * 4], ctx_pid[48];
    inspect_time(inspect_u64(statement, 1), time_text, sizeof(time_text));
    uint32_t ctx = (uint32_t)inspect_u64(statement, 2), pid = (uint32_t)inspect_u64(statement, 3);
    snprintf(ctx_pid, sizeof(ctx_pid), "%" PRIu32 "/%" PRIu32, ctx, pid);
    inspect_who(&inspect->names, ctx, pid, seq, who_raw, sizeof(who_raw));
    who_text_escape(who_raw, who, sizeof(who));
    const char *layer = inspect_text(statement, 4), *kind = inspect_text(statement, 5);
    printf("%8" PRIu64 "  %s  %-13s %-18s %-9s %-14s ", seq, time_text, ctx_pid, who, layer,
           kind);
    inspect_fields_print(stdout, kind, inspect_text(statement, 6));
    if (sqlite3_column_type(statement, 7) != SQLITE_NULL)
        printf(" payload=%" PRIu64 "B", inspect_u64(statement, 7));
    print_result_name(stdout, layer, kind, statement, 8);
    putchar('\n');
}

static int rows_events(struct inspect *inspect, sqlite3_stmt *statement, const char *view)
{
    struct inspect_table table;
    inspect_table_begin(&table, inspect, view, event_columns,
                        sizeof event_columns / sizeof event_columns[0]);
    int rc;
    while ((rc = sqlite3_step(statement)) == SQLITE_ROW)
        event_row(inspect, &table, statement);
    inspect_table_end(&table);
    return inspect_finish(inspect, statement, rc);
}

static int print_events(struct inspect *inspect, const char *condition, const char *noun)
{
    sqlite3_stmt *statement = prepare_filtered(inspect, EVENT_COLUMNS, condition,
                                               "ORDER BY seq");
    if (statement == NULL)
        return 1;
    if (inspect->format != INSPECT_FORMAT_TEXT)
        return rows_events(inspect, statement,
                           strcmp(noun, "errors") == 0 ? "errors" : "timeline");
    printf("%8s  %-11s  %-13s %-18s %-9s %-14s %s\n", "seq", "time_s", "ctx/pid", "who",
           "layer", "kind", "fields");
    uint64_t count = 0;
    int rc;
    while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
        print_event(inspect, statement);
        count++;
    }
    int status = inspect_finish(inspect, statement, rc);
    if (status == 0)
        printf("%" PRIu64 " %s\n", count, noun);
    return status;
}

int inspect_view_timeline(struct inspect *inspect)
{
    return print_events(inspect, "1", "events");
}

int inspect_view_errors(struct inspect *inspect)
{
    /* summary_errors holds the seqs of the events that match the condition (summary.c). */
    return print_events(inspect, inspect->summary ? "seq IN (SELECT seq FROM summary_errors)"
                                                  : inspect_errors_condition, "errors");
}

/* A metadata value, or for `seed` and `product` (written when the run ends) the first
 * world_create event's field of that name, so that a partial trace (its run did not finish)
 * still names them; malformed fields count as absent. */
#define META_OR_WORLD_SQL(KEY)                                                              \
    "SELECT value AS found, 0 AS rank FROM meta WHERE key = " KEY " UNION ALL "             \
    "SELECT CASE WHEN json_valid(fields) "                                                  \
    "THEN CAST(json_extract(fields, '$.' || " KEY ") AS TEXT) END, 1 "                      \
    "FROM (SELECT fields FROM events WHERE " KEY " IN ('seed', 'product') AND "             \
    "kind = 'world_create' ORDER BY seq LIMIT 1) ORDER BY 2 LIMIT 1"

/* Prints one meta value (META_OR_WORLD_SQL), or "-" when the trace has none. */
static int print_meta(const struct inspect *inspect, const char *label, const char *key)
{
    sqlite3_stmt *statement = inspect_prepare(inspect, META_OR_WORLD_SQL("?1"));
    if (statement == NULL)
        return 1;
    sqlite3_bind_text(statement, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(statement);
    const char *value = rc == SQLITE_ROW ? inspect_text(statement, 0) : "";
    printf("%-12s %s\n", label, value[0] != '\0' ? value : "-");
    return inspect_finish(inspect, statement, rc == SQLITE_ROW ? SQLITE_DONE : rc);
}

/* The scenario arguments after `--` (meta arg.1, arg.2, ...), in order. */
static int print_arguments(const struct inspect *inspect)
{
    sqlite3_stmt *statement = inspect_prepare(inspect,
        "SELECT value FROM meta WHERE key LIKE 'arg.%' ORDER BY CAST(substr(key, 5) AS INTEGER)");
    if (statement == NULL)
        return 1;
    printf("%-12s", "arguments");
    uint64_t count = 0;
    int rc;
    while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
        printf(" '%s'", inspect_text(statement, 0));
        count++;
    }
    printf("%s\n", count == 0 ? " -" : "");
    return inspect_finish(inspect, statement, rc);
}

static int print_run(const struct inspect *inspect)
{
    sqlite3_stmt *statement = inspect_prepare(inspect, run_extent_query(inspect));
    if (statement == NULL)
        return 1;
    int rc = sqlite3_step(statement);
    if (rc == SQLITE_ROW) {
        char time_text[32];
        inspect_time(inspect_u64(statement, 1), time_text, sizeof(time_text));
        printf("%-12s %ss (time of the last stored event)\n", "run length", time_text);
        printf("%-12s %" PRIu64 " stored (seq %" PRIu64 "..%" PRIu64 ")\n", "events",
               inspect_u64(statement, 0), inspect_u64(statement, 2), inspect_u64(statement, 3));
        rc = SQLITE_DONE;
    }
    return inspect_finish(inspect, statement, rc);
}

static void print_filters(const struct inspect *inspect)
{
    const struct inspect_filter *filter = &inspect->filter;
    if (inspect->where[0] == '\0')
        return;
    char from_text[32] = "start", to_text[32] = "end";
    if (filter->has_from)
        inspect_time(filter->from_ns, from_text, sizeof(from_text));
    if (filter->has_to)
        inspect_time(filter->to_ns, to_text, sizeof(to_text));
    printf("%-12s vm %s, time %s..%s, layers up to %s (counts below are filtered)\n", "filters",
           filter->vm_name != NULL ? filter->vm_name : "any", from_text, to_text,
           filter->layer_max != 0 ? sim_layer_name((enum sim_layer)filter->layer_max) : "device");
}

/* "layers  api 45  transport 19 ..." then the INSPECT_SUMMARY_KINDS_SHOWN commonest kinds. */
static int print_counts(const struct inspect *inspect)
{
    sqlite3_stmt *statement = prepare_filtered(inspect, layer_counts(inspect), "1",
        "GROUP BY layer ORDER BY CASE layer WHEN 'api' THEN 1 WHEN 'transport' THEN 2 "
        "WHEN 'vmci' THEN 3 WHEN 'device' THEN 4 ELSE 5 END, layer");
    if (statement == NULL)
        return 1;
    printf("%-12s", "layers");
    int rc;
    while ((rc = sqlite3_step(statement)) == SQLITE_ROW)
        printf(" %s %" PRIu64 "", inspect_text(statement, 0), inspect_u64(statement, 1));
    putchar('\n');
    if (inspect_finish(inspect, statement, rc) != 0)
        return 1;
    statement = prepare_filtered(inspect, kind_counts(inspect, "kind"), "1",
                                 "GROUP BY kind, layer ORDER BY 3 DESC, 1, 2");
    if (statement == NULL)
        return 1;
    uint64_t shown = 0, hidden = 0, hidden_events = 0;
    printf("kinds (commonest first):\n");
    while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
        if (shown < INSPECT_SUMMARY_KINDS_SHOWN) {
            printf("  %10" PRIu64 "  %-9s %s\n", inspect_u64(statement, 2),
                   inspect_text(statement, 1), inspect_text(statement, 0));
            shown++;
        } else {
            hidden++;
            hidden_events += inspect_u64(statement, 2);
        }
    }
    if (hidden > 0)
        printf("  ... %" PRIu64 " more kinds with %" PRIu64 " events (not shown; "
               "`inspect FILE sql` lists them all)\n", hidden, hidden_events);
    return inspect_finish(inspect, statement, rc);
}

/* Counts events matching `condition` and the filters. */
static int count_events(const struct inspect *inspect, const char *condition, uint64_t *count)
{
    int errors = condition == inspect_errors_condition;
    const char *prefix = !counts_from_summary(inspect) ? "SELECT count(*) FROM events"
                         : errors ? "SELECT count(*) FROM summary_errors"
                                  : "SELECT coalesce(sum(events), 0) FROM summary_kinds";
    sqlite3_stmt *statement = prepare_filtered(inspect, prefix,
                                               counts_from_summary(inspect) && errors
                                                   ? "1" : condition, "");
    if (statement == NULL)
        return 1;
    int rc = sqlite3_step(statement);
    if (rc == SQLITE_ROW) {
        *count = inspect_u64(statement, 0);
        rc = SQLITE_DONE;
    }
    return inspect_finish(inspect, statement, rc);
}

static int print_totals(struct inspect *inspect)
{
    uint64_t vms = 0, hosts = 0, processes = 0, errors = 0, failures = 0;
    uint64_t sockets = 0, connections = 0;
    int status = count_events(inspect, "kind = 'vm_create'", &vms);
    status = status != 0 ? status : count_events(inspect, "kind = 'host_create'", &hosts);
    status = status != 0 ? status : count_events(inspect, "kind = 'proc_spawn'", &processes);
    status = status != 0 ? status : count_events(inspect, inspect_errors_condition, &errors);
    status = status != 0 ? status : count_events(inspect, "layer = 'api' AND kind IN "
        "('expect_fail', 'proc_error', 'callback_error', 'scenario_error', 'deadlock')",
        &failures);
    status = status != 0 ? status : inspect_model_counts(inspect, &sockets, &connections);
    if (status != 0)
        return status;
    printf("%-12s %" PRIu64 " VMs, %" PRIu64 " host, %" PRIu64 " processes, %" PRIu64
           " sockets, %" PRIu64 " stream connections\n", "endpoints", vms, hosts, processes,
           sockets, connections);
    printf("%-12s %" PRIu64 " (expect_fail, proc_error, callback_error, scenario_error, "
           "deadlock)\n",
           "failures", failures);
    printf("%-12s %" PRIu64 " (`inspect FILE errors` lists them)\n", "errors", errors);
    return 0;
}

static const char *const summary_columns[] = { "section", "name", "layer", "value" };

static void sql_value(struct inspect_table *table, sqlite3_stmt *statement, int column);

/* Rows (section, name, layer, value) from a query whose columns are name, layer, value. */
static int summary_query(struct inspect *inspect, struct inspect_table *table,
                         const char *section, sqlite3_stmt *statement)
{
    if (statement == NULL)
        return 1;
    int rc;
    while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
        inspect_row_begin(table);
        inspect_value_text(table, section);
        for (int column = 0; column < 3; column++)
            sql_value(table, statement, column);
        inspect_row_end(table);
    }
    return inspect_finish(inspect, statement, rc);
}

static void summary_number(struct inspect_table *table, const char *section, const char *name,
                           uint64_t value)
{
    inspect_row_begin(table);
    inspect_value_text(table, section);
    inspect_value_text(table, name);
    inspect_value_null(table);
    inspect_value_u64(table, value);
    inspect_row_end(table);
}

static int summary_totals(struct inspect *inspect, struct inspect_table *table)
{
    static const char *const totals[][2] = {
        { "vms", "kind = 'vm_create'" }, { "hosts", "kind = 'host_create'" },
        { "processes", "kind = 'proc_spawn'" },
        { "failures", "layer = 'api' AND kind IN ('expect_fail', 'proc_error', "
                      "'callback_error', 'scenario_error', 'deadlock')" },
        { "errors", NULL },
    };
    uint64_t count = 0, sockets = 0, connections = 0;
    for (size_t index = 0; index < sizeof totals / sizeof totals[0]; index++) {
        const char *condition = totals[index][1] != NULL ? totals[index][1]
                                                         : inspect_errors_condition;
        if (count_events(inspect, condition, &count) != 0)
            return 1;
        summary_number(table, "total", totals[index][0], count);
    }
    if (inspect_model_counts(inspect, &sockets, &connections) != 0)
        return 1;
    summary_number(table, "total", "sockets", sockets);
    summary_number(table, "total", "connections", connections);
    return 0;
}

/* The filters in force (the counts of the "total", "layer" and "kind" rows are filtered). */
static void summary_filters(const struct inspect *inspect, struct inspect_table *table)
{
    const struct inspect_filter *filter = &inspect->filter;
    const char *layer = filter->layer_max != 0
                            ? sim_layer_name((enum sim_layer)filter->layer_max) : NULL;
    const char *names[] = { "vm", "from_ns", "to_ns", "layer_max" };
    for (int index = 0; index < 4; index++) {
        inspect_row_begin(table);
        inspect_value_text(table, "filter");
        inspect_value_text(table, names[index]);
        inspect_value_null(table);
        if (index == 0)
            inspect_value_optional_text(table, filter->vm_name);
        else if (index == 1)
            inspect_value_optional_u64(table, filter->has_from, filter->from_ns);
        else if (index == 2)
            inspect_value_optional_u64(table, filter->has_to, filter->to_ns);
        else
            inspect_value_optional_text(table, layer);
        inspect_row_end(table);
    }
}

/* summary in tsv, csv or json: one row per figure, every kind listed (nothing cut). */
static int rows_summary(struct inspect *inspect)
{
    struct inspect_table table;
    inspect_table_begin(&table, inspect, "summary", summary_columns,
                        sizeof summary_columns / sizeof summary_columns[0]);
    inspect_row_begin(&table);
    inspect_value_text(&table, "meta");
    inspect_value_text(&table, "trace");
    inspect_value_null(&table);
    inspect_value_text(&table, inspect->path);
    inspect_row_end(&table);
    int status = summary_query(inspect, &table, "meta", inspect_prepare(inspect,
        "SELECT name, NULL, (SELECT found FROM (" META_OR_WORLD_SQL("name") ")) AS value "
        "FROM (SELECT 'scenario' AS name UNION ALL SELECT 'seed' UNION ALL "
        "SELECT 'simulator_version' UNION ALL SELECT 'product' UNION ALL "
        "SELECT 'trace_level' UNION ALL SELECT 'until_ns' UNION ALL SELECT 'digest') "
        "WHERE value IS NOT NULL ORDER BY name"));
    status = status != 0 ? status : summary_query(inspect, &table, "argument",
        inspect_prepare(inspect, "SELECT substr(key, 5), NULL, value FROM meta WHERE key "
                        "LIKE 'arg.%' ORDER BY CAST(substr(key, 5) AS INTEGER)"));
    status = status != 0 ? status : summary_query(inspect, &table, "run",
        inspect_prepare(inspect, inspect->summary
            ? "SELECT key, NULL, value FROM summary_info WHERE key IN ('run_length_ns', "
              "'events', 'seq_min', 'seq_max') ORDER BY CASE key WHEN 'run_length_ns' THEN 1 "
              "WHEN 'events' THEN 2 WHEN 'seq_min' THEN 3 ELSE 4 END"
            : "SELECT 'run_length_ns', NULL, coalesce(max(time_ns), 0) "
              "FROM events UNION ALL SELECT 'events', NULL, count(*) FROM events "
              "UNION ALL SELECT 'seq_min', NULL, coalesce(min(seq), 0) FROM events "
              "UNION ALL SELECT 'seq_max', NULL, coalesce(max(seq), 0) FROM events"));
    if (status == 0 && inspect->where[0] != '\0')
        summary_filters(inspect, &table);
    status = status != 0 ? status : summary_totals(inspect, &table);
    status = status != 0 ? status : summary_query(inspect, &table, "layer",
        prepare_filtered(inspect, kind_counts(inspect, "layer"), "1",
                         "GROUP BY layer ORDER BY CASE layer WHEN 'api' THEN 1 WHEN "
                         "'transport' THEN 2 WHEN 'vmci' THEN 3 WHEN 'device' THEN 4 "
                         "ELSE 5 END, layer"));
    status = status != 0 ? status : summary_query(inspect, &table, "kind",
        prepare_filtered(inspect, kind_counts(inspect, "kind"), "1",
                         "GROUP BY kind, layer ORDER BY 3 DESC, 1, 2"));
    if (status == 0)
        inspect_table_end(&table);
    return status;
}

int inspect_view_summary(struct inspect *inspect)
{
    if (inspect->format != INSPECT_FORMAT_TEXT)
        return rows_summary(inspect);
    static const char *const meta[][2] = {
        { "trace", NULL }, { "scenario", "scenario" }, { "seed", "seed" },
        { "simulator", "simulator_version" }, { "product", "product" },
        { "trace level", "trace_level" }, { "until_ns", "until_ns" }, { "digest", "digest" },
        { "encoding", "digest_encoding" },
    };
    printf("%-12s %s\n", meta[0][0], inspect->path);
    int status = 0;
    for (size_t index = 1; status == 0 && index < sizeof(meta) / sizeof(meta[0]); index++)
        status = print_meta(inspect, meta[index][0], meta[index][1]);
    status = status != 0 ? status : print_arguments(inspect);
    status = status != 0 ? status : print_run(inspect);
    if (status == 0)
        print_filters(inspect);
    status = status != 0 ? status : print_totals(inspect);
    return status != 0 ? status : print_counts(inspect);
}

/* The state a lifecycle event leaves a VM in (docs/lifecycle.md). */
static const char *state_after(const char *kind, const char *state)
{
    static const char *const states[][2] = {
        { "vm_create", "powered_on" }, { "host_create", "running" },
        { "vm_suspend", "suspended" }, { "vm_resume", "powered_on" },
        { "vm_vmotion", "powered_on" }, { "vm_freeze", "frozen" }, { "vm_thaw", "powered_on" },
        { "vm_power_off", "powered_off" }, { "vm_power_on", "powered_on" },
    };
    for (size_t index = 0; index < sizeof(states) / sizeof(states[0]); index++) {
        if (strcmp(kind, states[index][0]) == 0)
            return states[index][1];
    }
    return state;
}

/* Per endpoint name: its CID and state as the lifecycle events go. */
struct vm_track {
    uint32_t *cid;
    const char **state;
    uint32_t capacity;
};

static const char *const vm_columns[] = {
    "time_ns", "seq", "name", "event", "cid", "previous_cid", "hw_version", "state",
};

/* The row of a lifecycle event in tsv, csv or json (the track already updated). */
static void lifecycle_row(struct inspect_table *table, sqlite3_stmt *statement,
                          uint32_t previous_cid, const char *state)
{
    uint32_t ctx = (uint32_t)inspect_u64(statement, 2);
    const char *kind = inspect_text(statement, 3);
    inspect_row_begin(table);
    inspect_value_u64(table, inspect_u64(statement, 1));
    inspect_value_u64(table, inspect_u64(statement, 0));
    inspect_value_text(table, inspect_text(statement, 4));
    inspect_value_text(table, kind);
    inspect_value_u64(table, ctx);
    inspect_value_optional_u64(table, previous_cid != 0 && previous_cid != ctx, previous_cid);
    inspect_value_optional_u64(table, strcmp(kind, "vm_create") == 0 &&
                                          sqlite3_column_type(statement, 5) == SQLITE_INTEGER,
                               inspect_u64(statement, 5));
    inspect_value_optional_text(table, state);
    inspect_row_end(table);
}

static void print_lifecycle_event(struct inspect *inspect, struct vm_track *track,
                                  sqlite3_stmt *statement, struct inspect_table *table)
{
    char time_text[32];
    inspect_time(inspect_u64(statement, 1), time_text, sizeof(time_text));
    uint32_t ctx = (uint32_t)inspect_u64(statement, 2);
    const char *kind = inspect_text(statement, 3), *name = inspect_text(statement, 4);
    uint32_t index = inspect_name_intern(&inspect->names, name);
    if (index == 0 || index >= track->capacity)
        index = 0;                                  /* unknown name: no CID history */
    if (table != NULL) {
        uint32_t previous_cid = index != 0 ? track->cid[index] : 0;
        if (index != 0) {
            track->cid[index] = ctx;
            track->state[index] = state_after(kind, track->state[index]);
        }
        lifecycle_row(table, statement, previous_cid, index != 0 ? track->state[index] : NULL);
        return;
    }
    printf("%s  %8" PRIu64 "  %-16s %-14s cid %" PRIu32, time_text, inspect_u64(statement, 0),
           name, kind, ctx);
    if (index != 0 && track->cid[index] != 0 && track->cid[index] != ctx)
        printf(" (was %" PRIu32 ")", track->cid[index]);
    if (strcmp(kind, "vm_create") == 0)
        printf(" hw_version %s", inspect_text(statement, 5));
    if (index != 0) {
        track->cid[index] = ctx;
        track->state[index] = state_after(kind, track->state[index]);
        printf(" -> %s", track->state[index]);
    }
    putchar('\n');
}

int inspect_view_vms(struct inspect *inspect)
{
    struct vm_track track = { .capacity = INSPECT_NAMES_MAX };
    track.cid = calloc(track.capacity, sizeof(*track.cid));
    track.state = calloc(track.capacity, sizeof(*track.state));
    sqlite3_stmt *statement = prepare_filtered(inspect,
        "SELECT seq, time_ns, ctx, kind, coalesce(json_extract(fields, '$.name'), "
        "json_extract(fields, '$.vm'), ''), json_extract(fields, '$.hw_version') FROM events",
        "layer = 'api' AND (kind IN ('host_create', 'vm_create') OR kind LIKE 'vm\\_%' "
        "ESCAPE '\\')", "ORDER BY seq");
    if (statement == NULL || track.cid == NULL || track.state == NULL) {
        free(track.cid);
        free(track.state);
        sqlite3_finalize(statement);
        return statement == NULL ? 1 : inspect_fail(inspect, "out of memory");
    }
    struct inspect_table table;
    struct inspect_table *rows = inspect->format != INSPECT_FORMAT_TEXT ? &table : NULL;
    if (rows != NULL)
        inspect_table_begin(rows, inspect, "vms", vm_columns,
                            sizeof vm_columns / sizeof vm_columns[0]);
    else
        printf("%-11s  %8s  %-16s %-14s %s\n", "time_s", "seq", "name", "event",
               "cid -> state");
    uint64_t count = 0;
    int rc;
    while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
        print_lifecycle_event(inspect, &track, statement, rows);
        count++;
    }
    if (rows != NULL)
        inspect_table_end(rows);
    int status = inspect_finish(inspect, statement, rc);
    if (status == 0 && rows == NULL)
        printf("%" PRIu64 " lifecycle events\n", count);
    free(track.cid);
    free(track.state);
    return status;
}

/* A query is accepted when it is one statement that starts with SELECT or WITH and that
 * SQLite says does not write (a WITH may end in DELETE). */
static int starts_with_word(const char *text, const char *word)
{
    size_t length = strlen(word);
    return strncasecmp(text, word, length) == 0 && !isalnum((unsigned char)text[length]) &&
           text[length] != '_';
}

/* The query's first word: after blanks and SQL comments ('--' to the end of the line,
 * '/' '*' to '*' '/'), which a query file may begin with. An unclosed comment leaves nothing,
 * so the query is refused. Each step moves forward, so the loop ends within the text. */
static const char *first_word(const char *text)
{
    for (;;) {
        while (isspace((unsigned char)*text))
            text++;
        if (text[0] == '-' && text[1] == '-') {
            const char *line_end = strchr(text, '\n');
            text = line_end != NULL ? line_end + 1 : text + strlen(text);
        } else if (text[0] == '/' && text[1] == '*') {
            const char *comment_end = strstr(text + 2, "*/");
            text = comment_end != NULL ? comment_end + 2 : text + strlen(text);
        } else {
            return text;
        }
    }
}

static void print_sql_value(sqlite3_stmt *statement, int column)
{
    int type = sqlite3_column_type(statement, column);
    if (type == SQLITE_NULL) {
        fputs("\\N", stdout);
        return;
    }
    if (type == SQLITE_BLOB) {
        const unsigned char *bytes = sqlite3_column_blob(statement, column);
        int length = sqlite3_column_bytes(statement, column);
        fputs("x'", stdout);
        for (int index = 0; index < length; index++)
            printf("%02x", bytes[index]);
        putchar('\'');
        return;
    }
    const unsigned char *text = sqlite3_column_text(statement, column);
    int length = sqlite3_column_bytes(statement, column);
    for (int index = 0; index < length; index++) {
        unsigned char c = text[index];
        if (c == '\t' || c == '\n' || c == '\r' || c == '\\')
            printf("\\%c", c == '\t' ? 't' : c == '\n' ? 'n' : c == '\r' ? 'r' : '\\');
        else
            putchar(c);
    }
}

/* A result value as its SQLite type says: NULL, integer, real, text, or a blob as
 * "x'<hex>'" text (the text view's spelling). */
static void sql_value(struct inspect_table *table, sqlite3_stmt *statement, int column)
{
    switch (sqlite3_column_type(statement, column)) {
    case SQLITE_NULL:
        inspect_value_null(table);
        return;
    case SQLITE_INTEGER:
        inspect_value_i64(table, sqlite3_column_int64(statement, column));
        return;
    case SQLITE_FLOAT:
        inspect_value_real(table, sqlite3_column_double(statement, column));
        return;
    case SQLITE_BLOB: {
        const unsigned char *bytes = sqlite3_column_blob(statement, column);
        size_t length = (size_t)sqlite3_column_bytes(statement, column);
        char *hex = malloc(2 * length + 4);
        if (hex == NULL) {
            inspect_value_null(table);
            return;
        }
        hex[0] = 'x';
        hex[1] = '\'';
        for (size_t index = 0; index < length; index++)
            snprintf(hex + 2 + 2 * index, 3, "%02x", bytes[index]);
        snprintf(hex + 2 + 2 * length, 2, "'");
        inspect_value_text(table, hex);
        free(hex);
        return;
    }
    default:
        inspect_value_text_bytes(table, (const char *)sqlite3_column_text(statement, column),
                                 (size_t)sqlite3_column_bytes(statement, column));
    }
}

/* inspect_finish, unless the query asked for the date or time of now: then the row that
 * holds it was not printed and the query fails, naming why (inspect_sql_guard.c). */
static int sql_finish(struct inspect *inspect, sqlite3_stmt *statement, int step_rc)
{
    if (!inspect_sql_guard_clock_read())
        return inspect_finish(inspect, statement, step_rc);
    sqlite3_finalize(statement);
    return inspect_fail(inspect, "sql: the query asks for the date or time of now ('now', or "
                        "a date and time function without a time value), which the trace does "
                        "not hold: the output would change from one reading to the next (give "
                        "a time, e.g. datetime(time_ns / 1000000000, 'unixepoch'))");
}

/* The columns of a query are its own: their names come from SQLite (a name used twice stays
 * twice in tsv/csv; in JSON the later value wins, as JSON parsers do). */
static int rows_sql(struct inspect *inspect, sqlite3_stmt *statement)
{
    int count = sqlite3_column_count(statement);
    if (count <= 0)
        return inspect_finish(inspect, statement, SQLITE_DONE);
    const char **columns = calloc((size_t)count, sizeof *columns);
    if (columns == NULL) {
        sqlite3_finalize(statement);
        return inspect_fail(inspect, "out of memory");
    }
    for (int column = 0; column < count; column++) {
        const char *name = sqlite3_column_name(statement, column);
        columns[column] = name != NULL ? name : "";
    }
    struct inspect_table table;
    inspect_table_begin(&table, inspect, "sql", columns, (uint32_t)count);
    int rc;
    while ((rc = sqlite3_step(statement)) == SQLITE_ROW && !inspect_sql_guard_clock_read()) {
        inspect_row_begin(&table);
        for (int column = 0; column < count; column++)
            sql_value(&table, statement, column);
        inspect_row_end(&table);
    }
    inspect_table_end(&table);
    free(columns);
    return sql_finish(inspect, statement, rc);
}

static int check_query(struct inspect *inspect, const char *query, sqlite3_stmt **statement)
{
    struct inspect_sql_guard guard;
    inspect_sql_guard_begin(&guard, inspect->db);
    const char *start = first_word(query);
    if (!starts_with_word(start, "SELECT") && !starts_with_word(start, "WITH"))
        return cli_usage_error("inspect sql: only a SELECT or WITH query is run, not '%s'", query);
    const char *tail = NULL;
    if (sqlite3_prepare_v2(inspect->db, query, -1, statement, &tail) != SQLITE_OK) {
        if (guard.refused != NULL)
            return cli_usage_error("inspect sql: %s() is refused: its value does not come "
                                   "from the trace, so the output would change from one "
                                   "reading to the next", guard.refused);
        return cli_usage_error("inspect sql: %s", sqlite3_errmsg(inspect->db));
    }
    for (size_t steps = 0; tail != NULL && *tail != '\0' && steps < strlen(query); steps++) {
        if (!isspace((unsigned char)*tail) && *tail != ';')
            return cli_usage_error("inspect sql: one statement only; extra text '%s'", tail);
        tail++;
    }
    if (*statement == NULL || !sqlite3_stmt_readonly(*statement))
        return cli_usage_error("inspect sql: the query must only read: '%s'", query);
    return 0;
}

/* sqlite3_progress_handler, every INSPECT_SQL_STEPS_SLICE steps: non-zero interrupts the
 * query (SQLITE_INTERRUPT, which inspect_finish reports naming the bound). */
static int sql_steps_tick(void *state)
{
    struct inspect *inspect = state;
    inspect->sql_slices++;
    return inspect->sql_slices > inspect_sql_steps_max(inspect) / INSPECT_SQL_STEPS_SLICE;
}

static int view_sql(struct inspect *inspect, const char *query);

int inspect_view_sql(struct inspect *inspect, const char *query)
{
    inspect->sql_slices = 0;
    sqlite3_progress_handler(inspect->db, INSPECT_SQL_STEPS_SLICE, sql_steps_tick, inspect);
    int status = view_sql(inspect, query);
    sqlite3_progress_handler(inspect->db, 0, NULL, NULL);
    return status;
}

static int view_sql(struct inspect *inspect, const char *query)
{
    if (sqlite3_exec(inspect->db, "PRAGMA query_only = 1", NULL, NULL, NULL) != SQLITE_OK)
        return inspect_fail(inspect, sqlite3_errmsg(inspect->db));
    sqlite3_stmt *statement = NULL;
    int status = check_query(inspect, query, &statement);
    if (status != 0) {
        sqlite3_finalize(statement);
        return status;
    }
    if (inspect->format != INSPECT_FORMAT_TEXT)
        return rows_sql(inspect, statement);
    int columns = sqlite3_column_count(statement);
    for (int column = 0; column < columns; column++)
        printf("%s%s", column > 0 ? "\t" : "", sqlite3_column_name(statement, column));
    putchar('\n');
    int rc;
    while ((rc = sqlite3_step(statement)) == SQLITE_ROW && !inspect_sql_guard_clock_read()) {
        for (int column = 0; column < columns; column++) {
            if (column > 0)
                putchar('\t');
            print_sql_value(statement, column);
        }
        putchar('\n');
    }
    return sql_finish(inspect, statement, rc);
}
