/* SPDX-License-Identifier: MIT */
/*
 * sim/engine/duration.h: parsing and printing simulated durations.
 *
 * "250ms", "1.5ms", "3s", "1500us", "42ns" or a bare number of ns; decimals are
 * rounded to the nearest ns (half away from zero) with integer arithmetic, so
 * the same text gives the same time on every machine.
 */
#ifndef SIM_ENGINE_DURATION_H
#define SIM_ENGINE_DURATION_H

#include <stddef.h>
#include <stdint.h>

/* The longest duration a text may give: one ns short of UINT64_MAX. */
#define SIM_DURATION_NS_MAX (UINT64_MAX - 1)
/* What a message says of a text longer than that (sim_duration_problem's SIM_ELIMIT words,
 * a literal so that a caller may put it in a format of its own). */
#define SIM_DURATION_TOO_LONG_TEXT "is longer than the longest duration (18446744073.709551614 s)"

/* Returns 0 and the duration in *out_ns; SIM_ELIMIT for the text of a duration longer than
 * SIM_DURATION_NS_MAX; SIM_EINVAL for anything else (not a duration, negative). */
int sim_duration_parse(const char *text, uint64_t *out_ns);
/* What a message says after a refused text (code: sim_duration_parse's): "is not a
 * duration", or for SIM_ELIMIT that it is longer than the longest. */
const char *sim_duration_problem(int code);
/* Writes "<seconds>.<9 digits>" (e.g. "0.001500000") into buffer. */
void sim_time_format(uint64_t time_ns, char *buffer, size_t buffer_bytes);

#endif /* SIM_ENGINE_DURATION_H */
