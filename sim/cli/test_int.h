/* SPDX-License-Identifier: MIT */
/*
 * sim/cli/test_int.h: the parts of `vmcisim test` (private to sim/cli/test*.c).
 *
 * test_plan.c finds the scenarios (sorted, so the plan is the same on every machine),
 * reads their header directives and seed lists; test_run.c runs each case as child
 * processes of this binary (`run PATH --seed N -q --digest`), bounded in number, output
 * and wall time; test_report.c prints plain text or TAP, writes JUnit XML and the
 * progress line; test.c parses the arguments and drives the loop. Wall time is used
 * here (the runner's timeouts and reports), never inside a simulation.
 * Every table has a named bound below; exceeding one is a clear error.
 */
#ifndef SIM_CLI_TEST_INT_H
#define SIM_CLI_TEST_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <xxhash.h>

#define TEST_SCENARIOS_MAX          4096u     /* scenario files in one plan */
#define TEST_PATH_BYTES_MAX         1024u     /* a scenario path, incl. NUL */
#define TEST_DEPTH_MAX              32u       /* folder nesting under a PATH */
#define TEST_SEED_RANGES_MAX        64u       /* ranges in one seed list (1-20,25,...) */
#define TEST_SEEDS_PER_SCENARIO_MAX 100000u   /* seeds one scenario runs with */
/* Why a timeout of 0 (--timeout, '-- timeout:') is refused: it is a duration, but no run fits. */
#define TEST_TIMEOUT_ZERO_TEXT "is 0: a run's wall time must be longer than 0 (e.g. 30s)"
#define TEST_CASES_MAX              (1u << 20) /* scenario x seed cases in one plan */
#define TEST_HEADER_LINES_MAX       64u       /* leading comment lines read for directives */
#define TEST_HEADER_LINE_BYTES_MAX  512u      /* a header line; longer is a header error */
#define TEST_HEADER_BYTES_MAX       (16u << 20)  /* bytes read for the header, long lines and all
                                                 * (SIMLUA_FILE_BYTES_MAX: no scenario is longer) */
#define TEST_EXPECT_ERRORS_MAX      8u        /* `-- expect-error:` lines per scenario */
#define TEST_EXPECT_ERROR_BYTES_MAX 128u      /* one expected text, incl. NUL */
#define TEST_JOBS_MAX               256u      /* children at once (-j) */
#define TEST_WINDOW_CASES           1024u     /* cases started ahead of the first unreported */
#define TEST_CAPTURE_BYTES_MAX      (16u * 1024) /* kept of each stream of a run */
#define TEST_MESSAGE_BYTES_MAX      4096u     /* a failure's detail text */
#define TEST_LINE_BYTES_MAX         256u      /* the last stdout line (the digest) kept */
#define TEST_TIMEOUT_DEFAULT_NS     (300ull * 1000000000ull) /* wall time per run */
#define TEST_PAD_BYTES              65536u    /* environment padding of run B */
#define TEST_ARGV0_BYTES            4096u     /* argv[0] length of run B */

struct test_seed_range {
    uint64_t first, last;
};

struct test_seeds {
    struct test_seed_range ranges[TEST_SEED_RANGES_MAX];
    uint32_t range_count;
    uint64_t count;
};

/* One scenario file and what its header says. */
struct test_scenario {
    char path[TEST_PATH_BYTES_MAX];
    int expected_exit;                      /* `-- expect: exit N`; 1 with expect-error */
    bool exit_declared;
    char expect_errors[TEST_EXPECT_ERRORS_MAX][TEST_EXPECT_ERROR_BYTES_MAX];
    uint32_t expect_error_count;
    bool has_seeds;                         /* `-- seeds:` */
    struct test_seeds seeds;
    uint64_t timeout_ns;                    /* `-- timeout:` wall time; 0: the default */
    char until_text[32];                    /* `-- until:` simulated time; "" none */
    bool slow;                              /* `-- slow` */
    char header_error[TEST_MESSAGE_BYTES_MAX / 4]; /* "" or why the header is malformed */
    dev_t device;                           /* the file's identity: a scenario named by */
    ino_t inode;                            /* two PATHS is planned once */
};

struct test_options {
    const char *program;                    /* argv[0] of vmcisim, for reproduction lines */
    uint32_t jobs;
    bool once, tap, slow, verbose;
    bool paranoid;                          /* --paranoid: passed on to every run */
    const char *payload_text;               /* --payload: passed on to reproduce lines */
    bool allow_exec;                        /* --allow-exec: passed on to every run */
    bool has_seeds;
    struct test_seeds seeds;                /* --seeds: replaces every scenario's list */
    const char *until_text;                 /* --until: default for scenarios without one */
    uint64_t timeout_ns;                    /* --timeout: default wall time per run */
    const char *junit_path;
    const char *exec_override;              /* VMCISIM_TEST_EXEC (test-only, see test.c) */
};

/* The plan: scenarios in sorted order. */
struct test_plan {
    struct test_scenario *scenarios;
    uint32_t count;
    uint64_t case_count;
};

/* test_plan.c */
/* Parses the -j value: a decimal number from 1 to jobs_max; returns 0, or -1. */
int test_jobs_parse(const char *text, uint32_t jobs_max, uint32_t *jobs_out);
/* Parses "1-20,25,30-31" into seeds; returns 0, or -1 with why in error. */
int test_seeds_parse(const char *text, struct test_seeds *seeds, char *error, size_t error_bytes);
/* The same with another bound on the number of seeds (bound_name names it in the error). */
int test_seeds_parse_bounded(const char *text, struct test_seeds *seeds, uint64_t count_max,
                             const char *bound_name, char *error, size_t error_bytes);
/* The index-th seed of the list (index < seeds->count). */
uint64_t test_seeds_at(const struct test_seeds *seeds, uint64_t index);
/* Adds every *.lua under each path (a file or a folder, recursively, sorted). Returns 0, or
 * -1 with a message on stderr (a missing path, a bound exceeded). */
int test_plan_build(struct test_plan *plan, char **paths, int path_count,
                    const struct test_options *options);
void test_plan_free(struct test_plan *plan);
/* One scenario: its path and its header directives (header_error says what is malformed).
 * Returns 0, or -1 when the path is longer than TEST_PATH_BYTES_MAX. */
int test_scenario_read(struct test_scenario *scenario, const char *path);
/* The seeds a scenario runs with. */
const struct test_seeds *test_plan_seeds(const struct test_scenario *scenario,
                                         const struct test_options *options);

/* test_run.c: one child process. */
enum test_run_state { TEST_RUN_IDLE, TEST_RUN_RUNNING, TEST_RUN_DONE };

struct test_stream {
    int fd;                                 /* -1 at EOF */
    char capture[TEST_CAPTURE_BYTES_MAX];
    uint32_t captured_bytes;
    uint64_t total_bytes;
    XXH64_state_t *hash;
    uint64_t hash_value;                    /* of the whole stream, at EOF */
    char carry[TEST_EXPECT_ERROR_BYTES_MAX]; /* tail kept to match texts across reads */
    uint32_t carry_bytes;
    char line[TEST_LINE_BYTES_MAX];         /* the line being read */
    uint32_t line_bytes;
    char last_line[TEST_LINE_BYTES_MAX];    /* the last complete line */
};

struct test_run {
    enum test_run_state state;
    pid_t pid;
    bool reaped, timed_out;
    int wait_status;
    double started_seconds, deadline_seconds, elapsed_seconds;
    struct test_stream out, err;
    bool error_found[TEST_EXPECT_ERRORS_MAX];
};

/* One case: a scenario with one seed; run A (and run B unless --once). */
struct test_case {
    uint64_t number;                        /* 1-based, in plan order */
    uint32_t scenario_index;
    uint64_t seed;
    bool skipped, needs_b, started[2], judged, passed;
    struct test_run *runs[2];               /* allocated while the run is live or awaited */
    double elapsed_seconds;                 /* wall time of its runs (reports only) */
    char *reason, *detail, *reproduce;      /* of a failure; freed once reported */
    char *start_error;                      /* a run could not be started */
};

/* Whether run B can switch address-space randomisation off (probed once). */
bool test_run_can_disable_aslr(void);
/* Starts run `which` (0: A, 1: B) of the case. Returns 0, or -1 with a message in error. */
int test_run_start(struct test_run *run, int which, const struct test_scenario *scenario,
                   uint64_t seed, const struct test_options *options, uint64_t timeout_ns,
                   char *error, size_t error_bytes);
/* Reads what is available on the run's pipes (non-blocking). */
void test_run_read(struct test_run *run, const struct test_scenario *scenario);
/* Kills the run if its deadline has passed. */
void test_run_check_deadline(struct test_run *run, double now_seconds);
/* Marks the run done when it has been reaped and both pipes are at EOF. */
void test_run_settle(struct test_run *run, double now_seconds);
void test_run_release(struct test_run *run);
/* The digest line of the run's stdout ("digest <hex>"), or NULL. */
const char *test_run_digest(const struct test_run *run);
double test_wall_seconds(void);

/* test_report.c */
struct test_report;
struct test_report *test_report_open(const struct test_options *options,
                                     const struct test_plan *plan);
/* Reports one finished case: passed (detail NULL) or failed (reason, detail). */
void test_report_case(struct test_report *report, const struct test_case *test_case,
                      const struct test_scenario *scenario, const char *reason,
                      const char *detail, const char *reproduce);
void test_report_progress(struct test_report *report, uint64_t running, const char *current);
/* Prints the summary and the final line, writes the JUnit file; returns the exit status. */
int test_report_close(struct test_report *report);
/* Writes text as XML character data (attribute: also escapes newlines and tabs); bytes that
 * are not valid UTF-8 or not allowed in XML become U+FFFD. */
void test_xml_write(FILE *file, const char *text, bool attribute);
/* Appends one JUnit <testcase> for a scenario path to body: passed (skipped and reason
 * NULL), skipped (its message) or failed (reason, detail, reproduce). */
void test_junit_testcase(FILE *body, const char *path, const char *name, double seconds,
                         const char *skipped, const char *reason, const char *detail,
                         const char *reproduce);
/* Writes the JUnit file at path: testsuites > testsuite (suite_name and the counts) around
 * the testcases in body. Returns 0, or -1 with a message on stderr prefixed by who. */
int test_junit_write(const char *path, const char *suite_name, uint64_t failed,
                     uint64_t skipped, uint64_t tests, double seconds, FILE *body,
                     const char *who);
/* Quotes text for a POSIX shell when needed, into buffer. */
void test_shell_quote(const char *text, char *buffer, size_t buffer_bytes);

/* test_judge.c */
/* Judges a finished case: returns true when it passed, else fills reason, detail and the
 * reproduction command. */
bool test_judge(const struct test_case *test_case, const struct test_scenario *scenario,
                const struct test_options *options, char *reason, size_t reason_bytes,
                char *detail, size_t detail_bytes, char *reproduce, size_t reproduce_bytes);

/* The command that reproduces one failing seed: `PROGRAM run PATH --seed N [--until D]
 * [--paranoid] --trace fail-STEM-N.db`, each word quoted for a shell when needed. */
void test_reproduce_command(const char *program, const char *path, uint64_t seed,
                            const char *until, bool paranoid, char *reproduce,
                            size_t reproduce_bytes);

#endif /* SIM_CLI_TEST_INT_H */
