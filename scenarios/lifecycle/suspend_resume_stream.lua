-- scenarios/lifecycle/suspend_resume_stream.lua: a stream across a suspend and a resume.
-- R205: suspending the guest detaches its queue pairs: the host's connected socket sees
--       end of stream, then EPIPE on send (R171) -- never ECONNRESET; the context is gone,
--       so a host datagram to its CID fails (DST_UNREACHABLE -> EINVAL, R56/R204) and is
--       lost; nothing runs in the guest while it is suspended.
-- R206: on resume the CID of vmci0.id comes back (nothing took it); the guest comes back
--       when it takes the resume's interrupt (interrupt_ns later) and catches up then (a
--       sleep that fell due meanwhile ends exactly then, after QP_RESUMED); QP_RESUMED ends
--       the guest's established stream as R171 does: the bytes already in its consume queue
--       stay readable, then "" (EOF), then send gives EPIPE; a guest datagram socket
--       survives; a new connection works at once.
-- Exact times: suspend at 1 ms, resume at 5 ms; the host sees EOF at 1 ms + route_ns; the
-- guest is back at 5 ms + interrupt_ns; a 300 us ticker in the guest ticks at 0.3/0.6/0.9
-- ms, then (due 1.2 ms) at 5 ms + interrupt_ns, then 300 us apart.
local sim = require("vmcisim")
local w = sim.world{}
local host = w:host()
local guest = w:vm{ name = "guest1", vmx = { ["vmci0.id"] = "3000" } }

local SUSPEND_AT, RESUME_AT = sim.ms(1), sim.ms(5)
local ROUTE_NS = 300           -- docs/cost-model.md route_ns: QP_PEER_DETACH reaches the host
local INTERRUPT_NS = 2000      -- docs/cost-model.md interrupt_ns: the guest takes the resume's
local BACK_AT = RESUME_AT + INTERRUPT_NS   -- interrupt, then runs again
local host_saw_eof_at = nil
local guest_woke_at = nil
local guest_done = false

host:spawn("server", function(p)
  local l = assert(p:socket("stream"))
  assert(l:bind(sim.CID_ANY, 5000)); assert(l:listen(4))
  local c, peer_cid = assert(l:accept())
  sim.expect(peer_cid == 3000, "peer CID 3000: " .. tostring(peer_cid))
  assert(c:send("queued-before-suspend") == 21)
  -- Blocks until the suspend detaches the queue pair (R205).
  local eof = c:recv(100)
  host_saw_eof_at = w.now
  sim.expect(eof == "", "R205: the host sees end of stream: " .. tostring(eof))
  sim.expect(w.now == SUSPEND_AT + ROUTE_NS, "R205: at the suspend (+ route_ns): " .. w.now)
  sim.expect(guest.state == "suspended", "state while suspended: " .. guest.state)
  local ok, name = c:send("anyone?")
  sim.expect(ok == nil and name == "EPIPE", "R205/R171: send: EPIPE, not ECONNRESET: " .. tostring(name))
  sim.expect(c:recv(100) == "", "R171: still end of stream")
  sim.expect(c:getsockopt("error") == nil, "R205: no pending error (no reset)")
  c:close()
  -- Datagrams to a suspended VM: its context is gone (R205, R206: lost).
  local d = assert(p:socket("dgram"))
  local sent, err = d:sendto("lost", 3000, 7000)
  sim.expect(sent == nil and err == "EINVAL", "R205/R56: datagram to a suspended VM: " .. tostring(err))
  -- After the resume: a new connection (R206) and a datagram to the surviving socket.
  local again, again_cid = assert(l:accept())
  sim.expect(w.now >= RESUME_AT, "the new connection comes after the resume")
  sim.expect(again_cid == 3000, "R206: the same CID: " .. tostring(again_cid))
  sim.expect(again:recv(5) == "again", "R206: a new connection works after resume")
  assert(again:send("ok") == 2)
  assert(d:sendto("after", 3000, 7000) == 5)
  sim.expect(again:recv(10) == "", "the guest closes the new connection")
end)

guest:spawn("client", function(p)
  local d = assert(p:socket("dgram"))
  assert(d:bind(sim.CID_ANY, 7000))
  local s = assert(p:socket("stream"))
  assert(s:connect(sim.CID_HOST, 5000))
  sim.expect(w.now < SUSPEND_AT, "connected before the suspend: " .. w.now)
  -- Sleep until 3 ms: due while the guest is suspended, so it ends at the resume.
  p:sleep(sim.ms(3) - w.now)
  guest_woke_at = w.now
  sim.expect(w.now == BACK_AT, "R205/R206: the sleep due at 3 ms ends when the guest is back: " .. w.now)
  sim.expect(guest.state == "powered_on", "state after resume: " .. guest.state)
  sim.expect(p:local_cid() == 3000, "R206: CID kept: " .. p:local_cid())
  -- R206/R171: the guest handled QP_RESUMED before it ran again: a send first already gives
  -- EPIPE; what was queued before the suspend is still readable, then EOF.
  local early, early_name = s:send("x")
  sim.expect(early == nil and early_name == "EPIPE", "R206: the first send: EPIPE: " ..
             tostring(early_name))
  sim.expect(s:recv(100) == "queued-before-suspend", "R206: the queued bytes are readable")
  local eof = s:recv(100)
  sim.expect(eof == "", "R206: then end of stream: " .. tostring(eof))
  local ok, name = s:send("x")
  sim.expect(ok == nil and name == "EPIPE", "R206: send after QP_RESUMED: EPIPE: " .. tostring(name))
  sim.expect(s:state() == "disconnecting", "guest socket state: " .. s:state())
  s:close()
  -- R206: a new connection works at once.
  local s2 = assert(p:socket("stream"))
  assert(s2:connect(sim.CID_HOST, 5000))
  assert(s2:send("again") == 5)
  sim.expect(s2:recv(2) == "ok", "the new connection carries data both ways")
  -- R206: the datagram socket survived; the datagram sent while suspended was lost.
  local data, src_cid, src_port = d:recvfrom(100)
  sim.expect(data == "after" and src_cid == sim.CID_HOST,
             "R206: the datagram socket survives; only the post-resume datagram arrives: " ..
             tostring(data))
  s2:close()
  guest_done = true
end)

-- A ticker with deadlines every 300 us: none of its wake-ups falls inside the suspension;
-- the one due at 1.2 ms happens at the resume, then the 300 us grid goes on from there.
local ticks = {}
guest:spawn("ticker", function(p)
  local due = sim.us(300)
  while due <= sim.ms(6) do
    p:sleep(due - w.now)
    ticks[#ticks + 1] = w.now
    due = w.now + sim.us(300)
  end
end)

w:at(SUSPEND_AT, function()
  sim.expect(guest.state == "powered_on", "state before suspend: " .. guest.state)
  guest:suspend()
  sim.expect(guest.state == "suspended", "state after suspend: " .. guest.state)
end)
w:at(sim.ms(3), function()
  sim.expect(guest_woke_at == nil, "R205: the guest's process does not run while suspended")
  sim.expect(guest.cid == 3000, "guest.cid while suspended: " .. tostring(guest.cid))
end)
w:at(RESUME_AT, function()
  guest:resume()
  sim.expect(guest.state == "powered_on", "state after resume: " .. guest.state)
  sim.expect(guest.cid == 3000, "R206: vmci0.id was free: CID 3000 again: " .. tostring(guest.cid))
  sim.expect(guest:vmx("vmci0.id") == "3000", "vmci0.id: " .. tostring(guest:vmx("vmci0.id")))
end)

local result = w:run()
sim.expect(result.stopped == "idle", "stopped: " .. result.stopped)
sim.expect(host_saw_eof_at == SUSPEND_AT + ROUTE_NS, "host EOF time: " .. tostring(host_saw_eof_at))
sim.expect(guest_woke_at == BACK_AT, "guest woke at: " .. tostring(guest_woke_at))
local want = { sim.us(300), sim.us(600), sim.us(900), BACK_AT, BACK_AT + sim.us(300),
               BACK_AT + sim.us(600), BACK_AT + sim.us(900) }
sim.expect(#ticks == #want, "ticks: " .. #ticks)
for i, t in ipairs(want) do
  sim.expect(ticks[i] == t, string.format("tick %d at %s, expected %d", i, tostring(ticks[i]), t))
end
sim.expect(guest_done, "the guest client ran to its end")
