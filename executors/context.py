"""What every step kind gets: the plan, the adapters, the journal, an event sink and the
running step's deadline. Executors read their step (target and params), never the plan's shape."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from core.adapters.kube import Kube
from core.adapters.psql import Psql
from core.adapters.s3 import S3
from core.manifest import ManifestSecret
from core.model import Plan, Step

from .journal import Journal


@dataclass
class Context:
    plan: Plan
    kube: Kube
    psql: Psql
    s3: S3 | None
    journal: Journal
    emit: Callable[[dict], None]
    manifest: tuple[ManifestSecret, ...] | None = field(default=None, repr=False)
    still_locked: Callable[[], bool] = lambda: True
    deadline: float = 0.0  # time.monotonic() by which the running step must be done
    confirmed: frozenset[str] = frozenset()  # manual steps the operator says are done (--confirm)

    def start_step(self, step: Step) -> None:
        self.deadline = time.monotonic() + step.timeout_seconds
        if self.s3 is not None:  # S3 reads and writes stop at it too (core/adapters/s3.py)
            self.s3.deadline = self.deadline

    def remaining(self) -> float:
        """Seconds left of the running step: every wait and exec inside it gets at most this."""
        return max(1.0, self.deadline - time.monotonic())


class StepKind(Protocol):
    """One module per step kind. `run` must be safe to call again after a crash inside it."""

    def run(self, step: Step, ctx: Context) -> dict: ...
