/* SPDX-License-Identifier: MIT */
/*
 * vsock/vs_world.h: a whole world for C code and C tests, without Lua: an engine,
 * a hypervisor with a product profile, the host and N powered-on VMs whose guest
 * drivers have loaded (D4), and one vSockets stack per kernel (D13) with the VMCI
 * transports started. Processes are vs_context's (vmci_sockets.h) on fibers.
 *
 * This is the one file of vsock/ that builds VMCI worlds (it includes
 * vmci/hypervisor.h through vmci/vmci.h, as sim/lua does); the socket code itself
 * never touches the hypervisor.
 *
 * Teardown order: every vs_context of the world, then vs_world_destroy (stacks,
 * then the hypervisor, then the engine).
 */
#ifndef VSOCK_VS_WORLD_H
#define VSOCK_VS_WORLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"
#include "sim/engine/engine.h"
#include "vmci/vmci.h"
#include "vmci_sockets.h"
#include "vmci_transport.h"

#define VS_WORLD_VMS_MAX 256u                   /* fixture worlds; vms_max applies as well */
#define VS_WORLD_BRINGUP_EVENTS_MAX 1000000u    /* bounds the drivers' bring-up run */
#define VS_WORLD_HW_VERSION_DEFAULT 13u         /* >= 7: every VM has a device (D7) */
#define VS_WORLD_MESSAGE_BYTES_MAX 256u

/* One simulated kernel and its vSockets stack. */
struct vs_kernel {
    struct vmci_kernel *kernel;         /* borrowed: owned by the hypervisor */
    uint32_t cid;                       /* at creation (R8); vs_local_cid follows changes */
    bool started;                       /* the stack exists (a driver loaded, R203) */
    struct vsock_stack stack;
    struct vsock_vmci transport;
};

struct vs_world_config {
    const char *product;                /* NULL: "esxi-6.5" (D2) */
    const char *host_os;                /* NULL: the product's default */
    uint64_t seed;
    const struct sim_limits *limits;    /* NULL: sim_limits_default() */
    const struct vmci_cost *cost;       /* NULL: vmci_cost_default() */
    uint32_t vm_count;
    /* vm_count entries, or NULL: "vm1" ... with generated CIDs (D15), hw 13, restricted. */
    const struct vmci_vm_config *vms;
    /* Attached before anything happens, so they see the whole run (e.g. a digest). */
    const struct sim_trace_sink *sinks;
    uint32_t sink_count;
};

struct vs_world {
    struct sim_engine *engine;          /* owned */
    struct vmci_hypervisor *hypervisor; /* owned */
    struct vmci_profile profile;
    struct vs_kernel host;
    struct vs_kernel *vms;              /* vm_count, owned */
    uint32_t vm_count;
    uint32_t socket_count;              /* every stack's sockets (sockets_max) */
    struct sim_waitq poll_waitq;        /* every stack's: vs_poll on several sockets */
};

/* Ownership: returns a new world owned by the caller; free with vs_world_destroy(). On
 * failure returns NULL with the reason in `message` (may be NULL). */
struct vs_world *vs_world_create(const struct vs_world_config *config, char *message,
                                 size_t message_bytes);
void vs_world_destroy(struct vs_world *world);

/* The kernel with CID `cid` (2: the host), or NULL. */
struct vs_kernel *vs_world_kernel(struct vs_world *world, uint32_t cid);
/* The default credentials of a process in `kernel` (D14: user "user", no capabilities;
 * host processes get D1's trust under the world's profile). */
struct vsock_credentials vs_world_credentials(const struct vs_world *world,
                                              const struct vs_kernel *kernel);
/* vs_context_init for a process in the kernel with CID `cid`, with the default
 * credentials. Returns 0, or -1 when there is no such kernel. */
int vs_world_context_init(struct vs_world *world, struct vs_context *context, uint32_t cid);
/* Runs events until nothing is left or simulated time passes until_ns. */
enum sim_stop vs_world_run(struct vs_world *world, uint64_t until_ns);

#endif /* VSOCK_VS_WORLD_H */
