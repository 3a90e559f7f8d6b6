"""Waiting for a cluster's members: a Ready Patroni leader, then every member Ready.

The operator's PostgresClusterStatus is not waited on: v1.8.2 writes it only on create,
update and a periodic sync (5 min on CSM), so it lags what the pods show; a failure
status the operator did set is reported at once instead of waiting out the timeout.
"""

from __future__ import annotations

from core import pods
from core.errors import StepFailed

from ..context import Context

FAILED = ("CreateFailed", "UpdateFailed")


def wait_ready(ctx: Context, ns: str, cluster: str, selector: str, n: int) -> str:
    """Wait for n Ready members including one leader; return the leader's pod name."""
    def done(ps: list[dict]) -> bool:
        return pods.all_ready(ps, n) and pods.leader(ps) is not None
    found = ctx.kube.wait_pods(ns, selector, done, f"{n} Ready members of {cluster} with a leader", ctx.remaining())
    leader = pods.leader(found)
    assert leader is not None
    fail_on_operator_failure(ctx, ns, cluster)
    return pods.name(leader)


def fail_on_operator_failure(ctx: Context, ns: str, cluster: str) -> None:
    pg = ctx.kube.get_postgresql(ns, cluster)
    status = ((pg or {}).get("status") or {}).get("PostgresClusterStatus")
    if status in FAILED:
        raise StepFailed(f"the operator reports postgresql {cluster} {status}; see its log "
                         f"(kubectl logs -n postgres-operator deploy/postgres-operator)")
