/* SPDX-License-Identifier: MIT */
/*
 * sim/engine/fiber.h: C processes on fibers (own stack, switched with ucontext).
 *
 * C code written against blocking APIs (vsock/vmci_sockets.h, tests) runs as a
 * fiber process: a call that must wait parks the process on a wait queue and
 * switches back to the engine; the engine switches in again when the one event
 * that wakes it runs. Only the engine switches, so fibers are deterministic.
 */
#ifndef SIM_ENGINE_FIBER_H
#define SIM_ENGINE_FIBER_H

#include <stdbool.h>
#include <stdint.h>

#include "engine.h"
#include "process.h"

typedef void (*sim_fiber_fn)(struct sim_engine *engine, void *arg);

/* Spawns a fiber process running fn(engine, arg), first resumed at the current time.
 * stack_bytes 0 means SIM_FIBER_STACK_BYTES_DEFAULT; less than SIM_FIBER_STACK_BYTES_MIN
 * is SIM_EINVAL. Ownership: the fiber frees itself when fn returns (or at engine
 * destruction); *out (may be NULL) is valid until then. */
int sim_fiber_spawn(struct sim_engine *engine, uint32_t ctx, const char *name, sim_fiber_fn fn,
                    void *arg, uint32_t stack_bytes, bool daemon, struct sim_process **out);

/* sim_fiber_spawn in an engine domain (engine.h, "Domains"). */
int sim_fiber_spawn_in(struct sim_engine *engine, uint32_t domain, uint32_t ctx, const char *name,
                       sim_fiber_fn fn, void *arg, uint32_t stack_bytes, bool daemon,
                       struct sim_process **out);

/* True when the running process is a fiber (blocking calls may wait). */
bool sim_fiber_is_current(const struct sim_engine *engine);

/* Inside a fiber: waits on `queue` (NULL: only the deadline, which is then required)
 * until woken or deadline_ns (SIM_TIME_NEVER: none). Returns the wake reason
 * (SIM_WAKE_WOKEN or SIM_WAKE_TIMED_OUT) or a negative code: SIM_ENOPROC outside a
 * fiber, SIM_EINVAL for no queue and no deadline, SIM_EKILLED when the process was
 * killed (its code should return), SIM_ELIMIT. */
int sim_fiber_wait(struct sim_engine *engine, struct sim_waitq *queue, uint64_t deadline_ns);
/* Inside a fiber: sleeps delay_ns. Returns 0 or a negative code as above (SIM_EINVAL
 * when now + delay_ns reaches SIM_TIME_NEVER). */
int sim_fiber_sleep(struct sim_engine *engine, uint64_t delay_ns);

#endif /* SIM_ENGINE_FIBER_H */
