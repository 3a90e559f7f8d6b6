"""The backup's manifest, read and proven to be the one planned, secret by secret."""

from __future__ import annotations

from pathlib import Path

from core.dumps import sha256_file
from core.errors import BackupError
from core.manifest import ManifestSecret, parse_manifest
from core.model import BackupRef
from core.observe import digest

from ..context import Context


def load(ctx: Context, backup: BackupRef) -> tuple[ManifestSecret, ...]:
    m = backup.manifest
    if m is None:
        return ()
    if ctx.manifest is not None:
        return ctx.manifest
    if backup.source == "s3":
        assert ctx.s3 is not None and backup.bucket is not None
        head = ctx.s3.head(backup.bucket, m.key)
        if head.etag != m.etag:
            raise BackupError(f"manifest {m.key} changed since planning (ETag {head.etag}); re-plan")
        text = ctx.s3.read_small(backup.bucket, m.key).decode(errors="replace")
    else:
        path = Path(m.key)
        if not path.is_file() or sha256_file(path) != m.sha256:
            raise BackupError(f"manifest {m.key} is gone or changed since planning; re-plan")
        text = path.read_text()
    secrets = parse_manifest(text, m.key)
    planned = {s.name: s.password_digest for s in m.secrets}
    if {s.name: digest(ctx.plan.digest_salt, s.password) for s in secrets} != planned:
        raise BackupError(f"manifest {m.key} does not hold the secrets planned; re-plan")
    ctx.manifest = secrets
    return secrets
