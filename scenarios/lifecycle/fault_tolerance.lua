-- scenarios/lifecycle/fault_tolerance.lua: a VM entering and leaving fault-tolerance mode.
-- R208: ft(true) drops the VM's stream connections as R205/R206 do (host: end of stream,
--       then EPIPE, never ECONNRESET; guest: end of stream, then EPIPE); while in FT mode
--       the hypervisor refuses datagrams and queue pairs between the VM and anyone but the
--       hypervisor (VMCI_ERROR_NO_ACCESS), so connect() and sendto() fail with EPERM on
--       both sides; ft(false) lifts the refusal (connections are not restored, new ones
--       work). vm.fault_tolerant follows; entering FT twice (or leaving it twice) is an
--       error. The CID is kept and the VM stays "powered_on".
local sim = require("vmcisim")
local w = sim.world{}
local host = w:host()
local guest = w:vm{ name = "guest1", vmx = { ["vmci0.id"] = "3200" } }

local FT_ON, FT_OFF = sim.ms(1), sim.ms(3)
local ROUTE_NS = 300           -- docs/cost-model.md route_ns: QP_PEER_DETACH reaches the host
local INTERRUPT_NS = 2000      -- docs/cost-model.md interrupt_ns: QP_RESUMED reaches the guest
local done = {}

local function expect_fail(want, what, ok, name)
  sim.expect(ok == nil and name == want, string.format("%s: %s, got %s", what, want, tostring(name)))
end

host:spawn("server", function(p)
  local l = assert(p:socket("stream"))
  assert(l:bind(sim.CID_ANY, 5000)); assert(l:listen(4))
  local d = assert(p:socket("dgram"))
  assert(d:bind(sim.CID_ANY, 8000))
  local c = assert(l:accept())
  sim.expect(c:recv(10) == "", "R208: the host sees end of stream")
  sim.expect(w.now == FT_ON + ROUTE_NS, "at ft(true) (+ route_ns): " .. w.now)
  expect_fail("EPIPE", "R208: host send on the dropped connection", c:send("x"))
  sim.expect(c:getsockopt("error") == nil, "R208: no ECONNRESET pending")
  c:close()
  -- While in FT mode: host -> guest refused.
  local s = assert(p:socket("stream"))
  expect_fail("EPERM", "R208: host connect to the FT guest", s:connect(3200, 6000))
  s:close()
  expect_fail("EPERM", "R208: host sendto the FT guest", d:sendto("no", 3200, 7000))
  -- After ft(false): both directions work again.
  p:sleep(FT_OFF + sim.us(100) - w.now)
  local s2 = assert(p:socket("stream"))
  assert(s2:connect(3200, 6000), "R208: host connect after ft(false)")
  sim.expect(s2:recv(3) == "g2h", "data on the new host->guest connection")
  s2:close()
  assert(d:sendto("h2g", 3200, 7000) == 3, "R208: host sendto after ft(false)")
  local again, cid = assert(l:accept())
  sim.expect(cid == 3200 and again:recv(5) == "again", "R208: guest connect after ft(false)")
  local data, from = d:recvfrom(10)
  sim.expect(data == "dg" and from == 3200, "R208: guest sendto after ft(false): " .. tostring(data))
  done.host = true
end)

guest:spawn("client", function(p)
  local s = assert(p:socket("stream"))
  assert(s:connect(sim.CID_HOST, 5000))
  sim.expect(s:recv(10) == "", "R208: the guest sees end of stream")
  sim.expect(w.now == FT_ON + INTERRUPT_NS, "at ft(true) (+ interrupt_ns): " .. w.now)
  expect_fail("EPIPE", "R208: guest send on the dropped connection", s:send("x"))
  s:close()
  -- While in FT mode: guest -> host refused.
  local s2 = assert(p:socket("stream"))
  expect_fail("EPERM", "R208: guest connect to the host", s2:connect(sim.CID_HOST, 5000))
  s2:close()
  local d = assert(p:socket("dgram"))
  expect_fail("EPERM", "R208: guest sendto the host", d:sendto("no", sim.CID_HOST, 8000))
  sim.expect(p:local_cid() == 3200, "CID kept: " .. p:local_cid())
  p:sleep(FT_OFF + sim.us(500) - w.now)
  local s3 = assert(p:socket("stream"))
  assert(s3:connect(sim.CID_HOST, 5000), "R208: guest connect after ft(false)")
  assert(s3:send("again") == 5)
  assert(d:sendto("dg", sim.CID_HOST, 8000) == 2, "R208: guest sendto after ft(false)")
  done.client = true
end)

guest:spawn("server", function(p)
  local l = assert(p:socket("stream"))
  assert(l:bind(sim.CID_ANY, 6000)); assert(l:listen(1))
  local d = assert(p:socket("dgram"))
  assert(d:bind(sim.CID_ANY, 7000))
  local c = assert(l:accept())                  -- only the connection made after ft(false)
  sim.expect(w.now > FT_OFF, "accepted after ft(false)")
  assert(c:send("g2h") == 3)
  local data = d:recvfrom(10)
  sim.expect(data == "h2g", "only the datagram sent after ft(false) arrives: " .. tostring(data))
  done.server = true
end)

w:at(FT_ON, function()
  sim.expect(guest.fault_tolerant == false, "not in FT before")
  guest:ft(true)
  sim.expect(guest.fault_tolerant == true, "R208: vm.fault_tolerant after ft(true)")
  sim.expect(guest.state == "powered_on", "state in FT: " .. guest.state)
  sim.expect(guest.cid == 3200, "CID kept: " .. tostring(guest.cid))
  local ok, err = pcall(guest.ft, guest, true)
  sim.expect(not ok and tostring(err):find("fault%-tolerance mode already"),
             "ft(true) twice is an error: " .. tostring(err))
  sim.expect(guest.fault_tolerant == true, "still in FT")
end)
w:at(FT_OFF, function()
  guest:ft(false)
  sim.expect(guest.fault_tolerant == false, "R208: vm.fault_tolerant after ft(false)")
  local ok, err = pcall(guest.ft, guest, false)
  sim.expect(not ok and tostring(err):find("not in fault%-tolerance mode"),
             "ft(false) twice is an error: " .. tostring(err))
end)

local result = w:run()
sim.expect(result.stopped == "idle", "stopped: " .. result.stopped)
sim.expect(done.host and done.client and done.server, "every process ran to its end")
