"""HSM (recreate-all) and SLS (in-place) on the rehearsal stage: the real planner and engine, the fake
Kubernetes and S3, the world of tests/fakes/worlds/hms.json (HSM lost 6 of its 10 components, SLS its
network table and 4 hardware rows). What a user notices after an apply, after a failure past the
destructive step (the rollback puts the live data back from the safety dump), after a kill mid-restore
and `apply --resume`, and when the backup is of another schema."""

from __future__ import annotations

import base64
import dataclasses
import json

import pytest
import yaml

from pgrestore.contract.model import PostgresqlSource
from pgrestore.core import pods
from pgrestore.errors import ApplyFailedRolledBack, BackupError, StepFailed, UsageError
from pgrestore.planner import build_plan, prerequisites
from pgrestore.planner.read import read_backup_s3, read_cluster
from pgrestore.planner.world import RecoveredSpec, Snapshot
from tests.fakes.fake_db import FakeDatabase
from tests.fakes.fake_kube import secret_name
from tests.fakes.rehearsal import (
    HSM_DUMP,
    HSM_MANIFEST,
    HSM_PSQL,
    NOW,
    SALT,
    SLS_DUMP,
    SLS_MANIFEST,
    SLS_PSQL,
    Rehearsal,
)
from tests.fakes.stage import Crash

NS = "services"
SERVICES = {
    # service: cluster, client, its users, the backup's dump and manifest, the key
    "hsm": ("cray-smd-postgres", "cray-smd", ("hmsdsuser", "service_account"), HSM_DUMP, HSM_MANIFEST, HSM_PSQL),
    "sls": ("cray-sls-postgres", "cray-sls", ("slsuser", "service_account"), SLS_DUMP, SLS_MANIFEST, SLS_PSQL),
}


@pytest.fixture
def hms(workdir, monkeypatch):
    count = [0]

    def factory(service: str, layout: str = "both") -> Rehearsal:
        count[0] += 1
        folder = workdir / f"{service}{count[0]}"
        folder.mkdir()
        return Rehearsal.hms(folder, monkeypatch, service, layout)
    return factory


def backup_data(service: str) -> dict:
    """Every table of every application database as the backup has it: rows and a digest of their contents."""
    db = FakeDatabase("backup")
    db.replay(SERVICES[service][3].read_text())
    return {d: tables for d, tables in db.summary()["databases"].items() if d not in ("postgres", "template1")}


def view(r: Rehearsal, service: str) -> dict:
    """What a user would compare: the data, the roles, the secrets, the members, the client, the CronJob."""
    cluster, client, users, *_ = SERVICES[service]
    kube = r.kube
    kube.settle()
    db = kube.database(NS, cluster)
    summary = db.summary() if db else {"databases": {}, "roles": {}}
    pg = kube.obj("postgresql", NS, cluster)
    deployment = kube.obj("Deployment", NS, client)
    return {
        "data": {d: t for d, t in summary["databases"].items() if d not in ("postgres", "template1")},
        "roles": summary["roles"],
        "secrets": {u: kube.credentials(NS, secret_name(u, cluster)) for u in ("postgres", "standby", *users)},
        "uid": pg["metadata"]["uid"] if pg else None,
        "numberOfInstances": pg["spec"]["numberOfInstances"] if pg else None,
        "members ready": len([p for p in kube.pods(NS, f"application=spilo,cluster-name={cluster}")
                              if pods.ready(p)]),
        "client replicas": deployment["spec"]["replicas"],
        "client ready": len([p for p in kube.pods(NS, f"app.kubernetes.io/name={client}") if pods.ready(p)]),
        "cronjob suspended": kube.obj("CronJob", NS, f"{cluster.removesuffix('-postgres')}-postgresql-db-backup")
        ["spec"]["suspend"],
    }


def test_sls_in_place_brings_back_every_table_and_keeps_its_resource(hms):
    r = hms("sls")
    before = view(r, "sls")
    assert "public.network" not in before["data"]["sls"]  # the disaster
    path = r.plan()
    assert r.apply(path) == f"restored {NS}/cray-sls-postgres from {SLS_PSQL}"
    after = view(r, "sls")
    assert after["data"] == backup_data("sls")
    assert r.kube.doubled_rows() == []
    assert after["uid"] == before["uid"]  # in place: the same resource
    assert (after["numberOfInstances"], after["members ready"]) == (3, 3)
    assert (after["client replicas"], after["client ready"]) == (3, 3)
    assert after["cronjob suspended"] is False
    db = r.kube.database(NS, "cray-sls-postgres")
    assert db.revoked == set(), "CONNECT was not granted back"
    manifest = {s["metadata"]["name"] for s in _manifest_docs(SLS_MANIFEST)}
    for user, (name, password) in after["secrets"].items():
        assert db.login(name, password, "postgres") is None, f"the {user} secret does not open the database"
    assert {secret_name(u, "cray-sls-postgres") for u in after["secrets"]} == manifest
    # Every member is a new pod (restarted with the backup's credentials), and the init job ran before the drop.
    steps = [e["step"] for e in r.stage.events if e.get("event") == "step_started"]
    assert steps.index(r.step(path, "rerun-job")) < steps.index(r.step(path, "drop-databases"))


def _manifest_docs(path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def test_hsm_recreate_all_restores_the_backup_and_empties_comp_eth_interfaces(hms):
    r = hms("hsm")
    before = view(r, "hsm")
    path = r.plan()
    assert r.apply(path) == f"restored {NS}/cray-smd-postgres from {HSM_PSQL}"
    after = view(r, "hsm")
    wanted = backup_data("hsm")
    interfaces = wanted["hmsds"].pop("public.comp_eth_interfaces")
    assert interfaces.startswith("10 rows")  # the backup has them; the restore empties the table
    assert after["data"]["hmsds"].pop("public.comp_eth_interfaces").startswith("0 rows")
    assert after["data"] == wanted
    assert r.kube.doubled_rows() == []
    assert after["uid"] != before["uid"]  # re-created ...
    created = next(e for e in r.stage.calls if e.method == "create_postgresql")
    assert created.args["body"]["spec"]["numberOfInstances"] == 3  # ... unchanged: every member at once
    assert (after["members ready"], after["client ready"], after["cronjob suspended"]) == (3, 3, False)
    db = r.kube.database(NS, "cray-smd-postgres")
    for name, password in after["secrets"].values():
        assert db.login(name, password, "postgres") is None
    restarted = r.journal(path)["steps"][r.step(path, "restart-members")]["observed"]["restarted"]
    # Every member restarted: the replicas first, the leader (pod 0 of a new cluster) last.
    assert restarted == ["cray-smd-postgres-1", "cray-smd-postgres-2", "cray-smd-postgres-0"]


@pytest.mark.parametrize("service,failing", [("sls", "restore-dump"), ("sls", "restart-members"),
                                             ("hsm", "restore-dump"), ("hsm", "run-sql")])
def test_a_failure_after_the_destructive_step_puts_the_live_data_back(hms, service, failing):
    r = hms(service)
    before = view(r, service)
    path = r.plan()
    if failing == "restore-dump":  # psql ran the dump, and said what no judge lets pass
        r.stage.inject("exec", step=r.step(path, failing),
                       result={"stderr": 'psql:<stdin>:120: ERROR:  relation "public.components" does not exist\n'})
    else:
        r.stage.inject("*", step=r.step(path, failing), error=StepFailed("the API server went away"))
    with pytest.raises(ApplyFailedRolledBack, match="data included"):
        r.apply(path)
    after = view(r, service)
    if service == "hsm":
        assert after.pop("uid") != before.pop("uid")  # a fresh cluster, with the live data
    assert after == before
    assert r.kube.doubled_rows() == []
    assert r.journal(path)["status"] == "rolled-back"


def test_sls_a_failure_before_the_drop_touches_no_database(hms):
    r = hms("sls")
    before = view(r, "sls")
    path = r.plan()
    r.stage.inject("*", step=r.step(path, "rerun-job"), error=StepFailed("job cray-sls-init-load failed"))
    with pytest.raises(ApplyFailedRolledBack, match="before anything destructive"):
        r.apply(path)
    assert view(r, "sls") == before
    journal = r.journal(path)
    assert journal["rollback"][r.step(path, "drop-databases", rollback=True)]["observed"]["dropped"] is False
    assert journal["rollback"][r.step(path, "restore-dump", rollback=True)]["status"] == "skipped"


@pytest.mark.parametrize("service", ["sls", "hsm"])
def test_a_kill_mid_restore_then_resume_never_replays_on_top(hms, service):
    r = hms(service)
    path = r.plan()
    r.stage.inject("exec", step=r.step(path, "restore-dump"), crash=True, at_byte=2500)
    with pytest.raises(Crash):
        r.apply(path)
    r.crashed()
    r.apply(path, resume=True)
    after = view(r, service)
    wanted = backup_data(service)
    if service == "hsm":
        wanted["hmsds"].pop("public.comp_eth_interfaces")
        after["data"]["hmsds"].pop("public.comp_eth_interfaces")
    assert after["data"] == wanted
    assert r.kube.doubled_rows() == [], "a half-streamed dump was replayed on top of itself"


def test_a_backup_of_another_hsm_schema_is_refused_and_nothing_changes(hms):
    r = hms("hsm", layout="hsm-schema-20-newest")
    before = view(r, "hsm")
    with pytest.raises(BackupError) as refused:
        r.plan()
    assert str(refused.value).startswith("backup is for schema 20, live HSM is 21: upgrade or downgrade first")
    assert view(r, "hsm") == before
    changing = ("create", "delete", "put", "scale", "suspend", "set_", "replace", "upsert", "rollout", "copy", "writer")
    assert [c for c in r.stage.calls if c.method.startswith(changing)] == []
    sql = [e.sql for e in r.kube.execs]
    assert sql and all(s.lstrip().upper().startswith("SELECT") for s in sql), sql


@pytest.mark.parametrize("service", ["sls", "hsm"])
def test_no_secret_value_reaches_a_journal_or_an_event(hms, service):
    r = hms(service)
    path = r.plan()
    r.apply(path)
    values = {s.get("password") for s in (_decoded(d) for d in _manifest_docs(SERVICES[service][4]))}
    world = json.loads((HSM_DUMP.parent / "hms.json").read_text())
    values |= {_decoded(o)["password"] for o in world["objects"] if o["kind"] == "Secret"}
    texts = [path.read_text(), json.dumps(r.journal(path)), json.dumps(r.stage.events)]
    for value in values:
        assert all(value not in t for t in texts)


def _decoded(secret: dict) -> dict:
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


@pytest.mark.parametrize("service", ["sls", "hsm"])
def test_a_cluster_that_is_gone_is_refused_in_one_line(hms, service):
    """Both restore into the live cluster: with the resource gone (its spec recovered) plan says to re-create
    it from its chart, in one line, instead of failing at the schema check or writing a plan that cannot run."""
    r = hms(service)
    cluster = SERVICES[service][0]
    resource = r.kube.get_postgresql(NS, cluster)
    r.kube.delete_postgresql(NS, cluster)
    r.kube.settle()
    # As `plan --postgresql-spec FILE` leaves it: the resource gone, its spec recovered.
    state = dataclasses.replace(read_cluster(r.kube, r.service),
                                recovered=RecoveredSpec(PostgresqlSource("file", "/tmp/spec.yaml"), resource))
    snapshot = Snapshot(state, read_backup_s3(r.s3, cluster, "latest"))
    prerequisites.check(r.kube, r.s3, r.service, snapshot)  # no live schema to read: build_plan says why
    with pytest.raises(UsageError, match=f"postgresql {NS}/{cluster} is gone and strategy .* restores into an "
                                         f"existing cluster; re-create it from its Helm chart first") as refused:
        build_plan(snapshot, r.service, NOW, SALT, key=r.plan_key)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("service", ["sls", "hsm"])
def test_a_kill_mid_rollback_then_pgrestore_rollback_ends_as_before(hms, service):
    """The restore fails, the rollback's replay of the safety dump is killed half-way; `pgrestore rollback`
    starts it again from its drop (SLS) or its re-create (HSM), never on top of the half-replayed one."""
    r = hms(service)
    before = view(r, service)
    path = r.plan()
    r.stage.inject("exec", step=r.step(path, "restore-dump"),
                   result={"stderr": 'psql:<stdin>:120: ERROR:  relation "public.components" does not exist\n'})
    # Late enough that the safety dump's COPY blocks of the application's tables have been replayed.
    safety_size = len(r.kube.database(NS, SERVICES[service][0]).dump(clean=True).encode())
    r.stage.inject("exec", step=r.step(path, "restore-dump", rollback=True), crash=True,
                   at_byte=safety_size * 9 // 10)
    with pytest.raises(Crash):
        r.apply(path)
    r.crashed()
    assert "data included" in r.rollback(path)
    after = view(r, service)
    if service == "hsm":
        assert after.pop("uid") != before.pop("uid")
    assert after == before
    assert r.kube.doubled_rows() == []
