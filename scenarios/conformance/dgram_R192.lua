-- scenarios/conformance/dgram_R192.lua: connect() on a datagram socket records a default
-- destination (R191); connect with AF_UNSPEC (Lua: s:disconnect()) dissolves it (R192):
-- the socket is unconnected again and send() without an address fails with EINVAL (R185).
local sim = require("vmcisim")
local w = sim.world{}
local guest = w:vm{ name = "guest1" }

w:host():spawn("sink", function(p)
  local s = assert(p:socket("dgram"))
  assert(s:bind(sim.CID_ANY, 3000))
  sim.expect(s:recvfrom(100) == "first", "the connected send arrived")
end)

guest:spawn("sender", function(p)
  local s = assert(p:socket("dgram"))
  assert(s:connect(sim.CID_HOST, 3000))
  sim.expect(s:state() == "connected", "connected: " .. s:state())
  sim.expect(s:send("first") == 5, "send to the default destination")
  assert(s:disconnect())
  sim.expect(s:state() == "unconnected", "unconnected again: " .. s:state())
  local ok, name = s:getpeername()
  sim.expect(ok == nil and name == "ENOTCONN", "no peer after the dissolve")
  local sent, err = s:send("second")
  sim.expect(sent == nil and err == "EINVAL", "send without a destination: " .. tostring(err))
end)
