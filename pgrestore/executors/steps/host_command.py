"""host-command: run a command on the admin node where apply runs — `pdsh -S -w <nodes> CMD` for
every management node — and check every exit status and, if the step says so, the output.

pdsh prefixes each line with `<host>: ` and, with -S, exits with the largest remote exit status
(pdsh(1), pdsh 2.x); a node it cannot reach makes it exit non-zero too. The output is the nodes'
own, never a secret of ours; the journal keeps only its last lines.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import cast

from pgrestore.contract.model import Step
from pgrestore.contract.params import HostCommandParams
from pgrestore.errors import StepFailed

from ..context import Context

TAIL_LINES = 5


def run(step: Step, ctx: Context) -> dict:
    p = cast(HostCommandParams, step.params)
    argv, hosts, expect = p["argv"], p["hosts"], p["expect_output"]
    if shutil.which(argv[0]) is None:
        raise StepFailed(f"{argv[0]} is not installed on this machine; run apply on the admin node, or re-plan "
                         f"with --no-host-steps to do this step by hand")
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=ctx.remaining(),
                              stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        raise StepFailed(f"`{argv[0]}` did not finish within the step's {step.timeout_seconds} s") from None
    tail = _tail(done.stdout + done.stderr)
    if done.returncode != 0:
        raise StepFailed(f"`{_shown(argv)}` exited {done.returncode}: {tail or 'no output'}")
    if expect:
        missing = _not_matching(done.stdout, hosts, expect)
        if missing:
            raise StepFailed(f"`{_shown(argv)}`: no output matching /{expect}/ from {', '.join(missing)}")
    return {"exit_status": 0, "hosts": len(hosts), "output_tail": tail}


def _not_matching(output: str, hosts: list[str], expect: str) -> list[str]:
    """The hosts whose lines do not match (pdsh's `<host>: ` prefix); without hosts, the whole output."""
    pattern = re.compile(expect)
    if not hosts:
        return [] if pattern.search(output) else ["the admin node"]
    by_host: dict[str, list[str]] = {h: [] for h in hosts}
    for line in output.splitlines():
        host, sep, rest = line.partition(": ")
        if sep and host in by_host:
            by_host[host].append(rest)
    return [h for h, lines in by_host.items() if not pattern.search("\n".join(lines))]


def _tail(text: str) -> str:
    return " | ".join(text.strip().splitlines()[-TAIL_LINES:])


def _shown(argv: list[str]) -> str:
    return " ".join(argv[:1] + argv[-1:])
