/* SPDX-License-Identifier: MIT */
/*
 * sim/lua/endpoint.c: the host and VM endpoints (w:host(), w:vm{}, ep:spawn).
 *
 * Until the VMCI layer owns the context table, CIDs are assigned here by the
 * reference's rules: the host is CID 2 (R7); a VM takes vmci0.id (D15: decimal
 * 32-bit, negative taken modulo 2^32, < 16 or 0xFFFFFFFF or not a number is a
 * configuration error), moved to the next free value on a collision (R8:
 * cid = max(cid, 15) + 1, wrapping to 16, traced), or is generated from the
 * world's "vmci" stream uniformly in [16, 2^31), skipping CIDs in use.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua_int.h"
#include "vmci/device.h"

#define ENDPOINT_HW_VERSION_DEFAULT 13u     /* ESXi 6.5's virtual hardware */
#define ENDPOINT_HW_VERSION_MAX 64u

struct endpoint_handle {
    struct simlua_world *world;     /* borrowed */
    uint32_t index;
};

static struct simlua_endpoint *check_endpoint(lua_State *L, int index, struct simlua_world **world)
{
    struct endpoint_handle *handle = simlua__object_check(L, index, SIMLUA_TYPE_ENDPOINT);
    assert(handle->index < handle->world->endpoint_count);
    if (world != NULL)
        *world = handle->world;
    return &handle->world->endpoints[handle->index];
}

int simlua__endpoint_push(lua_State *L, struct simlua_world *world, uint32_t index)
{
    assert(index < world->endpoint_count);
    lua_rawgeti(L, LUA_REGISTRYINDEX, world->endpoints[index].userdata_ref);
    return 1;
}

/* D15: parses vmci0.id. Returns false (and a message) when it is a configuration error. */
static bool cid_parse(const char *text, uint32_t *cid_out)
{
    char *end = NULL;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (end == text || *end != '\0' || errno != 0 || value < INT32_MIN || value > UINT32_MAX)
        return false;
    uint32_t cid = (uint32_t)(value & 0xFFFFFFFFll);
    if (cid < SIMLUA_CID_RESERVED_LIMIT || cid == 0xFFFFFFFFu)
        return false;
    *cid_out = cid;
    return true;
}

/* Appends an endpoint and its userdata (left on the stack). Raises on a limit. */
static struct simlua_endpoint *endpoint_append(lua_State *L, struct simlua_world *world)
{
    const struct sim_limits *limits = sim_engine_limits(world->engine);
    if (world->endpoint_count >= limits->vms_max + 1u)
        luaL_error(L, "w:vm: limit vms_max (%d) exceeded", (int)limits->vms_max);
    struct endpoint_handle *handle = simlua__object_new(L, sizeof(*handle),
                                                        SIMLUA_TYPE_ENDPOINT);
    handle->world = world;
    handle->index = world->endpoint_count;
    if (world->endpoint_count == world->endpoint_capacity) {
        uint32_t capacity = world->endpoint_capacity == 0 ? 8 : world->endpoint_capacity * 2;
        struct simlua_endpoint *grown = realloc(world->endpoints, capacity * sizeof(*grown));
        if (grown == NULL)
            luaL_error(L, "w:vm: out of memory");
        world->endpoints = grown;
        world->endpoint_capacity = capacity;
    }
    struct simlua_endpoint *endpoint = &world->endpoints[world->endpoint_count];
    memset(endpoint, 0, sizeof(*endpoint));
    endpoint->vmx_ref = LUA_NOREF;
    lua_pushvalue(L, -1);
    endpoint->userdata_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    world->endpoint_count++;
    return endpoint;
}

static void trace_endpoint(struct simlua_world *world, const struct simlua_endpoint *endpoint)
{
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_API, endpoint->is_host ? "host_create" : "vm_create",
                         endpoint->cid, 0);
    sim_trace_field_str(&event, "name", endpoint->name);
    sim_trace_field_u64(&event, "cid", endpoint->cid);
    if (!endpoint->is_host)
        sim_trace_field_u64(&event, "hw_version", endpoint->hw_version);
    (void)sim_engine_emit(world->engine, &event);
}

void simlua__net_start(struct simlua_net *net, struct vmci_kernel *kernel)
{
    struct simlua_world *world = net->world;
    const struct vmci_profile *profile = vmci_hypervisor_profile(world->hypervisor);
    bool host = vmci_kernel_is_host(kernel);
    const struct vsock_transport_ops *stream_ops =
        host && !profile->host_stream_sockets ? NULL : &vsock_vmci_stream_ops;
    vsock_stack_init(&net->stack, world->engine, stream_ops, &vsock_vmci_dgram_ops, &net->vmci,
                     host, &world->socket_count, sim_engine_limits(world->engine)->sockets_max);
    net->stack.poll_waitq = &world->poll_waitq;
    if (net->buffer_size_default != 0)
        net->stack.buffer_size_default = net->buffer_size_default;             /* R211 */
    net->ready = vsock_vmci_start(&net->vmci, kernel, &net->stack) == VMCI_SUCCESS;
    net->vmci.force_v1 = net->force_v1;
}

static void driver_ready(void *state, struct vmci_kernel *kernel)
{
    struct simlua_net *net = state;
    simlua__net_start(net, kernel);     /* R203: the stack's control handle {ANY, 1} */
    sim_waitq_wake_all(&net->driver_waitq);     /* D4: the VM's processes may start now */
}

/* Allocates the endpoint's network state (D4 wait queue, stack); raises when out of memory. */
static struct simlua_net *net_create(lua_State *L, struct simlua_world *world, uint32_t index,
                                     const char *name)
{
    struct simlua_net *net = calloc(1, sizeof(*net));
    if (net == NULL)
        luaL_error(L, "out of memory");
    char queue_name[SIM_WAITQ_NAME_BYTES_MAX];
    snprintf(queue_name, sizeof(queue_name), "driver:%s", name);
    sim_waitq_init(&net->driver_waitq, queue_name);
    net->world = world;
    net->endpoint_index = index;
    return net;
}

void simlua__host_create(lua_State *L, struct simlua_world *world)
{
    assert(world->endpoint_count == 0);
    struct simlua_endpoint *host = endpoint_append(L, world);
    snprintf(host->name, sizeof(host->name), "host");
    host->cid = SIMLUA_CID_HOST;
    host->is_host = true;
    host->kernel = vmci_hypervisor_host(world->hypervisor);
    host->net = net_create(L, world, 0, "host");
    host->driver_waitq = &host->net->driver_waitq;
    simlua__net_start(host->net, host->kernel);
    snprintf(host->os, sizeof(host->os), "%s", world->host_os);
    snprintf(host->user, sizeof(host->user), "user");
    lua_pop(L, 1);
    trace_endpoint(world, host);
}

int simlua__world_host(lua_State *L)
{
    struct simlua_world *world = simlua__check_world(L, 1);
    return simlua__endpoint_push(L, world, 0);
}

/* Pushes `key` in lower case, as the copy of the vmx table keys it: VMX keys are
 * case-insensitive (`vmci0.ID` is `vmci0.id`). Raises for a key with a NUL byte, which a C
 * string would cut into another key. */
static void vmx_key_push(lua_State *L, int key_index, const char *who)
{
    size_t length = 0;
    const char *key = lua_tolstring(L, key_index, &length);
    if (length == 0 || memchr(key, '\0', length) != NULL)
        luaL_error(L, "%s: a vmx key must be a non-empty string without NUL bytes", who);
    luaL_Buffer buffer;
    char *lower = luaL_buffinitsize(L, &buffer, length);
    for (size_t index = 0; index < length; index++)
        lower[index] = (char)((key[index] >= 'A' && key[index] <= 'Z') ? key[index] - 'A' + 'a'
                                                                        : key[index]);
    luaL_pushresultsize(&buffer, length);
}

/* Copies the vmx table (string keys, in lower case; string, number or boolean values as VMX
 * text). A value with a NUL byte, or a key given twice in different cases, raises: either
 * would otherwise be read silently as something else. */
static int vmx_copy(lua_State *L, int source)
{
    lua_newtable(L);
    simlua__sorted_keys(L, source);
    for (lua_Integer position = 1; lua_rawgeti(L, -1, position) != LUA_TNIL; position++) {
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "w:vm: vmx keys must be strings");
        vmx_key_push(L, -1, "w:vm");                    /* copy, sorted keys, key, lower */
        if (lua_rawget(L, -4) == LUA_TNIL)
            lua_pop(L, 1);
        else
            luaL_error(L, "w:vm: vmx key '%s' is given twice (VMX keys are case-insensitive)",
                       lua_tostring(L, -2));
        lua_pushvalue(L, -1);
        lua_gettable(L, source);
        if (lua_type(L, -1) == LUA_TBOOLEAN) {
            lua_pushstring(L, lua_toboolean(L, -1) ? "TRUE" : "FALSE");
            lua_replace(L, -2);
        } else if (!lua_isstring(L, -1)) {
            luaL_error(L, "w:vm: vmx value of '%s' must be a string", lua_tostring(L, -2));
        } else {
            size_t length = 0;
            const char *value = lua_tolstring(L, -1, &length);  /* numbers become their text */
            if (memchr(value, '\0', length) != NULL)
                luaL_error(L, "w:vm: vmx value of '%s' holds a NUL byte", lua_tostring(L, -2));
        }
        vmx_key_push(L, -2, "w:vm");
        lua_insert(L, -2);
        lua_rawset(L, -5);
        lua_pop(L, 1);
    }
    lua_pop(L, 2);
    return luaL_ref(L, LUA_REGISTRYINDEX);
}

static const char *vmx_get(lua_State *L, int vmx, const char *key)
{
    if (lua_getfield(L, vmx, key) == LUA_TNIL) {
        lua_pop(L, 1);
        return NULL;
    }
    const char *value = lua_tostring(L, -1);
    lua_pop(L, 1);      /* the vmx table keeps it alive */
    return value;
}

static uint32_t vm_hw_version(lua_State *L, int options)
{
    uint32_t hw_version = ENDPOINT_HW_VERSION_DEFAULT;
    if (lua_getfield(L, options, "hw_version") != LUA_TNIL) {
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 ||
            lua_tointeger(L, -1) > ENDPOINT_HW_VERSION_MAX)
            luaL_error(L, "w:vm: hw_version must be an integer in 1..%d",
                       (int)ENDPOINT_HW_VERSION_MAX);
        hw_version = (uint32_t)lua_tointeger(L, -1);
    }
    lua_pop(L, 1);
    return hw_version;
}

static void copy_name(lua_State *L, char *target, size_t target_bytes, const char *value,
                      const char *field)
{
    size_t length = strlen(value);
    if (length == 0 || length >= target_bytes)
        luaL_error(L, "w:vm: %s must be 1..%d bytes", field, (int)target_bytes - 1);
    memcpy(target, value, length + 1);
}

/* A string option of w:vm, or NULL when absent. It must fit SIMLUA_NAME_BYTES_MAX and hold
 * no NUL byte: the C side keeps it in a fixed buffer as a C string, and a longer or cut
 * value would silently be another one (an owner cut to 63 bytes could match a host user). */
static const char *string_field(lua_State *L, int options, const char *field)
{
    int type = lua_getfield(L, options, field);
    if (type != LUA_TNIL && type != LUA_TSTRING)
        luaL_error(L, "w:vm: %s must be a string", field);
    size_t length = 0;
    const char *value = lua_tolstring(L, -1, &length);
    if (value != NULL && (length >= SIMLUA_NAME_BYTES_MAX || memchr(value, 0, length) != NULL))
        luaL_error(L, "w:vm: %s must be at most %d bytes without a NUL byte", field,
                   (int)SIMLUA_NAME_BYTES_MAX - 1);
    lua_pop(L, 1);      /* the options table keeps it alive */
    return value;
}

/* A boolean VMX key the simulator reads: absent is `false`; "TRUE" or "FALSE" in any case;
 * anything else raises, so that a typo ("ture", "yes") never passes as FALSE. */
static bool vmx_boolean(lua_State *L, int vmx, const char *name, const char *key)
{
    const char *value = vmx_get(L, vmx, key);
    if (value == NULL || strcasecmp(value, "FALSE") == 0)
        return false;
    if (strcasecmp(value, "TRUE") == 0)
        return true;
    luaL_error(L, "w:vm: %s: %s = \"%s\" is not \"TRUE\" or \"FALSE\"", name, key, value);
    return false;
}

/* Powers the VM on in the hypervisor (R8/D15 CIDs, D7 device, R196/R198 flags). */
/* The VM's guest runs in engine domain `domain` (its endpoint index, engine.h "Domains"),
 * so that suspend and freeze can stop it as a whole. */
static struct vmci_kernel *vm_power_on(lua_State *L, struct simlua_world *world, int vmx,
                                       const char *name, uint32_t hw_version, const char *owner,
                                       uint32_t domain)
{
    if (domain == 0 || domain >= SIM_DOMAINS_MAX)
        luaL_error(L, "w:vm: %s: more VMs than engine domains (%d)", name, (int)SIM_DOMAINS_MAX);
    const char *requested_text = vmx_get(L, vmx, "vmci0.id");
    uint32_t requested = VMCI_INVALID_ID;
    if (requested_text != NULL && !cid_parse(requested_text, &requested))
        luaL_error(L, "w:vm: %s: vmci0.id = \"%s\" is not a valid CID (a decimal 32-bit "
                      "integer, not below 16 and not 0xFFFFFFFF; decision D15)", name,
                   requested_text);
    const char *vmci_domain = vmx_get(L, vmx, "vmci0.domain");
    if (vmci_domain != NULL && strlen(vmci_domain) >= VMCI_NAME_BYTES_MAX)
        luaL_error(L, "w:vm: %s: vmci0.domain is longer than %d bytes", name,
                   (int)VMCI_NAME_BYTES_MAX - 1);      /* cut, two domains would be one */
    struct vmci_vm_config config = {
        .name = name, .requested_cid = requested, .hw_version = hw_version,
        .unrestricted = vmx_boolean(L, vmx, name, "vmci0.unrestricted"),
        .domain = vmci_domain != NULL ? vmci_domain : "", .owner = owner,
        .engine_domain = domain,
    };
    struct vmci_kernel *kernel = NULL;
    int rc = vmci_hypervisor_vm_power_on(world->hypervisor, &config, &kernel);
    if (rc < 0)
        luaL_error(L, "w:vm: %s: power-on failed: %s", name, vmci_error_name(rc));
    return kernel;
}

int simlua__world_vm(lua_State *L)
{
    struct simlua_world *world = simlua__check_world(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    static const char *const allowed[] = { "name", "os", "hw_version", "vmx", "user", NULL };
    simlua__check_options(L, 2, allowed, "w:vm");
    const char *name = string_field(L, 2, "name");
    if (name == NULL)
        return luaL_error(L, "w:vm: name is required");
    for (uint32_t index = 0; index < world->endpoint_count; index++) {
        if (strcmp(world->endpoints[index].name, name) == 0)
            return luaL_error(L, "w:vm: an endpoint named '%s' already exists", name);
    }
    const char *os = string_field(L, 2, "os");
    const char *user = string_field(L, 2, "user");
    if (user != NULL && user[0] == '\0')
        return luaL_error(L, "w:vm: user must be 1..%d bytes", (int)SIMLUA_NAME_BYTES_MAX - 1);
    uint32_t hw_version = vm_hw_version(L, 2);
    int vmx_type = lua_getfield(L, 2, "vmx");
    if (vmx_type != LUA_TNIL && vmx_type != LUA_TTABLE)
        return luaL_error(L, "w:vm: vmx must be a table of VMX keys");
    if (vmx_type == LUA_TNIL) {
        lua_pop(L, 1);
        lua_newtable(L);
    }
    int vmx_ref = vmx_copy(L, lua_gettop(L));
    lua_pop(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, vmx_ref);
    int vmx = lua_gettop(L);
    bool present = vmx_boolean(L, vmx, name, "vmci0.present");    /* checked on any hw */
    if (hw_version < 7 && present)
        return luaL_error(L, "w:vm: %s: vmci0.present = \"TRUE\" needs virtual hardware >= 7 "
                             "(hw_version = %d has no VMCI device; decision D7)", name,
                          (int)hw_version);
    char name_copy[SIMLUA_NAME_BYTES_MAX];
    copy_name(L, name_copy, sizeof(name_copy), name, "name");
    const struct sim_limits *limits = sim_engine_limits(world->engine);
    if (world->endpoint_count >= limits->vms_max + 1u)
        return luaL_error(L, "w:vm: limit vms_max (%d) exceeded", (int)limits->vms_max);
    struct vmci_kernel *kernel = vm_power_on(L, world, vmx, name_copy, hw_version,
                                             user != NULL ? user : "user", world->endpoint_count);
    uint32_t cid = vmci_kernel_cid(kernel);
    struct simlua_endpoint *endpoint = endpoint_append(L, world);
    memcpy(endpoint->name, name_copy, sizeof(name_copy));
    endpoint->cid = cid;
    endpoint->kernel = kernel;
    endpoint->net = net_create(L, world, world->endpoint_count - 1, name_copy);
    endpoint->driver_waitq = &endpoint->net->driver_waitq;
    vmci_kernel_on_ready(kernel, driver_ready, endpoint->net);
    endpoint->hw_version = hw_version;
    snprintf(endpoint->os, sizeof(endpoint->os), "%s", os != NULL ? os : "linux");
    snprintf(endpoint->user, sizeof(endpoint->user), "%s", user != NULL ? user : "user");
    endpoint->vmx_ref = vmx_ref;
    char cid_text[16];
    snprintf(cid_text, sizeof(cid_text), "%u", cid);
    lua_pushstring(L, cid_text);            /* R8: the chosen CID is written back */
    lua_setfield(L, vmx, "vmci0.id");
    trace_endpoint(world, endpoint);
    return 1;
}

int simlua__world_vms(lua_State *L)
{
    struct simlua_world *world = simlua__check_world(L, 1);
    lua_createtable(L, (int)world->endpoint_count - 1, 0);
    for (uint32_t index = 1; index < world->endpoint_count; index++) {
        simlua__endpoint_push(L, world, index);
        lua_rawseti(L, -2, index);
    }
    return 1;
}

static int endpoint_spawn(lua_State *L)
{
    struct simlua_world *world = NULL;
    struct simlua_endpoint *endpoint = check_endpoint(L, 1, &world);
    return simlua__process_spawn(L, world, (uint32_t)(endpoint - world->endpoints), 2, 3, 4);
}

/* ep:exec{ ... }: a real program (sim/lua/exec_binding.c). */
static int endpoint_exec(lua_State *L)
{
    struct simlua_world *world = NULL;
    struct simlua_endpoint *endpoint = check_endpoint(L, 1, &world);
    return simlua__endpoint_exec(L, world, (uint32_t)(endpoint - world->endpoints));
}

static int endpoint_device(lua_State *L)
{
    struct simlua_world *world = NULL;
    struct simlua_endpoint *endpoint = check_endpoint(L, 1, &world);
    return simlua__device_push(L, world, (uint32_t)(endpoint - world->endpoints));
}

/* ep:vsock{ protocol = 1|2, flavour = "vmware"|"linux" }: the kernel's vSockets stack.
 * protocol 1 makes its clients send REQUEST (v1) and so use the packet-based notification
 * protocol (R180); flavour "linux" makes 262144 the default buffer size (R211). Applies to
 * sockets created afterwards. */
static int endpoint_vsock(lua_State *L)
{
    struct simlua_world *world = NULL;
    struct simlua_endpoint *endpoint = check_endpoint(L, 1, &world);
    luaL_checktype(L, 2, LUA_TTABLE);
    static const char *const allowed[] = { "protocol", "flavour", NULL };
    simlua__check_options(L, 2, allowed, "ep:vsock");
    struct simlua_net *net = endpoint->net;
    if (lua_getfield(L, 2, "protocol") != LUA_TNIL) {
        lua_Integer protocol = lua_tointeger(L, -1);
        if (!lua_isinteger(L, -1) || (protocol != 1 && protocol != 2))
            return luaL_error(L, "ep:vsock: protocol must be 1 or 2");
        net->force_v1 = protocol == 1;
        net->vmci.force_v1 = net->force_v1;
    }
    if (lua_getfield(L, 2, "flavour") != LUA_TNIL) {
        const char *flavour = luaL_checkstring(L, -1);
        if (strcmp(flavour, "vmware") != 0 && strcmp(flavour, "linux") != 0)
            return luaL_error(L, "ep:vsock: flavour must be \"vmware\" or \"linux\"");
        net->buffer_size_default = strcmp(flavour, "linux") == 0 ? VSOCK_BUFFER_SIZE_LINUX
                                                                  : VSOCK_BUFFER_SIZE_VMWARE;
        if (net->ready)
            net->stack.buffer_size_default = net->buffer_size_default;
    }
    return 0;
}

/* ---- VM lifecycle (reference 10) -------------------------------------------------------- */

struct simlua_endpoint *simlua__check_vm(lua_State *L, struct simlua_world **world,
                                         const char *method)
{
    struct simlua_endpoint *endpoint = check_endpoint(L, 1, world);
    if (endpoint->is_host)
        luaL_error(L, "%s: the host has no lifecycle", method);
    struct simlua_process *current = simlua__current_process((*world)->runtime);
    if (current != NULL && (*world)->endpoints + current->endpoint_index == endpoint)
        luaL_error(L, "%s: called from a process of %s itself", method, endpoint->name);
    return endpoint;
}

void simlua__trace_lifecycle(struct simlua_world *world, const struct simlua_endpoint *endpoint,
                             const char *kind)
{
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_API, kind, endpoint->cid, 0);
    sim_trace_field_str(&event, "vm", endpoint->name);
    (void)sim_engine_emit(world->engine, &event);
}

/* R204, D4: the VM's processes are killed (their sockets closed first, so their peers see
 * the detach), its p:vmci() objects closed, its stack and context destroyed. */
static int endpoint_power_off(lua_State *L)
{
    struct simlua_world *world = NULL;
    struct simlua_endpoint *endpoint = simlua__check_vm(L, &world, "vm:power_off");
    if (endpoint->powered_off)
        return luaL_error(L, "vm:power_off: %s is already powered off", endpoint->name);
    if (endpoint->kernel != NULL && vmci_kernel_has_device(endpoint->kernel) &&
        !vmci_kernel_ready(endpoint->kernel))
        return luaL_error(L, "vm:power_off: %s is still powering on (its VMCI driver is "
                             "loading)", endpoint->name);
    uint32_t index = (uint32_t)(endpoint - world->endpoints);
    /* A suspended or frozen guest is let go first, so that its processes can die: what
     * was parked for it runs (or is cancelled) with the rest of the power-off. */
    (void)sim_engine_domain_thaw(world->engine, index);
    endpoint->frozen = false;
    uint32_t live = sim_engine_processes_live(world->engine);
    struct sim_process *process = sim_engine_processes_first(world->engine);
    for (uint32_t visited = 0; process != NULL && visited < live; visited++) {
        struct sim_process *next = process->live_next;
        struct simlua_process *owner = simlua__process_of(process);
        if (owner != NULL && owner->endpoint_index == index) {
            simlua__sockets_close(L, owner);
            sim_process_kill(process);
        }
        process = next;
    }
    simlua__programs_power_off(world, index);
    simlua__vmci_objects_close(L, endpoint);
    struct simlua_net *net = endpoint->net;
    if (net->ready)
        vsock_stack_destroy(&net->stack);
    net->ready = false;
    int rc = vmci_hypervisor_vm_power_off(world->hypervisor, endpoint->cid);
    if (rc < 0 && rc != VMCI_ERROR_NOT_FOUND)
        return luaL_error(L, "vm:power_off: %s", vmci_error_name(rc));
    endpoint->kernel = NULL;
    endpoint->powered_off = true;
    endpoint->suspended = false;
    endpoint->ft_mode = false;
    simlua__trace_lifecycle(world, endpoint, "vm_power_off");
    return 0;
}

/* R203, D4: a new context (the CID of vmci0.id again, R8), the driver loads, processes
 * spawned meanwhile start once it has. */
static int endpoint_power_on(lua_State *L)
{
    struct simlua_world *world = NULL;
    struct simlua_endpoint *endpoint = simlua__check_vm(L, &world, "vm:power_on");
    if (!endpoint->powered_off)
        return luaL_error(L, "vm:power_on: %s is already powered on", endpoint->name);
    simlua__registry_table(L, endpoint->vmx_ref);     /* a table even if replaced */
    int vmx = lua_gettop(L);
    struct vmci_kernel *kernel = vm_power_on(L, world, vmx, endpoint->name,
                                             endpoint->hw_version, endpoint->user,
                                             (uint32_t)(endpoint - world->endpoints));
    endpoint->kernel = kernel;
    endpoint->cid = vmci_kernel_cid(kernel);
    endpoint->powered_off = false;
    char cid_text[16];
    snprintf(cid_text, sizeof(cid_text), "%u", endpoint->cid);
    lua_pushstring(L, cid_text);
    lua_setfield(L, vmx, "vmci0.id");
    simlua__trace_lifecycle(world, endpoint, "vm_power_on");
    vmci_kernel_on_ready(kernel, driver_ready, endpoint->net);
    return 0;
}

/* R34, R209: what a guest kernel does with CONTROL_RESET. */
static int endpoint_reset_device(lua_State *L)
{
    struct simlua_world *world = NULL;
    struct simlua_endpoint *endpoint = check_endpoint(L, 1, &world);
    struct vmci_device *device = endpoint->is_host || endpoint->powered_off ? NULL
                                 : vmci_hypervisor_device(world->hypervisor, endpoint->cid);
    if (device == NULL)
        return luaL_error(L, "vm:reset_device: %s has no live VMCI device", endpoint->name);
    if (vmci_kernel_reset_device(endpoint->kernel) < 0)          /* the driver reloads (D4) */
        return luaL_error(L, "vm:reset_device: %s's VMCI driver is not loaded", endpoint->name);
    return 0;
}

static int endpoint_vmx(lua_State *L)
{
    struct simlua_endpoint *endpoint = check_endpoint(L, 1, NULL);
    luaL_checktype(L, 2, LUA_TSTRING);
    if (endpoint->vmx_ref == LUA_NOREF)
        return 0;
    simlua__registry_table(L, endpoint->vmx_ref);
    vmx_key_push(L, 2, "ep:vmx");                       /* as the copy keys it */
    lua_rawget(L, -2);
    return 1;
}

static int endpoint_index(lua_State *L)
{
    struct simlua_endpoint *endpoint = check_endpoint(L, 1, NULL);
    const char *key = luaL_checkstring(L, 2);
    if (strcmp(key, "name") == 0)
        lua_pushstring(L, endpoint->name);
    else if (strcmp(key, "cid") == 0)
        lua_pushinteger(L, endpoint->cid);
    else if (strcmp(key, "is_host") == 0)
        lua_pushboolean(L, endpoint->is_host);
    else if (strcmp(key, "os") == 0)
        lua_pushstring(L, endpoint->os);
    else if (strcmp(key, "user") == 0)
        lua_pushstring(L, endpoint->user);
    else if (strcmp(key, "hw_version") == 0 && !endpoint->is_host)
        lua_pushinteger(L, endpoint->hw_version);
    else if (strcmp(key, "state") == 0 && !endpoint->is_host)
        lua_pushstring(L, simlua__vm_state(endpoint));
    else if (strcmp(key, "fault_tolerant") == 0 && !endpoint->is_host)
        lua_pushboolean(L, endpoint->ft_mode);
    else if (strcmp(key, "exec") == 0)
        /* Not in the methods table: the sandbox numbers every function reachable there
         * from the same counter as objects, so one more would shift the creation numbers
         * (and the digests) of every scenario, even those that never run a program. */
        lua_pushcfunction(L, endpoint_exec);
    else {
        lua_pushvalue(L, 2);
        lua_rawget(L, lua_upvalueindex(1));     /* the methods */
    }
    return 1;
}

static int endpoint_tostring(lua_State *L)
{
    struct simlua_endpoint *endpoint = check_endpoint(L, 1, NULL);
    if (endpoint->is_host)
        lua_pushfstring(L, "host (cid %d)", (int)endpoint->cid);
    else
        lua_pushfstring(L, "vm %s (cid %I)", endpoint->name, (lua_Integer)endpoint->cid);
    return 1;
}

void simlua__endpoint_register(lua_State *L)
{
    static const luaL_Reg methods[] = {
        { "spawn", endpoint_spawn }, { "vmx", endpoint_vmx }, { "device", endpoint_device },
        { "vsock", endpoint_vsock }, { "power_off", endpoint_power_off },
        { "power_on", endpoint_power_on }, { "reset_device", endpoint_reset_device },
        { NULL, NULL },
    };
    simlua__metatable_new(L, SIMLUA_TYPE_ENDPOINT);
    luaL_newlib(L, methods);
    simlua__lifecycle_methods(L);
    lua_pushcclosure(L, endpoint_index, 1);     /* methods as an upvalue: not in the metatable */
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, endpoint_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);
}
