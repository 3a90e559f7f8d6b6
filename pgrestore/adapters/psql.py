"""The psql adapter: psql inside a Spilo pod, over the Kubernetes exec stream.

SQL and passwords always go in on stdin, never in argv, so they do not show up in
process lists or API audit logs; error text is scrubbed of any secret it might echo.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from pgrestore.adapters.kube import ExecResult, Kube
from pgrestore.errors import PsqlError

_ERROR_LINE = re.compile(r"\b(ERROR|FATAL|PANIC):  ")
_QUIT = b"\n\\q\n"
# Logs in over TCP as a client does, the password read from stdin (never argv).
_LOGIN = 'IFS= read -r PGPASSWORD; export PGPASSWORD; exec psql -h 127.0.0.1 -U "$1" -d "$2" -X -At -c "SELECT 1"'


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Hide secret values, also as they appear inside SQL string literals."""
    for s in secrets:
        for form in {s, s.replace("'", "''")}:
            if form:
                text = text.replace(form, "***")
    return text


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Psql:
    def __init__(self, kube: Kube, container: str = "postgres"):
        self.kube, self.container = kube, container

    def restore(self, ns: str, pod: str, sql: Iterable[bytes], deadline: float | None,
                on_sent: Callable[[int], None] | None = None) -> ExecResult:
        """Replay a pg_dumpall as the superuser; \\q ends psql even where stdin cannot close.
        The caller judges stderr (core/restore_errors.py): psql goes on past errors. `-f -` reads
        stdin as a script, so each error carries the dump line it came from (psql:<stdin>:N:).
        on_sent: the bytes of SQL of each piece sent (progress)."""
        return self.kube.exec(ns, pod, self.container,
                              ["psql", "-U", "postgres", "-d", "postgres", "-q", "-X", "-f", "-"],
                              stdin=sql, stdin_end=_QUIT, deadline=deadline, on_stdin_sent=on_sent)

    def run(self, ns: str, pod: str, sql: str, db: str = "postgres", secrets: Iterable[str] = (),
            deadline: float | None = None) -> str:
        """Run SQL with ON_ERROR_STOP; unaligned, tuples-only output."""
        res = self.kube.exec(ns, pod, self.container,
                             ["psql", "-U", "postgres", "-d", db, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"],
                             stdin=[sql.encode()], stdin_end=_QUIT, deadline=deadline)
        if res.returncode != 0:
            stderr = scrub(res.stderr, secrets)  # before cutting: a cut could split a secret
            first = next((line for line in stderr.splitlines() if _ERROR_LINE.search(line)), stderr.strip()[:200])
            raise PsqlError(f"psql in {ns}/{pod} (database {db}) failed: {first}")
        return res.stdout

    def row_counts(self, ns: str, pod: str, db: str, tables: Iterable[str], deadline: float | None = None
                   ) -> dict[str, int]:
        names = sorted(tables)
        if not names:
            return {}
        # Names come as pg_dump wrote them in COPY lines: already qualified and quoted. ONLY, as
        # pg_dump copies a table without its children (Spilo's postgres_log has file_fdw children).
        sql = " UNION ALL ".join(f"SELECT {literal(t)}, count(*) FROM ONLY {t}" for t in names)
        out = self.run(ns, pod, sql + ";", db=db, deadline=deadline)
        counts = {}
        for line in out.splitlines():
            if "|" in line:
                name, n = line.rsplit("|", 1)
                counts[name] = int(n)
        return counts

    def can_login(self, ns: str, pod: str, user: str, password: str, db: str, deadline: float | None = None) -> bool:
        """Do these credentials open that database, over TCP with a password, as a client's would?"""
        res = self.kube.exec(ns, pod, self.container, ["bash", "-c", _LOGIN, "login", user, db],
                             stdin=[password.encode() + b"\n"], deadline=deadline)
        return res.returncode == 0 and res.stdout.strip() == "1"
