DROP TABLE events;
CREATE VIEW events AS SELECT 1 AS seq, 2 AS time_ns;
