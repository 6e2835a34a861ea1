/* SPDX-License-Identifier: MIT */
/*
 * sim/trace/fields_json.h: the `fields` column's JSON text of one event
 * (docs/trace-schema.md, "fields"): an object with the fields in emission order;
 * U64 above INT64_MAX as a decimal string; strings as JSON strings (ill-formed UTF-8
 * bytes as \udcXX); the payload field (the first BYTES or PAYLOAD field) as {"bytes":N}
 * (its content goes to the `payload` column, cut to the writer's --payload limit, and
 * then {"bytes":N,"stored":K}), later BYTES fields as {"bytes":N,"hex":"..."}, later
 * PAYLOAD fields the same with their hex cut like the payload.
 */
#ifndef SIM_TRACE_FIELDS_JSON_H
#define SIM_TRACE_FIELDS_JSON_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim/engine/trace.h"

/* --payload: bytes of a payload the trace stores per event. "all" is SIM_TRACE_BYTES_MAX,
 * the most a field may hold, so every byte is kept. */
#define SIM_TRACE_PAYLOAD_DEFAULT_BYTES 256u
#define SIM_TRACE_PAYLOAD_ALL_BYTES SIM_TRACE_BYTES_MAX

/* The index of the payload field: the first BYTES or PAYLOAD field; field_count if none. */
static inline uint32_t sim_trace_payload_field(const struct sim_trace_event *event)
{
    assert(event != NULL);
    for (uint32_t index = 0; index < event->field_count; index++) {
        enum sim_field_type type = event->fields[index].type;
        if (type == SIM_FIELD_BYTES || type == SIM_FIELD_PAYLOAD)
            return index;
    }
    return event->field_count;
}

/* Bytes of field `index` the trace keeps: a string whole, a later BYTES field whole (its
 * hex), the payload field and any PAYLOAD field cut to payload_bytes_max; 0 for numbers.
 * `payload_field` is sim_trace_payload_field(event). */
static inline uint32_t sim_trace_field_kept_bytes(const struct sim_trace_event *event,
                                                  uint32_t index, uint32_t payload_field,
                                                  uint32_t payload_bytes_max)
{
    assert(event != NULL && index < event->field_count);
    const struct sim_trace_field *field = &event->fields[index];
    bool cut = field->type == SIM_FIELD_PAYLOAD ||
               (field->type == SIM_FIELD_BYTES && index == payload_field);
    if (cut)
        return field->value.blob.size_bytes < payload_bytes_max ? field->value.blob.size_bytes
                                                                : payload_bytes_max;
    if (field->type == SIM_FIELD_STR || field->type == SIM_FIELD_BYTES)
        return field->value.blob.size_bytes;
    return 0;
}

/* sim_trace_field_kept_bytes of a BYTES or PAYLOAD field met in field order, for a walk
 * that does not know the payload field's index: *payload_seen says whether the payload
 * field (the first BYTES or PAYLOAD field) came before this one, and is true after. */
static inline uint32_t sim_trace_blob_kept_bytes(const struct sim_trace_field *field,
                                                 bool *payload_seen, uint32_t payload_bytes_max)
{
    assert(field->type == SIM_FIELD_BYTES || field->type == SIM_FIELD_PAYLOAD);
    uint32_t keep = field->value.blob.size_bytes;
    if ((field->type == SIM_FIELD_PAYLOAD || !*payload_seen) && keep > payload_bytes_max)
        keep = payload_bytes_max;
    *payload_seen = true;
    return keep;
}

/* An upper bound of the text's size for `event`, NUL included (for any cut). */
size_t sim_trace_fields_json_bound_bytes(const struct sim_trace_event *event);
/* The same for one cut: the payload field's bytes are not in the text at all (they go to
 * the `payload` column) and later PAYLOAD fields' hex is cut, so a row whose 64 KiB
 * payload is stored as 256 bytes needs a few dozen bytes of text, not 128 KiB. */
size_t sim_trace_fields_json_cut_bound_bytes(const struct sim_trace_event *event,
                                             uint32_t payload_bytes_max);

/* Encoded field names kept by a caller that encodes many events (the writer's worker,
 * replay's): `"name":` as put_string makes it, for names of at most
 * SIM_TRACE_JSON_NAME_CACHED_BYTES. A name's slot comes from its name id (trace.h: a
 * function of its bytes; a name may take one of the SIM_TRACE_JSON_NAME_PROBES slots from
 * there), and a slot answers for every name with the same bytes, wherever
 * the text lies (one literal per emitting file): so the output never depends on an
 * address, and two copies of a name do not evict each other. Zero-initialise; one
 * thread. */
#define SIM_TRACE_JSON_NAME_SLOTS 512u
#define SIM_TRACE_JSON_NAME_CACHED_BYTES 32u
#define SIM_TRACE_JSON_NAME_PROBES 4u      /* slots a name may take from its own */
struct sim_trace_json_name {
    const char *name;                       /* NULL: empty; static, as every field name */
    uint64_t name_id;
    uint32_t name_bytes, text_bytes;
    char text[6u * SIM_TRACE_JSON_NAME_CACHED_BYTES + 4u];
};
struct sim_trace_json_names {
    struct sim_trace_json_name slots[SIM_TRACE_JSON_NAME_SLOTS];
};

/* As sim_trace_fields_json below, with the names taken from (and added to) `names`. */
size_t sim_trace_fields_json_named(char *json, const struct sim_trace_event *event,
                                   uint32_t payload_bytes_max, uint32_t *payload_field,
                                   struct sim_trace_json_names *names);

/* Writes the text, NUL-terminated, into `json` (at least the bound above) with payloads
 * cut to payload_bytes_max (blob values need hold only their kept bytes); returns its
 * length without the NUL and the payload field's index in *payload_field (field_count if
 * none). */
size_t sim_trace_fields_json(char *json, const struct sim_trace_event *event,
                             uint32_t payload_bytes_max, uint32_t *payload_field);

#endif /* SIM_TRACE_FIELDS_JSON_H */
