"""The engine on the rehearsal stage: the real planner and engine, the fake Kubernetes and S3."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.manifest import parse_manifest
from tests.fakes.fake_kube import secret_name
from tests.fakes.rehearsal import CLUSTER, MANIFEST, NS, WORLDS, Rehearsal

CREDENTIAL_SECRETS = [secret_name(u, CLUSTER) for u in ("postgres", "service_account", "standby")]
DUMP_ROWS = {"public.realm": 2, "public.client": 3, "public.user_entity": 5, "public.credential": 5,
             "public.event_entity": 7}


@pytest.fixture
def make(tmp_path, monkeypatch):
    """make(layout="psql", seed=0, service=None) -> a Rehearsal in its own folder."""
    count = [0]

    def factory(layout: str = "psql", seed: int = 0, service=None) -> Rehearsal:
        count[0] += 1
        folder = tmp_path / f"r{count[0]}"
        folder.mkdir()
        return Rehearsal.keycloak(folder, monkeypatch, layout=layout, seed=seed, service=service)
    return factory


@pytest.fixture
def rehearsal(make) -> Rehearsal:
    return make()


def backup_passwords() -> dict[str, str]:
    return {s.name: s.password for s in parse_manifest(MANIFEST.read_text(), "m")}


def every_secret_value(r: Rehearsal) -> set[str]:
    """Every password the world or the backup ever held, for "never in a journal or an event"."""
    values = set(backup_passwords().values())
    for kind, ns, name in r.kube.objects:
        if kind == "Secret" and (creds := r.kube.credentials(ns, name)) and creds[1]:
            values.add(creds[1])
    world = json.loads((WORLDS / "keycloak.json").read_text())
    for obj in world["objects"]:
        if obj["kind"] == "Secret" and "password" in obj["data"]:
            values.add(obj["data"]["password"])
    return values


def journal_texts(r: Rehearsal, plan_path: Path) -> list[str]:
    local = plan_path.with_name(plan_path.name.removesuffix(".json") + ".journal.json").read_text()
    cm = r.kube.obj("ConfigMap", NS, "pgrestore-journal-keycloak")
    return [local, json.dumps(cm)]
