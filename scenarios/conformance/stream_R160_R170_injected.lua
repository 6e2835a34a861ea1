-- scenarios/conformance/stream_R160_R170_injected.lua: control packets a guest kernel writes
-- by hand to its device (vm:device():write_datagram_raw), as a buggy or hostile peer would.
-- R170: an RST on an established connection is a clean peer shutdown of both directions:
--       queued data stays readable, then recv() gives "" and no errno; send() gives EPIPE.
-- R160: an unexpected packet (here WROTE) reaching a client in TCP_SYN_SENT fails its
--       connect() with EPROTO.
local sim = require("vmcisim")
local w = sim.world{}
local host = w:host()
local guest = w:vm{ name = "guest1" }
local dev = assert(guest:device())

-- A 56-byte control packet (7.1) from {guest, 1} to {2, 1}.
local function packet(kind, src_port, dst_port)
  local header = string.pack("<I4I4I4I4I8", sim.CID_HOST, 1, guest.cid, 1, 32)
  return header .. string.pack("<BBI2I4I4I4I8I8", 1, kind, 0, src_port, dst_port, 0, 0, 0)
end
local RST, WROTE = 7, 5

host:spawn("server", function(p)
  local l = assert(p:socket("stream"))
  assert(l:bind(sim.CID_ANY, 6400)); assert(l:listen(1))
  local c = assert(l:accept())
  p:sleep(sim.ms(1))                                   -- "abc" queued, then the RST
  sim.expect(c:recv(10) == "abc", "R170: data queued before the RST stays readable")
  sim.expect(c:recv(10) == "", "R170: then end of stream")
  sim.expect(c:getsockopt("error") == nil, "R170: no errno is reported")
  local ok, name = c:send("x")
  sim.expect(ok == nil and name == "EPIPE", "R170: send after the RST: " .. tostring(name))
end)

guest:spawn("client", function(p)
  local s = assert(p:socket("stream"))
  assert(s:connect(sim.CID_HOST, 6400))
  assert(s:send("abc"))
  local _, my_port = s:getsockname()
  local result = dev:write_datagram_raw(packet(RST, my_port, 6400))
  sim.expect(result == 56, "the hand-made RST was routed: " .. result)
  p:sleep(sim.ms(5))
end)

-- R160: a host client connecting to a guest whose interrupts are masked never sees the
-- NEGOTIATE2; the guest kernel then writes a WROTE to the client's port by hand.
host:spawn("connector", function(p)
  p:sleep(sim.ms(10))
  local s = assert(p:socket("stream"))
  assert(s:bind(sim.CID_ANY, 7777))
  local ok, name = s:connect(guest.cid, 6500)
  sim.expect(ok == nil and name == "EPROTO", "R160: unexpected packet while connecting: " .. tostring(name))
end)

guest:spawn("injector", function(p)
  local l = assert(p:socket("stream"))
  assert(l:bind(sim.CID_ANY, 6500)); assert(l:listen(1))
  p:sleep(sim.ms(9))
  dev:write("IMR", 0)                                  -- the REQUEST2 will wait in the device
  p:sleep(sim.ms(2))
  local header = string.pack("<I4I4I4I4I8", sim.CID_HOST, 1, guest.cid, 1, 32)
  local wrote = header .. string.pack("<BBI2I4I4I4I8I8", 1, WROTE, 0, 6500, 7777, 0, 0, 0)
  sim.expect(dev:write_datagram_raw(wrote) == 56, "the hand-made WROTE was routed")
  p:sleep(sim.ms(5))
end)
