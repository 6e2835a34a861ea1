/* SPDX-License-Identifier: MIT */
/*
 * sim/trace/ring.h: the record ring between the run's thread and its consumers: the SQLite
 * writer's two threads (one makes the rows, one inserts them) and replay's one (which compares
 * the re-run's events with the recorded rows there, sim/cli/replay.c).
 *
 * The run's thread must not pay for SQLite, nor for formatting: for each admitted event it
 * copies a compact binary record into a preallocated ring of TRACE_RING_BYTES (no allocation,
 * no JSON, no text), and one worker thread turns the records back into events and hands them to
 * the writer. With one worker (trace_ring_create) the worker also stores them; with a prepare
 * stage (trace_ring_create_staged) the worker prepares them (the writer makes the rows' fields
 * JSON) and a second thread, the storer, stores them (the writer inserts the rows), so SQLite's
 * thread does little beyond SQLite's own work. Order is kept (one producer, one consumer per
 * stage, first in first out), so the database is the same as with synchronous inserts. When the
 * ring is full the run waits for the worker: nothing is ever dropped while the ring works; a
 * trace is complete or the run fails.
 *
 * What a record keeps: the event's header, its fields as they are (names and the kind are
 * static strings, so the record holds their pointers), string values whole, and of each BYTES
 * or PAYLOAD field the bytes the trace will store (sim_trace_field_kept_bytes in fields_json.h:
 * the payload field cut to the writer's --payload limit).
 *
 * Threads: create, append, drain, destroy and the counters belong to the run's thread; the
 * prepare callback and the observer run on the worker only, the store and commit callbacks on
 * the storer only (on the worker without a prepare stage). They may use state shared with the
 * run's thread (the database connection) because that thread touches it only after
 * trace_ring_drain() returned, when both are idle; the mutex hand-off orders it. A row slot's
 * state is handed from prepare to store with its batch (atomic hand-off).
 *
 * Observer: an optional callback (trace_ring_observe) that sees every event, on the worker, in
 * order, with the blobs the ring kept, after its store (one worker) or its prepare (staged)
 * succeeded. The ring knows nothing of what it does (sim/cli builds the summary tables with it,
 * while the rows are being inserted, instead of re-reading the finished file); it cannot fail
 * the trace: an observer that cannot keep up with its own bounds says so itself.
 *
 * Failure: the first prepare, store or commit that fails makes the ring failed for good: its
 * message is returned by the next append or drain; later records are discarded unstored (a
 * trace with a gap would be worse than a trace that says it is incomplete).
 */
#ifndef SIM_TRACE_RING_H
#define SIM_TRACE_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim/engine/error.h"
#include "sim/engine/trace.h"

/* The ring's size. A record holds at most SIM_TRACE_FIELDS_MAX fields of at most
 * SIM_TRACE_BYTES_MAX kept bytes each, so the largest record (TRACE_RECORD_BYTES_MAX) is
 * a little over 10 MiB (10 fields); the ring holds two of them, so any record fits once
 * the worker has caught up (a record never wraps: one that does not fit before the end
 * starts again at the beginning). */
#define TRACE_RING_BYTES (21u * 1024u * 1024u)
#define TRACE_RECORD_BYTES_MAX (SIM_TRACE_FIELDS_MAX * (SIM_TRACE_BYTES_MAX + 64u) + 4096u)
/* The part of the ring ordinary records go round in: a record that would end past it
 * starts again at the beginning (one larger than what lies before it stays in place and
 * may use the rest of the buffer). Records of up to a 32nd of it (128 KiB) still gather
 * in whole store groups (TRACE_RING_STORE_EVENTS_MAX). Going round 4 MiB instead of the
 * whole buffer keeps the records in the caches the two threads share and spares the run
 * the first-touch page faults of 17 MiB it would almost never need (measured in
 * docs/trace-schema.md). */
#define TRACE_RING_LAP_BYTES (4u * 1024u * 1024u)
/* The worker sleeps until this many bytes are waiting (or a drain, or a full ring), so a
 * run that emits slowly does not pay a wake-up per event. */
#define TRACE_RING_WAKE_BYTES (256u * 1024u)
/* A run that found the ring full waits until this much is free, not one record's worth. */
#define TRACE_RING_REFILL_BYTES (TRACE_RING_LAP_BYTES / 2u)
/* Events handed to one store call (the writer's multi-row INSERT). */
#define TRACE_RING_STORE_EVENTS_MAX 32u
/* With a prepare stage (trace_ring_create_staged): groups of decoded events on their way
 * from the worker, which prepares them, to the storer, which stores them; the storer is
 * woken once TRACE_RING_BATCHES_WAKE of them wait (or the worker has nothing more). */
#define TRACE_RING_BATCHES 32u
#define TRACE_RING_BATCHES_WAKE 4u
/* The row slots a prepare and a store call name: one per event of every batch. */
#define TRACE_RING_SLOTS (TRACE_RING_BATCHES * TRACE_RING_STORE_EVENTS_MAX)

struct trace_ring;

/* Stores `count` events (1 .. TRACE_RING_STORE_EVENTS_MAX) in order: returns 0 or a
 * negative SIM_E* with a message. `payload_bytes_max[i]` is the cut event i was recorded
 * with. Blob values point into the ring and are valid until the call returns. Event i
 * has the row slot `slot` + i (< TRACE_RING_SLOTS): the slot its prepare call gave it. */
typedef int (*trace_ring_store_fn)(void *state, uint32_t slot,
                                   const struct sim_trace_event *events,
                                   const uint32_t *payload_bytes_max, uint32_t count,
                                   char message[SIM_ERROR_MESSAGE_BYTES_MAX]);
/* Prepares `count` events (1 .. TRACE_RING_STORE_EVENTS_MAX) for their store, on the
 * worker, while the storer stores earlier ones: event i gets row slot `slot` + i, which
 * no store call uses until this batch's. Returns 0 or a negative SIM_E* with a message. */
typedef int (*trace_ring_prepare_fn)(void *state, uint32_t slot,
                                     const struct sim_trace_event *events,
                                     const uint32_t *payload_bytes_max, uint32_t count,
                                     char message[SIM_ERROR_MESSAGE_BYTES_MAX]);
/* Ends the current transaction, if one is open: 0 or a negative SIM_E* with a message. */
typedef int (*trace_ring_commit_fn)(void *state, char message[SIM_ERROR_MESSAGE_BYTES_MAX]);

/* Sees `count` events in order on the worker's thread: right after their store (or with a
 * prepare stage, right after their prepare, before the storer stores them). Blob values
 * point into the ring and are valid until the call returns; `payload_bytes_max[i]` is
 * event i's cut. */
typedef void (*trace_ring_observe_fn)(void *context, const struct sim_trace_event *events,
                                      const uint32_t *payload_bytes_max, uint32_t count);

/* Starts the worker. A transaction ends after `commit_events` events or `commit_bytes`
 * record bytes, whichever first, and at every drain. Returns 0, or SIM_ENOMEM with a
 * message. Ownership: free with trace_ring_destroy(). */
int trace_ring_create(struct trace_ring **out, uint32_t commit_events, size_t commit_bytes,
                      trace_ring_store_fn store, trace_ring_commit_fn commit, void *state,
                      char message[SIM_ERROR_MESSAGE_BYTES_MAX]);
/* The same with two threads: the worker decodes and calls `prepare` (and the observer),
 * a second thread, the storer, calls `store` and `commit`, in the same order and with the
 * same groups and transactions as trace_ring_create's one worker would. */
int trace_ring_create_staged(struct trace_ring **out, uint32_t commit_events,
                             size_t commit_bytes, trace_ring_prepare_fn prepare,
                             trace_ring_store_fn store, trace_ring_commit_fn commit,
                             void *state, char message[SIM_ERROR_MESSAGE_BYTES_MAX]);
/* Copies `event` into the ring, keeping `payload_bytes_max` bytes of its payload field
 * (waits while the ring is full). Returns 0, or the failure's code and message; or
 * SIM_ELIMIT, writing nothing and leaving the ring working, for an event with a string
 * above SIM_TRACE_STRING_BYTES_MAX or a blob above SIM_TRACE_BYTES_MAX (the builders
 * assert those limits; an event filled by hand may break them). */
int trace_ring_append(struct trace_ring *ring, const struct sim_trace_event *event,
                      uint32_t payload_bytes_max, char message[SIM_ERROR_MESSAGE_BYTES_MAX]);
/* Sets (or with NULL clears) the observer. Only while the worker is idle: before the first
 * append or right after a trace_ring_drain() that returned 0 (the next append's publication
 * hands the pointer to the worker). */
void trace_ring_observe(struct trace_ring *ring, trace_ring_observe_fn observe, void *context);
/* Waits until the worker has stored and committed every record appended. */
int trace_ring_drain(struct trace_ring *ring, char message[SIM_ERROR_MESSAGE_BYTES_MAX]);
/* Stops and joins the worker (records not yet stored are discarded), frees everything. */
void trace_ring_destroy(struct trace_ring *ring);
/* How often the run's thread found the ring full and waited for the writer's threads, and
 * the wall time it spent waiting: a diagnostic of which side bounds a traced run (the
 * progress line of `vmcisim run`), which depends on the machine's timing and so never goes
 * into the trace or the digest. `count` may be read on any thread (a test's store callback
 * polls it); `wait_ns` only on the run's thread. */
struct trace_ring_waits {
    uint64_t count;
    uint64_t wait_ns;
};
struct trace_ring_waits trace_ring_run_waits(const struct trace_ring *ring);
/* Events appended so far (stored or not). */
uint64_t trace_ring_appended(const struct trace_ring *ring);
/* The furthest offset in the buffer a record has ended at so far: the part of the ring
 * the run has touched (for tests: ordinary records stay within TRACE_RING_LAP_BYTES). */
size_t trace_ring_extent_bytes(const struct trace_ring *ring);
/* The size of the record `event` makes with this cut (for tests and the bound checks); 0
 * for an event trace_ring_append refuses with SIM_ELIMIT. */
size_t trace_ring_record_bytes(const struct sim_trace_event *event, uint32_t payload_bytes_max);

#endif /* SIM_TRACE_RING_H */
