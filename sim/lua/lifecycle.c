/* SPDX-License-Identifier: MIT */
/*
 * sim/lua/lifecycle.c: vm:suspend(), vm:resume(), vm:vmotion(), vm:ft(on), vm:freeze(),
 * vm:thaw() (scenario-api.md, "Host and VM endpoints"; reference section 10).
 *
 * A VM's guest (its processes, its kernel's timers, its interrupt handler) runs in its
 * own engine domain (engine.h, "Domains"; the domain is the endpoint's index). Suspend
 * and freeze stop that domain; the hypervisor part of suspend/resume is in
 * vmci/lifecycle.c. What the guest sees:
 *   suspend (R205)  nothing runs in the guest; the hypervisor detaches the VM's queue
 *                   pairs (host peers: EOF, then EPIPE), removes its context (the host
 *                   gets CTX_REMOVED) and drops datagrams queued for it;
 *   resume (R206)   the context comes back (CID of vmci0.id, or the next free one,
 *                   written back); the guest gets CTX_ID_UPDATE if the CID changed, then
 *                   QP_RESUMED, and its established streams end as after a peer detach;
 *                   the guest runs again only once it has taken that interrupt (its
 *                   domain is thawed behind it), then catches up on what came due;
 *   vmotion (R207)  suspend and resume at the same instant (one host: the CID is kept);
 *   ft (R208)       ft(true) drops the VM's connections as vmotion does, then the
 *                   hypervisor refuses every datagram and queue pair between the VM and
 *                   anyone but the hypervisor (EPERM at the socket); ft(false) lifts it;
 *   (vmotion and ft exist only under ESX/ESXi products, R195: elsewhere a Lua error)
 *   freeze / thaw   the guest stops running but its VMCI device stays: datagrams queue
 *                   up (R58 bounds them), peers see no detach; thaw catches up. Not in
 *                   the reference: a stalled guest (a debugger, a long GC, a host under
 *                   memory pressure), for testing what peers do meanwhile.
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "lua_int.h"
#include "sim/engine/process.h"
#include "vmci/device.h"
#include "vmci/hypervisor.h"

static uint32_t domain_of(const struct simlua_world *world, const struct simlua_endpoint *endpoint)
{
    uint32_t index = (uint32_t)(endpoint - world->endpoints);
    assert(index > 0 && index < world->endpoint_count);
    return index;
}

const char *simlua__vm_state(const struct simlua_endpoint *endpoint)
{
    if (endpoint->powered_off)
        return "powered_off";
    if (endpoint->suspended)
        return "suspended";
    return endpoint->frozen ? "frozen" : "powered_on";
}

/* The VM must be running: powered on, its driver loaded, not suspended or frozen. */
static struct simlua_endpoint *check_running(lua_State *L, struct simlua_world **world,
                                             const char *method)
{
    struct simlua_endpoint *endpoint = simlua__check_vm(L, world, method);
    if (endpoint->powered_off || endpoint->suspended || endpoint->frozen)
        luaL_error(L, "%s: %s is %s", method, endpoint->name, simlua__vm_state(endpoint));
    if (endpoint->kernel != NULL && vmci_kernel_has_device(endpoint->kernel) &&
        !vmci_kernel_ready(endpoint->kernel))
        luaL_error(L, "%s: %s is still powering on (its VMCI driver is loading)", method,
                   endpoint->name);
    return endpoint;
}

/* R195, R207, R208: vMotion and fault tolerance exist only in ESX/ESXi products; under any
 * other profile the call is a scenario error naming the product. */
static void check_esx(lua_State *L, const struct simlua_world *world, const char *method,
                      const char *feature)
{
    const struct vmci_profile *profile = vmci_hypervisor_profile(world->hypervisor);
    if (!profile->esx)
        luaL_error(L, "%s: %s has no %s (only ESX/ESXi products have it)", method, profile->id,
                   feature);
}

static void suspend_now(lua_State *L, struct simlua_world *world,
                        struct simlua_endpoint *endpoint, const char *method)
{
    int rc = sim_engine_domain_freeze(world->engine, domain_of(world, endpoint));
    assert(rc == SIM_OK);
    (void)rc;
    int vmci_rc = vmci_hypervisor_vm_suspend(world->hypervisor, endpoint->cid);
    if (vmci_rc < 0) {
        (void)sim_engine_domain_thaw(world->engine, domain_of(world, endpoint));
        luaL_error(L, "%s: %s", method, vmci_error_name(vmci_rc));
    }
    endpoint->suspended = true;
}

/* The VM's processes are traced under its CID: follow a change (R206, R8). */
static void processes_follow_cid(struct simlua_world *world, uint32_t index, uint32_t cid)
{
    uint32_t live = sim_engine_processes_live(world->engine);
    struct sim_process *process = sim_engine_processes_first(world->engine);
    for (uint32_t visited = 0; process != NULL && visited < live; visited++) {
        struct simlua_process *owner = simlua__process_of(process);
        if (owner != NULL && owner->endpoint_index == index)
            process->ctx = cid;
        process = process->live_next;
    }
    simlua__programs_follow_cid(world, index, cid);
}

static void resume_now(lua_State *L, struct simlua_world *world,
                       struct simlua_endpoint *endpoint, const char *method)
{
    uint32_t cid = 0;
    int rc = vmci_hypervisor_vm_resume(world->hypervisor, endpoint->cid, &cid);
    if (rc < 0)
        luaL_error(L, "%s: %s", method, vmci_error_name(rc));
    endpoint->cid = cid;
    endpoint->suspended = false;
    processes_follow_cid(world, domain_of(world, endpoint), cid);
    simlua__registry_table(L, endpoint->vmx_ref);     /* a table even if replaced */
    char cid_text[16];
    snprintf(cid_text, sizeof(cid_text), "%u", cid);
    lua_pushstring(L, cid_text);                    /* R8: the CID in use is written back */
    lua_setfield(L, -2, "vmci0.id");
    lua_pop(L, 1);
    /* The guest comes back by taking the interrupt the resume raised (CTX_ID_UPDATE,
     * QP_RESUMED): the domain is thawed behind it, so none of the guest's events runs
     * before it, not even a timer due meanwhile, and no guest code sees the old CID or
     * the queue pairs that are gone (R206, R210). A guest that masked its interrupts
     * has none pending: it runs again interrupt_ns after the resume. */
    uint32_t domain = domain_of(world, endpoint);
    struct vmci_device *device = vmci_hypervisor_device(world->hypervisor, cid);
    sim_event_id interrupt = device != NULL ? vmci_device_interrupt_event(device)
                                            : SIM_EVENT_NONE;
    if (interrupt != SIM_EVENT_NONE &&
        sim_engine_domain_thaw_after(world->engine, domain, interrupt) == SIM_OK)
        return;
    uint64_t back_ns = sim_engine_now(world->engine) +
                       vmci_hypervisor_cost(world->hypervisor)->interrupt_ns;
    if (sim_engine_domain_thaw_at(world->engine, domain, back_ns) < 0)
        (void)sim_engine_domain_thaw(world->engine, domain);    /* never left frozen */
}

static int vm_suspend(lua_State *L)
{
    struct simlua_world *world = NULL;
    struct simlua_endpoint *endpoint = check_running(L, &world, "vm:suspend");
    suspend_now(L, world, endpoint, "vm:suspend");
    simlua__trace_lifecycle(world, endpoint, "vm_suspend");
    return 0;
}

static int vm_resume(lua_State *L)
{
    struct simlua_world *world = NULL;
    struct simlua_endpoint *endpoint = simlua__check_vm(L, &world, "vm:resume");
    if (!endpoint->suspended)
        return luaL_error(L, "vm:resume: %s is %s, not suspended", endpoint->name,
                          simlua__vm_state(endpoint));
    resume_now(L, world, endpoint, "vm:resume");
    simlua__trace_lifecycle(world, endpoint, "vm_resume");
    return 0;
}

static int vm_vmotion(lua_State *L)
{
    struct simlua_world *world = NULL;
    (void)simlua__check_vm(L, &world, "vm:vmotion");
    check_esx(L, world, "vm:vmotion", "vMotion");                               /* R195 */
    struct simlua_endpoint *endpoint = check_running(L, &world, "vm:vmotion");
    suspend_now(L, world, endpoint, "vm:vmotion");
    resume_now(L, world, endpoint, "vm:vmotion");
    simlua__trace_lifecycle(world, endpoint, "vm_vmotion");
    return 0;
}

static int vm_ft(lua_State *L)
{
    struct simlua_world *world = NULL;
    luaL_checktype(L, 2, LUA_TBOOLEAN);
    bool on = lua_toboolean(L, 2);
    (void)simlua__check_vm(L, &world, "vm:ft");
    check_esx(L, world, "vm:ft", "fault tolerance");                            /* R195 */
    struct simlua_endpoint *endpoint = on ? check_running(L, &world, "vm:ft")
                                          : simlua__check_vm(L, &world, "vm:ft");
    if (endpoint->ft_mode == on)
        return luaL_error(L, "vm:ft: %s is %s fault-tolerance mode already", endpoint->name,
                          on ? "in" : "not in");
    if (endpoint->powered_off)
        return luaL_error(L, "vm:ft: %s is powered off", endpoint->name);
    if (on) {                                       /* R208: connections dropped first */
        suspend_now(L, world, endpoint, "vm:ft");
        resume_now(L, world, endpoint, "vm:ft");
    }
    int rc = vmci_hypervisor_vm_set_ft(world->hypervisor, endpoint->cid, on);
    if (rc < 0)
        return luaL_error(L, "vm:ft: %s", vmci_error_name(rc));
    endpoint->ft_mode = on;
    simlua__trace_lifecycle(world, endpoint, on ? "vm_ft_on" : "vm_ft_off");
    return 0;
}

static int vm_freeze(lua_State *L)
{
    struct simlua_world *world = NULL;
    struct simlua_endpoint *endpoint = check_running(L, &world, "vm:freeze");
    int rc = sim_engine_domain_freeze(world->engine, domain_of(world, endpoint));
    assert(rc == SIM_OK);
    (void)rc;
    endpoint->frozen = true;
    simlua__trace_lifecycle(world, endpoint, "vm_freeze");
    return 0;
}

static int vm_thaw(lua_State *L)
{
    struct simlua_world *world = NULL;
    struct simlua_endpoint *endpoint = simlua__check_vm(L, &world, "vm:thaw");
    if (!endpoint->frozen)
        return luaL_error(L, "vm:thaw: %s is %s, not frozen", endpoint->name,
                          simlua__vm_state(endpoint));
    endpoint->frozen = false;
    (void)sim_engine_domain_thaw(world->engine, domain_of(world, endpoint));
    simlua__trace_lifecycle(world, endpoint, "vm_thaw");
    return 0;
}

void simlua__lifecycle_methods(lua_State *L)
{
    static const luaL_Reg methods[] = {
        { "suspend", vm_suspend }, { "resume", vm_resume }, { "vmotion", vm_vmotion },
        { "ft", vm_ft }, { "freeze", vm_freeze }, { "thaw", vm_thaw }, { NULL, NULL },
    };
    luaL_setfuncs(L, methods, 0);
}
