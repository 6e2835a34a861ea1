DROP TABLE events;
CREATE TABLE events(seq INTEGER PRIMARY KEY, time_ns, ctx, pid, layer, kind, fields, payload);
INSERT INTO events VALUES(1, 'soon', x'01', 2.5, NULL, NULL, NULL, 'text payload');
INSERT INTO events VALUES(2, 1e300, -1, -1, 'api', 'proc_spawn', x'7b7d', 12);
INSERT INTO events VALUES(3, 9223372036854775807, 4294967296, 1, 'transport', 'pkt_send', '{"type":"RST"}', NULL);
