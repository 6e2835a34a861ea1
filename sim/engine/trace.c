/* SPDX-License-Identifier: MIT */
/*
 * sim/engine/trace.c: layer names and the null sink of the trace sink API (the event
 * and field builders are inline in trace.h).
 */
#include <assert.h>
#include <string.h>

#include "trace.h"

static const char *const layer_names[SIM_LAYER_COUNT] = {
    [SIM_LAYER_OFF] = "off",
    [SIM_LAYER_API] = "api",
    [SIM_LAYER_TRANSPORT] = "transport",
    [SIM_LAYER_VMCI] = "vmci",
    [SIM_LAYER_DEVICE] = "device",
};

const char *sim_layer_name(enum sim_layer layer)
{
    assert((unsigned)layer < SIM_LAYER_COUNT);
    return layer_names[layer];
}

int sim_layer_parse(const char *name)
{
    assert(name != NULL);
    for (int layer = 0; layer < SIM_LAYER_COUNT; layer++) {
        if (strcmp(name, layer_names[layer]) == 0)
            return layer;
    }
    return -1;
}

static int null_emit(void *state, const struct sim_trace_event *event, char *message)
{
    (void)state;
    (void)message;
    assert(event != NULL);
    return 0;
}

struct sim_trace_sink sim_trace_null_sink(void)
{
    struct sim_trace_sink sink = {
        .name = "null",
        .level = SIM_LAYER_DEVICE,
        .emit = null_emit,
        .state = NULL,
    };
    return sink;
}
