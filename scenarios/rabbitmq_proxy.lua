-- scenarios/rabbitmq_proxy.lua: a message broker on the host, reached from 8 guests through
-- one vSockets stream each. This is how a broker such as RabbitMQ is offered to VMs without
-- a network: a small proxy in every guest accepts the guest's local clients and multiplexes
-- all of them, as numbered channels, over a single stream to the broker on the host (CID 2).
--
-- The 32 clients of a guest reach their proxy over guest-local vSockets streams (a connect to
-- the guest's own CID, which a context may always do, decision D8) rather than through Lua
-- tables shared in the process: that way each client is a separate program speaking a wire
-- protocol, as it would be, and the local hop is simulated like any other connection.
--
-- Every client subscribes to its own queue "q.G.C" and publishes 10 messages to client C of
-- the next guest (G + 1, the last wrapping to the first): each message crosses two proxies,
-- two host streams and the broker. Sizes vary from 32 to 512 bytes. A delivery carries the
-- sender and a sequence number, and the receiver checks that it gets exactly messages 1..10 of
-- its one sender, in order, with the bytes the sender made (sim.pattern). Then everything
-- shuts down cleanly: a client shuts its side for writing and waits for the proxy to close;
-- a proxy whose clients are gone does the same with the broker, so no byte is lost on close.
--
-- Wire format (string.pack, big-endian): a local frame is `s4` around `B s1` (type, queue)
-- and the body; type "S" subscribes, "P" publishes, "D" delivers. Between a proxy and the
-- broker each local frame travels as `I2 s4` (channel, frame). Proxy and broker use
-- non-blocking sockets and p:poll, so neither ever blocks on one peer while another waits.
--
-- It prints the messages delivered per simulated second (first publish to last delivery).
--
-- What to look for with `vmcisim run scenarios/rabbitmq_proxy.lua --trace mq.db`:
--   vmcisim inspect mq.db connections   264 stream connections: 256 guest-local ones
--                                       (client -> proxy on the guest's own CID, port 5672)
--                                       and 8 proxy -> host:5672; bytes each way, all
--                                       "closed by server" after "client shutdown mode 2" (the
--                                       client's shutdown("w")): none reset, nothing lost unread
--   vmcisim inspect mq.db sockets --vm guest1   the proxy's sockets: one upstream with many
--                                       sends and recvs, 32 accepted ones, EAGAIN counts
--                                       from the non-blocking loop
--   vmcisim inspect mq.db errors        only EAGAIN from non-blocking calls: no reset, no
--                                       data_discarded
local sim = require("vmcisim")
local w = sim.world{}
local host = w:host()
local GUESTS, CLIENTS, MESSAGES, PORT = 8, 32, 10, 5672
local BACKLOG_MAX = CLIENTS * MESSAGES      -- messages a queue may hold before a subscriber
local first_publish_ns, last_delivery_ns, delivered = nil, 0, 0

local function message_size(g, c, n) return 32 + (g * 7919 + c * 104729 + n * 1299709) % 481 end
local function message_body(g, c, n)
  return string.pack(">I2 I2 I2", g, c, n) .. sim.pattern(g * 10000 + c * 100 + n, 0,
                                                           message_size(g, c, n))
end

-- A non-blocking framed connection: bytes in, complete frames out, an output buffer.
local function conn_new(sock)
  assert(sock:setblocking(false))
  return { sock = sock, input = "", output = "", eof = false }
end
local function conn_flush(c)
  while #c.output > 0 do
    local count, err = c.sock:send(c.output)
    if count == nil then assert(err == "EAGAIN", "send: " .. tostring(err)); return end
    c.output = c.output:sub(count + 1)
  end
end
local function conn_read(c)              -- reads what is there; sets eof at the end
  local data, err = c.sock:recv(65536)
  if data == nil then assert(err == "EAGAIN", "recv: " .. tostring(err)); return end
  if data == "" then c.eof = true else c.input = c.input .. data end
end
-- Takes the complete frames of format `fmt` (whose last item is an s4) off the input.
local function conn_frames(c, fmt, header_bytes)
  local frames, position = {}, 1
  while #c.input - position + 1 >= header_bytes do
    local length = string.unpack(">I4", c.input, position + header_bytes - 4)
    if #c.input - position + 1 < header_bytes + length then break end
    local values = table.pack(string.unpack(fmt, c.input, position))
    position = values[values.n]
    frames[#frames + 1] = values
  end
  c.input = c.input:sub(position)
  return frames
end
local function poll_entry(c) return { c.sock, #c.output > 0 and "rw" or "r" } end

host:spawn("broker", function(p)
  local listener = assert(p:socket("stream"))
  assert(listener:bind(sim.CID_ANY, PORT)); assert(listener:listen(GUESTS))
  local conns, by_socket, queues, closed = {}, {}, {}, 0
  for _ = 1, GUESTS do
    local sock = assert(listener:accept())
    conns[#conns + 1] = conn_new(sock)
    by_socket[sock] = conns[#conns]
  end
  listener:close()
  local function deliver(queue, frame)
    local q = queues[queue]
    if q.subscriber == nil then
      assert(#q.backlog < BACKLOG_MAX, "queue " .. queue .. " over its backlog bound")
      q.backlog[#q.backlog + 1] = frame
    else
      local target = q.subscriber.conn
      target.output = target.output .. string.pack(">I2 s4", q.subscriber.channel, frame)
    end
  end
  while closed < GUESTS do
    local list = {}
    for _, c in ipairs(conns) do if not c.eof then list[#list + 1] = poll_entry(c) end end
    for _, ready in ipairs(p:poll(list)) do
      local c = by_socket[ready[1]]
      if ready[2]:find("w") then conn_flush(c) end
      if ready[2]:find("[rh]") then conn_read(c) end
      for _, f in ipairs(conn_frames(c, ">I2 s4", 6)) do
        local channel, frame = f[1], f[2]
        local kind, queue, body_at = string.unpack(">B s1", frame)
        queues[queue] = queues[queue] or { backlog = {} }
        if kind == string.byte("S") then
          queues[queue].subscriber = { conn = c, channel = channel }
          for _, waiting in ipairs(queues[queue].backlog) do deliver(queue, waiting) end
          queues[queue].backlog = {}
        else
          deliver(queue, string.pack(">B s1", string.byte("D"), queue) .. frame:sub(body_at))
        end
      end
      conn_flush(c)
      if c.eof then closed = closed + 1; c.sock:close() end   -- the proxy has finished
    end
  end
end)

local function proxy(p)
  local listener = assert(p:socket("stream"))
  assert(listener:bind(sim.CID_ANY, PORT)); assert(listener:listen(CLIENTS))
  local upstream_socket = assert(p:socket("stream"))
  assert(upstream_socket:connect(sim.CID_HOST, PORT))
  local upstream = conn_new(upstream_socket)
  local clients, by_socket, finished = {}, {}, 0
  for channel = 1, CLIENTS do                    -- channel n is the n-th client accepted
    local sock = assert(listener:accept())
    clients[channel] = conn_new(sock)
    clients[channel].channel = channel
    by_socket[sock] = clients[channel]
  end
  listener:close()
  while finished < CLIENTS or #upstream.output > 0 do
    local list = { poll_entry(upstream) }
    for _, c in ipairs(clients) do if not c.closed then list[#list + 1] = poll_entry(c) end end
    for _, ready in ipairs(p:poll(list)) do
      local c = by_socket[ready[1]] or upstream
      if ready[2]:find("w") then conn_flush(c) end
      if ready[2]:find("[rh]") then conn_read(c) end
      if c == upstream then
        for _, f in ipairs(conn_frames(upstream, ">I2 s4", 6)) do
          local target = clients[f[1]]
          target.output = target.output .. string.pack(">s4", f[2])
          conn_flush(target)
        end
      else
        for _, f in ipairs(conn_frames(c, ">s4", 4)) do
          upstream.output = upstream.output .. string.pack(">I2 s4", c.channel, f[1])
        end
        if c.eof and not c.closed then c.closed = true; finished = finished + 1; c.sock:close() end
      end
      conn_flush(upstream)
    end
  end
  -- Every client is gone and everything is sent: tell the broker, and wait for its close.
  assert(upstream_socket:setblocking(true))
  assert(upstream_socket:shutdown("w"))
  sim.expect(upstream_socket:recv(1) == "", "the broker closes the upstream last")
  upstream_socket:close()
end

local function client(p, g, c)
  local s
  for attempt = 1, 10 do                          -- guest-local vSockets (D8)
    s = assert(p:socket("stream"))
    local ok, err = s:connect(p:local_cid(), PORT)
    if ok then break end
    -- ECONNRESET: the proxy does not listen yet (only if it were scheduled after us)
    assert(err == "ECONNRESET" and attempt < 10, "connect to the proxy: " .. tostring(err))
    s:close()
    p:sleep(sim.us(10))
  end
  local function frame(kind, queue, body)
    return string.pack(">s4", string.pack(">B s1", string.byte(kind), queue) .. body)
  end
  assert(s:send(frame("S", string.format("q.%d.%d", g, c), "")))
  local target = string.format("q.%d.%d", g % GUESTS + 1, c)
  first_publish_ns = first_publish_ns or w.now
  for n = 1, MESSAGES do assert(s:send(frame("P", target, message_body(g, c, n)))) end
  local sender = (g - 2) % GUESTS + 1
  for n = 1, MESSAGES do
    local frame_bytes = assert(s:recv(string.unpack(">I4", assert(s:recv(4, "waitall"))),
                                      "waitall"))
    local kind, queue, body_at = string.unpack(">B s1", frame_bytes)
    local body = frame_bytes:sub(body_at)
    local from_g, from_c, seq = string.unpack(">I2 I2 I2", body)
    sim.expect(kind == string.byte("D") and queue == string.format("q.%d.%d", g, c),
               "a delivery on the subscribed queue")
    sim.expect(from_g == sender and from_c == c and seq == n,
               string.format("message %d of %d.%d, got %d of %d.%d", n, sender, c, seq,
                             from_g, from_c))
    sim.expect(body == message_body(from_g, from_c, seq), "the bytes its sender made")
    delivered, last_delivery_ns = delivered + 1, w.now
  end
  assert(s:shutdown("w"))
  sim.expect(s:recv(1) == "", "the proxy closes after the client")
  s:close()
end

for g = 1, GUESTS do
  local vm = w:vm{ name = "guest" .. g }
  vm:spawn("proxy", proxy)
  for c = 1, CLIENTS do vm:spawn("client" .. c, function(p) client(p, g, c) end) end
end

local result = w:run()
sim.expect(result.stopped == "idle", "everything finished: " .. result.stopped)
local total = GUESTS * CLIENTS * MESSAGES
sim.expect(delivered == total, string.format("%d messages delivered of %d", delivered, total))
local elapsed_ns = last_delivery_ns - (first_publish_ns or 0)
print(string.format("rabbitmq_proxy: %d messages through %d proxies in %.6f simulated s: "
                    .. "%.0f messages per simulated second", delivered, GUESTS,
                    elapsed_ns / 1e9, elapsed_ns > 0 and delivered / (elapsed_ns / 1e9) or 0))
