-- scenarios/conformance/dgram_R189.lua: a datagram socket's receive queue is bounded by
-- SO_RCVBUF (default 212992 bytes), each datagram counting 24 + payload bytes; one that
-- arrives when the queue is at or above the limit is dropped silently and its sender
-- still sees success (R189).
--
-- With 4000-byte payloads each datagram counts 4024 bytes. Datagram n is accepted iff the
-- (n - 1) before it count less than 212992: 52 * 4024 = 209248 < 212992 accepts the 53rd,
-- 53 * 4024 = 213272 drops the 54th and every later one. So the sleeping reader finds
-- exactly datagrams 1..53 of the 60 sent.
--
-- SO_RCVBUF sets the limit (R146): with rcvbuf = 1000 and 100-byte payloads (124 bytes
-- each), 8 * 124 = 992 < 1000 accepts the 9th and 9 * 124 = 1116 drops the 10th.
local sim = require("vmcisim")
local w = sim.world{}
local host = w:host()
local guest = w:vm{ name = "guest1" }
local PAYLOAD, SENT, FIT = 4000, 60, 53
local ready, sent_all = false, false

local function datagram(i)             -- sequence number first, then filler
  return string.format("%04d", i) .. sim.pattern(i, 0, PAYLOAD - 4)
end

host:spawn("reader", function(p)
  local s = assert(p:socket("dgram"))
  assert(s:bind(sim.CID_ANY, 9000))
  ready = true
  while not sent_all do p:sleep(sim.ms(1)) end
  p:sleep(sim.ms(1))                  -- the last deliveries are in
  local received = 0
  while true do
    local data, name = s:recv(PAYLOAD, "dontwait")
    if data == nil then
      sim.expect(name == "EAGAIN", "the queue ends with EAGAIN: " .. tostring(name))
      break
    end
    received = received + 1
    sim.expect(data == datagram(received), "datagram " .. received .. " in order and intact")
  end
  sim.expect(received == FIT, string.format("%d datagrams fit in 212992 bytes, got %d", FIT,
                                            received))
  -- With the queue drained, datagrams are accepted again.
  ready = false
  sim.expect(assert(s:recv(PAYLOAD)) == "again", "the drained queue accepts new datagrams")
end)

guest:spawn("writer", function(p)
  while not ready do p:sleep(sim.us(10)) end
  local s = assert(p:socket("dgram"))
  for i = 1, SENT do
    sim.expect(s:sendto(datagram(i), sim.CID_HOST, 9000) == PAYLOAD,
               "the sender sees success for datagram " .. i .. ", dropped or not")
  end
  sent_all = true
  while ready do p:sleep(sim.ms(1)) end
  assert(s:sendto("again", sim.CID_HOST, 9000))
end)

host:spawn("small_rcvbuf", function(p)
  local s = assert(p:socket("dgram"))
  assert(s:setsockopt("rcvbuf", 1000))
  sim.expect(s:getsockopt("rcvbuf") == 1000, "SO_RCVBUF reads back")
  assert(s:bind(sim.CID_ANY, 9001))
  for i = 1, 12 do
    sim.expect(assert(s:sendto(string.format("%03d", i) .. string.rep("x", 97), sim.CID_HOST,
                               9001)) == 100, "host-local send " .. i .. " succeeds")
  end
  p:sleep(sim.ms(1))
  local received = 0
  while s:recv(100, "dontwait") do received = received + 1 end
  sim.expect(received == 9, "9 datagrams of 124 bytes fit in rcvbuf = 1000, got " .. received)
end)
