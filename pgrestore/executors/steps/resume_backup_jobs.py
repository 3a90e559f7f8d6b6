"""resume-backup-jobs: put each backup CronJob's `suspend` back as it was when planned."""

from __future__ import annotations

from typing import cast

from pgrestore.contract.model import Step
from pgrestore.contract.params import ResumeBackupJobsParams

from ..context import Context


def run(step: Step, ctx: Context) -> dict:
    ns = step.target.namespace
    resumed = []
    for cron in cast(ResumeBackupJobsParams, step.params)["cronjobs"]:
        if ctx.kube.get_cronjob(ns, cron["name"]) is None:
            continue
        ctx.kube.suspend_cronjob(ns, cron["name"], cron["suspended"])
        resumed.append(cron["name"])
    return {"restored_suspend": resumed}
