-- scenarios/vmci/timing.lua: the cost model is visible in simulated time. A guest's
-- datagram send costs two register accesses, one hypercall and the copy of its bytes
-- (docs/cost-model.md); doubling copy_ps_per_byte with w:timing doubles the copy part.
local sim = require("vmcisim")
local w = sim.world{ timing = { register_access_ns = 400 } }
local guest = w:vm{ name = "guest1" }
local payload = sim.pattern(9, 0, 59976)   -- 60 000 bytes with the header
local size = 24 + #payload

w:host():spawn("sink", function(p)
  local dg = assert(p:vmci():datagram(800))
  while true do dg:recv() end
end, { daemon = true })

guest:spawn("sender", function(p)
  local dg = assert(p:vmci():datagram())
  local function timed_send()
    local started = w.now
    assert(dg:send(sim.CID_HOST, 800, payload))
    return w.now - started
  end
  local fixed = 2 * 400 + 1500
  local first = timed_send()
  sim.expect(first == fixed + math.ceil(size * 100 / 1000), "default copy cost: " .. first)
  w:timing{ copy_ps_per_byte = 200 }
  local second = timed_send()
  sim.expect(second - fixed == 2 * (first - fixed), "the copy part doubled: " .. second)
  local ok, err = pcall(w.timing, w, { copy_ns = 1 })
  sim.expect(not ok and err:find("unknown option 'copy_ns'"), "unknown parameters are errors")
end)
