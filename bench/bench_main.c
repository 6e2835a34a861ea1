/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_main.c: `make bench` runs every benchmark of bench.h in order.
 * Usage: bench [NAME]  (no argument: all). Figures are printed, never asserted.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <time.h>

#include "bench.h"

static volatile uint64_t bench_sink_value;

static int bench_errors;

static void exit_status_on_error(void)
{
    if (bench_errors != 0) {
        fflush(NULL);
        _exit(1);
    }
}

void bench_error(const char *figure, const char *format, ...)
{
    if (bench_errors++ == 0)
        atexit(exit_status_on_error);
    va_list args;
    va_start(args, format);
    printf("bench ERROR %s: ", figure);
    vprintf(format, args);
    printf("\n");
    fflush(stdout);
    va_end(args);
}

int bench_write_file(const char *path, const char *text)
{
    FILE *file = fopen(path, "w");
    if (file == NULL)
        return -1;
    size_t length = strlen(text);
    int rc = fwrite(text, 1, length, file) == length ? 0 : -1;
    if (fclose(file) != 0)
        rc = -1;
    return rc;
}

double bench_now_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

void bench_report(const char *name, double value, const char *unit, double reference,
                  double target)
{
    double ratio = reference > 0 ? value / reference : 0.0;
    printf("bench %s %.3e %s ref %.3e ratio %.2f target %.2f\n", name, value, unit, reference,
           ratio, target);
    fflush(stdout);
}

void bench_report_value(const char *name, double value, const char *unit)
{
    printf("bench %s %.3e %s ref none ratio none target none\n", name, value, unit);
    fflush(stdout);
}

void bench_sink_u64(uint64_t value)
{
    bench_sink_value ^= value;
}

int main(int argc, char **argv)
{
#define BENCH_RUN(name)                                  \
    if (argc < 2 || strcmp(argv[1], #name) == 0)         \
        bench_##name();
    BENCHES(BENCH_RUN)
#undef BENCH_RUN
    return 0;
}
