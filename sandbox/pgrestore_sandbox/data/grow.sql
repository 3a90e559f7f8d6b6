-- Makes a cluster large for benchmarks: :rows rows of ~1 KiB into a table of the
-- service's main database, owned by its owner. Variables: database, owner, rows.
\connect :database
SET ROLE :owner;
CREATE TABLE IF NOT EXISTS bulk_history (id bigserial PRIMARY KEY, recorded_at timestamptz NOT NULL, payload text NOT NULL);
INSERT INTO bulk_history (recorded_at, payload)
  SELECT now() - i * interval '1 second', repeat(md5(i::text), 32) FROM generate_series(1, :rows) AS i;
