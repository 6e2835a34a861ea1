/* SPDX-License-Identifier: MIT */
/*
 * sim/trace/fields_json.c: an event's fields as the compact JSON text of the `fields`
 * column (docs/trace-schema.md, "fields"). Kept apart from the writer because the
 * encoding is pure: no database, no state, the same text for the same event and cut. The
 * writer's worker thread calls it on events read back from the record ring; replay calls
 * it on the events it re-runs, with the cut the trace was written with.
 *
 * Invariant W3 (asserted by the callers): the text never exceeds
 * sim_trace_fields_json_cut_bound_bytes() for its cut, nor therefore
 * sim_trace_fields_json_bound_bytes().
 */
#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "sim/trace/fields_json.h"

/* Length of the well-formed UTF-8 sequence at s (Unicode table 3-7), 0 if ill-formed. */
static size_t utf8_sequence_bytes(const uint8_t *s, size_t available_bytes)
{
    assert(available_bytes > 0);
    uint8_t lead = s[0];
    size_t length = lead < 0x80 ? 1 : lead >= 0xc2 && lead <= 0xdf ? 2
                  : lead >= 0xe0 && lead <= 0xef ? 3 : lead >= 0xf0 && lead <= 0xf4 ? 4 : 0;
    if (length == 0 || length > available_bytes)
        return 0;
    if (length == 1)
        return 1;
    /* The second byte's range excludes overlongs, surrogates and code points > U+10FFFF. */
    uint8_t low = lead == 0xe0 ? 0xa0 : lead == 0xf0 ? 0x90 : 0x80;
    uint8_t high = lead == 0xed ? 0x9f : lead == 0xf4 ? 0x8f : 0xbf;
    if (s[1] < low || s[1] > high)
        return 0;
    for (size_t i = 2; i < length; i++) {
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    }
    return length;
}

static char *put_u4_escape(char *out, unsigned code)
{
    static const char digits[] = "0123456789abcdef";
    assert(code <= 0xffff);
    *out++ = '\\';
    *out++ = 'u';
    for (int shift = 12; shift >= 0; shift -= 4)
        *out++ = digits[(code >> shift) & 0xf];
    return out;
}

/* An ASCII byte that cannot appear as itself: quote, backslash, C0 controls, DEL. */
static char *put_ascii_escape(char *out, uint8_t c)
{
    assert(c < 0x80);
    char short_escape = c == '"' ? '"' : c == '\\' ? '\\' : c == '\n' ? 'n'
                      : c == '\t' ? 't' : c == '\r' ? 'r' : 0;
    if (short_escape == 0)
        return put_u4_escape(out, c);
    *out++ = '\\';
    *out++ = short_escape;
    return out;
}

/* A JSON string: at most 2 + 6 * size_bytes characters. Well-formed UTF-8 is copied;
 * an ill-formed byte B becomes \udcBB (a lone low surrogate, as Python's
 * "surrogateescape"), so no two inputs give the same text. */
static bool is_plain(uint8_t c)
{
    /* One load instead of four compares per byte: 1 for 0x20..0x7e but the quote (0x22)
     * and the backslash (0x5c). */
    static const uint8_t plain[256] = {
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    };
    return plain[c] != 0;
}

static char *put_string(char *out, const uint8_t *s, size_t size_bytes)
{
    assert(s != NULL || size_bytes == 0);
    *out++ = '"';
    size_t i = 0;
    while (i < size_bytes) {
        uint8_t c = s[i];
        if (is_plain(c)) {
            /* A run of bytes that stand for themselves (names, most values). */
            do
                *out++ = (char)s[i++];
            while (i < size_bytes && is_plain(s[i]));
        } else if (c < 0x80) {
            out = put_ascii_escape(out, c);
            i++;
        } else {
            size_t length = utf8_sequence_bytes(s + i, size_bytes - i);
            if (length == 0) {
                out = put_u4_escape(out, 0xdc00u + c);
                length = 1;
            } else {
                memcpy(out, s + i, length);
                out += length;
            }
            i += length;
        }
    }
    *out++ = '"';
    return out;
}

/* How many decimal digits `value` has (1 to 20). */
static size_t decimal_digits(uint64_t value)
{
    size_t count = 1;
    for (;;) {
        if (value < 10)
            return count;
        if (value < 100)
            return count + 1;
        if (value < 1000)
            return count + 2;
        if (value < 10000)
            return count + 3;
        value /= 10000;
        count += 4;
    }
}

/* Decimal digits two at a time from a table, written in place from the end once the
 * count is known: half the divisions of a digit loop and no copy, and numbers are most
 * of a row's text. */
static char *put_u64(char *out, uint64_t value)
{
    static const char pairs[201] =
        "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
        "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
        "8081828384858687888990919293949596979899";
    size_t count = decimal_digits(value);
    assert(count >= 1 && count <= 20);
    char *end = out + count;
    char *at = end;
    while (value >= 100) {
        size_t pair = (size_t)(value % 100) * 2;
        value /= 100;
        *--at = pairs[pair + 1];
        *--at = pairs[pair];
    }
    if (value >= 10) {
        *--at = pairs[value * 2 + 1];
        *--at = pairs[value * 2];
    } else {
        *--at = (char)('0' + value);
    }
    assert(at == out);
    return end;
}

/* U64 above INT64_MAX is a decimal string: SQLite's JSON functions would read the bare
 * integer as a REAL and lose its low digits. */
static char *put_u64_field(char *out, uint64_t value)
{
    bool quoted = value > (uint64_t)INT64_MAX;
    if (quoted)
        *out++ = '"';
    out = put_u64(out, value);
    if (quoted)
        *out++ = '"';
    return out;
}

static char *put_i64(char *out, int64_t value)
{
    if (value >= 0)
        return put_u64(out, (uint64_t)value);
    *out++ = '-';
    return put_u64(out, (uint64_t)(-(value + 1)) + 1);   /* INT64_MIN has no positive */
}

static char *put_literal(char *out, const char *text)
{
    size_t length = strlen(text);
    memcpy(out, text, length);
    return out + length;
}

/* {"bytes":N}, with ,"stored":K when the trace keeps only K < N bytes; a field after the
 * payload field also carries its kept content: {"bytes":N[,"stored":K],"hex":"..."}. */
static char *put_bytes_field(char *out, const struct sim_trace_field *field, bool in_payload,
                             uint32_t kept_bytes)
{
    static const char digits[] = "0123456789abcdef";
    const uint8_t *data = field->value.blob.data;
    assert(kept_bytes <= field->value.blob.size_bytes);
    out = put_literal(out, "{\"bytes\":");
    out = put_u64(out, field->value.blob.size_bytes);
    if (kept_bytes < field->value.blob.size_bytes) {
        out = put_literal(out, ",\"stored\":");
        out = put_u64(out, kept_bytes);
    }
    if (!in_payload) {
        out = put_literal(out, ",\"hex\":\"");
        for (uint32_t i = 0; i < kept_bytes; i++) {
            *out++ = digits[data[i] >> 4];
            *out++ = digits[data[i] & 0x0f];
        }
        *out++ = '"';
    }
    *out++ = '}';
    return out;
}

size_t sim_trace_fields_json_bound_bytes(const struct sim_trace_event *event)
{
    assert(event != NULL);
    size_t bound = 3;   /* braces and NUL */
    for (uint32_t i = 0; i < event->field_count; i++) {
        const struct sim_trace_field *field = &event->fields[i];
        size_t name_bytes = field->name_bytes != 0 ? field->name_bytes : strlen(field->name);
        bound += 1 + 2 + 6 * name_bytes + 1;            /* comma, quoted name, colon */
        if (field->type == SIM_FIELD_STR)
            bound += 2 + 6 * (size_t)field->value.blob.size_bytes;
        else if (field->type == SIM_FIELD_BYTES || field->type == SIM_FIELD_PAYLOAD)
            bound += 52 + 2 * (size_t)field->value.blob.size_bytes;     /* 2 numbers, hex */
        else
            bound += 22;    /* sign or quotes, 20 digits */
    }
    return bound;
}

size_t sim_trace_fields_json_cut_bound_bytes(const struct sim_trace_event *event,
                                             uint32_t payload_bytes_max)
{
    assert(event != NULL);
    /* One walk: the payload field is the first BYTES or PAYLOAD field met
     * (sim_trace_payload_field), so it is found on the way. */
    bool payload_met = false;
    size_t bound = 3;   /* braces and NUL */
    for (uint32_t i = 0; i < event->field_count; i++) {
        const struct sim_trace_field *field = &event->fields[i];
        size_t name_bytes = field->name_bytes != 0 ? field->name_bytes : strlen(field->name);
        bound += 1 + 2 + 6 * name_bytes + 1;            /* comma, quoted name, colon */
        switch (field->type) {
        case SIM_FIELD_U64:
        case SIM_FIELD_I64:
            bound += 22;    /* sign or quotes, 20 digits */
            break;
        case SIM_FIELD_STR:
            bound += 2 + 6 * (size_t)field->value.blob.size_bytes;
            break;
        case SIM_FIELD_BYTES:
        case SIM_FIELD_PAYLOAD: {
            /* 2 numbers; the payload field's bytes go to the payload column, a later
             * field's as hex (cut like the payload when it is a PAYLOAD field). */
            bool is_payload_field = !payload_met;
            uint32_t kept = sim_trace_blob_kept_bytes(field, &payload_met, payload_bytes_max);
            bound += 52 + (is_payload_field ? 0 : 2 * (size_t)kept);
            break;
        }
        }
    }
    return bound;
}

/* Copies a cached `"name":` to `out`. A copy of a fixed 16 or 32 bytes is two or four
 * moves where one of the text's own length is a call: it may write past the text, but
 * stays within the bound the caller sized `json` for. The rest of the text's bound,
 * from `out` on, is at least 6 * name_bytes + 7 (the name's 4 + 6 * name_bytes but its
 * comma, a value's 2 at the least, the closing brace and the NUL), so 16 bytes fit from
 * a name of 2 bytes on and 32 from one of 5. */
static char *name_text_put(char *out, const struct sim_trace_json_name *entry,
                           size_t name_bytes)
{
    uint32_t text_bytes = entry->text_bytes;
    _Static_assert(sizeof entry->text >= 32u, "a fixed copy reads within the text");
    if (text_bytes <= 16u && name_bytes >= 2u)
        memcpy(out, entry->text, 16u);
    else if (text_bytes <= 32u && name_bytes >= 5u)
        memcpy(out, entry->text, 32u);
    else
        memcpy(out, entry->text, text_bytes);
    return out + text_bytes;
}

/* `"name":` for field `field`, from the cache when there is one and the name fits it. The
 * name looks in SIM_TRACE_JSON_NAME_PROBES slots from the one its id picks, for a slot
 * that holds a name with the same bytes, else takes the first empty one, else refills its
 * own. With one slot, two names of a run whose ids met there (src_cid and deadline_ns do)
 * evicted each other on every event. What is written never depends on the cache. */
static char *put_name(char *out, const struct sim_trace_field *field,
                      struct sim_trace_json_names *names)
{
    size_t name_bytes = field->name_bytes != 0 ? field->name_bytes : strlen(field->name);
    if (names == NULL || name_bytes > SIM_TRACE_JSON_NAME_CACHED_BYTES) {
        out = put_string(out, (const uint8_t *)field->name, name_bytes);
        *out++ = ':';
        return out;
    }
    uint64_t name_id = field->name_id != 0 ? field->name_id
                                           : sim_trace_name_id(field->name,
                                                               (uint32_t)name_bytes);
    uint32_t home = (uint32_t)(name_id ^ (name_id >> 32)) & (SIM_TRACE_JSON_NAME_SLOTS - 1);
    struct sim_trace_json_name *entry = &names->slots[home];
    for (uint32_t probe = 0; probe < SIM_TRACE_JSON_NAME_PROBES; probe++) {
        struct sim_trace_json_name *candidate =
            &names->slots[(home + probe) & (SIM_TRACE_JSON_NAME_SLOTS - 1)];
        if (candidate->name == NULL) {
            entry = candidate;
            break;
        }
        if (candidate->name_id == name_id && candidate->name_bytes == name_bytes &&
            (candidate->name == field->name ||
             memcmp(candidate->name, field->name, name_bytes) == 0))
            return name_text_put(out, candidate, name_bytes);
    }
    char *end = put_string(entry->text, (const uint8_t *)field->name, name_bytes);
    *end++ = ':';
    entry->text_bytes = (uint32_t)(end - entry->text);
    assert(entry->text_bytes <= sizeof entry->text);
    entry->name = field->name;
    entry->name_id = name_id;
    entry->name_bytes = (uint32_t)name_bytes;
    return name_text_put(out, entry, name_bytes);
}

size_t sim_trace_fields_json(char *json, const struct sim_trace_event *event,
                             uint32_t payload_bytes_max, uint32_t *payload_field)
{
    size_t length = sim_trace_fields_json_named(json, event, payload_bytes_max, payload_field,
                                                NULL);
    assert(length < sim_trace_fields_json_cut_bound_bytes(event, payload_bytes_max)); /* W3 */
    return length;
}

size_t sim_trace_fields_json_named(char *json, const struct sim_trace_event *event,
                                   uint32_t payload_bytes_max, uint32_t *payload_field,
                                   struct sim_trace_json_names *names)
{
    assert(json != NULL);
    assert(event != NULL);
    assert(payload_field != NULL);
    char *out = json;
    /* The payload field is the first BYTES or PAYLOAD field (sim_trace_payload_field):
     * found on the way instead of by a walk of its own. */
    *payload_field = event->field_count;
    *out++ = '{';
    for (uint32_t i = 0; i < event->field_count; i++) {
        const struct sim_trace_field *field = &event->fields[i];
        if (i > 0)
            *out++ = ',';
        out = put_name(out, field, names);
        switch (field->type) {
        case SIM_FIELD_U64: out = put_u64_field(out, field->value.u64); break;
        case SIM_FIELD_I64: out = put_i64(out, field->value.i64); break;
        case SIM_FIELD_STR:
            out = put_string(out, field->value.blob.data, field->value.blob.size_bytes);
            break;
        case SIM_FIELD_BYTES:
        case SIM_FIELD_PAYLOAD:
            if (*payload_field == event->field_count)
                *payload_field = i;
            out = put_bytes_field(out, field, i == *payload_field,
                                  sim_trace_field_kept_bytes(event, i, *payload_field,
                                                             payload_bytes_max));
            break;
        }
    }
    *out++ = '}';
    *out = '\0';
    /* W3 is checked by the callers against the bound they sized `json` with (computing it
     * again here would walk the fields a third time per row on the writer's worker). */
    return (size_t)(out - json);
}
