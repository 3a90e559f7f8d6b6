"""apply and rollback: check the plan, take the lock, run the steps with a checkpoint after each."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pgrestore import plan as plan_doc
from pgrestore import snapshot
from pgrestore.adapters.kube import Kube
from pgrestore.adapters.psql import Psql
from pgrestore.errors import (ApplyFailedRollbackIncomplete, ApplyFailedRolledBack, NotFound,
                              PgRestoreError, PlanRejected, StepFailed, UsageError)

from .context import Context, split_address
from .journal import Journal, path_for
from .lock import Lock
from .registry import STEP_KINDS
from .rollback import rollback


@dataclass
class Options:
    auto_approve: bool = False
    resume: bool = False
    kubeconfig: str | None = None
    s3: dict | None = None


def service_from_plan(plan: dict) -> dict:
    """Enough of the service definition to re-read the objects the plan touches."""
    client = plan["prior_state"][0]
    kind, _, name = split_address(client["address"])
    extras = []
    for s in plan["steps"]:
        if s["kind"] == "rerun-job":
            extras.append({"kind": "rerun-job", "name": split_address(s["target"])[2]})
        elif s["kind"] == "rollout-restart":
            k, _, n = split_address(s["target"])
            extras.append({"kind": "rollout-restart", "target": {"kind": k, "name": n}})
    return {"namespace": plan["namespace"], "cluster": plan["postgresql"], "client": {"kind": kind, "name": name},
            "after_restore": extras}


def _check_cluster(plan: dict, kube: Kube) -> None:
    live = kube.cluster_identity()
    if live["kube_system_uid"] != plan["cluster"]["kube_system_uid"]:
        raise PlanRejected(f"plan is for cluster {plan['cluster']['server']} (kube-system uid "
                           f"{plan['cluster']['kube_system_uid']}), but the kubeconfig points at {live['server']} "
                           f"(uid {live['kube_system_uid']}); use that cluster's kubeconfig or re-plan")


def _check_fresh(plan: dict, kube: Kube, s3) -> None:
    try:
        state = snapshot.read_cluster(kube, service_from_plan(plan))
    except NotFound as e:
        raise PlanRejected(f"plan is stale: {e} since it was made; re-run `pgrestore plan`") from None
    lines = plan_doc.drift(plan["prior_state"], plan_doc.prior_state(state, plan["digest_salt"]))
    b = plan["backup"]
    if b["source"] == "s3":
        try:
            head = s3.head(b["bucket"], b["key"])
            if (head.size, head.etag) != (b["size"], b["etag"]):
                lines.append(f"backup {b['key']}: ETag {b['etag']} -> {head.etag}, size {b['size']} -> {head.size}")
        except PgRestoreError as e:
            lines.append(f"backup {b['key']}: {e}")
    if lines:
        more = f" (+{len(lines) - 3} more)" if len(lines) > 3 else ""
        raise PlanRejected(f"plan is stale, the cluster changed since it was made: {'; '.join(lines[:3])}{more}; "
                           f"re-run `pgrestore plan`")


def _journal(plan_path: Path, plan: dict, kube: Kube, resume: bool) -> Journal:
    existing = Journal.existing(path_for(plan_path), kube, plan)
    status = existing.data["status"] if existing else None
    if status == "rolling-back":
        raise UsageError(f"a rollback of this plan was interrupted; finish it with `pgrestore rollback {plan_path}`")
    if status in ("rolled-back", "rollback-incomplete", "done"):
        raise PlanRejected(f"this plan was already applied ({status}); the cluster no longer looks as planned: "
                           f"re-run `pgrestore plan`")
    if resume:
        if existing is None:
            raise UsageError(f"nothing to resume: no journal for this plan beside {plan_path} or in the cluster")
        return existing
    if existing is not None and any(s["status"] != "pending" for s in existing.data["steps"].values()):
        raise UsageError(f"this plan was started before (journal status {status}); "
                         f"continue it with `pgrestore apply {plan_path} --resume`")
    return Journal.fresh(path_for(plan_path), kube, plan)


def prepare(plan_path: Path, opts: Options) -> tuple[dict, Kube, object, Journal]:
    """Checks that need no lock: the plan itself, the cluster it is for, the journal."""
    plan = plan_doc.load(plan_path)
    kube = Kube(opts.kubeconfig)
    _check_cluster(plan, kube)
    s3 = snapshot.s3_from_options(kube, opts.s3) if plan["backup"]["source"] == "s3" else None
    journal = _journal(plan_path, plan, kube, opts.resume)
    return plan, kube, s3, journal


def _reset_interrupted(plan: dict, journal: Journal) -> None:
    """A step that was running when the process died restarts where its plan says."""
    ids = [s["id"] for s in plan["steps"]]
    for s in plan["steps"]:
        if journal.status_of(s["id"]) in ("running", "failed") and s["restart_from"]:
            for later in ids[ids.index(s["restart_from"]):ids.index(s["id"]) + 1]:
                journal.data["steps"][later] = {"status": "pending"}
    journal.save()


def _changed(plan: dict, journal: Journal) -> bool:
    return any(journal.status_of(s["id"]) != "pending" for s in plan["steps"] if s["kind"] != "verify-backup")


def run(plan: dict, kube: Kube, s3, journal: Journal, opts: Options, emit: Callable[[dict], None],
        approve: Callable[[dict], None] = lambda plan: None) -> str:
    lock = Lock(kube, plan["namespace"], plan["service"], plan["checksum"])
    lock.acquire(resume=opts.resume)
    try:
        # Under the lock, so nothing of ours changes the cluster between this check and the steps.
        # A resume before the first change is checked too: the cluster may have moved on since.
        if not opts.resume or not _changed(plan, journal):
            _check_fresh(plan, kube, s3)
        approve(plan)
    except BaseException:
        _release(lock)
        raise
    ctx = Context(plan=plan, kube=kube, psql=Psql(kube), s3=s3, journal=journal, emit=emit,
                  still_locked=lambda: not lock.lost)
    try:
        journal.set_status("running")
        _reset_interrupted(plan, journal)
        _run_steps(ctx)
        journal.set_status("done")
        return f"restored {plan['namespace']}/{plan['postgresql']} from {plan['backup']['key']}"
    except (Exception, KeyboardInterrupt) as e:  # a bug after a change must still roll back
        reason = "interrupted (Ctrl-C)" if isinstance(e, KeyboardInterrupt) else (
            str(e) if isinstance(e, PgRestoreError) else f"internal error {type(e).__name__}: {e}")
        if not _changed(plan, journal):
            journal.set_status("failed")
            if isinstance(e, KeyboardInterrupt):
                raise UsageError("interrupted before any change; nothing to roll back") from None
            raise
        if isinstance(e, LockLost):
            journal.set_status("failed")
            raise ApplyFailedRollbackIncomplete(f"{e}; nothing was rolled back: check who holds the lease, then "
                                                f"resume or roll back this plan") from None
        journal.set_status("rolling-back")  # a crash now must not leave a resumable journal
        failed = rollback(ctx)
        if failed:
            journal.set_status("rollback-incomplete")
            raise ApplyFailedRollbackIncomplete(
                f"apply failed ({reason}) and rollback is incomplete; by hand: {' | '.join(failed)}") from None
        journal.set_status("rolled-back")
        raise ApplyFailedRolledBack(f"apply failed ({reason}); scale settings rolled back. The data is NOT "
                                    f"restored: fix the cause, re-plan and apply again") from None
    finally:
        _release(lock)


def _release(lock: Lock) -> None:
    """A failed release must not hide how the apply ended; the lease expires by itself."""
    try:
        lock.release()
    except PgRestoreError:
        pass


class LockLost(StepFailed):
    """Another apply took the lease: stop at once and touch nothing more."""


def _run_steps(ctx: Context) -> None:
    for step in ctx.plan["steps"]:
        if not ctx.still_locked():
            raise LockLost(f"lost lease pgrestore-{ctx.plan['service']} before step {step['id']}")
        if ctx.journal.status_of(step["id"]) == "done":
            ctx.emit({"event": "step_finished", "step": step["id"], "status": "skipped", "reason": "done before"})
            continue
        ctx.emit({"event": "step_started", "step": step["id"], "kind": step["kind"], "description": step["description"]})
        ctx.journal.mark(step["id"], "running")
        try:
            observed = STEP_KINDS[step["kind"]].run(step, ctx)
        except (Exception, KeyboardInterrupt) as e:
            error = str(e) or type(e).__name__
            ctx.journal.mark(step["id"], "failed", error=error)
            ctx.emit({"event": "step_finished", "step": step["id"], "status": "failed", "error": error})
            raise
        ctx.journal.mark(step["id"], "done", observed=observed)
        ctx.emit({"event": "step_finished", "step": step["id"], "status": "done"})


def rollback_on_demand(plan_path: Path, opts: Options, emit: Callable[[dict], None]) -> str:
    plan = plan_doc.load(plan_path)
    kube = Kube(opts.kubeconfig)
    _check_cluster(plan, kube)
    journal = Journal.existing(path_for(plan_path), kube, plan) or Journal.fresh(path_for(plan_path), kube, plan)
    lock = Lock(kube, plan["namespace"], plan["service"], plan["checksum"])
    lock.acquire(resume=True)
    try:
        ctx = Context(plan=plan, kube=kube, psql=Psql(kube), s3=None, journal=journal, emit=emit)
        journal.set_status("rolling-back")
        failed = rollback(ctx)
    finally:
        _release(lock)
    if failed:
        journal.set_status("rollback-incomplete")
        raise ApplyFailedRollbackIncomplete(f"rollback incomplete; by hand: {' | '.join(failed)}")
    journal.set_status("rolled-back")
    return "scale settings put back as planned"


__all__ = ["Options", "prepare", "run", "rollback_on_demand"]
