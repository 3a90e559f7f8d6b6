"""The plan document: canonical form, checksum, keyed digests, prior state and drift.

Shared by the planner (which writes plans) and the executors (which check them), so
that neither imports the other.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

from deepdiff import DeepDiff

from pgrestore.errors import PlanRejected, UsageError
from pgrestore.schema import validate
from pgrestore.snapshot import ClusterState

FORMAT_VERSION = "1.0"


def canonical(document: dict) -> str:
    """Sorted keys, no spaces: the bytes the checksum covers."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def checksum(plan: dict) -> str:
    body = {k: v for k, v in plan.items() if k != "checksum"}
    return "sha256:" + hashlib.sha256(canonical(body).encode()).hexdigest()


def render(plan: dict) -> str:
    """The plan file's text: readable, and byte-stable for the same plan."""
    return json.dumps(plan, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def digest(salt: str, value: str) -> str:
    """Keyed digest of a secret value: comparable within one plan, useless elsewhere."""
    return "hmac-sha256:" + hmac.new(bytes.fromhex(salt), value.encode(), hashlib.sha256).hexdigest()


def address(kind: str, namespace: str, name: str) -> str:
    return f"{kind.lower()}/{namespace}/{name}"


def prior_state(state: ClusterState, salt: str) -> list[dict]:
    """Each object a step touches, with the fields that matter; secrets as digests."""
    ns, objects = state.namespace, []

    def obj(kind, o, fields):
        objects.append({"address": address(kind, ns, o.name), "kind": kind, "namespace": ns, "name": o.name,
                        "uid": o.uid, "resourceVersion": o.resource_version, "fields": fields})

    obj(state.client.kind, state.client, {"replicas": state.client.replicas, "selector": state.client_selector})
    if state.postgresql is not None:
        obj("postgresql", state.postgresql_meta, {
            "numberOfInstances": state.postgresql["spec"].get("numberOfInstances"),
            "resource": state.postgresql})
    for s in state.secrets:
        obj("Secret", s, {"username": s.username, "password_digest": digest(salt, s.password)})
    for j in state.jobs:
        obj("Job", j, {})
    for t in state.restart_targets:
        obj(t.kind, t, {"replicas": t.replicas})
    return objects


def drift(planned: list[dict], live: list[dict]) -> list[str]:
    """What changed in the cluster since the plan was made, one line per difference."""
    before = {o["address"]: o for o in planned}
    after = {o["address"]: o for o in live}
    lines = [f"{a}: gone" for a in sorted(before.keys() - after.keys())]
    lines += [f"{a}: new" for a in sorted(after.keys() - before.keys())]
    for a in sorted(before.keys() & after.keys()):
        diff = DeepDiff(before[a], after[a], ignore_order=True, verbose_level=2)
        for change in diff.get("values_changed", {}).items():
            path, values = change
            lines.append(f"{a}: {path.removeprefix('root')} {values['old_value']!r} -> {values['new_value']!r}")
        for kind in ("dictionary_item_added", "dictionary_item_removed", "iterable_item_added",
                     "iterable_item_removed", "type_changes"):
            if kind in diff:
                lines.append(f"{a}: {kind.replace('_', ' ')}")
    return lines


def load(path: Path) -> dict:
    """Read a plan file and refuse anything malformed, of another format, or edited."""
    try:
        plan = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"plan file {path} not found") from None
    except json.JSONDecodeError as e:
        raise PlanRejected(f"plan {path} is not JSON (line {e.lineno}); re-run `pgrestore plan`") from None
    if isinstance(plan, dict) and plan.get("format_version") != FORMAT_VERSION:
        raise PlanRejected(f"plan {path} has format_version {plan.get('format_version')!r}; "
                           f"this pgrestore reads {FORMAT_VERSION!r}: re-plan with this version")
    validate(plan, "plan", f"plan {path}")
    if checksum(plan) != plan["checksum"]:
        raise PlanRejected(f"plan {path} was changed after it was made (checksum mismatch); "
                           f"re-run `pgrestore plan` and review the new plan")
    return plan
