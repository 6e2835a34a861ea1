-- scenarios/conformance/dgram_R191.lua: connect() on a datagram socket (R191, R19, R129).
-- It sends nothing: it auto-binds the socket, records the default destination and marks
-- the socket connected, so send() without an address works and getpeername() returns
-- the destination. Incoming datagrams are not filtered by the connected peer, and
-- sendto() may still name another destination. A connect to CID 0 on a port other than
-- 14 fails with EINVAL (R11).
local sim = require("vmcisim")
local w = sim.world{}
local host = w:host()
local guest = w:vm{ name = "guest1" }
local ready = false

host:spawn("server", function(p)
  local s = assert(p:socket("dgram"))
  assert(s:bind(sim.CID_ANY, 9100))
  local other = assert(p:socket("dgram"))
  assert(other:bind(sim.CID_ANY, 9101))
  ready = true
  local data, cid, port = assert(s:recvfrom(100))
  sim.expect(data == "via send" and cid == guest.cid, "send() used the default destination")
  assert(s:sendto("reply", cid, port))
  data = assert(other:recvfrom(100))
  sim.expect(data == "via sendto", "sendto() on a connected socket reaches another port")
  assert(other:sendto("from a stranger", cid, port))           -- not the connected peer
end)

guest:spawn("client", function(p)
  while not ready do p:sleep(sim.us(10)) end
  local s = assert(p:socket("dgram"))
  local ok, name = s:getpeername()
  sim.expect(ok == nil and name == "ENOTCONN", "unconnected: getpeername ENOTCONN")
  ok, name = s:connect(sim.CID_HYPERVISOR, 1)
  sim.expect(ok == nil and name == "EINVAL", "connect to CID 0 port 1: EINVAL (R11)")
  assert(s:connect(sim.CID_HOST, 9100))
  local cid, port = s:getsockname()
  sim.expect(cid == sim.CID_ANY and port == 1024, "connect auto-bound the socket to ANY:1024")
  local peer_cid, peer_port = s:getpeername()
  sim.expect(peer_cid == sim.CID_HOST and peer_port == 9100, "getpeername: the destination")
  sim.expect(s:send("via send") == 8, "send() without an address works once connected")
  sim.expect(assert(s:recv(100)) == "reply", "the reply from the connected peer arrives")
  assert(s:sendto("via sendto", sim.CID_HOST, 9101))
  local data, from_cid, from_port = assert(s:recvfrom(100))
  sim.expect(data == "from a stranger" and from_cid == sim.CID_HOST and from_port == 9101,
             "a datagram from another port is delivered too (no filtering)")
  assert(s:connect(sim.CID_HOST, 9101))                        -- a new default destination
  peer_cid, peer_port = s:getpeername()
  sim.expect(peer_port == 9101, "connect again replaces the default destination")
end)
