/* SPDX-License-Identifier: MIT */
/*
 * sim/lua/runtime.h: runs one Lua scenario in the deterministic sandbox.
 *
 * This is the one header of sim/lua that sim/cli includes. The runtime owns the
 * Lua state, the world (created by the scenario's sim.world{}) and its engine;
 * the caller supplies the trace sinks to attach when the world is created and
 * reads back what the run loaded and how it ended.
 */
#ifndef SIM_LUA_RUNTIME_H
#define SIM_LUA_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim/engine/engine.h"
#include "sim/engine/trace.h"

/* Files one run may load (the scenario plus everything it requires). */
#define SIMLUA_FILES_MAX 256u
/* Size of one loaded Lua file. */
#define SIMLUA_FILE_BYTES_MAX (16u * 1024 * 1024)
/* Memory of the Lua state (strings, tables, coroutines): a runaway scenario fails
 * with a clear error instead of exhausting the machine. */
#define SIMLUA_MEMORY_BYTES_MAX (4ull * 1024 * 1024 * 1024)
/* Lua instructions one process step (or the chunk, or one w:at callback) may run
 * before it is stopped as an endless loop; checked every SIMLUA_HOOK_INSTRUCTIONS. */
#define SIMLUA_INSTRUCTIONS_PER_STEP_MAX 4000000000ull
#define SIMLUA_HOOK_INSTRUCTIONS (1u << 20)
/* Scenario arguments after `--`. */
#define SIMLUA_ARGS_MAX 256u

/* Fault rates (docs/faults.md, "Rates"): `sim.world{ faults = { suspend = R, ... } }`.
 * Their names, in the order of the end-of-run `fault_rate` events. */
#define SIMLUA_FAULT_RATE_COUNT 4
/* The name of rate `rate` (0 .. SIMLUA_FAULT_RATE_COUNT - 1), or NULL; -1 for an unknown
 * name from simlua_fault_rate_of. */
const char *simlua_fault_rate_name(int rate);
int simlua_fault_rate_of(const char *name);

enum simlua_exit {
    SIMLUA_EXIT_PASS = 0,
    SIMLUA_EXIT_FAIL = 1,       /* expect failed, error, deadlock, limit */
    SIMLUA_EXIT_USAGE = 2,
    SIMLUA_EXIT_LOAD = 3,       /* scenario or a required file missing or not valid Lua */
};

struct simlua_options {
    const char *scenario_path;
    uint64_t seed;              /* --seed; sim.world{seed=} overrides */
    uint64_t until_ns;          /* --until; SIM_TIME_NEVER when not given */
    bool quiet;                 /* -q: no sim.log lines, no summary */
    bool verbose;               /* -v: every trace event on stderr */
    bool paranoid;              /* --paranoid: world invariants after every event */
    int arg_count;              /* scenario arguments, visible as `arg` */
    char **args;
    const struct sim_trace_sink *sinks;     /* attached when the world is created */
    uint32_t sink_count;
    sim_progress_fn progress_fn;            /* optional, output only (engine.h) */
    void *progress_state;
    uint64_t progress_every_events;
    /* Replay: the scenario and every file it requires come from these texts (by exact
     * path, as the traced run loaded them), never from disk; a path not among them is a
     * load error. NULL: from disk. Borrowed for the runtime's life. */
    const struct simlua_file *preloaded;
    uint32_t preloaded_count;
    /* --allow-exec: ep:exec may start real programs (docs/programs.md). */
    bool allow_exec;
    /* SIMLUA_INSTRUCTIONS_PER_STEP_MAX when 0 (tests set a lower one). */
    uint64_t instructions_per_step_max;
    /* A sweep worker's runtimes, one scenario seed after seed: the walks that number the
     * built-in functions are recorded by the first and replayed by the next (the same
     * objects and numbers, sim/lua/sandbox.c). */
    bool reuse_walks;
    /* A sweep worker's runtimes: a chunk loaded again with the same name and text (the
     * scenario, the files it requires) is loaded from the code the first parse made, with
     * the same objects a scenario can see (sim/lua/chunk_cache.c). */
    bool reuse_chunks;
    /* A sweep worker's runtimes: simlua_destroy frees the Lua state's memory whole (the
     * pool's slabs and the malloc'd blocks) instead of closing it object by object, when no
     * object whose finalizer frees memory outside the state was made (runtime.c). */
    bool teardown_wholesale;
};

struct simlua_file {
    char *path;
    char *text;
    size_t text_bytes;
};

struct simlua_outcome {
    enum simlua_exit exit_code;
    bool world_created;
    uint64_t seed;              /* the world's seed (options.seed if no world) */
    char product[64];
    uint64_t now_ns;
    uint64_t events_run;
    uint64_t trace_events;
    uint32_t failure_count;
    const char *stopped;        /* "idle", "until", ... of the last run; "" if none */
};

struct simlua_runtime;

/* Ownership: returns a new runtime owned by the caller; free with simlua_destroy(). */
struct simlua_runtime *simlua_create(const struct simlua_options *options);
void simlua_destroy(struct simlua_runtime *runtime);

/* Loads and runs the scenario, then runs the world to completion if the scenario did not
 * call w:run() itself. Messages go to stdout (sim.log) and stderr (failures). */
void simlua_run(struct simlua_runtime *runtime, struct simlua_outcome *outcome);

/* Full collections of the Lua state so far (the runtime decides when: runtime.c); read
 * by `make bench` (bench/bench_fleet.c). */
uint64_t simlua_gc_collections(const struct simlua_runtime *runtime);

/* Files loaded by the run, in load order (the scenario first). */
uint32_t simlua_file_count(const struct simlua_runtime *runtime);
const struct simlua_file *simlua_file(const struct simlua_runtime *runtime, uint32_t index);

#endif /* SIM_LUA_RUNTIME_H */
