"""The kubelet stand-in: registers the CSM worker nodes and runs their pods' lifecycle.

It binds pending pods, reports them Running with honest readiness, completes Job pods,
runs the backup CronJobs' pods (backupjob.py: they succeed or fail as the real programs
would), stops deleted pods (after the timing profile's shutdown time), and tells the
Patroni stand-in when a leader's pod stops. Readiness is the point: a client pod is Ready
only while the credentials its template takes from a Secret open its database, as a real
client's probes would show; a Spilo replica only once its clone is done and `standby`
can log in.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from kubernetes import client

from . import backupjob, podprocess, podstatus, registry, settings
from .coordination import ClusterLocks, VolumeReleases
from .kube import Api, is_not_found, meta, name_of, namespace_of, spec_of, status_of, uid_of
from .login import can_login
from .loop import reconcile_forever
from .paths import StateDir
from .patroni import Patroni, set_role_label
from .pgserver import PgServer
from .podenv import MissingSecret, SecretCache, container_env
from .timing import Timing, profile

log = logging.getLogger("sandbox.nodeagent")

NODES = ("ncn-w001", "ncn-w002", "ncn-w003")
# CSM's masters are Kubernetes nodes too, tainted so ordinary pods stay off them (kubeadm's
# node-role.kubernetes.io/master:NoSchedule on Kubernetes 1.20). Nothing is scheduled there here;
# they are what host steps (pdsh over the management nodes) must reach.
MASTERS = ("ncn-m001", "ncn-m002", "ncn-m003")
DB_ANNOTATION = "sandbox.pgrestore.dev/database"  # "<cluster>/<database>"
JOB_RUN_SECONDS = 0.5


@dataclass
class PassView:
    """What one pass of the node agent knows: read once, used for every pod."""
    timing: Timing
    secrets: SecretCache
    entries: dict[str, dict]
    members: dict[str, list[client.V1Pod]]  # Spilo pods per cluster key
    logins: dict = field(default_factory=dict)


class NodeAgent:
    def __init__(self, api: Api, state: StateDir, locks: ClusterLocks, volumes: VolumeReleases,
                 patroni: Patroni, kubelet_port: int):
        self.api, self.state, self.locks, self.volumes, self.patroni = api, state, locks, volumes, patroni
        self.port = kubelet_port
        self._running_since: dict[str, float] = {}
        self._leaders: dict[str, tuple[str, str]] = {}  # uid of each leading pod -> (cluster key, pod name)
        self._stop_at: dict[str, float] = {}  # uid of each terminating pod -> when it is gone
        self._cloned_at: dict[str, float] = {}  # uid of each replica pod -> when its clone is done
        self.backups = backupjob.BackupRunner(state)
        api_port = int(str(api.core.api_client.configuration.host).rsplit(":", 1)[1])
        self.processes = podprocess.PodProcesses(state, api_port)

    def register_nodes(self) -> None:
        """Before the kubelet port opens, so `up` sees nodes that point at it."""
        for node in NODES:
            self._register(node)
        for node in MASTERS:
            self._register(node, master=True)

    def run(self, stop: threading.Event) -> None:
        threading.Thread(target=self._heartbeat, args=(stop,), daemon=True, name="heartbeat").start()
        reconcile_forever(stop, self.sync_all, self.api.core.list_pod_for_all_namespaces, log=log, name="pods")

    # -- nodes ------------------------------------------------------------
    def _register(self, name: str, master: bool = False) -> None:
        role = "node-role.kubernetes.io/master" if master else "node-role.kubernetes.io/worker"
        taints = [client.V1Taint(key="node-role.kubernetes.io/master", effect="NoSchedule")] if master else None
        node = client.V1Node(metadata=client.V1ObjectMeta(name=name, labels={
            "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", role: "",
        }), spec=client.V1NodeSpec(taints=taints))
        try:
            self.api.core.create_node(node)
        except client.ApiException as e:
            if e.status != 409:
                raise
        self.api.core.patch_node_status(name, {"status": self._node_status()})

    def _node_status(self) -> dict:
        now = podstatus.now()
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
            for node in NODES + MASTERS:
                try:
                    self.api.core.patch_node_status(node, {"status": {"conditions": [{
                        "type": "Ready", "status": "True", "reason": "KubeletReady",
                        "lastHeartbeatTime": podstatus.now()}]}})
                except Exception:  # noqa: BLE001
                    log.exception("heartbeat for %s failed", node)

    # -- pods -------------------------------------------------------------
    def sync_all(self) -> None:
        listed = self.api.core.list_pod_for_all_namespaces().items
        members: dict[str, list[client.V1Pod]] = {}
        for pod in listed:
            if key := _spilo_key(pod):
                members.setdefault(key, []).append(pod)
        view = PassView(timing=profile(settings.load(self.state).timing), secrets=SecretCache(self.api.core),
                        entries=registry.load(self.state.clusters), members=members)
        self._leaders_force_deleted({uid_of(p) for p in listed}, view)
        self.backups.forget_except({uid_of(p) for p in listed})
        self.processes.kill_except({uid_of(p) for p in listed})
        for pod in listed:
            try:
                self.sync_pod(pod, view)
            except client.ApiException as e:
                if not is_not_found(e) and e.status != 409:
                    log.warning("pod %s/%s: %s", meta(pod).namespace, meta(pod).name, e.reason)

    def sync_pod(self, pod: client.V1Pod, view: PassView) -> None:
        if meta(pod).deletion_timestamp:
            self._terminate(pod, view)
        elif not spec_of(pod).node_name:
            self._schedule(pod)
        elif spec_of(pod).node_name in NODES and status_of(pod).phase not in ("Succeeded", "Failed"):
            self._report(pod, view)

    def _schedule(self, pod: client.V1Pod) -> None:
        key = _spilo_key(pod)
        if key and self.volumes.remaining(key) > 0:
            # The old cluster's claim of the same name is still being deleted (timing.py).
            message = (f'0/{len(NODES)} nodes are available: persistentvolumeclaim '
                       f'"pgdata-{name_of(pod)}" is being deleted.')
            if podstatus.unschedulable_message(pod) != message:
                self._patch_status(pod, podstatus.unschedulable(message))
            return
        node = _daemonset_node(pod) or NODES[zlib.crc32(name_of(pod).encode()) % len(NODES)]
        body = client.V1Binding(
            metadata=client.V1ObjectMeta(name=name_of(pod)),
            target=client.V1ObjectReference(kind="Node", name=node, api_version="v1"),
        )
        # The generated client cannot parse the Status this call returns.
        self.api.core.create_namespaced_pod_binding(
            name_of(pod), namespace_of(pod), body, _preload_content=False)

    def _leaders_force_deleted(self, present: set[str], view: PassView) -> None:
        """A leader pod force-deleted (no grace) never shows a deletionTimestamp; Patroni still stops."""
        for uid, (key, name) in list(self._leaders.items()):
            if uid not in present:
                del self._leaders[uid]
                self.patroni.leader_stopped(key, name, view.members.get(key, []))

    def _terminate(self, pod: client.V1Pod, view: PassView) -> None:
        uid, key = uid_of(pod), _spilo_key(pod)
        if self.processes.handles(uid):
            if self.processes.terminate(pod):
                self._delete_now(pod)
            return
        if uid not in self._stop_at:
            shutdown = view.timing.spilo_shutdown_seconds if key else view.timing.client_shutdown_seconds
            # A delete with a shorter grace period (or --force) cuts the shutdown short.
            shutdown = min(shutdown, meta(pod).deletion_grace_period_seconds or 0)
            self._stop_at[uid] = time.monotonic() + shutdown
            if key:
                self._leaders.pop(uid, None)
                self.patroni.leader_stopped(key, name_of(pod), view.members.get(key, []))
                set_role_label(self.api, pod, None)  # callback_role.py on_stop
            if shutdown > 0 and podstatus.is_ready(pod):
                self._patch_status(pod, podstatus.running(pod, False))
        if time.monotonic() < self._stop_at[uid]:
            return
        for memo in (self._stop_at, self._running_since, self._cloned_at):
            memo.pop(uid, None)
        self._delete_now(pod)

    def _delete_now(self, pod: client.V1Pod) -> None:
        """Its containers have stopped: the pod object goes. With a body, the apiserver takes the grace
        period from it, not from the query."""
        self.api.core.delete_namespaced_pod(
            name_of(pod), namespace_of(pod),
            body=client.V1DeleteOptions(grace_period_seconds=0, preconditions=client.V1Preconditions(uid=uid_of(pod))))

    def _report(self, pod: client.V1Pod, view: PassView) -> None:
        uid = uid_of(pod)
        if container := backupjob.container_of(pod):
            self._run_backup(pod, container, view)
            return
        if container := podprocess.container_of(pod):
            self._run_process(pod, container, view)
            return
        try:
            ready = self._ready(pod, view)
        except MissingSecret as e:
            if status_of(pod).phase != "Running":
                # A kubelet resolves env at container start and cannot start without it.
                self._patch_status(pod, podstatus.waiting(pod, str(e)))
                return
            ready = False
        started = self._running_since.setdefault(uid, time.monotonic())
        if _is_job_pod(pod) and ready and time.monotonic() - started >= JOB_RUN_SECONDS:
            self._patch_status(pod, podstatus.finished(pod))
            self._running_since.pop(uid, None)
            return
        key = _spilo_key(pod)
        entry = view.entries.get(key) if key else None
        if key and entry and not entry.get("deleting"):
            if entry["leader"] == name_of(pod):
                self._leaders[uid] = (key, name_of(pod))
                set_role_label(self.api, pod, "master")
            else:
                self._leaders.pop(uid, None)
                if name_of(pod) in entry.get("volumes", []):
                    # callback_role.py runs when Patroni starts PostgreSQL: after the clone.
                    set_role_label(self.api, pod, "replica")
        if podstatus.phase_and_ready(pod) != ("Running", ready):
            self._patch_status(pod, podstatus.running(pod, ready))

    def _run_backup(self, pod: client.V1Pod, container: client.V1Container, view: PassView) -> None:
        """A backup Job's pod: its env resolved at start, then its program in a thread that
        writes Succeeded or Failed when it ends."""
        if self.backups.handles(uid_of(pod)) or (env := self._env_at_start(pod, container, view)) is None:
            return
        self._patch_status(pod, podstatus.running(pod, True))
        self.backups.start(pod, container, env)

    def _run_process(self, pod: client.V1Pod, container: client.V1Container, view: PassView) -> None:
        """pgrestore's own image (an in-cluster apply's Job): a real process (podprocess.py)."""
        if self.processes.handles(uid_of(pod)) or (env := self._env_at_start(pod, container, view)) is None:
            return
        self.processes.start(self.api, pod, container, env)

    def _env_at_start(self, pod: client.V1Pod, container: client.V1Container, view: PassView) -> dict | None:
        """The container's env as a kubelet resolves it to start it; None, and the pod waiting, while a
        Secret it takes a value from is missing."""
        try:
            return container_env(pod, container, view.secrets)
        except MissingSecret as e:
            waiting = [s.state.waiting.message for s in status_of(pod).container_statuses or []
                       if s.state and s.state.waiting]
            if waiting != [str(e)] * len(spec_of(pod).containers):
                self._patch_status(pod, podstatus.waiting(pod, str(e)))
            return None

    def _ready(self, pod: client.V1Pod, view: PassView) -> bool:
        envs = {}
        for c in spec_of(pod).containers:
            envs.update(container_env(pod, c, view.secrets))  # raises MissingSecret like a kubelet
        key = _spilo_key(pod)
        if key:
            return self._spilo_ready(pod, key, envs, view)
        target = (meta(pod).annotations or {}).get(DB_ANNOTATION)
        if not target:
            return True
        cluster, database = target.split("/", 1)
        ckey = registry.cluster_key(namespace_of(pod), cluster)
        entry = view.entries.get(ckey)
        if entry is None or self.locks.restarting(ckey):
            return False
        return _login(view.logins, entry["port"], envs.get("DB_USERNAME", ""), envs.get("DB_PASSWORD", ""), database)

    def _spilo_ready(self, pod: client.V1Pod, key: str, envs: dict, view: PassView) -> bool:
        """Patroni's /readiness: the leader while PostgreSQL runs; a replica once it streams."""
        entry = view.entries.get(key)
        if entry is None or self.locks.restarting(key):
            return False
        if entry["leader"] == name_of(pod):
            return self.patroni.ensure_running(key, name_of(pod))
        if not PgServer(Path(entry["datadir"]), entry["port"]).running():
            return False
        if not self._cloned(pod, key, entry, view.timing):
            return False
        # A replica streams from the leader as `standby`, with the password from its env.
        return _login(view.logins, entry["port"], "standby", envs.get("PGPASSWORD_STANDBY", ""), "postgres")

    def _cloned(self, pod: client.V1Pod, key: str, entry: dict, timing: Timing) -> bool:
        """A member without a volume yet copies the leader's data first (pg_basebackup)."""
        name, uid = name_of(pod), uid_of(pod)
        if name in entry.get("volumes", []):
            return True
        if uid not in self._cloned_at:
            seconds = timing.clone_seconds(_cluster_bytes(entry) if timing.clone_mib_per_second else 0)
            self._cloned_at[uid] = time.monotonic() + seconds
            if seconds:
                log.info("%s: %s clones for %.1fs", key, name, seconds)
        if time.monotonic() < self._cloned_at[uid]:
            return False
        registry.update_entry(self.state.clusters, key, volumes=sorted({*entry.get("volumes", []), name}))
        return True

    def _patch_status(self, pod: client.V1Pod, status: dict) -> None:
        self.api.core.patch_namespaced_pod_status(name_of(pod), namespace_of(pod), {"status": status})


def _login(cache: dict, port: int, user: str, password: str, db: str) -> bool:
    key = (port, user, password, db)
    if key not in cache:
        cache[key] = bool(user) and can_login(port, user, password, db)
    return cache[key]


def _cluster_bytes(entry: dict) -> int:
    try:
        out = PgServer(Path(entry["datadir"]), entry["port"]).psql("SELECT sum(pg_database_size(oid)) FROM pg_database")
        return int(out.strip() or 0)
    except Exception:  # noqa: BLE001 - a size is only a delay
        return 0


def _spilo_key(pod: client.V1Pod) -> str | None:
    labels = meta(pod).labels or {}
    if labels.get("application") == "spilo" and labels.get("cluster-name"):
        return registry.cluster_key(namespace_of(pod), labels["cluster-name"])
    return None


def _is_job_pod(pod: client.V1Pod) -> bool:
    return any(o.kind == "Job" for o in meta(pod).owner_references or [])


def _daemonset_node(pod: client.V1Pod) -> str | None:
    """The node the DaemonSet controller pins its pod to: the first term's first matchFields value."""
    affinity = pod.spec.affinity if pod.spec else None
    node_affinity = affinity.node_affinity if affinity else None
    required = node_affinity.required_during_scheduling_ignored_during_execution if node_affinity else None
    terms = required.node_selector_terms if required else None
    fields = terms[0].match_fields if terms else None
    values = fields[0].values if fields else None
    return values[0] if values else None
