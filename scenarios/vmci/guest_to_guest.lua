-- scenarios/vmci/guest_to_guest.lua: a datagram from one guest to another. On
-- esxi-6.5 guest-to-guest VMCI is gone (section 9: "no"); on esxi-5.0 it is allowed
-- between two unrestricted VMs of the same domain (R197). Run with `-- esxi-5.0` or
-- `-- esxi-6.5` (the default); the test suite runs both.
local sim = require("vmcisim")
local product = arg[1] or "esxi-6.5"
local w = sim.world{ product = product }
local unrestricted = { ["vmci0.unrestricted"] = "TRUE" }
local a = w:vm{ name = "a", vmx = unrestricted }
local b = w:vm{ name = "b", vmx = unrestricted }

b:spawn("listener", function(p)
  local dg = assert(p:vmci():datagram(900))
  local bytes = dg:recv(sim.ms(1))
  if product == "esxi-5.0" then
    sim.expect(bytes == "hello b", "b received a's datagram on esxi-5.0")
  else
    sim.expect(bytes == nil, "nothing reaches b on " .. product)
  end
end)

a:spawn("sender", function(p)
  local dg = assert(p:vmci():datagram())
  local result, name, code = dg:send(b.cid, 900, "hello b")
  if product == "esxi-5.0" then
    sim.expect(result == 24 + 7, "allowed between unrestricted VMs on esxi-5.0")
  else
    -- vmci0.unrestricted is ignored there (R196), so both VMs are restricted and R197
    -- refuses with NO_ACCESS (a restricted VM is involved, R51).
    sim.expect(result == nil and name == "VMCI_ERROR_NO_ACCESS" and code == -7,
               "refused on " .. product .. ": " .. tostring(name))
  end
  sim.log("%s: send to guest b -> %s", product, tostring(result or name))
end)
