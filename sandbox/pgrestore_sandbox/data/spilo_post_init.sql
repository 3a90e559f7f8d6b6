-- Spilo's bootstrap SQL, as Debian's PostgreSQL 15 can reproduce it.
--
-- Modelled on zalando/spilo tag 2.1-p7 (the image CSM runs: spilo-14:2.1-p7, Patroni 2.1.4):
--   postgres-appliance/scripts/post_init.sh          (roles, pg_auth_mon, pg_cron, file_fdw, pglog,
--                                                     postgres_log*, failed_authentication_*, and the
--                                                     per-database loop)
--   postgres-appliance/scripts/_zmon_schema.dump     (schema zmon_utils)
--   postgres-appliance/scripts/create_user_functions.sql  (schema user_management)
--   postgres-appliance/scripts/metric_helpers.sql    (schema metric_helpers)
-- The object names, owners, schemas, argument types and grants are Spilo's; the function bodies are
-- written here from scratch (they only need to exist and roughly work, not to match Spilo's numbers).
--
-- How Spilo runs it: Patroni calls `post_init.sh zalandos <dsn of database postgres>` once, after
-- bootstrapping the cluster. The script pipes ONE psql session into database `postgres`:
--   1. cluster-wide roles admin (CREATEDB), cron_admin (granted to admin), the human role `zalandos`
--      (HUMAN_ROLE, default in configure_spilo.py) and robot_zmon, each created or altered to NOLOGIN;
--   2. in `postgres` only: pg_auth_mon, pg_cron, file_fdw, server pglog, table public.postgres_log,
--      foreign tables public.postgres_log_0..7, views public.failed_authentication_0..7, zmon_utils;
--   3. then, for every database that allows connections (at bootstrap: postgres and template1):
--      user_management, pg_stat_statements, pg_stat_kcache, set_user, grants on pg_switch_wal and
--      pg_stat_activity, metric_helpers.
-- Databases the operator later creates are copied from template1, so they inherit part 3.
--
-- Run it like post_init.sh's loop, once per database, as a superuser:
--   psql -X -v ON_ERROR_STOP=1 -d postgres  -f spilo_post_init.sql
--   psql -X -v ON_ERROR_STOP=1 -d template1 -f spilo_post_init.sql
-- Roles are guarded (a second run only re-asserts their attributes); part 2 runs only when the current
-- database is `postgres`, as in Spilo; every CREATE is idempotent, so the file can be re-run.
--
-- Left out, because Debian's PostgreSQL 15 packages do not ship them (see
-- /usr/share/postgresql/15/extension/) and they need shared_preload_libraries:
--   pg_auth_mon (and GRANT SELECT ON public.pg_auth_mon TO robot_zmon),
--   pg_cron (schema cron, cron.job policies and grants, cron.schedule_in_database),
--   pg_stat_kcache, set_user (and GRANT EXECUTE ON FUNCTION public.set_user(text) TO admin),
--   pg_mon (post_init.sh creates it only with ENABLE_PG_MON=true),
--   the timescaledb/postgis upgrade steps (they only run when those extensions are installed).
-- Replaced: plpython3u (postgresql-plpython3-15 is not installed here). Spilo's
--   zmon_utils.get_database_cluster_system_information() is written in plpython3u; here it has the same
--   name, signature and result type but is written in SQL, so a dump still carries a function of that
--   name and a restore still meets it.
-- Kept: file_fdw and pg_stat_statements come with Debian's contrib; creating them needs no preloading
-- (only reading pg_stat_statements does).
-- postgres_log has the PostgreSQL >= 14 columns (backend_type, leader_pid, query_id), as post_init.sh
-- adds them for the server version it runs on.
-- Unlike post_init.sh this file sets client_min_messages = warning, so a re-run prints no "already
-- exists, skipping" notices.
-- The catalogue of these objects, for classifying restore errors, is core/spilo.py.

SET synchronous_commit = local;
SET client_min_messages = warning;

-- 1. Roles (cluster-wide). Created when missing, otherwise brought back to Spilo's attributes.
DO $roles$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT * FROM (VALUES
            ('admin',      'CREATEDB NOLOGIN NOCREATEROLE NOSUPERUSER NOREPLICATION INHERIT'),
            ('cron_admin', 'NOCREATEDB NOLOGIN NOCREATEROLE NOSUPERUSER NOREPLICATION INHERIT'),
            ('zalandos',   'NOCREATEDB NOLOGIN NOCREATEROLE NOSUPERUSER NOREPLICATION INHERIT'),
            ('robot_zmon', 'NOCREATEDB NOLOGIN NOCREATEROLE NOSUPERUSER NOREPLICATION INHERIT')
        ) AS spilo_roles (name, attrs)
    LOOP
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r.name) THEN
            EXECUTE format('ALTER ROLE %I WITH %s', r.name, r.attrs);
        ELSE
            EXECUTE format('CREATE ROLE %I WITH %s', r.name, r.attrs);
        END IF;
    END LOOP;
END
$roles$;

DO $member$
BEGIN
    IF NOT pg_catalog.pg_has_role('admin', 'cron_admin', 'MEMBER') THEN
        GRANT cron_admin TO admin;
    END IF;
END
$member$;

-- 2. Only in the database post_init.sh connects to: postgres.
SELECT pg_catalog.current_database() = 'postgres' AS spilo_main_database \gset
\if :spilo_main_database

CREATE EXTENSION IF NOT EXISTS file_fdw SCHEMA public;

DO $server$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_foreign_server WHERE srvname = 'pglog') THEN
        CREATE SERVER pglog FOREIGN DATA WRAPPER file_fdw;
    END IF;
END
$server$;

-- The CSV log, one foreign table per weekday (0 and 7 are both Sunday), under an empty parent that
-- refuses rows of its own.
CREATE TABLE IF NOT EXISTS public.postgres_log (
    log_time               timestamp(3) with time zone,
    user_name              text,
    database_name          text,
    process_id             integer,
    connection_from        text,
    session_id             text   NOT NULL,
    session_line_num       bigint NOT NULL,
    command_tag            text,
    session_start_time     timestamp with time zone,
    virtual_transaction_id text,
    transaction_id         bigint,
    error_severity         text,
    sql_state_code         text,
    message                text,
    detail                 text,
    hint                   text,
    internal_query         text,
    internal_query_pos     integer,
    context                text,
    query                  text,
    query_pos              integer,
    location               text,
    application_name       text,
    backend_type           text,
    leader_pid             integer,
    query_id               bigint,
    CONSTRAINT postgres_log_check CHECK (false) NO INHERIT
);
GRANT SELECT ON public.postgres_log TO admin;

DO $weekdays$
BEGIN
    FOR day IN 0..7 LOOP
        EXECUTE format(
            'CREATE FOREIGN TABLE IF NOT EXISTS public.%I () INHERITS (public.postgres_log) SERVER pglog '
            'OPTIONS (filename %L, format %L, header %L)',
            'postgres_log_' || day, '../pg_log/postgresql-' || day || '.csv', 'csv', 'false');
        EXECUTE format('GRANT SELECT ON public.%I TO admin', 'postgres_log_' || day);
        EXECUTE format(
            'CREATE OR REPLACE VIEW public.%I WITH (security_barrier) AS '
            'SELECT * FROM public.%I l WHERE l.error_severity = %L AND l.command_tag = %L',
            'failed_authentication_' || day, 'postgres_log_' || day, 'FATAL', 'authentication');
        EXECUTE format('ALTER VIEW public.%I OWNER TO postgres', 'failed_authentication_' || day);
        EXECUTE format('GRANT SELECT ON public.%I TO robot_zmon', 'failed_authentication_' || day);
    END LOOP;
END
$weekdays$;

-- zmon_utils: Spilo drops and re-creates it on every run.
RESET ROLE;
SET ROLE TO postgres;
DROP SCHEMA IF EXISTS zmon_utils CASCADE;
CREATE SCHEMA zmon_utils;
GRANT USAGE ON SCHEMA zmon_utils TO robot_zmon;

CREATE TYPE zmon_utils.system_information AS (parameter text, setting text);

CREATE OR REPLACE FUNCTION zmon_utils.get_database_cluster_information()
RETURNS TABLE (parameter text, setting text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path TO pg_catalog
AS $fn$
DECLARE
    standby boolean := pg_is_in_recovery();
    lsn     pg_lsn;
BEGIN
    lsn := CASE WHEN standby THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END;
    parameter := 'zmon_utils_version'; setting := '11'; RETURN NEXT;
    parameter := 'server_version_num'; setting := current_setting('server_version_num'); RETURN NEXT;
    RETURN QUERY
        SELECT s.name, s.setting FROM pg_settings s
         WHERE s.name IN ('archive_mode', 'archive_command', 'archive_timeout', 'port', 'ssl',
                          'max_connections', 'data_directory', 'fsync', 'full_page_writes', 'hba_file',
                          'ident_file', 'hot_standby', 'log_destination', 'log_directory',
                          'log_filename', 'shared_buffers', 'synchronous_commit', 'cluster_name');
    parameter := 'defined_databases';
    SELECT string_agg(quote_ident(d.datname), E'\n' ORDER BY d.datname) INTO setting
      FROM pg_database d
     WHERE d.datallowconn AND NOT d.datistemplate AND d.datname <> 'postgres';
    RETURN NEXT;
    parameter := 'is_in_recovery'; setting := standby::text; RETURN NEXT;
    parameter := 'wal_bytes_from_zero'; setting := (lsn - '0/0'::pg_lsn)::text; RETURN NEXT;
    parameter := 'wal_delay_seconds';
    setting := CASE WHEN standby
                    THEN extract(epoch FROM now() - pg_last_xact_replay_timestamp())::bigint::text END;
    RETURN NEXT;
    parameter := 'is_streaming';
    setting := (standby AND pg_last_wal_receive_lsn() IS NOT NULL)::text;
    RETURN NEXT;
    RETURN QUERY
        SELECT v.k, v.n::text
          FROM (SELECT count(*) FILTER (WHERE a.state = 'active') AS active,
                       count(*) FILTER (WHERE a.state = 'idle in transaction') AS idle_tx,
                       count(*) FILTER (WHERE a.wait_event_type = 'Lock') AS locked,
                       count(*) AS total
                  FROM pg_stat_activity a) AS s,
               LATERAL (VALUES ('active_connections', s.active),
                               ('idle_in_transaction_connections', s.idle_tx),
                               ('locked_connections', s.locked),
                               ('current_connections', s.total)) AS v (k, n);
END
$fn$;

-- Spilo's version is plpython3u (disk, load, memory figures); not installed here, so SQL stands in.
CREATE OR REPLACE FUNCTION zmon_utils.get_database_cluster_system_information()
RETURNS SETOF zmon_utils.system_information
LANGUAGE sql SECURITY DEFINER SET search_path TO pg_catalog
AS $fn$
    SELECT ('xlog.location', current_setting('data_directory') || '/pg_wal')::zmon_utils.system_information
    UNION ALL
    SELECT ('log.location', current_setting('log_directory'))::zmon_utils.system_information
$fn$;

GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA zmon_utils TO robot_zmon;
RESET ROLE;

\endif

-- 3. In every database (post_init.sh's loop; template1 passes it on to the operator's databases).

-- user_management: SECURITY DEFINER helpers that let members of admin manage roles.
CREATE SCHEMA IF NOT EXISTS user_management;
GRANT USAGE ON SCHEMA user_management TO admin;

CREATE OR REPLACE FUNCTION user_management.random_password(length integer)
RETURNS text
LANGUAGE sql SET search_path TO pg_catalog
AS $fn$
    SELECT string_agg(substr(pool.chars, 1 + floor(random() * length(pool.chars))::int, 1), '')
      FROM (SELECT '!#$%&*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
                   AS chars) AS pool,
           generate_series(1, length)
$fn$;

CREATE OR REPLACE FUNCTION user_management.create_application_user(username text)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path TO pg_catalog
AS $fn$
DECLARE
    secret text := user_management.random_password(20);
BEGIN
    EXECUTE format('CREATE ROLE %I LOGIN PASSWORD %L', username, secret);
    RETURN secret;
END
$fn$;
REVOKE ALL ON FUNCTION user_management.create_application_user(text) FROM public;
GRANT EXECUTE ON FUNCTION user_management.create_application_user(text) TO admin;
COMMENT ON FUNCTION user_management.create_application_user(text)
    IS 'Creates a login role with a strong random password and returns the password';

CREATE OR REPLACE FUNCTION user_management.create_user(username text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path TO pg_catalog
AS $fn$
BEGIN
    EXECUTE format('CREATE ROLE %I LOGIN IN ROLE zalandos, admin', username);
    EXECUTE format('ALTER ROLE %I SET log_statement TO %L', username, 'all');
END
$fn$;
REVOKE ALL ON FUNCTION user_management.create_user(text) FROM public;
GRANT EXECUTE ON FUNCTION user_management.create_user(text) TO admin;
COMMENT ON FUNCTION user_management.create_user(text)
    IS 'Creates a human user, authenticated without a password';

CREATE OR REPLACE FUNCTION user_management.create_role(rolename text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path TO pg_catalog
AS $fn$
BEGIN
    EXECUTE format('CREATE ROLE %I WITH ADMIN admin', rolename);
END
$fn$;
REVOKE ALL ON FUNCTION user_management.create_role(text) FROM public;
GRANT EXECUTE ON FUNCTION user_management.create_role(text) TO admin;
COMMENT ON FUNCTION user_management.create_role(text)
    IS 'Creates a role that cannot log in, for fine-grained privileges';

CREATE OR REPLACE FUNCTION user_management.create_application_user_or_change_password(username text, password text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path TO pg_catalog
AS $fn$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = username) THEN
        EXECUTE format('ALTER ROLE %I WITH PASSWORD %L', username, password);
    ELSE
        EXECUTE format('CREATE ROLE %I LOGIN PASSWORD %L', username, password);
    END IF;
END
$fn$;
REVOKE ALL ON FUNCTION user_management.create_application_user_or_change_password(text, text) FROM public;
GRANT EXECUTE ON FUNCTION user_management.create_application_user_or_change_password(text, text) TO admin;
COMMENT ON FUNCTION user_management.create_application_user_or_change_password(text, text)
    IS 'Emergency only: the password ends up in the server log. Creates the login role or sets its password';

CREATE OR REPLACE FUNCTION user_management.revoke_admin(username text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path TO pg_catalog
AS $fn$
BEGIN
    EXECUTE format('REVOKE admin FROM %I', username);
END
$fn$;
REVOKE ALL ON FUNCTION user_management.revoke_admin(text) FROM public;
GRANT EXECUTE ON FUNCTION user_management.revoke_admin(text) TO admin;
COMMENT ON FUNCTION user_management.revoke_admin(text)
    IS 'Takes admin away from a human user, e.g. to leave read privileges only';

CREATE OR REPLACE FUNCTION user_management.drop_user(username text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path TO pg_catalog
AS $fn$
BEGIN
    EXECUTE format('DROP ROLE %I', username);
END
$fn$;
REVOKE ALL ON FUNCTION user_management.drop_user(text) FROM public;
GRANT EXECUTE ON FUNCTION user_management.drop_user(text) TO admin;
COMMENT ON FUNCTION user_management.drop_user(text)
    IS 'Drops a human or application role; a role that owns objects cannot be dropped';

CREATE OR REPLACE FUNCTION user_management.drop_role(username text)
RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path TO pg_catalog
AS $fn$
    SELECT user_management.drop_user(username)
$fn$;
REVOKE ALL ON FUNCTION user_management.drop_role(text) FROM public;
GRANT EXECUTE ON FUNCTION user_management.drop_role(text) TO admin;
COMMENT ON FUNCTION user_management.drop_role(text)
    IS 'Same as drop_user';

CREATE OR REPLACE FUNCTION user_management.terminate_backend(pid integer)
RETURNS boolean
LANGUAGE sql SECURITY DEFINER SET search_path TO pg_catalog
AS $fn$
    SELECT pg_terminate_backend(pid)
$fn$;
REVOKE ALL ON FUNCTION user_management.terminate_backend(integer) FROM public;
GRANT EXECUTE ON FUNCTION user_management.terminate_backend(integer) TO admin;
COMMENT ON FUNCTION user_management.terminate_backend(integer)
    IS 'Ends a harmful backend; find its pid in pg_stat_activity';

GRANT SELECT ON pg_catalog.pg_stat_activity TO admin;

-- Statistics extensions (pg_stat_kcache and set_user are not available here) and the WAL switch.
CREATE EXTENSION IF NOT EXISTS pg_stat_statements SCHEMA public;
GRANT EXECUTE ON FUNCTION public.pg_stat_statements_reset(oid, oid, bigint) TO admin;
GRANT EXECUTE ON FUNCTION pg_catalog.pg_switch_wal() TO admin;

-- metric_helpers: bloat estimates and pg_stat_statements for the monitoring roles.
CREATE SCHEMA IF NOT EXISTS metric_helpers AUTHORIZATION postgres;
GRANT USAGE ON SCHEMA metric_helpers TO admin;
GRANT USAGE ON SCHEMA metric_helpers TO robot_zmon;

-- A rough estimate: the pages a table would need if its live rows were packed at its fillfactor.
CREATE OR REPLACE FUNCTION metric_helpers.get_table_bloat_approx(
    OUT t_database name, OUT t_schema_name name, OUT t_table_name name,
    OUT t_real_size numeric, OUT t_extra_size double precision, OUT t_extra_ratio double precision,
    OUT t_fill_factor integer, OUT t_bloat_size double precision, OUT t_bloat_ratio double precision,
    OUT t_is_na boolean)
RETURNS SETOF record
LANGUAGE sql SECURITY DEFINER IMMUTABLE STRICT SET search_path TO pg_catalog
AS $fn$
    WITH t AS (
        SELECT n.nspname, c.relname,
               (c.relpages + coalesce(tc.relpages, 0))::numeric AS pages,
               current_setting('block_size')::numeric AS bs,
               coalesce((SELECT substring(o FROM 'fillfactor=(\d+)')::int
                           FROM unnest(c.reloptions) AS o WHERE o LIKE 'fillfactor=%'), 100) AS ff,
               greatest(c.reltuples, 0)
                 * (24 + coalesce((SELECT sum((1 - s.null_frac) * s.avg_width) FROM pg_stats s
                                    WHERE s.schemaname = n.nspname AND s.tablename = c.relname
                                      AND NOT s.inherited), 0)) AS live_bytes,
               NOT EXISTS (SELECT 1 FROM pg_stats s
                            WHERE s.schemaname = n.nspname AND s.tablename = c.relname) AS na
          FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace
          LEFT JOIN pg_class tc ON tc.oid = c.reltoastrelid
         WHERE c.relkind = 'r' AND n.nspname <> 'information_schema'
    ), e AS (
        SELECT t.*, ceil(live_bytes / (bs - 24)) AS need, ceil(live_bytes * 100 / ff / (bs - 24)) AS need_ff
          FROM t
    )
    SELECT current_database(), nspname, relname, pages * bs,
           greatest(pages - need, 0) * bs,
           CASE WHEN pages > 0 THEN 100 * greatest(pages - need, 0) / pages ELSE 0 END,
           ff,
           greatest(pages - need_ff, 0) * bs,
           CASE WHEN pages > 0 THEN 100 * greatest(pages - need_ff, 0) / pages ELSE 0 END,
           na
      FROM e
$fn$;
REVOKE ALL ON FUNCTION metric_helpers.get_table_bloat_approx() FROM public;
GRANT EXECUTE ON FUNCTION metric_helpers.get_table_bloat_approx() TO admin;
GRANT EXECUTE ON FUNCTION metric_helpers.get_table_bloat_approx() TO robot_zmon;

CREATE OR REPLACE VIEW metric_helpers.table_bloat AS
    SELECT * FROM metric_helpers.get_table_bloat_approx();
REVOKE ALL ON TABLE metric_helpers.table_bloat FROM public;
GRANT SELECT ON TABLE metric_helpers.table_bloat TO admin;
GRANT SELECT ON TABLE metric_helpers.table_bloat TO robot_zmon;

-- The same idea for B-tree indexes: index pages against what the index's tuples would fill.
CREATE OR REPLACE FUNCTION metric_helpers.get_btree_bloat_approx(
    OUT i_database name, OUT i_schema_name name, OUT i_table_name name, OUT i_index_name name,
    OUT i_real_size numeric, OUT i_extra_size numeric, OUT i_extra_ratio double precision,
    OUT i_fill_factor integer, OUT i_bloat_size double precision, OUT i_bloat_ratio double precision,
    OUT i_is_na boolean)
RETURNS SETOF record
LANGUAGE sql SECURITY DEFINER IMMUTABLE STRICT SET search_path TO pg_catalog
AS $fn$
    WITH i AS (
        SELECT n.nspname, t.relname AS tblname, c.relname AS idxname, c.relpages::numeric AS pages,
               current_setting('block_size')::numeric AS bs,
               coalesce((SELECT substring(o FROM 'fillfactor=(\d+)')::int
                           FROM unnest(c.reloptions) AS o WHERE o LIKE 'fillfactor=%'), 90) AS ff,
               greatest(c.reltuples, 0)
                 * (8 + coalesce((SELECT sum(s.stawidth) FROM pg_statistic s
                                   WHERE s.starelid = x.indrelid AND s.staattnum = ANY (x.indkey::int2[])), 0))
                 AS tuple_bytes,
               0 = ANY (x.indkey::int2[]) AS na
          FROM pg_index x
          JOIN pg_class c ON c.oid = x.indexrelid
          JOIN pg_class t ON t.oid = x.indrelid
          JOIN pg_namespace n ON n.oid = t.relnamespace
          JOIN pg_am a ON a.oid = c.relam AND a.amname = 'btree'
         WHERE c.relpages > 0
    ), e AS (
        SELECT i.*, 1 + ceil(tuple_bytes / (bs - 40)) AS need,
               1 + ceil(tuple_bytes * 100 / ff / (bs - 40)) AS need_ff
          FROM i
    )
    SELECT current_database(), nspname, tblname, idxname, pages * bs,
           (pages - need) * bs,
           100 * (pages - need) / pages,
           ff,
           greatest(pages - need_ff, 0) * bs,
           100 * (pages - need_ff) / pages,
           na
      FROM e
$fn$;
REVOKE ALL ON FUNCTION metric_helpers.get_btree_bloat_approx() FROM public;
GRANT EXECUTE ON FUNCTION metric_helpers.get_btree_bloat_approx() TO admin;
GRANT EXECUTE ON FUNCTION metric_helpers.get_btree_bloat_approx() TO robot_zmon;

CREATE OR REPLACE VIEW metric_helpers.index_bloat AS
    SELECT * FROM metric_helpers.get_btree_bloat_approx();
REVOKE ALL ON TABLE metric_helpers.index_bloat FROM public;
GRANT SELECT ON TABLE metric_helpers.index_bloat TO admin;
GRANT SELECT ON TABLE metric_helpers.index_bloat TO robot_zmon;

-- pg_stat_statements for roles that are not superusers: a SECURITY DEFINER wrapper and a view.
CREATE OR REPLACE FUNCTION metric_helpers.pg_stat_statements(showtext boolean)
RETURNS SETOF public.pg_stat_statements
LANGUAGE sql IMMUTABLE SECURITY DEFINER STRICT
AS $fn$
    SELECT * FROM public.pg_stat_statements(showtext)
$fn$;
REVOKE ALL ON FUNCTION metric_helpers.pg_stat_statements(boolean) FROM public;
GRANT EXECUTE ON FUNCTION metric_helpers.pg_stat_statements(boolean) TO admin;
GRANT EXECUTE ON FUNCTION metric_helpers.pg_stat_statements(boolean) TO robot_zmon;

CREATE OR REPLACE VIEW metric_helpers.pg_stat_statements AS
    SELECT * FROM metric_helpers.pg_stat_statements(true);
REVOKE ALL ON TABLE metric_helpers.pg_stat_statements FROM public;
GRANT SELECT ON TABLE metric_helpers.pg_stat_statements TO admin;
GRANT SELECT ON TABLE metric_helpers.pg_stat_statements TO robot_zmon;

RESET synchronous_commit;
RESET client_min_messages;
