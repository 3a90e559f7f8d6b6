"""restore-dump: stream the dump into psql in the Patroni leader; judge what psql says by the
object and phase each error belongs to; then compare row counts with the dump."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import cast

from pgrestore.adapters.psql import scrub
from pgrestore.contract.model import Location, Step, from_dict
from pgrestore.contract.params import RestoreDumpParams
from pgrestore.core import pods
from pgrestore.core.dumps import VerifiedStream
from pgrestore.core.restore_errors import DumpIndex, judge
from pgrestore.errors import StepFailed

from ..context import Context


def run(step: Step, ctx: Context) -> dict:
    t, p = step.target, cast(RestoreDumpParams, step.params)
    dump = from_dict(Location, p["dump"])
    verified = ctx.journal.observed(p["verified_by"])
    leader = pods.find_leader(ctx.kube, t.namespace, t.name, ctx.deadline)
    index, sent = DumpIndex(), [0]

    def indexed(chunks: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            index.feed(chunk)  # the same bytes psql reads, so its line numbers map to objects
            sent[0] += len(chunk)
            yield chunk

    # The SQL sent into psql, of the dump's SQL (a gzip dump's is larger than the file; the check recorded it).
    sql_bytes = ctx.journal.observed(p["rows_from"]).get("sql_bytes") or verified["bytes"]
    progress = ctx.stream_progress(f"{dump.url()} into psql in {leader}", sql_bytes)
    stream = VerifiedStream(dump, p["format"], ctx.s3, verified["bytes"], verified["sha256"])
    started = time.monotonic()
    result = ctx.psql.restore(t.namespace, leader, indexed(stream), ctx.deadline, on_sent=progress.add)
    progress.finish()
    streamed = round(time.monotonic() - started, 3)
    secrets = [s.password for s in ctx.manifest or ()]
    verdict = judge(scrub(result.stderr, secrets), index)
    observed = {"leader": leader, "bytes_sent": sent[0], "stream_seconds": streamed, "exit_code": result.returncode,
                "benign_errors": len(verdict.benign), "unexpected_errors": verdict.unexpected[:20]}
    if result.returncode != 0 or verdict.unexpected:
        first = verdict.unexpected[0] if verdict.unexpected else f"psql exited with {result.returncode}"
        raise StepFailed(f"restore into {t.namespace}/{leader} failed: {first} "
                         f"({len(verdict.unexpected)} unexpected error(s); the journal lists them)", observed)
    stream.check_complete()  # the bytes restored are the bytes verified
    # Count rows now, before clients and setup jobs start writing to the database.
    observed["tables_checked"] = check_row_counts(ctx, t.namespace, leader,
                                                  ctx.journal.observed(p["rows_from"]).get("rows") or {})
    return observed


def check_row_counts(ctx: Context, ns: str, leader: str, expected: dict[str, dict[str, int]]) -> int:
    problems, checked = [], 0
    for db, tables in sorted(expected.items()):
        if not tables:
            continue
        live = ctx.psql.row_counts(ns, leader, db, tables, deadline=ctx.deadline)
        for table, n in sorted(tables.items()):
            checked += 1
            if live.get(table) != n:
                problems.append(f"{db}.{table}: {live.get(table)} rows, the dump has {n}")
    if problems:
        raise StepFailed(f"restored data does not match the dump: {problems[0]}"
                         + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""))
    return checked
