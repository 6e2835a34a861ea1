-- scenarios/conformance/device_reset.lua: a guest device reset (CONTROL_RESET through
-- vm:device()) in the middle of a stream detaches the guest's queue pairs (R34, R209);
-- the host peer sees the detach: end of stream, then EPIPE on send (R171, R220).
local sim = require("vmcisim")
local w = sim.world{}
local host = w:host()
local guest = w:vm{ name = "guest1" }

host:spawn("server", function(p)
  local l = assert(p:socket("stream"))
  assert(l:bind(sim.CID_ANY, 4100)); assert(l:listen(1))
  local c = assert(l:accept())
  local first = assert(c:recv(5))
  sim.expect(first == "12345", "data before the reset arrives")
  local eof = c:recv(100)
  sim.expect(eof == "", "end of stream after the guest's device reset: " .. tostring(eof))
  local ok, name = c:send("anyone?")
  sim.expect(ok == nil and name == "EPIPE", "send after the peer detached: " .. tostring(name))
  sim.expect(c:state() == "disconnecting", "state: " .. c:state())
end)

guest:spawn("client", function(p)
  local s = assert(p:socket("stream"))
  assert(s:connect(sim.CID_HOST, 4100))
  assert(s:send("12345"))
  p:sleep(sim.us(100))
  guest:device():write("CONTROL", 1)                    -- the guest resets its device
end)
