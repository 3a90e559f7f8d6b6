"""`--dump` given a folder or an archive instead of a dump file: the shapes CSM's manual backups take.

- A folder holding one dump and at most one `.manifest`: the HSM procedure's
  `/root/cray-smd-postgres-backup_<date>/` (csm-procedures.md §2.1 item 1).
- A `.tgz` / `.tar.gz` as CSM 1.6's `backup_vcs.sh` writes it (docs-csm
  scripts/operations/configuration/backup_vcs.sh and bash_lib/vcs.sh): `gitea-vcs-postgres.sql`
  (`pg_dumpall --if-exists -c`), `gitea-vcs-postgres.manifest` (the Secrets) and `vcs.tar` (the
  Gitea data volume). All three are extracted, streamed, into `<archive>.d/` beside it, and the
  plan reads them from there: the dump and manifest as the backup, `vcs.tar` as the volume backup
  of a service with a `data_volume`.
"""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

from core.errors import BackupError, UsageError

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
    """The archive's dump, manifest and volume tar, copied out member by member (never whole in memory)."""
    target = archive.with_name(archive.name + ".d")
    target.mkdir(exist_ok=True)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                name = Path(member.name).name
                if not member.isfile() or not name.endswith((*DUMP_SUFFIXES, ".manifest", ".tar")):
                    continue
                source = tar.extractfile(member)
                assert source is not None  # a regular file
                with source, open(target / name, "wb") as out:
                    shutil.copyfileobj(source, out, 1 << 20)
    except (tarfile.TarError, EOFError, OSError) as e:
        raise BackupError(f"--dump {archive} is not an intact .tgz ({e}); choose another backup") from None
    return target
