/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_trace_runs.h: the traced-run figures of `make bench` (bench_trace_runs.c),
 * called by bench_trace() with its temporary directory.
 */
#ifndef BENCH_BENCH_TRACE_RUNS_H
#define BENCH_BENCH_TRACE_RUNS_H

/* Prints trace_stream_h2g_64k_traced, trace_stream_h2g_64k_traced_cpu,
 * trace_stream_h2g_64k_floor, trace_replay_s, trace_replay_cpu_s,
 * trace_dg_roundtrips_traced and trace_dg_roundtrips_floor; files go in `dir`. */
void bench_trace_runs(const char *dir);

#endif /* BENCH_BENCH_TRACE_RUNS_H */
