/* SPDX-License-Identifier: MIT */
/*
 * sim/cli/inspect_stats.c: `inspect FILE stats`: figures per stream connection and per
 * endpoint (VM or host), from the same rebuilt model as `connections` (inspect_model.c).
 *
 * Per connection: connect latency (REQUEST to the server's ATTACH), bytes each way (what
 * the sender's send calls returned), duration (established, or requested when it never
 * was, to the last side's close or detach, else the end of the trace), simulated
 * throughput (bytes received both ways per simulated second of that duration), bytes lost
 * with the reason the model knows (unread at a close or a detach), bytes sent but never
 * received, and how it ended. Per endpoint, over its selected connections: how many, its
 * sockets, bytes it sent, received and lost, the longest connect it waited for.
 * Simulated time only: the figures are the same on every machine.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sim/cli/inspect_int.h"
#include "sim/cli/inspect_model.h"

#define STATS_WHY_BYTES 256u
#define NANOSECONDS_PER_SECOND 1000000000.0

static const char *const stats_columns[] = {
    "scope", "number", "name", "client", "server", "connections", "sockets",
    "connect_latency_ns", "duration_ns", "sent_bytes", "received_bytes",
    "client_to_server_bytes", "server_to_client_bytes", "throughput_bytes_per_s",
    "lost_bytes", "undelivered_bytes", "lost_why", "end",
};

/* The figures of one connection. */
struct connection_stats {
    char client[INSPECT_NAME_BYTES + 16], server[INSPECT_NAME_BYTES + 16];
    int established;
    uint64_t latency_ns, duration_ns;
    uint64_t sent_bytes, received_bytes, lost_bytes, undelivered_bytes;
    int has_throughput;
    uint64_t throughput_bytes_per_s;
    char why[STATS_WHY_BYTES];
};

static void describe_losses(const struct model *model, const struct connection *connection,
                            char *why, size_t why_bytes)
{
    const struct inspect_names *names = &model->inspect->names;
    size_t used = 0;
    why[0] = '\0';
    for (int side = 0; side < SIDE_COUNT && used < why_bytes; side++) {
        const char *name = inspect_name(names, connection->owner[side]);
        int length = 0;
        if (connection->lost_at_detach[side] > 0)
            length = snprintf(why + used, why_bytes - used, "%s%s: %" PRIu64 " unread when "
                              "the peer detached", used > 0 ? "; " : "", name,
                              connection->lost_at_detach[side]);
        used += length > 0 ? (size_t)length : 0;
        length = 0;
        if (connection->lost_at_close[side] > 0 && used < why_bytes)
            length = snprintf(why + used, why_bytes - used, "%s%s: %" PRIu64 " unread at its "
                              "close", used > 0 ? "; " : "", name,
                              connection->lost_at_close[side]);
        used += length > 0 ? (size_t)length : 0;
    }
}

static void connection_stats_of(const struct model *model, const struct connection *connection,
                                struct connection_stats *stats)
{
    const struct inspect_names *names = &model->inspect->names;
    *stats = (struct connection_stats){ .established = connection->established };
    snprintf(stats->client, sizeof stats->client, "%s:%" PRIu32,
             inspect_name(names, connection->owner[SIDE_CLIENT]), connection->port[SIDE_CLIENT]);
    snprintf(stats->server, sizeof stats->server, "%s:%" PRIu32,
             inspect_name(names, connection->owner[SIDE_SERVER]), connection->port[SIDE_SERVER]);
    uint64_t start_ns = connection->established ? connection->established_ns
                                                : connection->requested_ns;
    uint64_t stop_ns = start_ns;
    for (int side = 0; side < SIDE_COUNT; side++) {
        uint64_t side_ns = inspect_model_side_end_ns(model, connection, (enum side)side);
        stop_ns = side_ns > stop_ns ? side_ns : stop_ns;
        stats->sent_bytes += connection->written[side];
        stats->received_bytes += connection->read[side];
        stats->lost_bytes += connection->lost_at_detach[side] + connection->lost_at_close[side];
        int other = side == SIDE_CLIENT ? SIDE_SERVER : SIDE_CLIENT;
        if (connection->written[side] > connection->read[other])
            stats->undelivered_bytes += connection->written[side] - connection->read[other];
    }
    if (connection->established && connection->established_ns >= connection->requested_ns)
        stats->latency_ns = connection->established_ns - connection->requested_ns;
    stats->duration_ns = stop_ns - start_ns;
    stats->has_throughput = connection->established && stats->duration_ns > 0;
    if (stats->has_throughput)
        stats->throughput_bytes_per_s = (uint64_t)((double)stats->received_bytes *
                                                   NANOSECONDS_PER_SECOND /
                                                   (double)stats->duration_ns);
    describe_losses(model, connection, stats->why, sizeof stats->why);
}

/* Per endpoint name (index in the names table). */
struct endpoint_stats {
    uint64_t connections, sockets, sent_bytes, received_bytes, lost_bytes;
    int has_latency;
    uint64_t latency_ns_max;
};

static void tally_endpoints(const struct model *model, struct endpoint_stats *endpoints,
                            uint32_t capacity)
{
    for (uint32_t index = 0; index < model->socket_count; index++) {
        const struct socket_record *socket = &model->sockets[index];
        if (socket->owner < capacity && inspect_model_socket_selected(model, socket))
            endpoints[socket->owner].sockets++;
    }
    for (uint32_t index = 0; index < model->connection_count; index++) {
        const struct connection *connection = &model->connections[index];
        if (!inspect_model_connection_selected(model, connection))
            continue;
        for (int side = 0; side < SIDE_COUNT; side++) {
            uint32_t owner = connection->owner[side];
            if (owner >= capacity || (side == SIDE_SERVER &&
                                      owner == connection->owner[SIDE_CLIENT]))
                continue;                   /* a connection to itself counts once */
            struct endpoint_stats *endpoint = &endpoints[owner];
            endpoint->connections++;
            endpoint->sent_bytes += connection->written[side];
            endpoint->received_bytes += connection->read[side];
            endpoint->lost_bytes += connection->lost_at_detach[side] +
                                    connection->lost_at_close[side];
            if (side == SIDE_CLIENT && connection->established) {
                uint64_t latency_ns = connection->established_ns - connection->requested_ns;
                if (!endpoint->has_latency || latency_ns > endpoint->latency_ns_max)
                    endpoint->latency_ns_max = latency_ns;
                endpoint->has_latency = 1;
            }
        }
    }
}

static void connection_stats_row(struct inspect_table *table, uint32_t number,
                                 const struct connection *connection,
                                 const struct connection_stats *stats)
{
    inspect_row_begin(table);
    inspect_value_text(table, "connection");
    inspect_value_u64(table, number);
    char name[sizeof stats->client + sizeof stats->server + 8];
    snprintf(name, sizeof name, "%s -> %s", stats->client, stats->server);
    inspect_value_text(table, name);
    inspect_value_text(table, stats->client);
    inspect_value_text(table, stats->server);
    inspect_value_null(table);
    inspect_value_null(table);
    inspect_value_optional_u64(table, stats->established, stats->latency_ns);
    inspect_value_u64(table, stats->duration_ns);
    inspect_value_u64(table, stats->sent_bytes);
    inspect_value_u64(table, stats->received_bytes);
    inspect_value_u64(table, connection->written[SIDE_CLIENT]);
    inspect_value_u64(table, connection->written[SIDE_SERVER]);
    inspect_value_optional_u64(table, stats->has_throughput, stats->throughput_bytes_per_s);
    inspect_value_u64(table, stats->lost_bytes);
    inspect_value_u64(table, stats->undelivered_bytes);
    inspect_value_optional_text(table, stats->why);
    inspect_value_text(table, connection->ended ? connection->end : "open");
    inspect_row_end(table);
}

static void endpoint_stats_row(struct inspect_table *table, const char *name,
                               const struct endpoint_stats *endpoint)
{
    inspect_row_begin(table);
    inspect_value_text(table, "vm");
    inspect_value_null(table);
    inspect_value_text(table, name);
    inspect_value_null(table);
    inspect_value_null(table);
    inspect_value_u64(table, endpoint->connections);
    inspect_value_u64(table, endpoint->sockets);
    inspect_value_optional_u64(table, endpoint->has_latency, endpoint->latency_ns_max);
    inspect_value_null(table);
    inspect_value_u64(table, endpoint->sent_bytes);
    inspect_value_u64(table, endpoint->received_bytes);
    inspect_value_null(table);
    inspect_value_null(table);
    inspect_value_null(table);
    inspect_value_u64(table, endpoint->lost_bytes);
    inspect_value_null(table);
    inspect_value_null(table);
    inspect_value_null(table);
    inspect_row_end(table);
}

static void print_time_field(int present, uint64_t time_ns)
{
    char text[32] = "-";
    if (present)
        inspect_time(time_ns, text, sizeof text);
    printf("  %11s", text);
}

static void connection_stats_text(uint32_t number, const struct connection *connection,
                                  const struct connection_stats *stats)
{
    char name[sizeof stats->client + sizeof stats->server + 8];
    snprintf(name, sizeof name, "%s -> %s", stats->client, stats->server);
    printf("%5" PRIu32 "  %-36s", number, name);
    print_time_field(stats->established, stats->latency_ns);
    print_time_field(1, stats->duration_ns);
    printf("  %10" PRIu64 "  %10" PRIu64, connection->written[SIDE_CLIENT],
           connection->written[SIDE_SERVER]);
    if (stats->has_throughput)
        printf("  %14" PRIu64, stats->throughput_bytes_per_s);
    else
        printf("  %14s", "-");
    printf("  %8" PRIu64 "  %s", stats->lost_bytes,
           connection->ended ? connection->end : "open");
    if (stats->why[0] != '\0')
        printf(" (lost: %s)", stats->why);
    putchar('\n');
}

static void endpoint_stats_text(const char *name, const struct endpoint_stats *endpoint)
{
    printf("  %-20s %11" PRIu64 "  %7" PRIu64 "  %10" PRIu64 "  %10" PRIu64 "  %8" PRIu64,
           name, endpoint->connections, endpoint->sockets, endpoint->sent_bytes,
           endpoint->received_bytes, endpoint->lost_bytes);
    print_time_field(endpoint->has_latency, endpoint->latency_ns_max);
    putchar('\n');
}

/* An endpoint gets a row when --vm names it, or (without --vm) when it is a named VM or
 * host, or an unnamed CID ("cid N") that had sockets or connections. */
static int endpoint_shown(const struct inspect *inspect, const char *name,
                          const struct endpoint_stats *endpoint)
{
    if (inspect->filter.vm_name != NULL)
        return strcmp(name, inspect->filter.vm_name) == 0;
    return strncmp(name, "cid ", 4) != 0 || endpoint->connections + endpoint->sockets > 0;
}

static void print_stats(struct inspect *inspect, const struct model *model,
                        const struct endpoint_stats *endpoints, struct inspect_table *table)
{
    uint64_t shown = 0, endpoints_shown = 0;
    if (table == NULL)
        printf("stream connections\n%5s  %-36s  %11s  %11s  %10s  %10s  %14s  %8s  %s\n", "#",
               "client -> server", "connect_s", "duration_s", "c->s B", "s->c B", "B/s",
               "lost B", "end");
    for (uint32_t number = 1; number <= model->connection_count; number++) {
        const struct connection *connection = &model->connections[number - 1];
        if (!inspect_model_connection_selected(model, connection))
            continue;
        struct connection_stats stats;
        connection_stats_of(model, connection, &stats);
        if (table != NULL)
            connection_stats_row(table, number, connection, &stats);
        else
            connection_stats_text(number, connection, &stats);
        shown++;
    }
    if (table == NULL)
        printf("endpoints\n  %-20s %11s  %7s  %10s  %10s  %8s  %11s\n", "name", "connections",
               "sockets", "sent B", "received B", "lost B", "connect_max");
    const struct inspect_names *names = &inspect->names;
    for (uint32_t index = 1; index < names->name_count; index++) {
        const char *name = inspect_name(names, index);
        if (!endpoint_shown(inspect, name, &endpoints[index]))
            continue;
        if (table != NULL)
            endpoint_stats_row(table, name, &endpoints[index]);
        else
            endpoint_stats_text(name, &endpoints[index]);
        endpoints_shown++;
    }
    if (table == NULL)
        printf("%" PRIu64 " stream connections (of %" PRIu32 "), %" PRIu64 " endpoints\n",
               shown, model->connection_count, endpoints_shown);
}

int inspect_view_stats(struct inspect *inspect)
{
    struct model model;
    int status = inspect_model_build(inspect, &model);
    uint32_t capacity = inspect->names.name_count;
    struct endpoint_stats *endpoints = calloc(capacity + 1u, sizeof *endpoints);
    if (status == 0 && endpoints == NULL)
        status = inspect_fail(inspect, "out of memory");
    if (status == 0) {
        tally_endpoints(&model, endpoints, capacity);
        struct inspect_table table;
        struct inspect_table *rows = inspect->format != INSPECT_FORMAT_TEXT ? &table : NULL;
        if (rows != NULL)
            inspect_table_begin(rows, inspect, "stats", stats_columns,
                                sizeof stats_columns / sizeof stats_columns[0]);
        print_stats(inspect, &model, endpoints, rows);
        if (rows != NULL)
            inspect_table_end(rows);
    }
    free(endpoints);
    inspect_model_free(&model);
    return status;
}
