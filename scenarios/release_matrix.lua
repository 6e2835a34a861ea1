-- scenarios/release_matrix.lua: what one VMware release allows between the host and its
-- guests, measured rather than looked up. The world runs one product profile (arguments:
-- `vmcisim run scenarios/release_matrix.lua -- PRODUCT [HOST_OS]`, default esxi-6.5 on its
-- own host OS); the scenario makes the same attempts under every profile and prints one row:
--
--   row PRODUCT HOST_OS host_streams=yes|no guest_to_guest=yes|no unrestricted=honoured|ignored
--       domain=honoured|off host_dgram=yes|no host_trusted=yes|no | <each attempt's outcome>
--
-- (one line). The attempts, each with its own ports, one after the other:
--   g2h_stream     guest a connects a stream to a host listener
--   h2g_stream     a host process connects a stream to a listener in guest a
--   h2g_dgram      a host datagram to a socket in guest a, and g2h_dgram the answer back
--   g2g_stream     guest a connects a stream to a listener in guest b
--   g2g_dgram      guest a sends a datagram to guest b
--   restricted     guest c (no vmci0.unrestricted) sends a datagram to guest b
--   other_domain   guest d (unrestricted, vmci0.domain = "other") sends a datagram to guest b,
--                  and the host sends one to d
-- a, b and d carry vmci0.unrestricted = TRUE; a, b and c are in the default domain.
-- Each outcome is "ok" (the peer got the bytes), an errno name, or "lost" (the send succeeded
-- but nothing arrived within 50 ms). The columns derive from them: host_streams is yes when
-- both stream directions work; unrestricted is honoured when c's answer differs from a's;
-- domain is honoured when d is refused where a is not (off otherwise: guests without
-- guest-to-guest traffic show no difference between an ignored domain and none).
--
-- tests/release_matrix_test.sh runs this under every product and host OS, prints the table,
-- and compares it with the product table of docs/reference/profiles.md (R195-R202).
--
-- In `vmcisim inspect run.db errors` the refusals are visible: the api events with EPERM,
-- ECONNRESET or ESOCKTNOSUPPORT, `dgram_denied` and the vmci results (VMCI_ERROR_NO_ACCESS,
-- VMCI_ERROR_INVALID_RESOURCE for a refused host queue pair); `inspect run.db connections`
-- shows which streams were established and which were refused (RST from server).
local sim = require("vmcisim")
local product = arg[1] or "esxi-6.5"
local w = sim.world{ product = product, host_os = arg[2] }
local host = w:host()
local unrestricted = { ["vmci0.unrestricted"] = "TRUE" }
local a = w:vm{ name = "a", vmx = unrestricted }
local b = w:vm{ name = "b", vmx = unrestricted }
local c = w:vm{ name = "c" }
local d = w:vm{ name = "d", vmx = { ["vmci0.unrestricted"] = "TRUE", ["vmci0.domain"] = "other" } }
local WAIT_NS = sim.ms(50)
local outcome = {}            -- attempt name -> "ok" | errno name | "lost"
local next_port = 6000

-- Every outcome must be one of these; anything else is a bug in the model or the scenario.
local known = { ok = true, lost = true, EPERM = true, ECONNRESET = true, ETIMEDOUT = true,
                ESOCKTNOSUPPORT = true, EINVAL = true, EHOSTUNREACH = true }

local function take_port()
  next_port = next_port + 1
  return next_port
end

-- A stream attempt: a listener in `server_ep`, a client in `client_ep`; the client sends
-- one byte which the server must receive. Runs inside the driver process `p`.
local function stream_attempt(p, name, client_ep, server_ep)
  local port, listening, received = take_port(), false, false
  local server = server_ep:spawn(name .. "-server", function(q)
    local l = q:socket("stream")
    if l == nil then listening = true; return end          -- no stream sockets here
    assert(l:bind(sim.CID_ANY, port)); assert(l:listen(4))
    assert(l:setsockopt("rcvtimeo", 2 * WAIT_NS))
    listening = true
    local conn = l:accept()
    if conn ~= nil then received = conn:recv(1) == "x"; conn:close() end
    l:close()
  end)
  while not listening do p:sleep(sim.us(10)) end
  local client = client_ep:spawn(name .. "-client", function(q)
    local s, err = q:socket("stream")
    if s == nil then outcome[name] = err; return end
    assert(s:setsockopt("connect_timeout", WAIT_NS))
    local ok, connect_err = s:connect(server_ep.cid, port)
    if not ok then outcome[name] = connect_err; s:close(); return end
    assert(s:send("x"))
    q:sleep(sim.ms(1))
    s:close()
  end)
  p:join(client); p:join(server)
  if outcome[name] == nil then outcome[name] = received and "ok" or "lost" end
end

-- A datagram attempt from `from_ep` to a socket bound in `to_ep`.
local function dgram_attempt(p, name, from_ep, to_ep)
  local port, bound, received = take_port(), false, false
  local receiver = to_ep:spawn(name .. "-receiver", function(q)
    local s = assert(q:socket("dgram"))
    assert(s:bind(sim.CID_ANY, port)); assert(s:setsockopt("rcvtimeo", WAIT_NS))
    bound = true
    received = s:recvfrom(64) == name
    s:close()
  end)
  while not bound do p:sleep(sim.us(10)) end
  local sender = from_ep:spawn(name .. "-sender", function(q)
    local s = assert(q:socket("dgram"))
    local count, err = s:sendto(name, to_ep.cid, port)
    if count == nil then outcome[name] = err end
    s:close()
  end)
  p:join(sender); p:join(receiver)
  if outcome[name] == nil then outcome[name] = received and "ok" or "lost" end
end

local host_trusted = nil
host:spawn("driver", function(p)
  host_trusted = p.trusted
  stream_attempt(p, "g2h_stream", a, host)
  stream_attempt(p, "h2g_stream", host, a)
  dgram_attempt(p, "h2g_dgram", host, a)
  dgram_attempt(p, "g2h_dgram", a, host)
  stream_attempt(p, "g2g_stream", a, b)
  dgram_attempt(p, "g2g_dgram", a, b)
  dgram_attempt(p, "restricted", c, b)
  dgram_attempt(p, "other_domain", d, b)
  dgram_attempt(p, "host_other_domain", host, d)
end)

local result = w:run()
sim.expect(result.stopped == "idle", "every attempt ended: " .. result.stopped)

local order = { "g2h_stream", "h2g_stream", "h2g_dgram", "g2h_dgram", "g2g_stream",
                "g2g_dgram", "restricted", "other_domain", "host_other_domain" }
local details = {}
for _, name in ipairs(order) do
  local value = outcome[name]
  sim.expect(value ~= nil and known[value], name .. " has a known outcome: " .. tostring(value))
  -- a datagram the router let through must arrive: nothing here fills a queue
  sim.expect(value ~= "lost", name .. ": a datagram or stream byte was lost")
  details[#details + 1] = name .. "=" .. tostring(value)
end

local function yes(flag) return flag and "yes" or "no" end
local g2g_works = outcome.g2g_dgram == "ok"
sim.expect((outcome.g2g_stream == "ok") == g2g_works,
           "guest-to-guest streams and datagrams agree (R197)")
local domain_honoured = (g2g_works and outcome.other_domain ~= "ok")
    or (outcome.h2g_dgram == "ok" and outcome.host_other_domain ~= "ok")
print(string.format("row %s %s host_streams=%s guest_to_guest=%s unrestricted=%s domain=%s "
                    .. "host_dgram=%s host_trusted=%s | %s",
                    w.product, w.host_os,
                    yes(outcome.g2h_stream == "ok" and outcome.h2g_stream == "ok"),
                    yes(g2g_works),
                    outcome.restricted == outcome.g2g_dgram and "ignored" or "honoured",
                    domain_honoured and "honoured" or "off",
                    yes(outcome.h2g_dgram == "ok" and outcome.g2h_dgram == "ok"),
                    yes(host_trusted), table.concat(details, " ")))
