"""Where an apply stands when it fails: is the data there, is the restore kept, and how it ended, as
data (the outcomes below, each with the sentence the operator is told). Read from the plan's steps and
the journal only.

Two rules make the safety net trustworthy:

- The client and the backup CronJobs come back only onto data (steps marked `hold_unless_data`).
  A client on an empty database serves nothing, and a backup run of an empty cluster deletes every
  older backup (Cray-HPE/postgres-db-backup keeps the newest N), the one being restored included.
- Once the client is back on the restored, verified data (the step marked `commit`), a failure keeps
  the restore: rolling back would throw it away, and every write made since.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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


# -- how an apply ended, as data: the engine returns or raises these; the CLI says them (sentence())
# and --json gives them as they are (to_dict).
@dataclass(frozen=True)
class Restored:
    namespace: str
    postgresql: str
    backup: str

    def sentence(self) -> str:
        return f"restored {self.namespace}/{self.postgresql} from {self.backup}"


@dataclass(frozen=True)
class Kept:
    """After the commit point: nothing rolled back; what failed, what is left, how to finish."""

    namespace: str
    postgresql: str
    backup: str
    failed: str  # what failed and why
    left: list[str]  # forward step ids not finished
    cronjobs_suspended: bool  # the step that resumes them is among those left

    def sentence(self) -> str:
        suspended = (" The backup CronJobs are still suspended: no backup runs until this is finished."
                     if self.cronjobs_suspended else "")
        return (f"the restore of {self.namespace}/{self.postgresql} from {self.backup} is kept (data restored and "
                f"verified, the client back on it), then {self.failed}; nothing was rolled back, which would throw "
                f"the restore and every write since away. Not done yet: {', '.join(self.left) or 'none'}."
                f"{suspended} Fix the cause, then finish with `pgrestore apply <plan> --resume`")


def kept(plan: Plan, journal: Journal, failed: str) -> Kept:
    cron = next((s for s in plan.steps if s.kind == "resume-backup-jobs"), None)
    return Kept(plan.namespace, plan.postgresql, plan.backup.key, failed,
                [s.id for s in plan.steps if journal.status_of(s.id) not in FINISHED],
                cron is not None and journal.status_of(cron.id) not in FINISHED)


# Where a finished rollback left the data.
DataEnd = Literal["absent-again", "untouched", "safety-dump", "restore-kept"]


@dataclass(frozen=True)
class RolledBack:
    why: str  # what made apply roll back ("apply failed (…)", "rollback on demand")
    data: DataEnd
    postgresql: str
    backup: str
    safety_dump: str | None  # the key put back, when data is "safety-dump"

    def end_state(self) -> str:
        return {
            "absent-again": f"rolled back: postgresql {self.postgresql} is absent again, as it was before apply (only "
                            f"a cluster this apply created was deleted; the backup's data is still in the planned "
                            f"backup)",
            "untouched": "rolled back before anything destructive: the service is as it was, data untouched",
            "safety-dump": f"rolled back: the service is as it was before apply, data included (from the safety "
                           f"dump {self.safety_dump})",
            "restore-kept": f"rolled back: {self.postgresql} keeps the data restored from {self.backup} (the restore "
                            f"had finished and was verified); the client and the CronJobs are as before",
        }[self.data]

    def sentence(self) -> str:
        return f"{self.why}; {self.end_state()}. Fix the cause, re-plan and apply again"


def rolled_back(plan: Plan, journal: Journal, why: str) -> RolledBack:
    safety = next((s for s in plan.steps if s.kind == "safety-dump"), None)
    safety_back = any(s.kind == "restore-dump" and journal.status_of(s.id) == "done" for s in plan.rollback)
    data: DataEnd
    if plan.postgresql_source is not None:
        data = "absent-again"
    elif all(journal.status_of(s.id) == "pending" for s in plan.steps if s.destructive):
        data = "untouched"
    elif safety_back and safety is not None:
        data = "safety-dump"
    else:
        data = "restore-kept"
    dump = safety.params["dump"]["key"] if safety is not None and data == "safety-dump" else None
    return RolledBack(why, data, plan.postgresql, plan.backup.key, dump)


@dataclass(frozen=True)
class Held:
    """The data did not come back: what is held at 0 or suspended, and how to get the data back."""

    namespace: str
    postgresql: str
    service: str
    client: str | None  # "statefulset services/cray-keycloak", held at 0
    client_replicas: int | None  # planned
    cronjobs: bool  # held suspended
    safety_dump: str | None  # its URL; None: --no-safety-dump

    def sentence(self) -> str:
        parts = []
        if self.client is not None:
            parts.append(f"{self.client} stays at 0 replicas (planned: {self.client_replicas})")
        if self.cronjobs:
            parts.append("the backup CronJobs stay suspended (a run now would dump the empty cluster and delete "
                         "older backups)")
        if self.safety_dump is not None:
            remedy = (f"fix the cause, then `pgrestore rollback <plan>` restores the safety dump {self.safety_dump} "
                      f"and only then brings them back")
        else:
            remedy = (f"there is no safety dump (--no-safety-dump): re-plan from the backup (`pgrestore plan "
                      f"{self.service}`) and apply; bring them back only once the data is in")
        return f"the data of {self.namespace}/{self.postgresql} is NOT back, so {' and '.join(parts)}: {remedy}"


def held(plan: Plan, steps: list[Step]) -> Held:
    client = next((s for s in steps if s.kind == "scale-workload"), None)
    safety = next((s for s in plan.steps if s.kind == "safety-dump"), None)
    url = None
    if safety is not None:
        where = safety.params["dump"]
        url = f"s3://{where['bucket']}/{where['key']}" if where["source"] == "s3" else where["key"]
    return Held(plan.namespace, plan.postgresql, plan.service,
                f"{client.target.kind.lower()} {client.target.namespace}/{client.target.name}" if client else None,
                client.params.get("replicas") if client else None,
                any(s.kind == "resume-backup-jobs" for s in steps), url)


@dataclass(frozen=True)
class RollbackIncomplete:
    why: str
    held: Held | None  # steps held because the data is not back
    by_hand: list[str]  # rollback steps that failed, each "what it does: why it failed"

    def sentence(self) -> str:
        parts = [self.held.sentence()] if self.held else []
        parts += [f"by hand: {' | '.join(self.by_hand)}"] if self.by_hand else []
        return f"{self.why} and rollback is incomplete; {'; '.join(parts)}"


@dataclass(frozen=True)
class RollbackStopped:
    """The lease was lost during the rollback: it stopped, so as not to act over another apply."""

    why: str
    namespace: str
    service: str
    plan_path: str

    def sentence(self) -> str:
        return (f"{self.why}; the rollback stopped there, so as not to act over the apply that may hold the lease "
                f"now (the journal says rolling-back): check who holds it (kubectl get lease -n {self.namespace} "
                f"pgrestore-{self.service}), then finish with `pgrestore rollback {self.plan_path}`")


Outcome = Restored | Kept | RolledBack | RollbackIncomplete | RollbackStopped
