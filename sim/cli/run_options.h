/* SPDX-License-Identifier: MIT */
/*
 * sim/cli/run_options.h: the options `vmcisim test` and `vmcisim sweep` share (both run
 * scenarios in child processes): -j/--jobs, --seeds, --until, --timeout, --junit,
 * --paranoid, --payload and --help, parsed in one place so the two commands accept and
 * refuse them alike. Each command keeps the values in its own options structure and tells
 * the parser where (struct run_options_shared) and within which bounds; the usage errors
 * name the command's own bounds, and the command prints them with its own usage text.
 */
#ifndef SIM_CLI_RUN_OPTIONS_H
#define SIM_CLI_RUN_OPTIONS_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "sim/cli/test_int.h"

/* getopt_long entries of the shared options (a command lists them beside its own). */
#define RUN_OPTIONS_LONG                                                                    \
    { "jobs", required_argument, NULL, 'j' }, { "seeds", required_argument, NULL, 's' },   \
    { "until", required_argument, NULL, 'u' }, { "timeout", required_argument, NULL, 't' }, \
    { "junit", required_argument, NULL, 'J' }, { "paranoid", no_argument, NULL, 'I' },     \
    { "payload", required_argument, NULL, 'Y' }, { "help", no_argument, NULL, 'h' }

#define RUN_OPTIONS_SEEDS_ERROR_BYTES 256u   /* why a --seeds list is refused */

/* Where one command keeps each shared option, its bounds and its name and usage text (for
 * the usage errors). Borrowed pointers into the command's options; until_ns may be NULL
 * (the command keeps only the text). */
struct run_options_shared {
    const char *command;                /* "test" or "sweep" */
    void (*usage)(FILE *stream);
    uint32_t *jobs;
    uint32_t jobs_max;
    const char *jobs_error;             /* the -j usage error, a format with one %s */
    struct test_seeds *seeds;
    bool *has_seeds;
    uint64_t seeds_max;
    const char *seeds_max_name;         /* the bound's name in the --seeds usage error */
    const char **until_text;
    uint64_t *until_ns;
    uint64_t *timeout_ns;
    const char **junit_path;
    bool *paranoid;
    const char **payload_text;
};

enum run_options_result {
    RUN_OPTIONS_PARSED = 0,             /* stored where `shared` says */
    RUN_OPTIONS_NOT_SHARED = 1,         /* the command's own option (or --help, 'h') */
    RUN_OPTIONS_USAGE_ERROR = 2,        /* reported; 2 is also the exit status */
};

/* Prints "vmcisim COMMAND: " and format with detail, a blank line and the command's usage
 * text on stderr; returns 2, the exit status of a usage error. */
int run_options_usage_error(const char *command, void (*usage)(FILE *stream),
                            const char *format, const char *detail);

/* Parses the getopt_long result `option` (with its `value`, NULL for a flag) if it is a
 * shared option other than --help; a bad value is reported with the command's usage. */
enum run_options_result run_options_parse(int option, const char *value,
                                          const struct run_options_shared *shared);

#endif /* SIM_CLI_RUN_OPTIONS_H */
