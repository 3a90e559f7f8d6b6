"""The Job an in-cluster apply runs as: what it needs comes from the cluster (the plan's Secret, the ServiceAccount
token), never from a node; a replacement pod resumes; the image's user is the one the Job runs as."""

from __future__ import annotations

import re
from pathlib import Path

from pgrestore.core import apply_job, services

ROOT = Path(__file__).resolve().parents[2]


def _job(**kw) -> dict:
    return apply_job.manifest("keycloak", "services", "pgrestore-apply-keycloak-20261207230000",
                              "registry.local/pgrestore:1.0", "sha256:" + "ab" * 32, **kw)


def test_the_job_applies_the_stored_plan_as_the_shipped_service_account_with_nothing_from_the_node():
    pod = _job()["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["serviceAccountName"] == "pgrestore"
    assert pod["restartPolicy"] == "Never"
    assert container["args"][:2] == ["apply", "/etc/pgrestore/plan/plan.json"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["plan"] == {"name": "plan", "secret": {"secretName": "pgrestore-plan-keycloak"}}
    assert set(volumes["state"]) == {"name", "emptyDir"}
    assert not any("hostPath" in v for v in pod["volumes"]), "nothing of the node"
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["plan"]["readOnly"] is True
    env = {e["name"]: e for e in container["env"]}
    assert env["PGRESTORE_STATE_DIR"]["value"] == mounts["state"]["mountPath"], "journal and log in the emptyDir"
    assert env["PGRESTORE_POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


def test_a_replacement_pod_resumes():
    job = _job(extra_args=("--confirm", "10-manual"))
    assert job["spec"]["backoffLimit"] >= 1, "a drained pod counted as failed must not fail the Job"
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--resume-if-started" in args and "--auto-approve" in args
    assert args[-2:] == ["--confirm", "10-manual"]


def test_job_names_are_valid_for_every_service():
    for name in services.load_all():
        job = apply_job.job_name(name)
        assert len(job) <= 63 and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", job), job


def test_the_image_runs_as_the_user_the_job_asks_for():
    containerfile = (ROOT / "deploy" / "Containerfile").read_text()
    user = re.search(r"^USER (\d+)", containerfile, re.M)
    context = _job()["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    assert user is not None and int(user.group(1)) == context["runAsUser"]
    assert re.search(r"pip install .*--no-index", containerfile), "the image installs from wheels it built"


def test_job_state_and_exit_code():
    assert apply_job.state_of({"status": {"active": 1}}) == "running"
    assert apply_job.state_of({"status": {"conditions": [{"type": "Complete", "status": "True"}]}}) == "succeeded"
    assert apply_job.state_of({"status": {"conditions": [{"type": "Failed", "status": "True"}]}}) == "failed"
    old = {"metadata": {"creationTimestamp": "2026-12-07T23:00:00Z"},
           "status": {"containerStatuses": [{"state": {"terminated": {"exitCode": 137}}}]}}
    new = {"metadata": {"creationTimestamp": "2026-12-07T23:01:00Z"},
           "status": {"containerStatuses": [{"state": {"terminated": {"exitCode": 5}}}]}}
    assert apply_job.exit_code_of([old, new]) == 5
    assert apply_job.exit_code_of([{"metadata": {}, "status": {"phase": "Running"}}]) is None
