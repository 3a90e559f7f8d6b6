"""The step kinds a strategy composes: each constructor writes everything apply needs into
the step (structured target, explicit params), so executors never guess at the plan's shape."""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pgrestore.contract import params as p
from pgrestore.contract.model import (
    BackupRef,
    Condition,
    DataVolume,
    Location,
    ServiceDef,
    SqlStatement,
    Step,
    Target,
    from_dict,
    to_dict,
)
from pgrestore.contract.params import location
from pgrestore.core import services
from pgrestore.core.observe import spilo_selector

from .options import Choices, pinned
from .prerequisites import client_images, healthy_params
from .world import ClusterState, Live, logical_backup_cronjob


@dataclass
class StepList:
    """Steps in order, ids `NN-kind`; `timeout(kind)` gives each its planned seconds."""

    timeout: Callable[[str], int]
    prefix: str = ""
    steps: list[Step] = field(default_factory=list)

    def add(self, kind: str, target: Target, description: str, params: Mapping[str, Any] | None = None, *,
            destructive: bool = False, restart_from: str | None = None, timeout: int | None = None,
            when: Condition | None = None, hold_unless_data: bool = False) -> str:
        step_id = f"{self.prefix}{len(self.steps) + 1:02d}-{kind}"
        self.steps.append(Step(id=step_id, kind=kind, target=target, params=dict(params or {}), description=description,
                               destructive=destructive, restart_from=restart_from,
                               timeout_seconds=timeout or self.timeout(kind), when=when,
                               hold_unless_data=hold_unless_data or None))
        return step_id

    def commit_last(self) -> None:
        """The last step so far is where the restore is kept: after it, no rollback."""
        self.steps[-1].commit = True


def pg_target(state: ClusterState) -> Target:
    if state.postgresql is not None:
        return state.postgresql.target
    meta = state.postgresql_resource["metadata"]  # gone: the recovered spec's
    return Target("postgresql", meta["namespace"], meta["name"])


def instances(state: ClusterState) -> int:
    return int(state.postgresql_resource["spec"].get("numberOfInstances", 1))


def backup_target(backup: BackupRef) -> Target:
    return Target("Backup", backup.bucket or "local", backup.key)


def verify_backup(steps: StepList, backup: BackupRef) -> str:
    return steps.add("verify-backup", backup_target(backup),
                     "check the backup before anything changes: size and ETag (or sha256) as planned, pg_dumpall "
                     "header and completion trailer, gzip intact, row counts per table, manifest as planned",
                     p.VerifyBackupParams(backup=to_dict(backup)))


def check_prerequisites(steps: StepList, state: ClusterState, backup: BackupRef, service: ServiceDef) -> str:
    """What plan checked of the world, checked again at apply before anything changes: the client's
    images as planned, each service that must be healthy, and the live schema version against the dump."""
    params = p.CheckPrerequisitesParams(
        client={"target": to_dict(state.client.target), "images": client_images(state.client.obj)},
        healthy=[healthy_params(services.load(name)) for name in service.requires_healthy])
    checks = [f"{state.client.target.kind.lower()} {state.client.target.name} still runs the images planned"]
    checks += [f"{h['service'].upper()} healthy" for h in params["healthy"]]
    if service.schema_version is not None and state.postgresql is not None:
        sv = service.schema_version
        params["schema_version"] = {"backup": to_dict(backup), "database": sv.database, "table": sv.table,
                                    "column": sv.column, "namespace": service.namespace, "cluster": service.cluster}
        checks.append(f"live {sv.table}.{sv.column} equals the backup's")
    return steps.add("check-prerequisites", pg_target(state),
                     f"check again what plan checked, before anything changes: {', '.join(checks)}", params)


def scale_client(steps: StepList, client: Live, selector: str, *, before: int, replicas: int,
                 wait: Literal["gone", "ready", "none"],
                 hold_unless_data: bool = False) -> str:
    what = {"gone": "until its pods are gone", "ready": f"for {replicas} Ready pods",
            "none": "for the replica count to be taken (not for Ready pods)"}[wait]
    held = " (only once the data is back)" if hold_unless_data else ""
    return steps.add("scale-workload", client.target,
                     f"scale {client.target.kind.lower()} {client.target.name} {before} -> {replicas} and wait "
                     f"{what}{held}", p.ScaleWorkloadParams(replicas=replicas, wait=wait, pod_selector=selector),
                     hold_unless_data=hold_unless_data)


def delete_cluster(steps: StepList, state: ClusterState) -> str:
    pg = pg_target(state)
    assert state.postgresql is not None
    return steps.add("delete-cluster", pg,
                     f"DESTRUCTIVE: delete postgresql {pg.name} (uid {state.postgresql.uid}): this deletes the data "
                     f"volumes of {pg.name} and its credential secrets; wait until all are gone",
                     p.DeleteClusterParams(uid=state.postgresql.uid, pod_selector=spilo_selector(pg.name),
                                           secrets=[s.target.name for s in state.secrets]), destructive=True)


def delete_ours(steps: StepList, state: ClusterState, rollback: bool = False) -> str:
    """With the resource gone: a delete that can only remove a cluster this apply created (uid "":
    no planned one; delete-cluster also refuses one somebody else made). Forward, a resume after a
    half-done restore so starts again from a fresh cluster; on a first run there is none. Waits for
    the secrets of such a cluster, never for ones that were left when planning."""
    pg = pg_target(state)
    left = {s.target.name for s in state.secrets}
    why = ("was absent before apply, as the rollback leaves it" if rollback else
           "was absent when planned (none on a first run; after a resume, the one a half-done restore went into)")
    return steps.add("delete-cluster", pg,
                     f"postgresql {pg.name} {why}: delete only the cluster this apply created, if any, never one "
                     f"somebody else made, and wait until it is gone",
                     p.DeleteClusterParams(uid="", pod_selector=spilo_selector(pg.name),
                                           secrets=[n for n in state.credential_secrets if n not in left]))


def create_cluster(steps: StepList, resource: dict, n: int, cronjobs: list[str]) -> str:
    meta = resource["metadata"]
    pg = Target("postgresql", meta["namespace"], meta["name"])
    return steps.add("create-cluster", pg,
                     f"re-create {pg.name} from its recorded spec with numberOfInstances {n} (server fields "
                     f"stripped); wait for the operator's Create and a Ready Patroni leader; suspend again any "
                     f"backup CronJob the operator made with it",
                     p.CreateClusterParams(resource=resource, numberOfInstances=n, pod_selector=spilo_selector(pg.name),
                                           suspend_cronjobs=cronjobs))


def restore_dump(steps: StepList, pg: Target, dump: Location, fmt: Literal["psql", "logical"], *, verified_by: str,
                 rows_from: str, restart_from: str | None, when: Condition | None = None, what: str = "") -> str:
    return steps.add("restore-dump", pg,
                     f"stream {what or dump.url()} into psql -U postgres in the Patroni leader of {pg.name}; "
                     f"errors are judged by object and phase (Spilo's own objects and held sessions pass, anything "
                     f"in the application's data fails); then compare row counts with the dump",
                     p.RestoreDumpParams(dump=location(dump), format=fmt, verified_by=verified_by, rows_from=rows_from,
                                         pod_selector=spilo_selector(pg.name)), restart_from=restart_from, when=when)


def secrets_from_manifest(steps: StepList, pg: Target, manifest: Location, *, verified_by: str, names: list[str],
                          when: Condition | None = None, whose: str = "the backup's") -> str:
    return steps.add("secrets-from-manifest", pg,
                     f"DESTRUCTIVE: replace the credential secrets of {pg.name} with {whose} ({len(names)}, from "
                     f"{manifest.url()}), ownerReferences stripped, so they match the restored role passwords",
                     p.SecretsFromManifestParams(manifest=location(manifest), secrets=names, verified_by=verified_by),
                     destructive=True, when=when)


def cronjob_settings(state: ClusterState) -> list[p.CronJobSetting]:
    return [p.CronJobSetting(name=c.target.name, suspended=bool(c.spec.get("suspend"))) for c in state.backup_cronjobs]


def resumed_cronjob_params(state: ClusterState) -> p.ResumeBackupJobsParams:
    """The recorded CronJobs' suspend as planned, and every CronJob held through a re-create that
    was not there when planned (the operator's `logical-backup-<cluster>` of a cluster that was gone):
    unsuspended, as the operator makes it (postgres-operator v1.8.2 createLogicalBackupJob)."""
    recorded = cronjob_settings(state)
    known = {c["name"] for c in recorded}
    return p.ResumeBackupJobsParams(cronjobs=recorded + [p.CronJobSetting(name=n, suspended=False)
                                                         for n in cronjobs_to_hold(state) if n not in known])


def suspend_backup_jobs(steps: StepList, state: ClusterState) -> str:
    names = ", ".join(c.target.name for c in state.backup_cronjobs) or "none found"
    return steps.add("suspend-backup-jobs", pg_target(state),
                     f"suspend the backup CronJobs of {pg_target(state).name} ({names}) and wait for running backup "
                     f"jobs to finish: a run during the restore would dump the broken cluster and delete older "
                     f"backups", p.SuspendBackupJobsParams(cronjobs=cronjob_settings(state)))


def resume_backup_jobs(steps: StepList, state: ClusterState, hold_unless_data: bool = False) -> str:
    held = " (only once the data is back: a run on an empty cluster deletes older backups)" if hold_unless_data else ""
    return steps.add("resume-backup-jobs", pg_target(state),
                     f"put the backup CronJobs' suspend back as recorded{held}", resumed_cronjob_params(state),
                     hold_unless_data=hold_unless_data)


def pin_backup(steps: StepList, backup: BackupRef, pinned: Location, manifest: Location | None, *,
               verified_by: str) -> str:
    how = "server-side copy" if pinned.source == "s3" and backup.source == "s3" else "copy"
    return steps.add("pin-backup", backup_target(backup),
                     f"pin the backup: {how} to {pinned.url()} (no backup job deletes it), checked by sha256; the "
                     f"restore reads the pinned copy",
                     p.PinBackupParams(backup=to_dict(backup), pinned=location(pinned),
                                       pinned_manifest=location(manifest) if manifest else None,
                                       verified_by=verified_by))


def safety_dump(steps: StepList, state: ClusterState, *, dump: Location, manifest: Location) -> str:
    pg = pg_target(state)
    return steps.add("safety-dump", pg,
                     f"safety dump: pg_dumpall -c of {pg.name} as it is now, from its leader, streamed to "
                     f"{dump.url()} and checked, with its credential secrets to {manifest.url()}: what a rollback "
                     f"puts back",
                     p.SafetyDumpParams(dump=location(dump), manifest=location(manifest),
                                        secrets=[s.target.name for s in state.secrets],
                                        pod_selector=spilo_selector(pg.name)))


def alter_users(steps: StepList, pg: Target, names: list[str]) -> str:
    return steps.add("alter-users", pg,
                     f"in the Patroni leader, ALTER USER every credential secret's user of {pg.name} to the "
                     f"secret's live password ({len(names)} secrets)",
                     p.AlterUsersParams(secrets=names, pod_selector=spilo_selector(pg.name)))


def restart_leader(steps: StepList, pg: Target, when: Condition | None = None) -> str:
    return steps.add("restart-leader", pg,
                     f"delete the Patroni leader pod of {pg.name} so Postgres restarts with the fixed credentials; "
                     f"wait for a Ready leader",
                     p.RestartLeaderParams(pod_selector=spilo_selector(pg.name)), when=when)


def set_instances(steps: StepList, pg: Target, n: int, timeout: int | None = None) -> str:
    return steps.add("set-instances", pg,
                     f"set numberOfInstances of {pg.name} to {n} (the recorded value) and wait for {n} Ready members",
                     p.SetInstancesParams(numberOfInstances=n, pod_selector=spilo_selector(pg.name)), timeout=timeout)


def after_restore(steps: StepList, state: ClusterState) -> None:
    for job in state.jobs:
        steps.add("rerun-job", job.target,
                  f"re-run job {job.target.name} (newest matching {job.target.selector}; delete, re-create from "
                  f"its own spec) and wait for completion", p.RerunJobParams(uid=job.uid))
    for t in state.restart_targets:
        steps.add("rollout-restart", t.target,
                  f"rollout-restart {t.target.kind.lower()} {t.target.name} and wait until it is rolled out")


def manifest_digests(snapshot, choices) -> dict[str, str] | None:
    """The backup's passwords as the plan's digests, for verify to check (from-manifest only)."""
    if choices.secrets_mode != "from-manifest" or snapshot.backup.ref.manifest is None:
        return None
    names = set(snapshot.cluster.credential_secrets)
    return {d.name: d.password_digest for d in snapshot.backup.ref.manifest.secrets if d.name in names}


def verify(steps: StepList, state: ClusterState, secret_digests: dict[str, str] | None) -> str:
    pg = pg_target(state)
    n = instances(state)
    return steps.add("verify", pg,
                     f"verify: {pg.name} has {n} Ready members and a leader, the client is back at its replicas and "
                     f"Ready, every credential secret opens the database"
                     + (", secrets hold the backup's passwords" if secret_digests else ""),
                     p.VerifyParams(numberOfInstances=n, pod_selector=spilo_selector(pg.name),
                                    client={"target": to_dict(state.client.target),
                                            "replicas": state.client.spec.get("replicas"),
                                            "pod_selector": state.client_selector},
                                    secrets=state.credential_secrets,
                                    secret_digests=secret_digests or {}))


# -- shared by the strategies that restore into every member (recreate-all, in-place) ----------------
def pinned_backup(steps: StepList, backup: BackupRef, service: str, choices: Choices, verified: str
                  ) -> tuple[Location, Location | None, str]:
    """The dump and manifest the restore reads, and the step whose sha256 they must have: the
    pinned copies where there are any (S3 backups always; local files with --pin-dir)."""
    original = Location(backup.source, backup.bucket, backup.key)
    manifest = Location(backup.source, backup.bucket, backup.manifest.key) if backup.manifest else None
    if backup.source == "file" and choices.options.pin_dir is None:
        return original, manifest, verified  # a local file: no backup job deletes it
    dump, pinned_manifest = pinned(backup, choices.options, service, choices.run_id)
    return dump, pinned_manifest, pin_backup(steps, backup, dump, pinned_manifest, verified_by=verified)


def cronjobs_to_hold(state: ClusterState) -> list[str]:
    """Backup CronJobs to keep suspended through a re-create: those found, and the operator's,
    which it makes anew (unsuspended) with a new cluster."""
    pg = pg_target(state).name
    return sorted({c.target.name for c in state.backup_cronjobs} | {logical_backup_cronjob(pg)})


def before_restore(steps: StepList, state: ClusterState) -> None:
    """The service's jobs that must run before the database is touched (csm-procedures.md §2.1 step 3,
    §2.3: cray-smd-init, cray-sls-init-load), each waited for."""
    for job in state.before_jobs:
        steps.add("rerun-job", job.target,
                  f"re-run job {job.target.name} (newest matching {job.target.selector}; delete, re-create from "
                  f"its own spec) and wait for completion, before the database is touched",
                  p.RerunJobParams(uid=job.uid))


def drop_databases(steps: StepList, pg: Target, databases: list[str], only_if_started: list[str] | None = None,
                   rollback: bool = False) -> str:
    names = ", ".join(databases)
    if rollback:
        text = (f"if the restore had started: in the Patroni leader of {pg.name}, drop the half-restored "
                f"databases ({names}) for the safety dump to go back in")
    else:
        text = (f"DESTRUCTIVE: in the Patroni leader of {pg.name}, revoke CONNECT on {names}, end their other "
                f"sessions and drop them (the postgresql resource, its members and secrets stay)")
    return steps.add("drop-databases", pg, text,
                     p.DropDatabasesParams(databases=list(databases), pod_selector=spilo_selector(pg.name),
                                           only_if_started=list(only_if_started or [])), destructive=not rollback)


def grant_connect(steps: StepList, pg: Target, databases: list[str]) -> str:
    return steps.add("grant-connect", pg,
                     f"GRANT CONNECT on {', '.join(databases)} to PUBLIC again (those that exist) in the leader of "
                     f"{pg.name}",
                     p.GrantConnectParams(databases=list(databases), pod_selector=spilo_selector(pg.name)))


def run_sql(steps: StepList, pg: Target, statements: list[SqlStatement]) -> None:
    for s in statements:
        steps.add("run-sql", pg, f"in the Patroni leader of {pg.name}, as {s.user} in {s.database}: {s.statement}",
                  p.RunSqlParams(database=s.database, user=s.user, statement=s.statement,
                                 pod_selector=spilo_selector(pg.name)))


def restart_members(steps: StepList, pg: Target, n: int, when: Condition | None = None) -> str:
    return steps.add("restart-members", pg,
                     f"restart every member pod of {pg.name} so Postgres starts with the fixed credentials: one at a "
                     f"time, replicas first and the leader last, each waited Ready; then {n} Ready members (new pods) "
                     f"with a leader",
                     p.RestartMembersParams(numberOfInstances=n, pod_selector=spilo_selector(pg.name)), when=when)


def safety_volume(steps: StepList, client: Live, selector: str, volume: DataVolume, archive: Location) -> str:
    """Before anything changes: the live data volume as it is, streamed out of the running client."""
    t = client.target
    return steps.add("safety-volume", t,
                     f"safety tar of {volume.path} in {t.kind.lower()} {t.name}'s container {volume.container} as it "
                     f"is now (`tar -C / -cf - {volume.path.strip('/')}`), streamed to {archive.url()}: what a "
                     f"rollback puts back",
                     p.SafetyVolumeParams(archive=location(archive), container=volume.container, path=volume.path,
                                          pod_selector=selector))


def restore_volume(steps: StepList, client: Live, selector: str, volume: DataVolume, archive: Location, *,
                   sha256: str | None, verified_by: str | None, what: str, only_if_started: list[str] | None = None,
                   when: Condition | None = None) -> str:
    """Extract a volume tar into the running client (`tar -C / -xf -`, as restore_vcs.sh does after
    scaling Gitea back), its bytes checked first against the planned (or recorded) sha256."""
    t = client.target
    return steps.add("restore-volume", t,
                     f"extract {what} into {volume.path} of {t.kind.lower()} {t.name} (container {volume.container}, "
                     f"`tar -C / -xf -`)",
                     p.RestoreVolumeParams(archive=location(archive), sha256=sha256, verified_by=verified_by,
                                           container=volume.container, path=volume.path, pod_selector=selector,
                                           only_if_started=list(only_if_started or [])), when=when)


def restart_client(steps: StepList, client: Live, why: str, when: Condition | None = None) -> str:
    t = client.target
    return steps.add("rollout-restart", t, f"rollout-restart {t.kind.lower()} {t.name} ({why}) and wait until it "
                                           f"is rolled out", when=when)


# -- shared by the strategies' rollbacks ----------------------------------------------------------------
def ensure_cluster(steps: StepList, state: ClusterState, n: int, description: str, *, unless_done: list[str],
                   replace_ours: bool) -> str:
    """The recorded cluster back: re-created from its spec if it is gone, or if the one this apply made
    must be replaced (see EnsureClusterParams)."""
    pg = pg_target(state)
    return steps.add("ensure-cluster", pg, description,
                     p.EnsureClusterParams(resource=state.postgresql_resource, numberOfInstances=n,
                                           pod_selector=spilo_selector(pg.name),
                                           secrets=[x.target.name for x in state.secrets],
                                           unless_done=unless_done, replace_ours=replace_ours,
                                           planned_uid=state.postgresql.uid if state.postgresql else "",
                                           suspend_cronjobs=cronjobs_to_hold(state)))


def safety_dump_back(steps: StepList, pg: Target, safety: Step, *, restart_from: str, when: Condition) -> None:
    """The safety dump and its credential secrets back into the cluster, read from the forward step
    that wrote them (its sha256 is what that step recorded)."""
    taken = typing.cast(p.SafetyDumpParams, safety.params)
    restore_dump(steps, pg, from_dict(Location, taken["dump"]), "psql", verified_by=safety.id, rows_from=safety.id,
                 restart_from=restart_from, when=when, what="the safety dump")
    secrets_from_manifest(steps, pg, from_dict(Location, taken["manifest"]), verified_by=safety.id,
                          names=taken["secrets"], when=when, whose="the safety dump's")
