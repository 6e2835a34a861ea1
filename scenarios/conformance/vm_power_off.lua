-- scenarios/conformance/vm_power_off.lua: R204 / D4. Powering a guest off kills its
-- processes and detaches its queue pairs: the host's connected socket sees end of stream,
-- then EPIPE (R171, R220); datagrams to the CID fail with EINVAL (DST_UNREACHABLE, R221);
-- a host connect to it fails too. Powered on again, the VM gets its CID back (vmci0.id),
-- its driver loads, processes spawned meanwhile start, and new connections work.
local sim = require("vmcisim")
local w = sim.world{}
local host = w:host()
local guest = w:vm{ name = "guest1", vmx = { ["vmci0.id"] = "3000" } }
local killed_ran_on = false

host:spawn("server", function(p)
  local l = assert(p:socket("stream"))
  assert(l:bind(sim.CID_ANY, 5000)); assert(l:listen(4))
  local c = assert(l:accept())
  sim.expect(c:recv(10) == "", "the powered-off guest's connection ends (R204, R171)")
  local ok, name = c:send("x")
  sim.expect(ok == nil and name == "EPIPE", "send to it: EPIPE: " .. tostring(name))
  -- Close it: the guest's new stack numbers its ports from 1024 again (D13), and a packet
  -- from {3000, 1024} would still match this dead connection and get an RST (R173).
  c:close()
  local d = assert(p:socket("dgram"))
  local sent, err = d:sendto("hi", 3000, 99)
  sim.expect(sent == nil and err == "EINVAL", "datagram to a powered-off CID: " .. tostring(err))
  local again = assert(l:accept())                  -- after the power-on
  sim.expect(again:recv(5) == "again", "a new connection after power-on")
end)

guest:spawn("client", function(p)
  local s = assert(p:socket("stream"))
  assert(s:connect(sim.CID_HOST, 5000))
  p:sleep(sim.s(10))
  killed_ran_on = true                              -- never: the process is killed
end)

w:at(sim.ms(1), function()
  guest:power_off()
  sim.expect(guest.state == "powered_off", "state: " .. guest.state)
  guest:spawn("after", function(p)                  -- waits for the next power-on (D4)
    sim.expect(p:local_cid() == 3000, "the same CID again")
    local s = assert(p:socket("stream"))
    assert(s:connect(sim.CID_HOST, 5000))
    assert(s:send("again"))
    p:sleep(sim.ms(1))
  end)
end)
w:at(sim.ms(5), function() guest:power_on() end)
local result = w:run()
sim.expect(not killed_ran_on, "the guest's process was killed by the power-off")
sim.expect(result.stopped == "idle", result.stopped)
local ok, err = pcall(guest.resume, guest)
sim.expect(not ok and err:find("not suspended"), "resume of a running VM is an error: " .. tostring(err))
