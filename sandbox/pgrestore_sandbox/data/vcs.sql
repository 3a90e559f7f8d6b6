-- A slice of Gitea's schema.
\connect service_db
SET ROLE service_account;
CREATE TABLE "user" (id bigserial PRIMARY KEY, lower_name varchar(255) UNIQUE NOT NULL, name varchar(255) NOT NULL,
  email varchar(255), is_admin boolean, created_unix bigint);
CREATE TABLE repository (id bigserial PRIMARY KEY, owner_id bigint REFERENCES "user"(id), lower_name varchar(255),
  name varchar(255), description text, default_branch varchar(255), size bigint, created_unix bigint);
CREATE TABLE action (id bigserial PRIMARY KEY, user_id bigint, op_type integer, repo_id bigint, content text, created_unix bigint);
INSERT INTO "user" (lower_name, name, email, is_admin, created_unix) VALUES ('crayvcs', 'crayvcs', 'crayvcs@localhost', true, 1600000000);
INSERT INTO repository (owner_id, lower_name, name, description, default_branch, size, created_unix)
  SELECT 1, lower(r), r, 'CSM configuration: ' || r, 'main', 1024 * i, 1600000000 + i
  FROM unnest(ARRAY['csm-config-management','cos-config-management','uan-config-management','sma-config-management',
                    'slingshot-host-software-config-management','analytics-config-management']) WITH ORDINALITY AS t(r, i);
INSERT INTO action (user_id, op_type, repo_id, content, created_unix)
  SELECT 1, 5, i % 6 + 1, 'commit ' || md5(i::text), 1600000000 + i * 37 FROM generate_series(1, 1200) AS i;
