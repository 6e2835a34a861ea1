/* SPDX-License-Identifier: MIT */
/*
 * sim/cli/main.c: the `vmcisim` command.
 *
 * Only this layer chooses exit codes and prints usage. `run` wires the pieces:
 * the digest sink (always: the digest must not depend on --trace), the SQLite
 * trace writer (--trace), a verbose printer (-v), and the Lua runtime.
 * Exit status of `run`: 0 passed, 1 failed, 2 usage, 3 scenario not loadable.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/cli/cli.h"
#include "sim/version.h"

void cli_usage(FILE *stream)
{
    fprintf(stream,
            "usage: vmcisim run SCENARIO.lua [options] [-- scenario args]\n"
            "       vmcisim replay FILE.db [-q | --quiet] [--allow-exec]\n"
            "       vmcisim inspect FILE.db [VIEW] [--vm NAME] [--from T] [--to T] [--layer L]\n"
            "                       [--format text|tsv|csv|json] [--recompute] [--sql-steps N]\n"
            "       vmcisim export FILE.db --format pcap|perfetto|mermaid -o OUT [options]\n"
            "       vmcisim test [PATHS...] [options]   (vmcisim test --help)\n"
            "       vmcisim sweep SCENARIO.lua --seeds A-B [options]   (vmcisim sweep --help)\n"
            "       vmcisim --help | --version\n"
            "\n"
            "run options:\n"
            "  --seed N              seed of the world (default 1); sim.world{seed=} overrides\n"
            "  --trace FILE.db       write the SQLite trace there (default: none), as\n"
            "                        FILE.db.partial until a clean close renames it; only a\n"
            "                        vmcisim trace (or nothing, or an empty file) is replaced\n"
            "  --trace-level LEVEL   off | api | transport | vmci | device (default device);\n"
            "                        the digest always covers every layer\n"
            "  --payload N|all       bytes of each event's payload the trace stores (default\n"
            "                        256; all: every byte; 0: none); the digest covers all\n"
            "  --digest              print `digest <hex>` of the event stream as the last line\n"
            "  --until DURATION      stop at this simulated time (250ms, 1.5ms, 3s, 1500us, 42ns;\n"
            "                        a bare number is ns, with a warning)\n"
            "  -q, --quiet           no sim.log lines and no summary\n"
            "  -v, --verbose         print every trace event on stderr\n"
            "  --paranoid            check the world invariants after every event, not only\n"
            "                        at the end of the run (docs/invariants.md)\n"
            "  --allow-exec          let the scenario run real programs with ep:exec, sandboxed\n"
            "                        (docs/programs.md); also for replay and test\n"
            "  --progress / --no-progress\n"
            "                        progress lines on stderr every 2 s of wall time\n"
            "                        (default: on when stderr is a terminal and not -q)\n"
            "  -h, --help            this text\n"
            "\n"
            "export options:\n"
            "  --format F, -f F      pcap (vsockmon link type) | perfetto (JSON) | mermaid\n"
            "  -o OUT, --output OUT  the file to write (created or replaced)\n"
            "  --from T, --to T      only events at simulated times from T to T (durations)\n"
            "  --max-messages N      mermaid: at most N messages (default 2000) and always at\n"
            "                        most 50000 characters, then a note saying what is left out\n"
            "  --connection N        mermaid: draw connection N (inspect connections) only\n"
            "  --as-tcp              pcap: synthetic TCP/IPv4 (pcapng), one flow per connection,\n"
            "                        for Follow TCP Stream; needs every written byte stored\n"
            "\n"
            "Exit status of run: 0 passed, 1 failed (expect, error, deadlock, limit),\n"
            "2 usage error or --trace names a file that is not a trace, 3 the scenario or\n"
            "a file it requires could not be loaded.\n"
            "\n"
            "replay re-runs a traced run from the trace (its scenario texts, seed, --until,\n"
            "arguments) and checks every traced event and the digest: exit 0 identical,\n"
            "1 the first divergence is printed (or the trace cannot be read), 2 usage.\n"
            "A trace whose run did not finish (no digest) is checked as far as it goes.\n"
            "\n"
            "inspect views: summary (default) | timeline | connections | sockets | vms |\n"
            "  errors | stats | sql \"SELECT ...\" (read-only; tab-separated rows with a header)\n"
            "  | follow N [client|server] (connection N's bytes; --format text|hex|raw too)\n"
            "  --vm NAME      events of that VM or host (following its CID changes)\n"
            "  --from T, --to T  events from/up to that simulated time (T as for --until)\n"
            "  --layer L      layers up to L: api < transport < vmci < device\n"
            "  --format F     text (default, aligned) | tsv | csv | json (fixed columns,\n"
            "                 docs/trace-schema.md)\n"
            "  --recompute    compute from the events, not from the trace's summary tables\n"
            "  --sql-steps N  sql: stop a query after N SQLite steps (default 10^10)\n"
            "Exit status of inspect: 0 printed, 1 missing, unreadable, corrupt or not a trace,\n"
            "or a query failed (or ran past --sql-steps), 2 usage error.\n"
            "Exit status of export: 0 written, 1 unreadable trace or unwritable output,\n"
            "2 usage error.\n");
}

int cli_usage_error(const char *format, const char *detail)
{
    fprintf(stderr, "vmcisim: ");
    fprintf(stderr, format, detail);
    fprintf(stderr, "\n\n");
    cli_usage(stderr);
    return 2;
}

static int dispatch(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error("%s", "missing command");
    const char *command = argv[1];
    if (strcmp(command, "--help") == 0 || strcmp(command, "-h") == 0 ||
        strcmp(command, "help") == 0) {
        if (argc > 2) {     /* as --version: nothing on a command line is ignored silently */
            fprintf(stderr, "vmcisim: %s takes no argument ('%s')\n\n", command, argv[2]);
            cli_usage(stderr);
            return 2;
        }
        cli_usage(stdout);
        return 0;
    }
    if (strcmp(command, "--version") == 0 || strcmp(command, "version") == 0) {
        if (argc > 2) {     /* nothing on a command line is ignored silently */
            fprintf(stderr, "vmcisim: %s takes no argument ('%s')\n\n", command, argv[2]);
            cli_usage(stderr);
            return 2;
        }
        printf("vmcisim %s\n", VMCISIM_VERSION);
        return 0;
    }
    if (strcmp(command, "run") == 0)
        return cli_run(argc - 1, argv + 1);
    if (strcmp(command, "replay") == 0)
        return cli_replay(argc - 1, argv + 1);
    if (strcmp(command, "inspect") == 0)
        return cli_inspect(argc - 1, argv + 1);
    if (strcmp(command, "export") == 0)
        return cli_export(argc - 1, argv + 1);
    if (strcmp(command, "test") == 0)
        return cli_test(argc, argv);
    if (strcmp(command, "sweep") == 0)
        return cli_sweep(argc, argv);
    return cli_usage_error("unknown command '%s'", command);
}

int main(int argc, char **argv)
{
    int status = dispatch(argc, argv);
    /* Output that could not be written (a full disk, a closed stdout) is never lost
     * silently: a command that would have succeeded fails instead. */
    int flushed = fflush(stdout);
    int flush_errno = errno;
    if (flushed != 0 || ferror(stdout)) {
        fprintf(stderr, "vmcisim: cannot write the output%s%s\n", flushed != 0 ? ": " : "",
                flushed != 0 ? strerror(flush_errno) : "");
        if (status == 0)
            status = 1;
    }
    return status;
}
