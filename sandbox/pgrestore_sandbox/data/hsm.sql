-- HSM (cray-smd) database hmsds: schema version in `system`, components and interfaces.
\connect hmsds
SET ROLE hmsdsuser;
CREATE TABLE system (id integer PRIMARY KEY, schema_version integer NOT NULL, system_info json);
CREATE TABLE components (id varchar(63) PRIMARY KEY, type varchar(63) NOT NULL, state varchar(32) NOT NULL,
  flag varchar(32), enabled boolean, role varchar(32), nid integer, arch varchar(32));
CREATE TABLE comp_eth_interfaces (id varchar(32) PRIMARY KEY, description text, macaddr varchar(32),
  last_update timestamptz, compid varchar(63), comptype varchar(63), ip_addresses json);
CREATE TABLE rf_endpoints (id varchar(63) PRIMARY KEY, type varchar(63), fqdn varchar(255), enabled boolean,
  last_discovery_status varchar(63));
INSERT INTO system VALUES (0, 21, '{}');
INSERT INTO components SELECT 'x3000c0s' || i || 'b0n0', 'Node', 'Ready', 'OK', true,
  CASE WHEN i <= 9 THEN 'Management' ELSE 'Compute' END, i, 'X86' FROM generate_series(1, 800) AS i;
INSERT INTO comp_eth_interfaces SELECT lpad(to_hex(i), 12, '0'), 'Ethernet Interface', lpad(to_hex(i), 12, '0'),
  now(), 'x3000c0s' || i || 'b0n0', 'Node', '[]' FROM generate_series(1, 800) AS i;
INSERT INTO rf_endpoints SELECT 'x3000c0s' || i || 'b0', 'NodeBMC', 'x3000c0s' || i || 'b0', true, 'DiscoverOK'
  FROM generate_series(1, 800) AS i;
