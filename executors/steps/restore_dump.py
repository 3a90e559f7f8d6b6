"""restore-dump: stream the dump into psql in the new leader; classify what psql says."""

from __future__ import annotations

from pgrestore.errors import StepFailed

from .. import dumpfile
from ..context import Context


def run(step: dict, ctx: Context) -> dict:
    pod = f"{ctx.cluster}-0"
    sent = 0

    def counted(chunks):
        nonlocal sent
        for chunk in chunks:
            sent += len(chunk)
            yield chunk

    stream = dumpfile.VerifiedStream(ctx.plan["backup"], ctx.s3)
    outcome = ctx.psql.restore(ctx.ns, pod, counted(stream))
    observed = {"bytes_sent": sent, "exit_code": outcome.returncode, "benign_errors": len(outcome.benign),
                "unexpected_errors": outcome.unexpected[:20]}
    if not outcome.ok:
        first = outcome.unexpected[0] if outcome.unexpected else f"psql exited with {outcome.returncode}"
        raise StepFailed(f"restore into {ctx.ns}/{pod} failed: {first} "
                         f"({len(outcome.unexpected)} unexpected error(s); see the journal)")
    stream.check_complete()  # the bytes restored are the bytes verified
    # Count rows now, before clients and setup jobs start writing to the database.
    observed["tables_checked"] = check_row_counts(ctx)
    return observed


def check_row_counts(ctx: Context) -> int:
    verify_id = next(s["id"] for s in ctx.plan["steps"] if s["kind"] == "verify-backup")
    expected = ctx.journal.observed(verify_id).get("rows") or {}
    problems, checked = [], 0
    for db, tables in sorted(expected.items()):
        if not tables:
            continue
        live = ctx.psql.row_counts(ctx.ns, f"{ctx.cluster}-0", db, tables)
        for table, n in sorted(tables.items()):
            checked += 1
            if live.get(table) != n:
                problems.append(f"{db}.{table}: {live.get(table)} rows, the dump has {n}")
    if problems:
        raise StepFailed(f"restored data does not match the dump: {problems[0]}"
                         + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""))
    return checked
