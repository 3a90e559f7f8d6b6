"""Requests from the CLI to the running daemon, as files in <state>/commands.

A failover restarts a server and relabels pods; only the daemon may do that, because its
agents keep per-cluster state in memory (who is restarting, which pods it saw lead).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable

from . import procs
from .errors import SandboxError
from .paths import StateDir

log = logging.getLogger("sandbox.commands")
REQUEST, RESULT = ".request.json", ".result.json"


def _write_json(path, data: dict) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp.")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def submit(state: StateDir, kind: str, args: dict, timeout: float = 120.0) -> str:
    """Hand a request to the daemon and wait for its answer (raises SandboxError on refusal)."""
    if not procs.running_pid(state.pids, "sandbox-daemon"):
        raise SandboxError("the sandbox daemon is not running; start it with `pgrestore sandbox up`")
    state.commands.mkdir(exist_ok=True)
    rid = uuid.uuid4().hex
    _write_json(state.commands / f"{rid}{REQUEST}", {"kind": kind, "args": args})
    result = state.commands / f"{rid}{RESULT}"
    deadline = time.monotonic() + timeout
    while not result.exists():
        if time.monotonic() > deadline:
            raise SandboxError(f"the sandbox daemon did not answer the {kind} request within {timeout:.0f}s")
        time.sleep(0.1)
    answer = json.loads(result.read_text())
    result.unlink(missing_ok=True)
    if not answer["ok"]:
        raise SandboxError(answer["message"])
    return answer["message"]


def serve(state: StateDir, handlers: dict[str, Callable[..., str]], stop: threading.Event) -> None:
    """The daemon's side: answer each request with the handler's message or its refusal."""
    state.commands.mkdir(exist_ok=True)
    while not stop.wait(0.2):
        for request in sorted(state.commands.glob(f"*{REQUEST}")):
            rid = request.name[: -len(REQUEST)]
            try:
                body = json.loads(request.read_text())
                answer = {"ok": True, "message": handlers[body["kind"]](**body["args"])}
            except Exception as e:  # noqa: BLE001 - every refusal goes back to the CLI
                log.info("request %s refused: %s", request.name, e)
                answer = {"ok": False, "message": str(e)}
            request.unlink(missing_ok=True)
            _write_json(state.commands / f"{rid}{RESULT}", answer)
