/* SPDX-License-Identifier: MIT */
/*
 * sim/cli/test_plan.c: what `vmcisim test` runs.
 *
 * Every *.lua under the given files and folders, found recursively and sorted by path
 * (bytes, as `LC_ALL=C sort`), so the plan and the order of the reports are the same on
 * every machine. Each scenario's leading comment block may hold directives:
 *   -- expect: exit N        the run's exit status (default 0; 1 with expect-error)
 *   -- expect-error: TEXT    the run's output must contain TEXT (several lines: all)
 *   -- seeds: 1-20,25        the seeds it runs with (default: 1)
 *   -- timeout: 30s          wall time per run before it is killed
 *   -- until: 5s             simulated time: passed to `run --until`
 *   -- slow                  skipped unless --slow
 * A malformed directive is a failure of that scenario, not of the runner; so is a directive
 * misspelled (a directive's name in other letters, or spaced from its colon).
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sim/cli/test_int.h"
#include "sim/engine/duration.h"
#include "sim/engine/error.h"

static int parse_u64(const char *text, const char *end, uint64_t *value_out)
{
    if (text == end || *text < '0' || *text > '9')
        return -1;
    uint64_t value = 0;
    for (const char *cursor = text; cursor < end; cursor++) {
        if (*cursor < '0' || *cursor > '9')
            return -1;
        unsigned digit = (unsigned)(*cursor - '0');
        if (value > (UINT64_MAX - digit) / 10)
            return -1;
        value = value * 10 + digit;
    }
    *value_out = value;
    return 0;
}

int test_jobs_parse(const char *text, uint32_t jobs_max, uint32_t *jobs_out)
{
    assert(text != NULL && jobs_out != NULL && jobs_max >= 1);
    char *end = NULL;
    long jobs = strtol(text, &end, 10);
    if (end == text || *end != '\0' || jobs < 1 || jobs > (long)jobs_max)
        return -1;
    *jobs_out = (uint32_t)jobs;
    return 0;
}

int test_seeds_parse(const char *text, struct test_seeds *seeds, char *error, size_t error_bytes)
{
    return test_seeds_parse_bounded(text, seeds, TEST_SEEDS_PER_SCENARIO_MAX,
                                    "TEST_SEEDS_PER_SCENARIO_MAX", error, error_bytes);
}

/* Whether `range` shares a seed with a range already in the list, and the lowest such seed:
 * a seed listed twice would run twice and be counted twice (and two shards could hold it). */
static bool seeds_repeated(const struct test_seeds *seeds, const struct test_seed_range *range,
                           uint64_t *seed_out)
{
    assert(seeds != NULL && range != NULL && seed_out != NULL);
    for (uint32_t index = 0; index < seeds->range_count; index++) {
        const struct test_seed_range *other = &seeds->ranges[index];
        if (other->first <= range->last && range->first <= other->last) {
            *seed_out = other->first > range->first ? other->first : range->first;
            return true;
        }
    }
    return false;
}

int test_seeds_parse_bounded(const char *text, struct test_seeds *seeds, uint64_t count_max,
                             const char *bound_name, char *error, size_t error_bytes)
{
    assert(text != NULL && seeds != NULL && error != NULL && bound_name != NULL);
    memset(seeds, 0, sizeof(*seeds));
    const char *cursor = text;
    while (*cursor != '\0') {
        const char *end = strchr(cursor, ',');
        if (end == NULL)
            end = cursor + strlen(cursor);
        const char *dash = memchr(cursor, '-', (size_t)(end - cursor));
        struct test_seed_range range;
        bool ok = dash == NULL
                      ? parse_u64(cursor, end, &range.first) == 0
                      : parse_u64(cursor, dash, &range.first) == 0 &&
                            parse_u64(dash + 1, end, &range.last) == 0;
        if (dash == NULL)
            range.last = range.first;
        if (!ok || range.last < range.first) {
            snprintf(error, error_bytes, "'%s' is not a seed list (e.g. 1-20 or 1,5,9-12)",
                     text);
            return -1;
        }
        uint64_t size = range.last - range.first + 1;
        if (seeds->range_count == TEST_SEED_RANGES_MAX || size == 0 ||
            size > count_max || seeds->count + size > count_max) {
            snprintf(error, error_bytes, "'%s': more than %s (%" PRIu64 ") seeds "
                     "or TEST_SEED_RANGES_MAX (%u) ranges", text, bound_name, count_max,
                     TEST_SEED_RANGES_MAX);
            return -1;
        }
        uint64_t repeated_seed = 0;
        if (seeds_repeated(seeds, &range, &repeated_seed)) {
            snprintf(error, error_bytes, "'%s': seed %" PRIu64 " is in the list twice; "
                     "give each seed once", text, repeated_seed);
            return -1;
        }
        seeds->ranges[seeds->range_count++] = range;
        seeds->count += size;
        cursor = *end == ',' ? end + 1 : end;
        if (*end == ',' && *cursor == '\0') {
            snprintf(error, error_bytes, "'%s' ends with a comma", text);
            return -1;
        }
    }
    if (seeds->count == 0) {
        snprintf(error, error_bytes, "an empty seed list");
        return -1;
    }
    return 0;
}

uint64_t test_seeds_at(const struct test_seeds *seeds, uint64_t index)
{
    assert(seeds != NULL && index < seeds->count);
    for (uint32_t range_index = 0; range_index < seeds->range_count; range_index++) {
        const struct test_seed_range *range = &seeds->ranges[range_index];
        uint64_t size = range->last - range->first + 1;
        if (index < size)
            return range->first + index;
        index -= size;
    }
    assert(!"seed index beyond the list");
    return 0;
}

static char *trim(char *text)
{
    while (*text == ' ' || *text == '\t')
        text++;
    size_t length = strlen(text);
    while (length > 0 && (text[length - 1] == ' ' || text[length - 1] == '\t' ||
                          text[length - 1] == '\r' || text[length - 1] == '\n'))
        text[--length] = '\0';
    return text;
}

/* Returns the value after "KEY:" when the comment text starts with it, else NULL. */
static char *directive_value(char *comment, const char *key)
{
    size_t key_length = strlen(key);
    if (strncmp(comment, key, key_length) != 0 || comment[key_length] != ':')
        return NULL;
    return trim(comment + key_length + 1);
}

/* True (and the error written) when `key`, a directive that takes one value, was given
 * before: a second one would silently replace the first (`-- expect: exit 1` then
 * `-- expect: exit 0` passed a run that exits 0). */
static bool given_twice(bool given, const char *key, char *error, size_t error_bytes)
{
    if (given)
        snprintf(error, error_bytes, "a second '-- %s:' directive (one per scenario)", key);
    return given;
}

/* Parses a header's duration; a refused one is an error that says which way it is wrong,
 * as run --until says it: not a duration (with an example), or longer than the longest. */
static int header_duration(const char *key, const char *value, const char *example,
                           uint64_t *duration_ns, char *error, size_t error_bytes)
{
    assert(key != NULL && value != NULL && example != NULL);
    int code = sim_duration_parse(value, duration_ns);
    if (code == 0)
        return 0;
    if (code == SIM_ELIMIT)
        snprintf(error, error_bytes, "'-- %s: %s' %s", key, value, sim_duration_problem(code));
    else
        snprintf(error, error_bytes, "'-- %s: %s' %s (e.g. %s)", key, value,
                 sim_duration_problem(code), example);
    return -1;
}

static int parse_directive(struct test_scenario *scenario, char *comment, char *error,
                           size_t error_bytes)
{
    char *value;
    if (given_twice(directive_value(comment, "expect") != NULL && scenario->exit_declared,
                    "expect", error, error_bytes) ||
        given_twice(directive_value(comment, "seeds") != NULL && scenario->has_seeds, "seeds",
                    error, error_bytes) ||
        given_twice(directive_value(comment, "timeout") != NULL && scenario->timeout_ns != 0,
                    "timeout", error, error_bytes) ||
        given_twice(directive_value(comment, "until") != NULL && scenario->until_text[0] != 0,
                    "until", error, error_bytes))
        return -1;
    if ((value = directive_value(comment, "expect")) != NULL) {
        uint64_t status;
        if (strncmp(value, "exit ", 5) != 0 || parse_u64(trim(value + 5),
            trim(value + 5) + strlen(trim(value + 5)), &status) < 0 || status > 255) {
            snprintf(error, error_bytes, "'-- expect: %s': write 'exit N' (0-255)", value);
            return -1;
        }
        scenario->expected_exit = (int)status;
        scenario->exit_declared = true;
    } else if ((value = directive_value(comment, "expect-error")) != NULL) {
        if (value[0] == '\0' || strlen(value) >= TEST_EXPECT_ERROR_BYTES_MAX ||
            scenario->expect_error_count == TEST_EXPECT_ERRORS_MAX) {
            snprintf(error, error_bytes, "'-- expect-error:' needs a text of 1 to %u bytes, "
                     "at most TEST_EXPECT_ERRORS_MAX (%u) lines",
                     TEST_EXPECT_ERROR_BYTES_MAX - 1, TEST_EXPECT_ERRORS_MAX);
            return -1;
        }
        strcpy(scenario->expect_errors[scenario->expect_error_count++], value);
    } else if ((value = directive_value(comment, "seeds")) != NULL) {
        char seeds_error[256];
        if (test_seeds_parse(value, &scenario->seeds, seeds_error, sizeof(seeds_error)) < 0) {
            snprintf(error, error_bytes, "'-- seeds:': %s", seeds_error);
            return -1;
        }
        scenario->has_seeds = true;
    } else if ((value = directive_value(comment, "timeout")) != NULL) {
        if (header_duration("timeout", value, "30s", &scenario->timeout_ns, error,
                            error_bytes) < 0)
            return -1;
        if (scenario->timeout_ns == 0) {
            snprintf(error, error_bytes, "'-- timeout: %s' " TEST_TIMEOUT_ZERO_TEXT, value);
            return -1;
        }
    } else if ((value = directive_value(comment, "until")) != NULL) {
        uint64_t until_ns;
        if (header_duration("until", value, "5s", &until_ns, error, error_bytes) < 0)
            return -1;
        /* A text longer than the runner keeps (leading zeros) is passed on as its ns. */
        if (strlen(value) < sizeof(scenario->until_text))
            strcpy(scenario->until_text, value);
        else
            snprintf(scenario->until_text, sizeof(scenario->until_text), "%" PRIu64 "ns",
                     until_ns);
    } else if (strcmp(comment, "slow") == 0 || directive_value(comment, "slow") != NULL) {
        scenario->slow = true;
    }
    return 0;
}

static const char *const directive_keys[] = { "expect", "expect-error", "seeds", "timeout",
                                              "until", "slow" };

static bool is_directive(char *comment)
{
    for (size_t key = 0; key < sizeof(directive_keys) / sizeof(directive_keys[0]); key++)
        if (directive_value(comment, directive_keys[key]) != NULL)
            return true;
    return strcmp(comment, "slow") == 0;
}

/* True (and the error written) when the comment is a directive misspelled: a word that is a
 * directive's name in other letters (case, '_' for '-', "seed" for "seeds") or spaced from
 * its colon, then a colon; or the word "slow" alone in other letters. `-- SEEDS: 1-3` was a
 * plain comment, and the scenario silently ran with seed 1 only. A word that is no
 * directive's name, or one not followed by a colon, stays prose. */
static bool misspelled_directive(const char *comment, char *error, size_t error_bytes)
{
    char word[16];
    size_t length = 0;
    for (; (comment[length] >= 'a' && comment[length] <= 'z') || comment[length] == '-' ||
           (comment[length] >= 'A' && comment[length] <= 'Z') || comment[length] == '_';
         length++) {
        if (length + 1 == sizeof(word))
            return false;       /* longer than any directive's name */
        char letter = comment[length];
        word[length] = letter == '_' ? '-' : letter >= 'A' && letter <= 'Z'
                       ? (char)(letter - 'A' + 'a') : letter;
    }
    word[length] = '\0';
    size_t before_colon = length;
    while (comment[before_colon] == ' ' || comment[before_colon] == '\t')
        before_colon++;
    bool colon = comment[before_colon] == ':';
    if (length == 0 || (!colon && !(comment[length] == '\0' && strcmp(word, "slow") == 0)))
        return false;
    const char *key = strcmp(word, "seed") == 0 ? "seeds" : word;
    for (size_t index = 0; index < sizeof(directive_keys) / sizeof(directive_keys[0]); index++) {
        if (strcmp(key, directive_keys[index]) != 0)
            continue;
        if (strncmp(comment, key, length) == 0 && strlen(key) == length &&
            (!colon || before_colon == length))
            return false;       /* spelled exactly */
        snprintf(error, error_bytes, "'-- %.*s' is not a directive: write '-- %s%s' (lower "
                 "case, the colon right after the name)", (int)before_colon, comment, key,
                 strcmp(key, "slow") == 0 ? "" : ":");
        return true;
    }
    return false;
}

/* Reads the leading comment block (up to TEST_HEADER_LINES_MAX lines). */
static void read_header(struct test_scenario *scenario)
{
    assert(scenario != NULL);
    FILE *file = fopen(scenario->path, "r");
    if (file == NULL)
        return;                  /* the run reports the unreadable file (exit 3) */
    char line[TEST_HEADER_LINE_BYTES_MAX];
    char error[sizeof(scenario->header_error) - 64] = "";
    uint64_t bytes_read = 0;    /* TEST_HEADER_BYTES_MAX: a file without newlines ends too */
    for (uint32_t number = 1; number <= TEST_HEADER_LINES_MAX; number++) {
        if (fgets(line, sizeof(line), file) == NULL)
            break;
        bytes_read += strlen(line);
        bool whole = strchr(line, '\n') != NULL || feof(file);
        int skipped;
        while (!whole && bytes_read < TEST_HEADER_BYTES_MAX &&
               (skipped = fgetc(file)) != EOF && skipped != '\n')
            bytes_read++;        /* the rest of a long comment line */
        if (bytes_read >= TEST_HEADER_BYTES_MAX)
            break;               /* the run reports a file that large (SIMLUA_FILE_BYTES_MAX) */
        char *text = line;
        if (number == 1 && strncmp(text, "\xEF\xBB\xBF", 3) == 0)
            text += 3;           /* a UTF-8 byte-order mark, which the run skips too */
        if (number == 1 && text[0] == '#')
            continue;            /* a "#!" line, which the run skips as `lua` does */
        text = trim(text);
        if (text[0] == '\0')
            continue;
        if (strncmp(text, "--", 2) != 0 || strncmp(text, "--[[", 4) == 0)
            break;
        char *comment = trim(text + 2);
        if (misspelled_directive(comment, error, sizeof(error))) {
            snprintf(scenario->header_error, sizeof(scenario->header_error),
                     "header line %u: %s", number, error);
            break;
        }
        if (!whole && is_directive(comment))
            snprintf(error, sizeof(error), "a directive line longer than "
                     "TEST_HEADER_LINE_BYTES_MAX (%u)", TEST_HEADER_LINE_BYTES_MAX);
        else if (!whole)
            continue;            /* a long plain comment */
        if (!whole || parse_directive(scenario, comment, error, sizeof(error)) < 0) {
            snprintf(scenario->header_error, sizeof(scenario->header_error),
                     "header line %u: %s", number, error);
            break;
        }
    }
    fclose(file);
    if (scenario->expect_error_count > 0 && !scenario->exit_declared)
        scenario->expected_exit = 1;
}

int test_scenario_read(struct test_scenario *scenario, const char *path)
{
    assert(scenario != NULL && path != NULL);
    memset(scenario, 0, sizeof(*scenario));
    if (strlen(path) >= TEST_PATH_BYTES_MAX)
        return -1;
    strcpy(scenario->path, path);
    read_header(scenario);
    return 0;
}

static int add_scenario(struct test_plan *plan, const char *path)
{
    if (plan->count == TEST_SCENARIOS_MAX) {
        fprintf(stderr, "vmcisim test: more than TEST_SCENARIOS_MAX (%u) scenarios\n",
                TEST_SCENARIOS_MAX);
        return -1;
    }
    if (strlen(path) >= TEST_PATH_BYTES_MAX) {
        fprintf(stderr, "vmcisim test: path longer than TEST_PATH_BYTES_MAX (%u): %.80s...\n",
                TEST_PATH_BYTES_MAX, path);
        return -1;
    }
    struct stat status;
    if (stat(path, &status) != 0) {
        fprintf(stderr, "vmcisim test: %s: %s\n", path, strerror(errno));
        return -1;
    }
    /* The same file named again (a folder and a file in it, './x.lua' and 'x.lua') would
     * run and count twice: it is planned once, where it was first met. */
    for (uint32_t index = 0; index < plan->count; index++)
        if (plan->scenarios[index].device == status.st_dev &&
            plan->scenarios[index].inode == status.st_ino)
            return 0;
    struct test_scenario *scenario = &plan->scenarios[plan->count++];
    memset(scenario, 0, sizeof(*scenario));
    strcpy(scenario->path, path);
    scenario->device = status.st_dev;
    scenario->inode = status.st_ino;
    return 0;
}

static bool is_lua(const char *name)
{
    size_t length = strlen(name);
    return length > 4 && strcmp(name + length - 4, ".lua") == 0;
}

static int walk(struct test_plan *plan, const char *folder, uint32_t depth)
{
    if (depth > TEST_DEPTH_MAX) {
        fprintf(stderr, "vmcisim test: %s: folders nested deeper than TEST_DEPTH_MAX (%u)\n",
                folder, TEST_DEPTH_MAX);
        return -1;
    }
    DIR *directory = opendir(folder);
    if (directory == NULL) {
        fprintf(stderr, "vmcisim test: %s: %s\n", folder, strerror(errno));
        return -1;
    }
    int rc = 0;
    struct dirent *entry;
    char path[TEST_PATH_BYTES_MAX];
    while (rc == 0 && (entry = readdir(directory)) != NULL) {
        if (entry->d_name[0] == '.')
            continue;            /* ., .. and hidden files */
        int written = snprintf(path, sizeof(path), "%s%s%s", folder,
                               folder[strlen(folder) - 1] == '/' ? "" : "/", entry->d_name);
        if (written < 0 || (size_t)written >= sizeof(path)) {
            fprintf(stderr, "vmcisim test: path longer than TEST_PATH_BYTES_MAX (%u) in %s\n",
                    TEST_PATH_BYTES_MAX, folder);
            rc = -1;
            break;
        }
        struct stat status;
        if (stat(path, &status) != 0)
            continue;            /* a dangling link is not a scenario */
        if (S_ISDIR(status.st_mode))
            rc = walk(plan, path, depth + 1);
        else if (S_ISREG(status.st_mode) && is_lua(entry->d_name))
            rc = add_scenario(plan, path);
    }
    closedir(directory);
    return rc;
}

static int compare_scenarios(const void *left, const void *right)
{
    return strcmp(((const struct test_scenario *)left)->path,
                  ((const struct test_scenario *)right)->path);
}

const struct test_seeds *test_plan_seeds(const struct test_scenario *scenario,
                                         const struct test_options *options)
{
    if (options->has_seeds)
        return &options->seeds;
    if (scenario->has_seeds)
        return &scenario->seeds;
    static struct test_seeds seed_one = { .ranges = { { 1, 1 } }, .range_count = 1, .count = 1 };
    return &seed_one;
}

int test_plan_build(struct test_plan *plan, char **paths, int path_count,
                    const struct test_options *options)
{
    assert(plan != NULL && paths != NULL && options != NULL);
    memset(plan, 0, sizeof(*plan));
    plan->scenarios = calloc(TEST_SCENARIOS_MAX, sizeof(*plan->scenarios));
    if (plan->scenarios == NULL) {
        fprintf(stderr, "vmcisim test: out of memory\n");
        return -1;
    }
    for (int index = 0; index < path_count; index++) {
        struct stat status;
        uint32_t first = plan->count;
        if (stat(paths[index], &status) != 0) {
            fprintf(stderr, "vmcisim test: %s: %s\n", paths[index], strerror(errno));
            return -1;
        }
        if (!S_ISDIR(status.st_mode) && !S_ISREG(status.st_mode)) {
            fprintf(stderr, "vmcisim test: %s: neither a file nor a folder\n", paths[index]);
            return -1;
        }
        int rc = S_ISDIR(status.st_mode) ? walk(plan, paths[index], 0)
                                         : add_scenario(plan, paths[index]);
        if (rc < 0)
            return -1;
        qsort(plan->scenarios + first, plan->count - first, sizeof(*plan->scenarios),
              compare_scenarios);
    }
    for (uint32_t index = 0; index < plan->count; index++) {
        read_header(&plan->scenarios[index]);
        const struct test_scenario *scenario = &plan->scenarios[index];
        plan->case_count += scenario->slow && !options->slow
                                ? 1 : test_plan_seeds(scenario, options)->count;
        if (plan->case_count > TEST_CASES_MAX) {
            fprintf(stderr, "vmcisim test: more than TEST_CASES_MAX (%u) scenario and seed "
                    "cases; use `vmcisim sweep` for long seed ranges\n", TEST_CASES_MAX);
            return -1;
        }
    }
    return 0;
}

void test_plan_free(struct test_plan *plan)
{
    free(plan->scenarios);
    plan->scenarios = NULL;
    plan->count = 0;
}
