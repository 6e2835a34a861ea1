/* SPDX-License-Identifier: MIT */
/*
 * sim/engine/trace.c: layer names and the field builders of the trace sink API.
 *
 * Builders assert what the API promises (field count, string sizes) so a layer
 * that emits a malformed event fails in its own test, not in a sink.
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

static struct sim_trace_field *field_next(struct sim_trace_event *event, const char *name)
{
    assert(event != NULL);
    assert(name != NULL);
    assert(event->field_count < SIM_TRACE_FIELDS_MAX);
    struct sim_trace_field *field = &event->fields[event->field_count];
    event->field_count++;
    field->name = name;
    return field;
}

void sim_trace_field_u64(struct sim_trace_event *event, const char *name, uint64_t value)
{
    struct sim_trace_field *field = field_next(event, name);
    field->type = SIM_FIELD_U64;
    field->value.u64 = value;
}

void sim_trace_field_i64(struct sim_trace_event *event, const char *name, int64_t value)
{
    struct sim_trace_field *field = field_next(event, name);
    field->type = SIM_FIELD_I64;
    field->value.i64 = value;
}

void sim_trace_field_strn(struct sim_trace_event *event, const char *name, const char *text,
                          uint32_t size_bytes)
{
    assert(text != NULL || size_bytes == 0);
    assert(size_bytes <= SIM_TRACE_STRING_BYTES_MAX);
    struct sim_trace_field *field = field_next(event, name);
    field->type = SIM_FIELD_STR;
    field->value.blob.data = text;
    field->value.blob.size_bytes = size_bytes;
}

void sim_trace_field_str(struct sim_trace_event *event, const char *name, const char *text)
{
    assert(text != NULL);
    size_t size_bytes = strlen(text);
    assert(size_bytes <= SIM_TRACE_STRING_BYTES_MAX);
    sim_trace_field_strn(event, name, text, (uint32_t)size_bytes);
}

void sim_trace_field_bytes(struct sim_trace_event *event, const char *name, const void *data,
                           uint32_t size_bytes)
{
    assert(data != NULL || size_bytes == 0);
    assert(size_bytes <= SIM_TRACE_BYTES_MAX);
    struct sim_trace_field *field = field_next(event, name);
    field->type = SIM_FIELD_BYTES;
    field->value.blob.data = data;
    field->value.blob.size_bytes = size_bytes;
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
