"""build_plan: a pure function from a snapshot to a plan.

The same snapshot, salt, time and plan key give a byte-identical plan. No I/O here: reading is
planner/read.py's (the plan key is read by `plan`, core/plankey.py); the steps come from the
service's strategy (planner/strategies).
"""

from __future__ import annotations

from datetime import datetime

from pgrestore import __version__
from pgrestore.contract.document import seal
from pgrestore.contract.model import (
    PLAN_FORMAT,
    BackupRef,
    Change,
    ManifestRef,
    Plan,
    PriorObject,
    SecretDigest,
    ServiceDef,
)
from pgrestore.core.observe import digest, observe
from pgrestore.errors import BackupError, UsageError

from .changes import changes
from .options import Choices, PlanOptions, run_id
from .strategies import STRATEGIES
from .world import BackupState, ClusterState, Snapshot

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
               options: PlanOptions | None = None, *, key: bytes) -> Plan:
    """`key`: the plan key of the service's namespace, which signs the plan (core/plankey.py)."""
    options = options or PlanOptions()
    cluster = snapshot.cluster
    backup = BackupState(_backup_ref(snapshot.backup, salt), snapshot.backup.manifest_secrets)
    snapshot = Snapshot(cluster, backup, snapshot.volume)
    mode = choose_secrets_mode(options.secrets_mode, backup)
    if mode == "from-manifest":
        _check_manifest_names(cluster, backup, service)
    choices = Choices(mode, salt, run_id(now, salt), options)
    strategy = STRATEGIES[service.strategy]
    if cluster.postgresql is None and not getattr(strategy, "RESTORES_ABSENT", False):
        raise UsageError(f"postgresql {service.namespace}/{service.cluster} is gone and strategy {service.strategy} "
                         f"restores into an existing cluster; re-create it from its Helm chart first, then plan")
    steps = strategy.steps(snapshot, service, choices)
    prior = [observe(live.target, live.obj, salt) for live in cluster.objects]
    planned_changes = changes(prior, steps, backup=backup, mode=mode, salt=salt)
    if cluster.postgresql is None:
        prior.insert(1, _absent(cluster))
        planned_changes[1:1] = _created(cluster, backup, mode, salt)
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
        notes=_notes(service, backup, options, cluster),
        backup=backup.ref,
        prior_state=prior,
        changes=planned_changes,
        steps=steps,
        rollback=strategy.rollback(snapshot, service, choices, steps),
        postgresql_source=cluster.recovered.source if cluster.recovered else None,
    )
    return seal(plan, key)


def _absent(cluster: ClusterState) -> PriorObject:
    """The resource as planned: absent. Apply refuses (stale) if one of that name exists by then."""
    meta = cluster.postgresql_resource["metadata"]
    return PriorObject(f"postgresql/{meta['namespace']}/{meta['name']}", "postgresql", meta["namespace"],
                       meta["name"], uid="", fields={"absent": True})


def _created(cluster: ClusterState, backup: BackupState, mode: str, salt: str) -> list[Change]:
    """What a restore of a resource that is gone creates: the resource and its credential secrets."""
    meta, spec = cluster.postgresql_resource["metadata"], cluster.postgresql_resource["spec"]
    out = [Change(f"postgresql/{meta['namespace']}/{meta['name']}", ["create"], {"absent": True},
                  {"numberOfInstances": spec.get("numberOfInstances", 1), "data": f"restored from {backup.ref.key}"})]
    manifest = {m.name: m for m in backup.manifest_secrets}
    for name in cluster.credential_secrets:
        if mode == "from-manifest" and name in manifest:
            after = {"username": manifest[name].username, "password_digest": digest(salt, manifest[name].password)}
        else:
            after = {"password_digest": "(new, set by the operator)"}
        out.append(Change(f"secret/{meta['namespace']}/{name}", ["create"], {"absent": True}, after))
    return out


def _notes(service: ServiceDef, backup: BackupState, options: PlanOptions, cluster: ClusterState) -> list[str]:
    notes = list(service.notes)
    if cluster.recovered is not None:
        notes.append(f"postgresql {service.cluster} is gone (its data volumes and credential secrets with it): it is "
                     f"created from the spec of {cluster.recovered.source.ref}; there is no live data to take a safety "
                     f"dump of, and a failed apply deletes the cluster it created, leaving the resource absent as it "
                     f"was")
    elif not options.safety_dump:
        notes.append("WARNING: --no-safety-dump: no copy of the live data is taken; a failure after the delete "
                     "leaves the cluster empty and cannot put the data back")
    notes += [f"passed over newer backup {s.key}: {s.reason}" for s in backup.ref.skipped]
    return notes


def _check_manifest_names(cluster: ClusterState, backup: BackupState, service: ServiceDef) -> None:
    named = {s.name for s in backup.manifest_secrets}
    missing = sorted(set(cluster.credential_secrets) - named)
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
