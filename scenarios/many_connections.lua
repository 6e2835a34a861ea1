-- scenarios/many_connections.lua: 256 concurrent connections from 16 guests to one
-- host server. Every client streams its own pattern; the server's handler for that
-- connection answers with the checksum of what it received, which must match.
local sim = require("vmcisim")
local w = sim.world{}
local host = w:host()
local guests, per_guest, bytes = 16, 16, 32 * 1024
local PORT = 7000

host:spawn("server", function(p)
  local listener = assert(p:socket("stream"))
  assert(listener:bind(sim.CID_ANY, PORT))
  assert(listener:listen(4096))
  local served, handlers = 0, {}
  while served < guests * per_guest do
    local conn = assert(listener:accept())
    served = served + 1
    handlers[served] = host:spawn("handler" .. served, function(h)
      local parts, got = {}, 0
      while got < bytes do
        local data = assert(conn:recv(bytes - got))
        assert(#data > 0, "early end of stream")
        parts[#parts + 1] = data
        got = got + #data
      end
      assert(conn:send(sim.checksum(table.concat(parts))))
      conn:close()
    end)
  end
  for _, handler in ipairs(handlers) do p:join(handler) end
  listener:close()
end)

for g = 1, guests do
  local vm = w:vm{ name = "guest" .. g }
  for c = 1, per_guest do
    local seed = g * 1000 + c
    vm:spawn("client" .. c, function(p)
      local s = assert(p:socket("stream"))
      assert(s:connect(sim.CID_HOST, PORT))
      local payload = sim.pattern(seed, 0, bytes)
      local sent = 0
      while sent < bytes do sent = sent + assert(s:send(payload:sub(sent + 1))) end
      local answer = assert(s:recv(16, "waitall"))
      sim.expect(answer == sim.checksum(payload), "server saw the bytes of client " .. seed)
      s:close()
    end)
  end
end
local result = w:run()
sim.expect(result.stopped == "idle", "everything finished: " .. result.stopped)
