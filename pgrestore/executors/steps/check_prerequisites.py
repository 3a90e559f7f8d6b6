"""check-prerequisites: what plan checked of the world, checked again under apply's lock before
anything changes (the plan may be hours old): the client still runs the images the plan was made
for, each service that must be healthy is (HSM needs SLS), and the live schema version still equals
the backup's. Changes nothing; a failure is a StepFailed before the first change, nothing to roll back."""

from __future__ import annotations

import time
from typing import cast

from pgrestore.contract.model import BackupRef, SchemaVersion, Step, Target, from_dict
from pgrestore.contract.params import CheckPrerequisitesParams
from pgrestore.core.prerequisites import client_images, dump_values, health_problem, live_values, operator_settling
from pgrestore.errors import PsqlError, StepFailed

from ..context import Context

# A postgresql whose status says an operator event failed or is under way (SyncFailed, UpdateFailed,
# Updating, ...) is waited for, up to one CSM resync period (resync_period: 5m, cray-postgres-operator
# values.yaml) and a minute: its next Sync writes Running if nothing is wrong (postgres-operator v1.8.2
# pkg/controller/postgresql.go, processEvent). Such a status is often ours: a plan set restores SLS right
# before HSM, and a Sync that raced SLS's in-place restore (its CREATE DATABASE after ours) is SyncFailed
# until the next one. Anything else wrong (no leader, the client down) is refused at once.
TRANSIENT_STATUS_WAIT_SECONDS = 360.0
POLL_SECONDS = 5.0


def run(step: Step, ctx: Context) -> dict:
    p = cast(CheckPrerequisitesParams, step.params)
    check_client(ctx, p["client"])
    for other in p.get("healthy") or []:
        if (problem := _health_once_settled(ctx, other)) is not None:
            raise StepFailed(f"{other['service'].upper()} must be healthy before this restore and is not now: "
                             f"{problem}; fix {other['service']} first, then apply again (nothing was changed)")
    observed: dict = {"images": p["client"]["images"], "healthy": [o["service"] for o in p.get("healthy") or []]}
    if sv := p.get("schema_version"):
        observed["schema_version"] = check_schema(ctx, sv)
    return observed


def _health_once_settled(ctx: Context, other: dict) -> str | None:
    """health_problem, asked again while the operator's status may still clear, within the step's deadline."""
    start = time.monotonic()
    until = min(start + TRANSIENT_STATUS_WAIT_SECONDS, ctx.deadline - POLL_SECONDS)
    while (problem := health_problem(ctx.kube, other)) is not None and operator_settling(ctx.kube, other) \
            and time.monotonic() < until:
        time.sleep(POLL_SECONDS)
    waited = time.monotonic() - start
    return f"{problem} (still, after {waited:.0f}s waiting for the operator)" if problem and waited >= 1 else problem


def check_client(ctx: Context, client: dict) -> None:
    target = from_dict(Target, client["target"])
    obj = ctx.kube.read(target)
    what = f"{target.kind.lower()} {target.namespace}/{target.name}"
    if obj is None:
        raise StepFailed(f"{what} is gone since the plan was made; re-plan (nothing was changed)")
    now = client_images(obj)
    if now != client["images"]:
        raise StepFailed(f"{what} runs {', '.join(now) or 'no image'} now, the plan was made for "
                         f"{', '.join(client['images'])}: the application changed; re-plan (nothing was changed)")


def check_schema(ctx: Context, sv: dict) -> list[str]:
    want = SchemaVersion(database=sv["database"], table=sv["table"], column=sv["column"])
    what = f"{want.table}.{want.column} in database {want.database}"
    backup = from_dict(BackupRef, sv["backup"])
    in_dump = dump_values(backup, ctx.s3, want)
    if in_dump is None:
        raise StepFailed(f"backup {backup.key} has no COPY {want.table} block in database {want.database} "
                          f"(it had when planned); re-plan")
    try:
        live = live_values(ctx.kube, sv["namespace"], sv["cluster"], want)
    except PsqlError as e:
        raise StepFailed(f"cannot read the live schema version ({what}): {e}; re-plan (nothing was changed)") \
            from None
    if sorted(in_dump) != sorted(live):
        raise StepFailed(f"live schema is {', '.join(sorted(live)) or '(none)'} now, the backup's is "
                         f"{', '.join(sorted(in_dump)) or '(none)'} ({what}): the application was up- or "
                         f"downgraded since the plan was made; re-plan (nothing was changed)")
    return sorted(live)
