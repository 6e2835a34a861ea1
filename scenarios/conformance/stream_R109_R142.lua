-- scenarios/conformance/stream_R109_R142.lua:
-- R109: a connection closed by its client after it entered the accept queue is still
--       returned by accept(); reading it then gives end of stream.
-- R142: peer_host_vm_id on a host-side connected socket whose peer is a VM is the low 31
--       bits of the VM's CID; on the guest side ENOPROTOOPT; unconnected ENOTCONN.
local sim = require("vmcisim")
local w = sim.world{}
local host = w:host()
local guest = w:vm{ name = "guest1", vmx = { ["vmci0.id"] = "-5" } }   -- CID 2^32 - 5 (D15)

host:spawn("server", function(p)
  local l = assert(p:socket("stream"))
  local ok, name = l:getsockopt("peer_host_vm_id")
  sim.expect(ok == nil and name == "ENOTCONN", "R142: unconnected: " .. tostring(name))
  assert(l:bind(sim.CID_ANY, 6200)); assert(l:listen(4))
  p:sleep(sim.ms(1))                             -- the client connects and closes meanwhile
  local c = assert(l:accept())
  sim.expect(c:recv(10) == "", "R109: accepted after the peer closed; end of stream")
  local id = c:getsockopt("peer_host_vm_id")
  sim.expect(id == (guest.cid & 0x7FFFFFFF), "R142: low 31 bits of the CID: " .. tostring(id))
end)

guest:spawn("client", function(p)
  local s = assert(p:socket("stream"))
  assert(s:connect(sim.CID_HOST, 6200))
  local ok, name = s:getsockopt("peer_host_vm_id")
  sim.expect(ok == nil and name == "ENOPROTOOPT", "R142: guest side: " .. tostring(name))
  s:close()
end)
