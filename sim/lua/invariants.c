/* SPDX-License-Identifier: MIT */
/*
 * sim/lua/invariants.c: the world invariants of a run (docs/invariants.md): the VMCI
 * platform's (vmci/invariants.h) and each kernel's socket stack's (vsock/invariants.h),
 * checked once when the run is over and, with the `paranoid` option (`vmcisim run
 * --paranoid`), after every event through the engine's after-event hook.
 *
 * A violation fails the run: it is recorded as a failure (printed, exit 1) naming the
 * invariant, the object and the simulated time, and traced as an api-layer
 * `invariant_violation` event {name, object, detail}. A clean check emits nothing, so
 * the checks leave every digest of a correct run unchanged. At most
 * SIMLUA_INVARIANT_REPORTS_MAX violations are reported per run (the rest are counted in
 * one last failure), and once a check reported a violation no later check of the run runs
 * (the paranoid hook stops, the end-of-run check is skipped): the state stays broken, and
 * the first report of it is the useful one.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>

#include "lua_int.h"
#include "vmci/invariants.h"
#include "vsock/invariants.h"

#define SIMLUA_INVARIANT_REPORTS_MAX 32u

struct report_state {
    struct simlua_world *world;
    uint32_t reported;
    uint32_t over_limit;
};

static void report(void *state, const char *name, const char *object, const char *detail)
{
    struct report_state *report_state = state;
    struct simlua_world *world = report_state->world;
    if (world->invariant_reports >= SIMLUA_INVARIANT_REPORTS_MAX) {
        report_state->over_limit++;
        return;
    }
    world->invariant_reports++;
    report_state->reported++;
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_API, "invariant_violation", SIMLUA_CID_HOST, 0);
    sim_trace_field_str(&event, "name", name);
    sim_trace_field_str(&event, "object", object);
    sim_trace_field_str(&event, "detail", detail);
    (void)sim_engine_emit(world->engine, &event);
    char message[3 * VMCI_INVARIANT_TEXT_BYTES];
    snprintf(message, sizeof(message), "invariant %s violated: %s: %s", name, object, detail);
    simlua__failure(world->runtime, "", "", message);
}

uint32_t simlua__invariants_check(struct simlua_world *world, bool at_end)
{
    assert(world != NULL);
    /* The first check that found something is the report to read: a broken state stays
     * broken, and reporting it again at every later check (the end after --paranoid) would
     * only repeat it. */
    if (world->invariant_reports > 0)
        return 0;
    struct report_state state = { .world = world };
    uint32_t violations = 0;
    if (world->hypervisor != NULL)
        violations += vmci_invariants_check(world->hypervisor, report, &state);
    for (uint32_t index = 0; index < world->endpoint_count; index++) {
        struct simlua_net *net = world->endpoints[index].net;
        if (net != NULL && net->ready)
            violations += vsock_invariants_check(&net->stack, at_end, report, &state);
    }
    if (state.over_limit > 0) {
        char message[96];
        snprintf(message, sizeof(message), "invariants: %" PRIu32 " more violation(s) not shown",
                 state.over_limit);
        simlua__failure(world->runtime, "", "", message);
    }
    return violations;
}

static void after_event(void *state, struct sim_engine *engine)
{
    struct simlua_world *world = state;
    if (simlua__invariants_check(world, false) > 0)
        sim_engine_set_after_event(engine, NULL, NULL);
}

void simlua__invariants_arm(struct simlua_world *world)
{
    assert(world != NULL);
    /* Once a violation was reported the hook stays off (w:run() may be called again). */
    if (world->runtime->options.paranoid && world->invariant_reports == 0)
        sim_engine_set_after_event(world->engine, after_event, world);
}
