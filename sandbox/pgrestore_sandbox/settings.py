"""How harsh a sandbox is: switches kept in <state>/settings.json.

`sandbox up` writes them (only the flags given; the rest keep their stored values); the
daemon re-reads the file on every pass, so a change applies to a running sandbox without
a restart. That is also how a test shortens the resync period for itself and puts it back.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, fields, replace

from .paths import StateDir

TIMING_PROFILES = ("fast", "realistic")


@dataclass(frozen=True)
class Settings:
    # Patroni's session in `postgres` and the exporter's idle session in every database.
    held_sessions: bool = True
    # The operator's periodic Sync. CSM sets resync_period: 5m (cray-postgres-operator values.yaml);
    # a minute keeps rehearsals short while still leaving a status stale for a long time.
    resync_seconds: float = 60.0
    # "fast": everything instant; "realistic": the delays in sandbox/timing.py.
    timing: str = "fast"
    # How long Create waits for Ready pods and a database login before CreateFailed. The real
    # operator waits resource_check_timeout (10m) plus PostgresConnectRetryTimeout (2m).
    create_timeout_seconds: float = 120.0
    # A drill: every exec into a Spilo pod waits this long before its command starts and reads
    # nothing meanwhile, as an exec stream does when the API VIP or a kubelet stops answering.
    exec_stall_seconds: float = 0.0
    # A drill: every exec into a Spilo pod passes at most this many bytes a second each way (its
    # stdin, and its stdout and stderr each), as over a congested link to a busy worker node. Tests
    # use it to catch a restore or a safety dump mid-stream (tests/apply/test_kill_points.py). 0: off.
    exec_bytes_per_second: float = 0.0
    # The backup CronJobs fire on their CSM schedules (kube-controller-manager's cronjob
    # controller, in its local time). Off: a Job the controller made on schedule runs and
    # succeeds without doing anything, so a session that crosses e.g. 02:10 is not disturbed;
    # manual runs (`sandbox backup-job`, `kubectl create job --from=cronjob/…`) always back up.
    scheduled_backups: bool = True
    # A drill: on these hosts `systemctl restart spire-agent` fails as systemd reports a failed
    # unit (sandbox/hosts.py), so a host step's failure can be rehearsed.
    failing_hosts: tuple[str, ...] = ()


def load(state: StateDir) -> Settings:
    try:
        stored = json.loads(state.settings.read_text())
    except (FileNotFoundError, ValueError):
        stored = {}
    known = {f.name for f in fields(Settings)}
    return Settings(**{k: v for k, v in stored.items() if k in known})


def update(state: StateDir, **changes) -> Settings:
    """Store the given (not None) values over the current ones."""
    given = {k: v for k, v in changes.items() if v is not None}
    if given.get("timing", "fast") not in TIMING_PROFILES:
        raise ValueError(f"timing must be one of {', '.join(TIMING_PROFILES)}")
    new = replace(load(state), **given)
    fd, tmp = tempfile.mkstemp(dir=state.root, prefix=".settings.")
    with os.fdopen(fd, "w") as f:
        json.dump(asdict(new), f, indent=2)
    os.replace(tmp, state.settings)
    return new
