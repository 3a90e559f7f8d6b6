"""safety-dump: the live cluster as it is, before anything destructive: `pg_dumpall -c` from the
leader streamed out (never held in memory) and checked like any backup, plus its credential
secrets as a manifest. It is what the rollback puts back after a failure past the delete."""

from __future__ import annotations

import hashlib
import time
from typing import cast

from pgrestore.contract.model import Location, Step, from_dict
from pgrestore.contract.params import SafetyDumpParams
from pgrestore.core import pods
from pgrestore.core.dumps import DumpWriter
from pgrestore.core.manifest import render_manifest
from pgrestore.errors import StepFailed

from ..context import Context
from ..support.artifacts import open_sink, write_all


def _dump(ctx: Context, ns: str, leader: str, loc: Location) -> dict:
    check, sink, started = DumpWriter(loc.url()), open_sink(ctx, loc), time.monotonic()
    progress = ctx.stream_progress(f"pg_dumpall -c of {leader} to {loc.url()}", None)  # its size is not known ahead

    def out(data: bytes) -> None:
        check.feed(data)
        sink.write(data)
        progress.add(len(data))
    try:
        res = ctx.kube.exec(ns, leader, "postgres", ["pg_dumpall", "-c", "-U", "postgres"], deadline=ctx.deadline,
                            on_stdout=out)
        if res.returncode != 0:
            first = next((line for line in res.stderr.splitlines() if line.strip()), f"exit {res.returncode}")
            raise StepFailed(f"pg_dumpall in {ns}/{leader} failed: {first}")
        progress.finish()
        report = check.finish()  # header and completion trailer: a cut stream is never a safety dump
    except BaseException:
        sink.abort()
        raise
    sink.close()
    return {"bytes": report.bytes_raw, "sha256": report.sha256, "rows": report.rows,
            "stream_seconds": round(time.monotonic() - started, 3)}


def run(step: Step, ctx: Context) -> dict:
    t, p = step.target, cast(SafetyDumpParams, step.params)
    leader = pods.find_leader(ctx.kube, t.namespace, t.name, ctx.deadline)
    dump = from_dict(Location, p["dump"])
    observed = {"leader": leader, "dump": dump.url(), **_dump(ctx, t.namespace, leader, dump)}
    secrets = []
    for name in p["secrets"]:
        secret = ctx.kube.read_secret(t.namespace, name)
        if secret is None:
            raise StepFailed(f"secret {t.namespace}/{name} is missing; the safety manifest needs it")
        secrets.append(secret)
    body = render_manifest(secrets).encode()
    write_all(ctx, from_dict(Location, p["manifest"]), [body])
    observed["manifest_sha256"] = hashlib.sha256(body).hexdigest()
    return observed
