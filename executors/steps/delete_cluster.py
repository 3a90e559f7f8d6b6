"""delete-cluster: save the postgresql resource once, delete it, wait until it is all gone."""

from __future__ import annotations

from pgrestore.errors import StepFailed
from pgrestore.snapshot import strip_server_fields

from ..context import Context
from . import _pods


def saved_resource(ctx: Context) -> dict:
    """The original resource: from the journal, else as planned."""
    saved = ctx.journal.saved("postgresql", ctx.cluster)
    return saved or ctx.prior(f"postgresql/{ctx.ns}/{ctx.cluster}")["fields"]["resource"]


def run(step: dict, ctx: Context) -> dict:
    live = ctx.kube.get_postgresql(ctx.ns, ctx.cluster)
    if live is not None:
        # Only the cluster that was planned, or the one this apply created, may be deleted.
        ours = {ctx.prior(f"postgresql/{ctx.ns}/{ctx.cluster}")["uid"],
                (ctx.journal.saved("created", ctx.cluster) or {}).get("uid")}
        if live["metadata"]["uid"] not in ours:
            raise StepFailed(f"postgresql {ctx.cluster} has uid {live['metadata']['uid']}, which is neither the "
                             f"planned one nor one this apply created: it was re-created since; re-plan")
        ctx.journal.save_once("postgresql", ctx.cluster, strip_server_fields(live))
        ctx.kube.delete_postgresql(ctx.ns, ctx.cluster)
    timeout = step["timeout_seconds"]
    ctx.kube.wait_postgresql(ctx.ns, ctx.cluster, lambda pg: pg is None, f"postgresql {ctx.cluster} to be gone", timeout)
    ctx.kube.wait_pods(ctx.ns, _pods.spilo_selector(ctx.cluster), lambda pods: not pods,
                       f"pods of {ctx.cluster} to be gone", timeout)
    # The operator deletes the credential secrets too; a leftover would be reused by the new cluster.
    names = {o["name"] for o in ctx.prior_of_kind("Secret")}
    ctx.kube.wait_secrets(ctx.ns, f"cluster-name={ctx.cluster}",
                          lambda secrets: not names & {s["metadata"]["name"] for s in secrets},
                          f"credential secrets of {ctx.cluster} to be deleted", timeout)
    return {"deleted_uid": live["metadata"]["uid"] if live else None}
