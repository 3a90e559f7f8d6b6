"""Host steps: commands a service's restore needs on the machines themselves, not in Kubernetes
(Spire: restart `spire-agent` on every management node, then fetch a JWT through it).

`runs_on: nodes` runs the command with `pdsh -S -w <nodes>` from the admin node, as the CSM runbook
does (csm-procedures.md §1, Spire row); `-S` makes pdsh exit with the largest remote exit
status, so one failing node fails the step. The nodes are the cluster's Kubernetes nodes (on
CSM the master and worker NCNs) plus the storage nodes, which Kubernetes does not know: the
service file names them, or `plan --storage-nodes`.

Where pdsh cannot run (not installed where plan runs, or `--no-host-steps`) or the service marks
a command `manual` (it needs an operator's login, like `cray`), the step is manual: apply stops
there, prints the exact command, and goes on with `apply --resume --confirm STEP` once the
operator has run it.
"""

from __future__ import annotations

import shlex

from pgrestore.contract.model import HostStep, ServiceDef, Target

from .options import PlanOptions
from .steps import StepList
from .world import ClusterState

PDSH = "pdsh"


def add_host_steps(steps: StepList, service: ServiceDef, state: ClusterState, options: PlanOptions) -> None:
    hosts = _hosts(service, state, options)
    for h in service.host_steps:
        argv = _argv(h, hosts)
        target = Target("Host", "", ",".join(hosts) if h.runs_on == "nodes" else "admin-node")
        why = _why_manual(h, options)
        if why:
            shown = shlex.join(argv) if h.runs_on == "nodes" else h.command  # on the admin node: as typed
            steps.add("manual", target, f"MANUAL ({why}): {h.description}; run: {shown}",
                      {"command": shown, "expect_output": h.expect_output, "why": why})
        else:
            where = f"on {len(hosts)} nodes ({', '.join(hosts)})" if h.runs_on == "nodes" else "on the admin node"
            steps.add("host-command", target, f"{h.description}: `{h.command}` {where}, every exit status 0"
                      + (f" and output matching /{h.expect_output}/" if h.expect_output else ""),
                      {"argv": argv, "hosts": hosts if h.runs_on == "nodes" else [], "expect_output": h.expect_output})


def _hosts(service: ServiceDef, state: ClusterState, options: PlanOptions) -> list[str]:
    storage = options.storage_nodes if options.storage_nodes is not None else tuple(service.storage_nodes)
    return sorted(set(state.nodes) | set(storage))


def _argv(h: HostStep, hosts: list[str]) -> list[str]:
    if h.runs_on == "nodes":
        return [PDSH, "-S", "-w", ",".join(hosts), h.command]
    return ["bash", "-c", h.command]


def _why_manual(h: HostStep, options: PlanOptions) -> str | None:
    if h.manual:
        return "needs an operator"
    if h.runs_on == "nodes" and options.manual_hosts:
        return options.manual_hosts
    return None
