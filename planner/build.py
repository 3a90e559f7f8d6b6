"""build_plan: a pure function from a snapshot to a plan.

The same snapshot, salt and time give a byte-identical plan. No I/O here: reading is
planner/read.py's; the steps come from the service's strategy (planner/strategies).
"""

from __future__ import annotations

from datetime import datetime

from core import __version__
from core.document import seal
from core.errors import BackupError, UsageError
from core.model import PLAN_FORMAT, BackupRef, ManifestRef, Plan, SecretDigest, ServiceDef
from core.observe import digest, observe

from .changes import changes
from .options import Choices, PlanOptions, run_id
from .read import BackupState, ClusterState, Snapshot
from .strategies import STRATEGIES

SECRETS_MODES = ("from-manifest", "alter-users")


def choose_secrets_mode(requested: str | None, backup: BackupState) -> str:
    if requested is None:
        return "from-manifest" if backup.manifest_secrets else "alter-users"
    if requested not in SECRETS_MODES:
        raise UsageError(f"--secrets must be one of {', '.join(SECRETS_MODES)}, not {requested!r}")
    if requested == "from-manifest" and not backup.manifest_secrets:
        raise UsageError("--secrets from-manifest needs a backup with a .manifest; use --secrets alter-users")
    return requested


def build_plan(snapshot: Snapshot, service: ServiceDef, now: datetime, salt: str,
               options: PlanOptions | None = None) -> Plan:
    options = options or PlanOptions()
    cluster = snapshot.cluster
    backup = BackupState(_backup_ref(snapshot.backup, salt), snapshot.backup.manifest_secrets)
    snapshot = Snapshot(cluster, backup)
    mode = choose_secrets_mode(options.secrets_mode, backup)
    if mode == "from-manifest":
        _check_manifest_names(cluster, backup, service)
    choices = Choices(mode, salt, run_id(now, salt), options)
    strategy = STRATEGIES[service.strategy]
    steps = strategy.steps(snapshot, service, choices)
    prior = [observe(live.target, live.obj, salt) for live in cluster.objects]
    plan = Plan(
        format_version=PLAN_FORMAT,
        pgrestore_version=__version__,
        created_at=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        cluster=cluster.identity,
        service=service.name,
        namespace=service.namespace,
        postgresql=service.cluster,
        strategy=service.strategy,
        secrets_mode=mode,
        digest_salt=salt,
        notes=_notes(service, backup, options),
        backup=backup.ref,
        prior_state=prior,
        changes=changes(prior, steps, backup, mode, salt),
        steps=steps,
        rollback=strategy.rollback(snapshot, service, choices, steps),
    )
    return seal(plan)


def _notes(service: ServiceDef, backup: BackupState, options: PlanOptions) -> list[str]:
    notes = list(service.notes)
    if not options.safety_dump:
        notes.append("WARNING: --no-safety-dump: no copy of the live data is taken; a failure after the delete "
                     "leaves the cluster empty and cannot put the data back")
    notes += [f"passed over newer backup {s.key}: {s.reason}" for s in backup.ref.skipped]
    return notes


def _check_manifest_names(cluster: ClusterState, backup: BackupState, service: ServiceDef) -> None:
    named = {s.name for s in backup.manifest_secrets}
    missing = sorted({s.target.name for s in cluster.secrets} - named)
    if missing:
        key = backup.ref.manifest.key if backup.ref.manifest else "(none)"
        raise BackupError(f"manifest {key} does not name secret(s) {', '.join(missing)} of {service.cluster}; "
                          f"use --secrets alter-users or another backup")


def _backup_ref(b: BackupState, salt: str) -> BackupRef:
    """The backup as the plan records it: the manifest's passwords as keyed digests."""
    ref = b.ref
    manifest = None
    if ref.manifest is not None:
        manifest = ManifestRef(ref.manifest.key, ref.manifest.etag, ref.manifest.sha256,
                               [SecretDigest(s.name, s.username, digest(salt, s.password)) for s in b.manifest_secrets])
    return BackupRef(ref.source, ref.format, ref.bucket, ref.key, ref.size, ref.etag, ref.sha256, ref.taken_at,
                     manifest, list(ref.skipped))
