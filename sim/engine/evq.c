/* SPDX-License-Identifier: MIT */
/*
 * sim/engine/evq.c: indexed binary min-heap of events keyed by (time_ns, seq).
 *
 * The heap holds compact nodes (key + slot number) so sifting touches one array;
 * the callback and its arguments live in a slot table that does not move while
 * the event is pending. Each slot remembers its heap position so cancel is a
 * sift, not a search.
 *
 * Invariants (sim_evq_check):
 *   EQ1  heap[parent(i)] < heap[i] in (time_ns, rank, seq) order.
 *   EQ2  slots[heap[i].slot].heap_index == i for every pending event.
 *   EQ3  pending + free slots == allocated slots; pending <= pending_max.
 */
#include <assert.h>
#include <stdlib.h>

#include "error.h"
#include "evq.h"

#define SLOT_FREE UINT32_MAX
#define EVQ_INITIAL_CAPACITY 64u

struct heap_node {
    uint64_t time_ns;
    uint64_t seq;
    uint32_t slot;
    uint32_t rank;          /* in what was padding: the node stays 24 bytes */
};

struct slot {
    sim_event_fn fn;
    void *arg;
    uint64_t data;
    uint32_t domain;        /* who the event runs for (engine.h, "Domains") */
    uint32_t heap_index;    /* SLOT_FREE when not pending */
    uint32_t generation;    /* bumped at every reuse, so stale ids are detected */
    uint32_t next_free;
};

struct sim_evq {
    struct heap_node *heap;
    struct slot *slots;
    uint32_t pending;
    uint32_t capacity;      /* allocated heap nodes == allocated slots */
    uint32_t pending_max;
    uint32_t free_head;     /* SLOT_FREE when no free slot */
    uint64_t seq_next;      /* the one counter that orders equal times */
};

_Static_assert(sizeof(struct heap_node) == 24, "the rank lives in the node's padding");

static inline bool node_less(const struct heap_node *a, const struct heap_node *b)
{
    if (a->time_ns != b->time_ns)
        return a->time_ns < b->time_ns;
    if (a->rank != b->rank)
        return a->rank < b->rank;
    return a->seq < b->seq;
}

struct sim_evq *sim_evq_create(uint32_t pending_max)
{
    assert(pending_max > 0);
    struct sim_evq *queue = calloc(1, sizeof(*queue));
    if (queue == NULL)
        return NULL;
    queue->pending_max = pending_max;
    queue->free_head = SLOT_FREE;
    return queue;
}

void sim_evq_destroy(struct sim_evq *queue)
{
    if (queue == NULL)
        return;
    free(queue->heap);
    free(queue->slots);
    free(queue);
}

static int grow(struct sim_evq *queue)
{
    uint32_t capacity = queue->capacity == 0 ? EVQ_INITIAL_CAPACITY : queue->capacity * 2;
    if (capacity > queue->pending_max)
        capacity = queue->pending_max;
    assert(capacity > queue->capacity);
    struct heap_node *heap = realloc(queue->heap, (size_t)capacity * sizeof(*heap));
    if (heap == NULL)
        return SIM_ENOMEM;
    queue->heap = heap;
    struct slot *slots = realloc(queue->slots, (size_t)capacity * sizeof(*slots));
    if (slots == NULL)
        return SIM_ENOMEM;
    queue->slots = slots;
    /* New slots join the free list in ascending order so slot use is deterministic. */
    for (uint32_t index = capacity; index > queue->capacity; index--) {
        struct slot *slot = &slots[index - 1];
        slot->heap_index = SLOT_FREE;
        slot->generation = 0;
        slot->next_free = queue->free_head;
        queue->free_head = index - 1;
    }
    queue->capacity = capacity;
    return SIM_OK;
}

static inline void place(struct sim_evq *queue, uint32_t index, struct heap_node node)
{
    queue->heap[index] = node;
    queue->slots[node.slot].heap_index = index;
}

static void sift_up(struct sim_evq *queue, uint32_t index)
{
    struct heap_node node = queue->heap[index];
    while (index > 0) {
        uint32_t parent = (index - 1) / 2;
        if (!node_less(&node, &queue->heap[parent]))
            break;
        place(queue, index, queue->heap[parent]);
        index = parent;
    }
    place(queue, index, node);
}

static void sift_down(struct sim_evq *queue, uint32_t index)
{
    struct heap_node node = queue->heap[index];
    uint32_t count = queue->pending;
    for (;;) {
        uint32_t child = 2 * index + 1;
        if (child >= count)
            break;
        if (child + 1 < count && node_less(&queue->heap[child + 1], &queue->heap[child]))
            child++;
        if (!node_less(&queue->heap[child], &node))
            break;
        place(queue, index, queue->heap[child]);
        index = child;
    }
    place(queue, index, node);
}

static inline sim_event_id make_id(uint32_t slot, uint32_t generation)
{
    /* +1 keeps id 0 free for SIM_EVENT_NONE. */
    return ((uint64_t)generation << 32) | ((uint64_t)slot + 1);
}

int sim_evq_push(struct sim_evq *queue, uint64_t time_ns, sim_event_fn fn, void *arg,
                 uint64_t data, sim_event_id *id_out)
{
    return sim_evq_push_in(queue, 0, time_ns, fn, arg, data, id_out);
}

int sim_evq_push_in(struct sim_evq *queue, uint32_t domain, uint64_t time_ns, sim_event_fn fn,
                    void *arg, uint64_t data, sim_event_id *id_out)
{
    return sim_evq_push_ranked(queue, domain, SIM_EVQ_RANK_DEFAULT, time_ns, fn, arg, data,
                               id_out);
}

int sim_evq_push_ranked(struct sim_evq *queue, uint32_t domain, uint32_t rank, uint64_t time_ns,
                        sim_event_fn fn, void *arg, uint64_t data, sim_event_id *id_out)
{
    assert(queue != NULL);
    assert(fn != NULL);
    if (queue->pending >= queue->pending_max)
        return SIM_ELIMIT;
    if (queue->free_head == SLOT_FREE) {
        int rc = grow(queue);
        if (rc < 0)
            return rc;
    }
    uint32_t slot_index = queue->free_head;
    struct slot *slot = &queue->slots[slot_index];
    assert(slot->heap_index == SLOT_FREE);
    queue->free_head = slot->next_free;
    slot->fn = fn;
    slot->arg = arg;
    slot->data = data;
    slot->domain = domain;
    struct heap_node node = { .time_ns = time_ns, .seq = queue->seq_next++, .slot = slot_index,
                              .rank = rank };
    queue->heap[queue->pending] = node;
    queue->pending++;
    sift_up(queue, queue->pending - 1);
    if (id_out != NULL)
        *id_out = make_id(slot_index, slot->generation);
    assert(slot->heap_index < queue->pending);
    return SIM_OK;
}

static void release_slot(struct sim_evq *queue, uint32_t slot_index)
{
    struct slot *slot = &queue->slots[slot_index];
    slot->heap_index = SLOT_FREE;
    slot->generation++;
    slot->next_free = queue->free_head;
    queue->free_head = slot_index;
}

/* Removes the node at heap position `index`, keeping EQ1 and EQ2. */
static void remove_at(struct sim_evq *queue, uint32_t index)
{
    assert(index < queue->pending);
    queue->pending--;
    if (index == queue->pending)
        return;
    struct heap_node last = queue->heap[queue->pending];
    place(queue, index, last);
    if (index > 0 && node_less(&last, &queue->heap[(index - 1) / 2]))
        sift_up(queue, index);
    else
        sift_down(queue, index);
}

/* The pending slot `id` names, or NULL (ran, cancelled, never existed). */
static struct slot *slot_of(const struct sim_evq *queue, sim_event_id id, uint32_t *index_out)
{
    if (id == SIM_EVENT_NONE)
        return NULL;
    uint32_t slot_index = (uint32_t)(id & 0xFFFFFFFFu) - 1;
    uint32_t generation = (uint32_t)(id >> 32);
    if (slot_index >= queue->capacity)
        return NULL;
    struct slot *slot = &queue->slots[slot_index];
    if (slot->generation != generation || slot->heap_index == SLOT_FREE)
        return NULL;
    assert(queue->heap[slot->heap_index].slot == slot_index);   /* EQ2 */
    *index_out = slot_index;
    return slot;
}

int sim_evq_cancel(struct sim_evq *queue, sim_event_id id)
{
    assert(queue != NULL);
    uint32_t slot_index = 0;
    struct slot *slot = slot_of(queue, id, &slot_index);
    if (slot == NULL)
        return SIM_ENOENT;
    remove_at(queue, slot->heap_index);
    release_slot(queue, slot_index);
    return SIM_OK;
}

int sim_evq_reschedule(struct sim_evq *queue, sim_event_id id, uint64_t time_ns)
{
    return sim_evq_move(queue, id, time_ns, false);
}

int sim_evq_move(struct sim_evq *queue, sim_event_id id, uint64_t time_ns, bool last)
{
    assert(queue != NULL);
    uint32_t slot_index = 0;
    struct slot *slot = slot_of(queue, id, &slot_index);
    if (slot == NULL)
        return SIM_ENOENT;
    uint32_t index = slot->heap_index;
    struct heap_node node = queue->heap[index];
    node.time_ns = time_ns;
    if (last) {
        node.seq = queue->seq_next++;           /* after everything already at time_ns */
        node.rank = SIM_EVQ_RANK_DEFAULT;
    }
    place(queue, index, node);
    if (index > 0 && node_less(&node, &queue->heap[(index - 1) / 2]))
        sift_up(queue, index);
    else
        sift_down(queue, index);
    assert(queue->heap[queue->slots[slot_index].heap_index].time_ns == time_ns);
    return SIM_OK;
}

bool sim_evq_lookup(const struct sim_evq *queue, sim_event_id id, uint64_t *time_ns,
                    uint32_t *domain)
{
    assert(queue != NULL);
    assert(time_ns != NULL && domain != NULL);
    uint32_t slot_index = 0;
    const struct slot *slot = slot_of(queue, id, &slot_index);
    if (slot == NULL)
        return false;
    *time_ns = queue->heap[slot->heap_index].time_ns;
    *domain = slot->domain;
    return true;
}

void sim_evq_peek(const struct sim_evq *queue, uint64_t *time_ns, uint32_t *domain,
                  sim_event_id *id)
{
    assert(queue != NULL);
    assert(queue->pending > 0);
    const struct heap_node *top = &queue->heap[0];
    const struct slot *slot = &queue->slots[top->slot];
    *time_ns = top->time_ns;
    *domain = slot->domain;
    *id = make_id(top->slot, slot->generation);
}

bool sim_evq_pop(struct sim_evq *queue, struct sim_evq_entry *entry)
{
    assert(queue != NULL);
    assert(entry != NULL);
    if (queue->pending == 0)
        return false;
    struct heap_node top = queue->heap[0];
    struct slot *slot = &queue->slots[top.slot];
    entry->time_ns = top.time_ns;
    entry->seq = top.seq;
    entry->fn = slot->fn;
    entry->arg = slot->arg;
    entry->data = slot->data;
    entry->domain = slot->domain;
    remove_at(queue, 0);
    release_slot(queue, top.slot);
    return true;
}

uint64_t sim_evq_peek_time(const struct sim_evq *queue)
{
    assert(queue != NULL);
    assert(queue->pending > 0);
    return queue->heap[0].time_ns;
}

uint32_t sim_evq_pending(const struct sim_evq *queue)
{
    assert(queue != NULL);
    return queue->pending;
}

uint32_t sim_evq_pending_max(const struct sim_evq *queue)
{
    assert(queue != NULL);
    return queue->pending_max;
}

bool sim_evq_check(const struct sim_evq *queue)
{
    if (queue->pending > queue->pending_max || queue->pending > queue->capacity)
        return false;
    for (uint32_t index = 0; index < queue->pending; index++) {
        const struct heap_node *node = &queue->heap[index];
        if (index > 0 && node_less(node, &queue->heap[(index - 1) / 2]))
            return false;                                       /* EQ1 */
        if (node->slot >= queue->capacity || queue->slots[node->slot].heap_index != index)
            return false;                                       /* EQ2 */
    }
    uint32_t free_count = 0;
    for (uint32_t slot = queue->free_head; slot != SLOT_FREE; slot = queue->slots[slot].next_free) {
        if (free_count > queue->capacity || queue->slots[slot].heap_index != SLOT_FREE)
            return false;
        free_count++;
    }
    return free_count + queue->pending == queue->capacity;      /* EQ3 */
}
