"""Every recreate-single service of the runbook besides Keycloak, restored as a user would:
backup → break → plan → apply, then every table of every database, the workloads, the secrets and
the scale settings checked against the backup and the plan."""

from __future__ import annotations

import json

import pytest

from sandbox.backup import backup

from .service_state import (credential_secrets, fingerprint, secrets_not_opening, service, settings, wait_healthy,
                            workloads_not_ready)

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


@pytest.mark.parametrize("name", ["spire", "vcs", "capsules-warehouse", "capsules-dispatch"])
def test_restore_from_backup(sandbox, cli, tmp_path, name):
    svc = service(name)
    wait_healthy(sandbox, svc)
    key = backup(sandbox.state, name, "psql")[0][0]
    before, settings_before = fingerprint(sandbox, svc), settings(sandbox, svc)
    manifest_users = {u: pw for u, pw in credential_secrets(sandbox, svc).values()}
    assert cli("sandbox", "break", name, "--how", "drop-table").returncode == 0
    assert fingerprint(sandbox, svc) != before

    plan = tmp_path / f"{name}.plan.json"
    res = cli("plan", name, "--backup", key, "-o", str(plan), "--detailed-exitcode")
    assert res.returncode == 2, res.stderr
    shown = cli("show", str(plan)).stdout
    assert f"deletes the data volumes of {svc.cluster}" in shown
    res = cli("apply", str(plan), "--auto-approve")
    assert res.returncode == 0, res.stderr + res.stdout

    assert fingerprint(sandbox, svc) == before, "every table of every database as backed up"
    assert not workloads_not_ready(sandbox, svc)
    assert not secrets_not_opening(sandbox, svc), "every credential secret opens the database"
    assert settings(sandbox, svc) == settings_before
    assert {u: pw for u, pw in credential_secrets(sandbox, svc).values()} == manifest_users, \
        "the secrets are the backup's (the manifest), as the restored roles expect"
    if name == "spire":
        _assert_agents_restarted(sandbox, svc)
    if name == "capsules-dispatch":
        assert "calls this restore unnecessary" in shown
        assert any("unnecessary" in n for n in json.loads(plan.read_text())["notes"])


def _assert_agents_restarted(sandbox, svc) -> None:
    """Spire's agents and JWKS were rollout-restarted after the server came back (csm-procedures.md §1)."""
    agent = sandbox.api.apps.read_namespaced_daemon_set("spire-agent", svc.namespace)
    jwks = sandbox.api.apps.read_namespaced_deployment("spire-jwks", svc.namespace)
    for obj in (agent, jwks):
        assert RESTARTED_AT in (obj.spec.template.metadata.annotations or {}), obj.metadata.name
