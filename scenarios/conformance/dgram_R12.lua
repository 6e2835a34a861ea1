-- scenarios/conformance/dgram_R12.lua: binding a datagram socket to a port <= 1023 needs
-- net_bind_service (R12: EACCES otherwise; port 0 is privileged too). The default trust
-- of a host process grants nothing here (D1). Port 1 is always taken by the stack's
-- control handle {ANY, 1}, so even a privileged bind to it fails with EADDRINUSE (R22).
local sim = require("vmcisim")
local w = sim.world{}
local host = w:host()
local guest = w:vm{ name = "guest1" }

local function unprivileged(p)
  for _, port in ipairs({ 0, 1, 80, 1023 }) do
    local ok, name = assert(p:socket("dgram")):bind(sim.CID_ANY, port)
    sim.expect(ok == nil and name == "EACCES", p.name .. ": port " .. port .. ": "
               .. tostring(name))
  end
  sim.expect(assert(p:socket("dgram")):bind(sim.CID_ANY, 1024), "port 1024 needs nothing")
end

local function privileged(p)
  for _, port in ipairs({ 0, 80, 1023 }) do
    sim.expect(assert(p:socket("dgram")):bind(sim.CID_ANY, port), p.name .. ": port " .. port)
  end
  local ok, name = assert(p:socket("dgram")):bind(sim.CID_ANY, 1)
  sim.expect(ok == nil and name == "EADDRINUSE", p.name .. ": port 1 (R22): " .. tostring(name))
end

host:spawn("host_user", unprivileged)
guest:spawn("guest_user", unprivileged)
host:spawn("host_admin", privileged, { caps = { "net_bind_service" } })
guest:spawn("guest_admin", privileged, { caps = { "net_bind_service" } })
