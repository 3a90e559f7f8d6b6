"""Patroni's part: which member holds the leader key, and what a change of leader does.

The leader is a fact of the cluster (its `leader` and `timeline` in clusters.json stand
for Patroni's leader key and timeline in the DCS), not "pod 0":
- a new cluster's first leader is pod 0 (it bootstrapped the volume);
- `sandbox failover` moves it to another healthy member (patronictl failover/switchover,
  Patroni 2.1.4 patroni/ctl.py, with its error messages);
- when the leader's pod is deleted, Patroni stops PostgreSQL and another Ready member
  takes the key; with no such member the key stays and the re-created pod leads again.
Every change restarts the cluster's one real server, so sessions drop as they do when a
primary is demoted, and bumps the timeline as a promotion does. The `spilo-role` label
follows, as Spilo's callback_role.py sets it (and removes it when Patroni stops).
"""

from __future__ import annotations

import logging
from pathlib import Path

from kubernetes import client

from . import registry
from .coordination import ClusterLocks
from .kube import Api, is_not_found, meta, name_of, namespace_of, status_of
from .paths import StateDir
from .pgserver import PgServer
from .statefulset import spilo_selector

log = logging.getLogger("sandbox.patroni")
ROLE_LABEL = "spilo-role"


class FailoverError(Exception):
    """Patroni refused the failover."""


def is_ready(pod: client.V1Pod) -> bool:
    return not meta(pod).deletion_timestamp and any(
        c.type == "Ready" and c.status == "True" for c in status_of(pod).conditions or [])


class Patroni:
    def __init__(self, api: Api, state: StateDir, locks: ClusterLocks):
        self.api, self.state, self.locks = api, state, locks

    def failover(self, namespace: str, cluster: str, to: str | None = None) -> str:
        """`patronictl failover [--candidate TO] --force`; returns Patroni's answer."""
        key = registry.cluster_key(namespace, cluster)
        with self.locks.get(key):
            entry = registry.load(self.state.clusters).get(key)
            if entry is None:
                raise FailoverError(f"no cluster {key}")
            leader = entry["leader"]
            members = self._members(namespace, cluster)
            candidates = sorted(name_of(p) for p in members if name_of(p) != leader)
            if to == leader:
                raise FailoverError("Failover target and source are the same.")
            if not candidates:
                raise FailoverError("No candidates found to failover to")
            if to and to not in candidates:
                raise FailoverError(f"Member {to} does not exist in cluster {cluster}")
            healthy = [name_of(p) for p in members if name_of(p) in candidates and is_ready(p)]
            target = to or (healthy[0] if healthy else candidates[0])
            if target not in healthy:
                raise FailoverError(f"Failover failed, details: 412, {target} is not a healthy, running member")
            self._promote(key, entry, target, members)
        return f'Successfully failed over to "{target}"'

    def leader_stopped(self, key: str, stopped_pod: str, members: list[client.V1Pod]) -> None:
        """The leader's pod is going away: Patroni stops PostgreSQL; a Ready member takes over."""
        with self.locks.get(key):
            entry = registry.load(self.state.clusters).get(key)
            if entry is None or entry.get("deleting") or entry["leader"] != stopped_pod:
                return  # a cluster being deleted goes with its data anyway
            healthy = sorted(name_of(p) for p in members if name_of(p) != stopped_pod and is_ready(p))
            if healthy:
                self._promote(key, entry, healthy[0], members)
            else:
                # No one to take over: the database is down until the leader's pod runs again.
                log.info("%s: leader %s stopped, no other healthy member; it leads again when back", key, stopped_pod)
                PgServer(Path(entry["datadir"]), entry["port"]).stop()

    def ensure_running(self, key: str, pod_name: str) -> bool:
        """Patroni in the leader's pod starts PostgreSQL (after a stop, or after `sandbox down`/`up`)."""
        with self.locks.get(key):
            entry = registry.load(self.state.clusters).get(key)
            if entry is None or entry.get("deleting") or entry["leader"] != pod_name or self.locks.restarting(key):
                return False
            server = PgServer(Path(entry["datadir"]), entry["port"])
            if not server.running():
                log.info("%s: %s starts PostgreSQL", key, pod_name)
                server.start()
            return True

    def _promote(self, key: str, entry: dict, target: str, members: list[client.V1Pod]) -> None:
        old = entry["leader"]
        log.info("%s: leader %s -> %s", key, old, target)
        self.locks.mark_restarting(key, True)
        try:
            server = PgServer(Path(entry["datadir"]), entry["port"])
            server.stop()  # the old primary is demoted; its sessions end
            registry.update_entry(self.state.clusters, key, leader=target, timeline=entry.get("timeline", 1) + 1)
            server.start()
        finally:
            self.locks.mark_restarting(key, False)
        for pod in members:  # the new leader's and the demoted one's callbacks; the others keep theirs
            if name_of(pod) == target:
                set_role_label(self.api, pod, "master")
            elif name_of(pod) == old:
                set_role_label(self.api, pod, None if meta(pod).deletion_timestamp else "replica")

    def _members(self, namespace: str, cluster: str) -> list[client.V1Pod]:
        pods = self.api.core.list_namespaced_pod(namespace, label_selector=spilo_selector(cluster)).items
        return [p for p in pods if not meta(p).deletion_timestamp]


def set_role_label(api: Api, pod: client.V1Pod, role: str | None) -> None:
    """What callback_role.py does on a role change (None on_stop removes the label)."""
    if (meta(pod).labels or {}).get(ROLE_LABEL) == role:
        return
    try:
        api.core.patch_namespaced_pod(name_of(pod), namespace_of(pod),
                                      {"metadata": {"labels": {ROLE_LABEL: role}}})
    except client.ApiException as e:
        if not is_not_found(e):
            raise
