"""An in-memory fake of our S3 adapter (core.adapters.s3.S3): a bucket of bytes with ETags.

Same methods and shapes (S3Object; `stream` yields chunks lazily, refusing with S3Error when
`if_match` is not the object's ETag), and small chunks, so chunk boundaries fall inside lines.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from core.adapters.s3 import S3Object
from core.errors import S3Error

from .stage import Stage, adapter_call

CHUNK = 4096
LAST_MODIFIED = "2024-05-01T02:00:00Z"


@dataclass
class FakeS3:
    stage: Stage = field(default_factory=Stage)
    endpoint: str = "http://rgw-vip.fake"
    chunk: int = CHUNK
    adapter = "s3"

    def __post_init__(self) -> None:
        self.buckets: dict[str, dict[str, tuple[bytes, str]]] = {}  # bucket -> key -> (body, last_modified)

    # -- for tests ----------------------------------------------------------------------------
    def put(self, bucket: str, key: str, body: bytes | str | Path, last_modified: str = LAST_MODIFIED) -> S3Object:
        if isinstance(body, Path):
            body = body.read_bytes()
        elif isinstance(body, str):
            body = body.encode()
        self.buckets.setdefault(bucket, {})[key] = (body, last_modified)
        return self._describe(bucket, key)

    # -- the adapter's surface ------------------------------------------------------------------
    @adapter_call
    def list(self, bucket: str, prefix: str) -> list[S3Object]:
        keys = sorted(k for k in self.buckets.get(bucket, {}) if k.startswith(prefix))
        return [self._describe(bucket, k) for k in keys]

    @adapter_call
    def head(self, bucket: str, key: str) -> S3Object:
        self._body(bucket, key, f"s3://{bucket}/{key}")
        return self._describe(bucket, key)

    @adapter_call
    def stream(self, bucket: str, key: str, if_match: str | None = None) -> Iterator[bytes]:
        return self._stream(bucket, key, if_match)

    def _stream(self, bucket: str, key: str, if_match: str | None) -> Iterator[bytes]:
        what = f"read s3://{bucket}/{key}"
        body = self._body(bucket, key, what)
        if if_match is not None and if_match != _etag(body):
            raise S3Error(f"{what}: the object changed since it was planned (ETag differs); re-plan")
        for start in range(0, len(body), self.chunk):
            yield body[start:start + self.chunk]

    @adapter_call
    def read_range(self, bucket: str, key: str, start: int, end: int) -> bytes:
        body = self._body(bucket, key, f"read s3://{bucket}/{key}")
        if start >= len(body):
            raise S3Error(f"read s3://{bucket}/{key}: S3 answered InvalidRange")
        return body[start:end + 1]

    @adapter_call
    def read_small(self, bucket: str, key: str, limit: int = 1024 * 1024) -> bytes:
        body = self._body(bucket, key, f"s3://{bucket}/{key}")
        if len(body) > limit:
            raise S3Error(f"s3://{bucket}/{key} is {len(body)} bytes; a manifest should be under {limit}")
        return body

    # -- storage --------------------------------------------------------------------------------
    def _body(self, bucket: str, key: str, what: str) -> bytes:
        if bucket not in self.buckets:
            raise S3Error(f"{what}: S3 answered NoSuchBucket")
        if key not in self.buckets[bucket]:
            raise S3Error(f"{what}: S3 answered {'404' if what.startswith('s3://') else 'NoSuchKey'}")
        return self.buckets[bucket][key][0]

    def _describe(self, bucket: str, key: str) -> S3Object:
        body, modified = self.buckets[bucket][key]
        return S3Object(key, len(body), _etag(body), modified)


def _etag(body: bytes) -> str:
    return hashlib.md5(body).hexdigest()
