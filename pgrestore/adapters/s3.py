"""The S3 adapter (Ceph RGW on CSM): list, describe and stream backup objects."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    IncompleteReadError,
    ReadTimeoutError,
    ResponseStreamingError,
)

from pgrestore.errors import S3Error, S3NotFound, StepTimeout, Unreachable

CHUNK = 1024 * 1024
PIECE = 64 * 1024
# Requests: botocore's "standard" retries (5xx, SlowDown and other throttling, connection errors and
# timeouts; exponential backoff with jitter, at most 5 attempts). A body that breaks while it is read
# is past botocore: `stream` resumes it from the byte it got to with a ranged GET, pinned by If-Match
# to the ETag it started with, so a changed object is never spliced; `read_range` reads its range again.
RETRIES = {"mode": "standard", "total_max_attempts": 5}
# A slow or hung RGW must not hang apply: a connection that cannot be opened, or that says nothing for
# READ_TIMEOUT seconds, fails (and is retried as above); every request and every piece of a body checks
# the running step's deadline first (`S3.deadline`, set by the executor), so a step never runs past it by
# more than one of these timeouts. (botocore's defaults are 60 s each.)
CONNECT_TIMEOUT, READ_TIMEOUT = 10.0, 60.0
BODY_ATTEMPTS = 5  # breaks in a row, without a whole CHUNK between them, before a read fails
_BROKEN_BODY = (ResponseStreamingError, IncompleteReadError, ReadTimeoutError)
# Checksums only where an operation requires them, as botocore did before 1.36: its default CRC32 trailers
# on uploads (aws-chunked) are newer than the RGW of older Ceph releases, and the stored checksums of S3
# servers that are not AWS are not all right (moto 5.2 gives a multipart upload's CRC-of-CRCs as the
# whole object's CRC32, and a copy of it then fails botocore's check on every read). What we read is
# checked against the planned sha256 (verify-backup, pin-backup, VerifiedStream).
CHECKSUMS = {"request_checksum_calculation": "when_required", "response_checksum_validation": "when_required"}
# A server-side copy is one CopyObject up to S3's limit for it (5 GiB), multipart above. boto3's default
# (8 MiB parts from 8 MiB on) made a 4.3 GB pin 544 UploadPartCopy requests; Ceph RGW serves a CopyObject
# in one placement by sharing the source's tail objects (no bytes copied) and keeps the connection alive
# while it works (rgw_copy_obj_progress, every rgw_copy_obj_progress_every_bytes), where each
# UploadPartCopy reads and writes its range.
COPY_CONFIG = TransferConfig(multipart_threshold=5 * 1024**3, multipart_chunksize=1024**3, max_concurrency=4)


@dataclass(frozen=True)
class S3Object:
    key: str
    size: int
    etag: str
    last_modified: str  # ISO 8601, UTC


@contextmanager
def _translated(what: str):
    try:
        yield
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code", "error")
        if code in ("PreconditionFailed", "412"):  # a HEAD's 412 has no body to name it (the managed copy HEADs)
            raise S3Error(f"{what}: the object changed since it was planned (ETag differs); re-plan") from None
        if code in ("NoSuchKey", "NoSuchBucket", "404", "NotFound"):
            raise S3NotFound(f"{what}: not found") from None
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403", "Forbidden"):
            raise S3Error(f"{what}: S3 refused the keys ({code}); check --s3-access-key and --s3-secret-key "
                          f"(default: secret services/postgres-backup-s3-credentials)") from None
        raise S3Error(f"{what}: S3 answered {code}") from None
    except (EndpointConnectionError, ConnectTimeoutError) as e:
        raise Unreachable(f"{what}: cannot reach the S3 endpoint ({type(e).__name__}); check --s3-endpoint") from None
    except BotoCoreError as e:
        raise S3Error(f"{what}: {type(e).__name__}; check the endpoint and keys") from None


class S3:
    def __init__(self, endpoint: str, access_key: str, secret_key: str, verify: bool = False):
        self.endpoint = endpoint
        # time.monotonic() by which the running step must be done; None outside apply (plan, tools).
        self.deadline: float | None = None
        self.client = boto3.client(
            "s3", endpoint_url=endpoint, aws_access_key_id=access_key, aws_secret_access_key=secret_key,
            region_name="us-east-1", verify=verify,
            config=Config(s3={"addressing_style": "path"}, retries=RETRIES, connect_timeout=CONNECT_TIMEOUT,
                          read_timeout=READ_TIMEOUT, **CHECKSUMS),
        )
        # Before every attempt, retries included: past the deadline the request is not sent. botocore
        # raises what a before-send handler raises, without retrying it (botocore 1.3x endpoint.py).
        self.client.meta.events.register("before-send.s3", self._before_send)

    def _before_send(self, request, **_) -> None:
        self.in_time(f"{request.method} {request.url.split('?')[0].removeprefix(self.endpoint)}")

    def in_time(self, what: str) -> None:
        """StepTimeout if the running step is past its deadline."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise StepTimeout(f"S3 ({what}) ran past its step's deadline; check the S3 endpoint "
                              f"({self.endpoint}): it is slow or not answering")

    def list(self, bucket: str, prefix: str) -> list[S3Object]:
        out = []
        with _translated(f"list s3://{bucket}/{prefix}"):
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                out += [S3Object(o["Key"], o["Size"], o["ETag"].strip('"'),
                                 o["LastModified"].strftime("%Y-%m-%dT%H:%M:%SZ"))
                        for o in page.get("Contents", [])]
        return out

    def head(self, bucket: str, key: str) -> S3Object:
        with _translated(f"s3://{bucket}/{key}"):
            h = self.client.head_object(Bucket=bucket, Key=key)
        return S3Object(key, h["ContentLength"], h["ETag"].strip('"'),
                        h["LastModified"].strftime("%Y-%m-%dT%H:%M:%SZ"))

    def stream(self, bucket: str, key: str, if_match: str | None = None) -> Iterator[bytes]:
        """The object's bytes in 1 MiB chunks; never the whole object in memory.

        With if_match, S3 refuses (PreconditionFailed) if the object is no longer that ETag. A read that
        breaks is resumed where it broke (see RETRIES), the object pinned to the ETag it had at the start.
        """
        what = f"read s3://{bucket}/{key}"
        etag, got, broken, progress = if_match, 0, 0, 0
        # Read in pieces, handed on in CHUNKs (joined once): a break loses at most one piece.
        pieces: list[bytes] = []
        held = 0
        while True:
            extra = {"IfMatch": f'"{etag}"'} if etag else {}
            if got:
                extra["Range"] = f"bytes={got}-"
            with _translated(what):
                answer = self.client.get_object(Bucket=bucket, Key=key, **extra)
            etag = etag or answer["ETag"].strip('"')
            body = answer["Body"]
            if got and not str(answer.get("ContentRange", "")).startswith(f"bytes {got}-"):
                body.close()  # the whole object again, or another part: splicing it would corrupt the dump
                raise S3Error(f"{what}: S3 did not resume at byte {got} (Content-Range "
                              f"{answer.get('ContentRange')!r}); check the endpoint")
            try:
                with _translated(what):
                    try:
                        for piece in body.iter_chunks(PIECE):
                            self.in_time(what)  # a body that trickles in is as stuck as one that stopped
                            pieces.append(piece)
                            got += len(piece)
                            progress += len(piece)
                            held += len(piece)
                            if held >= CHUNK:
                                yield b"".join(pieces)
                                pieces.clear()
                                held = 0
                        if pieces:
                            yield b"".join(pieces)
                        return
                    except _BROKEN_BODY as e:
                        broken = 1 if progress >= CHUNK else broken + 1
                        progress = 0
                        if broken >= BODY_ATTEMPTS:
                            raise S3Error(f"{what}: the connection broke {broken} times in a row while reading "
                                          f"(at byte {got}; {type(e).__name__}); check the endpoint and the "
                                          f"network") from None
            finally:
                body.close()
            time.sleep(_backoff(broken))

    def read_range(self, bucket: str, key: str, start: int, end: int) -> bytes:
        """Bytes start..end (inclusive) of an object: a ranged GET, for a dump's head and tail."""
        what = f"read s3://{bucket}/{key}"
        for attempt in range(1, BODY_ATTEMPTS + 1):
            with _translated(what):
                body = self.client.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{end}")["Body"]
            try:
                return body.read()
            except _BROKEN_BODY as e:
                if attempt == BODY_ATTEMPTS:
                    raise S3Error(f"{what}: the connection broke {attempt} times in a row while reading "
                                  f"({type(e).__name__}); check the endpoint and the network") from None
            finally:
                body.close()
            time.sleep(_backoff(attempt))
        raise AssertionError("unreachable")

    def copy(self, bucket: str, *, source: str, target: str, if_match: str | None = None) -> S3Object:
        """A server-side copy (no bytes through this machine); refused if the source is no longer if_match."""
        extra = {"CopySourceIfMatch": f'"{if_match}"'} if if_match else {}
        with _translated(f"copy s3://{bucket}/{source} to {target}"):
            self.client.copy({"Bucket": bucket, "Key": source}, bucket, target, ExtraArgs=extra,
                             Config=COPY_CONFIG)
        return self.head(bucket, target)

    def put_small(self, bucket: str, key: str, body: bytes) -> S3Object:
        with _translated(f"write s3://{bucket}/{key}"):
            self.client.put_object(Bucket=bucket, Key=key, Body=body)
        return self.head(bucket, key)

    def writer(self, bucket: str, key: str) -> MultipartWriter:
        return MultipartWriter(self, bucket, key)

    def read_small(self, bucket: str, key: str, limit: int = 1024 * 1024) -> bytes:
        """A small object (a manifest) whole; refuses anything larger than limit."""
        obj = self.head(bucket, key)
        if obj.size > limit:
            raise S3Error(f"s3://{bucket}/{key} is {obj.size} bytes; a manifest should be under {limit}")
        return b"".join(self.stream(bucket, key))


def _backoff(attempt: int) -> float:
    step = min(4.0, 0.5 * 2 ** (attempt - 1))
    return step / 2 + random.uniform(0, step / 2)


class MultipartWriter:
    """Write an object of unknown length as it is produced, in parts sent while the next one fills.

    Up to IN_FLIGHT parts are being sent at once (each on its own connection, as boto3's managed
    transfer sends them): the producer (an exec stream) is not held up by one round trip per part.
    Memory: the part being filled and IN_FLIGHT parts being sent, PART bytes each.
    `abort()` removes the parts of an upload that did not complete, so a failed stream leaves no object
    behind (a half-written safety dump must never look like a dump).
    """

    PART = 5 * 1024 * 1024  # S3's smallest part
    IN_FLIGHT = 3

    def __init__(self, s3: S3, bucket: str, key: str):
        self.s3, self.bucket, self.key = s3, bucket, key
        self._buffer = bytearray()
        self._sent: list[Future[str]] = []  # the parts' ETags, in part order
        self._slots = threading.BoundedSemaphore(self.IN_FLIGHT)
        self._senders = ThreadPoolExecutor(self.IN_FLIGHT, thread_name_prefix="s3-part")
        with _translated(f"start upload of s3://{bucket}/{key}"):
            self._upload_id = s3.client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]

    def write(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= self.PART:
            with memoryview(self._buffer) as view:
                part = bytes(view[: self.PART])  # one copy, not a slice and then a copy of it
            del self._buffer[: self.PART]
            self._queue(part)

    def _queue(self, body: bytes) -> None:
        """Hand a part to a sender once one is free; a part that failed is raised here, not later."""
        while not self._slots.acquire(timeout=0.5):
            self._raise_failed()
            self.s3.in_time(f"upload of s3://{self.bucket}/{self.key}")
        self._raise_failed()
        number = len(self._sent) + 1
        sent = self._senders.submit(self._send, number, body)
        sent.add_done_callback(lambda _: self._slots.release())
        self._sent.append(sent)

    def _raise_failed(self) -> None:
        for sent in self._sent:
            if sent.done() and sent.exception() is not None:
                raise sent.exception()  # type: ignore[misc]

    def _send(self, number: int, body: bytes) -> str:
        with _translated(f"upload part {number} of s3://{self.bucket}/{self.key}"):
            return self.s3.client.upload_part(Bucket=self.bucket, Key=self.key, UploadId=self._upload_id,
                                              PartNumber=number, Body=body)["ETag"]

    def close(self) -> S3Object:
        if self._buffer or not self._sent:
            self._queue(bytes(self._buffer))
            self._buffer.clear()
        try:
            parts = [{"PartNumber": n, "ETag": sent.result()} for n, sent in enumerate(self._sent, 1)]
        finally:
            self._senders.shutdown(wait=True)
        with _translated(f"complete upload of s3://{self.bucket}/{self.key}"):
            self.s3.client.complete_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self._upload_id,
                                                     MultipartUpload={"Parts": parts})
        return self.s3.head(self.bucket, self.key)

    def abort(self) -> None:
        # Also past the deadline: the clean-up of a step that ran out of time (one short request), after
        # the parts under way have ended (a part that lands after the abort would stay behind).
        for sent in self._sent:
            sent.cancel()
        self._senders.shutdown(wait=True)
        deadline, self.s3.deadline = self.s3.deadline, None
        try:
            self.s3.client.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self._upload_id)
        except (ClientError, BotoCoreError):
            pass  # nothing more to clean up than S3's own expiry of stale uploads
        finally:
            self.s3.deadline = deadline
