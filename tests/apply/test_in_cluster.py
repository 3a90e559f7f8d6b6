"""`apply --in-cluster` on the sandbox. The Job's pod is a real `pgrestore` process that the node agent runs with
the pgrestore ServiceAccount's token and nothing else of this machine (sandbox/pgrestore_sandbox/podprocess.py),
so the API server enforces exactly deploy/rbac.yaml on it.

- The follower (the operator's terminal) is killed: the Job finishes the restore, and `status` and `attach`
  say so from another process.
- The Job's pod goes mid-restore (removed at once, as on a node that died; or evicted with a grace period, as
  `kubectl drain` does): the pod the Job controller makes next resumes from the journal in the cluster and
  finishes.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from kubernetes import client

from pgrestore_sandbox.s3 import BUCKET
from pgrestore_sandbox.s3 import client as s3_client
from tests.apply.heal import heal
from tests.helpers import wait_until

from .conftest import (
    NS,
    break_keycloak,
    client_ready,
    fingerprint,
    make_backup,
    secrets_not_opening,
    settings,
    wait_healthy,
)

RBAC = Path(__file__).resolve().parents[2] / "deploy" / "rbac.yaml"
JOBS = "pgrestore.dev/service=keycloak,app.kubernetes.io/component=apply"
STREAM_SECONDS = 12.0  # the restore's length under the exec-rate drill: long enough to kill it half-way


@pytest.fixture(scope="module")
def service_account(sandbox):
    """deploy/rbac.yaml as a site applies it, and the token Secret the controller-manager makes for it."""
    res = subprocess.run(["kubectl", "--kubeconfig", str(sandbox.state.kubeconfig), "apply", "-f", str(RBAC)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr

    def token() -> bool:
        sa = sandbox.api.core.read_namespaced_service_account("pgrestore", NS)
        return bool(sa.secrets)
    wait_until("the pgrestore ServiceAccount's token", token, timeout=60)


@pytest.fixture
def jobs_removed(sandbox):
    """No apply Job or pod outlives the test, however it ends (a failing one may still be running)."""
    yield
    for job in sandbox.api.batch.list_namespaced_job(NS, label_selector=JOBS).items:
        sandbox.api.batch.delete_namespaced_job(job.metadata.name, NS, propagation_policy="Background")
    for pod in sandbox.api.core.list_namespaced_pod(NS, label_selector=JOBS).items:
        try:
            sandbox.api.core.delete_namespaced_pod(pod.metadata.name, NS, grace_period_seconds=0)
        except client.ApiException as e:
            if e.status != 404:  # the Job's deletion may have taken it already
                raise
    wait_until("the apply Jobs' pods gone", lambda: not sandbox.api.core.list_namespaced_pod(
        NS, label_selector=JOBS).items, timeout=60)


def _journal(sandbox, plan: Path) -> dict:
    """The journal in the cluster, if it is this plan's (until the Job writes it, it is an earlier apply's)."""
    try:
        cm = sandbox.api.core.read_namespaced_config_map("pgrestore-journal-keycloak", NS)
    except client.ApiException:
        return {}
    journal = json.loads((cm.data or {}).get("journal.json") or "{}")
    return journal if journal.get("plan_checksum") == json.loads(plan.read_text())["checksum"] else {}


def _step(sandbox, plan: Path, step: str) -> str | None:
    return ((_journal(sandbox, plan).get("steps") or {}).get(step) or {}).get("status")


def _job_pods(sandbox) -> list[client.V1Pod]:
    return sandbox.api.core.list_namespaced_pod(NS, label_selector=JOBS).items


def _planned(cli, sandbox, tmp_path: Path) -> tuple[Path, dict, tuple, int]:
    """A backup, the data and settings it holds, then broken data and a plan to restore it."""
    wait_healthy(sandbox)
    key = make_backup(sandbox, "psql")
    size = s3_client(sandbox.s3_endpoint).head_object(Bucket=BUCKET, Key=key)["ContentLength"]
    good = fingerprint(sandbox), settings(sandbox)
    break_keycloak(sandbox)
    plan = tmp_path / "plan.json"
    res = cli("plan", "keycloak", "--backup", key, "-o", str(plan))
    assert res.returncode == 0, res.stderr
    return plan, good[0], good[1], size


def _restored_as_backed_up(sandbox, plan: Path, data: dict, before: tuple) -> None:
    journal = _journal(sandbox, plan)
    assert journal["status"] == "done"
    assert {r["status"] for r in journal["steps"].values()} <= {"done", "skipped"}
    assert fingerprint(sandbox) == data, "every table as in the backup"
    wait_until("the client Ready", lambda: client_ready(sandbox), timeout=90)
    assert secrets_not_opening(sandbox) == [], "every credential secret opens the database"
    assert settings(sandbox) == before, "(client replicas, numberOfInstances) as before"


def test_the_job_finishes_the_restore_after_its_follower_is_killed(sandbox, cli, tmp_path, service_account,
                                                                    jobs_removed):
    plan, data, before, _ = _planned(cli, sandbox, tmp_path)
    follower = cli.popen("apply", str(plan), "--in-cluster", "--auto-approve", "--json")
    wait_until("the Job's apply to reach the delete", lambda: _step(sandbox, plan, "07-delete-cluster") in (
        "running", "done"), timeout=120)
    follower.kill()
    follower.wait(timeout=30)

    wait_until("the Job's apply to end", lambda: _journal(sandbox, plan).get("status") in (
        "done", "failed", "rolled-back", "rollback-incomplete"), timeout=300)
    _restored_as_backed_up(sandbox, plan, data, before)
    (pod,) = _job_pods(sandbox)
    assert pod.spec.service_account_name == "pgrestore"
    wait_until("the Job's pod Succeeded", lambda: _job_pods(sandbox)[0].status.phase == "Succeeded", timeout=30)

    status = cli("status", "keycloak")
    assert status.returncode == 0, status.stderr
    assert status.stdout.startswith("keycloak (services): done"), status.stdout
    assert f"in-cluster: Job {NS}/{pod.metadata.labels['job-name']} succeeded" in status.stdout
    attach = cli("attach", "keycloak")
    assert attach.returncode == 0, attach.stderr
    assert "is done: keycloak restored" in attach.stderr


# How the pod goes: removed at once (a node that died; its process is SIGKILLed and never releases the lease),
# or deleted with a grace period as `kubectl drain` evicts it (SIGTERM: the apply stops where it is and releases
# the lease; the Job makes the next pod while this one is still terminating).
GRACE = {"killed": 0, "drained": 30}


@pytest.mark.parametrize("how", GRACE)
def test_a_job_pod_gone_mid_restore_is_replaced_and_the_next_pod_finishes_it(sandbox, cli, tmp_path, how,
                                                                             service_account, jobs_removed,
                                                                             exec_rate):
    plan, data, before, size = _planned(cli, sandbox, tmp_path)
    follower = cli.popen("apply", str(plan), "--in-cluster", "--auto-approve", "--json")
    wait_until("the Job's apply to reach the delete", lambda: _step(sandbox, plan, "07-delete-cluster") in (
        "running", "done"), timeout=120)
    exec_rate(max(1024.0, size / STREAM_SECONDS))  # execs started from now on: the restore's
    wait_until("the restore to stream", lambda: _step(sandbox, plan, "09-restore-dump") == "running", timeout=120)
    time.sleep(STREAM_SECONDS / 3)
    (killed,) = _job_pods(sandbox)
    sandbox.api.core.delete_namespaced_pod(killed.metadata.name, NS, grace_period_seconds=GRACE[how])
    exec_rate(0)
    assert _step(sandbox, plan, "09-restore-dump") == "running", "killed mid-restore, not after"

    wait_until("the Job's next pod", lambda: any(p.metadata.uid != killed.metadata.uid for p in _job_pods(sandbox)),
               timeout=60)
    assert follower.wait(timeout=400) == 0, follower.stderr.read()[-3000:] if follower.stderr else ""
    _restored_as_backed_up(sandbox, plan, data, before)
    wait_until("the gone pod's object removed", lambda: len(_job_pods(sandbox)) == 1, timeout=60)
    (replacement,) = _job_pods(sandbox)
    assert replacement.metadata.uid != killed.metadata.uid and replacement.status.phase == "Succeeded"


def test_cancel_stops_the_job_before_its_next_step_and_it_rolls_back(sandbox, cli, tmp_path, service_account,
                                                                     jobs_removed, exec_rate, seeded_data):
    """`pgrestore cancel` from another terminal while the Job restores: the restore under way finishes, the
    next step does not start, the rollback puts back what the service held before the apply (the safety
    dump's data), and the follower ends with the apply's own exit code (5)."""
    plan, _, before, size = _planned(cli, sandbox, tmp_path)
    as_before_apply = fingerprint(sandbox)  # broken, as _planned left it: what a rollback must put back
    follower = cli.popen("apply", str(plan), "--in-cluster", "--auto-approve", "--json")
    wait_until("the Job's apply to reach the delete", lambda: _step(sandbox, plan, "07-delete-cluster") in (
        "running", "done"), timeout=120)
    exec_rate(max(1024.0, size / (STREAM_SECONDS / 2)))
    wait_until("the restore to stream", lambda: _step(sandbox, plan, "09-restore-dump") == "running", timeout=120)
    cancelled = cli("cancel", "keycloak")
    exec_rate(0)
    assert cancelled.returncode == 0, cancelled.stderr
    assert "to stop before its next step and roll back" in cancelled.stdout

    assert follower.wait(timeout=400) == 5
    assert follower.stderr is not None
    assert "stopped because: cancelled by " in follower.stderr.read()
    journal = _journal(sandbox, plan)
    assert journal["status"] == "rolled-back"
    assert journal["steps"]["09-restore-dump"]["status"] == "done", "the restore under way was not cut short"
    assert journal["steps"]["10-secrets-from-manifest"]["status"] == "pending", "no step after the request"
    assert journal["ended_because"].startswith("cancelled by ")
    assert fingerprint(sandbox) == as_before_apply, "the data as before the apply"
    wait_until("the client Ready", lambda: client_ready(sandbox), timeout=90)
    assert secrets_not_opening(sandbox) == [] and settings(sandbox) == before
    heal(sandbox, seeded_data)  # the rollback put the broken data back: the next tests need keycloak's tables
