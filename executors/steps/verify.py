"""verify: the cluster is whole, clients can log in, rows match the dump, settings match the plan."""

from __future__ import annotations

import base64

from pgrestore.errors import StepFailed
from pgrestore.plan import digest

from ..context import Context, split_address
from . import _pods


def _problems(ctx: Context) -> list[str]:
    problems = []
    pg = ctx.kube.get_postgresql(ctx.ns, ctx.cluster)
    if pg is None:
        return [f"postgresql {ctx.cluster} is missing"]
    status = (pg.get("status") or {}).get("PostgresClusterStatus")
    if status != "Running":
        problems.append(f"postgresql {ctx.cluster} is {status}, not Running")
    if pg["spec"].get("numberOfInstances") != ctx.instances:
        problems.append(f"numberOfInstances is {pg['spec'].get('numberOfInstances')}, planned {ctx.instances}")
    members = [p for p in _pods.live(ctx.kube.list_pods(ctx.ns, _pods.spilo_selector(ctx.cluster))) if _pods.ready(p)]
    if len(members) != ctx.instances:
        problems.append(f"{len(members)} of {ctx.instances} members of {ctx.cluster} are Ready")
    client = ctx.client
    kind, ns, name = split_address(client["address"])
    replicas = ctx.kube.get_workload(kind, ns, name)["spec"].get("replicas")
    if replicas != client["fields"]["replicas"]:
        problems.append(f"{kind.lower()} {name} has {replicas} replicas, planned {client['fields']['replicas']}")
    pods = _pods.live(ctx.kube.list_pods(ns, _pods.selector(client["fields"]["selector"])))
    if len([p for p in pods if _pods.ready(p)]) != client["fields"]["replicas"]:
        problems.append(f"{kind.lower()} {name}: {len([p for p in pods if _pods.ready(p)])} of "
                        f"{client['fields']['replicas']} pods Ready (can they log in to the database?)")
    return problems + _secret_problems(ctx)


def _secret_problems(ctx: Context) -> list[str]:
    problems, salt = [], ctx.plan["digest_salt"]
    manifest = {s["name"]: s["password_digest"] for s in (ctx.plan["backup"]["manifest"] or {}).get("secrets", [])}
    for o in ctx.prior_of_kind("Secret"):
        live = ctx.kube.read_secret(ctx.ns, o["name"])
        if live is None:
            problems.append(f"secret {o['name']} is missing")
            continue
        if ctx.plan["secrets_mode"] == "from-manifest":
            password = base64.b64decode(live["data"]["password"]).decode()
            if digest(salt, password) != manifest.get(o["name"]):
                problems.append(f"secret {o['name']} does not hold the backup's password")
    return problems


def run(step: dict, ctx: Context) -> dict:
    # Row counts were checked right after the restore: by now clients and jobs have written.
    problems = _problems(ctx)
    if problems:
        raise StepFailed(f"verification failed: {problems[0]}" + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""))
    return {"checked": "members, client readiness, scale settings, secrets"}
