"""safety-volume: the client's data volume as it is, before anything changes — `tar -C / -cf -
<path>` in the running client's container (backup_vcs.sh's command, streamed instead of copied
out of /tmp), written where the plan says and recorded by size and sha256 for the rollback."""

from __future__ import annotations

import hashlib
from typing import cast

from pgrestore.contract.model import Location, Step, from_dict
from pgrestore.contract.params import SafetyVolumeParams
from pgrestore.errors import StepFailed

from ..context import Context
from ..support.artifacts import open_sink
from ..support.volume import first_error, ready_pod


def run(step: Step, ctx: Context) -> dict:
    t, p = step.target, cast(SafetyVolumeParams, step.params)
    pod = ready_pod(step, ctx)
    loc = from_dict(Location, p["archive"])
    sink, sha, size = open_sink(ctx, loc), hashlib.sha256(), 0

    def out(data: bytes) -> None:
        nonlocal size
        sha.update(data)
        size += len(data)
        sink.write(data)
    try:
        res = ctx.kube.exec(t.namespace, pod, p["container"], ["tar", "-C", "/", "-cf", "-", p["path"].strip("/")],
                            deadline=ctx.deadline, on_stdout=out)
        if res.returncode != 0:
            why = first_error(res.stderr, res.returncode)
            raise StepFailed(f"tar of {p['path']} in {t.namespace}/{pod} failed: {why}")
        if size == 0:
            raise StepFailed(f"tar of {p['path']} in {t.namespace}/{pod} wrote nothing; the safety tar would be empty")
    except BaseException:
        sink.abort()
        raise
    sink.close()
    return {"pod": pod, "archive": loc.url(), "bytes": size, "sha256": sha.hexdigest()}
