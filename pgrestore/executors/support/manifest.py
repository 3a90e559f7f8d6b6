"""Manifests of credential secrets: read one and prove it is the one a step checked."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pgrestore.contract.model import BackupRef, Location
from pgrestore.core.manifest import ManifestSecret, parse_manifest
from pgrestore.core.observe import digest
from pgrestore.errors import BackupError

from ..context import Context


def read(ctx: Context, loc: Location) -> bytes:
    if loc.source == "s3":
        assert ctx.s3 is not None and loc.bucket is not None
        return ctx.s3.read_small(loc.bucket, loc.key)
    path = Path(loc.key)
    if not path.is_file():
        raise BackupError(f"manifest {loc.key} is gone; re-plan")
    return path.read_bytes()


def load_checked(ctx: Context, loc: Location, sha256: str) -> tuple[ManifestSecret, ...]:
    """The manifest at loc, if its bytes are the ones a step verified."""
    body = read(ctx, loc)
    if hashlib.sha256(body).hexdigest() != sha256:
        raise BackupError(f"manifest {loc.url()} is not the one that was verified; re-plan")
    return parse_manifest(body.decode(errors="replace"), loc.url())


def load_planned(ctx: Context, backup: BackupRef) -> tuple[tuple[ManifestSecret, ...], str | None]:
    """The backup's manifest, proven to hold the secrets planned (by their keyed digests)."""
    m = backup.manifest
    if m is None:
        return (), None
    loc = Location(backup.source, backup.bucket, m.key)
    if backup.source == "s3":
        assert ctx.s3 is not None and backup.bucket is not None
        head = ctx.s3.head(backup.bucket, m.key)
        if head.etag != m.etag:
            raise BackupError(f"manifest {m.key} changed since planning (ETag {head.etag}); re-plan")
    body = read(ctx, loc)
    if m.sha256 and hashlib.sha256(body).hexdigest() != m.sha256:
        raise BackupError(f"manifest {m.key} changed since planning; re-plan")
    secrets = parse_manifest(body.decode(errors="replace"), m.key)
    planned = {s.name: s.password_digest for s in m.secrets}
    if {s.name: digest(ctx.plan.digest_salt, s.password) for s in secrets} != planned:
        raise BackupError(f"manifest {m.key} does not hold the secrets planned; re-plan")
    return secrets, hashlib.sha256(body).hexdigest()
