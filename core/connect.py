"""Connections from the CLI's options: S3 keys and endpoint, else the cluster's credentials secret."""

from __future__ import annotations

import base64

from core.adapters.kube import Kube
from core.adapters.s3 import S3
from core.errors import UsageError

S3_SECRET = "postgres-backup-s3-credentials"


def s3_from_cluster(kube: Kube, namespace: str = "services", endpoint: str | None = None,
                    access_key: str | None = None, secret_key: str | None = None) -> S3:
    """Keys and endpoint from the cluster's postgres-backup-s3-credentials unless given."""
    if not (endpoint and access_key and secret_key):
        secret = kube.read_secret(namespace, S3_SECRET)
        if secret is None:
            raise UsageError(f"secret {namespace}/{S3_SECRET} not found; pass --s3-endpoint and keys")
        data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
        endpoint = endpoint or data.get("s3_endpoint") or "http://rgw-vip.nmn"
        access_key = access_key or data["access_key"]
        secret_key = secret_key or data["secret_key"]
        verify = data.get("ssl_validate", "false").lower() == "true"
    else:
        verify = False
    return S3(endpoint, access_key, secret_key, verify=verify)


def s3_from_options(kube: Kube, opts: dict | None) -> S3:
    """S3 from the CLI's --s3-* options, falling back to the cluster's credentials secret."""
    o = opts or {}
    return s3_from_cluster(kube, o.get("s3_namespace") or "services", o.get("s3_endpoint"),
                           o.get("s3_access_key"), o.get("s3_secret_key"))


