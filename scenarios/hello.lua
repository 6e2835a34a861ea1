-- scenarios/hello.lua: the default scenario (`make run`).
--
-- A host and one guest VM. Three processes sleep, log and meet at known
-- simulated times; a timer callback checks the clock from outside. Guest
-- processes start once the guest's VMCI driver has loaded (a few microseconds
-- of register accesses after power-on). Every line sim.log prints is also an
-- event in the trace, and the run's digest is the same on every machine for
-- the same seed.
local sim = require("vmcisim")

local w = sim.world{ product = "esxi-6.5" }
local host = w:host()
local guest = w:vm{ name = "guest1", os = "linux", vmx = { ["vmci0.id"] = "1066538581" } }

host:spawn("clock", function(p)
  for tick = 1, 3 do
    p:sleep(sim.ms(1))
    sim.log("tick %d at %d ns", tick, w.now)
  end
end)

guest:spawn("early", function(p)
  local started = w.now               -- when the guest driver had loaded
  sim.log("guest driver loaded after %d ns", started)
  p:sleep(sim.us(500))
  sim.log("guest %s (cid %d) is awake", guest.name, p:local_cid())
  sim.expect(w.now == started + sim.us(500), "woke exactly 500 us after starting")
end)

guest:spawn("late", function(p)
  p:sleep(sim.ms(2.5) - w.now)        -- wake at 2.5 ms of world time
  sim.log("meets the clock between tick 2 and tick 3")
  sim.expect(w.now == 2500000, "woke at 2.5 ms")
end)

w:at(sim.ms(2), function()
  sim.log("timer at 2 ms: %d processes still sleeping", 2)
end)

local result = w:run()
sim.expect(result.stopped == "idle", "the world ran out of things to do")
sim.expect(result.now_ns == sim.ms(3), "the last tick is at 3 ms")
print(string.format("hello: %d events, stopped %s at %d ns", result.events, result.stopped,
                    result.now_ns))
