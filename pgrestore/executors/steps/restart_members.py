"""restart-members: restart every member pod so each Postgres starts again with the credentials now
in the secrets (the operator's pod template reads them into the environment at start; postgres-operator
v1.8.2 k8sres.go), then wait for N Ready members, all of them new pods, with a leader.

The runbook deletes all members at once (csm-procedures.md §2.1 step 11, §2.3 step 8). Here they go one
at a time, replicas first and the leader last, each waited for Ready: the cluster keeps a leader
throughout, and nothing leans on Patroni letting the old leader key expire while the StatefulSet
(pod_management_policy ordered_ready on CSM) brings pod 0 back before the others. A replica started
with the restored standby password clones from the leader; the old leader's pod goes last, Patroni
fails over to a restarted replica, and the old leader's pod comes back as a replica.
"""

from __future__ import annotations

from typing import cast

from pgrestore.contract.model import Step
from pgrestore.contract.params import RestartMembersParams
from pgrestore.core import pods
from pgrestore.errors import NotFound

from ..context import Context


def _order(members: list[dict], lead: str) -> list[list[str]]:
    """[name, uid] of every member: replicas first, then the leader."""
    ordered = sorted(members, key=lambda p: (pods.name(p) == lead, pods.name(p)))
    return [[pods.name(p), p["metadata"]["uid"]] for p in ordered]


def run(step: Step, ctx: Context) -> dict:
    t, p = step.target, cast(RestartMembersParams, step.params)
    n, selector = p["numberOfInstances"], p["pod_selector"]
    # The members and their pods' uids as this step first found them, kept in the journal: a resume
    # after a crash restarts only those not restarted yet (a second round would move the leader again).
    # The leader is waited for, not guessed: a member briefly not Ready (a restart of PostgreSQL in
    # it) must not make the leader look like a replica and be restarted first; then the leader key
    # moves to a replica that is restarted next, and the cluster can end with no leader at all.
    first = ctx.journal.save_once("restart-members", step.id, {"members": _order(
        pods.live(ctx.kube.list_pods(t.namespace, selector)),
        pods.wait_leader(ctx.kube, t.namespace, t.name, ctx.remaining()))})
    old = [(name, uid) for name, uid in first["members"]]
    old_uids = {uid for _, uid in old}
    for name, uid in old:
        now = {pods.name(x): x["metadata"]["uid"] for x in ctx.kube.list_pods(t.namespace, selector)}
        if now.get(name, uid) == uid:  # not restarted yet (or its pod is still going)
            try:
                ctx.kube.delete_pod(t.namespace, name)
            except NotFound:
                pass  # gone already (Patroni's own restart)

        def back(ps: list[dict], name: str = name, uid: str = uid) -> bool:
            again = [x for x in pods.live(ps) if pods.name(x) == name and x["metadata"]["uid"] != uid]
            return bool(again) and pods.ready(again[0]) and pods.leader(ps) is not None
        ctx.kube.wait_pods(t.namespace, selector, back, f"member {name} of {t.name} back Ready, with a leader",
                           ctx.remaining())

    def restarted(ps: list[dict]) -> bool:
        return (pods.all_ready(ps, n) and pods.leader(ps) is not None
                and not any(x["metadata"]["uid"] in old_uids for x in pods.live(ps)))
    found = ctx.kube.wait_pods(t.namespace, selector, restarted,
                               f"{n} new Ready members of {t.name} with a leader", ctx.remaining())
    leader = pods.leader(found)
    return {"restarted": [name for name, _ in old], "leader": pods.name(leader) if leader else None}
