/* SPDX-License-Identifier: MIT */
/*
 * sim/engine/duration.c: durations as text (see duration.h).
 */
#include <assert.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "duration.h"
#include "error.h"

/* More fraction digits than 9 after the unit's scale cannot change the rounding
 * beyond what we keep; 30 bounds the loop on hostile input. */
#define DURATION_DIGITS_MAX 30u

static int unit_scale(const char *unit, uint64_t *scale_out, unsigned *exponent_out)
{
    static const struct { const char *name; uint64_t scale; unsigned exponent; } units[] = {
        { "", 1, 0 }, { "ns", 1, 0 }, { "us", 1000, 3 }, { "ms", 1000000, 6 },
        { "s", 1000000000, 9 },
    };
    for (size_t index = 0; index < sizeof(units) / sizeof(units[0]); index++) {
        if (strcmp(unit, units[index].name) == 0) {
            *scale_out = units[index].scale;
            *exponent_out = units[index].exponent;
            return SIM_OK;
        }
    }
    return SIM_EINVAL;
}

int sim_duration_parse(const char *text, uint64_t *out_ns)
{
    assert(text != NULL);
    assert(out_ns != NULL);
    const char *cursor = text;
    uint64_t whole = 0;
    unsigned whole_digits = 0;
    bool too_long = false;      /* digits past what a duration can hold: checked below */
    while (*cursor >= '0' && *cursor <= '9') {
        uint64_t digit = (uint64_t)(*cursor - '0');
        if (too_long || whole > (UINT64_MAX - digit) / 10)
            too_long = true;    /* the rest is still read, to tell a duration from garbage */
        else
            whole = whole * 10 + digit;
        if (whole_digits < UINT_MAX)
            whole_digits++;
        cursor++;
    }
    char fraction[DURATION_DIGITS_MAX + 1] = "";
    unsigned fraction_digits = 0;
    if (*cursor == '.') {
        cursor++;
        while (*cursor >= '0' && *cursor <= '9') {
            if (fraction_digits >= DURATION_DIGITS_MAX)
                return SIM_EINVAL;
            fraction[fraction_digits++] = *cursor++;
        }
        if (fraction_digits == 0)
            return SIM_EINVAL;
    }
    if (whole_digits == 0 && fraction_digits == 0)
        return SIM_EINVAL;
    uint64_t scale;
    unsigned exponent;
    if (unit_scale(cursor, &scale, &exponent) < 0)
        return SIM_EINVAL;
    if (too_long || whole > SIM_DURATION_NS_MAX / scale)
        return SIM_ELIMIT;
    uint64_t total = whole * scale;
    /* The fraction contributes its first `exponent` digits; the next digit rounds. */
    uint64_t part = 0;
    for (unsigned index = 0; index < exponent; index++)
        part = part * 10 + (uint64_t)(index < fraction_digits ? fraction[index] - '0' : 0);
    if (exponent < fraction_digits && fraction[exponent] >= '5')
        part++;
    if (total > SIM_DURATION_NS_MAX - part)
        return SIM_ELIMIT;
    *out_ns = total + part;
    return SIM_OK;
}

const char *sim_duration_problem(int code)
{
    assert(code < 0);
    return code == SIM_ELIMIT ? SIM_DURATION_TOO_LONG_TEXT : "is not a duration";
}

void sim_time_format(uint64_t time_ns, char *buffer, size_t buffer_bytes)
{
    assert(buffer != NULL);
    snprintf(buffer, buffer_bytes, "%llu.%09llu", (unsigned long long)(time_ns / 1000000000u),
             (unsigned long long)(time_ns % 1000000000u));
}
