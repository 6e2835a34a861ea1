/* SPDX-License-Identifier: MIT */
/*
 * sim/cli/help_option.c: a command's -h/--help is alone on its command line (cli.h).
 *
 * Invariant: as --version, a --help is never given with anything else that is then ignored
 * silently: alone it asks for the usage, with any other argument it is a usage error.
 */
#include <assert.h>
#include <stdio.h>

#include "sim/cli/cli.h"

int cli_help_alone(int argc, char **argv, const char *token, void (*usage)(FILE *stream))
{
    assert(argc >= 2 && argv != NULL && token != NULL && usage != NULL);
    if (argc == 2)
        return -1;
    /* The first argument that is not the help option itself (getopt may have moved it). */
    const char *extra = argv[1] != token ? argv[1] : argv[2];
    fprintf(stderr, "vmcisim: %s %s takes no other argument ('%s')\n\n", argv[0], token, extra);
    usage(stderr);
    return 2;
}
