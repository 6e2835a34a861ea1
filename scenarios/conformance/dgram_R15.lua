-- scenarios/conformance/dgram_R15.lua: datagram ports are VMCI resource IDs (R15, R23,
-- D13). A datagram socket bound to PORT_ANY, explicitly or by auto-bind (R19), gets the
-- next RID of its own kernel's counter, which starts at 1024 in the host and in every
-- guest. Stream and datagram ports are separate spaces; two datagram sockets conflict
-- when the handle table holds the RID for a matching CID (R16: EADDRINUSE); bind checks
-- R17 (EADDRNOTAVAIL) and R18 (EINVAL) first.
local sim = require("vmcisim")
local w = sim.world{}
local host = w:host()
local guest1 = w:vm{ name = "guest1" }
local guest2 = w:vm{ name = "guest2" }

local function ephemeral(p, who)
  local a = assert(p:socket("dgram"))
  assert(a:bind(sim.CID_ANY, sim.PORT_ANY))
  local cid, port = a:getsockname()
  sim.expect(cid == sim.CID_ANY and port == 1024, who .. ": the first ephemeral port is 1024, got "
             .. port)
  local b = assert(p:socket("dgram"))
  assert(b:connect(sim.CID_HOST, 9999))            -- auto-binds (R19), sends nothing
  _, port = b:getsockname()
  sim.expect(port == 1025, who .. ": the next one is 1025, got " .. port)
end

host:spawn("host", function(p) ephemeral(p, "host") end)
guest1:spawn("guest1", function(p) ephemeral(p, "guest1") end)

guest2:spawn("guest2", function(p)
  ephemeral(p, "guest2")
  local stream = assert(p:socket("stream"))
  assert(stream:bind(sim.CID_ANY, 5000))
  local dgram = assert(p:socket("dgram"))
  sim.expect(dgram:bind(sim.CID_ANY, 5000), "a stream and a datagram socket share port 5000")
  local ok, name = assert(p:socket("dgram")):bind(sim.CID_ANY, 5000)
  sim.expect(ok == nil and name == "EADDRINUSE", "5000 again: " .. tostring(name))
  ok, name = assert(p:socket("dgram")):bind(p:local_cid(), 5000)
  sim.expect(ok == nil and name == "EADDRINUSE", "own CID vs ANY on 5000: " .. tostring(name))
  local specific = assert(p:socket("dgram"))
  assert(specific:bind(p:local_cid(), 5001))
  local cid, port = specific:getsockname()
  sim.expect(cid == p:local_cid() and port == 5001, "bound to our own CID (R104)")
  ok, name = assert(p:socket("dgram")):bind(sim.CID_ANY, 5001)
  sim.expect(ok == nil and name == "EADDRINUSE", "ANY vs own CID on 5001: " .. tostring(name))
  ok, name = assert(p:socket("dgram")):bind(guest1.cid, 5002)
  sim.expect(ok == nil and name == "EADDRNOTAVAIL", "another VM's CID (R17): " .. tostring(name))
  ok, name = specific:bind(sim.CID_ANY, 5003)
  sim.expect(ok == nil and name == "EINVAL", "bind twice (R18): " .. tostring(name))
end)
