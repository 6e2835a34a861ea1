-- scenarios/swarm/streams.lua: many guests and connections, random message and buffer sizes.
--
-- What it does: with jitter on (every cost drawn from the seed, a seeded order among equal-time
-- wake-ups), the seed draws 4-8 guests, 2-5 connections per guest, and for each connection a buffer
-- size (4 KiB .. 64 KiB, the client's before connect; the listener takes any in that range, R163)
-- and a start time. Each client streams a random number of bytes (up to 128 KiB; the reply is up to
-- 64 KiB) in writes of random sizes, shuts down its writing side and reads the server's answer
-- until the end of the stream. Each server handler (one host listener, one handler per accepted
-- connection) reads in reads of random sizes until the end, answers with the checksum and length of
-- what it read, then sends back a reply of random length in writes of random sizes and closes.
--
-- What must hold, for every seed: no handler sees the stream end early or a byte out of place (what
-- it read equals the client's pattern, in order, no gap, no duplicate), every client gets the exact
-- checksum of what it sent and the whole reply, byte for byte; the run ends idle (no deadlock) and
-- the world invariants hold at the end (docs/invariants.md). Nothing here is discarded on purpose:
-- the client waits for the server's close before its own (the cure of the close hazard,
-- docs/sockets.md), so every byte must arrive.
--
-- Sweep it: vmcisim sweep scenarios/swarm/streams.lua --seeds 1-10000 -j 8
-- In `vmcisim inspect RUN.db connections` each connection's buffer size and byte counts show the
-- draw of that seed.
-- seeds: 1-3
local sim = require("vmcisim")
-- Faults (docs/faults.md): only the sites that slow the model down, never one that refuses or cuts
-- (a refused connect has no retry here and every byte must arrive), so the checks hold as they are.
local w = sim.world{ jitter = true, faults = {
  sites = { "register_access_slow", "hypercall_slow", "route_late", "interrupt_late", "copy_slow" },
  fire = 0.1,
} }
local host = w:host()
local PORT = 7100
local BUFFER_SIZES = { 4096, 8192, 16384, 32768, 65536 }

local guests = math.random(4, 8)
local plans, total_connections = {}, 0
for g = 1, guests do
  for c = 1, math.random(2, 5) do
    total_connections = total_connections + 1
    plans[#plans + 1] = {
      guest = g, index = c, id = total_connections,
      buffer_bytes = BUFFER_SIZES[math.random(#BUFFER_SIZES)],
      request_bytes = math.random(0, 128 * 1024),
      reply_bytes = math.random(0, 64 * 1024),
      start_ns = math.random(0, sim.ms(2)),
    }
  end
end
local by_address = {}  -- "cid:port" of a client -> its plan (registered before it sends)
local clients_done = 0

local function send_in_pieces(s, bytes, piece_max)
  local sent = 0
  while sent < #bytes do
    local size = math.min(#bytes - sent, math.random(1, piece_max))
    sent = sent + assert(s:send(bytes:sub(sent + 1, sent + size)))
  end
end

local function handle(conn, peer)
  local parts, got = {}, 0
  while true do
    local data = assert(conn:recv(math.random(1, 4096)))
    if #data == 0 then break end
    parts[#parts + 1] = data
    got = got + #data
  end
  local plan = by_address[peer]
  local received = table.concat(parts)
  if sim.expect(plan ~= nil, "a handler knows the client " .. peer) then
    sim.expect(received == sim.pattern(plan.id, 0, plan.request_bytes),
               "connection " .. plan.id .. ": the server read exactly what the client sent (" ..
               got .. " of " .. plan.request_bytes .. " bytes)")
    send_in_pieces(conn, sim.checksum(received) .. string.format("%08x", got), 24)
    send_in_pieces(conn, sim.pattern(1000000 + plan.id, 0, plan.reply_bytes), 4096)
  end
  conn:close()
end

host:spawn("server", function(p)
  local listener = assert(p:socket("stream"))
  assert(listener:setsockopt("buffer_max_size", 65536))
  assert(listener:setsockopt("buffer_min_size", 4096))
  assert(listener:bind(sim.CID_ANY, PORT))
  assert(listener:listen(64))
  for _ = 1, total_connections do
    local conn, peer_cid, peer_port = assert(listener:accept())
    local peer = peer_cid .. ":" .. peer_port
    local handler = host:spawn("handler", function() handle(conn, peer) end)
    assert(conn:give(handler))   -- else it closes when the server process ends
  end
  listener:close()
end)

local vms = {}
for g = 1, guests do vms[g] = w:vm{ name = "guest" .. g } end

for _, plan in ipairs(plans) do
  vms[plan.guest]:spawn("client" .. plan.index, function(p)
    p:sleep(plan.start_ns)
    local s = assert(p:socket("stream"))
    assert(s:setsockopt("buffer_size", plan.buffer_bytes))
    assert(s:connect(sim.CID_HOST, PORT))
    local cid, port = s:getsockname()
    by_address[cid .. ":" .. port] = plan
    local request = sim.pattern(plan.id, 0, plan.request_bytes)
    send_in_pieces(s, request, 4096)
    assert(s:shutdown("w"))
    local parts = {}
    while true do
      local data = assert(s:recv(math.random(1, 8192)))
      if #data == 0 then break end
      parts[#parts + 1] = data
    end
    local answer = table.concat(parts)
    local expected = sim.checksum(request) .. string.format("%08x", #request) ..
                     sim.pattern(1000000 + plan.id, 0, plan.reply_bytes)
    sim.expect(answer == expected, "connection " .. plan.id .. ": the client got the checksum " ..
               "of its bytes and the whole reply (" .. #answer .. " of " .. #expected .. ")")
    s:close()
    clients_done = clients_done + 1
  end)
end

local result = w:run()
sim.expect(result.stopped == "idle", "the run ends idle: " .. result.stopped)
sim.expect(clients_done == total_connections,
           clients_done .. " of " .. total_connections .. " clients finished")
