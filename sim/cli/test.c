/* SPDX-License-Identifier: MIT */
/*
 * sim/cli/test.c: `vmcisim test [PATHS...] [options]`, the regression-suite runner.
 *
 * Runs every scenario of the plan (test_plan.c) with each of its seeds as child processes
 * (test_run.c): run A, and unless --once run B under other process conditions, which must
 * print the same output. At most -j children run at once; cases are started in plan order,
 * at most TEST_WINDOW_CASES ahead of the first case not yet reported, and reported in plan
 * order (test_report.c), so memory stays bounded and the report is the same on every run.
 * A SIGCHLD handler writes to a pipe that the poll loop watches, so a child's end is seen
 * at once and its wall-time deadline is kept without busy waiting.
 *
 * Test-only hook: VMCISIM_TEST_EXEC=PROGRAM makes the runner execute PROGRAM instead of
 * this binary for each run (same arguments). It exists so that tests/test_runner_test.sh
 * can show a run whose output differs between the two conditions, which no scenario can
 * produce in the deterministic sandbox. It is documented in docs/cli.md as test-only.
 */
#define _GNU_SOURCE              /* pipe2 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sim/cli/cli.h"
#include "sim/cli/option_once.h"
#include "sim/cli/run_options.h"
#include "sim/cli/test_int.h"

static void test_usage(FILE *stream)
{
    fprintf(stream,
            "usage: vmcisim test [PATHS...] [options]\n"
            "Runs every *.lua under PATHS (files or folders, recursively, sorted; default\n"
            "scenarios/), each with each of its seeds, as `vmcisim run PATH --seed N -q --digest`\n"
            "in child processes, twice: the second run under other process conditions must\n"
            "print the same output and digest.\n"
            "\n"
            "  -j N, --jobs N      children at once (default: the number of CPUs)\n"
            "  --once              one run per case: no determinism check\n"
            "  --seeds LIST        seeds for every scenario: 1-20, 1,5,9 or 1-5,9 (replaces\n"
            "                      the scenarios' `-- seeds:`; default 1)\n"
            "  --until D           simulated time limit for scenarios without `-- until:`\n"
            "  --timeout D         wall time per run for scenarios without `-- timeout:`\n"
            "                      (default 300s); the run is killed and fails\n"
            "  --slow              also run scenarios marked `-- slow`\n"
            "  --paranoid          every run checks the world invariants after every event\n"
            "  --payload N|all     added to the `run ... --trace` reproduce lines\n"
            "  --allow-exec        every run may start real programs (ep:exec)\n"
            "  --tap               TAP version 13 on stdout\n"
            "  --junit FILE        also write JUnit XML to FILE\n"
            "  -h, --help          this text\n"
            "\n"
            "Scenario header directives (leading comment lines):\n"
            "  -- expect: exit N   -- expect-error: TEXT   -- seeds: 1-20\n"
            "  -- timeout: 30s     -- until: 5s            -- slow\n"
            "\n"
            "Every failure prints one `reproduce:` command. The last line is\n"
            "`tests: N passed, N failed`. Exit status: 0 all passed, 1 a failure (or no\n"
            "scenario found), 2 usage error.\n");
}

static int usage_error(const char *format, const char *detail)
{
    return run_options_usage_error("test", test_usage, format, detail);
}

static int parse_option(int option, const char *value, struct test_options *options)
{
    const struct run_options_shared shared = {
        .command = "test", .usage = test_usage,
        .jobs = &options->jobs, .jobs_max = TEST_JOBS_MAX,
        .jobs_error = "-j: '%s' is not a number from 1 to TEST_JOBS_MAX (256)",
        .seeds = &options->seeds, .has_seeds = &options->has_seeds,
        .seeds_max = TEST_SEEDS_PER_SCENARIO_MAX,
        .seeds_max_name = "TEST_SEEDS_PER_SCENARIO_MAX",
        .until_text = &options->until_text, .until_ns = NULL,
        .timeout_ns = &options->timeout_ns, .junit_path = &options->junit_path,
        .paranoid = &options->paranoid, .payload_text = &options->payload_text,
    };
    enum run_options_result result = run_options_parse(option, value, &shared);
    if (result != RUN_OPTIONS_NOT_SHARED)
        return (int)result;                 /* 0, or 2 with the usage error reported */
    return usage_error("%s", "unknown or incomplete option");
}

/* Returns -1 for --help, 0 with options filled and *first_path set, or 2 (usage error). */
static int parse_arguments(int argc, char **argv, struct test_options *options,
                           int *first_path)
{
    static const struct option long_options[] = {
        RUN_OPTIONS_LONG,
        { "once", no_argument, NULL, 'o' }, { "slow", no_argument, NULL, 'S' },
        { "tap", no_argument, NULL, 'T' }, { "allow-exec", no_argument, NULL, 'X' },
        { NULL, 0, NULL, 0 },
    };
    opterr = 0;
    optind = 1;
    int option;
    struct option_once seen = { .values = { NULL } };
    char repeated[OPTION_ONCE_MESSAGE_BYTES];
    while ((option = getopt_long(argc, argv, "j:h", long_options, NULL)) != -1) {
        if (option == 'h')
            return cli_help_alone(argc, argv, argv[optind - 1], test_usage);
        if (option == 'o' || option == 'S' || option == 'T' || option == 'X') {
            options->allow_exec |= option == 'X';
            options->once |= option == 'o';
            options->slow |= option == 'S';
            options->tap |= option == 'T';
            continue;
        }
        if (option == '?') {
            char letter[3];
            return usage_error("unknown option or missing value: '%s'",
                               cli_refused_option(argv, letter));
        }
        if (option_once_note(&seen, long_options, "j:h", option, optarg, repeated) < 0)
            return usage_error("%s", repeated);
        if (parse_option(option, optarg, options) != 0)
            return 2;
    }
    *first_path = optind;
    return 0;
}

/* The state of one `vmcisim test`. */
struct test_state {
    const struct test_options *options;
    struct test_plan *plan;
    struct test_report *report;
    struct test_case *window;               /* TEST_WINDOW_CASES, by number % size */
    uint64_t generated, reported, start_cursor;
    uint32_t scenario_cursor;
    uint64_t seed_cursor;
    uint32_t running;
    int child_pipe[2];                      /* written by the SIGCHLD handler */
};

static int child_pipe_write_end = -1;

static void on_child(int signal_number)
{
    (void)signal_number;
    int saved = errno;
    ssize_t ignored = write(child_pipe_write_end, "c", 1);
    (void)ignored;
    errno = saved;
}

static struct test_case *case_at(struct test_state *state, uint64_t index)
{
    return &state->window[index % TEST_WINDOW_CASES];
}

/* Adds the next case of the plan to the window; false when the plan is exhausted. */
static bool generate(struct test_state *state)
{
    const struct test_plan *plan = state->plan;
    if (state->scenario_cursor >= plan->count ||
        state->generated >= state->reported + TEST_WINDOW_CASES)
        return false;
    const struct test_scenario *scenario = &plan->scenarios[state->scenario_cursor];
    struct test_case *test_case = case_at(state, state->generated);
    memset(test_case, 0, sizeof(*test_case));
    test_case->number = ++state->generated;
    test_case->scenario_index = state->scenario_cursor;
    test_case->needs_b = !state->options->once;
    const struct test_seeds *seeds = test_plan_seeds(scenario, state->options);
    if (scenario->slow && !state->options->slow) {
        test_case->skipped = test_case->judged = test_case->passed = true;
        state->scenario_cursor++;
        return true;
    }
    test_case->seed = test_seeds_at(seeds, state->seed_cursor++);
    if (state->seed_cursor == seeds->count) {
        state->seed_cursor = 0;
        state->scenario_cursor++;
    }
    if (scenario->header_error[0] != '\0')
        test_case->started[0] = test_case->started[1] = true;  /* judged without runs */
    return true;
}

/* A run could not start: the case fails with that reason once its other run has ended. */
static void fail_case(struct test_case *test_case, const char *reason)
{
    if (test_case->start_error == NULL)
        test_case->start_error = strdup(reason);
    test_case->started[0] = test_case->started[1] = true;
}

/* Starts one run if a case needs one; false when nothing could be started. */
static bool start_one(struct test_state *state)
{
    while (state->start_cursor < state->generated || generate(state)) {
        struct test_case *test_case = case_at(state, state->start_cursor);
        int which = !test_case->started[0] ? 0
                    : test_case->needs_b && !test_case->started[1] ? 1 : -1;
        if (test_case->judged || which < 0) {
            state->start_cursor++;
            continue;
        }
        const struct test_scenario *scenario = &state->plan->scenarios[test_case->scenario_index];
        struct test_run *run = malloc(sizeof(*run));
        char error[256] = "cannot start a run: out of memory";
        uint64_t timeout_ns = scenario->timeout_ns != 0 ? scenario->timeout_ns
                                                        : state->options->timeout_ns;
        if (run == NULL || test_run_start(run, which, scenario, test_case->seed, state->options,
                                          timeout_ns, error, sizeof(error)) < 0) {
            free(run);
            fail_case(test_case, error);
            return true;
        }
        test_case->runs[which] = run;
        test_case->started[which] = true;
        state->running++;
        return true;
    }
    return false;
}

static void judge_case(struct test_state *state, struct test_case *test_case)
{
    const struct test_scenario *scenario = &state->plan->scenarios[test_case->scenario_index];
    char reason[512], detail[TEST_MESSAGE_BYTES_MAX], reproduce[3 * TEST_PATH_BYTES_MAX];
    if (test_case->start_error != NULL) {
        test_case->passed = false;
        snprintf(reason, sizeof(reason), "%s", test_case->start_error);
        detail[0] = reproduce[0] = '\0';
        free(test_case->start_error);
        test_case->start_error = NULL;
    } else {
        test_case->passed = test_judge(test_case, scenario, state->options, reason,
                                       sizeof(reason), detail, sizeof(detail), reproduce,
                                       sizeof(reproduce));
    }
    if (!test_case->passed) {
        test_case->reason = strdup(reason);
        test_case->detail = strdup(detail);
        test_case->reproduce = strdup(reproduce);
    }
    for (int which = 0; which < 2; which++) {
        if (test_case->runs[which] != NULL) {
            test_case->elapsed_seconds += test_case->runs[which]->elapsed_seconds;
            test_run_release(test_case->runs[which]);
            free(test_case->runs[which]);
            test_case->runs[which] = NULL;
        }
    }
    test_case->judged = true;
}

/* True when every run the case started has ended. */
static bool case_ready(const struct test_case *test_case)
{
    if (test_case->judged || !test_case->started[0] ||
        (test_case->needs_b && !test_case->started[1] && test_case->start_error == NULL))
        return false;
    for (int which = 0; which < 2; which++)
        if (test_case->runs[which] != NULL && test_case->runs[which]->state != TEST_RUN_DONE)
            return false;
    return true;
}

/* Reaps ended children, reads every live run's pipes, keeps deadlines, judges what ended. */
static void collect(struct test_state *state)
{
    int wait_status;
    pid_t pid;
    while ((pid = waitpid(-1, &wait_status, WNOHANG)) > 0) {
        for (uint64_t index = state->reported; index < state->generated; index++) {
            struct test_case *test_case = case_at(state, index);
            for (int which = 0; which < 2; which++) {
                struct test_run *run = test_case->runs[which];
                if (run != NULL && run->state == TEST_RUN_RUNNING && run->pid == pid) {
                    run->reaped = true;
                    run->wait_status = wait_status;
                }
            }
        }
    }
    double now = test_wall_seconds();
    for (uint64_t index = state->reported; index < state->generated; index++) {
        struct test_case *test_case = case_at(state, index);
        const struct test_scenario *scenario = &state->plan->scenarios[test_case->scenario_index];
        for (int which = 0; which < 2; which++) {
            struct test_run *run = test_case->runs[which];
            if (run == NULL || run->state != TEST_RUN_RUNNING)
                continue;
            test_run_read(run, scenario);
            test_run_check_deadline(run, now);
            test_run_settle(run, now);
            if (run->state == TEST_RUN_DONE)
                state->running--;
        }
        if (case_ready(test_case))
            judge_case(state, test_case);
    }
}

/* Reports finished cases in plan order. */
static void report_ready(struct test_state *state)
{
    while (state->reported < state->generated) {
        struct test_case *test_case = case_at(state, state->reported);
        if (!test_case->judged)
            break;
        const struct test_scenario *scenario = &state->plan->scenarios[test_case->scenario_index];
        test_report_case(state->report, test_case, scenario,
                         test_case->passed ? NULL : test_case->reason, test_case->detail,
                         test_case->reproduce);
        free(test_case->reason);
        free(test_case->detail);
        free(test_case->reproduce);
        test_case->reason = test_case->detail = test_case->reproduce = NULL;
        state->reported++;
    }
}

/* Waits for output, a child's end or the next deadline (at most 250 ms). */
static void wait_for_something(struct test_state *state)
{
    struct pollfd fds[2 * TEST_JOBS_MAX + 1];
    nfds_t count = 0;
    fds[count++] = (struct pollfd){ .fd = state->child_pipe[0], .events = POLLIN };
    double now = test_wall_seconds(), wait_seconds = 0.25;
    for (uint64_t index = state->reported; index < state->generated; index++) {
        struct test_case *test_case = case_at(state, index);
        for (int which = 0; which < 2; which++) {
            struct test_run *run = test_case->runs[which];
            if (run == NULL || run->state != TEST_RUN_RUNNING)
                continue;
            if (run->deadline_seconds - now < wait_seconds)
                wait_seconds = run->deadline_seconds - now;
            int stream_fds[2] = { run->out.fd, run->err.fd };
            for (int stream = 0; stream < 2; stream++)
                if (stream_fds[stream] >= 0 && count < sizeof(fds) / sizeof(fds[0]))
                    fds[count++] = (struct pollfd){ .fd = stream_fds[stream], .events = POLLIN };
        }
    }
    int timeout_ms = wait_seconds <= 0 ? 0 : (int)(wait_seconds * 1000) + 1;
    if (poll(fds, count, timeout_ms) > 0 && (fds[0].revents & POLLIN) != 0) {
        char drain[64];
        while (read(state->child_pipe[0], drain, sizeof(drain)) > 0)
            continue;
    }
}

static int run_plan(struct test_state *state)
{
    if (pipe2(state->child_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        fprintf(stderr, "vmcisim test: pipe: %s\n", strerror(errno));
        return 1;
    }
    child_pipe_write_end = state->child_pipe[1];
    struct sigaction action = { .sa_handler = on_child, .sa_flags = SA_RESTART | SA_NOCLDSTOP };
    struct sigaction previous;
    sigemptyset(&action.sa_mask);
    sigaction(SIGCHLD, &action, &previous);
    for (;;) {
        while (state->running < state->options->jobs && start_one(state))
            continue;
        collect(state);
        report_ready(state);
        if (state->reported == state->plan->case_count)
            break;
        const char *current = state->reported < state->generated
            ? state->plan->scenarios[case_at(state, state->reported)->scenario_index].path : NULL;
        test_report_progress(state->report, state->running, current);
        if (state->running > 0)
            wait_for_something(state);
    }
    sigaction(SIGCHLD, &previous, NULL);
    close(state->child_pipe[0]);
    close(state->child_pipe[1]);
    return 0;
}

int cli_test(int argc, char **argv)
{
    assert(argc >= 2);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    struct test_options options = {
        .program = argv[0],
        .jobs = cpus < 1 ? 1 : cpus > (long)TEST_JOBS_MAX ? TEST_JOBS_MAX : (uint32_t)cpus,
        .timeout_ns = TEST_TIMEOUT_DEFAULT_NS,
        .exec_override = getenv("VMCISIM_TEST_EXEC"),
    };
    int first_path = 0;
    int rc = parse_arguments(argc - 1, argv + 1, &options, &first_path);
    if (rc == -1) {
        test_usage(stdout);
        return 0;
    }
    if (rc != 0)
        return rc;
    char *default_paths[] = { "scenarios" };
    char **paths = first_path < argc - 1 ? argv + 1 + first_path : default_paths;
    int path_count = first_path < argc - 1 ? argc - 1 - first_path : 1;
    struct test_plan plan;
    if (test_plan_build(&plan, paths, path_count, &options) < 0) {
        test_plan_free(&plan);
        return 2;
    }
    struct test_state state = { .options = &options, .plan = &plan };
    state.window = calloc(TEST_WINDOW_CASES, sizeof(*state.window));
    state.report = state.window != NULL ? test_report_open(&options, &plan) : NULL;
    int status = 1;
    if (state.report != NULL && run_plan(&state) == 0)
        status = test_report_close(state.report);
    free(state.window);
    test_plan_free(&plan);
    return status;
}
