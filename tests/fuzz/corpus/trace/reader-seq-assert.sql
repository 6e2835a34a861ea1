ÿDROP TABLE events;
CREATE TABLE events(seq INTEGER, time_ns INTEGER, ctx INTEGER, pid INTEGER, layer TEXT, kind TEXT, fields TEXT, payload BLOB);
INSERT INTO events VALUES(1, 0, 2, 0, 'api', 'a', '{}', NULL);
INSERT INTO events VALUES(1, 0, 2, 0, 'api', 'b', '{}', NULL);
