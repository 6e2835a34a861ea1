-- test_stream_server_close (vsock_test.c "SOCK_STREAM server close"): after the server sends one byte and closes, the client's send() fails with EPIPE and its recv() ends in EOF (R126, R171, R116, D11).
-- scenarios/conformance/vsock_test_stream_server_close.lua. The mirror of
-- client_close: the accepted socket sends 'A' and closes; the client waits for the remote
-- close, then expects send() -> EPIPE, recv() -> the byte, recv() -> 0. The close is a
-- queue-pair detach (R126); the peer gets peer_shutdown = 3 and EPIPE on send (R171, R116,
-- no SIGPIPE: D11). recv() depends on the client's side (R171):
--   * client in a guest (vsock_test's documented setup): the unread byte stays readable,
--     then EOF -- the Linux expectation;
--   * client on the host: the host-side socket moves to TCP_CLOSE and loses unread data,
--     so recv() returns EOF at once.
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

local function run_case(server_ep, client_ep, port, byte_survives)
  local listening = false
  local tag = server_ep.name .. " server, " .. client_ep.name .. " client"
  server_ep:spawn("server", function(p)
    local l = assert(p:socket("stream"))             -- vsock_stream_accept()
    assert(l:bind(sim.CID_ANY, port))
    assert(l:listen(1))
    listening = true
    local c = assert(l:accept())
    l:close()
    sim.expect(c:send("A") == 1, tag .. ": the server sends one byte")
    c:close()
  end)
  client_ep:spawn("client", function(p)
    wait_until(p, function() return listening end, "LISTENING")
    local s = assert(p:socket("stream"))
    assert(s:connect(server_ep.cid, port))
    wait_until(p, function() return s:state() ~= "connected" end, "the remote close")
    sim.expect(s:state() == "disconnecting", tag .. ": peer gone: disconnecting (6.1): " .. s:state())
    local ready = p:poll({ { s, "rw" } }, 0)
    sim.expect(#ready == 1 and ready[1][2] == "rw", tag .. ": after the remote close: readable (peer "
               .. "SEND_SHUTDOWN, R132), writable (R133), no POLLHUP (R131), got "
               .. (ready[1] and ready[1][2] or "nothing"))
    local pcid = s:getpeername()
    sim.expect(pcid ~= nil, tag .. ": getpeername still works after the peer detached (R129)")
    local ok, name = s:send("A")
    sim.expect(ok == nil and name == "EPIPE",
               tag .. ": send after the peer closed gives EPIPE (R171, R116, D11), got " .. tostring(name))
    local first = s:recv(1)
    if byte_survives then
      sim.expect(first == "A", tag .. ": guest side keeps the unread byte (R171), got " .. tostring(first))
      sim.expect(s:recv(1) == "", tag .. ": then end of stream")
    else
      sim.expect(first == "", tag .. ": host side loses unread data on detach, recv is EOF (R171), got "
                 .. tostring(first))
    end
    sim.expect(s:recv(1) == "", tag .. ": end of stream stays end of stream")
    s:close()
  end)
end

run_case(host, guest, PORT, true)
run_case(guest, host, PORT + 1, false)
