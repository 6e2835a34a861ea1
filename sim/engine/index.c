/* SPDX-License-Identifier: MIT */
/*
 * sim/engine/index.c: the hash index and the free-slot heap of index.h.
 *
 * The hash of a key is SplitMix64's finaliser (index.h, with the lookup, inline: every
 * socket operation makes several lookups): a fixed function of the key's value, so
 * the buckets (and therefore everything derived from them) are the same on every run.
 * Chains are short (the table doubles its buckets when it holds as many nodes as
 * buckets) and sorted by order, which is what keeps "the first match" deterministic.
 */
#include <assert.h>
#include <stdlib.h>

#include "error.h"
#include "index.h"

static uint32_t bucket_of(uint64_t key, uint32_t bucket_count)
{
    return sim__index_bucket_of(key, bucket_count);
}

void sim_index_init(struct sim_index *index, uint32_t count_max)
{
    assert(index != NULL);
    *index = (struct sim_index){ .count_max = count_max,
                                 .bucket_count = SIM_INDEX_BUCKETS_INITIAL };
}

void sim_index_destroy(struct sim_index *index)
{
    if (index == NULL)
        return;
    free(index->buckets);
    sim_index_init(index, index->count_max);
}

/* The buckets in use: the embedded ones until the first growth. */
static struct sim_index_node **table(const struct sim_index *index)
{
    return sim__index_table(index);
}

/* Puts `node` into its chain of `buckets`, after every node of a lower or equal order. */
static void chain_insert(struct sim_index_node **buckets, uint32_t bucket_count,
                         struct sim_index_node *node)
{
    struct sim_index_node **link = &buckets[bucket_of(node->key, bucket_count)];
    while (*link != NULL && (*link)->order <= node->order)
        link = &(*link)->next;
    node->next = *link;
    *link = node;
}

/* Doubles the buckets; on failure the old ones stay (longer chains, same answers). */
static void grow(struct sim_index *index)
{
    uint32_t bucket_count = index->bucket_count * 2u;
    if (bucket_count > SIM_INDEX_BUCKETS_MAX)
        return;
    struct sim_index_node **buckets = calloc(bucket_count, sizeof(*buckets));
    if (buckets == NULL)
        return;
    struct sim_index_node **old = table(index);
    for (uint32_t bucket = 0; bucket < index->bucket_count; bucket++) {
        struct sim_index_node *node = old[bucket];
        while (node != NULL) {
            struct sim_index_node *next = node->next;
            chain_insert(buckets, bucket_count, node);
            node = next;
        }
    }
    free(index->buckets);
    index->buckets = buckets;
    index->bucket_count = bucket_count;
}

int sim_index_insert(struct sim_index *index, struct sim_index_node *node, uint64_t key,
                     uint64_t order)
{
    assert(index != NULL && node != NULL);
    assert(index->bucket_count >= SIM_INDEX_BUCKETS_INITIAL);
    if (index->count >= index->count_max)
        return SIM_ELIMIT;
    if (index->count >= index->bucket_count)
        grow(index);
    node->key = key;
    node->order = order;
    chain_insert(table(index), index->bucket_count, node);
    index->count++;
    return SIM_OK;
}

void sim_index_remove(struct sim_index *index, struct sim_index_node *node)
{
    assert(index != NULL && node != NULL && index->count > 0);
    struct sim_index_node **link = &table(index)[bucket_of(node->key, index->bucket_count)];
    while (*link != node) {
        assert(*link != NULL && "node not in the index");
        link = &(*link)->next;
    }
    *link = node->next;
    node->next = NULL;
    index->count--;
}

struct sim_index_node *sim_index_next(const struct sim_index_node *node)
{
    assert(node != NULL);
    struct sim_index_node *next = node->next;
    while (next != NULL && next->key != node->key)
        next = next->next;
    return next;
}

void sim_index_clear(struct sim_index *index)
{
    assert(index != NULL);
    struct sim_index_node **buckets = table(index);
    for (uint32_t bucket = 0; bucket < index->bucket_count; bucket++)
        buckets[bucket] = NULL;
    index->count = 0;
}

bool sim_index_check(const struct sim_index *index)
{
    uint64_t seen = 0;
    struct sim_index_node **buckets = table(index);
    for (uint32_t bucket = 0; bucket < index->bucket_count; bucket++) {
        for (const struct sim_index_node *node = buckets[bucket]; node != NULL;
             node = node->next) {
            if (bucket_of(node->key, index->bucket_count) != bucket ||
                (node->next != NULL && node->next->order < node->order))
                return false;
            seen++;
        }
    }
    return seen == index->count && index->count <= index->count_max;
}

void sim_slots_init(struct sim_slots *slots)
{
    assert(slots != NULL);
    *slots = (struct sim_slots){ 0 };
}

void sim_slots_destroy(struct sim_slots *slots)
{
    if (slots == NULL)
        return;
    free(slots->heap);
    *slots = (struct sim_slots){ 0 };
}

int sim_slots_free(struct sim_slots *slots, uint32_t slot)
{
    assert(slots != NULL);
    if (slots->count == slots->capacity) {
        uint32_t capacity = slots->capacity == 0 ? SIM_SLOTS_INITIAL : slots->capacity * 2u;
        if (capacity < slots->capacity)
            return SIM_ENOMEM;
        uint32_t *grown = realloc(slots->heap, (size_t)capacity * sizeof(*grown));
        if (grown == NULL)
            return SIM_ENOMEM;
        slots->heap = grown;
        slots->capacity = capacity;
    }
    uint32_t position = slots->count++;
    while (position > 0 && slots->heap[(position - 1) / 2] > slot) {
        slots->heap[position] = slots->heap[(position - 1) / 2];
        position = (position - 1) / 2;
    }
    slots->heap[position] = slot;
    return SIM_OK;
}

bool sim_slots_take(struct sim_slots *slots, uint32_t *slot_out)
{
    assert(slots != NULL && slot_out != NULL);
    if (slots->count == 0)
        return false;
    *slot_out = slots->heap[0];
    uint32_t last = slots->heap[--slots->count];
    uint32_t position = 0;
    for (;;) {
        uint32_t child = 2 * position + 1;
        if (child >= slots->count)
            break;
        if (child + 1 < slots->count && slots->heap[child + 1] < slots->heap[child])
            child++;
        if (slots->heap[child] >= last)
            break;
        slots->heap[position] = slots->heap[child];
        position = child;
    }
    if (slots->count > 0)
        slots->heap[position] = last;
    return true;
}
