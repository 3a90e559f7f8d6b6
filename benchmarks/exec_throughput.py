"""Exec throughput: a large pg_dumpall streamed through the sandbox vs. into psql directly.

Usage: python benchmarks/exec_throughput.py [--mb 1024] [--state-dir DIR]
Needs a running sandbox (pgrestore sandbox up). Grows keycloak's database by --mb,
dumps it, then restores the same dump (a) with psql straight into a fresh server and
(b) through Python client -> kube-apiserver -> node agent exec -> psql in a Spilo pod of
a fresh `postgresql` cluster. Prints sizes, seconds, MB/s and the ratio.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

from kubernetes.stream import stream

from pgrestore_sandbox import registry
from pgrestore_sandbox.drills import grow
from pgrestore_sandbox.kube import CRD_GROUP, CRD_PLURAL, CRD_VERSION, Api
from pgrestore_sandbox.paths import StateDir, default_state_dir
from pgrestore_sandbox.pgserver import discard, pg_bin, scratch_server
from pgrestore_sandbox.seed import wait_cluster_running

CHUNK = 1024 * 1024
NS, BENCH = "services", "bench-postgres"


def dump(state: StateDir, out: Path) -> float:
    server = registry.server_for(state.clusters, NS, "keycloak-postgres")
    start = time.monotonic()
    with open(out, "wb") as f:
        subprocess.run([pg_bin("pg_dumpall"), "-c"], stdout=f, check=True, env={**os.environ, **server.env()})
    return time.monotonic() - start


def direct(dump_file: Path) -> float:
    server = scratch_server()
    try:
        start = time.monotonic()
        subprocess.run([pg_bin("psql"), "-X", "-q", "-o", "/dev/null", "-d", "postgres", "-f", str(dump_file)],
                       check=True, env={**os.environ, **server.env()}, stderr=subprocess.DEVNULL)
        return time.monotonic() - start
    finally:
        discard(server)


def through_sandbox(api: Api, dump_file: Path) -> float:
    body = {"apiVersion": "acid.zalan.do/v1", "kind": "postgresql", "metadata": {"name": BENCH, "namespace": NS},
            "spec": {"teamId": "bench", "numberOfInstances": 1, "postgresql": {"version": "14"},
                     "volume": {"size": "1Gi"}, "users": {}, "databases": {}}}
    api.custom.create_namespaced_custom_object(CRD_GROUP, CRD_VERSION, NS, CRD_PLURAL, body)
    try:
        wait_cluster_running(api, NS, BENCH, timeout=120)
        start = time.monotonic()
        ws = stream(api.core.connect_get_namespaced_pod_exec, f"{BENCH}-0", NS, container="postgres",
                    command=["psql", "-U", "postgres", "-q", "-o", "/dev/null"], stdin=True, stdout=True,
                    stderr=True, tty=False, _preload_content=False)
        with open(dump_file, "rb") as f:
            while chunk := f.read(CHUNK):
                ws.write_stdin(chunk)
                ws.update(timeout=0)
                ws.read_stderr(timeout=0) if ws.peek_stderr() else None
        ws.close_channel(0)
        while ws.is_open():
            ws.update(timeout=1)
            ws.read_stderr(timeout=0) if ws.peek_stderr() else None
        assert ws.returncode == 0, ws.returncode
        return time.monotonic() - start
    finally:
        api.custom.delete_namespaced_custom_object(CRD_GROUP, CRD_VERSION, NS, CRD_PLURAL, BENCH)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=1024)
    parser.add_argument("--state-dir", type=Path, default=default_state_dir())
    args = parser.parse_args()
    state = StateDir(args.state_dir)
    api = Api.from_kubeconfig(state.kubeconfig)
    if args.mb:
        start = time.monotonic()
        print(grow(state, "keycloak", args.mb), f"({time.monotonic() - start:.1f}s)")
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        dump_file = Path(tmp) / "keycloak.psql"
        seconds = dump(state, dump_file)
        mb = dump_file.stat().st_size / 1e6
        print(f"dump: {mb:.0f} MB in {seconds:.1f}s")
        d = direct(dump_file)
        print(f"psql directly:        {d:6.1f}s  {mb / d:6.1f} MB/s")
        s = through_sandbox(api, dump_file)
        print(f"through sandbox exec: {s:6.1f}s  {mb / s:6.1f} MB/s")
        print(f"ratio (sandbox/direct): {s / d:.2f}")


if __name__ == "__main__":
    main()
