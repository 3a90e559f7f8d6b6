"""scale-workload: set a workload's replicas and wait until its pods are gone, or Ready."""

from __future__ import annotations

from core import pods
from core.model import Step

from ..context import Context


def run(step: Step, ctx: Context) -> dict:
    t, p = step.target, step.params
    replicas, wait, selector = p["replicas"], p["wait"], p["pod_selector"]
    ctx.kube.scale(t.kind, t.namespace, t.name, replicas)
    what = f"{t.kind.lower()} {t.name}"
    if wait == "gone":
        ctx.kube.wait_pods(t.namespace, selector, lambda ps: not pods.live(ps), f"pods of {what} to be gone",
                           ctx.remaining())
    elif wait == "ready":
        ctx.kube.wait_pods(t.namespace, selector, lambda ps: pods.all_ready(ps, replicas),
                           f"{replicas} Ready pods of {what}", ctx.remaining())
    else:
        ctx.kube.wait_workload(t.kind, t.namespace, t.name, lambda w: w["spec"].get("replicas") == replicas,
                               f"{what} replicas {replicas}", ctx.remaining())
    return {"replicas": replicas}
