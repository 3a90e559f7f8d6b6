"""Seed the CSM services: namespaces, postgresql resources, rows, workloads, jobs and backup CronJobs."""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path

import yaml
from kubernetes import client

from . import cronjobs, helm, registry
from .credentials import secret_name
from .errors import SandboxError
from .kube import CRD_GROUP, CRD_PLURAL, CRD_VERSION, Api, as_dict, is_conflict, is_not_found, status_of
from .nodeagent import DB_ANNOTATION
from .paths import StateDir
from .s3 import ACCESS_KEY, SECRET_KEY
from .services import SandboxService, Workload, load_services

IMAGE_REGISTRY = "artifactory.algol60.net/csm-docker/stable"


def ensure_crd(api: Api) -> None:
    body = yaml.safe_load(resources.files("pgrestore_sandbox").joinpath("crd.yaml").read_text())
    try:
        api.ext.create_custom_resource_definition(body)
    except client.ApiException as e:
        if not is_conflict(e):
            raise
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        crd = api.ext.read_custom_resource_definition(body["metadata"]["name"])
        if any(c.type == "Established" and c.status == "True" for c in status_of(crd).conditions or []):
            return
        time.sleep(0.2)
    raise SandboxError("CRD postgresqls.acid.zalan.do not established after 30s")


def ensure_namespaces(api: Api, names) -> None:
    for ns in sorted(set(names)):
        _create(lambda ns=ns: api.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns))))


def ensure_s3_secret(api: Api, endpoint: str, namespaces) -> None:
    data = {"access_key": ACCESS_KEY, "secret_key": SECRET_KEY, "s3_endpoint": endpoint, "ssl_validate": "false"}
    for ns in sorted(set(namespaces)):
        body = client.V1Secret(metadata=client.V1ObjectMeta(name="postgres-backup-s3-credentials"),
                               type="Opaque", string_data=data)
        try:
            api.core.create_namespaced_secret(ns, body)
        except client.ApiException as e:
            if not is_conflict(e):
                raise
            api.core.replace_namespaced_secret("postgres-backup-s3-credentials", ns, body)


def seed_all(api: Api, state: StateDir, s3_endpoint: str) -> list[str]:
    services = load_services()
    namespaces = {s.namespace for s in services.values()}
    ensure_namespaces(api, namespaces)
    ensure_s3_secret(api, s3_endpoint, namespaces | {"services"})
    created = [s for s in services.values() if _ensure_cluster(api, s)]
    for svc in created:
        wait_cluster_running(api, svc.namespace, svc.cluster, timeout=120)
        load_rows(state, svc)
    for svc in services.values():
        for w in svc.workloads:
            _ensure_workload(api, svc, w)
        if svc.backup:
            cronjobs.ensure_chart_objects(api, svc)
            helm.ensure_releases(api, svc)  # the release Secrets `helm install` + `upgrade` leave
    return [s.name for s in created]


def _ensure_cluster(api: Api, svc: SandboxService) -> bool:
    try:
        api.custom.create_namespaced_custom_object(
            CRD_GROUP, CRD_VERSION, svc.namespace, CRD_PLURAL, svc.postgresql_resource())
        return True
    except client.ApiException as e:
        if is_conflict(e):
            return False
        raise


def wait_cluster_running(api: Api, ns: str, name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cr = as_dict(api.custom.get_namespaced_custom_object(CRD_GROUP, CRD_VERSION, ns, CRD_PLURAL, name))
        if (cr.get("status") or {}).get("PostgresClusterStatus") == "Running":
            return
        time.sleep(0.3)
    raise SandboxError(f"postgresql {ns}/{name} not Running after {timeout:.0f}s; see the daemon log")


def run_sql_file(state: StateDir, svc: SandboxService, sql_file: str, variables: dict | None = None) -> None:
    server = registry.server_for(state.clusters, svc.namespace, svc.cluster)
    if server is None:
        raise SandboxError(f"no database server for {svc.cluster}; is the sandbox up?")
    server.psql_file(Path(str(resources.files("pgrestore_sandbox").joinpath("data", sql_file))), variables=variables)


def load_rows(state: StateDir, svc: SandboxService) -> None:
    run_sql_file(state, svc, svc.data)


def _create(fn) -> None:
    try:
        fn()
    except client.ApiException as e:
        if not is_conflict(e):
            raise


def _pod_template(svc: SandboxService, w: Workload, restart: str = "Always") -> client.V1PodTemplateSpec:
    annotations, env = {}, []
    if w.login:
        annotations[DB_ANNOTATION] = f"{svc.cluster}/{w.login['database']}"
        sname = secret_name(w.login["user"], svc.cluster)
        env = [client.V1EnvVar(name=var, value_from=client.V1EnvVarSource(
            secret_key_ref=client.V1SecretKeySelector(name=sname, key=key)))
            for var, key in (("DB_USERNAME", "username"), ("DB_PASSWORD", "password"))]
    containers = [client.V1Container(name=c, image=f"{IMAGE_REGISTRY}/{c}:sandbox", env=env if i == 0 else None)
                  for i, c in enumerate(w.containers)]
    return client.V1PodTemplateSpec(
        metadata=client.V1ObjectMeta(labels=dict(w.labels), annotations=annotations or None),
        spec=client.V1PodSpec(containers=containers, restart_policy=restart, termination_grace_period_seconds=30),
    )


def _ensure_workload(api: Api, svc: SandboxService, w: Workload) -> None:
    ns, meta = svc.namespace, client.V1ObjectMeta(name=w.name, labels=dict(w.labels))
    selector = client.V1LabelSelector(match_labels=dict(w.labels))
    if w.kind == "StatefulSet":
        sts = client.V1StatefulSet(metadata=meta, spec=client.V1StatefulSetSpec(
            replicas=w.replicas, service_name=w.name, selector=selector, template=_pod_template(svc, w)))
        _create(lambda: api.apps.create_namespaced_stateful_set(ns, sts))
    elif w.kind == "Deployment":
        deployment = client.V1Deployment(metadata=meta, spec=client.V1DeploymentSpec(
            replicas=w.replicas, selector=selector, template=_pod_template(svc, w)))
        _create(lambda: api.apps.create_namespaced_deployment(ns, deployment))
    elif w.kind == "DaemonSet":
        daemonset = client.V1DaemonSet(metadata=meta, spec=client.V1DaemonSetSpec(
            selector=selector, template=_pod_template(svc, w)))
        _create(lambda: api.apps.create_namespaced_daemon_set(ns, daemonset))
    elif w.kind == "Job":
        job = client.V1Job(metadata=meta, spec=client.V1JobSpec(
            backoff_limit=6, template=_pod_template(svc, w, restart="OnFailure")))
        _create(lambda: api.batch.create_namespaced_job(ns, job))
    else:
        raise SandboxError(f"unknown workload kind {w.kind} in csm_services.yaml")


def wait_workloads_ready(api: Api, timeout: float) -> None:
    """Every seeded workload at its replica count, Ready; every Job complete."""
    deadline = time.monotonic() + timeout
    pending: list[str] = []
    while time.monotonic() < deadline:
        pending = _unready(api)
        if not pending:
            return
        time.sleep(0.5)
    raise SandboxError(f"not ready after {timeout:.0f}s: {', '.join(pending)}; see the daemon log")


def _unready(api: Api) -> list[str]:
    out = []
    for svc in load_services().values():
        for w in svc.workloads:
            ref = f"{w.kind.lower()}/{w.name}"
            try:
                if w.kind == "StatefulSet":
                    s = api.apps.read_namespaced_stateful_set(w.name, svc.namespace)
                    ok = (status_of(s).ready_replicas or 0) == s.spec.replicas
                elif w.kind == "Deployment":
                    d = api.apps.read_namespaced_deployment(w.name, svc.namespace)
                    ok = (status_of(d).ready_replicas or 0) == (status_of(d).replicas or 0) == d.spec.replicas
                elif w.kind == "DaemonSet":
                    ds = api.apps.read_namespaced_daemon_set(w.name, svc.namespace)
                    want = status_of(ds).desired_number_scheduled
                    ok = want > 0 and status_of(ds).number_ready == want
                else:
                    j = api.batch.read_namespaced_job(w.name, svc.namespace)
                    ok = (status_of(j).succeeded or 0) >= 1
            except client.ApiException as e:
                if not is_not_found(e):
                    raise
                ok = False
            if not ok:
                out.append(f"{svc.namespace}/{ref}")
    return out
