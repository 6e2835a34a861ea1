-- scenarios/conformance/dgram_R153.lua: who may exchange datagrams with a restricted VM
-- (R153, R199, R51, R196, D1). On ESXi 5.0, a VM is restricted unless its vmx says
-- vmci0.unrestricted = "TRUE". A host process is trusted by default (D1); one spawned with
-- trusted = false is not:
--   untrusted host -> restricted VM      EPERM (the sender's R153 check, R185)
--   untrusted host -> unrestricted VM    delivered
--   trusted host   -> restricted VM      delivered
--   restricted VM  -> untrusted host     EPERM (the hypervisor's R51 check on the host
--                                        socket's handle, R199)
--   unrestricted VM -> untrusted host    delivered
--   restricted VM  -> itself             delivered (D8: restriction is between contexts)
--   unrestricted VM -> restricted VM     EPERM (the hypervisor's R51 check: inside a guest
--                                        R153 sees no other context's flags, D17)
local sim = require("vmcisim")
local w = sim.world{ product = "esxi-5.0" }
local host = w:host()
local restricted = w:vm{ name = "restricted" }
local open = w:vm{ name = "open", vmx = { ["vmci0.unrestricted"] = "TRUE" } }
local bound = 0

local function receiver(name, expected)
  return function(p)
    local s = assert(p:socket("dgram"))
    assert(s:bind(sim.CID_ANY, 9300))
    bound = bound + 1
    for _ = 1, #expected do
      local data = assert(s:recv(100))
      sim.expect(data == table.remove(expected, 1), name .. " received " .. data)
    end
    p:sleep(sim.ms(1))                -- stay bound while the refused senders try
  end
end

restricted:spawn("receiver", receiver("restricted", { "from trusted" }))
open:spawn("receiver", receiver("open", { "from untrusted" }))
host:spawn("untrusted_receiver", receiver("untrusted host", { "from open" }), { trusted = false })

host:spawn("untrusted", function(p)
  while bound < 3 do p:sleep(sim.us(10)) end
  local s = assert(p:socket("dgram"))
  local ok, name = s:sendto("from untrusted", restricted.cid, 9300)
  sim.expect(ok == nil and name == "EPERM", "untrusted host to a restricted VM: "
             .. tostring(name))
  sim.expect(s:sendto("from untrusted", open.cid, 9300) == 14,
             "untrusted host to an unrestricted VM")
end, { trusted = false })

host:spawn("trusted", function(p)
  while bound < 3 do p:sleep(sim.us(10)) end
  local s = assert(p:socket("dgram"))
  sim.expect(s:sendto("from trusted", restricted.cid, 9300) == 12,
             "trusted host to a restricted VM (D1)")
end)

restricted:spawn("sender", function(p)
  while bound < 3 do p:sleep(sim.us(10)) end
  local s = assert(p:socket("dgram"))
  local ok, name = s:sendto("from restricted", sim.CID_HOST, 9300)
  sim.expect(ok == nil and name == "EPERM", "restricted VM to an untrusted host socket (R199): "
             .. tostring(name))
end)

open:spawn("sender", function(p)
  while bound < 3 do p:sleep(sim.us(10)) end
  local s = assert(p:socket("dgram"))
  sim.expect(s:sendto("from open", sim.CID_HOST, 9300) == 9,
             "unrestricted VM to an untrusted host socket")
  local ok, name = s:sendto("from open", restricted.cid, 9300)
  sim.expect(ok == nil and name == "EPERM", "unrestricted VM to a restricted VM (R51, D17): "
             .. tostring(name))
end)

restricted:spawn("loopback", function(p)
  local a = assert(p:socket("dgram"))
  assert(a:bind(sim.CID_ANY, 9301))
  local b = assert(p:socket("dgram"))
  sim.expect(b:sendto("to myself", restricted.cid, 9301) == 9, "a restricted VM to itself (D8)")
  local data, cid = assert(a:recvfrom(100))
  sim.expect(data == "to myself" and cid == restricted.cid, "delivered from its own CID")
end)
