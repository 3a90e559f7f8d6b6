"""After a kill (kill -9) of apply: `apply --resume` and `pgrestore rollback`, as a user meets them.
The exhaustive matrix of kill points is tests/engine/test_kill_matrix.py.

A kill is a `Crash` raised by the fake adapter: nothing of the dying process runs after it (no
rollback, no journal write, no lease release). The lease it leaves names a process that is gone,
as on the same machine after a kill, so the resume may take it over.
"""

from __future__ import annotations

import pytest

from pgrestore.errors import ApplyFailedRollbackIncomplete, UsageError
from pgrestore.planner.options import PlanOptions
from tests.fakes.fake_kube import is_restore
from tests.fakes.rehearsal import CLUSTER, NS, Rehearsal
from tests.fakes.stage import Crash

from .conftest import DUMP_ROWS, user_view


def _killed(r: Rehearsal, path) -> None:
    with pytest.raises(Crash):
        r.apply(path)
    r.crashed()


def test_resume_never_deletes_a_cluster_someone_else_created_meanwhile(rehearsal):
    path = rehearsal.plan()
    rehearsal.stage.inject("*", step=rehearsal.step(path, "restore-dump"), crash=True)
    _killed(rehearsal, path)
    kube = rehearsal.kube
    resource = kube.get_postgresql(NS, CLUSTER)
    kube.delete_postgresql(NS, CLUSTER)  # someone re-creates it from its chart while apply is down
    kube.settle()
    foreign = kube.create_postgresql({"apiVersion": resource["apiVersion"], "kind": "postgresql",
                                      "metadata": {"name": CLUSTER, "namespace": NS}, "spec": resource["spec"]})
    kube.settle()
    resumed_at = len(rehearsal.stage.calls)
    # The resume refuses to delete it, and so does the rollback: exit 6, saying what is left by hand.
    with pytest.raises(ApplyFailedRollbackIncomplete, match="re-created by someone else"):
        rehearsal.apply(path, resume=True)
    assert kube.get_postgresql(NS, CLUSTER)["metadata"]["uid"] == foreign["metadata"]["uid"]
    assert "delete_postgresql" not in [c.method for c in rehearsal.stage.calls[resumed_at:]]


@pytest.mark.parametrize("options", [PlanOptions(), PlanOptions(secrets_mode="alter-users")],
                         ids=["safety dump in the bucket", "alter-users"])
def test_rollback_on_demand_after_a_kill_mid_restore_puts_the_service_back_data_included(make, options):
    r = make()
    before = user_view(r)
    path = r.plan(options)
    r.stage.inject("exec", step=r.step(path, "restore-dump"), crash=True, at_byte=3000,
                   where=lambda c: is_restore(c.args["argv"]))
    _killed(r, path)
    assert r.kube.database(NS, CLUSTER).counts("service_db") != before["rows"]  # half a restore
    r.rollback(path)
    assert r.journal(path)["status"] == "rolled-back"
    assert r.journal(path)["rollback"]["r02-restore-dump"]["status"] == "done"
    assert user_view(r) == before


def test_rollback_on_demand_of_a_plan_never_applied_is_refused_and_changes_nothing(rehearsal):
    path = rehearsal.plan()
    before, planned = rehearsal.kube.snapshot(), len(rehearsal.stage.calls)
    with pytest.raises(UsageError, match="was never applied") as err:
        rehearsal.rollback(path)
    assert err.value.exit_code == 64
    assert rehearsal.kube.snapshot() == before
    assert not path.with_name("plan.journal.json").exists()
    # reads only (read_secret: the plan key its signature is checked with)
    assert {c.method for c in rehearsal.stage.calls[planned:]} <= {"cluster_identity", "read_secret", "get_configmap"}


def test_rollback_on_demand_of_a_plan_that_stopped_before_any_change_is_refused(rehearsal):
    path = rehearsal.plan()
    rehearsal.stage.inject("stream", step="01-verify-backup", crash=True)
    _killed(rehearsal, path)
    before = rehearsal.kube.snapshot()
    with pytest.raises(UsageError, match="was never applied"):
        rehearsal.rollback(path)
    assert rehearsal.kube.snapshot() == before


def test_a_kill_during_the_rollback_is_finished_by_pgrestore_rollback_not_by_resume(rehearsal):
    before = user_view(rehearsal)
    path = rehearsal.plan()
    rehearsal.stage.inject("exec", step=rehearsal.step(path, "restore-dump"), result={"stderr": "ERROR:  boom\n"})
    rehearsal.stage.inject("*", step="r03-secrets-from-manifest", crash=True)
    _killed(rehearsal, path)
    with pytest.raises(UsageError, match="finish it with `pgrestore rollback"):
        rehearsal.apply(path, resume=True)
    rehearsal.rollback(path)
    assert rehearsal.journal(path)["status"] == "rolled-back"
    assert user_view(rehearsal) == before


def test_resume_on_another_machine_takes_the_journal_from_the_cluster(rehearsal):
    path = rehearsal.plan()
    set_instances = rehearsal.step(path, "set-instances")
    rehearsal.stage.inject("*", step=set_instances, crash=True)
    _killed(rehearsal, path)
    path.with_name("plan.journal.json").unlink()  # the other machine has the plan, not the journal
    rehearsal.apply(path, resume=True)
    skipped = [e["step"] for e in rehearsal.stage.events if e.get("status") == "skipped"]
    steps = rehearsal.loaded(path).step_ids()
    assert skipped == steps[:steps.index(set_instances)]
    assert rehearsal.journal(path)["status"] == "done"
    assert rehearsal.kube.database(NS, CLUSTER).counts("service_db") == DUMP_ROWS


def test_a_second_apply_of_a_started_plan_is_sent_to_resume(rehearsal):
    path = rehearsal.plan()
    rehearsal.stage.inject("*", step=rehearsal.step(path, "delete-cluster"), crash=True)
    _killed(rehearsal, path)
    with pytest.raises(UsageError, match="--resume"):
        rehearsal.apply(path)


def test_a_restore_killed_after_psql_ran_starts_again_from_the_delete(make):
    """A logical dump (pg_dumpall without -c) replayed twice would double every table: the interrupted
    restore must start over from a fresh cluster (its restart_from), not replay into the same data."""
    r = make("logical")
    path = r.plan()
    r.stage.inject("exec", step=r.step(path, "restore-dump"), crash=True, after=True,
                   where=lambda c: is_restore(c.args["argv"]))
    _killed(r, path)
    assert r.apply(path, resume=True).startswith("restored")
    assert r.kube.database(NS, CLUSTER).counts("service_db") == DUMP_ROWS
    assert r.kube.doubled_rows() == []
    deletes = [c.step for c in r.stage.calls if c.method == "delete_postgresql"]
    delete = r.step(path, "delete-cluster")
    assert deletes == [delete, delete]  # the planned cluster, then the one it made
