"""A whole apply on the rehearsal stage ends where the README says a restore ends."""

from __future__ import annotations

import json

import pytest

from core import pods
from tests.fakes.fake_kube import is_ready, secret_name
from tests.fakes.rehearsal import CLIENT, CLIENT_SELECTOR, CLUSTER, GOOD_PSQL, LOGICAL, NS, SPILO_SELECTOR

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

    # The data is the dump's: the dropped table and the lost events are back.
    assert kube.database(NS, CLUSTER).databases["service_db"] == DUMP_ROWS
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
    alters = [e for e in rehearsal.kube.execs if e.step == "06-alter-users"]
    assert len(alters) == 1 and alters[0].kind == "sql"
    assert all(f"'{pw}'" in alters[0].sql for pw in current.values())  # on stdin, never in argv
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
    assert order.index("09-scale-workload") < order.index("10-rerun-job")


def test_rollout_restart_replaces_the_pods_of_the_matched_workload(rehearsal):
    old = {p["metadata"]["uid"] for p in rehearsal.kube.pods(NS, "app.kubernetes.io/name=cray-keycloak-gatekeeper")}
    rehearsal.apply(rehearsal.plan())
    new = rehearsal.kube.pods(NS, "app.kubernetes.io/name=cray-keycloak-gatekeeper")
    assert len(new) == 1 and is_ready(new[0]) and not old & {p["metadata"]["uid"] for p in new}
    untouched = rehearsal.kube.snapshot()["deployment/services/cray-keycloak-admin-console"]
    assert untouched["restarted"] is False


def test_a_site_service_restarts_both_workloads_its_selector_matches(make, monkeypatch):
    from pathlib import Path

    from core import services
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
    counts = [e for e in rehearsal.kube.execs if e.kind == "sql" and "count(*)" in e.sql]
    assert [e.step for e in counts] == ["05-restore-dump"]
    assert counts[0].result.stdout.splitlines() == sorted(f"{t}|{n}" for t, n in DUMP_ROWS.items())
    observed = rehearsal.journal(rehearsal.workdir / "plan.json")["steps"]["05-restore-dump"]["observed"]
    assert observed["tables_checked"] == 5 and observed["unexpected_errors"] == []
