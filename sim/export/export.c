/* SPDX-License-Identifier: MIT */
/*
 * sim/export/export.c: `export_run`: open the trace, open the output, run one writer,
 * and leave either a complete output file or none.
 *
 * The output is written in place (not to a temporary file renamed at the end) because
 * OUT may be a device or a pipe (`-o /dev/stdout`); so on failure only a regular file
 * that this call created or truncated is removed.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "export_int.h"
#include "sim/engine/error.h"

void export_options_default(struct export_options *options)
{
    memset(options, 0, sizeof *options);
    options->format = EXPORT_FORMAT_PCAP;
    options->from_ns = 0;
    options->to_ns = UINT64_MAX;
    options->mermaid_messages_max = EXPORT_MERMAID_MESSAGES_MAX;
    options->mermaid_characters_max = EXPORT_MERMAID_CHARACTERS_MAX;
}

int export_format_parse(const char *name, enum export_format *format)
{
    static const struct {
        const char *name;
        enum export_format format;
    } formats[] = {
        { "pcap", EXPORT_FORMAT_PCAP },
        { "perfetto", EXPORT_FORMAT_PERFETTO },
        { "mermaid", EXPORT_FORMAT_MERMAID },
    };
    for (size_t index = 0; index < sizeof formats / sizeof formats[0]; index++) {
        if (strcmp(name, formats[index].name) == 0) {
            *format = formats[index].format;
            return 0;
        }
    }
    return -1;
}

/* Length of the well-formed UTF-8 sequence at `text` (Unicode table 3-7) within
 * `available` bytes, 0 if ill-formed or cut short. */
static size_t utf8_sequence_bytes(const unsigned char *text, size_t available)
{
    unsigned char lead = text[0];
    size_t length;
    unsigned char low = 0x80, high = 0xBF;       /* bounds of the second byte */
    if (lead >= 0xC2 && lead <= 0xDF)
        length = 2;
    else if (lead >= 0xE0 && lead <= 0xEF)
        length = 3;
    else if (lead >= 0xF0 && lead <= 0xF4)
        length = 4;
    else
        return 0;
    if (length > available)
        return 0;
    if (lead == 0xE0)
        low = 0xA0;
    else if (lead == 0xED)
        high = 0x9F;                              /* no surrogates */
    else if (lead == 0xF0)
        low = 0x90;
    else if (lead == 0xF4)
        high = 0x8F;                              /* nothing above U+10FFFF */
    if (text[1] < low || text[1] > high)
        return 0;
    for (size_t index = 2; index < length; index++)
        if (text[index] < 0x80 || text[index] > 0xBF)
            return 0;
    return length;
}

/* What a byte is inside a JSON string: JSON_PLAIN (printable ASCII but '"' and '\\',
 * written as it is), JSON_LEAD (0xC2-0xF4: may start a well-formed UTF-8 sequence, also
 * written as it is), else 0 (escaped; a stray non-ASCII byte becomes U+FFFD). A table, so
 * that a run costs one test a byte: exports of large traces spend most of their time here,
 * and fuzzing builds trace every comparison. */
enum { JSON_PLAIN = 1, JSON_LEAD = 2 };
static const unsigned char json_byte_kind[256] = {
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
    0, 0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

/* Escaped bytes are gathered here and written a buffer at a time, not a stdio call a byte
 * (a string of control or ill-formed bytes cost one fprintf each). */
#define JSON_BUFFER_BYTES 512u

struct json_buffer {
    FILE *out;
    size_t used;
    char bytes[JSON_BUFFER_BYTES];
};

static void json_put(struct json_buffer *buffer, const void *data, size_t size)
{
    if (buffer->used + size > sizeof buffer->bytes) {
        fwrite(buffer->bytes, 1, buffer->used, buffer->out);
        buffer->used = 0;
    }
    if (size > sizeof buffer->bytes) {
        fwrite(data, 1, size, buffer->out);
        return;
    }
    memcpy(buffer->bytes + buffer->used, data, size);
    buffer->used += size;
}

/* The end of the run at `cursor` that is written as it is: JSON_PLAIN bytes and
 * well-formed UTF-8 sequences. */
static const unsigned char *json_run_end(const unsigned char *cursor, const unsigned char *end)
{
    while (cursor < end) {
        unsigned char kind = json_byte_kind[*cursor];
        if (kind == JSON_PLAIN) {
            cursor++;
            continue;
        }
        size_t length = kind == JSON_LEAD ? utf8_sequence_bytes(cursor, (size_t)(end - cursor))
                                          : 0;
        if (length == 0)
            break;
        cursor += length;
    }
    return cursor;
}

/* `size` bytes (at most the buffer's) at the end of the buffer, to be filled by the caller;
 * byte by byte, as a memcpy call per escape cost more than the escape under ASan. */
static char *json_room(struct json_buffer *buffer, size_t size)
{
    if (buffer->used + size > sizeof buffer->bytes) {
        fwrite(buffer->bytes, 1, buffer->used, buffer->out);
        buffer->used = 0;
    }
    char *at = buffer->bytes + buffer->used;
    buffer->used += size;
    return at;
}

/* The byte that ends a json_run_end run, escaped: '"', '\\', \n, \t and \r by name, the
 * other controls and DEL as \u00XX, an ill-formed non-ASCII byte as U+FFFD. */
static void json_escape_one(struct json_buffer *buffer, unsigned char byte)
{
    static const char hex[] = "0123456789abcdef";
    if (byte == '"' || byte == '\\' || byte == '\n' || byte == '\t' || byte == '\r') {
        char *at = json_room(buffer, 2);
        at[0] = '\\';
        at[1] = byte == '\n' ? 'n' : byte == '\t' ? 't' : byte == '\r' ? 'r' : (char)byte;
        return;
    }
    char *at = json_room(buffer, 6);
    at[0] = '\\';
    at[1] = 'u';
    bool replaced = byte >= 0x80;
    at[2] = replaced ? 'f' : '0';
    at[3] = replaced ? 'f' : '0';
    at[4] = replaced ? 'f' : hex[byte >> 4];
    at[5] = replaced ? 'd' : hex[byte & 15];
}

void export_json_string_bytes(FILE *out, const char *text, size_t length)
{
    const unsigned char *cursor = (const unsigned char *)text;
    const unsigned char *end = cursor + length;
    struct json_buffer buffer;                  /* not zeroed: a memset per string */
    buffer.out = out;
    buffer.used = 0;
    *json_room(&buffer, 1) = '"';
    while (cursor < end) {
        const unsigned char *run = cursor;
        cursor = json_run_end(cursor, end);
        if (cursor > run)
            json_put(&buffer, run, (size_t)(cursor - run));
        if (cursor < end)
            json_escape_one(&buffer, *cursor++);
    }
    *json_room(&buffer, 1) = '"';
    fwrite(buffer.bytes, 1, buffer.used, out);
}

void export_json_string(FILE *out, const char *text)
{
    export_json_string_bytes(out, text, strlen(text));
}

void export__json_string(FILE *out, const char *text)
{
    export_json_string(out, text);
}

/* Copies the non-ASCII byte(s) at `cursor`: a well-formed sequence as it is, else one
 * byte as U+FFFD. Returns the bytes consumed. */
static size_t copy_non_ascii(FILE *out, const unsigned char *cursor, size_t available)
{
    size_t length = utf8_sequence_bytes(cursor, available);
    if (length == 0) {
        fputs("\\ufffd", out);
        return 1;
    }
    fwrite(cursor, 1, length, out);
    return length;
}

void export_json_copy(FILE *out, const char *json)
{
    const unsigned char *cursor = (const unsigned char *)json;
    size_t length = strlen(json);
    const unsigned char *end = cursor + length;
    while (cursor < end) {
        if (*cursor < 0x80)
            fputc(*cursor++, out);
        else
            cursor += copy_non_ascii(out, cursor, (size_t)(end - cursor));
    }
}

bool export__grow(void **array, uint32_t *capacity, uint32_t count, size_t element_bytes,
                  uint32_t max)
{
    if (count < *capacity)
        return true;
    if (count >= max)
        return false;
    uint32_t grown_capacity = *capacity == 0 ? 16u : *capacity * 2u;
    if (grown_capacity > max)
        grown_capacity = max;
    void *grown = realloc(*array, (size_t)grown_capacity * element_bytes);
    if (grown == NULL)
        return false;
    *array = grown;
    *capacity = grown_capacity;
    return true;
}

static void say(char *message, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX, format, args);
    va_end(args);
}

static int run_writer(struct export__trace *trace, FILE *out, const struct export_options *options,
                      char *message)
{
    switch (options->format) {
    case EXPORT_FORMAT_PCAP:
        return export__pcap_write(trace, out, options, message);
    case EXPORT_FORMAT_PERFETTO:
        return export__perfetto_write(trace, out, options, message);
    case EXPORT_FORMAT_MERMAID:
        return export__mermaid_write(trace, out, options, message);
    }
    say(message, "unknown export format %d", (int)options->format);
    return -1;
}

/* True when `out_path` names the trace file itself: writing it would destroy the input. */
static bool same_file(const char *trace_path, const char *out_path)
{
    struct stat trace_info, out_info;
    return stat(trace_path, &trace_info) == 0 && stat(out_path, &out_info) == 0 &&
           trace_info.st_dev == out_info.st_dev && trace_info.st_ino == out_info.st_ino;
}

int export_run(const char *trace_path, const char *out_path, const struct export_options *options,
               char message[SIM_ERROR_MESSAGE_BYTES_MAX])
{
    message[0] = '\0';
    char out_shown[SIM_MESSAGE_PATH_BYTES_MAX];     /* so that the cause is never cut off */
    sim_message_path(out_path, out_shown);
    struct export__trace *trace = NULL;
    if (export__trace_open(trace_path, &trace, message) != 0)
        return -1;
    if (same_file(trace_path, out_path)) {
        say(message, "cannot write %s: it is the trace being exported", out_shown);
        export__trace_close(trace);
        return -1;
    }
    FILE *out = fopen(out_path, "wb");
    if (out == NULL) {
        say(message, "cannot write %s: %s", out_shown, strerror(errno));
        export__trace_close(trace);
        return -1;
    }
    struct stat info;
    bool regular = fstat(fileno(out), &info) == 0 && S_ISREG(info.st_mode);
    int rc = run_writer(trace, out, options, message);
    export__trace_close(trace);
    int write_error = sim_stream_close(out);       /* the errno of a failed write */
    if (rc == 0 && write_error != 0) {
        say(message, "cannot write %s: %s", out_shown, strerror(write_error));
        rc = -1;
    }
    if (rc != 0 && regular)
        unlink(out_path);
    return rc;
}
