"""Find a cluster's backups in an S3 listing, in both CSM formats. Pure functions.

psql (CSM ≤ 1.4): `<cluster>-<YYYY-MM-DDTHH:MM:SS>.psql` + `.manifest` (UTC, no zone).
logical (CSM ≥ 1.5): `spilo/<cluster>/<uid>/logical_backups/<epoch>.sql.gz`, any uid.
Exact prefixes only: `contains("spire")` would also match `cray-spire-…`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

from pgrestore.adapters.s3 import S3Object
from pgrestore.errors import BackupError

BUCKET = "postgres-backup"


@dataclass(frozen=True)
class Backup:
    key: str
    format: Literal["psql", "logical"]
    taken_at: str  # ISO 8601 UTC, from the key
    dump: S3Object | None
    manifest: S3Object | None

    @property
    def complete(self) -> bool:
        return self.dump is not None and (self.format == "logical" or self.manifest is not None)


def prefixes(cluster: str) -> list[str]:
    return [f"{cluster}-", f"spilo/{cluster}/"]


def find(objects: list[S3Object], cluster: str) -> list[Backup]:
    """Every backup of `cluster`, newest first."""
    pairs: dict[str, dict[str, S3Object]] = {}
    found = []
    psql_re = re.compile(rf"^{re.escape(cluster)}-(\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(psql|manifest)$")
    logical_re = re.compile(rf"^spilo/{re.escape(cluster)}/[^/]+/logical_backups/(\d+)\.sql\.gz$")
    for obj in objects:
        if m := psql_re.match(obj.key):
            pairs.setdefault(m.group(1), {})[m.group(2)] = obj
        elif m := logical_re.match(obj.key):
            stamp = datetime.fromtimestamp(int(m.group(1)), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            found.append(Backup(obj.key, "logical", stamp, obj, None))
    for stamp, files in pairs.items():
        dump = files.get("psql")
        key = dump.key if dump else f"{cluster}-{stamp}.psql"
        found.append(Backup(key, "psql", f"{stamp}Z", dump, files.get("manifest")))
    return sorted(found, key=lambda b: (b.taken_at, b.key), reverse=True)


def choose(backups: list[Backup], wanted: str, cluster: str) -> list[Backup]:
    """The candidates to try, in order: for `latest` every complete backup, newest first (the
    caller takes the first intact one); otherwise exactly the backup with that key."""
    if wanted == "latest":
        complete = [b for b in backups if b.complete]
        if not complete:
            raise BackupError(f"no complete backup of {cluster} in s3://{BUCKET}; "
                              f"`pgrestore backups` lists what is there")
        return complete
    for b in backups:
        if b.key == wanted or (b.manifest and b.manifest.key == wanted):
            if b.dump is None:
                raise BackupError(f"backup {b.key}: .psql missing, only its .manifest is there (an interrupted "
                                  f"backup job); choose another or pass --dump FILE")
            if not b.complete:
                raise BackupError(f"backup {b.key} has no .manifest beside it (an interrupted backup job); "
                                  f"choose another or pass --dump FILE")
            return [b]
    raise BackupError(f"no backup {wanted!r} of {cluster} in s3://{BUCKET}; `pgrestore backups` lists them")
