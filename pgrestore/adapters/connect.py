"""Where pgrestore talks to, from the CLI's options: the kubeconfig and its context, and S3 (keys and
endpoint as given, else from the cluster's credentials secret). Built once by the CLI."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from pgrestore.adapters.kube import Kube
from pgrestore.adapters.s3 import S3
from pgrestore.errors import ConfigError, UsageError

S3_SECRET = "postgres-backup-s3-credentials"
# Never on the command line (pgrestore/cli.py refuses --s3-secret-key).
SECRET_KEY_HINT = "--s3-secret-key-file (or PGRESTORE_S3_SECRET_KEY)"


@dataclass(frozen=True)
class S3Options:
    """The --s3-* options; what is not given comes from the cluster's postgres-backup-s3-credentials."""

    endpoint: str | None = None
    access_key: str | None = None
    secret_key: str | None = field(default=None, repr=False)
    namespace: str = "services"  # where the credentials secret is

    @property
    def complete(self) -> bool:
        """Everything given: the cluster's secret is not read."""
        return bool(self.endpoint and self.access_key and self.secret_key)


@dataclass(frozen=True)
class Connection:
    """The cluster (a kubeconfig and its context, None: the defaults) and S3, as one value."""

    kubeconfig: str | None = None
    context: str | None = None
    s3: S3Options = field(default_factory=S3Options)

    def kube(self) -> Kube:
        return Kube(self.kubeconfig, self.context)


def _is_url(endpoint: str) -> bool:
    try:
        url = urlsplit(endpoint)
        url.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return False
    return url.scheme in ("http", "https") and bool(url.hostname)


def s3_from_cluster(kube: Kube, namespace: str = "services", *, endpoint: str | None = None,
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


def s3_from_options(kube: Kube, opts: S3Options) -> S3:
    """S3 from the CLI's --s3-* options, falling back to the cluster's credentials secret."""
    return s3_from_cluster(kube, opts.namespace, endpoint=opts.endpoint, access_key=opts.access_key,
                           secret_key=opts.secret_key)
