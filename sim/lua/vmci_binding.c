/* SPDX-License-Identifier: MIT */
/*
 * sim/lua/vmci_binding.c: Lua access below sockets, for scenarios that test the
 * VMCI platform itself (docs/scenario-api.md, "The VMCI platform"):
 *   vm:device()  raw registers: a hostile or buggy guest kernel;
 *   p:vmci()     the driver API of the process's kernel: datagram handles and
 *                queue pairs. Failures return nil, "VMCI_ERROR_NAME", code.
 *
 * Work the cost model charges (a hypercall, a copy) makes the calling process
 * sleep that long before the call returns, like any blocking call; so these
 * methods must be called from the process that owns the object.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "lua_int.h"
#include "vmci/device.h"

/* Bytes one qp:dequeue / qp:peek may ask for. */
#define SIMLUA_QP_READ_BYTES_MAX (64u * 1024 * 1024)

struct device_handle {
    struct simlua_world *world;     /* borrowed */
    uint32_t cid;
};

struct received {
    struct received *next;
    uint32_t src_cid;
    uint32_t src_rid;
    uint64_t size_bytes;
    uint8_t bytes[];
};

struct datagram {
    struct simlua_process *owner;   /* borrowed: kept alive by owner_ref */
    struct vmci_kernel *kernel;     /* borrowed */
    struct vmci_handle handle;
    bool open;
    int self_ref;                   /* anchors the userdata while the handle is open */
    int owner_ref;
    struct received *head;          /* owned, FIFO */
    struct received *tail;
    uint32_t count;
    struct sim_waitq readers;
};

struct queue_pair {
    struct simlua_process *owner;   /* borrowed: kept alive by owner_ref */
    struct vmci_qpair *qpair;       /* owned until qp:detach() */
    int owner_ref;
};

/* Makes the running process sleep cost_ns, then returns the `result_count` values now on
 * top of the stack (lua_yieldk keeps them below the continuation's view). */
static int finish_charged(lua_State *L, int status, lua_KContext result_count)
{
    (void)L;
    (void)status;
    return (int)result_count;
}

static int charge(lua_State *L, struct simlua_process *owner, uint64_t cost_ns, int result_count)
{
    if (cost_ns == 0 || owner->process == NULL)
        return result_count;
    struct sim_engine *engine = owner->world->engine;
    int rc = sim_process_block(owner->process, NULL, sim_engine_now(engine) + cost_ns);
    if (rc < 0 && rc != SIM_EKILLED)
        return luaL_error(L, "%s", sim_engine_error_message(engine));
    return lua_yieldk(L, 0, result_count, finish_charged);
}

static int push_vmci_error(lua_State *L, int64_t code)
{
    lua_pushnil(L);
    lua_pushstring(L, vmci_error_name(code));
    lua_pushinteger(L, (lua_Integer)code);
    return 3;
}

/* ---- vm:device() ---------------------------------------------------------------------- */

static struct vmci_device *check_device(lua_State *L)
{
    struct device_handle *handle = simlua__object_check(L, 1, SIMLUA_TYPE_DEVICE);
    struct vmci_device *device = vmci_hypervisor_device(handle->world->hypervisor, handle->cid);
    if (device == NULL)
        luaL_error(L, "device of CID %d: the VM has no live device", (int)handle->cid);
    return device;
}

static uint32_t check_register(lua_State *L, int index)
{
    if (lua_type(L, index) == LUA_TSTRING) {
        int offset = vmci_register_offset(lua_tostring(L, index));
        if (offset < 0)
            luaL_error(L, "unknown register '%s' (STATUS, CONTROL, ICR, IMR, DATA_OUT, DATA_IN, "
                          "CAPS, RESULT_LOW, RESULT_HIGH, ...)", lua_tostring(L, index));
        return (uint32_t)offset;
    }
    lua_Integer offset = luaL_checkinteger(L, index);
    luaL_argcheck(L, offset >= 0 && offset <= 0xFFFFFFFF, index, "offset must fit 32 bits");
    return (uint32_t)offset;
}

static int device_read(lua_State *L)
{
    struct vmci_device *device = check_device(L);
    lua_pushinteger(L, vmci_device_read(device, check_register(L, 2)));
    return 1;
}

static int device_write(lua_State *L)
{
    struct vmci_device *device = check_device(L);
    uint32_t offset = check_register(L, 2);
    lua_Integer value = luaL_checkinteger(L, 3);
    luaL_argcheck(L, value >= INT32_MIN && value <= 0xFFFFFFFF, 3, "value must fit 32 bits");
    vmci_device_write(device, offset, (uint32_t)value);
    return 0;
}

/* Writes raw bytes as one DATA_OUT transfer and returns RESULT_LOW as a signed value. */
static int device_write_datagram_raw(lua_State *L)
{
    struct vmci_device *device = check_device(L);
    size_t size_bytes = 0;
    const char *bytes = luaL_checklstring(L, 2, &size_bytes);
    vmci_device_write_data_out(device, (const uint8_t *)bytes, size_bytes);
    lua_pushinteger(L, (int32_t)vmci_device_read(device, VMCI_RESULT_LOW_ADDR));
    return 1;
}

static int device_read_data_in(lua_State *L)
{
    struct vmci_device *device = check_device(L);
    lua_Integer size_bytes = luaL_checkinteger(L, 2);
    luaL_argcheck(L, size_bytes >= 0 && size_bytes <= VMCI_DEVICE_TRANSFER_BYTES_MAX, 2,
                  "size must be 0..VMCI_DEVICE_TRANSFER_BYTES_MAX");
    luaL_Buffer buffer;
    uint8_t *target = (uint8_t *)luaL_buffinitsize(L, &buffer, (size_t)size_bytes);
    vmci_device_read_data_in(device, target, (size_t)size_bytes);
    luaL_pushresultsize(&buffer, (size_t)size_bytes);
    return 1;
}

int simlua__device_push(lua_State *L, struct simlua_world *world, uint32_t endpoint_index)
{
    const struct simlua_endpoint *endpoint = &world->endpoints[endpoint_index];
    if (endpoint->is_host || vmci_hypervisor_device(world->hypervisor, endpoint->cid) == NULL) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s has no VMCI device%s", endpoint->name,
                        endpoint->is_host ? " (it is the host)" : " (hw_version < 7, D7)");
        return 2;
    }
    struct device_handle *handle = simlua__object_new(L, sizeof(*handle), SIMLUA_TYPE_DEVICE);
    handle->world = world;
    handle->cid = endpoint->cid;
    return 1;
}

/* ---- p:vmci(): datagram handles -------------------------------------------------------- */

/* Appends the userdata on top of the stack to its endpoint's objects (power-off closes them). */
static void remember_object(lua_State *L, struct simlua_process *owner)
{
    struct simlua_endpoint *endpoint = &owner->world->endpoints[owner->endpoint_index];
    if (endpoint->vmci_objects_ref == LUA_NOREF || endpoint->vmci_objects_ref == 0) {
        lua_newtable(L);
        endpoint->vmci_objects_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    simlua__registry_table(L, endpoint->vmci_objects_ref);
    lua_pushvalue(L, -2);
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    lua_pop(L, 1);
}

struct vmci_object {
    struct simlua_process *owner;   /* borrowed: kept alive by process_ref */
    int process_ref;                /* the process userdata */
};

static struct simlua_process *check_vmci(lua_State *L)
{
    struct vmci_object *object = simlua__object_check(L, 1, SIMLUA_TYPE_VMCI);
    return object->owner;
}

/* A new registry reference to the process userdata of the vmci object at index 1. */
static int process_reference(lua_State *L)
{
    struct vmci_object *object = simlua__object_check(L, 1, SIMLUA_TYPE_VMCI);
    lua_rawgeti(L, LUA_REGISTRYINDEX, object->process_ref);
    return luaL_ref(L, LUA_REGISTRYINDEX);
}

/* Checks that the caller is the owning process's own coroutine (costs make it sleep). */
static struct simlua_process *check_owner_running(lua_State *L, int owner_ref, const char *method)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, owner_ref);
    struct simlua_process *owner = simlua__check_blocking(L, lua_gettop(L), method);
    lua_pop(L, 1);
    return owner;
}

static struct vmci_kernel *owner_kernel(const struct simlua_process *owner)
{
    return owner->world->endpoints[owner->endpoint_index].kernel;
}

static const struct vmci_identity *owner_identity(const struct simlua_process *owner)
{
    return owner->world->endpoints[owner->endpoint_index].is_host ? &owner->identity : NULL;
}

/* A datagram the handle cannot keep: its queue holds the world's vmci_datagram_queue limit
 * (`limit_value`, named in the event so `inspect errors` says what to raise), or 0 when
 * there was no memory for it. */
static void trace_drop(struct datagram *datagram, const struct vmci_datagram_header *header,
                       uint32_t limit_value)
{
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_API, "dg_queue_full", vmci_kernel_cid(datagram->kernel),
                         datagram->owner->pid);
    sim_trace_field_u64(&event, "src_cid", header->src.context);
    sim_trace_field_u64(&event, "src_rid", header->src.resource);
    if (limit_value > 0) {
        sim_trace_field_str(&event, "limit", "vmci_datagram_queue_max");
        sim_trace_field_u64(&event, "value", limit_value);
    }
    (void)sim_engine_emit(datagram->owner->world->engine, &event);
}

static void datagram_receive(void *state, const struct vmci_datagram_header *header,
                             const uint8_t *payload)
{
    struct datagram *datagram = state;
    if (!datagram->open)
        return;
    uint32_t queue_max =
        sim_engine_limits(datagram->owner->world->engine)->vmci_datagram_queue_max;
    assert(queue_max > 0);
    if (datagram->count >= queue_max) {
        trace_drop(datagram, header, queue_max);
        return;
    }
    struct received *item = malloc(sizeof(*item) + header->payload_size);
    if (item == NULL) {
        trace_drop(datagram, header, 0);
        return;
    }
    item->next = NULL;
    item->src_cid = header->src.context;
    item->src_rid = header->src.resource;
    item->size_bytes = header->payload_size;
    memcpy(item->bytes, payload, header->payload_size);
    if (datagram->tail != NULL)
        datagram->tail->next = item;
    else
        datagram->head = item;
    datagram->tail = item;
    datagram->count++;
    sim_waitq_wake_one(&datagram->readers);
}

static int vmci_datagram_create(lua_State *L)
{
    struct simlua_process *owner = check_vmci(L);
    lua_Integer rid = luaL_optinteger(L, 2, VMCI_INVALID_ID);
    luaL_argcheck(L, rid >= 0 && rid <= 0xFFFFFFFF, 2, "resource id must fit 32 bits");
    if (owner->process == NULL)
        return luaL_error(L, "v:datagram: process %s has ended", owner->name);
    struct datagram *datagram = simlua__object_new(L, sizeof(*datagram), SIMLUA_TYPE_DATAGRAM);
    datagram->self_ref = datagram->owner_ref = LUA_NOREF;
    datagram->owner = owner;
    datagram->kernel = owner_kernel(owner);
    sim_waitq_init(&datagram->readers, "dg_recv");
    int rc = vmci_dg_create(datagram->kernel, (uint32_t)rid, VMCI_FLAG_DG_NONE,
                            owner_identity(owner), datagram_receive, datagram, &datagram->handle);
    if (rc < 0)
        return push_vmci_error(L, rc);
    datagram->open = true;
    lua_pushvalue(L, -1);
    datagram->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    datagram->owner_ref = process_reference(L);
    remember_object(L, owner);
    return 1;
}

static struct datagram *check_datagram(lua_State *L, const char *method)
{
    struct datagram *datagram = simlua__object_check(L, 1, SIMLUA_TYPE_DATAGRAM);
    if (!datagram->open)
        luaL_error(L, "%s: the datagram handle is closed", method);
    return datagram;
}

static int datagram_send(lua_State *L)
{
    struct datagram *datagram = check_datagram(L, "dg:send");
    lua_Integer cid = luaL_checkinteger(L, 2);
    lua_Integer rid = luaL_checkinteger(L, 3);
    size_t size_bytes = 0;
    const char *bytes = luaL_checklstring(L, 4, &size_bytes);
    luaL_argcheck(L, cid >= 0 && cid <= 0xFFFFFFFF, 2, "CID must fit 32 bits");
    luaL_argcheck(L, rid >= 0 && rid <= 0xFFFFFFFF, 3, "resource id must fit 32 bits");
    struct simlua_process *owner = check_owner_running(L, datagram->owner_ref, "dg:send");
    struct vmci_datagram_header header = {
        .dst = { (uint32_t)cid, (uint32_t)rid }, .src = datagram->handle,
        .payload_size = size_bytes,
    };
    uint64_t cost_ns = 0;
    int64_t result = vmci_dg_send(datagram->kernel, &header, bytes, &cost_ns);
    int count = result < 0 ? push_vmci_error(L, result) : (lua_pushinteger(L, result), 1);
    return charge(L, owner, cost_ns, count);
}

/* dg:recv([timeout_ns]) -> bytes, src_cid, src_rid; or nil, "ETIMEDOUT", 110. Re-checks
 * the queue after every wake-up (continuation). */
static int datagram_recv_continue(lua_State *L, int status, lua_KContext context)
{
    (void)status;
    struct datagram *datagram = check_datagram(L, "dg:recv");
    struct simlua_process *owner = datagram->owner;
    if (datagram->head != NULL) {
        struct received *item = datagram->head;
        datagram->head = item->next;
        if (datagram->head == NULL)
            datagram->tail = NULL;
        datagram->count--;
        lua_pushlstring(L, (const char *)item->bytes, item->size_bytes);
        lua_pushinteger(L, item->src_cid);
        lua_pushinteger(L, item->src_rid);
        free(item);
        return 3;
    }
    uint64_t deadline_ns = (uint64_t)context;
    if (context != 0 && deadline_ns <= sim_engine_now(owner->world->engine)) {
        lua_pushnil(L);
        lua_pushliteral(L, "ETIMEDOUT");
        lua_pushinteger(L, 110);
        return 3;
    }
    int rc = sim_process_block(owner->process, &datagram->readers,
                               context != 0 ? deadline_ns : SIM_TIME_NEVER);
    if (rc < 0 && rc != SIM_EKILLED)
        return luaL_error(L, "dg:recv: %s", sim_engine_error_message(owner->world->engine));
    return lua_yieldk(L, 0, context, datagram_recv_continue);
}

static int datagram_recv(lua_State *L)
{
    struct datagram *datagram = check_datagram(L, "dg:recv");
    check_owner_running(L, datagram->owner_ref, "dg:recv");
    lua_KContext deadline_ns = 0;           /* 0: no timeout */
    if (!lua_isnoneornil(L, 2)) {
        lua_Integer timeout_ns = luaL_checkinteger(L, 2);
        luaL_argcheck(L, timeout_ns >= 0, 2, "timeout must be >= 0 ns");
        deadline_ns = (lua_KContext)(sim_engine_now(datagram->owner->world->engine) +
                                     (uint64_t)timeout_ns);
        if (deadline_ns == 0)
            deadline_ns = 1;
    }
    lua_settop(L, 1);
    return datagram_recv_continue(L, LUA_OK, deadline_ns);
}

static void datagram_free_queue(struct datagram *datagram)
{
    while (datagram->head != NULL) {
        struct received *item = datagram->head;
        datagram->head = item->next;
        free(item);
    }
    datagram->tail = NULL;
    datagram->count = 0;
}

static int datagram_close(lua_State *L)
{
    struct datagram *datagram = simlua__object_check(L, 1, SIMLUA_TYPE_DATAGRAM);
    if (!datagram->open)
        return 0;
    datagram->open = false;
    int rc = vmci_dg_destroy(datagram->kernel, datagram->handle);
    datagram_free_queue(datagram);
    sim_waitq_wake_all(&datagram->readers);
    luaL_unref(L, LUA_REGISTRYINDEX, datagram->owner_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, datagram->self_ref);
    if (rc < 0)
        return push_vmci_error(L, rc);
    lua_pushboolean(L, 1);
    return 1;
}

/* __gc: memory only. The hypervisor may already be gone (world teardown). */
static int datagram_gc(lua_State *L)
{
    struct simlua_runtime *runtime = simlua__finalizer_begin(L);
    struct datagram *datagram = simlua__object_test(L, 1, SIMLUA_TYPE_DATAGRAM);
    if (datagram != NULL)       /* a foreign value given our __gc: nothing of ours */
        datagram_free_queue(datagram);
    simlua__finalizer_end(runtime);
    return 0;
}

static int datagram_handle(lua_State *L)
{
    struct datagram *datagram = simlua__object_check(L, 1, SIMLUA_TYPE_DATAGRAM);
    lua_pushinteger(L, datagram->handle.context);
    lua_pushinteger(L, datagram->handle.resource);
    return 2;
}

/* ---- p:vmci(): queue pairs -------------------------------------------------------------- */

static struct queue_pair *check_queue_pair(lua_State *L, const char *method)
{
    struct queue_pair *pair = simlua__object_check(L, 1, SIMLUA_TYPE_QUEUE_PAIR);
    if (pair->qpair == NULL)
        luaL_error(L, "%s: the queue pair is detached", method);
    return pair;
}

static uint64_t check_size(lua_State *L, int index)
{
    lua_Integer size_bytes = luaL_checkinteger(L, index);
    luaL_argcheck(L, size_bytes >= 0, index, "size must be >= 0");
    return (uint64_t)size_bytes;
}

static int queue_pair_open(lua_State *L, struct vmci_handle handle, uint64_t produce,
                           uint64_t consume, uint32_t peer, uint32_t flags, const char *method)
{
    struct simlua_process *owner = check_vmci(L);
    int process_ref = process_reference(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, process_ref);
    owner = simlua__check_blocking(L, lua_gettop(L), method);
    lua_pop(L, 1);
    struct queue_pair *pair = simlua__object_new(L, sizeof(*pair), SIMLUA_TYPE_QUEUE_PAIR);
    pair->owner = owner;
    pair->qpair = NULL;
    pair->owner_ref = process_ref;
    uint64_t cost_ns = 0;
    int rc = vmci_qpair_alloc(owner_kernel(owner), &handle, produce, consume, peer, flags,
                              owner_identity(owner), &pair->qpair, &cost_ns);
    if (rc >= 0)
        remember_object(L, owner);
    int count = rc < 0 ? push_vmci_error(L, rc) : 1;
    return charge(L, owner, cost_ns, count);
}

/* v:queue_pair_alloc(peer_cid, produce_size, consume_size [, flags]) */
static int vmci_queue_pair_alloc(lua_State *L)
{
    lua_Integer peer = luaL_checkinteger(L, 2);
    luaL_argcheck(L, peer >= 0 && peer <= 0xFFFFFFFF, 2, "CID must fit 32 bits");
    uint64_t produce = check_size(L, 3);
    uint64_t consume = check_size(L, 4);
    lua_Integer flags = luaL_optinteger(L, 5, 0);
    luaL_argcheck(L, flags >= 0 && flags <= 0xFFFFFFFF, 5, "flags must fit 32 bits");
    return queue_pair_open(L, VMCI_INVALID_HANDLE, produce, consume, (uint32_t)peer,
                           (uint32_t)flags, "v:queue_pair_alloc");
}

/* v:queue_pair_attach(context, resource [, produce_size, consume_size [, flags]]); sizes
 * default to the mirror of the creator's (R94). */
static int vmci_queue_pair_attach(lua_State *L)
{
    struct simlua_process *owner = check_vmci(L);
    lua_Integer context = luaL_checkinteger(L, 2);
    lua_Integer resource = luaL_checkinteger(L, 3);
    luaL_argcheck(L, context >= 0 && context <= 0xFFFFFFFF, 2, "context must fit 32 bits");
    luaL_argcheck(L, resource >= 0 && resource <= 0xFFFFFFFF, 3, "resource must fit 32 bits");
    struct vmci_handle handle = { (uint32_t)context, (uint32_t)resource };
    uint64_t creator_produce = 0;
    uint64_t creator_consume = 0;
    vmci_hypervisor_qp_sizes(owner->world->hypervisor, handle, &creator_produce,
                             &creator_consume);
    uint64_t produce = lua_isnoneornil(L, 4) ? creator_consume : check_size(L, 4);
    uint64_t consume = lua_isnoneornil(L, 5) ? creator_produce : check_size(L, 5);
    lua_Integer flags = luaL_optinteger(L, 6, 0);
    luaL_argcheck(L, flags >= 0 && flags <= 0xFFFFFFFF, 6, "flags must fit 32 bits");
    lua_settop(L, 1);
    return queue_pair_open(L, handle, produce, consume, VMCI_INVALID_ID, (uint32_t)flags,
                           "v:queue_pair_attach");
}

static int queue_pair_enqueue(lua_State *L)
{
    struct queue_pair *pair = check_queue_pair(L, "qp:enqueue");
    size_t size_bytes = 0;
    const char *bytes = luaL_checklstring(L, 2, &size_bytes);
    struct simlua_process *owner = check_owner_running(L, pair->owner_ref, "qp:enqueue");
    uint64_t cost_ns = 0;
    int64_t rc = vmci_qpair_enqueue(pair->qpair, bytes, size_bytes, &cost_ns);
    int count = rc < 0 ? push_vmci_error(L, rc) : (lua_pushinteger(L, rc), 1);
    return charge(L, owner, cost_ns, count);
}

static int queue_pair_read(lua_State *L, bool peek)
{
    const char *method = peek ? "qp:peek" : "qp:dequeue";
    struct queue_pair *pair = check_queue_pair(L, method);
    lua_Integer size_bytes = luaL_checkinteger(L, 2);
    luaL_argcheck(L, size_bytes >= 0 && size_bytes <= SIMLUA_QP_READ_BYTES_MAX, 2,
                  "size must be 0..SIMLUA_QP_READ_BYTES_MAX");
    struct simlua_process *owner = check_owner_running(L, pair->owner_ref, method);
    uint64_t cost_ns = 0;
    /* The string is made from the ring itself: one copy of each byte (socket.c). */
    struct vmci_ring_bytes bytes;
    int64_t rc = vmci_qpair_consume_in_place(pair->qpair, (uint64_t)size_bytes, peek, &bytes,
                                             &cost_ns);
    if (rc < 0)
        return push_vmci_error(L, rc);
    simlua__push_pieces(L, bytes.first, bytes.first_bytes, bytes.second, bytes.second_bytes);
    return charge(L, owner, cost_ns, 1);
}

static int queue_pair_dequeue(lua_State *L) { return queue_pair_read(L, false); }
static int queue_pair_peek(lua_State *L) { return queue_pair_read(L, true); }

static int push_count(lua_State *L, int64_t value)
{
    if (value < 0)
        return push_vmci_error(L, value);
    lua_pushinteger(L, value);
    return 1;
}

/* D20: once the guest's side of its pair is gone the host's side has no headers to read, so
 * both queries answer 0, as Linux's vmci_qpair_consume_buf_ready / _produce_free_space do
 * when qp_get_queue_headers fails (no mapped and, after a detach, no saved headers): the
 * counts agree with the enqueue and dequeue that fail (docs/queue-pairs.md). */
static int queue_pair_ready(lua_State *L)
{
    const struct vmci_qpair *qpair = check_queue_pair(L, "qp:ready")->qpair;
    return push_count(L, vmci_qpair_memory_gone(qpair) ? 0 : vmci_qpair_consume_buf_ready(qpair));
}

static int queue_pair_free_space(lua_State *L)
{
    const struct vmci_qpair *qpair = check_queue_pair(L, "qp:free_space")->qpair;
    return push_count(L, vmci_qpair_memory_gone(qpair) ? 0 : vmci_qpair_produce_free_space(qpair));
}

static int queue_pair_detach(lua_State *L)
{
    struct queue_pair *pair = check_queue_pair(L, "qp:detach");
    struct simlua_process *owner = check_owner_running(L, pair->owner_ref, "qp:detach");
    uint64_t cost_ns = 0;
    int rc = vmci_qpair_detach(pair->qpair, &cost_ns);
    pair->qpair = NULL;
    luaL_unref(L, LUA_REGISTRYINDEX, pair->owner_ref);
    pair->owner_ref = LUA_NOREF;
    int count = rc < 0 ? push_vmci_error(L, rc) : (lua_pushboolean(L, 1), 1);
    return charge(L, owner, cost_ns, count);
}

/* __gc: memory only (a pair never detached, freed at teardown). The hypervisor may
 * already be gone, so this never reaches the broker; its own memory reference is all. */
static int queue_pair_gc(lua_State *L)
{
    struct simlua_runtime *runtime = simlua__finalizer_begin(L);
    struct queue_pair *pair = simlua__object_test(L, 1, SIMLUA_TYPE_QUEUE_PAIR);
    if (pair != NULL && pair->qpair != NULL) {  /* else foreign value, or detached already */
        vmci_qpair_release(pair->qpair);
        pair->qpair = NULL;
    }
    simlua__finalizer_end(runtime);
    return 0;
}

static int queue_pair_handle(lua_State *L)
{
    struct vmci_handle handle = vmci_qpair_handle(check_queue_pair(L, "qp:handle")->qpair);
    lua_pushinteger(L, handle.context);
    lua_pushinteger(L, handle.resource);
    return 2;
}

/* ---- p:vmci() and the metatables ---------------------------------------------------------- */

static int vmci_local_cid(lua_State *L)
{
    lua_pushinteger(L, vmci_kernel_cid(owner_kernel(check_vmci(L))));
    return 1;
}

void simlua__vmci_objects_close(lua_State *L, struct simlua_endpoint *endpoint)
{
    if (endpoint->vmci_objects_ref == LUA_NOREF || endpoint->vmci_objects_ref == 0)
        return;
    simlua__registry_table(L, endpoint->vmci_objects_ref);
    lua_Integer count = (lua_Integer)lua_rawlen(L, -1);
    for (lua_Integer position = 1; position <= count; position++) {
        lua_rawgeti(L, -1, position);
        struct datagram *datagram = simlua__object_test(L, -1, SIMLUA_TYPE_DATAGRAM);
        struct queue_pair *pair = simlua__object_test(L, -1, SIMLUA_TYPE_QUEUE_PAIR);
        if (datagram != NULL && datagram->open) {
            lua_pushcfunction(L, datagram_close);
            lua_pushvalue(L, -2);
            lua_call(L, 1, 0);
        } else if (pair != NULL && pair->qpair != NULL) {
            vmci_qpair_detach(pair->qpair, NULL);
            pair->qpair = NULL;
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    luaL_unref(L, LUA_REGISTRYINDEX, endpoint->vmci_objects_ref);
    endpoint->vmci_objects_ref = LUA_NOREF;
}

int simlua__vmci_push(lua_State *L, int process_index)
{
    struct simlua_process *owner = simlua__object_check(L, process_index, SIMLUA_TYPE_PROCESS);
    struct vmci_object *object = simlua__object_new(L, sizeof(*object), SIMLUA_TYPE_VMCI);
    object->owner = owner;
    object->process_ref = LUA_NOREF;
    lua_pushvalue(L, process_index);
    object->process_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 1;
}

static int vmci_object_gc(lua_State *L)
{
    struct vmci_object *object = simlua__object_test(L, 1, SIMLUA_TYPE_VMCI);
    if (object == NULL)         /* a foreign value given our __gc: nothing of ours */
        return 0;
    luaL_unref(L, LUA_REGISTRYINDEX, object->process_ref);
    object->process_ref = LUA_NOREF;
    return 0;
}

static void register_type(lua_State *L, enum simlua_type type, const luaL_Reg *methods,
                          lua_CFunction gc)
{
    simlua__metatable_new(L, type);
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    if (gc != NULL) {
        lua_pushcfunction(L, gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
}

void simlua__vmci_register(lua_State *L)
{
    static const luaL_Reg device_methods[] = {
        { "read", device_read }, { "write", device_write },
        { "write_datagram_raw", device_write_datagram_raw },
        { "read_data_in", device_read_data_in }, { NULL, NULL },
    };
    static const luaL_Reg vmci_methods[] = {
        { "datagram", vmci_datagram_create }, { "queue_pair_alloc", vmci_queue_pair_alloc },
        { "queue_pair_attach", vmci_queue_pair_attach }, { "local_cid", vmci_local_cid },
        { NULL, NULL },
    };
    static const luaL_Reg datagram_methods[] = {
        { "send", datagram_send }, { "recv", datagram_recv }, { "close", datagram_close },
        { "handle", datagram_handle }, { NULL, NULL },
    };
    static const luaL_Reg queue_pair_methods[] = {
        { "enqueue", queue_pair_enqueue }, { "dequeue", queue_pair_dequeue },
        { "peek", queue_pair_peek }, { "ready", queue_pair_ready },
        { "free_space", queue_pair_free_space }, { "detach", queue_pair_detach },
        { "handle", queue_pair_handle }, { NULL, NULL },
    };
    register_type(L, SIMLUA_TYPE_DEVICE, device_methods, NULL);
    register_type(L, SIMLUA_TYPE_VMCI, vmci_methods, vmci_object_gc);
    register_type(L, SIMLUA_TYPE_DATAGRAM, datagram_methods, datagram_gc);
    register_type(L, SIMLUA_TYPE_QUEUE_PAIR, queue_pair_methods, queue_pair_gc);
}
