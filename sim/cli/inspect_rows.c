/* SPDX-License-Identifier: MIT */
/*
 * sim/cli/inspect_rows.c: the `connections` and `sockets` views in tsv, csv or json
 * (`inspect --format`). The same rebuilt model as the text views (inspect_model.c), the
 * same filters and order; every figure the text prints is a column of its own, times in
 * nanoseconds, and what did not happen is null (docs/trace-schema.md lists the columns).
 */
#include <inttypes.h>
#include <string.h>

#include "sim/cli/inspect_int.h"
#include "sim/cli/inspect_model.h"
#include "vsock/core.h"

static const char *const connection_columns[] = {
    "number", "client_endpoint", "client_port", "client_cid", "client_process",
    "server_endpoint", "server_port", "server_cid", "server_process",
    "requested_ns", "established_ns", "ended_ns", "end",
    "client_to_server_sent_bytes", "client_to_server_received_bytes",
    "server_to_client_sent_bytes", "server_to_client_received_bytes",
    "client_shutdown_mode", "server_shutdown_mode",
    "client_detach_rule", "client_detached_ns", "server_detach_rule", "server_detached_ns",
    "client_closed_ns", "server_closed_ns",
    "client_lost_at_detach_bytes", "client_lost_at_close_bytes",
    "server_lost_at_detach_bytes", "server_lost_at_close_bytes",
};

static const char *process_name(const struct model *model, uint32_t pid)
{
    const struct inspect_names *names = &model->inspect->names;
    return pid != 0 && pid < names->process_capacity ? names->processes[pid].name : "";
}

static void side_columns(struct inspect_table *table, const struct model *model,
                         const struct connection *connection, enum side side)
{
    inspect_value_text(table, inspect_name(&model->inspect->names, connection->owner[side]));
    inspect_value_u64(table, connection->port[side]);
    inspect_value_u64(table, connection->cid[side]);
    inspect_value_optional_text(table, process_name(model, connection->pid[side]));
}

static void connection_row(struct inspect_table *table, const struct model *model,
                           uint32_t number)
{
    const struct connection *connection = &model->connections[number - 1];
    inspect_row_begin(table);
    inspect_value_u64(table, number);
    side_columns(table, model, connection, SIDE_CLIENT);
    side_columns(table, model, connection, SIDE_SERVER);
    inspect_value_u64(table, connection->requested_ns);
    inspect_value_optional_u64(table, connection->established, connection->established_ns);
    inspect_value_optional_u64(table, connection->ended, connection->ended_ns);
    inspect_value_optional_text(table, connection->ended ? connection->end : NULL);
    inspect_value_u64(table, connection->written[SIDE_CLIENT]);
    inspect_value_u64(table, connection->read[SIDE_SERVER]);
    inspect_value_u64(table, connection->written[SIDE_SERVER]);
    inspect_value_u64(table, connection->read[SIDE_CLIENT]);
    for (int side = 0; side < SIDE_COUNT; side++)
        inspect_value_optional_u64(table, connection->shut[side],
                                   connection->shutdown_mode[side]);
    for (int side = 0; side < SIDE_COUNT; side++) {
        inspect_value_optional_text(table, connection->detached[side]
                                               ? connection->detach_rule[side] : NULL);
        inspect_value_optional_u64(table, connection->detached[side],
                                   connection->detached_ns[side]);
    }
    for (int side = 0; side < SIDE_COUNT; side++)
        inspect_value_optional_u64(table, connection->closed[side], connection->closed_ns[side]);
    for (int side = 0; side < SIDE_COUNT; side++) {
        inspect_value_u64(table, connection->lost_at_detach[side]);
        inspect_value_u64(table, connection->lost_at_close[side]);
    }
    inspect_row_end(table);
}

int inspect_rows_connections(struct inspect *inspect)
{
    struct model model;
    int status = inspect_model_build(inspect, &model);
    struct inspect_table table;
    if (status == 0)
        inspect_table_begin(&table, inspect, "connections", connection_columns,
                            sizeof connection_columns / sizeof connection_columns[0]);
    for (uint32_t number = 1; status == 0 && number <= model.connection_count; number++) {
        if (inspect_model_connection_selected(&model, &model.connections[number - 1]))
            connection_row(&table, &model, number);
    }
    if (status == 0)
        inspect_table_end(&table);
    inspect_model_free(&model);
    return status;
}

static const char *const socket_columns[] = {
    "endpoint", "socket", "type", "created_ns", "creator_pid", "creator_process",
    "listener_port", "closed_ns", "connection",
    "calls_socket", "calls_bind", "calls_listen", "calls_connect", "calls_accept", "calls_send",
    "calls_recv", "calls_shutdown", "calls_disconnect", "calls_close",
    "sent_bytes", "received_bytes", "errors", "errors_not_kept",
};
_Static_assert(CALL_COUNT == 10, "socket_columns has one calls_ column per call");

/* "send EPIPE x2, recv ECONNRESET x1", or NULL when the socket had no error. */
static void errors_value(struct inspect_table *table, const struct socket_record *socket)
{
    char text[SOCKET_ERRORS_KEPT * 48];
    size_t used = 0;
    text[0] = '\0';
    for (uint32_t index = 0; index < socket->error_count && used < sizeof text; index++) {
        const struct socket_error *error = &socket->errors[index];
        int length = snprintf(text + used, sizeof text - used, "%s%s %s x%" PRIu64,
                              index > 0 ? ", " : "", inspect_call_names[error->call],
                              vsock_errno_name(error->result), error->count);
        used += length > 0 ? (size_t)length : 0;
    }
    inspect_value_optional_text(table, text);
}

static void socket_row(struct inspect_table *table, const struct model *model,
                       const struct socket_record *socket)
{
    static const char *const type_names[] = { NULL, "stream", "dgram" };
    inspect_row_begin(table);
    inspect_value_text(table, inspect_name(&model->inspect->names, socket->owner));
    inspect_value_u64(table, socket->id);
    inspect_value_optional_text(table, type_names[socket->type]);
    inspect_value_u64(table, socket->created_ns);
    inspect_value_optional_u64(table, socket->creator_pid != 0, socket->creator_pid);
    inspect_value_optional_text(table, process_name(model, socket->creator_pid));
    inspect_value_optional_u64(table, socket->creator_pid == 0 && socket->listener_port != 0,
                               socket->listener_port);
    inspect_value_optional_u64(table, socket->closed, socket->closed_ns);
    inspect_value_optional_u64(table, socket->connection != NONE, socket->connection);
    for (int call = 0; call < CALL_COUNT; call++)
        inspect_value_u64(table, socket->calls[call]);
    inspect_value_u64(table, socket->bytes_sent);
    inspect_value_u64(table, socket->bytes_received);
    errors_value(table, socket);
    inspect_value_u64(table, socket->errors_not_kept);
    inspect_row_end(table);
}

int inspect_rows_sockets(struct inspect *inspect)
{
    struct model model;
    int status = inspect_model_build(inspect, &model);
    struct inspect_table table;
    if (status == 0)
        inspect_table_begin(&table, inspect, "sockets", socket_columns,
                            sizeof socket_columns / sizeof socket_columns[0]);
    for (uint32_t index = 0; status == 0 && index < model.socket_count; index++) {
        const struct socket_record *socket = &model.sockets[index];
        if (inspect_model_socket_selected(&model, socket))
            socket_row(&table, &model, socket);
    }
    if (status == 0)
        inspect_table_end(&table);
    inspect_model_free(&model);
    return status;
}
