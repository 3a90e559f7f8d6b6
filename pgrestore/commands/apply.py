"""`pgrestore apply`, `rollback` and `force-unlock`."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import TypeVar

import typer

from pgrestore import show
from pgrestore.adapters.connect import Connection
from pgrestore.contract.model import Plan, PlanSet
from pgrestore.contract.planset import load_any
from pgrestore.core import services
from pgrestore.errors import (
    ApplyEnded,
    ApplyFailedRollbackIncomplete,
    ApplyFailedRolledBack,
    AwaitingOperator,
    Declined,
    PgRestoreError,
    RestoreKept,
    UsageError,
)
from pgrestore.executors import engine
from pgrestore.executors.events import Events, log_path_for, survive_terminal_loss
from pgrestore.executors.lock import force_unlock

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


def _terminate_as_preemption() -> None:
    """In an in-cluster apply's pod, SIGTERM is the kubelet stopping it (a node drained, the pod
    deleted): stop where it is, as a crash would but with the lease released, so that the Job's next
    pod (or `apply --in-cluster --resume`) resumes instead of rolling back a restore half-way."""
    def handler(signum, frame):
        raise SystemExit(128 + signal.SIGTERM)
    signal.signal(signal.SIGTERM, handler)


def _terminate_as_interrupt() -> None:
    """SIGTERM (kill, a supervisor) rolls back like Ctrl-C does; and Ctrl-C itself always does, also
    when apply was started from a shell that ignores SIGINT for background jobs (Python then keeps
    SIGINT ignored). Once a rollback runs, both are only recorded (engine: rollback_shield).

    SIGHUP (the SSH session or terminal went away) is ignored: the restore goes on, its progress in
    the log file beside the journal, and writes to the gone terminal are dropped."""
    def handler(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    survive_terminal_loss()


T = TypeVar("T")
ENDED = {ApplyFailedRolledBack: "rolled-back", ApplyFailedRollbackIncomplete: "rollback-incomplete",
         RestoreKept: "kept"}


@contextmanager
def _logged(events: Events) -> Iterator[None]:
    """How the command ended goes to the log file too (the terminal gets it as the CLI's last line)."""
    try:
        yield
    except AwaitingOperator as e:
        events.note(f"stopped at a manual step (exit {e.exit_code}): {e}")
        raise
    except ApplyEnded as e:  # how it ended, as data for --json readers (and `pgrestore status` later)
        outcome = asdict(e.outcome) if is_dataclass(e.outcome) else None  # type: ignore[arg-type]
        events({"event": "apply_finished", "status": ENDED.get(type(e), "failed"), "exit_code": e.exit_code,
                "detail": str(e), "outcome": outcome})
        raise
    except PgRestoreError as e:
        events.note(f"failed (exit {e.exit_code}): {e}")
        raise
    except KeyboardInterrupt:
        events.note("interrupted (exit 130)")
        raise
    except SystemExit as e:  # SIGTERM in an in-cluster apply's pod: resumable where it stopped
        events.note(f"stopped by SIGTERM (exit {e.code}): resumable where it stopped")
        raise
    except Exception as e:
        events.note(f"internal error {type(e).__name__} (exit 70)")
        raise
    finally:
        events.close()


def _run_logged(events: Events, fn: Callable[[], T]) -> T:
    with _logged(events):
        return fn()


def apply(plan_path: Path, *, connection: Connection, auto_approve: bool = False, resume: bool = False,
          as_json: bool = False, confirmed: tuple[str, ...] = (), resume_if_started: bool = False) -> None:
    _terminate_as_interrupt()
    if resume_if_started:
        _terminate_as_preemption()
    opts = engine.Options(auto_approve=auto_approve, resume=resume, connection=connection, confirmed=confirmed,
                          resume_if_started=resume_if_started)
    document = load_any(plan_path, engine.plan_keys(opts))
    if isinstance(document, PlanSet):
        if resume_if_started:
            raise UsageError("--resume-if-started applies one plan; apply a plan set without it")
    elif resume_if_started and (ended := engine.ended_status(plan_path, document, opts)):
        return _already_ended(plan_path, ended, opts, as_json)
    if isinstance(document, PlanSet):
        _needs_terminal(auto_approve)
        set_events = Events(as_json, log_path_for(plan_path))
        with _logged(set_events):
            try:
                result = apply_set(plan_path, document, opts=opts, as_json=as_json,
                                   approve=lambda p, again: _approve(p, auto_approve, again), events=set_events)
            except AwaitingOperator as e:
                raise _confirm_hint(e, plan_path) from None
        if not as_json:
            typer.secho(f"Apply complete: {result}.", err=True, fg=typer.colors.GREEN)
        return
    plan, kube, s3, journal = engine.prepare(plan_path, opts)
    resume = opts.resume
    _needs_terminal(auto_approve)
    events = Events(as_json, log_path_for(plan_path))
    with _logged(events):
        try:
            restored = engine.run(plan, kube=kube, s3=s3, journal=journal, opts=opts, emit=events,
                                  approve=lambda p: _approve(p, auto_approve, resume))
        except AwaitingOperator as e:
            raise _confirm_hint(e, plan_path) from None
        events({"event": "apply_finished", "status": "done", "detail": restored.sentence(),
                "outcome": asdict(restored)})
    if not as_json:
        typer.secho(f"Apply complete: {restored.sentence()}.", err=True, fg=typer.colors.GREEN)


def apply_in_cluster(plan_path: Path, *, connection: Connection, image: str | None, auto_approve: bool = False,
                     resume: bool = False, as_json: bool = False, confirmed: tuple[str, ...] = ()) -> None:
    """The same checks and approval, then a Job applies the plan; this process only follows it."""
    from .in_cluster import launch
    _needs_terminal(auto_approve)
    sentence = launch(plan_path, connection=connection, image=image, resume=resume, confirmed=confirmed,
                      as_json=as_json, approve=lambda p, again: _approve(p, auto_approve, again))
    if not as_json:
        typer.secho(f"Apply complete: {sentence}.", err=True, fg=typer.colors.GREEN)


def _already_ended(plan_path: Path, status: str, opts: engine.Options, as_json: bool) -> None:
    """--resume-if-started where the pod before ended the apply, or was stopped during its rollback: say
    how it ended with the exit code it ended with (5, 6), or finish the rollback."""
    if status == "done":
        typer.echo("this plan was applied already (journal done); nothing more to do", err=True)
        return
    if status == "rolling-back":
        events = Events(as_json, log_path_for(plan_path))
        outcome = _run_logged(events, lambda: engine.rollback_on_demand(plan_path, opts, emit=events))
        raise ApplyFailedRolledBack(outcome.sentence(), outcome)
    error = ApplyFailedRolledBack if status == "rolled-back" else ApplyFailedRollbackIncomplete
    raise error(f"this plan's apply ended {status} before; `pgrestore status` shows how")


def _needs_terminal(auto_approve: bool) -> None:
    if not auto_approve and not sys.stdin.isatty():
        raise UsageError("apply needs a terminal to ask for approval; pass --auto-approve to run without one")


def _confirm_hint(e: AwaitingOperator, plan_path: Path) -> AwaitingOperator:
    return AwaitingOperator(f"{e}; then `pgrestore apply {plan_path} --resume --confirm {e.step_id}`", e.step_id)


def rollback(plan_path: Path, *, connection: Connection, as_json: bool = False) -> None:
    _terminate_as_interrupt()
    opts = engine.Options(connection=connection)
    document = load_any(plan_path, engine.plan_keys(opts))
    events = Events(as_json, log_path_for(plan_path))
    if isinstance(document, PlanSet):
        done = _run_logged(events, lambda: rollback_set(plan_path, document, opts=opts, as_json=as_json,
                                                                 events=events))
        typer.echo(f"Rollback complete: {done}.", err=True)
        return
    outcome = _run_logged(events, lambda: engine.rollback_on_demand(plan_path, opts, emit=events))
    typer.echo(f"Rollback complete: {outcome.end_state()}.", err=True)


def unlock(service_name: str, lock_id: str, *, connection: Connection) -> None:
    service = services.load(service_name)
    typer.echo(force_unlock(connection.kube(), service.namespace, service_name, lock_id))
