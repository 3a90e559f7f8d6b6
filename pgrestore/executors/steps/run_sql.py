"""run-sql: one statement of the service's, in the Patroni leader, in a given database, as a given
role. psql runs as postgres over the pod's socket (no password to handle) and SET ROLE makes the
statement run with that role's rights and ownership, as the runbook's `psql -U hmsdsuser` does."""

from __future__ import annotations

from typing import cast

from pgrestore.adapters.psql import ident
from pgrestore.contract.model import Step
from pgrestore.contract.params import RunSqlParams
from pgrestore.core import pods

from ..context import Context


def run(step: Step, ctx: Context) -> dict:
    t, p = step.target, cast(RunSqlParams, step.params)
    leader = pods.find_leader(ctx.kube, t.namespace, t.name, ctx.deadline)
    ctx.psql.run(t.namespace, leader, script(p["user"], p["statement"]), db=p["database"], deadline=ctx.deadline)
    return {"leader": leader, "database": p["database"], "user": p["user"]}


def script(user: str, statement: str) -> str:
    """The SQL run in the step's database (also what `pgrestore show` prints)."""
    return f"SET ROLE {ident(user)};\n{statement.strip().rstrip(';')};"
