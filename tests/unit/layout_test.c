/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/layout_test.c: where a connection's state lives (issue 10, the fleet's
 * per-operation cost): a socket and its transport state in one block, the queue-pair
 * objects of vmci/ from vmci_line_calloc, the running data hashes with their state
 * inline, a queue pair's bookkeeping and rings in one block with each ring on a cache
 * line, and the prefetches that only start loads (they must leave every value alone,
 * and never touch an entry the endpoint's cache no longer vouches for), also those the
 * engine starts for the next resumes of a large world (a Lua process's coroutine). The
 * field orders themselves are checked at compile time (the _Static_asserts beside the
 * structures).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "sim/engine/trace.h"
#include "suites.h"
#include "test_support.h"
#include "vmci/queue_pair.h"
#include "vmci/vmci_int.h"
#include "vsock/core_int.h"
#include "vsock/vmci_stream_int.h"
#include "vsock_fixture.h"

#define PORT 7000u
#define MESSAGE_BYTES 200u

static bool all_zero(const uint8_t *bytes, size_t size_bytes)
{
    for (size_t index = 0; index < size_bytes; index++)
        if (bytes[index] != 0)
            return false;
    return true;
}

/* Sizes below, at and above a line: zeroed as far as asked, each its own block. */
static void test_line_calloc_is_zeroed(void)
{
    static const size_t sizes[] = { 1, 24, 63, 64, 65, 208, 640, 4096 };
    uint8_t *blocks[sizeof(sizes) / sizeof(sizes[0])];
    for (size_t n = 0; n < sizeof(sizes) / sizeof(sizes[0]); n++) {
        blocks[n] = vmci_line_calloc(sizes[n]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(blocks[n]);
        CU_ASSERT(all_zero(blocks[n], sizes[n]));
        memset(blocks[n], 0xA5, sizes[n]);      /* the whole size is writable (ASan) */
    }
    for (size_t n = 0; n < sizeof(sizes) / sizeof(sizes[0]); n++) {
        for (size_t other = 0; other < n; other++)
            CU_ASSERT(blocks[n] != blocks[other]);
        free(blocks[n]);
    }
    /* A block freed and asked for again comes back zeroed, whatever was written there. */
    uint8_t *again = vmci_line_calloc(208);
    CU_ASSERT_PTR_NOT_NULL_FATAL(again);
    CU_ASSERT(all_zero(again, 208));
    free(again);
}

/* Both ends of a stream, a fresh stream socket and a datagram socket: each socket's
 * transport state sits where sock_alloc puts it, after the socket, and holds init's
 * values. */
static void test_socket_and_transport_state_are_one_block(void)
{
    struct fixture *f = fixture_create();
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    int client_fd = -1, server_fd = -1;
    (void)connected_pair(f, &f->guest_a, &f->host, PORT, &client_fd, &server_fd);
    int fresh_fd = stream_socket(&f->guest_a);
    int dgram_fd = dgram_socket(&f->guest_a);
    struct vsock_sock *socks[] = {
        vs_socket_of(&f->guest_a, client_fd), vs_socket_of(&f->host, server_fd),
        vs_socket_of(&f->guest_a, fresh_fd), vs_socket_of(&f->guest_a, dgram_fd),
    };
    for (size_t n = 0; n < sizeof(socks) / sizeof(socks[0]); n++) {
        CU_ASSERT_PTR_NOT_NULL_FATAL(socks[n]);
        CU_ASSERT((uint8_t *)socks[n]->transport ==
                  (uint8_t *)socks[n] + VSOCK_SOCK_STATE_OFFSET_BYTES);
        CU_ASSERT(VSOCK_SOCK_STATE_OFFSET_BYTES >= sizeof(struct vsock_sock));
    }
    for (size_t n = 0; n < 2; n++) {                        /* the connected ends */
        struct vsock_stream *stream = socks[n]->transport;
        CU_ASSERT_PTR_NOT_NULL(stream->qpair);
        CU_ASSERT(stream->queue_size > 0);
    }
    struct vsock_stream *fresh = socks[2]->transport;       /* init's values, zero else */
    CU_ASSERT_PTR_NULL(fresh->qpair);
    ASSERT_U64_EQ(fresh->late_timer, SIM_EVENT_NONE);
    ASSERT_U64_EQ(fresh->write_notify_window, VSOCK_NOTIFY_WINDOW_STEP);
    ASSERT_U64_EQ(fresh->write_notify_min_window, VSOCK_NOTIFY_WINDOW_STEP);
    CU_ASSERT(vmci_handle_is_invalid(fresh->qp_handle));
    CU_ASSERT(!fresh->peer_waiting_read && !fresh->sent_waiting_read && !fresh->detach_subscribed);
    CU_ASSERT_EQUAL(vs_close(&f->guest_a, fresh_fd), 0);    /* freed as one block (ASan) */
    CU_ASSERT_EQUAL(vs_close(&f->guest_a, dgram_fd), 0);
    fixture_destroy(f);
}

/* Once used, each endpoint caches its broker entry as the lookup finds it, valid for the
 * current count of removals (what vmci_qpair_prefetch follows). */
static void test_queue_pair_caches_name_the_live_objects(void)
{
    struct fixture *f = fixture_create();
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    int client_fd = -1, server_fd = -1;
    (void)connected_pair(f, &f->guest_a, &f->host, PORT, &client_fd, &server_fd);
    struct vsock_sock *ends[] = { vs_socket_of(&f->guest_a, client_fd),
                                  vs_socket_of(&f->host, server_fd) };
    for (size_t n = 0; n < 2; n++) {
        CU_ASSERT_PTR_NOT_NULL_FATAL(ends[n]);
        struct vmci_qpair *qpair = ((struct vsock_stream *)ends[n]->transport)->qpair;
        CU_ASSERT_PTR_NOT_NULL_FATAL(qpair);
        CU_ASSERT(vmci_qpair_produce_free_space(qpair) > 0);    /* fills the cache */
        struct vmci_qp_entry *entry = vmci__broker_find(f->world->hypervisor, qpair->handle);
        CU_ASSERT_PTR_NOT_NULL_FATAL(entry);
        CU_ASSERT(qpair->entry == entry);
        CU_ASSERT(qpair->entry_removals == f->world->hypervisor->queue_pair_removals);
        CU_ASSERT_PTR_NOT_NULL(entry->memory);
    }
    fixture_destroy(f);
}

/* Bytes through one stream, with prefetches of both ends between the calls, and after
 * another pair's entry was freed (the endpoints' entry caches are stale then: the
 * prefetch must leave the entry alone, the next operation looks it up again). */
static void test_prefetch_changes_nothing_and_skips_stale_entries(void)
{
    struct fixture *f = fixture_create();
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    int client_fd = -1, server_fd = -1, other_client = -1, other_server = -1;
    (void)connected_pair(f, &f->guest_a, &f->host, PORT, &client_fd, &server_fd);
    (void)connected_pair(f, &f->guest_b, &f->host, PORT + 1, &other_client, &other_server);
    struct vsock_sock *client = vs_socket_of(&f->guest_a, client_fd);
    struct vsock_sock *server = vs_socket_of(&f->host, server_fd);
    CU_ASSERT_PTR_NOT_NULL_FATAL(client);
    CU_ASSERT_PTR_NOT_NULL_FATAL(server);
    struct vmci_qpair *qpair = ((struct vsock_stream *)client->transport)->qpair;
    uint8_t out[MESSAGE_BYTES], in[MESSAGE_BYTES];
    for (uint32_t round = 0; round < 3; round++) {
        if (round == 1) {                       /* free the other pair's entry */
            uint64_t removals = f->world->hypervisor->queue_pair_removals;
            CU_ASSERT_EQUAL(vs_close(&f->guest_b, other_client), 0);
            CU_ASSERT_EQUAL(vs_close(&f->host, other_server), 0);
            run_idle(f);
            CU_ASSERT(f->world->hypervisor->queue_pair_removals > removals);
            CU_ASSERT(qpair->entry_removals != f->world->hypervisor->queue_pair_removals);
            vmci_qpair_prefetch(qpair);         /* stale: returns before the entry */
        }
        stream_fill(out, round * MESSAGE_BYTES, MESSAGE_BYTES);
        vsock__prefetch(client);
        vsock__prefetch(server);
        ASSERT_RETURNS(vs_send(&f->guest_a, client_fd, out, sizeof(out), 0), MESSAGE_BYTES);
        run_idle(f);
        vsock__prefetch(server);
        memset(in, 0, sizeof(in));
        ASSERT_RETURNS(vs_recv(&f->host, server_fd, in, sizeof(in), 0), MESSAGE_BYTES);
        CU_ASSERT_EQUAL(memcmp(in, out, sizeof(in)), 0);
        CU_ASSERT(qpair->entry_removals == f->world->hypervisor->queue_pair_removals);
    }
    fixture_destroy(f);
}

/* The running hash with its state inline: pieces, shares and clones give the one-shot
 * hash of the same bytes; a prefetch changes no value. */
static void test_data_stream_inline_state(void)
{
    uint8_t bytes[1000];
    for (size_t index = 0; index < sizeof(bytes); index++)
        bytes[index] = (uint8_t)(index * 7u + 3u);
    struct sim_data_stream *stream = sim_data_stream_create();
    CU_ASSERT_PTR_NOT_NULL_FATAL(stream);
    ASSERT_U64_EQ(sim_data_stream_value(stream), sim_data_hash(NULL, 0));
    struct sim_data_stream *shared = sim_data_stream_share(stream);
    CU_ASSERT(shared == stream);
    size_t done = 0;
    static const size_t pieces[] = { 1, 63, 64, 200, 300, 372 };
    for (size_t n = 0; n < sizeof(pieces) / sizeof(pieces[0]); n++) {
        sim_data_stream_prefetch(stream);
        sim_data_stream_update(n % 2 == 0 ? stream : shared, bytes + done, pieces[n]);
        done += pieces[n];
        ASSERT_U64_EQ(sim_data_stream_value(stream), sim_data_hash(bytes, done));
    }
    CU_ASSERT_EQUAL(done, sizeof(bytes));
    struct sim_data_stream *clone = sim_data_stream_clone(stream);
    CU_ASSERT_PTR_NOT_NULL_FATAL(clone);
    sim_data_stream_update(clone, bytes, 10);
    ASSERT_U64_EQ(sim_data_stream_value(stream), sim_data_hash(bytes, sizeof(bytes)));
    CU_ASSERT(sim_data_stream_value(clone) != sim_data_stream_value(stream));
    sim_data_stream_destroy(clone);
    sim_data_stream_destroy(shared);            /* one owner left */
    ASSERT_U64_EQ(sim_data_stream_value(stream), sim_data_hash(bytes, sizeof(bytes)));
    sim_data_stream_destroy(stream);
}

/* A queue pair's memory is one block: each ring starts on a cache line after the
 * bookkeeping, the two rings do not overlap, a zero-sized queue has none, and every byte
 * of both rings can be written and read back (under ASan, a red zone follows each ring). */
static void test_queue_pair_rings_share_one_block(void)
{
    static const uint64_t sizes[][2] = { { 4096, 4096 }, { 1, 1 }, { 63, 65 }, { 1000, 3 },
                                         { 0, 100 }, { 100, 0 }, { 262144, 262144 } };
    const struct vmci_handle handle = { 100, 200 };
    for (size_t shape = 0; shape < sizeof(sizes) / sizeof(sizes[0]); shape++) {
        struct vmci_qp_memory *memory = NULL;
        CU_ASSERT_EQUAL_FATAL(vmci_qp_memory_create(handle, sizes[shape][0], sizes[shape][1],
                                                    &memory), VMCI_SUCCESS);
        uintptr_t bookkeeping_end = (uintptr_t)(memory + 1);
        uintptr_t previous_end = bookkeeping_end;
        for (uint32_t index = 0; index < 2; index++) {
            struct vmci_queue *queue = &memory->queues[index];
            ASSERT_U64_EQ(queue->size_bytes, sizes[shape][index]);
            if (sizes[shape][index] == 0) {
                CU_ASSERT_PTR_NULL(queue->ring);
                continue;
            }
            CU_ASSERT_PTR_NOT_NULL_FATAL(queue->ring);
            uintptr_t start = (uintptr_t)queue->ring;
            CU_ASSERT_EQUAL(start % VMCI_CACHE_LINE_BYTES, 0);
            CU_ASSERT(start >= previous_end);
            /* at most: a line to align the first ring, the first ring rounded up to a
             * line, and under ASan the poisoned line behind it */
            CU_ASSERT(start - bookkeeping_end < 3 * VMCI_CACHE_LINE_BYTES + sizes[shape][0]);
            previous_end = start + sizes[shape][index];
            uint8_t *span = vmci_queue_ring_span(queue, 0, queue->size_bytes);
            CU_ASSERT(span == queue->ring);
            CU_ASSERT(all_zero(span, (size_t)queue->size_bytes));     /* R81 */
            memset(span, 0x5A + (int)index, (size_t)queue->size_bytes);
        }
        for (uint32_t index = 0; index < 2; index++) {      /* neither write hit the other */
            struct vmci_queue *queue = &memory->queues[index];
            for (uint64_t offset = 0; offset < queue->size_bytes; offset++)
                if (queue->ring[offset] != 0x5A + index)
                    CU_FAIL_FATAL("a ring's bytes were overwritten by the other ring");
        }
        CU_ASSERT(vmci_handle_equal(vmci_queue_handle(&memory->queues[0]), handle));
        CU_ASSERT(vmci_handle_equal(vmci_queue_handle(&memory->queues[1]), handle));
        vmci_qp_memory_destroy(memory);
    }
}

/* A world large enough for the engine to prefetch the next resumes (more than
 * SIM_PREFETCH_PENDING_MIN, 1 024, events pending): 1 200 Lua processes sleep three times
 * in step, kill and join some (so prefetched processes end while others are pending), and
 * every one wakes in spawn order at the expected times: the prefetches of their coroutines
 * change nothing (under ASan, they read only live processes). */
static void test_large_world_prefetches_change_nothing(void)
{
    test_expect_lua_source_passes(
        "local sim = require('vmcisim')\n"
        "local w = sim.world{ limits = { processes = 1300 } }\n"
        "local h = w:host()\n"
        "local order, count, wrong = {}, 1200, 0\n"
        "local procs = {}\n"
        "for n = 1, count do\n"
        "  procs[n] = h:spawn('sleeper' .. n, function(p)\n"
        "    for round = 1, 3 do\n"
        "      p:sleep(10)\n"
        "      if w.now ~= 10 * round then wrong = wrong + 1 end\n"
        "      order[#order + 1] = n\n"
        "    end\n"
        "  end)\n"
        "end\n"
        "h:spawn('killer', function(p)\n"
        "  p:sleep(15)\n"
        "  for n = 2, count, 100 do procs[n]:kill() end\n"
        "  p:join(procs[1])\n"
        "end)\n"
        "local r = w:run()\n"
        "sim.expect(r.stopped == 'idle', r.stopped)\n"
        "sim.expect(wrong == 0, wrong .. ' wake-ups at the wrong time')\n"
        "local killed = 0\n"
        "for n = 2, count, 100 do killed = killed + 1 end\n"
        "sim.expect(#order == 3 * count - 2 * killed, #order .. ' wake-ups')\n"
        "local bad = 0\n"
        "for i = 1, count do if order[i] ~= i then bad = bad + 1 end end\n"
        "sim.expect(bad == 0, bad .. ' first-round wake-ups out of spawn order')\n");
}

/* The same with sockets: 640 streams from 8 guests to one echo service (1 281 processes),
 * two 64-byte rounds each, so that blocked calls name their state to the engine's
 * prefetch (sim_process.prefetch_hints) while more than SIM_PREFETCH_PENDING_MIN events
 * are pending: every answer is its request, every stream finishes. */
static void test_large_world_socket_prefetches_change_nothing(void)
{
    test_expect_lua_source_passes(
        "local sim = require('vmcisim')\n"
        "local guests, per_guest = 8, 80\n"
        "local streams = guests * per_guest\n"
        "local w = sim.world{ limits = { processes = 2 * streams + 16,\n"
        "  sockets = 2 * streams + 16, event_subscriptions = streams + 16,\n"
        "  backlog = streams } }\n"
        "local finished = 0\n"
        "w:host():spawn('service', function(p)\n"
        "  local l = assert(p:socket('stream'))\n"
        "  assert(l:setsockopt('buffer_size', 4096))\n"
        "  assert(l:bind(sim.CID_ANY, 7000))\n"
        "  assert(l:listen(streams))\n"
        "  local echoes = {}\n"
        "  for n = 1, streams do\n"
        "    local conn = assert(l:accept())\n"
        "    echoes[n] = w:host():spawn('echo' .. n, function()\n"
        "      for _ = 1, 2 do assert(conn:send(assert(conn:recv(64, 'waitall')))) end\n"
        "      conn:close()\n"
        "    end)\n"
        "  end\n"
        "  for _, echo in ipairs(echoes) do p:join(echo) end\n"
        "  l:close()\n"
        "end)\n"
        "for g = 1, guests do\n"
        "  local vm = w:vm{ name = 'guest' .. g }\n"
        "  for c = 1, per_guest do\n"
        "    vm:spawn('client' .. c, function(p)\n"
        "      p:sleep(sim.us(10))\n"
        "      local s = assert(p:socket('stream'))\n"
        "      assert(s:setsockopt('buffer_size', 4096))\n"
        "      assert(s:connect(sim.CID_HOST, 7000))\n"
        "      for r = 1, 2 do\n"
        "        local request = sim.pattern(g * 1000 + c, r * 64, 64)\n"
        "        assert(s:send(request))\n"
        "        sim.expect(assert(s:recv(64, 'waitall')) == request, 'echo')\n"
        "      end\n"
        "      s:close()\n"
        "      finished = finished + 1\n"
        "    end)\n"
        "  end\n"
        "end\n"
        "sim.expect(w:run().stopped == 'idle', 'idle')\n"
        "sim.expect(finished == streams, finished .. ' streams finished')\n");
}

CU_ErrorCode layout_suite_add(void)
{
    static const struct test_entry tests[] = {
        TEST_ENTRY(test_line_calloc_is_zeroed),
        TEST_ENTRY(test_socket_and_transport_state_are_one_block),
        TEST_ENTRY(test_queue_pair_caches_name_the_live_objects),
        TEST_ENTRY(test_prefetch_changes_nothing_and_skips_stale_entries),
        TEST_ENTRY(test_data_stream_inline_state),
        TEST_ENTRY(test_queue_pair_rings_share_one_block),
        TEST_ENTRY(test_large_world_prefetches_change_nothing),
        TEST_ENTRY(test_large_world_socket_prefetches_change_nothing),
    };
    return test_suite_register("layout", tests, sizeof(tests) / sizeof(tests[0]));
}
