/* SPDX-License-Identifier: MIT */
/*
 * sim/engine/fiber.c: fiber processes on ucontext.
 *
 * resume() swaps from the engine's stack to the fiber's; a wait swaps back.
 * When the body returns, the trampoline finishes the process and returns to
 * the engine through uc_link; resume() then frees the stack (it is no longer
 * running on it).
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <ucontext.h>

#include "fiber.h"

struct fiber {
    ucontext_t fiber_context;
    ucontext_t engine_context;      /* where a wait or the end of the body returns */
    void *stack;
    sim_fiber_fn fn;
    void *arg;
    struct sim_engine *engine;      /* borrowed */
    struct sim_process *process;    /* borrowed: owned by the engine until destroyed */
    bool started;
    bool finished;
};

static void fiber_resume(struct sim_process *process, enum sim_wake_reason reason);
static void fiber_release(struct sim_process *process);

static const struct sim_process_ops fiber_ops = {
    .resume = fiber_resume,
    .release = fiber_release,
};

static void fiber_free(struct fiber *fiber)
{
    free(fiber->stack);
    free(fiber);
}

static void fiber_trampoline(unsigned int pointer_high, unsigned int pointer_low)
{
    uintptr_t pointer = ((uintptr_t)pointer_high << 16 << 16) | (uintptr_t)pointer_low;
    struct fiber *fiber = (struct fiber *)pointer;
    fiber->fn(fiber->engine, fiber->arg);
    sim_process_finish(fiber->process, false);
    fiber->finished = true;
    /* Returning follows uc_link back to engine_context. */
}

static void fiber_end(struct fiber *fiber)
{
    sim_process_destroy(fiber->process);
    fiber_free(fiber);
}

static void fiber_resume(struct sim_process *process, enum sim_wake_reason reason)
{
    struct fiber *fiber = process->owner;
    assert(fiber->process == process);
    assert(!fiber->finished);
    if (!fiber->started && reason == SIM_WAKE_KILLED) {
        sim_process_finish(process, false);     /* killed before it ran: nothing to unwind */
        fiber_end(fiber);
        return;
    }
    fiber->started = true;
    int rc = swapcontext(&fiber->engine_context, &fiber->fiber_context);
    assert(rc == 0);
    (void)rc;
    if (fiber->finished)
        fiber_end(fiber);
}

static void fiber_release(struct sim_process *process)
{
    fiber_free(process->owner);
}

int sim_fiber_spawn(struct sim_engine *engine, uint32_t ctx, const char *name, sim_fiber_fn fn,
                    void *arg, uint32_t stack_bytes, bool daemon, struct sim_process **out)
{
    return sim_fiber_spawn_in(engine, 0, ctx, name, fn, arg, stack_bytes, daemon, out);
}

int sim_fiber_spawn_in(struct sim_engine *engine, uint32_t domain, uint32_t ctx, const char *name,
                       sim_fiber_fn fn, void *arg, uint32_t stack_bytes, bool daemon,
                       struct sim_process **out)
{
    assert(engine != NULL);
    assert(fn != NULL);
    if (stack_bytes == 0)
        stack_bytes = SIM_FIBER_STACK_BYTES_DEFAULT;
    if (stack_bytes < SIM_FIBER_STACK_BYTES_MIN)
        return sim_engine_fail(engine, SIM_EINVAL, "fiber stack below SIM_FIBER_STACK_BYTES_MIN");
    struct fiber *fiber = calloc(1, sizeof(*fiber));
    if (fiber == NULL)
        return sim_engine_fail(engine, SIM_ENOMEM, "out of memory creating a fiber");
    fiber->stack = malloc(stack_bytes);
    if (fiber->stack == NULL) {
        free(fiber);
        return sim_engine_fail(engine, SIM_ENOMEM, "out of memory for a fiber stack");
    }
    fiber->fn = fn;
    fiber->arg = arg;
    fiber->engine = engine;
    int rc = getcontext(&fiber->fiber_context);
    assert(rc == 0);
    fiber->fiber_context.uc_stack.ss_sp = fiber->stack;
    fiber->fiber_context.uc_stack.ss_size = stack_bytes;
    fiber->fiber_context.uc_link = &fiber->engine_context;
    uintptr_t pointer = (uintptr_t)fiber;
    makecontext(&fiber->fiber_context, (void (*)(void))fiber_trampoline, 2,
                (unsigned int)(pointer >> 16 >> 16), (unsigned int)(pointer & 0xFFFFFFFFu));
    rc = sim_process_create_in(engine, domain, ctx, name, &fiber_ops, fiber, daemon,
                               sim_engine_now(engine), &fiber->process);
    if (rc < 0) {
        fiber_free(fiber);
        return rc;
    }
    if (out != NULL)
        *out = fiber->process;
    return SIM_OK;
}

bool sim_fiber_is_current(const struct sim_engine *engine)
{
    const struct sim_process *process = sim_engine_current(engine);
    return process != NULL && process->ops == &fiber_ops;
}

int sim_fiber_wait(struct sim_engine *engine, struct sim_waitq *queue, uint64_t deadline_ns)
{
    if (!sim_fiber_is_current(engine))
        return SIM_ENOPROC;
    if (queue == NULL && deadline_ns == SIM_TIME_NEVER)
        return SIM_EINVAL;      /* nothing could ever wake it */
    struct sim_process *process = sim_engine_current(engine);
    struct fiber *fiber = process->owner;
    int rc = sim_process_block(process, queue, deadline_ns);
    if (rc < 0)
        return rc;
    rc = swapcontext(&fiber->fiber_context, &fiber->engine_context);
    assert(rc == 0);
    assert(sim_engine_current(engine) == process);
    if (process->wake_reason == SIM_WAKE_KILLED)
        return SIM_EKILLED;
    return (int)process->wake_reason;
}

int sim_fiber_sleep(struct sim_engine *engine, uint64_t delay_ns)
{
    uint64_t deadline_ns = sim_engine_now(engine) + delay_ns;
    if (deadline_ns < delay_ns || deadline_ns == SIM_TIME_NEVER)    /* NEVER: no deadline */
        return SIM_EINVAL;
    int rc = sim_fiber_wait(engine, NULL, deadline_ns);
    return rc < 0 ? rc : SIM_OK;
}
