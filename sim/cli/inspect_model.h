/* SPDX-License-Identifier: MIT */
/*
 * sim/cli/inspect_model.h: the sockets and stream connections that inspect_model.c rebuilds
 * from a trace, shared with the views that print them in other shapes (inspect_rows.c:
 * tsv, csv, json; inspect_stats.c: the stats view). Private to the inspect files.
 *
 * Tables are 1-based arrays in order of first appearance; NONE (0) is "no entry".
 */
#ifndef SIM_CLI_INSPECT_MODEL_H
#define SIM_CLI_INSPECT_MODEL_H

#include <stdint.h>

#include "sim/cli/inspect_int.h"

#define ADDRESS_PORT_BITS   32u
#define SOCKET_ERRORS_KEPT  8u          /* distinct (call, errno) pairs listed per socket */
#define NONE                0u          /* table indexes are 1-based; 0 is "none" */

enum call { CALL_SOCKET, CALL_BIND, CALL_LISTEN, CALL_CONNECT, CALL_ACCEPT, CALL_SEND,
            CALL_RECV, CALL_SHUTDOWN, CALL_DISCONNECT, CALL_CLOSE, CALL_COUNT };

enum socket_type { TYPE_UNKNOWN, TYPE_STREAM, TYPE_DGRAM };

struct socket_error {
    uint8_t call;
    int32_t result;
    uint64_t count;
};

struct socket_record {
    uint32_t owner, id;
    uint32_t creator_pid;           /* 0 for a listener's child */
    uint32_t listener_port;         /* a child's local port */
    uint64_t created_ns, closed_ns;
    int closed;
    enum socket_type type;
    uint32_t connection;            /* 1-based, NONE */
    uint64_t calls[CALL_COUNT];
    uint64_t bytes_sent, bytes_received;
    struct socket_error errors[SOCKET_ERRORS_KEPT];
    uint32_t error_count;
    uint64_t errors_not_kept;
};

enum side { SIDE_CLIENT, SIDE_SERVER, SIDE_COUNT };

struct connection {
    uint32_t owner[SIDE_COUNT], cid[SIDE_COUNT], port[SIDE_COUNT], socket[SIDE_COUNT];
    uint32_t pid[SIDE_COUNT];       /* the process that connected / first used the child */
    uint64_t requested_ns, established_ns, ended_ns;
    int established, ended;
    uint64_t written[SIDE_COUNT], read[SIDE_COUNT];
    int closed[SIDE_COUNT];
    uint64_t closed_ns[SIDE_COUNT];
    int detached[SIDE_COUNT];       /* peer_detach or qp_resumed seen by this side */
    uint64_t detached_ns[SIDE_COUNT];
    char detach_rule[SIDE_COUNT][16];
    uint64_t lost_at_detach[SIDE_COUNT];    /* unread bytes lost when the peer detached */
    uint64_t lost_at_close[SIDE_COUNT];     /* unread bytes this side closed with */
    char end[96];                   /* the first thing that ended it */
    int shut[SIDE_COUNT];
    uint64_t shutdown_mode[SIDE_COUNT];
};

/* Open addressing from two 64-bit keys to a 1-based index; grows at half load. */
struct index_map {
    uint64_t *first, *second;
    uint32_t *value;
    uint32_t capacity, count;
};

/* What a process did since its last socket call (for type inference and connect links). */
struct process_state {
    int saw_transport, saw_datagram;
    uint32_t requested;             /* connection whose REQUEST this process just sent */
    uint64_t closed_unread;         /* data_discarded closed_unread bytes before its close */
    /* The connection (and its side) this process closed by its last socket call, 0 if that
     * call was no close: the release that follows a close reports closed_unread after it. */
    uint32_t closed_connection;
    uint8_t closed_side;
};

struct model {
    struct inspect *inspect;
    uint64_t last_time_ns;          /* of the last row read: the end of what is still open */
    struct socket_record *sockets;
    uint32_t socket_count, socket_capacity;
    struct connection *connections;
    uint32_t connection_count, connection_capacity;
    uint32_t first_open;            /* connections before it have all ended */
    struct index_map socket_map, pair_map;
    uint32_t *last_socket_id;       /* per endpoint name */
    uint32_t last_detach;           /* connection of the last detach row, its side, seq */
    enum side last_detach_side;
    uint64_t last_detach_seq;
    struct process_state *processes;
    uint32_t process_capacity;
    uint32_t sockets_max, connections_max;  /* 0: INSPECT_SOCKETS_MAX, INSPECT_CONNECTIONS_MAX */
    /* Who held a CID at a seq: NULL for inspect_owner() on inspect->names (every binding
     * loaded); the live build (summary_live.c) answers while the bindings still arrive. */
    uint32_t (*owner_at)(void *context, uint32_t cid, uint64_t seq);
    void *owner_context;
};

/* What the pass does with a row, decided by its layer and kind texts alone
 * (inspect_model_kind): an api row is a socket call (sock_*) or nothing; any other row a
 * datagram route, a packet sent or received, a detach (peer_detach, qp_resumed,
 * device_reset), a data_discarded, or none of them. */
enum model_kind {
    MODEL_KIND_API_OTHER, MODEL_KIND_SOCKET_CALL, MODEL_KIND_ROUTE, MODEL_KIND_PACKET_SEND,
    MODEL_KIND_PACKET_RECV, MODEL_KIND_DETACH, MODEL_KIND_DISCARDED, MODEL_KIND_OTHER,
};

/* The columns the pass reads of one event (model_query in inspect_model.c): each is what
 * SQLite gives for its json_extract, NULL as "" or 0, and only for the kinds named there.
 * `owner` is the endpoint that held `ctx` at `seq` (needed for sock_* calls, detaches and
 * data_discarded only). `model_kind` and `call` are inspect_model_kind() of `layer` and
 * `kind` (a caller that meets one kind many times decides it once). */
struct model_row {
    uint64_t seq, time_ns;
    uint32_t ctx, pid, owner;
    const char *layer, *kind, *type, *rule;
    enum model_kind model_kind;
    enum call call;                 /* of a socket call; CALL_COUNT for sock_ names no call */
    uint64_t source, destination, port, socket, u0, bytes;
    const char *reason;
    int has_socket, has_result;
    int64_t result;
};

/* The names of calls (socket, bind, ...) and sides (client, server). */
extern const char *const inspect_call_names[CALL_COUNT];
extern const char *const inspect_side_names[SIDE_COUNT];

/* Reads the whole trace into `model`; 0 or 1 (reported). Free with inspect_model_free()
 * whatever it returned. */
int inspect_model_build(struct inspect *inspect, struct model *model);
/* The same from the events whatever inspect->summary says, with at most `sockets_max`
 * sockets and `connections_max` connections (each at most the INSPECT_ limit): returns 2
 * without a message when the trace has more (the summary tables' build, sim/cli/summary.c). */
int inspect_model_build_bounded(struct inspect *inspect, struct model *model,
                                uint32_t sockets_max, uint32_t connections_max);
void inspect_model_free(struct model *model);
/* The pass one row at a time, for a caller that has the rows from elsewhere (the live
 * build): start (0, or -1 out of memory; free with inspect_model_free() either way), then
 * every api and transport row and every dg_route row of a process, in seq order. A row
 * returns 0, or -1 when a table bound was met or memory ran out (the model must then be
 * dropped). */
int inspect_model_start(struct model *model, struct inspect *inspect, uint32_t sockets_max,
                        uint32_t connections_max);
int inspect_model_row(struct model *model, const struct model_row *row);
/* The same for a row whose model_kind is MODEL_KIND_API_OTHER, of which the pass takes only
 * the time: a caller that knows the kind need not make the row. */
static inline void inspect_model_row_passed(struct model *model, uint64_t time_ns)
{
    model->last_time_ns = time_ns;
}
/* What the pass does with rows of this layer and kind (and for a socket call, which call
 * it is in *call; CALL_COUNT otherwise). */
enum model_kind inspect_model_kind(const char *layer, const char *kind, enum call *call);
/* When a side of a connection stopped taking part: its close, else the detach it saw, else a
 * refusal or failed connect that ended the whole connection, else the end of the trace. */
uint64_t inspect_model_side_end_ns(const struct model *model,
                                   const struct connection *connection, enum side side);
/* The filters as they apply to a connection (an endpoint named by --vm, a lifetime that
 * overlaps --from/--to). */
int inspect_model_connection_selected(const struct model *model,
                                      const struct connection *connection);

int inspect_model_socket_selected(const struct model *model, const struct socket_record *socket);

#endif /* SIM_CLI_INSPECT_MODEL_H */
