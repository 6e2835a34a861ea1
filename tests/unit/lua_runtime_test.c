/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/lua_runtime_test.c: the Lua runner (sim/lua) through its C API.
 *
 * Method: each test writes a small scenario to a temporary file and runs it with
 * simlua_run. Scenarios check what only Lua can see with sim.expect; the C side
 * asserts the exit code and that no expectation failed, and computes reference
 * values (the sim.pattern formula, XXH3-64) independently of the runtime.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <xxhash.h>

#include "sim/engine/duration.h"
#include "sim/engine/engine.h"
#include "sim/lua/lua_int.h"
#include "sim/lua/runtime.h"
#include "suites.h"
#include "test_support.h"

/* Runs `source` as a quiet scenario (seed 1) and returns the outcome. */
static struct simlua_outcome run_source(const char *source)
{
    struct simlua_outcome outcome;
    test_run_lua_source(source, &outcome);
    return outcome;
}

#define ASSERT_PASSES(source)                                    \
    do {                                                         \
        struct simlua_outcome outcome_ = run_source(source);     \
        CU_ASSERT_EQUAL(outcome_.failure_count, 0);              \
        CU_ASSERT_EQUAL(outcome_.exit_code, SIMLUA_EXIT_PASS);   \
    } while (0)

/* The pattern formula of scenario-api.md, written out again here. */
static uint8_t pattern_byte(uint64_t seed, uint64_t index)
{
    uint64_t z = seed + (index / 8) * 0x9E3779B97F4A7C15ull;
    z ^= z >> 30;
    z *= 0xBF58476D1CE4E5B9ull;
    z ^= z >> 27;
    z *= 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (uint8_t)(z >> (8 * (index % 8)));
}

static void test_pattern_first_bytes_match_formula(void)
{
    char source[1024];
    int used = snprintf(source, sizeof(source),
                        "local sim = require('vmcisim')\nlocal expected = '");
    for (uint64_t index = 0; index < 16; index++)
        used += snprintf(source + used, sizeof(source) - (size_t)used, "\\x%02x",
                         pattern_byte(1, index));
    snprintf(source + used, sizeof(source) - (size_t)used,
             "'\nsim.world{}\nsim.expect(sim.pattern(1, 0, 16) == expected, 'formula')\n");
    ASSERT_PASSES(source);
}

/* An offset inside a block, whole blocks and a short tail: every byte is the formula's. */
static void test_pattern_unaligned_slice_matches_formula(void)
{
    char source[1024];
    int used = snprintf(source, sizeof(source),
                        "local sim = require('vmcisim')\nlocal expected = '");
    for (uint64_t index = 5; index < 5 + 43; index++)
        used += snprintf(source + used, sizeof(source) - (size_t)used, "\\x%02x",
                         pattern_byte(9, index));
    snprintf(source + used, sizeof(source) - (size_t)used,
             "'\nsim.world{}\nsim.expect(sim.pattern(9, 5, 43) == expected, 'formula')\n");
    ASSERT_PASSES(source);
}

static void test_pattern_slices_periods_and_seeds(void)
{
    ASSERT_PASSES(
        "local sim = require('vmcisim')\nsim.world{}\n"
        "local whole = sim.pattern(7, 0, 5000)\n"
        "for _, cut in ipairs({ {0, 1}, {1, 7}, {2, 3}, {3, 13}, {8, 8}, {8, 5}, {4093, 907},\n"
        "                      {4999, 1}, {6, 0} }) do\n"
        "  local o, n = cut[1], cut[2]\n"
        "  sim.expect(sim.pattern(7, o, n) == whole:sub(o + 1, o + n), 'slice ' .. o)\n"
        "end\n"
        "for period = 1, 1024 do\n"
        "  sim.expect(whole:sub(1, 256) ~= whole:sub(period + 1, period + 256), 'period ' .. period)\n"
        "end\n"
        "sim.expect(sim.pattern(8, 0, 64) ~= sim.pattern(7, 0, 64), 'seeds differ')\n"
        "sim.expect(sim.pattern(7, 0, 0) == '', 'empty')\n");
}

/* The fill itself, both ways (four words at a time where the machine has AVX2, one at a
 * time), against the formula: every offset within a block, lengths around each boundary
 * of the vector loop, seeds whose sums wrap. The guard bytes around the slice stay. */
static void test_pattern_fill_both_ways_match_formula(void)
{
    enum { GUARD = 16, LENGTH_MAX = 300 };
    static const uint64_t seeds[] = { 0, 1, 9, 0xFFFFFFFFFFFFFFFFull, 0x8000000000000001ull };
    static uint8_t buffer[2][GUARD + LENGTH_MAX + GUARD];
    uint64_t mismatches = 0, guards_touched = 0, bytes_checked = 0;
    for (size_t seed_index = 0; seed_index < sizeof(seeds) / sizeof(seeds[0]); seed_index++) {
        for (uint64_t offset = 0; offset < 20; offset++) {
            for (uint64_t length = 0; length <= LENGTH_MAX; length++) {
                for (int way = 0; way < 2; way++) {
                    memset(buffer[way], 0xA5, sizeof(buffer[way]));
                    simlua__pattern_fill(buffer[way] + GUARD, seeds[seed_index],
                                         offset * 8 + offset % 8, length, way == 0);
                    for (uint64_t index = 0; index < length; index++) {
                        uint8_t want = pattern_byte(seeds[seed_index],
                                                    offset * 8 + offset % 8 + index);
                        mismatches += buffer[way][GUARD + index] != want;
                        bytes_checked++;
                    }
                    for (size_t index = 0; index < GUARD; index++) {
                        guards_touched += buffer[way][index] != 0xA5;
                        guards_touched += buffer[way][GUARD + length + index] != 0xA5;
                    }
                }
            }
        }
    }
    ASSERT_U64_EQ(mismatches, 0);
    ASSERT_U64_EQ(guards_touched, 0);
    ASSERT_U64_EQ(bytes_checked, 2ull * 5 * 20 * (LENGTH_MAX * (LENGTH_MAX + 1) / 2));
}

static void test_checksum_is_xxh3_64_hex(void)
{
    char source[512];
    const char *text = "vmcisim checksum";
    snprintf(source, sizeof(source),
             "local sim = require('vmcisim')\nsim.world{}\n"
             "sim.expect(sim.checksum('%s') == '%016llx', 'xxh3-64')\n"
             "local bytes = sim.pattern(3, 0, 4096)\n"
             "local swapped = bytes:sub(1, 99) .. bytes:sub(101, 101) .. bytes:sub(100, 100) .. bytes:sub(102)\n"
             "sim.expect(bytes ~= swapped, 'the swap changes the bytes')\n"
             "sim.expect(sim.checksum(bytes) ~= sim.checksum(swapped), 'swap changes checksum')\n"
             "sim.expect(#sim.checksum('') == 16, '16 hex digits')\n",
             text, (unsigned long long)XXH3_64bits(text, strlen(text)));
    ASSERT_PASSES(source);
}

static void test_sandbox_pairs_order_and_tostring(void)
{
    ASSERT_PASSES(
        "local sim = require('vmcisim')\nsim.world{}\n"
        "local t = { b = 1, a = 2, [3] = 'x', [-1] = 'y', [true] = 'z', [2.5] = 'w' }\n"
        "local seen = {}\n"
        "for k in pairs(t) do seen[#seen + 1] = tostring(k) end\n"
        "sim.expect(table.concat(seen, ' ') == '-1 3 a b true 2.5', table.concat(seen, ' '))\n"
        "local k1 = next(t)\n"
        "sim.expect(k1 == -1, 'next starts at the first key in order')\n"
        "sim.expect(next(t, 'b') == true, 'next follows the order')\n"
        "local s = tostring({})\n"
        "sim.expect(s:match('^table: #%d+$') ~= nil, s)\n"
        "sim.expect(not tostring(print):find('0x'), 'no address for functions')\n"
        "sim.expect(not string.format('%s', {}):find('0x'), 'no address via %s')\n"
        "local ok, err = pcall(string.format, '%p', {})\n"
        "sim.expect(not ok and err:find('%%p'), 'percent-p refused')\n");
}

static void test_sandbox_removes_nondeterministic_doors(void)
{
    ASSERT_PASSES(
        "local sim = require('vmcisim')\n"
        "local ok, err = pcall(math.random)\n"
        "sim.expect(not ok and err:find('needs a world'), 'random before world')\n"
        "local w = sim.world{}\n"
        "for _, name in ipairs({ 'getenv', 'execute', 'exit', 'remove', 'tmpname' }) do\n"
        "  local ok2, err2 = pcall(os[name], 'x')\n"
        "  sim.expect(not ok2 and err2:find('not available'), 'os.' .. name)\n"
        "end\n"
        "sim.expect(io.read == nil and io.open == nil and io.write ~= nil, 'io.write only')\n"
        "sim.expect(not pcall(dofile, 'x') and not pcall(loadfile, 'x'), 'no dofile/loadfile')\n"
        "sim.expect(load('\\27Lua') == nil, 'no binary chunks')\n"
        "sim.expect(not pcall(string.dump, print), 'no string.dump')\n"
        "sim.expect(load('return 1 + 1')() == 2, 'text chunks load')\n"
        "sim.expect(not pcall(math.randomseed, 1), 'randomseed refused')\n"
        "sim.expect(os.time() == 0 and os.clock() == 0, 'os time is simulated')\n"
        "sim.expect(os.date('%Y-%m-%d', 86400) == '1970-01-02', 'os.date in UTC')\n"
        "w:host():spawn('p', function(p) p:sleep(sim.s(2)); sim.expect(os.time() == 2, 'os.time') end)\n");
}

static void test_random_is_deterministic_and_in_range(void)
{
    ASSERT_PASSES(
        "local sim = require('vmcisim')\nsim.world{ seed = 99 }\n"
        "for i = 1, 1000 do local x = math.random(3, 5); sim.expect(x >= 3 and x <= 5, 'range') end\n"
        "for i = 1, 100 do local x = math.random(); sim.expect(x >= 0 and x < 1, 'unit') end\n"
        "sim.expect(not pcall(math.random, 5, 3), 'empty interval')\n");
}

static void test_time_helpers_round_to_ns(void)
{
    ASSERT_PASSES(
        "local sim = require('vmcisim')\n"
        "sim.expect(sim.ns(5) == 5 and sim.us(3) == 3000 and sim.ms(1.5) == 1500000, 'units')\n"
        "sim.expect(sim.s(2) == 2000000000 and sim.us(0.0004) == 0 and sim.us(0.0006) == 1, 'round')\n"
        "sim.expect(math.type(sim.ms(1.5)) == 'integer', 'integers')\n"
        "sim.expect(not pcall(sim.ms, -1), 'negative refused')\n");
}

static void test_world_options_are_checked(void)
{
    ASSERT_PASSES(
        "local sim = require('vmcisim')\n"
        "local function fails(pattern, f, ...)\n"
        "  local ok, err = pcall(f, ...)\n"
        "  sim.expect(not ok and tostring(err):find(pattern, 1, true), pattern .. ' / ' .. tostring(err))\n"
        "end\n"
        "fails(\"unknown option 'sed'\", sim.world, { sed = 1 })\n"
        "fails(\"unknown product 'esxi-9'\", sim.world, { product = 'esxi-9' })\n"
        "fails('host_os applies to hosted products only', sim.world, { host_os = 'linux' })\n"
        "fails('does not run on host_os', sim.world, { product = 'fusion-4', host_os = 'windows' })\n"
        "fails(\"unknown option 'vms_max'\", sim.world, { limits = { vms_max = 3 } })\n"
        "fails('limits.processes must be a positive integer', sim.world, { limits = { processes = 0 } })\n"
        "fails(\"unknown option 'no_such_cost'\", sim.world, { timing = { no_such_cost = 5 } })\n"
        "local w = sim.world{ product = 'workstation-7', host_os = 'windows' }\n"
        "sim.expect(w.product == 'workstation-7' and w.host_os == 'windows', 'accepted')\n"
        "fails('one world per run', sim.world, {})\n");
}

static void test_vm_cids_follow_D15_and_R8(void)
{
    ASSERT_PASSES(
        "local sim = require('vmcisim')\nlocal w = sim.world{}\n"
        "local function fails(pattern, f, ...)\n"
        "  local ok, err = pcall(f, ...)\n"
        "  sim.expect(not ok and tostring(err):find(pattern, 1, true), pattern .. ' / ' .. tostring(err))\n"
        "end\n"
        "local a = w:vm{ name = 'a', vmx = { ['vmci0.id'] = '100' } }\n"
        "local b = w:vm{ name = 'b', vmx = { ['vmci0.id'] = '100' } }\n"
        "sim.expect(a.cid == 100 and b.cid == 101, 'R8: next free CID')\n"
        "sim.expect(b:vmx('vmci0.id') == '101', 'R8: written back')\n"
        "local c = w:vm{ name = 'c', vmx = { ['vmci0.id'] = '-2' } }\n"
        "sim.expect(c.cid == 4294967294, 'D15: negative modulo 2^32')\n"
        "local d = w:vm{ name = 'd' }\n"
        "sim.expect(d.cid >= 16 and d.cid < 2147483648, 'D15: generated range')\n"
        "fails('not a valid CID', w.vm, w, { name = 'e', vmx = { ['vmci0.id'] = '15' } })\n"
        "fails('not a valid CID', w.vm, w, { name = 'e', vmx = { ['vmci0.id'] = '-1' } })\n"
        "fails('not a valid CID', w.vm, w, { name = 'e', vmx = { ['vmci0.id'] = '12abc' } })\n"
        "fails('needs virtual hardware >= 7', w.vm, w, { name = 'e', hw_version = 6, vmx = { ['vmci0.present'] = 'TRUE' } })\n"
        "fails(\"named 'a' already exists\", w.vm, w, { name = 'a' })\n"
        "sim.expect(#w:vms() == 4 and w:vms()[1] == a, 'vms in creation order')\n"
        "sim.expect(w:host().cid == 2 and w:host() == w:host(), 'host is CID 2')\n");
}

static void test_limits_name_themselves(void)
{
    ASSERT_PASSES(
        "local sim = require('vmcisim')\n"
        "local w = sim.world{ limits = { processes = 2, vms = 1 } }\n"
        "local h = w:host()\n"
        "h:spawn('one', function(p) end)\nh:spawn('two', function(p) end)\n"
        "local ok, err = pcall(h.spawn, h, 'three', function(p) end)\n"
        "sim.expect(not ok and err:find('processes_max'), tostring(err))\n"
        "w:vm{ name = 'only' }\n"
        "ok, err = pcall(w.vm, w, { name = 'second' })\n"
        "sim.expect(not ok and err:find('vms_max'), tostring(err))\n");
    /* A limit hit makes the run fail even when the scenario catches the error; the one
     * deliberate failure at the end proves the checks before it ran. */
    struct simlua_outcome caught = run_source(
        "local sim = require('vmcisim')\n"
        "local w = sim.world{ limits = { trace_events = 40 } }\n"
        "w:host():spawn('chatty', function(p) for i = 1, 100 do sim.log('line %d', i) end end)\n"
        "local ok, err = pcall(w.run, w)\n"
        "sim.expect(not ok and err:find('trace_events_max'), tostring(err))\n"
        "sim.expect(false, 'marker: the end was reached')\n");
    CU_ASSERT_EQUAL(caught.failure_count, 1);
    CU_ASSERT_EQUAL(caught.exit_code, SIMLUA_EXIT_FAIL);
    CU_ASSERT_STRING_EQUAL(caught.stopped, "error");
}

static void test_process_kill_join_and_misuse(void)
{
    ASSERT_PASSES(
        "local sim = require('vmcisim')\nlocal w = sim.world{}\nlocal h = w:host()\n"
        "local reached = false\n"
        "local victim = h:spawn('victim', function(p) p:sleep(sim.s(10)); reached = true end)\n"
        "local self_killer = h:spawn('self', function(p) p:sleep(5); p:kill(); reached = true end)\n"
        "h:spawn('killer', function(p)\n"
        "  p:sleep(sim.ms(1))\n"
        "  sim.expect(victim:kill() == true, 'kill returns true')\n"
        "  sim.expect(p:join(victim) == true, 'join a killed process')\n"
        "  sim.expect(w.now == sim.ms(1), 'the kill takes effect at once')\n"
        "  sim.expect(victim:state() == 'killed' and self_killer:state() == 'killed', 'states')\n"
        "  local sleeper = h:spawn('sleeper', function(q) q:sleep(sim.ms(5)) end)\n"
        "  local ok, name, code = p:join(sleeper, sim.ms(1))\n"
        "  sim.expect(ok == nil and name == 'ETIMEDOUT' and code == 110, 'join timeout')\n"
        "  sim.expect(p:join(sleeper) == true and w.now == sim.ms(6), 'join waits for the end')\n"
        "  local co = coroutine.wrap(function() p:sleep(1) end)\n"
        "  local ok2, err = pcall(co)\n"
        "  sim.expect(not ok2 and err:find('inside a coroutine the scenario created'), tostring(err))\n"
        "  local ok3, err3 = pcall(victim.sleep, victim, 1)\n"
        "  sim.expect(not ok3 and err3:find('p:sleep'), tostring(err3))\n"
        "end)\n"
        "local r = w:run()\n"
        "sim.expect(not reached, 'killed processes did not continue')\n"
        "sim.expect(r.stopped == 'idle', r.stopped)\n");
    struct simlua_outcome yielded = run_source(
        "local sim = require('vmcisim')\nlocal w = sim.world{}\n"
        "w:host():spawn('yielder', function(p) coroutine.yield() end)\n");
    CU_ASSERT_EQUAL(yielded.exit_code, SIMLUA_EXIT_FAIL);
    CU_ASSERT_EQUAL(yielded.failure_count, 1);
}

static void test_run_without_explicit_run_and_without_world(void)
{
    struct simlua_outcome outcome = run_source(
        "local sim = require('vmcisim')\nlocal w = sim.world{}\n"
        "w:host():spawn('p', function(p) p:sleep(sim.ms(3)) end)\n");
    CU_ASSERT_EQUAL(outcome.exit_code, SIMLUA_EXIT_PASS);
    CU_ASSERT_EQUAL(outcome.now_ns, 3000000u);
    CU_ASSERT_STRING_EQUAL(outcome.stopped, "idle");
    struct simlua_outcome empty = run_source("local x = 1 + 1\n");
    CU_ASSERT_EQUAL(empty.exit_code, SIMLUA_EXIT_PASS);
    CU_ASSERT_FALSE(empty.world_created);
}

static void test_duration_parse(void)
{
    uint64_t ns = 0;
    CU_ASSERT_EQUAL(sim_duration_parse("250ms", &ns), 0);
    CU_ASSERT_EQUAL(ns, 250000000u);
    CU_ASSERT_EQUAL(sim_duration_parse("1.5ms", &ns), 0);
    CU_ASSERT_EQUAL(ns, 1500000u);
    CU_ASSERT_EQUAL(sim_duration_parse("3s", &ns), 0);
    CU_ASSERT_EQUAL(ns, 3000000000u);
    CU_ASSERT_EQUAL(sim_duration_parse("1500us", &ns), 0);
    CU_ASSERT_EQUAL(ns, 1500000u);
    CU_ASSERT_EQUAL(sim_duration_parse("42", &ns), 0);
    CU_ASSERT_EQUAL(ns, 42u);
    CU_ASSERT_EQUAL(sim_duration_parse("0.0000000015s", &ns), 0);   /* 1.5 ns rounds to 2 */
    CU_ASSERT_EQUAL(ns, 2u);
    CU_ASSERT_EQUAL(sim_duration_parse("1.0000000004s", &ns), 0);
    CU_ASSERT_EQUAL(ns, 1000000000u);
    CU_ASSERT_EQUAL(sim_duration_parse(".5us", &ns), 0);
    CU_ASSERT_EQUAL(ns, 500u);
    CU_ASSERT_EQUAL(sim_duration_parse("18446744073709551614", &ns), 0);   /* the longest */
    CU_ASSERT_EQUAL(ns, SIM_DURATION_NS_MAX);
    CU_ASSERT_EQUAL(sim_duration_parse("18446744073.709551614s", &ns), 0);
    CU_ASSERT_EQUAL(ns, SIM_DURATION_NS_MAX);
    const char *bad[] = { "", "ms", "-1ms", "1.ms", "5parsecs", "1e3", "1 ms",
                          "99999999999999999999999x", "99999999999999999999999.5x" };
    for (size_t index = 0; index < sizeof(bad) / sizeof(bad[0]); index++)
        CU_ASSERT_EQUAL(sim_duration_parse(bad[index], &ns), SIM_EINVAL);
    /* A duration's text, only too long: told apart so that a message can say so. */
    const char *too_long[] = { "99999999999999999999s", "18446744073709551615",
                               "18446744073.709551615s", "18446744073.7095516145s",
                               "18446744074s", "99999999999999999999999999999999999ns",
                               "99999999999999999999999.5" };
    for (size_t index = 0; index < sizeof(too_long) / sizeof(too_long[0]); index++)
        CU_ASSERT_EQUAL(sim_duration_parse(too_long[index], &ns), SIM_ELIMIT);
    CU_ASSERT_STRING_EQUAL(sim_duration_problem(SIM_EINVAL), "is not a duration");
    CU_ASSERT_PTR_NOT_NULL(strstr(sim_duration_problem(SIM_ELIMIT), "longest"));
    char text[32];
    sim_time_format(1500000, text, sizeof(text));
    CU_ASSERT_STRING_EQUAL(text, "0.001500000");
}

/* Replay's loader: with preloaded texts the scenario and what it requires come from them
 * (the paths need not exist on disk), and a path not among them is a load error (exit 3),
 * never a read from disk. */
static void test_preloaded_files_replace_the_disk(void)
{
    static char main_text[] = "local sim = require(\"vmcisim\")\n"
                              "local lib = require(\"helper\")\n"
                              "sim.expect(lib.value == 42, \"from the preloaded helper\")\n";
    static char helper_text[] = "return { value = 42 }\n";
    struct simlua_file files[2] = {
        { "/nonexistent/dir/main.lua", main_text, sizeof(main_text) - 1 },
        { "/nonexistent/dir/helper.lua", helper_text, sizeof(helper_text) - 1 },
    };
    struct simlua_options options = {
        .scenario_path = "/nonexistent/dir/main.lua", .seed = 1, .until_ns = SIM_TIME_NEVER,
        .quiet = true, .preloaded = files, .preloaded_count = 2,
    };
    struct simlua_outcome outcome;
    struct simlua_runtime *runtime = simlua_create(&options);
    CU_ASSERT_PTR_NOT_NULL_FATAL(runtime);
    simlua_run(runtime, &outcome);
    ASSERT_U64_EQ(outcome.exit_code, SIMLUA_EXIT_PASS);
    ASSERT_U64_EQ(outcome.failure_count, 0);
    ASSERT_U64_EQ(simlua_file_count(runtime), 2);
    simlua_destroy(runtime);
    options.preloaded_count = 1;                    /* the helper is not among them now */
    runtime = simlua_create(&options);
    CU_ASSERT_PTR_NOT_NULL_FATAL(runtime);
    simlua_run(runtime, &outcome);
    ASSERT_U64_EQ(outcome.exit_code, SIMLUA_EXIT_LOAD);
    simlua_destroy(runtime);
}

/* Writes `source` to a new file (its name in `path`), runs it with seed 1 and checks that
 * it passed; returns the runtime, for the caller to read its counters and destroy. */
static struct simlua_runtime *runtime_run_passing(const char *source,
                                                  char path[TEST_LUA_PATH_BYTES])
{
    test_write_lua_file(source, path);
    struct simlua_options options = {
        .scenario_path = path, .seed = 1, .until_ns = SIM_TIME_NEVER, .quiet = true,
    };
    struct simlua_runtime *runtime = simlua_create(&options);
    CU_ASSERT_PTR_NOT_NULL_FATAL(runtime);
    struct simlua_outcome outcome;
    simlua_run(runtime, &outcome);
    ASSERT_U64_EQ(outcome.exit_code, SIMLUA_EXIT_PASS);
    ASSERT_U64_EQ(outcome.failure_count, 0);
    return runtime;
}

/* A large recv copies the ring's bytes into the block its string then takes
 * (simlua__string_reserve): the strings hold exactly the bytes sent, whether the recv got
 * all it asked for (the string takes the prepared block), fewer (the string is copied from
 * it), fewer than SIMLUA_STRING_RESERVE_BYTES_MIN, peeked first, or crossed the ring's end
 * (the string is made from the ring's two pieces); and the prepared blocks were taken. */
static void test_large_recv_strings_hold_the_ring_bytes(void)
{
    static const char source[] =
        "local sim = require('vmcisim')\nlocal w = sim.world{}\n"
        "local host, guest = w:host(), w:vm{ name = 'g' }\n"
        "local data, ready, done = sim.pattern(7, 0, 400000), false, false\n"
        "local sizes = { 65536, 30000, 20000, 65536, 65536, 15536, 65536, 40000 }\n"
        "host:spawn('s', function(p)\n"
        "  local l = assert(p:socket('stream')); assert(l:setsockopt('buffer_size', 131072))\n"
        "  assert(l:bind(sim.CID_ANY, 5000)); assert(l:listen(1)); ready = true\n"
        "  local c, at = assert(l:accept()), 1\n"
        "  for _, n in ipairs(sizes) do\n"
        "    assert(c:send(data:sub(at, at + n - 1)) == n); at = at + n\n"
        "    p:sleep(sim.ms(1))\n"
        "  end\n"
        "  c:close(); l:close()\n"
        "end)\n"
        "guest:spawn('r', function(p)\n"
        "  while not ready do p:sleep(sim.us(10)) end\n"
        "  local s = assert(p:socket('stream')); assert(s:setsockopt('buffer_size', 131072))\n"
        "  assert(s:connect(sim.CID_HOST, 5000))\n"
        "  local at = 1\n"
        "  for index, n in ipairs(sizes) do\n"
        "    if index == 3 then\n"
        "      local peeked = assert(s:recv(65536, 'peek'))\n"
        "      sim.expect(peeked == data:sub(at, at + n - 1), 'peek ' .. index)\n"
        "    end\n"
        "    local piece = assert(s:recv(65536))\n"
        "    sim.expect(piece == data:sub(at, at + n - 1), 'piece ' .. index .. ': ' .. #piece)\n"
        "    at = at + #piece\n"
        "  end\n"
        "  sim.expect(assert(s:recv(65536)) == '', 'end of stream'); done = true\n"
        "end)\n"
        "local r = w:run()\n"
        "sim.expect(done and r.stopped == 'idle', r.stopped)\n";
    char path[TEST_LUA_PATH_BYTES];
    struct simlua_runtime *runtime = runtime_run_passing(source, path);
    /* The first 64 KiB measured where a string's bytes lie. Of the other whole 64 KiB reads
     * (in a 128 KiB ring), the one across the ring's end was made from the two pieces, the
     * two that were not took their blocks. */
    CU_ASSERT_FALSE(runtime->string_contents_unknowable);
    CU_ASSERT_NOT_EQUAL(runtime->string_contents_offset, 0);
    ASSERT_U64_EQ(runtime->string_blocks_taken, 2);
    simlua_destroy(runtime);
    unlink(path);
}

/* Large received strings after a collection reuse the blocks it freed (string_block_keep,
 * runtime.c): 160 receives of 64 KiB, each a different piece of the stream, outgrow the
 * collector's 4 MiB pace, so some strings are made in kept blocks; every piece must still
 * hold its own bytes (a kept block that kept its old bytes would fail it), and the kept
 * blocks never pass their bound. */
static void test_large_recv_strings_reuse_freed_blocks(void)
{
    static const char source[] =
        "local sim = require('vmcisim')\nlocal w = sim.world{}\n"
        "local host, guest = w:host(), w:vm{ name = 'g' }\n"
        "local count, size, ready, done = 160, 65536, false, false\n"
        "host:spawn('s', function(p)\n"
        "  local l = assert(p:socket('stream')); assert(l:setsockopt('buffer_size', 262144))\n"
        "  assert(l:bind(sim.CID_ANY, 5000)); assert(l:listen(1)); ready = true\n"
        "  local c = assert(l:accept())\n"
        "  for index = 1, count do\n"
        "    assert(c:send(sim.pattern(9, index * size, size)) == size)\n"
        "  end\n"
        "  c:close(); l:close()\n"
        "end)\n"
        "guest:spawn('r', function(p)\n"
        "  while not ready do p:sleep(sim.us(10)) end\n"
        "  local s = assert(p:socket('stream')); assert(s:setsockopt('buffer_size', 262144))\n"
        "  assert(s:connect(sim.CID_HOST, 5000))\n"
        "  local at = 0\n"
        "  while true do\n"
        "    local piece = assert(s:recv(size))\n"
        "    if #piece == 0 then break end\n"
        "    sim.expect(piece == sim.pattern(9, size + at, #piece), 'piece at ' .. at)\n"
        "    at = at + #piece\n"
        "  end\n"
        "  sim.expect(at == count * size, 'received ' .. at); done = true\n"
        "end)\n"
        "local r = w:run()\n"
        "sim.expect(done and r.stopped == 'idle', r.stopped)\n";
    char path[TEST_LUA_PATH_BYTES];
    struct simlua_runtime *runtime = runtime_run_passing(source, path);
    CU_ASSERT(runtime->gc_collections >= 1);
    CU_ASSERT(runtime->string_blocks_reused >= 1);
    CU_ASSERT(runtime->string_blocks_taken > runtime->string_blocks_reused);
    CU_ASSERT(runtime->string_blocks_kept_count * runtime->string_kept_block_bytes <=
              SIMLUA_STRING_BLOCKS_KEPT_BYTES_MAX);
    simlua_destroy(runtime);
    unlink(path);
}

/* What a load added to the runtime's counters that a scenario can see through them. */
struct load_effect {
    uint64_t creations;
    uint64_t live_bytes;
    uint64_t pace_bytes;
};

static struct load_effect chunk_load_effect(struct simlua_runtime *runtime, const char *text,
                                            const char *name)
{
    uint64_t creation = runtime->object_id_next;
    uint64_t live = runtime->object_live_bytes;
    uint64_t pace = runtime->gc_object_bytes_since;
    int rc = simlua__chunk_load(runtime->L, text, strlen(text), name);
    CU_ASSERT_EQUAL(rc, LUA_OK);
    struct load_effect effect = { runtime->object_id_next - creation,
                                  runtime->object_live_bytes - live,
                                  runtime->gc_object_bytes_since - pace };
    CU_ASSERT_EQUAL(lua_pcall(runtime->L, 0, 1, 0), LUA_OK);
    CU_ASSERT_EQUAL(lua_tointeger(runtime->L, -1), 42);     /* the chunk runs the same */
    lua_pop(runtime->L, 1);
    return effect;
}

/* A sweep worker's second load of a chunk comes from the cache (chunk_cache.c) and makes
 * the same numbered objects and paced bytes as the parse; a chunk whose parse makes objects
 * the cached load would not (a long literal twice) is parsed every time. */
static void test_chunk_cache_loads_alike(void)
{
    struct simlua_options options = {
        .scenario_path = "chunk_cache_test.lua", .seed = 1, .until_ns = SIM_TIME_NEVER,
        .quiet = true, .reuse_chunks = true,
    };
    struct simlua_runtime *runtime = simlua_create(&options);
    CU_ASSERT_PTR_NOT_NULL_FATAL(runtime);
    const char *text = "local t = { 'a', 'b' }\nlocal function f(x) return x * 2 end\n"
                       "return f(#t * 10 + 1)\n";
    uint64_t cached_before = simlua__chunk_cache_loads();
    struct load_effect parsed = chunk_load_effect(runtime, text, "=chunk_cache_test");
    struct load_effect cached = chunk_load_effect(runtime, text, "=chunk_cache_test");
    ASSERT_U64_EQ(simlua__chunk_cache_loads(), cached_before + 1);
    ASSERT_U64_EQ(parsed.creations, 2);         /* the function, the parser's table */
    ASSERT_U64_EQ(cached.creations, parsed.creations);
    ASSERT_U64_EQ(cached.live_bytes, parsed.live_bytes);
    ASSERT_U64_EQ(cached.pace_bytes, parsed.pace_bytes);
    /* A literal of SIMLUA_GC_STRING_BYTES_MIN bytes or more, twice: the parser makes two
     * paced strings, a cached load one; so it is never loaded from the cache. */
    size_t literal_bytes = SIMLUA_GC_STRING_BYTES_MIN + 10;
    char *long_text = malloc(2 * literal_bytes + 96);
    CU_ASSERT_PTR_NOT_NULL_FATAL(long_text);
    char *literal = malloc(literal_bytes + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(literal);
    memset(literal, 'x', literal_bytes);
    literal[literal_bytes] = '\0';
    snprintf(long_text, 2 * literal_bytes + 96, "local a, b = '%s', '%s'\nreturn 42\n", literal,
             literal);
    cached_before = simlua__chunk_cache_loads();
    parsed = chunk_load_effect(runtime, long_text, "=chunk_cache_long");
    cached = chunk_load_effect(runtime, long_text, "=chunk_cache_long");
    ASSERT_U64_EQ(simlua__chunk_cache_loads(), cached_before);
    ASSERT_U64_EQ(cached.live_bytes, parsed.live_bytes);
    /* The literal once in each of two functions: both ways make two strings, but the parser
     * keeps one of them (the second is found equal to the first), the code two. */
    snprintf(long_text, 2 * literal_bytes + 96,
             "local a = '%s'\nlocal function g() return '%s' end\nreturn 42\n", literal,
             literal);
    parsed = chunk_load_effect(runtime, long_text, "=chunk_cache_long2");
    cached = chunk_load_effect(runtime, long_text, "=chunk_cache_long2");
    ASSERT_U64_EQ(simlua__chunk_cache_loads(), cached_before);
    free(literal);
    free(long_text);
    simlua_destroy(runtime);
}

/* The runtime keeps the stopped collector's debt far below zero with a step of negative
 * size (runtime.c, gc_debt_lower). What that relies on in this Lua: such a step runs no
 * collection (the garbage made before is still counted), moves no byte of what
 * collectgarbage("count") reports, and leaves the collector stopped; and a runtime's
 * collector is stopped after its creation and after each of its full collections. */
static void test_negative_step_only_lowers_the_debt(void)
{
    lua_State *L = luaL_newstate();
    CU_ASSERT_PTR_NOT_NULL_FATAL(L);
    lua_gc(L, LUA_GCSTOP);
    for (int index = 0; index < 1000; index++) {
        lua_newtable(L);                                /* garbage at once */
        lua_pop(L, 1);
    }
    int kib = lua_gc(L, LUA_GCCOUNT);
    int bytes = lua_gc(L, LUA_GCCOUNTB);
    CU_ASSERT_EQUAL(lua_gc(L, LUA_GCSTEP, SIMLUA_GC_DEBT_LOWER_KIB), 0);
    CU_ASSERT_EQUAL(lua_gc(L, LUA_GCCOUNT), kib);
    CU_ASSERT_EQUAL(lua_gc(L, LUA_GCCOUNTB), bytes);
    CU_ASSERT_EQUAL(lua_gc(L, LUA_GCISRUNNING), 0);
    lua_newtable(L);                                    /* counted as before */
    CU_ASSERT(lua_gc(L, LUA_GCCOUNT) * 1024 + lua_gc(L, LUA_GCCOUNTB) > kib * 1024 + bytes);
    lua_pop(L, 1);
    lua_gc(L, LUA_GCCOLLECT);                           /* the garbage was still there */
    CU_ASSERT(lua_gc(L, LUA_GCCOUNT) < kib);
    lua_close(L);

    struct simlua_options options = {
        .scenario_path = "negative_step_test.lua", .seed = 1, .until_ns = SIM_TIME_NEVER,
        .quiet = true,
    };
    struct simlua_runtime *runtime = simlua_create(&options);
    CU_ASSERT_PTR_NOT_NULL_FATAL(runtime);
    CU_ASSERT_EQUAL(lua_gc(runtime->L, LUA_GCISRUNNING), 0);
    uint64_t collections = runtime->gc_collections;
    simlua__gc_collect(runtime->L);
    ASSERT_U64_EQ(runtime->gc_collections, collections + 1);
    CU_ASSERT_EQUAL(lua_gc(runtime->L, LUA_GCISRUNNING), 0);
    simlua_destroy(runtime);
}

/* SIMLUA_MEMORY_BYTES_MAX refuses only what would take the footprint (the blocks Lua
 * holds and what the pool holds idle) past it: a block the pool has idle is handed out
 * even at the limit, where a state whose garbage once filled the pool refused every
 * block forever. Driven through the state's allocator with the footprint set at the
 * limit (memory_bytes raised for the test, then put back). */
static void test_limit_spares_idle_pool_memory(void)
{
    struct simlua_options options = {
        .scenario_path = "limit_test.lua", .seed = 1, .until_ns = SIM_TIME_NEVER, .quiet = true,
    };
    struct simlua_runtime *runtime = simlua_create(&options);
    CU_ASSERT_PTR_NOT_NULL_FATAL(runtime);
    void *state = NULL;
    lua_Alloc allocate = lua_getallocf(runtime->L, &state);
    const size_t small_bytes = 100, large_bytes = 2 * SIMLUA_POOL_BLOCK_BYTES_MAX;
    void *freed = allocate(state, NULL, 0, small_bytes);        /* a block, then idle */
    CU_ASSERT_PTR_NOT_NULL_FATAL(freed);
    allocate(state, freed, small_bytes, 0);
    uint64_t memory_bytes = runtime->memory_bytes;
    uint64_t idle_bytes = simlua__pool_idle_bytes(&runtime->pool);
    runtime->memory_bytes = SIMLUA_MEMORY_BYTES_MAX - idle_bytes;     /* footprint == limit */
    uint64_t refusals = runtime->limit_refusals;
    void *again = allocate(state, NULL, 0, small_bytes);
    if (SIMLUA_POOL_IN_RUNTIME) {
        CU_ASSERT_PTR_EQUAL(again, freed);      /* the idle block itself, not a refusal */
        ASSERT_U64_EQ(runtime->limit_refusals, refusals);
        /* Growing it within its class uses bytes the footprint did not count: refused when
         * that passes the limit (the footprint set at it again). */
        runtime->memory_bytes = SIMLUA_MEMORY_BYTES_MAX - simlua__pool_idle_bytes(&runtime->pool);
        CU_ASSERT_EQUAL(simlua__pool_class(small_bytes + 16).index,
                        simlua__pool_class(small_bytes + 24).index);
        void *grown = allocate(state, again, small_bytes, small_bytes + 8);
        CU_ASSERT_PTR_NULL(grown);
        CU_ASSERT(runtime->limit_refusals > refusals);
        refusals = runtime->limit_refusals;
        allocate(state, again, small_bytes, 0);
    } else {
        CU_ASSERT_PTR_NULL(again);      /* under ASan every block is malloc'd: new memory */
        CU_ASSERT(runtime->limit_refusals > refusals);
        refusals = runtime->limit_refusals;
    }
    CU_ASSERT_PTR_NULL(allocate(state, NULL, 0, large_bytes));  /* malloc'd: refused */
    CU_ASSERT(runtime->limit_refusals > refusals);
    runtime->memory_bytes = memory_bytes;
    CU_ASSERT_PTR_NOT_NULL(again = allocate(state, NULL, 0, large_bytes));   /* below it */
    allocate(state, again, large_bytes, 0);
    simlua_destroy(runtime);
}

/* Short strings pace the collector (runtime.c): the probe finds which string blocks are
 * short (Lua interns them), a new short string counts its bytes, a long one or one that
 * exists already does not; and processes too short for the instruction hook (which
 * counts each coroutine apart) that make nothing but short strings still get collections,
 * where before they had none and grew towards SIMLUA_MEMORY_BYTES_MAX (200 processes of
 * 100 000 strings each: 1.5 GB resident, now 181 MB). */
static void test_short_strings_pace_the_collector(void)
{
    char path[TEST_LUA_PATH_BYTES];
    test_write_lua_file("local sim = require('vmcisim')\n"
                        "local w = sim.world{ limits = { processes = 100 } }\n"
                        "local prefix = string.rep('p', 25)\n"
                        "for n = 1, 60 do\n"
                        "  w:host():spawn('p' .. n, function(p)\n"
                        "    local s\n"
                        "    for i = 1, 20000 do s = prefix .. n .. '_' .. i end\n"
                        "  end)\n"
                        "end\n", path);
    struct simlua_options options = {
        .scenario_path = path, .seed = 1, .until_ns = SIM_TIME_NEVER, .quiet = true,
    };
    struct simlua_runtime *runtime = simlua_create(&options);
    CU_ASSERT_PTR_NOT_NULL_FATAL(runtime);
    size_t short_max = runtime->short_string_block_bytes_max;
    CU_ASSERT(short_max > 40 && short_max < SIMLUA_SHORT_STRING_PROBE_BYTES_MAX);
    uint64_t since = runtime->gc_short_string_bytes_since;
    lua_pushliteral(runtime->L, "a short string made here");     /* new: counted */
    CU_ASSERT(runtime->gc_short_string_bytes_since > since);
    since = runtime->gc_short_string_bytes_since;
    lua_pushliteral(runtime->L, "a short string made here");     /* interned: nothing */
    ASSERT_U64_EQ(runtime->gc_short_string_bytes_since, since);
    char long_text[SIMLUA_SHORT_STRING_PROBE_BYTES_MAX];
    memset(long_text, 'L', sizeof(long_text));
    lua_pushlstring(runtime->L, long_text, sizeof(long_text));  /* long: not counted */
    ASSERT_U64_EQ(runtime->gc_short_string_bytes_since, since);
    lua_pop(runtime->L, 3);
    struct simlua_outcome outcome;
    simlua_run(runtime, &outcome);
    CU_ASSERT_EQUAL(outcome.exit_code, SIMLUA_EXIT_PASS);
    /* 1.2 M strings of about 60 bytes: past SIMLUA_GC_SHORT_STRING_BYTES_MIN once. */
    CU_ASSERT(runtime->gc_collections >= 1);
    ASSERT_U64_EQ(runtime->gc_instructions_since, 0);       /* the hook never counted */
    CU_ASSERT(runtime->memory_bytes < 2ull * SIMLUA_GC_SHORT_STRING_BYTES_MIN);
    simlua_destroy(runtime);
    unlink(path);
}

CU_ErrorCode lua_runtime_suite_add(void)
{
    /* Reported without the test_ prefix, so not TEST_ENTRY. */
    static const struct test_entry tests[] = {
        { "pattern_first_bytes_match_formula", test_pattern_first_bytes_match_formula },
        { "pattern_unaligned_slice_matches_formula",
          test_pattern_unaligned_slice_matches_formula },
        { "pattern_slices_periods_and_seeds", test_pattern_slices_periods_and_seeds },
        { "pattern_fill_both_ways_match_formula", test_pattern_fill_both_ways_match_formula },
        { "checksum_is_xxh3_64_hex", test_checksum_is_xxh3_64_hex },
        { "sandbox_pairs_order_and_tostring", test_sandbox_pairs_order_and_tostring },
        { "sandbox_removes_nondeterministic_doors", test_sandbox_removes_nondeterministic_doors },
        { "random_is_deterministic_and_in_range", test_random_is_deterministic_and_in_range },
        { "time_helpers_round_to_ns", test_time_helpers_round_to_ns },
        { "world_options_are_checked", test_world_options_are_checked },
        { "vm_cids_follow_D15_and_R8", test_vm_cids_follow_D15_and_R8 },
        { "limits_name_themselves", test_limits_name_themselves },
        { "process_kill_join_and_misuse", test_process_kill_join_and_misuse },
        { "run_without_explicit_run_and_without_world",
          test_run_without_explicit_run_and_without_world },
        { "duration_parse", test_duration_parse },
        { "preloaded_files_replace_the_disk", test_preloaded_files_replace_the_disk },
        { "chunk_cache_loads_alike", test_chunk_cache_loads_alike },
        { "large_recv_strings_hold_the_ring_bytes", test_large_recv_strings_hold_the_ring_bytes },
        { "large_recv_strings_reuse_freed_blocks", test_large_recv_strings_reuse_freed_blocks },
        { "negative_step_only_lowers_the_debt", test_negative_step_only_lowers_the_debt },
        { "limit_spares_idle_pool_memory", test_limit_spares_idle_pool_memory },
        { "short_strings_pace_the_collector", test_short_strings_pace_the_collector },
    };
    return test_suite_register("lua_runtime", tests, sizeof(tests) / sizeof(tests[0]));
}
