"""Reading a cluster's databases (drop-databases, grant-connect)."""

from __future__ import annotations

from pgrestore.adapters.psql import literal

from ..context import Context


def existing(ctx: Context, ns: str, leader: str, names: list[str]) -> list[str]:
    """Which of these databases exist ."""
    if not names:
        return []
    wanted = ", ".join(literal(n) for n in names)
    out = ctx.psql.run(ns, leader, f"SELECT datname FROM pg_database WHERE datname IN ({wanted}) ORDER BY 1;",
                       deadline=ctx.deadline)
    return [line.strip() for line in out.splitlines() if line.strip()]
