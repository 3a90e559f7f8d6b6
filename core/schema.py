"""Validate documents against our JSON Schemas; errors name the JSON path."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from jsonschema import Draft202012Validator

from core.errors import PlanRejected, UsageError


@cache
def _validator(name: str) -> Draft202012Validator:
    schema = json.loads(resources.files("schemas").joinpath(f"{name}.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def errors(document: object, name: str) -> list[str]:
    found = sorted(_validator(name).iter_errors(document), key=lambda e: list(e.absolute_path))
    return [f"{e.json_path}: {e.message}" for e in found]


def validate(document: object, name: str, what: str) -> None:
    problems = errors(document, name)
    if problems:
        cls = PlanRejected if name in ("plan", "plan-set") else UsageError
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise cls(f"{what} does not match the {name} schema at {problems[0]}{more}")
