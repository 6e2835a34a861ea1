-- scenarios/conformance/dgram_R134.lua: poll on a datagram socket (R134). It is writable
-- unless shut down for sending, and readable exactly when its receive queue holds a
-- datagram or it is shut down for receiving; a datagram's arrival wakes a poller.
local sim = require("vmcisim")
local w = sim.world{}
local host = w:host()
local guest = w:vm{ name = "guest1" }
local ready = false

local function events(p, s, want)
  local ready_list = p:poll({ { s, want } }, 0)
  return ready_list[1] and ready_list[1][2] or ""
end

host:spawn("poller", function(p)
  local s = assert(p:socket("dgram"))
  assert(s:bind(sim.CID_ANY, 9700))
  sim.expect(events(p, s, "rw") == "w", "empty queue: writable only")
  ready = true
  local woken = p:poll({ { s, "r" } }, sim.ms(10))
  sim.expect(#woken == 1 and woken[1][2] == "r", "a datagram's arrival wakes the poller")
  sim.expect(events(p, s, "r") == "r", "still readable until it is received")
  assert(s:recv(100))
  sim.expect(events(p, s, "rw") == "w", "drained: writable only again")
  s:shutdown("r")                     -- ENOTCONN (unconnected), but the bit is set (R124)
  sim.expect(events(p, s, "r") == "r", "RCV_SHUTDOWN: readable")
  sim.expect(s:recv(100) == "", "and recv returns an empty message at once (R188)")
  s:shutdown("w")
  sim.expect(events(p, s, "w"):find("w") == nil, "SEND_SHUTDOWN: not writable")
end)

guest:spawn("sender", function(p)
  while not ready do p:sleep(sim.us(10)) end
  p:sleep(sim.us(100))
  assert(assert(p:socket("dgram")):sendto("wake up", sim.CID_HOST, 9700))
end)
