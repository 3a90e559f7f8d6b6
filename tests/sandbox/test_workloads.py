"""Workloads, clusters and pods behave as on a CSM cluster."""

from __future__ import annotations

import copy

from kubernetes import client

from pgrestore_sandbox import cronjobs, registry, seed
from pgrestore_sandbox.kube import CRD_GROUP, CRD_PLURAL, CRD_VERSION
from pgrestore_sandbox.services import get_service
from tests.helpers import pod_ready, pods, secret_password, wait_until

NS = "services"


def _scale_deployment(apps: client.AppsV1Api, name: str, replicas: int) -> None:
    apps.patch_namespaced_deployment_scale(name, NS, {"spec": {"replicas": replicas}})


def test_scaling_a_client_to_zero_removes_its_pods_and_back_makes_them_ready(sandbox):
    core, apps = sandbox.api.core, sandbox.api.apps
    selector = "app.kubernetes.io/name=capsules-warehouse-server"
    assert len(pods(core, NS, selector)) == 3

    _scale_deployment(apps, "capsules-warehouse-server", 0)
    wait_until("client pods gone", lambda: not core.list_namespaced_pod(NS, label_selector=selector).items)

    _scale_deployment(apps, "capsules-warehouse-server", 3)
    ready = wait_until("3 Ready client pods",
                       lambda: [p for p in pods(core, NS, selector) if pod_ready(p)] if
                       len([p for p in pods(core, NS, selector) if pod_ready(p)]) == 3 else None)
    assert {p.spec.node_name for p in ready} <= {"ncn-w001", "ncn-w002", "ncn-w003"}


def _cluster(sandbox, name: str) -> dict:
    return sandbox.api.custom.get_namespaced_custom_object(CRD_GROUP, CRD_VERSION, NS, CRD_PLURAL, name)


def _status(sandbox, name: str) -> str | None:
    try:
        return (_cluster(sandbox, name).get("status") or {}).get("PostgresClusterStatus")
    except client.ApiException as e:
        if e.status == 404:
            return None
        raise


def test_deleting_a_postgresql_removes_pods_secrets_and_data_and_recreating_starts_empty(sandbox):
    core, custom = sandbox.api.core, sandbox.api.custom
    name, spilo = "gitea-vcs-postgres", "application=spilo,cluster-name=gitea-vcs-postgres"
    server = registry.server_for(sandbox.state.clusters, NS, name)
    assert int(server.psql("SELECT count(*) FROM repository", db="service_db")) == 6
    old_passwords = {s.metadata.name: secret_password(core, NS, s.metadata.name)
                     for s in core.list_namespaced_secret(NS, label_selector=f"cluster-name={name}").items}
    assert set(old_passwords) == {f"{u}.{name}.credentials" for u in ("postgres", "standby", "service-account")}
    saved = copy.deepcopy(_cluster(sandbox, name))

    custom.delete_namespaced_custom_object(CRD_GROUP, CRD_VERSION, NS, CRD_PLURAL, name)
    wait_until("spilo pods gone", lambda: not core.list_namespaced_pod(NS, label_selector=spilo).items)
    wait_until("secrets gone", lambda: not core.list_namespaced_secret(NS, label_selector=f"cluster-name={name}").items)
    assert not server.datadir.exists(), "the data volume must go with the cluster"

    body = {"apiVersion": saved["apiVersion"], "kind": saved["kind"], "spec": saved["spec"],
            "metadata": {"name": name, "namespace": NS, "labels": saved["metadata"].get("labels")}}
    custom.create_namespaced_custom_object(CRD_GROUP, CRD_VERSION, NS, CRD_PLURAL, body)
    wait_until("cluster Running", lambda: _status(sandbox, name) == "Running", timeout=90)

    new_passwords = {n: secret_password(core, NS, n) for n in old_passwords}
    assert all(new_passwords[n] != old_passwords[n] for n in old_passwords)
    fresh = registry.server_for(sandbox.state.clusters, NS, name)
    tables = fresh.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", db="service_db")
    assert int(tables) == 0
    # The client reads the new secret and can log in to the (empty) database.
    wait_until("gitea Ready", lambda: all(pod_ready(p) for p in pods(core, NS, "app.kubernetes.io/name=vcs")))
    seed.load_rows(sandbox.state, get_service("vcs"))  # leave VCS as the other tests expect it


def test_clients_are_unready_while_their_secret_does_not_open_the_database(sandbox):
    core = sandbox.api.core
    server = registry.server_for(sandbox.state.clusters, NS, "keycloak-postgres")
    selector = "app.kubernetes.io/instance=cray-keycloak"
    assert all(pod_ready(p) for p in pods(core, NS, selector))
    real = secret_password(core, NS, "service-account.keycloak-postgres.credentials")

    server.psql("ALTER ROLE service_account WITH PASSWORD 'restored-from-another-day'")
    try:
        wait_until("keycloak unready", lambda: not any(pod_ready(p) for p in pods(core, NS, selector)))
    finally:
        server.psql(f"ALTER ROLE service_account WITH PASSWORD '{real}'")
    wait_until("keycloak Ready", lambda: all(pod_ready(p) for p in pods(core, NS, selector)))


def test_keycloak_jobs_carry_helm_revision_suffixes_and_are_found_by_label(sandbox):
    batch = sandbox.api.batch

    def names(selector: str) -> set[str]:
        return {j.metadata.name for j in batch.list_namespaced_job(NS, label_selector=selector).items}
    assert names("app.kubernetes.io/instance=cray-keycloak") == {"keycloak-setup-2"}
    assert names("app.kubernetes.io/instance=cray-keycloak-users-localize") == {"keycloak-users-localize-1"}


def test_the_cronjob_controller_fires_on_schedule_but_not_when_suspended(sandbox, cron_probes):
    active, suspended = cron_probes

    def jobs_of(cronjob: str) -> list[client.V1Job]:
        return [j for j in sandbox.api.batch.list_namespaced_job("default").items
                if any(o.kind == "CronJob" and o.name == cronjob for o in j.metadata.owner_references or [])]
    job = wait_until("a scheduled Job", lambda: jobs_of(active), timeout=90)[0]
    assert "cronjob.kubernetes.io/instantiate" not in (job.metadata.annotations or {})
    wait_until("it completes", lambda: sandbox.api.batch.read_namespaced_job(
        job.metadata.name, "default").status.succeeded, timeout=30)
    assert cronjobs.get(sandbox.api, "default", active)["status"].get("lastScheduleTime")
    assert not jobs_of(suspended)
    assert not cronjobs.get(sandbox.api, "default", suspended).get("status", {}).get("lastScheduleTime")
