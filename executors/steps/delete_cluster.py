"""delete-cluster: delete the planned postgresql resource, wait until it, its pods and its
credential secrets are gone (a leftover secret would be reused by the new cluster)."""

from __future__ import annotations

from core.errors import StepFailed
from core.model import Step

from ..context import Context


def run(step: Step, ctx: Context) -> dict:
    t, p = step.target, step.params
    live = ctx.kube.get_postgresql(t.namespace, t.name)
    if live is not None:
        # Only the cluster that was planned, or the one this apply created, may be deleted.
        ours = {p["uid"], (ctx.journal.saved("created", t.name) or {}).get("uid")}
        if live["metadata"]["uid"] not in ours:
            raise StepFailed(f"postgresql {t.name} has uid {live['metadata']['uid']}, which is neither the "
                             f"planned one nor one this apply created: it was re-created since; re-plan")
        ctx.kube.delete_postgresql(t.namespace, t.name)
    ctx.kube.wait_postgresql(t.namespace, t.name, lambda pg: pg is None, f"postgresql {t.name} to be gone",
                             ctx.remaining())
    ctx.kube.wait_pods(t.namespace, p["pod_selector"], lambda pods: not pods, f"pods of {t.name} to be gone",
                       ctx.remaining())
    names = set(p["secrets"])
    ctx.kube.wait_secrets(t.namespace, f"cluster-name={t.name}",
                          lambda secrets: not names & {s["metadata"]["name"] for s in secrets},
                          f"credential secrets of {t.name} to be deleted", ctx.remaining())
    return {"deleted_uid": live["metadata"]["uid"] if live else None}
