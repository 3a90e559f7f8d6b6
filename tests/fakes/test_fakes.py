"""The fakes behave as the adapters and the cluster they stand for: same surface, same errors,
and the simulated controllers do what the engine relies on (and no more)."""

from __future__ import annotations

import base64
import inspect
import json
import time

import pytest

from pgrestore.adapters.kube import Kube
from pgrestore.adapters.psql import Psql
from pgrestore.adapters.s3 import S3, MultipartWriter
from pgrestore.contract.model import Target
from pgrestore.core import pods
from pgrestore.core.backups import BUCKET
from pgrestore.core.dumps import DumpWriter
from pgrestore.core.restore_errors import DumpIndex, judge
from pgrestore.errors import Conflict, KubernetesError, NotFound, PsqlError, S3Error, StepFailed, StepTimeout

from .fake_db import FakeDatabase, verifier
from .fake_kube import FakeKube, logical_backup_cronjob, secret_name
from .fake_s3 import FakeMultipartWriter, FakeS3
from .rehearsal import (
    BACKUP_CRONJOB,
    CLIENT,
    CLIENT_SELECTOR,
    CLUSTER,
    GOOD_DUMP,
    GOOD_PSQL,
    NS,
    SPILO_SELECTOR,
    WORLDS,
    Rehearsal,
)
from .stage import Crash, Stage


@pytest.fixture
def kube() -> FakeKube:
    return FakeKube.from_world(WORLDS / "keycloak.json")


def _public(cls) -> dict[str, list[str]]:
    return {name: [p for p in inspect.signature(fn).parameters if p not in ("self", "_faults")]
            for name, fn in inspect.getmembers(cls, inspect.isfunction) if not name.startswith("_")}


@pytest.mark.parametrize("real,fake", [(Kube, FakeKube), (S3, FakeS3), (MultipartWriter, FakeMultipartWriter)])
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
    assert kube.database(NS, CLUSTER).counts("service_db")["public.realm"] == 2
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
    assert db.counts("service_db") == {}  # empty: the data went with the old cluster
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
    assert on_leader.returncode == 0
    assert judge(on_leader.stderr, _index(dump + b"\n\\q\n")).unexpected == [
        'psql:<stdin>:114: ERROR:  relation "realm" already exists',  # the broken cluster still has these
        'psql:<stdin>:130: ERROR:  relation "client" already exists',
        'psql:<stdin>:164: ERROR:  relation "credential" already exists',
        'psql:<stdin>:184: ERROR:  relation "event_entity" already exists']
    counts = psql.row_counts(NS, f"{CLUSTER}-0", "service_db", ["public.user_entity", "public.realm"])
    assert counts == {"public.user_entity": 5, "public.realm": 4}
    assert kube.doubled_rows() == ["service_db.public.realm (had 2 rows)", "service_db.public.client (had 3 rows)",
                                   "service_db.public.credential (had 5 rows)",
                                   "service_db.public.event_entity (had 4 rows)"]
    with pytest.raises(PsqlError, match="read-only transaction"):
        psql.run(NS, f"{CLUSTER}-2", "ALTER USER \"service_account\" WITH PASSWORD 'n''ew';")
    psql.run(NS, f"{CLUSTER}-0", "SET log_statement = 'none';\nALTER USER \"service_account\" WITH PASSWORD 'n''ew';")
    assert psql.can_login(NS, f"{CLUSTER}-0", "service_account", "n'ew", "service_db")
    assert not psql.can_login(NS, f"{CLUSTER}-0", "service_account", "old", "service_db")
    assert [e.pod for e in kube.execs][:2] == [f"{CLUSTER}-1", f"{CLUSTER}-0"]
    assert [e.kind for e in kube.execs] == ["restore", "restore", "sql", "sql", "sql", "login", "login"]


def _index(sql: bytes) -> DumpIndex:
    index = DumpIndex()
    index.feed(sql)
    index.close()
    return index


def _fresh() -> FakeDatabase:
    """A cluster as the operator creates keycloak-postgres: its roles, an empty service_db."""
    return FakeDatabase.bootstrap("uid", {"postgres": "p", "standby": "s", "service_account": "a"},
                                  {"service_db": "service_account"})


def test_the_fake_database_replays_a_dump_as_psql_would_into_a_running_spilo_cluster():
    db = _fresh()
    dump = GOOD_DUMP.read_bytes()
    stderr = db.replay(dump.decode())
    assert db.counts("service_db") == {"public.realm": 2, "public.client": 3, "public.user_entity": 5,
                                       "public.credential": 5, "public.event_entity": 7}
    assert db.roles["service_account"].startswith("md5") and db.roles["postgres"] != verifier("postgres", "p")
    # What psql says replaying a dump into a cluster Spilo and the operator set up: all of it benign.
    verdict = judge(stderr, _index(dump))
    assert verdict.unexpected == [] and len(verdict.benign) == 8, stderr
    assert 'ERROR:  database "service_db" is being accessed by other users' in stderr  # the exporter's session
    assert db.doubled == []
    db.replay('\\connect -reuse-previous=on "dbname=\'service_db\'"\nCOPY public.realm (id) FROM stdin;\nx\n\\.\n')
    assert db.counts("service_db")["public.realm"] == 3  # COPY appends, as a second restore would
    assert db.doubled == ["service_db.public.realm (had 2 rows)"]


def test_a_copy_into_a_table_the_dump_did_not_create_fails_and_its_rows_are_lost():
    db = _fresh()
    dump = GOOD_DUMP.read_text().replace("CREATE TABLE public.user_entity (", "CREATE TABLE public.user_entiti (")
    stderr = db.replay(dump)
    verdict = judge(stderr, _index(dump.encode()))
    assert verdict.unexpected == ['psql:<stdin>:214: ERROR:  relation "public.user_entity" does not exist']
    assert db.counts("service_db")["public.user_entiti"] == 0 and "public.user_entity" not in db.counts("service_db")


def test_pg_dumpall_streams_the_database_out_and_its_dump_brings_it_back(kube):
    """`pg_dumpall -c` in the leader, through on_stdout in pieces: a dump the product's checks accept
    (header, trailer, row counts), and replayed into a fresh cluster, the same roles and rows."""
    before = kube.database(NS, CLUSTER)
    pieces: list[bytes] = []
    res = kube.exec(NS, f"{CLUSTER}-0", "postgres", ["pg_dumpall", "-c", "-U", "postgres"], on_stdout=pieces.append)
    assert (res.returncode, res.stdout, res.stderr) == (0, "", "") and len(pieces) > 2
    dump = b"".join(pieces)
    check = DumpWriter("safety")
    for piece in pieces:
        check.feed(piece)
    report = check.finish()
    assert report.rows == {"service_db": before.counts("service_db")}
    assert b"COPY public.realm (id, data) FROM stdin;\nrealm-1\tseeded row 1\nrealm-2\tseeded row 2\n\\.\n" in dump
    fresh = _fresh()
    assert judge(fresh.replay(dump.decode()), _index(dump)).unexpected == []
    assert fresh.summary() == before.summary()
    on_replica = kube.exec(NS, f"{CLUSTER}-2", "postgres", ["pg_dumpall", "-c", "-U", "postgres"])
    assert on_replica.returncode == 0 and on_replica.stdout.endswith("-- PostgreSQL database cluster dump complete\n"
                                                                     "--\n\n")


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


def test_cronjobs_are_batch_v1beta1_on_kubernetes_1_20_and_their_suspend_is_patched(kube):
    assert kube.cronjob_version() == "v1beta1"
    cron = kube.get_cronjob(NS, BACKUP_CRONJOB)
    assert cron["apiVersion"] == "batch/v1beta1" and cron["spec"]["suspend"] is False
    assert kube.read(Target("CronJob", NS, BACKUP_CRONJOB))["metadata"]["uid"] == cron["metadata"]["uid"]
    assert kube.get_cronjob(NS, logical_backup_cronjob(CLUSTER)) is None  # enableLogicalBackup: false
    kube.suspend_cronjob(NS, BACKUP_CRONJOB, True)
    assert kube.get_cronjob(NS, BACKUP_CRONJOB)["spec"]["suspend"] is True
    assert kube.cronjob_tick(NS) == []  # a suspended CronJob starts nothing
    with pytest.raises(NotFound):
        kube.suspend_cronjob(NS, "no-such-cronjob", True)
    newer = FakeKube.from_world({**json.loads((WORLDS / "keycloak.json").read_text()),
                                 "cluster": {"kubernetes_version": "1.22.13"}})
    assert newer.cronjob_version() == "v1"


def test_a_running_backup_job_is_waited_for_and_does_what_csms_backup_job_does(tmp_path, monkeypatch):
    r = Rehearsal.keycloak(tmp_path, monkeypatch)
    job = r.kube.run_cronjob(NS, BACKUP_CRONJOB)  # running when someone suspends the CronJob
    assert r.kube.get_job(NS, job)["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    r.kube.wait_jobs_of_cronjob_finished(NS, BACKUP_CRONJOB, "backup jobs to finish", 60)
    assert any(c["type"] == "Complete" for c in r.kube.get_job(NS, job)["status"]["conditions"])
    keys = r.s3.keys(BUCKET, f"{CLUSTER}-")
    assert len(keys) == 2 and GOOD_PSQL not in keys, "the cleanup deletes every older pair"
    assert b"COPY public.realm" in r.s3.body(BUCKET, keys[1])
    assert r.kube.cronjob_tick(NS) != []  # not suspended: the schedule starts a Job


def test_the_operator_deletes_its_logical_backup_cronjob_with_the_cluster_and_creates_it_again_unsuspended():
    world = json.loads((WORLDS / "keycloak.json").read_text())
    pg = next(o for o in world["objects"] if o["kind"] == "postgresql")
    pg["spec"]["enableLogicalBackup"] = True
    kube = FakeKube.from_world(world)
    name = logical_backup_cronjob(CLUSTER)
    kube.suspend_cronjob(NS, name, True)
    resource = kube.get_postgresql(NS, CLUSTER)
    kube.delete_postgresql(NS, CLUSTER)
    kube.settle()
    assert kube.get_cronjob(NS, name) is None
    kube.create_postgresql({"apiVersion": resource["apiVersion"], "kind": "postgresql",
                            "metadata": {"name": CLUSTER, "namespace": NS}, "spec": resource["spec"]})
    kube.settle()
    assert kube.get_cronjob(NS, name)["spec"].get("suspend") is None


def test_a_stream_cut_mid_restore_leaves_what_psql_had_read(kube):
    """A crash 3000 bytes into the restore's stdin: psql has run every line it received."""
    kube.stage.inject("exec", crash=True, at_byte=3000)
    dump = GOOD_DUMP.read_bytes()
    chunks = [dump[i:i + 1000] for i in range(0, len(dump), 1000)]
    with pytest.raises(Crash, match="3000 bytes into the stdin of psql"):
        Psql(kube).restore(NS, f"{CLUSTER}-0", chunks, deadline=None)
    db = kube.database(NS, CLUSTER)
    assert db.roles["service_account"] == "md5322c9c198b255b16022899fe2cc4943f"  # the roles came early
    assert db.counts("service_db")["public.user_entity"] == 0  # created, but its COPY came later
    assert db.counts("service_db")["public.realm"] == 2
    assert kube.execs[-1].stdin == dump[:3000]


def test_a_crash_mid_dump_stops_the_stream_there(kube):
    kube.stage.inject("exec", crash=True, at_byte=2000)
    got = bytearray()
    with pytest.raises(Crash):
        kube.exec(NS, f"{CLUSTER}-0", "postgres", ["pg_dumpall", "-c", "-U", "postgres"], on_stdout=got.extend)
    assert len(got) == 2048 and kube.stage.dead


def test_the_fake_s3_copies_server_side_and_writes_multipart(kube):
    s3 = FakeS3(Stage(), chunk=1000)
    body = GOOD_DUMP.read_bytes()
    obj = s3.put("b", "k", body)
    copied = s3.copy("b", source="k", target="pgrestore/k", if_match=obj.etag)
    assert (copied.key, copied.size, copied.etag) == ("pgrestore/k", obj.size, obj.etag)
    with pytest.raises(S3Error, match="ETag differs"):
        s3.copy("b", source="k", target="pgrestore/k2", if_match="0" * 32)
    assert s3.put_small("b", "small", b"x").size == 1
    w = s3.writer("b", "up")
    w.write(b"abc")
    assert s3.keys("b", "up") == [] and len(s3.uploads) == 1  # nothing to see before close
    assert w.close().size == 3 and s3.body("b", "up") == b"abc" and s3.uploads == {}
    aborted = s3.writer("b", "gone")
    aborted.write(b"abc")
    aborted.abort()
    assert s3.keys("b", "gone") == [] and s3.uploads == {}
    s3.stage.inject("writer", crash=True, at_byte=5)
    dying = s3.writer("b", "cut")
    dying.write(b"abc")
    with pytest.raises(Crash):
        dying.write(b"def")
    with pytest.raises(Crash):
        dying.abort()  # the process is gone: nothing of it runs
    assert s3.keys("b", "cut") == [] and len(s3.uploads) == 1  # an incomplete upload, no object
    s3.stage.revive()
    s3.stage.inject("stream", crash=True, at_byte=1500)
    read = []
    with pytest.raises(Crash):
        for chunk in s3.stream("b", "k"):
            read.append(chunk)
    assert len(read) == 2
