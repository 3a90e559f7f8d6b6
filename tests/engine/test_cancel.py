"""`pgrestore cancel`: the running apply stops before its next step; after a change it rolls back as on any
failure, before one it says nothing was changed. A request is for the apply that held the lease then
(its lock id): it never cancels a later apply of the same plan."""

from __future__ import annotations

import pytest

from pgrestore.errors import ApplyFailedRolledBack, Cancelled, UsageError
from pgrestore.executors.lock import request_cancel
from tests.fakes.rehearsal import BACKUP_CRONJOB, NS
from tests.fakes.stage import Crash

from .conftest import user_view


def _cancel_during(rehearsal, step_id: str) -> None:
    rehearsal.stage.at_step(step_id, lambda: request_cancel(rehearsal.kube, NS, "keycloak", "alice@ncn-m002"))


def test_a_cancel_after_the_delete_rolls_back_data_included(rehearsal):
    before = user_view(rehearsal)
    path = rehearsal.plan()
    _cancel_during(rehearsal, rehearsal.step(path, "delete-cluster"))
    with pytest.raises(ApplyFailedRolledBack, match="cancelled by alice@ncn-m002 .*data included"):
        rehearsal.apply(path)
    assert user_view(rehearsal) == before
    steps = rehearsal.journal(path)["steps"]
    assert steps[rehearsal.step(path, "delete-cluster")]["status"] == "done", "the running step was not cut short"
    assert steps[rehearsal.step(path, "create-cluster")]["status"] == "pending", "no step after the request"
    assert rehearsal.journal(path)["ended_because"].startswith("cancelled by alice@ncn-m002 at ")


def test_a_cancel_before_any_change_changes_nothing(rehearsal):
    before = user_view(rehearsal)
    path = rehearsal.plan()
    _cancel_during(rehearsal, "01-verify-backup")
    with pytest.raises(Cancelled, match="cancelled by alice@ncn-m002 .*before step 02-"):
        rehearsal.apply(path)
    assert user_view(rehearsal) == before


def test_a_cancel_request_does_not_cancel_a_resume_of_the_same_plan(rehearsal):
    path = rehearsal.plan()
    _cancel_during(rehearsal, "01-verify-backup")
    with pytest.raises(Cancelled):
        rehearsal.apply(path)
    assert "restored" in rehearsal.apply(path, resume=True)
    assert "ended_because" not in rehearsal.journal(path), "the last stop's reason is not the resume's"


def test_cancel_with_no_apply_running_says_so(rehearsal):
    with pytest.raises(UsageError, match="no apply of keycloak is running"):
        request_cancel(rehearsal.kube, NS, "keycloak", "alice@ncn-m002")


def test_a_cancel_after_the_restore_was_kept_keeps_it_and_finishes(rehearsal):
    """Once the client is back on the restored data a rollback would throw the restore away: the apply goes on
    to the end (backup CronJobs resumed) and says that the cancel was not done."""
    path = rehearsal.plan()
    plan = rehearsal.loaded(path)
    commit = next(s.id for s in plan.steps if s.commit)
    _cancel_during(rehearsal, commit)
    assert "restored" in rehearsal.apply(path)
    messages = [e["text"] for e in rehearsal.stage.events if e.get("event") == "message"]
    assert any("not done, the restore is kept" in m for m in messages), messages
    assert user_view(rehearsal)["cronjobs suspended"] == {BACKUP_CRONJOB: False}


def test_a_cancel_asked_of_an_apply_that_died_is_honoured_by_its_resume(rehearsal):
    """The Job's pod went after the request was written and before its next step: the pod that resumes that
    apply (taking the lease over from it) rolls back."""
    before = user_view(rehearsal)
    path = rehearsal.plan()
    delete = rehearsal.step(path, "delete-cluster")
    rehearsal.stage.at_step(delete, lambda: request_cancel(rehearsal.kube, NS, "keycloak", "alice@ncn-m002"))
    rehearsal.stage.inject("wait_postgresql", step=delete, crash=True, after=True)
    with pytest.raises(Crash):
        rehearsal.apply(path)
    rehearsal.crashed()
    with pytest.raises(ApplyFailedRolledBack, match="cancelled by alice@ncn-m002"):
        rehearsal.apply(path, resume=True)
    assert user_view(rehearsal) == before
