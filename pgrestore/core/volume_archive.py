"""A volume backup (backup_vcs.sh's vcs.tar) checked member by member, and hashed in the same read.

apply extracts it as root with `tar -C / -xf -` in the client's container (restore_vcs.sh does the
same), so every member must land inside the volume's path: no absolute names, no `..`, symlinks
and hard links that stay inside, and only files, folders and links (a device node or fifo is no
part of a Gitea volume). GNU tar writes `tar -cf vcs.tar /var/lib/gitea` members as
`var/lib/gitea/...` (it strips the leading `/`), which is what a real backup holds.

The sha256 recorded in the plan is of exactly the bytes these checks read: one pass, streamed,
never whole in memory. apply extracts only bytes with that sha256 (executors/steps/restore_volume.py).
"""

from __future__ import annotations

import hashlib
import posixpath
import tarfile
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from pgrestore.errors import BackupError

_CHUNK = 1 << 20


class _HashingReader:
    """A file read forward only (tarfile's stream mode), hashing and counting every byte."""

    def __init__(self, f: BinaryIO):
        self._f, self.sha, self.size = f, hashlib.sha256(), 0

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self.sha.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass


def _climbs_or_is_absolute(name: str) -> str | None:
    if name.startswith("/"):
        return "is an absolute path"
    if ".." in PurePosixPath(name).parts:
        return "climbs out with '..'"
    return None


def _inside(name: str, prefix: tuple[str, ...]) -> bool:
    parts = PurePosixPath(name).parts
    return parts[:len(prefix)] == prefix


def refusal(member: tarfile.TarInfo, prefix: tuple[str, ...], data_path: str) -> str | None:
    """Why extracting this member could write outside data_path (None: it cannot)."""
    name = member.name
    why = _climbs_or_is_absolute(name)
    if why:
        return f"member {name!r} {why}"
    if not _inside(name, prefix):
        return f"{name!r} lies outside {data_path}"
    if member.issym():
        target = member.linkname
        if ".." in PurePosixPath(target).parts:  # `..` after a link inside could still climb out
            return f"symlink {name!r} points to {target!r}, through '..'"
        resolved = target.lstrip("/") if target.startswith("/") else posixpath.join(posixpath.dirname(name), target)
        if not _inside(posixpath.normpath(resolved), prefix):
            return f"symlink {name!r} points to {target!r}, outside {data_path}"
    elif member.islnk():
        target = _dot_slash_dropped(member.linkname)
        if _climbs_or_is_absolute(target) or not _inside(target, prefix):
            return f"hard link {name!r} links to {member.linkname!r}, outside {data_path}"
    elif not (member.isreg() or member.isdir()):
        return f"member {name!r} is a device file or fifo"
    return None


def check(path: Path, data_path: str) -> tuple[int, str]:
    """The size and sha256 of a tar whose every member lands inside data_path; BackupError if one would not."""
    prefix = PurePosixPath(data_path.strip("/")).parts
    where = f"volume backup {path} is not a backup of {data_path}"
    try:
        with open(path, "rb") as f:
            reader = _HashingReader(f)
            members = 0
            with tarfile.open(fileobj=reader, mode="r|*") as tar:  # type: ignore[call-overload]
                for member in tar:
                    members += 1
                    why = refusal(_without_dot_slash(member), prefix, data_path)
                    if why:
                        raise BackupError(f"{where}: {why}; choose another backup")
            reader.drain()  # the zero blocks after the last member are part of what is extracted
    except (tarfile.TarError, EOFError, OSError):
        raise BackupError(f"volume backup {path} is not a tar archive; choose another backup") from None
    if not members:
        raise BackupError(f"{where}: it is empty; choose another backup")
    return reader.size, reader.sha.hexdigest()


def _dot_slash_dropped(name: str) -> str:
    """`tar -cf x.tar ./var/...` writes `./var/...`; tar treats the `./` as nothing."""
    while name.startswith("./"):
        name = name[2:]
    return name


def _without_dot_slash(member: tarfile.TarInfo) -> tarfile.TarInfo:
    member.name = _dot_slash_dropped(member.name)
    return member
