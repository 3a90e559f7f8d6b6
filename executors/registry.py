"""The explicit registry: step kind -> the module that runs it (plan steps and rollback steps)."""

from __future__ import annotations

from .context import StepKind
from .steps import (
                    alter_users,
                    create_cluster,
                    delete_cluster,
                    ensure_cluster,
                    rerun_job,
                    restart_leader,
                    restore_dump,
                    rollout_restart,
                    scale_workload,
                    secrets_from_manifest,
                    set_instances,
                    verify,
                    verify_backup,
)

STEP_KINDS: dict[str, StepKind] = {
    "verify-backup": verify_backup,
    "scale-workload": scale_workload,
    "delete-cluster": delete_cluster,
    "create-cluster": create_cluster,
    "restore-dump": restore_dump,
    "secrets-from-manifest": secrets_from_manifest,
    "alter-users": alter_users,
    "restart-leader": restart_leader,
    "set-instances": set_instances,
    "rerun-job": rerun_job,
    "rollout-restart": rollout_restart,
    "verify": verify,
    "ensure-cluster": ensure_cluster,
}
