"""Each step kind's params, typed: what the planner writes into `Step.params` and its executor reads.

One TypedDict per kind, named after it; the catalog (core/kinds.py) gives each kind its own. The
kind's params block in the plan schema (schemas/plan.schema.json, `$defs.step.allOf`) says the same;
tests/core/test_kinds.py holds each pair together, key by key. Nested objects that are contract types
of their own (a backup, a target, a recorded resource) stay plain dicts here: model.py's dataclasses
read them.
"""

# No `from __future__ import annotations` here: TypedDict tells NotRequired keys apart only from
# annotations evaluated at class creation.
import sys
from typing import Any, Literal, TypedDict

from .model import Location

if sys.version_info >= (3, 11):
    from typing import NotRequired
else:  # CPython 3.10, where the single-file build also runs (scripts/build-onefile.sh)
    from typing_extensions import NotRequired


class LocationParams(TypedDict):
    """Where a stream goes or comes from: an S3 object or a local file (model.Location as a dict)."""

    source: Literal["s3", "file"]
    bucket: str | None
    key: str


class CronJobSetting(TypedDict):
    name: str
    suspended: bool


class VerifyBackupParams(TypedDict):
    backup: dict[str, Any]  # model.BackupRef


class CheckPrerequisitesParams(TypedDict):
    client: dict[str, Any]  # {"target", "images"}
    healthy: list[dict[str, Any]]
    schema_version: NotRequired[dict[str, Any]]


class SuspendBackupJobsParams(TypedDict):
    cronjobs: list[CronJobSetting]


class ResumeBackupJobsParams(TypedDict):
    cronjobs: list[CronJobSetting]


class PinBackupParams(TypedDict):
    backup: dict[str, Any]  # model.BackupRef
    pinned: LocationParams
    pinned_manifest: NotRequired[LocationParams | None]
    verified_by: str


class SafetyDumpParams(TypedDict):
    dump: LocationParams
    manifest: LocationParams
    secrets: list[str]
    pod_selector: str


class ScaleWorkloadParams(TypedDict):
    replicas: int
    wait: Literal["gone", "ready", "none"]
    pod_selector: str


class DeleteClusterParams(TypedDict):
    uid: str
    pod_selector: str
    secrets: list[str]


class CreateClusterParams(TypedDict):
    resource: dict[str, Any]  # the recorded postgresql resource, server fields stripped
    numberOfInstances: int  # noqa: N815 - the operator's field name
    pod_selector: str
    suspend_cronjobs: list[str]


class EnsureClusterParams(TypedDict):
    resource: dict[str, Any]
    numberOfInstances: int  # noqa: N815 - the operator's field name
    pod_selector: str
    secrets: list[str]
    unless_done: list[str]
    replace_ours: bool
    suspend_cronjobs: list[str]
    planned_uid: str


class RestoreDumpParams(TypedDict):
    dump: LocationParams
    format: Literal["psql", "logical"]
    verified_by: str
    rows_from: str
    pod_selector: str


class SecretsFromManifestParams(TypedDict):
    manifest: LocationParams
    secrets: list[str]
    verified_by: str


class AlterUsersParams(TypedDict):
    secrets: list[str]
    pod_selector: str


class RestartLeaderParams(TypedDict):
    pod_selector: str


class SetInstancesParams(TypedDict):
    numberOfInstances: int  # noqa: N815 - the operator's field name
    pod_selector: str


class RestartMembersParams(TypedDict):
    numberOfInstances: int  # noqa: N815 - the operator's field name
    pod_selector: str


class RerunJobParams(TypedDict):
    uid: str


class RolloutRestartParams(TypedDict):
    pass


class VerifyParams(TypedDict):
    numberOfInstances: int  # noqa: N815 - the operator's field name
    pod_selector: str
    client: dict[str, Any]  # {"target", "replicas", "pod_selector"}
    secrets: list[str]
    secret_digests: dict[str, str]


class HostCommandParams(TypedDict):
    argv: list[str]
    hosts: list[str]
    expect_output: str | None


class ManualParams(TypedDict):
    command: str
    expect_output: str | None
    why: str


class SafetyVolumeParams(TypedDict):
    archive: LocationParams
    container: str
    path: str
    pod_selector: str


class RestoreVolumeParams(TypedDict):
    archive: LocationParams
    sha256: str | None
    verified_by: str | None
    container: str
    path: str
    pod_selector: str
    only_if_started: list[str]


class DropDatabasesParams(TypedDict):
    databases: list[str]
    pod_selector: str
    only_if_started: list[str]


class GrantConnectParams(TypedDict):
    databases: list[str]
    pod_selector: str


class RunSqlParams(TypedDict):
    database: str
    user: str
    statement: str
    pod_selector: str



def location(loc: Location) -> LocationParams:
    return LocationParams(source=loc.source, bucket=loc.bucket, key=loc.key)
