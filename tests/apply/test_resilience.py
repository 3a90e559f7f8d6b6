"""Crashes, injected failures, and resume."""

from __future__ import annotations

import json
import signal

from .conftest import (
    Cli,
    break_keycloak,
    fingerprint,
    make_backup,
    settings,
    wait_healthy,
)

ROLLBACK = ["r01-ensure-cluster", "r02-restore-dump", "r03-secrets-from-manifest", "r04-restart-leader",
            "r05-set-instances", "r06-scale-workload", "r07-resume-backup-jobs"]


def test_a_wait_that_times_out_rolls_back_data_included(sandbox, tmp_path):
    wait_healthy(sandbox)
    services = tmp_path / "services"
    services.mkdir()
    # A site definition of Keycloak that gives create-cluster one second: the wait must time out.
    from pgrestore.contract.model import to_dict
    from pgrestore.core.services import load
    impatient = {**to_dict(load("keycloak")), "name": "keycloak-impatient",
                 "timeouts": {"default": 300, "create-cluster": 1}}
    (services / "keycloak-impatient.yaml").write_text(json.dumps(impatient))
    cli = Cli(sandbox, {"PGRESTORE_SERVICES_DIR": str(services)})
    key = make_backup(sandbox, "psql")
    break_keycloak(sandbox)  # the broken state is what the rollback must put back
    before, settings_before = fingerprint(sandbox), settings(sandbox)
    plan = tmp_path / "plan.json"
    assert cli("plan", "keycloak-impatient", "--backup", key, "-o", str(plan)).returncode == 0

    res = cli("apply", str(plan), "--auto-approve")
    assert res.returncode == 5, res.stderr
    assert "timed out" in res.stderr and "data included" in res.stderr
    assert settings(sandbox) == settings_before
    assert fingerprint(sandbox) == before, "the rollback put the live data back from the safety dump"
    wait_healthy(sandbox)
    journal = json.loads(plan.with_name("plan.journal.json").read_text())
    assert journal["status"] == "rolled-back"
    assert {k: r["status"] for k, r in journal["rollback"].items()} == {k: "done" for k in ROLLBACK}
    again = tmp_path / "again.json"  # and the restore itself still works
    assert cli("plan", "keycloak", "--backup", key, "-o", str(again)).returncode == 0
    assert cli("apply", str(again), "--auto-approve").returncode == 0
    wait_healthy(sandbox)


# SIGINT, as Ctrl-C sends it; SIGTERM takes the same handler (commands/apply.py), and the engine's rollback on
# either is held for every step by tests/engine/test_lease_interrupts.py.
def test_interrupting_apply_after_the_delete_rolls_back(sandbox, cli, tmp_path):
    sig = signal.SIGINT
    wait_healthy(sandbox)
    key = make_backup(sandbox, "psql")
    before, settings_before = fingerprint(sandbox), settings(sandbox)
    plan = tmp_path / "plan.json"
    assert cli("plan", "keycloak", "--backup", key, "-o", str(plan)).returncode == 0
    proc = cli.popen("apply", str(plan), "--auto-approve", "--json")
    for line in proc.stdout:
        if json.loads(line).get("step") == "08-create-cluster":
            proc.send_signal(sig)  # Ctrl-C sends SIGINT
            break
    rest = [json.loads(line) for line in proc.stdout]
    assert proc.wait() == 5, proc.stderr.read()
    assert [e["step"] for e in rest if e["event"] == "step_finished" and e["status"] == "done"] == ROLLBACK
    assert settings(sandbox) == settings_before
    assert fingerprint(sandbox) == before
    journal = json.loads(plan.with_name("plan.journal.json").read_text())
    assert journal["status"] == "rolled-back"
    assert cli("apply", str(plan), "--auto-approve").returncode == 3  # rolled-back plans are not reused
    wait_healthy(sandbox)


def test_an_exec_stream_that_hangs_fails_its_step_at_the_deadline_and_rolls_back(sandbox, tmp_path):
    """The exec-stall drill makes every exec into a Spilo pod say nothing for 120 s; a restore-dump with a
    20 s deadline must fail at about 20 s, not hang, and roll back."""
    from pgrestore.contract.model import to_dict
    from pgrestore.core.services import load
    from pgrestore_sandbox import settings as sandbox_settings
    wait_healthy(sandbox)
    services = tmp_path / "services"
    services.mkdir()
    hasty = {**to_dict(load("keycloak")), "name": "keycloak-hasty", "timeouts": {"restore-dump": 20}}
    (services / "keycloak-hasty.yaml").write_text(json.dumps(hasty))
    cli = Cli(sandbox, {"PGRESTORE_SERVICES_DIR": str(services)})
    key = make_backup(sandbox, "psql")
    before, settings_before = fingerprint(sandbox), settings(sandbox)
    plan = tmp_path / "plan.json"
    assert cli("plan", "keycloak-hasty", "--backup", key, "-o", str(plan)).returncode == 0
    proc = cli.popen("apply", str(plan), "--auto-approve", "--json")
    try:
        for line in proc.stdout:
            if json.loads(line) == {**json.loads(line), "event": "step_finished", "step": "08-create-cluster"}:
                sandbox_settings.update(sandbox.state, exec_stall_seconds=120)
                break
        events = []
        for line in proc.stdout:  # the stall ends when the restore has failed: the rollback needs exec
            events.append(json.loads(line))
            if events[-1] == {**events[-1], "event": "step_finished", "step": "09-restore-dump"}:
                sandbox_settings.update(sandbox.state, exec_stall_seconds=0)
        assert proc.wait(timeout=600) == 5, proc.stderr.read()
    finally:
        sandbox_settings.update(sandbox.state, exec_stall_seconds=0)
    failed = next(e for e in events if e.get("step") == "09-restore-dump" and e["event"] == "step_finished")
    assert failed["status"] == "failed" and "ran past its step's deadline" in failed["error"]
    assert 19 <= failed["elapsed_seconds"] < 60
    assert settings(sandbox) == settings_before
    assert fingerprint(sandbox) == before
    wait_healthy(sandbox)
