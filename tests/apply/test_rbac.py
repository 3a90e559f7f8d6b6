"""Least privilege: plan and apply as a ServiceAccount bound only to deploy/rbac.yaml; one verb less and
`plan` refuses (77), naming it, before writing anything."""

from __future__ import annotations

import base64
import copy
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.helpers import wait_until

from .conftest import NS, Cli, break_keycloak, fingerprint, make_backup, settings, wait_healthy

RBAC = Path(__file__).resolve().parents[2] / "deploy" / "rbac.yaml"


def _kubectl(sandbox, *args: str, stdin: str | None = None) -> str:
    res = subprocess.run(["kubectl", "--kubeconfig", str(sandbox.state.kubeconfig), *args], input=stdin,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return res.stdout


def _limited(docs: list[dict], sa: str, drop: tuple[str, str]) -> list[dict]:
    """The manifest for another ServiceAccount, its ClusterRole without one verb on one resource."""
    out = []
    for d in copy.deepcopy(docs):
        meta = d["metadata"]
        meta["name"] = meta["name"].replace("pgrestore", sa)
        if d["kind"] == "ServiceAccount":
            meta["name"] = sa
        for subject in d.get("subjects") or []:
            subject["name"] = sa
        if "roleRef" in d:
            d["roleRef"]["name"] = d["roleRef"]["name"].replace("pgrestore", sa)
        if d["kind"] == "ClusterRole" and meta["name"] == sa:
            verb, resource = drop
            for rule in d["rules"]:
                if resource in rule["resources"]:
                    rule["verbs"] = [v for v in rule["verbs"] if v != verb]
        out.append(d)
    return out


def _token(sandbox, sa: str) -> str:
    """The token of the ServiceAccount's token Secret (made by the controller-manager on 1.20)."""
    def secret():
        names = [s.name for s in sandbox.api.core.read_namespaced_service_account(sa, NS).secrets or []]
        tokens = [sandbox.api.core.read_namespaced_secret(n, NS) for n in names]
        return next((s for s in tokens if s.type == "kubernetes.io/service-account-token" and s.data
                     and s.data.get("token")), None)
    wait_until(f"a token secret for {sa}", lambda: secret() is not None, timeout=60)
    return base64.b64decode(secret().data["token"]).decode()


def _kubeconfig(sandbox, sa: str, path: Path) -> Path:
    admin = yaml.safe_load(Path(sandbox.state.kubeconfig).read_text())
    context = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])["context"]
    cluster = next(c for c in admin["clusters"] if c["name"] == context["cluster"])
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "clusters": [cluster],
        "users": [{"name": sa, "user": {"token": _token(sandbox, sa)}}],
        "contexts": [{"name": sa, "context": {"cluster": cluster["name"], "user": sa}}],
        "current-context": sa}))
    return path


@pytest.fixture
def rbac(sandbox):
    docs = [d for d in yaml.safe_load_all(RBAC.read_text()) if d]
    limited = _limited(docs, "pgrestore-limited", ("delete", "postgresqls"))
    text = yaml.safe_dump_all(docs + limited)
    _kubectl(sandbox, "apply", "-f", "-", stdin=text)
    yield
    _kubectl(sandbox, "delete", "--ignore-not-found", "-f", "-", stdin=text)


def test_plan_and_apply_with_only_the_shipped_role(sandbox, rbac, tmp_path):
    cli = Cli(sandbox, {"KUBECONFIG": str(_kubeconfig(sandbox, "pgrestore", tmp_path / "pgrestore.kubeconfig"))})
    wait_healthy(sandbox)
    key = make_backup(sandbox, "psql")
    before, settings_before = fingerprint(sandbox), settings(sandbox)
    break_keycloak(sandbox)
    assert fingerprint(sandbox) != before
    plan = tmp_path / "plan.json"
    res = cli("plan", "keycloak", "--backup", key, "-o", str(plan), "--detailed-exitcode")
    assert res.returncode == 2, res.stderr
    res = cli("apply", str(plan), "--auto-approve")
    assert res.returncode == 0, res.stderr
    assert fingerprint(sandbox) == before
    assert settings(sandbox) == settings_before
    wait_healthy(sandbox)


def test_plan_names_the_missing_verb_and_writes_no_plan(sandbox, rbac, tmp_path):
    kubeconfig = _kubeconfig(sandbox, "pgrestore-limited", tmp_path / "limited.kubeconfig")
    cli = Cli(sandbox, {"KUBECONFIG": str(kubeconfig)})
    plan = tmp_path / "plan.json"
    res = cli("plan", "keycloak", "-o", str(plan))
    assert res.returncode == 77, res.stderr
    assert "delete postgresqls" in res.stderr
    assert "create postgresqls" not in res.stderr
    assert not plan.exists()
