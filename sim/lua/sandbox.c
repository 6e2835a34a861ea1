/* SPDX-License-Identifier: MIT */
/*
 * sim/lua/sandbox.c: the deterministic sandbox a scenario runs in.
 *
 * Lua 5.4 seeds its string hash from the clock and from addresses, so table
 * traversal order, and anything that prints an address, differs between two
 * runs of the same scenario. The sandbox replaces every such door
 * (docs/determinism.md has the whole list and the reasons):
 *   - pairs/next walk keys in a fixed order: integers ascending, strings in byte
 *     order, booleans (false, true), other numbers ascending, then tables,
 *     functions, userdata and threads by creation number (the allocator in
 *     runtime.c numbers them as Lua creates them; light C functions get numbers
 *     from a walk of the libraries in name order, which a sweep worker records once
 *     and replays: struct walk_plan);
 *   - tostring/print/string.format("%s") show "table: #N" with N the creation
 *     number, never an address; string.format("%p") is refused;
 *   - math.random draws from the world's "lua" stream; os.time/clock/date read
 *     simulated time (os.date in UTC); table.sort is a stable merge sort;
 *   - debug holds only an address-free traceback; string.dump, __gc on tables and
 *     the collector's knobs are refused; the collector runs only full cycles at
 *     points fixed by the program (runtime.c);
 *   - no os.getenv/execute/exit/remove/rename/tmpname, no io but io.write, no
 *     dofile/loadfile, load() of text only, require loads files relative to the
 *     scenario (and records them for the trace), no C modules;
 *   - wrapped originals (load, setmetatable, string.format, os.date) live in static
 *     storage, never in an upvalue a scenario could reach.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lualib.h>
#include <xxhash.h>

#include "lua_int.h"

#define SANDBOX_BUILTINS_KEY "vmcisim.builtins"
/* Keys a single pairs() may sort: bounded by Lua memory, stated for the reader. */
#define SANDBOX_KEYS_MAX (1u << 26)
/* How deep the walk that numbers built-in C functions goes from the registry. */
#define SANDBOX_BUILTIN_DEPTH_MAX 5
/* Upvalues of one C closure the walk looks into (Lua allows 255). */
#define SANDBOX_BUILTIN_UPVALUES_MAX 255
/* The walk's table sizes to start with (about 190 numbered functions and 30 tables a walk
 * today): only a hint, a table grows past it. */
#define SANDBOX_BUILTINS_EXPECTED 256
#define SANDBOX_VISITED_EXPECTED 32

/* Whether the function at `index` is a light C function (no object, no allocation). */
static bool is_light_function(lua_State *L, int index)
{
    if (!lua_iscfunction(L, index))
        return false;
    lua_CFunction function = lua_tocfunction(L, index);
    return (uintptr_t)lua_topointer(L, index) == (uintptr_t)function;
}

/* The number a light C function got when the sandbox walked the libraries; 0: none. */
static uint64_t builtin_number(lua_State *L, int index)
{
    index = lua_absindex(L, index);
    lua_getfield(L, LUA_REGISTRYINDEX, SANDBOX_BUILTINS_KEY);
    uint64_t number = 0;
    if (lua_istable(L, -1)) {
        lua_pushvalue(L, index);
        if (lua_rawget(L, -2) == LUA_TNUMBER)
            number = (uint64_t)lua_tointeger(L, -1);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return number;
}

/* How many user values the full userdata at `index` has (lua_getiuservalue says when
 * one is beyond the last); raises beyond SIMLUA_USER_VALUES_MAX. */
static int user_value_count(lua_State *L, int index)
{
    for (int count = 0; count <= SIMLUA_USER_VALUES_MAX; count++) {
        int type = lua_getiuservalue(L, index, count + 1);
        lua_pop(L, 1);
        if (type == LUA_TNONE)
            return count;
    }
    luaL_error(L, "a userdata with more than SIMLUA_USER_VALUES_MAX (%d) user values has "
                  "no creation number", SIMLUA_USER_VALUES_MAX);
    return 0;
}

/* The creation number of a reference value (runtime.c numbers tables, functions,
 * userdata and threads as the allocator creates them), the walk's number of a light C
 * function, or 0 (a light C function the walk did not reach; any other type). */
static uint64_t value_creation(lua_State *L, int index)
{
    struct simlua_runtime *runtime = simlua__runtime(L);
    switch (lua_type(L, index)) {
    case LUA_TTABLE:
        return simlua__block_creation(lua_topointer(L, index));
    case LUA_TFUNCTION:
        if (is_light_function(L, index))
            return builtin_number(L, index);
        return simlua__block_creation(lua_topointer(L, index));
    case LUA_TTHREAD:
        return simlua__block_creation((const char *)lua_tothread(L, index) -
                                      runtime->thread_offset_bytes);
    case LUA_TUSERDATA: {
        int values = user_value_count(L, index);
        return simlua__block_creation((const char *)lua_touserdata(L, index) -
                                      runtime->userdata_offset_bytes[values]);
    }
    default:
        return 0;
    }
}

/* Measures where the Lua API's pointer to a thread and to a full userdata (for each
 * user-value count) sits in the object's block, instead of assuming Lua's layout. */
static void measure_offsets(lua_State *L)
{
    struct simlua_runtime *runtime = simlua__runtime(L);
    lua_State *thread = lua_newthread(L);
    runtime->thread_offset_bytes =
        (size_t)((const char *)thread - (const char *)runtime->object_block_last);
    lua_pop(L, 1);
    for (int values = 0; values <= SIMLUA_USER_VALUES_MAX; values++) {
        const char *memory = lua_newuserdatauv(L, 1, values);
        runtime->userdata_offset_bytes[values] =
            (size_t)(memory - (const char *)runtime->object_block_last);
        assert(runtime->userdata_offset_bytes[values] < 1024);
        lua_pop(L, 1);
    }
    assert(runtime->thread_offset_bytes < 1024);
    /* The main thread was the state's first object. */
    lua_pushthread(L);
    assert(value_creation(L, -1) == 1);
    lua_pop(L, 1);
}

static lua_Integer object_id(lua_State *L, int index)
{
    return (lua_Integer)value_creation(L, index);
}

const char *simlua__tostring(lua_State *L, int index, size_t *length_out)
{
    index = lua_absindex(L, index);
    if (luaL_callmeta(L, index, "__tostring")) {
        if (!lua_isstring(L, -1))
            luaL_error(L, "'__tostring' must return a string");
        return lua_tolstring(L, -1, length_out);
    }
    switch (lua_type(L, index)) {
    case LUA_TNUMBER:
        if (!lua_isinteger(L, index) && lua_tonumber(L, index) != lua_tonumber(L, index)) {
            lua_pushliteral(L, "nan");          /* the C library may print "-nan" */
            return lua_tolstring(L, -1, length_out);
        }
        return luaL_tolstring(L, index, length_out);
    case LUA_TNIL:
    case LUA_TBOOLEAN:
    case LUA_TSTRING:
        return luaL_tolstring(L, index, length_out);
    case LUA_TLIGHTUSERDATA:
        lua_pushliteral(L, "userdata: light");
        return lua_tolstring(L, -1, length_out);
    default: {
        int name_type = luaL_getmetafield(L, index, "__name");
        const char *kind = name_type == LUA_TSTRING ? lua_tostring(L, -1)
                                                    : luaL_typename(L, index);
        lua_Integer id = object_id(L, index);
        if (id == 0)
            lua_pushfstring(L, "%s: builtin", kind);
        else
            lua_pushfstring(L, "%s: #%I", kind, id);
        if (name_type != LUA_TNIL)
            lua_remove(L, -2);
        return lua_tolstring(L, -1, length_out);
    }
    }
}

static int sandbox_tostring(lua_State *L)
{
    luaL_checkany(L, 1);
    simlua__tostring(L, 1, NULL);
    return 1;
}

static int sandbox_print(lua_State *L)
{
    int count = lua_gettop(L);
    for (int index = 1; index <= count; index++) {
        size_t length = 0;
        const char *text = simlua__tostring(L, index, &length);
        if (index > 1)
            fputc('\t', stdout);
        fwrite(text, 1, length, stdout);
        lua_pop(L, 1);
    }
    fputc('\n', stdout);
    fflush(stdout);
    return 0;
}

/* The order of pairs(): categories first, then the value within one. */
enum key_category {
    KEY_INTEGER,
    KEY_STRING,
    KEY_BOOLEAN,
    KEY_FLOAT,
    KEY_OBJECT,             /* tables, functions, userdata, threads: creation order */
    KEY_UNNUMBERED,         /* a C function the walk did not reach: at most one per table */
};

struct key_entry {
    int category;           /* enum key_category */
    lua_Integer integer;    /* integer value, boolean value or creation number */
    lua_Number number;
    const char *text;       /* borrowed: the key stays in the keys table */
    size_t length;
    int position;           /* index in the unsorted keys table */
};

static int key_compare(const void *left_pointer, const void *right_pointer)
{
    const struct key_entry *left = left_pointer;
    const struct key_entry *right = right_pointer;
    if (left->category != right->category)
        return left->category < right->category ? -1 : 1;
    if (left->category == KEY_STRING) {
        size_t common = left->length < right->length ? left->length : right->length;
        int order = memcmp(left->text, right->text, common);
        if (order != 0)
            return order;
        return left->length < right->length ? -1 : left->length > right->length ? 1 : 0;
    }
    if (left->category == KEY_FLOAT)
        return left->number < right->number ? -1 : left->number > right->number ? 1 : 0;
    return left->integer < right->integer ? -1 : left->integer > right->integer ? 1 : 0;
}

static void key_describe(lua_State *L, int index, struct key_entry *entry)
{
    switch (lua_type(L, index)) {
    case LUA_TNUMBER:
        if (lua_isinteger(L, index)) {
            entry->category = KEY_INTEGER;
            entry->integer = lua_tointeger(L, index);
        } else {
            entry->category = KEY_FLOAT;
            entry->number = lua_tonumber(L, index);
        }
        break;
    case LUA_TSTRING:
        entry->category = KEY_STRING;
        entry->text = lua_tolstring(L, index, &entry->length);
        break;
    case LUA_TBOOLEAN:
        entry->category = KEY_BOOLEAN;
        entry->integer = lua_toboolean(L, index);
        break;
    case LUA_TLIGHTUSERDATA:
        luaL_error(L, "pairs: a light userdata key has no order in the vmcisim sandbox");
        break;
    default:
        entry->integer = object_id(L, index);
        entry->category = entry->integer != 0 ? KEY_OBJECT : KEY_UNNUMBERED;
        break;
    }
}

/* Pushes the table's keys (a sequence, in hash order) and a userdata of their entries
 * sorted in the sandbox order; returns the key count and the entries. The entries'
 * strings are borrowed from the keys table, which must stay on the stack. */
static lua_Integer push_key_entries(lua_State *L, int index, struct key_entry **entries_out)
{
    index = lua_absindex(L, index);
    lua_Integer count = 0;                              /* first pass: size the buffers */
    lua_pushnil(L);
    while (lua_next(L, index) != 0) {
        lua_pop(L, 1);
        if ((lua_Unsigned)count >= SANDBOX_KEYS_MAX)
            luaL_error(L, "pairs: limit SANDBOX_KEYS_MAX (%d keys) exceeded",
                       (int)SANDBOX_KEYS_MAX);
        count++;
    }
    lua_createtable(L, (int)count, 0);                  /* the keys, in hash order */
    int keys = lua_gettop(L);
    struct key_entry *entries = lua_newuserdatauv(L, sizeof(*entries) * (size_t)(count + 1), 0);
    size_t unnumbered_count = 0;
    lua_Integer position = 0;
    lua_pushnil(L);
    while (lua_next(L, index) != 0) {
        lua_pop(L, 1);
        assert(position < count);                       /* nothing ran between the passes */
        key_describe(L, -1, &entries[position]);
        unnumbered_count += entries[position].category == KEY_UNNUMBERED;
        lua_pushvalue(L, -1);
        lua_rawseti(L, keys, ++position);
        entries[position - 1].position = (int)position;
    }
    if (unnumbered_count > 1)
        luaL_error(L, "pairs: the table has %d C functions as keys that the sandbox did not "
                      "number (docs/determinism.md): their order would not be reproducible",
                   (int)unnumbered_count);
    qsort(entries, (size_t)count, sizeof(*entries), key_compare);   /* keys are distinct */
    *entries_out = entries;
    return count;
}

/* Pushes a sequence of the keys of the table at `index`, in the sandbox order; returns
 * their count. walk_replay_table makes the same objects: keep the two alike. */
static lua_Integer push_sorted_keys(lua_State *L, int index)
{
    struct key_entry *entries = NULL;
    lua_Integer count = push_key_entries(L, index, &entries);
    int unsorted = lua_gettop(L) - 1;
    lua_createtable(L, (int)count, 0);
    for (lua_Integer position = 1; position <= count; position++) {
        lua_rawgeti(L, unsorted, entries[position - 1].position);
        lua_rawseti(L, -2, position);
    }
    lua_replace(L, unsorted);                           /* sorted replaces unsorted */
    lua_pop(L, 1);                                      /* the entries buffer */
    return count;
}

/* Iterator closure: upvalues (table, keys in hash order, their sorted entries, next
 * entry, entry count). Walking the entries saves building a sorted copy of the keys. */
static int ordered_iterate(lua_State *L)
{
    lua_Integer position = lua_tointeger(L, lua_upvalueindex(4));
    lua_Integer count = lua_tointeger(L, lua_upvalueindex(5));
    const struct key_entry *entries = lua_touserdata(L, lua_upvalueindex(3));
    while (position < count) {
        lua_rawgeti(L, lua_upvalueindex(2), entries[position].position);
        position++;
        lua_pushvalue(L, -1);
        if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) {   /* skip keys set to nil */
            lua_pushinteger(L, position);
            lua_replace(L, lua_upvalueindex(4));
            return 2;
        }
        lua_pop(L, 2);
    }
    lua_pushinteger(L, count);
    lua_replace(L, lua_upvalueindex(4));
    return 0;
}

static int sandbox_pairs(lua_State *L)
{
    luaL_checkany(L, 1);
    if (luaL_getmetafield(L, 1, "__pairs") != LUA_TNIL) {
        lua_pushvalue(L, 1);
        lua_call(L, 1, 3);
        return 3;
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_pushvalue(L, 1);
    struct key_entry *entries = NULL;
    lua_Integer count = push_key_entries(L, 1, &entries);   /* keys, entries */
    lua_pushinteger(L, 0);
    lua_pushinteger(L, count);
    lua_pushcclosure(L, ordered_iterate, 5);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

/* next(t, k): the first key after k in the sandbox order, found by binary search, so
 * next agrees with pairs and a key removed during the walk still has a successor. */
static int sandbox_next(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 2);
    struct key_entry *entries = NULL;
    lua_Integer count = push_key_entries(L, 1, &entries);     /* keys at 3, entries at 4 */
    lua_Integer low = 0;                                /* first entry after the key */
    if (!lua_isnil(L, 2)) {
        struct key_entry wanted;
        key_describe(L, 2, &wanted);
        lua_Integer high = count;
        while (low < high) {
            lua_Integer middle = low + (high - low) / 2;
            if (key_compare(&entries[middle], &wanted) <= 0)
                low = middle + 1;
            else
                high = middle;
        }
    }
    if (low >= count) {
        lua_pushnil(L);
        return 1;
    }
    lua_rawgeti(L, 3, entries[low].position);
    lua_pushvalue(L, -1);
    lua_rawget(L, 1);
    return 2;
}

/* Originals the sandbox wraps, kept in static storage rather than in upvalues so that
 * nothing a scenario can reach leads back to them. The same for every state. */
static lua_CFunction original_load;
static lua_CFunction original_setmetatable;

static lua_CFunction original_keep(lua_CFunction *slot, lua_CFunction function)
{
    assert(function != NULL);
    assert(*slot == NULL || *slot == function);
    *slot = function;
    return function;
}

static int sandbox_load(lua_State *L)
{
    int count = lua_gettop(L);
    lua_pushcfunction(L, original_load);
    lua_pushvalue(L, 1);
    if (count >= 2)
        lua_pushvalue(L, 2);
    else
        lua_pushnil(L);
    lua_pushliteral(L, "t");                            /* never binary chunks */
    if (count >= 4)
        lua_pushvalue(L, 4);
    lua_call(L, count >= 4 ? 4 : 3, LUA_MULTRET);
    /* load catches the parser's errors: a memory error it hands back (nil and Lua's one
     * memory message) is told as a protected call's would be (sandbox_protected.c). */
    int result_count = lua_gettop(L) - count;
    if (result_count == 2 && lua_isnil(L, -2) && lua_type(L, -1) == LUA_TSTRING &&
        strcmp(lua_tostring(L, -1), "not enough memory") == 0)
        simlua__memory_error_caught(L);
    return result_count;
}

/* setmetatable refuses __gc: a finalizer runs when the collector frees the table, at a
 * point a scenario does not see, and possibly at teardown after the world is gone. */
static int sandbox_setmetatable(lua_State *L)
{
    if (lua_istable(L, 2)) {
        lua_pushliteral(L, "__gc");
        bool has_finalizer = lua_rawget(L, 2) != LUA_TNIL;
        lua_pop(L, 1);
        if (has_finalizer)
            return luaL_error(L, "setmetatable: __gc (finalizers) is not available in the "
                                 "vmcisim sandbox; close resources explicitly");
    }
    int count = lua_gettop(L);
    lua_pushcfunction(L, original_setmetatable);
    lua_insert(L, 1);
    lua_call(L, count, 1);
    return 1;
}

static int sandbox_absent(lua_State *L)
{
    return luaL_error(L, "%s is not available in the vmcisim sandbox (determinism)",
                      lua_tostring(L, lua_upvalueindex(1)));
}

static void set_absent(lua_State *L, int table_index, const char *field, const char *shown)
{
    table_index = lua_absindex(L, table_index);
    lua_pushstring(L, shown);
    lua_pushcclosure(L, sandbox_absent, 1);
    lua_setfield(L, table_index, field);
}

static void open_library(lua_State *L, const char *name, lua_CFunction opener)
{
    luaL_requiref(L, name, opener, 1);
    lua_pop(L, 1);
}

static void number_table(lua_State *L, int table, int depth, int builtins, int visited);

/* A walk's plan: what it did that a scenario can see, in order. A walk makes three objects
 * for each table it visits (push_sorted_keys: the keys, their entries, the sorted keys; the
 * last stays on the stack until the table is done) and numbers the light C functions it
 * meets for the first time; the rest (lua_next, sorting, lookups) only finds those. In a
 * sweep worker every seed's runtime walks the same state (the binary's libraries, then
 * the same scenario up to its require "vmcisim", which cannot depend on the seed: nothing
 * does before a world exists), so the first runtime records each walk and the next ones
 * replay it: the same objects, made and dropped in the same order (same creation numbers,
 * same collector pace, the same objects alive should a collection run in between), the
 * same numbers, at a fraction of the cost. A replay happens only when the runtime's
 * counters before the walk are those the recording saw; else the walk runs. */
enum walk_step_kind { WALK_TABLE_BEGIN = 1, WALK_TABLE_END, WALK_NUMBER };
struct walk_step {
    enum walk_step_kind kind;
    lua_Integer key_count;              /* WALK_TABLE_BEGIN: the table's keys */
    lua_CFunction function;             /* WALK_NUMBER: the function that got the next number */
};
/* Steps one recorded walk may hold (a walk today: about 250); a longer walk is not recorded. */
#define WALK_PLAN_STEPS_MAX 4096u
/* Walks of one runtime that may be replayed: the sandbox's, then require "vmcisim"'s. */
#define WALK_PLANS 2u
/* What the runtime's counters were before a walk and after it. */
struct walk_counters {
    uint64_t object_id_next;
    uint64_t object_live_bytes;
    uint64_t gc_object_bytes_since;
    uint64_t gc_threshold_bytes;
    uint64_t gc_collections;
    uint64_t gc_short_string_bytes_since;
};
struct walk_plan {
    bool complete;                      /* recorded to its end: may be replayed */
    uint64_t scenario_hash;             /* the scenario path and arguments it was made for */
    struct walk_counters before, after;
    uint32_t step_count;
    struct walk_step steps[WALK_PLAN_STEPS_MAX];
};
/* The plans of this process (a sweep worker runs one scenario); only runtimes whose options
 * ask for it (reuse_walks) read or write them. */
static struct walk_plan walk_plans[WALK_PLANS];
/* The plan being recorded by the walk in progress, or NULL. */
static struct walk_plan *walk_recording;

static void walk_record(enum walk_step_kind kind, lua_Integer key_count, lua_CFunction function)
{
    struct walk_plan *plan = walk_recording;
    if (plan == NULL)
        return;
    if (plan->step_count >= WALK_PLAN_STEPS_MAX) {
        walk_recording = NULL;          /* too long to keep: this walk is not replayed */
        return;
    }
    plan->steps[plan->step_count++] = (struct walk_step){ kind, key_count, function };
}

/* Numbers the value at `index` if it is a light C function, or walks into it. */
static void number_value(lua_State *L, int index, int depth, int builtins, int visited)
{
    index = lua_absindex(L, index);
    if (lua_type(L, index) == LUA_TFUNCTION && is_light_function(L, index)) {
        lua_pushvalue(L, index);
        if (lua_rawget(L, builtins) == LUA_TNIL) {
            lua_pushvalue(L, index);
            lua_pushinteger(L, (lua_Integer)++simlua__runtime(L)->object_id_next);
            lua_rawset(L, builtins);
            walk_record(WALK_NUMBER, 0, lua_tocfunction(L, index));
        }
        lua_pop(L, 1);
        return;
    }
    if (depth >= SANDBOX_BUILTIN_DEPTH_MAX)
        return;
    if (lua_istable(L, index))
        number_table(L, index, depth + 1, builtins, visited);
    if (lua_iscfunction(L, index)) {
        /* A C closure's upvalues (the bindings keep their method tables there, out of a
         * scenario's reach) hold light C functions a scenario can still fetch by name. */
        for (int upvalue = 1; upvalue <= SANDBOX_BUILTIN_UPVALUES_MAX; upvalue++) {
            if (lua_getupvalue(L, index, upvalue) == NULL)
                break;
            number_value(L, -1, depth + 1, builtins, visited);
            lua_pop(L, 1);
        }
    }
    if (lua_getmetatable(L, index)) {
        number_table(L, -1, depth + 1, builtins, visited);
        lua_pop(L, 1);
    }
}

/* Walks the string- and integer-keyed fields of a table in the sandbox order. */
static void number_table(lua_State *L, int table, int depth, int builtins, int visited)
{
    table = lua_absindex(L, table);
    luaL_checkstack(L, 8, "numbering built-in functions");
    lua_pushvalue(L, table);
    bool seen = lua_rawget(L, visited) != LUA_TNIL;
    lua_pop(L, 1);
    if (seen)
        return;
    lua_pushvalue(L, table);
    lua_pushboolean(L, 1);
    lua_rawset(L, visited);
    lua_Integer key_count = push_sorted_keys(L, table);
    int keys = lua_gettop(L);
    walk_record(WALK_TABLE_BEGIN, key_count, NULL);
    for (lua_Integer position = 1; lua_rawgeti(L, keys, position) != LUA_TNIL; position++) {
        int key_type = lua_type(L, -1);
        if (key_type == LUA_TSTRING || key_type == LUA_TNUMBER) {
            lua_rawget(L, table);
            number_value(L, -1, depth, builtins, visited);
        }
        lua_pop(L, 1);
    }
    walk_record(WALK_TABLE_END, 0, NULL);
    lua_pop(L, 2);                                      /* the nil, the keys */
}

static struct walk_counters walk_counters_now(const struct simlua_runtime *runtime)
{
    return (struct walk_counters){
        .object_id_next = runtime->object_id_next,
        .object_live_bytes = runtime->object_live_bytes,
        .gc_object_bytes_since = runtime->gc_object_bytes_since,
        .gc_threshold_bytes = runtime->gc_threshold_bytes,
        .gc_collections = runtime->gc_collections,
        .gc_short_string_bytes_since = runtime->gc_short_string_bytes_since,
    };
}

static bool walk_counters_equal(struct walk_counters left, struct walk_counters right)
{
    return left.object_id_next == right.object_id_next &&
           left.object_live_bytes == right.object_live_bytes &&
           left.gc_object_bytes_since == right.gc_object_bytes_since &&
           left.gc_threshold_bytes == right.gc_threshold_bytes &&
           left.gc_collections == right.gc_collections &&
           left.gc_short_string_bytes_since == right.gc_short_string_bytes_since;
}

/* The scenario and its arguments, which decide what the second walk meets (each string
 * with its NUL, chained through the seed; no allocation, so it cannot fail). */
static uint64_t walk_scenario_hash(const struct simlua_runtime *runtime)
{
    const char *path = runtime->options.scenario_path;
    uint64_t hash = XXH3_64bits_withSeed(path, strlen(path) + 1, 0);
    for (int index = 0; index < runtime->options.arg_count; index++) {
        const char *argument = runtime->options.args[index];
        hash = XXH3_64bits_withSeed(argument, strlen(argument) + 1, hash);
    }
    return hash;
}

/* The objects push_sorted_keys makes for a table of key_count keys, made and dropped the
 * same way, leaving the sorted keys' table on the stack. */
static void walk_replay_table(lua_State *L, lua_Integer key_count)
{
    luaL_checkstack(L, 8, "numbering built-in functions");
    lua_createtable(L, (int)key_count, 0);                             /* the keys */
    (void)lua_newuserdatauv(L, sizeof(struct key_entry) * (size_t)(key_count + 1), 0);
    lua_createtable(L, (int)key_count, 0);                             /* sorted */
    lua_replace(L, -3);
    lua_pop(L, 1);
}

/* Does what the recorded walk did that a scenario can see (see struct walk_plan). */
static void walk_replay(lua_State *L, const struct walk_plan *plan, int builtins)
{
    struct simlua_runtime *runtime = simlua__runtime(L);
    int base = lua_gettop(L);
    for (uint32_t index = 0; index < plan->step_count; index++) {
        const struct walk_step *step = &plan->steps[index];
        if (step->kind == WALK_TABLE_BEGIN) {
            walk_replay_table(L, step->key_count);
        } else if (step->kind == WALK_TABLE_END) {
            assert(lua_gettop(L) > base);
            lua_pop(L, 1);
        } else {
            lua_pushcfunction(L, step->function);
            lua_pushinteger(L, (lua_Integer)++runtime->object_id_next);
            lua_rawset(L, builtins);
        }
    }
    assert(lua_gettop(L) == base);
    assert(walk_counters_equal(walk_counters_now(runtime), plan->after));
}

/* The plan the walk about to run may replay or record; NULL: neither (not asked for, or a
 * walk after the first two). *replay tells which. */
static struct walk_plan *walk_plan_for(struct simlua_runtime *runtime, bool *replay)
{
    uint32_t walk = runtime->numbering_walks++;
    *replay = false;
    if (!runtime->options.reuse_walks || walk >= WALK_PLANS)
        return NULL;
    struct walk_plan *plan = &walk_plans[walk];
    uint64_t scenario_hash = walk == 0 ? 0 : walk_scenario_hash(runtime);  /* 0: libraries */
    struct walk_counters before = walk_counters_now(runtime);
    *replay = plan->complete && plan->scenario_hash == scenario_hash &&
              walk_counters_equal(plan->before, before);
    if (!*replay) {                                     /* record (again) */
        plan->complete = false;
        plan->scenario_hash = scenario_hash;
        plan->before = before;
        plan->step_count = 0;
    }
    return plan;
}

/* Light C functions are not objects (no creation number). This gives each one reachable
 * from the registry, the string metatable and the iterators the libraries return a
 * number, in the sandbox order of the names that lead to it (first found wins). */
void simlua__sandbox_number_builtins(lua_State *L)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, SANDBOX_BUILTINS_KEY) != LUA_TTABLE) {
        lua_pop(L, 1);
        /* Sized for every number both walks give, so no insertion rehashes it (a table's
         * parts are not among the objects a scenario can see: runtime.c). */
        lua_createtable(L, 0, SANDBOX_BUILTINS_EXPECTED);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, SANDBOX_BUILTINS_KEY);
    }
    int builtins = lua_gettop(L);
    lua_createtable(L, 0, SANDBOX_VISITED_EXPECTED);
    int visited = lua_gettop(L);
    lua_pushvalue(L, builtins);                         /* never walk the numbers table */
    lua_pushboolean(L, 1);
    lua_rawset(L, visited);
    struct simlua_runtime *runtime = simlua__runtime(L);
    bool replay = false;
    struct walk_plan *plan = walk_plan_for(runtime, &replay);
    if (replay) {
        walk_replay(L, plan, builtins);
    } else {
        walk_recording = plan;
        number_table(L, LUA_REGISTRYINDEX, 0, builtins, visited);
        lua_pushliteral(L, "");
        number_value(L, -1, 0, builtins, visited);      /* the string metatable */
        lua_pop(L, 1);
        if (plan != NULL && walk_recording == plan) {
            plan->after = walk_counters_now(runtime);
            plan->complete = true;
        }
        walk_recording = NULL;
    }
    static const char *const iterators[] = {
        "return ipairs({})",
        "return utf8.codes('')",
        "return utf8.codes('', true)",
    };
    for (size_t index = 0; index < sizeof(iterators) / sizeof(iterators[0]); index++) {
        int rc = simlua__chunk_load(L, iterators[index], strlen(iterators[index]),
                                    iterators[index]);
        assert(rc == LUA_OK);
        lua_call(L, 0, 1);
        number_value(L, -1, 0, builtins, visited);
        lua_pop(L, 1);
    }
    lua_pop(L, 2);
}

void simlua__sandbox_open(lua_State *L)
{
    measure_offsets(L);
    open_library(L, LUA_GNAME, luaopen_base);
    open_library(L, LUA_COLIBNAME, luaopen_coroutine);
    simlua__coroutine_guard_open(L);    /* coroutines never cross processes */
    open_library(L, LUA_TABLIBNAME, luaopen_table);
    open_library(L, LUA_STRLIBNAME, luaopen_string);
    open_library(L, LUA_MATHLIBNAME, luaopen_math);
    open_library(L, LUA_UTF8LIBNAME, luaopen_utf8);
    open_library(L, LUA_OSLIBNAME, luaopen_os);
    open_library(L, LUA_LOADLIBNAME, luaopen_package);
    lua_pushcfunction(L, sandbox_pairs);
    lua_setglobal(L, "pairs");
    lua_pushcfunction(L, sandbox_next);
    lua_setglobal(L, "next");
    lua_pushcfunction(L, sandbox_tostring);
    lua_setglobal(L, "tostring");
    lua_pushcfunction(L, sandbox_print);
    lua_setglobal(L, "print");
    lua_getglobal(L, "load");
    original_keep(&original_load, lua_tocfunction(L, -1));
    lua_pop(L, 1);
    lua_pushcfunction(L, sandbox_load);
    lua_setglobal(L, "load");
    lua_getglobal(L, "setmetatable");
    original_keep(&original_setmetatable, lua_tocfunction(L, -1));
    lua_pop(L, 1);
    lua_pushcfunction(L, sandbox_setmetatable);
    lua_setglobal(L, "setmetatable");
    simlua__sandbox_protected_open(L);  /* pcall, xpcall: a caught memory error still stops */
    lua_pushglobaltable(L);
    set_absent(L, -1, "dofile", "dofile");
    set_absent(L, -1, "loadfile", "loadfile");
    lua_pop(L, 1);
    simlua__sandbox_random_open(L);
    simlua__sandbox_os_open(L);
    simlua__sandbox_string_open(L);
    simlua__sandbox_table_open(L);
    simlua__sandbox_debug_open(L);
    simlua__sandbox_package_open(L);
    simlua__sandbox_number_builtins(L);
}

void simlua__sandbox_set_absent(lua_State *L, int table_index, const char *field,
                                const char *shown)
{
    set_absent(L, table_index, field, shown);
}

void simlua__sorted_keys(lua_State *L, int index)
{
    push_sorted_keys(L, index);
}

void simlua__check_options(lua_State *L, int index, const char *const allowed[], const char *what)
{
    if (lua_isnoneornil(L, index))
        return;
    luaL_checktype(L, index, LUA_TTABLE);
    index = lua_absindex(L, index);
    push_sorted_keys(L, index);
    for (lua_Integer position = 1; lua_rawgeti(L, -1, position) != LUA_TNIL; position++) {
        bool known = false;
        if (lua_type(L, -1) == LUA_TSTRING) {
            for (size_t option = 0; allowed[option] != NULL && !known; option++)
                known = strcmp(lua_tostring(L, -1), allowed[option]) == 0;
        }
        if (!known) {
            luaL_Buffer buffer;
            luaL_buffinit(L, &buffer);
            for (size_t option = 0; allowed[option] != NULL; option++) {
                luaL_addstring(&buffer, option == 0 ? "" : ", ");
                luaL_addstring(&buffer, allowed[option]);
            }
            luaL_pushresult(&buffer);
            const char *known_list = lua_tostring(L, -1);
            const char *key = simlua__tostring(L, -2, NULL);
            luaL_error(L, "%s: unknown option '%s' (known: %s)", what, key, known_list);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 2);
}
