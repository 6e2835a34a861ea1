-- scenarios/conformance/untrusted_host.lua: R199. VMs are restricted by default (R196),
-- so an untrusted host process (spawned with trusted = false, D1) cannot talk to them:
--   a guest's stream connect to an untrusted host listener fails at once with EPERM;
--   the untrusted host's connect to a listener in the guest times out (ETIMEDOUT);
-- while a trusted host process (the default) is unaffected.
local sim = require("vmcisim")
local w = sim.world{ product = "esxi-6.5" }
local host = w:host()
local guest = w:vm{ name = "guest1" }

host:spawn("untrusted_listener", function(p)
  local l = assert(p:socket("stream"))
  sim.expect(l:getsockopt("trusted") == false, "spawned untrusted")
  assert(l:bind(sim.CID_ANY, 4200)); assert(l:listen(4))
  p:sleep(sim.s(3))
end, { trusted = false })

host:spawn("trusted_listener", function(p)
  local l = assert(p:socket("stream"))
  assert(l:bind(sim.CID_ANY, 4201)); assert(l:listen(4))
  local c = assert(l:accept())
  assert(c:send("ok"))
  p:sleep(sim.ms(1))
end)

guest:spawn("listener", function(p)
  local l = assert(p:socket("stream"))
  assert(l:bind(sim.CID_ANY, 4300)); assert(l:listen(4))
  p:sleep(sim.s(3))
end)

guest:spawn("client", function(p)
  local s = assert(p:socket("stream"))
  local started = w.now
  local ok, name = s:connect(sim.CID_HOST, 4200)
  sim.expect(ok == nil and name == "EPERM", "connect to an untrusted host listener: " .. tostring(name))
  sim.expect(w.now - started < sim.ms(1), "fails at once")
  local t = assert(p:socket("stream"))
  assert(t:connect(sim.CID_HOST, 4201))
  sim.expect(t:recv(2) == "ok", "a trusted host listener is unaffected")
end)

host:spawn("untrusted_client", function(p)
  p:sleep(sim.ms(1))
  local s = assert(p:socket("stream"))
  local ok, name = s:connect(guest.cid, 4300)
  sim.expect(ok == nil and name == "ETIMEDOUT", "untrusted host -> restricted guest: " .. tostring(name))
end, { trusted = false })
