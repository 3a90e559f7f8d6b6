"""The sandbox's Ceph RGW: moto in server mode on loopback, checking keys (sandbox/s3server.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import boto3
from botocore.config import Config

from . import procs
from .paths import StateDir

BUCKET = "postgres-backup"
# The RGW user that owns the bucket, and its keys: what `postgres-backup-s3-credentials` holds.
RGW_USER = "postgres-backup"
ACCESS_KEY, SECRET_KEY = "sandbox-access-key", "sandbox-secret-key"


def start_moto(state: StateDir, port: int) -> None:
    proc = procs.spawn(state.pids, state.logs, "s3", [
        sys.executable, "-m", "pgrestore_sandbox.s3server", "-H", "127.0.0.1", "-p", str(port),
    ], env={"PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
    url = f"http://127.0.0.1:{port}"
    # A signed request: the server is up and knows the RGW user's keys.
    probe = client(url, attempts=1)
    procs.wait_for("S3 (moto)", lambda: probe.list_buckets() is not None, 30, state.logs / "s3.log", proc)


def client(endpoint: str, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY, verify: bool = False,
           attempts: int | None = None):
    """A client of the sandbox's S3; the RGW user's keys unless others are given."""
    # read_timeout: moto joins a multipart upload's parts before it answers CompleteMultipartUpload (over a
    # minute for a 4 GB backup on a busy machine; RGW writes a manifest), and a retried Complete finds no upload.
    config = Config(s3={"addressing_style": "path"}, read_timeout=600,
                    **({"retries": {"max_attempts": attempts}} if attempts else {}))
    return boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=access_key, aws_secret_access_key=secret_key,
        region_name="us-east-1", verify=verify, config=config,
    )


def ensure_bucket(endpoint: str) -> None:
    s3 = client(endpoint)
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if BUCKET not in existing:
        s3.create_bucket(Bucket=BUCKET)
