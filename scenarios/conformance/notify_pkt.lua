-- scenarios/conformance/notify_pkt.lua: the packet-based notification protocol (R180-R183),
-- used when the client speaks protocol v1 (REQUEST/NEGOTIATE; here forced with
-- guest:vsock{ protocol = 1 }). A reader that blocks sends WAITING_READ once; the
-- producer sends WROTE only while the peer waits; a write nobody waits for sends nothing.
-- (tests/notify_test.sh reads the trace.)
local sim = require("vmcisim")
local w = sim.world{}
local host, guest = w:host(), w:vm{ name = "guest1" }
guest:vsock{ protocol = 1 }

host:spawn("server", function(p)
  local l = assert(p:socket("stream"))
  assert(l:bind(sim.CID_ANY, 5000)); assert(l:listen(1))
  local c = assert(l:accept())
  p:sleep(sim.ms(1)); sim.log("phase 1: the reader is already blocked")
  assert(c:send("a"))
  p:sleep(sim.ms(1)); sim.log("phase 2: nobody waits")
  assert(c:send("b"))
  p:sleep(sim.ms(2)); sim.log("done")
end)

guest:spawn("client", function(p)
  local s = assert(p:socket("stream"))
  assert(s:connect(sim.CID_HOST, 5000))
  sim.expect(s:recv(1) == "a", "a arrives after WAITING_READ / WROTE")
  p:sleep(sim.ms(2))
  sim.expect(s:recv(1) == "b", "b was there without a notification")
end)
