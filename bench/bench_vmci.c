/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_vmci.c: datagram round trips guest <-> host per wall second.
 *
 * Workload: one esxi-6.5 world with one VM. A guest datagram handle sends a 64-byte
 * datagram to a host echo handle (trusted, D1), which sends it back; when the reply
 * reaches the guest's handle, its callback sends the next one. So one round trip is
 * the guest's DATA_OUT and RESULT_LOW accesses, the router, the host delivery event,
 * the echo's send into the guest's device, the interrupt event, and the guest
 * driver's ICR read, DATA_IN read and dispatch. The engine runs these events in
 * batches of RUN_EVENTS until MEASURE_SECONDS of wall time have passed.
 *
 * Figures:
 *   vmci_dg_roundtrips         trace off (no sink); reference: a real datagram round
 *                              trip on this machine, PAYLOAD_BYTES over an AF_UNIX
 *                              SOCK_DGRAM socketpair in one thread (send, receive, send
 *                              back, receive), for MEASURE_SECONDS; target 1.
 *   vmci_dg_roundtrips_traced  full trace: the SQLite writer at level "device" plus the
 *                              digest, the timing including the writer's close (its
 *                              last commit and index build); reference = the trace-off
 *                              figure, target 0.5.
 *   vmci_dg_roundtrip_sim_ns   simulated time of one round trip under the default cost
 *                              model (a property of the model, not of the machine): no
 *                              reference, no ratio.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench/bench.h"
#include "sim/engine/engine.h"
#include "sim/trace/writer.h"
#include "vmci/hypervisor.h"
#include "vmci/vmci.h"

#define MEASURE_SECONDS 1.0
#define RUN_EVENTS 4096u
#define PAYLOAD_BYTES 64u
#define GUEST_CID 100u

struct pingpong {
    struct sim_engine *engine;
    struct vmci_hypervisor *hv;
    struct vmci_kernel *guest;
    struct vmci_kernel *host;
    struct vmci_handle guest_handle;
    struct vmci_handle echo;
    uint64_t roundtrips;
    uint64_t failures;
    uint8_t payload[PAYLOAD_BYTES];
};

static void send_next(struct pingpong *p)
{
    struct vmci_datagram_header header = {
        .dst = p->echo, .src = p->guest_handle, .payload_size = PAYLOAD_BYTES,
    };
    p->payload[p->roundtrips % PAYLOAD_BYTES]++;
    if (vmci_dg_send(p->guest, &header, p->payload, NULL) != VMCI_DG_HEADERSIZE + PAYLOAD_BYTES)
        p->failures++;
}

static void echo_recv(void *state, const struct vmci_datagram_header *header,
                      const uint8_t *payload)
{
    struct pingpong *p = state;
    struct vmci_datagram_header reply = {
        .dst = header->src, .src = p->echo, .payload_size = header->payload_size,
    };
    if (vmci_dg_send(p->host, &reply, payload, NULL) < 0)
        p->failures++;
}

static void guest_recv(void *state, const struct vmci_datagram_header *header,
                       const uint8_t *payload)
{
    struct pingpong *p = state;
    if (header->payload_size != PAYLOAD_BYTES || memcmp(payload, p->payload, PAYLOAD_BYTES) != 0)
        p->failures++;
    p->roundtrips++;
    send_next(p);
}

/* Builds the world and runs the guest driver's bring-up (untimed). Returns 0 or -1. */
static int pingpong_create(struct pingpong *p, struct sim_trace_sink *sinks, uint32_t sink_count)
{
    memset(p, 0, sizeof(*p));
    struct sim_limits limits = sim_limits_default();
    p->engine = sim_engine_create(&limits, 1);
    if (p->engine == NULL)
        return -1;
    for (uint32_t index = 0; index < sink_count; index++) {
        if (sim_engine_sink_attach(p->engine, sinks[index]) != SIM_OK)
            return -1;
    }
    struct vmci_profile profile;
    char message[128];
    if (vmci_profile_lookup("esxi-6.5", NULL, &profile, message, sizeof(message)) != 0)
        return -1;
    struct vmci_cost cost = vmci_cost_default();
    p->hv = vmci_hypervisor_create(p->engine, &profile, &cost);
    if (p->hv == NULL)
        return -1;
    p->host = vmci_hypervisor_host(p->hv);
    struct vmci_identity identity = { .user = "user" };
    vmci_profile_host_identity(&profile, true, false, false, &identity.trusted,
                               &identity.owner_rule);
    struct vmci_vm_config config = {
        .name = "bench", .requested_cid = GUEST_CID, .hw_version = 13, .domain = "",
        .owner = "user",
    };
    if (vmci_dg_create(p->host, VMCI_INVALID_ID, 0, &identity, echo_recv, p, &p->echo) < 0 ||
        vmci_hypervisor_vm_power_on(p->hv, &config, &p->guest) < 0)
        return -1;
    struct sim_run_result result;
    sim_engine_run(p->engine, SIM_TIME_NEVER, 0, &result);
    if (!vmci_kernel_ready(p->guest))
        return -1;
    return vmci_dg_create(p->guest, VMCI_INVALID_ID, 0, NULL, guest_recv, p, &p->guest_handle);
}

static void pingpong_destroy(struct pingpong *p)
{
    vmci_hypervisor_destroy(p->hv);
    sim_engine_destroy(p->engine);
}

/* Runs round trips for MEASURE_SECONDS; returns the wall seconds and fills the counts. */
static double pingpong_measure(struct pingpong *p, uint64_t *roundtrips_out, uint64_t *sim_ns_out)
{
    uint64_t start_roundtrips = p->roundtrips;
    uint64_t start_ns = sim_engine_now(p->engine);
    double start_s = bench_now_seconds(), elapsed_s = 0.0;
    send_next(p);
    while (elapsed_s < MEASURE_SECONDS) {
        struct sim_run_result result;
        sim_engine_run(p->engine, SIM_TIME_NEVER, RUN_EVENTS, &result);
        elapsed_s = bench_now_seconds() - start_s;
        if (result.stopped != SIM_STOP_MAX_EVENTS) {
            fprintf(stderr, "bench vmci: the engine stopped (%s)\n", sim_stop_name(result.stopped));
            p->failures++;
            break;
        }
    }
    *roundtrips_out = p->roundtrips - start_roundtrips;
    *sim_ns_out = sim_engine_now(p->engine) - start_ns;
    return elapsed_s;
}

/* Trace off. Returns round trips per wall second; *sim_ns_out gets ns per round trip. */
static double run_untraced(double *sim_ns_out)
{
    struct pingpong p;
    double per_s = 0.0;
    if (pingpong_create(&p, NULL, 0) < 0) {
        fprintf(stderr, "bench vmci: cannot build the world\n");
    } else {
        uint64_t roundtrips = 0, sim_ns = 0;
        double elapsed_s = pingpong_measure(&p, &roundtrips, &sim_ns);
        per_s = (double)roundtrips / elapsed_s;
        *sim_ns_out = roundtrips > 0 ? (double)sim_ns / (double)roundtrips : 0.0;
        if (p.failures != 0)
            fprintf(stderr, "bench vmci: %llu failed sends or bad replies\n",
                    (unsigned long long)p.failures);
    }
    pingpong_destroy(&p);
    return per_s;
}

/* Full trace: the SQLite writer at "device" and the digest. Returns round trips per wall
 * second, counting the writer's close. */
static double run_traced(const char *path)
{
    char message[SIM_ERROR_MESSAGE_BYTES_MAX];
    struct sim_trace_writer *writer = NULL;
    if (sim_trace_writer_open(path, &writer, message) < 0) {
        fprintf(stderr, "bench vmci: %s\n", message);
        return 0.0;
    }
    struct sim_digest *digest = sim_digest_create();
    struct sim_trace_sink sinks[2] = {
        sim_trace_writer_sink(writer, SIM_LAYER_DEVICE),
        digest != NULL ? sim_digest_sink(digest) : sim_trace_null_sink(),
    };
    struct pingpong p;
    double per_s = 0.0;
    if (pingpong_create(&p, sinks, 2) < 0) {
        fprintf(stderr, "bench vmci: cannot build the traced world\n");
    } else {
        uint64_t roundtrips = 0, sim_ns = 0;
        double elapsed_s = pingpong_measure(&p, &roundtrips, &sim_ns);
        double close_start_s = bench_now_seconds();
        sim_engine_sinks_detach(p.engine);
        bench_sink_u64(sim_trace_writer_event_count(writer));
        if (sim_trace_writer_close(writer, message) < 0)
            fprintf(stderr, "bench vmci: %s\n", message);
        writer = NULL;
        elapsed_s += bench_now_seconds() - close_start_s;
        per_s = (double)roundtrips / elapsed_s;
        if (p.failures != 0)
            fprintf(stderr, "bench vmci: %llu failed sends or bad replies (traced)\n",
                    (unsigned long long)p.failures);
    }
    if (p.engine != NULL)
        sim_engine_sinks_detach(p.engine);
    pingpong_destroy(&p);
    if (writer != NULL)
        (void)sim_trace_writer_close(writer, message);
    sim_digest_destroy(digest);
    return per_s;
}

/* The reference: PAYLOAD_BYTES datagrams bounced over an AF_UNIX socketpair in one thread
 * for MEASURE_SECONDS. Returns round trips per wall second, 0 on failure. */
static double socketpair_roundtrips(void)
{
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, fds) < 0) {
        perror("bench vmci: socketpair");
        return 0.0;
    }
    uint8_t out[PAYLOAD_BYTES] = { 0 }, in[PAYLOAD_BYTES];
    uint64_t roundtrips = 0;
    double start_s = bench_now_seconds(), elapsed_s = 0.0;
    bool ok = true;
    while (ok && elapsed_s < MEASURE_SECONDS) {
        for (unsigned batch = 0; ok && batch < 1024; batch++) {
            out[roundtrips % PAYLOAD_BYTES]++;
            ok = send(fds[0], out, sizeof(out), 0) == (ssize_t)sizeof(out) &&
                 recv(fds[1], in, sizeof(in), 0) == (ssize_t)sizeof(in) &&
                 send(fds[1], in, sizeof(in), 0) == (ssize_t)sizeof(in) &&
                 recv(fds[0], in, sizeof(in), 0) == (ssize_t)sizeof(in) &&
                 memcmp(in, out, sizeof(out)) == 0;
            roundtrips += ok ? 1 : 0;
        }
        elapsed_s = bench_now_seconds() - start_s;
    }
    close(fds[0]);
    close(fds[1]);
    if (!ok) {
        fprintf(stderr, "bench vmci: the socketpair reference failed\n");
        return 0.0;
    }
    return (double)roundtrips / elapsed_s;
}

static void remove_database(const char *path)
{
    static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
    char name[256];
    for (size_t index = 0; index < sizeof(suffixes) / sizeof(suffixes[0]); index++) {
        snprintf(name, sizeof(name), "%.200s%s", path, suffixes[index]);
        unlink(name);
    }
}

void bench_vmci(void)
{
    double sim_ns = 0.0;
    double untraced = run_untraced(&sim_ns);
    bench_report("vmci_dg_roundtrips", untraced, "roundtrips/s", socketpair_roundtrips(), 1.0);
    char dir[] = "/tmp/bench_vmci.XXXXXX";
    if (mkdtemp(dir) == NULL) {
        perror("bench vmci: mkdtemp");
        return;
    }
    char path[sizeof(dir) + 16];
    snprintf(path, sizeof(path), "%s/trace.db", dir);
    double traced = run_traced(path);
    remove_database(path);
    rmdir(dir);
    bench_report("vmci_dg_roundtrips_traced", traced, "roundtrips/s", untraced, 0.5);
    bench_report_value("vmci_dg_roundtrip_sim_ns", sim_ns, "ns");
}
