"""A restore rehearsed on the fakes: the real planner and engine, the fake Kubernetes and S3.

    r = Rehearsal.keycloak(tmp_path, monkeypatch)       # the world of tests/fakes/worlds/keycloak.json
    path = r.plan()                                     # planner.read + build_plan, written as `plan -o` does
    r.apply(path)                                       # engine.prepare + engine.run, as `apply --auto-approve`
    r.kube.snapshot()                                   # the world afterwards

Only the adapters are replaced: `engine.Kube` and `engine.s3_from_options` hand out the fakes, so
prepare(), run() and rollback_on_demand() run as the CLI runs them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from core import services
from core.backups import BUCKET
from core.document import load, render, seal
from core.manifest import parse_manifest
from core.model import Plan, ServiceDef
from executors import engine
from planner import build_plan
from planner.read import Snapshot, read_backup_s3, read_cluster, require_cluster

from .fake_kube import FakeKube
from .fake_s3 import FakeS3
from .stage import Stage

WORLDS = Path(__file__).parent / "worlds"
SALT = "00112233445566778899aabbccddeeff"
NOW = datetime(2024, 5, 2, 3, 4, 5, tzinfo=timezone.utc)
NS, CLUSTER, CLIENT = "services", "keycloak-postgres", "cray-keycloak"
CLIENT_SELECTOR = "app.kubernetes.io/instance=cray-keycloak,app.kubernetes.io/name=cray-keycloak"
SPILO_SELECTOR = f"application=spilo,cluster-name={CLUSTER}"

# S3 keys, as CSM's backup jobs name them.
GOOD_PSQL = "keycloak-postgres-2024-04-30T02:00:05.psql"
TRUNCATED_PSQL = "keycloak-postgres-2024-05-01T02:00:07.psql"
LOGICAL = "spilo/keycloak-postgres/9e1d2c3b-7a6f-4e5d-8c9b-0a1b2c3d4e5f/logical_backups/1714442405.sql.gz"
# The fixture files behind them (tests/fakes/worlds/README.md).
GOOD_DUMP = WORLDS / "keycloak-2024-04-30.pg_dumpall.sql"
TRUNCATED_DUMP = WORLDS / "keycloak-2024-05-01-truncated.pg_dumpall.sql"
LOGICAL_DUMP = WORLDS / "keycloak-2024-04-30-logical.pg_dumpall.gz"
MANIFEST = WORLDS / "keycloak-2024-04-30.manifest.yaml"

# What each backup layout puts in the bucket: S3 key -> fixture file.
BACKUPS: dict[str, dict[str, Path]] = {
    "psql": {GOOD_PSQL: GOOD_DUMP, GOOD_PSQL.replace(".psql", ".manifest"): MANIFEST},
    "logical": {LOGICAL: LOGICAL_DUMP},
    "truncated-newest": {
        GOOD_PSQL: GOOD_DUMP, GOOD_PSQL.replace(".psql", ".manifest"): MANIFEST,
        TRUNCATED_PSQL: TRUNCATED_DUMP, TRUNCATED_PSQL.replace(".psql", ".manifest"): MANIFEST,
    },
}


def keycloak_s3(stage: Stage, layout: str = "psql") -> FakeS3:
    s3 = FakeS3(stage)
    for key, file in BACKUPS[layout].items():
        s3.put(BUCKET, key, file)
    return s3


def manifest_passwords() -> dict[str, str]:
    """secret name -> password, as the backup's manifest holds them."""
    return {s.name: s.password for s in parse_manifest(MANIFEST.read_text(), str(MANIFEST))}


@dataclass
class Rehearsal:
    kube: FakeKube
    s3: FakeS3
    workdir: Path
    service: ServiceDef
    results: list[str] = field(default_factory=list)

    @classmethod
    def keycloak(cls, workdir: Path, monkeypatch, layout: str = "psql", seed: int = 0,
                 service: ServiceDef | None = None) -> Rehearsal:
        stage = Stage()
        kube = FakeKube.from_world(WORLDS / "keycloak.json", seed=seed, stage=stage)
        r = cls(kube, keycloak_s3(stage, layout), workdir, service or services.load("keycloak"))
        monkeypatch.setattr(engine, "Kube", lambda kubeconfig=None, context=None: r.kube)
        monkeypatch.setattr(engine, "s3_from_options", lambda kube, opts: r.s3)
        return r

    @property
    def stage(self) -> Stage:
        return self.kube.stage

    # -- plan ------------------------------------------------------------------------------------
    def build(self, secrets_mode: str | None = None, backup: str = "latest") -> Plan:
        cluster = read_cluster(self.kube, self.service)
        require_cluster(cluster, self.service)
        chosen = read_backup_s3(self.s3, self.service.cluster, backup)
        return build_plan(Snapshot(cluster, chosen), self.service, NOW, SALT, secrets_mode)

    def plan(self, secrets_mode: str | None = None, edit: Callable[[Plan], None] | None = None,
             name: str = "plan.json") -> Path:
        """Plan as `pgrestore plan -o` does; `edit` changes it before it is sealed (a test's own plan)."""
        plan = self.build(secrets_mode)
        if edit is not None:
            edit(plan)
            seal(plan)
        path = self.workdir / name
        path.write_text(render(plan))
        return path

    # -- apply -----------------------------------------------------------------------------------
    def apply(self, plan_path: Path, resume: bool = False) -> str:
        opts = engine.Options(auto_approve=True, resume=resume)
        plan, kube, s3, journal = engine.prepare(plan_path, opts)
        result = engine.run(plan, kube, s3, journal, opts, self.stage.on_event)
        self.results.append(result)
        return result

    def rollback(self, plan_path: Path) -> str:
        return engine.rollback_on_demand(plan_path, engine.Options(), self.stage.on_event)

    def journal(self, plan_path: Path) -> dict:
        return json.loads(plan_path.with_name(plan_path.name.removesuffix(".json") + ".journal.json").read_text())

    def loaded(self, plan_path: Path) -> Plan:
        return load(plan_path)
