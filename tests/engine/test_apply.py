"""A whole apply on the rehearsal stage ends where the README says a restore ends."""

from __future__ import annotations

import json

import pytest

from pgrestore.core import pods
from pgrestore.core.backups import BUCKET
from tests.fakes.fake_kube import is_ready, secret_name
from tests.fakes.rehearsal import (
    BACKUP_CRONJOB,
    CLIENT,
    CLIENT_SELECTOR,
    CLUSTER,
    GOOD_DUMP,
    GOOD_PSQL,
    LOGICAL,
    NS,
    SPILO_SELECTOR,
)

from .conftest import CREDENTIAL_SECRETS, DUMP_ROWS, backup_passwords, every_secret_value, journal_texts

WORLD_JOBS = {"keycloak-setup-1": "7d5a0c3e-2222-4b1a-8f00-00000000a001",
              "keycloak-setup-2": "7d5a0c3e-2222-4b1a-8f00-00000000a002",
              "keycloak-users-localize-1": "7d5a0c3e-2222-4b1a-8f00-00000000b001"}


@pytest.mark.parametrize("layout,secrets_mode,key", [
    ("psql", None, GOOD_PSQL),
    ("psql", "alter-users", GOOD_PSQL),
    ("logical", None, LOGICAL),
])
def test_apply_restores_the_data_and_puts_every_setting_back(make, layout, secrets_mode, key):
    r = make(layout)
    before_uid = r.kube.get_postgresql(NS, CLUSTER)["metadata"]["uid"]
    path = r.plan(secrets_mode)
    assert r.apply(path) == f"restored {NS}/{CLUSTER} from {key}"
    kube = r.kube

    # The data is the dump's: the dropped table and the lost events are back, each row once.
    assert kube.database(NS, CLUSTER).counts("service_db") == DUMP_ROWS
    assert kube.doubled_rows() == []
    pg = kube.get_postgresql(NS, CLUSTER)
    assert pg["metadata"]["uid"] != before_uid
    # Settings as recorded: 3 members with one Ready leader, the client's 3 replicas Ready.
    assert pg["spec"]["numberOfInstances"] == 3 and pg["status"] == {"PostgresClusterStatus": "Running"}
    members = kube.pods(NS, SPILO_SELECTOR)
    assert pods.all_ready(members, 3) and pods.leader(members) is not None
    assert kube.get_workload("StatefulSet", NS, CLIENT)["spec"]["replicas"] == 3
    assert pods.all_ready(kube.pods(NS, CLIENT_SELECTOR), 3)
    # Every credential secret opens the database: the client can log in.
    db = kube.database(NS, CLUSTER)
    for name in CREDENTIAL_SECRETS:
        user, password = kube.credentials(NS, name)
        assert db.login(user, password, "postgres") is None, f"{name} does not open the database"
    # The backup CronJob runs again, as before.
    assert kube.get_cronjob(NS, BACKUP_CRONJOB)["spec"]["suspend"] is False
    # Nothing of ours is left behind: no lease; the journal says done, here and in the cluster.
    assert kube.get_lease(NS, "pgrestore-keycloak") is None
    assert [json.loads(t)["status"] for t in journal_texts(r, path)[:1]] == ["done"]
    cm = kube.get_configmap(NS, "pgrestore-journal-keycloak")
    assert json.loads(cm["data"]["journal.json"])["status"] == "done"


def test_from_manifest_puts_the_backups_secrets_back(rehearsal):
    rehearsal.apply(rehearsal.plan())
    assert {n: rehearsal.kube.credentials(NS, n)[1] for n in CREDENTIAL_SECRETS} == backup_passwords()
    secret = rehearsal.kube.read_secret(NS, secret_name("service_account", CLUSTER))
    assert "ownerReferences" not in secret["metadata"]
    assert secret["metadata"]["labels"] == {"application": "spilo", "cluster-name": CLUSTER, "team": "keycloak"}


def test_alter_users_keeps_the_new_secrets_and_sets_the_roles_to_them(rehearsal):
    rehearsal.apply(rehearsal.plan("alter-users"))
    current = {n: rehearsal.kube.credentials(NS, n)[1] for n in CREDENTIAL_SECRETS}
    assert not set(current.values()) & set(backup_passwords().values())
    alters = [e for e in rehearsal.kube.execs if e.step == rehearsal.step(rehearsal.workdir / "plan.json",
                                                                          "alter-users")]
    assert len(alters) == 1 and alters[0].kind == "sql"
    assert alters[0].sql.count("PASSWORD 'SCRAM-SHA-256$4096:") == len(current)  # verifiers, on stdin
    assert not any(pw in alters[0].sql for pw in current.values()), "a plain password reached the server"
    assert not any(pw in " ".join(e.argv) for e in rehearsal.kube.execs for pw in current.values())


def test_the_leader_is_restarted_after_the_credentials_are_fixed(rehearsal):
    rehearsal.apply(rehearsal.plan())
    kube = rehearsal.kube
    restored_into = next(e for e in kube.execs if e.kind == "restore")
    leader = pods.leader(kube.pods(NS, SPILO_SELECTOR))
    live_uids = {p["metadata"]["uid"] for p in kube.pods(NS, SPILO_SELECTOR)}
    assert restored_into.pod_uid not in live_uids, "the pod that took the restore was never restarted"
    # Its Postgres runs with the credentials the secrets hold now (Spilo reads them at start).
    started_with = kube.pod_env[leader["metadata"]["uid"]]
    assert started_with == {u: kube.credentials(NS, secret_name(u, CLUSTER))[1] for u in ("postgres", "standby")}


def test_the_newest_job_revision_is_rerun_from_its_own_spec_and_older_ones_are_left_alone(rehearsal):
    rehearsal.apply(rehearsal.plan())
    kube = rehearsal.kube
    for name in ("keycloak-setup-2", "keycloak-users-localize-1"):
        job = kube.get_job(NS, name)
        assert job["metadata"]["uid"] != WORLD_JOBS[name], f"{name} was not re-run"
        assert any(c["type"] == "Complete" and c["status"] == "True" for c in job["status"]["conditions"])
    assert kube.get_job(NS, "keycloak-setup-2")["spec"]["template"]["spec"]["containers"][0]["image"] \
        .endswith("cray-keycloak-setup:4.0.2")
    assert kube.get_job(NS, "keycloak-setup-1")["metadata"]["uid"] == WORLD_JOBS["keycloak-setup-1"]
    # A re-run job runs after the client is back (it logs in to the restored database).
    order = [e["step"] for e in rehearsal.stage.events if e["event"] == "step_finished"]
    path = rehearsal.workdir / "plan.json"
    assert order.index(rehearsal.step(path, "scale-workload", 1)) < order.index(rehearsal.step(path, "rerun-job"))


def test_rollout_restart_replaces_the_pods_of_the_matched_workload(rehearsal):
    old = {p["metadata"]["uid"] for p in rehearsal.kube.pods(NS, "app.kubernetes.io/name=cray-keycloak-gatekeeper")}
    rehearsal.apply(rehearsal.plan())
    new = rehearsal.kube.pods(NS, "app.kubernetes.io/name=cray-keycloak-gatekeeper")
    assert len(new) == 1 and is_ready(new[0]) and not old & {p["metadata"]["uid"] for p in new}
    untouched = rehearsal.kube.snapshot()["deployment/services/cray-keycloak-admin-console"]
    assert untouched["restarted"] is False


def test_a_site_service_restarts_both_workloads_its_selector_matches(make, monkeypatch):
    from pathlib import Path

    from pgrestore.core import services
    monkeypatch.setenv("PGRESTORE_SERVICES_DIR", str(Path(__file__).parents[1] / "planner" / "site"))
    r = make(service=services.load("keycloak"))
    r.apply(r.plan())
    snap = r.kube.snapshot()
    assert snap["deployment/services/cray-oauth2-proxies-customer-access-ingress"] == {
        "replicas": 2, "ready_pods": 2, "restarted": True}
    assert snap["deployment/services/cray-oauth2-proxies-customer-management-ingress"]["restarted"] is True
    assert snap["deployment/services/cray-keycloak-gatekeeper-ingress"]["restarted"] is False


def test_no_secret_value_reaches_the_journal_or_the_events(rehearsal):
    path = rehearsal.plan("alter-users")
    rehearsal.apply(path)
    texts = journal_texts(rehearsal, path) + [json.dumps(rehearsal.stage.events), path.read_text()]
    for value in every_secret_value(rehearsal):
        assert not any(value in t for t in texts)


def test_row_counts_are_checked_right_after_the_restore_against_the_dump(rehearsal):
    rehearsal.apply(rehearsal.plan())
    path = rehearsal.workdir / "plan.json"
    restore = rehearsal.step(path, "restore-dump")
    counts = [e for e in rehearsal.kube.execs if e.kind == "sql" and "count(*)" in e.sql]
    assert [e.step for e in counts] == [restore]
    assert counts[0].result.stdout.splitlines() == sorted(f"{t}|{n}" for t, n in DUMP_ROWS.items())
    observed = rehearsal.journal(path)["steps"][restore]["observed"]
    assert observed["tables_checked"] == 5 and observed["unexpected_errors"] == []
    assert observed["benign_errors"] == 8  # the operator's roles and databases, the exporter's sessions


def test_the_restore_reads_the_pinned_copy_and_a_safety_dump_of_the_live_cluster_is_kept(rehearsal):
    kube, s3 = rehearsal.kube, rehearsal.s3
    before = kube.database(NS, CLUSTER).summary()
    path = rehearsal.plan()
    rehearsal.apply(path)
    plan = rehearsal.loaded(path)
    pinned = next(s for s in plan.steps if s.kind == "pin-backup").params["pinned"]["key"]
    safety = next(s for s in plan.steps if s.kind == "safety-dump").params
    assert s3.body(BUCKET, pinned) == GOOD_DUMP.read_bytes()
    read = {c.args["key"] for c in rehearsal.stage.calls_in(rehearsal.step(path, "restore-dump"))
            if c.method == "stream"}
    assert read == {pinned}, "the restore must read the pinned copy, not the backup a backup job may delete"
    dump = [e for e in kube.execs if e.kind == "dump"]
    assert [(e.step, e.pod, e.argv) for e in dump] == [
        (rehearsal.step(path, "safety-dump"), f"{CLUSTER}-0", ["pg_dumpall", "-c", "-U", "postgres"])]
    # The safety dump is the live cluster as it was: replayed into a fresh cluster it gives the same data back.
    from tests.fakes.fake_db import FakeDatabase
    fresh = FakeDatabase.bootstrap("x", {"postgres": "p", "standby": "s", "service_account": "a"},
                                   {"service_db": "service_account"})
    fresh.replay(s3.body(BUCKET, safety["dump"]["key"]).decode())
    assert fresh.summary() == before
    manifest = s3.body(BUCKET, safety["manifest"]["key"]).decode()
    assert sorted(n for n in CREDENTIAL_SECRETS if n in manifest) == sorted(CREDENTIAL_SECRETS)


def test_the_backup_cronjob_is_suspended_from_before_the_pin_until_after_the_client_is_back(rehearsal):
    path = rehearsal.plan()
    seen: dict[str, bool] = {}
    for step in rehearsal.loaded(path).steps:
        rehearsal.stage.at_step(step.id, lambda s=step.id: seen.__setitem__(
            s, rehearsal.kube.obj("CronJob", NS, BACKUP_CRONJOB)["spec"]["suspend"]))
    rehearsal.apply(path)
    kinds = [s.kind for s in rehearsal.loaded(path).steps]
    suspended = [kinds[i] for i, s in enumerate(seen) if seen[s]]
    assert suspended == kinds[kinds.index("suspend-backup-jobs") + 1:kinds.index("resume-backup-jobs") + 1]
    assert rehearsal.kube.get_cronjob(NS, BACKUP_CRONJOB)["spec"]["suspend"] is False
