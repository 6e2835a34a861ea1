-- SPDX-License-Identifier: MIT
--
-- scripts/wireshark/vmci_vsock.lua: a Wireshark/tshark post-dissector for the captures
-- `vmcisim export --format pcap` writes (docs/wireshark.md, docs/cli.md "pcap").
--
-- Those captures use LINKTYPE_VSOCK (271): each record is Linux's vsockmon header (32 bytes)
-- and a payload. Wireshark's own "vsock" dissector decodes the header but not the payload,
-- since vsockmon defines only virtio's transport. This script runs after it on every frame
-- that has a vsock header and decodes what vmcisim put behind it:
--   - a VMCI stream control packet (32 bytes: version, type, proto, ports, reserved, u0, u1):
--     its type is named in the Info column and every field of its type is decoded;
--   - stream data or a datagram: marked as such, with its bytes (as many as the trace
--     stored: `vmcisim run --payload`), a printable preview in the Info column, and a note
--     when the record is cut (captured < original length: bytes the trace did not store).
-- vmcisim writes the record's kind into the vsockmon header's reserved bytes (offset 30,
-- le16: 1 control packet, 2 stream data, 3 datagram). A capture without it (0: an older
-- vmcisim) is still decoded: a 32-byte record whose op is not PAYLOAD is a control packet,
-- and a PAYLOAD record is "stream data or datagram".
-- Wireshark embeds Lua 5.2: no bitwise operators here. Invariants: it reads only bytes the
-- frame has (a short or hostile record is reported, never a Lua error), and it changes
-- nothing for frames without a vsock header.

local proto = Proto("vmci_vsock", "VMCI vSockets (vmcisim)")

local VSOCKMON_HEADER_BYTES = 32
local CONTROL_PACKET_BYTES = 32
local OP_PAYLOAD = 4

local KIND_UNKNOWN, KIND_CONTROL, KIND_STREAM_DATA, KIND_DATAGRAM = 0, 1, 2, 3
local kind_names = {
    [KIND_UNKNOWN] = "not marked (older capture)",
    [KIND_CONTROL] = "stream control packet",
    [KIND_STREAM_DATA] = "stream data",
    [KIND_DATAGRAM] = "datagram",
}

-- The packet types of the VMCI stream transport (the table in vsock/vmci_packet.c).
local TYPE = {
    INVALID = 0, REQUEST = 1, NEGOTIATE = 2, OFFER = 3, ATTACH = 4, WROTE = 5, READ = 6,
    RST = 7, SHUTDOWN = 8, WAITING_WRITE = 9, WAITING_READ = 10, REQUEST2 = 11,
    NEGOTIATE2 = 12,
}
local type_names = {}
for name, value in pairs(TYPE) do type_names[value] = name end

local shutdown_modes = { [0] = "none", [1] = "RCV", [2] = "SEND", [3] = "RCV|SEND" }

local f = {
    kind = ProtoField.uint16("vmci_vsock.kind", "Record kind", base.DEC, kind_names),
    version = ProtoField.uint8("vmci_vsock.version", "Packet version", base.DEC),
    type = ProtoField.uint8("vmci_vsock.type", "Packet type", base.DEC, type_names),
    type_name = ProtoField.string("vmci_vsock.type_name", "Packet type name"),
    proto = ProtoField.uint16("vmci_vsock.proto", "Protocol bitmask", base.HEX),
    src_port = ProtoField.uint32("vmci_vsock.src_port", "Source port", base.DEC),
    dst_port = ProtoField.uint32("vmci_vsock.dst_port", "Destination port", base.DEC),
    reserved = ProtoField.uint32("vmci_vsock.reserved", "Reserved", base.HEX),
    qp_size = ProtoField.uint64("vmci_vsock.qp_size", "Queue pair size", base.DEC),
    qp_size_proposed = ProtoField.uint64("vmci_vsock.qp_size_proposed",
                                         "Proposed queue pair size", base.DEC),
    qp_size_negotiated = ProtoField.uint64("vmci_vsock.qp_size_negotiated",
                                           "Negotiated queue pair size", base.DEC),
    qp_handle = ProtoField.string("vmci_vsock.qp_handle", "Queue pair handle"),
    qp_context = ProtoField.uint32("vmci_vsock.qp_handle.context", "Context", base.DEC),
    qp_resource = ProtoField.uint32("vmci_vsock.qp_handle.resource", "Resource", base.DEC),
    shutdown_mode = ProtoField.uint64("vmci_vsock.shutdown_mode", "Shutdown mode", base.DEC),
    shutdown_mode_name = ProtoField.string("vmci_vsock.shutdown_mode_name", "Shutdown mode name"),
    wait_generation = ProtoField.uint64("vmci_vsock.wait.generation", "Wait generation",
                                        base.DEC),
    wait_offset = ProtoField.uint64("vmci_vsock.wait.offset", "Wait offset", base.DEC),
    notify = ProtoField.string("vmci_vsock.notify", "Notify protocol"),
    u0 = ProtoField.uint64("vmci_vsock.u0", "Union word 0", base.HEX),
    u1 = ProtoField.uint64("vmci_vsock.u1", "Union word 1", base.HEX),
    data_len = ProtoField.uint32("vmci_vsock.data_len", "Payload length (original)", base.DEC),
    captured_len = ProtoField.uint32("vmci_vsock.captured_len", "Payload length (captured)",
                                     base.DEC),
    cut = ProtoField.bool("vmci_vsock.cut", "Payload cut"),
    data = ProtoField.bytes("vmci_vsock.data", "Payload"),
    data_text = ProtoField.string("vmci_vsock.data_text", "Payload as text"),
}
proto.fields = f

local expert_cut = ProtoExpert.new("vmci_vsock.cut.expert",
                                   "Record cut: the trace did not store every byte",
                                   expert.group.UNDECODED, expert.severity.NOTE)
local expert_short = ProtoExpert.new("vmci_vsock.short.expert", "Control packet too short",
                                     expert.group.MALFORMED, expert.severity.ERROR)
local expert_nonzero = ProtoExpert.new("vmci_vsock.nonzero.expert",
                                       "Bytes that must be 0 are not (R147)",
                                       expert.group.PROTOCOL, expert.severity.WARN)
proto.experts = { expert_cut, expert_short, expert_nonzero }

local vsock_op_field = Field.new("vsock.op")

-- The notify protocol a handshake packet offers or selects (REQUEST/NEGOTIATE: protocol v1,
-- packet-based; REQUEST2: the bitmask offered; NEGOTIATE2 with bit 1: queue-state).
local function notify_text(packet_type, proto_bits)
    if packet_type == TYPE.REQUEST or packet_type == TYPE.NEGOTIATE then
        return "packet-based (protocol v1: WROTE, READ, WAITING_READ, WAITING_WRITE)"
    elseif packet_type == TYPE.REQUEST2 then
        return string.format("offered 0x%x%s", proto_bits,
                             proto_bits % 2 == 1 and " (PKT_ON_NOTIFY: queue-state)" or "")
    elseif packet_type == TYPE.NEGOTIATE2 then
        if proto_bits == 1 then return "queue-state (PKT_ON_NOTIFY: WROTE, READ)" end
        return string.format("0x%x: not a protocol a client accepts", proto_bits)
    end
    return nil
end

local function add_size(tree, packet_type, range)
    local field = f.qp_size_negotiated
    if packet_type == TYPE.REQUEST or packet_type == TYPE.REQUEST2 then
        field = f.qp_size_proposed
    end
    tree:add_le(field, range)
    tree:add_le(f.qp_size, range):set_hidden()
    return "size=" .. range:le_uint64():tonumber()
end

local function add_handle(tree, range)
    local context = range(0, 4):le_uint()
    local resource = range(4, 4):le_uint()
    local text = string.format("%u:%u", context, resource)
    local item = tree:add(f.qp_handle, range, text)
    item:add_le(f.qp_context, range(0, 4))
    item:add_le(f.qp_resource, range(4, 4))
    return "handle=" .. text
end

-- Decodes u0/u1 as the packet type says (R147) and returns the Info column's details.
local function add_union(tree, packet_type, union)
    local u0, u1 = union(0, 8), union(8, 8)
    if packet_type == TYPE.REQUEST or packet_type == TYPE.REQUEST2 or
       packet_type == TYPE.NEGOTIATE or packet_type == TYPE.NEGOTIATE2 then
        return add_size(tree, packet_type, u0), u1
    elseif packet_type == TYPE.OFFER or packet_type == TYPE.ATTACH then
        return add_handle(tree, u0), u1
    elseif packet_type == TYPE.SHUTDOWN then
        local mode = u0:le_uint64():tonumber()
        tree:add_le(f.shutdown_mode, u0)
        local name = shutdown_modes[mode] or string.format("0x%x", mode)
        tree:add(f.shutdown_mode_name, u0, name):set_generated()
        return "mode=" .. name, u1
    elseif packet_type == TYPE.WAITING_READ or packet_type == TYPE.WAITING_WRITE then
        tree:add_le(f.wait_generation, u0)
        tree:add_le(f.wait_offset, u1)
        return string.format("generation=%s offset=%s", u0:le_uint64():tonumber(),
                             u1:le_uint64():tonumber()), nil
    end
    return nil, union                 -- INVALID, WROTE, READ, RST and unknown: all zero
end

-- Shows bytes R147 requires to be 0 and warns when they are not.
local function check_zero(tree, field, range)
    local item = tree:add_le(field, range)
    if range:le_uint64():tonumber() ~= 0 then item:add_proto_expert_info(expert_nonzero) end
end

local function dissect_control(payload, pinfo, tree, vsock_src_port, vsock_dst_port)
    if payload:len() < CONTROL_PACKET_BYTES then
        tree:add_proto_expert_info(expert_short)
        pinfo.cols.info:set(string.format("VMCI control packet cut at %d bytes", payload:len()))
        return
    end
    local packet_type = payload(1, 1):uint()
    local proto_bits = payload(2, 2):le_uint()
    local name = type_names[packet_type] or string.format("UNKNOWN(%d)", packet_type)
    tree:add(f.version, payload(0, 1))
    tree:add(f.type, payload(1, 1))
    tree:add(f.type_name, payload(1, 1), name):set_generated()
    tree:add_le(f.proto, payload(2, 2))
    tree:add_le(f.src_port, payload(4, 4))
    tree:add_le(f.dst_port, payload(8, 4))
    local reserved = tree:add_le(f.reserved, payload(12, 4))
    if payload(12, 4):le_uint() ~= 0 then reserved:add_proto_expert_info(expert_nonzero) end
    local details, zero = add_union(tree, packet_type, payload(16, 16))
    if zero ~= nil then
        if zero:len() == 16 then
            check_zero(tree, f.u0, zero(0, 8))
            check_zero(tree, f.u1, zero(8, 8))
        else
            check_zero(tree, f.u1, zero)
        end
    end
    local notify = notify_text(packet_type, proto_bits)
    if notify ~= nil then tree:add(f.notify, payload(2, 2), notify):set_generated() end
    local info = string.format("%s %u → %u", name, vsock_src_port, vsock_dst_port)
    if details ~= nil then info = info .. " " .. details end
    if packet_type == TYPE.REQUEST2 or packet_type == TYPE.NEGOTIATE2 then
        info = info .. string.format(" proto=0x%x", proto_bits)
    end
    pinfo.cols.info:set(info)
end

-- Up to PREVIEW_BYTES of the payload as text: printable ASCII as it is, the rest as dots.
local PREVIEW_BYTES = 32
local function preview(range)
    local bytes = range:len() < PREVIEW_BYTES and range:len() or PREVIEW_BYTES
    local text = {}
    for index = 0, bytes - 1 do
        local byte = range(index, 1):uint()
        text[#text + 1] = (byte >= 32 and byte < 127) and string.char(byte) or "."
    end
    return table.concat(text) .. (range:len() > PREVIEW_BYTES and "…" or "")
end

local function dissect_data(payload, pinfo, tree, kind, frame_tvb, ports)
    local original = frame_tvb:reported_len() - VSOCKMON_HEADER_BYTES
    local captured = payload and payload:len() or 0
    local cut = captured < original
    local anchor = payload or frame_tvb(0, VSOCKMON_HEADER_BYTES)
    tree:add(f.data_len, anchor, original):set_generated()
    tree:add(f.captured_len, anchor, captured):set_generated()
    local cut_item = tree:add(f.cut, anchor, cut):set_generated()
    if cut then cut_item:add_proto_expert_info(expert_cut) end
    local text = nil
    if payload ~= nil and captured > 0 then
        tree:add(f.data, payload)
        text = preview(payload)
        tree:add(f.data_text, payload, text):set_generated()
    end
    local what = ({ [KIND_STREAM_DATA] = "Stream data", [KIND_DATAGRAM] = "Datagram" })[kind]
                 or "Stream data or datagram"
    local info = string.format("%s %s, %d bytes", what, ports, original)
    if cut then info = info .. string.format(" (cut: %d captured)", captured) end
    if text ~= nil then info = info .. " \"" .. text .. "\"" end
    pinfo.cols.info:set(info)
end

function proto.dissector(tvb, pinfo, tree)
    if vsock_op_field() == nil or tvb:len() < VSOCKMON_HEADER_BYTES then return end
    local header = tvb(0, VSOCKMON_HEADER_BYTES)
    local src_port, dst_port = header(16, 4):le_uint(), header(20, 4):le_uint()
    local op = header(24, 2):le_uint()
    local kind = header(30, 2):le_uint()
    local payload = nil
    if tvb:len() > VSOCKMON_HEADER_BYTES then payload = tvb(VSOCKMON_HEADER_BYTES) end
    if kind == KIND_UNKNOWN then      -- a capture from before the kind was written
        local whole = tvb:reported_len() - VSOCKMON_HEADER_BYTES == CONTROL_PACKET_BYTES
        if op ~= OP_PAYLOAD and whole then kind = KIND_CONTROL end
    end
    local subtree = tree:add(proto, payload or header)
    subtree:add_le(f.kind, header(30, 2), kind)
    pinfo.cols.protocol:set("VMCI vSock")
    if kind == KIND_CONTROL then
        dissect_control(payload or tvb(0, 0), pinfo, subtree, src_port, dst_port)
    else
        local ports = string.format("%u:%u → %u:%u", header(0, 8):le_uint64():tonumber(),
                                    src_port, header(8, 8):le_uint64():tonumber(), dst_port)
        dissect_data(payload, pinfo, subtree, kind, tvb, ports)
    end
end

register_postdissector(proto)
