INSERT INTO events VALUES(1, 0, 2, 0, 'api', 'socket', '{"fd":3}', NULL);
