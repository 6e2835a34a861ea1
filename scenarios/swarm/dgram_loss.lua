-- scenarios/swarm/dgram_loss.lua: datagram services under loss, with retransmission.
--
-- What it does: with jitter on, the host runs 1-3 echo services (one datagram socket each,
-- a small random receive queue, `rcvbuf` 2-12 KiB, and a random service time per datagram),
-- and 3-5 guests run 2-4 clients each. A client makes 20-60 requests to random services,
-- keeping up to 1-8 in flight: a request is a 20-byte header (client, request, attempt) and a
-- random-length pattern (up to 3000 bytes); the service answers with the same datagram. A
-- client whose receive timeout (1 ms) passes sends every unanswered request again as a new
-- attempt. Full receive queues drop datagrams on purpose (R189, a sender that saw success; a
-- full device queue gives ENOBUFS, R58), and 0-3 suspend/resume or freeze/thaw of random
-- guests drop or hold more (R205): every loss must be healed by retransmission.
--
-- What must hold, for every seed: every datagram a service or a client receives is intact
-- (its payload is the pattern its header names) and is delivered at most once (no attempt of
-- a request arrives twice, no answer to an attempt arrives twice); every request of every
-- client is answered in the end; the run ends idle; the world invariants hold at the end
-- (every datagram delivered once or counted as dropped with a reason, docs/invariants.md).
--
-- Sweep it: vmcisim sweep scenarios/swarm/dgram_loss.lua --seeds 1-10000 -j 8
-- `vmcisim inspect RUN.db errors` lists each drop with its reason (receive_queue_full, suspend,
-- queue_full); the last log line counts datagrams sent, lost and sent again.
-- seeds: 1-3
local sim = require("vmcisim")
-- Faults (docs/faults.md): every `real` site (dgram_drop loses more datagrams, which the
-- retransmission must heal; the latency sites reorder more); no `protocol` site.
local w = sim.world{ jitter = true, faults = { sites = "real", fire = 0.1 } }
local host = w:host()
local BASE_PORT = 7300
local HEADER_BYTES = 20
local ATTEMPTS_MAX = 500      -- a request not answered after this many attempts fails the run

local counts = { sent = 0, received = 0, resent = 0, refused = 0 }
local seen_requests, seen_answers = {}, {}   -- "client:request:attempt" -> true

local function header(client, request, attempt)
  return string.format("%08x%08x%04x", client, request, attempt)
end

local function payload_seed(client, request) return client * 65536 + request end

-- Checks one received datagram; returns client, request, attempt when it is intact.
local function check_datagram(data, where)
  if not sim.expect(#data >= HEADER_BYTES, where .. ": a datagram holds at least its header") then
    return nil
  end
  local client = tonumber(data:sub(1, 8), 16)
  local request = tonumber(data:sub(9, 16), 16)
  local attempt = tonumber(data:sub(17, 20), 16)
  local well_formed = client and request and attempt
  if not sim.expect(well_formed, where .. ": the header is three hex numbers") then
    return nil
  end
  local body = data:sub(HEADER_BYTES + 1)
  sim.expect(body == sim.pattern(payload_seed(client, request), 0, #body),
             where .. ": datagram " .. data:sub(1, HEADER_BYTES) .. " is intact")
  return client, request, attempt
end

local function send(s, data, cid, port)
  local count, name = s:sendto(data, cid, port)
  if count then
    counts.sent = counts.sent + 1
    sim.expect(count == #data, "sendto sent the whole datagram")
  else
    -- ENOBUFS: a full device queue (R58) or handle table; ENOMEM: the host out of memory
    -- for the copy (route_no_mem); EINVAL: the guest is suspended (R205).
    sim.expect(name == "ENOBUFS" or name == "ENOMEM" or name == "EINVAL",
               "sendto refused: " .. tostring(name))
    counts.refused = counts.refused + 1
  end
end

local services = math.random(1, 3)
for k = 1, services do
  host:spawn("service" .. k, function(p)
    local s = assert(p:socket("dgram"))
    assert(s:setsockopt("rcvbuf", math.random(2048, 12 * 1024)))
    assert(s:bind(sim.CID_ANY, BASE_PORT + k))
    local service_ns = math.random(sim.us(1), sim.us(40))
    while true do
      local data, cid, port = assert(s:recvfrom(8192))
      counts.received = counts.received + 1
      local client, request, attempt = check_datagram(data, "service" .. k)
      if client then
        local key = client .. ":" .. request .. ":" .. attempt
        sim.expect(not seen_requests[key], "request attempt " .. key .. " arrived once")
        seen_requests[key] = true
        p:sleep(math.random(0, service_ns))
        send(s, data, cid, port)
      end
    end
  end, { daemon = true })
end

local client_count, clients_done = 0, 0
local function run_client(p, id)
  local s = assert(p:socket("dgram"))
  assert(s:setsockopt("rcvtimeo", sim.ms(1)))
  local requests, window = math.random(20, 60), math.random(1, 8)
  local sizes, service, attempts, answered = {}, {}, {}, {}
  for r = 1, requests do
    sizes[r], service[r], attempts[r] = math.random(0, 3000), math.random(services), 0
  end
  local function transmit(r)
    attempts[r] = attempts[r] + 1
    if attempts[r] > 1 then counts.resent = counts.resent + 1 end
    send(s, header(id, r, attempts[r]) .. sim.pattern(payload_seed(id, r), 0, sizes[r]),
         sim.CID_HOST, BASE_PORT + service[r])
  end
  local next_request, done = 1, 0
  while done < requests do
    while next_request <= requests and next_request - done <= window do
      transmit(next_request)
      next_request = next_request + 1
    end
    local data, name = s:recvfrom(8192)
    if data then
      counts.received = counts.received + 1
      local client, request, attempt = check_datagram(data, "client " .. id)
      if client and sim.expect(client == id and request <= requests, "an answer for me") then
        local key = client .. ":" .. request .. ":" .. attempt
        sim.expect(not seen_answers[key], "the answer to " .. key .. " arrived once")
        seen_answers[key] = true
        sim.expect(#data == HEADER_BYTES + sizes[request], "the answer has the request's size")
        if not answered[request] then answered[request], done = true, done + 1 end
      end
    else
      sim.expect(name == "EAGAIN", "recvfrom: " .. tostring(name))
      for r = 1, next_request - 1 do
        if not answered[r] then
          if not sim.expect(attempts[r] < ATTEMPTS_MAX, "request " .. r .. " answered") then
            return
          end
          transmit(r)
        end
      end
    end
  end
  clients_done = clients_done + 1
end

local vms = {}
for g = 1, math.random(3, 5) do
  vms[g] = w:vm{ name = "guest" .. g }
  for _ = 1, math.random(2, 4) do
    client_count = client_count + 1
    local id = client_count
    vms[g]:spawn("client" .. id, function(p) run_client(p, id) end)
  end
end

for _ = 1, math.random(0, 3) do
  local vm = vms[math.random(#vms)]
  local stop, go = "suspend", "resume"
  if math.random(2) == 1 then stop, go = "freeze", "thaw" end
  w:at(math.random(sim.us(50), sim.ms(3)), function()
    if vm.state ~= "powered_on" then return end
    local ok = pcall(vm[stop], vm)   -- refused while its driver is still loading
    if ok then w:after(math.random(sim.us(20), sim.ms(2)), function() vm[go](vm) end) end
  end)
end

local result = w:run()
sim.expect(result.stopped == "idle", "the run ends idle: " .. result.stopped)
sim.expect(clients_done == client_count, clients_done .. " of " .. client_count ..
           " clients had every request answered")
sim.log("%d datagrams sent, %d received, %d lost, %d refused, %d sent again", counts.sent,
        counts.received, counts.sent - counts.received, counts.refused, counts.resent)
