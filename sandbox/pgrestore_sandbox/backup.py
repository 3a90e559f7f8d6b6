"""`sandbox backup`: write exactly what CSM's backup jobs write to S3.

psql format (CSM ≤ 1.4, the cray-service backup CronJob): `pg_dumpall -c` streamed to
`<cluster>-<UTC YYYY-MM-DDTHH:MM:SS>.psql`, the credential Secrets as a YAML stream in
`<cluster>-<same>.manifest`, older pairs deleted. Logical format (CSM ≥ 1.5, the
operator's logical backup): `pg_dumpall` without -c, gzip, at
`spilo/<cluster>/<uid>/logical_backups/<epoch>.sql.gz`.

The pieces are shared with the CronJobs' pods (sandbox/backupjob.py), which do the same
from their environment: Cray-HPE/postgres-db-backup@4da3105 postgres_db_backup.py and
postgres-operator v1.8.2 docker/logical-backup/dump.sh.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from datetime import datetime, timedelta, timezone

import yaml

from . import registry, s3
from .credentials import secret_name
from .errors import SandboxError
from .kube import CRD_GROUP, CRD_PLURAL, CRD_VERSION, Api, as_dict, meta
from .paths import StateDir
from .pgserver import pg_bin
from .procs import piped
from .services import get_service

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
        base = psql_key_base(svc.cluster)
        size = stream_dump(server.env(), client, s3.BUCKET, f"{base}.psql", clean=True, gzip=False)
        text = manifest(api, svc.namespace, svc.cluster, svc.users).encode()
        client.put_object(Bucket=s3.BUCKET, Key=f"{base}.manifest", Body=text)
        cleanup_old_backups(client, s3.BUCKET, svc.cluster)
        return [(f"{base}.psql", size), (f"{base}.manifest", len(text))]
    cr = as_dict(api.custom.get_namespaced_custom_object(CRD_GROUP, CRD_VERSION, svc.namespace, CRD_PLURAL,
                                                         svc.cluster))
    key = logical_key(svc.cluster, f"/{cr['metadata']['uid']}")
    return [(key, stream_dump(server.env(), client, s3.BUCKET, key, clean=False, gzip=True))]


def psql_key_base(db_name: str) -> str:
    """calc_key_base: the db name and utcnow().isoformat(timespec='seconds')."""
    return f"{db_name}-{datetime.now(timezone.utc).strftime('%Y-%m-%dT%H:%M:%S')}"


def logical_key(scope: str, scope_suffix: str) -> str:
    """dump.sh aws_upload: spilo/<scope><suffix>/logical_backups/<epoch>.sql.gz."""
    return f"spilo/{scope}{scope_suffix}/logical_backups/{int(time.time())}.sql.gz"


def stream_dump(conn_env: dict[str, str], client, bucket: str, key: str, clean: bool, gzip: bool) -> int:
    """pg_dumpall (-c) with the given libpq environment, streamed to S3 as it comes.

    Like both jobs, the object is uploaded whatever pg_dumpall's fate; its failure is raised
    afterwards. An S3 refusal stops the dump."""
    argv = [pg_bin("pg_dumpall"), *(["-c"] if clean else [])]
    dump = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **conn_env})
    filt = subprocess.Popen(_DROP_RESTRICT, stdin=dump.stdout, stdout=subprocess.PIPE)
    piped(dump.stdout).close()
    stages = [dump, filt]
    if gzip:
        stages.append(subprocess.Popen(["gzip", "-c"], stdin=filt.stdout, stdout=subprocess.PIPE))
        piped(filt.stdout).close()
    try:
        client.upload_fileobj(stages[-1].stdout, bucket, key)
    except BaseException:
        for proc in stages:
            proc.kill()
        raise
    finally:
        for proc in stages:
            proc.wait()
        err = piped(dump.stderr).read().decode().strip()
        piped(dump.stderr).close()
        piped(stages[-1].stdout).close()
    if dump.returncode != 0:
        raise SandboxError(f"pg_dumpall failed: {err}")
    return client.head_object(Bucket=bucket, Key=key)["ContentLength"]


def manifest(api: Api, namespace: str, cluster: str, users) -> str:
    """k8s_objects_to_storage: each user's secret, then postgres' and standby's, as a YAML stream."""
    out = []
    for user in (*users, "postgres", "standby"):
        sec = api.core.read_namespaced_secret(secret_name(user, cluster), namespace)
        md = meta(sec)
        obj = {"apiVersion": "v1", "kind": "Secret", "type": sec.type,
               "metadata": {"name": md.name, "namespace": md.namespace, "labels": md.labels},
               "data": dict(sec.data or {})}
        out.append("\n---\n" + yaml.dump(obj) + "\n")
    return "".join(out)


def cleanup_old_backups(client, bucket: str, db_name: str) -> list[str]:
    """postgres_db_backup.py cleanup_old_backups, as it behaves: one ListObjects (no paging) of
    `<db_name>-`, each key's "timestamp" is what follows the prefix up to the last dot, and every
    key whose timestamp is not the greatest is deleted. So any other key under the prefix goes
    too (or, if it sorts last, survives and the new backup is deleted). Returns the keys deleted."""
    prefix = f"{db_name}-"
    keys = [o["Key"] for o in client.list_objects(Bucket=bucket, Prefix=prefix)["Contents"]]
    stamps = sorted({k[len(prefix):].rsplit(".", 1)[0] for k in keys})
    doomed = [k for k in keys if k[len(prefix):].rsplit(".", 1)[0] in stamps[:-1]]
    for key in doomed:
        client.delete_object(Bucket=bucket, Key=key)
    return doomed


_RETENTION = re.compile(r"^\s*(\d+)\s*(minute|hour|day|week)s?\s*$")


def delete_outdated(client, bucket: str, prefix: str, retention: str) -> list[str]:
    """dump.sh aws_delete_outdated: keys under the prefix last modified before the cutoff day
    (`date -d "<retention> ago" +%F`), less the last one listed, are deleted."""
    m = _RETENTION.match(retention or "")
    if not m:
        return []  # no (or an unparsable) retention time: dump.sh skips the cleanup
    cutoff = (datetime.now(timezone.utc) - timedelta(**{f"{m.group(2)}s": int(m.group(1))})).strftime("%Y-%m-%d")
    listed = client.list_objects(Bucket=bucket, Prefix=prefix).get("Contents", [])
    outdated = [o["Key"] for o in listed if o["LastModified"].strftime("%Y-%m-%dT%H:%M:%S") <= cutoff][:-1]
    for key in outdated:
        client.delete_object(Bucket=bucket, Key=key)
    return outdated
