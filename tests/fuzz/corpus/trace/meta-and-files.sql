INSERT INTO meta VALUES('seed', '-1');
INSERT INTO meta VALUES('options', '{"trace_level":"bogus","until_ns":-7}');
INSERT INTO meta VALUES('scenario', '');
INSERT INTO meta VALUES('simulator_version', '');
INSERT INTO files VALUES('', '', '');
INSERT INTO files VALUES('a.lua', 'return 1', 'zz');
INSERT INTO events VALUES(1, 0, 2, 0, 'nonsense', '', '', NULL);
