-- scenarios/vmci/datagram_ping_pong.lua: VMCI datagrams between the host and a guest,
-- below sockets. The guest's datagrams leave through its device's DATA_OUT register,
-- the hypervisor routes them to the host handle; the host's replies are queued in the
-- guest's device, which raises an interrupt; the guest driver reads DATA_IN and hands
-- them to the handle. `vmcisim run ... -v` shows every hop.
local sim = require("vmcisim")
local w = sim.world{ product = "esxi-6.5" }
local host = w:host()
local guest = w:vm{ name = "guest1", vmx = { ["vmci0.id"] = "5000" } }
local rounds = tonumber(arg[1]) or 5

host:spawn("echo", function(p)
  local dg = assert(p:vmci():datagram(7000))
  while true do
    local bytes, cid, rid = dg:recv()
    assert(dg:send(cid, rid, bytes))
  end
end, { daemon = true })

guest:spawn("pinger", function(p)
  local dg = assert(p:vmci():datagram())
  local _, my_rid = dg:handle()
  sim.expect(my_rid == 1024, "the first dynamic RID of a kernel is 1024 (R23)")
  for i = 1, rounds do
    local message = sim.pattern(i, 0, 100 * i)
    local started = w.now
    local sent = assert(dg:send(sim.CID_HOST, 7000, message))
    sim.expect(sent == 24 + #message, "the result of a send is the datagram size (R39)")
    local reply, cid, rid = dg:recv()
    sim.expect(reply == message, "the echo carries the same bytes")
    sim.expect(cid == sim.CID_HOST and rid == 7000, "the echo comes from the host handle")
    sim.log("round %d: %d bytes there and back in %d ns", i, #message, w.now - started)
  end
end)
