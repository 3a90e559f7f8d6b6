"""What every step kind gets: the plan, the adapters, the journal, an event sink and the
running step's deadline. Executors read their step (target and params), never the plan's shape."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from pgrestore.adapters.kube import Kube
from pgrestore.adapters.psql import Psql
from pgrestore.adapters.s3 import S3
from pgrestore.contract.model import Plan, Step
from pgrestore.core.manifest import ManifestSecret

from .journal import Journal
from .progress import StreamProgress


@dataclass
class Context:
    plan: Plan
    kube: Kube
    psql: Psql
    s3: S3 | None
    journal: Journal
    emit: Callable[[dict], None]
    manifest: tuple[ManifestSecret, ...] | None = field(default=None, repr=False)
    still_locked: Callable[[], bool] = lambda: True  # our own view that we still hold the lease
    lock_lost: Callable[[], str] = lambda: ""  # why not, when still_locked() is False
    cancelled: Callable[[], str | None] = lambda: None  # why to stop, once `pgrestore cancel` asked to
    deadline: float = 0.0  # time.monotonic() by which the running step must be done
    confirmed: frozenset[str] = frozenset()  # manual steps the operator says are done (--confirm)
    step_id: str = ""  # the running step

    def start_step(self, step: Step) -> None:
        self.step_id = step.id
        self.deadline = time.monotonic() + step.timeout_seconds
        if self.s3 is not None:  # S3 reads and writes stop at it too (pgrestore/adapters/s3.py)
            self.s3.deadline = self.deadline

    def stream_progress(self, what: str, total: int | None) -> StreamProgress:
        """Bytes of a long stream of the running step, reported at a bounded rate (executors/progress.py)."""
        return StreamProgress(self.emit, self.journal, self.step_id, what, total)

    def remaining(self) -> float:
        """Seconds left of the running step: every wait and exec inside it gets at most this."""
        return max(1.0, self.deadline - time.monotonic())


class StepKind(Protocol):
    """One module per step kind. `run` must be safe to call again after a crash inside it."""

    def run(self, step: Step, ctx: Context) -> dict: ...


SHIELDED = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def rollback_shield(emit: Callable[[dict], None]) -> Iterator[list[str]]:
    """While a rollback runs, Ctrl-C and SIGTERM are recorded and announced, never raised: a second
    Ctrl-C once skipped the rollback's restore of the safety dump (the data half). kill -9 still stops
    it; the journal then says rolling-back and `pgrestore rollback PLAN` finishes it.

    The handler only appends and writes with os.write (no buffered stream: it may interrupt a write to
    the same stream); the engine's events then carry it to the log when the shield is left."""
    received: list[str] = []
    if threading.current_thread() is not threading.main_thread():
        yield received  # signals are delivered to the main thread only: nothing to shield here
        return

    def note(signum: int, frame: object) -> None:
        name = signal.Signals(signum).name
        received.append(name)
        try:
            os.write(2, (f"\n{name} received: rollback in progress, it will not be interrupted; it puts the "
                         f"service back as it was, wait for it to finish\n").encode())
        except OSError:  # the terminal is gone: the log has it below
            pass

    before = {s: signal.getsignal(s) for s in SHIELDED}
    for s in SHIELDED:
        signal.signal(s, note)
    try:
        yield received
    finally:
        for s, handler in before.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
        for name in received:
            emit({"event": "signal_deferred", "signal": name,
                  "text": f"{name} received during the rollback: recorded, the rollback was not interrupted"})
