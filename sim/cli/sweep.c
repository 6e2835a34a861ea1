/* SPDX-License-Identifier: MIT */
/*
 * sim/cli/sweep.c: `vmcisim sweep SCENARIO.lua --seeds A-B [options]`, one scenario over
 * many seeds.
 *
 * -j workers are forked once each (sweep_worker.c) and run many seeds in-process; this
 * process hands each idle worker the next seed of its shard over a pipe (one seed at a
 * time, so a slow seed never holds others back and each seed's wall-time limit is exact)
 * and reads one fixed-size result back. A worker that dies (a crash, or killed at its
 * seed's wall-time limit) fails the seed it was running and is replaced by a new one.
 * --shard K/N keeps the seeds at positions K-1, K-1+N, K-1+2N, ... of the list (interleaved,
 * so slow and fast regions of a range spread over the shards); the N shards of a list
 * partition it exactly. Every bound is named in sweep_int.h.
 */
#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sim/cli/cli.h"
#include "sim/cli/option_once.h"
#include "sim/cli/run_options.h"
#include "sim/cli/sweep_int.h"
#include "sim/engine/duration.h"
#include "sim/engine/engine.h"

static void sweep_usage(FILE *stream)
{
    fprintf(stream,
            "usage: vmcisim sweep SCENARIO.lua --seeds LIST [options]\n"
            "Runs one scenario with every seed of LIST in -j worker processes (each runs many\n"
            "seeds, a fresh world per seed, as `vmcisim run SCENARIO --seed N -q`), then prints\n"
            "the failures by seed, each with the one command that reproduces it, and a summary.\n"
            "\n"
            "  --seeds LIST        1-10000, 1,5,9 or 1-5,9 (default: the `-- seeds:` header)\n"
            "  -j N, --jobs N      worker processes (default: the number of CPUs)\n"
            "  --shard K/N         only the K-th of N interleaved slices: the seeds at\n"
            "                      positions K-1, K-1+N, ... of LIST (1 <= K <= N)\n"
            "  --fail-fast         hand out no more seeds after the first failure\n"
            "  --paranoid          check the world invariants after every event (slower);\n"
            "                      failures reproduce with `run --paranoid`\n"
            "  --payload N|all     added to the `run ... --trace` reproduce lines\n"
            "  --junit FILE        JUnit XML, one testcase per seed\n"
            "  --until D           simulated time limit (default: the `-- until:` header)\n"
            "  --timeout D         wall time per seed (default: the `-- timeout:` header,\n"
            "                      else 300s); the worker is killed and the seed fails\n"
            "  -v, --verbose       one line per seed: pass or FAIL, digest, events, wall ms\n"
            "  --progress / --no-progress\n"
            "                      the progress bar on stderr (default: when a terminal)\n"
            "  -h, --help          this text\n"
            "\n"
            "The scenario's `-- expect:` and `-- expect-error:` headers say what passing is.\n"
            "The last line is `seeds: N passed, N failed`. Exit status: 0 every seed passed,\n"
            "1 a seed failed (or --fail-fast left seeds out), 2 usage error.\n");
}

static int usage_error(const char *format, const char *detail)
{
    return run_options_usage_error("sweep", sweep_usage, format, detail);
}

static int parse_shard(const char *value, struct sweep_options *options)
{
    char *slash = NULL, *end = NULL;
    unsigned long long index = strtoull(value, &slash, 10);
    if (slash == value || *slash != '/' || value[0] == '-' || slash[1] == '-')
        return -1;
    unsigned long long count = strtoull(slash + 1, &end, 10);
    if (end == slash + 1 || *end != '\0' || count < 1 || count > SWEEP_SHARDS_MAX ||
        index < 1 || index > count)
        return -1;
    options->shard_index = (uint32_t)(index - 1);
    options->shard_count = (uint32_t)count;
    return 0;
}

static int parse_option(int option, const char *value, struct sweep_options *options)
{
    const struct run_options_shared shared = {
        .command = "sweep", .usage = sweep_usage,
        .jobs = &options->jobs, .jobs_max = SWEEP_JOBS_MAX,
        .jobs_error = "-j: '%s' is not a number from 1 to SWEEP_JOBS_MAX (256)",
        .seeds = &options->seeds, .has_seeds = &options->has_seeds,
        .seeds_max = SWEEP_SEEDS_MAX, .seeds_max_name = "SWEEP_SEEDS_MAX",
        .until_text = &options->until_text, .until_ns = &options->until_ns,
        .timeout_ns = &options->timeout_ns, .junit_path = &options->junit_path,
        .paranoid = &options->paranoid, .payload_text = &options->payload_text,
    };
    enum run_options_result result = run_options_parse(option, value, &shared);
    if (result != RUN_OPTIONS_NOT_SHARED)
        return (int)result;                 /* 0, or 2 with the usage error reported */
    if (option != 'k')
        return usage_error("%s", "unknown or incomplete option");
    if (parse_shard(value, options) < 0)
        return usage_error("--shard: '%s' is not K/N with 1 <= K <= N <= 1000000", value);
    return 0;
}

/* Returns -1 for --help, 0 with options filled, or 2 (usage error, reported). */
static int parse_arguments(int argc, char **argv, struct sweep_options *options)
{
    static const struct option long_options[] = {
        RUN_OPTIONS_LONG,
        { "shard", required_argument, NULL, 'k' }, { "fail-fast", no_argument, NULL, 'f' },
        { "verbose", no_argument, NULL, 'v' }, { "progress", no_argument, NULL, 'p' },
        { "no-progress", no_argument, NULL, 'P' }, { NULL, 0, NULL, 0 },
    };
    opterr = 0;
    optind = 1;
    int option;
    struct option_once seen = { .values = { NULL } };
    char repeated[OPTION_ONCE_MESSAGE_BYTES];
    while ((option = getopt_long(argc, argv, "j:vh", long_options, NULL)) != -1) {
        if (option == 'h')
            return cli_help_alone(argc, argv, argv[optind - 1], sweep_usage);
        if (option == 'f' || option == 'v' || option == 'p' || option == 'P') {
            options->fail_fast |= option == 'f';
            options->verbose |= option == 'v';
            if (option == 'p' || option == 'P')
                options->progress = option == 'p';
            continue;
        }
        if (option == '?') {
            char letter[3];
            return usage_error("unknown option or missing value: '%s'",
                               cli_refused_option(argv, letter));
        }
        if (option_once_note(&seen, long_options, "j:vh", option, optarg, repeated) < 0)
            return usage_error("%s", repeated);
        if (parse_option(option, optarg, options) != 0)
            return 2;
    }
    if (optind >= argc)
        return usage_error("%s", "missing SCENARIO.lua");
    if (optind + 1 < argc)
        return usage_error("one scenario only; unexpected '%s'", argv[optind + 1]);
    options->scenario_path = argv[optind];
    return 0;
}

/* Reads the scenario's header; the header fills what the options left unset. */
static int apply_header(struct sweep_options *options)
{
    struct test_scenario *scenario = &options->scenario;
    struct stat status;
    if (access(options->scenario_path, R_OK) != 0)
        return usage_error("cannot read the scenario '%s'", options->scenario_path);
    /* Every seed reads it again: a folder, FIFO or device (which could block or never end)
     * is refused, as `vmcisim test` refuses what is neither a file nor a folder. */
    if (stat(options->scenario_path, &status) != 0 || !S_ISREG(status.st_mode))
        return usage_error("the scenario '%s' is not a regular file", options->scenario_path);
    if (test_scenario_read(scenario, options->scenario_path) < 0)
        return usage_error("the scenario path is longer than TEST_PATH_BYTES_MAX: '%s'",
                           options->scenario_path);
    if (scenario->header_error[0] != '\0') {
        fprintf(stderr, "vmcisim sweep: %s: %s\n", options->scenario_path,
                scenario->header_error);
        return 2;
    }
    if (!options->has_seeds && !scenario->has_seeds)
        return usage_error("%s", "--seeds is needed (the scenario has no `-- seeds:` header)");
    if (!options->has_seeds)
        options->seeds = scenario->seeds;
    if (options->until_text == NULL && scenario->until_text[0] != '\0') {
        options->until_text = scenario->until_text;
        if (sim_duration_parse(options->until_text, &options->until_ns) < 0)
            return usage_error("bad `-- until:` header '%s'", options->until_text);
    }
    if (options->timeout_ns == 0)
        options->timeout_ns = scenario->timeout_ns != 0 ? scenario->timeout_ns
                                                        : TEST_TIMEOUT_DEFAULT_NS;
    return 0;
}

/* One worker process and the seed it is running. */
struct worker {
    pid_t pid;                              /* 0: not running */
    int seed_fd, result_fd;                 /* parent's ends */
    bool busy, killed;
    uint64_t seed;
    double started_seconds;
    size_t buffered;                        /* bytes of the result read so far */
    struct sweep_result result;
};

struct sweep_state {
    struct sweep_options *options;
    struct sweep_report *report;
    struct worker *workers;
    uint64_t total, next;                   /* seeds of the shard; the next to hand out */
    bool stopping;                          /* --fail-fast saw a failure */
};

static uint64_t shard_seed(const struct sweep_state *state, uint64_t shard_position)
{
    const struct sweep_options *options = state->options;
    return test_seeds_at(&options->seeds,
                         options->shard_index + shard_position * options->shard_count);
}

/* Forks a worker; the child closes every other worker's pipe ends, so a worker's death is
 * seen as the end of its result pipe, and the end of its seed pipe stops it. */
static int spawn(struct sweep_state *state, struct worker *worker)
{
    int seed_pipe[2], result_pipe[2];
    if (pipe(seed_pipe) != 0)
        return -1;
    if (pipe(result_pipe) != 0) {
        close(seed_pipe[0]), close(seed_pipe[1]);
        return -1;
    }
    fflush(NULL);                           /* nothing buffered is written twice */
    pid_t pid = fork();
    if (pid == 0) {
        for (uint32_t index = 0; index < state->options->jobs; index++) {
            struct worker *other = &state->workers[index];
            if (other != worker && other->pid > 0)
                close(other->seed_fd), close(other->result_fd);
        }
        close(seed_pipe[1]), close(result_pipe[0]);
        sweep_worker_main(state->options, seed_pipe[0], result_pipe[1]);
    }
    close(seed_pipe[0]), close(result_pipe[1]);
    if (pid < 0) {
        close(seed_pipe[1]), close(result_pipe[0]);
        return -1;
    }
    *worker = (struct worker){ .pid = pid, .seed_fd = seed_pipe[1],
                               .result_fd = result_pipe[0] };
    return 0;
}

/* Hands the next seed to every idle worker (starting workers as needed). */
static int hand_out(struct sweep_state *state)
{
    for (uint32_t index = 0; index < state->options->jobs; index++) {
        struct worker *worker = &state->workers[index];
        if (worker->busy || state->stopping || state->next >= state->total)
            continue;
        if (worker->pid == 0 && spawn(state, worker) < 0) {
            fprintf(stderr, "vmcisim sweep: cannot start a worker: %s\n", strerror(errno));
            return -1;
        }
        worker->seed = shard_seed(state, state->next++);
        worker->busy = true;
        worker->killed = false;
        worker->buffered = 0;
        worker->started_seconds = test_wall_seconds();
        /* A worker that died idle shows as the end of its result pipe: the seed is lost
         * and reported there, so a failed write needs nothing more here. */
        ssize_t ignored = write(worker->seed_fd, &worker->seed, sizeof(worker->seed));
        (void)ignored;
    }
    return 0;
}

/* The worker's result pipe ended: reap it and fail the seed it was running. */
static void worker_ended(struct sweep_state *state, struct worker *worker)
{
    int status = 0;
    while (waitpid(worker->pid, &status, 0) < 0 && errno == EINTR)
        continue;
    close(worker->seed_fd), close(worker->result_fd);
    worker->pid = 0;
    if (!worker->busy)
        return;
    worker->busy = false;
    char why[256];
    double seconds = test_wall_seconds() - worker->started_seconds;
    if (worker->killed)
        snprintf(why, sizeof(why), "timed out after %.3g s of wall time (worker killed)",
                 (double)state->options->timeout_ns * 1e-9);
    else if (WIFSIGNALED(status))
        snprintf(why, sizeof(why), "the worker was killed by signal %d (%s) during this seed",
                 WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(why, sizeof(why), "the worker exited with status %d during this seed",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    sweep_report_lost(state->report, worker->seed, seconds, why);
    state->stopping |= state->options->fail_fast;
}

static void read_result(struct sweep_state *state, struct worker *worker)
{
    char *buffer = (char *)&worker->result;
    ssize_t got = read(worker->result_fd, buffer + worker->buffered,
                       sizeof(worker->result) - worker->buffered);
    if (got < 0 && errno == EINTR)
        return;
    if (got <= 0) {
        worker_ended(state, worker);
        return;
    }
    worker->buffered += (size_t)got;
    if (worker->buffered < sizeof(worker->result))
        return;
    worker->buffered = 0;
    worker->busy = false;
    if (worker->result.seed != worker->seed) {
        sweep_report_lost(state->report, worker->seed, 0, "the worker answered for another "
                          "seed");
        kill(worker->pid, SIGKILL);
        worker_ended(state, worker);        /* not busy: reaped and replaced, not reported */
        state->stopping |= state->options->fail_fast;
        return;
    }
    if (!sweep_report_result(state->report, &worker->result))
        state->stopping |= state->options->fail_fast;
}

/* Waits for results (at most 100 ms, or the nearest wall-time limit), reads them, and kills
 * a worker past its seed's limit. Returns the number of busy workers before the wait. */
static uint32_t collect(struct sweep_state *state)
{
    struct pollfd fds[SWEEP_JOBS_MAX];
    uint32_t owners[SWEEP_JOBS_MAX], count = 0;
    double now = test_wall_seconds(), wait_seconds = 0.1;
    double timeout_seconds = (double)state->options->timeout_ns * 1e-9;
    for (uint32_t index = 0; index < state->options->jobs; index++) {
        struct worker *worker = &state->workers[index];
        if (!worker->busy)
            continue;
        double left = worker->started_seconds + timeout_seconds - now;
        if (left <= 0 && !worker->killed) {
            kill(worker->pid, SIGKILL);
            worker->killed = true;
        }
        if (left > 0 && left < wait_seconds)
            wait_seconds = left;
        owners[count] = index;
        fds[count++] = (struct pollfd){ .fd = worker->result_fd, .events = POLLIN };
    }
    if (count == 0)
        return 0;
    int ready = poll(fds, count, (int)(wait_seconds * 1000) + 1);
    for (uint32_t slot = 0; ready > 0 && slot < count; slot++)
        if ((fds[slot].revents & (POLLIN | POLLHUP | POLLERR)) != 0)
            read_result(state, &state->workers[owners[slot]]);
    return count;
}

static void stop_workers(struct sweep_state *state)
{
    for (uint32_t index = 0; index < state->options->jobs; index++) {
        struct worker *worker = &state->workers[index];
        if (worker->pid == 0)
            continue;
        close(worker->seed_fd);             /* the worker sees EOF and exits */
        int status;
        while (waitpid(worker->pid, &status, 0) < 0 && errno == EINTR)
            continue;
        close(worker->result_fd);
        worker->pid = 0;
    }
}

static int run_sweep(struct sweep_options *options)
{
    const struct test_seeds *seeds = &options->seeds;
    struct sweep_state state = { .options = options };
    state.total = seeds->count > options->shard_index
                      ? (seeds->count - options->shard_index + options->shard_count - 1) /
                            options->shard_count
                      : 0;
    state.workers = calloc(options->jobs, sizeof(*state.workers));
    state.report = state.workers != NULL ? sweep_report_open(options, state.total) : NULL;
    if (state.report == NULL) {
        free(state.workers);
        fprintf(stderr, "vmcisim sweep: out of memory\n");
        return 1;
    }
    void (*previous_pipe)(int) = signal(SIGPIPE, SIG_IGN);  /* a dead worker is seen by EOF */
    int rc = 0;
    for (;;) {
        if (hand_out(&state) < 0) {
            rc = 1;
            break;
        }
        if (collect(&state) == 0)
            break;
        sweep_report_progress(state.report, false);
    }
    stop_workers(&state);
    signal(SIGPIPE, previous_pipe);
    int status = sweep_report_close(state.report, state.total - state.next);
    free(state.workers);
    return rc != 0 ? 1 : status;
}

int cli_sweep(int argc, char **argv)
{
    assert(argc >= 2);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    struct sweep_options options = {
        .program = argv[0],
        .jobs = cpus < 1 ? 1 : cpus > (long)SWEEP_JOBS_MAX ? SWEEP_JOBS_MAX : (uint32_t)cpus,
        .shard_count = 1, .progress = -1, .until_ns = SIM_TIME_NEVER,
    };
    int rc = parse_arguments(argc - 1, argv + 1, &options);
    if (rc == -1) {
        sweep_usage(stdout);
        return 0;
    }
    if (rc == 0)
        rc = apply_header(&options);
    if (rc != 0)
        return rc;
    return run_sweep(&options);
}
