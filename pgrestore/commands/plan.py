"""`pgrestore plan SERVICE`: read the cluster and the backup, write a signed plan. Changes nothing, but
creates the namespace's plan key (Secret pgrestore-plan-key, core/plankey.py) the first time."""

from __future__ import annotations

import secrets
import sys
from datetime import datetime, timezone
from pathlib import Path

from pgrestore import show
from pgrestore.adapters.connect import Connection, s3_from_options
from pgrestore.contract.document import render
from pgrestore.core import permissions, plankey, services
from pgrestore.errors import UsageError
from pgrestore.planner import build_plan, snapshot
from pgrestore.planner.options import PlanOptions


def run(service_name: str, *, choice: snapshot.BackupChoice, options: PlanOptions, output: Path | None,
        detailed_exitcode: bool, connection: Connection) -> int:
    service = services.load(service_name)
    check_output(output)
    local = snapshot.read_local(service, choice, options)  # bad files are refused before the cluster is asked
    kube = connection.kube()
    snapshot.refuse_while_applying(kube, service)
    permissions.check(kube, service, connection.s3)
    snap = snapshot.take_snapshot(kube, service, local, choice=choice,
                                  connect_s3=lambda: s3_from_options(kube, connection.s3))
    plan = build_plan(snap, service, now=datetime.now(timezone.utc), salt=secrets.token_hex(16),
                      options=local.options, key=plankey.ensure(kube, service.namespace))
    write_plan(render(plan), output)
    sys.stderr.write("\n".join(show.summary_lines(plan)) + "\n\n" + "\n".join(show.step_lines(plan)) + "\n\n"
                     + f"Plan: {show.counts(plan)}.\n" + saved_to(output))
    changed = any(c.actions != ["no-op"] for c in plan.changes)
    return 2 if detailed_exitcode and changed else 0


def check_output(output: Path | None) -> None:
    if output is None:
        return
    if output.is_dir():
        raise UsageError(f"-o {output} is a directory; name the plan file to write, e.g. {output}/plan.json")
    if not output.parent.is_dir():
        raise UsageError(f"-o {output}: folder {output.parent} does not exist; create it or choose another path")


def write_plan(text: str, output: Path | None) -> None:
    """A plan's (or plan set's) JSON to -o, or to stdout."""
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text)
    except OSError as e:
        raise UsageError(f"cannot write plan to {output} ({e.strerror}); choose another path") from None


def saved_to(output: Path | None) -> str:
    return f"Saved to {output}; review it with `pgrestore show {output}`.\n" if output else ""
