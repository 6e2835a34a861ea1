/* SPDX-License-Identifier: MIT */
/*
 * bench/bench.h: the benchmark list and the one output format.
 *
 * Every figure is printed as one line:
 *   bench <name> <value> <unit> ref <reference-value> ratio <r> target <t>
 * so that tools can track it across versions; a figure with no honest reference (a
 * property of the cost model, a plain wall time) prints "ref none ratio none target none"
 * rather than a ratio to itself. Wall time is read here and only
 * here (benchmarks measure the simulator; they never feed the simulation).
 */
#ifndef BENCH_BENCH_H
#define BENCH_BENCH_H

#include <stdint.h>

#define BENCHES(X) \
    X(engine)      \
    X(trace)       \
    X(queue_pair)  \
    X(vmci)        \
    X(vsock)       \
    X(fleet)       \
    X(lua)         \
    X(digest)      \
    X(exec)

#define BENCH_DECLARE(name) void bench_##name(void);
BENCHES(BENCH_DECLARE)
#undef BENCH_DECLARE

/* Monotonic wall-clock seconds (benchmarks only). */
double bench_now_seconds(void);
/* Prints the fixed-form line; value and reference in the same unit. */
void bench_report(const char *name, double value, const char *unit, double reference,
                  double target);
/* The same line for a figure without a reference. */
void bench_report_value(const char *name, double value, const char *unit);
/* Writes `text` to `path` (a scenario for a benchmark to run); 0, or -1. */
int bench_write_file(const char *path, const char *text);
/* Keeps the optimiser from discarding a computed value. */
void bench_sink_u64(uint64_t value);
/* Prints `bench ERROR FIGURE: message`; the bench program then exits with status 1 (a figure
 * that could not be measured fails `make bench`, it is never left out silently). */
void bench_error(const char *figure, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

#endif /* BENCH_BENCH_H */
