"""`pgrestore plan SVC SVC…` and `plan --all`: one plan per service, in dependency order, written
as one plan-set document. Each plan is made exactly as `plan SVC` makes it; nothing changes."""

from __future__ import annotations

import secrets
import sys
from datetime import datetime, timezone
from pathlib import Path

from pgrestore import show
from pgrestore.adapters.connect import Connection, s3_from_options
from pgrestore.contract.document import render
from pgrestore.contract.model import PLAN_SET_FORMAT, PlanSet, to_dict
from pgrestore.contract.planset import KIND, seal_set
from pgrestore.core import permissions, plankey, services
from pgrestore.errors import UsageError
from pgrestore.planner import build_plan, snapshot
from pgrestore.planner.options import PlanOptions
from pgrestore.planner.order import restore_order

from .plan import check_output, saved_to, write_plan


def chosen_services(names: list[str], all_services: bool) -> list[str]:
    if all_services and names:
        raise UsageError("name services or pass --all, not both")
    if all_services:
        return list(services.load_all())
    if not names:
        raise UsageError("name the service to restore (`pgrestore services` lists them), or pass --all")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise UsageError(f"service {repeated[0]!r} is named twice; name each service once")
    return names


def run_set(names: list[str], *, options: PlanOptions, output: Path | None, detailed_exitcode: bool,
            connection: Connection) -> int:
    chosen, reasons = restore_order([services.load(n) for n in names])
    check_output(output)
    kube = connection.kube()
    for service in chosen:  # refuse before reading anything heavy
        snapshot.refuse_while_applying(kube, service)
        permissions.check(kube, service, connection.s3)
    now = datetime.now(timezone.utc)
    keys = {ns: plankey.ensure(kube, ns) for ns in sorted({s.namespace for s in chosen})}
    plans = []
    for i, service in enumerate(chosen):
        earlier = frozenset(s.name for s in chosen[:i])
        reasons += [f"{service.name}: {dep} is not checked for health now; it is restored first in this set"
                    for dep in service.requires_healthy if dep in earlier]
        snap = snapshot.take_snapshot(kube, service, snapshot.LocalInputs(options), choice=snapshot.BackupChoice(),
                                      connect_s3=lambda: s3_from_options(kube, connection.s3),
                                      restored_first=earlier)
        plans.append(build_plan(snap, service, now=now, salt=secrets.token_hex(16), options=options,
                                key=keys[service.namespace]))
    plan_set = seal_set(PlanSet(PLAN_SET_FORMAT, KIND, now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                [s.name for s in chosen], reasons, plans), lambda ns, cluster: keys[ns])
    write_plan(render_set(plan_set), output)
    sys.stderr.write(show.set_summary(plan_set) + saved_to(output))
    changed = any(c.actions != ["no-op"] for p in plans for c in p.changes)
    return 2 if detailed_exitcode and changed else 0


def render_set(plan_set: PlanSet) -> str:
    return render(to_dict(plan_set))
