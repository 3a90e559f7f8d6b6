"""Memory of the whole sandbox: proportional set size (PSS) of every process `up` started.

Usage: python benchmarks/sandbox_footprint.py [--state-dir DIR]
Counts etcd, kube-apiserver, kube-controller-manager, moto, the sandbox daemon, and
each PostgreSQL server with all its backends. Prints MiB per part and the total.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pgrestore_sandbox import procs, registry
from pgrestore_sandbox.lifecycle import PROCESSES
from pgrestore_sandbox.paths import StateDir, default_state_dir
from pgrestore_sandbox.pgserver import PgServer


def pss_kib(pid: int) -> int:
    """Proportional set size: shared pages (PostgreSQL's shared buffers) split among their users."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids = (task / "children").read_text().split()
        out += [int(k) for k in kids]
    return out


def tree_kib(pid: int) -> int:
    return pss_kib(pid) + sum(tree_kib(c) for c in children(pid))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--state-dir", type=Path, default=default_state_dir())
    state = StateDir(parser.parse_args().state_dir)
    total = 0
    for name in reversed(PROCESSES):
        pid = procs.running_pid(state.pids, name)
        kib = tree_kib(pid) if pid else 0
        total += kib
        print(f"{name:<28} {kib / 1024:8.1f} MiB" + ("" if pid else "  (not running)"))
    pg_total = 0
    for _, entry in sorted(registry.load(state.clusters).items()):
        pid = PgServer(Path(entry["datadir"]), entry["port"]).pid()
        pg_total += tree_kib(pid) if pid else 0
    print(f"{'postgres servers (' + str(len(registry.load(state.clusters))) + ')':<28} {pg_total / 1024:8.1f} MiB")
    total += pg_total
    print(f"{'total':<28} {total / 1024:8.1f} MiB")


if __name__ == "__main__":
    main()
