"""moto in server mode on loopback: the sandbox's Ceph RGW."""

from __future__ import annotations

import sys
import urllib.request

import boto3
from botocore.config import Config

from . import procs
from .paths import StateDir

BUCKET = "postgres-backup"
ACCESS_KEY, SECRET_KEY = "sandbox-access-key", "sandbox-secret-key"


def start_moto(state: StateDir, port: int) -> None:
    proc = procs.spawn(state.pids, state.logs, "s3", [
        sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port),
    ])
    url = f"http://127.0.0.1:{port}"
    procs.wait_for("S3 (moto)", lambda: urllib.request.urlopen(url, timeout=2).status == 200, 30,
                   state.logs / "s3.log", proc)


def client(endpoint: str):
    return boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1", config=Config(s3={"addressing_style": "path"}),
    )


def ensure_bucket(endpoint: str) -> None:
    s3 = client(endpoint)
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if BUCKET not in existing:
        s3.create_bucket(Bucket=BUCKET)
