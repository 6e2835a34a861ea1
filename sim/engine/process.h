/* SPDX-License-Identifier: MIT */
/*
 * sim/engine/process.h: simulated processes and wait queues.
 *
 * A process is a body of code (a Lua coroutine or a C fiber; the engine does not
 * care which: the owner supplies `resume`) that runs only inside engine events.
 * Blocking is an engine service: the running process calls sim_process_block()
 * with a wait queue and an optional deadline, then returns control to the
 * engine (the owner yields). Exactly one event resumes it, with a reason:
 * woken (sim_waitq_wake_*), timed out (deadline), or killed.
 *
 * States: RUNNABLE (a resume event is pending) -> RUNNING (inside resume) ->
 * BLOCKED (on a wait queue and/or a deadline) -> RUNNABLE ... -> DONE | FAILED.
 *
 * Invariants (sim_process_check):
 *   PR1  BLOCKED  <=> the process is on `waitq` (if any) and has no resume event.
 *   PR2  RUNNABLE <=> a resume event is pending and the process is on no wait queue.
 *   PR3  A BLOCKED process with no wait queue has a deadline (a sleep).
 */
#ifndef SIM_ENGINE_PROCESS_H
#define SIM_ENGINE_PROCESS_H

#include <assert.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine.h"

enum sim_process_state {
    SIM_PROCESS_RUNNABLE = 1,
    SIM_PROCESS_RUNNING,
    SIM_PROCESS_BLOCKED,
    SIM_PROCESS_DONE,
    SIM_PROCESS_FAILED,
};

enum sim_wake_reason {
    SIM_WAKE_START = 0,     /* the first resume */
    SIM_WAKE_WOKEN,
    SIM_WAKE_TIMED_OUT,
    SIM_WAKE_KILLED,
};

const char *sim_process_state_name(enum sim_process_state state);
const char *sim_wake_reason_name(enum sim_wake_reason reason);

struct sim_waitq {
    char name[SIM_WAITQ_NAME_BYTES_MAX];   /* shown in deadlock reports */
    struct sim_process *head;              /* FIFO: wake_one wakes the longest waiter */
    struct sim_process *tail;
    uint32_t count;
    uint32_t name_bytes;                   /* strlen(name), set by sim_waitq_init */
};

/* Addresses a blocked process's owner names for prefetching (sim_process.prefetch_hints). */
#define SIM_PROCESS_PREFETCH_HINTS 2u
/* The memory a blocked process's next resume will read beyond its owner's own state (the
 * socket, queue pair, rings and running hashes of the call it waits in), named by the owner
 * when it blocks, while all of it is in the cache, and prefetched by the engine a few events
 * before the resume (sim__process_prefetch): in a large world none of it is in a cache by
 * then (issue 10), and these loads, unlike a chain of pointers, can all start at once.
 * Bounds: SIM_PREFETCH_SPANS_MAX spans of at most SIM_PREFETCH_SPAN_LINES_MAX lines each;
 * what does not fit is left out (a prefetch less, nothing else). Addresses only: nothing
 * ever reads through them, so a span whose memory was freed since costs a wasted load. */
#define SIM_PREFETCH_SPANS_MAX 16u
#define SIM_PREFETCH_SPAN_LINES_MAX 8u
#define SIM_PREFETCH_LINE_BYTES 64u

struct sim_prefetch_spans {
    uint32_t count;
    uint8_t lines[SIM_PREFETCH_SPANS_MAX];          /* 1..SIM_PREFETCH_SPAN_LINES_MAX */
    const void *start[SIM_PREFETCH_SPANS_MAX];      /* each on a line's first byte */
};

/* Adds the lines that [start, start + size_bytes) touches (the first
 * SIM_PREFETCH_SPAN_LINES_MAX of them); nothing when the spans are full, start is NULL or
 * size_bytes is 0. Never reads the memory. */
static inline void sim_prefetch_spans_add(struct sim_prefetch_spans *spans, const void *start,
                                          size_t size_bytes)
{
    assert(spans != NULL && spans->count <= SIM_PREFETCH_SPANS_MAX);
    if (spans->count == SIM_PREFETCH_SPANS_MAX || start == NULL || size_bytes == 0)
        return;
    uintptr_t first = (uintptr_t)start / SIM_PREFETCH_LINE_BYTES;
    uintptr_t last = ((uintptr_t)start + (size_bytes - 1)) / SIM_PREFETCH_LINE_BYTES;
    uintptr_t lines = last - first + 1;
    spans->start[spans->count] = (const void *)(first * SIM_PREFETCH_LINE_BYTES);
    spans->lines[spans->count] = (uint8_t)(lines < SIM_PREFETCH_SPAN_LINES_MAX
                                               ? lines : SIM_PREFETCH_SPAN_LINES_MAX);
    spans->count++;
}

struct sim_process_ops {
    /* Runs the process until it blocks or finishes. Must leave the process BLOCKED
     * (sim_process_block) or finished (sim_process_finish). */
    void (*resume)(struct sim_process *process, enum sim_wake_reason reason);
    /* Optional: frees the owner's state of a process still live when the engine is
     * destroyed (a daemon still blocked at the end). Must not emit or schedule. */
    void (*release)(struct sim_process *process);
    /* Optional: starts loading (prefetch only, no effect on state) what the next resume
     * reads first, called an event or so before that resume runs. */
    void (*prefetch)(const struct sim_process *process);
};

struct sim_process {
    uint32_t pid;                   /* 1, 2, 3 ... per world, in creation order */
    uint32_t ctx;                   /* context id of the endpoint it runs in */
    uint32_t domain;                /* engine.h "Domains": its events run for this one */
    char name[SIM_PROCESS_NAME_BYTES_MAX];
    bool daemon;                    /* may stay blocked when the world runs out of events */
    bool kill_requested;
    enum sim_process_state state;
    enum sim_wake_reason wake_reason;   /* why the last resume happened */
    struct sim_waitq *waitq;        /* borrowed; set while BLOCKED on a queue */
    uint64_t deadline_ns;           /* SIM_TIME_NEVER when none */
    sim_event_id deadline_event;
    sim_event_id resume_event;
    const struct sim_process_ops *ops;
    void *owner;                    /* borrowed: the Lua or fiber state that runs it */
    struct sim_engine *engine;      /* borrowed */
    struct sim_process *waitq_next; /* links on the wait queue */
    struct sim_process *waitq_prev;
    struct sim_process *live_next;  /* links on the engine's list of live processes */
    struct sim_process *live_prev;
    /* Set by the owner when it blocks: what its next resume will read first. The engine
     * only prefetches these addresses a few events ahead (never reads through them), so a
     * stale one costs nothing but a wasted load. */
    const void *prefetch_hints[SIM_PROCESS_PREFETCH_HINTS];
    /* Set by the owner when it blocks (count 0: none); the same rules as the hints. */
    struct sim_prefetch_spans prefetch_spans;
};

void sim_waitq_init(struct sim_waitq *queue, const char *name);
/* Wakes the longest waiter / every waiter; returns how many were woken. */
uint32_t sim_waitq_wake_one(struct sim_waitq *queue);
uint32_t sim_waitq_wake_all(struct sim_waitq *queue);

/* Creates a RUNNABLE process whose first resume runs at start_ns (>= now).
 * Returns 0 or SIM_ELIMIT (processes_max / events_pending_max), SIM_EINVAL (name
 * empty or too long), SIM_ENOMEM. Ownership: the engine owns the process until
 * sim_process_destroy(); the owner must not use it after. */
/* sim_process_create in `domain` (sim_process_create uses 0): the process's resumes and
 * deadlines run for that domain, so freezing it freezes the process. */
int sim_process_create_in(struct sim_engine *engine, uint32_t domain, uint32_t ctx,
                          const char *name, const struct sim_process_ops *ops, void *owner,
                          bool daemon, uint64_t start_ns, struct sim_process **out);
int sim_process_create(struct sim_engine *engine, uint32_t ctx, const char *name,
                       const struct sim_process_ops *ops, void *owner, bool daemon,
                       uint64_t start_ns, struct sim_process **out);

/* Called by the running process: park on `queue` (NULL: only the deadline) until
 * woken or deadline_ns (SIM_TIME_NEVER: none; past SIM_TIME_END_NS with a queue: none
 * either). The caller then yields to the engine. Returns 0, SIM_EKILLED if a kill is
 * pending, SIM_ELIMIT, or SIM_EINVAL for a sleep past SIM_TIME_END_NS (the run stops). */
int sim_process_block(struct sim_process *process, struct sim_waitq *queue,
                      uint64_t deadline_ns);
/* Makes a BLOCKED process RUNNABLE with `reason`; a no-op (returns false) otherwise. */
bool sim_process_wake(struct sim_process *process, enum sim_wake_reason reason);
/* Kill: a blocked or runnable process is resumed with SIM_WAKE_KILLED; the running
 * process is marked (its owner finishes it when it returns to the engine). */
void sim_process_kill(struct sim_process *process);
/* Called by the owner when the body returned (failed = false) or raised (true). */
void sim_process_finish(struct sim_process *process, bool failed);
/* Frees a finished process. */
void sim_process_destroy(struct sim_process *process);

/* What a blocked process waits on, for reports: the queue name, or "sleep". */
const char *sim_process_waits_on(const struct sim_process *process);
bool sim_process_check(const struct sim_process *process);

/* Live (not finished) processes in creation order. */
struct sim_process *sim_engine_processes_first(const struct sim_engine *engine);
uint32_t sim_engine_processes_live(const struct sim_engine *engine);

#endif /* SIM_ENGINE_PROCESS_H */
