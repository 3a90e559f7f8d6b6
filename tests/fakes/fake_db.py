"""The data behind one fake postgresql cluster: roles with password verifiers, databases with
tables and row counts, and what psql does to them.

Only what a restore touches is modelled, from the SQL a pg_dumpall holds: `\\connect`, DROP and
CREATE DATABASE, CREATE ROLE, `ALTER ROLE ... PASSWORD '...'`, CREATE TABLE and COPY blocks
(rows are counted, and appended as COPY does: restoring twice without dropping doubles them).
Passwords are kept as PostgreSQL keeps them: an md5 verifier ('md5' + md5(password + role)).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

SYSTEM_DATABASES = ("postgres", "template1")

_CONNECT = re.compile(r'^\\(?:connect|c) (?:-reuse-previous=on )?(?P<target>"[^"]*"|\S+)')
_DROP_DB = re.compile(r"^DROP DATABASE (?:IF EXISTS )?(?P<name>\"[^\"]+\"|[^\s;]+)", re.I)
_CREATE_DB = re.compile(r"^CREATE DATABASE (?P<name>\"[^\"]+\"|[^\s;]+)", re.I)
_CREATE_ROLE = re.compile(r"^CREATE (?:ROLE|USER) (?P<name>\"[^\"]+\"|[^\s;]+)", re.I)
_PASSWORD = re.compile(r"^ALTER (?:ROLE|USER) (?P<name>\"(?:[^\"]|\"\")+\"|[^\s;]+) .*PASSWORD '(?P<pw>(?:[^']|'')*)'",
                       re.I)
_CREATE_TABLE = re.compile(r"^CREATE TABLE (?P<name>\S+) \(", re.I)
_COPY = re.compile(r"^COPY (?P<name>\S+) .*FROM stdin;$")
_COUNT = re.compile(r"SELECT '(?P<label>(?:[^']|'')*)', count\(\*\) FROM (?:ONLY )?(?P<table>[^\s;]+)", re.I)
# What an ALTER a standby refuses, and what psql prints for it.
READ_ONLY = "ERROR:  cannot execute {what} in a read-only transaction"


def verifier(role: str, password: str) -> str:
    return "md5" + hashlib.md5((password + role).encode()).hexdigest()


def unquote(name: str) -> str:
    if len(name) >= 2 and name[0] == name[-1] == '"':
        return name[1:-1].replace('""', '"')
    return name


def database_of(target: str) -> str:
    """A psql connection target as a database name: `name`, `"name"` or `"dbname='name'"`."""
    target = unquote(target)
    m = re.search(r"dbname='((?:[^']|\\')*)'", target) or re.search(r"dbname=(\S+)", target)
    return m.group(1) if m else target


@dataclass
class FakeDatabase:
    cluster_uid: str
    roles: dict[str, str | None] = field(default_factory=dict)  # role -> password verifier
    databases: dict[str, dict[str, int]] = field(default_factory=dict)  # database -> table -> rows

    @classmethod
    def bootstrap(cls, cluster_uid: str, passwords: dict[str, str], app_databases: dict[str, str]) -> FakeDatabase:
        """A new cluster as Spilo and the operator leave it: their roles, empty application databases."""
        db = cls(cluster_uid)
        for role, password in passwords.items():
            db.roles[role] = verifier(role, password)
        for name in (*SYSTEM_DATABASES, *app_databases):
            db.databases.setdefault(name, {})
        return db

    # -- what psql does ------------------------------------------------------------------
    def replay(self, sql: str) -> None:
        """Apply a dump (or any script psql reads on stdin), statement by line, as psql would."""
        current, copying = "postgres", None
        for line in sql.split("\n"):
            if copying is not None:
                if line == "\\.":
                    copying = None
                else:
                    table = self.databases.setdefault(current, {})
                    table[copying] = table.get(copying, 0) + 1
                continue
            if m := _CONNECT.match(line):
                current = database_of(m["target"])
            elif m := _COPY.match(line):
                copying = m["name"]
                self.databases.setdefault(current, {}).setdefault(copying, 0)
            elif m := _DROP_DB.match(line):
                name = unquote(m["name"])
                if name != current:  # "cannot drop the currently open database"
                    self.databases.pop(name, None)
            elif m := _CREATE_DB.match(line):
                self.databases.setdefault(unquote(m["name"]), {})
            elif m := _CREATE_ROLE.match(line):
                self.roles.setdefault(unquote(m["name"]), None)
            elif m := _PASSWORD.match(line):
                role, password = unquote(m["name"]), m["pw"].replace("''", "'")
                self.set_password(role, password)
            elif m := _CREATE_TABLE.match(line):
                self.databases.setdefault(current, {}).setdefault(m["name"], 0)

    def set_password(self, role: str, password: str) -> None:
        """ALTER ROLE ... PASSWORD: a verifier as given (a dump's) or computed from plain text."""
        is_verifier = password.startswith("md5") and len(password) == 35 or password.startswith("SCRAM-SHA-256$")
        self.roles[role] = password if is_verifier else verifier(role, password)

    def row_counts(self, database: str, sql: str) -> tuple[str, str | None]:
        """Answer `SELECT 'label', count(*) FROM table UNION ALL ...` as psql -A -t does: (stdout, error)."""
        tables = self.databases.get(database)
        if tables is None:
            return "", f'FATAL:  database "{database}" does not exist'
        lines = []
        for m in _COUNT.finditer(sql):
            table = m["table"]
            if table not in tables:
                return "", f'ERROR:  relation "{table}" does not exist'
            lines.append(f"{m['label'].replace(chr(39) * 2, chr(39))}|{tables[table]}")
        return "\n".join(lines) + ("\n" if lines else ""), None

    def login(self, role: str, password: str, database: str) -> str | None:
        """None if these credentials open that database over TCP; else psql's error."""
        stored = self.roles.get(role)
        if stored is None or stored != verifier(role, password):
            return f'psql: error: FATAL:  password authentication failed for user "{role}"'
        if database not in self.databases:
            return f'psql: error: FATAL:  database "{database}" does not exist'
        return None

    def summary(self) -> dict:
        return {"roles": dict(sorted(self.roles.items())),
                "databases": {d: dict(sorted(t.items())) for d, t in sorted(self.databases.items())}}
