"""`pgrestore` run as a process of its own, for tests that check what a user sees at the terminal.

Starting Python and importing kubernetes and boto3 takes about 1.2 s a run; a test of a one-line
refusal takes milliseconds. So each run is forked from a process that has imported pgrestore once
(tests/cli_zygote.py, one per test worker): the child is a real process running the real entry point
with the test's argv, environment, folder and stdin, its stdout and stderr read from its file
descriptors, its exit code as the interpreter's shutdown leaves it. What this leaves out, starting
the interpreter and importing our modules, is run for real by scripts/check-install.sh on a bare
install and by the sandbox tests that signal apply or read it while it runs (their own processes).

Retries keep their number but wait milliseconds instead of seconds (QUICK_RETRIES): an unreachable API
server is still tried five times before exit 69. tests/faults/test_retry_policy.py holds the real waits.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUICK_RETRIES = {
    "pgrestore.adapters.kube.BACKOFF_FIRST": 0.005, "pgrestore.adapters.kube.BACKOFF_CAP": 0.02,
    # botocore's own backoff (standard mode: up to 2**attempt s) cannot be scaled: one retry, not four
    "pgrestore.adapters.s3.RETRIES": {"mode": "standard", "total_max_attempts": 2},
}


def fresh_home() -> str:
    """A HOME of its own for one pgrestore run (its crash logs and kube caches land there), inside this
    session's basetemp: the leak scan reads it, and pytest removes it with old basetemps."""
    return tempfile.mkdtemp(prefix="home-", dir=os.environ.get("PGRESTORE_TEST_HOMES"))


class _Zygote:
    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.cli_zygote"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, cwd=ROOT, text=True, bufsize=1,
                                     env={**os.environ, "PYTHONPATH": str(ROOT)})
        atexit.register(self.proc.kill)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def answer(self, timeout: float | None) -> dict:
        assert self.proc.stdout is not None
        if timeout is not None and not select.select([self.proc.stdout], [], [], timeout)[0]:
            raise TimeoutError
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the pgrestore zygote ended (exit {self.proc.wait()})")
        return json.loads(line)

    def run(self, request: dict, timeout: float) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        pid = self.answer(None)["pid"]
        try:
            status = self.answer(timeout)["status"]
        except TimeoutError:
            os.kill(pid, signal.SIGUSR2)  # where it hangs, in its stderr (tests/cli_zygote.py)
            time.sleep(1)
            os.kill(pid, signal.SIGKILL)
            self.answer(None)
            err = Path(request["stderr"]).read_bytes().decode(errors="replace")[-20000:]
            print(f"pgrestore {' '.join(request['argv'])} timed out after {timeout} s; its stderr ends:\n{err}",
                  file=sys.stderr)  # in the test's report
            raise subprocess.TimeoutExpired(["pgrestore", *request["argv"]], timeout, stderr=err) from None
        return os.waitstatus_to_exitcode(status)


_zygote: _Zygote | None = None


def run(argv: list[str], env: dict[str, str], cwd: Path | str = ROOT, input: str | None = None,
        timeout: float = 120, quick_retries: bool = True) -> subprocess.CompletedProcess:
    """Run `pgrestore ARGV` as its own process; returns what subprocess.run(..., text=True) would.
    quick_retries=False keeps the real retry waits (the sandbox tests, whose faults are timed)."""
    global _zygote
    if _zygote is None or not _zygote.alive():
        _zygote = _Zygote()
    with tempfile.TemporaryDirectory(prefix="pgrestore-run-") as tmp:
        stdin, stdout, stderr = (Path(tmp) / name for name in ("stdin", "stdout", "stderr"))
        stdin.write_text(input or "")
        stdout.touch()
        stderr.touch()
        code = _zygote.run({"argv": [str(a) for a in argv], "env": env, "cwd": str(cwd), "stdin": str(stdin),
                            "stdout": str(stdout), "stderr": str(stderr),
                            "constants": QUICK_RETRIES if quick_retries else {}},
                            timeout)
        out, err = (p.read_bytes().decode(errors="replace") for p in (stdout, stderr))
    args = [sys.executable, "-m", "pgrestore.cli", *map(str, argv)]
    _observed(args, out, err)
    return subprocess.CompletedProcess(args, code, out, err)


def _observed(args: list[str], out: str, err: str) -> None:
    """Hand the run's output to the session's leak scan, as its subprocess hook does for other runs."""
    leakscan = sys.modules.get("tests.leakscan")
    if leakscan is not None:
        leakscan.observe_pgrestore(args, out, err)
