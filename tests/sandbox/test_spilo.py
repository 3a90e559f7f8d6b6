"""A sandbox cluster looks like a Spilo one from inside: bootstrap objects, held sessions, md5 logins."""

from __future__ import annotations

from pgrestore_sandbox import registry, seed
from pgrestore_sandbox.bootstrap import md5_password
from pgrestore_sandbox.login import can_login
from pgrestore_sandbox.services import get_service
from tests.helpers import exec_in_pod, wait_until

NS, CLUSTER, LEADER = "services", "gitea-vcs-postgres", "gitea-vcs-postgres-0"
PER_DATABASE = {"metric_helpers", "user_management"}  # post_init.sh's loop: every database
POSTGRES_ONLY = {"zmon_utils"}


def _psql(sandbox, sql: str, db: str = "postgres") -> tuple[int, str, str]:
    rc, out, err, _ = exec_in_pod(sandbox.api.core, NS, LEADER, ["psql", "-U", "postgres", "-d", db, "-At", "-c", sql])
    return rc, out.strip(), err


def _names(sandbox, sql: str, db: str) -> set[str]:
    rc, out, err = _psql(sandbox, sql, db)
    assert rc == 0, err
    return set(out.splitlines())


def _schemas(sandbox, db: str) -> set[str]:
    return _names(sandbox, "SELECT nspname FROM pg_namespace", db)


def test_spilo_bootstrap_objects_are_in_postgres_template1_and_app_databases(sandbox):
    assert PER_DATABASE | POSTGRES_ONLY <= _schemas(sandbox, "postgres")
    for db in ("template1", "service_db"):  # service_db was created from template1 by the operator
        schemas = _schemas(sandbox, db)
        assert PER_DATABASE <= schemas and not POSTGRES_ONLY & schemas, db
        assert "pg_stat_statements" in _names(sandbox, "SELECT extname FROM pg_extension", db)
    assert {"admin", "robot_zmon", "cron_admin"} <= _names(sandbox, "SELECT rolname FROM pg_roles", "postgres")
    assert _names(sandbox, "SELECT srvname FROM pg_foreign_server", "postgres") == {"pglog"}
    assert "postgres_log" in _names(sandbox, "SELECT tablename FROM pg_tables", "postgres")


def test_postgres_log_reads_the_servers_csv_logs_through_file_fdw(sandbox):
    # Spilo logs csv into ../pg_log and launch.sh creates postgresql-0..7.csv, so the
    # inherited foreign tables always open, and the parent table counts the log lines.
    rc, out, err = _psql(sandbox, "SELECT count(*) FROM public.postgres_log")
    assert rc == 0 and int(out) > 0, err
    rc, out, err = _psql(sandbox, "SELECT count(*) FROM ONLY public.postgres_log")
    assert (rc, out) == (0, "0"), err


def _sessions(sandbox, db: str) -> int:
    rc, out, err = _psql(sandbox, f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}' "
                                  "AND pid <> pg_backend_pid()")
    assert rc == 0, err
    return int(out)


def test_patroni_and_the_exporter_hold_sessions_so_drop_database_fails(sandbox, sandbox_settings):
    rc, _, err = _psql(sandbox, "CREATE DATABASE held_probe")
    assert rc == 0, err
    try:
        assert _names(sandbox, "SELECT application_name FROM pg_stat_activity WHERE datname = 'postgres'",
                      "postgres") >= {"Patroni"}
        assert _sessions(sandbox, "service_db") >= 1
        wait_until("the exporter finds the new database", lambda: _sessions(sandbox, "held_probe") >= 1, timeout=15)

        # What a restore's `pg_dumpall -c` meets (PostgreSQL waits 5 s for the others to leave):
        rc, _, err = _psql(sandbox, "DROP DATABASE service_db")
        assert rc == 1 and 'database "service_db" is being accessed by other users' in err

        sandbox_settings(held_sessions=False)  # `sandbox up --no-held-sessions`
        wait_until("sessions released", lambda: _sessions(sandbox, "held_probe") == 0, timeout=15)
        rc, _, err = _psql(sandbox, "DROP DATABASE held_probe")
        assert rc == 0, err
    finally:
        _psql(sandbox, "DROP DATABASE IF EXISTS held_probe WITH (FORCE)")
        if "service_db" not in _names(sandbox, "SELECT datname FROM pg_database", "postgres"):
            _psql(sandbox, "CREATE DATABASE service_db OWNER service_account")  # only if the test failed
            seed.load_rows(sandbox.state, get_service("vcs"))


def test_tcp_logins_accept_md5_stored_passwords_like_spilo_pg_hba(sandbox):
    server = registry.server_for(sandbox.state.clusters, NS, CLUSTER)
    server.psql(f"CREATE ROLE md5_probe LOGIN PASSWORD '{md5_password('md5_probe', 'from-a-csm-1.4-dump')}'")
    try:
        assert server.psql("SELECT left(rolpassword, 3) FROM pg_authid WHERE rolname = 'md5_probe'").strip() == "md5"
        assert can_login(server.port, "md5_probe", "from-a-csm-1.4-dump", "postgres")
        assert not can_login(server.port, "md5_probe", "wrong", "postgres")
    finally:
        server.psql("DROP ROLE md5_probe")
