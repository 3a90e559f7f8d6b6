"""The operator's other tools: rollback on demand, force-unlock, local dumps."""

from __future__ import annotations

import json
import re
import signal

from pgrestore_sandbox import s3 as sandbox_s3
from tests.helpers import wait_until

from .conftest import (
    NS,
    break_keycloak,
    client_ready,
    fingerprint,
    make_backup,
    secrets_open_database,
    settings,
    wait_healthy,
)


def test_rollback_on_demand_puts_back_the_planned_scale_settings(sandbox, cli, tmp_path):
    wait_healthy(sandbox)
    plan = tmp_path / "plan.json"
    assert cli("plan", "keycloak", "--backup", make_backup(sandbox, "psql"), "-o", str(plan)).returncode == 0
    never = cli("rollback", str(plan))
    assert never.returncode == 64 and "never applied" in never.stderr and settings(sandbox) == (3, 3)
    proc = cli.popen("apply", str(plan), "--auto-approve", "--json")
    for line in proc.stdout:
        if json.loads(line) == {**json.loads(line), "event": "step_finished", "step": "05-scale-workload"}:
            proc.kill()  # a crash after the client went to 0
            break
    proc.wait()
    assert settings(sandbox) == (0, 3)
    res = cli("rollback", str(plan))
    assert res.returncode == 0, res.stderr
    assert settings(sandbox) == (3, 3)
    wait_until("3 Ready clients", lambda: client_ready(sandbox))


def test_force_unlock_frees_a_dead_applys_lock_and_resume_finishes(sandbox, cli, tmp_path):
    wait_healthy(sandbox)
    key = make_backup(sandbox, "psql")
    before = fingerprint(sandbox)
    break_keycloak(sandbox)
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    for p in (first, second):
        assert cli("plan", "keycloak", "--backup", key, "-o", str(p)).returncode == 0
    proc = cli.popen("apply", str(first), "--auto-approve", "--json")
    for line in proc.stdout:
        if json.loads(line) == {**json.loads(line), "event": "step_finished", "step": "05-scale-workload"}:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait()

    refused = cli("apply", str(second), "--auto-approve")
    assert refused.returncode == 4
    lock_id = re.search(r"force-unlock <service> (\S+)", refused.stderr).group(1)
    assert cli("force-unlock", "keycloak", "not-the-id").returncode == 64
    res = cli("force-unlock", "keycloak", lock_id)
    assert res.returncode == 0 and "removed lease" in res.stdout
    assert sandbox.api.coordination.list_namespaced_lease(NS).items == []

    res = cli("apply", str(first), "--auto-approve", "--resume")
    assert res.returncode == 0, res.stderr
    assert fingerprint(sandbox) == before and client_ready(sandbox) and secrets_open_database(sandbox)


def test_plan_and_apply_a_local_dump_and_manifest(sandbox, cli, tmp_path):
    wait_healthy(sandbox)
    key = make_backup(sandbox, "psql")
    s3 = sandbox_s3.client(sandbox.s3_endpoint)
    dump, manifest = tmp_path / "keycloak.psql", tmp_path / "keycloak.manifest"
    s3.download_file("postgres-backup", key, str(dump))
    s3.download_file("postgres-backup", key.replace(".psql", ".manifest"), str(manifest))
    before = fingerprint(sandbox)
    break_keycloak(sandbox)
    plan = tmp_path / "plan.json"
    res = cli("plan", "keycloak", "--dump", str(dump), "--manifest", str(manifest), "-o", str(plan))
    assert res.returncode == 0, res.stderr
    doc = json.loads(plan.read_text())
    assert doc["backup"]["source"] == "file" and len(doc["backup"]["sha256"]) == 64
    res = cli("apply", str(plan), "--auto-approve")
    assert res.returncode == 0, res.stderr
    assert fingerprint(sandbox) == before and client_ready(sandbox) and secrets_open_database(sandbox)
