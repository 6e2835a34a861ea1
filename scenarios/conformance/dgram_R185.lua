-- scenarios/conformance/dgram_R185.lua: sendto()/send() on a datagram socket (R185).
-- A payload of VMCI_MAX_DG_PAYLOAD_SIZE = 69608 bytes is one datagram and arrives whole,
-- in both directions; 69609 bytes fail with EMSGSIZE before anything is sent. send()
-- without an address on an unconnected socket fails with EINVAL; a destination port of
-- PORT_ANY is EINVAL; a destination CID of ANY means the local CID.
local sim = require("vmcisim")
local w = sim.world{}
local host = w:host()
local guest = w:vm{ name = "guest1" }
local MAX = 69608
local ready = false                 -- guest processes start once the guest driver loaded (D4)

guest:spawn("server", function(p)
  local s = assert(p:socket("dgram"))
  assert(s:bind(sim.CID_ANY, 6000))
  ready = true
  local data, cid, port, truncated = assert(s:recvfrom(100000))
  sim.expect(#data == MAX and not truncated, "69608 bytes arrive as one datagram: " .. #data)
  sim.expect(data == sim.pattern(1, 0, MAX), "the payload is intact")
  sim.expect(cid == sim.CID_HOST, "from the host")
  assert(s:sendto(sim.pattern(2, 0, MAX), cid, port))          -- and back, through DATA_OUT
end)

host:spawn("client", function(p)
  while not ready do p:sleep(sim.us(10)) end
  local s = assert(p:socket("dgram"))
  local ok, name = s:sendto(sim.pattern(1, 0, MAX + 1), guest.cid, 6000)
  sim.expect(ok == nil and name == "EMSGSIZE", "69609 bytes: EMSGSIZE, got " .. tostring(name))
  sim.expect(assert(s:sendto(sim.pattern(1, 0, MAX), guest.cid, 6000)) == MAX,
             "69608 bytes: the payload length is returned")
  local back = assert(s:recvfrom(MAX))
  sim.expect(back == sim.pattern(2, 0, MAX), "69608 bytes from the guest arrive whole")

  ok, name = s:send("no address")
  sim.expect(ok == nil and name == "EINVAL", "send() unconnected: EINVAL, got " .. tostring(name))
  ok, name = s:sendto("x", guest.cid, sim.PORT_ANY)
  sim.expect(ok == nil and name == "EINVAL", "port ANY: EINVAL, got " .. tostring(name))

  -- CID ANY is the sender's own CID: a datagram from the host to a host socket.
  local local_peer = assert(p:socket("dgram"))
  assert(local_peer:bind(sim.CID_ANY, 6001))
  sim.expect(assert(s:sendto("to myself", sim.CID_ANY, 6001)) == 9, "sendto CID ANY")
  local data, cid, port = assert(local_peer:recvfrom(100))
  local _, my_port = s:getsockname()
  sim.expect(data == "to myself" and cid == sim.CID_HOST and port == my_port,
             "delivered from 2:" .. my_port .. ", got " .. tostring(cid) .. ":" .. tostring(port))
end)
