"""create-cluster: re-create the postgresql resource from the saved spec, with N instances."""

from __future__ import annotations

import copy

from ..context import Context
from . import _pods
from .delete_cluster import saved_resource


def wait_running_with_leader(ctx: Context, timeout: int) -> None:
    ctx.kube.wait_postgresql(ctx.ns, ctx.cluster,
                             lambda pg: pg is not None and (pg.get("status") or {}).get("PostgresClusterStatus") == "Running",
                             f"postgresql {ctx.cluster} to be Running", timeout)
    ctx.kube.wait_pods(ctx.ns, _pods.spilo_selector(ctx.cluster), lambda pods: _pods.leader_ready(pods, ctx.cluster),
                       f"a Ready leader {ctx.cluster}-0", timeout)


def run(step: dict, ctx: Context) -> dict:
    live = ctx.kube.get_postgresql(ctx.ns, ctx.cluster)
    if live is None:
        body = copy.deepcopy(saved_resource(ctx))
        body["spec"]["numberOfInstances"] = step["params"]["numberOfInstances"]
        live = ctx.kube.create_postgresql(body)
    ctx.journal.remember("created", ctx.cluster, {"uid": live["metadata"]["uid"]})
    wait_running_with_leader(ctx, step["timeout_seconds"])
    return {"uid": live["metadata"]["uid"]}
