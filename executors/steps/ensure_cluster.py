"""ensure-cluster (rollback): leave a cluster in a state its own secrets can run.

- The planned cluster still there (the failure came before the delete): left alone.
- Gone: re-created from the recorded spec.
- The one this apply created, but the restore into it did not finish (params
  `unless_done`): deleted and re-created empty. A half-restored cluster holds the dump's
  role passwords but the operator's new secrets, so its replicas could never clone and
  its clients never log in (postgres-operator v1.8.2 only sets postgres/standby passwords
  at bootstrap).

Its data is not brought back by this step; the rollback's message says so.
"""

from __future__ import annotations

from core import pods
from core.model import Step

from ..context import Context
from ._members import wait_created
from .create_cluster import create
from .delete_cluster import wait_gone


def _half_restored(ctx: Context, step: Step, live: dict) -> bool:
    ours = (ctx.journal.saved("created", step.target.name) or {}).get("uid")
    unfinished = any(ctx.journal.status_of(i) != "done" for i in step.params["unless_done"])
    return live["metadata"]["uid"] == ours and unfinished


def run(step: Step, ctx: Context) -> dict:
    t = step.target
    live = ctx.kube.get_postgresql(t.namespace, t.name)
    action = "kept"
    if live is not None and _half_restored(ctx, step, live):
        ctx.kube.delete_postgresql(t.namespace, t.name)
        wait_gone(ctx, t.namespace, t.name, step.params["pod_selector"], step.params["secrets"])
        live, action = None, "re-created empty (the restore into it had not finished)"
    elif live is None:
        action = "re-created empty"
    if live is None:
        live = create(ctx, step)
    if action != "kept":
        wait_created(ctx, t.namespace, t.name, live["metadata"]["uid"])
    leader = pods.wait_leader(ctx.kube, t.namespace, t.name, ctx.remaining())
    return {"uid": live["metadata"]["uid"], "action": action, "leader": leader}
