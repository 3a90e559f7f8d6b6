"""Connections from the CLI's options: S3 keys and endpoint, else the cluster's credentials secret."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import urlsplit

from core.adapters.kube import Kube
from core.adapters.s3 import S3
from core.errors import ConfigError, UsageError

S3_SECRET = "postgres-backup-s3-credentials"
# Never on the command line (pgrestore/cli.py refuses --s3-secret-key).
SECRET_KEY_HINT = "--s3-secret-key-file (or PGRESTORE_S3_SECRET_KEY)"


def _is_url(endpoint: str) -> bool:
    try:
        url = urlsplit(endpoint)
        url.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return False
    return url.scheme in ("http", "https") and bool(url.hostname)


def s3_from_cluster(kube: Kube, namespace: str = "services", endpoint: str | None = None,
                    access_key: str | None = None, secret_key: str | None = None) -> S3:
    """Keys and endpoint from the cluster's postgres-backup-s3-credentials unless given."""
    if endpoint and not _is_url(endpoint):
        raise UsageError(f"--s3-endpoint {endpoint!r} is not an http(s) URL; pass e.g. http://rgw-vip.nmn")
    if not (endpoint and access_key and secret_key):
        secret = kube.read_secret(namespace, S3_SECRET)
        if secret is None:
            raise UsageError(f"secret {namespace}/{S3_SECRET} not found; pass --s3-endpoint and keys")
        try:
            data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
        except (binascii.Error, UnicodeDecodeError):
            raise ConfigError(f"secret {namespace}/{S3_SECRET} holds a value that is not base64 text; fix it "
                              f"or pass --s3-endpoint, --s3-access-key and {SECRET_KEY_HINT}") from None
        missing = [k for k, given in (("access_key", access_key), ("secret_key", secret_key))
                   if not given and not data.get(k)]
        if missing:
            raise ConfigError(f"secret {namespace}/{S3_SECRET} has no {' or '.join(missing)}; fix it or pass "
                              f"--s3-access-key and {SECRET_KEY_HINT}")
        if not endpoint and data.get("s3_endpoint") and not _is_url(data["s3_endpoint"]):
            raise ConfigError(f"secret {namespace}/{S3_SECRET} has s3_endpoint {data['s3_endpoint']!r}, not an "
                              f"http(s) URL; fix it or pass --s3-endpoint")
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
