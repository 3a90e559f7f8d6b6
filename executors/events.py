"""Progress for people (rich, on stderr) or machines (--json: one JSON object per line)."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from rich.console import Console


class Events:
    def __init__(self, as_json: bool):
        self.as_json = as_json
        self.console = Console(stderr=True, highlight=False)
        self._status: Any = None
        self._started: dict[str, float] = {}

    def __call__(self, event: dict) -> None:
        event = {"ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **event}
        if event["event"] == "step_started":
            self._started[event["step"]] = time.monotonic()
        if event["event"] == "step_finished":
            event["elapsed_seconds"] = round(time.monotonic() - self._started.get(event["step"], time.monotonic()), 2)
        if self.as_json:
            sys.stdout.write(json.dumps(event, sort_keys=True) + "\n")
            sys.stdout.flush()
        else:
            self._show(event)

    def _show(self, e: dict) -> None:
        kind = e["event"]
        if kind == "step_started":
            self._stop_status()
            self._status = self.console.status(f"[bold]{e['step']}[/] {e['description']}")
            self._status.start()
        elif kind == "step_finished":
            self._stop_status()
            if e["status"] == "skipped":
                self.console.print(f"[dim]- {e['step']:<26} {e.get('reason') or 'skipped'}[/]")
                return
            if e["status"] == "waiting":
                self.console.print(f"[yellow]… {e['step']:<26} waits for you[/]")
                return
            mark = {"done": "[green]✓[/]", "failed": "[red]✗[/]"}[e["status"]]
            extra = f"  [red]{e['error']}[/]" if e.get("error") else ""
            self.console.print(f"{mark} {e['step']:<26} {e.get('elapsed_seconds', 0):7.1f}s{extra}")
        elif kind == "rollback_started":
            self.console.print(f"[yellow]↺ rollback:[/] {e['description']}")
        elif kind == "rollback_finished":
            colour = "green" if e["status"] == "done" else "red"
            self.console.print(f"  [{colour}]{e['status']}[/]: {e['detail']}")
        elif kind == "message":
            self.console.print(e["text"])

    def _stop_status(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
