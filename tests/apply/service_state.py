"""What a user checks after restoring any seeded CSM service: every table of every database, the
service's workloads Ready at their replicas, every credential secret opening the database, and the
scale settings. Driven by sandbox/csm_services.yaml, so the same checks serve every service."""

from __future__ import annotations

import base64
import json

from pgrestore_sandbox import registry
from pgrestore_sandbox.kube import CRD_GROUP, CRD_PLURAL, CRD_VERSION
from pgrestore_sandbox.login import can_login
from pgrestore_sandbox.services import SandboxService, get_service
from tests.helpers import pod_ready, pods, wait_until

SCALED = ("Deployment", "StatefulSet")


def server(sandbox, svc: SandboxService):
    return registry.server_for(sandbox.state.clusters, svc.namespace, svc.cluster)


def fingerprint(sandbox, svc: SandboxService) -> dict[str, str]:
    """`db.table` → row count and a hash of the rows, for every table of the service's databases."""
    srv = server(sandbox, svc)
    out = {}
    for db in svc.databases:
        tables = srv.psql("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1", db=db).split()
        for t in tables:
            out[f"{db}.{t}"] = srv.psql(
                f"SELECT count(*) || ':' || md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) "
                f'FROM public."{t}" x', db=db).strip()
    return out


def settings(sandbox, svc: SandboxService) -> dict[str, int]:
    """Every scaled workload's replicas and the cluster's numberOfInstances."""
    out = {}
    for w in svc.workloads:
        if w.kind == "Deployment":
            out[w.name] = sandbox.api.apps.read_namespaced_deployment(w.name, svc.namespace).spec.replicas
        elif w.kind == "StatefulSet":
            out[w.name] = sandbox.api.apps.read_namespaced_stateful_set(w.name, svc.namespace).spec.replicas
    pg = sandbox.api.custom.get_namespaced_custom_object(CRD_GROUP, CRD_VERSION, svc.namespace, CRD_PLURAL,
                                                         svc.cluster)
    out["numberOfInstances"] = pg["spec"]["numberOfInstances"]
    return out


def cluster_uid(sandbox, svc: SandboxService) -> str:
    pg = sandbox.api.custom.get_namespaced_custom_object(CRD_GROUP, CRD_VERSION, svc.namespace, CRD_PLURAL,
                                                         svc.cluster)
    return pg["metadata"]["uid"]


def credential_secrets(sandbox, svc: SandboxService) -> dict[str, tuple[str, str]]:
    found = sandbox.api.core.list_namespaced_secret(svc.namespace, label_selector=f"cluster-name={svc.cluster}")
    return {s.metadata.name: (base64.b64decode(s.data["username"]).decode(),
                              base64.b64decode(s.data["password"]).decode())
            for s in found.items if s.data and "password" in s.data}


def secrets_not_opening(sandbox, svc: SandboxService) -> list[str]:
    port = server(sandbox, svc).port
    return sorted(name for name, (user, pw) in credential_secrets(sandbox, svc).items()
                  if not can_login(port, user, pw, "postgres"))


def workloads_not_ready(sandbox, svc: SandboxService) -> list[str]:
    """The scaled workloads whose pods are not all Ready at their replicas (empty: all are)."""
    expected = settings(sandbox, svc)
    out = []
    for w in svc.workloads:
        if w.kind not in SCALED:
            continue
        selector = ",".join(f"{k}={v}" for k, v in sorted(w.labels.items()))
        live = pods(sandbox.api.core, svc.namespace, selector)
        if len(live) != expected[w.name] or not all(pod_ready(p) for p in live):
            out.append(f"{w.kind}/{w.name}: {sum(pod_ready(p) for p in live)}/{expected[w.name]} Ready")
    return out


def wait_healthy(sandbox, svc: SandboxService, timeout: float = 120) -> None:
    wait_until(f"{svc.name} healthy", lambda: not workloads_not_ready(sandbox, svc)
               and not secrets_not_opening(sandbox, svc), timeout=timeout)


def service(name: str) -> SandboxService:
    return get_service(name)


# -- Spire's agents -------------------------------------------------------------------------
MANAGEMENT_NODES = [f"ncn-{r}00{i}" for r in "msw" for i in (1, 2, 3)]
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


def assert_agents_restarted(sandbox, svc) -> None:
    """Spire's agents and JWKS were rollout-restarted after the server came back (csm-procedures.md §1)."""
    agent = sandbox.api.apps.read_namespaced_daemon_set("spire-agent", svc.namespace)
    jwks = sandbox.api.apps.read_namespaced_deployment("spire-jwks", svc.namespace)
    for obj in (agent, jwks):
        assert RESTARTED_AT in (obj.spec.template.metadata.annotations or {}), obj.metadata.name


def agent_restarts(sandbox) -> dict[str, int]:
    """How often each node's spire-agent unit was restarted (sandbox/hosts.py keeps it per host)."""
    folder = sandbox.state.root / "hosts"
    return {p.stem: json.loads(p.read_text())["spire-agent"]["restarts"] for p in sorted(folder.glob("*.json"))}
