"""etcd, kube-apiserver and kube-controller-manager on loopback."""

from __future__ import annotations

import shutil
import ssl
import urllib.request
from pathlib import Path

from . import procs
from .certs import kubeconfig_text
from .errors import SandboxError
from .paths import StateDir, control_plane_bin_dir


def _binary(name: str) -> str:
    found = control_plane_bin_dir() / name
    if found.exists():
        return str(found)
    raise SandboxError(
        f"{name} not found in {found.parent}; build it with sandbox/pgrestore_sandbox/scripts/build-control-plane.sh"
    )


def _etcd_binary() -> str:
    path = shutil.which("etcd") or "/usr/bin/etcd"
    if not Path(path).exists():
        raise SandboxError("etcd not found; install Debian's etcd-server (apt-get install etcd-server)")
    return path


def start_etcd(state: StateDir, port: int, peer_port: int) -> None:
    url = f"http://127.0.0.1:{port}"
    proc = procs.spawn(state.pids, state.logs, "etcd", [
        _etcd_binary(), "--data-dir", str(state.etcd_data), "--name", "sandbox",
        "--listen-client-urls", url, "--advertise-client-urls", url,
        "--listen-peer-urls", f"http://127.0.0.1:{peer_port}",
        "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
        "--initial-cluster", f"sandbox=http://127.0.0.1:{peer_port}",
        "--unsafe-no-fsync", "--log-level", "warn",
    ], env={"ETCD_UNSUPPORTED_ARCH": ""})
    procs.wait_for("etcd", lambda: _http_ok(f"{url}/health"), 30, state.logs / "etcd.log", proc)


def start_apiserver(state: StateDir, port: int, etcd_port: int) -> None:
    pki = state.pki
    proc = procs.spawn(state.pids, state.logs, "kube-apiserver", [
        _binary("kube-apiserver"),
        f"--etcd-servers=http://127.0.0.1:{etcd_port}",
        "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
        f"--secure-port={port}", "--insecure-port=0",
        f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
        f"--client-ca-file={pki / 'ca.crt'}",
        "--service-cluster-ip-range=10.96.0.0/16",
        f"--service-account-key-file={pki / 'sa.pub'}",
        f"--service-account-signing-key-file={pki / 'sa.key'}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--token-auth-file={pki / 'tokens.csv'}",
        "--authorization-mode=Node,RBAC",
        "--endpoint-reconciler-type=none",
        "--kubelet-preferred-address-types=InternalIP",
        "--allow-privileged=true",
        "--v=1",
    ])
    token = (pki / "token").read_text().strip()
    procs.wait_for(
        "kube-apiserver", lambda: _readyz(port, pki / "ca.crt", token), 90,
        state.logs / "kube-apiserver.log", proc,
    )
    state.kubeconfig.write_text(kubeconfig_text(pki, f"https://127.0.0.1:{port}"))
    state.kubeconfig.chmod(0o600)


def start_controller_manager(state: StateDir, port: int) -> None:
    pki = state.pki
    proc = procs.spawn(state.pids, state.logs, "kube-controller-manager", [
        _binary("kube-controller-manager"),
        f"--kubeconfig={state.kubeconfig}",
        f"--authentication-kubeconfig={state.kubeconfig}",
        f"--authorization-kubeconfig={state.kubeconfig}",
        f"--service-account-private-key-file={pki / 'sa.key'}",
        f"--root-ca-file={pki / 'ca.crt'}",
        "--use-service-account-credentials=false",
        "--leader-elect=false", "--bind-address=127.0.0.1",
        f"--secure-port={port}", "--port=0",
        # `*` keeps the default-on controllers, among them `cronjob` (Kubernetes 1.20: the v1
        # controller, every 10s) that fires CSM's backup CronJobs on schedule, and `job`.
        "--controllers=*,-nodeipam,-cloud-node-lifecycle,-route,-service",
        # Give the sandbox's short-lived pods a fast terminated-pod cleanup.
        "--terminated-pod-gc-threshold=200",
        "--v=1",
    ], env={"TZ": "UTC"})  # CronJob schedules are in the controller-manager's local time: UTC on CSM's NCNs
    procs.wait_for(
        "kube-controller-manager", lambda: _http_ok(f"https://127.0.0.1:{port}/healthz", insecure=True),
        60, state.logs / "kube-controller-manager.log", proc,
    )


def _http_ok(url: str, insecure: bool = False) -> bool:
    ctx = ssl._create_unverified_context() if insecure else None  # our own loopback port
    with urllib.request.urlopen(url, timeout=2, context=ctx) as resp:
        return resp.status == 200


def _readyz(port: int, ca: Path, token: str) -> bool:
    ctx = ssl.create_default_context(cafile=str(ca))
    req = urllib.request.Request(
        f"https://127.0.0.1:{port}/readyz", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(req, timeout=2, context=ctx) as resp:
        return resp.status == 200
