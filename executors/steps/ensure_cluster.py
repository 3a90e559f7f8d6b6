"""ensure-cluster (rollback): re-create the postgresql resource if it is gone and wait for a
Ready leader. Its data is not brought back by this step; the rollback's message says so."""

from __future__ import annotations

from core import pods
from core.model import Step

from ..context import Context
from ._members import fail_on_operator_failure
from .create_cluster import create


def run(step: Step, ctx: Context) -> dict:
    t = step.target
    existed = ctx.kube.get_postgresql(t.namespace, t.name) is not None
    live = create(ctx, step)
    leader = pods.wait_leader(ctx.kube, t.namespace, t.name, ctx.remaining())
    fail_on_operator_failure(ctx, t.namespace, t.name)
    return {"uid": live["metadata"]["uid"], "re_created": not existed, "leader": leader}
