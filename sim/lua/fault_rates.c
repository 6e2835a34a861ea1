/* SPDX-License-Identifier: MIT */
/*
 * sim/lua/fault_rates.c: fault rates, docs/faults.md "Rates".
 *
 *   faults = { suspend = R, vmotion = R, power_cycle = R, kill = R,     arrivals per
 *              suspend_ns = D, power_off_ns = D, ... }                  simulated second
 *
 * Each rate that is on is a Poisson process: the gaps between its arrivals are drawn from
 * an exponential distribution of mean 1/R seconds, from the world's "faults" stream, in
 * integer fixed point (minus_ln_q32), so every machine draws the same times. An arrival
 * picks its victim from the same stream among the candidates in creation order (never
 * pointer order): a running guest VM (suspend, vmotion, power_cycle), or for kill a
 * running guest VM that has a live non-daemon Lua process, then one of those processes.
 * It acts through the very methods a scenario calls (vm:suspend(), vm:resume(),
 * vm:vmotion(), vm:power_off(), vm:power_on(), p:kill()), under lua_pcall, so the Lua
 * objects stay consistent (a CID that changes on resume is written back as usual) and an
 * error is a recorded failure, never a longjmp through the engine.
 *
 * Arrivals are engine *background* events (engine.h): they go on only while the world has
 * something else to do, so a rate never keeps an idle world running. What an arrival
 * starts and must finish (the resume after a suspend, the power-on after a power-off) is
 * an ordinary event: a run does not end with a VM the rates suspended.
 *
 * Invariants: applied[rate] <= arrivals[rate]; nothing is drawn for a rate that is off;
 * every applied arrival is one `fault` event (class "rate") naming its victim.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "lua_int.h"
#include "sim/engine/rng.h"

static const char *const rate_names[SIMLUA_FAULT_RATE_COUNT] = {
    "suspend", "vmotion", "power_cycle", "kill",
};

/* Defaults of the drawn delays: a stun of 10 ms to 1 s, a power-off as long. */
#define SUSPEND_NS_MIN_DEFAULT 10000000ull
#define SUSPEND_NS_MAX_DEFAULT 1000000000ull
#define POWER_OFF_NS_MIN_DEFAULT 10000000ull
#define POWER_OFF_NS_MAX_DEFAULT 1000000000ull
/* ln 2 in Q32 fixed point (0.693147180559945 * 2^32, rounded). */
#define LN2_Q32 0xB17217F8ull
/* A comeback event's data: the endpoint index, and the rate in the upper half. */
#define COMEBACK_RATE_SHIFT 32

struct simlua_fault_rates {
    struct simlua_world *world;             /* borrowed: owns this */
    struct sim_rng *rng;                    /* the world's "faults" stream */
    struct simlua_fault_rates_config config;
    uint64_t arrivals[SIMLUA_FAULT_RATE_COUNT];
    uint64_t applied[SIMLUA_FAULT_RATE_COUNT];     /* arrivals that found a victim */
    uint32_t *per_vm;                       /* kill: candidates per endpoint (scratch) */
    uint32_t per_vm_capacity;
};

const char *simlua_fault_rate_name(int rate)
{
    return rate >= 0 && rate < SIMLUA_FAULT_RATE_COUNT ? rate_names[rate] : NULL;
}

int simlua_fault_rate_of(const char *name)
{
    assert(name != NULL);
    for (int rate = 0; rate < SIMLUA_FAULT_RATE_COUNT; rate++) {
        if (strcmp(name, rate_names[rate]) == 0)
            return rate;
    }
    return -1;
}

/* ---- Parsing --------------------------------------------------------------------------- */

static uint64_t check_rate(lua_State *L, int table, const char *field)
{
    int type = lua_getfield(L, table, field);
    uint64_t micro = 0;
    if (type != LUA_TNIL) {
        double value = type == LUA_TNUMBER ? lua_tonumber(L, -1) : -1.0;
        if (!(value >= 0.0 && value <= SIMLUA_FAULT_RATE_PER_S_MAX))
            luaL_error(L, "sim.world faults: %s must be a rate per simulated second, a "
                          "number in [0, %d]", field, (int)SIMLUA_FAULT_RATE_PER_S_MAX);
        micro = (uint64_t)(value * SIMLUA_FAULT_RATE_MICRO + 0.5);
        if (value > 0.0 && micro == 0)
            luaL_error(L, "sim.world faults: %s is below the resolution of 0.000001 per "
                          "second", field);
    }
    lua_pop(L, 1);
    assert(micro <= (uint64_t)SIMLUA_FAULT_RATE_PER_S_MAX * SIMLUA_FAULT_RATE_MICRO);
    return micro;
}

static uint64_t delay_value(lua_State *L, int index, const char *field)
{
    if (!lua_isinteger(L, index) || lua_tointeger(L, index) < 0 ||
        (uint64_t)lua_tointeger(L, index) > SIMLUA_FAULT_RATE_DELAY_NS_MAX)
        luaL_error(L, "sim.world faults: %s must be an integer number of ns in [0, %I] or "
                      "{ min_ns, max_ns }", field, (lua_Integer)SIMLUA_FAULT_RATE_DELAY_NS_MAX);
    return (uint64_t)lua_tointeger(L, index);
}

/* field = ns | { min_ns, max_ns }: the range a delay is drawn from. */
static void check_delay(lua_State *L, int table, const char *field, uint64_t *min_ns,
                        uint64_t *max_ns)
{
    int type = lua_getfield(L, table, field);
    int value = lua_gettop(L);
    if (type == LUA_TTABLE) {
        if (lua_rawlen(L, value) != 2)
            luaL_error(L, "sim.world faults: %s must be { min_ns, max_ns }", field);
        lua_rawgeti(L, value, 1);
        lua_rawgeti(L, value, 2);
        *min_ns = delay_value(L, value + 1, field);
        *max_ns = delay_value(L, value + 2, field);
        if (*min_ns > *max_ns)
            luaL_error(L, "sim.world faults: %s = { min_ns, max_ns } needs min_ns <= max_ns",
                       field);
        lua_pop(L, 2);
    } else if (type != LUA_TNIL) {
        *min_ns = *max_ns = delay_value(L, value, field);
    }
    lua_pop(L, 1);
}

void simlua__fault_rates_parse(lua_State *L, int table, bool esx,
                               struct simlua_fault_rates_config *out)
{
    assert(out != NULL);
    *out = (struct simlua_fault_rates_config){
        .suspend_ns_min = SUSPEND_NS_MIN_DEFAULT, .suspend_ns_max = SUSPEND_NS_MAX_DEFAULT,
        .power_off_ns_min = POWER_OFF_NS_MIN_DEFAULT,
        .power_off_ns_max = POWER_OFF_NS_MAX_DEFAULT,
    };
    for (int rate = 0; rate < SIMLUA_FAULT_RATE_COUNT; rate++)
        out->rate_micro_per_s[rate] = check_rate(L, table, rate_names[rate]);
    check_delay(L, table, "suspend_ns", &out->suspend_ns_min, &out->suspend_ns_max);
    check_delay(L, table, "power_off_ns", &out->power_off_ns_min, &out->power_off_ns_max);
    if (out->rate_micro_per_s[SIMLUA_RATE_VMOTION] != 0 && !esx)     /* R195 */
        luaL_error(L, "sim.world faults: vmotion needs an ESX/ESXi product (only they "
                      "have vMotion)");
}

bool simlua__fault_rates_any(const struct simlua_fault_rates_config *config)
{
    assert(config != NULL);
    for (int rate = 0; rate < SIMLUA_FAULT_RATE_COUNT; rate++) {
        if (config->rate_micro_per_s[rate] != 0)
            return true;
    }
    return false;
}

/* ---- Exponential gaps in fixed point ---------------------------------------------------- */

/* (a * b) >> 32, exactly, for a result below 2^64. */
static uint64_t mul_shift32(uint64_t a, uint64_t b)
{
    uint64_t a_high = a >> 32, a_low = a & 0xFFFFFFFFu;
    uint64_t b_high = b >> 32, b_low = b & 0xFFFFFFFFu;
    assert(a_high == 0 || b_high == 0 || a_high * b_high < (1ull << 32));
    return ((a_high * b_high) << 32) + a_high * b_low + a_low * b_high +
           ((a_low * b_low) >> 32);
}

/* -ln(x / 2^64) in Q32 for x in [1, 2^64): log2 by repeated squaring of the mantissa
 * (integers only, the same bits on every machine), times ln 2. At most 64 ln 2 (44.4). */
uint64_t simlua__minus_ln_q32(uint64_t x)
{
    assert(x != 0);
    int msb = 63 - __builtin_clzll(x);
    uint64_t mantissa = msb >= 31 ? x >> (msb - 31) : x << (31 - msb);  /* [1, 2) in Q31 */
    uint64_t fraction = 0;                                              /* log2, Q32 */
    for (int bit = 31; bit >= 0; bit--) {
        assert(mantissa >= (1ull << 31) && mantissa < (1ull << 32));
        mantissa *= mantissa;                                           /* [1, 4) in Q62 */
        if (mantissa >= (1ull << 63)) {
            fraction |= 1ull << bit;
            mantissa >>= 32;                                            /* halved, Q31 */
        } else {
            mantissa >>= 31;
        }
    }
    uint64_t minus_log2_q32 = ((uint64_t)(64 - msb) << 32) - fraction;
    return mul_shift32(minus_log2_q32, LN2_Q32);
}

/* The gap to a rate's next arrival: exponential of mean 10^15 / rate_micro ns. */
static uint64_t draw_gap_ns(struct simlua_fault_rates *rates, int rate)
{
    uint64_t micro = rates->config.rate_micro_per_s[rate];
    assert(micro != 0);
    uint64_t mean_ns = 1000000000ull * SIMLUA_FAULT_RATE_MICRO / micro;    /* <= 10^15 */
    uint64_t draw = sim_rng_next(rates->rng);
    return mul_shift32(mean_ns, simlua__minus_ln_q32(draw != 0 ? draw : 1));
}

static uint64_t draw_between(struct simlua_fault_rates *rates, uint64_t min_ns, uint64_t max_ns)
{
    assert(min_ns <= max_ns && max_ns <= SIMLUA_FAULT_RATE_DELAY_NS_MAX);
    return min_ns == max_ns ? min_ns : min_ns + sim_rng_below(rates->rng, max_ns - min_ns + 1);
}

static void arrival_fire(void *context, void *arg, uint64_t data);

/* Schedules the rate's next arrival (a background event); none past the end of time. */
static void schedule_arrival(struct simlua_fault_rates *rates, int rate)
{
    struct sim_engine *engine = rates->world->engine;
    uint64_t now_ns = sim_engine_now(engine);
    uint64_t gap_ns = draw_gap_ns(rates, rate);
    if (gap_ns >= SIM_TIME_NEVER / 2 - now_ns)
        return;                             /* beyond any run: the rate has ended */
    int rc = sim_engine_schedule_background_at(engine, now_ns + gap_ns, arrival_fire, rates,
                                               (uint64_t)rate);
    assert(rc == SIM_OK);                   /* one pending arrival per rate, at most */
    (void)rc;
}

/* ---- Victims and what is done to them --------------------------------------------------- */

/* A guest that a scenario could suspend now: powered on, its VMCI driver loaded, neither
 * suspended nor frozen (the checks of vm:suspend()). */
static bool vm_running(const struct simlua_endpoint *endpoint)
{
    if (endpoint->is_host || endpoint->powered_off || endpoint->suspended || endpoint->frozen)
        return false;
    return endpoint->kernel != NULL && vmci_kernel_has_device(endpoint->kernel) &&
           vmci_kernel_ready(endpoint->kernel);
}

/* Runs under lua_pcall: object:method() with (object, method as a light userdata). */
static int method_call(lua_State *L)
{
    const char *method = lua_touserdata(L, 2);
    lua_getfield(L, 1, method);
    lua_pushvalue(L, 1);
    lua_call(L, 1, 0);
    return 0;
}

/* object:method() for the object on top of the main stack (popped), as a w:at callback
 * would call it; false on an error, which is a failure naming the rate. */
static bool call_method(struct simlua_fault_rates *rates, int rate, const char *method)
{
    struct simlua_world *world = rates->world;
    lua_State *L = world->runtime->L;
    lua_pushcfunction(L, method_call);
    lua_insert(L, -2);
    lua_pushlightuserdata(L, (void *)method);
    simlua__step_begin(world->runtime);
    int status = simlua__pcall_traceback(L, 2, 0);
    if (status == LUA_OK)
        return true;
    if (status == LUA_ERRMEM) {
        /* As for a w:at callback (world.c): nothing more may be asked of the Lua state. */
        static const char text[] = "error in a fault rate: limit SIMLUA_MEMORY_BYTES_MAX "
                                   "exceeded (Lua memory)";
        simlua__report_failure(L, "callback_error", text, sizeof(text) - 1);
        lua_pop(L, 1);
        sim_engine_abort(world->engine, sim_engine_fail(world->engine, SIM_ELIMIT, "a fault "
                         "rate ran out of Lua memory (limit SIMLUA_MEMORY_BYTES_MAX)"));
        return false;
    }
    size_t length = 0;
    lua_pushfstring(L, "error in fault rate %s: %s", rate_names[rate], lua_tostring(L, -1));
    const char *message = lua_tolstring(L, -1, &length);
    simlua__report_failure(L, "callback_error", message, length);
    lua_pop(L, 2);
    return false;
}

/* The `fault` event of an arrival that found its victim (before anything is done to it,
 * so ctx is the CID it had). back_ns: the drawn delay, UINT64_MAX when none. */
static void trace_fault(struct simlua_fault_rates *rates, int rate,
                        const struct simlua_endpoint *vm, const struct sim_process *victim,
                        uint64_t back_ns)
{
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_VMCI, "fault", vm->cid, 0);
    sim_trace_field_str(&event, "site", rate_names[rate]);
    sim_trace_field_str(&event, "class", "rate");
    sim_trace_field_str(&event, "vm", vm->name);
    if (victim != NULL) {
        sim_trace_field_u64(&event, "target_pid", victim->pid);
        sim_trace_field_str(&event, "process", victim->name);
    }
    if (back_ns != UINT64_MAX)
        sim_trace_field_u64(&event, "back_ns", back_ns);
    (void)sim_engine_emit(rates->world->engine, &event);    /* failure aborts the run */
}

static void comeback_fire(void *context, void *arg, uint64_t data)
{
    (void)context;
    struct simlua_fault_rates *rates = arg;
    struct simlua_world *world = rates->world;
    uint32_t index = (uint32_t)(data & 0xFFFFFFFFu);
    int rate = (int)(data >> COMEBACK_RATE_SHIFT);
    assert(index > 0 && index < world->endpoint_count);
    assert(rate == SIMLUA_RATE_SUSPEND || rate == SIMLUA_RATE_POWER_CYCLE);
    const struct simlua_endpoint *endpoint = &world->endpoints[index];
    bool suspend = rate == SIMLUA_RATE_SUSPEND;
    if (suspend ? !endpoint->suspended : !endpoint->powered_off)
        return;                             /* the scenario brought it back itself */
    simlua__endpoint_push(world->runtime->L, world, index);
    (void)call_method(rates, rate, suspend ? "resume" : "power_on");
}

/* suspend, vmotion, power_cycle: a running guest, in endpoint (creation) order. */
static void apply_to_vm(struct simlua_fault_rates *rates, int rate)
{
    struct simlua_world *world = rates->world;
    uint32_t count = 0;
    for (uint32_t index = 1; index < world->endpoint_count; index++)
        count += vm_running(&world->endpoints[index]);
    if (count == 0)
        return;                             /* no victim: the arrival is counted only */
    uint64_t pick = sim_rng_below(rates->rng, count);
    uint32_t index = 1;
    for (;; index++) {
        assert(index < world->endpoint_count);
        if (vm_running(&world->endpoints[index]) && pick-- == 0)
            break;
    }
    uint64_t back_ns = UINT64_MAX;
    if (rate == SIMLUA_RATE_SUSPEND)
        back_ns = draw_between(rates, rates->config.suspend_ns_min, rates->config.suspend_ns_max);
    else if (rate == SIMLUA_RATE_POWER_CYCLE)
        back_ns = draw_between(rates, rates->config.power_off_ns_min,
                               rates->config.power_off_ns_max);
    rates->applied[rate]++;
    trace_fault(rates, rate, &world->endpoints[index], NULL, back_ns);
    simlua__endpoint_push(world->runtime->L, world, index);
    const char *method = rate == SIMLUA_RATE_SUSPEND   ? "suspend"
                         : rate == SIMLUA_RATE_VMOTION ? "vmotion" : "power_off";
    if (!call_method(rates, rate, method) || back_ns == UINT64_MAX)
        return;
    uint64_t data = index | ((uint64_t)rate << COMEBACK_RATE_SHIFT);
    if (sim_engine_schedule_after_in(world->engine, 0, back_ns, comeback_fire, rates, data,
                                     NULL) < 0) {
        char text[SIM_ERROR_MESSAGE_BYTES_MAX + 64];
        int length = snprintf(text, sizeof(text), "error in fault rate %s: %s", rate_names[rate],
                              sim_engine_error_message(world->engine));
        assert(length > 0);
        simlua__report_failure(world->runtime->L, "callback_error", text,
                               strnlen(text, sizeof(text) - 1));
    }
}

/* A process `kill` may pick: a live, non-daemon Lua process or program (ep:exec) of a
 * running guest. Returns its endpoint's index, or 0 when it is no candidate; *program says
 * which it is (NULL: a Lua process). */
static uint32_t kill_candidate(const struct simlua_world *world, struct sim_process *process,
                               struct simlua_program **program)
{
    *program = NULL;
    uint32_t index = 0;
    struct simlua_process *owner = simlua__process_of(process);
    if (owner != NULL) {
        if (owner->daemon || owner->process == NULL || owner->ending)
            return 0;
        index = owner->endpoint_index;
    } else if ((*program = simlua__program_of(world, process)) != NULL) {
        index = simlua__program_endpoint(*program);
    }
    if (index == 0 || process->daemon || process->kill_requested)
        return 0;
    assert(index < world->endpoint_count);
    return vm_running(&world->endpoints[index]) ? index : 0;
}

/* Counts kill's candidates per endpoint into rates->per_vm; returns the VMs with any. */
static uint32_t count_candidates(struct simlua_fault_rates *rates)
{
    struct simlua_world *world = rates->world;
    memset(rates->per_vm, 0, world->endpoint_count * sizeof(rates->per_vm[0]));
    uint32_t vms = 0;
    uint32_t live = sim_engine_processes_live(world->engine);
    struct sim_process *process = sim_engine_processes_first(world->engine);
    for (uint32_t visited = 0; process != NULL && visited < live; visited++) {
        struct simlua_program *program;
        uint32_t index = kill_candidate(world, process, &program);
        if (index != 0)
            vms += rates->per_vm[index]++ == 0;
        process = process->live_next;
    }
    return vms;
}

static bool per_vm_reserve(struct simlua_fault_rates *rates)
{
    uint32_t needed = rates->world->endpoint_count;
    if (needed <= rates->per_vm_capacity)
        return true;
    uint32_t *grown = realloc(rates->per_vm, needed * sizeof(*grown));
    if (grown == NULL)
        return false;
    rates->per_vm = grown;
    rates->per_vm_capacity = needed;
    return true;
}

/* kill: a random guest among those with candidates, then one of its candidates, both in
 * creation order. */
static void apply_kill(struct simlua_fault_rates *rates)
{
    struct simlua_world *world = rates->world;
    if (!per_vm_reserve(rates)) {
        static const char text[] = "error in fault rate kill: out of memory";
        simlua__report_failure(world->runtime->L, "callback_error", text, sizeof(text) - 1);
        return;
    }
    uint32_t vms = count_candidates(rates);
    if (vms == 0)
        return;                             /* no victim: the arrival is counted only */
    uint64_t pick_vm = sim_rng_below(rates->rng, vms);
    uint32_t index = 1;
    for (;; index++) {
        assert(index < world->endpoint_count);
        if (rates->per_vm[index] != 0 && pick_vm-- == 0)
            break;
    }
    uint64_t pick = sim_rng_below(rates->rng, rates->per_vm[index]);
    struct sim_process *victim = NULL;
    struct simlua_program *program = NULL;
    uint32_t live = sim_engine_processes_live(world->engine);
    struct sim_process *process = sim_engine_processes_first(world->engine);
    for (uint32_t visited = 0; victim == NULL && process != NULL && visited < live; visited++) {
        if (kill_candidate(world, process, &program) == index && pick-- == 0)
            victim = process;
        process = process->live_next;
    }
    assert(victim != NULL);
    rates->applied[SIMLUA_RATE_KILL]++;
    trace_fault(rates, SIMLUA_RATE_KILL, &world->endpoints[index], victim, UINT64_MAX);
    if (program != NULL) {              /* a program: killed as prog:kill() kills it */
        (void)simlua__program_kill(program);
        return;
    }
    struct simlua_process *owner = simlua__process_of(victim);
    lua_rawgeti(world->runtime->L, LUA_REGISTRYINDEX, owner->self_ref);
    (void)call_method(rates, SIMLUA_RATE_KILL, "kill");
}

static void arrival_fire(void *context, void *arg, uint64_t data)
{
    (void)context;
    struct simlua_fault_rates *rates = arg;
    int rate = (int)data;
    assert(rate >= 0 && rate < SIMLUA_FAULT_RATE_COUNT);
    rates->arrivals[rate]++;
    if (rate == SIMLUA_RATE_KILL)
        apply_kill(rates);
    else
        apply_to_vm(rates, rate);
    assert(rates->applied[rate] <= rates->arrivals[rate]);
    schedule_arrival(rates, rate);
}

/* ---- The world's rates ------------------------------------------------------------------ */

void simlua__fault_rates_start(struct simlua_world *world,
                               const struct simlua_fault_rates_config *config)
{
    assert(world != NULL && config != NULL && world->fault_rates == NULL);
    if (!simlua__fault_rates_any(config))
        return;                             /* nothing drawn, nothing scheduled */
    struct simlua_fault_rates *rates = calloc(1, sizeof(*rates));
    if (rates == NULL)
        luaL_error(world->runtime->L, "sim.world: out of memory");
    rates->world = world;
    rates->config = *config;
    rates->rng = sim_engine_rng(world->engine, "faults");  /* made by the fault sites */
    assert(rates->rng != NULL);
    world->fault_rates = rates;
    for (int rate = 0; rate < SIMLUA_FAULT_RATE_COUNT; rate++) {
        if (config->rate_micro_per_s[rate] != 0)
            schedule_arrival(rates, rate);
    }
}

void simlua__fault_rates_trace_summary(struct simlua_world *world)
{
    assert(world != NULL);
    struct simlua_fault_rates *rates = world->fault_rates;
    if (rates == NULL)
        return;
    for (int rate = 0; rate < SIMLUA_FAULT_RATE_COUNT; rate++) {
        if (rates->config.rate_micro_per_s[rate] == 0)
            continue;
        assert(rates->applied[rate] <= rates->arrivals[rate]);
        struct sim_trace_event event;
        sim_trace_event_init(&event, SIM_LAYER_VMCI, "fault_rate", SIMLUA_CID_HOST, 0);
        sim_trace_field_str(&event, "rate", rate_names[rate]);
        sim_trace_field_u64(&event, "rate_micro_per_s", rates->config.rate_micro_per_s[rate]);
        sim_trace_field_u64(&event, "arrivals", rates->arrivals[rate]);
        sim_trace_field_u64(&event, "applied", rates->applied[rate]);
        (void)sim_engine_emit(world->engine, &event);
    }
}

void simlua__fault_rates_destroy(struct simlua_world *world)
{
    if (world == NULL || world->fault_rates == NULL)
        return;
    free(world->fault_rates->per_vm);
    free(world->fault_rates);
    world->fault_rates = NULL;
}
