"""grant-connect: GRANT CONNECT to PUBLIC again on the databases that exist (after an in-place
restore, or in a rollback after a drop that stopped past its REVOKE)."""

from __future__ import annotations

from typing import cast

from pgrestore.adapters.psql import ident
from pgrestore.contract.model import Step
from pgrestore.contract.params import GrantConnectParams
from pgrestore.core import pods

from ..context import Context
from ..support.databases import existing


def run(step: Step, ctx: Context) -> dict:
    t = step.target
    leader = pods.find_leader(ctx.kube, t.namespace, t.name, ctx.deadline)
    found = existing(ctx, t.namespace, leader, cast(GrantConnectParams, step.params)["databases"])
    if found:
        ctx.psql.run(t.namespace, leader, grant_script(found), deadline=ctx.deadline)
    return {"databases": found, "leader": leader}


def grant_script(names: list[str]) -> str:
    """The SQL run (also what `pgrestore show` prints)."""
    return "\n".join(f"GRANT CONNECT ON DATABASE {ident(n)} TO PUBLIC;" for n in names)
