WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
INSERT INTO events SELECT i, i, i, 0, 'vmci', 'vm_create', '{"name":"vm' || i || '","cid":' || i || '}', NULL FROM n;
