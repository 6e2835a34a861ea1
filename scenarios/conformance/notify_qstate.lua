-- scenarios/conformance/notify_qstate.lua: the queue-state notification protocol
-- (R176-R178), counted in the trace by a process that runs after the exchange:
-- writing into an empty queue sends one WROTE; writing into a non-empty queue sends none;
-- READ goes out only after reading from a full queue; WAITING_* are never sent.
-- (tests/notify_test.sh reads the trace of this scenario and of notify_pkt.lua.)
local sim = require("vmcisim")
local w = sim.world{}
local host, guest = w:host(), w:vm{ name = "guest1" }
local Q = 65536

host:spawn("server", function(p)
  local l = assert(p:socket("stream"))
  assert(l:bind(sim.CID_ANY, 5000)); assert(l:listen(1))
  local c = assert(l:accept())
  p:sleep(sim.ms(1)); sim.log("phase 1: two writes into an empty queue, read in between")
  assert(c:send("a")); p:sleep(sim.ms(1))
  p:sleep(sim.ms(1)); assert(c:send("b"))
  p:sleep(sim.ms(1)); sim.log("phase 2: two writes without a read")
  assert(c:send("c")); assert(c:send("d"))
  p:sleep(sim.ms(1)); sim.log("phase 3: fill the queue, the reader drains it")
  assert(c:send(string.rep("x", Q - 1)))
  p:sleep(sim.ms(2)); sim.log("done")
  p:sleep(sim.ms(1))
end)

guest:spawn("client", function(p)
  local s = assert(p:socket("stream"))
  assert(s:connect(sim.CID_HOST, 5000))
  p:sleep(sim.ms(1) + sim.us(500))
  sim.expect(s:recv(1) == "a", "a")
  p:sleep(sim.ms(2))
  sim.expect(s:recv(1) == "b", "b")
  p:sleep(sim.ms(2))
  sim.expect(s:recv(2) == "cd", "cd")
  p:sleep(sim.ms(1) + sim.us(500))
  local got = 0
  while got < Q - 1 do got = got + #assert(s:recv(Q)) end
end)
