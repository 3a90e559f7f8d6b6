"""restore-volume: a volume tar extracted into the running client — `tar -C / -xf -` in its
container, as restore_vcs.sh runs it after Gitea is scaled back (it copies the tar in first; we
stream it). The archive is read exactly once, into a private copy (a fresh 0700 folder, the file
0600) while its sha256 is computed; only when that matches the planned sha256 (or the one the safety
step recorded) is the copy extracted. So what lands is the bytes plan checked member by member
(core/volume_archive.py), never a file changed or swapped between the check and the read, and a
changed file never half-lands.

In a rollback it runs only if the forward restore had started (`only_if_started`)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import cast

from pgrestore.contract.model import Location, Step, from_dict
from pgrestore.contract.params import RestoreVolumeParams
from pgrestore.core.dumps import file_chunks, location_chunks
from pgrestore.errors import StepFailed

from ..context import Context
from ..support.volume import first_error, ready_pod


def run(step: Step, ctx: Context) -> dict:
    t, p = step.target, cast(RestoreVolumeParams, step.params)
    started = p["only_if_started"]
    if started and all(ctx.journal.status_of(s) == "pending" for s in started):
        return {"restored": False}
    loc = from_dict(Location, p["archive"])
    want = p["sha256"]
    if want is None and p["verified_by"] is not None:  # an archive this apply wrote: the sha256 it recorded
        want = ctx.journal.observed(p["verified_by"]).get("sha256")
    with tempfile.TemporaryDirectory(prefix="pgrestore-volume-") as folder:  # mkdtemp: 0700, fresh
        copy = Path(folder) / "volume.tar"
        got = _pinned_copy(loc, ctx, copy)
        if got != want:
            raise StepFailed(f"{loc.url()} changed since it was {'planned' if p['sha256'] else 'written'} (sha256 "
                             f"{got[:12]}…, expected {str(want)[:12]}…); nothing was extracted")
        pod = ready_pod(step, ctx)
        res = ctx.kube.exec(t.namespace, pod, p["container"], ["tar", "-C", "/", "-xf", "-"],
                            stdin=file_chunks(str(copy)), deadline=ctx.deadline)
    if res.returncode != 0:
        raise StepFailed(f"tar -xf into {t.namespace}/{pod} failed: {first_error(res.stderr, res.returncode)}")
    return {"restored": True, "pod": pod, "archive": loc.url()}


def _pinned_copy(loc: Location, ctx: Context, copy: Path) -> str:
    """Copy the archive to `copy` (0600), streamed; the sha256 of the bytes copied."""
    sha = hashlib.sha256()
    try:
        with os.fdopen(os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
            for chunk in location_chunks(loc, ctx.s3):
                sha.update(chunk)
                out.write(chunk)
    except OSError as e:
        raise StepFailed(f"cannot copy {loc.url()} into {copy.parent} to check it before extracting ({e.strerror}); "
                         f"point TMPDIR at a folder with room for it and resume; nothing was extracted") from None
    return sha.hexdigest()
