"""The explicit registry: step kind -> the module that runs it (plan steps and rollback steps)."""

from __future__ import annotations

from .context import StepKind
from .steps import (alter_users, check_prerequisites, create_cluster, delete_cluster, drop_databases, ensure_cluster,
                    grant_connect, host_command, manual, pin_backup, rerun_job, restart_leader, restart_members,
                    restore_dump, restore_volume, resume_backup_jobs, rollout_restart, run_sql, safety_dump,
                    safety_volume, scale_workload, secrets_from_manifest, set_instances, suspend_backup_jobs, verify,
                    verify_backup)

STEP_KINDS: dict[str, StepKind] = {
    "verify-backup": verify_backup,
    "check-prerequisites": check_prerequisites,
    "suspend-backup-jobs": suspend_backup_jobs,
    "pin-backup": pin_backup,
    "safety-dump": safety_dump,
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
    "resume-backup-jobs": resume_backup_jobs,
    "verify": verify,
    "host-command": host_command,
    "manual": manual,
    "safety-volume": safety_volume,
    "restore-volume": restore_volume,
    "ensure-cluster": ensure_cluster,
    "drop-databases": drop_databases,
    "grant-connect": grant_connect,
    "run-sql": run_sql,
    "restart-members": restart_members,
}
