/* SPDX-License-Identifier: MIT */
/*
 * sim/trace/batch.c: encoded event batches and the worker thread that stores them
 * (why and the threading rules: batch.h).
 *
 * A batch is one growable byte buffer of records, each a struct record_header then
 * the kind, the fields JSON and the payload, padded to 8 bytes. A batch is in one
 * state at a time: FREE, FILLING (the run's thread owns it, no lock needed), QUEUED
 * or STORING (the worker's). States, the queue and the failure change under `mutex`.
 *
 * Invariants (asserted):
 *   B1  exactly one batch is FILLING while the batches are usable; at most one STORING.
 *   B2  the FILLING batch holds fewer than events_max events between calls.
 *   B3  a record read back has the sizes that were written (header checked on both sides).
 */
#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/trace/batch.h"
#include "sim/trace/fields_json.h"

#define BATCH_BYTES_INITIAL (64u * 1024u)
#define RECORD_MAGIC 0x7243u            /* B3: a header that is not one shows at once */

enum batch_state { BATCH_FREE, BATCH_FILLING, BATCH_QUEUED, BATCH_STORING };

struct record_header {
    uint64_t seq;
    uint64_t time_ns;
    uint32_t ctx;
    uint32_t pid;
    uint32_t kind_bytes;
    uint32_t json_bytes;
    uint32_t payload_bytes;
    uint16_t magic;
    uint8_t layer;
    uint8_t has_payload;
};

struct trace_batch {
    uint8_t *bytes;                     /* owned */
    size_t used_bytes;
    size_t capacity_bytes;
    uint32_t events;
    enum batch_state state;
};

struct trace_batches {
    struct trace_batch batches[TRACE_BATCHES];
    uint32_t filling;                   /* index of the FILLING batch (run's thread) */
    uint32_t events_max;
    size_t bytes_max;
    uint64_t appended_events;           /* run's thread only */
    trace_batch_store_fn store;
    void *state;
    pthread_t worker;
    pthread_mutex_t mutex;
    pthread_cond_t changed;             /* a batch was queued or stored, or stop was asked */
    uint32_t queue[TRACE_BATCHES];      /* FIFO of QUEUED batch indexes */
    uint32_t queue_head;
    uint32_t queue_count;
    bool stopping;
    atomic_bool failed;                 /* polled without the lock by every append */
    int failure_code;
    char failure[SIM_ERROR_MESSAGE_BYTES_MAX];
};

static size_t align8(size_t size_bytes)
{
    return (size_bytes + 7u) & ~(size_t)7u;
}

/* ---- The worker ------------------------------------------------------------------- */

/* Called with the mutex held: the next QUEUED batch, or NULL when stopping and empty. */
static struct trace_batch *worker_take(struct trace_batches *batches)
{
    while (batches->queue_count == 0 && !batches->stopping)
        pthread_cond_wait(&batches->changed, &batches->mutex);
    if (batches->queue_count == 0)
        return NULL;
    uint32_t index = batches->queue[batches->queue_head];
    batches->queue_head = (batches->queue_head + 1) % TRACE_BATCHES;
    batches->queue_count--;
    struct trace_batch *batch = &batches->batches[index];
    assert(batch->state == BATCH_QUEUED);
    batch->state = BATCH_STORING;
    return batch;
}

static void *worker_main(void *arg)
{
    struct trace_batches *batches = arg;
    pthread_mutex_lock(&batches->mutex);
    for (;;) {
        struct trace_batch *batch = worker_take(batches);
        if (batch == NULL)
            break;
        bool failed = atomic_load(&batches->failed);
        pthread_mutex_unlock(&batches->mutex);
        char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
        int rc = failed ? 0 : batches->store(batches->state, batch, message);
        pthread_mutex_lock(&batches->mutex);
        if (rc < 0 && !failed) {
            batches->failure_code = rc;
            memcpy(batches->failure, message, sizeof(message));
            atomic_store(&batches->failed, true);
        }
        batch->used_bytes = 0;
        batch->events = 0;
        batch->state = BATCH_FREE;
        pthread_cond_broadcast(&batches->changed);
    }
    pthread_mutex_unlock(&batches->mutex);
    return NULL;
}

/* ---- Life ------------------------------------------------------------------------- */

static void batches_free(struct trace_batches *batches)
{
    for (uint32_t index = 0; index < TRACE_BATCHES; index++)
        free(batches->batches[index].bytes);
    free(batches);
}

int trace_batches_create(struct trace_batches **out, uint32_t events_max, size_t bytes_max,
                         trace_batch_store_fn store, void *state,
                         char message[SIM_ERROR_MESSAGE_BYTES_MAX])
{
    assert(out != NULL && store != NULL && message != NULL);
    assert(events_max > 0 && bytes_max > 0);
    *out = NULL;
    struct trace_batches *batches = calloc(1, sizeof(*batches));
    bool allocated = batches != NULL;
    for (uint32_t index = 0; allocated && index < TRACE_BATCHES; index++) {
        batches->batches[index].bytes = malloc(BATCH_BYTES_INITIAL);
        batches->batches[index].capacity_bytes = BATCH_BYTES_INITIAL;
        allocated = batches->batches[index].bytes != NULL;
    }
    if (!allocated) {
        if (batches != NULL)
            batches_free(batches);
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX, "trace batches: out of memory");
        return SIM_ENOMEM;
    }
    batches->events_max = events_max;
    batches->bytes_max = bytes_max;
    batches->store = store;
    batches->state = state;
    batches->batches[0].state = BATCH_FILLING;
    atomic_init(&batches->failed, false);
    pthread_mutex_init(&batches->mutex, NULL);
    pthread_cond_init(&batches->changed, NULL);
    if (pthread_create(&batches->worker, NULL, worker_main, batches) != 0) {
        pthread_cond_destroy(&batches->changed);
        pthread_mutex_destroy(&batches->mutex);
        batches_free(batches);
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX, "trace batches: cannot start a thread");
        return SIM_ENOMEM;
    }
    *out = batches;
    return 0;
}

void trace_batches_destroy(struct trace_batches *batches)
{
    assert(batches != NULL);
    pthread_mutex_lock(&batches->mutex);
    batches->stopping = true;
    atomic_store(&batches->failed, true);   /* what is still queued is dropped, not stored */
    if (batches->failure_code == 0) {
        batches->failure_code = SIM_ESINK;
        snprintf(batches->failure, sizeof(batches->failure), "trace batches: stopped");
    }
    pthread_cond_broadcast(&batches->changed);
    pthread_mutex_unlock(&batches->mutex);
    pthread_join(batches->worker, NULL);
    pthread_cond_destroy(&batches->changed);
    pthread_mutex_destroy(&batches->mutex);
    batches_free(batches);
}

/* ---- The run's side --------------------------------------------------------------- */

static int failure_copy(struct trace_batches *batches, char *message)
{
    pthread_mutex_lock(&batches->mutex);
    int code = batches->failure_code;
    memcpy(message, batches->failure, SIM_ERROR_MESSAGE_BYTES_MAX);
    pthread_mutex_unlock(&batches->mutex);
    assert(code < 0);
    return code;
}

/* Queues the FILLING batch (if it holds events) and waits for a FREE one to fill (B1). */
static void batch_hand_over(struct trace_batches *batches)
{
    struct trace_batch *filling = &batches->batches[batches->filling];
    assert(filling->state == BATCH_FILLING);
    if (filling->events == 0)
        return;
    pthread_mutex_lock(&batches->mutex);
    filling->state = BATCH_QUEUED;
    uint32_t tail = (batches->queue_head + batches->queue_count) % TRACE_BATCHES;
    assert(batches->queue_count < TRACE_BATCHES);
    batches->queue[tail] = batches->filling;
    batches->queue_count++;
    pthread_cond_broadcast(&batches->changed);
    for (;;) {
        for (uint32_t index = 0; index < TRACE_BATCHES; index++) {
            if (batches->batches[index].state == BATCH_FREE) {
                batches->batches[index].state = BATCH_FILLING;
                batches->filling = index;
                pthread_mutex_unlock(&batches->mutex);
                return;
            }
        }
        pthread_cond_wait(&batches->changed, &batches->mutex);
    }
}

static int batch_reserve(struct trace_batch *batch, size_t more_bytes, char *message)
{
    if (batch->capacity_bytes - batch->used_bytes >= more_bytes)
        return 0;
    size_t capacity_bytes = batch->capacity_bytes;
    while (capacity_bytes - batch->used_bytes < more_bytes)
        capacity_bytes *= 2;    /* bounded: bytes_max plus the largest legal event */
    uint8_t *bytes = realloc(batch->bytes, capacity_bytes);
    if (bytes == NULL) {
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX, "trace batches: out of memory");
        return SIM_ENOMEM;
    }
    batch->bytes = bytes;
    batch->capacity_bytes = capacity_bytes;
    return 0;
}

/* Writes one record at the end of `batch`; the space was reserved. */
static void record_write(struct trace_batch *batch, const struct sim_trace_event *event)
{
    uint8_t *start = batch->bytes + batch->used_bytes;
    struct record_header header = {
        .seq = event->seq, .time_ns = event->time_ns, .ctx = event->ctx, .pid = event->pid,
        .kind_bytes = (uint32_t)strlen(event->kind), .magic = RECORD_MAGIC,
        .layer = (uint8_t)event->layer,
    };
    uint8_t *out = start + sizeof(header);
    memcpy(out, event->kind, header.kind_bytes);
    out += header.kind_bytes;
    uint32_t payload_field;
    header.json_bytes = (uint32_t)sim_trace_fields_json((char *)out, event, &payload_field);
    out += header.json_bytes;
    if (payload_field < event->field_count) {
        const struct sim_trace_field *field = &event->fields[payload_field];
        header.has_payload = 1;
        header.payload_bytes = field->value.blob.size_bytes;
        if (header.payload_bytes > 0)
            memcpy(out, field->value.blob.data, header.payload_bytes);
        out += header.payload_bytes;
    }
    memcpy(start, &header, sizeof(header));
    batch->used_bytes = align8((size_t)(out - batch->bytes));
    assert(batch->used_bytes <= batch->capacity_bytes);
    batch->events++;
}

int trace_batches_append(struct trace_batches *batches, const struct sim_trace_event *event,
                         char message[SIM_ERROR_MESSAGE_BYTES_MAX])
{
    assert(batches != NULL && event != NULL && message != NULL);
    if (atomic_load(&batches->failed))
        return failure_copy(batches, message);
    struct trace_batch *batch = &batches->batches[batches->filling];
    assert(batch->state == BATCH_FILLING);
    assert(batch->events < batches->events_max);   /* B2 */
    size_t payload_bound = 0;
    for (uint32_t index = 0; index < event->field_count; index++) {
        if (event->fields[index].type == SIM_FIELD_BYTES ||
            event->fields[index].type == SIM_FIELD_PAYLOAD)
            payload_bound += event->fields[index].value.blob.size_bytes;
    }
    size_t bound = sizeof(struct record_header) + strlen(event->kind) +
                   sim_trace_fields_json_bound_bytes(event) + payload_bound + 8u;
    int rc = batch_reserve(batch, bound, message);
    if (rc < 0)
        return rc;
    record_write(batch, event);
    batches->appended_events++;
    if (batch->events >= batches->events_max || batch->used_bytes >= batches->bytes_max)
        batch_hand_over(batches);
    assert(batches->batches[batches->filling].events < batches->events_max);   /* B2 */
    return 0;
}

int trace_batches_drain(struct trace_batches *batches, char message[SIM_ERROR_MESSAGE_BYTES_MAX])
{
    assert(batches != NULL && message != NULL);
    batch_hand_over(batches);
    pthread_mutex_lock(&batches->mutex);
    for (;;) {
        bool busy = batches->queue_count > 0;
        for (uint32_t index = 0; index < TRACE_BATCHES; index++)
            busy = busy || batches->batches[index].state == BATCH_STORING;
        if (!busy)
            break;
        pthread_cond_wait(&batches->changed, &batches->mutex);
    }
    pthread_mutex_unlock(&batches->mutex);
    if (atomic_load(&batches->failed))
        return failure_copy(batches, message);
    return 0;
}

uint64_t trace_batches_appended(const struct trace_batches *batches)
{
    assert(batches != NULL);
    return batches->appended_events;
}

uint32_t trace_batches_filling(const struct trace_batches *batches)
{
    assert(batches != NULL);
    return batches->batches[batches->filling].events;
}

/* ---- Reading a batch (the worker's store callback) -------------------------------- */

uint32_t trace_batch_events(const struct trace_batch *batch)
{
    assert(batch != NULL);
    return batch->events;
}

bool trace_batch_next(const struct trace_batch *batch, size_t *offset,
                      struct trace_record *record)
{
    assert(batch != NULL && offset != NULL && record != NULL);
    assert(*offset % 8u == 0 && *offset <= batch->used_bytes);
    if (*offset == batch->used_bytes)
        return false;
    struct record_header header;
    memcpy(&header, batch->bytes + *offset, sizeof(header));
    assert(header.magic == RECORD_MAGIC);                                   /* B3 */
    const uint8_t *data = batch->bytes + *offset + sizeof(header);
    size_t end = *offset + sizeof(header) + header.kind_bytes + header.json_bytes +
                 header.payload_bytes;
    assert(end <= batch->used_bytes);                                       /* B3 */
    *record = (struct trace_record){
        .seq = header.seq, .time_ns = header.time_ns, .ctx = header.ctx, .pid = header.pid,
        .layer = (enum sim_layer)header.layer,
        .kind = (const char *)data, .kind_bytes = header.kind_bytes,
        .json = (const char *)data + header.kind_bytes, .json_bytes = header.json_bytes,
        .has_payload = header.has_payload != 0,
        .payload = data + header.kind_bytes + header.json_bytes,
        .payload_bytes = header.payload_bytes,
    };
    *offset = align8(end);
    return true;
}
