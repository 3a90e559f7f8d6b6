"""restore-volume: a volume tar extracted into the running client — `tar -C / -xf -` in its
container, as restore_vcs.sh runs it after Gitea is scaled back (it copies the tar in first; we
stream it). The archive's bytes are checked against the planned sha256 (or the one the safety
step recorded) before anything is extracted, so a changed file never half-lands.

In a rollback it runs only if the forward restore had started (`only_if_started`)."""

from __future__ import annotations

import hashlib

from core.dumps import location_chunks
from core.errors import StepFailed
from core.model import Location, Step, from_dict

from ..context import Context
from ._volume import first_error, ready_pod


def run(step: Step, ctx: Context) -> dict:
    t, p = step.target, step.params
    started = p["only_if_started"]
    if started and all(ctx.journal.status_of(s) == "pending" for s in started):
        return {"restored": False}
    loc = from_dict(Location, p["archive"])
    want = p["sha256"] or ctx.journal.observed(p["verified_by"]).get("sha256")
    sha = hashlib.sha256()
    for chunk in location_chunks(loc, ctx.s3):
        sha.update(chunk)
    if sha.hexdigest() != want:
        raise StepFailed(f"{loc.url()} changed since it was {'planned' if p['sha256'] else 'written'} (sha256 "
                         f"{sha.hexdigest()[:12]}…, expected {str(want)[:12]}…); nothing was extracted")
    pod = ready_pod(step, ctx)
    res = ctx.kube.exec(t.namespace, pod, p["container"], ["tar", "-C", "/", "-xf", "-"],
                        stdin=location_chunks(loc, ctx.s3), deadline=ctx.deadline)
    if res.returncode != 0:
        raise StepFailed(f"tar -xf into {t.namespace}/{pod} failed: {first_error(res.stderr, res.returncode)}")
    return {"restored": True, "pod": pod, "archive": loc.url()}
