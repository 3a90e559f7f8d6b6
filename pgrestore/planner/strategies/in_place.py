"""in-place (SLS): keep the postgresql resource, its members and its uid; in the Patroni leader
revoke CONNECT, end the other sessions and drop the application databases, restore, grant
CONNECT again, put the credentials back, restart every member, scale the client back
(csm-procedures.md §2.3: restore_sls_postgres_from_backup.sh, CSM 1.0 to 1.6, with its bugs fixed).

As recreate-single: the backup is verified and pinned, the backup CronJobs suspended and a safety
dump taken before anything destructive. The restore restarts from the drop after a crash, so a
half-streamed dump is never replayed on top of itself. A failure after the drop drops the
half-restored databases and restores the safety dump into the same cluster.
"""

from __future__ import annotations

from pgrestore.contract.model import Condition, ServiceDef, Step

from .. import options as o
from .. import steps as s
from ..timeouts import timeouts
from ..world import Snapshot
from ._common import after_client_back, before_changes, credentials, stop_client_then_dump

NAME = "in-place"


def steps(snapshot: Snapshot, service: ServiceDef, choices: o.Choices) -> list[Step]:
    state, backup = snapshot.cluster, snapshot.backup.ref
    n = s.instances(state)
    out = s.StepList(timeouts(service, backup.size, n))
    pg = s.pg_target(state)

    dump, manifest, checked, verified = before_changes(out, snapshot, service, choices)
    replicas = stop_client_then_dump(out, snapshot, service, choices)
    s.before_restore(out, state)
    dropped = s.drop_databases(out, pg, service.databases)
    s.restore_dump(out, pg, dump, backup.format, verified_by=checked, rows_from=verified, restart_from=dropped,
                   what=f"{backup.key} ({backup.size} bytes)")
    s.grant_connect(out, pg, service.databases)
    s.run_sql(out, pg, service.sql_after_restore)
    credentials(out, pg, choices, manifest=manifest, checked=checked, names=[x.target.name for x in state.secrets])
    s.restart_members(out, pg, n)
    s.scale_client(out, state.client, state.client_selector, before=0, replicas=replicas, wait="ready")
    after_client_back(out, snapshot, service, choices)
    return out.steps


def rollback(snapshot: Snapshot, service: ServiceDef, choices: o.Choices, forward: list[Step]) -> list[Step]:
    """With a safety dump: if the databases were touched, drop what is there and restore the safety
    dump and its secrets into the same cluster; then CONNECT, the client and the CronJobs as recorded.
    Without one: CONNECT back (a drop may have stopped after its REVOKE), client and CronJobs."""
    state = snapshot.cluster
    n = s.instances(state)
    out = s.StepList(timeouts(service, snapshot.backup.ref.size, n), prefix="r")
    pg = s.pg_target(state)
    safety = next((x for x in forward if x.kind == "safety-dump"), None)
    if safety is not None:
        touched = [x.id for x in forward if x.kind == "drop-databases"]
        dropped = s.drop_databases(out, pg, service.databases, only_if_started=touched, rollback=True)
        again = Condition(dropped, "dropped", True)
        s.safety_dump_back(out, pg, safety, restart_from=dropped, when=again)
    s.grant_connect(out, pg, service.databases)
    if safety is not None:
        s.restart_members(out, pg, n, when=Condition(out.steps[0].id, "dropped", True))
    replicas = int(state.client.spec.get("replicas") or 0)
    s.scale_client(out, state.client, state.client_selector, before=0, replicas=replicas, wait="none",
                   hold_unless_data=True)
    s.resume_backup_jobs(out, state, hold_unless_data=True)
    return out.steps
