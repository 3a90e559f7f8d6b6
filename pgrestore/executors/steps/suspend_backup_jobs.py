"""suspend-backup-jobs: stop the cluster's backup CronJobs for the duration of the apply.

A CSM backup run dumps the cluster and then deletes every older backup of it
(postgres_db_backup.py cleanup_old_backups, Cray-HPE/postgres-db-backup 4da3105): during a
restore it would dump the broken or empty cluster and delete the backup being restored.
A run already going is waited for: suspending stops only new ones.
"""

from __future__ import annotations

from typing import cast

from pgrestore.contract.model import Step
from pgrestore.contract.params import SuspendBackupJobsParams

from ..context import Context


def run(step: Step, ctx: Context) -> dict:
    ns = step.target.namespace
    suspended = []
    for cron in cast(SuspendBackupJobsParams, step.params)["cronjobs"]:
        if ctx.kube.get_cronjob(ns, cron["name"]) is None:
            continue  # removed since planning: nothing to suspend, nothing to resume
        ctx.kube.suspend_cronjob(ns, cron["name"], True)
        ctx.kube.wait_jobs_of_cronjob_finished(ns, cron["name"], f"running jobs of cronjob {cron['name']} to finish",
                                               ctx.remaining())
        suspended.append(cron["name"])
    return {"suspended": suspended}
