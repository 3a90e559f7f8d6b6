"""All reading of the world for a plan: the live cluster and the chosen backup.

The planner is a pure function of what this module returns. Passwords are read into
memory only to be digested; they are never written anywhere.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pgrestore import backups
from pgrestore.adapters.kube import Kube
from pgrestore.adapters.s3 import S3
from pgrestore.errors import BackupError, NotFound, UsageError

S3_SECRET = "postgres-backup-s3-credentials"
SERVER_FIELDS = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "selfLink",
                 "deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences", "finalizers")


@dataclass(frozen=True)
class SecretState:
    name: str
    uid: str
    resource_version: str
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class ObjectState:
    kind: str
    name: str
    uid: str
    resource_version: str
    replicas: int | None = None


@dataclass(frozen=True)
class ClusterState:
    identity: dict
    namespace: str
    client: ObjectState
    client_selector: dict
    postgresql: dict | None  # the resource without server fields
    postgresql_meta: ObjectState | None
    postgresql_status: str | None
    secrets: tuple[SecretState, ...]
    jobs: tuple[ObjectState, ...]
    restart_targets: tuple[ObjectState, ...]


@dataclass(frozen=True)
class ManifestSecret:
    name: str
    username: str
    password: str = field(repr=False)
    labels: dict = field(default_factory=dict)


@dataclass(frozen=True)
class BackupState:
    source: str  # "s3" or "file"
    format: str
    key: str  # S3 key, or the local path
    size: int
    etag: str | None
    sha256: str | None
    taken_at: str | None
    bucket: str | None
    manifest_key: str | None
    manifest_etag: str | None
    manifest_sha256: str | None
    manifest_secrets: tuple[ManifestSecret, ...]


def strip_server_fields(resource: dict) -> dict:
    meta = {k: v for k, v in resource["metadata"].items() if k not in SERVER_FIELDS}
    return {"apiVersion": resource["apiVersion"], "kind": resource["kind"], "metadata": meta,
            "spec": resource["spec"]}


def _object_state(obj: dict, replicas: bool = False) -> ObjectState:
    meta = obj["metadata"]
    return ObjectState(obj.get("kind") or "", meta["name"], meta["uid"], meta["resourceVersion"],
                       (obj.get("spec") or {}).get("replicas") if replicas else None)


def _secret_state(obj: dict) -> SecretState:
    data = obj.get("data") or {}
    decode = lambda k: base64.b64decode(data.get(k, "")).decode(errors="replace")  # noqa: E731
    meta = obj["metadata"]
    return SecretState(meta["name"], meta["uid"], meta["resourceVersion"], decode("username"), decode("password"))


def read_cluster(kube: Kube, service: dict) -> ClusterState:
    ns, cluster = service["namespace"], service["cluster"]
    client_kind, client_name = service["client"]["kind"], service["client"]["name"]
    workload = kube.get_workload(client_kind, ns, client_name)
    workload["kind"] = client_kind
    pg = kube.get_postgresql(ns, cluster)
    secrets = kube.list_secrets(ns, f"cluster-name={cluster}")
    secrets = [s for s in secrets if s["metadata"]["name"].endswith(f".{cluster}.credentials")]
    jobs, targets = [], []
    for extra in service.get("after_restore") or []:
        if extra["kind"] == "rerun-job":
            job = kube.get_job(ns, extra["name"])
            job["kind"] = "Job"
            jobs.append(_object_state(job))
        else:
            t = kube.get_workload(extra["target"]["kind"], ns, extra["target"]["name"])
            t["kind"] = extra["target"]["kind"]
            targets.append(_object_state(t, replicas=True))
    return ClusterState(
        identity=kube.cluster_identity(),
        namespace=ns,
        client=_object_state(workload, replicas=True),
        client_selector=dict(workload["spec"]["selector"].get("matchLabels") or {}),
        postgresql=strip_server_fields(pg) if pg else None,
        postgresql_meta=_object_state(pg) if pg else None,
        postgresql_status=((pg or {}).get("status") or {}).get("PostgresClusterStatus"),
        secrets=tuple(sorted((_secret_state(s) for s in secrets), key=lambda s: s.name)),
        jobs=tuple(jobs),
        restart_targets=tuple(targets),
    )


def parse_manifest(text: str, where: str) -> tuple[ManifestSecret, ...]:
    try:
        docs = [d for d in yaml.safe_load_all(text) if d]
    except yaml.YAMLError as e:
        raise BackupError(f"manifest {where} is not valid YAML ({type(e).__name__}); choose another backup") from None
    out = []
    for d in docs:
        if d.get("kind") != "Secret" or "data" not in d:
            raise BackupError(f"manifest {where} holds a {d.get('kind')!r}, not only Secrets")
        data = d["data"]
        out.append(ManifestSecret(d["metadata"]["name"], base64.b64decode(data["username"]).decode(),
                                  base64.b64decode(data["password"]).decode(), d["metadata"].get("labels") or {}))
    return tuple(sorted(out, key=lambda s: s.name))


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


def read_backup_s3(s3: S3, cluster: str, wanted: str) -> BackupState:
    listing = [o for p in backups.prefixes(cluster) for o in s3.list(backups.BUCKET, p)]
    chosen = backups.choose(backups.find(listing, cluster), wanted, cluster)
    secrets: tuple[ManifestSecret, ...] = ()
    if chosen.manifest:
        text = s3.read_small(backups.BUCKET, chosen.manifest.key).decode()
        secrets = parse_manifest(text, chosen.manifest.key)
    return BackupState("s3", chosen.format, chosen.dump.key, chosen.dump.size, chosen.dump.etag, None,
                       chosen.taken_at, backups.BUCKET, chosen.manifest.key if chosen.manifest else None,
                       chosen.manifest.etag if chosen.manifest else None, None, secrets)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1024 * 1024):
            h.update(chunk)
    return h.hexdigest()


def read_backup_file(dump: Path, manifest: Path | None) -> BackupState:
    if not dump.is_file():
        raise UsageError(f"dump file {dump} not found")
    fmt = "logical" if dump.name.endswith(".gz") else "psql"
    secrets: tuple[ManifestSecret, ...] = ()
    if manifest is not None:
        if not manifest.is_file():
            raise UsageError(f"manifest file {manifest} not found")
        secrets = parse_manifest(manifest.read_text(), str(manifest))
    return BackupState("file", fmt, str(dump.resolve()), dump.stat().st_size, None, sha256_file(dump), None, None,
                       str(manifest.resolve()) if manifest else None, None,
                       sha256_file(manifest) if manifest else None, secrets)


def require_cluster(state: ClusterState, service: dict) -> None:
    if state.postgresql is None:
        raise NotFound(f"postgresql {service['namespace']}/{service['cluster']} does not exist; "
                       f"pgrestore restores an existing cluster (re-create it from its Helm chart first)")


@dataclass(frozen=True)
class Snapshot:
    """Everything a plan is built from."""

    cluster: ClusterState
    backup: BackupState
