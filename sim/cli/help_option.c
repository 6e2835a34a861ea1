/* SPDX-License-Identifier: MIT */
/*
 * sim/cli/help_option.c: a command's -h/--help is alone on its command line, and the option
 * getopt refused is named as the user wrote it (cli.h).
 *
 * Invariant: as --version, a --help is never given with anything else that is then ignored
 * silently: alone it asks for the usage, with any other argument it is a usage error.
 */
#include <assert.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "sim/cli/cli.h"

int cli_help_alone(int argc, char **argv, const char *token, void (*usage)(FILE *stream))
{
    assert(argc >= 2 && argv != NULL && token != NULL && usage != NULL);
    /* getopt reads "-qh" as -q then -h: the help is then bundled with another option, and
     * `token` (argv[optind - 1]) may even be the command name while inside the bundle. */
    bool bundled = token[0] != '-' || (token[1] != '-' && strcmp(token, "-h") != 0);
    if (argc == 2 && !bundled)
        return -1;
    /* The first argument that is not the help option itself (getopt may have moved it). */
    const char *extra = argv[1] != token || bundled ? argv[1] : argv[2];
    fprintf(stderr, "vmcisim: %s %s takes no other argument ('%s')\n\n", argv[0],
            bundled ? "-h" : token, extra);
    usage(stderr);
    return 2;
}

const char *cli_refused_option(char *const argv[], char shown[3])
{
    assert(argv != NULL && shown != NULL && optind >= 1);
    /* A long option (unknown, or its value missing) is the argument getopt just passed.
     * A short one may sit inside a bundle ("-qx") whose argument getopt has not passed
     * yet, so argv[optind - 1] can be the command name: name the letter instead. */
    const char *passed = argv[optind - 1];
    if ((passed[0] == '-' && passed[1] == '-') || optopt <= 0 || optopt > 126)
        return passed;
    shown[0] = '-';
    shown[1] = (char)optopt;
    shown[2] = '\0';
    return shown;
}
