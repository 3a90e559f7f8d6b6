"""verify: members Ready with a leader, the client back and Ready, every credential secret
present and opening the database (a real login over TCP in the leader), the backup's
passwords in place where planned."""

from __future__ import annotations

from typing import cast

from pgrestore.contract.model import Step, Target, from_dict
from pgrestore.contract.params import VerifyParams
from pgrestore.core import pods
from pgrestore.core.observe import digest, secret_value
from pgrestore.errors import StepFailed

from ..context import Context


def _member_problems(ctx: Context, t: Target, p: VerifyParams) -> list[str]:
    pg = ctx.kube.get_postgresql(t.namespace, t.name)
    if pg is None:
        return [f"postgresql {t.name} is missing"]
    problems = []
    if pg["spec"].get("numberOfInstances") != p["numberOfInstances"]:
        problems.append(f"numberOfInstances is {pg['spec'].get('numberOfInstances')}, planned {p['numberOfInstances']}")
    members = ctx.kube.list_pods(t.namespace, p["pod_selector"])
    ready = [m for m in pods.live(members) if pods.ready(m)]
    if len(ready) != p["numberOfInstances"]:
        problems.append(f"{len(ready)} of {p['numberOfInstances']} members of {t.name} are Ready")
    if pods.leader(members) is None:
        problems.append(f"{t.name} has no Ready leader")
    return problems


def _client_problems(ctx: Context, client: dict) -> list[str]:
    t = from_dict(Target, client["target"])
    what = f"{t.kind.lower()} {t.name}"
    live = ctx.kube.read(t)
    if live is None:
        return [f"{what} is missing"]
    replicas = live["spec"].get("replicas")
    problems = [] if replicas == client["replicas"] else [
        f"{what} has {replicas} replicas, planned {client['replicas']}"]
    ready = [p for p in pods.live(ctx.kube.list_pods(t.namespace, client["pod_selector"])) if pods.ready(p)]
    if len(ready) != (client["replicas"] or 0):
        problems.append(f"{what}: {len(ready)} of {client['replicas']} pods Ready (can they log in to the database?)")
    return problems


def _secret_problems(ctx: Context, t: Target, p: VerifyParams, leader: str | None) -> list[str]:
    problems = []
    for name in p["secrets"]:
        live = ctx.kube.read_secret(t.namespace, name)
        if live is None:
            problems.append(f"secret {name} is missing")
            continue
        user, password = secret_value(live, "username"), secret_value(live, "password")
        wanted = p["secret_digests"].get(name)
        if wanted and digest(ctx.plan.digest_salt, password) != wanted:
            problems.append(f"secret {name} does not hold the backup's password")
        if leader and not ctx.psql.can_login(t.namespace, leader, user, password, "postgres",
                                                                    deadline=ctx.deadline):
            problems.append(f"secret {name} does not open the database as {user}")
    return problems


def run(step: Step, ctx: Context) -> dict:
    # Row counts were checked right after the restore: by now clients and jobs have written.
    t, p = step.target, cast(VerifyParams, step.params)
    leader = pods.leader(ctx.kube.list_pods(t.namespace, p["pod_selector"]))
    leader_name = pods.name(leader) if leader else None
    problems = (_member_problems(ctx, t, p) + _client_problems(ctx, p["client"])
                + _secret_problems(ctx, t, p, leader_name))
    if problems:
        raise StepFailed(f"verification failed: {problems[0]}"
                         + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""))
    return {"leader": leader_name, "checked": "members, leader, client readiness, replicas, secrets open the database"}
