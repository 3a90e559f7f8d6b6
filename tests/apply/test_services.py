"""Every recreate-single service of the runbook besides Keycloak, restored as a user would:
backup → break → plan → apply, then every table of every database, the workloads, the secrets and
the scale settings checked against the backup and the plan."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from pgrestore_sandbox import podfs
from pgrestore_sandbox import s3 as sandbox_s3
from pgrestore_sandbox import settings as sandbox_settings
from pgrestore_sandbox.backup import backup
from tests.helpers import vcs_backup_tgz

from .service_state import (
    RESTARTED_AT,
    credential_secrets,
    fingerprint,
    secrets_not_opening,
    service,
    settings,
    wait_healthy,
    workloads_not_ready,
)


# Every service is restored by tests/apply/test_plan_set.py's `plan --all` (Spire's host steps included);
# here VCS from backup_vcs.sh's .tgz with its volume, and Spire's manual and failing host steps below.
@pytest.mark.parametrize("name", ["vcs"])
def test_restore_from_backup(sandbox, cli, tmp_path, name):
    svc = service(name)
    wait_healthy(sandbox, svc)
    key = backup(sandbox.state, name, "psql")[0][0]
    before, settings_before = fingerprint(sandbox, svc), settings(sandbox, svc)
    manifest_users = {u: pw for u, pw in credential_secrets(sandbox, svc).values()}
    assert cli("sandbox", "break", name, "--how", "drop-table").returncode == 0
    assert fingerprint(sandbox, svc) != before

    plan = tmp_path / f"{name}.plan.json"
    source = ["--backup", key]
    if name == "vcs":  # as CSM 1.6's backup_vcs.sh leaves it: a .tgz of the dump, the manifest, the volume
        source = ["--dump", str(_as_vcs_tgz(sandbox, key, tmp_path))]
        volume_before = _files(GITEA_VOLUME(sandbox))
        _work_since_the_backup(GITEA_VOLUME(sandbox))
    res = cli("plan", name, *source, "-o", str(plan), "--detailed-exitcode")
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
    if name == "vcs":
        after = _files(GITEA_VOLUME(sandbox))
        # Every backed-up file is back as it was (the moved branch too). A repository made since stays, as
        # restore_vcs.sh's `tar -C / -xf` leaves it: extracting never deletes.
        assert {k: after.get(k) for k in volume_before} == volume_before
        assert "git/repositories/cray/new-since-backup.git/HEAD" in after
        gitea = sandbox.api.apps.read_namespaced_deployment("gitea-vcs", svc.namespace)
        assert RESTARTED_AT in (gitea.spec.template.metadata.annotations or {}), "Gitea restarted onto it"


def GITEA_VOLUME(sandbox) -> Path:  # noqa: N802 - a path, read like a constant
    return podfs.root_for(sandbox.state, "services", "vcs") / "var/lib/gitea"


def _as_vcs_tgz(sandbox, key: str, folder):
    """backup_vcs.sh's .tgz: the backup's dump and manifest, and a tar of Gitea's volume as it is now."""
    client = sandbox_s3.client(sandbox.s3_endpoint)
    body = {k: client.get_object(Bucket="postgres-backup", Key=k)["Body"].read()
            for k in (key, key.replace(".psql", ".manifest"))}
    archive = folder / "gitea-vcs-20240501020005-AbC123.tgz"
    vcs_backup_tgz(archive, body[key], body[key.replace(".psql", ".manifest")],
                   volume_root=GITEA_VOLUME(sandbox).parents[2])
    return archive


def _files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _work_since_the_backup(volume: Path) -> None:
    """A repository pushed and a branch moved after the backup was taken."""
    new = volume / "git/repositories/cray/new-since-backup.git"
    new.mkdir(parents=True)
    (new / "HEAD").write_text("ref: refs/heads/main\n")
    (volume / "git/repositories/cray/csm-config-management.git/refs/heads/main").write_text("0" * 40 + "\n")


def _spire_backup_and_break(sandbox, cli) -> tuple[str, dict]:
    svc = service("spire")
    wait_healthy(sandbox, svc)
    key = backup(sandbox.state, "spire", "psql")[0][0]
    before = fingerprint(sandbox, svc)
    assert cli("sandbox", "break", "spire", "--how", "drop-table").returncode == 0
    return key, before


def test_spire_manual_host_steps_stop_and_resume_when_confirmed(sandbox, cli, tmp_path):
    """--no-host-steps: apply stops at each host step with exit 7 and the exact pdsh command, does
    not go on until the operator confirms that step, and then finishes the restore."""
    svc = service("spire")
    key, before = _spire_backup_and_break(sandbox, cli)
    plan = tmp_path / "spire.plan.json"
    assert cli("plan", "spire", "--backup", key, "--no-host-steps", "-o", str(plan)).returncode == 0
    manual = [s["id"] for s in json.loads(plan.read_text())["steps"] if s["kind"] == "manual"]
    assert len(manual) == 2
    assert f"apply stops at {manual[0]}" in cli("show", str(plan)).stdout

    res = cli("apply", str(plan), "--auto-approve")
    assert res.returncode == 7, res.stderr
    assert "pdsh -S -w ncn-m001,ncn-m002,ncn-m003,ncn-s001,ncn-s002,ncn-s003,ncn-w001,ncn-w002,ncn-w003 " \
           "'systemctl restart spire-agent'" in res.stderr
    assert f"--resume --confirm {manual[0]}" in res.stderr
    assert fingerprint(sandbox, svc) == before, "the data is back before the host steps"
    res = cli("apply", str(plan), "--auto-approve", "--resume")
    assert res.returncode == 7 and manual[0] in res.stderr, "no confirmation, no progress"

    res = cli("apply", str(plan), "--auto-approve", "--resume", "--confirm", manual[0])
    assert res.returncode == 7 and manual[1] in res.stderr
    res = cli("apply", str(plan), "--auto-approve", "--resume", "--confirm", manual[1])
    assert res.returncode == 0, res.stderr
    assert not workloads_not_ready(sandbox, svc) and not secrets_not_opening(sandbox, svc)


def test_spire_host_step_failing_on_one_node_keeps_the_restore_and_resume_finishes(sandbox, cli, tmp_path):
    """`systemctl restart spire-agent` fails on ncn-w002: pdsh -S exits 1 and the step fails. Spire's server
    is back on the restored, verified data by then: nothing rolls back (exit 8), and `--resume` once the
    node is fixed finishes the apply."""
    svc = service("spire")
    wait_healthy(sandbox, svc)
    key = backup(sandbox.state, "spire", "psql")[0][0]
    before = fingerprint(sandbox, svc)
    plan = tmp_path / "spire.plan.json"
    assert cli("plan", "spire", "--backup", key, "-o", str(plan)).returncode == 0
    sandbox_settings.update(sandbox.state, failing_hosts=["ncn-w002"])
    try:
        res = cli("apply", str(plan), "--auto-approve")
    finally:
        sandbox_settings.update(sandbox.state, failing_hosts=[])
    assert res.returncode == 8, res.stderr
    assert "ncn-w002" in res.stderr and "exited 1" in res.stderr and "--resume" in res.stderr
    assert fingerprint(sandbox, svc) == before, "the restored data (as backed up) is kept"
    res = cli("apply", str(plan), "--auto-approve", "--resume")
    assert res.returncode == 0, res.stderr
    assert fingerprint(sandbox, svc) == before
    wait_healthy(sandbox, svc)
