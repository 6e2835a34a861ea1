-- scenarios/lifecycle/resume_cid_change.lua: a VM resumed after another took its CID.
-- R8:   a CID requested by vmci0.id that a live context already uses is replaced by the next
--       free one (max(cid, 15) + 1, ...), written back to vmci0.id.
-- R205/R206: while A is suspended its context is gone, so B can take A's CID 4000; on
--       resume A's context comes back with the next free CID, 4001 (CTX_ID_UPDATE).
-- R210: A's stack adopts the new CID: VMCISock_GetLocalCID() (p:local_cid()) reports it,
--       bind() to the new CID works, bind() to the old CID fails with EADDRNOTAVAIL.
-- R207/R154: a listener A bound explicitly to the old CID no longer matches packets for
--       A (a host connect to {4001, its port} is refused), while a listener bound to ANY
--       keeps working: it accepts a connection to 4001 and its child's local CID is 4001;
--       a client of A bound to ANY connects with 4001 as its address.
local sim = require("vmcisim")
local w = sim.world{}
local host = w:host()
local a = w:vm{ name = "vmA", vmx = { ["vmci0.id"] = "4000" } }

local SUSPEND_AT, B_AT, RESUME_AT = sim.ms(1), sim.ms(2), sim.ms(4)
local a_checked, b_checked, host_done = false, false, false

host:spawn("host", function(p)
  p:sleep(RESUME_AT + sim.ms(1) - w.now)                 -- after the resume, A runs again
  -- R207: the listener bound explicitly to the old CID 4000 no longer matches.
  local s = assert(p:socket("stream"))
  local ok, name = s:connect(4001, 6000)
  sim.expect(ok == nil and name == "ECONNRESET",
             "R207: a listener bound to the old CID matches nothing: " .. tostring(name))
  -- R154: the listener bound to ANY accepts with the new CID.
  local s2 = assert(p:socket("stream"))
  assert(s2:connect(4001, 6001))
  local pc, pp = s2:getpeername()
  sim.expect(pc == 4001 and pp == 6001, "peer {4001, 6001}: " .. tostring(pc))
  sim.expect(s2:recv(4) == "4001", "the child reports its local CID 4001")
  s2:close()
  -- A's client connects here with its new CID.
  local l = assert(p:socket("stream"))
  assert(l:bind(sim.CID_ANY, 5000)); assert(l:listen(1))
  local c, peer_cid = assert(l:accept())
  sim.expect(peer_cid == 4001, "R154/R210: A's client connects from 4001: " .. tostring(peer_cid))
  sim.expect(c:recv(10) == "hi", "data from A's client")
  -- B, which took 4000, is reachable at 4000.
  local d = assert(p:socket("dgram"))
  assert(d:sendto("to-b", 4000, 7000) == 4)
  host_done = true
end)

a:spawn("servers", function(p)
  sim.expect(p:local_cid() == 4000, "A starts with 4000: " .. p:local_cid())
  local old = assert(p:socket("stream"))
  assert(old:bind(4000, 6000)); assert(old:listen(1))    -- explicitly the old CID
  local any = assert(p:socket("stream"))
  assert(any:bind(sim.CID_ANY, 6001)); assert(any:listen(1))
  local c = assert(any:accept())                         -- blocks across suspend/resume
  sim.expect(w.now >= RESUME_AT, "accepted after the resume")
  local cid, port = c:getsockname()
  sim.expect(cid == 4001 and port == 6001, "R154: the child's local CID is the new one: " ..
             tostring(cid))
  assert(c:send(tostring(cid)) == 4)
  sim.expect(c:recv(10) == "", "the host closed")
  local lcid = old:getsockname()
  sim.log("the old-CID listener's getsockname: %s", tostring(lcid))
end)

-- A process that slept across the suspension runs again only once the guest has taken
-- the resume's interrupt: it already sees the new CID (R206/R210).
local early_checked = false
a:spawn("early", function(p)
  p:sleep(SUSPEND_AT + sim.us(500) - w.now)              -- due while A is suspended
  sim.expect(p:local_cid() == 4001, "R210: at once after the resume: " .. p:local_cid())
  local s = assert(p:socket("stream"))
  local ok, name = s:bind(4000, 6200)
  sim.expect(ok == nil and name == "EADDRNOTAVAIL", "R210: at once: " .. tostring(name))
  early_checked = true
end)

-- The other checks run 500 us after the resume.
a:spawn("checker", function(p)
  p:sleep(RESUME_AT + sim.us(500) - w.now)
  sim.expect(p:local_cid() == 4001, "R210: p:local_cid() is the new CID: " .. p:local_cid())
  local s = assert(p:socket("stream"))
  local ok, name = s:bind(4000, 6100)
  sim.expect(ok == nil and name == "EADDRNOTAVAIL", "R210: bind to the old CID: " .. tostring(name))
  local d = assert(p:socket("dgram"))
  ok, name = d:bind(4000, 6101)
  sim.expect(ok == nil and name == "EADDRNOTAVAIL", "R210: dgram bind to the old CID: " .. tostring(name))
  assert(s:bind(4001, 6100), "R210: bind to the new CID works")
  local cid = s:getsockname()
  sim.expect(cid == 4001, "getsockname after bind to the new CID: " .. tostring(cid))
  s:close(); d:close()
  -- A client bound to ANY connects with the new CID (R154).
  p:sleep(sim.ms(1))
  local c = assert(p:socket("stream"))
  assert(c:connect(sim.CID_HOST, 5000))
  local lc = c:getsockname()
  sim.expect(lc == 4001, "R154: the client's local CID: " .. tostring(lc))
  assert(c:send("hi") == 2)
  c:close()
  a_checked = true
end)

-- Run to the suspend, suspend A, create B asking for A's CID, then resume A.
w:run{ until_ns = SUSPEND_AT }
a:suspend()
sim.expect(a.state == "suspended", "A suspended: " .. a.state)
w:run{ until_ns = B_AT }
local b = w:vm{ name = "vmB", vmx = { ["vmci0.id"] = "4000" } }
sim.expect(b.cid == 4000, "R205/R8: B takes the suspended A's CID 4000: " .. tostring(b.cid))
sim.expect(b:vmx("vmci0.id") == "4000", "B's vmci0.id: " .. tostring(b:vmx("vmci0.id")))
b:spawn("b", function(p)
  sim.expect(p:local_cid() == 4000, "B's local CID: " .. p:local_cid())
  local d = assert(p:socket("dgram"))
  assert(d:bind(sim.CID_ANY, 7000))
  local data, cid = d:recvfrom(100)
  sim.expect(data == "to-b" and cid == sim.CID_HOST, "B gets what is sent to 4000")
  b_checked = true
end)
w:run{ until_ns = RESUME_AT }
sim.expect(w.now == RESUME_AT, "resumed at 4 ms: " .. w.now)   -- the host's sleep keeps time going
sim.expect(a.cid == 4000, "A's CID while suspended: " .. tostring(a.cid))
a:resume()
sim.expect(a.state == "powered_on", "A resumed: " .. a.state)
sim.expect(a.cid == 4001, "R206/R8: A gets the next free CID 4001: " .. tostring(a.cid))
sim.expect(a:vmx("vmci0.id") == "4001", "R8: written back to vmci0.id: " .. tostring(a:vmx("vmci0.id")))
local result = w:run()
sim.expect(early_checked, "the early checker ran")
sim.expect(result.stopped == "idle", "stopped: " .. result.stopped)
sim.expect(a_checked and b_checked and host_done, "every process ran to its end")
