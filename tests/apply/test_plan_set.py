"""`pgrestore plan --all`: every service of the runbook in one plan set, in the order their
service files declare, restored by one apply — killed in the second service and resumed."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time

from pgrestore_sandbox.backup import backup
from pgrestore_sandbox.services import load_services

from .conftest import confirm_manual_steps
from .service_state import (
    MANAGEMENT_NODES,
    agent_restarts,
    assert_agents_restarted,
    fingerprint,
    secrets_not_opening,
    settings,
    wait_healthy,
    workloads_not_ready,
)

ORDER = ["spire", "keycloak", "sls", "vcs", "capsules-dispatch", "capsules-warehouse", "hsm"]


def _journal(path) -> dict:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}


def test_plan_all_in_declared_order_killed_in_the_second_service_resumes_to_all_restored(sandbox, cli, tmp_path):
    svcs = load_services()
    for svc in svcs.values():
        wait_healthy(sandbox, svc)
    keys = {name: backup(sandbox.state, name, "psql")[0][0] for name in ORDER}
    before = {name: fingerprint(sandbox, svcs[name]) for name in ORDER}
    settings_before = {name: settings(sandbox, svcs[name]) for name in ORDER}
    for name in ORDER:
        assert cli("sandbox", "break", name, "--how", "drop-table").returncode == 0

    restarts_before = agent_restarts(sandbox)
    plan_set = tmp_path / "all.json"
    res = cli("plan", "--all", "-o", str(plan_set))
    assert res.returncode == 0, res.stderr
    doc = json.loads(plan_set.read_text())
    assert doc["order"] == ORDER, "Spire first, Keycloak before Capsules, SLS before HSM"
    assert [p["backup"]["key"] for p in doc["plans"]] == [keys[n] for n in ORDER]
    shown = cli("show", str(plan_set)).stdout
    assert "restored in this order: " + " -> ".join(ORDER) in shown and "hsm after sls" in shown
    assert "the CSM runbook calls this restore unnecessary" in shown, "capsules-dispatch's note is shown"

    # Kill apply once the second service (Keycloak) has deleted its cluster: mid-restore.
    second = tmp_path / "all.keycloak.journal.json"
    proc = cli.popen("apply", str(plan_set), "--auto-approve")
    deadline = time.monotonic() + 600
    while _journal(second).get("steps", {}).get("07-delete-cluster", {}).get("status") != "done":
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "keycloak never reached its delete"
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert _journal(tmp_path / "all.spire.journal.json")["status"] == "done"
    assert not (tmp_path / "all.sls.journal.json").exists(), "later services not started"

    res = cli("apply", str(plan_set), "--auto-approve")
    assert res.returncode == 64 and "--resume" in res.stderr, "a started set continues only with --resume"
    res = cli("apply", str(plan_set), "--auto-approve", "--resume", timeout=1500)
    assert res.returncode == 7 and "hsm: step" in res.stderr and "--confirm hsm/" in res.stderr, res.stderr[-3000:]
    assert "spire: restored by an earlier run of this set" in res.stderr
    res = confirm_manual_steps(cli, plan_set, res)  # HSM's rediscovery and `cray hsm service ready`
    assert res.returncode == 0, res.stderr[-3000:]

    # HSM's procedure empties comp_eth_interfaces after the restore (rediscovery fills it again).
    before["hsm"]["hmsds.comp_eth_interfaces"] = "0:" + hashlib.md5(b"").hexdigest()
    for name in ORDER:
        svc = svcs[name]
        assert fingerprint(sandbox, svc) == before[name], f"{name}: every table as backed up"
        assert not workloads_not_ready(sandbox, svc), name
        assert not secrets_not_opening(sandbox, svc), name
        assert settings(sandbox, svc) == settings_before[name], name
        assert _journal(tmp_path / f"all.{name}.journal.json")["status"] == "done", name
    # Spire's agents: the DaemonSet and JWKS rollout-restarted, and every management node's unit restarted once
    # by pdsh (the resume did not run Spire again).
    assert_agents_restarted(sandbox, svcs["spire"])
    restarted = {h: n - restarts_before.get(h, 0) for h, n in agent_restarts(sandbox).items()}
    assert restarted == {h: 1 for h in MANAGEMENT_NODES}
