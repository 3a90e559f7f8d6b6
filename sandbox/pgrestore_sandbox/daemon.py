"""The sandbox's agents in one process: operator, node agent, Patroni, held sessions, the kubelet API.

Started by `pgrestore sandbox up`; stopped by `down` (SIGTERM).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import threading
from pathlib import Path

from . import commands
from .coordination import ClusterLocks, VolumeReleases
from .execserver import ExecServer, serve
from .kube import Api
from .nodeagent import NodeAgent
from .operator import Operator
from .paths import StateDir
from .patroni import Patroni
from .sessions import HeldSessions


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m pgrestore_sandbox.daemon")
    parser.add_argument("--state", required=True, type=Path)
    parser.add_argument("--kubelet-port", required=True, type=int)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("kubernetes").setLevel(logging.WARNING)
    state = StateDir(args.state)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    def api() -> Api:  # one client per thread that calls the API
        return Api.from_kubeconfig(state.kubeconfig)

    locks, volumes = ClusterLocks(), VolumeReleases()
    patroni = Patroni(api(), state, locks)
    node_agent = NodeAgent(api(), state, locks, volumes, Patroni(api(), state, locks), args.kubelet_port)
    node_agent.register_nodes()
    for name, target in (("Operator", Operator(api(), state, locks, volumes).run),
                         ("NodeAgent", node_agent.run),
                         ("HeldSessions", HeldSessions(state, locks).run)):
        threading.Thread(target=target, args=(stop,), daemon=True, name=name).start()
    threading.Thread(target=commands.serve, args=(state, {"failover": patroni.failover}, stop),
                     daemon=True, name="commands").start()
    exec_server = ExecServer(api(), state)
    asyncio.run(serve(exec_server, args.kubelet_port, state.pki, stop))


if __name__ == "__main__":
    main()
