/* SPDX-License-Identifier: MIT */
/*
 * sim/cli/option_once.h: one value per option on a command line (docs/cli.md, "Options given
 * twice"). Every command notes each option that takes a value as getopt_long returns it; the
 * same option given again with another text is a usage error naming both texts, since
 * silently keeping one of them (getopt's "the last wins") hides a mistake in a script. The
 * same text twice is accepted. Flags (no value) may repeat. Invariant: `values[code]` is the
 * first text given for the option whose getopt code is `code`, or NULL.
 */
#ifndef SIM_CLI_OPTION_ONCE_H
#define SIM_CLI_OPTION_ONCE_H

#include <getopt.h>
#include <stddef.h>

#define OPTION_ONCE_CODES 256u          /* getopt codes are characters */
#define OPTION_ONCE_MESSAGE_BYTES 512u  /* the usage error, the texts cut to fit */

struct option_once {
    const char *values[OPTION_ONCE_CODES];
};

/* Notes `value` for the option `code` (a getopt_long result; `value` NULL for a flag, which
 * is never refused). Returns 0, or -1 with `message` saying "--NAME (-C) given twice with
 * different values ('A', then 'B')", NAME found in `table` (and C when `short_options` has
 * it). */
int option_once_note(struct option_once *seen, const struct option *table,
                     const char *short_options, int code, const char *value,
                     char message[OPTION_ONCE_MESSAGE_BYTES]);

#endif /* SIM_CLI_OPTION_ONCE_H */
