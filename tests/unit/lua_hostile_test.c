/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/lua_hostile_test.c: hostile scenarios against the Lua bindings (sim/lua).
 *
 * Method: each test runs a small scenario (test_run_lua_source, or a runtime made here
 * when the test needs its insides) and asserts the exit code and the failures recorded.
 * The scenarios check from Lua what only Lua sees (sim.expect); a crash would end the
 * whole test binary, which `make test` reports. tests/hostile_test.sh runs the issue's
 * reproducers through the command line; these cover what is easier to reach from C: the
 * Lua state running out of memory, and the behaviour that must stay as it was (ordinary
 * coroutines, objects after w:run, explicit close hints).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "sim/lua/lua_int.h"
#include "sim/lua/runtime.h"
#include "suites.h"
#include "test_support.h"

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

/* ---- out of memory: the runtime's allocator wrapped with a small limit ------------------- */

#define TEST_MEMORY_BYTES_MAX (32u * 1024 * 1024)

static lua_Alloc runtime_alloc_saved;

static void *limited_alloc(void *state, void *pointer, size_t old_bytes, size_t new_bytes)
{
    struct simlua_runtime *runtime = state;
    size_t held_bytes = pointer == NULL ? 0 : old_bytes;
    if (new_bytes > held_bytes &&
        runtime->memory_bytes + (new_bytes - held_bytes) > TEST_MEMORY_BYTES_MAX) {
        runtime->limit_refusals++;      /* as the runtime's allocator counts its refusals */
        return NULL;
    }
    return runtime_alloc_saved(state, pointer, old_bytes, new_bytes);
}

/* Runs `source` with the Lua state limited to TEST_MEMORY_BYTES_MAX; copies the first
 * failure's message into `message`. */
static void run_limited(const char *source, struct simlua_outcome *outcome, char *message,
                        size_t message_bytes)
{
    char path[TEST_LUA_PATH_BYTES];
    test_write_lua_file(source, path);
    struct simlua_options options = {
        .scenario_path = path, .seed = 1, .until_ns = SIM_TIME_NEVER, .quiet = true,
    };
    struct simlua_runtime *runtime = simlua_create(&options);
    CU_ASSERT_FATAL(runtime != NULL);
    void *state = NULL;
    runtime_alloc_saved = lua_getallocf(runtime->L, &state);
    CU_ASSERT_PTR_EQUAL_FATAL(state, runtime);
    lua_setallocf(runtime->L, limited_alloc, state);
    simlua_run(runtime, outcome);
    snprintf(message, message_bytes, "%s",
             runtime->failure_count > 0 ? runtime->failures[0].message : "");
    simlua_destroy(runtime);
    unlink(path);
}

/* An allocator that, once it has refused a request, refuses every later one that would
 * grow the state (frees and shrinks still pass): a state with no byte left to give, as the
 * runtime's own allocator leaves one whose block pool holds its limit idle. */
static bool sticky_refusing;

static void *sticky_alloc(void *state, void *pointer, size_t old_bytes, size_t new_bytes)
{
    size_t held_bytes = pointer == NULL ? 0 : old_bytes;
    if (new_bytes > held_bytes && sticky_refusing)
        return NULL;
    void *block = limited_alloc(state, pointer, old_bytes, new_bytes);
    if (block == NULL && new_bytes > held_bytes)
        sticky_refusing = true;
    return block;
}

/* The chunk's w:run() raises the run's stop after a process met the limit, and nothing
 * can be allocated any more: the chunk's error is still recorded as the run's failure
 * (composed without Lua memory), never Lua's panic, which aborted vmcisim. */
static void test_chunk_error_with_no_memory_left(void)
{
    char path[TEST_LUA_PATH_BYTES];
    test_write_lua_file("local sim = require('vmcisim')\n"
                        "local w = sim.world{}\n"
                        "w:host():spawn('hog', function(p)\n"
                        "  local keep = {}\n"
                        "  for i = 1, 1e9 do keep[i] = string.rep('x', 4096) .. i end\n"
                        "end)\n"
                        "w:run()\n"
                        "sim.log('not reached')\n", path);
    struct simlua_options options = {
        .scenario_path = path, .seed = 1, .until_ns = SIM_TIME_NEVER, .quiet = true,
    };
    struct simlua_runtime *runtime = simlua_create(&options);
    CU_ASSERT_FATAL(runtime != NULL);
    void *state = NULL;
    runtime_alloc_saved = lua_getallocf(runtime->L, &state);
    lua_setallocf(runtime->L, sticky_alloc, state);
    sticky_refusing = false;
    struct simlua_outcome outcome;
    simlua_run(runtime, &outcome);
    CU_ASSERT(sticky_refusing);                         /* the state was left full */
    CU_ASSERT_EQUAL(outcome.exit_code, SIMLUA_EXIT_FAIL);
    CU_ASSERT_STRING_EQUAL(outcome.stopped, "error");
    CU_ASSERT_FATAL(runtime->failure_count >= 2);       /* the process's, then the chunk's */
    CU_ASSERT_PTR_NOT_NULL(strstr(runtime->failures[0].message, "SIMLUA_MEMORY_BYTES_MAX"));
    /* w:run()'s own message could not be made either: Lua's "not enough memory". */
    CU_ASSERT_STRING_EQUAL(runtime->failures[runtime->failure_count - 1].message,
                           "error: not enough memory");
    sticky_refusing = false;                            /* lua_close may free and shrink */
    simlua_destroy(runtime);
    unlink(path);
}

/* A process that grows a table of strings until the Lua state is full: one recorded
 * failure naming the limit, the run stops (exit 1), nothing aborts. */
static void test_process_out_of_memory_ends_the_run(void)
{
    struct simlua_outcome outcome;
    char message[512];
    run_limited("local sim = require('vmcisim')\n"
                "local w = sim.world{}\n"
                "w:host():spawn('hog', function(p)\n"
                "  local keep = {}\n"
                "  for i = 1, 1e9 do keep[i] = string.rep('x', 4096) .. i end\n"
                "end)\n"
                "w:host():spawn('later', function(p) p:sleep(sim.ms(1)); sim.log('ran') end)\n",
                &outcome, message, sizeof(message));
    CU_ASSERT_EQUAL(outcome.exit_code, SIMLUA_EXIT_FAIL);
    CU_ASSERT_EQUAL(outcome.failure_count, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(message, "limit SIMLUA_MEMORY_BYTES_MAX"));
    CU_ASSERT_STRING_EQUAL(outcome.stopped, "error");      /* the run stopped there */
    CU_ASSERT_EQUAL(outcome.now_ns, 0);                    /* 'later' never woke */
}

/* The same inside the error object's __tostring: the failure text falls back to the
 * limit's name, the run stops, no panic. */
static void test_out_of_memory_in_tostring_falls_back(void)
{
    struct simlua_outcome outcome;
    char message[512];
    run_limited("local sim = require('vmcisim')\n"
                "local w = sim.world{}\n"
                "w:host():spawn('p', function(p)\n"
                "  error(setmetatable({}, { __tostring = function()\n"
                "    local keep = {}\n"
                "    for i = 1, 1e9 do keep[i] = string.rep('y', 4096) .. i end\n"
                "  end }))\n"
                "end)\n",
                &outcome, message, sizeof(message));
    CU_ASSERT_EQUAL(outcome.exit_code, SIMLUA_EXIT_FAIL);
    CU_ASSERT_EQUAL(outcome.failure_count, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(message, "limit SIMLUA_MEMORY_BYTES_MAX"));
    CU_ASSERT_STRING_EQUAL(outcome.stopped, "error");
}

/* The same in a w:at callback: never an error unwinding through the engine. */
static void test_callback_out_of_memory_ends_the_run(void)
{
    struct simlua_outcome outcome;
    char message[512];
    run_limited("local sim = require('vmcisim')\n"
                "local w = sim.world{}\n"
                "w:at(5, function()\n"
                "  local keep = {}\n"
                "  for i = 1, 1e9 do keep[i] = string.rep('z', 4096) .. i end\n"
                "end)\n"
                "w:at(10, function() sim.log('later') end)\n",
                &outcome, message, sizeof(message));
    CU_ASSERT_EQUAL(outcome.exit_code, SIMLUA_EXIT_FAIL);
    CU_ASSERT_EQUAL(outcome.failure_count, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(message, "SIMLUA_MEMORY_BYTES_MAX"));
    CU_ASSERT_STRING_EQUAL(outcome.stopped, "error");
    CU_ASSERT_EQUAL(outcome.now_ns, 5);
}

/* A memory error the scenario catches still stops the run and fails it (docs/limits.md:
 * a limit the run itself meets): pcall, xpcall, coroutine.resume and a coroutine.wrap
 * function inside pcall, in a process, in the main chunk and in a w:at callback. Lua's own
 * pcall handed back "not enough memory" and the run passed. */
#define HOG "local keep = {} for i = 1, 1e9 do keep[i] = string.rep('x', 4096) .. i end"

static void assert_caught_memory_error_fails(const char *source, bool stopped_in_run)
{
    struct simlua_outcome outcome;
    char message[512];
    run_limited(source, &outcome, message, sizeof(message));
    CU_ASSERT_EQUAL(outcome.exit_code, SIMLUA_EXIT_FAIL);
    CU_ASSERT_PTR_NOT_NULL(strstr(message, "limit SIMLUA_MEMORY_BYTES_MAX"));
    CU_ASSERT_PTR_NOT_NULL(strstr(message, "the scenario caught the memory error"));
    if (stopped_in_run) {
        CU_ASSERT_STRING_EQUAL(outcome.stopped, "error");  /* the run stopped there */
        CU_ASSERT_EQUAL(outcome.now_ns, 5);                 /* 'later' at 10 never ran */
    }
}

static void test_caught_memory_error_fails_the_run(void)
{
    static const char *const catchers[] = {
        "local ok, why = pcall(function() " HOG " end)",
        "local ok, why = xpcall(function() " HOG " end, function(m) return m end)",
        "local ok, why = coroutine.resume(coroutine.create(function() " HOG " end))",
        "local ok, why = pcall(coroutine.wrap(function() " HOG " end))",
        /* load catches its parser's errors: each chunk's code is about 1 MiB, the only
         * large allocation of the loop, so the limit is met inside load */
        ("local text = 'return {' .. string.rep('7,', 200000) .. '}' local keep = {} "
         "for i = 1, 1e9 do local f = load(text) if not f then break end keep[i] = f end"),
    };
    char source[1024];
    for (size_t index = 0; index < sizeof catchers / sizeof catchers[0]; index++) {
        snprintf(source, sizeof source,         /* in a process */
                 "local sim = require('vmcisim')\nlocal w = sim.world{}\n"
                 "w:host():spawn('p', function(p) p:sleep(5)\n%s\nend)\n"
                 "w:at(10, function() sim.log('later') end)\n", catchers[index]);
        assert_caught_memory_error_fails(source, true);
        snprintf(source, sizeof source,         /* in a w:at callback */
                 "local sim = require('vmcisim')\nlocal w = sim.world{}\n"
                 "w:at(5, function()\n%s\nend)\n"
                 "w:at(10, function() sim.log('later') end)\n", catchers[index]);
        assert_caught_memory_error_fails(source, true);
        snprintf(source, sizeof source,         /* in the main chunk, before any world */
                 "%s\nlocal w = require('vmcisim').world{}\n", catchers[index]);
        assert_caught_memory_error_fails(source, false);
    }
}

/* What the sandbox's pcall and xpcall must keep: their results, an ordinary error named
 * "not enough memory" that stays ordinary, the handler of xpcall, and a blocking call
 * inside a pcall (a yield across it). */
static void test_protected_calls_are_lua_s(void)
{
    ASSERT_PASSES("local sim = require('vmcisim')\n"
                  "local w = sim.world{}\n"
                  "local a, b, c = pcall(function(x, y) return x + y, 'two' end, 1, 2)\n"
                  "sim.expect(a == true and b == 3 and c == 'two', 'pcall results')\n"
                  "local ok, why = pcall(error, 'not enough memory')\n"
                  "sim.expect(not ok and why == 'not enough memory', 'an ordinary error')\n"
                  "local ok2, why2 = xpcall(error, function(m) return 'handled ' .. m end, 'x')\n"
                  "sim.expect(not ok2 and why2 == 'handled x', 'xpcall handler: ' .. tostring(why2))\n"
                  "sim.expect(select('#', pcall(function() end)) == 1, 'no results but true')\n"
                  "w:host():spawn('p', function(p)\n"
                  "  local ok3, value = pcall(function() p:sleep(7); return w.now end)\n"
                  "  sim.expect(ok3 and value == 7, 'a blocking call inside pcall')\n"
                  "  local ok4, why4 = pcall(function() p:sleep(1); error('after a wait', 0) end)\n"
                  "  sim.expect(not ok4 and why4 == 'after a wait', 'an error after a yield')\n"
                  "end)\n"
                  "w:run()\n");
}

/* ---- what must keep working -------------------------------------------------------------- */

/* A __tostring that works gives the failure its text (the protected path is not only a
 * fallback). */
static void test_error_object_tostring_is_used(void)
{
    struct simlua_outcome outcome;
    char message[512];
    run_limited("local sim = require('vmcisim')\n"
                "local w = sim.world{}\n"
                "w:host():spawn('p', function(p)\n"
                "  error(setmetatable({}, { __tostring = function() return 'custom text' end }))\n"
                "end)\n",
                &outcome, message, sizeof(message));
    CU_ASSERT_EQUAL(outcome.failure_count, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(message, "error: custom text"));
    CU_ASSERT_PTR_NOT_NULL(strstr(message, "stack traceback"));
}

/* Ordinary coroutines behave as Lua's own: generators in a process, a top-level
 * coroutine resumed in a process, wrap's error position, close, dead coroutines. */
static void test_coroutines_within_a_process_work(void)
{
    ASSERT_PASSES(
        "local sim = require('vmcisim')\n"
        "local w = sim.world{}\n"
        "local top = coroutine.create(function(a)\n"
        "  local b = coroutine.yield(a + 1); return b * 2 end)\n"
        "w:host():spawn('p', function(p)\n"
        "  local gen = coroutine.wrap(function() for i = 1, 3 do coroutine.yield(i) end end)\n"
        "  sim.expect(gen() == 1 and gen() == 2 and gen() == 3, 'generator')\n"
        "  local ok, v = coroutine.resume(top, 1)\n"
        "  sim.expect(ok and v == 2, 'top-level coroutine resumed in a process')\n"
        "  p:sleep(10)\n"
        "  ok, v = coroutine.resume(top, 21)\n"
        "  sim.expect(ok and v == 42 and coroutine.status(top) == 'dead', 'finished')\n"
        "  ok, v = coroutine.resume(top)\n"
        "  sim.expect(not ok and v == 'cannot resume dead coroutine', 'dead: ' .. tostring(v))\n"
        "  local bad = coroutine.wrap(function() error('inner') end)\n"
        "  local ok2, message = pcall(bad)\n"
        "  sim.expect(not ok2 and message:find('inner', 1, true), 'wrap error: ' .. message)\n"
        "  local c = coroutine.create(function() coroutine.yield() end)\n"
        "  coroutine.resume(c)\n"
        "  sim.expect(coroutine.close(c) and coroutine.status(c) == 'dead', 'close')\n"
        "  local me = coroutine.running()\n"
        "  local ok3, m3 = pcall(coroutine.close, me)\n"
        "  sim.expect(not ok3 and m3:find('body of process', 1, true), 'own body: ' .. m3)\n"
        "  sim.expect(select(2, coroutine.resume(coroutine.create(function(...)\n"
        "    return select('#', ...) end), 1, nil, 3)) == 3, 'arguments pass through')\n"
        "end)\n"
        "w:run()\n");
}

/* A w:at callback may not resume a process's coroutine either. */
static void test_callback_cannot_resume_a_process(void)
{
    struct simlua_outcome outcome = run_source(
        "local sim = require('vmcisim')\n"
        "local w = sim.world{}\n"
        "local body\n"
        "w:host():spawn('p', function(p) body = coroutine.running(); p:sleep(100) end)\n"
        "w:at(50, function()\n"
        "  local ok, message = coroutine.resume(body)\n"
        "  sim.expect(false, 'resume returned: ' .. tostring(message))\n"
        "end)\n"
        "w:run()\n");
    CU_ASSERT_EQUAL(outcome.exit_code, SIMLUA_EXIT_FAIL);
    CU_ASSERT_EQUAL(outcome.failure_count, 1);     /* the callback's error, not the expect */
    CU_ASSERT_EQUAL(outcome.now_ns, 100);          /* p still slept its 100 ns */
}

/* Every object type hides its metatable; objects stay usable after w:run() returns. */
static void test_metatables_are_hidden_and_objects_outlive_run(void)
{
    ASSERT_PASSES(
        "local sim = require('vmcisim')\n"
        "local w = sim.world{}\n"
        "local g = w:vm{ name = 'g' }\n"
        "local dev = assert(g:device())\n"
        "local seen = {}\n"
        "g:spawn('p', function(p)\n"
        "  local v = p:vmci()\n"
        "  local dg = assert(v:datagram())\n"
        "  local qp = assert(v:queue_pair_alloc(sim.CID_HOST, 4096, 4096))\n"
        "  for _, o in ipairs({ w, g, p, p:socket('dgram'), dev, v, dg, qp }) do\n"
        "    seen[#seen + 1] = getmetatable(o)\n"
        "  end\n"
        "  sim.expect(not pcall(setmetatable, p, {}), 'setmetatable refused')\n"
        "  dg:close()\n"
        "  qp:detach()\n"
        "end)\n"
        "w:run()\n"
        "sim.expect(table.concat(seen, ' ') == 'vmcisim.world vmcisim.endpoint vmcisim.process '\n"
        "  .. 'vmcisim.socket vmcisim.device vmcisim.vmci vmcisim.datagram vmcisim.queue_pair',\n"
        "  table.concat(seen, ' '))\n"
        "sim.expect(w.now > 0 and g.name == 'g' and dev:read('STATUS') ~= nil, 'after w:run')\n");
}

/* The finalizer check must not mistake a stopped collector for a finalizer. */
static void test_bindings_work_with_the_collector_stopped(void)
{
    ASSERT_PASSES(
        "local sim = require('vmcisim')\n"
        "pcall(collectgarbage, 'stop')    -- the sandbox may refuse it\n"
        "local w = sim.world{}\n"
        "local dev = assert(w:vm{ name = 'g' }:device())\n"
        "sim.expect(dev:read('STATUS') ~= nil and w.now == 0, 'bindings usable')\n");
}

/* s:close() then a method: EBADF with the closing process in the hint. */
static void test_close_hint_names_the_closer(void)
{
    ASSERT_PASSES(
        "local sim = require('vmcisim')\n"
        "local w = sim.world{}\n"
        "w:host():spawn('p', function(p)\n"
        "  local s = p:socket('dgram')\n"
        "  p:sleep(5)\n"
        "  assert(s:close())\n"
        "  local r, name, errno, hint = s:bind(sim.CID_ANY, 7)\n"
        "  sim.expect(r == nil and name == 'EBADF' and errno == 9, 'EBADF')\n"
        "  sim.expect(hint == 'socket 1 was closed at 0.000000005 s by s:close() in host/p',\n"
        "             hint)\n"
        "  sim.expect(s:state() == 'closed', 'state')\n"
        "end)\n"
        "w:run()\n");
}

CU_ErrorCode lua_hostile_suite_add(void)
{
    static const struct test_entry tests[] = {
        TEST_ENTRY(test_process_out_of_memory_ends_the_run),
        TEST_ENTRY(test_out_of_memory_in_tostring_falls_back),
        TEST_ENTRY(test_callback_out_of_memory_ends_the_run),
        TEST_ENTRY(test_chunk_error_with_no_memory_left),
        TEST_ENTRY(test_caught_memory_error_fails_the_run),
        TEST_ENTRY(test_protected_calls_are_lua_s),
        TEST_ENTRY(test_error_object_tostring_is_used),
        TEST_ENTRY(test_coroutines_within_a_process_work),
        TEST_ENTRY(test_callback_cannot_resume_a_process),
        TEST_ENTRY(test_metatables_are_hidden_and_objects_outlive_run),
        TEST_ENTRY(test_bindings_work_with_the_collector_stopped),
        TEST_ENTRY(test_close_hint_names_the_closer),
    };
    return test_suite_register("lua_hostile", tests, sizeof(tests) / sizeof(tests[0]));
}
