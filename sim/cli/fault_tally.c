/* SPDX-License-Identifier: MIT */
/*
 * sim/cli/fault_tally.c: reads a run's `fault_site` events (vmci/faults.c emits one per site
 * at the end of a run with faults on) and `fault_rate` events (sim/lua/fault_rates.c, one per
 * rate that is on) into counts, and prints them. Reading the trace keeps the command line
 * out of the model: it learns only what the trace says.
 */
#include <assert.h>
#include <inttypes.h>
#include <string.h>

#include "fault_tally.h"

/* The site named by a STR field; -1 if the field is not one of ours. */
static int site_of_field(const struct sim_trace_field *field)
{
    char name[64];
    if (field->type != SIM_FIELD_STR || field->value.blob.size_bytes >= sizeof(name))
        return -1;
    memcpy(name, field->value.blob.data, field->value.blob.size_bytes);
    name[field->value.blob.size_bytes] = '\0';
    return vmci_fault_site_of(name);
}

/* The rate named by a STR field; -1 if the field is not one of ours. */
static int rate_of_field(const struct sim_trace_field *field)
{
    char name[64];
    if (field->type != SIM_FIELD_STR || field->value.blob.size_bytes >= sizeof(name))
        return -1;
    memcpy(name, field->value.blob.data, field->value.blob.size_bytes);
    name[field->value.blob.size_bytes] = '\0';
    return simlua_fault_rate_of(name);
}

static void tally_rate(struct fault_tally *tally, const struct sim_trace_event *event)
{
    int rate = -1;
    uint64_t micro = 0, arrivals = 0, applied = 0;
    for (uint32_t index = 0; index < event->field_count; index++) {
        const struct sim_trace_field *field = &event->fields[index];
        if (strcmp(field->name, "rate") == 0)
            rate = rate_of_field(field);
        else if (field->type == SIM_FIELD_U64 && strcmp(field->name, "rate_micro_per_s") == 0)
            micro = field->value.u64;
        else if (field->type == SIM_FIELD_U64 && strcmp(field->name, "arrivals") == 0)
            arrivals = field->value.u64;
        else if (field->type == SIM_FIELD_U64 && strcmp(field->name, "applied") == 0)
            applied = field->value.u64;
    }
    if (rate < 0)
        return;
    tally->rate_on[rate] = 1;
    tally->rate_micro_per_s[rate] = micro;
    tally->arrivals[rate] = arrivals;
    tally->applied[rate] = applied <= arrivals ? applied : arrivals;
}

/* A `fault_rate` event: one rate's arrivals and applications. */
static int tally_rate_emit(void *state, const struct sim_trace_event *event, char *message)
{
    (void)message;
    assert(strcmp(event->kind, "fault_rate") == 0);
    tally_rate(state, event);
    return 0;
}

/* A `fault_site` event: one site's enabled flag and counts. */
static int tally_site_emit(void *state, const struct sim_trace_event *event, char *message)
{
    (void)message;
    assert(strcmp(event->kind, "fault_site") == 0);
    struct fault_tally *tally = state;
    int site = -1;
    uint64_t enabled = 0, reached = 0, fired = 0;
    for (uint32_t index = 0; index < event->field_count; index++) {
        const struct sim_trace_field *field = &event->fields[index];
        if (strcmp(field->name, "site") == 0)
            site = site_of_field(field);
        else if (field->type == SIM_FIELD_U64 && strcmp(field->name, "enabled") == 0)
            enabled = field->value.u64;
        else if (field->type == SIM_FIELD_U64 && strcmp(field->name, "reached") == 0)
            reached = field->value.u64;
        else if (field->type == SIM_FIELD_U64 && strcmp(field->name, "fired") == 0)
            fired = field->value.u64;
    }
    if (site < 0)
        return 0;
    tally->on = true;
    tally->enabled[site] = enabled != 0;
    tally->reached[site] = reached;
    tally->fired[site] = fired <= reached ? fired : reached;
    return 0;
}

/* The engine hands the sink only its two kinds (kind_only, kind_also): both come once per
 * site or rate, at the end of a run. */
static int tally_emit(void *state, const struct sim_trace_event *event, char *message)
{
    return strcmp(event->kind, "fault_site") == 0 ? tally_site_emit(state, event, message)
                                                  : tally_rate_emit(state, event, message);
}

void fault_tally_sinks(struct fault_tally *tally, struct sim_trace_sink sinks[FAULT_TALLY_SINKS])
{
    assert(tally != NULL && sinks != NULL);
    /* One sink naming its two kinds: the engine then skips every other event without a
     * call (a sink that saw every event cost about 20 instructions an event, 1 % of a
     * sweep seed, to find two kinds that come once, at the end of a run). */
    sinks[0] = (struct sim_trace_sink){ .name = "faults", .level = SIM_LAYER_DEVICE,
                                        .emit = tally_emit, .state = tally,
                                        .kind_only = "fault_site", .kind_also = "fault_rate" };
}

/* "fault rates: suspend 2/s: 3 arrivals, 3 applied; ..." for the rates that were on. */
static void print_rates(const struct fault_tally *tally, FILE *out)
{
    const char *separator = "fault rates:";
    for (int rate = 0; rate < SIMLUA_FAULT_RATE_COUNT; rate++) {
        if (!tally->rate_on[rate])
            continue;
        uint64_t micro = tally->rate_micro_per_s[rate];
        fprintf(out, "%s %s %" PRIu64, separator, simlua_fault_rate_name(rate), micro / 1000000u);
        if (micro % 1000000u != 0)
            fprintf(out, ".%06" PRIu64, micro % 1000000u);
        fprintf(out, "/s: %" PRIu64 " arrivals, %" PRIu64 " applied", tally->arrivals[rate],
                tally->applied[rate]);
        separator = ";";
    }
    if (separator[0] == ';')
        fprintf(out, "\n");
}

void fault_tally_print(const struct fault_tally *tally, FILE *out)
{
    assert(tally != NULL && out != NULL);
    if (!tally->on)
        return;                 /* rates are faults too: none without fault_site events */
    uint32_t enabled = 0;
    for (int site = 0; site < VMCI_FAULT_SITE_COUNT; site++)
        enabled += tally->enabled[site];
    fprintf(out, "faults: %" PRIu32 " of %d sites enabled", enabled, VMCI_FAULT_SITE_COUNT);
    const char *separator = ":";
    for (int site = 0; site < VMCI_FAULT_SITE_COUNT; site++) {
        if (!tally->enabled[site])
            continue;
        fprintf(out, "%s %s fired %" PRIu64 "/%" PRIu64 " reached", separator,
                vmci_fault_sites[site].name, tally->fired[site], tally->reached[site]);
        separator = ",";
    }
    fprintf(out, "\n");
    print_rates(tally, out);
}
