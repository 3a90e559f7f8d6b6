"""The plan-set document: written, read back, and refused when edited, re-ordered or mixed."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from pgrestore.contract.document import render, signature
from pgrestore.contract.model import PLAN_SET_FORMAT, Plan, PlanSet, to_dict
from pgrestore.contract.planset import KIND, load_any, seal_set, set_key
from pgrestore.errors import PlanRejected
from tests.fakes.rehearsal import Rehearsal


@pytest.fixture
def rehearsal(tmp_path, monkeypatch) -> Rehearsal:
    return Rehearsal.keycloak(tmp_path, monkeypatch)


@pytest.fixture
def keys(rehearsal):
    return rehearsal.keys()


@pytest.fixture
def plans(rehearsal) -> list[Plan]:
    """Two sealed plans made by the real planner on the fake world (the second renamed and sealed
    again, as a planner would seal it)."""
    r = rehearsal
    first = r.loaded(r.plan())
    second = r.loaded(r.plan(name="second.json", edit=lambda p: setattr(p, "service", "keycloak-again")))
    return [first, second]


def _write(tmp_path, plans: list[Plan], keys):
    created = datetime(2024, 5, 2, tzinfo=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    doc = seal_set(PlanSet(PLAN_SET_FORMAT, KIND, created, [p.service for p in plans], ["x after y"], plans), keys)
    path = tmp_path / "set.json"
    path.write_text(render(to_dict(doc)))
    return path


def test_a_set_reads_back_as_written(tmp_path, plans, keys):
    path = _write(tmp_path, plans, keys)
    loaded = load_any(path, keys)
    assert isinstance(loaded, PlanSet)
    assert loaded.order == ["keycloak", "keycloak-again"]
    assert [p.checksum for p in loaded.plans] == [p.checksum for p in plans]


@pytest.mark.parametrize("edit,message", [
    (lambda d: d["order"].reverse(), "changed after it was made"),
    (lambda d: d["plans"].reverse(), "changed after it was made"),
    (lambda d: d["plans"][1]["steps"][0].update(description="x"), "changed after it was made"),
    (lambda d: d.update(format_version="9"), "format_version '9'"),
    (lambda d: d.update(plans=d["plans"][:1]), "plan-set schema"),
])
def test_an_edited_set_is_refused(tmp_path, plans, keys, edit, message):
    path = _write(tmp_path, plans, keys)
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(PlanRejected, match=message):
        load_any(path, keys)


def test_a_plan_inside_edited_and_both_checksums_redone_is_still_refused(tmp_path, plans, keys):
    """Only the planner can make a plan's checksum match: here the set's is redone, not the plan's."""
    path = _write(tmp_path, plans, keys)
    doc = json.loads(path.read_text())
    doc["plans"][0]["steps"][0]["description"] = "something else"
    doc["checksum"] = signature(doc, set_key(doc, keys))
    path.write_text(json.dumps(doc))
    with pytest.raises(PlanRejected, match="plan of 'keycloak' was changed"):
        load_any(path, keys)
