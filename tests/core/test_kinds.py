"""The step-kind catalog (core/kinds.py) against the plan schema: each kind's typed params say what its
schema block says, key by key and type by type, so the planner that builds them and the executor that
reads them (both checked by mypy against the TypedDict) agree with what `plan` validates."""

from __future__ import annotations

import json
import types
import typing
from importlib import resources

import pytest

from pgrestore.core import permissions
from pgrestore.core.kinds import CATALOG, KINDS, Grows, kind
from pgrestore.errors import ConfigError
from pgrestore.executors.registry import STEP_KINDS

PLAN_SCHEMA = json.loads(resources.files("pgrestore.contract.schemas").joinpath("plan.schema.json").read_text())
LOCATION_REF = "#/$defs/location"


def _blocks() -> dict[str, dict]:
    return {rule["if"]["properties"]["kind"]["const"]: rule["then"]["properties"]["params"]
            for rule in PLAN_SCHEMA["$defs"]["step"]["allOf"]}


def _resolve(schema: dict) -> dict:
    ref = schema.get("$ref")
    return PLAN_SCHEMA["$defs"][ref.rsplit("/", 1)[1]] if ref else schema


def _is_location(schema: dict) -> bool:
    options = schema.get("oneOf", [schema])
    return any(o.get("$ref") == LOCATION_REF or set(o.get("required", [])) == {"source", "bucket", "key"}
               for o in options)


def _json_types(schema: dict) -> set[str]:
    """The JSON types a property may take."""
    if "oneOf" in schema:
        return set().union(*(_json_types(o) for o in schema["oneOf"]))
    schema = _resolve(schema)
    if "enum" in schema:
        return {"enum:" + ",".join(sorted(map(str, schema["enum"])))}
    kinds = schema.get("type", "object")
    return set(kinds if isinstance(kinds, list) else [kinds])


def _python_types(hint: object) -> set[str]:
    """The JSON types a TypedDict field's annotation allows."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return set().union(*(_python_types(a) for a in typing.get_args(hint)))
    if origin is typing.Literal:
        return {"enum:" + ",".join(sorted(map(str, typing.get_args(hint))))}
    if hint is type(None):
        return {"null"}
    simple = {str: "string", int: "integer", bool: "boolean"}
    if hint in simple:
        return {simple[hint]}  # type: ignore[index]
    if origin is list:
        return {"array"}
    if origin is dict or typing.is_typeddict(hint):
        return {"object"}
    raise AssertionError(f"no JSON type for {hint!r}")


def test_the_catalog_names_exactly_the_registered_kinds_the_schema_allows():
    assert [k.name for k in CATALOG] == list(KINDS), "one entry per kind"
    assert sorted(KINDS) == sorted(STEP_KINDS) == sorted(_blocks())
    assert sorted(KINDS) == sorted(PLAN_SCHEMA["$defs"]["step"]["properties"]["kind"]["enum"])


@pytest.mark.parametrize("name", sorted(KINDS))
def test_each_kinds_typed_params_say_what_its_schema_block_says(name):
    block, params = _blocks()[name], KINDS[name].params
    assert set(params.__required_keys__) == set(block.get("required", [])), "required keys"
    assert set(params.__required_keys__) | set(params.__optional_keys__) == set(block["properties"]), "every key"
    hints = typing.get_type_hints(params)
    for key, schema in block["properties"].items():
        assert _python_types(hints[key]) == _json_types(schema), f"{name}.{key}"


@pytest.mark.parametrize("name", sorted(KINDS))
def test_the_params_apply_connects_to_s3_for_are_the_schemas_locations(name):
    """executors/engine.py needs_s3 reads these: a location the catalog missed would leave apply without S3."""
    block = _blocks()[name]
    assert set(KINDS[name].location_params) == {k for k, v in block["properties"].items() if _is_location(v)}


def test_every_kind_has_a_timeout_and_the_streams_grow_with_the_dump():
    assert all(k.timeout > 0 for k in CATALOG)
    assert kind("restore-dump").grows is Grows.WITH_RESTORE
    assert kind("set-instances").grows is Grows.WITH_CLONES


def test_the_permissions_table_is_the_catalogs():
    assert permissions.STEPS == {k.name: frozenset(k.uses) for k in CATALOG}


def test_a_kind_this_version_does_not_know_is_one_clear_error():
    with pytest.raises(ConfigError, match="step kind 'vacuum-all' is not one this pgrestore knows"):
        kind("vacuum-all")
