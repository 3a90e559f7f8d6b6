"""The psql adapter: psql inside a Spilo pod, over the Kubernetes exec stream.

SQL always goes in on stdin, never in argv, so passwords do not show up in process
lists or API audit logs; error text is scrubbed of any secret it might echo.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from pgrestore.adapters.kube import Kube
from pgrestore.errors import PsqlError

# A pg_dumpall replayed into a freshly created cluster always trips over what the
# operator and Spilo already made. These, and only these, are expected.
BENIGN = [
    re.compile(p) for p in (
        r'ERROR:  role "[^"]+" already exists',
        r"ERROR:  current user cannot be dropped",
        r'ERROR:  database "[^"]+" already exists',
        r'ERROR:  schema "[^"]+" already exists',
        r'ERROR:  extension "[^"]+" already exists',
    )
]
_ERROR_LINE = re.compile(r"\b(ERROR|FATAL|PANIC):  ")
_QUIT = b"\n\\q\n"


@dataclass(frozen=True)
class RestoreOutcome:
    returncode: int | None
    benign: list[str]
    unexpected: list[str]

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.unexpected


def classify(stderr: str) -> tuple[list[str], list[str]]:
    benign, unexpected = [], []
    for line in stderr.splitlines():
        if not _ERROR_LINE.search(line):
            continue
        (benign if any(p.search(line) for p in BENIGN) else unexpected).append(line.strip())
    return benign, unexpected


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Hide secret values, also as they appear inside SQL string literals."""
    for s in secrets:
        for form in {s, s.replace("'", "''")}:
            if form:
                text = text.replace(form, "***")
    return text


class Psql:
    def __init__(self, kube: Kube, container: str = "postgres"):
        self.kube, self.container = kube, container

    def restore(self, ns: str, pod: str, dump: Iterable[bytes]) -> RestoreOutcome:
        """Replay a pg_dumpall as the superuser; \\q ends psql even where stdin cannot close."""
        res = self.kube.exec(ns, pod, self.container, ["psql", "-U", "postgres", "-d", "postgres", "-q", "-X"],
                             stdin=dump, stdin_end=_QUIT)
        benign, unexpected = classify(res.stderr)
        return RestoreOutcome(res.returncode, benign, unexpected)

    def run(self, ns: str, pod: str, sql: str, db: str = "postgres", secrets: Iterable[str] = ()) -> str:
        """Run SQL with ON_ERROR_STOP; unaligned, tuples-only output."""
        res = self.kube.exec(ns, pod, self.container,
                             ["psql", "-U", "postgres", "-d", db, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"],
                             stdin=[sql.encode()], stdin_end=_QUIT)
        if res.returncode != 0:
            stderr = scrub(res.stderr, secrets)  # before cutting: a cut could split a secret
            first = next((l for l in stderr.splitlines() if _ERROR_LINE.search(l)), stderr.strip()[:200])
            raise PsqlError(f"psql in {ns}/{pod} (database {db}) failed: {first}")
        return res.stdout

    def row_counts(self, ns: str, pod: str, db: str, tables: Iterable[str]) -> dict[str, int]:
        tables = sorted(tables)
        if not tables:
            return {}
        # Names come as pg_dump wrote them in COPY lines: already qualified and quoted.
        sql = " UNION ALL ".join(f"SELECT {literal(t)}, count(*) FROM {t}" for t in tables)
        out = self.run(ns, pod, sql + ";", db=db)
        counts = {}
        for line in out.splitlines():
            if "|" in line:
                name, n = line.rsplit("|", 1)
                counts[name] = int(n)
        return counts


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
