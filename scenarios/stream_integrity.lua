-- scenarios/stream_integrity.lua: bytes arrive in order, intact, both ways (R123),
-- whatever the buffer size negotiated: 4 MiB with 64 KiB and 256 KiB buffers and
-- 256 KiB with 128-byte buffers, host->guest and guest->host, checked with
-- sim.pattern / sim.checksum. `-- SIZE` overrides the 4 MiB (make bench uses 64 MiB).
local sim = require("vmcisim")
local w = sim.world{}
local host = w:host()
local guest = w:vm{ name = "guest1" }
local big = tonumber(arg[1]) or 4 * 1024 * 1024
local cases = {
  { bytes = big, buffer = 65536 }, { bytes = big, buffer = 262144 },
  { bytes = 256 * 1024, buffer = 128 },
}

local function pump_send(s, seed, total, chunk)
  local sent = 0
  while sent < total do
    local n = assert(s:send(sim.pattern(seed, sent, math.min(chunk, total - sent))))
    sent = sent + n
  end
end

local function pump_recv(s, total, chunk)
  local parts, got = {}, 0
  while got < total do
    local data = assert(s:recv(math.min(chunk, total - got)))
    assert(#data > 0, "unexpected end of stream")
    parts[#parts + 1] = data
    got = got + #data
  end
  return table.concat(parts)
end

for index, case in ipairs(cases) do
  local port = 6000 + index
  for _, direction in ipairs({ "host->guest", "guest->host" }) do
    local seed = index * 10 + (direction == "host->guest" and 1 or 2)
    local sender_ep = direction == "host->guest" and host or guest
    local receiver_ep = direction == "host->guest" and guest or host
    local listen_ep = host
    local ready = false
    local server = listen_ep:spawn("server" .. port .. direction, function(p)
      local l = assert(p:socket("stream"))
      assert(l:setsockopt("buffer_size", case.buffer))
      assert(l:bind(sim.CID_ANY, port)); assert(l:listen(1))
      ready = true
      local c = assert(l:accept())
      if listen_ep == sender_ep then
        pump_send(c, seed, case.bytes, 65536)
      else
        local data = pump_recv(c, case.bytes, 65536)
        sim.expect(sim.checksum(data) == sim.checksum(sim.pattern(seed, 0, case.bytes)),
                   direction .. " " .. case.bytes .. " bytes, buffer " .. case.buffer)
      end
      c:close(); l:close()
    end)
    local client_ep = listen_ep == host and guest or host
    client_ep:spawn("client" .. port .. direction, function(p)
      while not ready do p:sleep(sim.us(10)) end
      local s = assert(p:socket("stream"))
      assert(s:setsockopt("buffer_size", case.buffer))
      assert(s:connect(sim.CID_HOST, port))
      if client_ep == sender_ep then
        pump_send(s, seed, case.bytes, 65536)
        p:join(server)
      else
        local data = pump_recv(s, case.bytes, 65536)
        sim.expect(sim.checksum(data) == sim.checksum(sim.pattern(seed, 0, case.bytes)),
                   direction .. " " .. case.bytes .. " bytes, buffer " .. case.buffer)
      end
      s:close()
    end)
    w:run()
  end
end
