"""recreate-single (Keycloak; Spire, VCS, Capsules): delete the resource, re-create it with one
instance, restore into the Patroni leader, fix the credentials, restart the leader, then scale
the members and the client back to what was recorded (csm-procedures.md §2, bugs of §4 fixed).

Before anything destructive: the backup CronJobs are suspended, the backup is pinned where no
backup job deletes it, and a safety dump of the live cluster is taken; a failure after the
delete restores that safety dump, so the service ends as it was before apply.
"""

from __future__ import annotations

from pgrestore.contract.model import Condition, Location, ServiceDef, Step, from_dict

from .. import options as o
from .. import steps as s
from ..timeouts import timeouts
from ..world import ClusterState, Snapshot
from ._common import after_client_back, before_changes, credentials, stop_client_then_dump

NAME = "recreate-single"
RESTORES_ABSENT = True  # also restores a cluster whose postgresql resource is gone (planner/read.py recover_spec)


def steps(snapshot: Snapshot, service: ServiceDef, choices: o.Choices) -> list[Step]:
    state, backup = snapshot.cluster, snapshot.backup.ref
    absent = state.postgresql is None  # gone: its spec was recovered; no data, no secrets to keep
    volume = service.data_volume if snapshot.volume is not None and not absent else None
    n = s.instances(state)
    out = s.StepList(timeouts(service, backup.size, n))
    pg = s.pg_target(state)

    dump, manifest, checked, verified = before_changes(out, snapshot, service, choices)
    if choices.options.safety_dump and volume is not None:  # volume is None when the resource is absent
        # The tar runs in the client's own pod (as backup_vcs.sh), so it is taken before the client stops.
        s.safety_volume(out, state.client, state.client_selector, volume,
                        o.safety_volume(choices.options, service.name, choices.run_id))
    replicas = stop_client_then_dump(out, snapshot, service, choices, safety=not absent)
    deleted = s.delete_ours(out, state) if absent else s.delete_cluster(out, state)
    s.create_cluster(out, state.postgresql_resource, 1, s.cronjobs_to_hold(state))
    s.restore_dump(out, pg, dump, backup.format, verified_by=checked, rows_from=verified, restart_from=deleted,
                   what=f"{backup.key} ({backup.size} bytes)")
    credentials(out, pg, choices, manifest=manifest, checked=checked, names=state.credential_secrets)
    s.restart_leader(out, pg)
    s.set_instances(out, pg, n)
    s.scale_client(out, state.client, state.client_selector, before=0, replicas=replicas, wait="ready")
    if volume is not None and snapshot.volume is not None:  # restore_vcs.sh: after Gitea is back, then restart it
        s.restore_volume(out, state.client, state.client_selector, volume,
                         Location("file", None, snapshot.volume.path), sha256=snapshot.volume.sha256,
                         verified_by=None,
                         what=f"the volume backup {snapshot.volume.path} ({snapshot.volume.size} bytes)")
        s.restart_client(out, state.client, "so it reads the restored volume")
    after_client_back(out, snapshot, service, choices)
    return out.steps


def rollback(snapshot: Snapshot, service: ServiceDef, choices: o.Choices, forward: list[Step]) -> list[Step]:
    """Put back what the plan recorded. With a safety dump: a fresh cluster with the live data
    and secrets as they were; without one: the resource (empty if its data went)."""
    state = snapshot.cluster
    n = s.instances(state)
    out = s.StepList(timeouts(service, snapshot.backup.ref.size, n), prefix="r")
    pg = s.pg_target(state)
    if state.postgresql is None:
        return _rollback_to_absent(out, state)
    safety = next((x for x in forward if x.kind == "safety-dump"), None)
    restored = [x.id for x in forward if x.kind in ("restore-dump", "secrets-from-manifest", "alter-users")]
    ensured = s.ensure_cluster(out, state, 1, _ensure_description(pg.name, safety is not None),
                               unless_done=restored, replace_ours=safety is not None)
    if safety is not None:
        recreated = Condition(ensured, "recreated", True)
        s.safety_dump_back(out, pg, safety, restart_from=ensured, when=recreated)
        s.restart_leader(out, pg, when=recreated)
    s.set_instances(out, pg, n)
    replicas = int(state.client.spec.get("replicas") or 0)
    s.scale_client(out, state.client, state.client_selector, before=0, replicas=replicas, wait="none",
                   hold_unless_data=True)
    _volume_back(out, state, service, forward)
    s.resume_backup_jobs(out, state, hold_unless_data=True)
    return out.steps


def _volume_back(out: s.StepList, state: ClusterState, service: ServiceDef, forward: list[Step]) -> None:
    """If the volume backup had started to go in: the safety tar back, and the client restarted."""
    started = [x.id for x in forward if x.kind == "restore-volume"]
    safety = next((x for x in forward if x.kind == "safety-volume"), None)
    if not started or safety is None or service.data_volume is None:
        return
    back = s.restore_volume(out, state.client, state.client_selector, service.data_volume,
                            from_dict(Location, safety.params["archive"]), sha256=None, verified_by=safety.id,
                            what="the safety tar (if the volume backup had started to go in)", only_if_started=started)
    s.restart_client(out, state.client, "so it reads its volume as it was", when=Condition(back, "restored", True))


def _rollback_to_absent(out: s.StepList, state: ClusterState) -> list[Step]:
    """The resource was gone before apply, so "as before" is: gone. Only the cluster this apply
    created is deleted (its data is the backup's, still in the pinned copy); one somebody else
    made is left alone and named. The client gets its recorded replicas back, the CronJobs their
    suspend: the service is as broken as it was, and a new plan restores it."""
    s.delete_ours(out, state, rollback=True)
    replicas = int(state.client.spec.get("replicas") or 0)
    s.scale_client(out, state.client, state.client_selector, before=0, replicas=replicas, wait="none")
    s.resume_backup_jobs(out, state)
    return out.steps


def _ensure_description(name: str, with_safety: bool) -> str:
    if with_safety:
        return (f"if {name} was deleted: re-create it empty from its recorded spec (and replace any cluster this "
                f"apply created) for the safety dump to go back into")
    return (f"re-create postgresql {name} from its recorded spec if it is gone, or if this apply re-created it and "
            f"the restore into it did not finish (its data is not brought back: --no-safety-dump)")
