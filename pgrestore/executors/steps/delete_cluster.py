"""delete-cluster: delete the planned postgresql resource, wait until it, its pods and its
credential secrets are gone (a leftover secret would be reused by the new cluster)."""

from __future__ import annotations

from typing import cast

from pgrestore.contract.document import strip_server_fields
from pgrestore.contract.model import SAVED_POSTGRESQL, Step
from pgrestore.contract.params import DeleteClusterParams
from pgrestore.errors import StepFailed

from ..context import Context
from ..support.cluster_gone import wait_gone


def run(step: Step, ctx: Context) -> dict:
    t, p = step.target, cast(DeleteClusterParams, step.params)
    live = ctx.kube.get_postgresql(t.namespace, t.name)
    if live is not None:
        # Only the cluster that was planned, or the one this apply created, may be deleted.
        ours = {p["uid"], (ctx.journal.saved("created", t.name) or {}).get("uid")}
        if live["metadata"]["uid"] not in ours:
            raise StepFailed(f"postgresql {t.name} has uid {live['metadata']['uid']}, which is neither the "
                             f"planned one nor one this apply created: it was re-created since; re-plan")
        # Kept in the journal (file and ConfigMap): if the cluster stays gone, the next plan can take its
        # spec from here when no Helm release renders it (planner/read.py recover_spec).
        ctx.journal.save_once(SAVED_POSTGRESQL, t.name, strip_server_fields(live))
        ctx.kube.delete_postgresql(t.namespace, t.name)
    wait_gone(ctx, t.namespace, t.name, pod_selector=p["pod_selector"], secrets=p["secrets"])
    return {"deleted_uid": live["metadata"]["uid"] if live else None}
