"""One real PostgreSQL server per database cluster; its data directory is the "volume"."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .errors import SandboxError

# Spilo's pg_hba (spilo 2.1-p7, postgres-appliance/scripts/configure_spilo.py): local-socket
# connections are trusted (that is how `kubectl exec … psql -U postgres` works without a
# password) and TCP asks for a password with `md5`. `md5` accepts both md5- and SCRAM-stored
# passwords, so a CSM <= 1.4 dump's md5 role passwords log in, as they do on Spilo.
_HBA = """local all all trust
local replication standby trust
host all all 127.0.0.1/32 md5
host replication standby 127.0.0.1/32 md5
"""


def pg_bin(name: str) -> str:
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    found = shutil.which(name) or (candidates[0] if candidates else None)
    if not found:
        raise SandboxError(f"{name} not found; install Debian's postgresql package")
    return found


def server_major() -> str:
    """The major version of the PostgreSQL the sandbox runs (`postgres --version`: "postgres (PostgreSQL) 15.8")."""
    out = subprocess.run([pg_bin("postgres"), "--version"], capture_output=True, text=True, check=True).stdout
    return out.split()[-1].split(".")[0]


def _as_postgres(argv: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root.
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


@dataclass(frozen=True)
class PgServer:
    datadir: Path
    port: int

    @property
    def socket_dir(self) -> str:
        return str(self.datadir)

    @property
    def log(self) -> Path:
        return self.datadir / "server.log"  # inside: only `postgres` may write there

    def env(self) -> dict[str, str]:
        """libpq environment for a superuser session over the local socket."""
        return {"PGHOST": self.socket_dir, "PGPORT": str(self.port), "PGUSER": "postgres"}

    def _run(self, argv: list[str]) -> None:
        res = subprocess.run(_as_postgres(argv), capture_output=True, text=True)
        if res.returncode != 0:
            raise SandboxError(f"{Path(argv[0]).name} failed for {self.datadir}: {res.stderr.strip()}")

    def init(self) -> None:
        self.datadir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.datadir, "postgres", "postgres")
        self.datadir.chmod(0o700)
        self._run([pg_bin("initdb"), "-D", str(self.datadir), "-U", "postgres",
                   "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"])
        (self.datadir / "pg_hba.conf").write_text(_HBA)
        with open(self.datadir / "postgresql.conf", "a") as conf:
            conf.write(
                "\n# pgrestore sandbox\nshared_buffers = 32MB\nfsync = off\n"
                "synchronous_commit = off\nfull_page_writes = off\nmax_connections = 60\n"
                "password_encryption = 'scram-sha-256'\nlisten_addresses = '127.0.0.1'\n"
                # Spilo preloads it (configure_spilo.py); the others it lists are not packaged here.
                "shared_preload_libraries = 'pg_stat_statements'\n"
                f"unix_socket_directories = '{self.socket_dir}'\nmax_wal_size = 1GB\n"
            )

    def start(self) -> None:
        if self.running():
            return
        self._run([pg_bin("pg_ctl"), "-D", str(self.datadir), "-l", str(self.log), "-w",
                   "-t", "60", "-o", f"-p {self.port}", "start"])

    def stop(self) -> None:
        if self.running():
            self._run([pg_bin("pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop"])

    def restart(self) -> None:
        self.stop()
        self.start()

    def running(self) -> bool:
        return self.pid() is not None

    def pid(self) -> int | None:
        pidfile = self.datadir / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if Path(f"/proc/{pid}").exists() else None

    def wipe(self) -> None:
        """The data volume goes away with its cluster."""
        self.stop()
        shutil.rmtree(self.datadir, ignore_errors=True)

    def psql_file(self, path: Path, db: str = "postgres", variables: dict | None = None) -> None:
        """Run an SQL file as the superuser; stops at the first error."""
        argv = [pg_bin("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, "-f", str(path)]
        for k, v in (variables or {}).items():
            argv += ["-v", f"{k}={v}"]
        res = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, **self.env()})
        if res.returncode != 0:
            raise SandboxError(f"{Path(path).name} failed in {db} on port {self.port}: {res.stderr.strip()}")

    def psql(self, sql: str, db: str = "postgres") -> str:
        res = subprocess.run(
            [pg_bin("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql],
            capture_output=True, text=True, env={**os.environ, **self.env()},
        )
        if res.returncode != 0:
            raise SandboxError(f"psql on port {self.port} failed: {res.stderr.strip()}")
        return res.stdout


def scratch_server() -> PgServer:
    """A fresh, running server outside any cluster (tests, benchmarks); discard() removes it."""
    import tempfile

    from .procs import free_port
    root = Path(tempfile.mkdtemp(prefix="pgrestore-scratch-", dir="/var/tmp"))
    root.chmod(0o755)  # the `postgres` user must reach its data directory
    server = PgServer(root / "data", free_port())
    server.init()
    server.start()
    return server


def scratch_copy(template: PgServer) -> PgServer:
    """A running copy of a stopped scratch server's data directory: a fresh cluster in the state the
    template was left in, without initdb's second (tests that each need a pristine cluster)."""
    import tempfile

    from .procs import free_port
    root = Path(tempfile.mkdtemp(prefix="pgrestore-scratch-", dir="/var/tmp"))
    root.chmod(0o755)
    server = PgServer(root / "data", free_port())
    subprocess.run(["cp", "-a", str(template.datadir), str(server.datadir)], check=True)
    with open(server.datadir / "postgresql.conf", "a") as conf:  # the last setting wins
        conf.write(f"unix_socket_directories = '{server.socket_dir}'\n")
    server.start()
    return server


def discard(server: PgServer) -> None:
    server.wipe()
    shutil.rmtree(server.datadir.parent, ignore_errors=True)
