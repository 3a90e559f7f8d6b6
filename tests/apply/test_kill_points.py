"""Nothing lost, the sandbox sample of the kill matrix (the exhaustive one is tests/engine/test_kill_matrix.py).

`apply` of Keycloak (recreate-single) is SIGKILLed after each step that changes the cluster for good and in
the middle of each stream, then `apply --resume --auto-approve` must reach the end state of an uninterrupted
apply: every table as in the backup (row count and contents: a restore replayed on top of itself would
double rows or fail on existing objects), the client Ready, every credential secret opening the database,
replicas and numberOfInstances as recorded, the backup CronJobs' `suspend` as before.

Kill points covered elsewhere: after 07-delete-cluster, 09-restore-dump and 13-scale-workload
(tests/apply/test_resilience.py). Here: after 08-create-cluster, 10-secrets-from-manifest (destructive),
11-restart-leader and 12-set-instances; and mid-stream in 03-pin-backup (the copy made, its read-back held
by the S3 fault proxy), 06-safety-dump and 09-restore-dump (slowed by the sandbox's exec-rate drill,
settings.exec_bytes_per_second, and killed half-way through).

All cases restore one backup; each breaks the data first, so the resumed restore has something to do.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from pgrestore_sandbox import cronjobs
from pgrestore_sandbox.backup import backup
from pgrestore_sandbox.s3 import BUCKET
from pgrestore_sandbox.s3 import client as s3_client
from tests.faults.proxy import Delay, Fault, FaultProxy
from tests.helpers import wait_until

from . import service_state as ss
from .conftest import (
    NS,
    Cli,
    break_keycloak,
    client_ready,
    confirm_manual_steps,
    fingerprint,
    make_backup,
    secrets_not_opening,
    settings,
    wait_healthy,
)

# A sample: every step of every strategy is killed on the fakes (tests/engine/test_kill_matrix.py); here the
# destructive steps (Keycloak's delete, HSM's delete and SLS's drop below), every stream, and the step after
# the secrets changed. PGRESTORE_ALL_KILL_POINTS=1 adds the other steps of the sample.
AFTER = ["07-delete-cluster", "10-secrets-from-manifest"] + (
    ["08-create-cluster", "11-restart-leader", "12-set-instances"]
    if os.environ.get("PGRESTORE_ALL_KILL_POINTS") == "1" else [])
MID_STREAM = ["03-pin-backup", "06-safety-dump", "09-restore-dump"]
# The exec-rate drill is set so that the backup's size takes this long to stream: long enough to be killed
# half-way for sure, short enough to keep the module near five minutes. It applies to execs started while
# it is set (sandbox/execserver.py).
STREAM_SECONDS = 10.0
PINNED_READ = r"^/postgres-backup/pgrestore/keycloak/[^/]+/pinned/[^/]+\.psql$"


@dataclass(frozen=True)
class Good:
    """What an uninterrupted apply ends with: the backup's data and the settings from before."""
    key: str
    size: int
    data: dict[str, str]
    settings: tuple[int, int]
    cronjobs: dict[str, bool]


def backup_cronjobs(sandbox) -> dict[str, bool]:
    """Keycloak's backup CronJobs and whether each is suspended."""
    return {c["metadata"]["name"]: bool(c["spec"].get("suspend")) for c in cronjobs.list_in(sandbox.api, NS)
            if "keycloak" in c["metadata"]["name"]}


@pytest.fixture(scope="module")
def good(sandbox) -> Good:
    wait_healthy(sandbox)
    key = make_backup(sandbox, "psql")
    size = s3_client(sandbox.s3_endpoint).head_object(Bucket=BUCKET, Key=key)["ContentLength"]
    return Good(key, size, fingerprint(sandbox), settings(sandbox), backup_cronjobs(sandbox))


@pytest.fixture
def s3_proxy(sandbox):
    proxy = FaultProxy(sandbox.s3_endpoint, "s3").start()
    yield proxy
    proxy.stop()


class Apply:
    """`pgrestore apply --json` running in the background: its events as they come."""

    def __init__(self, cli: Cli, plan: Path):
        self.proc = cli.popen("apply", str(plan), "--auto-approve", "--json")
        self.events: list[dict] = []

    def until(self, step: str, event: str, status: str | None = None) -> dict:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            e = json.loads(line)
            self.events.append(e)
            if e.get("step") == step and e["event"] == event and (status is None or e.get("status") == status):
                return e
        raise AssertionError(f"apply ended (exit {self.proc.wait()}) before {event} {step}: "
                             f"{self.proc.stderr.read() if self.proc.stderr else ''}")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        assert self.proc.wait(timeout=60) == -signal.SIGKILL
        assert self.proc.stdout is not None
        self.events += [json.loads(line) for line in self.proc.stdout]  # what it said before it died


def journal(plan: Path) -> dict:
    return json.loads(plan.with_name(plan.name.removesuffix(".json") + ".journal.json").read_text())


def resume(cli: Cli, plan: Path) -> list[dict]:
    res = cli("apply", str(plan), "--auto-approve", "--resume", "--json")
    res = confirm_manual_steps(cli, plan, res, "--json")
    assert res.returncode == 0, res.stderr
    return [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]


def ran(events: list[dict]) -> list[str]:
    return [e["step"] for e in events if e["event"] == "step_started"]


def assert_as_uninterrupted(sandbox, good: Good, plan: Path) -> None:
    j = journal(plan)
    assert j["status"] == "done"
    assert {r["status"] for r in j["steps"].values()} <= {"done", "skipped"}
    assert fingerprint(sandbox) == good.data, "every table as in the backup, rows not doubled"
    assert client_ready(sandbox), "the client is Ready at its replicas"
    assert secrets_not_opening(sandbox) == [], "every credential secret opens the database"
    assert settings(sandbox) == good.settings, "(client replicas, numberOfInstances) as before"
    assert backup_cronjobs(sandbox) == good.cronjobs, "the backup CronJobs' suspend as before"


def plan_for(cli: Cli, sandbox, good: Good, tmp_path: Path) -> Path:
    wait_healthy(sandbox)
    break_keycloak(sandbox)
    plan = tmp_path / "plan.json"
    res = cli("plan", "keycloak", "--backup", good.key, "-o", str(plan))
    assert res.returncode == 0, res.stderr
    return plan


@pytest.mark.parametrize("after", AFTER)
def test_sigkill_after_a_step_then_resume_ends_as_an_uninterrupted_apply(sandbox, good, tmp_path, after):
    cli = Cli(sandbox)
    plan = plan_for(cli, sandbox, good, tmp_path)
    run = Apply(cli, plan)
    run.until(after, "step_finished", "done")
    run.kill()
    j = journal(plan)
    assert j["status"] == "running" and j["steps"][after]["status"] == "done"

    events = resume(cli, plan)
    assert ran(events)[0] == where_a_resume_starts(plan, j), "the resume goes on from where the journal stood"
    assert_as_uninterrupted(sandbox, good, plan)


def where_a_resume_starts(plan: Path, j: dict) -> str:
    """The first step not done; if the kill caught it running, the step its plan says to restart from (the
    next step may have started in the moment between the event and the kill)."""
    steps = json.loads(plan.read_text())["steps"]
    first = next(s for s in steps if j["steps"][s["id"]]["status"] not in ("done", "skipped"))
    return first["restart_from"] if j["steps"][first["id"]]["status"] == "running" and first.get(
        "restart_from") else first["id"]


def test_sigkill_mid_pin_copy_then_resume_pins_and_proves_the_copy_again(sandbox, good, tmp_path, s3_proxy):
    """The server-side copy has landed, its read-back (sha256) is held by the proxy: the kill leaves an
    unproven pinned copy. The resume copies again and proves it before anything reads it."""
    cli = Cli(sandbox, {"PGRESTORE_S3_ENDPOINT": s3_proxy.url})
    plan = plan_for(cli, sandbox, good, tmp_path)
    held = Fault("GET", PINNED_READ, Delay(120), label="pinned read-back held")
    s3_proxy.script(held)
    run = Apply(cli, plan)
    run.until("03-pin-backup", "step_started")
    wait_until("the pinned copy's read-back to start", lambda: s3_proxy.fired(held), timeout=60)
    run.kill()
    s3_proxy.script()
    j = journal(plan)
    assert j["steps"]["03-pin-backup"]["status"] == "running"
    assert all(j["steps"][s]["status"] == "pending" for s in ("04-suspend-backup-jobs", "07-delete-cluster"))

    events = resume(cli, plan)
    assert ran(events)[0] == "03-pin-backup"
    pinned = journal(plan)["steps"]["03-pin-backup"]["observed"]
    assert pinned["sha256"] == journal(plan)["steps"]["01-verify-backup"]["observed"]["sha256"]
    assert_as_uninterrupted(sandbox, good, plan)


def rate(good: Good) -> float:
    return max(1024.0, good.size / STREAM_SECONDS)


def _kill_half_way(run: Apply, step: str) -> None:
    """Kill about half-way through the step's stream (it takes STREAM_SECONDS at the drill's rate)."""
    run.until(step, "step_started")
    time.sleep(STREAM_SECONDS / 2)
    run.kill()


def test_sigkill_mid_safety_dump_then_resume_takes_a_whole_safety_dump(sandbox, good, tmp_path, exec_rate):
    cli = Cli(sandbox)
    plan = plan_for(cli, sandbox, good, tmp_path)
    exec_rate(rate(good))
    run = Apply(cli, plan)
    _kill_half_way(run, "06-safety-dump")
    exec_rate(0)
    j = journal(plan)
    assert j["steps"]["06-safety-dump"]["status"] == "running", "killed mid-stream, not after"
    assert j["steps"]["05-scale-workload"]["status"] == "done", "the client stopped before the dump began"
    assert j["steps"]["07-delete-cluster"]["status"] == "pending"
    safety = next(s for s in json.loads(plan.read_text())["steps"] if s["kind"] == "safety-dump")["params"]["dump"]
    s3 = s3_client(sandbox.s3_endpoint)
    uploads = s3.list_multipart_uploads(Bucket=safety["bucket"], Prefix=safety["key"]).get("Uploads", [])
    assert [u["Key"] for u in uploads] == [safety["key"]], "the kill left the safety dump's upload unfinished"
    assert s3.list_objects_v2(Bucket=safety["bucket"], Prefix=safety["key"]).get("KeyCount") == 0

    events = resume(cli, plan)
    assert ran(events)[0] == "06-safety-dump"
    body = s3.get_object(Bucket=safety["bucket"], Key=safety["key"])["Body"].read()
    observed = journal(plan)["steps"]["06-safety-dump"]["observed"]
    assert (len(body), hashlib.sha256(body).hexdigest()) == (observed["bytes"], observed["sha256"]), \
        "the safety dump in S3 is the whole one the resume checked, not the half the kill left"
    assert body.rstrip().endswith(b"-- PostgreSQL database cluster dump complete\n--"), "pg_dumpall's trailer"
    assert_as_uninterrupted(sandbox, good, plan)


def test_sigkill_mid_restore_then_resume_restarts_from_the_delete_and_restores_once(sandbox, good, tmp_path,
                                                                                  exec_rate):
    cli = Cli(sandbox)
    plan = plan_for(cli, sandbox, good, tmp_path)
    run = Apply(cli, plan)
    run.until("07-delete-cluster", "step_started")  # the safety dump is done: only the restore is slowed
    exec_rate(rate(good))
    _kill_half_way(run, "09-restore-dump")
    exec_rate(0)
    j = journal(plan)
    assert j["steps"]["09-restore-dump"]["status"] == "running", "killed mid-stream, not after"
    # Its progress, as the operator saw it go (--json, about once a second) and as anyone sees it now.
    done = [e["bytes"] for e in run.events if e["event"] == "progress" and e["step"] == "09-restore-dump"]
    assert len(done) >= 2 and done == sorted(done) and 0 < done[-1] <= good.size, done
    shown = cli("status", "keycloak")
    assert shown.returncode == 0, shown.stderr
    assert re.search(r"running +09-restore-dump +[\d.]+ (bytes|[kMG]B) of [\d.]+ [kMG]B \(\d+%\)", shown.stdout), \
        shown.stdout
    assert "lock: held by" in shown.stdout, "the killed apply's lease is still there"
    restart_from = next(s for s in json.loads(plan.read_text())["steps"] if s["id"] == "09-restore-dump")[
        "restart_from"]
    assert restart_from == "07-delete-cluster"

    events = resume(cli, plan)
    assert ran(events)[:3] == ["07-delete-cluster", "08-create-cluster", "09-restore-dump"], \
        "the half-restored cluster is deleted and made afresh before the dump is streamed again"
    assert "05-scale-workload" not in ran(events) and "06-safety-dump" not in ran(events)
    assert_as_uninterrupted(sandbox, good, plan)
    shown = cli("status", "keycloak").stdout
    assert shown.startswith("keycloak (services): done") and "lock: free" in shown, shown
    as_data = json.loads(cli("status", "keycloak", "--json").stdout)
    assert (as_data["journal"]["status"], as_data["lock_holder"]) == ("done", None)
    assert as_data["journal"]["steps"]["09-restore-dump"]["progress"]["bytes"] == good.size, "the whole dump"


def test_the_rate_drill_slows_an_exec_into_a_spilo_pod(sandbox, exec_rate):
    """The drill itself: 64 KiB out of a Spilo pod at 32 KiB/s takes about two seconds."""
    wait_healthy(sandbox)
    exec_rate(32 * 1024)
    started = time.monotonic()
    out = subprocess.run(["kubectl", "--kubeconfig", str(sandbox.state.kubeconfig), "exec", "-n", NS,
                          "keycloak-postgres-0", "-c", "postgres", "--", "psql", "-U", "postgres", "-Atc",
                          "SELECT repeat('x', 65536)"], capture_output=True, text=True, timeout=60)
    took = time.monotonic() - started
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.strip()) == 65536
    assert 1.5 <= took < 20


# -- the other strategies: a kill after each destructive step, then resume --------------------------------
# HSM (recreate-all) and SLS (in-place), planner/strategies/recreate_all.py and in_place.py. The breakages
# are tests/apply/test_strategies.py's. HSM's plan needs SLS healthy, so SLS goes first.
OTHERS = [("sls", "drop-databases"), ("hsm", "delete-cluster")] + (
    [("sls", "secrets-from-manifest"), ("hsm", "secrets-from-manifest")]
    if os.environ.get("PGRESTORE_ALL_KILL_POINTS") == "1" else [])
BREAK = {"sls": ("sls", "DROP TABLE IF EXISTS network; DELETE FROM generic_hardware WHERE xname LIKE '%1b0n0';"),
         "hsm": ("hmsds", "DELETE FROM components WHERE nid % 2 = 0; DROP TABLE IF EXISTS rf_endpoints;")}
EMPTIED = {"hsm": "hmsds.comp_eth_interfaces"}  # HSM's clean-up SQL empties it after the restore


@dataclass(frozen=True)
class GoodService:
    key: str
    data: dict[str, str]
    settings: dict[str, int]
    cronjobs: dict[str, bool]


@pytest.fixture(scope="module")
def good_services(sandbox) -> dict[str, GoodService]:
    """One backup per service, made when a case first needs it."""
    return {}


def _good_service(sandbox, known: dict[str, GoodService], name: str) -> GoodService:
    svc = ss.service(name)
    for healthy in sorted({"sls", name}):  # HSM's plan refuses unless SLS is healthy and its cluster Running
        other = ss.service(healthy)
        ss.wait_healthy(sandbox, other)
        # A Sync during a restart leaves SyncFailed until the next one (the sandbox's resync_seconds).
        wait_until(f"{healthy}'s cluster Running", lambda o=other: cluster_status(sandbox, o) == "Running",
                   timeout=150)
    if name not in known:
        key = backup(sandbox.state, name, "psql")[0][0]
        known[name] = GoodService(key, ss.fingerprint(sandbox, svc), ss.settings(sandbox, svc),
                                  all_backup_cronjobs(sandbox))
    return known[name]


def cluster_status(sandbox, svc) -> str | None:
    from pgrestore_sandbox.kube import CRD_GROUP, CRD_PLURAL, CRD_VERSION
    pg = sandbox.api.custom.get_namespaced_custom_object(CRD_GROUP, CRD_VERSION, svc.namespace, CRD_PLURAL,
                                                         svc.cluster)
    return (pg.get("status") or {}).get("PostgresClusterStatus")


def all_backup_cronjobs(sandbox) -> dict[str, bool]:
    return {c["metadata"]["name"]: bool(c["spec"].get("suspend")) for c in cronjobs.list_in(sandbox.api, NS)}


@pytest.mark.parametrize("name,kind", OTHERS)
def test_sigkill_after_a_destructive_step_of_recreate_all_and_in_place_then_resume(sandbox, good_services, tmp_path,
                                                                                   name, kind):
    svc, good = ss.service(name), _good_service(sandbox, good_services, name)
    db, sql = BREAK[name]
    ss.server(sandbox, svc).psql(sql, db=db)
    cli = Cli(sandbox)
    plan = tmp_path / "plan.json"
    res = cli("plan", name, "--backup", good.key, "-o", str(plan))
    assert res.returncode == 0, res.stderr
    step = next(s for s in json.loads(plan.read_text())["steps"] if s["kind"] == kind)
    assert step["destructive"]

    run = Apply(cli, plan)
    run.until(step["id"], "step_finished", "done")
    run.kill()
    j = journal(plan)
    assert j["status"] == "running" and j["steps"][step["id"]]["status"] == "done"

    events = resume(cli, plan)
    assert ran(events)[0] == where_a_resume_starts(plan, j)
    assert journal(plan)["status"] == "done"
    data, expected = ss.fingerprint(sandbox, svc), dict(good.data)
    if name in EMPTIED:
        assert data.pop(EMPTIED[name]).startswith("0:") and expected.pop(EMPTIED[name])
    assert data == expected, "every table of every database as backed up, rows not doubled"
    assert ss.workloads_not_ready(sandbox, svc) == []
    assert ss.secrets_not_opening(sandbox, svc) == []
    assert ss.settings(sandbox, svc) == good.settings
    assert all_backup_cronjobs(sandbox) == good.cronjobs
