"""apply and rollback: check the plan, take the lock, run the steps with a checkpoint after each."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from pgrestore.adapters.connect import Connection, s3_from_options
from pgrestore.adapters.kube import Kube
from pgrestore.adapters.psql import Psql
from pgrestore.adapters.s3 import S3
from pgrestore.contract.document import drift, load
from pgrestore.contract.model import Plan, PriorObject, Step, Target, to_dict
from pgrestore.core.kinds import kind
from pgrestore.core.observe import observe
from pgrestore.core.plankey import ClusterKeys, refuse_another_cluster
from pgrestore.errors import (
    ApplyFailedRollbackIncomplete,
    ApplyFailedRolledBack,
    AwaitingOperator,
    Cancelled,
    Interrupted,
    PgRestoreError,
    PlanRejected,
    RestoreKept,
    S3NotFound,
    StepFailed,
    UsageError,
)

from .context import Context, rollback_shield
from .journal import Journal, path_for
from .lock import Lock
from .outcome import (
    Restored,
    RollbackIncomplete,
    RollbackStopped,
    RolledBack,
    committed,
    data_present,
    held,
    kept,
    rolled_back,
)
from .registry import STEP_KINDS


@dataclass
class Options:
    auto_approve: bool = False
    resume: bool = False
    connection: Connection = field(default_factory=Connection)
    confirmed: tuple[str, ...] = ()  # manual steps the operator has run (`apply --resume --confirm STEP`)
    resume_if_started: bool = False  # resume if this plan was started before, else start (an in-cluster Job's pod)


def check_cluster(plan: Plan, kube: Kube) -> None:
    refuse_another_cluster(to_dict(plan.cluster), kube.cluster_identity())


def _live_prior(plan: Plan, kube: Kube) -> dict[str, PriorObject | None]:
    """Re-read every recorded object by its address."""
    out: dict[str, PriorObject | None] = {}
    for o in plan.prior_state:
        target = Target(o.kind, o.namespace, o.name)
        obj = kube.read(target)
        out[o.address] = observe(target, obj, plan.digest_salt) if obj is not None else None
    return out


def _absent(o: PriorObject) -> bool:
    """Recorded as absent when planning (a postgresql resource that was gone)."""
    return o.uid == "" and o.fields.get("absent") is True


def check_fresh(plan: Plan, kube: Kube, s3: S3 | None) -> None:
    live = _live_prior(plan, kube)
    lines = drift([o for o in plan.prior_state if not _absent(o)], live)
    lines += [f"{o.address}: exists now (uid {now.uid}), it was absent when planned" for o in plan.prior_state
              if _absent(o) and (now := live[o.address]) is not None]
    b = plan.backup
    if b.source == "s3" and s3 is not None and b.bucket is not None:
        try:
            head = s3.head(b.bucket, b.key)
            if (head.size, head.etag) != (b.size, b.etag):
                lines.append(f"backup {b.key}: ETag {b.etag} -> {head.etag}, size {b.size} -> {head.size}")
        except S3NotFound:
            lines.append(f"backup {b.key}: gone")
    if lines:
        more = f" (+{len(lines) - 3} more)" if len(lines) > 3 else ""
        raise PlanRejected(f"plan is stale, the cluster changed since it was made: {'; '.join(lines[:3])}{more}; "
                           f"re-run `pgrestore plan`")


def _journal(plan_path: Path, plan: Plan, kube: Kube, resume: bool, journal_path: Path | None = None) -> Journal:
    """The journal to write: fresh, or the one to resume. `plan_path` is what the operator passes
    (a plan, or the plan set holding it); `journal_path` where this plan's journal lives."""
    journal_path = journal_path or path_for(plan_path)
    existing = Journal.existing(journal_path, kube, plan)
    status = existing.data.status if existing else None
    if status == "rolling-back":
        raise UsageError(f"a rollback of this plan was interrupted; finish it with `pgrestore rollback {plan_path}`")
    if status in ("rolled-back", "rollback-incomplete", "done"):
        assert existing is not None
        existing.save()  # bring the cluster's copy up to date if its last write was lost
        raise PlanRejected(f"this plan was already applied ({status}); the cluster no longer looks as planned: "
                           f"re-run `pgrestore plan`")
    if resume:
        if existing is None:
            raise UsageError(f"nothing to resume: no journal for this plan beside {plan_path} or in the cluster")
        return existing
    if existing is not None and any(r.status != "pending" for r in existing.data.steps.values()):
        raise UsageError(f"this plan was started before (journal status {status}); "
                         f"continue it with `pgrestore apply {plan_path} --resume`")
    return Journal.fresh(journal_path, kube, plan)


def needs_s3(plan: Plan) -> bool:
    """The backup, or any stream's source or destination (a pinned copy, the safety dump, …), is in S3."""
    locations = [s.params.get(k) for s in plan.steps + plan.rollback for k in kind(s.kind).location_params]
    return plan.backup.source == "s3" or any(isinstance(v, dict) and v.get("source") == "s3" for v in locations)


def connect(plan: Plan, opts: Options) -> tuple[Kube, S3 | None]:
    kube = Kube(opts.connection.kubeconfig, opts.connection.context)
    check_cluster(plan, kube)
    s3 = s3_from_options(kube, opts.connection.s3) if needs_s3(plan) else None
    return kube, s3


def plan_keys(opts: Options) -> ClusterKeys:
    """The plan keys of the cluster the kubeconfig points at, to verify a plan's signature with."""
    return ClusterKeys(lambda: Kube(opts.connection.kubeconfig, opts.connection.context))


ENDED = ("done", "rolled-back", "rollback-incomplete", "rolling-back")


def ended_status(plan_path: Path, plan: Plan, opts: Options) -> str | None:
    """This plan's journal status if its apply has ended, or its rollback was cut short: what a Job's next
    pod (--resume-if-started) finds when the one before stopped after the end (or during a rollback)."""
    kube = Kube(opts.connection.kubeconfig, opts.connection.context)
    existing = Journal.existing(path_for(plan_path), kube, plan)
    status = existing.data.status if existing else None
    return status if status in ENDED else None


def prepare(plan_path: Path, opts: Options) -> tuple[Plan, Kube, S3 | None, Journal]:
    """Checks that need no lock: the plan itself (its signature too), the cluster it is for, the journal."""
    plan = load(plan_path, plan_keys(opts))
    kube, s3 = connect(plan, opts)
    if opts.resume_if_started and not opts.resume:
        existing = Journal.existing(path_for(plan_path), kube, plan)
        opts.resume = existing is not None and any(r.status != "pending" for r in existing.data.steps.values())
    return plan, kube, s3, _journal(plan_path, plan, kube, opts.resume)


def prepare_in_set(set_path: Path, plan: Plan, opts: Options) -> tuple[Kube, S3 | None, Journal]:
    """prepare() for one plan of a plan set (already loaded and checked): its journal is
    `<set>.<service>.journal.json` beside the set, so each service resumes on its own."""
    kube, s3 = connect(plan, opts)
    return kube, s3, _journal(set_path, plan, kube, opts.resume, set_journal_path(set_path, plan.service))


def set_journal_path(set_path: Path, service: str) -> Path:
    return path_for(set_path.with_name(f"{set_path.name.removesuffix('.json')}.{service}.json"))


def journal_status(set_path: Path, plan: Plan, kube: Kube) -> str | None:
    """How far this plan of a set got: its journal's status, None if never started."""
    existing = Journal.existing(set_journal_path(set_path, plan.service), kube, plan)
    if existing is None or all(r.status == "pending" for r in existing.data.steps.values()):
        return None
    return existing.data.status


def _reset_interrupted(steps: list[Step], journal: Journal) -> None:
    """A step that was running when the process died restarts where its plan says: a resume
    never replays a half-streamed dump on top of itself."""
    ids = [s.id for s in steps]
    for s in steps:
        if journal.status_of(s.id) in ("running", "failed") and s.restart_from:
            for later in ids[ids.index(s.restart_from):ids.index(s.id) + 1]:
                journal.reset(later)
    journal.save()


def changed(plan: Plan, journal: Journal) -> bool:
    return any(journal.status_of(s.id) != "pending" for s in plan.steps if kind(s.kind).counts_as_started)


class LockLost(StepFailed):
    """We may no longer hold the lease (taken, deleted, or not renewed in time): stop at once and touch
    nothing more, forward or rollback, so we never act over another apply that holds it now."""


def _lock(kube: Kube, plan: Plan, emit: Callable[[dict], None]) -> Lock:
    return Lock(kube, plan.namespace, plan.service, plan.checksum,
                say=lambda text: emit({"event": "message", "text": text}))


def _fence(ctx: Context, step: Step) -> None:
    """Before every step that may change the cluster, forward and rollback."""
    if not ctx.still_locked():
        raise LockLost(f"lost lease pgrestore-{ctx.plan.service} before step {step.id} ({ctx.lock_lost()})")


def _rollback_stopped(e: LockLost, plan: Plan, plan_path: str) -> ApplyFailedRollbackIncomplete:
    outcome = RollbackStopped(str(e), plan.namespace, plan.service, plan_path)
    return ApplyFailedRollbackIncomplete(outcome.sentence(), outcome)


def run(plan: Plan, *, kube: Kube, s3: S3 | None, journal: Journal, opts: Options, emit: Callable[[dict], None],
        approve: Callable[[Plan], None] = lambda plan: None) -> Restored:
    lock = _lock(kube, plan, emit)
    lock.acquire(resume=opts.resume)
    try:
        # Under the lock, so nothing of ours changes the cluster between this check and the steps.
        # A resume before the first change is checked too: the cluster may have moved on since.
        fresh_needed = not opts.resume or not changed(plan, journal)
        if fresh_needed:
            check_fresh(plan, kube, s3)
        approve(plan)
        if fresh_needed:  # again: the cluster may have moved on while the operator read the plan
            check_fresh(plan, kube, s3)
    except BaseException:
        _release(lock)
        raise
    ctx = Context(plan=plan, kube=kube, psql=Psql(kube), s3=s3, journal=journal, emit=emit,
                  still_locked=lock.held, lock_lost=lambda: lock.lost or "", confirmed=frozenset(opts.confirmed),
                  cancelled=lock.cancel_requested)
    try:
        with lock.stop_when_lost(lambda why: LockLost(f"lost lease pgrestore-{plan.service} while running ({why})")):
            journal.data.ended_because = None  # a resume's: the last stop's reason is history
            journal.set_status("running")
            _reset_interrupted(plan.steps, journal)
            _run_steps(ctx, plan.steps)
            journal.set_status("done")
        return Restored(plan.namespace, plan.postgresql, plan.backup.key)
    except AwaitingOperator as e:
        journal.data.ended_because = str(e)  # what to run by hand, for `status` and a Job's follower
        journal.set_status("waiting")  # not a failure: nothing rolls back, `--resume --confirm` goes on
        raise
    except (Exception, KeyboardInterrupt) as e:  # a bug after a change must still roll back
        with rollback_shield(emit):  # from here on a further Ctrl-C or SIGTERM cannot cut the rollback short
            reason = "interrupted (Ctrl-C or SIGTERM)" if isinstance(e, KeyboardInterrupt) else (
                str(e) if isinstance(e, PgRestoreError) else f"internal error {type(e).__name__}: {e}")
            journal.data.ended_because = reason  # saved with the status below
            if not changed(plan, journal):
                journal.set_status("failed")
                if isinstance(e, KeyboardInterrupt):
                    raise Interrupted("interrupted before any change; nothing to roll back") from None
                raise
            if isinstance(e, LockLost):
                journal.set_status("failed")
                raise ApplyFailedRollbackIncomplete(f"{e}; nothing was rolled back: check who holds the lease, "
                                                    f"then resume or roll back this plan") from None
            if committed(plan, journal):
                journal.set_status("failed")
                failed = next((s.id for s in plan.steps if journal.status_of(s.id) == "failed"), "a step")
                outcome = kept(plan, journal, f"{failed} failed ({reason})")
                raise RestoreKept(outcome.sentence(), outcome) from None
            try:
                with lock.stop_when_lost(lambda why: LockLost(f"lost lease pgrestore-{plan.service} during the "
                                                              f"rollback ({why})")):
                    _roll_back(ctx, f"apply failed ({reason})")  # raises how the rollback ended
            except LockLost as lost:
                raise _rollback_stopped(lost, plan, "PLAN") from None
            raise
    finally:
        _release(lock)


def _release(lock: Lock) -> None:
    """A failed release must not hide how the apply ended; the lease expires by itself."""
    try:
        lock.release()
    except PgRestoreError:
        pass


def _wanted(ctx: Context, step: Step) -> bool:
    if step.when is None:
        return True
    return ctx.journal.observed(step.when.step).get(step.when.observed) == step.when.equals


def _run_step(ctx: Context, step: Step) -> None:
    if not _wanted(ctx, step):
        ctx.journal.mark(step.id, "skipped")
        ctx.emit({"event": "step_finished", "step": step.id, "status": "skipped",
                  "reason": f"not needed ({step.when.step if step.when else ''} observed otherwise)"})
        return
    ctx.emit({"event": "step_started", "step": step.id, "kind": step.kind, "description": step.description})
    ctx.journal.mark(step.id, "running")
    ctx.start_step(step)
    try:
        observed = STEP_KINDS[step.kind].run(step, ctx)
    except AwaitingOperator as e:
        ctx.journal.mark(step.id, "waiting")
        ctx.emit({"event": "step_finished", "step": step.id, "status": "waiting", "reason": str(e)})
        raise
    except (Exception, KeyboardInterrupt) as e:
        error = str(e) or type(e).__name__
        ctx.journal.mark(step.id, "failed", error=error, observed=getattr(e, "observed", None))
        ctx.emit({"event": "step_finished", "step": step.id, "status": "failed", "error": error})
        raise
    ctx.journal.mark(step.id, "done", observed=observed)
    ctx.emit({"event": "step_finished", "step": step.id, "status": "done"})


def _run_steps(ctx: Context, steps: list[Step]) -> None:
    kept_said = False
    for step in steps:
        _fence(ctx, step)
        if ctx.journal.status_of(step.id) not in ("done", "skipped") and (why := ctx.cancelled()):
            if not committed(ctx.plan, ctx.journal):
                raise Cancelled(f"{why}, before step {step.id}")
            if not kept_said:  # a rollback now would throw the restore and every write since away
                ctx.emit({"event": "message", "text": f"{why}: not done, the restore is kept (the client is back "
                                                      f"on it); the remaining steps run to the end"})
                kept_said = True
        if ctx.journal.status_of(step.id) in ("done", "skipped"):
            ctx.emit({"event": "step_finished", "step": step.id, "status": "skipped", "reason": "done before"})
            continue
        _run_step(ctx, step)


def _rollback_steps(ctx: Context) -> tuple[list[str], list[Step]]:
    """Run every rollback step not done yet, even if one fails; return what is left by hand, and
    the steps held because the data is not back."""
    failed: list[str] = []
    held: list[Step] = []
    _reset_interrupted(ctx.plan.rollback, ctx.journal)
    for step in ctx.plan.rollback:
        if ctx.journal.status_of(step.id) in ("done", "skipped"):
            continue
        _fence(ctx, step)  # not caught below: a lost lease stops the rollback, it does not skip a step
        if step.hold_unless_data and not data_present(ctx.plan, ctx.journal):
            ctx.journal.mark(step.id, "held")
            ctx.emit({"event": "step_finished", "step": step.id, "status": "held", "reason": "the data is not back"})
            held.append(step)
            continue
        try:
            _run_step(ctx, step)
        except LockLost:
            raise
        except (Exception, KeyboardInterrupt) as e:  # noqa: BLE001 - every rollback step gets its chance
            detail = str(e) if isinstance(e, PgRestoreError) else f"{type(e).__name__}: {e}"
            failed.append(f"{step.description}: {detail}")
    return failed, held


def _roll_back(ctx: Context, why: str) -> NoReturn:
    ctx.journal.set_status("rolling-back")  # a crash now must not leave a resumable journal
    failed, on_hold = _rollback_steps(ctx)
    if failed or on_hold:
        ctx.journal.set_status("rollback-incomplete")
        incomplete = RollbackIncomplete(why, held(ctx.plan, on_hold) if on_hold else None, failed)
        raise ApplyFailedRollbackIncomplete(incomplete.sentence(), incomplete)
    ctx.journal.set_status("rolled-back")
    outcome = rolled_back(ctx.plan, ctx.journal, why)
    raise ApplyFailedRolledBack(outcome.sentence(), outcome)


def rollback_on_demand(plan_path: Path, opts: Options, *, emit: Callable[[dict], None], plan: Plan | None = None,
                       journal_path: Path | None = None) -> RolledBack:
    """`plan` and `journal_path` for one plan of a plan set at `plan_path`."""
    plan = plan or load(plan_path, plan_keys(opts))
    kube, s3 = connect(plan, opts)
    journal = Journal.existing(journal_path or path_for(plan_path), kube, plan)
    if journal is None or not changed(plan, journal):
        raise UsageError(f"plan {plan_path} was never applied (no journal with a change, beside it or in the "
                         f"cluster); there is nothing to roll back")
    lock = _lock(kube, plan, emit)
    lock.acquire(resume=True)
    try:
        ctx = Context(plan=plan, kube=kube, psql=Psql(kube), s3=s3, journal=journal, emit=emit,
                      still_locked=lock.held, lock_lost=lambda: lock.lost or "")
        with rollback_shield(emit), lock.stop_when_lost(
                lambda why: LockLost(f"lost lease pgrestore-{plan.service} during the rollback ({why})")):
            _roll_back(ctx, "rollback on demand")
    except LockLost as lost:
        raise _rollback_stopped(lost, plan, str(plan_path)) from None
    except ApplyFailedRolledBack as done:
        assert isinstance(done.outcome, RolledBack)
        return done.outcome
    finally:
        _release(lock)


__all__ = ["Options", "ended_status", "prepare", "prepare_in_set", "journal_status", "run", "rollback_on_demand",
           "check_fresh", "changed", "plan_keys"]
