"""Pods whose container is pgrestore's own image (an in-cluster apply's Job): run as a real `pgrestore`
process, as a kubelet runs the container.

What the container gets is what a kubelet gives it (kubernetes v1.20 pkg/kubelet: kubelet_pods.go
makeEnvironmentVariables and makeMounts): its env resolved (downward API, secretKeyRef), plus
KUBERNETES_SERVICE_HOST/PORT; its volumes at their mountPath — configMap and secret volumes as files (the
ServiceAccount admission plugin adds the token Secret's volume at /var/run/secrets/kubernetes.io/serviceaccount
on 1.20), an emptyDir as an empty folder. The process sees them at those paths through a mount namespace of its
own (`unshare --mount`, bind mounts), so it reaches the API server exactly as in a pod: as its ServiceAccount,
whose RBAC the API server enforces. Nothing else of this machine is passed: no kubeconfig, no HOME.

A deleted pod gets SIGTERM, then SIGKILL after its deletionGracePeriodSeconds; a pod removed at once
(grace 0, --force) is SIGKILLed (kubelet's killPod). The exit code becomes the container's terminated state.

Kinder than a real node, said so: the process runs as root, not as the runAsUser of its securityContext, and
with this machine's root filesystem (the image's own is not modelled); KUBERNETES_SERVICE_HOST is the API
server's loopback address, not the `kubernetes` Service's ClusterIP (the sandbox has no Service proxy).
"""

from __future__ import annotations

import base64
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client

from . import podstatus
from .kube import Api, is_not_found, meta, name_of, namespace_of, spec_of, uid_of
from .paths import StateDir

log = logging.getLogger("sandbox.podprocess")

IMAGE_NAME = "pgrestore"  # <registry>/<path>/pgrestore:<tag>: the image of pgrestore/core/apply_job.py
SIGKILL_WAIT = 10.0


def container_of(pod: client.V1Pod) -> client.V1Container | None:
    """The pgrestore container of a Job's pod, if this is one."""
    if not any(o.kind == "Job" for o in meta(pod).owner_references or []):
        return None
    for c in spec_of(pod).containers:
        if _image_name(c.image or "") == IMAGE_NAME:
            return c
    return None


def _image_name(image: str) -> str:
    """`registry.local:5000/csm/pgrestore:1.2@sha256:…` -> `pgrestore`."""
    return image.split("@", 1)[0].rsplit("/", 1)[-1].split(":", 1)[0]


@dataclass
class Running:
    proc: subprocess.Popen
    terminating_since: float | None = None


class PodProcesses:
    def __init__(self, state: StateDir, api_port: int):
        self.state, self.api_port = state, api_port
        self._running: dict[str, Running] = {}
        self._started: set[str] = set()
        self._guard = threading.Lock()

    def handles(self, uid: str) -> bool:
        return uid in self._started

    def start(self, api: Api, pod: client.V1Pod, container: client.V1Container, env: dict[str, str]) -> None:
        uid = uid_of(pod)
        with self._guard:
            if uid in self._started:
                return
            self._started.add(uid)
        try:
            mounts = self._volumes(api, pod, container)
        except (client.ApiException, ValueError) as e:
            reason = getattr(e, "reason", None) or str(e)
            api.core.patch_namespaced_pod_status(name_of(pod), namespace_of(pod),
                                                 {"status": podstatus.waiting(pod, f"volume: {reason}")})
            with self._guard:
                self._started.discard(uid)
            return
        argv = self._argv(container, mounts)
        out = open(self.state.pod_log(namespace_of(pod), name_of(pod), container.name), "ab")  # noqa: SIM115
        api.core.patch_namespaced_pod_status(name_of(pod), namespace_of(pod), {"status": podstatus.running(pod, True)})
        proc = subprocess.Popen(argv, env=self._env(pod, env), stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                start_new_session=True)
        out.close()
        with self._guard:
            self._running[uid] = Running(proc)
        log.info("pod %s/%s: started %s (pid %d)", namespace_of(pod), name_of(pod), " ".join(container.args or []),
                 proc.pid)
        threading.Thread(target=self._wait, args=(api, pod, proc), daemon=True,
                         name=f"pod {namespace_of(pod)}/{name_of(pod)}").start()

    def terminate(self, pod: client.V1Pod) -> bool:
        """The pod is being deleted: SIGTERM at once, SIGKILL once its grace period is over. True once the
        process has ended (the pod may go)."""
        uid = uid_of(pod)
        with self._guard:
            running = self._running.get(uid)
        if running is None or running.proc.poll() is not None:
            return True
        if running.terminating_since is None:
            running.terminating_since = time.monotonic()
            _signal(running.proc, signal.SIGTERM)
        grace = meta(pod).deletion_grace_period_seconds or 0
        if time.monotonic() - running.terminating_since >= grace:
            _signal(running.proc, signal.SIGKILL)
            _reap(running.proc)
            return True
        return False

    def kill_except(self, present: set[str]) -> None:
        """Pods removed without a grace period (a forced delete): their processes are killed."""
        with self._guard:
            gone = [(uid, r) for uid, r in self._running.items() if uid not in present]
            self._started &= present
        for uid, running in gone:
            if running.proc.poll() is None:
                log.info("pod %s is gone: killing pid %d", uid, running.proc.pid)
                _signal(running.proc, signal.SIGKILL)
                _reap(running.proc)
            with self._guard:
                self._running.pop(uid, None)
            shutil.rmtree(self.state.root / "podvolumes" / uid, ignore_errors=True)  # as a kubelet cleans up

    def _wait(self, api: Api, pod: client.V1Pod, proc: subprocess.Popen) -> None:
        code = proc.wait()
        with self._guard:
            running = self._running.get(uid_of(pod))
        if running is None:
            return  # its pod was removed at once: there is no object to write a status to
        # Also for a pod being deleted: a kubelet writes the container's end (Failed, 143 after SIGTERM)
        # before it removes the pod, and the Job controller may count it (pkg/controller/job getStatus).
        exit_code = code if code >= 0 else 128 - code  # a signal, as a container runtime reports it
        body = podstatus.finished(pod) if code == 0 else podstatus.failed(pod, exit_code, "Error")
        try:
            api.core.patch_namespaced_pod_status(name_of(pod), namespace_of(pod), {"status": body})
        except client.ApiException as e:
            if not is_not_found(e):
                log.warning("pod %s/%s: status not written: %s", namespace_of(pod), name_of(pod), e.reason)

    # -- what a kubelet gives the container ----------------------------------------------------
    def _env(self, pod: client.V1Pod, env: dict[str, str]) -> dict[str, str]:
        return {"PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin", "HOSTNAME": name_of(pod),
                "KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(self.api_port),
                "LANG": "C.UTF-8", "HOME": "/nonexistent", **env}

    def _argv(self, container: client.V1Container, mounts: list[tuple[Path, str, bool]]) -> list[str]:
        command = list(container.command or []) + list(container.args or [])
        if not command or command[0] != "pgrestore":
            raise ValueError(f"container {container.name}: command {command[:1]} is not pgrestore")
        command[0] = str(Path(sys.executable).parent / "pgrestore")
        script = []
        for source, target, read_only in _mount_order(mounts):
            script.append(f"mkdir -p {shlex.quote(target)} && mount --bind {shlex.quote(str(source))} "
                          f"{shlex.quote(target)}")
            if read_only:
                script.append(f"mount -o remount,bind,ro {shlex.quote(target)}")
        script.append('exec "$@"')
        return ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-ec", " && ".join(script),
                "sh", *command]

    def _volumes(self, api: Api, pod: client.V1Pod, container: client.V1Container) -> list[tuple[Path, str, bool]]:
        root = self.state.root / "podvolumes" / uid_of(pod)
        sources = {v.name: v for v in spec_of(pod).volumes or []}
        mounts = []
        for mount in container.volume_mounts or []:
            volume = sources.get(mount.name)
            if volume is None:
                raise ValueError(f"no volume {mount.name}")
            folder = root / mount.name
            folder.mkdir(parents=True, exist_ok=True)
            if volume.config_map is not None:
                cm = api.core.read_namespaced_config_map(str(volume.config_map.name), namespace_of(pod))
                _write_files(folder, {k: v.encode() for k, v in (cm.data or {}).items()}, 0o644)
            elif volume.secret is not None:
                secret = api.core.read_namespaced_secret(str(volume.secret.secret_name), namespace_of(pod))
                _write_files(folder, {k: base64.b64decode(v) for k, v in (secret.data or {}).items()}, 0o644)
            elif volume.empty_dir is None:
                raise ValueError(f"volume {mount.name}: only configMap, secret and emptyDir volumes are modelled")
            mounts.append((folder, mount.mount_path, bool(mount.read_only) or volume.empty_dir is None))
        return mounts


def _mount_order(mounts: list[tuple[Path, str, bool]]) -> list[tuple[Path, str, bool]]:
    """Parents before children; and a mount that would hide another's source (an emptyDir over the folder
    the sandbox keeps pod volumes in) after that one, so every source is still there to bind."""
    def hides_a_source(target: str) -> bool:
        return any(src.is_relative_to(target) for src, _, _ in mounts)
    return sorted(mounts, key=lambda m: (hides_a_source(m[1]), len(Path(m[1]).parts)))


def _write_files(folder: Path, files: dict[str, bytes], mode: int) -> None:
    for key, content in files.items():
        path = folder / key
        path.write_bytes(content)
        os.chmod(path, mode)


def _reap(proc: subprocess.Popen) -> None:
    try:
        proc.wait(SIGKILL_WAIT)
    except subprocess.TimeoutExpired:  # in uninterruptible sleep: its waiter thread reaps it later
        log.warning("pid %d did not end %.0f s after SIGKILL", proc.pid, SIGKILL_WAIT)


def _signal(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
