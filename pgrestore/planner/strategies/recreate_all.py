"""recreate-all (HSM): delete the postgresql resource and re-create it unchanged (every member,
no one-instance phase), restore into the Patroni leader, run the service's clean-up SQL, put the
credentials back, restart every member, scale the client back (csm-procedures.md §2.1:
Restore_HSM_Postgres_from_Backup.md, CSM 1.0 to 1.6, with its bugs fixed). The service's
before_restore jobs (cray-smd-init) run and are waited for before the database is touched.

As recreate-single: verify and pin the backup, suspend the backup CronJobs and take a safety dump
before anything destructive; the restore restarts from the delete after a crash; a failure after
the delete restores the safety dump into a fresh cluster with all its members.
"""

from __future__ import annotations

from pgrestore.contract.model import Condition, ServiceDef, Step

from .. import options as o
from .. import steps as s
from ..timeouts import timeouts
from ..world import Snapshot
from ._common import after_client_back, before_changes, credentials, stop_client_then_dump

NAME = "recreate-all"


def steps(snapshot: Snapshot, service: ServiceDef, choices: o.Choices) -> list[Step]:
    state, backup = snapshot.cluster, snapshot.backup.ref
    n = s.instances(state)
    out = s.StepList(timeouts(service, backup.size, n))
    pg = s.pg_target(state)

    dump, manifest, checked, verified = before_changes(out, snapshot, service, choices)
    replicas = stop_client_then_dump(out, snapshot, service, choices)
    s.before_restore(out, state)
    deleted = s.delete_cluster(out, state)
    s.create_cluster(out, state.postgresql_resource, n, s.cronjobs_to_hold(state))
    s.restore_dump(out, pg, dump, backup.format, verified_by=checked, rows_from=verified, restart_from=deleted,
                   what=f"{backup.key} ({backup.size} bytes)")
    s.run_sql(out, pg, service.sql_after_restore)
    credentials(out, pg, choices, manifest=manifest, checked=checked, names=[x.target.name for x in state.secrets])
    s.restart_members(out, pg, n)
    s.scale_client(out, state.client, state.client_selector, before=0, replicas=replicas, wait="ready")
    after_client_back(out, snapshot, service, choices)
    return out.steps


def rollback(snapshot: Snapshot, service: ServiceDef, choices: o.Choices, forward: list[Step]) -> list[Step]:
    """As recreate-single's, with every member: a fresh cluster with the live data and secrets as
    they were (from the safety dump); without one, the resource (empty if its data went)."""
    state = snapshot.cluster
    n = s.instances(state)
    out = s.StepList(timeouts(service, snapshot.backup.ref.size, n), prefix="r")
    pg = s.pg_target(state)
    safety = next((x for x in forward if x.kind == "safety-dump"), None)
    restored = [x.id for x in forward if x.kind in ("restore-dump", "run-sql", "secrets-from-manifest",
                                                    "alter-users")]
    what = ("re-create it empty from its recorded spec (and replace any cluster this apply created) for the "
            "safety dump to go back into" if safety is not None else
            "re-create it from its recorded spec if it is gone, or if this apply re-created it and the restore "
            "into it did not finish (its data is not brought back: --no-safety-dump)")
    ensured = s.ensure_cluster(out, state, n, f"if {pg.name} was deleted: {what}", unless_done=restored,
                               replace_ours=safety is not None)
    if safety is not None:
        recreated = Condition(ensured, "recreated", True)
        s.safety_dump_back(out, pg, safety, restart_from=ensured, when=recreated)
        s.restart_members(out, pg, n, when=recreated)
    replicas = int(state.client.spec.get("replicas") or 0)
    s.scale_client(out, state.client, state.client_selector, before=0, replicas=replicas, wait="none",
                   hold_unless_data=True)
    s.resume_backup_jobs(out, state, hold_unless_data=True)
    return out.steps
