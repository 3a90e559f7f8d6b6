"""How far a long stream is (restore, safety dump, pin, the backup's check): bytes done of the total, rate and
ETA, reported at a bounded rate. An event at most every second (the terminal's bar, `--json` readers) and
the running step's journal record at most every JOURNAL_SECONDS (`pgrestore status`, from anywhere), so an
hour-long stream costs the API server a few hundred ConfigMap writes, not one per chunk."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator

from .journal import Journal

EVENT_SECONDS = 1.0
JOURNAL_SECONDS = 10.0


class StreamProgress:
    def __init__(self, emit: Callable[[dict], None], journal: Journal, step_id: str, what: str,
                 total: int | None, clock: Callable[[], float] = time.monotonic):
        self.emit, self.journal, self.step_id, self.what, self.total = emit, journal, step_id, what, total
        self.clock = clock
        self.done, self._reached, self._last_bytes = 0, False, -1
        self._started = self._evented = self._journaled = clock()
        self._report(force=True)

    def add(self, n: int) -> None:
        self.done += n
        self._report()

    def set(self, done: int) -> None:
        """The count as the stream keeps it (a reader that counts its own bytes)."""
        self.done = done
        self._report()

    def counted(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            self.add(len(chunk))
            yield chunk

    def finish(self) -> None:
        """The last figures, unless the last event had them already."""
        if self.done != self._last_bytes:
            self._report(force=True)

    def figures(self) -> dict:
        elapsed = max(self.clock() - self._started, 1e-6)
        rate = self.done / elapsed
        left = None if self.total is None or rate <= 0 else max(0, round((self.total - self.done) / rate))
        return {"what": self.what, "bytes": self.done, "total": self.total, "bytes_per_second": round(rate),
                "eta_seconds": left, "elapsed_seconds": round(elapsed, 1)}

    def _report(self, force: bool = False) -> None:
        """At most one event a second, and the one that reaches the total at once (the last bytes may be
        sent long before the stream ends: a restore then waits for psql to run what it was sent)."""
        now = self.clock()
        reached = self.total is not None and self.done >= self.total and self._reached is False
        if not (force or reached or now - self._evented >= EVENT_SECONDS):
            return
        self._reached = self._reached or reached
        self._evented, self._last_bytes = now, self.done
        figures = self.figures()
        self.emit({"event": "progress", "step": self.step_id, **figures})
        if force or reached or now - self._journaled >= JOURNAL_SECONDS:
            self._journaled = now
            self.journal.progress(self.step_id, figures)
