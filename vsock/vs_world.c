/* SPDX-License-Identifier: MIT */
/*
 * vsock/vs_world.c: worlds for C code and C tests (vs_world.h).
 *
 * Creation: engine (sinks attached first), hypervisor with the profile, the host
 * stack, the VMs powered on, the engine run until every guest driver with a device
 * has loaded (D4), then one stack per guest. Destruction goes the other way:
 * stacks (memory only: the hypervisor frees their queue pairs and handles), then
 * the hypervisor, then the engine.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vs_world.h"

static void say(char *message, size_t message_bytes, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static void say(char *message, size_t message_bytes, const char *format, ...)
{
    if (message == NULL || message_bytes == 0)
        return;
    va_list args;
    va_start(args, format);
    vsnprintf(message, message_bytes, format, args);
    va_end(args);
}

/* Starts a kernel's stack (D13) with the VMCI transports. Returns a VMCI code. */
static int kernel_start(struct vs_world *world, struct vs_kernel *kernel)
{
    assert(!kernel->started);
    bool host = vmci_kernel_is_host(kernel->kernel);
    const struct vsock_transport_ops *stream_ops =
        host && !world->profile.host_stream_sockets ? NULL : &vsock_vmci_stream_ops;
    vsock_stack_init(&kernel->stack, world->engine, stream_ops, &vsock_vmci_dgram_ops,
                     &kernel->transport, host, &world->socket_count,
                     sim_engine_limits(world->engine)->sockets_max);
    kernel->stack.poll_waitq = &world->poll_waitq;
    int rc = vsock_vmci_start(&kernel->transport, kernel->kernel, &kernel->stack);
    kernel->started = true;                     /* the stack exists either way: destroy it */
    return rc;
}

static bool bringup_done(const struct vs_world *world)
{
    for (uint32_t index = 0; index < world->vm_count; index++) {
        const struct vmci_kernel *kernel = world->vms[index].kernel;
        if (vmci_kernel_has_device(kernel) && !vmci_kernel_ready(kernel))
            return false;
    }
    return true;
}

/* Powers the VMs on and runs the engine until their drivers have loaded (D4). */
static int vms_power_on(struct vs_world *world, const struct vs_world_config *config,
                        char *message, size_t message_bytes)
{
    for (uint32_t index = 0; index < world->vm_count; index++) {
        char name[32];
        snprintf(name, sizeof(name), "vm%u", index + 1);
        struct vmci_vm_config vm = {
            .name = name, .requested_cid = VMCI_INVALID_ID,
            .hw_version = VS_WORLD_HW_VERSION_DEFAULT, .domain = "", .owner = "user",
        };
        if (config->vms != NULL)
            vm = config->vms[index];
        int rc = vmci_hypervisor_vm_power_on(world->hypervisor, &vm, &world->vms[index].kernel);
        if (rc < 0) {
            say(message, message_bytes, "power-on of %s failed (%d): %s", vm.name, rc,
                sim_engine_error_message(world->engine));
            return rc;
        }
        world->vms[index].cid = vmci_kernel_cid(world->vms[index].kernel);
    }
    for (uint32_t events = 0; events < VS_WORLD_BRINGUP_EVENTS_MAX && !bringup_done(world);
         events++) {
        struct sim_run_result result;
        sim_engine_run(world->engine, SIM_TIME_NEVER, 1, &result);
        if (result.stopped != SIM_STOP_MAX_EVENTS)
            break;
    }
    if (!bringup_done(world)) {
        say(message, message_bytes, "a guest driver did not load within %u events",
            VS_WORLD_BRINGUP_EVENTS_MAX);
        return SIM_ESTATE;
    }
    return 0;
}

static int world_build(struct vs_world *world, const struct vs_world_config *config,
                       char *message, size_t message_bytes)
{
    for (uint32_t index = 0; index < config->sink_count; index++) {
        if (sim_engine_sink_attach(world->engine, config->sinks[index]) < 0) {
            say(message, message_bytes, "%s", sim_engine_error_message(world->engine));
            return SIM_ELIMIT;
        }
    }
    char profile_message[128] = "";
    const char *product = config->product != NULL ? config->product : "esxi-6.5";
    if (vmci_profile_lookup(product, config->host_os, &world->profile, profile_message,
                            sizeof(profile_message)) < 0) {
        say(message, message_bytes, "%s", profile_message);
        return SIM_EINVAL;
    }
    struct vmci_cost cost = config->cost != NULL ? *config->cost : vmci_cost_default();
    world->hypervisor = vmci_hypervisor_create(world->engine, &world->profile, &cost);
    if (world->hypervisor == NULL) {
        say(message, message_bytes, "out of memory creating the hypervisor");
        return SIM_ENOMEM;
    }
    world->host.kernel = vmci_hypervisor_host(world->hypervisor);
    world->host.cid = vmci_kernel_cid(world->host.kernel);
    int rc = kernel_start(world, &world->host);
    if (rc < 0) {
        say(message, message_bytes, "the host's vSockets stack did not start (%d)", rc);
        return rc;
    }
    rc = vms_power_on(world, config, message, message_bytes);
    for (uint32_t index = 0; rc == 0 && index < world->vm_count; index++) {
        if (!vmci_kernel_ready(world->vms[index].kernel))
            continue;                           /* no device (D7): no vSockets (R26) */
        rc = kernel_start(world, &world->vms[index]);
        if (rc < 0)
            say(message, message_bytes, "the vSockets stack of CID %u did not start (%d)",
                world->vms[index].cid, rc);
    }
    return rc;
}

struct vs_world *vs_world_create(const struct vs_world_config *config, char *message,
                                 size_t message_bytes)
{
    assert(config != NULL);
    assert(config->sinks != NULL || config->sink_count == 0);
    if (config->vm_count > VS_WORLD_VMS_MAX) {
        say(message, message_bytes, "%u VMs: VS_WORLD_VMS_MAX is %u", config->vm_count,
            VS_WORLD_VMS_MAX);
        return NULL;
    }
    struct vs_world *world = calloc(1, sizeof(*world));
    struct vs_kernel *vms = calloc(config->vm_count > 0 ? config->vm_count : 1, sizeof(*vms));
    struct sim_limits limits = config->limits != NULL ? *config->limits : sim_limits_default();
    struct sim_engine *engine = world != NULL && vms != NULL
                                    ? sim_engine_create(&limits, config->seed) : NULL;
    if (engine == NULL) {
        say(message, message_bytes, "out of memory creating the world");
        free(vms);
        free(world);
        return NULL;
    }
    world->engine = engine;
    world->vms = vms;
    world->vm_count = config->vm_count;
    sim_waitq_init(&world->poll_waitq, "poll");
    if (world_build(world, config, message, message_bytes) < 0) {
        vs_world_destroy(world);
        return NULL;
    }
    return world;
}

void vs_world_destroy(struct vs_world *world)
{
    if (world == NULL)
        return;
    for (uint32_t index = 0; index < world->vm_count; index++) {
        if (world->vms[index].started)
            vsock_stack_destroy(&world->vms[index].stack);
    }
    if (world->host.started)
        vsock_stack_destroy(&world->host.stack);
    assert(world->socket_count == 0);
    vmci_hypervisor_destroy(world->hypervisor);
    sim_engine_destroy(world->engine);
    free(world->vms);
    free(world);
}

struct vs_kernel *vs_world_kernel(struct vs_world *world, uint32_t cid)
{
    assert(world != NULL);
    if (cid == world->host.cid)
        return &world->host;
    for (uint32_t index = 0; index < world->vm_count; index++) {
        if (world->vms[index].cid == cid)
            return &world->vms[index];
    }
    return NULL;
}

struct vsock_credentials vs_world_credentials(const struct vs_world *world,
                                              const struct vs_kernel *kernel)
{
    struct vsock_credentials credentials;
    memset(&credentials, 0, sizeof(credentials));
    snprintf(credentials.user, sizeof(credentials.user), "user");               /* D14 */
    if (kernel == &world->host)
        vmci_profile_host_identity(&world->profile, true, false, false, &credentials.trusted,
                                   &credentials.owner_rule);                    /* D1 */
    return credentials;
}

int vs_world_context_init(struct vs_world *world, struct vs_context *context, uint32_t cid)
{
    struct vs_kernel *kernel = vs_world_kernel(world, cid);
    if (kernel == NULL)
        return -1;
    struct vsock_credentials credentials = vs_world_credentials(world, kernel);
    vs_context_init(context, world->engine, kernel->started ? &kernel->stack : NULL,
                    &credentials);
    return 0;
}

enum sim_stop vs_world_run(struct vs_world *world, uint64_t until_ns)
{
    struct sim_run_result result;
    sim_engine_run(world->engine, until_ns, 0, &result);
    return result.stopped;
}
