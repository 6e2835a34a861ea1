-- scenarios/conformance/dgram_R11.lua: a datagram socket may reach CID 0 (the hypervisor)
-- only on port 14, VMCI_UNITY_PBRPC_REGISTER (R11): any other port fails with EINVAL in
-- sendto() and connect(). From a guest, port 14 is accepted and never answered (D12); the
-- host kernel has no device to reach the hypervisor through (R54: DEVICE_NOT_FOUND, so
-- EINVAL by R63).
local sim = require("vmcisim")
local w = sim.world{}
local host = w:host()
local guest = w:vm{ name = "guest1" }

guest:spawn("guest", function(p)
  local s = assert(p:socket("dgram"))
  for _, port in ipairs({ 0, 1, 13, 15, 16 }) do
    local ok, name = s:sendto("x", sim.CID_HYPERVISOR, port)
    sim.expect(ok == nil and name == "EINVAL", "sendto 0:" .. port .. ": " .. tostring(name))
  end
  sim.expect(s:sendto("register", sim.CID_HYPERVISOR, 14) == 8, "sendto 0:14 is accepted")
  local ok, name = s:connect(sim.CID_HYPERVISOR, 15)
  sim.expect(ok == nil and name == "EINVAL", "connect 0:15: " .. tostring(name))
  assert(s:connect(sim.CID_HYPERVISOR, 14))
  sim.expect(s:send("again") == 5, "send to the connected 0:14")
  ok, name = s:recv(100, "dontwait")
  sim.expect(ok == nil and name == "EAGAIN", "the hypervisor never answers (D12)")
end)

host:spawn("host", function(p)
  local s = assert(p:socket("dgram"))
  local ok, name = s:sendto("x", sim.CID_HYPERVISOR, 15)
  sim.expect(ok == nil and name == "EINVAL", "host sendto 0:15: " .. tostring(name))
  ok, name = s:sendto("x", sim.CID_HYPERVISOR, 14)
  sim.expect(ok == nil and name == "EINVAL", "host sendto 0:14 (R54): " .. tostring(name))
end)
