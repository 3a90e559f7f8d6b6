"""rollout-restart: like `kubectl rollout restart` then `rollout status`."""

from __future__ import annotations

from ..context import Context, split_address


def rolled_out(d: dict) -> bool:
    spec, status = d["spec"], d.get("status") or {}
    want = spec.get("replicas", 1)
    return (status.get("observedGeneration", 0) >= d["metadata"].get("generation", 0)
            and status.get("updatedReplicas", 0) == want and status.get("readyReplicas", 0) == want
            and status.get("replicas", 0) == want)


def run(step: dict, ctx: Context) -> dict:
    kind, ns, name = split_address(step["target"])
    ctx.kube.rollout_restart(kind, ns, name)
    ctx.kube.wait_workload(kind, ns, name, rolled_out, f"{kind.lower()} {name} to roll out", step["timeout_seconds"])
    return {}
