/* SPDX-License-Identifier: MIT */
/*
 * sim/export/mermaid.c: a trace as a Mermaid sequence diagram (docs/cli.md).
 *
 * Participants are the host and the VMs by name (P1, P2 ... in order of first use, shown
 * as "NAME (cid N)"). Messages, in trace order:
 *   - an arrow per control packet sent (pkt_send): "TYPE sport to dport" at its time;
 *   - an open arrow per datagram routed between endpoints (as pcap.c selects them);
 *   - a note per socket call (sock_*: the process, the call, its socket and result), per
 *     failed packet send, lost connection, and lifecycle event (vm_*, cid_reassigned).
 * A diagram holds at most options->mermaid_messages_max messages and
 * options->mermaid_characters_max characters (mermaid.live refuses longer texts): a message
 * that does not fit is counted, and a final note says how many were left out (--from/--to
 * choose a window, --connection N one connection). Each message is composed with the
 * participants it declares first and written whole or not at all, so the cut is clean.
 * With options->connection, only that connection's packets, its two sockets' calls, its
 * detach notices and its endpoints' lifecycle events while it lasted are drawn.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "export_int.h"

/* Participants a diagram may declare; more than the message bound could ever use twice. */
#define MERMAID_PARTICIPANTS_MAX (2u * EXPORT_MERMAID_MESSAGES_MAX)
/* Slots of the hash index of participant names: a power of two, at least four times
 * MERMAID_PARTICIPANTS_MAX, so a lookup probes about one slot. */
#define MERMAID_NAME_SLOTS 16384u
_Static_assert(MERMAID_NAME_SLOTS >= 4u * MERMAID_PARTICIPANTS_MAX &&
               (MERMAID_NAME_SLOTS & (MERMAID_NAME_SLOTS - 1u)) == 0,
               "a power of two with room for every participant");
/* Simulated process names remembered (proc_spawn) for the notes. */
#define MERMAID_PROCESSES_MAX (1u << 20)
#define MERMAID_TEXT_BYTES_MAX 256u
/* One message and the (at most two) participant declarations it brings. */
#define MERMAID_PENDING_BYTES_MAX 1024u
/* Kept free for the final note, so that the whole diagram stays within the bound. */
#define MERMAID_NOTE_RESERVE_BYTES 320u

struct participant {
    char name[EXPORT__NAME_BYTES_MAX];
};

struct process_name {
    uint32_t pid;
    char name[EXPORT__NAME_BYTES_MAX];
};

struct mermaid_state {
    FILE *out;
    const struct export_options *options;
    struct export__names *names;
    struct participant *participants;
    uint32_t participant_count;
    uint32_t participant_capacity;
    /* MERMAID_NAME_SLOTS slots of linear probing, each a participant's index + 1 or 0: the
     * lookup by name was a scan of every participant per message (quadratic in them). */
    uint32_t *name_slots;
    struct process_name *processes;         /* in spawn order; looked up only to write */
    uint32_t process_count;
    uint32_t process_capacity;
    uint64_t written;
    uint64_t left_out;
    uint64_t characters;                    /* written to out so far */
    bool full;                              /* a message did not fit: none after it does */
    char pending[MERMAID_PENDING_BYTES_MAX];
    size_t pending_bytes;
    uint32_t participants_committed;        /* declared in what was written */
    const struct export_span *sides[2];     /* options->connection's sides, else NULL */
};

static const char *const mermaid_kinds[] = {
    "host_create", "vm_create", "ctx_create", "cid_reassigned", "ctx_suspend", "ctx_resume",
    "vm_suspend", "vm_resume", "vm_power_on", "vm_power_off", "vm_vmotion", "vm_freeze",
    "vm_thaw", "vm_ft_on", "vm_ft_off", "proc_spawn", "pkt_send", "pkt_send_failed",
    "peer_detach", "dg_route", "sock_listen", "sock_connect", "sock_accept", "sock_send",
    "sock_recv", "sock_shutdown", "sock_close", NULL,
};
_Static_assert(sizeof mermaid_kinds / sizeof mermaid_kinds[0] <= EXPORT__SCAN_KINDS_MAX + 1,
               "one scan names at most EXPORT__SCAN_KINDS_MAX kinds");

/* Mermaid text ends a statement at ';' or a newline and reads '#' as an entity: keep a
 * plain subset, replace the rest with '_'. */
static void sanitize(char *text)
{
    for (char *cursor = text; *cursor != '\0'; cursor++) {
        unsigned char byte = (unsigned char)*cursor;
        bool plain = (byte >= 'a' && byte <= 'z') || (byte >= 'A' && byte <= 'Z') ||
                     (byte >= '0' && byte <= '9') || strchr(" _-.:()/=,", byte) != NULL;
        if (!plain)
            *cursor = '_';
    }
}

/* Appends to the message being composed; a line too long for the buffer is cut (the
 * texts are bounded far below it). */
__attribute__((format(printf, 2, 3)))
static void pending_printf(struct mermaid_state *state, const char *format, ...)
{
    size_t room = sizeof state->pending - state->pending_bytes;
    va_list arguments;
    va_start(arguments, format);
    int length = vsnprintf(state->pending + state->pending_bytes, room, format, arguments);
    va_end(arguments);
    if (length > 0)
        state->pending_bytes += (size_t)length < room ? (size_t)length : room - 1;
}

static uint32_t name_slot_first(const char *name)
{
    uint32_t hash = 2166136261u;                        /* FNV-1a */
    for (const unsigned char *cursor = (const unsigned char *)name; *cursor != '\0'; cursor++)
        hash = (hash ^ *cursor) * 16777619u;
    return hash & (MERMAID_NAME_SLOTS - 1u);
}

/* Forgets the participants declared since the last commit, the last first: each was put in
 * the first free slot of its probe, after every name still indexed, so emptying its slot
 * breaks no other probe. */
static void forget_uncommitted(struct mermaid_state *state)
{
    while (state->participant_count > state->participants_committed) {
        uint32_t index = --state->participant_count;
        uint32_t slot = name_slot_first(state->participants[index].name);
        while (state->name_slots[slot] != index + 1u)
            slot = (slot + 1u) & (MERMAID_NAME_SLOTS - 1u);
        state->name_slots[slot] = 0;
    }
}

/* Writes the composed message if the diagram has room for it (the final note's reserve
 * kept), else forgets it and the participants it declared, and counts it as left out. Once
 * one message did not fit, no later one is drawn either: the diagram is a clean prefix of
 * the run, as with the message bound. */
static void commit(struct mermaid_state *state)
{
    uint64_t limit = state->options->mermaid_characters_max;
    if (state->characters + state->pending_bytes + MERMAID_NOTE_RESERVE_BYTES > limit)
        state->full = true;
    if (state->full) {
        forget_uncommitted(state);
        state->written--;
        state->left_out++;
    } else {
        fwrite(state->pending, 1, state->pending_bytes, state->out);
        state->characters += state->pending_bytes;
        state->participants_committed = state->participant_count;
    }
    state->pending_bytes = 0;
}

/* The id (1-based) of the participant named `name`, declared on first use. */
static uint32_t participant(struct mermaid_state *state, uint32_t ctx)
{
    const char *name = export__names_get(state->names, ctx);
    uint32_t slot = name_slot_first(name);
    for (; state->name_slots[slot] != 0; slot = (slot + 1u) & (MERMAID_NAME_SLOTS - 1u)) {
        uint32_t index = state->name_slots[slot] - 1u;
        if (strcmp(state->participants[index].name, name) == 0)
            return index + 1;
    }
    if (!export__grow((void **)&state->participants, &state->participant_capacity,
                      state->participant_count, sizeof *state->participants,
                      MERMAID_PARTICIPANTS_MAX))
        return state->participant_count;
    struct participant *entry = &state->participants[state->participant_count++];
    snprintf(entry->name, sizeof entry->name, "%s", name);
    /* Indexed by the name as stored: a longer name (cut) never matches it, as before. */
    slot = name_slot_first(entry->name);
    while (state->name_slots[slot] != 0)
        slot = (slot + 1u) & (MERMAID_NAME_SLOTS - 1u);
    state->name_slots[slot] = state->participant_count;
    char label[EXPORT__NAME_BYTES_MAX + 32];
    if (strncmp(name, "cid ", 4) == 0)
        snprintf(label, sizeof label, "%s", name);
    else
        snprintf(label, sizeof label, "%s (cid %u)", name, ctx);
    sanitize(label);
    pending_printf(state, "    participant P%u as %s\n", state->participant_count, label);
    return state->participant_count;
}

static const char *process_name(const struct mermaid_state *state, uint32_t pid)
{
    for (uint32_t index = state->process_count; index > 0; index--)
        if (state->processes[index - 1].pid == pid)
            return state->processes[index - 1].name;
    return "";
}

static void remember_process(struct mermaid_state *state, const struct export__event *event)
{
    if (!export__grow((void **)&state->processes, &state->process_capacity,
                      state->process_count, sizeof *state->processes, MERMAID_PROCESSES_MAX))
        return;                     /* its notes say "pid N" only */
    struct process_name *slot = &state->processes[state->process_count++];
    slot->pid = event->pid;
    snprintf(slot->name, sizeof slot->name, "%s", export__field_str(event, EXPORT__F_NAME));
}

/* Counts a message; true when the diagram still has room for it. */
static bool admit(struct mermaid_state *state)
{
    if (state->written >= state->options->mermaid_messages_max) {
        state->left_out++;
        return false;
    }
    state->written++;
    return true;
}

static void write_time(struct mermaid_state *state, uint64_t time_ns)
{
    pending_printf(state, " at %" PRIu64 ".%03uus\n", time_ns / 1000u,
                   (unsigned)(time_ns % 1000u));
}

static void write_arrow(struct mermaid_state *state, uint32_t from_ctx, uint32_t to_ctx,
                        const char *arrow, char *text, uint64_t time_ns)
{
    uint32_t from = participant(state, from_ctx);
    uint32_t to = participant(state, to_ctx);
    sanitize(text);
    pending_printf(state, "    P%u%sP%u: %s", from, arrow, to, text);
    write_time(state, time_ns);
    commit(state);
}

static void write_note(struct mermaid_state *state, uint32_t ctx, char *text, uint64_t time_ns)
{
    uint32_t over = participant(state, ctx);
    sanitize(text);
    pending_printf(state, "    Note over P%u: %s", over, text);
    write_time(state, time_ns);
    commit(state);
}

static void on_packet(struct mermaid_state *state, const struct export__event *event)
{
    uint64_t src = export__field_u64(event, EXPORT__F_SRC);
    uint64_t dst = export__field_u64(event, EXPORT__F_DST);
    char text[MERMAID_TEXT_BYTES_MAX];
    snprintf(text, sizeof text, "%.32s %u to %u", export__field_str(event, EXPORT__F_TYPE),
             (uint32_t)src, (uint32_t)dst);
    if (strcmp(event->kind, "pkt_send_failed") == 0) {
        snprintf(text, sizeof text, "%.32s to %u:%u failed (%" PRId64 ")",
                 export__field_str(event, EXPORT__F_TYPE), (uint32_t)(dst >> 32),
                 (uint32_t)dst, export__field_i64(event, EXPORT__F_RESULT));
        write_note(state, event->ctx, text, event->time_ns);
        return;
    }
    write_arrow(state, (uint32_t)(src >> 32), (uint32_t)(dst >> 32), "->>", text,
                event->time_ns);
}

static void on_datagram(struct mermaid_state *state, const struct export__event *event)
{
    uint64_t src_cid = export__field_u64(event, EXPORT__F_SRC_CID);
    char text[MERMAID_TEXT_BYTES_MAX];
    snprintf(text, sizeof text, "datagram %" PRIu64 " to %" PRIu64 ", %" PRIu64 " bytes",
             export__field_u64(event, EXPORT__F_SRC_RID),
             export__field_u64(event, EXPORT__F_DST_RID),
             export__field_u64(event, EXPORT__F_SIZE) - 24u /* VMCI_DG_HEADERSIZE */);
    write_arrow(state, src_cid == UINT32_MAX ? event->ctx : (uint32_t)src_cid,
                (uint32_t)export__field_u64(event, EXPORT__F_DST_CID), "-)", text,
                event->time_ns);
}

static void on_note(struct mermaid_state *state, const struct export__event *event)
{
    char text[MERMAID_TEXT_BYTES_MAX];
    if (strncmp(event->kind, "sock_", 5) == 0) {
        const char *name = process_name(state, event->pid);
        snprintf(text, sizeof text, "%s%spid %u: %s socket %" PRIu64 " = %" PRId64, name,
                 name[0] != '\0' ? " " : "", event->pid, event->kind + 5,
                 export__field_u64(event, EXPORT__F_SOCKET),
                 export__field_i64(event, EXPORT__F_RESULT));
    } else if (strcmp(event->kind, "peer_detach") == 0) {
        snprintf(text, sizeof text, "port %" PRIu64 ": peer detached",
                 export__field_u64(event, EXPORT__F_PORT));
    } else if (strcmp(event->kind, "cid_reassigned") == 0) {
        snprintf(text, sizeof text, "cid_reassigned: %.63s gets cid %" PRIu64,
                 export__field_str(event, EXPORT__F_VM),
                 export__field_u64(event, EXPORT__F_ASSIGNED));
    } else {
        snprintf(text, sizeof text, "%s", event->kind);
    }
    write_note(state, event->ctx, text, event->time_ns);
}

static bool side_address(const struct export_span *side, uint64_t address)
{
    return (uint32_t)(address >> 32) == side->cid && (uint32_t)address == side->port;
}

/* With --connection N: whether the event belongs to the drawing of that connection. */
static bool in_connection(const struct mermaid_state *state, const struct export__event *event)
{
    const struct export_span *client = state->sides[0], *server = state->sides[1];
    if (client == NULL)
        return true;
    uint64_t end_ns = server != NULL && server->end_ns > client->end_ns ? server->end_ns
                                                                        : client->end_ns;
    if (event->time_ns < client->start_ns || event->time_ns > end_ns)
        return false;
    const char *kind = event->kind;
    if (strncmp(kind, "pkt_send", 8) == 0) {
        uint64_t src = export__field_u64(event, EXPORT__F_SRC);
        uint64_t dst = export__field_u64(event, EXPORT__F_DST);
        return (side_address(client, src) && (uint32_t)(dst >> 32) == client->peer_cid &&
                (uint32_t)dst == client->peer_port) ||
               (side_address(client, dst) && (uint32_t)(src >> 32) == client->peer_cid &&
                (uint32_t)src == client->peer_port);
    }
    for (int index = 0; index < 2; index++) {
        const struct export_span *side = state->sides[index];
        if (side == NULL || event->ctx != side->cid)
            continue;
        if (strncmp(kind, "sock_", 5) == 0 && side->socket != 0 &&
            export__field_u64(event, EXPORT__F_SOCKET) == side->socket)
            return true;
        if (strcmp(kind, "peer_detach") == 0 &&
            export__field_u64(event, EXPORT__F_PORT) == side->port)
            return true;
        if (strncmp(kind, "vm_", 3) == 0 || strcmp(kind, "cid_reassigned") == 0)
            return true;
    }
    return false;
}

static void on_event(struct mermaid_state *state, const struct export__event *event)
{
    export__names_update(state->names, event);
    const char *kind = event->kind;
    if (strcmp(kind, "proc_spawn") == 0) {
        remember_process(state, event);
        return;
    }
    if (!in_connection(state, event))
        return;
    if (strcmp(kind, "ctx_create") == 0 || strcmp(kind, "ctx_suspend") == 0 ||
        strcmp(kind, "ctx_resume") == 0)
        return;                     /* only for the names: the vm_* event that follows says it */
    if (strcmp(kind, "dg_route") == 0 && !export__dg_route_is_datagram(event))
        return;
    if (!admit(state))
        return;
    if (strcmp(kind, "pkt_send") == 0 || strcmp(kind, "pkt_send_failed") == 0)
        on_packet(state, event);
    else if (strcmp(kind, "dg_route") == 0)
        on_datagram(state, event);
    else
        on_note(state, event);
}

static int scan(struct mermaid_state *state, struct export__trace *trace, char *message)
{
    uint32_t fields = EXPORT__NAMES_FIELDS | EXPORT__DATAGRAM_FIELDS |
        EXPORT__FIELD_BIT(EXPORT__F_TYPE) | EXPORT__FIELD_BIT(EXPORT__F_SRC) |
        EXPORT__FIELD_BIT(EXPORT__F_DST) | EXPORT__FIELD_BIT(EXPORT__F_PORT) |
        EXPORT__FIELD_BIT(EXPORT__F_SOCKET);
    const struct export_options *options = state->options;
    if (export__trace_scan(trace, options->from_ns, options->to_ns, mermaid_kinds, fields,
                           message) != 0)
        return -1;
    fputs("sequenceDiagram\n", state->out);
    state->characters = strlen("sequenceDiagram\n");
    struct export__event event;
    int step;
    while ((step = export__trace_next(trace, &event, message)) == 1)
        on_event(state, &event);
    if (step < 0)
        return -1;
    if (state->left_out > 0 && state->participant_count == 0)
        participant(state, 2u);     /* a bound of 0: the note needs someone to stand over */
    if (state->left_out > 0)
        pending_printf(state, "    Note over P1: %" PRIu64 " more messages left out (at most %u "
                       "messages and %u characters in one diagram: export a window with "
                       "--from and --to, or one connection with --connection N)\n",
                       state->left_out, options->mermaid_messages_max,
                       options->mermaid_characters_max);
    fwrite(state->pending, 1, state->pending_bytes, state->out);
    return 0;
}

int export__mermaid_write(struct export__trace *trace, FILE *out,
                          const struct export_options *options, char *message)
{
    struct mermaid_state state = { .out = out, .options = options };
    for (uint32_t index = 0; options->connection != 0 && index < options->span_count; index++) {
        const struct export_span *span = &options->spans[index];
        if (span->number == options->connection && span->side < 2)
            state.sides[span->side] = span;
    }
    if (options->connection != 0 && state.sides[0] == NULL) {
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX, "mermaid export: the trace has no "
                 "connection %u (`vmcisim inspect FILE connections` lists them)",
                 options->connection);
        return -1;
    }
    state.names = export__names_create();
    state.name_slots = calloc(MERMAID_NAME_SLOTS, sizeof *state.name_slots);
    int rc;
    if (state.names == NULL || state.name_slots == NULL) {
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX, "mermaid export: out of memory");
        rc = -1;
    } else {
        rc = scan(&state, trace, message);
    }
    export__names_destroy(state.names);
    free(state.participants);
    free(state.name_slots);
    free(state.processes);
    return rc;
}
