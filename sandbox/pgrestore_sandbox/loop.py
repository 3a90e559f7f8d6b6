"""The controllers' shape: do a full pass, then sleep until a watch event or a second passes."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from kubernetes import watch


def reconcile_forever(stop: threading.Event, full_pass: Callable[[], None], watched: Callable, *watch_args,
                      log: logging.Logger, name: str) -> None:
    wake = threading.Event()

    def watcher() -> None:
        while not stop.is_set():
            try:
                for _ in watch.Watch().stream(watched, *watch_args, timeout_seconds=60):
                    wake.set()
            except Exception:  # noqa: BLE001 - re-watch after API hiccups
                stop.wait(1.0)

    threading.Thread(target=watcher, daemon=True, name=f"{name}-watch").start()
    while not stop.is_set():
        try:
            full_pass()
        except Exception:  # noqa: BLE001 - a controller keeps going
            log.exception("%s pass failed", name)
        wake.wait(1.0)
        wake.clear()
