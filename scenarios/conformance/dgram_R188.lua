-- scenarios/conformance/dgram_R188.lua: receiving one datagram per call (R188). A buffer
-- shorter than the payload truncates it: recvfrom returns the bytes that fit and
-- truncated = true, and the rest of that datagram is gone. MSG_PEEK returns the head
-- datagram (with its source) and leaves it queued. An empty queue with "dontwait" is
-- EAGAIN. The source address is the sender's {CID, port}.
local sim = require("vmcisim")
local w = sim.world{}
local host = w:host()
local guest = w:vm{ name = "guest1" }
local ready = false

guest:spawn("reader", function(p)
  local s = assert(p:socket("dgram"))
  assert(s:bind(sim.CID_ANY, 8100))
  local ok, name = s:recvfrom(100, "dontwait")
  sim.expect(ok == nil and name == "EAGAIN", "empty queue, dontwait: EAGAIN")
  ready = true
  local peeked, cid, port, truncated = assert(s:recvfrom(4, "peek"))
  sim.expect(peeked == "0123" and truncated, "peek of 4 bytes: '0123', truncated")
  sim.expect(cid == sim.CID_HOST and port == 8200, "peek reports the source 2:8200")
  peeked = assert(s:recvfrom(100, { "peek" }))
  sim.expect(peeked == "0123456789", "a second peek sees the whole datagram again")
  local data
  data, cid, port, truncated = assert(s:recvfrom(4))
  sim.expect(data == "0123" and truncated, "recvfrom(4): '0123', truncated")
  data, _, _, truncated = assert(s:recvfrom(100))
  sim.expect(data == "abcdefghij" and not truncated,
             "the rest of the first datagram is gone; the next is whole: " .. data)
  data, _, _, truncated = assert(s:recvfrom(0))
  sim.expect(data == "" and truncated, "recvfrom(0) takes the third datagram, truncated")
  ok, name = s:recv(100, "dontwait")
  sim.expect(ok == nil and name == "EAGAIN", "the truncated datagrams left nothing behind")
end)

host:spawn("writer", function(p)
  while not ready do p:sleep(sim.us(10)) end
  local s = assert(p:socket("dgram"))
  assert(s:bind(sim.CID_ANY, 8200))
  assert(s:sendto("0123456789", guest.cid, 8100))
  assert(s:sendto("abcdefghij", guest.cid, 8100))
  assert(s:sendto("third", guest.cid, 8100))
end)
