"""What a backup CronJob's pod does when the node agent runs it.

- container `postgresql-backup` (CSM <= 1.4): Cray-HPE/postgres-db-backup@4da3105
  postgres_db_backup.py. It logs in to PGHOST as PGUSER/PGPASSWORD (the database PGDATABASE)
  to look for a streaming replica less than 1 MiB behind (pg_stat_replication) and dumps
  from it, else from PGHOST; streams `pg_dumpall -c` to `<DB_NAME>-<UTC time>.psql`, writes
  the secrets to `.manifest`, then deletes every other timestamp under `<DB_NAME>-`. Any
  error ends the program with a traceback: the pod fails, and the Job makes a new pod (with
  the env resolved again, so a retry reads the secrets as they are then) until backoffLimit.
- container `logical-backup` (CSM >= 1.5): postgres-operator v1.8.2 docker/logical-backup/dump.sh.
  `pg_dumpall | pigz | aws s3 cp -` to spilo/<SCOPE><suffix>/logical_backups/<epoch>.sql.gz,
  then the retention cleanup; the upload happens even when pg_dumpall fails (an empty or
  truncated dump is kept) and the exit status counts the failed stages.

The sandbox has one PostgreSQL per cluster and no Services: a host name (`<cluster>`, as the
cluster's master Service, or a pod's name) resolves to that server's loopback port while the
cluster exists. pg_stat_replication is empty, so the dump comes from PGHOST. The logical job's
PGSSLMODE=require is not honoured (the sandbox's servers have no TLS). Each pod's log is kept
for `kubectl logs`.
"""

from __future__ import annotations

import json
import logging
import threading
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import psycopg
from kubernetes import client

from . import backup, podstatus, registry, s3, settings
from .cronjobs import CHART_CONTAINER, LOGICAL_CONTAINER, MANUAL
from .errors import SandboxError
from .kube import Api, is_not_found, meta, name_of, namespace_of, spec_of, uid_of
from .paths import StateDir

log = logging.getLogger("sandbox.backupjob")

REPLICA_LAG_LIMIT = 1024 * 1024  # query_replicas: "close enough" is under 1 MiB of WAL


class JobLog:
    """The container's stdout/stderr, in the job's own logging format, for `kubectl logs`."""

    def __init__(self, path: Path):
        self.path = path
        self.lines: list[str] = []

    def __call__(self, message: str, level: str = "INFO") -> None:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S,%f")[:-3]
        line = f"{stamp} - {level:<7} - root - {message}"
        self.lines.append(line)
        with open(self.path, "a") as f:
            f.write(line + "\n")


@dataclass
class Outcome:
    written: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


def container_of(pod: client.V1Pod) -> client.V1Container | None:
    """The backup container of a Job's pod, if this is a backup pod."""
    if not any(o.kind == "Job" for o in meta(pod).owner_references or []):
        return None
    for c in spec_of(pod).containers:
        if c.name in (CHART_CONTAINER, LOGICAL_CONTAINER):
            return c
    return None


def _resolve(state: StateDir, namespace: str, host: str) -> int:
    """A Service or pod name of a cluster → that cluster's server port (the sandbox's DNS)."""
    name = host.split(".")[0]
    entries = registry.load(state.clusters)
    for entry in entries.values():
        if entry["namespace"] != namespace or entry.get("deleting"):
            continue
        if name == entry["name"] or name.startswith(f"{entry['name']}-"):
            return entry["port"]
    raise SandboxError(f'could not translate host name "{host}" to address: Name or service not known')


def _tcp_env(port: int, user: str, password: str) -> dict[str, str]:
    return {"PGHOST": "127.0.0.1", "PGPORT": str(port), "PGUSER": user, "PGPASSWORD": password}


def chart_backup(api: Api, state: StateDir, env: dict[str, str], say: JobLog) -> Outcome:
    """postgres_db_backup.py main() and postgres_db_backup(), step by step."""
    db_name, users, namespace = env["DB_NAME"], json.loads(env["USERS"]), env["NAMESPACE"]
    bucket, pg_host = env["STORAGE_BUCKET"], env["PGHOST"]
    say("Connecting to database...")
    port = _resolve(state, namespace, pg_host)
    with psycopg.connect(host="127.0.0.1", port=port, dbname=env["PGDATABASE"], user=env["PGUSER"],
                         password=env["PGPASSWORD"], connect_timeout=5) as conn:
        rows = conn.execute("SELECT application_name, pg_current_wal_lsn() - replay_lsn AS behind"
                            " FROM pg_stat_replication WHERE state='streaming'").fetchall()
    say(f"res = {rows}")
    close = sorted((r for r in rows if r[1] is not None), key=lambda r: r[1])
    target = close[0][0] if close and close[0][1] < REPLICA_LAG_LIMIT else pg_host
    say(f"No target replica so using pg_host {pg_host!r}" if target == pg_host else f"Target replica is {target!r}")
    say(f"Initializing storage client. endpoint={env['STORAGE_ENDPOINT']} access_key={env['STORAGE_ACCESS_KEY']}")
    stg = s3.client(env["STORAGE_ENDPOINT"], env["STORAGE_ACCESS_KEY"], env["STORAGE_SECRET_KEY"],
                    verify=env["STORAGE_TLS_VERIFY"].lower() == "true")
    base, out = backup.psql_key_base(db_name), Outcome()
    say(f"Exec'ing ['pg_dumpall', '-c', '-h', {target!r}]")
    say(f"Sending pg_dump file to storage. bucket={bucket!r}, key={base + '.psql'!r}")
    conn_env = _tcp_env(_resolve(state, namespace, target), env["PGUSER"], env["PGPASSWORD"])
    try:
        size = backup.stream_dump(conn_env, stg, bucket, f"{base}.psql", clean=True, gzip=False)
    except SandboxError:
        out.written.append(f"{base}.psql")  # uploaded, then the failed dump is reported
        raise
    out.written.append(f"{base}.psql")
    say(f"Completed sending pg_dump file to storage ({size} bytes).")
    text = backup.manifest(api, namespace, db_name, users).encode()
    stg.put_object(Bucket=bucket, Key=f"{base}.manifest", Body=text)
    out.written.append(f"{base}.manifest")
    say(f"Completed sending creds file to storage. key={base + '.manifest'!r}")
    say(f"Listing objects in {bucket!r} with prefix {db_name + '-'!r}")
    out.deleted = backup.cleanup_old_backups(stg, bucket, db_name)
    for key in out.deleted:
        say(f"Deleting {key!r}")
    return out


def logical_backup(state: StateDir, env: dict[str, str], say: JobLog) -> Outcome:
    """dump.sh: dump | compress | upload, then delete outdated; exit status = failed stages."""
    scope, namespace = env["SCOPE"], env["POD_NAMESPACE"]
    bucket, suffix = env["LOGICAL_BACKUP_S3_BUCKET"], env.get("LOGICAL_BACKUP_S3_BUCKET_SCOPE_SUFFIX", "")
    port = _resolve(state, namespace, scope)
    stg = s3.client(env.get("LOGICAL_BACKUP_S3_ENDPOINT") or "http://rgw-vip.nmn",
                    env.get("AWS_ACCESS_KEY_ID", ""), env.get("AWS_SECRET_ACCESS_KEY", ""))
    key, out, failed = backup.logical_key(scope, suffix), Outcome(), None
    say(f"+ dump | compress | upload: s3://{bucket}/{key}")
    try:
        backup.stream_dump(_tcp_env(port, env.get("PGUSER", "postgres"), env.get("PGPASSWORD", "")),
                           stg, bucket, key, clean=False, gzip=True)
    except SandboxError as e:
        failed = e  # the (empty or truncated) upload stands
    out.written.append(key)
    prefix = f"spilo/{scope}{suffix}/logical_backups/"
    out.deleted = backup.delete_outdated(stg, bucket, prefix, env.get("LOGICAL_BACKUP_S3_RETENTION_TIME", ""))
    if failed:
        raise failed
    return out


class BackupRunner:
    """Runs backup pods for the node agent, one thread each; reports them Succeeded or Failed."""

    def __init__(self, state: StateDir):
        self.state = state
        self._started: set[str] = set()
        self._guard = threading.Lock()

    def handles(self, uid: str) -> bool:
        return uid in self._started

    def forget_except(self, present: set[str]) -> None:
        with self._guard:
            self._started &= present

    def start(self, pod: client.V1Pod, container: client.V1Container, env: dict[str, str]) -> bool:
        """Start the pod's run once; False if it was started before."""
        with self._guard:
            if uid_of(pod) in self._started:
                return False
            self._started.add(uid_of(pod))
        threading.Thread(target=self._run, args=(pod, container, env), daemon=True,
                         name=f"backup {namespace_of(pod)}/{name_of(pod)}").start()
        return True

    def _run(self, pod: client.V1Pod, container: client.V1Container, env: dict[str, str]) -> None:
        api = Api.from_kubeconfig(self.state.kubeconfig)
        ns, name = namespace_of(pod), name_of(pod)
        say = JobLog(self.state.pod_log(ns, name, container.name))
        code, error = 0, ""
        try:
            if not settings.load(self.state).scheduled_backups and not _manual(api, pod):
                say("sandbox: scheduled backup runs are off (setting scheduled_backups); nothing done")
            elif container.name == CHART_CONTAINER:
                chart_backup(api, self.state, env, say)
            else:
                logical_backup(self.state, env, say)
        except Exception as e:  # noqa: BLE001 - as the job's process: a traceback and exit 1
            code, error = 1, f"{type(e).__name__}: {str(e).strip()}"
            say(f"Traceback (most recent call last): {error}", "ERROR")
            log.info("backup pod %s/%s failed: %s", ns, name, e)
            log.debug("%s", traceback.format_exc())
        body = podstatus.finished(pod) if code == 0 else podstatus.failed(pod, code, error)
        try:
            api.core.patch_namespaced_pod_status(name, ns, {"status": body})
        except client.ApiException as e:
            if not is_not_found(e):
                log.warning("backup pod %s/%s: status not written: %s", ns, name, e.reason)


def _manual(api: Api, pod: client.V1Pod) -> bool:
    """Was the pod's Job made by hand (`kubectl create job --from=cronjob/…`, the drill)?"""
    for ref in meta(pod).owner_references or []:
        if ref.kind == "Job":
            try:
                job = api.batch.read_namespaced_job(ref.name, namespace_of(pod))
            except client.ApiException:
                return False
            return (meta(job).annotations or {}).get(MANUAL) == "manual"
    return False
