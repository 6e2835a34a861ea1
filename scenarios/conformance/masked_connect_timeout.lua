-- scenarios/conformance/masked_connect_timeout.lua: the mechanism, not just the result.
-- With the guest's interrupts masked (IMR = 0 through vm:device()), the host's
-- NEGOTIATE never reaches the guest's socket: connect() fails with ETIMEDOUT after
-- exactly connect_timeout (R113, R114), and the engine ran only a few dozen events in
-- those 2 s (nothing polls). Unmasking lets a new connection through.
local sim = require("vmcisim")
local w = sim.world{}
local host = w:host()
local guest = w:vm{ name = "guest1" }

host:spawn("server", function(p)
  local l = assert(p:socket("stream"))
  assert(l:bind(sim.CID_ANY, 4000)); assert(l:listen(8))
  local c = assert(l:accept())
  assert(c:send("through"))
  p:sleep(sim.ms(1))
end)

guest:spawn("client", function(p)
  local dev = assert(guest:device())
  dev:write("IMR", 0)
  local s = assert(p:socket("stream"))
  local started, events_before = w.now, w.events
  local ok, name, code = s:connect(sim.CID_HOST, 4000)
  sim.expect(ok == nil and name == "ETIMEDOUT" and code == 110, "connect timed out: " .. tostring(name))
  sim.expect(w.now - started == sim.s(2), "after exactly 2 s: " .. (w.now - started))
  sim.expect(w.events - events_before <= 40, "few events meanwhile: " .. (w.events - events_before))
  s:close()
  dev:write("IMR", 3)                                   -- unmask: new connections work
  local again = assert(p:socket("stream"))
  assert(again:connect(sim.CID_HOST, 4000))
  sim.expect(again:recv(7) == "through", "the second connection carries data")
end)
