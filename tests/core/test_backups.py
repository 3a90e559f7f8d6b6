"""Choosing a backup from an S3 listing: exact prefixes, complete pairs, newest first."""

from __future__ import annotations

import pytest

from pgrestore.adapters.s3 import S3Object
from pgrestore.core.backups import choose, find
from pgrestore.errors import BackupError


def obj(key: str, size: int = 10) -> S3Object:
    return S3Object(key, size, "etag-" + key, "2024-01-01T00:00:00Z")


LISTING = [
    obj("spire-postgres-2024-01-02T01:10:04.psql"), obj("spire-postgres-2024-01-02T01:10:04.manifest"),
    obj("spire-postgres-2024-01-03T01:10:04.psql"),  # the job died before writing the manifest
    obj("cray-spire-postgres-2024-01-09T01:10:04.psql"), obj("cray-spire-postgres-2024-01-09T01:10:04.manifest"),
    obj("spilo/spire-postgres/uid-a/logical_backups/1704067200.sql.gz"),  # 2024-01-01
    obj("spilo/spire-postgres-pooler/uid-b/logical_backups/1706745600.sql.gz"),
]


def test_latest_is_the_newest_complete_backup_of_exactly_this_cluster():
    backups = find(LISTING, "spire-postgres")
    assert [b.key for b in backups] == [
        "spire-postgres-2024-01-03T01:10:04.psql",
        "spire-postgres-2024-01-02T01:10:04.psql",
        "spilo/spire-postgres/uid-a/logical_backups/1704067200.sql.gz",
    ]
    candidates = choose(backups, "latest", "spire-postgres")
    assert [b.key for b in candidates] == ["spire-postgres-2024-01-02T01:10:04.psql",
                                           "spilo/spire-postgres/uid-a/logical_backups/1704067200.sql.gz"]
    assert candidates[0].manifest.key == "spire-postgres-2024-01-02T01:10:04.manifest"


def test_a_dump_without_its_manifest_is_refused_by_name():
    with pytest.raises(BackupError, match="no .manifest"):
        choose(find(LISTING, "spire-postgres"), "spire-postgres-2024-01-03T01:10:04.psql", "spire-postgres")


def test_logical_backups_are_found_under_any_uid():
    backups = find([obj("spilo/x/u1/logical_backups/100.sql.gz"), obj("spilo/x/u2/logical_backups/200.sql.gz")], "x")
    assert [b.key for b in backups] == ["spilo/x/u2/logical_backups/200.sql.gz",
                                        "spilo/x/u1/logical_backups/100.sql.gz"]
    assert all(b.complete and b.format == "logical" for b in backups)


def test_no_backup_is_a_clear_error():
    with pytest.raises(BackupError, match="no complete backup of keycloak-postgres"):
        choose(find(LISTING, "keycloak-postgres"), "latest", "keycloak-postgres")
