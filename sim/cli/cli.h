/* SPDX-License-Identifier: MIT */
/* sim/cli/cli.h: the subcommands of `vmcisim` (one file each). */
#ifndef SIM_CLI_CLI_H
#define SIM_CLI_CLI_H

#include <stdio.h>

/* Prints the usage text. */
void cli_usage(FILE *stream);
/* Prints "vmcisim: <message>" and the usage on stderr; returns exit status 2. */
int cli_usage_error(const char *format, const char *detail);
/* A command's -h/--help (`token`, the argument that asked for it) takes no other argument,
 * as --version takes none: with argc == 2 (argv[0] the command) returns -1, for the caller
 * to print the usage and exit 0; otherwise reports "vmcisim: COMMAND TOKEN takes no other
 * argument ('EXTRA')", EXTRA the first other argument, then `usage` (the command's usage
 * printer) on stderr, and returns exit status 2. */
int cli_help_alone(int argc, char **argv, const char *token, void (*usage)(FILE *stream));
/* After getopt_long returned '?': the option it refused as the user wrote it, a long
 * option's argument ("--frob", "--format" without its value) or a short option's letter
 * ("-x", also from a bundle "-qx"); `shown` holds the latter. */
const char *cli_refused_option(char *const argv[], char shown[3]);
/* A refused duration as a usage error (code: sim_duration_parse's): "vmcisim: WHAT: 'VALUE'
 * is not a duration (e.g. EXAMPLE)", or for a duration's text that is too long, that it is
 * longer than the longest; then the usage. Returns exit status 2. */
int cli_duration_error(const char *what, const char *value, int code, const char *example);
/* `vmcisim run ...`; argv[0] is "run". Returns the exit status. */
int cli_run(int argc, char **argv);
/* `vmcisim replay FILE.db` (replay.c), `vmcisim inspect FILE.db [VIEW] ...` (inspect.c),
 * `vmcisim export FILE.db --format F -o OUT` (export.c); argv[0] is the command name.
 * Each returns the exit status: 0 success, 1 failure (a divergence, an unreadable or
 * corrupt trace), 2 usage error. */
int cli_replay(int argc, char **argv);
int cli_inspect(int argc, char **argv);
int cli_export(int argc, char **argv);
/* `vmcisim test [PATHS...]` (test.c). Unlike the others it takes main's whole argv
 * (argv[0] the program, argv[1] "test"): the program name goes into reproduction lines.
 * Returns 0 all passed, 1 a failure, 2 usage error. */
int cli_test(int argc, char **argv);
/* `vmcisim sweep SCENARIO.lua --seeds LIST [...]` (sweep.c): main's whole argv, as cli_test.
 * Returns 0 every seed passed, 1 a failure, 2 usage error. */
int cli_sweep(int argc, char **argv);
/* `--payload N|all` (payload_option.c): the bytes of each event's payload a trace stores.
 * Returns 0 with the count in *bytes_out (`all`: every byte), or -1 when `text` is neither
 * `all` nor a decimal count up to SIM_TRACE_BYTES_MAX. */
int cli_payload_parse(const char *text, unsigned *bytes_out);
/* Appends " --payload TEXT" to a reproduce line (`test`, `sweep`) when TEXT is not NULL and
 * it fits in reproduce_bytes; the line is left as it was otherwise. */
void cli_payload_reproduce(char *reproduce, size_t reproduce_bytes, const char *payload_text);

#endif /* SIM_CLI_CLI_H */
