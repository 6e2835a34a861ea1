/* SPDX-License-Identifier: MIT */
/*
 * sim/cli/export.c: `vmcisim export` (scenario-api.md, "Command line"). Not built yet: it
 * says so and exits 2, as before the command had its own file.
 */
#include <stdio.h>

#include "sim/cli/cli.h"
#include "sim/version.h"

int cli_export(int argc, char **argv)
{
    (void)argc;
    fprintf(stderr, "vmcisim: '%s' is not available in version %s yet (see docs/cli.md)\n",
            argv[0], VMCISIM_VERSION);
    return 2;
}
