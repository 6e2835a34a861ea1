-- scenarios/vmci/raw_device.lua: a guest kernel that misbehaves, through vm:device().
-- Masking the guest's interrupts holds datagrams in its device (the cause stays in
-- ICR, R32) until the mask is lifted; a spoofed source is refused (R37); an oversized
-- header is refused as soon as the header is complete (R36).
local sim = require("vmcisim")
local w = sim.world{}
local host = w:host()
local guest = w:vm{ name = "guest1" }
local dev = assert(guest:device())

local function datagram(dst_cid, dst_rid, src_cid, src_rid, payload)
  return string.pack("<I4I4I4I4I8", dst_cid, dst_rid, src_cid, src_rid, #payload) .. payload
end

local received_at
local receiver = guest:spawn("receiver", function(p)
  local dg = assert(p:vmci():datagram(600))
  dev:write("IMR", 0)                                   -- mask every cause
  sim.expect(dev:read("IMR") == 0, "IMR reads back what was written")
  local bytes = dg:recv()
  received_at = w.now
  sim.expect(bytes == "held", "the held datagram arrives after the unmask")
end)

host:spawn("sender", function(p)
  local dg = assert(p:vmci():datagram())
  p:sleep(sim.us(20))
  assert(dg:send(guest.cid, 600, "held"))
  p:sleep(sim.ms(1))
  sim.expect(received_at == nil, "nothing was delivered while masked")
  -- (Reading ICR here would clear the pending cause, R31: the guest would then need a
  -- new datagram to be interrupted at all.)
  dev:write("IMR", 3)                                   -- unmask: the interrupt fires
end)

guest:spawn("spoofer", function(p)
  p:join(receiver)               -- misbehave only after the masking test is over
  local spoofed = datagram(sim.CID_HOST, 600, 12345, 1, "from someone else")
  sim.expect(dev:write_datagram_raw(spoofed) == -7, "a spoofed source is VMCI_ERROR_NO_ACCESS")
  local oversized = string.pack("<I4I4I4I4I8", 2, 600, guest.cid, 1, 70000)
  sim.expect(dev:write_datagram_raw(oversized) == -2, "an oversized header is INVALID_ARGS")
  dev:write("CONTROL", 1)        -- reset: the rest of the oversized datagram is not awaited
  sim.expect(dev:read("STATUS") == 0, "after a reset interrupts are off")
end)
