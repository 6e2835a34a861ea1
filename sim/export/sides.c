/* SPDX-License-Identifier: MIT */
/*
 * sim/export/sides.c: which side of which stream connection a socket is, for the
 * exporters that place a queue-pair write (`qp_enqueue`, with the writer's `socket`
 * number and context) in its connection: the pcap export's stream records and the
 * synthetic TCP capture (`--as-tcp`).
 *
 * The sides come from `inspect connections` (sim/cli gives them as export spans). A side
 * is keyed by (endpoint name, socket number): a socket's number is unique in its endpoint's
 * stack, while its port is not (a listener's children share the listener's port) and its
 * CID may change (R207). A stack that starts again (power cycle) numbers from 1 again, so a
 * key may name several sides: the one that had started by the time of the write, latest
 * first, wins. The table is sorted once (name, socket, start time, connection number), so
 * a lookup is a binary search and the answer does not depend on addresses.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "export_int.h"

struct export__sides {
    const struct export_span *spans;    /* borrowed from the options */
    uint32_t *order;                    /* span indexes, sorted by key */
    uint32_t count;
};

static int compare_spans(const struct export_span *left, const struct export_span *right)
{
    int names = strcmp(left->endpoint, right->endpoint);
    if (names != 0)
        return names;
    if (left->socket != right->socket)
        return left->socket < right->socket ? -1 : 1;
    if (left->start_ns != right->start_ns)
        return left->start_ns < right->start_ns ? -1 : 1;
    if (left->number != right->number)
        return left->number < right->number ? -1 : 1;
    return left->side < right->side ? -1 : left->side > right->side;
}

/* Insertion into runs merged bottom-up: qsort's comparator cannot see the span array
 * without a global, and a merge sort keeps the cost at n log n for big traces. */
static void sort_order(const struct export_span *spans, uint32_t *order, uint32_t *scratch,
                       uint32_t count)
{
    for (uint32_t width = 1; width < count; width *= 2) {
        for (uint32_t low = 0; low < count; low += 2 * width) {
            uint32_t middle = low + width < count ? low + width : count;
            uint32_t high = low + 2 * width < count ? low + 2 * width : count;
            uint32_t left = low, right = middle, out = low;
            while (left < middle && right < high)
                scratch[out++] = compare_spans(&spans[order[right]], &spans[order[left]]) < 0
                                     ? order[right++] : order[left++];
            while (left < middle)
                scratch[out++] = order[left++];
            while (right < high)
                scratch[out++] = order[right++];
        }
        memcpy(order, scratch, (size_t)count * sizeof *order);
    }
}

struct export__sides *export__sides_create(const struct export_span *spans, uint32_t count)
{
    assert(spans != NULL || count == 0);
    struct export__sides *sides = calloc(1, sizeof *sides);
    if (sides == NULL)
        return NULL;
    sides->spans = spans;
    sides->count = count;
    if (count == 0)
        return sides;
    sides->order = malloc((size_t)count * sizeof *sides->order);
    uint32_t *scratch = malloc((size_t)count * sizeof *scratch);
    if (sides->order == NULL || scratch == NULL) {
        free(scratch);
        export__sides_destroy(sides);
        return NULL;
    }
    for (uint32_t index = 0; index < count; index++)
        sides->order[index] = index;
    sort_order(spans, sides->order, scratch, count);
    free(scratch);
    return sides;
}

void export__sides_destroy(struct export__sides *sides)
{
    if (sides == NULL)
        return;
    free(sides->order);
    free(sides);
}

/* The first position whose key is (name, socket) or above. */
static uint32_t lower_bound(const struct export__sides *sides, const char *name, uint32_t socket)
{
    uint32_t low = 0, high = sides->count;
    while (low < high) {
        uint32_t middle = low + (high - low) / 2;
        const struct export_span *span = &sides->spans[sides->order[middle]];
        int names = strcmp(span->endpoint, name);
        if (names < 0 || (names == 0 && span->socket < socket))
            low = middle + 1;
        else
            high = middle;
    }
    return low;
}

const struct export_span *export__sides_find(const struct export__sides *sides, const char *name,
                                             uint32_t socket, uint64_t time_ns)
{
    assert(sides != NULL && name != NULL);
    if (socket == 0)
        return NULL;                    /* 0: the model could not tell the socket */
    const struct export_span *found = NULL;
    for (uint32_t at = lower_bound(sides, name, socket); at < sides->count; at++) {
        const struct export_span *span = &sides->spans[sides->order[at]];
        if (strcmp(span->endpoint, name) != 0 || span->socket != socket ||
            span->start_ns > time_ns)
            break;
        found = span;                   /* sorted by start: the latest started so far */
    }
    return found;
}
