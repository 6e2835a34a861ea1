/* SPDX-License-Identifier: MIT */
/*
 * sim/cli/test_report.c: what `vmcisim test` prints and writes.
 *
 * Cases are reported in plan order (test.c holds finished cases until those before them
 * are reported), so two runs of the same plan print the same lines. Plain text: `PASS`,
 * `FAIL` (reason, the run's output indented, `reproduce: COMMAND`) or `SKIP` per case;
 * `--tap`: TAP version 13 with a plan line and `# ` comments. The last line is always
 * `tests: N passed, N failed`. `--junit FILE`: JUnit XML (testsuites > testsuite >
 * testcase, with failure or skipped) as CI test reporters read it; every text is escaped
 * and made valid UTF-8. The progress line goes to stderr only when stderr is a terminal,
 * and is erased before anything else is printed. Wall times appear only here.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim/cli/test_int.h"
#include "sim/engine/error.h"

struct test_report {
    const struct test_options *options;
    const struct test_plan *plan;
    FILE *junit_body;                       /* testcases, until the totals are known */
    uint64_t passed, failed, skipped, reported;
    double started_seconds, progress_seconds;
    bool progress_on, progress_shown;
};

void test_shell_quote(const char *text, char *buffer, size_t buffer_bytes)
{
    assert(text != NULL && buffer != NULL && buffer_bytes > 2);
    bool plain = text[0] != '\0';
    for (const char *cursor = text; *cursor != '\0'; cursor++)
        if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./+-=:,@%",
                   *cursor) == NULL)
            plain = false;
    if (plain) {
        snprintf(buffer, buffer_bytes, "%s", text);
        return;
    }
    size_t used = 0;
    buffer[used++] = '\'';
    for (const char *cursor = text; *cursor != '\0' && used + 6 < buffer_bytes; cursor++) {
        if (*cursor == '\'') {
            memcpy(buffer + used, "'\\''", 4);
            used += 4;
        } else {
            buffer[used++] = *cursor;
        }
    }
    buffer[used++] = '\'';
    buffer[used] = '\0';
}

/* Length of the valid UTF-8 sequence at text (allowed in XML 1.0), or 0. */
static size_t utf8_valid(const unsigned char *text)
{
    unsigned char lead = text[0];
    if (lead < 0x80)
        return lead >= 0x20 || lead == '\t' || lead == '\n' || lead == '\r' ? 1 : 0;
    size_t length = lead >= 0xf0 && lead <= 0xf4 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc2 ? 2 : 0;
    if (length == 0 || (lead >= 0xf5))
        return 0;
    uint32_t point = lead & (0x7f >> length);
    for (size_t index = 1; index < length; index++) {
        if ((text[index] & 0xc0) != 0x80)
            return 0;
        point = (point << 6) | (text[index] & 0x3f);
    }
    bool overlong = (length == 3 && point < 0x800) || (length == 4 && point < 0x10000);
    bool excluded = (point >= 0xd800 && point <= 0xdfff) || point == 0xfffe ||
                    point == 0xffff || point > 0x10ffff;
    return overlong || excluded ? 0 : length;
}

void test_xml_write(FILE *file, const char *text, bool attribute)
{
    assert(file != NULL && text != NULL);
    const unsigned char *cursor = (const unsigned char *)text;
    while (*cursor != '\0') {
        size_t length = utf8_valid(cursor);
        if (length == 0) {
            fputs("\xef\xbf\xbd", file);         /* U+FFFD for what XML cannot hold */
            cursor++;
            continue;
        }
        switch (*cursor) {
        case '&': fputs("&amp;", file); break;
        case '<': fputs("&lt;", file); break;
        case '>': fputs("&gt;", file); break;
        case '"': fputs("&quot;", file); break;
        case '\'': fputs("&apos;", file); break;
        case '\n': fputs(attribute ? "&#10;" : "\n", file); break;
        case '\r': fputs("&#13;", file); break;
        case '\t': fputs(attribute ? "&#9;" : "\t", file); break;
        default: fwrite(cursor, 1, length, file); break;
        }
        cursor += length;
    }
}

struct test_report *test_report_open(const struct test_options *options,
                                     const struct test_plan *plan)
{
    struct test_report *report = calloc(1, sizeof(*report));
    if (report == NULL)
        return NULL;
    report->options = options;
    report->plan = plan;
    report->started_seconds = test_wall_seconds();
    report->progress_on = isatty(STDERR_FILENO);
    if (options->junit_path != NULL && (report->junit_body = tmpfile()) == NULL) {
        fprintf(stderr, "vmcisim test: --junit: cannot create a temporary file\n");
        free(report);
        return NULL;
    }
    if (options->tap) {
        printf("TAP version 13\n1..%" PRIu64 "\n", plan->case_count);
        printf("# run A: environment PATH and sanitizer options only, argv[0] 7 bytes, "
               "address-space randomisation as the kernel has it\n");
        if (!options->once)
            printf("# run B: environment + %u bytes, argv[0] %u bytes, randomisation %s\n",
                   TEST_PAD_BYTES, TEST_ARGV0_BYTES, test_run_can_disable_aslr()
                   ? "off (ADDR_NO_RANDOMIZE)" : "as in A (the kernel refuses "
                   "ADDR_NO_RANDOMIZE here)");
    }
    return report;
}

static void progress_erase(struct test_report *report)
{
    if (report->progress_shown) {
        fputs("\r\033[K", stderr);
        report->progress_shown = false;
    }
}

void test_report_progress(struct test_report *report, uint64_t running, const char *current)
{
    double now = test_wall_seconds();
    if (!report->progress_on || now - report->progress_seconds < 0.1)
        return;
    report->progress_seconds = now;
    fflush(stdout);
    fprintf(stderr, "\r\033[K[%" PRIu64 "/%" PRIu64 "] %" PRIu64 " failed, %" PRIu64
            " running, %.0f s: %.60s", report->reported, report->plan->case_count,
            report->failed, running, now - report->started_seconds,
            current != NULL ? current : "");
    report->progress_shown = true;
}

static void print_lines(const char *prefix, const char *text)
{
    while (text != NULL && *text != '\0') {
        const char *end = strchr(text, '\n');
        size_t length = end != NULL ? (size_t)(end - text) : strlen(text);
        printf("%s%.*s\n", prefix, (int)length, text);
        text = end != NULL ? end + 1 : text + length;
    }
}

/* A TAP test line's description: a '#' would begin a directive (`# SKIP`, `# TODO`: a failure
 * read as skipped) and a newline would start a line of its own, so '\\', '#', newline and
 * carriage return are escaped (TAP 14's `\#` and `\\`; `\n`, `\r`). */
static void tap_description_print(const char *text)
{
    assert(text != NULL);
    for (const char *cursor = text; *cursor != '\0'; cursor++) {
        switch (*cursor) {
        case '\\': fputs("\\\\", stdout); break;
        case '#': fputs("\\#", stdout); break;
        case '\n': fputs("\\n", stdout); break;
        case '\r': fputs("\\r", stdout); break;
        default: putchar(*cursor); break;
        }
    }
}

void test_junit_testcase(FILE *body, const char *path, const char *name, double seconds,
                         const char *skipped, const char *reason, const char *detail,
                         const char *reproduce)
{
    assert(body != NULL && path != NULL && name != NULL);
    char classname[TEST_PATH_BYTES_MAX + 16] = "vmcisim";
    const char *slash = strrchr(path, '/');
    if (slash != NULL) {
        size_t length = strlen(classname);
        snprintf(classname + length, sizeof(classname) - length, ".%.*s",
                 (int)(slash - path), path);
        for (char *cursor = classname + length + 1; *cursor != '\0'; cursor++)
            if (*cursor == '/' || *cursor == '.')
                *cursor = *cursor == '/' ? '.' : '_';
    }
    fputs("    <testcase classname=\"", body);
    test_xml_write(body, classname, true);
    fputs("\" name=\"", body);
    test_xml_write(body, name, true);
    fputs("\" file=\"", body);
    test_xml_write(body, path, true);
    fprintf(body, "\" time=\"%.3f\"", seconds);
    if (skipped != NULL) {
        fputs(">\n      <skipped message=\"", body);
        test_xml_write(body, skipped, true);
        fputs("\"/>\n    </testcase>\n", body);
    } else if (reason != NULL) {
        fputs(">\n      <failure type=\"failure\" message=\"", body);
        test_xml_write(body, reason, true);
        fputs("\">", body);
        test_xml_write(body, reason, false);
        fputs("\n", body);
        test_xml_write(body, detail != NULL ? detail : "", false);
        fputs("reproduce: ", body);
        test_xml_write(body, reproduce != NULL ? reproduce : "", false);
        fputs("\n</failure>\n    </testcase>\n", body);
    } else {
        fputs("/>\n", body);
    }
}

void test_report_case(struct test_report *report, const struct test_case *test_case,
                      const struct test_scenario *scenario, const char *reason,
                      const char *detail, const char *reproduce)
{
    assert(report != NULL && test_case != NULL && scenario != NULL);
    progress_erase(report);
    char name[TEST_PATH_BYTES_MAX + 64];
    snprintf(name, sizeof(name), "%s seed %" PRIu64, scenario->path, test_case->seed);
    bool tap = report->options->tap;
    if (test_case->skipped) {
        report->skipped++;
        if (tap) {
            printf("ok %" PRIu64 " - ", test_case->number);
            tap_description_print(scenario->path);
            fputs(" # SKIP slow (--slow runs it)\n", stdout);
        } else
            printf("SKIP %s: slow (--slow runs it)\n", scenario->path);
    } else if (reason == NULL) {
        report->passed++;
        if (tap) {
            printf("ok %" PRIu64 " - ", test_case->number);
            tap_description_print(name);
            putchar('\n');
        } else
            printf("PASS %s\n", name);
    } else {
        report->failed++;
        if (tap) {
            printf("not ok %" PRIu64 " - ", test_case->number);
            tap_description_print(name);
            fputs(": ", stdout);
            tap_description_print(reason);
            putchar('\n');
        } else {
            printf("FAIL %s: %s\n", name, reason);
        }
        print_lines(tap ? "# " : "  ", detail);
        printf("%sreproduce: ", tap ? "# " : "  ");
        for (const char *cursor = reproduce; *cursor != '\0'; cursor++) {
            putchar(*cursor);
            if (*cursor == '\n' && tap)   /* a quoted path's newline: the comment goes on */
                fputs("# ", stdout);
        }
        putchar('\n');
    }
    report->reported++;
    fflush(stdout);
    if (report->junit_body != NULL)
        test_junit_testcase(report->junit_body, scenario->path,
                            test_case->skipped ? scenario->path : name,
                            test_case->elapsed_seconds,
                            test_case->skipped ? "slow: --slow runs it" : NULL, reason, detail,
                            reproduce);
}

int test_junit_write(const char *path, const char *suite_name, uint64_t failed,
                     uint64_t skipped, uint64_t tests, double seconds, FILE *body,
                     const char *who)
{
    assert(path != NULL && suite_name != NULL && body != NULL && who != NULL);
    FILE *file = fopen(path, "w");
    if (file == NULL) {
        fprintf(stderr, "%s: --junit %s: cannot be written: %s\n", who, path, strerror(errno));
        return -1;
    }
    for (int level = 0; level < 2; level++) {
        fputs(level == 0 ? "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\""
                         : ">\n  <testsuite name=\"", file);
        test_xml_write(file, suite_name, true);
        fprintf(file, "\" tests=\"%" PRIu64 "\" failures=\"%" PRIu64 "\" errors=\"0\" skipped=\"%"
                PRIu64 "\" time=\"%.3f\"", tests, failed, skipped, seconds);
    }
    fputs(">\n", file);
    fflush(body);
    rewind(body);
    char buffer[8192];
    size_t got;
    while ((got = fread(buffer, 1, sizeof(buffer), body)) > 0)
        fwrite(buffer, 1, got, file);
    fputs("  </testsuite>\n</testsuites>\n", file);
    int write_error = ferror(body) ? EIO : 0;
    int close_error = sim_stream_close(file);      /* the errno of a failed write */
    if (write_error == 0)
        write_error = close_error;
    if (write_error != 0) {
        fprintf(stderr, "%s: --junit %s: write failed: %s\n", who, path, strerror(write_error));
        return -1;
    }
    return 0;
}

static int junit_finish(struct test_report *report)
{
    double seconds = test_wall_seconds() - report->started_seconds;
    uint64_t tests = report->passed + report->failed + report->skipped;
    return test_junit_write(report->options->junit_path, "vmcisim test", report->failed,
                            report->skipped, tests, seconds, report->junit_body,
                            "vmcisim test");
}

int test_report_close(struct test_report *report)
{
    progress_erase(report);
    int status = report->failed == 0 && report->passed + report->skipped > 0 ? 0 : 1;
    if (report->junit_body != NULL) {
        if (junit_finish(report) < 0)
            status = 1;
        fclose(report->junit_body);
    }
    if (report->skipped > 0)
        printf("%sskipped: %" PRIu64 " slow scenarios (--slow runs them)\n",
               report->options->tap ? "# " : "", report->skipped);
    if (report->passed + report->failed + report->skipped == 0)
        printf("%sno scenarios found\n", report->options->tap ? "# " : "");
    printf("tests: %" PRIu64 " passed, %" PRIu64 " failed\n", report->passed, report->failed);
    fflush(stdout);
    free(report);
    return status;
}
