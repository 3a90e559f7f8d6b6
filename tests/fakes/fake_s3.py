"""An in-memory fake of our S3 adapter (core.adapters.s3.S3): a bucket of bytes with ETags.

Same methods and shapes (S3Object; `stream` yields chunks lazily, refusing with S3Error when
`if_match` is not the object's ETag; `copy` is server-side and refused when the source is no longer
`if_match`; `writer` is a multipart upload that shows no object until `close`, and none after
`abort` or a crash), and small chunks, so chunk boundaries fall inside lines.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pgrestore.adapters.s3 import S3Object
from pgrestore.errors import S3Error, StepTimeout

from .stage import Crash, Fault, Stage, adapter_call

CHUNK = 1024
LAST_MODIFIED = "2024-05-01T02:00:00Z"
WRITTEN = "2024-05-02T03:00:00Z"  # what pgrestore writes (pinned copies, safety dumps)


def _changed(what: str) -> S3Error:
    """What the adapter says for S3's PreconditionFailed."""
    return S3Error(f"{what}: the object changed since it was planned (ETag differs); re-plan")


@dataclass
class FakeS3:
    stage: Stage = field(default_factory=Stage)
    endpoint: str = "http://rgw-vip.fake"
    chunk: int = CHUNK
    deadline: float | None = None  # as the adapter's: set by each step
    adapter = "s3"

    def __post_init__(self) -> None:
        self.buckets: dict[str, dict[str, tuple[bytes, str]]] = {}  # bucket -> key -> (body, last_modified)
        self.uploads: dict[str, FakeMultipartWriter] = {}  # upload id -> an upload not completed or aborted
        self._upload_ids = 0

    # -- for tests ----------------------------------------------------------------------------
    def put(self, bucket: str, key: str, body: bytes | str | Path, last_modified: str = LAST_MODIFIED) -> S3Object:
        if isinstance(body, Path):
            body = body.read_bytes()
        elif isinstance(body, str):
            body = body.encode()
        self.buckets.setdefault(bucket, {})[key] = (body, last_modified)
        return self._describe(bucket, key)

    def delete(self, bucket: str, key: str) -> None:
        """As a backup job's cleanup (or anyone) deletes an object."""
        self.buckets.get(bucket, {}).pop(key, None)

    def body(self, bucket: str, key: str) -> bytes | None:
        return self.buckets.get(bucket, {}).get(key, (None, ""))[0]

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        return sorted(k for k in self.buckets.get(bucket, {}) if k.startswith(prefix))

    # -- the adapter's surface ------------------------------------------------------------------
    def in_time(self, what: str) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise StepTimeout(f"S3 ({what}) ran past its step's deadline")

    @adapter_call
    def list(self, bucket: str, prefix: str) -> list[S3Object]:
        keys = sorted(k for k in self.buckets.get(bucket, {}) if k.startswith(prefix))
        return [self._describe(bucket, k) for k in keys]

    @adapter_call
    def head(self, bucket: str, key: str) -> S3Object:
        self._body(bucket, key, f"s3://{bucket}/{key}")
        return self._describe(bucket, key)

    @adapter_call
    def stream(self, bucket: str, key: str, if_match: str | None = None,
               _faults: list[Fault] | None = None) -> Iterator[bytes]:
        return self._stream(bucket, key, if_match, _faults or [])

    def _stream(self, bucket: str, key: str, if_match: str | None, faults: list[Fault]) -> Iterator[bytes]:
        what = f"read s3://{bucket}/{key}"
        body = self._body(bucket, key, what)
        if if_match is not None and if_match != _etag(body):
            raise _changed(what)
        for start in range(0, len(body), self.chunk):
            if self.stage.dead:
                raise Crash(f"the process is dead: {what} not continued")
            yield body[start:start + self.chunk]
            self.stage.passing(faults, min(len(body), start + self.chunk), what)

    @adapter_call
    def read_range(self, bucket: str, key: str, start: int, end: int) -> bytes:
        body = self._body(bucket, key, f"read s3://{bucket}/{key}")
        if start >= len(body):
            raise S3Error(f"read s3://{bucket}/{key}: S3 answered InvalidRange")
        return body[start:end + 1]

    @adapter_call
    def copy(self, bucket: str, *, source: str, target: str, if_match: str | None = None) -> S3Object:
        what = f"copy s3://{bucket}/{source} to {target}"
        body = self._body(bucket, source, what)
        if if_match is not None and if_match != _etag(body):
            raise _changed(what)
        self.buckets[bucket][target] = (body, self._now())
        return self._describe(bucket, target)

    @adapter_call
    def put_small(self, bucket: str, key: str, body: bytes) -> S3Object:
        self._bucket(bucket, f"write s3://{bucket}/{key}")
        self.buckets[bucket][key] = (bytes(body), self._now())
        return self._describe(bucket, key)

    @adapter_call
    def writer(self, bucket: str, key: str, _faults: list[Fault] | None = None) -> FakeMultipartWriter:
        self._bucket(bucket, f"start upload of s3://{bucket}/{key}")
        self._upload_ids += 1
        w = FakeMultipartWriter(self, bucket, key, f"upload-{self._upload_ids}", list(_faults or []))
        self.uploads[w.upload_id] = w
        return w

    @adapter_call
    def read_small(self, bucket: str, key: str, limit: int = 1024 * 1024) -> bytes:
        body = self._body(bucket, key, f"s3://{bucket}/{key}")
        if len(body) > limit:
            raise S3Error(f"s3://{bucket}/{key} is {len(body)} bytes; a manifest should be under {limit}")
        return body

    # -- storage --------------------------------------------------------------------------------
    def _bucket(self, bucket: str, what: str) -> dict[str, tuple[bytes, str]]:
        if bucket not in self.buckets:
            raise S3Error(f"{what}: S3 answered NoSuchBucket")
        return self.buckets[bucket]

    def _body(self, bucket: str, key: str, what: str) -> bytes:
        objects = self._bucket(bucket, what)
        if key not in objects:
            raise S3Error(f"{what}: S3 answered {'404' if what.startswith('s3://') else 'NoSuchKey'}")
        return objects[key][0]

    def _describe(self, bucket: str, key: str) -> S3Object:
        body, modified = self.buckets[bucket][key]
        return S3Object(key, len(body), _etag(body), modified)

    @staticmethod
    def _now() -> str:
        return WRITTEN


@dataclass
class FakeMultipartWriter:
    """pgrestore.adapters.s3.MultipartWriter: parts in memory, the object appears at `close` only."""

    s3: FakeS3
    bucket: str
    key: str
    upload_id: str
    faults: list[Fault]
    written: bytearray = field(default_factory=bytearray)
    adapter = "s3"

    @property
    def stage(self) -> Stage:
        return self.s3.stage

    @adapter_call
    def write(self, data: bytes) -> None:
        self._open()
        self.written += data
        self.stage.passing(self.faults, len(self.written), f"the upload of s3://{self.bucket}/{self.key}")

    @adapter_call
    def close(self) -> S3Object:
        self._open()
        del self.s3.uploads[self.upload_id]
        self.s3.buckets[self.bucket][self.key] = (bytes(self.written), self.s3._now())
        return self.s3._describe(self.bucket, self.key)

    @adapter_call
    def abort(self) -> None:
        self.s3.uploads.pop(self.upload_id, None)

    def _open(self) -> None:
        if self.upload_id not in self.s3.uploads:
            raise S3Error(f"upload part of s3://{self.bucket}/{self.key}: S3 answered NoSuchUpload")


def _etag(body: bytes) -> str:
    return hashlib.md5(body).hexdigest()
