-- scenarios/lifecycle/lifecycle_errors.lua: misuse of the lifecycle calls is a Lua error
-- (scenario-api.md "Host and VM endpoints"; sim/lua/lifecycle.c), and a suspended VM can be
-- powered off.
-- Errors: resume of a running or frozen VM; suspend, vmotion, freeze or ft(true) of a
--   suspended VM; suspend, freeze, vmotion of a frozen VM; thaw of a running or suspended VM;
--   ft(false) outside FT mode; ft with a non-boolean; any lifecycle call on the host; a VM
--   calling its own lifecycle from one of its processes; a call while the guest's driver
--   is still loading (D4); calls on a powered-off VM. A failed call changes nothing.
-- Allowed: a host process suspends and resumes a VM.
-- R204/R205/R8: powering off a suspended VM works (state "powered_off"; its processes, parked
--   since the suspend, never run again) and frees its CID: a new VM asking for it gets it;
--   powered on again, the first VM then gets the next free CID, written back to vmci0.id.
local sim = require("vmcisim")
local w = sim.world{}
local host = w:host()
local a = w:vm{ name = "vmA", vmx = { ["vmci0.id"] = "5000" } }

local function expect_error(pattern, what, fn, ...)
  local ok, err = pcall(fn, ...)
  sim.expect(not ok and tostring(err):find(pattern, 1, true) ~= nil,
             string.format("%s: an error containing %q, got %s", what, pattern, tostring(err)))
end

-- While the driver is loading (D4): no lifecycle yet.
expect_error("still powering on", "suspend during driver load", a.suspend, a)
expect_error("still powering on", "freeze during driver load", a.freeze, a)
sim.expect(a.state == "powered_on", "state: " .. a.state)

-- The host has no lifecycle.
for _, method in ipairs({ "suspend", "resume", "vmotion", "freeze", "thaw", "power_off",
                          "power_on" }) do
  expect_error("the host has no lifecycle", "host:" .. method, host[method], host)
end
expect_error("the host has no lifecycle", "host:ft", host.ft, host, true)
sim.expect(host.fault_tolerant == nil, "the host has no fault_tolerant field")

local a_ran_after_suspend = false
a:spawn("self", function(p)
  -- A VM cannot drive its own lifecycle.
  for _, method in ipairs({ "suspend", "vmotion", "freeze", "power_off" }) do
    expect_error("called from a process of vmA itself", "vmA:" .. method .. " from vmA",
                 a[method], a)
  end
  expect_error("called from a process of vmA itself", "vmA:ft from vmA", a.ft, a, true)
  sim.expect(a.state == "powered_on" and a.fault_tolerant == false, "nothing changed")
  p:sleep(sim.ms(10))                            -- A is suspended, then powered off meanwhile
  a_ran_after_suspend = true
end)

host:spawn("operator", function(p)
  p:sleep(sim.ms(1))
  -- On a running VM.
  expect_error("not suspended", "resume of a running VM", a.resume, a)
  expect_error("not frozen", "thaw of a running VM", a.thaw, a)
  expect_error("not in fault-tolerance mode already", "ft(false) outside FT", a.ft, a, false)
  expect_error("boolean expected", "ft with a non-boolean", a.ft, a, 1)
  -- Frozen.
  a:freeze()
  sim.expect(a.state == "frozen", "frozen: " .. a.state)
  expect_error("vmA is frozen", "freeze of a frozen VM", a.freeze, a)
  expect_error("vmA is frozen", "suspend of a frozen VM", a.suspend, a)
  expect_error("vmA is frozen", "vmotion of a frozen VM", a.vmotion, a)
  expect_error("vmA is frozen", "ft(true) of a frozen VM", a.ft, a, true)
  expect_error("not suspended", "resume of a frozen VM", a.resume, a)
  a:thaw()
  sim.expect(a.state == "powered_on", "thawed: " .. a.state)
  -- Suspended, from a host process (allowed).
  a:suspend()
  sim.expect(a.state == "suspended", "suspended from a host process: " .. a.state)
  expect_error("vmA is suspended", "suspend of a suspended VM", a.suspend, a)
  expect_error("vmA is suspended", "freeze of a suspended VM", a.freeze, a)
  expect_error("vmA is suspended", "vmotion of a suspended VM", a.vmotion, a)
  expect_error("vmA is suspended", "ft(true) of a suspended VM", a.ft, a, true)
  expect_error("not frozen", "thaw of a suspended VM", a.thaw, a)
  expect_error("already powered on", "power_on of a suspended VM", a.power_on, a)
  sim.expect(a.state == "suspended" and a.fault_tolerant == false, "the failed calls changed nothing")
  a:resume()
  sim.expect(a.state == "powered_on" and a.cid == 5000, "resumed from a host process")
  p:sleep(sim.ms(1))
  a:suspend()
end)

w:run{ until_ns = sim.ms(3) }
sim.expect(a.state == "suspended", "A suspended at 3 ms: " .. a.state)

-- R204/R205: power off the suspended VM; its CID 5000 is free again.
a:power_off()
sim.expect(a.state == "powered_off", "power_off of a suspended VM: " .. a.state)
expect_error("already powered off", "power_off twice", a.power_off, a)
expect_error("is powered_off", "suspend of a powered-off VM", a.suspend, a)
expect_error("not suspended", "resume of a powered-off VM", a.resume, a)
expect_error("not frozen", "thaw of a powered-off VM", a.thaw, a)
expect_error("is powered_off", "ft(true) of a powered-off VM", a.ft, a, true)
local c = w:vm{ name = "vmC", vmx = { ["vmci0.id"] = "5000" } }
sim.expect(c.cid == 5000, "R204: the powered-off VM's CID is free: vmC gets 5000: " .. tostring(c.cid))
a:power_on()
sim.expect(a.state == "powered_on", "A powered on again: " .. a.state)
sim.expect(a.cid == 5001, "R8: 5000 is taken, A gets 5001: " .. tostring(a.cid))
sim.expect(a:vmx("vmci0.id") == "5001", "R8: written back: " .. tostring(a:vmx("vmci0.id")))

local result = w:run()
sim.expect(result.stopped == "idle", "stopped: " .. result.stopped)
sim.expect(not a_ran_after_suspend, "R204: A's process, parked since the suspend, was killed")
