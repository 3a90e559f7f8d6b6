"""What the daemon's agents (operator, node agent, Patroni stand-in, sessions) share in memory."""

from __future__ import annotations

import threading
import time


class ClusterLocks:
    """Serialises work on one cluster's server (start, restart, wipe) within the daemon."""

    def __init__(self):
        self._locks: dict[str, threading.RLock] = {}
        self._restarting: set[str] = set()
        self._guard = threading.Lock()

    def get(self, key: str) -> threading.RLock:
        with self._guard:
            return self._locks.setdefault(key, threading.RLock())

    def restarting(self, key: str) -> bool:
        return key in self._restarting

    def mark_restarting(self, key: str, on: bool) -> None:
        (self._restarting.add if on else self._restarting.discard)(key)


class VolumeReleases:
    """Data volumes of deleted clusters that are still being released (see timing.py)."""

    def __init__(self):
        self._until: dict[str, float] = {}
        self._guard = threading.Lock()

    def hold(self, key: str, seconds: float) -> None:
        if seconds > 0:
            with self._guard:
                self._until[key] = time.monotonic() + seconds

    def remaining(self, key: str) -> float:
        with self._guard:
            left = self._until.get(key, 0.0) - time.monotonic()
            if left <= 0:
                self._until.pop(key, None)
            return max(left, 0.0)
