-- A slice of SPIRE server's datastore.
\connect spire
SET ROLE spire;
CREATE TABLE bundles (id serial PRIMARY KEY, created_at timestamptz, updated_at timestamptz,
  trust_domain varchar(255) UNIQUE NOT NULL, data bytea);
CREATE TABLE attested_node_entries (id serial PRIMARY KEY, created_at timestamptz, updated_at timestamptz,
  spiffe_id varchar(255) UNIQUE, data_type varchar(255), serial_number varchar(255), expires_at timestamptz);
CREATE TABLE registered_entries (id serial PRIMARY KEY, created_at timestamptz, updated_at timestamptz,
  entry_id varchar(255) UNIQUE, spiffe_id varchar(255), parent_id varchar(255), ttl integer, admin boolean);
CREATE TABLE join_tokens (id serial PRIMARY KEY, token varchar(255) UNIQUE, expiry bigint);
INSERT INTO bundles (created_at, updated_at, trust_domain, data)
  VALUES (now(), now(), 'spiffe://shasta', decode(md5('bundle'), 'hex'));
INSERT INTO attested_node_entries (created_at, updated_at, spiffe_id, data_type, serial_number, expires_at)
  SELECT now(), now(), 'spiffe://shasta/ncn/x3000c0s' || i || 'b0n0', 'join_token', md5('sn' || i), now() + interval '1 day'
  FROM generate_series(1, 300) AS i;
INSERT INTO registered_entries (created_at, updated_at, entry_id, spiffe_id, parent_id, ttl, admin)
  SELECT now(), now(), md5('entry' || i), 'spiffe://shasta/workload/' || i, 'spiffe://shasta/ncn/x3000c0s' || (i % 300 + 1) || 'b0n0', 3600, false
  FROM generate_series(1, 1500) AS i;
INSERT INTO join_tokens (token, expiry) SELECT md5('jt' || i), 1700000000 + i FROM generate_series(1, 50) AS i;
