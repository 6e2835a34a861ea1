/* SPDX-License-Identifier: MIT */
/*
 * sim/cli/payload_option.c: the `--payload N|all` option of run, test and sweep: how many
 * bytes of each event's payload field a trace stores (docs/trace-schema.md, "Payload
 * storage"). One parser so that the commands accept and refuse the same texts.
 */
#include <assert.h>
#include <string.h>

#include "sim/cli/cli.h"
#include "sim/trace/writer.h"

int cli_payload_parse(const char *text, unsigned *bytes_out)
{
    assert(text != NULL && bytes_out != NULL);
    if (strcmp(text, "all") == 0) {
        *bytes_out = SIM_TRACE_PAYLOAD_ALL_BYTES;
        return 0;
    }
    /* Digits only (no sign, no space, no 0x): at most 7 of them before the bound. */
    size_t length = strlen(text);
    if (length == 0 || length > 7 || strspn(text, "0123456789") != length)
        return -1;
    unsigned value = 0;
    for (size_t index = 0; index < length; index++)
        value = value * 10u + (unsigned)(text[index] - '0');
    if (value > SIM_TRACE_PAYLOAD_ALL_BYTES)
        return -1;
    *bytes_out = value;
    return 0;
}
