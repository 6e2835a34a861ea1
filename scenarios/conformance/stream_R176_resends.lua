-- scenarios/conformance/stream_R176_resends.lua: R176's "WROTE with retry". A host writes
-- into an empty queue pair while the guest is frozen and its device's pending datagram queue
-- is full to the last byte (R58): every WROTE the host sends is refused with
-- VMCI_ERROR_NO_RESOURCES, so the host tries VSOCK_MAX_DGRAM_RESENDS (10) times, then gives up
-- silently: its send still succeeds (the bytes are in the queue pair), and the guest, once
-- thawed, reads them without the notification. tests/notify_test.sh counts the attempts in
-- the trace (ten `pkt_send_failed` WROTE in the same instant, no eleventh).
local sim = require("vmcisim")
local w = sim.world{}
local host = w:host()
local guest = w:vm{ name = "guest1", vmx = { ["vmci0.id"] = "3400" } }
local FREEZE_AT, THAW_AT = sim.ms(1), sim.ms(3)
local done = {}

-- Fills the frozen guest's pending queue: large datagrams, then 1-byte ones, until ENOBUFS,
-- so that less room is left than one control packet (24-byte header + 56-byte packet) needs.
local function fill_pending_queue(d)
  for _, size in ipairs({ 1000, 1 }) do
    for _ = 1, 10000 do
      local n, name = d:sendto(string.rep("f", size), 3400, 7000)
      if n == nil then
        sim.expect(name == "ENOBUFS", "R58: a full pending queue: " .. tostring(name))
        break
      end
    end
  end
end

host:spawn("host", function(p)
  local l = assert(p:socket("stream"))
  assert(l:bind(sim.CID_ANY, 5000)); assert(l:listen(1))
  local c = assert(l:accept())
  local d = assert(p:socket("dgram"))
  p:sleep(FREEZE_AT + sim.us(100) - w.now)
  sim.expect(guest.state == "frozen", "the guest is frozen: " .. guest.state)
  fill_pending_queue(d)
  sim.log("R176: writing into the empty queue pair; every WROTE will be refused")
  sim.expect(c:send("x") == 1, "the send succeeds: the byte is in the queue pair")
  sim.log("R176: the send returned")
  done.host = true
end)

guest:spawn("guest", function(p)
  local d = assert(p:socket("dgram"))
  assert(d:bind(sim.CID_ANY, 7000))
  local s = assert(p:socket("stream"))
  assert(s:connect(sim.CID_HOST, 5000))
  p:sleep(THAW_AT + sim.us(1) - w.now)
  s:setsockopt("rcvtimeo", sim.us(100))
  sim.expect(s:recv(10) == "x", "after the thaw the byte is read without its WROTE")
  done.guest = true
end)

w:at(FREEZE_AT, function() guest:freeze() end)
w:at(THAW_AT, function() guest:thaw() end)
w:run()
sim.expect(done.host and done.guest, "both sides finished")
