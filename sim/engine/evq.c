/* SPDX-License-Identifier: MIT */
/*
 * sim/engine/evq.c: the event queue, an indexed binary min-heap of sorted chains of events.
 *
 * Why chains: a simulated fleet moves in step. Thousands of processes wake at the same
 * instant, so the pending events share a handful of distinct times (measured on
 * scenarios/fleet.lua at 1 000 guests: 16 000 to 33 000 pending events on 1 to 4
 * distinct times). A binary heap of single events then pays a full-depth sift for every
 * pop (the last node, moved to the root, has the largest seq of its time), with a cache
 * miss per level once the heap outgrows the caches. Here an event of a time that already
 * has events is appended to a chain behind them: each heap node is the first event of a
 * chain of events of one time in ascending (rank, seq) order, linked through the slot
 * table. Appending is O(1) and leaves the heap alone; popping a chain's first event puts
 * its successor in the same heap place (one short sift among the few chains). With every
 * time distinct there is no chain and this is the indexed binary heap it was.
 *
 * Why a sorted ring while the chains are few: a world of a few dozen processes with
 * jitter on has about 20 chains, nearly every time distinct, and the heap's sift down on
 * each pop and sift up on each push cost about 400 instructions an event (the sweep's
 * swarm fixture). Up to EVQ_SORTED_MAX chains their heads are kept in a ring sorted
 * earliest first: a pop takes the first without moving anything, and a push finds its
 * place by bisection and moves the nodes of the shorter side over by one (a new event there runs either very soon or after all the others: on the swarm
 * fixture its rank is 7 of 18 on average, the shorter side 2). No head's place is
 * recorded in its slot (SORTED_HEAD; a cancel or move of a head finds it by its key), so
 * moving a node is a copy. Past EVQ_SORTED_MAX chains the ring is copied in order to the
 * heap array, which makes a valid heap, and a push that finds a heap of EVQ_SORTED_BACK
 * chains or fewer sorts its nodes into the ring again (there, not in a pop, so that the
 * heap's pop keeps its cost); the gap between the two keeps a queue that hovers
 * around one size from converting at every event, and beyond EVQ_SORTED_MAX chains every
 * operation stays O(log n) amortised.
 *
 * Any grouping of the events into sorted chains pops them in the same order, since the
 * order (time_ns, rank, seq) is total (seq is unique): nothing depends on which chain an
 * event joined. An event is appended to the chain whose last event the open table (keyed
 * by time) names, when that event is still pending at the same time, still last, and
 * before it (the common case: a fresh seq, the default rank); otherwise (a ranked push
 * below the last rank, a move that keeps an old seq, a table collision) it starts a chain
 * of its own in the heap.
 *
 * Invariants (sim_evq_check):
 *   EQ1  heap[parent(i)] < heap[i] in (time_ns, rank, seq) order; a heap node's key is
 *        its slot's. Sorted (queue->sorted): the heads are ring_at(0 .. heap_count - 1)
 *        in ascending order instead, at most EVQ_SORTED_MAX of them.
 *   EQ2  slots[heap[i].slot].heap_index == i (sorted: SORTED_HEAD, the place is found by
 *        its key); a slot in the heap has no predecessor.
 *   EQ3  following `next` from a heap slot: events of its time in ascending (rank, seq),
 *        not in the heap, `prev` linking back.
 *   EQ4  the events in chains are the pending ones; pending + free slots == capacity;
 *        pending <= pending_max.
 */
#include <assert.h>
#include <stdlib.h>

#include "error.h"
#include "evq.h"

#define NONE UINT32_MAX
/* The heap_index of a chain's first event while the heads are in the sorted ring: a head's
 * place moves with pushes beside it, so it is looked up by its key when needed (a cancel
 * or move of a head), and a push moves bare nodes. */
#define SORTED_HEAD (UINT32_MAX - 1)
#define EVQ_INITIAL_CAPACITY 64u
/* Entries of the open table: a power of two, enough for the distinct times a world
 * schedules in one stretch (a miss only starts a chain more, never a wrong order). */
#define EVQ_OPEN_CHAINS 256u
/* The most chains kept in the sorted ring, and the count at which a heap becomes one
 * again at a push (the measurements behind them: docs/architecture.md, "Speed of one run"). */
#define EVQ_SORTED_MAX 32u
#define EVQ_SORTED_BACK 16u
/* The ring that holds them: a power of two above EVQ_SORTED_MAX. */
#define EVQ_RING_NODES 64u

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
    uint64_t time_ns;
    uint64_t seq;
    uint32_t rank;
    uint32_t domain;        /* who the event runs for (engine.h, "Domains") */
    uint32_t heap_index;    /* NONE when not pending or behind another event of its chain */
    uint32_t generation;    /* bumped at every reuse, so stale ids are detected */
    uint32_t prev;          /* the chain; NONE for its first event */
    uint32_t next;          /* the chain (NONE for its last event), or the free list */
};

struct sim_evq {
    struct sim_evq_head head;   /* first: the pending count, read inline (evq.h) */
    struct heap_node *heap;
    struct slot *slots;
    uint32_t heap_count;    /* chains */
    bool sorted;            /* the heads are in ring[], not heap[] */
    uint32_t ring_first;    /* sorted: the earliest head's place in ring[] */
    uint32_t capacity;      /* allocated heap nodes == allocated slots */
    uint32_t pending_max;
    uint32_t free_head;     /* NONE when no free slot */
    uint64_t seq_next;      /* the one counter that orders equal times */
    uint32_t open[EVQ_OPEN_CHAINS]; /* the last event of a chain, by time; a hint */
    struct heap_node ring[EVQ_RING_NODES];  /* sorted: the heads, earliest first, wrapping */
};

_Static_assert(sizeof(struct heap_node) == 24, "the rank lives in the node's padding");
_Static_assert(sizeof(struct slot) == 64, "one slot, one cache line");
_Static_assert((EVQ_OPEN_CHAINS & (EVQ_OPEN_CHAINS - 1)) == 0, "a power of two");
_Static_assert(EVQ_SORTED_BACK > 0 && EVQ_SORTED_BACK < EVQ_SORTED_MAX,
               "a gap between the two conversions");
_Static_assert((EVQ_RING_NODES & (EVQ_RING_NODES - 1)) == 0 && EVQ_RING_NODES > EVQ_SORTED_MAX,
               "a ring of a power of two that holds the most sorted heads");

static inline bool node_less(const struct heap_node *a, const struct heap_node *b)
{
    if (a->time_ns != b->time_ns)
        return a->time_ns < b->time_ns;
    if (a->rank != b->rank)
        return a->rank < b->rank;
    return a->seq < b->seq;
}

/* Slot a runs before slot b of the same time. */
static inline bool slot_before(const struct slot *a, const struct slot *b)
{
    return a->rank != b->rank ? a->rank < b->rank : a->seq < b->seq;
}

static inline uint32_t open_index(uint64_t time_ns)
{
    /* Fibonacci hashing: nearby times spread over the table. */
    return (uint32_t)((time_ns * 0x9E3779B97F4A7C15ull) >> 56) & (EVQ_OPEN_CHAINS - 1);
}

static inline bool pending(const struct slot *slot)
{
    return slot->heap_index != NONE || slot->prev != NONE;
}

struct sim_evq *sim_evq_create(uint32_t pending_max)
{
    assert(pending_max > 0);
    struct sim_evq *queue = calloc(1, sizeof(*queue));
    if (queue == NULL)
        return NULL;
    queue->pending_max = pending_max;
    queue->free_head = NONE;
    queue->sorted = true;
    for (uint32_t index = 0; index < EVQ_OPEN_CHAINS; index++)
        queue->open[index] = NONE;
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

/* Out of line and cold: a queue grows a few times in a run, and keeping the reallocation
 * out of push spares push the registers it would save on every call. */
static __attribute__((noinline, cold)) int grow(struct sim_evq *queue)
{
    uint32_t capacity = queue->capacity == 0 ? EVQ_INITIAL_CAPACITY : queue->capacity * 2;
    if (capacity > queue->pending_max || capacity < queue->capacity)
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
        slot->heap_index = NONE;
        slot->prev = NONE;
        slot->generation = 0;
        slot->next = queue->free_head;
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
    uint32_t count = queue->heap_count;
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

static inline struct heap_node node_of(const struct sim_evq *queue, uint32_t slot_index)
{
    const struct slot *slot = &queue->slots[slot_index];
    return (struct heap_node){ .time_ns = slot->time_ns, .seq = slot->seq, .slot = slot_index,
                               .rank = slot->rank };
}

/* Sorted: the head `index` places after the earliest (0 is the earliest). */
static inline struct heap_node *ring_at(struct sim_evq *queue, uint32_t index)
{
    return &queue->ring[(queue->ring_first + index) & (EVQ_RING_NODES - 1)];
}

static inline const struct heap_node *ring_at_const(const struct sim_evq *queue,
                                                    uint32_t index)
{
    return &queue->ring[(queue->ring_first + index) & (EVQ_RING_NODES - 1)];
}

/* The earliest chain's head: the ring's first, the heap's root. */
static inline const struct heap_node *top_node(const struct sim_evq *queue)
{
    assert(queue->heap_count > 0);
    return queue->sorted ? &queue->ring[queue->ring_first] : &queue->heap[0];
}

/* Sorted ring to heap: copied in ascending order, which is a heap. */
static __attribute__((noinline)) void sorted_to_heap(struct sim_evq *queue)
{
    assert(queue->sorted);
    for (uint32_t index = 0; index < queue->heap_count; index++)
        place(queue, index, *ring_at(queue, index));
    queue->sorted = false;
}

/* Heap to sorted ring: an insertion sort of at most EVQ_SORTED_BACK nodes. */
static __attribute__((noinline)) void heap_to_sorted(struct sim_evq *queue)
{
    assert(!queue->sorted && queue->heap_count <= EVQ_SORTED_BACK);
    uint32_t count = queue->heap_count;
    queue->ring_first = 0;
    for (uint32_t next = 0; next < count; next++) {
        struct heap_node node = queue->heap[next];
        uint32_t index = next;
        for (; index > 0 && node_less(&node, &queue->ring[index - 1]); index--)
            queue->ring[index] = queue->ring[index - 1];
        queue->ring[index] = node;
        queue->slots[node.slot].heap_index = SORTED_HEAD;
    }
    queue->sorted = true;
}

/* Sorted: the place of `node` among the heads (how many run before it), by bisection. */
static inline uint32_t sorted_rank(struct sim_evq *queue, const struct heap_node *node)
{
    uint32_t low = 0, high = queue->heap_count;    /* [0, low) before, [high, count) after */
    while (low < high) {
        uint32_t middle = (low + high) / 2;
        if (node_less(ring_at(queue, middle), node))
            low = middle + 1;
        else
            high = middle;
    }
    return low;
}

/* Sorted: a new head, the nodes on the shorter side of its place moved over by one. */
static inline __attribute__((always_inline)) void sorted_add(struct sim_evq *queue,
                                                           struct heap_node node)
{
    uint32_t count = queue->heap_count;
    uint32_t rank = sorted_rank(queue, &node);
    if (rank <= count - rank) {
        queue->ring_first = (queue->ring_first - 1) & (EVQ_RING_NODES - 1);
        for (uint32_t index = 0; index < rank; index++)
            *ring_at(queue, index) = *ring_at(queue, index + 1);
    } else {
        for (uint32_t index = count; index > rank; index--)
            *ring_at(queue, index) = *ring_at(queue, index - 1);
    }
    *ring_at(queue, rank) = node;
    queue->slots[node.slot].heap_index = SORTED_HEAD;
    queue->heap_count = count + 1;
}

/* Sorted: the place of head `slot_index` (pending, first of its chain), by its key. */
static uint32_t sorted_find(struct sim_evq *queue, uint32_t slot_index)
{
    struct heap_node key = node_of(queue, slot_index);
    uint32_t low = 0, high = queue->heap_count;
    while (low < high) {            /* the first place whose node is not before the key */
        uint32_t middle = low + (high - low) / 2;
        if (node_less(ring_at(queue, middle), &key))
            low = middle + 1;
        else
            high = middle;
    }
    assert(low < queue->heap_count && ring_at(queue, low)->slot == slot_index);
    return low;
}

/* A new chain's head, keeping EQ1 and EQ2. */
static inline __attribute__((always_inline)) void heads_add(struct sim_evq *queue,
                                                          struct heap_node node)
{
    if (queue->sorted && queue->heap_count == EVQ_SORTED_MAX)
        sorted_to_heap(queue);
    else if (!queue->sorted && queue->heap_count <= EVQ_SORTED_BACK)
        heap_to_sorted(queue);
    if (queue->sorted) {
        sorted_add(queue, node);
        return;
    }
    uint32_t index = queue->heap_count++;
    queue->heap[index] = node;
    sift_up(queue, index);
}

/* Sorted: removes the chain at position `index`, the nodes on the shorter side of it moved
 * over by one. */
static void sorted_remove_at(struct sim_evq *queue, uint32_t index)
{
    assert(queue->sorted && index < queue->heap_count);
    queue->slots[ring_at(queue, index)->slot].heap_index = NONE;
    uint32_t count = queue->heap_count--;
    if (index < count - 1 - index) {
        for (; index > 0; index--)
            *ring_at(queue, index) = *ring_at(queue, index - 1);
        queue->ring_first = (queue->ring_first + 1) & (EVQ_RING_NODES - 1);
    } else {
        for (; index + 1 < count; index++)
            *ring_at(queue, index) = *ring_at(queue, index + 1);
    }
}

/* Heap: removes the chain at position `index` (the heads become a ring again at the next
 * push, heads_add). */
static void heap_remove_at(struct sim_evq *queue, uint32_t index)
{
    assert(!queue->sorted && index < queue->heap_count);
    queue->slots[queue->heap[index].slot].heap_index = NONE;
    queue->heap_count--;
    if (index != queue->heap_count) {
        struct heap_node last = queue->heap[queue->heap_count];
        place(queue, index, last);
        if (index > 0 && node_less(&last, &queue->heap[(index - 1) / 2]))
            sift_up(queue, index);
        else
            sift_down(queue, index);
    }
}

/* Removes the chain at position `index`, keeping EQ1 and EQ2. */
static void remove_at(struct sim_evq *queue, uint32_t index)
{
    if (queue->sorted)
        sorted_remove_at(queue, index);
    else
        heap_remove_at(queue, index);
}

/* The head at position `index` gives its place to `node`, its chain's successor (a later
 * key), keeping EQ1 and EQ2. */
static inline void heads_replace(struct sim_evq *queue, uint32_t index, struct heap_node node)
{
    if (queue->sorted) {
        for (; index + 1 < queue->heap_count && node_less(ring_at(queue, index + 1), &node);
             index++)
            *ring_at(queue, index) = *ring_at(queue, index + 1);
        *ring_at(queue, index) = node;
        queue->slots[node.slot].heap_index = SORTED_HEAD;
        return;
    }
    place(queue, index, node);
    sift_down(queue, index);
}

/* Puts pending slot `slot_index` (its key set, in no chain) behind the last event the open
 * table names for its time when that may take it, else at the head of a chain of its own. */
static inline __attribute__((always_inline)) void insert(struct sim_evq *queue,
                                                        uint32_t slot_index)
{
    struct slot *slot = &queue->slots[slot_index];
    uint32_t *open = &queue->open[open_index(slot->time_ns)];
    slot->next = NONE;
    if (*open != NONE) {
        struct slot *last = &queue->slots[*open];
        if (last->time_ns == slot->time_ns && last->next == NONE && pending(last) &&
            slot_before(last, slot)) {
            last->next = slot_index;
            slot->prev = *open;
            slot->heap_index = NONE;
            *open = slot_index;
            return;                 /* behind the chain's first event: the heap is unchanged */
        }
    }
    slot->prev = NONE;
    heads_add(queue, node_of(queue, slot_index));
    *open = slot_index;
}

/* Takes pending `slot_index` out of its chain (the slot stays allocated): its successor
 * takes its heap place (a later key: a sift down) or its chain leaves the heap. */
static void unlink_slot(struct sim_evq *queue, uint32_t slot_index)
{
    struct slot *slot = &queue->slots[slot_index];
    assert(pending(slot));
    if (slot->next == NONE) {
        uint32_t *open = &queue->open[open_index(slot->time_ns)];
        if (*open == slot_index)
            *open = slot->prev;     /* NONE for a chain of one */
    } else {
        queue->slots[slot->next].prev = slot->prev;
    }
    if (slot->prev != NONE) {
        queue->slots[slot->prev].next = slot->next;
        slot->prev = NONE;
        return;
    }
    uint32_t index = queue->sorted ? sorted_find(queue, slot_index) : slot->heap_index;
    if (slot->next == NONE) {
        remove_at(queue, index);
        return;
    }
    slot->heap_index = NONE;
    heads_replace(queue, index, node_of(queue, slot->next));
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
    if (queue->head.pending >= queue->pending_max)
        return SIM_ELIMIT;
    if (queue->free_head == NONE) {
        int rc = grow(queue);
        if (rc < 0)
            return rc;
    }
    uint32_t slot_index = queue->free_head;
    struct slot *slot = &queue->slots[slot_index];
    assert(!pending(slot));
    queue->free_head = slot->next;
    slot->fn = fn;
    slot->arg = arg;
    slot->data = data;
    slot->domain = domain;
    slot->time_ns = time_ns;
    slot->seq = queue->seq_next++;
    slot->rank = rank;
    insert(queue, slot_index);
    queue->head.pending++;
    if (id_out != NULL)
        *id_out = make_id(slot_index, slot->generation);
    assert(pending(slot) && queue->heap_count <= queue->head.pending);
    return SIM_OK;
}

static inline void release_slot(struct sim_evq *queue, uint32_t slot_index)
{
    struct slot *slot = &queue->slots[slot_index];
    assert(!pending(slot));
    slot->generation++;
    slot->next = queue->free_head;
    queue->free_head = slot_index;
    queue->head.pending--;
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
    if (slot->generation != generation || !pending(slot))
        return NULL;
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
    unlink_slot(queue, slot_index);
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
    /* Out of its chain it needs at most the heap node it may have freed: heap nodes never
     * outnumber pending events, so a move never fails. */
    unlink_slot(queue, slot_index);
    slot->time_ns = time_ns;
    if (last) {
        slot->seq = queue->seq_next++;          /* after everything already at time_ns */
        slot->rank = SIM_EVQ_RANK_DEFAULT;
    }
    insert(queue, slot_index);
    assert(pending(slot) && queue->heap_count <= queue->head.pending);
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
    *time_ns = slot->time_ns;
    *domain = slot->domain;
    return true;
}

void sim_evq_peek(const struct sim_evq *queue, uint64_t *time_ns, uint32_t *domain,
                  sim_event_id *id)
{
    assert(queue != NULL);
    assert(queue->head.pending > 0);
    const struct heap_node *top = top_node(queue);
    const struct slot *slot = &queue->slots[top->slot];
    *time_ns = top->time_ns;
    *domain = slot->domain;
    *id = make_id(top->slot, slot->generation);
}

/* Fills `entry` from pending `slot`, the first of the earliest chain. */
static inline void entry_fill(struct sim_evq_entry *entry, const struct slot *slot)
{
    entry->time_ns = slot->time_ns;
    entry->seq = slot->seq;
    entry->fn = slot->fn;
    entry->arg = slot->arg;
    entry->data = slot->data;
    entry->domain = slot->domain;
}

/* sim_evq_pop of a queue whose heads are in the ring. */
static inline __attribute__((always_inline)) void pop_sorted(struct sim_evq *queue,
                                                             struct sim_evq_entry *entry)
{
    uint32_t slot_index = queue->ring[queue->ring_first].slot;
    struct slot *slot = &queue->slots[slot_index];
    entry_fill(entry, slot);
    slot->heap_index = NONE;
    if (slot->next == NONE) {
        queue->ring_first = (queue->ring_first + 1) & (EVQ_RING_NODES - 1);  /* nothing moves */
        queue->heap_count--;
    } else {
        queue->slots[slot->next].prev = NONE;
        heads_replace(queue, 0, node_of(queue, slot->next));
    }
    release_slot(queue, slot_index);
}

bool sim_evq_pop(struct sim_evq *queue, struct sim_evq_entry *entry)
{
    assert(queue != NULL);
    assert(entry != NULL);
    if (queue->head.pending == 0)
        return false;
    if (queue->sorted) {
        pop_sorted(queue, entry);
        entry->pending = queue->head.pending;
        return true;
    }
    uint32_t slot_index = queue->heap[0].slot;
    struct slot *slot = &queue->slots[slot_index];
    entry_fill(entry, slot);
    /* unlink_slot for the first event of the first chain, the one path every event takes:
     * a chain's last event may stay named in the open table, which checks what it names. */
    if (slot->next == NONE) {
        heap_remove_at(queue, 0);
    } else {
        queue->slots[slot->next].prev = NONE;
        slot->heap_index = NONE;
        struct heap_node successor = node_of(queue, slot->next);
        place(queue, 0, successor);
        /* The successor is of the root's time, which other chains rarely share: when it is
         * before both children it stays at the root, without the sift's call and loop. */
        uint32_t count = queue->heap_count;
        if ((count > 1 && !node_less(&successor, &queue->heap[1])) ||
            (count > 2 && !node_less(&successor, &queue->heap[2])))
            sift_down(queue, 0);
    }
    release_slot(queue, slot_index);
    entry->pending = queue->head.pending;
    return true;
}

uint64_t sim_evq_next_time(const struct sim_evq *queue)
{
    assert(queue != NULL);
    return queue->head.pending > 0 ? top_node(queue)->time_ns : UINT64_MAX;
}

uint32_t sim_evq_upcoming(const struct sim_evq *queue, uint32_t count, sim_event_fn *fns,
                          void **args)
{
    assert(queue != NULL);
    assert(count == 0 || (fns != NULL && args != NULL));
    uint32_t filled = 0;
    uint32_t slot_index = queue->head.pending > 0 ? top_node(queue)->slot : NONE;
    while (filled < count && slot_index != NONE) {
        const struct slot *slot = &queue->slots[slot_index];
        fns[filled] = slot->fn;
        args[filled] = slot->arg;
        filled++;
        slot_index = slot->next;
    }
    if (slot_index != NONE)
        __builtin_prefetch(&queue->slots[slot_index]);
    assert(filled <= count && filled <= queue->head.pending);
    return filled;
}

uint64_t sim_evq_peek_time(const struct sim_evq *queue)
{
    assert(queue != NULL);
    assert(queue->head.pending > 0);
    return top_node(queue)->time_ns;
}

uint32_t sim_evq_pending_max(const struct sim_evq *queue)
{
    assert(queue != NULL);
    return queue->pending_max;
}

/* EQ3 for the chain headed by heap slot `first`; adds its events to *events. */
static bool chain_check(const struct sim_evq *queue, uint32_t first, uint32_t *events)
{
    uint32_t previous = NONE;
    for (uint32_t index = first; index != NONE; index = queue->slots[index].next) {
        if (index >= queue->capacity || *events >= queue->head.pending)
            return false;
        const struct slot *slot = &queue->slots[index];
        if (slot->prev != previous || (previous != NONE && slot->heap_index != NONE))
            return false;
        if (previous != NONE && (slot->time_ns != queue->slots[first].time_ns ||
                                 !slot_before(&queue->slots[previous], slot)))
            return false;
        previous = index;
        (*events)++;
    }
    return true;
}

bool sim_evq_check(const struct sim_evq *queue)
{
    if (queue->head.pending > queue->pending_max || queue->head.pending > queue->capacity ||
        queue->heap_count > queue->head.pending ||
        (queue->sorted && queue->heap_count > EVQ_SORTED_MAX))
        return false;
    uint32_t events = 0;
    for (uint32_t index = 0; index < queue->heap_count; index++) {
        const struct heap_node *node = queue->sorted ? ring_at_const(queue, index)
                                                     : &queue->heap[index];
        if (index > 0 && (queue->sorted ? !node_less(ring_at_const(queue, index - 1), node)
                                        : node_less(node, &queue->heap[(index - 1) / 2])))
            return false;                                       /* EQ1 */
        if (node->slot >= queue->capacity ||
            queue->slots[node->slot].heap_index != (queue->sorted ? SORTED_HEAD : index) ||
            queue->slots[node->slot].prev != NONE)
            return false;                                       /* EQ2 */
        struct heap_node key = node_of(queue, node->slot);
        if (key.time_ns != node->time_ns || key.seq != node->seq || key.rank != node->rank)
            return false;                                       /* EQ1 */
        if (!chain_check(queue, node->slot, &events))
            return false;                                       /* EQ3 */
    }
    uint32_t free_count = 0;
    for (uint32_t slot = queue->free_head; slot != NONE; slot = queue->slots[slot].next) {
        if (free_count > queue->capacity || pending(&queue->slots[slot]))
            return false;
        free_count++;
    }
    return events == queue->head.pending && free_count + queue->head.pending == queue->capacity;
}
