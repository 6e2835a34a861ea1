-- scenarios/conformance/dgram_R186.lua: what a datagram send reports (R186, R63, R127).
--   host port with no socket            -> EHOSTUNREACH (VMCI_ERROR_INVALID_RESOURCE, R55)
--   VM CID that does not exist          -> EINVAL (VMCI_ERROR_DST_UNREACHABLE, R56, R221),
--                                          from the host and from a guest (a guest's own
--                                          R153 check sees no other context's flags, D17)
--   guest port with no socket           -> success for the sender, dropped in the guest (R42)
--   destination VM's queue full (R58)   -> ENOBUFS (VMCI_ERROR_NO_RESOURCES)
--   host socket closed (R127)           -> later datagrams to its port: EHOSTUNREACH
local sim = require("vmcisim")
local w = sim.world{}
local host = w:host()
local guest = w:vm{ name = "guest1" }
local ready, host_closed = false, false

guest:spawn("guest", function(p)
  local s = assert(p:socket("dgram"))
  assert(s:bind(sim.CID_ANY, 7000))
  ready = true
  local marker = assert(s:recvfrom(100))
  sim.expect(marker == "marker", "the datagram sent after the lost one arrives: " .. marker)
  local late = assert(p:socket("dgram"))
  assert(late:bind(sim.CID_ANY, 7001))
  local ok, name = late:recv(100, "dontwait")
  sim.expect(ok == nil and name == "EAGAIN", "the datagram to 7001 was dropped, not kept")

  ok, name = s:sendto("hello?", sim.CID_HOST, 7999)
  sim.expect(ok == nil and name == "EHOSTUNREACH", "guest to a host port with no socket: "
             .. tostring(name))
  ok, name = s:sendto("dead?", 999999, 7000)
  sim.expect(ok == nil and name == "EINVAL", "guest to a VM CID that does not exist (D17): "
             .. tostring(name))
  while not host_closed do p:sleep(sim.us(10)) end
  ok, name = s:sendto("after close", sim.CID_HOST, 7100)
  sim.expect(ok == nil and name == "EHOSTUNREACH", "to a closed host socket's port (R127): "
             .. tostring(name))
end)

host:spawn("host", function(p)
  while not ready do p:sleep(sim.us(10)) end
  local s = assert(p:socket("dgram"))
  local ok, name = s:sendto("x", sim.CID_HOST, 7999)
  sim.expect(ok == nil and name == "EHOSTUNREACH", "host port with no socket: " .. tostring(name))
  ok, name = s:sendto("x", 999999, 7000)
  sim.expect(ok == nil and name == "EINVAL", "VM CID that does not exist: " .. tostring(name))
  sim.expect(s:sendto("lost", guest.cid, 7001) == 4, "guest port with no socket: success")
  assert(s:sendto("marker", guest.cid, 7000))

  local closing = assert(p:socket("dgram"))
  assert(closing:bind(sim.CID_ANY, 7100))
  assert(closing:close())
  host_closed = true
end)

-- Two host processes send 69608-byte datagrams to the guest at the same instant: the
-- first fills half of the guest's 139264-byte pending queue, the second would reach it
-- (queued + size >= limit, R58) before the guest driver drained anything.
for i = 1, 2 do
  host:spawn("burst" .. i, function(p)
    p:sleep(sim.ms(1))
    local s = assert(p:socket("dgram"))
    local sent, name = s:sendto(sim.pattern(i, 0, 69608), guest.cid, 7002)
    if i == 1 then
      sim.expect(sent == 69608, "the first fits in the guest's queue: " .. tostring(name))
    else
      sim.expect(sent == nil and name == "ENOBUFS", "the second finds it full: "
                 .. tostring(name))
    end
  end)
end
