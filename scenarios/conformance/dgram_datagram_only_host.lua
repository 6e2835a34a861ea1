-- scenarios/conformance/dgram_datagram_only_host.lua: Workstation 7 on a Windows host
-- has no host queue pairs (section 9): a host stream socket cannot even be created
-- (ESOCKTNOSUPPORT), but host <-> guest datagrams work (R200). The host stack has a
-- datagram transport only.
local sim = require("vmcisim")
local w = sim.world{ product = "workstation-7", host_os = "windows" }
local host = w:host()
local guest = w:vm{ name = "guest1", vmx = { ["vmci0.unrestricted"] = "TRUE" } }
local ready = false

host:spawn("server", function(p)
  local ok, name = p:socket("stream")
  sim.expect(ok == nil and name == "ESOCKTNOSUPPORT", "no host streams: " .. tostring(name))
  local s = assert(p:socket("dgram"))
  assert(s:bind(sim.CID_ANY, 5000))
  local cid, port = s:getsockname()
  sim.expect(cid == sim.CID_ANY and port == 5000, "bound to ANY:5000")
  ready = true
  local data, from_cid, from_port = assert(s:recvfrom(100))
  sim.expect(data == "ping" and from_cid == guest.cid, "the guest's datagram arrives")
  assert(s:sendto("pong", from_cid, from_port))
end)

guest:spawn("client", function(p)
  while not ready do p:sleep(sim.us(10)) end
  local s = assert(p:socket("dgram"))
  assert(s:sendto("ping", sim.CID_HOST, 5000))
  sim.expect(assert(s:recv(100)) == "pong", "the host answers")
end)
