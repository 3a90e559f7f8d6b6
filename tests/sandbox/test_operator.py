"""The operator writes status on events and on its periodic Sync only, as postgres-operator v1.8.2 does."""

from __future__ import annotations

import time

from pgrestore_sandbox import registry
from pgrestore_sandbox.kube import CRD_GROUP, CRD_PLURAL, CRD_VERSION
from tests.helpers import pod_ready, pods, secret_password, wait_until
from tests.sandbox.support import StatusWatch, cluster_status

SHORT_RESYNC = 2


def test_the_periodic_sync_recreates_a_deleted_secret_with_a_new_password(sandbox, sandbox_settings):
    core, ns, name = sandbox.api.core, "spire", "service-account.spire-postgres.credentials"
    old = core.read_namespaced_secret(name, ns)
    password = secret_password(core, ns, name)
    core.delete_namespaced_secret(name, ns)
    try:
        sandbox_settings(resync_seconds=SHORT_RESYNC)
        new = wait_until("secret re-created", lambda: _read(core, ns, name), timeout=15)
        assert new.metadata.uid != old.metadata.uid
        assert secret_password(core, ns, name) != password, "a new random password, not the old one"
        assert new.metadata.labels == {"application": "spilo", "cluster-name": "spire-postgres", "team": "spire"}
    finally:
        # The role still has the old password (app roles are not re-synced); give it back.
        wait_until("secret there", lambda: _read(core, ns, name), timeout=15)
        core.patch_namespaced_secret(name, ns, {"stringData": {"password": password}})


def _read(core, ns, name):
    try:
        return core.read_namespaced_secret(name, ns)
    except Exception:  # noqa: BLE001 - not there yet
        return None


def test_syncfailed_is_set_by_a_sync_and_stays_until_the_next_one(sandbox, sandbox_settings):
    core, name = sandbox.api.core, "cray-smd-postgres"
    server = registry.server_for(sandbox.state.clusters, "services", name)
    real = secret_password(core, "services", f"postgres.{name}.credentials")
    server.psql("ALTER ROLE postgres WITH PASSWORD 'not-the-secret'")
    try:
        sandbox_settings(resync_seconds=SHORT_RESYNC)
        wait_until("SyncFailed", lambda: cluster_status(sandbox.api, "services", name) == "SyncFailed", timeout=15)
        sandbox_settings(resync_seconds=3600)  # no further sync for a while
    finally:
        server.psql(f"ALTER ROLE postgres WITH PASSWORD '{real}'")
    time.sleep(3)
    assert cluster_status(sandbox.api, "services", name) == "SyncFailed", "nothing recomputes it between syncs"
    sandbox_settings(resync_seconds=SHORT_RESYNC)
    wait_until("Running after the next sync", lambda: cluster_status(sandbox.api, "services", name) == "Running",
               timeout=15)


def test_scaling_numberofinstances_goes_through_updating_to_running_with_all_members(sandbox):
    custom, core = sandbox.api.custom, sandbox.api.core
    name = "capsules-warehouse-server-postgres"

    def patch(n):
        custom.patch_namespaced_custom_object(CRD_GROUP, CRD_VERSION, "services", CRD_PLURAL, name,
                                              {"spec": {"numberOfInstances": n}})
    statuses = StatusWatch(sandbox, "services", name)
    try:
        patch(1)
        wait_until("one member", lambda: len(pods(core, "services", f"cluster-name={name}")) == 1)
        patch(3)
        wait_until("3 Ready members", lambda: len(
            [p for p in pods(core, "services", f"cluster-name={name}") if pod_ready(p)]) == 3)
        wait_until("Running", lambda: statuses.seen[-1:] == ["Running"])
    finally:
        statuses.stop()
    assert statuses.seen == ["Updating", "Running", "Updating", "Running"]
