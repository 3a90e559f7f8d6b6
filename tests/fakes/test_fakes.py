"""The fakes behave as the adapters and the cluster they stand for: same surface, same errors,
and the simulated controllers do what the engine relies on (and no more)."""

from __future__ import annotations

import base64
import inspect
import json
import time

import pytest

from core import pods
from core.adapters.kube import Kube
from core.adapters.psql import Psql
from core.adapters.s3 import S3
from core.errors import Conflict, KubernetesError, NotFound, PsqlError, S3Error, StepFailed, StepTimeout
from core.model import Target

from .fake_db import FakeDatabase, verifier
from .fake_kube import FakeKube, secret_name
from .fake_s3 import FakeS3
from .rehearsal import CLIENT, CLIENT_SELECTOR, CLUSTER, GOOD_DUMP, NS, SPILO_SELECTOR, WORLDS
from .stage import Crash, Stage


@pytest.fixture
def kube() -> FakeKube:
    return FakeKube.from_world(WORLDS / "keycloak.json")


def _public(cls) -> dict[str, list[str]]:
    return {name: [p for p in inspect.signature(fn).parameters if p not in ("self", "_faults")]
            for name, fn in inspect.getmembers(cls, inspect.isfunction) if not name.startswith("_")}


@pytest.mark.parametrize("real,fake", [(Kube, FakeKube), (S3, FakeS3)])
def test_the_fake_has_every_method_of_the_adapter_with_the_same_parameters(real, fake):
    theirs, ours = _public(real), _public(fake)
    missing = sorted(set(theirs) - set(ours))
    assert not missing, f"{fake.__name__} lacks {missing}: teach it the adapter's new methods"
    assert {m: ours[m] for m in theirs} == theirs


def test_the_world_comes_up_as_recorded(kube):
    client = kube.pods(NS, CLIENT_SELECTOR)
    assert len(client) == 3 and all(pods.ready(p) for p in client)
    members = kube.pods(NS, SPILO_SELECTOR)
    assert [p["metadata"]["name"] for p in members] == [f"{CLUSTER}-{i}" for i in range(3)]
    assert pods.leader(members)["metadata"]["name"] == f"{CLUSTER}-0"
    assert kube.database(NS, CLUSTER).databases["service_db"]["public.realm"] == 2
    user, password = kube.credentials(NS, secret_name("service_account", CLUSTER))
    assert kube.database(NS, CLUSTER).login(user, password, "service_db") is None


def test_objects_come_back_as_kubectl_shows_them(kube):
    sts = kube.read(Target("StatefulSet", NS, CLIENT))
    assert sts["kind"] == "StatefulSet" and sts["metadata"]["uid"] and sts["spec"]["replicas"] == 3
    listed = kube.list_workloads("StatefulSet", NS, "app.kubernetes.io/name=cray-keycloak")
    assert [w["metadata"]["name"] for w in listed] == [CLIENT] and "kind" not in listed[0]
    sts["spec"]["replicas"] = 99  # a copy: the caller cannot change the world by editing it
    assert kube.get_workload("StatefulSet", NS, CLIENT)["spec"]["replicas"] == 3
    assert kube.read(Target("Job", NS, "no-such-job")) is None
    with pytest.raises(NotFound):
        kube.get_workload("Deployment", NS, "no-such-deployment")


def test_scaling_moves_pods_only_when_time_passes(kube):
    kube.scale("StatefulSet", NS, CLIENT, 0)
    assert len(kube.pods(NS, CLIENT_SELECTOR)) == 3  # nothing has run yet
    kube.wait_pods(NS, CLIENT_SELECTOR, lambda ps: not pods.live(ps), "gone", 60)
    kube.scale("StatefulSet", NS, CLIENT, 2)
    found = kube.wait_pods(NS, CLIENT_SELECTOR, lambda ps: pods.all_ready(ps, 2), "2 Ready", 60)
    assert sorted(p["metadata"]["name"] for p in found) == [f"{CLIENT}-0", f"{CLIENT}-1"]


def test_a_wait_that_cannot_be_satisfied_times_out_at_once(kube):
    started = time.monotonic()
    with pytest.raises(StepTimeout, match="timed out after 900s waiting for 5 Ready pods"):
        kube.wait_pods(NS, CLIENT_SELECTOR, lambda ps: pods.all_ready(ps, 5), "5 Ready pods", 900)
    assert time.monotonic() - started < 1


def test_deleting_the_cluster_takes_its_pods_secrets_and_data(kube):
    kube.delete_postgresql(NS, CLUSTER)
    kube.wait_pods(NS, SPILO_SELECTOR, lambda ps: not ps, "gone", 60)
    left = [s["metadata"]["name"] for s in kube.list_secrets(NS, f"cluster-name={CLUSTER}")]
    assert left == ["keycloak-postgres-tls"]  # not the operator's: it stays
    assert kube.database(NS, CLUSTER) is None
    with pytest.raises(NotFound):
        kube.delete_postgresql(NS, CLUSTER)


def test_a_new_cluster_gets_fresh_passwords_but_adopts_a_secret_left_behind(kube):
    old = kube.credentials(NS, secret_name("service_account", CLUSTER))
    resource = kube.get_postgresql(NS, CLUSTER)
    kube.delete_postgresql(NS, CLUSTER)
    kube.settle()
    kube.create_secret(NS, {"metadata": {"name": secret_name("standby", CLUSTER)},
                            "data": {"username": base64.b64encode(b"standby").decode(),
                                     "password": base64.b64encode(b"left-behind").decode()}})
    body = {k: resource[k] for k in ("apiVersion", "kind", "spec")}
    body["metadata"] = {"name": CLUSTER, "namespace": NS}
    created = kube.create_postgresql({**body, "spec": {**body["spec"], "numberOfInstances": 1}})
    assert created["metadata"]["uid"] != resource["metadata"]["uid"]
    with pytest.raises(Conflict):
        kube.create_postgresql(body)
    kube.wait_pods(NS, SPILO_SELECTOR, lambda ps: pods.leader(ps) is not None, "leader", 60)
    new = kube.credentials(NS, secret_name("service_account", CLUSTER))
    assert new[0] == "service_account" and new[1] != old[1]
    db = kube.database(NS, CLUSTER)
    assert db.login("standby", "left-behind", "postgres") is None
    assert "public.realm" not in db.databases["service_db"]  # empty: the data went with the old cluster
    assert kube.get_postgresql(NS, CLUSTER)["status"] == {"PostgresClusterStatus": "Running"}


def test_the_leader_is_where_patroni_says_and_fails_over_when_its_pod_goes(kube):
    kube.set_leader(NS, CLUSTER, f"{CLUSTER}-1")
    assert pods.leader(kube.list_pods(NS, SPILO_SELECTOR))["metadata"]["name"] == f"{CLUSTER}-1"
    res = kube.exec(NS, f"{CLUSTER}-2", "postgres", ["patronictl", "list", "-f", "json"])
    assert {m["Member"]: m["Role"] for m in json.loads(res.stdout)}[f"{CLUSTER}-1"] == "Leader"
    kube.delete_pod(NS, f"{CLUSTER}-1")
    found = kube.wait_pods(NS, SPILO_SELECTOR, lambda ps: pods.all_ready(ps, 3), "3 Ready", 60)
    assert pods.leader(found)["metadata"]["name"] == f"{CLUSTER}-0"


def test_a_single_members_key_stays_with_its_recreated_pod(kube):
    kube.set_instances(NS, CLUSTER, 1)
    before = kube.wait_pods(NS, SPILO_SELECTOR, lambda ps: pods.all_ready(ps, 1), "1 Ready", 60)
    kube.delete_pod(NS, f"{CLUSTER}-0")
    after = kube.wait_pods(NS, SPILO_SELECTOR, lambda ps: pods.leader(ps) is not None, "leader", 60)
    assert pods.leader(after)["metadata"]["name"] == f"{CLUSTER}-0"
    assert after[0]["metadata"]["uid"] != before[0]["metadata"]["uid"]


def test_a_replica_clones_only_with_the_standby_password_the_database_knows(kube):
    kube.set_instances(NS, CLUSTER, 1)
    kube.settle()
    kube.database(NS, CLUSTER).set_password("standby", "changed-by-a-restore")
    kube.set_instances(NS, CLUSTER, 2)
    with pytest.raises(StepTimeout):
        kube.wait_pods(NS, SPILO_SELECTOR, lambda ps: pods.all_ready(ps, 2), "2 Ready", 60)


def test_a_client_is_ready_only_while_its_secret_opens_the_database(kube):
    kube.database(NS, CLUSTER).set_password("service_account", "something-else")
    kube.settle()
    assert not any(pods.ready(p) for p in kube.pods(NS, CLIENT_SELECTOR))


def test_jobs_are_deleted_in_the_foreground_and_recreated_without_generated_fields(kube):
    job = kube.get_job(NS, "keycloak-setup-2")
    with pytest.raises(KubernetesError, match="422"):
        kube.create_job(NS, {"metadata": {"name": "copy"}, "spec": job["spec"]})  # selector and controller-uid
    kube.delete_job(NS, "keycloak-setup-2")
    assert kube.get_job(NS, "keycloak-setup-2")["metadata"]["deletionTimestamp"]
    with pytest.raises(Conflict):
        kube.create_job(NS, {"metadata": {"name": "keycloak-setup-2"}, "spec": {"template": {"spec": {}}}})
    kube.wait_job_gone(NS, "keycloak-setup-2", "gone", 60)
    template = {"metadata": {"labels": {"app.kubernetes.io/instance": "cray-keycloak"}},
                "spec": {"containers": [{"name": "setup"}], "restartPolicy": "OnFailure"}}
    kube.create_job(NS, {"metadata": {"name": "keycloak-setup-2", "labels": {"a": "b"}},
                         "spec": {"template": template}})
    kube.wait_job_complete(NS, "keycloak-setup-2", "complete", 60)
    assert kube.get_job(NS, "keycloak-setup-2")["metadata"]["uid"] != job["metadata"]["uid"]


def test_psql_in_the_leader_restores_alters_and_counts_and_a_replica_refuses_writes(kube):
    """Through the real psql adapter, so the fake follows its argv and SQL as they change."""
    psql = Psql(kube)
    dump = GOOD_DUMP.read_bytes()
    on_replica = psql.restore(NS, f"{CLUSTER}-1", [dump], deadline=None)
    assert on_replica.returncode == 0 and "read-only transaction" in on_replica.stderr
    on_leader = psql.restore(NS, f"{CLUSTER}-0", [dump[:1000], dump[1000:]], deadline=None)
    assert (on_leader.returncode, on_leader.stderr) == (0, "")
    counts = psql.row_counts(NS, f"{CLUSTER}-0", "service_db", ["public.user_entity", "public.realm"])
    assert counts == {"public.user_entity": 5, "public.realm": 2}
    with pytest.raises(PsqlError, match="read-only transaction"):
        psql.run(NS, f"{CLUSTER}-2", "ALTER USER \"service_account\" WITH PASSWORD 'n''ew';")
    psql.run(NS, f"{CLUSTER}-0", "SET log_statement = 'none';\nALTER USER \"service_account\" WITH PASSWORD 'n''ew';")
    assert psql.can_login(NS, f"{CLUSTER}-0", "service_account", "n'ew", "service_db")
    assert not psql.can_login(NS, f"{CLUSTER}-0", "service_account", "old", "service_db")
    assert [e.pod for e in kube.execs][:2] == [f"{CLUSTER}-1", f"{CLUSTER}-0"]
    assert [e.kind for e in kube.execs] == ["restore", "restore", "sql", "sql", "sql", "login", "login"]


def test_the_fake_database_replays_a_dump_as_psql_would():
    db = FakeDatabase.bootstrap("uid", {"postgres": "p", "standby": "s"}, {"service_db": "service_account"})
    db.replay(GOOD_DUMP.read_text())
    assert db.databases["service_db"] == {"public.realm": 2, "public.client": 3, "public.user_entity": 5,
                                          "public.credential": 5, "public.event_entity": 7}
    assert db.roles["service_account"].startswith("md5") and db.roles["postgres"] != verifier("postgres", "p")
    db.replay('\\connect -reuse-previous=on "dbname=\'service_db\'"\nCOPY public.realm (id) FROM stdin;\nx\n\\.\n')
    assert db.databases["service_db"]["public.realm"] == 3  # COPY appends, as a second restore would


def test_faults_hit_the_named_step_and_call(kube):
    stage = kube.stage
    stage.inject("scale", step="02-scale-workload", error=StepFailed("injected"))
    kube.scale("StatefulSet", NS, CLIENT, 2)  # outside that step: no fault
    stage.on_event({"event": "step_started", "step": "02-scale-workload"})
    with pytest.raises(StepFailed, match="injected"):
        kube.scale("StatefulSet", NS, CLIENT, 1)
    assert kube.get_workload("StatefulSet", NS, CLIENT)["spec"]["replicas"] == 2  # refused before it acted
    kube.scale("StatefulSet", NS, CLIENT, 1)  # spent
    stage.inject("scale", after=True, error=KubernetesError("answer lost"))
    with pytest.raises(KubernetesError):
        kube.scale("StatefulSet", NS, CLIENT, 3)
    assert kube.get_workload("StatefulSet", NS, CLIENT)["spec"]["replicas"] == 3  # it acted, then failed
    assert [c.method for c in stage.calls_in("02-scale-workload")] == ["scale", "get_workload", "scale", "scale",
                                                                       "get_workload"]


def test_a_crash_kills_every_later_call_until_revived(kube):
    kube.stage.inject("get_lease", crash=True)
    with pytest.raises(Crash):
        kube.get_lease(NS, "x")
    with pytest.raises(Crash):
        kube.cluster_identity()
    kube.stage.revive()
    assert kube.cluster_identity()["server"]


def test_a_hung_exec_ends_at_its_deadline_and_one_without_a_deadline_is_caught(kube):
    kube.stage.inject("exec", hang=True, times=None)
    started = time.monotonic()
    with pytest.raises(StepTimeout, match="ran past its step's deadline"):
        kube.exec(NS, f"{CLUSTER}-0", "postgres", ["patronictl", "list", "-f", "json"], deadline=started + 0.1)
    assert time.monotonic() - started < 1
    with pytest.raises(AssertionError, match="no deadline"):
        kube.exec(NS, f"{CLUSTER}-0", "postgres", ["patronictl", "list", "-f", "json"])


def test_the_fake_s3_streams_lazily_and_refuses_a_changed_object():
    s3 = FakeS3(Stage(), chunk=1000)
    body = GOOD_DUMP.read_bytes()
    obj = s3.put("b", "k", body)
    assert s3.head("b", "k") == obj and obj.size == len(body)
    assert b"".join(s3.stream("b", "k", if_match=obj.etag)) == body
    assert s3.read_range("b", "k", 0, 9) == body[:10]
    s3.put("b", "k", body + b"more")
    with pytest.raises(S3Error, match="ETag differs"):
        list(s3.stream("b", "k", if_match=obj.etag))
    with pytest.raises(S3Error):
        s3.head("b", "missing")
    assert [o.key for o in s3.list("b", "k")] == ["k"]
