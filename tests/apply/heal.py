"""After a sandbox test that failed: put every seeded service back as the next test expects it, so
one failure stays one failure (a test that died mid-apply left a journal `waiting`, a lease and a
suspended CronJob, and the next test's plan refused to run).

What is put back: no pgrestore lease and no unfinished journal; every postgresql resource present
with its seeded numberOfInstances (a missing one re-created and re-seeded by the sandbox's own
idempotent seeding); every workload at its seeded replicas; every CronJob of a seeded cluster
unsuspended; then everything Ready; and every service's data as seeded (a test that dropped a table
and failed before its restore left every later Keycloak test without `user_entity`): the tables of its
databases dropped and the seed loaded again, when they differ from what the session began with."""

from __future__ import annotations

import base64
import json

from pgrestore_sandbox import cronjobs, registry, seed
from pgrestore_sandbox.kube import CRD_GROUP, CRD_PLURAL, CRD_VERSION, is_not_found
from pgrestore_sandbox.login import can_login
from pgrestore_sandbox.services import load_services

UNFINISHED = ("running", "waiting", "rolling-back", "rollback-incomplete", "failed")


def heal_if_failed(item, sandbox, baseline: dict[str, dict[str, str]], log_from: int = 0) -> None:
    report = getattr(item, "rep_call", None)
    if report is not None and report.failed:
        # The sandbox's own account of the test (an operator event that failed says why only in its
        # log, which the next session's sandbox no longer has).
        for line in daemon_account(sandbox, log_from):
            print(f"sandbox: {line}")
        done = heal(sandbox, baseline)
        print(f"\nhealed the sandbox after {item.name}: {'; '.join(done) or 'nothing to put back'}")


def _daemon_log(sandbox):
    return sandbox.state.logs / "sandbox-daemon.log"


def daemon_log_offset(sandbox) -> int:
    log = _daemon_log(sandbox)
    return log.stat().st_size if log.exists() else 0


def daemon_account(sandbox, offset: int) -> list[str]:
    log = _daemon_log(sandbox)
    if not log.exists():
        return []
    with log.open("rb") as f:
        f.seek(offset)
        lines = f.read().decode(errors="replace").splitlines()
    return [line for line in lines if any(word in line for word in _TOLD)][-60:]


# What the sandbox said during a failed test: its complaints, and who created or deleted a cluster and exec'd
# into which pod when (a restore that met tables in a brand-new cluster, seen once, left nothing else to read).
_TOLD = (" WARNING ", " ERROR ", " INFO exec ", " INFO creating cluster ", " INFO deleting cluster ")


def data_baseline(sandbox) -> dict[str, dict[str, str]]:
    """Each service's tables as the session began: row count and a digest of the rows."""
    from tests.apply.service_state import fingerprint
    return {svc.name: fingerprint(sandbox, svc) for svc in load_services().values()}


def heal(sandbox, baseline: dict[str, dict[str, str]] | None = None) -> list[str]:
    """Returns what it had to put back (for the test report)."""
    api, done = sandbox.api, []
    services = load_services().values()
    for ns in sorted({s.namespace for s in services}):
        done += _drop_leases(api, ns) + _drop_unfinished_journals(api, ns)
    done += _clusters_back(api, services)
    seed.seed_all(api, sandbox.state, sandbox.s3_endpoint)  # re-creates what is missing, re-seeds new clusters
    for svc in services:
        done += _workloads_back(api, svc) + _cronjobs_back(api, svc)
    if baseline is not None:
        done += _data_back(sandbox, baseline)
    for svc in services:
        done += _credentials_back(sandbox, svc)
    seed.wait_workloads_ready(api, timeout=300)
    return done


def _data_back(sandbox, baseline: dict[str, dict[str, str]]) -> list[str]:
    from tests.apply.service_state import fingerprint
    out = []
    for svc in load_services().values():
        if fingerprint(sandbox, svc) == baseline.get(svc.name):
            continue
        srv = registry.server_for(sandbox.state.clusters, svc.namespace, svc.cluster)
        for db in svc.databases:
            tables = srv.psql("SELECT string_agg(format('public.%I', tablename), ', ') FROM pg_tables "
                              "WHERE schemaname = 'public'", db=db).strip()
            if tables:
                srv.psql(f"DROP TABLE {tables} CASCADE", db=db)
        seed.load_rows(sandbox.state, svc)
        out.append(f"{svc.name}'s data re-seeded")
    return out


def _credentials_back(sandbox, svc) -> list[str]:
    """Each credential secret opens its role again: an apply killed in a new cluster after (part of) the
    restore left the dump's role passwords under the operator's new secrets, and a client that cannot log
    in never gets Ready. ALTER ROLE as the superuser, over the local socket."""
    srv = registry.server_for(sandbox.state.clusters, svc.namespace, svc.cluster)
    out = []
    for s in sandbox.api.core.list_namespaced_secret(svc.namespace, label_selector=f"cluster-name={svc.cluster}").items:
        user, password = (base64.b64decode(s.data[k]).decode() for k in ("username", "password"))
        exists = srv.psql(f"SELECT 1 FROM pg_roles WHERE rolname = '{user}'").strip()
        if exists and not can_login(srv.port, user, password, "postgres"):
            srv.psql(f"ALTER ROLE \"{user}\" WITH PASSWORD '{password.replace(chr(39), chr(39) * 2)}'")
            out.append(f"role {user} of {svc.cluster} given its secret's password again")
    return out


def _drop_leases(api, ns: str) -> list[str]:
    out = []
    for lease in api.coordination.list_namespaced_lease(ns).items:
        if lease.metadata.name.startswith("pgrestore-"):
            api.coordination.delete_namespaced_lease(lease.metadata.name, ns)
            out.append(f"lease {ns}/{lease.metadata.name} deleted")
    return out


def _drop_unfinished_journals(api, ns: str) -> list[str]:
    out = []
    for cm in api.core.list_namespaced_config_map(ns).items:
        if not cm.metadata.name.startswith("pgrestore-journal-"):
            continue
        status = _journal_status(cm.data or {})
        if status in UNFINISHED:
            api.core.delete_namespaced_config_map(cm.metadata.name, ns)
            out.append(f"journal {ns}/{cm.metadata.name} ({status}) deleted")
    return out


def _journal_status(data: dict) -> str | None:
    for text in data.values():
        try:
            return json.loads(text).get("status")
        except (ValueError, AttributeError):
            continue
    return None


def _clusters_back(api, services) -> list[str]:
    out = []
    for svc in services:
        try:
            pg = api.custom.get_namespaced_custom_object(CRD_GROUP, CRD_VERSION, svc.namespace, CRD_PLURAL,
                                                         svc.cluster)
        except Exception as e:  # noqa: BLE001 - a missing cluster is re-created by seed_all
            if is_not_found(e):
                out.append(f"postgresql {svc.namespace}/{svc.cluster} re-created and re-seeded")
                continue
            raise
        if pg["spec"].get("numberOfInstances") != svc.instances:
            api.custom.patch_namespaced_custom_object(CRD_GROUP, CRD_VERSION, svc.namespace, CRD_PLURAL, svc.cluster,
                                                      {"spec": {"numberOfInstances": svc.instances}})
            out.append(f"postgresql {svc.namespace}/{svc.cluster} numberOfInstances -> {svc.instances}")
    return out


def _workloads_back(api, svc) -> list[str]:
    out = []
    for w in svc.workloads:
        if w.kind not in ("Deployment", "StatefulSet"):
            continue
        read, patch = ((api.apps.read_namespaced_deployment, api.apps.patch_namespaced_deployment) if
                       w.kind == "Deployment" else
                       (api.apps.read_namespaced_stateful_set, api.apps.patch_namespaced_stateful_set))
        if read(w.name, svc.namespace).spec.replicas != w.replicas:
            patch(w.name, svc.namespace, {"spec": {"replicas": w.replicas}})
            out.append(f"{w.kind.lower()} {svc.namespace}/{w.name} replicas -> {w.replicas}")
    return out


def _cronjobs_back(api, svc) -> list[str]:
    out = []
    for cj in cronjobs.list_in(api, svc.namespace):  # batch/v1beta1 on Kubernetes 1.20
        name = cj["metadata"]["name"]
        if svc.cluster in name and (cj.get("spec") or {}).get("suspend"):
            cronjobs.set_suspend(api, svc.namespace, name, False)
            out.append(f"cronjob {svc.namespace}/{name} unsuspended")
    return out
