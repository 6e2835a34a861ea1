/* SPDX-License-Identifier: MIT */
/*
 * sim/cli/inspect_model.c: sockets and stream connections rebuilt from a trace.
 *
 * One pass over the api and transport events (and vmci dg_route) in seq order:
 *   - A connection starts at the client's REQUEST/REQUEST2 pkt_send; its endpoints are
 *     (endpoint name, port) pairs so that a CID change does not split it. NEGOTIATE, OFFER
 *     and ATTACH advance it; ATTACH marks it established. RST, a failed connect, the first
 *     close, a peer_detach, a qp_resumed or a device_reset end it (the view prints each
 *     that happened). A transport data_discarded right after a detach (the host's unread
 *     bytes, R171) or right before a close (bytes the closer never read) is the loss of
 *     that side of that connection.
 *   - Sockets are (endpoint name, socket id). A stack numbers its sockets 1, 2, ... in
 *     creation order, and a listener creates a child for each REQUEST it answers with
 *     NEGOTIATE (vsock_child_create), so the child's id is the stack's next id then;
 *     sock_socket events give the counter exactly and re-synchronise it.
 *   - The client socket is the one whose sock_connect follows the REQUEST in the same
 *     process. Bytes are the results of sock_send/sock_recv on the two linked sockets.
 *   - A socket is "stream" when it listened, accepted, is a child, is linked to a
 *     connection, or a call on it emitted transport events; "dgram" when a send on it
 *     routed a VMCI datagram and emitted no transport event; "?" when the trace cannot say
 *     (for instance a trace written with --trace-level api).
 * Needs the transport layer in the trace for connections; with `--trace-level api` only
 * sockets are rebuilt. Tables are arrays in order of first appearance (deterministic).
 */
#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sim/cli/inspect_int.h"
#include "sim/cli/inspect_model.h"
#include "sim/cli/summary.h"
#include "sim/export/export.h"
#include "vsock/core.h"

const char *const inspect_call_names[CALL_COUNT] = {
    "socket", "bind", "listen", "connect", "accept", "send", "recv", "shutdown", "disconnect",
    "close",
};
const char *const inspect_side_names[SIDE_COUNT] = { "client", "server" };

static uint32_t hash_keys(uint64_t first, uint64_t second, uint32_t capacity)
{
    uint64_t hash = first * 0x9e3779b97f4a7c15u ^ (second + 0x632be59bd9b4e019u) *
                    0xbf58476d1ce4e5b9u;
    hash ^= hash >> 31;
    return (uint32_t)hash & (capacity - 1);
}

static uint32_t map_get(const struct index_map *map, uint64_t first, uint64_t second)
{
    if (map->capacity == 0)
        return NONE;
    uint32_t slot = hash_keys(first, second, map->capacity);
    for (uint32_t probe = 0; probe < map->capacity; probe++) {
        if (map->value[slot] == NONE)
            return NONE;
        if (map->first[slot] == first && map->second[slot] == second)
            return map->value[slot];
        slot = (slot + 1) & (map->capacity - 1);
    }
    return NONE;
}

static int map_put(struct index_map *map, uint64_t first, uint64_t second, uint32_t value);

static int map_grow(struct index_map *map)
{
    struct index_map grown = { .capacity = map->capacity == 0 ? 1024u : map->capacity * 2 };
    grown.first = calloc(grown.capacity, sizeof(uint64_t));
    grown.second = calloc(grown.capacity, sizeof(uint64_t));
    grown.value = calloc(grown.capacity, sizeof(uint32_t));
    int rc = grown.first != NULL && grown.second != NULL && grown.value != NULL ? 0 : -1;
    for (uint32_t slot = 0; rc == 0 && slot < map->capacity; slot++) {
        if (map->value[slot] != NONE)
            rc = map_put(&grown, map->first[slot], map->second[slot], map->value[slot]);
    }
    free(rc == 0 ? map->first : grown.first);
    free(rc == 0 ? map->second : grown.second);
    free(rc == 0 ? map->value : grown.value);
    if (rc == 0)
        *map = grown;
    return rc;
}

/* Sets (first, second) -> value, replacing an older value. */
static int map_put(struct index_map *map, uint64_t first, uint64_t second, uint32_t value)
{
    if ((map->count + 1) * 2 > map->capacity && map_grow(map) < 0)
        return -1;
    uint32_t slot = hash_keys(first, second, map->capacity);
    for (uint32_t probe = 0; probe < map->capacity; probe++) {
        if (map->value[slot] == NONE || (map->first[slot] == first &&
                                         map->second[slot] == second)) {
            map->count += map->value[slot] == NONE;
            map->first[slot] = first;
            map->second[slot] = second;
            map->value[slot] = value;
            return 0;
        }
        slot = (slot + 1) & (map->capacity - 1);
    }
    return -1;
}

static void map_free(struct index_map *map)
{
    free(map->first);
    free(map->second);
    free(map->value);
}

static uint64_t endpoint_key(uint32_t owner, uint32_t port)
{
    return (uint64_t)owner << ADDRESS_PORT_BITS | port;
}

#define row model_row            /* the columns the pass reads (inspect_model.h) */

/* Each field is extracted only for the kinds whose handler reads it (NULL elsewhere): a
 * json_extract costs far more than the row itself, and most rows (process scheduling,
 * queue-pair data) need none. handle_row() and its helpers read type, src, dst and u0 of
 * pkt_send/pkt_recv; result and socket of sock_* calls; port of detaches and
 * data_discarded; rule of detaches; bytes and reason of data_discarded. */
static const char model_query[] =
    "SELECT seq, time_ns, ctx, pid, layer, kind, "
    "CASE WHEN kind IN ('pkt_send', 'pkt_recv') THEN json_extract(fields, '$.type') END, "
    "CASE WHEN kind IN ('pkt_send', 'pkt_recv') THEN json_extract(fields, '$.src') END, "
    "CASE WHEN kind IN ('pkt_send', 'pkt_recv') THEN json_extract(fields, '$.dst') END, "
    "CASE WHEN kind IN ('peer_detach', 'qp_resumed', 'device_reset', 'data_discarded') "
    "THEN json_extract(fields, '$.port') END, "
    "CASE WHEN kind GLOB 'sock_*' THEN json_extract(fields, '$.result') END, "
    "CASE WHEN kind GLOB 'sock_*' THEN json_extract(fields, '$.socket') END, "
    "CASE WHEN kind IN ('peer_detach', 'qp_resumed', 'device_reset') "
    "THEN json_extract(fields, '$.rule') END, "
    "CASE WHEN kind IN ('pkt_send', 'pkt_recv') THEN json_extract(fields, '$.u0') END, "
    "CASE WHEN kind = 'data_discarded' THEN json_extract(fields, '$.bytes') END, "
    "CASE WHEN kind = 'data_discarded' THEN json_extract(fields, '$.reason') END FROM events "
    "WHERE layer IN ('api', 'transport') OR (kind = 'dg_route' AND pid != 0) ORDER BY seq";

static void read_row(const struct model *model, sqlite3_stmt *statement, struct row *row)
{
    row->seq = inspect_u64(statement, 0);
    row->time_ns = inspect_u64(statement, 1);
    row->ctx = (uint32_t)inspect_u64(statement, 2);
    row->pid = (uint32_t)inspect_u64(statement, 3);
    row->owner = inspect_owner(&model->inspect->names, row->ctx, row->seq);
    row->layer = inspect_text(statement, 4);
    row->kind = inspect_text(statement, 5);
    row->model_kind = inspect_model_kind(row->layer, row->kind, &row->call);
    row->type = inspect_text(statement, 6);
    row->source = inspect_u64(statement, 7);
    row->destination = inspect_u64(statement, 8);
    row->port = inspect_u64(statement, 9);
    row->has_result = sqlite3_column_type(statement, 10) == SQLITE_INTEGER;
    row->result = sqlite3_column_int64(statement, 10);
    row->has_socket = sqlite3_column_type(statement, 11) != SQLITE_NULL;
    row->socket = inspect_u64(statement, 11);
    row->rule = inspect_text(statement, 12);
    row->u0 = inspect_u64(statement, 13);
    row->bytes = inspect_u64(statement, 14);
    row->reason = inspect_text(statement, 15);
}

static struct process_state *process_of(struct model *model, uint32_t pid)
{
    void *array = model->processes;
    if (inspect_array_reserve(&array, &model->process_capacity, pid,
                              sizeof(struct process_state), INSPECT_PROCESSES_MAX) < 0)
        return NULL;
    model->processes = array;
    return &model->processes[pid];
}

/* The socket (owner, id), made on first sight. Returns its 1-based index or NONE. */
static uint32_t socket_get(struct model *model, const struct row *row, uint32_t owner,
                           uint32_t id)
{
    uint32_t index = map_get(&model->socket_map, endpoint_key(owner, id), 0);
    if (index != NONE)
        return index;
    void *array = model->sockets;
    if (inspect_array_reserve(&array, &model->socket_capacity, model->socket_count,
                              sizeof(struct socket_record), model->sockets_max) < 0)
        return NONE;
    model->sockets = array;
    struct socket_record *socket = &model->sockets[model->socket_count];
    *socket = (struct socket_record){ .owner = owner, .id = id, .creator_pid = row->pid,
                                      .created_ns = row->time_ns };
    if (map_put(&model->socket_map, endpoint_key(owner, id), 0, model->socket_count + 1) < 0)
        return NONE;
    return ++model->socket_count;
}

static enum call call_of(const char *kind)
{
    for (int call = 0; call < CALL_COUNT; call++) {
        if (strcmp(kind + strlen("sock_"), inspect_call_names[call]) == 0)
            return (enum call)call;
    }
    return CALL_COUNT;
}

static void socket_note_error(struct socket_record *socket, enum call call, int64_t result)
{
    for (uint32_t index = 0; index < socket->error_count; index++) {
        if (socket->errors[index].call == call && socket->errors[index].result == result) {
            socket->errors[index].count++;
            return;
        }
    }
    if (socket->error_count == SOCKET_ERRORS_KEPT) {
        socket->errors_not_kept++;
        return;
    }
    socket->errors[socket->error_count++] =
        (struct socket_error){ .call = (uint8_t)call, .result = (int32_t)result, .count = 1 };
}

static void connection_end(struct connection *connection, uint64_t time_ns, const char *why)
{
    if (connection->ended)
        return;
    connection->ended = 1;
    connection->ended_ns = time_ns;
    snprintf(connection->end, sizeof(connection->end), "%s", why);
}

static enum side side_of(const struct connection *connection, uint32_t socket_index)
{
    return connection->socket[SIDE_SERVER] == socket_index ? SIDE_SERVER : SIDE_CLIENT;
}

/* What a socket call tells about its connection: bytes, a failed connect, a close. */
static void connection_note_call(struct model *model, struct socket_record *socket,
                                 uint32_t socket_index, enum call call, const struct row *row)
{
    struct connection *connection = &model->connections[socket->connection - 1];
    enum side side = side_of(connection, socket_index);
    if (connection->pid[side] == 0)
        connection->pid[side] = row->pid;
    if (call == CALL_SEND && row->result > 0)
        connection->written[side] += (uint64_t)row->result;
    if (call == CALL_RECV && row->result > 0)
        connection->read[side] += (uint64_t)row->result;
    if (call == CALL_CONNECT && row->result < 0) {
        char why[64];
        snprintf(why, sizeof(why), "connect failed %s", vsock_errno_name((int)row->result));
        connection_end(connection, row->time_ns, why);
    }
    struct process_state *process = process_of(model, row->pid);
    if (call == CALL_CLOSE && process != NULL) {
        connection->lost_at_close[side] += process->closed_unread;
        process->closed_unread = 0;
        process->closed_connection = socket->connection;
        process->closed_side = (uint8_t)side;
    }
    if (call == CALL_CLOSE) {
        connection->closed[side] = 1;
        connection->closed_ns[side] = row->time_ns;
        connection_end(connection, row->time_ns,
                       side == SIDE_CLIENT ? "closed by client" : "closed by server");
    }
}

static void socket_infer_type(struct socket_record *socket, enum call call,
                              const struct process_state *process, const struct row *row)
{
    if (call == CALL_LISTEN || call == CALL_ACCEPT || socket->connection != NONE ||
        (process != NULL && process->saw_transport))
        socket->type = TYPE_STREAM;
    else if (socket->type == TYPE_UNKNOWN && call == CALL_SEND && row->result >= 0 &&
             process != NULL && process->saw_datagram)
        socket->type = TYPE_DGRAM;
}

static int handle_socket_call(struct model *model, const struct row *row)
{
    enum call call = row->call;
    struct process_state *process = row->pid != 0 ? process_of(model, row->pid) : NULL;
    if (call == CALL_COUNT || !row->has_socket)
        return 0;                       /* a failed socket() names no socket */
    uint32_t index = socket_get(model, row, row->owner, (uint32_t)row->socket);
    if (index == NONE)
        return -1;
    struct socket_record *socket = &model->sockets[index - 1];
    if (call == CALL_SOCKET && row->result >= 0 && row->owner < INSPECT_NAMES_MAX)
        model->last_socket_id[row->owner] = (uint32_t)row->socket;
    if (call == CALL_CONNECT && process != NULL && process->requested != NONE &&
        socket->connection == NONE) {
        socket->connection = process->requested;
        model->connections[process->requested - 1].socket[SIDE_CLIENT] = index;
    }
    socket->calls[call]++;
    if (row->result < 0)
        socket_note_error(socket, call, row->result);
    else if (call == CALL_SEND)
        socket->bytes_sent += (uint64_t)row->result;
    else if (call == CALL_RECV)
        socket->bytes_received += (uint64_t)row->result;
    if (call == CALL_CLOSE && !socket->closed) {
        socket->closed = 1;
        socket->closed_ns = row->time_ns;
    }
    socket_infer_type(socket, call, process, row);
    if (process != NULL)
        process->closed_connection = NONE;
    if (socket->connection != NONE)
        connection_note_call(model, socket, index, call, row);  /* may note a close */
    if (process != NULL) {
        /* A call ends what the process's transport events were about, but a close's
         * closed_unread may still follow it. */
        *process = (struct process_state){ .closed_connection = process->closed_connection,
                                           .closed_side = process->closed_side };
    }
    return 0;
}

static int is_finished(const struct connection *connection)
{
    if (connection->ended && !connection->established)
        return 1;
    for (int side = 0; side < SIDE_COUNT; side++) {
        if (!connection->closed[side] && !connection->detached[side])
            return 0;
    }
    return 1;
}

static void advance_first_open(struct model *model)
{
    while (model->first_open < model->connection_count &&
           is_finished(&model->connections[model->first_open]))
        model->first_open++;
}

struct address {
    uint32_t owner, cid, port;
};

static struct address address_of(const struct model *model, uint64_t packed, uint64_t seq)
{
    struct address address = { .cid = (uint32_t)(packed >> ADDRESS_PORT_BITS),
                               .port = (uint32_t)(packed & 0xffffffffu) };
    address.owner = model->owner_at != NULL
                        ? model->owner_at(model->owner_context, address.cid, seq)
                        : inspect_owner(&model->inspect->names, address.cid, seq);
    if (address.owner == 0) {
        char name[32];
        snprintf(name, sizeof(name), "cid %" PRIu32, address.cid);
        address.owner = inspect_name_intern(&model->inspect->names, name);
    }
    return address;
}

static uint32_t pair_get(const struct model *model, struct address client, struct address server)
{
    return map_get(&model->pair_map, endpoint_key(client.owner, client.port),
                   endpoint_key(server.owner, server.port));
}

static int connection_start(struct model *model, const struct row *row, struct address client,
                            struct address server)
{
    uint32_t index = pair_get(model, client, server);
    if (index != NONE && !model->connections[index - 1].ended)
        return 0;                               /* the same handshake, sent again */
    void *array = model->connections;
    if (inspect_array_reserve(&array, &model->connection_capacity, model->connection_count,
                              sizeof(struct connection), model->connections_max) < 0)
        return -1;
    model->connections = array;
    struct connection *connection = &model->connections[model->connection_count++];
    *connection = (struct connection){
        .owner = { client.owner, server.owner }, .cid = { client.cid, server.cid },
        .port = { client.port, server.port }, .pid = { row->pid, 0 },
        .requested_ns = row->time_ns,
    };
    index = model->connection_count;
    struct process_state *process = row->pid != 0 ? process_of(model, row->pid) : NULL;
    if (process != NULL)
        process->requested = index;
    return map_put(&model->pair_map, endpoint_key(client.owner, client.port), 0, index) < 0 ||
                   map_put(&model->pair_map, endpoint_key(client.owner, client.port),
                           endpoint_key(server.owner, server.port), index) < 0
               ? -1 : 0;
}

/* NEGOTIATE from the server: the listener made a child, the stack's next socket id. */
static int connection_child(struct model *model, const struct row *row, uint32_t index,
                            struct address server)
{
    struct connection *connection = &model->connections[index - 1];
    if (connection->socket[SIDE_SERVER] != NONE || server.owner >= INSPECT_NAMES_MAX)
        return 0;
    uint32_t id = ++model->last_socket_id[server.owner];
    uint32_t socket_index = socket_get(model, row, server.owner, id);
    if (socket_index == NONE)
        return -1;
    struct socket_record *socket = &model->sockets[socket_index - 1];
    socket->creator_pid = 0;
    socket->listener_port = server.port;
    socket->type = TYPE_STREAM;
    socket->connection = index;
    connection->socket[SIDE_SERVER] = socket_index;
    return 0;
}

static void connection_reset(struct connection *connection, enum side sender, uint64_t time_ns)
{
    if (!connection->established)
        connection_end(connection, time_ns, sender == SIDE_SERVER ? "refused (RST from server)"
                                                                  : "RST from client");
    else
        connection_end(connection, time_ns, sender == SIDE_SERVER ? "reset by server (RST)"
                                                                  : "reset by client (RST)");
}

static int handle_packet(struct model *model, const struct row *row)
{
    struct address source = address_of(model, row->source, row->seq);
    struct address destination = address_of(model, row->destination, row->seq);
    int sent = row->model_kind == MODEL_KIND_PACKET_SEND;
    if (sent && (strcmp(row->type, "REQUEST") == 0 || strcmp(row->type, "REQUEST2") == 0))
        return connection_start(model, row, source, destination);
    enum side sender = SIDE_CLIENT;
    uint32_t index = pair_get(model, source, destination);
    if (index == NONE) {
        sender = SIDE_SERVER;
        index = pair_get(model, destination, source);
    }
    if (index == NONE || !sent)
        return 0;                   /* each packet counts once, when its sender sends it */
    struct connection *connection = &model->connections[index - 1];
    if (strncmp(row->type, "NEGOTIATE", strlen("NEGOTIATE")) == 0 && sender == SIDE_SERVER)
        return connection_child(model, row, index, source);
    if (strcmp(row->type, "ATTACH") == 0 && !connection->established) {
        connection->established = 1;
        connection->established_ns = row->time_ns;
    } else if (strcmp(row->type, "RST") == 0) {
        connection_reset(connection, sender, row->time_ns);
    } else if (strcmp(row->type, "SHUTDOWN") == 0 && !connection->shut[sender]) {
        connection->shut[sender] = 1;
        connection->shutdown_mode[sender] = row->u0;
    }
    return 0;
}

/* The connection a peer_detach or qp_resumed at (owner, port) is about: the client's own
 * port names one; a server port is shared by the listener's children, so take the open one
 * whose client closed first (detach notices arrive in that order), else the oldest. */
static uint32_t detached_connection(struct model *model, uint32_t owner, uint32_t port,
                                    enum side *side)
{
    uint32_t index = map_get(&model->pair_map, endpoint_key(owner, port), 0);
    if (index != NONE && !model->connections[index - 1].detached[SIDE_CLIENT] &&
        model->connections[index - 1].established) {
        *side = SIDE_CLIENT;
        return index;
    }
    uint32_t best = NONE;
    for (uint32_t scan = model->first_open; scan < model->connection_count; scan++) {
        const struct connection *connection = &model->connections[scan];
        if (connection->owner[SIDE_SERVER] != owner || connection->port[SIDE_SERVER] != port ||
            connection->detached[SIDE_SERVER] || connection->closed[SIDE_SERVER] ||
            !connection->established)
            continue;
        const struct connection *kept = best != NONE ? &model->connections[best - 1] : NULL;
        if (kept == NULL || (connection->closed[SIDE_CLIENT] &&
                             (!kept->closed[SIDE_CLIENT] ||
                              connection->closed_ns[SIDE_CLIENT] < kept->closed_ns[SIDE_CLIENT])))
            best = scan + 1;
    }
    *side = SIDE_SERVER;
    return best;
}

static void handle_detach(struct model *model, const struct row *row)
{
    enum side side = SIDE_CLIENT;
    uint32_t index = detached_connection(model, row->owner, (uint32_t)row->port, &side);
    if (index == NONE)
        return;
    struct connection *connection = &model->connections[index - 1];
    connection->detached[side] = 1;
    connection->detached_ns[side] = row->time_ns;
    snprintf(connection->detach_rule[side], sizeof(connection->detach_rule[side]), "%s",
             row->rule);
    model->last_detach = index;
    model->last_detach_side = side;
    model->last_detach_seq = row->seq;
    char why[96];
    snprintf(why, sizeof(why), "%s %s seen by %s", row->kind, row->rule,
             inspect_side_names[side]);
    connection_end(connection, row->time_ns, why);
}

/* A stream's data_discarded: right after the detach it follows (the host's unread bytes,
 * R171), or around the same process's close (closed_unread): after it when the close call
 * is traced before the release it causes, else before it (applied at the close). */
static void handle_discarded(struct model *model, const struct row *row,
                             struct process_state *process)
{
    if (strcmp(row->reason, "closed_unread") == 0) {
        if (process != NULL && process->closed_connection != NONE) {
            assert(process->closed_connection <= model->connection_count);
            struct connection *closed = &model->connections[process->closed_connection - 1];
            closed->lost_at_close[process->closed_side] += row->bytes;
            process->closed_connection = NONE;
        } else if (process != NULL) {
            process->closed_unread += row->bytes;
        }
        return;
    }
    if (model->last_detach == NONE || model->last_detach_seq + 1 != row->seq)
        return;
    struct connection *connection = &model->connections[model->last_detach - 1];
    enum side side = model->last_detach_side;
    if (connection->owner[side] == row->owner && connection->port[side] == row->port)
        connection->lost_at_detach[side] += row->bytes;
}

enum model_kind inspect_model_kind(const char *layer, const char *kind, enum call *call)
{
    assert(layer != NULL && kind != NULL && call != NULL);
    *call = CALL_COUNT;
    if (strcmp(layer, "api") == 0) {
        if (strncmp(kind, "sock_", 5) != 0)
            return MODEL_KIND_API_OTHER;
        *call = call_of(kind);
        return MODEL_KIND_SOCKET_CALL;
    }
    if (strcmp(kind, "dg_route") == 0)
        return MODEL_KIND_ROUTE;
    if (strcmp(kind, "pkt_send") == 0)
        return MODEL_KIND_PACKET_SEND;
    if (strcmp(kind, "pkt_recv") == 0)
        return MODEL_KIND_PACKET_RECV;
    if (strcmp(kind, "peer_detach") == 0 || strcmp(kind, "qp_resumed") == 0 ||
        strcmp(kind, "device_reset") == 0)
        return MODEL_KIND_DETACH;
    return strcmp(kind, "data_discarded") == 0 ? MODEL_KIND_DISCARDED : MODEL_KIND_OTHER;
}

static int handle_row(struct model *model, const struct row *row)
{
    if (row->model_kind == MODEL_KIND_API_OTHER)
        return 0;                   /* inspect_model_row_passed does the same */
    if (row->model_kind == MODEL_KIND_SOCKET_CALL)
        return handle_socket_call(model, row);
    struct process_state *process = row->pid != 0 ? process_of(model, row->pid) : NULL;
    if (row->pid != 0 && process == NULL)
        return -1;
    if (row->model_kind == MODEL_KIND_ROUTE) {
        if (process != NULL)        /* a hostile trace may route with no process (pid 0) */
            process->saw_datagram = 1;
        return 0;
    }
    if (process != NULL)
        process->saw_transport = 1;
    int rc = 0;
    if (row->model_kind == MODEL_KIND_PACKET_SEND || row->model_kind == MODEL_KIND_PACKET_RECV)
        rc = handle_packet(model, row);
    else if (row->model_kind == MODEL_KIND_DETACH)
        handle_detach(model, row);
    else if (row->model_kind == MODEL_KIND_DISCARDED)
        handle_discarded(model, row, process);
    advance_first_open(model);
    return rc;
}

int inspect_model_row(struct model *model, const struct model_row *row)
{
    assert(model != NULL && row != NULL && model->last_socket_id != NULL);
    assert(row->model_kind <= MODEL_KIND_OTHER && row->call <= CALL_COUNT);
    model->last_time_ns = row->time_ns;
    return handle_row(model, row);
}

int inspect_model_start(struct model *model, struct inspect *inspect, uint32_t sockets_max,
                        uint32_t connections_max)
{
    assert(model != NULL && inspect != NULL);
    assert(sockets_max <= INSPECT_SOCKETS_MAX && connections_max <= INSPECT_CONNECTIONS_MAX);
    *model = (struct model){ .inspect = inspect, .sockets_max = sockets_max,
                             .connections_max = connections_max };
    model->last_socket_id = calloc(INSPECT_NAMES_MAX, sizeof(uint32_t));
    return model->last_socket_id != NULL ? 0 : -1;
}

void inspect_model_free(struct model *model)
{
    free(model->sockets);
    free(model->connections);
    map_free(&model->socket_map);
    map_free(&model->pair_map);
    free(model->last_socket_id);
    free(model->processes);
}

/* One pass over the events; 0, 1 (reported) or 2 (a table bound met, not reported). */
static int model_from_events(struct inspect *inspect, struct model *model,
                             uint32_t sockets_max, uint32_t connections_max)
{
    int started = inspect_model_start(model, inspect, sockets_max, connections_max);
    sqlite3_stmt *statement = inspect_prepare(inspect, model_query);
    if (statement == NULL || started != 0) {
        sqlite3_finalize(statement);
        return statement == NULL ? 1 : inspect_fail(inspect, "out of memory");
    }
    int rc;
    struct row row;
    while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
        read_row(model, statement, &row);
        if (inspect_model_row(model, &row) < 0) {
            sqlite3_finalize(statement);
            if (model->socket_count == sockets_max ||
                model->connection_count == connections_max)
                return sockets_max < INSPECT_SOCKETS_MAX ||
                               connections_max < INSPECT_CONNECTIONS_MAX
                           ? 2 : inspect_fail(inspect, "more than INSPECT_SOCKETS_MAX sockets "
                                              "or INSPECT_CONNECTIONS_MAX connections");
            return inspect_fail(inspect, "out of memory, or more than INSPECT_SOCKETS_MAX "
                                         "sockets or INSPECT_CONNECTIONS_MAX connections");
        }
    }
    return inspect_finish(inspect, statement, rc);
}

int inspect_model_build_bounded(struct inspect *inspect, struct model *model,
                                uint32_t sockets_max, uint32_t connections_max)
{
    assert(inspect != NULL && model != NULL);
    return model_from_events(inspect, model, sockets_max, connections_max);
}

/* Reads the whole trace into `model`, from the summary tables when inspect->summary says
 * they were checked, else (or when they turn out unusable, reported) from the events;
 * 0 or 1 (reported). */
int inspect_model_build(struct inspect *inspect, struct model *model)
{
    if (inspect->summary && summary_load_model(inspect, model) == 0)
        return 0;
    int status = model_from_events(inspect, model, INSPECT_SOCKETS_MAX,
                                   INSPECT_CONNECTIONS_MAX);
    return status == 2 ? 1 : status;
}

/* The filters as they apply to things with a lifetime: --vm names one of its endpoints,
 * and [from, to] overlaps [start, end] (end open while it lasts). */
static int selected(const struct inspect *inspect, uint32_t owner_a, uint32_t owner_b,
                    uint64_t start_ns, int has_end, uint64_t end_ns)
{
    const struct inspect_filter *filter = &inspect->filter;
    if (filter->vm_name != NULL &&
        strcmp(inspect_name(&inspect->names, owner_a), filter->vm_name) != 0 &&
        strcmp(inspect_name(&inspect->names, owner_b), filter->vm_name) != 0)
        return 0;
    if (filter->has_to && start_ns > filter->to_ns)
        return 0;
    return !(filter->has_from && has_end && end_ns < filter->from_ns);
}

static void print_time_or_dash(const char *label, int has_time, uint64_t time_ns)
{
    char time_text[32] = "-";
    if (has_time)
        inspect_time(time_ns, time_text, sizeof(time_text));
    printf("  %s %s", label, time_text);
}

static void print_side(const struct model *model, const struct connection *connection,
                       enum side side)
{
    const struct inspect_names *names = &model->inspect->names;
    uint32_t pid = connection->pid[side];
    const char *process = pid != 0 && pid < names->process_capacity
                              ? names->processes[pid].name : "";
    printf("%s:%" PRIu32 " %s%s%s", inspect_name(names, connection->owner[side]),
           connection->port[side], process[0] != '\0' ? "(" : "", process,
           process[0] != '\0' ? ")" : "");
    printf(" [cid %" PRIu32 "]", connection->cid[side]);
}

/* "; host lost 1 byte unread at guest1 close": what each side never got to read. */
static void print_losses(const struct model *model, const struct connection *connection)
{
    const struct inspect_names *names = &model->inspect->names;
    for (int side = 0; side < SIDE_COUNT; side++) {
        int other = side == SIDE_CLIENT ? SIDE_SERVER : SIDE_CLIENT;
        uint64_t lost = connection->lost_at_detach[side];
        if (lost > 0)
            printf("; %s lost %" PRIu64 " byte%s unread at %s %s",
                   inspect_name(names, connection->owner[side]), lost, lost == 1 ? "" : "s",
                   inspect_name(names, connection->owner[other]),
                   connection->closed[other] &&
                           connection->closed_ns[other] <= connection->detached_ns[side]
                       ? "close" : "detach (suspend, power-off or device reset)");
        lost = connection->lost_at_close[side];
        if (lost > 0)
            printf("; %s closed with %" PRIu64 " byte%s unread",
                   inspect_name(names, connection->owner[side]), lost, lost == 1 ? "" : "s");
    }
}

static void print_connection_end(const struct model *model, const struct connection *connection)
{
    char time_text[32];
    printf("      end: %s",
           connection->ended ? connection->end : "still open at the end of the trace");
    for (int side = 0; side < SIDE_COUNT; side++) {
        if (connection->shut[side])
            printf("; %s shutdown mode %" PRIu64, inspect_side_names[side],
                   connection->shutdown_mode[side]);
        if (connection->detached[side]) {
            inspect_time(connection->detached_ns[side], time_text, sizeof(time_text));
            printf("; %s saw detach %s at %s", inspect_side_names[side],
                   connection->detach_rule[side], time_text);
        }
        if (connection->closed[side]) {
            inspect_time(connection->closed_ns[side], time_text, sizeof(time_text));
            printf("; %s closed at %s", inspect_side_names[side], time_text);
        }
    }
    print_losses(model, connection);
    putchar('\n');
}

static void print_connection(const struct model *model, uint32_t number)
{
    const struct connection *connection = &model->connections[number - 1];
    printf("#%" PRIu32 " ", number);
    print_side(model, connection, SIDE_CLIENT);
    printf(" -> ");
    print_side(model, connection, SIDE_SERVER);
    putchar('\n');
    printf("     ");
    print_time_or_dash("requested", 1, connection->requested_ns);
    print_time_or_dash("established", connection->established, connection->established_ns);
    print_time_or_dash("ended", connection->ended, connection->ended_ns);
    putchar('\n');
    printf("      bytes client->server %" PRIu64 " sent, %" PRIu64 " received; "
           "server->client %" PRIu64 " sent, %" PRIu64 " received\n",
           connection->written[SIDE_CLIENT], connection->read[SIDE_SERVER],
           connection->written[SIDE_SERVER], connection->read[SIDE_CLIENT]);
    print_connection_end(model, connection);
}

int inspect_model_connection_selected(const struct model *model,
                                      const struct connection *connection)
{
    return selected(model->inspect, connection->owner[SIDE_CLIENT],
                    connection->owner[SIDE_SERVER], connection->requested_ns, connection->ended,
                    connection->ended_ns);
}

int inspect_model_socket_selected(const struct model *model, const struct socket_record *socket)
{
    return selected(model->inspect, socket->owner, socket->owner, socket->created_ns,
                    socket->closed, socket->closed_ns);
}

int inspect_view_connections(struct inspect *inspect)
{
    if (inspect->format != INSPECT_FORMAT_TEXT)
        return inspect_rows_connections(inspect);
    struct model model;
    int status = inspect_model_build(inspect, &model);
    uint64_t shown = 0;
    for (uint32_t number = 1; status == 0 && number <= model.connection_count; number++) {
        if (!inspect_model_connection_selected(&model, &model.connections[number - 1]))
            continue;
        print_connection(&model, number);
        shown++;
    }
    if (status == 0)
        printf("%" PRIu64 " stream connections (of %" PRIu32 " in the trace)\n", shown,
               model.connection_count);
    inspect_model_free(&model);
    return status;
}

static void print_socket_calls(const struct socket_record *socket)
{
    int first = 1;
    printf("  calls");
    for (int call = 0; call < CALL_COUNT; call++) {
        if (socket->calls[call] == 0)
            continue;
        printf("%s %s %" PRIu64, first ? "" : ",", inspect_call_names[call], socket->calls[call]);
        if (call == CALL_SEND)
            printf(" (%" PRIu64 " B)", socket->bytes_sent);
        if (call == CALL_RECV)
            printf(" (%" PRIu64 " B)", socket->bytes_received);
        first = 0;
    }
    if (first)
        printf(" none");
    for (uint32_t index = 0; index < socket->error_count; index++) {
        const struct socket_error *error = &socket->errors[index];
        printf("%s %s %s x%" PRIu64, index == 0 ? "  errors" : ",",
               inspect_call_names[error->call], vsock_errno_name(error->result), error->count);
    }
    if (socket->errors_not_kept > 0)
        printf(", %" PRIu64 " more errors (over SOCKET_ERRORS_KEPT kinds)",
               socket->errors_not_kept);
}

static void print_socket(const struct model *model, const struct socket_record *socket)
{
    static const char *const type_names[] = { "?", "stream", "dgram" };
    const struct inspect_names *names = &model->inspect->names;
    char time_text[32], who[INSPECT_WHO_BYTES];
    inspect_time(socket->created_ns, time_text, sizeof(time_text));
    printf("%s socket %" PRIu32 "  %-6s  created %s ", inspect_name(names, socket->owner),
           socket->id, type_names[socket->type], time_text);
    if (socket->creator_pid != 0) {
        const char *process = socket->creator_pid < names->process_capacity
                                  ? names->processes[socket->creator_pid].name : "";
        snprintf(who, sizeof(who), "%s (pid %" PRIu32 ")", process, socket->creator_pid);
        printf("by %s", who);
    } else if (socket->listener_port != 0) {
        printf("by the listener on port %" PRIu32, socket->listener_port);
    } else {
        printf("by the kernel");
    }
    if (socket->closed) {
        inspect_time(socket->closed_ns, time_text, sizeof(time_text));
        printf("  closed %s", time_text);
    } else {
        printf("  not closed");
    }
    if (socket->connection != NONE)
        printf("  connection #%" PRIu32, socket->connection);
    print_socket_calls(socket);
    putchar('\n');
}

int inspect_view_sockets(struct inspect *inspect)
{
    if (inspect->format != INSPECT_FORMAT_TEXT)
        return inspect_rows_sockets(inspect);
    struct model model;
    int status = inspect_model_build(inspect, &model);
    uint64_t shown = 0;
    for (uint32_t index = 0; status == 0 && index < model.socket_count; index++) {
        const struct socket_record *socket = &model.sockets[index];
        if (!selected(inspect, socket->owner, socket->owner, socket->created_ns, socket->closed,
                      socket->closed_ns))
            continue;
        print_socket(&model, socket);
        shown++;
    }
    if (status == 0)
        printf("%" PRIu64 " sockets (of %" PRIu32 " in the trace)\n", shown, model.socket_count);
    inspect_model_free(&model);
    return status;
}

int inspect_model_counts(struct inspect *inspect, uint64_t *sockets, uint64_t *connections)
{
    struct model model;
    int status = inspect_model_build(inspect, &model);
    *sockets = 0;
    *connections = 0;
    for (uint32_t index = 0; status == 0 && index < model.socket_count; index++) {
        const struct socket_record *socket = &model.sockets[index];
        *sockets += (uint64_t)selected(inspect, socket->owner, socket->owner, socket->created_ns,
                                       socket->closed, socket->closed_ns);
    }
    for (uint32_t index = 0; status == 0 && index < model.connection_count; index++)
        *connections += (uint64_t)inspect_model_connection_selected(&model,
                                                                    &model.connections[index]);
    inspect_model_free(&model);
    return status;
}

uint64_t inspect_model_side_end_ns(const struct model *model,
                                   const struct connection *connection, enum side side)
{
    assert(model != NULL && connection != NULL && side < SIDE_COUNT);
    if (connection->closed[side])
        return connection->closed_ns[side];
    if (connection->detached[side])
        return connection->detached_ns[side];
    if (connection->ended && !connection->established)
        return connection->ended_ns;
    return model->last_time_ns;
}

static void fill_span(const struct model *model, uint32_t number, enum side side,
                      struct export_span *span)
{
    const struct connection *connection = &model->connections[number - 1];
    enum side other = side == SIDE_CLIENT ? SIDE_SERVER : SIDE_CLIENT;
    uint32_t socket = connection->socket[side];
    *span = (struct export_span){
        .number = number, .side = (uint32_t)side, .cid = connection->cid[side],
        .port = connection->port[side], .peer_cid = connection->cid[other],
        .peer_port = connection->port[other],
        .socket = socket != NONE ? model->sockets[socket - 1].id : 0,
        .start_ns = side == SIDE_SERVER && connection->established ? connection->established_ns
                                                                  : connection->requested_ns,
    };
    span->end_ns = inspect_model_side_end_ns(model, connection, side);
    if (span->end_ns < span->start_ns)
        span->end_ns = span->start_ns;
    snprintf(span->endpoint, sizeof span->endpoint, "%s",
             inspect_name(&model->inspect->names, connection->owner[side]));
    snprintf(span->end, sizeof span->end, "%s", connection->ended ? connection->end : "");
}

int inspect_model_spans(struct inspect *inspect, struct export_span **spans, uint32_t *count)
{
    struct model model;
    int status = inspect_model_build(inspect, &model);
    *spans = NULL;
    *count = 0;
    if (status == 0 && model.connection_count > 0) {
        /* Two sides per connection; INSPECT_CONNECTIONS_MAX bounds both. */
        *spans = calloc((size_t)model.connection_count * SIDE_COUNT, sizeof **spans);
        if (*spans == NULL)
            status = inspect_fail(inspect, "out of memory");
    }
    for (uint32_t number = 1; status == 0 && number <= model.connection_count; number++) {
        const struct connection *connection = &model.connections[number - 1];
        fill_span(&model, number, SIDE_CLIENT, &(*spans)[(*count)++]);
        if (connection->established || connection->socket[SIDE_SERVER] != NONE)
            fill_span(&model, number, SIDE_SERVER, &(*spans)[(*count)++]);
    }
    inspect_model_free(&model);
    return status;
}
