"""The ordered steps of each restore strategy, and the rollback that would run."""

from __future__ import annotations

from collections.abc import Callable

from pgrestore.plan import address
from pgrestore.snapshot import BackupState, ClusterState


def _step(steps: list, kind: str, target: str, description: str, timeout: int, params: dict | None = None,
          destructive: bool = False, rollback: dict | None = None, restart_from: str | None = None) -> str:
    step_id = f"{len(steps) + 1:02d}-{kind}"
    steps.append({"id": step_id, "kind": kind, "target": target, "params": params or {},
                  "description": description, "destructive": destructive, "rollback": rollback,
                  "restart_from": restart_from, "timeout_seconds": timeout})
    return step_id


def recreate_single_steps(cluster: ClusterState, service: dict, mode: str, backup: BackupState,
                          timeout: Callable[[str], int]) -> list[dict]:
    ns, pg = service["namespace"], service["cluster"]
    client = cluster.client
    client_addr = address(client.kind, ns, client.name)
    pg_addr = address("postgresql", ns, pg)
    instances = cluster.postgresql["spec"].get("numberOfInstances", 1)
    steps: list[dict] = []

    _step(steps, "verify-backup", backup.key,
          "check the backup before anything changes: object size and ETag as planned, pg_dumpall header and "
          "completion trailer, gzip intact, manifest names the cluster's secrets", timeout("verify-backup"))
    _step(steps, "scale-workload", client_addr,
          f"scale {client.kind.lower()} {client.name} {client.replicas} -> 0 and wait until its pods are gone",
          timeout("scale-workload"), {"replicas": 0, "wait": "gone"},
          rollback={"kind": "scale-workload", "replicas": client.replicas})
    delete_id = _step(
        steps, "delete-cluster", pg_addr,
        f"DESTRUCTIVE: save the postgresql spec in the journal, then delete {pg}: this deletes the data volumes "
        f"of {pg} and its credential secrets", timeout("delete-cluster"), destructive=True,
        rollback={"kind": "ensure-cluster"})
    _step(steps, "create-cluster", pg_addr,
          f"re-create {pg} from the saved spec with numberOfInstances 1 (server fields stripped); wait for "
          f"Running and a Ready leader", timeout("create-cluster"), {"numberOfInstances": 1})
    _step(steps, "restore-dump", f"pod/{ns}/{pg}-0",
          f"stream {backup.key} ({backup.size} bytes) into psql -U postgres in {pg}-0; only known-benign "
          f"'already exists' errors may pass", timeout("restore-dump"), restart_from=delete_id)
    if mode == "from-manifest":
        _step(steps, "secrets-from-manifest", f"secrets/{ns}/{pg}",
              f"DESTRUCTIVE: delete the operator's new credential secrets of {pg} and create the backup's, "
              f"ownerReferences stripped, so they match the restored role passwords", timeout("secrets-from-manifest"),
              destructive=True)
    else:
        _step(steps, "alter-users", f"secrets/{ns}/{pg}",
              f"ALTER USER every credential secret's user of {pg} to the secret's live password",
              timeout("alter-users"))
    _step(steps, "restart-leader", f"pod/{ns}/{pg}-0",
          f"delete pod {pg}-0 so Postgres restarts with the fixed credentials; wait until it is Ready",
          timeout("restart-leader"))
    _step(steps, "set-instances", pg_addr,
          f"set numberOfInstances of {pg} back to {instances} (the recorded value) and wait for {instances} Ready "
          f"members and Running", timeout("set-instances"), {"numberOfInstances": instances},
          rollback={"kind": "set-instances", "numberOfInstances": instances})
    _step(steps, "scale-workload", client_addr,
          f"scale {client.kind.lower()} {client.name} 0 -> {client.replicas} and wait for {client.replicas} Ready pods",
          timeout("scale-workload"), {"replicas": client.replicas, "wait": "ready"})
    for extra in service.get("after_restore") or []:
        if extra["kind"] == "rerun-job":
            _step(steps, "rerun-job", address("Job", ns, extra["name"]),
                  f"re-run job {extra['name']} (delete, re-create from its spec) and wait for completion",
                  timeout("rerun-job"))
        else:
            t = extra["target"]
            _step(steps, "rollout-restart", address(t["kind"], ns, t["name"]),
                  f"rollout-restart {t['kind'].lower()} {t['name']} and wait until it is rolled out",
                  timeout("rollout-restart"))
    _step(steps, "verify", pg_addr,
          f"verify: {pg} Running with {instances} members, clients Ready, restored tables have the dump's row "
          f"counts, scale settings and secrets as planned", timeout("verify"))
    return steps


def rollback_actions(cluster: ClusterState, service: dict) -> list[dict]:
    """What a failed apply puts back: the cluster resource, its instance count, the client's replicas."""
    ns = service["namespace"]
    return [
        {"kind": "ensure-cluster", "target": address("postgresql", ns, service["cluster"]),
         "description": f"re-create postgresql {service['cluster']} from the saved spec if it is gone "
                        f"(its data is not brought back)"},
        {"kind": "set-instances", "target": address("postgresql", ns, service["cluster"]),
         "numberOfInstances": cluster.postgresql["spec"].get("numberOfInstances", 1),
         "description": f"set numberOfInstances back to {cluster.postgresql['spec'].get('numberOfInstances', 1)}"},
        {"kind": "scale-workload", "target": address(cluster.client.kind, ns, cluster.client.name),
         "replicas": cluster.client.replicas,
         "description": f"scale {cluster.client.kind.lower()} {cluster.client.name} back to {cluster.client.replicas}"},
    ]
