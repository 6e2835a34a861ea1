/* SPDX-License-Identifier: MIT */
/*
 * sim/cli/duration_option.c: a refused duration option (--until, --from, --to) as a usage
 * error that says which way it is wrong: not a duration at all, or a duration's text
 * longer than the longest (sim_duration_parse's SIM_ELIMIT). The value is printed whole.
 */
#include <assert.h>
#include <stdio.h>

#include "sim/cli/cli.h"
#include "sim/engine/duration.h"
#include "sim/engine/error.h"

int cli_duration_error(const char *what, const char *value, int code, const char *example)
{
    assert(code < 0);
    fprintf(stderr, "vmcisim: %s: '%s' %s", what, value, sim_duration_problem(code));
    if (code != SIM_ELIMIT)
        fprintf(stderr, " (e.g. %s)", example);
    fprintf(stderr, "\n\n");
    cli_usage(stderr);
    return 2;
}
