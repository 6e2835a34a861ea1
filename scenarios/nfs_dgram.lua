-- scenarios/nfs_dgram.lua: a file service over vSockets datagrams, in the manner of NFS over
-- UDP. A server on the host ("nfsd", port 2049) holds four files; a client in each of four
-- guests fetches two of them with pipelined READ requests of 1 KiB blocks and checks every
-- file by checksum. Datagrams are unreliable by design: a datagram that arrives when the
-- receiving socket's queue is full is dropped and its sender is not told (R189). The clients
-- make that happen on purpose: each sets its receive queue limit (`rcvbuf`) to 4 KiB, room
-- for four 1 KiB replies (a datagram is taken while the queue holds less than the limit, and
-- each counts 24 + 1029 bytes), and sends a window of up to 16 requests back to back, so the
-- replies that come in while it is still sending overflow the queue. A client that waits
-- 2 ms for a reply in vain sends the unanswered requests again with the same transaction id
-- (xid), halves its window, and ignores a reply it already has (a late duplicate), as an NFS
-- client does. Reads are idempotent, so resending is always safe.
--
-- Protocol (string.pack, big-endian): request = xid u32, op u8 (1 GETATTR, 2 READ), name
-- (length-prefixed), offset u32, count u32; reply = xid u32, status u8 (0 ok, 2 ENOENT),
-- then for GETATTR size u32 and checksum (16 hex digits), for READ the data.
--
-- What it checks: every file a client assembles has the checksum the server states for it
-- and equals the bytes the client expects (sim.pattern of the file's seed); an unknown file
-- gives ENOENT; replies were dropped and the clients recovered (at least one retransmission);
-- the world ends idle. It prints each client's requests, retransmissions and duplicates.
--
-- What to look for with `vmcisim run scenarios/nfs_dgram.lua --trace nfs.db`:
--   vmcisim inspect nfs.db errors     the `data_discarded` events with reason=receive_queue_full
--                                     rule=R189, each at a client's socket, one per dropped reply
--   vmcisim inspect nfs.db summary    the discarded counts among the commonest kinds
--   vmcisim inspect nfs.db sockets    each client's socket: its send/recv counts and EAGAIN
--                                     (the 2 ms waits that ended in a retransmission)
--   vmcisim inspect nfs.db sql "SELECT count(*) FROM events WHERE kind = 'data_discarded'"
local sim = require("vmcisim")
local w = sim.world{}
local host = w:host()
local PORT, BLOCK, WINDOW_MAX, RCVBUF = 2049, 1024, 16, 4096
local REPLY_WAIT_NS = sim.ms(2)
local OP_GETATTR, OP_READ, OK, ENOENT = 1, 2, 0, 2
local files = {}                        -- name -> { seed, size }
for index, size in ipairs({ 20 * 1024, 33 * 1024 + 17, 48 * 1024, 7 * 1024 + 5 }) do
  files["export/file" .. index] = { seed = 2049 * index, size = size }
end
local function contents(file) return sim.pattern(file.seed, 0, file.size) end

host:spawn("nfsd", function(p)
  local s = assert(p:socket("dgram"))
  assert(s:bind(sim.CID_ANY, PORT))
  local data = {}
  for name, file in pairs(files) do data[name] = contents(file) end
  while true do
    local request, cid, port = assert(s:recvfrom(512))
    local xid, op, name, offset, count = string.unpack(">I4 B s1 I4 I4", request)
    local body = data[name]
    local reply
    if body == nil then
      reply = string.pack(">I4 B", xid, ENOENT)
    elseif op == OP_GETATTR then
      reply = string.pack(">I4 B I4", xid, OK, #body) .. sim.checksum(body)
    else
      reply = string.pack(">I4 B", xid, OK) .. body:sub(offset + 1, offset + count)
    end
    local sent, err = s:sendto(reply, cid, port)   -- a full device queue refuses: ENOBUFS
    if sent == nil then sim.log("reply to %d:%d not sent: %s", cid, port, err) end
  end
end, { daemon = true })

-- One client's transport: requests by xid, sent in windows, resent after a silent 2 ms.
local function new_client(p, stats)
  local s = assert(p:socket("dgram"))
  assert(s:setsockopt("rcvbuf", RCVBUF))
  assert(s:setsockopt("rcvtimeo", REPLY_WAIT_NS))
  local client = { next_xid = p.endpoint.cid % 1000 * 100000, window = WINDOW_MAX }

  -- Runs every request of `list` ({ op, name, offset, count }) and returns their replies
  -- (without the xid) in the order of `list`.
  function client.call_all(list)
    local replies, pending, order, next_index = {}, {}, {}, 1
    while true do
      local in_flight = 0
      for _ in pairs(pending) do in_flight = in_flight + 1 end
      while in_flight < client.window and next_index <= #list do
        local r = list[next_index]
        client.next_xid = client.next_xid + 1
        local xid = client.next_xid
        local packet = string.pack(">I4 B s1 I4 I4", xid, r.op, r.name, r.offset, r.count)
        pending[xid] = { index = next_index, packet = packet }
        order[#order + 1] = xid
        assert(s:sendto(pending[xid].packet, sim.CID_HOST, PORT))
        stats.requests = stats.requests + 1
        next_index, in_flight = next_index + 1, in_flight + 1
      end
      if in_flight == 0 then return replies end
      local reply, err = s:recvfrom(BLOCK + 64)
      if reply ~= nil then
        local xid = string.unpack(">I4", reply)
        if pending[xid] then
          replies[pending[xid].index] = reply:sub(5)
          pending[xid] = nil
        else
          stats.duplicates = stats.duplicates + 1   -- answered already: a late copy
        end
      else
        assert(err == "EAGAIN", "recvfrom: " .. tostring(err))
        client.window = math.max(1, client.window // 2)
        for _, xid in ipairs(order) do          -- resend in the order first sent
          if pending[xid] then
            assert(s:sendto(pending[xid].packet, sim.CID_HOST, PORT))
            stats.retransmissions = stats.retransmissions + 1
          end
        end
      end
    end
  end

  function client.fetch(name)
    local attr = client.call_all({ { op = OP_GETATTR, name = name, offset = 0, count = 0 } })[1]
    local status, size = string.unpack(">B I4", attr)
    assert(status == OK, name .. ": GETATTR status " .. status)
    local checksum = attr:sub(6)
    local list = {}
    for offset = 0, size - 1, BLOCK do
      list[#list + 1] = { op = OP_READ, name = name, offset = offset,
                          count = math.min(BLOCK, size - offset) }
    end
    local blocks = client.call_all(list)
    for index, block in ipairs(blocks) do
      assert(block:byte(1) == OK, name .. ": READ status " .. block:byte(1))
      blocks[index] = block:sub(2)
    end
    return table.concat(blocks), checksum
  end
  return client
end

local total = { requests = 0, retransmissions = 0, duplicates = 0, files = 0 }
local clients = {}
for g = 1, 4 do
  local vm = w:vm{ name = "guest" .. g }
  clients[g] = vm:spawn("client", function(p)
    local stats = { requests = 0, retransmissions = 0, duplicates = 0 }
    local client = new_client(p, stats)
    for k = 0, 1 do
      local name = "export/file" .. ((g + k - 1) % 4 + 1)
      local data, checksum = client.fetch(name)
      sim.expect(sim.checksum(data) == checksum, name .. ": the server's checksum")
      sim.expect(data == contents(files[name]), name .. ": the bytes of the file")
      total.files = total.files + 1
    end
    local missing = client.call_all({ { op = OP_READ, name = "export/none", offset = 0,
                                        count = BLOCK } })[1]
    sim.expect(missing:byte(1) == ENOENT, "an unknown file gives ENOENT")
    sim.log("%d requests, %d retransmissions, %d duplicate replies ignored", stats.requests,
            stats.retransmissions, stats.duplicates)
    for key, value in pairs(stats) do total[key] = total[key] + value end
  end)
end

local result = w:run()
sim.expect(result.stopped == "idle", "the clients finished: " .. result.stopped)
sim.expect(total.files == 8, "8 files fetched and checked, got " .. total.files)
sim.expect(total.retransmissions > 0, "a full receive queue dropped replies and the clients "
           .. "recovered by retransmitting")
print(string.format("nfs_dgram: 8 files checked; %d requests, %d retransmissions, "
                    .. "%d duplicate replies, in %.6f simulated s", total.requests,
                    total.retransmissions, total.duplicates, w.now / 1e9))
