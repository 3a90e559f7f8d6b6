"""`--dump` given a folder or an archive instead of a dump file: the shapes CSM's manual backups take.

- A folder holding one dump and at most one `.manifest`: the HSM procedure's
  `/root/cray-smd-postgres-backup_<date>/` (csm-procedures.md §2.1 item 1).
- A `.tgz` / `.tar.gz` as CSM 1.6's `backup_vcs.sh` writes it (docs-csm
  scripts/operations/configuration/backup_vcs.sh and bash_lib/vcs.sh): `gitea-vcs-postgres.sql`
  (`pg_dumpall --if-exists -c`), `gitea-vcs-postgres.manifest` (the Secrets) and `vcs.tar` (the
  Gitea data volume). All three are extracted, streamed, into a fresh private
  `<archive>.<random>.d/` beside it, and the plan reads them from there: the dump and manifest as
  the backup, `vcs.tar` as the volume backup of a service with a `data_volume`.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import BinaryIO

from pgrestore.errors import BackupError, UsageError

DUMP_SUFFIXES = (".psql", ".sql", ".sql.gz")
ARCHIVE_SUFFIXES = (".tgz", ".tar.gz")


def resolve(dump: Path, manifest: Path | None) -> tuple[Path, Path | None, Path | None]:
    """The dump file, manifest and volume tar (if any) a `--dump` (file, folder or archive) stands for."""
    if dump.is_dir():
        return _from_folder(dump, manifest)
    if dump.name.endswith(ARCHIVE_SUFFIXES) and dump.is_file():
        return _from_folder(_extract(dump), manifest)
    return dump, manifest, None


def _from_folder(folder: Path, manifest: Path | None) -> tuple[Path, Path | None, Path | None]:
    dumps = sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(DUMP_SUFFIXES))
    if len(dumps) != 1:
        found = ", ".join(p.name for p in dumps) or "none"
        raise UsageError(f"--dump {folder}: a folder must hold exactly one dump (.psql, .sql or .sql.gz), found "
                         f"{found}; pass the dump file itself")
    if manifest is None:
        manifests = sorted(folder.glob("*.manifest"))
        if len(manifests) > 1:
            raise UsageError(f"--dump {folder} holds {len(manifests)} .manifest files; pass one with --manifest")
        manifest = manifests[0] if manifests else None
    volumes = sorted(folder.glob("*.tar"))
    return dumps[0], manifest, volumes[0] if len(volumes) == 1 else None


def _extract(archive: Path) -> Path:
    """The archive's dump, manifest and volume tar, copied out member by member (never whole in memory)
    into a folder made fresh for this plan: private (0700, files 0600: the manifest holds every
    credential), beside the archive so it outlives the plan until apply reads it, never reused (a folder
    found there could be anyone's, with anything already in it)."""
    try:
        target = Path(tempfile.mkdtemp(prefix=archive.name + ".", suffix=".d", dir=archive.parent))
    except OSError as e:
        raise UsageError(f"--dump {archive}: cannot make a folder beside it to extract into ({e.strerror}); copy "
                         f"the archive to a folder you can write") from None
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                name = Path(member.name).name
                if not member.isfile() or not name.endswith((*DUMP_SUFFIXES, ".manifest", ".tar")):
                    continue
                source = tar.extractfile(member)
                assert source is not None  # a regular file
                with source, _private_file(target / name, archive) as out:
                    shutil.copyfileobj(source, out, 1 << 20)
    except (tarfile.TarError, EOFError, OSError) as e:
        raise BackupError(f"--dump {archive} is not an intact .tgz ({e}); choose another backup") from None
    return target


def _private_file(path: Path, archive: Path) -> BinaryIO:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise BackupError(f"--dump {archive} holds two members named {path.name}; choose another backup") from None
    return os.fdopen(fd, "wb")
