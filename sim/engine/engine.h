/* SPDX-License-Identifier: MIT */
/*
 * sim/engine/engine.h: one simulated world's engine.
 *
 * The engine owns simulated time (uint64_t ns; nothing reads the wall clock),
 * the event queue, the named random streams, the processes and the trace sinks.
 * It knows nothing of Lua, VMCI or sockets. A run is a pure function of what the
 * layers above schedule and the seed.
 *
 * Every event runs to completion; a handler that wants something to happen
 * "now" elsewhere schedules an event at the current time, which runs after all
 * events already scheduled for that instant (no re-entrant delivery). The one
 * exception is opt-in: with the wake-up tie-break on (sim_engine_set_wakeup_shuffle),
 * a process resume takes a seeded place among the events of its instant.
 */
#ifndef SIM_ENGINE_ENGINE_H
#define SIM_ENGINE_ENGINE_H

#include <assert.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "evq.h"
#include "limits.h"
#include "rng.h"
#include "trace.h"

#define SIM_TIME_NEVER UINT64_MAX
/* The last instant of simulated time, 2^63 - 1 ns (about 292 years): every time a scenario
 * reads (Lua integers) or the trace stores (SQLite INTEGER) is a signed 64-bit number, so
 * nothing is scheduled past it (the run stops with that error) and a deadline past it is
 * no deadline (it can never come). */
#define SIM_TIME_END_NS ((uint64_t)INT64_MAX)
/* Domains (below): ids 1 .. SIM_DOMAINS_MAX - 1 can be frozen; 0 is never frozen. A VM's
 * domain is its endpoint's index, so every VM the highest `vms` limit allows has one. */
#define SIM_DOMAINS_MAX (SIM_VMS_CEILING + 1u)
/* Named random streams per world ("lua", "vmci", ...). */
#define SIM_RNG_STREAMS_MAX 32u
#define SIM_RNG_STREAM_NAME_BYTES_MAX 32u

struct sim_engine;
struct sim_process;

/* Ownership: returns a new engine owned by the caller; free with sim_engine_destroy().
 * NULL when out of memory. `limits` is copied. */
struct sim_engine *sim_engine_create(const struct sim_limits *limits, uint64_t seed);
void sim_engine_destroy(struct sim_engine *engine);

/* What every layer asks the engine at nearly every event (the simulated time; the process
 * running, for each traced event's pid), laid out as the first member of struct sim_engine
 * (engine_int.h) so that asking is a load, not a call. Only sim/engine writes it. */
struct sim_engine_head {
    struct sim_process *current;    /* the process running now, or NULL */
    uint64_t now_ns;
    struct sim_evq *queue;          /* owned: the pending events */
};

/* The head of `engine`: a pointer to a structure, converted, points to its first member
 * (C11 6.7.2.1). */
static inline const struct sim_engine_head *sim__engine_head(const struct sim_engine *engine)
{
    return (const struct sim_engine_head *)(const void *)engine;
}

static inline uint64_t sim_engine_now(const struct sim_engine *engine)
{
    return sim__engine_head(engine)->now_ns;
}
uint64_t sim_engine_seed(const struct sim_engine *engine);
const struct sim_limits *sim_engine_limits(const struct sim_engine *engine);

/* Error reporting: the message of the last error (names the limit or object). */
const char *sim_engine_error_message(const struct sim_engine *engine);
/* Records a message for `code` and returns `code` (for `return sim_engine_fail(...)`). */
int sim_engine_fail(struct sim_engine *engine, int code, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
/* A fatal error stops the current run after the running event (e.g. a sink failed). */
void sim_engine_abort(struct sim_engine *engine, int code);
int sim_engine_abort_code(const struct sim_engine *engine);

/* Schedules fn(engine, arg, data). time_ns must not be in the past. SIM_ELIMIT names
 * events_pending_max in the engine's message. */
int sim_engine_schedule_at(struct sim_engine *engine, uint64_t time_ns, sim_event_fn fn,
                           void *arg, uint64_t data, sim_event_id *id_out);
int sim_engine_schedule_after(struct sim_engine *engine, uint64_t delay_ns, sim_event_fn fn,
                              void *arg, uint64_t data, sim_event_id *id_out);
int sim_engine_cancel(struct sim_engine *engine, sim_event_id id);

/* Background events: work that goes on only while the world has something else to do
 * (fault rates, docs/faults.md "Rates"). A background event runs in domain 0 once it is due
 * no later than until_ns and than the earliest other pending event that is not parked (at
 * the same instant it runs first; background events among themselves in scheduling
 * order). When nothing is left but background events and frozen domains' parked ones, a
 * run stops as if they did not exist ("idle" or "deadlock") and leaves them for a later
 * run: they never keep an otherwise idle world going. They are not counted by
 * sim_engine_events_pending and cannot be cancelled. SIM_ELIMIT beyond
 * SIM_BACKGROUND_EVENTS_MAX pending at once. */
#define SIM_BACKGROUND_EVENTS_MAX 16u
int sim_engine_schedule_background_at(struct sim_engine *engine, uint64_t time_ns,
                                      sim_event_fn fn, void *arg, uint64_t data);
uint32_t sim_engine_background_pending(const struct sim_engine *engine);

/* Domains: every event runs for a domain, a group of simulated activity that can be
 * frozen as a whole (a VM's guest: its processes, its kernel's timers, its interrupt
 * handler). Domain 0 (the host, the hypervisor, the scenario) is never frozen. An event
 * scheduled with sim_engine_schedule_at/_after runs for the domain of the event that
 * scheduled it (0 outside events); _in names the domain, for work that crosses over (a
 * device interrupt raised by the host's send runs the guest's handler).
 *
 * While a domain is frozen its events do not run: one that comes due is parked, keeping
 * its id (cancel still works). Thawing re-schedules each parked event at the thaw time,
 * in the order they came due, after the events already scheduled for that instant: the
 * guest "catches up" at once, as a resumed guest's clock does. Events not yet due keep
 * their time. A frozen domain's processes are never reported as deadlocked.
 *
 * Thawing *behind* one of the domain's pending events (thaw_after) makes that event the
 * domain's gate: it runs at its time, and no other event of the domain runs before it;
 * those that come due meanwhile are parked, and all parked ones run right after it, at
 * its time, in the order they came due. This is how a resumed guest takes the resume's
 * interrupt before any of its own code runs. The gate opens when its event runs or is
 * cancelled (then at the cancel). Freezing a domain that waits for its gate and thawing
 * it again keeps the gate; thaw_after replaces an earlier gate of the domain. */
int sim_engine_schedule_at_in(struct sim_engine *engine, uint32_t domain, uint64_t time_ns,
                              sim_event_fn fn, void *arg, uint64_t data, sim_event_id *id_out);
int sim_engine_schedule_after_in(struct sim_engine *engine, uint32_t domain, uint64_t delay_ns,
                                 sim_event_fn fn, void *arg, uint64_t data,
                                 sim_event_id *id_out);
uint32_t sim_engine_current_domain(const struct sim_engine *engine);
/* Return 0, or SIM_EINVAL for domain 0 / out of range, or SIM_ENOMEM. Freezing a frozen
 * domain or thawing a running one is a no-op. */
int sim_engine_domain_freeze(struct sim_engine *engine, uint32_t domain);
int sim_engine_domain_thaw(struct sim_engine *engine, uint32_t domain);
/* Thaw behind `first` (above). SIM_EINVAL when `first` is not a pending event of `domain`. */
int sim_engine_domain_thaw_after(struct sim_engine *engine, uint32_t domain, sim_event_id first);
/* Thaw with nothing of the domain run before at_ns (>= now): behind an engine event at
 * at_ns that does nothing, so the parked events and those due before at_ns (or at at_ns
 * but scheduled earlier) run at at_ns, in the order they came due. at_ns == now: thaw. */
int sim_engine_domain_thaw_at(struct sim_engine *engine, uint32_t domain, uint64_t at_ns);
/* True while the domain holds its events: frozen, or waiting for its gate. */
bool sim_engine_domain_frozen(const struct sim_engine *engine, uint32_t domain);
/* Events parked now (all domains). */
uint32_t sim_engine_events_parked(const struct sim_engine *engine);
uint32_t sim_engine_events_pending(const struct sim_engine *engine);
/* Below this many pending events a world's state stays in the caches between turns and
 * the prefetches would only cost instructions (about 100 an event), so none are made. */
#define SIM_PREFETCH_PENDING_MIN 1024u
/* The one rule for when prefetching pays, for the run loop (on the count a pop reports)
 * and for sim_engine_prefetching. */
static inline bool sim__prefetch_pays(uint32_t events_pending)
{
    return events_pending >= SIM_PREFETCH_PENDING_MIN;
}
/* True while the world is large enough that the engine prefetches what upcoming events
 * read (engine.c, prefetch_upcoming): only then is naming it worth its instructions
 * (sim_process.prefetch_spans). Read-only; no behaviour may depend on it. */
static inline bool sim_engine_prefetching(const struct sim_engine *engine)
{
    assert(engine != NULL);
    return sim__prefetch_pays(sim_evq_pending(sim__engine_head(engine)->queue));
}
/* Events run since the engine was created. */
uint64_t sim_engine_events_run(const struct sim_engine *engine);

/* The stream `name` (created on first use, derived from (seed, name); rng.h).
 * NULL when SIM_RNG_STREAMS_MAX streams exist or the name is too long. */
struct sim_rng *sim_engine_rng(struct sim_engine *engine, const char *name);

/* Seeded tie-break among equal-time process wake-ups (docs/cost-model.md, "Jitter"). When
 * on, every process resume event (start, wake-up, kill) and every deadline (a sleep or a
 * timed wait, which resumes the process itself when it comes due: its rank is drawn when
 * the process blocks) gets a rank drawn from the
 * stream "jitter.schedule" (evq.h), so processes that become runnable at the same instant
 * run in an order that is a function of the seed, before or after the other events of that
 * instant. Off (the default): resumes run in scheduling order like every other event, and
 * the stream is never created. Returns 0, or SIM_ELIMIT (no room for another stream). */
int sim_engine_set_wakeup_shuffle(struct sim_engine *engine, bool on);
bool sim_engine_wakeup_shuffle(const struct sim_engine *engine);

/* Trace. Sinks are called in attach order. */
int sim_engine_sink_attach(struct sim_engine *engine, struct sim_trace_sink sink);
void sim_engine_sinks_detach(struct sim_engine *engine);
/* sim_trace_event_init (zeroes an event, fills layer, kind, ctx, pid) is in trace.h. */
/* Stamps seq and time, hands the event to the admitting sinks. Returns 0, or SIM_ELIMIT
 * (trace_events_max) / SIM_ESINK, which also abort the run (sim_engine_abort). */
int sim_engine_emit(struct sim_engine *engine, struct sim_trace_event *event);
uint64_t sim_engine_trace_events(const struct sim_engine *engine);

/* Running. */
enum sim_stop {
    SIM_STOP_IDLE = 0,      /* nothing left to do */
    SIM_STOP_UNTIL,         /* reached until_ns */
    SIM_STOP_MAX_EVENTS,    /* ran max_events events */
    SIM_STOP_DEADLOCK,      /* no events, non-daemon processes blocked forever */
    SIM_STOP_ERROR,         /* aborted: a limit or a sink failure (message says which) */
};
const char *sim_stop_name(enum sim_stop stop);

struct sim_run_result {
    enum sim_stop stopped;
    uint64_t now_ns;
    uint64_t events_run;    /* during this call */
};

/* Runs events with time <= until_ns (SIM_TIME_NEVER: no bound), at most max_events
 * (0: no bound). With SIM_STOP_UNTIL the clock is left at until_ns. May be called
 * again to continue. */
void sim_engine_run(struct sim_engine *engine, uint64_t until_ns, uint64_t max_events,
                    struct sim_run_result *result);

/* Progress reports for long runs: fn(state, now_ns, events_run) every `every_events`
 * events (0 turns it off). The callback must not touch the simulation: it is for
 * output only (the CLI prints wall-clock rates there, never into the trace). */
typedef void (*sim_progress_fn)(void *state, uint64_t now_ns, uint64_t events_run);
void sim_engine_set_progress(struct sim_engine *engine, sim_progress_fn fn, void *state,
                             uint64_t every_events);

/* A check after every event (`vmcisim run --paranoid`: the world invariants): fn(state,
 * engine) runs once each event's callback returned. It may emit trace events and record
 * failures but must not schedule or change simulated state, so a run's behaviour is the
 * same with it or without it (only the events it emits differ). NULL turns it off. */
typedef void (*sim_after_event_fn)(void *state, struct sim_engine *engine);
void sim_engine_set_after_event(struct sim_engine *engine, sim_after_event_fn fn, void *state);

/* The process whose code is running now, or NULL (event handlers, plain test code). */
static inline struct sim_process *sim_engine_current(const struct sim_engine *engine)
{
    return sim__engine_head(engine)->current;
}

#endif /* SIM_ENGINE_ENGINE_H */
