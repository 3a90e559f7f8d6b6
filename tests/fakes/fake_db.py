"""The data behind one fake postgresql cluster: roles with password verifiers, databases with
their owners, tables with their rows, and what psql and pg_dumpall do with them.

Only what a restore touches is modelled, from the SQL a pg_dumpall holds: `\\connect`, DROP and
CREATE DATABASE (and its OWNER), DROP and CREATE ROLE, `ALTER ROLE ... PASSWORD '...'`, CREATE TABLE
and COPY blocks. Rows are kept as the text lines of the COPY blocks, appended as COPY does:
restoring twice without dropping doubles them, and every COPY into a table that already had rows
is logged in `doubled` (a restore never should). Passwords are kept as PostgreSQL keeps them: an md5
verifier ('md5' + md5(password + role)).

A replay fails where a running Spilo cluster refuses, and says so as `psql -f -` does
(`psql:<stdin>:LINE: ERROR:  ...`, LINE ending the statement): Patroni and the exporter hold a
session in every database, so DROP DATABASE fails and the database stays; CREATE of a role or
database that exists fails; the current user and a role owning a database cannot be dropped; CREATE
TABLE of a table that exists fails ("already exists": an application object, a real error); a COPY
into a table that does not exist fails and its rows are lost.

`dump()` writes the cluster as `pg_dumpall -c` would: header, roles with their verifiers, every
database with its tables and rows in COPY blocks, and the completion trailer; replaying it into a
fresh cluster brings the same roles and rows back.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
from dataclasses import dataclass, field

SYSTEM_DATABASES = ("postgres", "template1")
CURRENT_USER = "postgres"  # psql and pg_dumpall run as the superuser in the leader

_CONNECT = re.compile(r'^\\(?:connect|c) (?:-reuse-previous=on )?(?P<target>"[^"]*"|\S+)')
_DROP_DB = re.compile(r"^DROP DATABASE (?:IF EXISTS )?(?P<name>\"[^\"]+\"|[^\s;]+)", re.I)
_CREATE_DB = re.compile(r"^CREATE DATABASE (?P<name>\"[^\"]+\"|[^\s;]+)", re.I)
_DB_OWNER = re.compile(r"^ALTER DATABASE (?P<name>\"[^\"]+\"|[^\s;]+) OWNER TO (?P<owner>\"[^\"]+\"|[^\s;]+);", re.I)
_DROP_ROLE = re.compile(r"^DROP ROLE (?:IF EXISTS )?(?P<name>\"[^\"]+\"|[^\s;]+)", re.I)
_CREATE_ROLE = re.compile(r"^CREATE (?:ROLE|USER) (?P<name>\"[^\"]+\"|[^\s;]+)", re.I)
_PASSWORD = re.compile(r"^ALTER (?:ROLE|USER) (?P<name>\"(?:[^\"]|\"\")+\"|[^\s;]+) .*PASSWORD '(?P<pw>(?:[^']|'')*)'",
                       re.I)
_CREATE_TABLE = re.compile(r"^CREATE TABLE (?P<name>\S+) \(", re.I)
_COPY = re.compile(r"^COPY (?P<name>\S+) (?P<columns>\(.*\) )?FROM stdin;$")
_DATNAMES = re.compile(r"^SELECT datname FROM pg_database WHERE datname IN \((?P<names>.*)\) ORDER BY 1;$", re.I)
_LITERALS = re.compile(r"'(?:[^']|'')*'")
_CONNECT_PRIV = re.compile(r'^(?P<verb>REVOKE|GRANT) CONNECT ON DATABASE (?P<name>"(?:[^"]|"")+"|[^\s;]+) (?:FROM|TO) '
                           r"PUBLIC;$", re.I)
_TERMINATE = re.compile(r"^SELECT count\(pg_terminate_backend\(pid\)\) FROM pg_stat_activity WHERE datname = "
                        r"(?P<name>'(?:[^']|'')*') AND pid <> pg_backend_pid\(\);$", re.I)
_DELETE = re.compile(r"^DELETE FROM (?P<table>[\w.]+);$", re.I)
_SELECT_COLUMN = re.compile(r'^SELECT (?P<column>"[^"]+"|\w+) FROM (?P<schema>"[^"]+"|\w+)\.(?P<table>"[^"]+"|\w+) '
                            r"ORDER BY 1;$", re.I)
_COUNT = re.compile(r"SELECT '(?P<label>(?:[^']|'')*)', count\(\*\) FROM (?:ONLY )?(?P<table>[^\s;]+)", re.I)
# What a standby refuses, and what psql prints for it.
READ_ONLY = "ERROR:  cannot execute {what} in a read-only transaction"
WRITES = ("CREATE ROLE", "ALTER ROLE", "DROP ROLE", "CREATE DATABASE", "DROP DATABASE", "CREATE TABLE", "COPY")
_ROLE_OPTIONS = {
    "postgres": "SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS",
    "standby": "NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN REPLICATION NOBYPASSRLS",
}
_APP_ROLE_OPTIONS = "NOSUPERUSER INHERIT NOCREATEROLE CREATEDB LOGIN NOREPLICATION NOBYPASSRLS"


def verifier(role: str, password: str) -> str:
    return "md5" + hashlib.md5((password + role).encode()).hexdigest()


@functools.lru_cache(maxsize=1024)
def opens(stored: str, role: str, password: str) -> bool:
    """Does this password match the stored verifier: md5, or SCRAM-SHA-256 (RFC 5802, as
    PostgreSQL 15's scram_verify_plain_password checks it; ASCII passwords need no SASLprep)?
    Cached: the same answer for the same three strings, without 4096 rounds of PBKDF2 each time
    a client pod's login is checked again."""
    if not stored.startswith("SCRAM-SHA-256$"):
        return stored == verifier(role, password)
    m = re.fullmatch(r"SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):.+", stored)
    if m is None:
        return False
    iterations, salt, stored_key = m.groups()
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    return base64.b64encode(hashlib.sha256(client_key).digest()).decode() == stored_key


def unquote_literal(text: str) -> str:
    return text[1:-1].replace("''", "'")


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
class Table:
    ddl: str            # the CREATE TABLE statement, as the dump had it
    columns: str        # the COPY column list, "(id, name)"
    rows: list[str] = field(default_factory=list)

    @classmethod
    def seeded(cls, name: str, n: int) -> Table:
        """A table a world fixture gives only a row count for."""
        return cls(f"CREATE TABLE {name} (\n    id text NOT NULL,\n    data text\n);", "(id, data)",
                   [f"{name.rsplit('.', 1)[-1]}-{i}\tseeded row {i}" for i in range(1, n + 1)])


@dataclass
class FakeDatabase:
    cluster_uid: str
    roles: dict[str, str | None] = field(default_factory=dict)  # role -> password verifier
    databases: dict[str, dict[str, Table]] = field(default_factory=dict)  # database -> table -> Table
    owners: dict[str, str] = field(default_factory=dict)  # database -> owning role
    held_sessions: bool = True  # Patroni (postgres) and the exporter (every database) hold a session
    revoked: set[str] = field(default_factory=set)  # databases whose CONNECT was revoked from PUBLIC
    doubled: list[str] = field(default_factory=list)  # COPY into a table that had rows: "db.table (n rows)"

    @classmethod
    def bootstrap(cls, cluster_uid: str, passwords: dict[str, str], app_databases: dict[str, str]) -> FakeDatabase:
        """A new cluster as Spilo and the operator leave it: their roles, empty application databases."""
        db = cls(cluster_uid)
        for role, password in passwords.items():
            db.roles[role] = verifier(role, password)
        for name in SYSTEM_DATABASES:
            db.databases.setdefault(name, {})
            db.owners[name] = CURRENT_USER
        for name, owner in app_databases.items():
            db.databases.setdefault(name, {})
            db.owners[name] = owner
        return db

    def seed(self, database: str, counts: dict[str, int | dict]) -> None:
        """Tables by row count (rows made up), or as {"columns": "(a, b)", "rows": [tab-separated lines]}."""
        for table, n in counts.items():
            if isinstance(n, dict):
                columns = [c.strip() for c in n["columns"].strip("()").split(",")]
                ddl = f"CREATE TABLE {table} (\n" + ",\n".join(f"    {c} text" for c in columns) + "\n);"
                self.databases.setdefault(database, {})[table] = Table(ddl, n["columns"], list(n["rows"]))
            else:
                self.databases.setdefault(database, {})[table] = Table.seeded(table, n)

    # -- looking at it ------------------------------------------------------------------
    def counts(self, database: str) -> dict[str, int]:
        return {t: len(table.rows) for t, table in self.databases.get(database, {}).items()}

    def rows(self, database: str, table: str) -> list[str]:
        return list(self.databases[database][table].rows)

    def summary(self) -> dict:
        """Roles and data as a user would compare them: each table's row count and a digest of its rows."""
        return {"roles": dict(sorted(self.roles.items())),
                "databases": {d: {t: f"{len(tab.rows)} rows, {_digest(tab.rows)}" for t, tab in sorted(ts.items())}
                              for d, ts in sorted(self.databases.items())}}

    # -- what psql does ------------------------------------------------------------------
    def replay(self, sql: str, located: bool = True) -> str:
        """Run a script as `psql -f -` would (going on past errors); return what psql prints on stderr."""
        current, copying, creating = "postgres", None, None
        errors: list[str] = []

        def fail(n: int, message: str, *extra: str) -> None:
            where = f"psql:<stdin>:{n}: " if located else ""
            errors.append(where + message)
            errors.extend(extra)

        for n, line in enumerate(sql.split("\n"), 1):
            if copying is not None:
                if line == "\\.":
                    copying = None
                elif copying != "":  # "": a failed COPY, whose rows are lost
                    self.databases[current][copying].rows.append(line)
                continue
            if creating is not None:
                creating[1].append(line)
                if line.rstrip().endswith(");"):
                    self._create_table(current, creating[0], "\n".join(creating[1]), n, fail)
                    creating = None
                continue
            if m := _CONNECT.match(line):
                current = database_of(m["target"])
            elif m := _COPY.match(line):
                copying = self._copy(current, m["name"], m["columns"] or "", n, fail)
            elif m := _DROP_DB.match(line):
                self._drop_database(current, unquote(m["name"]), n, fail)
            elif m := _CREATE_DB.match(line):
                name = unquote(m["name"])
                if name in self.databases:
                    fail(n, f'ERROR:  database "{name}" already exists')
                else:
                    self.databases[name] = {}
                    self.owners[name] = CURRENT_USER
                    self.revoked.discard(name)
            elif m := _DB_OWNER.match(line):
                if unquote(m["name"]) in self.databases:
                    self.owners[unquote(m["name"])] = unquote(m["owner"])
            elif m := _DROP_ROLE.match(line):
                self._drop_role(unquote(m["name"]), n, fail)
            elif m := _CREATE_ROLE.match(line):
                name = unquote(m["name"])
                if name in self.roles:
                    fail(n, f'ERROR:  role "{name}" already exists')
                else:
                    self.roles[name] = None
            elif m := _PASSWORD.match(line):
                self.set_password(unquote(m["name"]), m["pw"].replace("''", "'"))
            elif m := _CREATE_TABLE.match(line):
                creating = (m["name"], [line])
                if line.rstrip().endswith(");"):
                    self._create_table(current, m["name"], line, n, fail)
                    creating = None
        return "".join(e + "\n" for e in errors)

    def _copy(self, current: str, table: str, columns: str, n: int, fail) -> str:
        tables = self.databases.setdefault(current, {})
        if table not in tables:
            fail(n, f'ERROR:  relation "{table}" does not exist')
            return ""
        if tables[table].rows:
            self.doubled.append(f"{current}.{table} (had {len(tables[table].rows)} rows)")
        if columns:
            tables[table].columns = columns.strip()
        return table

    def _create_table(self, current: str, name: str, ddl: str, n: int, fail) -> None:
        tables = self.databases.setdefault(current, {})
        if name in tables:
            fail(n, f'ERROR:  relation "{name.rsplit(".", 1)[-1]}" already exists')
            return
        tables[name] = Table(ddl, "")

    def _drop_database(self, current: str, name: str, n: int, fail) -> None:
        if name == current:
            fail(n, "ERROR:  cannot drop the currently open database")
        elif name not in self.databases:
            fail(n, f'ERROR:  database "{name}" does not exist')
        elif self.held_sessions:
            fail(n, f'ERROR:  database "{name}" is being accessed by other users',
                 "DETAIL:  There is 1 other session using the database.")
        else:
            del self.databases[name]
            self.owners.pop(name, None)

    def _drop_role(self, name: str, n: int, fail) -> None:
        owned = sorted(d for d, owner in self.owners.items() if owner == name and d in self.databases)
        if name == CURRENT_USER:
            fail(n, "ERROR:  current user cannot be dropped")
        elif name not in self.roles:
            fail(n, f'ERROR:  role "{name}" does not exist')
        elif owned:
            fail(n, f'ERROR:  role "{name}" cannot be dropped because some objects depend on it',
                 f"DETAIL:  owner of database {owned[0]}")
        else:
            del self.roles[name]

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
            lines.append(f"{m['label'].replace(chr(39) * 2, chr(39))}|{len(tables[table].rows)}")
        return "\n".join(lines) + ("\n" if lines else ""), None

    def login(self, role: str, password: str, database: str) -> str | None:
        """None if these credentials open that database over TCP; else psql's error."""
        stored = self.roles.get(role)
        if stored is None or not opens(stored, role, password):
            return f'psql: error: FATAL:  password authentication failed for user "{role}"'
        if database not in self.databases:
            return f'psql: error: FATAL:  database "{database}" does not exist'
        if database in self.revoked and role not in ("postgres", "standby"):  # superusers ignore CONNECT
            return f'psql: error: FATAL:  permission denied for database "{database}"'
        return None

    # -- single statements (psql -v ON_ERROR_STOP=1), as pgrestore's steps send them ------------------
    def statements(self, database: str, sql: str) -> tuple[str, str | None]:
        """Run the statements pgrestore's steps send (one per line) as psql -A -t -v ON_ERROR_STOP=1 does:
        (stdout, the first error or None). Sessions ended by pg_terminate_backend stay away for the rest
        of this script only: the exporter and Patroni come back before the next one."""
        out: list[str] = []
        ended: set[str] = set()
        for n, line in enumerate((s.strip() for s in sql.split("\n")), 1):
            if not line or line == "\\q" or line.upper().startswith("SET "):
                continue
            if m := _DATNAMES.match(line):
                wanted = {unquote_literal(x) for x in _LITERALS.findall(m["names"])}
                out += sorted(d for d in self.databases if d in wanted)
            elif m := _CONNECT_PRIV.match(line):
                name = unquote(m["name"])
                if name not in self.databases:
                    return "", f'psql:<stdin>:{n}: ERROR:  database "{name}" does not exist'
                (self.revoked.add if m["verb"].upper() == "REVOKE" else self.revoked.discard)(name)
            elif m := _TERMINATE.match(line):
                ended.add(unquote_literal(m["name"]))
                out.append("1" if self.held_sessions else "0")
            elif m := _DROP_DB.match(line):
                name = unquote(m["name"])
                if name not in self.databases:
                    continue  # IF EXISTS: a notice
                if self.held_sessions and name not in ended:
                    return "", (f'psql:<stdin>:{n}: ERROR:  database "{name}" is being accessed by other users\n'
                                f"DETAIL:  There is 1 other session using the database.")
                del self.databases[name]
                self.owners.pop(name, None)
                self.revoked.discard(name)
            elif m := _DELETE.match(line):
                tables = self.databases.get(database, {})
                table = m["table"] if "." in m["table"] else f"public.{m['table']}"
                if table not in tables:
                    return "", f'psql:<stdin>:{n}: ERROR:  relation "{m["table"]}" does not exist'
                tables[table].rows.clear()
            elif m := _SELECT_COLUMN.match(line):
                table = f"{unquote(m['schema'])}.{unquote(m['table'])}"
                found = self.databases.get(database, {}).get(table)
                if found is None:
                    return "", f'psql:<stdin>:{n}: ERROR:  relation "{table}" does not exist'
                columns = [c.strip() for c in found.columns.strip("()").split(",")]
                column = unquote(m["column"])
                if column not in columns:
                    return "", f'psql:<stdin>:{n}: ERROR:  column "{column}" does not exist'
                out += sorted(r.split("\t")[columns.index(column)] for r in found.rows)
            else:
                raise AssertionError(f"the fake psql does not know {line[:60]!r}; teach tests/fakes/fake_db.py")
        return "".join(x + "\n" for x in out), None

    # -- what pg_dumpall does --------------------------------------------------------------
    def dump(self, clean: bool = True) -> str:
        """The cluster as `pg_dumpall [-c]` writes it (PostgreSQL 14's layout)."""
        out = ["--", "-- PostgreSQL database cluster dump", "--", "",
               "SET default_transaction_read_only = off;", "", "SET client_encoding = 'UTF8';",
               "SET standard_conforming_strings = on;", ""]
        apps = sorted(d for d in self.databases if d not in SYSTEM_DATABASES)
        if clean:
            out += ["--", "-- Drop databases (except postgres and template1)", "--", ""]
            out += [f"DROP DATABASE {_ident(d)};" for d in apps] + ["", ""]
            out += ["--", "-- Drop roles", "--", ""]
            out += [f"DROP ROLE {_ident(r)};" for r in sorted(self.roles)] + ["", ""]
        out += ["--", "-- Roles", "--", ""]
        for role, stored in sorted(self.roles.items()):
            options = _ROLE_OPTIONS.get(role, _APP_ROLE_OPTIONS)
            password = f" PASSWORD '{stored}'" if stored else ""
            out += [f"CREATE ROLE {_ident(role)};", f"ALTER ROLE {_ident(role)} WITH {options}{password};"]
        out += ["", "", "", "\\connect template1", ""]
        out += self._database_dump("template1", create=False, clean=False)
        for name in ("postgres", *apps):
            if name in self.databases:
                out += self._database_dump(name, create=True, clean=clean and name == "postgres")
        out += ["--", "-- PostgreSQL database cluster dump complete", "--", "", ""]
        return "\n".join(out)

    def _database_dump(self, name: str, create: bool, clean: bool) -> list[str]:
        owner = self.owners.get(name, CURRENT_USER)
        out = ["--", "-- PostgreSQL database dump", "--", "", "-- Dumped from database version 14.5",
               "-- Dumped by pg_dump version 14.5", "", "SET statement_timeout = 0;", "SET lock_timeout = 0;", ""]
        if create:
            if clean:
                out += [f"DROP DATABASE {_ident(name)};"]
            out += ["--", f"-- Name: {name}; Type: DATABASE; Schema: -; Owner: {owner}", "--", "",
                    f"CREATE DATABASE {_ident(name)} WITH TEMPLATE = template0 ENCODING = 'UTF8' "
                    f"LOCALE = 'en_US.utf-8';", "", "", f"ALTER DATABASE {_ident(name)} OWNER TO {_ident(owner)};",
                    "", f"\\connect {_ident(name)}", "", "SET statement_timeout = 0;", ""]
        tables = self.databases[name]
        for table, t in sorted(tables.items()):
            schema, short = table.rsplit(".", 1) if "." in table else ("public", table)
            out += ["--", f"-- Name: {short}; Type: TABLE; Schema: {schema}; Owner: {owner}", "--", "",
                    t.ddl, "", "", f"ALTER TABLE {table} OWNER TO {_ident(owner)};", ""]
        for table, t in sorted(tables.items()):
            schema, short = table.rsplit(".", 1) if "." in table else ("public", table)
            out += ["--", f"-- Data for Name: {short}; Type: TABLE DATA; Schema: {schema}; Owner: {owner}", "--",
                    "", f"COPY {table} {t.columns} FROM stdin;", *t.rows, "\\.", "", ""]
        out += ["--", "-- PostgreSQL database dump complete", "--", ""]
        return out


def _ident(name: str) -> str:
    return name if re.fullmatch(r"[a-z_][a-z0-9_]*", name) else '"' + name.replace('"', '""') + '"'


def _digest(rows: list[str]) -> str:
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()[:12]
