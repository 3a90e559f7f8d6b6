"""set-instances: set numberOfInstances and wait for every member Ready and a leader."""

from __future__ import annotations

from typing import cast

from pgrestore.contract.model import Step
from pgrestore.contract.params import SetInstancesParams

from ..context import Context
from ..support.members import operator_status, wait_ready


def run(step: Step, ctx: Context) -> dict:
    t, p = step.target, cast(SetInstancesParams, step.params)
    n = p["numberOfInstances"]
    ctx.kube.set_instances(t.namespace, t.name, n)
    leader = wait_ready(ctx, t.namespace, selector=p["pod_selector"], n=n, cluster=t.name)
    return {"numberOfInstances": n, "leader": leader, "operator_status": operator_status(ctx, t.namespace, t.name)}
