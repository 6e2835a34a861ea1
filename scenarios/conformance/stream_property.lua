-- scenarios/conformance/stream_property.lua: a property test of stream sockets (R121, R123,
-- R169). A sender and a receiver interleave random send sizes, recv sizes, peeks, waitall
-- reads and pauses drawn from the world's seeded "lua" stream; the bytes received are
-- checked against a model (the pattern at the reader's offset): in order, none lost, none
-- duplicated, peek never consumes. The sender ends with shutdown("w"): the reader then
-- sees end of stream (""), exactly after the last byte. `-- STEPS` sets the number of steps.
local sim = require("vmcisim")
local w = sim.world{ seed = 20261125 }
local host, guest = w:host(), w:vm{ name = "guest1" }
local steps = tonumber(arg[1]) or 1500
local SEED = 77
local total = 0                                    -- bytes the sender will send, drawn first
local plan = {}
for i = 1, steps do
  plan[i] = math.random(0, 9000)
  total = total + plan[i]
end

host:spawn("sender", function(p)
  local l = assert(p:socket("stream"))
  assert(l:setsockopt("buffer_size", 16384))
  assert(l:bind(sim.CID_ANY, 9000)); assert(l:listen(1))
  local c = assert(l:accept())
  local offset = 0
  for i = 1, steps do
    local n = plan[i]
    if n > 0 then
      local sent = assert(c:send(sim.pattern(SEED, offset, n)))
      sim.expect(sent == n, "a blocking send writes everything (R117)")
      offset = offset + sent
    end
    if math.random() < 0.3 then p:sleep(math.random(1, 20000)) end
  end
  assert(c:shutdown("w"))
  p:sleep(sim.ms(50))
end)

guest:spawn("receiver", function(p)
  local s = assert(p:socket("stream"))
  assert(s:setsockopt("buffer_size", 16384))
  assert(s:connect(sim.CID_HOST, 9000))
  local offset, peeks, waitalls = 0, 0, 0
  for guard = 1, 10 * steps + 100 do
    local want = math.random(1, 12000)
    local mode = math.random()
    local flags = nil
    if mode < 0.15 then flags = "peek"; peeks = peeks + 1
    elseif mode < 0.25 and want < 16383 then flags = "waitall"; waitalls = waitalls + 1 end
    local data = assert(s:recv(math.min(want, 16383), flags))
    if data == "" then break end
    local expected = sim.pattern(SEED, offset, #data)
    sim.expect(data == expected, "bytes at offset " .. offset .. " (" .. tostring(flags) .. ")")
    if flags == "waitall" then
      sim.expect(#data == math.min(want, 16383) or offset + #data == total, "waitall filled")
    end
    if flags ~= "peek" then offset = offset + #data end
    if math.random() < 0.2 then p:sleep(math.random(1, 30000)) end
  end
  sim.expect(offset == total, "every byte arrived once: " .. offset .. " of " .. total)
  sim.expect(s:recv(10) == "", "end of stream stays end of stream")
  sim.log("received %d bytes in order (%d peeks, %d waitall reads)", offset, peeks, waitalls)
end)
