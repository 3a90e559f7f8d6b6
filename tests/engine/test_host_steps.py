"""Host and manual steps on the fakes: Keycloak given Spire's kind of host steps (a site's service
file could), planned by the real planner and run by the real engine. `pdsh` is a script on PATH
that answers as pdsh -S does, so the host-command executor runs a real subprocess."""

from __future__ import annotations

import dataclasses
import os

import pytest

from pgrestore.contract.model import HostStep
from pgrestore.core import services
from pgrestore.errors import AwaitingOperator, RestoreKept
from pgrestore.executors import engine
from pgrestore.planner.options import PlanOptions
from tests.fakes.rehearsal import Rehearsal

RESTART = HostStep("restart spire-agent on every management node", "systemctl restart spire-agent")
FETCH = HostStep("fetch a JWT through every agent", "heartbeat-spire-agent api fetch jwt", expect_output=r"token\(")
NODES = ["ncn-m001", "ncn-m002", "ncn-m003", "ncn-s001", "ncn-w001", "ncn-w002", "ncn-w003"]

# pdsh -S: each line `<host>: …`, exit status the largest of the hosts'. FAIL_ON names a host whose
# command fails; SILENT_ON one that prints nothing (no token).
FAKE_PDSH = """#!/bin/sh
[ "$1" = "-S" ] && [ "$2" = "-w" ] || exit 2
status=0
for h in $(echo "$3" | tr ',' ' '); do
  echo "$h ran: $4" >> "$PDSH_LOG"
  if [ "$h" = "$FAIL_ON" ]; then echo "$h: Job for spire-agent.service failed" >&2; status=1; continue; fi
  case "$4" in *fetch*) [ "$h" = "$SILENT_ON" ] ||
    printf '%s: token(spiffe://shasta/%s):\\n%s: \\tjwt\\n' "$h" "$h" "$h";; esac
done
exit $status
"""


@pytest.fixture
def rehearsal(tmp_path, monkeypatch) -> Rehearsal:
    service = dataclasses.replace(services.load("keycloak"), host_steps=[RESTART, FETCH], storage_nodes=["ncn-s001"])
    return Rehearsal.keycloak(tmp_path, monkeypatch, service=service)


@pytest.fixture
def pdsh(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    script = bindir / "pdsh"
    script.write_text(FAKE_PDSH)
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    monkeypatch.setenv("PDSH_LOG", str(tmp_path / "pdsh.log"))
    return tmp_path / "pdsh.log"


def _apply(r: Rehearsal, path, resume: bool = False, confirmed: tuple[str, ...] = ()) -> str:
    opts = engine.Options(auto_approve=True, resume=resume, confirmed=confirmed)
    plan, kube, s3, journal = engine.prepare(path, opts)
    return engine.run(plan, kube=kube, s3=s3, journal=journal, opts=opts, emit=r.stage.on_event)


def test_host_steps_run_pdsh_over_every_node_after_the_restore(rehearsal, pdsh):
    path = rehearsal.plan()
    kinds = [s.kind for s in rehearsal.loaded(path).steps]
    assert kinds[-4:] == ["host-command", "host-command", "resume-backup-jobs", "verify"]
    _apply(rehearsal, path)
    ran = pdsh.read_text().splitlines()
    assert ran == [f"{h} ran: {c}" for c in (RESTART.command, FETCH.command) for h in NODES]
    assert rehearsal.journal(path)["status"] == "done"


def test_a_node_whose_command_fails_fails_the_step_and_the_restore_is_kept(rehearsal, pdsh, monkeypatch):
    """Host steps come once the client is back on the restored data: a failure there keeps it (exit 8)."""
    monkeypatch.setenv("FAIL_ON", "ncn-w002")
    path = rehearsal.plan()
    with pytest.raises(RestoreKept, match="exited 1.*ncn-w002: Job for spire-agent.service failed.*--resume"):
        _apply(rehearsal, path)
    monkeypatch.delenv("FAIL_ON")
    _apply(rehearsal, path, resume=True)
    assert rehearsal.journal(path)["status"] == "done"


def test_a_node_without_the_expected_output_fails_the_step(rehearsal, pdsh, monkeypatch):
    monkeypatch.setenv("SILENT_ON", "ncn-m002")
    path = rehearsal.plan()
    with pytest.raises(RestoreKept, match=r"no output matching /token\\\(/ from ncn-m002"):
        _apply(rehearsal, path)


def test_without_pdsh_at_apply_the_step_fails_naming_what_to_do(rehearsal, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    path = rehearsal.plan()
    with pytest.raises(RestoreKept, match="pdsh is not installed.*--no-host-steps"):
        _apply(rehearsal, path)


def test_manual_steps_stop_apply_until_each_is_confirmed_and_nothing_rolls_back(rehearsal):
    path = rehearsal.plan(PlanOptions(manual_hosts="--no-host-steps", secrets_mode=None))
    manual = [s for s in rehearsal.loaded(path).steps if s.kind == "manual"]
    assert [m.params["command"] for m in manual] == [
        "pdsh -S -w " + ",".join(NODES) + f" '{c}'" for c in (RESTART.command, FETCH.command)]

    with pytest.raises(AwaitingOperator, match=f"step {manual[0].id} is manual: run `pdsh -S -w ") as stop:
        _apply(rehearsal, path)
    assert stop.value.exit_code == 7
    journal = rehearsal.journal(path)
    assert journal["status"] == "waiting" and journal["steps"][manual[0].id]["status"] == "waiting"
    assert all(r["status"] == "pending" for r in journal["rollback"].values()), "a wait is not a failure"

    with pytest.raises(AwaitingOperator, match=manual[0].id):
        _apply(rehearsal, path, resume=True)  # no confirmation, no progress
    with pytest.raises(AwaitingOperator, match=manual[1].id):
        _apply(rehearsal, path, resume=True, confirmed=(manual[0].id,))
    _apply(rehearsal, path, resume=True, confirmed=(manual[1].id,))
    journal = rehearsal.journal(path)
    assert journal["status"] == "done"
    assert journal["steps"][manual[1].id]["observed"] == {"confirmed_by_operator": True}
