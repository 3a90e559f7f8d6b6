"""The plan document: canonical form, signature (keyed digest), drift, load and save.

Shared by the planner (which writes plans) and the executors (which check them), so
that neither imports the other.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from pathlib import Path

from deepdiff import DeepDiff

from pgrestore.contract.model import PLAN_FORMAT, Plan, PriorObject, from_dict, to_dict
from pgrestore.contract.schema import validate
from pgrestore.errors import PlanRejected, UsageError


def canonical(document: dict) -> str:
    """Sorted keys, no spaces: the bytes the checksum covers."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


SCHEME = "hmac-sha256:"
# namespace, the plan's recorded cluster identity -> that namespace's plan key (core/plankey.py).
KeyFor = Callable[[str, dict], bytes]


def signature(document: Plan | dict, key: bytes) -> str:
    """HMAC-SHA256 with the plan key over the canonical document without its `checksum`: a plain
    hash anyone who edits the plan can recompute; this needs the key (core/plankey.py)."""
    doc = to_dict(document) if isinstance(document, Plan) else document
    body = {k: v for k, v in doc.items() if k != "checksum"}
    return SCHEME + hmac.new(key, canonical(body).encode(), hashlib.sha256).hexdigest()


def seal(plan: Plan, key: bytes) -> Plan:
    """Sign the plan (its `checksum` field): the last thing done to a plan."""
    plan.checksum = signature(plan, key)
    return plan


def signed_by(doc: dict, key: bytes) -> bool:
    return hmac.compare_digest(signature(doc, key), str(doc.get("checksum", "")))


def render(plan: Plan | dict) -> str:
    """The plan file's text: readable, and byte-stable for the same plan."""
    doc = to_dict(plan) if isinstance(plan, Plan) else plan
    return json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def drift(planned: list[PriorObject], live: dict[str, PriorObject | None]) -> list[str]:
    """What changed since the plan was made, one line per difference: identity (uid) and the
    recorded fields only, never resourceVersion, which status churn moves on its own."""
    lines = []
    for o in planned:
        now = live.get(o.address)
        if now is None:
            lines.append(f"{o.address}: gone")
            continue
        if now.uid != o.uid:
            lines.append(f"{o.address}: re-created (uid {o.uid} -> {now.uid})")
            continue
        diff = DeepDiff(o.fields, now.fields, ignore_order=True, verbose_level=2)
        for path, values in diff.get("values_changed", {}).items():
            lines.append(f"{o.address}: {path.removeprefix('root')} {_short(values['old_value'])} -> "
                         f"{_short(values['new_value'])}")
        for kind in ("dictionary_item_added", "dictionary_item_removed", "iterable_item_added",
                     "iterable_item_removed", "type_changes"):
            if kind in diff:
                lines.append(f"{o.address}: {kind.replace('_', ' ')}")
    return lines


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def load(path: Path, keys: KeyFor) -> Plan:
    """Read a plan file and refuse anything malformed, of another format, or edited."""
    return plan_from(read_json(path), f"plan {path}", keys)


def read_unverified(path: Path) -> Plan:
    """A plan file checked for format and schema only, not its signature: for rendering it
    (`pgrestore show` without --verify), never for carrying it out."""
    return parsed(read_json(path), f"plan {path}")


def read_json(path: Path) -> dict:
    """A plan (or plan set) file's JSON object; one line naming the file if it is not one."""
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"plan file {path} not found; pass the file `pgrestore plan -o` wrote") from None
    except IsADirectoryError:
        raise UsageError(f"plan file {path} is a directory; pass the file `pgrestore plan -o` wrote") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        where = f" (line {e.lineno})" if isinstance(e, json.JSONDecodeError) else ""
        raise PlanRejected(f"plan {path} is not JSON{where}; re-run `pgrestore plan`") from None
    if not isinstance(doc, dict):
        raise PlanRejected(f"plan {path} is not a pgrestore plan (not a JSON object); re-run `pgrestore plan`")
    return doc


def parsed(doc: dict, what: str) -> Plan:
    """A plan from its JSON: the format and the schema checked, not the signature."""
    if doc.get("format_version") != PLAN_FORMAT:
        raise PlanRejected(f"{what} has format_version {doc.get('format_version')!r}; "
                           f"this pgrestore reads {PLAN_FORMAT!r}: re-plan with this version")
    try:
        validate(doc, "plan", what)
    except PlanRejected as e:
        raise PlanRejected(f"{e}; re-run `pgrestore plan`") from None
    return from_dict(Plan, doc)


def plan_from(doc: dict, what: str, keys: KeyFor) -> Plan:
    """A plan from its JSON: the format, the schema and the signature checked."""
    plan = parsed(doc, what)
    if not signed_by(doc, keys(plan.namespace, doc["cluster"])):
        raise PlanRejected(f"{what} was changed after it was made (checksum mismatch: its signature does not "
                           f"verify with the plan key of namespace {plan.namespace}); re-run `pgrestore plan` "
                           f"and review the new plan")
    return plan


SERVER_FIELDS = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "selfLink",
                 "deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences", "finalizers")


def strip_server_fields(resource: dict) -> dict:
    meta = {k: v for k, v in resource["metadata"].items() if k not in SERVER_FIELDS}
    return {"apiVersion": resource["apiVersion"], "kind": resource["kind"], "metadata": meta,
            "spec": resource["spec"]}


