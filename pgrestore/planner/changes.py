"""The end state a restore leads to, per recorded object, and the Terraform-style changes."""

from __future__ import annotations

from deepdiff import DeepDiff

from pgrestore.contract.model import Change, PriorObject, Step
from pgrestore.core.observe import digest

from .world import BackupState

REPLACED_KINDS = ("postgresql", "Secret", "Job")


def _before(o: PriorObject) -> dict:
    if o.kind == "postgresql":
        return {"numberOfInstances": o.fields["numberOfInstances"], "data": "live"}
    return dict(o.fields)


def _after(o: PriorObject, backup: BackupState, mode: str, salt: str, restarted: set[str], recreated: bool) -> dict:
    if o.kind == "postgresql":
        return {"numberOfInstances": o.fields["numberOfInstances"], "data": f"restored from {backup.ref.key}"}
    if o.kind == "Secret":
        if mode == "from-manifest":
            m = next(x for x in backup.manifest_secrets if x.name == o.name)
            return {"username": m.username, "password_digest": digest(salt, m.password)}
        if not recreated:  # in place: the secret stays, ALTER USER makes the role match it
            return dict(o.fields)
        return {"username": o.fields["username"], "password_digest": "(new, set by the operator)"}
    fields = dict(o.fields)
    if o.address in restarted:
        fields["restartedAt"] = "(time of apply)"
    return fields


def changes(prior: list[PriorObject], steps: list[Step], *, backup: BackupState, mode: str, salt: str
            ) -> list[Change]:
    restarted = {s.target.address for s in steps if s.kind == "rollout-restart"}
    # in-place (SLS) keeps the resource and its secrets: its data and passwords change, it is not re-created
    recreated = any(s.kind == "delete-cluster" for s in steps)
    out = []
    for o in prior:
        before, after = _before(o), _after(o, backup, mode, salt, restarted, recreated)
        if o.kind in REPLACED_KINDS and (recreated or o.kind == "Job"):
            actions = ["delete", "create"]
        elif DeepDiff(before, after):
            actions = ["update"]
        else:
            actions = ["no-op"]
        out.append(Change(o.address, actions, before, after))
    return out
