/* SPDX-License-Identifier: MIT */
/*
 * sim/export/perfetto.c: a trace as Chrome/Perfetto JSON trace events (docs/cli.md), for
 * ui.perfetto.dev or chrome://tracing.
 *
 *   - one process per endpoint (the host, each VM by name: a CID can change hands, R207),
 *     named "NAME (cid N)" with the CID it had when it first appeared;
 *   - one thread per simulated process (tid = its pid, named "NAME (pid P)"), and one
 *     "kernel" thread per endpoint for the events no process caused (pid 0);
 *   - one instant event ("ph":"i") per trace event: name = kind, cat = layer,
 *     args = {"seq": seq, the event's fields};
 *   - one slice per blocking call: "B" at proc_block (name "wait <waits_on>"), "E" at the
 *     next proc_resume of that process, or at the last event's time if it never resumed.
 * Timestamps are microseconds with the nanoseconds as three decimals ("ts":7.008), so no
 * precision is lost and the text is the same on every machine.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "export_int.h"

/* Kernel threads' tids: above any simulated pid, so a tid never names two threads. */
#define PERFETTO_KERNEL_TID_BASE 1000000000u
/* Endpoints and simulated processes a trace may show; past these, a new endpoint's events
 * go to the last process made and a new process's to its endpoint's kernel thread. */
#define PERFETTO_PROCESSES_MAX EXPORT__CONTEXTS_MAX
#define PERFETTO_THREADS_MAX (1u << 20)

struct process {
    char name[EXPORT__NAME_BYTES_MAX];
    uint32_t id;                    /* the JSON pid: 1, 2 ... in order of appearance */
};

struct thread {
    uint32_t sim_pid;
    uint32_t process_id;
    bool blocked;
};

struct perfetto_state {
    FILE *out;
    bool first;                     /* no event written yet: no comma before the next */
    struct export__names *names;
    struct process *processes;      /* sorted by name */
    uint32_t process_count;
    uint32_t process_capacity;
    struct thread *threads;         /* sorted by sim_pid */
    uint32_t thread_count;
    uint32_t thread_capacity;
    uint64_t last_time_ns;
};

static void begin_event(struct perfetto_state *state)
{
    fputs(state->first ? "\n" : ",\n", state->out);
    state->first = false;
}

static void write_ts(FILE *out, uint64_t time_ns)
{
    fprintf(out, "%" PRIu64 ".%03u", time_ns / 1000u, (unsigned)(time_ns % 1000u));
}

static void write_metadata(struct perfetto_state *state, const char *what, uint32_t pid,
                           uint32_t tid, const char *name)
{
    begin_event(state);
    fprintf(state->out, "{\"ph\":\"M\",\"name\":\"%s\",\"pid\":%u,\"tid\":%u,\"args\":{\"name\":",
            what, pid, tid);
    export__json_string(state->out, name);
    fputs("}}", state->out);
}

/* The process of the endpoint named `name`, made (with its metadata) on first sight. */
static uint32_t process_of(struct perfetto_state *state, const char *name, uint32_t ctx)
{
    uint32_t low = 0, high = state->process_count;
    while (low < high) {
        uint32_t middle = low + (high - low) / 2;
        int order = strcmp(state->processes[middle].name, name);
        if (order == 0)
            return state->processes[middle].id;
        if (order < 0)
            low = middle + 1;
        else
            high = middle;
    }
    if (!export__grow((void **)&state->processes, &state->process_capacity,
                      state->process_count, sizeof *state->processes, PERFETTO_PROCESSES_MAX))
        return state->process_count;            /* full: the last one made (at least 1) */
    struct process *slot = &state->processes[low];
    memmove(slot + 1, slot, (state->process_count - low) * sizeof *slot);
    state->process_count++;
    snprintf(slot->name, sizeof slot->name, "%s", name);
    slot->id = state->process_count;
    uint32_t id = slot->id;
    char label[EXPORT__NAME_BYTES_MAX + 32];
    if (strncmp(name, "cid ", 4) == 0)
        snprintf(label, sizeof label, "%s", name);
    else
        snprintf(label, sizeof label, "%s (cid %u)", name, ctx);
    write_metadata(state, "process_name", id, 0, label);
    write_metadata(state, "thread_name", id, PERFETTO_KERNEL_TID_BASE + id, "kernel");
    return id;
}

/* The thread of simulated process `sim_pid`, made on first sight in the endpoint of `ctx`. */
static struct thread *thread_of(struct perfetto_state *state, const struct export__event *event)
{
    uint32_t low = 0, high = state->thread_count;
    while (low < high) {
        uint32_t middle = low + (high - low) / 2;
        if (state->threads[middle].sim_pid == event->pid)
            return &state->threads[middle];
        if (state->threads[middle].sim_pid < event->pid)
            low = middle + 1;
        else
            high = middle;
    }
    uint32_t process_id = process_of(state, export__names_get(state->names, event->ctx),
                                     event->ctx);
    if (!export__grow((void **)&state->threads, &state->thread_capacity, state->thread_count,
                      sizeof *state->threads, PERFETTO_THREADS_MAX))
        return NULL;                            /* full: the kernel thread stands in */
    struct thread *slot = &state->threads[low];
    memmove(slot + 1, slot, (state->thread_count - low) * sizeof *slot);
    state->thread_count++;
    *slot = (struct thread){ .sim_pid = event->pid, .process_id = process_id };
    char label[EXPORT__NAME_BYTES_MAX + 32];
    if (strcmp(event->kind, "proc_spawn") == 0)
        snprintf(label, sizeof label, "%.*s (pid %u)", (int)EXPORT__NAME_BYTES_MAX - 1,
                 export__field_str(event, EXPORT__F_NAME), event->pid);
    else
        snprintf(label, sizeof label, "pid %u", event->pid);
    write_metadata(state, "thread_name", process_id, event->pid, label);
    return slot;
}

/* {"seq":N, then the event's own fields}: the fields text is already a JSON object. */
static void write_args(FILE *out, const struct export__event *event)
{
    fprintf(out, "\"args\":{\"seq\":%" PRIu64, event->seq);
    const char *fields = event->fields;
    if (fields[0] == '{' && fields[1] != '}' && fields[1] != '\0')
        fprintf(out, ",%s", fields + 1);
    else
        fputc('}', out);
}

static void write_slice_edge(struct perfetto_state *state, char phase, uint64_t time_ns,
                             uint32_t pid, uint32_t tid, const char *name)
{
    begin_event(state);
    fprintf(state->out, "{\"ph\":\"%c\",\"ts\":", phase);
    write_ts(state->out, time_ns);
    fprintf(state->out, ",\"pid\":%u,\"tid\":%u", pid, tid);
    if (name != NULL) {
        fputs(",\"name\":", state->out);
        export__json_string(state->out, name);
    }
    fputc('}', state->out);
}

static void on_event(struct perfetto_state *state, const struct export__event *event)
{
    export__names_update(state->names, event);
    uint32_t pid, tid;
    struct thread *thread = NULL;
    if (event->pid != 0)
        thread = thread_of(state, event);
    if (thread != NULL) {
        pid = thread->process_id;
        tid = event->pid;
    } else {
        pid = process_of(state, export__names_get(state->names, event->ctx), event->ctx);
        tid = PERFETTO_KERNEL_TID_BASE + pid;
    }
    if (thread != NULL && thread->blocked && strcmp(event->kind, "proc_resume") == 0) {
        write_slice_edge(state, 'E', event->time_ns, pid, tid, NULL);
        thread->blocked = false;
    }
    begin_event(state);
    fputs("{\"ph\":\"i\",\"s\":\"t\",\"name\":", state->out);
    export__json_string(state->out, event->kind);
    fputs(",\"cat\":", state->out);
    export__json_string(state->out, event->layer);
    fputs(",\"ts\":", state->out);
    write_ts(state->out, event->time_ns);
    fprintf(state->out, ",\"pid\":%u,\"tid\":%u,", pid, tid);
    write_args(state->out, event);
    fputc('}', state->out);
    if (thread != NULL && !thread->blocked && strcmp(event->kind, "proc_block") == 0) {
        char name[SIM_WAITQ_NAME_BYTES_MAX + 8];
        snprintf(name, sizeof name, "wait %s", export__field_str(event, EXPORT__F_WAITS_ON));
        write_slice_edge(state, 'B', event->time_ns, pid, tid, name);
        thread->blocked = true;
    }
    state->last_time_ns = event->time_ns;
}

static int scan(struct perfetto_state *state, struct export__trace *trace,
                const struct export_options *options, char *message)
{
    uint32_t fields = EXPORT__NAMES_FIELDS | EXPORT__FIELD_BIT(EXPORT__F_WAITS_ON);
    if (export__trace_scan(trace, options->from_ns, options->to_ns, NULL, fields, message) != 0)
        return -1;
    fputs("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[", state->out);
    struct export__event event;
    int step;
    while ((step = export__trace_next(trace, &event, message)) == 1)
        on_event(state, &event);
    if (step < 0)
        return -1;
    /* A process still blocked at the end (a daemon, a deadlock): its slice ends there. */
    for (uint32_t index = 0; index < state->thread_count; index++) {
        const struct thread *thread = &state->threads[index];
        if (thread->blocked)
            write_slice_edge(state, 'E', state->last_time_ns, thread->process_id,
                             thread->sim_pid, NULL);
    }
    fputs("\n]}\n", state->out);
    return 0;
}

int export__perfetto_write(struct export__trace *trace, FILE *out,
                           const struct export_options *options, char *message)
{
    struct perfetto_state state = { .out = out, .first = true };
    state.names = export__names_create();
    int rc;
    if (state.names == NULL) {
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX, "perfetto export: out of memory");
        rc = -1;
    } else {
        rc = scan(&state, trace, options, message);
    }
    export__names_destroy(state.names);
    free(state.processes);
    free(state.threads);
    return rc;
}
