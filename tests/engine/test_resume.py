"""Kill apply (kill -9) anywhere between steps or inside one, start `apply --resume`: the end state
is the one an uninterrupted apply reaches. Exhaustive over the steps; cheap on the fakes.

A kill is a `Crash` raised by the fake adapter: nothing of the dying process runs after it (no
rollback, no journal write, no lease release). The lease it leaves names a process that is gone,
as on the same machine after a kill, so the resume may take it over.
"""

from __future__ import annotations

import pytest

from core.errors import ApplyFailedRolledBack, UsageError
from core.model import Plan
from tests.fakes.fake_kube import FakeKube, is_restore
from tests.fakes.rehearsal import CLIENT, CLUSTER, NS, Rehearsal
from tests.fakes.stage import Crash

MODES = {"from-manifest": None, "alter-users": "alter-users"}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, tuple[dict, list[str], dict[str, list]]]:
    """Per secrets mode: the end state of an uninterrupted apply, its step ids, and each step's calls."""
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        for mode, secrets in MODES.items():
            r = Rehearsal.keycloak(tmp_path_factory.mktemp(mode), mp)
            path = r.plan(secrets)
            r.apply(path)
            steps = Plan.step_ids(r.loaded(path))
            calls = {s: [c for c in r.stage.calls_in(s) if c.method != "upsert_configmap"] for s in steps}
            out[mode] = (_end_state(r.kube, mode), steps, calls)
    return out


def _end_state(kube: FakeKube, mode: str) -> dict:
    # alter-users leaves the new cluster's random passwords, which differ between runs that create
    # the cluster a different number of times: compare whether each opens its role instead.
    return kube.snapshot(passwords=mode == "from-manifest")


def _same(got: dict, want: dict) -> None:
    differ = {k: {"after resume": got.get(k), "uninterrupted": want.get(k)}
              for k in sorted(set(got) | set(want)) if got.get(k) != want.get(k)}
    assert not differ, f"the resumed apply ended elsewhere: {differ}"


def _crash_and_resume(r: Rehearsal, path) -> str:
    with pytest.raises(Crash):
        r.apply(path)
    r.stage.revive()
    r.kube.process_died()
    return r.apply(path, resume=True)


STEP_IDS = [f"{i:02d}" for i in range(1, 14)]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("n", STEP_IDS)
def test_killed_as_step_n_starts_the_resume_reaches_the_same_end(make, reference, mode, n):
    """Steps before n are done; n is marked running (the kill came at its first call)."""
    end, steps, _ = reference[mode]
    step = next(s for s in steps if s.startswith(n))
    r = make()
    path = r.plan(MODES[mode])
    r.stage.inject("*", step=step, crash=True)
    assert _crash_and_resume(r, path).startswith("restored")
    assert r.journal(path)["status"] == "done"
    _same(_end_state(r.kube, mode), end)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("n", STEP_IDS)
def test_killed_as_step_n_finishes_its_work_the_resume_reaches_the_same_end(make, reference, mode, n):
    """Step n's last call took effect, then the kill: the journal still says running, so n runs again."""
    end, steps, calls = reference[mode]
    step = next(s for s in steps if s.startswith(n))
    last = calls[step][-1]
    nth = len([c for c in calls[step] if c.method == last.method and c.adapter == last.adapter])
    r = make()
    path = r.plan(MODES[mode])
    r.stage.inject(last.method, step=step, nth=nth, crash=True, after=True,
                   where=lambda c: c.adapter == last.adapter)
    assert _crash_and_resume(r, path).startswith("restored")
    _same(_end_state(r.kube, mode), end)


def test_resume_never_deletes_a_cluster_someone_else_created_meanwhile(rehearsal):
    path = rehearsal.plan()
    rehearsal.stage.inject("*", step="05-restore-dump", crash=True)
    with pytest.raises(Crash):
        rehearsal.apply(path)
    rehearsal.stage.revive()
    rehearsal.kube.process_died()
    kube = rehearsal.kube
    resource = kube.get_postgresql(NS, CLUSTER)
    kube.delete_postgresql(NS, CLUSTER)  # someone re-creates it from its chart while apply is down
    kube.settle()
    foreign = kube.create_postgresql({"apiVersion": resource["apiVersion"], "kind": "postgresql",
                                      "metadata": {"name": CLUSTER, "namespace": NS}, "spec": resource["spec"]})
    kube.settle()
    resumed_at = len(rehearsal.stage.calls)
    with pytest.raises(ApplyFailedRolledBack, match="neither the planned one nor one this apply created"):
        rehearsal.apply(path, resume=True)
    assert kube.get_postgresql(NS, CLUSTER)["metadata"]["uid"] == foreign["metadata"]["uid"]
    assert "delete_postgresql" not in [c.method for c in rehearsal.stage.calls[resumed_at:]]


def test_rollback_on_demand_after_a_kill_puts_the_settings_back(rehearsal):
    path = rehearsal.plan()
    rehearsal.stage.inject("*", step="05-restore-dump", crash=True)
    with pytest.raises(Crash):
        rehearsal.apply(path)
    rehearsal.stage.revive()
    rehearsal.kube.process_died()
    assert rehearsal.rollback(path) == "the cluster's settings were put back as planned"
    kube = rehearsal.kube
    assert kube.get_workload("StatefulSet", NS, CLIENT)["spec"]["replicas"] == 3
    assert kube.get_postgresql(NS, CLUSTER)["spec"]["numberOfInstances"] == 3
    assert rehearsal.journal(path)["status"] == "rolled-back"


def test_resume_on_another_machine_takes_the_journal_from_the_cluster(rehearsal, reference):
    path = rehearsal.plan()
    rehearsal.stage.inject("*", step="08-set-instances", crash=True)
    with pytest.raises(Crash):
        rehearsal.apply(path)
    rehearsal.stage.revive()
    path.with_name("plan.journal.json").unlink()  # the other machine has the plan, not the journal
    rehearsal.kube.process_died()
    rehearsal.apply(path, resume=True)
    skipped = [e["step"] for e in rehearsal.stage.events if e.get("status") == "skipped"]
    assert skipped == ["01-verify-backup", "02-scale-workload", "03-delete-cluster", "04-create-cluster",
                       "05-restore-dump", "06-secrets-from-manifest", "07-restart-leader"]
    assert _end_state(rehearsal.kube, "from-manifest") == reference["from-manifest"][0]


def test_a_second_apply_of_a_started_plan_is_sent_to_resume(rehearsal):
    path = rehearsal.plan()
    rehearsal.stage.inject("*", step="03-delete-cluster", crash=True)
    with pytest.raises(Crash):
        rehearsal.apply(path)
    rehearsal.stage.revive()
    rehearsal.kube.process_died()
    with pytest.raises(UsageError, match="--resume"):
        rehearsal.apply(path)


def test_a_restore_killed_after_psql_ran_starts_again_from_the_delete(make):
    """A logical dump (pg_dumpall without -c) replayed twice would double every table: the interrupted
    restore must start over from a fresh cluster (its restart_from), not replay into the same data."""
    from .conftest import DUMP_ROWS
    r = make("logical")
    path = r.plan()
    r.stage.inject("exec", step="05-restore-dump", crash=True, after=True, where=lambda c: is_restore(c.args["argv"]))
    assert _crash_and_resume(r, path).startswith("restored")
    assert r.kube.database(NS, CLUSTER).databases["service_db"] == DUMP_ROWS
    deletes = [c.step for c in r.stage.calls if c.method == "delete_postgresql"]
    assert deletes == ["03-delete-cluster", "03-delete-cluster"]  # the planned cluster, then the one it made
