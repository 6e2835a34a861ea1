-- test_stream_transport_uaf (vsock_test.c "SOCK_STREAM transport release use-after-free"): bind() to a CID that is not local fails with EADDRNOTAVAIL; with the 24 auto-bind candidates taken, connect() fails with EADDRNOTAVAIL; further connects of that socket to other CIDs fail cleanly (R17, R14, R111, R10, R54, R57, R63).
-- scenarios/conformance/vsock_test_stream_transport_uaf.lua. Linux (client only), for
-- each cid in 0..3: bind(cid, VMADDR_PORT_ANY) probes for a transport (EADDRNOTAVAIL =
-- "none", any other errno is fatal); where it works, it reads the port, binds the next 24
-- ports (MAX_PORT_RETRIES) to drain the auto-bind pool, closes the probe, and makes a
-- non-blocking connect() to (cid, last port), which must fail with EADDRNOTAVAIL; then it
-- connects the same socket to the other CIDs of 0..3, ignoring the results (a vulnerable
-- kernel crashes there, releasing the transport of an unbound socket). VMCI is the only
-- transport here, so the crash path does not exist, but each step's result is fixed by
-- the reference:
--   * bind to a non-local CID -> EADDRNOTAVAIL (R17): on the host every CID but 2, in a
--     guest every CID but its own (VM CIDs are >= 16, so the guest also probes its own);
--   * the probe gets the kernel's first ephemeral port 1024 (R14, D13); with 1025..1048
--     bound, the 24 auto-bind candidates of R14 all conflict -> EADDRNOTAVAIL (R111);
--   * host follow-ups (R111 order): CID 0 auto-binds (the counter moved on to 1049), then
--     sending the REQUEST fails -- a host cannot reach the hypervisor (R54) -> EINVAL (R63);
--     CID 1 -> ENETUNREACH (R10); CID 3, no such context (R57) -> EINVAL (R63);
--   * guest follow-ups: they fail (a non-blocking connect never succeeds at once); CID 1
--     gives ENETUNREACH, or EALREADY if the CID 0 attempt left the socket connecting.
local sim = require("vmcisim")
local w = sim.world{ product = "esxi-6.5" }
local host = w:host()
local guest = w:vm{ name = "guest1" }
local MAX_PORT_RETRIES = 24

local function probe(p, cid, local_cid, where, follow_up_check)
  local fd = assert(p:socket("stream"))
  local ok, name = fd:bind(cid, sim.PORT_ANY)
  if cid ~= local_cid then
    sim.expect(ok == nil and name == "EADDRNOTAVAIL",
               where .. ": bind to non-local CID " .. cid .. " gives EADDRNOTAVAIL (R17), got " .. tostring(name))
    fd:close()
    return false
  end
  sim.expect(ok == true, where .. ": bind to the local CID " .. cid .. " works, got " .. tostring(name))
  local bound_cid, port = fd:getsockname()
  sim.expect(bound_cid == cid and port == 1024, where .. ": the first ephemeral port is 1024 (R14, D13), got "
             .. tostring(bound_cid) .. ":" .. tostring(port))
  local sockets = {}
  for i = 1, MAX_PORT_RETRIES do                     -- drain the auto-bind pool
    port = port + 1
    sockets[i] = assert(p:socket("stream"))
    assert(sockets[i]:bind(cid, port))
  end
  fd:close()
  fd = assert(p:socket("stream"))
  fd:setblocking(false)                              -- SOCK_NONBLOCK
  ok, name = fd:connect(cid, port)
  sim.expect(ok == nil and name == "EADDRNOTAVAIL",
             where .. ": connect with all 24 auto-bind candidates taken gives EADDRNOTAVAIL (R14, R111), got "
             .. tostring(ok or name))
  for c = sim.CID_HYPERVISOR, sim.CID_HOST + 1 do     -- "reassign the transport"
    if c ~= cid then
      ok, name = fd:connect(c, port)
      follow_up_check(c, ok, name)
    end
  end
  fd:close()
  for i = #sockets, 1, -1 do sockets[i]:close() end
  return true
end

host:spawn("client_on_host", function(p)
  local where = "host"
  local expected = { [0] = "EINVAL", [1] = "ENETUNREACH", [3] = "EINVAL" }
  local tested = false
  for cid = sim.CID_HYPERVISOR, sim.CID_HOST + 1 do
    tested = probe(p, cid, sim.CID_HOST, where, function(c, ok, name)
      sim.expect(ok == nil and name == expected[c], string.format(
        "%s: follow-up connect to CID %d gives %s, got %s", where, c, expected[c], tostring(ok or name)))
    end) or tested
  end
  sim.expect(tested, "host: CID 2 was tested")
  local s = assert(p:socket("stream"))               -- the stack is still usable
  assert(s:bind(sim.CID_ANY, sim.PORT_ANY))
end)

guest:spawn("client_in_guest", function(p)
  local where = "guest"
  local tested = false
  local cids = { 0, 1, 2, 3, guest.cid }
  for _, cid in ipairs(cids) do
    tested = probe(p, cid, guest.cid, where, function(c, ok, name)
      sim.expect(ok == nil, string.format("%s: follow-up connect to CID %d fails, got %s", where, c, tostring(ok)))
      if c == 1 then
        sim.expect(name == "ENETUNREACH" or name == "EALREADY", string.format(
          "%s: follow-up connect to CID 1 gives ENETUNREACH (R10) or EALREADY (R111), got %s", where, tostring(name)))
      end
    end) or tested
  end
  sim.expect(tested, "guest: its own CID was tested")
  local s = assert(p:socket("stream"))
  assert(s:bind(sim.CID_ANY, sim.PORT_ANY))
end)
