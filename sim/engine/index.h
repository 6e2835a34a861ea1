/* SPDX-License-Identifier: MIT */
/*
 * sim/engine/index.h: two small tables the per-operation lookups of vmci/ and vsock/
 * are built on, so that one operation costs the same with 10 or 100 000 objects.
 *
 * struct sim_index: a hash index from a 64-bit key to the nodes embedded in the objects
 *   it indexes (an intrusive multimap). Keys are values the caller computes (handles,
 *   ports, CIDs), never addresses, and every bucket's chain is kept sorted by an `order`
 *   number the caller gives (a creation number, a slot index), so that the nodes of one
 *   key always come out in that order: the first match is the one a walk of the table in
 *   that order would have found first. Nothing here depends on where objects live in
 *   memory, so no iteration order can change from one machine or run to the next.
 * struct sim_slots: the free slots of a table kept as a min-heap, so that "reuse the
 *   lowest dead slot" (the rule the tables of vmci/ follow) is O(log n) instead of a scan.
 *
 * Invariants (sim_index_check): count equals the nodes in the buckets; each chain is
 *   sorted by order; each node sits in the bucket of its key. count <= count_max: an
 *   insert beyond count_max fails (SIM_ELIMIT) and changes nothing.
 * Bounds: SIM_INDEX_BUCKETS_MAX buckets; a table keeps growing its chains beyond it (or
 *   when memory for more buckets cannot be had), slower but still correct.
 */
#ifndef SIM_ENGINE_INDEX_H
#define SIM_ENGINE_INDEX_H

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>

#define SIM_INDEX_BUCKETS_INITIAL 16u
#define SIM_INDEX_BUCKETS_MAX     (1u << 24)
#define SIM_SLOTS_INITIAL         16u

struct sim_index_node {
    struct sim_index_node *next;        /* the bucket's chain, ascending order */
    uint64_t key;
    uint64_t order;
};

struct sim_index {
    struct sim_index_node **buckets;    /* owned; NULL while `initial` serves */
    uint32_t bucket_count;              /* a power of two */
    uint32_t count;
    uint32_t count_max;                 /* the bound of the table indexed */
    /* The first buckets live here, so an insert within count_max never fails: growing
     * is an optimisation that may fail quietly (longer chains, the same answers). */
    struct sim_index_node *initial[SIM_INDEX_BUCKETS_INITIAL];
};

void sim_index_init(struct sim_index *index, uint32_t count_max);
void sim_index_destroy(struct sim_index *index);
/* Adds `node` under `key`; returns 0 or SIM_ELIMIT (count_max reached: nothing changes). */
int sim_index_insert(struct sim_index *index, struct sim_index_node *node, uint64_t key,
                     uint64_t order);
/* Removes `node`, which must be in the index. */
void sim_index_remove(struct sim_index *index, struct sim_index_node *node);
/* The bucket of a key: SplitMix64's finaliser, a fixed function of the key's value. */
static inline uint32_t sim__index_bucket_of(uint64_t key, uint32_t bucket_count)
{
    uint64_t z = key + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (uint32_t)z & (bucket_count - 1u);
}

/* The buckets in use: the embedded ones until the first growth. */
static inline struct sim_index_node **sim__index_table(const struct sim_index *index)
{
    return index->buckets != NULL ? index->buckets
                                  : (struct sim_index_node **)index->initial;
}

/* The node of `key` with the lowest order, or NULL; then the next one of the same key.
 * Inline: the per-operation lookups of vmci/ and vsock/ each make one or more. */
static inline struct sim_index_node *sim_index_first(const struct sim_index *index,
                                                     uint64_t key)
{
    assert(index != NULL);
    struct sim_index_node *node =
        sim__index_table(index)[sim__index_bucket_of(key, index->bucket_count)];
    while (node != NULL && node->key != key)
        node = node->next;
    return node;
}
struct sim_index_node *sim_index_next(const struct sim_index_node *node);
/* Forgets every node (the objects are not touched); keeps the buckets. */
void sim_index_clear(struct sim_index *index);
bool sim_index_check(const struct sim_index *index);
/* The 64-bit key of two 32-bit halves. */
static inline uint64_t sim_index_key2(uint32_t high, uint32_t low)
{
    return ((uint64_t)high << 32) | low;
}

struct sim_slots {
    uint32_t *heap;                     /* owned: free slot numbers, a min-heap */
    uint32_t count;
    uint32_t capacity;
};

void sim_slots_init(struct sim_slots *slots);
void sim_slots_destroy(struct sim_slots *slots);
/* Records `slot` as free; returns 0 or SIM_ENOMEM (then the slot is simply not reused). */
int sim_slots_free(struct sim_slots *slots, uint32_t slot);
/* Takes the lowest free slot into *slot_out; false when none is free. */
bool sim_slots_take(struct sim_slots *slots, uint32_t *slot_out);

#endif /* SIM_ENGINE_INDEX_H */
