"""`pgrestore apply SET` and `rollback SET` for a plan set: each service's plan in the set's order,
each whole, with its own lock and journal (`<set>.<service>.journal.json`).

A failure stops the set at that service, whose own rollback has run (exit 5 or 6 as for one
plan); the services before it stay restored and those after it are not started. `--resume`
skips the services whose apply is done and resumes or starts the rest.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

import typer

from pgrestore.contract.model import Plan, PlanSet
from pgrestore.errors import AwaitingOperator, PgRestoreError, UsageError
from pgrestore.executors import engine
from pgrestore.executors.events import Events


def apply_set(set_path: Path, plan_set: PlanSet, *, opts: engine.Options, as_json: bool,
              approve: Callable[[Plan, bool], None], events: Events | None = None) -> str:
    events = events or Events(as_json)
    done: list[str] = []
    for i, plan in enumerate(plan_set.plans, 1):
        status = _status(set_path, plan, opts)
        if status == "done":
            done.append(plan.service)
            _say(as_json, f"== {i}/{len(plan_set.plans)} {plan.service}: restored by an earlier run of this set ==",
                 events)
            continue
        if status is not None and not opts.resume:
            raise UsageError(f"this plan set was started before ({plan.service}: {status}); continue it with "
                             f"`pgrestore apply {set_path} --resume`")
        this = replace(opts, resume=status is not None, confirmed=_confirmed_for(plan.service, opts.confirmed))
        _say(as_json, f"== {i}/{len(plan_set.plans)} {plan.service} ==", events)
        try:
            kube, s3, journal = engine.prepare_in_set(set_path, plan, this)
            engine.run(plan, kube=kube, s3=s3, journal=journal, opts=this, emit=events,
                       approve=partial(_approve_one, approve, this.resume))
        except AwaitingOperator as e:  # confirmed as <service>/<step>: step ids repeat across services
            raise AwaitingOperator(f"{plan.service}: {e}", f"{plan.service}/{e.step_id}") from None
        except PgRestoreError as e:
            raise _where(e, plan_set, plan, done) from None
        done.append(plan.service)
    return f"restored {', '.join(done)}"


def _confirmed_for(service: str, confirmed: tuple[str, ...]) -> tuple[str, ...]:
    """`--confirm hsm/17-manual` confirms HSM's step 17 only."""
    return tuple(c.split("/", 1)[1] for c in confirmed if c.startswith(f"{service}/"))


def _approve_one(approve: Callable[[Plan, bool], None], resume: bool, plan: Plan) -> None:
    approve(plan, resume)


def rollback_set(set_path: Path, plan_set: PlanSet, *, opts: engine.Options, as_json: bool,
                 events: Events | None = None) -> str:
    """Roll back the one service whose apply stopped part-way; finished services stay restored."""
    for plan in plan_set.plans:
        status = _status(set_path, plan, opts)
        if status not in (None, "done"):
            outcome = engine.rollback_on_demand(set_path, opts, emit=events or Events(as_json), plan=plan,
                                                journal_path=engine.set_journal_path(set_path, plan.service))
            return f"{plan.service}: {outcome.end_state()}"
    raise UsageError(f"no service of plan set {set_path} stopped part-way; there is nothing to roll back "
                     f"(services already restored stay restored: re-plan one to restore it again)")


def _status(set_path: Path, plan: Plan, opts: engine.Options) -> str | None:
    return engine.journal_status(set_path, plan, opts.connection.kube())


def _where(e: PgRestoreError, plan_set: PlanSet, plan: Plan, done: list[str]) -> PgRestoreError:
    """The same error (and exit code), saying where in the set it stopped."""
    later = plan_set.order[plan_set.order.index(plan.service) + 1:]
    where = f"{plan.service} ({plan_set.order.index(plan.service) + 1}/{len(plan_set.order)}): {e}"
    if done:
        where += f"; restored before it, and staying so: {', '.join(done)}"
    if later:
        where += f"; not started: {', '.join(later)}"
    out = copy.copy(e)
    out.args = (where,)
    return out


def _say(as_json: bool, line: str, events: Events) -> None:
    events.note(line)
    if not as_json:
        typer.secho(line, err=True, bold=True)
    sys.stderr.flush()
