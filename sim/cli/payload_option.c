/* SPDX-License-Identifier: MIT */
/*
 * sim/cli/payload_option.c: the `--payload N|all` option of run, test and sweep: how many
 * bytes of each event's payload field a trace stores (docs/trace-schema.md, "Payload
 * storage"). One parser so that the commands accept and refuse the same texts; test and
 * sweep write no trace and pass the option on to the `run ... --trace` lines that
 * reproduce their failures.
 */
#include <assert.h>
#include <stdio.h>
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

void cli_payload_reproduce(char *reproduce, size_t reproduce_bytes, const char *payload_text)
{
    assert(reproduce != NULL);
    if (payload_text == NULL)
        return;
    size_t used = strlen(reproduce);
    size_t more = strlen(" --payload ") + strlen(payload_text);
    if (used + more < reproduce_bytes)
        snprintf(reproduce + used, reproduce_bytes - used, " --payload %s", payload_text);
}
