-- SLS database sls: golang-migrate's schema_migrations, hardware and networks.
\connect sls
SET ROLE slsuser;
CREATE TABLE schema_migrations (version bigint PRIMARY KEY, dirty boolean NOT NULL);
CREATE TABLE generic_hardware (xname varchar(63) PRIMARY KEY, parent varchar(63), comp_type varchar(63),
  comp_class varchar(63), extra_properties jsonb);
CREATE TABLE network (name varchar(63) PRIMARY KEY, full_name varchar(255), ip_ranges text[], type varchar(63),
  extra_properties jsonb);
INSERT INTO schema_migrations VALUES (3, false);
INSERT INTO generic_hardware SELECT 'x3000c0s' || i || 'b0n0', 'x3000c0s' || i || 'b0', 'comptype_node', 'River',
  ('{"Role":"' || CASE WHEN i <= 9 THEN 'Management' ELSE 'Compute' END || '","NID":' || i || '}')::jsonb
  FROM generate_series(1, 800) AS i;
INSERT INTO network VALUES
  ('HMN', 'Hardware Management Network', ARRAY['10.254.0.0/17'], 'ethernet', '{}'),
  ('NMN', 'Node Management Network', ARRAY['10.252.0.0/17'], 'ethernet', '{}'),
  ('CAN', 'Customer Access Network', ARRAY['10.102.4.0/24'], 'ethernet', '{}'),
  ('HSN', 'High Speed Network', ARRAY['10.253.0.0/16'], 'slingshot10', '{}'),
  ('MTL', 'Provisioning Network (untagged)', ARRAY['10.1.1.0/16'], 'ethernet', '{}');
