"""Can these credentials open that database? The question behind readiness and SyncFailed."""

from __future__ import annotations

import psycopg


def can_login(port: int, user: str, password: str, database: str) -> bool:
    try:
        with psycopg.connect(
            host="127.0.0.1", port=port, user=user, password=password, dbname=database,
            connect_timeout=3,
        ):
            return True
    except psycopg.Error:
        return False
