"""The Patroni leader is a fact of the cluster, found at apply time: never "pod 0"."""

from __future__ import annotations

import pytest

from pgrestore.contract.model import Plan
from pgrestore.core import pods
from pgrestore.errors import StepFailed
from tests.fakes.rehearsal import CLUSTER, NS, SPILO_SELECTOR


def three_members(plan: Plan) -> None:
    """A plan whose create-cluster brings up 3 members at once, so the leader may be any of them."""
    step = next(s for s in plan.steps if s.kind == "create-cluster")
    step.params["numberOfInstances"] = 3


def _targets(rehearsal) -> dict[str, set[str]]:
    """Which pods got the restore, the ALTER USER and the row counts, and which one was dumped."""
    out: dict[str, set[str]] = {"restore": set(), "alter": set(), "counts": set(), "dump": set()}
    for e in rehearsal.kube.execs:
        if e.kind == "dump":
            out["dump"].add(e.pod)
        elif e.kind == "restore":
            out["restore"].add(e.pod)
        elif e.kind == "sql":
            out["counts" if "count(*)" in e.sql else "alter"].add(e.pod)
    return out


@pytest.mark.parametrize("secrets_mode", ["alter-users", None])
def test_restore_alter_users_and_row_counts_go_to_the_leader_on_pod_1(rehearsal, secrets_mode):
    rehearsal.kube.leader_on_create[CLUSTER] = 1  # Patroni's bootstrap race was won by pod 1
    path = rehearsal.plan(secrets_mode, edit=three_members)
    assert rehearsal.apply(path).startswith("restored")
    got = _targets(rehearsal)
    assert got["restore"] == {f"{CLUSTER}-1"} and got["counts"] == {f"{CLUSTER}-1"}
    assert got["alter"] == ({f"{CLUSTER}-1"} if secrets_mode else set())
    observed = rehearsal.journal(path)["steps"]
    assert observed[rehearsal.step(path, "restore-dump")]["observed"]["leader"] == f"{CLUSTER}-1"
    assert observed[rehearsal.step(path, "restart-leader")]["observed"]["old_leader"] == f"{CLUSTER}-1"


def test_a_switchover_during_apply_is_followed(rehearsal):
    path = rehearsal.plan("alter-users", edit=three_members)
    rehearsal.stage.at_step(rehearsal.step(path, "restore-dump"),
                            lambda: rehearsal.kube.set_leader(NS, CLUSTER, f"{CLUSTER}-2"))
    rehearsal.apply(path)
    assert _targets(rehearsal)["restore"] == {f"{CLUSTER}-2"}
    assert _targets(rehearsal)["alter"] == {f"{CLUSTER}-2"}


def test_the_safety_dump_is_taken_from_the_leader_wherever_it_is(rehearsal):
    rehearsal.kube.set_leader(NS, CLUSTER, f"{CLUSTER}-2")
    path = rehearsal.plan()
    assert rehearsal.apply(path).startswith("restored")
    assert _targets(rehearsal)["dump"] == {f"{CLUSTER}-2"}
    safety = rehearsal.journal(path)["steps"][rehearsal.step(path, "safety-dump")]["observed"]
    assert safety["leader"] == f"{CLUSTER}-2"


def test_without_role_labels_the_leader_is_asked_of_patronictl(rehearsal):
    kube = rehearsal.kube
    kube.set_leader(NS, CLUSTER, f"{CLUSTER}-1")
    kube.role_labels = False
    kube.settle()
    assert pods.leader(kube.list_pods(NS, SPILO_SELECTOR)) is None
    assert pods.find_leader(kube, NS, CLUSTER) == f"{CLUSTER}-1"
    assert [e.kind for e in kube.execs] == ["patronictl"]


def test_no_leader_anywhere_is_an_error_that_names_the_cluster(rehearsal):
    kube = rehearsal.kube
    kube.role_labels = False
    kube.settle()
    kube.stage.inject("exec", result={"returncode": 1, "stdout": "", "stderr": "Error: no leader"}, times=None)
    with pytest.raises(StepFailed, match=f"no Patroni leader among the pods of {NS}/{CLUSTER}"):
        pods.find_leader(kube, NS, CLUSTER)
