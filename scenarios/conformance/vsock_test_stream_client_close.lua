-- test_stream_client_close (vsock_test.c "SOCK_STREAM client close"): after the client sends one byte and closes, the server's send() fails with EPIPE and its recv() ends in EOF (R126, R171, R116, D11).
-- scenarios/conformance/vsock_test_stream_client_close.lua. Linux: the client connects,
-- sends 'A' and closes; the server waits for the remote close (POLLRDHUP), then expects
-- send() -> EPIPE, recv() -> the byte, recv() -> 0. On VMCI close() detaches the queue
-- pair (R126) and the peer sees QP_PEER_DETACH (R171): peer_shutdown = 3, so send() fails
-- with EPIPE (R116; no SIGPIPE, D11). What recv() returns depends on the side (R171):
--   * server in a guest: a socket with unread data stays established, so the byte is
--     still readable, then EOF -- exactly the Linux expectation;
--   * server on the host (vsock_test's documented setup): every host-side socket moves to
--     TCP_CLOSE on detach and its unread data is lost, so recv() returns EOF at once.
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

-- vsock_stream_accept(): listen with backlog 1, accept one connection, close the listener.
local function accept_one(p, port, on_listening)
  local l = assert(p:socket("stream"))
  assert(l:bind(sim.CID_ANY, port))
  assert(l:listen(1))
  on_listening()                                     -- control_writeln("LISTENING")
  local c, peer_cid, peer_port = assert(l:accept())
  l:close()
  return c, peer_cid, peer_port
end

local function run_case(server_ep, client_ep, port, byte_survives)
  local listening = false
  local tag = server_ep.name .. " server, " .. client_ep.name .. " client"
  server_ep:spawn("server", function(p)
    local c, peer_cid = accept_one(p, port, function() listening = true end)
    sim.expect(peer_cid == client_ep.cid, tag .. ": accept returns the client's CID (R108)")
    -- vsock_wait_remote_close(): the peer's close shows as a peer shutdown (R171).
    wait_until(p, function() return c:state() ~= "connected" end, "the remote close")
    sim.expect(c:state() == "disconnecting", tag .. ": peer gone: disconnecting (6.1): " .. c:state())
    local ready = p:poll({ { c, "rw" } }, 0)
    sim.expect(#ready == 1 and ready[1][2] == "rw", tag .. ": after the remote close: readable (peer "
               .. "SEND_SHUTDOWN, R132), writable (R133), no POLLHUP (R131), got "
               .. (ready[1] and ready[1][2] or "nothing"))
    local pcid = c:getpeername()
    sim.expect(pcid ~= nil, tag .. ": getpeername still works after the peer detached (R129)")
    local ok, name = c:send("A")
    sim.expect(ok == nil and name == "EPIPE",
               tag .. ": send after the peer closed gives EPIPE (R171, R116, D11), got " .. tostring(name))
    local first = c:recv(1)
    if byte_survives then
      sim.expect(first == "A", tag .. ": guest side keeps the unread byte (R171), got " .. tostring(first))
      sim.expect(c:recv(1) == "", tag .. ": then end of stream")
    else
      sim.expect(first == "", tag .. ": host side loses unread data on detach, recv is EOF (R171), got "
                 .. tostring(first))
    end
    sim.expect(c:recv(1) == "", tag .. ": end of stream stays end of stream")
    c:close()
  end)
  client_ep:spawn("client", function(p)
    wait_until(p, function() return listening end, "LISTENING")
    local s = assert(p:socket("stream"))
    assert(s:connect(server_ep.cid, port))
    sim.expect(s:send("A") == 1, tag .. ": the client sends one byte")
    s:close()
  end)
end

run_case(host, guest, PORT, false)
run_case(guest, host, PORT + 1, true)
