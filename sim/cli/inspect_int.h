/* SPDX-License-Identifier: MIT */
/*
 * sim/cli/inspect_int.h: what the files of `vmcisim inspect` share (inspect.c parses the
 * command line and opens the trace; inspect_names.c maps CIDs and pids to names;
 * inspect_views.c prints the event views; inspect_model.c rebuilds sockets and connections;
 * inspect_format.c writes rows as tsv, csv or json; inspect_rows.c and inspect_stats.c
 * give the rebuilt tables in those formats and the stats view).
 *
 * Every view reads the trace in `seq` order and keeps its tables in arrays in order of first
 * appearance, so the output depends only on the file's content.
 */
#ifndef SIM_CLI_INSPECT_INT_H
#define SIM_CLI_INSPECT_INT_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define INSPECT_SCHEMA_VERSION      "1"      /* the trace schema this reader understands */
#define INSPECT_NAME_BYTES          64u      /* SIMLUA_NAME_BYTES_MAX, SIM_PROCESS_NAME_BYTES_MAX */
#define INSPECT_WHO_BYTES           (2u * INSPECT_NAME_BYTES + 16u)
#define INSPECT_BINDINGS_MAX        (1u << 20)  /* name <-> CID records (create, resume, ...) */
#define INSPECT_NAMES_MAX           (1u << 16)  /* endpoint names (SIM_VMS_MAX + host) */
/* Slots of the names' hash index: a power of two, kept above twice the names it holds, so a
 * lookup probes a few slots whatever the trace. */
#define INSPECT_NAME_SLOTS_MAX      (4u * INSPECT_NAMES_MAX)
#define INSPECT_PROCESSES_MAX       (1u << 22)  /* highest pid a trace may name */
#define INSPECT_SOCKETS_MAX         (1u << 22)  /* sockets rebuilt by `connections`/`sockets` */
#define INSPECT_CONNECTIONS_MAX     (1u << 22)
#define INSPECT_SUMMARY_KINDS_SHOWN 25u      /* kinds listed by `summary`; the rest are counted */
/* SQLite virtual-machine instructions one `inspect sql` query may run (--sql-steps raises or
 * lowers it): a recursive query that never ends stops with an error naming the bound. 10^10 is
 * a minute or two of SQLite work (10^8 steps took 1.5 s of CPU on the project's machine), room
 * for several passes over the largest trace (SIM_TRACE_EVENTS_MAX_DEFAULT events). Counted in slices of INSPECT_SQL_STEPS_SLICE
 * (sqlite3_progress_handler), so a query stops within one slice past the bound. */
#define INSPECT_SQL_STEPS_MAX_DEFAULT 10000000000ull
#define INSPECT_SQL_STEPS_SLICE       1000
#define INSPECT_WHERE_BYTES_MAX     (1u << 20)  /* the SQL text of the filters */

#define INSPECT_JSON_VERSION        "1"      /* "version" of `--format json` (trace-schema.md) */

/* `--format`: text is the aligned output for people; the others are for scripts. */
enum inspect_format {
    INSPECT_FORMAT_TEXT, INSPECT_FORMAT_TSV, INSPECT_FORMAT_CSV, INSPECT_FORMAT_JSON,
    INSPECT_FORMAT_HEX, INSPECT_FORMAT_RAW,     /* follow only (inspect_follow.c) */
};

/* One view's rows in tsv, csv or json (inspect_format.c): every row gives every column, in
 * order. */
struct inspect_table {
    enum inspect_format format;
    const char *const *columns;
    uint32_t column_count;
    uint32_t next_column;       /* the column the next value fills */
    int in_row;
    uint64_t rows;
};

/* The filters of the command line; a zero field means "no filter". */
struct inspect_filter {
    const char *vm_name;        /* --vm NAME */
    int has_from;
    uint64_t from_ns;           /* --from T: events at T or later */
    int has_to;
    uint64_t to_ns;             /* --to T: events at T or earlier */
    int layer_max;              /* --layer L: enum sim_layer of L, layers up to L; 0 all */
};

/* One "this name holds this CID from this seq on" record (vm_create, vm_resume, ...). */
struct inspect_binding {
    uint64_t seq;
    uint32_t cid;
    uint32_t name_index;
};

struct inspect_process {
    char name[INSPECT_NAME_BYTES];  /* "" when the pid was never spawned */
    uint32_t owner_index;           /* the endpoint it was spawned in */
};

/* Names of endpoints and processes over the whole trace, read once. */
struct inspect_names {
    char (*names)[INSPECT_NAME_BYTES];  /* index 0 is "" */
    uint32_t name_count;
    uint32_t name_capacity;
    /* Hash index of names[1 .. names_hashed) for inspect_name_intern: open addressing,
     * each slot a name index or 0 (empty). Names stored by other code (the summary loader)
     * are added at the next intern. Only lookups use it: the order of names stays the
     * order of first appearance. */
    uint32_t *name_slots;
    uint32_t name_slot_count;
    uint32_t names_hashed;
    struct inspect_binding *bindings;   /* sorted by (cid, seq) once loaded */
    uint32_t binding_count;
    uint32_t binding_capacity;
    struct inspect_process *processes;  /* indexed by pid */
    uint32_t process_capacity;
};

struct inspect {
    sqlite3 *db;                /* opened read-only */
    const char *command;        /* "inspect" or "export": the prefix of messages */
    const char *path;
    enum inspect_format format;
    struct inspect_filter filter;
    struct inspect_names names;
    char *where;                /* "" or " AND ..." for the filters, made by inspect_where_build */
    int summary;                /* the summary tables were checked and answer (summary.h) */
    uint64_t sql_steps_max;     /* `sql`: the bound on SQLite steps (0: the default) */
    uint64_t sql_slices;        /* `sql`: slices of INSPECT_SQL_STEPS_SLICE steps run so far */
};

struct export_span;

/* inspect.c */
/* Opens the trace at inspect->path read-only with its names and filters (for `export`,
 * which borrows the connection model); 0 or 1 (reported). Close with inspect_close(). */
int inspect_open(struct inspect *inspect);
void inspect_close(struct inspect *inspect);
/* Prints "vmcisim: inspect FILE: <message>" on stderr; returns exit status 1. */
int inspect_fail(const struct inspect *inspect, const char *message);
/* Prepares `sql`; on failure prints SQLite's message and returns NULL. */
sqlite3_stmt *inspect_prepare(const struct inspect *inspect, const char *sql);
/* The bound on one `sql` query's SQLite steps: --sql-steps, else INSPECT_SQL_STEPS_MAX_DEFAULT. */
uint64_t inspect_sql_steps_max(const struct inspect *inspect);
/* Ends a statement's loop: 0 when stepping stopped at SQLITE_DONE, else prints, returns 1. */
int inspect_finish(const struct inspect *inspect, sqlite3_stmt *statement, int step_rc);
/* A column as text ("" for NULL) and as an integer (text digits too: U64 above 2^63). */
const char *inspect_text(sqlite3_stmt *statement, int column);
uint64_t inspect_u64(sqlite3_stmt *statement, int column);
/* "<seconds>.<9 digits>" */
void inspect_time(uint64_t time_ns, char *buffer, size_t buffer_bytes);

/* inspect_format.c */
/* Returns 0 and the format named `text` (text, tsv, csv, json), or -1. */
int inspect_format_parse(const char *text, enum inspect_format *format);
/* Starts the output of `view` with its columns (kept borrowed until the end). */
void inspect_table_begin(struct inspect_table *table, const struct inspect *inspect,
                         const char *view, const char *const *columns, uint32_t column_count);
void inspect_row_begin(struct inspect_table *table);
void inspect_row_end(struct inspect_table *table);
void inspect_table_end(struct inspect_table *table);
/* The next column's value. A JSON value (`valid`: SQLite's json_valid said so) is written
 * as JSON in json, as its text elsewhere; NaN and infinities are null. */
void inspect_value_text(struct inspect_table *table, const char *text);
void inspect_value_text_bytes(struct inspect_table *table, const char *text, size_t length);
void inspect_value_u64(struct inspect_table *table, uint64_t value);
void inspect_value_i64(struct inspect_table *table, int64_t value);
void inspect_value_real(struct inspect_table *table, double value);
void inspect_value_null(struct inspect_table *table);
void inspect_value_json(struct inspect_table *table, const char *json, int valid);
/* null when absent (not present, NULL or ""). */
void inspect_value_optional_u64(struct inspect_table *table, int present, uint64_t value);
void inspect_value_optional_text(struct inspect_table *table, const char *text);

/* inspect_names.c */
/* Makes room in a zero-filled array of `element_bytes` elements for index `needed`, doubling
 * its capacity (from 64) as often as that takes, at most to `limit`; new elements are zeroed.
 * Returns 0, or -1 when `needed` >= `limit` or memory is out (the array is then unchanged). */
int inspect_array_reserve(void **array, uint32_t *capacity, uint32_t needed,
                          size_t element_bytes, uint32_t limit);
/* Per CID, while bindings are read in seq order: the name of its latest binding, and the
 * name the last ctx_suspend of that CID stopped (the VM a ctx_resume naming the CID brings
 * back; 0 once taken). An open-addressing table keyed by CID (a function of the CID only),
 * grown to stay at most half full; it holds at most INSPECT_BINDINGS_MAX CIDs, so reading a
 * trace stays linear however many VMs it suspends. Zero-filled when new (calloc); free with
 * inspect_suspended_free(). */
struct inspect_cid_state {
    uint32_t cid;
    uint32_t latest_name_index;
    uint32_t suspended_name_index;
    uint32_t used;
};
struct inspect_suspended {
    struct inspect_cid_state *slots;
    uint32_t slot_count;                /* 0 or a power of two */
    uint32_t count;                     /* used slots, < slot_count / 2 + 1 */
};
void inspect_suspended_free(struct inspect_suspended *suspended);
/* One event of a kind that binds names to CIDs (host_create, vm_create, ctx_create,
 * vm_power_on, vm_resume, ctx_suspend, ctx_resume, cid_reassigned), as the names query
 * reads it: `name` is its name field, else its vm field, else "". */
struct inspect_binding_event {
    uint64_t seq;
    uint32_t ctx;
    const char *kind, *name;
    uint64_t field_cid, assigned;
};
/* Applies one such event, in seq order (bindings stay in seq order until the load sorts
 * them): 0, or -1 past INSPECT_BINDINGS_MAX/INSPECT_NAMES_MAX or out of memory. */
int inspect_names_binding(struct inspect_names *names, struct inspect_suspended *suspended,
                          const struct inspect_binding_event *event);
/* qsort's order of bindings: by (cid, seq). */
int inspect_bindings_compare(const void *left, const void *right);
/* Reads the names; 0 or 1 (reported). Ownership: free with inspect_names_free(). */
int inspect_names_load(struct inspect *inspect);
void inspect_names_free(struct inspect_names *names);
/* Interns `name`; returns its index, or 0 when INSPECT_NAMES_MAX is reached. */
uint32_t inspect_name_intern(struct inspect_names *names, const char *name);
const char *inspect_name(const struct inspect_names *names, uint32_t index);
/* The index of the endpoint that held `cid` at `seq` (0 if none ever did). */
uint32_t inspect_owner(const struct inspect_names *names, uint32_t cid, uint64_t seq);
/* "guest1/client", "host", "hypervisor" or "cid 5": who emitted an event. */
void inspect_who(const struct inspect_names *names, uint32_t ctx, uint32_t pid, uint64_t seq,
                 char *buffer, size_t buffer_bytes);
/* Builds inspect->where from the filters (names must be loaded); 0, 1 or 2 (reported). */
int inspect_where_build(struct inspect *inspect);

/* inspect_sql_guard.c: `inspect sql` reads the trace and nothing else (no random(), no
 * clock). inspect_sql_guard_install makes the clock-refusing VFS the process's default:
 * called before the trace is opened; 0, or -1 when SQLite has no VFS to copy. */
struct inspect_sql_guard {
    const char *refused;        /* the first refused function the query names, or NULL */
};
int inspect_sql_guard_install(void);
/* Sets the authorizer on `db` and forgets an earlier query's refusal and clock reading. */
void inspect_sql_guard_begin(struct inspect_sql_guard *guard, sqlite3 *db);
/* True once a statement asked for the date or time of now since inspect_sql_guard_begin. */
bool inspect_sql_guard_clock_read(void);

/* inspect_views.c: each returns the exit status. */
int inspect_view_summary(struct inspect *inspect);
int inspect_view_timeline(struct inspect *inspect);
int inspect_view_errors(struct inspect *inspect);
int inspect_view_vms(struct inspect *inspect);
int inspect_view_sql(struct inspect *inspect, const char *query);
/* Prints the JSON object `fields` as "key=value key=value" (strings unquoted when they
 * have no space, quote or escape; `src`/`dst` of pkt_* events as cid:port). Whole: no
 * length limit. */
void inspect_fields_print(FILE *stream, const char *kind, const char *fields);
/* The errors view's condition on events, as SQL (also counted by `summary`). */
extern const char inspect_errors_condition[];

/* inspect_model.c */
int inspect_view_connections(struct inspect *inspect);
int inspect_view_sockets(struct inspect *inspect);
/* Counts for `summary`: sockets and connections rebuilt from the whole trace. */
int inspect_model_counts(struct inspect *inspect, uint64_t *sockets, uint64_t *connections);

/* inspect_rows.c: connections and sockets in tsv, csv or json. */
int inspect_rows_connections(struct inspect *inspect);
int inspect_rows_sockets(struct inspect *inspect);

/* inspect_stats.c: per connection and per VM figures (all formats). */
int inspect_view_stats(struct inspect *inspect);

/* inspect_follow.c: `follow N [client|server]`. The arguments after the view (checked here,
 * so that a bad one is a usage error): 0 or 2 (reported). */
int inspect_follow_arguments(int count, char **values, const char **number,
                             const char **side);
int inspect_view_follow(struct inspect *inspect, const char *number, const char *side);
/* Each connection's sides (the client's, and the server's once it has a child socket) for
 * the exporters, numbered as `connections` numbers them; 0 or 1 (reported). Ownership: the
 * caller frees *spans. */
int inspect_model_spans(struct inspect *inspect, struct export_span **spans, uint32_t *count);

#endif /* SIM_CLI_INSPECT_INT_H */
