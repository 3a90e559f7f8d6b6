"""scale-workload: set a workload's replicas and wait until its pods are gone, or Ready."""

from __future__ import annotations

from typing import cast

from pgrestore.contract.model import Step
from pgrestore.contract.params import ScaleWorkloadParams
from pgrestore.core import pods

from ..context import Context


def run(step: Step, ctx: Context) -> dict:
    t, p = step.target, cast(ScaleWorkloadParams, step.params)
    replicas, wait, selector = p["replicas"], p["wait"], p["pod_selector"]
    ctx.kube.scale(t.kind, t.namespace, t.name, replicas)
    what = f"{t.kind.lower()} {t.name}"
    observed: dict = {"replicas": replicas}
    if wait == "gone":
        if t.kind == "StatefulSet" and replicas == 0:
            deleted = _delete_unready(ctx, step)
            if deleted:
                observed["deleted_unready"] = deleted
        ctx.kube.wait_pods(t.namespace, selector, lambda ps: not pods.live(ps), f"pods of {what} to be gone",
                           ctx.remaining())
    elif wait == "ready":
        ctx.kube.wait_pods(t.namespace, selector, lambda ps: pods.all_ready(ps, replicas),
                           f"{replicas} Ready pods of {what}", ctx.remaining())
    else:
        ctx.kube.wait_workload(t.kind, t.namespace, t.name, lambda w: w["spec"].get("replicas") == replicas,
                               f"{what} replicas {replicas}", ctx.remaining())
    return observed


def _delete_unready(ctx: Context, step: Step) -> list[str]:
    """A StatefulSet scaled to 0 whose pods are not Ready: with podManagementPolicy OrderedReady (the
    default) the controller removes pods from the highest ordinal down and blocks on one that is not
    Running and Ready unless it is the lowest such pod (Kubernetes v1.20
    pkg/controller/statefulset/stateful_set_control.go: "waiting for Pod ... to be Running and Ready
    prior to scale down"), so a client whose pods all fail on a deleted database never goes. Those
    pods are deleted here, as an operator would by hand; at 0 replicas the controller makes no new
    ones. Ready pods are left to the controller."""
    t, selector = step.target, cast(ScaleWorkloadParams, step.params)["pod_selector"]
    stuck = [p for p in pods.live(ctx.kube.list_pods(t.namespace, selector)) if not pods.ready(p)]
    for p in stuck:
        ctx.kube.delete_pod(t.namespace, pods.name(p))
    return sorted(pods.name(p) for p in stuck)
