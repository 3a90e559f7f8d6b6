"""set-instances: set numberOfInstances and wait for every member Ready and a leader."""

from __future__ import annotations

from core.model import Step

from ..context import Context
from ._members import wait_ready


def run(step: Step, ctx: Context) -> dict:
    t, n = step.target, step.params["numberOfInstances"]
    ctx.kube.set_instances(t.namespace, t.name, n)
    leader = wait_ready(ctx, t.namespace, t.name, step.params["pod_selector"], n)
    return {"numberOfInstances": n, "leader": leader}
