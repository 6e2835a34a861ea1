/* SPDX-License-Identifier: MIT */
/*
 * sim/lua/jitter.c: the `jitter` option of sim.world (docs/cost-model.md, "Jitter").
 *
 *   jitter = true                       every cost +-50 %, seeded wake-up order
 *   jitter = false | nil                off (the default: runs are as without the option)
 *   jitter = { interrupt_ns = true | false | { min = A, max = B } | { mean = M, spread = S }
 *                            | { percent = P }, <any cost name> = ..., schedule = true }
 *
 * Parsing checks everything and raises before the world exists (sim.world creates nothing
 * until every option is valid); applying it to the new world only attaches streams, which a
 * fresh engine always has room for. Every draw comes from a named stream of the world's seed
 * (vmci/cost.h, sim/engine/engine.h), so a run with jitter is still a function of the seed.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>

#include "lua_int.h"
#include "vmci/cost.h"
#include "vmci/hypervisor.h"

/* What `jitter = true` and `name = true` mean for a cost: uniform within +-50 % of it. */
#define JITTER_DEFAULT_PERCENT 50u

static uint64_t check_amount(lua_State *L, int table, const char *field, const char *what,
                             const char *name)
{
    lua_getfield(L, table, field);
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0 ||
        lua_tointeger(L, -1) > SIMLUA_COST_VALUE_MAX)
        luaL_error(L, "sim.world jitter: %s.%s must be an integer in 0..%I (%s; "
                   "SIMLUA_COST_VALUE_MAX)", name, field, (lua_Integer)SIMLUA_COST_VALUE_MAX,
                   what);
    uint64_t value = (uint64_t)lua_tointeger(L, -1);
    lua_pop(L, 1);
    return value;
}

/* One cost's setting, at `index` (a boolean or a table). */
static struct vmci_jitter parse_cost(lua_State *L, int index, const char *name)
{
    struct vmci_jitter jitter = { .mode = VMCI_JITTER_OFF };
    if (lua_isboolean(L, index)) {
        if (lua_toboolean(L, index)) {
            jitter.mode = VMCI_JITTER_PERCENT;
            jitter.percent = JITTER_DEFAULT_PERCENT;
        }
        return jitter;
    }
    if (!lua_istable(L, index))
        luaL_error(L, "sim.world jitter: %s must be true, false or a table", name);
    static const char *const allowed[] = { "min", "max", "mean", "spread", "percent", NULL };
    simlua__check_options(L, index, allowed, "sim.world jitter");
    bool has_min = lua_getfield(L, index, "min") != LUA_TNIL;
    bool has_mean = lua_getfield(L, index, "mean") != LUA_TNIL;
    bool has_percent = lua_getfield(L, index, "percent") != LUA_TNIL;
    lua_pop(L, 3);
    if (has_min + has_mean + has_percent != 1)
        luaL_error(L, "sim.world jitter: %s needs exactly one of {min, max}, {mean, spread} or "
                   "{percent}", name);
    if (has_min) {
        jitter.mode = VMCI_JITTER_RANGE;
        jitter.min = check_amount(L, index, "min", "a bound", name);
        jitter.max = check_amount(L, index, "max", "a bound", name);
        if (jitter.min > jitter.max)
            luaL_error(L, "sim.world jitter: %s.min is above %s.max", name, name);
    } else if (has_mean) {
        uint64_t mean = check_amount(L, index, "mean", "the centre", name);
        uint64_t spread = check_amount(L, index, "spread", "half the width", name);
        if (spread > mean || mean > UINT64_MAX - spread)
            luaL_error(L, "sim.world jitter: %s.spread must be <= %s.mean (a draw is >= 0)",
                       name, name);
        jitter.mode = VMCI_JITTER_RANGE;
        jitter.min = mean - spread;
        jitter.max = mean + spread;
    } else {
        uint64_t percent = check_amount(L, index, "percent", "of the cost", name);
        if (percent > VMCI_JITTER_PERCENT_MAX)
            luaL_error(L, "sim.world jitter: %s.percent must be <= %d", name,
                       (int)VMCI_JITTER_PERCENT_MAX);     /* luaL_error knows no %u */
        jitter.mode = VMCI_JITTER_PERCENT;
        jitter.percent = (uint32_t)percent;
    }
    return jitter;
}

/* A boolean field of the jitter table (absent: false). */
static bool parse_flag(lua_State *L, int table, const char *field)
{
    int type = lua_getfield(L, table, field);
    if (type != LUA_TNIL && type != LUA_TBOOLEAN)
        luaL_error(L, "sim.world jitter: %s must be true or false", field);
    bool on = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return on;
}

static void parse_table(lua_State *L, int index, struct simlua_jitter *out)
{
    const char *allowed[VMCI_COST_COUNT + 2];
    for (int id = 0; id < VMCI_COST_COUNT; id++)
        allowed[id] = vmci_cost_names[id];
    allowed[VMCI_COST_COUNT] = "schedule";
    allowed[VMCI_COST_COUNT + 1] = NULL;
    simlua__check_options(L, index, allowed, "sim.world jitter");
    for (int id = 0; id < VMCI_COST_COUNT; id++) {
        if (lua_getfield(L, index, vmci_cost_names[id]) != LUA_TNIL)
            out->costs[id] = parse_cost(L, lua_gettop(L), vmci_cost_names[id]);
        lua_pop(L, 1);
    }
    out->schedule = parse_flag(L, index, "schedule");
}

void simlua__jitter_parse(lua_State *L, int options, struct simlua_jitter *out)
{
    assert(out != NULL);
    *out = (struct simlua_jitter){ .schedule = false };
    int type = lua_getfield(L, options, "jitter");
    int index = lua_gettop(L);
    if (type == LUA_TBOOLEAN) {
        if (lua_toboolean(L, index)) {
            for (int id = 0; id < VMCI_COST_COUNT; id++) {
                out->costs[id].mode = VMCI_JITTER_PERCENT;
                out->costs[id].percent = JITTER_DEFAULT_PERCENT;
            }
            out->schedule = true;
        }
    } else if (type == LUA_TTABLE) {
        parse_table(L, index, out);
    } else if (type != LUA_TNIL) {
        luaL_error(L, "sim.world: jitter must be true, false or a table");
    }
    lua_pop(L, 1);
}

/* The `jitter` event: what is drawn, so a trace says how its run varied. Emitted only when
 * something is on, so a world without jitter traces what it always did. */
static void trace_jitter(struct simlua_world *world, const struct simlua_jitter *jitter)
{
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_API, "jitter", SIMLUA_CID_HOST, 0);
    char texts[VMCI_COST_COUNT][64];
    for (int id = 0; id < VMCI_COST_COUNT; id++) {
        const struct vmci_jitter *cost = &jitter->costs[id];
        if (cost->mode == VMCI_JITTER_OFF)
            continue;
        if (cost->mode == VMCI_JITTER_RANGE)
            snprintf(texts[id], sizeof(texts[id]), "range %" PRIu64 "..%" PRIu64, cost->min,
                     cost->max);
        else
            snprintf(texts[id], sizeof(texts[id]), "percent %u", cost->percent);
        sim_trace_field_str(&event, vmci_cost_names[id], texts[id]);
    }
    if (jitter->schedule)
        sim_trace_field_str(&event, "schedule", "seeded");
    assert(event.field_count <= VMCI_COST_COUNT + 1);
    if (event.field_count > 0)
        (void)sim_engine_emit(world->engine, &event);
}

void simlua__jitter_apply(struct simlua_world *world, const struct simlua_jitter *jitter)
{
    assert(world != NULL && jitter != NULL);
    struct vmci_cost *cost = vmci_hypervisor_cost(world->hypervisor);
    for (int id = 0; id < VMCI_COST_COUNT; id++) {
        if (jitter->costs[id].mode == VMCI_JITTER_OFF)
            continue;       /* no stream: a world without jitter creates none */
        int rc = vmci_cost_jitter_set(cost, world->engine, (enum vmci_cost_id)id,
                                      jitter->costs[id]);
        assert(rc == SIM_OK);   /* checked by the parser; a fresh engine has stream room */
        (void)rc;
    }
    if (jitter->schedule) {
        int rc = sim_engine_set_wakeup_shuffle(world->engine, true);
        assert(rc == SIM_OK);
        (void)rc;
    }
    trace_jitter(world, jitter);
}
