/* SPDX-License-Identifier: MIT */
/*
 * sim/cli/inspect.c: `vmcisim inspect FILE.db [VIEW] [filters]` (docs/cli.md, "inspect").
 *
 * Parses the command line, opens the trace read-only, checks that it is a vmcisim trace of
 * the schema this binary reads (docs/trace-schema.md), and runs one view in the format
 * --format asks (text by default; tsv, csv and json through inspect_format.c). Exit status: 0 the
 * view was printed, 1 the file is missing, not a trace, corrupt, or a query failed while
 * running, 2 usage error. Nothing here writes to the database: it is opened with
 * SQLITE_OPEN_READONLY, and the `sql` view also sets `PRAGMA query_only` and reads nothing
 * but the trace (no random(), no clock, UTC: inspect_sql_guard.c). The summary
 * tables a finished run added answer the views that can use them (summary.h) unless
 * --recompute asks for everything from the events.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sim/cli/cli.h"
#include "sim/cli/inspect_int.h"
#include "sim/cli/option_once.h"
#include "sim/cli/summary.h"
#include "sim/engine/duration.h"
#include "sim/engine/trace.h"
#include "sim/trace/reader.h"

enum inspect_view {
    VIEW_SUMMARY, VIEW_TIMELINE, VIEW_CONNECTIONS, VIEW_SOCKETS, VIEW_VMS, VIEW_ERRORS, VIEW_SQL,
    VIEW_STATS, VIEW_FOLLOW,
};

static const char *const view_names[] = {
    "summary", "timeline", "connections", "sockets", "vms", "errors", "sql", "stats",
    "follow",
};

struct inspect_arguments {
    const char *path;
    enum inspect_view view;
    const char *query;
    const char *follow_number;      /* follow N [client|server] */
    const char *follow_side;        /* NULL: both */
    struct inspect_filter filter;
    enum inspect_format format;
    int recompute;              /* --recompute: ignore the summary tables */
    uint64_t sql_steps_max;     /* --sql-steps N (0: not given) */
};

int inspect_fail(const struct inspect *inspect, const char *message)
{
    fprintf(stderr, "vmcisim %s: %s: %s\n", inspect->command != NULL ? inspect->command
                                                                     : "inspect",
            inspect->path, message);
    return 1;
}

sqlite3_stmt *inspect_prepare(const struct inspect *inspect, const char *sql)
{
    sqlite3_stmt *statement = NULL;
    if (sqlite3_prepare_v2(inspect->db, sql, -1, &statement, NULL) != SQLITE_OK) {
        inspect_fail(inspect, sqlite3_errmsg(inspect->db));
        sqlite3_finalize(statement);
        return NULL;
    }
    return statement;
}

uint64_t inspect_sql_steps_max(const struct inspect *inspect)
{
    return inspect->sql_steps_max != 0 ? inspect->sql_steps_max : INSPECT_SQL_STEPS_MAX_DEFAULT;
}

int inspect_finish(const struct inspect *inspect, sqlite3_stmt *statement, int step_rc)
{
    int status = 0;
    if (step_rc == SQLITE_INTERRUPT &&
        inspect->sql_slices > inspect_sql_steps_max(inspect) / INSPECT_SQL_STEPS_SLICE) {
        char message[200];
        snprintf(message, sizeof(message), "the query ran more than %" PRIu64 " SQLite steps "
                 "(INSPECT_SQL_STEPS_MAX_DEFAULT %llu; --sql-steps N sets the bound) and was "
                 "stopped", inspect_sql_steps_max(inspect), INSPECT_SQL_STEPS_MAX_DEFAULT);
        status = inspect_fail(inspect, message);
    } else if (step_rc != SQLITE_DONE) {
        status = inspect_fail(inspect, sqlite3_errmsg(inspect->db));
    }
    sqlite3_finalize(statement);
    return status;
}

const char *inspect_text(sqlite3_stmt *statement, int column)
{
    const unsigned char *text = sqlite3_column_text(statement, column);
    return text != NULL ? (const char *)text : "";
}

uint64_t inspect_u64(sqlite3_stmt *statement, int column)
{
    if (sqlite3_column_type(statement, column) == SQLITE_INTEGER)
        return (uint64_t)sqlite3_column_int64(statement, column);
    return strtoull(inspect_text(statement, column), NULL, 10);
}

void inspect_time(uint64_t time_ns, char *buffer, size_t buffer_bytes)
{
    sim_time_format(time_ns, buffer, buffer_bytes);
}

static int parse_view(const char *text, enum inspect_view *view)
{
    for (size_t index = 0; index < sizeof(view_names) / sizeof(view_names[0]); index++) {
        if (strcmp(text, view_names[index]) == 0) {
            *view = (enum inspect_view)index;
            return 0;
        }
    }
    return cli_usage_error("inspect: unknown view '%s' (summary, timeline, connections, "
                           "sockets, vms, errors, stats, sql, follow)", text);
}

static int parse_filter(int option, const char *value, struct inspect_filter *filter)
{
    switch (option) {
    case 'm':
        filter->vm_name = value;
        return 0;
    case 'f': {
        filter->has_from = 1;
        int code = sim_duration_parse(value, &filter->from_ns);
        if (code < 0)
            return cli_duration_error("inspect --from", value, code, "250ms, 3s");
        return 0;
    }
    case 't': {
        filter->has_to = 1;
        int code = sim_duration_parse(value, &filter->to_ns);
        if (code < 0)
            return cli_duration_error("inspect --to", value, code, "250ms, 3s");
        return 0;
    }
    case 'l':
        filter->layer_max = sim_layer_parse(value);
        if (filter->layer_max <= (int)SIM_LAYER_OFF)
            return cli_usage_error("inspect --layer: '%s' is not one of api, transport, vmci, "
                                   "device", value);
        return 0;
    default:
        return cli_usage_error("%s", "inspect: unknown or incomplete option");
    }
}

/* The positional arguments: FILE [VIEW [QUERY]]. */
static int parse_positionals(int count, char **values, struct inspect_arguments *arguments)
{
    if (count < 1)
        return cli_usage_error("%s", "inspect: missing FILE.db");
    arguments->path = values[0];
    if (count >= 2 && parse_view(values[1], &arguments->view) != 0)
        return 2;
    if (arguments->view == VIEW_SQL && count < 3)
        return cli_usage_error("%s", "inspect sql: missing the query (\"SELECT ...\")");
    if (arguments->view == VIEW_FOLLOW)
        return inspect_follow_arguments(count - 2, values + 2, &arguments->follow_number,
                                        &arguments->follow_side);
    int expected = arguments->view == VIEW_SQL ? 3 : 2;
    if (count > expected)
        return cli_usage_error("inspect: unexpected argument '%s'", values[expected]);
    return 0;
}

/* Rejects filters that a view cannot honour instead of ignoring them silently. */
static int check_filters(const struct inspect_arguments *arguments)
{
    const struct inspect_filter *filter = &arguments->filter;
    if (filter->has_from && filter->has_to && filter->from_ns > filter->to_ns)
        return cli_usage_error("%s", "inspect: --from is later than --to");
    int any = filter->vm_name != NULL || filter->has_from || filter->has_to ||
              filter->layer_max != 0;
    if (arguments->view != VIEW_SQL && arguments->sql_steps_max != 0)
        return cli_usage_error("%s", "inspect: --sql-steps applies to sql only");
    if (arguments->view == VIEW_SQL && any)
        return cli_usage_error("%s", "inspect sql: filters do not apply; write them in the query");
    if (arguments->view == VIEW_FOLLOW && any)
        return cli_usage_error("%s", "inspect follow: filters do not apply (one connection)");
    if (arguments->view != VIEW_FOLLOW && (arguments->format == INSPECT_FORMAT_HEX ||
                                           arguments->format == INSPECT_FORMAT_RAW))
        return cli_usage_error("%s", "inspect: --format hex and raw apply to follow only");
    int layered = arguments->view == VIEW_CONNECTIONS || arguments->view == VIEW_SOCKETS ||
                  arguments->view == VIEW_VMS || arguments->view == VIEW_STATS;
    if (layered && filter->layer_max != 0)
        return cli_usage_error("inspect %s: --layer applies to summary, timeline and errors",
                               view_names[arguments->view]);
    return 0;
}

/* --sql-steps N: a decimal count from 1 to 2^63-1; 0 or -1 (a usage error). */
static int parse_sql_steps(const char *text, uint64_t *steps_max)
{
    if (text[0] < '0' || text[0] > '9')
        return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0' || value == 0 || value > (unsigned long long)INT64_MAX)
        return -1;
    *steps_max = value;
    return 0;
}

#define INSPECT_POSITIONALS_MAX 4u   /* FILE VIEW QUERY, or FILE follow N SIDE */

/* Returns -1 for --help, 0 on success, 2 on a usage error (reported). */
/* One option of inspect's own (--recompute, --sql-steps, --format) or a filter, into
 * `arguments`. 0, or 2 after the usage error is reported. */
static int option_apply(int option, const char *value, struct inspect_arguments *arguments)
{
    if (option == 'R') {
        arguments->recompute = 1;
        return 0;
    }
    if (option == 'S') {
        if (parse_sql_steps(value, &arguments->sql_steps_max) != 0)
            return cli_usage_error("inspect --sql-steps: '%s' is not a count from 1 to "
                                   "2^63-1", value);
        return 0;
    }
    if (option == 'F') {
        if (inspect_format_parse(value, &arguments->format) != 0)
            return cli_usage_error("inspect --format: '%s' is not text, tsv, csv or json "
                                   "(follow: also hex, raw)", value);
        return 0;
    }
    return parse_filter(option, value, &arguments->filter) != 0 ? 2 : 0;
}

static int parse_arguments(int argc, char **argv, struct inspect_arguments *arguments)
{
    static const struct option long_options[] = {
        { "vm", required_argument, NULL, 'm' },
        { "from", required_argument, NULL, 'f' },
        { "to", required_argument, NULL, 't' },
        { "layer", required_argument, NULL, 'l' },
        { "format", required_argument, NULL, 'F' },
        { "recompute", no_argument, NULL, 'R' },
        { "sql-steps", required_argument, NULL, 'S' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct option_once seen = { .values = { NULL } };
    char repeated[OPTION_ONCE_MESSAGE_BYTES];
    char *positionals[INSPECT_POSITIONALS_MAX];
    int positional_count = 0;
    optind = 1;
    opterr = 0;     /* cli_usage_error says what is wrong */
    /* "+" stops at the first positional; it is collected and parsing goes on, so options may
     * come after FILE and VIEW while a query is never taken for options. */
    for (int steps = 0; steps < argc && optind < argc; steps++) {
        if (strcmp(argv[optind], "--") == 0) {
            /* The end of the options: what follows is positional even when it begins with
             * '-' (a query that begins with an SQL comment, `follow -- -1`). */
            for (optind++; optind < argc; optind++) {
                if (positional_count == (int)INSPECT_POSITIONALS_MAX)
                    return cli_usage_error("inspect: unexpected argument '%s'", argv[optind]);
                positionals[positional_count++] = argv[optind];
            }
            break;
        }
        int option = getopt_long(argc, argv, "+h", long_options, NULL);
        if (option == -1) {
            if (optind >= argc)
                break;
            if (positional_count == (int)INSPECT_POSITIONALS_MAX)
                return cli_usage_error("inspect: unexpected argument '%s'", argv[optind]);
            positionals[positional_count++] = argv[optind++];
            continue;
        }
        if (option == 'h')
            return cli_help_alone(argc, argv, argv[optind - 1], cli_usage);
        if (option == '?') {      /* named: `follow -1` reads as an option, not a number */
            char letter[3];
            return cli_usage_error("inspect: unknown option or missing value: '%s'",
                                   cli_refused_option(argv, letter));
        }
        if (option_once_note(&seen, long_options, "+h", option, optarg, repeated) < 0)
            return cli_usage_error("inspect: %s", repeated);
        if (option_apply(option, optarg, arguments) != 0)
            return 2;
    }
    if (parse_positionals(positional_count, positionals, arguments) != 0)
        return 2;
    if (arguments->view == VIEW_SQL)
        arguments->query = positionals[2];
    return check_filters(arguments);
}

/* Checks that the file is a trace this binary reads (the wording replay and export share:
 * sim_trace_check), makes its indexes on first use (docs/trace-schema.md) and opens it
 * read-only, with no -wal/-shm files beside a closed trace (sim/trace/reader.h); 0 or 1.
 * A trace that has its indexes is opened once: the check's connection is the one read. */
static int open_trace(struct inspect *inspect)
{
    (void)sim_trace_indexes_ensure_open(inspect->path, &inspect->db);
    if (inspect->db != NULL)
        return 0;
    char message[SIM_ERROR_MESSAGE_BYTES_MAX];
    if (sim_trace_check(inspect->path, message) != SIM_TRACE_KIND_TRACE) {
        fprintf(stderr, "vmcisim inspect: %s\n", message);
        return 1;
    }
    if (sim_trace_open_database(inspect->path, &inspect->db) != SQLITE_OK)
        return inspect_fail(inspect, inspect->db != NULL ? sqlite3_errmsg(inspect->db)
                                                         : "cannot open");
    return 0;
}

int inspect_open(struct inspect *inspect)
{
    int status = open_trace(inspect);
    if (status == 0)
        status = inspect_names_load(inspect);
    if (status == 0)
        status = inspect_where_build(inspect);
    return status;
}

void inspect_close(struct inspect *inspect)
{
    inspect_names_free(&inspect->names);
    free(inspect->where);
    inspect->where = NULL;
    sqlite3_close(inspect->db);
    inspect->db = NULL;
}

static int run_view(struct inspect *inspect, const struct inspect_arguments *arguments)
{
    switch (arguments->view) {
    case VIEW_SUMMARY: return inspect_view_summary(inspect);
    case VIEW_TIMELINE: return inspect_view_timeline(inspect);
    case VIEW_CONNECTIONS: return inspect_view_connections(inspect);
    case VIEW_SOCKETS: return inspect_view_sockets(inspect);
    case VIEW_VMS: return inspect_view_vms(inspect);
    case VIEW_ERRORS: return inspect_view_errors(inspect);
    case VIEW_SQL: return inspect_view_sql(inspect, arguments->query);
    case VIEW_STATS: return inspect_view_stats(inspect);
    case VIEW_FOLLOW:
        return inspect_view_follow(inspect, arguments->follow_number, arguments->follow_side);
    }
    return 2;
}

/* The views the summary tables answer; timeline and vms list events one by one anyway,
 * and sql reads what its query names. */
static int uses_summary_tables(enum inspect_view view)
{
    return view == VIEW_SUMMARY || view == VIEW_CONNECTIONS || view == VIEW_SOCKETS ||
           view == VIEW_STATS || view == VIEW_ERRORS;
}

int cli_inspect(int argc, char **argv)
{
    struct inspect_arguments arguments = { .view = VIEW_SUMMARY };
    int rc = parse_arguments(argc, argv, &arguments);
    if (rc < 0) {
        cli_usage(stdout);
        return 0;
    }
    if (rc != 0)
        return rc;
    struct inspect inspect = { .path = arguments.path, .filter = arguments.filter,
                               .format = arguments.format,
                               .sql_steps_max = arguments.sql_steps_max };
    /* Before the trace is opened: its connection takes the default VFS at open. */
    if (arguments.view == VIEW_SQL && inspect_sql_guard_install() != 0) {
        fprintf(stderr, "vmcisim inspect: sql: cannot guard the query from the clock\n");
        return 1;
    }
    int status = open_trace(&inspect);
    if (status == 0 && uses_summary_tables(arguments.view) && !arguments.recompute)
        summary_probe(&inspect);        /* the summary tables answer when they pass */
    if (status == 0 && arguments.view != VIEW_SQL)
        status = inspect_names_load(&inspect);
    if (status == 0 && arguments.view != VIEW_SQL)
        status = inspect_where_build(&inspect);
    if (status == 0)
        status = run_view(&inspect, &arguments);
    if (fflush(stdout) != 0 && status == 0)
        status = inspect_fail(&inspect, "cannot write the output");
    inspect_names_free(&inspect.names);
    free(inspect.where);
    sqlite3_close(inspect.db);
    return status;
}
