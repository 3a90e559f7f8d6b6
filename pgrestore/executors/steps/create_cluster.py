"""create-cluster: re-create the postgresql resource from its recorded spec, with N instances."""

from __future__ import annotations

from typing import cast

from pgrestore.contract.model import Step
from pgrestore.contract.params import CreateClusterParams

from ..context import Context
from ..support.members import wait_created, wait_ready
from ..support.new_cluster import create, suspend_again


def run(step: Step, ctx: Context) -> dict:
    t = step.target
    live = create(ctx, step)
    wait_created(ctx, t.namespace, t.name, live["metadata"]["uid"])
    resuspended = suspend_again(ctx, step)
    p = cast(CreateClusterParams, step.params)
    leader = wait_ready(ctx, t.namespace, selector=p["pod_selector"], n=p["numberOfInstances"], cluster=t.name)
    return {"uid": live["metadata"]["uid"], "leader": leader, "suspended_again": resuspended}
