-- scenarios/thread_server.lua: the Guide's stream server with a thread per connection
-- (scenarios/programs/vsock_thread_server.c) on the host, Lua clients in four guests, all
-- connecting at once and sending messages of different sizes in several pieces. The server's
-- threads run one at a time, switched only at calls (docs/programs.md, "Threads"), so the
-- run is the same for the same seed; the main thread joins each thread and prints what it
-- echoed. Arguments: the product (default esxi-6.5), the channel kind (default shm). Needs
-- --allow-exec (skips quietly otherwise).
local sim = require("vmcisim")
if not sim.exec_allowed then
  print("skipped: running real programs needs --allow-exec")
  return
end
local w = sim.world{ product = arg[1] or "esxi-6.5" }
local clients = 4
local server = w:host():exec{ "../build/programs/vsock_thread_server", "5000",
                              tostring(clients), channel = arg[2] or "shm" }
local echoes = {}
for index = 1, clients do
  local guest = w:vm{ name = "guest" .. index }
  guest:spawn("client", function(p)
    local s = assert(p:socket("stream"))
    assert(s:connect(sim.CID_HOST, 5000))
    local message = string.rep("c" .. index, 3000 * index)
    for offset = 1, #message, 4096 do
      assert(s:send(message:sub(offset, offset + 4095)))
      p:sleep(sim.us(50 * index))
    end
    assert(s:shutdown("w"))
    local got = {}
    while true do
      local chunk = assert(s:recv(65536))
      if chunk == "" then break end
      got[#got + 1] = chunk
    end
    echoes[index] = table.concat(got) == message
    s:close()
  end)
end
w:run()
print(server:output())
for index = 1, clients do
  sim.expect(echoes[index], "client " .. index .. " got its echo")
end
sim.expect(server.exit_code == 0, "the server exited 0: " .. tostring(server.exit_code))
local output = server:output()
sim.expect(output:find(clients .. " clients served", 1, true) ~= nil,
           "every thread counted its client under the mutex")
local total = 0
for index = 1, clients do total = total + 2 * 3000 * index end
sim.expect(output:find(total .. " bytes in all", 1, true) ~= nil,
           "the joins returned every thread's byte count: " .. total)
