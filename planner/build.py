"""build_plan: a pure function from a snapshot to a plan.

The same snapshot, salt and time give a byte-identical plan. No I/O here.
"""

from __future__ import annotations

from datetime import datetime

from deepdiff import DeepDiff

from pgrestore import __version__
from pgrestore.errors import BackupError, UsageError
from pgrestore.plan import FORMAT_VERSION, checksum, digest, prior_state
from pgrestore.snapshot import BackupState, Snapshot
from pgrestore.services import timeout_for

from .steps import recreate_single_steps, rollback_actions

SECRETS_MODES = ("from-manifest", "alter-users")


def choose_secrets_mode(requested: str | None, backup: BackupState) -> str:
    if requested is None:
        return "from-manifest" if backup.manifest_secrets else "alter-users"
    if requested not in SECRETS_MODES:
        raise UsageError(f"--secrets must be one of {', '.join(SECRETS_MODES)}")
    if requested == "from-manifest" and not backup.manifest_secrets:
        raise UsageError("--secrets from-manifest needs a backup with a .manifest; use --secrets alter-users")
    return requested


def build_plan(snapshot: Snapshot, service: dict, now: datetime, salt: str, secrets_mode: str | None = None) -> dict:
    cluster, backup = snapshot.cluster, snapshot.backup
    mode = choose_secrets_mode(secrets_mode, backup)
    prior = prior_state(cluster, salt)
    if mode == "from-manifest":
        _check_manifest_names(cluster, backup, service)
    steps = recreate_single_steps(cluster, service, mode, backup, lambda kind: timeout_for(service, kind))
    plan = {
        "format_version": FORMAT_VERSION,
        "pgrestore_version": __version__,
        "created_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cluster": cluster.identity,
        "service": service["name"],
        "namespace": service["namespace"],
        "postgresql": service["cluster"],
        "strategy": service["strategy"],
        "secrets_mode": mode,
        "digest_salt": salt,
        "backup": _backup_block(backup, salt),
        "prior_state": prior,
        "changes": changes(prior, desired_state(prior, backup, mode, salt, _restarted(steps))),
        "steps": steps,
        "rollback": rollback_actions(cluster, service),
    }
    plan["checksum"] = checksum(plan)
    return plan


def _check_manifest_names(cluster, backup: BackupState, service: dict) -> None:
    named = {s.name for s in backup.manifest_secrets}
    missing = sorted({s.name for s in cluster.secrets} - named)
    if missing:
        raise BackupError(f"manifest {backup.manifest_key} does not name secret(s) {', '.join(missing)} "
                          f"of {service['cluster']}; use --secrets alter-users or another backup")


def _backup_block(b: BackupState, salt: str) -> dict:
    manifest = None
    if b.manifest_key:
        manifest = {"key": b.manifest_key, "etag": b.manifest_etag, "sha256": b.manifest_sha256,
                    "secrets": [{"name": s.name, "username": s.username, "password_digest": digest(salt, s.password)}
                                for s in b.manifest_secrets]}
    return {"source": b.source, "format": b.format, "bucket": b.bucket, "key": b.key, "size": b.size,
            "etag": b.etag, "sha256": b.sha256, "taken_at": b.taken_at, "manifest": manifest}


def _restarted(steps: list[dict]) -> set[str]:
    return {s["target"] for s in steps if s["kind"] == "rollout-restart"}


def desired_state(prior: list[dict], backup: BackupState, mode: str, salt: str,
                  restarted: set[str]) -> dict[str, dict]:
    """The restored end state, per address: fields, and whether the object is replaced."""
    manifest = {s.name: s for s in backup.manifest_secrets}
    out = {}
    for o in prior:
        kind, fields = o["kind"], dict(o["fields"])
        replaced = kind in ("postgresql", "Secret", "Job")
        if kind == "postgresql":
            fields = {"numberOfInstances": fields["numberOfInstances"], "data": f"restored from {backup.key}"}
        elif kind == "Secret":
            if mode == "from-manifest":
                m = manifest[o["name"]]
                fields = {"username": m.username, "password_digest": digest(salt, m.password)}
            else:
                fields = {"username": fields["username"], "password_digest": "(new, set by the operator)"}
        elif o["address"] in restarted:
            fields["restartedAt"] = "(time of apply)"
        out[o["address"]] = {"fields": fields, "replaced": replaced}
    return out


def _before(o: dict) -> dict:
    if o["kind"] == "postgresql":
        return {"numberOfInstances": o["fields"]["numberOfInstances"], "data": "live"}
    return o["fields"]


def changes(prior: list[dict], desired: dict[str, dict]) -> list[dict]:
    out = []
    for o in prior:
        want = desired[o["address"]]
        before, after = _before(o), want["fields"]
        if want["replaced"]:
            actions = ["delete", "create"]
        elif DeepDiff(before, after):
            actions = ["update"]
        else:
            actions = ["no-op"]
        out.append({"address": o["address"], "actions": actions, "before": before, "after": after})
    return out

