"""The typed documents: plan, step, service definition and journal.

Each is a dataclass that round-trips through the JSON its schema (schemas/*.schema.json)
describes: `to_dict` writes it, `from_dict` reads it after the schema has validated it.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass
from functools import cache
from typing import Any, Literal, TypeVar

T = TypeVar("T")

PLAN_FORMAT = "2.0"
PLAN_SET_FORMAT = "1.0"
JOURNAL_FORMAT = "2.0"


def omit_none() -> Any:
    """A field left out of the JSON while it is None (the schema makes it optional)."""
    return field(default=None, metadata={"omit_none": True})


def to_dict(obj: Any) -> Any:
    if is_dataclass(obj) and not isinstance(obj, type):
        out = {}
        for f in fields(obj):
            value = getattr(obj, f.name)
            if value is None and f.metadata.get("omit_none"):
                continue
            out[f.name] = to_dict(value)
        return out
    if isinstance(obj, list | tuple):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def from_dict(cls: type[T], data: Any) -> T:
    """Build `cls` from schema-valid JSON, following the dataclass's type hints."""
    return _convert(cls, data)


@cache
def _hints(cls: type) -> dict[str, Any]:
    # Resolving the string annotations is most of a plan's parse time; a class's hints never change.
    return typing.get_type_hints(cls)


def _convert(tp: Any, data: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        if data is None:
            return None
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _convert(inner[0], data)
    if origin is list:
        return [_convert(typing.get_args(tp)[0], v) for v in data]
    if origin is dict:
        return {k: _convert(typing.get_args(tp)[1], v) for k, v in data.items()}
    if isinstance(tp, type) and is_dataclass(tp):
        hints = _hints(tp)
        kwargs = {f.name: _convert(hints[f.name], data[f.name]) for f in fields(tp) if f.name in data}
        return tp(**kwargs)
    return data


# -- plan ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """A Kubernetes object a step acts on. `selector` when it was found by labels."""

    kind: str  # StatefulSet, Deployment, DaemonSet, Job, postgresql, Pod, Secret
    namespace: str
    name: str
    selector: str | None = omit_none()

    @property
    def address(self) -> str:
        return f"{self.kind.lower()}/{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Location:
    """Where a dump lives or will be written: an S3 object, or a local file."""

    source: Literal["s3", "file"]
    bucket: str | None
    key: str  # S3 key, or an absolute local path

    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}" if self.source == "s3" else self.key


@dataclass(frozen=True)
class Condition:
    """Run a step only if an earlier step observed this value (e.g. the rollback restores the
    safety dump only into a cluster it had to re-create)."""

    step: str
    observed: str
    equals: Any


@dataclass
class Step:
    id: str
    kind: str
    target: Target
    params: dict[str, Any]
    description: str
    destructive: bool = False
    restart_from: str | None = None
    timeout_seconds: int = 600
    when: Condition | None = omit_none()
    # Rollback: run only once the data is back (the client, the backup CronJobs); otherwise held.
    hold_unless_data: bool | None = omit_none()
    # Forward: once done, the restore is kept; a later failure stops without rolling back.
    commit: bool | None = omit_none()


@dataclass
class PriorObject:
    """An object as planned: identity and the fields whose change makes the plan stale."""

    address: str
    kind: str
    namespace: str
    name: str
    uid: str
    fields: dict[str, Any]


@dataclass
class Change:
    address: str
    actions: list[str]
    before: dict[str, Any]
    after: dict[str, Any]


@dataclass
class SecretDigest:
    name: str
    username: str
    password_digest: str


@dataclass
class ManifestRef:
    key: str
    etag: str | None
    sha256: str | None
    secrets: list[SecretDigest]


@dataclass
class SkippedBackup:
    key: str
    reason: str


@dataclass
class BackupRef:
    source: Literal["s3", "file"]
    format: Literal["psql", "logical"]
    bucket: str | None
    key: str
    size: int
    etag: str | None
    sha256: str | None
    taken_at: str | None
    manifest: ManifestRef | None
    skipped: list[SkippedBackup] = field(default_factory=list)


@dataclass
class ClusterIdentity:
    server: str
    kube_system_uid: str


@dataclass
class PostgresqlSource:
    """Where the spec of a `postgresql` resource that is gone came from (core/helm.py)."""

    kind: str  # helm: the deployed Helm release's manifest | journal: the last apply's | file: --postgresql-spec
    ref: str  # the release Secret (sh.helm.release.v1.<release>.v<N>), or the file's absolute path


@dataclass
class Plan:
    format_version: str
    pgrestore_version: str
    created_at: str
    cluster: ClusterIdentity
    service: str
    namespace: str
    postgresql: str
    strategy: str
    secrets_mode: str
    digest_salt: str
    notes: list[str]
    backup: BackupRef
    prior_state: list[PriorObject]
    changes: list[Change]
    steps: list[Step]
    rollback: list[Step]
    checksum: str = ""
    # Only when the resource was gone when planning: the spec re-created comes from here.
    postgresql_source: PostgresqlSource | None = omit_none()

    def prior(self, address: str) -> PriorObject:
        for o in self.prior_state:
            if o.address == address:
                return o
        raise KeyError(address)

    def step_ids(self) -> list[str]:
        return [s.id for s in self.steps]


@dataclass
class PlanSet:
    """Several services' plans in one reviewed document (`pgrestore plan sls hsm keycloak`, `--all`),
    applied in `order`: each plan whole, with its own lock and journal; a failure stops the set
    there and rolls back that service only."""

    format_version: str
    kind: str  # "plan-set": what tells it from a single plan
    created_at: str
    order: list[str]
    order_reasons: list[str]  # why each dependency put one service before another
    plans: list[Plan]
    checksum: str = ""

    def plan_for(self, service: str) -> Plan:
        return next(p for p in self.plans if p.service == service)


# -- service definition ----------------------------------------------------------------
@dataclass(frozen=True)
class WorkloadRef:
    kind: str
    name: str


@dataclass(frozen=True)
class AfterRestore:
    """A job to re-run or workloads to rollout-restart, found by label selector."""

    kind: str  # rerun-job | rollout-restart
    selector: str
    workload_kind: str | None = omit_none()  # rollout-restart only


@dataclass(frozen=True)
class SqlStatement:
    """A statement run in the leader after the restore, as a given role in a given database."""

    database: str
    user: str
    statement: str


@dataclass(frozen=True)
class SchemaVersion:
    """Where the application keeps its schema version: a column of a table in one database. Plan
    compares the live values with the backup's COPY block of that table and refuses a mismatch."""

    database: str
    table: str  # as pg_dump writes it in COPY lines: public.system
    column: str


@dataclass(frozen=True)
class HostStep:
    """A command run on the management nodes after the client is back (Spire's agents), by `pdsh`
    from the admin node; a manual step (apply stops, prints it, resumes once confirmed) where pdsh
    cannot run or `manual` is set (commands that need an operator's login, like `cray`)."""

    description: str
    command: str
    expect_output: str | None = omit_none()  # a regex every node's output must match
    runs_on: str = "nodes"  # nodes: pdsh over the management nodes | admin: once, on the admin node
    manual: bool = False


@dataclass(frozen=True)
class DataVolume:
    """A client's data volume that is backed up beside the database (VCS: Gitea's repositories),
    read and written with `tar -C /` in the client's container, as CSM's backup_vcs.sh and
    restore_vcs.sh do."""

    container: str
    path: str  # absolute, as mounted in the container: /var/lib/gitea


@dataclass
class ServiceDef:
    name: str
    description: str
    namespace: str
    cluster: str
    strategy: str
    client: WorkloadRef
    after_restore: list[AfterRestore] = field(default_factory=list)
    timeouts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    before_restore: list[AfterRestore] = field(default_factory=list)  # rerun-job only, before the database changes
    sql_after_restore: list[SqlStatement] = field(default_factory=list)
    schema_version: SchemaVersion | None = omit_none()
    requires_healthy: list[str] = field(default_factory=list)  # services that must be healthy first
    databases: list[str] = field(default_factory=list)  # what an in-place restore drops and re-creates
    host_steps: list[HostStep] = field(default_factory=list)
    storage_nodes: list[str] = field(default_factory=list)  # not Kubernetes nodes: pdsh needs them named
    after: list[str] = field(default_factory=list)  # in a plan of several services, restored after these
    data_volume: DataVolume | None = omit_none()


# -- journal -------------------------------------------------------------------------
SAVED_POSTGRESQL = "deleted-postgresql"  # JournalData.saved key: each resource as delete-cluster found it


def journal_configmap_name(service: str) -> str:
    """Where apply keeps a service's journal in the cluster (beside the local file)."""
    return f"pgrestore-journal-{service}"


def lease_name(service: str) -> str:
    """The Lease an apply of a service holds while it runs (`plan` refuses while it exists)."""
    return f"pgrestore-{service}"


def cancel_configmap_name(service: str) -> str:
    """Where `pgrestore cancel` asks the apply holding the lease (by its lock id) to stop and roll back."""
    return f"pgrestore-cancel-{service}"


def plan_secret_name(service: str) -> str:
    """Where `apply --in-cluster` stores the plan its Job applies: a Secret, as the plan's keyed digests of the
    passwords are not for everyone who may read ConfigMaps (the `view` role)."""
    return f"pgrestore-plan-{service}"


@dataclass
class StepRecord:
    status: str  # pending | running | waiting | done | failed | skipped | held (rollback: data not back)
    started_at: str | None = omit_none()
    finished_at: str | None = omit_none()
    observed: dict[str, Any] | None = omit_none()
    error: str | None = omit_none()
    progress: dict[str, Any] | None = omit_none()  # a stream's figures as last written (executors/progress.py)


@dataclass
class JournalData:
    format_version: str
    plan_checksum: str
    service: str
    namespace: str
    status: str
    started_at: str
    updated_at: str
    steps: dict[str, StepRecord]
    rollback: dict[str, StepRecord]
    saved: dict[str, dict[str, Any]]
    ended_because: str | None = omit_none()  # why it stopped other than done
