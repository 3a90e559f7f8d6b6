"""The sandbox's agents in one process: operator, node agent and the kubelet API.

Started by `pgrestore sandbox up`; stopped by `down` (SIGTERM).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import threading
from pathlib import Path

from .execserver import ExecServer, serve
from .kube import Api
from .nodeagent import NodeAgent
from .operator import ClusterLocks, Operator
from .paths import StateDir


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.daemon")
    parser.add_argument("--state", required=True, type=Path)
    parser.add_argument("--kubelet-port", required=True, type=int)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("kubernetes").setLevel(logging.WARNING)
    state = StateDir(args.state)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    locks = ClusterLocks()
    node_agent = NodeAgent(Api.from_kubeconfig(state.kubeconfig), state, locks, args.kubelet_port)
    node_agent.register_nodes()
    agents = [Operator(Api.from_kubeconfig(state.kubeconfig), state, locks), node_agent]
    for agent in agents:
        threading.Thread(target=agent.run, args=(stop,), daemon=True, name=type(agent).__name__).start()
    exec_server = ExecServer(Api.from_kubeconfig(state.kubeconfig), state)
    asyncio.run(serve(exec_server, args.kubelet_port, state.pki, stop))


if __name__ == "__main__":
    main()
