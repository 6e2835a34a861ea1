-- upload.lua: a guest uploads a file to a service on the host, which answers with the
-- file's checksum (docs/tutorial.md builds it step by step; this is the fixed version).
-- seeds: 1-20
local sim = require("vmcisim")
local w = sim.world{ product = "esxi-6.5" }
local guest = w:vm{ name = "guest1" }
local PORT = 6000

w:host():spawn("store", function(p)
  local listener = assert(p:socket("stream"))
  assert(listener:bind(sim.CID_ANY, PORT))
  assert(listener:listen(1))
  local conn = assert(listener:accept())
  local parts = {}
  while true do                                -- read until the end of the stream
    local data = assert(conn:recv(65536))
    if data == "" then break end               -- "": the uploader shut down its side
    parts[#parts + 1] = data
  end
  local file = table.concat(parts)
  sim.log("stored %d bytes", #file)
  assert(conn:send(sim.checksum(file)))
  conn:close()
end)

guest:spawn("uploader", function(p)
  local size = math.random(1000, 100000)       -- the seed decides the file's size
  local file = sim.pattern(7, 0, size)         -- size bytes of a reproducible pattern
  local s = assert(p:socket("stream"))
  assert(s:connect(sim.CID_HOST, PORT))        -- the host is CID 2
  assert(s:send(file))
  assert(s:shutdown("w"))                      -- no more data: the service sees the end
  local answer = assert(s:recv(100))
  sim.expect(answer == sim.checksum(file), "the service stored the whole file")
  sim.log("uploaded %d bytes", size)
  s:close()
end)
