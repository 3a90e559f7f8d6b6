"""`sandbox backup`: write exactly what CSM's backup jobs write to S3.

psql format (CSM ≤ 1.4, the cray-service backup CronJob): `pg_dumpall -c` streamed to
`<cluster>-<UTC YYYY-MM-DDTHH:MM:SS>.psql`, the credential Secrets as a YAML stream in
`<cluster>-<same>.manifest`, older pairs deleted. Logical format (CSM ≥ 1.5, the
operator's logical backup): `pg_dumpall` without -c, gzip, at
`spilo/<cluster>/<uid>/logical_backups/<epoch>.sql.gz`.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import datetime, timezone

import yaml

from core.errors import SandboxError

from . import registry, s3
from .kube import CRD_GROUP, CRD_PLURAL, CRD_VERSION, Api
from .credentials import secret_name
from .paths import StateDir
from .pgserver import PgServer, pg_bin
from .services import SandboxService, get_service

# CSM's job used a PostgreSQL 12 client, whose dumps have no \restrict lines; newer
# clients write them and older psql builds reject them. Drop them to match CSM.
_DROP_RESTRICT = ["grep", "-v", "-E", r"^\\(un)?restrict "]


def backup(state: StateDir, service: str, fmt: str) -> list[tuple[str, int]]:
    svc = get_service(service)
    server = registry.server_for(state.clusters, svc.namespace, svc.cluster)
    if server is None:
        raise SandboxError(f"no database server for {svc.cluster}; is the sandbox up and the cluster Running?")
    endpoint = json.loads(state.config.read_text())["s3_endpoint"]
    client = s3.client(endpoint)
    api = Api.from_kubeconfig(state.kubeconfig)
    if fmt == "psql":
        return _psql_backup(client, api, server, svc)
    return _logical_backup(client, api, server, svc)


def _stream_dump(server: PgServer, client, key: str, clean: bool, gzip: bool) -> int:
    argv = [pg_bin("pg_dumpall"), *(["-c"] if clean else [])]
    env = {**os.environ, **server.env()}
    dump = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    filt = subprocess.Popen(_DROP_RESTRICT, stdin=dump.stdout, stdout=subprocess.PIPE)
    dump.stdout.close()
    out = filt
    if gzip:
        out = subprocess.Popen(["gzip", "-c"], stdin=filt.stdout, stdout=subprocess.PIPE)
        filt.stdout.close()
    client.upload_fileobj(out.stdout, s3.BUCKET, key)
    out.wait()
    if dump.wait() != 0:
        raise SandboxError(f"pg_dumpall failed: {dump.stderr.read().decode().strip()}")
    return client.head_object(Bucket=s3.BUCKET, Key=key)["ContentLength"]


def _manifest(api: Api, svc: SandboxService) -> str:
    out = []
    for user in (*svc.users, "postgres", "standby"):
        sec = api.core.read_namespaced_secret(secret_name(user, svc.cluster), svc.namespace)
        obj = {"apiVersion": "v1", "kind": "Secret", "type": sec.type,
               "metadata": {"name": sec.metadata.name, "namespace": sec.metadata.namespace,
                            "labels": sec.metadata.labels},
               "data": dict(sec.data or {})}
        out.append("\n---\n" + yaml.dump(obj) + "\n")
    return "".join(out)


def _psql_backup(client, api: Api, server: PgServer, svc: SandboxService) -> list[tuple[str, int]]:
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    base = f"{svc.cluster}-{stamp}"
    size = _stream_dump(server, client, f"{base}.psql", clean=True, gzip=False)
    manifest = _manifest(api, svc).encode()
    client.put_object(Bucket=s3.BUCKET, Key=f"{base}.manifest", Body=manifest)
    _delete_older(client, svc.cluster, base)
    return [(f"{base}.psql", size), (f"{base}.manifest", len(manifest))]


def _delete_older(client, cluster: str, keep_base: str) -> None:
    prefix = f"{cluster}-"
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=s3.BUCKET, Prefix=prefix):
        for obj in page.get("Contents", []):
            stem = obj["Key"].rsplit(".", 1)[0]
            # Only this cluster's own pairs: the rest of the stem must be the timestamp.
            if len(stem) == len(prefix) + 19 and stem != keep_base:
                client.delete_object(Bucket=s3.BUCKET, Key=obj["Key"])


def _logical_backup(client, api: Api, server: PgServer, svc: SandboxService) -> list[tuple[str, int]]:
    cr = api.custom.get_namespaced_custom_object(CRD_GROUP, CRD_VERSION, svc.namespace, CRD_PLURAL, svc.cluster)
    key = f"spilo/{svc.cluster}/{cr['metadata']['uid']}/logical_backups/{int(time.time())}.sql.gz"
    return [(key, _stream_dump(server, client, key, clean=False, gzip=True))]

