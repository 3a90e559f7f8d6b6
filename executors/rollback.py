"""Put back the scale settings the plan recorded: the resource, its instances, the client."""

from __future__ import annotations

import copy

from pgrestore.errors import PgRestoreError

from .context import Context, split_address
from .steps import _pods
from .steps.delete_cluster import saved_resource
from .steps.set_instances import wait_members

TIMEOUT = 180


def _ensure_cluster(ctx: Context) -> str:
    if ctx.kube.get_postgresql(ctx.ns, ctx.cluster) is not None:
        return f"postgresql {ctx.cluster} exists"
    body = copy.deepcopy(saved_resource(ctx))
    body["spec"]["numberOfInstances"] = ctx.instances
    ctx.kube.create_postgresql(body)
    return f"re-created postgresql {ctx.cluster} from the saved spec (empty: restore it again)"


def _set_instances(ctx: Context) -> str:
    ctx.kube.set_instances(ctx.ns, ctx.cluster, ctx.instances)
    wait_members(ctx, ctx.instances, TIMEOUT)
    return f"numberOfInstances of {ctx.cluster} is {ctx.instances}, all members Ready"


def _scale_client(ctx: Context) -> str:
    kind, ns, name = split_address(ctx.client["address"])
    replicas = ctx.client["fields"]["replicas"]
    ctx.kube.scale(kind, ns, name, replicas)
    ctx.kube.wait_workload(kind, ns, name, lambda w: w["spec"].get("replicas") == replicas,
                           f"{kind.lower()} {name} replicas {replicas}", 30)
    ready = [p for p in _pods.live(ctx.kube.list_pods(ns, _pods.selector(ctx.client["fields"]["selector"])))
             if _pods.ready(p)]
    return f"{kind.lower()} {name} scaled back to {replicas} ({len(ready)} Ready now)"


ACTIONS = {"ensure-cluster": _ensure_cluster, "set-instances": _set_instances, "scale-workload": _scale_client}


def rollback(ctx: Context) -> list[str]:
    """Run every rollback action even if one fails; return what could not be put back."""
    failed = []
    for action in ctx.plan["rollback"]:
        ctx.emit({"event": "rollback_started", "kind": action["kind"], "description": action["description"]})
        try:
            detail = ACTIONS[action["kind"]](ctx)
            ctx.journal.add_rollback(action["kind"], "done", detail)
            ctx.emit({"event": "rollback_finished", "kind": action["kind"], "status": "done", "detail": detail})
        except (Exception, KeyboardInterrupt) as e:  # every action gets its chance
            detail = str(e) if isinstance(e, PgRestoreError) else f"{type(e).__name__}: {e}"
            ctx.journal.add_rollback(action["kind"], "failed", detail)
            ctx.emit({"event": "rollback_finished", "kind": action["kind"], "status": "failed", "detail": detail})
            failed.append(f"{action['description']}: {detail}")
    return failed
