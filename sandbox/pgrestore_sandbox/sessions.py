"""Sessions a real Spilo pod always has open, so `DROP DATABASE` meets them as on CSM.

- Patroni keeps one superuser connection to database `postgres` (Patroni 2.1.4
  patroni/postgresql/config.py local_connect_kwargs: the unix socket, dbname `postgres`,
  fallback_application_name 'Patroni').
- CSM's postgres_exporter sidecar (cray-postgres-operator values.yaml:
  PG_EXPORTER_AUTO_DISCOVER_DATABASES=true) keeps one idle connection in every database
  that is not a template; like lib/pq it sets no application_name.
Both come back after a server restart and the exporter finds new databases; the sandbox
checks every 2 s, a little sooner than Patroni's 10 s loop or a Prometheus scrape, so a
`pg_terminate_backend` followed by `DROP DATABASE` must be quick or fail, as on CSM.
Switched off with `sandbox up --no-held-sessions`.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import psycopg

from . import registry, settings
from .coordination import ClusterLocks
from .paths import StateDir

log = logging.getLogger("sandbox.sessions")
CHECK_EVERY_SECONDS = 2.0
PATRONI, EXPORTER = "Patroni", ""


class HeldSessions:
    def __init__(self, state: StateDir, locks: ClusterLocks):
        self.state, self.locks = state, locks
        self._held: dict[tuple[str, str, str], psycopg.Connection] = {}  # (cluster, who, database)

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(CHECK_EVERY_SECONDS):
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 - keep holding what can be held
                log.exception("held sessions pass failed")
        self._close(lambda _: True)

    def refresh(self) -> None:
        entries = registry.load(self.state.clusters)
        if not settings.load(self.state).held_sessions:
            self._close(lambda _: True)
            return
        self._close(lambda k: k[0] not in entries)
        for key, entry in entries.items():
            if entry.get("deleting") or self.locks.restarting(key):
                continue
            patroni = self._hold(key, entry, PATRONI, "postgres")
            if patroni is None:
                continue
            try:
                databases = {r[0] for r in patroni.execute(
                    "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate").fetchall()}
            except psycopg.Error:
                continue
            self._close(lambda k, key=key, dbs=databases: k[0] == key and k[1] == EXPORTER and k[2] not in dbs)
            for db in sorted(databases):
                self._hold(key, entry, EXPORTER, db)

    def _hold(self, key: str, entry: dict, who: str, db: str) -> psycopg.Connection | None:
        held = self._held.get((key, who, db))
        if held is not None:
            try:
                held.execute("SELECT 1")  # also what notices a restart's dropped connection
                return held
            except psycopg.Error:
                held.close()
                del self._held[(key, who, db)]
        options = "-c statement_timeout=2000" if who == PATRONI else ""  # as Patroni sets it
        try:
            conn = psycopg.connect(host=str(Path(entry["datadir"])), port=entry["port"], user="postgres",
                                   dbname=db, application_name=who, options=options, connect_timeout=2,
                                   autocommit=True)
        except psycopg.Error:
            return None  # starting, restarting or just dropped; next pass
        self._held[(key, who, db)] = conn
        return conn

    def _close(self, which) -> None:
        for k in [k for k in self._held if which(k)]:
            self._held.pop(k).close()
