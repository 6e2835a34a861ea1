-- test_double_bind_connect (vsock_test.c "SOCK_STREAM double bind connect"): a client may bind the same explicit port again for a second connection once the first socket using it is closed (R16, R126, R108).
-- scenarios/conformance/vsock_test_double_bind_connect.lua. Linux: the server keeps one
-- listener (backlog 1) and twice accepts a connection and waits for its remote close; the
-- client twice binds VMADDR_CID_ANY:peer_port+1, connects and closes. Closing the first
-- socket releases the port at once (close never lingers, R126), so the second bind of the
-- same port cannot conflict (R16), and each accept reports the client's port (R108).
-- Ported with the server on the host and the client in a guest, and the other way round.
local sim = require("vmcisim")
local w = sim.world{ product = "esxi-6.5" }
local host = w:host()
local guest = w:vm{ name = "guest1" }
local PORT = 1234                                    -- vsock_test's DEFAULT_PEER_PORT

local function wait_until(p, cond, what)             -- the Linux test's control channel
  local deadline, step = w.now + sim.s(10), sim.us(10)   -- vsock_test's TIMEOUT
  while not cond() do
    if w.now >= deadline then error("timed out waiting for " .. what) end
    p:sleep(step)
    step = math.min(step * 2, sim.ms(1))
  end
end

local function run_case(server_ep, client_ep, port)
  local listening = 0
  local tag = server_ep.name .. " server, " .. client_ep.name .. " client"
  server_ep:spawn("server", function(p)
    local l = assert(p:socket("stream"))             -- vsock_stream_listen()
    assert(l:bind(sim.CID_ANY, port))
    assert(l:listen(1))
    for i = 1, 2 do
      listening = i                                  -- control_writeln("LISTENING")
      local c, peer_cid, peer_port = assert(l:accept())
      sim.expect(peer_cid == client_ep.cid and peer_port == port + 1,
                 tag .. ": connection " .. i .. " comes from the client's bound port " .. (port + 1)
                 .. ", got " .. peer_cid .. ":" .. peer_port)
      wait_until(p, function() return c:state() ~= "connected" end, "the remote close")
      c:close()
    end
    l:close()
  end)
  client_ep:spawn("client", function(p)
    for i = 1, 2 do
      wait_until(p, function() return listening >= i end, "LISTENING")
      local s = assert(p:socket("stream"))           -- vsock_bind_connect()
      local ok, name = s:bind(sim.CID_ANY, port + 1)
      sim.expect(ok == true, tag .. ": bind " .. i .. " of port " .. (port + 1) .. " succeeds (R16), got "
                 .. tostring(name))
      ok, name = s:connect(server_ep.cid, port)
      sim.expect(ok == true, tag .. ": connect " .. i .. " succeeds, got " .. tostring(name))
      s:close()
    end
  end)
end

run_case(host, guest, PORT)
run_case(guest, host, PORT + 10)
