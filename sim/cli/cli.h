/* SPDX-License-Identifier: MIT */
/* sim/cli/cli.h: the subcommands of `vmcisim` (one file each). */
#ifndef SIM_CLI_CLI_H
#define SIM_CLI_CLI_H

#include <stdio.h>

/* Prints the usage text. */
void cli_usage(FILE *stream);
/* Prints "vmcisim: <message>" and the usage on stderr; returns exit status 2. */
int cli_usage_error(const char *format, const char *detail);
/* `vmcisim run ...`; argv[0] is "run". Returns the exit status. */
int cli_run(int argc, char **argv);

#endif /* SIM_CLI_CLI_H */
