"""Step sequences every strategy shares: what goes before anything changes, how the credentials
are put back, and what follows once the client is back."""

from __future__ import annotations

from pgrestore.contract.model import Location, ServiceDef, Target

from .. import options as o
from .. import steps as s
from ..host_steps import add_host_steps
from ..world import Snapshot


def before_changes(out: s.StepList, snapshot: Snapshot, service: ServiceDef, choices: o.Choices
                   ) -> tuple[Location, Location | None, str, str]:
    """Verify and pin the backup, suspend the backup CronJobs: the dump and manifest the restore
    reads, the step that checked them, and the step that verified the backup."""
    state, backup = snapshot.cluster, snapshot.backup.ref
    verified = s.verify_backup(out, backup)
    s.check_prerequisites(out, state, backup, service)
    # Pin first: a backup job already running finishes while the CronJobs are suspended, and
    # deletes every older backup, the planned one included.
    dump, manifest, checked = s.pinned_backup(out, backup, service.name, choices, verified)
    s.suspend_backup_jobs(out, state)
    return dump, manifest, checked, verified


def stop_client_then_dump(out: s.StepList, snapshot: Snapshot, service: ServiceDef, choices: o.Choices,
                          safety: bool = True) -> int:
    """Scale the client to 0, then take the safety dump: a dump taken while the client still runs
    misses every write between its snapshot and the client's stop. Returns the client's replicas."""
    state = snapshot.cluster
    replicas = int(state.client.spec.get("replicas") or 0)
    s.scale_client(out, state.client, state.client_selector, before=replicas, replicas=0, wait="gone")
    if choices.options.safety_dump and safety:
        safety_dump, safety_manifest = o.safety(choices.options, service.name, choices.run_id)
        s.safety_dump(out, state, dump=safety_dump, manifest=safety_manifest)
    return replicas


def credentials(out: s.StepList, pg: Target, choices: o.Choices, *, manifest: Location | None, checked: str,
                names: list[str]) -> None:
    if choices.secrets_mode == "from-manifest":
        assert manifest is not None
        s.secrets_from_manifest(out, pg, manifest, verified_by=checked, names=names)
    else:
        s.alter_users(out, pg, names)


def after_client_back(out: s.StepList, snapshot: Snapshot, service: ServiceDef, choices: o.Choices) -> None:
    """Jobs and restarts, host steps, the CronJobs back, and the final verify. The client is back
    on the restored, verified data by now: from here a failure keeps the restore (no rollback would
    be kinder: it would throw the restore and every write since away)."""
    out.commit_last()
    state = snapshot.cluster
    s.after_restore(out, state)
    add_host_steps(out, service, state, choices.options)
    s.resume_backup_jobs(out, state)
    s.verify(out, state, s.manifest_digests(snapshot, choices))
