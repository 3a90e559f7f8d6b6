"""The restore-error classifier against real PostgreSQL 15, and as pure code on recorded output.

Integration tests: a source cluster with Spilo's bootstrap (sandbox/data/spilo_post_init.sql) and an
application database is dumped with pg_dumpall (-c, and without: the CSM >= 1.5 logical format), then
replayed, exactly as pgrestore does (`psql -U postgres -d postgres -q -X`, dump on stdin), into a target
that Spilo and the operator have set up, with and without sessions held open in `postgres` (Patroni) and
in the application database (the metrics exporter). The same bytes go through DumpIndex.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from pgrestore.core.restore_errors import DumpIndex, Verdict, distinct, judge
from pgrestore_sandbox.pgserver import PgServer, discard, pg_bin, scratch_copy, scratch_server

SPILO_SQL = Path(__file__).resolve().parents[2] / "sandbox" / "pgrestore_sandbox" / "data" / "spilo_post_init.sql"
RESTRICT = re.compile(rb"^\\(?:un)?restrict .*\n", re.M)  # CSM's PG12 pg_dumpall never wrote these
QUIT = b"\n\\q\n"  # what pgrestore's psql adapter sends after the dump
PARENTS, CHILDREN = 40, 120

# ---------------------------------------------------------------------------------------------------
# Real clusters


def _psql(server: PgServer, sql: str, db: str = "postgres") -> str:
    return server.psql(sql, db=db)


def _spilo_bootstrap(server: PgServer) -> None:
    for db in ("postgres", "template1"):
        subprocess.run([pg_bin("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, "-f", str(SPILO_SQL)],
                       check=True, capture_output=True, env={**os.environ, **server.env()})


def _operator(server: PgServer) -> None:
    """What the operator makes: its roles (admin comes from Spilo) and the app database from template1."""
    _psql(server, "CREATE ROLE standby WITH REPLICATION LOGIN PASSWORD 'standby-pw'")
    _psql(server, "CREATE ROLE service_account WITH LOGIN PASSWORD 'service-pw'")
    _psql(server, "CREATE DATABASE service_db OWNER service_account")


def _app_data(server: PgServer) -> None:
    _psql(server, f"""
        SET ROLE service_account;
        CREATE TABLE parent (id integer PRIMARY KEY, name text NOT NULL UNIQUE);
        CREATE TABLE child (id serial PRIMARY KEY, parent_id integer NOT NULL REFERENCES parent (id), note text);
        CREATE INDEX child_note ON child (note);
        INSERT INTO parent SELECT g, 'parent ' || g FROM generate_series(1, {PARENTS}) g;
        INSERT INTO child (parent_id, note)
            SELECT 1 + g % {PARENTS}, 'note ' || g FROM generate_series(1, {CHILDREN}) g;
    """, db="service_db")


@pytest.fixture(scope="module")
def dumps() -> dict[str, bytes]:
    source = scratch_server()
    try:
        _spilo_bootstrap(source)
        _operator(source)
        _app_data(source)
        env = {**os.environ, **source.env()}
        out = {}
        for fmt, args in (("clean", ["-c"]), ("logical", [])):
            res = subprocess.run([pg_bin("pg_dumpall"), *args], check=True, capture_output=True, env=env)
            out[fmt] = RESTRICT.sub(b"", res.stdout)
        return out
    finally:
        discard(source)


@pytest.fixture(scope="module")
def set_up_cluster() -> Iterator[PgServer]:
    """A stopped cluster as Spilo and the operator leave it; each test restores into a copy."""
    server = scratch_server()
    try:
        _spilo_bootstrap(server)
        _operator(server)
        server.stop()
        yield server
    finally:
        discard(server)


@pytest.fixture
def target(set_up_cluster: PgServer) -> Iterator[PgServer]:
    server = scratch_copy(set_up_cluster)
    try:
        yield server
    finally:
        discard(server)


def _replay(server: PgServer, dump: bytes, sessions: bool, located: bool = False,
            chunk: int = 65536) -> tuple[Verdict, int]:
    """Replay as pgrestore does, with Patroni's and the exporter's sessions held open if asked."""
    psycopg = pytest.importorskip("psycopg")
    index = DumpIndex()
    stream = dump + QUIT
    for i in range(0, len(stream), chunk):
        index.feed(stream[i:i + chunk])
    index.close()
    argv = [pg_bin("psql"), "-U", "postgres", "-d", "postgres", "-q", "-X", *(["-f", "-"] if located else [])]
    with ExitStack() as held:
        if sessions:
            for db in ("postgres", "service_db"):
                held.enter_context(psycopg.connect(host=server.socket_dir, port=server.port, user="postgres",
                                                   dbname=db, autocommit=True))
        res = subprocess.run(argv, input=stream, capture_output=True, env={**os.environ, **server.env()},
                             timeout=120)
    return judge(res.stderr.decode(), index), res.returncode


def _rows(server: PgServer) -> tuple[int, int]:
    out = _psql(server, "SELECT (SELECT count(*) FROM parent), (SELECT count(*) FROM child)", db="service_db")
    parents, children = out.strip().split("|")
    return int(parents), int(children)


def _only(verdict: Verdict, text: str) -> list[str]:
    return [line for line in verdict.unexpected if text in line]


@pytest.mark.parametrize("fmt", ["clean", "logical"])
@pytest.mark.parametrize("sessions", [False, True], ids=["no-sessions", "sessions"])
def test_good_backup_restores_with_only_benign_errors(dumps, target, fmt, sessions):
    # clean + sessions takes ~10 s: PostgreSQL waits 5 s for other sessions before it refuses
    # DROP DATABASE, for postgres and for service_db, as it does on a real Spilo pod.
    verdict, rc = _replay(target, dumps[fmt], sessions)
    assert rc == 0
    assert _rows(target) == (PARENTS, CHILDREN)
    assert verdict.unexpected == [], "\n".join(f.describe() for f in verdict.findings if not f.benign)
    assert not verdict.located
    assert verdict.benign  # Spilo's objects and the operator's roles are always met
    if fmt == "logical" or sessions:
        assert 'ERROR:  server "pglog" already exists' in verdict.benign
        assert any("get_table_bloat_approx" in line for line in verdict.benign)
    if fmt == "clean":
        assert 'ERROR:  role "admin" cannot be dropped because some objects depend on it' in verdict.benign
        assert "ERROR:  current user cannot be dropped" in verdict.benign
    if fmt == "logical" or sessions:  # the same Spilo objects in postgres and service_db
        assert len(distinct(verdict.benign)) < len(verdict.benign)
    if fmt == "clean" and sessions:
        assert 'ERROR:  database "postgres" is being accessed by other users' in verdict.benign
        assert 'ERROR:  database "service_db" is being accessed by other users' in verdict.benign
        assert 'ERROR:  role "service_account" cannot be dropped because some objects depend on it' in verdict.benign


@pytest.mark.parametrize("fmt", ["clean", "logical"])
def test_with_psql_reading_a_file_every_error_is_placed_exactly(dumps, target, fmt):
    # `psql -f -` reads the same stdin but prefixes each message with psql:<stdin>:LINE:
    # (Sessions only with the logical dump: PostgreSQL waits 5 s before refusing to drop a database in use.)
    verdict, rc = _replay(target, dumps[fmt], sessions=fmt == "logical", located=True, chunk=997)
    assert rc == 0
    assert _rows(target) == (PARENTS, CHILDREN)
    assert verdict.located
    assert verdict.unexpected == [], "\n".join(f.describe() for f in verdict.findings if not f.benign)
    assert all(f.placed and f.line.startswith("psql:<stdin>:") for f in verdict.findings)
    assert all(f.reason.startswith("Spilo's") for f in verdict.findings if f.database == "service_db")
    if fmt == "logical":
        assert any(f.database == "service_db" for f in verdict.findings)


def _break(dump: bytes, old: bytes, new: bytes) -> bytes:
    assert dump.count(old) == 1, old
    return dump.replace(old, new)


BAD = {
    "uncreatable-table": (b"CREATE TABLE public.parent (\n",
                          b"CREATE TABLE public.parent (\n    extra public.no_such_type,\n",
                          'type "public.no_such_type" does not exist'),
    "malformed-copy-row": (b"COPY public.child (id, parent_id, note) FROM stdin;\n",
                           b"COPY public.child (id, parent_id, note) FROM stdin;\nnot-a-number\t1\tbad\n",
                           'invalid input syntax for type integer: "not-a-number"'),
    "duplicate-key": (b"COPY public.parent (id, name) FROM stdin;\n",
                      b"COPY public.parent (id, name) FROM stdin;\n1\tparent 1 again\n",
                      'could not create unique index "parent_pkey"'),
}


@pytest.mark.parametrize("fmt", ["clean", "logical"])
@pytest.mark.parametrize("case", list(BAD))
def test_bad_backup_is_unexpected(dumps, target, fmt, case):
    old, new, error = BAD[case]
    verdict, _ = _replay(target, _break(dumps[fmt], old, new), sessions=fmt == "logical")
    assert _only(verdict, error), verdict.unexpected
    # Spilo's objects and the roles are still recognised as benign around it.
    assert any("already exists" in line for line in verdict.benign)
    if case == "duplicate-key":  # the FK then has no unique key to point at
        assert _only(verdict, 'there is no unique constraint matching given keys for referenced table "parent"')


@pytest.mark.parametrize("case", list(BAD))
def test_bad_backup_is_placed_in_the_app_database_with_psql_f(dumps, target, case):
    old, new, error = BAD[case]
    verdict, _ = _replay(target, _break(dumps["clean"], old, new), sessions=False, located=True)
    bad = [f for f in verdict.findings if error in f.line]
    assert len(bad) == 1 and not bad[0].benign
    assert bad[0].database == "service_db"
    assert bad[0].entry in ("TABLE public.parent", "TABLE DATA public.child", "CONSTRAINT public.parent parent_pkey")


def test_restoring_into_an_app_database_that_kept_its_tables_is_unexpected(dumps, target):
    # The logical dump restores into the operator's service_db, which here is not empty: the app's own
    # "already exists" and the duplicate rows are not Spilo's business.
    _psql(target, "SET ROLE service_account; CREATE TABLE parent (id integer PRIMARY KEY, name text UNIQUE);"
                  "INSERT INTO parent VALUES (1, 'left over')", db="service_db")
    verdict, _ = _replay(target, dumps["logical"], sessions=True)
    assert 'ERROR:  relation "parent" already exists' in verdict.unexpected
    assert _only(verdict, 'duplicate key value violates unique constraint "parent_pkey"')


# ---------------------------------------------------------------------------------------------------
# Pure: recorded psql output and hand-made dumps

DUMP = b"""--
-- PostgreSQL database cluster dump
--

SET default_transaction_read_only = off;

DROP DATABASE service_db;

DROP ROLE admin;
DROP ROLE postgres;
DROP ROLE service_account;

CREATE ROLE admin;
ALTER ROLE admin WITH NOSUPERUSER INHERIT NOCREATEROLE CREATEDB NOLOGIN NOREPLICATION NOBYPASSRLS;
CREATE ROLE postgres;
CREATE ROLE service_account;
ALTER ROLE service_account WITH LOGIN;

\\connect template1

--
-- Name: metric_helpers; Type: SCHEMA; Schema: -; Owner: postgres
--

CREATE SCHEMA metric_helpers;

DROP DATABASE postgres;
--
-- Name: postgres; Type: DATABASE; Schema: -; Owner: postgres
--

CREATE DATABASE postgres WITH TEMPLATE = template0 ENCODING = 'UTF8';

\\connect postgres

--
-- Name: get_table_bloat_approx(); Type: FUNCTION; Schema: metric_helpers; Owner: postgres
--

CREATE FUNCTION metric_helpers.get_table_bloat_approx() RETURNS SETOF record
    LANGUAGE sql
    AS $_$
\\connect evil
-- Name: parent; Type: TABLE; Schema: public; Owner: x
SELECT 1; SELECT ';'
$_$;

--
-- Name: table_bloat; Type: VIEW; Schema: metric_helpers; Owner: postgres
--

CREATE VIEW metric_helpers.table_bloat AS
 SELECT 'it''s \\connect x' AS a, E'\\' \\connect' AS b;

--
-- PostgreSQL database dump complete
--

--
-- Name: service_db; Type: DATABASE; Schema: -; Owner: service_account
--

CREATE DATABASE service_db WITH TEMPLATE = template0 ENCODING = 'UTF8';

\\connect -reuse-previous=on "dbname='service_db'"

--
-- Name: parent; Type: TABLE; Schema: public; Owner: service_account
--

CREATE TABLE public.parent (
    id integer NOT NULL
);

--
-- Name: table_bloat; Type: VIEW; Schema: public; Owner: service_account
--

CREATE VIEW public.table_bloat AS SELECT 1;

--
-- Data for Name: parent; Type: TABLE DATA; Schema: public; Owner: service_account
--

COPY public.parent (id) FROM stdin;
1
-- Name: fake; Type: TABLE; Schema: public; Owner: x
\\connect fake
\\.

--
-- Name: parent parent_pkey; Type: CONSTRAINT; Schema: public; Owner: service_account
--

ALTER TABLE ONLY public.parent
    ADD CONSTRAINT parent_pkey PRIMARY KEY (id);

--
-- PostgreSQL database cluster dump complete
--

"""


def _line_of(needle: bytes, nth: int = 1) -> int:
    pos = -1
    for _ in range(nth):
        pos = DUMP.index(needle, pos + 1)
    return DUMP.count(b"\n", 0, pos) + 1


def _index(data: bytes = DUMP, chunk: int | None = None) -> DumpIndex:
    index = DumpIndex()
    if chunk is None:
        index.feed(data)
    else:
        for i in range(0, len(data), chunk):
            index.feed(data[i:i + chunk])
    index.close()
    return index


def _summary(index: DumpIndex) -> list[tuple[str, str, str, str | None, int, int]]:
    return [(e.kind, e.type, e.name, e.database, e.first, e.last) for e in index.entries]


def test_index_follows_connects_tocs_and_statements():
    index = _index()
    assert index.lines == DUMP.count(b"\n")
    assert index.connects == [(_line_of(b"\\connect template1"), "template1"),
                              (_line_of(b"\\connect postgres"), "postgres"),
                              (_line_of(b"\\connect -reuse"), "service_db")]
    kinds = [(e.type, e.name, e.database) for e in index.entries]
    assert kinds == [
        ("DROP DATABASE", "service_db", None),
        ("DROP ROLE", "admin", None), ("DROP ROLE", "postgres", None), ("DROP ROLE", "service_account", None),
        ("CREATE ROLE", "admin", None), ("CREATE ROLE", "postgres", None), ("CREATE ROLE", "service_account", None),
        ("SCHEMA", "metric_helpers", "template1"),
        ("DROP DATABASE", "postgres", "template1"),
        ("DATABASE", "postgres", "template1"), ("CREATE DATABASE", "postgres", "template1"),
        ("FUNCTION", "get_table_bloat_approx()", "postgres"),
        ("VIEW", "table_bloat", "postgres"),
        ("DATABASE", "service_db", "postgres"), ("CREATE DATABASE", "service_db", "postgres"),
        ("TABLE", "parent", "service_db"),
        ("VIEW", "table_bloat", "service_db"),
        ("TABLE DATA", "parent", "service_db"),
        ("CONSTRAINT", "parent parent_pkey", "service_db"),
    ]


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 64, 4096])
def test_index_does_not_depend_on_chunk_boundaries(chunk):
    whole = _index()
    assert _summary(_index(chunk=chunk)) == _summary(whole)
    assert _index(chunk=chunk).lines == whole.lines
    assert _index(chunk=chunk).connects == whole.connects


def test_index_skips_long_copy_data_without_holding_it():
    rows = b"".join(b"%d\t%s\n" % (i, b"x" * 5000) for i in range(2000))
    dump = b"\\connect db\nCOPY public.t (id, v) FROM stdin;\n" + rows + b"\\.\nDROP ROLE r;\n"
    index = DumpIndex()
    for i in range(0, len(dump), 65536):
        index.feed(dump[i:i + 65536])
        assert len(index._pending) < 8  # noqa: SLF001 - COPY rows are not buffered
    index.close()
    assert index.lines == dump.count(b"\n")
    assert [(e.type, e.name, e.first) for e in index.entries] == [("DROP ROLE", "r", index.lines)]


def test_wide_copy_statement_and_comments_inside_statements():
    cols = ", ".join(f"column_number_{i}" for i in range(80))  # far longer than the recorded head
    dump = (f"COPY public.wide ({cols}) FROM stdin;\n1\n\\connect not_a_db\n\\.\n"
            "DROP -- a comment\n ROLE /* another\n one */ \"Mixed\"\"Name\";\n"
            "SELECT $q$ $x$ ; \\connect nope $q$, U&'d\\0061t' ; DROP ROLE r2;\n").encode()
    index = _index(dump)
    assert index.connects == []
    assert [(e.type, e.name, e.first, e.last) for e in index.entries] == [
        ("DROP ROLE", 'Mixed"Name', 5, 7), ("DROP ROLE", "r2", 8, 8)]


def test_connect_target_forms():
    dump = (b'\\connect "MyDb"\nSELECT 1;\n\\connect -reuse-previous=on "dbname=\'my-db\'"\n'
            b"\\c plain\n\\connect -reuse-previous=on \"dbname='it\\'s'\"\n")
    assert [db for _, db in _index(dump).connects] == ["MyDb", "my-db", "plain", "it's"]


def _err(needle: bytes, text: str, nth: int = 1) -> str:
    return f"psql:<stdin>:{_line_of(needle, nth)}: ERROR:  {text}"


def test_located_errors_map_to_objects():
    stderr = "\n".join([
        _err(b"DROP DATABASE service_db", 'database "service_db" is being accessed by other users'),
        "DETAIL:  There is 1 other session using the database.",
        _err(b"DROP ROLE admin", 'role "admin" cannot be dropped because some objects depend on it'),
        "DETAIL:  privileges for function pg_switch_wal()",
        "privileges for schema metric_helpers",
        "7 objects in database template1",
        _err(b"DROP ROLE postgres", "current user cannot be dropped"),
        _err(b"CREATE ROLE admin", 'role "admin" already exists'),
        _err(b"CREATE SCHEMA metric_helpers", 'schema "metric_helpers" already exists'),
        _err(b"DROP DATABASE postgres", 'database "postgres" is being accessed by other users'),
        _err(b"CREATE DATABASE postgres", 'database "postgres" already exists'),
        _err(b"$_$;", 'function "get_table_bloat_approx" already exists with same argument types'),
        _err(b"AS b;", 'relation "table_bloat" already exists'),
        _err(b"CREATE DATABASE service_db", 'database "service_db" already exists'),
        # The application's own objects: never benign.
        _err(b"CREATE VIEW public.table_bloat", 'relation "table_bloat" already exists'),
        _err(b");\n", 'relation "parent" already exists'),
        _err(b"\\.\n", 'duplicate key value violates unique constraint "parent_pkey"'),
        "DETAIL:  Key (id)=(1) already exists.",
        "CONTEXT:  COPY parent, line 1",
        _err(b"PRIMARY KEY (id);", 'multiple primary keys for table "parent" are not allowed'),
        _err(b"ALTER ROLE service_account", 'role "service_account" does not exist'),
    ]) + "\n"
    verdict = judge(stderr, _index())
    assert verdict.located
    assert [f.reason for f in verdict.findings if f.benign] == [
        "database in use, kept", "role in use, kept", "restoring user kept", "role exists already",
        "Spilo's schema exists already", "database in use, kept", "database exists already",
        "Spilo's function exists already", "Spilo's view exists already", "database exists already",
    ]
    assert [(f.database, f.entry) for f in verdict.findings if not f.benign] == [
        ("service_db", "VIEW public.table_bloat"),
        ("service_db", "TABLE public.parent"),
        ("service_db", "TABLE DATA public.parent"),
        ("service_db", "CONSTRAINT public.parent parent_pkey"),
        (None, None),  # ALTER ROLE is no role fight pgrestore expects
    ]
    dup = next(f for f in verdict.findings if "duplicate key" in f.line)
    assert dup.detail == ("DETAIL:  Key (id)=(1) already exists.", "CONTEXT:  COPY parent, line 1")
    assert len(verdict.benign) == 10 and len(verdict.unexpected) == 5


def test_located_benign_message_on_the_wrong_line_is_unexpected():
    # "already exists" for a Spilo name, but psql says it came from the app database's table.
    stderr = _err(b");\n", 'relation "table_bloat" already exists') + "\n"
    assert judge(stderr, _index()).unexpected == [stderr.strip()]
    # A role fight outside the globals phase, and a DROP DATABASE message on a CREATE.
    stderr = _err(b"CREATE DATABASE service_db", 'database "service_db" is being accessed by other users')
    assert not judge(stderr, _index()).benign


# Recorded from psql 15 reading a -c dump on stdin (no -f), sessions held in postgres and service_db.
RECORDED = """\
ERROR:  database "service_db" is being accessed by other users
DETAIL:  There is 1 other session using the database.
ERROR:  role "admin" cannot be dropped because some objects depend on it
DETAIL:  privileges for function pg_switch_wal()
privileges for view pg_stat_activity
privileges for schema metric_helpers
19 objects in database template1
19 objects in database service_db
ERROR:  current user cannot be dropped
ERROR:  role "service_account" cannot be dropped because some objects depend on it
DETAIL:  owner of database service_db
ERROR:  role "admin" already exists
ERROR:  role "postgres" already exists
ERROR:  role "service_account" already exists
ERROR:  schema "metric_helpers" already exists
ERROR:  database "postgres" is being accessed by other users
DETAIL:  There is 1 other session using the database.
ERROR:  database "postgres" already exists
ERROR:  function "get_table_bloat_approx" already exists with same argument types
ERROR:  relation "table_bloat" already exists
ERROR:  database "service_db" already exists
"""


def test_unlocated_errors_are_aligned_in_order():
    verdict = judge(RECORDED, _index())
    assert not verdict.located
    # All placed; only table_bloat stays unexpected: service_db has its own public.table_bloat later on.
    assert verdict.unexpected == ['ERROR:  relation "table_bloat" already exists']
    assert [f.entry for f in verdict.findings] == [
        "DROP DATABASE service_db", "DROP ROLE admin", "DROP ROLE postgres", "DROP ROLE service_account",
        "CREATE ROLE admin", "CREATE ROLE postgres", "CREATE ROLE service_account", "SCHEMA metric_helpers",
        "DROP DATABASE postgres", "CREATE DATABASE postgres", "FUNCTION metric_helpers.get_table_bloat_approx()",
        "VIEW metric_helpers.table_bloat", "CREATE DATABASE service_db",
    ]


def test_unlocated_app_errors_are_unexpected():
    stderr = RECORDED + "\n".join([
        'ERROR:  relation "parent" already exists',
        'ERROR:  relation "table_bloat" already exists',  # only public.table_bloat in service_db is left
        'ERROR:  invalid input syntax for type integer: "x"',
        'CONTEXT:  COPY parent, line 1, column id: "x"',
        'ERROR:  type "public.no_such_type" does not exist',
        "LINE 3:     extra public.no_such_type,",
        "                  ^",
        'ERROR:  role "admin" already exists',  # CREATE ROLE admin was used up already
    ]) + "\n"
    verdict = judge(stderr, _index())
    assert len(verdict.benign) == 12
    assert [(f.entry, f.reason) for f in verdict.findings if not f.benign][1:] == [
        ("TABLE public.parent", "unexpected error"),
        ("VIEW public.table_bloat", "unexpected error"),
        ("TABLE DATA public.parent", "unexpected error"),
        (None, "error not placed in the dump"),
        (None, "error not placed in the dump"),
    ]


def test_unlocated_spilo_name_shared_with_a_later_app_object_is_unexpected():
    # public.table_bloat in service_db could have raised it as well; only psql -f - would tell.
    stderr = 'ERROR:  relation "table_bloat" already exists\n'
    verdict = judge(stderr, _index())
    assert verdict.unexpected == [stderr.strip()]
    assert "-f -" in verdict.findings[0].reason
    located = _err(b"AS b;", 'relation "table_bloat" already exists')
    assert judge(located, _index()).benign == [located]


def test_second_error_for_a_used_statement_is_not_absorbed():
    stderr = "ERROR:  current user cannot be dropped\nERROR:  current user cannot be dropped\n"
    verdict = judge(stderr, _index())
    assert len(verdict.benign) == 1 and verdict.unexpected == ["ERROR:  current user cannot be dropped"]


def test_psql_own_lines_fatal_and_unknown_output_are_unexpected_notices_ignored():
    stderr = (
        'ERROR:  role "admin" cannot be dropped because some objects depend on it\n'
        "DETAIL:  privileges for schema metric_helpers\n"
        "invalid command \\.\n"
        "NOTICE:  database \"x\" does not exist, skipping\n"
        "WARNING:  no privileges were granted for \"x\"\n"
        "FATAL:  terminating connection due to administrator command\n"
        "server closed the connection unexpectedly\n"
        "something else entirely\n"
    )
    verdict = judge(stderr, _index())
    assert verdict.benign == ['ERROR:  role "admin" cannot be dropped because some objects depend on it']
    assert verdict.unexpected == ["invalid command \\.", "FATAL:  terminating connection due to administrator command",
                                  "server closed the connection unexpectedly", "something else entirely"]
    located = "psql:<stdin>:2901: error: invalid command \\.\n"
    assert judge(located, _index()).unexpected == [located.strip()]


def test_empty_stderr_is_ok():
    verdict = judge("", _index())
    assert verdict.ok and verdict.findings == []


def test_create_database_racing_the_operators_sync_is_benign_and_only_there():
    """The operator's Sync re-creates a dropped spec database while the dump creates it (in-place restores)."""
    race = 'duplicate key value violates unique constraint "pg_database_datname_index"'
    stderr = "\n".join([
        _err(b"CREATE DATABASE service_db", race),
        "DETAIL:  Key (datname)=(service_db) already exists.",
        _err(b"\\.\n", 'duplicate key value violates unique constraint "parent_pkey"'),
    ]) + "\n"
    verdict = judge(stderr, _index())
    first = verdict.findings[0]
    assert (first.benign, first.reason) == (True, "database created meanwhile by the operator's Sync")
    assert [f.entry for f in verdict.findings if not f.benign] == ["TABLE DATA public.parent"]


# ---------------------------------------------------------------------------------------------------
# Row counts of tables with unusual names (issue 12, finding 10a)

def _psql_bytes(server: PgServer, sql: bytes, db: str) -> str:
    """As pgrestore/adapters/psql.py runs SQL: on stdin, no client_encoding asked for (so the database's own)."""
    res = subprocess.run([pg_bin("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", db], input=sql,
                         capture_output=True, env={**os.environ, **server.env()})
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    return res.stdout.decode(errors="replace")


def test_row_counts_of_tables_with_spaces_quotes_and_non_utf8_names_match_the_restored_counts():
    from pgrestore.adapters.psql import literal
    from pgrestore.core.dumps import RowCounter
    source = scratch_server()
    try:
        _psql(source, "CREATE DATABASE app")
        _psql(source, "CREATE DATABASE lat ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0")
        _psql(source, "CREATE DATABASE raw ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0")
        _psql(source, 'CREATE TABLE "my table" (id int, "odd ""col""" text); '
                      'INSERT INTO "my table" SELECT g, \'x\' FROM generate_series(1, 7) g; '
                      'CREATE SCHEMA "we""ird"; CREATE TABLE "we""ird"."a""b" (id int); '
                      'INSERT INTO "we""ird"."a""b" SELECT generate_series(1, 3)', db="app")
        for db in ("lat", "raw"):  # é as one LATIN1 byte; in SQL_ASCII just a byte
            _psql_bytes(source, b'CREATE TABLE "caf\xe9" (id int); INSERT INTO "caf\xe9" SELECT generate_series(1, 5);',
                        db)
        env = {**os.environ, **source.env()}
        dump = subprocess.run([pg_bin("pg_dumpall")], check=True, capture_output=True, env=env).stdout
        counter = RowCounter()
        for i in range(0, len(dump), 97):  # chunks that split names and COPY headers
            counter.feed(dump[i:i + 97])
        rows = counter.rows
        assert rows["app"] == {'public."my table"': 7, '"we""ird"."a""b"': 3}
        assert rows["lat"] == {'public.U&"caf\\+0000E9"': 5}
        assert "raw" not in rows  # a SQL_ASCII name's bytes above 127 name nothing a query can send
        for db, tables in rows.items():  # restore-dump's query (pgrestore/adapters/psql.py row_counts), sent as UTF-8
            sql = " UNION ALL ".join(f"SELECT {literal(t)}, count(*) FROM ONLY {t}" for t in sorted(tables))
            out = _psql_bytes(source, (sql + ";").encode(), db)
            live = {line.rsplit("|", 1)[0]: int(line.rsplit("|", 1)[1]) for line in out.splitlines() if "|" in line}
            assert live == tables, db
    finally:
        discard(source)


def test_a_copy_header_is_read_as_postgresql_reads_it():
    from pgrestore.core.restore_errors import parse_copy
    h = parse_copy('COPY "we""ird"."my table" (id, "odd ""col""", Name) FROM stdin;')
    assert h is not None
    assert (h.schema, h.table, h.columns) == ('we"ird', "my table", ("id", 'odd "col"', "name"))
    assert h.sql_name() == '"we""ird"."my table"'
    assert parse_copy("COPY public.system (id, schema_version) FROM stdin;").qualified == "public.system"
    assert parse_copy('COPY public."unterminated (id) FROM stdin;') is None
