/* SPDX-License-Identifier: MIT */
/*
 * sim/cli/inspect_names.c: who is CID c at seq s, who is pid p, and the SQL of the filters.
 *
 * A CID names different endpoints over a run: a resumed VM may come back under a new CID,
 * and another VM may meanwhile take the old one (docs/lifecycle.md, R207). Every event that
 * gives a name a CID is a binding (host_create, vm_create, ctx_create, vm_power_on,
 * vm_resume, ctx_resume, cid_reassigned); the owner of CID c at seq s is the name of the
 * last binding of c at or before s, or of the first one after s when c has none yet (the
 * world_create event comes before host_create). Pids are unique in a run (proc_spawn).
 * Endpoint names are numbered in order of first appearance (index 0 is ""); a hash index of
 * the names finds a name again in a few probes, so reading a trace stays linear in its names.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sim/cli/cli.h"
#include "sim/cli/inspect_int.h"
#include "sim/cli/summary.h"
#include "sim/engine/trace.h"

#define CID_HYPERVISOR 0u

int inspect_array_reserve(void **array, uint32_t *capacity, uint32_t needed,
                          size_t element_bytes, uint32_t limit)
{
    if (needed < *capacity)
        return 0;
    if (needed >= limit)
        return -1;
    uint32_t wanted = *capacity == 0 ? 64u : *capacity;
    for (int doublings = 0; doublings < 32 && wanted <= needed; doublings++)
        wanted = wanted > limit / 2 ? limit : wanted * 2;
    void *grown = realloc(*array, (size_t)wanted * element_bytes);
    if (grown == NULL)
        return -1;
    memset((char *)grown + (size_t)*capacity * element_bytes, 0,
           (size_t)(wanted - *capacity) * element_bytes);
    *array = grown;
    *capacity = wanted;
    return 0;
}

/* FNV-1a of the name as stored (at most INSPECT_NAME_BYTES - 1 bytes): a function of the
 * text only, so the index, like the output, depends on the trace alone. */
static uint32_t name_hash(const char *name)
{
    uint32_t hash = 2166136261u;
    for (uint32_t offset = 0; offset < INSPECT_NAME_BYTES - 1 && name[offset] != '\0'; offset++)
        hash = (hash ^ (uint8_t)name[offset]) * 16777619u;
    return hash;
}

/* The slot that holds `name`, or the empty slot where it would go. The table is never
 * full (more than half its slots are empty), so the probe ends. */
static uint32_t name_slot(const struct inspect_names *names, const char *name)
{
    uint32_t mask = names->name_slot_count - 1;
    uint32_t slot = name_hash(name) & mask;
    for (uint32_t probes = 0; probes < names->name_slot_count; probes++) {
        uint32_t index = names->name_slots[slot];
        if (index == 0 || strncmp(names->names[index], name, INSPECT_NAME_BYTES - 1) == 0)
            return slot;
        slot = (slot + 1) & mask;
    }
    assert(!"the names' hash index is full");
    return slot;
}

/* Makes room in the hash index for `needed` names (rehashing the ones indexed so far), then
 * indexes names[names_hashed .. name_count). The first of equal names keeps its slot, as the
 * first match of a search in order would. Returns 0, or -1 without memory. */
static int names_index(struct inspect_names *names, uint32_t needed)
{
    assert(needed <= INSPECT_NAMES_MAX);
    if (names->name_slot_count < 2 * needed + 2) {
        uint32_t slot_count = names->name_slot_count == 0 ? 256u : names->name_slot_count;
        while (slot_count < 2 * needed + 2 && slot_count < INSPECT_NAME_SLOTS_MAX)
            slot_count *= 2;
        uint32_t *slots = calloc(slot_count, sizeof(*slots));
        if (slots == NULL)
            return -1;
        free(names->name_slots);
        names->name_slots = slots;
        names->name_slot_count = slot_count;
        names->names_hashed = 1;
    }
    if (names->names_hashed == 0)
        names->names_hashed = 1;                     /* index 0, "", is never indexed */
    for (; names->names_hashed < names->name_count; names->names_hashed++) {
        uint32_t slot = name_slot(names, names->names[names->names_hashed]);
        if (names->name_slots[slot] == 0)
            names->name_slots[slot] = names->names_hashed;
    }
    return 0;
}

uint32_t inspect_name_intern(struct inspect_names *names, const char *name)
{
    if (names->name_count == 0)
        names->name_count = 1;                       /* index 0 stays "" */
    /* Room for one more name; at INSPECT_NAMES_MAX, for the names there are (a new one
     * then gets 0 from inspect_array_reserve's refusal). */
    uint32_t room = names->name_count < INSPECT_NAMES_MAX ? names->name_count + 1
                                                          : names->name_count;
    if (names_index(names, room) < 0)
        return 0;
    uint32_t slot = name_slot(names, name);
    if (names->name_slots[slot] != 0)
        return names->name_slots[slot];
    void *array = names->names;
    if (inspect_array_reserve(&array, &names->name_capacity, names->name_count,
                              INSPECT_NAME_BYTES, INSPECT_NAMES_MAX) < 0)
        return 0;
    names->names = array;
    snprintf(names->names[names->name_count], INSPECT_NAME_BYTES, "%s", name);
    names->name_slots[slot] = names->name_count;
    names->names_hashed = names->name_count + 1;
    return names->name_count++;
}

const char *inspect_name(const struct inspect_names *names, uint32_t index)
{
    return index < names->name_count ? names->names[index] : "";
}

static int add_binding(struct inspect_names *names, uint64_t seq, uint32_t cid,
                       uint32_t name_index)
{
    void *array = names->bindings;
    if (name_index == 0 ||
        inspect_array_reserve(&array, &names->binding_capacity, names->binding_count,
                              sizeof(struct inspect_binding), INSPECT_BINDINGS_MAX) < 0)
        return -1;
    names->bindings = array;
    names->bindings[names->binding_count++] =
        (struct inspect_binding){ .seq = seq, .cid = cid, .name_index = name_index };
    return 0;
}

int inspect_bindings_compare(const void *left, const void *right)
{
    const struct inspect_binding *a = left, *b = right;
    if (a->cid != b->cid)
        return a->cid < b->cid ? -1 : 1;
    return a->seq < b->seq ? -1 : (a->seq > b->seq ? 1 : 0);
}

uint32_t inspect_owner(const struct inspect_names *names, uint32_t cid, uint64_t seq)
{
    /* Binary search for the first binding after (cid, seq). */
    uint32_t low = 0, high = names->binding_count;
    while (low < high) {
        uint32_t middle = low + (high - low) / 2;
        const struct inspect_binding *binding = &names->bindings[middle];
        if (binding->cid < cid || (binding->cid == cid && binding->seq <= seq))
            low = middle + 1;
        else
            high = middle;
    }
    if (low > 0 && names->bindings[low - 1].cid == cid)
        return names->bindings[low - 1].name_index;
    if (low < names->binding_count && names->bindings[low].cid == cid)
        return names->bindings[low].name_index;
    return 0;
}

void inspect_suspended_free(struct inspect_suspended *suspended)
{
    if (suspended == NULL)
        return;
    free(suspended->slots);
    free(suspended);
}

/* The slot of `cid`, or the empty slot where it would go (the table is never full). */
static struct inspect_cid_state *cid_slot(const struct inspect_suspended *table, uint32_t cid)
{
    assert(table->slot_count > 0 && (table->slot_count & (table->slot_count - 1)) == 0);
    uint32_t mask = table->slot_count - 1;
    uint32_t slot = (uint32_t)(cid * 2654435761u) & mask;
    while (table->slots[slot].used && table->slots[slot].cid != cid)
        slot = (slot + 1) & mask;
    return &table->slots[slot];
}

/* The state of `cid`, made (zero) on first sight; NULL past INSPECT_BINDINGS_MAX CIDs or
 * without memory. */
static struct inspect_cid_state *cid_state(struct inspect_suspended *table, uint32_t cid)
{
    if (table->slot_count < 2 * table->count + 2) {
        if (table->count >= INSPECT_BINDINGS_MAX)
            return NULL;
        uint32_t slot_count = table->slot_count == 0 ? 64u : table->slot_count * 2;
        struct inspect_suspended grown = { .slots = calloc(slot_count, sizeof(*grown.slots)),
                                           .slot_count = slot_count, .count = table->count };
        if (grown.slots == NULL)
            return NULL;
        for (uint32_t index = 0; index < table->slot_count; index++) {
            if (table->slots[index].used)
                *cid_slot(&grown, table->slots[index].cid) = table->slots[index];
        }
        free(table->slots);
        *table = grown;
    }
    struct inspect_cid_state *state = cid_slot(table, cid);
    if (!state->used) {
        *state = (struct inspect_cid_state){ .cid = cid, .used = 1 };
        table->count++;
    }
    assert(table->count < table->slot_count);
    return state;
}

/* A binding of `cid` to the name `name_index`, remembered as the CID's latest owner. */
static int bind(struct inspect_names *names, struct inspect_suspended *table, uint64_t seq,
                uint32_t cid, uint32_t name_index)
{
    struct inspect_cid_state *state = cid_state(table, cid);
    if (state == NULL || add_binding(names, seq, cid, name_index) < 0)
        return -1;
    state->latest_name_index = name_index;
    return 0;
}

int inspect_names_binding(struct inspect_names *names, struct inspect_suspended *suspended,
                          const struct inspect_binding_event *event)
{
    uint32_t ctx = event->ctx;
    if (strcmp(event->kind, "ctx_suspend") == 0) {
        struct inspect_cid_state *state = cid_state(suspended, ctx);
        if (state == NULL)
            return -1;
        state->suspended_name_index = state->latest_name_index;
        return 0;
    }
    if (strcmp(event->kind, "ctx_resume") == 0) {
        struct inspect_cid_state *state = cid_state(suspended, (uint32_t)event->field_cid);
        if (state == NULL)
            return -1;
        uint32_t name_index = state->suspended_name_index;
        state->suspended_name_index = 0;                 /* one resume per suspend */
        return name_index == 0 ? 0 : bind(names, suspended, event->seq, ctx, name_index);
    }
    if (strcmp(event->kind, "cid_reassigned") == 0)
        ctx = (uint32_t)event->assigned;
    if (event->name[0] == '\0')
        return 0;
    return bind(names, suspended, event->seq, ctx, inspect_name_intern(names, event->name));
}

static int read_binding(struct inspect_names *names, struct inspect_suspended *suspended,
                        sqlite3_stmt *statement)
{
    struct inspect_binding_event event = {
        .seq = inspect_u64(statement, 0), .ctx = (uint32_t)inspect_u64(statement, 1),
        .kind = inspect_text(statement, 2), .name = inspect_text(statement, 3),
        .field_cid = inspect_u64(statement, 4), .assigned = inspect_u64(statement, 5),
    };
    return inspect_names_binding(names, suspended, &event);
}

static int load_bindings(struct inspect *inspect)
{
    sqlite3_stmt *statement = inspect_prepare(inspect,
        "SELECT seq, ctx, kind, coalesce(json_extract(fields, '$.name'), "
        "json_extract(fields, '$.vm'), ''), json_extract(fields, '$.cid'), "
        "json_extract(fields, '$.assigned') FROM events WHERE kind IN ('host_create', "
        "'vm_create', 'ctx_create', 'vm_power_on', 'vm_resume', 'ctx_suspend', "
        "'ctx_resume', 'cid_reassigned') ORDER BY seq");
    if (statement == NULL)
        return 1;
    struct inspect_suspended *suspended = calloc(1, sizeof(*suspended));
    if (suspended == NULL) {
        sqlite3_finalize(statement);
        return inspect_fail(inspect, "out of memory");
    }
    int rc;
    while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
        if (read_binding(&inspect->names, suspended, statement) < 0) {
            inspect_suspended_free(suspended);
            sqlite3_finalize(statement);
            return inspect_fail(inspect, "more endpoints or CID changes than "
                                         "INSPECT_BINDINGS_MAX/INSPECT_NAMES_MAX");
        }
    }
    inspect_suspended_free(suspended);
    if (inspect->names.binding_count > 0)     /* qsort(NULL, 0, ...) is undefined */
        qsort(inspect->names.bindings, inspect->names.binding_count,
              sizeof(struct inspect_binding), inspect_bindings_compare);
    return inspect_finish(inspect, statement, rc);
}

static int load_processes(struct inspect *inspect)
{
    struct inspect_names *names = &inspect->names;
    sqlite3_stmt *statement = inspect_prepare(inspect,
        "SELECT pid, ctx, seq, json_extract(fields, '$.name') FROM events "
        "WHERE kind = 'proc_spawn' ORDER BY seq");
    if (statement == NULL)
        return 1;
    int rc;
    while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
        uint64_t pid = inspect_u64(statement, 0);
        void *array = names->processes;
        if (pid >= INSPECT_PROCESSES_MAX ||
            inspect_array_reserve(&array, &names->process_capacity, (uint32_t)pid,
                                  sizeof(struct inspect_process), INSPECT_PROCESSES_MAX) < 0) {
            sqlite3_finalize(statement);
            return inspect_fail(inspect, "a pid above INSPECT_PROCESSES_MAX");
        }
        names->processes = array;
        struct inspect_process *process = &names->processes[pid];
        snprintf(process->name, sizeof(process->name), "%s", inspect_text(statement, 3));
        process->owner_index = inspect_owner(names, (uint32_t)inspect_u64(statement, 1),
                                             inspect_u64(statement, 2));
    }
    return inspect_finish(inspect, statement, rc);
}

int inspect_names_load(struct inspect *inspect)
{
    if (inspect->summary && summary_load_names(inspect) == 0)
        return 0;                       /* else reported, inspect->summary cleared */
    int status = load_bindings(inspect);
    return status != 0 ? status : load_processes(inspect);
}

void inspect_names_free(struct inspect_names *names)
{
    free(names->name_slots);
    free(names->names);
    free(names->bindings);
    free(names->processes);
    memset(names, 0, sizeof(*names));
}

void inspect_who(const struct inspect_names *names, uint32_t ctx, uint32_t pid, uint64_t seq,
                 char *buffer, size_t buffer_bytes)
{
    uint32_t owner = inspect_owner(names, ctx, seq);
    char endpoint[INSPECT_NAME_BYTES + 16];
    if (owner != 0)
        snprintf(endpoint, sizeof(endpoint), "%s", inspect_name(names, owner));
    else if (ctx == CID_HYPERVISOR)
        snprintf(endpoint, sizeof(endpoint), "hypervisor");
    else
        snprintf(endpoint, sizeof(endpoint), "cid %" PRIu32, ctx);
    if (pid != 0 && pid < names->process_capacity && names->processes[pid].name[0] != '\0')
        snprintf(buffer, buffer_bytes, "%s/%s", endpoint, names->processes[pid].name);
    else if (pid != 0)
        snprintf(buffer, buffer_bytes, "%s/pid %" PRIu32, endpoint, pid);
    else
        snprintf(buffer, buffer_bytes, "%s", endpoint);
}

/* Appends to a bounded text; -1 when INSPECT_WHERE_BYTES_MAX would be passed. */
struct where_text {
    char *text;
    size_t length;
};

static int where_append(struct where_text *where, const char *piece)
{
    size_t piece_length = strlen(piece);
    if (where->length + piece_length + 1 > INSPECT_WHERE_BYTES_MAX)
        return -1;
    memcpy(where->text + where->length, piece, piece_length + 1);
    where->length += piece_length;
    return 0;
}

/* " AND ((ctx = c AND seq >= a AND seq < b) OR ...)": the seq ranges in which the VM named
 * `name_index` held each of its CIDs. A range ends at the next binding of that CID. */
static int where_vm(const struct inspect_names *names, uint32_t name_index,
                    struct where_text *where)
{
    int rc = where_append(where, " AND (0");
    for (uint32_t index = 0; rc == 0 && index < names->binding_count; index++) {
        const struct inspect_binding *binding = &names->bindings[index];
        if (binding->name_index != name_index)
            continue;
        const struct inspect_binding *next = index + 1 < names->binding_count
                                                 ? &names->bindings[index + 1] : NULL;
        int has_end = next != NULL && next->cid == binding->cid;
        /* Events before the first binding of a CID belong to its first holder. */
        int is_first = index == 0 || names->bindings[index - 1].cid != binding->cid;
        char piece[160];
        snprintf(piece, sizeof(piece), " OR (ctx = %" PRIu32 " AND seq >= %" PRIu64, binding->cid,
                 is_first ? 0 : binding->seq);
        rc = where_append(where, piece);
        if (rc == 0 && has_end) {
            snprintf(piece, sizeof(piece), " AND seq < %" PRIu64, next->seq);
            rc = where_append(where, piece);
        }
        if (rc == 0)
            rc = where_append(where, ")");
    }
    return rc == 0 ? where_append(where, ")") : rc;
}

static int where_filters(const struct inspect *inspect, uint32_t vm_index,
                         struct where_text *where)
{
    const struct inspect_filter *filter = &inspect->filter;
    char piece[160];
    int rc = 0;
    if (filter->has_from) {
        snprintf(piece, sizeof(piece), " AND time_ns >= %" PRIu64, filter->from_ns);
        rc = where_append(where, piece);
    }
    if (rc == 0 && filter->has_to) {
        snprintf(piece, sizeof(piece), " AND time_ns <= %" PRIu64, filter->to_ns);
        rc = where_append(where, piece);
    }
    if (rc == 0 && filter->layer_max != 0) {
        rc = where_append(where, " AND layer IN (''");
        for (int layer = SIM_LAYER_API; rc == 0 && layer <= filter->layer_max; layer++) {
            snprintf(piece, sizeof(piece), ", '%s'", sim_layer_name((enum sim_layer)layer));
            rc = where_append(where, piece);
        }
        rc = rc == 0 ? where_append(where, ")") : rc;
    }
    if (rc == 0 && vm_index != 0)
        rc = where_vm(&inspect->names, vm_index, where);
    return rc;
}

int inspect_where_build(struct inspect *inspect)
{
    uint32_t vm_index = 0;
    if (inspect->filter.vm_name != NULL) {
        for (uint32_t index = 0; index < inspect->names.binding_count; index++) {
            uint32_t name_index = inspect->names.bindings[index].name_index;
            if (strcmp(inspect_name(&inspect->names, name_index), inspect->filter.vm_name) == 0)
                vm_index = name_index;
        }
        if (vm_index == 0)
            return cli_usage_error("inspect --vm: no VM or host named '%s' in this trace "
                                   "(`inspect FILE vms` lists them)", inspect->filter.vm_name);
    }
    struct where_text where = { .text = malloc(INSPECT_WHERE_BYTES_MAX), .length = 0 };
    if (where.text == NULL)
        return inspect_fail(inspect, "out of memory");
    where.text[0] = '\0';
    if (where_filters(inspect, vm_index, &where) < 0) {
        free(where.text);
        return inspect_fail(inspect, "the --vm filter needs more than INSPECT_WHERE_BYTES_MAX "
                                     "of SQL (too many CID changes)");
    }
    inspect->where = where.text;
    return 0;
}
