"""`sandbox up`, `down` and `status`: start, stop and describe the sandbox's parts."""

from __future__ import annotations

import json
import shutil
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import controlplane, hosts, podfs, procs, registry, s3, seed, settings
from .certs import ensure_pki
from .kube import Api
from .paths import StateDir
from .pgserver import PgServer

# Stopped in this order; started in reverse.
PROCESSES = ("sandbox-daemon", "s3", "kube-controller-manager", "kube-apiserver", "etcd")


@dataclass
class UpReport:
    parts: list[tuple[str, str, float]] = field(default_factory=list)  # (part, what happened, seconds)

    def timed(self, part: str, fn: Callable[[], str]) -> None:
        start = time.monotonic()
        outcome = fn()
        self.parts.append((part, outcome, time.monotonic() - start))


def _config(state: StateDir) -> dict:
    try:
        return json.loads(state.config.read_text())
    except FileNotFoundError:
        return {}


def _port(state: StateDir, cfg: dict, name: str, process: str) -> int:
    """Keep a part's port while it runs or is still free; otherwise a fresh free one."""
    if name in cfg and (procs.running_pid(state.pids, process) or not _port_open(cfg[name])):
        return cfg[name]
    cfg[name] = procs.free_port()
    return cfg[name]


def up(state: StateDir, exec_protocol: str = "auto", **setting_changes) -> UpReport:
    """Start what is not running; `setting_changes` (see settings.py; None keeps the stored
    value) apply at once, also to a daemon that is already running."""
    state.ensure()
    state.exec_protocol.write_text(exec_protocol + "\n")
    settings.update(state, **setting_changes)
    report, cfg = UpReport(), _config(state)

    def part(process: str, start: Callable[[], None]) -> Callable[[], str]:
        def run() -> str:
            if procs.running_pid(state.pids, process):
                return "already running"
            start()
            return f"started (pid {procs.running_pid(state.pids, process)})"
        return run

    report.timed("certificates", lambda: _ready(ensure_pki, state.pki))
    etcd_port = _port(state, cfg, "etcd", "etcd")
    peer_port = _port(state, cfg, "etcd_peer", "etcd")
    report.timed("etcd", part("etcd", lambda: controlplane.start_etcd(state, etcd_port, peer_port)))
    api_port = _port(state, cfg, "apiserver", "kube-apiserver")
    report.timed("kube-apiserver", part("kube-apiserver",
                                        lambda: controlplane.start_apiserver(state, api_port, etcd_port)))
    cm_port = _port(state, cfg, "controller_manager", "kube-controller-manager")
    report.timed("kube-controller-manager", part("kube-controller-manager",
                                                 lambda: controlplane.start_controller_manager(state, cm_port)))
    s3_port = _port(state, cfg, "s3", "s3")
    report.timed("s3 (moto)", part("s3", lambda: s3.start_moto(state, s3_port)))
    kubelet_port = _port(state, cfg, "kubelet", "sandbox-daemon")
    cfg["s3_endpoint"] = f"http://127.0.0.1:{s3_port}"
    state.config.write_text(json.dumps(cfg, indent=2))
    report.timed("operator + node agent", part("sandbox-daemon", lambda: _start_daemon(state, kubelet_port)))

    api = Api.from_kubeconfig(state.kubeconfig)
    report.timed("CRD + bucket", lambda: _ready(seed.ensure_crd, api) and _ready(s3.ensure_bucket, cfg["s3_endpoint"]))
    report.timed("CSM services", lambda: _seed(api, state, cfg["s3_endpoint"]))
    report.timed("pdsh stand-in", lambda: str(hosts.install_pdsh(state)))
    report.timed("Gitea's volume", lambda: _ready(podfs.seed, state))
    return report


def _ready(fn: Callable, *args) -> str:
    fn(*args)
    return "ready"


def _start_daemon(state: StateDir, kubelet_port: int) -> None:
    proc = procs.spawn(state.pids, state.logs, "sandbox-daemon", [
        sys.executable, "-m", "pgrestore_sandbox.daemon", "--state", str(state.root),
        "--kubelet-port", str(kubelet_port),
    ], env={"PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
    procs.wait_for("sandbox daemon", lambda: _port_open(kubelet_port), 30, state.logs / "sandbox-daemon.log", proc)


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _seed(api: Api, state: StateDir, endpoint: str) -> str:
    created = seed.seed_all(api, state, endpoint)
    seed.wait_workloads_ready(api, timeout=180)
    return f"seeded {', '.join(created)}" if created else "already seeded; all Ready"


def down(state: StateDir, wipe: bool = False) -> list[str]:
    stopped = [name for name in PROCESSES if procs.stop(state.pids, name)]
    for entry in registry.load(state.clusters).values():
        server = PgServer(Path(entry["datadir"]), entry["port"])
        if server.running():
            server.stop()
            stopped.append(f"postgres {entry['namespace']}/{entry['name']}")
    if wipe and state.root.exists():
        shutil.rmtree(state.root)
    return stopped


def status(state: StateDir) -> dict:
    procs_state = {name: procs.running_pid(state.pids, name) for name in reversed(PROCESSES)}
    clusters = {}
    for key, entry in sorted(registry.load(state.clusters).items()):
        server = PgServer(Path(entry["datadir"]), entry["port"])
        clusters[key] = {"port": entry["port"], "server_pid": server.pid(),
                         "leader": entry.get("leader"), "timeline": entry.get("timeline")}
    return {"state_dir": str(state.root), "processes": procs_state, "clusters": clusters,
            "settings": asdict(settings.load(state)),
            "kubeconfig": str(state.kubeconfig), **{k: v for k, v in _config(state).items() if k == "s3_endpoint"}}
