"""pgrestore on a sandbox as harsh as real CSM: Spilo's bootstrap objects and held sessions,
a leader that is not pod 0, revision-suffixed jobs, status churn, a genuinely bad backup."""

from __future__ import annotations

import json
import time

from pgrestore.adapters.connect import S3Options, s3_from_options
from pgrestore.adapters.kube import Kube
from pgrestore.adapters.psql import Psql
from pgrestore.contract.document import read_unverified as load
from pgrestore.errors import PlanRejected
from pgrestore.executors.context import Context
from pgrestore.executors.engine import check_fresh
from pgrestore.executors.journal import Journal
from pgrestore.executors.registry import STEP_KINDS
from pgrestore_sandbox import s3 as sandbox_s3
from pgrestore_sandbox import settings as sandbox_settings
from tests.helpers import pod_ready, pods, wait_until

from .conftest import (
    CLIENT,
    CLIENT_SELECTOR,
    CLUSTER,
    NS,
    break_keycloak,
    client_ready,
    fingerprint,
    make_backup,
    secrets_open_database,
    settings,
    wait_healthy,
)

SPILO = f"application=spilo,cluster-name={CLUSTER}"


def _plan(cli, tmp_path, *args: str, name: str = "plan.json"):
    path = tmp_path / name
    res = cli("plan", "keycloak", *args, "-o", str(path))
    assert res.returncode == 0, res.stderr
    return path


def _leader(sandbox) -> str | None:
    """The one member labelled master, once it is Ready too: the label comes first (callback_role.py), the
    readiness at the node agent's next pass, and a leader step looks for both (pgrestore/core/pods.py)."""
    masters = [p for p in pods(sandbox.api.core, NS, SPILO) if (p.metadata.labels or {}).get("spilo-role") == "master"]
    return masters[0].metadata.name if len(masters) == 1 and pod_ready(masters[0]) else None


def _jobs(sandbox, selector: str) -> dict[str, str]:
    found = sandbox.api.batch.list_namespaced_job(NS, label_selector=selector).items
    return {j.metadata.name: j.metadata.uid for j in found}


def test_a_client_pod_restart_does_not_make_the_plan_stale_but_a_replica_change_does(sandbox, cli, tmp_path):
    wait_healthy(sandbox)
    plan_path = _plan(cli, tmp_path, "--backup", make_backup(sandbox, "psql"))
    plan, kube = load(plan_path), Kube(str(sandbox.state.kubeconfig))
    s3 = s3_from_options(kube, S3Options())
    victim = pods(sandbox.api.core, NS, CLIENT_SELECTOR)[0].metadata.name
    sandbox.api.core.delete_namespaced_pod(victim, NS)  # as a crash-looping client's restarts do
    wait_until("the client pod back", lambda: client_ready(sandbox), timeout=60)
    check_fresh(plan, kube, s3)  # status and resourceVersion churn: still fresh

    sandbox.api.apps.patch_namespaced_stateful_set_scale(CLIENT, NS, {"spec": {"replicas": 2}})
    try:
        try:
            check_fresh(plan, kube, s3)
            raise AssertionError("a changed replica count must make the plan stale")
        except PlanRejected as e:
            assert "replicas" in str(e) and "3 -> 2" in str(e)
    finally:
        sandbox.api.apps.patch_namespaced_stateful_set_scale(CLIENT, NS, {"spec": {"replicas": 3}})
    wait_healthy(sandbox)


def _step_context(sandbox, plan_path) -> tuple[Context, dict]:
    plan = load(plan_path)
    kube = Kube(str(sandbox.state.kubeconfig))
    journal = Journal.fresh(plan_path.with_name("direct.journal.json"), kube, plan)
    ctx = Context(plan=plan, kube=kube, psql=Psql(kube), s3=None, journal=journal, emit=lambda e: None)
    return ctx, {s.kind: s for s in plan.steps}


def test_leader_steps_reach_the_leader_after_a_failover(sandbox, cli, tmp_path):
    """On the live 3-member cluster, with the leader moved to pod 1: ALTER USER only succeeds on the
    leader (replicas are read-only), and restarting the leader restarts pod 1, not pod 0."""
    wait_healthy(sandbox)
    plan_path = _plan(cli, tmp_path, "--backup", make_backup(sandbox, "psql"), "--secrets", "alter-users")
    res = cli("sandbox", "failover", "keycloak", "--to", f"{CLUSTER}-1")
    assert res.returncode == 0, res.stderr
    try:
        wait_until("leader on pod 1", lambda: _leader(sandbox) == f"{CLUSTER}-1", timeout=60)
        ctx, steps = _step_context(sandbox, plan_path)

        ctx.start_step(steps["alter-users"])
        observed = STEP_KINDS["alter-users"].run(steps["alter-users"], ctx)
        assert observed["leader"] == f"{CLUSTER}-1"
        assert secrets_open_database(sandbox)

        ctx.start_step(steps["restart-leader"])
        observed = STEP_KINDS["restart-leader"].run(steps["restart-leader"], ctx)
        assert observed["old_leader"] == f"{CLUSTER}-1"
        assert observed["leader"] == _leader(sandbox)
    finally:
        if _leader(sandbox) != f"{CLUSTER}-0":
            cli("sandbox", "failover", "keycloak", "--to", f"{CLUSTER}-0")
        wait_until("leader back on pod 0", lambda: _leader(sandbox) == f"{CLUSTER}-0", timeout=60)
    wait_healthy(sandbox)


def test_revision_suffixed_jobs_are_found_by_label_and_re_run(sandbox, cli, tmp_path):
    wait_healthy(sandbox)
    before = _jobs(sandbox, "app.kubernetes.io/instance=cray-keycloak")
    assert list(before) == ["keycloak-setup-2"], "the sandbox seeds Helm-revision job names as CSM does"
    plan_path = _plan(cli, tmp_path, "--backup", make_backup(sandbox, "psql"))
    targets = [s["target"]["name"] for s in json.loads(plan_path.read_text())["steps"] if s["kind"] == "rerun-job"]
    assert targets == ["keycloak-setup-2", "keycloak-users-localize-1"]
    res = cli("apply", str(plan_path), "--auto-approve")
    assert res.returncode == 0, res.stderr
    after = _jobs(sandbox, "app.kubernetes.io/instance=cray-keycloak")
    assert list(after) == ["keycloak-setup-2"] and after != before, "re-run: same name, a new Job"
    job = sandbox.api.batch.read_namespaced_job("keycloak-setup-2", NS)
    assert (job.status.succeeded or 0) >= 1
    wait_healthy(sandbox)


def _bad_backup(sandbox, good_key: str) -> str:
    """The good dump with one statement that cannot succeed in the application database."""
    s3 = sandbox_s3.client(sandbox.s3_endpoint)
    body = s3.get_object(Bucket="postgres-backup", Key=good_key)["Body"].read()
    marker = b"\\connect service_db\n"
    assert marker in body
    bad_body = body.replace(marker, marker + b"\nCREATE TABLE public.broken (id public.no_such_type);\n", 1)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 7200))
    bad = f"{CLUSTER}-{stamp}"
    s3.put_object(Bucket="postgres-backup", Key=f"{bad}.psql", Body=bad_body)
    manifest = s3.get_object(Bucket="postgres-backup", Key=good_key.replace(".psql", ".manifest"))["Body"].read()
    s3.put_object(Bucket="postgres-backup", Key=f"{bad}.manifest", Body=manifest)
    return f"{bad}.psql"


def test_a_bad_statement_fails_the_restore_before_clients_return_and_the_rollback_puts_the_data_back(
        sandbox, cli, tmp_path):
    """A backup whose dump has one bad statement in service_db: restore-dump fails after the delete; the
    rollback restores the safety dump: exit 5, and Keycloak is as it was before, data included."""
    wait_healthy(sandbox)
    good = make_backup(sandbox, "psql")
    break_keycloak(sandbox)
    before, settings_before = fingerprint(sandbox), settings(sandbox)
    bad = _bad_backup(sandbox, good)
    s3 = sandbox_s3.client(sandbox.s3_endpoint)
    try:
        plan_path = _plan(cli, tmp_path, "--backup", bad)
        res = cli("apply", str(plan_path), "--auto-approve")
        assert res.returncode == 5, res.stderr
        journal = json.loads(plan_path.with_name("plan.journal.json").read_text())
        restore = journal["steps"]["09-restore-dump"]
        assert restore["status"] == "failed"
        assert "no_such_type" in restore["error"]
        assert journal["steps"]["13-scale-workload"]["status"] == "pending", "clients never went back to a bad restore"
        assert "data included" in res.stderr
    finally:
        for suffix in (".psql", ".manifest"):
            s3.delete_object(Bucket="postgres-backup", Key=bad.replace(".psql", suffix))
    assert fingerprint(sandbox) == before, "every table's rows and contents as before the apply"
    assert settings(sandbox) == settings_before
    wait_healthy(sandbox)  # clients Ready, every secret opens the database
    again = _plan(cli, tmp_path, "--backup", good, name="again.json")  # the tests after this one want the data
    assert cli("apply", str(again), "--auto-approve").returncode == 0
    wait_healthy(sandbox)


def test_plan_refuses_when_the_standby_secret_is_missing(sandbox, cli, tmp_path):
    wait_healthy(sandbox)
    key = make_backup(sandbox, "psql")  # the backup job reads the secret too: back up before it goes
    sandbox_settings.update(sandbox.state, resync_seconds=3600)  # the operator's Sync would re-create it
    name = f"standby.{CLUSTER}.credentials"
    saved = sandbox.api.core.read_namespaced_secret(name, NS)
    body = {"metadata": {"name": name, "labels": saved.metadata.labels}, "type": saved.type, "data": saved.data}
    sandbox.api.core.delete_namespaced_secret(name, NS)
    try:
        res = cli("plan", "keycloak", "--backup", key, "-o", str(tmp_path / "p.json"))
        assert res.returncode == 1
        assert f"secret {NS}/{name} is missing" in res.stderr and len(res.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "p.json").exists()
    finally:
        sandbox_settings.update(sandbox.state, resync_seconds=60)
        try:
            sandbox.api.core.create_namespaced_secret(NS, body)
        except Exception:  # noqa: BLE001 - the operator's sync re-created it meanwhile: put ours back
            sandbox.api.core.replace_namespaced_secret(name, NS, body)
    wait_healthy(sandbox)


def test_backup_jobs_fired_mid_apply_change_nothing_and_cronjobs_are_held_meanwhile(sandbox, cli, tmp_path):
    """CSM's backup job dumps the cluster and deletes every older pair, the planned backup included. Fired
    before the delete and again after the re-create, it must change nothing of the outcome: the restore reads
    the pinned copy. The CronJob is suspended while the apply runs and as it was afterwards."""
    from pgrestore_sandbox.drills import backup_job
    wait_healthy(sandbox)
    key = make_backup(sandbox, "psql")
    before = fingerprint(sandbox)
    break_keycloak(sandbox)
    plan_path = _plan(cli, tmp_path, "--backup", key)
    suspend = next(s for s in json.loads(plan_path.read_text())["steps"] if s["kind"] == "suspend-backup-jobs")
    cron = suspend["params"]["cronjobs"][0]["name"]
    assert cron == "cray-keycloak-postgresql-db-backup"

    def suspended() -> bool:
        return bool(sandbox.api.custom.get_namespaced_custom_object(
            "batch", "v1beta1", NS, "cronjobs", cron)["spec"].get("suspend"))

    proc = cli.popen("apply", str(plan_path), "--auto-approve", "--json")
    fired, held = [], []
    for line in proc.stdout:
        event = json.loads(line)
        if event["event"] == "step_finished" and event["step"] in ("05-scale-workload", "08-create-cluster"):
            held.append(suspended())  # as the apply goes on: the runs below do not wait
            fired.append(backup_job(sandbox.state, "keycloak", wait=False).job)
    assert proc.wait() == 0, proc.stderr.read()
    assert len(fired) == 2 and held == [True, True]

    def finished(job: str) -> bool:
        conditions = sandbox.api.batch.read_namespaced_job(job, NS).status.conditions or []
        return any(c.type in ("Complete", "Failed") and c.status == "True" for c in conditions)
    wait_until("the backup runs to finish", lambda: all(finished(j) for j in fired), timeout=300)
    s3 = sandbox_s3.client(sandbox.s3_endpoint)
    assert s3.list_objects_v2(Bucket="postgres-backup", Prefix=key).get("KeyCount") == 0, \
        "the runs deleted the very backup being restored"
    assert fingerprint(sandbox) == before, "restored from the pinned copy, whatever the backup jobs did"
    assert not suspended(), "the CronJob is as it was before the apply"
    wait_healthy(sandbox)
