"""set-instances: put numberOfInstances back and wait for every member and Running."""

from __future__ import annotations

from ..context import Context
from . import _pods


def wait_members(ctx: Context, n: int, timeout: int) -> None:
    # Pods first: right after the patch the status can still read Running from before.
    def all_members(pods):
        members = _pods.live(pods)
        return len(members) == n and all(_pods.ready(p) for p in members)
    ctx.kube.wait_pods(ctx.ns, _pods.spilo_selector(ctx.cluster), all_members, f"{n} Ready members of {ctx.cluster}",
                       timeout)
    ctx.kube.wait_postgresql(ctx.ns, ctx.cluster,
                             lambda pg: pg is not None and pg["spec"].get("numberOfInstances") == n
                             and (pg.get("status") or {}).get("PostgresClusterStatus") == "Running",
                             f"postgresql {ctx.cluster} to be Running", timeout)


def run(step: dict, ctx: Context) -> dict:
    n = step["params"]["numberOfInstances"]
    ctx.kube.set_instances(ctx.ns, ctx.cluster, n)
    wait_members(ctx, n, step["timeout_seconds"])
    return {"numberOfInstances": n}
