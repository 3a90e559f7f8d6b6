"""What a plan is made from: the live objects and the backup, as planner/read.py and planner/snapshot.py
read them. Types only (and the operator's names for what it makes), no I/O: build.py and the strategies
import this, never the readers, so a plan is built without the client libraries loaded."""

from __future__ import annotations

from dataclasses import dataclass, field

from pgrestore.contract.document import strip_server_fields
from pgrestore.contract.model import BackupRef, ClusterIdentity, PostgresqlSource, Target
from pgrestore.core.manifest import ManifestSecret
from pgrestore.core.observe import selector_string

SYSTEM_USERS = ("postgres", "standby")


@dataclass(frozen=True)
class Live:
    """One object a step will touch, as read: its address and the object itself."""

    target: Target
    obj: dict = field(repr=False)

    @property
    def uid(self) -> str:
        return str(self.obj["metadata"]["uid"])

    @property
    def spec(self) -> dict:
        return dict(self.obj.get("spec") or {})


@dataclass(frozen=True)
class RecoveredSpec:
    """The spec of a postgresql resource that is gone, and where it came from."""

    source: PostgresqlSource
    resource: dict = field(repr=False)


def credential_secret(user: str, cluster: str) -> str:
    """The operator's name for a user's credential Secret: CSM's secret_name_template
    '{username}.{cluster}.credentials', '_' made '-' (csm-procedures.md §1)."""
    return f"{user}.{cluster}.credentials".replace("_", "-")


@dataclass(frozen=True)
class ClusterState:
    identity: ClusterIdentity
    client: Live
    postgresql: Live | None
    secrets: tuple[Live, ...]
    jobs: tuple[Live, ...]
    restart_targets: tuple[Live, ...]
    backup_cronjobs: tuple[Live, ...] = ()
    before_jobs: tuple[Live, ...] = ()  # re-run before the database is touched (service's before_restore)
    recovered: RecoveredSpec | None = None  # the spec of a resource that is gone (recover_spec)
    nodes: tuple[str, ...] = ()  # the Kubernetes nodes, read only when the service has host steps

    @property
    def objects(self) -> list[Live]:
        """Everything a step touches, in a stable order."""
        pg = [self.postgresql] if self.postgresql else []
        return [self.client, *pg, *self.secrets, *self.before_jobs, *self.jobs, *self.restart_targets,
                *self.backup_cronjobs]

    @property
    def postgresql_resource(self) -> dict:
        """The resource as it can be re-created: server fields stripped."""
        if self.postgresql is None:
            assert self.recovered is not None
            return self.recovered.resource
        return strip_server_fields(self.postgresql.obj)

    @property
    def credential_secrets(self) -> list[str]:
        """The cluster's credential Secrets: as read, or, with the resource gone, those the operator
        will make for the re-created one (postgres, standby and the spec's users)."""
        if self.postgresql is not None:
            return [s.target.name for s in self.secrets]
        spec = self.postgresql_resource["spec"]
        cluster = self.postgresql_resource["metadata"]["name"]
        return [credential_secret(u, cluster) for u in (*SYSTEM_USERS, *sorted(spec.get("users") or {}))]

    @property
    def client_selector(self) -> str:
        return selector_string(dict((self.client.spec.get("selector") or {}).get("matchLabels") or {}))


@dataclass(frozen=True)
class BackupState:
    ref: BackupRef  # everything but the manifest's secrets, which the planner digests
    manifest_secrets: tuple[ManifestSecret, ...] = ()


@dataclass(frozen=True)
class Snapshot:
    """Everything a plan is built from."""

    cluster: ClusterState
    backup: BackupState
    volume: VolumeArchive | None = None  # a backup of the client's data volume, restored too


@dataclass(frozen=True)
class VolumeArchive:
    """A tar of the client's data volume (backup_vcs.sh's vcs.tar), as checked at plan time."""

    path: str
    size: int
    sha256: str


def logical_backup_cronjob(cluster: str) -> str:
    """The operator's (CSM >= 1.5; postgres-operator v1.8.2 k8sres.go), made with the cluster."""
    return f"logical-backup-{cluster}"
