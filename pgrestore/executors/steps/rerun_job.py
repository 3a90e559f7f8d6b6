"""rerun-job: `kubectl replace --force` for a Job: delete it, re-create it from its own spec."""

from __future__ import annotations

from typing import cast

from pgrestore.contract.model import Step
from pgrestore.contract.params import RerunJobParams

from ..context import Context

# Labels the Job controller adds; a re-created Job must get fresh ones.
_GENERATED = ("controller-uid", "batch.kubernetes.io/controller-uid", "job-name", "batch.kubernetes.io/job-name")


def rerunnable(job: dict) -> dict:
    meta = job["metadata"]
    spec = {k: v for k, v in job["spec"].items() if k not in ("selector", "manualSelector")}
    template_meta = spec["template"].get("metadata") or {}
    labels = {k: v for k, v in (template_meta.get("labels") or {}).items() if k not in _GENERATED}
    spec["template"] = {**spec["template"], "metadata": {**template_meta, "labels": labels}}
    return {"apiVersion": "batch/v1", "kind": "Job", "spec": spec,
            "metadata": {"name": meta["name"], "namespace": meta["namespace"], "labels": meta.get("labels") or {},
                         "annotations": meta.get("annotations") or {}}}


def run(step: Step, ctx: Context) -> dict:
    t = step.target
    current = ctx.kube.read(t)
    if current is not None:
        ctx.journal.save_once("jobs", t.name, rerunnable(current))
    body = ctx.journal.saved("jobs", t.name)
    if current is not None and current["metadata"]["uid"] == cast(RerunJobParams, step.params)["uid"]:
        ctx.kube.delete_job(t.namespace, t.name)
        ctx.kube.wait_job_gone(t.namespace, t.name, f"job {t.name} to be deleted", ctx.remaining())
        current = None
    if current is None:
        assert body is not None  # saved before the delete, by this run or an interrupted one
        ctx.kube.create_job(t.namespace, body)
    ctx.kube.wait_job_complete(t.namespace, t.name, f"job {t.name} to complete", ctx.remaining())
    return {"job": t.name}
