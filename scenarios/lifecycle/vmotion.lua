-- scenarios/lifecycle/vmotion.lua: a VM migrated with vMotion (one host here).
-- R207: vMotion is a suspend on the source followed by a resume on the destination at
--       the same instant: every stream connection is lost -- on the host as in R205 (end
--       of stream, then EPIPE, never ECONNRESET), in the guest as in R206 (bytes already
--       queued stay readable, then end of stream, then EPIPE); the CID is kept (no
--       collision: no CTX_ID_UPDATE); datagram sockets survive on both sides (a guest
--       datagram socket bound before the vMotion receives a datagram sent after it, and
--       can still send); new connections work; the VM stays "powered_on" throughout.
local sim = require("vmcisim")
local w = sim.world{}
local host = w:host()
local guest = w:vm{ name = "guest1", vmx = { ["vmci0.id"] = "3100" } }

local VMOTION_AT = sim.ms(1)
local ROUTE_NS = 300           -- docs/cost-model.md route_ns: QP_PEER_DETACH reaches the host
local INTERRUPT_NS = 2000      -- docs/cost-model.md interrupt_ns: QP_RESUMED reaches the guest
local done = {}

host:spawn("server", function(p)
  local l = assert(p:socket("stream"))
  assert(l:bind(sim.CID_ANY, 5000)); assert(l:listen(4))
  local d = assert(p:socket("dgram"))
  assert(d:bind(sim.CID_ANY, 8000))
  local idle = assert(l:accept())              -- the guest blocks reading this one
  local busy = assert(l:accept())              -- this one has bytes waiting in the guest
  assert(busy:send("queued") == 6)
  sim.expect(idle:recv(10) == "", "R207/R205: host end of stream on the first connection")
  sim.expect(w.now == VMOTION_AT + ROUTE_NS, "at the vMotion (+ route_ns): " .. w.now)
  sim.expect(busy:recv(10) == "", "R207/R205: host end of stream on the second connection")
  for _, c in ipairs({ idle, busy }) do
    local ok, name = c:send("x")
    sim.expect(ok == nil and name == "EPIPE", "R205: host send: EPIPE: " .. tostring(name))
    sim.expect(c:getsockopt("error") == nil, "R205: no ECONNRESET pending")
    c:close()
  end
  -- Datagrams both ways after the vMotion (the sockets were bound before it).
  assert(d:sendto("after-vmotion", 3100, 7000) == 13)
  local data, cid, port = d:recvfrom(100)
  sim.expect(data == "from-guest" and cid == 3100 and port == 7000,
             "R207: the guest's datagram socket still sends: " .. tostring(data))
  -- A new connection from the guest.
  local again, again_cid = assert(l:accept())
  sim.expect(again_cid == 3100, "R207: CID kept: " .. tostring(again_cid))
  sim.expect(again:recv(5) == "again", "a new connection works after the vMotion")
  done.host = true
end)

guest:spawn("dgram", function(p)
  local d = assert(p:socket("dgram"))
  assert(d:bind(sim.CID_ANY, 7000))
  local data, cid, port = d:recvfrom(100)      -- blocks across the vMotion
  sim.expect(w.now > VMOTION_AT, "received after the vMotion")
  sim.expect(data == "after-vmotion" and cid == sim.CID_HOST and port == 8000,
             "R207: a datagram socket bound before the vMotion survives: " .. tostring(data))
  assert(d:sendto("from-guest", sim.CID_HOST, 8000) == 10)
  done.dgram = true
end)

guest:spawn("client", function(p)
  local idle = assert(p:socket("stream"))
  assert(idle:connect(sim.CID_HOST, 5000))
  local busy = assert(p:socket("stream"))
  assert(busy:connect(sim.CID_HOST, 5000))
  local eof = idle:recv(10)                     -- blocks across the vMotion
  sim.expect(eof == "", "R207/R206: guest end of stream: " .. tostring(eof))
  sim.expect(w.now == VMOTION_AT + INTERRUPT_NS, "EOF at the vMotion (+ interrupt_ns): " .. w.now)
  sim.expect(busy:recv(10) == "queued", "R206: the queued bytes stay readable")
  sim.expect(busy:recv(10) == "", "R206: then end of stream")
  for _, s in ipairs({ idle, busy }) do
    local ok, name = s:send("x")
    sim.expect(ok == nil and name == "EPIPE", "R206: guest send: EPIPE: " .. tostring(name))
    s:close()
  end
  sim.expect(p:local_cid() == 3100, "R207: the CID is kept: " .. p:local_cid())
  local s = assert(p:socket("stream"))
  assert(s:connect(sim.CID_HOST, 5000))
  assert(s:send("again") == 5)
  done.client = true
end)

w:at(VMOTION_AT, function()
  guest:vmotion()
  sim.expect(guest.state == "powered_on", "R207: state after vMotion: " .. guest.state)
  sim.expect(guest.cid == 3100, "R207: CID kept: " .. tostring(guest.cid))
  sim.expect(guest:vmx("vmci0.id") == "3100", "vmci0.id kept: " .. tostring(guest:vmx("vmci0.id")))
end)

local result = w:run()
sim.expect(result.stopped == "idle", "stopped: " .. result.stopped)
sim.expect(done.host and done.dgram and done.client, "every process ran to its end")
