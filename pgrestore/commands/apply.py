"""`pgrestore apply`, `rollback` and `force-unlock`."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import typer

from core import services
from core.adapters.kube import Kube
from core.errors import AwaitingOperator, Declined, UsageError
from core.model import Plan, PlanSet
from core.planset import load_any
from executors import engine
from executors.events import Events
from executors.lock import force_unlock
from pgrestore import show

from .apply_set import apply_set, rollback_set


def _approve(plan: Plan, auto_approve: bool, resume: bool) -> None:
    if auto_approve:
        return
    if not sys.stdin.isatty():
        raise UsageError("apply needs a terminal to ask for approval; pass --auto-approve to run without one")
    typer.echo(show.as_text(plan), err=True)
    verb = "resume" if resume else "apply"
    answer = typer.prompt(f"Type 'yes' to {verb} this plan ({plan.checksum[:19]}…)", default="", err=True)
    if answer.strip() != "yes":
        raise Declined("not approved; nothing changed")


def _terminate_as_interrupt() -> None:
    """SIGTERM (kill, a closing SSH session's supervisor) rolls back like Ctrl-C does; and Ctrl-C
    itself always does, also when apply was started from a shell that ignores SIGINT for
    background jobs (Python then keeps SIGINT ignored)."""
    def handler(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def apply(plan_path: Path, auto_approve: bool, resume: bool, as_json: bool, kubeconfig: str | None,
          s3_opts: dict, context: str | None = None, confirmed: tuple[str, ...] = ()) -> None:
    _terminate_as_interrupt()
    opts = engine.Options(auto_approve=auto_approve, resume=resume, kubeconfig=kubeconfig, s3=s3_opts,
                          context=context, confirmed=confirmed)
    document = load_any(plan_path, engine.plan_keys(opts))
    if isinstance(document, PlanSet):
        _needs_terminal(auto_approve)
        try:
            result = apply_set(plan_path, document, opts, as_json, lambda p, again: _approve(p, auto_approve, again))
        except AwaitingOperator as e:
            raise _confirm_hint(e, plan_path) from None
        if not as_json:
            typer.secho(f"Apply complete: {result}.", err=True, fg=typer.colors.GREEN)
        return
    plan, kube, s3, journal = engine.prepare(plan_path, opts)
    _needs_terminal(auto_approve)
    events = Events(as_json)
    try:
        result = engine.run(plan, kube, s3, journal, opts, events,
                            approve=lambda p: _approve(p, auto_approve, resume))
    except AwaitingOperator as e:
        raise _confirm_hint(e, plan_path) from None
    events({"event": "apply_finished", "status": "done", "detail": result})
    if not as_json:
        typer.secho(f"Apply complete: {result}.", err=True, fg=typer.colors.GREEN)


def _needs_terminal(auto_approve: bool) -> None:
    if not auto_approve and not sys.stdin.isatty():
        raise UsageError("apply needs a terminal to ask for approval; pass --auto-approve to run without one")


def _confirm_hint(e: AwaitingOperator, plan_path: Path) -> AwaitingOperator:
    return AwaitingOperator(f"{e}; then `pgrestore apply {plan_path} --resume --confirm {e.step_id}`", e.step_id)


def rollback(plan_path: Path, kubeconfig: str | None, as_json: bool, context: str | None = None) -> None:
    opts = engine.Options(kubeconfig=kubeconfig, context=context)
    document = load_any(plan_path, engine.plan_keys(opts))
    if isinstance(document, PlanSet):
        typer.echo(f"Rollback complete: {rollback_set(plan_path, document, opts, as_json)}.", err=True)
        return
    events = Events(as_json)
    result = engine.rollback_on_demand(plan_path, opts, events)
    typer.echo(f"Rollback complete: {result}.", err=True)


def unlock(service_name: str, lock_id: str, kubeconfig: str | None, context: str | None = None) -> None:
    service = services.load(service_name)
    typer.echo(force_unlock(Kube(kubeconfig, context), service.namespace, service_name, lock_id))
