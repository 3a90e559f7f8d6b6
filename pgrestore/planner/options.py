"""What the operator chose when planning, beyond the service and the backup."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pgrestore.contract.model import BackupRef, Location
from pgrestore.core.backups import BUCKET

PREFIX = "pgrestore"  # CSM's backup jobs delete only `<cluster>-*` pairs and `spilo/<cluster>/…`


@dataclass(frozen=True)
class PlanOptions:
    secrets_mode: str | None = None
    pin_dir: Path | None = None  # a local folder for the pinned copy instead of the bucket
    safety_dir: Path | None = None  # a local folder for the safety dump instead of the bucket
    safety_dump: bool = True
    postgresql_spec: Path | None = None  # --postgresql-spec: the spec of a postgresql resource that is gone
    manual_hosts: str | None = None  # why node host steps are manual: "--no-host-steps", "pdsh not found"
    storage_nodes: tuple[str, ...] | None = None  # --storage-nodes; else the service file's
    volume_backup: Path | None = None  # --pvc-backup, or the vcs.tar of a --dump .tgz


def run_id(now: datetime, salt: str) -> str:
    """Names this plan's artifacts: when it was made, and a piece of its random salt."""
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{salt[:8]}"


def _place(folder: Path | None, bucket: str | None, key: str) -> Location:
    if folder is not None:
        return Location("file", None, str(folder.resolve() / key.replace("/", "_")))
    return Location("s3", bucket or BUCKET, key)


def pinned(backup: BackupRef, options: PlanOptions, service: str, rid: str) -> tuple[Location, Location | None]:
    base = f"{PREFIX}/{service}/{rid}/pinned/{backup.key.rsplit('/', 1)[-1]}"
    manifest = None
    if backup.manifest is not None:
        manifest = _place(options.pin_dir, backup.bucket, f"{PREFIX}/{service}/{rid}/pinned/"
                                                          f"{backup.manifest.key.rsplit('/', 1)[-1]}")
    return _place(options.pin_dir, backup.bucket, base), manifest


def safety_volume(options: PlanOptions, service: str, rid: str) -> Location:
    return _place(options.safety_dir, None, f"{PREFIX}/{service}/{rid}/safety-volume.tar")


def safety(options: PlanOptions, service: str, rid: str) -> tuple[Location, Location]:
    base = f"{PREFIX}/{service}/{rid}/safety"
    return _place(options.safety_dir, None, f"{base}.psql"), _place(options.safety_dir, None, f"{base}.manifest")


@dataclass(frozen=True)
class Choices:
    """Everything a strategy decides with, besides the snapshot and the service."""

    secrets_mode: str
    salt: str
    run_id: str
    options: PlanOptions
