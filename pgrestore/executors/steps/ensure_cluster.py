"""ensure-cluster (rollback): a cluster for the rollback to put the data back into.

- The planned cluster still there (the failure came before the delete): left alone.
- Gone: re-created empty from the recorded spec.
- The one this apply created: re-created empty when the safety dump goes back into it
  next (`replace_ours`), or else when the restore into it did not finish (`unless_done`).
  A half-restored cluster holds the dump's role passwords but the operator's new secrets,
  so its replicas could never clone and its clients never log in (postgres-operator
  v1.8.2 only sets postgres/standby passwords at bootstrap).

`recreated` in what it observed tells the next rollback steps whether to restore the data.
"""

from __future__ import annotations

from typing import cast

from pgrestore.contract.model import Step
from pgrestore.contract.params import EnsureClusterParams
from pgrestore.core import pods
from pgrestore.errors import StepFailed

from ..context import Context
from ..support.cluster_gone import wait_gone
from ..support.members import wait_created
from ..support.new_cluster import create, ours, suspend_again


def _replace(ctx: Context, step: Step, p: EnsureClusterParams, live: dict) -> bool:
    """Replace the cluster this apply made (by its annotation, so also when the answer to our
    create was lost): always when the safety dump goes into it next (`replace_ours`), else only
    when the restore into it did not finish (`unless_done`). One somebody else made is refused."""
    if live["metadata"]["uid"] == p["planned_uid"]:
        return False  # the planned cluster, untouched: the failure came before the delete
    if not ours(ctx, live):
        raise StepFailed(f"postgresql {step.target.name} was re-created by someone else (uid "
                         f"{live['metadata']['uid']}); pgrestore leaves it alone: restore the safety dump into it "
                         f"by hand, or delete it and run `pgrestore rollback` again")
    unfinished = any(ctx.journal.status_of(i) != "done" for i in p["unless_done"])
    return p["replace_ours"] or unfinished


def run(step: Step, ctx: Context) -> dict:
    t, p = step.target, cast(EnsureClusterParams, step.params)
    live = ctx.kube.get_postgresql(t.namespace, t.name)
    action = "kept"
    if live is not None and _replace(ctx, step, p, live):
        ctx.kube.delete_postgresql(t.namespace, t.name)
        wait_gone(ctx, t.namespace, t.name, pod_selector=p["pod_selector"], secrets=p["secrets"])
        live, action = None, "re-created empty (replacing the cluster this apply had created)"
    elif live is None:
        action = "re-created empty"
    if live is None:
        live = create(ctx, step)
    if action != "kept":
        wait_created(ctx, t.namespace, t.name, live["metadata"]["uid"])
        suspend_again(ctx, step)
    leader = pods.wait_leader(ctx.kube, t.namespace, t.name, ctx.remaining())
    return {"uid": live["metadata"]["uid"], "action": action, "recreated": action != "kept", "leader": leader}
