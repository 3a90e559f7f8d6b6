"""scale-workload: set a client's replicas and wait until its pods are gone, or Ready."""

from __future__ import annotations

from ..context import Context, split_address
from . import _pods


def run(step: dict, ctx: Context) -> dict:
    kind, ns, name = split_address(step["target"])
    replicas, wait = step["params"]["replicas"], step["params"]["wait"]
    selector = _pods.selector(ctx.prior(step["target"])["fields"]["selector"])
    ctx.kube.scale(kind, ns, name, replicas)
    if wait == "gone":
        ctx.kube.wait_pods(ns, selector, lambda pods: not _pods.live(pods),
                           f"pods of {kind.lower()} {name} to be gone", step["timeout_seconds"])
    else:
        def all_ready(pods):
            running = _pods.live(pods)
            return len(running) == replicas and all(_pods.ready(p) for p in running)
        ctx.kube.wait_pods(ns, selector, all_ready, f"{replicas} Ready pods of {kind.lower()} {name}",
                           step["timeout_seconds"])
    return {"replicas": replicas}
