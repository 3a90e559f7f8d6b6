"""restart-leader: delete pod 0 so Postgres restarts with the fixed credentials."""

from __future__ import annotations

from ..context import Context
from . import _pods
from .create_cluster import wait_running_with_leader


def run(step: dict, ctx: Context) -> dict:
    name = f"{ctx.cluster}-0"
    before = [p for p in ctx.kube.list_pods(ctx.ns, _pods.spilo_selector(ctx.cluster)) if p["metadata"]["name"] == name]
    old_uid = before[0]["metadata"]["uid"] if before else None
    if before:
        ctx.kube.delete_pod(ctx.ns, name)

    def restarted(pods):
        return any(p["metadata"]["name"] == name and p["metadata"]["uid"] != old_uid and _pods.ready(p)
                   for p in _pods.live(pods))
    ctx.kube.wait_pods(ctx.ns, _pods.spilo_selector(ctx.cluster), restarted, f"a new Ready {name}",
                       step["timeout_seconds"])
    wait_running_with_leader(ctx, step["timeout_seconds"])
    return {"old_uid": old_uid}
