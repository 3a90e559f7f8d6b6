"""SCRAM-SHA-256 verifiers computed locally (core/scram.py) against real PostgreSQL 15: the server
stores what we send as is, a client logs in with the password, and for the same salt our verifier
is the one PostgreSQL computes itself from the plain password."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator

import pytest

from pgrestore.adapters.psql import ident, literal
from pgrestore.core import scram
from pgrestore_sandbox.login import can_login
from pgrestore_sandbox.pgserver import PgServer, discard, scratch_server

# What PostgreSQL 15 stored for CREATE ROLE ... PASSWORD 'pencil' (password_encryption scram-sha-256);
# the salt is the server's random one, read back from pg_authid.
PENCIL = ("SCRAM-SHA-256$4096:dcOZh+uVT/8aaaw4pmFsig==$i09azGQesoJCgTA2EMfwQNC6HTUFAzWnJtPKJbrYhgA=:"
          "FOb0WUOazLyM9Z+FIRDYTRYP3meoD1m5sDMU9k2mFTE=")
# ASCII (the operator's passwords), a quote, and non-ASCII that SASLprep maps (soft hyphen to
# nothing, ROMAN NUMERAL NINE to "IX" by NFKC), keeps, or rejects (a control character: used raw).
PASSWORDS = ["Zq8sKx1pT0bYw", "it's", "pass\u00adword\u2168", "h\u00e9llo w\u00f6rld", "bell\u0007\u00e9"]


@pytest.fixture(scope="module")
def server() -> Iterator[PgServer]:
    s = scratch_server()
    try:
        yield s
    finally:
        discard(s)


def _stored(server: PgServer, role: str) -> str:
    return server.psql(f"SELECT rolpassword FROM pg_authid WHERE rolname = {literal(role)}").strip()


def _salt_and_iterations(stored: str) -> tuple[bytes, int]:
    m = re.fullmatch(r"SCRAM-SHA-256\$(\d+):([^$]+)\$.+", stored)
    assert m, stored
    return base64.b64decode(m[2]), int(m[1])


def test_the_verifier_of_a_recorded_postgresql_vector():
    salt, iterations = _salt_and_iterations(PENCIL)
    assert scram.verifier("pencil", salt, iterations) == PENCIL


@pytest.mark.parametrize("n,password", list(enumerate(PASSWORDS)))
def test_our_verifier_is_the_one_postgresql_computes(server, n, password):
    role = f"server_hashed_{n}"
    server.psql(f"SET password_encryption = 'scram-sha-256'; CREATE ROLE {ident(role)} LOGIN "
                f"PASSWORD {literal(password)}")
    theirs = _stored(server, role)
    assert scram.verifier(password, *_salt_and_iterations(theirs)) == theirs


@pytest.mark.parametrize("n,password", list(enumerate(PASSWORDS)))
def test_a_role_given_our_verifier_logs_in_with_the_password(server, n, password):
    role, ours = f"client_hashed_{n}", scram.verifier(password)
    server.psql(f"CREATE ROLE {ident(role)} LOGIN PASSWORD {literal(ours)}")
    assert _stored(server, role) == ours, "PostgreSQL re-hashed the verifier instead of keeping it"
    assert can_login(server.port, role, password, "postgres")
    assert not can_login(server.port, role, password + "x", "postgres")


def test_every_verifier_has_a_fresh_salt():
    first, second = scram.verifier("same"), scram.verifier("same")
    assert first != second and len(_salt_and_iterations(first)[0]) == 16
    assert first.startswith("SCRAM-SHA-256$4096:")
