"""Validate documents against our JSON Schemas; errors name the JSON path."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from importlib import resources

from jsonschema import Draft202012Validator

from pgrestore.errors import PlanRejected, UsageError

# Digests of documents found valid, per schema, newest last. One process parses the same plan again
# for a resume, a rollback or each plan of a set, and a plan of 30 steps takes 30-100 ms to validate
# (every step against each kind's params block); the answer for the same bytes is the same.
_VALID: dict[tuple[str, bytes], None] = {}
_VALID_KEPT = 64


@cache
def _validator(name: str) -> Draft202012Validator:
    schema = json.loads(resources.files("pgrestore.contract.schemas").joinpath(f"{name}.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _digest(document: object) -> bytes | None:
    try:
        text = json.dumps(document, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):  # not JSON-shaped: let the validator say where
        return None
    return hashlib.sha256(text.encode()).digest()


def errors(document: object, name: str) -> list[str]:
    digest = _digest(document)
    if digest is not None and (name, digest) in _VALID:
        return []
    found = sorted(_validator(name).iter_errors(document), key=lambda e: list(e.absolute_path))
    if not found and digest is not None:
        _VALID[(name, digest)] = None
        while len(_VALID) > _VALID_KEPT:
            del _VALID[next(iter(_VALID))]
    return [f"{e.json_path}: {e.message}" for e in found]


def validate(document: object, name: str, what: str) -> None:
    problems = errors(document, name)
    if problems:
        cls = PlanRejected if name in ("plan", "plan-set") else UsageError
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise cls(f"{what} does not match the {name} schema at {problems[0]}{more}")
