-- test_stream_msg_peek (vsock_test.c "SOCK_STREAM MSG_PEEK"): MSG_PEEK on an empty socket gives EAGAIN with MSG_DONTWAIT; a partial and a full peek return the head of the data without consuming it, and a normal recv() then returns the same bytes (R121, R123).
-- scenarios/conformance/vsock_test_stream_msg_peek.lua. Linux (MSG_PEEK_BUF_LEN = 64):
-- the server peeks with MSG_PEEK|MSG_DONTWAIT before anything was sent (EAGAIN), says
-- SRVREADY, then peeks 32 bytes, peeks 64 bytes, compares the two, reads 64 bytes
-- normally and compares them with the full peek. The client sends 64 random bytes in one
-- send() and closes.
-- Directions: with the server in a guest, the client (host) closes right after sending,
-- as in Linux: a guest socket keeps unread data after the peer's detach (R171). With the
-- server on the host, a detach would discard the host side's unread data (R171), so
-- there the client keeps the connection open until the server has read (the Linux test
-- would race on VMCI in that direction).
local sim = require("vmcisim")
local w = sim.world{ product = "esxi-6.5" }
local host = w:host()
local guest = w:vm{ name = "guest1" }
local PORT = 1234                                    -- vsock_test's DEFAULT_PEER_PORT
local LEN = 64                                       -- MSG_PEEK_BUF_LEN

local function wait_until(p, cond, what)             -- the Linux test's control channel
  local deadline, step = w.now + sim.s(10), sim.us(10)   -- vsock_test's TIMEOUT
  while not cond() do
    if w.now >= deadline then error("timed out waiting for " .. what) end
    p:sleep(step)
    step = math.min(step * 2, sim.ms(1))
  end
end

local function run_case(server_ep, client_ep, port, close_at_once, seed)
  local listening, srvready, server_done = false, false, false
  local tag = server_ep.name .. " server, " .. client_ep.name .. " client"
  local payload = sim.pattern(seed, 0, LEN)          -- "rand() & 0xFF" bytes
  server_ep:spawn("server", function(p)
    local l = assert(p:socket("stream"))             -- vsock_stream_accept()
    assert(l:bind(sim.CID_ANY, port))
    assert(l:listen(1))
    listening = true
    local c = assert(l:accept())
    l:close()
    local ok, name = c:recv(LEN, { "peek", "dontwait" })
    sim.expect(ok == nil and name == "EAGAIN", tag .. ": peek on an empty socket: EAGAIN (R121), got "
               .. tostring(name))
    srvready = true                                  -- control_writeln("SRVREADY")
    local half = c:recv(LEN // 2, "peek")
    sim.expect(half == payload:sub(1, LEN // 2), tag .. ": partial peek returns the first 32 bytes")
    local full = c:recv(LEN, "peek")
    sim.expect(full == payload, tag .. ": full peek returns all 64 bytes, got " .. #tostring(full))
    sim.expect(full:sub(1, LEN // 2) == half, tag .. ": partial and full peek agree")
    local normal = c:recv(LEN)
    sim.expect(normal == full, tag .. ": the normal read returns what the peeks saw")
    local again, again_name = c:recv(1, "dontwait")
    sim.expect(again == nil and again_name == "EAGAIN" or again == "",
               tag .. ": the normal read consumed the bytes")
    server_done = true
    c:close()
  end)
  client_ep:spawn("client", function(p)
    wait_until(p, function() return listening end, "LISTENING")
    local s = assert(p:socket("stream"))
    assert(s:connect(server_ep.cid, port))
    wait_until(p, function() return srvready end, "SRVREADY")
    sim.expect(s:send(payload) == LEN, tag .. ": one send of 64 bytes")
    if not close_at_once then wait_until(p, function() return server_done end, "the server's reads") end
    s:close()
  end)
end

run_case(guest, host, PORT, true, 6)
run_case(host, guest, PORT + 1, false, 7)
