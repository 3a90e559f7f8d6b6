"""rerun-job: `kubectl replace --force` for a Job: delete it, re-create it from its own spec."""

from __future__ import annotations

from pgrestore.errors import NotFound

from ..context import Context, split_address

# Labels the Job controller adds; a re-created Job must get fresh ones.
_GENERATED = ("controller-uid", "batch.kubernetes.io/controller-uid", "job-name", "batch.kubernetes.io/job-name")


def rerunnable(job: dict) -> dict:
    meta = job["metadata"]
    spec = {k: v for k, v in job["spec"].items() if k not in ("selector", "manualSelector")}
    labels = {k: v for k, v in (spec["template"].get("metadata", {}).get("labels") or {}).items() if k not in _GENERATED}
    spec["template"] = {**spec["template"], "metadata": {**spec["template"].get("metadata", {}), "labels": labels}}
    return {"apiVersion": "batch/v1", "kind": "Job", "spec": spec,
            "metadata": {"name": meta["name"], "namespace": meta["namespace"], "labels": meta.get("labels") or {},
                         "annotations": meta.get("annotations") or {}}}


def run(step: dict, ctx: Context) -> dict:
    _, ns, name = split_address(step["target"])
    timeout = step["timeout_seconds"]
    planned_uid = ctx.prior(step["target"])["uid"]
    try:
        current = ctx.kube.get_job(ns, name)
    except NotFound:  # deleted by an earlier, interrupted run of this step
        current = None
    if current is not None:
        ctx.journal.save_once("jobs", name, rerunnable(current))
    body = ctx.journal.saved("jobs", name)
    if current is not None and current["metadata"]["uid"] == planned_uid:
        ctx.kube.delete_job(ns, name)
        ctx.kube.wait_job_gone(ns, name, f"job {name} to be deleted", timeout)
        current = None
    if current is None:
        ctx.kube.create_job(ns, body)
    ctx.kube.wait_job_complete(ns, name, f"job {name} to complete", timeout)
    return {"job": name}
