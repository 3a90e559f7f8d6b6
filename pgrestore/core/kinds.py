"""The step-kind catalog: each kind declared once, with what the rest of pgrestore derives from it.

An entry says what the kind's params are (contract/params.py), its production timeout and how that grows
with the dump (planner/timeouts.py), the Kubernetes adapter methods it calls (core/permissions.py, and from
there deploy/rbac.yaml), and the facts the engine's rules need (executors/engine.py, executors/outcome.py).
A new kind is its executor module (registered in executors/registry.py), its planner constructor, this
entry and its params, and its block in schemas/plan.schema.json; tests/core/test_kinds.py and
tests/core/test_registries.py fail on any of them missing.

Timeout sources: postgres-operator v1.8.2 config.go (resource_check_timeout and pod_deletion_wait_timeout
10 min), Spilo pods' terminationGracePeriodSeconds 300 (pod_terminate_grace_period 5m), and a JVM client
(Keycloak) that takes minutes to start.
"""

from __future__ import annotations

import enum
import typing
from dataclasses import dataclass
from functools import cache

from pgrestore.contract import params as p
from pgrestore.errors import ConfigError


class Grows(enum.Enum):
    """How a kind's planned timeout grows with the dump (the rates are planner/timeouts.py's)."""

    NOT = "not"
    WITH_RESTORE = "with-restore"  # streams the dump's size through psql or pg_dumpall
    WITH_READ = "with-read"  # reads the dump through once
    WITH_COPY_AND_READ = "with-copy-and-read"  # copies the backup, then reads the copy through
    WITH_CLONES = "with-clones"  # each replica beyond the first clones the restored data


# core.pods.find_leader / wait_leader, and the psql adapter (exec): what a step that runs SQL uses.
LEADER = ("list_pods", "wait_pods", "exec")


@dataclass(frozen=True)
class Kind:
    name: str
    params: type  # its TypedDict in contract/params.py
    timeout: int  # seconds, production default; a service definition's `timeouts` overrides it
    uses: tuple[str, ...]  # Kubernetes adapter methods (permissions.METHODS), its helpers' included
    grows: Grows = Grows.NOT
    # False: an apply that got no further than steps of this kind has not started (a resume checks freshness
    # again; a failure has nothing to roll back). The backup's check: it reads the backup, not the cluster.
    counts_as_started: bool = True
    may_wipe_data: bool = False  # as a rollback step, may replace or drop data the forward steps restored

    @property
    def location_params(self) -> tuple[str, ...]:
        return _location_params(self.params)


@cache
def _location_params(params: type) -> tuple[str, ...]:
    """The params that name a stream's source or destination (an S3 object or a file)."""
    hints = typing.get_type_hints(params)
    return tuple(sorted(k for k, t in hints.items() if t is p.LocationParams or p.LocationParams in typing.get_args(t)))


CATALOG: tuple[Kind, ...] = (
    Kind("verify-backup", p.VerifyBackupParams, 1800, (), Grows.WITH_COPY_AND_READ, counts_as_started=False),
    # planner/prerequisites.py again, at apply: the client, another service's health, the leader's schema version
    Kind("check-prerequisites", p.CheckPrerequisitesParams, 900, ("read", "list_pods", "exec"), Grows.WITH_READ),
    Kind("suspend-backup-jobs", p.SuspendBackupJobsParams, 900,  # waits for a running backup job to finish
         ("get_cronjob", "suspend_cronjob", "wait_jobs_of_cronjob_finished")),
    Kind("pin-backup", p.PinBackupParams, 1800, (), Grows.WITH_COPY_AND_READ),
    Kind("safety-dump", p.SafetyDumpParams, 1800, ("read_secret", *LEADER), Grows.WITH_RESTORE),
    Kind("resume-backup-jobs", p.ResumeBackupJobsParams, 300, ("get_cronjob", "suspend_cronjob")),
    Kind("scale-workload", p.ScaleWorkloadParams, 900,
         ("scale", "wait_pods", "wait_workload", "list_pods", "delete_pod")),
    Kind("delete-cluster", p.DeleteClusterParams, 1200,
         ("get_postgresql", "delete_postgresql", "wait_postgresql", "wait_workload_gone", "wait_pods",
          "wait_secrets")),
    Kind("create-cluster", p.CreateClusterParams, 1200,
         ("get_postgresql", "create_postgresql", "wait_postgresql", "wait_pods", "get_cronjob", "suspend_cronjob")),
    Kind("ensure-cluster", p.EnsureClusterParams, 1200,
         ("get_postgresql", "create_postgresql", "delete_postgresql", "wait_postgresql", "wait_workload_gone",
          "wait_secrets", "get_cronjob", "suspend_cronjob", *LEADER), Grows.WITH_CLONES, may_wipe_data=True),
    Kind("restore-dump", p.RestoreDumpParams, 3600, LEADER, Grows.WITH_RESTORE),
    Kind("secrets-from-manifest", p.SecretsFromManifestParams, 300, ("put_secret",)),
    Kind("alter-users", p.AlterUsersParams, 300, ("read_secret", *LEADER)),
    Kind("restart-leader", p.RestartLeaderParams, 900, ("list_pods", "delete_pod", "wait_pods")),
    Kind("set-instances", p.SetInstancesParams, 1800,
         ("set_instances", "get_postgresql", "wait_postgresql", "wait_pods"), Grows.WITH_CLONES),
    Kind("rerun-job", p.RerunJobParams, 900,
         ("read", "delete_job", "wait_job_gone", "create_job", "wait_job_complete")),
    Kind("rollout-restart", p.RolloutRestartParams, 900, ("rollout_restart", "wait_workload")),
    Kind("verify", p.VerifyParams, 600, ("get_postgresql", "list_pods", "read", "read_secret", "exec")),
    Kind("safety-volume", p.SafetyVolumeParams, 1800, ("list_pods", "wait_pods", "exec")),
    Kind("restore-volume", p.RestoreVolumeParams, 1800, ("list_pods", "wait_pods", "exec")),
    Kind("drop-databases", p.DropDatabasesParams, 600, LEADER,  # retries a DROP that meets a session that came back
         may_wipe_data=True),
    Kind("grant-connect", p.GrantConnectParams, 300, LEADER),
    Kind("run-sql", p.RunSqlParams, 900, LEADER),
    # one member after the other, each up to a restart-leader's 900
    Kind("restart-members", p.RestartMembersParams, 2700, ("delete_pod", *LEADER)),
    Kind("host-command", p.HostCommandParams, 900, ()),  # runs on the admin node, not through the API server
    Kind("manual", p.ManualParams, 900, ()),
)
KINDS: dict[str, Kind] = {k.name: k for k in CATALOG}


def kind(name: str) -> Kind:
    """The catalog's entry; a kind it lacks is a plan this version cannot have written."""
    try:
        return KINDS[name]
    except KeyError:
        raise ConfigError(f"step kind {name!r} is not one this pgrestore knows; apply the plan with the version "
                          f"that wrote it") from None
