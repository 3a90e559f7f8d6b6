"""What every step kind gets: the plan, the adapters, the journal and an event sink."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from pgrestore.adapters.kube import Kube
from pgrestore.adapters.psql import Psql
from pgrestore.adapters.s3 import S3
from pgrestore.snapshot import ManifestSecret

from .journal import Journal

KINDS = {"statefulset": "StatefulSet", "deployment": "Deployment", "daemonset": "DaemonSet", "job": "Job"}


@dataclass
class Context:
    plan: dict
    kube: Kube
    psql: Psql
    s3: S3 | None
    journal: Journal
    emit: Callable[[dict], None]
    manifest: tuple[ManifestSecret, ...] | None = field(default=None, repr=False)
    still_locked: Callable[[], bool] = lambda: True

    @property
    def ns(self) -> str:
        return self.plan["namespace"]

    @property
    def cluster(self) -> str:
        return self.plan["postgresql"]

    def prior(self, address: str) -> dict:
        return next(o for o in self.plan["prior_state"] if o["address"] == address)

    def prior_of_kind(self, kind: str) -> list[dict]:
        return [o for o in self.plan["prior_state"] if o["kind"] == kind]

    @property
    def client(self) -> dict:
        return self.plan["prior_state"][0]  # the planner puts the client first

    @property
    def instances(self) -> int:
        return self.prior(f"postgresql/{self.ns}/{self.cluster}")["fields"]["numberOfInstances"]


def split_address(address: str) -> tuple[str, str, str]:
    """"statefulset/services/cray-keycloak" -> ("StatefulSet", "services", "cray-keycloak")."""
    kind, ns, name = address.split("/", 2)
    return KINDS.get(kind, kind), ns, name


class StepKind(Protocol):
    """One module per step kind. `run` must be safe to call again after a crash inside it."""

    def run(self, step: dict, ctx: Context) -> dict: ...
