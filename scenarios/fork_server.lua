-- scenarios/fork_server.lua: the Guide's accept-and-fork stream server
-- (scenarios/programs/vsock_fork_server.c) on the host, three guests' Lua clients each
-- sending a message and reading the echo. The server forks one child per connection and
-- closes its copy of the connection at once, so every echo shows that a forked process
-- shares the simulated socket, closed only when its last holder closes it; the server then
-- reaps each child with waitpid. Needs --allow-exec (skips quietly otherwise).
local sim = require("vmcisim")
if not sim.exec_allowed then
  print("skipped: running real programs needs --allow-exec")
  return
end
local w = sim.world{ product = arg[1] or "esxi-6.5" }
local clients = 3
local server = w:host():exec{ "../build/programs/vsock_fork_server", "5000", tostring(clients) }
local echoes = {}
for index = 1, clients do
  local guest = w:vm{ name = "guest" .. index }
  guest:spawn("client", function(p)
    p:sleep(sim.ms(index))
    local s = assert(p:socket("stream"))
    assert(s:connect(sim.CID_HOST, 5000))
    local message = string.rep("m" .. index, 1000)
    assert(s:send(message))
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
for index = 0, clients - 1 do
  sim.expect(output:find("exited " .. (10 + index), 1, true) ~= nil,
             "waitpid saw child " .. index .. " exit " .. (10 + index))
end
sim.expect(output:find("waitpid: ECHILD", 1, true) ~= nil, "then waitpid says ECHILD")
