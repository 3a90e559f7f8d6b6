"""`sandbox break`, `grow` and `backup-job`: disasters to rehearse on, size for benchmarks, and
CSM's backup CronJob firing now (e.g. in the middle of an apply)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from kubernetes import client

from . import cronjobs, registry, s3
from .errors import SandboxError
from .kube import CRD_GROUP, CRD_PLURAL, CRD_VERSION, Api, is_not_found, name_of, status_of
from .paths import StateDir
from .seed import run_sql_file
from .services import get_service


def _server(state: StateDir, svc):
    server = registry.server_for(state.clusters, svc.namespace, svc.cluster)
    if server is None:
        raise SandboxError(f"no database server for {svc.cluster}; is the sandbox up?")
    return server


def break_service(state: StateDir, service: str, how: str) -> str:
    svc = get_service(service)
    db, table = svc.main["database"], svc.main["table"]
    if how == "delete-cluster":
        api = Api.from_kubeconfig(state.kubeconfig)
        try:
            api.custom.delete_namespaced_custom_object(CRD_GROUP, CRD_VERSION, svc.namespace, CRD_PLURAL, svc.cluster)
        except client.ApiException as e:
            if is_not_found(e):
                raise SandboxError(f"postgresql {svc.namespace}/{svc.cluster} is already gone") from e
            raise
        return f"deleted postgresql {svc.namespace}/{svc.cluster}: its pods, secrets and data go with it"
    server = _server(state, svc)
    if how == "drop-table":
        server.psql(f'DROP TABLE "{table}" CASCADE;', db=db)
        return f"dropped table {table} in {svc.cluster}/{db}"
    server.psql(f'TRUNCATE "{table}" CASCADE;', db=db)
    return f"truncated table {table} in {svc.cluster}/{db}"


def grow(state: StateDir, service: str, mb: int) -> str:
    svc = get_service(service)
    db = svc.main["database"]
    rows = mb * 1000  # ~1.05 KiB a row on disk
    run_sql_file(state, svc, "grow.sql", {"database": db, "owner": svc.databases[db], "rows": rows})
    size = _server(state, svc).psql(f"SELECT pg_size_pretty(pg_database_size('{db}'))", db=db).strip()
    return f"added {rows} rows to {svc.cluster}/{db}.bulk_history; database size now {size}"


@dataclass
class BackupJobRun:
    """One manual run of a backup CronJob, as `sandbox backup-job` reports it."""
    namespace: str
    cronjob: str
    suspended: bool
    job: str
    status: str = "Running"  # Complete, Failed, or Running (not waited for, or timed out)
    pods: list[tuple[str, str, str]] = field(default_factory=list)  # (pod, Succeeded/Failed, message)
    written: list[tuple[str, int]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    seconds: float = 0.0


def backup_job(state: StateDir, service: str, fmt: str = "psql", wait: bool = True, timeout: float = 900.0,
               progress: Callable[[str], None] = lambda _: None) -> BackupJobRun:
    """Run SERVICE's backup CronJob now, as `kubectl create job <name> --from=cronjob/<cronjob>`
    does (a manual run: `suspend` does not stop it), and wait for its Job to complete or fail."""
    svc = get_service(service)
    api = Api.from_kubeconfig(state.kubeconfig)
    if fmt == "psql":
        if svc.backup is None:
            raise SandboxError(f"{service} has no backup CronJob in csm_services.yaml")
        name, prefix = svc.backup.name, f"{svc.cluster}-"
    else:
        name, prefix = cronjobs.logical_backup_name(svc.cluster), f"spilo/{svc.cluster}/"
    cronjob = cronjobs.get(api, svc.namespace, name)
    if cronjob is None:
        hint = " (the operator makes it for a cluster with enableLogicalBackup: true)" if fmt == "logical" else ""
        raise SandboxError(f"no CronJob {svc.namespace}/{name}{hint}")
    store = s3.client(json.loads(state.config.read_text())["s3_endpoint"])
    before = _listing(store, prefix)
    started = time.monotonic()
    run = BackupJobRun(svc.namespace, name, bool(cronjob["spec"].get("suspend")),
                       cronjobs.run_now(api, svc.namespace, cronjob))
    progress(f"job {svc.namespace}/{run.job} created from cronjob {name} "
             f"({cronjobs.API_VERSION}, suspend: {str(run.suspended).lower()})")
    if not wait:
        return run
    deadline = started + timeout
    while True:
        job = api.batch.read_namespaced_job(run.job, svc.namespace)
        done = [c.type for c in status_of(job).conditions or []
                if c.type in ("Complete", "Failed") and c.status == "True"]
        for pod in api.core.list_namespaced_pod(svc.namespace, label_selector=f"job-name={run.job}").items:
            phase = status_of(pod).phase
            if phase in ("Succeeded", "Failed") and name_of(pod) not in {p for p, *_ in run.pods}:
                run.pods.append((name_of(pod), phase, _exit_message(pod)))
                progress(f"pod {name_of(pod)}: {phase}" + (f" ({run.pods[-1][2]})" if phase == "Failed" else ""))
        if done or time.monotonic() > deadline:
            run.status = done[0] if done else "Running"
            break
        time.sleep(0.5)
    run.seconds = time.monotonic() - started
    after = _listing(store, prefix)
    run.written = [(k, size) for k, (size, etag) in sorted(after.items(), key=lambda kv: _write_order(kv[0]))
                   if before.get(k, (0, None))[1] != etag]
    run.deleted = sorted(set(before) - set(after))
    return run


def _write_order(key: str) -> tuple[str, bool]:
    stem, _, suffix = key.rpartition(".")
    return stem, suffix == "manifest"  # a pair's dump first, as the job writes them


def _listing(store, prefix: str) -> dict[str, tuple[int, str]]:
    out = {}
    for page in store.get_paginator("list_objects_v2").paginate(Bucket=s3.BUCKET, Prefix=prefix):
        for o in page.get("Contents", []):
            out[o["Key"]] = (o["Size"], o["ETag"])
    return out


def _exit_message(pod) -> str:
    for c in pod.status.container_statuses or []:
        t = c.state.terminated if c.state else None
        if t:
            return f"exit {t.exit_code}: {t.message}" if t.message else f"exit {t.exit_code}"
    return ""
