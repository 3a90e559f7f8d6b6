"""The plan-set document: several services' plans, applied in order (`pgrestore plan sls hsm`).

Each plan inside is a whole plan, checked as a plan file is (format, schema, its own checksum);
the set's checksum covers the order and every plan, so a reviewed set cannot be re-ordered or
have a plan swapped or dropped.
"""

from __future__ import annotations

from pathlib import Path

from core.document import checksum as plan_checksum
from core.document import plan_from, read_json
from core.errors import PlanRejected
from core.model import PLAN_SET_FORMAT, Plan, PlanSet, to_dict
from core.schema import validate

KIND = "plan-set"


def seal_set(plan_set: PlanSet) -> PlanSet:
    plan_set.checksum = set_checksum(to_dict(plan_set))
    return plan_set


def set_checksum(doc: dict) -> str:
    return plan_checksum({k: v for k, v in doc.items() if k != "checksum"})


def is_set(doc: dict) -> bool:
    return doc.get("kind") == KIND


def load_any(path: Path) -> Plan | PlanSet:
    """A plan file or a plan-set file, refused as `load` refuses a plan if anything is off."""
    doc = read_json(path)
    if not is_set(doc):
        return plan_from(doc, f"plan {path}")
    return set_from(doc, path)


def set_from(doc: dict, path: Path) -> PlanSet:
    what = f"plan set {path}"
    if doc.get("format_version") != PLAN_SET_FORMAT:
        raise PlanRejected(f"{what} has format_version {doc.get('format_version')!r}; this pgrestore reads "
                           f"{PLAN_SET_FORMAT!r}: re-plan with this version")
    try:
        validate(doc, "plan-set", what)
    except PlanRejected as e:
        raise PlanRejected(f"{e}; re-run `pgrestore plan`") from None
    if set_checksum(doc) != doc["checksum"]:
        raise PlanRejected(f"{what} was changed after it was made (checksum mismatch); re-run `pgrestore plan` "
                           f"and review the new plans")
    plans = [plan_from(p, f"{what}, plan of {p.get('service')!r}") for p in doc["plans"]]
    if [p.service for p in plans] != doc["order"]:
        raise PlanRejected(f"{what}: its plans are not in its order {doc['order']}; re-run `pgrestore plan`")
    return PlanSet(doc["format_version"], doc["kind"], doc["created_at"], list(doc["order"]),
                   list(doc["order_reasons"]), plans, doc["checksum"])
