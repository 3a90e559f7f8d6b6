"""The engine on the rehearsal stage: the real planner and engine, the fake Kubernetes and S3."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pgrestore.core.manifest import parse_manifest
from tests.fakes.fake_kube import secret_name
from tests.fakes.rehearsal import CLIENT, CLIENT_SELECTOR, CLUSTER, MANIFEST, NS, SPILO_SELECTOR, WORLDS, Rehearsal

CREDENTIAL_SECRETS = [secret_name(u, CLUSTER) for u in ("postgres", "service_account", "standby")]
DUMP_ROWS = {"public.realm": 2, "public.client": 3, "public.user_entity": 5, "public.credential": 5,
             "public.event_entity": 7}


SHM = Path("/dev/shm")


@pytest.fixture
def workdir(tmp_path) -> Iterator[Path]:
    """A folder for plans and journals, in memory where the machine has a tmpfs: apply fsyncs its journal
    after every step, and on a disk that is most of the time of a fast test."""
    if not (SHM.is_dir() and shutil.disk_usage(SHM).free > 256 * 1024 * 1024):
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(prefix="pgrestore-test-", dir=SHM))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def make(workdir, monkeypatch):
    """make(layout="psql", seed=0, service=None, world=None) -> a Rehearsal in its own folder."""
    count = [0]

    def factory(layout: str = "psql", seed: int = 0, service=None, world: dict | None = None) -> Rehearsal:
        count[0] += 1
        folder = workdir / f"r{count[0]}"
        folder.mkdir()
        return Rehearsal.keycloak(folder, monkeypatch, layout=layout, seed=seed, service=service, world=world)
    return factory


@pytest.fixture
def rehearsal(make) -> Rehearsal:
    return make()


def world(edit=None) -> dict:
    """The keycloak world fixture, changed by edit(objects by (kind, name))."""
    w = json.loads((WORLDS / "keycloak.json").read_text())
    if edit is not None:
        edit({(o["kind"], o["metadata"]["name"]): o for o in w["objects"]})
    return w


def backup_passwords() -> dict[str, str]:
    return {s.name: s.password for s in parse_manifest(MANIFEST.read_text(), "m")}


def user_view(r: Rehearsal) -> dict:
    """What a user of the service would notice: the database's rows and roles, the credential secrets,
    the client and its readiness, the members, and whether the backup CronJobs run."""
    kube = r.kube
    kube.settle()
    db = kube.database(NS, CLUSTER)
    summary = db.summary() if db else {}
    members = kube.pods(NS, SPILO_SELECTOR)
    client = kube.obj("StatefulSet", NS, CLIENT)
    pg = kube.obj("postgresql", NS, CLUSTER)
    return {
        "rows": summary.get("databases"),
        "roles": summary.get("roles"),
        "secrets": {n: kube.credentials(NS, n) for n in CREDENTIAL_SECRETS},
        "client replicas": client["spec"]["replicas"],
        "client pods ready": len([p for p in kube.pods(NS, CLIENT_SELECTOR) if _ready(p)]),
        "numberOfInstances": pg["spec"]["numberOfInstances"] if pg else None,
        "members ready": len([p for p in members if _ready(p)]),
        "cronjobs suspended": {name: bool(c["spec"].get("suspend")) for (kind, _, name), c in
                               sorted(kube.objects.items()) if kind == "CronJob"},
    }


def _ready(pod: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions") or [])


def every_secret_value(r: Rehearsal) -> set[str]:
    """Every password the world or the backup ever held, for "never in a journal or an event"."""
    values = set(backup_passwords().values())
    for kind, ns, name in r.kube.objects:
        if kind == "Secret" and (creds := r.kube.credentials(ns, name)) and creds[1]:
            values.add(creds[1])
    w = json.loads((WORLDS / "keycloak.json").read_text())
    for obj in w["objects"]:
        if obj["kind"] == "Secret" and "password" in obj["data"]:
            values.add(obj["data"]["password"])
    return values


def journal_texts(r: Rehearsal, plan_path: Path) -> list[str]:
    local = plan_path.with_name(plan_path.name.removesuffix(".json") + ".journal.json").read_text()
    cm = r.kube.obj("ConfigMap", NS, "pgrestore-journal-keycloak")
    return [local, json.dumps(cm)]

