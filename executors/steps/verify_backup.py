"""verify-backup: prove the backup is what was planned and is readable, before any change."""

from __future__ import annotations

from pathlib import Path

from pgrestore.errors import BackupError
from pgrestore.plan import digest
from pgrestore.snapshot import parse_manifest, sha256_file

from .. import dumpfile
from ..context import Context


def load_manifest(ctx: Context) -> None:
    """Read the manifest (small) and check it is the one planned, secret by secret."""
    b, m = ctx.plan["backup"], ctx.plan["backup"]["manifest"]
    if m is None or ctx.manifest is not None:
        return
    if b["source"] == "s3":
        head = ctx.s3.head(b["bucket"], m["key"])
        if head.etag != m["etag"]:
            raise BackupError(f"manifest {m['key']} changed since planning (ETag {head.etag}); re-plan")
        text = ctx.s3.read_small(b["bucket"], m["key"]).decode()
    else:
        path = Path(m["key"])
        if sha256_file(path) != m["sha256"]:
            raise BackupError(f"manifest {m['key']} changed since planning; re-plan")
        text = path.read_text()
    secrets = parse_manifest(text, m["key"])
    salt = ctx.plan["digest_salt"]
    planned = {s["name"]: s["password_digest"] for s in m["secrets"]}
    if {s.name: digest(salt, s.password) for s in secrets} != planned:
        raise BackupError(f"manifest {m['key']} does not hold the secrets planned; re-plan")
    ctx.manifest = secrets


def run(step: dict, ctx: Context) -> dict:
    b = ctx.plan["backup"]
    if b["source"] == "s3":
        head = ctx.s3.head(b["bucket"], b["key"])
        if (head.size, head.etag) != (b["size"], b["etag"]):
            raise BackupError(f"s3://{b['bucket']}/{b['key']} is now {head.size} bytes, ETag {head.etag}; "
                              f"planned {b['size']} bytes, ETag {b['etag']}: re-plan")
    report = dumpfile.check(b, ctx.s3)
    if report.bytes_raw != b["size"]:
        raise BackupError(f"{b['key']}: read {report.bytes_raw} bytes, planned {b['size']}; re-plan")
    if b["sha256"] and report.sha256 != b["sha256"]:
        raise BackupError(f"{b['key']} changed since planning (sha256); re-plan")
    load_manifest(ctx)
    return {"bytes": report.bytes_raw, "sql_bytes": report.bytes_sql, "sha256": report.sha256, "rows": report.rows}
