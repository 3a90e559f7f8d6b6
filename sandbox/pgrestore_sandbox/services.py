"""The seeded CSM services (csm_services.yaml) as typed records."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources

import yaml

from pgrestore.errors import UsageError

from .pgserver import server_major


@dataclass(frozen=True)
class Workload:
    kind: str
    name: str
    labels: dict[str, str]
    replicas: int = 1
    containers: tuple[str, ...] = ()
    login: dict | None = None


@dataclass(frozen=True)
class BackupCronJob:
    """The CSM <= 1.4 backup CronJob of a service's chart (see csm_services.yaml)."""
    name: str
    schedule: str
    release: str
    chart: str


@dataclass(frozen=True)
class SandboxService:
    name: str
    namespace: str
    cluster: str
    team: str
    instances: int
    users: tuple[str, ...]
    databases: dict[str, str]
    data: str
    main: dict[str, str]
    workloads: tuple[Workload, ...] = field(default_factory=tuple)
    backup: BackupCronJob | None = None

    def postgresql_resource(self) -> dict:
        return {
            "apiVersion": "acid.zalan.do/v1",
            "kind": "postgresql",
            "metadata": {"name": self.cluster, "namespace": self.namespace,
                         "labels": {"app.kubernetes.io/managed-by": "Helm"}},
            "spec": {
                "teamId": self.team,
                "numberOfInstances": self.instances,
                # The major the sandbox's server runs (Debian's): the resource says what its pods run, as
                # Spilo's do, so a plan's check of the dump against spec.postgresql.version sees the truth.
                "postgresql": {"version": server_major()},
                "volume": {"size": "10Gi"},
                "users": {u: [] for u in self.users},
                "databases": dict(self.databases),
                "enableLogicalBackup": False,
            },
        }


def load_services() -> dict[str, SandboxService]:
    text = resources.files("pgrestore_sandbox").joinpath("csm_services.yaml").read_text()
    out = {}
    for name, raw in yaml.safe_load(text)["services"].items():
        workloads = tuple(
            Workload(kind=w["kind"], name=w["name"], labels=w["labels"], replicas=w.get("replicas", 1),
                     containers=tuple(w.get("containers") or [w["name"]]), login=w.get("login"))
            for w in raw["workloads"]
        )
        out[name] = SandboxService(
            name=name, namespace=raw["namespace"], cluster=raw["cluster"], team=raw["team"],
            instances=raw["instances"], users=tuple(raw["users"]), databases=raw["databases"],
            data=raw["data"], main=raw["main"], workloads=workloads,
            backup=_backup(raw.get("backup")),
        )
    return out


def _backup(raw: dict | None) -> BackupCronJob | None:
    if not raw:
        return None
    return BackupCronJob(name=raw["cronjob"], schedule=raw["schedule"], release=raw["release"], chart=raw["chart"])


def get_service(name: str) -> SandboxService:
    services = load_services()
    if name not in services:
        raise UsageError(f"unknown sandbox service {name!r}; choose one of: {', '.join(services)}")
    return services[name]
