/* SPDX-License-Identifier: MIT */
/*
 * sim/lua/world.c: the `vmcisim` module (sim.*) and the world object (w:*).
 *
 * One world per run. Creating it creates the engine with the scenario's seed
 * and limits and attaches the runtime's trace sinks; w:run drives the engine.
 * w:at callbacks run on the main Lua thread inside w:run, under lua_pcall, so
 * an error in one is a recorded failure and never unwinds through the engine.
 */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "lua_int.h"
#include "sim/engine/duration.h"
#include "sim/version.h"
#include "vmci/cost.h"
#include "vmci/profile.h"


struct simlua_world *simlua__check_world(lua_State *L, int index)
{
    struct simlua_world **slot = simlua__object_check(L, index, SIMLUA_TYPE_WORLD);
    luaL_argcheck(L, *slot != NULL, index, "the world has been destroyed");
    return *slot;
}

/* Resolves (product, host_os) to a profile (D2, section 9); raises on an unknown pair. */
static struct vmci_profile check_product(lua_State *L, const char *product, const char *host_os)
{
    struct vmci_profile profile;
    char message[128];
    if (host_os != NULL && strncmp(product, "esxi-", 5) == 0)
        luaL_error(L, "sim.world: host_os applies to hosted products only, not '%s'", product);
    int rc = vmci_profile_lookup(product, host_os, &profile, message, sizeof(message));
    if (rc == -1)
        luaL_error(L, "sim.world: %s (known: esxi-4.0 ... esxi-6.5, workstation-6.5 ... "
                      "workstation-9, server-2.0, player-2.5 ... player-5, fusion-3 ... fusion-5; "
                      "docs/scenario-api.md)", message);
    if (rc < 0)
        luaL_error(L, "sim.world: %s", message);
    return profile;
}

static uint64_t limit_field(lua_State *L, int table, const char *name, uint64_t value,
                            uint64_t ceiling)
{
    if (lua_getfield(L, table, name) != LUA_TNIL) {
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) <= 0)
            luaL_error(L, "sim.world: limits.%s must be a positive integer", name);
        value = (uint64_t)lua_tointeger(L, -1);
        if (value > ceiling)
            luaL_error(L, "sim.world: limits.%s = %I is above its ceiling %I", name,
                       (lua_Integer)value, (lua_Integer)ceiling);
    }
    lua_pop(L, 1);
    return value;
}

static struct sim_limits read_limits(lua_State *L, int options)
{
    struct sim_limits limits = sim_limits_default();
    if (lua_getfield(L, options, "limits") == LUA_TNIL) {
        lua_pop(L, 1);
        return limits;
    }
    int table = lua_gettop(L);
    static const char *const allowed[] = { "vms", "processes", "sockets", "events_pending",
                                           "trace_events", "qp_memory_bytes",
                                           "event_subscriptions", "queue_pairs", "handles",
                                           "backlog", "host_deliveries",
                                           "vmci_datagram_queue", "world_qp_memory_bytes",
                                           NULL };
    simlua__check_options(L, table, allowed, "sim.world limits");
    limits.vms_max = (uint32_t)limit_field(L, table, "vms", limits.vms_max, SIM_VMS_CEILING);
    limits.processes_max = (uint32_t)limit_field(L, table, "processes", limits.processes_max,
                                                 SIM_PROCESSES_CEILING);
    limits.sockets_max = (uint32_t)limit_field(L, table, "sockets", limits.sockets_max, UINT32_MAX);
    limits.events_pending_max = (uint32_t)limit_field(L, table, "events_pending",
                                                      limits.events_pending_max,
                                                      SIM_EVENTS_PENDING_CEILING);
    limits.trace_events_max = limit_field(L, table, "trace_events", limits.trace_events_max,
                                          INT64_MAX);
    limits.qp_memory_bytes_max = limit_field(L, table, "qp_memory_bytes",
                                             limits.qp_memory_bytes_max, INT64_MAX);
    limits.event_subscriptions_max = (uint32_t)limit_field(L, table, "event_subscriptions",
                                                           limits.event_subscriptions_max,
                                                           SIM_EVENT_SUBSCRIPTIONS_CEILING);
    limits.queue_pairs_max = (uint32_t)limit_field(L, table, "queue_pairs",
                                                   limits.queue_pairs_max,
                                                   SIM_QUEUE_PAIRS_CEILING);
    limits.handles_max = (uint32_t)limit_field(L, table, "handles", limits.handles_max,
                                               SIM_HANDLES_CEILING);
    limits.backlog_max = (uint32_t)limit_field(L, table, "backlog", limits.backlog_max,
                                               SIM_BACKLOG_CEILING);
    limits.host_deliveries_max = (uint32_t)limit_field(L, table, "host_deliveries",
                                                       limits.host_deliveries_max,
                                                       SIM_HOST_DELIVERIES_CEILING);
    limits.vmci_datagram_queue_max =
        (uint32_t)limit_field(L, table, "vmci_datagram_queue", limits.vmci_datagram_queue_max,
                              SIM_VMCI_DATAGRAM_QUEUE_CEILING);
    limits.world_qp_memory_bytes_max = limit_field(L, table, "world_qp_memory_bytes",
                                                   limits.world_qp_memory_bytes_max,
                                                   SIM_WORLD_QP_MEMORY_BYTES_CEILING);
    lua_pop(L, 1);
    return limits;
}

/* Applies a timing table (cost-model parameters by name, docs/cost-model.md) to `cost`.
 * Checks every name and value before changing anything. */
static void apply_timing(lua_State *L, int index, const char *what, struct vmci_cost *cost)
{
    if (lua_isnoneornil(L, index))
        return;
    simlua__check_options(L, index, vmci_cost_names, what);
    struct vmci_cost updated = *cost;
    for (size_t name = 0; vmci_cost_names[name] != NULL; name++) {
        if (lua_getfield(L, index, vmci_cost_names[name]) != LUA_TNIL) {
            if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0 ||
                lua_tointeger(L, -1) > SIMLUA_COST_VALUE_MAX)
                luaL_error(L, "%s: %s must be an integer in 0..%I (SIMLUA_COST_VALUE_MAX)", what,
                           vmci_cost_names[name], (lua_Integer)SIMLUA_COST_VALUE_MAX);
            int rc = vmci_cost_set(&updated, vmci_cost_names[name], (uint64_t)lua_tointeger(L, -1));
            assert(rc == 0);
            (void)rc;
        }
        lua_pop(L, 1);
    }
    *cost = updated;
}

static const char *optional_string(lua_State *L, int table, const char *field, const char *what)
{
    int type = lua_getfield(L, table, field);
    if (type == LUA_TNIL) {
        lua_pop(L, 1);
        return NULL;
    }
    if (type != LUA_TSTRING)
        luaL_error(L, "%s: %s must be a string", what, field);
    const char *value = lua_tostring(L, -1);
    lua_pop(L, 1);      /* still referenced by the options table */
    return value;
}

static uint64_t world_seed(lua_State *L, int options, uint64_t default_seed)
{
    int type = lua_getfield(L, options, "seed");
    uint64_t seed = default_seed;
    if (type != LUA_TNIL) {
        if (!lua_isinteger(L, -1))
            luaL_error(L, "sim.world: seed must be an integer");
        seed = (uint64_t)lua_tointeger(L, -1);
    }
    lua_pop(L, 1);
    return seed;
}

void simlua__world_destroy(struct simlua_world *world)
{
    if (world == NULL)
        return;
    simlua__programs_destroy(world);        /* children killed, sockets closed first */
    for (uint32_t index = 0; index < world->endpoint_count; index++) {
        struct simlua_net *net = world->endpoints[index].net;
        if (net != NULL && net->ready)
            vsock_stack_destroy(&net->stack);   /* before the hypervisor: memory only */
    }
    simlua__fault_rates_destroy(world);
    vmci_hypervisor_destroy(world->hypervisor);
    sim_engine_destroy(world->engine);
    for (uint32_t index = 0; index < world->endpoint_count; index++)
        free(world->endpoints[index].net);
    free(world->endpoints);
    free(world);
}

/* Returns NULL when out of memory (the caller raises). */
static struct simlua_world *world_allocate(lua_State *L, const struct sim_limits *limits,
                                           uint64_t seed, const struct vmci_profile *profile,
                                           const struct vmci_cost *cost)
{
    struct simlua_runtime *runtime = simlua__runtime(L);
    struct simlua_world *world = calloc(1, sizeof(*world));
    if (world == NULL)
        return NULL;
    world->runtime = runtime;
    sim_waitq_init(&world->poll_waitq, "poll");
    world->engine = sim_engine_create(limits, seed);
    world->hypervisor = world->engine != NULL
                            ? vmci_hypervisor_create(world->engine, profile, cost) : NULL;
    if (world->hypervisor == NULL) {
        sim_engine_destroy(world->engine);
        free(world);
        return NULL;
    }
    if (runtime->options.progress_fn != NULL)
        sim_engine_set_progress(world->engine, runtime->options.progress_fn,
                                runtime->options.progress_state,
                                runtime->options.progress_every_events);
    for (uint32_t index = 0; index < runtime->options.sink_count; index++) {
        int rc = sim_engine_sink_attach(world->engine, runtime->options.sinks[index]);
        assert(rc == SIM_OK);
        (void)rc;
    }
    return world;
}

static int sim_world(lua_State *L)
{
    struct simlua_runtime *runtime = simlua__runtime(L);
    if (simlua__in_finalizer(L))
        return luaL_error(L, "sim.world: not available in a __gc finalizer");
    if (runtime->world != NULL)
        return luaL_error(L, "sim.world: one world per run (a world already exists)");
    if (lua_isnoneornil(L, 1))
        lua_newtable(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    static const char *const allowed[] = { "seed", "product", "host_os", "timing", "limits",
                                           "jitter", "faults", NULL };
    simlua__check_options(L, 1, allowed, "sim.world");
    uint64_t seed = world_seed(L, 1, runtime->options.seed);
    const char *product = optional_string(L, 1, "product", "sim.world");
    const char *host_os = optional_string(L, 1, "host_os", "sim.world");
    if (product == NULL)
        product = "esxi-6.5";
    struct vmci_profile profile = check_product(L, product, host_os);
    struct vmci_cost cost = vmci_cost_default();
    lua_getfield(L, 1, "timing");
    apply_timing(L, lua_gettop(L), "sim.world timing", &cost);
    lua_pop(L, 1);
    struct sim_limits limits = read_limits(L, 1);
    struct simlua_jitter jitter;
    simlua__jitter_parse(L, 1, &jitter);
    struct simlua_faults faults;
    simlua__faults_parse(L, 1, profile.esx, &faults);
    struct simlua_world **slot = simlua__object_new(L, sizeof(*slot), SIMLUA_TYPE_WORLD);
    *slot = NULL;
    /* Everything that can raise is done; from here nothing does until the world is owned. */
    struct simlua_world *world = world_allocate(L, &limits, seed, &profile, &cost);
    if (world == NULL)
        return luaL_error(L, "sim.world: out of memory");
    snprintf(world->product, sizeof(world->product), "%s", product);
    snprintf(world->host_os, sizeof(world->host_os), "%s", vmci_host_os_name(profile.host_os));
    runtime->world = world;
    *slot = world;
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_API, "world_create", SIMLUA_CID_HOST, 0);
    sim_trace_field_u64(&event, "seed", seed);
    sim_trace_field_str(&event, "product", world->product);
    sim_trace_field_str(&event, "host_os", world->host_os);
    (void)sim_engine_emit(world->engine, &event);
    simlua__jitter_apply(world, &jitter);
    simlua__faults_apply(world, &faults);
    simlua__host_create(L, world);      /* the host endpoint, CID 2 */
    return 1;
}

/* sim.ns/us/ms/s: a number of units -> integer ns, rounded to nearest. */
static int time_in_units(lua_State *L, uint64_t scale_ns, const char *name)
{
    if (lua_isinteger(L, 1)) {
        lua_Integer units = lua_tointeger(L, 1);
        if (units < 0 || (uint64_t)units > (uint64_t)INT64_MAX / scale_ns)
            return luaL_error(L, "sim.%s: %I is negative or too large", name, units);
        lua_pushinteger(L, units * (lua_Integer)scale_ns);
        return 1;
    }
    lua_Number units = luaL_checknumber(L, 1);
    lua_Number value = units * (lua_Number)scale_ns;
    /* 2^63 itself is out of range; the largest double below it rounds to an integer in it. */
    if (!(value >= 0) || value >= 0x1p63)
        return luaL_error(L, "sim.%s: %f is negative, not a number or too large", name, units);
    lua_pushinteger(L, (lua_Integer)llround(value));
    return 1;
}

static int sim_ns(lua_State *L) { return time_in_units(L, 1, "ns"); }
static int sim_us(lua_State *L) { return time_in_units(L, 1000, "us"); }
static int sim_ms(lua_State *L) { return time_in_units(L, 1000000, "ms"); }
static int sim_s(lua_State *L) { return time_in_units(L, 1000000000, "s"); }

/* Adds a string field, clipped to the trace's bound with the full length beside it
 * (never silently): used for failure messages, which the scenario does not bound. */
static void field_clipped(struct sim_trace_event *event, const char *name, const char *text,
                          size_t length)
{
    if (length <= SIM_TRACE_STRING_BYTES_MAX) {
        sim_trace_field_strn(event, name, text, (uint32_t)length);
        return;
    }
    sim_trace_field_strn(event, name, text, SIM_TRACE_STRING_BYTES_MAX);
    sim_trace_field_u64(event, "message_bytes", length);
}

void simlua__report_failure(lua_State *L, const char *kind, const char *text, size_t length)
{
    struct simlua_runtime *runtime = simlua__runtime(L);
    struct simlua_process *current = simlua__current_process(runtime);
    const char *vm = current != NULL ? simlua__current_endpoint_name(runtime) : "";
    const char *process = current != NULL ? current->name : "";
    if (runtime->world != NULL) {
        struct sim_trace_event event;
        sim_trace_event_init(&event, SIM_LAYER_API, kind,
                             current != NULL ? runtime->world->endpoints[current->endpoint_index].cid
                                             : SIMLUA_CID_HOST,
                             current != NULL ? current->pid : 0);
        field_clipped(&event, "message", text, length);
        (void)sim_engine_emit(runtime->world->engine, &event);
    }
    simlua__failure(runtime, vm, process, text);
}

static int sim_expect(lua_State *L)
{
    luaL_checkany(L, 1);
    if (lua_toboolean(L, 1)) {
        lua_pushboolean(L, 1);
        return 1;
    }
    size_t length = 0;
    const char *message = lua_isnoneornil(L, 2) ? "expectation failed"
                                                : simlua__tostring(L, 2, &length);
    if (lua_isnoneornil(L, 2))
        length = strlen(message);
    lua_Debug where;
    char located[SIM_ERROR_MESSAGE_BYTES_MAX];
    if (lua_getstack(L, 1, &where) && lua_getinfo(L, "Sl", &where) && where.currentline > 0)
        snprintf(located, sizeof(located), "%s:%d: ", where.short_src, where.currentline);
    else
        located[0] = '\0';
    lua_pushfstring(L, "expect failed: %s%s", located, message);
    const char *text = lua_tolstring(L, -1, &length);
    simlua__report_failure(L, "expect_fail", text, length);
    lua_pushboolean(L, 0);
    return 1;
}

/* sim.log(fmt, ...): formatted like string.format when arguments follow, verbatim
 * otherwise (so a plain "100%" logs as written). */
static int sim_log(lua_State *L)
{
    struct simlua_runtime *runtime = simlua__runtime(L);
    luaL_checkstring(L, 1);
    if (lua_gettop(L) > 1) {
        lua_pushvalue(L, lua_upvalueindex(1));      /* the sandbox's string.format */
        lua_insert(L, 1);
        lua_call(L, lua_gettop(L) - 1, 1);
    }
    size_t length = 0;
    const char *text = lua_tolstring(L, 1, &length);
    if (length > SIM_TRACE_STRING_BYTES_MAX)
        return luaL_error(L, "sim.log: %d bytes of text exceed SIM_TRACE_STRING_BYTES_MAX (%d)",
                          (int)length, (int)SIM_TRACE_STRING_BYTES_MAX);
    struct simlua_process *current = simlua__current_process(runtime);
    struct simlua_world *world = runtime->world;
    if (world != NULL) {
        struct sim_trace_event event;
        sim_trace_event_init(&event, SIM_LAYER_API, "log",
                             current != NULL ? world->endpoints[current->endpoint_index].cid
                                             : SIMLUA_CID_HOST,
                             current != NULL ? current->pid : 0);
        sim_trace_field_strn(&event, "text", text, (uint32_t)length);
        (void)sim_engine_emit(world->engine, &event);
    }
    if (!runtime->options.quiet) {
        char time_text[32];
        sim_time_format(world != NULL ? sim_engine_now(world->engine) : 0, time_text,
                        sizeof(time_text));
        if (current != NULL)
            printf("[%s] %s/%s: ", time_text, simlua__current_endpoint_name(runtime),
                   current->name);
        else
            printf("[%s] world: ", time_text);
        fwrite(text, 1, length, stdout);
        fputc('\n', stdout);
    }
    return 0;
}

static int sim_checksum(lua_State *L)
{
    size_t length = 0;
    const char *bytes = luaL_checklstring(L, 1, &length);
    char hex[17];
    snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)XXH3_64bits(bytes, length));
    lua_pushstring(L, hex);
    return 1;
}

static void at_fire(void *context, void *arg, uint64_t data)
{
    (void)context;
    struct simlua_world *world = arg;
    lua_State *L = world->runtime->L;
    int reference = (int)data;
    lua_rawgeti(L, LUA_REGISTRYINDEX, reference);
    luaL_unref(L, LUA_REGISTRYINDEX, reference);
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_API, "callback", SIMLUA_CID_HOST, 0);
    (void)sim_engine_emit(world->engine, &event);
    simlua__step_begin(world->runtime);
    int status = simlua__pcall_traceback(L, 0, 0);
    if (status == LUA_ERRMEM) {
        /* Nothing more may be asked of the Lua state here (a raise would unwind through
         * the engine): a fixed text, and the run stops as for a process (process.c). */
        static const char text[] = "error in w:at callback: limit SIMLUA_MEMORY_BYTES_MAX "
                                   "exceeded (Lua memory)";
        simlua__report_failure(L, "callback_error", text, sizeof(text) - 1);
        lua_pop(L, 1);
        sim_engine_abort(world->engine, sim_engine_fail(world->engine, SIM_ELIMIT, "a w:at "
                         "callback ran out of Lua memory (limit SIMLUA_MEMORY_BYTES_MAX)"));
    } else if (status != LUA_OK) {
        size_t length = 0;
        const char *message = lua_tolstring(L, -1, &length);
        lua_pushfstring(L, "error in w:at callback: %s", message);
        message = lua_tolstring(L, -1, &length);
        simlua__report_failure(L, "callback_error", message, length);
        lua_pop(L, 2);
    }
}

static int schedule_callback(lua_State *L, uint64_t time_ns, const char *method)
{
    struct simlua_world *world = simlua__check_world(L, 1);
    luaL_checktype(L, 3, LUA_TFUNCTION);
    if (time_ns < sim_engine_now(world->engine))
        return luaL_error(L, "%s: time %I ns is in the past (now %I ns)", method,
                          (lua_Integer)time_ns, (lua_Integer)sim_engine_now(world->engine));
    lua_pushvalue(L, 3);
    int reference = luaL_ref(L, LUA_REGISTRYINDEX);
    int rc = sim_engine_schedule_at(world->engine, time_ns, at_fire, world, (uint64_t)reference,
                                    NULL);
    if (rc < 0) {
        luaL_unref(L, LUA_REGISTRYINDEX, reference);
        return luaL_error(L, "%s: %s", method, sim_engine_error_message(world->engine));
    }
    return 0;
}

static int world_at(lua_State *L)
{
    lua_Integer time_ns = luaL_checkinteger(L, 2);
    luaL_argcheck(L, time_ns >= 0, 2, "time must be >= 0 ns");
    return schedule_callback(L, (uint64_t)time_ns, "w:at");
}

static int world_after(lua_State *L)
{
    struct simlua_world *world = simlua__check_world(L, 1);
    lua_Integer delay_ns = luaL_checkinteger(L, 2);
    luaL_argcheck(L, delay_ns >= 0, 2, "delay must be >= 0 ns");
    uint64_t now_ns = sim_engine_now(world->engine);
    if ((uint64_t)delay_ns > SIM_TIME_END_NS - now_ns)
        return luaL_error(L, "w:after: delay of %I ns goes past the end of simulated time "
                          "(2^63-1 ns)", delay_ns);
    return schedule_callback(L, now_ns + (uint64_t)delay_ns, "w:after");
}

static void report_deadlock(struct simlua_world *world)
{
    struct sim_engine *engine = world->engine;
    char time_text[32];
    sim_time_format(sim_engine_now(engine), time_text, sizeof(time_text));
    fprintf(stderr, "[%s] deadlock: no events left and these processes wait forever:\n",
            time_text);
    uint32_t blocked = 0;
    uint32_t live = sim_engine_processes_live(engine);
    for (struct sim_process *process = sim_engine_processes_first(engine);
         process != NULL && blocked < live; process = process->live_next) {
        if (process->daemon)
            continue;
        /* A process runs in its endpoint's domain (its index): Lua processes and the
         * fibers of ep:exec programs alike (whose owner is not a simlua_process). */
        const char *endpoint = process->domain < world->endpoint_count
                                   ? world->endpoints[process->domain].name : "?";
        fprintf(stderr, "  %s/%s (pid %u) waits on %s\n", endpoint, process->name,
                process->pid, sim_process_waits_on(process));
        blocked++;
    }
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_API, "deadlock", SIMLUA_CID_HOST, 0);
    sim_trace_field_u64(&event, "blocked", blocked);
    (void)sim_engine_emit(engine, &event);
}

int simlua__world_run(struct simlua_world *world, uint64_t until_ns, uint64_t max_events,
                      lua_State *L)
{
    (void)L;
    struct simlua_runtime *runtime = world->runtime;
    if (runtime->options.until_ns < until_ns)
        until_ns = runtime->options.until_ns;
    world->run_called = true;
    world->running = true;
    simlua__invariants_arm(world);
    struct sim_run_result result;
    sim_engine_run(world->engine, until_ns, max_events, &result);
    world->running = false;
    world->has_run = true;
    world->last_stop = result.stopped;
    if (result.stopped == SIM_STOP_ERROR) {
        runtime->run_failed = true;
        return sim_engine_abort_code(world->engine);
    }
    if (result.stopped == SIM_STOP_DEADLOCK) {
        runtime->run_failed = true;
        report_deadlock(world);
    }
    return SIM_OK;
}

static void push_failures(lua_State *L, struct simlua_runtime *runtime)
{
    lua_createtable(L, (int)runtime->failure_count, 0);
    for (uint32_t index = 0; index < runtime->failure_count; index++) {
        const struct simlua_failure *failure = &runtime->failures[index];
        lua_createtable(L, 0, 4);
        lua_pushinteger(L, (lua_Integer)failure->time_ns);
        lua_setfield(L, -2, "time_ns");
        if (failure->vm[0] != '\0') {
            lua_pushstring(L, failure->vm);
            lua_setfield(L, -2, "vm");
        }
        if (failure->process[0] != '\0') {
            lua_pushstring(L, failure->process);
            lua_setfield(L, -2, "process");
        }
        lua_pushstring(L, failure->message);
        lua_setfield(L, -2, "message");
        lua_rawseti(L, -2, (lua_Integer)index + 1);
    }
}

static void push_blocked(lua_State *L, struct simlua_world *world)
{
    lua_newtable(L);
    lua_Integer position = 0;
    uint32_t live = sim_engine_processes_live(world->engine);
    uint32_t visited = 0;
    for (struct sim_process *process = sim_engine_processes_first(world->engine);
         process != NULL && visited < live; process = process->live_next, visited++) {
        if (process->state != SIM_PROCESS_BLOCKED)
            continue;
        struct simlua_process *owner = process->owner;
        lua_createtable(L, 0, 5);
        lua_pushstring(L, process->name);
        lua_setfield(L, -2, "process");
        lua_pushstring(L, world->endpoints[owner->endpoint_index].name);
        lua_setfield(L, -2, "vm");
        lua_pushinteger(L, process->pid);
        lua_setfield(L, -2, "pid");
        lua_pushstring(L, sim_process_waits_on(process));
        lua_setfield(L, -2, "waits_on");
        lua_pushboolean(L, process->daemon);
        lua_setfield(L, -2, "daemon");
        lua_rawseti(L, -2, ++position);
    }
}

static uint64_t optional_count(lua_State *L, int table, const char *field, uint64_t absent)
{
    uint64_t value = absent;
    if (lua_getfield(L, table, field) != LUA_TNIL) {
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0)
            luaL_error(L, "w:run: %s must be an integer >= 0", field);
        value = (uint64_t)lua_tointeger(L, -1);
    }
    lua_pop(L, 1);
    return value;
}

static int world_run(lua_State *L)
{
    struct simlua_world *world = simlua__check_world(L, 1);
    struct simlua_runtime *runtime = world->runtime;
    if (world->running || simlua__current_process(runtime) != NULL)
        return luaL_error(L, "w:run: cannot run the world from inside a process or a w:at "
                             "callback");
    if (!lua_pushthread(L))
        return luaL_error(L, "w:run: must be called from the main chunk, not a coroutine");
    lua_pop(L, 1);
    static const char *const allowed[] = { "until_ns", "max_events", NULL };
    simlua__check_options(L, 2, allowed, "w:run");
    uint64_t until_ns = SIM_TIME_NEVER;
    uint64_t max_events = 0;
    if (lua_istable(L, 2)) {
        until_ns = optional_count(L, 2, "until_ns", SIM_TIME_NEVER);
        max_events = optional_count(L, 2, "max_events", 0);
    }
    if (simlua__world_run(world, until_ns, max_events, L) < 0)
        return luaL_error(L, "w:run: run stopped: %s", sim_engine_error_message(world->engine));
    lua_createtable(L, 0, 5);
    lua_pushinteger(L, (lua_Integer)sim_engine_now(world->engine));
    lua_setfield(L, -2, "now_ns");
    lua_pushinteger(L, (lua_Integer)sim_engine_events_run(world->engine));
    lua_setfield(L, -2, "events");
    push_failures(L, runtime);
    lua_setfield(L, -2, "failures");
    push_blocked(L, world);
    lua_setfield(L, -2, "blocked");
    lua_pushstring(L, sim_stop_name(world->last_stop));
    lua_setfield(L, -2, "stopped");
    return 1;
}

static int world_timing(lua_State *L)
{
    struct simlua_world *world = simlua__check_world(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    apply_timing(L, 2, "w:timing", vmci_hypervisor_cost(world->hypervisor));
    return 0;
}

static int world_index(lua_State *L)
{
    struct simlua_world *world = simlua__check_world(L, 1);
    const char *key = luaL_checkstring(L, 2);
    if (strcmp(key, "now") == 0)
        lua_pushinteger(L, (lua_Integer)sim_engine_now(world->engine));
    else if (strcmp(key, "seed") == 0)
        lua_pushinteger(L, (lua_Integer)sim_engine_seed(world->engine));
    else if (strcmp(key, "events") == 0)
        lua_pushinteger(L, (lua_Integer)sim_engine_events_run(world->engine));
    else if (strcmp(key, "product") == 0)
        lua_pushstring(L, world->product);
    else if (strcmp(key, "host_os") == 0)
        lua_pushstring(L, world->host_os);
    else {
        lua_pushvalue(L, 2);
        lua_rawget(L, lua_upvalueindex(1));     /* the methods */
    }
    return 1;
}

static int world_tostring(lua_State *L)
{
    struct simlua_world *world = simlua__check_world(L, 1);
    lua_pushfstring(L, "world (%s, seed %I)", world->product,
                    (lua_Integer)sim_engine_seed(world->engine));
    return 1;
}

static void register_world(lua_State *L)
{
    static const luaL_Reg methods[] = {
        { "host", simlua__world_host }, { "vm", simlua__world_vm }, { "vms", simlua__world_vms },
        { "at", world_at }, { "after", world_after }, { "run", world_run },
        { "timing", world_timing }, { NULL, NULL },
    };
    simlua__metatable_new(L, SIMLUA_TYPE_WORLD);
    luaL_newlib(L, methods);
    lua_pushcclosure(L, world_index, 1);    /* methods as an upvalue: not in the metatable */
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, world_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);
}

int simlua__open_module(lua_State *L)
{
    register_world(L);
    simlua__endpoint_register(L);
    simlua__process_register(L);
    simlua__vmci_register(L);
    simlua__socket_register(L);
    static const luaL_Reg functions[] = {
        { "world", sim_world }, { "ns", sim_ns }, { "us", sim_us }, { "ms", sim_ms },
        { "s", sim_s }, { "expect", sim_expect }, { "pattern", simlua__sim_pattern },
        { "checksum", sim_checksum }, { NULL, NULL },
    };
    luaL_newlib(L, functions);
    lua_getglobal(L, "string");
    lua_getfield(L, -1, "format");
    lua_remove(L, -2);
    lua_pushcclosure(L, sim_log, 1);
    lua_setfield(L, -2, "log");
    static const struct { const char *name; lua_Integer value; } constants[] = {
        { "CID_ANY", 0xFFFFFFFF }, { "PORT_ANY", 0xFFFFFFFF }, { "CID_HYPERVISOR", 0 },
        { "CID_LOCAL", 1 }, { "CID_HOST", 2 }, { "AF_VSOCK", 40 },
    };
    for (size_t index = 0; index < sizeof(constants) / sizeof(constants[0]); index++) {
        lua_pushinteger(L, constants[index].value);
        lua_setfield(L, -2, constants[index].name);
    }
    lua_pushstring(L, VMCISIM_VERSION);
    lua_setfield(L, -2, "version");
    lua_pushboolean(L, simlua__runtime(L)->options.allow_exec);  /* --allow-exec */
    lua_setfield(L, -2, "exec_allowed");
    return 1;
}
