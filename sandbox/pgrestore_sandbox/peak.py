"""A pgrestore command run as a child process, with its own peak memory.

Why not wait4's ru_maxrss: Python's subprocess starts a child with vfork(), and Linux's exec records the
high-water mark of the mm it leaves, which under vfork is the *parent's*: a CLI started from a pytest or a
benchmark process of 230 MiB reports at least 230 MiB (kernel fs/exec.c exec_mmap, setmax_mm_hiwater_rss).
Instead the child reports its own VmHWM (/proc/self/status: the peak RSS of the program it runs, counted
from its exec) when it exits, from an atexit hook of a launcher that runs `python -m pgrestore.cli`.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

_LAUNCHER = """\
import atexit, runpy, sys
report = sys.argv.pop(1)
def peak():
    with open('/proc/self/status') as status:
        kib = next(line.split()[1] for line in status if line.startswith('VmHWM:'))
    with open(report, 'w') as out:
        out.write(kib)
atexit.register(peak)
sys.argv[0] = 'pgrestore'
runpy.run_module('pgrestore.cli', run_name='__main__', alter_sys=True)
"""


def run_with_peak(args: list[str], env: dict[str, str], stdout=subprocess.DEVNULL) -> tuple[int, float, str]:
    """(exit code, the command's peak RSS in MiB, its stderr)."""
    with tempfile.NamedTemporaryFile(prefix="pgrestore-peak-") as report:
        res = subprocess.run([sys.executable, "-c", _LAUNCHER, report.name, *args], env=env, stdout=stdout,
                             stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        kib = Path(report.name).read_text().strip()
    return res.returncode, int(kib) / 1024 if kib else float("nan"), res.stderr.decode(errors="replace")
