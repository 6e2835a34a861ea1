/* SPDX-License-Identifier: MIT */
/*
 * sim/export/names.c: which endpoint (host or VM name) a context id stands for, at each
 * point of a trace.
 *
 * A CID is not a name: a powered-off VM's CID can go to the next VM (vmC gets vmA's 5000),
 * and a VM can come back from a suspend under another CID (R207). So the exporters key
 * their participants by name and ask this table, event by event, what a CID means now.
 * The table is sorted by CID (binary search: a lookup per event on big traces).
 */
#include <stdlib.h>
#include <string.h>

#include "export_int.h"

struct entry {
    uint32_t ctx;
    char name[EXPORT__NAME_BYTES_MAX];
};

struct table {
    struct entry *entries;          /* sorted by ctx, unique */
    uint32_t count;
    uint32_t capacity;
};

struct export__names {
    struct table current;           /* what each CID means now */
    struct table suspended;         /* name of each suspended CID, until it resumes */
    char fallback[32];              /* "cid N" of the last unnamed lookup */
};

const char *const export__names_kinds[] = {
    "host_create", "vm_create", "ctx_create", "cid_reassigned", "ctx_suspend", "ctx_resume",
    "vm_suspend", "vm_resume", "vm_power_on", "vm_vmotion", NULL,
};

struct export__names *export__names_create(void)
{
    return calloc(1, sizeof(struct export__names));
}

void export__names_destroy(struct export__names *names)
{
    if (names == NULL)
        return;
    free(names->current.entries);
    free(names->suspended.entries);
    free(names);
}

/* The index of `ctx`, or of where it would go (*found false). */
static uint32_t table_find(const struct table *table, uint32_t ctx, bool *found)
{
    uint32_t low = 0, high = table->count;
    while (low < high) {
        uint32_t middle = low + (high - low) / 2;
        if (table->entries[middle].ctx < ctx)
            low = middle + 1;
        else
            high = middle;
    }
    *found = low < table->count && table->entries[low].ctx == ctx;
    return low;
}

/* Names `ctx`; returns true when that changed something. A full table (EXPORT__CONTEXTS_MAX)
 * learns nothing more: those contexts read as "cid N", deterministically. */
static bool table_set(struct table *table, uint32_t ctx, const char *name)
{
    bool found;
    uint32_t index = table_find(table, ctx, &found);
    if (found) {
        if (strncmp(table->entries[index].name, name, EXPORT__NAME_BYTES_MAX - 1) == 0)
            return false;
    } else {
        if (table->count == EXPORT__CONTEXTS_MAX)
            return false;
        if (table->count == table->capacity) {
            uint32_t capacity = table->capacity == 0 ? 16 : table->capacity * 2;
            struct entry *grown = realloc(table->entries, capacity * sizeof *grown);
            if (grown == NULL)
                return false;
            table->entries = grown;
            table->capacity = capacity;
        }
        memmove(&table->entries[index + 1], &table->entries[index],
                (table->count - index) * sizeof *table->entries);
        table->count++;
        table->entries[index].ctx = ctx;
    }
    snprintf(table->entries[index].name, EXPORT__NAME_BYTES_MAX, "%s", name);
    return true;
}

static const char *table_get(const struct table *table, uint32_t ctx)
{
    bool found;
    uint32_t index = table_find(table, ctx, &found);
    return found ? table->entries[index].name : NULL;
}

bool export__names_update(struct export__names *names, const struct export__event *event)
{
    const char *kind = event->kind;
    if (strcmp(kind, "host_create") == 0 || strcmp(kind, "vm_create") == 0)
        return table_set(&names->current, (uint32_t)export__field_u64(event, EXPORT__F_CID),
                         export__field_str(event, EXPORT__F_NAME));
    if (strcmp(kind, "cid_reassigned") == 0)
        return table_set(&names->current,
                         (uint32_t)export__field_u64(event, EXPORT__F_ASSIGNED),
                         export__field_str(event, EXPORT__F_VM));
    if (strcmp(kind, "ctx_suspend") == 0) {
        const char *name = table_get(&names->current, event->ctx);
        if (name != NULL)
            table_set(&names->suspended, event->ctx, name);
        return false;
    }
    if (strcmp(kind, "ctx_resume") == 0) {
        /* ctx is the CID it resumes under; `cid` the one it was suspended with (R207). */
        const char *name = table_get(&names->suspended,
                                     (uint32_t)export__field_u64(event, EXPORT__F_CID));
        return name != NULL && table_set(&names->current, event->ctx, name);
    }
    if (export__field_present(event, EXPORT__F_VM))
        return table_set(&names->current, event->ctx, export__field_str(event, EXPORT__F_VM));
    return false;
}

const char *export__names_get(struct export__names *names, uint32_t ctx)
{
    const char *name = table_get(&names->current, ctx);
    if (name != NULL)
        return name;
    if (ctx == 0)
        return "hypervisor";
    if (ctx == 2)
        return "host";              /* world_create comes before host_create names it */
    snprintf(names->fallback, sizeof names->fallback, "cid %u", ctx);
    return names->fallback;
}
