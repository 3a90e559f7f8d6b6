"""create-cluster: re-create the postgresql resource from its recorded spec, with N instances."""

from __future__ import annotations

import copy

from core.model import Step

from ..context import Context
from ._members import wait_ready


def create(ctx: Context, step: Step) -> dict:
    t, p = step.target, step.params
    live = ctx.kube.get_postgresql(t.namespace, t.name)
    if live is None:
        body = copy.deepcopy(p["resource"])
        body["spec"]["numberOfInstances"] = p["numberOfInstances"]
        live = ctx.kube.create_postgresql(body)
    ctx.journal.remember("created", t.name, {"uid": live["metadata"]["uid"]})
    return live


def run(step: Step, ctx: Context) -> dict:
    live = create(ctx, step)
    leader = wait_ready(ctx, step.target.namespace, step.target.name, step.params["pod_selector"],
                        step.params["numberOfInstances"])
    return {"uid": live["metadata"]["uid"], "leader": leader}
