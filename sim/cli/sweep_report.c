/* SPDX-License-Identifier: MIT */
/*
 * sim/cli/sweep_report.c: what `vmcisim sweep` prints and writes.
 *
 * A seed passes when its run ended with the scenario's expected exit status (`-- expect:`,
 * default 0) and its output holds every `-- expect-error:` text, as in `vmcisim test`.
 * Results arrive in whatever order the workers finish; what is printed at the end does not
 * depend on that order: the failures are listed by seed (the SWEEP_FAILURES_SHOWN_MAX
 * lowest are kept with their output), each with its one-line reproduction. Only wall times
 * (the slowest seeds, seeds/s) differ between two sweeps of the same seeds. The progress bar
 * goes to stderr, only on a terminal (or --progress), and is erased before anything else is
 * printed. The JUnit file has one testcase per seed (test_report.c writes it).
 */
#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim/cli/cli.h"
#include "sim/cli/sweep_int.h"

struct sweep_failure {
    uint64_t seed;
    char reason[256];
    char detail[SWEEP_OUTPUT_BYTES_MAX + 64];
};

struct sweep_slow {
    uint64_t seed;
    double seconds;
};

struct sweep_report {
    const struct sweep_options *options;
    uint64_t total, passed, failed;
    double started_seconds, progress_seconds;
    bool progress_on, progress_shown;
    FILE *junit_body;
    struct sweep_failure *failures;          /* SWEEP_FAILURES_SHOWN_MAX, lowest seeds */
    uint32_t failure_count;
    struct sweep_slow slowest[SWEEP_SLOWEST_SHOWN];
    uint32_t slowest_count;
    /* Fault-site coverage over the seeds with faults on: seeds that enabled each site,
     * reached it while enabled, and saw it fire; and the firings in all. */
    uint64_t fault_seeds;
    uint64_t site_enabled[VMCI_FAULT_SITE_COUNT];
    uint64_t site_reached[VMCI_FAULT_SITE_COUNT];
    uint64_t site_fired_seeds[VMCI_FAULT_SITE_COUNT];
    uint64_t site_fired[VMCI_FAULT_SITE_COUNT];
    /* Fault rates: seeds with the rate on, with an arrival, with an applied one; totals. */
    uint64_t rate_seeds[SIMLUA_FAULT_RATE_COUNT];
    uint64_t rate_arrived_seeds[SIMLUA_FAULT_RATE_COUNT];
    uint64_t rate_applied_seeds[SIMLUA_FAULT_RATE_COUNT];
    uint64_t rate_arrivals[SIMLUA_FAULT_RATE_COUNT];
    uint64_t rate_applied[SIMLUA_FAULT_RATE_COUNT];
};

static void count_faults(struct sweep_report *report, const struct sweep_result *result)
{
    if (!result->faults_on)
        return;
    report->fault_seeds++;
    for (int site = 0; site < VMCI_FAULT_SITE_COUNT; site++) {
        if (!result->fault_enabled[site])
            continue;
        report->site_enabled[site]++;
        report->site_reached[site] += result->fault_reached[site] > 0;
        report->site_fired_seeds[site] += result->fault_fired[site] > 0;
        report->site_fired[site] += result->fault_fired[site];
    }
    for (int rate = 0; rate < SIMLUA_FAULT_RATE_COUNT; rate++) {
        if (!result->rate_on[rate])
            continue;
        report->rate_seeds[rate]++;
        report->rate_arrived_seeds[rate] += result->rate_arrivals[rate] > 0;
        report->rate_applied_seeds[rate] += result->rate_applied[rate] > 0;
        report->rate_arrivals[rate] += result->rate_arrivals[rate];
        report->rate_applied[rate] += result->rate_applied[rate];
    }
}

struct sweep_report *sweep_report_open(const struct sweep_options *options, uint64_t total)
{
    assert(options != NULL);
    struct sweep_report *report = calloc(1, sizeof(*report));
    if (report == NULL)
        return NULL;
    report->failures = calloc(SWEEP_FAILURES_SHOWN_MAX, sizeof(*report->failures));
    if (report->failures == NULL) {
        free(report);
        return NULL;
    }
    report->options = options;
    report->total = total;
    report->started_seconds = test_wall_seconds();
    report->progress_on = options->progress == 1 ||
                          (options->progress == -1 && isatty(STDERR_FILENO));
    if (options->junit_path != NULL && (report->junit_body = tmpfile()) == NULL) {
        fprintf(stderr, "vmcisim sweep: --junit: cannot create a temporary file\n");
        free(report->failures);
        free(report);
        return NULL;
    }
    return report;
}

static void progress_erase(struct sweep_report *report)
{
    if (report->progress_shown) {
        fputs("\r\033[K", stderr);
        report->progress_shown = false;
    }
}

void sweep_report_progress(struct sweep_report *report, bool force)
{
    double now = test_wall_seconds();
    if (!report->progress_on || (!force && now - report->progress_seconds < 0.1))
        return;
    report->progress_seconds = now;
    uint64_t done = report->passed + report->failed;
    double elapsed = now - report->started_seconds;
    double rate = elapsed > 0 ? (double)done / elapsed : 0;
    enum { BAR_WIDTH = 30 };
    char bar[BAR_WIDTH + 1];
    uint64_t filled = report->total > 0 ? done * BAR_WIDTH / report->total : BAR_WIDTH;
    for (uint32_t index = 0; index < BAR_WIDTH; index++)
        bar[index] = index < filled ? '#' : '.';
    bar[BAR_WIDTH] = '\0';
    char eta[32] = "-";
    if (rate > 0)
        snprintf(eta, sizeof(eta), "%.0f s", (double)(report->total - done) / rate);
    fflush(stdout);
    fprintf(stderr, "\r\033[K[%s] %" PRIu64 "/%" PRIu64 " seeds, %" PRIu64 " failed, "
            "%.0f seeds/s, ETA %s", bar, done, report->total, report->failed, rate, eta);
    report->progress_shown = true;
}

/* Keeps the failure when it is among the SWEEP_FAILURES_SHOWN_MAX lowest seeds so far. */
static void keep_failure(struct sweep_report *report, uint64_t seed, const char *reason,
                         const char *detail)
{
    struct sweep_failure *slot = NULL;
    if (report->failure_count < SWEEP_FAILURES_SHOWN_MAX) {
        slot = &report->failures[report->failure_count++];
    } else {
        for (uint32_t index = 0; index < report->failure_count; index++)
            if (slot == NULL || report->failures[index].seed > slot->seed)
                slot = &report->failures[index];
        if (slot->seed < seed)
            return;
    }
    slot->seed = seed;
    snprintf(slot->reason, sizeof(slot->reason), "%s", reason);
    snprintf(slot->detail, sizeof(slot->detail), "%s", detail);
}

static void keep_slow(struct sweep_report *report, uint64_t seed, double seconds)
{
    uint32_t at = report->slowest_count;
    while (at > 0 && report->slowest[at - 1].seconds < seconds)
        at--;
    if (at >= SWEEP_SLOWEST_SHOWN)
        return;
    uint32_t last = report->slowest_count < SWEEP_SLOWEST_SHOWN ? report->slowest_count
                                                                : SWEEP_SLOWEST_SHOWN - 1;
    memmove(&report->slowest[at + 1], &report->slowest[at],
            (last - at) * sizeof(report->slowest[0]));
    report->slowest[at] = (struct sweep_slow){ .seed = seed, .seconds = seconds };
    if (report->slowest_count < SWEEP_SLOWEST_SHOWN)
        report->slowest_count++;
}

static void record(struct sweep_report *report, uint64_t seed, double seconds,
                   const char *reason, const char *detail)
{
    const struct sweep_options *options = report->options;
    char reproduce[3 * TEST_PATH_BYTES_MAX];
    test_reproduce_command(options->program, options->scenario_path, seed, options->until_text,
                           options->paranoid, reproduce, sizeof(reproduce));
    cli_payload_reproduce(reproduce, sizeof(reproduce), options->payload_text);
    if (reason == NULL)
        report->passed++;
    else
        report->failed++;
    if (reason != NULL)
        keep_failure(report, seed, reason, detail);
    keep_slow(report, seed, seconds);
    if (report->junit_body != NULL) {
        char name[TEST_PATH_BYTES_MAX + 64];
        snprintf(name, sizeof(name), "%s seed %" PRIu64, options->scenario_path, seed);
        test_junit_testcase(report->junit_body, options->scenario_path, name, seconds, NULL,
                            reason, detail, reproduce);
    }
}

/* Indents the kept output ("  | " per line) into detail. */
static void output_detail(const struct sweep_result *result, char *detail, size_t detail_bytes)
{
    size_t used = 0;
    detail[0] = '\0';
    for (uint32_t index = 0; index < result->output_kept_bytes && used + 8 < detail_bytes;
         index++) {
        if (index == 0 || result->output[index - 1] == '\n') {
            memcpy(detail + used, "  | ", 4);
            used += 4;
        }
        detail[used++] = result->output[index];
    }
    if (used > 0 && detail[used - 1] != '\n' && used + 1 < detail_bytes)
        detail[used++] = '\n';
    detail[used] = '\0';
    if (result->output_bytes > result->output_kept_bytes)
        snprintf(detail + used, detail_bytes - used, "  (%" PRIu64 " more bytes not shown)\n",
                 result->output_bytes - result->output_kept_bytes);
}

bool sweep_report_result(struct sweep_report *report, const struct sweep_result *result)
{
    assert(report != NULL && result != NULL);
    const struct test_scenario *scenario = &report->options->scenario;
    char reason[256] = "";
    if (result->exit_code != scenario->expected_exit)
        snprintf(reason, sizeof(reason), "exit %d, expected %d", (int)result->exit_code,
                 scenario->expected_exit);
    for (uint32_t index = 0; reason[0] == '\0' && index < scenario->expect_error_count; index++)
        if ((result->errors_found & (1u << index)) == 0)
            snprintf(reason, sizeof(reason), "the expected error text '%.128s' is not in the "
                     "output", scenario->expect_errors[index]);
    double seconds = (double)result->elapsed_ns * 1e-9;
    count_faults(report, result);
    if (report->options->verbose) {
        progress_erase(report);
        printf("seed %" PRIu64 ": %s, digest %s, %" PRIu64 " events, %.3f ms\n", result->seed,
               reason[0] == '\0' ? "pass" : "FAIL", result->digest, result->events_run,
               seconds * 1e3);
    }
    char detail[SWEEP_OUTPUT_BYTES_MAX + 64];
    output_detail(result, detail, sizeof(detail));
    record(report, result->seed, seconds, reason[0] != '\0' ? reason : NULL, detail);
    return reason[0] == '\0';
}

void sweep_report_lost(struct sweep_report *report, uint64_t seed, double elapsed_seconds,
                       const char *why)
{
    assert(report != NULL && why != NULL);
    if (report->options->verbose) {
        progress_erase(report);
        printf("seed %" PRIu64 ": FAIL, %s\n", seed, why);
    }
    record(report, seed, elapsed_seconds, why, "");
}

static int compare_failures(const void *left, const void *right)
{
    uint64_t a = ((const struct sweep_failure *)left)->seed;
    uint64_t b = ((const struct sweep_failure *)right)->seed;
    return a < b ? -1 : a > b;
}

/* The failures by seed, each with its output and reproduction line. */
static void print_failures(struct sweep_report *report)
{
    const struct sweep_options *options = report->options;
    qsort(report->failures, report->failure_count, sizeof(report->failures[0]),
          compare_failures);
    for (uint32_t index = 0; index < report->failure_count; index++) {
        const struct sweep_failure *failure = &report->failures[index];
        char reproduce[3 * TEST_PATH_BYTES_MAX];
        test_reproduce_command(options->program, options->scenario_path, failure->seed,
                               options->until_text, options->paranoid, reproduce,
                               sizeof(reproduce));
        cli_payload_reproduce(reproduce, sizeof(reproduce), options->payload_text);
        printf("FAIL seed %" PRIu64 ": %s\n%s  reproduce: %s\n", failure->seed, failure->reason,
               failure->detail, reproduce);
    }
    if (report->failed > report->failure_count)
        printf("%" PRIu64 " more failures not shown (the %u lowest seeds are; --junit lists "
               "every one)\n", report->failed - report->failure_count,
               SWEEP_FAILURES_SHOWN_MAX);
}

/* Fault-site coverage (docs/faults.md): per site, the seeds that enabled it, reached it and
 * saw it fire, then the sites no seed reached while enabled (the ones the scenario never
 * exercises, whatever the seed). */
static void print_fault_coverage(const struct sweep_report *report)
{
    if (report->fault_seeds == 0) {
        printf("fault sites: faults off in every seed (no coverage to report)\n");
        return;
    }
    printf("fault sites over %" PRIu64 " seeds with faults on (seeds enabled / reached / "
           "fired, firings):\n", report->fault_seeds);
    uint32_t never = 0;
    for (int site = 0; site < VMCI_FAULT_SITE_COUNT; site++) {
        if (report->site_enabled[site] == 0)
            continue;
        printf("  %-22s %-8s %6" PRIu64 " / %6" PRIu64 " / %6" PRIu64 ", %" PRIu64 "\n",
               vmci_fault_sites[site].name,
               vmci_fault_class_name(vmci_fault_sites[site].class), report->site_enabled[site],
               report->site_reached[site], report->site_fired_seeds[site],
               report->site_fired[site]);
        never += report->site_reached[site] == 0;
    }
    if (never > 0) {
        printf("fault sites never reached:");
        for (int site = 0; site < VMCI_FAULT_SITE_COUNT; site++)
            if (report->site_enabled[site] > 0 && report->site_reached[site] == 0)
                printf(" %s", vmci_fault_sites[site].name);
        printf("\n");
    }
}

/* Fault rates (docs/faults.md, "Rates"): per rate that some seed turned on, the seeds with
 * an arrival and with an applied one, the totals, then the rates never applied (no victim
 * ever found: the scenario gives them nothing to act on). */
static void print_rate_coverage(const struct sweep_report *report)
{
    uint32_t on = 0, never = 0;
    for (int rate = 0; rate < SIMLUA_FAULT_RATE_COUNT; rate++) {
        on += report->rate_seeds[rate] > 0;
        never += report->rate_seeds[rate] > 0 && report->rate_applied_seeds[rate] == 0;
    }
    if (on == 0)
        return;
    printf("fault rates (seeds on / arrived / applied, arrivals, applied):\n");
    for (int rate = 0; rate < SIMLUA_FAULT_RATE_COUNT; rate++) {
        if (report->rate_seeds[rate] == 0)
            continue;
        printf("  %-22s %6" PRIu64 " / %6" PRIu64 " / %6" PRIu64 ", %" PRIu64 ", %" PRIu64
               "\n", simlua_fault_rate_name(rate), report->rate_seeds[rate],
               report->rate_arrived_seeds[rate], report->rate_applied_seeds[rate],
               report->rate_arrivals[rate], report->rate_applied[rate]);
    }
    if (never > 0) {
        printf("fault rates never applied:");
        for (int rate = 0; rate < SIMLUA_FAULT_RATE_COUNT; rate++)
            if (report->rate_seeds[rate] > 0 && report->rate_applied_seeds[rate] == 0)
                printf(" %s", simlua_fault_rate_name(rate));
        printf("\n");
    }
}

static void print_speed(struct sweep_report *report, double seconds)
{
    uint64_t done = report->passed + report->failed;
    if (report->slowest_count > 0) {
        printf("slowest seeds:");
        for (uint32_t index = 0; index < report->slowest_count; index++)
            printf(" %" PRIu64 " (%.1f ms)", report->slowest[index].seed,
                   report->slowest[index].seconds * 1e3);
        printf("\n");
    }
    double rate = seconds > 0 ? (double)done / seconds : 0;
    printf("wall: %.2f s, %.1f seeds/s with %u workers (%.0f seeds per hour per worker)\n",
           seconds, rate, report->options->jobs, rate * 3600.0 / report->options->jobs);
    printf("invariants: %s\n", report->options->paranoid ? "after every event (--paranoid)"
                                                          : "at the end of each run");
}

int sweep_report_close(struct sweep_report *report, uint64_t not_run)
{
    assert(report != NULL);
    progress_erase(report);
    double seconds = test_wall_seconds() - report->started_seconds;
    print_failures(report);
    print_fault_coverage(report);
    print_rate_coverage(report);
    print_speed(report, seconds);
    int status = report->failed == 0 && not_run == 0 ? 0 : 1;
    if (not_run > 0)
        printf("stopped at the first failure (--fail-fast): %" PRIu64 " seeds not run\n",
               not_run);
    if (report->junit_body != NULL) {
        if (test_junit_write(report->options->junit_path, "vmcisim sweep", report->failed, 0,
                             report->passed + report->failed, seconds, report->junit_body,
                             "vmcisim sweep") < 0)
            status = 1;
        fclose(report->junit_body);
    }
    printf("seeds: %" PRIu64 " passed, %" PRIu64 " failed\n", report->passed, report->failed);
    fflush(stdout);
    free(report->failures);
    free(report);
    return status;
}
