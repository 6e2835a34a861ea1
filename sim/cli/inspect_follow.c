/* SPDX-License-Identifier: MIT */
/*
 * sim/cli/inspect_follow.c: `vmcisim inspect FILE.db follow N [client|server]`: the bytes of
 * stream connection N (numbered as `connections` numbers them) in the order they were
 * written, both ways or one side's (docs/cli.md, "inspect follow").
 *
 * The bytes are the `data` payloads of the connection's `qp_enqueue` events, each placed by
 * the writer's endpoint (its context at that point of the trace) and socket number, within
 * the side's lifetime (a stack that starts again numbers its sockets from 1 again). A write
 * whose payload the trace stored cut (fewer bytes than `bytes`: `--payload`) is shown with
 * what was stored and a note saying how many bytes are missing; nothing is ever made up.
 * `--format raw` writes the bytes alone, so it refuses (exit 1, before writing anything)
 * when any selected write was cut.
 * Formats: text (a marker line per write, the bytes with C escapes for what is not
 * printable), hex (a marker line, then a hex dump with offsets in the direction's stream),
 * raw, and tsv/csv/json (one row per write: FOLLOW_COLUMNS).
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sim/cli/cli.h"
#include "sim/cli/inspect_int.h"
#include "sim/cli/inspect_model.h"

#define FOLLOW_HEX_LINE_BYTES 16u

static const char *const follow_columns[] = {
    "seq", "time_ns", "side", "offset_bytes", "bytes", "stored_bytes", "data_hex",
};
#define FOLLOW_COLUMNS (sizeof follow_columns / sizeof follow_columns[0])

int inspect_follow_arguments(int count, char **values, const char **number, const char **side)
{
    if (count < 1)
        return cli_usage_error("%s", "inspect follow: missing the connection number N");
    char *end = NULL;
    unsigned long long value = strtoull(values[0], &end, 10);
    if (!isdigit((unsigned char)values[0][0]) || *end != '\0' || value == 0 ||
        value > INSPECT_CONNECTIONS_MAX)
        return cli_usage_error("inspect follow: '%s' is not a connection number from 1",
                               values[0]);
    *number = values[0];
    *side = NULL;
    if (count >= 2) {
        if (strcmp(values[1], "client") != 0 && strcmp(values[1], "server") != 0)
            return cli_usage_error("inspect follow: '%s' is not client or server", values[1]);
        *side = values[1];
    }
    if (count > 2)
        return cli_usage_error("inspect: unexpected argument '%s'", values[2]);
    return 0;
}

/* One side of the followed connection: whose writes are its own. */
struct follow_side {
    uint32_t owner;             /* endpoint name index */
    uint32_t socket;            /* socket number in that endpoint, 0 unknown */
    uint64_t from_ns, to_ns;    /* its lifetime in the trace */
    uint64_t offset_bytes;      /* bytes it wrote so far */
    uint64_t writes, missing_bytes;
};

struct follow {
    struct inspect *inspect;
    struct follow_side sides[SIDE_COUNT];
    int selected[SIDE_COUNT];
    struct inspect_table table;
};

/* The side that wrote event (ctx, socket at seq), or SIDE_COUNT. */
static enum side side_of_write(const struct follow *follow, uint32_t ctx, uint64_t socket,
                               uint64_t seq, uint64_t time_ns)
{
    uint32_t owner = inspect_owner(&follow->inspect->names, ctx, seq);
    for (int side = 0; side < SIDE_COUNT; side++) {
        const struct follow_side *candidate = &follow->sides[side];
        if (candidate->socket != 0 && candidate->owner == owner &&
            candidate->socket == socket && time_ns >= candidate->from_ns &&
            time_ns <= candidate->to_ns)
            return (enum side)side;
    }
    return SIDE_COUNT;
}

/* Text: printable ASCII, newline and tab as they are; the rest as C escapes. */
static void print_text(const uint8_t *data, uint64_t bytes)
{
    for (uint64_t index = 0; index < bytes; index++) {
        uint8_t byte = data[index];
        if (byte == '\\')
            fputs("\\\\", stdout);
        else if (byte == '\n' || byte == '\t' || (byte >= 0x20 && byte < 0x7f))
            putchar(byte);
        else
            printf("\\x%02x", byte);
    }
    if (bytes > 0 && data[bytes - 1] != '\n')
        putchar('\n');
}

static void print_hex(const uint8_t *data, uint64_t bytes, uint64_t offset)
{
    for (uint64_t line = 0; line < bytes; line += FOLLOW_HEX_LINE_BYTES) {
        printf("%08" PRIx64 " ", offset + line);
        for (uint64_t index = line; index < line + FOLLOW_HEX_LINE_BYTES; index++) {
            if (index < bytes)
                printf(" %02x", data[index]);
            else
                fputs("   ", stdout);
        }
        fputs("  |", stdout);
        for (uint64_t index = line; index < line + FOLLOW_HEX_LINE_BYTES && index < bytes;
             index++)
            putchar(data[index] >= 0x20 && data[index] < 0x7f ? data[index] : '.');
        fputs("|\n", stdout);
    }
}

static void print_row(struct follow *follow, const struct follow_side *side, enum side which,
                      uint64_t seq, uint64_t time_ns, uint64_t bytes, const uint8_t *data,
                      uint64_t stored)
{
    static const char digits[] = "0123456789abcdef";
    struct inspect_table *table = &follow->table;
    inspect_row_begin(table);
    inspect_value_u64(table, seq);
    inspect_value_u64(table, time_ns);
    inspect_value_text(table, inspect_side_names[which]);
    inspect_value_u64(table, side->offset_bytes);
    inspect_value_u64(table, bytes);
    inspect_value_u64(table, stored);
    char *hex = malloc(2 * stored + 1);
    if (hex != NULL) {
        for (uint64_t index = 0; index < stored; index++) {
            hex[2 * index] = digits[data[index] >> 4];
            hex[2 * index + 1] = digits[data[index] & 0xF];
        }
        hex[2 * stored] = '\0';
        inspect_value_text(table, hex);
        free(hex);
    } else {
        inspect_value_null(table);
    }
    inspect_row_end(table);
}

/* One write of `which`: `bytes` written, `stored` of them in `data`. */
static void show_write(struct follow *follow, enum side which, uint64_t seq, uint64_t time_ns,
                       uint64_t bytes, const uint8_t *data, uint64_t stored)
{
    struct follow_side *side = &follow->sides[which];
    enum inspect_format format = follow->inspect->format;
    if (format == INSPECT_FORMAT_RAW) {
        fwrite(data, 1, stored, stdout);
    } else if (format == INSPECT_FORMAT_TEXT || format == INSPECT_FORMAT_HEX) {
        char time_text[32];
        inspect_time(time_ns, time_text, sizeof time_text);
        printf("%s %s %s %" PRIu64 " bytes at offset %" PRIu64 " (seq %" PRIu64 ")\n",
               which == SIDE_CLIENT ? ">" : "<", inspect_side_names[which], time_text, bytes,
               side->offset_bytes, seq);
        if (format == INSPECT_FORMAT_TEXT)
            print_text(data, stored);
        else
            print_hex(data, stored, side->offset_bytes);
        if (stored < bytes)
            printf("[%" PRIu64 " of these %" PRIu64 " bytes were not stored in the trace "
                   "(--payload)]\n", bytes - stored, bytes);
    } else {
        print_row(follow, side, which, seq, time_ns, bytes, data, stored);
    }
    side->offset_bytes += bytes;
    side->writes++;
    side->missing_bytes += bytes - stored;
}

static const char follow_query[] =
    "SELECT seq, time_ns, ctx, json_extract(fields, '$.socket'), "
    "json_extract(fields, '$.bytes'), payload FROM events WHERE kind = 'qp_enqueue' "
    "AND time_ns BETWEEN ?1 AND ?2 ORDER BY seq";

/* One pass over the connection's writes: shown, or (check_only) only counted. */
static int follow_pass(struct follow *follow, uint64_t from_ns, uint64_t to_ns, int check_only)
{
    sqlite3_stmt *statement = inspect_prepare(follow->inspect, follow_query);
    if (statement == NULL)
        return 1;
    sqlite3_bind_int64(statement, 1, (sqlite3_int64)from_ns);
    sqlite3_bind_int64(statement, 2, (sqlite3_int64)(to_ns > INT64_MAX ? INT64_MAX : to_ns));
    int rc;
    while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
        int64_t bytes = sqlite3_column_int64(statement, 4);
        enum side which = side_of_write(follow, (uint32_t)inspect_u64(statement, 2),
                                        inspect_u64(statement, 3), inspect_u64(statement, 0),
                                        inspect_u64(statement, 1));
        if (bytes <= 0 || which == SIDE_COUNT || !follow->selected[which])
            continue;
        const uint8_t *data = sqlite3_column_blob(statement, 5);
        uint64_t stored = data != NULL ? (uint64_t)sqlite3_column_bytes(statement, 5) : 0;
        if (stored > (uint64_t)bytes)
            stored = (uint64_t)bytes;       /* a damaged trace: never more than was written */
        if (check_only)
            follow->sides[which].missing_bytes += (uint64_t)bytes - stored;
        else
            show_write(follow, which, inspect_u64(statement, 0), inspect_u64(statement, 1),
                       (uint64_t)bytes, data, stored);
    }
    return inspect_finish(follow->inspect, statement, rc);
}

/* The text and hex views' first line: who talks to whom. */
static void print_header(const struct model *model, uint32_t number)
{
    const struct connection *connection = &model->connections[number - 1];
    printf("connection %" PRIu32 ":", number);
    for (int side = 0; side < SIDE_COUNT; side++)
        printf("%s %s %s:%" PRIu32 " [cid %" PRIu32 "]", side == 0 ? "" : " <->",
               inspect_side_names[side],
               inspect_name(&model->inspect->names, connection->owner[side]),
               connection->port[side], connection->cid[side]);
    printf("\n");
}

static void print_totals(const struct follow *follow)
{
    for (int side = 0; side < SIDE_COUNT; side++) {
        const struct follow_side *totals = &follow->sides[side];
        if (!follow->selected[side])
            continue;
        printf("%s wrote %" PRIu64 " bytes in %" PRIu64 " write%s", inspect_side_names[side],
               totals->offset_bytes, totals->writes, totals->writes == 1 ? "" : "s");
        if (totals->missing_bytes > 0)
            printf("; %" PRIu64 " of them not stored in the trace (--payload)",
                   totals->missing_bytes);
        else
            printf(", all stored");
        printf("\n");
    }
}

/* The sides' owners, sockets and lifetimes from the model. */
static void follow_init(struct follow *follow, const struct model *model, uint32_t number,
                        const char *side_name)
{
    const struct connection *connection = &model->connections[number - 1];
    for (int side = 0; side < SIDE_COUNT; side++) {
        uint32_t socket = connection->socket[side];
        follow->sides[side] = (struct follow_side){
            .owner = connection->owner[side],
            .socket = socket != NONE ? model->sockets[socket - 1].id : 0,
            .from_ns = connection->requested_ns,
            .to_ns = inspect_model_side_end_ns(model, connection, (enum side)side),
        };
        follow->selected[side] = side_name == NULL ||
                                 strcmp(side_name, inspect_side_names[side]) == 0;
    }
}

static int follow_show(struct follow *follow, const struct model *model, uint32_t number)
{
    enum inspect_format format = follow->inspect->format;
    uint64_t from_ns = follow->sides[SIDE_CLIENT].from_ns;
    uint64_t to_ns = follow->sides[SIDE_CLIENT].to_ns > follow->sides[SIDE_SERVER].to_ns
                         ? follow->sides[SIDE_CLIENT].to_ns : follow->sides[SIDE_SERVER].to_ns;
    if (format == INSPECT_FORMAT_RAW) {
        int status = follow_pass(follow, from_ns, to_ns, 1);
        uint64_t missing = follow->sides[0].missing_bytes + follow->sides[1].missing_bytes;
        if (status == 0 && missing > 0) {
            char message[160];
            snprintf(message, sizeof message, "follow %" PRIu32 ": %" PRIu64 " bytes were not "
                     "stored in the trace (--payload); --format raw needs them all (text and "
                     "hex show what was stored)", number, missing);
            return inspect_fail(follow->inspect, message);
        }
        for (int side = 0; side < SIDE_COUNT; side++)
            follow->sides[side].missing_bytes = 0;
        return status == 0 ? follow_pass(follow, from_ns, to_ns, 0) : status;
    }
    if (format == INSPECT_FORMAT_TEXT || format == INSPECT_FORMAT_HEX) {
        print_header(model, number);
        int status = follow_pass(follow, from_ns, to_ns, 0);
        if (status == 0)
            print_totals(follow);
        return status;
    }
    inspect_table_begin(&follow->table, follow->inspect, "follow", follow_columns,
                        FOLLOW_COLUMNS);
    int status = follow_pass(follow, from_ns, to_ns, 0);
    inspect_table_end(&follow->table);
    return status;
}

int inspect_view_follow(struct inspect *inspect, const char *number_text, const char *side)
{
    uint32_t number = (uint32_t)strtoul(number_text, NULL, 10);
    struct model model;
    int status = inspect_model_build(inspect, &model);
    if (status == 0 && (number == 0 || number > model.connection_count)) {
        char message[128];
        snprintf(message, sizeof message, "follow: no connection %" PRIu32 " (the trace has %"
                 PRIu32 "; inspect connections lists them)", number, model.connection_count);
        status = inspect_fail(inspect, message);
    }
    if (status == 0) {
        struct follow follow = { .inspect = inspect };
        follow_init(&follow, &model, number, side);
        status = follow_show(&follow, &model, number);
    }
    inspect_model_free(&model);
    return status;
}
