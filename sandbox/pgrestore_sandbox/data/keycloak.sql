-- A slice of Keycloak's schema with realistic rows. Runs as the database owner.
\connect service_db
SET ROLE service_account;
CREATE TABLE realm (id varchar(36) PRIMARY KEY, name varchar(255) UNIQUE NOT NULL, enabled boolean NOT NULL,
  ssl_required varchar(255), access_token_lifespan integer);
CREATE TABLE client (id varchar(36) PRIMARY KEY, client_id varchar(255) NOT NULL, realm_id varchar(36) REFERENCES realm(id),
  enabled boolean NOT NULL, public_client boolean NOT NULL, secret varchar(255));
CREATE TABLE user_entity (id varchar(36) PRIMARY KEY, username varchar(255) NOT NULL, email varchar(255),
  first_name varchar(255), last_name varchar(255), realm_id varchar(255), enabled boolean NOT NULL,
  created_timestamp bigint);
CREATE TABLE credential (id varchar(36) PRIMARY KEY, user_id varchar(36) REFERENCES user_entity(id),
  type varchar(255), secret_data text, credential_data text, created_date bigint);
CREATE TABLE event_entity (id varchar(36) PRIMARY KEY, client_id varchar(255), details_json text,
  error varchar(255), ip_address varchar(255), realm_id varchar(255), session_id varchar(255),
  event_time bigint, type varchar(255), user_id varchar(255));
INSERT INTO realm VALUES ('master', 'master', true, 'external', 60), ('shasta', 'shasta', true, 'none', 300);
INSERT INTO client SELECT md5('client' || i), c, 'shasta', true, c = 'shasta', md5('s' || i)
  FROM unnest(ARRAY['shasta','admin-client','system-compute-client','system-pxe-client','gatekeeper','oauth2-proxy-customer-management'])
  WITH ORDINALITY AS t(c, i);
INSERT INTO user_entity SELECT md5('user' || i), 'user' || lpad(i::text, 4, '0'), 'user' || i || '@example.com',
  'First' || i, 'Last' || i, 'shasta', i % 17 <> 0, 1600000000000 + i * 1000 FROM generate_series(1, 400) AS i;
INSERT INTO credential SELECT md5('cred' || i), md5('user' || i), 'password', '{"value":"' || md5('pw' || i) || '"}',
  '{"hashIterations":27500,"algorithm":"pbkdf2-sha256"}', 1600000000000 + i FROM generate_series(1, 400) AS i;
INSERT INTO event_entity SELECT md5('ev' || i), 'shasta', '{"auth_method":"openid-connect"}', NULL, '10.252.1.' || (i % 250),
  'shasta', md5('sess' || i), 1600000000000 + i * 60000, 'LOGIN', md5('user' || (i % 400 + 1))
  FROM generate_series(1, 2000) AS i;
