"""Progress of the long streams: bytes done of the total, rate and time left, as events (the terminal's bar,
--json) and in the journal (`pgrestore status`), each at a bounded rate."""

from __future__ import annotations

import json

from pgrestore.executors.events import Events, progress_text
from pgrestore.executors.progress import EVENT_SECONDS, JOURNAL_SECONDS, StreamProgress

STREAMS = {"01-verify-backup", "03-pin-backup", "06-safety-dump", "09-restore-dump"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Saves:
    """The journal as StreamProgress writes it: each write of a step's figures."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, dict]] = []

    def progress(self, step_id: str, figures: dict) -> None:
        self.writes.append((step_id, figures))


def test_a_stream_reports_every_second_and_writes_the_journal_every_ten_seconds_and_at_its_end():
    clock, events, journal = Clock(), [], Saves()
    p = StreamProgress(events.append, journal, "09-restore-dump", "the dump into psql", 100 * 2**20,  # type: ignore[arg-type]
                       clock=clock)
    for _ in range(100):  # 1 MiB each 0.25 s: 25 s of stream
        clock.now += 0.25
        p.add(2**20)
    p.finish()
    assert [e["bytes"] for e in events][0] == 0 and events[-1]["bytes"] == 100 * 2**20
    assert len(events) == 1 + 25 // EVENT_SECONDS, "at most one a second, and the first"
    assert len(journal.writes) == 2 + 25 // JOURNAL_SECONDS
    last = events[-1]
    assert (last["total"], last["eta_seconds"], last["bytes_per_second"]) == (100 * 2**20, 0, 4 * 2**20)
    assert progress_text(last) == "104.9 MB of 104.9 MB (100%), 4.2 MB/s, 0 s left: the dump into psql"


def test_an_apply_reports_each_long_stream_to_its_end_in_the_events_and_the_journal(rehearsal):
    path = rehearsal.plan()
    rehearsal.apply(path)
    last = {}
    for e in rehearsal.stage.events:
        if e["event"] == "progress":
            last[e["step"]] = e
    assert set(last) == STREAMS
    for step in STREAMS - {"06-safety-dump"}:
        assert last[step]["bytes"] == last[step]["total"] > 0, step
    dump = last["06-safety-dump"]
    assert dump["total"] is None and dump["bytes"] > 0, "a safety dump's size is not known ahead"
    journal = rehearsal.journal(path)
    for step in STREAMS:
        assert journal["steps"][step]["progress"]["bytes"] == last[step]["bytes"], step


def test_the_log_file_gets_a_streams_first_and_last_figures_not_one_a_second(tmp_path):
    log = tmp_path / "plan.log"
    events = Events(as_json=True, log=log)
    total = 10 * 2**20
    for done in range(0, total + 1, 2**20):  # 11 events within a moment
        events({"event": "progress", "step": "09-restore-dump", "what": "x", "bytes": done, "total": total,
                "bytes_per_second": 2**20, "eta_seconds": 1, "elapsed_seconds": 1.0})
    events.close()
    lines = [line for line in log.read_text().splitlines() if " progress " in line]
    assert len(lines) == 2 and "10.5 MB of 10.5 MB (100%)" in lines[-1]


def test_json_readers_get_every_progress_event(tmp_path, capsys):
    events = Events(as_json=True)
    events({"event": "progress", "step": "06-safety-dump", "what": "x", "bytes": 5, "total": None,
            "bytes_per_second": 5, "eta_seconds": None, "elapsed_seconds": 1.0})
    printed = json.loads(capsys.readouterr().out)
    assert (printed["event"], printed["bytes"], printed["total"]) == ("progress", 5, None)
