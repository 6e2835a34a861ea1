/* SPDX-License-Identifier: MIT */
/*
 * sim/trace/fields_json.h: the `fields` column's JSON text of one event
 * (docs/trace-schema.md, "fields"): an object with the fields in emission order;
 * U64 above INT64_MAX as a decimal string; strings as JSON strings (ill-formed UTF-8
 * bytes as \udcXX); the first bytes field as {"bytes":N} (its content goes to the
 * `payload` column), later ones as {"bytes":N,"hex":"..."}.
 */
#ifndef SIM_TRACE_FIELDS_JSON_H
#define SIM_TRACE_FIELDS_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "sim/engine/trace.h"

/* An upper bound of the text's size for `event`, NUL included. */
size_t sim_trace_fields_json_bound_bytes(const struct sim_trace_event *event);

/* Writes the text, NUL-terminated, into `json` (at least the bound above); returns its
 * length without the NUL and the index of the first bytes field in *payload_field
 * (field_count if none). */
size_t sim_trace_fields_json(char *json, const struct sim_trace_event *event,
                             uint32_t *payload_field);

#endif /* SIM_TRACE_FIELDS_JSON_H */
