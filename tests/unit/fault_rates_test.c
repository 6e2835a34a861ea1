/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/fault_rates_test.c: fault rates (sim/lua/fault_rates.c, docs/faults.md "Rates")
 * and the engine's background events they run on (engine.h).
 *
 * The exponential draw in fixed point gives known values and the right mean; background
 * events run only while the world has other work and never keep an idle world going; the
 * same seed gives the same arrivals and victims, other seeds others; rates off draw nothing
 * (the run and its digest are unchanged); kill never picks a daemon or a host process; a
 * suspended or powered-off VM comes back before the run ends; invalid settings raise before
 * the world exists; the world invariants hold after runs with every rate on.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "sim/engine/engine.h"
#include "sim/lua/lua_int.h"
#include "sim/lua/runtime.h"
#include "suites.h"
#include "test_support.h"

/* Rate `fault` events a run may record here; more are counted only. */
#define ARRIVALS_KEPT_MAX 512u

struct arrival {
    uint64_t time_ns;
    uint32_t ctx;
    char site[16];
    char process[32];
    uint64_t target_pid;
};

/* What a run's trace says about rates and the lifecycle. */
struct rate_log {
    struct arrival arrivals[ARRIVALS_KEPT_MAX];
    uint32_t arrival_count;             /* all rate `fault` events, even beyond the kept */
    uint32_t fault_rate_events;
    uint64_t applied_total;             /* summed from the fault_rate events */
    uint32_t suspends, resumes, vmotions, power_offs, power_ons, kills;
    char digest[33];
};

static const struct sim_trace_field *field_of(const struct sim_trace_event *event,
                                              const char *name)
{
    for (uint32_t index = 0; index < event->field_count; index++) {
        if (strcmp(event->fields[index].name, name) == 0)
            return &event->fields[index];
    }
    return NULL;
}

static void copy_str(const struct sim_trace_event *event, const char *name, char *out,
                     size_t out_bytes)
{
    const struct sim_trace_field *field = field_of(event, name);
    out[0] = '\0';
    if (field == NULL || field->type != SIM_FIELD_STR)
        return;
    size_t length = field->value.blob.size_bytes < out_bytes - 1 ? field->value.blob.size_bytes
                                                                   : out_bytes - 1;
    memcpy(out, field->value.blob.data, length);
    out[length] = '\0';
}

static uint64_t u64_of(const struct sim_trace_event *event, const char *name)
{
    const struct sim_trace_field *field = field_of(event, name);
    return field != NULL && field->type == SIM_FIELD_U64 ? field->value.u64 : UINT64_MAX;
}

static void log_arrival(struct rate_log *log, const struct sim_trace_event *event)
{
    char class_name[16];
    copy_str(event, "class", class_name, sizeof(class_name));
    if (strcmp(class_name, "rate") != 0)
        return;
    if (log->arrival_count < ARRIVALS_KEPT_MAX) {
        struct arrival *arrival = &log->arrivals[log->arrival_count];
        arrival->time_ns = event->time_ns;
        arrival->ctx = event->ctx;
        copy_str(event, "site", arrival->site, sizeof(arrival->site));
        copy_str(event, "process", arrival->process, sizeof(arrival->process));
        arrival->target_pid = u64_of(event, "target_pid");
    }
    log->arrival_count++;
}

static int log_emit(void *state, const struct sim_trace_event *event, char *message)
{
    (void)message;
    struct rate_log *log = state;
    if (strcmp(event->kind, "fault") == 0)
        log_arrival(log, event);
    else if (strcmp(event->kind, "fault_rate") == 0) {
        log->fault_rate_events++;
        log->applied_total += u64_of(event, "applied");
    } else if (strcmp(event->kind, "vm_suspend") == 0)
        log->suspends++;
    else if (strcmp(event->kind, "vm_resume") == 0)
        log->resumes++;
    else if (strcmp(event->kind, "vm_vmotion") == 0)
        log->vmotions++;
    else if (strcmp(event->kind, "vm_power_off") == 0)
        log->power_offs++;
    else if (strcmp(event->kind, "vm_power_on") == 0)
        log->power_ons++;
    else if (strcmp(event->kind, "proc_kill") == 0)
        log->kills++;
    return 0;
}

/* Runs `source` with `seed` (paranoid: invariants after every event), logging into *log. */
static void run_logged(const char *source, uint64_t seed, bool paranoid,
                       struct simlua_outcome *outcome, struct rate_log *log)
{
    memset(log, 0, sizeof(*log));
    char path[TEST_LUA_PATH_BYTES];
    test_write_lua_file(source, path);
    struct sim_digest *digest = sim_digest_create();
    CU_ASSERT_PTR_NOT_NULL_FATAL(digest);
    struct sim_trace_sink sinks[2] = {
        sim_digest_sink(digest),
        { .name = "rates", .level = SIM_LAYER_DEVICE, .emit = log_emit, .state = log },
    };
    struct simlua_options options = {
        .scenario_path = path, .seed = seed, .until_ns = SIM_TIME_NEVER, .quiet = true,
        .paranoid = paranoid, .sinks = sinks, .sink_count = 2,
    };
    struct simlua_runtime *runtime = simlua_create(&options);
    CU_ASSERT_FATAL(runtime != NULL);
    simlua_run(runtime, outcome);
    simlua_destroy(runtime);
    sim_digest_hex(digest, log->digest);
    sim_digest_destroy(digest);
    unlink(path);
}

/* Three guests, each with two clients that connect to a host echo, send and check, in
 * rounds; a daemon in every guest and a non-daemon host process that must survive. At the
 * end (the world idle) every VM must be running again. */
#define RATES_WORLD(faults)                                                                 \
    "local sim = require('vmcisim')\n"                                                      \
    "local w = sim.world{ faults = { sites = {}, " faults " } }\n"                          \
    "local vms = {}\n"                                                                      \
    "for i = 1, 3 do vms[i] = w:vm{ name = 'g' .. i } end\n"                                \
    "w:host():spawn('server', function(p)\n"                                                \
    "  local l = assert(p:socket('stream')); assert(l:bind(sim.CID_ANY, 5000))\n"           \
    "  assert(l:listen(16))\n"                                                              \
    "  while true do\n"                                                                     \
    "    local c = l:accept()\n"                                                            \
    "    if c then w:host():spawn('echo', function(q)\n"                                    \
    "      while true do local d = c:recv(4096)\n"                                          \
    "        if not d or d == '' then break end; c:send(d) end\n"                           \
    "      c:close() end, { daemon = true }) end\n"                                         \
    "  end\n"                                                                               \
    "end, { daemon = true })\n"                                                             \
    "local keeper = w:host():spawn('keeper', function(p) p:sleep(sim.ms(900)) end)\n"       \
    "for i = 1, 3 do\n"                                                                     \
    "  vms[i]:spawn('daemon' .. i, function(p)\n"                                           \
    "    local l = assert(p:socket('stream')); assert(l:bind(sim.CID_ANY, 6000))\n"         \
    "    assert(l:listen(1)); l:accept() end, { daemon = true })\n"                          \
    "  for k = 1, 2 do vms[i]:spawn('client' .. k, function(p)\n"                           \
    "    for round = 1, 12 do\n"                                                            \
    "      local s = p:socket('stream')\n"                                                  \
    "      if s and s:connect(sim.CID_HOST, 5000) then\n"                                   \
    "        local sent = sim.pattern(round, 0, 64)\n"                                      \
    "        if s:send(sent) == 64 then local got = s:recv(64)\n"                           \
    "          sim.expect(got == nil or got == '' or sent:sub(1, #got) == got, 'echo')\n"   \
    "        end\n"                                                                         \
    "        s:close()\n"                                                                   \
    "      end\n"                                                                           \
    "      p:sleep(sim.ms(60))\n"                                                           \
    "    end end) end\n"                                                                    \
    "end\n"                                                                                 \
    "w:run()\n"                                                                             \
    "for i = 1, 3 do sim.expect(vms[i].state == 'powered_on', vms[i].name .. ' is back') end\n" \
    "sim.expect(keeper:state() == 'done', 'host process untouched')\n"

#define EVERY_RATE "suspend = 8, vmotion = 8, power_cycle = 2, kill = 8"

/* ---- The exponential draw --------------------------------------------------------------- */

static void test_minus_ln_fixed_point(void)
{
    ASSERT_U64_EQ(simlua__minus_ln_q32(1ull << 63), 0xB17217F8ull);        /* ln 2 */
    ASSERT_U64_EQ(simlua__minus_ln_q32(1ull << 62), 2 * 0xB17217F8ull);    /* ln 4 */
    ASSERT_U64_EQ(simlua__minus_ln_q32(1), 64 * 0xB17217F8ull);            /* 64 ln 2 */
    CU_ASSERT(simlua__minus_ln_q32(UINT64_MAX) < 16);                       /* ~ 0 */
    /* 3/4: -ln 0.75 = 0.287682072, 1235585092.8 in Q32: within 2^-28. */
    uint64_t three_quarters = simlua__minus_ln_q32(3ull << 62);
    CU_ASSERT(three_quarters > 1235585076ull && three_quarters < 1235585110ull);
    /* Decreasing in x, mean 1 over many draws. */
    struct sim_rng rng;
    sim_rng_init_stream(&rng, 7, "test");
    uint64_t sum_q32 = 0;
    uint64_t previous = simlua__minus_ln_q32(1);
    for (uint32_t draw = 0; draw < 100000; draw++) {
        uint64_t x = sim_rng_next(&rng);
        sum_q32 += simlua__minus_ln_q32(x != 0 ? x : 1) >> 8;
        uint64_t at = simlua__minus_ln_q32((uint64_t)(draw + 1) << 44);
        CU_ASSERT(at <= previous);
        previous = at;
    }
    double mean = (double)sum_q32 / 100000.0 / (double)(1u << 24);
    CU_ASSERT(mean > 0.98 && mean < 1.02);
}

/* ---- Background events ------------------------------------------------------------------ */

static uint32_t background_ran;
static uint64_t background_at_ns;

static void note_background(void *context, void *arg, uint64_t data)
{
    (void)context;
    (void)arg;
    background_ran++;
    background_at_ns = data;
}

static void nothing(void *context, void *arg, uint64_t data)
{
    (void)context;
    (void)arg;
    (void)data;
}

static void test_background_events_never_keep_a_world_going(void)
{
    struct sim_limits limits = sim_limits_default();
    struct sim_engine *engine = sim_engine_create(&limits, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(engine);
    background_ran = 0;
    CU_ASSERT_EQUAL(sim_engine_schedule_background_at(engine, 5, note_background, NULL, 5),
                    SIM_OK);
    CU_ASSERT_EQUAL(sim_engine_schedule_background_at(engine, 20, note_background, NULL, 20),
                    SIM_OK);
    CU_ASSERT_EQUAL(sim_engine_schedule_at(engine, 10, nothing, NULL, 0, NULL), SIM_OK);
    ASSERT_U64_EQ(sim_engine_events_pending(engine), 1);
    struct sim_run_result result;
    sim_engine_run(engine, SIM_TIME_NEVER, 0, &result);
    CU_ASSERT_EQUAL(result.stopped, SIM_STOP_IDLE);
    ASSERT_U64_EQ(result.now_ns, 10);           /* not 20: the idle world stopped */
    ASSERT_U64_EQ(background_ran, 1);
    ASSERT_U64_EQ(background_at_ns, 5);
    ASSERT_U64_EQ(sim_engine_background_pending(engine), 1);
    /* More work later: the background event due before it runs first. */
    CU_ASSERT_EQUAL(sim_engine_schedule_at(engine, 30, nothing, NULL, 0, NULL), SIM_OK);
    sim_engine_run(engine, 25, 0, &result);
    CU_ASSERT_EQUAL(result.stopped, SIM_STOP_UNTIL);
    ASSERT_U64_EQ(background_ran, 2);
    ASSERT_U64_EQ(background_at_ns, 20);
    for (uint32_t index = 0; index < SIM_BACKGROUND_EVENTS_MAX; index++)
        CU_ASSERT_EQUAL(sim_engine_schedule_background_at(engine, 40, nothing, NULL, 0),
                        SIM_OK);
    CU_ASSERT_EQUAL(sim_engine_schedule_background_at(engine, 40, nothing, NULL, 0),
                    SIM_ELIMIT);
    ASSERT_STR_CONTAINS(sim_engine_error_message(engine), "SIM_BACKGROUND_EVENTS_MAX");
    sim_engine_destroy(engine);
}

/* A world with nothing to do ends at once, and one that sleeps 10 ms ends then, whatever
 * the rates say. */
static void test_rates_stop_with_an_idle_world(void)
{
    struct simlua_outcome outcome;
    struct rate_log log;
    run_logged("local sim = require('vmcisim')\n"
               "local w = sim.world{ faults = { sites = {}, suspend = 1000, kill = 1000 } }\n"
               "w:vm{ name = 'g1' }\n"
               "w:host():spawn('sleeper', function(p) p:sleep(sim.ms(10)) end)\n"
               "w:run()\n", 1, false, &outcome, &log);
    CU_ASSERT_EQUAL(outcome.exit_code, SIMLUA_EXIT_PASS);
    CU_ASSERT_STRING_EQUAL(outcome.stopped, "idle");
    CU_ASSERT(outcome.now_ns >= 10000000u && outcome.now_ns < 1000000000u);
    CU_ASSERT(log.arrival_count > 0);       /* 1000/s over 10 ms: some arrived meanwhile */
    run_logged("local sim = require('vmcisim')\n"
               "local w = sim.world{ faults = { sites = {}, suspend = 1000 } }\n"
               "w:run()\n", 1, false, &outcome, &log);
    CU_ASSERT_EQUAL(outcome.exit_code, SIMLUA_EXIT_PASS);
    ASSERT_U64_EQ(outcome.now_ns, 0);
    ASSERT_U64_EQ(log.arrival_count, 0);
    ASSERT_U64_EQ(log.fault_rate_events, 1);
}

/* ---- Rates in a world --------------------------------------------------------------------- */

static bool same_arrivals(const struct rate_log *a, const struct rate_log *b)
{
    if (a->arrival_count != b->arrival_count)
        return false;
    uint32_t kept = a->arrival_count < ARRIVALS_KEPT_MAX ? a->arrival_count : ARRIVALS_KEPT_MAX;
    return memcmp(a->arrivals, b->arrivals, kept * sizeof(a->arrivals[0])) == 0;
}

static void test_same_seed_same_arrivals_other_seed_others(void)
{
    static struct rate_log first, again, other;
    struct simlua_outcome outcome;
    run_logged(RATES_WORLD(EVERY_RATE), 5, false, &outcome, &first);
    CU_ASSERT_EQUAL(outcome.exit_code, SIMLUA_EXIT_PASS);
    CU_ASSERT(first.arrival_count > 3);
    run_logged(RATES_WORLD(EVERY_RATE), 5, false, &outcome, &again);
    CU_ASSERT_TRUE(same_arrivals(&first, &again));
    CU_ASSERT_STRING_EQUAL(first.digest, again.digest);
    bool differs = false;
    for (uint64_t seed = 6; seed < 10 && !differs; seed++) {
        run_logged(RATES_WORLD(EVERY_RATE), seed, false, &outcome, &other);
        differs = !same_arrivals(&first, &other);
    }
    CU_ASSERT_TRUE(differs);
}

/* Rates at 0 (or absent) draw nothing: the run, its trace and its digest are those of the
 * same faults without them. */
static void test_rates_off_draw_nothing(void)
{
    static struct rate_log without, zero;
    struct simlua_outcome outcome_without, outcome_zero;
    run_logged(RATES_WORLD("enable = 1, fire = 0"), 3, false, &outcome_without, &without);
    run_logged(RATES_WORLD("enable = 1, fire = 0, suspend = 0, vmotion = 0, power_cycle = 0, "
                           "kill = 0, suspend_ns = 5"), 3, false, &outcome_zero, &zero);
    CU_ASSERT_EQUAL(outcome_without.exit_code, SIMLUA_EXIT_PASS);
    CU_ASSERT_EQUAL(outcome_zero.exit_code, SIMLUA_EXIT_PASS);
    CU_ASSERT_STRING_EQUAL(without.digest, zero.digest);
    ASSERT_U64_EQ(outcome_zero.trace_events, outcome_without.trace_events);
    ASSERT_U64_EQ(zero.arrival_count, 0);
    ASSERT_U64_EQ(zero.fault_rate_events, 0);
    ASSERT_U64_EQ(zero.suspends + zero.vmotions + zero.power_offs + zero.kills, 0);
}

static void test_kill_never_picks_a_daemon_or_the_host(void)
{
    static struct rate_log log;
    uint32_t kills = 0;
    for (uint64_t seed = 1; seed <= 6; seed++) {
        struct simlua_outcome outcome;
        run_logged(RATES_WORLD("kill = 30"), seed, false, &outcome, &log);
        CU_ASSERT_EQUAL(outcome.exit_code, SIMLUA_EXIT_PASS);
        uint32_t kept = log.arrival_count < ARRIVALS_KEPT_MAX ? log.arrival_count
                                                               : ARRIVALS_KEPT_MAX;
        for (uint32_t index = 0; index < kept; index++) {
            const struct arrival *arrival = &log.arrivals[index];
            CU_ASSERT_STRING_EQUAL(arrival->site, "kill");
            CU_ASSERT_NOT_EQUAL(arrival->ctx, 2);
            CU_ASSERT(strncmp(arrival->process, "client", 6) == 0);
            CU_ASSERT(arrival->target_pid != UINT64_MAX);
        }
        kills += log.kills;
        ASSERT_U64_EQ(log.kills, log.applied_total);    /* each applied one is a p:kill */
    }
    CU_ASSERT(kills >= 6);      /* 30/s for ~0.7 s with clients alive: kills happened */
}

static void test_suspended_and_powered_off_vms_come_back(void)
{
    static struct rate_log log;
    uint32_t suspends = 0, power_offs = 0;
    for (uint64_t seed = 1; seed <= 6; seed++) {
        struct simlua_outcome outcome;
        run_logged(RATES_WORLD("suspend = 10, power_cycle = 3, suspend_ns = { 1000000, "
                               "300000000 }, power_off_ns = 2000000"), seed, false, &outcome,
                   &log);
        CU_ASSERT_EQUAL(outcome.exit_code, SIMLUA_EXIT_PASS);    /* every VM powered_on */
        ASSERT_U64_EQ(log.resumes, log.suspends);
        ASSERT_U64_EQ(log.power_ons, log.power_offs);
        suspends += log.suspends;
        power_offs += log.power_offs;
    }
    CU_ASSERT(suspends >= 6);
    CU_ASSERT(power_offs >= 1);
}

static void test_invariants_hold_with_every_rate_on(void)
{
    static struct rate_log log;
    uint32_t applied = 0;
    for (uint64_t seed = 1; seed <= 8; seed++) {
        struct simlua_outcome outcome;
        run_logged(RATES_WORLD(EVERY_RATE), seed, seed <= 2, &outcome, &log);
        if (outcome.exit_code != SIMLUA_EXIT_PASS)
            fprintf(stderr, "seed %llu failed with every rate on\n", (unsigned long long)seed);
        CU_ASSERT_EQUAL(outcome.exit_code, SIMLUA_EXIT_PASS);
        ASSERT_U64_EQ(log.fault_rate_events, 4);
        applied += (uint32_t)log.applied_total;
    }
    CU_ASSERT(applied > 20);
}

static void expect_lua_error(const char *options, const char *message)
{
    char source[512];
    snprintf(source, sizeof(source), "local sim = require('vmcisim')\n"
             "local ok, err = pcall(sim.world, { %s })\n"
             "assert(not ok)\n"
             "if not string.find(err, [[%s]], 1, true) then error(err) end\n", options, message);
    struct simlua_outcome outcome;
    test_run_lua_source(source, &outcome);
    if (outcome.exit_code != SIMLUA_EXIT_PASS)
        fprintf(stderr, "sim.world{ %s } did not raise '%s'\n", options, message);
    CU_ASSERT_EQUAL(outcome.exit_code, SIMLUA_EXIT_PASS);
    CU_ASSERT_FALSE(outcome.world_created);
}

static void test_invalid_settings_raise(void)
{
    expect_lua_error("faults = { suspend = -1 }", "sim.world faults: suspend must be a rate");
    expect_lua_error("faults = { kill = 1001 }", "kill must be a rate per simulated second");
    expect_lua_error("faults = { vmotion = 'often' }", "vmotion must be a rate");
    expect_lua_error("faults = { power_cycle = 0/0 }", "power_cycle must be a rate");
    expect_lua_error("faults = { suspend = 1e-9 }", "below the resolution");
    expect_lua_error("faults = { suspend_ns = -5 }", "suspend_ns must be an integer");
    expect_lua_error("faults = { suspend_ns = 1.5 }", "suspend_ns must be an integer");
    expect_lua_error("faults = { power_off_ns = { 5 } }", "power_off_ns must be { min_ns");
    expect_lua_error("faults = { power_off_ns = { 9, 3 } }", "needs min_ns <= max_ns");
    expect_lua_error("faults = { suspend_ns = 3600000000001 }", "suspend_ns must be");
    expect_lua_error("product = 'workstation-9', faults = { vmotion = 1 }",
                     "vmotion needs an ESX/ESXi product");
    expect_lua_error("faults = { suspend = 1, pause = 2 }", "unknown option 'pause'");
}

CU_ErrorCode fault_rates_suite_add(void)
{
    static const struct test_entry tests[] = {
        TEST_ENTRY(test_minus_ln_fixed_point),
        TEST_ENTRY(test_background_events_never_keep_a_world_going),
        TEST_ENTRY(test_rates_stop_with_an_idle_world),
        TEST_ENTRY(test_same_seed_same_arrivals_other_seed_others),
        TEST_ENTRY(test_rates_off_draw_nothing),
        TEST_ENTRY(test_kill_never_picks_a_daemon_or_the_host),
        TEST_ENTRY(test_suspended_and_powered_off_vms_come_back),
        TEST_ENTRY(test_invariants_hold_with_every_rate_on),
        TEST_ENTRY(test_invalid_settings_raise),
    };
    return test_suite_register("fault_rates", tests, sizeof(tests) / sizeof(tests[0]));
}
