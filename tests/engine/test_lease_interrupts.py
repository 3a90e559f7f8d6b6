"""Ctrl-C (or SIGTERM) once a rollback runs: recorded and announced, never an interruption. A second
Ctrl-C used to fail the rollback step it landed in: the restore of the safety dump, the data half."""

from __future__ import annotations

import os
import signal

import pytest

from pgrestore.errors import ApplyFailedRolledBack

from .conftest import user_view


def test_ctrl_c_twice_during_the_rollback_does_not_skip_the_restore_of_the_safety_dump(rehearsal, capfd):
    before = user_view(rehearsal)
    handler_before = signal.getsignal(signal.SIGINT)  # SIG_IGN under nohup or a background job
    path = rehearsal.plan()
    restore = rehearsal.step(path, "restore-dump")
    rehearsal.stage.inject("exec", step=restore, error=KeyboardInterrupt())  # the first Ctrl-C: roll back
    back = rehearsal.step(path, "restore-dump", rollback=True)

    def ctrl_c_again_and_again() -> None:
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
    rehearsal.stage.at_step(back, ctrl_c_again_and_again)
    with pytest.raises(ApplyFailedRolledBack) as err:
        rehearsal.apply(path)
    assert err.value.exit_code == 5
    assert "interrupted (Ctrl-C or SIGTERM)" in str(err.value) and "data included" in str(err.value)
    journal = rehearsal.journal(path)
    assert journal["status"] == "rolled-back"
    assert {k: v["status"] for k, v in journal["rollback"].items()} == dict.fromkeys(journal["rollback"], "done")
    assert user_view(rehearsal) == before
    assert "SIGINT received: rollback in progress, it will not be interrupted" in capfd.readouterr().err
    deferred = [e for e in rehearsal.stage.events if e.get("event") == "signal_deferred"]
    assert [e["signal"] for e in deferred] == ["SIGINT", "SIGINT"]
    # Left as it was: a Ctrl-C after the rollback interrupts again (unless it was ignored before).
    assert signal.getsignal(signal.SIGINT) is handler_before


def test_events_go_on_to_the_log_file_once_the_terminal_is_gone(tmp_path, monkeypatch):
    """The pipe to the terminal closed (an SSH session that dropped): writing to it fails with EPIPE.
    The write is dropped, the process goes on, and every event still reaches the log file."""
    from pgrestore.executors.events import Events, SafeStream, log_path_for

    read_end, write_end = os.pipe()
    os.close(read_end)
    gone = os.fdopen(write_end, "w", buffering=1)
    monkeypatch.setattr("sys.stdout", SafeStream(gone))
    monkeypatch.setattr("sys.stderr", SafeStream(gone))
    log = log_path_for(tmp_path / "plan.json")
    try:
        for as_json in (True, False):
            events = Events(as_json, log)
            events({"event": "step_started", "step": "05-restore-dump", "kind": "restore-dump",
                    "description": "restore"})
            events({"event": "step_finished", "step": "05-restore-dump", "status": "done"})
            events.close()
    finally:
        try:
            gone.close()
        except OSError:  # what it still buffers cannot go anywhere
            pass
    lines = log.read_text().splitlines()
    assert log.name == "plan.log" and len(lines) == 4
    assert [line.split()[1:3] for line in lines] == [["…", "05-restore-dump"], ["done", "05-restore-dump"]] * 2
