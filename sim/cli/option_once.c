/* SPDX-License-Identifier: MIT */
/*
 * sim/cli/option_once.c: an option that takes a value, given twice with different texts, is
 * a usage error (option_once.h; docs/cli.md, "Options given twice").
 */
#include "sim/cli/option_once.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* The long name of the option whose getopt code is `code`, or NULL. */
static const char *long_name(const struct option *table, int code)
{
    for (size_t index = 0; table[index].name != NULL; index++) {
        if (table[index].flag == NULL && table[index].val == code)
            return table[index].name;
    }
    return NULL;
}

/* "--name (-c)", "--name" or "-c": how the option is named in the message. */
static void option_label(const struct option *table, const char *short_options, int code,
                         char *label, size_t label_bytes)
{
    const char *name = long_name(table, code);
    bool has_short = short_options != NULL && code > ' ' && code < 127 && code != ':' &&
                     code != '+' && strchr(short_options, code) != NULL;
    if (name != NULL && has_short)
        snprintf(label, label_bytes, "--%s (-%c)", name, code);
    else if (name != NULL)
        snprintf(label, label_bytes, "--%s", name);
    else
        snprintf(label, label_bytes, "-%c", code);
}

int option_once_note(struct option_once *seen, const struct option *table,
                     const char *short_options, int code, const char *value,
                     char message[OPTION_ONCE_MESSAGE_BYTES])
{
    assert(seen != NULL && table != NULL && message != NULL);
    if (value == NULL || code < 0 || code >= (int)OPTION_ONCE_CODES)
        return 0;
    const char *name = long_name(table, code);
    for (size_t index = 0; name != NULL && table[index].name != NULL; index++) {
        if (table[index].val == code && table[index].has_arg == no_argument)
            return 0;                   /* a flag: getopt leaves no value to compare */
    }
    const char *previous = seen->values[code];
    if (previous == NULL) {
        seen->values[code] = value;
        return 0;
    }
    if (strcmp(previous, value) == 0)
        return 0;
    char label[96];
    option_label(table, short_options, code, label, sizeof(label));
    snprintf(message, OPTION_ONCE_MESSAGE_BYTES,
             "%s given twice with different values ('%.160s', then '%.160s'); give it once",
             label, previous, value);
    return -1;
}
