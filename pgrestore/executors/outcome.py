"""Where an apply stands when it fails: is the data there, is the restore kept, and what the
operator is told. Read from the plan's steps and the journal only.

Two rules make the safety net trustworthy:

- The client and the backup CronJobs come back only onto data (steps marked `hold_unless_data`).
  A client on an empty database serves nothing, and a backup run of an empty cluster deletes every
  older backup (Cray-HPE/postgres-db-backup keeps the newest N), the one being restored included.
- Once the client is back on the restored, verified data (the step marked `commit`), a failure keeps
  the restore: rolling back would throw it away, and every write made since.
"""

from __future__ import annotations

from pgrestore.contract.model import Plan, Step
from pgrestore.core.kinds import kind

from .journal import Journal

FINISHED = ("done", "skipped")


def data_present(plan: Plan, journal: Journal) -> bool:
    """The cluster holds data worth serving: the live data untouched, the safety dump put back,
    or the planned restore kept (finished, and not wiped by the rollback since)."""
    if plan.postgresql_source is not None:  # the resource was gone: no live data was at stake
        return True
    if all(journal.status_of(s.id) == "pending" for s in plan.steps if s.destructive):
        return True
    if any(s.kind == "restore-dump" and journal.status_of(s.id) == "done" for s in plan.rollback):
        return True
    restored = any(s.kind == "restore-dump" and journal.status_of(s.id) == "done" for s in plan.steps)
    return restored and not any(_wiped(journal, s) for s in plan.rollback)


def _wiped(journal: Journal, step: Step) -> bool:
    """A rollback step that replaced or dropped (or may have, if it did not finish) what the
    forward steps had restored."""
    if not kind(step.kind).may_wipe_data or journal.status_of(step.id) in ("pending", "skipped"):
        return False
    seen = journal.observed(step.id)
    return journal.status_of(step.id) != "done" or seen.get("recreated") is True or seen.get("dropped") is True


def committed(plan: Plan, journal: Journal) -> bool:
    return any(s.commit and journal.status_of(s.id) == "done" for s in plan.steps)


def kept_message(plan: Plan, journal: Journal, reason: str) -> str:
    """After the commit point: nothing rolled back; what failed, what is left, how to finish."""
    left = [s for s in plan.steps if journal.status_of(s.id) not in FINISHED]
    cron = next((s for s in plan.steps if s.kind == "resume-backup-jobs"), None)
    suspended = (" The backup CronJobs are still suspended: no backup runs until this is finished."
                 if cron is not None and journal.status_of(cron.id) not in FINISHED else "")
    names = ", ".join(s.id for s in left) or "none"
    return (f"the restore of {plan.namespace}/{plan.postgresql} from {plan.backup.key} is kept (data restored and "
            f"verified, the client back on it), then {reason}; nothing was rolled back, which would throw the "
            f"restore and every write since away. Not done yet: {names}.{suspended} Fix the cause, then finish "
            f"with `pgrestore apply <plan> --resume`")


def held_message(plan: Plan, held: list[Step]) -> str:
    """The data did not come back: what is held at 0 or suspended, and how to get the data back."""
    client = next((s for s in held if s.kind == "scale-workload"), None)
    parts = []
    if client is not None:
        parts.append(f"{client.target.kind.lower()} {client.target.namespace}/{client.target.name} stays at 0 "
                     f"replicas (planned: {client.params.get('replicas')})")
    if any(s.kind == "resume-backup-jobs" for s in held):
        parts.append("the backup CronJobs stay suspended (a run now would dump the empty cluster and delete older "
                     "backups)")
    safety = next((s for s in plan.steps if s.kind == "safety-dump"), None)
    if safety is not None:
        where = safety.params["dump"]
        url = f"s3://{where['bucket']}/{where['key']}" if where["source"] == "s3" else where["key"]
        remedy = (f"fix the cause, then `pgrestore rollback <plan>` restores the safety dump {url} and only then "
                  f"brings them back")
    else:
        remedy = (f"there is no safety dump (--no-safety-dump): re-plan from the backup (`pgrestore plan "
                  f"{plan.service}`) and apply; bring them back only once the data is in")
    return f"the data of {plan.namespace}/{plan.postgresql} is NOT back, so {' and '.join(parts)}: {remedy}"
