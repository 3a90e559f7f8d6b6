"""Golden plans: a recorded world (tests/fakes/worlds/keycloak.json: the objects planner/read.py
reads, as `kubectl get -o json` shows them) and a bucket of fixture backups, read by the real
planner through the fake adapters, built with a fixed salt and time, and compared byte for byte
with tests/planner/goldens/*.golden.json.

A plan that changes on purpose: `PGRESTORE_UPDATE_GOLDENS=1 pytest tests/planner`, then review
the diff of the golden files like any other change of behaviour.
"""

from __future__ import annotations

import base64
import difflib
import json
import os
from pathlib import Path

import pytest

from core import services
from core.document import render
from core.errors import BackupError, UsageError
from core.manifest import parse_manifest
from core.model import Plan
from core.schema import errors as schema_errors
from planner import build_plan
from planner.read import Snapshot, read_backup_s3, read_cluster, require_cluster
from tests.fakes.fake_kube import FakeKube
from tests.fakes.rehearsal import (
    CLUSTER,
    GOOD_DUMP,
    GOOD_PSQL,
    LOGICAL,
    MANIFEST,
    NOW,
    SALT,
    TRUNCATED_PSQL,
    WORLDS,
    keycloak_s3,
)

GOLDENS = Path(__file__).parent / "goldens"
SITE = Path(__file__).parent / "site"
UPDATE = os.environ.get("PGRESTORE_UPDATE_GOLDENS") == "1"

# name -> (backup layout in the bucket, --secrets, site definitions folder or None)
CASES = {
    "keycloak-from-manifest": ("psql", None, None),
    "keycloak-alter-users": ("psql", "alter-users", None),
    "keycloak-logical": ("logical", None, None),
    "keycloak-truncated-newest-skipped": ("truncated-newest", None, None),
    "site-keycloak-oauth2-proxies": ("psql", None, SITE),
}


def make_plan(case: str, monkeypatch) -> Plan:
    layout, secrets_mode, site = CASES[case]
    if site is not None:
        monkeypatch.setenv("PGRESTORE_SERVICES_DIR", str(site))
    else:
        monkeypatch.delenv("PGRESTORE_SERVICES_DIR", raising=False)
    service = services.load("keycloak")
    kube = FakeKube.from_world(WORLDS / "keycloak.json")
    s3 = keycloak_s3(kube.stage, layout)
    cluster = read_cluster(kube, service)
    require_cluster(cluster, service)
    return build_plan(Snapshot(cluster, read_backup_s3(s3, service.cluster, "latest")), service, NOW, SALT,
                      secrets_mode)


@pytest.mark.parametrize("case", sorted(CASES))
def test_plan_matches_its_golden_file(case, monkeypatch):
    text = render(make_plan(case, monkeypatch))
    golden = GOLDENS / f"{case}.golden.json"
    if UPDATE:
        golden.write_text(text)
    assert golden.exists(), f"no golden {golden.name}; run with PGRESTORE_UPDATE_GOLDENS=1 and review it"
    expected = golden.read_text()
    if text != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True), str(golden), "now", n=2))
        pytest.fail(f"plan {case} differs from its golden file (PGRESTORE_UPDATE_GOLDENS=1 to accept):\n{diff[:6000]}")


@pytest.mark.parametrize("case", sorted(CASES))
def test_plan_is_schema_valid_and_holds_no_secret_value(case, monkeypatch):
    text = render(make_plan(case, monkeypatch))
    assert schema_errors(json.loads(text), "plan") == []
    for secret in _secret_values():
        assert secret not in text, f"a secret value of the fixtures appears in plan {case}"


def _secret_values() -> set[str]:
    """Every password of the world and of the backups, as text, base64 and md5 verifier."""
    world = json.loads((WORLDS / "keycloak.json").read_text())
    values = set()
    for obj in world["objects"]:
        if obj["kind"] == "Secret":
            values |= {base64.b64decode(v).decode() for v in obj["data"].values()} | set(obj["data"].values())
    for s in parse_manifest(MANIFEST.read_text(), "fixture"):
        values |= {s.password, base64.b64encode(s.password.encode()).decode()}
    dump = GOOD_DUMP.read_text()
    values |= {line.rsplit("'", 2)[1] for line in dump.splitlines() if " PASSWORD 'md5" in line}
    usernames = {"postgres", "standby", "service_account"}
    return {v for v in values - usernames - {base64.b64encode(u.encode()).decode() for u in usernames} if len(v) >= 8}


def test_the_same_world_salt_and_time_give_the_same_bytes(monkeypatch):
    assert render(make_plan("keycloak-from-manifest", monkeypatch)) == render(make_plan("keycloak-from-manifest",
                                                                                        monkeypatch))


def test_latest_passes_over_a_truncated_newest_backup_and_says_why(monkeypatch):
    plan = make_plan("keycloak-truncated-newest-skipped", monkeypatch)
    assert plan.backup.key == GOOD_PSQL
    assert [s.key for s in plan.backup.skipped] == [TRUNCATED_PSQL]
    assert any(n.startswith(f"skipped backup {TRUNCATED_PSQL}:") and "trailer" in n for n in plan.notes)


def test_a_truncated_backup_asked_for_by_name_is_refused(monkeypatch):
    kube = FakeKube.from_world(WORLDS / "keycloak.json")
    s3 = keycloak_s3(kube.stage, "truncated-newest")
    with pytest.raises(BackupError, match="trailer"):
        read_backup_s3(s3, CLUSTER, TRUNCATED_PSQL)


def test_a_logical_backup_has_no_manifest_so_the_roles_are_altered(monkeypatch):
    plan = make_plan("keycloak-logical", monkeypatch)
    assert (plan.backup.key, plan.backup.format, plan.secrets_mode) == (LOGICAL, "logical", "alter-users")
    assert "alter-users" in plan.step_ids()[5] and not any(s.kind == "secrets-from-manifest" for s in plan.steps)


def test_from_manifest_cannot_be_asked_of_a_backup_without_one(monkeypatch):
    monkeypatch.setitem(CASES, "logical-from-manifest", ("logical", "from-manifest", None))
    with pytest.raises(UsageError, match="needs a backup with a .manifest"):
        make_plan("logical-from-manifest", monkeypatch)


def test_the_newest_revision_of_a_job_is_the_one_rerun(monkeypatch):
    plan = make_plan("keycloak-from-manifest", monkeypatch)
    jobs = [(s.target.name, s.target.selector) for s in plan.steps if s.kind == "rerun-job"]
    assert jobs == [("keycloak-setup-2", "app.kubernetes.io/instance=cray-keycloak"),
                    ("keycloak-users-localize-1", "app.kubernetes.io/instance=cray-keycloak-users-localize")]


def test_a_site_selector_restarts_every_workload_it_matches_and_only_those(monkeypatch):
    plan = make_plan("site-keycloak-oauth2-proxies", monkeypatch)
    restarts = [s for s in plan.steps if s.kind == "rollout-restart"]
    assert [(s.target.kind, s.target.name) for s in restarts] == [
        ("Deployment", "cray-oauth2-proxies-customer-access-ingress"),
        ("Deployment", "cray-oauth2-proxies-customer-management-ingress")]
    assert {s.timeout_seconds for s in restarts} == {300}
    assert "site definition: the oauth2-proxies replace the CSM 1.0 gatekeeper" in plan.notes
    recorded = {o.name for o in plan.prior_state}
    assert "cray-keycloak-gatekeeper-ingress" not in recorded and "cray-keycloak-admin-console" not in recorded


def test_secrets_are_recorded_as_keyed_digests_of_what_the_cluster_and_backup_hold(monkeypatch):
    plan = make_plan("keycloak-from-manifest", monkeypatch)
    from core.observe import digest
    manifest = {s.name: s.password for s in parse_manifest(MANIFEST.read_text(), "m")}
    after = {c.address.split("/")[-1]: c.after for c in plan.changes if c.address.startswith("secret/")}
    assert after == {name: {"username": user, "password_digest": digest(SALT, manifest[name])}
                     for name, user in (("postgres.keycloak-postgres.credentials", "postgres"),
                                        ("service-account.keycloak-postgres.credentials", "service_account"),
                                        ("standby.keycloak-postgres.credentials", "standby"))}
    assert "keycloak-postgres-tls" not in {o.name for o in plan.prior_state}  # not a credential secret
