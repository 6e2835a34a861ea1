-- test_stream_virtio_skb_merge (vsock_test.c "SOCK_STREAM virtio skb merge"): data sent after a partial read is appended to what is left, and the reader gets "HELLOWORLD" intact with nothing extra (R123, R121).
-- scenarios/conformance/vsock_test_stream_virtio_skb_merge.lua. The Linux case targets a
-- virtio detail (merging a new skb into a partly read one), but what it checks is plain
-- stream semantics and applies to VMCI's queue pair as well: the client sends "HELLO"
-- (SEND0); the server reads 2 bytes (REPLY0); the client sends "WORLD" (SEND1); the server
-- reads the remaining 8 bytes (looping like vsock_test's recv_buf), then a MSG_DONTWAIT
-- read of the rest of its 64-byte buffer must fail with EAGAIN, and the 10 bytes must be
-- "HELLOWORLD". Ported with the server on the host and the client in a guest, and the
-- other way round.
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

local function recv_exactly(s, len)                  -- vsock_test's recv_buf(): loop until len
  local parts, got = {}, 0
  while got < len do
    local data = assert(s:recv(len - got))
    if data == "" then break end
    parts[#parts + 1] = data
    got = got + #data
  end
  return table.concat(parts)
end

local function run_case(server_ep, client_ep, port)
  local listening, send0, reply0, send1, reply1 = false, false, false, false, false
  local tag = server_ep.name .. " server, " .. client_ep.name .. " client"
  server_ep:spawn("server", function(p)
    local l = assert(p:socket("stream"))             -- vsock_stream_accept()
    assert(l:bind(sim.CID_ANY, port))
    assert(l:listen(1))
    listening = true
    local c = assert(l:accept())
    l:close()
    wait_until(p, function() return send0 end, "SEND0")
    local head = recv_exactly(c, 2)
    sim.expect(head == "HE", tag .. ": partial read of the first send: " .. head)
    reply0 = true
    wait_until(p, function() return send1 end, "SEND1")
    local rest = recv_exactly(c, #"HELLOWORLD" - 2)
    local ok, name = c:recv(64 - #"HELLOWORLD", "dontwait")
    sim.expect(ok == nil and name == "EAGAIN", tag .. ": no more bytes are there: EAGAIN, got "
               .. tostring(ok and #ok or name))
    sim.expect(head .. rest == "HELLOWORLD", tag .. ": the bytes are HELLOWORLD, got " .. head .. rest)
    reply1 = true
    c:close()
  end)
  client_ep:spawn("client", function(p)
    wait_until(p, function() return listening end, "LISTENING")
    local s = assert(p:socket("stream"))
    assert(s:connect(server_ep.cid, port))
    sim.expect(s:send("HELLO") == 5, tag .. ": HELLO sent")
    send0 = true
    wait_until(p, function() return reply0 end, "REPLY0")
    sim.expect(s:send("WORLD") == 5, tag .. ": WORLD sent")
    send1 = true
    wait_until(p, function() return reply1 end, "REPLY1")
    s:close()
  end)
end

run_case(host, guest, PORT)
run_case(guest, host, PORT + 1)
