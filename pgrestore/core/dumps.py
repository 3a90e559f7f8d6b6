"""Stream a backup's dump (S3 or file, gzip or plain) and check it while it passes.

Nothing here holds the dump in memory: 1 MiB chunks in, decompressed chunks out.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pgrestore.adapters.s3 import S3
from pgrestore.contract.model import BackupRef, Location
from pgrestore.core.restore_errors import DumpIndex
from pgrestore.errors import BackupError

HEADER = b"--\n-- PostgreSQL database cluster dump\n"
TRAILER = b"-- PostgreSQL database cluster dump complete"
GZIP_MAGIC = b"\x1f\x8b"
TAIL_BYTES = 256
CHUNK = 1024 * 1024  # what is read, inflated and handed on at a time


def gzipped(fmt: str, key: str) -> bool:
    return fmt == "logical" or key.endswith(".gz")


def file_chunks(path: str, start: int = 0) -> Iterator[bytes]:
    try:
        with open(path, "rb") as f:
            f.seek(start)
            while chunk := f.read(CHUNK):
                yield chunk
    except FileNotFoundError:
        raise BackupError(f"dump file {path} is gone; re-plan") from None
    except IsADirectoryError:
        raise BackupError(f"dump file {path} is a directory; pass the .psql or .sql.gz file") from None


def gunzip(chunks: Iterable[bytes], key: str) -> Iterator[bytes]:
    """Inflate a gzip stream (several members, as pigz may write); CRC and length are checked.
    Each piece out is at most CHUNK: a 1 MiB chunk of a dump of repetitive rows inflates to
    hundreds of MiB (zlib reaches ~1000:1), which must never be one buffer."""
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        for chunk in chunks:
            while chunk:
                if out := inflate.decompress(chunk, CHUNK):
                    yield out
                chunk = inflate.unconsumed_tail
                if not chunk and inflate.eof:  # the next member, if any
                    chunk = inflate.unused_data
                    if chunk:
                        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        if tail := inflate.flush():
            yield tail
    except zlib.error as e:
        raise BackupError(f"{key} is not intact gzip ({e}); choose another backup") from None
    if not inflate.eof:
        raise BackupError(f"{key} ends before its gzip stream does (truncated); choose another backup")


def check_head(head: bytes, key: str) -> None:
    if not head.startswith(HEADER):
        raise BackupError(f"{key} does not start with the pg_dumpall header; it is not a cluster dump: "
                          f"choose another backup")


def check_tail(tail: bytes, key: str) -> None:
    if TRAILER not in tail:
        raise BackupError(f"{key} has no '{TRAILER.decode()}' trailer: the dump is truncated or the backup job "
                          f"failed; choose another backup")


def probe(backup: BackupRef, s3: S3 | None) -> None:
    """The cheap plan-time check: a plain dump's first and last bytes (ranged GETs on S3),
    so a non-dump or a truncated newest backup is refused before anyone reviews a plan.
    A gzip dump's end is inside the compressed stream: it is read through once."""
    if gzipped(backup.format, backup.key):
        check(backup, s3)
        return
    if backup.size < len(HEADER):
        raise BackupError(f"{backup.key} is {backup.size} bytes: too small to be a cluster dump; choose another")
    tail_from = max(0, backup.size - TAIL_BYTES)
    if backup.source == "s3":
        assert s3 is not None and backup.bucket is not None
        head = s3.read_range(backup.bucket, backup.key, 0, len(HEADER) - 1)
        tail = s3.read_range(backup.bucket, backup.key, tail_from, backup.size - 1)
    else:
        with open(backup.key, "rb") as f:
            head = f.read(len(HEADER))
            f.seek(tail_from)
            tail = f.read()
    check_head(head, backup.key)
    check_tail(tail, backup.key)


# pg_dump writes this at the top of every database's part of a pg_dumpall (pg_backup_archiver.c
# RestoreArchive, v15): the server the dump was read from. The globals before the first database are
# roles and tablespaces, small: the first MiB of SQL holds the line.
_DUMPED_FROM = re.compile(rb"^-- Dumped from database version (\d+)(?:\.(\d+))?", re.M)
VERSION_PROBE_BYTES = 1024 * 1024


def major_key(version: str) -> tuple[int, int]:
    """A PostgreSQL major for comparing: "14" -> (14, 0), "9.6" -> (9, 6) (before 10 a major had two parts)."""
    first, _, second = version.partition(".")
    major = int(first)
    return (major, 0) if major >= 10 else (major, int(second or 0))


def dumped_from_major(backup: BackupRef, s3: S3 | None) -> str | None:
    """The major version of the server the dump was taken from ("14", "9.6"), read from the first
    MiB of its SQL; None if the dump does not say (pg_dumpall without any database)."""
    loc = Location(backup.source, backup.bucket, backup.key)
    if backup.source == "s3" and not gzipped(backup.format, backup.key):
        assert s3 is not None and backup.bucket is not None
        head = s3.read_range(backup.bucket, backup.key, 0, min(backup.size, VERSION_PROBE_BYTES) - 1)
    else:
        chunks = location_chunks(loc, s3)
        sql = gunzip(chunks, backup.key) if gzipped(backup.format, backup.key) else chunks
        buf = bytearray()
        for chunk in sql:
            buf += chunk
            if len(buf) >= VERSION_PROBE_BYTES:
                break
        head = bytes(buf[:VERSION_PROBE_BYTES])
    m = _DUMPED_FROM.search(head)
    if m is None:
        return None
    major = int(m[1])
    return str(major) if major >= 10 else f"{major}.{int(m[2] or 0)}"


@dataclass
class DumpReport:
    bytes_raw: int = 0
    bytes_sql: int = 0
    sha256: str = ""
    rows: dict[str, dict[str, int]] = field(default_factory=dict)  # database -> table -> rows


class RowCounter:
    """Counts the rows of every COPY block per database as the SQL passes: database -> table -> rows, the
    table as SQL (schema.table, quoted where the dump quotes it). psql's own reading of the dump
    (core.restore_errors.DumpIndex): quoted names, \\connect forms, and COPY-like text inside a function
    body are read as psql reads them; COPY data is skipped with byte searches."""

    def __init__(self) -> None:
        self._index = DumpIndex()

    def feed(self, chunk: bytes) -> None:
        self._index.feed(chunk)

    @property
    def rows(self) -> dict[str, dict[str, int]]:
        return self._index.rows


def check(backup: BackupRef, s3: S3 | None, on_read: Callable[[int], None] | None = None) -> DumpReport:
    """Read the whole dump once: header, completion trailer, gzip, row counts per table; size and
    sha256 of the stored bytes (compressed, for a gzip dump). on_read: the stored bytes read so far."""
    loc = Location(backup.source, backup.bucket, backup.key)
    stream = VerifiedStream(loc, backup.format, s3, backup.size, "", on_read)
    sql = DumpWriter(backup.key)
    for chunk in stream:
        sql.feed(chunk)
    report = sql.finish()
    report.bytes_raw, report.sha256 = stream.bytes_read, stream.sha256_read
    return report


def location_chunks(loc: Location, s3: S3 | None) -> Iterator[bytes]:
    if loc.source == "s3":
        assert s3 is not None and loc.bucket is not None
        yield from s3.stream(loc.bucket, loc.key)
        return
    yield from file_chunks(loc.key)


class VerifiedStream:
    """The SQL of a dump, re-checked as it streams: the bytes must be those a step verified
    (size and sha256), so what is restored is what was checked."""

    def __init__(self, loc: Location, fmt: str, s3: S3 | None, size: int, sha256: str,
                 on_read: Callable[[int], None] | None = None):
        self.loc, self.fmt, self.s3, self.size, self.sha256 = loc, fmt, s3, size, sha256
        self._sha, self._bytes, self._on_read = hashlib.sha256(), 0, on_read

    def _raw(self) -> Iterator[bytes]:
        # Per chunk, not per byte: a length and one sha256 update (C, and it releases the GIL).
        update = self._sha.update
        for c in location_chunks(self.loc, self.s3):
            self._bytes += len(c)
            update(c)
            if self._on_read is not None:
                self._on_read(self._bytes)
            yield c

    def __iter__(self) -> Iterator[bytes]:
        raw = self._raw()
        return gunzip(raw, self.loc.key) if gzipped(self.fmt, self.loc.key) else raw

    @property
    def bytes_read(self) -> int:
        return self._bytes

    @property
    def sha256_read(self) -> str:
        return self._sha.hexdigest()

    def check_complete(self) -> None:
        if self._bytes != self.size or self._sha.hexdigest() != self.sha256:
            raise BackupError(f"{self.loc.url()} is not the dump that was verified ({self._bytes} bytes read, "
                              f"{self.size} verified, sha256 {'differs' if self._bytes == self.size else 'unchecked'})"
                              f"; re-plan and restore again")


class DumpWriter:
    """Checks a dump as it is written (header, trailer, row counts, size, sha256)."""

    def __init__(self, where: str):
        self.where, self.report, self._sha = where, DumpReport(), hashlib.sha256()
        self._counter, self._head, self._tail = RowCounter(), b"", b""

    def feed(self, chunk: bytes) -> None:
        self.report.bytes_raw += len(chunk)
        self._sha.update(chunk)
        self._head = (self._head + chunk[: len(HEADER)])[: len(HEADER)]
        self._tail = (self._tail + chunk[-TAIL_BYTES:])[-TAIL_BYTES:]  # not a copy of the whole chunk
        self._counter.feed(chunk)

    def finish(self) -> DumpReport:
        """The checks, then the report: bytes and sha256 are of the SQL fed in."""
        check_head(self._head, self.where)
        check_tail(self._tail, self.where)
        self.report.bytes_sql = self.report.bytes_raw
        self.report.sha256 = self._sha.hexdigest()
        self.report.rows = self._counter.rows
        return self.report


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    for chunk in file_chunks(str(path)):
        h.update(chunk)
    return h.hexdigest()
