"""Where the sandbox keeps its state. One folder, so `down --wipe` can remove it whole."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def default_state_dir() -> Path:
    if env := os.environ.get("PGRESTORE_SANDBOX_DIR"):
        return Path(env)
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root, so its data must be reachable by the
        # `postgres` user; /root is not traversable for it.
        return Path("/var/lib/pgrestore/sandbox")
    return Path.home() / ".local/state/pgrestore/sandbox"


def control_plane_bin_dir() -> Path:
    return Path(
        os.environ.get("PGRESTORE_K8S_CACHE", Path.home() / ".cache/pgrestore/k8s-v1.20.2")
    )


@dataclass(frozen=True)
class StateDir:
    root: Path

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def pids(self) -> Path:
        return self.root / "pids"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd"

    @property
    def pg(self) -> Path:
        return self.root / "pg"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def config(self) -> Path:
        return self.root / "sandbox.json"

    @property
    def clusters(self) -> Path:
        return self.root / "clusters.json"

    @property
    def exec_protocol(self) -> Path:
        return self.root / "exec-protocol"

    @property
    def settings(self) -> Path:
        return self.root / "settings.json"

    @property
    def commands(self) -> Path:
        """Requests from the CLI to the running daemon (e.g. a failover)."""
        return self.root / "commands"

    @property
    def pod_logs(self) -> Path:
        """Container logs of the pods the node agent runs (backup jobs), for `kubectl logs`."""
        return self.root / "podlogs"

    def pod_log(self, namespace: str, pod: str, container: str) -> Path:
        self.pod_logs.mkdir(exist_ok=True)
        return self.pod_logs / f"{namespace}_{pod}_{container}.log"

    def ensure(self) -> None:
        for d in (self.root, self.logs, self.pids, self.pki, self.pg, self.commands, self.pod_logs):
            d.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        os.chmod(self.pg, 0o755)
