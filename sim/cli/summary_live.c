/* SPDX-License-Identifier: MIT */
/*
 * sim/cli/summary_live.c: the summary tables built while the run writes its trace
 * (summary.h, docs/trace-schema.md "Summary tables"), instead of re-reading the finished
 * file.
 *
 * The trace writer's hook (sim/trace/writer.h) hands every event it stores to
 * live_observe() on the writer's worker thread (beside the thread that inserts the rows);
 * this file turns each into what the re-reading build (summary.c) gets from SQLite for
 * it: the per-(layer, kind) count and the errors view's condition (the tally), the name
 * and CID bindings and process spawns (the names query of inspect_names.c) and the row of
 * the connection model (model_query of inspect_model.c), whose code runs unchanged on
 * those rows. At the writer's close,
 * live_finish() stores the tables with summary.c's summary_store(), in the file before
 * it is renamed onto its path.
 *
 * Exactness. Each value is the one SQLite's json_extract would give for the stored JSON
 * (a number as its integer, a string as its text; the first of two fields of one name).
 * Three things a pass in seq order cannot know are handled so that the tables are always
 * the re-reading build's, never an approximation:
 *   - names are numbered by the names query first, then by the model ("cid 7" for an
 *     unbound CID); here they come interleaved, so they are renumbered at the finish
 *     (renumber_names) into the order the re-reading build gives them;
 *   - the endpoint of a CID at seq s is its last binding at or before s, else its FIRST
 *     binding after s: when an event names a CID no binding has named yet, the pass
 *     assumes none ever will (so the answer is "no endpoint", as it is for a CID never
 *     bound) and notes the CID; a later binding of it makes the live build inexact;
 *   - values of an unexpected type (a string where a number is read, a byte field where a
 *     name is read, ill-formed UTF-8 in a name), more names than INSPECT_NAMES_MAX, more
 *     unbound CIDs than LIVE_CIDS_MAX make it inexact too.
 * An inexact live build is dropped and the finish rebuilds the tables from the stored
 * events (summary_write_db, the re-reading build), so the result is the same either way;
 * the progress line says which ran. A bound the re-reading build also has
 * (SUMMARY_SOCKETS_MAX, SUMMARY_CONNECTIONS_MAX, SUMMARY_KINDS_MAX, SUMMARY_ERRORS_MAX,
 * INSPECT_PROCESSES_MAX, INSPECT_BINDINGS_MAX) stops the live build ("gave up"): no tables
 * are written, and the message says which bound, as before.
 *
 * Threads: observe runs on the writer's worker, finish on the closing thread after the
 * worker stopped (the ring's drain orders them); the state is touched by one at a time.
 * Memory: every table is bounded as above; nothing grows per event but the error seqs.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "sim/cli/inspect_model.h"
#include "sim/cli/summary.h"
#include "sim/cli/summary_int.h"

#define LIVE_CIDS_MAX (1u << 20)        /* distinct CIDs seen, bound or not */
#define LIVE_CID_LOOKED_AHEAD UINT32_MAX /* a CID named before any binding of it */
#define LIVE_TEXT_BYTES 128u            /* type, rule, reason: longer than any compare */
#define LIVE_CACHE_SLOTS 256u           /* kinds seen, by the address of their static text */
#define LIVE_CACHE_PROBES 8u            /* slots a kind may take from its own (kind_entry) */

/* What a kind is to the pass (classified once per kind text, cached by its address). */
enum live_class {
    CLASS_OTHER, CLASS_BINDING, CLASS_SPAWN, CLASS_PACKET, CLASS_DETACH, CLASS_DISCARDED,
    CLASS_SOCKET_CALL, CLASS_DG_ROUTE,
};

struct live_cache_entry {
    const char *kind;                   /* NULL: empty */
    enum sim_layer tally_layer;         /* the layer tally_slot counts (0: none yet) */
    uint32_t tally_slot;                /* in tally.kinds: (tally_layer, kind) */
    enum live_class class;
    bool error_kind_api, error_kind_vmci, is_peer_detach, is_discarded;
    /* inspect_model_kind of (model_layer, kind), valid once model_layer is not 0: the
     * model pass's dispatch, decided once instead of by text compares per row. */
    enum sim_layer model_layer;
    enum model_kind model_kind;
    enum call call;
};

struct live_cid {
    uint32_t cid;
    uint32_t name_index;                /* 0: empty slot; LIVE_CID_LOOKED_AHEAD */
};

/* Where and when each pid was spawned: its endpoint is computed at the finish, with
 * every binding known (load_processes does it after load_bindings). */
struct live_spawn {
    uint32_t ctx;
    bool spawned;
    uint64_t seq;
};

struct summary_live {
    const char *path;                   /* borrowed: the trace path, for messages */
    struct inspect inspect;             /* names as they come (db NULL) */
    struct inspect_suspended *suspended;
    struct model model;
    struct event_tally tally;
    struct live_cid *cids;              /* open addressing by CID, at most half full */
    uint32_t cid_capacity, cid_count;
    uint32_t looked_ahead;              /* CIDs answered "no endpoint" before any binding */
    struct live_spawn *spawns;          /* indexed by pid, as names.processes */
    uint32_t spawn_capacity;
    struct live_cache_entry cache[LIVE_CACHE_SLOTS];
    const char *gave_up;                /* a bound of both builds was met: no tables */
    const char *inexact;                /* the finish rebuilds from the events */
    /* The outcome, for summary_live_report(). */
    bool finished, written;
    char message[SIM_ERROR_MESSAGE_BYTES_MAX];
    double finish_wall_seconds, finish_cpu_seconds;
};

/* ---- Values as json_extract gives them --------------------------------------------- */

/* The first field named `name` (`name_bytes` long), as json_extract takes the first of
 * a name. A field whose length the builders measured is compared by length and bytes,
 * one without (0) by its text. Inlined with a literal's length, the byte compare is a
 * few instructions instead of a call (it runs several times per event). */
static inline __attribute__((always_inline)) const struct sim_trace_field *
field_find(const struct sim_trace_event *event, const char *name, uint32_t name_bytes)
{
    for (uint32_t index = 0; index < event->field_count; index++) {
        const struct sim_trace_field *field = &event->fields[index];
        if (field->name[0] != name[0])
            continue;
        if (field->name_bytes != 0 ? field->name_bytes == name_bytes &&
                                         memcmp(field->name, name, name_bytes) == 0
                                   : strcmp(field->name, name) == 0)
            return field;
    }
    return NULL;
}
#define FIELD_FIND(event, literal) field_find((event), (literal), sizeof(literal) - 1u)

static bool utf8_well_formed(const uint8_t *bytes, uint32_t size_bytes)
{
    for (uint32_t index = 0; index < size_bytes;) {
        uint8_t lead = bytes[index];
        uint32_t more = lead < 0x80 ? 0 : (lead & 0xe0) == 0xc0 ? 1 : (lead & 0xf0) == 0xe0
                        ? 2 : (lead & 0xf8) == 0xf0 ? 3 : 4;
        if (more == 4 || (more == 1 && lead < 0xc2) || (more > 0 && index + more >= size_bytes))
            return false;               /* not a lead, overlong, or cut by the end */
        uint32_t code = more == 0 ? lead : lead & (0x3fu >> more);
        for (uint32_t next = 1; next <= more; next++) {
            if ((bytes[index + next] & 0xc0) != 0x80)
                return false;
            code = code << 6 | (bytes[index + next] & 0x3fu);
        }
        if ((more == 2 && (code < 0x800 || (code >= 0xd800 && code <= 0xdfff))) ||
            (more == 3 && (code < 0x10000 || code > 0x10ffff)))
            return false;
        index += more + 1;
    }
    return true;
}

/* A text column ("" when absent) into `text`, cut at `text_bytes - 1` and at a NUL as the
 * C string SQLite hands back would be; numbers as SQLite prints them. */
static void value_text(struct summary_live *live, const struct sim_trace_field *field,
                       char *text, size_t text_bytes)
{
    text[0] = '\0';
    if (field == NULL)
        return;
    if (field->type == SIM_FIELD_U64) {
        snprintf(text, text_bytes, "%" PRIu64, field->value.u64);
    } else if (field->type == SIM_FIELD_I64) {
        snprintf(text, text_bytes, "%" PRId64, field->value.i64);
    } else if (field->type == SIM_FIELD_STR &&
               utf8_well_formed(field->value.blob.data, field->value.blob.size_bytes)) {
        uint32_t size_bytes = field->value.blob.size_bytes;
        size_t kept = size_bytes < text_bytes - 1 ? size_bytes : text_bytes - 1;
        memcpy(text, field->value.blob.data, kept);
        text[kept] = '\0';
    } else {
        live->inexact = "a name or text field of an unexpected type or encoding";
    }
}

/* An integer column (inspect_u64); 0 when absent. */
static uint64_t value_u64(struct summary_live *live, const struct sim_trace_field *field)
{
    if (field == NULL)
        return 0;
    if (field->type == SIM_FIELD_U64)
        return field->value.u64;        /* above INT64_MAX a decimal text, read back whole */
    if (field->type == SIM_FIELD_I64)
        return (uint64_t)field->value.i64;
    live->inexact = "a number field of an unexpected type";
    return 0;
}

/* json_extract(fields, '$.result') < 0: only a negative integer is (a text never is). */
static bool result_negative(const struct sim_trace_event *event)
{
    const struct sim_trace_field *field = FIELD_FIND(event, "result");
    return field != NULL && field->type == SIM_FIELD_I64 && field->value.i64 < 0;
}

/* ---- Kinds ------------------------------------------------------------------------- */

static enum live_class classify(const char *kind)
{
    static const char *const bindings[] = { "host_create", "vm_create", "ctx_create",
        "vm_power_on", "vm_resume", "ctx_suspend", "ctx_resume", "cid_reassigned" };
    for (size_t index = 0; index < sizeof bindings / sizeof bindings[0]; index++) {
        if (strcmp(kind, bindings[index]) == 0)
            return CLASS_BINDING;
    }
    if (strcmp(kind, "proc_spawn") == 0)
        return CLASS_SPAWN;
    if (strcmp(kind, "pkt_send") == 0 || strcmp(kind, "pkt_recv") == 0)
        return CLASS_PACKET;
    if (strcmp(kind, "peer_detach") == 0 || strcmp(kind, "qp_resumed") == 0 ||
        strcmp(kind, "device_reset") == 0)
        return CLASS_DETACH;
    if (strcmp(kind, "data_discarded") == 0)
        return CLASS_DISCARDED;
    if (strncmp(kind, "sock_", 5) == 0)
        return CLASS_SOCKET_CALL;
    return strcmp(kind, "dg_route") == 0 ? CLASS_DG_ROUTE : CLASS_OTHER;
}

/* The kind's entry, made on first sight. The cache is keyed by the text's address (kinds
 * are static texts) but holds only what the text itself decides, so what the pass does
 * never depends on an address; two addresses of one text get two equal entries. A kind
 * looks in LIVE_CACHE_PROBES slots from its own: with one slot, two kinds of a run whose
 * addresses met there (as a new build's layout may make them) classified each other out
 * on every event, tripling the pass's strcmp work; only a cache with all those slots
 * taken replaces the first. */
static struct live_cache_entry *kind_entry(struct summary_live *live, const char *kind)
{
    uintptr_t address = (uintptr_t)kind;
    uint32_t home = (uint32_t)((address >> 3) ^ (address >> 11)) & (LIVE_CACHE_SLOTS - 1);
    struct live_cache_entry *entry = &live->cache[home];
    for (uint32_t probe = 0; probe < LIVE_CACHE_PROBES; probe++) {
        uint32_t slot = (home + probe) & (LIVE_CACHE_SLOTS - 1);
        struct live_cache_entry *candidate = &live->cache[slot];
        if (candidate->kind == kind)
            return candidate;
        if (candidate->kind == NULL) {
            entry = candidate;
            break;
        }
    }
    static const char *const api_errors[] = { "expect_fail", "proc_error", "callback_error",
                                              "scenario_error", "deadlock", "dg_queue_full" };
    *entry = (struct live_cache_entry){ .kind = kind, .class = classify(kind),
                                        .error_kind_vmci = strcmp(kind, "dg_drop") == 0,
                                        .is_peer_detach = strcmp(kind, "peer_detach") == 0,
                                        .is_discarded = strcmp(kind, "data_discarded") == 0 };
    for (size_t index = 0; index < sizeof api_errors / sizeof api_errors[0]; index++)
        entry->error_kind_api |= strcmp(kind, api_errors[index]) == 0;
    return entry;
}

/* inspect_errors_condition (inspect_views.c), evaluated on the event. */
static bool is_error(const struct sim_trace_event *event, const struct live_cache_entry *entry)
{
    if (entry->is_discarded)
        return true;
    switch (event->layer) {
    case SIM_LAYER_API:
        return entry->error_kind_api || result_negative(event);
    case SIM_LAYER_TRANSPORT:
        return (!entry->is_peer_detach && FIELD_FIND(event, "rule") != NULL) ||
               result_negative(event);
    case SIM_LAYER_VMCI:
        return entry->error_kind_vmci || result_negative(event);
    default:
        return false;
    }
}

static void tally_event(struct summary_live *live, const struct sim_trace_event *event,
                        struct live_cache_entry *entry)
{
    struct event_tally *tally = &live->tally;
    if (tally->events == 0)
        tally->seq_min = event->seq;
    tally->seq_max = event->seq;
    tally->events++;
    tally->time_ns_max = event->time_ns > tally->time_ns_max ? event->time_ns
                                                             : tally->time_ns_max;
    if (entry->tally_layer != event->layer) {       /* the slot by the kind's text */
        int64_t slot = summary_tally_kind_slot(tally, sim_layer_name(event->layer),
                                               event->kind);
        if (slot < 0) {
            live->gave_up = "more than SUMMARY_KINDS_MAX kinds, or a kind name too long";
            return;
        }
        entry->tally_layer = event->layer;
        entry->tally_slot = (uint32_t)slot;
    }
    tally->kinds[entry->tally_slot].events++;
    if (is_error(event, entry) && summary_tally_error(tally, event->seq) < 0)
        live->gave_up = "more than SUMMARY_ERRORS_MAX error events";
}

/* ---- CIDs and their endpoints ------------------------------------------------------ */

static struct live_cid *cid_slot(struct summary_live *live, uint32_t cid)
{
    uint32_t slot = (uint32_t)((cid * 0x9e3779b97f4a7c15u) >> 32) & (live->cid_capacity - 1);
    while (live->cids[slot].name_index != 0 && live->cids[slot].cid != cid)
        slot = (slot + 1) & (live->cid_capacity - 1);
    return &live->cids[slot];
}

/* The slot of `cid`, added (empty) when absent; NULL past LIVE_CIDS_MAX or memory. */
static struct live_cid *cid_find_or_add(struct summary_live *live, uint32_t cid)
{
    if ((live->cid_count + 1) * 2 > live->cid_capacity) {
        if (live->cid_count == LIVE_CIDS_MAX)
            return NULL;
        struct summary_live grown = { .cid_capacity = live->cid_capacity == 0
                                                          ? 64u : live->cid_capacity * 2 };
        grown.cids = calloc(grown.cid_capacity, sizeof *grown.cids);
        if (grown.cids == NULL)
            return NULL;
        for (uint32_t slot = 0; slot < live->cid_capacity; slot++) {
            if (live->cids[slot].name_index != 0)
                *cid_slot(&grown, live->cids[slot].cid) = live->cids[slot];
        }
        free(live->cids);
        live->cids = grown.cids;
        live->cid_capacity = grown.cid_capacity;
    }
    return cid_slot(live, cid);
}

/* The model's owner_at: the endpoint that holds `cid` now (its last binding so far). */
static uint32_t live_owner_at(void *context, uint32_t cid, uint64_t seq)
{
    struct summary_live *live = context;
    (void)seq;                          /* every binding before seq has been applied */
    struct live_cid *slot = cid_find_or_add(live, cid);
    if (slot == NULL) {
        live->inexact = "more than LIVE_CIDS_MAX CIDs";
        return 0;
    }
    if (slot->name_index == 0) {        /* assume it is never bound (see the header) */
        slot->cid = cid;
        slot->name_index = LIVE_CID_LOOKED_AHEAD;
        live->cid_count++;
        live->looked_ahead++;
    }
    return slot->name_index == LIVE_CID_LOOKED_AHEAD ? 0 : slot->name_index;
}

static void binding_event(struct summary_live *live, const struct sim_trace_event *event)
{
    struct inspect_names *names = &live->inspect.names;
    char name[INSPECT_NAME_BYTES];
    const struct sim_trace_field *name_field = FIELD_FIND(event, "name");
    value_text(live, name_field != NULL ? name_field : FIELD_FIND(event, "vm"), name,
               sizeof name);
    struct inspect_binding_event binding = {
        .seq = event->seq, .ctx = event->ctx, .kind = event->kind, .name = name,
        .field_cid = value_u64(live, FIELD_FIND(event, "cid")),
        .assigned = value_u64(live, FIELD_FIND(event, "assigned")),
    };
    uint32_t before = names->binding_count;
    if (inspect_names_binding(names, live->suspended, &binding) < 0) {
        /* The re-reading build numbers fewer names by then: let it decide. */
        live->inexact = "more endpoints or CID changes than INSPECT_BINDINGS_MAX/NAMES_MAX";
        return;
    }
    if (names->binding_count == before)
        return;
    const struct inspect_binding *added = &names->bindings[names->binding_count - 1];
    struct live_cid *slot = cid_find_or_add(live, added->cid);
    if (slot == NULL) {
        live->inexact = "more than LIVE_CIDS_MAX CIDs";
        return;
    }
    if (slot->name_index == LIVE_CID_LOOKED_AHEAD)
        live->inexact = "an event named a CID before its first binding";
    live->cid_count += slot->name_index == 0;
    *slot = (struct live_cid){ .cid = added->cid, .name_index = added->name_index };
}

static void spawn_event(struct summary_live *live, const struct sim_trace_event *event)
{
    struct inspect_names *names = &live->inspect.names;
    void *processes = names->processes, *spawns = live->spawns;
    uint32_t process_capacity = names->process_capacity;
    if (event->pid >= INSPECT_PROCESSES_MAX ||
        inspect_array_reserve(&processes, &names->process_capacity, event->pid,
                              sizeof(struct inspect_process), INSPECT_PROCESSES_MAX) < 0) {
        live->gave_up = "a pid above INSPECT_PROCESSES_MAX";
        return;
    }
    names->processes = processes;
    if (inspect_array_reserve(&spawns, &process_capacity, event->pid,
                              sizeof(struct live_spawn), INSPECT_PROCESSES_MAX) < 0) {
        live->gave_up = "out of memory";
        return;
    }
    live->spawns = spawns;
    live->spawn_capacity = process_capacity;
    assert(live->spawn_capacity == names->process_capacity);
    struct inspect_process *process = &names->processes[event->pid];
    value_text(live, FIELD_FIND(event, "name"), process->name, sizeof process->name);
    live->spawns[event->pid] = (struct live_spawn){ .ctx = event->ctx, .spawned = true,
                                                    .seq = event->seq };
}

/* ---- The model's rows -------------------------------------------------------------- */

struct live_texts {
    char type[LIVE_TEXT_BYTES], rule[LIVE_TEXT_BYTES], reason[LIVE_TEXT_BYTES];
};

/* The row model_query gives for the event: each column only for the kinds it names. */
static void model_row_make(struct summary_live *live, const struct sim_trace_event *event,
                           struct live_cache_entry *entry, struct model_row *row,
                           struct live_texts *texts)
{
    enum live_class class = entry->class;
    const char *layer = sim_layer_name(event->layer);
    assert(entry->model_layer == event->layer);
    *row = (struct model_row){ .seq = event->seq, .time_ns = event->time_ns,
                               .ctx = event->ctx, .pid = event->pid, .layer = layer,
                               .kind = event->kind, .type = "", .rule = "", .reason = "",
                               .model_kind = entry->model_kind, .call = entry->call };
    bool api = event->layer == SIM_LAYER_API;
    if (class == CLASS_PACKET) {
        value_text(live, FIELD_FIND(event, "type"), texts->type, sizeof texts->type);
        row->type = texts->type;
        row->source = value_u64(live, FIELD_FIND(event, "src"));
        row->destination = value_u64(live, FIELD_FIND(event, "dst"));
        row->u0 = value_u64(live, FIELD_FIND(event, "u0"));
    } else if (class == CLASS_DETACH || class == CLASS_DISCARDED) {
        row->port = value_u64(live, FIELD_FIND(event, "port"));
        if (class == CLASS_DETACH) {
            value_text(live, FIELD_FIND(event, "rule"), texts->rule, sizeof texts->rule);
            row->rule = texts->rule;
        } else {
            row->bytes = value_u64(live, FIELD_FIND(event, "bytes"));
            value_text(live, FIELD_FIND(event, "reason"), texts->reason,
                       sizeof texts->reason);
            row->reason = texts->reason;
        }
    } else if (class == CLASS_SOCKET_CALL) {
        const struct sim_trace_field *result = FIELD_FIND(event, "result");
        const struct sim_trace_field *socket = FIELD_FIND(event, "socket");
        row->has_result = result != NULL && (result->type == SIM_FIELD_I64 ||
                                             (result->type == SIM_FIELD_U64 &&
                                              result->value.u64 <= (uint64_t)INT64_MAX));
        if (result != NULL && !row->has_result)
            live->inexact = "a socket call's result of an unexpected type";
        row->result = row->has_result ? (int64_t)value_u64(live, result) : 0;
        row->has_socket = socket != NULL;
        row->socket = value_u64(live, socket);
    }
    /* The owner matters to socket calls, detaches and data_discarded only. */
    if ((api && class == CLASS_SOCKET_CALL) ||
        (!api && (class == CLASS_DETACH || class == CLASS_DISCARDED)))
        row->owner = live_owner_at(live, event->ctx, event->seq);
}

static void model_event(struct summary_live *live, const struct sim_trace_event *event,
                        struct live_cache_entry *entry)
{
    enum live_class class = entry->class;
    bool wanted = event->layer == SIM_LAYER_API || event->layer == SIM_LAYER_TRANSPORT ||
                  (class == CLASS_DG_ROUTE && event->pid != 0);
    if (!wanted)
        return;
    if (entry->model_layer != event->layer) {
        entry->model_kind = inspect_model_kind(sim_layer_name(event->layer), event->kind,
                                               &entry->call);
        entry->model_layer = event->layer;
    }
    if (entry->model_kind == MODEL_KIND_API_OTHER) {
        /* Half the rows of a datagram run (proc_block, proc_resume): the pass only takes
         * their time, so no row is made. */
        inspect_model_row_passed(&live->model, event->time_ns);
        return;
    }
    struct model_row row;
    struct live_texts texts;
    model_row_make(live, event, entry, &row, &texts);
    if (inspect_model_row(&live->model, &row) == 0)
        return;
    const struct model *model = &live->model;
    if (live->looked_ahead > 0) {
        /* An endpoint assumed so far may still change: the socket keys, so the count. */
        live->inexact = "a model bound met after an event named an unbound CID";
        return;
    }
    live->gave_up = model->socket_count == model->sockets_max ||
                            model->connection_count == model->connections_max
                        ? "more than SUMMARY_SOCKETS_MAX sockets or SUMMARY_CONNECTIONS_MAX "
                          "connections"
                        : "out of memory, or a pid above INSPECT_PROCESSES_MAX";
}

static void live_observe(void *context, const struct sim_trace_event *events,
                         const uint32_t *payload_bytes_max, uint32_t count)
{
    struct summary_live *live = context;
    (void)payload_bytes_max;            /* no field the tables read is a payload */
    /* Once given up or inexact, nothing more is needed: the finish writes nothing, or
     * rebuilds from the events (which meets every bound itself). */
    for (uint32_t index = 0; index < count && live->gave_up == NULL && live->inexact == NULL;
         index++) {
        const struct sim_trace_event *event = &events[index];
        struct live_cache_entry *entry = kind_entry(live, event->kind);
        tally_event(live, event, entry);
        if (entry->class == CLASS_BINDING)
            binding_event(live, event);
        else if (entry->class == CLASS_SPAWN)
            spawn_event(live, event);
        model_event(live, event, entry);
    }
}

/* ---- The finish -------------------------------------------------------------------- */

/* The names as the re-reading build numbers them: the bindings' names in binding (seq)
 * order, then the model's own ("cid 7") in the order it met them. `map` gets, for each
 * live number, the final one. 0, or -1 (out of memory, or a name the final table cannot
 * number: then the re-reading build decides). */
static int renumber_names(const struct inspect_names *names, struct inspect_names *final,
                          uint32_t *map)
{
    for (uint32_t index = 0; index < names->binding_count; index++) {
        uint32_t live_number = names->bindings[index].name_index;
        assert(live_number > 0 && live_number < names->name_count);
        if (map[live_number] == 0)
            map[live_number] = inspect_name_intern(final, names->names[live_number]);
        if (map[live_number] == 0)
            return -1;
    }
    for (uint32_t live_number = 1; live_number < names->name_count; live_number++) {
        if (map[live_number] == 0)
            map[live_number] = inspect_name_intern(final, names->names[live_number]);
        if (map[live_number] == 0)
            return -1;
    }
    return 0;
}

/* The final names (bindings sorted by (cid, seq), processes with their endpoints) and the
 * model's endpoints renumbered; 0 or -1 (as renumber_names). */
static int finish_names(struct summary_live *live, struct inspect_names *final)
{
    struct inspect_names *names = &live->inspect.names;
    uint32_t *map = calloc((size_t)names->name_count + 1, sizeof *map);
    if (map == NULL || renumber_names(names, final, map) < 0) {
        free(map);
        return -1;
    }
    final->bindings = names->bindings;              /* moved, renumbered, then sorted */
    final->binding_count = names->binding_count;
    final->binding_capacity = names->binding_capacity;
    names->bindings = NULL;
    names->binding_count = names->binding_capacity = 0;
    for (uint32_t index = 0; index < final->binding_count; index++)
        final->bindings[index].name_index = map[final->bindings[index].name_index];
    if (final->binding_count > 0)
        qsort(final->bindings, final->binding_count, sizeof *final->bindings,
              inspect_bindings_compare);
    final->processes = names->processes;            /* moved; endpoints from the bindings */
    final->process_capacity = names->process_capacity;
    names->processes = NULL;
    names->process_capacity = 0;
    for (uint32_t pid = 0; pid < final->process_capacity; pid++) {
        if (live->spawns[pid].spawned)
            final->processes[pid].owner_index =
                inspect_owner(final, live->spawns[pid].ctx, live->spawns[pid].seq);
    }
    struct model *model = &live->model;
    for (uint32_t index = 0; index < model->socket_count; index++)
        model->sockets[index].owner = map[model->sockets[index].owner];
    for (uint32_t index = 0; index < model->connection_count; index++) {
        for (int side = 0; side < SIDE_COUNT; side++)
            model->connections[index].owner[side] = map[model->connections[index].owner[side]];
    }
    free(map);
    return 0;
}

/* The live build stored: 0, or 1 with the message. */
static int finish_store(struct summary_live *live, sqlite3 *db)
{
    char digest[64];
    if (summary_read_digest(db, digest, sizeof digest) != 0) {
        snprintf(live->message, sizeof live->message, "no summary tables (the trace has no "
                 "digest (its run did not finish)); `inspect` computes its views from the "
                 "events");
        return 1;
    }
    struct inspect_names final = { 0 };
    int status = 0;
    if (finish_names(live, &final) < 0) {
        live->inexact = "more names than INSPECT_NAMES_MAX, or out of memory";
        status = summary_write_db(db, live->path, live->message, sizeof live->message);
    } else if (summary_store(db, &final, &live->model, &live->tally, digest) != 0) {
        snprintf(live->message, sizeof live->message, "no summary tables (%s); `inspect` "
                 "computes its views from the events", sqlite3_errmsg(db));
        status = 1;
    }
    inspect_names_free(&final);
    return status;
}

static double monotonic_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);     /* for the progress line only */
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static void live_finish(void *context, sqlite3 *db)
{
    struct summary_live *live = context;
    assert(!live->finished);
    double started_seconds = monotonic_seconds();
    clock_t started_cpu = clock();
    int status;
    if (live->gave_up != NULL) {
        snprintf(live->message, sizeof live->message, "no summary tables (%s); `inspect` "
                 "computes its views from the events", live->gave_up);
        status = 1;
    } else if (live->inexact != NULL) {
        status = summary_write_db(db, live->path, live->message, sizeof live->message);
    } else {
        status = finish_store(live, db);
    }
    live->finished = true;
    live->written = status == 0;
    live->finish_wall_seconds = monotonic_seconds() - started_seconds;
    live->finish_cpu_seconds = (double)(clock() - started_cpu) / CLOCKS_PER_SEC;
}

/* ---- Life -------------------------------------------------------------------------- */

struct summary_live *summary_live_create(const char *path, uint32_t sockets_max,
                                         uint32_t connections_max)
{
    assert(path != NULL);
    assert(sockets_max <= SUMMARY_SOCKETS_MAX && connections_max <= SUMMARY_CONNECTIONS_MAX);
    struct summary_live *live = calloc(1, sizeof *live);
    if (live == NULL)
        return NULL;
    live->path = path;
    live->inspect = (struct inspect){ .command = "run", .path = path };
    live->suspended = calloc(1, sizeof *live->suspended);
    live->tally.kinds = calloc(SUMMARY_KIND_SLOTS, sizeof *live->tally.kinds);
    int started = inspect_model_start(&live->model, &live->inspect, sockets_max,
                                      connections_max);
    if (live->suspended == NULL || live->tally.kinds == NULL || started != 0) {
        summary_live_destroy(live);
        return NULL;
    }
    live->model.owner_at = live_owner_at;
    live->model.owner_context = live;
    return live;
}

struct sim_trace_writer_hook summary_live_hook(struct summary_live *live)
{
    assert(live != NULL);
    return (struct sim_trace_writer_hook){ .observe = live_observe, .finish = live_finish,
                                           .context = live };
}

int summary_live_report(const struct summary_live *live, struct summary_live_outcome *outcome)
{
    assert(live != NULL && outcome != NULL);
    *outcome = (struct summary_live_outcome){
        .finished = live->finished, .written = live->written,
        .rebuilt_because = live->gave_up == NULL ? live->inexact : NULL,
        .wall_seconds = live->finish_wall_seconds, .cpu_seconds = live->finish_cpu_seconds,
    };
    snprintf(outcome->message, sizeof outcome->message, "%s", live->message);
    return live->written ? 0 : 1;
}

void summary_live_destroy(struct summary_live *live)
{
    if (live == NULL)
        return;
    inspect_model_free(&live->model);
    inspect_names_free(&live->inspect.names);
    inspect_suspended_free(live->suspended);
    free(live->tally.kinds);
    free(live->tally.errors);
    free(live->cids);
    free(live->spawns);
    free(live);
}
