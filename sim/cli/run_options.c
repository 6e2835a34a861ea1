/* SPDX-License-Identifier: MIT */
/*
 * sim/cli/run_options.c: the options `vmcisim test` and `vmcisim sweep` share
 * (run_options.h). The usage errors are the commands' texts, word for word.
 */
#include "sim/cli/run_options.h"

#include <assert.h>
#include <stddef.h>

#include "sim/cli/cli.h"
#include "sim/engine/duration.h"
#include "sim/engine/error.h"

int run_options_usage_error(const char *command, void (*usage)(FILE *stream),
                            const char *format, const char *detail)
{
    assert(command != NULL && usage != NULL && format != NULL);
    fprintf(stderr, "vmcisim %s: ", command);
    fprintf(stderr, format, detail);
    fprintf(stderr, "\n\n");
    usage(stderr);
    return 2;
}

static enum run_options_result usage_error(const struct run_options_shared *shared,
                                           const char *format, const char *detail)
{
    (void)run_options_usage_error(shared->command, shared->usage, format, detail);
    return RUN_OPTIONS_USAGE_ERROR;
}

/* The options with a value that need more than storing it. */
static enum run_options_result parse_checked(int option, const char *value,
                                             const struct run_options_shared *shared)
{
    char seeds_error[RUN_OPTIONS_SEEDS_ERROR_BYTES];
    switch (option) {
    case 'j':
        if (test_jobs_parse(value, shared->jobs_max, shared->jobs) < 0)
            return usage_error(shared, shared->jobs_error, value);
        return RUN_OPTIONS_PARSED;
    case 's':
        if (test_seeds_parse_bounded(value, shared->seeds, shared->seeds_max,
                                     shared->seeds_max_name, seeds_error,
                                     sizeof(seeds_error)) < 0)
            return usage_error(shared, "--seeds: %s", seeds_error);
        *shared->has_seeds = true;
        return RUN_OPTIONS_PARSED;
    case 'Y': {
        unsigned payload_bytes;
        if (cli_payload_parse(value, &payload_bytes) < 0)
            return usage_error(shared, "--payload: '%s' is not `all` or a number of bytes "
                                       "from 0 to 1048576", value);
        *shared->payload_text = value;
        return RUN_OPTIONS_PARSED;
    }
    case 'u': {
        uint64_t until_ns;
        int code = sim_duration_parse(value, &until_ns);
        if (code < 0)
            return usage_error(shared, code == SIM_ELIMIT
                                           ? "--until: '%s' " SIM_DURATION_TOO_LONG_TEXT
                                           : "--until: '%s' is not a duration (e.g. 5s)",
                               value);
        *shared->until_text = value;
        if (shared->until_ns != NULL)
            *shared->until_ns = until_ns;
        return RUN_OPTIONS_PARSED;
    }
    case 't': {
        int code = sim_duration_parse(value, shared->timeout_ns);
        if (code == SIM_ELIMIT)
            return usage_error(shared, "--timeout: '%s' " SIM_DURATION_TOO_LONG_TEXT, value);
        if (code < 0)
            return usage_error(shared, "--timeout: '%s' is not a duration (e.g. 30s)", value);
        if (*shared->timeout_ns == 0)
            return usage_error(shared, "--timeout: '%s' " TEST_TIMEOUT_ZERO_TEXT, value);
        return RUN_OPTIONS_PARSED;
    }
    default:
        return RUN_OPTIONS_NOT_SHARED;
    }
}

enum run_options_result run_options_parse(int option, const char *value,
                                          const struct run_options_shared *shared)
{
    assert(shared != NULL && shared->command != NULL && shared->usage != NULL);
    assert(shared->jobs != NULL && shared->seeds != NULL && shared->has_seeds != NULL &&
           shared->until_text != NULL && shared->timeout_ns != NULL &&
           shared->junit_path != NULL && shared->paranoid != NULL &&
           shared->payload_text != NULL && shared->jobs_error != NULL &&
           shared->seeds_max_name != NULL);
    switch (option) {
    case 'I':
        *shared->paranoid = true;
        return RUN_OPTIONS_PARSED;
    case 'J':
        /* Refused before anything runs, as run's --trace '': an empty path could only
         * fail when the report is written, after every run. */
        if (value[0] == '\0')
            return usage_error(shared, "%s", "--junit: an empty path (give FILE.xml)");
        *shared->junit_path = value;
        return RUN_OPTIONS_PARSED;
    default:
        return parse_checked(option, value, shared);
    }
}
