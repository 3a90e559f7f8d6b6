-- Capsules warehouse/dispatch bookkeeping.
\connect service_db
SET ROLE service_account;
CREATE TABLE warehouses (id serial PRIMARY KEY, name varchar(255) UNIQUE NOT NULL, owner varchar(255), created_at timestamptz);
CREATE TABLE capsules (id serial PRIMARY KEY, warehouse_id integer REFERENCES warehouses(id), name varchar(255),
  image varchar(255), state varchar(32), created_at timestamptz);
INSERT INTO warehouses (name, owner, created_at) SELECT 'warehouse-' || i, 'user' || i, now() FROM generate_series(1, 20) AS i;
INSERT INTO capsules (warehouse_id, name, image, state, created_at)
  SELECT i % 20 + 1, 'capsule-' || i, 'registry.local/capsules/env:' || (i % 5), 'ready', now() FROM generate_series(1, 600) AS i;
