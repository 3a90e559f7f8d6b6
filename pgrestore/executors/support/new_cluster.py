"""The cluster this apply creates (create-cluster, ensure-cluster): made from the recorded spec, marked as
ours, and its logical-backup CronJob suspended again."""

from __future__ import annotations

import copy
from typing import cast

from pgrestore.contract.model import Step
from pgrestore.contract.params import CreateClusterParams, EnsureClusterParams
from pgrestore.errors import StepFailed

from ..context import Context

CREATED_BY = "pgrestore.dev/created-by-plan"
NewClusterParams = CreateClusterParams | EnsureClusterParams


def ours(ctx: Context, live: dict) -> bool:
    """Made by this plan's apply: our annotation, or the uid it recorded (a cluster made before
    the annotation was read back is still recognised by either)."""
    annotations = live["metadata"].get("annotations") or {}
    created = (ctx.journal.saved("created", live["metadata"]["name"]) or {}).get("uid")
    return annotations.get(CREATED_BY) == ctx.plan.checksum[7:27] or live["metadata"]["uid"] == created


def create(ctx: Context, step: Step) -> dict:
    """The cluster this apply makes; refuses one somebody else made after our delete."""
    t, p = step.target, cast(NewClusterParams, step.params)
    live = ctx.kube.get_postgresql(t.namespace, t.name)
    if live is None:
        body = copy.deepcopy(p["resource"])
        body["spec"]["numberOfInstances"] = p["numberOfInstances"]
        body["metadata"].setdefault("annotations", {})[CREATED_BY] = ctx.plan.checksum[7:27]
        live = ctx.kube.create_postgresql(body)
    elif not ours(ctx, live):
        raise StepFailed(f"postgresql {t.name} was re-created by someone else (uid {live['metadata']['uid']}) after "
                         f"this apply deleted it; pgrestore does not restore into it: delete it or re-plan")
    ctx.journal.remember("created", t.name, {"uid": live["metadata"]["uid"]})
    return live


def suspend_again(ctx: Context, step: Step) -> list[str]:
    """The operator makes `logical-backup-<cluster>` anew, unsuspended, with a new cluster
    (v1.8.2 Create -> createLogicalBackupJob): suspend it until resume-backup-jobs."""
    again = []
    for name in cast(NewClusterParams, step.params)["suspend_cronjobs"]:
        cron = ctx.kube.get_cronjob(step.target.namespace, name)
        if cron is not None and not (cron.get("spec") or {}).get("suspend"):
            ctx.kube.suspend_cronjob(step.target.namespace, name, True)
            again.append(name)
    return again
