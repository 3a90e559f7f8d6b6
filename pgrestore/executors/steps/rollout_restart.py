"""rollout-restart: like `kubectl rollout restart` then `rollout status`."""

from __future__ import annotations

from pgrestore.contract.model import Step

from ..context import Context


def rolled_out(w: dict) -> bool:
    spec, status = w["spec"], w.get("status") or {}
    if status.get("observedGeneration", 0) < w["metadata"].get("generation", 0):
        return False
    if w.get("kind") == "DaemonSet" or "desiredNumberScheduled" in status:
        want = status.get("desiredNumberScheduled", 0)
        return status.get("updatedNumberScheduled", 0) == want and status.get("numberReady", 0) == want
    want = spec.get("replicas", 1)
    return (status.get("updatedReplicas", 0) == want and status.get("readyReplicas", 0) == want
            and status.get("replicas", 0) == want)


def run(step: Step, ctx: Context) -> dict:
    t = step.target
    ctx.kube.rollout_restart(t.kind, t.namespace, t.name)
    ctx.kube.wait_workload(t.kind, t.namespace, t.name, rolled_out, f"{t.kind.lower()} {t.name} to roll out",
                           ctx.remaining())
    return {}
