"""Progress for people (rich, on stderr) or machines (--json: one JSON object per line), and the
same events as plain lines in a log file beside the journal (`<plan>.log`).

A restore must outlive its terminal (an SSH session that drops): once the terminal is gone, a
write to it fails with EIO (a hung-up tty) or EPIPE (a closed pipe). Those failures are swallowed
(`SafeStream`, put in place of sys.stdout and sys.stderr by `survive_terminal_loss`), and the log
file goes on receiving every event.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.filesize import decimal
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from .journal import state_folder

LOG_PROGRESS_SECONDS = 30.0  # a stream's figures in the log file: this often, and at its end


class SafeStream:
    """A text stream whose write and flush never fail for a terminal that went away: from the first
    OSError on, what is written is dropped (the log file beside the journal has it)."""

    def __init__(self, inner: IO[str]):
        self._inner = inner
        self.gone = False

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                return self._inner.write(text)
            except OSError:  # EIO, EPIPE: the terminal (or the pipe to it) is gone
                self.gone = True
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self._inner.flush()
            except OSError:
                self.gone = True

    def isatty(self) -> bool:
        return not self.gone and self._inner.isatty()

    def __getattr__(self, name: str) -> Any:  # encoding, errors, fileno, ...
        return getattr(self._inner, name)


def survive_terminal_loss() -> None:
    """Make sys.stdout and sys.stderr SafeStreams (once)."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, SafeStream):
            setattr(sys, name, SafeStream(stream))


def log_path_for(plan_path: Path) -> Path:
    """`plan.json` -> `plan.log`, beside the plan and its journal."""
    return state_folder(plan_path) / (plan_path.name.removesuffix(".json") + ".log")


class Events:
    def __init__(self, as_json: bool, log: Path | None = None):
        self.as_json = as_json
        self.console = Console(stderr=True, highlight=False)
        self._status: Any = None
        self._bar: Progress | None = None
        self._logged_progress: dict[str, float] = {}
        self._started: dict[str, float] = {}
        self._log: IO[str] | None = None
        self._log_console: Console | None = None
        if log is not None:
            self._log = log.open("a", encoding="utf-8")
            self._log_console = Console(file=self._log, color_system=None, width=200, highlight=False,
                                        emoji=False, soft_wrap=True)

    def __call__(self, event: dict) -> None:
        event = {"ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **event}
        if event["event"] == "step_started":
            self._started[event["step"]] = time.monotonic()
        if event["event"] == "step_finished":
            event["elapsed_seconds"] = round(time.monotonic() - self._started.get(event["step"], time.monotonic()), 2)
        self._to_log(event)
        try:
            if self.as_json:
                sys.stdout.write(json.dumps(event, sort_keys=True) + "\n")
                sys.stdout.flush()
            else:
                self._show(event)
        except OSError:  # the terminal is gone (without a SafeStream): the log goes on
            self._status = None

    def note(self, text: str) -> None:
        """A line for the log file only (the terminal shows it its own way: the CLI's last line)."""
        if self._log_console is not None:
            self._log_console.print(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {text}", markup=False)
            self._log_flush()

    def close(self) -> None:
        """Stop the spinner (its refresh thread must not outlive the command) and close the log."""
        self._stop_status()
        if self._log is not None:
            self._log.close()
            self._log, self._log_console = None, None

    # -- the log file ------------------------------------------------------------------------
    def _to_log(self, e: dict) -> None:
        if self._log_console is None:
            return
        kind = e["event"]
        if kind == "step_started":
            self._log_console.print(f"{e['ts']} … {e['step']:<26} {e['description']}", markup=False)
        elif kind == "step_finished":
            detail = e.get("error") or e.get("reason") or ""
            self._log_console.print(f"{e['ts']} {e['status']:<8} {e['step']:<26} {e['elapsed_seconds']:7.1f}s  "
                                    f"{detail}".rstrip(), markup=False)
        elif kind == "progress":
            if not self._progress_due(e):
                return
            self._log_console.print(f"{e['ts']} progress {e['step']:<26} {progress_text(e)}", markup=False)
        else:
            text = e.get("text") or e.get("detail") or e.get("description") or ""
            status = f" {e['status']}" if e.get("status") else ""
            self._log_console.print(f"{e['ts']} {kind}{status}: {text}".rstrip(), markup=False)
        self._log_flush()

    def _progress_due(self, e: dict) -> bool:
        """The first and last figures of a stream, and one every LOG_PROGRESS_SECONDS between."""
        now, last = time.monotonic(), self._logged_progress.get(e["step"])
        final = e["total"] is not None and e["bytes"] >= e["total"]
        if last is not None and not final and now - last < LOG_PROGRESS_SECONDS:
            return False
        self._logged_progress[e["step"]] = now
        return True

    def _log_flush(self) -> None:
        if self._log is not None:
            self._log.flush()

    # -- the terminal ------------------------------------------------------------------------
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
        elif kind == "progress":
            self._show_progress(e)
        elif kind == "rollback_started":
            self.console.print(f"[yellow]↺ rollback:[/] {e['description']}")
        elif kind == "rollback_finished":
            colour = "green" if e["status"] == "done" else "red"
            self.console.print(f"  [{colour}]{e['status']}[/]: {e['detail']}")
        elif kind == "message":
            self.console.print(e["text"])
        # signal_deferred: the terminal was told when the signal came (executors/context.py)

    def _show_progress(self, e: dict) -> None:
        """A stream's bar in place of the step's spinner: bytes of the total, rate, time left."""
        if self._bar is None:
            self._stop_status()
            self._bar = Progress(TextColumn("[bold]{task.description}[/]"), BarColumn(), DownloadColumn(),
                                 TransferSpeedColumn(), TimeRemainingColumn(), console=self.console, transient=True)
            self._bar.add_task(e["step"], total=e["total"])
            self._bar.start()
        self._bar.update(self._bar.task_ids[0], completed=e["bytes"], total=e["total"])

    def _stop_status(self) -> None:
        """Stop the step's spinner or bar (a gone terminal cannot fail it)."""
        for shown in (self._bar, self._status):
            if shown is not None:
                try:
                    shown.stop()
                except OSError:
                    pass
        self._bar, self._status = None, None


def progress_text(e: dict) -> str:
    """`512.0 MB of 1.1 GB (47%), 38.2 MB/s, 15 s left` (or without the total, when it is not known)."""
    done = decimal(e["bytes"])
    if e.get("total"):
        done += f" of {decimal(e['total'])} ({100 * e['bytes'] // e['total']}%)"
    left = f", {e['eta_seconds']} s left" if e.get("eta_seconds") is not None and e.get("total") else ""
    return f"{done}, {decimal(e['bytes_per_second'])}/s{left}: {e['what']}"
