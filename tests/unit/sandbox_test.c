/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/sandbox_test.c: the Lua sandbox is deterministic and closed
 * (sim/lua/sandbox.c, sandbox_lib.c, the allocator and hook in runtime.c).
 *
 * Method: each test runs a small scenario through simlua_run. The scenario checks
 * the documented order itself (creation order, stable sort, exact traceback text)
 * with sim.expect and ends with a marker line the C side counts, so a scenario that
 * stops early cannot pass: the C side asserts the exit code and that no expectation
 * failed. Orders are asserted against what the program did (creation order), never
 * against a second run, so the check holds whatever the addresses are.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "sim/engine/engine.h"
#include "sim/lua/runtime.h"
#include "suites.h"
#include "test_support.h"

/* Runs `source` (quiet, seed 1) with a per-step instruction limit (0: the default). */
static struct simlua_outcome run_limited(const char *source, uint64_t instructions_max)
{
    char path[TEST_LUA_PATH_BYTES];
    test_write_lua_file(source, path);
    struct simlua_options options = {
        .scenario_path = path, .seed = 1, .until_ns = SIM_TIME_NEVER, .quiet = true,
        .instructions_per_step_max = instructions_max,
    };
    struct simlua_runtime *runtime = simlua_create(&options);
    CU_ASSERT_FATAL(runtime != NULL);
    struct simlua_outcome outcome;
    simlua_run(runtime, &outcome);
    simlua_destroy(runtime);
    unlink(path);
    return outcome;
}

/* The scenario must reach its last line: it ends with sim.expect(false, "end"), the
 * one failure the C side expects. */
#define ASSERT_REACHES_END(source)                                           \
    do {                                                                     \
        struct simlua_outcome outcome_ =                                     \
            run_limited("local sim = require('vmcisim')\n" source            \
                        "sim.expect(false, 'marker: the end was reached')\n", 0); \
        CU_ASSERT_EQUAL(outcome_.failure_count, 1);                          \
        CU_ASSERT_EQUAL(outcome_.exit_code, SIMLUA_EXIT_FAIL);               \
    } while (0)

static void test_reference_keys_come_out_in_creation_order(void)
{
    /* The reproducer, then every kind of reference key mixed. */
    ASSERT_REACHES_END(
        "local t = {}; for i = 1, 30 do t[{}] = i end\n"
        "local seen = {}\n"
        "for _, v in pairs(t) do seen[#seen + 1] = v end\n"
        "sim.expect(#seen == 30, 'all keys')\n"
        "for i = 1, 30 do sim.expect(seen[i] == i, 'creation order at ' .. i) end\n"
        "local w = sim.world{}\n"
        "local keys = { {}, function() end, coroutine.create(function() end),\n"
        "               w:vm{ name = 'g' }, {}, coroutine.create(print),\n"
        "               function() return 1 end }\n"
        "local mixed = {}\n"
        "for i = #keys, 1, -1 do mixed[keys[i]] = i end\n"
        "local order = {}\n"
        "for k, v in pairs(mixed) do order[#order + 1] = v end\n"
        "sim.expect(table.concat(order, ' ') == '1 2 3 4 5 6 7', table.concat(order, ' '))\n"
        "local numbers = {}\n"
        "for i = 1, #keys do\n"
        "  if i ~= 4 then numbers[#numbers + 1] = tostring(keys[i]):match('#(%d+)$') end\n"
        "end\n"
        "local ok = true\n"
        "for i = 2, #numbers do ok = ok and tonumber(numbers[i - 1]) < tonumber(numbers[i]) end\n"
        "sim.expect(ok, 'tostring shows the same numbers: ' .. table.concat(numbers, ' '))\n"
        );
}

static void test_next_and_pairs_agree(void)
{
    ASSERT_REACHES_END(
        "local t = { z = 1, a = 2, [5] = 3, [1] = 4, [false] = 5, [0.5] = 6 }\n"
        "for i = 1, 20 do t[{}] = 100 + i end\n"
        "local by_pairs, by_next = {}, {}\n"
        "for k, v in pairs(t) do by_pairs[#by_pairs + 1] = tostring(k) .. '=' .. v end\n"
        "local k, v = next(t)\n"
        "while k ~= nil do\n"
        "  by_next[#by_next + 1] = tostring(k) .. '=' .. v\n"
        "  k, v = next(t, k)\n"
        "end\n"
        "sim.expect(table.concat(by_pairs, ',') == table.concat(by_next, ','),\n"
        "           table.concat(by_next, ','))\n"
        "sim.expect(by_pairs[1] == '1=4' and by_pairs[2] == '5=3' and by_pairs[3] == 'a=2'\n"
        "           and by_pairs[5] == 'false=5' and by_pairs[6] == '0.5=6', by_pairs[1])\n"
        /* Clearing the current key during a next() walk is allowed, as in Lua. */
        "local u = { a = 1, b = 2, c = 3, d = 4 }\n"
        "local walked = {}\n"
        "local key = next(u)\n"
        "while key ~= nil do\n"
        "  walked[#walked + 1] = key\n"
        "  local following = next(u, key)\n"
        "  u[key] = nil\n"
        "  key = following\n"
        "end\n"
        "sim.expect(table.concat(walked) == 'abcd' and next(u) == nil, table.concat(walked))\n"
        "local v2 = { a = 1, c = 3 }\n"
        "sim.expect(next(v2, 'b') == 'c', 'an absent key: the next one in order')\n");
}

static void test_tostring_shows_creation_numbers_never_addresses(void)
{
    ASSERT_REACHES_END(
        "local function number(x) return tonumber(tostring(x):match('#(%d+)$')) end\n"
        "local a, b, c = {}, function() end, coroutine.create(function() end)\n"
        "sim.expect(number(a) < number(b) and number(b) < number(c), 'increasing')\n"
        "sim.expect(number(a) == number(a), 'stable')\n"
        "local w = sim.world{}\n"
        "local everything = { {}, print, pairs, next, ipairs({}), string.format, w,\n"
        "  w:host(), coroutine.running(), coroutine.wrap(print), string.gmatch('', 'x'),\n"
        "  utf8.codes(''), getmetatable(''), debug.traceback, sim.log, w.run, sim.world,\n"
        "  sim.ms, sim.expect, w.vm, w:host().spawn }\n"
        "for i, x in ipairs(everything) do\n"
        "  local text = tostring(x)\n"
        "  sim.expect(not text:find('0x') and not text:find('builtin'),\n"
        "             'item ' .. i .. ': ' .. text)\n"
        "  sim.expect(string.format('%s', x) == text, 'format agrees ' .. i)\n"
        "end\n"
        "sim.expect(tostring(print):match('^function: #%d+$'), tostring(print))\n"
        "sim.expect(not pcall(string.format, '%p', {}), 'no %p')\n"
        "sim.expect(tostring(0/0) == 'nan' and tostring(-(0/0)) == 'nan', tostring(0/0))\n"
        "local ok, err = pcall(error, setmetatable({}, {}))\n"
        "sim.expect(tostring(err):match('^table: #%d+$'), 'error objects too')\n");
}

static void test_sort_is_stable_and_deterministic(void)
{
    ASSERT_REACHES_END(
        "local items = {}\n"
        "for i = 1, 300 do items[i] = { key = (i * 7) % 5, id = i } end\n"
        "table.sort(items, function(x, y) return x.key < y.key end)\n"
        "local ok = true\n"
        "for i = 2, 300 do\n"
        "  local x, y = items[i - 1], items[i]\n"
        "  ok = ok and (x.key < y.key or (x.key == y.key and x.id < y.id))\n"
        "end\n"
        "sim.expect(ok, 'ties keep their input order')\n"
        /* An inconsistent comparator: a fixed result (a merge that always takes the
         * right run reverses a power-of-two array), no error. */
        "local r = {}\n"
        "for i = 1, 256 do r[i] = i end\n"
        "table.sort(r, function() return true end)\n"
        "local reversed = true\n"
        "for i = 1, 256 do reversed = reversed and r[i] == 257 - i end\n"
        "sim.expect(reversed, 'always-true comparator: reversed')\n"
        "local plain = { 5, 3, 9, 1, 3 }\n"
        "table.sort(plain)\n"
        "sim.expect(table.concat(plain, ' ') == '1 3 3 5 9', table.concat(plain, ' '))\n"
        "local words = { 'b', 'a', 'c' }\n"
        "table.sort(words, function(x, y) return x > y end)\n"
        "sim.expect(table.concat(words) == 'cba', table.concat(words))\n"
        "local ok2, err2 = pcall(table.sort, { 1, 'x' })\n"
        "sim.expect(not ok2 and err2:find('compare'), tostring(err2))\n");
}

static void test_debug_escapes_are_closed(void)
{
    ASSERT_REACHES_END(
        "local names = {}\n"
        "for k in pairs(debug) do names[#names + 1] = k end\n"
        "sim.expect(table.concat(names, ',') == 'traceback', table.concat(names, ','))\n"
        "sim.expect(package.loaded.debug == debug, 'no other debug in package.loaded')\n"
        "sim.expect(debug.getupvalue == nil and debug.setmetatable == nil and\n"
        "           debug.getregistry == nil and debug.getmetatable == nil, 'removed')\n"
        "local ok, err = pcall(string.dump, function() end)\n"
        "sim.expect(not ok and err:find('string.dump is not available'), tostring(err))\n"
        "local chunk, message = load('\\27Lua')\n"
        "sim.expect(chunk == nil and message:find('binary'), tostring(message))\n"
        "local ok2, err2 = pcall(setmetatable, {}, { __gc = function() end })\n"
        "sim.expect(not ok2 and err2:find('__gc'), tostring(err2))\n"
        "sim.expect(getmetatable(setmetatable({}, { __index = {} })) ~= nil, 'plain ok')\n"
        "local text = debug.traceback('boom')\n"
        "sim.expect(text:find('^boom\\nstack traceback:\\n\\t') ~= nil, text)\n"
        /* the traceback names the temporary script, whose suffix may hold a bare "0x" */
        "sim.expect(not text:find('0x%x%x%x%x%x%x'), text)\n");
}

static void test_collector_is_deterministic_or_refused(void)
{
    ASSERT_REACHES_END(
        "local weak = setmetatable({}, { __mode = 'k' })\n"
        "for i = 1, 1000 do weak[{}] = i end\n"
        "local kept = {}\n"
        "for i = 1, 10 do local k = {}; kept[i] = k; weak[k] = i end\n"
        "local before = 0\n"
        "for _ in pairs(weak) do before = before + 1 end\n"
        "sim.expect(before == 1010, 'no collection runs by itself: ' .. before)\n"
        "local count_before = collectgarbage('count')\n"
        "collectgarbage()\n"
        "local after = 0\n"
        "for _ in pairs(weak) do after = after + 1 end\n"
        "sim.expect(after == 10, 'a full collection keeps exactly the live keys')\n"
        "sim.expect(collectgarbage('count') < count_before, 'count went down')\n"
        "for _, option in ipairs({ 'step', 'stop', 'restart', 'incremental',\n"
        "                          'generational', 'setpause', 'isrunning' }) do\n"
        "  local ok, err = pcall(collectgarbage, option)\n"
        "  sim.expect(not ok and err:find('not available'), option)\n"
        "end\n");
    /* Garbage far beyond SIMLUA_GC_OBJECT_BYTES_MIN in one step: the hook collects. */
    ASSERT_REACHES_END(
        "local weak = setmetatable({}, { __mode = 'v' })\n"
        "weak[1] = {}\n"
        "for i = 1, 2000000 do local x = { i, i } end\n"
        "sim.expect(weak[1] == nil, 'collected during the step')\n");
    /* Large strings made by few instructions (no hook point): the allocator's backstop
     * makes Lua collect instead of growing to SIMLUA_MEMORY_BYTES_MAX. */
    ASSERT_REACHES_END(
        "local weak = setmetatable({}, { __mode = 'v' })\n"
        "weak[1] = {}\n"
        "for i = 1, 100 do local s = string.rep('x', 1 << 20) .. i end\n"
        "sim.expect(weak[1] == nil, 'collected by the allocator backstop')\n"
        "sim.expect(collectgarbage('count') < 64 * 1024, 'not every string kept')\n");
}

static void test_endless_loop_names_the_limit(void)
{
    struct simlua_outcome outcome = run_limited(
        "local sim = require('vmcisim')\n"
        "local ok, err = pcall(function() while true do end end)\n"
        "sim.expect(not ok, 'stopped')\n"
        "sim.expect(err:find('limit SIMLUA_INSTRUCTIONS_PER_STEP_MAX (2097152 Lua "
        "instructions without blocking) exceeded', 1, true), err)\n"
        "sim.expect(err:find('raised in sim/lua/runtime.h', 1, true), err)\n"
        "sim.expect(not err:find('invalid option'), err)\n"
        "sim.expect(false, 'marker: the end was reached')\n",
        2u << 20);
    CU_ASSERT_EQUAL(outcome.failure_count, 1);
    CU_ASSERT_EQUAL(outcome.exit_code, SIMLUA_EXIT_FAIL);
    /* Uncaught, in a process: the run fails. */
    struct simlua_outcome process = run_limited(
        "local sim = require('vmcisim')\n"
        "local w = sim.world{}\n"
        "w:host():spawn('spin', function(p) while true do end end)\n",
        2u << 20);
    CU_ASSERT_EQUAL(process.exit_code, SIMLUA_EXIT_FAIL);
    CU_ASSERT_EQUAL(process.failure_count, 1);
}

static void test_hostile_arguments_end_as_lua_errors(void)
{
    /* Each call must either work or raise a Lua error; the scenario counts both. */
    ASSERT_REACHES_END(
        "local calls = {\n"
        "  function() return pairs() end, function() return pairs(nil) end,\n"
        "  function() return pairs(setmetatable({}, { __pairs = 5 })) end,\n"
        "  function() return next() end, function() return next(1) end,\n"
        "  function() return next({ a = 1 }, 0/0) end,\n"
        "  function() return next({ a = 1 }, {}) end,\n"
        "  function() return next({ [1] = 1, [2.5] = 2 }, 2.5) end,\n"
        "  function() return table.sort() end, function() return table.sort({}, 5) end,\n"
        "  function() table.sort({ 3, 2, 1 }, function() error('in comparator') end) end,\n"
        "  function() table.sort(setmetatable({}, { __len = function() return -5 end })) end,\n"
        "  function() table.sort(setmetatable({}, { __len = function() return 1e15 end })) end,\n"
        "  function() table.sort(setmetatable({}, { __len = function() return 3 end,\n"
        "    __index = function() error('no index') end })) end,\n"
        "  function() return debug.traceback(coroutine.create(print)) end,\n"
        "  function() return debug.traceback('m', -5) end,\n"
        "  function() return debug.traceback('m', 1e9) end,\n"
        "  function() return debug.traceback({}) end,\n"
        "  function() return debug.traceback(coroutine.running(), 'x', 'y') end,\n"
        "  function() return collectgarbage({}) end, function() return collectgarbage(1) end,\n"
        "  function() return setmetatable({}, 5) end, function() return setmetatable(5, {}) end,\n"
        "  function() return setmetatable({}, setmetatable({}, { __index = { __gc = 1 } })) end,\n"
        "  function() return load() end, function() return load(5) end,\n"
        "  function() return load(function() return {} end) end,\n"
        "  function() return load('return 1', 'name', 'b') end,\n"
        "  function() return tostring() end,\n"
        "  function()\n"
        "    return tostring(setmetatable({}, { __tostring = function() return {} end }))\n"
        "  end,\n"
        "  function() return tostring(setmetatable({}, { __name = {} })) end,\n"
        "  function() return string.format('%s', setmetatable({}, { __name = 'N' })) end,\n"
        "  function() return string.format('%5p', 1) end, function() return string.format() end,\n"
        "  function() return string.dump() end,\n"
        "}\n"
        "local worked, raised = 0, 0\n"
        "for i, call in ipairs(calls) do\n"
        "  local ok, err = pcall(call)\n"
        "  if ok then worked = worked + 1 else raised = raised + 1 end\n"
        "  sim.expect(ok or type(err) == 'string', 'call ' .. i .. ': a message')\n"
        /* an address has many hex digits; the script's own temporary name (mkstemp's
         * suffix) may hold a bare "0x" */
        "  sim.expect(ok or not tostring(err):find('0x%x%x%x%x%x%x'),\n"
        "             'call ' .. i .. ': ' .. tostring(err))\n"
        "end\n"
        "sim.expect(worked + raised == #calls, 'every call returned')\n"
        "sim.expect(raised >= 20, 'most of them are refused: ' .. raised)\n");
}

CU_ErrorCode sandbox_suite_add(void)
{
    static const struct test_entry tests[] = {
        TEST_ENTRY(test_reference_keys_come_out_in_creation_order),
        TEST_ENTRY(test_next_and_pairs_agree),
        TEST_ENTRY(test_tostring_shows_creation_numbers_never_addresses),
        TEST_ENTRY(test_sort_is_stable_and_deterministic),
        TEST_ENTRY(test_debug_escapes_are_closed),
        TEST_ENTRY(test_collector_is_deterministic_or_refused),
        TEST_ENTRY(test_endless_loop_names_the_limit),
        TEST_ENTRY(test_hostile_arguments_end_as_lua_errors),
    };
    return test_suite_register("sandbox", tests, sizeof(tests) / sizeof(tests[0]));
}
