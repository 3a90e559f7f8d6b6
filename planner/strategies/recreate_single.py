"""recreate-single (Keycloak; Spire, VCS, Capsules): delete the resource, re-create it with one
instance, restore into the Patroni leader, fix the credentials, restart the leader, then scale
the members and the client back to what was recorded (csm-procedures.md §2, bugs of §4 fixed)."""

from __future__ import annotations

from core.model import ServiceDef, Step
from core.observe import digest

from .. import steps as s
from ..read import Snapshot
from ..timeouts import timeouts

NAME = "recreate-single"


def steps(snapshot: Snapshot, service: ServiceDef, secrets_mode: str, salt: str) -> list[Step]:
    state, backup = snapshot.cluster, snapshot.backup
    assert state.postgresql is not None
    n = s.instances(state)
    out = s.StepList(timeouts(service, backup.ref.size, n))
    pg = s.pg_target(state)
    verified = s.verify_backup(out, backup.ref)
    replicas = int(state.client.spec.get("replicas") or 0)
    s.scale_client(out, state.client, state.client_selector, replicas, 0, "gone")
    deleted = s.delete_cluster(out, state)
    s.create_cluster(out, state.postgresql_resource, 1)
    s.restore_dump(out, pg, backup.ref, rows_from=verified, restart_from=deleted)
    names = [x.target.name for x in state.secrets]
    digests = None
    if secrets_mode == "from-manifest":
        assert backup.ref.manifest is not None
        s.secrets_from_manifest(out, pg, backup.ref, names)
        digests = {m.name: digest(salt, m.password) for m in backup.manifest_secrets if m.name in names}
    else:
        s.alter_users(out, pg, names)
    s.restart_leader(out, pg)
    s.set_instances(out, pg, n)
    s.scale_client(out, state.client, state.client_selector, 0, replicas, "ready")
    s.after_restore(out, state)
    s.verify(out, state, digests)
    return out.steps


def rollback(snapshot: Snapshot, service: ServiceDef, forward: list[Step]) -> list[Step]:
    """Put back what the plan recorded: the resource (empty if its data went), its members,
    the client's replicas."""
    state = snapshot.cluster
    n = s.instances(state)
    out = s.StepList(timeouts(service, snapshot.backup.ref.size, n), prefix="r")
    pg = s.pg_target(state)
    restored = [x.id for x in forward if x.kind in ("restore-dump", "secrets-from-manifest", "alter-users")]
    out.add("ensure-cluster", pg,
            f"re-create postgresql {pg.name} from its recorded spec if it is gone, or if this apply re-created it "
            f"and the restore into it did not finish (its data is not brought back)",
            {"resource": state.postgresql_resource, "numberOfInstances": n, "pod_selector": s.spilo_selector(pg.name),
             "secrets": [x.target.name for x in state.secrets], "unless_done": restored})
    s.set_instances(out, pg, n)
    replicas = int(state.client.spec.get("replicas") or 0)
    s.scale_client(out, state.client, state.client_selector, 0, replicas, "none")
    return out.steps
