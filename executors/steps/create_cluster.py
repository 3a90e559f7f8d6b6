"""create-cluster: re-create the postgresql resource from its recorded spec, with N instances."""

from __future__ import annotations

import copy

from core.model import Step

from ..context import Context
from ._members import wait_created, wait_ready


def create(ctx: Context, step: Step) -> dict:
    t, p = step.target, step.params
    live = ctx.kube.get_postgresql(t.namespace, t.name)
    if live is None:
        body = copy.deepcopy(p["resource"])
        body["spec"]["numberOfInstances"] = p["numberOfInstances"]
        live = ctx.kube.create_postgresql(body)
    # Any cluster here now came after our delete (a crash may have come between create and this line).
    ctx.journal.remember("created", t.name, {"uid": live["metadata"]["uid"]})
    return live


def run(step: Step, ctx: Context) -> dict:
    t = step.target
    live = create(ctx, step)
    wait_created(ctx, t.namespace, t.name, live["metadata"]["uid"])
    leader = wait_ready(ctx, t.namespace, step.params["pod_selector"], step.params["numberOfInstances"], t.name)
    return {"uid": live["metadata"]["uid"], "leader": leader}
