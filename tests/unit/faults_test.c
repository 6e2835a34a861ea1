/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/faults_test.c: named fault sites (vmci/faults.h, docs/faults.md).
 *
 * A site fires only when enabled; the same seed gives the same enabled sites and the same
 * firings, another seed others; never-configured faults draw nothing and count nothing;
 * class filtering in the Lua option (`sites = "real"` enables no protocol site); the option
 * off (absent or `faults = false`) runs exactly as without it, and on it changes the run;
 * invalid settings raise before the world exists.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "sim/engine/engine.h"
#include "sim/lua/runtime.h"
#include "suites.h"
#include "test_support.h"
#include "vmci/faults.h"

#define REACHES 4000u

static struct sim_engine *engine_of_seed(uint64_t seed)
{
    struct sim_limits limits = sim_limits_default();
    struct sim_engine *engine = sim_engine_create(&limits, seed);
    CU_ASSERT_PTR_NOT_NULL_FATAL(engine);
    return engine;
}

/* Every site allowed, enabled with `enable_ppm`, firing with `fire_ppm`. */
static struct vmci_faults_config config_all(uint32_t enable_ppm, uint32_t fire_ppm)
{
    struct vmci_faults_config config;
    memset(&config, 0, sizeof(config));
    for (int site = 0; site < VMCI_FAULT_SITE_COUNT; site++) {
        config.allowed[site] = true;
        config.enable_ppm[site] = enable_ppm;
        config.fire_ppm[site] = fire_ppm;
    }
    return config;
}

static void test_off_draws_nothing_and_never_fires(void)
{
    struct vmci_faults faults;
    memset(&faults, 0, sizeof(faults));
    CU_ASSERT_FALSE(vmci_faults_on(&faults));
    CU_ASSERT_FALSE(vmci_faults_on(NULL));
    for (uint32_t reach = 0; reach < 100; reach++) {
        CU_ASSERT_FALSE(vmci_fault(&faults, VMCI_FAULT_DGRAM_DROP, 2));
        CU_ASSERT_FALSE(vmci_fault(NULL, VMCI_FAULT_DGRAM_DROP, 2));
    }
    ASSERT_U64_EQ(faults.reached[VMCI_FAULT_DGRAM_DROP], 0);
    ASSERT_U64_EQ(vmci_fault_stretch(&faults, VMCI_FAULT_ROUTE_LATE, 300), 300);
}

static void test_a_site_fires_only_when_enabled(void)
{
    struct sim_engine *engine = engine_of_seed(1);
    struct vmci_faults_config config = config_all(0, VMCI_FAULT_PPM);
    config.enable_ppm[VMCI_FAULT_BACKLOG_FULL] = VMCI_FAULT_PPM;
    struct vmci_faults faults;
    CU_ASSERT_EQUAL_FATAL(vmci_faults_configure(&faults, engine, &config), SIM_OK);
    for (int site = 0; site < VMCI_FAULT_SITE_COUNT; site++)
        CU_ASSERT_EQUAL(faults.enabled[site], site == VMCI_FAULT_BACKLOG_FULL);
    for (uint32_t reach = 0; reach < 50; reach++) {
        CU_ASSERT_TRUE(vmci_fault(&faults, VMCI_FAULT_BACKLOG_FULL, 2));
        CU_ASSERT_FALSE(vmci_fault(&faults, VMCI_FAULT_QP_ALLOC_QUOTA, 2));
    }
    ASSERT_U64_EQ(faults.reached[VMCI_FAULT_QP_ALLOC_QUOTA], 50);
    ASSERT_U64_EQ(faults.fired[VMCI_FAULT_QP_ALLOC_QUOTA], 0);
    ASSERT_U64_EQ(faults.fired[VMCI_FAULT_BACKLOG_FULL], 50);
    /* A stretched latency is between 2 and VMCI_FAULT_STRETCH_MAX times the value. */
    config = config_all(VMCI_FAULT_PPM, VMCI_FAULT_PPM);
    CU_ASSERT_EQUAL_FATAL(vmci_faults_configure(&faults, engine, &config), SIM_OK);
    for (uint32_t reach = 0; reach < 200; reach++) {
        uint64_t stretched = vmci_fault_stretch(&faults, VMCI_FAULT_INTERRUPT_LATE, 1000);
        CU_ASSERT(stretched >= 2000 && stretched <= 1000u * VMCI_FAULT_STRETCH_MAX);
    }
    sim_engine_destroy(engine);
}

static void test_a_probability_above_one_is_refused(void)
{
    struct sim_engine *engine = engine_of_seed(1);
    struct vmci_faults_config config = config_all(VMCI_FAULT_PPM + 1, 0);
    struct vmci_faults faults;
    memset(&faults, 0, sizeof(faults));
    CU_ASSERT_EQUAL(vmci_faults_configure(&faults, engine, &config), SIM_EINVAL);
    CU_ASSERT_FALSE(vmci_faults_on(&faults));
    sim_engine_destroy(engine);
}

/* The enabled sites and the firings of REACHES reaches cycling over every site. */
static void firings_of_seed(uint64_t seed, bool enabled[VMCI_FAULT_SITE_COUNT],
                            bool fired[REACHES])
{
    struct sim_engine *engine = engine_of_seed(seed);
    struct vmci_faults_config config = config_all(500000, 300000);
    struct vmci_faults faults;
    CU_ASSERT_EQUAL_FATAL(vmci_faults_configure(&faults, engine, &config), SIM_OK);
    memcpy(enabled, faults.enabled, sizeof(faults.enabled));
    for (uint32_t reach = 0; reach < REACHES; reach++)
        fired[reach] = vmci_fault(&faults, (enum vmci_fault_site)(reach % VMCI_FAULT_SITE_COUNT),
                                  2);
    sim_engine_destroy(engine);
}

static void test_same_seed_same_firings_other_seed_others(void)
{
    static bool fired_a[REACHES], fired_b[REACHES], fired_c[REACHES];
    bool enabled_a[VMCI_FAULT_SITE_COUNT], enabled_b[VMCI_FAULT_SITE_COUNT];
    bool enabled_c[VMCI_FAULT_SITE_COUNT];
    firings_of_seed(11, enabled_a, fired_a);
    firings_of_seed(11, enabled_b, fired_b);
    CU_ASSERT_EQUAL(memcmp(enabled_a, enabled_b, sizeof(enabled_a)), 0);
    CU_ASSERT_EQUAL(memcmp(fired_a, fired_b, sizeof(fired_a)), 0);
    uint32_t count = 0;
    for (uint32_t reach = 0; reach < REACHES; reach++)
        count += fired_a[reach];
    CU_ASSERT(count > 0);           /* some site of seed 11 is on and fires */
    bool differs = false;
    for (uint64_t seed = 12; seed < 20 && !differs; seed++) {
        firings_of_seed(seed, enabled_c, fired_c);
        differs = memcmp(fired_a, fired_c, sizeof(fired_a)) != 0;
    }
    CU_ASSERT_TRUE(differs);
}

/* ---- The Lua option ----------------------------------------------------------------- */

/* A host echo service and one guest client with a stream and a datagram. */
#define ECHO_WORLD(world_options)                                                          \
    "local sim = require('vmcisim')\n"                                                      \
    "local w = sim.world{ " world_options " }\n"                                            \
    "local g = w:vm{ name = 'g1' }\n"                                                       \
    "w:host():spawn('server', function(p)\n"                                                \
    "  local l = assert(p:socket('stream')); assert(l:bind(sim.CID_ANY, 5000))\n"           \
    "  assert(l:listen(1))\n"                                                               \
    "  local c = assert(l:accept())\n"                                                      \
    "  assert(c:send(assert(c:recv(100)))); c:close()\n"                                    \
    "end)\n"                                                                                \
    "g:spawn('client', function(p)\n"                                                       \
    "  p:sleep(sim.us(100))\n"                                                              \
    "  local s = assert(p:socket('stream')); assert(s:connect(sim.CID_HOST, 5000))\n"       \
    "  assert(s:send('x')); sim.expect(s:recv(100) == 'x', 'echo')\n"                      \
    "end)\n"                                                                                \
    "w:run()\n"

static void test_lua_faults_off_runs_as_without_the_option(void)
{
    struct simlua_outcome without, off, on;
    test_run_lua_source(ECHO_WORLD("product = 'esxi-6.5'"), &without);
    test_run_lua_source(ECHO_WORLD("product = 'esxi-6.5', faults = false"), &off);
    test_run_lua_source(ECHO_WORLD("product = 'esxi-6.5', faults = { sites = { "
                                   "'interrupt_late', 'route_late' }, enable = 1, fire = 1 }"),
                        &on);
    CU_ASSERT_EQUAL(without.exit_code, SIMLUA_EXIT_PASS);
    CU_ASSERT_EQUAL(off.exit_code, SIMLUA_EXIT_PASS);
    CU_ASSERT_EQUAL(on.exit_code, SIMLUA_EXIT_PASS);    /* late is not wrong */
    ASSERT_U64_EQ(off.now_ns, without.now_ns);
    ASSERT_U64_EQ(off.events_run, without.events_run);
    ASSERT_U64_EQ(off.trace_events, without.trace_events);
    CU_ASSERT(on.now_ns > without.now_ns);              /* every interrupt and route late */
    CU_ASSERT(on.trace_events > without.trace_events);  /* fault, faults_enabled, fault_site */
}

/* A protocol site fires at every reach when allowed: a lost control packet stops the
 * handshake, so the run fails; with sites = "real" the same settings never enable it. */
static void test_lua_class_filtering(void)
{
    struct simlua_outcome real, protocol;
    test_run_lua_source(ECHO_WORLD("faults = { sites = 'real', enable = 0, fire = 1 }"), &real);
    test_run_lua_source(ECHO_WORLD("faults = { sites = 'protocol', enable = 1, fire = 1 }"),
                        &protocol);
    CU_ASSERT_EQUAL(real.exit_code, SIMLUA_EXIT_PASS);
    CU_ASSERT_NOT_EQUAL(protocol.exit_code, SIMLUA_EXIT_PASS);
    struct simlua_outcome listed;
    test_run_lua_source(ECHO_WORLD("faults = { sites = { 'control_packet_lost' }, enable = 1, "
                                   "fire = 1 }"), &listed);
    CU_ASSERT_NOT_EQUAL(listed.exit_code, SIMLUA_EXIT_PASS);
    struct simlua_outcome real_all_on;
    test_run_lua_source(ECHO_WORLD("faults = { sites = 'real', enable = 1, fire = 0 }"),
                        &real_all_on);
    CU_ASSERT_EQUAL(real_all_on.exit_code, SIMLUA_EXIT_PASS);
}

static void test_lua_faults_refuses_invalid_settings(void)
{
    test_expect_world_refused("faults = 1");
    test_expect_world_refused("faults = 'real'");
    test_expect_world_refused("faults = { sites = 'most' }");
    test_expect_world_refused("faults = { sites = { 'no_such_site' } }");
    test_expect_world_refused("faults = { sites = { 3 } }");
    test_expect_world_refused("faults = { sites = 4 }");
    test_expect_world_refused("faults = { enable = 1.5 }");
    test_expect_world_refused("faults = { fire = -0.1 }");
    test_expect_world_refused("faults = { fire = 'often' }");
    test_expect_world_refused("faults = { dg_drop = 2 }");
    test_expect_world_refused("faults = { suspend = -0.1 }");    /* a rate is a number >= 0 */
    test_expect_world_refused("faults = { fire = 0/0 }");
}

CU_ErrorCode faults_suite_add(void)
{
    static const struct test_entry tests[] = {
        TEST_ENTRY(test_off_draws_nothing_and_never_fires),
        TEST_ENTRY(test_a_site_fires_only_when_enabled),
        TEST_ENTRY(test_a_probability_above_one_is_refused),
        TEST_ENTRY(test_same_seed_same_firings_other_seed_others),
        TEST_ENTRY(test_lua_faults_off_runs_as_without_the_option),
        TEST_ENTRY(test_lua_class_filtering),
        TEST_ENTRY(test_lua_faults_refuses_invalid_settings),
    };
    return test_suite_register("faults", tests, sizeof(tests) / sizeof(tests[0]));
}
