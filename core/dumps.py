"""Stream a backup's dump (S3 or file, gzip or plain) and check it while it passes.

Nothing here holds the dump in memory: 1 MiB chunks in, decompressed chunks out.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from pgrestore.adapters.s3 import S3
from pgrestore.errors import BackupError

HEADER = b"--\n-- PostgreSQL database cluster dump\n"
TRAILER = b"-- PostgreSQL database cluster dump complete"
_COPY = re.compile(rb"^COPY (\S+) .*FROM stdin;$")
_CONNECT = re.compile(rb'^\\connect (?:-reuse-previous=on )?"?([^"\s]+)"?')


def _gzipped(backup: dict) -> bool:
    return backup["format"] == "logical" or backup["key"].endswith(".gz")


def raw_chunks(backup: dict, s3: S3 | None) -> Iterator[bytes]:
    if backup["source"] == "s3":
        yield from s3.stream(backup["bucket"], backup["key"])
        return
    try:
        with open(backup["key"], "rb") as f:
            while chunk := f.read(1024 * 1024):
                yield chunk
    except FileNotFoundError:
        raise BackupError(f"dump file {backup['key']} is gone; re-plan") from None


def gunzip(chunks: Iterable[bytes], key: str) -> Iterator[bytes]:
    """Inflate a gzip stream (several members, as pigz may write); CRC and length are checked."""
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        for chunk in chunks:
            while chunk:
                if out := inflate.decompress(chunk):
                    yield out
                chunk = inflate.unused_data
                if chunk:
                    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        if tail := inflate.flush():
            yield tail
    except zlib.error as e:
        raise BackupError(f"{key} is not intact gzip ({e}); choose another backup") from None
    if not inflate.eof:
        raise BackupError(f"{key} ends before its gzip stream does (truncated); choose another backup")


@dataclass
class DumpReport:
    bytes_raw: int = 0
    bytes_sql: int = 0
    sha256: str = ""
    rows: dict[str, dict[str, int]] = field(default_factory=dict)  # database -> table -> rows


def check(backup: dict, s3: S3 | None) -> DumpReport:
    """Read the whole dump once: header, completion trailer, gzip, row counts per table."""
    report, sha = DumpReport(), hashlib.sha256()

    def counted(chunks: Iterable[bytes]) -> Iterator[bytes]:
        for c in chunks:
            report.bytes_raw += len(c)
            sha.update(c)
            yield c

    raw = counted(raw_chunks(backup, s3))
    head, tail, carry = b"", b"", b""
    db, table = "postgres", None
    for chunk in gunzip(raw, backup["key"]) if _gzipped(backup) else raw:
        report.bytes_sql += len(chunk)
        head = (head + chunk[: len(HEADER)])[: len(HEADER)]
        tail = (tail + chunk)[-256:]
        lines = (carry + chunk).split(b"\n")
        carry = lines.pop()
        for line in lines:
            if table is not None:
                if line == b"\\.":
                    table = None
                else:
                    report.rows[db][table] += 1
            elif m := _COPY.match(line):
                table = m.group(1).decode()
                report.rows.setdefault(db, {})[table] = 0
            elif m := _CONNECT.match(line):
                db = m.group(1).decode()
    report.sha256 = sha.hexdigest()
    if not head.startswith(HEADER):
        raise BackupError(f"{backup['key']} does not start with the pg_dumpall header; it is not a cluster dump")
    if TRAILER not in tail:
        raise BackupError(f"{backup['key']} has no '{TRAILER.decode()}' trailer: the dump is truncated or "
                          f"the backup job failed; choose another backup")
    return report


class VerifiedStream:
    """The SQL of the planned dump, re-checked as it streams: S3 only while the ETag is the
    planned one; a local file's bytes hashed against the planned sha256."""

    def __init__(self, backup: dict, s3: S3 | None):
        self.backup, self.s3 = backup, s3
        self._sha, self._bytes = hashlib.sha256(), 0

    def _raw(self) -> Iterator[bytes]:
        b = self.backup
        chunks = self.s3.stream(b["bucket"], b["key"], if_match=b["etag"]) if b["source"] == "s3" \
            else raw_chunks(b, None)
        for c in chunks:
            self._bytes += len(c)
            self._sha.update(c)
            yield c

    def __iter__(self) -> Iterator[bytes]:
        raw = self._raw()
        return gunzip(raw, self.backup["key"]) if _gzipped(self.backup) else raw

    def check_complete(self) -> None:
        b = self.backup
        if self._bytes != b["size"] or (b["sha256"] and self._sha.hexdigest() != b["sha256"]):
            raise BackupError(f"{b['key']} changed while it was restored ({self._bytes} bytes read, "
                              f"{b['size']} planned); re-plan and restore again")
