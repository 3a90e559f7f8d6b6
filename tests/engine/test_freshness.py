"""apply refuses a stale plan (exit 3) and changes nothing; status churn is not staleness."""

from __future__ import annotations

import base64

import pytest

from pgrestore.core.backups import BUCKET
from pgrestore.errors import PlanRejected
from pgrestore.executors import engine
from tests.fakes.fake_kube import secret_name
from tests.fakes.rehearsal import CLIENT, CLUSTER, GOOD_DUMP, GOOD_PSQL, NS


def test_a_client_pod_restarting_does_not_make_the_plan_stale(rehearsal):
    path = rehearsal.plan()
    kube = rehearsal.kube
    sts_rv = kube.obj("StatefulSet", NS, CLIENT)["metadata"]["resourceVersion"]
    kube.restart_pod(NS, f"{CLIENT}-1")  # a crash-looping client: new pod, status and resourceVersion churn
    kube.restart_pod(NS, f"{CLUSTER}-2")  # a replica restarting
    kube.set_leader(NS, CLUSTER, f"{CLUSTER}-1")  # and Patroni switched over
    assert kube.obj("StatefulSet", NS, CLIENT)["metadata"]["resourceVersion"] != sts_rv
    assert rehearsal.apply(path).startswith("restored")


def _refused(rehearsal, path, *words: str) -> None:
    before = rehearsal.kube.snapshot()
    with pytest.raises(PlanRejected) as err:
        rehearsal.apply(path)
    assert err.value.exit_code == 3
    message = str(err.value)
    assert "re-run `pgrestore plan`" in message or "re-plan" in message, message
    for word in words:
        assert word in message, message
    assert rehearsal.kube.snapshot() == before, "a refused apply changed the cluster"
    assert rehearsal.kube.get_lease(NS, "pgrestore-keycloak") is None


def test_a_changed_replica_count_makes_the_plan_stale(rehearsal):
    path = rehearsal.plan()
    rehearsal.kube.scale("StatefulSet", NS, CLIENT, 2)
    _refused(rehearsal, path, "statefulset/services/cray-keycloak", "replicas", "3 -> 2")


def test_a_changed_number_of_instances_makes_the_plan_stale(rehearsal):
    path = rehearsal.plan()
    rehearsal.kube.set_instances(NS, CLUSTER, 2)
    _refused(rehearsal, path, "postgresql/services/keycloak-postgres")


def test_a_rotated_secret_makes_the_plan_stale_without_showing_either_password(rehearsal):
    path = rehearsal.plan()
    name = secret_name("service_account", CLUSTER)
    old = rehearsal.kube.credentials(NS, name)[1]
    rehearsal.kube.put_secret(NS, {"metadata": {"name": name, "labels": {"cluster-name": CLUSTER}},
                                   "data": {"username": base64.b64encode(b"service_account").decode(),
                                            "password": base64.b64encode(b"rotated-by-someone").decode()}})
    with pytest.raises(PlanRejected) as err:
        rehearsal.apply(path)
    assert f"secret/services/{name}" in str(err.value)
    assert old not in str(err.value) and "rotated-by-someone" not in str(err.value)


def test_a_recreated_cluster_makes_the_plan_stale(rehearsal):
    path = rehearsal.plan()
    kube = rehearsal.kube
    resource = kube.get_postgresql(NS, CLUSTER)
    kube.delete_postgresql(NS, CLUSTER)
    kube.settle()
    kube.create_postgresql({"apiVersion": resource["apiVersion"], "kind": "postgresql",
                            "metadata": {"name": CLUSTER, "namespace": NS}, "spec": resource["spec"]})
    kube.settle()
    _refused(rehearsal, path, "re-created (uid")


def test_a_replaced_backup_makes_the_plan_stale(rehearsal):
    path = rehearsal.plan()
    rehearsal.s3.put(BUCKET, GOOD_PSQL, GOOD_DUMP.read_bytes() + b"-- appended\n")
    _refused(rehearsal, path, f"backup {GOOD_PSQL}")


def test_a_plan_for_another_cluster_is_refused(rehearsal):
    path = rehearsal.plan()
    rehearsal.kube.kube_system_uid = "0ther000-0000-4000-8000-000000000000"
    _refused(rehearsal, path, "kube-system uid")


def test_an_edited_plan_is_refused(rehearsal):
    path = rehearsal.plan()
    path.write_text(path.read_text().replace('"replicas": 3', '"replicas": 30', 1))
    _refused(rehearsal, path, "checksum mismatch")


def test_a_change_while_the_operator_reads_the_plan_at_the_prompt_is_caught_after_yes(rehearsal):
    """Checked before the prompt, and again after it: the operator may read the plan for minutes."""
    path = rehearsal.plan()
    opts = engine.Options(auto_approve=True)
    plan, kube, s3, journal = engine.prepare(path, opts)

    def yes_after_a_long_read(_plan) -> None:
        rehearsal.kube.scale("StatefulSet", NS, CLIENT, 2)  # someone scales the client meanwhile

    with pytest.raises(PlanRejected, match=r"plan is stale.*replicas'\] 3 -> 2"):
        engine.run(plan, kube=kube, s3=s3, journal=journal, opts=opts, emit=rehearsal.stage.on_event,
                   approve=yes_after_a_long_read)
    assert rehearsal.kube.get_lease(NS, "pgrestore-keycloak") is None
    assert rehearsal.kube.database(NS, CLUSTER) is not None and not path.with_name("plan.journal.json").exists()
