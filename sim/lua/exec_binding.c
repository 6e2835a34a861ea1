/* SPDX-License-Identifier: MIT */
/*
 * sim/lua/exec_binding.c: `ep:exec{ "binary", args..., env =, cwd =, stdin =, name = }`,
 * real programs as simulated processes of an endpoint (docs/programs.md), and the
 * program object it returns (p.exit_code, p.status, p:output(), p:join(), p:kill()).
 *
 * Only under `--allow-exec` (runtime option allow_exec): otherwise ep:exec raises an
 * error that names the flag. The program's simulated side is sim/exec (a fiber of the
 * endpoint's engine domain, so suspend and freeze stop it with the guest); this file
 * gives it the endpoint: its stack once the VMCI driver is ready (D4), its CID, its
 * name, its failures, and wakes p:join() when the program ends.
 *
 * Ownership: the world owns every program (a list, newest first, freed at world
 * teardown after their children are killed); the Lua object only points at one, and
 * is refused once the world is gone (object.c), so no pointer outlives its target.
 */
#include <assert.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lua_int.h"
#include "sim/engine/duration.h"
#include "sim/engine/fiber.h"
#include "sim/exec/exec.h"
#include "sim/exec/pipe.h"
#include "sim/exec/sandbox.h"
#include "vmci/profile.h"

/* Program arguments (argv[0] included) and environment entries ep:exec accepts. */
#define SIMLUA_EXEC_ARGUMENTS_MAX EXEC_SANDBOX_ARGUMENTS_MAX
#define SIMLUA_EXEC_ENVIRONMENT_MAX EXEC_SANDBOX_ENVIRONMENT_MAX
/* Bytes of a program's stdin text. */
#define SIMLUA_EXEC_STDIN_BYTES_MAX (16u * 1024 * 1024)
#define SIMLUA_EXEC_DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

struct simlua_program {
    struct exec_program *program;       /* owned; NULL if it could not be made */
    struct simlua_world *world;         /* borrowed */
    uint32_t endpoint_index;
    char name[SIM_PROCESS_NAME_BYTES_MAX];
    struct sim_waitq joiners;           /* Lua processes in p:join() */
    struct simlua_program *next;        /* the world's list */
};

struct program_handle {
    struct simlua_program *node;        /* borrowed from the world's list */
};

/* ---- What the endpoint does for a program (exec.h callbacks; they run in its fiber) -------- */

static struct simlua_endpoint *endpoint_of(const struct simlua_program *node)
{
    return &node->world->endpoints[node->endpoint_index];
}

static struct vsock_stack *program_stack_wait(void *owner, bool *killed)
{
    struct simlua_program *node = owner;
    struct simlua_endpoint *endpoint = endpoint_of(node);
    for (;;) {
        bool missing = endpoint->kernel == NULL ||
                       (!vmci_kernel_ready(endpoint->kernel) &&
                        vmci_kernel_has_device(endpoint->kernel));
        if (!missing || endpoint->driver_waitq == NULL)
            break;
        if (sim_fiber_wait(node->world->engine, endpoint->driver_waitq, SIM_TIME_NEVER) < 0) {
            *killed = true;
            return NULL;
        }
    }
    return endpoint->net != NULL && endpoint->net->ready ? &endpoint->net->stack : NULL;
}

static uint32_t program_local_cid(void *owner)
{
    const struct simlua_endpoint *endpoint = endpoint_of(owner);
    return endpoint->kernel != NULL ? vmci_kernel_cid(endpoint->kernel) : endpoint->cid;
}

static void program_failure(void *owner, const char *text)
{
    struct simlua_program *node = owner;
    struct simlua_world *world = node->world;
    struct sim_trace_event event;
    uint32_t pid = node->program != NULL ? exec_program_pid(node->program) : 0;
    sim_trace_event_init(&event, SIM_LAYER_API, "proc_error", program_local_cid(node), pid);
    size_t length = strlen(text);
    sim_trace_field_strn(&event, "message", text,
                         (uint32_t)(length < SIM_TRACE_STRING_BYTES_MAX
                                        ? length : SIM_TRACE_STRING_BYTES_MAX));
    (void)sim_engine_emit(world->engine, &event);
    simlua__failure(world->runtime, endpoint_of(node)->name, node->name, text);
}

static void program_ended(void *owner)
{
    struct simlua_program *node = owner;
    sim_waitq_wake_all(&node->joiners);
}

static const struct exec_callbacks program_callbacks = {
    .stack_wait = program_stack_wait,
    .local_cid = program_local_cid,
    .failure = program_failure,
    .ended = program_ended,
};

/* ---- Finding things: the binary (as execvp does), the shim, the scratch directory -------- */

static bool executable_file(const char *path)
{
    struct stat info;
    return stat(path, &info) == 0 && S_ISREG(info.st_mode) && access(path, X_OK) == 0;
}

/* A name with a slash is a path (a relative one is taken from the scenario's directory,
 * so a scenario runs from any working directory); without one, PATH is searched. The
 * result is absolute. Returns false when nothing executable is found. */
static bool binary_resolve(const struct simlua_runtime *runtime, const char *name,
                           const char *path_list, char out[PATH_MAX])
{
    char candidate[2 * PATH_MAX + 2];
    if (strchr(name, '/') != NULL) {
        if (name[0] == '/')
            snprintf(candidate, sizeof(candidate), "%s", name);
        else
            snprintf(candidate, sizeof(candidate), "%s/%s", runtime->scenario_dir, name);
        return executable_file(candidate) && realpath(candidate, out) != NULL;
    }
    const char *cursor = path_list;
    while (cursor != NULL && *cursor != '\0') {
        const char *end = strchr(cursor, ':');
        size_t length = end != NULL ? (size_t)(end - cursor) : strlen(cursor);
        snprintf(candidate, sizeof(candidate), "%.*s/%s", (int)length,
                 length > 0 ? cursor : ".", name);
        if (executable_file(candidate) && realpath(candidate, out) != NULL)
            return true;
        cursor = end != NULL ? end + 1 : NULL;
    }
    return false;
}

/* The preloaded library: $VMCISIM_SHIM, else beside the running vmcisim (build/, or the
 * directory above for build/asan/), else the installed one. */
static const char *shim_find(void)
{
    static char found[PATH_MAX];
    if (found[0] != '\0')
        return found;
    const char *given = getenv("VMCISIM_SHIM");
    if (given != NULL && executable_file(given) && realpath(given, found) != NULL)
        return found;
    char self[PATH_MAX];
    ssize_t length = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (length <= 0)
        return NULL;
    self[length] = '\0';
    char *slash = strrchr(self, '/');
    if (slash != NULL)
        *slash = '\0';
    static const char *const relative[] = {
        "libvmcisim_shim.so", "build/libvmcisim_shim.so", "../libvmcisim_shim.so",
        "../lib/vmcisim/libvmcisim_shim.so",
    };
    for (size_t index = 0; index < sizeof(relative) / sizeof(relative[0]); index++) {
        char candidate[PATH_MAX + 64];
        snprintf(candidate, sizeof(candidate), "%s/%s", self, relative[index]);
        struct stat info;
        if (stat(candidate, &info) == 0 && S_ISREG(info.st_mode) &&
            realpath(candidate, found) != NULL)
            return found;
    }
    found[0] = '\0';
    return NULL;
}

/* The endpoint's scratch directory, made on first use under one directory per world. */
static bool scratch_make(struct simlua_world *world, const char *endpoint, char out[PATH_MAX])
{
    if (world->scratch_root == NULL) {
        const char *base = getenv("TMPDIR");
        char pattern[PATH_MAX];
        snprintf(pattern, sizeof(pattern), "%s/vmcisim-exec-XXXXXX",
                 base != NULL && base[0] == '/' ? base : "/tmp");
        if (mkdtemp(pattern) == NULL)
            return false;
        world->scratch_root = strdup(pattern);
        if (world->scratch_root == NULL)
            return false;
    }
    snprintf(out, PATH_MAX, "%s/%s", world->scratch_root, endpoint);
    return mkdir(out, 0700) == 0 || errno == EEXIST;
}

static int scratch_remove_entry(const char *path, const struct stat *info, int type,
                                struct FTW *walk)
{
    (void)info;
    (void)type;
    (void)walk;
    (void)remove(path);
    return 0;
}

/* Removes the scratch directories (what the programs wrote there) at world teardown. */
static void scratch_remove(const char *root)
{
    (void)nftw(root, scratch_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Whether this machine can run sandboxed programs; asked once per vmcisim process. */
static int sandbox_check(char message[SIM_ERROR_MESSAGE_BYTES_MAX])
{
    static int known = 1;       /* 1: not asked yet */
    static char why[SIM_ERROR_MESSAGE_BYTES_MAX];
    if (known == 1)
        known = exec_sandbox_available(why);
    snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX, "%s", why);
    return known;
}

/* ---- ep:exec's table ------------------------------------------------------------------------ */

struct exec_arguments {
    const char *argv[SIMLUA_EXEC_ARGUMENTS_MAX + 1];
    const char *envp[SIMLUA_EXEC_ENVIRONMENT_MAX + 4];
    const char *path_list;              /* PATH of the program's environment */
    const char *cwd;
    const char *stdin_bytes;
    size_t stdin_length;
    const char *name;
    bool daemon;
    uint64_t call_cost_ns;
    enum exec_channel_kind channel;     /* channel = "shm" | "socket" (docs/programs.md) */
};

/* A string without NUL bytes, or raises naming `what`. */
static const char *plain_string(lua_State *L, int index, const char *what)
{
    size_t length = 0;
    const char *text = lua_type(L, index) == LUA_TSTRING ? lua_tolstring(L, index, &length) : NULL;
    if (text == NULL || strlen(text) != length)
        luaL_error(L, "ep:exec: %s must be a string without NUL bytes", what);
    return text;
}

/* Integer keys 1..#t are the command line; string keys are the known options. */
static void check_keys(lua_State *L, int table, lua_Integer count)
{
    static const char *const allowed[] = { "env", "cwd", "stdin", "name", "daemon", "call_cost",
                                           "channel", NULL };
    simlua__sorted_keys(L, table);
    for (lua_Integer position = 1; lua_rawgeti(L, -1, position) != LUA_TNIL; position++) {
        bool known = lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1 &&
                     lua_tointeger(L, -1) <= count;
        for (size_t option = 0; !known && lua_type(L, -1) == LUA_TSTRING && allowed[option];
             option++)
            known = strcmp(lua_tostring(L, -1), allowed[option]) == 0;
        if (!known)
            luaL_error(L, "ep:exec: unknown option '%s' (known: the command line as 1, 2, ..., "
                       "then env, cwd, stdin, name, daemon, call_cost, channel)",
                       simlua__tostring(L, -1, NULL));
        lua_pop(L, 1);
    }
    lua_pop(L, 2);
}

/* "K=V" strings into args->envp, anchored in the table at `anchor`: the defaults (PATH,
 * TZ, LANG) unless the scenario names them, then the scenario's in the sandbox order. */
static void parse_environment(lua_State *L, int table, int anchor, struct exec_arguments *args)
{
    static const char *const defaults[][2] = {
        { "PATH", SIMLUA_EXEC_DEFAULT_PATH }, { "TZ", "UTC" }, { "LANG", "C" },
    };
    size_t used = 0;
    args->path_list = SIMLUA_EXEC_DEFAULT_PATH;
    int type = lua_getfield(L, table, "env");
    if (type != LUA_TNIL && type != LUA_TTABLE)
        luaL_error(L, "ep:exec: env must be a table of name = value strings");
    int env = lua_gettop(L);
    for (size_t index = 0; index < 3; index++) {
        if (type == LUA_TTABLE && lua_getfield(L, env, defaults[index][0]) != LUA_TNIL) {
            lua_pop(L, 1);
            continue;
        }
        if (type == LUA_TTABLE)
            lua_pop(L, 1);
        args->envp[used++] = lua_pushfstring(L, "%s=%s", defaults[index][0], defaults[index][1]);
        lua_rawseti(L, anchor, (lua_Integer)lua_rawlen(L, anchor) + 1);
    }
    if (type == LUA_TTABLE) {
        simlua__sorted_keys(L, env);
        for (lua_Integer position = 1; lua_rawgeti(L, -1, position) != LUA_TNIL; position++) {
            const char *key = plain_string(L, -1, "an env name");
            if (key[0] == '\0' || strchr(key, '=') != NULL)
                luaL_error(L, "ep:exec: env name '%s' is empty or holds '='", key);
            if (used >= SIMLUA_EXEC_ENVIRONMENT_MAX)
                luaL_error(L, "ep:exec: more than %d env entries", SIMLUA_EXEC_ENVIRONMENT_MAX);
            lua_pushvalue(L, -1);
            lua_gettable(L, env);
            const char *value = plain_string(L, -1, "an env value");
            const char *entry = lua_pushfstring(L, "%s=%s", key, value);
            args->envp[used++] = entry;
            if (strcmp(key, "PATH") == 0)
                args->path_list = entry + 5;
            lua_rawseti(L, anchor, (lua_Integer)lua_rawlen(L, anchor) + 1);
            lua_pop(L, 2);
        }
        lua_pop(L, 2);                  /* the nil that ended the walk, the key list */
    }
    lua_pop(L, 1);
    args->envp[used] = NULL;
}

static uint64_t parse_call_cost(lua_State *L, int table)
{
    uint64_t cost_ns = EXEC_CALL_COST_NS_DEFAULT;
    int type = lua_getfield(L, table, "call_cost");
    if (type == LUA_TNUMBER && lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 0)
        cost_ns = (uint64_t)lua_tointeger(L, -1);
    else if (type == LUA_TSTRING && sim_duration_parse(lua_tostring(L, -1), &cost_ns) == 0)
        ;
    else if (type != LUA_TNIL)
        luaL_error(L, "ep:exec: call_cost must be ns >= 0 or a duration such as \"2us\"");
    lua_pop(L, 1);
    return cost_ns;
}

/* Reads ep:exec's table at `table`; strings it builds are anchored at `anchor`. */
static void parse_arguments(lua_State *L, int table, int anchor, struct exec_arguments *args)
{
    luaL_checktype(L, table, LUA_TTABLE);
    lua_Integer count = (lua_Integer)lua_rawlen(L, table);
    if (count < 1 || count > (lua_Integer)SIMLUA_EXEC_ARGUMENTS_MAX)
        luaL_error(L, "ep:exec: give the binary, then its arguments (1..%d strings), as in "
                   "ep:exec{ \"server\", \"5000\" }", SIMLUA_EXEC_ARGUMENTS_MAX);
    check_keys(L, table, count);
    for (lua_Integer position = 1; position <= count; position++) {
        lua_rawgeti(L, table, position);
        args->argv[position - 1] = plain_string(L, -1, "each command-line word");
        lua_rawseti(L, anchor, (lua_Integer)lua_rawlen(L, anchor) + 1);
    }
    args->argv[count] = NULL;
    if (args->argv[0][0] == '\0')
        luaL_error(L, "ep:exec: the binary's name is empty");
    parse_environment(L, table, anchor, args);
    if (lua_getfield(L, table, "cwd") != LUA_TNIL)
        args->cwd = plain_string(L, -1, "cwd");
    lua_rawseti(L, anchor, (lua_Integer)lua_rawlen(L, anchor) + 1);
    if (lua_getfield(L, table, "stdin") != LUA_TNIL) {
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "ep:exec: stdin must be a string");
        args->stdin_bytes = lua_tolstring(L, -1, &args->stdin_length);
        if (args->stdin_length > SIMLUA_EXEC_STDIN_BYTES_MAX)
            luaL_error(L, "ep:exec: stdin beyond SIMLUA_EXEC_STDIN_BYTES_MAX (%d bytes)",
                       (int)SIMLUA_EXEC_STDIN_BYTES_MAX);
    }
    lua_rawseti(L, anchor, (lua_Integer)lua_rawlen(L, anchor) + 1);
    if (lua_getfield(L, table, "name") != LUA_TNIL) {
        args->name = plain_string(L, -1, "name");
        if (args->name[0] == '\0' || strlen(args->name) >= SIM_PROCESS_NAME_BYTES_MAX)
            luaL_error(L, "ep:exec: name must be 1..%d bytes", SIM_PROCESS_NAME_BYTES_MAX - 1);
    } else {
        const char *slash = strrchr(args->argv[0], '/');
        char base[SIM_PROCESS_NAME_BYTES_MAX];
        snprintf(base, sizeof(base), "%s", slash != NULL ? slash + 1 : args->argv[0]);
        lua_pushstring(L, base);
        args->name = lua_tostring(L, -1);
        if (args->name[0] == '\0')
            luaL_error(L, "ep:exec: give the program a name (name = ...)");
        lua_remove(L, -2);
    }
    lua_rawseti(L, anchor, (lua_Integer)lua_rawlen(L, anchor) + 1);
    int type = lua_getfield(L, table, "daemon");
    if (type != LUA_TNIL && type != LUA_TBOOLEAN)
        luaL_error(L, "ep:exec: daemon must be a boolean");
    args->daemon = lua_toboolean(L, -1);
    lua_pop(L, 1);
    args->call_cost_ns = parse_call_cost(L, table);
    args->channel = EXEC_CHANNEL_DEFAULT;
    type = lua_getfield(L, table, "channel");
    if (type != LUA_TNIL && (type != LUA_TSTRING ||
                             exec_channel_kind_parse(lua_tostring(L, -1), &args->channel) != 0))
        luaL_error(L, "ep:exec: channel must be \"shm\" or \"socket\"");
    lua_pop(L, 1);
}

/* D1, R50: the program's trust as a default Lua process of the endpoint has it. */
static struct vsock_credentials program_credentials(const struct simlua_world *world,
                                                    const struct simlua_endpoint *endpoint)
{
    struct vsock_credentials credentials = { .trusted = endpoint->is_host };
    snprintf(credentials.user, sizeof(credentials.user), "user");
    if (endpoint->is_host) {
        bool trusted = false;
        bool owner_rule = false;
        vmci_profile_host_identity(vmci_hypervisor_profile(world->hypervisor), true, false,
                                   false, &trusted, &owner_rule);
        credentials.trusted = trusted;
        credentials.owner_rule = owner_rule;
    }
    return credentials;
}

/* ---- ep:exec ---------------------------------------------------------------------------------- */

/* Raises unless exec may run here: the flag, the sandbox, the shim. */
static const char *exec_allowed(lua_State *L, struct simlua_runtime *runtime)
{
    if (!runtime->options.allow_exec)
        luaL_error(L, "ep:exec: running real programs needs the --allow-exec flag "
                      "(vmcisim run/replay/test --allow-exec; docs/programs.md)");
    char message[SIM_ERROR_MESSAGE_BYTES_MAX];
    if (sandbox_check(message) != SIM_OK)
        luaL_error(L, "ep:exec: this machine cannot sandbox programs: %s", message);
    const char *shim = shim_find();
    if (shim == NULL)
        luaL_error(L, "ep:exec: the shim libvmcisim_shim.so was not found beside vmcisim "
                      "(build it with make, or set VMCISIM_SHIM)");
    return shim;
}

/* getaddrinfo of a name inside the simulation: an endpoint's name (sim/exec/inet.h). */
static int endpoint_lookup(void *owner, const char *name, uint32_t *endpoint_out)
{
    const struct simlua_world *world = owner;
    for (uint32_t index = 0; index < world->endpoint_count; index++) {
        if (strcmp(world->endpoints[index].name, name) == 0) {
            *endpoint_out = index;
            return 0;
        }
    }
    return -1;
}

/* The world's pipes and control channel, made with its first program. */
static struct exec_net *world_net(lua_State *L, struct simlua_world *world)
{
    if (world->exec_net == NULL) {
        world->exec_net = exec_net_create(world->engine, &world->poll_waitq);
        if (world->exec_net == NULL)
            luaL_error(L, "ep:exec: out of memory");
        world->exec_net->lookup = endpoint_lookup;
        world->exec_net->lookup_owner = world;
    }
    return world->exec_net;
}

static struct simlua_program *node_start(lua_State *L, struct simlua_world *world,
                                         uint32_t index, const struct exec_arguments *args,
                                         const char *binary, const char *scratch)
{
    const struct simlua_endpoint *endpoint = &world->endpoints[index];
    struct simlua_program *node = calloc(1, sizeof(*node));
    if (node == NULL)
        luaL_error(L, "ep:exec: out of memory");
    node->world = world;
    node->endpoint_index = index;
    snprintf(node->name, sizeof(node->name), "%s", args->name);
    char queue_name[SIM_WAITQ_NAME_BYTES_MAX];
    snprintf(queue_name, sizeof(queue_name), "join:%s", node->name);
    sim_waitq_init(&node->joiners, queue_name);
    struct simlua_process *parent = simlua__current_process(world->runtime);
    struct exec_start start = {
        .binary_path = binary, .argv = args->argv, .envp = args->envp, .cwd = args->cwd,
        .scratch_dir = scratch, .shim_path = exec_allowed(L, world->runtime),
        .stdin_bytes = args->stdin_bytes, .stdin_length = args->stdin_length,
        .name = node->name, .domain = index, .ctx = endpoint->cid,
        .parent_pid = parent != NULL ? parent->pid : 1, .daemon = args->daemon,
        .call_cost_ns = args->call_cost_ns, .channel_kind = args->channel,
        .credentials = program_credentials(world, endpoint), .nodename = endpoint->name,
        .net = world_net(L, world), .endpoint = index,
    };
    char message[SIM_ERROR_MESSAGE_BYTES_MAX];
    int rc = exec_program_start(world->engine, &start, &program_callbacks, node,
                                &node->program, message);
    if (rc < 0) {
        free(node);
        luaL_error(L, "ep:exec %s: %s", args->name, message);
    }
    node->next = world->programs;
    world->programs = node;
    return node;
}

int simlua__endpoint_exec(lua_State *L, struct simlua_world *world, uint32_t index)
{
    struct simlua_runtime *runtime = world->runtime;
    (void)exec_allowed(L, runtime);
    lua_settop(L, 2);
    lua_newtable(L);                    /* 3: anchors the strings built below */
    struct exec_arguments args = { 0 };
    parse_arguments(L, 2, 3, &args);
    char binary[PATH_MAX];
    if (!binary_resolve(runtime, args.argv[0], args.path_list, binary))
        return luaL_error(L, "ep:exec: '%s' not found or not executable (a name with a slash "
                             "is taken from the scenario's directory, one without from PATH "
                             "%s)", args.argv[0], args.path_list);
    const struct simlua_endpoint *endpoint = &world->endpoints[index];
    char scratch[PATH_MAX];
    if (!scratch_make(world, endpoint->name, scratch))
        return luaL_error(L, "ep:exec: cannot make a scratch directory: %s", strerror(errno));
    char message[SIM_ERROR_MESSAGE_BYTES_MAX];
    if (args.cwd != NULL && exec_sandbox_check_cwd(args.cwd, scratch, message) != SIM_OK)
        return luaL_error(L, "ep:exec: %s", message);
    struct simlua_program *node = node_start(L, world, index, &args, binary, scratch);
    simlua__program_register(L);
    struct program_handle *handle = simlua__object_new(L, sizeof(*handle), SIMLUA_TYPE_PROGRAM);
    handle->node = node;
    return 1;
}

/* ---- The program object --------------------------------------------------------------------- */

static struct simlua_program *check_program(lua_State *L, int index)
{
    struct program_handle *handle = simlua__object_check(L, index, SIMLUA_TYPE_PROGRAM);
    return handle->node;
}

static int program_output(lua_State *L)
{
    struct simlua_program *node = check_program(L, 1);
    size_t length = 0;
    const char *output = exec_program_output(node->program, &length);
    lua_pushlstring(L, output, length);
    return 1;
}

bool simlua__program_kill(struct simlua_program *node)
{
    assert(node != NULL && node->program != NULL);
    if (exec_program_ended(node->program))
        return false;
    struct simlua_process *current = simlua__current_process(node->world->runtime);
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_API, "proc_kill", program_local_cid(node),
                         current != NULL ? current->pid : 0);
    sim_trace_field_u64(&event, "target_pid", exec_program_pid(node->program));
    (void)sim_engine_emit(node->world->engine, &event);
    exec_program_kill(node->program);
    return true;
}

static int program_kill(lua_State *L)
{
    lua_pushboolean(L, simlua__program_kill(check_program(L, 1)));
    return 1;
}

struct simlua_program *simlua__program_of(const struct simlua_world *world,
                                          const struct sim_process *process)
{
    assert(world != NULL && process != NULL);
    for (struct simlua_program *node = world->programs; node != NULL; node = node->next) {
        if (node->program != NULL && !exec_program_ended(node->program) &&
            exec_program_process(node->program) == process)
            return node;
    }
    return NULL;
}

uint32_t simlua__program_endpoint(const struct simlua_program *node)
{
    return node->endpoint_index;
}

/* prog:join([timeout_ns]), or p:join(prog [, timeout_ns]) of the calling Lua process: true
 * once the program has ended, or nil, "ETIMEDOUT", 110 (as p:join of a Lua process). The
 * program is at stack index `context` (1 or 2). */
static int join_continue(lua_State *L, int status, lua_KContext context)
{
    (void)status;
    struct simlua_program *node = check_program(L, (int)context);
    if (exec_program_ended(node->program)) {
        lua_pushboolean(L, 1);
        return 1;
    }
    lua_pushnil(L);
    lua_pushliteral(L, "ETIMEDOUT");
    lua_pushinteger(L, 110);
    return 3;
}

int simlua__program_join(lua_State *L, struct simlua_process *self, int program_index,
                         int timeout_index)
{
    struct simlua_program *node = check_program(L, program_index);
    if (self == NULL || L != self->thread || self->ending || self->process == NULL)
        return luaL_error(L, "p:join: a program is joined from a Lua process's own coroutine");
    simlua__check_yieldable(L, "p:join");
    uint64_t deadline_ns = SIM_TIME_NEVER;
    uint64_t now_ns = sim_engine_now(node->world->engine);
    if (!lua_isnoneornil(L, timeout_index)) {
        lua_Integer timeout_ns = luaL_checkinteger(L, timeout_index);
        luaL_argcheck(L, timeout_ns >= 0, timeout_index, "timeout must be >= 0 ns");
        deadline_ns = (uint64_t)timeout_ns > UINT64_MAX - 1 - now_ns
                          ? SIM_TIME_NEVER : now_ns + (uint64_t)timeout_ns;
    }
    lua_settop(L, program_index);
    if (exec_program_ended(node->program)) {
        lua_pushboolean(L, 1);
        return 1;
    }
    int rc = sim_process_block(self->process, &node->joiners, deadline_ns);
    if (rc < 0 && rc != SIM_EKILLED)
        return luaL_error(L, "p:join: %s", sim_engine_error_message(node->world->engine));
    return lua_yieldk(L, 0, program_index, join_continue);
}

static int program_join(lua_State *L)
{
    check_program(L, 1);
    return simlua__program_join(L, simlua__current_process(simlua__runtime(L)), 1, 2);
}

static int program_index(lua_State *L)
{
    struct simlua_program *node = check_program(L, 1);
    const char *key = luaL_checkstring(L, 2);
    const struct exec_program *program = node->program;
    if (strcmp(key, "name") == 0)
        lua_pushstring(L, node->name);
    else if (strcmp(key, "pid") == 0)
        lua_pushinteger(L, exec_program_pid(program));
    else if (strcmp(key, "status") == 0)
        lua_pushstring(L, exec_program_status(program));
    else if (strcmp(key, "exit_code") == 0 && exec_program_exit_code(program) >= 0)
        lua_pushinteger(L, exec_program_exit_code(program));
    else if (strcmp(key, "exit_code") == 0)
        lua_pushnil(L);
    else if (strcmp(key, "calls") == 0)
        lua_pushinteger(L, (lua_Integer)exec_program_calls(program));
    else if (strcmp(key, "endpoint") == 0)
        simlua__endpoint_push(L, node->world, node->endpoint_index);
    else {
        lua_pushvalue(L, 2);
        lua_rawget(L, lua_upvalueindex(1));     /* the methods */
    }
    return 1;
}

static int program_tostring(lua_State *L)
{
    struct simlua_program *node = check_program(L, 1);
    lua_pushfstring(L, "program %s/%s (pid %d)", endpoint_of(node)->name, node->name,
                    (int)exec_program_pid(node->program));
    return 1;
}

/* Registered on the first ep:exec, not when the module opens: a scenario that runs no
 * program creates exactly the Lua objects it did before ep:exec existed, so the creation
 * numbers its tostring() shows, and its digest, stay the same. */
void simlua__program_register(lua_State *L)
{
    if (luaL_getmetatable(L, simlua__type_name(SIMLUA_TYPE_PROGRAM)) != LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    lua_pop(L, 1);
    static const luaL_Reg methods[] = {
        { "output", program_output }, { "kill", program_kill }, { "join", program_join },
        { NULL, NULL },
    };
    simlua__metatable_new(L, SIMLUA_TYPE_PROGRAM);
    luaL_newlib(L, methods);
    lua_pushcclosure(L, program_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, program_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);
}

/* ---- Lifecycle hooks ------------------------------------------------------------------------- */

void simlua__programs_power_off(struct simlua_world *world, uint32_t index)
{
    /* Newest first (the world's list order): a function of the scenario alone. */
    for (struct simlua_program *node = world->programs; node != NULL; node = node->next) {
        if (node->endpoint_index != index || exec_program_ended(node->program))
            continue;
        exec_program_close_all(node->program);
        exec_program_kill(node->program);
    }
}

void simlua__programs_follow_cid(struct simlua_world *world, uint32_t index, uint32_t cid)
{
    for (struct simlua_program *node = world->programs; node != NULL; node = node->next) {
        struct sim_process *process = exec_program_process(node->program);
        if (node->endpoint_index == index && process != NULL)
            process->ctx = cid;
    }
}

void simlua__programs_destroy(struct simlua_world *world)
{
    struct simlua_program *node = world->programs;
    while (node != NULL) {
        struct simlua_program *next = node->next;
        exec_program_destroy(node->program);
        free(node);
        node = next;
    }
    world->programs = NULL;
    exec_net_destroy(world->exec_net);     /* after the programs let go of its objects */
    world->exec_net = NULL;
    if (world->scratch_root != NULL) {
        scratch_remove(world->scratch_root);
        free(world->scratch_root);
        world->scratch_root = NULL;
    }
}
