"""What happens inside a new cluster's database: Spilo's bootstrap, then the operator's roles and databases.

Spilo/Patroni (spilo 2.1-p7, Patroni 2.1.4) bootstraps pod 0's volume: initdb, the
superuser and replication user with the passwords from PGPASSWORD_SUPERUSER/STANDBY
(patroni/postgresql/bootstrap.py), then post_init.sh in `postgres` and `template1`
(sandbox/data/spilo_post_init.sql). Only afterwards does the operator log in as
`postgres` and create the spec's roles and databases (postgres-operator v1.8.2
pkg/cluster/cluster.go Create → createRoles, syncDatabases), so application databases
are copies of a template1 that already carries Spilo's objects.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import threading
from importlib import resources
from pathlib import Path

import psycopg
from psycopg import sql

from .pgserver import PgServer, server_major
from .procs import free_port

POST_INIT = "spilo_post_init.sql"


def _post_init_path() -> Path:
    return Path(str(resources.files("pgrestore_sandbox").joinpath("data", POST_INIT)))


# Patroni's logging parameters in Spilo (configure_spilo.py): csv logs in PGROOT/pg_log, the
# files post_init.sh's file_fdw tables postgres_log_0..7 read.
SPILO_LOGGING = """
# Spilo's logging (spilo 2.1-p7 configure_spilo.py)
logging_collector = on
log_destination = 'csvlog'
log_directory = '../pg_log'
log_filename = 'postgresql-%u.log'
log_file_mode = 0644
log_rotation_age = '1d'
log_truncate_on_rotation = on
# Spilo's bootstrap.dcs parameters that say what is logged, and its pg_stat_statements setting
# (zalando/spilo 2.1-p7 postgres-appliance/scripts/configure_spilo.py; shared_preload_libraries is
# pgserver.py's): every DDL statement, ALTER ROLE included, is logged, utility statements not tracked.
log_statement = 'ddl'
log_min_duration_statement = 500
pg_stat_statements.track_utility = off
"""

# What Patroni sets before it creates or alters a role with a password, so the statement is neither
# logged nor tracked (patroni/postgresql/bootstrap.py create_or_update_role).
_PATRONI_QUIET = ("SET log_statement TO none", "SET log_min_duration_statement TO -1",
                  "SET log_min_error_statement TO 'log'", "SET pg_stat_statements.track_utility TO 'off'")


def wipe_volume(pgroot: Path) -> None:
    PgServer(pgroot / "data", 0).wipe()
    shutil.rmtree(pgroot, ignore_errors=True)


def _spilo_log_dir(pgroot: Path) -> None:
    """launch.sh touches postgresql-0..7.csv, so the file_fdw tables can always be read."""
    logs = pgroot / "pg_log"
    logs.mkdir(parents=True, exist_ok=True)
    for i in range(8):
        (logs / f"postgresql-{i}.csv").touch()
    if os.geteuid() == 0:  # PostgreSQL runs as `postgres` and writes its logs there
        for path in (logs, *logs.iterdir()):
            shutil.chown(path, "postgres", "postgres")


def bootstrap_volume(pgroot: Path, passwords: dict[str, str], parameters: dict | None = None) -> PgServer:
    """A fresh, running server as Spilo leaves it before the operator's first login.

    Spilo's volume layout: PGROOT (the volume) holds data/ (PGDATA) and pg_log/. `parameters` are the
    resource's spec.postgresql.parameters: the operator hands them to Patroni, which writes them into
    postgresql.conf over Spilo's (postgres-operator v1.8.2 pkg/cluster/k8sres.go
    generateSpiloJSONConfiguration).

    What initdb and post_init.sh make is the same for every cluster, so it is made once per sandbox
    (_template) and copied; what differs (the port, the parameters, the passwords) is set on the copy.
    A new cluster's data directory is so still a fresh initdb's with Spilo's objects, nothing else."""
    wipe_volume(pgroot)
    template = _template(pgroot.parent)
    server = PgServer(pgroot / "data", free_port())
    pgroot.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-a", str(template), str(server.datadir)], check=True)
    _spilo_log_dir(pgroot)
    with open(server.datadir / "postgresql.conf", "a") as conf:  # the last setting of a name wins
        conf.write(f"unix_socket_directories = '{server.socket_dir}'\n")
        conf.write("".join(f"{k} = {_literal(str(v))}\n" for k, v in sorted((parameters or {}).items())))
    server.start()
    with _superuser(server) as conn:
        conn.execute(sql.SQL("ALTER ROLE postgres WITH PASSWORD {}").format(passwords["postgres"]))
        conn.execute(sql.SQL("ALTER ROLE standby WITH PASSWORD {}").format(passwords["standby"]))
    return server


_TEMPLATE_LOCK = threading.Lock()


def _template(pg: Path) -> Path:
    """The data directory every new cluster starts from, made once per sandbox state (and PostgreSQL
    major): initdb, Spilo's logging, the replication user, then post_init.sh in `postgres` and `template1`
    (post_init.sh's loop at bootstrap time), the server stopped cleanly."""
    done = pg / f".spilo-template-{server_major()}"
    with _TEMPLATE_LOCK:
        if done.is_dir():
            return done
        work = pg / f".spilo-template-{os.getpid()}-{threading.get_ident()}"
        wipe_volume(work)
        server = PgServer(work / "data", free_port())
        server.init()
        _spilo_log_dir(work)
        with open(server.datadir / "postgresql.conf", "a") as conf:
            conf.write(SPILO_LOGGING)
        server.start()
        try:
            with _superuser(server) as conn:
                conn.execute("CREATE ROLE standby WITH REPLICATION LOGIN")
            for db in ("postgres", "template1"):
                server.psql_file(_post_init_path(), db=db)
        finally:
            server.stop()
        (server.datadir / "postmaster.opts").unlink(missing_ok=True)
        server.datadir.rename(done)
        shutil.rmtree(work, ignore_errors=True)
        return done


def _superuser(server: PgServer) -> psycopg.Connection:
    """A superuser session as Patroni opens one to create or alter a role with a password: neither the
    statement nor its password logged or tracked."""
    conn = psycopg.connect(host=server.socket_dir, port=server.port, user="postgres", dbname="postgres",
                           autocommit=True)
    for setting in _PATRONI_QUIET:
        conn.execute(setting)
    return conn


def md5_password(user: str, password: str) -> str:
    """The operator's default password_encryption is md5 (v1.8.2 pkg/cluster/cluster.go New;
    pkg/util/util.go PGUserPasswordMD5), whatever the server's own setting."""
    return "md5" + hashlib.md5((password + user).encode()).hexdigest()  # noqa: S324 - PostgreSQL's md5 scheme


def create_missing_roles(conn: psycopg.Connection, spec: dict, passwords: dict[str, str]) -> list[str]:
    """syncRoles for the spec's users: create what is missing (pkg/util/users/users.go createUserSQL).

    Existing roles keep their password here: the real operator would ALTER an app user's
    password to its secret's, which heals clients; leaving it makes the sandbox stricter.
    """
    have = {r[0] for r in conn.execute("SELECT rolname FROM pg_roles").fetchall()}
    created = []
    for user, flags in sorted((spec.get("users") or {}).items()):
        if user in have:
            continue
        words = sql.SQL(" ").join(sql.SQL(f.upper()) for f in ["LOGIN", *(flags or [])])
        conn.execute(sql.SQL("CREATE ROLE {} {} ENCRYPTED PASSWORD {}").format(
            sql.Identifier(user), words, sql.Literal(md5_password(user, passwords[user]))))
        created.append(user)
    return created


def sync_databases(conn: psycopg.Connection, spec: dict) -> list[str]:
    """syncDatabases (pkg/cluster/database.go): create missing ones from template1, fix owners."""
    have: dict[str, str] = dict(conn.execute("SELECT datname, pg_get_userbyid(datdba) FROM pg_database").fetchall())
    changed = []
    for db, owner in sorted((spec.get("databases") or {}).items()):
        if db not in have:
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(db), sql.Identifier(owner)))
        elif have[db] != owner:
            conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(db), sql.Identifier(owner)))
        else:
            continue
        changed.append(db)
    return changed


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
