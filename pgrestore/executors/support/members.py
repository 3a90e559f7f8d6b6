"""Waiting for a cluster's members, and reading what the operator says about them.

postgres-operator v1.8.2 writes PostgresClusterStatus only on events (cluster.go Create,
Update; sync.go Sync every resync period, 5 min on CSM), so what it means depends on the
event that wrote it:
- after a create, Create writes Running only once the pods are Ready and it has created
  the roles and databases as `postgres`: restoring before that races the operator (and the
  dump's ALTER ROLE postgres makes its login fail: CreateFailed). So a create waits for
  Running, and CreateFailed fails the step at once;
- after an update (numberOfInstances), Update logs in with the postgres password it adopted
  at its last Create/Sync; once the backup's secrets are back that is stale, so UpdateFailed
  until the next Sync is expected and not a failure: members Ready with a leader are the proof;
- a restart writes nothing.
"""

from __future__ import annotations

from pgrestore.core import pods
from pgrestore.errors import StepFailed

from ..context import Context


def wait_ready(ctx: Context, ns: str, *, selector: str, n: int, cluster: str) -> str:
    """Wait for n Ready members including one leader; return the leader's pod name."""
    def done(ps: list[dict]) -> bool:
        return pods.all_ready(ps, n) and pods.leader(ps) is not None
    found = ctx.kube.wait_pods(ns, selector, done, f"{n} Ready members of {cluster} with a leader", ctx.remaining())
    leader = pods.leader(found)
    assert leader is not None
    return pods.name(leader)


def wait_created(ctx: Context, ns: str, name: str, uid: str) -> None:
    """Wait until the operator's Create of this resource ended: Running, or fail on CreateFailed."""
    def ended(pg: dict | None) -> bool:
        if pg is None or pg["metadata"]["uid"] != uid:
            return False
        status = (pg.get("status") or {}).get("PostgresClusterStatus")
        if status == "CreateFailed":
            raise StepFailed(f"the operator reports postgresql {name} CreateFailed; see the operator's log "
                             f"(kubectl logs -n services deploy/postgres-operator)")
        return status == "Running"
    ctx.kube.wait_postgresql(ns, name, ended, f"the operator to create {name} (status Running)", ctx.remaining())


def operator_status(ctx: Context, ns: str, name: str) -> str | None:
    pg = ctx.kube.get_postgresql(ns, name)
    return ((pg or {}).get("status") or {}).get("PostgresClusterStatus")
