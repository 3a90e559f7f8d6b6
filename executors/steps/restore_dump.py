"""restore-dump: stream the dump into psql in the new leader; classify what psql says."""

from __future__ import annotations

from pgrestore.errors import BackupError, StepFailed

from .. import dumpfile
from ..context import Context


def _still_as_planned(ctx: Context) -> None:
    """On resume verify-backup may have run in another process: the object must not have changed since."""
    b = ctx.plan["backup"]
    if b["source"] == "s3":
        head = ctx.s3.head(b["bucket"], b["key"])
        if (head.size, head.etag) != (b["size"], b["etag"]):
            raise BackupError(f"s3://{b['bucket']}/{b['key']} changed since it was verified; re-plan")


def run(step: dict, ctx: Context) -> dict:
    _still_as_planned(ctx)
    pod = f"{ctx.cluster}-0"
    sent = 0

    def counted():
        nonlocal sent
        for chunk in dumpfile.sql_chunks(ctx.plan["backup"], ctx.s3):
            sent += len(chunk)
            yield chunk

    outcome = ctx.psql.restore(ctx.ns, pod, counted())
    observed = {"bytes_sent": sent, "exit_code": outcome.returncode, "benign_errors": len(outcome.benign),
                "unexpected_errors": outcome.unexpected[:20]}
    if not outcome.ok:
        first = outcome.unexpected[0] if outcome.unexpected else f"psql exited with {outcome.returncode}"
        raise StepFailed(f"restore into {ctx.ns}/{pod} failed: {first} "
                         f"({len(outcome.unexpected)} unexpected error(s); see the journal)")
    return observed
