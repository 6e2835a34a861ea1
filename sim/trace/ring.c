/* SPDX-License-Identifier: MIT */
/*
 * sim/trace/ring.c: the record ring and the worker thread that stores its records (why and
 * the threading rules: ring.h).
 *
 * The ring is one preallocated buffer of TRACE_RING_BYTES (its own mapping; the worker maps
 * the lap's pages at its start, lap_populate). Positions are byte counts that
 * only grow (write_pos: appended so far; read_pos: released by the worker so far); a
 * position's offset in the buffer is the count modulo the size. A record is a struct
 * record_head, its fields as the event had them (struct sim_trace_field, pointers to
 * static names included) and the kept bytes of its blob fields one after the other, padded
 * to 8 bytes. A record never wraps: when it would end past the lap (TRACE_RING_LAP_BYTES;
 * only a record larger than its offset may, since it could not start at 0 before the
 * worker passed it) or past the end of the buffer, a wrap marker fills the rest of the
 * buffer and the record starts at offset 0. The marker's span counts
 * as used space like a record's, so the run cannot overtake the worker across it, and
 * ordinary records touch only the lap's pages.
 *
 * The run's thread is the only writer of write_pos, the worker the only writer of
 * read_pos; each reads the other's with acquire and publishes its own with a seq_cst store
 * (paired with the seq_cst load of the other side's sleeping/waiting flag, so a wake-up is
 * never lost). Sleeping and waking go through one mutex and one condition variable.
 *
 * Invariants (asserted on both sides at every index):
 *   R1  read_pos <= write_pos <= read_pos + TRACE_RING_BYTES.
 *   R2  every position is a multiple of 8; a record or wrap marker starts at one.
 *   R3  a record read back has the magic, size and field count that were written, and its
 *       kept bytes end exactly at its padded end.
 *   R4  a record is at most TRACE_RECORD_BYTES_MAX, and the ring holds two of the largest.
 */
#include <assert.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "sim/trace/fields_json.h"
#include "sim/trace/ring.h"

#define RECORD_MAGIC 0x31636552u        /* "Rec1" */
#define WRAP_MAGIC 0x70617257u          /* "Wrap" */
#define CACHE_LINE_BYTES 64u

_Static_assert(TRACE_RING_BYTES % 8u == 0, "R2: positions stay 8-aligned across a wrap");
_Static_assert(TRACE_RING_BYTES >= 2u * TRACE_RECORD_BYTES_MAX, "R4");
_Static_assert(TRACE_RING_LAP_BYTES % 8u == 0 && TRACE_RING_LAP_BYTES <= TRACE_RING_BYTES,
               "R2: a lap ends at an 8-aligned offset inside the buffer");
_Static_assert(TRACE_RING_WAKE_BYTES < TRACE_RING_LAP_BYTES / 2u, "a sleeping worker never "
               "leaves the run waiting for space");
_Static_assert(TRACE_RING_REFILL_BYTES <= TRACE_RING_LAP_BYTES, "a waiting run can be woken");

struct record_head {
    uint32_t magic;
    uint32_t record_bytes;              /* head, fields and kept bytes, padded to 8 */
    uint64_t seq;
    uint64_t time_ns;
    uint32_t ctx;
    uint32_t pid;
    const char *kind;                   /* static (trace.h) */
    uint32_t kind_bytes;
    uint32_t payload_bytes_max;         /* the cut this record was made with */
    uint8_t layer;
    uint8_t field_count;
    uint8_t padding[6];
};
_Static_assert(sizeof(struct record_head) % 8u == 0, "R2");
_Static_assert(sizeof(struct sim_trace_field) % 8u == 0, "R2");

/* Decoded events on their way from the worker to the storer (or, without a prepare
 * stage, to the worker's own store call). Blob values point into the ring, whose space
 * is released only once the batch is stored. */
struct batch {
    struct sim_trace_event events[TRACE_RING_STORE_EVENTS_MAX];
    uint32_t payload_bytes_max[TRACE_RING_STORE_EVENTS_MAX];
    uint32_t count;
    bool singly;                        /* stored one event per store call */
    bool commit;                        /* the transaction ends after it */
    bool drain;                         /* it answers a drain: drained_pos = end_pos */
    uint64_t end_pos;                   /* the end of its last record */
};

struct trace_ring {
    uint8_t *bytes;                     /* TRACE_RING_BYTES, owned */
    uint32_t commit_events;
    size_t commit_bytes;
    trace_ring_prepare_fn prepare;      /* NULL: one worker, which stores */
    trace_ring_store_fn store;
    trace_ring_commit_fn commit;
    void *state;
    trace_ring_observe_fn observe;      /* NULL: none; set while the worker is idle */
    void *observe_context;
    pthread_t worker;
    pthread_t storer;                   /* with a prepare stage */
    bool storer_started;
    struct batch *batches;              /* batch_count, owned */
    uint32_t batch_count;               /* TRACE_RING_BATCHES, or 1 without prepare */
    uint32_t storer_transaction_events; /* the storer's: stored since the last commit */
    /* The run's thread only. */
    uint64_t write_local;               /* == write_pos */
    uint64_t read_seen;                 /* a read_pos this thread loaded (<= read_pos) */
    uint64_t appended_events;
    size_t extent_bytes;                /* the furthest offset a record ended at */
    uint64_t run_wait_ns;               /* wall time spent in those waits (diagnostic) */
    _Atomic uint64_t run_waits;         /* times the run found the ring full (any thread reads) */
    char separate_producer[CACHE_LINE_BYTES];
    _Atomic uint64_t write_pos;
    char separate_write[CACHE_LINE_BYTES];
    _Atomic uint64_t read_pos;
    char separate_read[CACHE_LINE_BYTES];
    atomic_bool worker_sleeping;        /* set by the worker, cleared by whoever wakes it */
    _Atomic uint64_t sleep_pos;         /* where the worker went to sleep */
    atomic_bool run_waiting;            /* the run's thread waits for space */
    _Atomic uint64_t run_wait_free;     /* ... until this many bytes are free */
    atomic_bool failed;                 /* polled without the lock by every append */
    char separate_batches[CACHE_LINE_BYTES];
    _Atomic uint64_t batches_published; /* by the worker: batches handed on */
    _Atomic uint64_t batches_stored;    /* by the storer: batches stored, space released */
    atomic_bool storer_sleeping;        /* the storer waits for batches */
    _Atomic uint64_t hurry_published;   /* store up to here without waiting for more */
    atomic_bool worker_waits_batch;     /* the worker waits for a free batch */
    /* Under the mutex. */
    pthread_mutex_t mutex;
    pthread_cond_t changed;
    pthread_cond_t batches_changed;     /* the storer's and the worker's batch hand-off */
    bool drain_requested;
    uint64_t drain_target;              /* write_pos when the drain was asked */
    uint64_t drained_pos;               /* every record before it is stored and committed */
    bool stopping;
    int failure_code;
    char failure[SIM_ERROR_MESSAGE_BYTES_MAX];
};

static size_t align8(size_t size_bytes)
{
    return (size_bytes + 7u) & ~(size_t)7u;
}

/* R1, from either side. */
static void positions_check(uint64_t read, uint64_t write)
{
    assert(read <= write);
    assert(write - read <= TRACE_RING_BYTES);
    assert(read % 8u == 0 && write % 8u == 0);
    (void)read;
    (void)write;
}

/* The kept bytes of each field and the record's padded size, in one pass over the fields:
 * the same values as sim_trace_field_kept_bytes (fields_json.h: a string whole, the first
 * BYTES or PAYLOAD field and every PAYLOAD field cut to payload_bytes_max, a later BYTES
 * field whole, numbers nothing). Returns 0 when a string or blob is larger than the
 * engine lets a field be (SIM_TRACE_STRING_BYTES_MAX, SIM_TRACE_BYTES_MAX; only an event
 * filled by hand can be, the builders assert it): no record could hold it (R4). */
static size_t record_layout(const struct sim_trace_event *event, uint32_t payload_bytes_max,
                            uint32_t kept[SIM_TRACE_FIELDS_MAX])
{
    assert(event->field_count <= SIM_TRACE_FIELDS_MAX);
    uint32_t count = event->field_count;
    bool payload_seen = false;
    bool too_large = false;
    size_t size_bytes = sizeof(struct record_head) + count * sizeof(struct sim_trace_field);
    for (uint32_t index = 0; index < count; index++) {
        const struct sim_trace_field *field = &event->fields[index];
        assert(field->name != NULL);
        assert(field->type >= SIM_FIELD_U64 && field->type <= SIM_FIELD_PAYLOAD);
        uint32_t keep = 0;
        switch (field->type) {
        case SIM_FIELD_STR:
            keep = field->value.blob.size_bytes;
            too_large |= keep > SIM_TRACE_STRING_BYTES_MAX;
            break;
        case SIM_FIELD_BYTES:
        case SIM_FIELD_PAYLOAD:
            too_large |= field->value.blob.size_bytes > SIM_TRACE_BYTES_MAX;
            keep = sim_trace_blob_kept_bytes(field, &payload_seen, payload_bytes_max);
            break;
        default:
            break;
        }
        kept[index] = keep;
        size_bytes += keep;
    }
    if (too_large)
        return 0;
    size_bytes = align8(size_bytes);
    assert(size_bytes <= TRACE_RECORD_BYTES_MAX);       /* R4 */
    return size_bytes;
}

size_t trace_ring_record_bytes(const struct sim_trace_event *event, uint32_t payload_bytes_max)
{
    assert(event != NULL);
    uint32_t kept[SIM_TRACE_FIELDS_MAX];
    size_t size_bytes = record_layout(event, payload_bytes_max, kept);
#ifndef NDEBUG
    uint32_t payload_field = sim_trace_payload_field(event);
    for (uint32_t index = 0; size_bytes > 0 && index < event->field_count; index++)
        assert(kept[index] == sim_trace_field_kept_bytes(event, index, payload_field,
                                                         payload_bytes_max));
#endif
    return size_bytes;
}

/* ---- Failure ---------------------------------------------------------------------- */

/* The worker's first failure is kept; the mutex is held. */
static void fail_locked(struct trace_ring *ring, int code, const char *message)
{
    assert(code < 0);
    if (atomic_load(&ring->failed))
        return;
    ring->failure_code = code;
    snprintf(ring->failure, sizeof ring->failure, "%s", message);
    atomic_store(&ring->failed, true);
    pthread_cond_broadcast(&ring->changed);
}

static int failure_copy(struct trace_ring *ring, char *message)
{
    pthread_mutex_lock(&ring->mutex);
    int code = ring->failure_code;
    memcpy(message, ring->failure, SIM_ERROR_MESSAGE_BYTES_MAX);
    pthread_mutex_unlock(&ring->mutex);
    assert(code < 0);
    return code;
}

/* ---- The worker and the storer ---------------------------------------------------- */

/* What the worker holds between records: the batch it fills, the open transaction's size
 * (it decides where transactions end, so the storer commits where one worker would). */
struct worker {
    struct trace_ring *ring;
    uint64_t decoded_pos;               /* end of the last record decoded */
    struct batch *open;                 /* the batch being filled; NULL: none */
    uint64_t published;                 /* batches handed on (== batches_published) */
    size_t open_bytes;                  /* the open batch's record sizes (no wrap marker) */
    uint32_t transaction_events;
    size_t transaction_bytes;
    uint64_t drain_marked;              /* the last drain target a batch answers */
};

/* Decodes the record at decoded_pos into `event` (blob values pointing into the ring) and
 * returns its position's end; wrap markers are stepped over. */
static uint64_t record_read(struct worker *worker, struct sim_trace_event *event,
                            uint32_t *payload_bytes_max)
{
    const uint8_t *base = worker->ring->bytes;
    uint64_t position = worker->decoded_pos;
    /* A wrap marker is 8 bytes and may sit closer to the end than a head's size: read the
     * marker's two words first, the head only where a record is. */
    uint32_t marker[2];
    memcpy(marker, base + position % TRACE_RING_BYTES, sizeof marker);
    if (marker[0] == WRAP_MAGIC) {                                              /* R2 */
        assert(marker[1] == TRACE_RING_BYTES - position % TRACE_RING_BYTES);
        position += marker[1];
        assert(position % TRACE_RING_BYTES == 0);
    }
    assert(TRACE_RING_BYTES - position % TRACE_RING_BYTES >= sizeof(struct record_head));
    struct record_head head;
    memcpy(&head, base + position % TRACE_RING_BYTES, sizeof head);
    assert(head.magic == RECORD_MAGIC);                                         /* R3 */
    assert(head.record_bytes % 8u == 0 && head.record_bytes <= TRACE_RECORD_BYTES_MAX);
    assert(head.field_count <= SIM_TRACE_FIELDS_MAX);
    const uint8_t *start = base + position % TRACE_RING_BYTES;
    assert(position % TRACE_RING_BYTES + head.record_bytes <= TRACE_RING_BYTES);
    event->seq = head.seq;
    event->time_ns = head.time_ns;
    event->ctx = head.ctx;
    event->pid = head.pid;
    event->layer = (enum sim_layer)head.layer;
    event->kind = head.kind;
    event->field_count = head.field_count;
    event->kind_bytes = head.kind_bytes;
    const uint8_t *cursor = start + sizeof head;
    memcpy(event->fields, cursor, head.field_count * sizeof(struct sim_trace_field));
    cursor += head.field_count * sizeof(struct sim_trace_field);
    /* The kept bytes as record_layout counted them (sim_trace_field_kept_bytes), in one
     * walk: the payload field is the first BYTES or PAYLOAD field met. */
    bool payload_seen = false;
    for (uint32_t index = 0; index < event->field_count; index++) {
        struct sim_trace_field *field = &event->fields[index];
        uint32_t keep = field->value.blob.size_bytes;
        if (field->type == SIM_FIELD_STR) {
            field->value.blob.data = cursor;
        } else if (field->type == SIM_FIELD_BYTES || field->type == SIM_FIELD_PAYLOAD) {
            field->value.blob.data = cursor;
            keep = sim_trace_blob_kept_bytes(field, &payload_seen, head.payload_bytes_max);
        } else {
            continue;
        }
        cursor += keep;
    }
    assert(align8((size_t)(cursor - start)) == head.record_bytes);              /* R3 */
    *payload_bytes_max = head.payload_bytes_max;
    worker->open_bytes += head.record_bytes;
    return position + head.record_bytes;
}

/* Publishes read_pos (R1) and wakes the run's thread if it waits for space. */
static void release_to(struct trace_ring *ring, uint64_t position)
{
    positions_check(position, atomic_load_explicit(&ring->write_pos, memory_order_acquire));
    assert(position >= atomic_load_explicit(&ring->read_pos, memory_order_relaxed));
    atomic_store(&ring->read_pos, position);
    uint64_t free_bytes = TRACE_RING_BYTES -
                          (atomic_load_explicit(&ring->write_pos, memory_order_acquire) - position);
    if (atomic_load(&ring->run_waiting) && free_bytes >= atomic_load(&ring->run_wait_free)) {
        pthread_mutex_lock(&ring->mutex);
        pthread_cond_broadcast(&ring->changed);
        pthread_mutex_unlock(&ring->mutex);
    }
}

static void ring_fail(struct trace_ring *ring, int code, const char *message)
{
    pthread_mutex_lock(&ring->mutex);
    fail_locked(ring, code, message);
    pthread_mutex_unlock(&ring->mutex);
}

/* Names the calling thread, so that a profile (perf, top -H) tells the ring's threads
 * from the run's; a name the system refuses changes nothing. */
static void thread_name(const char *name)
{
    assert(strlen(name) < 16u);                 /* the kernel's TASK_COMM_LEN */
    (void)prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0);
}

/* Stores a batch (the storer's thread, or the worker's without a prepare stage): its
 * events TRACE_RING_STORE_EVENTS_MAX at once or one by one, releases their space, commits
 * where the worker said a transaction ends and answers a drain. After a failure the
 * events are released unstored. */
static void batch_store(struct trace_ring *ring, const struct batch *batch, uint32_t slot)
{
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    uint32_t step = batch->singly ? 1u : batch->count;
    for (uint32_t first = 0; first < batch->count && !atomic_load(&ring->failed);
         first += step) {
        int rc = ring->store(ring->state, slot + first, &batch->events[first],
                             &batch->payload_bytes_max[first], step, message);
        if (rc < 0)
            ring_fail(ring, rc, message);
        else if (ring->prepare == NULL && ring->observe != NULL)
            ring->observe(ring->observe_context, &batch->events[first],
                          &batch->payload_bytes_max[first], step);
    }
    ring->storer_transaction_events += batch->count;
    release_to(ring, batch->end_pos);
    if (batch->commit) {
        if (ring->storer_transaction_events > 0 && !atomic_load(&ring->failed)) {
            int rc = ring->commit(ring->state, message);
            if (rc < 0)
                ring_fail(ring, rc, message);
        }
        ring->storer_transaction_events = 0;
    }
    if (batch->drain) {
        pthread_mutex_lock(&ring->mutex);
        ring->drained_pos = batch->end_pos;
        pthread_cond_broadcast(&ring->changed);
        pthread_mutex_unlock(&ring->mutex);
    }
}

/* Wakes the storer when it sleeps and enough waits for it, or (`hurry`: the worker has
 * nothing more soon) anything does. The hurry mark is published before the storer's
 * sleeping flag is read (both sequentially consistent), so a storer about to sleep sees
 * either the mark or the wake-up. */
static void storer_nudge(struct trace_ring *ring, uint64_t published, bool hurry)
{
    if (hurry)
        atomic_store(&ring->hurry_published, published);
    if (!atomic_load(&ring->storer_sleeping))
        return;
    uint64_t waiting = published - atomic_load(&ring->batches_stored);
    if (waiting == 0 || (!hurry && waiting < TRACE_RING_BATCHES_WAKE))
        return;
    pthread_mutex_lock(&ring->mutex);
    pthread_cond_broadcast(&ring->batches_changed);
    pthread_mutex_unlock(&ring->mutex);
}

/* The storer's thread: stores the batches in the order the worker handed them on. */
static void *storer_main(void *arg)
{
    struct trace_ring *ring = arg;
    uint64_t stored = 0;
    thread_name("trace-store");
    for (;;) {
        pthread_mutex_lock(&ring->mutex);
        atomic_store(&ring->storer_sleeping, true);
        for (;;) {
            uint64_t waiting = atomic_load(&ring->batches_published) - stored;
            if (ring->stopping || waiting >= TRACE_RING_BATCHES_WAKE ||
                atomic_load(&ring->hurry_published) > stored)
                break;
            pthread_cond_wait(&ring->batches_changed, &ring->mutex);
        }
        atomic_store(&ring->storer_sleeping, false);
        bool stopping = ring->stopping;
        pthread_mutex_unlock(&ring->mutex);
        if (stopping)
            return NULL;            /* what waits is discarded (trace_ring_destroy) */
        uint64_t published = atomic_load(&ring->batches_published);
        for (; stored < published; stored++) {
            uint32_t index = (uint32_t)(stored % ring->batch_count);
            batch_store(ring, &ring->batches[index], index * TRACE_RING_STORE_EVENTS_MAX);
            atomic_store(&ring->batches_stored, stored + 1);
            if (atomic_load(&ring->worker_waits_batch) &&
                atomic_load(&ring->batches_published) - (stored + 1) <= ring->batch_count / 2) {
                pthread_mutex_lock(&ring->mutex);
                pthread_cond_broadcast(&ring->batches_changed);
                pthread_mutex_unlock(&ring->mutex);
            }
        }
    }
}

/* The batch the worker fills, a free one taken when none is open: NULL when the ring stops
 * while the worker waits for the storer to free one. */
static struct batch *batch_open(struct worker *worker)
{
    struct trace_ring *ring = worker->ring;
    if (worker->open != NULL)
        return worker->open;
    if (worker->published - atomic_load(&ring->batches_stored) >= ring->batch_count) {
        pthread_mutex_lock(&ring->mutex);
        atomic_store(&ring->worker_waits_batch, true);
        while (!ring->stopping &&
               worker->published - atomic_load(&ring->batches_stored) > ring->batch_count / 2)
            pthread_cond_wait(&ring->batches_changed, &ring->mutex);
        atomic_store(&ring->worker_waits_batch, false);
        bool stopping = ring->stopping;
        pthread_mutex_unlock(&ring->mutex);
        if (stopping)
            return NULL;
    }
    struct batch *batch = &ring->batches[worker->published % ring->batch_count];
    batch->count = 0;
    worker->open = batch;
    worker->open_bytes = 0;
    return batch;
}

/* Ends the open batch (an empty one is opened for a drain): decides whether the
 * transaction ends after it, prepares and observes it, hands it to the storer (or stores
 * it, without a prepare stage). `singly`: stored one event per call. */
static void batch_finish(struct worker *worker, bool singly, bool drain)
{
    struct trace_ring *ring = worker->ring;
    struct batch *batch = drain ? batch_open(worker) : worker->open;
    if (batch == NULL)
        return;
    worker->transaction_events += batch->count;
    worker->transaction_bytes += worker->open_bytes;
    batch->singly = singly;
    batch->drain = drain;
    batch->commit = drain || worker->transaction_events >= ring->commit_events ||
                    worker->transaction_bytes >= ring->commit_bytes;
    if (batch->commit) {
        worker->transaction_events = 0;
        worker->transaction_bytes = 0;
    }
    batch->end_pos = worker->decoded_pos;
    uint32_t slot = (uint32_t)(worker->published % ring->batch_count) *
                    TRACE_RING_STORE_EVENTS_MAX;
    if (ring->prepare != NULL && batch->count > 0 && !atomic_load(&ring->failed)) {
        char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
        int rc = ring->prepare(ring->state, slot, batch->events, batch->payload_bytes_max,
                               batch->count, message);
        if (rc < 0)
            ring_fail(ring, rc, message);
        else if (ring->observe != NULL)
            ring->observe(ring->observe_context, batch->events, batch->payload_bytes_max,
                          batch->count);
    }
    worker->open = NULL;
    worker->published++;
    if (ring->prepare == NULL) {
        batch_store(ring, batch, slot);
        atomic_store(&ring->batches_stored, worker->published);
    }
    atomic_store(&ring->batches_published, worker->published);
    if (ring->prepare != NULL)
        storer_nudge(ring, worker->published, drain);
}

/* Decodes every record before `write` into batches, handing each on as it fills. Returns
 * false when the ring stops. */
static bool worker_consume(struct worker *worker, uint64_t write)
{
    positions_check(atomic_load_explicit(&worker->ring->read_pos, memory_order_relaxed), write);
    while (worker->decoded_pos < write) {
        struct batch *batch = batch_open(worker);
        if (batch == NULL)
            return false;
        uint32_t index = batch->count;
        assert(index < TRACE_RING_STORE_EVENTS_MAX);
        worker->decoded_pos = record_read(worker, &batch->events[index],
                                          &batch->payload_bytes_max[index]);
        assert(worker->decoded_pos <= write);                                   /* R1 */
        batch->count++;
        /* A transaction ends at exactly commit_events: a group that would cross it is
         * stored one by one up to it. */
        bool transaction_full = worker->transaction_events + batch->count >=
                                worker->ring->commit_events;
        if (batch->count == TRACE_RING_STORE_EVENTS_MAX || transaction_full)
            batch_finish(worker, batch->count != TRACE_RING_STORE_EVENTS_MAX, false);
    }
    return true;
}

/* With everything visible decoded: hands on a partial batch when someone waits for it,
 * answers a drain, and sleeps until there is work. Returns false when the worker must
 * stop. */
static bool worker_wait(struct worker *worker)
{
    struct trace_ring *ring = worker->ring;
    pthread_mutex_lock(&ring->mutex);
    bool flush = ring->drain_requested || atomic_load(&ring->run_waiting);
    bool drain = ring->drain_requested && ring->drain_target <= worker->decoded_pos &&
                 worker->drain_marked < ring->drain_target;
    uint64_t drain_target = ring->drain_target;
    bool stopping = ring->stopping;
    pthread_mutex_unlock(&ring->mutex);
    if (stopping)
        return false;
    if (drain || (flush && worker->open != NULL && worker->open->count > 0))
        batch_finish(worker, true, drain);  /* a partial group, one row per statement */
    if (drain)
        worker->drain_marked = drain_target;
    if (ring->prepare != NULL)
        storer_nudge(ring, worker->published, true);    /* nothing more comes soon */
    pthread_mutex_lock(&ring->mutex);
    atomic_store(&ring->sleep_pos, worker->decoded_pos);
    atomic_store(&ring->worker_sleeping, true);
    for (;;) {
        uint64_t write = atomic_load(&ring->write_pos);
        bool work = ring->stopping || write - worker->decoded_pos >= TRACE_RING_WAKE_BYTES ||
                    (atomic_load(&ring->run_waiting) && write > worker->decoded_pos) ||
                    (ring->drain_requested && worker->drain_marked < ring->drain_target);
        if (work || !atomic_load(&ring->worker_sleeping))
            break;
        pthread_cond_wait(&ring->changed, &ring->mutex);
    }
    atomic_store(&ring->worker_sleeping, false);
    stopping = ring->stopping;
    pthread_mutex_unlock(&ring->mutex);
    return !stopping;
}

/* Maps the lap's pages before the run's thread writes them, so that the first lap's page
 * faults (1 024 of them, each a zeroed page) are taken here and not on the run's thread,
 * which bounds a traced stream. MADV_POPULATE_WRITE (Linux 5.14) fills page tables without
 * changing a byte, so the run may write records meanwhile; where it is missing or fails
 * the run's thread takes the faults as before. The buffer is its own mapping, so the lap
 * starts on a page and its pages are fresh. */
static void lap_populate(const struct trace_ring *ring)
{
#ifdef MADV_POPULATE_WRITE
    (void)madvise(ring->bytes, TRACE_RING_LAP_BYTES, MADV_POPULATE_WRITE);
#else
    (void)ring;
#endif
}

static void *worker_main(void *arg)
{
    struct worker *worker = arg;
    struct trace_ring *ring = worker->ring;
    thread_name(ring->prepare != NULL ? "trace-rows" : "trace-worker");
    lap_populate(ring);
    for (;;) {
        if (!worker_consume(worker,
                            atomic_load_explicit(&ring->write_pos, memory_order_acquire)))
            break;
        if (!worker_wait(worker))
            break;
    }
    free(worker);
    return NULL;
}

/* ---- Life ------------------------------------------------------------------------- */

static void ring_free(struct trace_ring *ring)
{
    if (ring == NULL)
        return;
    free(ring->batches);
    if (ring->bytes != NULL)
        munmap(ring->bytes, TRACE_RING_BYTES);
    free(ring);
}

static int ring_start(struct trace_ring *ring, struct worker *worker, char *message)
{
    pthread_mutex_init(&ring->mutex, NULL);
    pthread_cond_init(&ring->changed, NULL);
    pthread_cond_init(&ring->batches_changed, NULL);
    if (ring->prepare != NULL && pthread_create(&ring->storer, NULL, storer_main, ring) != 0)
        goto fail;
    ring->storer_started = ring->prepare != NULL;
    if (pthread_create(&ring->worker, NULL, worker_main, worker) == 0)
        return 0;
    if (ring->storer_started) {
        pthread_mutex_lock(&ring->mutex);
        ring->stopping = true;
        pthread_cond_broadcast(&ring->batches_changed);
        pthread_mutex_unlock(&ring->mutex);
        pthread_join(ring->storer, NULL);
    }
fail:
    pthread_cond_destroy(&ring->batches_changed);
    pthread_cond_destroy(&ring->changed);
    pthread_mutex_destroy(&ring->mutex);
    snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX, "trace ring: cannot start a thread");
    return SIM_ENOMEM;
}

int trace_ring_create_staged(struct trace_ring **out, uint32_t commit_events,
                             size_t commit_bytes, trace_ring_prepare_fn prepare,
                             trace_ring_store_fn store, trace_ring_commit_fn commit,
                             void *state, char message[SIM_ERROR_MESSAGE_BYTES_MAX])
{
    assert(out != NULL && store != NULL && commit != NULL && message != NULL);
    assert(commit_events > 0 && commit_bytes > 0);
    *out = NULL;
    uint32_t batch_count = prepare != NULL ? TRACE_RING_BATCHES : 1u;
    struct trace_ring *ring = calloc(1, sizeof *ring);
    struct worker *worker = calloc(1, sizeof *worker);
    struct batch *batches = calloc(batch_count, sizeof *batches);
    /* Its own mapping, not the heap's: fresh pages that lap_populate can map whole from
     * the first, and that go back to the system at the destroy. */
    void *mapping = mmap(NULL, TRACE_RING_BYTES, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uint8_t *bytes = mapping == MAP_FAILED ? NULL : mapping;
    if (ring == NULL || worker == NULL || batches == NULL || bytes == NULL) {
        free(ring);
        free(worker);
        free(batches);
        if (bytes != NULL)
            munmap(bytes, TRACE_RING_BYTES);
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX, "trace ring: out of memory");
        return SIM_ENOMEM;
    }
    assert((uintptr_t)bytes % 8u == 0);
    *ring = (struct trace_ring){
        .bytes = bytes, .commit_events = commit_events, .commit_bytes = commit_bytes,
        .prepare = prepare, .store = store, .commit = commit, .state = state,
        .batches = batches, .batch_count = batch_count,
    };
    atomic_init(&ring->write_pos, 0);
    atomic_init(&ring->read_pos, 0);
    atomic_init(&ring->worker_sleeping, false);
    atomic_init(&ring->sleep_pos, 0);
    atomic_init(&ring->run_waiting, false);
    atomic_init(&ring->run_wait_free, 0);
    atomic_init(&ring->run_waits, 0);
    atomic_init(&ring->failed, false);
    atomic_init(&ring->batches_published, 0);
    atomic_init(&ring->batches_stored, 0);
    atomic_init(&ring->storer_sleeping, false);
    atomic_init(&ring->hurry_published, 0);
    atomic_init(&ring->worker_waits_batch, false);
    worker->ring = ring;
    int rc = ring_start(ring, worker, message);
    if (rc < 0) {
        free(worker);
        ring_free(ring);
        return rc;
    }
    *out = ring;
    return 0;
}

int trace_ring_create(struct trace_ring **out, uint32_t commit_events, size_t commit_bytes,
                      trace_ring_store_fn store, trace_ring_commit_fn commit, void *state,
                      char message[SIM_ERROR_MESSAGE_BYTES_MAX])
{
    return trace_ring_create_staged(out, commit_events, commit_bytes, NULL, store, commit,
                                    state, message);
}

void trace_ring_destroy(struct trace_ring *ring)
{
    assert(ring != NULL);
    pthread_mutex_lock(&ring->mutex);
    ring->stopping = true;
    /* What is still in the ring is discarded, not stored. */
    fail_locked(ring, SIM_ESINK, "trace ring: stopped");
    atomic_store(&ring->worker_sleeping, false);
    pthread_cond_broadcast(&ring->changed);
    pthread_cond_broadcast(&ring->batches_changed);
    pthread_mutex_unlock(&ring->mutex);
    pthread_join(ring->worker, NULL);
    if (ring->storer_started)
        pthread_join(ring->storer, NULL);
    pthread_cond_destroy(&ring->batches_changed);
    pthread_cond_destroy(&ring->changed);
    pthread_mutex_destroy(&ring->mutex);
    ring_free(ring);
}

/* ---- The run's side --------------------------------------------------------------- */

/* Waits until `need` bytes after write_local are free (R1). Once it has to wait, it waits
 * for TRACE_RING_REFILL_BYTES (or `need` if more): waking for each record the worker frees
 * would cost a thread switch per record when the worker is the slower side. */
static int space_wait(struct trace_ring *ring, size_t need, char *message)
{
    assert(need <= TRACE_RING_BYTES);
    if (TRACE_RING_BYTES - (ring->write_local - ring->read_seen) >= need)
        return 0;
    ring->read_seen = atomic_load_explicit(&ring->read_pos, memory_order_acquire);
    positions_check(ring->read_seen, ring->write_local);
    if (TRACE_RING_BYTES - (ring->write_local - ring->read_seen) >= need)
        return 0;
    size_t wait_free = need > TRACE_RING_REFILL_BYTES ? need : TRACE_RING_REFILL_BYTES;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);     /* for the diagnostic only (ring.h) */
    pthread_mutex_lock(&ring->mutex);
    atomic_fetch_add_explicit(&ring->run_waits, 1, memory_order_relaxed);
    atomic_store(&ring->run_wait_free, wait_free);
    atomic_store(&ring->run_waiting, true);
    atomic_store(&ring->worker_sleeping, false);
    pthread_cond_broadcast(&ring->changed);
    for (;;) {
        ring->read_seen = atomic_load(&ring->read_pos);
        positions_check(ring->read_seen, ring->write_local);
        if (TRACE_RING_BYTES - (ring->write_local - ring->read_seen) >= wait_free ||
            atomic_load(&ring->failed))
            break;
        pthread_cond_wait(&ring->changed, &ring->mutex);
    }
    atomic_store(&ring->run_waiting, false);
    pthread_mutex_unlock(&ring->mutex);
    struct timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    int64_t waited_ns = (int64_t)(end.tv_sec - start.tv_sec) * 1000000000 +
                        (end.tv_nsec - start.tv_nsec);
    ring->run_wait_ns += waited_ns > 0 ? (uint64_t)waited_ns : 0u;
    if (atomic_load(&ring->failed))
        return failure_copy(ring, message);
    return 0;
}

/* Writes the record at write_local, whose offset in the buffer is `offset` (the space is
 * free and does not wrap). */
static void record_write(struct trace_ring *ring, size_t offset,
                         const struct sim_trace_event *event, uint32_t payload_bytes_max,
                         const uint32_t *kept, size_t size_bytes)
{
    uint8_t *start = ring->bytes + offset;
    assert(offset + size_bytes <= TRACE_RING_BYTES);                                /* R2 */
    struct record_head head = {
        .magic = RECORD_MAGIC, .record_bytes = (uint32_t)size_bytes, .seq = event->seq,
        .time_ns = event->time_ns, .ctx = event->ctx, .pid = event->pid, .kind = event->kind,
        .kind_bytes = event->kind_bytes, .payload_bytes_max = payload_bytes_max,
        .layer = (uint8_t)event->layer, .field_count = (uint8_t)event->field_count,
    };
    memcpy(start, &head, sizeof head);
    uint8_t *cursor = start + sizeof head;
    size_t fields_bytes = event->field_count * sizeof(struct sim_trace_field);
    memcpy(cursor, event->fields, fields_bytes);
    cursor += fields_bytes;
    for (uint32_t index = 0; index < event->field_count; index++) {
        if (kept[index] == 0)
            continue;
        memcpy(cursor, event->fields[index].value.blob.data, kept[index]);
        cursor += kept[index];
    }
    assert(align8((size_t)(cursor - start)) == size_bytes);                     /* R3 */
}

/* Wakes the worker when it sleeps and enough waits for it. */
static void worker_nudge(struct trace_ring *ring)
{
    if (!atomic_load(&ring->worker_sleeping))
        return;
    if (ring->write_local - atomic_load(&ring->sleep_pos) < TRACE_RING_WAKE_BYTES)
        return;
    pthread_mutex_lock(&ring->mutex);
    atomic_store(&ring->worker_sleeping, false);
    pthread_cond_broadcast(&ring->changed);
    pthread_mutex_unlock(&ring->mutex);
}

/* The common case in one walk over the fields: the record is written at `offset` while
 * its size is counted, as long as it fits in the `room_bytes` there (free, and before the
 * lap's end, so neither a wrap nor a wait is needed). Returns its size, or 0 when it does
 * not fit or has a field above its limit: nothing is published then, and the caller lays
 * the record out first (record_layout) and writes it again. Keeps what record_layout and
 * record_write make: the same bytes. */
static size_t record_write_fitting(struct trace_ring *ring, size_t offset, size_t room_bytes,
                                   const struct sim_trace_event *event,
                                   uint32_t payload_bytes_max)
{
    uint32_t count = event->field_count;
    size_t head_bytes = sizeof(struct record_head) + count * sizeof(struct sim_trace_field);
    if (head_bytes > room_bytes)
        return 0;
    uint8_t *start = ring->bytes + offset;
    uint8_t *cursor = start + head_bytes;
    size_t left_bytes = room_bytes - head_bytes;
    bool payload_seen = false;
    for (uint32_t index = 0; index < count; index++) {
        const struct sim_trace_field *field = &event->fields[index];
        assert(field->name != NULL);
        memcpy(start + sizeof(struct record_head) + index * sizeof *field, field, sizeof *field);
        uint32_t keep = field->value.blob.size_bytes;
        if (field->type == SIM_FIELD_STR) {
            if (keep > SIM_TRACE_STRING_BYTES_MAX)
                return 0;
        } else if (field->type == SIM_FIELD_BYTES || field->type == SIM_FIELD_PAYLOAD) {
            if (keep > SIM_TRACE_BYTES_MAX)
                return 0;
            keep = sim_trace_blob_kept_bytes(field, &payload_seen, payload_bytes_max);
        } else {
            assert(field->type == SIM_FIELD_U64 || field->type == SIM_FIELD_I64);
            continue;
        }
        if (keep > left_bytes)
            return 0;
        if (keep > 0)
            memcpy(cursor, field->value.blob.data, keep);
        cursor += keep;
        left_bytes -= keep;
    }
    size_t size_bytes = align8((size_t)(cursor - start));
    if (size_bytes > room_bytes)
        return 0;
    struct record_head head = {
        .magic = RECORD_MAGIC, .record_bytes = (uint32_t)size_bytes, .seq = event->seq,
        .time_ns = event->time_ns, .ctx = event->ctx, .pid = event->pid, .kind = event->kind,
        .kind_bytes = event->kind_bytes, .payload_bytes_max = payload_bytes_max,
        .layer = (uint8_t)event->layer, .field_count = (uint8_t)count,
    };
    memcpy(start, &head, sizeof head);
    assert(size_bytes <= TRACE_RECORD_BYTES_MAX);                                   /* R4 */
    return size_bytes;
}

/* The bytes free after write_local as last seen and before the lap's end: where a record
 * can go with no wrap and no wait (0 past the lap, where only a large record lies). */
static size_t fitting_room_bytes(const struct trace_ring *ring, size_t offset)
{
    if (offset >= TRACE_RING_LAP_BYTES)
        return 0;
    size_t free_bytes = TRACE_RING_BYTES - (size_t)(ring->write_local - ring->read_seen);
    size_t lap_bytes = TRACE_RING_LAP_BYTES - offset;
    return free_bytes < lap_bytes ? free_bytes : lap_bytes;
}

/* Publishes a record of `size_bytes` written at `offset` (R1) and wakes the worker if
 * it sleeps and enough waits. */
static void record_publish(struct trace_ring *ring, size_t offset, size_t size_bytes)
{
    size_t end_bytes = offset + size_bytes;
    if (end_bytes > ring->extent_bytes)
        ring->extent_bytes = end_bytes;
    ring->write_local += size_bytes;
    positions_check(ring->read_seen, ring->write_local);                        /* R1 */
    atomic_store(&ring->write_pos, ring->write_local);
    ring->appended_events++;
    worker_nudge(ring);
}

int trace_ring_append(struct trace_ring *ring, const struct sim_trace_event *event,
                      uint32_t payload_bytes_max, char message[SIM_ERROR_MESSAGE_BYTES_MAX])
{
    assert(ring != NULL && event != NULL && message != NULL);
    assert(event->kind != NULL && event->field_count <= SIM_TRACE_FIELDS_MAX);
    if (atomic_load_explicit(&ring->failed, memory_order_acquire))
        return failure_copy(ring, message);
    size_t fitting_offset = ring->write_local % TRACE_RING_BYTES;
    size_t fitting_bytes = record_write_fitting(ring, fitting_offset,
                                                fitting_room_bytes(ring, fitting_offset),
                                                event, payload_bytes_max);
    if (fitting_bytes > 0) {
        record_publish(ring, fitting_offset, fitting_bytes);
        return 0;
    }
    uint32_t kept[SIM_TRACE_FIELDS_MAX];
    size_t size_bytes = record_layout(event, payload_bytes_max, kept);
    if (size_bytes == 0) {
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX, "trace ring: event %" PRIu64 " has a "
                 "field larger than SIM_TRACE_STRING_BYTES_MAX or SIM_TRACE_BYTES_MAX allow",
                 event->seq);
        return SIM_ELIMIT;                  /* nothing written: the ring works on */
    }
    size_t offset = ring->write_local % TRACE_RING_BYTES;
    /* Back to the start at the lap's end, unless the record is larger than what lies
     * before it (it could not fit there: it stays in place, past the lap). */
    bool past_lap = offset + size_bytes > TRACE_RING_LAP_BYTES && size_bytes <= offset;
    bool past_end = offset + size_bytes > TRACE_RING_BYTES;
    size_t wrap_bytes = past_lap || past_end ? TRACE_RING_BYTES - offset : 0;
    int rc = space_wait(ring, wrap_bytes + size_bytes, message);
    if (rc < 0)
        return rc;
    if (wrap_bytes > 0) {                                                       /* R2 */
        assert(wrap_bytes >= 8u && wrap_bytes % 8u == 0);
        uint32_t wrap[2] = { WRAP_MAGIC, (uint32_t)wrap_bytes };
        memcpy(ring->bytes + offset, wrap, sizeof wrap);
        ring->write_local += wrap_bytes;
        offset = 0;
    }
    record_write(ring, offset, event, payload_bytes_max, kept, size_bytes);
    record_publish(ring, offset, size_bytes);
    return 0;
}

void trace_ring_observe(struct trace_ring *ring, trace_ring_observe_fn observe, void *context)
{
    assert(ring != NULL);
    /* The worker is idle: everything appended was drained (or nothing was appended). */
    assert(ring->write_local == atomic_load_explicit(&ring->read_pos, memory_order_acquire));
    ring->observe = observe;
    ring->observe_context = context;
}

int trace_ring_drain(struct trace_ring *ring, char message[SIM_ERROR_MESSAGE_BYTES_MAX])
{
    assert(ring != NULL && message != NULL);
    pthread_mutex_lock(&ring->mutex);
    ring->drain_requested = true;
    ring->drain_target = ring->write_local;
    atomic_store(&ring->worker_sleeping, false);
    pthread_cond_broadcast(&ring->changed);
    while (ring->drained_pos < ring->drain_target && !atomic_load(&ring->failed))
        pthread_cond_wait(&ring->changed, &ring->mutex);
    ring->drain_requested = false;
    pthread_mutex_unlock(&ring->mutex);
    if (atomic_load(&ring->failed))
        return failure_copy(ring, message);
    ring->read_seen = atomic_load_explicit(&ring->read_pos, memory_order_acquire);
    assert(ring->read_seen == ring->write_local);                               /* R1 */
    return 0;
}

size_t trace_ring_extent_bytes(const struct trace_ring *ring)
{
    assert(ring != NULL);
    assert(ring->extent_bytes <= TRACE_RING_BYTES);
    return ring->extent_bytes;
}

struct trace_ring_waits trace_ring_run_waits(const struct trace_ring *ring)
{
    assert(ring != NULL);
    return (struct trace_ring_waits){
        .count = atomic_load_explicit(&ring->run_waits, memory_order_relaxed),
        .wait_ns = ring->run_wait_ns,
    };
}

uint64_t trace_ring_appended(const struct trace_ring *ring)
{
    assert(ring != NULL);
    return ring->appended_events;
}
