"""pin-backup: copy the verified backup where no backup job deletes it, and prove the copy.

A CSM backup run deletes every older pair of its cluster; the pinned copy under the
bucket's pgrestore/ prefix (or in --pin-dir) is what the restore then reads.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import cast

from pgrestore.contract.model import BackupRef, Location, Step, from_dict
from pgrestore.contract.params import PinBackupParams
from pgrestore.core.dumps import location_chunks
from pgrestore.errors import BackupError

from ..context import Context
from ..support.artifacts import write_all


def _copy(ctx: Context, source: Location, target: Location, etag: str | None) -> None:
    if source.source == "s3" and target.source == "s3" and source.bucket == target.bucket:
        assert ctx.s3 is not None and source.bucket is not None
        ctx.s3.copy(source.bucket, source=source.key, target=target.key, if_match=etag)  # server-side
        return
    write_all(ctx, target, location_chunks(source, ctx.s3))


def _digest(chunks: Iterable[bytes]) -> tuple[int, str]:
    """A copy read through: its size and sha256."""
    sha, read = hashlib.sha256(), 0
    for chunk in chunks:
        sha.update(chunk)
        read += len(chunk)
    return read, sha.hexdigest()


def run(step: Step, ctx: Context) -> dict:
    p = cast(PinBackupParams, step.params)
    backup, pinned = from_dict(BackupRef, p["backup"]), from_dict(Location, p["pinned"])
    verified = ctx.journal.observed(p["verified_by"])
    _copy(ctx, Location(backup.source, backup.bucket, backup.key), pinned, backup.etag)
    progress = ctx.stream_progress(f"{pinned.url()}, read back and checked", verified["bytes"])
    size, sha = _digest(progress.counted(location_chunks(pinned, ctx.s3)))
    progress.finish()
    if (size, sha) != (verified["bytes"], verified["sha256"]):
        raise BackupError(f"the pinned copy {pinned.url()} is not the backup verified ({size} bytes); try again")
    observed = {"pinned": pinned.url(), "bytes": size, "sha256": sha, "manifest_sha256": None}
    if p["pinned_manifest"] is not None:
        assert backup.manifest is not None
        manifest = from_dict(Location, p["pinned_manifest"])
        _copy(ctx, Location(backup.source, backup.bucket, backup.manifest.key), manifest, backup.manifest.etag)
        _, manifest_sha = _digest(location_chunks(manifest, ctx.s3))
        if manifest_sha != verified.get("manifest_sha256"):
            raise BackupError(f"the pinned manifest {manifest.url()} is not the one verified; try again")
        observed["manifest_sha256"] = manifest_sha
    return observed
