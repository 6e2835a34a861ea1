-- scenarios/conformance/dgram_R187.lua: one send is one datagram (R187). A zero-length
-- datagram is legal and arrives as an empty message; datagrams queued together are never
-- merged, even when the reader's buffer could hold them all.
local sim = require("vmcisim")
local w = sim.world{}
local host = w:host()
local guest = w:vm{ name = "guest1" }
local ready = false

host:spawn("reader", function(p)
  local s = assert(p:socket("dgram"))
  assert(s:bind(sim.CID_ANY, 8000))
  ready = true
  p:sleep(sim.ms(1))                  -- let all four queue up before reading
  local expected = { "", "a", "bb", "ccc" }
  for i, want in ipairs(expected) do
    local data, cid, _, truncated = assert(s:recvfrom(4096))
    sim.expect(data == want, string.format("datagram %d is %q, got %q", i, want, data))
    sim.expect(cid == guest.cid and not truncated, "whole, from the guest")
  end
  local ok, name = s:recv(4096, "dontwait")
  sim.expect(ok == nil and name == "EAGAIN", "nothing more: the four were not merged or split")
end)

guest:spawn("writer", function(p)
  while not ready do p:sleep(sim.us(10)) end
  local s = assert(p:socket("dgram"))
  sim.expect(s:sendto("", sim.CID_HOST, 8000) == 0, "a zero-length send returns 0")
  for _, message in ipairs({ "a", "bb", "ccc" }) do
    sim.expect(s:sendto(message, sim.CID_HOST, 8000) == #message, "sent " .. message)
  end
end)
