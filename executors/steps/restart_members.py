"""restart-members: delete every member pod so each Postgres restarts with the credentials now in
the secrets (the operator's pod template reads them into the environment at start), then wait for
N Ready members, all of them new pods, with a leader (csm-procedures.md §2.1 step 11, §2.3 step 8:
`kubectl delete pods <cluster>-0 <cluster>-1 <cluster>-2`, then each waited for Ready)."""

from __future__ import annotations

from core import pods
from core.errors import NotFound
from core.model import Step

from ..context import Context


def run(step: Step, ctx: Context) -> dict:
    t, p = step.target, step.params
    n, selector = p["numberOfInstances"], p["pod_selector"]
    old = {x["metadata"]["uid"]: pods.name(x) for x in pods.live(ctx.kube.list_pods(t.namespace, selector))}
    for name in sorted(old.values()):
        try:
            ctx.kube.delete_pod(t.namespace, name)
        except NotFound:
            pass  # gone already (a resume, or Patroni's own restart)

    def restarted(ps: list[dict]) -> bool:
        members = pods.live(ps)
        return (pods.all_ready(ps, n) and pods.leader(ps) is not None
                and not any(x["metadata"]["uid"] in old for x in members))
    found = ctx.kube.wait_pods(t.namespace, selector, restarted,
                               f"{n} new Ready members of {t.name} with a leader", ctx.remaining())
    leader = pods.leader(found)
    return {"restarted": sorted(old.values()), "leader": pods.name(leader) if leader else None}
