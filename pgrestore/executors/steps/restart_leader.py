"""restart-leader: delete the Patroni leader's pod so Postgres restarts with the fixed
credentials, then wait for a Ready leader (in a multi-member cluster it may be another pod)."""

from __future__ import annotations

from typing import cast

from pgrestore.contract.model import Step
from pgrestore.contract.params import RestartLeaderParams
from pgrestore.core import pods

from ..context import Context


def run(step: Step, ctx: Context) -> dict:
    t, selector = step.target, cast(RestartLeaderParams, step.params)["pod_selector"]
    before = ctx.kube.list_pods(t.namespace, selector)
    old = pods.leader(before)
    old_uid = old["metadata"]["uid"] if old else None
    if old is not None:
        ctx.kube.delete_pod(t.namespace, pods.name(old))

    def restarted(ps: list[dict]) -> bool:
        new = pods.leader(ps)
        return new is not None and new["metadata"]["uid"] != old_uid
    found = ctx.kube.wait_pods(t.namespace, selector, restarted, f"a new Ready leader of {t.name}", ctx.remaining())
    new = pods.leader(found)
    return {"old_leader": pods.name(old) if old else None, "leader": pods.name(new) if new else None}
