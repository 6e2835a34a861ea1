/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/replay_main.c: main() for a fuzz target without libFuzzer: each argument is
 * a file or a folder of files (not recursive, in name order, so a replay is the same
 * everywhere), and every file is one input passed to LLVMFuzzerTestOneInput. This is how
 * `make test` (gcc) keeps the targets built and their corpus, crash reproducers
 * included, passing. Prints "replay: N inputs" on stderr on success; a broken invariant aborts in
 * the target (fuzz_fail), naming the input on stderr just before.
 *
 * Bounds: REPLAY_INPUT_BYTES_MAX per input (libFuzzer's own default -max_len is far
 * below), REPLAY_FILES_MAX files per folder.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#define REPLAY_INPUT_BYTES_MAX (4u * 1024 * 1024)
#define REPLAY_FILES_MAX 4096u
#define REPLAY_PATH_BYTES_MAX 4096u

/* Targets without one-time set-up do not define it; libFuzzer declares it weak too. */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

static int replay_file(const char *path, uint64_t *count)
{
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    uint8_t *data = malloc(REPLAY_INPUT_BYTES_MAX + 1);
    if (data == NULL) {
        fclose(file);
        fprintf(stderr, "replay: out of memory\n");
        return -1;
    }
    size_t size = fread(data, 1, REPLAY_INPUT_BYTES_MAX + 1, file);
    bool failed = ferror(file) != 0;
    fclose(file);
    if (failed || size > REPLAY_INPUT_BYTES_MAX) {
        fprintf(stderr, "replay: %s: %s\n", path,
                failed ? "read error" : "larger than REPLAY_INPUT_BYTES_MAX");
        free(data);
        return -1;
    }
    fprintf(stderr, "replay: input %s\n", path);
    (void)LLVMFuzzerTestOneInput(data, size);
    free(data);
    (*count)++;
    return 0;
}

static int compare_names(const void *left, const void *right)
{
    return strcmp(*(char *const *)left, *(char *const *)right);
}

static int replay_folder(const char *folder, uint64_t *count)
{
    DIR *dir = opendir(folder);
    if (dir == NULL) {
        fprintf(stderr, "replay: %s: %s\n", folder, strerror(errno));
        return -1;
    }
    char **names = calloc(REPLAY_FILES_MAX, sizeof(*names));
    uint32_t name_count = 0;
    int rc = names == NULL ? -1 : 0;
    struct dirent *entry;
    while (rc == 0 && (entry = readdir(dir)) != NULL) {
        if (entry->d_name[0] == '.')
            continue;
        if (name_count >= REPLAY_FILES_MAX) {
            fprintf(stderr, "replay: %s: more than %u files\n", folder, REPLAY_FILES_MAX);
            rc = -1;
        } else if ((names[name_count] = strdup(entry->d_name)) == NULL) {
            rc = -1;
        } else {
            name_count++;
        }
    }
    closedir(dir);
    if (names != NULL)
        qsort(names, name_count, sizeof(*names), compare_names);
    char path[REPLAY_PATH_BYTES_MAX];
    for (uint32_t index = 0; index < name_count; index++) {
        int written = snprintf(path, sizeof(path), "%s/%s", folder, names[index]);
        if (rc == 0 && (written < 0 || (size_t)written >= sizeof(path)))
            rc = -1;
        else if (rc == 0)
            rc = replay_file(path, count);
        free(names[index]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|FOLDER...\n", argv[0]);
        return 2;
    }
    if (LLVMFuzzerInitialize != NULL)
        (void)LLVMFuzzerInitialize(&argc, &argv);
    uint64_t count = 0;
    for (int index = 1; index < argc; index++) {
        struct stat info;
        if (stat(argv[index], &info) != 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[index], strerror(errno));
            return 1;
        }
        int rc = S_ISDIR(info.st_mode) ? replay_folder(argv[index], &count)
                                       : replay_file(argv[index], &count);
        if (rc != 0)
            return 1;
    }
    fprintf(stderr, "replay: %llu inputs\n", (unsigned long long)count);
    return 0;
}
