/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/vmci_routing_test.c: the VMCI datagram router, end to end through the
 * driver API and the raw device (reference 4.1-4.4, R23, R37, R48-R62, R73-R75,
 * section 9 R195-R202, decisions D1, D2, D5, D8, D10; docs/vmci-routing.md).
 *
 * The expected results are a table written by hand from the reference text, one row
 * per (product, host_os) of D2, never from vmci/route.c. Each matrix test builds one
 * world per row (engine, hypervisor with the row's profile, six VMs with fixed CIDs,
 * host handles made with the default identity and with an untrusted one, one handle
 * per guest), sends one datagram per case and compares vmci_dg_send's result with the
 * row: the datagram size on success (R39), else the VMCI error. Every accepted
 * datagram must then be delivered exactly once (run to idle), and every world ends
 * with vmci_hypervisor_check. A mismatch prints the row, the case, both results.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "sim/engine/engine.h"
#include "suites.h"
#include "test_support.h"
#include "vmci/device.h"
#include "vmci/vmci.h"

#define HOST_RID_DEFAULT 5000u      /* host handle, default identity (D1) */
#define HOST_RID_UNTRUSTED 5001u    /* host handle, trusted = false, owner_rule = false */
#define GUEST_RID 6000u             /* one handle in every guest */
#define PAYLOAD_BYTES 8u            /* matrix datagrams: 32 bytes in all */
#define WORLD_VMS_MAX 6u
#define RECEIVER_TAGS_MAX 64u
#define LABEL_BYTES 48u

/* ---- The expected-results table (docs/vmci-routing.md) ------------------------------ */

/* OK: accepted, the result is the datagram size (R39); NA: VMCI_ERROR_NO_ACCESS (-7);
 * DU: VMCI_ERROR_DST_UNREACHABLE (-10). */
enum expect { OK, NA, DU };

enum route_case {
    G2H_DEF_RES,    /* (1) restricted VM -> host handle of a default (D1) host process */
    G2H_DEF_UNR,    /* (1) VM with vmci0.unrestricted = TRUE -> the same handle */
    G2H_UNT_RES,    /* (2) restricted VM -> untrusted host handle */
    G2H_UNT_UNR,    /* (2) unrestricted VM -> untrusted host handle */
    H2G_DEF_RES,    /* (3) default host handle -> restricted VM */
    H2G_DEF_UNR,    /* (3) default host handle -> unrestricted VM */
    H2G_UNT_RES,    /* (3) untrusted host handle -> restricted VM */
    H2G_UNT_UNR,    /* (3) untrusted host handle -> unrestricted VM */
    G2G_UNR_UNR,    /* (4) unrestricted <-> unrestricted, same domain "" */
    G2G_RES_UNR,    /* (4) restricted <-> unrestricted */
    G2G_DOMAINS,    /* (4) unrestricted "" <-> unrestricted "blue" */
    DOMAIN_HOST,    /* (6) unrestricted VM of domain "blue" <-> default host handle */
    ROUTE_CASES,
};

static const char *const case_names[ROUTE_CASES] = {
    "R51 guest(restricted)->host(default identity)",
    "R196 guest(unrestricted)->host(default identity)",
    "R51 guest(restricted)->host(untrusted)",
    "R196 guest(unrestricted)->host(untrusted)",
    "R51 host(default identity)->guest(restricted)",
    "R196 host(default identity)->guest(unrestricted)",
    "R51 host(untrusted)->guest(restricted)",
    "R196 host(untrusted)->guest(unrestricted)",
    "R197 guest(unrestricted)<->guest(unrestricted)",
    "R197 guest(restricted)<->guest(unrestricted)",
    "R197/D5 guest(unrestricted, \"\")<->guest(unrestricted, \"blue\")",
    "D5 guest(unrestricted, \"blue\")<->host(default identity)",
};

struct matrix_row {
    const char *product;
    const char *host_os;
    bool trusted;           /* D1/R50: a default host process is trusted for every VM */
    bool unrestricted;      /* R196: vmci0.unrestricted honoured */
    bool domains;           /* R198/D5: vmci0.domain honoured */
    enum expect expect[ROUTE_CASES];
};

/*                                        g2h: def      untrusted  h2g: def      untrusted
 *                                             res unr  res unr         res unr  res unr
 *                                        g2g: unr-unr res-unr domains   domain<->host */
static const struct matrix_row matrix[] = {
    { "esxi-4.0", "esx", true, true, true,
      { OK, OK, NA, OK, OK, OK, NA, OK, OK, NA, NA, NA } },
    { "esxi-4.1", "esx", true, true, true,
      { OK, OK, NA, OK, OK, OK, NA, OK, OK, NA, NA, NA } },
    { "esxi-5.0", "esx", true, true, true,
      { OK, OK, NA, OK, OK, OK, NA, OK, OK, NA, NA, NA } },
    { "esxi-5.1", "esx", true, false, false,
      { OK, OK, NA, NA, OK, OK, NA, NA, NA, NA, NA, OK } },
    { "esxi-5.5", "esx", true, false, false,
      { OK, OK, NA, NA, OK, OK, NA, NA, NA, NA, NA, OK } },
    { "esxi-6.0", "esx", true, false, false,
      { OK, OK, NA, NA, OK, OK, NA, NA, NA, NA, NA, OK } },
    { "esxi-6.5", "esx", true, false, false,
      { OK, OK, NA, NA, OK, OK, NA, NA, NA, NA, NA, OK } },
    { "workstation-6.5", "linux", true, true, false,
      { OK, OK, NA, OK, OK, OK, NA, OK, OK, NA, OK, OK } },
    { "workstation-6.5", "windows", false, true, false,
      { NA, OK, NA, OK, NA, OK, NA, OK, OK, NA, OK, OK } },
    { "workstation-7", "linux", true, true, false,
      { OK, OK, NA, OK, OK, OK, NA, OK, OK, NA, OK, OK } },
    { "workstation-7", "windows", false, true, false,
      { NA, OK, NA, OK, NA, OK, NA, OK, OK, NA, OK, OK } },
    { "workstation-8", "linux", true, true, false,
      { OK, OK, NA, OK, OK, OK, NA, OK, OK, NA, OK, OK } },
    { "workstation-8", "windows", true, true, false,
      { OK, OK, NA, OK, OK, OK, NA, OK, OK, NA, OK, OK } },
    { "workstation-9", "linux", true, false, false,
      { OK, OK, NA, NA, OK, OK, NA, NA, NA, NA, NA, OK } },
    { "workstation-9", "windows", true, false, false,
      { OK, OK, NA, NA, OK, OK, NA, NA, NA, NA, NA, OK } },
    { "server-2.0", "linux", true, true, false,
      { OK, OK, NA, OK, OK, OK, NA, OK, OK, NA, OK, OK } },
    { "server-2.0", "windows", false, true, false,
      { NA, OK, NA, OK, NA, OK, NA, OK, OK, NA, OK, OK } },
    { "player-2.5", "linux", true, true, false,
      { OK, OK, NA, OK, OK, OK, NA, OK, OK, NA, OK, OK } },
    { "player-2.5", "windows", false, true, false,
      { NA, OK, NA, OK, NA, OK, NA, OK, OK, NA, OK, OK } },
    { "player-3", "linux", true, true, false,
      { OK, OK, NA, OK, OK, OK, NA, OK, OK, NA, OK, OK } },
    { "player-3", "windows", false, true, false,
      { NA, OK, NA, OK, NA, OK, NA, OK, OK, NA, OK, OK } },
    { "player-4", "linux", true, true, false,
      { OK, OK, NA, OK, OK, OK, NA, OK, OK, NA, OK, OK } },
    { "player-4", "windows", true, true, false,
      { OK, OK, NA, OK, OK, OK, NA, OK, OK, NA, OK, OK } },
    { "player-5", "linux", true, false, false,
      { OK, OK, NA, NA, OK, OK, NA, NA, NA, NA, NA, OK } },
    { "player-5", "windows", true, false, false,
      { OK, OK, NA, NA, OK, OK, NA, NA, NA, NA, NA, OK } },
    { "fusion-3", "mac", false, true, false,
      { NA, OK, NA, OK, NA, OK, NA, OK, OK, NA, OK, OK } },
    { "fusion-4", "mac", true, true, false,
      { OK, OK, NA, OK, OK, OK, NA, OK, OK, NA, OK, OK } },
    { "fusion-5", "mac", true, false, false,
      { OK, OK, NA, NA, OK, OK, NA, NA, NA, NA, NA, OK } },
};
#define MATRIX_ROWS (sizeof(matrix) / sizeof(matrix[0]))

/* D2, in its order. */
static const char *const d2_products[] = {
    "esxi-4.0", "esxi-4.1", "esxi-5.0", "esxi-5.1", "esxi-5.5", "esxi-6.0", "esxi-6.5",
    "workstation-6.5", "workstation-7", "workstation-8", "workstation-9", "server-2.0",
    "player-2.5", "player-3", "player-4", "player-5", "fusion-3", "fusion-4", "fusion-5",
};
#define D2_PRODUCTS (sizeof(d2_products) / sizeof(d2_products[0]))

/* ---- Worlds ------------------------------------------------------------------------ */

struct vm_spec {
    const char *name;
    uint32_t cid;
    bool unrestricted;
    const char *domain;
    const char *owner;
};

/* The VMs of a matrix world, by index. */
enum { VM_R, VM_U1, VM_U2, VM_BLUE1, VM_BLUE2, VM_R2 };
static const struct vm_spec matrix_vms[] = {
    { "restricted", 100, false, "", "user" },
    { "unrestricted-1", 101, true, "", "user" },
    { "unrestricted-2", 102, true, "", "user" },
    { "blue-1", 103, true, "blue", "user" },
    { "blue-2", 104, true, "blue", "user" },
    { "restricted-2", 105, false, "", "user" },
};
#define MATRIX_VMS (sizeof(matrix_vms) / sizeof(matrix_vms[0]))

/* What one handle received. */
struct receiver {
    uint32_t delivered;
    uint32_t expected;              /* accepted sends addressed to it */
    struct vmci_datagram_header last;
    uint32_t tags[RECEIVER_TAGS_MAX];   /* first payload word of each, in arrival order */
};

struct world {
    struct sim_engine *engine;
    struct vmci_hypervisor *hv;
    char label[LABEL_BYTES];        /* "product/host_os" for messages */
    struct vmci_kernel *host;
    struct vmci_identity default_id;
    struct vmci_identity untrusted_id;
    struct vmci_handle host_default;
    struct vmci_handle host_untrusted;
    struct receiver host_default_rx;
    struct receiver host_untrusted_rx;
    uint32_t vm_count;
    struct vmci_kernel *guests[WORLD_VMS_MAX];
    uint32_t cids[WORLD_VMS_MAX];
    struct vmci_handle guest_handles[WORLD_VMS_MAX];
    struct receiver guest_rx[WORLD_VMS_MAX];
};

static uint8_t payload_buffer[VMCI_MAX_DG_PAYLOAD_SIZE + 1];
static uint8_t raw_buffer[VMCI_MAX_DG_SIZE + 8];

static void receiver_fn(void *state, const struct vmci_datagram_header *header,
                        const uint8_t *payload)
{
    struct receiver *rx = state;
    if (rx->delivered < RECEIVER_TAGS_MAX)
        rx->tags[rx->delivered] = header->payload_size >= 4 ? vmci_read_u32(payload) : UINT32_MAX;
    rx->delivered++;
    rx->last = *header;
}

static void run_idle(struct world *w)
{
    struct sim_run_result result;
    sim_engine_run(w->engine, SIM_TIME_NEVER, 0, &result);
    CU_ASSERT_EQUAL(result.stopped, SIM_STOP_IDLE);
}

static struct vmci_handle handle_of(uint32_t context, uint32_t resource)
{
    struct vmci_handle handle = { context, resource };
    return handle;
}

static void host_handles_create(struct world *w, const struct vmci_profile *profile)
{
    bool trusted = false;
    bool owner_rule = false;
    vmci_profile_host_identity(profile, true, false, false, &trusted, &owner_rule);
    w->default_id.trusted = trusted;
    w->default_id.owner_rule = owner_rule;
    snprintf(w->default_id.user, sizeof(w->default_id.user), "user");          /* D14 */
    snprintf(w->untrusted_id.user, sizeof(w->untrusted_id.user), "user");
    w->host = vmci_hypervisor_host(w->hv);
    CU_ASSERT_FATAL(vmci_kernel_ready(w->host));
    CU_ASSERT_EQUAL_FATAL(vmci_dg_create(w->host, HOST_RID_DEFAULT, VMCI_FLAG_DG_NONE,
                                         &w->default_id, receiver_fn, &w->host_default_rx,
                                         &w->host_default), VMCI_SUCCESS);
    CU_ASSERT_EQUAL_FATAL(vmci_dg_create(w->host, HOST_RID_UNTRUSTED, VMCI_FLAG_DG_NONE,
                                         &w->untrusted_id, receiver_fn, &w->host_untrusted_rx,
                                         &w->host_untrusted), VMCI_SUCCESS);
    CU_ASSERT(vmci_handle_equal(w->host_default, handle_of(VMCI_HOST_CONTEXT_ID, HOST_RID_DEFAULT)));
}

/* Ownership: returns a new world owned by the caller; free with world_destroy(). The
 * guests' drivers have loaded and every guest has its GUEST_RID handle. */
static struct world *world_create(const char *product, const char *host_os,
                                  const struct vm_spec *vms, uint32_t vm_count)
{
    struct world *w = calloc(1, sizeof(*w));
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    CU_ASSERT_FATAL(vm_count <= WORLD_VMS_MAX);
    snprintf(w->label, sizeof(w->label), "%s/%s", product, host_os);
    struct vmci_profile profile;
    char message[128];
    CU_ASSERT_EQUAL_FATAL(vmci_profile_lookup(product, host_os, &profile, message,
                                              sizeof(message)), 0);
    struct sim_limits limits = sim_limits_default();
    w->engine = sim_engine_create(&limits, 7);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w->engine);
    struct vmci_cost cost = vmci_cost_default();
    w->hv = vmci_hypervisor_create(w->engine, &profile, &cost);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w->hv);
    host_handles_create(w, &profile);
    w->vm_count = vm_count;
    for (uint32_t index = 0; index < vm_count; index++) {
        struct vmci_vm_config config = {
            .name = vms[index].name, .requested_cid = vms[index].cid, .hw_version = 7,
            .unrestricted = vms[index].unrestricted, .domain = vms[index].domain,
            .owner = vms[index].owner,
        };
        CU_ASSERT_EQUAL_FATAL(vmci_hypervisor_vm_power_on(w->hv, &config, &w->guests[index]),
                              VMCI_SUCCESS);
        w->cids[index] = vmci_kernel_cid(w->guests[index]);
        ASSERT_U64_EQ(w->cids[index], vms[index].cid);                          /* R8 */
    }
    run_idle(w);                                    /* the drivers' bring-up (D4) */
    for (uint32_t index = 0; index < vm_count; index++) {
        CU_ASSERT_FATAL(vmci_kernel_ready(w->guests[index]));
        CU_ASSERT_EQUAL_FATAL(vmci_dg_create(w->guests[index], GUEST_RID, VMCI_FLAG_DG_NONE,
                                             NULL, receiver_fn, &w->guest_rx[index],
                                             &w->guest_handles[index]), VMCI_SUCCESS);
    }
    CU_ASSERT(vmci_hypervisor_check(w->hv));
    return w;
}

static struct world *matrix_world_create(const struct matrix_row *row)
{
    return world_create(row->product, row->host_os, matrix_vms, MATRIX_VMS);
}

static void receiver_check(const struct world *w, const char *name, const struct receiver *rx)
{
    if (rx->delivered != rx->expected)
        fprintf(stderr, "%s: %s received %u datagrams, %u were accepted for it\n", w->label,
                name, rx->delivered, rx->expected);
    CU_ASSERT_EQUAL(rx->delivered, rx->expected);
}

/* Runs to idle, checks that every accepted datagram arrived once, checks the
 * hypervisor (c), frees everything. */
static void world_destroy(struct world *w)
{
    run_idle(w);
    receiver_check(w, "host default handle", &w->host_default_rx);
    receiver_check(w, "host untrusted handle", &w->host_untrusted_rx);
    for (uint32_t index = 0; index < w->vm_count; index++) {
        char name[32];
        snprintf(name, sizeof(name), "guest %u handle", w->cids[index]);
        receiver_check(w, name, &w->guest_rx[index]);
    }
    CU_ASSERT(vmci_hypervisor_check(w->hv));
    vmci_hypervisor_destroy(w->hv);
    sim_engine_destroy(w->engine);
    free(w);
}

/* ---- Sending and comparing ---------------------------------------------------------- */

static int64_t expected_result(enum expect expect, uint64_t payload_bytes)
{
    switch (expect) {
    case OK: return (int64_t)(VMCI_DG_HEADERSIZE + payload_bytes);           /* R39 */
    case NA: return VMCI_ERROR_NO_ACCESS;
    case DU: return VMCI_ERROR_DST_UNREACHABLE;
    }
    return INT64_MIN;
}

/* A result's name for messages: positive results are sizes or service answers. */
static const char *result_name(int64_t result)
{
    return result > 0 ? "accepted" : vmci_error_name(result);
}

static void result_check(const struct world *w, const char *what, struct vmci_handle src,
                         struct vmci_handle dst, int64_t got, int64_t expected)
{
    if (got != expected)
        fprintf(stderr, "%s: %s {%u,%u}->{%u,%u}: got %lld (%s), expected %lld (%s)\n",
                w->label, what, src.context, src.resource, dst.context, dst.resource,
                (long long)got, result_name(got), (long long)expected, result_name(expected));
    CU_ASSERT_EQUAL(got, expected);
}

/* Sends `payload_bytes` (first word `tag`) from `src` to `dst` through `kernel`'s driver
 * and compares the result with `expected`. An accepted datagram counts towards `rx`
 * (NULL: it must not arrive anywhere this test watches). */
static int64_t send_expect(struct world *w, const char *what, struct vmci_kernel *kernel,
                           struct vmci_handle src, struct vmci_handle dst,
                           uint64_t payload_bytes, uint32_t tag, int64_t expected,
                           struct receiver *rx)
{
    struct vmci_datagram_header header = { .dst = dst, .src = src, .payload_size = payload_bytes };
    if (payload_bytes >= 4 && payload_bytes <= sizeof(payload_buffer))
        vmci_write_u32(payload_buffer, tag);
    int64_t got = vmci_dg_send(kernel, &header, payload_buffer, NULL);
    result_check(w, what, src, dst, got, expected);
    if (got >= 0 && rx != NULL)
        rx->expected++;
    return got;
}

/* Guest `from` -> guest `to` (GUEST_RID to GUEST_RID). */
static void g2g_expect(struct world *w, const char *what, uint32_t from, uint32_t to,
                       enum expect expect)
{
    send_expect(w, what, w->guests[from], w->guest_handles[from], w->guest_handles[to],
                PAYLOAD_BYTES, from, expected_result(expect, PAYLOAD_BYTES), &w->guest_rx[to]);
}

/* Guest `vm` -> host handle, and the host handle -> guest `vm`. */
static void g2h_expect(struct world *w, const char *what, uint32_t vm, struct vmci_handle host,
                       struct receiver *host_rx, enum expect expect)
{
    send_expect(w, what, w->guests[vm], w->guest_handles[vm], host, PAYLOAD_BYTES, vm,
                expected_result(expect, PAYLOAD_BYTES), host_rx);
}

static void h2g_expect(struct world *w, const char *what, struct vmci_handle host, uint32_t vm,
                       enum expect expect)
{
    send_expect(w, what, w->host, host, w->guest_handles[vm], PAYLOAD_BYTES, host.resource,
                expected_result(expect, PAYLOAD_BYTES), &w->guest_rx[vm]);
}

/* A datagram written by hand to guest `vm`'s DATA_OUT (R36), with any source: the
 * raw-device path of a hostile guest kernel. Returns RESULT_LOW as a signed value. */
static int64_t raw_send(struct world *w, uint32_t vm, struct vmci_handle src,
                        struct vmci_handle dst, const uint8_t *payload, uint64_t payload_bytes)
{
    struct vmci_device *device = vmci_hypervisor_device(w->hv, w->cids[vm]);
    CU_ASSERT_PTR_NOT_NULL_FATAL(device);
    CU_ASSERT_FATAL(payload_bytes + VMCI_DG_HEADERSIZE <= sizeof(raw_buffer));
    struct vmci_datagram_header header = { .dst = dst, .src = src, .payload_size = payload_bytes };
    vmci_header_encode(raw_buffer, &header);
    if (payload_bytes > 0)
        memcpy(raw_buffer + VMCI_DG_HEADERSIZE, payload, payload_bytes);
    vmci_device_write_data_out(device, raw_buffer, VMCI_DG_HEADERSIZE + payload_bytes);
    return (int32_t)vmci_device_read(device, VMCI_RESULT_LOW_ADDR);
}

static void raw_expect(struct world *w, const char *what, uint32_t vm, struct vmci_handle src,
                       struct vmci_handle dst, int64_t expected, struct receiver *rx)
{
    uint8_t payload[PAYLOAD_BYTES] = { 0 };
    vmci_write_u32(payload, 0xC0FFEEu);
    int64_t got = raw_send(w, vm, src, dst, payload, sizeof(payload));
    result_check(w, what, src, dst, got, expected);
    if (got >= 0 && rx != NULL)
        rx->expected++;
}

/* ---- D1, D2, R49, R196: profiles, identities, flags -------------------------------- */

/* D2: the product ids are exactly D2's, in order; every one has a matrix row; every
 * allowed (product, host_os) looks up; a combination that did not exist is an error. */
static void test_D2_every_product_in_the_matrix(void)
{
    size_t count = 0;
    while (vmci_profile_ids[count] != NULL)
        count++;
    ASSERT_U64_EQ(count, D2_PRODUCTS);
    for (size_t index = 0; index < D2_PRODUCTS && index < count; index++)
        CU_ASSERT_STRING_EQUAL(vmci_profile_ids[index], d2_products[index]);
    for (size_t index = 0; index < D2_PRODUCTS; index++) {
        uint32_t rows = 0;
        for (size_t row = 0; row < MATRIX_ROWS; row++)
            rows += strcmp(matrix[row].product, d2_products[index]) == 0;
        bool hosted = strncmp(d2_products[index], "esxi-", 5) != 0 &&
                      strncmp(d2_products[index], "fusion-", 7) != 0;
        ASSERT_U64_EQ(rows, hosted ? 2 : 1);      /* linux + windows, or the only OS */
    }
    struct vmci_profile profile;
    char message[128];
    for (size_t row = 0; row < MATRIX_ROWS; row++)
        CU_ASSERT_EQUAL(vmci_profile_lookup(matrix[row].product, matrix[row].host_os, &profile,
                                            message, sizeof(message)), 0);
    CU_ASSERT_EQUAL(vmci_profile_lookup("fusion-4", "windows", &profile, message,
                                        sizeof(message)), -2);
    CU_ASSERT_EQUAL(vmci_profile_lookup("esxi-6.5", "linux", &profile, message,
                                        sizeof(message)), -2);
    CU_ASSERT_EQUAL(vmci_profile_lookup("workstation-8", "esx", &profile, message,
                                        sizeof(message)), -2);
    CU_ASSERT_EQUAL(vmci_profile_lookup("workstation-10", "linux", &profile, message,
                                        sizeof(message)), -1);
}

/* D1, R50: a host process with default options is trusted for every VM exactly where
 * the profile can make a trusted endpoint; trusted = false never is. */
static void test_D1_default_host_identity(void)
{
    for (size_t row = 0; row < MATRIX_ROWS; row++) {
        struct world *w = matrix_world_create(&matrix[row]);
        bool trusted = vmci_hypervisor_trusted_toward(w->hv, &w->default_id, w->cids[VM_R]);
        if (trusted != matrix[row].trusted)
            fprintf(stderr, "%s: D1 default host identity trusted = %d, expected %d\n",
                    w->label, trusted, matrix[row].trusted);
        CU_ASSERT_EQUAL(trusted, matrix[row].trusted);
        CU_ASSERT_EQUAL(vmci_hypervisor_trusted_toward(w->hv, &w->default_id, w->cids[VM_U1]),
                        matrix[row].trusted);
        CU_ASSERT_EQUAL(vmci_profile_has_trusted_endpoints(vmci_hypervisor_profile(w->hv)),
                        matrix[row].trusted);
        struct vmci_identity off = { .trusted = false, .owner_rule = false, .user = "user" };
        vmci_profile_host_identity(vmci_hypervisor_profile(w->hv), false, false, false,
                                   &off.trusted, &off.owner_rule);
        CU_ASSERT_FALSE(vmci_hypervisor_trusted_toward(w->hv, &off, w->cids[VM_R]));
        CU_ASSERT_FALSE(vmci_hypervisor_trusted_toward(w->hv, &w->untrusted_id, w->cids[VM_R]));
        world_destroy(w);
    }
}

/* R49, R196: VMs are RESTRICTED unless the profile honours vmci0.unrestricted; the host
 * reports 0, the hypervisor is live, an unknown context reads RESTRICTED (R48, R49). */
static void test_R49_R196_privilege_flags(void)
{
    for (size_t row = 0; row < MATRIX_ROWS; row++) {
        struct world *w = matrix_world_create(&matrix[row]);
        uint32_t unrestricted_flags = matrix[row].unrestricted ? VMCI_NO_PRIVILEGE_FLAGS
                                                               : VMCI_PRIVILEGE_FLAG_RESTRICTED;
        ASSERT_U64_EQ(vmci_hypervisor_context_flags(w->hv, w->cids[VM_R]),
                      VMCI_PRIVILEGE_FLAG_RESTRICTED);
        ASSERT_U64_EQ(vmci_hypervisor_context_flags(w->hv, w->cids[VM_U1]), unrestricted_flags);
        ASSERT_U64_EQ(vmci_hypervisor_context_flags(w->hv, w->cids[VM_BLUE1]),
                      unrestricted_flags);
        ASSERT_U64_EQ(vmci_peer_flags(w->host, w->cids[VM_U2]), unrestricted_flags);
        ASSERT_U64_EQ(vmci_hypervisor_context_flags(w->hv, VMCI_HOST_CONTEXT_ID),
                      VMCI_NO_PRIVILEGE_FLAGS);
        ASSERT_U64_EQ(vmci_hypervisor_context_flags(w->hv, 99), VMCI_LEAST_PRIVILEGE_FLAGS);
        CU_ASSERT(vmci_hypervisor_context_live(w->hv, VMCI_HYPERVISOR_CONTEXT_ID));
        CU_ASSERT(vmci_hypervisor_context_live(w->hv, VMCI_HOST_CONTEXT_ID));
        CU_ASSERT(vmci_hypervisor_context_live(w->hv, w->cids[VM_R2]));
        CU_ASSERT_FALSE(vmci_hypervisor_context_live(w->hv, 99));
        world_destroy(w);
    }
}

/* ---- The matrix ------------------------------------------------------------------- */

static void host_guest_row(const struct matrix_row *row)
{
    struct world *w = matrix_world_create(row);
    const enum expect *e = row->expect;
    g2h_expect(w, case_names[G2H_DEF_RES], VM_R, w->host_default, &w->host_default_rx,
               e[G2H_DEF_RES]);
    g2h_expect(w, case_names[G2H_DEF_UNR], VM_U1, w->host_default, &w->host_default_rx,
               e[G2H_DEF_UNR]);
    g2h_expect(w, case_names[G2H_UNT_RES], VM_R, w->host_untrusted, &w->host_untrusted_rx,
               e[G2H_UNT_RES]);
    g2h_expect(w, case_names[G2H_UNT_UNR], VM_U1, w->host_untrusted, &w->host_untrusted_rx,
               e[G2H_UNT_UNR]);
    h2g_expect(w, case_names[H2G_DEF_RES], w->host_default, VM_R, e[H2G_DEF_RES]);
    h2g_expect(w, case_names[H2G_DEF_UNR], w->host_default, VM_U1, e[H2G_DEF_UNR]);
    h2g_expect(w, case_names[H2G_UNT_RES], w->host_untrusted, VM_R, e[H2G_UNT_RES]);
    h2g_expect(w, case_names[H2G_UNT_UNR], w->host_untrusted, VM_U1, e[H2G_UNT_UNR]);
    /* R51 holds for any restricted VM, and for the second unrestricted one alike. */
    g2h_expect(w, case_names[G2H_DEF_RES], VM_R2, w->host_default, &w->host_default_rx,
               e[G2H_DEF_RES]);
    h2g_expect(w, case_names[H2G_UNT_UNR], w->host_untrusted, VM_U2, e[H2G_UNT_UNR]);
    world_destroy(w);
}

/* R51, R196, R199 (cases 1-3): guest<->host datagrams on every profile, from and to a
 * host handle of a default (D1) host process and of an untrusted one, with a restricted
 * VM and a VM configured vmci0.unrestricted = TRUE. */
static void test_R196_R51_host_guest_matrix(void)
{
    for (size_t row = 0; row < MATRIX_ROWS; row++)
        host_guest_row(&matrix[row]);
}

static void guest_guest_row(const struct matrix_row *row)
{
    struct world *w = matrix_world_create(row);
    const enum expect *e = row->expect;
    g2g_expect(w, case_names[G2G_UNR_UNR], VM_U1, VM_U2, e[G2G_UNR_UNR]);
    g2g_expect(w, case_names[G2G_UNR_UNR], VM_U2, VM_U1, e[G2G_UNR_UNR]);
    g2g_expect(w, case_names[G2G_RES_UNR], VM_R, VM_U1, e[G2G_RES_UNR]);
    g2g_expect(w, case_names[G2G_RES_UNR], VM_U1, VM_R, e[G2G_RES_UNR]);
    g2g_expect(w, case_names[G2G_DOMAINS], VM_U1, VM_BLUE1, e[G2G_DOMAINS]);
    g2g_expect(w, case_names[G2G_DOMAINS], VM_BLUE1, VM_U1, e[G2G_DOMAINS]);
    /* R51: two restricted VMs never meet (guest endpoints are never TRUSTED, R50). */
    g2g_expect(w, "R51 guest(restricted)<->guest(restricted)", VM_R, VM_R2, NA);
    g2g_expect(w, "R51 guest(restricted)<->guest(restricted)", VM_R2, VM_R, NA);
    world_destroy(w);
}

/* R197, R51, R198 (case 4): guest-to-guest on every profile: two unrestricted VMs of the
 * default domain, a restricted and an unrestricted VM, and two unrestricted VMs of
 * different vmci0.domain; both directions. */
static void test_R197_guest_to_guest_matrix(void)
{
    for (size_t row = 0; row < MATRIX_ROWS; row++)
        guest_guest_row(&matrix[row]);
}

static void domains_row(const struct matrix_row *row)
{
    struct world *w = matrix_world_create(row);
    const enum expect *e = row->expect;
    g2h_expect(w, case_names[DOMAIN_HOST], VM_BLUE1, w->host_default, &w->host_default_rx,
               e[DOMAIN_HOST]);
    h2g_expect(w, case_names[DOMAIN_HOST], w->host_default, VM_BLUE1, e[DOMAIN_HOST]);
    /* Its own domain's VMs: as two unrestricted VMs of one domain (R197). */
    g2g_expect(w, "D5 guest(\"blue\")<->guest(\"blue\")", VM_BLUE1, VM_BLUE2, e[G2G_UNR_UNR]);
    g2g_expect(w, "D5 guest(\"blue\")<->guest(\"blue\")", VM_BLUE2, VM_BLUE1, e[G2G_UNR_UNR]);
    /* The untrusted host handle is in the default domain too. */
    g2h_expect(w, "D5 guest(\"blue\")->host(untrusted)", VM_BLUE1, w->host_untrusted,
               &w->host_untrusted_rx, row->domains ? NA : e[G2H_UNT_UNR]);
    /* R201, D5: the hypervisor is always reachable; GET_CONTEXT_ID answers the CID (R74). */
    send_expect(w, "R201 guest(\"blue\")->hypervisor", w->guests[VM_BLUE1],
                w->guest_handles[VM_BLUE1],
                handle_of(VMCI_HYPERVISOR_CONTEXT_ID, VMCI_GET_CONTEXT_ID), 0, 0,
                (int64_t)w->cids[VM_BLUE1], NULL);
    world_destroy(w);
}

/* D5, R198 (case 6): a VM in domain "blue" reaches its own domain's VMs and the
 * hypervisor, and no host endpoint, on the profiles that honour domains; elsewhere the
 * domain string changes nothing. */
static void test_D5_domains(void)
{
    for (size_t row = 0; row < MATRIX_ROWS; row++)
        domains_row(&matrix[row]);
}

/* D8, R56 (case 5): every VM, restricted or not, in any domain, may send to its own CID
 * on every profile; the datagram comes back through its own device. */
static void test_D8_self(void)
{
    for (size_t row = 0; row < MATRIX_ROWS; row++) {
        struct world *w = matrix_world_create(&matrix[row]);
        for (uint32_t vm = 0; vm < w->vm_count; vm++)
            g2g_expect(w, "D8 guest->own CID", vm, vm, OK);
        world_destroy(w);
    }
}

/* ---- R50, D10: the same-user rule --------------------------------------------------- */

static const struct {
    const char *product;
    const char *host_os;
    bool net_admin_counts;          /* R50: plus CAP_NET_ADMIN on Linux hosts */
} same_user_rows[] = {
    { "workstation-8", "linux", true }, { "workstation-8", "windows", false },
    { "workstation-9", "linux", true }, { "workstation-9", "windows", false },
    { "player-4", "linux", true }, { "player-4", "windows", false },
    { "player-5", "linux", true }, { "player-5", "windows", false },
    { "fusion-4", "mac", false }, { "fusion-5", "mac", false },
};

enum { VM_ALICE, VM_BOB };
static const struct vm_spec owner_vms[] = {
    { "alice-vm", 200, false, "", "alice" },
    { "bob-vm", 201, false, "", "bob" },
};

/* A host handle of a process spawned with { user = "alice" } (and CAP_NET_ADMIN). */
static struct vmci_handle alice_handle(struct world *w, uint32_t rid, bool net_admin,
                                       struct receiver *rx)
{
    struct vmci_identity identity = { .user = "alice" };
    vmci_profile_host_identity(vmci_hypervisor_profile(w->hv), true, true, net_admin,
                               &identity.trusted, &identity.owner_rule);
    if (!net_admin) {
        CU_ASSERT_FALSE(identity.trusted);      /* D1: trusted exactly for alice's VMs */
        CU_ASSERT_TRUE(identity.owner_rule);
    }
    struct vmci_handle handle;
    CU_ASSERT_EQUAL_FATAL(vmci_dg_create(w->host, rid, VMCI_FLAG_DG_NONE, &identity,
                                         receiver_fn, rx, &handle), VMCI_SUCCESS);
    return handle;
}

/* R50, D10, D1: on the same-user profiles a host process spawned as "alice" is trusted
 * for the restricted VM alice owns (both directions) and not for bob's; with
 * CAP_NET_ADMIN on a Linux host it is trusted for bob's too. */
static void test_R50_D10_same_user_owner_rule(void)
{
    for (size_t row = 0; row < sizeof(same_user_rows) / sizeof(same_user_rows[0]); row++) {
        struct world *w = world_create(same_user_rows[row].product, same_user_rows[row].host_os,
                                       owner_vms, 2);
        struct receiver alice_rx = { 0 };
        struct receiver admin_rx = { 0 };
        struct vmci_handle alice = alice_handle(w, 5002, false, &alice_rx);
        struct vmci_handle admin = alice_handle(w, 5003, true, &admin_rx);
        enum expect admin_bob = same_user_rows[row].net_admin_counts ? OK : NA;
        h2g_expect(w, "R50 host(alice)->guest(alice's)", alice, VM_ALICE, OK);
        g2h_expect(w, "R50 guest(alice's)->host(alice)", VM_ALICE, alice, &alice_rx, OK);
        h2g_expect(w, "R50 host(alice)->guest(bob's)", alice, VM_BOB, NA);
        g2h_expect(w, "R50 guest(bob's)->host(alice)", VM_BOB, alice, &alice_rx, NA);
        h2g_expect(w, "R50 host(alice, CAP_NET_ADMIN)->guest(bob's)", admin, VM_BOB, admin_bob);
        g2h_expect(w, "R50 guest(bob's)->host(alice, CAP_NET_ADMIN)", VM_BOB, admin, &admin_rx,
                   admin_bob);
        /* D1: the default process acts as the owner of every VM. */
        h2g_expect(w, "D1 host(default)->guest(bob's)", w->host_default, VM_BOB, OK);
        world_destroy(w);
        CU_ASSERT_EQUAL(alice_rx.delivered, alice_rx.expected);
        CU_ASSERT_EQUAL(admin_rx.delivered, admin_rx.expected);
    }
}

/* ---- Router error codes (esxi-6.5: VMs restricted, host processes trusted) ---------- */

static struct world *esxi_world_create(void)
{
    return world_create("esxi-6.5", "esx", matrix_vms, MATRIX_VMS);
}

/* R52, R36, R41: payload 69608 (69632 bytes in all) passes from host and guest and in
 * both directions; one more byte is INVALID_ARGS, from vmci_dg_send and from a raw
 * DATA_OUT header; the raw stream still works afterwards. */
static void test_R52_payload_too_large(void)
{
    struct world *w = esxi_world_create();
    struct vmci_handle guest_r = w->guest_handles[VM_R];
    const uint64_t max = VMCI_MAX_DG_PAYLOAD_SIZE;
    ASSERT_U64_EQ(max, 69608);
    send_expect(w, "R52 host->host max", w->host, w->host_untrusted, w->host_default, max, 1,
                VMCI_MAX_DG_SIZE, &w->host_default_rx);
    send_expect(w, "R52 guest->host max", w->guests[VM_R], guest_r, w->host_default, max, 2,
                VMCI_MAX_DG_SIZE, &w->host_default_rx);
    send_expect(w, "R52 host->guest max", w->host, w->host_default, guest_r, max, 3,
                VMCI_MAX_DG_SIZE, &w->guest_rx[VM_R]);
    send_expect(w, "R52 host->host max+1", w->host, w->host_untrusted, w->host_default, max + 1,
                4, VMCI_ERROR_INVALID_ARGS, NULL);
    send_expect(w, "R52 guest->host max+1", w->guests[VM_R], guest_r, w->host_default, max + 1,
                5, VMCI_ERROR_INVALID_ARGS, NULL);
    send_expect(w, "R52 host->guest max+1", w->host, w->host_default, guest_r, max + 1, 6,
                VMCI_ERROR_INVALID_ARGS, NULL);
    memset(payload_buffer, 0xA5, sizeof(payload_buffer));
    int64_t got = raw_send(w, VM_R, guest_r, w->host_default, payload_buffer, max + 1);
    result_check(w, "R52 raw DATA_OUT max+1", guest_r, w->host_default, got,
                 VMCI_ERROR_INVALID_ARGS);
    got = raw_send(w, VM_R, guest_r, w->host_default, payload_buffer, max);
    result_check(w, "R52 raw DATA_OUT max", guest_r, w->host_default, got, VMCI_MAX_DG_SIZE);
    if (got >= 0)
        w->host_default_rx.expected++;
    run_idle(w);
    ASSERT_U64_EQ(w->guest_rx[VM_R].last.payload_size, max);
    ASSERT_U64_EQ(w->host_default_rx.last.payload_size, max);
    world_destroy(w);
}

/* Every byte of each datagram a handle receives, in arrival order (the size-boundary test). */
#define BYTES_RECEIVER_DATAGRAMS_MAX 8u
struct bytes_receiver {
    uint32_t delivered;
    uint64_t payload_bytes[BYTES_RECEIVER_DATAGRAMS_MAX];
    uint64_t payload_hash[BYTES_RECEIVER_DATAGRAMS_MAX];
};

static void bytes_receiver_fn(void *state, const struct vmci_datagram_header *header,
                              const uint8_t *payload)
{
    struct bytes_receiver *rx = state;
    if (rx->delivered < BYTES_RECEIVER_DATAGRAMS_MAX) {
        rx->payload_bytes[rx->delivered] = header->payload_size;
        rx->payload_hash[rx->delivered] = sim_data_hash(payload, header->payload_size);
    }
    rx->delivered++;
}

/* vmci_dg_send puts a small datagram together on the stack and a larger one in the heap
 * (256 bytes in all is the cut): payloads on both sides of it and far above it arrive
 * whole and unchanged, from a guest to the host and from the host to a guest. */
static void test_R39_datagrams_around_the_stack_cut_arrive_whole(void)
{
    static const uint64_t sizes[] = { 0, 1, 231, 232, 233, 4096, VMCI_MAX_DG_PAYLOAD_SIZE };
    const uint32_t count = sizeof(sizes) / sizeof(sizes[0]);
    for (uint32_t index = 0; index < sizeof(payload_buffer); index++)
        payload_buffer[index] = (uint8_t)(index * 131u + 7u);
    struct world *w = esxi_world_create();
    struct bytes_receiver host_rx = { 0 }, guest_rx = { 0 };
    struct vmci_handle host_handle, guest_handle;
    CU_ASSERT_EQUAL_FATAL(vmci_dg_create(w->host, HOST_RID_DEFAULT + 10, VMCI_FLAG_DG_NONE,
                                         &w->default_id, bytes_receiver_fn, &host_rx,
                                         &host_handle), VMCI_SUCCESS);
    CU_ASSERT_EQUAL_FATAL(vmci_dg_create(w->guests[VM_R], GUEST_RID + 10, VMCI_FLAG_DG_NONE,
                                         NULL, bytes_receiver_fn, &guest_rx, &guest_handle),
                          VMCI_SUCCESS);
    for (uint32_t index = 0; index < count; index++) {
        struct vmci_datagram_header up = { .dst = host_handle, .src = guest_handle,
                                           .payload_size = sizes[index] };
        struct vmci_datagram_header down = { .dst = guest_handle, .src = host_handle,
                                             .payload_size = sizes[index] };
        ASSERT_U64_EQ(vmci_dg_send(w->guests[VM_R], &up, payload_buffer, NULL),
                      VMCI_DG_HEADERSIZE + sizes[index]);
        ASSERT_U64_EQ(vmci_dg_send(w->host, &down, payload_buffer, NULL),
                      VMCI_DG_HEADERSIZE + sizes[index]);
        run_idle(w);
    }
    ASSERT_U64_EQ(host_rx.delivered, count);
    ASSERT_U64_EQ(guest_rx.delivered, count);
    for (uint32_t index = 0; index < count && index < BYTES_RECEIVER_DATAGRAMS_MAX; index++) {
        uint64_t expected_hash = sim_data_hash(payload_buffer, sizes[index]);
        ASSERT_U64_EQ(host_rx.payload_bytes[index], sizes[index]);
        ASSERT_U64_EQ(guest_rx.payload_bytes[index], sizes[index]);
        ASSERT_U64_EQ(host_rx.payload_hash[index], expected_hash);
        ASSERT_U64_EQ(guest_rx.payload_hash[index], expected_hash);
    }
    world_destroy(w);
}

/* R53: a destination context of ANY is INVALID_ARGS, from the host and from a guest. */
static void test_R53_dst_any(void)
{
    struct world *w = esxi_world_create();
    send_expect(w, "R53 host->{ANY, rid}", w->host, w->host_default,
                handle_of(VMCI_INVALID_ID, GUEST_RID), PAYLOAD_BYTES, 0, VMCI_ERROR_INVALID_ARGS,
                NULL);
    send_expect(w, "R53 host->{ANY, ANY}", w->host, w->host_default, VMCI_INVALID_HANDLE,
                PAYLOAD_BYTES, 0, VMCI_ERROR_INVALID_ARGS, NULL);
    send_expect(w, "R53 guest->{ANY, rid}", w->guests[VM_R], w->guest_handles[VM_R],
                handle_of(VMCI_INVALID_ID, HOST_RID_DEFAULT), PAYLOAD_BYTES, 0,
                VMCI_ERROR_INVALID_ARGS, NULL);
    send_expect(w, "R53 guest->{ANY, ANY}", w->guests[VM_U1], w->guest_handles[VM_U1],
                VMCI_INVALID_HANDLE, PAYLOAD_BYTES, 0, VMCI_ERROR_INVALID_ARGS, NULL);
    world_destroy(w);
}

/* R54, R75, R73, D12: the host cannot call the hypervisor (DEVICE_NOT_FOUND); a guest
 * calling a service vmcisim does not implement gets INVALID_RESOURCE, services 6 and 7
 * OBSOLETE, port 14 is accepted with the datagram size. */
static void test_R54_R75_hypervisor_services(void)
{
    static const uint32_t unknown[] = { 12, 13, 16, 17, 99, 1000 };
    struct world *w = esxi_world_create();
    for (uint32_t rid = 0; rid <= 1; rid++)
        send_expect(w, "R54 host->hypervisor", w->host, w->host_default,
                    handle_of(VMCI_HYPERVISOR_CONTEXT_ID, rid), 0, 0,
                    VMCI_ERROR_DEVICE_NOT_FOUND, NULL);
    for (size_t index = 0; index < sizeof(unknown) / sizeof(unknown[0]); index++)
        send_expect(w, "R54 guest->unknown service", w->guests[VM_R], w->guest_handles[VM_R],
                    handle_of(VMCI_HYPERVISOR_CONTEXT_ID, unknown[index]), PAYLOAD_BYTES, 0,
                    VMCI_ERROR_INVALID_RESOURCE, NULL);
    for (uint32_t rid = VMCI_DATAGRAM_REQUEST_MAP; rid <= VMCI_DATAGRAM_REMOVE_MAP; rid++)
        send_expect(w, "R75 guest->obsolete service", w->guests[VM_U1], w->guest_handles[VM_U1],
                    handle_of(VMCI_HYPERVISOR_CONTEXT_ID, rid), PAYLOAD_BYTES, 0,
                    VMCI_ERROR_OBSOLETE, NULL);
    send_expect(w, "D12 guest->hypervisor port 14", w->guests[VM_R], w->guest_handles[VM_R],
                handle_of(VMCI_HYPERVISOR_CONTEXT_ID, VMCI_UNITY_PBRPC_REGISTER), PAYLOAD_BYTES,
                0, VMCI_DG_HEADERSIZE + PAYLOAD_BYTES, NULL);
    world_destroy(w);
}

/* R55: a host RID with no handle is INVALID_RESOURCE from a guest and from the host
 * itself; a host handle created with context ANY matches {2, rid}. */
static void test_R55_host_rid_without_handle(void)
{
    struct world *w = esxi_world_create();
    struct vmci_handle none = handle_of(VMCI_HOST_CONTEXT_ID, 4999);
    send_expect(w, "R55 guest->host RID without handle", w->guests[VM_R],
                w->guest_handles[VM_R], none, PAYLOAD_BYTES, 0, VMCI_ERROR_INVALID_RESOURCE,
                NULL);
    send_expect(w, "R55 guest(unrestricted)->host RID without handle", w->guests[VM_U1],
                w->guest_handles[VM_U1], none, PAYLOAD_BYTES, 0, VMCI_ERROR_INVALID_RESOURCE,
                NULL);
    send_expect(w, "R55 host->host RID without handle", w->host, w->host_default, none,
                PAYLOAD_BYTES, 0, VMCI_ERROR_INVALID_RESOURCE, NULL);
    struct receiver any_rx = { 0 };
    struct vmci_handle any;
    CU_ASSERT_EQUAL_FATAL(vmci_dg_create(w->host, 5100, VMCI_FLAG_ANYCID_DG_HND, &w->default_id,
                                         receiver_fn, &any_rx, &any), VMCI_SUCCESS);
    CU_ASSERT(vmci_handle_equal(any, handle_of(VMCI_INVALID_ID, 5100)));        /* R60 */
    send_expect(w, "R55 guest->host ANYCID handle", w->guests[VM_R], w->guest_handles[VM_R],
                handle_of(VMCI_HOST_CONTEXT_ID, 5100), PAYLOAD_BYTES, 0,
                VMCI_DG_HEADERSIZE + PAYLOAD_BYTES, &any_rx);
    world_destroy(w);
    CU_ASSERT_EQUAL(any_rx.delivered, any_rx.expected);
}

/* R56, R57: a CID with no live context (1, 3..15, an unused VM CID, the largest ones)
 * is DST_UNREACHABLE from the host and from guests, even where R51 would deny. */
static void test_R56_R57_unreachable_cids(void)
{
    static const uint32_t extra[] = { 16, 99, 0x7FFFFFFFu, 0x80000000u, 0xFFFFFFFEu };
    uint32_t cids[1 + (VMCI_RESERVED_CID_LIMIT - 3) + sizeof(extra) / sizeof(extra[0])];
    uint32_t count = 0;
    cids[count++] = VMCI_WELL_KNOWN_CONTEXT_ID;
    for (uint32_t cid = 3; cid < VMCI_RESERVED_CID_LIMIT; cid++)
        cids[count++] = cid;
    for (size_t index = 0; index < sizeof(extra) / sizeof(extra[0]); index++)
        cids[count++] = extra[index];
    ASSERT_U64_EQ(count, sizeof(cids) / sizeof(cids[0]));
    struct world *w = esxi_world_create();
    for (uint32_t index = 0; index < count; index++) {
        struct vmci_handle dst = handle_of(cids[index], GUEST_RID);
        send_expect(w, "R56/R57 host->no such CID", w->host, w->host_default, dst,
                    PAYLOAD_BYTES, 0, VMCI_ERROR_DST_UNREACHABLE, NULL);
        send_expect(w, "R56/R57 host(untrusted)->no such CID", w->host, w->host_untrusted, dst,
                    PAYLOAD_BYTES, 0, VMCI_ERROR_DST_UNREACHABLE, NULL);
        send_expect(w, "R56/R57 guest->no such CID", w->guests[VM_R], w->guest_handles[VM_R],
                    dst, PAYLOAD_BYTES, 0, VMCI_ERROR_DST_UNREACHABLE, NULL);
    }
    world_destroy(w);
}

/* R58, R33: with the guest's interrupts never run, datagrams pile up in its pending
 * queue; one of size s is refused with NO_RESOURCES when queued + s >= 139264. 16 of
 * 8192 bytes fill 131072; 8192 more would reach 139264 exactly (refused), 8191 reach
 * 139263 (accepted); then even a bare header is refused. Once the guest has read them,
 * all 17 arrive in order and the queue takes datagrams again. */
static void test_R58_guest_queue_limit(void)
{
    struct world *w = esxi_world_create();
    struct vmci_handle dst = w->guest_handles[VM_R];
    struct receiver *rx = &w->guest_rx[VM_R];
    ASSERT_U64_EQ(VMCI_MAX_DATAGRAM_QUEUE_SIZE, 139264);
    for (uint32_t index = 0; index < 16; index++)
        send_expect(w, "R58 fill", w->host, w->host_default, dst, 8192 - VMCI_DG_HEADERSIZE,
                    index, 8192, rx);
    send_expect(w, "R58 queued + s == 139264", w->host, w->host_default, dst,
                8192 - VMCI_DG_HEADERSIZE, 99, VMCI_ERROR_NO_RESOURCES, NULL);
    send_expect(w, "R58 queued + s == 139263", w->host, w->host_default, dst,
                8191 - VMCI_DG_HEADERSIZE, 16, 8191, rx);
    send_expect(w, "R58 header only past the limit", w->host, w->host_default, dst, 0, 0,
                VMCI_ERROR_NO_RESOURCES, NULL);
    send_expect(w, "R58 guest->full guest", w->guests[VM_R2], w->guest_handles[VM_R2], dst,
                0, 0, VMCI_ERROR_NO_ACCESS, NULL);                /* R51 is checked first */
    CU_ASSERT(vmci_hypervisor_check(w->hv));
    run_idle(w);
    ASSERT_U64_EQ(rx->delivered, 17);
    for (uint32_t index = 0; index < 17 && index < rx->delivered; index++)
        ASSERT_U64_EQ(rx->tags[index], index);                                  /* R59 */
    send_expect(w, "R58 after the guest read its queue", w->host, w->host_default, dst,
                8192 - VMCI_DG_HEADERSIZE, 17, 8192, rx);
    world_destroy(w);
}

/* R37: through the raw device a guest cannot claim another context's CID (another VM,
 * the host, the hypervisor's event source); {ANY, ANY} may call the hypervisor but not
 * reach the host; {ANY, rid} is sent with the guest's own CID filled in. */
static void test_R37_source_spoofing(void)
{
    struct world *w = esxi_world_create();
    uint32_t own = w->cids[VM_R];
    struct vmci_handle other_vm = w->guest_handles[VM_U1];
    raw_expect(w, "R37 raw, own source", VM_R, w->guest_handles[VM_R], w->host_default,
               VMCI_DG_HEADERSIZE + PAYLOAD_BYTES, &w->host_default_rx);
    raw_expect(w, "R37 raw, another VM's CID -> host", VM_R, other_vm, w->host_default,
               VMCI_ERROR_NO_ACCESS, NULL);
    raw_expect(w, "R37 raw, another VM's CID -> own CID", VM_R, other_vm,
               w->guest_handles[VM_R], VMCI_ERROR_NO_ACCESS, NULL);
    raw_expect(w, "R37 raw, the host's handle -> VM", VM_R, w->host_default, other_vm,
               VMCI_ERROR_NO_ACCESS, NULL);
    raw_expect(w, "R37 raw, the hypervisor's {0, 0} -> VM", VM_R,
               handle_of(VMCI_HYPERVISOR_CONTEXT_ID, VMCI_CONTEXT_RESOURCE_ID),
               handle_of(w->cids[VM_U1], VMCI_EVENT_HANDLER), VMCI_ERROR_NO_ACCESS, NULL);
    raw_expect(w, "R37 raw, {ANY, ANY} -> hypervisor GET_CONTEXT_ID", VM_R, VMCI_INVALID_HANDLE,
               handle_of(VMCI_HYPERVISOR_CONTEXT_ID, VMCI_GET_CONTEXT_ID), (int64_t)own, NULL);
    raw_expect(w, "R37 raw, {ANY, ANY} -> host", VM_R, VMCI_INVALID_HANDLE, w->host_default,
               VMCI_ERROR_NO_ACCESS, NULL);
    run_idle(w);
    raw_expect(w, "R37 raw, {ANY, rid} -> host", VM_R, handle_of(VMCI_INVALID_ID, 6001),
               w->host_default, VMCI_DG_HEADERSIZE + PAYLOAD_BYTES, &w->host_default_rx);
    run_idle(w);
    ASSERT_U64_EQ(w->host_default_rx.delivered, 2);
    ASSERT_U64_EQ(w->host_default_rx.last.src.context, own);
    ASSERT_U64_EQ(w->host_default_rx.last.src.resource, 6001);
    world_destroy(w);
}

/* R59: 20 datagrams from one sender to one destination arrive in send order: guest to
 * host, host to guest, and guest to guest where the profile allows it. */
static void test_R59_send_order(void)
{
    struct world *w = world_create("esxi-4.0", "esx", matrix_vms, MATRIX_VMS);
    for (uint32_t tag = 0; tag < 20; tag++) {
        send_expect(w, "R59 guest->host", w->guests[VM_R], w->guest_handles[VM_R],
                    w->host_default, PAYLOAD_BYTES, tag, VMCI_DG_HEADERSIZE + PAYLOAD_BYTES,
                    &w->host_default_rx);
        send_expect(w, "R59 host->guest", w->host, w->host_default, w->guest_handles[VM_R],
                    PAYLOAD_BYTES, 100 + tag, VMCI_DG_HEADERSIZE + PAYLOAD_BYTES,
                    &w->guest_rx[VM_R]);
        send_expect(w, "R59 guest->guest", w->guests[VM_U1], w->guest_handles[VM_U1],
                    w->guest_handles[VM_U2], PAYLOAD_BYTES, 200 + tag,
                    VMCI_DG_HEADERSIZE + PAYLOAD_BYTES, &w->guest_rx[VM_U2]);
    }
    run_idle(w);
    ASSERT_U64_EQ(w->host_default_rx.delivered, 20);
    ASSERT_U64_EQ(w->guest_rx[VM_R].delivered, 20);
    ASSERT_U64_EQ(w->guest_rx[VM_U2].delivered, 20);
    for (uint32_t tag = 0; tag < 20; tag++) {
        ASSERT_U64_EQ(w->host_default_rx.tags[tag], tag);
        ASSERT_U64_EQ(w->guest_rx[VM_R].tags[tag], 100 + tag);
        ASSERT_U64_EQ(w->guest_rx[VM_U2].tags[tag], 200 + tag);
    }
    world_destroy(w);
}

/* ---- Hypervisor services R73, R74 --------------------------------------------------- */

/* A RESOURCES_QUERY with `count` (as declared) and `listed` RIDs actually sent. */
static int64_t resources_query(struct world *w, uint32_t count, const uint32_t *rids,
                               uint32_t listed)
{
    uint8_t payload[8 + 4 * 40] = { 0 };
    vmci_write_u32(payload, count);
    for (uint32_t index = 0; index < listed; index++)
        vmci_write_u32(payload + 8 + 4 * index, rids[index]);
    struct vmci_datagram_header header = {
        .dst = { VMCI_HYPERVISOR_CONTEXT_ID, VMCI_RESOURCES_QUERY },
        .src = w->guest_handles[VM_R],
        .payload_size = 8 + 4 * listed,
    };
    return vmci_dg_send(w->guests[VM_R], &header, payload, NULL);
}

/* R73: bit i of the result is set iff resources[i] is one of 0-5, 8-11, 14, 15; the
 * count must be 1..31 and the RIDs must all be there, else INVALID_ARGS. */
static void test_R73_resources_query(void)
{
    struct world *w = esxi_world_create();
    uint32_t rids[40];
    for (uint32_t index = 0; index < 17; index++)
        rids[index] = index;
    ASSERT_U64_EQ(resources_query(w, 17, rids, 17), 0xCF3F);
    for (uint32_t index = 0; index < 17; index++)
        rids[index] = 16 - index;
    ASSERT_U64_EQ(resources_query(w, 17, rids, 17), 0x1F9E6);
    rids[0] = VMCI_GET_CONTEXT_ID;
    ASSERT_U64_EQ(resources_query(w, 1, rids, 1), 0x1);                         /* 3.3 */
    for (uint32_t index = 0; index < 40; index++)
        rids[index] = 99;
    rids[30] = VMCI_QUEUEPAIR_DETACH;
    ASSERT_U64_EQ(resources_query(w, 31, rids, 31), 0x40000000);
    rids[30] = 99;
    ASSERT_U64_EQ(resources_query(w, 31, rids, 31), 0);
    ASSERT_U64_EQ(resources_query(w, 32, rids, 32), (uint64_t)(int64_t)VMCI_ERROR_INVALID_ARGS);
    ASSERT_U64_EQ(resources_query(w, 0, rids, 0), (uint64_t)(int64_t)VMCI_ERROR_INVALID_ARGS);
    ASSERT_U64_EQ(resources_query(w, 3, rids, 2), (uint64_t)(int64_t)VMCI_ERROR_INVALID_ARGS);
    world_destroy(w);
}

/* R74: GET_CONTEXT_ID answers the caller's CID, through the driver and through the raw
 * device; a CID >= 2^31 reads as that u32 in RESULT_LOW. */
static void test_R74_get_context_id(void)
{
    static const struct vm_spec vms[] = {
        { "low", 16, false, "", "user" },
        { "high", 0x80000010u, true, "", "user" },
        { "top", 0xFFFFFFFEu, false, "", "user" },
    };
    struct world *w = world_create("esxi-5.0", "esx", vms, 3);
    struct vmci_handle get_cid = handle_of(VMCI_HYPERVISOR_CONTEXT_ID, VMCI_GET_CONTEXT_ID);
    for (uint32_t vm = 0; vm < 3; vm++) {
        struct vmci_datagram_header header = { .dst = get_cid, .src = w->guest_handles[vm] };
        int64_t got = vmci_dg_send(w->guests[vm], &header, NULL, NULL);
        ASSERT_U64_EQ((uint32_t)got, vms[vm].cid);
        struct vmci_device *device = vmci_hypervisor_device(w->hv, w->cids[vm]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(device);
        (void)raw_send(w, vm, VMCI_INVALID_HANDLE, get_cid, NULL, 0);
        ASSERT_U64_EQ(vmci_device_read(device, VMCI_RESULT_LOW_ADDR), vms[vm].cid);
        ASSERT_U64_EQ(vmci_device_read(device, VMCI_RESULT_HIGH_ADDR),
                      vms[vm].cid >= 0x80000000u ? 0xFFFFFFFFu : 0);
    }
    world_destroy(w);
}

/* ---- Datagram handles R23, R60-R62 -------------------------------------------------- */

static struct vmci_handle auto_handle(struct vmci_kernel *kernel, uint32_t flags)
{
    struct vmci_handle handle = VMCI_INVALID_HANDLE;
    static struct receiver sink;
    CU_ASSERT_EQUAL(vmci_dg_create(kernel, VMCI_INVALID_ID, flags, NULL, receiver_fn, &sink,
                                   &handle), VMCI_SUCCESS);
    return handle;
}

/* R23, D13: every kernel allocates RIDs from its own counter, first 1024, counting up and
 * skipping RIDs in use; explicit RIDs do not move the counter. */
static void test_R23_dynamic_rids(void)
{
    struct world *w = esxi_world_create();
    struct receiver sink = { 0 };
    struct vmci_handle handle;
    ASSERT_U64_EQ(auto_handle(w->host, 0).resource, 1024);
    struct vmci_handle second = auto_handle(w->host, 0);
    ASSERT_U64_EQ(second.resource, 1025);
    ASSERT_U64_EQ(second.context, VMCI_HOST_CONTEXT_ID);
    CU_ASSERT_EQUAL(vmci_dg_create(w->host, 1027, 0, NULL, receiver_fn, &sink, &handle),
                    VMCI_SUCCESS);
    ASSERT_U64_EQ(auto_handle(w->host, 0).resource, 1026);
    ASSERT_U64_EQ(auto_handle(w->host, 0).resource, 1028);                     /* 1027 taken */
    struct vmci_handle any = auto_handle(w->host, VMCI_FLAG_ANYCID_DG_HND);
    ASSERT_U64_EQ(any.resource, 1029);
    ASSERT_U64_EQ(any.context, VMCI_INVALID_ID);
    for (uint32_t vm = VM_R; vm <= VM_U1; vm++) {
        struct vmci_handle first = auto_handle(w->guests[vm], 0);
        ASSERT_U64_EQ(first.resource, 1024);
        ASSERT_U64_EQ(first.context, w->cids[vm]);
        ASSERT_U64_EQ(auto_handle(w->guests[vm], 0).resource, 1025);
    }
    world_destroy(w);
}

/* R60: the well-known flag is refused; a guest kernel cannot make a trusted handle. */
static void test_R60_handle_flags(void)
{
    struct world *w = esxi_world_create();
    struct receiver sink = { 0 };
    struct vmci_handle handle;
    CU_ASSERT_EQUAL(vmci_dg_create(w->host, 7100, VMCI_FLAG_WELLKNOWN_DG_HND, NULL, receiver_fn,
                                   &sink, &handle), VMCI_ERROR_INVALID_ARGS);
    struct vmci_identity trusted = { .trusted = true, .user = "user" };
    CU_ASSERT_EQUAL(vmci_dg_create(w->guests[VM_R], 7100, 0, &trusted, receiver_fn, &sink,
                                   &handle), VMCI_ERROR_NO_ACCESS);
    world_destroy(w);
}

/* R61, R16: a RID already used by a matching handle (same context, or either ANY) is
 * ALREADY_EXISTS, in the host and in a guest. */
static void test_R61_duplicate_rid(void)
{
    struct world *w = esxi_world_create();
    struct receiver sink = { 0 };
    struct vmci_handle handle;
    CU_ASSERT_EQUAL(vmci_dg_create(w->host, 7000, 0, NULL, receiver_fn, &sink, &handle),
                    VMCI_SUCCESS);
    CU_ASSERT_EQUAL(vmci_dg_create(w->host, 7000, 0, NULL, receiver_fn, &sink, &handle),
                    VMCI_ERROR_ALREADY_EXISTS);
    CU_ASSERT_EQUAL(vmci_dg_create(w->host, 7000, VMCI_FLAG_ANYCID_DG_HND, NULL, receiver_fn,
                                   &sink, &handle), VMCI_ERROR_ALREADY_EXISTS);
    CU_ASSERT_EQUAL(vmci_dg_create(w->host, 7001, VMCI_FLAG_ANYCID_DG_HND, NULL, receiver_fn,
                                   &sink, &handle), VMCI_SUCCESS);
    CU_ASSERT_EQUAL(vmci_dg_create(w->host, 7001, 0, NULL, receiver_fn, &sink, &handle),
                    VMCI_ERROR_ALREADY_EXISTS);
    CU_ASSERT_EQUAL(vmci_dg_create(w->host, HOST_RID_DEFAULT, 0, NULL, receiver_fn, &sink,
                                   &handle), VMCI_ERROR_ALREADY_EXISTS);
    CU_ASSERT_EQUAL(vmci_dg_create(w->guests[VM_R], GUEST_RID, 0, NULL, receiver_fn, &sink,
                                   &handle), VMCI_ERROR_ALREADY_EXISTS);
    CU_ASSERT_EQUAL(vmci_dg_create(w->guests[VM_U1], GUEST_RID, VMCI_FLAG_ANYCID_DG_HND, NULL,
                                   receiver_fn, &sink, &handle), VMCI_ERROR_ALREADY_EXISTS);
    world_destroy(w);
}

/* R62: destroying an unknown handle is NOT_FOUND; after destruction a host RID is
 * INVALID_RESOURCE to senders (R55) and a guest's is accepted and dropped (R42). */
static void test_R62_destroy_unknown(void)
{
    struct world *w = esxi_world_create();
    CU_ASSERT_EQUAL(vmci_dg_destroy(w->host, handle_of(VMCI_HOST_CONTEXT_ID, 4242)),
                    VMCI_ERROR_NOT_FOUND);
    CU_ASSERT_EQUAL(vmci_dg_destroy(w->guests[VM_R], handle_of(w->cids[VM_R], 4242)),
                    VMCI_ERROR_NOT_FOUND);
    CU_ASSERT_EQUAL(vmci_dg_destroy(w->host, w->host_untrusted), VMCI_SUCCESS);
    CU_ASSERT_EQUAL(vmci_dg_destroy(w->host, w->host_untrusted), VMCI_ERROR_NOT_FOUND);
    send_expect(w, "R62 guest->destroyed host handle", w->guests[VM_R], w->guest_handles[VM_R],
                w->host_untrusted, PAYLOAD_BYTES, 0, VMCI_ERROR_INVALID_RESOURCE, NULL);
    CU_ASSERT_EQUAL(vmci_dg_destroy(w->guests[VM_R], w->guest_handles[VM_R]), VMCI_SUCCESS);
    CU_ASSERT_EQUAL(vmci_dg_destroy(w->guests[VM_R], w->guest_handles[VM_R]),
                    VMCI_ERROR_NOT_FOUND);
    send_expect(w, "R62 host->destroyed guest handle", w->host, w->host_default,
                w->guest_handles[VM_R], PAYLOAD_BYTES, 0, VMCI_DG_HEADERSIZE + PAYLOAD_BYTES,
                NULL);
    world_destroy(w);
}

static const struct test_entry tests[] = {
    TEST_ENTRY(test_D2_every_product_in_the_matrix),
    TEST_ENTRY(test_R39_datagrams_around_the_stack_cut_arrive_whole),
    TEST_ENTRY(test_D1_default_host_identity),
    TEST_ENTRY(test_R49_R196_privilege_flags),
    TEST_ENTRY(test_R196_R51_host_guest_matrix),
    TEST_ENTRY(test_R197_guest_to_guest_matrix),
    TEST_ENTRY(test_D5_domains),
    TEST_ENTRY(test_D8_self),
    TEST_ENTRY(test_R50_D10_same_user_owner_rule),
    TEST_ENTRY(test_R52_payload_too_large),
    TEST_ENTRY(test_R53_dst_any),
    TEST_ENTRY(test_R54_R75_hypervisor_services),
    TEST_ENTRY(test_R55_host_rid_without_handle),
    TEST_ENTRY(test_R56_R57_unreachable_cids),
    TEST_ENTRY(test_R58_guest_queue_limit),
    TEST_ENTRY(test_R37_source_spoofing),
    TEST_ENTRY(test_R59_send_order),
    TEST_ENTRY(test_R73_resources_query),
    TEST_ENTRY(test_R74_get_context_id),
    TEST_ENTRY(test_R23_dynamic_rids),
    TEST_ENTRY(test_R60_handle_flags),
    TEST_ENTRY(test_R61_duplicate_rid),
    TEST_ENTRY(test_R62_destroy_unknown),
};

CU_ErrorCode vmci_routing_suite_add(void)
{
    return test_suite_register("vmci_routing", tests, sizeof(tests) / sizeof(tests[0]));
}
