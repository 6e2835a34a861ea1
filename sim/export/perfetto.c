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
 *   - flow arrows ("ph":"s" at the sender's event, "ph":"f" with "bp":"e" at the
 *     receiver's, same "id"), each written once both ends are seen, so every id has one
 *     start and one end: a control packet from its pkt_send to its pkt_recv (name = the
 *     packet type: WROTE and READ notifications among them, cat "transport"); a datagram
 *     between endpoints from its dg_route to its dg_deliver (name "datagram", cat "vmci");
 *     an interrupt from the first routing or event that gave a guest's device something to
 *     deliver to that device's interrupt (name "interrupt", cat "vmci"). Ends are matched
 *     oldest first; a start still unmatched when PERFETTO_PENDING_FLOWS_MAX newer ones wait
 *     is forgotten (no arrow rather than a wrong one);
 *   - one slice ("ph":"X") per side of each stream connection that sim/cli passes in
 *     options->spans, from the connect (the client) or the attach (the server) to that
 *     side's close, on a thread of its own ("connection #N client"), so slices never
 *     overlap on a track.
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
/* Flow starts waiting for their end (packets and datagrams in flight, interrupts due). */
#define PERFETTO_PENDING_FLOWS_MAX 4096u
/* Connection threads' tids: connection N's side S is BASE + 2N + S (N < 2^22). */
#define PERFETTO_CONNECTION_TID_BASE 2000000000u

enum flow_kind { FLOW_PACKET, FLOW_DATAGRAM, FLOW_INTERRUPT };

/* A flow's start, until its end is seen. */
struct pending_flow {
    enum flow_kind kind;
    uint64_t key[3];                /* what the end must match (see flow_keys) */
    char type[16];                  /* a packet's type */
    uint64_t time_ns;
    uint32_t pid, tid;
};

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
    struct process *processes;      /* in order of appearance: processes[i].id is i + 1 */
    uint32_t process_count;
    uint32_t process_capacity;
    /* Indexes into processes, sorted by name: a new name moves 4 bytes per process after
     * it, not a whole struct process (a trace naming thousands of endpoints made that
     * quadratic copy the largest cost of exporting it). */
    uint32_t *process_order;
    uint32_t process_order_capacity;
    struct thread *threads;         /* sorted by sim_pid */
    uint32_t thread_count;
    uint32_t thread_capacity;
    uint64_t last_time_ns;
    struct pending_flow *pending;   /* oldest first */
    uint32_t pending_count;
    uint64_t flow_count;            /* ids given so far */
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
        const struct process *process = &state->processes[state->process_order[middle]];
        int order = strcmp(process->name, name);
        if (order == 0)
            return process->id;
        if (order < 0)
            low = middle + 1;
        else
            high = middle;
    }
    if (!export__grow((void **)&state->processes, &state->process_capacity,
                      state->process_count, sizeof *state->processes, PERFETTO_PROCESSES_MAX) ||
        !export__grow((void **)&state->process_order, &state->process_order_capacity,
                      state->process_count, sizeof *state->process_order,
                      PERFETTO_PROCESSES_MAX))
        return state->process_count;            /* full: the last one made (at least 1) */
    uint32_t *position = &state->process_order[low];
    memmove(position + 1, position, (state->process_count - low) * sizeof *position);
    *position = state->process_count;
    struct process *slot = &state->processes[state->process_count];
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

/* Remembers a flow's start; when the table is full the oldest start is forgotten. */
static void flow_begin(struct perfetto_state *state, enum flow_kind kind, const uint64_t key[3],
                       const char *type, const struct export__event *event, uint32_t pid,
                       uint32_t tid)
{
    if (state->pending_count == PERFETTO_PENDING_FLOWS_MAX) {
        memmove(state->pending, state->pending + 1,
                (PERFETTO_PENDING_FLOWS_MAX - 1) * sizeof *state->pending);
        state->pending_count--;
    }
    struct pending_flow *slot = &state->pending[state->pending_count++];
    *slot = (struct pending_flow){ .kind = kind, .key = { key[0], key[1], key[2] },
                                   .time_ns = event->time_ns, .pid = pid, .tid = tid };
    snprintf(slot->type, sizeof slot->type, "%s", type);
}

static int flow_find(const struct perfetto_state *state, enum flow_kind kind,
                     const uint64_t key[3], const char *type)
{
    for (uint32_t index = 0; index < state->pending_count; index++) {
        const struct pending_flow *flow = &state->pending[index];
        if (flow->kind == kind && flow->key[0] == key[0] && flow->key[1] == key[1] &&
            flow->key[2] == key[2] && strcmp(flow->type, type) == 0)
            return (int)index;
    }
    return -1;
}

static void write_flow_edge(struct perfetto_state *state, char phase, uint64_t id,
                            const char *name, const char *category, uint64_t time_ns,
                            uint32_t pid, uint32_t tid)
{
    begin_event(state);
    fprintf(state->out, "{\"ph\":\"%c\",%s\"id\":%" PRIu64 ",\"name\":", phase,
            phase == 'f' ? "\"bp\":\"e\"," : "", id);
    export__json_string(state->out, name);
    fprintf(state->out, ",\"cat\":\"%s\",\"ts\":", category);
    write_ts(state->out, time_ns);
    fprintf(state->out, ",\"pid\":%u,\"tid\":%u}", pid, tid);
}

/* Writes the arrow from the oldest matching start to this event, if there is one. */
static void flow_end(struct perfetto_state *state, enum flow_kind kind, const uint64_t key[3],
                     const char *type, const struct export__event *event, uint32_t pid,
                     uint32_t tid)
{
    int index = flow_find(state, kind, key, type);
    if (index < 0)
        return;
    struct pending_flow flow = state->pending[index];
    memmove(state->pending + index, state->pending + index + 1,
            (state->pending_count - (uint32_t)index - 1) * sizeof *state->pending);
    state->pending_count--;
    const char *name = kind == FLOW_PACKET ? flow.type
                       : kind == FLOW_DATAGRAM ? "datagram" : "interrupt";
    const char *category = kind == FLOW_PACKET ? "transport" : "vmci";
    uint64_t id = ++state->flow_count;
    write_flow_edge(state, 's', id, name, category, flow.time_ns, flow.pid, flow.tid);
    write_flow_edge(state, 'f', id, name, category, event->time_ns, pid, tid);
}

/* The flows an event starts or ends. Packets match on (src, dst, type); datagrams on
 * (source context and resource, destination context, destination resource); interrupts on
 * the guest's context, one start per interrupt still due. */
static void on_flow(struct perfetto_state *state, const struct export__event *event,
                    uint32_t pid, uint32_t tid)
{
    const char *kind = event->kind;
    bool sent = strcmp(kind, "pkt_send") == 0;
    if (sent || strcmp(kind, "pkt_recv") == 0) {
        uint64_t key[3] = { export__field_u64(event, EXPORT__F_SRC),
                            export__field_u64(event, EXPORT__F_DST), 0 };
        const char *type = export__field_str(event, EXPORT__F_TYPE);
        if (sent)
            flow_begin(state, FLOW_PACKET, key, type, event, pid, tid);
        else
            flow_end(state, FLOW_PACKET, key, type, event, pid, tid);
    } else if (strcmp(kind, "dg_route") == 0 && export__field_i64(event, EXPORT__F_RESULT) >= 0) {
        uint64_t destination = export__field_u64(event, EXPORT__F_DST_CID);
        uint64_t key[3] = { destination, 0, 0 };
        if (destination != 0 && flow_find(state, FLOW_INTERRUPT, key, "") < 0)
            flow_begin(state, FLOW_INTERRUPT, key, "", event, pid, tid);
        if (!export__dg_route_is_datagram(event))
            return;
        key[0] = export__field_u64(event, EXPORT__F_SRC_CID) << 32 |
                 (export__field_u64(event, EXPORT__F_SRC_RID) & 0xffffffffu);
        key[1] = destination;
        key[2] = export__field_u64(event, EXPORT__F_DST_RID);
        flow_begin(state, FLOW_DATAGRAM, key, "", event, pid, tid);
    } else if (strcmp(kind, "dg_deliver") == 0) {
        uint64_t key[3] = { export__field_u64(event, EXPORT__F_SRC_CID) << 32 |
                                (export__field_u64(event, EXPORT__F_SRC_RID) & 0xffffffffu),
                            event->ctx, export__field_u64(event, EXPORT__F_DST_RID) };
        flow_end(state, FLOW_DATAGRAM, key, "", event, pid, tid);
    } else if (strcmp(kind, "event_send") == 0) {
        uint64_t key[3] = { event->ctx, 0, 0 };
        if (flow_find(state, FLOW_INTERRUPT, key, "") < 0)
            flow_begin(state, FLOW_INTERRUPT, key, "", event, pid, tid);
    } else if (strcmp(kind, "interrupt") == 0) {
        uint64_t key[3] = { event->ctx, 0, 0 };
        flow_end(state, FLOW_INTERRUPT, key, "", event, pid, tid);
    }
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
    on_flow(state, event, pid, tid);
    if (thread != NULL && !thread->blocked && strcmp(event->kind, "proc_block") == 0) {
        char name[SIM_WAITQ_NAME_BYTES_MAX + 8];
        snprintf(name, sizeof name, "wait %s", export__field_str(event, EXPORT__F_WAITS_ON));
        write_slice_edge(state, 'B', event->time_ns, pid, tid, name);
        thread->blocked = true;
    }
    state->last_time_ns = event->time_ns;
}

/* One side of one connection: a complete slice on its own thread, cut to the window. */
static void write_connection(struct perfetto_state *state, const struct export_span *span,
                             const struct export_options *options)
{
    uint64_t start_ns = span->start_ns > options->from_ns ? span->start_ns : options->from_ns;
    uint64_t end_ns = span->end_ns < options->to_ns ? span->end_ns : options->to_ns;
    if (start_ns > end_ns || span->number >= (1u << 22) || span->side > 1)
        return;
    uint32_t pid = process_of(state, span->endpoint, span->cid);
    uint32_t tid = PERFETTO_CONNECTION_TID_BASE + 2u * span->number + span->side;
    char name[EXPORT__NAME_BYTES_MAX + 96];
    snprintf(name, sizeof name, "connection #%u %s (port %u)", span->number,
             span->side == 0 ? "client" : "server", span->port);
    write_metadata(state, "thread_name", pid, tid, name);
    snprintf(name, sizeof name, "#%u %u:%u <-> %u:%u", span->number, span->cid, span->port,
             span->peer_cid, span->peer_port);
    begin_event(state);
    fputs("{\"ph\":\"X\",\"cat\":\"connection\",\"name\":", state->out);
    export__json_string(state->out, name);
    fputs(",\"ts\":", state->out);
    write_ts(state->out, start_ns);
    fputs(",\"dur\":", state->out);
    write_ts(state->out, end_ns - start_ns);
    fprintf(state->out, ",\"pid\":%u,\"tid\":%u,\"args\":{\"connection\":%u,\"side\":\"%s\","
            "\"end\":", pid, tid, span->number, span->side == 0 ? "client" : "server");
    export__json_string(state->out, span->end[0] != '\0' ? span->end : "open at the end");
    fputs("}}", state->out);
}

static int scan(struct perfetto_state *state, struct export__trace *trace,
                const struct export_options *options, char *message)
{
    uint32_t fields = EXPORT__NAMES_FIELDS | EXPORT__DATAGRAM_FIELDS |
                      EXPORT__FIELD_BIT(EXPORT__F_WAITS_ON) | EXPORT__FIELD_BIT(EXPORT__F_TYPE) |
                      EXPORT__FIELD_BIT(EXPORT__F_SRC) | EXPORT__FIELD_BIT(EXPORT__F_DST);
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
    for (uint32_t index = 0; index < options->span_count; index++)
        write_connection(state, &options->spans[index], options);
    fputs("\n]}\n", state->out);
    return 0;
}

int export__perfetto_write(struct export__trace *trace, FILE *out,
                           const struct export_options *options, char *message)
{
    struct perfetto_state state = { .out = out, .first = true };
    state.names = export__names_create();
    state.pending = calloc(PERFETTO_PENDING_FLOWS_MAX, sizeof *state.pending);
    int rc;
    if (state.names == NULL || state.pending == NULL) {
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX, "perfetto export: out of memory");
        rc = -1;
    } else {
        rc = scan(&state, trace, options, message);
    }
    export__names_destroy(state.names);
    free(state.processes);
    free(state.process_order);
    free(state.threads);
    free(state.pending);
    return rc;
}
