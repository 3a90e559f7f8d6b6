"""A one-member cluster of its own: losing its only member, Update's stale password, realistic timing."""

from __future__ import annotations

import time

import pytest
from kubernetes import client

from pgrestore_sandbox import registry
from pgrestore_sandbox.kube import CRD_GROUP, CRD_PLURAL, CRD_VERSION
from pgrestore_sandbox.timing import REALISTIC
from tests.helpers import pod_ready, pods, secret_password, wait_until
from tests.sandbox.support import StatusWatch, cluster_status, leader

NS, NAME = "services", "sandbox-probe-postgres"
SPILO = f"application=spilo,cluster-name={NAME}"
POD0, POD1 = f"{NAME}-0", f"{NAME}-1"


def _body(instances: int = 1) -> dict:
    return {"apiVersion": "acid.zalan.do/v1", "kind": "postgresql", "metadata": {"name": NAME, "namespace": NS},
            "spec": {"teamId": "probe", "numberOfInstances": instances, "postgresql": {"version": "14"},
                     "volume": {"size": "1Gi"}, "users": {"probe_user": []}, "databases": {"probe": "probe_user"}}}


def _create(custom) -> None:
    custom.create_namespaced_custom_object(CRD_GROUP, CRD_VERSION, NS, CRD_PLURAL, _body())


def _delete(custom) -> None:
    try:
        custom.delete_namespaced_custom_object(CRD_GROUP, CRD_VERSION, NS, CRD_PLURAL, NAME)
    except client.ApiException as e:
        if e.status != 404:
            raise


def _pod(core, name: str) -> client.V1Pod | None:
    return next((p for p in pods(core, NS, SPILO) if p.metadata.name == name), None)


def _ready(core, name: str) -> bool:
    pod = _pod(core, name)
    return pod is not None and pod_ready(pod)


@pytest.fixture(scope="module")
def probe(sandbox):
    custom, core = sandbox.api.custom, sandbox.api.core
    _create(custom)
    wait_until("probe cluster Running", lambda: cluster_status(sandbox.api, NS, NAME) == "Running", timeout=60)
    yield
    _delete(custom)
    wait_until("probe cluster gone", lambda: not core.list_namespaced_pod(NS, label_selector=SPILO).items
               and registry.cluster_key(NS, NAME) not in registry.load(sandbox.state.clusters), timeout=60)


def _databases(sandbox) -> set[str]:
    server = registry.server_for(sandbox.state.clusters, NS, NAME)
    return set(server.psql("SELECT datname FROM pg_database").split()) if server and server.running() else set()


def test_the_operator_makes_roles_and_databases_a_few_seconds_after_the_pods_are_ready(sandbox, probe):
    """Create waits for the pods at resource_check_interval (3s) before it logs in: a tool that starts
    on Ready pods finds neither the spec's databases nor status Running yet, as on CSM."""
    custom, core = sandbox.api.custom, sandbox.api.core
    _delete(custom)
    wait_until("old cluster gone", lambda: not core.list_namespaced_pod(NS, label_selector=SPILO).items
               and registry.cluster_key(NS, NAME) not in registry.load(sandbox.state.clusters), timeout=60)
    _create(custom)
    wait_until("pod 0 Ready", lambda: _ready(core, POD0), timeout=60)
    assert cluster_status(sandbox.api, NS, NAME) == "Creating"
    assert "probe" not in _databases(sandbox)
    wait_until("Running", lambda: cluster_status(sandbox.api, NS, NAME) == "Running", timeout=60)
    assert "probe" in _databases(sandbox)


def test_losing_the_only_member_restarts_the_server_with_pod_0_leading_again(sandbox, probe):
    core = sandbox.api.core
    server = registry.server_for(sandbox.state.clusters, NS, NAME)
    before = server.pid()
    core.delete_namespaced_pod(POD0, NS)
    wait_until("server restarted and pod 0 Ready", lambda: server.pid() not in (None, before) and _ready(core, POD0))
    assert leader(sandbox.state, NS, NAME) == POD0
    wait_until("pod 0 labelled master", lambda: (p := _pod(core, POD0)) is not None
               and (p.metadata.labels or {}).get("spilo-role") == "master")


def test_update_logs_in_with_the_password_adopted_at_the_last_sync(sandbox, probe, sandbox_settings):
    """v1.8.2 Update re-reads secrets only when users change; until a Sync adopts a replaced
    `postgres` secret, an Update fails to log in (UpdateFailed) although the secret is right."""
    custom, core = sandbox.api.custom, sandbox.api.core
    sandbox_settings(resync_seconds=3600)
    secret = f"postgres.{NAME}.credentials"
    registry.server_for(sandbox.state.clusters, NS, NAME).psql("ALTER ROLE postgres WITH PASSWORD 'replaced'")
    core.patch_namespaced_secret(secret, NS, {"stringData": {"password": "replaced"}})
    statuses = StatusWatch(sandbox, NS, NAME)
    try:
        custom.patch_namespaced_custom_object(CRD_GROUP, CRD_VERSION, NS, CRD_PLURAL, NAME,
                                              {"spec": {"volume": {"size": "2Gi"}}})
        wait_until("Updating, then UpdateFailed", lambda: statuses.seen == ["Updating", "UpdateFailed"])
    finally:
        statuses.stop()
    assert secret_password(core, NS, secret) == "replaced"
    sandbox_settings(resync_seconds=2)
    wait_until("Running after a Sync", lambda: cluster_status(sandbox.api, NS, NAME) == "Running", timeout=30)


def test_realistic_timing_keeps_a_recreated_pod_0_pending_until_the_old_volume_is_released(
        sandbox, probe, sandbox_settings):
    custom, core = sandbox.api.custom, sandbox.api.core
    # A create timeout shorter than the volume release: the re-created cluster is CreateFailed
    # until a later Sync finds it healthy (no Sync meanwhile).
    sandbox_settings(timing="realistic", create_timeout_seconds=2, resync_seconds=3600)
    deleted = time.monotonic()
    _delete(custom)
    wait_until("pod 0 terminating", lambda: _pod(core, POD0) is None
               or core.read_namespaced_pod(POD0, NS).metadata.deletion_timestamp)
    _create(custom)  # straight away, as a restore does
    wait_until("old pod 0 gone", lambda: not any(
        p.metadata.deletion_timestamp for p in core.list_namespaced_pod(NS, label_selector=SPILO).items), timeout=60)
    assert time.monotonic() - deleted >= REALISTIC.spilo_shutdown_seconds - 1, "Spilo's shutdown took its time"
    torn_down = time.monotonic()

    pending = wait_until("new pod 0 Pending on the old volume", lambda: (
        (p := _pod(core, POD0)) is not None and not p.spec.node_name and any(
            c.type == "PodScheduled" and c.status == "False" and "is being deleted" in (c.message or "")
            for c in p.status.conditions or []) and p), timeout=30)
    assert pending.status.phase == "Pending"
    wait_until("CreateFailed", lambda: cluster_status(sandbox.api, NS, NAME) == "CreateFailed", timeout=30)
    wait_until("new pod 0 Ready", lambda: _ready(core, POD0), timeout=60)
    assert time.monotonic() - torn_down >= REALISTIC.volume_release_seconds - 1

    sandbox_settings(resync_seconds=2)
    wait_until("Running after a Sync", lambda: cluster_status(sandbox.api, NS, NAME) == "Running", timeout=30)


def test_realistic_timing_update_is_running_before_the_new_replica_has_cloned(sandbox, probe, sandbox_settings):
    custom, core = sandbox.api.custom, sandbox.api.core
    sandbox_settings(timing="realistic")
    statuses = StatusWatch(sandbox, NS, NAME)
    try:
        custom.patch_namespaced_custom_object(CRD_GROUP, CRD_VERSION, NS, CRD_PLURAL, NAME,
                                              {"spec": {"numberOfInstances": 2}})
        started = time.monotonic()
        wait_until("Updating, then Running", lambda: statuses.seen == ["Updating", "Running"])
        assert not _ready(core, POD1), "the operator does not wait for new replicas"
    finally:
        statuses.stop()
    wait_until("replica Ready after its clone", lambda: _ready(core, POD1), timeout=60)
    assert time.monotonic() - started >= REALISTIC.clone_base_seconds
