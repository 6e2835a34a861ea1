-- scenarios/conformance/dgram_R193.lua: listen() and accept() on a datagram socket fail
-- with EOPNOTSUPP (R193, R105, R107), bound or not.
local sim = require("vmcisim")
local w = sim.world{}
local host = w:host()
local guest = w:vm{ name = "guest1" }

local function check(p)
  local s = assert(p:socket("dgram"))
  local ok, name = s:listen(5)
  sim.expect(ok == nil and name == "EOPNOTSUPP", "listen, unbound: " .. tostring(name))
  assert(s:bind(sim.CID_ANY, 9200))
  ok, name = s:listen(5)
  sim.expect(ok == nil and name == "EOPNOTSUPP", "listen, bound: " .. tostring(name))
  ok, name = s:accept()
  sim.expect(ok == nil and name == "EOPNOTSUPP", "accept: " .. tostring(name))
end

host:spawn("host", check)
guest:spawn("guest", check)
