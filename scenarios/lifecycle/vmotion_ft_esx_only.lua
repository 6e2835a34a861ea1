-- scenarios/lifecycle/vmotion_ft_esx_only.lua: vMotion and fault tolerance exist only in
-- ESX/ESXi products (R195, R207, R208). Under Workstation 8, vm:vmotion(), vm:ft(true) and
-- vm:ft(false) are scenario errors naming the product, and a refused call changes nothing:
-- the VM stays powered on with its CID, not in FT mode, and its established stream to the
-- host keeps working. Suspend and resume exist under every product.
local sim = require("vmcisim")
local w = sim.world{ product = "workstation-8", host_os = "linux" }
local host = w:host()
local guest = w:vm{ name = "guest1" }
local connected, refused_all = false, false

local function refused(what, pattern, fn, ...)
  local ok, err = pcall(fn, ...)
  sim.expect(not ok and tostring(err):find(pattern, 1, true) ~= nil,
             string.format("%s: an error containing %q, got %s", what, pattern, tostring(err)))
end

host:spawn("server", function(p)
  local listener = assert(p:socket("stream"))
  assert(listener:bind(sim.CID_ANY, 5000))
  assert(listener:listen(1))
  local conn = assert(listener:accept())
  sim.expect(assert(conn:recv(100)) == "still here", "the stream survived the refused calls")
  assert(conn:send("yes"))
end)

guest:spawn("client", function(p)
  local s = assert(p:socket("stream"))
  assert(s:connect(sim.CID_HOST, 5000))
  connected = true
  while not refused_all do p:sleep(sim.us(10)) end
  assert(s:send("still here"))
  sim.expect(s:recv(100) == "yes", "the host answered on the same connection")
end)

host:spawn("operator", function(p)
  while not connected do p:sleep(sim.us(10)) end
  local cid = guest.cid
  refused("vmotion", "vm:vmotion: workstation-8 has no vMotion", guest.vmotion, guest)
  refused("ft(true)", "vm:ft: workstation-8 has no fault tolerance", guest.ft, guest, true)
  refused("ft(false)", "vm:ft: workstation-8 has no fault tolerance", guest.ft, guest, false)
  sim.expect(guest.state == "powered_on" and guest.cid == cid and guest.fault_tolerant == false,
             "the refused calls changed nothing")
  refused_all = true
end)

local result = w:run()
sim.expect(result.stopped == "idle", "stopped: " .. result.stopped)

-- R195: suspend and resume exist under every product.
guest:suspend()
sim.expect(guest.state == "suspended", "suspend under workstation-8: " .. guest.state)
guest:resume()
sim.expect(guest.state == "powered_on", "resume under workstation-8: " .. guest.state)
