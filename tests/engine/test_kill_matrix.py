"""Kill apply (kill -9) at every point it can die, then carry on as the README says: `apply --resume`
after a kill in a forward step, `pgrestore rollback` after a kill during the rollback. Every time, the
end is the one an uninterrupted apply (or rollback) reaches; no restore ever replays a half-streamed
dump on top of itself (the fake database logs every COPY into a table that had rows).

Kill points, found by running each variant once undisturbed and reading its adapter calls:
- after each step's last call took effect (its work is done, its journal still says running);
- in the middle of each stream: the restore's stdin (psql has run half the dump), the safety dump's
  stdout (pg_dumpall) and its upload, each S3 read (verification, the pin's check, the restore's).
A kill is the fake's `Crash` (tests/fakes/stage.py): nothing of the dying process runs after it.

Variants (plans): the S3 .psql backup with its manifest; the operator's logical .sql.gz (pg_dumpall
without -c, so a replay on top would double rows; alter-users); a local dump with --pin-dir and
--safety-dir (files, not the bucket); --no-safety-dump; and HSM (recreate-all: every member re-created,
clean-up SQL, members restarted) and SLS (in-place: databases dropped and restored in the same cluster) in the
world of tests/fakes/worlds/hms.json.

Each variant is its own test (pytest-xdist spreads them); each prints its column of the matrix (kill point ->
how the carry-on ended) as a markdown table, and appends it to $PGRESTORE_KILL_MATRIX when that is set.
"""

from __future__ import annotations

import gc
import hashlib
import io
import os
import pickle
import shutil
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from pgrestore.errors import PgRestoreError
from pgrestore.planner.options import PlanOptions
from tests.fakes.rehearsal import GOOD_DUMP, GOOD_PSQL, MANIFEST, NS, Rehearsal
from tests.fakes.stage import Call, Crash

SAME, NOT_REACHED = "✓", "(not reached)"
T = TypeVar("T")
JOURNAL_CM = f"configmap/{NS}/pgrestore-journal-keycloak"


@dataclass(frozen=True)
class Variant:
    layout: str
    options: Callable[[Path], PlanOptions]
    local: bool = False
    passwords: bool = True  # compare passwords as such (False: whether each opens its role; random ones)
    service: str = "keycloak"  # hsm, sls: the world of tests/fakes/worlds/hms.json (recreate-all, in-place)
    # How a rollback after a failed restore ends: without a safety dump the data is not back, so the
    # client and the CronJobs are held (exit 6) instead of coming back onto an empty cluster.
    rollback_ends: tuple[str, str] = ("ApplyFailedRolledBack", "rolled-back")


VARIANTS = {
    "S3 .psql, from-manifest": Variant("psql", lambda d: PlanOptions()),
    "S3 logical .gz, alter-users": Variant("logical", lambda d: PlanOptions(), passwords=False),
    "local dump, --pin-dir --safety-dir": Variant(
        "psql", lambda d: PlanOptions(pin_dir=d / "pin", safety_dir=d / "safety"), local=True),
    "--no-safety-dump": Variant("psql", lambda d: PlanOptions(safety_dump=False), passwords=False,
                                rollback_ends=("ApplyFailedRollbackIncomplete", "rollback-incomplete")),
    "HSM recreate-all": Variant("both", lambda d: PlanOptions(), service="hsm"),
    "SLS in-place": Variant("both", lambda d: PlanOptions(), service="sls"),
}
# What makes the restore fail for the rollback matrix: psql ran the dump, then an error no judge passes.
BAD_RESTORE = {"stderr": 'psql:<stdin>:214: ERROR:  relation "public.user_entity" does not exist\n'}


@dataclass(frozen=True)
class KillPoint:
    row: str          # e.g. "restore-dump · mid restore stdin"
    step: str         # step id (this variant's)
    method: str
    nth: int          # the nth call of `method` in the step
    adapter: str
    at_byte: int | None = None  # None: right after the call took effect


class Run:
    """One rehearsal of a variant in its own folder."""

    def __init__(self, variant: Variant, folder: Path, monkeypatch):
        folder.mkdir(parents=True)
        self.variant, self.folder = variant, folder
        self.r = (Rehearsal.keycloak(folder, monkeypatch, layout=variant.layout) if variant.service == "keycloak"
                  else Rehearsal.hms(folder, monkeypatch, variant.service, layout=variant.layout))
        options = variant.options(folder)
        for d in (options.pin_dir, options.safety_dir):
            if d is not None:
                d.mkdir()
        dump = manifest = None
        if variant.local:
            dump, manifest = folder / GOOD_PSQL, folder / GOOD_PSQL.replace(".psql", ".manifest")
            shutil.copyfile(GOOD_DUMP, dump)
            shutil.copyfile(MANIFEST, manifest)
        self.path = self.r.plan(options, dump=dump, manifest=manifest)
        self.plan = self.r.loaded(self.path)

    def end(self) -> dict:
        """The world as a user would compare it, the bucket and the local folders included."""
        r = self.r
        r.kube.settle()
        out = r.kube.snapshot(passwords=self.variant.passwords)
        out["s3"] = {f"{b}/{k}": hashlib.md5(body).hexdigest() for b, objs in sorted(r.s3.buckets.items())
                     for k, (body, _) in sorted(objs.items())}
        out["files"] = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:12]
                        for d in ("pin", "safety") if (self.folder / d).is_dir()
                        for p in sorted((self.folder / d).iterdir()) if not p.name.startswith(".")}
        out["doubled rows"] = r.kube.doubled_rows()
        return out


def _row(steps, step_id: str, what: str) -> str:
    kinds = [s.kind for s in steps]
    i = [s.id for s in steps].index(step_id)
    kind, nth = kinds[i], kinds[:i].count(kinds[i])
    prefix = "rollback: " if step_id.startswith("r") else ""
    return f"{prefix}{kind}{f' #{nth + 1}' if kinds.count(kind) > 1 else ''} · {what}"


def _object(run: Run, key: str) -> str:
    """What an S3 object is to the plan."""
    b = run.plan.backup
    if key == b.key:
        return "the backup"
    if b.manifest is not None and key == b.manifest.key:
        return "the backup's manifest"
    if "/pinned/" in key:
        return "the pinned manifest" if key.endswith(".manifest") else "the pinned copy"
    return "the safety manifest" if key.endswith(".manifest") else "the safety dump"


def _stream(run: Run, call: Call, execs: list) -> tuple[str, int] | None:
    """(what, bytes) of a call that streams, from the undisturbed run; None for any other call."""
    if call.method == "exec":
        argv = call.args["argv"]
        if argv[0] == "pg_dumpall":
            return "mid pg_dumpall's stdout", execs.pop(0).streamed
        if argv[0] == "psql" and "ON_ERROR_STOP=1" not in argv:
            return "mid the restore's stdin (psql)", len(execs.pop(0).stdin)
        return None
    if call.method in ("stream", "writer"):
        body = run.r.s3.body(call.args["bucket"], call.args["key"]) or b""
        verb = "reading" if call.method == "stream" else "uploading"
        return f"mid {verb} {_object(run, call.args['key'])}", len(body)
    return None


def kill_points(run: Run, steps) -> list[KillPoint]:
    """Right after each step's last call, and halfway through each of its streams; a step that makes no
    call but the journal's (local file I/O only) is killed as it starts, right after the journal said so."""
    out = []
    for step in steps:
        journal_only = run.r.stage.calls_in(step.id)
        calls = [c for c in journal_only if c.method != "upsert_configmap"]
        if not journal_only:
            continue  # skipped: its condition did not hold
        if not calls:
            out.append(KillPoint(_row(steps, step.id, "as it starts (local files only)"), step.id,
                                 "upsert_configmap", 1, "kube"))
            continue
        last = calls[-1]
        nth = len([c for c in calls if (c.method, c.adapter) == (last.method, last.adapter)])
        out.append(KillPoint(_row(steps, step.id, "after its last call"), step.id, last.method, nth, last.adapter))
        execs = [e for e in run.r.kube.execs if e.step == step.id and e.kind in ("restore", "dump")]
        seen: dict[tuple[str, str], int] = {}
        for c in calls:
            seen[(c.method, c.adapter)] = seen.get((c.method, c.adapter), 0) + 1
            found = _stream(run, c, execs)
            if found is not None and found[1] > 1:
                out.append(KillPoint(_row(steps, step.id, found[0]), step.id, c.method, seen[(c.method, c.adapter)],
                                     c.adapter, found[1] // 2))
    return out


def _inject(run: Run, point: KillPoint, dies: Callable[[], bool]) -> None:
    kw = {"at_byte": point.at_byte} if point.at_byte is not None else {"after": True}
    run.r.stage.inject(point.method, step=point.step, nth=point.nth, crash=True, dies=dies,
                       where=lambda c, a=point.adapter: c.adapter == a, **kw)


def _fail_the_restore(run: Run) -> None:
    """For the rollback matrix: psql runs the dump, then the restore is judged failed; the rollback runs."""
    restore = next(s.id for s in run.plan.steps if s.kind == "restore-dump")
    run.r.stage.inject("exec", step=restore, result=BAD_RESTORE,
                       where=lambda c: c.args["argv"][0] == "psql" and "ON_ERROR_STOP=1" not in c.args["argv"])


def _compare(got: dict, want: dict) -> str:
    differ = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
    if not differ:
        return SAME
    return "differs: " + ", ".join(differ[:3]) + (f" (+{len(differ) - 3})" if len(differ) > 3 else "")


def _carry_on(do: Callable[[], object]) -> str | None:
    try:
        do()
    except PgRestoreError as e:
        return f"{type(e).__name__}: {str(e)[:120]}"
    return None


def _carried_on(run: Run, matrix: str, want: dict) -> str:
    """In the process killed at a point: carry on as the README says, then compare with the undisturbed end."""
    run.r.crashed()
    if matrix == "rollback":
        failed = _carry_on(lambda: run.r.rollback(run.path))
        if failed is not None and failed.startswith(run.variant.rollback_ends[0] + ":"):
            failed = None  # ended as the undisturbed rollback ends
    else:
        failed = _carry_on(lambda: run.r.apply(run.path, resume=True))
    return failed or _compare(run.end(), want)


def _reference(run: Run, matrix: str) -> tuple[dict, list[KillPoint]]:
    """The undisturbed run: its end and its kill points."""
    ends, journal_status = run.variant.rollback_ends
    if matrix == "rollback":
        assert (_carry_on(lambda: run.r.apply(run.path)) or "").startswith(ends + ":")
    else:
        assert run.r.apply(run.path).startswith("restored")
    want = run.end()
    assert want["doubled rows"] == []
    journal_cm = JOURNAL_CM.replace("keycloak", run.variant.service)
    assert want[journal_cm] == {"journal_status": journal_status if matrix == "rollback" else "done"}
    return want, kill_points(run, run.plan.rollback if matrix == "rollback" else run.plan.steps)


def _sweep(run: Run, matrix: str, points: list[KillPoint], want: dict) -> list[str]:
    """The undisturbed run once more, every kill point armed: at each, this process forks. The child is the
    process killed there: it carries on and reports how that ended. This one runs on to the next point, its
    world, its journal and its folder as they were. So the run up to each kill point is made once, not once
    per kill point; each child's state is exactly the undisturbed run's at that point."""
    cells: dict[int, str] = {}
    killed_here: list[int] = []  # in a child: its kill point and where to report

    def dies_at(i: int) -> Callable[[], bool]:
        def dies() -> bool:
            if run.variant.local:  # files written mid-stream: else a child's exit writes their buffers again
                _flush_open_files()
            kept = _linked_copy(run.folder)
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(read)
                killed_here[:] = [i, write]
                return True
            os.close(write)
            cells[i] = _answer(read, pid)
            shutil.rmtree(run.folder)
            kept.rename(run.folder)  # the same files (inodes) this process may hold open
            return False
        return dies

    for i, point in enumerate(points):
        _inject(run, point, dies_at(i))
    try:
        run.r.apply(run.path)
    except Crash:
        if not killed_here:
            raise
        _report(killed_here[1], lambda: _carried_on(_disarmed(run), matrix, want))
    except PgRestoreError:
        pass  # the rollback matrix's run: the restore fails and the rollback runs
    return [cells.get(i, NOT_REACHED) for i in range(len(points))]


def _disarmed(run: Run) -> Run:
    """The other kill points are other processes' to die at."""
    run.r.stage.faults = [f for f in run.r.stage.faults if f.dies is None]
    return run


def _report(write: int, do: Callable[[], object]) -> None:
    """In a child: do(), hand its answer (or its traceback) to the parent, and end without the parent's exit."""
    try:
        answer: tuple[bool, object] = (True, do())
    except BaseException:  # noqa: BLE001 - the parent raises it
        answer = (False, traceback.format_exc())
    with os.fdopen(write, "wb") as out:
        pickle.dump(answer, out)
    os._exit(0)


def _answer(read: int, pid: int):
    with os.fdopen(read, "rb") as answers:
        data = answers.read()
    os.waitpid(pid, 0)
    if not data:
        raise AssertionError("the forked run died without an answer")
    ok, value = pickle.loads(data)
    if not ok:
        raise AssertionError(f"in the forked run:\n{value}")
    return value


def _in_a_fork(run: Run, do: Callable[[Run], T]) -> T:
    """do(run) in a child process: the run, its world and its folder here stay as they are."""
    kept = _linked_copy(run.folder)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        _report(write, lambda: do(run))
    os.close(write)
    try:
        return _answer(read, pid)
    finally:
        shutil.rmtree(run.folder)
        kept.rename(run.folder)


def _linked_copy(folder: Path) -> Path:
    """The folder's tree with hard links to its files: what a child replaces or deletes is put back by
    renaming this over it, the same inodes this process may have open."""
    kept = Path(tempfile.mkdtemp(prefix="kill-matrix-", dir=folder.parent))
    for path in sorted(folder.rglob("*")):
        target = kept / path.relative_to(folder)
        if path.is_dir():
            target.mkdir()
        else:
            os.link(path, target)
    return kept


def _flush_open_files() -> None:
    for obj in gc.get_objects():
        if isinstance(obj, io.BufferedWriter) and not obj.closed:
            obj.flush()


def matrix(matrix: str, workdir: Path, names: list[str]) -> dict[str, dict[str, str]]:
    """kill point row -> variant -> outcome, every kill point of these variants run, each from the same plan."""
    rows: dict[str, dict[str, str]] = {}
    for name in names:
        slug = "".join(ch if ch.isalnum() else "-" for ch in name)
        with pytest.MonkeyPatch.context() as mp:
            run = Run(VARIANTS[name], workdir / matrix / slug, mp)
            if matrix == "rollback":
                _fail_the_restore(run)
            want, points = _in_a_fork(run, lambda r: _reference(r, matrix))
            cells = _sweep(run, matrix, points, want)
        for point, cell in sorted(zip(points, cells, strict=True), key=lambda pc: _order(pc[0].row)):
            rows.setdefault(point.row, {})[name] = cell
    return rows


# The rows in the order a plan of any variant runs them.
ORDER = ["verify-backup", "check-prerequisites", "pin-backup",
         "suspend-backup-jobs", "safety-dump", "scale-workload #1",
         "rerun-job", "drop-databases", "delete-cluster", "create-cluster", "restore-dump", "grant-connect", "run-sql",
         "secrets-from-manifest", "alter-users", "restart-leader", "restart-members", "set-instances",
         "scale-workload #2", "rerun-job #1", "rerun-job #2", "rollout-restart", "manual #1", "manual #2",
         "resume-backup-jobs", "verify",
         "rollback: ensure-cluster", "rollback: drop-databases", "rollback: restore-dump",
         "rollback: secrets-from-manifest", "rollback: grant-connect", "rollback: restart-leader",
         "rollback: restart-members", "rollback: set-instances", "rollback: scale-workload",
         "rollback: resume-backup-jobs"]
WHEN = ["as it starts", "mid reading the backup", "mid reading the pinned copy", "mid reading the pinned manifest",
        "mid pg_dumpall's stdout", "mid uploading the safety dump", "mid uploading the safety manifest",
        "mid reading the safety dump", "mid the restore's stdin", "after its last call"]


def _order(row: str) -> tuple[int, int]:
    step, when = row.split(" · ")
    return ORDER.index(step), next(i for i, w in enumerate(WHEN) if when.startswith(w))


def _table(title: str, rows: dict[str, dict[str, str]], names: list[str]) -> str:
    lines = [f"#### {title}", "", "| kill point | " + " | ".join(names) + " |",
             "|---|" + "---|" * len(names)]
    for row, cells in rows.items():
        lines.append(f"| {row} | " + " | ".join(cells.get(n, "—") for n in names) + " |")
    return "\n".join(lines) + "\n"


def _publish(text: str, capsys) -> None:
    with capsys.disabled():
        print("\n" + text)
    if os.environ.get("PGRESTORE_KILL_MATRIX"):
        with open(os.environ["PGRESTORE_KILL_MATRIX"], "a") as f:
            f.write(text + "\n")


def _failures(rows: dict[str, dict[str, str]]) -> list[str]:
    return [f"{row} [{name}]: {cell}" for row, cells in rows.items() for name, cell in cells.items() if cell != SAME]


# One test per variant, so that pytest-xdist spreads the matrix over the cores; each prints its column.
@pytest.mark.parametrize("name", list(VARIANTS))
def test_a_kill_anywhere_in_apply_then_resume_ends_as_an_uninterrupted_apply(name, workdir, capsys):
    rows = matrix("apply", workdir, [name])
    _publish(_table(f"kill during apply, then `apply --resume`: end state vs. an uninterrupted apply ({name})",
                    rows, [name]), capsys)
    assert not _failures(rows), "\n".join(_failures(rows))


@pytest.mark.parametrize("name", list(VARIANTS))
def test_a_kill_anywhere_in_the_rollback_then_pgrestore_rollback_ends_as_an_uninterrupted_rollback(name, workdir,
                                                                                                    capsys):
    rows = matrix("rollback", workdir, [name])
    _publish(_table(f"kill during the rollback, then `pgrestore rollback`: end state vs. an uninterrupted rollback "
                    f"({name})", rows, [name]), capsys)
    assert not _failures(rows), "\n".join(_failures(rows))
