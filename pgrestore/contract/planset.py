"""The plan-set document: several services' plans, applied in order (`pgrestore plan sls hsm`).

Each plan inside is a whole plan, checked as a plan file is (format, schema, its own signature);
the set's signature covers the order and every plan, so a reviewed set cannot be re-ordered or
have a plan swapped or dropped. It is keyed with the plan keys of all the set's namespaces
(core/plankey.py): forging a set needs each of them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from pgrestore.contract.document import KeyFor, parsed, plan_from, read_json, signature, signed_by
from pgrestore.contract.model import PLAN_SET_FORMAT, Plan, PlanSet, to_dict
from pgrestore.contract.schema import validate
from pgrestore.errors import PlanRejected

KIND = "plan-set"


def seal_set(plan_set: PlanSet, keys: KeyFor) -> PlanSet:
    doc = to_dict(plan_set)
    plan_set.checksum = signature(doc, set_key(doc, keys))
    return plan_set


def set_key(doc: dict, keys: KeyFor) -> bytes:
    """One key from the plan keys of every namespace the set's plans are in, sorted by namespace
    (each key is 32 bytes and each namespace ends in NUL, so the joined bytes are unambiguous)."""
    by_ns = {p["namespace"]: p["cluster"] for p in doc["plans"]}
    material = b"".join(ns.encode() + b"\0" + keys(ns, by_ns[ns]) for ns in sorted(by_ns))
    return hashlib.sha256(b"pgrestore plan set\0" + material).digest()


def is_set(doc: dict) -> bool:
    return doc.get("kind") == KIND


def load_any(path: Path, keys: KeyFor) -> Plan | PlanSet:
    """A plan file or a plan-set file, refused as `load` refuses a plan if anything is off."""
    doc = read_json(path)
    if not is_set(doc):
        return plan_from(doc, f"plan {path}", keys)
    return set_from(doc, path, keys)


def read_any_unverified(path: Path) -> Plan | PlanSet:
    """A plan or plan set checked for format and schema only, for rendering (`pgrestore show`)."""
    doc = read_json(path)
    if not is_set(doc):
        return parsed(doc, f"plan {path}")
    return set_from(doc, path, None)


def set_from(doc: dict, path: Path, keys: KeyFor | None) -> PlanSet:
    """keys None: not verified (only `show` renders a set so)."""
    what = f"plan set {path}"
    if doc.get("format_version") != PLAN_SET_FORMAT:
        raise PlanRejected(f"{what} has format_version {doc.get('format_version')!r}; this pgrestore reads "
                           f"{PLAN_SET_FORMAT!r}: re-plan with this version")
    try:
        validate(doc, "plan-set", what)
    except PlanRejected as e:
        raise PlanRejected(f"{e}; re-run `pgrestore plan`") from None
    if keys is None:
        plans = [parsed(p, f"{what}, plan of {p.get('service')!r}") for p in doc["plans"]]
    else:
        plans = [plan_from(p, f"{what}, plan of {p.get('service')!r}", keys) for p in doc["plans"]]
        if not signed_by(doc, set_key(doc, keys)):
            raise PlanRejected(f"{what} was changed after it was made (checksum mismatch: its signature does not "
                               f"verify with the plan keys of its namespaces); re-run `pgrestore plan` and review "
                               f"the new plans")
    if [p.service for p in plans] != doc["order"]:
        raise PlanRejected(f"{what}: its plans are not in its order {doc['order']}; re-run `pgrestore plan`")
    return PlanSet(doc["format_version"], doc["kind"], doc["created_at"], list(doc["order"]),
                   list(doc["order_reasons"]), plans, doc["checksum"])
