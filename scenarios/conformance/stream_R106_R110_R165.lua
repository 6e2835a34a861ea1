-- scenarios/conformance/stream_R106_R110_R165.lua: half-open children and the backlog.
-- A client whose interrupts are masked sends its REQUEST2 but never sees the NEGOTIATE2:
-- the listener's child stays half-open and counts toward the backlog (R165, R106), so with
-- backlog 1 a second client is refused (RST -> ECONNRESET, R212). After 1 s the half-open
-- child expires silently (R110) and a third client gets in.
local sim = require("vmcisim")
local w = sim.world{}
local host = w:host()
local stuck, other = w:vm{ name = "stuck" }, w:vm{ name = "other" }

host:spawn("server", function(p)
  local l = assert(p:socket("stream"))
  assert(l:bind(sim.CID_ANY, 6300)); assert(l:listen(1))
  local c = assert(l:accept())
  sim.expect(w.now > sim.s(1), "the only accepted connection came after the expiry")
  sim.expect(c:recv(5) == "third", "the third client got in")
  p:sleep(sim.ms(1))
end)

stuck:spawn("half_open", function(p)
  stuck:device():write("IMR", 0)                -- never sees NEGOTIATE2
  local s = assert(p:socket("stream"))
  s:setblocking(false)
  local ok, name = s:connect(sim.CID_HOST, 6300)
  sim.expect(ok == nil and name == "EINPROGRESS", "non-blocking connect in progress")
  p:sleep(sim.s(3))
end)

other:spawn("second", function(p)
  p:sleep(sim.ms(1))
  local s = assert(p:socket("stream"))
  local ok, name = s:connect(sim.CID_HOST, 6300)
  sim.expect(ok == nil and name == "ECONNRESET", "backlog full with a half-open child: " .. tostring(name))
  p:sleep(sim.s(1) + sim.ms(10))                -- past the 1 s expiry of the half-open child
  local t = assert(p:socket("stream"))
  assert(t:connect(sim.CID_HOST, 6300))
  assert(t:send("third"))
  p:sleep(sim.ms(5))
end)
