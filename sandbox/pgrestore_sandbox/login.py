"""Can these credentials open that database? The question behind readiness and SyncFailed."""

from __future__ import annotations

import psycopg

# Errors that a retry cannot fix (the real operator only retries network errors:
# postgres-operator v1.8.2 pkg/cluster/database.go initDbConnWithName).
_REFUSALS = ("password authentication failed", "no pg_hba.conf entry", "does not exist")


def connect(port: int, user: str, password: str, database: str) -> psycopg.Connection:
    """A TCP login with a password, as clients and the operator make it."""
    return psycopg.connect(host="127.0.0.1", port=port, user=user, password=password, dbname=database,
                           connect_timeout=3, autocommit=True)


def refused(error: psycopg.Error) -> bool:
    """The server answered and said no (as opposed to: not reachable right now)."""
    return any(text in str(error) for text in _REFUSALS)


def can_login(port: int, user: str, password: str, database: str) -> bool:
    try:
        with connect(port, user, password, database):
            return True
    except psycopg.Error:
        return False
