"""On a terminal, apply shows the plan and asks for 'yes'."""

from __future__ import annotations

import os
import pty
import subprocess
import time

from .conftest import Cli, client_ready, cluster_uid, make_backup, settings, wait_healthy


def _apply_on_a_terminal(cli: Cli, plan, answer: str) -> tuple[int, str]:
    main, secondary = pty.openpty()
    proc = subprocess.Popen(cli.argv("apply", str(plan)), stdin=secondary, stdout=secondary, stderr=secondary,
                            env={**cli.env, "COLUMNS": "200"}, close_fds=True)
    os.close(secondary)
    seen, answered, deadline = b"", False, time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
        if not answered and b"Type 'yes'" in seen:
            os.write(main, answer.encode() + b"\r")
            answered = True
    os.close(main)
    return proc.wait(timeout=60), seen.decode(errors="replace")


def test_anything_but_yes_changes_nothing_and_yes_applies(sandbox, cli, tmp_path):
    wait_healthy(sandbox)
    plan = tmp_path / "plan.json"
    assert cli("plan", "keycloak", "--backup", make_backup(sandbox, "psql"), "-o", str(plan)).returncode == 0
    uid, before = cluster_uid(sandbox), settings(sandbox)

    code, screen = _apply_on_a_terminal(cli, plan, "no")
    assert code == 1 and "not approved" in screen
    assert "DESTRUCTIVE" in screen and "Signature: hmac-sha256:" in screen, "the plan is shown before the question"
    assert cluster_uid(sandbox) == uid and settings(sandbox) == before

    code, screen = _apply_on_a_terminal(cli, plan, "yes")
    assert code == 0, screen[-2000:]
    assert cluster_uid(sandbox) != uid and client_ready(sandbox)
