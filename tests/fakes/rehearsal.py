"""A restore rehearsed on the fakes: the real planner and engine, the fake Kubernetes and S3.

    r = Rehearsal.keycloak(tmp_path, monkeypatch)       # the world of tests/fakes/worlds/keycloak.json
    path = r.plan()                                     # planner.read + build_plan, written as `plan -o` does
    path = r.plan(PlanOptions(pin_dir=...), dump=LOCAL) # `plan --pin-dir ... --dump FILE`
    r.apply(path)                                       # engine.prepare + engine.run, as `apply --auto-approve`
    r.kube.snapshot()                                   # the world afterwards

Only the adapters are replaced: `engine.Kube` and `engine.s3_from_options` hand out the fakes, so
prepare(), run() and rollback_on_demand() run as the CLI runs them.

CSM's backup CronJob of the cluster does what postgres_db_backup.py does when its Job finishes
(`csm_backup_job`): dump the cluster as it is then, write `<cluster>-<stamp>.psql` and `.manifest`
to the bucket, and delete every older pair of the cluster.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from pgrestore.contract.document import load, render, seal
from pgrestore.contract.model import Plan, ServiceDef
from pgrestore.contract.schema import errors as schema_errors
from pgrestore.core import plankey, services
from pgrestore.core.backups import BUCKET
from pgrestore.core.manifest import parse_manifest, render_manifest
from pgrestore.core.plankey import ClusterKeys
from pgrestore.executors import engine
from pgrestore.executors.lock import Lock
from pgrestore.planner import build_plan
from pgrestore.planner.options import PlanOptions
from pgrestore.planner.snapshot import BackupChoice, read_local, take_snapshot

from .fake_kube import FakeKube
from .fake_s3 import FakeS3
from .stage import Stage

WORLDS = Path(__file__).parent / "worlds"
SALT = "00112233445566778899aabbccddeeff"
NOW = datetime(2024, 5, 2, 3, 4, 5, tzinfo=timezone.utc)
NS, CLUSTER, CLIENT = "services", "keycloak-postgres", "cray-keycloak"
CLIENT_SELECTOR = "app.kubernetes.io/instance=cray-keycloak,app.kubernetes.io/name=cray-keycloak"
SPILO_SELECTOR = f"application=spilo,cluster-name={CLUSTER}"
BACKUP_CRONJOB = f"{CLUSTER}-postgresql-db-backup"

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


# HSM and SLS (tests/fakes/worlds/hms.json and make_hms.py): one world holds both, as HSM's plan
# checks that SLS is healthy.
HMS_WORLD = WORLDS / "hms.json"
HSM_PSQL = "cray-smd-postgres-2024-04-30T00:10:05.psql"
HSM_SCHEMA_20_PSQL = "cray-smd-postgres-2024-05-01T00:10:06.psql"
SLS_PSQL = "cray-sls-postgres-2024-04-29T23:10:04.psql"
HSM_DUMP, HSM_MANIFEST = WORLDS / "hsm-2024-04-30.pg_dumpall.sql", WORLDS / "hsm-2024-04-30.manifest.yaml"
HSM_SCHEMA_20_DUMP = WORLDS / "hsm-2024-05-01-schema-20.pg_dumpall.sql"
SLS_DUMP, SLS_MANIFEST = WORLDS / "sls-2024-04-29.pg_dumpall.sql", WORLDS / "sls-2024-04-29.manifest.yaml"
HMS_BACKUPS: dict[str, dict[str, Path]] = {
    "both": {HSM_PSQL: HSM_DUMP, HSM_PSQL.replace(".psql", ".manifest"): HSM_MANIFEST,
             SLS_PSQL: SLS_DUMP, SLS_PSQL.replace(".psql", ".manifest"): SLS_MANIFEST},
    "hsm-schema-20-newest": {HSM_PSQL: HSM_DUMP, HSM_PSQL.replace(".psql", ".manifest"): HSM_MANIFEST,
                             HSM_SCHEMA_20_PSQL: HSM_SCHEMA_20_DUMP,
                             HSM_SCHEMA_20_PSQL.replace(".psql", ".manifest"): HSM_MANIFEST},
}


def hms_s3(stage: Stage, layout: str = "both") -> FakeS3:
    s3 = FakeS3(stage)
    for key, file in HMS_BACKUPS[layout].items():
        s3.put(BUCKET, key, file)
    return s3


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
                 service: ServiceDef | None = None, world: dict | None = None) -> Rehearsal:
        """`world`: a world fixture of one's own (default tests/fakes/worlds/keycloak.json)."""
        stage = Stage()
        kube = FakeKube.from_world(world or WORLDS / "keycloak.json", seed=seed, stage=stage)
        r = cls(kube, keycloak_s3(stage, layout), workdir, service or services.load("keycloak"))
        kube.job_effects[BACKUP_CRONJOB] = r.csm_backup_job
        monkeypatch.setattr(engine, "Kube", lambda kubeconfig=None, context=None: r.kube)
        monkeypatch.setattr(engine, "s3_from_options", lambda kube, opts, *args, **kwargs: r.s3)
        return r

    @classmethod
    def hms(cls, workdir: Path, monkeypatch, service: str, layout: str = "both", world: dict | None = None
            ) -> Rehearsal:
        """HSM or SLS (`service`) in the world of tests/fakes/worlds/hms.json."""
        stage = Stage()
        kube = FakeKube.from_world(world or HMS_WORLD, stage=stage)
        r = cls(kube, hms_s3(stage, layout), workdir, services.load(service))
        monkeypatch.setattr(engine, "Kube", lambda kubeconfig=None, context=None: r.kube)
        monkeypatch.setattr(engine, "s3_from_options", lambda kube, opts, *args, **kwargs: r.s3)
        return r

    @property
    def stage(self) -> Stage:
        return self.kube.stage

    # -- plan ------------------------------------------------------------------------------------
    def build(self, options: PlanOptions | str | None = None, backup: str = "latest", dump: Path | None = None,
              manifest: Path | None = None) -> Plan:
        """`options.volume_backup`: `--pvc-backup FILE` (the service needs a data_volume)."""
        """`options`: PlanOptions, or just the --secrets mode; `dump`/`manifest`: `--dump FILE --manifest FILE`."""
        if not isinstance(options, PlanOptions):
            options = PlanOptions(secrets_mode=options)
        choice = BackupChoice(backup, dump, manifest)
        local = read_local(self.service, choice, options)  # as `pgrestore plan` reads, from the fakes
        snap = take_snapshot(self.kube, self.service, local, choice=choice, connect_s3=lambda: self.s3)
        return build_plan(snap, self.service, NOW, SALT, local.options, key=self.plan_key)

    def plan(self, options: PlanOptions | str | None = None, edit: Callable[[Plan], None] | None = None,
             name: str = "plan.json", dump: Path | None = None, manifest: Path | None = None) -> Path:
        """Plan as `pgrestore plan -o` does; `edit` changes it before it is sealed (a test's own plan)."""
        plan = self.build(options, dump=dump, manifest=manifest)
        if edit is not None:
            edit(plan)
            seal(plan, self.plan_key)
        path = self.workdir / name
        path.write_text(render(plan))
        return path

    # -- apply -----------------------------------------------------------------------------------
    def apply(self, plan_path: Path, resume: bool = False) -> str:
        """As `apply --auto-approve` by an operator who runs each manual step when asked (HSM's `cray`
        checks): its confirmation is given up front. tests/engine/test_host_steps.py tests the stop."""
        manual = tuple(s.id for s in self.loaded(plan_path).steps if s.kind == "manual")
        opts = engine.Options(auto_approve=True, resume=resume, confirmed=manual)
        plan, kube, s3, journal = engine.prepare(plan_path, opts)
        try:
            result = engine.run(plan, kube=kube, s3=s3, journal=journal, opts=opts, emit=self.stage.on_event)
        finally:
            if not self.stage.dead:  # a killed apply's journal is its last write, checked when it was the end
                self.check_journal(plan_path)
        self.results.append(result.sentence())
        return result.sentence()

    def check_journal(self, plan_path: Path) -> None:
        """The journal apply left matches its schema (apply writes it unchecked; every reader checks it)."""
        path = plan_path.with_name(plan_path.name.removesuffix(".json") + ".journal.json")
        problems = schema_errors(json.loads(path.read_text()), "journal") if path.exists() else []
        assert not problems, f"the journal apply wrote does not match its schema: {problems}"

    def rollback(self, plan_path: Path) -> str:
        return engine.rollback_on_demand(plan_path, engine.Options(), emit=self.stage.on_event).end_state()

    def crashed(self) -> None:
        """After a Crash: the killed process is gone, and with it its threads (the lease renewal); a new
        process may call again; the lease it left names a pid that no longer runs."""
        for thread in threading.enumerate():
            lock = getattr(getattr(thread, "_target", None), "__self__", None)
            if isinstance(lock, Lock) and lock.kube is self.kube:
                lock._stop.set()
        self.stage.revive()
        self.kube.process_died()

    def journal(self, plan_path: Path) -> dict:
        return json.loads(plan_path.with_name(plan_path.name.removesuffix(".json") + ".journal.json").read_text())

    def loaded(self, plan_path: Path) -> Plan:
        return load(plan_path, self.keys())

    @property
    def plan_key(self) -> bytes:
        """The service namespace's plan key, made in the fake cluster as `plan` makes it."""
        return plankey.ensure(self.kube, self.service.namespace)

    def keys(self) -> ClusterKeys:
        """The plan keys as apply reads them from the (fake) cluster."""
        return ClusterKeys(lambda: self.kube)

    def step(self, plan_path: Path, kind: str, nth: int = 0, rollback: bool = False) -> str:
        """The id of the plan's nth step (or rollback step) of this kind."""
        plan = self.loaded(plan_path)
        return [s.id for s in (plan.rollback if rollback else plan.steps) if s.kind == kind][nth]

    # -- CSM's backup job ------------------------------------------------------------------------
    def csm_backup_job(self, job: dict) -> None:
        """What a finished Job of `<cluster>-postgresql-db-backup` did (Cray-HPE/postgres-db-backup
        postgres_db_backup.py): pg_dumpall of the cluster as it is now, its credential secrets as a
        manifest, both to the bucket; then every older pair of the cluster is deleted."""
        db = self.kube.database(NS, CLUSTER)
        if db is None:
            return  # the job fails: nothing to dump (the cluster is being re-created)
        stamp = job["metadata"]["creationTimestamp"].removesuffix("Z")
        secrets = [s for (kind, ns, name), s in sorted(self.kube.objects.items())
                   if kind == "Secret" and ns == NS and name.endswith(f".{CLUSTER}.credentials")]
        key = f"{CLUSTER}-{stamp}"
        self.s3.put(BUCKET, f"{key}.psql", db.dump(clean=True), last_modified=f"{stamp}Z")
        self.s3.put(BUCKET, f"{key}.manifest", render_manifest(secrets), last_modified=f"{stamp}Z")
        for old in self.s3.keys(BUCKET, f"{CLUSTER}-"):
            if old.rsplit(".", 1)[0] < key:
                self.s3.delete(BUCKET, old)
