"""Helpers for the sandbox's own tests: statuses, leaders, settings."""

from __future__ import annotations

import threading

from kubernetes import client, watch

from pgrestore_sandbox import commands, registry
from pgrestore_sandbox.kube import CRD_GROUP, CRD_PLURAL, CRD_VERSION
from tests.helpers import pod_ready, pods, wait_until


def cluster_status(api, ns: str, name: str) -> str | None:
    try:
        cr = api.custom.get_namespaced_custom_object(CRD_GROUP, CRD_VERSION, ns, CRD_PLURAL, name)
    except client.ApiException as e:
        if e.status == 404:
            return None
        raise
    return (cr.get("status") or {}).get("PostgresClusterStatus")


def leader(state, ns: str, cluster: str) -> str | None:
    return (registry.load(state.clusters).get(registry.cluster_key(ns, cluster)) or {}).get("leader")


def role_labels(core, ns: str, cluster: str) -> dict[str, str | None]:
    return {p.metadata.name: (p.metadata.labels or {}).get("spilo-role")
            for p in pods(core, ns, f"application=spilo,cluster-name={cluster}")}


def labelled_leader(core, ns: str, cluster: str, member: str) -> bool:
    """`member` is the one Ready pod labelled master, the others are labelled replica."""
    members = pods(core, ns, f"application=spilo,cluster-name={cluster}")
    roles = {p.metadata.name: (p.metadata.labels or {}).get("spilo-role") for p in members}
    ready = {p.metadata.name for p in members if pod_ready(p)}
    return member in ready and all(role == ("master" if name == member else "replica") for name, role in roles.items())


def put_leader_back(sandbox, ns: str, cluster: str, member: str) -> None:
    """Leave the shared sandbox as the other tests expect it: `member` leads, all members Ready."""
    core = sandbox.api.core

    def all_ready() -> bool:
        members = pods(core, ns, f"application=spilo,cluster-name={cluster}")
        return member in {p.metadata.name for p in members} and all(pod_ready(p) for p in members)
    wait_until(f"{member} and the others Ready", all_ready, timeout=60)
    if leader(sandbox.state, ns, cluster) != member:
        commands.submit(sandbox.state, "failover", {"namespace": ns, "cluster": cluster, "to": member})
    wait_until(f"{member} labelled leader", lambda: labelled_leader(core, ns, cluster, member), timeout=60)


class StatusWatch:
    """Every change of one postgresql's status, in order (polling could miss short-lived ones)."""

    def __init__(self, sandbox, ns: str, name: str):
        custom = sandbox.api.custom
        listed = custom.list_namespaced_custom_object(CRD_GROUP, CRD_VERSION, ns, CRD_PLURAL)
        self._last = cluster_status(sandbox.api, ns, name)
        self.seen: list[str] = []
        self._watch = watch.Watch()
        self._args = (custom.list_namespaced_custom_object, CRD_GROUP, CRD_VERSION, ns, CRD_PLURAL)
        self._kwargs = {"field_selector": f"metadata.name={name}",
                        "resource_version": listed["metadata"]["resourceVersion"], "timeout_seconds": 120}
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for event in self._watch.stream(*self._args, **self._kwargs):
                status = (event["object"].get("status") or {}).get("PostgresClusterStatus")
                if status and status != self._last:
                    self.seen.append(status)
                    self._last = status
        except Exception:  # noqa: BLE001 - stop() closes the stream under the reader
            pass

    def stop(self) -> None:
        self._watch.stop()
