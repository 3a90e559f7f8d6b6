"""delete-cluster: delete the planned postgresql resource, wait until it, its pods and its
credential secrets are gone (a leftover secret would be reused by the new cluster)."""

from __future__ import annotations

from core.document import strip_server_fields
from core.errors import StepFailed
from core.model import SAVED_POSTGRESQL, Step

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
        # Kept in the journal (file and ConfigMap): if the cluster stays gone, the next plan can take its
        # spec from here when no Helm release renders it (planner/read.py recover_spec).
        ctx.journal.save_once(SAVED_POSTGRESQL, t.name, strip_server_fields(live))
        ctx.kube.delete_postgresql(t.namespace, t.name)
    wait_gone(ctx, t.namespace, t.name, p["pod_selector"], p["secrets"])
    return {"deleted_uid": live["metadata"]["uid"] if live else None}


def wait_gone(ctx: Context, ns: str, name: str, pod_selector: str, secrets: list[str]) -> None:
    ctx.kube.wait_postgresql(ns, name, lambda pg: pg is None, f"postgresql {name} to be gone", ctx.remaining())
    # The operator deletes its StatefulSet with Orphan propagation (v1.8.2 resources.go deleteStatefulSet):
    # it lingers until the garbage collector has orphaned the pods, and a Create meanwhile fails with
    # "statefulset already exists" (CreateFailed). Slow on a loaded control plane, so it is waited for.
    ctx.kube.wait_workload_gone("StatefulSet", ns, name, f"statefulset {name} to be gone", ctx.remaining())
    ctx.kube.wait_pods(ns, pod_selector, lambda pods: not pods, f"pods of {name} to be gone", ctx.remaining())
    names = set(secrets)
    ctx.kube.wait_secrets(ns, f"cluster-name={name}", lambda found: not names & {s["metadata"]["name"] for s in found},
                          f"credential secrets of {name} to be deleted", ctx.remaining())
