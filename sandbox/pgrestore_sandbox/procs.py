"""Start, track and stop the sandbox's own processes, by pid file.

`down` must stop exactly what `up` started, so every process gets a pid file that
also records its start time; a recycled pid with another start time is left alone.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from .errors import SandboxError

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_time(pid: int) -> str | None:
    try:
        # Field 22 of /proc/PID/stat is the start time in clock ticks since boot.
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def piped(stream: T | None) -> T:
    """A child's stream opened with PIPE: subprocess and asyncio always make it, and type it optional all the same."""
    if stream is None:
        raise SandboxError("a child process has no pipe where one was asked for")
    return stream


def record(pid_dir: Path, name: str, pid: int) -> None:
    info = {"pid": pid, "start": _start_time(pid)}
    (pid_dir / f"{name}.json").write_text(json.dumps(info))


def running_pid(pid_dir: Path, name: str) -> int | None:
    path = pid_dir / f"{name}.json"
    if not path.exists():
        return None
    info = json.loads(path.read_text())
    if info["start"] is not None and _start_time(info["pid"]) == info["start"]:
        return info["pid"]
    return None


def spawn(
    pid_dir: Path, log_dir: Path, name: str, argv: Sequence[str], env: dict | None = None
) -> subprocess.Popen:
    log = open(log_dir / f"{name}.log", "ab")
    try:
        proc = subprocess.Popen(
            list(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # survives the CLI that started it
            env={**os.environ, **(env or {})},
        )
    except OSError as e:
        raise SandboxError(f"cannot start {name} ({argv[0]}): {e}") from e
    finally:
        log.close()
    record(pid_dir, name, proc.pid)
    return proc


def stop(pid_dir: Path, name: str, timeout: float = 10.0) -> bool:
    """Stop a recorded process; True if it was running."""
    pid = running_pid(pid_dir, name)
    (pid_dir / f"{name}.json").unlink(missing_ok=True)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _start_time(pid) is not None:
        if _is_zombie(pid):
            break
        time.sleep(0.05)
    if _start_time(pid) is not None and not _is_zombie(pid):
        os.kill(pid, signal.SIGKILL)
    return True


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def wait_for(
    what: str, check: Callable[[], bool], timeout: float, log: Path | None = None,
    proc: subprocess.Popen | None = None,
) -> None:
    """Poll a readiness probe of a process we just started (no API to watch yet)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SandboxError(f"{what} exited with {proc.returncode}; see {log}")
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.1)
    raise SandboxError(f"{what} not ready after {timeout:.0f}s; see {log}")
