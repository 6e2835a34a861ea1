/* SPDX-License-Identifier: MIT */
/*
 * sim/cli/inspect_format.c: one view's rows as tsv, csv or json (`inspect --format`,
 * docs/cli.md; the JSON is described in docs/trace-schema.md, "inspect --format json").
 *
 * A view declares its columns once, then gives every row all of them in that order: the
 * writer asserts it, so a tsv/csv row always lines up with the header and every JSON row
 * object has the same keys. Values are typed (text, integer, real, JSON, null) and each
 * format spells them its own way:
 *   tsv   a header line, then tab-separated values; NULL is \N; tab, newline, carriage
 *         return and backslash inside a value are \t, \n, \r, \\ (as the sql view);
 *   csv   RFC 4180: a header line, comma-separated values, quoted (with "" for ") when
 *         they hold a comma, quote, CR or LF; NULL is an empty field; CRLF line ends;
 *   json  one object {"format":"vmcisim-inspect","version":1,"view":...,"trace":...,
 *         "columns":[...],"rows":[{...}, ...],"row_count":N}; text is always valid UTF-8
 *         JSON (ill-formed bytes become U+FFFD), integers are JSON numbers.
 * Output is streamed: nothing is held but the current row's position.
 */
#include <assert.h>
#include <inttypes.h>
#include <string.h>

#include "sim/cli/inspect_int.h"
#include "sim/export/export.h"

static const char *const format_names[] = { "text", "tsv", "csv", "json", "hex", "raw" };

int inspect_format_parse(const char *text, enum inspect_format *format)
{
    for (size_t index = 0; index < sizeof format_names / sizeof format_names[0]; index++) {
        if (strcmp(text, format_names[index]) == 0) {
            *format = (enum inspect_format)index;
            return 0;
        }
    }
    return -1;
}

static void tsv_text(const char *text, size_t length)
{
    for (size_t index = 0; index < length; index++) {
        unsigned char c = (unsigned char)text[index];
        if (c == '\t' || c == '\n' || c == '\r' || c == '\\')
            printf("\\%c", c == '\t' ? 't' : c == '\n' ? 'n' : c == '\r' ? 'r' : '\\');
        else
            putchar(c);
    }
}

static void csv_text(const char *text, size_t length)
{
    int quoted = 0;
    for (size_t index = 0; index < length && !quoted; index++)
        quoted = strchr(",\"\r\n", text[index]) != NULL && text[index] != '\0';
    if (!quoted) {
        fwrite(text, 1, length, stdout);
        return;
    }
    putchar('"');
    for (size_t index = 0; index < length; index++) {
        if (text[index] == '"')
            putchar('"');
        putchar(text[index]);
    }
    putchar('"');
}

/* Starts a value: the separator, and in JSON the key. */
static void value_begin(struct inspect_table *table)
{
    assert(table->format != INSPECT_FORMAT_TEXT);
    assert(table->in_row && table->next_column < table->column_count);
    uint32_t column = table->next_column++;
    if (table->format == INSPECT_FORMAT_JSON) {
        fputs(column > 0 ? "," : "", stdout);
        export_json_string(stdout, table->columns[column]);
        putchar(':');
    } else if (column > 0) {
        putchar(table->format == INSPECT_FORMAT_TSV ? '\t' : ',');
    }
}

static void write_header(const struct inspect_table *table)
{
    for (uint32_t column = 0; column < table->column_count; column++) {
        const char *name = table->columns[column];
        if (table->format == INSPECT_FORMAT_JSON) {
            fputs(column > 0 ? "," : "", stdout);
            export_json_string(stdout, name);
        } else {
            if (column > 0)
                putchar(table->format == INSPECT_FORMAT_TSV ? '\t' : ',');
            fputs(name, stdout);
        }
    }
}

void inspect_table_begin(struct inspect_table *table, const struct inspect *inspect,
                         const char *view, const char *const *columns, uint32_t column_count)
{
    assert(inspect->format != INSPECT_FORMAT_TEXT && column_count > 0);
    *table = (struct inspect_table){ .format = inspect->format, .columns = columns,
                                     .column_count = column_count };
    if (table->format == INSPECT_FORMAT_JSON) {
        fputs("{\"format\":\"vmcisim-inspect\",\"version\":" INSPECT_JSON_VERSION
              ",\"view\":", stdout);
        export_json_string(stdout, view);
        fputs(",\"trace\":", stdout);
        export_json_string(stdout, inspect->path);
        fputs(",\"columns\":[", stdout);
        write_header(table);
        fputs("],\"rows\":[", stdout);
        return;
    }
    write_header(table);
    fputs(table->format == INSPECT_FORMAT_CSV ? "\r\n" : "\n", stdout);
}

void inspect_row_begin(struct inspect_table *table)
{
    assert(!table->in_row);
    table->in_row = 1;
    table->next_column = 0;
    if (table->format == INSPECT_FORMAT_JSON)
        fputs(table->rows > 0 ? ",\n{" : "\n{", stdout);
}

void inspect_row_end(struct inspect_table *table)
{
    assert(table->in_row && table->next_column == table->column_count);
    table->in_row = 0;
    table->rows++;
    if (table->format == INSPECT_FORMAT_JSON)
        putchar('}');
    else
        fputs(table->format == INSPECT_FORMAT_CSV ? "\r\n" : "\n", stdout);
}

void inspect_table_end(struct inspect_table *table)
{
    assert(!table->in_row);
    if (table->format == INSPECT_FORMAT_JSON)
        printf("\n],\"row_count\":%" PRIu64 "}\n", table->rows);
}

void inspect_value_text_bytes(struct inspect_table *table, const char *text, size_t length)
{
    value_begin(table);
    if (table->format == INSPECT_FORMAT_JSON)
        export_json_string_bytes(stdout, text, length);
    else if (table->format == INSPECT_FORMAT_TSV)
        tsv_text(text, length);
    else
        csv_text(text, length);
}

void inspect_value_text(struct inspect_table *table, const char *text)
{
    inspect_value_text_bytes(table, text, strlen(text));
}

void inspect_value_u64(struct inspect_table *table, uint64_t value)
{
    value_begin(table);
    printf("%" PRIu64, value);
}

void inspect_value_i64(struct inspect_table *table, int64_t value)
{
    value_begin(table);
    printf("%" PRId64, value);
}

void inspect_value_real(struct inspect_table *table, double value)
{
    value_begin(table);
    if (value != value || value - value != 0)       /* NaN or infinite: not JSON numbers */
        fputs(table->format == INSPECT_FORMAT_JSON ? "null"
              : table->format == INSPECT_FORMAT_TSV ? "\\N" : "", stdout);
    else
        printf("%.17g", value);
}

void inspect_value_null(struct inspect_table *table)
{
    value_begin(table);
    if (table->format == INSPECT_FORMAT_JSON)
        fputs("null", stdout);
    else if (table->format == INSPECT_FORMAT_TSV)
        fputs("\\N", stdout);
}

void inspect_value_json(struct inspect_table *table, const char *json, int valid)
{
    if (table->format != INSPECT_FORMAT_JSON || !valid) {
        inspect_value_text(table, json);
        return;
    }
    value_begin(table);
    export_json_copy(stdout, json);
}

void inspect_value_optional_u64(struct inspect_table *table, int present, uint64_t value)
{
    if (present)
        inspect_value_u64(table, value);
    else
        inspect_value_null(table);
}

void inspect_value_optional_text(struct inspect_table *table, const char *text)
{
    if (text != NULL && text[0] != '\0')
        inspect_value_text(table, text);
    else
        inspect_value_null(table);
}
