"""`pgrestore cancel`: the running apply stops before its next step; after a change it rolls back as on any
failure, before one it says nothing was changed. A request is for the apply that held the lease then
(its lock id): it never cancels a later apply of the same plan."""

from __future__ import annotations

import pytest

from pgrestore.errors import ApplyFailedRolledBack, Cancelled, UsageError
from pgrestore.executors.lock import request_cancel
from tests.fakes.rehearsal import NS

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
