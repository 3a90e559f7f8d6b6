"""verify-backup: prove the backup is what was planned and is readable, before any change."""

from __future__ import annotations

from typing import cast

from pgrestore.contract.model import BackupRef, Step, from_dict
from pgrestore.contract.params import VerifyBackupParams
from pgrestore.core import dumps
from pgrestore.errors import BackupError

from ..context import Context
from ..support import manifest as manifest_files


def run(step: Step, ctx: Context) -> dict:
    b = from_dict(BackupRef, cast(VerifyBackupParams, step.params)["backup"])
    if b.source == "s3":
        assert ctx.s3 is not None and b.bucket is not None
        head = ctx.s3.head(b.bucket, b.key)
        if (head.size, head.etag) != (b.size, b.etag):
            raise BackupError(f"s3://{b.bucket}/{b.key} is now {head.size} bytes, ETag {head.etag}; "
                              f"planned {b.size} bytes, ETag {b.etag}: re-plan")
    progress = ctx.stream_progress(f"{b.key}, read through and checked", b.size)
    report = dumps.check(b, ctx.s3, progress.set)
    progress.finish()
    if report.bytes_raw != b.size:
        raise BackupError(f"{b.key}: read {report.bytes_raw} bytes, planned {b.size}; re-plan")
    if b.sha256 and report.sha256 != b.sha256:
        raise BackupError(f"{b.key} changed since planning (sha256); re-plan")
    secrets, manifest_sha256 = manifest_files.load_planned(ctx, b)
    ctx.manifest = secrets
    return {"bytes": report.bytes_raw, "sql_bytes": report.bytes_sql, "sha256": report.sha256, "rows": report.rows,
            "manifest_sha256": manifest_sha256}
