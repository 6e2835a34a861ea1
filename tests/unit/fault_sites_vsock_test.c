/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/fault_sites_vsock_test.c: the fault sites of the vSockets layer (vsock/,
 * docs/faults.md), each made to fire at every reach.
 *
 * Every test runs one small Lua world twice with only its site allowed and enabled:
 * `fire = 1` (the site fires whenever the model reaches it) and `fire = 0` (reached, never
 * fired). The scenario checks, through what an application sees (an errno, a count, the
 * simulated time an event took), that the firing run shows the site's effect and the other
 * run does not; either check failing fails the run. So every expectation can fail: a site
 * that never fires fails its `fire = 1` run, a site that fires unasked fails `fire = 0`.
 */
#include <stdio.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "sim/lua/runtime.h"
#include "suites.h"
#include "test_support.h"

#define SOURCE_BYTES_MAX 8192

/* Runs `body` (which calls w:run() and checks) in a world whose only allowed fault site is
 * `site`, enabled, firing with probability `fire` (0 or 1); FIRE is true in the first. */
static void run_site(const char *site, int fire, const char *body)
{
    static char source[SOURCE_BYTES_MAX];
    int written = snprintf(source, sizeof(source),
                           "local sim = require('vmcisim')\n"
                           "local FIRE = %d == 1\n"
                           "local w = sim.world{ product = 'esxi-6.5', faults = { sites = "
                           "{ '%s' }, enable = 1, fire = %d } }\n"
                           "local g = w:vm{ name = 'g1' }\n"
                           "%s",
                           fire, site, fire, body);
    CU_ASSERT_FATAL(written > 0 && (size_t)written < sizeof(source));
    struct simlua_outcome outcome;
    test_run_lua_source(source, &outcome);
    if (outcome.exit_code != SIMLUA_EXIT_PASS)
        fprintf(stderr, "site %s with fire = %d: the scenario failed\n", site, fire);
    CU_ASSERT_EQUAL(outcome.exit_code, SIMLUA_EXIT_PASS);
    CU_ASSERT_TRUE(outcome.world_created);
    CU_ASSERT_STRING_EQUAL(outcome.stopped, "idle");
}

static void check_site(const char *site, const char *body)
{
    run_site(site, 1, body);
    run_site(site, 0, body);
}

/* A host listener on port 5000 whose accept waits at most 300 ms, and a guest client. */
#define REFUSED_CONNECT                                                                      \
    "w:host():spawn('server', function(p)\n"                                                 \
    "  local l = assert(p:socket('stream')); assert(l:bind(sim.CID_ANY, 5000))\n"            \
    "  assert(l:listen(4)); assert(l:setsockopt('rcvtimeo', sim.ms(300)))\n"                 \
    "  local c, err = l:accept()\n"                                                          \
    "  if FIRE then sim.expect(c == nil and err == 'EAGAIN', 'nothing accepted: ' ..\n"       \
    "    tostring(err)) else sim.expect(c ~= nil, 'accepted') end\n"                         \
    "  p:sleep(sim.ms(10))\n"                 /* the listener stays for the second try */ \
    "end)\n"                                                                                 \
    "g:spawn('client', function(p)\n"                                                        \
    "  p:sleep(sim.us(100))\n"                                                               \
    "  local s = assert(p:socket('stream'))\n"                                               \
    "  local ok, err = s:connect(sim.CID_HOST, 5000)\n"                                      \
    "  if FIRE then sim.expect(not ok and err == 'ECONNRESET', 'reset: ' .. tostring(err))\n" \
    "  else sim.expect(ok, 'connected: ' .. tostring(err)) end\n"                            \
    "  local again = assert(p:socket('stream'))\n"     /* a second try meets the same */     \
    "  ok, err = again:connect(sim.CID_HOST, 5000)\n"                                        \
    "  sim.expect((not ok) == FIRE, 'the second connect too: ' .. tostring(err))\n"          \
    "end)\n"                                                                                 \
    "w:run()\n"

/* R166: the server's attach fails, it answers the OFFER with RST: ECONNRESET. */
static void test_qp_attach_failed_resets_the_handshake(void)
{
    check_site("qp_attach_failed", REFUSED_CONNECT);
}

/* R110 then R162: the child expired, the OFFER reaches the listener, which resets it. */
static void test_half_open_expired_resets_the_handshake(void)
{
    check_site("half_open_expired", REFUSED_CONNECT);
}

/* The ENOMEM path of a listener's child creation: an RST at once. */
static void test_listener_nomem_refuses_with_rst(void)
{
    check_site("listener_nomem", REFUSED_CONNECT);
}

/* A server, accepting one connection and reading it to the end, and a client connected
 * to it; the scenario fills in what each does. */
#define CONNECTED(server_after_accept, client_after_connect, checks)                         \
    "local t = {}\n"                                                                         \
    "w:host():spawn('server', function(p)\n"                                                 \
    "  local l = assert(p:socket('stream')); assert(l:bind(sim.CID_ANY, 5000))\n"            \
    "  assert(l:listen(4))\n"                                                                \
    "  local c = assert(l:accept()); t.accepted = w.now\n"                                   \
    server_after_accept                                                                      \
    "  c:close()\n"                                                                          \
    "end)\n"                                                                                 \
    "g:spawn('client', function(p)\n"                                                        \
    "  p:sleep(sim.us(100))\n"                                                               \
    "  local s = assert(p:socket('stream'))\n"                                               \
    "  assert(s:connect(sim.CID_HOST, 5000)); t.connected = w.now\n"                         \
    client_after_connect                                                                     \
    "  s:close()\n"                                                                          \
    "end)\n"                                                                                 \
    "w:run()\n"                                                                              \
    checks

/* The server reads until EOF, counting bytes into t.received. */
#define READ_TO_EOF                                                                          \
    "  t.received = 0\n"                                                                     \
    "  while true do\n"                                                                      \
    "    local d = assert(c:recv(65536)); if #d == 0 then break end\n"                       \
    "    t.received = t.received + #d\n"                                                     \
    "  end\n"                                                                                \
    "  t.eof = w.now\n"

/* The time from a to b is at least 2 ms (the shortest fault delay) when firing, under
 * 1 ms otherwise. */
#define LATE_WHEN_FIRING(a, b)                                                               \
    "local took = t." b " - t." a "\n"                                                       \
    "if FIRE then sim.expect(took >= sim.ms(2), 'late: ' .. took)\n"                         \
    "else sim.expect(took < sim.ms(1), 'on time: ' .. took) end\n"

/* R113: the answer comes after the connect timer: ETIMEDOUT at the timeout. */
static void test_connect_answer_late_times_the_connect_out(void)
{
    check_site("connect_answer_late",
               "w:host():spawn('server', function(p)\n"
               "  local l = assert(p:socket('stream')); assert(l:bind(sim.CID_ANY, 5000))\n"
               "  assert(l:listen(4)); assert(l:setsockopt('rcvtimeo', sim.ms(300)))\n"
               "  local c, err = l:accept()\n"
               "  sim.expect((c == nil) == FIRE, 'accepted only on time: ' .. tostring(err))\n"
               "end)\n"
               "g:spawn('client', function(p)\n"
               "  p:sleep(sim.us(100))\n"
               "  local s = assert(p:socket('stream'))\n"
               "  assert(s:setsockopt('connect_timeout', sim.ms(100)))\n"
               "  local started = w.now\n"
               "  local ok, err = s:connect(sim.CID_HOST, 5000)\n"
               "  if FIRE then sim.expect(not ok and err == 'ETIMEDOUT' and\n"
               "    w.now - started >= sim.ms(100), 'timed out: ' .. tostring(err))\n"
               "  else sim.expect(ok and w.now - started < sim.ms(1), 'connected') end\n"
               "end)\n"
               "w:run()\n");
}

/* R174, R169: the peer's EOF comes 2-64 ms after the shutdown. */
static void test_shutdown_late_delays_the_eof(void)
{
    check_site("shutdown_late",
               CONNECTED(READ_TO_EOF,
                         "  p:sleep(sim.ms(1)); t.shut = w.now; assert(s:shutdown('w'))\n"
                         "  p:sleep(sim.ms(100))\n",
                         LATE_WHEN_FIRING("shut", "eof")));
}

/* A socket closed while it holds back a SHUTDOWN drops it: the detach ends the connection
 * all the same (the peer reads every byte, then EOF), nothing is left pending, and the
 * world ends idle. */
static void test_shutdown_late_dropped_by_close(void)
{
    check_site("shutdown_late",
               CONNECTED(READ_TO_EOF,
                         "  assert(s:send('abc')); p:sleep(sim.ms(1)); assert(s:shutdown('w'))\n",
                         "sim.expect(t.received == 3, 'every byte before the EOF')\n"));
}

/* R176, R179: the blocked reader wakes 2-64 ms after the write. */
static void test_wrote_late_delays_the_reader(void)
{
    check_site("wrote_late",
               CONNECTED("  local d = assert(c:recv(100)); t.read = w.now\n"
                         "  sim.expect(d == 'x', 'the byte')\n",
                         "  p:sleep(sim.ms(5)); t.sent = w.now; assert(s:send('x'))\n"
                         "  p:sleep(sim.ms(100))\n",
                         LATE_WHEN_FIRING("sent", "read")));
}

/* A guest powered off while suspended, its socket holding back a late WROTE (frozen with
 * the guest): the close at power-off drops the packet and cancels its timer, so nothing
 * fires on freed memory. The host sees the suspend's detach as EOF (R206, R171); its byte,
 * unread when the WROTE was held back, is lost with the detach as R171 says for a host. */
static void test_late_packet_of_a_guest_powered_off_while_suspended(void)
{
    check_site("wrote_late",
               "local t = {}\n"
               "w:host():spawn('server', function(p)\n"
               "  local l = assert(p:socket('stream')); assert(l:bind(sim.CID_ANY, 5000))\n"
               "  assert(l:listen(4))\n"
               "  local c = assert(l:accept())\n"
               READ_TO_EOF
               "end)\n"
               "g:spawn('client', function(p)\n"
               "  p:sleep(sim.us(100))\n"
               "  local s = assert(p:socket('stream'))\n"
               "  assert(s:connect(sim.CID_HOST, 5000)); assert(s:send('x'))\n"
               "  p:sleep(sim.ms(500))\n"
               "end)\n"
               "w:at(sim.ms(1), function() g:suspend() end)\n"
               "w:at(sim.ms(2), function() g:power_off() end)\n"
               "w:run()\n"
               "sim.expect(t.received == (FIRE and 0 or 1), 'the byte read unless its WROTE '\n"
               "  .. 'was held back: ' .. tostring(t.received))\n"
               "sim.expect(t.eof ~= nil and t.eof >= sim.ms(1), 'EOF at the suspend')\n");
}

/* R177, R179: a writer blocked on a full queue (4 KiB) resumes 2-64 ms after the reader
 * made room. */
static void test_read_late_delays_the_blocked_writer(void)
{
    check_site("read_late",
               "local t = {}\n"
               "w:host():spawn('server', function(p)\n"
               "  local l = assert(p:socket('stream')); assert(l:bind(sim.CID_ANY, 5000))\n"
               "  assert(l:listen(4))\n"
               "  local c = assert(l:accept())\n"
               "  p:sleep(sim.ms(10)); t.read = w.now\n"
               READ_TO_EOF
               "  sim.expect(t.received == 8192, 'every byte')\n"
               "  c:close()\n"
               "end)\n"
               "g:spawn('client', function(p)\n"
               "  p:sleep(sim.us(100))\n"
               "  local s = assert(p:socket('stream'))\n"
               "  assert(s:setsockopt('buffer_size', 4096))\n"
               "  assert(s:connect(sim.CID_HOST, 5000))\n"
               "  assert(s:send(string.rep('a', 8192)) == 8192); t.sent = w.now\n"
               "  s:close()\n"
               "end)\n"
               "w:run()\n"
               LATE_WHEN_FIRING("read", "sent"));
}

/* R117: a send that may not wait returns half of its bytes, as when the queue fills. */
static void test_send_short_returns_half(void)
{
    check_site("send_short",
               CONNECTED(READ_TO_EOF,
                         "  t.sent = assert(s:send(string.rep('b', 1001), 'dontwait'))\n"
                         "  t.blocking = assert(s:send('cd'))\n"    /* blocking: whole */
                         "  p:sleep(sim.ms(10))\n",
                         "local want = FIRE and 501 or 1001\n"
                         "sim.expect(t.sent == want, 'sent ' .. t.sent)\n"
                         "sim.expect(t.blocking == 2, 'a blocking send is never short')\n"
                         "sim.expect(t.received == want + 2, 'received what was sent')\n"));
}

/* R121: a recv takes half of what is ready; the rest stays readable, in order. */
static void test_recv_short_returns_half_of_ready(void)
{
    check_site("recv_short",
               CONNECTED("  p:sleep(sim.ms(10))\n"
                         "  local d = assert(c:recv(4096)); t.first = #d\n"
                         "  local all = d\n"
                         "  while #all < 1000 do all = all .. assert(c:recv(4096)) end\n"
                         "  sim.expect(all == sim.pattern(1, 0, 1000), 'in order')\n",
                         "  assert(s:send(sim.pattern(1, 0, 1000))); p:sleep(sim.ms(100))\n",
                         "sim.expect(t.first == (FIRE and 500 or 1000), 'first ' .. t.first)\n"));
}

/* accept() returns 2-64 ms after the connection was established. */
static void test_accept_slow_delays_accept(void)
{
    check_site("accept_slow",
               CONNECTED("", "  p:sleep(sim.ms(100))\n",
                         "local took = t.accepted - t.connected\n"
                         "if FIRE then sim.expect(took >= sim.ms(1), 'slow: ' .. took)\n"
                         "else sim.expect(took < sim.ms(1), 'at once: ' .. took) end\n"));
}

/* R186: a datagram to a VM refused with ENOBUFS; one to the host is never refused. */
static void test_dgram_send_nobufs_refuses_datagrams_to_vms(void)
{
    check_site("dgram_send_nobufs",
               "w:host():spawn('host', function(p)\n"
               "  local h = assert(p:socket('dgram')); assert(h:bind(sim.CID_ANY, 6001))\n"
               "  local up = assert(h:recvfrom(64)); sim.expect(up == 'up', 'up arrived')\n"
               "  local ok, err = h:sendto('down', g.cid, 6000)\n"
               "  if FIRE then sim.expect(not ok and err == 'ENOBUFS', 'refused: ' ..\n"
               "    tostring(err)) else sim.expect(ok == 4, 'sent') end\n"
               "end)\n"
               "g:spawn('guest', function(p)\n"
               "  local d = assert(p:socket('dgram')); assert(d:bind(sim.CID_ANY, 6000))\n"
               "  assert(d:setsockopt('rcvtimeo', sim.ms(50)))\n"
               "  p:sleep(sim.us(100)); assert(d:sendto('up', sim.CID_HOST, 6001))\n"
               "  local down = d:recvfrom(64)\n"
               "  sim.expect((down == nil) == FIRE, 'down only when not refused')\n"
               "end)\n"
               "w:run()\n");
}

/* R120 (protocol site): a 128-byte queue pair makes a 200-byte MSG_WAITALL recv fail with
 * ENOMEM; the bytes still arrive through ordinary recvs. */
static void test_qp_size_minimum_negotiates_128_bytes(void)
{
    check_site("qp_size_minimum",
               CONNECTED("  assert(c:send(sim.pattern(2, 0, 200)))\n"
                         "  p:sleep(sim.ms(10))\n",
                         "  p:sleep(sim.ms(1))\n"
                         "  local d, err = s:recv(200, 'waitall')\n"
                         "  if FIRE then sim.expect(d == nil and err == 'ENOMEM', 'ENOMEM: ' ..\n"
                         "    tostring(err)); d = '' end\n"
                         "  while #d < 200 do d = d .. assert(s:recv(200)) end\n"
                         "  sim.expect(d == sim.pattern(2, 0, 200), 'every byte')\n",
                         ""));
}

CU_ErrorCode fault_sites_vsock_suite_add(void)
{
    static const struct test_entry tests[] = {
        TEST_ENTRY(test_qp_attach_failed_resets_the_handshake),
        TEST_ENTRY(test_half_open_expired_resets_the_handshake),
        TEST_ENTRY(test_listener_nomem_refuses_with_rst),
        TEST_ENTRY(test_connect_answer_late_times_the_connect_out),
        TEST_ENTRY(test_shutdown_late_delays_the_eof),
        TEST_ENTRY(test_shutdown_late_dropped_by_close),
        TEST_ENTRY(test_wrote_late_delays_the_reader),
        TEST_ENTRY(test_read_late_delays_the_blocked_writer),
        TEST_ENTRY(test_late_packet_of_a_guest_powered_off_while_suspended),
        TEST_ENTRY(test_send_short_returns_half),
        TEST_ENTRY(test_recv_short_returns_half_of_ready),
        TEST_ENTRY(test_accept_slow_delays_accept),
        TEST_ENTRY(test_dgram_send_nobufs_refuses_datagrams_to_vms),
        TEST_ENTRY(test_qp_size_minimum_negotiates_128_bytes),
    };
    return test_suite_register("fault_sites_vsock", tests, sizeof(tests) / sizeof(tests[0]));
}
