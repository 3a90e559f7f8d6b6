"""Bad plans and bad backups are refused with a clear message, the right exit code and no change."""

from __future__ import annotations

import json
import time

from pgrestore.contract.document import render
from pgrestore_sandbox import s3 as sandbox_s3
from tests.helpers import resigned

from .conftest import CLIENT, NS, cluster_uid, make_backup, settings, wait_healthy


def _plan(cli, tmp_path, key, name="plan.json"):
    path = tmp_path / name
    res = cli("plan", "keycloak", "--backup", key, "-o", str(path))
    assert res.returncode == 0, res.stderr
    return path


def _unchanged(sandbox, uid, before):
    return cluster_uid(sandbox) == uid and settings(sandbox) == before


def test_stale_plan_is_refused_after_the_client_was_rescaled(sandbox, cli, tmp_path):
    wait_healthy(sandbox)
    plan = _plan(cli, tmp_path, make_backup(sandbox, "psql"))
    uid = cluster_uid(sandbox)
    sandbox.api.apps.patch_namespaced_stateful_set_scale(CLIENT, NS, {"spec": {"replicas": 2}})
    try:
        res = cli("apply", str(plan), "--auto-approve")
        assert res.returncode == 3
        assert "stale" in res.stderr and "replicas" in res.stderr and "re-run `pgrestore plan`" in res.stderr
        assert _unchanged(sandbox, uid, (2, 3))
    finally:
        sandbox.api.apps.patch_namespaced_stateful_set_scale(CLIENT, NS, {"spec": {"replicas": 3}})
    wait_healthy(sandbox)


def test_edited_plan_is_refused(sandbox, cli, tmp_path):
    plan = _plan(cli, tmp_path, make_backup(sandbox, "psql"))
    doc = json.loads(plan.read_text())
    scale = next(s for s in doc["steps"] if s["kind"] == "scale-workload")
    scale["params"]["replicas"] = 1
    plan.write_text(json.dumps(doc))
    uid, before = cluster_uid(sandbox), settings(sandbox)
    res = cli("apply", str(plan), "--auto-approve")
    assert res.returncode == 3 and "changed after it was made" in res.stderr
    assert _unchanged(sandbox, uid, before)


def test_plan_for_another_cluster_is_refused(sandbox, cli, tmp_path):
    plan = _plan(cli, tmp_path, make_backup(sandbox, "psql"))
    doc = json.loads(plan.read_text())
    doc["cluster"]["kube_system_uid"] = "00000000-0000-0000-0000-000000000000"
    resigned(doc, sandbox)  # a well-formed plan, just made elsewhere
    plan.write_text(render(doc))
    uid, before = cluster_uid(sandbox), settings(sandbox)
    res = cli("apply", str(plan), "--auto-approve")
    assert res.returncode == 3 and "plan is for cluster" in res.stderr
    assert _unchanged(sandbox, uid, before)


def test_unknown_format_version_and_schema_errors_name_the_problem(sandbox, cli, tmp_path):
    plan = _plan(cli, tmp_path, make_backup(sandbox, "psql"))
    doc = json.loads(plan.read_text())
    plan.write_text(json.dumps({**doc, "format_version": "9.9"}))
    res = cli("apply", str(plan), "--auto-approve")
    assert res.returncode == 3 and "format_version '9.9'" in res.stderr
    del doc["steps"][0]["destructive"]
    plan.write_text(json.dumps(doc))
    res = cli("apply", str(plan), "--auto-approve")
    assert res.returncode == 3 and "$.steps[0]" in res.stderr and "destructive" in res.stderr


def test_a_truncated_newest_backup_is_skipped_by_latest_and_refused_by_name(sandbox, cli, tmp_path):
    wait_healthy(sandbox)
    key = make_backup(sandbox, "psql")
    s3 = sandbox_s3.client(sandbox.s3_endpoint)
    body = s3.get_object(Bucket="postgres-backup", Key=key)["Body"].read()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 3600))  # newer than any real one
    bad = f"keycloak-postgres-{stamp}"
    s3.put_object(Bucket="postgres-backup", Key=f"{bad}.psql", Body=body[: len(body) // 2])
    manifest = s3.get_object(Bucket="postgres-backup", Key=key.replace(".psql", ".manifest"))["Body"].read()
    s3.put_object(Bucket="postgres-backup", Key=f"{bad}.manifest", Body=manifest)
    try:
        plan = _plan(cli, tmp_path, "latest")
        doc = json.loads(plan.read_text())
        assert doc["backup"]["key"] == key, "latest passes over the truncated pair to the newest intact one"
        assert any(bad in n and "trailer" in n for n in doc["notes"])
        assert bad in cli("show", str(plan)).stdout
        uid, before = cluster_uid(sandbox), settings(sandbox)
        res = cli("plan", "keycloak", "--backup", f"{bad}.psql", "-o", str(tmp_path / "bad.json"))
        assert res.returncode == 65 and "trailer" in res.stderr and "truncated" in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1 and not (tmp_path / "bad.json").exists()
        assert _unchanged(sandbox, uid, before)
    finally:
        for suffix in (".psql", ".manifest"):
            s3.delete_object(Bucket="postgres-backup", Key=bad + suffix)


def test_second_concurrent_apply_is_refused_with_the_holder(sandbox, cli, tmp_path):
    wait_healthy(sandbox)
    key = make_backup(sandbox, "psql")
    first, second = _plan(cli, tmp_path, key, "a.json"), _plan(cli, tmp_path, key, "b.json")
    proc = cli.popen("apply", str(first), "--auto-approve", "--json")
    for line in proc.stdout:
        if json.loads(line).get("step") == "05-scale-workload":
            break
    res = cli("apply", str(second), "--auto-approve")
    assert res.returncode == 4
    assert "held by" in res.stderr and "force-unlock" in res.stderr
    rest = proc.stdout.read()
    assert proc.wait() == 0, proc.stderr.read() + rest
    wait_healthy(sandbox)


def test_without_a_terminal_apply_needs_auto_approve(sandbox, cli, tmp_path):
    plan = _plan(cli, tmp_path, make_backup(sandbox, "psql"))
    uid, before = cluster_uid(sandbox), settings(sandbox)
    res = cli("apply", str(plan))
    assert res.returncode == 64 and "--auto-approve" in res.stderr
    assert _unchanged(sandbox, uid, before)


def test_planning_is_refused_while_an_apply_is_unfinished(sandbox, cli, tmp_path):
    wait_healthy(sandbox)
    plan = _plan(cli, tmp_path, make_backup(sandbox, "psql"))
    proc = cli.popen("apply", str(plan), "--auto-approve", "--json")
    for line in proc.stdout:
        if json.loads(line) == {**json.loads(line), "event": "step_finished", "step": "05-scale-workload"}:
            proc.kill()  # a crash: the journal says running, the lease is left behind
            break
    proc.wait()
    res = cli("plan", "keycloak", "-o", str(tmp_path / "mid.json"))
    assert res.returncode == 64 and "holds lease" in res.stderr
    assert not (tmp_path / "mid.json").exists()
    res = cli("apply", str(plan), "--auto-approve", "--resume")
    assert res.returncode == 0, res.stderr
    wait_healthy(sandbox)
