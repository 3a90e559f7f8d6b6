"""Writing a dump or manifest where a plan said: an S3 object, or a local file (0600)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from pgrestore.adapters.s3 import MultipartWriter
from pgrestore.contract.model import Location

from ..context import Context


class Sink(Protocol):
    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


class FileSink:
    """A local file written under a temporary name and renamed when complete."""

    def __init__(self, path: str):
        self.path = Path(path)
        fd, self._tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        os.fchmod(fd, 0o600)  # a manifest holds passwords; a dump holds the data
        self._file = os.fdopen(fd, "wb")

    def write(self, data: bytes) -> None:
        self._file.write(data)

    def close(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        self._file.close()
        Path(self._tmp).unlink(missing_ok=True)


class S3Sink:
    def __init__(self, writer: MultipartWriter):
        self._writer = writer

    def write(self, data: bytes) -> None:
        self._writer.write(data)

    def close(self) -> None:
        self._writer.close()

    def abort(self) -> None:
        self._writer.abort()


def open_sink(ctx: Context, loc: Location) -> Sink:
    if loc.source == "s3":
        assert ctx.s3 is not None and loc.bucket is not None
        return S3Sink(ctx.s3.writer(loc.bucket, loc.key))
    return FileSink(loc.key)


def write_all(ctx: Context, loc: Location, chunks: Iterable[bytes]) -> None:
    sink = open_sink(ctx, loc)
    try:
        for chunk in chunks:
            sink.write(chunk)
    except BaseException:
        sink.abort()
        raise
    sink.close()
