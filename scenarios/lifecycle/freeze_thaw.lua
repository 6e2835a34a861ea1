-- scenarios/lifecycle/freeze_thaw.lua: a frozen (stalled) guest and what its peers see.
-- freeze/thaw (sim/lua/lifecycle.c; not in the reference): nothing runs in the guest, but
-- its VMCI device and context stay, so
-- R58:  datagrams for it pile up in the device's pending queue until queued_bytes + size
--       reaches 139264: with 1000-byte payloads (1024 bytes with the 24-byte header) 135
--       are accepted and the 136th sendto fails with ENOBUFS (VMCI_ERROR_NO_RESOURCES);
-- streams are not broken: the host sees no end of stream and no error (its recv times out
--       with EAGAIN), its send still goes into the queue pair;
-- thaw: the guest catches up at the thaw time (a sleep due meanwhile ends exactly then),
--       then receives every queued datagram, in send order (R194), and the stream bytes;
--       once drained, host sendto works again.
local sim = require("vmcisim")
local w = sim.world{}
local host = w:host()
local guest = w:vm{ name = "guest1", vmx = { ["vmci0.id"] = "3300" } }

local FREEZE_AT, THAW_AT = sim.ms(1), sim.ms(5)
local PAYLOAD = 1000
local ACCEPTED = 135           -- R58: 135 * 1024 + 1024 >= 139264, 134 * 1024 + 1024 < 139264
local done = {}

local function datagram(i)
  local head = string.format("dg-%04d-", i)
  return head .. string.rep("x", PAYLOAD - #head)
end

host:spawn("host", function(p)
  local l = assert(p:socket("stream"))
  assert(l:bind(sim.CID_ANY, 5000)); assert(l:listen(1))
  local c = assert(l:accept())
  local d = assert(p:socket("dgram"))
  p:sleep(FREEZE_AT + sim.us(100) - w.now)
  sim.expect(guest.state == "frozen", "state while frozen: " .. guest.state)
  -- R58: the frozen guest's pending queue fills up.
  local sent = 0
  while true do
    local n, name = d:sendto(datagram(sent + 1), 3300, 7000)
    if n == nil then
      sim.expect(name == "ENOBUFS", "R58: a full pending queue: ENOBUFS: " .. tostring(name))
      break
    end
    sim.expect(n == PAYLOAD, "sendto count: " .. tostring(n))
    sent = sent + 1
    if sent > 1000 then break end
  end
  sim.expect(sent == ACCEPTED, "R58: datagrams accepted before ENOBUFS: " .. sent)
  -- The stream is not broken: no EOF, no error; a send still goes into the queue pair.
  assert(c:setsockopt("rcvtimeo", sim.us(500)))
  local data, name = c:recv(10)
  sim.expect(data == nil and name == "EAGAIN", "no end of stream while frozen, recv times out: " ..
             tostring(data) .. " " .. tostring(name))
  sim.expect(c:state() == "connected", "host socket state while frozen: " .. c:state())
  sim.expect(c:getsockopt("error") == nil, "no pending error while frozen")
  sim.expect(c:send("while-frozen") == 12, "host stream send while frozen")
  -- After the thaw: the guest answers on the stream, and datagrams go through again.
  assert(c:setsockopt("rcvtimeo", 0))
  local reply = c:recv(100)
  sim.expect(reply == "got-all", "the guest answers after the thaw: " .. tostring(reply))
  sim.expect(w.now > THAW_AT, "the answer comes after the thaw")
  sim.expect(d:sendto(datagram(ACCEPTED + 1), 3300, 7000) == PAYLOAD,
             "sendto works again once the guest drained its queue")
  sim.expect(c:recv(10) == "", "the guest closes at the end")
  done.host = true
end)

guest:spawn("guest", function(p)
  local d = assert(p:socket("dgram"))
  assert(d:bind(sim.CID_ANY, 7000))
  local s = assert(p:socket("stream"))
  assert(s:connect(sim.CID_HOST, 5000))
  p:sleep(sim.ms(2) - w.now)                    -- due at 2 ms, during the freeze
  sim.expect(w.now == THAW_AT, "the guest catches up at the thaw (5 ms): " .. w.now)
  sim.expect(guest.state == "powered_on", "state after thaw: " .. guest.state)
  for i = 1, ACCEPTED do
    local data, cid, port = d:recvfrom(PAYLOAD + 10)
    if data ~= datagram(i) then
      sim.expect(false, string.format("R194: datagram %d in order, got %s", i,
                                      tostring(data and data:sub(1, 8))))
      break
    end
    if i == 1 then
      sim.expect(cid == sim.CID_HOST, "from the host: " .. tostring(cid))
    end
  end
  sim.expect(s:recv(100) == "while-frozen", "the stream bytes sent while frozen arrive")
  assert(s:send("got-all") == 7)
  local last = d:recvfrom(PAYLOAD + 10)
  sim.expect(last == datagram(ACCEPTED + 1), "the post-thaw datagram arrives")
  -- Nothing else was queued: the refused datagram is not delivered.
  local extra, name = d:recvfrom(PAYLOAD, "dontwait")
  sim.expect(extra == nil and name == "EAGAIN", "nothing more: " .. tostring(name))
  s:close()
  done.guest = true
end)

w:at(FREEZE_AT, function()
  guest:freeze()
  sim.expect(guest.state == "frozen", "state after freeze: " .. guest.state)
  sim.expect(guest.cid == 3300, "the CID stays: " .. tostring(guest.cid))
end)
w:at(THAW_AT, function()
  guest:thaw()
  sim.expect(guest.state == "powered_on", "state after thaw: " .. guest.state)
end)

local result = w:run()
sim.expect(result.stopped == "idle", "stopped: " .. result.stopped)
sim.expect(done.host and done.guest, "every process ran to its end")
