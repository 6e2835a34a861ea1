-- scenarios/conformance/dgram_R194.lua: datagrams between one pair of sockets arrive in
-- send order, none duplicated (R194, R59), in both directions: guest -> host (delivered
-- in engine events) and host -> guest (through the guest's device queue and DATA_IN).
-- Sizes vary from 0 to 2000 bytes, so all 100 together (at most 100 * (24 + 2000) bytes)
-- fit in a receive queue (R189) and the guest's pending queue (R58): nothing is dropped.
local sim = require("vmcisim")
local w = sim.world{}
local host = w:host()
local guest = w:vm{ name = "guest1" }
local COUNT = 100
local bound = 0

local function message(i)
  return sim.pattern(i, 0, (i * 997) % 2001)
end

local function receiver(port, from_cid, who)
  return function(p)
    local s = assert(p:socket("dgram"))
    assert(s:bind(sim.CID_ANY, port))
    bound = bound + 1
    for i = 1, COUNT do
      local data, cid, from_port = assert(s:recvfrom(2000))
      sim.expect(cid == from_cid and from_port == 9600, who .. ": source of datagram " .. i)
      if data ~= message(i) then
        sim.expect(false, string.format("%s: datagram %d out of order or damaged (%d bytes)",
                                        who, i, #data))
        return
      end
    end
    p:sleep(sim.ms(1))
    local ok, name = s:recv(2000, "dontwait")
    sim.expect(ok == nil and name == "EAGAIN", who .. ": no duplicates after the last one")
  end
end

local function sender(cid)
  return function(p)
    while bound < 2 do p:sleep(sim.us(10)) end
    local s = assert(p:socket("dgram"))
    assert(s:bind(sim.CID_ANY, 9600))
    for i = 1, COUNT do assert(s:sendto(message(i), cid, 9500)) end
  end
end

host:spawn("receiver", receiver(9500, guest.cid, "host"))
guest:spawn("receiver", receiver(9500, sim.CID_HOST, "guest"))
host:spawn("sender", sender(guest.cid))
guest:spawn("sender", sender(sim.CID_HOST))
