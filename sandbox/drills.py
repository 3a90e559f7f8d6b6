"""`sandbox break` and `sandbox grow`: disasters to rehearse on, and size for benchmarks."""

from __future__ import annotations

from kubernetes import client

from core.errors import SandboxError

from . import registry
from .kube import CRD_GROUP, CRD_PLURAL, CRD_VERSION, Api, is_not_found
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
