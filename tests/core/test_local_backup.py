"""`--dump` given a backup folder or backup_vcs.sh's .tgz: the dump and manifest it stands for."""

from __future__ import annotations

import tarfile

import pytest

from pgrestore.core.local_backup import resolve
from pgrestore.errors import BackupError, UsageError
from tests.fakes.rehearsal import GOOD_DUMP, MANIFEST
from tests.helpers import vcs_backup_tgz


def test_a_file_is_itself(tmp_path):
    assert resolve(GOOD_DUMP, None) == (GOOD_DUMP, None, None)


def test_a_folder_gives_its_dump_and_manifest(tmp_path):
    folder = tmp_path / "cray-smd-postgres-backup_2021-07-07_16-39-44"
    folder.mkdir()
    (folder / "cray-smd-postgres-dumpall.sql").write_bytes(GOOD_DUMP.read_bytes())
    (folder / "cray-smd-postgres.manifest").write_text(MANIFEST.read_text())
    assert resolve(folder, None) == (folder / "cray-smd-postgres-dumpall.sql", folder / "cray-smd-postgres.manifest",
                                     None)
    other = tmp_path / "other.manifest"
    assert resolve(folder, other)[1] == other, "--manifest wins over the folder's"


def test_a_vcs_tgz_gives_its_dump_and_manifest_byte_for_byte(tmp_path):
    archive = tmp_path / "gitea-vcs-20240501020005-AbC123.tgz"
    vcs_backup_tgz(archive, GOOD_DUMP.read_bytes(), MANIFEST.read_bytes())
    dump, manifest, volume = resolve(archive, None)
    assert dump.read_bytes() == GOOD_DUMP.read_bytes() and dump.name == "gitea-vcs-postgres.sql"
    assert manifest is not None and manifest.read_bytes() == MANIFEST.read_bytes()
    assert volume is not None and volume.name == "vcs.tar"
    with tarfile.open(volume) as tar:
        assert tar.getnames() == ["var/lib/gitea/git/repositories/cray/config.git/config"]


def test_a_folder_with_two_manifests_asks_for_one(tmp_path):
    (tmp_path / "a.psql").write_text("x")
    (tmp_path / "a.manifest").write_text("x")
    (tmp_path / "b.manifest").write_text("x")
    with pytest.raises(UsageError, match="holds 2 .manifest files; pass one with --manifest"):
        resolve(tmp_path, None)


def test_a_truncated_tgz_is_an_unusable_backup(tmp_path):
    archive = tmp_path / "gitea-vcs-1.tgz"
    vcs_backup_tgz(archive, GOOD_DUMP.read_bytes(), MANIFEST.read_bytes())
    archive.write_bytes(archive.read_bytes()[:300])
    with pytest.raises(BackupError, match="is not an intact .tgz"):
        resolve(archive, None)
