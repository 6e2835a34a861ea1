/* SPDX-License-Identifier: MIT */
/*
 * sim/trace/batch.h: batches of encoded events, handed from the run's thread to one
 * worker thread that stores them (internal to sim/trace; the SQLite writer is the
 * only user).
 *
 * Storing a row in SQLite costs about twice what simulating the event did, so the
 * writer encodes each event (fields as JSON, payload copied) into a batch on the run's
 * thread and a worker thread inserts whole batches, one transaction each, while the
 * run goes on. Order is kept (one worker, FIFO), so the database is the same as with
 * synchronous inserts. Memory is bounded: TRACE_BATCHES batches exist; when none is
 * free the run waits for the worker.
 *
 * Threads: every function here is called by the run's thread; only `store` runs on the
 * worker. The store callback may use state shared with the caller (a database
 * connection) because the caller touches that state only after trace_batches_drain()
 * returned, when the worker is idle; the mutex hand-off orders the accesses.
 *
 * Failure: the first store that fails makes the batches failed for good: its message
 * is returned by the next append, drain or the one after; later batches are dropped
 * (a trace with a gap would be worse than a trace that says it is incomplete).
 */
#ifndef SIM_TRACE_BATCH_H
#define SIM_TRACE_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim/engine/error.h"
#include "sim/engine/trace.h"

/* Batches in existence: one being filled, the others queued or being stored. */
#define TRACE_BATCHES 3u

/* One event as stored: pointers into the batch, valid while the store callback runs. */
struct trace_record {
    uint64_t seq;
    uint64_t time_ns;
    uint32_t ctx;
    uint32_t pid;
    enum sim_layer layer;
    const char *kind;               /* kind_bytes, not NUL-terminated */
    uint32_t kind_bytes;
    const char *json;               /* json_bytes, not NUL-terminated */
    uint32_t json_bytes;
    bool has_payload;               /* false: the payload column is NULL */
    const uint8_t *payload;         /* payload_bytes */
    uint32_t payload_bytes;
};

struct trace_batch;
struct trace_batches;

/* Stores a whole batch (or nothing): returns 0 or a negative SIM_E* with a message. */
typedef int (*trace_batch_store_fn)(void *state, const struct trace_batch *batch,
                                    char message[SIM_ERROR_MESSAGE_BYTES_MAX]);

/* Starts the worker. `events_max` and `bytes_max` end a batch (whichever first). Returns
 * 0, or SIM_ENOMEM with a message. Ownership: free with trace_batches_destroy(). */
int trace_batches_create(struct trace_batches **out, uint32_t events_max, size_t bytes_max,
                         trace_batch_store_fn store, void *state,
                         char message[SIM_ERROR_MESSAGE_BYTES_MAX]);
/* Encodes `event` into the current batch and hands the batch over when it is full. */
int trace_batches_append(struct trace_batches *batches, const struct sim_trace_event *event,
                         char message[SIM_ERROR_MESSAGE_BYTES_MAX]);
/* Hands over a partial batch and waits until the worker has stored everything. */
int trace_batches_drain(struct trace_batches *batches, char message[SIM_ERROR_MESSAGE_BYTES_MAX]);
/* Stops and joins the worker (dropping batches not yet stored), frees everything. */
void trace_batches_destroy(struct trace_batches *batches);
/* Events appended so far (stored or not). */
uint64_t trace_batches_appended(const struct trace_batches *batches);
/* Events in the batch being filled (< events_max between calls). */
uint32_t trace_batches_filling(const struct trace_batches *batches);

uint32_t trace_batch_events(const struct trace_batch *batch);
/* Iterates the batch's records in order: start with *offset = 0; false after the last. */
bool trace_batch_next(const struct trace_batch *batch, size_t *offset,
                      struct trace_record *record);

#endif /* SIM_TRACE_BATCH_H */
