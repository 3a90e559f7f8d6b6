"""A restore outlives its terminal: the SSH session drops mid-step (its pty hangs up, SIGHUP), the
apply goes on to the end, and the log file beside the journal has every event."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import signal
import subprocess
import termios
import time
from pathlib import Path

from .conftest import break_keycloak, fingerprint, make_backup, wait_healthy


def _own_terminal() -> None:
    """In the child: a new session whose controlling terminal is the pty on fd 0, as sshd sets it up."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _drain_until(master: int, proc: subprocess.Popen, done, timeout: float) -> None:
    """Read what apply shows on its terminal (a full pty would block it) until done() holds."""
    deadline = time.monotonic() + timeout
    while not done():
        assert proc.poll() is None, f"apply ended early with {proc.returncode}"
        assert time.monotonic() < deadline, "apply never got there"
        if select.select([master], [], [], 0.1)[0]:
            try:
                os.read(master, 65536)
            except OSError:
                pass


def _status(journal: Path, step: str) -> str | None:
    try:
        return json.loads(journal.read_text())["steps"][step]["status"]
    except (OSError, ValueError, KeyError):
        return None


def test_an_ssh_session_that_drops_mid_step_does_not_stop_the_restore(sandbox, cli, tmp_path):
    wait_healthy(sandbox)
    key = make_backup(sandbox, "psql")
    before = fingerprint(sandbox)
    break_keycloak(sandbox)
    plan = tmp_path / "plan.json"
    res = cli("plan", "keycloak", "--backup", key, "-o", str(plan))
    assert res.returncode == 0, res.stderr
    doc = json.loads(plan.read_text())
    step = next(s["id"] for s in doc["steps"] if s["kind"] == "create-cluster")  # waits for the operator's pods
    log = tmp_path / "plan.log"

    master, slave = pty.openpty()
    proc = subprocess.Popen(cli.argv("apply", str(plan), "--auto-approve"), stdin=slave, stdout=slave,
                            stderr=slave, env=cli.env, preexec_fn=_own_terminal, close_fds=True)
    os.close(slave)
    try:
        _drain_until(master, proc, lambda: _status(tmp_path / "plan.journal.json", step) == "running", timeout=300)
        # The connection drops: the pty hangs up (the kernel sends SIGHUP to the session), and sshd's
        # SIGHUP comes too; from now on every write to the terminal fails with EIO.
        os.close(master)
        master = -1
        proc.send_signal(signal.SIGHUP)
        assert proc.wait(timeout=900) == 0
    finally:
        if master >= 0:
            os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert fingerprint(sandbox) == before  # every row restored
    journal = json.loads((tmp_path / "plan.journal.json").read_text())
    assert journal["status"] == "done"
    text = log.read_text()
    for s in doc["steps"]:  # every step's end is in the log, also those after the hang-up
        assert f" {s['id']}" in text and any(
            line.split()[1] in ("done", "skipped") and line.split()[2] == s["id"]
            for line in text.splitlines() if len(line.split()) > 2), s["id"]
    assert "apply_finished done: restored services/keycloak-postgres" in text
    wait_healthy(sandbox)
