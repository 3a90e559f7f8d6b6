"""The kubelet stand-in: registers the CSM worker nodes and runs their pods' lifecycle.

It binds pending pods, reports them Running with honest readiness, completes Job pods,
restarts a cluster's server when its pod 0 is deleted, and removes deleted pods.
Readiness is the point: a client pod is Ready only while the credentials its template
takes from a Secret open its database, as a real client's probes would show.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from datetime import datetime, timezone
from pathlib import Path

from kubernetes import client

from . import registry
from .kube import Api, is_not_found
from .login import can_login
from .loop import reconcile_forever
from .operator import ClusterLocks
from .paths import StateDir
from .pgserver import PgServer
from .podenv import MissingSecret, SecretCache, container_env

log = logging.getLogger("sandbox.nodeagent")

NODES = ("ncn-w001", "ncn-w002", "ncn-w003")
DB_ANNOTATION = "sandbox.pgrestore.dev/database"  # "<cluster>/<database>"
JOB_RUN_SECONDS = 0.5


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class NodeAgent:
    def __init__(self, api: Api, state: StateDir, locks: ClusterLocks, kubelet_port: int):
        self.api, self.state, self.locks, self.port = api, state, locks, kubelet_port
        self._running_since: dict[str, float] = {}
        self._leaders: dict[str, str] = {}  # uid of each running pod 0 -> its cluster key

    def register_nodes(self) -> None:
        """Before the kubelet port opens, so `up` sees nodes that point at it."""
        for node in NODES:
            self._register(node)

    def run(self, stop: threading.Event) -> None:
        threading.Thread(target=self._heartbeat, args=(stop,), daemon=True, name="heartbeat").start()
        reconcile_forever(stop, self.sync_all, self.api.core.list_pod_for_all_namespaces, log=log, name="pods")

    # -- nodes ------------------------------------------------------------
    def _register(self, name: str) -> None:
        node = client.V1Node(metadata=client.V1ObjectMeta(name=name, labels={
            "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
            "node-role.kubernetes.io/worker": "",
        }))
        try:
            self.api.core.create_node(node)
        except client.ApiException as e:
            if e.status != 409:
                raise
        self.api.core.patch_node_status(name, {"status": self._node_status()})

    def _node_status(self) -> dict:
        now = _now()
        resources = {"cpu": "64", "memory": "256Gi", "pods": "250", "ephemeral-storage": "500Gi"}
        return {
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.port}},
            "capacity": resources, "allocatable": resources,
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "pgrestore sandbox node agent is posting ready status",
                            "lastHeartbeatTime": now, "lastTransitionTime": now}],
            "nodeInfo": {"kubeletVersion": "v1.20.2", "kubeProxyVersion": "v1.20.2",
                         "operatingSystem": "linux", "architecture": "amd64",
                         "containerRuntimeVersion": "pgrestore-sandbox://1", "osImage": "SLES 15 SP2 (sandbox)",
                         "kernelVersion": "", "machineID": "", "systemUUID": "", "bootID": ""},
        }

    def _heartbeat(self, stop: threading.Event) -> None:
        while not stop.wait(10.0):
            for node in NODES:
                try:
                    self.api.core.patch_node_status(node, {"status": {"conditions": [{
                        "type": "Ready", "status": "True", "reason": "KubeletReady",
                        "lastHeartbeatTime": _now()}]}})
                except Exception:  # noqa: BLE001
                    log.exception("heartbeat for %s failed", node)

    # -- pods -------------------------------------------------------------
    def sync_all(self) -> None:
        secrets = SecretCache(self.api.core)
        logins: dict[tuple, bool] = {}
        listed = self.api.core.list_pod_for_all_namespaces().items
        self._restart_for_vanished_leaders({p.metadata.uid for p in listed})
        for pod in listed:
            try:
                self.sync_pod(pod, secrets, logins)
            except client.ApiException as e:
                if not is_not_found(e) and e.status != 409:
                    log.warning("pod %s/%s: %s", pod.metadata.namespace, pod.metadata.name, e.reason)

    def sync_pod(self, pod: client.V1Pod, secrets: SecretCache, logins: dict) -> None:
        meta = pod.metadata
        if meta.deletion_timestamp:
            self._remove(pod)
        elif not pod.spec.node_name:
            self._bind(pod)
        elif pod.spec.node_name in NODES and pod.status.phase not in ("Succeeded", "Failed"):
            self._report(pod, secrets, logins)

    def _bind(self, pod: client.V1Pod) -> None:
        node = _daemonset_node(pod) or NODES[zlib.crc32(pod.metadata.name.encode()) % len(NODES)]
        body = client.V1Binding(
            metadata=client.V1ObjectMeta(name=pod.metadata.name),
            target=client.V1ObjectReference(kind="Node", name=node, api_version="v1"),
        )
        # The generated client cannot parse the Status this call returns.
        self.api.core.create_namespaced_pod_binding(
            pod.metadata.name, pod.metadata.namespace, body, _preload_content=False)

    def _restart_for_vanished_leaders(self, present: set[str]) -> None:
        """A pod 0 force-deleted (no grace) never shows a deletionTimestamp; its server restarts too."""
        for uid, key in list(self._leaders.items()):
            if uid not in present:
                del self._leaders[uid]
                self._restart_server(key)

    def _remove(self, pod: client.V1Pod) -> None:
        key = _spilo_key(pod)
        if key and _ordinal(pod) == 0 and self._leaders.pop(pod.metadata.uid, None):
            self._restart_server(key)
        self._running_since.pop(pod.metadata.uid, None)
        # With a body, the apiserver takes the grace period from it, not from the query.
        self.api.core.delete_namespaced_pod(
            pod.metadata.name, pod.metadata.namespace,
            body=client.V1DeleteOptions(grace_period_seconds=0,
                                        preconditions=client.V1Preconditions(uid=pod.metadata.uid)))

    def _restart_server(self, key: str) -> None:
        """Deleting pod 0 restarts its PostgreSQL, as deleting the Spilo pod does."""
        with self.locks.get(key):
            entry = registry.load(self.state.clusters).get(key)
            if entry is None:
                return
            self.locks.mark_restarting(key, True)
            try:
                PgServer(Path(entry["datadir"]), entry["port"]).restart()
            finally:
                self.locks.mark_restarting(key, False)

    def _report(self, pod: client.V1Pod, secrets: SecretCache, logins: dict) -> None:
        uid = pod.metadata.uid
        try:
            ready = self._ready(pod, secrets, logins)
        except MissingSecret as e:
            if pod.status.phase != "Running":
                # A kubelet resolves env at container start and cannot start without it.
                self._patch_status(pod, _waiting_status(pod, str(e)))
                return
            ready = False
        started = self._running_since.setdefault(uid, time.monotonic())
        if _is_job_pod(pod) and ready and time.monotonic() - started >= JOB_RUN_SECONDS:
            self._patch_status(pod, _finished_status(pod))
            self._running_since.pop(uid, None)
            return
        role = self._spilo_role(pod)
        if role == "master":
            self._leaders[uid] = _spilo_key(pod)
        if role and (pod.metadata.labels or {}).get("spilo-role") != role:
            self.api.core.patch_namespaced_pod(
                pod.metadata.name, pod.metadata.namespace, {"metadata": {"labels": {"spilo-role": role}}})
        if _phase_and_ready(pod) != ("Running", ready):
            self._patch_status(pod, _running_status(pod, ready))

    def _spilo_role(self, pod: client.V1Pod) -> str | None:
        if not _spilo_key(pod):
            return None
        return "master" if _ordinal(pod) == 0 else "replica"

    def _ready(self, pod: client.V1Pod, secrets: SecretCache, logins: dict) -> bool:
        envs = {}
        for c in pod.spec.containers:
            envs.update(container_env(pod, c, secrets))  # raises MissingSecret like a kubelet
        key = _spilo_key(pod)
        if key:
            return self._spilo_ready(pod, key, envs, logins)
        target = (pod.metadata.annotations or {}).get(DB_ANNOTATION)
        if not target:
            return True
        cluster, database = target.split("/", 1)
        entry = registry.load(self.state.clusters).get(registry.cluster_key(pod.metadata.namespace, cluster))
        if entry is None or self.locks.restarting(registry.cluster_key(pod.metadata.namespace, cluster)):
            return False
        return _login(logins, entry["port"], envs.get("DB_USERNAME", ""), envs.get("DB_PASSWORD", ""), database)

    def _spilo_ready(self, pod: client.V1Pod, key: str, envs: dict, logins: dict) -> bool:
        entry = registry.load(self.state.clusters).get(key)
        if entry is None or self.locks.restarting(key):
            return False
        if not PgServer(Path(entry["datadir"]), entry["port"]).running():
            return False
        if _ordinal(pod) == 0:
            return True
        # A replica streams from the leader as `standby`, with the password from its env.
        return _login(logins, entry["port"], "standby", envs.get("PGPASSWORD_STANDBY", ""), "postgres")

    def _patch_status(self, pod: client.V1Pod, status: dict) -> None:
        self.api.core.patch_namespaced_pod_status(pod.metadata.name, pod.metadata.namespace, {"status": status})


def _login(cache: dict, port: int, user: str, password: str, db: str) -> bool:
    key = (port, user, password, db)
    if key not in cache:
        cache[key] = bool(user) and can_login(port, user, password, db)
    return cache[key]


def _spilo_key(pod: client.V1Pod) -> str | None:
    labels = pod.metadata.labels or {}
    if labels.get("application") == "spilo" and labels.get("cluster-name"):
        return registry.cluster_key(pod.metadata.namespace, labels["cluster-name"])
    return None


def _ordinal(pod: client.V1Pod) -> int:
    tail = pod.metadata.name.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else -1


def _is_job_pod(pod: client.V1Pod) -> bool:
    return any(o.kind == "Job" for o in pod.metadata.owner_references or [])


def _daemonset_node(pod: client.V1Pod) -> str | None:
    try:
        terms = pod.spec.affinity.node_affinity.required_during_scheduling_ignored_during_execution.node_selector_terms
        return terms[0].match_fields[0].values[0]
    except (AttributeError, IndexError, TypeError):
        return None


def _phase_and_ready(pod: client.V1Pod) -> tuple[str, bool]:
    ready = any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])
    return pod.status.phase, ready


def _conditions(ready: bool) -> list[dict]:
    now, flag = _now(), "True" if ready else "False"
    return [
        {"type": "Initialized", "status": "True", "lastTransitionTime": now},
        {"type": "Ready", "status": flag, "lastTransitionTime": now},
        {"type": "ContainersReady", "status": flag, "lastTransitionTime": now},
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
    ]


def _base(pod: client.V1Pod) -> dict:
    start = pod.status.start_time.strftime("%Y-%m-%dT%H:%M:%SZ") if pod.status.start_time else _now()
    return {"hostIP": "127.0.0.1", "podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}],
            "startTime": start, "qosClass": "BestEffort"}


def _container(c: client.V1Container, ready: bool, state: dict) -> dict:
    return {"name": c.name, "image": c.image, "imageID": f"sandbox://{c.image}",
            "containerID": f"sandbox://{c.name}", "ready": ready, "started": "running" in state,
            "restartCount": 0, "state": state}


def _running_status(pod: client.V1Pod, ready: bool) -> dict:
    state = {"running": {"startedAt": _base(pod)["startTime"]}}
    return {**_base(pod), "phase": "Running", "conditions": _conditions(ready),
            "containerStatuses": [_container(c, ready, state) for c in pod.spec.containers]}


def _waiting_status(pod: client.V1Pod, message: str) -> dict:
    state = {"waiting": {"reason": "CreateContainerConfigError", "message": message}}
    return {**_base(pod), "phase": "Pending", "conditions": _conditions(False),
            "containerStatuses": [_container(c, False, state) for c in pod.spec.containers]}


def _finished_status(pod: client.V1Pod) -> dict:
    now = _now()
    state = {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": _base(pod)["startTime"],
                            "finishedAt": now}}
    return {**_base(pod), "phase": "Succeeded", "conditions": _conditions(False),
            "containerStatuses": [_container(c, False, state) for c in pod.spec.containers]}
