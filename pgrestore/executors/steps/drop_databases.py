"""drop-databases: in the Patroni leader, revoke CONNECT on each database, end its other sessions
and drop it (restore_sls_postgres_from_backup.sh, csm-procedures.md §2.3). The resource, its
members and its secrets stay.

REVOKE keeps the application's roles out; superuser sessions (Patroni, CSM's postgres_exporter,
which connects to every database) are not kept out by it and come back within seconds, so the
terminate and the DROP go in one script and a DROP that still meets a session is tried again.
Dropping what is already gone is no error: a resume after a crash drops again, then restores.

As a rollback step (`only_if_started`): only if the forward drop was started; otherwise the
databases were never touched and it observes dropped=false, so the safety dump is not restored.
"""

from __future__ import annotations

import time
from typing import cast

from pgrestore.adapters.psql import ident, literal
from pgrestore.contract.model import Step
from pgrestore.contract.params import DropDatabasesParams
from pgrestore.core import pods
from pgrestore.errors import PsqlError, StepFailed

from ..context import Context
from ..support.databases import existing

ATTEMPTS = 5
IN_USE = "is being accessed by other users"


def drop_script(name: str) -> str:
    """The SQL run for one database (also what `pgrestore show` prints)."""
    return (f"REVOKE CONNECT ON DATABASE {ident(name)} FROM PUBLIC;\n"
            f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            f"WHERE datname = {literal(name)} AND pid <> pg_backend_pid();\n"
            f"DROP DATABASE IF EXISTS {ident(name)};")


def _drop(ctx: Context, ns: str, leader: str, name: str) -> None:
    script = drop_script(name)
    for attempt in range(1, ATTEMPTS + 1):
        try:
            ctx.psql.run(ns, leader, script, deadline=ctx.deadline)
            return
        except PsqlError as e:
            if IN_USE not in str(e) or attempt == ATTEMPTS:
                raise StepFailed(f"could not drop database {name} in {ns}/{leader}: {e}") from None
            time.sleep(min(ctx.remaining(), 0.5 * attempt))


def run(step: Step, ctx: Context) -> dict:
    t, p = step.target, cast(DropDatabasesParams, step.params)
    started = p["only_if_started"]
    if started and all(ctx.journal.status_of(i) == "pending" for i in started):
        return {"dropped": False, "databases": []}
    leader = pods.find_leader(ctx.kube, t.namespace, t.name, ctx.deadline)
    found = existing(ctx, t.namespace, leader, p["databases"])
    for name in found:
        _drop(ctx, t.namespace, leader, name)
    return {"dropped": True, "databases": found, "leader": leader}
