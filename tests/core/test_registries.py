"""The registries and the schemas name the same things: a step kind or strategy added in one place
and forgotten in another fails here, not in the middle of an apply."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from pgrestore.core import services
from pgrestore.executors.registry import STEP_KINDS
from pgrestore.planner import build_plan
from pgrestore.planner.options import PlanOptions
from pgrestore.planner.read import read_backup_s3, read_cluster
from pgrestore.planner.strategies import STRATEGIES
from pgrestore.planner.world import Snapshot
from tests.fakes.fake_kube import FakeKube
from tests.fakes.rehearsal import NOW, SALT, WORLDS, keycloak_s3


def _schema(name: str) -> dict:
    return json.loads(resources.files("pgrestore.contract.schemas").joinpath(f"{name}.schema.json").read_text())


def _params_schemas() -> dict[str, dict]:
    """kind -> the params schema of $defs.step.allOf (if kind == K then params ...)."""
    out = {}
    for rule in _schema("plan")["$defs"]["step"]["allOf"]:
        kind = rule["if"]["properties"]["kind"]["const"]
        assert kind not in out, f"two params schemas for step kind {kind}"
        out[kind] = rule["then"]["properties"]["params"]
    return out


def test_the_plan_schema_names_exactly_the_registered_step_kinds():
    assert sorted(_schema("plan")["$defs"]["step"]["properties"]["kind"]["enum"]) == sorted(STEP_KINDS)


def test_every_registered_step_kind_has_a_params_schema_and_no_other_kind_does():
    assert sorted(_params_schemas()) == sorted(STEP_KINDS)
    for kind, schema in _params_schemas().items():
        assert schema.get("type") == "object" and schema.get("additionalProperties") is False, kind


def test_every_registered_step_kind_can_run():
    for kind, module in STEP_KINDS.items():
        assert callable(getattr(module, "run", None)), f"{kind}: {module.__name__} has no run(step, ctx)"


def test_the_plan_and_service_schemas_name_exactly_the_registered_strategies():
    assert sorted(_schema("plan")["properties"]["strategy"]["enum"]) == sorted(STRATEGIES)
    assert sorted(_schema("service")["properties"]["strategy"]["enum"]) == sorted(STRATEGIES)
    for name, strategy in STRATEGIES.items():
        assert strategy.NAME == name


def test_every_shipped_service_uses_a_registered_strategy():
    for service in services.load_all().values():
        assert service.strategy in STRATEGIES, service.name


@pytest.mark.parametrize("layout,options", [("psql", PlanOptions()), ("psql", PlanOptions(secrets_mode="alter-users")),
                                            ("logical", PlanOptions()), ("psql", PlanOptions(safety_dump=False))])
def test_every_step_kind_the_planner_emits_has_an_executor(layout, options):
    kube = FakeKube.from_world(WORLDS / "keycloak.json")
    service = services.load("keycloak")
    snapshot = Snapshot(read_cluster(kube, service), read_backup_s3(keycloak_s3(kube.stage, layout),
                                                                    service.cluster, "latest"))
    plan = build_plan(snapshot, service, NOW, SALT, options, key=bytes(32))
    emitted = {s.kind for s in plan.steps + plan.rollback}
    assert emitted <= set(STEP_KINDS), f"no executor for {emitted - set(STEP_KINDS)}"
