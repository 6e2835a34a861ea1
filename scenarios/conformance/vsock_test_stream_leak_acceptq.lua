-- test_stream_leak_acceptq (vsock_test.c "SOCK_STREAM leak accept queue"): connect() racing with close() of the listener ends either established or with ECONNRESET, and a connection left in the closed listener's accept queue is closed with it, so nothing is leaked (R126, R212, R150, R171).
-- scenarios/conformance/vsock_test_stream_leak_acceptq.lua. Linux loops for 2 s: the
-- server listens, says LISTENING and closes the listener at once while the client
-- connects (and closes on success); a kmemleak scan then looks for leaked children.
-- In a deterministic world the race point would never move, so this port sweeps it: in
-- round i the client connects 50 us after the listen and the server closes the listener
-- i * 0.5 us after that, from before the REQUEST arrives to after the handshake is done.
-- Expected per the reference:
--   * every connect() returns success or ECONNRESET: a REQUEST or OFFER that finds no
--     listener gets RST (R150, R212);
--   * an established connection that was never accepted is closed with its listener
--     (R126), so the client sees the detach as end of stream (R171) -- the accept queue
--     does not keep it alive (the leak the Linux case hunts);
--   * the sweep sees both outcomes, and afterwards the port is free and works normally.
-- Ported with the server on the host and the client in a guest, and the other way round.
local sim = require("vmcisim")
local w = sim.world{ product = "esxi-6.5" }
local host = w:host()
local guest = w:vm{ name = "guest1" }
local PORT = 1234                                    -- vsock_test's DEFAULT_PEER_PORT
local ROUNDS, SPACING, CONNECT_AT, STEP = 80, sim.ms(1), sim.us(50), sim.ns(500)
local T0 = sim.ms(1)                                 -- both sides are up by then (D4)

local function sleep_until(p, t)
  assert(w.now <= t, "schedule overrun at " .. w.now .. " > " .. t)
  if t > w.now then p:sleep(t - w.now) end
end

local function run_case(server_ep, client_ep, port)
  local tag = server_ep.name .. " server, " .. client_ep.name .. " client"
  local final_listening = false
  server_ep:spawn("server", function(p)
    for i = 0, ROUNDS - 1 do
      local base = T0 + i * SPACING
      sleep_until(p, base)
      local l = assert(p:socket("stream"))           -- vsock_stream_listen()
      assert(l:bind(sim.CID_ANY, port))
      assert(l:listen(1))
      sleep_until(p, base + CONNECT_AT + i * STEP)
      l:close()
    end
    -- Nothing was leaked: the port binds again and a connection is served normally.
    local l = assert(p:socket("stream"))
    local ok, name = l:bind(sim.CID_ANY, port)
    sim.expect(ok == true, tag .. ": the port is free after the rounds, got " .. tostring(name))
    assert(l:listen(1))
    final_listening = true
    local c = assert(l:accept())
    assert(c:send("ok"))
    c:close(); l:close()
  end)
  client_ep:spawn("client", function(p)
    local established, reset = 0, 0
    for i = 0, ROUNDS - 1 do
      sleep_until(p, T0 + i * SPACING + CONNECT_AT)
      local s = assert(p:socket("stream"))
      local ok, name = s:connect(server_ep.cid, port)
      if ok then
        established = established + 1
        assert(s:setsockopt("rcvtimeo", sim.ms(100)))
        local data, err = s:recv(1)
        sim.expect(data == "", tag .. ": round " .. i .. ": the unaccepted connection is closed with its "
                   .. "listener, the client reads EOF (R126, R171), got " .. tostring(data or err))
      elseif name == "ECONNRESET" then
        reset = reset + 1
      else
        sim.expect(false, tag .. ": round " .. i .. ": connect gives success or ECONNRESET (R212), got " .. name)
      end
      sim.expect(w.now < T0 + (i + 1) * SPACING, tag .. ": round " .. i .. " is over before the next one")
      s:close()
    end
    sim.expect(established > 0 and reset > 0, string.format(
      "%s: the sweep crossed the race (%d established, %d reset)", tag, established, reset))
    while not final_listening do p:sleep(sim.us(10)) end
    local s = assert(p:socket("stream"))
    assert(s:connect(server_ep.cid, port))
    sim.expect(s:recv(2, "waitall") == "ok", tag .. ": a normal connection afterwards carries data")
    s:close()
  end)
end

run_case(host, guest, PORT)
run_case(guest, host, PORT + 1)
