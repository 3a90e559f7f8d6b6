"""A restore of a cluster whose `postgresql` resource is gone (tests/fakes/helm_release.py: deleted
with its data and secrets, the Helm release Secrets kept), on the rehearsal stage."""

from __future__ import annotations

import json

import pytest

from pgrestore.errors import (
    ApplyFailedRollbackIncomplete,
    ApplyFailedRolledBack,
    KubernetesError,
    PlanRejected,
    StepFailed,
)
from tests.fakes.fake_kube import is_ready
from tests.fakes.helm_release import cluster_gone
from tests.fakes.rehearsal import BACKUP_CRONJOB, CLIENT, CLIENT_SELECTOR, CLUSTER, NS
from tests.fakes.stage import Crash

from .conftest import CREDENTIAL_SECRETS, DUMP_ROWS, backup_passwords, user_view, world


@pytest.fixture
def gone(make):
    return make(world=cluster_gone(world()))


def test_apply_creates_the_cluster_from_the_helm_release_and_restores_the_backup(gone):
    path = gone.plan()
    assert json.loads(path.read_text())["postgresql_source"] == {"kind": "helm",
                                                                 "ref": "sh.helm.release.v1.cray-keycloak.v2"}
    gone.apply(path)
    kube = gone.kube
    assert kube.database(NS, CLUSTER).counts("service_db") == DUMP_ROWS
    pg = kube.get_postgresql(NS, CLUSTER)
    assert pg["spec"]["numberOfInstances"] == 3
    assert pg["spec"]["volume"] == {"size": "10Gi"}  # the deployed revision's, not the superseded one's 5Gi
    # Owned by the release again: the next `helm upgrade` takes it over instead of failing.
    assert pg["metadata"]["annotations"]["meta.helm.sh/release-name"] == "cray-keycloak"
    assert pg["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    assert {n: kube.credentials(NS, n)[1] for n in CREDENTIAL_SECRETS} == backup_passwords()
    view = user_view(gone)
    assert (view["client replicas"], view["client pods ready"], view["members ready"]) == (3, 3, 3)
    assert kube.get_cronjob(NS, BACKUP_CRONJOB)["spec"]["suspend"] is False


def test_a_resource_re_created_after_planning_makes_the_plan_stale_and_nothing_changes(gone):
    path = gone.plan()
    somebody = gone.kube.create_postgresql({"apiVersion": "acid.zalan.do/v1", "kind": "postgresql",
                                            "metadata": {"name": CLUSTER, "namespace": NS},
                                            "spec": {"teamId": "keycloak", "numberOfInstances": 1}})
    gone.kube.settle()
    before = user_view(gone)
    with pytest.raises(PlanRejected) as e:
        gone.apply(path)
    assert f"postgresql/{NS}/{CLUSTER}: exists now (uid {somebody['metadata']['uid']})" in str(e.value)
    assert user_view(gone) == before


def test_a_failure_after_the_create_leaves_the_resource_absent_as_it_was(gone):
    path = gone.plan()
    before = user_view(gone)
    gone.stage.inject("exec", step=gone.step(path, "restore-dump"), error=StepFailed("psql died"))
    with pytest.raises(ApplyFailedRolledBack) as e:
        gone.apply(path)
    assert "is absent again, as it was before apply" in str(e.value)
    assert gone.kube.get_postgresql(NS, CLUSTER) is None
    assert user_view(gone) == before
    assert gone.kube.get_workload("StatefulSet", NS, CLIENT)["spec"]["replicas"] == 3


def test_the_rollback_leaves_a_cluster_somebody_else_made_and_says_so(gone):
    path = gone.plan()
    # Somebody deletes ours mid-restore and makes their own: the rollback must not delete theirs.
    def swap(_call) -> bool:
        gone.kube.delete_postgresql(NS, CLUSTER)
        gone.kube.settle()
        gone.kube.create_postgresql({"apiVersion": "acid.zalan.do/v1", "kind": "postgresql",
                                     "metadata": {"name": CLUSTER, "namespace": NS},
                                     "spec": {"teamId": "keycloak", "numberOfInstances": 1}})
        return True
    gone.stage.inject("exec", step=gone.step(path, "restore-dump"), error=StepFailed("psql died"), where=swap)
    with pytest.raises(ApplyFailedRollbackIncomplete) as e:
        gone.apply(path)
    assert "neither the planned one nor one this apply created" in str(e.value)
    theirs = gone.kube.get_postgresql(NS, CLUSTER)
    assert theirs is not None and "pgrestore.dev/created-by-plan" not in (theirs["metadata"].get("annotations") or {})


def test_a_resume_after_a_half_done_restore_starts_again_from_a_fresh_cluster(gone):
    path = gone.plan()
    gone.stage.inject("exec", step=gone.step(path, "restore-dump"), crash=True, at_byte=2000)
    with pytest.raises(Crash):
        gone.apply(path)
    gone.crashed()
    first = gone.kube.get_postgresql(NS, CLUSTER)["metadata"]["uid"]
    gone.apply(path, resume=True)
    assert gone.kube.get_postgresql(NS, CLUSTER)["metadata"]["uid"] != first
    assert gone.kube.database(NS, CLUSTER).counts("service_db") == DUMP_ROWS
    assert gone.kube.doubled_rows() == []


def test_a_client_stuck_unready_on_the_deleted_database_is_scaled_down_even_ordered_ready(make):
    """Kubernetes' default OrderedReady StatefulSet never removes unready pods on its own: the
    scale-down deletes them, or apply would wait out the step's deadline."""
    def ordered(objects):
        objects[("StatefulSet", CLIENT)]["spec"].pop("podManagementPolicy")
    r = make(world=cluster_gone(world(ordered)))
    assert r.kube.pods(NS, CLIENT_SELECTOR) and not any(is_ready(p) for p in r.kube.pods(NS, CLIENT_SELECTOR))
    path = r.plan()
    r.apply(path)
    scaled = r.journal(path)["steps"][r.step(path, "scale-workload")]["observed"]
    assert scaled["deleted_unready"] == [f"{CLIENT}-0", f"{CLIENT}-1", f"{CLIENT}-2"]
    assert r.kube.database(NS, CLUSTER).counts("service_db") == DUMP_ROWS
    assert user_view(r)["client pods ready"] == 3


def test_with_no_helm_release_the_spec_comes_from_the_last_applys_journal(make):
    """A restore that failed and could not re-create the cluster (its rollback incomplete), in a
    namespace with no Helm release of it: the next plan takes the spec delete-cluster kept."""
    r = make()
    first = r.plan()
    planned_spec = json.loads(first.read_text())["rollback"][0]["params"]["resource"]["spec"]
    r.stage.inject("exec", step=r.step(first, "restore-dump"), error=StepFailed("psql died"))
    r.stage.inject("create_postgresql", step=r.step(first, "ensure-cluster", rollback=True),
                   error=KubernetesError("forbidden"), times=None)
    with pytest.raises(ApplyFailedRollbackIncomplete):
        r.apply(first)
    assert r.kube.get_postgresql(NS, CLUSTER) is None

    again = r.plan(name="again.json")
    source = json.loads(again.read_text())["postgresql_source"]
    assert source["kind"] == "journal" and source["ref"].startswith(f"ConfigMap {NS}/pgrestore-journal-keycloak")
    r.apply(again)
    assert r.kube.get_postgresql(NS, CLUSTER)["spec"] == planned_spec
    assert r.kube.database(NS, CLUSTER).counts("service_db") == DUMP_ROWS
