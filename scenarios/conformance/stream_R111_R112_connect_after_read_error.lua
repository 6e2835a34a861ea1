-- SPDX-License-Identifier: MIT
-- scenarios/conformance/stream_R111_R112_connect_after_read_error.lua: a blocking connect()
-- on a socket whose non-blocking attempt already failed, and whose error was read, ends
-- with ETIMEDOUT after the connect timeout (R111, R112, R113, R114).
--
-- The guest's non-blocking connect to a host port without a listener is reset (R168,
-- R212): the socket stays SS_CONNECTING with its error pending (state table, R113), so a
-- second non-blocking connect() gives EALREADY (R111). Reading the error (SO_ERROR) clears
-- it; a blocking connect() then has no handshake left to wait for. The reference is
-- silent on this case; Linux (af_vsock.c vsock_connect) waits connect_timeout with
-- sk_state TCP_CLOSE and sk_err 0 and returns ETIMEDOUT, leaving SS_UNCONNECTED, so the
-- socket can connect again (to a port that listens now).
local sim = require("vmcisim")
local w = sim.world{ product = "esxi-6.5" }
local host = w:host()
local guest = w:vm{ name = "guest1" }
local PORT, NOBODY = 6000, 6001
local finished = false

host:spawn("server", function(p)
  local listener = assert(p:socket("stream"))
  assert(listener:bind(sim.CID_ANY, PORT))
  assert(listener:listen(4))
  local conn = assert(listener:accept())
  sim.expect(conn:recv(16) == "hello", "the retried connection carries bytes")
end)

guest:spawn("client", function(p)
  local s = assert(p:socket("stream"))
  assert(s:setblocking(false))
  local ok, err = s:connect(sim.CID_HOST, NOBODY)
  sim.expect(ok == nil and err == "EINPROGRESS", "non-blocking connect: EINPROGRESS")
  p:poll({ { s, "w" } }, sim.s(1))
  ok, err = s:connect(sim.CID_HOST, NOBODY)
  sim.expect(ok == nil and err == "EALREADY", "again while the failure is unread: EALREADY")
  sim.expect(s:getsockopt("error") == "ECONNRESET", "the attempt was reset (R212)")
  sim.expect(s:getsockopt("error") == nil, "reading the error cleared it")
  assert(s:setblocking(true))
  local started = w.now
  ok, err = s:connect(sim.CID_HOST, NOBODY)
  sim.expect(ok == nil and err == "ETIMEDOUT", "blocking connect with nothing to wait for: ETIMEDOUT, got " .. tostring(err))
  sim.expect(w.now - started >= sim.s(2), "after the 2 s connect timeout (R114)")
  sim.expect(s:state() == "unconnected", "left unconnected (R112)")
  sim.expect(s:connect(sim.CID_HOST, PORT) == true, "the socket connects again")
  sim.expect(s:send("hello") == 5, "and sends")
  finished = true
end)

w:run{}
sim.expect(finished, "the client reached its end")
